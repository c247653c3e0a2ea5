/**
 * The live demo, as `sockbuf demo` runs it: a slow loopback reader, and the send buffer
 * redrawn with plain writes, then with `TCP_NOTSENT_LOWAT`. Flags: `--help`.
 *
 *   deno run --allow-ffi --allow-net examples/demo.ts [--seconds 5] [--json]
 *   bun examples/demo.ts [--seconds 5] [--json]
 *
 * @module
 */
import process from "node:process";
import { main } from "../cli.ts";

process.exitCode = await main(["demo", ...process.argv.slice(2)]);
