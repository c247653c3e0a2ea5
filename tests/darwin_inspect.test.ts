/**
 * inspect() on macOS, run on any OS over byte fixtures (issue 14 item 1): two syscalls, the
 * private TCP_INFO and SO_SNDBUF, with `queued` from `tcpi_snd_sbbytes`; SO_NWRITE only where
 * the private struct is refused or too short to hold it.
 *
 * What this cannot check: that `tcpi_snd_sbbytes` equals SO_NWRITE on a real Mac. That rests
 * on XNU's source (xnu-11417.101.15): `tcp_fill_info` sets `tcpi_snd_sbbytes =
 * inp->inp_socket->so_snd.sb_cc` and `sogetoptlock` answers SO_NWRITE with
 * `so->so_snd.sb_cc`. The offsets below are typed from the header (FACTS §4: state u8 at 0,
 * snd_sbbytes u32 at 64, txunacked u64 at 92 under `#pragma pack(4)`), not read from the
 * tables under test; tests/darwin_layout_oracle.test.ts checks those tables against clang.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Libc } from "../ffi/mod.ts";
import { DARWIN, inspectDarwin } from "../platform/darwin/mod.ts";
import { DARWIN_ERRNO } from "../platform/darwin/errno.ts";

const ENOPROTOOPT = DARWIN_ERRNO.indexOf("ENOPROTOOPT");
const ESTABLISHED = 4; // TCPS_ESTABLISHED, bsd/netinet/tcp_fsm.h

/** What the fake kernel answers, per option. */
interface Answers {
  /** The private struct's returned length, or a negative errno. */
  tcpInfoLength: number;
  sbbytes: number;
  txunacked: number;
  sndbuf: number;
  nwrite: number;
}

/** A Libc that answers getsockopt from fixtures and records each option asked. */
function macKernel(a: Answers, calls: string[]): Libc {
  const names: Record<string, string> = {
    [`${DARWIN.IPPROTO_TCP}/${DARWIN.TCP_INFO}`]: "TCP_INFO",
    [`${DARWIN.IPPROTO_TCP}/${DARWIN.TCP_CONNECTION_INFO}`]: "TCP_CONNECTION_INFO",
    [`${DARWIN.SOL_SOCKET}/${DARWIN.SO_SNDBUF}`]: "SO_SNDBUF",
    [`${DARWIN.SOL_SOCKET}/${DARWIN.SO_NWRITE}`]: "SO_NWRITE",
  };
  return {
    getsockopt(_fd: number, level: number, name: number, buf: Uint8Array): number {
      const what = names[`${level}/${name}`] ?? `${level}/${name}`;
      calls.push(what);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      buf.fill(0);
      switch (what) {
        case "TCP_INFO": {
          if (a.tcpInfoLength < 0) return a.tcpInfoLength;
          const full = new Uint8Array(408);
          const v = new DataView(full.buffer);
          v.setUint8(0, ESTABLISHED);
          v.setUint32(64, a.sbbytes, true);
          v.setBigUint64(92, BigInt(a.txunacked), true);
          buf.set(full.subarray(0, a.tcpInfoLength));
          return a.tcpInfoLength;
        }
        case "TCP_CONNECTION_INFO":
          view.setUint8(0, ESTABLISHED);
          view.setUint32(32, a.sbbytes, true); // tcpi_snd_sbbytes, unused by inspect
          return 112;
        case "SO_SNDBUF":
          view.setInt32(0, a.sndbuf, true);
          return 4;
        case "SO_NWRITE":
          view.setInt32(0, a.nwrite, true);
          return 4;
      }
      return -ENOPROTOOPT;
    },
  } as unknown as Libc;
}

describe("inspect() on macOS (byte fixtures)", () => {
  const base = { sbbytes: 100_000, txunacked: 30_000, sndbuf: 131_072, nwrite: 100_000 };

  it("makes two calls, with queued from tcpi_snd_sbbytes", () => {
    const calls: string[] = [];
    // SO_NWRITE would answer otherwise: a result of 100000 could only come from the struct.
    const buf = inspectDarwin(macKernel({ ...base, tcpInfoLength: 408, nwrite: 1 }, calls), 3);
    assert.deepEqual(calls, ["TCP_INFO", "SO_SNDBUF"]);
    assert.deepEqual(buf, {
      size: 131_072,
      queued: 100_000,
      unsent: 70_000,
      unackedBytes: 30_000,
      unackedSegments: undefined,
      free: 31_072,
      state: "ESTABLISHED",
      memory: undefined,
    });
  });

  it("asks SO_NWRITE where the private TCP_INFO is refused", () => {
    const calls: string[] = [];
    const buf = inspectDarwin(macKernel({ ...base, tcpInfoLength: -ENOPROTOOPT }, calls), 3);
    assert.deepEqual(calls, ["TCP_INFO", "TCP_CONNECTION_INFO", "SO_SNDBUF", "SO_NWRITE"]);
    assert.equal(buf.queued, 100_000);
    assert.equal(buf.unsent, undefined);
    assert.equal(buf.unackedBytes, undefined);
    assert.equal(buf.state, "ESTABLISHED");
  });

  it("asks SO_NWRITE where the private TCP_INFO ends before tcpi_snd_sbbytes", () => {
    const calls: string[] = [];
    const buf = inspectDarwin(macKernel({ ...base, tcpInfoLength: 64 }, calls), 3);
    assert.deepEqual(calls, ["TCP_INFO", "SO_SNDBUF", "SO_NWRITE"]);
    assert.equal(buf.queued, 100_000);
    assert.equal(buf.unsent, undefined);
  });

  it("takes queued from the struct when it holds sbbytes but not txunacked", () => {
    const calls: string[] = [];
    const buf = inspectDarwin(macKernel({ ...base, tcpInfoLength: 68, nwrite: 1 }, calls), 3);
    assert.deepEqual(calls, ["TCP_INFO", "SO_SNDBUF"]);
    assert.equal(buf.queued, 100_000);
    assert.equal(buf.unackedBytes, undefined);
  });
});
