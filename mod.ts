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
 * import { connectedPair } from "@sockbuf/sockbuf/testing";
 *
 * await using pair = await connectedPair();
 * const { queued } = await inspect(pair.clientFd);
 * console.log(queued === 0 ? "all acknowledged" : `${queued} bytes still in flight`);
 * ```
 *
 * @module
 */
export { closeLibrary, getNotSentLowat, inspect, inspectSync, setNotSentLowat, tcpInfo } from "./api.ts";
export { SockbufError } from "./errors.ts";
export type {
  DarwinConnectionInfoFields,
  DarwinPrivateTcpInfoFields,
  DarwinTcpInfo,
  LinuxTcpInfo,
  LinuxTcpInfoFields,
  SendBuffer,
  TcpInfo,
  TcpState,
} from "./types.ts";
