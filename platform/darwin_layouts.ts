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
import { decode, type Field, type Layout } from "./layout.ts";

/**
 * The TCP Fast Open bits macOS reports in both structs: bits 0–14 of the u32 at 52 of
 * `tcp_connection_info`, and of the u16 at 244 of the private `tcp_info`. Each is 0 or 1.
 *
 * @example Did Fast Open carry data in the SYN? (macOS; on Linux this takes the other branch)
 * ```ts
 * import { type DarwinTfoFields, tcpInfo } from "@sockbuf/sockbuf";
 *
 * // Both macOS structs carry these bits, so one helper reads either
 * function synDataAcked(tfo: DarwinTfoFields): boolean {
 *   return tfo.tfoSynDataSent === 1 && tfo.tfoSynDataAcked === 1;
 * }
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const info = await tcpInfo(conn);
 * if (info.os === "darwin") console.log(`SYN data acknowledged: ${synDataAcked(info)}`);
 * else console.log("not macOS: the TFO bits are macOS-only");
 * ```
 */
export interface DarwinTfoFields {
  /** 1 when a TCP Fast Open cookie was requested (bit 0 of the TFO word). */
  tfoCookieReq: number | undefined;
  /** 1 when a TFO cookie was received (bit 1). */
  tfoCookieRcv: number | undefined;
  /** 1 when TFO fell back to regular TCP after a SYN loss (bit 2). */
  tfoSynLoss: number | undefined;
  /** 1 when SYN+data was sent (bit 3). */
  tfoSynDataSent: number | undefined;
  /** 1 when SYN+data was fully acknowledged (bit 4). */
  tfoSynDataAcked: number | undefined;
  /** 1 when the server received SYN+data with a valid cookie (bit 5). */
  tfoSynDataRcv: number | undefined;
  /** 1 when the server received a cookie request (bit 6). */
  tfoCookieReqRcv: number | undefined;
  /** 1 when the server announced a cookie (bit 7). */
  tfoCookieSent: number | undefined;
  /** 1 when the server received an invalid cookie (bit 8). */
  tfoCookieInvalid: number | undefined;
  /** 1 when the cookie this side sent was wrong (bit 9). */
  tfoCookieWrong: number | undefined;
  /** 1 when no cookie came back for this side's request (bit 10). */
  tfoNoCookieRcv: number | undefined;
  /** 1 when TFO heuristics disabled Fast Open (bit 11). */
  tfoHeuristicsDisable: number | undefined;
  /** 1 when a sending blackhole was detected (bit 12). */
  tfoSendBlackhole: number | undefined;
  /** 1 when a receiving blackhole was detected (bit 13). */
  tfoRecvBlackhole: number | undefined;
  /** 1 when a proxy acknowledged all but one byte of the SYN (bit 14). */
  tfoOnebyteProxy: number | undefined;
}

/**
 * Every field of macOS's public `struct tcp_connection_info` (`TCP_CONNECTION_INFO`, since
 * OS X 10.11), named by dropping `tcpi_` and converting to camelCase. A field the kernel did
 * not return is `undefined`, never 0.
 *
 * Units differ from Linux: times in milliseconds (ms), and `sndCwnd`/`sndSsthresh` in
 * **bytes**, not segments. The struct has no count of unacknowledged bytes.
 *
 * @example The congestion window in bytes on either OS
 * ```ts
 * import { type DarwinConnectionInfoFields, tcpInfo } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const info = await tcpInfo(conn);
 * let cwndBytes: number | undefined;
 * if (info.os === "darwin") {
 *   const mac: DarwinConnectionInfoFields = info;
 *   cwndBytes = mac.sndCwnd; // already bytes on macOS
 * } else if (info.sndCwnd !== undefined && info.sndMss !== undefined) {
 *   cwndBytes = info.sndCwnd * info.sndMss; // Linux counts segments
 * }
 * console.log(`congestion window: ${cwndBytes} bytes`);
 * ```
 */
export interface DarwinConnectionInfoFields extends DarwinTfoFields {
  /** TCP state number (bsd/netinet/tcp_fsm.h: 0 CLOSED, 1 LISTEN, … 4 ESTABLISHED … 10 TIME_WAIT). */
  stateNumber: number | undefined;
  /** Send window scale, a shift count. */
  sndWscale: number | undefined;
  /** Receive window scale, a shift count. */
  rcvWscale: number | undefined;
  /** Negotiated options, a bit set: TIMESTAMPS 1, SACK 2, WSCALE 4, ECN 8 (`TCPCI_OPT_*`). */
  options: number | undefined;
  /** Flags, a bit set: LOSSRECOVERY 1, REORDERING_DETECTED 2 (`TCPCI_FLAG_*`). */
  flags: number | undefined;
  /** Retransmission timeout, ms; 0 while no retransmission timer runs. */
  rto: number | undefined;
  /** Maximum segment size, bytes. */
  maxseg: number | undefined;
  /** Slow-start threshold, bytes. */
  sndSsthresh: number | undefined;
  /** Congestion window, bytes. */
  sndCwnd: number | undefined;
  /** Peer's advertised receive window, bytes. */
  sndWnd: number | undefined;
  /** Bytes in the send buffer, unacknowledged data included (`so_snd.sb_cc`), bytes. */
  sndSbbytes: number | undefined;
  /** Receive window still advertised to the peer, bytes. */
  rcvWnd: number | undefined;
  /** Most recent round-trip time sample, ms. */
  rttcur: number | undefined;
  /** Smoothed round-trip time, ms. */
  srtt: number | undefined;
  /** Round-trip time variation, ms. */
  rttvar: number | undefined;
  /** Packets sent, a count. */
  txpackets: number | undefined;
  /** Bytes sent, bytes. */
  txbytes: number | undefined;
  /** Bytes retransmitted, bytes. */
  txretransmitbytes: number | undefined;
  /** Packets received, a count. */
  rxpackets: number | undefined;
  /** Bytes received, bytes. */
  rxbytes: number | undefined;
  /** Out-of-order bytes received, bytes. */
  rxoutoforderbytes: number | undefined;
  /** Packets retransmitted, a count (absent from kernels returning 104 bytes). */
  txretransmitpackets: number | undefined;
}

/**
 * Every field of macOS's private `struct tcp_info` (`TCP_INFO`, "subject to change"), named
 * by dropping `tcpi_` and converting to camelCase. A field the kernel did not return is
 * `undefined`, never 0.
 *
 * Units: times in milliseconds (ms) unless marked microseconds (µs); `sndCwnd`/`sndSsthresh`
 * in bytes. "xnu-N" names the first XNU tag whose struct has the field; fields without one
 * are in every returned length (248 bytes and up, xnu-3247).
 *
 * @example Unacknowledged bytes, where macOS answers the private call
 * ```ts
 * import { type DarwinPrivateTcpInfoFields, tcpInfo } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * const info = await tcpInfo(conn);
 * if (info.os === "darwin") {
 *   // undefined where the kernel refused the private TCP_INFO
 *   const priv: DarwinPrivateTcpInfoFields | undefined = info.private;
 *   console.log(priv ? `${priv.txunacked} bytes unacknowledged` : "private TCP_INFO refused");
 * } else {
 *   console.log("not macOS: use info.unacked (segments) or inspect() (bytes)");
 * }
 * ```
 */
export interface DarwinPrivateTcpInfoFields extends DarwinTfoFields {
  /** TCP state number (bsd/netinet/tcp_fsm.h: 0 CLOSED, 1 LISTEN, … 4 ESTABLISHED … 10 TIME_WAIT). */
  stateNumber: number | undefined;
  /** Negotiated options, a bit set: TIMESTAMPS 1, SACK 2, WSCALE 4, ECN 8 (`TCPI_OPT_*`). */
  options: number | undefined;
  /** Send window scale, a shift count. */
  sndWscale: number | undefined;
  /** Receive window scale, a shift count. */
  rcvWscale: number | undefined;
  /** Flags, a bit set: LOSSRECOVERY 1, STREAMING_ON 2 (`TCPI_FLAG_*`). */
  flags: number | undefined;
  /** Retransmission timeout, ms; 0 while no retransmission timer runs. */
  rto: number | undefined;
  /** Send maximum segment size, bytes. */
  sndMss: number | undefined;
  /** Receive maximum segment size, bytes (the same value as `sndMss`). */
  rcvMss: number | undefined;
  /** Most recent round-trip time sample, ms. */
  rttcur: number | undefined;
  /** Smoothed round-trip time, ms. */
  srtt: number | undefined;
  /** Round-trip time variation, ms. */
  rttvar: number | undefined;
  /** Lowest round-trip time seen, ms. */
  rttbest: number | undefined;
  /** Slow-start threshold, bytes. */
  sndSsthresh: number | undefined;
  /** Congestion window, bytes. */
  sndCwnd: number | undefined;
  /** Receive window still advertised to the peer, bytes. */
  rcvSpace: number | undefined;
  /** Peer's advertised receive window, bytes. */
  sndWnd: number | undefined;
  /** Next sequence number to send (`snd_nxt`), a sequence number. */
  sndNxt: number | undefined;
  /** Next sequence number expected (`rcv_nxt`), a sequence number. */
  rcvNxt: number | undefined;
  /** Interface index the last packet went out on, or 0. */
  lastOutif: number | undefined;
  /** Bytes in the send buffer, unacknowledged data included (`so_snd.sb_cc`), bytes. */
  sndSbbytes: number | undefined;
  /** Packets sent, a count. */
  txpackets: number | undefined;
  /** Bytes sent, bytes. */
  txbytes: number | undefined;
  /** Bytes retransmitted, bytes. */
  txretransmitbytes: number | undefined;
  /** Bytes sent and not yet acknowledged (`snd_max − snd_una`), bytes; counts a SYN or FIN as 1. */
  txunacked: number | undefined;
  /** Packets received, a count. */
  rxpackets: number | undefined;
  /** Bytes received, bytes. */
  rxbytes: number | undefined;
  /** Duplicate bytes received, bytes. */
  rxduplicatebytes: number | undefined;
  /** Out-of-order bytes received, bytes. */
  rxoutoforderbytes: number | undefined;
  /** Measured send bandwidth, bits/s; 0 unless `TCP_MEASURE_SND_BW` is on. */
  sndBw: number | undefined;
  /** SYN retransmissions before the connection was made, a count. */
  synrexmits: number | undefined;
  /** Packets received over cellular, a count. */
  cellRxpackets: number | undefined;
  /** Bytes received over cellular, bytes. */
  cellRxbytes: number | undefined;
  /** Packets sent over cellular, a count. */
  cellTxpackets: number | undefined;
  /** Bytes sent over cellular, bytes. */
  cellTxbytes: number | undefined;
  /** Packets received over Wi-Fi, a count. */
  wifiRxpackets: number | undefined;
  /** Bytes received over Wi-Fi, bytes. */
  wifiRxbytes: number | undefined;
  /** Packets sent over Wi-Fi, a count. */
  wifiTxpackets: number | undefined;
  /** Bytes sent over Wi-Fi, bytes. */
  wifiTxbytes: number | undefined;
  /** Packets received over wired interfaces, a count. */
  wiredRxpackets: number | undefined;
  /** Bytes received over wired interfaces, bytes. */
  wiredRxbytes: number | undefined;
  /** Packets sent over wired interfaces, a count. */
  wiredTxpackets: number | undefined;
  /** Bytes sent over wired interfaces, bytes. */
  wiredTxbytes: number | undefined;
  /**
   * Connectivity probe status (`struct tcp_conn_status`), a bit set: probe_activated 1,
   * write_probe_failed 2, read_probe_failed 4, conn_probe_failed 8.
   */
  connstatus: number | undefined;
  /**
   * 1 when the client side attempted ECN setup: bit 15 of the u16 at 244, the bit the TFO run
   * leaves free (xnu-4570 layout). The other ECN and interface bits follow in the u16 at 246.
   */
  ecnClientSetup: number | undefined;
  /** 1 when the server side attempted ECN setup (bit 0 of the u16 at 246). */
  ecnServerSetup: number | undefined;
  /** 1 when the peer negotiated ECN (bit 1). */
  ecnSuccess: number | undefined;
  /** 1 when a SYN with ECN setup was lost (bit 2). */
  ecnLostSyn: number | undefined;
  /** 1 when a SYN-ACK with ECN setup was lost (bit 3). */
  ecnLostSynack: number | undefined;
  /** 1 when the peer is on this host or subnet (bit 4). */
  localPeer: number | undefined;
  /** 1 when the interface is cellular (bit 5). */
  ifCell: number | undefined;
  /** 1 when the interface is Wi-Fi (bit 6). */
  ifWifi: number | undefined;
  /** 1 when the interface is wired (bit 7; xnu-4570). */
  ifWired: number | undefined;
  /** 1 when the interface is Wi-Fi infrastructure (bit 8; xnu-4570). */
  ifWifiInfra: number | undefined;
  /** 1 when the interface is Wi-Fi AWDL (bit 9; xnu-4570). */
  ifWifiAwdl: number | undefined;
  /** 1 when the sender uses a delay-based (background) algorithm (bit 10; xnu-4570). */
  sndBackground: number | undefined;
  /** 1 when the receiver uses a delay-based (background) algorithm (bit 11; xnu-4570). */
  rcvBackground: number | undefined;
  /**
   * 1 when L4S is enabled (bit 12; xnu-11417, 0 on xnu-11215). `undefined` from kernels
   * returning 352 bytes or fewer.
   */
  l4sEnabled: number | undefined;
  /** Packets received with ECN CE, a count (xnu-3248, 284 bytes). */
  ecnRecvCe: number | undefined;
  /** Packets received with CWR, a count (xnu-3248). */
  ecnRecvCwr: number | undefined;
  /** Out-of-order packets received, a count (xnu-3248). */
  rcvoopack: number | undefined;
  /** Segments dropped by PAWS, a count (xnu-3248). */
  pawsdrop: number | undefined;
  /** SACK recovery episodes, a count (xnu-3248). */
  sackRecoveryEpisode: number | undefined;
  /** Packets reordered, a count (xnu-3248). */
  reorderedPkts: number | undefined;
  /** D-SACKs sent, a count (xnu-3248). */
  dsackSent: number | undefined;
  /** Valid D-SACKs received, a count (xnu-3248). */
  dsackRecvd: number | undefined;
  /** The connection's flow hash, an identifier (xnu-3248). */
  flowhash: number | undefined;
  /** Packets retransmitted, a count (xnu-3789.51, 292 bytes). */
  txretransmitpackets: number | undefined;
  /** Receiver's smoothed round-trip time, ms (xnu-8019.41, 296 bytes). */
  rcvSrtt: number | undefined;
  /** Client's accurate-ECN state, an enum 0–9 (xnu-10002, 336 bytes). */
  clientAccecnState: number | undefined;
  /** Server's accurate-ECN state as the client sees it, an enum 0–10 (xnu-10002). */
  serverAccecnState: number | undefined;
  /** Packets sent ECN-capable (ECT), a count (xnu-10002). */
  ecnCapablePacketsSent: number | undefined;
  /** ECT packets sent and acknowledged, a count (xnu-10002). */
  ecnCapablePacketsAcked: number | undefined;
  /** ECT packets sent and CE-marked, a count (xnu-10002). */
  ecnCapablePacketsMarked: number | undefined;
  /** ECT packets sent and lost, a count (xnu-10002). */
  ecnCapablePacketsLost: number | undefined;
  /** CE-marked packets received, a count (xnu-11215, 408 bytes; `undefined` from shorter structs). */
  receivedCePackets: number | undefined;
  /** ECT(0)-marked bytes received, bytes (xnu-11215). */
  receivedEct0Bytes: number | undefined;
  /** ECT(1)-marked bytes received, bytes (xnu-11215). */
  receivedEct1Bytes: number | undefined;
  /** CE-marked bytes received, bytes (xnu-11215). */
  receivedCeBytes: number | undefined;
  /** ECT(0)-marked bytes delivered to the peer, bytes (xnu-11215). */
  deliveredEct0Bytes: number | undefined;
  /** ECT(1)-marked bytes delivered to the peer, bytes (xnu-11215). */
  deliveredEct1Bytes: number | undefined;
  /** CE-marked bytes delivered to the peer, bytes (xnu-11215). */
  deliveredCeBytes: number | undefined;
  /**
   * Time flow-controlled by the interface, µs (xnu-10002.61, 352 bytes: at offset 336;
   * from xnu-11215, 408 bytes: at 392).
   */
  flowControlTotalTime: number | undefined;
  /** Time limited by the peer's receive window, µs (xnu-10002.61 at offset 344; from xnu-11215 at 400). */
  rcvwndLimitedTotalTime: number | undefined;
}

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
