/**
 * The command line's flag parser (_cli/common.ts `parseFlags`) against node:util's
 * `parseArgs`, which it replaces on the way to `sockbuf ls` (loading node:util costs Deno
 * ~35 ms): for the same options and arguments both must give the same values and
 * positionals. And the path `sockbuf ls` loads must stay free of node: built-ins.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { parseFlags, UsageError } from "../_cli/common.ts";
import { LIST_FLAGS } from "../_cli/list_view.ts";
import { prng } from "./_diag.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Option sets shaped like the commands' own: ls's, and one with every kind. */
const SETS: { options: Options; positionals: boolean }[] = [
  {
    options: {
      ...LIST_FLAGS,
      json: { type: "boolean", default: false },
      "tcp-info": { type: "boolean", default: false },
    },
    positionals: false,
  },
  {
    options: {
      json: { type: "boolean" },
      quiet: { type: "boolean", default: true },
      interval: { type: "string", default: "1000" },
      name: { type: "string" },
      tag: { type: "string", multiple: true },
    },
    positionals: true,
  },
];

/** Arguments to draw from: flags of both sets, values, negations, `=` forms, `--`, `-h`. */
const TOKENS = [
  "--json",
  "--no-json",
  "--tcp-info",
  "--no-processes",
  "--processes",
  "--state",
  "established",
  "--state=listen,time-wait",
  "--port",
  "443",
  "--port=0",
  "--sort=rtt",
  "--sort",
  "port",
  "--limit",
  "5",
  "--quiet",
  "--no-quiet",
  "--interval",
  "250",
  "--interval=-1",
  "--name=a=b",
  "--name",
  "x",
  "--tag",
  "t1",
  "--tag=t2",
  "--",
  "-",
  "1234:5",
  "-h",
  "--help",
  "",
];

/** parseArgs' answer, as a plain object, or its error. */
function oracle(args: string[], options: Options, positionals: boolean) {
  try {
    const r = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      strict: true,
      allowPositionals: positionals,
      allowNegative: true,
    });
    return { values: { ...r.values }, positionals: r.positionals };
  } catch (err) {
    return err as Error;
  }
}

describe("the command line's flag parser", () => {
  it("gives what node:util parseArgs gives, for 5,000 command lines", () => {
    const rand = prng(14);
    let compared = 0, refused = 0, help = 0;
    for (let i = 0; i < 5_000; i++) {
      const { options, positionals } = SETS[i % SETS.length];
      const args = Array.from(
        { length: Math.floor(rand() * 6) },
        () => TOKENS[Math.floor(rand() * TOKENS.length)],
      );
      let ours;
      try {
        ours = parseFlags(args, options, positionals);
      } catch (err) {
        // checkFlags refuses more than parseArgs does (a flag given twice, a value that looks
        // like a flag): those are its own tests' business (cli.test.ts, cli_hostile.test.ts).
        assert.ok(err instanceof UsageError, `${JSON.stringify(args)}: ${err}`);
        refused++;
        continue;
      }
      const want = oracle(args, options, positionals);
      assert.ok(!(want instanceof Error), `${JSON.stringify(args)}: parseArgs refused it: ${want}`);
      if (ours === undefined) {
        assert.equal(want.values.help, true, `${JSON.stringify(args)}: help`);
        help++;
        continue;
      }
      assert.deepEqual(
        { values: { ...ours.values }, positionals: ours.positionals },
        want,
        JSON.stringify(args),
      );
      compared++;
    }
    console.log("flags:", { compared, refused, help });
    assert.ok(compared > 1000 && refused > 100 && help > 100, "every outcome was exercised");
  });

  it("keeps node: built-ins off the path `sockbuf ls` loads (cli.ts, then _cli/ls.ts)", () => {
    const root = dirname(dirname(fileURLToPath(import.meta.url)));
    const seen = new Set<string>();
    const builtins = new Map<string, string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      // Leave out comments and type-only imports, which load nothing.
      const code = readFileSync(join(root, file), "utf8").replace(/\/\*[\s\S]*?\*\//g, "")
        .replace(/^\s*\/\/.*$/gm, "");
      const re = /^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\s+from\s+)?["']([^"']+)["']/gm;
      for (const [, spec] of code.matchAll(re)) {
        if (spec.startsWith("node:")) builtins.set(spec, file);
        else if (spec.startsWith(".")) visit(relative(root, resolve(root, dirname(file), spec)));
      }
    };
    visit("cli.ts");
    visit("_cli/ls.ts");
    assert.ok(seen.has("platform/linux/diag_json.ts"), `the walk reached the listing: ${[...seen]}`);
    assert.deepEqual(Object.fromEntries(builtins), {});
  });
});
