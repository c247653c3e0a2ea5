/**
 * The layout's rules, checked on the source itself (issue 13): imports run one way (no cycle,
 * type-only imports included), hand-written files stay under 600 lines, the routing code never
 * reaches FFI, and exactly one module knows the runtime.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const root = dirname(dirname(fileURLToPath(import.meta.url)));

/** Every .ts file of the library, the CLI, tests, tools, bench and examples. */
function sources(dir = root): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.isFile() && e.name.endsWith(".ts")) out.push(relative(root, p));
  }
  return out.sort();
}

/** The relative imports of a file: static, type-only, re-exports and literal dynamic imports. */
export function importsOf(file: string, text: string): string[] {
  const found = new Set<string>();
  const patterns = [
    /^\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']/gm,
    /\bimport\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g,
  ];
  // Leave out comments, so an @example's import of the package is not an edge.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  for (const re of patterns) {
    for (const m of code.matchAll(re)) found.add(relative(root, resolve(root, dirname(file), m[1])));
  }
  return [...found].sort();
}

/** The cycles of a graph, each as a path that starts and ends on the same file. */
export function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, "open");
    stack.push(n);
    for (const m of graph.get(n) ?? []) {
      if (state.get(m) === "open") found.push([...stack.slice(stack.indexOf(m)), m]);
      else if (!state.has(m)) visit(m);
    }
    stack.pop();
    state.set(n, "done");
  };
  for (const n of [...graph.keys()].sort()) if (!state.has(n)) visit(n);
  return found;
}

const self = relative(root, fileURLToPath(import.meta.url));
// This file's own sample imports are strings, not edges.
const files = sources().filter((f) => f !== self);
const text = new Map(files.map((f) => [f, readFileSync(join(root, f), "utf8")]));
const graph = new Map(files.map((f) => [f, importsOf(f, text.get(f)!)]));
/** A file of the library itself, not of its tests, tools, benchmarks or examples. */
const library = (f: string) => !/^(tests|bench|examples|tools)\//.test(f);
const generated = (f: string) => /^\/\/ Code generated .* DO NOT EDIT\.$/m.test(text.get(f)!.split("\n")[0]);

describe("the source layout", () => {
  it("finds a cycle where there is one (the checker itself)", () => {
    const g = new Map([["a.ts", ["b.ts"]], ["b.ts", ["c.ts"]], ["c.ts", ["a.ts"]], ["d.ts", ["a.ts"]]]);
    assert.deepEqual(cycles(g), [["a.ts", "b.ts", "c.ts", "a.ts"]]);
    assert.deepEqual(
      importsOf(
        "x/y.ts",
        'import type { A } from "../a.ts";\nexport { b } from "./b.ts";\nawait import("./c.ts");',
      ),
      ["a.ts", "x/b.ts", "x/c.ts"],
    );
  });

  it("has no import cycle among its files, type-only imports included", () => {
    assert.ok(files.length > 50, `read ${files.length} files`);
    for (const [f, deps] of graph) {
      for (const d of deps) assert.ok(text.has(d), `${f} imports ${d}, which does not exist`);
    }
    assert.deepEqual(cycles(graph).map((c) => c.join(" -> ")), []);
  });

  it("keeps hand-written library files under 600 lines, and marks generated ones", () => {
    const long = files.filter((f) =>
      !/^(tests|bench|examples|tools)\//.test(f) && !generated(f) && text.get(f)!.split("\n").length > 600
    );
    assert.deepEqual(long, []);
    for (const f of files.filter((f) => f.endsWith(".gen.ts"))) assert.ok(generated(f), `${f} has no stamp`);
  });

  it("asks which runtime runs in one place, _runtime.ts", () => {
    const asks = /"Bun" in globalThis|\bDeno\.build\b|\bprocess\.platform\b/;
    const code = (f: string) => text.get(f)!.replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
    assert.deepEqual(files.filter((f) => library(f) && asks.test(code(f))), ["_runtime.ts"]);
  });

  it("picks the OS in one place: only platform/mod.ts imports an OS back-end", () => {
    const backEnd = (d: string) => /^platform\/(linux|darwin)\//.test(d);
    const importers = files.filter((f) => library(f) && !backEnd(f) && graph.get(f)!.some((d) => backEnd(d)));
    assert.deepEqual(importers, ["platform/mod.ts"]);
  });

  it("keeps routing free of FFI: nothing route/ reaches is in ffi/ or platform/", () => {
    const reached = new Set<string>();
    const walk = (f: string) => {
      if (reached.has(f)) return;
      reached.add(f);
      for (const d of graph.get(f) ?? []) walk(d);
    };
    walk("route/mod.ts");
    walk("route/pf.ts");
    assert.ok(reached.size > 5, [...reached].join(", "));
    assert.deepEqual([...reached].filter((f) => /^(ffi|platform)\//.test(f)), []);
  });
});
