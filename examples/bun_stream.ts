/**
 * A `Bun.serve` route that streams timestamped readings to a slow client with
 * `lowLatencyBody`: at most `lowat` unsent bytes wait in the kernel, and stale readings are
 * dropped, so the client always sees recent data. Starts, serves one slow client for two
 * seconds, prints what each side saw, and exits.
 *
 *   bun examples/bun_stream.ts
 *
 * @module
 */
/// <reference types="npm:bun-types" />
import { inspect, lowLatencyBody } from "../mod.ts";
import { slowClient, writeReadings } from "./_streaming.ts";

const LOWAT = 4 * 1024;
let report: Promise<string> = Promise.resolve("");

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(request, server) {
    const { readable, writable } = lowLatencyBody({ server, request }, { lowat: LOWAT, latest: true });
    report = writeReadings(writable, () => inspect({ server, request }), LOWAT);
    return new Response(readable, {
      headers: { "content-type": "text/plain", "cache-control": "no-transform" },
    });
  },
});

const seen = await slowClient(server.port!, 2, 32 * 1024);
server.stop(true);
console.log(await report);
console.log(`client: ${seen.lines} readings in ${seen.bytes} bytes; the newest was ${seen.lastAgeMs} ms old`);
