/**
 * What every `sockbuf` command shares: usage errors and exit codes, flag parsing, readable
 * byte counts, tables and colours.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { env, stdoutIsTerminal, writeStdout } from "../ffi/host.ts";

/** Exit codes: 0 ok, 1 the system or a command failed, 2 the command line was wrong. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A wrong command line: printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * `parseArgs` (strict) with `--help`/`-h` added; its errors become {@linkcode UsageError}.
 * @returns the parsed values and positionals, or `undefined` when `--help` was given
 */
export function parseFlags<O extends Options>(
  args: string[],
  options: O,
  positionals = false,
) {
  const help = { type: "boolean", short: "h" } as const;
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help },
      strict: true,
      allowPositionals: positionals,
      allowNegative: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return (parsed.values as { help?: boolean }).help ? undefined : parsed;
}

/** An integer flag in `[min, max]`, or a {@linkcode UsageError} naming the flag. */
export function intFlag(flag: string, text: string, min: number, max: number): number {
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return n;
}

/** A flag whose value must be one of `choices`. */
export function choiceFlag<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`--${flag} must be one of ${choices.join(", ")}, got ${JSON.stringify(text)}`);
  }
  return text as T;
}

/** Bytes for people: `512 B`, `16.0 KiB`, `3.5 MiB`; `-` where the OS gave no number. */
export function bytes(n: number | undefined): string {
  if (n === undefined) return "-";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}

/** Text styles: real SGR colours on a terminal, plain text otherwise. */
export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  inverse(s: string): string;
}
const sgr = (code: string) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
const PLAIN: Style = {
  bold: String,
  dim: String,
  red: String,
  yellow: String,
  green: String,
  inverse: String,
};
const COLOUR: Style = {
  bold: sgr("1"),
  dim: sgr("2"),
  red: sgr("31"),
  yellow: sgr("33"),
  green: sgr("32"),
  inverse: sgr("7"),
};

/** True when stdout is a terminal. */
export const isTty = (): boolean => stdoutIsTerminal();

/** Colour only on a terminal, and never with `NO_COLOR` set (https://no-color.org). */
export function style(): Style {
  return isTty() && (env("NO_COLOR") ?? "") === "" ? COLOUR : PLAIN;
}

// deno-lint-ignore no-control-regex -- strips colours to measure what a terminal shows
const SGR = /\x1b\[[0-9;]*m/g;
/** How many columns `s` takes on a terminal. */
export const visibleWidth = (s: string): number => s.replace(SGR, "").length;

/** Column alignment for {@linkcode table}. */
export type Align = "left" | "right";

/** Rows as aligned columns separated by two spaces, the first row being the header. */
export function table(rows: string[][], align: Align[]): string[] {
  const widths = align.map((_, c) => Math.max(...rows.map((r) => visibleWidth(r[c] ?? ""))));
  return rows.map((r) =>
    r.map((cell, c) => {
      const pad = " ".repeat(widths[c] - visibleWidth(cell));
      return align[c] === "right" ? pad + cell : c === r.length - 1 ? cell : cell + pad;
    }).join("  ")
  );
}

/**
 * Writes text to stdout, all of it before returning: no stream buffers in between, so a
 * command printing megabytes builds its next piece while the reader takes this one.
 */
export const out: (text: string) => void = writeStdout;
