/**
 * Runs the inspect benchmark in C, Deno and Bun and prints one table.
 *
 *   deno run --allow-all bench/run.ts [iterations] [runs]
 *
 * Compiles bench/inspect.c with `cc -O2` into bench/bin/, runs it, then bench/inspect.ts
 * under `deno` and `bun` from PATH (never through a shell). A runtime that is missing or
 * fails is reported and its column shows `-`.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const root = join(benchDir, "..");
const args = process.argv.slice(2);
const n = args[0] ?? "200000";
const runs = args[1] ?? "7";

/** `<who> <op> key=value …` lines, by who then op. */
type Parsed = Record<string, Record<string, Record<string, string>>>;
const parsed: Parsed = {};

function exec(label: string, cmd: string, argv: string[]): void {
  console.error(`$ ${cmd} ${argv.join(" ")}`);
  let out: string;
  try {
    out = execFileSync(cmd, argv, { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  } catch (err) {
    console.error(`${label} failed: ${(err as Error).message}`);
    return;
  }
  process.stderr.write(out);
  for (const line of out.split("\n")) {
    const [who, op, ...kv] = line.trim().split(/\s+/);
    if (!who || !op || kv.length === 0) continue;
    const fields: Record<string, string> = {};
    for (const pair of kv) {
      const eq = pair.indexOf("=");
      if (eq > 0) fields[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    (parsed[who] ??= {})[op] = fields;
  }
}

mkdirSync(join(benchDir, "bin"), { recursive: true });
const bin = join(benchDir, "bin", "inspect");
exec("cc", "cc", ["-O2", "-Wall", "-o", bin, join(benchDir, "inspect.c")]);
exec("C", bin, [n, runs]);
exec("Deno", "deno", ["run", "--allow-all", "--v8-flags=--expose-gc", join(benchDir, "inspect.ts"), n, runs]);
exec("Bun", "bun", [join(benchDir, "inspect.ts"), n, runs]);

/** Each JavaScript op and the C op that makes the same syscalls. */
const OPS: [op: string, c: string, what: string][] = [
  ["inspect", "inspect", "inspectSync(fd): 5 syscalls"],
  ["tcpinfo", "tcpinfo", "platform().tcpInfo(fd): getsockopt + decode"],
  ["tcpinfo_async", "tcpinfo", "await tcpInfo(fd)"],
  ["getsockopt512", "tcpinfo", "libc getsockopt TCP_INFO only"],
];

const num = (who: string, op: string, key: string): number => Number(parsed[who]?.[op]?.[key] ?? NaN);
const cell = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : "-");

const header = ["op", "C ns", "Deno ns (×C)", "Bun ns (×C)", "heap B/op Deno", "retained B/op Deno / Bun"];
const rows = OPS.map(([op, c, what]) => {
  const cNs = num("c", c, "ns_per_op");
  const js = (who: string) => {
    const ns = num(who, op, "ns_per_op");
    return Number.isFinite(ns) ? `${cell(ns)} (${cell(ns / cNs, 2)})` : "-";
  };
  return [
    `${op} — ${what}`,
    cell(cNs),
    js("deno"),
    js("bun"),
    cell(num("deno", op, "heap_b_per_op")),
    `${cell(num("deno", op, "retained_b_per_op"))} / ${cell(num("bun", op, "retained_b_per_op"))}`,
  ];
});
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(`\nn=${n} runs=${runs}; ns are medians per op; C column for tcpinfo rows = C tcpinfo.`);
console.log(line(header));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const r of rows) console.log(line(r));
console.log(
  "heap B/op: heapUsed growth per call, garbage included (approximate; Bun's heapUsed only moves at GC).",
);
console.log("retained B/op: heap kept per result while results stay alive.");
