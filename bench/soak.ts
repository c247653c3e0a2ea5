/**
 * Soak: 1,000,000 snapshots spread over 1,000 open sockets, checking that memory stays flat
 * and no fd leaks. Half the snapshots take a raw fd, half the node:net socket object (the
 * cached fd, re-checked by SO_COOKIE), round-robin over every socket.
 *
 *   deno run --allow-all --v8-flags=--expose-gc bench/soak.ts [--snapshots N] [--sockets N]
 *   bun bench/soak.ts [--snapshots N] [--sockets N]
 *
 * RSS and the open-fd count (/proc/self/fd) are read after setup and a warm-up of 200,000
 * snapshots, right after the snapshots, and after a forced GC. Prints one JSON line:
 * `{ runtime, snapshots, sockets, nsPerSnapshot, rssBefore, rssAfter, rssAfterGc, fdsBefore, fdsAfter }`.
 *
 * @module
 */
import * as net from "node:net";
import { readdirSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { runtimeName } from "../_runtime.ts";
import { inspectSync, resolveSocket } from "../mod.ts";

const { values: opts } = parseArgs({
  args: process.argv.slice(2),
  options: {
    snapshots: { type: "string", default: "1000000" },
    sockets: { type: "string", default: "1000" },
  },
});
const SNAPSHOTS = Number(opts.snapshots);
const SOCKETS = Number(opts.sockets);
const runtime = runtimeName;

/** Forces a full GC; false when the runtime does not allow it. */
function gc(): boolean {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun) g.Bun.gc(true);
  else if (g.gc) g.gc();
  else return false;
  return true;
}

const fdCount = (): number => readdirSync("/proc/self/fd").length;
const rss = (): number => process.memoryUsage().rss;

// SOCKETS/2 loopback connections: both ends are sockets of this process.
const accepted: net.Socket[] = [];
const server = net.createServer((s) => accepted.push(s));
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
const port = (server.address() as net.AddressInfo).port;
const sockets: net.Socket[] = [];
for (let i = 0; i < SOCKETS / 2; i++) {
  const c = net.connect(port, "127.0.0.1");
  await new Promise((r, j) => c.once("connect", r).once("error", j));
  sockets.push(c);
}
while (accepted.length < SOCKETS / 2) await new Promise((r) => setTimeout(r, 5));
sockets.push(...accepted);
const fds: number[] = [];
for (const s of sockets) fds.push((await resolveSocket(s)).fd);

let sink = 0;
/** `n` snapshots, round-robin over the sockets, alternating raw fd and socket object. */
function snapshots(n: number): void {
  for (let i = 0; i < n; i++) {
    const at = i % sockets.length;
    sink += inspectSync((i & 1) === 0 ? fds[at] : sockets[at]).size;
  }
}

const turn = () => new Promise((r) => setTimeout(r, 0));
// Warm-up, shaped like the run: the JIT's code and every object's cached fd are in place,
// and the runtime has made what its event loop makes on the first timer after a long
// synchronous stretch (Deno opens a Unix socket pair there, sockbuf or not).
for (let i = 0; i < 2; i++) {
  snapshots(100_000);
  await turn();
}
const hasGc = gc();
const rssBefore = rss();
const fdsBefore = fdCount();
const t0 = performance.now();
for (let done = 0; done < SNAPSHOTS; done += 100_000) {
  snapshots(Math.min(100_000, SNAPSHOTS - done));
  await turn(); // let the event loop run, as a server's would
}
const ns = ((performance.now() - t0) * 1e6) / SNAPSHOTS;
const rssAfter = rss();
const fdsAfter = fdCount();
gc();
const rssAfterGc = rss();

for (const s of sockets) s.destroy();
server.close();
if (sink < 0) console.log(sink);
console.log(JSON.stringify({
  runtime,
  snapshots: SNAPSHOTS,
  sockets: sockets.length,
  nsPerSnapshot: Math.round(ns),
  rssBefore,
  rssAfter,
  rssAfterGc: hasGc ? rssAfterGc : null,
  fdsBefore,
  fdsAfter,
}));
