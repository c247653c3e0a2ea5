/**
 * pf rule text for one user: {@linkcode buildPfRules} checks every field and emits valid pf
 * syntax (`route-to (IF GW)`, never the braces pool), {@linkcode pfAnchorText} the text an anchor
 * is loaded from, {@linkcode defaultAnchor} the anchor of a user's own. Pure: nothing runs.
 *
 * @module
 */
import {
  type Protocol,
  validateFamily,
  validateInterface,
  validateIp,
  validateProtocols,
  validateUser,
} from "./_validate.ts";

/**
 * The parent anchor the stock pf.conf evaluates with `anchor "com.apple/*"`.
 *
 * @example An anchor of your own, evaluated through the stock `anchor "com.apple/*"`
 * ```ts
 * import { APPLE_ANCHOR, showAnchor, type Runner } from "@sockbuf/sockbuf/pf";
 *
 * const calls: string[] = [];
 * const runner: Runner = (file, args) => {
 *   calls.push([file, ...args].join(" "));
 *   return Promise.resolve({ code: 0, stdout: "", stderr: "" });
 * };
 * await showAnchor(`${APPLE_ANCHOR}/myvpn.test1`, { runner });
 * console.log(calls.join("\n"));
 * // /sbin/pfctl -a com.apple/myvpn.test1 -sn
 * // /sbin/pfctl -a com.apple/myvpn.test1 -sr
 * ```
 */
export const APPLE_ANCHOR = "com.apple";

/**
 * What to route, for {@linkcode buildPfRules}.
 *
 * @example IPv6, TCP only, with NAT
 * ```ts
 * import { buildPfRules, type PfRuleOptions } from "@sockbuf/sockbuf/pf";
 *
 * const options: PfRuleOptions = {
 *   user: 501,
 *   routeTo: "utun4",
 *   gateway: "fd00::1",
 *   protocols: ["tcp"],
 *   nat: true,
 * };
 * const rules = buildPfRules(options);
 * console.log(rules.filter);
 * // pass out quick on ! utun4 route-to (utun4 fd00::1) inet6 proto tcp from any to any user 501
 * console.log(rules.nat); // nat on utun4 inet6 from ! (utun4) to any -> (utun4)
 * ```
 */
export interface PfRuleOptions {
  /** The local user whose sockets are routed: a name or a uid. */
  user: string | number;
  /** The interface to send the traffic out of, such as a VPN's `utun4`. */
  routeTo: string;
  /** The next hop on `routeTo`; pf's `route-to (IF GW)`. Without it the rule is `route-to IF`. */
  gateway?: string;
  /**
   * The interface the traffic would otherwise leave through, for `on IF`. By default the rule
   * matches on every interface except `routeTo` itself (`on ! utun4`), so rerouted packets
   * are not matched again.
   */
  outInterface?: string;
  /** Protocols to route; default both `tcp` and `udp` (the only ones pf's `user` matches). */
  protocols?: Protocol[];
  /** `inet` or `inet6`; default the gateway's family, or `inet`. */
  family?: "inet" | "inet6";
  /**
   * Also translate the source address to `routeTo`'s own (`nat on utun4 … -> (utun4)`):
   * pf does not rewrite it after `route-to`, so without NAT replies may not come back.
   */
  nat?: boolean;
}

/**
 * The rules for one user, as pf text.
 *
 * @example Reading a rule set
 * ```ts
 * import { buildPfRules, type PfRuleSet } from "@sockbuf/sockbuf/pf";
 *
 * const rules: PfRuleSet = buildPfRules({ user: "test1", routeTo: "utun4", gateway: "192.168.15.2" });
 * console.log(rules.user, rules.family, rules.nat); // test1 inet undefined
 * console.log(rules.filter.includes("route-to (utun4 192.168.15.2) inet proto { tcp udp }")); // true
 * ```
 */
export interface PfRuleSet {
  /** The `pass out … route-to … user …` rule. */
  readonly filter: string;
  /** The `nat on …` rule, when NAT was asked for. */
  readonly nat?: string;
  /** The address family the rules are for. */
  readonly family: "inet" | "inet6";
  /** The user as written in the rule. */
  readonly user: string | number;
}

/** Words pf's lexer reads as keywords: as an interface name they would change the rule's meaning. */
const PF_KEYWORDS = new Set([
  "all",
  "any",
  "on",
  "from",
  "to",
  "in",
  "out",
  "inet",
  "inet6",
  "proto",
  "user",
  "group",
  "port",
  "quick",
  "pass",
  "block",
  "self",
  "no",
  "nat",
  "rdr",
  "route-to",
  "reply-to",
  "dup-to",
  "flags",
  "keep",
  "state",
  "label",
  "tag",
  "anchor",
]);

function pfInterface(value: unknown, field: string): string {
  const name = validateInterface(value, field);
  if (PF_KEYWORDS.has(name)) {
    throw new TypeError(`${field}: ${JSON.stringify(name)} is a pf keyword, not an interface`);
  }
  return name;
}

/**
 * Builds the pf rules for one user from typed options, checking every field first.
 *
 * @throws {TypeError} naming the field that fails its grammar
 * @throws {RangeError} for a uid out of range
 *
 * @example
 * ```ts
 * import { buildPfRules } from "@sockbuf/sockbuf/pf";
 * const rules = buildPfRules({ user: "test1", routeTo: "utun4", gateway: "192.168.15.2", outInterface: "en0" });
 * console.log(rules.filter);
 * // pass out quick on en0 route-to (utun4 192.168.15.2) inet proto { tcp udp } from any to any user test1
 * ```
 */
export function buildPfRules(options: PfRuleOptions): PfRuleSet {
  if (typeof options !== "object" || options === null) throw new TypeError("options: expected an object");
  const user = validateUser(options.user, "user");
  const routeTo = pfInterface(options.routeTo, "routeTo");
  const gateway = options.gateway === undefined ? undefined : validateIp(options.gateway, "gateway");
  const out = options.outInterface === undefined
    ? undefined
    : pfInterface(options.outInterface, "outInterface");
  const protocols = options.protocols === undefined ? ["tcp", "udp"] : validateProtocols(options.protocols);
  const family = options.family === undefined ? gateway?.family ?? "inet" : validateFamily(options.family);
  if (gateway && gateway.family !== family) {
    throw new TypeError(`family: ${family} does not match the gateway's ${gateway.family}`);
  }
  if (options.nat !== undefined && typeof options.nat !== "boolean") {
    throw new TypeError("nat: expected a boolean");
  }
  const on = out === undefined ? `on ! ${routeTo}` : `on ${out}`;
  const to = gateway === undefined ? routeTo : `(${routeTo} ${gateway.address})`;
  const proto = protocols.length === 1 ? protocols[0] : `{ ${protocols.join(" ")} }`;
  const filter = `pass out quick ${on} route-to ${to} ${family} proto ${proto} from any to any user ${user}`;
  // Only packets not already from the tunnel's own address need translating.
  const nat = options.nat
    ? `nat on ${routeTo} ${family} from ! (${routeTo}) to any -> (${routeTo})`
    : undefined;
  return { filter, ...(nat === undefined ? {} : { nat }), family, user };
}

/**
 * The rule set as the text `pfctl -a ANCHOR -f -` reads: translation before filtering, as pf requires.
 *
 * @example What `pfctl -a ANCHOR -f -` reads
 * ```ts
 * import { buildPfRules } from "@sockbuf/sockbuf/pf";
 * import { pfAnchorText } from "./_pf_rules.ts"; // private: applyAnchor loads this text
 *
 * const text = pfAnchorText(buildPfRules({ user: "test1", routeTo: "utun4", nat: true }));
 * console.log(text.split("\n")[0]); // nat on utun4 inet from ! (utun4) to any -> (utun4)
 * console.log(text.split("\n")[1].startsWith("pass out quick on ! utun4 route-to utun4")); // true
 * ```
 */
export function pfAnchorText(rules: PfRuleSet): string {
  return (rules.nat === undefined ? "" : rules.nat + "\n") + rules.filter + "\n";
}

/**
 * The default anchor for a user: `com.apple/sockbuf.USER`, one per user so loads do not overwrite each other.
 *
 * @example One anchor per user
 * ```ts
 * import { defaultAnchor } from "@sockbuf/sockbuf/pf";
 *
 * console.log(defaultAnchor("test1"), defaultAnchor(501)); // com.apple/sockbuf.test1 com.apple/sockbuf.501
 * try {
 *   defaultAnchor("../etc");
 * } catch (err) {
 *   console.log(err instanceof TypeError); // true: the user fails its grammar
 * }
 * ```
 */
export function defaultAnchor(user: string | number): string {
  return `${APPLE_ANCHOR}/sockbuf.${validateUser(user)}`;
}
