/**
 * The public data types.
 *
 * @module
 */
import type {
  DarwinConnectionInfoFields,
  DarwinPrivateTcpInfoFields,
  LinuxTcpInfoFields,
} from "./tcp_info_fields.ts";

export type {
  DarwinConnectionInfoFields,
  DarwinPrivateTcpInfoFields,
  DarwinTfoFields,
  LinuxTcpInfoFields,
} from "./tcp_info_fields.ts";

/**
 * What a TCP socket's send buffer holds, in bytes (all but `unackedSegments`).
 *
 * ```
 * size  =  unackedBytes + unsent + free
 *          \____ queued ____/
 * ```
 *
 * A value the OS cannot give is `undefined`, never 0. The fields come from separate calls
 * and are not one atomic reading; on a busy socket they can be a few packets apart.
 *
 * @example
 * ```ts
 * import { inspect, type SendBuffer } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const buf: SendBuffer = await inspect(conn);
 * console.log(buf.size === (buf.unackedBytes ?? 0) + (buf.unsent ?? 0) + buf.free || "size counts memory");
 * ```
 */
export interface SendBuffer {
  /**
   * The send buffer's size in bytes (`SO_SNDBUF`). It limits buffer *memory*, which includes
   * per-packet overhead, so the payload that fits is smaller than `size`. On Linux it is
   * twice what was set with `SO_SNDBUF`, and autotuned within `net.ipv4.tcp_wmem` unless set.
   */
  size: number;
  /**
   * Payload bytes written and not yet acknowledged by the peer: `unackedBytes + unsent`
   * (Linux `SIOCOUTQ`, macOS `SO_NWRITE`). 0 means every byte written has been acknowledged.
   */
  queued: number;
  /**
   * Payload bytes written and not yet sent (Linux `SIOCOUTQNSD`; macOS from the private
   * `TCP_INFO`, `undefined` where it does not answer). This is what `TCP_NOTSENT_LOWAT` limits.
   */
  unsent: number | undefined;
  /** Payload bytes sent and not yet acknowledged: `queued − unsent`. */
  unackedBytes: number | undefined;
  /**
   * Segments (packets, not bytes) sent and not yet acknowledged (Linux `tcpi_unacked`;
   * `undefined` on macOS, which does not count them).
   */
  unackedSegments: number | undefined;
  /**
   * `size − queued`, at least 0: a payload model of the room left, as `ss` users reckon it.
   * Because `size` counts memory and `queued` counts payload, a write of `free` bytes may
   * not fit; `memory` gives the exact memory view where the OS has one.
   */
  free: number;
  /**
   * The connection's state when it was read. `CLOSED` means it was reset or timed out:
   * nothing more will be acknowledged, whatever `queued` says.
   */
  state: TcpState;
  /**
   * Linux `SO_MEMINFO`: the buffer's memory accounting, in bytes. `sndbuf − wmemQueued` is
   * the memory still free. `undefined` on macOS and on kernels without `SO_MEMINFO`.
   */
  memory: { sndbuf: number; wmemQueued: number } | undefined;
}

/**
 * A TCP state, by its portable name. Linux and macOS number states differently; the raw
 * number is in `stateNumber`. `UNKNOWN` is a number this version does not know.
 *
 * @example Can this socket still send?
 * ```ts
 * import { inspect, type TcpState } from "@sockbuf/sockbuf";
 *
 * // The connection is up and this side has not sent its FIN
 * const canSend = (state: TcpState): boolean => state === "ESTABLISHED" || state === "CLOSE_WAIT";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const { state } = await inspect(conn);
 * console.log(`${state}: ${canSend(state) ? "can send" : "cannot send"}`);
 * ```
 */
export type TcpState = (typeof TCP_STATES)[number] | "UNKNOWN";

/**
 * Every TCP state name sockbuf knows: the eleven of RFC 793 in the BSD order macOS numbers them
 * (`TCPS_CLOSED` 0 … `TCPS_TIME_WAIT` 10, bsd/netinet/tcp_fsm.h), then Linux's two of its
 * own. These are the names a listing filter and the CLI's `--state` accept. {@linkcode TcpState} is one of
 * these, or `UNKNOWN`.
 *
 * @example Check a state name typed by a user
 * ```ts
 * import { TCP_STATES, type TcpState } from "@sockbuf/sockbuf";
 *
 * const isState = (s: string): s is TcpState => (TCP_STATES as readonly string[]).includes(s);
 * console.log(isState("ESTABLISHED"), isState("ESTABLISHD")); // true false
 * ```
 */
export const TCP_STATES = [
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
  "NEW_SYN_RECV",
  "BOUND_INACTIVE",
] as const;

/**
 * Linux's `struct tcp_info`, every field the kernel returned.
 *
 * @example Read it on Linux: check `os`, and mind the units
 * ```ts
 * import { type LinuxTcpInfo, tcpInfo } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const info = await tcpInfo(conn);
 * if (info.os === "linux") {
 *   const linux: LinuxTcpInfo = info;
 *   console.log(`rtt ${linux.rtt} µs, cwnd ${linux.sndCwnd} segments, ${linux.length} bytes returned`);
 *   console.log(linux.totalRto ?? "no totalRto: kernel older than 6.7"); // undefined, never 0
 * }
 * ```
 */
export interface LinuxTcpInfo extends LinuxTcpInfoFields {
  /** The OS the fields came from. */
  os: "linux";
  /** The state, by name. */
  state: TcpState;
  /**
   * Bytes of `struct tcp_info` the kernel returned: 280 on Linux 6.18. Fields past it are
   * `undefined`; a length beyond the newest layout sockbuf knows means the kernel has more.
   */
  length: number;
}

/**
 * macOS: the public `TCP_CONNECTION_INFO`, plus the private `TCP_INFO` where it answers.
 *
 * @example Narrow with `os` (on Linux this takes the other branch)
 * ```ts
 * import { type DarwinTcpInfo, tcpInfo } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const info = await tcpInfo(conn);
 * if (info.os === "darwin") {
 *   const mac: DarwinTcpInfo = info;
 *   // The window in bytes here; unacknowledged bytes only from the private struct
 *   console.log(mac.state, mac.sndCwnd, mac.sndSbbytes, mac.private?.txunacked ?? "no private TCP_INFO");
 * } else {
 *   console.log(`not macOS: ${info.os}`);
 * }
 * ```
 */
export interface DarwinTcpInfo extends DarwinConnectionInfoFields {
  /** The OS the fields came from. */
  os: "darwin";
  /** The state, by name. */
  state: TcpState;
  /** Bytes of `struct tcp_connection_info` the kernel returned (112 on current macOS). */
  length: number;
  /**
   * The private `struct tcp_info` (`TCP_INFO`, "subject to change"), with its own returned
   * `length`; `undefined` where the kernel refused it.
   */
  private: (DarwinPrivateTcpInfoFields & { length: number }) | undefined;
}

/**
 * Every field of the socket's `tcp_info`, per OS; check `os` to narrow.
 *
 * @example
 * ```ts
 * import { tcpInfo } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const info = await tcpInfo(conn);
 * if (info.os === "linux") {
 *   // Segments, not bytes; undefined where the kernel did not return the field
 *   console.log(info.state, info.unacked, info.notsentBytes, info.length);
 * } else {
 *   console.log(info.state, info.sndSbbytes, info.private?.txunacked);
 * }
 * ```
 */
export type TcpInfo = LinuxTcpInfo | DarwinTcpInfo;

/**
 * A `Deno.Conn` or `Deno.TlsConn`, from `Deno.connect`, `Deno.connectTls` or `accept()`.
 *
 * @example Both ends of a connection, the one dialled and the one accepted
 * ```ts
 * import { type ConnLike, inspect } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({ port: listener.addr.port });
 * using server = await listener.accept();
 * const ends: ConnLike[] = [client, server];
 * for (const end of ends) console.log((await inspect(end)).size, "bytes of send buffer");
 * ```
 */
export interface ConnLike {
  /** The local address; its `hostname` and `port` are matched. */
  readonly localAddr: unknown;
  /** The peer's address; `hostname` and `port` are matched. */
  readonly remoteAddr: unknown;
}

/**
 * A `node:net` socket (client or accepted, on Deno or Bun), a `Bun.connect`/`Bun.listen`
 * socket, or a plain address pair for any other connection: the local address (optional)
 * and port, and the peer's IP address and port.
 *
 * @example The accepted side of a connection, found by its addresses
 * ```ts
 * import { type AddressPair, inspect } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using _client = await Deno.connect({ port: listener.addr.port });
 * using accepted = await listener.accept();
 * const pair: AddressPair = {
 *   localPort: accepted.localAddr.port,
 *   remoteAddress: accepted.remoteAddr.hostname,
 *   remotePort: accepted.remoteAddr.port,
 * };
 * console.log(await inspect(pair));
 * ```
 */
export interface AddressPair {
  /**
   * The local IPv4 or IPv6 literal, if known: without it, two connections from one client
   * port to two of this host's addresses cannot be told apart, and that is an error.
   */
  readonly localAddress?: string;
  /** The local port, an integer from 1 to 65535. */
  readonly localPort?: number;
  /** The peer's IPv4 or IPv6 literal; `::ffff:a.b.c.d` and `a.b.c.d` match each other. */
  readonly remoteAddress?: string;
  /** The peer's port, an integer from 1 to 65535. */
  readonly remotePort?: number;
}

/**
 * A Node object that holds its connection's socket rather than being it: a `node:http` or
 * `node:https` request or response (its `socket`), an `http2` session (its `socket`), an
 * `http2` stream (its session's), or a `ws` WebSocket (its `_socket`). Passing it is the same
 * as passing that socket, checked against the same addresses, so a closed one is refused.
 *
 * @example The request inside a `node:http` handler (Node, Deno, Bun)
 * ```ts
 * import * as http from "node:http";
 * import { inspect, type SocketHolder } from "@sockbuf/sockbuf";
 *
 * const server = http.createServer(async (req, res) => {
 *   const holder: SocketHolder = req;
 *   const { queued } = await inspect(holder);
 *   res.end(`${queued} bytes queued`);
 * });
 * await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
 * const { port } = server.address() as { port: number };
 * console.log(await (await fetch(`http://127.0.0.1:${port}/`)).text());
 * server.closeAllConnections();
 * server.close();
 * ```
 */
export interface SocketHolder {
  /** `node:http` request or response, `http2` session: the socket. */
  readonly socket?: unknown;
  /** `http2` stream: its session. */
  readonly session?: unknown;
  /** `ws` WebSocket: its state (its socket is the undeclared `_socket`). */
  readonly readyState?: unknown;
}

/**
 * A request inside `Deno.serve`: the server and the handler's `info`.
 *
 * @example A helper that reports the connection's queue in a response header
 * ```ts
 * import { type DenoServeRequest, inspect } from "@sockbuf/sockbuf";
 *
 * async function reply(at: DenoServeRequest, body: string): Promise<Response> {
 *   const { queued, unsent } = await inspect(at);
 *   return new Response(body, { headers: { "x-send-queue": `${queued} queued, ${unsent} unsent` } });
 * }
 * const server = Deno.serve(
 *   { hostname: "127.0.0.1", port: 0, onListen() {} },
 *   (_req, info): Promise<Response> => reply({ server, info }, "hi"),
 * );
 * const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * console.log(response.headers.get("x-send-queue"), await response.text());
 * await server.shutdown();
 * ```
 */
export interface DenoServeRequest {
  /** The `Deno.HttpServer` that `Deno.serve` returned. */
  readonly server: { readonly addr: unknown };
  /** The handler's second argument, `Deno.ServeHandlerInfo`. */
  readonly info: { readonly remoteAddr: unknown };
}

/**
 * A request inside `Bun.serve`: the server and the request.
 *
 * @example A `Bun.serve` handler (Bun): `Bun.serve({ port: 8080, fetch: reportQueue })`
 * ```ts
 * import { type BunServeRequest, inspect } from "@sockbuf/sockbuf";
 *
 * // Bun calls fetch(request, server); Deno never calls this, so here it only type-checks
 * async function reportQueue(request: Request, server: BunServeRequest["server"]): Promise<Response> {
 *   const at: BunServeRequest = { server, request };
 *   const { queued, unsent } = await inspect(at);
 *   return new Response(`${queued} bytes queued, ${unsent} not yet sent\n`);
 * }
 * ```
 */
export interface BunServeRequest {
  /** The `Server` that `Bun.serve` returned, or the handler's second argument. */
  readonly server: {
    readonly port?: number;
    requestIP(request: Request): { address: string; port: number } | null;
  };
  /** The request the handler received. */
  readonly request: Request;
}

/**
 * One end of a connection in a system-wide listing.
 *
 * @example Print a listed connection's ends as `ss` does (Linux)
 * ```ts
 * import { listSockets, type SocketAddress } from "@sockbuf/sockbuf";
 *
 * // IPv6 addresses in brackets, so the port stays readable
 * function show({ address, port }: SocketAddress): string {
 *   return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
 * }
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * for (const entry of await listSockets({ port: { local: conn.localAddr.port } })) {
 *   console.log(`${show(entry.local)} -> ${show(entry.peer)}`);
 * }
 * ```
 */
export interface SocketAddress {
  /**
   * The IP address as text: `127.0.0.1`, or IPv6 in its shortest form (`::1`,
   * `::ffff:127.0.0.1` for an IPv4 peer of a dual-stack socket), as `ss` prints it.
   */
  address: string;
  /** The port; 0 for the peer of a listener. */
  port: number;
}

/**
 * The memory the kernel accounts to a socket, in bytes (Linux `sk_meminfo`, shown by `ss -m`
 * as `skmem:(r…,rb…,t…,tb…,f…,w…,o…,bl…,d…)`); `drops` counts packets.
 *
 * @example A connection's memory, as `ss -m` prints it (Linux)
 * ```ts
 * import { listSockets, type SocketMemory } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const [entry] = await listSockets({ port: { local: conn.localAddr.port } });
 * const m: SocketMemory | undefined = entry?.memory;
 * if (m) {
 *   const { rmemAlloc: r, rcvbuf: rb, wmemAlloc: t, sndbuf: tb, fwdAlloc: f, wmemQueued: w } = m;
 *   console.log(`skmem:(r${r},rb${rb},t${t},tb${tb},f${f},w${w},o${m.optmem},bl${m.backlog},d${m.drops})`);
 *   console.log(`${m.sndbuf - m.wmemQueued} bytes of send-buffer memory free`);
 * }
 * ```
 */
export interface SocketMemory {
  /** `r`: receive queue memory in use. */
  rmemAlloc: number;
  /** `rb`: the receive buffer's size (`SO_RCVBUF`). */
  rcvbuf: number;
  /** `t`: transmit memory in use (sent, not yet freed by the device). */
  wmemAlloc: number;
  /** `tb`: the send buffer's size (`SO_SNDBUF`). */
  sndbuf: number;
  /** `f`: memory reserved ahead for the socket. */
  fwdAlloc: number;
  /** `w`: send queue memory: the payload queued plus its per-packet overhead. */
  wmemQueued: number;
  /** `o`: option memory. */
  optmem: number;
  /** `bl`: the backlog queue. */
  backlog: number;
  /** `d`: packets dropped before reaching the socket (a count, not bytes); `undefined` on kernels that do not report it. */
  drops: number | undefined;
}

/**
 * A process holding a socket open, with the fd it holds it on.
 *
 * @example Find which fd of this process holds a connection, then inspect it by PID:FD (Linux)
 * ```ts
 * import { inspectProcessSocket, listSockets, type SocketProcess } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const [entry] = await listSockets({ port: { local: conn.localAddr.port }, processes: true });
 * const holder: SocketProcess | undefined = entry?.processes?.find((p) => p.pid === Deno.pid);
 * if (holder) {
 *   console.log(`${holder.command} (pid ${holder.pid}) holds it on fd ${holder.fd}`);
 *   console.log(await inspectProcessSocket(holder.pid, holder.fd));
 * }
 * ```
 */
export interface SocketProcess {
  /** The process id. */
  pid: number;
  /** The fd number in that process (for `inspectProcessSocket(pid, fd)`). */
  fd: number;
  /** The command name (`/proc/PID/comm`, at most 15 characters); `""` if it could not be read. */
  command: string;
}

/**
 * One TCP socket of a system-wide listing (Linux netlink `sock_diag`, the source `ss` reads).
 * Fields the kernel did not report for this socket are `undefined`: `TIME_WAIT` and
 * `NEW_SYN_RECV` entries are not full sockets and carry addresses and state only.
 *
 * @example A listener, and a connection still waiting in its accept queue (Linux)
 * ```ts
 * import { listSockets, type SocketEntry } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using _conn = await Deno.connect({ port: listener.addr.port }); // not accepted yet
 * const entries: SocketEntry[] = await listSockets({ port: listener.addr.port });
 * for (const e of entries) {
 *   const queue = e.acceptQueue ? `accept queue ${e.acceptQueue.length}/${e.acceptQueue.limit}` : "";
 *   console.log(e.state, `${e.local.port} -> ${e.peer.port}`, `queued ${e.sendBuffer?.queued}`, queue);
 * }
 * ```
 */
export interface SocketEntry {
  /** IPv4 or IPv6. An IPv6 socket talking to an IPv4 peer is 6, with `::ffff:` addresses. */
  family: 4 | 6;
  /** The local end. */
  local: SocketAddress;
  /** The peer's end (`0.0.0.0`/`::` and port 0 for a listener). */
  peer: SocketAddress;
  /** The TCP state. */
  state: TcpState;
  /** The uid of the socket's owner; 0 for `TIME_WAIT` and request sockets. */
  uid: number;
  /** The socket's inode, as in `/proc/PID/fd/N → socket:[INODE]`; 0 where it has none. */
  inode: number;
  /** The kernel's socket cookie: unique per socket and never reused while the system runs. */
  cookie: number;
  /**
   * The send buffer (bytes; `unackedSegments` in segments): `size` from the socket's memory
   * info (`tb`), `queued` = `Send-Q` (`idiag_wqueue`), `unsent` = `tcpi_notsent_bytes`.
   * A listener has nothing queued (`queued` 0, `unackedSegments` undefined: its `tcpi_unacked`
   * is the accept queue). `undefined` when the kernel gave no memory info.
   */
  sendBuffer: SendBuffer | undefined;
  /** Bytes received and not yet read by the application (`Recv-Q`); `undefined` for a listener. */
  receiveQueued: number | undefined;
  /** A listener's accept queue: connections waiting for `accept()`, and its limit (the backlog). */
  acceptQueue: { length: number; limit: number } | undefined;
  /** Every `skmem` field, in bytes (`drops` in packets). */
  memory: SocketMemory | undefined;
  /** The congestion window, in segments (`tcpi_snd_cwnd`). */
  cwndSegments: number | undefined;
  /** The smoothed round-trip time, in microseconds (`tcpi_rtt`). */
  rttMicros: number | undefined;
  /** The processes holding the socket, when asked for with `processes: true`; else `undefined`. */
  processes: SocketProcess[] | undefined;
  /** The whole `tcp_info`, when asked for with `tcpInfo: true`; else `undefined`. */
  tcpInfo: LinuxTcpInfo | undefined;
}
