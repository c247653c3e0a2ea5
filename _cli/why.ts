/**
 * `sockbuf why`: what limits each connection now (the application, the send buffer, the
 * receiver or the network) and how long a byte written now waits, every interval.
 *
 * Every target is read through the netlink listing (`tcp_info` of each socket, as `ss -ti`
 * reads it), so no ptrace rights are needed: `PID:FD` is found by the socket's inode in
 * `/proc/PID/fd`, then followed by its cookie.
 *
 * @module
 */
import { readlinkSync } from "node:fs";
import process from "node:process";
import { diagnoseBetween, type Diagnosis } from "../diagnose.ts";
import { listSocketsSync } from "../list.ts";
import type { LinuxTcpInfo, SocketEntry } from "../types.ts";
import {
  EXIT,
  intFlag,
  isTty,
  out,
  parseFlags,
  printable,
  quote,
  type Style,
  style,
  table,
  UsageError,
} from "./common.ts";
import { FullScreen, Pause } from "./terminal.ts";
import { cut } from "./top.ts";

const USAGE = `Usage: sockbuf why (PID:FD | --port N | --pid N) [flags]

What limits each TCP connection now (Linux 4.10+), from the change over each interval
of the kernel's busy, rwnd_limited and sndbuf_limited times (what ss -ti shows as
totals since the connection opened):

  application    nothing to send (the connection was idle)
  sender-buffer  the send buffer was full, everything in it sent (SO_SNDBUF too small)
  receiver       the peer's receive window stopped sending (a slow or stalled reader)
  network        busy and limited by neither: congestion window, pacing, a bottleneck

The verdict is the largest share. UNSENT-MS is about how long a byte written now waits
until acknowledged: unsent bytes at the delivery rate, plus one RTT. Reads every socket
through netlink, as ss does: no ptrace rights needed. On a terminal it redraws like top
(q or Ctrl-C quits); otherwise it prints a table every interval.

Targets (exactly one):
  PID:FD          the socket process PID holds on fd FD
  --port N        every established connection with port N at either end
  --pid N         every established connection process N holds

  --interval MS   measure over MS milliseconds (default 1000, at least 100)
  --count N       stop after N intervals
  --json          one line per connection per interval: { local, peer, verdict,
                  fractions: { application, senderBuffer, receiver, network },
                  deliveryRate (bytes/s), rttMs, unsentMs, retransmittedBytes }
  --help          this text

Exit codes: 0 ok, 1 failure (no such process, fd or TCP socket), 2 usage.`;

/** What to list each interval. */
type Target =
  | { kind: "socket"; pid: number; fd: number; cookie: number; local: number; peer: number }
  | { kind: "port"; port: number }
  | { kind: "pid"; pid: number };

/** Runs `sockbuf why`. */
export async function why(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    port: { type: "string" },
    pid: { type: "string" },
    interval: { type: "string", default: "1000" },
    count: { type: "string" },
    json: { type: "boolean", default: false },
  }, true);
  if (!parsed) {
    out(`${USAGE}\n`);
    return EXIT.ok;
  }
  const { values, positionals } = parsed;
  const given = [positionals.length > 0, values.port !== undefined, values.pid !== undefined].filter(Boolean);
  if (given.length !== 1 || positionals.length > 1) {
    throw new UsageError(`expected exactly one target: PID:FD, --port N or --pid N (got ${given.length})`);
  }
  const interval = intFlag("interval", values.interval, 100, 3_600_000);
  const count = values.count === undefined ? Infinity : intFlag("count", values.count, 1, 2 ** 31 - 1);
  const target: Target = values.port !== undefined
    ? { kind: "port", port: intFlag("port", values.port, 0, 65535) }
    : values.pid !== undefined
    ? { kind: "pid", pid: intFlag("pid", values.pid, 1, 2 ** 31 - 1) }
    : findSocket(positionals[0]);

  let quit = false;
  const pause = new Pause();
  const stop = () => {
    quit = true;
    pause.wake();
  };
  const screen = isTty() && !values.json
    ? new FullScreen((key) => {
      if (key === "q" || key === "Q" || key === "\x03" || key === "\x1c") stop();
    })
    : undefined;
  if (!screen) process.on("SIGINT", stop);
  try {
    let previous = sample(target);
    if (screen) draw(screen, target, interval, [], "measuring…");
    for (let n = 0; n < count && !quit;) {
      await pause.sleep(interval);
      if (quit) break;
      const current = sample(target);
      const rows = compare(previous, current);
      previous = current;
      n++;
      if (values.json) {
        for (const r of rows) out(`${JSON.stringify(jsonLine(r))}\n`);
      } else if (screen) {
        draw(screen, target, interval, rows);
      } else {
        out(
          `${n > 1 ? "\n" : ""}${heading(target, interval, rows.length)}\n${
            render(rows, style()).join("\n")
          }\n`,
        );
      }
      if (target.kind === "socket" && rows.length === 0 && !current.entries.size) {
        throw new Error(`the socket ${target.pid}:${target.fd} has closed`);
      }
    }
  } finally {
    screen?.close();
    process.off("SIGINT", stop);
  }
  return EXIT.ok;
}

/** The socket of `PID:FD`, found by its inode, then identified by its never-reused cookie. */
function findSocket(text: string): Target {
  const m = /^([0-9]{1,10}):([0-9]{1,10})$/.exec(text);
  if (!m) throw new UsageError(`expected PID:FD, such as 1234:5, got ${quote(text)}`);
  const [pid, fd] = [intFlag("PID", m[1], 1, 2 ** 31 - 1), intFlag("FD", m[2], 0, 2 ** 31 - 1)];
  let link: string;
  try {
    link = readlinkSync(`/proc/${pid}/fd/${fd}`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new Error(
      code === "ENOENT"
        ? `no fd ${fd} in process ${pid} (no such process, or no such fd)`
        : `cannot read /proc/${pid}/fd/${fd}: ${
          code ?? (err as Error).message
        } (root or the same user is needed)`,
    );
  }
  const inode = /^socket:\[([0-9]+)\]$/.exec(link);
  if (!inode) throw new Error(`fd ${fd} of process ${pid} is not a socket: ${printable(quote(link), false)}`);
  const entry = listSocketsSync().find((e) => e.inode === Number(inode[1]));
  if (!entry) throw new Error(`fd ${fd} of process ${pid} is not a TCP socket`);
  return { kind: "socket", pid, fd, cookie: entry.cookie, local: entry.local.port, peer: entry.peer.port };
}

/** One listing: each connection's entry by cookie, and when it was read. */
interface Sample {
  at: number;
  entries: Map<number, SocketEntry>;
}

function sample(target: Target): Sample {
  const at = performance.now();
  let list: SocketEntry[];
  if (target.kind === "socket") {
    list = listSocketsSync({ port: { local: target.local, peer: target.peer }, tcpInfo: true })
      .filter((e) => e.cookie === target.cookie);
  } else if (target.kind === "port") {
    list = listSocketsSync({ states: ["ESTABLISHED"], port: target.port, tcpInfo: true });
  } else {
    list = listSocketsSync({ states: ["ESTABLISHED"], tcpInfo: true, processes: true })
      .filter((e) => e.processes?.some((p) => p.pid === target.pid));
  }
  return { at, entries: new Map(list.map((e) => [e.cookie, e])) };
}

/** A connection seen at both ends of the interval, and what the interval says about it. */
interface Row {
  entry: SocketEntry;
  d: Diagnosis;
}

function compare(a: Sample, b: Sample): Row[] {
  const rows: Row[] = [];
  for (const [cookie, entry] of b.entries) {
    const before: LinuxTcpInfo | undefined = a.entries.get(cookie)?.tcpInfo;
    if (!before || !entry.tcpInfo) continue;
    rows.push({ entry, d: diagnoseBetween(before, entry.tcpInfo, b.at - a.at) });
  }
  // The slowest first: the largest wait for a byte written now.
  return rows.sort((x, y) =>
    (y.d.unsentMs ?? Infinity) - (x.d.unsentMs ?? Infinity) || x.entry.local.port - y.entry.local.port
  );
}

const endpoint = (a: { address: string; port: number }) =>
  a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;

/** The `--json` line, exactly the documented keys; a value the kernel did not give is `null`. */
function jsonLine({ entry, d }: Row) {
  const f = d.fractions;
  return {
    local: endpoint(entry.local),
    peer: endpoint(entry.peer),
    verdict: d.verdict,
    fractions: {
      application: f.application ?? null,
      senderBuffer: f.senderBuffer ?? null,
      receiver: f.receiver ?? null,
      network: f.network ?? null,
    },
    deliveryRate: d.deliveryRate ?? null,
    rttMs: d.rttMs ?? null,
    unsentMs: d.unsentMs ?? null,
    retransmittedBytes: d.retransmittedBytes ?? null,
  };
}

const pct = (f: number | undefined) => (f === undefined ? "-" : `${Math.round(f * 100)}%`);
const msText = (v: number | undefined) =>
  v === undefined ? "-" : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`;
function rate(bps: number | undefined): string {
  if (bps === undefined) return "-";
  const bits = bps * 8;
  if (bits >= 1e9) return `${(bits / 1e9).toFixed(1)} Gbit/s`;
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(1)} Mbit/s`;
  return `${(bits / 1e3).toFixed(0)} kbit/s`;
}

const HEAD = [
  "LOCAL",
  "PEER",
  "VERDICT",
  "APP",
  "SNDBUF",
  "RWND",
  "NET",
  "RATE",
  "RTT",
  "UNSENT-MS",
  "RETRANS",
];

/** The table: one row per connection. */
function render(rows: Row[], s: Style): string[] {
  const colour: Record<Diagnosis["verdict"], (t: string) => string> = {
    application: s.green,
    "sender-buffer": s.yellow,
    receiver: s.red,
    network: s.yellow,
    unknown: s.dim,
  };
  const body = rows.map(({ entry, d }) => [
    endpoint(entry.local),
    endpoint(entry.peer),
    colour[d.verdict](d.verdict),
    pct(d.fractions.application),
    pct(d.fractions.senderBuffer),
    pct(d.fractions.receiver),
    pct(d.fractions.network),
    rate(d.deliveryRate),
    msText(d.rttMs),
    msText(d.unsentMs),
    d.retransmittedBytes === undefined ? "-" : `${d.retransmittedBytes} B`,
  ]);
  const align = HEAD.map((_, i) => (i < 3 ? "left" : "right") as "left" | "right");
  return table([HEAD.map((h) => s.bold(h)), ...body], align);
}

function heading(target: Target, interval: number, n: number): string {
  const what = target.kind === "socket"
    ? `${target.pid}:${target.fd}`
    : target.kind === "port"
    ? `port ${target.port}`
    : `pid ${target.pid}`;
  return `sockbuf why  ${new Date().toTimeString().slice(0, 8)}  ${what}  ${n} connection${
    n === 1 ? "" : "s"
  }  over ${interval} ms`;
}

function draw(screen: FullScreen, target: Target, interval: number, rows: Row[], note = ""): void {
  const { columns, rows: height } = screen.size;
  const s = style();
  const lines = [
    s.inverse(`${heading(target, interval, rows.length)}  (q quit)`.padEnd(columns).slice(0, columns)),
    "",
    ...(note ? [note] : render(rows.slice(0, Math.max(0, height - 3)), s).map((l) => cut(l, columns))),
  ];
  screen.draw(lines);
}
