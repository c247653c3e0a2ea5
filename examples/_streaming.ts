/**
 * What the two streaming examples share: the readings the server writes, and a slow HTTP
 * client that reads them at a fixed rate, as a client on a poor link would, reporting each
 * timestamped line's age. node:net, so it is the same on Deno and Bun.
 *
 * @module
 */
import * as net from "node:net";
import { setDefaultHighWaterMark } from "node:stream";
import { type LowLatencyWriter, resolveSocket, type SendBuffer } from "../mod.ts";
import { setReceiveBuffer } from "../_testing.ts";

/** What the client saw. */
export interface SlowClientResult {
  lines: number;
  bytes: number;
  /** Age of the newest line when it arrived, ms: how stale the data the client sees is. */
  lastAgeMs: number;
}

/**
 * Reads `http://127.0.0.1:port/` for `seconds` at `bytesPerSecond`. Each body line is
 * expected to start with `Date.now()` at sending.
 */
export async function slowClient(
  port: number,
  seconds: number,
  bytesPerSecond: number,
): Promise<SlowClientResult> {
  // node:net reads ahead of a paused reader up to its high-water mark (64 KiB): keep that
  // small, so the age measured is the server's doing, not this client's.
  setDefaultHighWaterMark(false, 1024);
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  // A small receive buffer, as on a slow device: the queue then builds at the server.
  setReceiveBuffer((await resolveSocket(socket)).fd, 4 * 1024);
  socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  const result: SlowClientResult = { lines: 0, bytes: 0, lastAgeMs: NaN };
  let partial = "";
  let budget = 0;
  // 20 ticks a second, each allowing bytesPerSecond / 20 more bytes; over budget, pause.
  socket.on("data", (chunk: Buffer) => {
    result.bytes += chunk.length;
    budget -= chunk.length;
    if (budget <= 0) socket.pause();
    const lines = (partial + chunk.toString("latin1")).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      const sent = Number(/^(\d{13}) /.exec(line)?.[1]);
      if (Number.isFinite(sent)) {
        result.lines++;
        result.lastAgeMs = Date.now() - sent;
      }
    }
  });
  const end = Date.now() + seconds * 1000;
  while (Date.now() < end) {
    budget = Math.min(budget, 0) + bytesPerSecond / 20;
    if (budget > 0) socket.resume();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  socket.destroy();
  return result;
}

/**
 * Writes timestamped readings to `writable` until the client goes away, ten per timer tick
 * (far more than the client takes), sampling the connection's unsent bytes. Resolves with
 * the server's line of the report.
 */
export async function writeReadings(
  writable: LowLatencyWriter,
  snapshot: () => Promise<SendBuffer>,
  lowat: number,
): Promise<string> {
  const writer = writable.getWriter();
  let maxUnsent = 0;
  try {
    for (let i = 0;; i++) {
      // About 200 bytes, starting with the time it was written
      await writer.write(new TextEncoder().encode(`${Date.now()} reading ${i} ${"x".repeat(160)}\n`));
      if (i % 10 === 0) {
        maxUnsent = Math.max(maxUnsent, (await snapshot()).unsent ?? 0);
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    }
  } catch {
    // The client went away: the body was cancelled, or the socket closed.
  }
  return `server: ${writable.sent} readings sent, ${writable.dropped} dropped, ` +
    `at most ${maxUnsent} bytes unsent in the kernel (lowat ${lowat})`;
}
