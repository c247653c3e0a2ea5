/**
 * See inside a TCP socket's send buffer, from Deno and Bun: its size, the bytes queued,
 * how many of those are sent but unacknowledged and how many not yet sent, the room left,
 * and the kernel's whole `tcp_info`.
 *
 * ```
 * size  =  unackedBytes + unsent + free
 *          \____ queued ____/
 * ```
 *
 * sockbuf calls libc (`getsockopt`, `setsockopt`, `ioctl`) through FFI with each OS's
 * exact struct layouts, so Deno needs `--allow-ffi`. Linux and macOS are supported.
 *
 * @example Is every byte acknowledged?
 * ```ts
 * import { inspect } from "@sockbuf/sockbuf";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ port: listener.addr.port });
 * await conn.write(new TextEncoder().encode("hello"));
 * const { queued } = await inspect(conn);
 * console.log(queued === 0 ? "all acknowledged" : `${queued} bytes not yet acknowledged`);
 * ```
 *
 * @module
 */
export {
  closeLibrary,
  getNotSentLowat,
  inspect,
  inspectMany,
  inspectManySync,
  inspectSync,
  setNotSentLowat,
  tcpInfo,
  tcpInfoSync,
} from "./inspect.ts";
export {
  diagnose,
  diagnoseBetween,
  type DiagnoseOptions,
  type Diagnosis,
  type DiagnosisFractions,
  type Verdict,
} from "./diagnose.ts";
export { SockbufError } from "./errors.ts";
export { drained, type DrainedOptions, watch, type WatchOptions } from "./watch.ts";
export {
  lowLatencyBody,
  type LowLatencyOptions,
  LowLatencyWriter,
  lowLatencyWriter,
  TARGET_LOWAT_MAX,
  TARGET_LOWAT_MIN,
} from "./writer.ts";
export { type MessageReceipt, streamOffset, whenAcked, type WhenAckedOptions } from "./receipts.ts";
export { ResolvedSocket, resolveSocket, type SocketLike } from "./resolve.ts";
export {
  inspectProcessSocket,
  type ListFilter,
  listSockets,
  listSocketsStream,
  listSocketsSync,
} from "./list.ts";
export type {
  AddressPair,
  BunServeRequest,
  ConnLike,
  DarwinConnectionInfoFields,
  DarwinPrivateTcpInfoFields,
  DarwinTcpInfo,
  DarwinTfoFields,
  DenoServeRequest,
  LinuxTcpInfo,
  LinuxTcpInfoFields,
  SendBuffer,
  SocketAddress,
  SocketEntry,
  SocketHolder,
  SocketMemory,
  SocketProcess,
  TcpInfo,
  TcpState,
} from "./types.ts";
export { TCP_STATES } from "./types.ts";
