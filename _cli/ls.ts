/**
 * `sockbuf ls`: every TCP socket's send buffer on this host, as a table or JSON.
 *
 * @module
 */
import { EXIT, out, parseFlags, style, UsageError } from "./common.ts";
import { writeStdoutBytes } from "./host.ts";
import { LIST_FLAGS, LIST_HELP, listFor, listOptions, render, writeJsonFor } from "./list_view.ts";

const USAGE = `Usage: sockbuf ls [flags]

Every TCP socket's send buffer on this host (Linux), sorted by unsent bytes: size,
queued (Send-Q), unsent, unacked segments, congestion window, RTT and process.

${LIST_HELP}
  --tcp-info      with --json (required): add each socket's whole tcp_info
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
  // The table has no room for tcp_info's seventy-odd fields; saying so beats ignoring it.
  if (values["tcp-info"] && !values.json) throw new UsageError("--tcp-info needs --json");
  const o = listOptions(values);
  if (values.json && !values["tcp-info"] && !o.processes) {
    // One line, as `ip -j` prints, written from the kernel's replies without objects.
    writeJsonFor(o, writeStdoutBytes);
    out("\n");
    return EXIT.ok;
  }
  const entries = listFor(o, values["tcp-info"]);
  if (values.json) {
    out(JSON.stringify(entries));
    out("\n");
  } else {
    out(`${render(entries, style(), o.sort).join("\n")}\n`);
  }
  return await Promise.resolve(EXIT.ok);
}
