/**
 * The errors of per-user routing: {@linkcode RouteError} and its subclasses, shared by the
 * drivers, the runner and the `./route` and `./pf` entry points. Imports nothing, so every
 * routing file can use them without an import cycle.
 *
 * @module
 */
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
