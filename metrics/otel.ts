/**
 * sockbuf's metrics as OpenTelemetry instruments: {@linkcode registerMetrics} registers an
 * observable gauge (a counter for `_total`) per family on a `Meter` from
 * `@opentelemetry/api` (any object with its `Meter`'s methods), fed by one listing per collection. You bring the SDK and
 * the exporter (OTLP, Prometheus, …). Only this entry point knows OpenTelemetry, and only
 * the shape of its `Meter`: the library imports no OpenTelemetry package.
 *
 * Histograms have no observable form in OpenTelemetry, so the unsent-bytes histograms are
 * left out here; every other family is observed with its labels as attributes.
 *
 * @module
 */
import { type CollectOptions, createCollector } from "./mod.ts";

/** An instrument's description and unit, as `@opentelemetry/api`'s `MetricOptions`. */
export interface InstrumentOptions {
  /** What it measures. */
  description?: string;
  /** UCUM unit: `By`, `s` or `1`. */
  unit?: string;
}

/** Where a batch callback reports values, as `@opentelemetry/api`'s `BatchObservableResult`. */
export interface ObservationSink<I> {
  /** Reports `value` for `instrument` with these attributes. */
  observe(instrument: I, value: number, attributes?: Record<string, string>): void;
}

/**
 * The part of `@opentelemetry/api`'s `Meter` this adapter uses, written out so the library
 * needs no OpenTelemetry package: any SDK's `Meter` fits (the tests pass the real one).
 */
export interface MeterLike<I = unknown> {
  /** Creates an observable gauge. */
  createObservableGauge(name: string, options?: InstrumentOptions): I;
  /** Creates an observable (monotonic) counter. */
  createObservableCounter(name: string, options?: InstrumentOptions): I;
  /** Observes several instruments from one callback. */
  addBatchObservableCallback(callback: (result: ObservationSink<I>) => Promise<void>, observables: I[]): void;
  /** Removes that callback. */
  removeBatchObservableCallback(
    callback: (result: ObservationSink<I>) => Promise<void>,
    observables: I[],
  ): void;
}

/** What {@linkcode registerMetrics} registered: call `unregister()` to stop observing. */
export interface Registration {
  /** The instrument names registered. */
  names: string[];
  /** Removes the batch callback: no more listings for this meter. */
  unregister(): void;
}

/**
 * Registers sockbuf's families on `meter` as observable instruments. Takes one listing now to
 * learn the families (they depend on `processes` only), then one per collection; the
 * per-connection verdicts (`sockbuf_tcp_connection_verdict`, `…_limited_ratio`) cover the
 * time since the previous collection, as with `createCollector()`.
 *
 * @param meter a `Meter` from your SDK's `MeterProvider`
 * @param options what to collect, as for {@linkcode collect}
 * @returns the instrument names and a way to unregister
 *
 * @example With the SDK's in-memory exporter
 * ```ts
 * import { registerMetrics } from "@sockbuf/sockbuf/metrics/otel";
 * import {
 *   AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader,
 * } from "npm:@opentelemetry/sdk-metrics@3.1.1";
 *
 * const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
 * const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
 * const provider = new MeterProvider({ readers: [reader] });
 * const registration = await registerMetrics(provider.getMeter("sockbuf"), { top: 5 });
 * const { resourceMetrics } = await reader.collect();
 * console.log(resourceMetrics.scopeMetrics[0].metrics.map((m) => m.descriptor.name));
 * registration.unregister();
 * await provider.shutdown();
 * ```
 */
export async function registerMetrics<I>(
  meter: MeterLike<I>,
  options: CollectOptions = {},
): Promise<Registration> {
  // One collector for the registration: each collection's verdicts cover the time since the previous one.
  const collector = createCollector(options);
  const families = (await collector.collect()).filter((f) => f.type !== "histogram");
  const instruments = new Map<string, I>();
  for (const f of families) {
    const unit = f.name.endsWith("_bytes") ? "By" : f.name.endsWith("_seconds") ? "s" : "1";
    instruments.set(
      f.name,
      f.type === "counter"
        ? meter.createObservableCounter(f.name, { description: f.help, unit })
        : meter.createObservableGauge(f.name, { description: f.help, unit }),
    );
  }
  const callback = async (result: ObservationSink<I>) => {
    for (const f of await collector.collect()) {
      const instrument = instruments.get(f.name);
      if (!instrument) continue;
      for (const s of f.samples) result.observe(instrument, s.value, { ...s.labels });
    }
  };
  const observables = [...instruments.values()];
  meter.addBatchObservableCallback(callback, observables);
  return {
    names: [...instruments.keys()],
    unregister: () => meter.removeBatchObservableCallback(callback, observables),
  };
}

// Re-exported so the option type is documented where it is used.
export type { CollectOptions };
