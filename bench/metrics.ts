/**
 * Benchmark (not a test): the cost of one metrics scrape (`collect()` + `prometheusText()`)
 * with many loopback connections open, and RSS across many scrapes.
 *
 *   deno run --allow-all bench/metrics.ts [--connections 5000] [--scrapes 1000]
 *   bun bench/metrics.ts [same options]
 *
 * N connections are 2N sockets (both ends held by this process, so its fd limit must allow 2N + 50),
 * plus the listener.
 * Prints the median and worst scrape time over 21 scrapes, then RSS every tenth of the scrapes.
 */
import * as net from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";
import { runtimeName } from "../_runtime.ts";
import { collect, prometheusText } from "../metrics/mod.ts";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    connections: { type: "string", default: "5000" },
    scrapes: { type: "string", default: "1000" },
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
const scrape = async () => prometheusText(await collect({ port }));
let sockets = 0;
const times: number[] = [];
for (let i = 0; i < 21; i++) {
  const t0 = performance.now();
  const text = await scrape();
  times.push(performance.now() - t0);
  sockets = Number(/^sockbuf_scrape_sockets (\d+)$/m.exec(text)![1]);
}
times.sort((a, b) => a - b);
console.log(
  `${runtimeName}: ${sockets} sockets, one scrape: median ${times[10].toFixed(1)} ms, worst ${
    times[20].toFixed(1)
  } ms`,
);
const rss: string[] = [];
for (let i = 1; i <= scrapes; i++) {
  await scrape();
  if (i % (scrapes / 10) === 0) {
    rss.push(`${i}:${(process.memoryUsage().rss / 2 ** 20).toFixed(0)}MiB`);
  }
}
console.log(`RSS after scrapes: ${rss.join(" ")}`);
for (const s of held) s.destroy();
server.close();
