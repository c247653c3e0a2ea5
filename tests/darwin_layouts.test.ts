/**
 * macOS layouts, checked on any OS by decoding byte fixtures. Every offset below is typed
 * from the XNU headers (xnu-11417.101.15, via /work/shared/FACTS.md §4), not read from the
 * tables under test. A fixture typed from the same reading as a table cannot catch a shared
 * misreading (these once put the ECN bits one bit off, as the tables did): the independent
 * check is tests/darwin_layout_oracle.test.ts, which compares the tables with clang's layout.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  DARWIN_PRIVATE_TCP_INFO,
  DARWIN_PRIVATE_TCP_INFO_352,
  DARWIN_TCP_CONNECTION_INFO,
  darwinPrivateLayout,
  decodeDarwinConnectionInfo,
  decodeDarwinPrivateTcpInfo,
} from "../platform/darwin/tcp_info_layout.ts";
import { DARWIN, darwin, darwinStateName, decodeDarwinTcpInfo } from "../platform/darwin/mod.ts";
import { DARWIN_ERRNO } from "../platform/darwin/errno.ts";
import { decode, type Layout } from "../platform/layout.ts";
import { selectPlatform } from "../platform/mod.ts";

type T = "u8" | "u16" | "u32" | "i32" | "u64";
/** A field as the header declares it: key, offset of the field (or its bit word), type, value. */
type Spec = readonly [key: string, offset: number, type: T, value: number];

const BYTES: Record<T, number> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 };

function put(view: DataView, offset: number, type: T, value: number): void {
  switch (type) {
    case "u8":
      return view.setUint8(offset, value);
    case "u16":
      return view.setUint16(offset, value, true);
    case "u32":
      return view.setUint32(offset, value, true);
    case "i32":
      return view.setInt32(offset, value, true);
    case "u64":
      return view.setBigUint64(offset, BigInt(value), true);
  }
}

/** Writes the plain (non-bit) fields of `specs` into a zeroed buffer of `size` bytes. */
function fixture(size: number, specs: readonly Spec[]): { bytes: Uint8Array; view: DataView } {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  for (const [, offset, type, value] of specs) put(view, offset, type, value);
  return { bytes, view };
}

/** Bit fields as [key, bit] of one word, LSB first. */
function bitSpecs(names: readonly string[], offset: number, type: T): Spec[] {
  return names.map((key, bit) => [key, offset, type, bit] as const);
}

const TFO_BITS = [
  "tfoCookieReq",
  "tfoCookieRcv",
  "tfoSynLoss",
  "tfoSynDataSent",
  "tfoSynDataAcked",
  "tfoSynDataRcv",
  "tfoCookieReqRcv",
  "tfoCookieSent",
  "tfoCookieInvalid",
  "tfoCookieWrong",
  "tfoNoCookieRcv",
  "tfoHeuristicsDisable",
  "tfoSendBlackhole",
  "tfoRecvBlackhole",
  "tfoOnebyteProxy",
] as const;

const ECN_BITS = [
  "ecnClientSetup",
  "ecnServerSetup",
  "ecnSuccess",
  "ecnLostSyn",
  "ecnLostSynack",
  "localPeer",
  "ifCell",
  "ifWifi",
  "ifWired",
  "ifWifiInfra",
  "ifWifiAwdl",
  "sndBackground",
  "rcvBackground",
  "l4sEnabled",
] as const;

// struct tcp_connection_info, bsd/netinet/tcp.h: natural alignment, 112 bytes.
const CONN: readonly Spec[] = [
  ["stateNumber", 0, "u8", 4],
  ["sndWscale", 1, "u8", 6],
  ["rcvWscale", 2, "u8", 7],
  ["options", 4, "u32", 0xf],
  ["flags", 8, "u32", 3],
  ["rto", 12, "u32", 201],
  ["maxseg", 16, "u32", 1448],
  ["sndSsthresh", 20, "u32", 0x7fff_fff1],
  ["sndCwnd", 24, "u32", 14_480],
  ["sndWnd", 28, "u32", 131_072],
  ["sndSbbytes", 32, "u32", 5_000],
  ["rcvWnd", 36, "u32", 65_536],
  ["rttcur", 40, "u32", 11],
  ["srtt", 44, "u32", 12],
  ["rttvar", 48, "u32", 5],
  ["txpackets", 56, "u64", 2 ** 40 + 1],
  ["txbytes", 64, "u64", 2 ** 33 + 7],
  ["txretransmitbytes", 72, "u64", 1_234],
  ["rxpackets", 80, "u64", 99],
  ["rxbytes", 88, "u64", 2 ** 45 + 3],
  ["rxoutoforderbytes", 96, "u64", 77],
  ["txretransmitpackets", 104, "u64", 2 ** 32 + 9],
];
const CONN_BITS = bitSpecs(TFO_BITS, 52, "u32");

// struct tcp_info, bsd/netinet/tcp_private.h, #pragma pack(4): u64s on 4-byte boundaries.
const PRIVATE_COMMON: readonly Spec[] = [
  ["stateNumber", 0, "u8", 4],
  ["options", 1, "u8", 0xb],
  ["sndWscale", 2, "u8", 6],
  ["rcvWscale", 3, "u8", 8],
  ["flags", 4, "u32", 2],
  ["rto", 8, "u32", 230],
  ["sndMss", 12, "u32", 1448],
  ["rcvMss", 16, "u32", 1449],
  ["rttcur", 20, "u32", 21],
  ["srtt", 24, "u32", 22],
  ["rttvar", 28, "u32", 23],
  ["rttbest", 32, "u32", 24],
  ["sndSsthresh", 36, "u32", 1_073_725_440],
  ["sndCwnd", 40, "u32", 28_960],
  ["rcvSpace", 44, "u32", 131_000],
  ["sndWnd", 48, "u32", 262_144],
  ["sndNxt", 52, "u32", 0xdead_beef],
  ["rcvNxt", 56, "u32", 0x1234_5678],
  ["lastOutif", 60, "i32", -7],
  ["sndSbbytes", 64, "u32", 70_000],
  ["txpackets", 68, "u64", 2 ** 36 + 5],
  ["txbytes", 76, "u64", 2 ** 41 + 11],
  ["txretransmitbytes", 84, "u64", 4_321],
  ["txunacked", 92, "u64", 2 ** 32 + 17],
  ["rxpackets", 100, "u64", 2 ** 34 + 1],
  ["rxbytes", 108, "u64", 2 ** 44 + 2],
  ["rxduplicatebytes", 116, "u64", 555],
  ["rxoutoforderbytes", 124, "u64", 666],
  ["sndBw", 132, "u64", 2 ** 35 + 8],
  ["synrexmits", 140, "u8", 3],
  ["cellRxpackets", 144, "u64", 2 ** 32 + 144],
  ["cellRxbytes", 152, "u64", 2 ** 32 + 152],
  ["cellTxpackets", 160, "u64", 2 ** 32 + 160],
  ["cellTxbytes", 168, "u64", 2 ** 32 + 168],
  ["wifiRxpackets", 176, "u64", 2 ** 32 + 176],
  ["wifiRxbytes", 184, "u64", 2 ** 32 + 184],
  ["wifiTxpackets", 192, "u64", 2 ** 32 + 192],
  ["wifiTxbytes", 200, "u64", 2 ** 32 + 200],
  ["wiredRxpackets", 208, "u64", 2 ** 32 + 208],
  ["wiredRxbytes", 216, "u64", 2 ** 32 + 216],
  ["wiredTxpackets", 224, "u64", 2 ** 32 + 224],
  ["wiredTxbytes", 232, "u64", 2 ** 32 + 232],
  ["connstatus", 240, "u32", 0b1011],
  ["ecnRecvCe", 248, "u32", 248],
  ["ecnRecvCwr", 252, "u32", 252],
  ["rcvoopack", 256, "u32", 256],
  ["pawsdrop", 260, "u32", 260],
  ["sackRecoveryEpisode", 264, "u32", 264],
  ["reorderedPkts", 268, "u32", 268],
  ["dsackSent", 272, "u32", 272],
  ["dsackRecvd", 276, "u32", 276],
  ["flowhash", 280, "u32", 0xcafe_f00d],
  ["txretransmitpackets", 284, "u64", 2 ** 32 + 284],
  ["rcvSrtt", 292, "u32", 292],
  ["clientAccecnState", 296, "u32", 7],
  ["serverAccecnState", 300, "u32", 8],
  ["ecnCapablePacketsSent", 304, "u64", 2 ** 32 + 304],
  ["ecnCapablePacketsAcked", 312, "u64", 2 ** 32 + 312],
  ["ecnCapablePacketsMarked", 320, "u64", 2 ** 32 + 320],
  ["ecnCapablePacketsLost", 328, "u64", 2 ** 32 + 328],
];
const L4S_KEYS = [
  "receivedCePackets",
  "receivedEct0Bytes",
  "receivedEct1Bytes",
  "receivedCeBytes",
  "deliveredEct0Bytes",
  "deliveredEct1Bytes",
  "deliveredCeBytes",
] as const;
// Up to xnu-10002.61.3 / 10063 (≤ 352 bytes): the limited-time fields at 336 and 344.
const PRIVATE_352: readonly Spec[] = [
  ...PRIVATE_COMMON,
  ["flowControlTotalTime", 336, "u64", 2 ** 40 + 336],
  ["rcvwndLimitedTotalTime", 344, "u64", 2 ** 40 + 344],
];
// The ECN run is declared apart from the TFO run, but a run continues in a unit with room:
// its first bit is the free bit 15 of the u16 at 244, the rest start at bit 0 of the next u16.
const ECN_FIRST: Spec = ["ecnClientSetup", 244, "u16", 15];
const PRIVATE_352_BITS = [
  ...bitSpecs(TFO_BITS, 244, "u16"),
  ECN_FIRST,
  ...bitSpecs(ECN_BITS.slice(1, 13), 246, "u16"),
];
// xnu-11215.1.10 and later (408 bytes): seven L4S counters at 336..391, limited times at 392/400.
const PRIVATE_408: readonly Spec[] = [
  ...PRIVATE_COMMON,
  ["receivedCePackets", 336, "u64", 2 ** 40 + 336],
  ["receivedEct0Bytes", 344, "u64", 2 ** 40 + 344],
  ["receivedEct1Bytes", 352, "u64", 2 ** 40 + 352],
  ["receivedCeBytes", 360, "u64", 2 ** 40 + 360],
  ["deliveredEct0Bytes", 368, "u64", 2 ** 40 + 368],
  ["deliveredEct1Bytes", 376, "u64", 2 ** 40 + 376],
  ["deliveredCeBytes", 384, "u64", 2 ** 40 + 384],
  ["flowControlTotalTime", 392, "u64", 2 ** 40 + 392],
  ["rcvwndLimitedTotalTime", 400, "u64", 2 ** 40 + 400],
];
const PRIVATE_408_BITS = [
  ...bitSpecs(TFO_BITS, 244, "u16"),
  ECN_FIRST,
  ...bitSpecs(ECN_BITS.slice(1), 246, "u16"),
];

interface Case {
  name: string;
  layout: Layout;
  size: number;
  specs: readonly Spec[];
  bits: readonly Spec[];
  /** Keys the layout lacks: always `undefined`. */
  absent: readonly string[];
}

const CASES: readonly Case[] = [
  {
    name: "tcp_connection_info",
    layout: DARWIN_TCP_CONNECTION_INFO,
    size: 112,
    specs: CONN,
    bits: CONN_BITS,
    absent: [],
  },
  {
    name: "the 352-byte private tcp_info",
    layout: DARWIN_PRIVATE_TCP_INFO_352,
    size: 352,
    specs: PRIVATE_352,
    bits: PRIVATE_352_BITS,
    absent: [...L4S_KEYS, "l4sEnabled"],
  },
  {
    name: "the 408-byte private tcp_info",
    layout: DARWIN_PRIVATE_TCP_INFO,
    size: 408,
    specs: PRIVATE_408,
    bits: PRIVATE_408_BITS,
    absent: [],
  },
];

function allKeys(c: Case): string[] {
  return [...c.specs.map((s) => s[0]), ...c.bits.map((s) => s[0]), ...c.absent].sort();
}

/** A fixture with every plain field set and a bit pattern `word(offset)` in each bit word. */
function full(c: Case, word: (offset: number) => number = () => 0): Uint8Array {
  const { bytes, view } = fixture(c.size, c.specs);
  for (const offset of new Set(c.bits.map((s) => s[1]))) {
    const type = c.bits.find((s) => s[1] === offset)![2];
    put(view, offset, type, word(offset));
  }
  return bytes;
}

function expectBits(
  got: Record<string, number | undefined>,
  bits: readonly Spec[],
  word: (o: number) => number,
) {
  for (const [key, offset, , bit] of bits) {
    assert.equal(
      got[key],
      Math.floor(word(offset) / 2 ** bit) % 2,
      `${key} (bit ${bit} of the word at ${offset})`,
    );
  }
}

describe("macOS layouts", () => {
  for (const c of CASES) {
    it(`decodes every field of ${c.name} from its header offsets`, () => {
      const got = decode(c.layout, full(c), c.size);
      for (const [key, offset, , value] of c.specs) assert.equal(got[key], value, `${key} at ${offset}`);
      for (const key of c.absent) assert.equal(got[key], undefined, key);
      assert.deepEqual(Object.keys(got).sort(), allKeys(c));
    });

    const words = [...new Set(c.bits.map((s) => s[1]))];
    for (const offset of words) {
      const mine = c.bits.filter((s) => s[1] === offset);
      const wordBits = BYTES[mine[0][2]] * 8;
      it(`decodes ${c.name} bit fields from the word at ${offset} one at a time`, () => {
        for (const [key, , , bit] of mine) {
          const pattern = (o: number) => (o === offset ? 2 ** bit : 0);
          const got = decode(c.layout, full(c, pattern), c.size);
          assert.equal(got[key], 1, `${key} alone`);
          expectBits(got, c.bits, pattern);
        }
      });
      it(`decodes ${c.name} bit fields from the word at ${offset} in mixed patterns`, () => {
        const all = 2 ** wordBits - 1;
        const patterns = [
          0x5555_5555 % 2 ** wordBits,
          0xaaaa_aaaa % 2 ** wordBits,
          all,
          2 ** mine.length - 1,
        ];
        for (const p of patterns) {
          const pattern = (o: number) => (o === offset ? p : 0);
          expectBits(decode(c.layout, full(c, pattern), c.size), c.bits, pattern);
        }
        // Bits past the last declared field are padding: setting them changes nothing.
        const pad = all - (2 ** mine.length - 1);
        const padOnly = (o: number) => (o === offset ? pad : 0);
        const got = decode(c.layout, full(c, padOnly), c.size);
        for (const [key] of mine) assert.equal(got[key], 0, `${key} with only padding bits set`);
        for (const [key, o, , value] of c.specs) {
          assert.equal(got[key], value, `${key} at ${o} beside the bit word`);
        }
      });
    }

    it(`decodes ${c.name} at every length from 0 to ${c.size} without inventing fields`, () => {
      const pattern = (o: number) => (o === words[0] ? 0x5555 : 0x2aaa);
      const bytes = full(c, pattern);
      const keys = allKeys(c);
      for (let length = 0; length <= c.size; length++) {
        const got = decode(c.layout, bytes, length);
        assert.deepEqual(Object.keys(got).sort(), keys, `keys at length ${length}`);
        for (const key of c.absent) assert.equal(got[key], undefined, `${key} at length ${length}`);
        for (const [key, offset, type, value] of [...c.specs, ...c.bits]) {
          const inside = offset + BYTES[type] <= length;
          if (!inside) {
            assert.equal(got[key], undefined, `${key} at length ${length}`);
            continue;
          }
          assert.equal(typeof got[key], "number", `${key} at length ${length}`);
          const want = c.bits.some((s) => s[0] === key)
            ? Math.floor(pattern(offset) / 2 ** value) % 2
            : value;
          assert.equal(got[key], want, `${key} at length ${length}`);
        }
      }
    });

    it(`lists ${c.name} fields in offset order, without overlaps, ending at ${c.size} bytes`, () => {
      const fields = c.layout.fields;
      assert.equal(c.layout.size, c.size);
      for (let i = 1; i < fields.length; i++) {
        const prev = fields[i - 1];
        const f = fields[i];
        if (f.bits && prev.bits && f.offset === prev.offset) {
          assert.equal(f.type, prev.type, `${f.key} shares ${prev.key}'s word`);
          assert.ok(
            f.bits.shift >= prev.bits.shift + prev.bits.width,
            `${f.key} after ${prev.key} in the word`,
          );
          continue;
        }
        assert.ok(f.offset > prev.offset, `${f.key} after ${prev.key}`);
        assert.ok(prev.offset + BYTES[prev.type] <= f.offset, `${prev.key} ends before ${f.key}`);
      }
      for (const f of fields) {
        if (f.bits) assert.ok(f.bits.shift + f.bits.width <= BYTES[f.type] * 8, `${f.key} fits its word`);
      }
      const last = fields[fields.length - 1];
      assert.equal(last.offset + BYTES[last.type], c.size);
    });

    it(`names every key of ${c.name} by its C name in camelCase, with state as stateNumber`, () => {
      for (const f of c.layout.fields) {
        const want = f.c === "state"
          ? "stateNumber"
          : f.c.replace(/_([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
        assert.equal(f.key, want);
        assert.doesNotMatch(f.c, /^tcpi_/);
      }
      const keys = [...c.layout.fields.map((f) => f.key), ...(c.layout.absent ?? [])];
      assert.equal(new Set(keys).size, keys.length, "no key twice");
      assert.deepEqual([...keys].sort(), allKeys(c));
    });
  }

  it("decodes tcp_connection_info TFO bits from the word at 52", () => {
    const c = CASES[0];
    const got = decodeDarwinConnectionInfo(full(c, () => 0b100_0000_0000_0101), 112);
    assert.equal(got.tfoCookieReq, 1);
    assert.equal(got.tfoCookieRcv, 0);
    assert.equal(got.tfoSynLoss, 1);
    assert.equal(got.tfoOnebyteProxy, 1);
    assert.equal(got.tfoRecvBlackhole, 0);
    assert.equal(got.length, 112);
  });

  it("reports txretransmitpackets as undefined from a 104-byte tcp_connection_info", () => {
    const got = decodeDarwinConnectionInfo(full(CASES[0]), 104);
    assert.equal(got.rxoutoforderbytes, 77);
    assert.equal(got.txretransmitpackets, undefined);
    assert.equal(got.length, 104);
  });

  it("reads the private tcp_info u64s on 4-byte boundaries", () => {
    const bytes = new Uint8Array(408);
    const view = new DataView(bytes.buffer);
    view.setUint32(64, 9_000, true); // snd_sbbytes
    view.setBigUint64(68, 0x1_0000_0002n, true); // txpackets
    view.setBigUint64(92, 0x2_0000_0003n, true); // txunacked
    view.setBigUint64(284, 0xffff_ffff_ffff_ffffn, true); // txretransmitpackets, all ones
    const got = decodeDarwinPrivateTcpInfo(bytes, 408);
    assert.equal(got.sndSbbytes, 9_000);
    assert.equal(got.txpackets, 2 ** 32 + 2);
    assert.equal(got.txunacked, 2 * 2 ** 32 + 3);
    assert.equal(got.txretransmitpackets, Infinity);
    assert.equal(got.txbytes, 0);
  });

  it("chooses the private layout by the returned length", () => {
    for (const n of [0, 248, 284, 292, 296, 336, 352]) {
      assert.equal(darwinPrivateLayout(n), DARWIN_PRIVATE_TCP_INFO_352, `length ${n}`);
    }
    for (const n of [353, 408, 424, 512]) {
      assert.equal(darwinPrivateLayout(n), DARWIN_PRIVATE_TCP_INFO, `length ${n}`);
    }
  });

  it("reads the limited-time fields at 336/344 from a 352-byte private tcp_info", () => {
    const got = decodeDarwinPrivateTcpInfo(full(CASES[1]), 352);
    assert.equal(got.flowControlTotalTime, 2 ** 40 + 336);
    assert.equal(got.rcvwndLimitedTotalTime, 2 ** 40 + 344);
    assert.equal(got.receivedCePackets, undefined);
    assert.equal(got.l4sEnabled, undefined);
    assert.equal(got.length, 352);
  });

  it("reads the limited-time fields at 392/400 from a 408-byte private tcp_info", () => {
    const got = decodeDarwinPrivateTcpInfo(full(CASES[2], (o) => (o === 246 ? 1 << 12 : 0)), 408);
    assert.equal(got.receivedCePackets, 2 ** 40 + 336);
    assert.equal(got.deliveredCeBytes, 2 ** 40 + 384);
    assert.equal(got.flowControlTotalTime, 2 ** 40 + 392);
    assert.equal(got.rcvwndLimitedTotalTime, 2 ** 40 + 400);
    assert.equal(got.l4sEnabled, 1);
    assert.equal(got.rcvBackground, 0);
    assert.equal(got.length, 408);
  });

  it("reads ecnClientSetup from bit 15 of the u16 at 244, after the 15 TFO bits", () => {
    for (const c of [CASES[1], CASES[2]]) {
      const got = decode(c.layout, full(c, (o) => (o === 244 ? 0x8000 : 0)), c.size);
      assert.equal(got.ecnClientSetup, 1, c.name);
      assert.equal(got.tfoOnebyteProxy, 0, c.name);
      assert.equal(got.ecnServerSetup, 0, c.name);
    }
  });

  it("gives decoded private tcp_info the same keys at every length", () => {
    const keys = Object.keys(decodeDarwinPrivateTcpInfo(new Uint8Array(512), 408)).sort();
    for (let n = 0; n <= 512; n++) {
      assert.deepEqual(Object.keys(decodeDarwinPrivateTcpInfo(new Uint8Array(512), n)).sort(), keys);
    }
  });

  it("maps macOS state numbers to portable names", () => {
    const names = [
      "CLOSED",
      "LISTEN",
      "SYN_SENT",
      "SYN_RECEIVED",
      "ESTABLISHED",
      "CLOSE_WAIT",
      "FIN_WAIT_1",
      "CLOSING",
      "LAST_ACK",
      "FIN_WAIT_2",
      "TIME_WAIT",
    ];
    names.forEach((name, n) => assert.equal(darwinStateName(n), name));
    assert.equal(darwinStateName(11), "UNKNOWN");
    assert.equal(darwinStateName(undefined), "UNKNOWN");
  });

  it("builds tcpInfo() results with and without the private struct", () => {
    const conn = full(CASES[0]);
    const without = decodeDarwinTcpInfo(conn, 112);
    assert.equal(without.os, "darwin");
    assert.equal(without.state, "ESTABLISHED");
    assert.equal(without.length, 112);
    assert.equal(without.sndSbbytes, 5_000);
    assert.equal(without.private, undefined);
    const withPrivate = decodeDarwinTcpInfo(conn, 112, full(CASES[2]), 408);
    assert.equal(withPrivate.private?.length, 408);
    assert.equal(withPrivate.private?.txunacked, 2 ** 32 + 17);
    const short = decodeDarwinTcpInfo(conn, 0);
    assert.equal(short.state, "UNKNOWN");
    assert.equal(short.stateNumber, undefined);
  });

  it("uses the macOS socket option numbers", () => {
    assert.equal(DARWIN.SOL_SOCKET, 0xffff);
    assert.equal(DARWIN.SO_SNDBUF, 0x1001);
    assert.equal(DARWIN.SO_NWRITE, 0x1024);
    assert.equal(DARWIN.IPPROTO_TCP, 6);
    assert.equal(DARWIN.TCP_CONNECTION_INFO, 0x106);
    assert.equal(DARWIN.TCP_INFO, 0x200);
    assert.equal(DARWIN.TCP_NOTSENT_LOWAT, 0x201);
  });

  it("names macOS errno numbers from bsd/sys/errno.h", () => {
    assert.equal(DARWIN_ERRNO.length, 107); // 0 plus 1..ELAST (106)
    const known: Record<number, string> = {
      1: "EPERM",
      9: "EBADF",
      22: "EINVAL",
      35: "EAGAIN",
      38: "ENOTSOCK",
      42: "ENOPROTOOPT",
      45: "ENOTSUP",
      54: "ECONNRESET",
      57: "ENOTCONN",
      60: "ETIMEDOUT",
      102: "EOPNOTSUPP",
      106: "EQFULL",
    };
    for (const [n, name] of Object.entries(known)) assert.equal(DARWIN_ERRNO[Number(n)], name);
    assert.equal(new Set(DARWIN_ERRNO.slice(1)).size, 106, "every name once");
  });

  it("selects the darwin platform for darwin", () => {
    const p = selectPlatform("darwin");
    assert.equal(p.os, "darwin");
    assert.equal(p, darwin);
  });
});
