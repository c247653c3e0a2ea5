/**
 * Loads the compiled C baseline (bench/baseline.c) through the running runtime's FFI.
 * Benchmark code only: the library itself learns the runtime in ffi/mod.ts alone.
 *
 * @module
 */
import { runtimeName } from "../_runtime.ts";
import { nodeFfiModule } from "../ffi/node.ts";

/** The C baseline's functions: ns per repetition, or -errno. */
export interface Baseline {
  /** inspect()'s three calls: TCP_INFO, SIOCOUTQ, SO_MEMINFO. */
  inspect(fd: number, n: number): number;
  /** The seed's four calls: SO_SNDBUF, SIOCOUTQ, TCP_INFO, SIOCOUTQNSD. */
  inspectSeed(fd: number, n: number): number;
  /** ns per socket of inspect()'s three calls over the first `count` sockets `hold` opened. */
  inspectMany(count: number, n: number): number;
  /** The i-th socket `hold` opened, or -1. */
  held(i: number): number;
  inspectCached(fd: number, n: number): number;
  tcpInfo(fd: number, n: number): number;
  /** ns per listing of the sockets in the `states` bitmask. */
  list(states: number, n: number): number;
  /** The number of sockets the last listing found. */
  listCount(): number;
  /** Opens `pairs` loopback connections nobody reads; returns the sockets held, or -errno. */
  hold(pairs: number): number;
  /** Closes what `hold` opened. */
  release(): void;
  /** A syscall strace shows as `getsockopt(-1, 0x5342, id, …)`: a marker for bench/syscalls.ts. */
  mark(id: number): void;
  close(): void;
}

const NAMES = [
  "sb_inspect",
  "sb_inspect_seed",
  "sb_inspect_many",
  "sb_inspect_cached",
  "sb_tcpinfo",
  "sb_list",
] as const;

/** Node: through the FFI the library itself uses in this process (node:ffi or koffi). */
function openNode(path: string): Baseline {
  const picked = nodeFfiModule();
  if (picked.kind === "node:ffi") {
    const sig = (args: string[], result: string) => ({ arguments: args, return: result });
    const { lib, functions } = picked.ffi.dlopen(path, {
      ...Object.fromEntries(NAMES.map((n) => [n, sig(["int32", "int32"], "float64")])),
      sb_held: sig(["int32"], "int32"),
      sb_list_count: sig([], "int32"),
      sb_hold: sig(["int32"], "int32"),
      sb_release: sig([], "void"),
      sb_mark: sig(["int32"], "int32"),
    });
    return wrap(functions as unknown as Symbols, () => lib.close());
  }
  const lib = picked.koffi.load(path);
  const s = {
    ...Object.fromEntries(NAMES.map((n) => [n, lib.func(n, "double", ["int", "int"])])),
    sb_held: lib.func("sb_held", "int", ["int"]),
    sb_list_count: lib.func("sb_list_count", "int", []),
    sb_hold: lib.func("sb_hold", "int", ["int"]),
    sb_release: lib.func("sb_release", "void", []),
    sb_mark: lib.func("sb_mark", "int", ["int"]),
  };
  return wrap(s as unknown as Symbols, () => lib.unload());
}

/** Opens the shared library built from bench/baseline.c at `path`. */
export async function openBaseline(path: string): Promise<Baseline> {
  if (runtimeName === "node") return openNode(path);
  if ("Bun" in globalThis) {
    const { dlopen } = await import("bun:ffi");
    const sig = { args: ["i32", "i32"], returns: "f64" } as const;
    const lib = dlopen(path, {
      sb_inspect: sig,
      sb_inspect_seed: sig,
      sb_inspect_many: sig,
      sb_held: { args: ["i32"], returns: "i32" },
      sb_inspect_cached: sig,
      sb_tcpinfo: sig,
      sb_list: sig,
      sb_list_count: { args: [], returns: "i32" },
      sb_hold: { args: ["i32"], returns: "i32" },
      sb_release: { args: [], returns: "void" },
      sb_mark: { args: ["i32"], returns: "i32" },
    });
    return wrap(lib.symbols as unknown as Symbols, () => lib.close());
  }
  const sig = { parameters: ["i32", "i32"], result: "f64" } as const;
  const lib = Deno.dlopen(path, {
    sb_inspect: sig,
    sb_inspect_seed: sig,
    sb_inspect_many: sig,
    sb_held: { parameters: ["i32"], result: "i32" },
    sb_inspect_cached: sig,
    sb_tcpinfo: sig,
    sb_list: sig,
    sb_list_count: { parameters: [], result: "i32" },
    sb_hold: { parameters: ["i32"], result: "i32" },
    sb_release: { parameters: [], result: "void" },
    sb_mark: { parameters: ["i32"], result: "i32" },
  });
  return wrap(lib.symbols as unknown as Symbols, () => lib.close());
}

/** The C functions as both runtimes' FFI return them: numbers in, numbers out. */
type Symbols = Record<
  | "sb_inspect"
  | "sb_inspect_seed"
  | "sb_inspect_many"
  | "sb_held"
  | "sb_inspect_cached"
  | "sb_tcpinfo"
  | "sb_list"
  | "sb_list_count"
  | "sb_hold"
  | "sb_release"
  | "sb_mark",
  (...args: number[]) => number
>;

/** One {@linkcode Baseline} over either runtime's symbols. */
function wrap(s: Symbols, close: () => void): Baseline {
  return {
    inspect: (fd, n) => s.sb_inspect(fd, n),
    inspectSeed: (fd, n) => s.sb_inspect_seed(fd, n),
    inspectMany: (count, n) => s.sb_inspect_many(count, n),
    held: (i) => s.sb_held(i),
    inspectCached: (fd, n) => s.sb_inspect_cached(fd, n),
    tcpInfo: (fd, n) => s.sb_tcpinfo(fd, n),
    list: (states, n) => s.sb_list(states, n),
    listCount: () => s.sb_list_count(),
    hold: (pairs) => s.sb_hold(pairs),
    release: () => s.sb_release(),
    mark: (id) => void s.sb_mark(id),
    close,
  };
}
