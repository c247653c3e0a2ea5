/**
 * The error sockbuf throws when the OS refuses a call.
 *
 * @module
 */

/**
 * The OS refused a call on a socket: the fd is closed, is not a TCP socket, is in the wrong
 * state, and so on. `code` is the errno's portable name (`EBADF`, `ENOTSOCK`, `EINVAL`, …),
 * the same on every OS, while `errno` is this OS's number for it.
 *
 * Bad arguments (a negative, fractional or non-number fd) throw `TypeError` or `RangeError`
 * instead, before any call is made.
 *
 * @example Telling a closed socket from other failures
 * ```ts
 * import { inspect, SockbufError } from "@sockbuf/sockbuf";
 *
 * try {
 *   await inspect(987654);
 * } catch (err) {
 *   if (!(err instanceof SockbufError)) throw err;
 *   console.log(err.code, err.syscall, err.message);
 *   // EBADF getsockopt Cannot read TCP_INFO: EBADF (errno 9)
 * }
 * ```
 */
export class SockbufError extends Error {
  /** The libc function that failed, such as `getsockopt` or `ioctl`. */
  readonly syscall: string;
  /** The OS's errno number. */
  readonly errno: number;
  /** The errno's name, such as `EBADF`; `ERRNO_` and the number where the OS has no name for it. */
  readonly code: string;

  /**
   * Makes the error for a failed call; the message reads `Cannot <operation>: <code> (errno <n>)`.
   *
   * @param operation what was being done, completing "Cannot …", such as `read TCP_INFO`
   * @param syscall the libc function that failed
   * @param errno the OS's errno number
   * @param code the errno's name
   */
  constructor(operation: string, syscall: string, errno: number, code: string) {
    super(`Cannot ${operation}: ${code} (errno ${errno})`);
    this.name = "SockbufError";
    this.syscall = syscall;
    this.errno = errno;
    this.code = code;
  }
}
