/**
 * Writing so that little waits in the send buffer: a `WritableStream` for sockets and a
 * response body for the serve forms, both gated on `TCP_NOTSENT_LOWAT`.
 *
 * @module
 */
import { checkInt, checkMs, checkOptions, checkSignal, described } from "./_args.ts";
import { type RuntimeWriter, writerOf } from "./_runtime.ts";
import { closedError, isClosed, liveSnapshot, pause } from "./_wait.ts";
import { SockbufError } from "./errors.ts";
import { setNotSentLowat } from "./inspect.ts";
import { platform } from "./platform/mod.ts";
import type { BunServeRequest, DenoServeRequest } from "./types.ts";
import { fdOf, type SocketLike } from "./resolve.ts";

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

/** The writer behind {@linkcode lowLatencyWriter} and {@linkcode lowLatencyBody}. */
function gatedWriter(
  socket: SocketLike,
  options: LowLatencyOptions,
  output: RuntimeWriter,
): LowLatencyWriter {
  checkOptions(options);
  const lowat = checkInt("lowat", options.lowat ?? 16384, 1);
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
