/**
 * A `Deno.serve` route that streams timestamped readings to a slow client with
 * `lowLatencyBody`: at most `lowat` unsent bytes wait in the kernel, and stale readings are
 * dropped, so the client always sees recent data. Starts, serves one slow client for two
 * seconds, prints what each side saw, and exits.
 *
 *   deno run --allow-ffi --allow-net examples/deno_stream.ts
 *
 * @module
 */
import { inspect, lowLatencyBody } from "../mod.ts";
import { slowClient } from "./_slow_client.ts";

const LOWAT = 4 * 1024;
let report = "";
let finished: Promise<void> = Promise.resolve();

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_request, info) => {
  const { readable, writable } = lowLatencyBody({ server, info }, { lowat: LOWAT, latest: true });
  finished = (async () => {
    const writer = writable.getWriter();
    let maxUnsent = 0;
    try {
      // Ten readings per timer tick, each a line of about 200 bytes starting with its time:
      // far more than the client takes.
      for (let i = 0;; i++) {
        await writer.write(new TextEncoder().encode(`${Date.now()} reading ${i} ${"x".repeat(160)}\n`));
        if (i % 10 === 0) {
          maxUnsent = Math.max(maxUnsent, (await inspect({ server, info })).unsent ?? 0);
          await new Promise((resolve) => setTimeout(resolve, 1));
        }
      }
    } catch {
      // The client went away: the body was cancelled.
    } finally {
      report = `server: ${writable.sent} readings sent, ${writable.dropped} dropped, ` +
        `at most ${maxUnsent} bytes unsent in the kernel (lowat ${LOWAT})`;
    }
  })();
  return new Response(readable, {
    headers: { "content-type": "text/plain", "cache-control": "no-transform" },
  });
});

const seen = await slowClient(server.addr.port, 2, 32 * 1024);
await server.shutdown();
await finished;
console.log(report);
console.log(`client: ${seen.lines} readings in ${seen.bytes} bytes; the newest was ${seen.lastAgeMs} ms old`);
