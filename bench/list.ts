/**
 * Benchmark (not a test): the system-wide listing against `ss`, with many established
 * loopback connections held open.
 *
 *   deno run --allow-all bench/list.ts [--connections 10000] [--runs 7] [--cmd "argv …"]…
 *                                      [--ls deno,bun | --stages deno,bun]
 *   bun bench/list.ts [same options]
 *
 * Two child processes (started under `prlimit`, fd limit raised as far as allowed) hold the server and
 * the client ends, so N connections are 2N sockets on the host and this process holds none.
 * In the same run it times, as median wall time of `--runs` runs each:
 *   - `ss -tmi` and `ss -tmip`, as separate processes writing into a pipe;
 *   - this runtime printing the listing as JSON as a separate process (`--print`), with and
 *     without processes: what `sockbuf ls --json` does, minus its table code;
 *   - every `--cmd` (split on spaces, no shell), e.g. `--cmd "deno run -A cli.ts ls --json"`;
 *   - the in-process API: `listSocketsSync()` alone, and with `JSON.stringify`.
 *
 * With `--ls deno,bun` it times only the issue-14 goal instead: `ss -tmi` and, for each named
 * runtime from PATH, `sockbuf ls --json --no-processes` (cli.ts), interleaved run by run so a
 * change in machine load hits all of them alike, and prints one JSON row per runtime
 * `{ case, runtime, nsPerOp, cNsPerOp, ratio }` (the run with the median ratio to the `ss` run
 * before it; "C" is `ss`), as bench/cases.ts does. bench/main.ts runs this.
 * With `--stages deno,bun` it shows where such a run's time goes: `ss -tmi`, then for each
 * runtime the command cut short after each stage (bench/ls_stages.ts: the runtime alone, the
 * modules `ls` loads, the listing, the sorted JSON) and whole, interleaved the same way, as
 * cumulative medians with each stage's share.
 * The listing uses ss's default states for `-t` (all but LISTEN, SYN_RECV, TIME_WAIT, CLOSE),
 * so both report the same sockets; the counts are printed to check.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeSync } from "node:fs";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as net from "node:net";
import { runtimeName } from "../_runtime.ts";
import { listSocketsSync, type TcpState } from "../mod.ts";

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    connections: { type: "string", default: "10000" },
    runs: { type: "string", default: "7" },
    cmd: { type: "string", multiple: true, default: [] },
    role: { type: "string" },
    port: { type: "string" },
    print: { type: "boolean", default: false },
    processes: { type: "boolean", default: false },
    ls: { type: "string" },
    stages: { type: "string" },
  },
});

/** ss's default for -t: every state but LISTEN, SYN_RECV, TIME_WAIT and CLOSE. */
const SS_DEFAULT: TcpState[] = [
  "ESTABLISHED",
  "SYN_SENT",
  "FIN_WAIT_1",
  "FIN_WAIT_2",
  "CLOSE_WAIT",
  "LAST_ACK",
  "CLOSING",
  "NEW_SYN_RECV",
];

const isBun = runtimeName === "bun";
const self = fileURLToPath(import.meta.url);
/** argv to run this script again under the same runtime. */
const again = (
  ...args: string[]
) => [process.execPath, ...(isBun ? [] : ["run", "--allow-all"]), self, ...args];

/** Holds the server ends: prints the port, then keeps every accepted socket. */
async function serve(): Promise<void> {
  const held: net.Socket[] = [];
  const server = net.createServer((s) => held.push(s.on("error", () => {})));
  await new Promise<void>((r) => server.listen({ port: 0, host: "127.0.0.1", backlog: 4096 }, r));
  console.log((server.address() as net.AddressInfo).port);
}

/** Opens N connections to the port, in batches, then prints "ready" and holds them. */
async function connectAll(port: number, n: number): Promise<void> {
  const held: net.Socket[] = [];
  for (let i = 0; i < n;) {
    const batch = Math.min(200, n - i);
    await Promise.all(
      Array.from({ length: batch }, () =>
        new Promise<void>((resolve, reject) => {
          const s = net.connect(port, "127.0.0.1", () => resolve());
          s.once("error", reject);
          held.push(s);
        })),
    );
    i += batch;
  }
  console.log("ready");
}

/**
 * Starts this script in a role, with its fd limit raised to hold `fds` (`prlimit`, up to
 * the hard limit, which only root can raise), and waits for its first line.
 */
async function child(args: string[], fds: number): Promise<{ proc: ChildProcess; line: string }> {
  const [soft, hard] = spawnSync("prlimit", ["--nofile", "-o", "SOFT,HARD", "--noheadings", "--raw"], {
    encoding: "utf8",
  }).stdout.trim().split(/\s+/).map((x) => (x === "unlimited" ? Infinity : Number(x)));
  const want = Math.max(soft, Math.min(hard, 65536));
  if (want < fds) throw new Error(`each holder needs ${fds} fds; the hard limit is ${hard}`);
  const limit = want === Infinity ? "unlimited" : `${want}`;
  const proc = spawn("prlimit", [
    `--nofile=${limit}:${hard === Infinity ? "unlimited" : hard}`,
    ...again(...args),
  ], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).once("line", resolve);
    proc.once("exit", (code) => reject(new Error(`${args.join(" ")} exited with ${code}`)));
  });
  return { proc, line };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Median wall time of a command writing into a pipe, and its output's size. */
function timeCommand(argv: string[], runs: number): { ms: number; bytes: number; lines: number } {
  const times: number[] = [];
  let bytes = 0, lines = 0;
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    const r = spawnSync(argv[0], argv.slice(1), { maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "inherit"] });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`${argv.join(" ")} exited with ${r.status}`);
    if (i > 0) times.push(ms); // the first run warms caches
    bytes = r.stdout.length;
    lines = r.stdout.reduce((n: number, b: number) => n + (b === 10 ? 1 : 0), 0);
  }
  return { ms: median(times), bytes, lines };
}

function timeCall(call: () => unknown, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t0 = performance.now();
    call();
    if (i > 0) times.push(performance.now() - t0);
  }
  return median(times);
}

/** The goal's case name, as bench/main.ts keys its goals. */
const LS_CASE = "sockbuf ls --json --no-processes vs ss -tmi";

/**
 * `ss -tmi` and each runtime's `sockbuf ls --json --no-processes`, interleaved: one run of each
 * per round, the first round a warm-up. Prints a JSON row per runtime.
 */
function timeLs(runtimes: string[], runs: number, sockets: number): void {
  const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
  const argv: Record<string, string[]> = {
    deno: ["deno", "run", "--allow-all", cli, "ls", "--json", "--no-processes"],
    bun: ["bun", cli, "ls", "--json", "--no-processes"],
  };
  for (const r of runtimes) if (!argv[r]) throw new TypeError(`--ls: unknown runtime ${JSON.stringify(r)}`);
  const once = (cmd: string[]) => {
    const t0 = performance.now();
    const r = spawnSync(cmd[0], cmd.slice(1), { maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "inherit"] });
    const ms = performance.now() - t0;
    if (r.error) throw new Error(`${cmd[0]}: ${r.error.message}`);
    if (r.status !== 0) throw new Error(`${cmd.join(" ")} exited with ${r.status}`);
    return { ms, out: r.stdout as Uint8Array };
  };
  const rounds: Record<string, { ms: number; ss: number }[]> = {};
  for (let i = 0; i <= runs; i++) {
    for (const r of runtimes) {
      const ss = once(["ss", "-tmi"]);
      const ls = once(argv[r]);
      if (i === 0) {
        // ss prints a header line, then two lines per socket; ls one JSON array.
        const ssCount = (ss.out.reduce((n: number, b: number) => n + (b === 10 ? 1 : 0), 0) - 1) / 2;
        const lsCount = (JSON.parse(new TextDecoder().decode(ls.out)) as unknown[]).length;
        console.error(`${r}: sockbuf ls lists ${lsCount} sockets, ss -tmi ${ssCount} (${sockets} held)`);
        continue;
      }
      (rounds[r] ??= []).push({ ms: ls.ms, ss: ss.ms });
    }
  }
  for (const r of runtimes) {
    const sorted = rounds[r].sort((a, b) => a.ms / a.ss - b.ms / b.ss);
    const mid = sorted[sorted.length >> 1];
    console.log(JSON.stringify({
      case: LS_CASE,
      runtime: r,
      nsPerOp: Math.round(mid.ms * 1e6),
      cNsPerOp: Math.round(mid.ss * 1e6),
      ratio: Math.round((mid.ms / mid.ss) * 1000) / 1000,
    }));
  }
}

/**
 * `ss -tmi`, then each runtime's `sockbuf ls --json --no-processes` cut short after each stage
 * (bench/ls_stages.ts) and whole, one run of each per round, the first round a warm-up. Prints
 * cumulative medians and each stage's own share.
 */
function timeStages(runtimes: string[], runs: number): void {
  const stages = fileURLToPath(new URL("./ls_stages.ts", import.meta.url));
  const cli = fileURLToPath(new URL("../cli.ts", import.meta.url));
  const run: Record<string, string[]> = { deno: ["deno", "run", "--allow-all"], bun: ["bun"] };
  for (const r of runtimes) {
    if (!run[r]) throw new TypeError(`--stages: unknown runtime ${JSON.stringify(r)}`);
  }
  const names = [
    "start the runtime (nothing imported)",
    "load the modules `ls` loads",
    "list the sockets (dump, a record each)",
    "sort them and write their JSON (discarded)",
    "write it into the pipe: `sockbuf ls` itself",
  ];
  const steps = runtimes.flatMap((r) => [
    ...[0, 1, 2, 3].map((n) => ({ r, n, argv: [...run[r], stages, `${n}`] })),
    { r, n: 4, argv: [...run[r], cli, "ls", "--json", "--no-processes"] },
  ]);
  let lines = 0;
  const ms = (argv: string[]) => {
    const t0 = performance.now();
    const p = spawnSync(argv[0], argv.slice(1), { maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "inherit"] });
    if (p.status !== 0) throw new Error(`${argv.join(" ")} exited with ${p.status}`);
    if (argv[0] === "ss") lines = p.stdout.reduce((n: number, b: number) => n + (b === 10 ? 1 : 0), 0);
    return performance.now() - t0;
  };
  const ss: number[] = [];
  const times = steps.map(() => [] as number[]);
  for (let i = 0; i <= runs; i++) {
    const s = ms(["ss", "-tmi"]);
    const t = steps.map((step) => ms(step.argv));
    if (i === 0) continue;
    ss.push(s);
    t.forEach((x, k) => times[k].push(x));
  }
  const ssMs = median(ss);
  console.log(
    // ss prints a header line, then two lines per socket
    `ss -tmi on ${(lines - 1) / 2} sockets: ${ssMs.toFixed(0)} ms (0.80× is ${(ssMs * 0.8).toFixed(0)} ms);` +
      ` medians of ${runs} runs`,
  );
  for (const r of runtimes) {
    console.log(`\n${r.padEnd(46)} cumulative   this stage`);
    let before = 0;
    steps.forEach((step, k) => {
      if (step.r !== r) return;
      const m = median(times[k]);
      console.log(
        `  ${names[step.n].padEnd(44)} ${m.toFixed(0).padStart(5)} ms ${(m / ssMs).toFixed(2)}×` +
          `  ${(m - before).toFixed(0).padStart(5)} ms ${((m - before) / ssMs).toFixed(2)}×`,
      );
      before = m;
    });
  }
}

if (values.role === "server") {
  await serve();
} else if (values.role === "client") {
  await connectAll(Number(values.port), Number(values.connections));
} else if (values.print) {
  const json = JSON.stringify(listSocketsSync({ states: SS_DEFAULT, processes: values.processes }));
  const bytes = new TextEncoder().encode(json + "\n");
  for (let o = 0; o < bytes.length;) o += writeSync(1, bytes, o);
} else {
  const n = Number(values.connections);
  const runs = Number(values.runs);
  const runtime = isBun ? "bun" : "deno";
  const t0 = performance.now();
  const server = await child(["--role", "server"], n + 100);
  const client = await child(["--role", "client", "--port", server.line, "--connections", `${n}`], n + 100);
  // to stderr: stdout carries --ls's JSON rows
  console.error(`${n} connections open in ${((performance.now() - t0) / 1000).toFixed(1)} s (${runtime})`);
  try {
    if (values.ls !== undefined) {
      timeLs(values.ls.split(",").filter(Boolean), runs, 2 * n);
    } else if (values.stages !== undefined) {
      timeStages(values.stages.split(",").filter(Boolean), runs);
    } else {
      const ours = listSocketsSync({ states: SS_DEFAULT });
      const rows: [string, number, string][] = [];
      const ss = timeCommand(["ss", "-tmi"], runs);
      const ssp = timeCommand(["ss", "-tmip"], runs);
      // ss prints a header line, then two lines per socket
      console.log(`sockets: ours ${ours.length}, ss -tmi ${(ss.lines - 1) / 2}`);
      rows.push(["ss -tmi", ss.ms, `${(ss.bytes / 1e6).toFixed(1)} MB`]);
      rows.push(["ss -tmip", ssp.ms, `${(ssp.bytes / 1e6).toFixed(1)} MB`]);
      const print = timeCommand(again("--print"), runs);
      rows.push([
        `${runtime} bench/list.ts --print (JSON, separate process)`,
        print.ms,
        `${(print.bytes / 1e6).toFixed(1)} MB`,
      ]);
      const printP = timeCommand(again("--print", "--processes"), runs);
      rows.push([
        `${runtime} bench/list.ts --print --processes`,
        printP.ms,
        `${(printP.bytes / 1e6).toFixed(1)} MB`,
      ]);
      for (const cmd of values.cmd ?? []) {
        const r = timeCommand(cmd.split(" ").filter(Boolean), runs);
        rows.push([cmd, r.ms, `${(r.bytes / 1e6).toFixed(1)} MB`]);
      }
      rows.push([
        "listSocketsSync() in-process",
        timeCall(() => listSocketsSync({ states: SS_DEFAULT }), runs),
        "",
      ]);
      rows.push([
        "listSocketsSync() + JSON.stringify in-process",
        timeCall(() => JSON.stringify(listSocketsSync({ states: SS_DEFAULT })), runs),
        "",
      ]);
      rows.push([
        "listSocketsSync({ processes: true }) in-process",
        timeCall(() => listSocketsSync({ states: SS_DEFAULT, processes: true }), runs),
        "",
      ]);
      rows.push([
        "listSocketsSync({ tcpInfo: true }) in-process",
        timeCall(() => listSocketsSync({ states: SS_DEFAULT, tcpInfo: true }), runs),
        "",
      ]);
      console.log(`median of ${runs} runs after one warm-up:`);
      for (const [name, ms, out] of rows) {
        const vs = name.startsWith("ss ")
          ? ""
          : `  ${(ms / ss.ms).toFixed(2)}× ss -tmi, ${(ms / ssp.ms).toFixed(2)}× ss -tmip`;
        console.log(`  ${name.padEnd(52)} ${ms.toFixed(1).padStart(8)} ms ${out.padStart(8)}${vs}`);
      }
    }
  } finally {
    client.proc.kill();
    server.proc.kill();
  }
}
