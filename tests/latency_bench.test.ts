/**
 * bench/latency.ts through its exported runners: the result has the right shape, and the
 * issue's requirement holds on what the test runs — lowLatencyWriter's p99 message age at
 * least 20× lower than plain writes', with goodput within 10% — on loopback and across the
 * 1 Mbit/s tbf link between namespaces (root only; skipped with a message otherwise, failed
 * under CI=true). Each path's chart is written to a temporary directory and checked.
 *
 * Durations: plain writes' age grows with the run (the send buffer fills, and autotuning
 * grows it): about 0.5–0.9 s per second of run on loopback, 2–3 s after 5 s on the link. 3 s
 * per mode on loopback puts naive's p99 near 2.5 s against lowLatency's 35–45 ms; 6 s per
 * mode on the link near 3 s against 60–90 ms. About 20 s per runtime in all.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { describe, it } from "node:test";
import {
  compare,
  deleteStaleNamespaces,
  describeSettings,
  formatComparison,
  GOODPUT_TOLERANCE,
  type LatencyResult,
  LOOPBACK_LOWAT,
  type Mode,
  NETNS_CC,
  NETNS_LOWAT,
  NETNS_PREFIX,
  netnsUnavailable,
  receiverUnavailable,
  REQUIRED_P99_RATIO,
  runLoopback,
  runNetns,
  send,
  writeLatencyChart,
} from "../bench/latency.ts";
import { needs, run } from "./_helpers.ts";

const LOOPBACK_SECONDS = 3;
const NETNS_SECONDS = 6;

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

/** Asserts the requirement: p99 at least 20× lower, goodput within 10%. */
function checkRequirement(naive: LatencyResult, low: LatencyResult): void {
  const c = compare(naive, low);
  console.log(formatComparison(c));
  const detail = `naive p99 ${naive.p99Ms.toFixed(1)} ms, goodput ${naive.goodputBps.toFixed(0)} B/s; ` +
    `lowLatency p99 ${low.p99Ms.toFixed(1)} ms, goodput ${low.goodputBps.toFixed(0)} B/s`;
  assert.ok(
    low.p99Ms * REQUIRED_P99_RATIO <= naive.p99Ms,
    `${c.path}: p99 only ${c.p99Ratio.toFixed(1)}x lower, need ${REQUIRED_P99_RATIO}x (${detail})`,
  );
  assert.ok(
    Math.abs(c.goodputRatio - 1) <= GOODPUT_TOLERANCE,
    `${c.path}: goodput ratio ${
      c.goodputRatio.toFixed(3)
    } is not within ${GOODPUT_TOLERANCE} of 1 (${detail})`,
  );
}

/** Writes the path's chart to a temporary directory and checks it has both series. */
function checkChart(naive: LatencyResult, low: LatencyResult, settings: string[]): void {
  const dir = mkdtempSync(join(tmpdir(), "sockbuf-latency-"));
  try {
    const file = writeLatencyChart(dir, [naive, low], settings);
    assert.ok(existsSync(file), `${file} was not written`);
    const svg = readFileSync(file, "utf8");
    assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.match(svg, /<\/svg>\n$/);
    for (const mode of ["naive", "lowLatency"]) {
      const series = svg.match(new RegExp(`<g id="series-${mode}"[^]*?</g>`))?.[0];
      assert.ok(series, `the chart has no ${mode} series`);
      assert.match(series, /<polyline points="[\d., ]{20,}"/, `the ${mode} series has no line`);
      assert.ok(svg.includes(`${mode}: p50 `), `the legend does not name ${mode}`);
    }
    assert.ok(svg.includes("log scale"), "the y axis does not say it is a log scale");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe(
  "bench/latency.ts",
  { skip: !linux && "Linux only: network namespaces and tc, and tuned on Linux" },
  () => {
    it(
      `loopback: lowLatencyWriter's p99 age is ${REQUIRED_P99_RATIO}x lower than plain writes', at their goodput`,
      { timeout: 60_000, skip: receiverUnavailable ?? false },
      async () => {
        const naive = await runLoopback({ mode: "naive", seconds: LOOPBACK_SECONDS });
        const low = await runLoopback({ mode: "lowLatency", seconds: LOOPBACK_SECONDS });
        checkShape(naive, "loopback", "naive");
        checkShape(low, "loopback", "lowLatency");
        // The writer keeps about `lowat` unsent; plain writes fill the whole send buffer.
        assert.ok(
          low.maxUnsent <= LOOPBACK_LOWAT + 256,
          `the writer let ${low.maxUnsent} bytes wait unsent`,
        );
        checkRequirement(naive, low);
        checkChart(
          naive,
          low,
          describeSettings("loopback", {
            seconds: LOOPBACK_SECONDS,
            msgSize: 128,
            lowat: LOOPBACK_LOWAT,
            cc: low.cc,
          }),
        );
      },
    );

    // The receiver ends a run by closing with data unread, which resets the sender: CI once
    // saw the sender exit 1 because its sampler's watch() threw that ECONNRESET.
    for (const mode of ["naive", "lowLatency"] as const) {
      it(`send(${mode}) returns its stats when the receiver resets the connection mid-run`, {
        timeout: 20_000,
      }, async () => {
        let reset = 0;
        const server = net.createServer((peer) => {
          peer.on("error", () => {});
          peer.pause(); // nothing read: the close below then sends a reset
          setTimeout(() => {
            reset = performance.now();
            peer.destroy();
          }, 300);
        });
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        const socket = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
        try {
          await new Promise<void>((resolve, reject) => {
            socket.once("connect", resolve);
            socket.once("error", reject);
          });
          socket.on("error", () => {});
          const stats = await send(socket, {
            mode,
            seconds: 3,
            msgSize: 128,
            clock: () => performance.now(),
            targetMs: mode === "lowLatency" ? 50 : undefined,
            latest: false,
            sampleMs: 20,
          });
          assert.ok(reset > 0, "the receiver never reset the connection");
          assert.ok(stats.samples > 0, "no sample was taken before the reset");
          assert.ok(stats.produced > 0, "nothing was written before the reset");
        } finally {
          socket.destroy();
          await new Promise((resolve) => server.close(resolve));
        }
      });
    }

    it(
      `netns: the same across a 1 Mbit/s tbf link (${NETNS_CC}, lowat ${NETNS_LOWAT})`,
      { timeout: 120_000, skip: receiverUnavailable ?? false },
      async (t) => {
        const why = netnsUnavailable();
        if (!needs(t, why === undefined, why ?? "")) return;
        const naive = await runNetns({ mode: "naive", seconds: NETNS_SECONDS });
        const low = await runNetns({ mode: "lowLatency", seconds: NETNS_SECONDS });
        deleteStaleNamespaces();
        const left = run("ip", ["netns", "list"]).split("\n").filter((l) =>
          l.startsWith(`${NETNS_PREFIX}${process.pid}-`)
        );
        assert.deepEqual(left, [], "the run left its namespaces behind");
        checkShape(naive, "netns", "naive");
        checkShape(low, "netns", "lowLatency");
        assert.equal(naive.cc, NETNS_CC);
        assert.equal(low.cc, NETNS_CC);
        assert.ok(low.maxUnsent <= NETNS_LOWAT + 256, `the writer let ${low.maxUnsent} bytes wait unsent`);
        checkRequirement(naive, low);
        checkChart(
          naive,
          low,
          describeSettings("netns", { seconds: NETNS_SECONDS, msgSize: 128, lowat: NETNS_LOWAT, cc: low.cc }),
        );
      },
    );
  },
);
