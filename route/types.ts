/**
 * Types and errors shared by the per-user routing drivers (Linux `ip rule`, macOS pf) and the
 * `./route` and `./pf` entry points.
 *
 * @module
 */
import type { Runner } from "./runner.ts";

/**
 * Why a system command failed, as far as its output says:
 * - `syntax-error`: pfctl could not parse the rules (`FILE:LINE: syntax error`)
 * - `already-enabled`: `pfctl -e` found pf enabled
 * - `no-such-interface`: the interface does not exist
 * - `no-such-user`: the user name is unknown
 * - `exists`: the kernel already has that rule or route
 * - `failed`: anything else; read `stderr`
 *
 * @example Acting on why a command failed
 * ```ts
 * import { RouteCommandError, type RouteFailure, routeUser, type Runner } from "@sockbuf/sockbuf/route";
 *
 * const hint: Record<RouteFailure, string> = {
 *   "syntax-error": "fix the rule",
 *   "already-enabled": "nothing to do",
 *   "no-such-interface": "bring the tunnel up",
 *   "no-such-user": "check the user name",
 *   exists: "already routed",
 *   failed: "read stderr",
 * };
 * // `id -u` does not know the user.
 * const runner: Runner = () =>
 *   Promise.resolve({ code: 1, stdout: "", stderr: "id: 'nosuch': no such user\n" });
 * const paths = { ip: "/sbin/ip", id: "/usr/bin/id" };
 * try {
 *   await routeUser({ user: "nosuch", dev: "wg0", os: "linux", runner, paths });
 * } catch (err) {
 *   if (err instanceof RouteCommandError) console.log(hint[err.reason]); // check the user name
 * }
 * ```
 */
export type RouteFailure =
  | "syntax-error"
  | "already-enabled"
  | "no-such-interface"
  | "no-such-user"
  | "exists"
  | "failed";

/**
 * Base class of the routing helpers' system-side failures (not bad input, which throws `TypeError`).
 *
 * @example Any system-side failure, command or not
 * ```ts
 * import {
 *   applyAnchor,
 *   buildPfRules,
 *   RouteCommandError,
 *   RouteError,
 *   type Runner,
 * } from "@sockbuf/sockbuf/pf";
 *
 * // pfctl -E succeeds but prints no token: not a failed command, still a RouteError.
 * const runner: Runner = () => Promise.resolve({ code: 0, stdout: "", stderr: "" });
 * const stateDir = await Deno.makeTempDir();
 * const rules = buildPfRules({ user: "test1", routeTo: "utun4" });
 * try {
 *   await applyAnchor(rules, "com.apple/sockbuf.test1", { runner, stateDir });
 * } catch (err) {
 *   console.log(err instanceof RouteError, err instanceof RouteCommandError); // true false
 *   console.log((err as Error).message); // pfctl -E printed no token:
 * }
 * await Deno.remove(stateDir, { recursive: true });
 * ```
 */
export class RouteError extends Error {
  /**
   * Makes the error.
   *
   * @param message what failed, in sentence case
   * @param options the underlying error, if any
   */
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "RouteError";
  }
}

/**
 * What {@linkcode RouteCommandError} knows beyond argv and the process's result.
 *
 * @example Reporting a command of your own the same way
 * ```ts
 * import { type RouteCommandDetail, RouteCommandError } from "@sockbuf/sockbuf/pf";
 *
 * const argv = ["/sbin/pfctl", "-nf", "/etc/pf.conf"];
 * const result = { code: 1, stdout: "", stderr: "/etc/pf.conf:12: syntax error\n" };
 * const detail: RouteCommandDetail = { reason: "syntax-error", file: "/etc/pf.conf", line: 12 };
 * const err = new RouteCommandError(argv, result, detail);
 * console.log(err.reason, err.file, err.line); // syntax-error /etc/pf.conf 12
 * console.log(err.message);
 * // Command failed (exit 1, syntax-error): /sbin/pfctl -nf /etc/pf.conf: /etc/pf.conf:12: syntax error
 * ```
 */
export interface RouteCommandDetail {
  /** Why the command failed. */
  readonly reason: RouteFailure;
  /** For `syntax-error`: the file pfctl named (`stdin` for rules given on stdin). */
  readonly file?: string;
  /** For `syntax-error`: the 1-based line pfctl named. */
  readonly line?: number;
  /** For `no-such-interface`: the interface named in the output. */
  readonly interface?: string;
}

/**
 * A command (`ip`, `pfctl`, `id`) ran and exited non-zero. `argv` is the exact command,
 * executable first; `reason` classifies the failure from its output.
 *
 * @example An interface that does not exist (recorded `ip`, not run)
 * ```ts
 * import { RouteCommandError, routeUser, type Runner } from "@sockbuf/sockbuf/route";
 *
 * const calls: string[] = [];
 * const runner: Runner = (file, args) => {
 *   calls.push(args.join(" "));
 *   if (!(args.includes("route") && args.includes("add"))) {
 *     return Promise.resolve({ code: 0, stdout: "[]", stderr: "" });
 *   }
 *   // What iproute2 prints for an interface that does not exist:
 *   return Promise.resolve({ code: 1, stdout: "", stderr: 'Cannot find device "wg9"\n' });
 * };
 * try {
 *   await routeUser({ user: 4242, dev: "wg9", os: "linux", runner, paths: { ip: "/sbin/ip" } });
 * } catch (err) {
 *   if (!(err instanceof RouteCommandError)) throw err;
 *   console.log(err.argv.join(" "), err.exitCode, err.reason, err.interface);
 *   // /sbin/ip -4 route add default dev wg9 table 104242 proto 115 1 no-such-interface wg9
 *   console.log(calls.at(-1)); // the rule just added is undone:
 *   // -4 rule del uidrange 4242-4242 lookup 104242 priority 10000 protocol 115
 * }
 * ```
 */
export class RouteCommandError extends RouteError {
  /** The executable's absolute path followed by its arguments. */
  readonly argv: readonly string[];
  /** The exit code. */
  readonly exitCode: number;
  /** What the command printed on stdout. */
  readonly stdout: string;
  /** What the command printed on stderr. */
  readonly stderr: string;
  /** Why it failed, read from its output. */
  readonly reason: RouteFailure;
  /** For `syntax-error`: the file pfctl named (`stdin` for rules given on stdin). */
  readonly file?: string;
  /** For `syntax-error`: the 1-based line pfctl named. */
  readonly line?: number;
  /** For `no-such-interface`: the interface named in the output. */
  readonly interface?: string;

  /**
   * Makes the error from the command and its result; the message names both.
   *
   * @param argv the executable and its arguments
   * @param result the exit code and output
   * @param detail the classified reason
   */
  constructor(
    argv: readonly string[],
    result: { code: number; stdout: string; stderr: string },
    detail: RouteCommandDetail,
  ) {
    const said = (result.stderr.trim() || result.stdout.trim()).split("\n").slice(0, 3).join("; ");
    super(
      `Command failed (exit ${result.code}, ${detail.reason}): ${argv.join(" ")}${said ? `: ${said}` : ""}`,
    );
    this.name = "RouteCommandError";
    this.argv = [...argv];
    this.exitCode = result.code;
    this.stdout = result.stdout;
    this.stderr = result.stderr;
    this.reason = detail.reason;
    if (detail.file !== undefined) this.file = detail.file;
    if (detail.line !== undefined) this.line = detail.line;
    if (detail.interface !== undefined) this.interface = detail.interface;
  }
}

/**
 * `/etc/pf.conf` (or the file given) cannot take our rules; the file was left untouched.
 *
 * @example A pf.conf without the stock anchor is left alone (temp file, recorded pfctl)
 * ```ts
 * import { PfConfError, routeUser, type Runner } from "@sockbuf/sockbuf/route";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/pf.conf`, "set skip on lo0\n");
 * const calls: string[] = [];
 * const runner: Runner = (file, args) => {
 *   calls.push([file, ...args].join(" "));
 *   return Promise.resolve({ code: 0, stdout: "", stderr: "" });
 * };
 * try {
 *   const paths = { pfConf: `${dir}/pf.conf`, stateDir: dir };
 *   await routeUser({ user: "test1", dev: "utun4", persist: true, os: "darwin", runner, paths });
 * } catch (err) {
 *   if (!(err instanceof PfConfError)) throw err;
 *   console.log(err.path === `${dir}/pf.conf`, calls.length); // true 0: no pfctl ran
 *   console.log(await Deno.readTextFile(err.path)); // set skip on lo0 (unchanged)
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class PfConfError extends RouteError {
  /** The pf.conf path. */
  readonly path: string;
  /**
   * Makes the error for `path`.
   *
   * @param path the file
   * @param message what is wrong with it
   */
  constructor(path: string, message: string) {
    super(`${path}: ${message}`);
    this.name = "PfConfError";
    this.path = path;
  }
}

/**
 * Why the pf driver refused a state or token file (see {@linkcode PfStateError}):
 * - `symlink`: the state directory, or a token file, is a symbolic link
 * - `not-a-directory` / `not-a-file`: the state directory is not a directory, or a token file not a regular file
 * - `wrong-owner`: owned by a uid other than the one running (or root)
 * - `unsafe-mode`: a state directory group or others can write, or a token file whose mode is not 0600
 * - `foreign-file`: something we did not make sits at one of our temp-file names
 *
 * @example Telling the admin what to fix
 * ```ts
 * import { type PfStateFailure } from "@sockbuf/sockbuf/pf";
 *
 * const fix: Record<PfStateFailure, string> = {
 *   symlink: "replace the link with a real directory or file",
 *   "not-a-directory": "remove what is there",
 *   "not-a-file": "remove what is there",
 *   "wrong-owner": "find out who made it, then chown it or remove it",
 *   "unsafe-mode": "chmod go-w the directory (0600 for a token file)",
 *   "foreign-file": "find out who made it, then remove it",
 * };
 * console.log(fix["unsafe-mode"]); // chmod go-w the directory (0600 for a token file)
 * ```
 */
export type PfStateFailure =
  | "symlink"
  | "not-a-directory"
  | "not-a-file"
  | "wrong-owner"
  | "unsafe-mode"
  | "foreign-file";

/**
 * A pf state directory, token file or temp-file name failed its safety check: another user could
 * have written it, so its token is not trusted (no `pfctl -X` runs) and nothing is written through
 * it. Nothing was changed. `path` is the file or directory, `reason` says what is wrong with it.
 *
 * @example A state directory others can write is refused before pfctl runs (temp dir, recorded pfctl)
 * ```ts
 * import { applyAnchor, buildPfRules, PfStateError, type Runner } from "@sockbuf/sockbuf/pf";
 *
 * const calls: string[] = [];
 * const runner: Runner = (_file, args) => {
 *   calls.push(args.join(" "));
 *   return Promise.resolve({ code: 0, stdout: "", stderr: "Token : 42\n" });
 * };
 * const stateDir = await Deno.makeTempDir();
 * await Deno.chmod(stateDir, 0o777);
 * try {
 *   await applyAnchor(buildPfRules({ user: "test1", routeTo: "utun4" }), "com.apple/sockbuf.test1", {
 *     runner,
 *     stateDir,
 *   });
 * } catch (err) {
 *   if (!(err instanceof PfStateError)) throw err;
 *   console.log(err.reason, err.path === stateDir, calls.length); // unsafe-mode true 0
 * }
 * await Deno.remove(stateDir, { recursive: true });
 * ```
 */
export class PfStateError extends RouteError {
  /** The state directory, token file or temp file that was refused. */
  readonly path: string;
  /** What is wrong with it. */
  readonly reason: PfStateFailure;
  /**
   * Makes the error for `path`.
   *
   * @param path the directory or file
   * @param reason what is wrong with it
   * @param message the details, completing "PATH: …"
   */
  constructor(path: string, reason: PfStateFailure, message: string) {
    super(`${path}: ${message}`);
    this.name = "PfStateError";
    this.path = path;
    this.reason = reason;
  }
}

/**
 * Per-user routing is not available on this OS.
 *
 * @example An OS without a driver fails before anything runs
 * ```ts
 * import { RouteUnsupportedError, routeUser, type Runner } from "@sockbuf/sockbuf/route";
 *
 * const runner: Runner = () => Promise.reject(new Error("nothing may run"));
 * try {
 *   await routeUser({ user: "test1", dev: "wg0", os: "freebsd", runner });
 * } catch (err) {
 *   if (!(err instanceof RouteUnsupportedError)) throw err;
 *   console.log(err.os); // freebsd
 * }
 * ```
 */
export class RouteUnsupportedError extends RouteError {
  /** The OS as the runtime names it. */
  readonly os: string;
  /**
   * Makes the error for `os`.
   *
   * @param os the OS
   */
  constructor(os: string) {
    super(`Per-user routing is not supported on ${os}: it runs on linux (ip rule) and darwin (pf)`);
    this.name = "RouteUnsupportedError";
    this.os = os;
  }
}

/**
 * One user's route as the system shows it.
 *
 * @example A macOS route as the list reports it (recorded pfctl, not run)
 * ```ts
 * import { listUserRoutes, type Runner, type UserRoute } from "@sockbuf/sockbuf/route";
 *
 * const runner: Runner = (_file, args) =>
 *   Promise.resolve({
 *     code: 0,
 *     stderr: "",
 *     stdout: args.includes("Anchors")
 *       ? "  com.apple/sockbuf.test1\n"
 *       : args.includes("-sr")
 *       ? "pass out quick on ! utun4 route-to (utun4 192.168.15.2) inet proto tcp all user = 501\n"
 *       : "",
 *   });
 * const dir = await Deno.makeTempDir(); // holds no pf.conf, so only the anchor is found
 * const routes: UserRoute[] = await listUserRoutes({
 *   os: "darwin",
 *   runner,
 *   paths: { pfConf: `${dir}/pf.conf` },
 * });
 * const { user, mode, anchor, dev, gateway } = routes[0];
 * console.log(user, mode, anchor, dev, gateway); // test1 anchor com.apple/sockbuf.test1 utun4 192.168.15.2
 * await Deno.remove(dir);
 * ```
 */
export interface UserRoute {
  /** Which driver found it. */
  readonly os: "linux" | "darwin";
  /** The uid (Linux always; macOS when the rule names a uid). */
  readonly uid?: number;
  /** The user name (macOS, when the rule names a user). */
  readonly user?: string;
  /** The interface the user's traffic leaves through (`undefined` if the table has no default route). */
  readonly dev?: string;
  /** The next hop, when there is one. */
  readonly gateway?: string;
  /** The address family the rule and route are for. */
  readonly family: "inet" | "inet6";
  /** Linux: the routing table the rule looks up. */
  readonly table?: number;
  /** Linux: the rule's priority. */
  readonly priority?: number;
  /** macOS: `anchor` (rules in a pf anchor) or `persist` (lines in pf.conf). */
  readonly mode?: "anchor" | "persist";
  /** macOS: the anchor path, in anchor mode. */
  readonly anchor?: string;
  /** macOS: the pf rules as pfctl or pf.conf shows them. */
  readonly rules?: readonly string[];
}

/** Input checked and resolved for a driver: every string here already passed its grammar. */
export interface CheckedRoute {
  readonly user: string | number;
  /** Required to add a route; optional for removal, where it narrows what is removed. */
  readonly dev?: string;
  readonly gateway?: string;
  readonly family: "inet" | "inet6";
  /** Whether the caller chose the family (or gave a gateway); removal and listing look at both otherwise. */
  readonly familyGiven: boolean;
  readonly table?: number;
  readonly priority?: number;
  readonly persist: boolean;
  readonly nat: boolean;
  readonly anchor?: string;
  readonly protocols?: readonly ("tcp" | "udp")[];
}

/**
 * Paths a driver may be pointed at (tests use temp files; the defaults are the system's).
 *
 * @example Token files in a directory of your own (recorded pfctl, temp dir)
 * ```ts
 * import { type DriverPaths, routeUser, type Runner } from "@sockbuf/sockbuf/route";
 *
 * const runner: Runner = () => Promise.resolve({ code: 0, stdout: "", stderr: "pf enabled\nToken : 42\n" });
 * const dir = await Deno.makeTempDir();
 * const paths: DriverPaths = { pfctl: "/sbin/pfctl", pfConf: `${dir}/pf.conf`, stateDir: `${dir}/state` };
 * await routeUser({ user: "test1", dev: "utun4", os: "darwin", runner, paths });
 * for await (const entry of Deno.readDir(paths.stateDir!)) {
 *   console.log(entry.name); // pf-anchor-com.apple%2Fsockbuf.test1.token
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface DriverPaths {
  /** `ip` (Linux); default the first of /usr/sbin/ip, /sbin/ip, /usr/bin/ip, /bin/ip that exists. */
  readonly ip?: string;
  /** `pfctl` (macOS); default /sbin/pfctl. */
  readonly pfctl?: string;
  /** `id`, to resolve user names; default /usr/bin/id or /bin/id. */
  readonly id?: string;
  /** pf.conf for persist mode (macOS); default /etc/pf.conf. */
  readonly pfConf?: string;
  /**
   * Where pf reference tokens are kept (macOS); default /var/run/sockbuf. It must be a real
   * directory owned by the user running (or root) that group and others cannot write; it is made
   * 0700 if missing.
   */
  readonly stateDir?: string;
}

/**
 * What `routeUser` changed.
 *
 * @example A second run changes nothing
 * ```ts
 * import { type RouteResult, routeUser, type Runner } from "@sockbuf/sockbuf/route";
 *
 * // The rule and the route are already in place.
 * const runner: Runner = (_file, args) =>
 *   Promise.resolve({
 *     code: 0,
 *     stderr: "",
 *     stdout: args.includes("rule")
 *       ? '[{"priority":10000,"src":"all","uid_start":4242,"uid_end":4242,"table":"104242","protocol":"115"}]'
 *       : '[{"dst":"default","gateway":"10.8.0.1","dev":"wg0","protocol":"115"}]',
 *   });
 * const options = {
 *   user: 4242,
 *   dev: "wg0",
 *   gateway: "10.8.0.1",
 *   os: "linux",
 *   runner,
 *   paths: { ip: "/sbin/ip" },
 * };
 * const { changed, route }: RouteResult = await routeUser(options);
 * console.log(changed, route.table, route.priority); // false 104242 10000
 * ```
 */
export interface RouteResult {
  /** The route as applied. */
  readonly route: UserRoute;
  /** False when everything was already in place and nothing was changed. */
  readonly changed: boolean;
}

/**
 * What `unrouteUser` removed.
 *
 * @example Removing an IPv4 rule and its route (recorded, not run)
 * ```ts
 * import { type Runner, type UnrouteResult, unrouteUser } from "@sockbuf/sockbuf/route";
 *
 * const calls: string[] = [];
 * const runner: Runner = (_file, args) => {
 *   calls.push(args.join(" "));
 *   const stdout = args.includes("rule")
 *     ? '[{"priority":10000,"src":"all","uid_start":4242,"uid_end":4242,"table":"104242","protocol":"115"}]'
 *     : '[{"dst":"default","gateway":"10.8.0.1","dev":"wg0","protocol":"115"}]';
 *   return Promise.resolve({ code: 0, stdout, stderr: "" });
 * };
 * const paths = { ip: "/sbin/ip" };
 * const result: UnrouteResult = await unrouteUser({
 *   user: 4242,
 *   family: "inet",
 *   os: "linux",
 *   runner,
 *   paths,
 * });
 * console.log(result.removed); // 2
 * console.log(calls.filter((c) => c.includes(" del ")).join("\n"));
 * // -4 rule del uidrange 4242-4242 lookup 104242 priority 10000 protocol 115
 * // -4 route del default via 10.8.0.1 dev wg0 table 104242 proto 115
 * ```
 */
export interface UnrouteResult {
  /** Rules, routes or pf.conf lines removed; 0 when there was nothing of ours. */
  readonly removed: number;
  /**
   * Linux: rules and routes in the user's place that sockbuf did not make (they lack its
   * protocol mark), left alone; present only when there are some.
   */
  readonly foreign?: readonly ForeignEntry[];
}

/**
 * The routing protocol number sockbuf marks its Linux rules (`ip rule add … protocol 115`) and
 * routes (`ip route add … proto 115`) with. Only entries carrying it are listed as ours and
 * removed; 115 is used by no routing daemon we know of (see the README's Linux section).
 *
 * @example The command that shows every route sockbuf made
 * ```ts
 * import { PROTOCOL } from "@sockbuf/sockbuf/route";
 *
 * console.log(`ip route show table all proto ${PROTOCOL}`); // ip route show table all proto 115
 * ```
 */
export const PROTOCOL = 115;

/**
 * A Linux rule or route sockbuf found next to its own but did not make (it lacks sockbuf's
 * protocol mark, 115), so it is listed and left alone rather than removed: a rule for a single
 * uid that looks up a numbered table, or a default route in a table one of our rules uses.
 *
 * @example Someone else's default route in the user's table is reported, not removed (recorded)
 * ```ts
 * import { type ForeignEntry, type Runner, unrouteUser } from "@sockbuf/sockbuf/route";
 *
 * const runner: Runner = (_file, args) =>
 *   Promise.resolve({
 *     code: 0,
 *     stderr: "",
 *     stdout: args.includes("route") ? '[{"dst":"default","gateway":"10.8.0.1","dev":"wg0","protocol":"4"}]' : "[]",
 *   });
 * const { removed, foreign } = await unrouteUser({
 *   user: 4242,
 *   family: "inet",
 *   os: "linux",
 *   runner,
 *   paths: { ip: "/sbin/ip" },
 * });
 * const [route]: readonly ForeignEntry[] = foreign ?? [];
 * console.log(removed, route.kind, route.table, route.protocol); // 0 route 104242 4
 * ```
 */
export interface ForeignEntry {
  /** An `ip rule` or a route. */
  readonly kind: "rule" | "route";
  /** Its address family. */
  readonly family: "inet" | "inet6";
  /** Rules: the uid the rule matches. */
  readonly uid?: number;
  /** The table the rule looks up, or the route is in. */
  readonly table: number;
  /** Rules: the priority. */
  readonly priority?: number;
  /** Routes: the interface. */
  readonly dev?: string;
  /** Routes: the next hop, as `ip` prints it. */
  readonly gateway?: string;
  /** Routes: the metric, when `ip` shows one. */
  readonly metric?: number;
  /** Its routing protocol number (0 unspec, 3 boot for `ip route add`, 4 static, …). */
  readonly protocol: number;
}

/**
 * What `listUserRoutes` returns: an array of sockbuf's own routes, plus `foreign`, the entries
 * next to them that sockbuf did not make (Linux; always empty on macOS). `foreign` is not
 * enumerable, so the array prints, compares and serializes as the plain list of ours.
 *
 * @example Ours in the array, the rest in `foreign` (recorded `ip`, not run)
 * ```ts
 * import { listUserRoutes, type Runner, type UserRouteList } from "@sockbuf/sockbuf/route";
 *
 * const runner: Runner = (_file, args) =>
 *   Promise.resolve({
 *     code: 0,
 *     stderr: "",
 *     stdout: args.includes("rule") && args.includes("-4")
 *       ? '[{"priority":10000,"src":"all","uid_start":4242,"uid_end":4242,"table":"104242","protocol":"115"},' +
 *         '{"priority":9000,"src":"all","uid_start":501,"uid_end":501,"table":"100501"}]'
 *       : args.includes("104242")
 *       ? '[{"dst":"default","gateway":"10.8.0.1","dev":"wg0","protocol":"115"}]'
 *       : "[]",
 *   });
 * const routes: UserRouteList = await listUserRoutes({ os: "linux", runner, paths: { ip: "/sbin/ip" } });
 * console.log(routes.map((r) => r.uid), routes.foreign.map((f) => `${f.kind} ${f.uid}`)); // [ 4242 ] [ "rule 501" ]
 * ```
 */
export interface UserRouteList extends Array<UserRoute> {
  /** Entries next to ours that sockbuf did not make; listed, never touched. */
  readonly foreign: readonly ForeignEntry[];
}

/** One OS's per-user routing, chosen by `platform/mod.ts`. */
export interface RouteDriver {
  readonly os: string;
  route(spec: CheckedRoute, runner: Runner, paths: DriverPaths): Promise<RouteResult>;
  unroute(spec: CheckedRoute, runner: Runner, paths: DriverPaths): Promise<UnrouteResult>;
  list(filter: { user?: string | number }, runner: Runner, paths: DriverPaths): Promise<UserRoute[]>;
}
