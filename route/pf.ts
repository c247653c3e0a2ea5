/**
 * macOS pf rules that route one local user's TCP and UDP traffic through another interface,
 * and the pfctl steps that apply and remove them safely. Most callers want
 * `@sockbuf/sockbuf/route`, which uses this on macOS; this entry gives the pieces.
 *
 * - {@linkcode buildPfRules} emits valid pf syntax: `route-to (utun4 192.168.15.2)`, with
 *   parentheses. The braces form `route-to { utun4 192.168.15.2 }` parses but means a
 *   round-robin pool of two interfaces, `utun4` and one named "192.168.15.2", with no gateway.
 * - Anchor mode ({@linkcode applyAnchor}, {@linkcode removeAnchor}, {@linkcode showAnchor}):
 *   rules go into an anchor of our own through `pfctl -a ANCHOR -f -` on stdin; a pf reference
 *   taken with `pfctl -E` is kept in `/var/run/sockbuf/pf-anchor-<anchor, / as %2F>.token` (0600)
 *   and released with `pfctl -X`. No system file changes.
 * - State: the state directory must be a real directory of the user running (or root) that
 *   group and others cannot write; a token is read only from a regular 0600 file of theirs; every
 *   file is created exclusively, never through a link. Anything else is a {@linkcode PfStateError}.
 * - Persist mode ({@linkcode applyPersist}, {@linkcode removePersist}): our line goes into
 *   `/etc/pf.conf` before `anchor "com.apple/*"`, with a backup, a `pfctl -nf` check of a temp
 *   file, an atomic rename, `pfctl -f`, and the backup restored on failure.
 * - The pf.conf transforms ({@linkcode insertPfConfRules}, {@linkcode removePfConfRules}) are
 *   pure functions of the text: LF or CRLF kept, idempotent.
 *
 * `pfctl -d` is never run: it would disable pf for every other program and void their tokens.
 *
 * @example Rules for one user, and what loading them runs (recorded, not run)
 * ```ts
 * import { applyAnchor, buildPfRules, type Runner } from "@sockbuf/sockbuf/pf";
 *
 * const rules = buildPfRules({ user: "test1", routeTo: "utun4", gateway: "192.168.15.2", nat: true });
 * const calls: string[] = [];
 * const runner: Runner = (file, args, options) => {
 *   calls.push([file, ...args].join(" ") + (options?.stdin ? ` <<< ${options.stdin.trim()}` : ""));
 *   return Promise.resolve({ code: 0, stdout: "", stderr: "pf enabled\nToken : 42\n" });
 * };
 * const stateDir = await Deno.makeTempDir(); // where the pf token is kept; /var/run/sockbuf by default
 * await applyAnchor(rules, "com.apple/sockbuf.test1", { runner, stateDir });
 * console.log(calls.join("\n"));
 * await Deno.remove(stateDir, { recursive: true });
 * ```
 *
 * @module
 */
export {
  APPLE_ANCHOR,
  buildPfRules,
  defaultAnchor,
  type PfRuleOptions,
  type PfRuleSet,
} from "./_pf_rules.ts";
export { applyPersist, insertPfConfRules, removePersist, removePfConfRules } from "./_pf_conf.ts";
export {
  applyAnchor,
  listAnchors,
  PF_CONF_PATH,
  PF_STATE_DIR,
  PFCTL_PATH,
  type PfctlOptions,
  removeAnchor,
  showAnchor,
} from "./_pfctl.ts";
export { defaultRunner, type Runner, type RunOptions, type RunResult } from "./runner.ts";
export {
  PfConfError,
  PfStateError,
  type PfStateFailure,
  type RouteCommandDetail,
  RouteCommandError,
  RouteError,
  type RouteFailure,
} from "./errors.ts";
export type { Protocol } from "./_validate.ts";
