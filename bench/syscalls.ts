/**
 * Checks that each benchmark case and its C baseline make the same syscalls in the same
 * order, by running both under `strace` (Linux; needs strace on PATH).
 *
 *   deno run --allow-all bench/syscalls.ts
 *
 * Runs this file again as `--child` under `strace -f` in Deno and in Bun. The child calls
 * each case three times, then its C baseline three times, with a marker syscall from the C
 * library (`getsockopt(-1, 0x5342, …)`) before each side. The parent keeps the main thread's
 * socket-related syscalls between markers, drops buffer contents, pointers and results,
 * and compares the two sides call by call. Exits 1 on any difference.
 *
 * @module
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const { values: opts } = parseArgs({
  args: process.argv.slice(2),
  options: { child: { type: "boolean", default: false }, lib: { type: "string" } },
});

/** Sockets the inspectMany case reads: loopback pairs the C library opens. */
const MANY_PAIRS = 2;
const MANY = 2 * MANY_PAIRS;

/**
 * The cases, by marker number: a name and the syscalls one call must make on Linux 6.18
 * (`undefined`: as many as the host's sockets need). inspect() makes three (FACTS §8:
 * TCP_INFO, SIOCOUTQ, SO_MEMINFO), the seed's C four, the five-call version five.
 */
const CASES: [name: string, perCall: number | undefined][] = [
  ["inspectSync(fd)", 3],
  ["await inspect(fd)", 3],
  ["inspectSync(node:net socket), cached", 4],
  ["tcpInfoSync(fd)", 1],
  ["await tcpInfo(fd)", 1],
  ['await listSockets({ states: ["ESTABLISHED"] })', undefined],
  [`inspectManySync(${MANY} fds), per socket`, 3],
];

const REPS = 3;
const TRACED = "getsockopt,setsockopt,ioctl,socket,sendto,recvfrom,sendmsg,recvmsg,close";

if (opts.child) {
  const { inspect, inspectManySync, inspectSync, tcpInfo, tcpInfoSync } = await import("../inspect.ts");
  const { listSockets } = await import("../mod.ts");
  const { stalledPair } = await import("../_testing.ts");
  const { openBaseline } = await import("./_baseline.ts");
  const base = await openBaseline(opts.lib!);
  const pair = await stalledPair();
  const fd = pair.clientFd;
  inspectSync(pair.client); // resolve once: the case is the cached path
  if (base.hold(MANY_PAIRS) !== MANY) throw new Error(`Cannot open ${MANY} sockets`);
  const many = Array.from({ length: MANY }, (_, i) => base.held(i));
  const sides: [js: () => unknown, c: () => number][] = [
    [() => inspectSync(fd), () => base.inspect(fd, REPS)],
    [() => inspect(fd), () => base.inspect(fd, REPS)],
    [() => inspectSync(pair.client), () => base.inspectCached(fd, REPS)],
    [() => tcpInfoSync(fd), () => base.tcpInfo(fd, REPS)],
    [() => tcpInfo(fd), () => base.tcpInfo(fd, REPS)],
    [() => listSockets({ states: ["ESTABLISHED"] }), () => base.list(1 << 1, 1)],
    [() => inspectManySync(many), () => base.inspectMany(MANY, REPS)],
  ];
  for (let i = 0; i < sides.length; i++) {
    const [js, c] = sides[i];
    const reps = i === 5 ? 1 : REPS;
    base.mark(2 * i);
    for (let r = 0; r < reps; r++) await js();
    base.mark(2 * i + 1);
    c();
  }
  base.mark(999);
  base.release();
  base.close();
  await pair.close();
  process.exit(0);
}

const benchDir = fileURLToPath(new URL(".", import.meta.url));
const lib = join(benchDir, "bin", "libbaseline.so");
mkdirSync(join(benchDir, "bin"), { recursive: true });
execFileSync("cc", ["-O2", "-Wall", "-shared", "-fPIC", "-o", lib, join(benchDir, "baseline.c")], {
  stdio: "inherit",
});

/** A syscall line without what varies from call to call: contents, pointers, results. */
function normalise(call: string): string {
  const name = call.slice(0, call.indexOf("("));
  const head = (n: number) => call.slice(name.length + 1).split(", ").slice(0, n).join(", ");
  switch (name) {
    case "getsockopt": // fd, level, name; the length offered (`[in => out]`) and nothing returned
      return `getsockopt(${head(3)}, …, [${/\[(\d+)(?: => \d+)?\]\) +=/.exec(call)?.[1]}])`;
    case "ioctl": // fd, request; not the int the kernel wrote
      return `ioctl(${head(2)}, …)`;
    case "recvfrom": // fd; the length offered and the flags, not what arrived
    case "sendto":
      return `${name}(${head(1)}, …, ${/, (\d+, \w+), NULL, (?:NULL|0)\) +=/.exec(call)?.[1]})`;
    default: // socket, setsockopt, close: every argument but buffer contents
      return call.replace(/"(?:[^"\\]|\\.)*"(?:\.\.\.)?/g, '"…"').replace(/\) += .*$/, ")");
  }
}

const MARK = /^getsockopt\(-1, 0x5342[^,]*, (\d+),/;
let failed = false;
const dir = mkdtempSync(join(tmpdir(), "sockbuf-strace-"));
try {
  for (
    const [runtime, argv] of [
      ["deno", ["deno", "run", "--allow-all", fileURLToPath(import.meta.url)]],
      ["bun", ["bun", fileURLToPath(import.meta.url)]],
    ] as const
  ) {
    const out = join(dir, `${runtime}.trace`);
    execFileSync("strace", [
      "-f",
      "-qq",
      "-o",
      out,
      "-e",
      `trace=${TRACED}`,
      ...argv,
      "--child",
      "--lib",
      lib,
    ], {
      stdio: ["ignore", "inherit", "inherit"],
    });
    // strace -f -o writes "<tid> <call>"; the JavaScript main thread is the first tid seen.
    const lines = readFileSync(out, "utf8").split("\n").filter(Boolean);
    const main = lines[0].split(" ")[0];
    const sections = new Map<number, string[]>();
    let current: string[] | undefined;
    for (const line of lines) {
      const [tid, ...rest] = line.split(" ");
      if (tid !== main) continue;
      const call = rest.join(" ").trim();
      const m = MARK.exec(call);
      if (m) {
        current = [];
        sections.set(Number(m[1]), current);
      } else if (current && !call.startsWith("<...") && !call.includes("resumed>")) {
        current.push(normalise(call));
      }
    }
    for (let i = 0; i < CASES.length; i++) {
      const [name, expected] = CASES[i];
      const js = sections.get(2 * i) ?? [];
      const c = sections.get(2 * i + 1) ?? [];
      const same = js.length === c.length && js.every((x, k) => x === c[k]);
      const reps = i === 5 ? 1 : i === 6 ? REPS * MANY : REPS;
      const perCall = js.length / reps;
      const counted = expected === undefined || perCall === expected;
      console.log(
        `${same ? "same" : "DIFFERENT"}  ${runtime}  ${name}: ${perCall} syscalls per call` +
          (same ? "" : ` (C: ${c.length / reps})`) + (counted ? "" : `, expected ${expected}`),
      );
      if (!counted) failed = true;
      if (!same) {
        failed = true;
        console.log(`  js: ${js.join("\n      ")}\n  c:  ${c.join("\n      ")}`);
      } else if (process.env.VERBOSE) {
        console.log(`  ${js.slice(0, js.length / reps).join("\n  ")}`);
      }
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
