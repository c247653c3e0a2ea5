/**
 * pfctl driving: one runner call per step, failures classified from pfctl's stderr, pf
 * references taken with `pfctl -E` (token kept, see route/_pf_state.ts) and released with
 * `pfctl -X`, and anchor mode: `pfctl -a ANCHOR -f -` loads our rules from stdin into an anchor
 * of our own (default `com.apple/sockbuf.USER`, evaluated through the stock `anchor "com.apple/*"`),
 * removal is `pfctl -a ANCHOR -F all` then `pfctl -X TOKEN`. No system file is edited.
 *
 * `pfctl -d` is never run: it disables pf for every other user of it and voids their tokens.
 *
 * @module
 */
import { unlink } from "node:fs/promises";
import type { Runner, RunResult } from "./runner.ts";
import { type RouteCommandDetail, RouteCommandError, RouteError } from "./errors.ts";
import { validateAnchor, validatePath } from "./_validate.ts";
import { APPLE_ANCHOR, pfAnchorText, type PfRuleSet } from "./_pf_rules.ts";
import { checkStateDir, readToken, tokenPath, writeAtomically } from "./_pf_state.ts";

/**
 * pfctl's fixed path on macOS.
 *
 * @example The pfctl that runs unless `pfctl` is given
 * ```ts
 * import { listAnchors, PFCTL_PATH, type Runner } from "@sockbuf/sockbuf/pf";
 *
 * const started: string[] = [];
 * const runner: Runner = (file) => {
 *   started.push(file);
 *   return Promise.resolve({ code: 0, stdout: "", stderr: "" });
 * };
 * await listAnchors({ runner });
 * console.log(started[0] === PFCTL_PATH, PFCTL_PATH); // true /sbin/pfctl
 * ```
 */
export const PFCTL_PATH = "/sbin/pfctl";
/**
 * The system pf.conf.
 *
 * @example The file named in errors unless another path is given
 * ```ts
 * import { buildPfRules, insertPfConfRules, PF_CONF_PATH, PfConfError } from "@sockbuf/sockbuf/pf";
 *
 * try {
 *   insertPfConfRules("set skip on lo0\n", buildPfRules({ user: "test1", routeTo: "utun4" }));
 * } catch (err) {
 *   console.log(err instanceof PfConfError && err.path === PF_CONF_PATH); // true
 * }
 * ```
 */
export const PF_CONF_PATH = "/etc/pf.conf";
/**
 * Where pf reference tokens are kept.
 *
 * @example Whether sockbuf holds a pf reference for a user's anchor
 * ```ts
 * import { defaultAnchor, PF_STATE_DIR } from "@sockbuf/sockbuf/pf";
 * import { existsSync } from "node:fs";
 *
 * // One token file per mode and anchor, the anchor percent-encoded (see the module doc).
 * const token = `${PF_STATE_DIR}/pf-anchor-${encodeURIComponent(defaultAnchor("test1"))}.token`;
 * console.log(token, existsSync(token)); // /var/run/sockbuf/pf-anchor-com.apple%2Fsockbuf.test1.token false
 * ```
 */
export const PF_STATE_DIR = "/var/run/sockbuf";

/**
 * Reads pfctl's complaint: `FILE:LINE: syntax error`, `pf already enabled`, or an interface pf
 * cannot find (pfctl checks named interfaces while parsing).
 *
 * @example Classifying pfctl's stderr
 * ```ts
 * import { pfctlFailure } from "./_pfctl.ts"; // private: RouteCommandError carries its answer
 *
 * console.log(pfctlFailure("stdin:1: syntax error\n")); // { reason: "syntax-error", file: "stdin", line: 1 }
 * console.log(pfctlFailure("pfctl: pf already enabled\n")); // { reason: "already-enabled" }
 * console.log(pfctlFailure("no IP address found for utun9\n"));
 * // { reason: "no-such-interface", interface: "utun9" }
 * console.log(pfctlFailure("pfctl: DIOCADDRULE: Device busy\n")); // { reason: "failed" }
 * ```
 */
export function pfctlFailure(stderr: string): RouteCommandDetail {
  const syntax = /^(.+?):(\d+): syntax error/m.exec(stderr);
  if (syntax) return { reason: "syntax-error", file: syntax[1], line: Number(syntax[2]) };
  if (/pf already enabled/i.test(stderr)) return { reason: "already-enabled" };
  const dev =
    /(?:no IP address found for|unknown interface|no such interface|interface not found:?)\s+"?([A-Za-z0-9_.-]+)"?/i
      .exec(stderr) ?? /\b([A-Za-z0-9_.-]+): (?:no such interface|interface does not exist)/i.exec(stderr);
  if (dev) return { reason: "no-such-interface", interface: dev[1] };
  if (/unknown user/i.test(stderr)) return { reason: "no-such-user" };
  return { reason: "failed" };
}

/**
 * Where and how the pf driver works; every field has the system default.
 *
 * @example Another pfctl and a state directory of your own
 * ```ts
 * import { type PfctlOptions, type Runner, showAnchor } from "@sockbuf/sockbuf/pf";
 *
 * const runner: Runner = (file, args) =>
 *   Promise.resolve({ code: 0, stdout: args.includes("-sr") ? `rules of ${file}\n` : "", stderr: "" });
 * const stateDir = await Deno.makeTempDir();
 * const options: PfctlOptions = { runner, pfctl: "/usr/local/sbin/pfctl", stateDir };
 * console.log(await showAnchor("com.apple/sockbuf.test1", options)); // [ "rules of /usr/local/sbin/pfctl" ]
 * await Deno.remove(stateDir, { recursive: true });
 * ```
 */
export interface PfctlOptions {
  /** Spawns pfctl (the recording runner in tests). */
  readonly runner: Runner;
  /** pfctl's absolute path; default `/sbin/pfctl`. */
  readonly pfctl?: string;
  /** pf.conf for persist mode; default `/etc/pf.conf`. */
  readonly pfConf?: string;
  /** Where tokens are kept; default `/var/run/sockbuf`. */
  readonly stateDir?: string;
}

/** {@linkcode PfctlOptions} checked, with every default filled in. */
export interface Ctx {
  runner: Runner;
  pfctl: string;
  pfConf: string;
  stateDir: string;
}

/** Checks the options and fills in the defaults. */
export function context(o: PfctlOptions): Ctx {
  if (typeof o?.runner !== "function") throw new TypeError("runner: expected a function");
  return {
    runner: o.runner,
    pfctl: o.pfctl === undefined ? PFCTL_PATH : validatePath(o.pfctl, "pfctl"),
    pfConf: o.pfConf === undefined ? PF_CONF_PATH : validatePath(o.pfConf, "pfConf"),
    stateDir: o.stateDir === undefined ? PF_STATE_DIR : validatePath(o.stateDir, "stateDir"),
  };
}

/** Runs pfctl; a non-zero exit is a {@linkcode RouteCommandError} classified by {@linkcode pfctlFailure}. */
export async function pfctl(c: Ctx, args: string[], stdin?: string): Promise<RunResult> {
  const result = await c.runner(c.pfctl, args, stdin === undefined ? undefined : { stdin });
  if (result.code !== 0) throw new RouteCommandError([c.pfctl, ...args], result, pfctlFailure(result.stderr));
  return result;
}

/** The token we hold in `file`, after checking the state directory (made if `create`). */
export async function heldToken(c: Ctx, file: string, create: boolean): Promise<string | undefined> {
  if (!await checkStateDir(c.stateDir, create)) return undefined;
  return await readToken(file);
}

/**
 * Takes a pf reference with `pfctl -E` (which enables pf if nobody has) and keeps its token in
 * `file`. `-e` is not used: it fails when pf is on.
 */
export async function takeReference(c: Ctx, file: string): Promise<void> {
  const result = await pfctl(c, ["-E"]);
  const token = /Token\s*:\s*([0-9]+)/.exec(result.stderr + "\n" + result.stdout)?.[1];
  if (token === undefined) throw new RouteError(`pfctl -E printed no token: ${result.stderr.trim()}`);
  await writeAtomically(file, token + "\n", 0o600);
}

/** Releases our pf reference with `pfctl -X TOKEN`. The state file goes first, so a stale token cannot wedge removal. */
export async function releaseReference(c: Ctx, file: string, token: string): Promise<void> {
  await unlink(file);
  await pfctl(c, ["-X", token]);
}

/**
 * Loads the rules into `anchor` (`pfctl -a ANCHOR -f -`, rules on stdin) and holds a pf
 * reference (`pfctl -E`, token kept). If taking the reference fails, the anchor is flushed again.
 * Loading replaces the anchor's rules, so applying twice leaves one copy.
 *
 * @returns whether a new reference was taken
 * @throws {RouteCommandError} if pfctl fails (syntax errors carry `file` `stdin` and `line`)
 * @throws {PfStateError} if the state directory or the token file fails its safety check (pfctl does not run)
 * @throws {RangeError} for an anchor too long to name its token file
 *
 * @example Applying twice takes one reference (recorded, not run)
 * ```ts
 * import { applyAnchor, buildPfRules, type Runner } from "@sockbuf/sockbuf/pf";
 *
 * const calls: string[] = [];
 * const runner: Runner = (file, args) => {
 *   calls.push([file, ...args].join(" "));
 *   return Promise.resolve({ code: 0, stdout: "", stderr: "pf enabled\nToken : 42\n" });
 * };
 * const stateDir = await Deno.makeTempDir(); // where the token is kept
 * const rules = buildPfRules({ user: "test1", routeTo: "utun4", gateway: "192.168.15.2" });
 * console.log(await applyAnchor(rules, "com.apple/sockbuf.test1", { runner, stateDir })); // true
 * console.log(await applyAnchor(rules, "com.apple/sockbuf.test1", { runner, stateDir })); // false
 * console.log(calls.filter((c) => c.endsWith("-E")).length); // 1
 * await Deno.remove(stateDir, { recursive: true });
 * ```
 */
export async function applyAnchor(rules: PfRuleSet, anchor: string, options: PfctlOptions): Promise<boolean> {
  const c = context(options);
  validateAnchor(anchor);
  const file = tokenPath(c.stateDir, "anchor", anchor);
  // The state is checked before pf is touched, so a refusal changes nothing.
  const held = await heldToken(c, file, true);
  await pfctl(c, ["-a", anchor, "-f", "-"], pfAnchorText(rules));
  if (held !== undefined) return false;
  try {
    await takeReference(c, file);
    return true;
  } catch (err) {
    await c.runner(c.pfctl, ["-a", anchor, "-F", "all"]);
    throw err;
  }
}

/**
 * Flushes `anchor` (`pfctl -a ANCHOR -F all`, which touches no other ruleset) and releases our
 * reference (`pfctl -X TOKEN`).
 *
 * @returns whether the anchor had rules of ours
 * @throws {PfStateError} if the state directory or the token file fails its safety check
 *   (pfctl does not run, so no `pfctl -X` of a token another user could have written)
 *
 * @example Flush the anchor and release the token (recorded, not run)
 * ```ts
 * import { applyAnchor, buildPfRules, removeAnchor, type Runner } from "@sockbuf/sockbuf/pf";
 *
 * const calls: string[] = [];
 * const runner: Runner = (_file, args) => {
 *   calls.push(args.join(" "));
 *   const stdout = args.includes("-sr") ? "pass out quick on ! utun4 route-to utun4 all user = 501\n" : "";
 *   return Promise.resolve({ code: 0, stdout, stderr: "Token : 42\n" });
 * };
 * const options = { runner, stateDir: await Deno.makeTempDir() };
 * await applyAnchor(buildPfRules({ user: 501, routeTo: "utun4" }), "com.apple/sockbuf.501", options);
 * calls.length = 0;
 * console.log(await removeAnchor("com.apple/sockbuf.501", options), calls.slice(-2));
 * // true [ "-a com.apple/sockbuf.501 -F all", "-X 42" ]
 * await Deno.remove(options.stateDir, { recursive: true });
 * ```
 */
export async function removeAnchor(anchor: string, options: PfctlOptions): Promise<boolean> {
  const c = context(options);
  validateAnchor(anchor);
  const file = tokenPath(c.stateDir, "anchor", anchor);
  const held = await heldToken(c, file, false);
  const had = (await showAnchor(anchor, options)).length > 0;
  await pfctl(c, ["-a", anchor, "-F", "all"]);
  if (held !== undefined) await releaseReference(c, file, held);
  return had;
}

/**
 * The rules loaded in `anchor`: NAT rules (`-sn`) then filter rules (`-sr`), as pfctl prints them.
 *
 * @example An anchor that pf does not know yet has no rules
 * ```ts
 * import { type Runner, showAnchor } from "@sockbuf/sockbuf/pf";
 *
 * // What pfctl prints for an anchor nothing was loaded into.
 * const runner: Runner = () =>
 *   Promise.resolve({ code: 1, stdout: "", stderr: "pfctl: DIOCGETRULES: Invalid argument\n" });
 * console.log(await showAnchor("com.apple/sockbuf.test1", { runner })); // []
 * ```
 */
export async function showAnchor(anchor: string, options: PfctlOptions): Promise<string[]> {
  const c = context(options);
  validateAnchor(anchor);
  const show = async (what: string): Promise<string[]> => {
    const args = ["-a", anchor, what];
    const r = await c.runner(c.pfctl, args);
    // pfctl's DIOCGETRULES fails with EINVAL for an anchor that does not exist (yet): no rules.
    if (r.code !== 0 && /DIOCGET\w*: Invalid argument/.test(r.stderr)) return [];
    if (r.code !== 0) throw new RouteCommandError([c.pfctl, ...args], r, pfctlFailure(r.stderr));
    return r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "");
  };
  return [...await show("-sn"), ...await show("-sr")];
}

/**
 * Our anchors under `com.apple` (`pfctl -a com.apple -s Anchors`), the ones named `sockbuf.*`.
 *
 * @example Only our anchors are listed
 * ```ts
 * import { listAnchors, type Runner } from "@sockbuf/sockbuf/pf";
 *
 * const runner: Runner = () =>
 *   Promise.resolve({
 *     code: 0,
 *     stderr: "",
 *     stdout: "  com.apple/250.ApplicationFirewall\n  com.apple/sockbuf.test1\n  com.apple/sockbuf.501\n",
 *   });
 * console.log(await listAnchors({ runner })); // [ "com.apple/sockbuf.test1", "com.apple/sockbuf.501" ]
 * ```
 */
export async function listAnchors(options: PfctlOptions): Promise<string[]> {
  const c = context(options);
  const result = await pfctl(c, ["-a", APPLE_ANCHOR, "-s", "Anchors"]);
  return result.stdout.split("\n").map((l) => l.trim()).filter((l) =>
    l.startsWith(`${APPLE_ANCHOR}/sockbuf.`)
  );
}
