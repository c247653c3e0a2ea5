/**
 * The whole host: every TCP socket's send buffer, and another process's socket.
 *
 * Linux only. The listing reads netlink `sock_diag`, the interface `ss` reads, with the state
 * and port filters applied in the kernel; another process's socket is duplicated into this
 * one with `pidfd_open` + `pidfd_getfd` (Linux 5.6). On macOS and other systems every call
 * throws an `Error` saying it is Linux-only.
 *
 * @module
 */
import { checkInt, described, settle } from "./_args.ts";
import { platform } from "./platform/mod.ts";
import type { SocketJson, SocketJsonField, SocketQuery } from "./platform/types.ts";
import { type SendBuffer, type SocketEntry, TCP_STATES, type TcpState } from "./types.ts";

/**
 * Which sockets to list, and what to attach to each. Every condition given must hold.
 *
 * @example Established connections to or from port 443, with their processes
 * ```ts
 * import { listSockets, type ListFilter } from "@sockbuf/sockbuf";
 *
 * const filter: ListFilter = { states: ["ESTABLISHED"], port: 443, processes: true };
 * for (const s of await listSockets(filter)) {
 *   console.log(s.peer.address, s.sendBuffer?.unsent, s.processes?.map((p) => p.command));
 * }
 * ```
 */
export interface ListFilter {
  /** Only sockets in these states (all states when absent). */
  states?: readonly TcpState[];
  /**
   * Only sockets with this port at either end (a number), or with this local and/or peer
   * port (an object). An IPv4 or IPv6 port number, 0–65535.
   */
  port?: number | { local?: number; peer?: number };
  /** Only IPv4 (4) or only IPv6 (6) sockets; both when absent. */
  family?: 4 | 6;
  /** Attach the whole decoded `tcp_info` to each entry (`tcpInfo`); off by default. */
  tcpInfo?: boolean;
  /**
   * Find the processes holding each socket (`processes`) by reading every `/proc/PID/fd`;
   * off by default. Without root, other users' processes are not found.
   */
  processes?: boolean;
}

/** Checks a filter and turns it into the platform's query. */
function query(filter: ListFilter = {}): SocketQuery {
  if (typeof filter !== "object" || filter === null) {
    throw new TypeError(`Expected filter as an object, got ${described(filter)}`);
  }
  const { states, port, family } = filter;
  if (states !== undefined) {
    if (!Array.isArray(states)) {
      throw new TypeError(`Expected filter.states as an array of state names, got ${described(states)}`);
    }
    for (const s of states) {
      if (!TCP_STATES.includes(s)) {
        throw new RangeError(`Expected filter.states as TCP state names, got ${described(s)}`);
      }
    }
  }
  if (family !== undefined && family !== 4 && family !== 6) {
    throw new RangeError(`Expected filter.family as 4 or 6, got ${described(family)}`);
  }
  let localPort, peerPort, eitherPort;
  if (typeof port === "object" && port !== null) {
    if (port.local !== undefined) localPort = checkInt("filter.port.local", port.local, 0, 65535);
    if (port.peer !== undefined) peerPort = checkInt("filter.port.peer", port.peer, 0, 65535);
  } else if (port !== undefined) {
    eitherPort = checkInt("filter.port", port, 0, 65535);
  }
  return {
    states: states === undefined ? undefined : [...states],
    localPort,
    peerPort,
    eitherPort,
    families: family === undefined ? [4, 6] : [family],
    tcpInfo: filter.tcpInfo === true,
    processes: filter.processes === true,
  };
}

/**
 * Lists the host's TCP sockets, synchronously: the twin of {@linkcode listSockets} for
 * refresh loops. IPv4 sockets come first, then IPv6, each in the kernel's order.
 *
 * @param filter which sockets, and whether to attach `tcpInfo` and `processes`
 * @returns one entry per socket
 * @throws {TypeError} if the filter or one of its fields has the wrong type
 * @throws {RangeError} for an unknown state name, a port outside 0–65535, or a family other than 4 or 6
 * @throws {SockbufError} if the kernel refuses (`EPROTONOSUPPORT`/`ENOENT` without sock_diag support)
 * @throws {Error} on an OS other than Linux
 *
 * @example Sockets with data waiting to be sent
 * ```ts
 * import { listSocketsSync } from "@sockbuf/sockbuf";
 *
 * const stuck = listSocketsSync({ states: ["ESTABLISHED"] }).filter((s) => (s.sendBuffer?.unsent ?? 0) > 0);
 * console.log(`${stuck.length} connections have unsent data`);
 * ```
 */
export function listSocketsSync(filter?: ListFilter): SocketEntry[] {
  const q = query(filter);
  const all: SocketEntry[] = [];
  for (const batch of platform().listSockets(q)) {
    for (const entry of batch) all.push(entry);
  }
  return all;
}

/**
 * The listing of {@linkcode listSocketsSync}, kept compact to be written as JSON without an
 * object per socket: each socket's JSON is byte for byte `JSON.stringify` of its entry. For
 * `sockbuf ls --json`; not exported from mod.ts.
 *
 * @param filter which sockets; `tcpInfo` and `processes` are not offered here
 * @returns the sockets in the kernel's order, with the fields sorting needs
 * @throws as {@linkcode listSocketsSync}, and {@linkcode TypeError} if the filter asks for
 * `tcpInfo` or `processes`
 */
export function listSocketsJsonSync(filter?: ListFilter): SocketJson {
  return platform().listSocketsJson(query(filter));
}

export type { SocketJson, SocketJsonField };

/**
 * Lists the host's TCP sockets: addresses, state, owner uid, inode, the send buffer
 * (size, queued, unsent, unacked segments, memory), congestion window and RTT; the whole
 * `tcp_info` and the holding processes when asked. The kernel applies the state, port and
 * family filters. Sockets opened or closed during the listing may or may not appear.
 *
 * @param filter which sockets, and whether to attach `tcpInfo` and `processes`
 * @returns one entry per socket, IPv4 first, then IPv6
 * @throws {TypeError} if the filter or one of its fields has the wrong type
 * @throws {RangeError} for an unknown state name, a port outside 0–65535, or a family other than 4 or 6
 * @throws {SockbufError} if the kernel refuses (`EPROTONOSUPPORT`/`ENOENT` without sock_diag support)
 * @throws {Error} on an OS other than Linux
 *
 * @example The ten connections with the most unsent bytes
 * ```ts
 * import { listSockets } from "@sockbuf/sockbuf";
 *
 * const all = await listSockets({ states: ["ESTABLISHED", "CLOSE_WAIT"], processes: true });
 * all.sort((a, b) => (b.sendBuffer?.unsent ?? 0) - (a.sendBuffer?.unsent ?? 0));
 * for (const s of all.slice(0, 10)) {
 *   const who = s.processes?.map((p) => `${p.command}[${p.pid}]`).join(",") || "?";
 *   console.log(`${s.local.address}:${s.local.port} -> ${s.peer.address}:${s.peer.port}`,
 *     `${s.sendBuffer?.unsent} unsent, ${s.sendBuffer?.unackedSegments} segments unacked`, who);
 * }
 * ```
 *
 * @example One listener, found by its port
 * ```ts
 * import { listSockets } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const [entry] = await listSockets({ states: ["LISTEN"], port: { local: listener.addr.port }, family: 4 });
 * console.log(entry.local, entry.acceptQueue); // { address: "127.0.0.1", port: … } { length: 0, limit: … }
 * ```
 */
export function listSockets(filter?: ListFilter): Promise<SocketEntry[]> {
  return settle(() => listSocketsSync(filter));
}

/**
 * Lists the host's TCP sockets as they arrive from the kernel, a datagram (a few dozen
 * sockets) at a time, without holding them all: for hosts with very many sockets. Stopping
 * early (`break`) closes the netlink socket; an iterator abandoned unfinished holds it open.
 * The filter is checked at the first `next()`.
 *
 * @param filter which sockets, and whether to attach `tcpInfo` and `processes`
 * @returns the entries, IPv4 first, then IPv6
 * @throws {TypeError} if the filter or one of its fields has the wrong type
 * @throws {RangeError} for an unknown state name, a port outside 0–65535, or a family other than 4 or 6
 * @throws {SockbufError} if the kernel refuses
 * @throws {Error} on an OS other than Linux
 *
 * @example Totals without building an array
 * ```ts
 * import { listSocketsStream } from "@sockbuf/sockbuf";
 *
 * let sockets = 0, unsent = 0;
 * for await (const s of listSocketsStream({ states: ["ESTABLISHED"] })) {
 *   sockets++;
 *   unsent += s.sendBuffer?.unsent ?? 0;
 * }
 * console.log(`${unsent} bytes unsent in ${sockets} connections`);
 * ```
 */
export async function* listSocketsStream(filter?: ListFilter): AsyncGenerator<SocketEntry, void, undefined> {
  const q = query(filter);
  for (const batch of platform().listSockets(q)) yield* batch;
}

/**
 * The listing as the kernel's datagrams arrive, synchronously, a batch of entries per
 * datagram: the kernel fills each one while it is received, so the time a batch arrives is
 * when its sockets were read (metrics/ times its verdicts by it). With `tcpInfoFor`, the
 * whole `tcp_info` is decoded only for the entries it accepts (it sees each entry without
 * `tcpInfo` and `processes`), whatever `filter.tcpInfo` says. Not part of the public API.
 *
 * @param filter which sockets, and whether to attach `tcpInfo` and `processes`
 * @param tcpInfoFor which entries get `tcpInfo`
 * @returns the batches, IPv4 first, then IPv6
 * @throws what {@linkcode listSocketsSync} throws (the filter is checked at once)
 *
 * @example When each datagram arrived, and tcp_info for the connections with unsent bytes
 * ```ts
 * import { listSocketBatches } from "./list.ts";
 *
 * for (const batch of listSocketBatches({ states: ["ESTABLISHED"] }, (s) => (s.sendBuffer?.unsent ?? 0) > 0)) {
 *   const decoded = batch.filter((s) => s.tcpInfo).length;
 *   console.log(`${batch.length} sockets (${decoded} with tcp_info) at ${performance.now().toFixed(1)} ms`);
 * }
 * ```
 */
export function listSocketBatches(
  filter?: ListFilter,
  tcpInfoFor?: (entry: SocketEntry) => boolean,
): Iterable<SocketEntry[]> {
  const q = query(filter);
  return platform().listSockets(tcpInfoFor ? { ...q, tcpInfo: tcpInfoFor } : q);
}

/**
 * Reads the send buffer of a socket held by another process, as {@linkcode inspect} does for
 * this one: the socket is duplicated into this process with `pidfd_open` + `pidfd_getfd`
 * (Linux 5.6), read, and the duplicate closed. Find `pid` and `fd` with
 * `listSockets({ processes: true })`.
 *
 * This needs ptrace rights over the process (`PTRACE_MODE_ATTACH_REALCREDS`): the same uid
 * and not refused by `/proc/sys/kernel/yama/ptrace_scope`, or `CAP_SYS_PTRACE` (root).
 *
 * @param pid the process id
 * @param fd the fd number in that process
 * @returns the snapshot
 * @throws {TypeError} if `pid` or `fd` is not a number
 * @throws {RangeError} if `pid` is not a positive integer or `fd` not a non-negative one
 * @throws {SockbufError} `EPERM` without ptrace rights (the message says what is needed),
 * `ESRCH` for no such process, `EBADF` for an fd not open there, `ENOSYS` before Linux 5.6,
 * and what {@linkcode inspect} throws for an fd that is not a connected TCP socket
 * @throws {Error} on an OS other than Linux
 *
 * @example A socket of this very process, found in the listing
 * ```ts
 * import { inspectProcessSocket, listSockets } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const [entry] = await listSockets({ port: { local: conn.localAddr.port }, processes: true });
 * const mine = entry.processes!.find((p) => p.pid === Deno.pid)!;
 * console.log(await inspectProcessSocket(mine.pid, mine.fd));
 * ```
 */
export function inspectProcessSocket(pid: number, fd: number): Promise<SendBuffer> {
  return settle(() => platform().inspectProcessSocket(checkInt("pid", pid, 1), checkInt("fd", fd, 0)));
}
