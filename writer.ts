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
import { liveMark, type MessageReceipt, ReceiptBook, whenAcked, type WhenAckedOptions } from "./receipts.ts";
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
   * Milliseconds instead of bytes: about how long a byte written now should wait until the
   * peer's kernel has it — its time unsent in the kernel plus its time in flight. The writer
   * sets `TCP_NOTSENT_LOWAT` from the measured delivery rate, from
   * {@linkcode TARGET_LOWAT_MIN} to {@linkcode TARGET_LOWAT_MAX} bytes, and re-tunes it as the
   * rate changes (see {@linkcode lowLatencyWriter}). Finite, above 0. Give either this or
   * `lowat`, not both (a TypeError).
   */
  targetMs?: number;
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
  #counts: WriterState;

  /** @internal Made by {@linkcode lowLatencyWriter}. */
  constructor(sink: UnderlyingSink<Uint8Array>, counts: WriterState) {
    super(sink);
    this.#counts = counts;
  }

  /**
   * Bytes the kernel has taken from this writer since its first message: the messages' bytes
   * on a plain socket (TLS records or HTTP framing included where the runtime adds them).
   * Read after `write()` resolves, it is the position just past that message: pass it to
   * {@linkcode LowLatencyWriter.whenAcked}.
   */
  get position(): number {
    return this.#counts.position;
  }

  /** The `TCP_NOTSENT_LOWAT` the writer uses now, in bytes (with `targetMs`, the last tuned value). */
  get lowat(): number {
    return this.#counts.lowat;
  }

  /**
   * Resolves once the peer's kernel has acknowledged every byte up to `position` (default:
   * everything written so far), as {@linkcode whenAcked} does for a stream offset; the writer
   * knows where its positions start in the socket's stream.
   *
   * @param position a position of this writer, from 0
   * @param options when to give up
   * @returns the position acknowledged when it resolved (at least `position`)
   */
  async whenAcked(position: number = this.position, options?: WhenAckedOptions): Promise<number> {
    checkInt("position", position, 0, Number.MAX_SAFE_INTEGER);
    const base = this.#counts.base ??= this.#counts.mark().written;
    return (await whenAcked(this.#counts.socket, base + position, options)) - base;
  }

  /**
   * A receipt for one message: ask for it just before writing the chunk (or in the same
   * turn after `write()`), with the very `Uint8Array` written. It resolves once the peer's
   * kernel has acknowledged the message's last byte, with the time split into waiting in
   * the writer, unsent in the kernel, and in flight. It rejects if the message is dropped
   * (latest-value-wins) or the stream fails, and with the connection's error as
   * {@linkcode whenAcked} does. Only messages asked about are followed.
   *
   * @param chunk the message, as it will be passed to `write()`
   * @returns the receipt
   */
  receipt(chunk: Uint8Array): Promise<MessageReceipt> {
    return this.#counts.receipts.track(chunk);
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

/** The smallest `TCP_NOTSENT_LOWAT` `targetMs` sets: 4 KiB, a few segments, so the kernel always has a whole segment to send. */
export const TARGET_LOWAT_MIN = 4096;
/** The largest `TCP_NOTSENT_LOWAT` `targetMs` sets: 4 MiB, more than a default send buffer holds. */
export const TARGET_LOWAT_MAX = 4 * 1024 * 1024;
/** How often a `targetMs` writer looks at the delivery rate, ms. */
const TUNE_EVERY_MS = 10;
/** How long a window the delivery rate is measured over, ms. */
const RATE_WINDOW_MS = 200;
/** How far the wanted lowat must move from the current one before setsockopt is called. */
const TUNE_HYSTERESIS = 0.25;

/** What a writer and its stream object share. */
interface WriterState {
  sent: number;
  dropped: number;
  position: number;
  /** The stream offset at the writer's first message (see receipts.ts). */
  base: number | undefined;
  lowat: number;
  socket: SocketLike;
  mark: () => ReturnType<typeof liveMark>;
  receipts: ReceiptBook;
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
 * With `targetMs` instead of `lowat`, the limit follows the link. At most every 10 ms, while
 * it writes, the writer measures the delivery rate (bytes acknowledged over the last 200 ms;
 * a window in which the kernel ran out of data counts only if it is faster) and the time in
 * flight (from a byte leaving the unsent queue to its acknowledgement, smoothed), and wants
 * `rate × (targetMs − inFlight)` bytes unsent — at least `rate × targetMs / 4`, so a path
 * slower than the target still stays busy — clamped to 4 KiB–4 MiB. It follows a falling
 * rate at once and a rising one halfway per look, and calls setsockopt only when the wanted
 * value is more than 25% away from the one set. It starts at 16 KiB. A message then reaches
 * the peer's kernel about `targetMs` after it is written (tests/writer_target_linux.test.ts
 * measures it across a tbf link whose rate changes 8 → 2 → 8 Mbit/s).
 *
 * `position` counts the bytes the kernel has taken from the writer; `whenAcked(position)`
 * and `receipt(chunk)` say when the peer's kernel has them (see receipts.ts).
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
 * @throws {TypeError} if both `lowat` and `targetMs` are given
 * @throws {RangeError} if `lowat`, `targetMs` or `pollMs` is out of range
 *
 * @example Keep about 50 ms of data unsent, whatever the link's rate
 * ```ts
 * import { lowLatencyWriter } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const stream = lowLatencyWriter(conn, { targetMs: 50 });
 * const writer = stream.getWriter();
 * for (let i = 0; i < 100; i++) await writer.write(new TextEncoder().encode(`reading ${i}\n`));
 * await writer.close();
 * console.log(`lowat now ${stream.lowat} bytes; ${await stream.whenAcked()} bytes acknowledged`);
 * ```
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
  if (options.lowat !== undefined && options.targetMs !== undefined) {
    throw new TypeError("Expected either lowat or targetMs, not both");
  }
  const lowat = checkInt("lowat", options.lowat ?? 16384, 1);
  const targetMs = options.targetMs === undefined ? undefined : checkMs("targetMs", options.targetMs, 0);
  if (targetMs === 0) {
    throw new RangeError("Expected targetMs as a finite number of milliseconds above 0, got 0");
  }
  if (options.latest !== undefined && typeof options.latest !== "boolean") {
    throw new TypeError(`Expected latest as a boolean, got ${described(options.latest)}`);
  }
  const pollMs = checkMs("pollMs", options.pollMs, 1);
  const outer = checkSignal(options.signal);
  let ready: Promise<unknown> | undefined; // setting TCP_NOTSENT_LOWAT, once
  // Aborting the stream, or the caller's signal, ends every wait at once: no poll outlives it.
  const stop = new AbortController();
  let streamController: WritableStreamDefaultController | undefined;
  const onAbort = () => {
    stop.abort(outer?.reason);
    streamController?.error(outer?.reason);
  };
  const what = "write to the socket";
  const mark = () => liveMark(socket, socket, what);
  const counts: WriterState = {
    sent: 0,
    dropped: 0,
    position: 0,
    base: undefined,
    lowat,
    socket,
    mark,
    receipts: new ReceiptBook(mark, pollMs, stop.signal),
  };
  /** The kernel's view, or the error that says the connection can no longer deliver. */
  const check = () => liveSnapshot(socket, socket, true, what);
  const pauseOrAbort = async (onWake?: (wake: () => void) => void): Promise<void> => {
    if (!(await pause(pollMs, stop.signal, onWake))) throw stop.signal.reason;
  };
  const wait = async (onWake?: (wake: () => void) => void): Promise<void> => {
    await pauseOrAbort(onWake);
    check();
  };
  const setLowat = (bytes: number) =>
    setNotSentLowat(socket, bytes).catch((err) => {
      throw isClosed(err) ? closedError(err, socket, what) : err;
    });

  // targetMs: the delivery rate in bytes/s, and when it was last looked at.
  let rate: number | undefined;
  let looked = -Infinity;
  let flightMs: number | undefined; // how long a sent byte takes to be acknowledged, smoothed
  /** Probes of the time in flight: the sent offset at a look, and when. */
  const probes: { sent: number; at: number }[] = [];
  /** The last RATE_WINDOW_MS of looks: when, bytes acknowledged, and whether data was waiting. */
  const window: { at: number; acked: number; busy: boolean }[] = [];
  /**
   * The delivery rate over the last ~200 ms, from bytes acknowledged: what the link really
   * carried (the kernel's own per-ACK `tcpi_delivery_rate` runs high under ACK compression).
   * A window in which the kernel ran out of data says only that the link is at least that fast.
   */
  const sample = (now: number): { bytesPerSecond: number; busy: boolean } | undefined => {
    const m = mark();
    // Time in flight as the data sees it, from leaving the unsent queue to its ACK: more than
    // the kernel's RTT where a shaper holds whole TSO bursts, and what a byte written now waits.
    while (probes.length > 0 && probes[0].sent <= m.acked) {
      const t = now - probes.shift()!.at;
      flightMs = flightMs === undefined ? t : flightMs + (t - flightMs) / 4;
    }
    // Bounded: a peer that stops acknowledging leaves probes waiting.
    if (m.sent > (probes.at(-1)?.sent ?? m.acked) && probes.length < 256) {
      probes.push({ sent: m.sent, at: now });
    }
    window.push({ at: now, acked: m.acked, busy: (m.buf.unsent ?? m.buf.queued) > 0 });
    while (window.length > 2 && now - window[1].at >= RATE_WINDOW_MS) window.shift();
    const first = window[0];
    if (now - first.at < RATE_WINDOW_MS) return undefined;
    return {
      bytesPerSecond: ((m.acked - first.acked) * 1000) / (now - first.at),
      busy: window.every((w) => w.busy),
    };
  };
  const tune = async (): Promise<void> => {
    const now = performance.now();
    if (now - looked < TUNE_EVERY_MS) return;
    looked = now;
    const r = sample(now);
    if (r === undefined || r.bytesPerSecond <= 0) return;
    if (!r.busy && rate !== undefined && r.bytesPerSecond <= rate) return;
    // Down at once (a queue is building), up halfway per look (one fast window is no trend).
    rate = rate === undefined || r.bytesPerSecond < rate ? r.bytesPerSecond : (rate + r.bytesPerSecond) / 2;
    const want = Math.min(
      TARGET_LOWAT_MAX,
      Math.max(
        TARGET_LOWAT_MIN,
        Math.round((rate * Math.max(targetMs! - (flightMs ?? 0), targetMs! / 4)) / 1000),
      ),
    );
    if (Math.abs(want - counts.lowat) <= counts.lowat * TUNE_HYSTERESIS) return;
    counts.lowat = want;
    await setLowat(want);
  };

  /** Resolves once the kernel holds fewer than `lowat` unsent bytes and the runtime none. */
  const room = async (): Promise<void> => {
    await (ready ??= setLowat(counts.lowat));
    for (;;) {
      stop.signal.throwIfAborted();
      if (targetMs !== undefined) await tune();
      const { unsent } = check();
      if ((unsent ?? 0) < counts.lowat && output.pending() === 0) return;
      await pauseOrAbort();
    }
  };
  const deliver = async (chunk: Uint8Array): Promise<void> => {
    // Nothing waits above the kernel now (room() saw to it): the stream's offset is exact.
    counts.base ??= mark().written;
    try {
      await output.write(chunk, wait, () => void check());
    } catch (err) {
      // The runtime's own error (a destroyed node:net stream, Deno's BrokenPipe) becomes the
      // connection's, where the kernel or the runtime says why it cannot deliver.
      if (!stop.signal.aborted && !(err instanceof SockbufError)) check();
      throw err;
    }
    counts.sent++;
    // The kernel's count, so TLS records and HTTP framing are in it; at least the message.
    let end = counts.base + counts.position + chunk.length;
    try {
      end = Math.max(end, mark().written);
    } catch { /* closed just now: the next write says so */ }
    counts.position = end - counts.base;
    counts.receipts.handed(chunk, end, counts.position);
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
    counts.receipts.fail(reason);
    stop.abort(reason);
    finish();
    output.abort?.(reason);
  };

  if (!options.latest) {
    return new LowLatencyWriter({
      start,
      write: (chunk) =>
        room().then(() => deliver(chunk)).catch((err) => {
          counts.receipts.fail(err);
          throw err;
        }),
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
      counts.receipts.fail(err);
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
      if (parked) {
        counts.dropped++;
        counts.receipts.dropped(parked);
      }
      parked = chunk;
      pump ??= run();
    },
    async close() {
      while (pump) await pump;
      if (failure) throw failure;
      closed();
    },
    async abort(reason) {
      counts.receipts.fail(reason);
      parked = undefined;
      stop.abort(reason);
      while (pump) await pump;
      aborted(reason);
    },
  }, counts);
}
