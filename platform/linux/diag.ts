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
import {
  DIAG,
  diagRequest,
  extBit,
  parseDiagReplies,
  type ParseOptions,
  portBytecode,
} from "./diag_parse.ts";
import { socketProcesses } from "./diag_proc.ts";
import { LINUX_ERRNO } from "./errno.ts";
import type { SocketQuery } from "../types.ts";

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
 * Lists the TCP sockets the query selects, yielding each datagram's entries as one batch.
 * The netlink socket closes when the iteration ends, including by `break` or a throw.
 */
export function* listLinuxSockets(query: SocketQuery, ctx: LinuxDiagContext): Generator<SocketEntry[]> {
  const c = ctx.lib();
  const states = stateMask(query.states, ctx.states);
  const bytecode = portBytecode({ local: query.localPort, peer: query.peerPort, either: query.eitherPort });
  const ext = extBit(DIAG.INET_DIAG_INFO) | extBit(DIAG.INET_DIAG_SKMEMINFO);
  // Holders are found before the dump: a socket opened in between has none.
  const owners = query.processes ? socketProcesses(c) : undefined;
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
      const opts: ParseOptions = {
        seq,
        states: ctx.states,
        tcpInfo: query.tcpInfo ? ctx.tcpInfo : undefined,
        wantsTcpInfo: typeof query.tcpInfo === "function" ? query.tcpInfo : undefined,
      };
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
        const batch: SocketEntry[] = [];
        done = parseDiagReplies(buf, n, opts, batch);
        if (owners) { for (const e of batch) e.processes = owners.get(e.inode) ?? []; }
        if (batch.length > 0) yield batch;
      }
    }
  } finally {
    c.closeFd(fd);
  }
}
