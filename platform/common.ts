/**
 * Helpers every OS file shares.
 *
 * @module
 */
import { SockbufError } from "../errors.ts";
import type { TcpState } from "../types.ts";

/** Names an errno by a per-OS table. */
export function errnoName(table: readonly string[], errno: number): string {
  return table[errno] || `ERRNO_${errno}`;
}

/**
 * Returns `result` when it is a success, or throws the `SockbufError` for `-result`.
 * @param op completes "Cannot …", such as `read TCP_INFO`
 */
export function check(
  result: number,
  table: readonly string[],
  op: string,
  syscall: string,
): number {
  if (result >= 0) return result;
  throw new SockbufError(op, syscall, -result, errnoName(table, -result));
}

/** Maps a state number through a per-OS table. */
export function stateName(table: readonly TcpState[], n: number): TcpState {
  return table[n] ?? "UNKNOWN";
}
