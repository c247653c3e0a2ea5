/**
 * What each OS file provides. `platform/mod.ts` picks one; nothing else knows the OS.
 *
 * @module
 */
import type { SendBuffer, TcpInfo } from "../types.ts";

/** One OS's implementation of the calls. `fd` is already validated. */
export interface Platform {
  /** The OS, as the runtime names it. */
  readonly os: string;
  inspect(fd: number): SendBuffer;
  tcpInfo(fd: number): TcpInfo;
  getNotSentLowat(fd: number): number;
  setNotSentLowat(fd: number, bytes: number): void;
}
