/**
 * Benchmark (not a test): the cost of one metrics scrape with many loopback connections open,
 * as `sockbuf export` scrapes (a `createCollector()`, whose listing brings every socket's
 * `tcp_info` for the verdicts, + `prometheusText()`) and as a one-off `collect()` (no
 * `tcp_info`), and RSS across many scrapes of the collector.
 *
 *   deno run --allow-all bench/metrics.ts [--connections 5000] [--scrapes 1000]
 *   bun bench/metrics.ts [same options]
 *
 * N connections are 2N sockets (both ends held by this process, so its fd limit must allow 2N + 50),
 * plus the listener.
 * Prints the median and worst scrape time over 21 scrapes (after 5 untimed), then RSS and the JS heap in use at
 * scrapes 1, 100, 500, 1000, 2000, … (`--gc` collects garbage before each reading, Bun.gc(true)
 * or Deno's `--v8-flags=--expose-gc` gc(), to tell retained memory from a heap not yet collected).
 */
import * as net from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";
import { runtimeName } from "../_runtime.ts";
import { collect, createCollector, prometheusText } from "../metrics/mod.ts";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    connections: { type: "string", default: "5000" },
    scrapes: { type: "string", default: "1000" },
    gc: { type: "boolean", default: false },
  },
});
const n = Number(values.connections);
const scrapes = Number(values.scrapes);

const held: net.Socket[] = [];
const server = net.createServer((s) => held.push(s));
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", 4096, resolve));
const port = (server.address() as net.AddressInfo).port;
for (let i = 0; i < n; i += 200) {
  await Promise.all(
    Array.from(
      { length: Math.min(200, n - i) },
      () =>
        new Promise<void>((resolve, reject) => {
          const c = net.connect(port, "127.0.0.1", () => resolve());
          c.on("error", reject);
          held.push(c);
        }),
    ),
  );
}
const collector = createCollector({ port });
const scrape = async () => prometheusText(await collector.collect());
const oneOff = async () => prometheusText(await collect({ port }));
let sockets = 0;
for (const [name, run] of [["sockbuf export's collector", scrape], ["one-off collect()", oneOff]] as const) {
  for (let i = 0; i < 5; i++) await run(); // warm-up: the JIT compiles the decoders and the renderer
  const times: number[] = [];
  for (let i = 0; i < 21; i++) {
    const t0 = performance.now();
    const text = await run();
    times.push(performance.now() - t0);
    sockets = Number(/^sockbuf_scrape_sockets (\d+)$/m.exec(text)![1]);
  }
  times.sort((a, b) => a - b);
  console.log(
    `${runtimeName}: ${sockets} sockets, one scrape (${name}): median ${times[10].toFixed(1)} ms, worst ${
      times[20].toFixed(1)
    } ms`,
  );
}
const gc = (globalThis as { Bun?: { gc(sync: boolean): void } }).Bun?.gc.bind(null, true) ??
  (globalThis as { gc?: () => void }).gc;
if (values.gc && !gc) throw new Error("--gc needs Bun, or Deno with --v8-flags=--expose-gc");
const mib = (n: number) => (n / 2 ** 20).toFixed(0);
const readings: string[] = [];
const reading = (i: number) => {
  if (values.gc) gc!();
  const m = process.memoryUsage();
  readings.push(`${i}: rss ${mib(m.rss)} heap ${mib(m.heapUsed)} MiB`);
};
for (let i = 1; i <= scrapes; i++) {
  await scrape();
  if (i === 1 || i === 100 || i % 500 === 0) reading(i);
}
console.log(`after scrapes${values.gc ? " (gc before each reading)" : ""}: ${readings.join(" | ")}`);
for (const s of held) s.destroy();
server.close();
