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
import { INT_MAX, resolveSocket } from "./resolve.ts";
import type { SendBuffer, SocketLike } from "./types.ts";

/** Options for {@linkcode watch}. */
export interface WatchOptions {
  /** Milliseconds between snapshots; default 100. */
  intervalMs?: number;
  /** Stops the iteration. */
  signal?: AbortSignal;
}

/** Options for {@linkcode drained}. */
export interface DrainedOptions {
  /** Gives up: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Gives up after this many milliseconds: the promise rejects with a `TimeoutError`. */
  timeoutMs?: number;
}

/** Options for {@linkcode lowLatencyWriter}. */
export interface LowLatencyOptions {
  /** The most unsent bytes to let wait in the kernel (`TCP_NOTSENT_LOWAT`); default 16384. */
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
 * connection is still up. Call it before closing, so a close does not cut off data still
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
      if (buf.queued === 0) return buf;
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
  const lowat = options.lowat ?? 16384;
  if (typeof lowat !== "number" || !Number.isInteger(lowat) || lowat < 1 || lowat > INT_MAX) {
    throw new RangeError(`Expected lowat as an integer from 1 to ${INT_MAX}, got ${lowat}`);
  }
  const pollMs = checkMs("pollMs", options.pollMs, 1);
  const runtime = typeof socket === "object" && socket !== null ? writerOf(socket) : undefined;
  if (!runtime) {
    throw new TypeError("Expected a socket to write to: a Deno conn, a node:net socket or a Bun socket");
  }
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
      if ((unsent ?? 0) < lowat && runtime.pending() === 0) return;
      await wait();
    }
  };
  const deliver = async (chunk: Uint8Array): Promise<void> => {
    await runtime.write(chunk, wait);
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

  if (!options.latest) {
    return new LowLatencyWriter({
      start,
      write: (chunk) => room().then(() => deliver(chunk)),
      close: finish,
      abort(reason) {
        stop.abort(reason);
        finish();
      },
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
      finish();
      if (failure) throw failure;
    },
    async abort(reason) {
      parked = undefined;
      stop.abort(reason);
      while (pump) await pump;
      finish();
    },
  }, counts);
}
