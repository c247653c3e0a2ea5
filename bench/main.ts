/**
 * sockbuf's benchmark: the hot paths under Deno, Bun and Node against C making the same
 * syscalls, and `sockbuf ls` against `ss` on 20,000 sockets.
 *
 *   deno run --allow-all bench/main.ts [--json] [--soak] [--check] [--rounds N] [--only TEXT]
 *                                      [--runtimes deno,bun,node26,node22] [--no-list] [--connections N]
 *
 * Compiles bench/baseline.c with `cc -O2 -shared -fPIC` into bench/bin/, then runs
 * bench/cases.ts under `deno` and under `bun` from PATH (never through a shell), and under
 * `node26`/`node22`, the Nodes package.json pins, from node_modules (Node 26 calls libc
 * through node:ffi, Node 22 through koffi). Each runtime
 * loads the compiled C through its own FFI and times it back to back with its own calls on
 * the same socket, so every ratio compares JavaScript and C under the same load. Then
 * bench/list.ts holds `--connections` loopback connections (10,000: 20,000 sockets) and times
 * each runtime's `sockbuf ls --json --no-processes` against `ss -tmi`, run by run.
 *
 * - default: a table of ns per operation, C and each runtime, with each runtime's ratio to C
 *   and the goal from issue 14 ({@link GOALS});
 * - `--json`: a JSON array of rows `{ case, runtime, nsPerOp, cNsPerOp, ratio, goal, met }`,
 *   one per case and runtime, including the soak's and, as `met: null`, goals not measured;
 * - `--soak`: also bench/soak.ts under both runtimes (1,000,000 snapshots over 1,000
 *   sockets: RSS and open fds before and after);
 * - `--check`: exit 1 when a ratio misses its goal, a goal was not measured (unless `--only`
 *   or `--runtimes` left it out), or the soak grows RSS by 5 MB or changes the fd count.
 *
 * Dependencies: mitata. Deno runs bench/cases.ts with `--config bench/deno.json`, whose import map
 * says `npm:mitata@1.0.34` with `nodeModulesDir: "none"`, so a clone without node_modules runs;
 * Bun resolves it from node_modules or installs the version package.json names on the fly.
 * A runtime that is missing from PATH or fails is reported on stderr, its cells show `-`,
 * and the exit code is 1 (`--runtimes deno` measures Deno alone).
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
    runtimes: { type: "string", default: "deno,bun" },
    "no-list": { type: "boolean", default: false },
    connections: { type: "string", default: "10000" },
    runs: { type: "string", default: "9" },
  },
});

/** `deno`, `bun`, or a Node package.json pins as an alias (`node26`, `node22`). */
type Runtime = string;
const isNode = (r: Runtime) => /^node\d+$/.test(r);
const runtimes = opts.runtimes.split(",").filter(Boolean) as Runtime[];
for (const r of runtimes) {
  if (r !== "deno" && r !== "bun" && !isNode(r)) {
    console.error(`bench: --runtimes takes deno, bun, node26 and node22, got ${JSON.stringify(r)}`);
    process.exit(2);
  }
}

/**
 * Goals for the Nodes, by runtime (issue 17): `inspectSync` within 1.15× of C on node:ffi;
 * koffi's ratio is reported, with no goal. Deno's and Bun's goals below do not apply.
 */
const NODE_GOALS: Record<string, Record<string, number>> = {
  node26: { "inspectSync(fd)": 1.15 },
  node22: {},
};

/** The `sockbuf ls` case's name, as bench/list.ts prints it. */
const LS_CASE = "sockbuf ls --json --no-processes vs ss -tmi";

/**
 * The goals, by case name: the largest ratio to C (or to `ss` for `ls`) each runtime may
 * show, from issue 14 (and issue 7 where 14 is silent). A goal whose case is not measured is
 * reported as such and, under `--check`, counts as missed. Cases without a goal are shown
 * without one; a goal a case row carries itself (bench/cases.ts) applies when none is here.
 */
const GOALS: Record<string, number> = {
  "inspectSync(fd) vs the seed's 4-call C": 0.80,
  "inspectSync(fd)": 1.10,
  "await inspect(fd) vs the seed's 4-call C": 0.90,
  "await inspect(fd)": 1.25,
  "await inspectMany(1,000 sockets), per socket": 1.05,
  "tcpInfoSync(fd)": 1.30,
  "tcpInfoSync(fd).toJSON()": 1.25,
  [LS_CASE]: 0.80,
};

/** The soak's goal: RSS growth under this, and the same fd count. */
const SOAK_RSS_LIMIT = 5 << 20;
const SOAK_CASE = "soak: 1,000,000 snapshots, RSS growth under 5 MB and the same fds";

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const root = join(benchDir, "..");
const lib = join(benchDir, "bin", "libbaseline.so");

/** One measured case in one runtime, as bench/cases.ts prints it. */
interface Row {
  case: string;
  runtime: Runtime;
  nsPerOp: number;
  cNsPerOp: number;
  ratio: number;
  goal?: number | null;
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

/** Runtimes (or tools) that were missing or failed: each makes the exit code 1. */
const failed: string[] = [];

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
    const e = err as Error & { code?: string };
    const why = e.code === "ENOENT" ? "is not on PATH" : `failed: ${e.message}`;
    console.error(`${cmd} ${why}`);
    failed.push(`${cmd} ${argv.slice(0, 3).join(" ")}… ${why.split("\n")[0]}`);
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
const argvFor = (runtime: Runtime, script: string, ...rest: string[]) =>
  runtime === "deno" ? ["run", "--allow-all", ...rest, script] : [script];
const rows: Row[] = [];
// Deno takes mitata through bench/deno.json: npm:mitata from its own cache, never node_modules,
// so a clone that never ran npm works; the root deno.json stays free of npm packages, which
// (in the manual node_modules mode package.json implies) would need node_modules everywhere.
const casesArgv = (r: Runtime) =>
  r === "deno" ? ["run", "--allow-all", "--config", join(benchDir, "deno.json"), cases] : [cases];
/** The command for a runtime: Deno and Bun from PATH, a pinned Node from node_modules. */
const command = (r: Runtime) => isNode(r) ? join(root, "node_modules", r, "bin", "node") : r;
// A Node's rows say "node": label them with the alias, so node26 and node22 stay apart.
for (const r of runtimes) {
  rows.push(
    ...jsonLines<Row>(run(command(r), [...casesArgv(r), ...caseArgs])).map((row) => ({ ...row, runtime: r })),
  );
}

// sockbuf ls against ss: one holder pair serves every runtime, run by run.
// bench/list.ts runs the CLI under Deno and Bun only.
const listRuntimes = runtimes.filter((r) => !isNode(r));
if (!opts["no-list"] && (!opts.only || LS_CASE.includes(opts.only)) && listRuntimes.length > 0) {
  const list = join(benchDir, "list.ts");
  const listArgs = ["--ls", listRuntimes.join(","), "--connections", opts.connections, "--runs", opts.runs];
  const out = run("deno", ["run", "--allow-all", list, ...listArgs]);
  rows.push(...jsonLines<Row>(out));
}

const soaks: Soak[] = [];
if (opts.soak) {
  const soak = join(benchDir, "soak.ts");
  for (const r of runtimes) {
    const argv = isNode(r) ? ["--expose-gc", soak] : argvFor(r, soak, "--v8-flags=--expose-gc");
    soaks.push(...jsonLines<Soak>(run(command(r), argv)).map((s) => ({ ...s, runtime: r })));
  }
}

/** One case's result against its goal, for the table, `--json` and `--check`. */
interface Verdict {
  case: string;
  runtime: string;
  nsPerOp: number | null;
  cNsPerOp: number | null;
  ratio: number | null;
  goal: number | string | null;
  /** true met, false missed, null no goal or not measured */
  met: boolean | null;
  note?: string;
  soak?: Soak;
}

/** The goal a case has on a runtime, if any. */
const goalOf = (name: string, runtime: Runtime, own?: number | null): number | null =>
  isNode(runtime) ? NODE_GOALS[runtime]?.[name] ?? null : GOALS[name] ?? own ?? null;

const MB = 1 << 20;
const verdicts: Verdict[] = rows.map((r) => {
  const goal = goalOf(r.case, r.runtime, r.goal);
  return {
    case: r.case,
    runtime: r.runtime,
    nsPerOp: r.nsPerOp,
    cNsPerOp: r.cNsPerOp,
    ratio: r.ratio,
    goal,
    met: goal === null ? null : r.ratio <= goal,
  };
});
for (const s of soaks) {
  const growth = (s.rssAfterGc ?? s.rssAfter) - s.rssBefore;
  const met = growth < SOAK_RSS_LIMIT && s.fdsAfter === s.fdsBefore;
  verdicts.push({
    case: SOAK_CASE,
    runtime: s.runtime,
    nsPerOp: s.nsPerSnapshot,
    cNsPerOp: null,
    ratio: null,
    goal: "< 5 MB, same fds",
    met,
    note: `RSS grew ${(growth / MB).toFixed(2)} MB, fds ${s.fdsBefore} -> ${s.fdsAfter}`,
    soak: s,
  });
}
// Goals nobody measured: a check that passes on nothing measured would prove nothing.
const wanted = [...new Set([...Object.keys(GOALS), ...Object.values(NODE_GOALS).flatMap(Object.keys)])]
  .filter((name) => !opts.only || name.includes(opts.only));
if (opts.soak) wanted.push(SOAK_CASE);
for (const name of wanted) {
  if (name === LS_CASE && opts["no-list"]) continue;
  for (const runtime of runtimes) {
    if (verdicts.some((v) => v.case === name && v.runtime === runtime)) continue;
    if (name !== SOAK_CASE && goalOf(name, runtime) === null) continue;
    if (name === LS_CASE && isNode(runtime)) continue;
    verdicts.push({
      case: name,
      runtime,
      nsPerOp: null,
      cNsPerOp: null,
      ratio: null,
      goal: name === SOAK_CASE ? "< 5 MB, same fds" : goalOf(name, runtime),
      met: null,
      note: "not measured",
    });
  }
}
const missed = verdicts.filter((v) => v.met === false).map((v) =>
  v.ratio === null
    ? `${v.case} on ${v.runtime}: ${v.note}`
    : `${v.case} on ${v.runtime}: ${v.ratio}× > ${v.goal}×`
);
const unmeasured = verdicts.filter((v) => v.note === "not measured").map((v) => `${v.case} on ${v.runtime}`);

/** Prints rows of cells as a Markdown table. */
function table(header: string[], body: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  console.log(line(header));
  console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
  for (const r of body) console.log(line(r));
}

if (opts.json) {
  console.log(JSON.stringify(verdicts, null, 2));
} else {
  const names = [...new Set(verdicts.filter((v) => v.soak === undefined).map((v) => v.case))];
  const ns = (x: number) => x.toLocaleString("en-US");
  const cell = (name: string, runtime: string) => {
    const r = verdicts.find((r) => r.case === name && r.runtime === runtime && r.ratio !== null);
    if (!r) return ["-", "-", "-"];
    const mark = r.met === false ? " ✗" : r.met ? " ✓" : "";
    return [ns(r.cNsPerOp!), ns(r.nsPerOp!), `${r.ratio!.toFixed(2)}×${mark}`];
  };
  console.log();
  const label = (r: Runtime) => r === "deno" ? "Deno" : r === "bun" ? "Bun" : `Node ${r.slice(4)}`;
  table(
    ["case", ...runtimes.flatMap((r) => ["C ns", `${label(r)} ns`, `${label(r)}/C`]), "goal"],
    names.map((name) => {
      // Each distinct goal once, naming the runtimes it is for when they differ.
      const goals = runtimes.map((r) => [r, goalOf(name, r)] as const).filter(([, g]) => g !== null);
      const distinct = [...new Set(goals.map(([, g]) => g))];
      const goal = distinct.length === 1 && goals.length === runtimes.length
        ? `≤ ${distinct[0]!.toFixed(2)}×`
        : goals.map(([r, g]) => `${label(r)} ≤ ${g!.toFixed(2)}×`).join(", ");
      return [name, ...runtimes.flatMap((r) => cell(name, r)), goal];
    }),
  );
  console.log(
    "\nns per operation; each runtime times the C baseline (bench/baseline.c) itself, alternating with its own" +
      "\ncalls on the same socket, so the C column beside each runtime is the one its ratio uses. For sockbuf ls" +
      "\nthe C column is ss -tmi, each run timed right before the runtime's.",
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
  if (unmeasured.length > 0) console.log(`\nNot measured: ${unmeasured.join("; ")}`);
  if (missed.length > 0) console.log(`\nMissed: ${missed.join("; ")}`);
}
if (failed.length > 0) console.error(`bench: failed: ${failed.join("; ")}`);
if (opts.check && (missed.length > 0 || unmeasured.length > 0)) {
  console.error(`bench --check: ${[...missed, ...unmeasured.map((u) => `${u}: not measured`)].join("; ")}`);
}
if (failed.length > 0 || (opts.check && (missed.length > 0 || unmeasured.length > 0))) process.exit(1);
