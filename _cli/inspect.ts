/**
 * `sockbuf inspect PID:FD`: one socket of another process.
 *
 * @module
 */
import { inspectProcessSocket } from "../list.ts";
import { bytes, EXIT, out, parseFlags, quote, table, UsageError } from "./common.ts";

const USAGE = `Usage: sockbuf inspect PID:FD [--json]

The send buffer of the TCP socket that process PID holds on fd FD (Linux 5.6+): the
socket is duplicated into sockbuf with pidfd_getfd, read, and the duplicate closed.
This needs ptrace rights over PID: root (CAP_SYS_PTRACE), or the same user where
/proc/sys/kernel/yama/ptrace_scope allows it. "sockbuf ls" shows each socket's PID and
fd numbers are in /proc/PID/fd.

  --json   the snapshot as JSON, exact byte counts
  --help   this text

Exit codes: 0 ok, 1 failure (no such process or fd, not a TCP socket, no ptrace rights),
2 usage.`;

/** Runs `sockbuf inspect`. */
export async function inspectCommand(args: string[]): Promise<number> {
  const parsed = parseFlags(args, { json: { type: "boolean", default: false } }, true);
  if (!parsed) {
    out(`${USAGE}\n`);
    return EXIT.ok;
  }
  const [target, ...extra] = parsed.positionals;
  const m = /^([0-9]{1,10}):([0-9]{1,10})$/.exec(target ?? "");
  if (!m || extra.length) {
    throw new UsageError(
      `expected one PID:FD argument, such as 1234:5, got ${quote(parsed.positionals.join(" "))}`,
    );
  }
  const buf = await inspectProcessSocket(Number(m[1]), Number(m[2]));
  if (parsed.values.json) {
    out(`${JSON.stringify({ pid: Number(m[1]), fd: Number(m[2]), ...buf })}\n`);
    return EXIT.ok;
  }
  const exact = (n: number | undefined) => (n === undefined ? "-" : `${bytes(n)} (${n} bytes)`);
  const rows = [
    ["state", buf.state.toLowerCase().replaceAll("_", "-")],
    ["size", exact(buf.size)],
    ["queued", exact(buf.queued)],
    ["unacked", `${exact(buf.unackedBytes)}, ${buf.unackedSegments ?? "-"} segments`],
    ["unsent", exact(buf.unsent)],
    ["free", exact(buf.free)],
  ];
  out(`${target}\n${table(rows, ["left", "left"]).map((l) => `  ${l}`).join("\n")}\n`);
  return EXIT.ok;
}
