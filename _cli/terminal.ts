/**
 * A full-screen view for `sockbuf top`: the terminal's alternate screen, the cursor hidden,
 * keys read one at a time. Everything it changes is put back on exit, however the program
 * ends (q, Ctrl-C, every terminating signal a terminal or a user sends, an error), so the
 * shell is left as it was.
 *
 * @module
 */
import process from "node:process";
import { writeStdout } from "./host.ts";

/**
 * The signals that end a program by default and can be caught: each becomes a quit, so the
 * terminal is restored before the exit. (SIGKILL and SIGSTOP cannot be caught.)
 */
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;

const ENTER = "\x1b[?1049h\x1b[?25l"; // alternate screen on, cursor hidden
const LEAVE = "\x1b[0m\x1b[?25h\x1b[?1049l"; // colours reset, cursor shown, alternate screen off

/** A terminal taken over until {@linkcode FullScreen.close} (idempotent). */
export class FullScreen {
  #open = true;
  #onKey: (key: string) => void;
  #onData = (data: Uint8Array | string) => {
    const text = typeof data === "string" ? data : new TextDecoder().decode(data);
    for (const key of text) this.#onKey(key);
  };
  #onSignal = () => this.#onKey("\x03");
  #onExit = () => this.close();

  /**
   * Takes the terminal; `onKey` gets each key pressed. SIGINT, SIGTERM, SIGHUP and SIGQUIT,
   * and a terminal that went away (stdin's error or end), arrive as Ctrl-C, `"\x03"`.
   */
  constructor(onKey: (key: string) => void) {
    this.#onKey = onKey;
    writeStdout(ENTER);
    // Raw mode: keys arrive at once and Ctrl-C is a key, not a signal.
    process.stdin.setRawMode?.(true);
    process.stdin.on("data", this.#onData);
    process.stdin.on("error", this.#onSignal);
    process.stdin.on("end", this.#onSignal);
    process.stdin.resume();
    for (const signal of SIGNALS) process.on(signal, this.#onSignal);
    process.on("exit", this.#onExit);
  }

  /** The terminal's size. */
  get size(): { columns: number; rows: number } {
    return { columns: process.stdout.columns || 80, rows: process.stdout.rows || 24 };
  }

  /** Replaces the screen with `lines`, each cut to the terminal's width by the caller. */
  draw(lines: string[]): void {
    if (!this.#open) return;
    writeStdout(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join("\r\n")}\x1b[J`);
  }

  /** Gives the terminal back: cooked mode, the cursor, the main screen. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    process.stdin.off("data", this.#onData);
    process.stdin.off("end", this.#onSignal);
    for (const signal of SIGNALS) process.off(signal, this.#onSignal);
    process.off("exit", this.#onExit);
    // After a hangup the terminal may be gone (EIO): then there is nothing left to restore.
    // stdin's error listener stays, so a late error cannot become an uncaught one.
    attempt(() => process.stdin.setRawMode?.(false));
    attempt(() => process.stdin.pause());
    attempt(() => writeStdout(LEAVE));
  }
}

/** Runs `step`; a terminal that is gone makes it throw, and then there is nothing to undo. */
function attempt(step: () => void): void {
  try {
    step();
  } catch {
    // the terminal is gone
  }
}

/**
 * The pause between two refreshes of a live view (`top`, `why`): `sleep(ms)` resolves after
 * `ms`, or at once when {@linkcode Pause.wake} is called (a quit, or a key that asks for a
 * redraw), so neither waits out the interval.
 */
export class Pause {
  #wake: (() => void) | undefined;

  /** Resolves after `ms`, or at the next {@linkcode Pause.wake}. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  /** Ends the current {@linkcode Pause.sleep} now; nothing if none is running. */
  wake(): void {
    this.#wake?.();
  }
}
