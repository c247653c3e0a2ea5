/**
 * Layouts of macOS `struct tcp_connection_info` (public, `TCP_CONNECTION_INFO`) and the
 * private `struct tcp_info` (`TCP_INFO`).
 *
 * Source: apple-oss-distributions/xnu tag xnu-11417.101.15 (unchanged in xnu-11417.121.6):
 * bsd/netinet/tcp.h for `tcp_connection_info` (natural alignment, 112 bytes) and
 * bsd/netinet/tcp_private.h for `tcp_info`, which sits inside `#pragma pack(4)`: the pack
 * caps the `aligned(8)` on its u64 fields, so they lie on 4-byte boundaries (txpackets at
 * 68, txunacked at 92). Older sizes come from compiling the struct of each earlier tag. Both
 * are LP64 little-endian, the same on x86_64 and arm64. Bit fields are allocated LSB first.
 *
 * XNU copies `min(asked, its size)` bytes and returns that length: fields past it decode to
 * `undefined`. The private tables describe xnu-4570 (macOS 10.13) and later; before it the
 * TFO run was shorter and the ECN bits sat elsewhere. tests/darwin_layout_oracle.test.ts
 * checks every field against clang's layout for arm64 and x86_64 Darwin targets. Data and the
 * decoders only; the calls live in darwin.ts.
 *
 * @module
 */
import type { DarwinConnectionInfoFields, DarwinPrivateTcpInfoFields } from "../../tcp_info_fields.ts";
import { decode, type Field, type Layout } from "../layout.ts";

type C = keyof DarwinConnectionInfoFields;
type P = keyof DarwinPrivateTcpInfoFields;

/** The 15 TCP Fast Open bits, LSB first: the same order in both structs. */
const TFO = [
  ["tfo_cookie_req", "tfoCookieReq"],
  ["tfo_cookie_rcv", "tfoCookieRcv"],
  ["tfo_syn_loss", "tfoSynLoss"],
  ["tfo_syn_data_sent", "tfoSynDataSent"],
  ["tfo_syn_data_acked", "tfoSynDataAcked"],
  ["tfo_syn_data_rcv", "tfoSynDataRcv"],
  ["tfo_cookie_req_rcv", "tfoCookieReqRcv"],
  ["tfo_cookie_sent", "tfoCookieSent"],
  ["tfo_cookie_invalid", "tfoCookieInvalid"],
  ["tfo_cookie_wrong", "tfoCookieWrong"],
  ["tfo_no_cookie_rcv", "tfoNoCookieRcv"],
  ["tfo_heuristics_disable", "tfoHeuristicsDisable"],
  ["tfo_send_blackhole", "tfoSendBlackhole"],
  ["tfo_recv_blackhole", "tfoRecvBlackhole"],
  ["tfo_onebyte_proxy", "tfoOnebyteProxy"],
] as const satisfies readonly (readonly [string, C & P])[];

/**
 * The ECN and interface bits of the private struct, in declaration order. XNU declares them
 * as a `u_int16_t` run of their own after the 15 TFO bits, and a run continues in a storage
 * unit with room left: the first takes bit 15 of the u16 at 244, the rest bits 0–12 of the
 * u16 at 246 (bits 13–15 unused).
 */
const ECN_IF = [
  ["ecn_client_setup", "ecnClientSetup"],
  ["ecn_server_setup", "ecnServerSetup"],
  ["ecn_success", "ecnSuccess"],
  ["ecn_lost_syn", "ecnLostSyn"],
  ["ecn_lost_synack", "ecnLostSynack"],
  ["local_peer", "localPeer"],
  ["if_cell", "ifCell"],
  ["if_wifi", "ifWifi"],
  ["if_wired", "ifWired"],
  ["if_wifi_infra", "ifWifiInfra"],
  ["if_wifi_awdl", "ifWifiAwdl"],
  ["snd_background", "sndBackground"],
  ["rcv_background", "rcvBackground"],
  ["l4s_enabled", "l4sEnabled"],
] as const satisfies readonly (readonly [string, P])[];

/** Places the ECN/interface bits: the first at bit 15 of the u16 at 244, then the u16 at 246. */
function ecnIfBits(names: readonly (readonly [string, P])[]): Field<P>[] {
  const [[c, key], ...rest] = names;
  return [{ c, key, offset: 244, type: "u16", bits: { shift: 15, width: 1 } }, ...bitWord(rest, 246, "u16")];
}

function bitWord<K extends string>(
  names: readonly (readonly [string, K])[],
  offset: number,
  type: "u16" | "u32",
): Field<K>[] {
  return names.map(([c, key], shift) => ({ c, key, offset, type, bits: { shift, width: 1 } }));
}

/**
 * `struct tcp_connection_info`, 112 bytes (104 before `txretransmitpackets`). Byte 3 is
 * padding, and bits 15–31 of the word at 52.
 */
export const DARWIN_TCP_CONNECTION_INFO: Layout<keyof DarwinConnectionInfoFields> = {
  struct: "struct tcp_connection_info (macOS, xnu-11417.101.15)",
  size: 112,
  fields: [
    { c: "state", key: "stateNumber", offset: 0, type: "u8" },
    { c: "snd_wscale", key: "sndWscale", offset: 1, type: "u8" },
    { c: "rcv_wscale", key: "rcvWscale", offset: 2, type: "u8" },
    { c: "options", key: "options", offset: 4, type: "u32" },
    { c: "flags", key: "flags", offset: 8, type: "u32" },
    { c: "rto", key: "rto", offset: 12, type: "u32" },
    { c: "maxseg", key: "maxseg", offset: 16, type: "u32" },
    { c: "snd_ssthresh", key: "sndSsthresh", offset: 20, type: "u32" },
    { c: "snd_cwnd", key: "sndCwnd", offset: 24, type: "u32" },
    { c: "snd_wnd", key: "sndWnd", offset: 28, type: "u32" },
    { c: "snd_sbbytes", key: "sndSbbytes", offset: 32, type: "u32" },
    { c: "rcv_wnd", key: "rcvWnd", offset: 36, type: "u32" },
    { c: "rttcur", key: "rttcur", offset: 40, type: "u32" },
    { c: "srtt", key: "srtt", offset: 44, type: "u32" },
    { c: "rttvar", key: "rttvar", offset: 48, type: "u32" },
    ...bitWord(TFO, 52, "u32"),
    { c: "txpackets", key: "txpackets", offset: 56, type: "u64" },
    { c: "txbytes", key: "txbytes", offset: 64, type: "u64" },
    { c: "txretransmitbytes", key: "txretransmitbytes", offset: 72, type: "u64" },
    { c: "rxpackets", key: "rxpackets", offset: 80, type: "u64" },
    { c: "rxbytes", key: "rxbytes", offset: 88, type: "u64" },
    { c: "rxoutoforderbytes", key: "rxoutoforderbytes", offset: 96, type: "u64" },
    { c: "txretransmitpackets", key: "txretransmitpackets", offset: 104, type: "u64" },
  ],
};

/** Private `tcp_info` offsets 0..335, the same in every tag that returns them. */
const privateCommon: readonly Field<P>[] = [
  { c: "state", key: "stateNumber", offset: 0, type: "u8" },
  { c: "options", key: "options", offset: 1, type: "u8" },
  { c: "snd_wscale", key: "sndWscale", offset: 2, type: "u8" },
  { c: "rcv_wscale", key: "rcvWscale", offset: 3, type: "u8" },
  { c: "flags", key: "flags", offset: 4, type: "u32" },
  { c: "rto", key: "rto", offset: 8, type: "u32" },
  { c: "snd_mss", key: "sndMss", offset: 12, type: "u32" },
  { c: "rcv_mss", key: "rcvMss", offset: 16, type: "u32" },
  { c: "rttcur", key: "rttcur", offset: 20, type: "u32" },
  { c: "srtt", key: "srtt", offset: 24, type: "u32" },
  { c: "rttvar", key: "rttvar", offset: 28, type: "u32" },
  { c: "rttbest", key: "rttbest", offset: 32, type: "u32" },
  { c: "snd_ssthresh", key: "sndSsthresh", offset: 36, type: "u32" },
  { c: "snd_cwnd", key: "sndCwnd", offset: 40, type: "u32" },
  { c: "rcv_space", key: "rcvSpace", offset: 44, type: "u32" },
  { c: "snd_wnd", key: "sndWnd", offset: 48, type: "u32" },
  { c: "snd_nxt", key: "sndNxt", offset: 52, type: "u32" },
  { c: "rcv_nxt", key: "rcvNxt", offset: 56, type: "u32" },
  { c: "last_outif", key: "lastOutif", offset: 60, type: "i32" },
  { c: "snd_sbbytes", key: "sndSbbytes", offset: 64, type: "u32" },
  { c: "txpackets", key: "txpackets", offset: 68, type: "u64" },
  { c: "txbytes", key: "txbytes", offset: 76, type: "u64" },
  { c: "txretransmitbytes", key: "txretransmitbytes", offset: 84, type: "u64" },
  { c: "txunacked", key: "txunacked", offset: 92, type: "u64" },
  { c: "rxpackets", key: "rxpackets", offset: 100, type: "u64" },
  { c: "rxbytes", key: "rxbytes", offset: 108, type: "u64" },
  { c: "rxduplicatebytes", key: "rxduplicatebytes", offset: 116, type: "u64" },
  { c: "rxoutoforderbytes", key: "rxoutoforderbytes", offset: 124, type: "u64" },
  { c: "snd_bw", key: "sndBw", offset: 132, type: "u64" },
  { c: "synrexmits", key: "synrexmits", offset: 140, type: "u8" },
  // 141 tcpi_unused1 (u8), 142 tcpi_unused2 (u16)
  { c: "cell_rxpackets", key: "cellRxpackets", offset: 144, type: "u64" },
  { c: "cell_rxbytes", key: "cellRxbytes", offset: 152, type: "u64" },
  { c: "cell_txpackets", key: "cellTxpackets", offset: 160, type: "u64" },
  { c: "cell_txbytes", key: "cellTxbytes", offset: 168, type: "u64" },
  { c: "wifi_rxpackets", key: "wifiRxpackets", offset: 176, type: "u64" },
  { c: "wifi_rxbytes", key: "wifiRxbytes", offset: 184, type: "u64" },
  { c: "wifi_txpackets", key: "wifiTxpackets", offset: 192, type: "u64" },
  { c: "wifi_txbytes", key: "wifiTxbytes", offset: 200, type: "u64" },
  { c: "wired_rxpackets", key: "wiredRxpackets", offset: 208, type: "u64" },
  { c: "wired_rxbytes", key: "wiredRxbytes", offset: 216, type: "u64" },
  { c: "wired_txpackets", key: "wiredTxpackets", offset: 224, type: "u64" },
  { c: "wired_txbytes", key: "wiredTxbytes", offset: 232, type: "u64" },
  { c: "connstatus", key: "connstatus", offset: 240, type: "u32" },
  ...bitWord(TFO, 244, "u16"),
];

/** Offsets 248..335, after the ECN/interface bits (whose last, `l4s_enabled`, differs by version). */
const privateMiddle: readonly Field<P>[] = [
  { c: "ecn_recv_ce", key: "ecnRecvCe", offset: 248, type: "u32" },
  { c: "ecn_recv_cwr", key: "ecnRecvCwr", offset: 252, type: "u32" },
  { c: "rcvoopack", key: "rcvoopack", offset: 256, type: "u32" },
  { c: "pawsdrop", key: "pawsdrop", offset: 260, type: "u32" },
  { c: "sack_recovery_episode", key: "sackRecoveryEpisode", offset: 264, type: "u32" },
  { c: "reordered_pkts", key: "reorderedPkts", offset: 268, type: "u32" },
  { c: "dsack_sent", key: "dsackSent", offset: 272, type: "u32" },
  { c: "dsack_recvd", key: "dsackRecvd", offset: 276, type: "u32" },
  { c: "flowhash", key: "flowhash", offset: 280, type: "u32" },
  { c: "txretransmitpackets", key: "txretransmitpackets", offset: 284, type: "u64" },
  { c: "rcv_srtt", key: "rcvSrtt", offset: 292, type: "u32" },
  { c: "client_accecn_state", key: "clientAccecnState", offset: 296, type: "u32" },
  { c: "server_accecn_state", key: "serverAccecnState", offset: 300, type: "u32" },
  { c: "ecn_capable_packets_sent", key: "ecnCapablePacketsSent", offset: 304, type: "u64" },
  { c: "ecn_capable_packets_acked", key: "ecnCapablePacketsAcked", offset: 312, type: "u64" },
  { c: "ecn_capable_packets_marked", key: "ecnCapablePacketsMarked", offset: 320, type: "u64" },
  { c: "ecn_capable_packets_lost", key: "ecnCapablePacketsLost", offset: 328, type: "u64" },
];

/** The seven L4S counters xnu-11215 inserted at 336, before the two limited-time fields. */
const L4S_COUNTERS: readonly Field<P>[] = [
  { c: "received_ce_packets", key: "receivedCePackets", offset: 336, type: "u64" },
  { c: "received_ect0_bytes", key: "receivedEct0Bytes", offset: 344, type: "u64" },
  { c: "received_ect1_bytes", key: "receivedEct1Bytes", offset: 352, type: "u64" },
  { c: "received_ce_bytes", key: "receivedCeBytes", offset: 360, type: "u64" },
  { c: "delivered_ect0_bytes", key: "deliveredEct0Bytes", offset: 368, type: "u64" },
  { c: "delivered_ect1_bytes", key: "deliveredEct1Bytes", offset: 376, type: "u64" },
  { c: "delivered_ce_bytes", key: "deliveredCeBytes", offset: 384, type: "u64" },
];

/**
 * Private `struct tcp_info` as returned by kernels up to xnu-10002.61 / 10063 (macOS 14):
 * 352 bytes at most, with the limited-time fields at 336 and 344, and shorter lengths
 * (248, 284, 292, 296, 336) from older tags. The L4S counters and bit do not exist.
 */
export const DARWIN_PRIVATE_TCP_INFO_352: Layout<keyof DarwinPrivateTcpInfoFields> = {
  struct: "struct tcp_info (macOS private, xnu-10002.61.3, 352 bytes)",
  size: 352,
  absent: [...L4S_COUNTERS.map((f) => f.key), "l4sEnabled"],
  fields: [
    ...privateCommon,
    ...ecnIfBits(ECN_IF.slice(0, 13)),
    ...privateMiddle,
    { c: "flow_control_total_time", key: "flowControlTotalTime", offset: 336, type: "u64" },
    { c: "rcvwnd_limited_total_time", key: "rcvwndLimitedTotalTime", offset: 344, type: "u64" },
  ],
};

/**
 * Private `struct tcp_info` from xnu-11215.1.10 (macOS 15) on: 408 bytes, with seven L4S
 * counters inserted at 336 that pushed the limited-time fields to 392 and 400.
 */
export const DARWIN_PRIVATE_TCP_INFO: Layout<keyof DarwinPrivateTcpInfoFields> = {
  struct: "struct tcp_info (macOS private, xnu-11417.101.15, 408 bytes)",
  size: 408,
  fields: [
    ...privateCommon,
    ...ecnIfBits(ECN_IF),
    ...privateMiddle,
    ...L4S_COUNTERS,
    { c: "flow_control_total_time", key: "flowControlTotalTime", offset: 392, type: "u64" },
    { c: "rcvwnd_limited_total_time", key: "rcvwndLimitedTotalTime", offset: 400, type: "u64" },
  ],
};

/**
 * Picks the private `tcp_info` layout by the length the kernel returned: 352 bytes or fewer
 * is the older layout, anything longer the 408-byte one (a longer struct means fields were
 * appended after 408, which this table does not know).
 */
export function darwinPrivateLayout(length: number): Layout<keyof DarwinPrivateTcpInfoFields> {
  return length > DARWIN_PRIVATE_TCP_INFO_352.size ? DARWIN_PRIVATE_TCP_INFO : DARWIN_PRIVATE_TCP_INFO_352;
}

/**
 * Decodes a `tcp_connection_info` buffer of which the kernel returned `length` bytes.
 * @returns every field (`undefined` past `length`) and `length`
 */
export function decodeDarwinConnectionInfo(
  bytes: Uint8Array,
  length: number,
): DarwinConnectionInfoFields & { length: number } {
  return { ...decode(DARWIN_TCP_CONNECTION_INFO, bytes, length), length };
}

/**
 * Decodes a private `tcp_info` buffer of which the kernel returned `length` bytes, choosing
 * the layout by that length.
 * @returns every field (`undefined` past `length` or absent from that version) and `length`
 */
export function decodeDarwinPrivateTcpInfo(
  bytes: Uint8Array,
  length: number,
): DarwinPrivateTcpInfoFields & { length: number } {
  return { ...decode(darwinPrivateLayout(length), bytes, length), length };
}
