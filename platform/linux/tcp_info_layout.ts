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
import type { LinuxTcpInfoFields } from "../../tcp_info_fields.ts";
import type { Field, Layout } from "../layout.ts";

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
