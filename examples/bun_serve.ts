/**
 * Inspect the connection behind a `Bun.serve` request: pass the server and the request.
 * Starts, serves one request to itself, prints that connection's snapshot, exits.
 *
 *   bun examples/bun_serve.ts
 *
 * @module
 */
/// <reference types="npm:bun-types" />
import { inspect } from "../mod.ts";

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request, server) {
    const buf = await inspect({ server, request });
    return Response.json(buf);
  },
});

const response = await fetch(`http://127.0.0.1:${server.port}/`);
console.log("Bun.serve request's send buffer:", await response.json());
server.stop(true);
