/**
 * Inspect the connection behind a `Deno.serve` request: pass the server and the handler's
 * `info`. Starts, serves one request to itself, prints that connection's snapshot, exits.
 *
 *   deno run --allow-ffi --allow-net examples/deno_serve.ts
 *
 * @module
 */
import { inspect } from "../mod.ts";

const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (_request, info) => {
  const buf = await inspect({ server, info });
  return Response.json(buf);
});

const response = await fetch(`http://127.0.0.1:${server.addr.port}/`);
console.log("Deno.serve request's send buffer:", await response.json());
await server.shutdown();
