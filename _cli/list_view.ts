/**
 * What `sockbuf ls` and `sockbuf top` share: their filter flags, the listing, its sort orders
 * and the table.
 *
 * @module
 */
import { listSocketsJsonSync, listSocketsSync, type SocketJson, type SocketJsonField } from "../list.ts";
import { type SocketEntry, TCP_STATES, type TcpState } from "../types.ts";
import {
  type Align,
  bytes,
  choiceFlag,
  intFlag,
  printable,
  quote,
  type Style,
  table,
  UsageError,
} from "./common.ts";

/** Sort keys; every one sorts largest first, except `port` and `pid`. */
export const SORT_KEYS = ["unsent", "queued", "size", "unacked", "rtt", "cwnd", "port", "pid"] as const;
/** A sort key. */
export type SortKey = (typeof SORT_KEYS)[number];

/**
 * By default, as `ss` without `-a`: connections that can hold data to send, so no
 * listeners, no `TIME_WAIT` and no half-open requests.
 */
const CONNECTED: readonly TcpState[] = [
  "ESTABLISHED",
  "SYN_SENT",
  "FIN_WAIT_1",
  "FIN_WAIT_2",
  "CLOSE_WAIT",
  "LAST_ACK",
  "CLOSING",
];

/** The flags `ls` and `top` both take, for `parseFlags`. */
export const LIST_FLAGS = {
  state: { type: "string", multiple: true },
  port: { type: "string" },
  pid: { type: "string" },
  sort: { type: "string", default: "unsent" },
  limit: { type: "string" },
  processes: { type: "boolean", default: true },
} as const;

/** Help lines for {@linkcode LIST_FLAGS}. */
export const LIST_HELP = `  --state S       only sockets in state S (repeat, or S,S): established, syn-sent,
                  fin-wait-1, fin-wait-2, close-wait, last-ack, closing, listen,
                  time-wait, syn-received, closed, or all (default: every state that
                  can hold data to send, as ss shows without -a)
  --port N        only sockets with port N at either end (filtered in the kernel)
  --pid N         only sockets held open by process N
  --sort KEY      ${SORT_KEYS.join(", ")} (default unsent; largest first)
  --limit N       show at most N sockets
  --no-processes  skip finding each socket's process (faster on busy hosts)`;

/** The parsed filter flags. */
export interface ListOptions {
  states: TcpState[];
  port: number | undefined;
  pid: number | undefined;
  sort: SortKey;
  limit: number | undefined;
  processes: boolean;
}

/** Checks the filter flags. */
export function listOptions(values: {
  state?: string[];
  port?: string;
  pid?: string;
  sort?: string;
  limit?: string;
  processes?: boolean;
}): ListOptions {
  let states = [...CONNECTED];
  if (values.state) {
    // Every name is checked, "all" or not, so a typo never passes silently; names are ASCII
    // (so "establıshed", whose ı upper-cases to I, is not taken for "established").
    const names = values.state.flatMap((s) => s.split(",")).map((s) => s.trim());
    const picked = names.map((name) => {
      const upper = /^[A-Za-z0-9_-]+$/.test(name) ? name.toUpperCase().replaceAll("-", "_") : "";
      const state = upper === "SYN_RECV" ? "SYN_RECEIVED" : upper;
      if (state !== "ALL" && !(TCP_STATES as readonly string[]).includes(state)) {
        throw new UsageError(`--state: unknown TCP state ${quote(name)}`);
      }
      return state;
    });
    states = picked.includes("ALL") ? [...TCP_STATES] : picked as TcpState[];
  }
  const pid = values.pid === undefined ? undefined : intFlag("pid", values.pid, 1, 2 ** 31 - 1);
  return {
    states,
    port: values.port === undefined ? undefined : intFlag("port", values.port, 0, 65535),
    pid,
    sort: choiceFlag("sort", values.sort ?? "unsent", SORT_KEYS),
    limit: values.limit === undefined ? undefined : intFlag("limit", values.limit, 1, 2 ** 31 - 1),
    // Filtering by process needs the processes.
    processes: values.processes !== false || pid !== undefined,
  };
}

const num = (n: number | undefined) => n ?? -1;
const KEY: Record<SortKey, (e: SocketEntry) => number> = {
  unsent: (e) => num(e.sendBuffer?.unsent),
  queued: (e) => num(e.sendBuffer?.queued),
  size: (e) => num(e.sendBuffer?.size),
  unacked: (e) => num(e.sendBuffer?.unackedSegments),
  rtt: (e) => num(e.rttMicros),
  cwnd: (e) => num(e.cwndSegments),
  port: (e) => -e.local.port,
  pid: (e) => -(e.processes?.[0]?.pid ?? 2 ** 31),
};

/** The field of a JSON listing that {@linkcode KEY} reads, by sort key. */
const JSON_FIELD: Record<SortKey, SocketJsonField | undefined> = {
  unsent: "unsent",
  queued: "queued",
  size: "size",
  unacked: "unackedSegments",
  rtt: "rttMicros",
  cwnd: "cwndSegments",
  port: "localPort",
  // A JSON listing has no processes: every key is that of an entry with none.
  pid: undefined,
};

/** Lists, filters and sorts the sockets as the flags say. */
export function listFor(o: ListOptions, tcpInfo = false): SocketEntry[] {
  let entries = listSocketsSync({ states: o.states, port: o.port, processes: o.processes, tcpInfo });
  if (o.pid !== undefined) entries = entries.filter((e) => e.processes?.some((p) => p.pid === o.pid));
  return sortEntries(entries, o);
}

/** Sorts entries as the flags say, in place, and keeps `--limit` of them. */
export function sortEntries(entries: SocketEntry[], o: Pick<ListOptions, "sort" | "limit">): SocketEntry[] {
  const key = KEY[o.sort];
  // Ties keep a stable, readable order: by local port.
  entries.sort((a, b) => key(b) - key(a) || a.local.port - b.local.port);
  return o.limit === undefined ? entries : entries.slice(0, o.limit);
}

/**
 * Writes `JSON.stringify(listFor(o))` through `write`, a piece at a time, for flags without
 * processes: from the kernel's replies kept compact (list.ts `listSocketsJsonSync`), sorted
 * as {@linkcode listFor} sorts, without an object per socket. On a host with tens of
 * thousands of sockets this is what brings `sockbuf ls --json --no-processes` near `ss`.
 */
export function writeJsonFor(o: ListOptions, write: (piece: Uint8Array) => void): void {
  if (o.processes || o.pid !== undefined) {
    throw new TypeError("writeJsonFor: a JSON listing has no processes");
  }
  writeSortedJson(listSocketsJsonSync({ states: o.states, port: o.port }), o, write);
}

/** Sockets a JSON listing sorts with one native numeric sort: their rank fits 20 bits. */
const RANK_BITS = 2 ** 20;

/**
 * Writes a JSON listing's sockets sorted and limited as {@linkcode sortEntries} does, as one
 * JSON array. The same order without a comparator call per pair: a counting sort by local port
 * (stable), then one native sort of `(largest key − key) · 2^20 + rank`, exact below 2^53;
 * from `rankLimit` sockets on (2^20), a comparator sort instead.
 */
export function writeSortedJson(
  j: SocketJson,
  o: Pick<ListOptions, "sort" | "limit">,
  write: (piece: Uint8Array) => void,
  rankLimit: number = RANK_BITS,
): void {
  const n = j.count;
  // Stable by local port: KEY's tie-break, and the whole order for `port` and `pid` (a
  // listing without processes has one pid key for all).
  const starts = new Uint32Array(65537);
  const ports = new Uint32Array(n);
  for (let i = 0; i < n; i++) starts[(ports[i] = j.field(i, "localPort")) + 1]++;
  for (let p = 1; p <= 65536; p++) starts[p] += starts[p - 1];
  const byPort = new Uint32Array(n);
  for (let i = 0; i < n; i++) byPort[starts[ports[i]]++] = i;
  const field = JSON_FIELD[o.sort];
  let order: ArrayLike<number> & { subarray(start: number, end: number): ArrayLike<number> } = byPort;
  if (field !== undefined && field !== "localPort") {
    if (n >= rankLimit) {
      // Past a million sockets the rank no longer fits: a comparator, stable on the port order
      const keys = Array.from({ length: n }, (_, i) => j.field(i, field));
      const sorted = Array.from(byPort).sort((a, b) => keys[b] - keys[a]);
      order = Uint32Array.from(sorted);
    } else {
      // Keys run from -1 (absent) to 2^32 - 1, so `2^32 - 1 - key` takes 33 bits
      const rank = new Float64Array(n);
      for (let r = 0; r < n; r++) rank[r] = (0xffffffff - j.field(byPort[r], field)) * RANK_BITS + r;
      rank.sort();
      const sorted = new Uint32Array(n);
      for (let k = 0; k < n; k++) sorted[k] = byPort[rank[k] % RANK_BITS];
      order = sorted;
    }
  }
  j.json(o.limit === undefined || o.limit >= n ? order : order.subarray(0, o.limit), write);
}

const endpoint = (a: { address: string; port: number }) =>
  a.address.includes(":") ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;

/**
 * Who holds the socket: `command[pid]`, comma-separated; `-` if nobody was found. A command
 * name is whatever the process set (prctl PR_SET_NAME, /proc/PID/comm), so it is escaped.
 */
export function holders(e: SocketEntry): string {
  if (!e.processes) return "";
  const names = [...new Set(e.processes.map((p) => `${printable(p.command)}[${p.pid}]`))];
  return names.length ? names.join(",") : "-";
}

function rtt(micros: number | undefined): string {
  if (micros === undefined) return "-";
  return micros < 10_000 ? `${(micros / 1000).toFixed(2)} ms` : `${(micros / 1000).toFixed(0)} ms`;
}

const HEAD = ["STATE", "LOCAL", "PEER", "SIZE", "QUEUED", "UNSENT", "UNACKED", "CWND", "RTT", "PROCESS"];
const ALIGN: Align[] = ["left", "left", "left", "right", "right", "right", "right", "right", "right", "left"];

/**
 * The table: byte counts readable (KiB/MiB), `UNACKED` and `CWND` in segments. Unsent data
 * is highlighted in colour; `style` is plain text off a terminal.
 */
export function render(entries: SocketEntry[], style: Style, sort: SortKey): string[] {
  const head = HEAD.map((h) => (h.toLowerCase() === sort ? style.bold(`${h}▼`) : style.bold(h)));
  const rows = entries.map((e) => {
    const b = e.sendBuffer;
    const unsent = bytes(b?.unsent);
    return [
      e.state.toLowerCase().replaceAll("_", "-"),
      endpoint(e.local),
      endpoint(e.peer),
      bytes(b?.size),
      bytes(b?.queued),
      b?.unsent ? style.red(unsent) : unsent,
      b?.unackedSegments === undefined ? "-" : String(b.unackedSegments),
      e.cwndSegments === undefined ? "-" : String(e.cwndSegments),
      rtt(e.rttMicros),
      holders(e),
    ];
  });
  return table([head, ...rows], ALIGN);
}
