/**
 * Helpers every OS file shares.
 *
 * @module
 */
import { SockbufError } from "../errors.ts";
import type { Libc } from "../ffi/mod.ts";
import type { TcpState } from "../types.ts";
import type { Endpoint, SocketOps, TestingOps } from "./types.ts";

/** Names an errno by a per-OS table. */
export function errnoName(table: readonly string[], errno: number): string {
  return table[errno] || `ERRNO_${errno}`;
}

/**
 * Returns `result` when it is a success, or throws the `SockbufError` for `-result`.
 * @param op completes "Cannot …", such as `read TCP_INFO`
 */
export function check(
  result: number,
  table: readonly string[],
  op: string,
  syscall: string,
): number {
  if (result >= 0) return result;
  throw new SockbufError(op, syscall, -result, errnoName(table, -result));
}

/** A `SockbufError` for `code`, numbered by a per-OS table. */
export function errorFor(table: readonly string[], op: string, syscall: string, code: string): SockbufError {
  return new SockbufError(op, syscall, table.indexOf(code), code);
}

/** Reading and writing `int` socket options, with errors named by a per-OS table. */
export function intOptions(table: readonly string[]): {
  get(c: Libc, fd: number, level: number, name: number, what: string): number;
  set(c: Libc, fd: number, level: number, name: number, value: number, what: string): void;
} {
  const int = new Uint8Array(4);
  const view = new DataView(int.buffer);
  return {
    get(c, fd, level, name, what) {
      check(c.getsockopt(fd, level, name, int), table, `read ${what}`, "getsockopt");
      return view.getUint32(0, true);
    },
    set(c, fd, level, name, value, what) {
      view.setUint32(0, value, true);
      check(c.setsockopt(fd, level, name, int), table, `set ${what}`, "setsockopt");
    },
  };
}

/** Maps a state number through a per-OS table. */
export function stateName(table: readonly TcpState[], n: number): TcpState {
  return table[n] ?? "UNKNOWN";
}

/** Per-OS numbers for {@linkcode socketOps}. */
export interface SocketConsts {
  readonly SOL_SOCKET: number;
  readonly SO_TYPE: number;
  readonly SOCK_STREAM: number;
  readonly AF_INET: number;
  readonly AF_INET6: number;
  readonly ENOTCONN: number;
  /** Byte offset of the address family: 0 (Linux u16) or 1 (BSD, after `sa_len`). */
  readonly familyOffset: 0 | 1;
  /** The directory listing this process's fds. */
  readonly fdDir: string;
  readonly errno: readonly string[];
}

/** Parses an IPv4 or IPv6 sockaddr; IPv4 comes back mapped into IPv6. */
export function parseSockaddr(k: SocketConsts, buf: Uint8Array, len: number): Endpoint | undefined {
  const family = buf[k.familyOffset] | (k.familyOffset === 0 ? buf[1] << 8 : 0);
  const port = (buf[2] << 8) | buf[3];
  if (family === k.AF_INET && len >= 8) {
    const address = new Uint8Array(16);
    address[10] = address[11] = 0xff;
    address.set(buf.subarray(4, 8), 12);
    return { address, port };
  }
  if (family === k.AF_INET6 && len >= 24) return { address: buf.slice(8, 24), port };
  return undefined;
}

/** The fd-finding calls, shared by every OS but for `identity`. */
export function socketOps(
  k: SocketConsts,
  lib: () => Libc,
  identity: (fd: number) => number | string,
): SocketOps {
  const addr = new Uint8Array(128);
  const int = new Uint8Array(4);
  /** Reads one end's sockaddr into `addr`; returns its length or `-errno`. */
  const sockaddr = (fd: number, end: "local" | "peer") =>
    end === "peer" ? lib().getpeername(fd, addr) : lib().getsockname(fd, addr);
  const ops: SocketOps = {
    openFds() {
      const names = lib().listDir(k.fdDir);
      if (typeof names === "number") check(names, k.errno, `list ${k.fdDir}`, "opendir");
      const fds = (names as string[]).filter((n) => /^\d+$/.test(n)).map(Number);
      return fds.sort((a, b) => b - a);
    },
    address(fd, end) {
      const n = sockaddr(fd, end);
      return n < 0 ? undefined : parseSockaddr(k, addr, n);
    },
    matches(fd, end, port, address) {
      const n = sockaddr(fd, end);
      // The port first and in place: a scan rejects almost every fd here, allocating nothing.
      if (n < 4 || ((addr[2] << 8) | addr[3]) !== port) return false;
      if (!address) return parseSockaddr(k, addr, n) !== undefined;
      const e = parseSockaddr(k, addr, n);
      return !!e && e.address.every((b, i) => b === address[i]);
    },
    isStream(fd) {
      return lib().getsockopt(fd, k.SOL_SOCKET, k.SO_TYPE, int) >= 0 &&
        new DataView(int.buffer).getInt32(0, true) === k.SOCK_STREAM;
    },
    identity,
    closed(detail) {
      return new SockbufError(`use a closed socket (${detail})`, "getsockopt", k.ENOTCONN, "ENOTCONN");
    },
    notFound(searched) {
      return new SockbufError(`find the socket: ${searched}`, "getpeername", k.ENOTCONN, "ENOTCONN");
    },
  };
  return ops;
}

/** The testing calls, shared by every OS but for how `SO_RCVBUF` is set. */
export function testingOps(
  ops: SocketOps,
  lib: () => Libc,
  setReceiveBuffer: (fd: number, bytes: number) => void,
): TestingOps {
  return {
    setReceiveBuffer,
    unconnected(port) {
      const peer = new Uint8Array(128);
      return ops.openFds().find((fd) => ops.matches(fd, "local", port) && lib().getpeername(fd, peer) < 0);
    },
  };
}
