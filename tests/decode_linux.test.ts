/**
 * Decoding Linux tcp_info buffers of every length: the returned length decides which fields
 * exist, and a field past it is undefined, never 0. Runs on every OS (pure decoding).
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { SIZE_OF } from "../platform/layout.ts";
import { readFileSync } from "node:fs";
import { decodeLinuxTcpInfo, decodeLinuxTcpInfoByTable } from "../platform/linux/mod.ts";
import { generate } from "../tools/gen_decoders.ts";
import { LINUX_TCP_INFO_6_18, LINUX_TCP_INFO_BITS } from "../platform/linux/tcp_info_layout.ts";

/** A 280-byte tcp_info with known values, written at offsets typed here from the uapi header. */
function fixture(): Uint8Array {
  const b = new Uint8Array(280);
  const v = new DataView(b.buffer);
  v.setUint8(0, 1); // state ESTABLISHED
  v.setUint8(1, 4); // ca_state Loss
  v.setUint8(5, 0x07); // options
  v.setUint8(6, 0xa7); // snd_wscale 7 (low nibble), rcv_wscale 10 (high nibble)
  v.setUint8(7, 0b101); // delivery_rate_app_limited 1, fastopen_client_fail 2
  v.setUint32(8, 204000, true); // rto
  v.setUint32(16, 1448, true); // snd_mss
  v.setUint32(24, 7, true); // unacked (segments)
  v.setUint32(68, 5437, true); // rtt
  v.setUint32(80, 15, true); // snd_cwnd
  v.setUint32(100, 3, true); // total_retrans
  v.setBigUint64(104, 0xffff_ffff_ffff_ffffn, true); // pacing_rate: unlimited
  v.setBigUint64(120, 2n ** 40n + 5n, true); // bytes_acked
  v.setUint32(144, 3791368, true); // notsent_bytes
  v.setBigUint64(160, 37491984n, true); // delivery_rate
  v.setUint32(228, 65535, true); // snd_wnd
  v.setUint32(232, 131072, true); // rcv_wnd
  v.setUint16(240, 9, true); // total_rto
  v.setUint16(242, 8, true); // total_rto_recoveries
  v.setUint32(244, 1234, true); // total_rto_time
  v.setUint32(248, 77, true); // received_ce
  v.setUint32(272, 88, true); // received_ce_bytes
  return b;
}

describe("decoding Linux tcp_info", () => {
  it("reads known values at their offsets, bit fields included", () => {
    const b = fixture();
    new DataView(b.buffer).setUint16(276, 5, true); // accecn_fail_mode (6.18)
    new DataView(b.buffer).setUint16(278, 2, true); // accecn_opt_seen (6.18)
    const i = decodeLinuxTcpInfo(b, 280, LINUX_TCP_INFO_6_18);
    assert.equal(i.state, "ESTABLISHED");
    assert.equal(i.stateNumber, 1);
    assert.equal(i.caState, 4);
    assert.equal(i.options, 7);
    assert.equal(i.sndWscale, 7);
    assert.equal(i.rcvWscale, 10);
    assert.equal(i.deliveryRateAppLimited, 1);
    assert.equal(i.fastopenClientFail, 2);
    assert.equal(i.rto, 204000);
    assert.equal(i.sndMss, 1448);
    assert.equal(i.unacked, 7);
    assert.equal(i.rtt, 5437);
    assert.equal(i.sndCwnd, 15);
    assert.equal(i.totalRetrans, 3);
    assert.equal(i.pacingRate, Infinity);
    assert.equal(i.bytesAcked, 2 ** 40 + 5);
    assert.equal(i.notsentBytes, 3791368);
    assert.equal(i.deliveryRate, 37491984);
    assert.equal(i.sndWnd, 65535);
    assert.equal(i.rcvWnd, 131072);
    assert.equal(i.totalRto, 9);
    assert.equal(i.totalRtoRecoveries, 8);
    assert.equal(i.totalRtoTime, 1234);
    assert.equal(i.receivedCe, 77);
    assert.equal(i.receivedCeBytes, 88);
    assert.equal(i.accecnFailMode, 5);
    assert.equal(i.accecnOptSeen, 2);
    assert.equal(i.ecnMode, undefined, "6.18 has no ecn_mode");
    assert.equal(i.options2, undefined, "6.18 has no options2");
    assert.equal(i.length, 280);
    assert.equal(i.os, "linux");
  });

  it("reads the bit-word tail of kernels from 7.0 at offset 276", () => {
    const b = fixture();
    // ecn_mode 2 (bits 0-1), accecn_opt_seen 1 (bits 2-3), accecn_fail_mode 11 (bits 4-7),
    // options2 0x123456 (bits 8-31)
    new DataView(b.buffer).setUint32(276, 0x123456_b6, true);
    const i = decodeLinuxTcpInfo(b, 280, LINUX_TCP_INFO_BITS);
    assert.equal(i.ecnMode, 2);
    assert.equal(i.accecnOptSeen, 1);
    assert.equal(i.accecnFailMode, 11);
    assert.equal(i.options2, 0x123456);
    assert.equal(i.receivedCeBytes, 88);
  });

  it("reads each bit field at its maximum without touching its neighbours", () => {
    const cases: [number, number, Record<string, number>][] = [
      [6, 0x0f, { sndWscale: 15, rcvWscale: 0 }],
      [6, 0xf0, { sndWscale: 0, rcvWscale: 15 }],
      [7, 0x01, { deliveryRateAppLimited: 1, fastopenClientFail: 0 }],
      [7, 0x06, { deliveryRateAppLimited: 0, fastopenClientFail: 3 }],
      [7, 0xf8, { deliveryRateAppLimited: 0, fastopenClientFail: 0 }], // unused bits
    ];
    for (const [offset, byte, want] of cases) {
      const b = new Uint8Array(280);
      b[offset] = byte;
      const i = decodeLinuxTcpInfo(b, 280) as unknown as Record<string, number>;
      for (const [k, val] of Object.entries(want)) {
        assert.equal(i[k], val, `${k} from byte ${offset} = ${byte}`);
      }
    }
  });

  for (const layout of [LINUX_TCP_INFO_6_18, LINUX_TCP_INFO_BITS]) {
    it(`decodes every length from 0 to ${layout.size}, with fields past the length undefined (${layout.struct})`, () => {
      const b = fixture();
      const keys = Object.keys(decodeLinuxTcpInfo(b, layout.size, layout)).sort();
      for (let len = 0; len <= layout.size; len++) {
        const i = decodeLinuxTcpInfo(b, len, layout) as unknown as Record<string, unknown>;
        assert.deepEqual(Object.keys(i).sort(), keys, `same keys at length ${len}`);
        assert.equal(i.length, len);
        for (const f of layout.fields) {
          const inside = f.offset + SIZE_OF[f.type] <= len;
          assert.equal(typeof i[f.key], inside ? "number" : "undefined", `${f.key} at length ${len}`);
        }
        for (const k of layout.absent ?? []) assert.equal(i[k], undefined);
      }
      // The historic sizes: base, 3.15, 4.1, 4.2, 4.6, 4.9, 4.10, 4.18, 4.19, 5.4, 6.2, 6.7
      const at = (len: number) => decodeLinuxTcpInfo(b, len, layout);
      assert.equal(at(104).totalRetrans, 3);
      assert.equal(at(104).pacingRate, undefined);
      assert.equal(at(144).notsentBytes, undefined, "before Linux 4.6 there is no notsent_bytes");
      assert.equal(at(160).notsentBytes, 3791368);
      assert.equal(at(232).sndWnd, 65535);
      assert.equal(at(232).rcvWnd, undefined);
      assert.equal(at(248).totalRtoTime, 1234);
      assert.equal(at(248).receivedCe, undefined);
    });
  }

  for (const layout of [LINUX_TCP_INFO_6_18, LINUX_TCP_INFO_BITS]) {
    it(`has a generated decoder that agrees with the table at every length (${layout.struct})`, () => {
      for (let trial = 0; trial < 4; trial++) {
        const b = new Uint8Array(300);
        for (let i = 0; i < b.length; i++) b[i] = (i * 131 + trial * 71 + 17) & 0xff;
        if (trial === 1) b.fill(0xff); // all ones: Infinity for u64s, bit fields at their max
        if (trial === 2) b.fill(0);
        for (let len = 0; len <= layout.size; len++) {
          assert.deepEqual(
            decodeLinuxTcpInfo(b, len, layout),
            decodeLinuxTcpInfoByTable(b, len, layout),
            `length ${len}, trial ${trial}`,
          );
        }
      }
    });
  }

  it("ships the generated decoders tools/gen_decoders.ts prints now", () => {
    const shipped = readFileSync(
      new URL("../platform/linux/tcp_info_decode.gen.ts", import.meta.url),
      "utf8",
    );
    assert.equal(shipped, generate(), "run: deno run --allow-write tools/gen_decoders.ts");
  });

  it("never reads past the buffer when the length claims more than it holds", () => {
    const i = decodeLinuxTcpInfo(new Uint8Array(100), 280);
    assert.equal(i.totalRetrans, undefined);
    assert.equal(i.rcvSpace, 0);
  });

  it("names every Linux state number and calls unknown numbers UNKNOWN", () => {
    const names = [
      "UNKNOWN",
      "ESTABLISHED",
      "SYN_SENT",
      "SYN_RECEIVED",
      "FIN_WAIT_1",
      "FIN_WAIT_2",
      "TIME_WAIT",
      "CLOSED",
      "CLOSE_WAIT",
      "LAST_ACK",
      "LISTEN",
      "CLOSING",
      "NEW_SYN_RECV",
      "BOUND_INACTIVE",
      "UNKNOWN",
    ];
    names.forEach((name, n) => {
      const b = new Uint8Array(8);
      b[0] = n;
      assert.equal(decodeLinuxTcpInfo(b, 8).state, name, `state ${n}`);
    });
    assert.equal(decodeLinuxTcpInfo(new Uint8Array(0), 0).state, "UNKNOWN");
  });
});
