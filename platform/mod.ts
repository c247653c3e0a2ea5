/**
 * The one place that picks the OS.
 *
 * @module
 */
import { hostOs } from "../ffi/mod.ts";
import { darwin } from "./darwin.ts";
import { linux } from "./linux.ts";
import type { Platform } from "./types.ts";
import { unsupported } from "./unsupported.ts";

export type { Platform } from "./types.ts";

/** The OSes sockbuf has tables for; adding one without a platform fails to compile. */
export type SupportedOs = "linux" | "darwin";
const PLATFORMS: Readonly<Record<SupportedOs, Platform>> = { linux, darwin };

/** The platform for an OS name as Deno (`Deno.build.os`) or Bun (`process.platform`) gives it. */
export function selectPlatform(os: string): Platform {
  return Object.hasOwn(PLATFORMS, os)
    ? PLATFORMS[os as SupportedOs]
    : unsupported(os === "win32" ? "windows" : os);
}

let current: Platform | undefined;

/** The running OS's platform, chosen once. */
export function platform(): Platform {
  return current ??= selectPlatform(hostOs());
}
