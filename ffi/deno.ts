/**
 * libc through `Deno.dlopen`. Every call is synchronous: a `nonblocking` call runs on
 * another thread, where errno is lost, and costs tens of microseconds more.
 *
 * @module
 */
import type { Libc, LibcSpec } from "./types.ts";

const symbols = {
  // int getsockopt(int fd, int level, int name, void *val, socklen_t *len): pointers, see pointerOf
  getsockopt: { parameters: ["i32", "i32", "i32", "pointer", "pointer"], result: "i32" },
  // int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  // int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // int uname(struct utsname *buf)
  uname: { parameters: ["buffer"], result: "i32" },
  // int closedir(DIR *dir)
  closedir: { parameters: ["pointer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

const ioctlSymbol = {
  // int ioctl(int fd, unsigned long request, int *out): variadic, see LibcSpec.ioctl.
  // The request is declared u32: Deno takes a number for a u64 parameter on a slow path
  // (~300 ns more per call, measured in bench/), and Linux's ioctl reads only the low 32
  // bits of it (`unsigned int cmd` in fs/ioctl.c).
  ioctl: { parameters: ["i32", "u32", "pointer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

// For the system-wide listing (netlink sock_diag), /proc, and pidfd.
const ioSymbols = {
  // int socket(int domain, int type, int protocol)
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  // ssize_t send(int fd, const void *buf, size_t len, int flags)
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  // ssize_t recv(int fd, void *buf, size_t len, int flags)
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  // int close(int fd)
  closeFd: { name: "close", parameters: ["i32"], result: "i32" },
  // int open(const char *path, int flags): variadic only past flags, which we never pass
  open: { parameters: ["buffer", "i32"], result: "i32" },
  // ssize_t read(int fd, void *buf, size_t len)
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  // ssize_t readlink(const char *path, char *buf, size_t len)
  readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
} as const satisfies Deno.ForeignLibraryInterface;

const syscallSymbol = {
  // long syscall(long number, ...): variadic, see LibcSpec.syscall
  syscall: { parameters: ["i64", "i64", "i64", "i64"], result: "i64" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Where a buffer keeps its own address, once found (see pointerOf). */
const ADDRESS = Symbol("sockbuf.address");
type Addressed = (Uint8Array | Uint32Array | Int32Array) & { [ADDRESS]?: Deno.PointerValue };

/**
 * The address of a buffer the hot calls pass, found once and kept on the buffer: Deno
 * converts a `"buffer"` argument on every call (≈ 75 ns per call here), a `"pointer"` one
 * costs ≈ 27 ns, and a symbol-keyed property reads faster than a WeakMap (bench/). Reading
 * `.buffer` first moves a small typed array's bytes off V8's heap, where the GC could move
 * them, into a backing store that stays put while the array lives. Only for sockbuf's own
 * buffers, which are never detached or resized.
 */
function pointerOf(buf: Addressed): Deno.PointerValue {
  let p = buf[ADDRESS];
  if (p === undefined) {
    void buf.buffer;
    p = buf[ADDRESS] = Deno.UnsafePointer.of(buf as Uint8Array<ArrayBuffer>);
  }
  return p;
}

/**
 * Why a path-scoped `--allow-ffi=PATH` is not enough (measured with Deno 2.9.6): Deno checks
 * `dlopen("libc.so.6")` against the bare name resolved from the working directory, which no
 * path to the real file matches (and `--allow-ffi=libc.so.6` makes Deno load
 * `./libc.so.6`); and `Deno.UnsafePointer`, which every call here uses, needs the
 * permission with no path at all.
 */
const NEEDS_FFI = "sockbuf calls libc through FFI: run Deno with plain --allow-ffi, without a path " +
  "(--allow-ffi=PATH does not cover libc, which is loaded by name, nor the pointer calls sockbuf makes)";

/** True for a failure that plain `--allow-ffi` would have prevented. */
function lacksPlainFfi(cause: unknown): boolean {
  return cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied ||
    Deno.permissions.querySync({ name: "ffi" }).state !== "granted";
}

/** Opens libc with `Deno.dlopen`; throws a clear error without plain `--allow-ffi`. */
export function openLibc(spec: LibcSpec): Libc {
  const errnoSym = {
    // int *__errno_location(void) on glibc, int *__error(void) on macOS
    errnoLocation: { name: spec.errnoSymbol, parameters: [], result: "pointer" },
    // DIR *opendir(const char *path)
    opendir: { name: spec.dirent.opendir, parameters: ["buffer"], result: "pointer" },
    // struct dirent *readdir(DIR *dir)
    readdir: { name: spec.dirent.readdir, parameters: ["pointer"], result: "pointer" },
  } as const satisfies Deno.ForeignLibraryInterface;
  let lib;
  try {
    lib = Deno.dlopen(spec.path, {
      ...symbols,
      ...errnoSym,
      ...(spec.ioctl ? ioctlSymbol : {}),
      ...ioSymbols,
      ...(spec.syscall ? syscallSymbol : {}),
    });
  } catch (cause) {
    if (lacksPlainFfi(cause)) throw new Error(NEEDS_FFI, { cause });
    throw new Error(`Cannot load ${spec.path}: ${(cause as Error).message}`, { cause });
  }
  const s = lib.symbols;
  const len = new Uint32Array(1);
  const out = new Int32Array(1);
  let lenAt, outAt;
  try {
    lenAt = pointerOf(len);
    outAt = pointerOf(out);
  } catch (cause) {
    lib.close();
    if (lacksPlainFfi(cause)) throw new Error(NEEDS_FFI, { cause });
    throw cause;
  }
  const errno = (): number => {
    const p = s.errnoLocation();
    return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
  };
  const ioctl = "ioctl" in s
    ? (s as typeof s & { ioctl: (fd: number, req: number, out: Deno.PointerValue) => number }).ioctl
    : undefined;
  return {
    getsockopt(fd, level, name, buf) {
      len[0] = buf.byteLength;
      return s.getsockopt(fd, level, name, pointerOf(buf), lenAt) === 0 ? len[0] : -errno();
    },
    setsockopt(fd, level, name, buf) {
      return s.setsockopt(fd, level, name, buf, buf.byteLength) === 0 ? 0 : -errno();
    },
    ioctlInt: ioctl && ((fd, request) => (ioctl(fd, request, outAt) === -1 ? -errno() : out[0])),
    getsockname(fd, buf) {
      len[0] = buf.byteLength;
      return s.getsockname(fd, buf, len) === 0 ? len[0] : -errno();
    },
    getpeername(fd, buf) {
      len[0] = buf.byteLength;
      return s.getpeername(fd, buf, len) === 0 ? len[0] : -errno();
    },
    listDir(path) {
      const dir = s.opendir(new TextEncoder().encode(path + "\0"));
      if (dir === null) return -errno();
      const names: string[] = [];
      try {
        for (let e = s.readdir(dir); e !== null; e = s.readdir(dir)) {
          names.push(Deno.UnsafePointerView.getCString(e, spec.dirent.nameOffset));
        }
      } finally {
        s.closedir(dir);
      }
      return names;
    },
    uname(buf) {
      return s.uname(buf) === 0 ? 0 : -errno();
    },
    close() {
      lib.close();
    },
    ...ioCalls(s, errno),
  };
}

type IoSymbols = Deno.StaticForeignLibraryInterface<typeof ioSymbols>;
type SyscallFn = (nr: bigint, a: bigint, b: bigint, c: bigint) => number | bigint;

/** The {@linkcode Libc} calls behind `ioSymbols` and `syscallSymbol`. */
function ioCalls(
  s: IoSymbols & { syscall?: SyscallFn },
  errno: () => number,
): Pick<Libc, "socket" | "send" | "recv" | "closeFd" | "open" | "read" | "readlink" | "syscall3"> {
  // Deno passes size_t and returns ssize_t as bigint; every length here is far below 2^53.
  const n = (r: number | bigint): number => (r === -1 || r === -1n ? -errno() : Number(r));
  const big = BigInt;
  const syscall = s.syscall;
  return {
    socket: (domain, type, protocol) => {
      const fd = s.socket(domain, type, protocol);
      return fd === -1 ? -errno() : fd;
    },
    send: (fd, buf, flags) => n(s.send(fd, buf, big(buf.byteLength), flags)),
    recv: (fd, buf, flags) => n(s.recv(fd, buf, big(buf.byteLength), flags)),
    closeFd: (fd) => (s.closeFd(fd) === 0 ? 0 : -errno()),
    open: (path, flags) => {
      const fd = s.open(path, flags);
      return fd === -1 ? -errno() : fd;
    },
    read: (fd, buf) => n(s.read(fd, buf, big(buf.byteLength))),
    readlink: (path, buf) => n(s.readlink(path, buf, big(buf.byteLength))),
    syscall3: syscall && ((nr, a, b, c) => n(syscall(big(nr), big(a), big(b), big(c)))),
  };
}
