/**
 * watch(), drained() and lowLatencyWriter() on real loopback connections, on both runtimes.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as net from "node:net";
import process from "node:process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import {
  drained,
  inspect,
  inspectSync,
  lowLatencyBody,
  lowLatencyWriter,
  SockbufError,
  watch,
} from "../mod.ts";
import type { BunServeRequest, DenoServeRequest } from "../types.ts";
import { hasTool, needs, runtime, SERVE_FORMS, sleep, ssFor, stalledPair } from "./_helpers.ts";

const linux = process.platform === "linux";
const unix = linux || process.platform === "darwin";
// deno-lint-ignore no-explicit-any -- Bun's global is untyped under deno check
const Bun = (globalThis as any).Bun;

describe("watch()", { skip: !unix && "Linux and macOS only" }, () => {
  it("yields a snapshot at once, then one per interval, and stops on abort", async () => {
    const pair = await stalledPair();
    try {
      const ctl = new AbortController();
      const times: number[] = [];
      const t0 = performance.now();
      for await (const buf of watch(pair.client, { intervalMs: 50, signal: ctl.signal })) {
        times.push(performance.now() - t0);
        assert.equal(typeof buf.queued, "number");
        assert.equal(buf.state, "ESTABLISHED");
        if (times.length === 4) ctl.abort();
      }
      assert.equal(times.length, 4);
      assert.ok(times[0] < 40, `first snapshot at once, got ${times[0]} ms`);
      assert.ok(times[3] >= 140, `three intervals of 50 ms, got ${times[3]} ms`);
    } finally {
      await pair.close();
    }
  });

  it("follows the queue as it grows", async () => {
    const pair = await stalledPair();
    try {
      const seen: number[] = [];
      for await (const buf of watch(pair.client, { intervalMs: 20 })) {
        seen.push(buf.queued);
        if (seen.length === 5) break;
        pair.client.write(new Uint8Array(64 * 1024));
      }
      assert.equal(seen[0], 0);
      assert.ok(seen[4] > seen[1] && seen[1] > 0, `queued over time: ${seen}`);
    } finally {
      await pair.close();
    }
  });

  it("ends without an error when the socket closes", async () => {
    const pair = await stalledPair();
    try {
      let n = 0;
      for await (const _ of watch(pair.client, { intervalMs: 10 })) {
        if (++n === 3) pair.client.destroy();
        assert.ok(n < 50, "watch() kept going after the socket closed");
      }
      assert.ok(n >= 3);
    } finally {
      await pair.close();
    }
  });

  it("rejects a negative interval with RangeError", async () => {
    await assert.rejects(watch(0, { intervalMs: -1 }).next(), RangeError);
  });
});

describe("drained()", { skip: !unix && "Linux and macOS only" }, () => {
  it("times out with a TimeoutError while the reader stalls, and resolves once it reads", async () => {
    // A 4 KiB receive buffer: an acknowledgement then means the reader has read all but
    // what that buffer holds (the kernel doubles it: 8 KiB).
    const pair = await stalledPair("127.0.0.1", { rcvbuf: 4096 });
    try {
      const total = 1 << 20;
      pair.client.write(new Uint8Array(total));
      await sleep(50);
      const t0 = performance.now();
      await assert.rejects(drained(pair.client, { timeoutMs: 100 }), { name: "TimeoutError" });
      assert.ok(performance.now() - t0 >= 90);
      assert.equal(pair.read, 0);
      pair.resumeReader();
      const buf = await drained(pair.client, { timeoutMs: 5000 });
      assert.ok(
        pair.read >= total - 8192 - 65536,
        `resolved when the reader had read ${pair.read} of ${total}`,
      );
      assert.equal(buf.queued, 0);
      assert.equal((await inspect(pair.client)).queued, 0);
      assert.equal(pair.client.writableLength, 0);
    } finally {
      await pair.close();
    }
  });

  it("rejects with the signal's reason on abort", async () => {
    const pair = await stalledPair();
    try {
      pair.client.write(new Uint8Array(8 << 20)); // more than the reader's receive buffer holds
      await sleep(20);
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(new Error("shutting down")), 30);
      await assert.rejects(drained(pair.client, { signal: ctl.signal }), { message: "shutting down" });
    } finally {
      await pair.close();
    }
  });

  it("rejects, never resolves, when the peer resets the connection with data unacknowledged", async () => {
    const pair = await stalledPair();
    try {
      pair.client.on("error", () => {});
      pair.client.write(new Uint8Array(8 << 20));
      await sleep(50);
      const waiting = drained(pair.client, { timeoutMs: 5000 });
      pair.resetReader(); // closes with unread data: the kernel sends RST
      // node:net closes its socket on the reset (EBADF/ENOTCONN) unless drained() sees the
      // reset state first (ECONNRESET); it must never resolve.
      await assert.rejects(
        waiting,
        (err) => err instanceof SockbufError && ["ECONNRESET", "EBADF", "ENOTCONN"].includes(err.code),
      );
    } finally {
      await pair.close();
    }
  });

  it("rejects with ECONNRESET when a reset empties the queue of an open Deno conn", {
    skip: runtime !== "deno" && `Deno.connect leaves its socket open after a reset; not in ${runtime}`,
  }, async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      try {
        const peer = await listener.accept();
        void conn.write(new Uint8Array(8 << 20)).catch(() => {});
        await sleep(50);
        const waiting = drained(conn, { timeoutMs: 5000 });
        peer.close(); // unread data: RST
        await assert.rejects(waiting, (err) => {
          assert.ok(err instanceof SockbufError);
          assert.equal(err.code, "ECONNRESET");
          assert.equal(err.errno, 104, "Linux's ECONNRESET");
          assert.match(
            err.message,
            /connection was reset or timed out with \d+ bytes unacknowledged: ECONNRESET \(errno 104\)$/,
          );
          return true;
        });
      } finally {
        conn[Symbol.dispose]();
      }
    } finally {
      listener[Symbol.dispose]();
    }
  });

  it("rejects with ENOTCONN or EBADF when the socket itself closes", async () => {
    const pair = await stalledPair();
    try {
      pair.client.write(new Uint8Array(256 * 1024));
      await sleep(20);
      const waiting = drained(pair.client, { timeoutMs: 5000 });
      pair.client.destroy();
      await assert.rejects(
        waiting,
        (err) => err instanceof SockbufError && ["ENOTCONN", "EBADF"].includes(err.code),
      );
    } finally {
      await pair.close();
    }
  });
});

describe("no timers or sockets left behind", { skip: !unix && "Linux and macOS only" }, () => {
  for (const rt of ["deno", "bun"]) {
    it(`a script that breaks, aborts and times out watch() and drained() exits on its own (${rt})`, (t) => {
      if (!needs(t, hasTool(rt), `${rt} on PATH`)) return;
      const script = fileURLToPath(new URL("./fixtures/watch_exit.ts", import.meta.url));
      const args = rt === "deno" ? ["run", "--allow-ffi", "--allow-net", script] : [script];
      const t0 = Date.now();
      const r = spawnSync(rt, args, { encoding: "utf8", timeout: 8000 });
      assert.equal(r.signal, null, `the process had to be killed: something kept it alive\n${r.stderr}`);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /done/);
      assert.ok(Date.now() - t0 < 8000);
    });
  }
});

/** Opens a writer kind to a stalled reader; returns the socket, its ports and a closer. */
type Opened = { socket: object; local: number; peer: number; close(): Promise<void> | void };
const writers: { name: string; skip: string | false; open(): Promise<Opened> }[] = [
  {
    name: "node:net",
    skip: false,
    async open() {
      const pair = await stalledPair();
      return {
        socket: pair.client,
        local: pair.clientPort,
        peer: pair.serverPort,
        close: () => pair.close(),
      };
    },
  },
  {
    name: "Deno.connect",
    skip: runtime !== "deno" && `Deno's API: not in ${runtime}`,
    async open() {
      const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      const peer = await listener.accept(); // never read
      return {
        socket: conn,
        local: conn.localAddr.port,
        peer: listener.addr.port,
        close() {
          conn.close();
          peer.close();
          listener.close();
        },
      };
    },
  },
  {
    name: "Bun.connect",
    skip: runtime !== "bun" && `Bun's API: not in ${runtime}`,
    async open() {
      // deno-lint-ignore no-explicit-any -- Bun's socket types are not visible to deno check
      const opened: any[] = [];
      const listener = Bun.listen({
        hostname: "127.0.0.1",
        port: 0,
        socket: { open: (s: { pause(): void }) => (s.pause(), opened.push(s)), data() {} },
      });
      const socket = await Bun.connect({ hostname: "127.0.0.1", port: listener.port, socket: { data() {} } });
      return {
        socket,
        local: socket.localPort,
        peer: listener.port,
        close() {
          socket.terminate();
          listener.stop(true);
        },
      };
    },
  },
];

describe("lowLatencyWriter()", { skip: !unix && "Linux and macOS only" }, () => {
  const lowat = 16384;
  const message = new Uint8Array(1000).fill(0x6d);
  for (const w of writers) {
    it(`keeps unsent bytes under the limit, as ss sees them, while the reader stalls (${w.name})`, {
      skip: w.skip,
    }, async (t) => {
      const { socket, local, peer, close } = await w.open();
      try {
        const stream = lowLatencyWriter(socket as never, { lowat });
        const writer = stream.getWriter();
        // The reader never reads: writes go through until the receiver's window and the
        // sender's lowat are full, then block. Don't await the blocked one.
        let accepted = 0;
        const pump = (async () => {
          for (let i = 0; i < 100_000; i++) {
            await writer.write(message);
            accepted++;
          }
        })().catch(() => {});
        // Sample unsent every 2 ms while the writes go through and then block.
        let last = -1;
        let maxUnsent = 0;
        let samples = 0;
        for (let stable = 0, i = 0; stable < 5 && i < 200; i++) {
          for (const end = performance.now() + 40; performance.now() < end;) {
            maxUnsent = Math.max(maxUnsent, (await inspect(socket as never)).unsent!);
            samples++;
            await sleep(2);
          }
          stable = accepted === last ? stable + 1 : 0;
          last = accepted;
        }
        assert.ok(samples > 50, `${samples} samples`);
        assert.ok(
          maxUnsent <= lowat + message.length,
          `sampled unsent reached ${maxUnsent} with lowat ${lowat}`,
        );
        const buf = await inspect(socket as never);
        assert.ok(accepted > 0 && accepted < 100_000, `writes should block, ${accepted} accepted`);
        assert.ok(buf.unsent! < lowat + message.length, `unsent ${buf.unsent} with lowat ${lowat}`);
        assert.equal(stream.sent, accepted);
        if (linux && needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) {
          const ss = ssFor(local, peer);
          assert.ok((ss.notsent ?? 0) < lowat + message.length, `ss notsent ${ss.notsent}`);
        }
        void pump;
        await writer.abort().catch(() => {});
      } finally {
        await close();
      }
    });

    it(`drops stale messages in latest-value-wins mode and reports how many (${w.name})`, {
      skip: w.skip,
    }, async () => {
      const { socket, close } = await w.open();
      try {
        const stream = lowLatencyWriter(socket as never, { lowat, latest: true });
        const writer = stream.getWriter();
        const total = 5000;
        let maxUnsent = 0;
        for (let i = 0; i < total; i++) {
          await writer.write(message);
          if (i % 100 === 0) {
            maxUnsent = Math.max(maxUnsent, (await inspect(socket as never)).unsent!);
            await sleep(1);
          }
        }
        const buf = await inspect(socket as never);
        assert.ok(maxUnsent <= lowat + message.length, `sampled unsent reached ${maxUnsent}`);
        assert.ok(stream.dropped > 0, "a stalled reader must make the writer drop messages");
        assert.ok(stream.sent + stream.dropped <= total);
        // Every message is sent or dropped, but for at most two: one being handed to the
        // runtime, and the newest, parked.
        assert.ok(
          stream.sent + stream.dropped >= total - 2,
          `${stream.sent} sent, ${stream.dropped} dropped`,
        );
        assert.ok(buf.unsent! < lowat + message.length, `unsent ${buf.unsent}`);
        await writer.abort().catch(() => {});
      } finally {
        await close();
      }
    });
  }

  for (const latest of [false, true]) {
    it(`stops waiting at once when aborted or when its signal aborts (latest: ${latest})`, async () => {
      const pair = await stalledPair();
      try {
        pair.client.write(new Uint8Array(8 << 20)); // the kernel's unsent bytes stay above lowat
        await sleep(30);
        const stream = lowLatencyWriter(pair.client, { lowat, latest });
        const writer = stream.getWriter();
        const pending = writer.write(message).catch((e) => e);
        await sleep(20);
        const t0 = performance.now();
        await writer.abort(new Error("stop"));
        assert.ok(performance.now() - t0 < 100, "abort() returned promptly");
        if (!latest) assert.match(String(await pending), /stop/);
        assert.equal(stream.sent, 0);

        const ctl = new AbortController();
        const second = lowLatencyWriter(pair.client, { lowat, latest, signal: ctl.signal }).getWriter();
        void second.write(message).catch(() => {});
        await sleep(20);
        ctl.abort(new Error("signal"));
        await assert.rejects(second.closed, /signal/);
      } finally {
        await pair.close();
      }
    });
  }

  it("sends every message, in order, when the reader keeps up", async () => {
    const received: Buffer[] = [];
    const server = net.createServer((s) => s.on("data", (d) => received.push(d as Buffer)));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const client = net.connect((server.address() as net.AddressInfo).port, "127.0.0.1");
    await new Promise((r) => client.once("connect", r));
    try {
      const stream = lowLatencyWriter(client, { lowat: 4096 });
      const writer = stream.getWriter();
      for (let i = 0; i < 500; i++) await writer.write(new TextEncoder().encode(`${i}\n`));
      await writer.close();
      await drained(client, { timeoutMs: 5000 });
      await sleep(50);
      const lines = Buffer.concat(received).toString().trim().split("\n");
      assert.equal(lines.length, 500);
      assert.deepEqual(lines.map(Number), [...Array(500).keys()]);
      assert.equal(stream.sent, 500);
      assert.equal(stream.dropped, 0);
    } finally {
      client.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it("rejects what it cannot write to, and bad limits", () => {
    assert.throws(() => lowLatencyWriter(3), TypeError);
    assert.throws(() => lowLatencyWriter({ localPort: 1, remoteAddress: "::1", remotePort: 2 }), TypeError);
    const s = new net.Socket();
    assert.throws(() => lowLatencyWriter(s, { lowat: 0 }), RangeError);
    assert.throws(() => lowLatencyWriter(s, { lowat: 1.5 }), RangeError);
    assert.throws(() => lowLatencyWriter(s, { pollMs: -1 }), RangeError);
  });
});

/**
 * A python3 peer that resets its connection on demand (`SO_LINGER` 0, then close): the
 * kernel sends RST, as when a peer crashes. Its receive buffer is 4 KiB, and it never reads.
 */
const RESET_PEER = `
import socket, struct, sys
def small(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return s
if sys.argv[1] == "listen":
    l = small(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    l.bind(("127.0.0.1", 0))
    l.listen(1)
    print(l.getsockname()[1], flush=True)
    c, _ = l.accept()
else:
    c = small(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    c.connect(("127.0.0.1", int(sys.argv[2])))
    c.sendall(b"GET / HTTP/1.1\\r\\nHost: sockbuf\\r\\n\\r\\n")
    print(c.getsockname()[1], flush=True)
sys.stdin.readline()
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
print("reset", flush=True)
sys.stdin.readline()
`;

interface ResetPeer {
  /** The port it listens on ("listen"), or its own local port ("connect"). */
  port: number;
  /** Resets the connection; resolves once the peer has closed it. */
  reset(): Promise<void>;
  close(): void;
}

/** Starts the python3 peer: listening for one connection, or connecting to `port` with an HTTP GET. */
async function resetPeer(mode: "listen" | "connect", port = 0): Promise<ResetPeer> {
  const child = spawn("python3", ["-c", RESET_PEER, mode, String(port)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines: string[] = [];
  let wake = () => {};
  let text = "";
  child.stdout!.on("data", (d: Uint8Array) => {
    text += new TextDecoder().decode(d);
    const parts = text.split("\n");
    text = parts.pop()!;
    lines.push(...parts);
    wake();
  });
  const line = async () => {
    while (!lines.length) await within(5000, new Promise<void>((r) => (wake = r)), "the python3 peer");
    return lines.shift()!;
  };
  return {
    port: Number(await line()),
    async reset() {
      child.stdin!.write("\n");
      assert.equal(await line(), "reset");
    },
    close() {
      child.stdin!.end();
      child.kill();
    },
  };
}

/** `promise`, or a rejection naming `what` if it has not settled within `ms`. */
function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Polls until `ok()` holds, for at most `ms`. */
async function until(ok: () => boolean, ms: number, what: string): Promise<void> {
  for (const end = performance.now() + ms; !ok();) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** The error a promise rejected with, or a failure if it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error("resolved, but it should have rejected");
}

function assertCode(err: unknown, codes: string[], what: string): void {
  assert.ok(err instanceof SockbufError, `${what}: expected a SockbufError, got ${err}`);
  assert.ok(
    codes.includes(err.code),
    `${what}: expected ${codes.join(" or ")}, got ${err.code}: ${err.message}`,
  );
}

/**
 * Every socket kind the library writes to, connected to the python3 peer. `codes` is what a
 * wait loop must end with after the reset; `watchEnds` what watch() does: throw that code,
 * or end quietly where the runtime closes the socket without saying why.
 */
const resetKinds: {
  name: string;
  skip: string | false;
  codes: string[];
  watchEnds: "throws" | "throws or ends";
  connect(port: number): Promise<{ socket: object; afterReset?(): Promise<void>; close(): void }>;
}[] = [
  {
    name: "Deno.connect",
    skip: runtime !== "deno" && `Deno's API: not in ${runtime}`,
    codes: ["ECONNRESET"],
    watchEnds: "throws",
    async connect(port) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      return {
        socket: conn,
        // The oracle: the runtime's own read sees the reset too (sockbuf did not consume it).
        async afterReset() {
          await assert.rejects(conn.read(new Uint8Array(16)), Deno.errors.ConnectionReset);
        },
        close: () => conn.close(),
      };
    },
  },
  {
    name: "node:net",
    skip: false,
    codes: ["ECONNRESET"],
    watchEnds: "throws",
    async connect(port) {
      const socket = net.connect(port, "127.0.0.1");
      const errors: string[] = [];
      socket.on("error", (e: NodeJS.ErrnoException) => errors.push(e.code ?? String(e)));
      await new Promise((r) => socket.once("connect", r));
      return {
        socket,
        async afterReset() {
          await until(() => errors.length > 0, 2000, "node:net's error event");
          assert.deepEqual(errors, ["ECONNRESET"], "node:net saw the reset");
        },
        close: () => socket.destroy(),
      };
    },
  },
  {
    name: "Bun.connect",
    skip: runtime !== "bun" && `Bun's API: not in ${runtime}`,
    // Bun closes its socket on the reset without recording why: a loop that sees the fd
    // gone first can only say the socket closed.
    codes: ["ECONNRESET", "ENOTCONN"],
    watchEnds: "throws or ends",
    async connect(port) {
      const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      return { socket, close: () => socket.terminate() };
    },
  },
];

describe("every wait loop ends when the peer resets the connection", {
  skip: !linux && "Linux: SO_LINGER 0 resets from a python3 peer",
}, () => {
  const lowat = 4096;
  const message = new Uint8Array(1000).fill(0x72);
  for (const kind of resetKinds) {
    for (const latest of [false, true]) {
      it(
        `the writer (latest: ${latest}), drained() and watch() settle with ${
          kind.codes.join("/")
        } (${kind.name})`,
        { skip: kind.skip },
        async (t) => {
          if (!needs(t, hasTool("python3"), "python3")) return;
          const peer = await resetPeer("listen");
          const { socket, afterReset, close } = await kind.connect(peer.port);
          const stream = lowLatencyWriter(socket as never, { lowat, latest });
          const writer = stream.getWriter();
          try {
            // Write until the peer's 4 KiB window and then lowat are full.
            const pumped = (async () => {
              for (;;) {
                await writer.write(message);
                if (latest) await sleep(1);
              }
            })();
            pumped.catch(() => {});
            await until(
              () => (inspectSync(socket as never).unsent ?? 0) >= lowat,
              5000,
              "unsent to reach lowat",
            );
            const waiting = drained(socket as never, { timeoutMs: 60_000 });
            waiting.catch(() => {});
            const snapshots: string[] = [];
            const watching = (async () => {
              for await (const buf of watch(socket as never, { intervalMs: 5 })) snapshots.push(buf.state);
            })();
            watching.catch(() => {});
            await until(() => snapshots.length > 0, 2000, "a first snapshot");
            const sentBefore = stream.sent;
            await peer.reset();
            const t0 = performance.now();
            assertCode(await within(2000, rejection(pumped), "the writer"), kind.codes, "writer");
            assertCode(await within(2000, rejection(waiting), "drained()"), kind.codes, "drained()");
            const watched = await within(2000, watching.then(() => undefined, (e) => e), "watch()");
            if (kind.watchEnds === "throws" || watched !== undefined) {
              assertCode(watched, kind.codes, "watch()");
            }
            assert.ok(performance.now() - t0 < 2000);
            await assert.rejects(writer.closed, (e) => e instanceof SockbufError, "the stream errored");
            if (latest) {
              assert.ok(stream.sent >= sentBefore);
            }
            await afterReset?.();
          } finally {
            await writer.abort().catch(() => {});
            close();
            peer.close();
          }
        },
      );
    }
  }

  it("a lowLatencyBody writer, drained() and watch() on a Deno.serve request settle", {
    skip: runtime !== "deno" && `Deno's API: not in ${runtime}`,
  }, async (t) => {
    if (!needs(t, hasTool("python3"), "python3")) return;
    await serveReset((handler) => {
      const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        (_req, info): Response => handler({ server, info }),
      );
      return Promise.resolve({ port: server.addr.port, close: () => server.shutdown() });
    });
  });

  it("a lowLatencyBody writer, drained() and watch() on a Bun.serve request settle", {
    skip: runtime !== "bun" && `Bun's API: not in ${runtime}`,
  }, async (t) => {
    if (!needs(t, hasTool("python3"), "python3")) return;
    await serveReset((handler) => {
      const server = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: (request: Request) => handler({ server, request }),
      });
      return Promise.resolve({ port: server.port, close: () => server.stop(true) });
    });
  });

  /** A serve form's request, reset by the python3 client while a lowLatencyBody writer waits. */
  async function serveReset(
    start: (
      handler: (req: DenoServeRequest | BunServeRequest) => Response,
    ) => Promise<{ port: number; close(): unknown }>,
  ) {
    const lowat = 4096;
    let writerError: Promise<unknown> | undefined;
    let request: unknown;
    let written = 0;
    const server = await start((req) => {
      request = req;
      const { readable, writable } = lowLatencyBody(req, { lowat });
      const writer = writable.getWriter();
      writerError = rejection((async () => {
        for (;;) {
          await writer.write(new Uint8Array(1000).fill(0x62));
          written++;
        }
      })());
      writerError.catch(() => {});
      return new Response(readable, { headers: { "cache-control": "no-transform" } });
    });
    const peer = await resetPeer("connect", server.port);
    try {
      await until(() => writerError !== undefined, 5000, "the request");
      await until(() => (inspectSync(request as never).unsent ?? 0) >= lowat, 5000, "unsent to reach lowat");
      const waiting = rejection(drained(request as never, { timeoutMs: 60_000 }));
      const watching = (async () => {
        for await (const _ of watch(request as never, { intervalMs: 5 }));
      })().then(() => undefined, (e) => e);
      const before = written;
      await peer.reset();
      // The runtime may close the connection on the reset before a loop sees it: ENOTCONN.
      const codes = ["ECONNRESET", "ENOTCONN"];
      assertCode(await within(2000, writerError!, "the lowLatencyBody writer"), codes, "writer");
      assertCode(await within(2000, waiting, "drained()"), codes, "drained()");
      const watched = await within(2000, watching, "watch()");
      if (watched !== undefined) assertCode(watched, codes, "watch()");
      assert.ok(written >= before);
    } finally {
      peer.close();
      await server.close();
    }
  }
});

describe(
  "millisecond options past setTimeout's 2^31 − 1 ms limit",
  { skip: !unix && "Linux and macOS only" },
  () => {
    it("drained({ timeoutMs: 2 ** 31 }) waits rather than timing out at once; Infinity never times out", async () => {
      const pair = await stalledPair();
      try {
        pair.client.write(new Uint8Array(8 << 20)); // more than the reader's receive buffer holds
        await sleep(20);
        for (const timeoutMs of [2 ** 31, 2 ** 40, Infinity]) {
          const ctl = new AbortController();
          const waiting = drained(pair.client, { timeoutMs, signal: ctl.signal });
          const early = await Promise.race([
            waiting.then(() => "resolved", (e) => e),
            sleep(150).then(() => "pending"),
          ]);
          assert.equal(early, "pending", `timeoutMs ${timeoutMs}: settled early with ${early}`);
          ctl.abort(new Error("enough"));
          await assert.rejects(waiting, { message: "enough" });
        }
      } finally {
        await pair.close();
      }
    });

    it("watch({ intervalMs: 2 ** 31 }) takes one snapshot, then waits", async () => {
      const pair = await stalledPair();
      try {
        let n = 0;
        for await (
          const _ of watch(pair.client, { intervalMs: 2 ** 31, signal: AbortSignal.timeout(200) })
        ) n++;
        assert.equal(n, 1, `${n} snapshots in 200 ms`);
      } finally {
        await pair.close();
      }
    });

    it("lowLatencyWriter({ pollMs: 2 ** 31 }) checks again only after that long", async () => {
      const pair = await stalledPair();
      try {
        pair.client.write(new Uint8Array(8 << 20)); // unsent stays above lowat until the reader reads
        await sleep(30);
        const writer = lowLatencyWriter(pair.client, { lowat: 16384, pollMs: 2 ** 31 }).getWriter();
        const pending = writer.write(new Uint8Array(100)).then(() => "written", (e) => e);
        await sleep(20);
        pair.resumeReader(); // room appears now, but the next check is 2^31 ms away
        await sleep(300);
        assert.equal(await Promise.race([pending, Promise.resolve("waiting")]), "waiting");
        await writer.abort(new Error("stop"));
        assert.match(String(await pending), /stop/);
      } finally {
        await pair.close();
      }
    });
  },
);

describe("option checks name the option and what was given", () => {
  const s = new net.Socket();
  const notSignal = /^Expected signal as an AbortSignal, got an object$/;
  it("a signal that is not an AbortSignal is a TypeError naming signal", async () => {
    await assert.rejects(watch(0, { signal: {} as never }).next(), { name: "TypeError", message: notSignal });
    await assert.rejects(drained(0, { signal: {} as never }), { name: "TypeError", message: notSignal });
    assert.throws(() => lowLatencyWriter(s, { signal: {} as never }), {
      name: "TypeError",
      message: notSignal,
    });
    assert.throws(
      () => lowLatencyBody({ server: {}, info: {} } as never, { signal: {} as never }),
      { name: "TypeError", message: notSignal },
    );
  });

  it("a millisecond option of another type is a TypeError that says the type", async () => {
    const message = (name: string) =>
      new RegExp(`^Expected ${name} as a number of milliseconds, got the string "5"$`);
    await assert.rejects(watch(0, { intervalMs: "5" as never }).next(), {
      name: "TypeError",
      message: message("intervalMs"),
    });
    await assert.rejects(drained(0, { timeoutMs: "5" as never }), {
      name: "TypeError",
      message: message("timeoutMs"),
    });
    assert.throws(() => lowLatencyWriter(s, { pollMs: "5" as never }), {
      name: "TypeError",
      message: message("pollMs"),
    });
    assert.throws(() => lowLatencyWriter(s, { lowat: "5" as never }), {
      name: "TypeError",
      message: /^Expected lowat as a number, got the string "5"$/,
    });
    assert.throws(() => lowLatencyWriter(s, { latest: "yes" as never }), {
      name: "TypeError",
      message: /^Expected latest as a boolean, got the string "yes"$/,
    });
    await assert.rejects(watch(0, 5 as never).next(), {
      name: "TypeError",
      message: /^Expected options as an object, got the number 5$/,
    });
  });

  it("an out-of-range millisecond option is a RangeError that names it and the range", async () => {
    await assert.rejects(watch(0, { intervalMs: -1 }).next(), {
      name: "RangeError",
      message: /^Expected intervalMs as a finite number of milliseconds from 0, got -1$/,
    });
    await assert.rejects(watch(0, { intervalMs: Infinity }).next(), {
      name: "RangeError",
      message: /intervalMs.*got Infinity$/,
    });
    await assert.rejects(drained(0, { timeoutMs: NaN }), {
      name: "RangeError",
      message: /^Expected timeoutMs as a number of milliseconds from 0 to Infinity, got NaN$/,
    });
    assert.throws(() => lowLatencyWriter(s, { pollMs: -0.5 }), {
      name: "RangeError",
      message: /pollMs.*got -0.5$/,
    });
  });
});

describe("a writer after this side has shut down sending", { skip: !unix && "Linux and macOS only" }, () => {
  const shutdowns: {
    name: string;
    skip: string | false;
    open(): Promise<{ socket: object; close(): unknown }>;
  }[] = [
    {
      name: "node:net end()",
      skip: false,
      async open() {
        const pair = await stalledPair();
        pair.client.on("error", () => {});
        pair.client.end();
        return { socket: pair.client, close: () => pair.close() };
      },
    },
    {
      name: "Deno conn closeWrite()",
      skip: runtime !== "deno" && `Deno's API: not in ${runtime}`,
      async open() {
        const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
        const peer = await listener.accept();
        await conn.closeWrite();
        return {
          socket: conn,
          close() {
            conn.close();
            peer.close();
            listener.close();
          },
        };
      },
    },
    {
      name: "Bun socket shutdown()",
      skip: runtime !== "bun" && `Bun's API: not in ${runtime}`,
      async open() {
        const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
        const socket = await Bun.connect({
          hostname: "127.0.0.1",
          port: listener.port,
          socket: { data() {} },
        });
        socket.shutdown();
        return {
          socket,
          close() {
            socket.terminate();
            listener.stop(true);
          },
        };
      },
    },
  ];
  for (const s of shutdowns) {
    it(`rejects with EPIPE, naming the state (${s.name})`, { skip: s.skip }, async () => {
      const { socket, close } = await s.open();
      try {
        await until(() => inspectSync(socket as never).state.startsWith("FIN_WAIT"), 2000, "the FIN");
        for (const latest of [false, true]) {
          const stream = lowLatencyWriter(socket as never, { latest });
          const writer = stream.getWriter();
          const err = await within(
            2000,
            rejection(writer.write(new Uint8Array(10)).then(() => writer.closed)),
            "write",
          );
          assertCode(err, ["EPIPE"], `latest: ${latest}`);
          assert.match((err as Error).message, /this side has shut down sending \(FIN_WAIT_[12]\)/);
          assert.equal(stream.sent, 0);
        }
      } finally {
        await close();
      }
    });
  }
});

describe("what drained() cannot see: a serve form's response bytes still in the runtime", () => {
  // Documents a limit (README, drained()'s JSDoc): called before the runtime starts writing
  // the response, drained() resolves at once, with the whole body still to send.
  const body = new Uint8Array(8 << 20).fill(0x64);
  for (const s of SERVE_FORMS) {
    it(
      `drained() resolves with queued 0 before ${s.name} writes an 8 MiB body`,
      { skip: s.skip },
      async () => {
        let queuedThen: number | undefined;
        const server = s.start(async (req) => {
          queuedThen = (await drained(req, { timeoutMs: 1000 })).queued;
          return new Response(body);
        });
        try {
          const got = await (await fetch(`http://127.0.0.1:${server.port}/`)).arrayBuffer();
          assert.equal(queuedThen, 0, "drained() resolved at once");
          assert.equal(got.byteLength, body.length, "and every byte was still to send");
        } finally {
          await server.close();
        }
      },
    );
  }
});
