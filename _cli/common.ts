/**
 * What every `sockbuf` command shares: usage errors and exit codes, flag parsing, readable
 * byte counts, tables and colours.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { env, stdoutIsTerminal, writeStdout } from "./host.ts";
import { quote } from "../route/_validate.ts";

export { quote };

/**
 * Exit codes: 0 ok, 1 the system or a command failed, 2 the command line was wrong, 141 the
 * reader of the output went away (128 + SIGPIPE, what a shell shows for `ss | head`).
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, brokenPipe: 141 } as const;

/** A wrong command line: printed with a hint to `--help`, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Characters a terminal acts on or that rearrange a line: C0 controls, DEL and C1 controls
 * (`\p{Cc}`), line and paragraph separators, bidirectional controls (a right-to-left
 * override turns the rest of a row around) and lone surrogates.
 */
const UNSAFE = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}\p{Cs}]/gu;
const UNSAFE_OR_BACKSLASH = /[\p{Cc}\p{Zl}\p{Zp}\p{Bidi_Control}\p{Cs}\\]/gu;

/**
 * Outside text (a process name, an interface name, a message quoting either) made safe for a
 * terminal: each unsafe character becomes `\xNN` (up to U+00FF) or `\u{NNNN}`, visibly and
 * reversibly, rather than `?` as ps shows it, so two names never look alike and the reader
 * sees what a process tried. In table cells (`backslash`) a real `\` is doubled, so `\x1b`
 * on screen always means the escape character; messages quote values with JSON.stringify
 * already, which doubles it.
 */
export function printable(text: string, backslash = true): string {
  return text.replace(backslash ? UNSAFE_OR_BACKSLASH : UNSAFE, (c) => {
    if (c === "\\") return "\\\\";
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u{${code.toString(16)}}`;
  });
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * Checks `args` against `options` before `parseArgs` sees them, so that every message names
 * the flag, quotes at most 40 characters of a value (escaped), and reads the same under Deno
 * and Bun. A flag that takes one value may be given once: a second one is an error rather
 * than silently winning, since a repeated flag in a script is more often a mistake
 * (`--no-X` counts as `--X`).
 */
function checkFlags(args: string[], options: Options, positionals: boolean): void {
  const seen = new Set<string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      if (!positionals && i + 1 < args.length) {
        throw new UsageError(`unexpected argument ${quote(args[i + 1])}`);
      }
      return;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = arg.slice(2, eq < 0 ? undefined : eq);
      const negated = !Object.hasOwn(options, name) && name.startsWith("no-") &&
        Object.hasOwn(options, name.slice(3)) && options[name.slice(3)].type === "boolean";
      const key = negated ? name.slice(3) : name;
      if (!Object.hasOwn(options, key)) {
        throw new UsageError(`unknown flag ${quote(arg.slice(0, eq < 0 ? undefined : eq))}`);
      }
      const option = options[key];
      if (option.type === "boolean") {
        if (eq >= 0) throw new UsageError(`--${name} takes no value, got ${quote(arg.slice(eq + 1))}`);
      } else if (eq < 0) {
        const value = args[i + 1];
        if (value === undefined || (value.length > 1 && value.startsWith("-"))) {
          throw new UsageError(
            `--${key} needs a value (a value starting with "-" is given as --${key}=VALUE)`,
          );
        }
        i++;
      }
      if (!option.multiple && key !== "help") {
        if (seen.has(key)) throw new UsageError(`--${key} given twice; give it once`);
        seen.add(key);
      }
    } else if (arg.length > 1 && arg.startsWith("-")) {
      if (arg !== "-h") throw new UsageError(`unknown flag ${quote(arg)}`);
    } else if (!positionals) {
      throw new UsageError(`unexpected argument ${quote(arg)}`);
    }
  }
}

/**
 * `parseArgs` (strict) with `--help`/`-h` added, after {@linkcode checkFlags}; every problem
 * is a {@linkcode UsageError} naming the flag.
 * @returns the parsed values and positionals, or `undefined` when `--help` was given
 */
export function parseFlags<O extends Options>(
  args: string[],
  options: O,
  positionals = false,
) {
  const help = { type: "boolean", short: "h" } as const;
  const all = { ...options, help };
  checkFlags(args, all, positionals);
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: all,
      strict: true,
      allowPositionals: positionals,
      allowNegative: true,
    });
  } catch (err) {
    // checkFlags should have caught it first; parseArgs' own message quotes values in full.
    throw new UsageError(printable(String((err as Error).message).slice(0, 200), false));
  }
  return (parsed.values as { help?: boolean }).help ? undefined : parsed;
}

/** An integer flag in `[min, max]`, or a {@linkcode UsageError} naming the flag. */
export function intFlag(flag: string, text: string, min: number, max: number): number {
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`--${flag} must be an integer from ${min} to ${max}, got ${quote(text)}`);
  }
  return n;
}

/** A flag whose value must be one of `choices`. */
export function choiceFlag<T extends string>(flag: string, text: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`--${flag} must be one of ${choices.join(", ")}, got ${quote(text)}`);
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
