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

/**
 * A test for the listing that accepts an entry only while it could still be among the `n`
 * connections with the most unsent bytes (then queued bytes; ties to the earlier one, as the
 * stable sort after the listing ranks them): its `tcp_info` is decoded for the verdict, the
 * thousands of others are not (decoding all 10,000 of bench/metrics.ts's sockets on every
 * scrape put Deno's RSS at 278–386 MiB over 2,000 scrapes instead of 156–176, Bun's at
 * 218–258 instead of 168–193, all of it garbage). A min-heap of the best `n` seen so far.
 */
export function topFilter(n: number): (entry: SocketEntry) => boolean {
  const unsent: number[] = [], queued: number[] = [];
  const weaker = (i: number, j: number) =>
    unsent[i] < unsent[j] || (unsent[i] === unsent[j] && queued[i] < queued[j]);
  const swap = (i: number, j: number) => {
    [unsent[i], unsent[j]] = [unsent[j], unsent[i]];
    [queued[i], queued[j]] = [queued[j], queued[i]];
  };
  return (entry) => {
    const b = entry.sendBuffer;
    if (entry.state === "LISTEN" || !b || n === 0) return false;
    const u = b.unsent ?? 0, q = b.queued;
    if (unsent.length < n) {
      unsent.push(u), queued.push(q);
      for (let i = unsent.length - 1; i > 0;) {
        const parent = (i - 1) >> 1;
        if (!weaker(i, parent)) break;
        swap(i, parent), i = parent;
      }
      return true;
    }
    // Not strictly better than the weakest kept: an equal one came earlier and wins the tie.
    if (u < unsent[0] || (u === unsent[0] && q <= queued[0])) return false;
    unsent[0] = u, queued[0] = q;
    for (let i = 0;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < unsent.length && weaker(l, m)) m = l;
      if (r < unsent.length && weaker(r, m)) m = r;
      if (m === i) break;
      swap(i, m), i = m;
    }
    return true;
  };
}
