/**
 * Generates platform/linux/tcp_info_decode.gen.ts from the tables in platform/linux/tcp_info_layout.ts,
 * for each Linux tcp_info layout:
 *
 * - an eager decoder written out field by field, building its object in one literal (about
 *   ten times faster than the generic table-driven `decode()`), with a twin without length
 *   checks for a buffer that holds the whole struct: in V8 a literal full of
 *   `n >= … ? … : undefined` costs about three times as much;
 * - a lazy class that keeps the struct's u32 words and decodes a field in its getter:
 *   `tcpInfo()` returns it, since copying 70 words costs less than building ~80 properties
 *   (bench/main.ts). Its `toJSON()` lists every field; for a whole struct it reads each
 *   straight from its word (about three times faster in Deno than through the getters).
 *
 * tests/decode_linux.test.ts checks the eager decoders against the table decoder at every
 * length and that the committed file is what this prints; tests/tcp_info_lazy.test.ts checks
 * the lazy classes against the eager decoders.
 *
 *   deno run --allow-write tools/gen_decoders.ts
 *
 * @module
 */
import type { Field, Layout } from "../platform/layout.ts";
import { SIZE_OF } from "../platform/layout.ts";
import { LINUX_TCP_INFO_6_18, LINUX_TCP_INFO_BITS } from "../platform/linux/tcp_info_layout.ts";

const READ = {
  u8: "v.getUint8(%)",
  u16: "v.getUint16(%, true)",
  u32: "v.getUint32(%, true)",
  i32: "v.getInt32(%, true)",
  u64: "u64(v, %)",
};

function expr(f: Field): string {
  const word = READ[f.type].replace("%", String(f.offset));
  if (!f.bits) return word;
  const mask = 2 ** f.bits.width - 1;
  const shifted = f.bits.shift ? `(${word} >>> ${f.bits.shift})` : word;
  return `${shifted} & 0x${mask.toString(16)}`;
}

/** One object literal with every key: `full` reads every field, else each checks `n`. */
function literal(layout: Layout, full: boolean): string[] {
  const lines = [
    `  return {`,
    `    os: "linux",`,
    full
      ? `    state: states[v.getUint8(0)] ?? "UNKNOWN",`
      : `    state: s === undefined ? "UNKNOWN" : states[s] ?? "UNKNOWN",`,
    `    length: n,`,
  ];
  for (const key of layout.absent ?? []) lines.push(`    ${key}: undefined,`);
  for (const f of layout.fields) {
    const value = f.key === "stateNumber"
      ? (full ? "v.getUint8(0)" : "s")
      : full
      ? expr(f)
      : `n >= ${f.offset + SIZE_OF[f.type]} ? ${expr(f)} : undefined`;
    lines.push(`    ${f.key}: ${value},`);
  }
  lines.push(`  };`);
  return lines;
}

function decoder(name: string, layout: Layout): string {
  return [
    `/** Decodes ${layout.struct}: ${layout.size} bytes. */`,
    `export function ${name}(v: DataView, n: number, states: readonly TcpState[]): LinuxTcpInfo {`,
    `  if (n >= ${layout.size}) return ${name}Full(v, n, states);`,
    `  const s = n >= 1 ? v.getUint8(0) : undefined;`,
    ...literal(layout, false),
    `}`,
    ``,
    `/** Every field present: no length checks, the common case on a current kernel. */`,
    `function ${name}Full(v: DataView, n: number, states: readonly TcpState[]): LinuxTcpInfo {`,
    ...literal(layout, true),
    `}`,
  ].join("\n");
}

/**
 * A field read from the struct's words (little-endian, as every supported target is), which
 * {@linkcode wordsFunction} keeps as int32: `>>> 0` turns a whole u32 word back unsigned.
 */
function wordExpr(f: Field): string {
  const aligned = f.type === "u8" || f.offset % Math.min(SIZE_OF[f.type], 4) === 0;
  if (!aligned) throw new Error(`${f.key}: offset ${f.offset} is not aligned for ${f.type}`);
  const i = f.offset >> 2;
  if (f.type === "u64") return `u64w(w[${i}], w[${i + 1}])`;
  if (f.type === "i32") return `w[${i}]`;
  const shift = (f.offset & 3) * 8 + (f.bits?.shift ?? 0);
  const width = f.bits?.width ?? SIZE_OF[f.type] * 8;
  const shifted = shift ? `(w[${i}] >>> ${shift})` : `w[${i}]`;
  // A mask below 2^31 (width < 32) gives a non-negative number from a negative int32 too.
  return shift + width === 32 ? `w[${i}] >>> ${shift}` : `${shifted} & 0x${(2 ** width - 1).toString(16)}`;
}

/** A class that keeps the words the kernel returned and decodes a field when it is read. */
function lazyClass(name: string, layout: Layout): string {
  if (layout.size % 4 !== 0) throw new Error(`${layout.struct}: size ${layout.size} is not whole words`);
  const keys = [...(layout.absent ?? []), ...layout.fields.map((f) => f.key)];
  const lines = [
    `/**`,
    ` * ${layout.struct}, kept as the words the kernel returned and decoded field by field as`,
    ` * each is read, so a call costs one copy rather than ${keys.length} properties. Every field is a`,
    ` * getter on the prototype: \`JSON.stringify\`, \`console.log\` and \`toJSON()\` give them all,`,
    ` * while spread and \`Object.keys\` see only \`os\`, \`state\` and \`length\`.`,
    ` */`,
    `export class ${name} implements LinuxTcpInfo {`,
    `  /** The OS the fields came from. */`,
    `  readonly os: "linux";`,
    `  /** The state, by name. */`,
    `  readonly state: TcpState;`,
    `  /** Bytes of \`struct tcp_info\` the kernel returned; fields past it are \`undefined\`. */`,
    `  readonly length: number;`,
    `  readonly #w: readonly number[];`,
    ``,
    `  /** @param words the struct's first ${
      layout.size / 4
    } words as int32, from {@linkcode linuxTcpInfoWords} */`,
    `  constructor(words: readonly number[], length: number, state: TcpState) {`,
    `    this.os = "linux";`,
    `    this.state = state;`,
    `    this.length = length;`,
    `    this.#w = words;`,
    `  }`,
  ];
  for (const key of layout.absent ?? []) {
    lines.push(
      ``,
      `  /** Not in this layout. */`,
      `  get ${key}(): undefined {`,
      `    return undefined;`,
      `  }`,
    );
  }
  for (const f of layout.fields) {
    lines.push(
      ``,
      `  /** \`tcpi_${f.c}\` (${f.type} at ${f.offset}${
        f.bits ? `, bits ${f.bits.shift}..${f.bits.shift + f.bits.width - 1}` : ""
      }). */`,
      `  get ${f.key}(): number | undefined {`,
      `    const w = this.#w;`,
      `    return this.length >= ${f.offset + SIZE_OF[f.type]} ? ${wordExpr(f)} : undefined;`,
      `  }`,
    );
  }
  lines.push(
    ``,
    `  /** Every field as a plain object: what \`JSON.stringify\` writes, and a copy to spread or compare. */`,
    `  toJSON(): LinuxTcpInfo {`,
    `    if (this.length < ${layout.size}) return this.#partial();`,
    `    // The whole struct: every field straight from its word, without the getters' length checks.`,
    `    const w = this.#w;`,
    `    return {`,
    `      os: "linux",`,
    `      state: this.state,`,
    `      length: this.length,`,
    ...(layout.absent ?? []).map((k) => `      ${k}: undefined,`),
    ...layout.fields.map((f) => `      ${f.key}: ${wordExpr(f)},`),
    `    };`,
    `  }`,
    ``,
    `  /** A struct shorter than this layout: each field through its getter, which checks the length. */`,
    `  #partial(): LinuxTcpInfo {`,
    `    return {`,
    `      os: "linux",`,
    `      state: this.state,`,
    `      length: this.length,`,
    ...keys.map((k) => `      ${k}: this.${k},`),
    `    };`,
    `  }`,
    ``,
    `  /** Deno's console shows every field. */`,
    `  [Symbol.for("Deno.customInspect")](`,
    `    inspect: (value: unknown, options: unknown) => string,`,
    `    options: unknown,`,
    `  ): string {`,
    `    return inspect(this.toJSON(), options);`,
    `  }`,
    ``,
    `  /** Node's and Bun's console show every field. */`,
    `  [Symbol.for("nodejs.util.inspect.custom")](`,
    `    _depth: number,`,
    `    options: unknown,`,
    `    inspect: (value: unknown, options: unknown) => string,`,
    `  ): string {`,
    `    return inspect(this.toJSON(), options);`,
    `  }`,
    `}`,
  );
  return lines.join("\n");
}

/**
 * Copies the words the lazy classes keep, in one array literal (the cheapest copy measured),
 * each as int32: an array of small integers in V8 and JSC alike, where one u32 past 2^31
 * would make it an array of doubles (the copy cost 40–60 % more, bench/main.ts).
 */
function wordsFunction(size: number): string {
  return [
    `/** The first ${size} bytes of \`tcp_info\` as int32 words, copied out of the buffer the kernel wrote. */`,
    `export function linuxTcpInfoWords(u: Uint32Array): number[] {`,
    `  return [`,
    ...Array.from({ length: size / 4 }, (_, i) => `    u[${i}] | 0,`),
    `  ];`,
    `}`,
  ].join("\n");
}

/** The generated file's text. */
export function generate(): string {
  return [
    `// Code generated by tools/gen_decoders.ts from platform/linux/tcp_info_layout.ts; DO NOT EDIT.`,
    `import type { LinuxTcpInfo, TcpState } from "../../types.ts";`,
    ``,
    `/** A u64 as a number: exact below 2^53, and all ones (unlimited) as Infinity. */`,
    `function u64(v: DataView, at: number): number {`,
    `  const lo = v.getUint32(at, true);`,
    `  const hi = v.getUint32(at + 4, true);`,
    `  return lo === 0xffffffff && hi === 0xffffffff ? Infinity : hi * 0x100000000 + lo;`,
    `}`,
    ``,
    decoder("decodeLinux618", LINUX_TCP_INFO_6_18),
    ``,
    decoder("decodeLinuxBits", LINUX_TCP_INFO_BITS),
    ``,
    `/** A u64 from two int32 words as a number: exact below 2^53, all ones (unlimited) as Infinity. */`,
    `function u64w(lo: number, hi: number): number {`,
    `  return (lo & hi) === -1 ? Infinity : (hi >>> 0) * 0x100000000 + (lo >>> 0);`,
    `}`,
    ``,
    wordsFunction(Math.max(LINUX_TCP_INFO_6_18.size, LINUX_TCP_INFO_BITS.size)),
    ``,
    lazyClass("LinuxTcpInfo618", LINUX_TCP_INFO_6_18),
    ``,
    lazyClass("LinuxTcpInfoBits", LINUX_TCP_INFO_BITS),
    ``,
  ].join("\n");
}

if (import.meta.main) {
  const { writeFileSync } = await import("node:fs");
  writeFileSync(new URL("../platform/linux/tcp_info_decode.gen.ts", import.meta.url), generate());
}
