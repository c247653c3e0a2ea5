/**
 * The npm package, the way a newcomer with only Node meets it: tools/build_npm.ts builds it,
 * `npm pack` packs it, `npm install <tarball>` puts it in an empty project (koffi comes from
 * the registry), and the `node:http` server README.md shows prints `inspect(req.socket)` for a
 * request curl makes, checked against `ss -tmi`, under Node 22 (koffi), Node 26 (`node:ffi`)
 * and Bun; `npx sockbuf ls --json` (`bunx --bun` under Bun) from that project lists the server.
 *
 * One build, pack and install per run of this file, shared by its tests, and removed after
 * them; the runtimes are spawned by path (the pinned node22, node26 and bun devDependencies),
 * whichever runtime runs the suite.
 */
import { after, describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type SpawnSyncOptions } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { buildNpm } from "../tools/build_npm.ts";
import { hasTool, needs, ssFor } from "./_helpers.ts";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const linux = process.platform === "linux";
const bin = (...path: string[]) => join(ROOT, "node_modules", ...path);

/** The runtimes the newcomer path runs on, by the binaries npm ci pins. */
const RUNTIMES = [
  { name: "Node 22 (koffi)", exe: bin("node22", "bin", "node"), node: true },
  { name: "Node 26 (node:ffi)", exe: bin("node26", "bin", "node"), node: true },
  { name: "Bun", exe: bin(".bin", "bun"), node: false },
];

/**
 * The server README.md's "From npm" section shows, verbatim but for its port: 0, so the
 * system picks a free one (the server prints the port it got).
 */
function readmeServer(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("\n## From npm (Node and Bun)\n"));
  const code = /\n```js\n([\s\S]*?)\n```\n/.exec(section.slice(0, section.indexOf("\n## ", 1)))?.[1];
  assert.ok(code, "README.md's From npm section shows a ```js server");
  assert.equal(code.split("\n").length <= 10, true, `the server is at most 10 lines:\n${code}`);
  const listen = '.listen(8080, "127.0.0.1",';
  assert.ok(code.includes(listen), `the README's server listens with ${listen}`);
  return `${code.replace(listen, '.listen(0, "127.0.0.1",')}\n`;
}

/** A consumer's TypeScript, importing every entry point: the shipped .d.ts files must check. */
const CONSUMER = `import { createServer } from "node:http";
import { inspect, type SendBuffer } from "@sockbuf/sockbuf";
import { main } from "@sockbuf/sockbuf/cli";
import { collect } from "@sockbuf/sockbuf/metrics";
import { registerMetrics } from "@sockbuf/sockbuf/metrics/otel";
import { routeUser } from "@sockbuf/sockbuf/route";
import { applyPersist } from "@sockbuf/sockbuf/pf";

createServer(async (req, res) => {
  const buf: SendBuffer = await inspect(req.socket);
  res.end(\`\${buf.queued} of \${buf.size}\`);
});
export const all = [main, collect, registerMetrics, routeUser, applyPersist];
`;

/** npm's own environment variables (set when the suite runs under \`npm test\`) left out. */
function npmEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !/^npm_/i.test(k)) env[k] = v;
  }
  return { ...env, npm_config_update_notifier: "false", npm_config_fund: "false", ...extra };
}

/** Runs a command (never through a shell); throws with its output when it fails. */
function must(cmd: string, args: string[], options: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20, timeout: 300_000, ...options });
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${
        r.error?.message ?? r.status ?? r.signal
      }):\n${r.stdout}${r.stderr}`,
    );
  }
  return String(r.stdout);
}

interface Installed {
  /** The folder tools/build_npm.ts wrote. */
  built: string;
  /** package.json as built. */
  manifest: Record<string, unknown>;
  /** The tarball npm pack wrote. */
  tarball: string;
  /** The tarball's entries, without npm's `package/` prefix, as tar lists them. */
  entries: string[];
  /** An empty project where npm installed the tarball. */
  project: string;
}

const scratch: string[] = [];
let made: Installed | Error | undefined;

/** Builds, packs and installs once for the whole file; a failure fails every test that needs it. */
function installed(): Installed {
  if (made === undefined) {
    try {
      const dir = mkdtempSync(join(tmpdir(), "sockbuf-npm-"));
      scratch.push(dir);
      const { dir: built, manifest } = buildNpm(join(dir, "package"));
      const packed = JSON.parse(
        must("npm", ["pack", "--json", "--pack-destination", dir], { cwd: built, env: npmEnv() }),
      ) as { filename: string }[];
      const tarball = join(dir, packed[0].filename);
      const entries = must("tar", ["-tzf", tarball]).trim().split("\n").map((e) => {
        assert.match(e, /^package\//, `a tarball entry outside package/: ${e}`);
        return e.slice("package/".length);
      });
      const project = join(dir, "project");
      mkdirSync(project);
      writeFileSync(join(project, "package.json"), `{ "name": "newcomer", "private": true }\n`, {
        flag: "wx",
      });
      must("npm", ["install", "--no-audit", tarball], { cwd: project, env: npmEnv() });
      made = { built, manifest, tarball, entries, project };
    } catch (err) {
      made = err instanceof Error ? err : new Error(String(err));
    }
  }
  if (made instanceof Error) throw made;
  return made;
}

after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** Lines a child writes, as they come. */
function lines(stream: Readable): { all: string[]; next(what: string, ms?: number): Promise<string> } {
  const all: string[] = [];
  let partial = "";
  let wake = () => {};
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    all.push(...parts);
    wake();
  });
  let read = 0;
  return {
    all,
    async next(what, ms = 20_000) {
      const deadline = Date.now() + ms;
      while (read >= all.length) {
        if (Date.now() > deadline) throw new Error(`No ${what} within ${ms} ms`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 100);
        });
      }
      return all[read++];
    },
  };
}

/** The publish list in deno.json: does it hold `file`? */
function published(file: string): boolean {
  const include = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8")).publish.include as string[];
  return include.some((p) => p.endsWith("/") ? file.startsWith(p) : file === p);
}

describe("the npm package", { skip: !linux && "Linux only: ss, and the CLI's ls" }, () => {
  const tools = (t: TestContext) =>
    needs(t, hasTool("npm", ["--version"]), "npm on PATH") &&
    needs(t, hasTool("tar", ["--version"]), "tar");

  // The first test to run builds, packs and installs (a minute or so), whichever it is.
  const SLOW = { timeout: 300_000 };

  it(
    "npm pack ships the compiled library and nothing else; every export and the bin are in it",
    SLOW,
    (t) => {
      if (!tools(t)) return;
      const { entries, manifest } = installed();
      const deno = JSON.parse(readFileSync(join(ROOT, "deno.json"), "utf8"));
      const dev = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
      const set = new Set(entries);
      assert.equal(set.size, entries.length, "no entry twice");

      const fixed = ["LICENSE", "README.md", "bin/sockbuf.js", "package.json"];
      for (const e of entries.filter((e) => !fixed.includes(e))) {
        const m = /^(.+)\.(js|d\.ts)$/.exec(e);
        assert.ok(m, `only .js and .d.ts besides ${fixed.join(", ")}: ${e}`);
        assert.doesNotMatch(e, /^(tests|bench|tools|examples)\//, `no test, bench, tool or example: ${e}`);
        assert.ok(existsSync(join(ROOT, `${m[1]}.ts`)), `${e} is compiled from a source file, ${m[1]}.ts`);
        assert.ok(published(`${m[1]}.ts`), `${m[1]}.ts is one JSR publishes too`);
        assert.ok(set.has(`${m[1]}.${m[2] === "js" ? "d.ts" : "js"}`), `${e} has its twin`);
      }
      for (const f of fixed) assert.ok(set.has(f), `${f} is in the tarball`);

      // What a user reaches: every export and the bin, and every relative import they make.
      assert.equal(manifest.name, deno.name);
      assert.equal(manifest.version, deno.version);
      assert.equal(manifest.type, "module");
      const exports = manifest.exports as Record<string, string | { types: string; import: string }>;
      assert.deepEqual(Object.keys(exports).sort(), [...Object.keys(deno.exports), "./package.json"].sort());
      for (const [name, target] of Object.entries(exports)) {
        for (const path of typeof target === "string" ? [target] : [target.types, target.import]) {
          assert.ok(set.has(path.replace(/^\.\//, "")), `exports[${name}] → ${path} is in the tarball`);
        }
      }
      assert.deepEqual(manifest.bin, { sockbuf: "bin/sockbuf.js" });
      assert.deepEqual(manifest.optionalDependencies, { koffi: dev.devDependencies.koffi });
      const { built } = installed();
      assert.match(readFileSync(join(built, "bin/sockbuf.js"), "utf8"), /^#!\/usr\/bin\/env node\n/);
      for (const e of entries.filter((e) => /\.(js|d\.ts)$/.test(e))) {
        // Code lines only: the doc comments' examples import private files by their .ts names.
        const code = readFileSync(join(built, e), "utf8").split("\n").filter((l) =>
          !/^\s*(\*|\/\/|\/\*)/.test(l)
        );
        for (const [, spec] of code.join("\n").matchAll(/(?:from |import\()"(\.{1,2}\/[^"]+)"/g)) {
          const target = join(dirname(e), spec).replace(/\.ts$/, e.endsWith(".d.ts") ? ".d.ts" : ".js");
          assert.ok(set.has(target), `${e} imports ${spec}, which the tarball lacks`);
          if (e.endsWith(".js")) assert.match(spec, /\.js$/, `${e} imports ${spec}: Node needs .js`);
        }
      }
    },
  );

  it("the build refuses an output folder it would empty over the sources", () => {
    for (const out of [ROOT, dirname(ROOT), join(ROOT, "ffi"), join(ROOT, ".tmp")]) {
      assert.throws(() => buildNpm(out), (err: Error) => {
        assert.ok(err instanceof RangeError, String(err));
        assert.match(
          err.message,
          /^Expected an output folder outside the sources \(or under \.tmp\/\), got /,
        );
        return true;
      });
    }
    assert.ok(existsSync(join(ROOT, "ffi", "mod.ts")), "and left them alone");
  });

  it("its .d.ts files type-check in a TypeScript project that imports every entry point", SLOW, (t) => {
    if (!tools(t)) return;
    const exe = RUNTIMES.find((r) => existsSync(r.exe))?.exe;
    if (!needs(t, exe !== undefined, "node22, node26 or bun from npm ci, to run tsc")) return;
    const { project } = installed();
    writeFileSync(join(project, "consumer.ts"), CONSUMER, { flag: "wx" });
    // A strict consumer: Node's module resolution, its lib files checked too, no Deno types.
    const tsc = [bin("typescript", "lib", "tsc.js"), "--noEmit", "--strict", "--skipLibCheck", "false"];
    const r = spawnSync(exe!, [
      ...tsc,
      ...["--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022"],
      ...["--types", "node", "--typeRoots", bin("@types"), join(project, "consumer.ts")],
    ], { cwd: project, encoding: "utf8" });
    assert.equal(r.status, 0, `tsc found errors:\n${r.stdout}${r.stderr}`);
  });

  for (const rt of RUNTIMES) {
    it(
      `under ${rt.name}: a node:http server prints inspect(req.socket) as ss -tmi sees it; sockbuf ls lists it`,
      SLOW,
      async (t) => {
        if (!tools(t)) return;
        if (!needs(t, existsSync(rt.exe), `${rt.exe} (npm ci installs it)`)) return;
        if (!needs(t, hasTool("curl", ["--version"]), "curl")) return;
        if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
        const { project } = installed();
        // npx --no-install and bunx would otherwise fetch whatever the registry calls "sockbuf".
        assert.ok(existsSync(join(project, "node_modules", ".bin", "sockbuf")), "npm linked the bin");
        // .mjs: the project's package.json has no "type", as npm writes it.
        const file = `server-${rt.name.replace(/\W+/g, "-")}.mjs`;
        writeFileSync(join(project, file), readmeServer(), { flag: "wx" });
        const server = spawn(rt.exe, [file], { cwd: project, stdio: ["ignore", "pipe", "pipe"] });
        const out = lines(server.stdout!);
        const err = lines(server.stderr!);
        let curl: ReturnType<typeof spawn> | undefined;
        try {
          const { port } = JSON.parse(await out.next("port from the server"));
          curl = spawn("curl", ["-sN", `http://127.0.0.1:${port}/`], { stdio: ["ignore", "pipe", "ignore"] });
          const printed = JSON.parse(await out.next("line for curl's request"));
          const before = ssFor(port, printed.client);
          const after = ssFor(port, printed.client);
          const still = (l: typeof before) => JSON.stringify([l.sendQ, l.skmem, l.notsent, l.unacked]);
          assert.equal(
            still(before),
            still(after),
            "the connection changed while ss read it; it should be idle",
          );
          const buf = printed.buffer;
          assert.equal(buf.state, "ESTABLISHED");
          assert.equal(buf.size, after.skmem.tb, `size = skmem tb: ${after.raw}`);
          assert.equal(buf.queued, after.sendQ, "queued = Send-Q");
          assert.equal(buf.unsent, after.notsent ?? 0, "unsent = notsent: (ss prints none for 0)");
          assert.equal(
            buf.unackedSegments,
            after.unacked ?? 0,
            "unackedSegments = unacked: (ss prints none for 0)",
          );
          assert.equal(buf.memory.sndbuf, after.skmem.tb, "SO_MEMINFO sndbuf = skmem tb");
          assert.equal(buf.memory.wmemQueued, after.skmem.w, "SO_MEMINFO wmem_queued = skmem w");
          assert.equal(buf.free, buf.size - buf.queued);

          // The CLI, as a user of this project runs it: npx under Node, bunx --bun under Bun;
          // only this server's port, as plain `ls` leaves listening sockets out (as ss does).
          const ls = ["sockbuf", "ls", "--json", "--port", `${port}`, "--state", "listen,established"];
          const cli = rt.node
            ? spawnSync("npx", ["--no-install", ...ls], {
              cwd: project,
              encoding: "utf8",
              env: npmEnv({ PATH: `${dirname(rt.exe)}:${process.env.PATH}` }),
              timeout: 60_000,
            })
            : spawnSync(rt.exe, ["x", "--bun", ...ls], { cwd: project, encoding: "utf8", timeout: 60_000 });
          assert.equal(cli.status, 0, `sockbuf ls --json failed: ${cli.stderr}`);
          const sockets = JSON.parse(cli.stdout) as {
            local: { port: number };
            peer: { port: number };
            state: string;
            processes?: { pid: number }[];
          }[];
          const listening = sockets.find((s) => s.local.port === port && s.state === "LISTEN");
          assert.ok(listening, `sockbuf ls lists the server's listening socket on ${port}`);
          assert.ok(
            listening.processes?.some((p) => p.pid === server.pid),
            `…owned by the server, pid ${server.pid}: ${JSON.stringify(listening.processes)}`,
          );
          assert.ok(
            sockets.some((s) =>
              s.local.port === port && s.peer.port === printed.client && s.state === "ESTABLISHED"
            ),
            "and curl's connection to it",
          );
          assert.equal(cli.stderr, "", "sockbuf ls writes nothing to stderr (no ExperimentalWarning)");
          assert.deepEqual(err.all, [], "the server writes nothing to stderr (no ExperimentalWarning)");
        } finally {
          curl?.kill();
          server.kill();
          await new Promise((resolve) =>
            server.exitCode !== null ? resolve(null) : server.once("exit", resolve)
          );
        }
      },
    );
  }
});
