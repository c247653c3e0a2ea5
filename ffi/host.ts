/**
 * What the command line needs of the process it runs in: its arguments, exit code,
 * environment and standard streams, from each runtime's own API.
 *
 * Deno's `node:process` is a compatibility layer that takes about 30 ms to load (measured
 * here: a script importing it starts in ~64 ms instead of ~31 ms); `sockbuf ls` must start
 * faster than that to be quicker than `ss`. Bun's `process` is native and costs nothing.
 *
 * @module
 */

interface BunProcess {
  argv: string[];
  exitCode: number | undefined;
  env: Record<string, string | undefined>;
  stdout: { isTTY?: boolean; write(data: Uint8Array | string): boolean };
  stderr: { write(data: string): boolean };
}
interface BunFs {
  writeSync(fd: number, data: Uint8Array, offset?: number): number;
}

const isBun = "Bun" in globalThis;
const bunProcess = isBun ? (globalThis as unknown as { process: BunProcess }).process : undefined;
const encoder = new TextEncoder();

/** The command-line arguments after the script's name. */
export function args(): string[] {
  return bunProcess ? bunProcess.argv.slice(2) : Deno.args;
}

/** Sets the code the process exits with once its work is done. */
export function setExitCode(code: number): void {
  if (bunProcess) bunProcess.exitCode = code;
  else Deno.exitCode = code;
}

/** An environment variable; `undefined` when unset or not readable (Deno without `--allow-env`). */
export function env(name: string): string | undefined {
  if (bunProcess) return bunProcess.env[name];
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** True when stdout is a terminal. */
export function stdoutIsTerminal(): boolean {
  return bunProcess ? bunProcess.stdout.isTTY === true : Deno.stdout.isTerminal();
}

let bunFs: BunFs | undefined;

/** Writes all of `text` to stdout before returning. */
export function writeStdout(text: string): void {
  if (!bunProcess) return writeAll(Deno.stdout, text);
  const bytes = encoder.encode(text);
  bunFs ??= (import.meta as unknown as { require(id: string): BunFs }).require("node:fs");
  let off = 0;
  try {
    while (off < bytes.length) off += bunFs.writeSync(1, bytes, off);
  } catch (err) {
    // A non-blocking stdout that is full: let the stream queue the rest.
    if ((err as { code?: string }).code !== "EAGAIN") throw err;
    bunProcess.stdout.write(bytes.subarray(off));
  }
}

/** Writes `text` to stderr. */
export function writeStderr(text: string): void {
  if (bunProcess) bunProcess.stderr.write(text);
  else writeAll(Deno.stderr, text);
}

/** Deno: writes all of `text`, however many calls the OS takes. */
function writeAll(stream: { writeSync(p: Uint8Array): number }, text: string): void {
  const bytes = encoder.encode(text);
  for (let off = 0; off < bytes.length;) off += stream.writeSync(bytes.subarray(off));
}
