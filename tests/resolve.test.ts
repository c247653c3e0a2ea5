/**
 * Every runtime socket kind resolves to the fd whose addresses match it, and inspect() on it
 * agrees with `ss -tmi` for that connection (Send-Q and notsent), over IPv4 and IPv6.
 * Kinds a runtime lacks are skipped with a message naming the runtime.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import process from "node:process";
import { describe, it } from "node:test";
import { inspect, inspectSync, resolveSocket, type SocketLike } from "../mod.ts";
import { parseIp } from "../resolve.ts";
import { platform } from "../platform/mod.ts";
import { hasTool, needs, runtime, selfSigned, sleep, ssFor } from "./_helpers.ts";

const linux = process.platform === "linux";
const HOSTS = ["127.0.0.1", "::1"] as const;
const CHUNK = new Uint8Array(256 * 1024).fill(0x62);
const onlyDeno = runtime !== "deno" && `Deno's API: not in ${runtime}`;
const onlyBun = runtime !== "bun" && `Bun's API: not in ${runtime}`;

// deno-lint-ignore no-explicit-any -- Bun's global is untyped under deno check
const Bun = (globalThis as any).Bun;

/** Waits until `inspect` shows a full queue that no longer grows. */
async function settle(socket: SocketLike, write: () => void): Promise<void> {
  let last = -1;
  for (let i = 0, stable = 0; stable < 4; i++) {
    if (i < 64) write();
    await sleep(40);
    const q = inspectSync(socket).queued;
    stable = q === last && q > 0 ? stable + 1 : 0;
    last = q;
    if (i > 200) throw new Error(`the queue never settled (last ${q})`);
  }
}

/**
 * The resolved fd's own addresses match the connection, and inspect() agrees with ss for it.
 * `localPort`/`peerPort` come from the test's side of the connection, not from the object.
 */
async function verify(socket: SocketLike, host: string, localPort: number, peerPort: number) {
  const { fd } = await resolveSocket(socket);
  const ops = platform().sockets;
  assert.equal(ops.address(fd, "local")?.port, localPort, "getsockname port");
  assert.equal(ops.address(fd, "peer")?.port, peerPort, "getpeername port");
  assert.deepEqual(ops.address(fd, "peer")?.address, parseIp(host), "getpeername address");
  // Compare only a reading that ss saw unchanged on both sides of it.
  let before, buf, after;
  for (let i = 0; i < 20; i++) {
    before = ssFor(localPort, peerPort);
    buf = await inspect(socket);
    after = ssFor(localPort, peerPort);
    if (
      before.sendQ === after.sendQ && before.notsent === after.notsent && before.skmem.tb === after.skmem.tb
    ) break;
    await sleep(50);
  }
  assert.ok(before && buf && after);
  assert.equal(before.sendQ, after.sendQ, "the queue kept moving while it was read");
  assert.equal(buf.queued, after.sendQ, `queued = Send-Q\n${after.raw}`);
  assert.equal(buf.unsent, after.notsent ?? 0, "unsent = notsent");
  assert.equal(buf.size, after.skmem.tb, "size = skmem tb");
  assert.ok(buf.queued > 0, "the test filled the buffer");
}

function ssOk(t: Parameters<typeof needs>[0]): boolean {
  return linux && needs(t, hasTool("ss", ["-V"]), "ss from iproute2");
}

describe("resolving runtime sockets", { skip: !linux && "Linux: checked against ss" }, () => {
  for (const host of HOSTS) {
    it(`a Deno.connect conn (${host})`, { skip: onlyDeno }, async (t) => {
      if (!ssOk(t)) return;
      const listener = Deno.listen({ hostname: host, port: 0 });
      try {
        const conn = await Deno.connect({ hostname: host, port: listener.addr.port });
        const peer = await listener.accept(); // never read
        try {
          await settle(conn, () => void conn.write(CHUNK).catch(() => {}));
          await verify(conn, host, conn.localAddr.port, listener.addr.port);
        } finally {
          conn.close();
          peer.close();
        }
      } finally {
        listener[Symbol.dispose]();
      }
    });

    it(`a conn from Deno.listen().accept() (${host})`, { skip: onlyDeno }, async (t) => {
      if (!ssOk(t)) return;
      const listener = Deno.listen({ hostname: host, port: 0 });
      try {
        const client = await Deno.connect({ hostname: host, port: listener.addr.port }); // never read
        const conn = await listener.accept();
        try {
          await settle(conn, () => void conn.write(CHUNK).catch(() => {}));
          await verify(conn, host, listener.addr.port, client.localAddr.port);
        } finally {
          conn.close();
          client.close();
        }
      } finally {
        listener[Symbol.dispose]();
      }
    });

    it(`a node:net client and accepted socket (${host})`, async (t) => {
      if (!ssOk(t)) return;
      const accepted: net.Socket[] = [];
      const server = net.createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
      await new Promise<void>((r) => server.listen(0, host, r));
      const port = (server.address() as net.AddressInfo).port;
      const client = net.connect({ port, host });
      await new Promise((r) => client.once("connect", r));
      client.pause();
      while (!accepted.length) await sleep(5);
      const side = accepted[0];
      // Closing with unread data resets the connection; the test expects that.
      client.on("error", () => {});
      side.on("error", () => {});
      try {
        await settle(client, () => client.write(CHUNK));
        await verify(client, host, client.localPort!, port);
        await settle(side, () => side.write(CHUNK));
        await verify(side, host, port, client.localPort!);
        // Resolving took no fd of its own: the connection still closes normally.
        const closed = new Promise((r) => side.once("close", r));
        side.resume();
        client.destroy();
        await Promise.race([closed, sleep(2000).then(() => assert.fail("the peer never saw the close"))]);
      } finally {
        client.destroy();
        side.destroy();
        await new Promise((r) => server.close(r));
      }
    });

    it(`a Bun.connect socket and a Bun.listen socket (${host})`, { skip: onlyBun }, async (t) => {
      if (!ssOk(t)) return;
      // deno-lint-ignore no-explicit-any -- Bun's socket types are not visible to deno check
      const opened: any[] = [];
      const listener = Bun.listen({
        hostname: host,
        port: 0,
        socket: { open: (s: unknown) => opened.push(s), data() {} },
      });
      const client = await Bun.connect({ hostname: host, port: listener.port, socket: { data() {} } });
      while (!opened.length) await sleep(5);
      const side = opened[0];
      try {
        // Neither side reads: Bun sockets read only into the data handler, which drops nothing
        // but the kernel still fills once the peer's receive buffer does.
        side.pause?.();
        await settle(client, () => client.write(CHUNK));
        await verify(client, host, client.localPort, listener.port);
        client.pause?.();
        await settle(side, () => side.write(CHUNK));
        await verify(side, host, listener.port, client.localPort);
      } finally {
        client.end();
        listener.stop(true);
      }
    });
  }

  it("a Deno.connectTls conn", { skip: onlyDeno }, async (t) => {
    if (!ssOk(t) || !needs(t, hasTool("openssl", ["version"]), "openssl to make a test certificate")) return;
    const { cert, key } = selfSigned();
    const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, cert, key });
    try {
      const accepting = listener.accept();
      const conn = await Deno.connectTls({
        hostname: "localhost",
        port: listener.addr.port,
        caCerts: [cert],
      });
      const peer = await accepting;
      await Promise.all([conn.handshake(), peer.handshake()]); // then the peer never reads
      try {
        await settle(conn, () => void conn.write(CHUNK).catch(() => {}));
        await verify(conn, "127.0.0.1", conn.localAddr.port, listener.addr.port);
      } finally {
        conn.close();
        peer.close();
      }
    } finally {
      listener[Symbol.dispose]();
    }
  });

  for (const host of HOSTS) {
    it(`a Deno.serve request, given as { server, info } (${host})`, { skip: onlyDeno }, async (t) => {
      if (!ssOk(t)) return;
      const seen = Promise.withResolvers<Deno.ServeHandlerInfo<Deno.NetAddr>>();
      const server = Deno.serve({ hostname: host, port: 0, onListen() {} }, (_req, info) => {
        seen.resolve(info);
        return new Response(new ReadableStream({ pull: (c) => c.enqueue(CHUNK) }));
      });
      const client = await rawHttpClient(host, server.addr.port); // sends a request, never reads
      try {
        const info = await seen.promise;
        await settle({ server, info }, () => {});
        await verify({ server, info }, host, server.addr.port, client.localPort!);
      } finally {
        client.destroy();
        await server.shutdown();
      }
    });

    it(`a Bun.serve request, given as { server, request } (${host})`, { skip: onlyBun }, async (t) => {
      if (!ssOk(t)) return;
      const seen = Promise.withResolvers<Request>();
      const server = Bun.serve({
        hostname: host,
        port: 0,
        fetch(request: Request) {
          seen.resolve(request);
          return new Response(new ReadableStream({ pull: (c) => c.enqueue(CHUNK) }));
        },
      });
      const client = await rawHttpClient(host, server.port);
      try {
        const request = await seen.promise;
        await resolveSocket({ server, request }); // while the handler's request is live
        await settle({ server, request }, () => {});
        await verify({ server, request }, host, server.port, client.localPort!);
      } finally {
        client.destroy();
        server.stop(true);
      }
    });
  }

  it("a Bun ServerWebSocket, resolved at upgrade and kept in ws.data", { skip: onlyBun }, async (t) => {
    if (!ssOk(t)) return;
    const ready = Promise.withResolvers<{ sock: import("../mod.ts").ResolvedSocket; ws: unknown }>();
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request: Request, srv: { upgrade(r: Request, o: unknown): boolean }) {
        const sock = await resolveSocket({ server: srv as never, request });
        return srv.upgrade(request, { data: { sock } }) ? undefined : new Response("no", { status: 400 });
      },
      websocket: {
        open(ws: { data: { sock: import("../mod.ts").ResolvedSocket } }) {
          ready.resolve({ sock: ws.data.sock, ws });
        },
        message() {},
      },
    });
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/`);
    try {
      const { sock } = await ready.promise;
      const ops = platform().sockets;
      const peerPort = ops.address(sock.fd, "peer")!.port;
      const ss = ssFor(server.port, peerPort);
      const buf = await inspect(sock);
      assert.equal(buf.queued, ss.sendQ);
      assert.equal(buf.size, ss.skmem.tb);
      assert.equal(ops.address(sock.fd, "local")?.port, server.port);
    } finally {
      ws.close();
      server.stop(true);
    }
  });

  it("a plain address pair for any other connection", async (t) => {
    if (!ssOk(t)) return;
    const accepted: net.Socket[] = [];
    const server = net.createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, "::1", r));
    const port = (server.address() as net.AddressInfo).port;
    const client = net.connect({ port, host: "::1" });
    await new Promise((r) => client.once("connect", r));
    try {
      const pair = { localPort: client.localPort!, remoteAddress: "[::1]", remotePort: port };
      await settle(pair, () => client.write(CHUNK));
      await verify(pair, "::1", client.localPort!, port);
    } finally {
      client.destroy();
      for (const a of accepted) a.destroy();
      await new Promise((r) => server.close(r));
    }
  });

  it("a dual-stack listener's socket, whose peer is a v4-mapped address", async (t) => {
    if (!ssOk(t)) return;
    const accepted: net.Socket[] = [];
    const server = net.createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
    await new Promise<void>((r) => server.listen(0, "::", r));
    const port = (server.address() as net.AddressInfo).port;
    const client = net.connect({ port, host: "127.0.0.1" });
    await new Promise((r) => client.once("connect", r));
    client.pause();
    while (!accepted.length) await sleep(5);
    try {
      // Deno reports "::ffff:127.0.0.1", Bun "127.0.0.1": both must find the same fd.
      for (const remoteAddress of ["::ffff:127.0.0.1", "127.0.0.1"]) {
        const pair = { localPort: port, remoteAddress, remotePort: client.localPort! };
        const { fd } = await resolveSocket(pair);
        assert.equal(platform().sockets.address(fd, "peer")?.port, client.localPort);
      }
      await settle(accepted[0], () => accepted[0].write(CHUNK));
      await verify(accepted[0], "127.0.0.1", port, client.localPort!);
    } finally {
      client.destroy();
      accepted[0]?.destroy();
      await new Promise((r) => server.close(r));
    }
  });
});

/** A node:net client that sends one HTTP request and then reads nothing. */
async function rawHttpClient(host: string, port: number): Promise<net.Socket> {
  const client = net.connect({ host, port });
  await new Promise((r) => client.once("connect", r));
  client.pause();
  client.write(`GET / HTTP/1.1\r\nHost: x\r\n\r\n`);
  return client;
}

/**
 * A client in another process (python3) that connects from one source port to each target
 * in turn (SO_REUSEADDR lets the second socket bind the same port), optionally sends an
 * HTTP request on each, and never reads. Its connections differ only in the address they
 * reached: the case a match on ports and the peer alone cannot tell apart.
 */
interface SharedPortClient {
  /** The one source port of every connection. */
  port: number;
  close(): Promise<void>;
}

const PY_CLIENT = `
import socket, sys
src, keep = 0, []
for target in sys.argv[1:]:
    host, port, mode = target.split(",")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.bind(("127.0.0.1", src))
    src = s.getsockname()[1]
    s.connect((host, int(port)))
    if mode == "http":
        s.sendall(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    keep.append(s)
print(src, flush=True)
sys.stdin.read()
`;

async function sharedPortClient(
  targets: [host: string, port: number, mode?: "http"][],
): Promise<SharedPortClient> {
  const { spawn } = await import("node:child_process");
  const child = spawn(
    "python3",
    ["-c", PY_CLIENT, ...targets.map(([h, p, m]) => `${h},${p},${m ?? "raw"}`)],
    {
      stdio: ["pipe", "pipe", "inherit"],
    },
  );
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  let out = "";
  child.stdout!.setEncoding("utf8");
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on("data", (d: string) => {
      out += d;
      if (out.includes("\n")) resolve(Number(out.trim()));
    });
    child.once(
      "exit",
      (code) => reject(new Error(`the python3 client exited with ${code} before connecting`)),
    );
  });
  return {
    port,
    async close() {
      child.stdin!.end();
      await Promise.race([exited, sleep(2000).then(() => child.kill())]);
    },
  };
}

/** Waits until ss shows the connection's queue full and no longer growing (ss, not sockbuf, decides). */
async function settleTuple(
  local: string,
  localPort: number,
  peerPort: number,
  write: () => void,
): Promise<void> {
  let last = -1;
  for (let i = 0, stable = 0; stable < 4; i++) {
    if (i < 64) write();
    await sleep(40);
    const q = ssFor(localPort, peerPort, { local, peer: "127.0.0.1" }).sendQ;
    stable = q === last && q > 0 ? stable + 1 : 0;
    last = q;
    if (i > 200) throw new Error(`the queue never settled (last ${q})`);
  }
}

/** inspect() on each socket equals ss's line for its exact 4-tuple; the first has data queued, the second none. */
async function verifyTuples(
  ends: { socket: SocketLike; local: string }[],
  localPort: number,
  peerPort: number,
): Promise<void> {
  for (const [i, { socket, local }] of ends.entries()) {
    let ss, buf, after;
    for (let tries = 0; tries < 20; tries++) {
      ss = ssFor(localPort, peerPort, { local, peer: "127.0.0.1" });
      buf = await inspect(socket);
      after = ssFor(localPort, peerPort, { local, peer: "127.0.0.1" });
      if (ss.sendQ === after.sendQ) break;
      await sleep(50);
    }
    assert.ok(buf && after);
    assert.equal(buf.queued, after.sendQ, `queued = Send-Q of ${local}:${localPort}\n${after.raw}`);
    if (i === 0) assert.ok(buf.queued > 0, "the test filled the first connection's buffer");
    else assert.equal(buf.queued, 0, "nothing was written to the second connection");
  }
}

describe("connections that differ only in their local address", {
  skip: !linux && "Linux: checked against ss",
}, () => {
  function ready(t: Parameters<typeof needs>[0]): boolean {
    return ssOk(t) && needs(t, hasTool("python3"), "python3 as a second-process client");
  }
  const BIG = new Uint8Array(4 * 1024 * 1024);

  it("two Deno.listen().accept() conns on a 0.0.0.0 listener each resolve to their own fd", {
    skip: onlyDeno,
  }, async (t) => {
    if (!ready(t)) return;
    const listener = Deno.listen({ hostname: "0.0.0.0", port: 0 });
    try {
      const client = await sharedPortClient([["127.0.0.1", listener.addr.port], [
        "127.0.0.2",
        listener.addr.port,
      ]]);
      const a = await listener.accept();
      const b = await listener.accept();
      try {
        const [one, two] = a.localAddr.hostname === "127.0.0.1" ? [a, b] : [b, a];
        one.write(BIG).catch(() => {});
        await settleTuple("127.0.0.1", listener.addr.port, client.port, () => {});
        await verifyTuples(
          [{ socket: one, local: "127.0.0.1" }, { socket: two, local: "127.0.0.2" }],
          listener.addr.port,
          client.port,
        );
      } finally {
        a.close();
        b.close();
        await client.close();
      }
    } finally {
      listener[Symbol.dispose]();
    }
  });

  it("two node:net sockets on a 0.0.0.0 server each resolve to their own fd", async (t) => {
    if (!ready(t)) return;
    const accepted: net.Socket[] = [];
    const server = net.createServer({ pauseOnConnect: true }, (s) => accepted.push(s.on("error", () => {})));
    await new Promise<void>((r) => server.listen(0, "0.0.0.0", r));
    const port = (server.address() as net.AddressInfo).port;
    const client = await sharedPortClient([["127.0.0.1", port], ["127.0.0.2", port]]);
    try {
      while (accepted.length < 2) await sleep(5);
      const [one, two] = accepted[0].localAddress === "127.0.0.1" ? accepted : [accepted[1], accepted[0]];
      await settleTuple("127.0.0.1", port, client.port, () => one.write(CHUNK));
      await verifyTuples(
        [{ socket: one, local: "127.0.0.1" }, { socket: two, local: "127.0.0.2" }],
        port,
        client.port,
      );
    } finally {
      for (const s of accepted) s.destroy();
      await client.close();
      await new Promise((r) => server.close(r));
    }
  });

  it(
    "two Bun.listen sockets on a 0.0.0.0 listener each resolve to their own fd",
    { skip: onlyBun },
    async (t) => {
      if (!ready(t)) return;
      // deno-lint-ignore no-explicit-any -- Bun's socket types are not visible to deno check
      const opened: any[] = [];
      const listener = Bun.listen({
        hostname: "0.0.0.0",
        port: 0,
        socket: { open: (s: unknown) => opened.push(s), data() {} },
      });
      const client = await sharedPortClient([["127.0.0.1", listener.port], ["127.0.0.2", listener.port]]);
      try {
        while (opened.length < 2) await sleep(5);
        const [one, two] = opened[0].localAddress === "127.0.0.1" ? opened : [opened[1], opened[0]];
        await settleTuple("127.0.0.1", listener.port, client.port, () => one.write(CHUNK));
        await verifyTuples(
          [{ socket: one, local: "127.0.0.1" }, { socket: two, local: "127.0.0.2" }],
          listener.port,
          client.port,
        );
      } finally {
        listener.stop(true);
        await client.close();
      }
    },
  );

  it("an address pair with localAddress picks the connection to that address", async (t) => {
    if (!ready(t)) return;
    const accepted: net.Socket[] = [];
    const server = net.createServer({ pauseOnConnect: true }, (s) => accepted.push(s.on("error", () => {})));
    await new Promise<void>((r) => server.listen(0, "0.0.0.0", r));
    const port = (server.address() as net.AddressInfo).port;
    const client = await sharedPortClient([["127.0.0.1", port], ["127.0.0.2", port]]);
    try {
      while (accepted.length < 2) await sleep(5);
      const one = accepted.find((s) => s.localAddress === "127.0.0.1")!;
      await settleTuple("127.0.0.1", port, client.port, () => one.write(CHUNK));
      const pair = (local: string) => ({
        localAddress: local,
        localPort: port,
        remoteAddress: "127.0.0.1",
        remotePort: client.port,
      });
      await verifyTuples(
        [{ socket: pair("127.0.0.1"), local: "127.0.0.1" }, {
          socket: pair("127.0.0.2"),
          local: "127.0.0.2",
        }],
        port,
        client.port,
      );
      // Without the local address (or with a wildcard for it) the pair names two connections:
      // an error, not either one's numbers.
      for (const localAddress of [undefined, "0.0.0.0", "::"]) {
        await assert.rejects(
          inspect({ localAddress, localPort: port, remoteAddress: "127.0.0.1", remotePort: client.port }),
          { message: /Cannot tell which socket .*2 open TCP sockets/ },
        );
      }
    } finally {
      for (const s of accepted) s.destroy();
      await client.close();
      await new Promise((r) => server.close(r));
    }
  });

  it("a Deno.serve request on one address is not taken for a connection to another", {
    skip: onlyDeno,
  }, async (t) => {
    if (!ready(t)) return;
    const seen = Promise.withResolvers<Deno.ServeHandlerInfo<Deno.NetAddr>>();
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (_req, info) => {
      seen.resolve(info);
      return new Response(new ReadableStream({ pull: (c) => c.enqueue(CHUNK) }));
    });
    // A decoy on the same port at another address, connected second so its fd is newer.
    const decoy = Deno.listen({ hostname: "127.0.0.2", port: server.addr.port });
    try {
      const client = await sharedPortClient([["127.0.0.1", server.addr.port, "http"], [
        "127.0.0.2",
        server.addr.port,
      ]]);
      const other = await decoy.accept();
      try {
        const info = await seen.promise;
        await settleTuple("127.0.0.1", server.addr.port, client.port, () => {});
        await verifyTuples(
          [{ socket: { server, info }, local: "127.0.0.1" }, {
            socket: other,
            local: "127.0.0.2",
          }],
          server.addr.port,
          client.port,
        );
      } finally {
        other.close();
        await client.close();
        await server.shutdown();
      }
    } finally {
      decoy[Symbol.dispose]();
    }
  });

  it("a Deno.serve request on 0.0.0.0 that two connections match is refused, not guessed", {
    skip: onlyDeno,
  }, async (t) => {
    if (!ready(t)) return;
    const infos: Deno.ServeHandlerInfo<Deno.NetAddr>[] = [];
    const server = Deno.serve({ hostname: "0.0.0.0", port: 0, onListen() {} }, (_req, info) => {
      infos.push(info);
      return new Response(new ReadableStream({ pull: (c) => c.enqueue(CHUNK) }));
    });
    const client = await sharedPortClient([["127.0.0.1", server.addr.port, "http"], [
      "127.0.0.2",
      server.addr.port,
      "http",
    ]]);
    try {
      while (infos.length < 2) await sleep(5);
      for (const info of infos) {
        await assert.rejects(resolveSocket({ server, info }), {
          message: /Cannot tell which socket .*listens on 0\.0\.0\.0/,
        });
      }
    } finally {
      await client.close();
      await server.shutdown();
    }
  });

  it("a Bun.serve request on 0.0.0.0 that two connections match is refused, not guessed", {
    skip: onlyBun,
  }, async (t) => {
    if (!ready(t)) return;
    const requests: Request[] = [];
    const server = Bun.serve({
      hostname: "0.0.0.0",
      port: 0,
      fetch(request: Request) {
        requests.push(request);
        return new Response(new ReadableStream({ pull: (c) => c.enqueue(CHUNK) }));
      },
    });
    const client = await sharedPortClient([["127.0.0.1", server.port, "http"], [
      "127.0.0.2",
      server.port,
      "http",
    ]]);
    try {
      while (requests.length < 2) await sleep(5);
      for (const request of requests) {
        await assert.rejects(resolveSocket({ server, request }), {
          message: /Cannot tell which socket .*listens on 0\.0\.0\.0/,
        });
      }
    } finally {
      await client.close();
      server.stop(true);
    }
  });

  it("a Bun.serve request on one address is not taken for a connection to another", {
    skip: onlyBun,
  }, async (t) => {
    if (!ready(t)) return;
    const seen = Promise.withResolvers<Request>();
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(request: Request) {
        seen.resolve(request);
        return new Response(new ReadableStream({ pull: (c) => c.enqueue(CHUNK) }));
      },
    });
    // deno-lint-ignore no-explicit-any -- Bun's socket types are not visible to deno check
    const opened: any[] = [];
    const decoy = Bun.listen({
      hostname: "127.0.0.2",
      port: server.port,
      socket: { open: (s: unknown) => opened.push(s), data() {} },
    });
    const client = await sharedPortClient([["127.0.0.1", server.port, "http"], ["127.0.0.2", server.port]]);
    try {
      const request = await seen.promise;
      await resolveSocket({ server, request });
      await settleTuple("127.0.0.1", server.port, client.port, () => {});
      while (!opened.length) await sleep(5);
      await verifyTuples(
        [{ socket: { server, request }, local: "127.0.0.1" }, {
          socket: opened[0],
          local: "127.0.0.2",
        }],
        server.port,
        client.port,
      );
    } finally {
      decoy.stop(true);
      await client.close();
      server.stop(true);
    }
  });
});
