/**
 * Linux: `sock_diag` replies straight to JSON bytes, for `sockbuf ls --json`. On a host with
 * tens of thousands of sockets, building an object per socket, `JSON.stringify` and encoding
 * the string took most of the command's time, and so did touching fresh memory: megabytes of
 * objects and text, where each new page costs a fault (measured here: about 25 µs a page on
 * this VM, so 16 MB of new memory is ~100 ms). Here each socket is kept as a 128-byte record
 * of the fields its entry shows, and the JSON written in the order asked for through one small
 * buffer that is reused for every piece.
 *
 * Each socket's JSON is byte for byte `JSON.stringify` of the entry diag_parse.ts builds
 * (without `tcpInfo` and `processes`): the same keys in the same order, absent fields left
 * out. tests/diag_json.test.ts holds the two to that on real and mutated replies.
 *
 * @module
 */
import type { TcpState } from "../../types.ts";
import type { SocketJson, SocketJsonField } from "../types.ts";
import { DIAG, findAttributes, ipv6, walkDiagReplies } from "./diag_parse.ts";

/** ASCII text as bytes. */
const ascii = (text: string): Uint8Array => Uint8Array.from(text, (c) => c.charCodeAt(0));

/** "0" … "255" as bytes, for IPv4 addresses. */
const OCTETS: readonly Uint8Array[] = Array.from({ length: 256 }, (_, i) => ascii(`${i}`));

/**
 * The most bytes one socket's JSON can take: about 420 of keys, 25 numbers of at most 20
 * digits and two addresses of at most 47 with quotes.
 */
const MAX_ENTRY = 2048;
/** The output piece: big enough that writes are few, small enough to stay in cache. */
const PIECE = 1 << 18;

/** A socket's record: 32 u32 words. */
const WORDS = 32;
/** Records per chunk: chunks are never copied to grow, so each page is touched once. */
const CHUNK = 512;
// Word 0: family | state << 8 | flags << 16. Word 1: local port << 16 | peer port.
// Bytes 8..24, 24..40: the local and peer address as the kernel sent them. Then words:
const UID = 10, INODE = 11, COOKIE_LO = 12, COOKIE_HI = 13, RQUEUE = 14, WQUEUE = 15;
const UNACKED = 16, RTT = 17, CWND = 18, UNSENT = 19, MEM = 20; // MEM..MEM+8: sk_meminfo
// Flags: which fields the entry has (entryAt's attribute-length checks).
const SEND = 1, SEND_MEMORY = 2, MEMORY = 4, DROPS = 8, HAS_UNSENT = 16, HAS_UNACKED = 32, HAS_RTT = 64;
const HAS_CWND = 128;

// The output piece and its end while a listing is written (one thread writes at a time).
const out = new Uint8Array(PIECE);
let at = 0;

/** Writes `t` (ASCII bytes). */
function text(t: Uint8Array): void {
  for (let i = 0; i < t.length; i++) out[at + i] = t[i];
  at += t.length;
}

/** "00" … "99": two digits per division. */
const PAIRS = Uint8Array.from({ length: 200 }, (_, i) => 48 + (i & 1 ? (i >> 1) % 10 : ((i >> 1) / 10) | 0));

/** Writes a non-negative integer as `JSON.stringify` does. */
function num(n: number): void {
  if (n < 10) {
    out[at++] = 48 + n;
    return;
  }
  if (n > 0x7fffffff) {
    // Beyond int32 (a cookie with a high half, a u32 past 2^31): the engine's own number-to-text
    const s = String(n);
    for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
    at += s.length;
    return;
  }
  const len = n < 100
    ? 2
    : n < 1e4
    ? (n < 1e3 ? 3 : 4)
    : n < 1e6
    ? (n < 1e5 ? 5 : 6)
    : n < 1e8
    ? (n < 1e7 ? 7 : 8)
    : (n < 1e9 ? 9 : 10);
  let p = at + len;
  while (n >= 100) {
    const q = (n / 100) | 0;
    const d = (n - q * 100) * 2;
    out[--p] = PAIRS[d + 1];
    out[--p] = PAIRS[d];
    n = q;
  }
  if (n >= 10) {
    out[--p] = PAIRS[n * 2 + 1];
    out[--p] = PAIRS[n * 2];
  } else {
    out[--p] = 48 + n;
  }
  at += len;
}

/** Writes the address at byte `a` of `bytes` as a JSON string. */
function address(bytes: Uint8Array, a: number, family: number): void {
  out[at++] = 34; // "
  if (family === 4) {
    text(OCTETS[bytes[a]]);
    out[at++] = 46; // .
    text(OCTETS[bytes[a + 1]]);
    out[at++] = 46;
    text(OCTETS[bytes[a + 2]]);
    out[at++] = 46;
    text(OCTETS[bytes[a + 3]]);
  } else {
    const s = ipv6(bytes, a);
    for (let i = 0; i < s.length; i++) out[at + i] = s.charCodeAt(i);
    at += s.length;
  }
  out[at++] = 34;
}

/** Collects the sockets of `sock_diag` datagrams; {@linkcode DiagJson.result} gives them. */
export class DiagJson {
  readonly #words: Uint32Array[] = [];
  readonly #bytes: Uint8Array[] = [];
  #count = 0;
  readonly #found = new Int32Array(4);
  /** `,"state":"NAME"` as bytes, by state number. */
  readonly #stateKey: Uint8Array[];

  /** @param states state names by Linux number, as diag_parse.ts's `ParseOptions.states` */
  constructor(states: readonly TcpState[]) {
    this.#stateKey = states.map((s) => ascii(`,"state":${JSON.stringify(s)}`));
  }

  /**
   * Takes the sockets of request `seq` in one datagram.
   * @returns true once the dump's `NLMSG_DONE` is seen
   * @throws {SockbufError} exactly where `parseDiagReplies` throws, keeping the sockets before
   */
  datagram(bytes: Uint8Array, length: number, seq: number): boolean {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return walkDiagReplies(bytes, length, seq, (b, end) => this.#take(bytes, v, b, end));
  }

  /** The sockets so far. */
  result(): SocketJson {
    return {
      count: this.#count,
      field: (i, name) => this.#field(i, name),
      json: (order, write) => this.#json(order, write),
    };
  }

  /** Records the socket whose `inet_diag_msg` is at `b`, reading what `entryAt` reads. */
  #take(bytes: Uint8Array, v: DataView, b: number, end: number): void {
    const i = this.#count++;
    if ((i & (CHUNK - 1)) === 0) {
      const words = new Uint32Array(CHUNK * WORDS);
      this.#words.push(words);
      this.#bytes.push(new Uint8Array(words.buffer));
    }
    const w = this.#words[i >>> 9];
    const r = (i & (CHUNK - 1)) * WORDS;
    const f = this.#found;
    findAttributes(bytes, b, end, f);
    const infoAt = f[0], infoLen = f[1], memAt = f[2], memLen = f[3];
    const state = bytes[b + 1];
    const listener = state === DIAG.TCP_LISTEN;
    let flags = 0;
    if (memLen >= 16) flags |= SEND;
    if (memLen >= 24) flags |= SEND_MEMORY;
    if (memLen >= 32) flags |= MEMORY;
    if (memLen >= 36) flags |= DROPS;
    if (infoLen >= 148) (flags |= HAS_UNSENT, w[r + UNSENT] = v.getUint32(infoAt + 144, true));
    if (infoLen >= 28 && !listener) (flags |= HAS_UNACKED, w[r + UNACKED] = v.getUint32(infoAt + 24, true));
    if (infoLen >= 72) (flags |= HAS_RTT, w[r + RTT] = v.getUint32(infoAt + 68, true));
    if (infoLen >= 84) (flags |= HAS_CWND, w[r + CWND] = v.getUint32(infoAt + 80, true));
    w[r] = (bytes[b] === 10 ? 6 : 4) | (state << 8) | (flags << 16);
    w[r + 1] = (((bytes[b + 4] << 8) | bytes[b + 5]) << 16 | (bytes[b + 6] << 8) | bytes[b + 7]) >>> 0;
    // The addresses, 8 words as they lie (byte order kept: the words are only copied)
    for (let k = 0; k < 8; k++) w[r + 2 + k] = v.getUint32(b + 8 + 4 * k, true);
    w[r + UID] = v.getUint32(b + 64, true);
    w[r + INODE] = v.getUint32(b + 68, true);
    w[r + COOKIE_LO] = v.getUint32(b + 44, true);
    w[r + COOKIE_HI] = v.getUint32(b + 48, true);
    w[r + RQUEUE] = v.getUint32(b + 56, true);
    w[r + WQUEUE] = v.getUint32(b + 60, true);
    const words = Math.min(9, memLen >> 2);
    for (let k = 0; k < words; k++) w[r + MEM + k] = v.getUint32(memAt + 4 * k, true);
  }

  /** Socket `i`'s field, as {@linkcode SocketJson.field}. */
  #field(i: number, name: SocketJsonField): number {
    if (!(i >= 0 && i < this.#count)) throw new RangeError(`Expected a socket number, got ${i}`);
    const w = this.#words[i >>> 9];
    const r = (i & (CHUNK - 1)) * WORDS;
    const flags = w[r] >>> 16;
    const send = (flags & SEND) !== 0;
    switch (name) {
      case "localPort":
        return w[r + 1] >>> 16;
      case "rttMicros":
        return flags & HAS_RTT ? w[r + RTT] : -1;
      case "cwndSegments":
        return flags & HAS_CWND ? w[r + CWND] : -1;
      case "size":
        return send ? w[r + MEM + 3] : -1;
      case "queued":
        return send ? (((w[r] >>> 8) & 0xff) === DIAG.TCP_LISTEN ? 0 : w[r + WQUEUE]) : -1;
      case "unsent":
        return send && flags & HAS_UNSENT ? w[r + UNSENT] : -1;
      case "unackedSegments":
        return send && flags & HAS_UNACKED ? w[r + UNACKED] : -1;
    }
  }

  /** Writes the JSON array of these sockets in `order`, a piece at a time. */
  #json(order: ArrayLike<number>, write: (piece: Uint8Array) => void): void {
    for (let k = 0; k < order.length; k++) {
      const i = order[k];
      if (!(i >= 0 && i < this.#count)) throw new RangeError(`Expected a socket number, got ${i}`);
    }
    at = 0;
    out[at++] = 0x5b; // [
    for (let k = 0; k < order.length; k++) {
      if (at + MAX_ENTRY > PIECE) {
        const full = at;
        at = 0;
        write(out.subarray(0, full));
      }
      if (k > 0) out[at++] = 0x2c; // ,
      this.#socket(order[k]);
    }
    out[at++] = 0x5d; // ]
    const last = at;
    at = 0;
    write(out.subarray(0, last));
  }

  /** One socket: the fields of diag_parse.ts's `entryAt`, in its order. */
  #socket(i: number): void {
    const w = this.#words[i >>> 9], bytes = this.#bytes[i >>> 9];
    const r = (i & (CHUNK - 1)) * WORDS;
    const head = w[r];
    const family = head & 0xff, state = (head >>> 8) & 0xff, flags = head >>> 16;
    const stateKey = this.#stateKey[state] ?? K.unknown;
    const listener = state === DIAG.TCP_LISTEN;
    text(family === 4 ? K.family4 : K.family6);
    address(bytes, r * 4 + 8, family);
    text(K.port);
    num(w[r + 1] >>> 16);
    text(K.peer);
    address(bytes, r * 4 + 24, family);
    text(K.port);
    num(w[r + 1] & 0xffff);
    text(K.closePeer);
    text(stateKey);
    text(K.uid);
    num(w[r + UID]);
    text(K.inode);
    num(w[r + INODE]);
    text(K.cookie);
    num(w[r + COOKIE_LO] + w[r + COOKIE_HI] * 4294967296);
    if (flags & SEND) {
      const size = w[r + MEM + 3];
      const queued = listener ? 0 : w[r + WQUEUE];
      text(K.size);
      num(size);
      text(K.queued);
      num(queued);
      if (flags & HAS_UNSENT) {
        const unsent = w[r + UNSENT];
        text(K.unsent);
        num(unsent);
        text(K.unackedBytes);
        num(Math.max(0, queued - unsent));
      }
      if (flags & HAS_UNACKED) {
        text(K.unackedSegments);
        num(w[r + UNACKED]);
      }
      text(K.free);
      num(Math.max(0, size - queued));
      text(stateKey);
      if (flags & SEND_MEMORY) {
        text(K.sendMemory);
        num(size);
        text(K.wmemQueued);
        num(w[r + MEM + 5]);
        out[at++] = 125; // }
      }
      out[at++] = 125;
    }
    if (listener) {
      text(K.acceptQueue);
      num(w[r + RQUEUE]);
      text(K.limit);
      num(w[r + WQUEUE]);
      out[at++] = 125;
    } else {
      text(K.receiveQueued);
      num(w[r + RQUEUE]);
    }
    if (flags & MEMORY) {
      for (let k = 0; k < 8; k++) {
        text(K.memory[k]);
        num(w[r + MEM + k]);
      }
      if (flags & DROPS) {
        text(K.drops);
        num(w[r + MEM + 8]);
      }
      out[at++] = 125;
    }
    if (flags & HAS_CWND) {
      text(K.cwnd);
      num(w[r + CWND]);
    }
    if (flags & HAS_RTT) {
      text(K.rtt);
      num(w[r + RTT]);
    }
    out[at++] = 125;
  }
}

/** The constant pieces between the numbers and strings, in the order `entryAt` creates keys. */
const K = {
  family4: ascii(`{"family":4,"local":{"address":`),
  family6: ascii(`{"family":6,"local":{"address":`),
  port: ascii(`,"port":`),
  peer: ascii(`},"peer":{"address":`),
  closePeer: ascii(`}`),
  unknown: ascii(`,"state":"UNKNOWN"`),
  uid: ascii(`,"uid":`),
  inode: ascii(`,"inode":`),
  cookie: ascii(`,"cookie":`),
  size: ascii(`,"sendBuffer":{"size":`),
  queued: ascii(`,"queued":`),
  unsent: ascii(`,"unsent":`),
  unackedBytes: ascii(`,"unackedBytes":`),
  unackedSegments: ascii(`,"unackedSegments":`),
  free: ascii(`,"free":`),
  sendMemory: ascii(`,"memory":{"sndbuf":`),
  wmemQueued: ascii(`,"wmemQueued":`),
  receiveQueued: ascii(`,"receiveQueued":`),
  acceptQueue: ascii(`,"acceptQueue":{"length":`),
  limit: ascii(`,"limit":`),
  memory: [
    `,"memory":{"rmemAlloc":`,
    `,"rcvbuf":`,
    `,"wmemAlloc":`,
    `,"sndbuf":`,
    `,"fwdAlloc":`,
    `,"wmemQueued":`,
    `,"optmem":`,
    `,"backlog":`,
  ].map(ascii),
  drops: ascii(`,"drops":`),
  cwnd: ascii(`,"cwndSegments":`),
  rtt: ascii(`,"rttMicros":`),
} as const;
