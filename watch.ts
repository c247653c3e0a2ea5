/**
 * Watching the send buffer, and waiting until it has drained.
 *
 * @module
 */
import { checkMs, checkOptions, checkSignal } from "./_args.ts";
import { resetReason, writerOf } from "./_runtime.ts";
import { closedError, giveUp, isClosed, liveSnapshot, pause, resolveLive, undeliverable } from "./_wait.ts";
import { inspectSync } from "./inspect.ts";
import { resolveSocket, type SocketLike } from "./resolve.ts";
import type { SendBuffer } from "./types.ts";

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
  // One signal for both ways of giving up, with a timer that is cleared on every exit
  // (AbortSignal.timeout's timer would outlive an early return).
  const stop = giveUp(
    timeoutMs,
    checkSignal(options.signal),
    `The send buffer did not drain within ${timeoutMs} ms`,
  );
  const what = "wait for the send buffer to drain";
  try {
    const sock = await resolveLive(socket, what);
    // Bytes a runtime still holds above the kernel (node:net's write buffer) are not sent yet.
    const runtime = typeof socket === "object" && socket !== null ? writerOf(socket) : undefined;
    for (let wait = 1;; wait = Math.min(50, wait * 2)) {
      stop.signal.throwIfAborted();
      const buf = liveSnapshot(sock, socket, false, what);
      if (buf.queued === 0 && (runtime?.pending() ?? 0) === 0) return buf;
      await pause(wait, stop.signal);
    }
  } finally {
    stop.dispose();
  }
}
