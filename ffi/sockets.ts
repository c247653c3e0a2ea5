/**
 * What each runtime's socket objects say about themselves: an fd where the runtime gives
 * one, otherwise the address pair to look for. This is the only file that knows the shapes
 * of Deno's and Bun's socket objects.
 *
 * | object | what it gives |
 * | --- | --- |
 * | Bun `Bun.connect`/`Bun.listen` socket | `socket.fd` |
 * | Bun `node:net` socket | `_handle.fd` |
 * | Deno `Deno.connect`/`connectTls`/`accept()` conn | `localAddr`, `remoteAddr` (no fd since Deno 2) |
 * | Deno `node:net` socket | `localPort`, `remoteAddress`, `remotePort` (`_handle.fdForIpc()` would return a dup that must be closed, so it is not used) |
 * | Deno `Deno.serve` | `server.addr.port`, `info.remoteAddr` |
 * | Bun `Bun.serve` | `server.port`, `server.requestIP(request)` |
 *
 * @module
 */

/** What a socket object says: its fd, or the ports and peer address to match. */
export interface SocketHint {
  /** The fd the runtime gives, if any. */
  readonly fd?: number;
  readonly localPort?: number;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  /** The object whose lifetime matches the connection, for caching the result. */
  readonly key: object;
  /** What the object is, for messages. */
  readonly kind: string;
}

type Loose = Record<string, unknown>;
const isObject = (x: unknown): x is Loose => typeof x === "object" && x !== null;
const num = (x: unknown): number | undefined => (typeof x === "number" ? x : undefined);
const str = (x: unknown): string | undefined => (typeof x === "string" ? x : undefined);

/** The hint for a runtime socket object, or `undefined` for a shape this file does not know. */
export function hintOf(x: object): SocketHint | undefined {
  const o = x as Loose;
  // { server, info } from Deno.serve's handler
  if (isObject(o.server) && isObject(o.info) && isObject(o.info.remoteAddr)) {
    const addr = o.server.addr as Loose | undefined;
    return {
      localPort: num(addr?.port),
      remoteAddress: str(o.info.remoteAddr.hostname),
      remotePort: num(o.info.remoteAddr.port),
      key: o.info,
      kind: "Deno.serve request",
    };
  }
  // { server, request } from Bun.serve's fetch handler
  if (isObject(o.server) && typeof o.server.requestIP === "function" && isObject(o.request)) {
    const ip = (o.server.requestIP as (r: unknown) => Loose | null).call(o.server, o.request);
    return {
      localPort: num(o.server.port),
      remoteAddress: str(ip?.address),
      remotePort: num(ip?.port),
      key: o.request,
      kind: "Bun.serve request",
    };
  }
  // Deno.Conn, Deno.TlsConn
  if (isObject(o.localAddr) && isObject(o.remoteAddr)) {
    return {
      localPort: num(o.localAddr.port),
      remoteAddress: str(o.remoteAddr.hostname),
      remotePort: num(o.remoteAddr.port),
      key: o,
      kind: "Deno conn",
    };
  }
  // Bun sockets (fd), node:net sockets (Bun: _handle.fd), plain address pairs
  const handleFd = isObject(o._handle) ? num(o._handle.fd) : undefined;
  const fd = num(o.fd) ?? handleFd;
  const pair = {
    localPort: num(o.localPort),
    remoteAddress: str(o.remoteAddress),
    remotePort: num(o.remotePort),
  };
  if (fd !== undefined && fd >= 0) {
    return { fd, ...pair, key: o, kind: handleFd === undefined ? "socket" : "node:net socket" };
  }
  // `in`, not a value test: a closed node:net socket still has the getters, all undefined.
  if ("localPort" in o || "remoteAddress" in o || "remotePort" in o) {
    return { ...pair, key: o, kind: "_handle" in o ? "node:net socket" : "address pair" };
  }
  return undefined;
}

/** The object whose lifetime is the connection's: the cache key, found without a full hint. */
export function keyOf(x: object): object {
  const o = x as Loose;
  if (isObject(o.server) && isObject(o.info)) return o.info;
  if (isObject(o.server) && isObject(o.request)) return o.request;
  return o;
}
