/**
 * One side of bench/latency.ts's netns path, run by it inside a network namespace:
 *
 *   <runtime> bench/_latency_peer.ts receiver --host ADDR --seconds S --msg-size B
 *   <runtime> bench/_latency_peer.ts sender --host ADDR --port P --mode naive|lowLatency
 *     --seconds S --msg-size B [--lowat B | --target-ms MS] [--latest true|false] [--sample-ms MS]
 *
 * The receiver prints `ready port=N` once listening, accepts one connection, reads as fast
 * as it can for S seconds from the accept, then prints `result <JSON ReceiverStats +
 * seconds>`. The sender connects, writes for S seconds, prints `result <JSON SenderStats>`.
 * Both stamp with the wall clock (`performance.timeOrigin + performance.now()`) and report
 * `clockSkewMs`, its distance from `Date.now()`. Every wait is bounded; both exit.
 *
 * @module
 */
import * as net from "node:net";
import process from "node:process";
import { parseArgs } from "node:util";
import { listenReceiver, type Mode, MODES, NETNS_LOWAT, send, wallClock } from "./latency.ts";

const { values, positionals } = parseArgs({
  args: process.argv.slice(2),
  allowPositionals: true,
  options: {
    host: { type: "string" },
    port: { type: "string", default: "0" },
    mode: { type: "string", default: "naive" },
    seconds: { type: "string", default: "5" },
    "msg-size": { type: "string", default: "128" },
    lowat: { type: "string", default: String(NETNS_LOWAT) },
    "sample-ms": { type: "string", default: "50" },
    "target-ms": { type: "string" },
    latest: { type: "string", default: "true" },
  },
});
const role = positionals[0];
const seconds = Number(values.seconds);
const msgSize = Number(values["msg-size"]);
const host = values.host;
if ((role !== "receiver" && role !== "sender") || !host || !(seconds > 0) || !(msgSize >= 24)) {
  console.error("usage: _latency_peer.ts receiver|sender --host ADDR [options] (see the file)");
  process.exit(2);
}
const clockSkewMs = wallClock() - Date.now();
const CONNECT_MS = 15_000;

async function receiver(): Promise<void> {
  const rx = listenReceiver({ host: host!, msgSize, clock: wallClock });
  try {
    console.log(`ready port=${rx.port}`);
    await rx.accepted(CONNECT_MS);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    rx.stop();
    const elapsed = (performance.now() - t0) / 1000;
    console.log(`result ${JSON.stringify({ ...rx.stats, seconds: elapsed, clockSkewMs })}`);
  } finally {
    rx.close();
  }
}

async function sender(): Promise<void> {
  const mode = values.mode as Mode;
  if (!MODES.includes(mode)) throw new Error(`--mode must be one of ${MODES.join(", ")}`);
  const socket = net.connect(Number(values.port), host);
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`could not connect within ${CONNECT_MS} ms`)), CONNECT_MS);
    socket.once("connect", () => {
      clearTimeout(t);
      resolve();
    });
    socket.once("error", reject);
  });
  socket.on("error", () => {}); // a reset once the receiver stops is expected
  const stats = await send(socket, {
    mode,
    seconds,
    msgSize,
    clock: wallClock,
    lowat: Number(values.lowat),
    targetMs: values["target-ms"] === undefined ? undefined : Number(values["target-ms"]),
    latest: values.latest !== "false",
    sampleMs: Number(values["sample-ms"]),
  });
  console.log(`result ${JSON.stringify({ ...stats, clockSkewMs })}`);
  socket.destroy();
}

let code = 0;
try {
  await (role === "receiver" ? receiver() : sender());
} catch (err) {
  console.error(`${role}: ${(err as Error).message}`);
  code = 1;
}
process.exit(code);
