/**
 * inspect() in three syscalls on Linux (issue 14 item 1): which calls it makes, that its
 * numbers equal the five calls it used to make (SO_SNDBUF and SIOCOUTQNSD read here through
 * libc) and `ss -tmi`, on every kind of socket, and that the fallback for kernels without
 * `tcpi_notsent_bytes` or SO_MEMINFO (older than 4.6) gives the same numbers.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as net from "node:net";
import process from "node:process";
import { inspectSync } from "../mod.ts";
import { libc } from "../ffi/mod.ts";
import { resolveSocket } from "../resolve.ts";
import type { Libc } from "../ffi/mod.ts";
import type { SendBuffer } from "../types.ts";
import { inspectLinux, LINUX, LINUX_LIBC } from "../platform/linux/mod.ts";
import { hasTool, needs, runtime, sleep, ssFor, stalledPair } from "./_helpers.ts";

const linux = process.platform === "linux";
const ENOPROTOOPT = 92;

/** One call a {@linkcode Libc} was asked to make: `getsockopt level/name` or `ioctl request`. */
type Call = string;

/** The real libc, recording each getsockopt and ioctl; `old` plays a kernel older than 4.6. */
function recording(
  calls: Call[],
  old: { tcpInfoLength?: number; noMeminfo?: boolean } = {},
): Libc {
  const real = libc(LINUX_LIBC);
  return {
    ...real,
    getsockopt(fd, level, name, buf) {
      calls.push(`getsockopt ${level}/${name}`);
      if (level === LINUX.SOL_SOCKET && name === LINUX.SO_MEMINFO && old.noMeminfo) return -ENOPROTOOPT;
      if (level === LINUX.IPPROTO_TCP && name === LINUX.TCP_INFO && old.tcpInfoLength !== undefined) {
        // An old kernel copies only its shorter struct; what lies past it stays as it was.
        buf.fill(0xff, old.tcpInfoLength);
        return real.getsockopt(fd, level, name, buf.subarray(0, old.tcpInfoLength));
      }
      return real.getsockopt(fd, level, name, buf);
    },
    ioctlInt: (fd, request) => {
      calls.push(`ioctl 0x${request.toString(16)}`);
      return real.ioctlInt!(fd, request);
    },
  };
}

const TCP_INFO = `getsockopt ${LINUX.IPPROTO_TCP}/${LINUX.TCP_INFO}`;
const SIOCOUTQ = `ioctl 0x${LINUX.SIOCOUTQ.toString(16)}`;
const SIOCOUTQNSD = `ioctl 0x${LINUX.SIOCOUTQNSD.toString(16)}`;
const SO_MEMINFO = `getsockopt ${LINUX.SOL_SOCKET}/${LINUX.SO_MEMINFO}`;
const SO_SNDBUF = `getsockopt ${LINUX.SOL_SOCKET}/${LINUX.SO_SNDBUF}`;

/** The five calls inspect() made before: SO_SNDBUF, SIOCOUTQ, SIOCOUTQNSD and TCP_INFO's tcpi_unacked. */
function fiveCalls(fd: number): { size: number; queued: number; unsent: number; unackedSegments: number } {
  const c = libc(LINUX_LIBC);
  const int = new Uint8Array(4);
  assert.equal(c.getsockopt(fd, LINUX.SOL_SOCKET, LINUX.SO_SNDBUF, int), 4);
  const info = new Uint8Array(32);
  assert.equal(c.getsockopt(fd, LINUX.IPPROTO_TCP, LINUX.TCP_INFO, info), 32);
  const queued = c.ioctlInt!(fd, LINUX.SIOCOUTQ);
  const unsent = c.ioctlInt!(fd, LINUX.SIOCOUTQNSD);
  assert.ok(queued >= 0 && unsent >= 0, `SIOCOUTQ ${queued}, SIOCOUTQNSD ${unsent}`);
  return {
    size: new DataView(int.buffer).getInt32(0, true),
    queued,
    unsent,
    unackedSegments: new DataView(info.buffer).getUint32(24, true),
  };
}

/** Waits until the writer's queue stops growing. */
async function settle(fd: number): Promise<void> {
  let last = -1;
  for (let stable = 0; stable < 5;) {
    await sleep(30);
    const q = inspectSync(fd).queued;
    stable = q === last && q > 0 ? stable + 1 : 0;
    last = q;
  }
}

/**
 * Checks a three-call reading against the five calls and `ss -tmi`, at a moment when the
 * five calls and ss saw the same socket before and after it.
 */
function agree(fd: number, three: () => SendBuffer, ports: [number, number]): SendBuffer {
  for (let attempt = 0; attempt < 20; attempt++) {
    const before = fiveCalls(fd);
    const ss0 = ssFor(...ports);
    const buf = three();
    const after = fiveCalls(fd);
    const ss = ssFor(...ports);
    const still = JSON.stringify(before) === JSON.stringify(after) &&
      JSON.stringify([ss0.sendQ, ss0.skmem, ss0.notsent, ss0.unacked]) ===
        JSON.stringify([ss.sendQ, ss.skmem, ss.notsent, ss.unacked]);
    if (!still) continue;
    assert.deepEqual(
      {
        size: buf.size,
        queued: buf.queued,
        unsent: buf.unsent,
        unackedSegments: buf.unackedSegments,
        unackedBytes: buf.unackedBytes,
        free: buf.free,
      },
      {
        ...after,
        unackedBytes: after.queued - after.unsent,
        free: Math.max(0, after.size - after.queued),
      },
      "three calls = five calls",
    );
    assert.equal(buf.size, ss.skmem.tb, "size = ss skmem tb");
    assert.equal(buf.queued, ss.sendQ, "queued = ss Send-Q");
    assert.equal(buf.unsent, ss.notsent ?? 0, "unsent = ss notsent: (none for 0)");
    assert.equal(buf.unackedSegments, ss.unacked ?? 0, "unackedSegments = ss unacked: (none for 0)");
    if (buf.memory) {
      assert.equal(buf.memory.sndbuf, ss.skmem.tb, "memory.sndbuf = ss skmem tb");
      assert.equal(buf.memory.wmemQueued, ss.skmem.w, "memory.wmemQueued = ss skmem w");
    }
    return buf;
  }
  throw new Error("the socket never stood still long enough to compare");
}

describe("inspect() in three syscalls", { skip: !linux && "Linux only" }, () => {
  it("makes TCP_INFO, SIOCOUTQ and SO_MEMINFO, and nothing else", async () => {
    const pair = await stalledPair();
    try {
      const calls: Call[] = [];
      inspectLinux(recording(calls), pair.clientFd);
      assert.deepEqual(calls, [TCP_INFO, SIOCOUTQ, SO_MEMINFO]);
    } finally {
      await pair.close();
    }
  });

  for (const host of ["127.0.0.1", "::1"]) {
    it(`gives the five calls' numbers and ss's, buffer full (node:net, ${host})`, async (t) => {
      if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
      const pair = await stalledPair(host);
      try {
        pair.client.write(new Uint8Array(32 << 20));
        await settle(pair.clientFd);
        const buf = agree(pair.clientFd, () => inspectSync(pair.client), [pair.clientPort, pair.serverPort]);
        assert.ok(buf.unsent! > 0 && buf.memory !== undefined, JSON.stringify(buf));
        // The same socket idle: unsent and unacked 0.
        const idle = await stalledPair(host);
        try {
          const b = agree(idle.clientFd, () => inspectSync(idle.clientFd), [
            idle.clientPort,
            idle.serverPort,
          ]);
          assert.equal(b.queued, 0);
        } finally {
          await idle.close();
        }
      } finally {
        await pair.close();
      }
    });
  }

  it("gives the five calls' numbers and ss's on a Deno conn", {
    skip: runtime !== "deno" && "Deno.connect is Deno's",
  }, async (t) => {
    if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
    const pair = await stalledPair(); // its server never reads; a Deno conn writes to it
    const D = (globalThis as unknown as { Deno: typeof Deno }).Deno;
    const conn = await D.connect({ hostname: "127.0.0.1", port: pair.serverPort });
    try {
      // Not awaited: it resolves only once the reader drains, which it never does.
      const pending = conn.write(new Uint8Array(32 << 20)).catch(() => 0);
      const port = (conn.localAddr as Deno.NetAddr).port;
      const fd = (await resolveSocket(conn)).fd;
      await settle(fd);
      agree(fd, () => inspectSync(conn), [port, pair.serverPort]);
      conn.close();
      await pending;
    } finally {
      try {
        conn.close();
      } catch { /* closed above */ }
      await pair.close();
    }
  });

  it("gives the five calls' numbers and ss's on a Bun socket", {
    skip: runtime !== "bun" && "Bun.connect is Bun's",
  }, async (t) => {
    if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
    const pair = await stalledPair();
    const B = (globalThis as unknown as { Bun: BunLike }).Bun;
    const sock = await B.connect({ hostname: "127.0.0.1", port: pair.serverPort, socket: { data() {} } });
    try {
      const chunk = new Uint8Array(1 << 20);
      for (let i = 0; i < 64 && sock.write(chunk) > 0; i++) await sleep(5);
      await settle(sock.fd);
      agree(sock.fd, () => inspectSync(sock), [sock.localPort, pair.serverPort]);
    } finally {
      sock.terminate();
      await pair.close();
    }
  });
});

/** The part of Bun's API used above. */
interface BunLike {
  connect(options: {
    hostname: string;
    port: number;
    socket: { data(): void };
  }): Promise<{ fd: number; localPort: number; write(b: Uint8Array): number; terminate(): void }>;
}

describe("inspect() on a kernel older than 4.6", { skip: !linux && "Linux only" }, () => {
  const cases = [
    { name: "TCP_INFO without tcpi_notsent_bytes (Linux 4.2–4.5: 144 bytes)", tcpInfoLength: 144 },
    { name: "no SO_MEMINFO (ENOPROTOOPT)", noMeminfo: true },
    { name: "both (Linux 4.1: 136 bytes, no SO_MEMINFO)", tcpInfoLength: 136, noMeminfo: true },
  ];
  for (const old of cases) {
    it(`${old.name}: asks SIOCOUTQNSD or SO_SNDBUF instead, same numbers`, async (t) => {
      if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
      const pair = await stalledPair();
      try {
        pair.client.write(new Uint8Array(32 << 20));
        await settle(pair.clientFd);
        let calls: Call[] = [];
        const buf = agree(pair.clientFd, () => {
          calls = [];
          return inspectLinux(recording(calls, old), pair.clientFd);
        }, [pair.clientPort, pair.serverPort]);
        const now = inspectLinux(recording([]), pair.clientFd);
        assert.deepEqual(
          { ...buf, memory: undefined },
          { ...now, memory: undefined },
          "fallback = three calls",
        );
        assert.deepEqual(buf.memory, old.noMeminfo ? undefined : now.memory);
        assert.ok(buf.unsent! > 0, "a full buffer's data is unsent: SIOCOUTQNSD is told from SIOCOUTQ");
        assert.deepEqual(calls, [
          TCP_INFO,
          SIOCOUTQ,
          SO_MEMINFO,
          ...(old.tcpInfoLength ? [SIOCOUTQNSD] : []),
          ...(old.noMeminfo ? [SO_SNDBUF] : []),
        ]);
      } finally {
        await pair.close();
      }
    });
  }

  it("a listening socket still fails with EINVAL, from SIOCOUTQ", async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const { testingPlatform } = await import("../platform/mod.ts");
      const fd = testingPlatform().unconnected((server.address() as net.AddressInfo).port)!;
      const calls: Call[] = [];
      assert.throws(() => inspectLinux(recording(calls, { tcpInfoLength: 104 }), fd), { code: "EINVAL" });
      assert.deepEqual(calls, [TCP_INFO, SIOCOUTQ]);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
