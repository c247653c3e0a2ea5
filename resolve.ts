/**
 * From the socket objects users hold to the fd the calls need: resolved once per object,
 * re-validated cheaply before each use, and never mistaken for a later socket that reuses
 * the same fd number.
 *
 * @module
 */
import { SockbufError } from "./errors.ts";
import { hintOf, keyOf, type SocketHint } from "./ffi/sockets.ts";
import { parseIpLiteral } from "./platform/ip.ts";
import { platform } from "./platform/mod.ts";
import type { SocketLike } from "./types.ts";

/** The largest C `int`: the bound on fds and byte counts. */
export const INT_MAX = 2 ** 31 - 1;

/** Validates a raw fd argument. */
export function checkFd(fd: unknown): number {
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

/** Parses an IPv4 or IPv6 literal into 16 bytes, IPv4 mapped to `::ffff:a.b.c.d`. */
export function parseIp(text: string): Uint8Array | undefined {
  return parseIpLiteral(text)?.bytes;
}

/**
 * A socket whose fd has been found, with what tells it from a later socket on the same fd
 * number. Pass it to any call in place of the object it came from; keep it where the
 * runtime object cannot be reached later (a Bun `ServerWebSocket`'s `ws.data`).
 *
 * @example
 * ```ts
 * import { inspect, resolveSocket } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const sock = await resolveSocket(conn);
 * console.log(`fd ${sock.fd}`, await inspect(sock));
 * ```
 */
export class ResolvedSocket {
  /** The socket's fd in this process. */
  readonly fd: number;
  /** What the socket was resolved from, for messages. */
  readonly kind: string;
  #identity: number | string;

  /** @internal Made by {@linkcode resolveSocket}. */
  constructor(fd: number, kind: string, identity: number | string) {
    this.fd = fd;
    this.kind = kind;
    this.#identity = identity;
  }

  /**
   * The fd, after checking it still holds this socket: one syscall on Linux (`SO_COOKIE`).
   * @throws {SockbufError} `EBADF` or `ENOTCONN` once the socket has closed
   */
  checkedFd(): number {
    const ops = platform().sockets;
    let now;
    try {
      now = ops.identity(this.fd);
    } catch (err) {
      if (!(err instanceof SockbufError)) throw err;
      if (err.code === "EBADF") {
        throw new SockbufError(
          `use the ${this.kind}: its fd ${this.fd} has closed`,
          err.syscall,
          err.errno,
          err.code,
        );
      }
      throw ops.closed(`the ${this.kind}'s fd ${this.fd} is no longer a TCP socket`);
    }
    if (now !== this.#identity) {
      throw ops.closed(`the ${this.kind}'s fd ${this.fd} now belongs to another socket`);
    }
    return this.fd;
  }
}

const cache = new WeakMap<object, ResolvedSocket>();

function describe(h: SocketHint): string {
  return `local port ${h.localPort ?? "?"} and peer ${h.remoteAddress ?? "?"} port ${h.remotePort ?? "?"}`;
}

/** Finds the fd of the TCP socket with this local port and peer, newest fd first. */
function scan(h: SocketHint): number {
  const ops = platform().sockets;
  const { localPort, remotePort, remoteAddress } = h;
  if (localPort === undefined || remotePort === undefined || remoteAddress === undefined) {
    throw ops.notFound(
      `the ${h.kind} reports no ${describe(h)}: it has closed or is not connected yet` +
        ` (a Bun ServerWebSocket has no ports: resolve at upgrade and keep the result in ws.data)`,
    );
  }
  const peer = parseIp(remoteAddress);
  if (!peer) {
    throw new TypeError(`Expected the peer address as an IPv4 or IPv6 literal, got "${remoteAddress}"`);
  }
  const fds = ops.openFds();
  for (const fd of fds) {
    if (
      ops.matches(fd, "peer", remotePort, peer) && ops.matches(fd, "local", localPort) && ops.isStream(fd)
    ) {
      return fd;
    }
  }
  throw ops.notFound(`no open TCP socket has ${describe(h)} (searched ${fds.length} fds)`);
}

function resolveObject(socket: object, key: object): ResolvedSocket {
  const h = hintOf(socket);
  if (!h) {
    throw new TypeError(
      "Expected a socket: a file descriptor, a Deno conn, a node:net or Bun socket, " +
        "{ server, info } from Deno.serve, { server, request } from Bun.serve, or " +
        "{ localPort, remoteAddress, remotePort }",
    );
  }
  const ops = platform().sockets;
  // Trust the runtime's fd only while its peer is the one the object reports; otherwise
  // (closed, or a number since reused) look by address, which fails for a closed socket.
  let fd = h.fd;
  const peer = h.remoteAddress === undefined ? undefined : parseIp(h.remoteAddress);
  if (
    fd !== undefined && !(peer && h.remotePort !== undefined && ops.matches(fd, "peer", h.remotePort, peer))
  ) {
    fd = undefined;
  }
  fd ??= scan(h);
  const resolved = new ResolvedSocket(fd, h.kind, ops.identity(fd));
  cache.set(key, resolved);
  return resolved;
}

/** The checked fd for any accepted socket form; raw fds are checked as arguments only. */
export function fdOf(socket: SocketLike): number {
  if (typeof socket !== "object" || socket === null) return checkFd(socket);
  if (socket instanceof ResolvedSocket) return socket.checkedFd();
  const key = keyOf(socket);
  const cached = cache.get(key);
  return cached ? cached.checkedFd() : resolveObject(socket, key).fd;
}

/**
 * Finds the fd behind a runtime's socket object once, for keeping: pass the result to any
 * call in place of the object. Every call already caches this per object; keep the result
 * yourself only where the object will not be at hand later, as with a Bun `ServerWebSocket`.
 *
 * @param socket a Deno conn, a node:net or Bun socket, `{ server, info }` from `Deno.serve`,
 * `{ server, request }` from `Bun.serve`, or `{ localPort, remoteAddress, remotePort }`
 * @returns the socket with its fd
 * @throws {TypeError} for an object that is not a socket
 * @throws {SockbufError} `ENOTCONN` if no open fd holds the connection (the message says what was searched)
 *
 * @example Resolve at upgrade, keep it in `ws.data` (Bun)
 * ```ts ignore
 * import { inspect, resolveSocket, type ResolvedSocket } from "@sockbuf/sockbuf";
 *
 * Bun.serve<{ sock: ResolvedSocket }>({
 *   port: 0,
 *   async fetch(request, server) {
 *     const sock = await resolveSocket({ server, request });
 *     server.upgrade(request, { data: { sock } });
 *     return undefined;
 *   },
 *   websocket: {
 *     async message(ws, msg) {
 *       const { unsent } = await inspect(ws.data.sock);
 *       if ((unsent ?? 0) < 64 * 1024) ws.send(msg);
 *     },
 *   },
 * });
 * ```
 */
export function resolveSocket(socket: SocketLike): Promise<ResolvedSocket> {
  try {
    if (typeof socket !== "object" || socket === null) {
      const fd = checkFd(socket);
      return Promise.resolve(new ResolvedSocket(fd, "fd", platform().sockets.identity(fd)));
    }
    if (socket instanceof ResolvedSocket) return Promise.resolve(socket);
    const key = keyOf(socket);
    return Promise.resolve(cache.get(key) ?? resolveObject(socket, key));
  } catch (err) {
    return Promise.reject(err);
  }
}
