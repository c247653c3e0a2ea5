/**
 * macOS per-user routing with pf: a rule builder that emits valid pf syntax, pure pf.conf
 * transforms, and a pfctl driver for two modes.
 *
 * - **anchor** (default): `pfctl -a ANCHOR -f -` loads our rules from stdin into an anchor of
 *   our own (default `com.apple/sockbuf.USER`, evaluated through the stock `anchor "com.apple/*"`),
 *   then `pfctl -E` takes a reference on pf whose token is kept in a state file; removal is
 *   `pfctl -a ANCHOR -F all` then `pfctl -X TOKEN`. No system file is edited.
 * - **persist**: inserts our lines into `/etc/pf.conf` before `anchor "com.apple/*"` (NAT after
 *   `nat-anchor "com.apple/*"`), with a backup, a temp file checked by `pfctl -nf`, an atomic
 *   rename, `pfctl -f` to reload, and the backup restored if any step fails.
 *
 * `pfctl -d` is never run: it disables pf for every other user of it and voids their tokens.
 *
 * State files: `/var/run/sockbuf/pf-anchor-<anchor>.token` or `pf-persist-<user>.token`, the
 * anchor or user with every byte outside `A-Z a-z 0-9 _ . -` written `%XX` (`/` as `%2F`), so each
 * mode and anchor or user has a file of its own. The directory must be a real directory (not a
 * link) owned by the user running (or root) that group and others cannot write, and is made 0700
 * if missing; a token is read only from a regular 0600 file of that user's (or root's). Every
 * file, pf.conf's temp file and backup included, is created exclusively without following links
 * under an unpredictable name and renamed into place. Anything else is a `PfStateError`, and then
 * nothing is changed and no `pfctl -X` runs.
 * `/var/run` is emptied at boot, when pf's references are gone too.
 *
 * @module
 */
import { constants } from "node:fs";
import {
  type FileHandle,
  lstat,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  unlink,
} from "node:fs/promises";
import { basename, dirname } from "node:path";
import process from "node:process";
import type { Runner, RunResult } from "./runner.ts";
import {
  type CheckedRoute,
  type DriverPaths,
  PfConfError,
  PfStateError,
  type RouteCommandDetail,
  RouteCommandError,
  type RouteDriver,
  RouteError,
  type RouteResult,
  type UnrouteResult,
  type UserRoute,
} from "./types.ts";
import {
  type Protocol,
  validateAnchor,
  validateFamily,
  validateInterface,
  validateIp,
  validatePath,
  validateProtocols,
  validateUser,
} from "./_validate.ts";

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
 * The parent anchor the stock pf.conf evaluates with `anchor "com.apple/*"`.
 *
 * @example An anchor of your own, evaluated through the stock `anchor "com.apple/*"`
 * ```ts
 * import { APPLE_ANCHOR, showAnchor, type Runner } from "@sockbuf/sockbuf/pf";
 *
 * const calls: string[] = [];
 * const runner: Runner = (file, args) => {
 *   calls.push([file, ...args].join(" "));
 *   return Promise.resolve({ code: 0, stdout: "", stderr: "" });
 * };
 * await showAnchor(`${APPLE_ANCHOR}/myvpn.test1`, { runner });
 * console.log(calls.join("\n"));
 * // /sbin/pfctl -a com.apple/myvpn.test1 -sn
 * // /sbin/pfctl -a com.apple/myvpn.test1 -sr
 * ```
 */
export const APPLE_ANCHOR = "com.apple";

/**
 * What to route, for {@linkcode buildPfRules}.
 *
 * @example IPv6, TCP only, with NAT
 * ```ts
 * import { buildPfRules, type PfRuleOptions } from "@sockbuf/sockbuf/pf";
 *
 * const options: PfRuleOptions = {
 *   user: 501,
 *   routeTo: "utun4",
 *   gateway: "fd00::1",
 *   protocols: ["tcp"],
 *   nat: true,
 * };
 * const rules = buildPfRules(options);
 * console.log(rules.filter);
 * // pass out quick on ! utun4 route-to (utun4 fd00::1) inet6 proto tcp from any to any user 501
 * console.log(rules.nat); // nat on utun4 inet6 from ! (utun4) to any -> (utun4)
 * ```
 */
export interface PfRuleOptions {
  /** The local user whose sockets are routed: a name or a uid. */
  user: string | number;
  /** The interface to send the traffic out of, such as a VPN's `utun4`. */
  routeTo: string;
  /** The next hop on `routeTo`; pf's `route-to (IF GW)`. Without it the rule is `route-to IF`. */
  gateway?: string;
  /**
   * The interface the traffic would otherwise leave through, for `on IF`. By default the rule
   * matches on every interface except `routeTo` itself (`on ! utun4`), so rerouted packets
   * are not matched again.
   */
  outInterface?: string;
  /** Protocols to route; default both `tcp` and `udp` (the only ones pf's `user` matches). */
  protocols?: Protocol[];
  /** `inet` or `inet6`; default the gateway's family, or `inet`. */
  family?: "inet" | "inet6";
  /**
   * Also translate the source address to `routeTo`'s own (`nat on utun4 … -> (utun4)`):
   * pf does not rewrite it after `route-to`, so without NAT replies may not come back.
   */
  nat?: boolean;
}

/**
 * The rules for one user, as pf text.
 *
 * @example Reading a rule set
 * ```ts
 * import { buildPfRules, type PfRuleSet } from "@sockbuf/sockbuf/pf";
 *
 * const rules: PfRuleSet = buildPfRules({ user: "test1", routeTo: "utun4", gateway: "192.168.15.2" });
 * console.log(rules.user, rules.family, rules.nat); // test1 inet undefined
 * console.log(rules.filter.includes("route-to (utun4 192.168.15.2) inet proto { tcp udp }")); // true
 * ```
 */
export interface PfRuleSet {
  /** The `pass out … route-to … user …` rule. */
  readonly filter: string;
  /** The `nat on …` rule, when NAT was asked for. */
  readonly nat?: string;
  /** The address family the rules are for. */
  readonly family: "inet" | "inet6";
  /** The user as written in the rule. */
  readonly user: string | number;
}

/** Words pf's lexer reads as keywords: as an interface name they would change the rule's meaning. */
const PF_KEYWORDS = new Set([
  "all",
  "any",
  "on",
  "from",
  "to",
  "in",
  "out",
  "inet",
  "inet6",
  "proto",
  "user",
  "group",
  "port",
  "quick",
  "pass",
  "block",
  "self",
  "no",
  "nat",
  "rdr",
  "route-to",
  "reply-to",
  "dup-to",
  "flags",
  "keep",
  "state",
  "label",
  "tag",
  "anchor",
]);

function pfInterface(value: unknown, field: string): string {
  const name = validateInterface(value, field);
  if (PF_KEYWORDS.has(name)) {
    throw new TypeError(`${field}: ${JSON.stringify(name)} is a pf keyword, not an interface`);
  }
  return name;
}

/**
 * Builds the pf rules for one user from typed options, checking every field first.
 *
 * @throws {TypeError} naming the field that fails its grammar
 * @throws {RangeError} for a uid out of range
 *
 * @example
 * ```ts
 * import { buildPfRules } from "@sockbuf/sockbuf/pf";
 * const rules = buildPfRules({ user: "test1", routeTo: "utun4", gateway: "192.168.15.2", outInterface: "en0" });
 * console.log(rules.filter);
 * // pass out quick on en0 route-to (utun4 192.168.15.2) inet proto { tcp udp } from any to any user test1
 * ```
 */
export function buildPfRules(options: PfRuleOptions): PfRuleSet {
  if (typeof options !== "object" || options === null) throw new TypeError("options: expected an object");
  const user = validateUser(options.user, "user");
  const routeTo = pfInterface(options.routeTo, "routeTo");
  const gateway = options.gateway === undefined ? undefined : validateIp(options.gateway, "gateway");
  const out = options.outInterface === undefined
    ? undefined
    : pfInterface(options.outInterface, "outInterface");
  const protocols = options.protocols === undefined ? ["tcp", "udp"] : validateProtocols(options.protocols);
  const family = options.family === undefined ? gateway?.family ?? "inet" : validateFamily(options.family);
  if (gateway && gateway.family !== family) {
    throw new TypeError(`family: ${family} does not match the gateway's ${gateway.family}`);
  }
  if (options.nat !== undefined && typeof options.nat !== "boolean") {
    throw new TypeError("nat: expected a boolean");
  }
  const on = out === undefined ? `on ! ${routeTo}` : `on ${out}`;
  const to = gateway === undefined ? routeTo : `(${routeTo} ${gateway.address})`;
  const proto = protocols.length === 1 ? protocols[0] : `{ ${protocols.join(" ")} }`;
  const filter = `pass out quick ${on} route-to ${to} ${family} proto ${proto} from any to any user ${user}`;
  // Only packets not already from the tunnel's own address need translating.
  const nat = options.nat
    ? `nat on ${routeTo} ${family} from ! (${routeTo}) to any -> (${routeTo})`
    : undefined;
  return { filter, ...(nat === undefined ? {} : { nat }), family, user };
}

/**
 * The rule set as the text `pfctl -a ANCHOR -f -` reads: translation before filtering, as pf requires.
 *
 * @example What `pfctl -a ANCHOR -f -` reads
 * ```ts
 * import { buildPfRules, pfAnchorText } from "@sockbuf/sockbuf/pf";
 *
 * const text = pfAnchorText(buildPfRules({ user: "test1", routeTo: "utun4", nat: true }));
 * console.log(text.split("\n")[0]); // nat on utun4 inet from ! (utun4) to any -> (utun4)
 * console.log(text.split("\n")[1].startsWith("pass out quick on ! utun4 route-to utun4")); // true
 * ```
 */
export function pfAnchorText(rules: PfRuleSet): string {
  return (rules.nat === undefined ? "" : rules.nat + "\n") + rules.filter + "\n";
}

// ---- pf.conf transforms: pure functions of the file's text ----

/**
 * The comment that marks our lines in pf.conf, one per user.
 *
 * @example Finding a user's lines in pf.conf
 * ```ts
 * import { pfConfMarker } from "@sockbuf/sockbuf/pf";
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
 * import { buildPfRules, findPfConfRules, insertPfConfRules } from "@sockbuf/sockbuf/pf";
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

// ---- pfctl ----

/**
 * Reads pfctl's complaint: `FILE:LINE: syntax error`, `pf already enabled`, or an interface pf
 * cannot find (pfctl checks named interfaces while parsing).
 *
 * @example Classifying pfctl's stderr
 * ```ts
 * import { pfctlFailure } from "@sockbuf/sockbuf/pf";
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

interface Ctx {
  runner: Runner;
  pfctl: string;
  pfConf: string;
  stateDir: string;
}

function context(o: PfctlOptions): Ctx {
  if (typeof o?.runner !== "function") throw new TypeError("runner: expected a function");
  return {
    runner: o.runner,
    pfctl: o.pfctl === undefined ? PFCTL_PATH : validatePath(o.pfctl, "pfctl"),
    pfConf: o.pfConf === undefined ? PF_CONF_PATH : validatePath(o.pfConf, "pfConf"),
    stateDir: o.stateDir === undefined ? PF_STATE_DIR : validatePath(o.stateDir, "stateDir"),
  };
}

async function pfctl(c: Ctx, args: string[], stdin?: string): Promise<RunResult> {
  const result = await c.runner(c.pfctl, args, stdin === undefined ? undefined : { stdin });
  if (result.code !== 0) throw new RouteCommandError([c.pfctl, ...args], result, pfctlFailure(result.stderr));
  return result;
}

// ---- state and token files ----
//
// The state directory, token files and temp files are written as root, in directories another
// user might reach. So: the state directory must be a real directory owned by us (or root) that
// group and others cannot write; every file is created with O_CREAT|O_EXCL|O_NOFOLLOW under an
// unpredictable name and renamed into place, so nothing planted can be written through; and a
// token is read only from a regular 0600 file of ours, so nobody else's number reaches `pfctl -X`.

/** The uid whose files we trust besides root's: ours. Root can write anything anyway. */
function trusted(uid: number): boolean {
  return uid === 0 || uid === process.geteuid?.();
}

function errCode(err: unknown): string | undefined {
  return (err as { code?: string })?.code;
}

/**
 * Checks the state directory (lstat: never through a link), making it 0700 first if it is
 * missing and `create` is set. Returns false when it is missing and not made.
 *
 * @throws {PfStateError} for a symlink, a non-directory, another owner, or group/other write
 */
async function checkStateDir(dir: string, create: boolean): Promise<boolean> {
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    if (errCode(err) !== "ENOENT") throw err;
    if (!create) return false;
    // If someone else makes it first, recursive mkdir does not fail, so the checks below decide.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    st = await lstat(dir);
  }
  if (st.isSymbolicLink()) {
    throw new PfStateError(
      dir,
      "symlink",
      "the pf state directory is a symbolic link; it must be a real directory",
    );
  }
  if (!st.isDirectory()) {
    throw new PfStateError(dir, "not-a-directory", "the pf state directory is not a directory");
  }
  if (!trusted(st.uid)) {
    throw new PfStateError(
      dir,
      "wrong-owner",
      `the pf state directory is owned by uid ${st.uid}, not by uid ${process.geteuid?.()} or root`,
    );
  }
  if ((st.mode & 0o022) !== 0) {
    throw new PfStateError(
      dir,
      "unsafe-mode",
      `the pf state directory has mode 0${(st.mode & 0o7777).toString(8)}: group or others can write it`,
    );
  }
  return true;
}

/**
 * The reference modes. A token file is named `pf-MODE-ENC.token`, ENC being the anchor (anchor
 * mode) or the user (persist mode) with every byte outside `A-Z a-z 0-9 _ . -` written `%XX`.
 *
 * Why no two (mode, name) pairs share a file: ENC is injective, since `%` is itself escaped and
 * so always starts a three-character escape, and reading left to right gives the name back
 * (decodeURIComponent does). Neither mode contains `-`, so the first `-` after `pf-` ends the mode
 * and the rest up to `.token` is ENC: the file name gives back both the mode and the name.
 */
type TokenMode = "anchor" | "persist";

const TEMP_RANDOM_BYTES = 8;
/** `.sockbuf-` + 16 hex digits + `.tmp`: what a temp file adds to its target's name. */
const TEMP_SUFFIX_LENGTH = ".sockbuf-".length + 2 * TEMP_RANDOM_BYTES + ".tmp".length;
/** The longest file name macOS (and Linux) allow. */
const NAME_MAX = 255;

function encodeKey(name: string): string {
  let out = "";
  for (const byte of new TextEncoder().encode(name)) {
    const ch = String.fromCharCode(byte);
    out += /^[A-Za-z0-9_.-]$/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The token file for one mode and anchor or user.
 *
 * @throws {RangeError} if the name is too long for its token file's temp file to fit NAME_MAX
 */
function tokenPath(c: Ctx, mode: TokenMode, name: string): string {
  const file = `pf-${mode}-${encodeKey(name)}.token`;
  if (file.length + TEMP_SUFFIX_LENGTH > NAME_MAX) {
    const most = NAME_MAX - TEMP_SUFFIX_LENGTH - `pf-${mode}-.token`.length;
    throw new RangeError(
      `${mode === "anchor" ? "anchor" : "user"}: ${
        JSON.stringify(name)
      } is too long to name its token file: ` +
        `${file.length - `pf-${mode}-.token`.length} bytes with / written %2F, at most ${most}`,
    );
  }
  return `${c.stateDir}/${file}`;
}

/**
 * Our token from `path`, or undefined if there is none. Opened without following a link and
 * checked on the open file (fstat), so what is checked is what is read.
 *
 * @throws {PfStateError} for a symlink, a non-regular file, another owner, or a mode other than 0600
 */
async function readToken(path: string): Promise<string | undefined> {
  let handle: FileHandle;
  try {
    // O_NONBLOCK: a FIFO planted here must not block the open; fstat then refuses it.
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    if (errCode(err) === "ENOENT") return undefined;
    // O_NOFOLLOW fails with ELOOP on a symlink (EMLINK on FreeBSD).
    if ((errCode(err) === "ELOOP" || errCode(err) === "EMLINK") && (await lstat(path)).isSymbolicLink()) {
      throw new PfStateError(path, "symlink", "the pf token file is a symbolic link; its token is not used");
    }
    throw err;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw new PfStateError(
        path,
        "not-a-file",
        "the pf token file is not a regular file; its token is not used",
      );
    }
    if (!trusted(st.uid)) {
      throw new PfStateError(
        path,
        "wrong-owner",
        `the pf token file is owned by uid ${st.uid}, not by uid ${process.geteuid?.()} or root; its token is not used`,
      );
    }
    if ((st.mode & 0o7777) !== 0o600) {
      throw new PfStateError(
        path,
        "unsafe-mode",
        `the pf token file has mode 0${(st.mode & 0o7777).toString(8)}, not 0600; its token is not used`,
      );
    }
    const token = (await handle.readFile("utf8")).trim();
    return /^[0-9]{1,20}$/.test(token) ? token : undefined;
  } finally {
    await handle.close();
  }
}

/** Temp files older than this that are ours are leftovers of an interrupted run; younger ones may be a running one's. */
const STALE_TEMP_MS = 60_000;

/**
 * Looks at every temp-file name of `target` (ours, `TARGET.sockbuf-HEX.tmp`, and the fixed
 * `TARGET.sockbuf.tmp` of earlier versions). A leftover of ours (a regular file we own, older than
 * a minute) is removed: its content is never read, so nothing is lost. Anything else there is
 * refused rather than removed: someone who can write this directory put it there, and the admin
 * should see it.
 *
 * @throws {PfStateError} `foreign-file` for a link, a non-regular file or another user's file
 */
async function clearStaleTemps(target: string): Promise<void> {
  const dir = dirname(target);
  const base = basename(target).replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const temp = new RegExp(`^${base}\\.sockbuf(-[0-9a-f]{${2 * TEMP_RANDOM_BYTES}})?\\.tmp$`);
  for (const name of await readdir(dir)) {
    if (!temp.test(name)) continue;
    const path = `${dir}/${name}`;
    let st;
    try {
      st = await lstat(path);
    } catch (err) {
      if (errCode(err) === "ENOENT") continue;
      throw err;
    }
    const what = st.isSymbolicLink()
      ? "a symbolic link"
      : !st.isFile()
      ? "not a regular file"
      : !trusted(st.uid)
      ? `owned by uid ${st.uid}`
      : undefined;
    if (what !== undefined) {
      throw new PfStateError(
        path,
        "foreign-file",
        `a file we did not make (${what}) sits at one of our temp-file names; nothing was changed: find out who made it, then remove it`,
      );
    }
    if (Date.now() - st.mtimeMs > STALE_TEMP_MS) await unlink(path);
  }
}

/**
 * Writes `text` to a new temp file beside `target`: created exclusively, never through a link,
 * under an unpredictable name, with exactly `mode`. Returns its path.
 */
async function writeTemp(target: string, text: string, mode: number): Promise<string> {
  await clearStaleTemps(target);
  const random = Array.from(
    crypto.getRandomValues(new Uint8Array(TEMP_RANDOM_BYTES)),
    (b) => b.toString(16).padStart(2, "0"),
  ).join("");
  const tmp = `${target}.sockbuf-${random}.tmp`;
  let handle: FileHandle;
  try {
    handle = await open(
      tmp,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o600,
    );
  } catch (err) {
    if (errCode(err) === "EEXIST" || errCode(err) === "ELOOP") {
      throw new PfStateError(
        tmp,
        "foreign-file",
        "something already sits at our new temp file's name; nothing was written",
      );
    }
    throw err;
  }
  try {
    await handle.chmod(mode); // exactly, whatever the umask
    await handle.writeFile(text);
    await handle.sync();
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {}); // best effort: the write's own error is the one to report
    throw err;
  }
  return tmp;
}

/** Replaces `target` with `text` atomically (temp file, then rename, which replaces a link rather than following it). */
async function writeAtomically(target: string, text: string, mode: number): Promise<void> {
  const tmp = await writeTemp(target, text, mode);
  try {
    await rename(tmp, target);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** The token we hold in `file`, after checking the state directory (made if `create`). */
async function heldToken(c: Ctx, file: string, create: boolean): Promise<string | undefined> {
  if (!await checkStateDir(c.stateDir, create)) return undefined;
  return await readToken(file);
}

/**
 * Takes a pf reference with `pfctl -E` (which enables pf if nobody has) and keeps its token in
 * `file`. `-e` is not used: it fails when pf is on.
 */
async function takeReference(c: Ctx, file: string): Promise<void> {
  const result = await pfctl(c, ["-E"]);
  const token = /Token\s*:\s*([0-9]+)/.exec(result.stderr + "\n" + result.stdout)?.[1];
  if (token === undefined) throw new RouteError(`pfctl -E printed no token: ${result.stderr.trim()}`);
  await writeAtomically(file, token + "\n", 0o600);
}

/** Releases our pf reference with `pfctl -X TOKEN`. The state file goes first, so a stale token cannot wedge removal. */
async function releaseReference(c: Ctx, file: string, token: string): Promise<void> {
  await unlink(file);
  await pfctl(c, ["-X", token]);
}

/**
 * The default anchor for a user: `com.apple/sockbuf.USER`, one per user so loads do not overwrite each other.
 *
 * @example One anchor per user
 * ```ts
 * import { defaultAnchor } from "@sockbuf/sockbuf/pf";
 *
 * console.log(defaultAnchor("test1"), defaultAnchor(501)); // com.apple/sockbuf.test1 com.apple/sockbuf.501
 * try {
 *   defaultAnchor("../etc");
 * } catch (err) {
 *   console.log(err instanceof TypeError); // true: the user fails its grammar
 * }
 * ```
 */
export function defaultAnchor(user: string | number): string {
  return `${APPLE_ANCHOR}/sockbuf.${validateUser(user)}`;
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
  const file = tokenPath(c, "anchor", anchor);
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
  const file = tokenPath(c, "anchor", anchor);
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
  const file = tokenPath(c, "persist", String(validateUser(rules.user)));
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
  const file = tokenPath(c, "persist", String(validateUser(user)));
  const held = await heldToken(c, file, false);
  const text = await readFile(c.pfConf, "utf8");
  const next = removePfConfRules(text, user);
  const removed = splitLines(text).lines.length - splitLines(next).lines.length;
  if (removed > 0) await swapPfConf(c, text, next);
  if (held !== undefined) await releaseReference(c, file, held);
  return removed;
}

// ---- the route driver ----

function parseRouteTo(rules: readonly string[]): { dev?: string; gateway?: string } {
  for (const r of rules) {
    const m = /route-to\s+(?:\(\s*([A-Za-z0-9_.-]+)\s+([0-9A-Fa-f:.]+)\s*\)|\(?\s*([A-Za-z0-9_.-]+)\s*\)?)/
      .exec(r);
    if (m) return m[1] ? { dev: m[1], gateway: m[2] } : { dev: m[3] };
  }
  return {};
}

function describe(user: string, rules: readonly string[], extra: Partial<UserRoute>): UserRoute {
  const family = rules.some((r) => /\binet6\b/.test(r)) ? "inet6" : "inet";
  const who = /^[0-9]+$/.test(user) ? { uid: Number(user) } : { user };
  return { os: "darwin", ...who, family, ...parseRouteTo(rules), rules: [...rules], ...extra };
}

function pfOptions(runner: Runner, paths: DriverPaths): PfctlOptions {
  return { runner, pfctl: paths.pfctl, pfConf: paths.pfConf, stateDir: paths.stateDir };
}

function rulesFor(spec: CheckedRoute): PfRuleSet {
  if (spec.table !== undefined) throw new TypeError("table: routing tables are Linux only; pf needs none");
  if (spec.priority !== undefined) throw new TypeError("priority: rule priorities are Linux only");
  return buildPfRules({
    user: spec.user,
    routeTo: spec.dev!,
    ...(spec.gateway === undefined ? {} : { gateway: spec.gateway }),
    family: spec.family,
    nat: spec.nat,
    ...(spec.protocols === undefined ? {} : { protocols: [...spec.protocols] }),
  });
}

/** The macOS driver: pf rules in an anchor of the user's own, or in pf.conf with `persist`. */
export const pfDriver: RouteDriver = {
  os: "darwin",

  async route(spec, runner, paths): Promise<RouteResult> {
    if (spec.dev === undefined) throw new TypeError("dev: expected an interface name, got undefined");
    const rules = rulesFor(spec);
    const o = pfOptions(runner, paths);
    const lines = [...(rules.nat ? [rules.nat] : []), rules.filter];
    if (spec.persist) {
      if (spec.anchor !== undefined) {
        throw new TypeError("anchor: persist mode edits pf.conf and uses no anchor");
      }
      const changed = await applyPersist(rules, o);
      return { changed, route: describe(String(rules.user), lines, { mode: "persist" }) };
    }
    const anchor = spec.anchor ?? defaultAnchor(rules.user);
    const before = await showAnchor(anchor, o);
    const tookReference = await applyAnchor(rules, anchor, o);
    const after = await showAnchor(anchor, o);
    const changed = tookReference || before.join("\n") !== after.join("\n");
    return { changed, route: describe(String(rules.user), after, { mode: "anchor", anchor }) };
  },

  async unroute(spec, runner, paths): Promise<UnrouteResult> {
    if (spec.table !== undefined) throw new TypeError("table: routing tables are Linux only");
    const o = pfOptions(runner, paths);
    if (spec.persist) return { removed: await removePersist(spec.user, o) };
    const anchor = spec.anchor ?? defaultAnchor(spec.user);
    return { removed: (await removeAnchor(anchor, o)) ? 1 : 0 };
  },

  async list(filter, runner, paths): Promise<UserRoute[]> {
    const o = pfOptions(runner, paths);
    const only = filter.user === undefined ? undefined : String(filter.user);
    const found: UserRoute[] = [];
    for (const anchor of await listAnchors(o)) {
      const user = anchor.slice(`${APPLE_ANCHOR}/sockbuf.`.length);
      if (only !== undefined && user !== only) continue;
      const rules = await showAnchor(anchor, o);
      if (rules.length > 0) found.push(describe(user, rules, { mode: "anchor", anchor }));
    }
    let text: string | undefined;
    try {
      text = await readFile(context(o).pfConf, "utf8");
    } catch (err) {
      if ((err as { code?: string }).code !== "ENOENT") throw err;
    }
    for (const { user, rules } of findPfConfRules(text ?? "")) {
      if (only === undefined || user === only) found.push(describe(user, rules, { mode: "persist" }));
    }
    return found;
  },
};
