/**
 * The macOS routing driver behind `@sockbuf/sockbuf/route`: pf rules in an anchor of the user's
 * own (route/_pfctl.ts), or in pf.conf with `persist` (route/_pf_conf.ts).
 *
 * @module
 */
import { readFile } from "node:fs/promises";
import type { Runner } from "./runner.ts";
import type {
  CheckedRoute,
  DriverPaths,
  RouteDriver,
  RouteResult,
  UnrouteResult,
  UserRoute,
} from "./types.ts";
import { APPLE_ANCHOR, buildPfRules, defaultAnchor, type PfRuleSet } from "./_pf_rules.ts";
import { applyPersist, findPfConfRules, removePersist } from "./_pf_conf.ts";
import { applyAnchor, context, listAnchors, type PfctlOptions, removeAnchor, showAnchor } from "./_pfctl.ts";

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
