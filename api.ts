/**
 * The cross-platform calls: argument checks, then the running OS's platform.
 *
 * @module
 */
import { closeLibc } from "./ffi/mod.ts";
import { platform } from "./platform/mod.ts";
import type { SendBuffer, TcpInfo } from "./types.ts";

const INT_MAX = 2 ** 31 - 1;

function checkFd(fd: unknown): number {
  if (typeof fd !== "number") {
    throw new TypeError(
      `Expected a file descriptor as a number, got ${
        typeof fd === "string" ? `the string "${fd}"` : typeof fd
      }`,
    );
  }
  if (!Number.isInteger(fd) || fd < 0 || fd > INT_MAX) {
    throw new RangeError(`Expected a file descriptor as an integer from 0 to ${INT_MAX}, got ${fd}`);
  }
  return fd + 0; // -0 becomes 0: FFI rejects -0 as an i32
}

/**
 * Reads what a TCP socket's send buffer holds, synchronously: the twin of
 * {@linkcode inspect} for tight loops. Each call makes five syscalls on Linux.
 *
 * @param fd the socket's file descriptor
 * @returns the snapshot; a value the OS cannot give is `undefined`
 * @throws {TypeError} if `fd` is not a number
 * @throws {RangeError} if `fd` is negative, fractional or too large
 * @throws {SockbufError} if the OS refuses: `EBADF` for a closed fd, `ENOTSOCK` for a file,
 * `EOPNOTSUPP` (older Linux: `ENOPROTOOPT`) for a UDP or Unix socket, `EINVAL` for a listening socket
 *
 * @example A socket's snapshot, read in a loop
 * ```ts
 * import { inspectSync } from "@sockbuf/sockbuf";
 * import { connectedPair } from "@sockbuf/sockbuf/testing";
 *
 * await using pair = await connectedPair();
 * for (let i = 0; i < 3; i++) {
 *   const { queued, free } = inspectSync(pair.clientFd);
 *   console.log(`${queued} bytes queued, ${free} bytes free`);
 * }
 * ```
 */
export function inspectSync(fd: number): SendBuffer {
  return platform().inspect(checkFd(fd));
}

/**
 * Reads what a TCP socket's send buffer holds: its size, the bytes queued, how many of
 * those are unsent and how many unacknowledged, and the room left.
 *
 * @param fd the socket's file descriptor
 * @returns the snapshot; a value the OS cannot give is `undefined`
 * @throws {TypeError} if `fd` is not a number
 * @throws {RangeError} if `fd` is negative, fractional or too large
 * @throws {SockbufError} if the OS refuses: `EBADF` for a closed fd, `ENOTSOCK` for a file,
 * `EOPNOTSUPP` (older Linux: `ENOPROTOOPT`) for a UDP or Unix socket, `EINVAL` for a listening socket
 *
 * @example How far behind is the peer?
 * ```ts
 * import { inspect } from "@sockbuf/sockbuf";
 * import { connectedPair } from "@sockbuf/sockbuf/testing";
 *
 * await using pair = await connectedPair();
 * const buf = await inspect(pair.clientFd);
 * console.log(`${buf.queued} of ${buf.size} bytes queued, ${buf.unsent} not yet sent`);
 * ```
 */
export function inspect(fd: number): Promise<SendBuffer> {
  try {
    return Promise.resolve(inspectSync(fd));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Reads every field of the socket's `tcp_info` that the kernel returned. Fields are named
 * by dropping `tcpi_` and converting to camelCase (`notsentBytes`, `sndCwnd`, `rtt`); a
 * field the kernel did not return is `undefined`. Check `os` before reading OS-only fields.
 *
 * @param fd the socket's file descriptor
 * @returns the fields, with `state` by name, `os`, and the `length` the kernel returned
 * @throws {TypeError} if `fd` is not a number
 * @throws {RangeError} if `fd` is negative, fractional or too large
 * @throws {SockbufError} if the OS refuses: `EBADF`, `ENOTSOCK`, or `EOPNOTSUPP`/`ENOPROTOOPT`
 * for a socket that is not TCP
 *
 * @example Round-trip time and congestion window
 * ```ts
 * import { tcpInfo } from "@sockbuf/sockbuf";
 * import { connectedPair } from "@sockbuf/sockbuf/testing";
 *
 * await using pair = await connectedPair();
 * const info = await tcpInfo(pair.clientFd);
 * if (info.os === "linux") {
 *   console.log(info.state, `rtt ${info.rtt} µs`, `cwnd ${info.sndCwnd} segments`);
 * }
 * ```
 */
export function tcpInfo(fd: number): Promise<TcpInfo> {
  try {
    return Promise.resolve(platform().tcpInfo(checkFd(fd)));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Reads the socket's `TCP_NOTSENT_LOWAT`: the most unsent bytes the socket lets queue
 * before it stops reporting itself writable.
 *
 * @param fd the socket's file descriptor
 * @returns bytes; 0 when the socket has no value of its own (Linux then applies
 * `net.ipv4.tcp_notsent_lowat`, off by default; on macOS 0 is off)
 * @throws {TypeError} if `fd` is not a number
 * @throws {RangeError} if `fd` is negative, fractional or too large
 * @throws {SockbufError} if the OS refuses
 *
 * @example
 * ```ts
 * import { getNotSentLowat, setNotSentLowat } from "@sockbuf/sockbuf";
 * import { connectedPair } from "@sockbuf/sockbuf/testing";
 *
 * await using pair = await connectedPair();
 * await setNotSentLowat(pair.clientFd, 16384);
 * console.log(await getNotSentLowat(pair.clientFd)); // 16384
 * ```
 */
export function getNotSentLowat(fd: number): Promise<number> {
  try {
    return Promise.resolve(platform().getNotSentLowat(checkFd(fd)));
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * Sets the socket's `TCP_NOTSENT_LOWAT`, which keeps latency low by letting at most about
 * `bytes` of unsent data wait in the kernel. On Linux, `send()` itself stops past it; on
 * macOS only writability does, so a writer must check `unsent` itself.
 * 16384 is a common choice for streaming.
 *
 * @param fd the socket's file descriptor
 * @param bytes the limit in bytes, an integer from 0 to 2147483647; 0 turns it off on macOS
 * @throws {TypeError} if `fd` or `bytes` is not a number
 * @throws {RangeError} if `fd` or `bytes` is out of range or fractional
 * @throws {SockbufError} if the OS refuses
 *
 * @example Keep at most 16 KiB unsent
 * ```ts
 * import { setNotSentLowat } from "@sockbuf/sockbuf";
 * import { connectedPair } from "@sockbuf/sockbuf/testing";
 *
 * await using pair = await connectedPair();
 * await setNotSentLowat(pair.clientFd, 16 * 1024);
 * ```
 */
export function setNotSentLowat(fd: number, bytes: number): Promise<void> {
  try {
    const valid = checkFd(fd);
    if (typeof bytes !== "number") throw new TypeError(`Expected bytes as a number, got ${typeof bytes}`);
    if (!Number.isInteger(bytes) || bytes < 0 || bytes > INT_MAX) {
      throw new RangeError(`Expected bytes as an integer from 0 to ${INT_MAX}, got ${bytes}`);
    }
    platform().setNotSentLowat(valid, bytes + 0);
    return Promise.resolve();
  } catch (err) {
    return Promise.reject(err);
  }
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
