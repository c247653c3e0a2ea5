/**
 * watch(), drained() and lowLatencyWriter() on real loopback connections, on both runtimes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as net from "node:net";
import process from "node:process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { drained, inspect, lowLatencyWriter, SockbufError, watch } from "../mod.ts";
import { hasTool, needs, runtime, sleep, ssFor, stalledPair } from "./_helpers.ts";

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
    skip: runtime !== "deno" && "Deno.connect leaves its socket open after a reset; not in Bun",
  }, async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    using conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
    const peer = await listener.accept();
    void conn.write(new Uint8Array(8 << 20)).catch(() => {});
    await sleep(50);
    const waiting = drained(conn, { timeoutMs: 5000 });
    peer.close(); // unread data: RST
    await assert.rejects(waiting, (err) => {
      assert.ok(err instanceof SockbufError);
      assert.equal(err.code, "ECONNRESET");
      assert.equal(err.errno, 104, "Linux's ECONNRESET");
      assert.match(err.message, /connection closed with \d+ bytes unacknowledged: ECONNRESET \(errno 104\)$/);
      return true;
    });
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
      const script = fileURLToPath(new URL("./fixtures/live_exit.ts", import.meta.url));
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
    skip: runtime !== "deno" && "Deno's API: not in Bun",
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
    skip: runtime !== "bun" && "Bun's API: not in Deno",
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
