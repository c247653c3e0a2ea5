/**
 * `sockbuf route add|remove|list`: one user's traffic out through another interface, with
 * `ip rule uidrange` on Linux and pf on macOS (see the `./route` entry point).
 *
 * @module
 */
import { type ForeignEntry, listUserRoutes, routeUser, unrouteUser, type UserRoute } from "../route/mod.ts";
import { EXIT, out, parseFlags, printable, quote, table, UsageError } from "./common.ts";

const USAGE = `Usage: sockbuf route add    --user U --dev IF [--gateway IP] [flags]
       sockbuf route remove --user U [--dev IF] [flags]
       sockbuf route list   [--user U] [--json]

Send all TCP and UDP traffic of local user U (a name or uid) out through interface IF,
for example a VPN tunnel. Linux: "ip rule add uidrange U-U lookup TABLE" and a default
route in TABLE. macOS: pf rules in our own anchor (pfctl -a … -f -), with a pf reference
taken by pfctl -E and released on removal; pf is never disabled. Needs root. Adding twice
changes nothing; removal leaves nothing of ours behind. On Linux our rules and routes carry
protocol 115; remove and list touch only those and print the others as "left alone".

  --user U        the user: a name or a uid
  --dev IF        the interface the traffic leaves through
  --gateway IP    the next hop on IF (IPv4 or IPv6); without it, a route "dev IF" only
  --table N       Linux: the routing table (default 100000 + uid)
  --priority N    Linux: the rule's priority (default 10000)
  --persist       macOS: write the rule into /etc/pf.conf (validated, backed up, swapped
                  in atomically) instead of loading an anchor
  --nat           macOS: also NAT the traffic onto IF's address
  --json          print the result as JSON
  --help          this text

Every value is checked before anything runs; no shell is used.
Exit codes: 0 ok, 1 the system command failed, 2 bad input.`;

const FLAGS = {
  user: { type: "string" },
  dev: { type: "string" },
  gateway: { type: "string" },
  table: { type: "string" },
  priority: { type: "string" },
  persist: { type: "boolean" },
  nat: { type: "boolean" },
  json: { type: "boolean", default: false },
} as const;

/** A route as table cells; names and addresses come from `ip`/`pfctl` output, so are escaped. */
function describe(r: UserRoute): string[] {
  return [
    r.uid !== undefined ? `uid ${r.uid}` : `user ${r.user ?? "?"}`,
    `${r.dev ?? "-"}${r.gateway ? ` via ${r.gateway}` : ""}`,
    r.family,
    r.table !== undefined
      ? `table ${r.table} priority ${r.priority ?? "-"}`
      : `${r.mode ?? ""} ${r.anchor ?? ""}`.trim(),
  ].map((cell) => printable(cell));
}

/** Entries sockbuf did not make, one line each in ip's own words, under a heading saying so. */
function foreignLines(foreign: readonly ForeignEntry[] | undefined): string {
  if (!foreign?.length) return "";
  const kv = (key: string, value: unknown) => value === undefined ? [] : [key, String(value)];
  const line = (f: ForeignEntry) =>
    [
      ` ${f.family}`,
      ...(f.kind === "rule"
        ? [
          "rule",
          ...kv("uidrange", `${f.uid}-${f.uid}`),
          ...kv("lookup", f.table),
          ...kv("priority", f.priority),
        ]
        : ["route default", ...kv("via", f.gateway), ...kv("dev", f.dev), ...kv("table", f.table)]),
      ...kv("metric", f.metric),
      ...kv(f.kind === "rule" ? "protocol" : "proto", f.protocol),
    ].join(" ");
  return `\nnot made by sockbuf, left alone:\n${foreign.map((f) => printable(line(f))).join("\n")}`;
}

/** Runs `sockbuf route`. */
export async function route(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  const parsed = parseFlags(action === "--help" || action === "-h" ? ["--help"] : rest, FLAGS);
  if (!parsed) {
    out(`${USAGE}\n`);
    return EXIT.ok;
  }
  const v = parsed.values;
  const options = {
    user: v.user as string,
    dev: v.dev as string,
    ...(v.gateway === undefined ? {} : { gateway: v.gateway }),
    ...(v.table === undefined ? {} : { table: v.table }),
    ...(v.priority === undefined ? {} : { priority: v.priority }),
    ...(v.persist === undefined ? {} : { persist: v.persist }),
    ...(v.nat === undefined ? {} : { nat: v.nat }),
  };
  const need = (...flags: ("user" | "dev")[]) => {
    for (const f of flags) if (v[f] === undefined) throw new UsageError(`route ${action} needs --${f}`);
  };
  let result: unknown;
  let text: string;
  if (action === "add") {
    need("user", "dev");
    const r = await routeUser(options);
    result = r;
    text = `${r.changed ? "added" : "already in place"}: ${describe(r.route).join(", ")}`;
  } else if (action === "remove") {
    need("user");
    const r = await unrouteUser({ ...options, ...(v.dev === undefined ? { dev: undefined } : {}) });
    result = r;
    text = (r.removed ? `removed ${r.removed} rule(s) and route(s)` : "nothing of ours to remove") +
      foreignLines(r.foreign);
  } else if (action === "list") {
    const routes = await listUserRoutes(v.user === undefined ? {} : { user: v.user });
    result = routes;
    text = routes.length
      ? table(routes.map(describe), ["left", "left", "left", "left"]).join("\n")
      : "no per-user routes";
    text += foreignLines(routes.foreign);
  } else {
    throw new UsageError(`expected add, remove or list, got ${quote(action ?? "")}`);
  }
  out(`${v.json ? JSON.stringify(result) : text}\n`);
  return EXIT.ok;
}
