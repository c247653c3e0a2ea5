/**
 * A full-screen view for `sockbuf top`: the terminal's alternate screen, the cursor hidden,
 * keys read one at a time. Everything it changes is put back on exit, however the program
 * ends (q, Ctrl-C, SIGTERM, an error), so the shell is left as it was.
 *
 * @module
 */
import process from "node:process";

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

  /** Takes the terminal; `onKey` gets each key pressed (Ctrl-C and SIGTERM arrive as `"\x03"`). */
  constructor(onKey: (key: string) => void) {
    this.#onKey = onKey;
    process.stdout.write(ENTER);
    // Raw mode: keys arrive at once and Ctrl-C is a key, not a signal.
    process.stdin.setRawMode?.(true);
    process.stdin.on("data", this.#onData);
    process.stdin.resume();
    process.on("SIGINT", this.#onSignal);
    process.on("SIGTERM", this.#onSignal);
    process.on("exit", this.#onExit);
  }

  /** The terminal's size. */
  get size(): { columns: number; rows: number } {
    return { columns: process.stdout.columns || 80, rows: process.stdout.rows || 24 };
  }

  /** Replaces the screen with `lines`, each cut to the terminal's width by the caller. */
  draw(lines: string[]): void {
    if (!this.#open) return;
    process.stdout.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join("\r\n")}\x1b[J`);
  }

  /** Gives the terminal back: cooked mode, the cursor, the main screen. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    process.stdin.off("data", this.#onData);
    process.stdin.setRawMode?.(false);
    process.stdin.pause();
    process.off("SIGINT", this.#onSignal);
    process.off("SIGTERM", this.#onSignal);
    process.off("exit", this.#onExit);
    process.stdout.write(LEAVE);
  }
}
