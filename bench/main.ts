/**
 * sockbuf's benchmark: the hot paths under Deno and Bun against C making the same syscalls.
 *
 *   deno run --allow-all bench/main.ts [--json] [--soak] [--check] [--rounds N] [--only TEXT]
 *
 * Compiles bench/baseline.c with `cc -O2 -shared -fPIC` into bench/bin/, then runs
 * bench/cases.ts under `deno` and under `bun` from PATH (never through a shell). Each runtime
 * loads the compiled C through its own FFI and times it back to back with its own calls on
 * the same socket, so every ratio compares JavaScript and C under the same load.
 *
 * - default: a table of ns per operation, C and each runtime, with each runtime's ratio to C
 *   and the goal from issue 7;
 * - `--json`: a JSON array of rows `{ case, runtime, nsPerOp, cNsPerOp, ratio }`;
 * - `--soak`: also bench/soak.ts under both runtimes (1,000,000 snapshots over 1,000
 *   sockets: RSS and open fds before and after);
 * - `--check`: exit 1 when a ratio misses its goal or the soak grows RSS by 5 MB or fds.
 *
 * A runtime that is missing or fails is reported on stderr and its cells show `-`.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values: opts } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== "--"),
  options: {
    json: { type: "boolean", default: false },
    soak: { type: "boolean", default: false },
    check: { type: "boolean", default: false },
    rounds: { type: "string" },
    only: { type: "string" },
  },
});

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const root = join(benchDir, "..");
const lib = join(benchDir, "bin", "libbaseline.so");

/** One measured case in one runtime, as bench/cases.ts prints it. */
interface Row {
  case: string;
  runtime: "deno" | "bun";
  nsPerOp: number;
  cNsPerOp: number;
  ratio: number;
  goal: number | null;
}

/** One runtime's soak, as bench/soak.ts prints it. */
interface Soak {
  runtime: string;
  snapshots: number;
  sockets: number;
  nsPerSnapshot: number;
  rssBefore: number;
  rssAfter: number;
  rssAfterGc: number | null;
  fdsBefore: number;
  fdsAfter: number;
}

/** Runs a command without a shell; returns its stdout, or undefined (reported) if it fails. */
function run(cmd: string, argv: string[]): string | undefined {
  console.error(`$ ${cmd} ${argv.join(" ")}`);
  try {
    return execFileSync(cmd, argv, {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    console.error(`${cmd} failed: ${(err as Error).message}`);
    return undefined;
  }
}

/** The JSON objects among a command's output lines. */
function jsonLines<T>(out: string | undefined): T[] {
  return (out ?? "").split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as T);
}

mkdirSync(join(benchDir, "bin"), { recursive: true });
if (run("cc", ["-O2", "-Wall", "-shared", "-fPIC", "-o", lib, join(benchDir, "baseline.c")]) === undefined) {
  process.exit(1);
}

const caseArgs = ["--lib", lib];
if (opts.rounds) caseArgs.push("--rounds", opts.rounds);
if (opts.only) caseArgs.push("--only", opts.only);
const cases = join(benchDir, "cases.ts");
const rows: Row[] = [
  ...jsonLines<Row>(run("deno", ["run", "--allow-all", cases, ...caseArgs])),
  ...jsonLines<Row>(run("bun", [cases, ...caseArgs])),
];

const soaks: Soak[] = [];
if (opts.soak) {
  const soak = join(benchDir, "soak.ts");
  soaks.push(...jsonLines<Soak>(run("deno", ["run", "--allow-all", "--v8-flags=--expose-gc", soak])));
  soaks.push(...jsonLines<Soak>(run("bun", [soak])));
}

const missed: string[] = [];
for (const r of rows) {
  if (r.goal !== null && r.ratio > r.goal) missed.push(`${r.case} on ${r.runtime}: ${r.ratio}× > ${r.goal}×`);
}
const MB = 1 << 20;
for (const s of soaks) {
  const growth = (s.rssAfterGc ?? s.rssAfter) - s.rssBefore;
  if (growth >= 5 * MB) missed.push(`soak on ${s.runtime}: RSS grew ${(growth / MB).toFixed(1)} MB`);
  if (s.fdsAfter !== s.fdsBefore) missed.push(`soak on ${s.runtime}: fds ${s.fdsBefore} -> ${s.fdsAfter}`);
}

/** Prints rows of cells as a Markdown table. */
function table(header: string[], body: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of body) console.log(line(r));
}

if (opts.json) {
  console.log(JSON.stringify(
    rows.map((r) => ({
      case: r.case,
      runtime: r.runtime,
      nsPerOp: r.nsPerOp,
      cNsPerOp: r.cNsPerOp,
      ratio: r.ratio,
    })),
    null,
    2,
  ));
} else {
  const names = [...new Set(rows.map((r) => r.case))];
  const ns = (x: number) => x.toLocaleString("en-US");
  const cell = (name: string, runtime: string) => {
    const r = rows.find((r) => r.case === name && r.runtime === runtime);
    return r ? [ns(r.cNsPerOp), ns(r.nsPerOp), `${r.ratio.toFixed(2)}×`] : ["-", "-", "-"];
  };
  console.log();
  table(
    ["case", "C ns", "Deno ns", "Deno/C", "C ns", "Bun ns", "Bun/C", "goal"],
    names.map((name) => {
      const goal = rows.find((r) => r.case === name)?.goal;
      return [name, ...cell(name, "deno"), ...cell(name, "bun"), goal ? `≤ ${goal.toFixed(2)}×` : ""];
    }),
  );
  console.log(
    "\nns per operation; each runtime times the C baseline (bench/baseline.c) itself, alternating with its own" +
      "\ncalls on the same socket, so the C column beside each runtime is the one its ratio uses.",
  );
  if (soaks.length > 0) {
    console.log();
    const mb = (b: number | null) => (b === null ? "-" : (b / MB).toFixed(1));
    table(
      [
        "soak",
        "snapshots",
        "sockets",
        "ns/snapshot",
        "RSS before MB",
        "after",
        "after GC",
        "fds before",
        "after",
      ],
      soaks.map((s) => [
        s.runtime,
        ns(s.snapshots),
        String(s.sockets),
        ns(s.nsPerSnapshot),
        mb(s.rssBefore),
        mb(s.rssAfter),
        mb(s.rssAfterGc),
        String(s.fdsBefore),
        String(s.fdsAfter),
      ]),
    );
  }
  if (missed.length > 0) console.log(`\nMissed: ${missed.join("; ")}`);
}
if (opts.check && missed.length > 0) process.exit(1);
