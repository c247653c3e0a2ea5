/**
 * `sockbuf export`: a long-running HTTP endpoint serving the host's TCP send buffers in the
 * Prometheus text format at `/metrics` (node:http, so it runs the same under Deno and Bun).
 *
 * @module
 */
import { createServer } from "node:http";
import { metricsHandler } from "../metrics/mod.ts";
import { EXIT, intFlag, out, parseFlags, quote, UsageError } from "./common.ts";
import { writeStderr } from "./host.ts";

const USAGE = `Usage: sockbuf export [flags]

Serves the host's TCP sockets as Prometheus metrics at http://HOST:PORT/metrics (Linux):
sockets and queued, unsent and unacked bytes by state and by listening port, a histogram
of unsent bytes, and the connections with the most unsent bytes (local and peer
addresses, process, RTT, and from their second scrape what limited each since the previous
one: application, sender-buffer, receiver or network). Each scrape takes one netlink
listing; concurrent scrapes share it.

The endpoint reveals connection addresses (and process names with --processes): it binds
loopback unless --listen says otherwise.

  --listen HOST:PORT  where to listen (default 127.0.0.1:9464; [::1]:9464 for IPv6)
  --top N             connections listed one by one, worst by unsent bytes (default 20)
  --processes         read each socket's process (/proc): per-process families and labels
  --help              this text

Runs until interrupted. Exit codes: 0 ok, 1 failure (cannot listen), 2 usage.`;

/** `HOST:PORT` → its parts, or a UsageError naming --listen. */
function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]+)$/.exec(text);
  if (!m) throw new UsageError(`--listen must be HOST:PORT (IPv6 as [ADDR]:PORT), got ${quote(text)}`);
  return { host: m[1] ?? m[2], port: intFlag("listen", m[3], 0, 65535) };
}

/** Runs `sockbuf export`. */
export async function exportCommand(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    listen: { type: "string", default: "127.0.0.1:9464" },
    top: { type: "string", default: "20" },
    processes: { type: "boolean", default: false },
  });
  if (!parsed) {
    out(`${USAGE}\n`);
    return EXIT.ok;
  }
  const { host, port } = parseListen(parsed.values.listen);
  const top = intFlag("top", parsed.values.top, 0, 10000);
  const handle = metricsHandler({ top, processes: parsed.values.processes });
  const server = createServer(async (req, res) => {
    try {
      const response = await handle(
        new Request(`http://localhost${req.url ?? "/"}`, {
          method: req.method === "HEAD" ? "HEAD" : req.method === "GET" ? "GET" : "POST",
        }),
      );
      const headers: Record<string, string> = {};
      response.headers.forEach((v, k) => headers[k] = v);
      const body = req.method === "HEAD" ? "" : await response.text();
      res.writeHead(response.status, headers);
      res.end(body);
    } catch (err) {
      res.writeHead(500).end(`${err instanceof Error ? err.message : String(err)}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  }).catch((err: Error) => {
    throw new Error(`cannot listen on ${quote(parsed.values.listen)}: ${err.message}`);
  });
  const address = server.address();
  const shown = typeof address === "object" && address
    ? (address.family === "IPv6"
      ? `[${address.address}]:${address.port}`
      : `${address.address}:${address.port}`)
    : parsed.values.listen;
  writeStderr(`sockbuf export: serving http://${shown}/metrics\n`);
  await new Promise<void>(() => {});
  return EXIT.ok;
}
