/**
 * libc through the running runtime's FFI: picks the binding (asking `_runtime.ts` which
 * runtime this is), loads libc lazily and once, and closes it idempotently.
 *
 * @module
 */
import { runtimeName } from "../_runtime.ts";
import type { Libc, LibcSpec, OpenLibc } from "./types.ts";
import { openLibc as openDeno } from "./deno.ts";
import { openLibc as openBun } from "./bun.ts";
import { openLibc as openNode } from "./node.ts";

export type { Libc, LibcSpec } from "./types.ts";

let loaded: Libc | undefined;

const bindings: Record<typeof runtimeName, OpenLibc> = { bun: openBun, deno: openDeno, node: openNode };

/** libc, opened on first use. */
export function libc(spec: LibcSpec): Libc {
  return loaded ??= bindings[runtimeName](spec);
}

/** Unloads libc if it is loaded; safe to call any number of times. */
export function closeLibc(): void {
  const lib = loaded;
  loaded = undefined;
  lib?.close();
}
