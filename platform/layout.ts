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

const U64_MAX = 0xffff_ffff_ffff_ffffn;

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
      // All ones means "unlimited" (pacing rates); other values past 2^53 would need
      // petabytes of traffic, so a number is exact for every value the kernel can report.
      const v = view.getBigUint64(offset, true);
      return v === U64_MAX ? Infinity : Number(v);
    }
  }
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
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = {} as Record<K, number | undefined>;
  for (const key of layout.absent ?? []) out[key] = undefined;
  for (const f of layout.fields) {
    if (f.offset + SIZE_OF[f.type] > n) {
      out[f.key] = undefined;
      continue;
    }
    const word = read(view, f.offset, f.type);
    out[f.key] = f.bits ? Math.floor(word / 2 ** f.bits.shift) % 2 ** f.bits.width : word;
  }
  return out;
}

/** `snd_wscale` → `sndWscale`. */
export function camel(c: string): string {
  return c.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
}
