/**
 * Layout of Linux `struct tcp_info` (`getsockopt(IPPROTO_TCP, TCP_INFO)`).
 *
 * Source: include/uapi/linux/tcp.h of Linux v6.18 and, for the last word, the later uapi
 * header that packed it into bit fields; offsets 0..231 are checked against the installed
 * headers by tests/layout_linux.test.ts, which compiles `offsetof()` and bit-field probes
 * with cc. The kernel copies `min(asked, its size)` bytes and returns that length: fields
 * past it decode to `undefined`. Data only; do not add logic here.
 *
 * @module
 */
import type { Field, Layout } from "./layout.ts";

/**
 * Every field of Linux's `struct tcp_info`, named by dropping `tcpi_` and converting to
 * camelCase. A field the running kernel did not return is `undefined`, never 0.
 *
 * Units follow the kernel: times in microseconds (µs) unless marked milliseconds (ms);
 * rates in bytes per second (`ss` prints bits per second); windows and thresholds named
 * `cwnd`/`ssthresh` in segments.
 *
 * @example A summary in the units `ss -i` prints
 * ```ts
 * import { type LinuxTcpInfoFields, tcpInfo } from "@sockbuf/sockbuf";
 *
 * function summary(t: LinuxTcpInfoFields): string {
 *   const ms = (us: number | undefined) => us === undefined ? "?" : (us / 1000).toFixed(3);
 *   const bps = t.deliveryRate === undefined ? "?" : `${t.deliveryRate * 8}bps`; // bytes/s → bits/s
 *   return `rto:${ms(t.rto)} rtt:${ms(t.rtt)}/${ms(t.rttvar)} cwnd:${t.sndCwnd} delivery_rate ${bps}`;
 * }
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const info = await tcpInfo(conn);
 * if (info.os === "linux") console.log(summary(info));
 * ```
 */
export interface LinuxTcpInfoFields {
  /** TCP state number (`include/net/tcp_states.h`: 1 ESTABLISHED … 10 LISTEN). */
  stateNumber: number | undefined;
  /** Congestion-avoidance state (0 Open, 1 Disorder, 2 CWR, 3 Recovery, 4 Loss). */
  caState: number | undefined;
  /** Retransmissions of the current segment, a count (on LISTEN: SYN-ACK retransmits). */
  retransmits: number | undefined;
  /** Unanswered zero-window probes, a count. */
  probes: number | undefined;
  /** Exponential backoff of the retransmission timer, a shift count. */
  backoff: number | undefined;
  /** Negotiated options, a bit set: TIMESTAMPS 1, SACK 2, WSCALE 4, ECN 8, ECN_SEEN 16, SYN_DATA 32, USEC_TS 64, TFO_CHILD 128. */
  options: number | undefined;
  /** Send window scale, a shift count (bits 0–3 of byte 6). */
  sndWscale: number | undefined;
  /** Receive window scale, a shift count (bits 4–7 of byte 6). */
  rcvWscale: number | undefined;
  /** 1 when the last delivery-rate sample was application-limited (bit 0 of byte 7; Linux 4.9). */
  deliveryRateAppLimited: number | undefined;
  /** Why a TCP Fast Open client fell back, 0–3 (bits 1–2 of byte 7; Linux 5.5). */
  fastopenClientFail: number | undefined;
  /** Retransmission timeout, µs. */
  rto: number | undefined;
  /** Delayed-ACK timeout, µs. */
  ato: number | undefined;
  /** Send maximum segment size, bytes. */
  sndMss: number | undefined;
  /** Receive MSS estimate, bytes. */
  rcvMss: number | undefined;
  /** Segments sent and not yet acknowledged (packets_out) — segments, not bytes. On LISTEN: the accept-queue length. */
  unacked: number | undefined;
  /** Segments selectively acknowledged. On LISTEN: the accept-queue limit. */
  sacked: number | undefined;
  /** Segments thought lost, a count. */
  lost: number | undefined;
  /** Segments retransmitted and not yet acknowledged, a count. */
  retrans: number | undefined;
  /** Unused by current kernels (always 0). */
  fackets: number | undefined;
  /** Time since data was last sent, ms. */
  lastDataSent: number | undefined;
  /** Time since an ACK was last sent, ms (not tracked: 0). */
  lastAckSent: number | undefined;
  /** Time since data was last received, ms. */
  lastDataRecv: number | undefined;
  /** Time since an ACK was last received, ms. */
  lastAckRecv: number | undefined;
  /** Path MTU, bytes. */
  pmtu: number | undefined;
  /** Receive slow-start threshold, bytes. */
  rcvSsthresh: number | undefined;
  /** Smoothed round-trip time, µs. */
  rtt: number | undefined;
  /** Round-trip time variation, µs. */
  rttvar: number | undefined;
  /** Slow-start threshold, segments (0x7fffffff while unset). */
  sndSsthresh: number | undefined;
  /** Congestion window, segments. */
  sndCwnd: number | undefined;
  /** Advertised MSS, bytes. */
  advmss: number | undefined;
  /** Reordering metric, segments. */
  reordering: number | undefined;
  /** Receiver-side RTT estimate, µs. */
  rcvRtt: number | undefined;
  /** Receive-buffer autotuning space, bytes. */
  rcvSpace: number | undefined;
  /** Retransmitted segments over the connection's life, a count. */
  totalRetrans: number | undefined;
  /** Current pacing rate, bytes/s; `Infinity` when unlimited (Linux 3.15). */
  pacingRate: number | undefined;
  /** SO_MAX_PACING_RATE, bytes/s; `Infinity` when unlimited (Linux 3.15). */
  maxPacingRate: number | undefined;
  /** Bytes acknowledged by the peer (RFC 4898 tcpEStatsAppHCThruOctetsAcked; Linux 4.1). */
  bytesAcked: number | undefined;
  /** Bytes received (RFC 4898 tcpEStatsAppHCThruOctetsReceived; Linux 4.1). */
  bytesReceived: number | undefined;
  /** Segments sent, a count (Linux 4.2). */
  segsOut: number | undefined;
  /** Segments received, a count (Linux 4.2). */
  segsIn: number | undefined;
  /** Bytes written and not yet sent, bytes (Linux 4.6). */
  notsentBytes: number | undefined;
  /** Minimum RTT seen, µs (Linux 4.6). */
  minRtt: number | undefined;
  /** Segments received with data, a count (Linux 4.6). */
  dataSegsIn: number | undefined;
  /** Segments sent with data, a count (Linux 4.6). */
  dataSegsOut: number | undefined;
  /** Delivery rate estimate, bytes/s (Linux 4.9). */
  deliveryRate: number | undefined;
  /** Time busy sending, µs (Linux 4.10). */
  busyTime: number | undefined;
  /** Time limited by the receive window, µs (Linux 4.10). */
  rwndLimited: number | undefined;
  /** Time limited by the send buffer, µs (Linux 4.10). */
  sndbufLimited: number | undefined;
  /** Segments delivered, a count (Linux 4.18). */
  delivered: number | undefined;
  /** Segments delivered with ECN CE marks, a count (Linux 4.18). */
  deliveredCe: number | undefined;
  /** Bytes sent, retransmissions included (RFC 4898 tcpEStatsPerfHCDataOctetsOut; Linux 4.19). */
  bytesSent: number | undefined;
  /** Bytes retransmitted (RFC 4898 tcpEStatsPerfOctetsRetrans; Linux 4.19). */
  bytesRetrans: number | undefined;
  /** D-SACK blocks received, a count (Linux 4.19). */
  dsackDups: number | undefined;
  /** Reordering events seen, a count (Linux 4.19). */
  reordSeen: number | undefined;
  /** Out-of-order segments received, a count (Linux 5.4). */
  rcvOoopack: number | undefined;
  /** Peer's advertised receive window, bytes (Linux 5.4). */
  sndWnd: number | undefined;
  /** Local advertised receive window, bytes (Linux 6.2). */
  rcvWnd: number | undefined;
  /** PLB or timeout-triggered rehash attempts, a count (Linux 6.2). */
  rehash: number | undefined;
  /** RTO timeouts, a count (Linux 6.7). */
  totalRto: number | undefined;
  /** RTO recovery episodes, a count (Linux 6.7). */
  totalRtoRecoveries: number | undefined;
  /** Time spent in RTO recovery, ms (Linux 6.7). */
  totalRtoTime: number | undefined;
  /** CE-marked packets received, a count (Linux 6.18). */
  receivedCe: number | undefined;
  /** ECT(1)-marked payload bytes delivered, bytes (Linux 6.18). */
  deliveredE1Bytes: number | undefined;
  /** ECT(0)-marked payload bytes delivered, bytes (Linux 6.18). */
  deliveredE0Bytes: number | undefined;
  /** CE-marked payload bytes delivered, bytes (Linux 6.18). */
  deliveredCeBytes: number | undefined;
  /** ECT(1)-marked payload bytes received, bytes (Linux 6.18). */
  receivedE1Bytes: number | undefined;
  /** ECT(0)-marked payload bytes received, bytes (Linux 6.18). */
  receivedE0Bytes: number | undefined;
  /** CE-marked payload bytes received, bytes (Linux 6.18). */
  receivedCeBytes: number | undefined;
  /** ECN mode, 0–3: a 2-bit field of the last word in kernels after 6.18; `undefined` on 6.18. */
  ecnMode: number | undefined;
  /** AccECN option seen state, 0–3 (u16 at 278 in 6.18, bits 2–3 of the last word later). */
  accecnOptSeen: number | undefined;
  /** AccECN failure mode bits, 0–15 (u16 at 276 in 6.18, bits 4–7 of the last word later). */
  accecnFailMode: number | undefined;
  /** Further option bits: bits 8–31 of the last word in kernels after 6.18; `undefined` on 6.18. */
  options2: number | undefined;
}

type K = keyof LinuxTcpInfoFields;

/** Fields at offsets 0..275, the same in every kernel that returns them. */
const common: readonly Field<K>[] = [
  { c: "state", key: "stateNumber", offset: 0, type: "u8" },
  { c: "ca_state", key: "caState", offset: 1, type: "u8" },
  { c: "retransmits", key: "retransmits", offset: 2, type: "u8" },
  { c: "probes", key: "probes", offset: 3, type: "u8" },
  { c: "backoff", key: "backoff", offset: 4, type: "u8" },
  { c: "options", key: "options", offset: 5, type: "u8" },
  { c: "snd_wscale", key: "sndWscale", offset: 6, type: "u8", bits: { shift: 0, width: 4 } },
  { c: "rcv_wscale", key: "rcvWscale", offset: 6, type: "u8", bits: { shift: 4, width: 4 } },
  {
    c: "delivery_rate_app_limited",
    key: "deliveryRateAppLimited",
    offset: 7,
    type: "u8",
    bits: { shift: 0, width: 1 },
  },
  {
    c: "fastopen_client_fail",
    key: "fastopenClientFail",
    offset: 7,
    type: "u8",
    bits: { shift: 1, width: 2 },
  },
  { c: "rto", key: "rto", offset: 8, type: "u32" },
  { c: "ato", key: "ato", offset: 12, type: "u32" },
  { c: "snd_mss", key: "sndMss", offset: 16, type: "u32" },
  { c: "rcv_mss", key: "rcvMss", offset: 20, type: "u32" },
  { c: "unacked", key: "unacked", offset: 24, type: "u32" },
  { c: "sacked", key: "sacked", offset: 28, type: "u32" },
  { c: "lost", key: "lost", offset: 32, type: "u32" },
  { c: "retrans", key: "retrans", offset: 36, type: "u32" },
  { c: "fackets", key: "fackets", offset: 40, type: "u32" },
  { c: "last_data_sent", key: "lastDataSent", offset: 44, type: "u32" },
  { c: "last_ack_sent", key: "lastAckSent", offset: 48, type: "u32" },
  { c: "last_data_recv", key: "lastDataRecv", offset: 52, type: "u32" },
  { c: "last_ack_recv", key: "lastAckRecv", offset: 56, type: "u32" },
  { c: "pmtu", key: "pmtu", offset: 60, type: "u32" },
  { c: "rcv_ssthresh", key: "rcvSsthresh", offset: 64, type: "u32" },
  { c: "rtt", key: "rtt", offset: 68, type: "u32" },
  { c: "rttvar", key: "rttvar", offset: 72, type: "u32" },
  { c: "snd_ssthresh", key: "sndSsthresh", offset: 76, type: "u32" },
  { c: "snd_cwnd", key: "sndCwnd", offset: 80, type: "u32" },
  { c: "advmss", key: "advmss", offset: 84, type: "u32" },
  { c: "reordering", key: "reordering", offset: 88, type: "u32" },
  { c: "rcv_rtt", key: "rcvRtt", offset: 92, type: "u32" },
  { c: "rcv_space", key: "rcvSpace", offset: 96, type: "u32" },
  { c: "total_retrans", key: "totalRetrans", offset: 100, type: "u32" },
  { c: "pacing_rate", key: "pacingRate", offset: 104, type: "u64" },
  { c: "max_pacing_rate", key: "maxPacingRate", offset: 112, type: "u64" },
  { c: "bytes_acked", key: "bytesAcked", offset: 120, type: "u64" },
  { c: "bytes_received", key: "bytesReceived", offset: 128, type: "u64" },
  { c: "segs_out", key: "segsOut", offset: 136, type: "u32" },
  { c: "segs_in", key: "segsIn", offset: 140, type: "u32" },
  { c: "notsent_bytes", key: "notsentBytes", offset: 144, type: "u32" },
  { c: "min_rtt", key: "minRtt", offset: 148, type: "u32" },
  { c: "data_segs_in", key: "dataSegsIn", offset: 152, type: "u32" },
  { c: "data_segs_out", key: "dataSegsOut", offset: 156, type: "u32" },
  { c: "delivery_rate", key: "deliveryRate", offset: 160, type: "u64" },
  { c: "busy_time", key: "busyTime", offset: 168, type: "u64" },
  { c: "rwnd_limited", key: "rwndLimited", offset: 176, type: "u64" },
  { c: "sndbuf_limited", key: "sndbufLimited", offset: 184, type: "u64" },
  { c: "delivered", key: "delivered", offset: 192, type: "u32" },
  { c: "delivered_ce", key: "deliveredCe", offset: 196, type: "u32" },
  { c: "bytes_sent", key: "bytesSent", offset: 200, type: "u64" },
  { c: "bytes_retrans", key: "bytesRetrans", offset: 208, type: "u64" },
  { c: "dsack_dups", key: "dsackDups", offset: 216, type: "u32" },
  { c: "reord_seen", key: "reordSeen", offset: 220, type: "u32" },
  { c: "rcv_ooopack", key: "rcvOoopack", offset: 224, type: "u32" },
  { c: "snd_wnd", key: "sndWnd", offset: 228, type: "u32" },
  { c: "rcv_wnd", key: "rcvWnd", offset: 232, type: "u32" },
  { c: "rehash", key: "rehash", offset: 236, type: "u32" },
  { c: "total_rto", key: "totalRto", offset: 240, type: "u16" },
  { c: "total_rto_recoveries", key: "totalRtoRecoveries", offset: 242, type: "u16" },
  { c: "total_rto_time", key: "totalRtoTime", offset: 244, type: "u32" },
  { c: "received_ce", key: "receivedCe", offset: 248, type: "u32" },
  { c: "delivered_e1_bytes", key: "deliveredE1Bytes", offset: 252, type: "u32" },
  { c: "delivered_e0_bytes", key: "deliveredE0Bytes", offset: 256, type: "u32" },
  { c: "delivered_ce_bytes", key: "deliveredCeBytes", offset: 260, type: "u32" },
  { c: "received_e1_bytes", key: "receivedE1Bytes", offset: 264, type: "u32" },
  { c: "received_e0_bytes", key: "receivedE0Bytes", offset: 268, type: "u32" },
  { c: "received_ce_bytes", key: "receivedCeBytes", offset: 272, type: "u32" },
];

/**
 * Linux 6.18: the last word is two u16 fields. `ecnMode` and `options2` do not exist.
 */
export const LINUX_TCP_INFO_6_18: Layout<K> = {
  struct: "struct tcp_info (Linux 6.18)",
  size: 280,
  absent: ["ecnMode", "options2"],
  fields: [
    ...common,
    { c: "accecn_fail_mode", key: "accecnFailMode", offset: 276, type: "u16" },
    { c: "accecn_opt_seen", key: "accecnOptSeen", offset: 278, type: "u16" },
  ],
};

/**
 * Kernels after 6.18: the last word is one u32 of bit fields. The size is unchanged, so the
 * returned length cannot tell the two apart; the kernel release decides.
 */
export const LINUX_TCP_INFO_BITS: Layout<K> = {
  struct: "struct tcp_info (Linux after 6.18)",
  size: 280,
  fields: [
    ...common,
    { c: "ecn_mode", key: "ecnMode", offset: 276, type: "u32", bits: { shift: 0, width: 2 } },
    { c: "accecn_opt_seen", key: "accecnOptSeen", offset: 276, type: "u32", bits: { shift: 2, width: 2 } },
    { c: "accecn_fail_mode", key: "accecnFailMode", offset: 276, type: "u32", bits: { shift: 4, width: 4 } },
    { c: "options2", key: "options2", offset: 276, type: "u32", bits: { shift: 8, width: 24 } },
  ],
};
