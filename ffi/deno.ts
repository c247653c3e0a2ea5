/**
 * libc through `Deno.dlopen`. Every call is synchronous: a `nonblocking` call runs on
 * another thread, where errno is lost, and costs tens of microseconds more.
 *
 * @module
 */
import type { Libc, LibcSpec } from "./types.ts";

const symbols = {
  // int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
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
  ioctl: { parameters: ["i32", "u32", "buffer"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Opens libc with `Deno.dlopen`; throws a clear error without `--allow-ffi`. */
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
    lib = Deno.dlopen(spec.path, { ...symbols, ...errnoSym, ...(spec.ioctl ? ioctlSymbol : {}) });
  } catch (cause) {
    if (cause instanceof Deno.errors.NotCapable || cause instanceof Deno.errors.PermissionDenied) {
      throw new Error("sockbuf calls libc through FFI: run Deno with --allow-ffi", { cause });
    }
    throw new Error(`Cannot load ${spec.path}: ${(cause as Error).message}`, { cause });
  }
  const s = lib.symbols;
  const len = new Uint32Array(1);
  const out = new Int32Array(1);
  const errno = (): number => {
    const p = s.errnoLocation();
    return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
  };
  const ioctl = "ioctl" in s
    ? (s as typeof s & { ioctl: (fd: number, req: number | bigint, out: Int32Array) => number }).ioctl
    : undefined;
  return {
    getsockopt(fd, level, name, buf) {
      len[0] = buf.byteLength;
      return s.getsockopt(fd, level, name, buf, len) === 0 ? len[0] : -errno();
    },
    setsockopt(fd, level, name, buf) {
      return s.setsockopt(fd, level, name, buf, buf.byteLength) === 0 ? 0 : -errno();
    },
    ioctlInt: ioctl && ((fd, request) => (ioctl(fd, request, out) === -1 ? -errno() : out[0])),
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
  };
}
