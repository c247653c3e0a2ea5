/**
 * A socket object that has closed never yields numbers, even once its fd number belongs to
 * a new socket; and a socket that cannot be found says what was searched.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import process from "node:process";
import { describe, it } from "node:test";
import { inspect, inspectSync, resolveSocket, SockbufError, type SocketLike, tcpInfo } from "../mod.ts";
import { parseIp } from "../resolve.ts";
import { hex as hexOf, runtime, sleep } from "./_helpers.ts";

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
    skip: runtime !== "deno" && "Deno's API: not in Bun",
    async open(port) {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      return { socket: c, close: () => c.close() };
    },
  },
  {
    name: "a Bun.connect socket",
    skip: runtime !== "bun" && "Bun's API: not in Deno",
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
            assert.match(err.message, new RegExp(`fd ${oldFd} now belongs to another socket`));
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
