/**
 * The cross-platform calls: find the socket's fd, then call the running OS's platform.
 *
 * @module
 */
import { SockbufError } from "./errors.ts";
import { closeLibc } from "./ffi/mod.ts";
import { platform } from "./platform/mod.ts";
import { checkInt, described, settle } from "./_args.ts";
import { fdOf } from "./resolve.ts";
import type { SendBuffer, TcpInfo } from "./types.ts";
import type { SocketLike } from "./resolve.ts";

/**
 * Reads what a TCP socket's send buffer holds, synchronously: the twin of
 * {@linkcode inspect} for tight loops. On Linux a call makes three syscalls (TCP_INFO,
 * SIOCOUTQ, SO_MEMINFO; up to five on kernels older than 4.6), on macOS two (the private
 * TCP_INFO, SO_SNDBUF), plus one to re-check a socket object's fd.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @returns the snapshot; a value the OS cannot give is `undefined`
 * @throws {TypeError} if `socket` is neither a socket nor an fd
 * @throws {RangeError} if a raw fd is negative, fractional or too large
 * @throws {SockbufError} if the OS refuses: `EBADF` for a closed fd, `ENOTSOCK` for a file,
 * `EOPNOTSUPP` (older Linux: `ENOPROTOOPT`) for a UDP or Unix socket, `EINVAL` for a
 * listening socket, `ENOTCONN` for a socket object that has closed
 *
 * @example Reading in a loop
 * ```ts
 * import { inspectSync } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * for (let i = 0; i < 3; i++) {
 *   const { queued, free } = inspectSync(conn);
 *   console.log(`${queued} bytes queued, ${free} bytes free`);
 * }
 * ```
 */
export function inspectSync(socket: SocketLike): SendBuffer {
  return platform().inspect(fdOf(socket));
}

/**
 * Reads what a TCP socket's send buffer holds: its size, the bytes queued, how many of
 * those are unsent and how many unacknowledged, and the room left.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @returns the snapshot; a value the OS cannot give is `undefined`
 * @throws {TypeError} if `socket` is neither a socket nor an fd
 * @throws {RangeError} if a raw fd is negative, fractional or too large
 * @throws {SockbufError} if the OS refuses: `EBADF` for a closed fd, `ENOTSOCK` for a file,
 * `EOPNOTSUPP` (older Linux: `ENOPROTOOPT`) for a UDP or Unix socket, `EINVAL` for a
 * listening socket, `ENOTCONN` for a socket object that has closed
 *
 * @example How far behind is the peer?
 * ```ts
 * import { inspect } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * await conn.write(new Uint8Array(100_000));
 * const buf = await inspect(conn);
 * console.log(`${buf.queued} of ${buf.size} bytes queued, ${buf.unsent} not yet sent`);
 * ```
 */
export function inspect(socket: SocketLike): Promise<SendBuffer> {
  // Inline rather than through settle(): no closure per call, on the hot path.
  try {
    return Promise.resolve(platform().inspect(fdOf(socket)));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Reads the send buffers of many sockets at once, synchronously: {@linkcode inspectSync} on
 * each, with the results in the order given. A socket that fails (closed, not TCP, a bad fd)
 * fails alone: its entry is `{ status: "rejected", reason }` with the error
 * {@linkcode inspectSync} would have thrown, and the others are still read. The entries have
 * the shape `Promise.allSettled` gives, so code written for
 * `Promise.allSettled(sockets.map(inspect))` reads them unchanged, at the cost of one
 * synchronous call per socket rather than a promise each.
 *
 * @param sockets raw fds, Deno conns, node:net or Bun sockets, serve requests or address pairs
 * @returns one entry per socket, in order: `{ status: "fulfilled", value }` or
 * `{ status: "rejected", reason }`
 * @throws {TypeError} if `sockets` is not iterable (or is a string)
 *
 * @example Sampling every connection, skipping the ones that closed
 * ```ts
 * import { inspectManySync } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using a = await Deno.connect({ port: listener.addr.port });
 * using b = await Deno.connect({ port: listener.addr.port });
 * for (const r of inspectManySync([a, b, -1])) {
 *   if (r.status === "fulfilled") console.log(`${r.value.queued} bytes queued`);
 *   else console.log(`skipped: ${r.reason}`); // -1 is not an fd: a RangeError
 * }
 * ```
 */
export function inspectManySync(sockets: Iterable<SocketLike>): PromiseSettledResult<SendBuffer>[] {
  if (
    typeof sockets === "string" || sockets === null || typeof sockets !== "object" ||
    typeof (sockets as Iterable<SocketLike>)[Symbol.iterator] !== "function"
  ) {
    throw new TypeError(`Expected sockets as an iterable of sockets, got ${described(sockets)}`);
  }
  const p = platform();
  const list = Array.isArray(sockets) ? sockets as SocketLike[] : [...sockets];
  const out: PromiseSettledResult<SendBuffer>[] = [];
  for (let i = 0; i < list.length; i++) {
    // One literal shape per outcome: the loop stays on one hidden class each.
    try {
      out.push({ status: "fulfilled", value: p.inspect(fdOf(list[i])) });
    } catch (reason) {
      out.push({ status: "rejected", reason });
    }
  }
  return out;
}

/**
 * Reads the send buffers of many sockets with one promise for all of them: a server sampling
 * all its connections pays one promise, not one per socket. The results are
 * {@linkcode inspectManySync}'s: in order, each socket failing alone with the shape
 * `Promise.allSettled` gives.
 *
 * @param sockets raw fds, Deno conns, node:net or Bun sockets, serve requests or address pairs
 * @returns one entry per socket, in order: `{ status: "fulfilled", value }` or
 * `{ status: "rejected", reason }`; rejects with a `TypeError` only if `sockets` is not iterable
 *
 * @example The connection furthest behind
 * ```ts
 * import { inspectMany } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using a = await Deno.connect({ port: listener.addr.port });
 * using b = await Deno.connect({ port: listener.addr.port });
 * await b.write(new Uint8Array(64 * 1024));
 * let worst = -1;
 * for (const r of await inspectMany([a, b])) {
 *   if (r.status === "fulfilled") worst = Math.max(worst, r.value.unsent ?? 0);
 * }
 * console.log(`most unsent: ${worst} bytes`);
 * ```
 */
export function inspectMany(sockets: Iterable<SocketLike>): Promise<PromiseSettledResult<SendBuffer>[]> {
  return settle(() => inspectManySync(sockets));
}

/**
 * Reads every field of the socket's `tcp_info` that the kernel returned. Fields are named
 * by dropping `tcpi_` and converting to camelCase (`notsentBytes`, `sndCwnd`, `rtt`); a
 * field the kernel did not return is `undefined`. Check `os` before reading OS-only fields.
 *
 * On Linux the result keeps the bytes the kernel returned and decodes each field when it is
 * read: `JSON.stringify` and `console.log` show every field, but spread and `Object.keys`
 * see only `os`, `state` and `length`; `JSON.parse(JSON.stringify(info))` gives a plain object.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @returns the fields, with `state` by name, `os`, and the `length` the kernel returned
 * @throws {TypeError} if `socket` is neither a socket nor an fd
 * @throws {RangeError} if a raw fd is negative, fractional or too large
 * @throws {SockbufError} if the OS refuses: `EBADF`, `ENOTSOCK`, `EOPNOTSUPP`/`ENOPROTOOPT`
 * for a socket that is not TCP, `ENOTCONN` for a socket object that has closed
 *
 * @example Round-trip time and congestion window
 * ```ts
 * import { tcpInfo } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const info = await tcpInfo(conn);
 * if (info.os === "linux") {
 *   console.log(info.state, `rtt ${info.rtt} µs`, `cwnd ${info.sndCwnd} segments`);
 * }
 * ```
 */
export function tcpInfo(socket: SocketLike): Promise<TcpInfo> {
  try {
    return Promise.resolve(platform().tcpInfo(fdOf(socket)));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Reads the socket's `tcp_info`, synchronously: the twin of {@linkcode tcpInfo} for tight
 * loops, with the same result. One syscall, plus one to re-check a socket object's fd.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @returns the fields, with `state` by name, `os`, and the `length` the kernel returned
 * @throws {TypeError} if `socket` is neither a socket nor an fd
 * @throws {RangeError} if a raw fd is negative, fractional or too large
 * @throws {SockbufError} if the OS refuses: `EBADF`, `ENOTSOCK`, `EOPNOTSUPP`/`ENOPROTOOPT`
 * for a socket that is not TCP, `ENOTCONN` for a socket object that has closed
 *
 * @example Sampling the congestion window
 * ```ts
 * import { tcpInfoSync } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * for (let i = 0; i < 3; i++) {
 *   const info = tcpInfoSync(conn);
 *   if (info.os === "linux") console.log(info.sndCwnd, info.rtt);
 * }
 * ```
 */
export function tcpInfoSync(socket: SocketLike): TcpInfo {
  return platform().tcpInfo(fdOf(socket));
}

/**
 * Reads the socket's `TCP_NOTSENT_LOWAT`: how many unsent bytes the socket lets queue
 * before it stops reporting itself writable.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @returns bytes; 0 when the socket has no value of its own (Linux then applies
 * `net.ipv4.tcp_notsent_lowat`, off by default; on macOS 0 is off)
 * @throws {TypeError} if `socket` is neither a socket nor an fd
 * @throws {RangeError} if a raw fd is negative, fractional or too large
 * @throws {SockbufError} if the OS refuses
 *
 * @example
 * ```ts
 * import { getNotSentLowat } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * console.log(await getNotSentLowat(conn)); // 0: the system default applies
 * ```
 */
export function getNotSentLowat(socket: SocketLike): Promise<number> {
  return settle(() => platform().getNotSentLowat(fdOf(socket)));
}

/**
 * Sets the socket's `TCP_NOTSENT_LOWAT`, which keeps latency low by letting at most about
 * `bytes` of unsent data wait in the kernel. On Linux `send()` itself stops past it; on
 * macOS only writability does, so a writer must check `unsent` itself.
 * 16384 is a common choice for streaming.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @param bytes the limit, an integer from 0 to 2147483647; 0 turns it off on macOS
 * @throws {TypeError} if `socket` is neither a socket nor an fd, or `bytes` is not a number
 * @throws {RangeError} if a raw fd or `bytes` is out of range or fractional
 * @throws {SockbufError} if the OS refuses: for a socket that is not TCP, the same code
 * {@linkcode getNotSentLowat} gives (`EOPNOTSUPP`; older Linux: `ENOPROTOOPT`)
 *
 * @example Keep at most 16 KiB unsent
 * ```ts
 * import { getNotSentLowat, setNotSentLowat } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * await setNotSentLowat(conn, 16 * 1024);
 * console.log(await getNotSentLowat(conn)); // 16384
 * ```
 */
export function setNotSentLowat(socket: SocketLike, bytes: number): Promise<void> {
  return settle(() => {
    const fd = fdOf(socket);
    checkInt("bytes", bytes, 0);
    // Read it first: on a socket that is not TCP the getter and the setter fail with
    // different codes (Linux 6.18 on UDP: getsockopt EOPNOTSUPP, setsockopt ENOPROTOOPT),
    // and EOPNOTSUPP, "not supported on this socket", is the one that says what is wrong.
    try {
      platform().getNotSentLowat(fd);
    } catch (err) {
      if (!(err instanceof SockbufError)) throw err;
      throw new SockbufError("set TCP_NOTSENT_LOWAT", err.syscall, err.errno, err.code);
    }
    platform().setNotSentLowat(fd, bytes + 0);
  });
}

/**
 * Unloads libc. The next call loads it again. Safe to call any number of times.
 *
 * @example
 * ```ts
 * import { closeLibrary } from "@sockbuf/sockbuf";
 *
 * closeLibrary();
 * closeLibrary(); // no-op
 * ```
 */
export function closeLibrary(): void {
  closeLibc();
}
