/**
 * Delivery receipts (receipts.ts, and the writer's `position`, `whenAcked()` and `receipt()`)
 * against `ss -ti`'s `bytes_acked`, on every socket kind the writer takes, on both runtimes.
 *
 * The oracle is the kernel as `ss` prints it: at a still moment (the reader has stopped and
 * `bytes_acked` no longer moves) a receipt for every offset up to `bytes_acked` must resolve,
 * and one for the next byte must stay pending; a receipt that resolves must find `ss` already
 * showing its bytes acknowledged. Offsets are taken from `ss` itself (`bytes_acked` +
 * Send-Q before anything is written), not from the code under test.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import process from "node:process";
import { describe, it } from "node:test";
import {
  lowLatencyBody,
  lowLatencyWriter,
  type MessageReceipt,
  SockbufError,
  streamOffset,
  whenAcked,
} from "../mod.ts";
import {
  hasTool,
  needs,
  run,
  runtime,
  SERVE_FORMS,
  sleep,
  type StalledPair,
  stalledPair,
} from "./_helpers.ts";

const linux = process.platform === "linux";
// deno-lint-ignore no-explicit-any -- Bun's global is untyped under deno check
const Bun = (globalThis as any).Bun;

/** What `ss -ti` says of one connection's sending side. */
function ssAcked(local: number, peer: number): { acked: number; sendQ: number } {
  const out = run("ss", ["-tinH", "state", "all", `( sport = :${local} and dport = :${peer} )`]);
  const [head, ...rest] = out.trim().split("\n");
  if (!head) throw new Error(`ss shows no connection ${local} -> ${peer}`);
  // ss leaves bytes_acked out while it is 0.
  const m = /\bbytes_acked:(\d+)/.exec(rest.join(" "));
  return { acked: m ? Number(m[1]) : 0, sendQ: Number(head.trim().split(/\s+/)[1]) };
}

/** Waits until ss's bytes_acked has not moved for 150 ms; returns it. */
async function stillMoment(local: number, peer: number): Promise<number> {
  let last = -1;
  for (let same = 0, i = 0; i < 100; i++) {
    const { acked } = ssAcked(local, peer);
    same = acked === last ? same + 1 : 0;
    if (same === 3) return acked;
    last = acked;
    await sleep(50);
  }
  throw new Error("bytes_acked never stood still");
}

/** Resolves true if `p` settles within `ms`. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let done = false;
  p.then(() => (done = true), () => (done = true));
  for (const end = performance.now() + ms; !done && performance.now() < end;) await sleep(5);
  return done;
}

type Kind = {
  name: string;
  skip: string | false;
  /** A client socket of this kind connected to the stalled pair's server, and its local port. */
  open(pair: StalledPair): Promise<{ socket: object; local: number; close(): void }>;
};
const kinds: Kind[] = [
  {
    name: "node:net",
    skip: false,
    open: (pair) => Promise.resolve({ socket: pair.client, local: pair.clientPort, close() {} }),
  },
  {
    name: "Deno.connect",
    skip: runtime !== "deno" && `Deno's API: not in ${runtime}`,
    async open(pair) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: pair.serverPort });
      return { socket: conn, local: conn.localAddr.port, close: () => conn.close() };
    },
  },
  {
    name: "Bun.connect",
    skip: runtime !== "bun" && `Bun's API: not in ${runtime}`,
    async open(pair) {
      const socket = await Bun.connect({
        hostname: "127.0.0.1",
        port: pair.serverPort,
        socket: { data() {} },
      });
      return { socket, local: socket.localPort, close: () => socket.terminate() };
    },
  },
];

/** Writes `bytes` through the socket's own API without waiting for the kernel to take them all. */
function rawWrite(socket: object, bytes: Uint8Array): void {
  if (socket instanceof net.Socket) socket.write(bytes);
  else if ("fd" in socket) { // Bun: write() takes what fits; the rest is left to the writer tests
    (socket as unknown as { write(b: Uint8Array): number }).write(bytes);
  } else void (socket as Deno.Conn).write(bytes).catch(() => {});
}

describe("whenAcked() and streamOffset() against ss", { skip: !linux && "Linux only: ss -ti" }, () => {
  for (const kind of kinds) {
    it(`resolves exactly when ss shows the bytes acknowledged (${kind.name})`, {
      skip: kind.skip,
      timeout: 30_000,
    }, async (t) => {
      if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
      const pair = await stalledPair("127.0.0.1", { rcvbuf: 4096 });
      const client = await kind.open(pair);
      try {
        const before = ssAcked(client.local, pair.serverPort);
        assert.equal(before.sendQ, 0);
        // The stream's frame at the start, from ss: on a client socket bytes_acked is 1 (the SYN).
        assert.equal(streamOffset(client.socket as never), before.acked + before.sendQ);
        rawWrite(client.socket, new Uint8Array(200_000).fill(0x61));
        const a = await stillMoment(client.local, pair.serverPort);
        const end = streamOffset(client.socket as never);
        assert.ok(a > before.acked && end > a, `acked ${a}, written up to ${end}: the reader should stall`);
        // Every offset up to bytes_acked resolves at once; the next byte's stays pending.
        const atAcked = whenAcked(client.socket as never, a);
        const next = whenAcked(client.socket as never, a + 1);
        next.catch(() => {});
        assert.ok(
          await settlesWithin(atAcked, 200),
          `whenAcked(${a}) did not resolve while ss shows ${a} acked`,
        );
        assert.ok(await atAcked >= a);
        assert.equal(await settlesWithin(next, 300), false, `whenAcked(${a + 1}) resolved with ${a} acked`);
        assert.equal(ssAcked(client.local, pair.serverPort).acked, a, "bytes_acked moved while still");
        // Receipts across the unacknowledged range: each must find ss already at its offset.
        const offsets = [a + 1, a + 1000, Math.floor((a + end) / 2), end - 1, end];
        const seen: [number, number][] = [];
        const all = offsets.map((o) =>
          whenAcked(client.socket as never, o).then(() => {
            seen.push([o, ssAcked(client.local, pair.serverPort).acked]);
          })
        );
        assert.equal(await settlesWithin(Promise.race(all), 300), false, "a receipt resolved while stalled");
        pair.resumeReader();
        await Promise.all(all);
        for (const [o, ss] of seen) {
          assert.ok(ss >= o, `whenAcked(${o}) resolved while ss showed ${ss} acked`);
        }
        assert.equal(seen.length, offsets.length);
        const final = await stillMoment(client.local, pair.serverPort);
        assert.equal(final, end, "ss's final bytes_acked is the stream's end");
        console.log(
          `${runtime} ${kind.name}: start ${before.acked}, still at ${a} (receipt ${a} resolved, ${
            a + 1
          } pending), end ${end}; receipts resolved with ss at ${
            seen.map(([o, s]) => `${o}<=${s}`).join(", ")
          }`,
        );
      } finally {
        client.close();
        await pair.close();
      }
    });
  }

  it("rejects with ECONNRESET when the peer resets before the bytes are acknowledged", async () => {
    const pair = await stalledPair("127.0.0.1", { rcvbuf: 4096 });
    try {
      pair.client.on("error", () => {});
      pair.client.write(new Uint8Array(200_000));
      await sleep(50);
      const p = whenAcked(pair.client, streamOffset(pair.client));
      await sleep(20);
      pair.resetReader();
      await assert.rejects(p, (e: unknown) => e instanceof SockbufError && e.code === "ECONNRESET");
    } finally {
      await pair.close();
    }
  });

  it("rejects with ENOTCONN when the socket closes first, and with the signal's reason or a TimeoutError", async () => {
    const pair = await stalledPair("127.0.0.1", { rcvbuf: 4096 });
    try {
      pair.client.write(new Uint8Array(200_000));
      await sleep(50);
      const end = streamOffset(pair.client);
      await assert.rejects(
        whenAcked(pair.client, end, { timeoutMs: 50 }),
        (e: unknown) => e instanceof DOMException && e.name === "TimeoutError",
      );
      const ctl = new AbortController();
      const aborted = whenAcked(pair.client, end, { signal: ctl.signal });
      ctl.abort(new Error("stop"));
      await assert.rejects(aborted, /stop/);
      const closed = whenAcked(pair.client, end);
      pair.client.destroy();
      await assert.rejects(
        closed,
        (e: unknown) => e instanceof SockbufError && /ENOTCONN|EBADF/.test(e.code),
      );
    } finally {
      await pair.close();
    }
  });

  it("checks its arguments", async () => {
    await assert.rejects(whenAcked(0, -1), RangeError);
    await assert.rejects(whenAcked(0, 1.5), /offset/);
    await assert.rejects(whenAcked(0, "5" as never), TypeError);
    await assert.rejects(whenAcked(0, 0, { timeoutMs: -1 }), /timeoutMs/);
    await assert.rejects(whenAcked(0, 0, { signal: 5 as never }), /signal/);
  });
});

describe("the writer's position, whenAcked() and receipts against ss", {
  skip: !linux && "Linux only: ss -ti",
}, () => {
  const size = 4000;
  for (const kind of kinds) {
    for (const latest of [false, true]) {
      it(`messages are receipted when ss shows them acknowledged (${kind.name}, latest: ${latest})`, {
        skip: kind.skip,
        timeout: 30_000,
      }, async (t) => {
        if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
        const pair = await stalledPair("127.0.0.1", { rcvbuf: 4096 });
        const client = await kind.open(pair);
        try {
          // Bytes before the writer: its positions must start after them.
          rawWrite(client.socket, new Uint8Array(100).fill(0x62));
          await sleep(50);
          const start = ssAcked(client.local, pair.serverPort);
          const base = start.acked + start.sendQ; // the ss frame's offset where the writer starts
          const stream = lowLatencyWriter(client.socket as never, { lowat: 8192, latest });
          const writer = stream.getWriter();
          const receipts: Promise<MessageReceipt>[] = [];
          const resolvedAt: [number, number][] = []; // [stream offset, ss bytes_acked then]
          let wrote = 0;
          const pump = (async () => {
            for (let i = 0; i < 60; i++) {
              const msg = new Uint8Array(size).fill(0x30 + (i % 10));
              const r = stream.receipt(msg);
              r.then((x) =>
                resolvedAt.push([base + x.position, ssAcked(client.local, pair.serverPort).acked])
              )
                .catch(() => {});
              receipts.push(r);
              await writer.write(msg);
              wrote++;
            }
          })();
          pump.catch(() => {});
          const a = await stillMoment(client.local, pair.serverPort);
          const position = stream.position;
          assert.ok(position > 0 && base + position > a, `position ${position}, base ${base}, ss acked ${a}`);
          if (!latest) assert.equal(position, stream.sent * size, "position counts the bytes handed over");
          const atAcked = stream.whenAcked(a - base);
          const next = stream.whenAcked(a - base + 1);
          next.catch(() => {});
          assert.ok(await settlesWithin(atAcked, 200), `writer.whenAcked(${a - base}) did not resolve`);
          assert.equal(await settlesWithin(next, 300), false, `writer.whenAcked(${a - base + 1}) resolved`);
          const early = resolvedAt.filter(([o]) => o > a);
          assert.deepEqual(early, [], "a receipt resolved for bytes ss shows unacknowledged");
          pair.resumeReader();
          await pump;
          await writer.close();
          const settled = await Promise.allSettled(receipts);
          const done = settled.filter((s) => s.status === "fulfilled").map((s) => s.value);
          const dropped = settled.filter((s) => s.status === "rejected");
          assert.equal(done.length, stream.sent, `${done.length} receipts for ${stream.sent} sent`);
          assert.equal(dropped.length, stream.dropped);
          if (!latest) assert.equal(done.length, wrote);
          for (const s of dropped) assert.match(String((s as PromiseRejectedResult).reason), /dropped/);
          await stillMoment(client.local, pair.serverPort);
          for (const [o, ss] of resolvedAt) assert.ok(ss >= o, `receipt for ${o} resolved with ss at ${ss}`);
          for (const r of done) {
            assert.ok(r.writerMs >= 0 && r.unsentMs >= 0 && r.inFlightMs >= 0, JSON.stringify(r));
            assert.ok(Math.abs(r.writerMs + r.unsentMs + r.inFlightMs - r.totalMs) < 1e-6);
          }
          // Messages written while the reader stalled waited, in the writer or in the kernel.
          assert.ok(done.some((r) => r.totalMs > 200), "no receipt shows the stall");
          console.log(
            `${runtime} ${kind.name} latest=${latest}: base ${base}, still at ${a} (position ${position}), ` +
              `${done.length} receipts, ${dropped.length} dropped; last: ${JSON.stringify(done.at(-1))}`,
          );
        } finally {
          client.close();
          await pair.close();
        }
      });
    }
  }
});

describe("receipts on a serve response (lowLatencyBody): the accepting side's frame", {
  skip: !linux && "Linux only: ss -ti",
}, () => {
  // The accepted socket's tcpi_bytes_acked has no SYN in it (the client's has): the same
  // checks against ss hold in that frame too.
  for (const s of SERVE_FORMS) {
    it(`whenAcked() on the request and the body's receipts agree with ss (${s.name})`, {
      skip: s.skip,
      timeout: 30_000,
    }, async (t) => {
      if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
      let request: object | undefined;
      const receipts: Promise<MessageReceipt>[] = [];
      let pump: Promise<void> | undefined;
      let stream: ReturnType<typeof lowLatencyBody>["writable"] | undefined;
      const server = s.start((req) => {
        request = req;
        const body = lowLatencyBody(req, { lowat: 8192 });
        stream = body.writable;
        const writer = body.writable.getWriter();
        pump = (async () => {
          for (let i = 0; i < 500; i++) {
            const msg = new Uint8Array(4000).fill(0x30 + (i % 10));
            receipts.push(body.writable.receipt(msg));
            await writer.write(msg);
          }
          await writer.close();
        })();
        pump.catch(() => {});
        return new Response(body.readable, { headers: { "cache-control": "no-transform" } });
      });
      const client = net.connect(server.port, "127.0.0.1");
      try {
        await new Promise((r) => client.once("connect", r));
        client.pause(); // reads ahead a little, then the receive buffer fills
        client.write("GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
        const local = server.port, peer = client.localPort!;
        while (!request) await sleep(5);
        const a = await stillMoment(local, peer);
        assert.ok(a > 100_000 && streamOffset(request as never) > a, `acked ${a}: the reader should stall`);
        const atAcked = whenAcked(request as never, a);
        const next = whenAcked(request as never, a + 1);
        // A paused node:net client (Deno's and Bun's) still reads a little now and then, so the peer may move
        // on: then the receipt must find ss already past a (it did, in every run seen).
        let nextSeen: number | undefined;
        next.then(() => (nextSeen = ssAcked(local, peer).acked), () => {});
        assert.ok(await settlesWithin(atAcked, 200), `whenAcked(${a}) did not resolve`);
        let nextWas = "pending";
        if (await settlesWithin(next, 300)) {
          assert.ok(nextSeen! >= a + 1, `whenAcked(${a + 1}) resolved with ss at ${nextSeen}`);
          nextWas = `resolved once ss showed ${nextSeen}`;
        } else {
          assert.equal(ssAcked(local, peer).acked, a, "bytes_acked moved, yet whenAcked(a + 1) is pending");
        }
        const pending = receipts.length;
        client.on("data", () => {}).resume();
        await pump;
        const done = await Promise.all(receipts);
        assert.equal(done.length, 500);
        assert.ok(done.at(-1)!.position >= 500 * 4000, `position ${done.at(-1)!.position}`);
        await stream!.whenAcked();
        const final = await stillMoment(local, peer);
        assert.ok(final >= a + 1, `final acked ${final}`);
        console.log(
          `${runtime} ${s.name}: still at ${a} (receipt ${a} resolved, ${
            a + 1
          } ${nextWas}, ${pending} messages asked about), ` +
            `final ${final}, last position ${done.at(-1)!.position}`,
        );
      } finally {
        client.destroy();
        await server.close();
      }
    });
  }
});
