/**
 * Benchmark helper (not a test): `sockbuf ls --json --no-processes` cut short after a stage,
 * so bench/list.ts `--stages` can time where a run's time goes, stage by stage:
 *
 *   0  start the runtime and stop (imports nothing)
 *   1  load the modules `sockbuf ls` loads
 *   2  … and list the sockets (the netlink dump, a record per socket)
 *   3  … and sort them and write their JSON into a buffer that is thrown away
 *
 * The whole command is stage 4 (`cli.ts ls --json --no-processes`). It imports nothing from
 * node: (whose layer costs Deno ~35 ms to load), so each stage costs what `sockbuf ls` pays.
 *
 *   deno run --allow-all bench/ls_stages.ts STAGE
 *   bun bench/ls_stages.ts STAGE
 *
 * @module
 */

// The runtime's own argv: under Deno, `process` would load node:process.
const g = globalThis as unknown as { Deno?: { args: string[] }; process?: { argv: string[] } };
const stage = Number(g.Deno ? g.Deno.args[0] : g.process!.argv[2]);
if (!(stage >= 0 && stage <= 3)) throw new RangeError(`Expected a stage from 0 to 3, got ${stage}`);

if (stage >= 1) {
  // What cli.ts and `ls` import, in their order
  const common = await import("../_cli/common.ts");
  await import("../_cli/host.ts");
  await import("../_cli/ls.ts");
  const view = await import("../_cli/list_view.ts");
  const { listSocketsJsonSync } = await import("../list.ts");
  if (stage >= 2) {
    const json = { type: "boolean", default: false } as const;
    const flags = common.parseFlags(["--json", "--no-processes"], { ...view.LIST_FLAGS, json })!;
    const o = view.listOptions(flags.values);
    const listing = listSocketsJsonSync({ states: o.states, port: o.port });
    if (stage >= 3) {
      let bytes = 0;
      view.writeSortedJson(listing, o, (piece) => bytes += piece.length);
      if (bytes < 2) throw new Error("no JSON was written");
    }
  }
}
