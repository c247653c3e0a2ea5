/**
 * libc through `bun:ffi`. Bun has no async FFI, so every call is synchronous and errno is
 * read right after the failing call.
 *
 * `bun:ffi` is reached with Bun's synchronous `import.meta.require`, so this file imports
 * nothing Deno cannot resolve, and the library still loads lazily on its first call.
 * The few `bun:ffi` types used are declared here; `tests/bun_ffi_types.ts` checks them
 * against the real `bun-types` with tsc.
 *
 * @module
 */
import type { Libc, LibcSpec } from "./types.ts";

/** A C function's signature, as `bun:ffi` takes it. */
export interface BunSymbol {
  readonly args: readonly string[];
  readonly returns: string;
}
/** The part of `bun:ffi` this binding uses. */
export interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, BunSymbol>,
  ): { symbols: Record<string, (...args: never[]) => unknown>; close(): void };
  read: { i32(ptr: never, offset?: number): number };
  CString: new (ptr: never, byteOffset?: number) => string | { toString(): string };
}

/** The C functions bound, in `bun:ffi`'s terms; exported for the tsc check against bun-types. */
export const BUN_SYMBOLS = {
  // int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
  getsockopt: { args: ["i32", "i32", "i32", "ptr", "ptr"], returns: "i32" },
  // int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  // int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
  getsockname: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  // int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
  getpeername: { args: ["i32", "ptr", "ptr"], returns: "i32" },
  // int uname(struct utsname *buf)
  uname: { args: ["ptr"], returns: "i32" },
  // int closedir(DIR *dir)
  closedir: { args: ["ptr"], returns: "i32" },
} as const satisfies Record<string, BunSymbol>;

/** `DIR *opendir(const char *path)`, by its per-OS symbol name. */
export const BUN_OPENDIR = { args: ["ptr"], returns: "ptr" } as const satisfies BunSymbol;
/** `struct dirent *readdir(DIR *dir)`, by its per-OS symbol name. */
export const BUN_READDIR = { args: ["ptr"], returns: "ptr" } as const satisfies BunSymbol;

/** `int ioctl(int fd, unsigned long request, int *out)`: variadic, see `LibcSpec.ioctl`. */
export const BUN_IOCTL = { args: ["i32", "u64", "ptr"], returns: "i32" } as const satisfies BunSymbol;
/** `int *__errno_location(void)` on glibc, `int *__error(void)` on macOS. */
export const BUN_ERRNO = { args: [], returns: "ptr" } as const satisfies BunSymbol;

/** For the system-wide listing (netlink sock_diag), /proc, and pidfd. */
export const BUN_IO_SYMBOLS = {
  // int socket(int domain, int type, int protocol)
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  // ssize_t send(int fd, const void *buf, size_t len, int flags)
  send: { args: ["i32", "ptr", "u64", "i32"], returns: "i64" },
  // ssize_t recv(int fd, void *buf, size_t len, int flags)
  recv: { args: ["i32", "ptr", "u64", "i32"], returns: "i64" },
  // int close(int fd)
  close: { args: ["i32"], returns: "i32" },
  // int open(const char *path, int flags): variadic only past flags, which we never pass
  open: { args: ["ptr", "i32"], returns: "i32" },
  // ssize_t read(int fd, void *buf, size_t len)
  read: { args: ["i32", "ptr", "u64"], returns: "i64" },
  // ssize_t readlink(const char *path, char *buf, size_t len)
  readlink: { args: ["ptr", "ptr", "u64"], returns: "i64" },
} as const satisfies Record<string, BunSymbol>;
/** `long syscall(long number, ...)`: variadic, see `LibcSpec.syscall`. */
export const BUN_SYSCALL = {
  args: ["i64", "i64", "i64", "i64"],
  returns: "i64",
} as const satisfies BunSymbol;

type Fn = (...args: unknown[]) => number;
type PtrFn = () => number | null;

/** Opens libc with `bun:ffi`. */
export function openLibc(spec: LibcSpec): Libc {
  const ffi = (import.meta as unknown as { require(id: string): BunFfi }).require("bun:ffi");
  let lib;
  try {
    lib = ffi.dlopen(spec.path, {
      ...BUN_SYMBOLS,
      [spec.errnoSymbol]: BUN_ERRNO,
      [spec.dirent.opendir]: BUN_OPENDIR,
      [spec.dirent.readdir]: BUN_READDIR,
      ...(spec.ioctl ? { ioctl: BUN_IOCTL } : {}),
      ...BUN_IO_SYMBOLS,
      ...(spec.syscall ? { syscall: BUN_SYSCALL } : {}),
    });
  } catch (cause) {
    throw new Error(`Cannot load ${spec.path}: ${(cause as Error).message}`, { cause });
  }
  const s = lib.symbols as unknown as Record<string, Fn>;
  const errnoLocation = lib.symbols[spec.errnoSymbol] as unknown as PtrFn;
  const len = new Uint32Array(1);
  const out = new Int32Array(1);
  const errno = (): number => {
    const p = errnoLocation();
    return p === null ? 0 : ffi.read.i32(p as never, 0);
  };
  const { getsockopt, setsockopt, getsockname, getpeername, uname, ioctl, closedir } = s;
  const opendir = lib.symbols[spec.dirent.opendir] as unknown as (path: Uint8Array) => number | null;
  const readdir = lib.symbols[spec.dirent.readdir] as unknown as (dir: number) => number | null;
  return {
    getsockopt(fd, level, name, buf) {
      len[0] = buf.byteLength;
      return getsockopt(fd, level, name, buf, len) === 0 ? len[0] : -errno();
    },
    setsockopt(fd, level, name, buf) {
      return setsockopt(fd, level, name, buf, buf.byteLength) === 0 ? 0 : -errno();
    },
    ioctlInt: ioctl && ((fd, request) => (ioctl(fd, request, out) === -1 ? -errno() : out[0])),
    getsockname(fd, buf) {
      len[0] = buf.byteLength;
      return getsockname(fd, buf, len) === 0 ? len[0] : -errno();
    },
    getpeername(fd, buf) {
      len[0] = buf.byteLength;
      return getpeername(fd, buf, len) === 0 ? len[0] : -errno();
    },
    listDir(path) {
      const dir = opendir(new TextEncoder().encode(path + "\0"));
      if (dir === null) return -errno();
      const names: string[] = [];
      try {
        for (let e = readdir(dir); e !== null; e = readdir(dir)) {
          names.push(String(new ffi.CString(e as never, spec.dirent.nameOffset)));
        }
      } finally {
        closedir(dir);
      }
      return names;
    },
    uname(buf) {
      return uname(buf) === 0 ? 0 : -errno();
    },
    close() {
      lib.close();
    },
    ...ioCalls(lib.symbols as unknown as Record<string, IoFn>, errno),
  };
}

type IoFn = (...args: unknown[]) => number | bigint;

/** The {@linkcode Libc} calls behind `BUN_IO_SYMBOLS` and `BUN_SYSCALL`. */
function ioCalls(
  s: Record<string, IoFn>,
  errno: () => number,
): Pick<Libc, "socket" | "send" | "recv" | "closeFd" | "open" | "read" | "readlink" | "syscall3"> {
  // i64 may come back as a bigint; every length here is far below 2^53.
  const n = (r: number | bigint): number => (r === -1 || r === -1n ? -errno() : Number(r));
  const { socket, send, recv, close, open, read, readlink, syscall } = s;
  return {
    socket: (domain, type, protocol) => n(socket(domain, type, protocol)),
    send: (fd, buf, flags) => n(send(fd, buf, buf.byteLength, flags)),
    recv: (fd, buf, flags) => n(recv(fd, buf, buf.byteLength, flags)),
    closeFd: (fd) => (close(fd) === 0 ? 0 : -errno()),
    open: (path, flags) => n(open(path, flags)),
    read: (fd, buf) => n(read(fd, buf, buf.byteLength)),
    readlink: (path, buf) => n(readlink(path, buf, buf.byteLength)),
    syscall3: syscall && ((nr, a, b, c) => n(syscall(nr, a, b, c))),
  };
}
