/**
 * `sockbuf ls`: every TCP socket's send buffer on this host, as a table or JSON.
 *
 * @module
 */
import { EXIT, out, outSync, parseFlags, style } from "./common.ts";
import { LIST_FLAGS, LIST_HELP, listFor, listOptions, render } from "./sockets.ts";

const USAGE = `Usage: sockbuf ls [flags]

Every TCP socket's send buffer on this host (Linux), sorted by unsent bytes: size,
queued (Send-Q), unsent, unacked segments, congestion window, RTT and process.

${LIST_HELP}
  --tcp-info      with --json: add each socket's whole tcp_info
  --json          a JSON array, exact byte counts (size, queued, unsent, unackedBytes in
                  bytes; unackedSegments and cwndSegments in segments; rttMicros in µs)
  --help          this text

Other users' processes are found only as root. Exit codes: 0 ok, 1 failure, 2 usage.`;

/** Runs `sockbuf ls`. */
export async function ls(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    ...LIST_FLAGS,
    json: { type: "boolean", default: false },
    "tcp-info": { type: "boolean", default: false },
  });
  if (!parsed) {
    out(`${USAGE}\n`);
    return EXIT.ok;
  }
  const { values } = parsed;
  const o = listOptions(values);
  const entries = listFor(o, values["tcp-info"] && values.json);
  if (values.json) {
    // One JSON array, a socket per line, written a thousand sockets at a time.
    for (let i = 0; i < entries.length; i += 1000) {
      const piece = entries.slice(i, i + 1000).map((e) => JSON.stringify(e)).join(",\n");
      outSync(`${i ? ",\n" : "[\n"}${piece}`);
    }
    outSync(entries.length ? "\n]\n" : "[]\n");
  } else {
    out(`${render(entries, style(), o.sort).join("\n")}\n`);
  }
  return await Promise.resolve(EXIT.ok);
}
