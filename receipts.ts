/**
 * Delivery receipts: waiting until the peer's kernel has acknowledged the bytes up to an
 * offset of the socket's byte stream, and splitting one message's delay into its parts.
 *
 * Offsets are counted the way the kernel counts acknowledgements: on Linux the frame of
 * `tcpi_bytes_acked` plus the bytes still queued, on macOS bytes written minus `SO_NWRITE`.
 * On Linux that frame is not the count of data bytes: `tcpi_bytes_acked` is advanced by every
 * acknowledged sequence number (`tcp_snd_una_update` in net/ipv4/tcp_input.c), and on the side
 * that opened the connection that includes its SYN (`ss -ti` shows `bytes_acked:1` on a fresh
 * client socket, none on the accepted one), as it includes a FIN once that is acknowledged.
 * So offsets are never computed from the application's own byte counts: take them from
 * {@linkcode streamOffset} or from a {@linkcode LowLatencyWriter}'s `position`, which are read
 * from the same kernel counters.
 *
 * @module
 */
import { checkInt, checkMs, checkOptions, checkSignal } from "./_args.ts";
import { writerOf } from "./_runtime.ts";
import { closedError, giveUp, isClosed, pause, resolveLive, undeliverable } from "./_wait.ts";
import { platform } from "./platform/mod.ts";
import { fdOf, type SocketLike } from "./resolve.ts";
import type { SendBuffer } from "./types.ts";

/** Where a connection's byte stream stands, in the kernel's frame (see the module doc). */
export interface StreamMark {
  /** The offset just past the last byte the kernel has taken from the application. */
  written: number;
  /** The offset just past the last byte sent at least once (`written − unsent`). */
  sent: number;
  /** The offset just past the last byte the peer's kernel has acknowledged. */
  acked: number;
  /** The send buffer at that moment (its state says whether the connection is still up). */
  buf: SendBuffer;
}

/**
 * Reads the stream's marks. The queue is read before the acknowledged count, so `written`
 * (their sum) can only come out high, never low, when an ACK arrives in between: an offset
 * taken from it is never one a receipt could reach early. Throws `SockbufError` as
 * `inspectSync` does (`EBADF` for a closed fd).
 */
export function streamMark(fd: number): StreamMark {
  const p = platform();
  const buf = p.inspect(fd);
  const info = p.tcpInfo(fd);
  const bytesAcked = "bytesAcked" in info ? info.bytesAcked : undefined;
  let written: number;
  if (bytesAcked !== undefined) {
    written = bytesAcked + buf.queued;
  } else {
    // macOS: written − SO_NWRITE (`queued`). Its count is a sequence number, modulo 2^32.
    const w = p.written(fd);
    if (w === undefined) {
      throw p.error(
        "read how many bytes the peer acknowledged: this OS does not say",
        "getsockopt",
        "ENOTSUP",
      );
    }
    written = w;
  }
  return { written, sent: written - (buf.unsent ?? 0), acked: written - buf.queued, buf };
}

/**
 * The socket's write offset: just past the last byte written to it so far, counting bytes a
 * `node:net` socket still holds in its own buffer (they reach the kernel next, in order).
 * Pass it, after a write, to {@linkcode whenAcked} to learn when that write has arrived.
 * On a connection this side opened, Linux counts the SYN too, so this is one more than the
 * bytes written (see the module doc): never compute an offset from your own byte counts.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @returns the offset, in the frame {@linkcode whenAcked} compares against
 * @throws {TypeError} if `socket` is neither a socket nor an fd
 * @throws {SockbufError} if the OS refuses (`EBADF` for a closed fd, `ENOTSOCK` for a file)
 *
 * @example Wait until one write has reached the peer's kernel
 * ```ts
 * import { streamOffset, whenAcked } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * await conn.write(new TextEncoder().encode("message 41\n"));
 * const end = streamOffset(conn);
 * await whenAcked(conn, end, { timeoutMs: 5_000 });
 * console.log(`acknowledged up to ${end}`);
 * ```
 */
export function streamOffset(socket: SocketLike): number {
  const written = streamMark(fdOf(socket)).written;
  const runtime = typeof socket === "object" && socket !== null ? writerOf(socket) : undefined;
  return written + (runtime?.pending() ?? 0);
}

/**
 * Options for {@linkcode whenAcked}.
 *
 * @example Give up after two seconds
 * ```ts
 * import { streamOffset, whenAcked, type WhenAckedOptions } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * await conn.write(new TextEncoder().encode("hello"));
 * const options: WhenAckedOptions = { timeoutMs: 2_000 };
 * console.log(await whenAcked(conn, streamOffset(conn), options) >= 5);
 * ```
 */
export interface WhenAckedOptions {
  /** Gives up: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Gives up after this many milliseconds: the promise rejects with a `TimeoutError`. Any
   * length from 0; default and `Infinity`: never.
   */
  timeoutMs?: number;
}

/**
 * Resolves once the peer's kernel has acknowledged every byte of the socket's stream before
 * `offset`: an offset from {@linkcode streamOffset}, or a writer's position through
 * {@linkcode LowLatencyWriter.whenAcked}. It checks every millisecond at first, backing off to
 * every 50 ms, as {@linkcode drained} does, so it resolves at most ~50 ms after the
 * acknowledgement. An acknowledgement means the bytes are in the peer's receive buffer, not
 * that its application has read them.
 *
 * Linux reads `tcpi_bytes_acked`; macOS the bytes written minus `SO_NWRITE` (untested here;
 * its sequence counters wrap after 4 GiB).
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @param offset the stream offset to wait for, an integer from 0
 * @param options when to give up
 * @returns the acknowledged offset when it resolved (at least `offset`)
 * @throws {TypeError} if `socket` is neither a socket nor an fd, or an argument has the wrong type
 * @throws {RangeError} if `offset` is not a whole number from 0, or `timeoutMs` is negative or NaN
 * @throws {DOMException} `TimeoutError` after `timeoutMs`; the signal's reason on abort
 * @throws {SockbufError} `ECONNRESET` if the connection is reset or times out before those
 * bytes are acknowledged; `ENOTCONN` if the socket closes first
 *
 * @example Know that message 41 has arrived
 * ```ts
 * import { streamOffset, whenAcked } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * for (let i = 40; i <= 42; i++) {
 *   await conn.write(new TextEncoder().encode(`message ${i}\n`));
 *   if (i === 41) {
 *     const end = streamOffset(conn);
 *     whenAcked(conn, end).then(() => console.log("the peer has message 41"));
 *   }
 * }
 * ```
 */
export async function whenAcked(
  socket: SocketLike,
  offset: number,
  options: WhenAckedOptions = {},
): Promise<number> {
  checkInt("offset", offset, 0, Number.MAX_SAFE_INTEGER);
  checkOptions(options);
  const timeoutMs = checkMs("timeoutMs", options.timeoutMs, Infinity, true);
  const stop = giveUp(
    timeoutMs,
    checkSignal(options.signal),
    `The bytes before offset ${offset} were not acknowledged within ${timeoutMs} ms`,
  );
  const what = "wait for the peer to acknowledge";
  try {
    const sock = await resolveLive(socket, what);
    for (let wait = 1;; wait = Math.min(50, wait * 2)) {
      stop.signal.throwIfAborted();
      const m = liveMark(sock, socket, what);
      if (m.acked >= offset) return m.acked;
      const dead = undeliverable(m.buf, false, what);
      if (dead) throw dead;
      await pause(wait, stop.signal);
    }
  } finally {
    stop.dispose();
  }
}

/**
 * The marks, or the error that says the socket has closed (the runtime's reason where known).
 * The fd is checked on every call, so a closed socket whose fd number was reused is not read.
 */
export function liveMark(sock: SocketLike, socket: SocketLike, what: string): StreamMark {
  try {
    return streamMark(fdOf(sock));
  } catch (err) {
    throw isClosed(err) ? closedError(err, socket, what) : err;
  }
}

/**
 * Where one message's time went, from the moment its receipt was asked for (just before
 * `write()`) to the peer's acknowledgement of its last byte. Each part is measured at the
 * writer's `pollMs` resolution.
 *
 * @example Print where the time went
 * ```ts
 * import { lowLatencyWriter, type MessageReceipt } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const stream = lowLatencyWriter(conn, { targetMs: 20 });
 * const writer = stream.getWriter();
 * const msg = new TextEncoder().encode("message 41\n");
 * const receipt = stream.receipt(msg);
 * await writer.write(msg);
 * const r: MessageReceipt = await receipt;
 * console.log(`writer ${r.writerMs} ms, unsent ${r.unsentMs} ms, in flight ${r.inFlightMs} ms`);
 * ```
 */
export interface MessageReceipt {
  /** The writer's `position` just past the message. */
  position: number;
  /** From asking for the receipt until the writer handed the message to the kernel. */
  writerMs: number;
  /** From then until the kernel had sent its last byte (it left the unsent queue). */
  unsentMs: number;
  /** From then until the peer's kernel acknowledged its last byte. */
  inFlightMs: number;
  /** The sum: from asking for the receipt to the acknowledgement. */
  totalMs: number;
}

interface Entry {
  t0: number;
  t1?: number;
  t2?: number;
  /** The stream offset just past the message, once handed over. */
  end?: number;
  position?: number;
  resolve(r: MessageReceipt): void;
  reject(err: unknown): void;
}

/**
 * The receipts a writer has been asked for: messages not yet handed over (by chunk), and
 * those handed over, in stream order, which one poll loop follows until acknowledged. Costs
 * nothing while no receipt is pending.
 */
export class ReceiptBook {
  #waiting = new Map<Uint8Array, Entry>();
  #handed: Entry[] = [];
  #following = false;
  #failure: unknown;

  private readonly mark: () => StreamMark;
  private readonly pollMs: number;
  private readonly signal: AbortSignal;

  // Fields assigned by hand, not parameter properties: Node runs .ts by erasing types only.
  constructor(mark: () => StreamMark, pollMs: number, signal: AbortSignal) {
    this.mark = mark;
    this.pollMs = pollMs;
    this.signal = signal;
  }

  /** A receipt for `chunk`, timed from now. */
  track(chunk: Uint8Array): Promise<MessageReceipt> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (!(chunk instanceof Uint8Array)) {
      return Promise.reject(new TypeError("Expected chunk as the Uint8Array written to the stream"));
    }
    if (this.#waiting.has(chunk)) {
      return Promise.reject(
        new TypeError("A receipt for this chunk is already pending: write a fresh buffer"),
      );
    }
    return new Promise((resolve, reject) => {
      this.#waiting.set(chunk, { t0: performance.now(), resolve, reject });
    });
  }

  /** True when any receipt is pending for `chunk`. */
  has(chunk: Uint8Array): boolean {
    return this.#waiting.has(chunk);
  }

  /** `chunk` was handed to the kernel; the stream's offset past it is `end`. */
  handed(chunk: Uint8Array, end: number, position: number): void {
    const e = this.#waiting.get(chunk);
    if (!e) return;
    this.#waiting.delete(chunk);
    e.t1 = performance.now();
    e.end = end;
    e.position = position;
    this.#handed.push(e);
    if (!this.#following) {
      // Set before the loop starts: it may run to its end before its first await.
      this.#following = true;
      void this.#follow();
    }
  }

  /** `chunk` will never be sent (latest-value-wins replaced it). */
  dropped(chunk: Uint8Array): void {
    const e = this.#waiting.get(chunk);
    if (!e) return;
    this.#waiting.delete(chunk);
    e.reject(new Error("The message was dropped: a newer one replaced it before it was sent"));
  }

  /** The stream failed or was aborted: every pending receipt rejects with `err`. */
  fail(err: unknown): void {
    this.#failure ??= err;
    for (const e of [...this.#waiting.values(), ...this.#handed.splice(0)]) e.reject(err);
    this.#waiting.clear();
  }

  async #follow(): Promise<void> {
    try {
      while (this.#handed.length > 0) {
        const m = this.mark();
        const now = performance.now();
        while (this.#handed.length > 0) {
          const e = this.#handed[0];
          if (e.t2 === undefined && m.sent >= e.end!) e.t2 = now;
          if (m.acked < e.end!) break;
          this.#handed.shift();
          const t1 = e.t1!, t2 = e.t2 ?? now;
          e.resolve({
            position: e.position!,
            writerMs: t1 - e.t0,
            unsentMs: t2 - t1,
            inFlightMs: now - t2,
            totalMs: now - e.t0,
          });
        }
        // Later messages leave the unsent queue no sooner than earlier ones: stamp them too.
        for (const e of this.#handed) if (e.t2 === undefined && m.sent >= e.end!) e.t2 = now;
        if (this.#handed.length === 0) break;
        const dead = undeliverable(m.buf, false, "wait for a message's receipt");
        if (dead) throw dead;
        if (!(await pause(this.pollMs, this.signal))) throw this.signal.reason;
      }
    } catch (err) {
      this.fail(err);
    } finally {
      this.#following = false;
    }
  }
}
