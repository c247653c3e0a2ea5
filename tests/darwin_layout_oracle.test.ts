/**
 * The macOS tables against clang's Darwin targets. tests/fixtures/darwin_tcp_info.h is our own
 * C transcription of XNU's `tcp_connection_info` and private `tcp_info`, one declaration per
 * tag; clang lays them out for `arm64-apple-macos14` and `x86_64-apple-macos13` and dumps the
 * record layouts (`-fdump-record-layouts-canonical`). Every declared field's byte offset, bit
 * shift, width and signedness must match the table `platform/darwin/tcp_info_layout.ts` uses for that
 * struct's length, and `decode()` must read each field, set alone to all ones, where clang put it.
 * The tables were typed from a reading of the headers; clang is the second, independent reading.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { decode, type Layout, SIZE_OF } from "../platform/layout.ts";
import {
  DARWIN_PRIVATE_TCP_INFO,
  DARWIN_PRIVATE_TCP_INFO_352,
  DARWIN_TCP_CONNECTION_INFO,
  darwinPrivateLayout,
} from "../platform/darwin/tcp_info_layout.ts";
import { hasTool, needs, run } from "./_helpers.ts";

const HEADER = fileURLToPath(new URL("./fixtures/darwin_tcp_info.h", import.meta.url));
const TARGETS = ["arm64-apple-macos14", "x86_64-apple-macos13"] as const;

/**
 * Every tag where either struct changed layout or declaration, oldest first (the header
 * declares `tcp_info` from xnu-4570.1.46, macOS 10.13; `tcp_connection_info` from
 * xnu-3247.1.106). The newest tag behind each table must match it exactly; older tags must
 * agree on every field they declare, and the table's other fields must sit in their padding.
 * The tags after each one declare the same fields (through xnu-11417.121.6, the newest here).
 */
const TAGS = [
  "xnu-3247.1.106",
  "xnu-3789.1.32",
  "xnu-3789.51.2",
  "xnu-4570.1.46",
  "xnu-7195.101.1",
  "xnu-8019.41.5",
  "xnu-10002.1.13",
  "xnu-10002.61.3",
  "xnu-11215.1.10",
  "xnu-11417.101.15",
] as const;
type Tag = (typeof TAGS)[number];

/** The C name of every key any table has, for keys a table lists as absent. */
const C_NAME = new Map(
  [DARWIN_TCP_CONNECTION_INFO, DARWIN_PRIVATE_TCP_INFO_352, DARWIN_PRIVATE_TCP_INFO].flatMap((t) =>
    t.fields.map((f) => [f.key as string, f.c] as const)
  ),
);

/** Members that are padding in C and on purpose have no key. */
const PADDING = new Set(["__pad1", "__pad2", "tcpi_unused1", "tcpi_unused2"]);

/** One member as clang placed it: bits `[bit, bit + width)` from the start of the struct. */
interface Member {
  name: string;
  type: string;
  /** Byte offset of a plain member. */
  byte: number;
  bit: number;
  width: number;
  bitField: boolean;
}
interface CStruct {
  size: number;
  members: Member[];
}

/** `xnu-10002.61.3` -> 10002061, the number the header's `#if XNU >= …` compare. */
function xnuNumber(tag: Tag): number {
  const [major, minor] = tag.slice(4).split(".").map(Number);
  return major * 1000 + minor;
}
const suffix = (tag: Tag) => `__${tag.replace(/[-.]/g, "_")}`;

/** Parses clang's record layout dump: record name -> size and its direct members. */
function parseDump(text: string): Map<string, CStruct> {
  const records = new Map<string, CStruct>();
  for (const block of text.split("*** Dumping AST Record Layout").slice(1)) {
    const lines = block.split("\n").filter((l) => l.includes("|"));
    const head = /^\s*0 \| (?:struct|union) (.+)$/.exec(lines[0]);
    const end = /\[sizeof=(\d+), align=\d+\]/.exec(lines[lines.length - 1]);
    assert.ok(head && end, `unexpected dump block:\n${block}`);
    if (head[1].includes("(anonymous")) continue; // an inner struct or union of no name
    const members: Member[] = [];
    for (const line of lines.slice(1, -1)) {
      const m = /^\s*(\d+)(?::(\d+)-(\d+))? \|( +)(.+)$/.exec(line);
      assert.ok(m, `unexpected dump line: ${line}`);
      // Only direct members: not the fields of a member struct, nor an unnamed union.
      if (m[4].length !== 3 || m[5].includes("(anonymous")) continue;
      const [, byte, from, to, , decl] = m;
      const name = decl.trim().split(" ").at(-1)!;
      const type = decl.trim().slice(0, -name.length).trim();
      const bitField = from !== undefined;
      members.push({
        name,
        type,
        byte: Number(byte),
        bit: Number(byte) * 8 + (bitField ? Number(from) : 0),
        width: bitField ? Number(to) - Number(from) + 1 : 0, // plain widths filled in below
        bitField,
      });
    }
    records.set(head[1], { size: Number(end[1]), members });
  }
  // Plain members take their size from the compiler: the one-member sb_sizeof_* records for
  // scalars, the member's own record for a struct.
  const scalar = new Map<string, number>();
  for (const [name, r] of records) if (name.startsWith("sb_sizeof_")) scalar.set(r.members[0].type, r.size);
  for (const r of records.values()) {
    for (const m of r.members) {
      if (m.bitField) continue;
      const size = m.type.startsWith("struct ") ? records.get(m.type.slice(7))?.size : scalar.get(m.type);
      assert.ok(size, `no size for ${m.type} ${m.name}`);
      m.width = size * 8;
    }
  }
  return records;
}

/** Compiles the header once per tag for `target` and returns the parsed layouts. */
function clangLayouts(target: string): Map<string, CStruct> {
  const dir = mkdtempSync(join(tmpdir(), "sockbuf-darwin-layout-"));
  try {
    const probe = join(dir, "probe.c");
    const parts = TAGS.map((tag) =>
      `#define XNU ${xnuNumber(tag)}\n#define NAME(s) s##${suffix(tag)}\n` +
      `#include ${JSON.stringify(HEADER)}\n#undef XNU\n#undef NAME\n`
    );
    writeFileSync(probe, parts.join(""), { flag: "wx" });
    const dump = run("clang", [
      "-target",
      target,
      "-fsyntax-only",
      "-Werror",
      "-Xclang",
      "-fdump-record-layouts-canonical",
      probe,
    ]);
    return parseDump(dump);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Where a table field lies, in the same terms as a clang member. */
function tableBits(f: Layout["fields"][number]): { bit: number; width: number } {
  return f.bits
    ? { bit: f.offset * 8 + f.bits.shift, width: f.bits.width }
    : { bit: f.offset * 8, width: SIZE_OF[f.type] * 8 };
}

function describeTable(f: Layout["fields"][number]): string {
  return f.bits ? `${f.type}@${f.offset} bit ${f.bits.shift} width ${f.bits.width}` : `${f.type}@${f.offset}`;
}

function describeC(m: Member, unit: number): string {
  if (!m.bitField) return `${m.type}@${m.byte}`;
  const offset = Math.floor(m.bit / (unit * 8)) * unit;
  return `u${unit * 8}@${offset} bit ${m.bit - offset * 8} width ${m.width}`;
}

interface Tally {
  structs: number;
  fields: number;
  plainBytes: number;
  bitFields: number;
  bits: number;
  /** Declared members whose table entry is wrong, by name: how many layouts. */
  wrong: Map<string, number>;
}

/**
 * Compares one tag's struct with the table for its size. Returns the mismatches; adds what
 * it compared to `tally`.
 */
function compare(
  what: string,
  record: CStruct,
  table: Layout,
  exact: boolean,
  scalar: (type: string) => number,
  tally: Tally,
): string[] {
  const bad: string[] = [];
  const byC = new Map(table.fields.map((f) => [f.c, f]));
  const members = record.members.filter((m) => !PADDING.has(m.name));
  tally.structs++;
  for (const m of members) {
    const c = m.name.replace(/^tcpi_/, "");
    const f = byC.get(c);
    if (!f) {
      bad.push(`${what}: ${m.name} is declared but the table has no field "${c}"`);
      continue;
    }
    tally.fields++;
    if (m.bitField) {
      tally.bitFields++;
      tally.bits += m.width;
    } else {
      tally.plainBytes += m.width / 8;
    }
    // A bit field is read from the storage unit of its declared type that holds it.
    const unit = m.bitField ? scalar(m.type) : 0;
    const want = m.bitField
      ? { bit: m.bit, width: m.width, word: unit, offset: Math.floor(m.bit / (unit * 8)) * unit }
      : { bit: m.bit, width: m.width, word: m.width / 8, offset: m.byte };
    const got = tableBits(f);
    const signed = m.type === "int";
    if (
      got.bit !== want.bit || got.width !== want.width || SIZE_OF[f.type] !== want.word ||
      f.offset !== want.offset || Boolean(f.bits) !== m.bitField || (f.type === "i32") !== signed
    ) {
      bad.push(`${what}: ${m.name}: table ${describeTable(f)}, clang ${describeC(m, unit)} (${m.type})`);
      tally.wrong.set(m.name, (tally.wrong.get(m.name) ?? 0) + 1);
    }
  }
  const declared = new Set(members.map((m) => m.name.replace(/^tcpi_/, "")));
  if (exact) {
    if (table.size !== record.size) {
      bad.push(`${what}: table size ${table.size}, clang sizeof ${record.size}`);
    }
    for (const f of table.fields) {
      if (!declared.has(f.c)) bad.push(`${what}: the table has "${f.c}", which this tag does not declare`);
    }
    for (const key of table.absent ?? []) {
      const c = C_NAME.get(key);
      if (c === undefined || declared.has(c)) {
        bad.push(`${what}: "${key}" is listed absent but declared (${c})`);
      }
    }
  } else {
    // Fields a newer tag added: inside this tag's length they must lie in its padding.
    for (const f of table.fields) {
      if (declared.has(f.c) || f.offset + SIZE_OF[f.type] > record.size) continue;
      const t = tableBits(f);
      const hit = members.find((m) => m.bit < t.bit + t.width && t.bit < m.bit + m.width);
      if (hit) bad.push(`${what}: the table's "${f.c}" (${describeTable(f)}) overlaps ${hit.name}`);
    }
  }
  return bad;
}

/**
 * Sets each declared member alone to all ones in a zeroed struct of clang's size and decodes
 * it with the table: that key must read all ones (-1 when signed, Infinity for a u64), every
 * other key 0, or `undefined` past the length.
 */
function decodeCheck(what: string, record: CStruct, table: Layout): string[] {
  const bad: string[] = [];
  const members = record.members.filter((m) => !PADDING.has(m.name));
  const keyOf = new Map(table.fields.map((f) => [f.c, f.key]));
  for (const m of members) {
    const key = keyOf.get(m.name.replace(/^tcpi_/, ""));
    if (!key) continue; // reported by compare()
    const bytes = new Uint8Array(record.size);
    for (let b = m.bit; b < m.bit + m.width; b++) bytes[b >> 3] |= 1 << (b & 7);
    const got = decode(table, bytes, record.size);
    const want = m.width === 64 ? Infinity : m.type === "int" ? -1 : 2 ** m.width - 1;
    if (got[key] !== want) bad.push(`${what}: decode() read ${key} as ${got[key]} with only ${m.name} set`);
    for (const f of table.fields) {
      const inside = f.offset + SIZE_OF[f.type] <= record.size;
      if (f.key !== key && got[f.key] !== (inside ? 0 : undefined)) {
        bad.push(`${what}: decode() read ${f.key} as ${got[f.key]} with only ${m.name} set`);
      }
    }
  }
  return bad;
}

/** The tags each table stands for, by the length each tag's struct returns. */
function plan(records: Map<string, CStruct>) {
  const rows: { struct: string; tag: Tag; record: CStruct; table: Layout; tableName: string }[] = [];
  for (const tag of TAGS) {
    const conn = records.get(`tcp_connection_info${suffix(tag)}`);
    assert.ok(conn, `clang laid out no tcp_connection_info for ${tag}`);
    rows.push({
      struct: "tcp_connection_info",
      tag,
      record: conn,
      table: DARWIN_TCP_CONNECTION_INFO,
      tableName: "tcp_connection_info",
    });
    const info = records.get(`tcp_info${suffix(tag)}`);
    if (xnuNumber(tag) < 4570001) {
      assert.equal(info, undefined);
      continue;
    }
    assert.ok(info, `clang laid out no tcp_info for ${tag}`);
    const table = darwinPrivateLayout(info.size);
    rows.push({ struct: "tcp_info", tag, record: info, table, tableName: `${table.size}-byte tcp_info` });
  }
  // The newest tag behind a table is the one it must match exactly.
  const newest = new Map<Layout, Tag>();
  for (const r of rows) newest.set(r.table, r.tag);
  return rows.map((r) => ({ ...r, exact: newest.get(r.table) === r.tag }));
}

describe("the macOS layout tables against clang's Darwin targets", () => {
  const cache = new Map<string, Map<string, CStruct>>();
  const layouts = (target: string) => {
    if (!cache.has(target)) cache.set(target, clangLayouts(target));
    return cache.get(target)!;
  };

  for (const target of TARGETS) {
    it(`match every field, bit fields included, of every tag on ${target}`, (t) => {
      if (!needs(t, hasTool("clang"), "clang (apt-get install clang)")) return;
      const records = layouts(target);
      const scalar = (type: string) => {
        const r = [...records].find(([n, r]) => n.startsWith("sb_sizeof_") && r.members[0].type === type);
        assert.ok(r, `no size for ${type}`);
        return r[1].size;
      };
      const tally: Tally = { structs: 0, fields: 0, plainBytes: 0, bitFields: 0, bits: 0, wrong: new Map() };
      const bad: string[] = [];
      const misread: string[] = [];
      const tables = new Map<string, Tag[]>();
      for (const row of plan(records)) {
        const exact = row.exact ? ", exact" : "";
        const what = `${row.tag} ${row.struct} (${row.record.size} bytes, ${row.tableName} table${exact})`;
        bad.push(...compare(what, row.record, row.table, row.exact, scalar, tally));
        misread.push(...decodeCheck(what, row.record, row.table));
        tables.set(row.tableName, [...(tables.get(row.tableName) ?? []), row.tag]);
      }
      const summary = [...tables].map(([name, tags]) => `${name}: ${tags.join(", ")}`).join("; ");
      const plain = tally.fields - tally.bitFields;
      console.log(
        `${target}: ${tally.structs} struct layouts, ${tally.fields} fields compared: ${plain} plain ` +
          `(${tally.plainBytes} bytes) and ${tally.bitFields} bit fields (${tally.bits} bits); ` +
          `${bad.length} table entries wrong, ${misread.length} decode() misreads. ${summary}`,
      );
      const wrong = [...tally.wrong].map(([name, n]) => `${name} (${n} layouts)`).join(", ");
      const first = misread.slice(0, 4).join("\n");
      const head = `on ${target}: ${bad.length} table problems; ${tally.wrong.size} declared fields sit ` +
        `elsewhere than the table says: ${wrong}`;
      const details = `${bad.join("\n")}\n${misread.length} decode() misreads, first:\n${first}`;
      assert.equal(bad.length + misread.length, 0, `${head}\n${details}`);
    });
  }

  it("lays out every struct the same on arm64 and x86_64", (t) => {
    if (!needs(t, hasTool("clang"), "clang (apt-get install clang)")) return;
    const [a, b] = TARGETS.map((target) => layouts(target));
    assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort());
    for (const [name, r] of a) assert.deepEqual(b.get(name), r, name);
  });
});
