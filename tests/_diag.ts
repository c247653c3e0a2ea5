/**
 * Helpers for the system-wide listing tests: `ss -tmie` for one connection, and a child
 * process holding a connection (optionally as another user).
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { libc } from "../ffi/mod.ts";
import { LINUX_LIBC } from "../platform/linux/mod.ts";
import { DIAG, diagRequest, extBit, walkDiagReplies } from "../platform/linux/diag_parse.ts";
import { otherUser, run, runtime } from "./_helpers.ts";
import type { TcpState } from "../types.ts";

/** include/net/tcp_states.h, by number: a fixture independent of platform/linux/mod.ts. */
export const STATES: TcpState[] = [
  "UNKNOWN",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECEIVED",
  "FIN_WAIT_1",
  "FIN_WAIT_2",
  "TIME_WAIT",
  "CLOSED",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "CLOSING",
  "NEW_SYN_RECV",
  "BOUND_INACTIVE",
];

/** What `ss -tmie` says of one socket. */
export interface SsDetail {
  recvQ: number;
  sendQ: number;
  skmem: Record<string, number>;
  notsent: number;
  unacked: number;
  /** ss prints `uid:` only when it is not 0. */
  uid: number;
  ino: number;
  /** The socket cookie, which ss prints as `sk:` in hex. */
  cookie: number;
  raw: string;
}

/** Runs `ss -tmie` for the socket with these local and peer ports. */
export function ssDetail(localPort: number, peerPort: number, family?: 4 | 6): SsDetail {
  const raw = run("ss", [
    ...(family ? [`-${family}`] : []),
    "-tmieHn",
    "state",
    "all",
    `( sport = :${localPort} and dport = :${peerPort} )`,
  ]);
  const lines = raw.trim().split("\n");
  if (lines.length === 0 || !lines[0]) throw new Error(`ss shows no socket ${localPort} -> ${peerPort}`);
  const head = lines[0].trim().split(/\s+/);
  const all = lines.join(" ");
  const num = (re: RegExp, base = 10) => {
    const m = re.exec(all);
    return m ? parseInt(m[1], base) : 0;
  };
  const skmem: Record<string, number> = {};
  for (const part of /skmem:\(([^)]*)\)/.exec(all)?.[1].split(",") ?? []) {
    const m = /^([a-z]+)(\d+)$/.exec(part);
    if (m) skmem[m[1]] = Number(m[2]);
  }
  return {
    // -H and a state filter of "all": State, Recv-Q, Send-Q, Local, Peer
    recvQ: Number(head[1]),
    sendQ: Number(head[2]),
    skmem,
    notsent: num(/\bnotsent:(\d+)/),
    unacked: num(/\bunacked:(\d+)/),
    uid: num(/\buid:(\d+)/),
    ino: num(/\bino:(\d+)/),
    cookie: num(/\bsk:([0-9a-f]+)/, 16),
    raw,
  };
}

/** A child process holding one connection. */
export interface Holder {
  child: ChildProcess;
  pid: number;
  /** The connection's fd in the child. */
  fd: number;
  localPort: number;
  /** Closes the child's stdin and waits for it to exit. */
  stop(): Promise<void>;
}

/**
 * Starts `tests/fixtures/diag_holder.ts` under this runtime, connecting to `host:port` and
 * writing `bytes`; with `asUid`, as that user (setpriv), from a copy it can read.
 */
export async function startHolder(
  host: string,
  port: number,
  bytes: number,
  asUid?: number,
): Promise<Holder> {
  const other = asUid === undefined ? undefined : otherUser(asUid);
  const script = fileURLToPath(new URL("./fixtures/diag_holder.ts", import.meta.url));
  const args = [host, `${port}`, `${bytes}`];
  const [cmd, ...rest] = other
    ? [
      "setpriv",
      `--reuid=${asUid}`,
      `--regid=${asUid}`,
      "--clear-groups",
      other.exe,
      ...other.argv("diag_holder.ts", ...args),
    ]
    : [process.execPath, ...(runtime === "deno" ? ["run", "--allow-all", script] : [script]), ...args];
  const child = spawn(cmd, rest, { stdio: ["pipe", "pipe", "inherit"], env: other?.env ?? process.env });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve())).then(() =>
    other?.remove()
  );
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`holder exited with ${code} before it was ready`)));
  });
  const { pid, fd, localPort } = JSON.parse(line);
  return {
    child,
    pid,
    fd,
    localPort,
    async stop() {
      child.stdin!.end();
      await exited;
    },
  };
}

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
export function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Dumps TCP sockets in every state over a netlink socket of our own, as request `seq`,
 * returning each datagram's bytes.
 */
export function capture(family: number, seq: number): Uint8Array[] {
  const c = libc(LINUX_LIBC);
  const fd = c.socket(DIAG.AF_NETLINK, DIAG.SOCK_RAW | DIAG.SOCK_CLOEXEC, DIAG.NETLINK_SOCK_DIAG);
  assert.ok(fd >= 0, `socket: ${fd}`);
  const out: Uint8Array[] = [];
  try {
    const ext = extBit(DIAG.INET_DIAG_INFO) | extBit(DIAG.INET_DIAG_SKMEMINFO);
    assert.ok(c.send(fd, diagRequest(family, 0xfffe, ext, seq), 0) > 0);
    const buf = new Uint8Array(1 << 16);
    for (let i = 0; i < 100_000; i++) {
      const n = c.recv(fd, buf, 0);
      assert.ok(n > 0, `recv: ${n}`);
      out.push(buf.slice(0, n));
      if (walkDiagReplies(buf, n, seq, () => {})) return out;
    }
    throw new Error("no NLMSG_DONE");
  } finally {
    c.closeFd(fd);
  }
}
