/**
 * The one routing file that looks at the OS: picks the Linux (`ip rule`) or macOS (pf) driver.
 *
 * @module
 */
import { hostOs } from "../_runtime.ts";
import { RouteUnsupportedError } from "./errors.ts";
import type { RouteDriver } from "./types.ts";

/**
 * The per-user routing driver for an OS: linux → `ip rule` (route/_ip_rule.ts), darwin → pf
 * (route/_pf_driver.ts). Each is loaded on first use, so one OS never loads the other's code.
 * The default is the OS as `_runtime.ts` reports it (it loads no FFI).
 *
 * @throws {RouteUnsupportedError} for any other OS
 */
export async function routeDriver(os: string = hostOs()): Promise<RouteDriver> {
  if (os === "linux") return (await import("./_ip_rule.ts")).ipRuleDriver;
  if (os === "darwin") return (await import("./_pf_driver.ts")).pfDriver;
  throw new RouteUnsupportedError(os === "win32" ? "windows" : os);
}
