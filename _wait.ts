/**
 * What watching and writing share: timers of any length, and telling a connection that can
 * still deliver from one that cannot (reset, shut down, or closed) and why.
 *
 * @module
 */
import { inspectSync } from "./inspect.ts";
import { SockbufError } from "./errors.ts";
import { resetReason } from "./_runtime.ts";
import { platform } from "./platform/mod.ts";
import type { SendBuffer, TcpState } from "./types.ts";
import { type ResolvedSocket, resolveSocket, type SocketLike } from "./resolve.ts";

/** setTimeout's longest delay; a longer one fires at once (with a TimeoutOverflowWarning). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Calls `fn` after `ms` milliseconds, of any length: past setTimeout's limit it chains
 * timers, and Infinity never fires (and holds no timer). Returns the canceller.
 */
export function later(ms: number, fn: () => void): () => void {
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
export function isClosed(err: unknown): err is SockbufError {
  return err instanceof SockbufError && (err.code === "ENOTCONN" || err.code === "EBADF");
}

/**
 * The error for a socket whose fd has closed: the runtime's reason when it recorded one (a
 * node:net socket that was reset), else `ENOTCONN`. `cause` is the error that showed it.
 */
export function closedError(err: SockbufError, socket: SocketLike, what: string): SockbufError {
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
export function undeliverable(buf: SendBuffer, writing: boolean, what: string): SockbufError | undefined {
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
export function liveSnapshot(
  sock: SocketLike,
  socket: SocketLike,
  writing: boolean,
  what: string,
): SendBuffer {
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
export function pause(
  ms: number,
  signal?: AbortSignal,
  onWake?: (wake: () => void) => void,
): Promise<boolean> {
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
 * How a wait loop gives up: on the caller's `signal` or after `timeoutMs` (any length;
 * Infinity never), whichever comes first. The returned signal aborts with the caller's reason
 * or a `TimeoutError` whose message is `timedOut`; `dispose()` clears the timer and the
 * listener, and must run on every exit, so nothing outlives the wait.
 */
export function giveUp(
  timeoutMs: number,
  outer: AbortSignal | undefined,
  timedOut: string,
): { signal: AbortSignal; dispose(): void } {
  const stop = new AbortController();
  const onAbort = () => stop.abort(outer?.reason);
  if (outer?.aborted) onAbort();
  outer?.addEventListener("abort", onAbort, { once: true });
  const cancel = later(timeoutMs, () => stop.abort(new DOMException(timedOut, "TimeoutError")));
  return {
    signal: stop.signal,
    dispose() {
      cancel();
      outer?.removeEventListener("abort", onAbort);
    },
  };
}

/** The socket resolved once, or the error that says it has closed (the runtime's reason where known). */
export function resolveLive(socket: SocketLike, what: string): Promise<ResolvedSocket> {
  return resolveSocket(socket).catch((err) => {
    throw isClosed(err) ? closedError(err, socket, what) : err;
  });
}
