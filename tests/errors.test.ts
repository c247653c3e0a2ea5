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
import { getNotSentLowat, inspect, inspectSync, setNotSentLowat, SockbufError, tcpInfo } from "../mod.ts";
import { fdByLocalPort, fdByUnixPath, stalledPair } from "./_helpers.ts";

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
      const fd = fdByLocalPort(udp.address().port);
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
      const fd = fdByLocalPort(pair.serverPort);
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
