/**
 * The Linux tcp_info table against the C compiler: a C file, generated from the installed
 * <linux/tcp.h>, sets each field to all ones in a zeroed struct and prints the bytes and bits
 * it occupies. Bit fields are probed the same way, so none is skipped.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { describe, it } from "node:test";
import { tcpInfo } from "../mod.ts";
import { SIZE_OF } from "../platform/layout.ts";
import { linuxTcpInfoLayout, linuxTcpInfoSize } from "../platform/linux/mod.ts";
import { LINUX_TCP_INFO_6_18, LINUX_TCP_INFO_BITS } from "../platform/linux/tcp_info_layout.ts";
import { hasTool, needs, run, stalledPair } from "./_helpers.ts";

const linux = process.platform === "linux";
const HEADER = "/usr/include/linux/tcp.h";

/** The `tcpi_*` member names the installed header declares, in order. */
function headerFields(): string[] {
  const src = readFileSync(HEADER, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
  const body = /struct tcp_info\s*\{([\s\S]*?)\};/.exec(src);
  assert.ok(body, `struct tcp_info not found in ${HEADER}`);
  return [...body[1].matchAll(/\btcpi_(\w+)/g)].map((m) => m[1]);
}

/** Compiles and runs the probe: `{ size, fields: name -> { bytes: {byte: mask}, signed } }`. */
function probe(names: string[]) {
  const dir = mkdtempSync(join(tmpdir(), "sockbuf-layout-"));
  try {
    const lines = names.map((n) =>
      `  memset(&t, 0, sizeof t); t.tcpi_${n} = -1; dump("${n}", &t, t.tcpi_${n} < 0);`
    );
    writeFileSync(
      join(dir, "probe.c"),
      `#include <stdio.h>
#include <string.h>
#include <linux/tcp.h>
static void dump(const char *name, const struct tcp_info *t, int sign) {
  const unsigned char *b = (const unsigned char *)t;
  printf("%s %d", name, sign);
  for (size_t i = 0; i < sizeof *t; i++) if (b[i]) printf(" %zu:%u", i, b[i]);
  printf("\\n");
}
int main(void) {
  struct tcp_info t;
  printf("size %zu\\n", sizeof t);
${lines.join("\n")}
  return 0;
}
`,
    );
    run("cc", ["-w", "-o", join(dir, "probe"), join(dir, "probe.c")]);
    const out = run(join(dir, "probe"), []).trim().split("\n");
    const size = Number(out[0].split(" ")[1]);
    const fields = new Map<string, { bytes: Record<number, number>; signed: boolean }>();
    for (const line of out.slice(1)) {
      const [name, sign, ...pairs] = line.split(" ");
      const bytes: Record<number, number> = {};
      for (const p of pairs) {
        const [i, m] = p.split(":").map(Number);
        bytes[i] = m;
      }
      fields.set(name, { bytes, signed: sign === "1" });
    }
    return { size, fields };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bytes and bits our table says a field occupies. */
function tableBytes(f: (typeof LINUX_TCP_INFO_6_18.fields)[number]): Record<number, number> {
  const width = f.bits ? f.bits.width : SIZE_OF[f.type] * 8;
  const shift = f.bits ? f.bits.shift : 0;
  const mask = ((1n << BigInt(width)) - 1n) << BigInt(shift);
  const out: Record<number, number> = {};
  for (let i = 0; i < SIZE_OF[f.type]; i++) {
    const m = Number((mask >> BigInt(8 * i)) & 0xffn);
    if (m) out[f.offset + i] = m;
  }
  return out;
}

describe("the Linux tcp_info table", { skip: !linux && "Linux only: needs <linux/tcp.h>" }, () => {
  it("matches the bytes and bits of every field the installed headers declare, bit fields included", (t) => {
    if (!needs(t, hasTool("cc"), "a C compiler (cc) and linux-libc-dev")) return;
    const names = headerFields();
    const { size, fields } = probe(names);
    assert.ok(names.length >= 40, `expected the header to declare many fields, found ${names.length}`);
    const table = linuxTcpInfoLayout(run("uname", ["-r"]).trim());
    const byC = new Map(table.fields.map((f) => [f.c, f]));
    for (const name of names) {
      const f = byC.get(name);
      assert.ok(f, `the table lacks tcpi_${name}, which ${HEADER} declares`);
      assert.deepEqual(tableBytes(f), fields.get(name)!.bytes, `bytes and bits of tcpi_${name}`);
      assert.equal(fields.get(name)!.signed, f.type === "i32", `signedness of tcpi_${name}`);
    }
    // Every table field inside the header's struct must be one the header knows.
    const inside = table.fields.filter((f) => f.offset + SIZE_OF[f.type] <= size).map((f) => f.c);
    assert.deepEqual(inside, names, "fields within the header's size, in order");
    console.log(
      `checked ${names.length} fields of ${size}-byte struct tcp_info from ${HEADER} against the table`,
    );
  });

  it("has the size this kernel returns from getsockopt (280 on Linux 6.18)", async () => {
    const pair = await stalledPair();
    try {
      const info = await tcpInfo(pair.clientFd);
      const release = run("uname", ["-r"]).trim();
      assert.equal(info.length, linuxTcpInfoSize(release), `kernel ${release}`);
      if (linuxTcpInfoSize(release) === 280) assert.equal(info.length, linuxTcpInfoLayout(release).size);
      assert.ok(info.length <= LINUX_TCP_INFO_6_18.size, "a longer tcp_info than the table knows");
    } finally {
      await pair.close();
    }
  });

  it("picks the u16 tail before Linux 7.0 and the bit-word tail from 7.0", () => {
    assert.equal(linuxTcpInfoLayout("6.18.44-fc-v657"), LINUX_TCP_INFO_6_18);
    assert.equal(linuxTcpInfoLayout("6.19.0"), LINUX_TCP_INFO_6_18);
    assert.equal(linuxTcpInfoLayout("5.10.0-28-amd64"), LINUX_TCP_INFO_6_18);
    assert.equal(linuxTcpInfoLayout("7.0.3"), LINUX_TCP_INFO_BITS);
    assert.equal(linuxTcpInfoLayout("7.1.0-rc1"), LINUX_TCP_INFO_BITS);
    assert.equal(linuxTcpInfoLayout("10.0"), LINUX_TCP_INFO_BITS);
  });

  it("knows the size each kernel release returns", () => {
    assert.equal(linuxTcpInfoSize("6.18.44-fc-v657"), 280);
    assert.equal(linuxTcpInfoSize("7.0.3"), 280);
    assert.equal(linuxTcpInfoSize("6.8.0-1017-azure"), 248);
    assert.equal(linuxTcpInfoSize("5.15.0"), 232);
    assert.equal(linuxTcpInfoSize("4.19.0"), 224);
    assert.equal(linuxTcpInfoSize("3.10.0-1160.el7"), 104);
  });
});
