/**
 * The one place that picks the OS.
 *
 * @module
 */
import { hostOs } from "../_runtime.ts";
import { darwin, darwinTesting } from "./darwin/mod.ts";
import { linux, linuxTesting } from "./linux/mod.ts";
import type { Platform, TestingOps } from "./types.ts";
import { unsupported } from "./unsupported.ts";

export type { Platform, TestingOps } from "./types.ts";

/** The OSes sockbuf has tables for; adding one without a platform fails to compile. */
export type SupportedOs = "linux" | "darwin";
const PLATFORMS: Readonly<Record<SupportedOs, Platform>> = { linux, darwin };
const TESTING: Readonly<Record<SupportedOs, TestingOps>> = { linux: linuxTesting, darwin: darwinTesting };

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

/** What only the demo, examples, benchmarks and tests need of the running OS (see `_testing.ts`). */
export function testingPlatform(): TestingOps {
  const os = platform().os;
  if (Object.hasOwn(TESTING, os)) return TESTING[os as SupportedOs];
  const fail = (): never => {
    throw new Error(`sockbuf does not support ${os}: it runs on linux and darwin (macOS)`);
  };
  return { setReceiveBuffer: fail, unconnected: fail };
}
