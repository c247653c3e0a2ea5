/**
 * The host's TCP send buffers as Prometheus metrics: {@linkcode collect} takes one netlink
 * listing and aggregates it with bounded cardinality, {@linkcode prometheusText} renders the
 * text exposition format, and {@linkcode metricsHandler} serves it at `/metrics` from a
 * `Deno.serve` or `Bun.serve` app. Linux only (the listing is `sock_diag`).
 *
 * @module
 */
import { settle } from "../_args.ts";
import { type ListFilter, listSocketBatches } from "../list.ts";
import type { SocketEntry } from "../types.ts";
import { judge, type Judgement, type Readings, topFilter, VERDICTS } from "./_verdict.ts";

/** A Prometheus metric type, as in a `# TYPE` line. */
export type MetricType = "gauge" | "counter" | "histogram";

/** One sample line: the full name (with `_bucket`/`_sum`/`_count` for histograms), labels, value. */
export interface MetricSample {
  /** The sample's name, e.g. `sockbuf_tcp_sockets` or `sockbuf_tcp_socket_unsent_bytes_bucket`. */
  name: string;
  /** Label names to values; values may hold any text (escaped when rendered). */
  labels: Readonly<Record<string, string>>;
  /** The value. */
  value: number;
}

/** A metric family: one `# HELP` and `# TYPE`, then its samples. */
export interface MetricFamily {
  /** The family's name (a counter's ends in `_total`). */
  name: string;
  /** What it measures, in one line. */
  help: string;
  /** gauge, counter or histogram. */
  type: MetricType;
  /** The samples, in the order to render them. */
  samples: MetricSample[];
}

/** What {@linkcode collect} lists and how much it keeps. */
export interface CollectOptions {
  /** Only sockets in these states (all when absent). */
  states?: ListFilter["states"];
  /** Only sockets with this port (at either end), or this local and/or peer port. */
  port?: ListFilter["port"];
  /** Only IPv4 (4) or IPv6 (6). */
  family?: 4 | 6;
  /** Read each socket's holding processes (`/proc/PID/fd`): adds per-process families and `process` labels. */
  processes?: boolean;
  /** How many connections, worst by unsent bytes, get their own series (default 20, 0–10000). */
  top?: number;
}

/** Upper bounds (bytes) of the unsent-bytes histogram's buckets; `+Inf` is added. */
export const UNSENT_BUCKETS: readonly number[] = [
  0,
  1024,
  4096,
  16384,
  65536,
  262144,
  1048576,
  4194304,
  16777216,
];

let listings = 0;

/** A local or peer end as `ADDR:PORT`, IPv6 in brackets. */
function end(a: { address: string; port: number }): string {
  return a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/** The command of the socket's lowest-pid holder; `""` when unknown or not asked for. */
function command(s: SocketEntry): string {
  if (!s.processes || s.processes.length === 0) return "";
  let first = s.processes[0];
  for (const p of s.processes) if (p.pid < first.pid) first = p;
  return first.command;
}

/** Sums of sockets and bytes under one label value. */
class Sums {
  readonly rows = new Map<string, { sockets: number; queued: number; unsent: number; unacked: number }>();
  add(key: string, s: SocketEntry): void {
    let row = this.rows.get(key);
    if (!row) this.rows.set(key, row = { sockets: 0, queued: 0, unsent: 0, unacked: 0 });
    row.sockets++;
    row.queued += s.sendBuffer?.queued ?? 0;
    row.unsent += s.sendBuffer?.unsent ?? 0;
    row.unacked += s.sendBuffer?.unackedBytes ?? 0;
  }
  families(prefix: string, label: string, what: string, withSockets: boolean): MetricFamily[] {
    const keys = [...this.rows.keys()].sort();
    const family = (
      field: "sockets" | "queued" | "unsent" | "unacked",
      name: string,
      help: string,
    ): MetricFamily => ({
      name,
      help,
      type: "gauge",
      samples: keys.map((k) => ({ name, labels: { [label]: k }, value: this.rows.get(k)![field] })),
    });
    const out = withSockets ? [family("sockets", `${prefix}_sockets`, `TCP sockets, by ${what}.`)] : [];
    out.push(
      family(
        "queued",
        `${prefix}_queued_bytes`,
        `Bytes in send queues (Send-Q: unsent + unacked), by ${what}.`,
      ),
      family(
        "unsent",
        `${prefix}_unsent_bytes`,
        `Bytes written and not yet sent (tcpi_notsent_bytes), by ${what}.`,
      ),
      family("unacked", `${prefix}_unacked_bytes`, `Bytes sent and not yet acknowledged, by ${what}.`),
    );
    return out;
  }
}

/** Histogram samples of `values` (cumulative buckets, sum, count) under `labels`. */
function histogram(name: string, labels: Record<string, string>, values: number[]): MetricSample[] {
  const out: MetricSample[] = [];
  for (const le of [...UNSENT_BUCKETS, Infinity]) {
    const count = values.filter((v) => v <= le).length;
    out.push({
      name: `${name}_bucket`,
      labels: { ...labels, le: le === Infinity ? "+Inf" : String(le) },
      value: count,
    });
  }
  out.push({ name: `${name}_sum`, labels, value: values.reduce((a, b) => a + b, 0) });
  out.push({ name: `${name}_count`, labels, value: values.length });
  return out;
}

/** The ratio and verdict families of the connections judged (none for a single collection). */
function verdictFamilies(
  worst: readonly SocketEntry[],
  results: Map<number, Judgement> | undefined,
  labels: (s: SocketEntry) => Record<string, string>,
): MetricFamily[] {
  const ratio = "sockbuf_tcp_connection_limited_ratio", verdict = "sockbuf_tcp_connection_verdict";
  const ratios: MetricSample[] = [], verdicts: MetricSample[] = [];
  for (const s of worst) {
    const j = results?.get(s.cookie);
    if (!j) continue;
    const l = labels(s);
    const { application, senderBuffer, receiver, network } = j.fractions;
    for (
      const [cause, v] of [["application", application], ["sender-buffer", senderBuffer], [
        "receiver",
        receiver,
      ], ["network", network]] as const
    ) {
      if (v !== undefined) ratios.push({ name: ratio, labels: { ...l, cause }, value: v });
    }
    for (const v of VERDICTS) {
      verdicts.push({ name: verdict, labels: { ...l, verdict: v }, value: v === j.verdict ? 1 : 0 });
    }
  }
  return [
    {
      name: ratio,
      help:
        "Share of the time since the previous scrape each of the same connections was limited by the cause: " +
        "application (nothing to send), sender-buffer, receiver (its window) or network (tcp_info chronographs).",
      type: "gauge",
      samples: ratios,
    },
    {
      name: verdict,
      help:
        "What limited each of the same connections most since the previous scrape: 1 for that verdict, 0 for the others.",
      type: "gauge",
      samples: verdicts,
    },
  ];
}

function checkTop(top: unknown): number {
  if (top === undefined) return 20;
  if (typeof top !== "number" || !Number.isSafeInteger(top) || top < 0 || top > 10000) {
    throw new RangeError(`top must be an integer from 0 to 10000, got ${String(top)}`);
  }
  return top;
}

/**
 * Takes one netlink listing of the host's TCP sockets and returns metric families:
 * `sockbuf_tcp_sockets{state}`; queued, unsent and unacked bytes by state and by local port
 * (the listening port, `other` for ephemeral ones, so a client's ports don't explode the
 * series count); a histogram of unsent bytes per connection; the same per process command
 * with `processes`; the `top` connections with the most unsent bytes, each with its queued,
 * unsent and unacked bytes and RTT; and the scrape's own duration and socket count.
 *
 * One call has no previous reading to compare with, so the verdict families
 * (`sockbuf_tcp_connection_verdict`, `…_limited_ratio`) are empty: collect repeatedly
 * through {@linkcode createCollector} to fill them.
 *
 * @param options which sockets, whether to read processes, how many connections to list
 * @returns the families, ready for {@linkcode prometheusText}
 * @throws {TypeError} if an option has the wrong type
 * @throws {RangeError} for a bad state, port, family or `top`
 * @throws {SockbufError} if the kernel refuses the listing
 *
 * @example The worst connection's unsent bytes
 * ```ts
 * import { collect } from "@sockbuf/sockbuf/metrics";
 *
 * const families = await collect({ top: 1 });
 * const worst = families.find((f) => f.name === "sockbuf_tcp_connection_unsent_bytes")!.samples[0];
 * console.log(worst ? `${worst.labels.local} -> ${worst.labels.peer}: ${worst.value}` : "no connections");
 * ```
 */
export function collect(options: CollectOptions = {}): Promise<MetricFamily[]> {
  return settle(() => {
    if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
    return gather(options, checkTop(options.top), undefined);
  });
}

/** Collects repeatedly, remembering what the verdict needs: see {@linkcode createCollector}. */
export interface Collector {
  /** Takes one listing, as {@linkcode collect} does, and judges each connection since the previous one. */
  collect(): Promise<MetricFamily[]>;
}

/**
 * A {@linkcode collect} that keeps the previous listing's `tcp_info` of the connections it
 * listed one by one (at most `top`, by socket cookie), so each collection can say what limited
 * each of them since the previous one, as `diagnoseBetween()` does:
 * `sockbuf_tcp_connection_limited_ratio{cause}`, the share of the interval limited by the
 * `application` (nothing to send), the `sender-buffer`, the `receiver` or the `network`, and
 * `sockbuf_tcp_connection_verdict{verdict}`, 1 for the largest and 0 for the other values
 * (`unknown` where the kernel lacks the counters, Linux before 4.10). A connection gets them
 * from its second collection in a row among the `top`; each reading is timed by the netlink
 * datagram that brought it, so the interval is that connection's own, not the listings'.
 *
 * @param options what to collect (see {@linkcode CollectOptions})
 * @returns a collector; its `collect()` throws as {@linkcode collect} does
 * @throws {TypeError} if `options` is not an object
 * @throws {RangeError} for a bad `top`
 *
 * @example What limited the worst connection over one second
 * ```ts
 * import { createCollector } from "@sockbuf/sockbuf/metrics";
 *
 * const collector = createCollector({ top: 1 });
 * await collector.collect();
 * await new Promise((resolve) => setTimeout(resolve, 1_000));
 * const verdicts = (await collector.collect()).find((f) => f.name === "sockbuf_tcp_connection_verdict")!;
 * for (const s of verdicts.samples) if (s.value === 1) console.log(s.labels.local, s.labels.verdict);
 * ```
 */
export function createCollector(options: CollectOptions = {}): Collector {
  if (typeof options !== "object" || options === null) throw new TypeError("options must be an object");
  const top = checkTop(options.top);
  const state: { readings?: Readings } = {};
  return { collect: () => settle(() => gather(options, top, state)) };
}

/** One collection; with `state`, the verdicts since the readings it holds, which it then replaces. */
function gather(
  options: CollectOptions,
  top: number,
  state: { readings?: Readings } | undefined,
): MetricFamily[] {
  const started = performance.now();
  listings++;
  const judging = state !== undefined && top > 0;
  const all: SocketEntry[] = [];
  // When each socket was read: its datagram's arrival (only what the verdicts need).
  const readAt = judging ? new Map<SocketEntry, number>() : undefined;
  for (
    const batch of listSocketBatches({
      states: options.states,
      port: options.port,
      family: options.family,
      processes: options.processes === true,
    }, judging ? topFilter(top) : undefined)
  ) {
    const now = performance.now();
    for (const s of batch) {
      all.push(s);
      if (readAt && s.tcpInfo) readAt.set(s, now);
    }
  }
  const byState = new Sums();
  const byPort = new Sums();
  const byProcess = new Sums();
  const listening = new Set<number>();
  for (const s of all) if (s.state === "LISTEN") listening.add(s.local.port);
  const unsent: number[] = [];
  const processUnsent = new Map<string, number[]>();
  const connections: SocketEntry[] = [];
  for (const s of all) {
    byState.add(s.state, s);
    if (s.state === "LISTEN") continue;
    byPort.add(listening.has(s.local.port) ? String(s.local.port) : "other", s);
    if (!s.sendBuffer) continue;
    connections.push(s);
    const u = s.sendBuffer.unsent ?? 0;
    unsent.push(u);
    if (options.processes) {
      const cmd = command(s);
      if (cmd === "") continue;
      byProcess.add(cmd, s);
      let list = processUnsent.get(cmd);
      if (!list) processUnsent.set(cmd, list = []);
      list.push(u);
    }
  }
  connections.sort((a, b) =>
    (b.sendBuffer!.unsent ?? 0) - (a.sendBuffer!.unsent ?? 0) || b.sendBuffer!.queued - a.sendBuffer!.queued
  );
  const worst = connections.slice(0, top);
  const judged = state ? judge(worst, state.readings, (s) => readAt?.get(s) ?? started) : undefined;
  if (state) state.readings = judged!.readings;
  const connectionLabels = (s: SocketEntry) => ({
    local: end(s.local),
    peer: end(s.peer),
    process: command(s),
  });
  const conn = (
    suffix: string,
    help: string,
    value: (s: SocketEntry) => number | undefined,
  ): MetricFamily => {
    const name = `sockbuf_tcp_connection_${suffix}`;
    const samples: MetricSample[] = [];
    for (const s of worst) {
      const v = value(s);
      if (v === undefined) continue;
      samples.push({ name, labels: connectionLabels(s), value: v });
    }
    return { name, help, type: "gauge", samples };
  };
  const families: MetricFamily[] = [
    ...byState.families("sockbuf_tcp", "state", "TCP state", true),
    ...byPort.families("sockbuf_tcp_port", "port", "local listening port (other: ephemeral ports)", true),
    {
      name: "sockbuf_tcp_socket_unsent_bytes",
      help: "Unsent bytes per connection (every non-listening socket with a send buffer).",
      type: "histogram",
      samples: histogram("sockbuf_tcp_socket_unsent_bytes", {}, unsent),
    },
  ];
  if (options.processes) {
    families.push(...byProcess.families("sockbuf_tcp_process", "process", "process command", true), {
      name: "sockbuf_tcp_process_socket_unsent_bytes",
      help: "Unsent bytes per connection, by the command of the process holding it.",
      type: "histogram",
      samples: [...processUnsent.keys()].sort().flatMap((cmd) =>
        histogram("sockbuf_tcp_process_socket_unsent_bytes", { process: cmd }, processUnsent.get(cmd)!)
      ),
    });
  }
  families.push(
    conn(
      "unsent_bytes",
      `Unsent bytes of the ${top} connections with the most.`,
      (s) => s.sendBuffer!.unsent,
    ),
    conn("queued_bytes", `Queued bytes (Send-Q) of the same connections.`, (s) => s.sendBuffer!.queued),
    conn("unacked_bytes", `Unacknowledged bytes of the same connections.`, (s) => s.sendBuffer!.unackedBytes),
    conn(
      "rtt_seconds",
      `Smoothed round-trip time of the same connections.`,
      (s) => s.rttMicros === undefined ? undefined : s.rttMicros / 1e6,
    ),
    ...verdictFamilies(worst, judged?.results, connectionLabels),
  );
  const self = (name: string, help: string, type: MetricType, value: number): MetricFamily => ({
    name,
    help,
    type,
    samples: [{ name, labels: {}, value }],
  });
  families.push(
    self("sockbuf_scrape_sockets", "Sockets seen by this scrape's listing.", "gauge", all.length),
    self(
      "sockbuf_scrape_duration_seconds",
      "Time this scrape took: listing and aggregation.",
      "gauge",
      (performance.now() - started) / 1000,
    ),
    self(
      "sockbuf_listings_total",
      "Netlink listings this process has taken for metrics.",
      "counter",
      listings,
    ),
  );
  return families;
}

/** A label value escaped as the text format requires: backslash, double quote and newline. */
function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/**
 * Renders metric families in the Prometheus text exposition format (version 0.0.4): a
 * `# HELP` and `# TYPE` line per family, then its samples, label values escaped.
 *
 * @param families what {@linkcode collect} returned, or families of your own
 * @returns the exposition text, ending in a newline
 *
 * @example Render your own family next to sockbuf's
 * ```ts
 * import { collect, prometheusText } from "@sockbuf/sockbuf/metrics";
 *
 * const text = prometheusText([...await collect({ top: 5 }), {
 *   name: "myapp_up", help: "Whether myapp runs.", type: "gauge",
 *   samples: [{ name: "myapp_up", labels: { node: 'a "quoted" name' }, value: 1 }],
 * }]);
 * console.log(text);
 * ```
 */
export function prometheusText(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\")}`);
    lines.push(`# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
      lines.push(`${s.name}${labels ? `{${labels}}` : ""} ${formatValue(s.value)}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

/**
 * A request handler serving {@linkcode prometheusText} of {@linkcode collect} at `/metrics`:
 * GET or HEAD, else 405; any other path 404. Scrapes that arrive while a listing runs share
 * its result, so at most one listing runs at a time however many scrapers there are.
 *
 * @param options what to collect (see {@linkcode CollectOptions})
 * @returns a `(request) => Promise<Response>` for `Deno.serve` or `Bun.serve`
 *
 * @example Mount it in a Deno.serve app
 * ```ts
 * import { metricsHandler } from "@sockbuf/sockbuf/metrics";
 *
 * const metrics = metricsHandler({ top: 10 });
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) =>
 *   new URL(req.url).pathname === "/metrics" ? metrics(req) : new Response("hello"));
 * const res = await fetch(`http://127.0.0.1:${server.addr.port}/metrics`);
 * console.log((await res.text()).split("\n")[0]);
 * await server.shutdown();
 * ```
 */
export function metricsHandler(options: CollectOptions = {}): (request: Request) => Promise<Response> {
  const collector = createCollector(options);
  let inflight: Promise<string> | undefined;
  const scrape = (): Promise<string> => {
    // The listing is synchronous: started after a timer tick, it serves every scrape that
    // arrived by then, rather than one listing per request, back to back.
    inflight ??= new Promise((resolve) => setTimeout(resolve, 0)).then(() => collector.collect()).then(
      prometheusText,
    )
      .finally(() => inflight = undefined);
    return inflight;
  };
  return async (request) => {
    if (new URL(request.url).pathname !== "/metrics") {
      return new Response("not found: metrics are at /metrics\n", { status: 404 });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
    }
    let text: string;
    try {
      text = await scrape();
    } catch (err) {
      return new Response(`listing failed: ${err instanceof Error ? err.message : String(err)}\n`, {
        status: 500,
      });
    }
    return new Response(request.method === "HEAD" ? null : text, {
      headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
    });
  };
}

// Re-exported so the option types above are documented where they are used.
export type { ListFilter };
export { TCP_STATES, type TcpState } from "../types.ts";
