/**
 * The OpenTelemetry adapter read through the real SDK (`@opentelemetry/sdk-metrics`, its
 * in-memory exporter and a reader's collect()), compared with `ss` for a stalled connection.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { describe, it } from "node:test";
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import { registerMetrics } from "../metrics/otel.ts";
import { hasTool, needs, sleep, ssFor, stalledPair } from "./_helpers.ts";

describe("metrics/otel", { skip: process.platform !== "linux" && "Linux only (sock_diag)" }, () => {
  it("observable gauges report ss's notsent for a stalled connection", { timeout: 30_000 }, async (t) => {
    if (!needs(t, hasTool("ss", ["-V"]), "ss")) return;
    const pair = await stalledPair("127.0.0.1", { rcvbuf: 65536 });
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 600_000 });
    const provider = new MeterProvider({ readers: [reader] });
    try {
      pair.client.write(new Uint8Array(3 << 20));
      let before = ssFor(pair.clientPort, pair.serverPort).notsent;
      for (let i = 0; i < 40; i++) {
        await sleep(1000);
        const now = ssFor(pair.clientPort, pair.serverPort).notsent;
        if (now === before && (now ?? 0) > 0) break;
        before = now;
      }
      const registration = await registerMetrics(provider.getMeter("sockbuf-test"), { top: 10000 });
      await sleep(300);
      assert.ok(registration.names.includes("sockbuf_tcp_connection_unsent_bytes"));
      assert.ok(!registration.names.includes("sockbuf_tcp_socket_unsent_bytes"), "histograms are left out");
      const { resourceMetrics, errors } = await reader.collect();
      assert.deepEqual(errors, []);
      const after = ssFor(pair.clientPort, pair.serverPort).notsent;
      assert.equal(after, before, "the connection stayed still");
      const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      const unsent = metrics.find((m) => m.descriptor.name === "sockbuf_tcp_connection_unsent_bytes")!;
      assert.equal(unsent.descriptor.unit, "By");
      const point = unsent.dataPoints.find((p) =>
        p.attributes.local === `127.0.0.1:${pair.clientPort}` &&
        p.attributes.peer === `127.0.0.1:${pair.serverPort}`
      );
      console.log(`OpenTelemetry: ${point?.attributes.local} ${point?.value}   ss notsent: ${after}`);
      assert.equal(point?.value, after);
      const listings = metrics.find((m) => m.descriptor.name === "sockbuf_listings_total")!;
      assert.equal(listings.dataPointType, 3 /* SUM */);
      // The verdict covers the time since the previous collection (here, the registration's).
      const local = `127.0.0.1:${pair.clientPort}`;
      const verdict = metrics.find((m) => m.descriptor.name === "sockbuf_tcp_connection_verdict")!;
      const peer = `127.0.0.1:${pair.serverPort}`;
      const said = verdict.dataPoints.filter((p) =>
        p.attributes.local === local && p.attributes.peer === peer && p.value === 1
      );
      console.log(`OpenTelemetry verdict: ${local} ${said.map((p) => p.attributes.verdict)}`);
      assert.deepEqual(said.map((p) => p.attributes.verdict), ["receiver"]);
      const ratio = metrics.find((m) => m.descriptor.name === "sockbuf_tcp_connection_limited_ratio")!;
      assert.equal(ratio.descriptor.unit, "1");
      const receiver = ratio.dataPoints.find((p) =>
        p.attributes.local === local && p.attributes.peer === peer && p.attributes.cause === "receiver"
      );
      // Each listing reads the connection somewhere within its own run: on a host with tens of
      // thousands of sockets, the interval is exact only to within a listing's duration.
      assert.ok((receiver?.value as number) > 0.5, `receiver ratio ${receiver?.value}`);
      registration.unregister();
    } finally {
      await provider.shutdown();
      await pair.close();
    }
  });
});
