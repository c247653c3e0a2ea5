/**
 * The one small interface every runtime binding implements.
 *
 * Calls are synchronous and read errno at once, on the same thread, before any other
 * JavaScript runs. A failing call returns `-errno` (always negative), so the hot path
 * allocates nothing and no errno can be lost between the call and the read.
 *
 * @module
 */

/** What the OS layer tells a binding about its C library. */
export interface LibcSpec {
  /** Name or path handed to dlopen. */
  readonly path: string;
  /** Symbol returning the calling thread's errno address (`__errno_location`, `__error`). */
  readonly errnoSymbol: string;
  /**
   * Bind `ioctl`. Only where declaring the variadic `ioctl` with fixed parameters follows the
   * calling convention: true on x86_64/aarch64 Linux, false on macOS (Apple arm64 passes
   * variadic arguments on the stack).
   */
  readonly ioctl: boolean;
  /** `opendir`/`readdir` symbols and where `struct dirent` keeps `d_name`. */
  readonly dirent: {
    /** `opendir`, or `opendir$INODE64` on macOS x86_64. */
    readonly opendir: string;
    /** `readdir`, or `readdir$INODE64` on macOS x86_64. */
    readonly readdir: string;
    /** Offset of `d_name`: 19 in glibc's `struct dirent64`, 21 on macOS. */
    readonly nameOffset: number;
  };
  /**
   * Bind `syscall` (for Linux's `pidfd_open`/`pidfd_getfd`), declared with fixed parameters
   * like `ioctl`: only where that follows the calling convention (x86_64/aarch64 Linux).
   */
  readonly syscall?: boolean;
}

/** libc, as much of it as sockbuf calls. Every method returns `-errno` on failure. */
export interface Libc {
  /**
   * `getsockopt(fd, level, name, buf, &len)` with `len = buf.byteLength`.
   * @returns the length the kernel wrote back, or `-errno`
   */
  getsockopt(fd: number, level: number, name: number, buf: Uint8Array): number;
  /**
   * `setsockopt(fd, level, name, buf, buf.byteLength)`.
   * @returns 0, or `-errno`
   */
  setsockopt(fd: number, level: number, name: number, buf: Uint8Array): number;
  /**
   * `ioctl(fd, request, &int)` for requests that write one non-negative `int`.
   * Undefined where {@linkcode LibcSpec.ioctl} is false.
   * @returns the int the kernel wrote, or `-errno`
   */
  readonly ioctlInt?: (fd: number, request: number) => number;
  /**
   * `getsockname(fd, buf, &len)`.
   * @returns the address length, or `-errno`
   */
  getsockname(fd: number, buf: Uint8Array): number;
  /**
   * `getpeername(fd, buf, &len)`.
   * @returns the address length, or `-errno`
   */
  getpeername(fd: number, buf: Uint8Array): number;
  /**
   * The names in a directory, by `opendir`/`readdir`/`closedir`: how the process lists its
   * own fds without the runtime's file-system permission.
   * @returns the names (`.` and `..` included), or `-errno` if the directory cannot be opened
   */
  listDir(path: string): string[] | number;
  /**
   * `uname(buf)`; `buf` must hold a whole `struct utsname`.
   * @returns 0, or `-errno`
   */
  uname(buf: Uint8Array): number;
  /** Unload the library. Calls after this are undefined behaviour; {@linkcode ffi/mod.ts} guards them. */
  close(): void;

  // Calls for the system-wide listing (netlink sock_diag), /proc, and pidfd. Paths are
  // NUL-terminated bytes so a scan can reuse one buffer; lengths are the buffers' byteLength.

  /**
   * `socket(domain, type, protocol)`.
   * @returns the new fd, or `-errno`
   */
  socket(domain: number, type: number, protocol: number): number;
  /**
   * `send(fd, buf, buf.byteLength, flags)`.
   * @returns the bytes sent, or `-errno`
   */
  send(fd: number, buf: Uint8Array, flags: number): number;
  /**
   * `recv(fd, buf, buf.byteLength, flags)`. With `MSG_TRUNC` on a datagram socket Linux returns
   * the datagram's real length, which may exceed the buffer.
   * @returns the length, or `-errno`
   */
  recv(fd: number, buf: Uint8Array, flags: number): number;
  /**
   * `close(fd)`: closes a file descriptor (named apart from {@linkcode Libc.close}, which unloads libc).
   * @returns 0, or `-errno`
   */
  closeFd(fd: number): number;
  /**
   * `open(path, flags)`; `path` is NUL-terminated.
   * @returns the new fd, or `-errno`
   */
  open(path: Uint8Array, flags: number): number;
  /**
   * `read(fd, buf, buf.byteLength)`.
   * @returns the bytes read, or `-errno`
   */
  read(fd: number, buf: Uint8Array): number;
  /**
   * `readlink(path, buf, buf.byteLength)`; `path` is NUL-terminated, the result is not.
   * @returns the link's length, or `-errno`
   */
  readlink(path: Uint8Array, buf: Uint8Array): number;
  /**
   * `syscall(number, a, b, c)` for calls glibc may not wrap (`pidfd_open`, `pidfd_getfd`).
   * Undefined where {@linkcode LibcSpec.syscall} is not true.
   * @returns the call's non-negative result, or `-errno`
   */
  readonly syscall3?: (number: number, a: number, b: number, c: number) => number;
}

/** A runtime binding: opens libc as described. */
export type OpenLibc = (spec: LibcSpec) => Libc;
