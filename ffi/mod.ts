/**
 * The only place that knows which runtime is running: picks the binding, loads libc
 * lazily and once, and closes it idempotently.
 *
 * @module
 */
import type { Libc, LibcSpec } from "./types.ts";
import { openLibc as openDeno } from "./deno.ts";
import { openLibc as openBun } from "./bun.ts";

export type { Libc, LibcSpec } from "./types.ts";

const isBun = "Bun" in globalThis;
let loaded: Libc | undefined;

/** The runtime's name for the host OS: `"linux"`, `"darwin"`, `"windows"`, … */
export function hostOs(): string {
  if (isBun) return (globalThis as unknown as { process: { platform: string } }).process.platform;
  return Deno.build.os;
}

/** The runtime's name for the CPU: `"x86_64"`/`"aarch64"` (Deno) or `"x64"`/`"arm64"` (Bun). */
export function hostArch(): string {
  if (isBun) return (globalThis as unknown as { process: { arch: string } }).process.arch;
  return Deno.build.arch;
}

/** libc, opened on first use. */
export function libc(spec: LibcSpec): Libc {
  return loaded ??= (isBun ? openBun : openDeno)(spec);
}

/** Unloads libc if it is loaded; safe to call any number of times. */
export function closeLibc(): void {
  const lib = loaded;
  loaded = undefined;
  lib?.close();
}
