/**
 * How old a message is when it arrives: plain writes against `lowLatencyWriter`, with a
 * slow reader.
 *
 *   deno run --allow-all bench/latency.ts [--seconds 5] [--path loopback|netns|all] [--svg DIR] [--json]
 *   bun bench/latency.ts [same flags]     (--help lists them all)
 *
 * The sender writes small fixed-size messages (a send timestamp, a sequence number,
 * padding) as fast as the socket takes them; the receiver records each message's age on
 * arrival. Two modes:
 * - `naive`: node:net `socket.write()` in a loop, waiting for 'drain' whenever it returns
 *   false (so node's own buffer stays small; the kernel's send buffer fills).
 * - `lowLatency`: `lowLatencyWriter(socket, { lowat, latest: true })`, a new message
 *   written to it on every turn of the event loop; stale messages are dropped. `lowat` is
 *   16 ms of the path's bottleneck rate: 16 KiB on loopback (`--lowat`), 2 KiB across the
 *   1 Mbit/s link (`--link-lowat`).
 *
 * Two paths, both modes with the same settings:
 * - `loopback` (no privileges): one process, 127.0.0.1. The listening socket gets
 *   SO_RCVBUF `--rcvbuf` (default 16 KiB; inherited by the accepted socket) and the
 *   receiver reads at `--rate` bytes/s (default 1 MiB/s; a token bucket). Clock:
 *   `performance.now()`. Congestion control: the host's.
 * - `netns` (root, `ip`, `tc`): two network namespaces made for the run (`sockbuf-lat-<pid>-tx`
 *   and `-rx`) joined by a veth pair, with `tbf rate 1mbit burst 32kbit latency 50ms` on the
 *   sender's veth (`--link-rate`, `--link-burst`, `--link-latency`; the queue holds about
 *   10 KB); the receiver and the sender run in their own namespaces (`ip netns exec`, the
 *   same runtime from PATH, on bench/_latency_peer.ts), so the host's network is never
 *   touched. The sender's namespace gets `net.ipv4.tcp_congestion_control=bbr` (`--cc`; set
 *   inside it, never on the host), so the result does not depend on the host's default;
 *   a new namespace can choose only among the host's `tcp_allowed_congestion_control`.
 *   The namespaces are deleted afterwards, and ones left by a crashed run (whose pid is
 *   gone) at the start. The receiver reads as fast as it can: the link is the bottleneck.
 *   Clock: `performance.timeOrigin + performance.now()` in each process — the machine's wall
 *   clock at sub-ms resolution (each peer reports its distance from `Date.now()`; a warning
 *   is printed past 5 ms). Without root, `ip` or `tc` the path is skipped with a message;
 *   under CI=true it fails.
 *
 * Why these link settings (measured, Linux 6.18; the chart shows each effect):
 * - `lowat` 16 KiB across the link gave lowLatency p99 of 600–800 ms. Not the unsent bytes
 *   alone (16 KiB is 130 ms at 125 KB/s, so p50 was ~190 ms): with 16 KiB unsent the
 *   kernel builds multi-segment skbs, so TCP small queues lets ~10 KB of them into the
 *   shaper, which sits on the sender's own veth; BBR's startup grows cwnd until bandwidth
 *   stops growing and overflows the ~10 KB tbf queue: 30% of the bytes sent in the first
 *   ~0.7 s were retransmissions, and every message behind them waited for the loss
 *   recovery (ages climbed to 600 ms, exactly as naive's did), then spikes to 300 ms at
 *   each later loss. With 2 KiB, skbs stay ~2 KB, the shaper holds one (`tc -s qdisc`:
 *   backlog 1p), nothing is lost (retrans 0%), RTT ~17 ms.
 * - Congestion control: with reno (the other one a namespace may pick here) lowLatency is
 *   as good (p99 ~60 ms), but naive's send buffer stays small — autotuning sizes it from
 *   cwnd, which reno's losses at the 10 KB queue keep small — so naive's p99 is ~950 ms and
 *   the ratio ~16×. With bbr (the host's default here), startup grows cwnd and with it the
 *   send buffer (~200 KB, 2–3 s of age after 5 s). Both are real; bbr is set explicitly.
 * - A deeper tbf queue (100–400 ms) makes lowLatency worse (BBR's startup fills it: p99
 *   270–500 ms, lowat 4 KiB), and a 1600-byte burst loses more, not less. No warm-up is excluded:
 *   every number covers the whole run.
 * Because the shaper is on the sender's own interface, TCP small queues applies to it, as
 * on a host whose own uplink (Wi-Fi, a modem) is the bottleneck; a shaper in a router
 * further on would not limit in-flight data that way.
 *
 * The receivers use the runtime's own sockets (`Deno.listen`, `Bun.listen`); the senders
 * use node:net in both runtimes.
 *
 * Prints one line per result (`--json`: one JSON object per line, without the timeline;
 * the table then goes to stderr):
 *   <runtime> latency_<path>_<mode> sent=… received=… dropped=… p50_ms=… p99_ms=… max_ms=…
 *     goodput_Bps=… mean_queued_b=… mean_unsent_b=… samples=… seconds=… msg_b=… cc=…
 *     retrans_pct=… rtos=… srtt_ms=… min_rtt_ms=…
 * then a table, one line per path comparing the modes with the issue's requirement
 * (lowLatency's p99 at least 20× lower, goodput within 10%), and the charts written. `sent`
 * counts messages handed to the socket (naive: `socket.write` calls; lowLatency: the
 * writer's `sent`); `received` those that arrived whole within the run; goodput is
 * received message bytes (header included) per second; `mean_queued_b` and `mean_unsent_b`
 * average the sender's `inspect()` taken every `--sample-ms` by `watch()`; `retrans_pct`,
 * `rtos`, `srtt_ms`, `min_rtt_ms` are the sender's `tcpInfo()` at the end.
 *
 * Charts (`--svg DIR`, default bench/out; `--svg ""` for none): one SVG per path,
 * `latency-<runtime>-<path>.svg`, message age (log scale) over arrival time, one series per
 * mode (median per time bin, and a band from the bin's youngest to its oldest message), and
 * ticks where the sender retransmitted (its `tcpInfo()`, sampled every `--sample-ms`).
 *
 * @module
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as net from "node:net";
import { delimiter, join } from "node:path";
import process from "node:process";
import { setImmediate as nextTurn } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { lowLatencyWriter, SockbufError, tcpInfo, watch } from "../mod.ts";
import { setReceiveBuffer, sleep, unconnectedFd } from "../_testing.ts";
import { runtimeName } from "../_runtime.ts";
import { binWidth, renderChart, timeline, type TimelineBin, writeChart } from "./latency_chart.ts";

export const runtime: "bun" | "deno" | "node" = runtimeName;

/** Why this runtime cannot run the bench's receiver, or undefined where it can. */
export const receiverUnavailable: string | undefined = runtime === "node"
  ? "the receiver uses the runtime's own sockets (Deno.listen, Bun.listen): Node has only node:net, " +
    "which reads ahead while paused and would add that delay to every message"
  : undefined;

/** How the sender writes. */
export type Mode = "naive" | "lowLatency";
export const MODES: readonly Mode[] = ["naive", "lowLatency"];

/** Same-process clock. */
export const monoClock = (): number => performance.now();
/** The wall clock at sub-ms resolution: comparable across processes on one machine. */
export const wallClock = (): number => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------
// Messages: fixed size, little-endian.
//   0 u32 magic | 4 u32 size | 8 u32 seq | 12 u32 zero | 16 f64 send time (ms) | padding

const MAGIC = 0x4642_4b53; // "SKBF"
export const HEADER = 24;

/** A new message of `size` bytes. */
export function encodeMessage(size: number, seq: number, sentAt: number): Uint8Array {
  const msg = new Uint8Array(size);
  const v = new DataView(msg.buffer);
  v.setUint32(0, MAGIC, true);
  v.setUint32(4, size, true);
  v.setUint32(8, seq >>> 0, true);
  v.setFloat64(16, sentAt, true);
  return msg;
}

/** Cuts a byte stream into fixed-size messages. */
export class MessageReader {
  readonly #size: number;
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #fill = 0;

  constructor(size: number) {
    this.#size = size;
    this.#buf = new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
  }

  /** Feeds a chunk; calls `onMessage` for each whole message. Throws on a corrupt header. */
  push(chunk: Uint8Array, onMessage: (seq: number, sentAt: number) => void): void {
    for (let off = 0; off < chunk.length;) {
      const n = Math.min(this.#size - this.#fill, chunk.length - off);
      this.#buf.set(chunk.subarray(off, off + n), this.#fill);
      this.#fill += n;
      off += n;
      if (this.#fill < this.#size) break;
      this.#fill = 0;
      const v = this.#view;
      if (v.getUint32(0, true) !== MAGIC || v.getUint32(4, true) !== this.#size) {
        throw new Error("Corrupt message: the stream lost its framing");
      }
      onMessage(v.getUint32(8, true), v.getFloat64(16, true));
    }
  }
}

// ---------------------------------------------------------------------------------------
// Receiver: the runtime's own sockets (Deno.listen / Bun.listen), not node:net, whose
// readable side keeps reading while paused — up to 64 KiB in Deno and ~512 KiB in Bun,
// measured here — and would add that much delay to every message, in both modes.

/** What a receiver saw. */
export interface ReceiverStats {
  received: number;
  bytes: number;
  /** Age of each message on arrival, ms. */
  ages: number[];
  /** When each message arrived (same order as `ages`): ms since the connection was accepted. */
  arrivals: number[];
  /** When the connection was accepted, on the receiver's clock (the origin of `arrivals`). */
  startedAt?: number;
  /** Messages whose sequence number was not above the previous one's (should be 0). */
  outOfOrder: number;
  /** First error in the stream, if any (corrupt framing, socket error). */
  error?: string;
}

/** Caps the ages kept, so a misconfigured run cannot exhaust memory. */
const MAX_AGES = 4_000_000;

/** Records each whole message's age. */
class Recorder {
  readonly stats: ReceiverStats = { received: 0, bytes: 0, ages: [], arrivals: [], outOfOrder: 0 };
  readonly #reader: MessageReader;
  #lastSeq = -1;
  #start: number | undefined;

  readonly msgSize: number;
  readonly clock: () => number;

  constructor(msgSize: number, clock: () => number) {
    this.msgSize = msgSize;
    this.clock = clock;
    this.#reader = new MessageReader(msgSize);
  }

  /** Feeds a chunk received now; false (and `stats.error` set) if the stream is corrupt. */
  /** Marks the start of the stream: arrival times count from here. */
  begin(): void {
    this.stats.startedAt = this.#start = this.clock();
  }

  push(chunk: Uint8Array): boolean {
    const now = this.clock();
    const at = Math.round((now - (this.#start ??= now)) * 10) / 10;
    const s = this.stats;
    try {
      this.#reader.push(chunk, (seq, sentAt) => {
        s.received++;
        s.bytes += this.msgSize;
        if (s.ages.length < MAX_AGES) {
          s.ages.push(now - sentAt);
          s.arrivals.push(at);
        }
        if (seq <= this.#lastSeq) s.outOfOrder++;
        this.#lastSeq = seq;
      });
      return true;
    } catch (err) {
      this.fail(err);
      return false;
    }
  }

  fail(err: unknown): void {
    this.stats.error ??= err instanceof Error ? err.message : String(err);
  }
}

/** A token bucket in bytes: refilled at `rate` bytes/s, holding at most `burst`. */
class Bucket {
  #tokens = 0;
  #last = performance.now();
  readonly rate: number;
  readonly burst: number;
  constructor(rate: number, burst: number) {
    this.rate = rate;
    this.burst = burst;
  }

  level(): number {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + (this.rate * (now - this.#last)) / 1000);
    this.#last = now;
    return this.#tokens;
  }

  take(n: number): void {
    this.#tokens -= n;
  }
}

/** Options for {@linkcode listenReceiver}. */
export interface ReceiverOptions {
  host: string;
  msgSize: number;
  clock: () => number;
  /** Bytes/s to read at; default unlimited. */
  rate?: number;
  /** SO_RCVBUF for the listening socket (inherited by the accepted one); default: the kernel's. */
  rcvbuf?: number;
  /** Milliseconds between refills of the rate limiter; default 5. */
  tickMs?: number;
}

/** A listening receiver that reads and records the first connection it accepts. */
export interface Receiver {
  readonly port: number;
  readonly stats: ReceiverStats;
  /** Resolves once a connection is accepted (reading has begun); rejects after `ms`. */
  accepted(ms: number): Promise<void>;
  /** Stops counting and reading. */
  stop(): void;
  /** Stops, and closes the listener and the connection. */
  close(): void;
}

/** The minimum of Bun's TCP API used here. */
interface BunSocket {
  pause(): void;
  resume(): void;
  terminate(): void;
}
interface BunTcpListener {
  port: number;
  stop(closeActiveConnections?: boolean): void;
}
interface BunApi {
  listen(options: {
    hostname: string;
    port: number;
    socket: {
      open(s: BunSocket): void;
      data(s: BunSocket, data: Uint8Array): void;
      error?(s: BunSocket, err: Error): void;
      close?(s: BunSocket): void;
    };
  }): BunTcpListener;
}

/**
 * Listens on `host` (an ephemeral port), sets SO_RCVBUF on the listening socket if asked,
 * and reads the first connection — at `rate` bytes/s, or as fast as it comes.
 */
export function listenReceiver(opts: ReceiverOptions): Receiver {
  if (receiverUnavailable) {
    throw new Error(`bench/latency.ts cannot run on ${runtime}: ${receiverUnavailable}`);
  }
  const rec = new Recorder(opts.msgSize, opts.clock);
  const rate = opts.rate ?? Infinity;
  const limited = Number.isFinite(rate);
  const tickMs = opts.tickMs ?? 5;
  // Room for two ticks' worth (and at least one message); reads wait for half of it.
  const bucket = new Bucket(rate, Math.max(opts.msgSize, (rate * 2 * tickMs) / 1000));
  let stopped = false;
  let onAccept: (() => void) | undefined;
  let acceptedYet = false;
  const markAccepted = () => {
    rec.begin();
    acceptedYet = true;
    onAccept?.();
  };
  let port: number;
  let closeAll: () => void;
  let timer: ReturnType<typeof setInterval> | undefined;

  const bun = (globalThis as unknown as { Bun?: BunApi }).Bun;
  if (bun) {
    let sock: BunSocket | undefined;
    let paused = false;
    const server = bun.listen({
      hostname: opts.host,
      port: 0,
      socket: {
        open(s) {
          if (sock) return s.terminate(); // one connection only
          sock = s;
          if (limited) {
            timer = setInterval(() => {
              if (!stopped && paused && bucket.level() > 0) {
                paused = false;
                s.resume();
              }
            }, tickMs);
          }
          markAccepted();
        },
        data(s, data) {
          if (stopped || s !== sock) return;
          if (!rec.push(data)) return stop();
          if (!limited) return;
          bucket.take(data.length);
          if (bucket.level() <= 0) {
            paused = true;
            s.pause();
          }
        },
        error(_s, err) {
          if (!stopped) rec.fail(err);
        },
      },
    });
    port = server.port;
    closeAll = () => {
      sock?.terminate();
      server.stop(true);
    };
  } else {
    const listener = Deno.listen({ hostname: opts.host, port: 0, transport: "tcp" });
    port = listener.addr.port;
    let conn: Deno.Conn | undefined;
    const read = async (c: Deno.Conn) => {
      const buf = new Uint8Array(64 * 1024);
      try {
        while (!stopped) {
          let want = buf.length;
          if (limited) {
            const level = bucket.level();
            if (level < bucket.burst / 2) {
              await sleep(tickMs);
              continue;
            }
            want = Math.min(want, Math.floor(level));
          }
          const n = await c.read(buf.subarray(0, want));
          if (n === null || stopped) break;
          bucket.take(n);
          if (!rec.push(buf.subarray(0, n))) break;
        }
      } catch (err) {
        if (!stopped) rec.fail(err);
      }
    };
    listener.accept().then((c) => {
      if (stopped) return c.close();
      conn = c;
      markAccepted();
      void read(c);
    }, () => {/* closed before a connection came */});
    closeAll = () => {
      try {
        conn?.close();
      } catch { /* already closed */ }
      try {
        listener.close();
      } catch { /* already closed */ }
    };
  }
  if (opts.rcvbuf !== undefined) {
    try {
      setReceiveBuffer(unconnectedFd(port), opts.rcvbuf);
    } catch (err) {
      closeAll();
      throw err;
    }
  }
  function stop() {
    stopped = true;
    clearInterval(timer);
  }
  return {
    port,
    stats: rec.stats,
    accepted(ms) {
      if (acceptedYet) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`No connection within ${ms} ms`)), ms);
        onAccept = () => {
          clearTimeout(t);
          resolve();
        };
      });
    },
    stop,
    close() {
      stop();
      closeAll();
    },
  };
}

// ---------------------------------------------------------------------------------------
// Sender

/** What a sender did. */
export interface SenderStats {
  mode: Mode;
  /** Messages made. */
  produced: number;
  /** Messages handed to the socket. */
  sent: number;
  /** Messages dropped by the writer (latest-value-wins); 0 in naive mode. */
  dropped: number;
  meanQueued: number;
  meanUnsent: number;
  maxUnsent: number;
  samples: number;
  seconds: number;
  /** The sender's `tcp_info` at the end of the run (Linux), or undefined. */
  tcp?: TcpSummary;
  /**
   * Retransmissions seen by the sampler: [the sender's clock, bytes retransmitted since the
   * previous sample] whenever `tcpi_bytes_retrans` grew.
   */
  retrans: [number, number][];
  /** lowLatency: the writer's `lowat` at each sample where it changed: [the sender's clock, bytes]. */
  lowats?: [number, number][];
}

/** What the sender's `tcp_info` said at the end of a run. */
export interface TcpSummary {
  bytesSent: number;
  bytesRetrans: number;
  /** Retransmission timeouts. */
  rtos: number;
  /** Smoothed RTT, ms. */
  srttMs: number;
  /** Lowest RTT seen, ms. */
  minRttMs: number;
  /** Congestion window, segments. */
  cwnd: number;
}

/** The socket's `tcp_info`, summarised; undefined where it is not Linux's or fails. */
async function tcpSummary(socket: net.Socket): Promise<TcpSummary | undefined> {
  try {
    const i = await tcpInfo(socket);
    if (i.os !== "linux") return undefined;
    return {
      bytesSent: i.bytesSent ?? NaN,
      bytesRetrans: i.bytesRetrans ?? NaN,
      rtos: i.totalRto ?? NaN,
      srttMs: (i.rtt ?? NaN) / 1000,
      minRttMs: (i.minRtt ?? NaN) / 1000,
      cwnd: i.sndCwnd ?? NaN,
    };
  } catch {
    return undefined;
  }
}

/** Resolves true on `event`, false once `ms` have passed; leaves no listener or timer. */
function waitFor(emitter: net.Socket, event: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      emitter.off(event, onEvent);
      emitter.off("close", onClose);
      resolve(ok);
    };
    const onEvent = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), Math.max(0, ms));
    emitter.once(event, onEvent);
    emitter.once("close", onClose);
  });
}

/**
 * Writes messages to `socket` for `seconds`, as fast as it takes them, sampling its send
 * buffer every `sampleMs`. Does not close the socket.
 */
export async function send(
  socket: net.Socket,
  opts: {
    mode: Mode;
    seconds: number;
    msgSize: number;
    clock: () => number;
    lowat?: number;
    /** lowLatency: the writer's `targetMs` instead of `lowat`. */
    targetMs?: number;
    /** lowLatency: latest-value-wins (default) or every message sent. */
    latest?: boolean;
    sampleMs?: number;
  },
): Promise<SenderStats> {
  const { mode, msgSize, clock } = opts;
  const sampling = new AbortController();
  let queuedSum = 0;
  let unsentSum = 0;
  let maxUnsent = 0;
  let samples = 0;
  const retrans: [number, number][] = [];
  let lastTcp: TcpSummary | undefined;
  const lowats: [number, number][] = [];
  let stream: ReturnType<typeof lowLatencyWriter> | undefined;
  const sampler = (async () => {
    let retransSeen = 0;
    const snapshots = watch(socket, { intervalMs: opts.sampleMs ?? 50, signal: sampling.signal });
    // The receiver ends a run by closing its end, so a reset can reach this socket before
    // the sender's own deadline: watch() then throws ECONNRESET. That ends the sampling, not
    // the run (the last sample stands); any other error is a real failure.
    const ended = (err: unknown) =>
      err instanceof SockbufError && (err.code === "ECONNRESET" || err.code === "ENOTCONN");
    try {
      for await (const buf of snapshots) {
        queuedSum += buf.queued;
        unsentSum += buf.unsent ?? 0;
        maxUnsent = Math.max(maxUnsent, buf.unsent ?? 0);
        samples++;
        if (stream && stream.lowat !== lowats.at(-1)?.[1]) lowats.push([Math.round(clock()), stream.lowat]);
        const info = await tcpSummary(socket);
        lastTcp = info ?? lastTcp;
        const bytes = info?.bytesRetrans;
        if (bytes !== undefined && bytes > retransSeen) {
          retrans.push([Math.round(clock() * 10) / 10, bytes - retransSeen]);
          retransSeen = bytes;
        }
      }
    } catch (err) {
      if (!ended(err)) throw err;
    }
  })();
  const t0 = performance.now();
  const deadline = t0 + opts.seconds * 1000;
  let seq = 0;
  let sent = 0;
  let dropped = 0;
  try {
    if (mode === "naive") {
      while (performance.now() < deadline && !socket.destroyed) {
        sent++;
        if (!socket.write(encodeMessage(msgSize, seq++, clock()))) {
          await waitFor(socket, "drain", deadline - performance.now());
        } else if (sent % 32 === 0) {
          await nextTurn(); // let timers and the receiver run
        }
      }
    } else {
      const latest = opts.latest ?? true;
      stream = lowLatencyWriter(
        socket,
        opts.targetMs !== undefined
          ? { targetMs: opts.targetMs, latest }
          : { lowat: opts.lowat ?? 16384, latest },
      );
      const writer = stream.getWriter();
      while (performance.now() < deadline && !socket.destroyed) {
        // Every message sent (latest: false): a write waits, so the receiver's end of the
        // run can reset it mid-write. That ends the run, as it does for naive writes.
        if (!(await writer.write(encodeMessage(msgSize, seq++, clock())).then(() => true, () => false))) {
          break;
        }
        await nextTurn();
      }
      sent = stream.sent;
      dropped = stream.dropped;
      // Drop what is parked. The writer's pump keeps polling until the kernel has room or
      // the socket closes (abort() does not stop it), so callers destroy the socket next.
      await writer.abort(new Error("benchmark over")).catch(() => {});
    }
  } finally {
    sampling.abort();
    await sampler;
  }
  // At the end, or the last sample's if the socket has gone (the receiver may stop first).
  const tcp = (await tcpSummary(socket)) ?? lastTcp;
  return {
    mode,
    produced: seq,
    sent,
    dropped,
    meanQueued: samples ? queuedSum / samples : NaN,
    meanUnsent: samples ? unsentSum / samples : NaN,
    maxUnsent,
    samples,
    seconds: (performance.now() - t0) / 1000,
    tcp,
    retrans,
    lowats: mode === "lowLatency" ? lowats : undefined,
  };
}

// ---------------------------------------------------------------------------------------
// Results

/** One path × mode. */
export interface LatencyResult {
  runtime: string;
  path: "loopback" | "netns";
  mode: Mode;
  /** The sender's congestion control (its namespace's default). */
  cc: string;
  seconds: number;
  msgSize: number;
  produced: number;
  sent: number;
  received: number;
  dropped: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Received message bytes per second. */
  goodputBps: number;
  meanQueued: number;
  meanUnsent: number;
  maxUnsent: number;
  samples: number;
  outOfOrder: number;
  /** Bytes the sender retransmitted, % of bytes it sent (its `tcp_info`); NaN if unknown. */
  retransPct: number;
  /** The sender's retransmission timeouts; NaN if unknown. */
  rtos: number;
  /** The sender's smoothed and lowest RTT at the end, ms; NaN if unknown. */
  srttMs: number;
  minRttMs: number;
  /** Width of the timeline's bins, ms. */
  binMs: number;
  /** Age over time, binned by arrival (for the chart; left out of `--json` lines). */
  timeline: TimelineBin[];
  /** When the sender retransmitted (seconds on the timeline's axis) and how many bytes. */
  retrans: { t: number; bytes: number }[];
  /** With `rates` (netns): where each tbf rate began on the arrival axis, ms since accept. */
  rateChanges?: { atMs: number; rate: string }[];
  /** With `rates`: each message's age and arrival, for {@linkcode ratePhases}. */
  rx?: Pick<ReceiverStats, "ages" | "arrivals">;
  /** With `rates`: the writer's `lowat` where it changed, ms on the same axis. */
  lowats?: { atMs: number; bytes: number }[];
}

/** The nearest-rank percentile (`p` from 0 to 1) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];
}

function combine(
  path: LatencyResult["path"],
  tx: SenderStats,
  rx: Omit<ReceiverStats, "error">,
  rxSeconds: number,
  msgSize: number,
  cc: string,
): LatencyResult {
  const ages = Float64Array.from(rx.ages).sort();
  const sorted = Array.from(ages);
  const binMs = binWidth(tx.seconds * 1000);
  const t = tx.tcp;
  return {
    runtime,
    path,
    mode: tx.mode,
    cc,
    seconds: tx.seconds,
    msgSize,
    produced: tx.produced,
    sent: tx.sent,
    received: rx.received,
    dropped: tx.dropped,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length ? sorted[sorted.length - 1] : NaN,
    goodputBps: rxSeconds > 0 ? rx.bytes / rxSeconds : NaN,
    meanQueued: tx.meanQueued,
    meanUnsent: tx.meanUnsent,
    maxUnsent: tx.maxUnsent,
    samples: tx.samples,
    outOfOrder: rx.outOfOrder,
    retransPct: t ? (100 * t.bytesRetrans) / t.bytesSent : NaN,
    rtos: t ? t.rtos : NaN,
    srttMs: t ? t.srttMs : NaN,
    minRttMs: t ? t.minRttMs : NaN,
    binMs,
    timeline: timeline(rx.arrivals, rx.ages, binMs),
    retrans: tx.retrans.map(([at, bytes]) => ({ t: (at - (rx.startedAt ?? at)) / 1000, bytes })),
  };
}

const f = (x: number, digits = 1): string => (Number.isFinite(x) ? x.toFixed(digits) : "nan");

/** The machine-readable line for a result. */
export function formatLine(r: LatencyResult): string {
  return `${r.runtime} latency_${r.path}_${r.mode} sent=${r.sent} received=${r.received} dropped=${r.dropped}` +
    ` p50_ms=${f(r.p50Ms)} p99_ms=${f(r.p99Ms)} max_ms=${f(r.maxMs)} goodput_Bps=${f(r.goodputBps, 0)}` +
    ` mean_queued_b=${f(r.meanQueued, 0)} mean_unsent_b=${f(r.meanUnsent, 0)} max_unsent_b=${r.maxUnsent}` +
    ` samples=${r.samples} out_of_order=${r.outOfOrder} seconds=${f(r.seconds, 2)} msg_b=${r.msgSize}` +
    ` cc=${r.cc} retrans_pct=${f(r.retransPct, 2)} rtos=${r.rtos} srtt_ms=${f(r.srttMs, 2)}` +
    ` min_rtt_ms=${f(r.minRttMs, 3)}`;
}

// ---------------------------------------------------------------------------------------
// Path (a): loopback, small receive buffer, rate-limited reader

/** The writer's default `lowat` on loopback: 16 KiB, 16 ms of the reader's 1 MiB/s. */
export const LOOPBACK_LOWAT = 16384;

/** Options for {@linkcode runLoopback}. */
export interface LoopbackOptions {
  mode: Mode;
  /** Seconds of sending; default 5. */
  seconds?: number;
  /** Reader's rate, bytes/s; default 1 MiB/s. */
  rate?: number;
  /** SO_RCVBUF set on the listening socket; default 16384 (the kernel doubles it). */
  rcvbuf?: number;
  /** Message size in bytes; default 128. */
  msgSize?: number;
  /** The writer's `lowat`; default {@linkcode LOOPBACK_LOWAT}. */
  lowat?: number;
  /** Milliseconds between samples of the sender's buffer; default 50. */
  sampleMs?: number;
}

/** This namespace's default congestion control, or "?" if unreadable. */
function hostCc(): string {
  try {
    return readFileSync("/proc/sys/net/ipv4/tcp_congestion_control", "utf8").trim();
  } catch {
    return "?";
  }
}

/**
 * One loopback run in this process: the reader has a small receive buffer and reads at a
 * fixed rate; the sender writes in `mode` for `seconds`.
 */
export async function runLoopback(options: LoopbackOptions): Promise<LatencyResult> {
  if ((process.platform as string) !== "linux") {
    throw new Error("The latency benchmark sets Linux socket options: it runs on Linux only");
  }
  const seconds = options.seconds ?? 5;
  const msgSize = options.msgSize ?? 128;
  if (!(msgSize >= HEADER && msgSize <= 65536)) throw new RangeError(`msgSize must be ${HEADER}..65536`);
  const rx = listenReceiver({
    host: "127.0.0.1",
    msgSize,
    clock: monoClock,
    rate: options.rate ?? 1024 * 1024,
    rcvbuf: options.rcvbuf ?? 16384,
  });
  let client: net.Socket | undefined;
  try {
    const c = net.connect(rx.port, "127.0.0.1");
    client = c;
    c.on("error", () => {}); // a reset at teardown is expected
    await new Promise<void>((resolve, reject) => {
      c.once("connect", resolve);
      c.once("error", reject);
    });
    await rx.accepted(5_000);
    const rxStart = performance.now();
    const tx = await send(c, {
      mode: options.mode,
      seconds,
      msgSize,
      clock: monoClock,
      lowat: options.lowat ?? LOOPBACK_LOWAT,
      sampleMs: options.sampleMs,
    });
    rx.stop();
    const rxSeconds = (performance.now() - rxStart) / 1000;
    if (rx.stats.error) throw new Error(`Receiver: ${rx.stats.error}`);
    return combine("loopback", tx, rx.stats, rxSeconds, msgSize, hostCc());
  } finally {
    client?.destroy();
    rx.close();
  }
}

// ---------------------------------------------------------------------------------------
// Path (b): two network namespaces, veth, tbf

/** Every namespace this benchmark creates starts with this, then the creating process's pid. */
export const NETNS_PREFIX = "sockbuf-lat-";
/**
 * The writer's default `lowat` across the 1 Mbit/s link: 2 KiB, 16 ms of the link's 125 KB/s
 * (as 16 KiB is of loopback's 1 MiB/s reader). 16 KiB here would be 130 ms of unsent data
 * alone, and lets the kernel build multi-segment skbs that overflow the shaper (see the module doc).
 */
export const NETNS_LOWAT = 2048;
/** The sender namespace's default congestion control (see the module doc). */
export const NETNS_CC = "bbr";
const TX_ADDR = "10.254.77.1";
const RX_ADDR = "10.254.77.2";

/** Runs a command (never through a shell); throws with its stderr on failure. */
function cmd(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) throw new Error(`${file} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${file} ${args.join(" ")} exited ${r.status}: ${(r.stderr || r.stdout).trim()}`);
  }
  return r.stdout;
}

/** The absolute path of `name` on PATH, or undefined. */
export function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** Deletes namespaces left by runs whose process has gone (a crash); returns their names. */
export function deleteStaleNamespaces(): string[] {
  const deleted: string[] = [];
  let list: string;
  try {
    list = cmd("ip", ["netns", "list"]);
  } catch {
    return deleted;
  }
  for (const line of list.split("\n")) {
    const name = line.trim().split(/\s+/)[0];
    if (!name?.startsWith(NETNS_PREFIX)) continue;
    const pid = Number(name.slice(NETNS_PREFIX.length).split("-")[0]);
    let alive = false;
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        alive = true;
      } catch (err) {
        alive = (err as { code?: string }).code === "EPERM";
      }
    }
    if (alive) continue;
    try {
      cmd("ip", ["netns", "delete", name]);
      deleted.push(name);
    } catch { /* already gone */ }
  }
  return deleted;
}

/**
 * Why the netns path cannot run here, or undefined when it can. Checks Linux, root, `ip`
 * and `tc`, the runtime on PATH, and creates and deletes a probe namespace.
 */
export function netnsUnavailable(): string | undefined {
  if ((process.platform as string) !== "linux") return "Linux";
  if (process.getuid?.() !== 0) return "root (network namespaces, veth and tc)";
  for (const tool of ["ip", "tc"]) {
    if (spawnSync(tool, ["-V"], { stdio: "ignore" }).status !== 0) return `\`${tool}\` (iproute2)`;
  }
  if (!onPath(runtime)) return `\`${runtime}\` on PATH (the peers run under it)`;
  const probe = `${NETNS_PREFIX}${process.pid}-probe`;
  try {
    cmd("ip", ["netns", "add", probe]);
  } catch (err) {
    return `permission to create network namespaces (${(err as Error).message})`;
  }
  try {
    cmd("ip", ["netns", "delete", probe]);
  } catch { /* best effort */ }
  return undefined;
}

/** Options for {@linkcode runNetns}. */
export interface NetnsOptions {
  mode: Mode;
  /** Seconds of sending; default 5. */
  seconds?: number;
  /** tbf rate on the sender's veth; default "1mbit". */
  linkRate?: string;
  /** tbf burst; default "32kbit". */
  linkBurst?: string;
  /** tbf latency (bounds its queue: rate × latency + burst bytes); default "50ms". */
  linkLatency?: string;
  /**
   * Congestion control for the sender's namespace (`net.ipv4.tcp_congestion_control`, set
   * inside it only; a new namespace may choose among the host's
   * `net.ipv4.tcp_allowed_congestion_control`); default {@linkcode NETNS_CC}.
   */
  cc?: string;
  msgSize?: number;
  /** The writer's `lowat`; default {@linkcode NETNS_LOWAT}. */
  lowat?: number;
  /** lowLatency: the writer's `targetMs` instead of `lowat`. */
  targetMs?: number;
  /** lowLatency: latest-value-wins (default true). */
  latest?: boolean;
  sampleMs?: number;
  /**
   * Changes of the tbf rate during the run (`tc qdisc change`): each at `atMs` after the
   * sender starts. The result's `phases` then split the ages at each change.
   */
  rates?: { atMs: number; rate: string }[];
}

/** Message ages in one part of a run: from one tbf rate change to the next. */
export interface RatePhase {
  rate: string;
  /** When the phase began and ended, ms on the receiver's arrival axis. */
  fromMs: number;
  toMs: number;
  received: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** The same without the phase's first `settleMs` (the queue left by the previous rate). */
  settledP50Ms: number;
  settledP99Ms: number;
  settleMs: number;
}

/**
 * Splits the receiver's ages at the given boundaries (arrival ms since accept); `settle` is
 * the ms left out at each phase's start for the settled figures (one for all, or per phase).
 */
export function ratePhases(
  rx: Pick<ReceiverStats, "ages" | "arrivals">,
  bounds: { atMs: number; rate: string }[],
  settle: number | readonly number[],
): RatePhase[] {
  return bounds.map((b, i) => {
    const settleMs = typeof settle === "number" ? settle : settle[i] ?? 0;
    const toMs = bounds[i + 1]?.atMs ?? Infinity;
    const all: number[] = [];
    const settled: number[] = [];
    rx.arrivals.forEach((at, j) => {
      if (at < b.atMs || at >= toMs) return;
      all.push(rx.ages[j]);
      if (at >= b.atMs + settleMs) settled.push(rx.ages[j]);
    });
    all.sort((x, y) => x - y);
    settled.sort((x, y) => x - y);
    return {
      rate: b.rate,
      fromMs: b.atMs,
      toMs,
      received: all.length,
      p50Ms: percentile(all, 0.5),
      p99Ms: percentile(all, 0.99),
      maxMs: all.length ? all[all.length - 1] : NaN,
      settledP50Ms: percentile(settled, 0.5),
      settledP99Ms: percentile(settled, 0.99),
      settleMs,
    };
  });
}

/** A child's stdout, line by line, with a bounded wait for a line that matches. */
class ChildLines {
  readonly lines: string[] = [];
  #waiters: (() => void)[] = [];
  #tail = "";
  #stderr = "";
  exited: number | null | undefined = undefined;

  readonly child: ReturnType<typeof spawn>;
  readonly label: string;

  constructor(child: ReturnType<typeof spawn>, label: string) {
    this.child = child;
    this.label = label;
    child.stdout!.setEncoding("utf8");
    child.stdout!.on("data", (s: string) => {
      const parts = (this.#tail + s).split("\n");
      this.#tail = parts.pop()!;
      this.lines.push(...parts);
      this.#wake();
    });
    // Passed on as it comes, and its end kept for the error if the child fails.
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (s: string) => {
      process.stderr.write(s);
      this.#stderr = (this.#stderr + s).slice(-2000);
    });
    child.on("exit", (code) => {
      this.exited = code;
      this.#wake();
    });
    child.on("error", (err) => {
      this.lines.push(`error ${err.message}`);
      this.exited = -1;
      this.#wake();
    });
  }

  #wake() {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The first line starting with `prefix` (without it); throws after `ms` or if the child exits first. */
  async line(prefix: string, ms: number): Promise<string> {
    const until = performance.now() + ms;
    for (;;) {
      const hit = this.lines.find((l) => l.startsWith(prefix));
      if (hit !== undefined) return hit.slice(prefix.length);
      if (this.exited !== undefined) {
        const said = this.#stderr.trim();
        throw new Error(
          `${this.label} exited (${this.exited}) without printing "${prefix.trim()}"${
            said ? `; its stderr ended: ${said}` : ""
          }`,
        );
      }
      const left = until - performance.now();
      if (left <= 0) throw new Error(`${this.label} printed no "${prefix.trim()}" within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  kill() {
    if (this.exited === undefined) this.child.kill("SIGKILL");
  }
}

const peerScript = fileURLToPath(new URL("./_latency_peer.ts", import.meta.url));

/** argv for running the peer script under this runtime, inside namespace `ns`. */
function peerArgv(ns: string, args: string[]): string[] {
  const bin = onPath(runtime);
  if (!bin) throw new Error(`\`${runtime}\` is not on PATH`);
  const rt = runtime === "deno" ? [bin, "run", "--allow-all", peerScript] : [bin, peerScript];
  return ["netns", "exec", ns, ...rt, ...args];
}

/**
 * One run across a real bottleneck: namespaces `<prefix><pid>-tx` and `-rx` joined by veth,
 * tbf on the sender's side, receiver and sender as child processes inside them. The
 * namespaces are deleted afterwards, whatever happens.
 */
export async function runNetns(options: NetnsOptions): Promise<LatencyResult> {
  const seconds = options.seconds ?? 5;
  const msgSize = options.msgSize ?? 128;
  const tx = `${NETNS_PREFIX}${process.pid}-tx`;
  const rx = `${NETNS_PREFIX}${process.pid}-rx`;
  deleteStaleNamespaces();
  const children: ChildLines[] = [];
  try {
    cmd("ip", ["netns", "add", tx]);
    cmd("ip", ["netns", "add", rx]);
    // Made inside the sender's namespace, its peer moved straight into the receiver's.
    cmd("ip", ["-n", tx, "link", "add", "veth-tx", "type", "veth", "peer", "name", "veth-rx", "netns", rx]);
    cmd("ip", ["-n", tx, "addr", "add", `${TX_ADDR}/24`, "dev", "veth-tx"]);
    cmd("ip", ["-n", rx, "addr", "add", `${RX_ADDR}/24`, "dev", "veth-rx"]);
    for (const [ns, dev] of [[tx, "veth-tx"], [rx, "veth-rx"], [tx, "lo"], [rx, "lo"]]) {
      cmd("ip", ["-n", ns, "link", "set", dev, "up"]);
    }
    const tbf = (verb: "add" | "change", rate: string) =>
      cmd("tc", [
        ...["-n", tx, "qdisc", verb, "dev", "veth-tx", "root", "tbf", "rate", rate],
        ...["burst", options.linkBurst ?? "32kbit", "latency", options.linkLatency ?? "50ms"],
      ]);
    tbf("add", options.linkRate ?? "1mbit");
    const setCc = `net.ipv4.tcp_congestion_control=${options.cc ?? NETNS_CC}`;
    cmd("ip", ["netns", "exec", tx, "sysctl", "-qw", setCc]);
    const cc = cmd("ip", ["netns", "exec", tx, "sysctl", "-n", "net.ipv4.tcp_congestion_control"]).trim();
    const common = ["--seconds", String(seconds), "--msg-size", String(msgSize)];
    const stdio: ["ignore", "pipe", "pipe"] = ["ignore", "pipe", "pipe"];
    const receiver = new ChildLines(
      spawn("ip", peerArgv(rx, ["receiver", "--host", RX_ADDR, ...common]), { stdio }),
      "receiver",
    );
    children.push(receiver);
    const port = Number(await receiver.line("ready port=", 30_000));
    const sender = new ChildLines(
      spawn(
        "ip",
        peerArgv(tx, [
          "sender",
          "--host",
          RX_ADDR,
          "--port",
          String(port),
          "--mode",
          options.mode,
          "--lowat",
          String(options.lowat ?? NETNS_LOWAT),
          "--sample-ms",
          String(options.sampleMs ?? 50),
          ...(options.targetMs === undefined ? [] : ["--target-ms", String(options.targetMs)]),
          ...(options.latest === undefined ? [] : ["--latest", String(options.latest)]),
          ...common,
        ]),
        { stdio },
      ),
      "sender",
    );
    children.push(sender);
    // Rate changes, timed from the sender's start; each one's wall-clock moment is kept.
    const changes: { at: number; rate: string }[] = [];
    const timers = (options.rates ?? []).map((r) =>
      setTimeout(() => {
        if (sender.exited !== undefined) return;
        tbf("change", r.rate);
        changes.push({ at: wallClock(), rate: r.rate });
      }, r.atMs)
    );
    const budget = seconds * 1000 + 30_000;
    const [txOut, rxOut] = await Promise.all([
      sender.line("result ", budget),
      receiver.line("result ", budget),
    ]).finally(() => timers.forEach(clearTimeout));
    const txStats = JSON.parse(txOut) as SenderStats & { clockSkewMs: number };
    const rxStats = JSON.parse(rxOut) as ReceiverStats & { seconds: number; clockSkewMs: number };
    if (rxStats.error) throw new Error(`Receiver: ${rxStats.error}`);
    for (const [who, skew] of [["sender", txStats.clockSkewMs], ["receiver", rxStats.clockSkewMs]] as const) {
      if (Math.abs(skew) > 5) {
        console.error(`warning: ${who}'s timeOrigin+now() is ${skew.toFixed(1)} ms from Date.now()`);
      }
    }
    const result = combine("netns", txStats, rxStats, rxStats.seconds, msgSize, cc);
    if (options.rates) {
      const origin = rxStats.startedAt ?? 0;
      result.rateChanges = [
        { atMs: 0, rate: options.linkRate ?? "1mbit" },
        ...changes.map((c) => ({ atMs: c.at - origin, rate: c.rate })),
      ];
      result.rx = { ages: rxStats.ages, arrivals: rxStats.arrivals };
      result.lowats = (txStats.lowats ?? []).map(([at, bytes]) => ({ atMs: at - origin, bytes }));
    }
    return result;
  } finally {
    for (const c of children) c.kill();
    for (const ns of [tx, rx]) {
      try {
        cmd("ip", ["netns", "delete", ns]);
      } catch { /* never created */ }
    }
  }
}

// ---------------------------------------------------------------------------------------
// CLI

/** The issue's requirement: lowLatency's p99 age at least this many times lower than naive's… */
export const REQUIRED_P99_RATIO = 20;
/** …with goodput within this fraction of naive's. */
export const GOODPUT_TOLERANCE = 0.1;

/** How lowLatency compares with naive on one path. */
export interface Comparison {
  path: LatencyResult["path"];
  /** naive p99 / lowLatency p99. */
  p99Ratio: number;
  /** lowLatency goodput / naive goodput. */
  goodputRatio: number;
  /** Both parts of the requirement hold. */
  ok: boolean;
}

/** Compares the two modes' results of one path. */
export function compare(naive: LatencyResult, low: LatencyResult): Comparison {
  if (naive.mode !== "naive" || low.mode !== "lowLatency" || naive.path !== low.path) {
    throw new Error("compare(naive, lowLatency) of one path");
  }
  const p99Ratio = naive.p99Ms / low.p99Ms;
  const goodputRatio = low.goodputBps / naive.goodputBps;
  return {
    path: naive.path,
    p99Ratio,
    goodputRatio,
    ok: p99Ratio >= REQUIRED_P99_RATIO && Math.abs(goodputRatio - 1) <= GOODPUT_TOLERANCE,
  };
}

/** One line saying how a comparison stands against the requirement. */
export function formatComparison(c: Comparison): string {
  const p99Ok = c.p99Ratio >= REQUIRED_P99_RATIO;
  const gOk = Math.abs(c.goodputRatio - 1) <= GOODPUT_TOLERANCE;
  return `${c.path}: p99 naive/lowLatency = ${f(c.p99Ratio)}x (need >= ${REQUIRED_P99_RATIO}x: ` +
    `${p99Ok ? "ok" : "FAIL"}); goodput lowLatency/naive = ${f(c.goodputRatio, 3)} (need ` +
    `${1 - GOODPUT_TOLERANCE}..${1 + GOODPUT_TOLERANCE}: ${gOk ? "ok" : "FAIL"})`;
}

const COLORS: Record<Mode, string> = { naive: "#d62728", lowLatency: "#1f77b4" };

/**
 * Writes the chart of one path's results (one series per mode) to
 * `<dir>/latency-<runtime>-<path>.svg`; returns the file's path. `settings` are the lines
 * under the title.
 */
export function writeLatencyChart(
  dir: string,
  results: readonly LatencyResult[],
  settings: string[],
): string {
  const path = results[0]?.path;
  if (!path || results.some((r) => r.path !== path)) throw new Error("One path's results, at least one");
  const svg = renderChart({
    title: `sockbuf: message age over time, ${runtime}, ${path}`,
    subtitle: settings,
    binMs: Math.max(...results.map((r) => r.binMs)),
    series: results.map((r) => ({
      key: r.mode,
      label: `${r.mode}: p50 ${f(r.p50Ms)} ms, p99 ${f(r.p99Ms)} ms, goodput ${f(r.goodputBps / 1024)} KiB/s`,
      color: COLORS[r.mode],
      bins: r.timeline,
      retrans: r.retrans,
    })),
  });
  return writeChart(dir, `latency-${runtime}-${path}.svg`, svg);
}

/** The settings of a path, as printed under the table and in the chart's subtitle. */
export function describeSettings(
  path: LatencyResult["path"],
  o: {
    seconds: number;
    msgSize: number;
    lowat: number;
    cc: string;
    rcvbuf?: number;
    rate?: number;
    linkRate?: string;
    linkBurst?: string;
    linkLatency?: string;
  },
): string[] {
  return [
    `${o.seconds} s per mode, ${o.msgSize}-byte messages; lowLatency: lowat ${o.lowat} B, latest-wins; ` +
    `sender's congestion control ${o.cc}`,
    path === "loopback"
      ? `loopback: receiver SO_RCVBUF ${o.rcvbuf ?? 16384} B, reads ${o.rate ?? 1048576} B/s`
      : `netns: tbf on the sender's veth, rate ${o.linkRate ?? "1mbit"} burst ${o.linkBurst ?? "32kbit"} ` +
        `latency ${o.linkLatency ?? "50ms"}`,
  ];
}

const USAGE = `usage: latency.ts [--seconds 5] [--path loopback|netns|all] [--mode naive|lowLatency|all]
  [--rate BYTES_PER_S] [--rcvbuf BYTES] [--lowat BYTES (loopback, ${LOOPBACK_LOWAT})]
  [--link-rate 1mbit] [--link-burst 32kbit] [--link-latency 50ms] [--link-lowat BYTES (netns, ${NETNS_LOWAT})]
  [--cc ${NETNS_CC} (netns sender)] [--msg-size BYTES] [--sample-ms MS] [--svg DIR (bench/out; "" for none)] [--json]`;

function table(results: LatencyResult[], skipped: string[]): string {
  const header = [
    "path",
    "mode",
    "sent",
    "received",
    "dropped",
    "p50 ms",
    "p99 ms",
    "max ms",
    "goodput KiB/s",
    "mean queued B",
    "mean unsent B",
    "retrans %",
  ];
  const rows = results.map((r) => [
    r.path,
    r.mode,
    String(r.sent),
    String(r.received),
    String(r.dropped),
    f(r.p50Ms),
    f(r.p99Ms),
    f(r.maxMs),
    f(r.goodputBps / 1024),
    f(r.meanQueued, 0),
    f(r.meanUnsent, 0),
    f(r.retransPct, 2),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [
    line(header),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...rows.map(line),
    ...skipped.map((s) => `skipped: ${s}`),
  ].join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      seconds: { type: "string", default: "5" },
      path: { type: "string", default: "all" },
      mode: { type: "string", default: "all" },
      rate: { type: "string", default: String(1024 * 1024) },
      rcvbuf: { type: "string", default: "16384" },
      "msg-size": { type: "string", default: "128" },
      lowat: { type: "string", default: String(LOOPBACK_LOWAT) },
      "sample-ms": { type: "string", default: "50" },
      "link-rate": { type: "string", default: "1mbit" },
      "link-burst": { type: "string", default: "32kbit" },
      "link-latency": { type: "string", default: "50ms" },
      "link-lowat": { type: "string", default: String(NETNS_LOWAT) },
      cc: { type: "string", default: NETNS_CC },
      svg: { type: "string", default: "bench/out" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const num = (name: keyof typeof values, min: number, max: number): number => {
    const x = Number(values[name]);
    if (!(Number.isFinite(x) && x >= min && x <= max)) {
      throw new RangeError(`--${name} must be a number from ${min} to ${max}\n${USAGE}`);
    }
    return x;
  };
  const seconds = num("seconds", 0.1, 600);
  const paths = (values.path === "all" ? ["loopback", "netns"] : [values.path]) as LatencyResult["path"][];
  const modes = values.mode === "all" ? MODES : [values.mode as Mode];
  if (!paths.every((p) => p === "loopback" || p === "netns") || !modes.every((m) => MODES.includes(m))) {
    throw new RangeError(USAGE);
  }
  const common = {
    seconds,
    msgSize: num("msg-size", HEADER, 65536),
    sampleMs: num("sample-ms", 1, 10_000),
  };
  const loopback = {
    rate: num("rate", 1, 1e12),
    rcvbuf: num("rcvbuf", 1, 2 ** 31 - 1),
    lowat: num("lowat", 1, 2 ** 31 - 1),
  };
  const link = {
    linkRate: values["link-rate"],
    linkBurst: values["link-burst"],
    linkLatency: values["link-latency"],
    lowat: num("link-lowat", 1, 2 ** 31 - 1),
    cc: values.cc,
  };
  const out = (r: LatencyResult) => {
    const { timeline: _t, retrans: _r, ...rest } = r;
    console.log(values.json ? JSON.stringify(rest) : formatLine(r));
  };
  const results: LatencyResult[] = [];
  const skipped: string[] = [];

  let netnsOk = false;
  if (paths.includes("netns")) {
    const why = netnsUnavailable();
    if (why === undefined) netnsOk = true;
    else if (process.env.CI === "true") {
      console.error(`CI=true and the netns path needs ${why}`);
      return 1;
    } else {
      const msg = `netns path: needs ${why}`;
      console.error(`SKIP ${msg}`);
      skipped.push(msg);
    }
  }
  if (paths.includes("loopback")) {
    for (const mode of modes) {
      const r = await runLoopback({ mode, ...loopback, ...common });
      results.push(r);
      out(r);
    }
  }
  if (netnsOk) {
    for (const mode of modes) {
      const r = await runNetns({ mode, ...link, ...common });
      results.push(r);
      out(r);
    }
  }
  const log = values.json ? console.error : console.log;
  const ccOf = (path: string) =>
    [...new Set(results.filter((r) => r.path === path).map((r) => r.cc))].join("/");
  const settings = (path: LatencyResult["path"]) =>
    describeSettings(path, { ...common, ...(path === "loopback" ? loopback : link), cc: ccOf(path) });
  log(`\n${runtime}:`);
  for (const path of paths) if (results.some((r) => r.path === path)) log(`  ${settings(path).join("; ")}`);
  log(table(results, skipped));
  for (const path of paths) {
    const naive = results.find((r) => r.path === path && r.mode === "naive");
    const low = results.find((r) => r.path === path && r.mode === "lowLatency");
    if (naive && low) log(formatComparison(compare(naive, low)));
  }
  if (values.svg) {
    for (const path of paths) {
      const rs = results.filter((r) => r.path === path);
      if (rs.length) log(`wrote ${writeLatencyChart(values.svg, rs, settings(path))}`);
    }
  }
  return 0;
}

if (import.meta.main) {
  // Ctrl-C or kill: finally blocks will not run, so delete this run's namespaces here.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.error(`${signal}: deleting this run's namespaces`);
      for (const side of ["tx", "rx"]) {
        spawnSync("ip", ["netns", "delete", `${NETNS_PREFIX}${process.pid}-${side}`], { stdio: "ignore" });
      }
      process.exit(130);
    });
  }
  let code = 1;
  try {
    code = await main();
  } catch (err) {
    console.error(err instanceof RangeError ? err.message : err);
  }
  process.exit(code);
}
