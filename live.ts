/**
 * Acting on the send buffer: watch it, wait until it has drained, and write so that little
 * waits in it.
 *
 * @module
 */
import { inspectSync, setNotSentLowat } from "./api.ts";
import { SockbufError } from "./errors.ts";
import { writerOf } from "./ffi/sockets.ts";
import { platform } from "./platform/mod.ts";
import { fdOf, INT_MAX, resolveSocket } from "./resolve.ts";
import type { BunServeRequest, DenoServeRequest, SendBuffer, SocketLike, TcpState } from "./types.ts";

/**
 * Options for {@linkcode watch}.
 *
 * @example Watch until every byte is acknowledged, then stop
 * ```ts
 * import { watch, type WatchOptions } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * await conn.write(new Uint8Array(32 * 1024));
 * const stop = new AbortController();
 * const options: WatchOptions = { intervalMs: 10, signal: stop.signal };
 * for await (const buf of watch(conn, options)) {
 *   console.log(`${buf.queued} bytes queued`);
 *   if (buf.queued === 0) stop.abort(); // ends the loop after this snapshot
 * }
 * ```
 */
export interface WatchOptions {
  /** Milliseconds between snapshots: finite, from 0; default 100. */
  intervalMs?: number;
  /** Stops the iteration. */
  signal?: AbortSignal;
}

/**
 * Options for {@linkcode drained}.
 *
 * @example Wait at most two seconds, or until the caller cancels
 * ```ts
 * import { drained, type DrainedOptions } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * await conn.write(new TextEncoder().encode("bye"));
 * const cancel = new AbortController();
 * const options: DrainedOptions = { timeoutMs: 2_000, signal: cancel.signal };
 * try {
 *   console.log(`drained, ${(await drained(conn, options)).queued} bytes queued`);
 * } catch (err) {
 *   if (!(err instanceof DOMException && err.name === "TimeoutError")) throw err;
 *   console.log("the peer did not acknowledge everything within 2 s");
 * }
 * ```
 */
export interface DrainedOptions {
  /** Gives up: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Gives up after this many milliseconds: the promise rejects with a `TimeoutError`. Any
   * length from 0 works (past setTimeout's 2³¹ − 1 ms too); default and `Infinity`: never.
   */
  timeoutMs?: number;
}

/**
 * Options for {@linkcode lowLatencyWriter}.
 *
 * @example Size `lowat` to the link: about 16 ms of its rate
 * ```ts
 * import { getNotSentLowat, lowLatencyWriter, type LowLatencyOptions } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const linkBytesPerSecond = 1_000_000 / 8; // a 1 Mbit/s uplink
 * const stop = new AbortController();
 * const options: LowLatencyOptions = {
 *   lowat: Math.round(linkBytesPerSecond * 0.016), // 2000 bytes, not the default 16384
 *   signal: stop.signal, // stop.abort() ends the writer's waits at once
 * };
 * const writer = lowLatencyWriter(conn, options).getWriter();
 * await writer.write(new TextEncoder().encode("hello\n"));
 * await writer.close();
 * console.log(`TCP_NOTSENT_LOWAT is ${await getNotSentLowat(conn)} bytes`);
 * ```
 */
export interface LowLatencyOptions {
  /**
   * The most unsent bytes to let wait in the kernel (`TCP_NOTSENT_LOWAT`); default 16384.
   * Size it to the path: about 16 ms of its rate keeps the link busy without a queue
   * (16 KiB at 1 MB/s; on a 1 Mbit/s link, 2 KiB — 16 KiB would be 130 ms of waiting).
   */
  lowat?: number;
  /**
   * Latest value wins: a message still waiting when a newer one arrives is dropped, and
   * counted in {@linkcode LowLatencyWriter.dropped}. Default false: every message is sent.
   */
  latest?: boolean;
  /**
   * Milliseconds between checks of the kernel's unsent bytes while it is full, and so how
   * soon a reset connection ends a waiting write: finite, from 0; default 1.
   */
  pollMs?: number;
  /** Stops the writer: the stream errors with the signal's reason, and nothing more is written. */
  signal?: AbortSignal;
}

/** What a value is, for messages: `the string "5"`, `the number 5`, `null`, `an object`. */
function described(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value)}`;
    case "number":
    case "boolean":
      return `the ${typeof value} ${value}`;
    case "bigint":
      return `the bigint ${value}n`;
    case "symbol":
    case "function":
      return `a ${typeof value}`;
    default:
      return Array.isArray(value) ? "an array" : "an object";
  }
}

/** Checks that an options argument is an object (or left out). */
function checkOptions(options: unknown): void {
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(`Expected options as an object, got ${described(options)}`);
  }
}

/**
 * Checks a millisecond option: a number from 0 up, finite unless `infinite` (a timeout that
 * never fires). Any length works: {@linkcode later} chains timers past setTimeout's limit.
 */
function checkMs(name: string, value: unknown, fallback: number, infinite = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number") {
    throw new TypeError(`Expected ${name} as a number of milliseconds, got ${described(value)}`);
  }
  if (!(value >= 0) || (value === Infinity && !infinite)) {
    throw new RangeError(
      infinite
        ? `Expected ${name} as a number of milliseconds from 0 to Infinity, got ${value}`
        : `Expected ${name} as a finite number of milliseconds from 0, got ${value}`,
    );
  }
  return value;
}

/** Checks a `signal` option. */
function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined || value instanceof AbortSignal) return value;
  throw new TypeError(`Expected signal as an AbortSignal, got ${described(value)}`);
}

/** setTimeout's longest delay; a longer one fires at once (with a TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fn` after `ms` milliseconds, of any length: past setTimeout's limit it chains
 * timers, and Infinity never fires (and holds no timer). Returns the canceller.
 */
function later(ms: number, fn: () => void): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = (left: number) => {
    timer = left > MAX_TIMER_MS
      ? setTimeout(() => arm(left - MAX_TIMER_MS), MAX_TIMER_MS)
      : setTimeout(fn, left);
  };
  if (ms !== Infinity) arm(ms);
  return () => clearTimeout(timer);
}

/** True for the errors that mean the socket's fd has closed. */
function isClosed(err: unknown): err is SockbufError {
  return err instanceof SockbufError && (err.code === "ENOTCONN" || err.code === "EBADF");
}

/**
 * Why a runtime closed its socket, where it records it: a node:net socket keeps the error
 * that destroyed it in `errored` (Deno's, Bun's and Node's alike). Bun's own sockets and the
 * serve forms record nothing.
 */
function resetReason(socket: SocketLike): string | undefined {
  if (typeof socket !== "object" || socket === null) return undefined;
  const errored = (socket as { errored?: unknown }).errored;
  const code = typeof errored === "object" && errored !== null
    ? (errored as { code?: unknown }).code
    : undefined;
  return code === "ECONNRESET" || code === "EPIPE" || code === "ETIMEDOUT" ? code : undefined;
}

/**
 * The error for a socket whose fd has closed: the runtime's reason when it recorded one (a
 * node:net socket that was reset), else `ENOTCONN`. `cause` is the error that showed it.
 */
function closedError(err: SockbufError, socket: SocketLike, what: string): SockbufError {
  const reason = resetReason(socket);
  const e = reason
    ? platform().error(
      `${what}: the connection was reset (the runtime saw ${reason} and closed it)`,
      err.syscall,
      reason,
    )
    : platform().error(`${what}: the socket has closed`, err.syscall, "ENOTCONN");
  Object.defineProperty(e, "cause", { value: err, configurable: true, writable: true });
  return e;
}

/** States in which this side has sent its FIN: queued bytes still go out, new ones cannot. */
const FIN_SENT: ReadonlySet<TcpState> = new Set([
  "FIN_WAIT_1",
  "FIN_WAIT_2",
  "CLOSING",
  "LAST_ACK",
  "TIME_WAIT",
]);

/**
 * The error for a snapshot of a connection that can no longer deliver: `CLOSED` (reset, or
 * timed out) is `ECONNRESET`; for a writer, a FIN already sent is `EPIPE`, as `send()` says.
 * The state is read, not `SO_ERROR`: reading that clears it, and the runtime's own next read
 * would then end quietly instead of failing with the reset.
 */
function undeliverable(buf: SendBuffer, writing: boolean, what: string): SockbufError | undefined {
  // Linux keeps counting a reset connection's unacknowledged bytes; macOS may flush them,
  // so a CLOSED socket's 0 proves nothing either.
  if (buf.state === "CLOSED") {
    return platform().error(
      `${what}: the connection was reset or timed out with ${buf.queued} bytes unacknowledged`,
      "getsockopt",
      "ECONNRESET",
    );
  }
  if (writing && FIN_SENT.has(buf.state)) {
    return platform().error(`${what}: this side has shut down sending (${buf.state})`, "getsockopt", "EPIPE");
  }
  return undefined;
}

/**
 * A snapshot of a connection that can still deliver, or the `SockbufError` that says why it
 * cannot (`ECONNRESET`, `EPIPE`, `ENOTCONN`, or the OS's refusal).
 */
function liveSnapshot(sock: SocketLike, socket: SocketLike, writing: boolean, what: string): SendBuffer {
  let buf: SendBuffer;
  try {
    buf = inspectSync(sock);
  } catch (err) {
    throw isClosed(err) ? closedError(err, socket, what) : err;
  }
  const dead = undeliverable(buf, writing, what);
  if (dead) throw dead;
  return buf;
}

/**
 * Waits `ms`, or until `signal` aborts, or until `onWake`'s callback is called. Resolves
 * true after the wait or a wake, false on abort; the timer never outlives the wait.
 */
function pause(ms: number, signal?: AbortSignal, onWake?: (wake: () => void) => void): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      cancel();
      signal?.removeEventListener("abort", onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const cancel = later(ms, () => done(true));
    signal?.addEventListener("abort", onAbort, { once: true });
    onWake?.(() => done(true));
  });
}

/**
 * Snapshots of a socket's send buffer, one every `intervalMs`, as an async iterable. The
 * first comes at once. It ends, without an error, when `signal` aborts or the socket
 * closes — closed by this process, or by a runtime that closes a reset socket without
 * saying why (a Bun socket, a serve request); breaking out of the loop ends it too. A reset
 * or timed-out connection the kernel or runtime reports ends it with an error instead: it
 * yields the `CLOSED` snapshot (on Linux, `queued` then counts the bytes lost), then
 * throws `SockbufError` `ECONNRESET` (or the code a `node:net` socket recorded). No timer
 * outlives it.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @param options how often, and when to stop
 * @returns the snapshots
 * @throws {TypeError} if `socket` is neither a socket nor an fd, or an option has the wrong type
 * @throws {RangeError} if `intervalMs` is negative, NaN or Infinity
 * @throws {SockbufError} `ECONNRESET` if the connection is reset or times out; any other
 * refusal by the OS but the socket closing
 *
 * @example Print the queue ten times a second for half a second
 * ```ts
 * import { watch } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * for await (const buf of watch(conn, { intervalMs: 100, signal: AbortSignal.timeout(500) })) {
 *   console.log(`${buf.queued} bytes queued, ${buf.unsent} unsent`);
 * }
 * ```
 */
export async function* watch(
  socket: SocketLike,
  options: WatchOptions = {},
): AsyncGenerator<SendBuffer, void> {
  checkOptions(options);
  const interval = checkMs("intervalMs", options.intervalMs, 100);
  const signal = checkSignal(options.signal);
  const what = "watch the send buffer";
  /** Ends quietly for a closed socket, unless its runtime recorded a reset. */
  const closed = (err: unknown): undefined => {
    if (!isClosed(err)) throw err;
    if (resetReason(socket)) throw closedError(err, socket, what);
    return undefined;
  };
  const sock = await resolveSocket(socket).catch(closed);
  if (!sock) return;
  while (!signal?.aborted) {
    let snapshot: SendBuffer;
    try {
      snapshot = inspectSync(sock);
    } catch (err) {
      return closed(err);
    }
    yield snapshot;
    if (signal?.aborted) return;
    const dead = undeliverable(snapshot, false, what);
    if (dead) throw dead;
    if (!(await pause(interval, signal))) return;
  }
}

/**
 * Waits until the peer's kernel has acknowledged every byte written: `queued` reaches 0
 * while the connection is still up, and a `node:net` socket's own write buffer is empty too.
 * Call it before closing, so a close does not cut off data still in flight. It checks every
 * millisecond at first, backing off to every 50 ms.
 *
 * What it does not wait for:
 *
 * - **The peer application.** An acknowledgement means the peer's kernel has the bytes in
 *   its receive buffer, not that the application there has read them: a reader that has
 *   stopped still acknowledges until its receive buffer is full.
 * - **Bytes a runtime holds above the kernel.** With `Deno.serve` and `Bun.serve` the runtime
 *   keeps response bytes in its own buffers before it writes them to the socket, and
 *   `drained()` cannot see those: called before the runtime starts writing a response, it
 *   resolves at once, with the whole body still to send; called mid-response, it can
 *   resolve while the runtime still holds part of it. Only a `node:net` socket's own buffer
 *   (`writableLength`) is counted. To pace what reaches the kernel, write through
 *   {@linkcode lowLatencyWriter} (sockets) or {@linkcode lowLatencyBody} (serve responses),
 *   which hand a message to the runtime only once the kernel has taken the last one.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @param options when to give up
 * @returns the last snapshot, whose `queued` is 0
 * @throws {TypeError} if `socket` is neither a socket nor an fd, or an option has the wrong type
 * @throws {RangeError} if `timeoutMs` is negative or NaN (Infinity means no timeout)
 * @throws {DOMException} `TimeoutError` after `timeoutMs`; the signal's reason on abort
 * @throws {SockbufError} `ECONNRESET` if the connection is reset or times out (its state
 * becomes `CLOSED`, or a `node:net` socket records the reset) before it drains; `ENOTCONN`
 * if the socket closes first (closed here, or by a runtime after a reset it does not report)
 *
 * @example Close only once everything has arrived
 * ```ts
 * import { drained } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const conn = await Deno.connect({ port: listener.addr.port });
 * await conn.write(new TextEncoder().encode("last words"));
 * await drained(conn, { timeoutMs: 5_000 });
 * conn.close();
 * ```
 */
export async function drained(socket: SocketLike, options: DrainedOptions = {}): Promise<SendBuffer> {
  checkOptions(options);
  const timeoutMs = checkMs("timeoutMs", options.timeoutMs, Infinity, true);
  const outer = checkSignal(options.signal);
  // One controller for both ways of giving up, with a timer that is cleared on every exit
  // (AbortSignal.timeout's timer would outlive an early return).
  const stop = new AbortController();
  const onAbort = () => stop.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  outer?.addEventListener("abort", onAbort, { once: true });
  const cancel = later(
    timeoutMs,
    () =>
      stop.abort(new DOMException(`The send buffer did not drain within ${timeoutMs} ms`, "TimeoutError")),
  );
  const what = "wait for the send buffer to drain";
  try {
    const sock = await resolveSocket(socket).catch((err) => {
      throw isClosed(err) ? closedError(err, socket, what) : err;
    });
    // Bytes a runtime still holds above the kernel (node:net's write buffer) are not sent yet.
    const runtime = typeof socket === "object" && socket !== null ? writerOf(socket) : undefined;
    for (let wait = 1;; wait = Math.min(50, wait * 2)) {
      stop.signal.throwIfAborted();
      const buf = liveSnapshot(sock, socket, false, what);
      if (buf.queued === 0 && (runtime?.pending() ?? 0) === 0) return buf;
      await pause(wait, stop.signal);
    }
  } finally {
    cancel();
    outer?.removeEventListener("abort", onAbort);
  }
}

/**
 * A `WritableStream` of messages that keeps little data waiting in the kernel. Counts what
 * it sent and, in latest-value-wins mode, what it dropped.
 *
 * @example Pipe a stream of messages into it, then read the counts
 * ```ts
 * import { type LowLatencyWriter, lowLatencyWriter } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const messages = ["one\n", "two\n", "three\n"].map((m) => new TextEncoder().encode(m));
 * const stream: LowLatencyWriter = lowLatencyWriter(conn);
 * await ReadableStream.from(messages).pipeTo(stream); // closes the stream, not the socket
 * console.log(`${stream.sent} sent, ${stream.dropped} dropped`); // 3 sent, 0 dropped
 * ```
 */
export class LowLatencyWriter extends WritableStream<Uint8Array> {
  #counts: { sent: number; dropped: number };

  /** @internal Made by {@linkcode lowLatencyWriter}. */
  constructor(sink: UnderlyingSink<Uint8Array>, counts: { sent: number; dropped: number }) {
    super(sink);
    this.#counts = counts;
  }

  /** Messages handed to the socket so far. */
  get sent(): number {
    return this.#counts.sent;
  }

  /** Messages dropped because a newer one arrived while they waited (latest-value-wins). */
  get dropped(): number {
    return this.#counts.dropped;
  }
}

/**
 * Writes messages to a socket so that at most about `lowat` unsent bytes wait in the
 * kernel: fresh data reaches the peer sooner than with plain writes, which can queue
 * megabytes. It sets `TCP_NOTSENT_LOWAT`, and before handing each message to the runtime
 * it waits until the kernel's unsent bytes are below `lowat` — which macOS, unlike Linux,
 * does not do for `send()` itself. With `latest: true`, a message still waiting when a
 * newer one is written is dropped, for streams where only the newest value matters
 * (telemetry, positions, video frames with their own recovery).
 *
 * Each chunk written is one message, written whole; closing the stream waits for the last
 * message to be handed to the runtime, not for the peer to acknowledge it (see
 * {@linkcode drained}). Aborting the stream, or `signal`, stops every wait at once. The
 * socket itself is not closed. The stream holds each chunk until it is sent (in
 * latest-value-wins mode, after `write()` has resolved): do not reuse a chunk's buffer.
 *
 * When the connection can no longer deliver, the stream errors with a `SockbufError` —
 * the pending `write()` rejects, and so does every later one (in latest-value-wins mode
 * too: no message is counted as sent or dropped after that): `ECONNRESET` once it is reset
 * or timed out, `EPIPE` once this side has shut down sending, `ENOTCONN` once the socket
 * has closed (as a Bun socket does on a reset without saying why).
 *
 * @param socket a Deno conn, a node:net socket or a Bun socket
 * @param options the limit and the mode
 * @returns the stream; its `sent` and `dropped` count messages
 * @throws {TypeError} if `socket` is not a socket this can write to, or an option has the wrong type
 * @throws {RangeError} if `lowat` or `pollMs` is out of range
 *
 * @example Send the newest reading, drop stale ones
 * ```ts
 * import { lowLatencyWriter } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const stream = lowLatencyWriter(conn, { lowat: 16 * 1024, latest: true });
 * const writer = stream.getWriter();
 * for (let i = 0; i < 100; i++) await writer.write(new TextEncoder().encode(`reading ${i}\n`));
 * await writer.close();
 * console.log(`${stream.sent} sent, ${stream.dropped} dropped`);
 * ```
 */
export function lowLatencyWriter(socket: SocketLike, options: LowLatencyOptions = {}): LowLatencyWriter {
  const runtime = typeof socket === "object" && socket !== null ? writerOf(socket) : undefined;
  if (!runtime) {
    throw new TypeError("Expected a socket to write to: a Deno conn, a node:net socket or a Bun socket");
  }
  return gatedWriter(socket, options, runtime);
}

/**
 * A response body for `Deno.serve` or `Bun.serve` that keeps little data waiting in the
 * kernel: write messages to `writable`, and answer with `new Response(readable)`. Each
 * message is released to the runtime only once the connection's kernel buffer holds fewer
 * than `lowat` unsent bytes and the runtime has asked for more, so the runtime's own
 * buffering stays at about one message. `latest: true` drops stale messages as
 * {@linkcode lowLatencyWriter} does. Closing `writable` ends the body. A client that goes
 * away makes the pending and every later write reject, as {@linkcode lowLatencyWriter}'s
 * do: `SockbufError` `ECONNRESET` for a reset connection, `ENOTCONN` once the runtime has
 * closed it, or the runtime's reason for cancelling `readable` while the connection is
 * still up. Respond with `cache-control: no-transform`, so that `Deno.serve` does not
 * compress the body: the writer follows its messages' bytes into the kernel.
 *
 * @param request `{ server, info }` inside `Deno.serve`, or `{ server, request }` inside `Bun.serve`
 * @param options the limit and the mode
 * @returns the body to respond with, and the stream to write messages to
 * @throws {TypeError} if an option has the wrong type
 * @throws {RangeError} if `lowat` or `pollMs` is out of range
 *
 * @example Stream the newest reading to a slow client (Deno.serve)
 * ```ts
 * import { lowLatencyBody } from "@sockbuf/sockbuf";
 *
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_req, info) => {
 *   const { readable, writable } = lowLatencyBody({ server, info }, { lowat: 16 * 1024, latest: true });
 *   (async () => {
 *     const writer = writable.getWriter();
 *     for (let i = 0; i < 100; i++) await writer.write(new TextEncoder().encode(`reading ${i}\n`));
 *     await writer.close();
 *   })();
 *   return new Response(readable);
 * });
 * console.log((await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text()).split("\n").length);
 * await server.shutdown();
 * ```
 */
export function lowLatencyBody(
  request: DenoServeRequest | BunServeRequest,
  options: LowLatencyOptions = {},
): { readable: ReadableStream<Uint8Array>; writable: LowLatencyWriter } {
  let body!: ReadableStreamDefaultController<Uint8Array>;
  let demand: (() => void) | undefined; // resolves the runtime's pending pull
  let wake: (() => void) | undefined; // ends a write's wait for that pull
  let cancelled: unknown;
  const readable = new ReadableStream<Uint8Array>({
    start(c) {
      body = c;
    },
    pull() {
      return new Promise<void>((resolve) => {
        demand = resolve;
        wake?.();
      });
    },
    cancel(reason) {
      cancelled = reason ?? new Error("The response body was cancelled");
      wake?.();
    },
  }, { highWaterMark: 0 });
  const writable = gatedWriter(request, options, {
    async write(chunk, wait, live) {
      // A cancelled body: the connection's own state says why, where it can.
      const gone = () => (live(), cancelled);
      // Poll while waiting for the pull too: a runtime need not pull or cancel when the
      // connection dies under it.
      while (!demand) {
        if (cancelled) throw gone();
        await wait((w) => (wake = w));
        wake = undefined;
      }
      if (cancelled) throw gone();
      const fd = fdOf(request);
      const before = platform().written(fd);
      body.enqueue(chunk);
      const pulled = demand;
      demand = undefined;
      pulled();
      // A runtime may pull ahead and keep what it pulled in its own buffer (Bun does): wait
      // until the kernel has taken this message's bytes, so at most one message waits
      // above the kernel. Give up waiting after a second without progress, rather than
      // hang where the runtime changes the bytes (compression).
      if (before === undefined) return;
      for (let last = before, still = 0; still < 1000;) {
        if (cancelled) throw gone();
        const now = platform().written(fd);
        if (now === undefined || (now - before + 2 ** 32) % 2 ** 32 >= chunk.length) return;
        still = now === last ? still + Math.max(1, options.pollMs ?? 1) : 0;
        last = now;
        await wait();
      }
    },
    pending: () => 0,
    close: () => body.close(),
    abort: (reason) => body.error(reason),
  });
  return { readable, writable };
}

/** Where a gated writer's messages go. */
interface Output {
  /**
   * Hands over one message. `wait` pauses for the poll interval (or until its `onWake`
   * callback runs) and then throws if the connection can no longer deliver; `live` checks
   * that without waiting.
   */
  write(
    chunk: Uint8Array,
    wait: (onWake?: (wake: () => void) => void) => Promise<void>,
    live: () => void,
  ): Promise<void>;
  /** Bytes accepted and not yet given to the kernel. */
  pending(): number;
  close?(): void;
  abort?(reason: unknown): void;
}

/** The writer behind {@linkcode lowLatencyWriter} and {@linkcode lowLatencyBody}. */
function gatedWriter(socket: SocketLike, options: LowLatencyOptions, output: Output): LowLatencyWriter {
  checkOptions(options);
  const lowat = options.lowat ?? 16384;
  if (typeof lowat !== "number") {
    throw new TypeError(`Expected lowat as a number of bytes, got ${described(lowat)}`);
  }
  if (!Number.isInteger(lowat) || lowat < 1 || lowat > INT_MAX) {
    throw new RangeError(`Expected lowat as an integer from 1 to ${INT_MAX}, got ${lowat}`);
  }
  if (options.latest !== undefined && typeof options.latest !== "boolean") {
    throw new TypeError(`Expected latest as a boolean, got ${described(options.latest)}`);
  }
  const pollMs = checkMs("pollMs", options.pollMs, 1);
  const outer = checkSignal(options.signal);
  const counts = { sent: 0, dropped: 0 };
  let ready: Promise<unknown> | undefined; // setting TCP_NOTSENT_LOWAT, once
  // Aborting the stream, or the caller's signal, ends every wait at once: no poll outlives it.
  const stop = new AbortController();
  let streamController: WritableStreamDefaultController | undefined;
  const onAbort = () => {
    stop.abort(outer?.reason);
    streamController?.error(outer?.reason);
  };
  const what = "write to the socket";
  /** The kernel's view, or the error that says the connection can no longer deliver. */
  const check = () => liveSnapshot(socket, socket, true, what);
  const pauseOrAbort = async (onWake?: (wake: () => void) => void): Promise<void> => {
    if (!(await pause(pollMs, stop.signal, onWake))) throw stop.signal.reason;
  };
  const wait = async (onWake?: (wake: () => void) => void): Promise<void> => {
    await pauseOrAbort(onWake);
    check();
  };

  /** Resolves once the kernel holds fewer than `lowat` unsent bytes and the runtime none. */
  const room = async (): Promise<void> => {
    await (ready ??= setNotSentLowat(socket, lowat).catch((err) => {
      throw isClosed(err) ? closedError(err, socket, what) : err;
    }));
    for (;;) {
      stop.signal.throwIfAborted();
      const { unsent } = check();
      if ((unsent ?? 0) < lowat && output.pending() === 0) return;
      await pauseOrAbort();
    }
  };
  const deliver = async (chunk: Uint8Array): Promise<void> => {
    try {
      await output.write(chunk, wait, () => void check());
    } catch (err) {
      // The runtime's own error (a destroyed node:net stream, Deno's BrokenPipe) becomes the
      // connection's, where the kernel or the runtime says why it cannot deliver.
      if (!stop.signal.aborted && !(err instanceof SockbufError)) check();
      throw err;
    }
    counts.sent++;
  };
  const start = (c: WritableStreamDefaultController) => {
    streamController = c;
    // abort() calls the sink's abort only after a write in flight settles; the controller's
    // signal fires at once, so the write's waits end instead.
    c.signal.addEventListener("abort", () => stop.abort(c.signal.reason), { once: true });
    if (outer?.aborted) onAbort();
    outer?.addEventListener("abort", onAbort, { once: true });
  };
  const finish = () => outer?.removeEventListener("abort", onAbort);
  const closed = () => {
    finish();
    output.close?.();
  };
  const aborted = (reason: unknown) => {
    stop.abort(reason);
    finish();
    output.abort?.(reason);
  };

  if (!options.latest) {
    return new LowLatencyWriter({
      start,
      write: (chunk) => room().then(() => deliver(chunk)),
      close: closed,
      abort: aborted,
    }, counts);
  }

  // Latest value wins: write() parks the message and returns at once; one pump sends the
  // parked message whenever the kernel has room, so a newer message can replace it.
  let parked: Uint8Array | undefined;
  let pump: Promise<void> | undefined;
  let failure: unknown;
  const run = async () => {
    try {
      while (parked) {
        await room(); // a newer message may replace the parked one meanwhile
        const chunk = parked;
        parked = undefined;
        if (chunk) await deliver(chunk);
      }
    } catch (err) {
      failure = err;
      // Error the stream now, so `closed` rejects and no later write() counts as a drop.
      if (!stop.signal.aborted) streamController?.error(err);
    } finally {
      pump = undefined;
    }
  };
  return new LowLatencyWriter({
    start,
    write(chunk) {
      if (failure) throw failure;
      if (parked) counts.dropped++;
      parked = chunk;
      pump ??= run();
    },
    async close() {
      while (pump) await pump;
      if (failure) throw failure;
      closed();
    },
    async abort(reason) {
      parked = undefined;
      stop.abort(reason);
      while (pump) await pump;
      aborted(reason);
    },
  }, counts);
}
