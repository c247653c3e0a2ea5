/**
 * Why is a connection slow, and how late is a byte written now: the interval's time split
 * between the application, the send buffer, the receiver and the network, from the deltas of
 * the kernel's own chronographs.
 *
 * Linux (4.10+) times three mutually exclusive states in jiffies (`tcp_chrono_*` in
 * net/ipv4/tcp_output.c) and `tcp_get_info` reports them in µs: `busy` (data unacknowledged
 * or unsent), `rwnd_limited` (the peer's window stopped sending) and `sndbuf_limited` (the
 * send buffer ran dry while the application waited for room, and the congestion window was
 * not the limit). `tcpi_busy_time` is their sum. XNU keeps no busy time; newer releases time
 * only the receive-window limit.
 *
 * @module
 */
import { checkOptions, checkSignal, described } from "./_args.ts";
import { pause } from "./_wait.ts";
import { tcpInfoSync } from "./inspect.ts";
import { resolveSocket, type SocketLike } from "./resolve.ts";
import type { TcpInfo } from "./types.ts";

/** What limited the connection most over the interval; `"unknown"` when the OS cannot tell. */
export type Verdict = "application" | "sender-buffer" | "receiver" | "network" | "unknown";

/**
 * The interval's wall time split four ways, each from 0 to 1 and together 1; a part this
 * kernel cannot measure is `undefined`.
 */
export interface DiagnosisFractions {
  /** Nothing to send: no byte unsent or unacknowledged (1 − busy). */
  application: number | undefined;
  /** The send buffer was full and everything in it sent (`tcpi_sndbuf_limited`). */
  senderBuffer: number | undefined;
  /** The peer's receive window stopped sending, a zero window included (`tcpi_rwnd_limited`). */
  receiver: number | undefined;
  /** Busy and limited by neither: the congestion window, pacing, or data in flight. */
  network: number | undefined;
}

/**
 * What {@linkcode diagnose} found over one interval.
 *
 * @example
 * ```ts
 * import { diagnose, type Diagnosis } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const d: Diagnosis = await diagnose(conn, { intervalMs: 50 });
 * console.log(d.verdict, d.fractions, d.missing);
 * ```
 */
export interface Diagnosis {
  /** The largest of the four fractions; `"unknown"` when the missing parts could be larger. */
  verdict: Verdict;
  /** The interval split four ways. */
  fractions: DiagnosisFractions;
  /** The interval measured between the two `tcp_info` reads, ms. */
  elapsedMs: number;
  /** The kernel's busy time in the interval, ms (Linux: counted in jiffies, 4 ms at HZ=250). */
  busyMs: number | undefined;
  /** Time limited by the peer's receive window in the interval, ms. */
  rwndLimitedMs: number | undefined;
  /** Time limited by the send buffer in the interval, ms. */
  sndbufLimitedMs: number | undefined;
  /**
   * Delivery rate, bytes/s: Linux's latest estimate (`tcpi_delivery_rate`, what `ss` shows
   * in bits/s); on macOS the bytes acknowledged over the interval divided by its length.
   */
  deliveryRate: number | undefined;
  /** Smoothed round-trip time at the end of the interval, ms. */
  rttMs: number | undefined;
  /** Its variation, ms. */
  rttVarMs: number | undefined;
  /** Bytes retransmitted in the interval. */
  retransmittedBytes: number | undefined;
  /** Bytes the peer acknowledged in the interval (macOS: derived, see the README). */
  ackedBytes: number | undefined;
  /** Bytes written and not yet sent, at the end of the interval. */
  unsentBytes: number | undefined;
  /**
   * About how long a byte written now waits until it is acknowledged, ms: the unsent bytes at
   * the delivery rate, plus one RTT in flight. `undefined` when there are unsent bytes and
   * no rate to drain them at (nothing delivered yet, an unknown rate), or behind a zero
   * window (they wait for the reader, however long it takes).
   */
  unsentMs: number | undefined;
  /** The peer's advertised window at the end, bytes (Linux 5.4+, macOS); 0 is a zero window. */
  peerWindow: number | undefined;
  /** The `tcp_info` fields this OS or kernel lacks for a full answer; empty on Linux 5.4+. */
  missing: string[];
}

/**
 * Options for {@linkcode diagnose}.
 *
 * @example
 * ```ts
 * import type { DiagnoseOptions } from "@sockbuf/sockbuf";
 *
 * const options: DiagnoseOptions = { intervalMs: 2_000, signal: AbortSignal.timeout(5_000) };
 * console.log(options);
 * ```
 */
export interface DiagnoseOptions {
  /** How long to watch, ms; default 1000, at least 10 (the kernel counts in 1–10 ms jiffies). */
  intervalMs?: number;
  /** Gives up: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Field values as numbers, or undefined: every tcp_info field the code reads. */
type Num = number | undefined;
const delta = (a: Num, b: Num): Num => (a === undefined || b === undefined ? undefined : b - a);
const ms = (us: Num): Num => (us === undefined ? undefined : us / 1000);

/** The parts the deltas give, before fractions: all ms except bytes and rates. */
interface Raw {
  busyMs: Num;
  rwndLimitedMs: Num;
  sndbufLimitedMs: Num;
  deliveryRate: Num;
  rttMs: Num;
  rttVarMs: Num;
  retransmittedBytes: Num;
  ackedBytes: Num;
  unsentBytes: Num;
  peerWindow: Num;
  missing: string[];
}

function linuxRaw(a: TcpInfo & { os: "linux" }, b: TcpInfo & { os: "linux" }): Raw {
  const missing: string[] = [];
  const need = (name: string, v: Num) => {
    if (v === undefined) missing.push(name);
    return v;
  };
  return {
    busyMs: ms(need("tcpi_busy_time", delta(a.busyTime, b.busyTime))),
    rwndLimitedMs: ms(need("tcpi_rwnd_limited", delta(a.rwndLimited, b.rwndLimited))),
    sndbufLimitedMs: ms(need("tcpi_sndbuf_limited", delta(a.sndbufLimited, b.sndbufLimited))),
    deliveryRate: need("tcpi_delivery_rate", b.deliveryRate),
    rttMs: ms(b.rtt),
    rttVarMs: ms(b.rttvar),
    retransmittedBytes: need("tcpi_bytes_retrans", delta(a.bytesRetrans, b.bytesRetrans)),
    ackedBytes: need("tcpi_bytes_acked", delta(a.bytesAcked, b.bytesAcked)),
    unsentBytes: need("tcpi_notsent_bytes", b.notsentBytes),
    peerWindow: need("tcpi_snd_wnd", b.sndWnd),
    missing,
  };
}

function darwinRaw(a: TcpInfo & { os: "darwin" }, b: TcpInfo & { os: "darwin" }, elapsedMs: number): Raw {
  const pa = a.private, pb = b.private;
  const rwnd = delta(pa?.rcvwndLimitedTotalTime, pb?.rcvwndLimitedTotalTime);
  const retransmitted = delta(a.txretransmitbytes, b.txretransmitbytes);
  // New bytes sent minus the growth of the unacknowledged ones: what the peer acknowledged.
  const sentNew = delta(a.txbytes, b.txbytes);
  const unackedGrowth = delta(pa?.txunacked, pb?.txunacked);
  const acked = sentNew === undefined || retransmitted === undefined || unackedGrowth === undefined
    ? undefined
    : Math.max(0, sentNew - retransmitted - unackedGrowth);
  const missing = ["tcpi_busy_time", "tcpi_sndbuf_limited"];
  if (rwnd === undefined) missing.push("tcpi_rcvwnd_limited_total_time");
  if (acked === undefined) missing.push("tcpi_txunacked");
  const unsent = pb?.sndSbbytes === undefined || pb.txunacked === undefined
    ? undefined
    : Math.max(0, pb.sndSbbytes - pb.txunacked);
  return {
    busyMs: undefined,
    rwndLimitedMs: ms(rwnd),
    sndbufLimitedMs: undefined,
    deliveryRate: acked === undefined ? undefined : acked / (elapsedMs / 1000),
    rttMs: b.srtt,
    rttVarMs: b.rttvar,
    retransmittedBytes: retransmitted,
    ackedBytes: acked,
    unsentBytes: unsent,
    peerWindow: b.sndWnd,
    missing,
  };
}

/** Clamps to [0, 1]: a chronograph counts whole jiffies, so it can overshoot the interval a little. */
const unit = (x: Num): Num => (x === undefined ? undefined : Math.min(1, Math.max(0, x)));

/** The fractions, and the verdict they support. */
function split(r: Raw, elapsedMs: number): { fractions: DiagnosisFractions; verdict: Verdict } {
  const { busyMs, rwndLimitedMs: rwnd, sndbufLimitedMs: sndbuf } = r;
  // Busy time can pass the interval by up to a jiffy: divide by the larger of the two so the
  // four parts still add up to 1.
  const span = Math.max(elapsedMs, busyMs ?? 0);
  const fractions: DiagnosisFractions = {
    application: busyMs === undefined ? undefined : unit(1 - busyMs / span),
    senderBuffer: unit(sndbuf === undefined ? undefined : sndbuf / span),
    receiver: unit(rwnd === undefined ? undefined : rwnd / span),
    network: busyMs === undefined || rwnd === undefined || sndbuf === undefined
      ? undefined
      : unit(Math.max(0, busyMs - rwnd - sndbuf) / span),
  };
  const parts: [Verdict, Num][] = [
    ["application", fractions.application],
    ["sender-buffer", fractions.senderBuffer],
    ["receiver", fractions.receiver],
    ["network", fractions.network],
  ];
  let best: Verdict = "unknown", top = -1, known = 0;
  for (const [name, f] of parts) {
    if (f === undefined) continue;
    known += f;
    if (f > top) [best, top] = [name, f];
  }
  // With parts missing, the largest known part wins only if the unknown rest, together,
  // could not be larger; a guess is never a verdict.
  const unknownRest = parts.some(([, f]) => f === undefined) ? Math.max(0, 1 - known) : 0;
  return { fractions, verdict: top >= 0 && top > unknownRest ? best : "unknown" };
}

/**
 * Splits the time between two `tcp_info` readings of one connection, as {@linkcode diagnose}
 * does, for readings you took yourself: from `tcpInfoSync`, or from
 * `listSockets({ tcpInfo: true })` (whole-host, no rights over the owning process needed).
 *
 * @param before the first reading
 * @param after the second reading, of the same connection
 * @param elapsedMs the time between the two readings, ms
 * @returns the diagnosis of the interval
 * @throws {TypeError} if a reading is not a `tcp_info` result, or `elapsedMs` is not a number
 * @throws {RangeError} if `elapsedMs` is not positive and finite, the readings come from two
 * OSes, or a counter went backwards (two different connections, or readings out of order)
 *
 * @example From a whole-host listing, one second apart
 * ```ts
 * import { diagnoseBetween, listSocketsSync } from "@sockbuf/sockbuf";
 *
 * const first = new Map(listSocketsSync({ states: ["ESTABLISHED"], tcpInfo: true }).map((s) => [s.cookie, s]));
 * const t0 = performance.now();
 * await new Promise((resolve) => setTimeout(resolve, 1_000));
 * for (const s of listSocketsSync({ states: ["ESTABLISHED"], tcpInfo: true })) {
 *   const before = first.get(s.cookie)?.tcpInfo;
 *   if (!before || !s.tcpInfo) continue;
 *   const d = diagnoseBetween(before, s.tcpInfo, performance.now() - t0);
 *   console.log(`${s.local.port} → ${s.peer.port}: ${d.verdict}`);
 * }
 * ```
 */
export function diagnoseBetween(before: TcpInfo, after: TcpInfo, elapsedMs: number): Diagnosis {
  for (const [name, v] of [["before", before], ["after", after]] as const) {
    if (typeof v !== "object" || v === null || (v.os !== "linux" && v.os !== "darwin")) {
      throw new TypeError(`Expected ${name} as a tcp_info result, got ${described(v)}`);
    }
  }
  if (typeof elapsedMs !== "number") {
    throw new TypeError(`Expected elapsedMs as a number of milliseconds, got ${described(elapsedMs)}`);
  }
  if (!(elapsedMs > 0) || elapsedMs === Infinity) {
    throw new RangeError(`Expected elapsedMs as a positive finite number of milliseconds, got ${elapsedMs}`);
  }
  if (before.os !== after.os) {
    throw new RangeError(`Expected two readings from one OS, got ${before.os} and ${after.os}`);
  }
  const raw = before.os === "linux"
    ? linuxRaw(before, after as typeof before)
    : darwinRaw(before, after as typeof before, elapsedMs);
  for (const key of ["busyMs", "rwndLimitedMs", "sndbufLimitedMs", "retransmittedBytes"] as const) {
    const v = raw[key];
    if (v !== undefined && v < 0) {
      throw new RangeError(
        `Expected two readings of one connection in order, but ${key} went backwards (${v})`,
      );
    }
  }
  const { fractions, verdict } = split(raw, elapsedMs);
  const { deliveryRate: rate, unsentBytes: unsent, rttMs } = raw;
  // A byte written now waits behind the unsent ones, then spends about an RTT in flight.
  // Behind a zero window it waits for the reader, however long that takes: no figure.
  const unsentMs = unsent === 0
    ? rttMs
    : unsent === undefined || rttMs === undefined || !rate || raw.peerWindow === 0
    ? undefined
    : (unsent / rate) * 1000 + rttMs;
  return {
    verdict,
    fractions,
    elapsedMs,
    busyMs: raw.busyMs,
    rwndLimitedMs: raw.rwndLimitedMs,
    sndbufLimitedMs: raw.sndbufLimitedMs,
    deliveryRate: rate,
    rttMs,
    rttVarMs: raw.rttVarMs,
    retransmittedBytes: raw.retransmittedBytes,
    ackedBytes: raw.ackedBytes,
    unsentBytes: unsent,
    unsentMs,
    peerWindow: raw.peerWindow,
    missing: raw.missing,
  };
}

/**
 * Watches a TCP socket for `intervalMs` and says what limited it: the application (nothing
 * to send), the send buffer, the receiver, or the network, with each one's share of the time,
 * and how long a byte written now would wait. Reads `tcp_info` at the start and at the end:
 * the kernel's counters since the connection opened (what `ss` shows) hide what happens now,
 * their deltas do not.
 *
 * Linux 4.10+ gives every part. On macOS only the receiver's part is measured (newer XNU),
 * so the verdict is `"receiver"` when that took over half the time and `"unknown"` otherwise;
 * `missing` names what the OS lacks.
 *
 * @param socket a raw fd, a Deno conn, a node:net or Bun socket, a serve request, or an address pair
 * @param options `intervalMs` (default 1000) and `signal`
 * @returns the diagnosis of the interval
 * @throws {TypeError} if `socket` is not a socket, or an option has the wrong type
 * @throws {RangeError} if `intervalMs` is below 10 or not finite
 * @throws {SockbufError} if the OS refuses (`ENOTCONN` for a socket that closed meanwhile)
 * @throws {DOMException} the signal's reason on abort
 *
 * @example Why is this connection slow?
 * ```ts
 * import { diagnose } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const d = await diagnose(conn, { intervalMs: 100 });
 * // Nothing was written: the application had nothing to send the whole time.
 * console.log(d.verdict, d.fractions.application, `a byte written now waits ~${d.unsentMs} ms`);
 * ```
 */
export async function diagnose(socket: SocketLike, options: DiagnoseOptions = {}): Promise<Diagnosis> {
  checkOptions(options);
  const interval = options.intervalMs ?? 1000;
  if (typeof interval !== "number") {
    throw new TypeError(`Expected intervalMs as a number of milliseconds, got ${described(interval)}`);
  }
  if (!(interval >= 10) || interval === Infinity) {
    throw new RangeError(`Expected intervalMs as a finite number of milliseconds from 10, got ${interval}`);
  }
  const signal = checkSignal(options.signal);
  signal?.throwIfAborted();
  const sock = await resolveSocket(socket);
  const t0 = performance.now();
  const before = tcpInfoSync(sock);
  if (!(await pause(interval, signal))) throw signal!.reason;
  const after = tcpInfoSync(sock);
  return diagnoseBetween(before, after, performance.now() - t0);
}
