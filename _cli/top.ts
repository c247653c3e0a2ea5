/**
 * `sockbuf top`: the sockets with the most in their send buffers, redrawn live in a terminal,
 * or printed as plain snapshots when stdout is not one.
 *
 * @module
 */
import process from "node:process";
import { bytes, EXIT, intFlag, isTty, out, parseFlags, style, visibleWidth } from "./common.ts";
import { LIST_FLAGS, LIST_HELP, listFor, listOptions, render, SORT_KEYS } from "./list_view.ts";
import { FullScreen, Pause } from "./terminal.ts";

const USAGE = `Usage: sockbuf top [flags]

The host's TCP sockets with the most unsent data (Linux), redrawn every interval. Keys:
q or Ctrl-C quits, s changes the sort key. When stdout is not a terminal, prints a plain
snapshot every interval instead (stop it with --count or Ctrl-C).

${LIST_HELP}
  --interval MS   refresh every MS milliseconds (default 1000, at least 100)
  --count N       stop after N snapshots
  --help          this text

Exit codes: 0 ok, 1 failure, 2 usage.`;

/** Runs `sockbuf top`. */
export async function top(args: string[]): Promise<number> {
  const parsed = parseFlags(args, {
    ...LIST_FLAGS,
    interval: { type: "string", default: "1000" },
    count: { type: "string" },
  });
  if (!parsed) {
    out(`${USAGE}\n`);
    return EXIT.ok;
  }
  const { values } = parsed;
  const o = listOptions(values);
  const interval = intFlag("interval", values.interval, 100, 3_600_000);
  const count = values.count === undefined ? Infinity : intFlag("count", values.count, 1, 2 ** 31 - 1);

  let quit = false;
  const pause = new Pause();
  const stop = () => {
    quit = true;
    pause.wake();
  };
  const screen = isTty()
    ? new FullScreen((key) => {
      // q, Ctrl-C, or Ctrl-\ (in raw mode a key, not SIGQUIT).
      if (key === "q" || key === "Q" || key === "\x03" || key === "\x1c") stop();
      else if (key === "s") {
        o.sort = SORT_KEYS[(SORT_KEYS.indexOf(o.sort) + 1) % SORT_KEYS.length];
        pause.wake();
      }
    })
    : undefined;
  if (!screen) process.on("SIGINT", stop);
  try {
    for (let n = 0; n < count && !quit; n++) {
      const entries = listFor({ ...o, limit: undefined });
      const unsent = entries.reduce((sum, e) => sum + (e.sendBuffer?.unsent ?? 0), 0);
      const head = `sockbuf top  ${new Date().toTimeString().slice(0, 8)}  ${entries.length} sockets, ${
        bytes(unsent)
      } unsent  sorted by ${o.sort}`;
      if (screen) {
        const { columns, rows } = screen.size;
        const s = style();
        const shown = entries.slice(0, Math.min(o.limit ?? Infinity, Math.max(0, rows - 3)));
        const lines = [
          s.inverse(`${head}  (q quit, s sort)`.padEnd(columns).slice(0, columns)),
          "",
          ...render(shown, s, o.sort).map((l) => cut(l, columns)),
        ];
        screen.draw(lines);
      } else {
        const shown = o.limit === undefined ? entries : entries.slice(0, o.limit);
        out(`${n ? "\n" : ""}${head}\n${render(shown, style(), o.sort).join("\n")}\n`);
      }
      if (n + 1 < count && !quit) await pause.sleep(interval);
    }
  } finally {
    screen?.close();
    process.off("SIGINT", stop);
  }
  return EXIT.ok;
}

/** Cuts a line with colours to `columns` visible characters. */
export function cut(line: string, columns: number): string {
  if (visibleWidth(line) <= columns) return line;
  let visible = 0, i = 0;
  while (i < line.length && visible < columns) {
    if (line[i] === "\x1b") i = line.indexOf("m", i) + 1;
    else {
      visible++;
      i++;
    }
  }
  return `${line.slice(0, i)}\x1b[0m`;
}
