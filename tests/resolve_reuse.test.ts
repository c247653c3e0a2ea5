/**
 * A socket object that has closed never yields numbers, even once its fd number belongs to
 * a new socket; and a socket that cannot be found says what was searched.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import process from "node:process";
import { describe, it } from "node:test";
import {
  drained,
  inspect,
  inspectSync,
  resolveSocket,
  SockbufError,
  type SocketLike,
  tcpInfo,
  watch,
} from "../mod.ts";
import { parseIp } from "../resolve.ts";
import { hasTool, hex as hexOf, needs, runtime, selfSigned, sleep, ssFor } from "./_helpers.ts";

const unix = process.platform === "linux" || process.platform === "darwin";
// deno-lint-ignore no-explicit-any -- Bun's global is untyped under deno check
const Bun = (globalThis as any).Bun;

interface Kind {
  name: string;
  skip: string | false;
  /** Opens a connection to `port`; returns the socket object and how to close it. */
  open(port: number): Promise<{ socket: SocketLike; close(): Promise<void> | void }>;
}

const kinds: Kind[] = [
  {
    name: "a node:net socket",
    skip: false,
    async open(port) {
      const s = net.connect({ port, host: "127.0.0.1" });
      await new Promise((r) => s.once("connect", r));
      return { socket: s, close: () => new Promise<void>((r) => s.destroy().once("close", () => r())) };
    },
  },
  {
    name: "a Deno.connect conn",
    skip: runtime !== "deno" && `Deno's API: not in ${runtime}`,
    async open(port) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      return { socket: c, close: () => c.close() };
    },
  },
  {
    name: "a Bun.connect socket",
    skip: runtime !== "bun" && `Bun's API: not in ${runtime}`,
    async open(port) {
      const s = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
      return { socket: s, close: () => s.terminate() };
    },
  },
];

async function rejectsClosed(p: Promise<unknown>): Promise<SockbufError> {
  let caught: unknown;
  await assert.rejects(p, (err) => {
    caught = err;
    return err instanceof SockbufError && (err.code === "ENOTCONN" || err.code === "EBADF");
  });
  return caught as SockbufError;
}

/** Runs `body` with a loopback server to connect to, then closes it and what it accepted. */
async function withServer(body: (port: number) => Promise<void>): Promise<void> {
  const accepted: net.Socket[] = [];
  const server = net.createServer((s) => accepted.push(s.on("error", () => {})));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    await body((server.address() as net.AddressInfo).port);
  } finally {
    for (const a of accepted) a.destroy();
    await new Promise((r) => server.close(r));
  }
}

describe("closed sockets", { skip: !unix && "Linux and macOS only" }, () => {
  for (const kind of kinds) {
    it(
      `${kind.name} that closed throws, even after a new socket takes its fd number`,
      { skip: kind.skip },
      async () => {
        await withServer(async (port) => {
          const fresh: { close(): Promise<void> | void }[] = [];
          try {
            const old = await kind.open(port);
            const before = await inspect(old.socket);
            assert.equal(typeof before.queued, "number");
            const oldFd = (await resolveSocket(old.socket)).fd;
            await old.close();
            await sleep(20);
            // Open connections until one lands on the old fd number.
            let reused = false;
            for (let i = 0; i < 64 && !reused; i++) {
              const next = await kind.open(port);
              fresh.push(next);
              reused = (await resolveSocket(next.socket)).fd === oldFd;
            }
            assert.ok(reused, `no new socket took fd ${oldFd}`);
            const err = await rejectsClosed(inspect(old.socket));
            // A Deno conn knows it was closed before its fd number is looked at again.
            const says = kind.name === "a Deno.connect conn"
              ? `the Deno conn was closed`
              : `fd ${oldFd} now belongs to another socket`;
            assert.match(err.message, new RegExp(says));
            await rejectsClosed(tcpInfo(old.socket));
            assert.throws(() => inspectSync(old.socket), SockbufError);
            const kept = await resolveSocket(old.socket);
            assert.throws(() => kept.checkedFd(), SockbufError);
          } finally {
            for (const f of fresh) await f.close();
          }
        });
      },
    );

    it(
      `${kind.name} closed before its first use throws, saying what was searched`,
      { skip: kind.skip },
      async () => {
        await withServer(async (port) => {
          const { socket, close } = await kind.open(port);
          await close();
          await sleep(20);
          const err = await rejectsClosed(inspect(socket));
          assert.match(err.message, /^Cannot find the socket: /);
        });
      },
    );
  }

  it("an address pair no socket has names the ports and how many fds were searched", async () => {
    const err = await rejectsClosed(inspect({ localPort: 1, remoteAddress: "127.0.0.1", remotePort: 2 }));
    assert.match(
      err.message,
      /no open TCP socket has local port 1 and peer 127\.0\.0\.1 port 2 \(searched \d+ fds\)/,
    );
    assert.equal(err.code, "ENOTCONN");
  });

  it("a raw fd that closed throws EBADF from resolveSocket()", async () => {
    await assert.rejects(resolveSocket(999_999), { name: "SockbufError", code: "EBADF" });
  });
});

const onlyDeno = runtime !== "deno" && `Deno's API: not in ${runtime}`;
const onlyBun = runtime !== "bun" && `Bun's API: not in ${runtime}`;

/** Every snapshot `watch` gives, which must be none for a closed socket, and no error. */
async function watched(socket: SocketLike): Promise<number> {
  let n = 0;
  for await (const _ of watch(socket, { intervalMs: 10, signal: AbortSignal.timeout(1000) })) n++;
  return n;
}

describe("sockets whose runtime closes the fd later than the object", {
  skip: !unix && "Linux and macOS only",
}, () => {
  it("a Deno.connectTls conn throws straight after close(), while its fd still lives", {
    skip: onlyDeno,
  }, async (t) => {
    if (!needs(t, hasTool("openssl", ["version"]), "openssl to make a test certificate")) return;
    const { cert, key } = selfSigned();
    const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
    try {
      for (const usedBefore of [true, false]) {
        const accepting = listener.accept();
        const conn = await Deno.connectTls({
          hostname: "localhost",
          port: listener.addr.port,
          caCerts: [cert],
        });
        const peer = await accepting;
        await Promise.all([conn.handshake(), peer.handshake()]);
        const kept = usedBefore ? await resolveSocket(conn) : undefined;
        if (usedBefore) assert.equal(typeof (await inspect(conn)).queued, "number");
        const localPort = conn.localAddr.port;
        conn.close();
        // The oracle: the kernel still has the connection, so only the object can say it closed.
        assert.ok(
          hasConnection(localPort, listener.addr.port),
          "the fd closed at once: the test shows nothing",
        );
        await rejectsClosed(inspect(conn));
        assert.throws(() => inspectSync(conn), SockbufError);
        if (kept) assert.throws(() => kept.checkedFd(), SockbufError);
        assert.equal(await watched(conn), 0);
        peer.close();
      }
    } finally {
      listener[Symbol.dispose]();
    }
  });

  it("a Deno conn with a read pending throws straight after close()", { skip: onlyDeno }, async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
      const _peer = await listener.accept();
      try {
        await inspect(conn);
        const reading = conn.read(new Uint8Array(16)).catch(() => null);
        conn.close();
        await rejectsClosed(inspect(conn));
        await reading;
      } finally {
        _peer[Symbol.dispose]();
      }
    } finally {
      listener[Symbol.dispose]();
    }
  });

  it("a Deno.serve request whose client left throws ENOTCONN, and watch() ends quietly", {
    skip: onlyDeno,
  }, async () => {
    const seen = Promise.withResolvers<Deno.ServeHandlerInfo<Deno.NetAddr>>();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_req, info) => {
      seen.resolve(info);
      return new Response("ok");
    });
    try {
      const res = await fetch(`http://127.0.0.1:${server.addr.port}/`, { headers: { connection: "close" } });
      await res.text();
      const info = await seen.promise;
      await sleep(50);
      const err = await rejectsClosed(inspect({ server, info }));
      assert.equal(err.code, "ENOTCONN");
      assert.match(err.message, /Deno\.serve request has closed/);
      await rejectsClosed(drained({ server, info }));
      assert.equal(await watched({ server, info }), 0);
    } finally {
      await server.shutdown();
    }
  });

  it("a Bun.serve request whose client left throws ENOTCONN naming only what is missing", {
    skip: onlyBun,
  }, async () => {
    const seen = Promise.withResolvers<Request>();
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request: Request) {
        seen.resolve(request);
        return new Response("ok");
      },
    });
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/`, { headers: { connection: "close" } });
      await res.text();
      const request = await seen.promise;
      await sleep(50);
      const err = await rejectsClosed(inspect({ server, request }));
      assert.equal(err.code, "ENOTCONN");
      // The server's port is known: a message must not call it missing.
      assert.doesNotMatch(err.message, /no local port \d/);
      assert.match(err.message, /Bun\.serve request has closed/);
      await rejectsClosed(drained({ server, request }));
      assert.equal(await watched({ server, request }), 0);
    } finally {
      server.stop(true);
    }
  });
});

/** True while the kernel still lists the TCP connection between these ports (Linux: ss). */
function hasConnection(localPort: number, peerPort: number): boolean {
  if (process.platform !== "linux" || !hasTool("ss", ["-V"])) return true;
  try {
    return ssFor(localPort, peerPort).sendQ >= 0;
  } catch {
    return false;
  }
}

describe("socket arguments", () => {
  it("rejects objects that are not sockets with a TypeError listing what is accepted", async () => {
    for (const bad of [{}, { foo: 1 }, [], new Date()]) {
      await assert.rejects(inspect(bad as never), {
        name: "TypeError",
        message: /Expected a socket: a file descriptor/,
      });
    }
  });

  it("rejects a peer address that is not an IP literal", async () => {
    await assert.rejects(inspect({ localPort: 1, remoteAddress: "localhost", remotePort: 2 }), {
      name: "TypeError",
      message: /IPv4 or IPv6 literal, got "localhost"/,
    });
  });

  it("parses IPv4, IPv6, v4-mapped, bracketed and zoned addresses into the same 16 bytes", () => {
    const hex = (t: string) => hexOf(parseIp(t) ?? []);
    assert.equal(hex("127.0.0.1"), "00000000000000000000ffff7f000001");
    assert.equal(hex("::ffff:127.0.0.1"), hex("127.0.0.1"));
    assert.equal(hex("::FFFF:7f00:1"), hex("127.0.0.1"));
    assert.equal(hex("::1"), "00000000000000000000000000000001");
    assert.equal(hex("[::1]"), hex("::1"));
    assert.equal(hex("fe80::1%eth0"), "fe800000000000000000000000000001");
    assert.equal(hex("2001:db8:0:0:1:0:0:1"), "20010db8000000000001000000000001");
    assert.equal(hex("2001:db8::1:0:0:1"), hex("2001:db8:0:0:1:0:0:1"));
    assert.equal(hex("::"), "0".repeat(32));
    for (
      const bad of [
        "",
        "1.2.3",
        "256.1.1.1",
        "1::2::3",
        "12345::",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7",
        "localhost",
        "::g",
      ]
    ) {
      assert.equal(parseIp(bad), undefined, bad);
    }
  });
});
