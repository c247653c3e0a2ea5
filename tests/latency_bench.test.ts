/**
 * bench/latency.ts through its exported runners: the result has the right shape, and
 * `lowLatencyWriter` delivers younger messages than plain writes. Behavioural, not timing:
 * the gap is tens of ms against seconds, and the check is only that one is below the other.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { describe, it } from "node:test";
import {
  deleteStaleNamespaces,
  type LatencyResult,
  type Mode,
  NETNS_PREFIX,
  netnsUnavailable,
  runLoopback,
  runNetns,
} from "../bench/latency.ts";
import { needs, run } from "./_helpers.ts";

const linux = process.platform === "linux";

/** Asserts what every result must hold. */
function checkShape(r: LatencyResult, path: LatencyResult["path"], mode: Mode): void {
  assert.equal(r.path, path);
  assert.equal(r.mode, mode);
  for (
    const key of [
      "sent",
      "received",
      "dropped",
      "p50Ms",
      "p99Ms",
      "goodputBps",
      "meanQueued",
      "meanUnsent",
    ] as const
  ) {
    assert.ok(Number.isFinite(r[key]) && r[key] >= 0, `${key} = ${r[key]}`);
  }
  assert.ok(r.received > 0, "no message arrived");
  assert.ok(r.received <= r.sent, `received ${r.received} > sent ${r.sent}`);
  assert.ok(r.samples > 0, "the sender's buffer was never sampled");
  assert.ok(r.p50Ms <= r.p99Ms);
  assert.equal(r.outOfOrder, 0, "messages arrived out of order");
  if (mode === "naive") assert.equal(r.dropped, 0);
  else assert.ok(r.dropped > 0, "the writer dropped nothing although the reader is the bottleneck");
}

describe("bench/latency.ts", { skip: !linux && "Linux only: network namespaces and tc, and tuned on Linux" }, () => {
  it(
    "loopback: lowLatencyWriter's messages are younger than plain writes'",
    { timeout: 60_000 },
    async () => {
      const naive = await runLoopback({ mode: "naive", seconds: 2 });
      const low = await runLoopback({ mode: "lowLatency", seconds: 2 });
      checkShape(naive, "loopback", "naive");
      checkShape(low, "loopback", "lowLatency");
      // The writer keeps about `lowat` unsent; plain writes fill the whole send buffer.
      assert.ok(low.maxUnsent <= 16384 + 256, `the writer let ${low.maxUnsent} bytes wait unsent`);
      assert.ok(
        low.p50Ms < naive.p50Ms,
        `lowLatency p50 ${low.p50Ms.toFixed(1)} ms is not below naive p50 ${naive.p50Ms.toFixed(1)} ms`,
      );
    },
  );

  it("netns: the same across a 1 Mbit/s tbf link", { timeout: 90_000 }, async (t) => {
    const why = netnsUnavailable();
    if (!needs(t, why === undefined, why ?? "")) return;
    const naive = await runNetns({ mode: "naive", seconds: 3 });
    const low = await runNetns({ mode: "lowLatency", seconds: 3 });
    checkShape(naive, "netns", "naive");
    checkShape(low, "netns", "lowLatency");
    assert.ok(
      low.p50Ms < naive.p50Ms,
      `lowLatency p50 ${low.p50Ms.toFixed(1)} ms is not below naive p50 ${naive.p50Ms.toFixed(1)} ms`,
    );
    deleteStaleNamespaces();
    const left = run("ip", ["netns", "list"]).split("\n").filter((l) =>
      l.startsWith(`${NETNS_PREFIX}${process.pid}-`)
    );
    assert.deepEqual(left, [], "the run left its namespaces behind");
  });
});
