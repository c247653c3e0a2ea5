/**
 * A slow HTTP client for the streaming examples: sends `GET /`, then reads the response at
 * `bytesPerSecond`, as a client on a poor link would, and reports each timestamped line's
 * age. node:net, so it is the same on Deno and Bun.
 *
 * @module
 */
import * as net from "node:net";
import { setDefaultHighWaterMark } from "node:stream";
import { resolveSocket } from "../mod.ts";
import { platform } from "../platform/mod.ts";

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
  platform().setReceiveBuffer((await resolveSocket(socket)).fd, 4 * 1024);
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
