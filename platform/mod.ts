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
import { type RouteDriver, RouteUnsupportedError } from "./route_types.ts";

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

/**
 * The per-user routing driver for an OS: linux → `ip rule` (platform/ip_rule.ts), darwin → pf
 * (platform/pf.ts). Loaded on first use, so importing the core never loads process-spawning code.
 *
 * @throws {RouteUnsupportedError} for any other OS
 */
export async function routeDriver(os: string = hostOs()): Promise<RouteDriver> {
  if (os === "linux") return (await import("./ip_rule.ts")).ipRuleDriver;
  if (os === "darwin") return (await import("./pf.ts")).pfDriver;
  throw new RouteUnsupportedError(os === "win32" ? "windows" : os);
}
