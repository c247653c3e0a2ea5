/**
 * Watch a TCP send buffer, live: a loopback reader that takes a fixed number of bytes per
 * second through a small receive buffer (a slow client), and a writer that sends 1 KiB
 * timestamped messages as fast as the socket accepts them. Two phases, a fresh connection
 * each:
 *
 * - `default`: plain `write()`, honouring its return value and `'drain'`. The kernel queues
 *   megabytes, and every message waits behind them.
 * - `lowat`: {@linkcode lowLatencyWriter} with `TCP_NOTSENT_LOWAT` and latest-value-wins:
 *   little waits in the kernel, stale messages are dropped, and what arrives is fresh.
 *
 * In a terminal it redraws the buffer ten times a second; otherwise it prints a plain line
 * every 500 ms (`--json`: a JSON object per snapshot). It ends with a summary of both phases.
 *
 * Run as `sockbuf demo [--seconds 5] [--rate 262144] [--lowat 16384] [--json]`.
 *
 * @module
 */
import * as net from "node:net";
import process from "node:process";
import { setImmediate } from "node:timers";
import { setDefaultHighWaterMark } from "node:stream";
import { type LowLatencyWriter, lowLatencyWriter, type SendBuffer, watch } from "../mod.ts";
import { INT_MAX } from "../_args.ts";
import { setReceiveBuffer, unconnectedFd } from "../_testing.ts";
import { out, parseFlags, quote, UsageError } from "./common.ts";

export const DEMO_USAGE = `Usage: sockbuf demo [--seconds N] [--rate BYTES] [--lowat BYTES] [--json] [--help]

Watch a TCP send buffer (unacked + unsent + free) while a slow loopback reader takes
--rate bytes per second, first with plain writes, then with lowLatencyWriter().

  --seconds N     length of each phase, in seconds (default 5)
  --rate BYTES    the reader's rate, in bytes per second (default 262144 = 256 KiB/s)
  --lowat BYTES   TCP_NOTSENT_LOWAT for the second phase (default 16384)
  --json          one JSON object per snapshot, then a JSON summary
  --help          this text`;

/** Each message: its send time (performance.now(), float64 LE) in the first 8 bytes. */
const MESSAGE = 1024;
/** The reader's receive buffer, set on the listening socket so accepted sockets inherit it. */
const RCVBUF = 16 * 1024;
/**
 * Readable streams read ahead of their consumer up to their high-water mark, 64 KiB by
 * default, and accepted node:net sockets take no per-socket option: lower the default, so
 * the slow reader's runtime does not hide a queue of its own (set before the sockets exist).
 */
const HIGH_WATER_MARK = 4 * 1024;
const TICK_MS = 10;

// ---------------------------------------------------------------------------------------
// Flags

interface Options {
  seconds: number;
  rate: number;
  lowat: number;
  json: boolean;
}

function parseOptions(args: string[]): Options | undefined {
  const parsed = parseFlags(args, {
    seconds: { type: "string", default: "5" },
    rate: { type: "string", default: "262144" },
    lowat: { type: "string", default: "16384" },
    json: { type: "boolean", default: false },
  });
  if (!parsed) return undefined;
  const { values } = parsed;
  const number = (flag: string, text: string, ok: (n: number) => boolean, what: string) => {
    const n = text.trim() === "" ? NaN : Number(text);
    if (!ok(n)) throw new UsageError(`--${flag} must be ${what}, got ${quote(text)}`);
    return n;
  };
  const int = (min: number, max: number) => (n: number) => Number.isInteger(n) && n >= min && n <= max;
  return {
    seconds: number(
      "seconds",
      values.seconds,
      (n) => Number.isFinite(n) && n >= 0.2 && n <= 3600,
      "a number of seconds from 0.2 to 3600",
    ),
    rate: number(
      "rate",
      values.rate,
      int(MESSAGE, 2 ** 30),
      `an integer number of bytes per second from ${MESSAGE} to ${2 ** 30}`,
    ),
    lowat: number("lowat", values.lowat, int(1, INT_MAX), `an integer number of bytes from 1 to ${INT_MAX}`),
    json: values.json,
  };
}

// ---------------------------------------------------------------------------------------
// The reader's receive buffer

// ---------------------------------------------------------------------------------------
// One phase: a fresh connection, a rate-limited reader, a writer, snapshots

type PhaseName = "default" | "lowat";

/** One snapshot, as printed with --json. */
interface Snapshot {
  phase: PhaseName;
  t: number;
  size: number;
  queued: number;
  unsent: number | null;
  unackedBytes: number | null;
  free: number;
  ageMs: number | null;
  dropped: number;
}

interface PhaseResult {
  phase: PhaseName;
  lowat: number | null;
  seconds: number;
  snapshots: Snapshot[];
  sent: number;
  received: number;
  dropped: number;
}

/**
 * The slow client: takes `rate` bytes per second on average. A token bucket: while it has
 * credit the socket flows; each chunk that arrives is consumed at once and paid for, and
 * once the credit is spent the socket pauses until the ticks have earned it back. Bytes are
 * only counted, never kept: message k starts at stream offset k × MESSAGE, and its age is
 * taken when its last byte arrives; each snapshot shows the mean age since the last one.
 */
class Reader {
  #socket: net.Socket;
  #rate: number;
  #arrived = 0;
  #credit = 0;
  #last = performance.now();
  #stamp = new Uint8Array(8);
  #stampView = new DataView(this.#stamp.buffer);
  #sentAt = 0;
  #timer: ReturnType<typeof setInterval>;
  #paused = true;
  received = 0;
  #ageSum = 0;
  #ageCount = 0;
  #ageMs: number | undefined;

  constructor(socket: net.Socket, rate: number) {
    this.#socket = socket;
    this.#rate = rate;
    socket.on("data", (chunk: Uint8Array) => this.#arrive(chunk));
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  #arrive(chunk: Uint8Array): void {
    const now = performance.now();
    for (let i = 0; i < chunk.length;) {
      const off = (this.#arrived + i) % MESSAGE;
      if (off < 8) {
        const take = Math.min(8 - off, chunk.length - i);
        this.#stamp.set(chunk.subarray(i, i + take), off);
        if (off + take === 8) this.#sentAt = this.#stampView.getFloat64(0, true);
        i += take;
      } else {
        const take = Math.min(MESSAGE - off, chunk.length - i);
        i += take;
        if (off + take === MESSAGE) {
          this.received++;
          this.#ageSum += now - this.#sentAt;
          this.#ageCount++;
        }
      }
    }
    this.#arrived += chunk.length;
    this.#credit -= chunk.length;
    if (this.#credit <= 0 && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  #tick(): void {
    const now = performance.now();
    // At most 50 ms of credit saved up, so an idle reader does not burst later.
    this.#credit = Math.min(this.#credit + (this.#rate * (now - this.#last)) / 1000, this.#rate / 20);
    this.#last = now;
    if (this.#credit > 0 && this.#paused) {
      this.#paused = false;
      this.#socket.resume();
    }
  }

  /**
   * The mean age, in ms, of the messages received since the last call (or the last mean, if
   * none came in between); `undefined` before the first message.
   */
  takeAge(): number | undefined {
    if (this.#ageCount > 0) this.#ageMs = this.#ageSum / this.#ageCount;
    this.#ageSum = this.#ageCount = 0;
    return this.#ageMs;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

/** A message stamped with the time it is written. */
function message(): Uint8Array {
  const m = new Uint8Array(MESSAGE);
  new DataView(m.buffer).setFloat64(0, performance.now(), true);
  return m;
}

/** Resolves on the event, or at once when `signal` aborts; leaves no listener behind. */
function until(emitter: net.Socket, events: string[], signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      for (const e of events) emitter.off(e, done);
      signal.removeEventListener("abort", done);
      resolve();
    };
    for (const e of events) emitter.once(e, done);
    signal.addEventListener("abort", done, { once: true });
  });
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Phase 1: plain writes, as fast as node:net takes them. Returns the messages written. */
async function writePlain(socket: net.Socket, signal: AbortSignal): Promise<number> {
  let sent = 0;
  while (!signal.aborted && !socket.destroyed) {
    sent++;
    if (!socket.write(message())) await until(socket, ["drain", "close"], signal);
    else if (sent % 64 === 0) await nextTurn(); // let the loop breathe while the kernel takes everything
  }
  return sent;
}

/**
 * Phase 2: the writer never waits for the socket (latest wins), so the source sets the pace:
 * a fresh message every millisecond, about four times what the default reader takes.
 */
async function writeLowLatency(stream: LowLatencyWriter, signal: AbortSignal): Promise<void> {
  const writer = stream.getWriter();
  try {
    while (!signal.aborted) {
      await writer.write(message());
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  } finally {
    await writer.abort().catch(() => {});
  }
}

async function runPhase(
  phase: PhaseName,
  options: Options,
  stop: AbortSignal,
  show: (s: Snapshot) => void,
): Promise<PhaseResult> {
  const peers: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (s) => {
    s.on("error", () => {}); // the writer's reset at the end of the phase
    peers.push(s);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const port = (server.address() as net.AddressInfo).port;
  let client: net.Socket | undefined;
  let reader: Reader | undefined;
  const phaseStop = new AbortController();
  const onStop = () => phaseStop.abort();
  stop.addEventListener("abort", onStop, { once: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    setReceiveBuffer(unconnectedFd(port), RCVBUF);
    const socket = client = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    while (peers.length === 0) await new Promise((r) => setTimeout(r, 2));
    reader = new Reader(peers[0], options.rate);

    const started = performance.now();
    timer = setTimeout(() => phaseStop.abort(), options.seconds * 1000);
    let stream: LowLatencyWriter | undefined;
    let sent = 0;
    const writing = phase === "default"
      ? writePlain(socket, phaseStop.signal).then((n) => void (sent = n))
      : writeLowLatency(
        stream = lowLatencyWriter(socket, { lowat: options.lowat, latest: true }),
        phaseStop.signal,
      );

    const snapshots: Snapshot[] = [];
    for await (const b of watch(socket, { intervalMs: 100, signal: phaseStop.signal })) {
      const s = snapshot(phase, (performance.now() - started) / 1000, b, reader, stream?.dropped ?? 0);
      snapshots.push(s);
      show(s);
    }
    phaseStop.abort(); // the socket closed early
    await writing;
    return {
      phase,
      lowat: phase === "lowat" ? options.lowat : null,
      seconds: (performance.now() - started) / 1000,
      snapshots,
      sent: stream ? stream.sent : sent,
      received: reader.received,
      dropped: stream?.dropped ?? 0,
    };
  } finally {
    phaseStop.abort(); // the writer stops too when a write to stdout failed
    clearTimeout(timer);
    stop.removeEventListener("abort", onStop);
    reader?.stop();
    client?.destroy();
    for (const p of peers) p.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
}

function snapshot(phase: PhaseName, t: number, b: SendBuffer, reader: Reader, dropped: number): Snapshot {
  const ageMs = reader.takeAge();
  return {
    phase,
    t: Math.round(t * 1000) / 1000,
    size: b.size,
    queued: b.queued,
    unsent: b.unsent ?? null,
    unackedBytes: b.unackedBytes ?? null,
    free: b.free,
    ageMs: ageMs === undefined ? null : Math.round(ageMs * 10) / 10,
    dropped,
  };
}

// ---------------------------------------------------------------------------------------
// Output

const kib = (n: number | null) => (n === null ? "n/a" : (n / 1024).toFixed(0));
function bytes(n: number): string {
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}
function age(ms: number | null): string {
  if (ms === null) return "n/a";
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
const describePhase = (phase: PhaseName, o: Options) =>
  phase === "default"
    ? "plain write() and 'drain'"
    : `lowLatencyWriter, lowat ${bytes(o.lowat)}, latest wins`;

interface Style {
  unacked: (s: string) => string;
  unsent: (s: string) => string;
  free: (s: string) => string;
  bold: (s: string) => string;
  dim: (s: string) => string;
}
const sgr = (code: string) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
const PLAIN: Style = { unacked: String, unsent: String, free: String, bold: String, dim: String };
const COLOUR: Style = {
  unacked: sgr("33"),
  unsent: sgr("31"),
  free: sgr("32"),
  bold: sgr("1"),
  dim: sgr("2"),
};
const MARK = { unacked: "#", unsent: "=", free: "." };

/**
 * The seed's picture, to scale of `size`: unacked, then unsent, then free. A part too
 * small for a cell but not empty still gets one, so it never vanishes.
 */
function bar(s: Snapshot, width: number, style: Style): string {
  const cells = (n: number | null) => (n ? Math.max(1, Math.round((n * width) / Math.max(1, s.size))) : 0);
  const unacked = Math.min(width, cells(s.unackedBytes));
  const unsent = Math.min(width - unacked, cells(s.unsent));
  return style.unacked(MARK.unacked.repeat(unacked)) + style.unsent(MARK.unsent.repeat(unsent)) +
    style.free(MARK.free.repeat(width - unacked - unsent));
}

/** One plain line per snapshot, for logs and pipes. */
function plainLine(s: Snapshot): string {
  return `${s.phase.padEnd(7)} ${s.t.toFixed(1).padStart(5)} s [${bar(s, 32, PLAIN)}] size ${
    kib(s.size)
  } KiB` +
    ` queued ${kib(s.queued)} KiB unacked ${kib(s.unackedBytes)} KiB unsent ${kib(s.unsent)} KiB` +
    ` free ${kib(s.free)} KiB age ${age(s.ageMs)} dropped ${s.dropped}`;
}

/** The frame redrawn in place in a terminal; each line fits in 60 columns. */
function frame(s: Snapshot, o: Options, style: Style, columns: number): string[] {
  const width = Math.max(10, Math.min(56, columns - 4));
  const num = (n: number | null) => `${kib(n).padStart(5)} KiB`;
  const head = `${s.phase === "default" ? 1 : 2}/2 ${s.phase}`;
  const what = describePhase(s.phase, o);
  const gap = " ".repeat(Math.max(2, 46 - head.length - what.length));
  return [
    `${style.bold(head)}  ${what}${gap}${s.t.toFixed(1).padStart(4)} s / ${o.seconds} s`,
    `  [${bar(s, width, style)}]`,
    `  ${style.unacked(MARK.unacked)} unacked ${num(s.unackedBytes)}  ${style.unsent(MARK.unsent)} unsent ${
      num(s.unsent)
    }  ${style.free(MARK.free)} free ${num(s.free)}`,
    `  size ${num(s.size)}  queued ${num(s.queued)}  age ${age(s.ageMs).padStart(6)}  dropped ${s.dropped}`,
  ];
}

/** Draws frames in place: moves up over the previous frame's rows and clears each line. */
class Screen {
  #rows = 0;
  #style: Style;
  constructor(style: Style) {
    this.#style = style;
    out("\x1b[?25l"); // hide the cursor while redrawing
  }
  draw(lines: string[]): void {
    const columns = process.stdout.columns || 80;
    let text = this.#rows > 0 ? `\r\x1b[${this.#rows}A` : "\r";
    for (const line of lines) text += `\x1b[2K${line}\n`;
    out(text);
    // deno-lint-ignore no-control-regex -- strips the colours to measure the visible width
    const visible = (l: string) => l.replace(/\x1b\[[0-9;]*m/g, "").length;
    this.#rows = lines.reduce((rows, l) => rows + Math.max(1, Math.ceil(visible(l) / columns)), 0);
  }
  /** Leaves the last frame where it is; the next draw starts below it. */
  keep(): void {
    this.#rows = 0;
  }
  restore(): void {
    try {
      out("\x1b[0m\x1b[?25h");
    } catch {
      // the terminal is gone: nothing to restore
    }
  }
  get style(): Style {
    return this.#style;
  }
}

/** Averages over the final second of a phase (or its final half, if shorter). */
function tail(r: PhaseResult) {
  const end = r.snapshots.at(-1)?.t ?? 0;
  const from = Math.max(end - 1, end / 2);
  const last = r.snapshots.filter((s) => s.t >= from);
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return {
    queued: mean(last.map((s) => s.queued)),
    unsent: mean(last.flatMap((s) => (s.unsent === null ? [] : [s.unsent]))),
    ageMs: mean(last.flatMap((s) => (s.ageMs === null ? [] : [s.ageMs]))),
  };
}

function summaryLine(results: PhaseResult[]): string {
  return results.map((r) => {
    const t = tail(r);
    const name = r.phase === "lowat" ? `lowat ${bytes(r.lowat!)}` : r.phase;
    const dropped = r.phase === "lowat" ? ` (${r.dropped} dropped)` : "";
    return `${name}: ${t.queued === null ? "n/a" : bytes(t.queued)} queued, messages ${
      age(t.ageMs)
    } old${dropped}`;
  }).join("; ");
}

function summaryJson(results: PhaseResult[], o: Options, interrupted: boolean) {
  const round = (n: number | null) => (n === null ? null : Math.round(n));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null);
  return {
    summary: summaryLine(results),
    interrupted,
    rate: o.rate,
    rcvbuf: RCVBUF,
    messageBytes: MESSAGE,
    phases: results.map((r) => {
      const last = tail(r);
      return {
        phase: r.phase,
        lowat: r.lowat,
        seconds: Math.round(r.seconds * 1000) / 1000,
        snapshots: r.snapshots.length,
        meanQueued: round(mean(r.snapshots.map((s) => s.queued))),
        meanUnsent: round(mean(r.snapshots.flatMap((s) => (s.unsent === null ? [] : [s.unsent])))),
        /** Means over the final second, as in the summary line. */
        lastSecond: { queued: round(last.queued), unsent: round(last.unsent), ageMs: round(last.ageMs) },
        sent: r.sent,
        received: r.received,
        dropped: r.dropped,
      };
    }),
  };
}

// ---------------------------------------------------------------------------------------
// Main

/** Prints one line on stdout, as console.log would, but in order and failing on a closed pipe. */
const say = (line = "") => out(`${line}\n`);

/** Runs the demo with these flags; resolves to the exit code (a bad flag throws a UsageError). */
export async function demo(args: string[]): Promise<number> {
  // `deno task demo -- --seconds 3` passes the "--" through; npm and Bun do not.
  const options = parseOptions(args[0] === "--" ? args.slice(1) : args);
  if (!options) {
    say(DEMO_USAGE);
    return 0;
  }
  const o = options;
  setDefaultHighWaterMark(false, HIGH_WATER_MARK);
  const tty = !o.json && process.stdout.isTTY === true;
  const noColor = (process.env.NO_COLOR ?? "") !== "";
  const screen = tty ? new Screen(noColor ? PLAIN : COLOUR) : undefined;

  const stop = new AbortController();
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) {
      screen?.restore();
      process.exit(130); // a second Ctrl-C: do not wait for the clean-up
    }
    interrupted = true;
    stop.abort();
  };
  process.on("SIGINT", onSigint);

  try {
    const intro = [
      `a reader on loopback takes ${bytes(o.rate)}/s through a ${bytes(RCVBUF)} receive buffer;`,
      `the writer sends ${bytes(MESSAGE)} timestamped messages as fast as the socket takes them`,
    ];
    if (screen) {
      const st = screen.style;
      say(`${st.bold("sockbuf demo:")} ${intro[0]}\n${intro[1]}`);
      say(
        `size = ${st.unacked(`${MARK.unacked} unacked`)} (sent, not ACKed) + ${
          st.unsent(`${MARK.unsent} unsent`)
        } (not yet sent) + ${st.free(`${MARK.free} free`)}    ${st.dim("Ctrl-C stops")}\n`,
      );
    } else if (!o.json) {
      say(`sockbuf demo: ${intro.join(" ")}`);
      say(`legend: # unacked (sent, not ACKed)  = unsent (not yet sent)  . free`);
    }

    const results: PhaseResult[] = [];
    for (const phase of ["default", "lowat"] as const) {
      if (stop.signal.aborted) break;
      if (!screen && !o.json) say(`phase ${phase}: ${describePhase(phase, o)}, ${o.seconds} s`);
      let n = 0;
      const result = await runPhase(phase, o, stop.signal, (s) => {
        if (o.json) say(JSON.stringify(s));
        else if (screen) screen.draw(frame(s, o, screen.style, process.stdout.columns || 80));
        else if (n % 5 === 0) say(plainLine(s));
        n++;
      });
      screen?.keep();
      results.push(result);
      if (screen) say();
    }
    const line = summaryLine(results);
    if (o.json) say(JSON.stringify(summaryJson(results, o, interrupted)));
    else say(screen ? screen.style.bold(line) : line);
    if (interrupted && !o.json) say("(interrupted)");
    return interrupted ? 130 : 0;
  } finally {
    process.off("SIGINT", onSigint);
    screen?.restore();
  }
}
