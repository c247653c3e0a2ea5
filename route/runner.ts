/**
 * The one way the routing helpers start a process: an absolute executable path and an argv
 * array, never a shell, so no input can be read as shell syntax. Tests pass their own
 * {@linkcode Runner} to record every argv and stdin instead of running anything.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { RouteError } from "./errors.ts";

/**
 * What a finished process gave back.
 *
 * @example A failing command resolves; its code and stderr say why
 * ```ts
 * import { defaultRunner, type RunResult } from "@sockbuf/sockbuf/route";
 *
 * const result: RunResult = await defaultRunner("/bin/ls", ["/nonexistent-sockbuf-example"]);
 * console.log(result.code !== 0, result.stdout === ""); // true true
 * console.log(result.stderr); // ls's own message: cannot access '/nonexistent-sockbuf-example' …
 * ```
 */
export interface RunResult {
  /** The exit code; a process killed by a signal reports 128 + the signal number, as shells do. */
  readonly code: number;
  /** Everything it wrote to stdout, decoded as UTF-8. */
  readonly stdout: string;
  /** Everything it wrote to stderr, decoded as UTF-8. */
  readonly stderr: string;
}

/**
 * Extra input for one run.
 *
 * @example Feeding stdin, with a time limit
 * ```ts
 * import { defaultRunner, type RunOptions } from "@sockbuf/sockbuf/route";
 *
 * const options: RunOptions = {
 *   stdin: "pass out quick on ! utun4 route-to utun4 all user 501\n",
 *   timeoutMs: 5_000,
 * };
 * const { code, stdout } = await defaultRunner("/bin/cat", [], options); // as pfctl -f - reads rules
 * console.log(code, stdout); // 0 pass out quick on ! utun4 route-to utun4 all user 501
 * ```
 */
export interface RunOptions {
  /** Text written to the process's stdin, which is then closed; without it stdin is empty. */
  readonly stdin?: string;
  /**
   * Milliseconds before the process is killed (SIGKILL) as hung, from 0 to 2147483647
   * (setTimeout's limit, about 24.8 days); default 30,000.
   */
  readonly timeoutMs?: number;
}

/**
 * Starts `file` (an absolute path) with `args` and resolves when it exits, whatever its exit
 * code. It rejects only when the process cannot start at all.
 *
 * @example A dry run: print what removal on macOS would run
 * ```ts
 * import { type Runner, unrouteUser } from "@sockbuf/sockbuf/route";
 *
 * const dryRun: Runner = (file, args, options) => {
 *   console.log("would run:", file, ...args, ...(options?.stdin ? ["(with stdin)"] : []));
 *   return Promise.resolve({ code: 0, stdout: "", stderr: "" });
 * };
 * const stateDir = await Deno.makeTempDir(); // no pf token held there, so no `pfctl -X`
 * await unrouteUser({ user: "test1", os: "darwin", runner: dryRun, paths: { stateDir } });
 * // would run: /sbin/pfctl -a com.apple/sockbuf.test1 -sn, then -sr, then -F all
 * await Deno.remove(stateDir);
 * ```
 */
export type Runner = (file: string, args: readonly string[], options?: RunOptions) => Promise<RunResult>;

const SIGNALS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/**
 * Checks what every runner must refuse: a relative path (which a PATH lookup could redirect)
 * and arguments that are not plain strings free of NUL bytes.
 *
 * @throws {TypeError} naming `file` or `args`
 */
export function checkCommand(file: string, args: readonly string[]): void {
  if (typeof file !== "string" || !file.startsWith("/") || file.includes("\0")) {
    throw new TypeError(`file: expected an absolute executable path, got ${JSON.stringify(file)}`);
  }
  if (!Array.isArray(args) || args.some((a) => typeof a !== "string" || a.includes("\0"))) {
    throw new TypeError("args: expected an array of strings without NUL bytes");
  }
}

/**
 * The default runner: `node:child_process` `spawn` with `shell: false`, stdout and stderr
 * collected, stdin fed from `options.stdin`. Deno needs `--allow-run` for it.
 *
 * @throws {TypeError} for a relative `file`, bad `args`, or a `timeoutMs` that is not a number
 * @throws {RangeError} for a `timeoutMs` outside 0 to 2147483647
 *
 * @example Running a harmless real command
 * ```ts
 * import { defaultRunner } from "@sockbuf/sockbuf/route";
 *
 * const result = await defaultRunner("/bin/echo", ["hello", "; not a shell"]);
 * console.log(result); // { code: 0, stdout: "hello ; not a shell\n", stderr: "" }
 * ```
 */
export function defaultRunner(
  file: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  checkCommand(file, args);
  const timeoutMs = options.timeoutMs ?? 30_000;
  // setTimeout fires at once past 2^31 − 1 ms, which would kill the process at start.
  if (typeof timeoutMs !== "number") {
    throw new TypeError(
      `Expected timeoutMs as a number of milliseconds, got ${
        typeof timeoutMs === "string" ? `the string "${timeoutMs}"` : typeof timeoutMs
      }`,
    );
  }
  if (!(timeoutMs >= 0 && timeoutMs <= 2 ** 31 - 1)) {
    throw new RangeError(
      `Expected timeoutMs as a number of milliseconds from 0 to ${2 ** 31 - 1}, got ${timeoutMs}`,
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], { shell: false, stdio: ["pipe", "pipe", "pipe"] });
    const out: Uint8Array[] = [];
    const err: Uint8Array[] = [];
    child.stdout.on("data", (d: Uint8Array) => out.push(d));
    child.stderr.on("data", (d: Uint8Array) => err.push(d));
    // A process that exits without reading its stdin closes the pipe: that is not our error.
    child.stdin.on("error", () => {});
    child.stdin.end(options.stdin ?? "");
    // ip and pfctl answer in milliseconds; one that does not is killed rather than waited on.
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", (cause) => {
      clearTimeout(timer);
      reject(cause);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const text = (chunks: Uint8Array[]) => new TextDecoder().decode(concat(chunks));
      resolve({
        code: code ?? 128 + (signal ? SIGNALS[signal] ?? 0 : 0),
        stdout: text(out),
        stderr: `${text(err)}${hung ? `\n${file} did not finish in ${timeoutMs} ms and was killed` : ""}`,
      });
    });
  });
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return all;
}

/**
 * The first of `candidates` (absolute paths) that exists, checked on the file system: never a
 * PATH lookup, so nothing in the environment can substitute another program.
 *
 * @throws {RouteError} naming every path tried when none exists
 */
export function findExecutable(name: string, candidates: readonly string[]): string {
  for (const path of candidates) if (existsSync(path)) return path;
  throw new RouteError(`Cannot find ${name}: none of ${candidates.join(", ")} exists`);
}
