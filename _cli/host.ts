/**
 * What the command line needs of the process it runs in: its arguments, exit code,
 * environment and standard streams, from each runtime's own API.
 *
 * Deno's `node:process` is a compatibility layer that takes about 30 ms to load (measured
 * here: a script importing it starts in ~64 ms instead of ~31 ms); `sockbuf ls` must start
 * faster than that to be quicker than `ss`. Bun's `process` is native and costs nothing, and
 * Node's is its own: both are used as they are.
 *
 * @module
 */
import { isBun, isDeno } from "../_runtime.ts";

interface NodeProcess {
  argv: string[];
  exitCode: number | undefined;
  env: Record<string, string | undefined>;
  platform: string;
  stdout: { isTTY?: boolean };
  getBuiltinModule?: (id: string) => unknown;
}
interface BunFs {
  writeSync(fd: number, data: Uint8Array, offset?: number): number;
}
interface BunPoll {
  symbols: { poll(fds: Uint8Array, nfds: number, timeout: number): number };
}

// Bun's and Node's `process` (Node's has the same members this file reads).
const nodeProcess = isDeno ? undefined : (globalThis as unknown as { process: NodeProcess }).process;
const encoder = new TextEncoder();
const bunRequire = <T>(id: string): T => (import.meta as unknown as { require(id: string): T }).require(id);

/**
 * The reader of stdout went away (EPIPE): there is no one left to tell anything, so the
 * command line ends quietly with exit code 141, what a shell reports for a program that
 * SIGPIPE ended (Deno and Bun ignore SIGPIPE, so the write fails instead).
 */
export class BrokenPipe extends Error {
  override name = "BrokenPipe";
  constructor() {
    super("the reader of stdout went away (EPIPE)");
  }
}

/** The command-line arguments after the script's name. */
export function args(): string[] {
  return nodeProcess ? nodeProcess.argv.slice(2) : Deno.args;
}

/** Sets the code the process exits with once its work is done. */
export function setExitCode(code: number): void {
  if (nodeProcess) nodeProcess.exitCode = code;
  else Deno.exitCode = code;
}

/** An environment variable; `undefined` when unset or not readable (Deno without `--allow-env`). */
export function env(name: string): string | undefined {
  if (nodeProcess) return nodeProcess.env[name];
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** True when stdout is a terminal. */
export function stdoutIsTerminal(): boolean {
  if (nodeProcess && !isBun) {
    // Node: ask isatty(1) rather than create process.stdout, which makes a pipe non-blocking.
    return (nodeProcess.getBuiltinModule!("node:tty") as { isatty(fd: number): boolean }).isatty(1);
  }
  return nodeProcess ? nodeProcess.stdout.isTTY === true : Deno.stdout.isTerminal();
}

/**
 * Writes all of `text` to stdout before returning, in order with every other write: a slow
 * reader makes it wait, never reorders. A reader that went away throws {@linkcode BrokenPipe}.
 */
export function writeStdout(text: string): void {
  writeStdoutBytes(encoder.encode(text));
}

/** {@linkcode writeStdout} for bytes already encoded. */
export function writeStdoutBytes(bytes: Uint8Array): void {
  if (nodeProcess) fdWriteAll(1, bytes);
  else denoWriteAll(Deno.stdout, bytes);
}

/** Writes all of `text` to stderr; if stderr is closed there is nowhere to say so, so nothing happens. */
export function writeStderr(text: string): void {
  try {
    if (nodeProcess) fdWriteAll(2, encoder.encode(text));
    else denoWriteAll(Deno.stderr, encoder.encode(text));
  } catch (err) {
    if (!(err instanceof BrokenPipe)) throw err;
  }
}

/** Deno: writes all of `bytes`, however many calls the OS takes (Deno's stdio blocks). */
function denoWriteAll(stream: { writeSync(p: Uint8Array): number }, bytes: Uint8Array): void {
  try {
    for (let off = 0; off < bytes.length;) off += stream.writeSync(bytes.subarray(off));
  } catch (err) {
    if (err instanceof Deno.errors.BrokenPipe) throw new BrokenPipe();
    throw err;
  }
}

let bunFs: BunFs | undefined;
let bunPoll: BunPoll | undefined;

/**
 * Bun and Node: writes all of `bytes` to `fd` synchronously. Bun makes its stdio pipes
 * non-blocking, so a full pipe gives EAGAIN; handing the rest to an asynchronous stream would
 * let the next write overtake it, so wait with poll(2) until the pipe takes more, and go on
 * writing here.
 */
function fdWriteAll(fd: number, bytes: Uint8Array): void {
  bunFs ??= isBun ? bunRequire<BunFs>("node:fs") : nodeProcess!.getBuiltinModule!("node:fs") as BunFs;
  for (let off = 0; off < bytes.length;) {
    try {
      off += bunFs.writeSync(fd, bytes, off);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "EPIPE") throw new BrokenPipe();
      if (code !== "EAGAIN") throw err;
      waitWritable(fd);
    }
  }
}

/** Blocks until `fd` can be written (or has failed: the next write says how). */
function waitWritable(fd: number): void {
  if (!isBun) {
    // Node: no bun:ffi here, and a pipe someone else made non-blocking is rare: wait 1 ms.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    return;
  }
  if (!bunPoll) {
    const ffi = bunRequire<{ dlopen(path: string, symbols: object): BunPoll }>("bun:ffi");
    const libc = nodeProcess!.platform === "darwin" ? "/usr/lib/libSystem.B.dylib" : "libc.so.6";
    // poll(struct pollfd *fds, nfds_t nfds, int timeout): not variadic, so safe on every ABI.
    bunPoll = ffi.dlopen(libc, { poll: { args: ["ptr", "u64", "i32"], returns: "i32" } });
  }
  // struct pollfd { int fd; short events; short revents; }; POLLOUT is 4 on Linux and macOS.
  const pollfd = new Uint8Array(8);
  new Int32Array(pollfd.buffer, 0, 1)[0] = fd;
  new Int16Array(pollfd.buffer, 4, 1)[0] = 4;
  bunPoll.symbols.poll(pollfd, 1, -1); // -1 with EINTR: the caller's next write simply retries
}
