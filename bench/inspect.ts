/**
 * Times sockbuf's Linux hot paths on a loopback connection whose reader never reads and
 * whose send buffer is full; bench/inspect.c makes the same syscalls in C.
 *
 *   deno run --allow-all --v8-flags=--expose-gc bench/inspect.ts [iterations] [runs]
 *   bun bench/inspect.ts [iterations] [runs]
 *
 * Prints one machine-readable line per operation:
 *   <runtime> <op> ns_per_op=<median> min=<min> max=<max> runs=<runs> n=<iterations>
 *     heap_b_per_op=<approx> retained_b_per_op=<approx> rss_delta_b=<bytes>
 *
 * Memory figures are approximate, and need a forced GC (Deno: `--v8-flags=--expose-gc`;
 * Bun: `Bun.gc(true)`); without one they print `nan`.
 * - `heap_b_per_op`: growth of `process.memoryUsage().heapUsed` over MEM_N calls started
 *   right after a GC, divided by MEM_N (median of MEM_REPS tries): everything the call
 *   allocates, garbage included. MEM_N is small so a young-generation GC is unlikely inside
 *   it; if one runs, the figure is too low. Bun (JavaScriptCore) updates `heapUsed` only
 *   at a GC, so there it reads ~0: use `retained_b_per_op` for Bun.
 * - `retained_b_per_op`: heap growth across a GC while the MEM_N results are kept alive:
 *   the size of what each call returns, without its transient garbage.
 * - `rss_delta_b`: resident-set growth across all timed runs of the op.
 *
 * @module
 */
import process from "node:process";
import { inspectSync, tcpInfo } from "../api.ts";
import { libc } from "../ffi/mod.ts";
import { LINUX_LIBC } from "../platform/linux.ts";
import { platform } from "../platform/mod.ts";
import { sleep, stalledPair } from "../tests/_helpers.ts";

const runtime = "Bun" in globalThis ? "bun" : "deno";
const args = process.argv.slice(2);
const N = Number(args[0] ?? 200_000);
const RUNS = Number(args[1] ?? 7);
const MEM_N = Math.min(N, 2_000);
const MEM_REPS = 5;
if (!(Number.isInteger(N) && N > 0 && Number.isInteger(RUNS) && RUNS > 0)) {
  console.error("usage: inspect.ts [iterations > 0] [runs > 0]");
  process.exit(2);
}

/** Forces a full GC when the runtime lets us; returns whether it could. */
function gc(): boolean {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun) {
    g.Bun.gc(true);
    return true;
  }
  if (g.gc) {
    g.gc();
    return true;
  }
  return false;
}

/** Keeps results observable so no runtime can drop the calls. */
let sink = 0;

interface Result {
  op: string;
  median: number;
  min: number;
  max: number;
  heapPerOp: number;
  retainedPerOp: number;
  rssDelta: number;
}

/**
 * Runs the operation `n` times; when `keep` is given, stores each result in it (for the
 * retained-memory pass).
 */
type Loop = (n: number, keep?: unknown[]) => unknown;

const heapUsed = (): number => process.memoryUsage().heapUsed;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Times `loop(N)` RUNS times after a warm-up, then measures memory. */
async function measure(op: string, loop: Loop): Promise<Result> {
  await loop(Math.max(1, Math.floor(N / 10))); // warm-up: let the JIT settle
  const rss0 = process.memoryUsage().rss;
  const ns: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = performance.now();
    await loop(N);
    ns.push(((performance.now() - t0) * 1e6) / N);
  }
  const rssDelta = process.memoryUsage().rss - rss0;
  let heapPerOp = NaN;
  let retainedPerOp = NaN;
  if (gc()) {
    const deltas: number[] = [];
    for (let r = 0; r < MEM_REPS; r++) {
      gc();
      const h0 = heapUsed();
      await loop(MEM_N);
      deltas.push((heapUsed() - h0) / MEM_N);
    }
    heapPerOp = median(deltas);
    const keep: unknown[] = new Array(MEM_N).fill(0);
    gc();
    const h0 = heapUsed();
    await loop(MEM_N, keep);
    gc();
    retainedPerOp = (heapUsed() - h0) / MEM_N;
    sink += keep.length; // keep `keep` live until here: JSC drops locals unused after an await
  }
  return {
    op,
    median: median(ns),
    min: Math.min(...ns),
    max: Math.max(...ns),
    heapPerOp,
    retainedPerOp,
    rssDelta,
  };
}

const pair = await stalledPair();
const fd = pair.clientFd;
try {
  // Fill the send buffer: node:net keeps what the kernel refuses, so the kernel's queue
  // grows until both the send buffer and the peer's receive buffer are full.
  pair.client.write(new Uint8Array(32 * 1024 * 1024));
  let last = -1;
  for (let stable = 0; stable < 5;) {
    await sleep(20);
    const q = inspectSync(fd).queued;
    stable = q === last && q > 0 ? stable + 1 : 0;
    last = q;
  }
  console.log(`${runtime} filled queued=${last}`);

  const p = platform();
  const c = libc(LINUX_LIBC); // the libc binding the Linux platform uses
  const info512 = new Uint8Array(512);

  const results = [
    await measure("inspect", (n, keep) => {
      for (let i = 0; i < n; i++) {
        const r = inspectSync(fd);
        sink += r.queued;
        if (keep) keep[i] = r;
      }
    }),
    await measure("tcpinfo", (n, keep) => {
      for (let i = 0; i < n; i++) {
        const r = p.tcpInfo(fd);
        sink += r.length;
        if (keep) keep[i] = r;
      }
    }),
    await measure("tcpinfo_async", async (n, keep) => {
      for (let i = 0; i < n; i++) {
        const r = await tcpInfo(fd);
        sink += r.length;
        if (keep) keep[i] = r;
      }
    }),
    // Diagnostic: the libc binding alone (one getsockopt TCP_INFO, 512 bytes, no decoding),
    // so tcpinfo minus this is the cost of decoding.
    await measure("getsockopt512", (n) => {
      for (let i = 0; i < n; i++) sink += c.getsockopt(fd, 6, 11, info512);
    }),
  ];
  const f = (x: number): string => (Number.isNaN(x) ? "nan" : x.toFixed(1));
  for (const r of results) {
    console.log(
      `${runtime} ${r.op} ns_per_op=${f(r.median)} min=${f(r.min)} max=${f(r.max)} runs=${RUNS} n=${N}` +
        ` heap_b_per_op=${f(r.heapPerOp)} retained_b_per_op=${f(r.retainedPerOp)} rss_delta_b=${r.rssDelta}`,
    );
  }
  if (sink === -1) console.log(sink); // never true; keeps `sink` live
} finally {
  await pair.close();
}
