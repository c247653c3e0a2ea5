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
import type { BunServeRequest, DenoServeRequest, SendBuffer, SocketLike } from "./types.ts";

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
  /** Milliseconds between snapshots; default 100. */
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
  /** Gives up after this many milliseconds: the promise rejects with a `TimeoutError`. */
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
  /** Milliseconds between checks of the kernel's unsent bytes while it is full; default 1. */
  pollMs?: number;
  /** Stops the writer: the stream errors with the signal's reason, and nothing more is written. */
  signal?: AbortSignal;
}

function checkMs(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`Expected ${name} as a non-negative number of milliseconds, got ${value}`);
  }
  return value;
}

/** True for the errors that mean the socket has closed. */
function isClosed(err: unknown): boolean {
  return err instanceof SockbufError && (err.code === "ENOTCONN" || err.code === "EBADF");
}

/**
 * Waits `ms`, or until `signal` aborts. Resolves true after the wait, false on abort; the
 * timer never outlives the wait.
 */
function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(ok);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Snapshots of a socket's send buffer, one every `intervalMs`, as an async iterable. The
 * first comes at once. It ends, without an error, when `signal` aborts or the socket
 * closes; breaking out of the loop ends it too. No timer outlives it.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @param options how often, and when to stop
 * @returns the snapshots
 * @throws {TypeError} if `socket` is neither a socket nor an fd
 * @throws {RangeError} if `intervalMs` is negative or not a number
 * @throws {SockbufError} if the OS refuses for a reason other than the socket closing
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
  const interval = checkMs("intervalMs", options.intervalMs, 100);
  const { signal } = options;
  const sock = await resolveSocket(socket).catch((err) => {
    if (isClosed(err)) return undefined;
    throw err;
  });
  if (!sock) return;
  while (!signal?.aborted) {
    let snapshot: SendBuffer;
    try {
      snapshot = inspectSync(sock);
    } catch (err) {
      if (isClosed(err)) return;
      throw err;
    }
    yield snapshot;
    if (!(await pause(interval, signal))) return;
  }
}

/**
 * Waits until the peer has acknowledged every byte written: `queued` reaches 0 while the
 * connection is still up, and a `node:net` socket's own write buffer is empty too. Call it before closing, so a close does not cut off data still
 * in flight. It checks every millisecond at first, backing off to every 50 ms.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @param options when to give up
 * @returns the last snapshot, whose `queued` is 0
 * @throws {TypeError} if `socket` is neither a socket nor an fd
 * @throws {RangeError} if `timeoutMs` is negative or not a number
 * @throws {DOMException} `TimeoutError` after `timeoutMs`; the signal's reason on abort
 * @throws {SockbufError} `ECONNRESET` if the connection is reset or times out (its state
 * becomes `CLOSED`) before it drains; `ENOTCONN` or `EBADF` if the socket itself is closed
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
  const timeoutMs = options.timeoutMs === undefined ? undefined : checkMs("timeoutMs", options.timeoutMs, 0);
  const outer = options.signal;
  // One controller for both ways of giving up, with a timer that is cleared on every exit
  // (AbortSignal.timeout's timer would outlive an early return).
  const stop = new AbortController();
  const onAbort = () => stop.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  outer?.addEventListener("abort", onAbort, { once: true });
  const timer = timeoutMs === undefined ? undefined : setTimeout(
    () =>
      stop.abort(new DOMException(`The send buffer did not drain within ${timeoutMs} ms`, "TimeoutError")),
    timeoutMs,
  );
  try {
    const sock = await resolveSocket(socket);
    // Bytes a runtime still holds above the kernel (node:net's write buffer) are not sent yet.
    const runtime = typeof socket === "object" && socket !== null ? writerOf(socket) : undefined;
    for (let wait = 1;; wait = Math.min(50, wait * 2)) {
      stop.signal.throwIfAborted();
      const buf = inspectSync(sock);
      // A reset or timed-out connection is CLOSED and will never drain. Linux keeps counting
      // the unacknowledged bytes there; macOS may flush them, so a CLOSED socket's 0 proves
      // nothing and is refused too.
      if (buf.state === "CLOSED") {
        throw platform().error(
          `wait for the send buffer to drain: the connection closed with ${buf.queued} bytes unacknowledged`,
          "getsockopt",
          "ECONNRESET",
        );
      }
      if (buf.queued === 0 && (runtime?.pending() ?? 0) === 0) return buf;
      await pause(wait, stop.signal);
    }
  } finally {
    clearTimeout(timer);
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
 * @param socket a Deno conn, a node:net socket or a Bun socket
 * @param options the limit and the mode
 * @returns the stream; its `sent` and `dropped` count messages
 * @throws {TypeError} if `socket` is not a socket this can write to
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
 * {@linkcode lowLatencyWriter} does. Closing `writable` ends the body; a client that goes
 * away cancels `readable`, which makes the next write reject. Respond with
 * `cache-control: no-transform`, so that `Deno.serve` does not compress the body: the
 * writer follows its messages' bytes into the kernel.
 *
 * @param request `{ server, info }` inside `Deno.serve`, or `{ server, request }` inside `Bun.serve`
 * @param options the limit and the mode
 * @returns the body to respond with, and the stream to write messages to
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
  let wake: (() => void) | undefined; // resolves a write waiting for that pull
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
    async write(chunk, wait) {
      while (!demand) {
        if (cancelled) throw cancelled;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
      if (cancelled) throw cancelled;
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
        if (cancelled) throw cancelled;
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
  write(chunk: Uint8Array, wait: () => Promise<void>): Promise<void>;
  /** Bytes accepted and not yet given to the kernel. */
  pending(): number;
  close?(): void;
  abort?(reason: unknown): void;
}

/** The writer behind {@linkcode lowLatencyWriter} and {@linkcode lowLatencyBody}. */
function gatedWriter(socket: SocketLike, options: LowLatencyOptions, output: Output): LowLatencyWriter {
  const lowat = options.lowat ?? 16384;
  if (typeof lowat !== "number" || !Number.isInteger(lowat) || lowat < 1 || lowat > INT_MAX) {
    throw new RangeError(`Expected lowat as an integer from 1 to ${INT_MAX}, got ${lowat}`);
  }
  const pollMs = checkMs("pollMs", options.pollMs, 1);
  const counts = { sent: 0, dropped: 0 };
  let ready: Promise<unknown> | undefined; // setting TCP_NOTSENT_LOWAT, once
  // Aborting the stream, or the caller's signal, ends every wait at once: no poll outlives it.
  const stop = new AbortController();
  let streamController: WritableStreamDefaultController | undefined;
  const outer = options.signal;
  const onAbort = () => {
    stop.abort(outer?.reason);
    streamController?.error(outer?.reason);
  };
  const wait = async (): Promise<void> => {
    if (!(await pause(pollMs, stop.signal))) throw stop.signal.reason;
  };

  /** Resolves once the kernel holds fewer than `lowat` unsent bytes and the runtime none. */
  const room = async (): Promise<void> => {
    await (ready ??= setNotSentLowat(socket, lowat));
    for (;;) {
      stop.signal.throwIfAborted();
      const { unsent } = inspectSync(socket);
      if ((unsent ?? 0) < lowat && output.pending() === 0) return;
      await wait();
    }
  };
  const deliver = async (chunk: Uint8Array): Promise<void> => {
    await output.write(chunk, wait);
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
