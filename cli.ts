/**
 * The `sockbuf` command line.
 *
 * ```text
 * sockbuf ls       every TCP socket's send buffer, sorted by unsent bytes (Linux)
 * sockbuf top      the same, live in a terminal; q or Ctrl-C quits
 * sockbuf inspect  one socket of another process, by PID:FD (Linux 5.6+)
 * sockbuf why      what limits each connection now, and how late a byte written now is (Linux)
 * sockbuf export   Prometheus metrics at /metrics: sockets, unsent bytes, the worst connections
 * sockbuf route    send one user's traffic out of another interface (root)
 * sockbuf demo     watch a send buffer live, with and without TCP_NOTSENT_LOWAT
 * ```
 *
 * Every command takes `--help`. Exit codes: 0 ok, 1 failure, 2 usage (a bad flag or value, a
 * flag given twice), 141 the reader of the output went away (`sockbuf ls | head -n 1`; what a
 * shell shows for a program SIGPIPE ended, and nothing is printed). Colour only on a terminal,
 * and never with `NO_COLOR` set. Names other processes chose (process and interface names)
 * are shown with control characters escaped as `\xNN` or `\u{NNNN}`; `--json` keeps them exact.
 *
 * ```sh
 * deno run --allow-all jsr:@sockbuf/sockbuf/cli ls --limit 10
 * bunx jsr:@sockbuf/sockbuf/cli ls --limit 10   # or: bun cli.ts ls, in a clone
 * ```
 *
 * Deno needs `--allow-ffi` (libc) for `ls`, `top` and `inspect`, `--allow-net` for `demo`,
 * and `--allow-run`, `--allow-read` and `--allow-write` for `route`; `--allow-all` covers them.
 *
 * @module
 */
import { EXIT, printable, quote, UsageError } from "./_cli/common.ts";
import { args as hostArgs, BrokenPipe, setExitCode, writeStderr, writeStdout } from "./_cli/host.ts";

/** A command's runner: its arguments in, its exit code out. */
type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  ls: {
    summary: "every TCP socket's send buffer, sorted by unsent bytes (Linux)",
    load: async () => (await import("./_cli/ls.ts")).ls,
  },
  top: {
    summary: "the same, redrawn live in a terminal (q or Ctrl-C quits)",
    load: async () => (await import("./_cli/top.ts")).top,
  },
  inspect: {
    summary: "one socket of another process: sockbuf inspect PID:FD (Linux 5.6+)",
    load: async () => (await import("./_cli/inspect.ts")).inspectCommand,
  },
  why: {
    summary: "what limits each connection now: application, sender-buffer, receiver or network",
    load: async () => (await import("./_cli/why.ts")).why,
  },
  export: {
    summary: "serve the host's TCP send buffers as Prometheus metrics at /metrics (Linux)",
    load: async () => (await import("./_cli/export.ts")).exportCommand,
  },
  route: {
    summary: "route one user's traffic out of another interface: add|remove|list (root)",
    load: async () => (await import("./_cli/route.ts")).route,
  },
  demo: {
    summary: "watch a send buffer live, with and without TCP_NOTSENT_LOWAT",
    load: async () => (await import("./_cli/demo.ts")).demo,
  },
};

/**
 * The top-level help text.
 *
 * @example Show sockbuf's commands inside your own tool's help
 * ```ts
 * import { USAGE } from "@sockbuf/sockbuf/cli";
 *
 * const commands = USAGE.split("\n").filter((line) => line.startsWith("  ")).map((line) => line.trim());
 * console.log(`mytool net: sockbuf's commands\n\n${commands.join("\n")}`);
 * ```
 */
export const USAGE: string = `Usage: sockbuf <command> [flags]

What sits in TCP send buffers: size, queued, unsent, unacked, free.

Commands:
${Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(9)}${c.summary}`).join("\n")}

Run "sockbuf <command> --help" for a command's flags.
Exit codes: 0 ok, 1 failure, 2 usage, 141 the output's reader went away.`;

/**
 * Runs one `sockbuf` command line and resolves to its exit code; messages go to stdout and
 * stderr. A wrong command line gives 2, a failed system call or command 1.
 *
 * @param args the arguments after the program name, e.g. `["ls", "--json"]`
 * @returns the exit code: 0 ok, 1 failure, 2 usage, 141 stdout's reader went away
 *
 * @example Print the help and check the exit code
 * ```ts
 * import { main } from "@sockbuf/sockbuf/cli";
 *
 * const code = await main(["--help"]);
 * if (code !== 0) throw new Error(`sockbuf --help exited ${code}`);
 * ```
 */
export async function main(args: string[]): Promise<number> {
  // `deno task cli -- ls` passes the "--" through; npm and Bun do not.
  const [name, ...rest] = args[0] === "--" ? args.slice(1) : args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    (name === undefined ? writeStderr : writeStdout)(`${USAGE}\n`);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    writeStderr(`sockbuf: unknown command ${printable(quote(name), false)}\nTry: sockbuf --help\n`);
    return EXIT.usage;
  }
  try {
    return await (await command.load())(rest);
  } catch (err) {
    // The reader went away (`sockbuf ls | head -n 1`): nobody is left to read a message.
    if (err instanceof BrokenPipe) return EXIT.brokenPipe;
    // Bad values the library rejects (TypeError/RangeError name the field) are usage errors;
    // anything the system refused is a failure. Messages may carry outside text (a value, an
    // interface name, a tool's stderr): escaped for the terminal.
    const usage = err instanceof UsageError || err instanceof TypeError || err instanceof RangeError;
    const message = printable(err instanceof Error ? err.message : String(err), false);
    writeStderr(`sockbuf ${name}: ${message}\n${usage ? `Try: sockbuf ${name} --help\n` : ""}`);
    return usage ? EXIT.usage : EXIT.failure;
  }
}

if (import.meta.main) setExitCode(await main(hostArgs()));
