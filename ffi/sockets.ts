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

/** How to hand bytes to a runtime socket, and how many bytes the runtime holds above the kernel. */
export interface RuntimeWriter {
  /**
   * Writes the whole chunk. Resolves once the runtime has taken all of it (Deno: written
   * to the kernel; node:net: flushed from its userland buffer; Bun: accepted by the
   * kernel, after waiting out partial writes).
   */
  write(chunk: Uint8Array, wait: () => Promise<void>): Promise<void>;
  /** Bytes the runtime has accepted and not yet given to the kernel. */
  pending(): number;
}

/** The writer for a Deno conn, a node:net socket or a Bun socket; `undefined` for others. */
export function writerOf(x: object): RuntimeWriter | undefined {
  const o = x as Loose;
  if (typeof o.write !== "function") return undefined;
  const write = o.write as (...args: unknown[]) => unknown;
  // node:net (Deno or Bun): write(chunk, callback) buffers in userland; the callback runs
  // once the chunk has left that buffer.
  if (typeof o.writableLength === "number" && typeof o.once === "function") {
    return {
      write: (chunk) =>
        new Promise<void>((resolve, reject) => {
          write.call(o, chunk, (err?: Error | null) => (err ? reject(err) : resolve()));
        }),
      pending: () => o.writableLength as number,
    };
  }
  // Deno conns: write() resolves with how many bytes the kernel took.
  if (isObject(o.localAddr) && isObject(o.remoteAddr)) {
    return {
      async write(chunk) {
        for (let off = 0; off < chunk.length;) {
          off += await (write.call(o, chunk.subarray(off)) as Promise<number>);
        }
      },
      pending: () => 0,
    };
  }
  // Bun sockets: write() returns how many bytes the kernel took and keeps none of the rest
  // (-1 once closed); the caller's `wait` decides when to try again.
  if (typeof o.fd === "number") {
    return {
      async write(chunk, wait) {
        for (let off = 0; off < chunk.length;) {
          const n = write.call(o, chunk.subarray(off)) as number;
          if (n < 0) throw new Error("Cannot write: the socket has closed");
          off += n;
          if (off < chunk.length) await wait();
        }
      },
      pending: () => 0,
    };
  }
  return undefined;
}
