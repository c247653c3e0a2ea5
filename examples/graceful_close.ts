/**
 * A graceful close: send a payload, wait with `drained()` until the peer has acknowledged
 * every byte, and only then close. Closing earlier is where data gets lost: a close with
 * unread data in the receiver, or a process that exits with bytes still queued, ends the
 * connection with a reset. Starts a server and a slow client, prints what happened, exits.
 *
 *   deno run --allow-ffi --allow-net examples/graceful_close.ts
 *   bun examples/graceful_close.ts
 *
 * @module
 */
import * as net from "node:net";
import { drained, inspect } from "../mod.ts";

const PAYLOAD = new Uint8Array(4 << 20).fill(0x2a); // 4 MiB

const server = net.createServer(async (socket) => {
  socket.write(PAYLOAD);
  const before = await inspect(socket);
  const above = socket.writableLength; // still in the runtime's own buffer
  const t0 = performance.now();
  const after = await drained(socket, { timeoutMs: 30_000 });
  const ms = (performance.now() - t0).toFixed(0);
  console.log(
    `server: ${before.queued} bytes queued in the kernel and ${above} in the runtime; ` +
      `all acknowledged after ${ms} ms (queued ${after.queued}, ${after.state}), closing`,
  );
  socket.end();
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

// The client reads 1 MiB at a time, 100 ms apart: the payload takes about half a second.
const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
let received = 0;
client.on("data", (chunk: Uint8Array) => {
  received += chunk.length;
  if (received % (1 << 20) < chunk.length) {
    client.pause();
    setTimeout(() => client.resume(), 100);
  }
});
await new Promise((resolve) => client.once("end", resolve));
console.log(`client: received ${received} of ${PAYLOAD.length} bytes, then the server's FIN`);
client.destroy();
server.close();
if (received !== PAYLOAD.length) throw new Error("bytes were lost");
