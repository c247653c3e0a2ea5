/**
 * Linux per-user routing: one `ip rule` sends a uid's traffic to a routing table of its own,
 * whose default route leaves through the chosen interface.
 *
 * ```
 * ip -4 rule add uidrange 4242-4242 lookup 104242 priority 10000
 * ip -4 route replace default via 10.0.0.1 dev wg0 table 104242
 * ```
 *
 * Defaults, and why:
 * - table `100000 + uid`: one table per user, so two users never overwrite each other's
 *   default route, and far above the kernel's own (253 default, 254 main, 255 local) and the
 *   small numbers `/etc/iproute2/rt_tables`, wg-quick (51820) and Tailscale (52) use.
 * - priority `10000`: after the `local` rule (0), so local addresses still work, and before
 *   `main` (32766), so the user's default route wins; clear of the 5200s Tailscale and
 *   NetworkManager use.
 *
 * Each step reads the state first (`ip -j rule show`, `ip -j route show table T`) and only
 * changes what differs, so running it twice leaves one rule and one route.
 *
 * @module
 */
import { findExecutable, type Runner, type RunResult } from "./runner.ts";
import {
  type CheckedRoute,
  type DriverPaths,
  RouteCommandError,
  type RouteDriver,
  RouteError,
  type RouteFailure,
  type RouteResult,
  type UnrouteResult,
  type UserRoute,
} from "./route_types.ts";
import { validateUid } from "./validate.ts";

/** Where `ip` may live; the first that exists is used. */
export const IP_PATHS: readonly string[] = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];
/** Where `id` may live (to resolve user names). */
export const ID_PATHS: readonly string[] = ["/usr/bin/id", "/bin/id"];
/** The default rule priority (see the module doc). */
export const DEFAULT_PRIORITY = 10000;
/** The first table of the per-uid range (see the module doc). */
export const TABLE_BASE = 100000;

/**
 * The default table for a uid: `100000 + uid`.
 *
 * @throws {RangeError} naming `table` when that passes 2^32 − 1 (uids above 4294867295): pass a table
 */
export function defaultTable(uid: number): number {
  const table = TABLE_BASE + uid;
  if (table > 0xffff_ffff) {
    throw new RangeError(
      `table: uid ${uid} is too large for the default table ${TABLE_BASE} + uid; pass a table`,
    );
  }
  return table;
}

/** Classifies `ip`'s and `id`'s complaints. */
export function ipFailure(stderr: string): { reason: RouteFailure; interface?: string } {
  const dev = /Cannot find device "([^"]*)"/.exec(stderr);
  if (dev) return { reason: "no-such-interface", interface: dev[1] };
  if (/File exists/.test(stderr)) return { reason: "exists" };
  if (/no such user/i.test(stderr)) return { reason: "no-such-user" };
  return { reason: "failed" };
}

async function run(runner: Runner, argv: readonly string[], stdin?: string): Promise<RunResult> {
  const result = await runner(argv[0], argv.slice(1), stdin === undefined ? undefined : { stdin });
  if (result.code !== 0) throw new RouteCommandError(argv, result, ipFailure(result.stderr));
  return result;
}

/**
 * A user's uid: a number as is, a name through `id -u NAME` (which asks NSS, so LDAP users
 * resolve too). The name has already passed the user-name grammar.
 *
 * @throws {RouteCommandError} with reason `no-such-user` for an unknown name
 */
export async function resolveUid(user: string | number, runner: Runner, idPath?: string): Promise<number> {
  if (typeof user === "number") return user;
  const argv = [idPath ?? findExecutable("id", ID_PATHS), "-u", user];
  const result = await runner(argv[0], argv.slice(1));
  if (result.code !== 0) {
    throw new RouteCommandError(argv, result, { reason: "no-such-user" });
  }
  return validateUid(result.stdout.trim(), "uid from id -u");
}

/** One rule from `ip -j rule show`. */
interface JsonRule {
  priority?: number;
  src?: string;
  dst?: string;
  table?: string;
  uid_start?: number;
  uid_end?: number;
  [key: string]: unknown;
}

/** One route from `ip -j route show table T`. */
interface JsonRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  [key: string]: unknown;
}

const FAMILY_FLAG = { inet: "-4", inet6: "-6" } as const;
/** Rule keys that narrow a rule beyond its uid range: such a rule is not a plain per-user route. */
const NARROWING = ["dst", "fwmark", "iif", "oif", "tos", "ipproto", "sport", "dport", "l3mdev"];

function parseJson<T>(argv: readonly string[], result: RunResult): T[] {
  try {
    const parsed = JSON.parse(result.stdout || "[]");
    if (Array.isArray(parsed)) return parsed as T[];
  } catch (cause) {
    throw new RouteError(`Cannot parse the JSON of ${argv.join(" ")}`, { cause });
  }
  throw new RouteError(`Expected a JSON array from ${argv.join(" ")}`);
}

/** The uid rules of one family: rules for exactly one uid that look up a numbered table. */
async function uidRules(ip: string, family: "inet" | "inet6", runner: Runner): Promise<JsonRule[]> {
  const argv = [ip, "-j", FAMILY_FLAG[family], "rule", "show"];
  const rules = parseJson<JsonRule>(argv, await run(runner, argv));
  return rules.filter((r) =>
    typeof r.uid_start === "number" && r.uid_start === r.uid_end && (r.src ?? "all") === "all" &&
    /^[0-9]+$/.test(r.table ?? "") && !NARROWING.some((k) => k in r)
  );
}

/** The default routes of table `table`; a table that does not exist yet has none. */
async function defaultRoutes(
  ip: string,
  family: "inet" | "inet6",
  table: number,
  runner: Runner,
): Promise<JsonRoute[]> {
  const argv = [ip, "-j", FAMILY_FLAG[family], "route", "show", "table", String(table)];
  const result = await runner(argv[0], argv.slice(1));
  // iproute2 answers "FIB table does not exist" (exit 2) for a table with no routes at all.
  if (result.code !== 0 && /table does not exist/i.test(result.stderr)) return [];
  if (result.code !== 0) throw new RouteCommandError(argv, result, ipFailure(result.stderr));
  // The same message can come with exit 0 and a truncated "[" on some versions.
  if (/table does not exist/i.test(result.stderr)) return [];
  return parseJson<JsonRoute>(argv, result).filter((r) => r.dst === "default");
}

function ruleArgs(uid: number, table: number, priority: number): string[] {
  return ["uidrange", `${uid}-${uid}`, "lookup", String(table), "priority", String(priority)];
}

const isOurs = (r: JsonRule, uid: number, table: number, priority: number) =>
  r.uid_start === uid && r.table === String(table) && r.priority === priority;

/** The Linux driver: `ip rule` + `ip route` in a table of the user's own. */
export const ipRuleDriver: RouteDriver = {
  os: "linux",

  async route(spec: CheckedRoute, runner: Runner, paths: DriverPaths): Promise<RouteResult> {
    if (spec.persist) {
      throw new TypeError("persist: only macOS (pf) has a persist mode; ip rules last until reboot");
    }
    if (spec.nat) {
      throw new TypeError("nat: only macOS (pf) needs NAT; Linux picks the source address from the route");
    }
    if (spec.anchor !== undefined) throw new TypeError("anchor: pf anchors exist only on macOS");
    if (spec.dev === undefined) throw new TypeError("dev: expected an interface name, got undefined");
    const ip = paths.ip ?? findExecutable("ip", IP_PATHS);
    const uid = await resolveUid(spec.user, runner, paths.id);
    const table = spec.table ?? defaultTable(uid);
    const priority = spec.priority ?? DEFAULT_PRIORITY;
    const f = FAMILY_FLAG[spec.family];
    let changed = false;

    const rules = await uidRules(ip, spec.family, runner);
    const added = !rules.some((r) => isOurs(r, uid, table, priority));
    if (added) {
      await run(runner, [ip, f, "rule", "add", ...ruleArgs(uid, table, priority)]);
      changed = true;
    }
    try {
      const routes = await defaultRoutes(ip, spec.family, table, runner);
      const same = routes.length === 1 && routes[0].dev === spec.dev && routes[0].gateway === spec.gateway;
      if (!same) {
        const via = spec.gateway === undefined ? [] : ["via", spec.gateway];
        await run(runner, [
          ip,
          f,
          "route",
          "replace",
          "default",
          ...via,
          "dev",
          spec.dev,
          "table",
          String(table),
        ]);
        changed = true;
      }
    } catch (err) {
      // Leave nothing half-made: the rule we just added goes again.
      if (added) await runner(ip, [f, "rule", "del", ...ruleArgs(uid, table, priority)]);
      throw err;
    }
    return {
      changed,
      route: {
        os: "linux",
        uid,
        dev: spec.dev,
        ...(spec.gateway === undefined ? {} : { gateway: spec.gateway }),
        family: spec.family,
        table,
        priority,
      },
    };
  },

  async unroute(spec: CheckedRoute, runner: Runner, paths: DriverPaths): Promise<UnrouteResult> {
    if (spec.persist) throw new TypeError("persist: only macOS (pf) has a persist mode");
    if (spec.anchor !== undefined) throw new TypeError("anchor: pf anchors exist only on macOS");
    const ip = paths.ip ?? findExecutable("ip", IP_PATHS);
    const uid = await resolveUid(spec.user, runner, paths.id);
    const table = spec.table ?? defaultTable(uid);
    const priority = spec.priority ?? DEFAULT_PRIORITY;
    let removed = 0;
    for (const family of spec.familyGiven ? [spec.family] : (["inet", "inet6"] as const)) {
      const f = FAMILY_FLAG[family];
      const ours = (await uidRules(ip, family, runner)).filter((r) => isOurs(r, uid, table, priority));
      for (const _ of ours) {
        await run(runner, [ip, f, "rule", "del", ...ruleArgs(uid, table, priority)]);
        removed++;
      }
      for (const r of await defaultRoutes(ip, family, table, runner)) {
        if (spec.dev !== undefined && r.dev !== spec.dev) continue;
        const via = r.gateway === undefined ? [] : ["via", r.gateway];
        const dev = r.dev === undefined ? [] : ["dev", r.dev];
        await run(runner, [ip, f, "route", "del", "default", ...via, ...dev, "table", String(table)]);
        removed++;
      }
    }
    return { removed };
  },

  async list(filter, runner: Runner, paths: DriverPaths): Promise<UserRoute[]> {
    const ip = paths.ip ?? findExecutable("ip", IP_PATHS);
    const only = filter.user === undefined ? undefined : await resolveUid(filter.user, runner, paths.id);
    const found: UserRoute[] = [];
    for (const family of ["inet", "inet6"] as const) {
      for (const rule of await uidRules(ip, family, runner)) {
        if (only !== undefined && rule.uid_start !== only) continue;
        const table = Number(rule.table);
        const routes = await defaultRoutes(ip, family, table, runner);
        const base = { os: "linux" as const, uid: rule.uid_start!, family, table, priority: rule.priority! };
        if (routes.length === 0) found.push(base);
        for (const r of routes) {
          found.push({
            ...base,
            ...(r.dev === undefined ? {} : { dev: r.dev }),
            ...(r.gateway === undefined ? {} : { gateway: r.gateway }),
          });
        }
      }
    }
    return found;
  },
};
