/**
 * libc under Node: through `node:ffi` where the running Node has it (Node 26), otherwise
 * through the `koffi` package (Node 20, 22, 24). The mechanism is picked once, on the first
 * call, and kept for the life of the process. Every call is synchronous and errno is read
 * right after a failing call, on the same thread, before any other JavaScript runs.
 *
 * `node:ffi` prints an ExperimentalWarning when it loads. sockbuf loading it is not
 * something the user chose, so that one warning is dropped unless the user asked to see
 * every warning (`--trace-warnings`); every other warning passes as before.
 * `SOCKBUF_NODE_FFI=koffi` picks koffi even where `node:ffi` exists (`node:ffi` then
 * never loads); `SOCKBUF_NODE_FFI=node:ffi` fails rather than fall back.
 *
 * Both mechanisms are reached through `process.getBuiltinModule` (Node ≥ 20.16, 22.3), so
 * this file has no static import Deno or Bun would have to resolve.
 *
 * @module
 */
import type { Libc, LibcSpec } from "./types.ts";

/** A C signature in `node:ffi`'s terms. */
interface FfiSignature {
  readonly arguments: readonly string[];
  readonly return: string;
}
type Fn = (...args: never[]) => unknown;
/** The part of `node:ffi` this binding uses. */
export interface NodeFfi {
  dlopen(path: string, definitions: Record<string, FfiSignature>): {
    lib: { close(): void };
    functions: Record<string, Fn>;
  };
  getRawPointer(view: ArrayBufferView): bigint;
  getInt32(pointer: bigint, offset?: number): number;
  toString(pointer: bigint): string;
}
/** The part of `koffi` this binding uses. */
export interface Koffi {
  load(path: string): { func(name: string, result: string, args: string[]): Fn; unload(): void };
  errno(): number;
  decode(pointer: unknown, offset: number, type: string, length: number): string;
}
/** The part of Node's `process` this file reads. */
interface NodeProcess {
  version: string;
  env?: Record<string, string | undefined>;
  traceProcessWarnings?: boolean;
  emitWarning: (warning: unknown, ...rest: unknown[]) => void;
  getBuiltinModule?: (id: string) => unknown;
}

/** Which FFI this process uses under Node. */
export type NodeFfiKind = "node:ffi" | "koffi";

let picked: { kind: "node:ffi"; ffi: NodeFfi } | { kind: "koffi"; koffi: Koffi } | undefined;

const nodeProcess = (): NodeProcess => (globalThis as unknown as { process: NodeProcess }).process;

/** True for the warning `node:ffi` emits on load, in any of `emitWarning`'s call forms. */
function isFfiWarning(warning: unknown, rest: unknown[]): boolean {
  const type = typeof rest[0] === "string"
    ? rest[0]
    : (rest[0] as { type?: unknown } | undefined)?.type ?? (warning as { name?: unknown })?.name;
  const text = typeof warning === "string" ? warning : (warning as { message?: unknown })?.message;
  return type === "ExperimentalWarning" && typeof text === "string" && text.startsWith("FFI ");
}

/**
 * Loads `node:ffi`, dropping its ExperimentalWarning unless `--trace-warnings` is on.
 * Node emits the warning synchronously through `process.emitWarning` while the module
 * loads, so a filter in place for just that call catches it and nothing else.
 * @returns the module, or `undefined` where this Node has none (before 26, or `--no-experimental-ffi`)
 */
function loadNodeFfi(proc: NodeProcess): NodeFfi | undefined {
  const emit = proc.emitWarning;
  const quiet = proc.traceProcessWarnings !== true;
  if (quiet) {
    proc.emitWarning = function (this: unknown, warning: unknown, ...rest: unknown[]) {
      if (!isFfiWarning(warning, rest)) emit.call(this, warning, ...rest);
    };
  }
  try {
    return proc.getBuiltinModule!("node:ffi") as NodeFfi | undefined;
  } finally {
    if (quiet) proc.emitWarning = emit;
  }
}

/** Loads `koffi` from where this file is installed, or throws saying what to install. */
function loadKoffi(proc: NodeProcess): Koffi {
  const { createRequire } = proc.getBuiltinModule!("node:module") as {
    createRequire(from: string): (id: string) => unknown;
  };
  try {
    const mod = createRequire(import.meta.url)("koffi") as Koffi & { default?: Koffi };
    return typeof mod.load === "function" ? mod : mod.default!;
  } catch (cause) {
    const code = (cause as { code?: unknown })?.code;
    if (code === "ERR_DLOPEN_DISABLED" || code === "ERR_ACCESS_DENIED") {
      throw new Error(
        "sockbuf calls libc through koffi, a native addon: run Node with --allow-addons (the permission model is on)",
        { cause },
      );
    }
    throw new Error(
      `sockbuf calls libc through FFI, and Node ${proc.version} has no node:ffi (Node 26 has): ` +
        `install the koffi package (npm install koffi) or run Node 26`,
      { cause },
    );
  }
}

/** The FFI this process uses: `node:ffi` where it exists, else koffi; decided once. */
export function nodeFfiKind(): NodeFfiKind {
  return pick().kind;
}

/**
 * The module behind {@linkcode nodeFfiKind}, for code outside the library that loads a
 * library of its own in the same process (bench/_baseline.ts), so it uses the same FFI.
 */
export function nodeFfiModule(): { kind: "node:ffi"; ffi: NodeFfi } | { kind: "koffi"; koffi: Koffi } {
  return pick();
}

function pick(): NonNullable<typeof picked> {
  if (picked) return picked;
  const proc = nodeProcess();
  if (typeof proc?.getBuiltinModule !== "function") {
    throw new Error(
      `sockbuf needs process.getBuiltinModule (Node 20.16, 22.3 or later); this is Node ${proc?.version}`,
    );
  }
  // SOCKBUF_NODE_FFI=koffi keeps an experimental node:ffi out of a process that has both.
  const want = proc.env?.SOCKBUF_NODE_FFI;
  if (want !== undefined && want !== "" && want !== "koffi" && want !== "node:ffi") {
    throw new TypeError(`Expected SOCKBUF_NODE_FFI as "koffi" or "node:ffi", got ${JSON.stringify(want)}`);
  }
  const ffi = want === "koffi" ? undefined : loadNodeFfi(proc);
  if (want === "node:ffi" && !ffi) {
    throw new Error(`SOCKBUF_NODE_FFI=node:ffi, but Node ${proc.version} has no node:ffi (Node 26 has)`);
  }
  picked = ffi ? { kind: "node:ffi", ffi } : { kind: "koffi", koffi: loadKoffi(proc) };
  return picked;
}

/** Opens libc through `node:ffi` or koffi, whichever this process uses. */
export function openLibc(spec: LibcSpec): Libc {
  const p = pick();
  return p.kind === "node:ffi" ? openNodeFfi(p.ffi, spec) : openKoffi(p.koffi, spec);
}

/** `node:ffi` refuses a library under the permission model without `--allow-ffi`. */
function loadError(spec: LibcSpec, cause: unknown): Error {
  const code = (cause as { code?: unknown })?.code;
  if (code === "ERR_ACCESS_DENIED") {
    return new Error(
      "sockbuf calls libc through node:ffi: run Node with --allow-ffi (the permission model is on)",
      {
        cause,
      },
    );
  }
  return new Error(`Cannot load ${spec.path}: ${(cause as Error)?.message}`, { cause });
}

// node:ffi's signatures. Keys are the real symbol names (node:ffi has no alias).
const sig = (args: string[], result: string): FfiSignature => ({ arguments: args, return: result });
const I32 = "int32", PTR = "pointer", U32 = "uint32", U64 = "uint64", I64 = "int64";

/** Where a buffer keeps its own address, once found (see pointerOf). */
const ADDRESS = Symbol("sockbuf.nodeAddress");
type Addressed = ArrayBufferView & { [ADDRESS]?: bigint };

function openNodeFfi(ffi: NodeFfi, spec: LibcSpec): Libc {
  let opened;
  try {
    opened = ffi.dlopen(spec.path, {
      // int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
      getsockopt: sig([I32, I32, I32, PTR, PTR], I32),
      // int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
      setsockopt: sig([I32, I32, I32, PTR, U32], I32),
      // int getsockname(int fd, struct sockaddr *addr, socklen_t *len), and getpeername
      getsockname: sig([I32, PTR, PTR], I32),
      getpeername: sig([I32, PTR, PTR], I32),
      // int uname(struct utsname *buf)
      uname: sig([PTR], I32),
      // int *__errno_location(void) on glibc, int *__error(void) on macOS
      [spec.errnoSymbol]: sig([], PTR),
      // DIR *opendir(const char *path); struct dirent *readdir(DIR *dir); int closedir(DIR *dir)
      [spec.dirent.opendir]: sig([PTR], PTR),
      [spec.dirent.readdir]: sig([PTR], PTR),
      closedir: sig([PTR], I32),
      // int ioctl(int fd, unsigned long request, int *out): variadic, see LibcSpec.ioctl. The
      // request is declared u32: node:ffi takes only a bigint for a u64, and Linux reads
      // only its low 32 bits (`unsigned int cmd` in fs/ioctl.c).
      ...(spec.ioctl ? { ioctl: sig([I32, U32, PTR], I32) } : {}),
      // int socket(int domain, int type, int protocol)
      socket: sig([I32, I32, I32], I32),
      // ssize_t send(int fd, const void *buf, size_t len, int flags), and recv
      send: sig([I32, PTR, U64, I32], I64),
      recv: sig([I32, PTR, U64, I32], I64),
      // int close(int fd)
      close: sig([I32], I32),
      // int open(const char *path, int flags): variadic only past flags, which we never pass
      open: sig([PTR, I32], I32),
      // ssize_t read(int fd, void *buf, size_t len)
      read: sig([I32, PTR, U64], I64),
      // ssize_t readlink(const char *path, char *buf, size_t len)
      readlink: sig([PTR, PTR, U64], I64),
      // long syscall(long number, ...): variadic, see LibcSpec.syscall
      ...(spec.syscall ? { syscall: sig([I64, I64, I64, I64], I64) } : {}),
    });
  } catch (cause) {
    throw loadError(spec, cause);
  }
  const lib = opened.lib;
  const s = opened.functions as unknown as Record<string, (...args: unknown[]) => number>;
  const big = s as unknown as Record<string, (...args: unknown[]) => bigint>;
  const errnoLocation = big[spec.errnoSymbol];
  const errno = (): number => {
    const p = errnoLocation();
    return p === 0n ? 0 : ffi.getInt32(p, 0);
  };
  /**
   * The address of a buffer the hot calls pass, found once and kept on the buffer: a typed
   * array argument costs ≈ 200–400 ns more per call than its raw address (bench/). Reading
   * `.buffer` first moves a small typed array's bytes off V8's heap, where the GC could
   * move them, into a backing store that stays put while the array lives. Only for
   * sockbuf's own buffers, which are never detached or resized.
   */
  const pointerOf = (buf: Addressed): bigint => {
    let a = buf[ADDRESS];
    if (a === undefined) {
      void buf.buffer;
      a = buf[ADDRESS] = ffi.getRawPointer(buf);
    }
    return a;
  };
  const len = new Uint32Array(1);
  const out = new Int32Array(1);
  const lenAt = pointerOf(len);
  const outAt = pointerOf(out);
  const { getsockopt, setsockopt, getsockname, getpeername, uname, ioctl, closedir } = s;
  const opendir = big[spec.dirent.opendir];
  const readdir = big[spec.dirent.readdir];
  // ssize_t results come back as bigint; every length here is far below 2^53.
  const n = (r: bigint): number => (r === -1n ? -errno() : Number(r));
  const { socket, send, recv, close, open, read, readlink, syscall } = big;
  const B = BigInt;
  return {
    getsockopt(fd, level, name, buf) {
      len[0] = buf.byteLength;
      return getsockopt(fd, level, name, pointerOf(buf), lenAt) === 0 ? len[0] : -errno();
    },
    setsockopt(fd, level, name, buf) {
      return setsockopt(fd, level, name, buf, buf.byteLength) === 0 ? 0 : -errno();
    },
    ioctlInt: ioctl && ((fd, request) => (ioctl(fd, request, outAt) === -1 ? -errno() : out[0])),
    getsockname(fd, buf) {
      len[0] = buf.byteLength;
      return getsockname(fd, buf, lenAt) === 0 ? len[0] : -errno();
    },
    getpeername(fd, buf) {
      len[0] = buf.byteLength;
      return getpeername(fd, buf, lenAt) === 0 ? len[0] : -errno();
    },
    listDir(path) {
      const dir = opendir(new TextEncoder().encode(path + "\0"));
      if (dir === 0n) return -errno();
      const names: string[] = [];
      try {
        for (let e = readdir(dir); e !== 0n; e = readdir(dir)) {
          names.push(ffi.toString(e + B(spec.dirent.nameOffset)));
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
    socket: (domain, type, protocol) => {
      const fd = socket(domain, type, protocol) as unknown as number;
      return fd === -1 ? -errno() : fd;
    },
    send: (fd, buf, flags) => n(send(fd, buf, B(buf.byteLength), flags)),
    recv: (fd, buf, flags) => n(recv(fd, buf, B(buf.byteLength), flags)),
    closeFd: (fd) => ((close(fd) as unknown as number) === 0 ? 0 : -errno()),
    open: (path, flags) => {
      const fd = open(path, flags) as unknown as number;
      return fd === -1 ? -errno() : fd;
    },
    read: (fd, buf) => n(read(fd, buf, B(buf.byteLength))),
    readlink: (path, buf) => n(readlink(path, buf, B(buf.byteLength))),
    syscall3: syscall && ((nr, a, b, c) => n(syscall(B(nr), B(a), B(b), B(c)))),
  };
}

function openKoffi(koffi: Koffi, spec: LibcSpec): Libc {
  let lib;
  try {
    lib = koffi.load(spec.path);
  } catch (cause) {
    throw loadError(spec, cause);
  }
  type KFn = (...args: unknown[]) => number;
  const f = (name: string, result: string, args: string[]) => lib.func(name, result, args) as unknown as KFn;
  const P = "void *", INT = "int";
  // The same C signatures as the node:ffi table above, in koffi's type names. koffi passes
  // a typed array to a `void *` as its address, without a copy, so the kernel writes land.
  const getsockopt = f("getsockopt", INT, [INT, INT, INT, P, P]);
  const setsockopt = f("setsockopt", INT, [INT, INT, INT, P, "uint32_t"]);
  const getsockname = f("getsockname", INT, [INT, P, P]);
  const getpeername = f("getpeername", INT, [INT, P, P]);
  const uname = f("uname", INT, [P]);
  const opendir = f(spec.dirent.opendir, P, [P]) as unknown as (path: Uint8Array) => object | null;
  const readdir = f(spec.dirent.readdir, P, [P]) as unknown as (dir: object) => object | null;
  const closedir = f("closedir", INT, [P]);
  const ioctl = spec.ioctl ? f("ioctl", INT, [INT, "unsigned long", P]) : undefined;
  const socket = f("socket", INT, [INT, INT, INT]);
  const send = f("send", "intptr_t", [INT, P, "size_t", INT]);
  const recv = f("recv", "intptr_t", [INT, P, "size_t", INT]);
  const close = f("close", INT, [INT]);
  const open = f("open", INT, [P, INT]);
  const read = f("read", "intptr_t", [INT, P, "size_t"]);
  const readlink = f("readlink", "intptr_t", [P, P, "size_t"]);
  const syscall = spec.syscall ? f("syscall", "long", ["long", "long", "long", "long"]) : undefined;
  // koffi keeps errno as the call left it, on this thread: read it before anything else runs.
  const errno = (): number => koffi.errno();
  const len = new Uint32Array(1);
  const out = new Int32Array(1);
  const n = (r: number | bigint): number => (r === -1 || r === -1n ? -errno() : Number(r));
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
          names.push(koffi.decode(e, spec.dirent.nameOffset, "char", -1));
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
      lib.unload();
    },
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
