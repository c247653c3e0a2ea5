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

  /** The demo under a runtime, not on a terminal (so: plain lines or JSON). */
  const demo = (runtime: string, args: string[]) =>
    spawnSync(
      runtime,
      runtime === "deno"
        ? ["run", "--allow-ffi", "--allow-net", "examples/demo.ts", ...args]
        : ["examples/demo.ts", ...args],
      { cwd: root, encoding: "utf8", timeout: 60_000, env: { ...process.env, NO_COLOR: "1" } },
    );

  for (const runtime of ["deno", "bun"]) {
    it(`the demo prints a plain line per snapshot and a summary comparing the phases (${runtime})`, (t) => {
      if (!needs(t, hasTool(runtime), `${runtime} on PATH`)) return;
      const r = demo(runtime, ["--seconds", "1"]);
      assert.equal(r.status, 0, `exited ${r.status}\n${r.stdout}\n${r.stderr}`);
      const out = r.stdout;
      assert.ok(!out.includes("\x1b"), "no escape codes when stdout is not a terminal");
      const row = (phase: string) =>
        new RegExp(
          `^${phase} +\\d+\\.\\d s \\[[#=.]{32}\\] size \\d+ KiB queued \\d+ KiB unacked \\d+ KiB ` +
            `unsent \\d+ KiB free \\d+ KiB age (n/a|[\\d.]+ m?s) dropped \\d+$`,
          "gm",
        );
      assert.ok(out.match(row("default"))!.length >= 2, out);
      assert.ok(out.match(row("lowat"))!.length >= 2, out);
      assert.match(
        out,
        /^default: [\d.]+ [KM]iB queued, messages [\d.]+ m?s old; lowat 16 KiB: [\d.]+ [KM]iB queued, messages [\d.]+ m?s old \(\d+ dropped\)$/m,
      );
    });

    it(`the demo's JSON shows lowLatencyWriter keeping far less unsent than plain writes (${runtime})`, (t) => {
      if (!needs(t, hasTool(runtime), `${runtime} on PATH`)) return;
      const r = demo(runtime, ["--json", "--seconds", "1.5", "--lowat", "8192"]);
      assert.equal(r.status, 0, `exited ${r.status}\n${r.stdout}\n${r.stderr}`);
      const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
      const summary = lines.pop();
      assert.match(summary.summary, /^default: .* queued, messages .* old; lowat 8 KiB: .* \(\d+ dropped\)$/);
      assert.deepEqual(summary.phases.map((p: { phase: string }) => p.phase), ["default", "lowat"]);
      for (const s of lines) {
        assert.deepEqual(
          Object.keys(s),
          ["phase", "t", "size", "queued", "unsent", "unackedBytes", "free", "ageMs", "dropped"],
        );
      }
      // unsent where the OS gives it (macOS may not), else queued
      const mean = (phase: string) => {
        const xs = lines.filter((s) => s.phase === phase).map((s) => s.unsent ?? s.queued);
        assert.ok(xs.length >= 10, `${phase}: ${xs.length} snapshots`);
        return xs.reduce((a: number, b: number) => a + b, 0) / xs.length;
      };
      const plain = mean("default");
      const lowat = mean("lowat");
      assert.ok(plain > 256 * 1024, `plain writes queue a lot unsent: mean ${plain}`);
      assert.ok(lowat * 10 < plain, `lowat keeps unsent far lower: mean ${lowat} vs ${plain}`);
      assert.ok(lowat <= 2 * 8192, `lowat keeps unsent near its limit: mean ${lowat}`);
    });
  }

  it("the demo rejects a bad flag value with a message naming the flag and exit code 2", (t) => {
    const runtime = ["deno", "bun"].find((r) => hasTool(r));
    if (!needs(t, runtime !== undefined, "deno or bun on PATH")) return;
    const bad = [
      { args: ["--rate", "fast"], flag: "--rate" },
      { args: ["--seconds", "-1"], flag: "--seconds" },
      { args: ["--nope"], flag: "--nope" },
    ];
    for (const { args, flag } of bad) {
      const r = demo(runtime!, args);
      assert.equal(r.status, 2, `${args}: exited ${r.status}\n${r.stderr}`);
      assert.ok(r.stderr.includes(flag), `${args}: ${r.stderr}`);
      assert.equal(r.stdout, "");
    }
  });
  it("examples/deno_stream.ts streams with lowLatencyBody and keeps unsent near lowat (Deno)", (t) => {
    if (!needs(t, hasTool("deno"), "deno on PATH")) return;
    const out = runExample("deno", ["run", "--allow-ffi", "--allow-net", "examples/deno_stream.ts"]);
    checkStream(out);
  });

  it("examples/bun_stream.ts streams with lowLatencyBody and keeps unsent near lowat (Bun)", (t) => {
    if (!needs(t, hasTool("bun"), "bun on PATH")) return;
    checkStream(runExample("bun", ["examples/bun_stream.ts"]));
  });

  for (const rt of ["deno", "bun"]) {
    it(`examples/graceful_close.ts closes only after every byte is acknowledged (${rt})`, (t) => {
      if (!needs(t, hasTool(rt), `${rt} on PATH`)) return;
      const out = rt === "deno"
        ? runExample("deno", ["run", "--allow-ffi", "--allow-net", "examples/graceful_close.ts"])
        : runExample("bun", ["examples/graceful_close.ts"]);
      assert.match(out, /all acknowledged after \d+ ms \(queued 0, ESTABLISHED\), closing/);
      assert.match(out, /client: received 4194304 of 4194304 bytes/);
    });
  }
});

/** The stream examples: the server sent and dropped readings, unsent stayed near lowat. */
function checkStream(out: string): void {
  const m =
    /server: (\d+) readings sent, (\d+) dropped, at most (\d+) bytes unsent in the kernel \(lowat (\d+)\)/
      .exec(out);
  assert.ok(m, out);
  const [sent, dropped, unsent, lowat] = m.slice(1).map(Number);
  assert.ok(sent > 0 && dropped > 0, out);
  assert.ok(unsent <= lowat + 1024, `unsent ${unsent} with lowat ${lowat}`);
  const c = /client: (\d+) readings in \d+ bytes; the newest was (\d+) ms old/.exec(out);
  assert.ok(c && Number(c[1]) > 0, out);
  assert.ok(Number(c[2]) < 2000, `the client saw data ${c[2]} ms old`);
}
