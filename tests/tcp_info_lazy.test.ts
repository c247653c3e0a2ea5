/**
 * The lazy Linux tcp_info result: every getter agrees with the eager decoder (itself checked
 * against the table decoder in decode_linux.test.ts) at every length, and a result keeps its
 * own copy of the bytes.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { describe, it } from "node:test";
import { inspect as utilInspect } from "node:util";
import { tcpInfo, tcpInfoSync } from "../inspect.ts";
import { decodeLinuxTcpInfo } from "../platform/linux/mod.ts";
import { LINUX_TCP_INFO_6_18, LINUX_TCP_INFO_BITS } from "../platform/linux/tcp_info_layout.ts";
import {
  LinuxTcpInfo618,
  LinuxTcpInfoBits,
  linuxTcpInfoWords,
} from "../platform/linux/tcp_info_decode.gen.ts";
import { needs, stalledPair, unconnectedFd } from "./_helpers.ts";
import process from "node:process";

const isLinux = process.platform === "linux";

describe("the lazy tcp_info result", () => {
  for (
    const [layout, Lazy] of [[LINUX_TCP_INFO_6_18, LinuxTcpInfo618], [
      LINUX_TCP_INFO_BITS,
      LinuxTcpInfoBits,
    ]] as const
  ) {
    it(`agrees with the eager decoder at every length, field by field (${layout.struct})`, () => {
      const keys = [...(layout.absent ?? []), ...layout.fields.map((f) => f.key)];
      for (let trial = 0; trial < 4; trial++) {
        const b = new Uint8Array(512);
        for (let i = 0; i < b.length; i++) b[i] = (i * 131 + trial * 71 + 17) & 0xff;
        if (trial === 1) b.fill(0xff); // all ones: Infinity for u64s, bit fields at their max
        if (trial === 2) b.fill(0);
        const words = linuxTcpInfoWords(new Uint32Array(b.buffer));
        for (let len = 0; len <= layout.size; len++) {
          const eager = decodeLinuxTcpInfo(b, len, layout) as unknown as Record<string, unknown>;
          const lazy = new Lazy(words, len, eager.state as never) as unknown as Record<string, unknown>;
          for (const k of keys) assert.equal(lazy[k], eager[k], `${k} at length ${len}, trial ${trial}`);
          assert.equal(lazy.os, "linux");
          assert.equal(lazy.length, len);
          assert.deepEqual(
            (lazy as unknown as { toJSON(): unknown }).toJSON(),
            eager,
            `toJSON at length ${len}`,
          );
          assert.equal(JSON.stringify(lazy), JSON.stringify(eager));
        }
      }
    });
  }

  it("shows every field in console.log and JSON, and only os, state and length as own keys", () => {
    const b = new Uint8Array(512);
    b[0] = 1;
    b.set([0x10, 0x27, 0, 0], 80); // snd_cwnd 10000
    const info = new LinuxTcpInfo618(linuxTcpInfoWords(new Uint32Array(b.buffer)), 280, "ESTABLISHED");
    assert.match(utilInspect(info), /sndCwnd: 10000/);
    assert.equal(JSON.parse(JSON.stringify(info)).sndCwnd, 10000);
    assert.deepEqual(Object.keys(info), ["os", "state", "length"]);
    assert.equal(info.sndCwnd, 10000);
    assert.equal("rtt" in info, true);
  });

  it("keeps its own copy: a later call on another socket changes nothing in it", async (t) => {
    if (!needs(t, isLinux, "Linux")) return;
    const pair = await stalledPair();
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const listening = tcpInfoSync(unconnectedFd((server.address() as net.AddressInfo).port));
      const before = JSON.stringify(listening);
      const established = await tcpInfo(pair.clientFd);
      assert.equal(listening.state, "LISTEN");
      assert.equal(established.state, "ESTABLISHED");
      assert.equal(listening.os === "linux" && listening.stateNumber, 10);
      assert.equal(established.os === "linux" && established.stateNumber, 1);
      assert.equal(JSON.stringify(listening), before);
    } finally {
      server.close();
      await pair.close();
    }
  });
});
