/**
 * Builds the npm package `@sockbuf/sockbuf` from the same sources JSR publishes: tsc compiles
 * every module the entry points reach to ESM JavaScript with `.d.ts` files (its
 * `rewriteRelativeImportExtensions` turns `./x.ts` imports into `./x.js`), then this writes a
 * package.json whose `exports` mirror deno.json's, a `sockbuf` launcher for `npx`/`bunx`, and
 * copies README.md and LICENSE.
 *
 *   deno run --allow-all tools/build_npm.ts [OUT]     # or: bun tools/build_npm.ts [OUT]
 *   npm run build:npm                                 # the same, into .tmp/npm
 *   cd .tmp/npm && npm pack
 *
 * OUT defaults to `.tmp/npm` (gitignored, and outside deno.json's publish, fmt and lint); it
 * is emptied first. tests/npm_package.test.ts packs, installs and runs the result.
 *
 * The sources are type-checked against Deno's own declarations (`deno types`) and
 * `@types/node`, so the emitted `.d.ts` files carry the types deno check sees. Deno-only code
 * (ffi/deno.ts) ships as it is: which binding runs is chosen at run time.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

/**
 * The launcher behind `npx sockbuf` and `bunx sockbuf`: cli.js's `main` with the process's
 * arguments. (Lines in an array: an import at the start of a line here would read, to
 * tests/source_layout.test.ts, as this file importing cli.js.)
 */
const LAUNCHER = [
  "#!/usr/bin/env node",
  "// The sockbuf command line, for npm installs (npx sockbuf, bunx sockbuf). See cli.d.ts.",
  'import process from "node:process";',
  'import { main } from "../cli.js";',
  "",
  "process.exitCode = await main(process.argv.slice(2));",
  "",
].join("\n");

/** What the build wrote: the output folder and its package.json. */
export interface NpmBuild {
  /** The folder holding the package, ready for `npm pack`. */
  dir: string;
  /** The package.json written there. */
  manifest: Record<string, unknown>;
}

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** Runs a command (never through a shell), passing its output through; throws naming it on failure. */
function spawn(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${what}: cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`${what} failed (exit ${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  }
  return r.stdout;
}

/**
 * How to run tsc.js with the runtime running this script. Deno needs `run`, and is told that
 * tsc.js is CommonJS: it would read that from typescript's package.json, but not under
 * DENO_NO_PACKAGE_JSON=1 (`deno task test` sets it, and Deno's child processes inherit it).
 */
function scriptRunner(): string[] {
  return "Deno" in globalThis
    ? [process.execPath, "run", "--allow-all", "--unstable-detect-cjs"]
    : [process.execPath];
}

/** The Deno binary, for `deno types`: this one when Deno runs the build, else the pinned one. */
function denoBinary(): string {
  return "Deno" in globalThis ? process.execPath : join(ROOT, "node_modules", ".bin", "deno");
}

/** Writes a new file (exclusively: never through an existing file or link). */
function create(path: string, text: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text, { flag: "wx", mode });
}

/** `./route/pf.ts` → `./route/pf` with `.js`/`.d.ts` added by the caller. */
function stem(target: string): string {
  if (!target.startsWith("./") || !target.endsWith(".ts")) {
    throw new Error(`deno.json export ${target} is not a ./*.ts file`);
  }
  return target.slice(0, -3);
}

/** Builds the package into `out` (emptied first) and returns what it wrote. */
export function buildNpm(out: string = join(ROOT, ".tmp", "npm")): NpmBuild {
  const dir = resolve(out);
  // It is emptied first: never a folder holding the sources, or inside the clone but outside .tmp/.
  const inClone = !relative(ROOT, dir).startsWith("..");
  if (!relative(dir, ROOT).startsWith("..") || inClone && !relative(join(ROOT, ".tmp"), dir).match(/^[^.]/)) {
    throw new RangeError(`Expected an output folder outside the sources (or under .tmp/), got ${dir}`);
  }
  const deno = readJson(join(ROOT, "deno.json"));
  const dev = readJson(join(ROOT, "package.json"));
  const exports = deno.exports as Record<string, string>;
  const koffi = (dev.devDependencies as Record<string, string>).koffi;
  if (typeof koffi !== "string") throw new Error("package.json has no koffi devDependency to pin");

  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const scratch = mkdtempSync(join(tmpdir(), "sockbuf-npm-build-"));
  let emitted: string[];
  try {
    const denoTypes = join(scratch, "deno.d.ts");
    create(denoTypes, spawn(denoBinary(), ["types"], "deno types"));
    const listed = spawn(scriptRunner()[0], [
      ...scriptRunner().slice(1),
      join(ROOT, "node_modules", "typescript", "lib", "tsc.js"),
      "--rootDir",
      ROOT,
      "--outDir",
      dir,
      "--target",
      "ES2022",
      "--module",
      "ESNext",
      "--moduleResolution",
      "Bundler",
      "--rewriteRelativeImportExtensions",
      "--declaration",
      "--strict",
      "--skipLibCheck",
      "--noEmitOnError",
      "--newLine",
      "lf",
      "--lib",
      "ES2022",
      "--types",
      "node",
      "--typeRoots",
      join(ROOT, "node_modules", "@types"),
      "--listEmittedFiles",
      denoTypes,
      ...Object.values(exports).map((f) => join(ROOT, f)),
    ], "tsc");
    emitted = listed.split("\n").filter((l) => l.startsWith("TSFILE: ")).map((l) =>
      relative(dir, l.slice("TSFILE: ".length)).split(sep).join("/")
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }

  create(join(dir, "bin", "sockbuf.js"), LAUNCHER, 0o755);
  copyFileSync(join(ROOT, "README.md"), join(dir, "README.md"));
  copyFileSync(join(ROOT, "LICENSE"), join(dir, "LICENSE"));

  const manifest = {
    name: deno.name,
    version: deno.version,
    description: "What sits in a TCP socket's send buffer (size, queued, unacked, unsent, tcp_info), " +
      "from Node, Bun and Deno, through libc",
    license: deno.license,
    keywords: ["tcp", "socket", "send buffer", "backpressure", "TCP_NOTSENT_LOWAT", "tcp_info", "ffi"],
    type: "module",
    exports: {
      ...Object.fromEntries(
        Object.entries(exports).map(([name, target]) => [
          name,
          { types: `${stem(target)}.d.ts`, import: `${stem(target)}.js` },
        ]),
      ),
      "./package.json": "./package.json",
    },
    bin: { sockbuf: "bin/sockbuf.js" },
    files: ["bin/sockbuf.js", ...emitted.sort()],
    engines: { node: ">=22" },
    // Node before 26 has no FFI of its own; ffi/node.ts loads koffi there. Deno and Bun never do.
    optionalDependencies: { koffi },
    // Only ./metrics/otel is written for it, and imports nothing from it (it takes any Meter);
    // 1.3.0 is the first API with metrics (the Meter methods it calls; 1.2.0 has none).
    peerDependencies: { "@opentelemetry/api": "^1.3.0" },
    peerDependenciesMeta: { "@opentelemetry/api": { optional: true } },
  };
  create(join(dir, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  return { dir, manifest };
}

// import.meta.main is Deno's and Bun's (Node has it from 24.2); argv[1] covers older Nodes.
if (import.meta.main || process.argv[1] === fileURLToPath(import.meta.url)) {
  const { dir, manifest } = buildNpm(process.argv[2]);
  console.log(`${manifest.name}@${manifest.version}: ${(manifest.files as string[]).length} files in ${dir}`);
}
