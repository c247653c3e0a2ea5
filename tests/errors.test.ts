/**
 * Bad input gets a typed error that names what was wrong, never a number, on every runtime.
 */
import assert from "node:assert/strict";
import * as dgram from "node:dgram";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { describe, it } from "node:test";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  getNotSentLowat,
  inspect,
  inspectSync,
  resolveSocket,
  setNotSentLowat,
  SockbufError,
  tcpInfo,
} from "../mod.ts";
import { fdByUnixPath, hasTool, needs, run, runtime, stalledPair, unconnectedFd } from "./_helpers.ts";

// deno-lint-ignore no-explicit-any -- Bun's global is untyped under deno check
const Bun = (globalThis as any).Bun;

const linux = process.platform === "linux";
const unix = linux || process.platform === "darwin";
/** The op that reads tcp_info: macOS falls back to the public TCP_CONNECTION_INFO to report errors. */
const TCP_INFO = /^Cannot read TCP_(CONNECTION_)?INFO/;

/** Asserts `p` rejects with a SockbufError of `code` whose message names it. */
async function rejectsWith(p: Promise<unknown>, code: string | string[], op: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof SockbufError, `expected a SockbufError, got ${err}`);
    assert.ok([code].flat().includes(err.code), `code ${err.code}, expected ${code}`);
    assert.equal(err.name, "SockbufError");
    assert.ok(err.errno > 0);
    assert.match(err.message, op);
    assert.match(err.message, new RegExp(`: ${err.code} \\(errno ${err.errno}\\)$`));
    return true;
  });
}

describe("bad input", { skip: !unix && "Linux and macOS only" }, () => {
  it("a closed fd gives EBADF", async () => {
    const fd = openSync(import.meta.filename ?? new URL(import.meta.url).pathname, "r");
    closeSync(fd);
    await rejectsWith(inspect(fd), "EBADF", TCP_INFO);
    await rejectsWith(tcpInfo(fd), "EBADF", TCP_INFO);
    await rejectsWith(getNotSentLowat(fd), "EBADF", /^Cannot read TCP_NOTSENT_LOWAT/);
    await rejectsWith(setNotSentLowat(fd, 1), "EBADF", /^Cannot set TCP_NOTSENT_LOWAT/);
    assert.throws(() => inspectSync(fd), SockbufError);
  });

  it("a regular file's fd gives ENOTSOCK", async () => {
    const fd = openSync(new URL(import.meta.url).pathname, "r");
    try {
      await rejectsWith(inspect(fd), "ENOTSOCK", TCP_INFO);
      await rejectsWith(tcpInfo(fd), "ENOTSOCK", TCP_INFO);
    } finally {
      closeSync(fd);
    }
  });

  // Linux 6.18 answers EOPNOTSUPP; older kernels ENOPROTOOPT. Either way, no numbers.
  it("a UDP socket gives EOPNOTSUPP, not the numbers SO_SNDBUF and SIOCOUTQ would give it", async () => {
    const udp = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
    try {
      const fd = unconnectedFd(udp.address().port);
      await rejectsWith(inspect(fd), ["EOPNOTSUPP", "ENOPROTOOPT"], TCP_INFO);
      await rejectsWith(tcpInfo(fd), ["EOPNOTSUPP", "ENOPROTOOPT"], TCP_INFO);
    } finally {
      udp.close();
    }
  });

  it("a Unix stream socket gives EOPNOTSUPP from tcpInfo() and inspect()", {
    skip: !linux && "finds the socket with Linux's sockaddr_un",
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "sockbuf-unix-"));
    const path = join(dir, "s");
    const server = net.createServer(() => {});
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      const fd = fdByUnixPath(path);
      await rejectsWith(tcpInfo(fd), "EOPNOTSUPP", TCP_INFO);
      await rejectsWith(inspect(fd), "EOPNOTSUPP", TCP_INFO);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a listening TCP socket gives EINVAL from inspect(), whose queue would be the accept queue", async () => {
    const pair = await stalledPair();
    try {
      const fd = unconnectedFd(pair.serverPort);
      await rejectsWith(inspect(fd), "EINVAL", /^Cannot (read SIOCOUTQ|inspect a listening socket)/);
      const info = await tcpInfo(fd);
      assert.equal(info.state, "LISTEN");
    } finally {
      await pair.close();
    }
  });
});

describe("bad arguments", () => {
  const calls: [string, (fd: never) => Promise<unknown>][] = [
    ["inspect", inspect],
    ["tcpInfo", tcpInfo],
    ["getNotSentLowat", getNotSentLowat],
    ["setNotSentLowat", (fd) => setNotSentLowat(fd, 1)],
  ];
  for (const [name, call] of calls) {
    it(`${name}() rejects fd -1 and 1.5 with RangeError and "3" with TypeError`, async () => {
      await assert.rejects(call(-1 as never), { name: "RangeError", message: /got -1$/ });
      await assert.rejects(call(1.5 as never), { name: "RangeError", message: /got 1.5$/ });
      await assert.rejects(call(NaN as never), RangeError);
      await assert.rejects(call(2 ** 31 as never), RangeError);
      await assert.rejects(call("3" as never), { name: "TypeError", message: /the string "3"/ });
      await assert.rejects(call(undefined as never), TypeError);
    });
  }

  it("inspectSync() throws, not rejects, for bad arguments", () => {
    assert.throws(() => inspectSync(-1), RangeError);
    assert.throws(() => inspectSync("3" as never), TypeError);
  });

  it("setNotSentLowat() rejects byte counts that are not int-sized non-negative integers", async () => {
    await assert.rejects(setNotSentLowat(0, -1), RangeError);
    await assert.rejects(setNotSentLowat(0, 0.5), RangeError);
    await assert.rejects(setNotSentLowat(0, 2 ** 31), RangeError);
    await assert.rejects(setNotSentLowat(0, "1" as never), TypeError);
  });
});

describe("errors a new user met", { skip: !unix && "Linux and macOS only" }, () => {
  /** Records every property read on `target`, so a test can show `_handle` was never read. */
  function recording<T extends object>(target: T): { proxy: T; reads: Set<PropertyKey> } {
    const reads = new Set<PropertyKey>();
    const proxy = new Proxy(target, {
      get(t, p) {
        reads.add(p);
        const v = Reflect.get(t, p, t);
        return typeof v === "function" ? v.bind(t) : v;
      },
    });
    return { proxy, reads };
  }

  it("a node:dgram socket is refused as not TCP, without reading _handle (DEP0112)", async () => {
    for (const connect of [false, true]) {
      const udp = dgram.createSocket("udp4");
      await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
      if (connect) await new Promise<void>((resolve) => udp.connect(9, "127.0.0.1", () => resolve()));
      try {
        const { proxy, reads } = recording(udp);
        await assert.rejects(inspect(proxy as never), {
          name: "TypeError",
          message: /^Expected a TCP socket, got a node:dgram socket \(udp4\)/,
        });
        assert.ok(!reads.has("_handle"), `read ${[...reads].map(String).join(", ")}`);
      } finally {
        udp.close();
      }
    }
  });

  it(
    "a Bun.udpSocket is refused as not TCP",
    { skip: runtime !== "bun" && `Bun's API: not in ${runtime}` },
    async () => {
      const udp = await Bun.udpSocket({ hostname: "127.0.0.1" });
      try {
        await assert.rejects(inspect(udp), {
          name: "TypeError",
          message: /^Expected a TCP socket, got a Bun\.udpSocket/,
        });
      } finally {
        udp.close();
      }
    },
  );

  it('a raw fd\'s messages say "fd N", not "the fd\'s fd N"', async () => {
    const pair = await stalledPair();
    try {
      const other = net.connect(pair.serverPort, "127.0.0.1");
      await new Promise((r) => other.once("connect", r));
      const fd = (await resolveSocket(other)).fd;
      const sock = await resolveSocket(fd);
      other.destroy();
      await new Promise((r) => other.once("close", r));
      assert.throws(() => sock.checkedFd(), (err: unknown) => {
        assert.ok(err instanceof SockbufError);
        assert.equal(err.code, "EBADF");
        assert.match(err.message, new RegExp(`^Cannot use fd ${fd}: it has closed`));
        return true;
      });
      // The number taken by a file: no longer a TCP socket.
      const files: number[] = [];
      try {
        for (let i = 0; i < 64 && !files.includes(fd); i++) files.push(openSync(import.meta.filename!, "r"));
        assert.ok(files.includes(fd), `no file took fd ${fd}`);
        assert.throws(() => sock.checkedFd(), (err: unknown) => {
          assert.ok(err instanceof SockbufError);
          assert.match(err.message, new RegExp(`\\(fd ${fd} is no longer a TCP socket\\)`));
          assert.doesNotMatch(err.message, /the fd's/);
          return true;
        });
      } finally {
        for (const f of files) closeSync(f);
      }
    } finally {
      await pair.close();
    }
  });

  it("Deno run with --allow-ffi=PATH is told it needs plain --allow-ffi, and why", (t) => {
    if (!needs(t, hasTool("deno"), "deno on PATH (npm test puts node_modules/.bin there)")) return;
    if (!needs(t, linux, "Linux's libc path")) return;
    const script = fileURLToPath(new URL("./fixtures/no_ffi.ts", import.meta.url));
    const lib = run("ldconfig", ["-p"]).match(/libc\.so\.6 \([^)]*x86-64[^)]*\) => (\S+)/)?.[1] ??
      "/lib/x86_64-linux-gnu/libc.so.6";
    for (const flag of [`--allow-ffi=${lib}`, "--allow-ffi=libc.so.6"]) {
      const r = spawnSync("deno", ["run", "--no-prompt", "--no-config", flag, script], {
        encoding: "utf8",
        env: { ...process.env, NO_COLOR: "1" },
      });
      assert.notEqual(r.status, 0);
      const errors = r.stderr.split("\n").filter((l) => /^error:/.test(l));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(errors[0], /run Deno with plain --allow-ffi, without a path/, flag);
    }
  });

  it("an address pair's port that is not 1 to 65535 is a RangeError naming the field", async () => {
    for (const bad of [NaN, -1, 0, 70000, 1.5, Infinity]) {
      await assert.rejects(inspect({ localPort: bad, remoteAddress: "127.0.0.1", remotePort: 1 }), {
        name: "RangeError",
        message: new RegExp(`^Expected localPort as an integer from 1 to 65535, got ${bad}$`),
      });
      await assert.rejects(inspect({ localPort: 1, remoteAddress: "127.0.0.1", remotePort: bad }), {
        name: "RangeError",
        message: new RegExp(`^Expected remotePort as an integer from 1 to 65535, got ${bad}$`),
      });
    }
    await assert.rejects(inspect({ localPort: "80", remoteAddress: "127.0.0.1", remotePort: 1 } as never), {
      name: "TypeError",
      message: /^Expected localPort as a number, got the string "/,
    });
  });

  it("setNotSentLowat() on a UDP socket fails with the same code as getNotSentLowat()", async () => {
    const udp = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => udp.bind(0, "127.0.0.1", resolve));
    try {
      const fd = unconnectedFd(udp.address().port);
      let got: SockbufError | undefined;
      await assert.rejects(
        getNotSentLowat(fd),
        (err: unknown) => (got = err as SockbufError) instanceof SockbufError,
      );
      await rejectsWith(setNotSentLowat(fd, 16384), got!.code, /^Cannot set TCP_NOTSENT_LOWAT/);
      assert.ok(["EOPNOTSUPP", "ENOPROTOOPT"].includes(got!.code), got!.code);
    } finally {
      udp.close();
    }
  });
});
