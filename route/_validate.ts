/**
 * Strict grammars for everything the routing helpers pass to `ip` and `pfctl`, checked before
 * any process starts. Each check throws `TypeError` (or `RangeError` for a number outside its
 * range) whose message begins with the field's name, and quotes at most 40 characters of the
 * bad value, escaped, so a hostile value cannot forge log lines either.
 *
 * @module
 */

import { parseIpLiteral } from "../_ip.ts";

const MAX_U32 = 0xffff_ffff;

/** A value for an error message: JSON-escaped (newlines show as `\n`) and cut to 40 characters. */
export function quote(value: unknown): string {
  if (typeof value === "string") {
    const s = JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
    return s;
  }
  if (typeof value === "number" || typeof value === "bigint" || typeof value === "boolean") {
    return String(value);
  }
  return value === null ? "null" : typeof value;
}

/**
 * POSIX-portable user names as useradd and macOS accept them: a letter or `_` first, then
 * letters, digits, `_`, `.` and `-`, at most 32 characters. No spaces, quotes, `$`, `;`,
 * newlines or anything a pf rule or a shell could read as syntax.
 */
const USER_NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;
/** Up to 15 bytes (Linux IFNAMSIZ 16 with its NUL; macOS is the same), no `/`, spaces or `:`. */
const INTERFACE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;
/** One anchor path component: pf allows 64 bytes (PF_ANCHOR_NAME_SIZE); no leading `.` so no `..`. */
const ANCHOR_PART = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
const DECIMAL = /^(0|[1-9][0-9]{0,9})$/;

/**
 * An integer from a number or a string of decimal digits (as a command line gives it).
 *
 * @throws {TypeError} if it is neither
 * @throws {RangeError} if it is fractional, negative or outside `min`..`max`
 */
export function validateInteger(value: unknown, field: string, min: number, max: number): number {
  let n: number;
  if (typeof value === "number") n = value;
  else if (typeof value === "string" && DECIMAL.test(value)) n = Number(value);
  else throw new TypeError(`${field}: expected an integer from ${min} to ${max}, got ${quote(value)}`);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new RangeError(`${field}: expected an integer from ${min} to ${max}, got ${quote(value)}`);
  }
  return n;
}

/**
 * A uid: 0 to 2^32 − 2 (2^32 − 1 is `(uid_t)-1`, "no user", in both kernels).
 *
 * @throws {TypeError} for a non-number or a string that is not plain decimal digits
 * @throws {RangeError} for a negative, fractional or too large number
 */
export function validateUid(value: unknown, field = "uid"): number {
  return validateInteger(value, field, 0, MAX_U32 - 1);
}

/**
 * A user name (see the grammar above).
 *
 * @throws {TypeError} naming `field`
 */
export function validateUserName(value: unknown, field = "user"): string {
  if (typeof value !== "string" || !USER_NAME.test(value)) {
    throw new TypeError(
      `${field}: expected a user name (a letter or _ then up to 31 of A-Z a-z 0-9 _ . -) or a uid, got ${
        quote(value)
      }`,
    );
  }
  return value;
}

/**
 * A user as a name or a uid. A string of digits is a uid, as `id` and pf read it.
 *
 * @returns the uid as a number, or the name as a string
 * @throws {TypeError} naming `field` for anything else
 * @throws {RangeError} for a uid out of range
 */
export function validateUser(value: unknown, field = "user"): string | number {
  if (typeof value === "number") return validateUid(value, field);
  if (typeof value === "string" && /^[0-9]+$/.test(value)) return validateUid(value, field);
  return validateUserName(value, field);
}

/**
 * A network interface name such as `en0`, `utun4`, `eth0.100` or `veth-a`.
 *
 * @throws {TypeError} naming `field`
 */
export function validateInterface(value: unknown, field = "interface"): string {
  if (typeof value !== "string" || !INTERFACE.test(value)) {
    throw new TypeError(
      `${field}: expected an interface name (1-15 of A-Z a-z 0-9 _ . -, not starting with . or -), got ${
        quote(value)
      }`,
    );
  }
  return value;
}

/** An IP address and its family. */
export interface IpAddress {
  readonly address: string;
  readonly family: "inet" | "inet6";
}

/**
 * An IPv4 address in dotted decimal (no leading zeros) or an IPv6 address (no zone, no
 * brackets, no prefix length).
 *
 * @throws {TypeError} naming `field`
 */
export function validateIp(value: unknown, field = "gateway"): IpAddress {
  const ip = typeof value === "string" ? parseIpLiteral(value, { strict: true }) : undefined;
  if (ip) return { address: value as string, family: ip.family };
  throw new TypeError(`${field}: expected an IPv4 or IPv6 address, got ${quote(value)}`);
}

/**
 * A pf anchor path: 1 to 4 components joined by `/`, each as {@linkcode ANCHOR_PART}; no empty
 * component, no `.` or `..`, no `*`, no leading or trailing `/`.
 *
 * @throws {TypeError} naming `field`
 */
export function validateAnchor(value: unknown, field = "anchor"): string {
  const parts = typeof value === "string" ? value.split("/") : [];
  if (typeof value !== "string" || parts.length > 4 || !parts.every((p) => ANCHOR_PART.test(p))) {
    throw new TypeError(
      `${field}: expected an anchor path of 1-4 names (A-Z a-z 0-9 _ . -, not starting with .) joined by /, got ${
        quote(value)
      }`,
    );
  }
  return value;
}

/** Kernel table ids with a fixed meaning: unspec 0, compat 252, default 253, main 254, local 255. */
const RESERVED_TABLES: ReadonlySet<number> = new Set([0, 252, 253, 254, 255]);

/**
 * A Linux routing table id: 1 to 2^32 − 1, except the kernel's own 252–255.
 *
 * @throws {TypeError} for a non-number
 * @throws {RangeError} for a reserved or out-of-range id
 */
export function validateTable(value: unknown, field = "table"): number {
  const n = validateInteger(value, field, 1, MAX_U32);
  if (RESERVED_TABLES.has(n)) {
    throw new RangeError(
      `${field}: ${n} is a table the kernel reserves (252 compat, 253 default, 254 main, 255 local)`,
    );
  }
  return n;
}

/**
 * A Linux rule priority: 1 to 32765, so our rule comes after the `local` rule (0) and before
 * the `main` (32766) and `default` (32767) rules it has to win against.
 *
 * @throws {TypeError} for a non-number
 * @throws {RangeError} outside 1..32765
 */
export function validatePriority(value: unknown, field = "priority"): number {
  return validateInteger(value, field, 1, 32765);
}

/**
 * The protocols a rule may cover.
 *
 * @example Routing TCP only
 * ```ts
 * import { buildPfRules, type Protocol } from "@sockbuf/sockbuf/pf";
 *
 * const protocols: Protocol[] = ["tcp"];
 * const { filter } = buildPfRules({ user: "test1", routeTo: "utun4", protocols });
 * console.log(filter); // pass out quick on ! utun4 route-to utun4 inet proto tcp from any to any user test1
 * ```
 */
export type Protocol = "tcp" | "udp";

/**
 * A non-empty list of distinct protocols from `tcp` and `udp`.
 *
 * @throws {TypeError} naming `field`
 */
export function validateProtocols(value: unknown, field = "protocols"): Protocol[] {
  if (
    !Array.isArray(value) || value.length === 0 || new Set(value).size !== value.length ||
    !value.every((p) => p === "tcp" || p === "udp")
  ) {
    throw new TypeError(
      `${field}: expected a non-empty list of distinct "tcp" and "udp", got ${quote(String(value))}`,
    );
  }
  return value as Protocol[];
}

/**
 * An absolute file path free of `..` and `.` components, NUL, newlines and spaces.
 *
 * @throws {TypeError} naming `field`
 */
export function validatePath(value: unknown, field: string): string {
  if (
    typeof value !== "string" || !value.startsWith("/") || value.length > 1024 ||
    !/^[A-Za-z0-9_.+\/-]+$/.test(value) || value.split("/").some((p) => p === "." || p === "..")
  ) {
    throw new TypeError(
      `${field}: expected an absolute path without . or .. components, got ${quote(value)}`,
    );
  }
  return value;
}

/**
 * An address family.
 *
 * @throws {TypeError} naming `field`
 */
export function validateFamily(value: unknown, field = "family"): "inet" | "inet6" {
  if (value !== "inet" && value !== "inet6") {
    throw new TypeError(`${field}: expected "inet" or "inet6", got ${quote(value)}`);
  }
  return value;
}
