/**
 * Every field of each OS's `tcp_info`, as the decoders return them: types only. The layouts
 * that say where each field sits are in `platform/linux/tcp_info_layout.ts` and
 * `platform/darwin/tcp_info_layout.ts`; `tests/layout_linux.test.ts` and
 * `tests/darwin_layout_oracle.test.ts` check those against the compilers.
 *
 * @module
 */

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
