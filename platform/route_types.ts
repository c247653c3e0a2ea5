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
 */
export type RouteFailure =
  | "syntax-error"
  | "already-enabled"
  | "no-such-interface"
  | "no-such-user"
  | "exists"
  | "failed";

/** Base class of the routing helpers' system-side failures (not bad input, which throws `TypeError`). */
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

/** What {@linkcode RouteCommandError} knows beyond argv and the process's result. */
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

/** `/etc/pf.conf` (or the file given) cannot take our rules; the file was left untouched. */
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

/** Per-user routing is not available on this OS. */
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

/** One user's route as the system shows it. */
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

/** Paths a driver may be pointed at (tests use temp files; the defaults are the system's). */
export interface DriverPaths {
  /** `ip` (Linux); default the first of /usr/sbin/ip, /sbin/ip, /usr/bin/ip, /bin/ip that exists. */
  readonly ip?: string;
  /** `pfctl` (macOS); default /sbin/pfctl. */
  readonly pfctl?: string;
  /** `id`, to resolve user names; default /usr/bin/id or /bin/id. */
  readonly id?: string;
  /** pf.conf for persist mode (macOS); default /etc/pf.conf. */
  readonly pfConf?: string;
  /** Where pf reference tokens are kept (macOS); default /var/run/sockbuf. */
  readonly stateDir?: string;
}

/** What `routeUser` changed. */
export interface RouteResult {
  /** The route as applied. */
  readonly route: UserRoute;
  /** False when everything was already in place and nothing was changed. */
  readonly changed: boolean;
}

/** What `unrouteUser` removed. */
export interface UnrouteResult {
  /** Rules, routes or pf.conf lines removed; 0 when there was nothing of ours. */
  readonly removed: number;
}

/** One OS's per-user routing, chosen by `platform/mod.ts`. */
export interface RouteDriver {
  readonly os: string;
  route(spec: CheckedRoute, runner: Runner, paths: DriverPaths): Promise<RouteResult>;
  unroute(spec: CheckedRoute, runner: Runner, paths: DriverPaths): Promise<UnrouteResult>;
  list(filter: { user?: string | number }, runner: Runner, paths: DriverPaths): Promise<UserRoute[]>;
}
