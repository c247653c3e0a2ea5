/**
 * One runtime's half of bench/main.ts: times sockbuf's hot paths and, alternating with them,
 * the C baseline (bench/baseline.c, loaded through FFI) making the same syscalls on the same
 * socket, so both see the same kernel state and the same machine load.
 *
 *   deno run --allow-all bench/cases.ts --lib bench/bin/libbaseline.so
 *   bun bench/cases.ts --lib bench/bin/libbaseline.so
 *
 * The socket is a loopback node:net connection whose reader never reads, with its send
 * buffer full. Each case is timed with mitata's `measure` as calls of K operations (so the
 * C side's one FFI call is spread over K repetitions); a round times C, then JavaScript,
 * and each figure is the median over the rounds of mitata's median sample. Prints one JSON
 * row per case: `{ case, runtime, nsPerOp, cNsPerOp, ratio, goal }`.
 *
 * @module
 */
import { measure } from "mitata";
import { parseArgs } from "node:util";
import process from "node:process";
import { inspect, inspectMany, inspectSync, tcpInfo, tcpInfoSync } from "../inspect.ts";
import { runtimeName } from "../_runtime.ts";
import { listSockets } from "../mod.ts";
import { sleep, stalledPair } from "../_testing.ts";
import { openBaseline } from "./_baseline.ts";

const { values: opts } = parseArgs({
  args: process.argv.slice(2),
  options: {
    lib: { type: "string" },
    rounds: { type: "string", default: "21" },
    "ms-per-round": { type: "string", default: "20" },
    only: { type: "string" },
    "list-sockets": { type: "string", default: "10000" },
    "many-sockets": { type: "string", default: "1000" },
  },
});
if (!opts.lib) throw new TypeError("Expected --lib <path to libbaseline.so>");
const ROUNDS = Number(opts.rounds);
const MS = Number(opts["ms-per-round"]);
/** Operations per timed sample: large enough that one FFI call into C weighs nothing. */
const K = 100;
/** Sockets the C library holds open for the listing case. */
const LIST_SOCKETS = Number(opts["list-sockets"]);
/** Sockets inspectMany reads in one call: loopback connections the C library holds open. */
const MANY = Number(opts["many-sockets"]);

const runtime = runtimeName;
const base = await openBaseline(opts.lib);

/** One benchmark case: the JavaScript call, `k` times; the C baseline, `k` times. */
interface Case {
  name: string;
  /** Operations per sample; K unless the operation is slow. */
  k?: number;
  /** A slow operation: fewer samples and rounds. */
  slow?: boolean;
  /** Runs before the case's rounds; `teardown` after. */
  setup?: () => void;
  teardown?: () => void;
  /** The ratio to C this case must stay within (issues 7 and 14). */
  goal?: number;
  js: () => unknown;
  c: () => number;
}

/** Results are stored here so no call can be optimised away. */
export let sink: unknown;

const pair = await stalledPair();
const fd = pair.clientFd;
try {
  // Fill the send buffer: node:net keeps what the kernel refuses, so the kernel's queue
  // grows until both the send buffer and the peer's receive buffer are full.
  pair.client.write(new Uint8Array(32 * 1024 * 1024));
  let last = -1;
  for (let stable = 0; stable < 5;) {
    await sleep(20);
    const q = inspectSync(fd).queued;
    stable = q === last && q > 0 ? stable + 1 : 0;
    last = q;
  }
  inspectSync(pair.client); // resolve the node:net socket once; the case times the cached path

  const checked = (ns: number): number => {
    if (ns < 0) throw new Error(`C baseline failed: errno ${-ns}`);
    return ns;
  };
  const manyFds: number[] = [];
  const cases: Case[] = [
    {
      // Against C making the same three calls (TCP_INFO, SIOCOUTQ, SO_MEMINFO).
      name: "inspectSync(fd)",
      goal: 1.10,
      js() {
        for (let i = 0; i < K; i++) sink = inspectSync(fd);
      },
      c: () => checked(base.inspect(fd, K)),
    },
    {
      // Against the seed's C: SO_SNDBUF, SIOCOUTQ, TCP_INFO, SIOCOUTQNSD (issue 14).
      name: "inspectSync(fd) vs the seed's 4-call C",
      goal: 0.80,
      js() {
        for (let i = 0; i < K; i++) sink = inspectSync(fd);
      },
      c: () => checked(base.inspectSeed(fd, K)),
    },
    {
      name: "await inspect(fd)",
      goal: 1.25,
      async js() {
        for (let i = 0; i < K; i++) sink = await inspect(fd);
      },
      c: () => checked(base.inspect(fd, K)),
    },
    {
      name: "await inspect(fd) vs the seed's 4-call C",
      goal: 0.90,
      async js() {
        for (let i = 0; i < K; i++) sink = await inspect(fd);
      },
      c: () => checked(base.inspectSeed(fd, K)),
    },
    {
      // Per socket: one call over MANY idle loopback sockets, against C looping the same
      // three calls over the same fds.
      name: `await inspectMany(${MANY.toLocaleString("en-US")} sockets), per socket`,
      k: MANY,
      goal: 1.05,
      setup() {
        const held = base.hold(MANY / 2);
        if (held < MANY) throw new Error(`Cannot open ${MANY} sockets: ${held}`);
        for (let i = 0; i < MANY; i++) manyFds.push(base.held(i));
      },
      teardown() {
        base.release();
        manyFds.length = 0;
      },
      async js() {
        sink = await inspectMany(manyFds);
      },
      c: () => checked(base.inspectMany(MANY, 1)),
    },
    {
      name: "inspectSync(node:net socket), cached",
      js() {
        for (let i = 0; i < K; i++) sink = inspectSync(pair.client);
      },
      c: () => checked(base.inspectCached(fd, K)),
    },
    {
      name: "tcpInfoSync(fd)",
      goal: 1.30,
      js() {
        for (let i = 0; i < K; i++) sink = tcpInfoSync(fd);
      },
      c: () => checked(base.tcpInfo(fd, K)),
    },
    {
      name: "await tcpInfo(fd)",
      async js() {
        for (let i = 0; i < K; i++) sink = await tcpInfo(fd);
      },
      c: () => checked(base.tcpInfo(fd, K)),
    },
    {
      // The lazy result's decoding, all of it: toJSON() reads every field into a plain object.
      name: "tcpInfoSync(fd).toJSON()",
      goal: 1.25,
      js() {
        for (let i = 0; i < K; i++) {
          sink = (tcpInfoSync(fd) as unknown as { toJSON(): unknown }).toJSON();
        }
      },
      c: () => checked(base.tcpInfo(fd, K)),
    },
    {
      // The whole host's ESTABLISHED sockets: ours plus LIST_SOCKETS held by the C library.
      name: `await listSockets({ states: ["ESTABLISHED"] }), ${
        LIST_SOCKETS.toLocaleString("en-US")
      } more sockets`,
      k: 1,
      slow: true,
      setup() {
        const held = base.hold(LIST_SOCKETS / 2);
        if (held < 0) throw new Error(`Cannot open ${LIST_SOCKETS} sockets: errno ${-held}`);
      },
      teardown() {
        console.error(`${runtime}: the last listing found ${base.listCount()} ESTABLISHED sockets`);
        base.release();
      },
      async js() {
        sink = await listSockets({ states: ["ESTABLISHED"] });
      },
      c: () => checked(base.list(1 << 1, 1)), // bit 1: TCP_ESTABLISHED
    },
  ];

  // gc: false, or mitata forces a collection before every measure (in Deno without
  // --expose-gc, by allocating a 1 GiB array).
  const options = {
    min_cpu_time: MS * 1e6,
    batch_threshold: 0,
    min_samples: 12,
    warmup_samples: 3,
    gc: false,
  };
  for (const c of cases) {
    if (opts.only && !c.name.includes(opts.only)) continue;
    const k = c.k ?? K;
    c.setup?.();
    const rounds: { js: number; c: number }[] = [];
    // A listing takes milliseconds: fewer samples and rounds.
    const slow = c.slow ? { ...options, min_samples: 5, min_cpu_time: 0 } : options;
    for (let r = 0; r < (c.slow ? Math.min(ROUNDS, 7) : ROUNDS); r++) {
      const cNs = (await measure(c.c, slow)).p50 / k;
      const jsNs = (await measure(c.js, slow)).p50 / k;
      rounds.push({ js: jsNs, c: cNs });
    }
    c.teardown?.();
    // Rounds in the order they ran, before sorting.
    if (process.env.BENCH_DEBUG) {
      console.error(c.name, rounds.map((r) => `${r.js.toFixed(0)}/${r.c.toFixed(0)}`).join(" "));
    }
    // The round with the median ratio: C and JavaScript timed back to back, so a change in
    // machine load between rounds moves both.
    rounds.sort((a, b) => a.js / a.c - b.js / b.c);
    const mid = rounds[rounds.length >> 1];
    console.log(JSON.stringify({
      case: c.name,
      runtime,
      nsPerOp: Math.round(mid.js),
      cNsPerOp: Math.round(mid.c),
      ratio: Math.round((mid.js / mid.c) * 1000) / 1000,
      goal: c.goal ?? null,
    }));
  }
} finally {
  base.close();
  await pair.close();
}
