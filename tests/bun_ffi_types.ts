/**
 * Type-only check, run by `tsc -p tsconfig.bun.json` (not a test file): what ffi/bun.ts
 * declares of `bun:ffi` for itself must agree with the real types from bun-types.
 */
import { CString, dlopen, type FFIFunction, read } from "bun:ffi";
import {
  BUN_ERRNO,
  BUN_IO_SYMBOLS,
  BUN_IOCTL,
  BUN_OPENDIR,
  BUN_READDIR,
  BUN_SYMBOLS,
  BUN_SYSCALL,
  type BunFfi,
} from "../ffi/bun.ts";

// Every signature the binding passes is one bun:ffi accepts.
export const symbols: Record<string, FFIFunction> = {
  ...BUN_SYMBOLS,
  ...BUN_IO_SYMBOLS,
  syscall: BUN_SYSCALL,
  ioctl: BUN_IOCTL,
  errno: BUN_ERRNO,
  opendir: BUN_OPENDIR,
  readdir: BUN_READDIR,
};
// The real dlopen and read.i32 fit the binding's declarations of them.
export const open: (path: string, s: typeof symbols) => ReturnType<BunFfi["dlopen"]> = dlopen;
export const i32: BunFfi["read"]["i32"] = read.i32;
export const cstring: BunFfi["CString"] = CString;
