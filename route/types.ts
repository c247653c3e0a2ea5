/**
 * The types of per-user routing: the options `routeUser`, `unrouteUser` and `listUserRoutes`
 * take, what they return, and the driver interface the Linux (`ip rule`) and macOS (pf) drivers
 * implement.
 *
 * @module
 */
import type { Runner } from "./runner.ts";

/**
 * Options shared by every call.
 *
 * @example One set of options for every call (recorded, not run)
 * ```ts
 * import { listUserRoutes, type RouteCommonOptions, unrouteUser } from "@sockbuf/sockbuf/route";
 *
 * const calls: string[] = [];
 * const common: RouteCommonOptions = {
 *   os: "linux",
 *   paths: { ip: "/sbin/ip" },
 *   runner: (file, args) => {
 *     calls.push([file, ...args].join(" "));
 *     return Promise.resolve({ code: 0, stdout: "[]", stderr: "" });
 *   },
 * };
 * console.log(await listUserRoutes(common)); // []
 * console.log(await unrouteUser({ ...common, user: 4242, family: "inet" })); // { removed: 0 }
 * console.log(calls.length, calls[0]); // 4 /sbin/ip -N -j -4 rule show
 * ```
 */
export interface RouteCommonOptions {
  /**
   * Starts every process; default {@linkcode defaultRunner}. Pass a recording runner to see
   * the exact argv and stdin without running anything.
   */
  runner?: Runner;
  /** The OS whose driver to use (`linux` or `darwin`); default the running one. */
  os?: string;
  /** Executables and files the drivers use; each defaults to the system's own and must be an absolute path. */
  paths?: DriverPaths;
}

/**
 * What to route, for {@linkcode routeUser}; {@linkcode unrouteUser} takes the same fields, `dev` optional.
 *
 * @example A table and priority of your own (recorded, not run)
 * ```ts
 * import { routeUser, type RouteUserOptions, type Runner } from "@sockbuf/sockbuf/route";
 *
 * const calls: string[] = [];
 * const runner: Runner = (_file, args) => {
 *   calls.push(args.join(" "));
 *   return Promise.resolve({ code: 0, stdout: "[]", stderr: "" });
 * };
 * const options: RouteUserOptions = {
 *   user: 4242,
 *   dev: "wg0",
 *   gateway: "10.8.0.1",
 *   table: 200,
 *   priority: 9000,
 * };
 * await routeUser({ ...options, os: "linux", runner, paths: { ip: "/sbin/ip" } });
 * console.log(calls.filter((c) => !c.startsWith("-N -j")).join("\n"));
 * // -4 rule add uidrange 4242-4242 lookup 200 priority 9000 protocol 115
 * // -4 route add default via 10.8.0.1 dev wg0 table 200 proto 115
 * ```
 */
export interface RouteUserOptions extends RouteCommonOptions {
  /** The local user: a name (resolved with `id -u`) or a uid (0 to 2^32 − 2; a string of digits counts). */
  user: string | number;
  /** The interface the user's traffic leaves through (Linux `dev`, macOS `route-to`). */
  dev: string;
  /** The next hop on `dev`; without it the route is `dev IF` only (fine for point-to-point tunnels). */
  gateway?: string;
  /** `inet` or `inet6`; default the gateway's family, else `inet`. */
  family?: "inet" | "inet6";
  /** Linux: the routing table (1 to 2^32 − 1, not 252–255); default `100000 + uid`. */
  table?: number | string;
  /** Linux: the rule priority (1 to 32765); default 10000. */
  priority?: number | string;
  /** macOS: edit `/etc/pf.conf` (kept across reboots) instead of loading an anchor. */
  persist?: boolean;
  /** macOS: also NAT the traffic onto `dev`'s address (pf keeps the old source address otherwise). */
  nat?: boolean;
  /** macOS: the pf anchor; default `com.apple/sockbuf.USER`. */
  anchor?: string;
  /** macOS: protocols to route; default `tcp` and `udp`. */
  protocols?: ("tcp" | "udp")[];
}

/**
 * What {@linkcode unrouteUser} removes: the same fields as {@linkcode RouteUserOptions}, `dev` optional.
 *
 * @example Remove only the IPv6 side, whatever the interface
 * ```ts
 * import { type Runner, unrouteUser, type UnrouteUserOptions } from "@sockbuf/sockbuf/route";
 *
 * const runner: Runner = (_file, args) =>
 *   Promise.resolve({
 *     code: 0,
 *     stderr: "",
 *     stdout: args.includes("rule")
 *       ? '[{"priority":10000,"src":"all","uid_start":4242,"uid_end":4242,"table":"104242","protocol":"115"}]'
 *       : '[{"dst":"default","gateway":"fd00::1","dev":"wg0","protocol":"115"}]',
 *   });
 * const options: UnrouteUserOptions = { user: 4242, family: "inet6" }; // no `dev`: any interface
 * const result = await unrouteUser({ ...options, os: "linux", runner, paths: { ip: "/sbin/ip" } });
 * console.log(result); // { removed: 2 }: the -6 rule and its route
 * ```
 */
export type UnrouteUserOptions = Omit<RouteUserOptions, "dev"> & { dev?: string };

/**
 * Options for {@linkcode listUserRoutes}.
 *
 * @example One user's routes, by name (recorded, not run)
 * ```ts
 * import { listUserRoutes, type ListUserRoutesOptions, type Runner } from "@sockbuf/sockbuf/route";
 *
 * const runner: Runner = (file, args) =>
 *   Promise.resolve({
 *     code: 0,
 *     stderr: "",
 *     stdout: file === "/usr/bin/id"
 *       ? "4242\n"
 *       : args.includes("rule") && args.includes("-4")
 *       ? '[{"priority":10000,"src":"all","uid_start":4242,"uid_end":4242,"table":"104242","protocol":"115"},' +
 *         '{"priority":10000,"src":"all","uid_start":501,"uid_end":501,"table":"100501"}]'
 *       : "[]",
 *   });
 * const options: ListUserRoutesOptions = {
 *   user: "test1",
 *   os: "linux",
 *   runner,
 *   paths: { ip: "/sbin/ip", id: "/usr/bin/id" },
 * };
 * console.log((await listUserRoutes(options)).map((r) => r.uid)); // [ 4242 ]
 * ```
 */
export interface ListUserRoutesOptions extends RouteCommonOptions {
  /** Only this user's routes. */
  user?: string | number;
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

/** One OS's per-user routing, chosen by `route/_driver.ts`. */
export interface RouteDriver {
  readonly os: string;
  route(spec: CheckedRoute, runner: Runner, paths: DriverPaths): Promise<RouteResult>;
  unroute(spec: CheckedRoute, runner: Runner, paths: DriverPaths): Promise<UnrouteResult>;
  list(filter: { user?: string | number }, runner: Runner, paths: DriverPaths): Promise<UserRoute[]>;
}
