/**
 * The one module that knows which runtime is running and how its objects look: whether this
 * is Bun, Deno or Node, the host OS and CPU as the runtime names them, and what each runtime's
 * socket objects say about themselves (an fd where the runtime gives one, otherwise the
 * address pair to look for). Everything else asks here instead of testing `globalThis`.
 *
 * | object | what it gives |
 * | --- | --- |
 * | Bun `Bun.connect`/`Bun.listen` socket | `socket.fd`, checked against `localAddress`, `localPort`, `remoteAddress`, `remotePort` |
 * | Bun `node:net` socket | `_handle.fd`, checked the same way |
 * | Node `node:net`/`node:tls` socket | `_handle.fd`, checked the same way |
 * | Node `http`/`https` request or response, `http2` compat request or response | its `socket`, as above |
 * | Node `http2` session | its `socket` (a proxy that still gives `_handle.fd`) |
 * | Node `http2` stream | its `session`'s socket |
 * | `ws` WebSocket (server or client side) | its `_socket` |
 * | Deno `Deno.connect`/`connectTls`/`accept()` conn | `localAddr`, `remoteAddr` (no fd since Deno 2) |
 * | Deno `node:net` socket | `localAddress`, `localPort`, `remoteAddress`, `remotePort` (`_handle.fdForIpc()` would return a dup that must be closed, so it is not used) |
 * | Deno `Deno.serve` | `server.addr`, `info.remoteAddr` (no local address: a `0.0.0.0` listener leaves it unknown) |
 * | Bun `Bun.serve` | `server.hostname`, `server.port`, `server.requestIP(request)` (likewise) |
 * | `node:dgram`, `Bun.udpSocket`, Deno `DatagramConn` | refused: UDP (told apart without reading node:dgram's deprecated `_handle`) |
 *
 * @module
 */
import { parseIpLiteral } from "./_ip.ts";

/** True under Bun. */
export const isBun: boolean = "Bun" in globalThis;

/** True under Deno. */
export const isDeno: boolean = !isBun && "Deno" in globalThis;

/**
 * True under Node: neither Bun nor Deno (both of which also set `process.versions.node`),
 * and a `process` that says it is Node.
 */
export const isNode: boolean = !isBun && !isDeno &&
  typeof (globalThis as { process?: { versions?: { node?: unknown } } }).process?.versions?.node === "string";

/** The running runtime's name. */
export const runtimeName: "bun" | "deno" | "node" = isBun ? "bun" : isDeno ? "deno" : "node";

/** The `process` of Bun or Node, which name the OS and CPU alike. */
const nodeProcess = (): { platform: string; arch: string } =>
  (globalThis as unknown as { process: { platform: string; arch: string } }).process;

/** The runtime's name for the host OS: `"linux"`, `"darwin"`, `"windows"` (Deno) or `"win32"` (Bun, Node), … */
export function hostOs(): string {
  if (!isDeno) return nodeProcess().platform;
  return Deno.build.os;
}

/** The runtime's name for the CPU: `"x86_64"`/`"aarch64"` (Deno) or `"x64"`/`"arm64"` (Bun, Node). */
export function hostArch(): string {
  if (!isDeno) return nodeProcess().arch;
  return Deno.build.arch;
}

/** What a socket object says: its fd, or the addresses and ports to look for. */
export interface SocketHint {
  /** The fd the runtime gives, if any. */
  readonly fd?: number;
  /**
   * The local address, where the object says it; `undefined` where it does not (a serve
   * request on a `0.0.0.0` or `::` listener), and then the match cannot use it.
   */
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  /** The object whose lifetime matches the connection, for caching the result. */
  readonly key: object;
  /** What the object is, for messages. */
  readonly kind: string;
  /** Why the object cannot be used any more, when it says so itself (Deno.serve's "Request closed"). */
  readonly gone?: string;
  /** Why the local address is unknown, for the message when two sockets match. */
  readonly localUnknown?: string;
  /**
   * False once the object has been closed, where its fd outlives `close()` (a Deno conn: a
   * TLS conn keeps its fd ~100 ms to send close_notify; a conn with a pending read keeps it
   * until the read is cancelled).
   */
  readonly open?: () => boolean;
}

type Loose = Record<PropertyKey, unknown>;
const isObject = (x: unknown): x is Loose => typeof x === "object" && x !== null;
const num = (x: unknown): number | undefined => (typeof x === "number" ? x : undefined);
const str = (x: unknown): string | undefined => (typeof x === "string" ? x : undefined);

/** True for `::` and `0.0.0.0` (as 16 bytes, IPv4 mapped): a listener's "any address". */
export function isUnspecified(b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) {
    if (b[i] !== 0 && !((i === 10 || i === 11) && b[i] === 0xff)) return false;
  }
  return true;
}

/**
 * A listener's own address, which is every connection's local address unless it is a
 * wildcard (`0.0.0.0`, `::`) or a name (Bun keeps `localhost` as given).
 */
function listenAddress(hostname: unknown): { localAddress?: string; localUnknown?: string } {
  const h = str(hostname);
  if (h === undefined) return { localUnknown: "its server's address is unknown" };
  const ip = parseIpLiteral(h);
  if (!ip || isUnspecified(ip.bytes)) return { localUnknown: `its server listens on ${h}` };
  return { localAddress: h };
}

/**
 * Reads a property whose getter throws once the request is over (Deno.serve's `remoteAddr`
 * throws `TypeError: Request closed`): the value, or the error's message.
 */
function read(o: Loose, name: string): { value?: unknown; error?: string } {
  try {
    return { value: o[name] };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** A UDP socket object's name, read without touching `_handle` (DEP0112 on node:dgram). */
function udpKind(o: Loose): string | undefined {
  if (o.type === "udp4" || o.type === "udp6") return `node:dgram socket (${o.type})`;
  if (typeof o.sendMany === "function" && typeof o.addMembership === "function") return "Bun.udpSocket";
  if (typeof o.joinMulticastV4 === "function" && typeof o.receive === "function") return "Deno DatagramConn";
  return undefined;
}

// Deno conns closed through sockbuf's view of them: see denoOpen.
const closedConns = new WeakSet<object>();
const trackedConns = new WeakSet<object>();

/**
 * Whether a Deno conn is still open. Deno gives no public sign, and its fd can outlive
 * `close()`, so the first use wraps the object's own `close` and `Symbol.dispose` to note the
 * call (each still runs Deno's); a conn closed before its first use is caught by its
 * resource id, where Deno's internals still expose it.
 */
function denoOpen(o: Loose): () => boolean {
  if (!trackedConns.has(o)) {
    trackedConns.add(o);
    if (ridClosed(o)) closedConns.add(o);
    // A frozen conn cannot be wrapped: it is then known closed only once Deno frees its fd.
    for (const name of Object.isExtensible(o) ? ["close", Symbol.dispose] as const : []) {
      const own = o[name];
      if (typeof own !== "function") continue;
      Object.defineProperty(o, name, {
        configurable: true,
        writable: true,
        enumerable: false,
        value(this: unknown, ...args: unknown[]) {
          closedConns.add(o);
          return own.apply(this, args);
        },
      });
    }
  }
  return () => !closedConns.has(o);
}

/**
 * True when Deno's resource table no longer holds the conn's resource: a zero-byte
 * `readSync` on it fails with `BadResource` (an open socket refuses it with `NotSupported`).
 * False whenever Deno's internals are not there to ask.
 */
function ridClosed(o: Loose): boolean {
  const deno = (globalThis as { Deno?: Loose }).Deno;
  const internal = deno && typeof deno.internal === "symbol" ? deno[deno.internal] : undefined;
  const core = isObject(internal) && isObject(internal.core) ? internal.core : undefined;
  const ridSymbol = core?.internalRidSymbol;
  if (!core || typeof ridSymbol !== "symbol" || typeof core.readSync !== "function") return false;
  const rid = o[ridSymbol];
  if (typeof rid !== "number") return false;
  try {
    (core.readSync as (rid: number, buf: Uint8Array) => unknown)(rid, new Uint8Array(0));
    return false;
  } catch (err) {
    return err instanceof Error && err.name === "BadResource";
  }
}

/** True for an object shaped like a node:net socket (open: `_handle`; closed: its address getters). */
const netLike = (x: unknown): x is Loose => isObject(x) && ("_handle" in x || "remotePort" in x);

/**
 * A Node object that holds its connection's socket rather than being it, and that socket
 * (`undefined` once the object has let it go): `[what it is, the socket, the cache key]`.
 */
function carrier(o: Loose): [string, unknown, object] | undefined {
  // ws's WebSocket keeps the net or TLS socket it upgraded from as `_socket`.
  if ("_socket" in o && typeof o.readyState === "number" && typeof o.ping === "function") {
    return ["ws WebSocket", o._socket, o];
  }
  // An http2 session; its `socket` is a proxy that forwards reads to the real socket.
  if (typeof o.goaway === "function" && "socket" in o) return ["http2 session", o.socket, o];
  // An http2 stream: its session's socket, while it has a session (a closed stream has none).
  if ("rstCode" in o && "sentHeaders" in o && "session" in o) {
    return ["http2 stream", isObject(o.session) ? o.session.socket : undefined, o];
  }
  // http/https IncomingMessage, ServerResponse, ClientRequest, and http2's compat request and
  // response: the socket is the key, so a keep-alive connection's requests share one lookup.
  if ("socket" in o && !("_handle" in o) && !("remotePort" in o)) {
    const kind = typeof o.httpVersion === "string"
      ? "http request"
      : typeof o.writeHead === "function"
      ? "http response"
      : typeof o.setHeader === "function"
      ? "http client request"
      : undefined;
    if (kind && (o.socket === null || o.socket === undefined || netLike(o.socket))) {
      return [kind, o.socket, isObject(o.socket) ? o.socket : o];
    }
  }
  return undefined;
}

/**
 * True for the error an http2 session's `socket` proxy throws on every read once the
 * session has let its socket go.
 */
const unbound = (err: unknown): boolean => isObject(err) && err.code === "ERR_HTTP2_SOCKET_UNBOUND";

/**
 * The hint for a runtime socket object, or `undefined` for a shape this file does not know.
 * @throws {TypeError} for a UDP socket object
 */
export function hintOf(x: object): SocketHint | undefined {
  try {
    return hint(x as Loose);
  } catch (err) {
    if (!unbound(err)) throw err;
    return { key: x, kind: "http2 session's socket", gone: `Node says "${(err as Error).message}"` };
  }
}

function hint(o: Loose): SocketHint | undefined {
  const udp = udpKind(o);
  if (udp) {
    throw new TypeError(`Expected a TCP socket, got a ${udp}: a UDP socket has no send buffer queue to read`);
  }
  // { server, info } from Deno.serve's handler
  if (isObject(o.server) && isObject(o.info)) {
    const addr = o.server.addr as Loose | undefined;
    const remote = read(o.info, "remoteAddr");
    if (remote.error !== undefined || isObject(remote.value)) {
      const peer = isObject(remote.value) ? remote.value : {};
      return {
        ...listenAddress(addr?.hostname),
        localPort: num(addr?.port),
        remoteAddress: str(peer.hostname),
        remotePort: num(peer.port),
        key: o.info,
        kind: "Deno.serve request",
        gone: remote.error === undefined ? undefined : `Deno says "${remote.error}"`,
      };
    }
  }
  // { server, request } from Bun.serve's fetch handler
  if (isObject(o.server) && typeof o.server.requestIP === "function" && isObject(o.request)) {
    const ip = (o.server.requestIP as (r: unknown) => Loose | null).call(o.server, o.request);
    return {
      ...listenAddress(o.server.hostname),
      localPort: num(o.server.port),
      remoteAddress: str(ip?.address),
      remotePort: num(ip?.port),
      key: o.request,
      kind: "Bun.serve request",
      // Bun's requestIP() gives null once the request's connection has gone.
      gone: ip === null
        ? "Bun's requestIP() gives null: the client has left, or the server is not TCP"
        : undefined,
    };
  }
  // Deno.Conn, Deno.TlsConn
  if (isObject(o.localAddr) && isObject(o.remoteAddr)) {
    return {
      localAddress: str(o.localAddr.hostname),
      localPort: num(o.localAddr.port),
      remoteAddress: str(o.remoteAddr.hostname),
      remotePort: num(o.remoteAddr.port),
      key: o,
      kind: "Deno conn",
      open: denoOpen(o),
    };
  }
  // Node objects holding a socket: the socket's hint, named after what the caller passed
  const held = carrier(o);
  if (held) {
    const [kind, socket, key] = held;
    const inner = isObject(socket) ? hintOf(socket) : undefined;
    if (!inner) {
      return {
        key,
        kind,
        gone: `its socket is ${socket === null ? "null" : "gone"}: the connection has ended`,
      };
    }
    return { ...inner, key, kind: `${kind}'s ${inner.kind}` };
  }
  // Bun sockets (fd), node:net sockets (Bun, Node: _handle.fd), plain address pairs
  const handleFd = isObject(o._handle) ? num(o._handle.fd) : undefined;
  const fd = num(o.fd) ?? handleFd;
  const pair = {
    localAddress: str(o.localAddress),
    localPort: num(o.localPort),
    remoteAddress: str(o.remoteAddress),
    remotePort: num(o.remotePort),
  };
  if (fd !== undefined && fd >= 0) {
    return { fd, ...pair, key: o, kind: handleFd === undefined ? "socket" : "node:net socket" };
  }
  // `in` for a closed node:net socket, whose getters all give undefined; values for an http2
  // session's socket proxy, which answers reads but not `in`.
  if ("localPort" in o || "remoteAddress" in o || "remotePort" in o || pair.remotePort !== undefined) {
    return { ...pair, key: o, kind: "_handle" in o ? "node:net socket" : "address pair" };
  }
  return undefined;
}

/** The object whose lifetime is the connection's: the cache key, found without a full hint. */
export function keyOf(x: object): object {
  const o = x as Loose;
  try {
    if (isObject(o.server) && isObject(o.info)) return o.info;
    if (isObject(o.server) && isObject(o.request)) return o.request;
    return carrier(o)?.[2] ?? o;
  } catch (err) {
    if (unbound(err)) return o; // the proxy itself, as when it was first resolved
    throw err;
  }
}

/**
 * Why a runtime closed its socket, where it records it: a node:net socket keeps the error
 * that destroyed it in `errored` (Deno's, Bun's and Node's alike). Bun's own sockets and the
 * serve forms record nothing.
 */
export function resetReason(socket: unknown): string | undefined {
  if (typeof socket !== "object" || socket === null) return undefined;
  const errored = (socket as { errored?: unknown }).errored;
  const code = typeof errored === "object" && errored !== null
    ? (errored as { code?: unknown }).code
    : undefined;
  return code === "ECONNRESET" || code === "EPIPE" || code === "ETIMEDOUT" ? code : undefined;
}

/**
 * How to hand bytes to a runtime (a socket's own writer, or a serve response body), and how
 * many bytes the runtime holds above the kernel: the one writer shape behind
 * `lowLatencyWriter` and `lowLatencyBody`.
 */
export interface RuntimeWriter {
  /**
   * Writes the whole chunk. Resolves once the runtime has taken all of it (Deno: written
   * to the kernel; node:net: flushed from its userland buffer; Bun: accepted by the
   * kernel, after waiting out partial writes). `wait` pauses for the poll interval (or until
   * its `onWake` callback runs) and then throws if the connection can no longer deliver;
   * `live` checks that without waiting.
   */
  write(
    chunk: Uint8Array,
    wait: (onWake?: (wake: () => void) => void) => Promise<void>,
    live: () => void,
  ): Promise<void>;
  /** Bytes the runtime has accepted and not yet given to the kernel. */
  pending(): number;
  /** Ends the output, where it has an end of its own (a response body). */
  close?(): void;
  /** Fails the output with `reason`, where it can (a response body). */
  abort?(reason: unknown): void;
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
