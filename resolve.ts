/**
 * From the socket objects users hold to the fd the calls need: resolved once per object,
 * re-validated cheaply before each use, and never mistaken for a later socket that reuses
 * the same fd number.
 *
 * @module
 */
import { checkFd, checkInt, described, settle } from "./_args.ts";
import { SockbufError } from "./errors.ts";
import { hintOf, isUnspecified, keyOf, type SocketHint } from "./_runtime.ts";
import { parseIpLiteral } from "./_ip.ts";
import { platform } from "./platform/mod.ts";
import type { AddressPair, BunServeRequest, ConnLike, DenoServeRequest, SocketHolder } from "./types.ts";

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
  #open: (() => boolean) | undefined;

  /** @internal Made by {@linkcode resolveSocket}. */
  constructor(fd: number, kind: string, identity: number | string, open?: () => boolean) {
    this.fd = fd;
    this.kind = kind;
    this.#identity = identity;
    this.#open = open;
  }

  /**
   * @internal True for a ResolvedSocket. A brand check, not `instanceof`: that asks the
   * object's prototype, and an http2 session's `socket` proxy throws on that once the
   * session has let its socket go.
   */
  static isOne(x: object): x is ResolvedSocket {
    return #identity in x;
  }

  /** "fd 22" for a raw fd, "the Deno conn's fd 22" for an object. */
  #fdName(): string {
    return this.kind === "fd" ? `fd ${this.fd}` : `the ${this.kind}'s fd ${this.fd}`;
  }

  /**
   * The fd, after checking it still holds this socket: one syscall on Linux (`SO_COOKIE`).
   * @throws {SockbufError} `EBADF` or `ENOTCONN` once the socket has closed
   */
  checkedFd(): number {
    const ops = platform().sockets;
    if (this.#open && !this.#open()) {
      throw ops.closed(`the ${this.kind} was closed; Deno releases its fd ${this.fd} a moment later`);
    }
    let now;
    try {
      now = ops.identity(this.fd);
    } catch (err) {
      if (!(err instanceof SockbufError)) throw err;
      if (err.code === "EBADF") {
        const what = this.kind === "fd" ? `fd ${this.fd}: it` : `the ${this.kind}: its fd ${this.fd}`;
        throw new SockbufError(`use ${what} has closed`, err.syscall, err.errno, err.code);
      }
      throw ops.closed(`${this.#fdName()} is no longer a TCP socket`);
    }
    if (now !== this.#identity) {
      throw ops.closed(`${this.#fdName()} now belongs to another socket`);
    }
    return this.fd;
  }
}

/**
 * Anything the calls accept as a socket: a raw fd, a runtime's socket object, a serve
 * request, an address pair, or a socket already resolved. Each object is resolved to its
 * fd once and re-checked before every later call.
 *
 * @example A Deno conn (`Deno.connect`, `Deno.connectTls`, `Deno.listen().accept()`)
 * ```ts
 * import { inspect } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * console.log(await inspect(conn));
 * ```
 *
 * @example Inside `Deno.serve`: the server and the handler's `info`
 * ```ts
 * import { inspect } from "@sockbuf/sockbuf";
 *
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (_req, info) => {
 *   const { queued } = await inspect({ server, info });
 *   return new Response(`${queued} bytes queued`);
 * });
 * console.log(await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text());
 * await server.shutdown();
 * ```
 *
 * @example A `node:net` socket, on Node, Deno or Bun
 * ```ts
 * import * as net from "node:net";
 * import { inspect } from "@sockbuf/sockbuf";
 *
 * const server = net.createServer((s) => s.end()).listen(0, "127.0.0.1");
 * await new Promise((r) => server.once("listening", r));
 * const socket = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
 * await new Promise((r) => socket.once("connect", r));
 * console.log(await inspect(socket));
 * socket.destroy();
 * server.close();
 * ```
 *
 * @example A `Bun.connect` or `Bun.listen` socket (Bun)
 * ```ts ignore
 * import { inspect } from "@sockbuf/sockbuf";
 *
 * const socket = await Bun.connect({ hostname: "127.0.0.1", port: 8080, socket: { data() {} } });
 * console.log(await inspect(socket));
 * ```
 *
 * @example Inside `Bun.serve`: the server and the request (Bun)
 * ```ts ignore
 * import { inspect } from "@sockbuf/sockbuf";
 *
 * Bun.serve({
 *   port: 8080,
 *   async fetch(request, server) {
 *     const { queued } = await inspect({ server, request });
 *     return new Response(`${queued} bytes queued`);
 *   },
 * });
 * ```
 *
 * @example Any other connection: its local port and its peer
 * ```ts
 * import { inspect } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const pair = { localPort: conn.localAddr.port, remoteAddress: "127.0.0.1", remotePort: listener.addr.port };
 * console.log(await inspect(pair));
 * ```
 *
 * @example A raw fd, where you have one
 * ```ts ignore
 * import { inspect } from "@sockbuf/sockbuf";
 *
 * console.log(await inspect(7)); // the fd of a TCP socket in this process
 * ```
 */
export type SocketLike =
  | number
  | ConnLike
  | AddressPair
  | DenoServeRequest
  | BunServeRequest
  | SocketHolder
  | ResolvedSocket;

const cache = new WeakMap<object, ResolvedSocket>();

/** "local 127.0.0.1 port 80 and peer ::1 port 5000", with `?` for what the hint lacks. */
function describe(h: SocketHint): string {
  const local = h.localAddress === undefined ? "" : `${h.localAddress} `;
  return `local ${local}port ${h.localPort ?? "?"} and peer ${h.remoteAddress ?? "?"} port ${
    h.remotePort ?? "?"
  }`;
}

/** "no peer address or port": only the fields the hint lacks, for a message. */
function missing(h: SocketHint): string {
  const names = [
    h.localPort === undefined && "local port",
    h.remoteAddress === undefined && "peer address",
    h.remotePort === undefined && "peer port",
  ].filter((n): n is string => !!n);
  return names.length < 2 ? `no ${names[0]}` : `no ${names.slice(0, -1).join(", ")} or ${names.at(-1)}`;
}

/** Throws a `RangeError` naming the field unless `port` is an integer from 1 to 65535 (or absent). */
function checkPort(name: string, port: unknown): void {
  if (port !== undefined) checkInt(name, port, 1, 65535);
}

/** Checks a plain address pair's fields, which, unlike a runtime's, come straight from the caller. */
function checkPair(pair: Record<string, unknown>): void {
  checkPort("localPort", pair.localPort);
  checkPort("remotePort", pair.remotePort);
  for (const name of ["localAddress", "remoteAddress"]) {
    if (pair[name] !== undefined && typeof pair[name] !== "string") {
      throw new TypeError(`Expected ${name} as a string, got ${described(pair[name])}`);
    }
  }
}

/** The 16-byte form of an address the hint gives, or a TypeError naming it. */
function addressOf(name: string, text: string): Uint8Array {
  const bytes = parseIp(text);
  if (!bytes) throw new TypeError(`Expected the ${name} address as an IPv4 or IPv6 literal, got "${text}"`);
  return bytes;
}

/** The local address to match: `undefined` for none given, or a wildcard (which no connection has). */
function localOf(h: SocketHint): Uint8Array | undefined {
  if (h.localAddress === undefined) return undefined;
  const bytes = addressOf("local", h.localAddress);
  return isUnspecified(bytes) ? undefined : bytes;
}

/**
 * True when the fd is a TCP socket with this whole 4-tuple; the local address only where
 * it is known. Addresses compare as 16 bytes with IPv4 mapped, so `127.0.0.1` matches an
 * IPv6 socket's `::ffff:127.0.0.1`: the kernel keeps a 4-tuple unique across both families.
 */
function matchesTuple(
  fd: number,
  h: SocketHint,
  peer: Uint8Array,
  local: Uint8Array | undefined,
): boolean {
  const ops = platform().sockets;
  return ops.matches(fd, "peer", h.remotePort!, peer) && ops.matches(fd, "local", h.localPort!, local) &&
    ops.isStream(fd);
}

/**
 * Finds the fd of the TCP socket with the hint's 4-tuple, newest fd first. Without a local
 * address, two sockets can share the rest of it (one client port reaching two of this
 * host's addresses): then every fd is checked, and two sockets are an error, not a guess.
 */
function scan(h: SocketHint): number {
  const ops = platform().sockets;
  const { localPort, remotePort, remoteAddress } = h;
  if (h.gone !== undefined) {
    throw ops.notFound(`the ${h.kind} has closed (${h.gone})`);
  }
  if (localPort === undefined || remotePort === undefined || remoteAddress === undefined) {
    throw ops.notFound(
      `the ${h.kind} reports ${missing(h)}: it has closed or is not connected yet` +
        ` (a Bun ServerWebSocket has no ports: resolve at upgrade and keep the result in ws.data)`,
    );
  }
  const peer = addressOf("peer", remoteAddress);
  const local = localOf(h);
  const fds = ops.openFds();
  let found: { fd: number; identity: number | string } | undefined;
  for (const fd of fds) {
    if (!matchesTuple(fd, h, peer, local)) continue;
    if (local) return fd;
    const identity = ops.identity(fd);
    if (!found) {
      found = { fd, identity };
    } else if (identity !== found.identity) {
      const where = (n: number) => {
        const e = ops.address(n, "local");
        return e ? ipText(e.address) : "?";
      };
      throw new Error(
        `Cannot tell which socket the ${h.kind} is: 2 open TCP sockets have ${describe(h)} ` +
          `(local addresses ${where(found.fd)} and ${where(fd)}), and the ${h.kind} does not say its ` +
          `local address (${h.localUnknown ?? "none was given"}): listen on one address, or ` +
          `pass { localAddress, localPort, remoteAddress, remotePort }`,
      );
    }
  }
  if (found) return found.fd;
  throw ops.notFound(`no open TCP socket has ${describe(h)} (searched ${fds.length} fds)`);
}

/** An address's text, IPv4-mapped shown as IPv4. */
function ipText(b: Uint8Array): string {
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
    return b.subarray(12).join(".");
  }
  const words = Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16));
  // The longest run of two or more zero words becomes "::" (RFC 5952).
  let best = [0, 0];
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === "0") j++;
    if (j - i > best[1] - best[0]) best = [i, j];
    i = j === i ? i + 1 : j;
  }
  if (best[1] - best[0] < 2) return words.join(":");
  return `${words.slice(0, best[0]).join(":")}::${words.slice(best[1]).join(":")}`;
}

function resolveObject(socket: object, key: object): ResolvedSocket {
  const h = hintOf(socket);
  if (!h) {
    throw new TypeError(
      "Expected a socket: a file descriptor, a Deno conn, a node:net, node:tls or Bun socket, " +
        "a node:http request or response, an http2 session or stream, a ws WebSocket, " +
        "{ server, info } from Deno.serve, { server, request } from Bun.serve, or " +
        "{ localPort, remoteAddress, remotePort }",
    );
  }
  if (h.kind === "address pair") checkPair(socket as Record<string, unknown>);
  const ops = platform().sockets;
  if (h.open && !h.open()) throw ops.notFound(`the ${h.kind} has been closed`);
  // Trust the runtime's fd only while it holds the 4-tuple the object reports; otherwise
  // (closed, or a number since reused) look by address, which fails for a closed socket.
  let fd = h.fd;
  if (fd !== undefined) {
    const peer = h.remoteAddress === undefined ? undefined : parseIp(h.remoteAddress);
    const local = h.localAddress === undefined || !parseIp(h.localAddress) ? undefined : localOf(h);
    if (
      !(peer && h.remotePort !== undefined && h.localPort !== undefined && matchesTuple(fd, h, peer, local))
    ) {
      fd = undefined;
    }
  }
  fd ??= scan(h);
  const resolved = new ResolvedSocket(fd, h.kind, ops.identity(fd), h.open);
  cache.set(key, resolved);
  return resolved;
}

/** The checked fd for any accepted socket form; raw fds are checked as arguments only. */
export function fdOf(socket: SocketLike): number {
  if (typeof socket !== "object" || socket === null) return checkFd(socket);
  if (ResolvedSocket.isOne(socket)) return socket.checkedFd();
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
 * @throws {TypeError} for an object that is not a socket, or a UDP socket object
 * @throws {RangeError} for an address pair whose port is not an integer from 1 to 65535
 * @throws {SockbufError} `ENOTCONN` if no open fd holds the connection (the message says what was
 * searched), or the object itself has closed
 * @throws {Error} if two sockets match and the object does not say its local address (a serve
 * request on a `0.0.0.0` or `::` listener)
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
  return settle(() => {
    if (typeof socket !== "object" || socket === null) {
      const fd = checkFd(socket);
      return new ResolvedSocket(fd, "fd", platform().sockets.identity(fd));
    }
    if (ResolvedSocket.isOne(socket)) return socket;
    const key = keyOf(socket);
    return cache.get(key) ?? resolveObject(socket, key);
  });
}
