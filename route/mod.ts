/**
 * Send all TCP and UDP traffic of one local user out through another interface, such as a
 * VPN tunnel, with one API on Linux and macOS:
 *
 * - Linux: `ip rule add uidrange U-U lookup T priority P protocol 115` and
 *   `ip route add default [via GW] dev IF table T proto 115` (table `100000 + uid`, priority 10000 by
 *   default; protocol 115, {@linkcode PROTOCOL}, marks what sockbuf made: only that is listed and removed).
 * - macOS: a pf rule `pass out quick on ! IF route-to (IF GW) inet proto { tcp udp } from any to any user U`,
 *   loaded into the anchor `com.apple/sockbuf.U` (or, with `persist`, inserted into `/etc/pf.conf`);
 *   see `@sockbuf/sockbuf/pf`.
 *
 * Every input is checked against a strict grammar before any process starts (bad input throws
 * `TypeError`, or `RangeError` for a number out of range, naming the field); processes start
 * from absolute paths with argv arrays, never through a shell, and always through one
 * {@linkcode Runner} you can replace. Changing routes needs root; Deno needs `--allow-run`
 * and `--allow-read` (and `--allow-write` for macOS state files).
 *
 * @example Route a user through a tunnel, then undo it (root only, so not run here)
 * ```ts ignore
 * import { listUserRoutes, routeUser, unrouteUser } from "@sockbuf/sockbuf/route";
 *
 * await routeUser({ user: "test1", dev: "wg0", gateway: "10.8.0.1" });
 * console.log(await listUserRoutes({ user: "test1" }));
 * await unrouteUser({ user: "test1" });
 * ```
 *
 * @module
 */
import { routeDriver } from "./_driver.ts";
import { defaultRunner, type Runner } from "./runner.ts";
import type {
  CheckedRoute,
  DriverPaths,
  ListUserRoutesOptions,
  RouteCommonOptions,
  RouteResult,
  RouteUserOptions,
  UnrouteResult,
  UnrouteUserOptions,
  UserRouteList,
} from "./types.ts";
import {
  quote,
  validateAnchor,
  validateFamily,
  validateInterface,
  validateIp,
  validatePath,
  validatePriority,
  validateProtocols,
  validateTable,
  validateUser,
} from "./_validate.ts";

export { defaultRunner, type Runner, type RunOptions, type RunResult } from "./runner.ts";
export {
  PfConfError,
  RouteCommandError,
  RouteError,
  type RouteFailure,
  RouteUnsupportedError,
} from "./errors.ts";
export {
  type DriverPaths,
  type ForeignEntry,
  type ListUserRoutesOptions,
  PROTOCOL,
  type RouteCommonOptions,
  type RouteResult,
  type RouteUserOptions,
  type UnrouteResult,
  type UnrouteUserOptions,
  type UserRoute,
  type UserRouteList,
} from "./types.ts";

function bool(value: unknown, field: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new TypeError(`${field}: expected a boolean, got ${quote(value)}`);
  return value;
}

function common(options: RouteCommonOptions): { runner: Runner; os?: string; paths: DriverPaths } {
  if (options.runner !== undefined && typeof options.runner !== "function") {
    throw new TypeError(`runner: expected a function, got ${quote(options.runner)}`);
  }
  if (options.os !== undefined && (typeof options.os !== "string" || !/^[a-z0-9]{1,16}$/.test(options.os))) {
    throw new TypeError(`os: expected an OS name such as "linux" or "darwin", got ${quote(options.os)}`);
  }
  const paths: Record<string, string> = {};
  if (options.paths !== undefined) {
    if (typeof options.paths !== "object" || options.paths === null) {
      throw new TypeError("paths: expected an object");
    }
    for (const [key, value] of Object.entries(options.paths)) {
      if (!["ip", "pfctl", "id", "pfConf", "stateDir"].includes(key)) {
        throw new TypeError(`paths: unknown key ${quote(key)}`);
      }
      if (value !== undefined) paths[key] = validatePath(value, `paths.${key}`);
    }
  }
  return { runner: options.runner ?? defaultRunner, ...(options.os ? { os: options.os } : {}), paths };
}

function check(options: UnrouteUserOptions, needDev: boolean): CheckedRoute {
  if (typeof options !== "object" || options === null) throw new TypeError("options: expected an object");
  const user = validateUser(options.user, "user");
  const dev = options.dev === undefined && !needDev ? undefined : validateInterface(options.dev, "dev");
  const gateway = options.gateway === undefined ? undefined : validateIp(options.gateway, "gateway");
  const family = options.family === undefined ? gateway?.family ?? "inet" : validateFamily(options.family);
  if (gateway && gateway.family !== family) {
    throw new TypeError(`family: ${family} does not match the gateway's ${gateway.family}`);
  }
  return {
    user,
    ...(dev === undefined ? {} : { dev }),
    ...(gateway === undefined ? {} : { gateway: gateway.address }),
    family,
    familyGiven: options.family !== undefined || gateway !== undefined,
    ...(options.table === undefined ? {} : { table: validateTable(options.table) }),
    ...(options.priority === undefined ? {} : { priority: validatePriority(options.priority) }),
    persist: bool(options.persist, "persist"),
    nat: bool(options.nat, "nat"),
    ...(options.anchor === undefined ? {} : { anchor: validateAnchor(options.anchor) }),
    ...(options.protocols === undefined ? {} : { protocols: validateProtocols(options.protocols) }),
  };
}

/**
 * Routes all TCP and UDP traffic of `user` out through `dev`. Idempotent: running it twice
 * leaves one rule and one route (`changed` is false the second time), also when the calls
 * overlap, in one process or several. Addresses compare as addresses, not spellings
 * (`fd00:50:0:0::fe` is `fd00:50::fe`). On Linux a default route in the table that sockbuf did
 * not make is not taken over: the call fails with `RouteCommandError` (`exists`) naming it.
 *
 * @param options what to route; see {@linkcode RouteUserOptions}
 * @returns the route as applied and whether anything changed
 * @throws {TypeError} naming the field, for input that fails its grammar, before anything runs
 * @throws {RangeError} naming the field, for a uid, table or priority out of range
 * @throws {RouteCommandError} when `ip`, `pfctl` or `id` fails (`reason`, `argv`, `stderr`);
 *   on Linux a rule added by this call is deleted again if the route cannot be added
 * @throws {PfConfError} in macOS persist mode, when pf.conf has no `anchor "com.apple/*"` line
 * @throws {RouteUnsupportedError} on an OS other than Linux and macOS
 *
 * @example Hostile input never reaches a process
 * ```ts
 * import { routeUser } from "@sockbuf/sockbuf/route";
 *
 * const spawned: string[][] = [];
 * const runner = (file: string, args: readonly string[]) => {
 *   spawned.push([file, ...args]);
 *   return Promise.resolve({ code: 0, stdout: "[]", stderr: "" });
 * };
 * try {
 *   await routeUser({ user: "test1; rm -rf /", dev: "wg0", runner });
 * } catch (err) {
 *   console.log((err as TypeError).message.startsWith("user:"), spawned.length); // true 0
 * }
 * ```
 */
export async function routeUser(options: RouteUserOptions): Promise<RouteResult> {
  const spec = check(options, true);
  const { runner, os, paths } = common(options);
  return await (await routeDriver(os)).route(spec, runner, paths);
}

/**
 * Removes exactly the rule and route {@linkcode routeUser} made for `user` (same table and
 * priority, or on macOS the same anchor or pf.conf lines), and releases the pf reference it
 * took. Removing what is not there succeeds with `removed: 0`. On Linux only entries carrying
 * sockbuf's protocol mark ({@linkcode PROTOCOL}) are removed; a rule for the user's table or a
 * default route in it that lacks the mark is left alone and reported in `foreign`.
 *
 * @param options whose route to remove; `dev` narrows it to routes through that interface
 * @returns how many rules, routes or lines were removed, and what was left alone as not ours
 * @throws {TypeError} naming the field, for input that fails its grammar, before anything runs
 * @throws {RangeError} naming the field, for a uid, table or priority out of range
 * @throws {RouteCommandError} when a command fails
 * @throws {RouteUnsupportedError} on an OS other than Linux and macOS
 *
 * @example What removal runs on Linux, recorded instead of run
 * ```ts
 * import { unrouteUser } from "@sockbuf/sockbuf/route";
 *
 * const spawned: string[] = [];
 * const runner = (file: string, args: readonly string[]) => {
 *   spawned.push([file, ...args].join(" "));
 *   return Promise.resolve({ code: 0, stdout: "[]", stderr: "" });
 * };
 * const { removed } = await unrouteUser({ user: 4242, os: "linux", runner, paths: { ip: "/sbin/ip" } });
 * console.log(removed, spawned[0]); // 0 /sbin/ip -N -j -4 rule show
 * ```
 */
export async function unrouteUser(options: UnrouteUserOptions): Promise<UnrouteResult> {
  const spec = check(options, false);
  const { runner, os, paths } = common(options);
  return await (await routeDriver(os)).unroute(spec, runner, paths);
}

/**
 * The per-user routes sockbuf made: on Linux every `ip rule` carrying its protocol mark
 * ({@linkcode PROTOCOL}), with the marked default routes of its table (`ip -N -j rule show`,
 * `ip -N -j route show table T`); on macOS our anchors under `com.apple` (`pfctl -a ANCHOR -sr`)
 * and our pf.conf lines. On Linux, single-uid rules without the mark and unmarked default
 * routes in our tables are reported in the list's `foreign` property, not in the list.
 *
 * @param options an optional user to narrow the list to
 * @returns one entry per rule and route of ours; `foreign` holds the others found next to them
 * @throws {TypeError} naming the field, for input that fails its grammar
 * @throws {RouteCommandError} when a command fails
 * @throws {RouteUnsupportedError} on an OS other than Linux and macOS
 *
 * @example Reading a recorded `ip -N -j rule show`
 * ```ts
 * import { listUserRoutes } from "@sockbuf/sockbuf/route";
 *
 * const runner = (_file: string, args: readonly string[]) =>
 *   Promise.resolve({
 *     code: 0,
 *     stderr: "",
 *     stdout: args.includes("rule") && args.includes("-4")
 *       ? '[{"priority":10000,"src":"all","uid_start":4242,"uid_end":4242,"table":"104242","protocol":"115"}]'
 *       : args.includes("route") ? '[{"dst":"default","gateway":"10.0.0.1","dev":"wg0","protocol":"115"}]' : "[]",
 *   });
 * const [route] = await listUserRoutes({ os: "linux", runner, paths: { ip: "/sbin/ip" } });
 * console.log(route.uid, route.dev, route.table); // 4242 wg0 104242
 * ```
 */
export async function listUserRoutes(options: ListUserRoutesOptions = {}): Promise<UserRouteList> {
  if (typeof options !== "object" || options === null) throw new TypeError("options: expected an object");
  const user = options.user === undefined ? undefined : validateUser(options.user, "user");
  const { runner, os, paths } = common(options);
  const routes = await (await routeDriver(os)).list(user === undefined ? {} : { user }, runner, paths);
  // The Linux driver attaches what it found of others'; macOS reports none.
  if (!Object.hasOwn(routes, "foreign")) {
    Object.defineProperty(routes, "foreign", { value: [], enumerable: false });
  }
  return routes as UserRouteList;
}
