/**
 * The verdict of each connection listed one by one, between two scrapes: a scrape sees a
 * connection once, so the previous scrape's `tcp_info` is kept, by socket cookie, for the
 * connections it listed one by one (at most `top` of them), and replaced by this scrape's;
 * a connection that left the list, or the host, is forgotten.
 *
 * @module
 */
import { diagnoseBetween, type DiagnosisFractions, type Verdict } from "../diagnose.ts";
import type { SocketEntry, TcpInfo } from "../types.ts";

/**
 * One listing's `tcp_info` of the connections listed one by one, by socket cookie (never
 * reused while the system runs), each with when it was read: the `performance.now()` at
 * which its netlink datagram arrived, ms.
 */
export type Readings = Map<number, { info: TcpInfo; at: number }>;

/** What limited one connection since the previous reading, and over how long, ms. */
export interface Judgement {
  verdict: Verdict;
  fractions: DiagnosisFractions;
  elapsedMs: number;
}

/** Every verdict value, in the order the metric lists them. */
export const VERDICTS: readonly Verdict[] = [
  "application",
  "sender-buffer",
  "receiver",
  "network",
  "unknown",
];

/**
 * The verdict of each of `entries` that `previous` also read, over the time between its two
 * readings, and the readings to keep for the next listing. Each reading is timed by its own
 * datagram, not by the listing's start: a listing of many sockets, or one that scans /proc
 * first, takes long enough to skew a short interval. A connection read for the first time
 * gets none (never a made-up value); a kernel without the chronographs gives `"unknown"`.
 */
export function judge(
  entries: readonly SocketEntry[],
  previous: Readings | undefined,
  readAt: (s: SocketEntry) => number,
): { results: Map<number, Judgement>; readings: Readings } {
  const results = new Map<number, Judgement>();
  const readings: Readings = new Map();
  for (const s of entries) {
    if (!s.tcpInfo) continue;
    const at = readAt(s);
    readings.set(s.cookie, { info: s.tcpInfo, at });
    const before = previous?.get(s.cookie);
    if (!before || !(at > before.at)) continue;
    try {
      const { verdict, fractions, elapsedMs } = diagnoseBetween(before.info, s.tcpInfo, at - before.at);
      results.set(s.cookie, { verdict, fractions, elapsedMs });
    } catch {
      // A counter that went backwards is not the same connection's: no verdict, not a wrong one.
    }
  }
  return { results, readings };
}
