/**
 * Linux netlink `sock_diag` for TCP: the request bytes and the reply parser, with no I/O, so
 * tests can feed the parser anything.
 *
 * Layouts from include/uapi/linux/netlink.h (`nlmsghdr`, `nlmsgerr`, `nlattr`),
 * include/uapi/linux/sock_diag.h (`SOCK_DIAG_BY_FAMILY`, `SK_MEMINFO_*`) and
 * include/uapi/linux/inet_diag.h (`inet_diag_req_v2`, `inet_diag_msg`, `inet_diag_bc_op`);
 * the filter program's rules from net/ipv4/inet_diag.c (`inet_diag_bc_run`, `inet_diag_bc_audit`).
 *
 * @module
 */
import { SockbufError } from "../../errors.ts";
import type { LinuxTcpInfo, SendBuffer, SocketEntry, SocketMemory, TcpState } from "../../types.ts";
import { errnoName } from "../posix.ts";
import { LINUX_ERRNO } from "./errno.ts";

/** Netlink and inet_diag numbers. */
export const DIAG = {
  AF_NETLINK: 16,
  SOCK_RAW: 3,
  SOCK_CLOEXEC: 0o2000000,
  NETLINK_SOCK_DIAG: 4,
  SOCK_DIAG_BY_FAMILY: 20,
  NLM_F_REQUEST: 0x1,
  /** NLM_F_ROOT | NLM_F_MATCH */
  NLM_F_DUMP: 0x300,
  NLMSG_NOOP: 1,
  NLMSG_ERROR: 2,
  NLMSG_DONE: 3,
  NLMSG_OVERRUN: 4,
  NLMSG_HDRLEN: 16,
  /** `sizeof(struct inet_diag_req_v2)` */
  REQ_V2_SIZE: 56,
  /** `sizeof(struct inet_diag_msg)` */
  MSG_SIZE: 72,
  INET_DIAG_REQ_BYTECODE: 1,
  INET_DIAG_INFO: 2,
  INET_DIAG_SKMEMINFO: 7,
  /** `nla_type` carries two flag bits (NLA_F_NESTED, NLA_F_NET_BYTEORDER) above these. */
  NLA_TYPE_MASK: 0x3fff,
  BC_JMP: 1,
  BC_S_GE: 2,
  BC_S_LE: 3,
  BC_D_GE: 4,
  BC_D_LE: 5,
  TCP_LISTEN: 10,
  IPPROTO_TCP: 6,
} as const;

/** The `idiag_ext` bit asking for attribute `attr`: `1 << (attr - 1)`. */
export const extBit = (attr: number): number => 1 << (attr - 1);

/**
 * A port filter program (`inet_diag_bc_op`s) for the kernel: every given condition must hold.
 * `either` matches the local or the peer port. Each comparison is a GE and an LE op (the EQ ops
 * exist only since Linux 4.16), each followed by an op whose `no` field holds the port.
 *
 * @returns the program, or `undefined` when there is nothing to filter
 */
export function portBytecode(
  ports: { local?: number; peer?: number; either?: number },
): Uint8Array | undefined {
  // Each op: u8 code, u8 yes, u16 no. Jumps are byte offsets from the op; running off the
  // end (remaining length 0) accepts, landing 4 bytes past it rejects.
  const ops: [code: number, yes: number, no: number][] = [];
  // Appends `port`'s GE/LE pair. A failed test jumps by `fail(at)` from the op at byte `at`,
  // or without `fail` rejects (-1, resolved once the length is known).
  const equal = (ge: number, le: number, port: number, fail?: (at: number) => number) => {
    for (const code of [ge, le]) {
      ops.push([code, 8, fail ? fail(ops.length * 4) : -1], [0, 0, port]);
    }
  };
  if (ports.local !== undefined) equal(DIAG.BC_S_GE, DIAG.BC_S_LE, ports.local);
  if (ports.peer !== undefined) equal(DIAG.BC_D_GE, DIAG.BC_D_LE, ports.peer);
  if (ports.either !== undefined) {
    // (local = P) or (peer = P): a failed local test jumps to the peer test; a passed one
    // reaches a JMP over the peer test. The JMP's `yes` of 4 puts the peer test on the path
    // of `yes` jumps, where the kernel's audit requires every jump target to be.
    const start = ops.length * 4;
    const peerAt = start + 20;
    equal(DIAG.BC_S_GE, DIAG.BC_S_LE, ports.either, (at) => peerAt - at);
    ops.push([DIAG.BC_JMP, 4, 20]); // lands right after the 16-byte peer test
    equal(DIAG.BC_D_GE, DIAG.BC_D_LE, ports.either);
  }
  if (ops.length === 0) return undefined;
  const bytes = new Uint8Array(ops.length * 4);
  const v = new DataView(bytes.buffer);
  ops.forEach(([code, yes, no], i) => {
    // -1 marks "reject": 4 bytes past the end, counted from this op
    const jump = no === -1 ? bytes.length - i * 4 + 4 : no;
    v.setUint8(i * 4, code);
    v.setUint8(i * 4 + 1, yes);
    v.setUint16(i * 4 + 2, jump, true);
  });
  return bytes;
}

/**
 * A dump request: `nlmsghdr` + `inet_diag_req_v2` for TCP in `family` and the states in the
 * `states` bitmask (bit N for state N), asking for the attributes in `ext`, with an optional
 * filter program as an `INET_DIAG_REQ_BYTECODE` attribute.
 */
export function diagRequest(
  family: number,
  states: number,
  ext: number,
  seq: number,
  bytecode?: Uint8Array,
): Uint8Array {
  const attr = bytecode ? 4 + bytecode.length : 0;
  const bytes = new Uint8Array(DIAG.NLMSG_HDRLEN + DIAG.REQ_V2_SIZE + attr);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, bytes.length, true);
  v.setUint16(4, DIAG.SOCK_DIAG_BY_FAMILY, true);
  v.setUint16(6, DIAG.NLM_F_REQUEST | DIAG.NLM_F_DUMP, true);
  v.setUint32(8, seq, true);
  // nlmsg_pid 0: the kernel. The sockid (ports, addresses, cookie) is zero: a dump ignores it.
  bytes[16] = family;
  bytes[17] = DIAG.IPPROTO_TCP;
  bytes[18] = ext;
  v.setUint32(20, states >>> 0, true);
  if (bytecode) {
    const at = DIAG.NLMSG_HDRLEN + DIAG.REQ_V2_SIZE;
    v.setUint16(at, attr, true);
    v.setUint16(at + 2, DIAG.INET_DIAG_REQ_BYTECODE, true);
    bytes.set(bytecode, at + 4);
  }
  return bytes;
}

/** How to turn replies into entries. */
export interface ParseOptions {
  /** Replies to another request (another `nlmsg_seq`) are skipped. */
  readonly seq: number;
  /** State names by Linux number (`include/net/tcp_states.h`). */
  readonly states: readonly TcpState[];
  /** Decodes a whole `tcp_info` of `length` bytes; given only when the caller wants it. */
  readonly tcpInfo?: (bytes: Uint8Array, length: number) => LinuxTcpInfo;
  /** Decode it only for the entries this accepts (it sees them without `tcpInfo`); all when absent. */
  readonly wantsTcpInfo?: (entry: SocketEntry) => boolean;
}

/** The `SockbufError` for a reply that does not parse. */
function malformed(detail: string): SockbufError {
  return new SockbufError(`parse a sock_diag reply: ${detail}`, "recv", 74, "EBADMSG");
}

/** The `SockbufError` for an errno the kernel returned in a reply. */
function refused(errno: number): SockbufError {
  return new SockbufError("list sockets (sock_diag)", "recv", errno, errnoName(LINUX_ERRNO, errno));
}

/** "0" … "255", so an IPv4 address is built from four lookups. */
const DECIMAL: readonly string[] = Array.from({ length: 256 }, (_, i) => `${i}`);

/** IPv4 text from the 4 bytes at `at`. */
export function ipv4(b: Uint8Array, at: number): string {
  return `${DECIMAL[b[at]]}.${DECIMAL[b[at + 1]]}.${DECIMAL[b[at + 2]]}.${DECIMAL[b[at + 3]]}`;
}

/** IPv6 text from the 16 bytes at `at`, in the form glibc's `inet_ntop` (and so `ss`) prints. */
export function ipv6(b: Uint8Array, at: number): string {
  const w = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 8; i++) w[i] = (b[at + 2 * i] << 8) | b[at + 2 * i + 1];
  // The longest run of two or more zero words (the first on a tie) becomes "::" (RFC 5952).
  let base = -1, len = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > len && j - i >= 2) [base, len] = [i, j - i];
    i = j;
  }
  // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d with a nonzero 7th word)
  // addresses end in dotted quad, as glibc's inet_ntop prints them (tests/diag_fuzz.test.ts).
  const v4 = base === 0 && (len === 6 || (len === 5 && w[5] === 0xffff));
  let s = "";
  const words = v4 ? 6 : 8;
  for (let i = 0; i < words; i++) {
    if (i === base) {
      s += "::";
      i += len - 1;
      continue;
    }
    if (s !== "" && !s.endsWith(":")) s += ":";
    s += w[i].toString(16);
  }
  return v4 ? s + (s.endsWith(":") ? "" : ":") + ipv4(b, at + 12) : s;
}

/**
 * Parses one datagram of `sock_diag` replies (`length` bytes of `bytes`), appending an entry
 * per socket to `out`.
 *
 * @returns true once the dump's `NLMSG_DONE` is seen
 * @throws {SockbufError} `EBADMSG` for a message whose length does not fit, or the errno an
 * `NLMSG_ERROR` or `NLMSG_DONE` carries. Nothing else: attributes cut short are ignored.
 */
export function parseDiagReplies(
  bytes: Uint8Array,
  length: number,
  opts: ParseOptions,
  out: SocketEntry[],
): boolean {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return walkDiagReplies(bytes, length, opts.seq, (b, end) => out.push(entryAt(bytes, v, b, end, opts)));
}

/**
 * Walks one datagram of `sock_diag` replies, calling `onSocket` with the byte offsets of each
 * `inet_diag_msg` of request `seq` and of its message's end; what {@linkcode parseDiagReplies}
 * and the JSON writer (diag_json.ts) share, so both accept and refuse exactly the same input.
 *
 * @returns true once the dump's `NLMSG_DONE` is seen
 * @throws {SockbufError} as {@linkcode parseDiagReplies}
 */
export function walkDiagReplies(
  bytes: Uint8Array,
  length: number,
  seq: number,
  onSocket: (b: number, end: number) => void,
): boolean {
  const n = Math.min(length, bytes.byteLength);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let o = 0;
  // A tail shorter than a header is padding: the kernel never sends one.
  while (n - o >= DIAG.NLMSG_HDRLEN) {
    const len = v.getUint32(o, true);
    if (len < DIAG.NLMSG_HDRLEN || len > n - o) {
      throw malformed(`a message of ${len} bytes at byte ${o} of ${n}`);
    }
    const type = v.getUint16(o + 4, true);
    if (v.getUint32(o + 8, true) === seq) {
      if (type === DIAG.NLMSG_DONE) {
        // A dump that failed part-way says so with a negative errno in DONE's payload.
        const err = len >= 20 ? v.getInt32(o + 16, true) : 0;
        if (err < 0) throw refused(-err);
        return true;
      }
      if (type === DIAG.NLMSG_ERROR) {
        if (len < 20) throw malformed(`an NLMSG_ERROR of ${len} bytes`);
        const err = v.getInt32(o + 16, true);
        if (err > 0) throw malformed(`an NLMSG_ERROR with error ${err}`);
        if (err < 0) throw refused(-err);
        // 0 is an acknowledgement
      } else if (type === DIAG.NLMSG_OVERRUN) {
        throw malformed("NLMSG_OVERRUN: the kernel lost data");
      } else if (type === DIAG.SOCK_DIAG_BY_FAMILY) {
        if (len < DIAG.NLMSG_HDRLEN + DIAG.MSG_SIZE) throw malformed(`an inet_diag_msg of ${len} bytes`);
        onSocket(o + DIAG.NLMSG_HDRLEN, o + len);
      }
    }
    o += (len + 3) & ~3;
  }
  return false;
}

/**
 * Finds the `INET_DIAG_INFO` and `INET_DIAG_SKMEMINFO` attributes after the `inet_diag_msg`
 * at `b`, writing `[infoAt, infoLen, memAt, memLen]` into `found` (lengths 0 when absent).
 * An attribute whose length is below its header or past the message ends the search,
 * keeping what came before.
 */
export function findAttributes(bytes: Uint8Array, b: number, end: number, found: Int32Array): void {
  let infoAt = 0, infoLen = 0, memAt = 0, memLen = 0;
  for (let a = b + DIAG.MSG_SIZE; end - a >= 4;) {
    const alen = bytes[a] | (bytes[a + 1] << 8);
    if (alen < 4 || alen > end - a) break;
    const type = (bytes[a + 2] | (bytes[a + 3] << 8)) & DIAG.NLA_TYPE_MASK;
    if (type === DIAG.INET_DIAG_INFO) {
      infoAt = a + 4;
      infoLen = alen - 4;
    } else if (type === DIAG.INET_DIAG_SKMEMINFO) {
      memAt = a + 4;
      memLen = alen - 4;
    }
    a += (alen + 3) & ~3;
  }
  found[0] = infoAt;
  found[1] = infoLen;
  found[2] = memAt;
  found[3] = memLen;
}

/** Scratch for {@linkcode findAttributes}: one per module, as a CLI parses in one thread. */
const found = new Int32Array(4);

/**
 * The entry for the `inet_diag_msg` at `b` whose message ends at `end`. Written for the
 * first, unoptimised run too (a CLI parses once): no closures or temporary arrays per entry.
 */
function entryAt(bytes: Uint8Array, v: DataView, b: number, end: number, opts: ParseOptions): SocketEntry {
  findAttributes(bytes, b, end, found);
  const infoAt = found[0], infoLen = found[1], memAt = found[2], memLen = found[3];
  const stateNumber = bytes[b + 1];
  const state = opts.states[stateNumber] ?? "UNKNOWN";
  const listener = stateNumber === DIAG.TCP_LISTEN;
  const rqueue = v.getUint32(b + 56, true);
  const wqueue = v.getUint32(b + 60, true);
  // tcp_info fields by offset, present only within the returned length (FACTS §3)
  const unackedSegments = infoLen >= 28 && !listener ? v.getUint32(infoAt + 24, true) : undefined;
  const rttMicros = infoLen >= 72 ? v.getUint32(infoAt + 68, true) : undefined;
  const cwndSegments = infoLen >= 84 ? v.getUint32(infoAt + 80, true) : undefined;
  const unsent = infoLen >= 148 ? v.getUint32(infoAt + 144, true) : undefined;
  // SK_MEMINFO_*: RMEM_ALLOC, RCVBUF, WMEM_ALLOC, SNDBUF, FWD_ALLOC, WMEM_QUEUED, OPTMEM, BACKLOG, DROPS
  const memory: SocketMemory | undefined = memLen >= 32
    ? {
      rmemAlloc: v.getUint32(memAt, true),
      rcvbuf: v.getUint32(memAt + 4, true),
      wmemAlloc: v.getUint32(memAt + 8, true),
      sndbuf: v.getUint32(memAt + 12, true),
      fwdAlloc: v.getUint32(memAt + 16, true),
      wmemQueued: v.getUint32(memAt + 20, true),
      optmem: v.getUint32(memAt + 24, true),
      backlog: v.getUint32(memAt + 28, true),
      drops: memLen >= 36 ? v.getUint32(memAt + 32, true) : undefined,
    }
    : undefined;
  let sendBuffer: SendBuffer | undefined;
  if (memLen >= 16) {
    const size = v.getUint32(memAt + 12, true);
    const queued = listener ? 0 : wqueue;
    sendBuffer = {
      size,
      queued,
      unsent,
      unackedBytes: unsent === undefined ? undefined : Math.max(0, queued - unsent),
      // A listener's tcpi_unacked is its accept queue, not data.
      unackedSegments,
      free: Math.max(0, size - queued),
      state,
      memory: memLen >= 24 ? { sndbuf: size, wmemQueued: v.getUint32(memAt + 20, true) } : undefined,
    };
  }
  const family = bytes[b] === 10 ? 6 : 4;
  const entry: SocketEntry = {
    family,
    local: {
      address: family === 4 ? ipv4(bytes, b + 8) : ipv6(bytes, b + 8),
      port: (bytes[b + 4] << 8) | bytes[b + 5],
    },
    peer: {
      address: family === 4 ? ipv4(bytes, b + 24) : ipv6(bytes, b + 24),
      port: (bytes[b + 6] << 8) | bytes[b + 7],
    },
    state,
    uid: v.getUint32(b + 64, true),
    inode: v.getUint32(b + 68, true),
    // cookie[0] holds the low half (net/core/sock_diag.c, sock_diag_save_cookie)
    cookie: v.getUint32(b + 44, true) + v.getUint32(b + 48, true) * 4294967296,
    sendBuffer,
    receiveQueued: listener ? undefined : rqueue,
    acceptQueue: listener ? { length: rqueue, limit: wqueue } : undefined,
    memory,
    cwndSegments,
    rttMicros,
    processes: undefined,
    tcpInfo: undefined,
  };
  if (opts.tcpInfo && infoLen > 0 && (!opts.wantsTcpInfo || opts.wantsTcpInfo(entry))) {
    entry.tcpInfo = opts.tcpInfo(bytes.subarray(infoAt, infoAt + infoLen), infoLen);
  }
  return entry;
}
