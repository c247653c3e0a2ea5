/**
 * pf.conf for persist mode: pure transforms of the file's text (our lines carry
 * `# sockbuf user=U`, go just before `anchor "com.apple/*"`, NAT just after
 * `nat-anchor "com.apple/*"`; LF or CRLF kept; idempotent), and the safe swap: a backup, a temp
 * file checked by `pfctl -nf`, an atomic rename, `pfctl -f` to reload, and the backup restored if
 * any step fails.
 *
 * @module
 */
import { readFile, rename, stat, unlink } from "node:fs/promises";
import { PfConfError } from "./errors.ts";
import { validateUser } from "./_validate.ts";
import type { PfRuleSet } from "./_pf_rules.ts";
import { clearStaleTemps, tokenPath, writeAtomically, writeTemp } from "./_pf_state.ts";
import {
  context,
  type Ctx,
  heldToken,
  PF_CONF_PATH,
  pfctl,
  type PfctlOptions,
  releaseReference,
  takeReference,
} from "./_pfctl.ts";

/**
 * The comment that marks our lines in pf.conf, one per user.
 *
 * @example Finding a user's lines in pf.conf
 * ```ts
 * import { pfConfMarker } from "./_pf_conf.ts"; // private: the marker is documented in the README
 *
 * const conf = 'anchor "com.apple/*"\npass out quick route-to utun4 all user 7 # sockbuf user=7\n';
 * const marker = pfConfMarker(7);
 * console.log(marker); // # sockbuf user=7
 * console.log(conf.split("\n").filter((line) => line.endsWith(marker)).length); // 1
 * ```
 */
export function pfConfMarker(user: string | number): string {
  return `# sockbuf user=${validateUser(user)}`;
}

const APPLE_FILTER_ANCHOR = /^\s*anchor\s+"com\.apple\/\*"\s*(#.*)?$/;
const APPLE_NAT_ANCHOR = /^\s*nat-anchor\s+"com\.apple\/\*"\s*(#.*)?$/;
const MARKED = /\s#\s*sockbuf user=([A-Za-z0-9_.-]+)\s*$/;

/** pf.conf split into lines, remembering its line ending so it can be written back the same way. */
function splitLines(text: string): { lines: string[]; eol: string } {
  const eol = text.includes("\r\n") ? "\r\n" : "\n";
  return { lines: text.split(eol), eol };
}

/**
 * pf.conf's text without our lines for `user` (every line carrying its marker).
 *
 * @example
 * ```ts
 * import { removePfConfRules } from "@sockbuf/sockbuf/pf";
 * const text = 'anchor "com.apple/*"\npass out quick route-to utun4 inet proto tcp from any to any user 7 # sockbuf user=7\n';
 * console.log(removePfConfRules(text, 7)); // anchor "com.apple/*"
 * ```
 */
export function removePfConfRules(text: string, user: string | number): string {
  const marker = pfConfMarker(user);
  const { lines, eol } = splitLines(text);
  return lines.filter((l) => !l.trimEnd().endsWith(marker)).join(eol);
}

/**
 * pf.conf's text with our rules for the rule set's user: the filter rule just before
 * `anchor "com.apple/*"`, the NAT rule (if any) just after `nat-anchor "com.apple/*"`. Any
 * earlier lines of ours for that user are replaced, so applying it twice changes nothing.
 * The file's line endings (LF or CRLF) are kept.
 *
 * @param path the file's name, for the error
 * @throws {PfConfError} if the file has no `anchor "com.apple/*"` line (or no
 *   `nat-anchor "com.apple/*"` line when NAT is asked for)
 *
 * @example
 * ```ts
 * import { buildPfRules, insertPfConfRules } from "@sockbuf/sockbuf/pf";
 * const rules = buildPfRules({ user: "test1", routeTo: "utun4" });
 * const once = insertPfConfRules('anchor "com.apple/*"\n', rules);
 * console.log(once === insertPfConfRules(once, rules)); // true
 * ```
 */
export function insertPfConfRules(text: string, rules: PfRuleSet, path = PF_CONF_PATH): string {
  const marker = pfConfMarker(rules.user);
  const { lines, eol } = splitLines(removePfConfRules(text, rules.user));
  const filterAt = lines.findIndex((l) => APPLE_FILTER_ANCHOR.test(l));
  if (filterAt < 0) {
    throw new PfConfError(
      path,
      'no `anchor "com.apple/*"` line to insert our rule before; the file was not changed',
    );
  }
  lines.splice(filterAt, 0, `${rules.filter} ${marker}`);
  if (rules.nat !== undefined) {
    const natAt = lines.findIndex((l) => APPLE_NAT_ANCHOR.test(l));
    if (natAt < 0) {
      throw new PfConfError(
        path,
        'no `nat-anchor "com.apple/*"` line to insert our NAT rule after; the file was not changed',
      );
    }
    lines.splice(natAt + 1, 0, `${rules.nat} ${marker}`);
  }
  return lines.join(eol);
}

/**
 * Our lines in a pf.conf, grouped by user.
 *
 * @example Our lines in a pf.conf, by user
 * ```ts
 * import { buildPfRules, insertPfConfRules } from "@sockbuf/sockbuf/pf";
 * import { findPfConfRules } from "./_pf_conf.ts"; // private: listUserRoutes reports these lines
 *
 * let conf = 'nat-anchor "com.apple/*"\nanchor "com.apple/*"\n';
 * conf = insertPfConfRules(conf, buildPfRules({ user: "test1", routeTo: "utun4", nat: true }));
 * conf = insertPfConfRules(conf, buildPfRules({ user: 502, routeTo: "utun5" }));
 * for (const { user, rules } of findPfConfRules(conf)) console.log(user, rules.length);
 * // test1 2
 * // 502 1
 * ```
 */
export function findPfConfRules(text: string): { user: string; rules: string[] }[] {
  const byUser = new Map<string, string[]>();
  for (const line of splitLines(text).lines) {
    const m = MARKED.exec(line);
    if (!m) continue;
    const rule = line.slice(0, m.index).trim();
    byUser.set(m[1], [...(byUser.get(m[1]) ?? []), rule]);
  }
  return [...byUser].map(([user, rules]) => ({ user, rules }));
}

/**
 * Swaps pf.conf for `next` safely: backup (`pf.conf.sockbuf.bak`), temp file
 * (`pf.conf.sockbuf-RANDOM.tmp`, the original's mode), `pfctl -nf TEMP` to check it, an atomic
 * rename, `pfctl -f pf.conf` to load it. If the check fails, the temp file goes and pf.conf is
 * untouched; if loading fails, the backup is renamed back and loaded again.
 */
async function swapPfConf(c: Ctx, text: string, next: string): Promise<void> {
  const mode = (await stat(c.pfConf)).mode & 0o777;
  // A foreign file at a temp name is refused before anything, the backup included, is written.
  await clearStaleTemps(c.pfConf);
  await writeAtomically(`${c.pfConf}.sockbuf.bak`, text, mode);
  const tmp = await writeTemp(c.pfConf, next, mode);
  try {
    await pfctl(c, ["-nf", tmp]);
  } catch (err) {
    await unlink(tmp);
    throw err;
  }
  await rename(tmp, c.pfConf);
  try {
    await pfctl(c, ["-f", c.pfConf]);
  } catch (err) {
    await writeAtomically(c.pfConf, text, mode);
    // Best effort: the old file loaded before, so it should load again.
    await c.runner(c.pfctl, ["-f", c.pfConf]);
    throw err;
  }
}

/**
 * Persist mode: inserts our rules into pf.conf (see {@linkcode insertPfConfRules}), swaps the
 * file in safely, reloads it and holds a pf reference. When the file already has exactly our
 * lines nothing is written or reloaded.
 *
 * @returns whether pf.conf changed
 * @throws {PfConfError} if pf.conf has no `anchor "com.apple/*"` line (nothing is touched)
 * @throws {RouteCommandError} if `pfctl -nf` or `pfctl -f` fails (pf.conf is as before)
 * @throws {PfStateError} if the state directory, the token file or something at pf.conf's temp
 *   file names fails its safety check (nothing is touched)
 *
 * @example Rules into a copy of pf.conf (recorded pfctl, temp files)
 * ```ts
 * import { applyPersist, buildPfRules, type Runner } from "@sockbuf/sockbuf/pf";
 *
 * const dir = await Deno.makeTempDir();
 * const pfConf = `${dir}/pf.conf`;
 * await Deno.writeTextFile(pfConf, 'nat-anchor "com.apple/*"\nanchor "com.apple/*"\n');
 * const calls: string[] = [];
 * const runner: Runner = (_file, args) => {
 *   // The temp file's name ends in 16 random hex digits; RANDOM here.
 *   calls.push(args.join(" ").replaceAll(dir, "DIR").replace(/sockbuf-[0-9a-f]{16}/, "sockbuf-RANDOM"));
 *   return Promise.resolve({ code: 0, stdout: "", stderr: "Token : 42\n" });
 * };
 * const rules = buildPfRules({ user: "test1", routeTo: "utun4" });
 * console.log(await applyPersist(rules, { runner, pfConf, stateDir: dir })); // true
 * console.log(await Deno.readTextFile(pfConf)); // our marked rule is now just before `anchor "com.apple/*"`
 * console.log(calls); // [ "-nf DIR/pf.conf.sockbuf-RANDOM.tmp", "-f DIR/pf.conf", "-E" ]
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function applyPersist(rules: PfRuleSet, options: PfctlOptions): Promise<boolean> {
  const c = context(options);
  const file = tokenPath(c.stateDir, "persist", String(validateUser(rules.user)));
  const text = await readFile(c.pfConf, "utf8");
  const next = insertPfConfRules(text, rules, c.pfConf);
  const held = await heldToken(c, file, true);
  const changed = next !== text;
  if (changed) await swapPfConf(c, text, next);
  if (held !== undefined) return changed;
  try {
    await takeReference(c, file);
  } catch (err) {
    if (changed) await swapPfConf(c, next, text);
    throw err;
  }
  return changed;
}

/**
 * Persist mode: removes our lines for `user` from pf.conf the same safe way, reloads, and
 * releases our reference.
 *
 * @returns how many lines were removed
 * @throws {PfStateError} if the state directory, the token file or something at pf.conf's temp
 *   file names fails its safety check (no `pfctl -X` runs)
 *
 * @example Our lines out of a copy of pf.conf (recorded pfctl, temp files)
 * ```ts
 * import { buildPfRules, insertPfConfRules, removePersist, type Runner } from "@sockbuf/sockbuf/pf";
 *
 * const dir = await Deno.makeTempDir();
 * const pfConf = `${dir}/pf.conf`;
 * const rules = buildPfRules({ user: "test1", routeTo: "utun4", nat: true });
 * const stock = 'nat-anchor "com.apple/*"\nanchor "com.apple/*"\n';
 * await Deno.writeTextFile(pfConf, insertPfConfRules(stock, rules));
 * const runner: Runner = () => Promise.resolve({ code: 0, stdout: "", stderr: "" });
 * console.log(await removePersist("test1", { runner, pfConf, stateDir: dir })); // 2
 * console.log(await Deno.readTextFile(pfConf)); // the two anchor lines only
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function removePersist(user: string | number, options: PfctlOptions): Promise<number> {
  const c = context(options);
  const file = tokenPath(c.stateDir, "persist", String(validateUser(user)));
  const held = await heldToken(c, file, false);
  const text = await readFile(c.pfConf, "utf8");
  const next = removePfConfRules(text, user);
  const removed = splitLines(text).lines.length - splitLines(next).lines.length;
  if (removed > 0) await swapPfConf(c, text, next);
  if (held !== undefined) await releaseReference(c, file, held);
  return removed;
}
