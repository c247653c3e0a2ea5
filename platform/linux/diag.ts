/**
 * Linux: every TCP socket on the host through netlink `sock_diag`, the interface `ss` reads.
 * One request per address family; the kernel applies the state and port filters and sends
 * the sockets in datagrams of a few dozen, each parsed in place from one receive buffer.
 *
 * @module
 */
import { SockbufError } from "../../errors.ts";
import type { Libc } from "../../ffi/mod.ts";
import type { LinuxTcpInfo, SocketEntry, TcpState } from "../../types.ts";
import { check } from "../posix.ts";
import { DIAG, diagRequest, extBit, parseDiagReplies, portBytecode } from "./diag_parse.ts";
import { DiagJson } from "./diag_json.ts";
import { socketProcesses } from "./diag_proc.ts";
import { LINUX_ERRNO } from "./errno.ts";
import type { SocketJson, SocketQuery } from "../types.ts";

export { withProcessFd } from "./diag_proc.ts";

/** What the listing needs from platform/linux/mod.ts. */
export interface LinuxDiagContext {
  /** libc, opened. */
  lib(): Libc;
  /** State names by Linux number. */
  readonly states: readonly TcpState[];
  /** Decodes a whole `tcp_info` of `length` bytes for this kernel. */
  tcpInfo(bytes: Uint8Array, length: number): LinuxTcpInfo;
}

const SOL_SOCKET = 1;
/** SO_RCVTIMEO (SO_RCVTIMEO_OLD: a 64-bit struct timeval on x86_64 and aarch64). */
const SO_RCVTIMEO = 20;
const MSG_TRUNC = 0x20;
const EINTR = 4;
/** Seconds a receive may wait before the listing fails with EAGAIN rather than hang. */
const TIMEOUT_SECONDS = 10;

// One receive buffer for every listing: each datagram is parsed before the next is read.
// The kernel sends dumps in datagrams of at most about 32 KiB; the rest is headroom.
let buffer: Uint8Array | undefined;
let seq = 0;

/** The `idiag_states` bitmask for these state names; every state when `undefined`. */
export function stateMask(states: readonly TcpState[] | undefined, table: readonly TcpState[]): number {
  if (states === undefined) return ((1 << table.length) - 1) & ~1;
  let mask = 0;
  for (const name of states) {
    const n = table.indexOf(name);
    if (n <= 0) throw new RangeError(`filter.states: Linux has no TCP state "${name}"`);
    mask |= 1 << n;
  }
  return mask;
}

/**
 * The dump's datagrams, each in the one receive buffer (valid until the next is read), with
 * the request's `seq`; the caller parses each and says when it has seen `NLMSG_DONE`
 * (`next(done)`). The netlink socket closes when the iteration ends, including by `break`
 * or a throw.
 */
function* datagrams(
  query: SocketQuery,
  ctx: LinuxDiagContext,
): Generator<{ bytes: Uint8Array; length: number; seq: number }, void, boolean> {
  const c = ctx.lib();
  const states = stateMask(query.states, ctx.states);
  const bytecode = portBytecode({ local: query.localPort, peer: query.peerPort, either: query.eitherPort });
  const ext = extBit(DIAG.INET_DIAG_INFO) | extBit(DIAG.INET_DIAG_SKMEMINFO);
  const fd = check(
    c.socket(DIAG.AF_NETLINK, DIAG.SOCK_RAW | DIAG.SOCK_CLOEXEC, DIAG.NETLINK_SOCK_DIAG),
    LINUX_ERRNO,
    "open a netlink sock_diag socket",
    "socket",
  );
  try {
    const timeout = new Uint8Array(16); // struct timeval { i64 tv_sec; i64 tv_usec; }
    timeout[0] = TIMEOUT_SECONDS;
    check(c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout), LINUX_ERRNO, "set SO_RCVTIMEO", "setsockopt");
    const buf = buffer ??= new Uint8Array(1 << 20);
    for (const family of query.families) {
      seq = (seq + 1) >>> 0;
      const request = diagRequest(family === 4 ? 2 : 10, states, ext, seq, bytecode);
      check(c.send(fd, request, 0), LINUX_ERRNO, "send a sock_diag request", "send");
      for (let done = false; !done;) {
        // MSG_TRUNC: the datagram's real length, so one that did not fit cannot pass unseen.
        const n = c.recv(fd, buf, MSG_TRUNC);
        if (n === -EINTR) continue;
        check(n, LINUX_ERRNO, "receive sock_diag replies", "recv");
        if (n > buf.length) {
          throw new SockbufError(`receive a sock_diag reply of ${n} bytes`, "recv", 90, "EMSGSIZE");
        }
        if (n === 0) {
          throw new SockbufError("receive sock_diag replies: the reply is empty", "recv", 74, "EBADMSG");
        }
        done = yield { bytes: buf, length: n, seq };
      }
    }
  } finally {
    c.closeFd(fd);
  }
}

/**
 * Lists the TCP sockets the query selects, yielding each datagram's entries as one batch.
 * The netlink socket closes when the iteration ends, including by `break` or a throw.
 */
export function* listLinuxSockets(query: SocketQuery, ctx: LinuxDiagContext): Generator<SocketEntry[]> {
  // Holders are found before the dump: a socket opened in between has none.
  const owners = query.processes ? socketProcesses(ctx.lib()) : undefined;
  const tcpInfo = query.tcpInfo ? ctx.tcpInfo : undefined;
  // A function: decode tcp_info only for the entries it picks (the exporter's top N).
  const wantsTcpInfo = typeof query.tcpInfo === "function" ? query.tcpInfo : undefined;
  const dump = datagrams(query, ctx);
  try {
    for (let r = dump.next(false); !r.done;) {
      const { bytes, length, seq } = r.value;
      const batch: SocketEntry[] = [];
      const done = parseDiagReplies(bytes, length, { seq, states: ctx.states, tcpInfo, wantsTcpInfo }, batch);
      if (owners) { for (const e of batch) e.processes = owners.get(e.inode) ?? []; }
      if (batch.length > 0) yield batch;
      r = dump.next(done);
    }
  } finally {
    dump.return();
  }
}

/**
 * The same listing, kept as the replies to be written as JSON (see diag_json.ts); the query
 * must not ask for `tcpInfo` or `processes`.
 */
export function listLinuxSocketsJson(query: SocketQuery, ctx: LinuxDiagContext): SocketJson {
  if (query.tcpInfo || query.processes) {
    throw new TypeError("the JSON listing has no tcpInfo or processes: use listSockets for them");
  }
  const writer = new DiagJson(ctx.states);
  const dump = datagrams(query, ctx);
  try {
    for (let r = dump.next(false); !r.done;) {
      const { bytes, length, seq } = r.value;
      r = dump.next(writer.datagram(bytes, length, seq));
    }
  } finally {
    dump.return();
  }
  return writer.result();
}
