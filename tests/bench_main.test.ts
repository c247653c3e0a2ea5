/**
 * bench/main.ts as a user runs it (issue 14 item 6): in a copy of the repository without
 * node_modules, so Deno has to find mitata on its own, and with a runtime missing from PATH,
 * which must be exit 1 rather than a table of dashes and exit 0. Each run measures two cheap
 * cases for one round (`--only`, `--rounds 1`; no soak, no listing): the numbers are not the point.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { hasTool, needs } from "./_helpers.ts";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const bin = join(root, "node_modules", ".bin");
const linux = process.platform === "linux";
/** What a clone holds: everything but installed packages, git's data and build output. */
const NOT_IN_A_CLONE = /^(node_modules|\.git|\.tmp|bench\/bin|bench\/out)(\/|$)/;

/** A copy of the repository as a fresh clone has it, and a PATH with only the given runtimes. */
function freshCopy(runtimes: ("deno" | "bun")[]): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "sockbuf-bench-"));
  cpSync(root, join(dir, "repo"), {
    recursive: true,
    filter: (src) => !NOT_IN_A_CLONE.test(relative(root, src)),
  });
  // the runtimes, cc and ss: /usr/bin and /bin hold no runtime here (checked below).
  mkdirSync(join(dir, "bin"));
  for (const r of runtimes) symlinkSync(realpathSync(join(bin, r)), join(dir, "bin", r));
  return { dir, path: [join(dir, "bin"), "/usr/bin", "/bin"].join(":") };
}

/** Runs bench/main.ts in the copy with `args`; its exit code, stdout and stderr. */
function bench(copy: { dir: string; path: string }, args: string[]) {
  const r = spawnSync(
    join(copy.dir, "bin", "deno"),
    [
      "run",
      "--allow-all",
      "bench/main.ts",
      "--only",
      "tcpInfoSync(fd)",
      "--rounds",
      "1",
      ...args,
    ],
    {
      cwd: join(copy.dir, "repo"),
      encoding: "utf8",
      env: { ...process.env, PATH: copy.path },
      timeout: 180_000,
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("bench/main.ts in a clone without node_modules", {
  skip: !linux && "Linux only: bench/baseline.c makes Linux's syscalls",
}, () => {
  it("measures Deno and Bun: mitata resolves without npm having run", (t) => {
    if (!needs(t, hasTool("cc"), "a C compiler (cc)")) return;
    const copy = freshCopy(["deno", "bun"]);
    try {
      const r = bench(copy, ["--json"]);
      assert.doesNotMatch(r.stderr, /Could not (resolve|find) "?mitata/, r.stderr);
      assert.equal(r.status, 0, r.stderr);
      const rows = JSON.parse(r.stdout) as { case: string; runtime: string; ratio: number | null }[];
      const measured = rows.filter((row) => row.ratio !== null).map((row) => `${row.runtime} ${row.case}`);
      assert.deepEqual(measured.sort(), [
        "bun tcpInfoSync(fd)",
        "bun tcpInfoSync(fd).toJSON()",
        "deno tcpInfoSync(fd)",
        "deno tcpInfoSync(fd).toJSON()",
      ], r.stdout);
      for (const row of rows) assert.ok(row.ratio! > 0, JSON.stringify(row));
    } finally {
      rmSync(copy.dir, { recursive: true, force: true });
    }
  });

  it("exits 1 when a runtime is not on PATH, and says which", (t) => {
    if (!needs(t, hasTool("cc"), "a C compiler (cc)")) return;
    const copy = freshCopy(["deno"]);
    try {
      const onPath = copy.path.split(":").filter((d) => existsSync(join(d, "bun")));
      assert.deepEqual(onPath, [], `bun is on ${copy.path}: the test needs a PATH without it`);
      const r = bench(copy, []); // both runtimes, the default
      assert.equal(r.status, 1, `exit ${r.status}\n${r.stderr}`);
      assert.match(r.stderr, /bun is not on PATH/);
    } finally {
      rmSync(copy.dir, { recursive: true, force: true });
    }
  });
});
