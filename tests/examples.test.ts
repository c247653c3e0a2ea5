/**
 * The examples run as a user runs them: each starts, does its one job, prints, and exits.
 * Each is spawned with its own runtime's binary, whichever runtime runs this suite.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { hasTool, needs } from "./_helpers.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const unix = process.platform === "linux" || process.platform === "darwin";

function runExample(cmd: string, args: string[]) {
  const r = spawnSync(cmd, args, {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: "1" },
  });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe("examples", { skip: !unix && "Linux and macOS only" }, () => {
  it("examples/deno_serve.ts serves one request and prints its snapshot (Deno)", (t) => {
    if (!needs(t, hasTool("deno"), "deno on PATH")) return;
    const out = runExample("deno", ["run", "--allow-ffi", "--allow-net", "examples/deno_serve.ts"]);
    assert.match(out, /Deno\.serve request's send buffer:/);
    assert.match(out, /size: \d+/);
    assert.match(out, /queued: \d+/);
  });

  it("examples/bun_serve.ts serves one request and prints its snapshot (Bun)", (t) => {
    if (!needs(t, hasTool("bun"), "bun on PATH")) return;
    const out = runExample("bun", ["examples/bun_serve.ts"]);
    assert.match(out, /Bun\.serve request's send buffer:/);
    assert.match(out, /size: \d+/);
  });

  for (const runtime of ["deno", "bun"]) {
    it(`the demo fills a stalled connection's buffer and prints snapshots (${runtime})`, (t) => {
      if (!needs(t, hasTool(runtime), `${runtime} on PATH`)) return;
      const args = ["--interval", "30", "--steps", "40"];
      const out = runtime === "deno"
        ? runExample("deno", ["run", "--allow-ffi", "--allow-net", "examples/demo.ts", ...args])
        : runExample("bun", ["examples/demo.ts", ...args]);
      const rows = out.split("\n").filter((l) => /^\s*\d+ \[/.test(l));
      assert.ok(rows.length >= 3, out);
      const queued = rows.map((r) => Number(/queued\s+(\d+)/.exec(r)![1]));
      assert.ok(queued.at(-1)! > queued[0], `the queue grew: ${queued}`);
      assert.equal(queued.at(-1), queued.at(-2), "the demo stops once the buffer is full");
      assert.match(out, /the peer is \d+ KiB behind/);
    });
  }
});
