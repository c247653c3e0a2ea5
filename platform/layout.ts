/**
 * Struct layouts as data, and the one decoder for them.
 *
 * A layout lists every field with its byte offset and C type; a bit field is a word plus a
 * shift and a width (LSB first, as gcc and clang allocate them on little-endian targets).
 * The decoder follows the length the kernel returned: a field, or a bit field's whole word,
 * that ends past that length does not exist on this kernel and decodes to `undefined`.
 *
 * @module
 */

/** A C scalar type. All targets sockbuf supports are little-endian. */
export type CType = "u8" | "u16" | "u32" | "i32" | "u64";

/** One field of a struct layout. */
export interface Field<K extends string = string> {
  /** The C name without the struct's prefix (`tcpi_`). */
  readonly c: string;
  /** The decoded object's key: the C name in camelCase. */
  readonly key: K;
  /** Byte offset of the field, or of the word that holds a bit field. */
  readonly offset: number;
  /** The field's type, or the type of the word that holds a bit field. */
  readonly type: CType;
  /** Present for bit fields: bits `[shift, shift + width)` of the word. */
  readonly bits?: { readonly shift: number; readonly width: number };
}

/** A struct layout and where it came from. */
export interface Layout<K extends string = string> {
  /** The C struct, such as `struct tcp_info`. */
  readonly struct: string;
  /** Size in bytes of the newest version this table knows. */
  readonly size: number;
  /** The fields, in offset order. */
  readonly fields: readonly Field<K>[];
  /** Keys of other versions of the struct that this version lacks: always `undefined`. */
  readonly absent?: readonly K[];
}

/** Bytes taken by each C type. */
export const SIZE_OF: Readonly<Record<CType, number>> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 };

/** A layout flattened into arrays, with a fast-properties template of its keys. */
interface Plan {
  template: Record<string, undefined>;
  keys: string[];
  offsets: number[];
  ends: number[];
  types: CType[];
  shifts: number[]; // -1: not a bit field
  moduli: number[];
}
const plans = new WeakMap<Layout, Plan>();

function planOf(layout: Layout): Plan {
  let p = plans.get(layout);
  if (p) return p;
  const keys = [...(layout.absent ?? []), ...layout.fields.map((f) => f.key)];
  // JSON.parse builds an object with fast (shaped) properties; adding ~75 computed keys to {}
  // puts V8 in dictionary mode, which makes the decode and every later read or copy slow.
  const template = JSON.parse(JSON.stringify(Object.fromEntries(keys.map((k) => [k, 0]))));
  for (const k of keys) template[k] = undefined;
  p = {
    template,
    keys: layout.fields.map((f) => f.key),
    offsets: layout.fields.map((f) => f.offset),
    ends: layout.fields.map((f) => f.offset + SIZE_OF[f.type]),
    types: layout.fields.map((f) => f.type),
    shifts: layout.fields.map((f) => (f.bits ? f.bits.shift : -1)),
    moduli: layout.fields.map((f) => (f.bits ? 2 ** f.bits.width : 0)),
  };
  plans.set(layout, p);
  return p;
}

function read(view: DataView, offset: number, type: CType): number {
  switch (type) {
    case "u8":
      return view.getUint8(offset);
    case "u16":
      return view.getUint16(offset, true);
    case "u32":
      return view.getUint32(offset, true);
    case "i32":
      return view.getInt32(offset, true);
    case "u64": {
      // Two u32 halves, no BigInt: hi * 2^32 is exact and the one addition rounds like
      // Number(bigint). All ones means "unlimited" (pacing rates).
      const lo = view.getUint32(offset, true);
      const hi = view.getUint32(offset + 4, true);
      return lo === 0xffff_ffff && hi === 0xffff_ffff ? Infinity : hi * 0x1_0000_0000 + lo;
    }
  }
}

let lastBytes: Uint8Array | undefined;
let lastView: DataView | undefined;

/** A DataView over `bytes`, reused while the same scratch buffer comes back. */
export function viewOf(bytes: Uint8Array): DataView {
  if (bytes !== lastBytes) {
    lastView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    lastBytes = bytes;
  }
  return lastView!;
}

/**
 * Decodes the first `length` bytes of `bytes` by `layout`.
 *
 * @returns an object with every key of the layout; a key whose bytes lie past `length` is `undefined`
 */
export function decode<K extends string>(
  layout: Layout<K>,
  bytes: Uint8Array,
  length: number,
): Record<K, number | undefined> {
  const n = Math.min(length, bytes.byteLength);
  const view = viewOf(bytes);
  const p = planOf(layout);
  const out: Record<string, number | undefined> = { ...p.template };
  const { keys, offsets, ends, types, shifts, moduli } = p;
  for (let i = 0; i < keys.length; i++) {
    if (ends[i] > n) continue;
    const word = read(view, offsets[i], types[i]);
    const s = shifts[i];
    out[keys[i]] = s < 0 ? word : Math.floor(word / 2 ** s) % moduli[i];
  }
  return out as Record<K, number | undefined>;
}
