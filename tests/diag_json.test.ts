/**
 * The JSON writer behind `sockbuf ls --json` (platform/linux/diag_json.ts) against the
 * object path it replaces: for the same `sock_diag` replies (this kernel's, with sockets of
 * the test's own in many states, then mutated), each socket's JSON must be byte for byte
 * `JSON.stringify` of the entry the parser builds, failing where the parser fails; and the
 * command line's sorting of it (_cli/list_view.ts `writeSortedJson`) must give what sorting the
 * entries and stringifying gives. The object path is held to `ss` in diag_linux.test.ts and
 * cli.test.ts.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import process from "node:process";
import { describe, it } from "node:test";
import { SockbufError, type SocketEntry } from "../mod.ts";
import { DIAG, parseDiagReplies, type ParseOptions } from "../platform/linux/diag_parse.ts";
import { DiagJson } from "../platform/linux/diag_json.ts";
import type { SocketJson } from "../platform/types.ts";
import { SORT_KEYS, sortEntries, writeSortedJson } from "../_cli/list_view.ts";
import { sleep, type StalledPair, stalledPair } from "./_helpers.ts";
import { capture, prng, STATES } from "./_diag.ts";

const linux = process.platform === "linux";
const SEQ = 11;
const OPTS: ParseOptions = { seq: SEQ, states: STATES };
const text = new TextDecoder();

/** Both paths over the same datagrams: entries (or the error) and the writer's sockets (or its error). */
function both(datagrams: Uint8Array[]) {
  const entries: SocketEntry[] = [];
  const writer = new DiagJson(STATES);
  let parseError: unknown, writeError: unknown;
  try {
    for (const d of datagrams) parseDiagReplies(d, d.length, OPTS, entries);
  } catch (err) {
    parseError = err;
  }
  try {
    for (const d of datagrams) writer.datagram(d, d.length, SEQ);
  } catch (err) {
    writeError = err;
  }
  const json = writer.result();
  return { entries, json, parseError, writeError };
}

/** The JSON text of these sockets, in this order. */
function json(j: SocketJson, order: readonly number[]): string {
  let s = "";
  j.json(order, (piece) => s += text.decode(piece));
  return s;
}

/** Socket `i`'s JSON text. */
const row = (j: SocketJson, i: number) => json(j, [i]).slice(1, -1);

/** Asserts that the writer gave what stringifying the entries gives, column by column too. */
function assertSame(r: ReturnType<typeof both>, what: string): void {
  if (r.parseError || r.writeError) {
    assert.ok(r.parseError instanceof SockbufError, `${what}: the parser threw ${r.parseError}`);
    assert.ok(r.writeError instanceof SockbufError, `${what}: the writer threw ${r.writeError}`);
    assert.equal(r.writeError.message, r.parseError.message, what);
    assert.equal(r.writeError.code, r.parseError.code, what);
  }
  assert.equal(r.json.count, r.entries.length, `${what}: as many sockets`);
  const none = (n: number | undefined) => n ?? -1;
  const all = Array.from({ length: r.json.count }, (_, i) => i);
  if (json(r.json, all) !== JSON.stringify(r.entries)) {
    // Name the first socket that differs
    r.entries.forEach((e, i) => assert.equal(row(r.json, i), JSON.stringify(e), `${what}: socket ${i}`));
    assert.fail(`${what}: the arrays differ`);
  }
  r.entries.forEach((e, i) => {
    const b = e.sendBuffer;
    assert.deepEqual(
      (["unsent", "queued", "size", "unackedSegments", "rttMicros", "cwndSegments", "localPort"] as const)
        .map((name) => r.json.field(i, name)),
      [
        none(b?.unsent),
        none(b?.queued),
        none(b?.size),
        none(b?.unackedSegments),
        none(e.rttMicros),
        none(e.cwndSegments),
        e.local.port,
      ],
      `${what}: socket ${i}'s sort columns`,
    );
  });
}

/** Connections of our own in as many states as loopback gives quickly, IPv4, IPv6 and mapped. */
async function sockets(): Promise<{ pairs: StalledPair[]; close(): Promise<void> }> {
  const pairs: StalledPair[] = [];
  for (const host of ["127.0.0.1", "::1"]) pairs.push(await stalledPair(host));
  pairs[0].client.write(new Uint8Array(300_000));
  pairs[1].client.write(new Uint8Array(2_000_000));
  // A dual-stack listener: a client from 127.0.0.1 is ::ffff:127.0.0.1 on its side.
  const held: net.Socket[] = [];
  const server = net.createServer((s) => held.push(s.on("error", () => {})));
  await new Promise<void>((r) => server.listen({ port: 0, host: "::", ipv6Only: false }, r));
  const port = (server.address() as net.AddressInfo).port;
  const connect = () =>
    new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => resolve(s));
      s.once("error", reject);
    });
  const open = await connect();
  // One closed by the client first: TIME_WAIT, whose replies carry no attributes
  const closed = await connect();
  closed.end();
  await sleep(100);
  return {
    pairs,
    async close() {
      open.destroy();
      for (const s of held) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
      for (const p of pairs) await p.close();
    },
  };
}

describe("sock_diag replies as JSON (platform/linux/diag_json.ts)", {
  skip: !linux && "Linux only: sock_diag",
}, () => {
  it("writes each socket of this kernel's replies as JSON.stringify writes its entry", async () => {
    const own = await sockets();
    try {
      const states = new Set<string>();
      let mapped = false, v6 = false, queued = false;
      for (const family of [2, 10]) {
        const datagrams = capture(family, SEQ);
        const r = both(datagrams);
        assert.equal(r.parseError, undefined);
        assertSame(r, `family ${family}`);
        for (const e of r.entries) {
          states.add(e.state);
          if (e.local.address.startsWith("::ffff:")) mapped = true;
          if (e.family === 6 && !e.local.address.startsWith("::ffff:")) v6 = true;
          if ((e.sendBuffer?.unsent ?? 0) > 0) queued = true;
        }
      }
      // The replies held what the writer has branches for.
      for (const s of ["LISTEN", "ESTABLISHED", "TIME_WAIT"]) {
        assert.ok(states.has(s), `a ${s} socket among ${[...states]}`);
      }
      assert.ok(mapped && v6 && queued, "IPv4-mapped, IPv6 and unsent bytes among the sockets");
    } finally {
      await own.close();
    }
  });

  it("fails where the parser fails, and agrees with it, on 5,000 mutated replies", async () => {
    const seeds: Uint8Array[] = [];
    const own = await sockets();
    try {
      // A few datagrams with our sockets in them: the first of each family, and the last
      for (const family of [2, 10]) {
        const d = capture(family, SEQ);
        seeds.push(d[0], d[d.length - 1]);
      }
    } finally {
      await own.close();
    }
    // Built ones: every attribute length the writer tells apart, a listener, an unknown state
    for (const info of [0, 4, 28, 72, 84, 148, 280]) {
      for (const mem of [0, 12, 16, 24, 32, 36]) {
        for (const state of [1, 10, 13, 200]) seeds.push(message(state, info, mem));
      }
    }
    const rand = prng(20261201);
    const int = (n: number) => Math.floor(rand() * n);
    const counts = { agreed: 0, failed: 0, sockets: 0 };
    for (let i = 0; i < 5_000; i++) {
      const seed = seeds[int(seeds.length)].subarray(0, 8192);
      const input = seed.slice(0, i % 5 === 0 ? int(seed.length + 1) : seed.length);
      const kind = i % 3;
      if (kind === 0) {
        for (let k = 1 + int(8); k > 0; k--) input[int(input.length)] = int(256);
      } else if (kind === 1 && input.length >= 4) {
        // a 16-bit length at a 4-aligned offset: attribute headers sit there
        const at = int(input.length >> 2) * 4;
        if (at + 2 <= input.length) {
          new DataView(input.buffer).setUint16(at, [0, 3, 4, 8, 0xffff][int(5)], true);
        }
      } else {
        // a cookie's high half, and uid/inode past 2^31
        for (const at of [16 + 48, 16 + 64, 16 + 68]) if (at + 4 <= input.length) input[at + 3] = int(256);
      }
      const r = both([input]);
      assertSame(r, `input ${i}`);
      counts.agreed++;
      if (r.parseError) counts.failed++;
      counts.sockets += r.entries.length;
    }
    console.log("diag_json fuzz:", counts);
    assert.ok(counts.failed > 200 && counts.sockets > 2_000, "both rejections and sockets were compared");
  });

  it("sorts and limits as the entries sort (ls --sort, --limit), for every sort key", async () => {
    const own = await sockets();
    try {
      const datagrams = [...capture(2, SEQ), ...capture(10, SEQ)];
      const r = both(datagrams);
      assertSame(r, "whole host");
      for (const sort of SORT_KEYS) {
        const sorted = sortEntries([...r.entries], { sort, limit: undefined });
        for (const limit of [undefined, 1, 7]) {
          const want = JSON.stringify(limit === undefined ? sorted : sorted.slice(0, limit));
          // Both ways: one native sort of ranks, and the comparator kept for a million sockets
          for (const rankLimit of [undefined, 0]) {
            let got = "";
            writeSortedJson(r.json, { sort, limit }, (piece) => got += text.decode(piece), rankLimit);
            assert.equal(got, want, `--sort ${sort} --limit ${limit}, rank limit ${rankLimit}`);
          }
        }
      }
      assert.equal(json(both([]).json, []), "[]");
    } finally {
      await own.close();
    }
  });
});

/** One SOCK_DIAG_BY_FAMILY message: an IPv4 socket in `state`, `info` bytes of tcp_info, `mem` of skmem. */
function message(state: number, info: number, mem: number): Uint8Array {
  const attr = (n: number) => n === 0 ? 0 : (4 + n + 3) & ~3;
  const len = 16 + DIAG.MSG_SIZE + attr(info) + attr(mem);
  const bytes = new Uint8Array(len + 20);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, DIAG.SOCK_DIAG_BY_FAMILY, true);
  v.setUint32(8, SEQ, true);
  const b = 16;
  bytes[b] = 2;
  bytes[b + 1] = state;
  v.setUint16(b + 4, 40000);
  v.setUint16(b + 6, 443);
  bytes.set([10, 0, 0, 7], b + 8);
  bytes.set([192, 168, 255, 1], b + 24);
  v.setUint32(b + 44, 0xfffffff0, true);
  v.setUint32(b + 48, 3, true);
  v.setUint32(b + 56, 12, true);
  v.setUint32(b + 60, 123456, true);
  v.setUint32(b + 64, 1000, true);
  v.setUint32(b + 68, 987654321, true);
  let a = b + DIAG.MSG_SIZE;
  for (const [type, n] of [[DIAG.INET_DIAG_INFO, info], [DIAG.INET_DIAG_SKMEMINFO, mem]]) {
    if (n === 0) continue;
    v.setUint16(a, 4 + n, true);
    v.setUint16(a + 2, type, true);
    for (let k = 0; k + 4 <= n; k += 4) v.setUint32(a + 4 + k, (k * 7919 + 13) % 100_000, true);
    a += attr(n);
  }
  // and the dump's end
  v.setUint32(len, 20, true);
  v.setUint16(len + 4, DIAG.NLMSG_DONE, true);
  v.setUint32(len + 8, SEQ, true);
  return bytes;
}
