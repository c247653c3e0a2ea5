/**
 * The SVG chart of bench/latency.ts: message age over time, one series per mode, on a log
 * scale. Hand-written SVG, no dependencies.
 *
 * Each series is downsampled into fixed time bins (by arrival time): a shaded band from the
 * bin's youngest to its oldest message, and a line through its median. The bin width is
 * chosen so that a run has at most about 250 bins; every message counts in its bin, so no
 * spike is lost to the downsampling (the band's top is the bin's maximum).
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** One time bin of a series. */
export interface TimelineBin {
  /** Bin start, seconds since the connection was accepted. */
  t: number;
  /** Messages that arrived in the bin. */
  n: number;
  /** Youngest, median and oldest age in the bin, ms. */
  min: number;
  p50: number;
  max: number;
}

/** A bin width (ms) that gives at most about `maxBins` bins over `durationMs`: 10, 20, 50, 100 … */
export function binWidth(durationMs: number, maxBins = 250): number {
  const raw = Math.max(1, durationMs / maxBins);
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return Math.max(10, m * pow);
  return Math.max(10, 10 * pow);
}

/** Bins ages by arrival time (both ms, in the same order); empty bins are left out. */
export function timeline(arrivals: readonly number[], ages: readonly number[], binMs: number): TimelineBin[] {
  const bins = new Map<number, number[]>();
  for (let i = 0; i < arrivals.length && i < ages.length; i++) {
    const k = Math.floor(arrivals[i] / binMs);
    let b = bins.get(k);
    if (!b) bins.set(k, b = []);
    b.push(ages[i]);
  }
  return [...bins.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => {
    const s = Float64Array.from(v).sort();
    return {
      t: (k * binMs) / 1000,
      n: s.length,
      min: s[0],
      p50: s[Math.floor((s.length - 1) / 2)],
      max: s[s.length - 1],
    };
  });
}

/** One series of the chart. */
export interface ChartSeries {
  /** Machine name: used in the element ids (`series-<key>`). */
  key: string;
  /** Legend text. */
  label: string;
  color: string;
  bins: readonly TimelineBin[];
  /** Retransmissions (seconds on the same axis): drawn as ticks along the bottom. */
  retrans?: readonly { t: number; bytes: number }[];
}

/** What to draw. */
export interface Chart {
  title: string;
  /** Lines under the title (settings). */
  subtitle: readonly string[];
  series: readonly ChartSeries[];
  /** Bin width, ms (named in the legend note). */
  binMs: number;
  /** Optional vertical marker, seconds (e.g. the end of a warm-up), with its label. */
  marker?: { t: number; label: string };
}

const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

const num = (x: number): string => (Math.round(x * 10) / 10).toString();

/** A "nice" step (1, 2 or 5 × 10^k) giving about `target` ticks over `span`. */
function niceStep(span: number, target: number): number {
  const raw = span / Math.max(1, target);
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

function ageLabel(ms: number): string {
  if (ms >= 1000) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** The chart as an SVG document. */
export function renderChart(chart: Chart): string {
  const W = 960;
  const H = 560;
  const top = 40 + 16 * chart.subtitle.length + 12;
  const m = { left: 78, right: 24, top, bottom: 96 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;

  const all = chart.series.flatMap((s) => s.bins);
  const tMax = Math.max(0.001, ...all.map((b) => b.t)) + (chart.binMs / 1000);
  const positive = all.flatMap((b) => [b.min, b.max]).filter((x) => x > 0);
  const lo = positive.length ? Math.min(...positive) : 1;
  const hi = positive.length ? Math.max(...positive) : 10;
  // At least 0.1 ms at the bottom: cross-process clocks make sub-0.1-ms ages meaningless.
  const yLo = Math.max(0.1, 10 ** Math.floor(Math.log10(lo)));
  const yHi = Math.max(yLo * 10, 10 ** Math.ceil(Math.log10(hi)));
  const x = (t: number) => m.left + (t / tMax) * pw;
  const y = (ms: number) => {
    const v = Math.min(yHi, Math.max(yLo, ms));
    return m.top + ph - ((Math.log10(v) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo))) * ph;
  };

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12">`,
  );
  out.push(`<title>${esc(chart.title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(
    `<text x="${W / 2}" y="26" text-anchor="middle" font-size="17" font-weight="600">${
      esc(chart.title)
    }</text>`,
  );
  chart.subtitle.forEach((line, i) => {
    out.push(
      `<text x="${W / 2}" y="${46 + 16 * i}" text-anchor="middle" fill="#444">${esc(line)}</text>`,
    );
  });

  // Grid and y ticks: every decade labelled, 2× and 5× as minor lines.
  out.push(`<g class="grid" stroke-width="1">`);
  for (let d = Math.log10(yLo); d <= Math.log10(yHi) + 1e-9; d++) {
    const v = 10 ** d;
    const yy = num(y(v));
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${yy}" y2="${yy}" stroke="#d0d0d0"/>`);
    out.push(
      `<text x="${m.left - 8}" y="${yy}" dy="4" text-anchor="end" fill="#222">${
        ageLabel(Number(v.toPrecision(1)))
      }</text>`,
    );
    for (const k of [2, 5]) {
      const mv = k * v;
      if (mv >= yHi) continue;
      const my = num(y(mv));
      out.push(
        `<line x1="${m.left}" x2="${m.left + pw}" y1="${my}" y2="${my}" stroke="#eeeeee"/>`,
        `<text x="${m.left - 8}" y="${my}" dy="4" text-anchor="end" fill="#888" font-size="10">${
          ageLabel(Number(mv.toPrecision(1)))
        }</text>`,
      );
    }
  }
  const step = niceStep(tMax, 10);
  for (let t = 0; t <= tMax + 1e-9; t += step) {
    const xx = num(x(t));
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="${m.top}" y2="${m.top + ph}" stroke="#eeeeee"/>`,
      `<line x1="${xx}" x2="${xx}" y1="${m.top + ph}" y2="${m.top + ph + 5}" stroke="#222"/>`,
      `<text x="${xx}" y="${m.top + ph + 19}" text-anchor="middle" fill="#222">${
        Number(t.toFixed(3))
      }</text>`,
    );
  }
  out.push(`</g>`);

  // Series: band (min..max per bin), then the median line on top.
  for (const s of chart.series) {
    if (s.bins.length === 0) continue;
    const w = chart.binMs / 1000;
    const upper = s.bins.flatMap((
      b,
    ) => [`${num(x(b.t))},${num(y(b.max))}`, `${num(x(b.t + w))},${num(y(b.max))}`]);
    const lower = s.bins.slice().reverse().flatMap((b) => [
      `${num(x(b.t + w))},${num(y(b.min))}`,
      `${num(x(b.t))},${num(y(b.min))}`,
    ]);
    const median = s.bins.map((b) => `${num(x(b.t + w / 2))},${num(y(b.p50))}`).join(" ");
    out.push(
      `<g id="series-${esc(s.key)}" class="series"><title>${esc(s.label)}</title>`,
      `<polygon points="${[...upper, ...lower].join(" ")}" fill="${s.color}" fill-opacity="0.22" ` +
        `stroke="${s.color}" stroke-opacity="0.45" stroke-width="0.6"/>`,
      `<polyline points="${median}" fill="none" stroke="${s.color}" stroke-width="1.8" ` +
        `stroke-linejoin="round"/>`,
      `</g>`,
    );
  }
  // Retransmissions: one row of ticks per series along the bottom of the plot.
  const rows = chart.series.filter((s) => s.retrans?.length);
  chart.series.forEach((s, i) => {
    if (!s.retrans?.length) return;
    const y1 = m.top + ph - 4 - 10 * i;
    out.push(`<g class="retrans" id="retrans-${esc(s.key)}" stroke="${s.color}" stroke-width="1.4">`);
    for (const r of s.retrans) {
      if (r.t < 0 || r.t > tMax) continue;
      const xx = num(x(r.t));
      out.push(`<line x1="${xx}" x2="${xx}" y1="${y1}" y2="${y1 - 8}"><title>${r.bytes} B</title></line>`);
    }
    out.push(`</g>`);
  });
  if (chart.marker) {
    const xx = num(x(chart.marker.t));
    out.push(
      `<line x1="${xx}" x2="${xx}" y1="${m.top}" y2="${m.top + ph}" stroke="#555" stroke-dasharray="5 4"/>`,
      `<text x="${Number(xx) + 4}" y="${m.top + 14}" fill="#555" font-size="11">${
        esc(chart.marker.label)
      }</text>`,
    );
  }

  // Frame and axis labels.
  out.push(
    `<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#222"/>`,
    `<text x="${m.left + pw / 2}" y="${m.top + ph + 40}" text-anchor="middle" font-size="13">` +
      `time since the connection was accepted (s), by arrival</text>`,
    `<text transform="translate(20 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13">` +
      `message age on arrival (ms, log scale)</text>`,
  );

  // Legend, under the plot.
  const ly = m.top + ph + 62;
  let lx = m.left;
  for (const s of chart.series) {
    out.push(
      `<rect x="${lx}" y="${ly - 9}" width="22" height="12" fill="${s.color}" fill-opacity="0.22" ` +
        `stroke="${s.color}" stroke-opacity="0.45"/>`,
      `<line x1="${lx}" x2="${lx + 22}" y1="${ly - 3}" y2="${ly - 3}" stroke="${s.color}" stroke-width="2"/>`,
      `<text x="${lx + 28}" y="${ly}" fill="#222">${esc(s.label)}</text>`,
    );
    lx += 28 + 7 * s.label.length + 24;
  }
  out.push(
    `<text x="${m.left}" y="${ly + 20}" fill="#666" font-size="11">line: median age per ${chart.binMs}-ms ` +
      `bin; band: youngest to oldest message in the bin` +
      (rows.length ? "; ticks along the bottom: the sender retransmitted (tcp_info, sampled)" : "") +
      `</text>`,
  );
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** Writes `svg` to `dir/name` (making `dir`); returns the path. */
export function writeChart(dir: string, name: string, svg: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, svg);
  return path;
}
