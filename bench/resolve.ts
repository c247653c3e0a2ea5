/**
 * The cost of finding a runtime socket's fd: the first resolution with about 1000 sockets
 * open (a scan of the process's fds), and a cached call's overhead over the raw-fd call
 * (one SO_COOKIE getsockopt on Linux).
 *
 *   deno run --allow-all bench/resolve.ts [sockets=1000] [iterations=100000]
 *   bun bench/resolve.ts [sockets=1000] [iterations=100000]
 *
 * Prints `<runtime> <op> ns_per_op=<median of 7 runs> …` lines, as bench/inspect.ts does.
 *
 * @module
 */
import * as net from "node:net";
import process from "node:process";
import { runtimeName } from "../_runtime.ts";
import { inspectSync, resolveSocket } from "../mod.ts";
import { platform } from "../platform/mod.ts";

const runtime = runtimeName;
const args = process.argv.slice(2);
const SOCKETS = Number(args[0] ?? 1000);
const N = Number(args[1] ?? 100_000);
const RUNS = 7;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Median ns per call of `body` over RUNS runs of `n` calls, after one warm-up run. */
function time(n: number, body: (i: number) => unknown): number {
  let sink = 0;
  const runs: number[] = [];
  for (let r = 0; r <= RUNS; r++) {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) sink += body(i) ? 1 : 0;
    if (r > 0) runs.push(((performance.now() - t0) * 1e6) / n);
  }
  if (sink < 0) console.log(sink);
  return median(runs);
}

// About SOCKETS open sockets: SOCKETS/2 loopback connections, both ends in this process.
const server = net.createServer(() => {});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const port = (server.address() as net.AddressInfo).port;
const clients: net.Socket[] = [];
for (let i = 0; i < SOCKETS / 2; i++) {
  const c = net.connect(port, "127.0.0.1");
  await new Promise((r) => c.once("connect", r));
  clients.push(c);
}
const fds = platform().sockets.openFds().length;
const pairOf = (c: net.Socket) => ({ localPort: c.localPort!, remoteAddress: "127.0.0.1", remotePort: port });

// First resolution: a fresh object each time, so nothing is cached. The scan goes newest fd
// first, so the newest connection is the best case and the oldest the worst.
const firstNewest = time(50, () => resolveSocket(pairOf(clients[clients.length - 1])));
const firstOldest = time(50, () => resolveSocket(pairOf(clients[0])));

// Cached: the same object again; the raw-fd call is the baseline.
const target = clients[clients.length - 1];
const { fd } = await resolveSocket(target);
const raw = time(N, () => inspectSync(fd));
const cached = time(N, () => inspectSync(target));
const resolved = await resolveSocket(target);
const check = time(N, () => resolved.checkedFd());

const line = (op: string, ns: number, extra = "") =>
  console.log(`${runtime} ${op} ns_per_op=${ns.toFixed(0)} open_fds=${fds}${extra}`);
line("resolve_first_newest", firstNewest);
line("resolve_first_oldest", firstOldest);
line("inspect_raw_fd", raw, ` n=${N}`);
line("inspect_cached_object", cached, ` n=${N} overhead_ns=${(cached - raw).toFixed(0)}`);
line("checked_fd", check, ` n=${N}`);

for (const c of clients) c.destroy();
server.close();
