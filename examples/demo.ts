/**
 * Watch a send buffer fill: a loopback connection whose reader never reads, a writer that
 * keeps writing until the buffer is full, and a snapshot of the writer's send buffer every step.
 *
 *   deno run --allow-ffi --allow-net examples/demo.ts [--steps 30] [--interval 150] [--chunk 524288]
 *   bun examples/demo.ts
 *
 * @module
 */
import * as net from "node:net";
import { parseArgs } from "node:util";
import process from "node:process";
import { inspect, type SendBuffer } from "../mod.ts";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    steps: { type: "string", default: "30" },
    interval: { type: "string", default: "150" },
    chunk: { type: "string", default: "524288" },
  },
});
const steps = Number(values.steps);
const interval = Number(values.interval);
const chunk = new Uint8Array(Number(values.chunk)).fill(0x2e);
for (const [name, n] of [["steps", steps], ["interval", interval], ["chunk", chunk.length]] as const) {
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`--${name} must be a positive integer, got ${n}`);
}

const KiB = (n: number | undefined) => (n === undefined ? "   n/a" : `${(n / 1024).toFixed(0).padStart(6)}`);
const WIDTH = 40;

/** One line: the seed's picture, size = unacked + unsent + free, to scale. */
function line(step: number, b: SendBuffer): string {
  const scale = WIDTH / b.size;
  const unacked = Math.round((b.unackedBytes ?? 0) * scale);
  const unsent = Math.min(WIDTH - unacked, Math.round((b.unsent ?? 0) * scale));
  const bar = "#".repeat(unacked) + "=".repeat(unsent) + ".".repeat(WIDTH - unacked - unsent);
  return `${String(step).padStart(3)} [${bar}] size ${KiB(b.size)} KiB  queued ${KiB(b.queued)}  ` +
    `unacked ${KiB(b.unackedBytes)} (${b.unackedSegments ?? "n/a"} segs)  unsent ${KiB(b.unsent)}  free ${
      KiB(b.free)
    }`;
}

const peers: net.Socket[] = [];
const server = net.createServer({ pauseOnConnect: true }, (s) => peers.push(s)); // never reads
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const writer = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
await new Promise((resolve) => writer.once("connect", resolve));

console.log(`loopback ${writer.localPort} -> ${writer.remotePort}; the reader never reads`);
console.log(`legend: # unacked  = unsent  . free   (KiB; size counts buffer memory, so payload fills less)`);
let previous = -1;
for (let step = 1, still = 0; step <= steps && still < 2; step++) {
  writer.write(chunk);
  await new Promise((resolve) => setTimeout(resolve, interval));
  const b = await inspect(writer);
  console.log(line(step, b));
  still = b.queued === previous ? still + 1 : 0; // full: the kernel takes no more
  previous = b.queued;
}
const last = await inspect(writer);
console.log(
  `the peer is ${
    KiB(last.queued).trim()
  } KiB behind; ${writer.writableLength} more bytes wait in the runtime, above the kernel`,
);
writer.destroy();
for (const p of peers) p.destroy();
server.close();
