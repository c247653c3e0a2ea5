/**
 * Linux per-user routing: one `ip rule` sends a uid's traffic to a routing table of its own,
 * whose default route leaves through the chosen interface.
 *
 * ```
 * ip -4 rule add uidrange 4242-4242 lookup 104242 priority 10000 protocol 115
 * ip -4 route add default via 10.0.0.1 dev wg0 table 104242 proto 115
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
 * - protocol `115` ({@linkcode PROTOCOL}) on every rule and route we make: the mark that tells ours
 *   from everyone else's. Listing and removal touch only entries carrying it; anything else in
 *   the same place is reported as `foreign` and left alone. 115 is in no list of protocol
 *   numbers we could find: not the kernel's RTPROT_* (0–4 with a meaning to the kernel, 8–18,
 *   42 babel, 84 ovn, 99 openr, 186–192), not iproute2's rt_protos, not FRR/zebra's (186–198),
 *   BIRD's (12), Calico felix's (80), Cilium's (2, kernel) or NetworkManager's and
 *   systemd-networkd's (kernel, boot, static, ra, dhcp).
 *
 * Each step reads the state first (`ip -N -j rule show`, `ip -N -j route show table T`; `-N` so
 * the protocol reads as a number even where rt_protos names it) and only changes what differs,
 * so running it twice leaves one rule and one route. Overlapping calls are safe too: within a
 * process, calls for the same table run one after another; across processes, an add that
 * finds its rule or route made meanwhile (`File exists`) reads again and succeeds if what
 * exists is exactly ours.
 *
 * @module
 */
import { findExecutable, type Runner, type RunResult } from "./runner.ts";
import { RouteCommandError, RouteError, type RouteFailure } from "./errors.ts";
import {
  type CheckedRoute,
  type DriverPaths,
  type ForeignEntry,
  PROTOCOL,
  type RouteDriver,
  type RouteResult,
  type UnrouteResult,
  type UserRoute,
} from "./types.ts";
import { validateUid } from "./_validate.ts";
import { parseIpLiteral } from "../_ip.ts";

/** Where `ip` may live; the first that exists is used. */
export const IP_PATHS: readonly string[] = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];
/** Where `id` may live (to resolve user names). */
export const ID_PATHS: readonly string[] = ["/usr/bin/id", "/bin/id"];
/** The default rule priority (see the module doc). */
export const DEFAULT_PRIORITY = 10000;
/** The first table of the per-uid range (see the module doc). */
export const TABLE_BASE = 100000;
export { PROTOCOL };

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

/** One rule from `ip -N -j rule show`. */
interface JsonRule {
  priority?: number;
  src?: string;
  dst?: string;
  table?: string;
  uid_start?: number;
  uid_end?: number;
  /** With `-N`, a number as text; absent for protocol 0 (unspec). */
  protocol?: string;
  [key: string]: unknown;
}

/** One route from `ip -N -j route show table T`. */
interface JsonRoute {
  dst?: string;
  gateway?: string;
  dev?: string;
  metric?: number;
  protocol?: string;
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

/** Tables with a fixed meaning (`-N` shows `main` as 254 and so on): never a per-user table. */
const FIXED_TABLES = new Set(["0", "252", "253", "254", "255"]);

/** The uid rules of one family: rules for exactly one uid that look up a numbered table. */
async function uidRules(ip: string, family: "inet" | "inet6", runner: Runner): Promise<JsonRule[]> {
  const argv = [ip, "-N", "-j", FAMILY_FLAG[family], "rule", "show"];
  const rules = parseJson<JsonRule>(argv, await run(runner, argv));
  return rules.filter((r) =>
    typeof r.uid_start === "number" && r.uid_start === r.uid_end && (r.src ?? "all") === "all" &&
    /^[0-9]+$/.test(r.table ?? "") && !FIXED_TABLES.has(r.table!) && !NARROWING.some((k) => k in r)
  );
}

/**
 * The protocol number of a rule or route read with `-N`. ip leaves it out for a rule of
 * protocol 0 (unspec) and for a route of protocol 3 (boot, what `ip route add` sets).
 */
const protocolOf = (entry: { protocol?: string }, absent = 0): number =>
  entry.protocol === undefined ? absent : Number(entry.protocol);
const RTPROT_BOOT = 3;
/** Whether sockbuf made it: it carries our protocol mark. */
const mine = (entry: { protocol?: string }): boolean => protocolOf(entry) === PROTOCOL;

function foreignRule(r: JsonRule, family: "inet" | "inet6"): ForeignEntry {
  return {
    kind: "rule",
    family,
    uid: r.uid_start!,
    table: Number(r.table),
    ...(r.priority === undefined ? {} : { priority: r.priority }),
    protocol: protocolOf(r),
  };
}

function foreignRoute(r: JsonRoute, family: "inet" | "inet6", table: number): ForeignEntry {
  return {
    kind: "route",
    family,
    table,
    ...(r.dev === undefined ? {} : { dev: r.dev }),
    ...(r.gateway === undefined ? {} : { gateway: r.gateway }),
    ...(r.metric === undefined ? {} : { metric: r.metric }),
    protocol: protocolOf(r, RTPROT_BOOT),
  };
}

/** Two addresses are the same when their bytes are: `fd00:50:0:0::fe` is ip's `fd00:50::fe`. */
function sameAddress(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const x = parseIpLiteral(a);
  const y = parseIpLiteral(b);
  if (!x || !y) return a === b;
  return x.family === y.family && x.bytes.every((byte, i) => byte === y.bytes[i]);
}

/**
 * Calls that change one table run one after another within this process, so overlapping calls
 * never both find "nothing there" and both add. Keyed by `ip` and table.
 */
const queues = new Map<string, Promise<void>>();
async function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const before = queues.get(key) ?? Promise.resolve();
  const result = before.then(fn);
  const tail = result.then(() => {}, () => {});
  queues.set(key, tail);
  try {
    return await result;
  } finally {
    if (queues.get(key) === tail) queues.delete(key);
  }
}

/** `ip … del` of something already gone (another process removed it meanwhile). */
const gone = (stderr: string) => /No such file or directory|No such process/.test(stderr);

/** The default routes of table `table`; a table that does not exist yet has none. */
async function defaultRoutes(
  ip: string,
  family: "inet" | "inet6",
  table: number,
  runner: Runner,
): Promise<JsonRoute[]> {
  const argv = [ip, "-N", "-j", FAMILY_FLAG[family], "route", "show", "table", String(table)];
  const result = await runner(argv[0], argv.slice(1));
  // iproute2 answers "FIB table does not exist" (exit 2) for a table with no routes at all.
  if (result.code !== 0 && /table does not exist/i.test(result.stderr)) return [];
  if (result.code !== 0) throw new RouteCommandError(argv, result, ipFailure(result.stderr));
  // The same message can come with exit 0 and a truncated "[" on some versions.
  if (/table does not exist/i.test(result.stderr)) return [];
  return parseJson<JsonRoute>(argv, result).filter((r) => r.dst === "default");
}

function ruleArgs(uid: number, table: number, priority: number): string[] {
  return [
    "uidrange",
    `${uid}-${uid}`,
    "lookup",
    String(table),
    "priority",
    String(priority),
    "protocol",
    String(PROTOCOL),
  ];
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
    const dev = spec.dev;
    let changed = false;

    await serialized(`${ip} table ${table}`, async () => {
      const hasRule = async () =>
        (await uidRules(ip, spec.family, runner)).some((r) => isOurs(r, uid, table, priority) && mine(r));
      let added = false;
      if (!(await hasRule())) {
        const argv = [ip, f, "rule", "add", ...ruleArgs(uid, table, priority)];
        const result = await runner(argv[0], argv.slice(1));
        if (result.code === 0) {
          added = changed = true;
        } else if (!(ipFailure(result.stderr).reason === "exists" && await hasRule())) {
          // Not "another process made exactly ours meanwhile", which would be success.
          throw new RouteCommandError(argv, result, ipFailure(result.stderr));
        }
      }
      try {
        const routeArgs = (verb: string) => [
          ip,
          f,
          "route",
          verb,
          "default",
          ...(spec.gateway === undefined ? [] : ["via", spec.gateway]),
          "dev",
          dev,
          "table",
          String(table),
          "proto",
          String(PROTOCOL),
        ];
        const ours = async () => (await defaultRoutes(ip, spec.family, table, runner)).filter(mine);
        const same = (routes: JsonRoute[]) =>
          routes.length === 1 && routes[0].dev === dev && sameAddress(routes[0].gateway, spec.gateway);
        const now = await ours();
        if (now.length > 0 && !same(now)) {
          await run(runner, routeArgs("replace"));
          changed = true;
        } else if (now.length === 0) {
          const argv = routeArgs("add");
          const result = await runner(argv[0], argv.slice(1));
          if (result.code === 0) {
            changed = true;
          } else if (ipFailure(result.stderr).reason !== "exists") {
            throw new RouteCommandError(argv, result, ipFailure(result.stderr));
          } else {
            // Another process made ours meanwhile (fine, made the same or replaced to ours), or
            // the table already has a default route that is not ours (left alone: an error).
            const after = await ours();
            if (after.length === 0) {
              const err = new RouteCommandError(argv, result, { reason: "exists" });
              const theirs = (await defaultRoutes(ip, spec.family, table, runner))
                .map((r) =>
                  `default${r.gateway ? ` via ${r.gateway}` : ""} dev ${r.dev} proto ${
                    protocolOf(r, RTPROT_BOOT)
                  }`
                );
              err.message += `; table ${table} already has a default route sockbuf did not make (${
                theirs.join(", ")
              }): remove it or choose another table`;
              throw err;
            }
            if (!same(after)) {
              await run(runner, routeArgs("replace"));
              changed = true;
            }
          }
        }
      } catch (err) {
        // Leave nothing half-made: the rule we just added goes again.
        if (added) await runner(ip, [f, "rule", "del", ...ruleArgs(uid, table, priority)]);
        throw err;
      }
    });
    return {
      changed,
      route: {
        os: "linux",
        uid,
        dev,
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
    const foreign: ForeignEntry[] = [];
    await serialized(`${ip} table ${table}`, async () => {
      for (const family of spec.familyGiven ? [spec.family] : (["inet", "inet6"] as const)) {
        const f = FAMILY_FLAG[family];
        const foreignRoutes: ForeignEntry[] = [];
        for (const r of await uidRules(ip, family, runner)) {
          if (r.uid_start !== uid || r.table !== String(table)) continue;
          if (!mine(r)) {
            foreign.push(foreignRule(r, family));
          } else if (r.priority === priority) {
            const argv = [ip, f, "rule", "del", ...ruleArgs(uid, table, priority)];
            const result = await runner(argv[0], argv.slice(1));
            if (result.code === 0) removed++;
            else if (!gone(result.stderr)) {
              throw new RouteCommandError(argv, result, ipFailure(result.stderr));
            }
          }
        }
        for (const r of await defaultRoutes(ip, family, table, runner)) {
          if (spec.dev !== undefined && r.dev !== spec.dev) continue;
          if (!mine(r)) {
            foreignRoutes.push(foreignRoute(r, family, table));
            continue;
          }
          const argv = [
            ip,
            f,
            "route",
            "del",
            "default",
            ...(r.gateway === undefined ? [] : ["via", r.gateway]),
            ...(r.dev === undefined ? [] : ["dev", r.dev]),
            "table",
            String(table),
            ...(r.metric === undefined ? [] : ["metric", String(r.metric)]),
            "proto",
            String(PROTOCOL),
          ];
          const result = await runner(argv[0], argv.slice(1));
          if (result.code === 0) removed++;
          else if (!gone(result.stderr)) throw new RouteCommandError(argv, result, ipFailure(result.stderr));
        }
        foreign.push(...foreignRoutes);
      }
    });
    return foreign.length === 0 ? { removed } : { removed, foreign };
  },

  async list(filter, runner: Runner, paths: DriverPaths): Promise<UserRoute[]> {
    const ip = paths.ip ?? findExecutable("ip", IP_PATHS);
    const only = filter.user === undefined ? undefined : await resolveUid(filter.user, runner, paths.id);
    const found: UserRoute[] = [];
    const foreign: ForeignEntry[] = [];
    for (const family of ["inet", "inet6"] as const) {
      const foreignRoutes: ForeignEntry[] = [];
      const tablesSeen = new Set<number>();
      for (const rule of await uidRules(ip, family, runner)) {
        if (only !== undefined && rule.uid_start !== only) continue;
        if (!mine(rule)) {
          foreign.push(foreignRule(rule, family));
          continue;
        }
        const table = Number(rule.table);
        const routes = await defaultRoutes(ip, family, table, runner);
        const base = { os: "linux" as const, uid: rule.uid_start!, family, table, priority: rule.priority! };
        const ours = routes.filter(mine);
        if (ours.length === 0) found.push(base);
        for (const r of ours) {
          found.push({
            ...base,
            ...(r.dev === undefined ? {} : { dev: r.dev }),
            ...(r.gateway === undefined ? {} : { gateway: r.gateway }),
          });
        }
        if (!tablesSeen.has(table)) {
          for (const r of routes) if (!mine(r)) foreignRoutes.push(foreignRoute(r, family, table));
        }
        tablesSeen.add(table);
      }
      foreign.push(...foreignRoutes);
    }
    // Not enumerable: the array itself stays the list of ours, as it prints and compares.
    return Object.defineProperty(found, "foreign", { value: foreign, enumerable: false });
  },
};
