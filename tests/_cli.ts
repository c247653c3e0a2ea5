/**
 * Running the `sockbuf` command line from tests as a user runs it: a separate process under
 * the runtime running the suite (`deno run --allow-all cli.ts …`, `bun cli.ts …`, or `node cli.ts …`
 * with the very Node binary running the suite, so the Node 26 and Node 22 runs each test their own).
 */
import { Buffer } from "node:buffer";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import net from "node:net";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { hasTool, runtime, sleep } from "./_helpers.ts";

/** The repository's root, the CLI's working directory. */
export const root: string = fileURLToPath(new URL("..", import.meta.url));

/** The CLI's argv under this suite's runtime: `[command, args]`. */
export const cliArgv = (args: string[]): readonly [string, string[]] =>
  runtime === "deno"
    ? ["deno", ["run", "--allow-all", "cli.ts", ...args]]
    : runtime === "bun"
    ? ["bun", ["cli.ts", ...args]]
    : [process.execPath, ["cli.ts", ...args]];

/**
 * True when the CLI's runtime can be started: Deno and Bun from PATH (npm test puts
 * node_modules/.bin there); Node is the binary running the suite itself.
 */
export const hasRuntime = (): boolean => runtime === "node" || hasTool(runtime);

/** What one run of the CLI gave. */
export interface CliResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from spawn to exit. */
  ms: number;
  /** True when it was killed for running past its time limit. */
  timedOut: boolean;
}

/**
 * Runs the CLI to completion without blocking this process's event loop, so several runs
 * can share the two cores. `prefix` puts a wrapper before it (e.g. `unshare -n`). A run
 * longer than `timeoutMs` is killed and reported as `timedOut`.
 */
export function cliAsync(
  args: string[],
  { timeoutMs = 30_000, prefix = [] as string[], env = {} as Record<string, string> } = {},
): Promise<CliResult> {
  const [cmd, argv] = cliArgv(args);
  const [file, ...rest] = [...prefix, cmd, ...argv];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(file, rest, {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    child.stdout!.on("data", (d: Uint8Array) => out.push(d));
    child.stderr!.on("data", (d: Uint8Array) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const text = (parts: Uint8Array[]) => Buffer.concat(parts).toString("utf8");
      resolve({
        code,
        signal,
        stdout: text(out),
        stderr: text(err),
        ms: performance.now() - started,
        timedOut,
      });
    });
  });
}

/** Runs `jobs` with at most `width` at a time, keeping their order in the results. */
export async function pool<T, R>(items: T[], width: number, job: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await job(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

/** The pid of the only child of `pid` (a pane's shell running the CLI), waiting for it to appear. */
export async function childOf(pid: number): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean)
      .map(Number);
    if (kids.length === 1) return kids[0];
    await sleep(50);
  }
  throw new Error(`process ${pid} has no single child`);
}

/**
 * Raw control characters a terminal acts on: C0 but newline, DEL, C1 (U+0080–U+009F), and
 * the bidirectional controls and line/paragraph separators that reorder or break a line.
 */
// deno-lint-ignore no-control-regex -- finding control characters is the point
export const CONTROL = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]/u;

/** A TCP port free on loopback just now. */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A running `sockbuf export`: its port, its process, and a scrape of its `/metrics`. */
export interface Exporter {
  port: number;
  child: ChildProcess;
  /** GET /metrics: the body, or an error for a status other than 200. */
  scrape(): Promise<string>;
}

/**
 * Spawns `sockbuf export` under this runtime, adds it to `children` (for the caller to kill),
 * and waits until it answers. With `netns`, it runs inside that network namespace and is
 * scraped there with curl (its loopback is not this one's).
 */
export async function startExport(
  args: string[],
  children: ChildProcess[],
  netns?: string,
): Promise<Exporter> {
  const port = netns ? 9464 : await freePort();
  const url = `http://127.0.0.1:${port}/metrics`;
  const [cmd, argv] = cliArgv(["export", "--listen", `127.0.0.1:${port}`, ...args]);
  const child = netns
    ? spawn("ip", ["netns", "exec", netns, cmd, ...argv], {
      cwd: root,
      stdio: ["ignore", "ignore", "inherit"],
    })
    : spawn(cmd, argv, { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
  children.push(child);
  const scrape = async (): Promise<string> => {
    if (netns) {
      const r = spawnSync("ip", ["netns", "exec", netns, "curl", "-sSf", url], { encoding: "utf8" });
      if (r.status !== 0) throw new Error(`curl ${url} in ${netns}: ${r.stderr}`);
      return r.stdout;
    }
    const res = await fetch(url);
    const text = await res.text();
    if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
    return text;
  };
  for (let i = 0; i < 200; i++) {
    try {
      await scrape();
      return { port, child, scrape };
    } catch { /* not listening yet */ }
    await sleep(50);
  }
  throw new Error("sockbuf export did not start");
}
