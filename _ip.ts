/**
 * The one IP literal parser: the socket resolver reads runtimes' peer addresses with it, and
 * the routing helper's input checks use its strict form.
 *
 * @module
 */

/** How forgiving {@linkcode parseIpLiteral} is. */
export interface IpLiteralOptions {
  /**
   * Refuses what a hostile or mistyped argument could carry and a runtime never prints:
   * `[brackets]`, a `%zone`, leading zeros in an IPv4 part (some parsers read them as octal)
   * and an IPv6 text longer than 45 characters.
   */
  strict?: boolean;
}

const V4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const V4_STRICT = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/;
const GROUP = /^[0-9a-fA-F]{1,4}$/;

function putV4(text: string, strict: boolean, out: Uint8Array, at: number): boolean {
  const m = (strict ? V4_STRICT : V4).exec(text);
  if (!m) return false;
  for (let i = 0; i < 4; i++) {
    const b = Number(m[i + 1]);
    if (b > 255) return false;
    out[at + i] = b;
  }
  return true;
}

/**
 * Parses an IPv4 or IPv6 literal into 16 bytes in network order, IPv4 as `::ffff:a.b.c.d`.
 * An IPv6 text may end in a dotted quad (`::ffff:1.2.3.4`), which stands for its last two
 * groups; `::` stands for at least one group of zeros.
 *
 * @returns the bytes and the family the text was written in, or `undefined` if it is not one
 */
export function parseIpLiteral(
  text: string,
  options: IpLiteralOptions = {},
): { bytes: Uint8Array; family: "inet" | "inet6" } | undefined {
  const strict = options.strict === true;
  let s = strict ? text : text.replace(/^\[(.*)\]$/, "$1").replace(/%.*$/, "");
  const bytes = new Uint8Array(16);
  if (!s.includes(":")) {
    bytes[10] = bytes[11] = 0xff;
    return putV4(s, strict, bytes, 12) ? { bytes, family: "inet" } : undefined;
  }
  if (strict && s.length > 45) return undefined;
  const v4 = /^(.*:)([^:]*\.[^:]*)$/.exec(s);
  let groups = 8;
  if (v4) {
    if (!putV4(v4[2], strict, bytes, 12)) return undefined;
    s = v4[1].endsWith("::") ? v4[1] : v4[1].slice(0, -1);
    groups = 6;
  }
  const halves = s.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const zeros = groups - head.length - tail.length;
  if (halves.length === 1 ? zeros !== 0 : zeros < 1) return undefined;
  const words = [...head, ...Array<string>(zeros).fill("0"), ...tail];
  for (let i = 0; i < groups; i++) {
    if (!GROUP.test(words[i])) return undefined;
    const w = parseInt(words[i], 16);
    bytes[2 * i] = w >> 8;
    bytes[2 * i + 1] = w & 0xff;
  }
  return { bytes, family: "inet6" };
}
