/**
 * What each OS file provides. `platform/mod.ts` picks one; nothing else knows the OS.
 *
 * @module
 */
import type { SockbufError } from "../errors.ts";
import type { SendBuffer, SocketEntry, TcpInfo, TcpState } from "../types.ts";

/** One OS's implementation of the calls. `fd` is already validated. */
export interface Platform {
  /** The OS, as the runtime names it. */
  readonly os: string;
  inspect(fd: number): SendBuffer;
  tcpInfo(fd: number): TcpInfo;
  getNotSentLowat(fd: number): number;
  setNotSentLowat(fd: number, bytes: number): void;
  /**
   * How many bytes the application has written into the socket since it opened, counted by
   * the kernel (modulo 2^32 on macOS); `undefined` where the OS does not say. The difference
   * between two readings is what the runtime handed to the kernel in between.
   */
  written(fd: number): number | undefined;
  /** The `SockbufError` for a condition sockbuf detects itself, with this OS's number for `code`. */
  error(op: string, syscall: string, code: string): SockbufError;
  /** Finding a runtime socket's fd. */
  readonly sockets: SocketOps;
  /**
   * Every TCP socket on the host that the query selects, in batches as the kernel sends them
   * (Linux only: others throw).
   */
  listSockets(query: SocketQuery): Iterable<SocketEntry[]>;
  /**
   * The same listing, kept as the kernel's replies and written as JSON on request: byte for
   * byte `JSON.stringify` of the entries {@linkcode Platform.listSockets} gives (without
   * `tcpInfo` and `processes`, which the query must not ask for). Linux only.
   */
  listSocketsJson(query: SocketQuery): SocketJson;
  /** The send buffer of another process's socket `fd`, read through a duplicate of it (Linux only). */
  inspectProcessSocket(pid: number, fd: number): SendBuffer;
}

/**
 * What only the demo, examples, benchmarks and tests need of the OS (through `_testing.ts`):
 * kept out of {@linkcode Platform}, which is what the library itself needs.
 */
export interface TestingOps {
  /**
   * Sets `SO_RCVBUF` (for a program that plays a slow reader: set it on a listening socket
   * before it accepts, so the window scale fits).
   */
  setReceiveBuffer(fd: number, bytes: number): void;
  /** The fd of the socket bound to local port `port` with no peer (a listener, or a UDP socket), or `undefined`. */
  unconnected(port: number): number | undefined;
}

/** A validated system-wide listing request. */
export interface SocketQuery {
  /** The states to list; `undefined` for all. */
  readonly states: readonly TcpState[] | undefined;
  /** Only sockets with this local port. */
  readonly localPort: number | undefined;
  /** Only sockets with this peer port. */
  readonly peerPort: number | undefined;
  /** Only sockets with this port at either end. */
  readonly eitherPort: number | undefined;
  /** The address families to list. */
  readonly families: readonly (4 | 6)[];
  /**
   * Decode and attach the whole `tcp_info`: to every entry, or to those a test accepts (it
   * sees the entry without `tcpInfo` and `processes`), where decoding them all would cost more.
   */
  readonly tcpInfo: boolean | ((entry: SocketEntry) => boolean);
  /** Find the processes holding each socket. */
  readonly processes: boolean;
}

/** The fields of a {@linkcode SocketJson} listing that sorting reads. */
export type SocketJsonField =
  | "unsent"
  | "queued"
  | "size"
  | "unackedSegments"
  | "rttMicros"
  | "cwndSegments"
  | "localPort";

/**
 * Sockets listed for JSON, in the kernel's order (socket `i` is the kernel's `i`-th), kept
 * compact: a host with tens of thousands of sockets would otherwise hold megabytes of objects
 * and text at once.
 */
export interface SocketJson {
  readonly count: number;
  /**
   * Socket `i`'s field as its entry has it (`unsent`, `queued`, `size` and `unackedSegments`
   * of `sendBuffer`; `localPort` is `local.port`), or -1 where the entry has none.
   */
  field(i: number, name: SocketJsonField): number;
  /**
   * Writes `JSON.stringify` of the entries of these sockets, in this order, as UTF-8
   * (ASCII) bytes, in pieces: each piece is valid only during the call to `write`.
   * @param order socket numbers, each below `count`
   */
  json(order: ArrayLike<number>, write: (piece: Uint8Array) => void): void;
}

/** One end of a TCP connection: its address as 16 bytes (IPv4 mapped to `::ffff:a.b.c.d`) and port. */
export interface Endpoint {
  readonly address: Uint8Array;
  readonly port: number;
}

/** What finding a runtime socket's fd needs from the OS. */
export interface SocketOps {
  /** The process's open fds, highest (newest) first. */
  openFds(): number[];
  /** The socket's local or peer address; `undefined` for no socket, no peer, or not IP. */
  address(fd: number, end: "local" | "peer"): Endpoint | undefined;
  /**
   * True when the socket's local or peer end has this port and, if given, this address
   * (16 bytes, as {@linkcode Endpoint}); cheaper than {@linkcode SocketOps.address} for scans.
   */
  matches(fd: number, end: "local" | "peer", port: number, address?: Uint8Array): boolean;
  /** True for a `SOCK_STREAM` socket. */
  isStream(fd: number): boolean;
  /**
   * What tells this socket from a later one on the same fd number: Linux's never-reused
   * `SO_COOKIE`, macOS's address pair. Throws `SockbufError` (`EBADF`) for a closed fd.
   */
  identity(fd: number): number | string;
  /** The `SockbufError` for a socket that has closed. */
  closed(detail: string): Error;
  /** The `SockbufError` for a socket that no open fd matches. */
  notFound(searched: string): Error;
}
