/**
 * ffi/node.ts as a user meets it (issue 17): each pinned Node (node_modules/node26: node:ffi;
 * node_modules/node22: koffi) runs a small script in a process of its own, which reads a
 * loopback connection and says which FFI it used; its numbers are checked against `ss -tmi`
 * and its stderr for warnings. Runs under any suite runtime: the Nodes are spawned by path.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import process from "node:process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { hasTool, needs, ssFor } from "./_helpers.ts";

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const linux = process.platform === "linux";
const nodeBin = (alias: string) => join(root, "node_modules", alias, "bin", "node");

/**
 * A script that holds a loopback connection whose reader never reads, fills it, prints one
 * JSON line `{ kind, ports, buf, errno }`, and keeps the connection until its stdin ends, so
 * the test can ask `ss` meanwhile.
 */
const SCRIPT = (from: string) => `
import * as net from "node:net";
import { inspectSync } from ${JSON.stringify(join(from, "mod.ts"))};
import { nodeFfiKind } from ${JSON.stringify(join(from, "ffi", "node.ts"))};
const server = net.createServer({ pauseOnConnect: true }, () => {}).listen(0, "127.0.0.1");
await new Promise((r) => server.once("listening", r));
const c = net.connect(server.address().port, "127.0.0.1");
await new Promise((r) => c.once("connect", r));
c.write(new Uint8Array(8 << 20));
let last = -1;
for (let stable = 0; stable < 5;) {
  await new Promise((r) => setTimeout(r, 50));
  const q = inspectSync(c).queued;
  stable = q === last && q > 0 ? stable + 1 : 0;
  last = q;
}
const buf = inspectSync(c);
let errno;
try { inspectSync(2147483647); } catch (e) { errno = e.code; }
process.emitWarning("a warning of the user's own", "UserWarning");
console.log(JSON.stringify({ kind: nodeFfiKind(), ports: [c.localPort, c.remotePort], buf, errno }));
process.stdin.resume();
process.stdin.on("end", () => {
  c.destroy();
  server.close();
});
`;

/** What the script printed. */
interface Probe {
  kind: string;
  ports: [number, number];
  buf: { size: number; queued: number; unsent: number; unackedBytes: number };
  errno: string;
}

/**
 * Runs SCRIPT under `alias`, importing the sources at `from`; `live` runs while the script
 * holds its connection. Resolves with the exit code, the script's line and its stderr.
 */
async function runScript(
  alias: string,
  { args = [] as string[], env = {} as Record<string, string>, from = root, live = (_p: Probe) => {} } = {},
): Promise<{ code: number | null; out?: Probe; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), "sockbuf-node-ffi-"));
  try {
    const file = join(dir, "probe.mjs");
    writeFileSync(file, SCRIPT(from), { flag: "wx" });
    const child = spawn(nodeBin(alias), [...args, file], { env: { ...process.env, ...env } });
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (d) => stderr += d);
    const exited = new Promise<number | null>((r) => child.on("close", (code) => r(code)));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const line = await new Promise<string | undefined>((resolve) => {
      child.stdout.on("data", (d) => {
        stdout += d;
        if (stdout.includes("\n")) resolve(stdout.split("\n")[0]);
      });
      child.on("close", () => resolve(undefined));
    });
    const out = line?.startsWith("{") ? JSON.parse(line) as Probe : undefined;
    try {
      if (out) live(out);
    } finally {
      child.stdin.end();
    }
    const code = await exited;
    clearTimeout(timer);
    return { code, out, stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("ffi/node.ts on the pinned Nodes", { skip: !linux && "Linux only: ss" }, () => {
  for (const [alias, kind] of [["node26", "node:ffi"], ["node22", "koffi"]] as const) {
    it(`${alias} uses ${kind}, agrees with ss -tmi, and reads errno`, { timeout: 60_000 }, async (t) => {
      if (!needs(t, existsSync(nodeBin(alias)), `node_modules/${alias} (npm install)`)) return;
      if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
      let ss: ReturnType<typeof ssFor> | undefined;
      const r = await runScript(alias, { live: (p) => ss = ssFor(...p.ports) });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.out?.kind, kind);
      assert.equal(r.out.errno, "EBADF", "errno read right after the failing call");
      // The reader never reads, so the queue stands still between the script's read and ss.
      assert.ok(r.out.buf.unsent > 0, JSON.stringify(r.out.buf));
      assert.equal(r.out.buf.queued, ss!.sendQ, `queued = Send-Q: ${ss!.raw}`);
      assert.equal(r.out.buf.unsent, ss!.notsent, "unsent = notsent");
      assert.equal(r.out.buf.size, ss!.skmem.tb, "size = skmem tb");
    });
  }

  it("node26 prints no ExperimentalWarning for node:ffi, and every other warning as before", {
    timeout: 60_000,
  }, async (t) => {
    if (!needs(t, existsSync(nodeBin("node26")), "node_modules/node26 (npm install)")) return;
    const quiet = await runScript("node26");
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /ExperimentalWarning/);
    assert.match(quiet.stderr, /UserWarning: a warning of the user's own/);
    // Asked for with --trace-warnings: node:ffi's warning is shown.
    const traced = await runScript("node26", { args: ["--trace-warnings"] });
    assert.equal(traced.code, 0, traced.stderr);
    assert.match(traced.stderr, /ExperimentalWarning: FFI is an experimental feature/);
  });

  it("SOCKBUF_NODE_FFI=koffi picks koffi on node26; a wrong value is an error naming it", {
    timeout: 60_000,
  }, async (t) => {
    if (!needs(t, existsSync(nodeBin("node26")), "node_modules/node26 (npm install)")) return;
    const r = await runScript("node26", { env: { SOCKBUF_NODE_FFI: "koffi" } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.out?.kind, "koffi");
    assert.doesNotMatch(r.stderr, /ExperimentalWarning/, "node:ffi was never loaded");
    const bad = await runScript("node26", { env: { SOCKBUF_NODE_FFI: "ffi-rs" } });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /Expected SOCKBUF_NODE_FFI as "koffi" or "node:ffi", got "ffi-rs"/);
    const none = await runScript("node22", { env: { SOCKBUF_NODE_FFI: "node:ffi" } });
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /SOCKBUF_NODE_FFI=node:ffi, but Node v22\.\d+\.\d+ has no node:ffi/);
  });

  for (const [alias, flag] of [["node26", "--allow-ffi"], ["node22", "--allow-addons"]] as const) {
    it(`${alias} under the permission model names ${flag}, and works with it`, { timeout: 60_000 }, (t) => {
      if (!needs(t, existsSync(nodeBin(alias)), `node_modules/${alias} (npm install)`)) return;
      const dir = mkdtempSync(join(tmpdir(), "sockbuf-node-perm-"));
      try {
        const file = join(dir, "perm.mjs");
        writeFileSync(
          file,
          `import { inspectSync } from ${JSON.stringify(join(root, "mod.ts"))};\n` +
            `try { inspectSync(2147483647); } catch (e) { console.log(e.code ?? e.message); }\n`,
          { flag: "wx" },
        );
        const run = (...flags: string[]) =>
          spawnSync(nodeBin(alias), ["--permission", "--allow-fs-read=*", ...flags, file], {
            encoding: "utf8",
          })
            .stdout.trim();
        assert.match(run(), new RegExp(`run Node with ${flag} \\(the permission model is on\\)`));
        assert.equal(run(flag), "EBADF");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it("node22 without koffi installed says what to install", { timeout: 60_000 }, async (t) => {
    if (!needs(t, existsSync(nodeBin("node22")), "node_modules/node22 (npm install)")) return;
    // The sources alone, where no node_modules is above them.
    const copy = mkdtempSync(join(tmpdir(), "sockbuf-nokoffi-"));
    try {
      cpSync(root, copy, {
        recursive: true,
        filter: (src) => !/^(node_modules|\.git)(\/|$)/.test(relative(root, src)),
      });
      const r = await runScript("node22", { from: copy });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /install the koffi package \(npm install koffi\) or run Node 26/);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
