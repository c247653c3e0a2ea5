/**
 * inspect() and tcpInfo() against `ss -tmi`, which reads the same socket through netlink
 * sock_diag: an oracle independent of getsockopt and ioctl.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import process from "node:process";
import { inspect, inspectSync, tcpInfo } from "../mod.ts";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { hasTool, needs, run, runtime, sleep, ssFor, stalledPair } from "./_helpers.ts";

const linux = process.platform === "linux";

/** Writes until the kernel's queue for the writer stops growing, then returns. */
async function fill(pair: Awaited<ReturnType<typeof stalledPair>>): Promise<void> {
  const chunk = new Uint8Array(1 << 20).fill(0x61);
  for (let i = 0; i < 32; i++) pair.client.write(chunk); // more than any autotuned buffer
  let last = -1;
  for (let stable = 0; stable < 5;) {
    await sleep(50);
    const q = inspectSync(pair.clientFd).queued;
    stable = q === last && q > 0 ? stable + 1 : 0;
    last = q;
  }
}

describe("inspect() on a loopback pair whose reader stalls", {
  skip: !linux && "Linux only: ss and SIOCOUTQ",
}, () => {
  for (const host of ["127.0.0.1", "::1"]) {
    it(`agrees exactly with ss -tmi once the buffer is full (${host})`, async (t) => {
      if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
      const pair = await stalledPair(host);
      try {
        await fill(pair);
        const before = ssFor(pair.clientPort, pair.serverPort);
        const buf = await inspect(pair.clientFd);
        const after = ssFor(pair.clientPort, pair.serverPort);
        const still = (l: typeof before) => JSON.stringify([l.sendQ, l.skmem, l.notsent, l.unacked]);
        assert.equal(still(before), still(after), "the socket changed while it was read; it should be still");
        const ss = after;
        assert.ok(ss.sendQ > 0, `ss should show a queue: ${ss.raw}`);
        assert.equal(buf.size, ss.skmem.tb, "size = skmem tb");
        assert.equal(buf.queued, ss.sendQ, "queued = Send-Q");
        assert.equal(buf.unsent, ss.notsent ?? 0, "unsent = notsent: (ss prints none for 0)");
        assert.equal(
          buf.unackedSegments,
          ss.unacked ?? 0,
          "unackedSegments = unacked: (ss prints none for 0)",
        );
        assert.equal(buf.unackedBytes, buf.queued - buf.unsent!);
        assert.equal(buf.free, Math.max(0, buf.size - buf.queued));
        assert.equal(buf.memory?.sndbuf, ss.skmem.tb, "SO_MEMINFO sndbuf = skmem tb");
        assert.equal(buf.memory?.wmemQueued, ss.skmem.w, "SO_MEMINFO wmem_queued = skmem w");
        // The reader's window is closed, so the queue is unsent data: a test where unsent
        // were 0 could not tell SIOCOUTQNSD from SIOCOUTQ.
        assert.ok(buf.unsent! > 0, JSON.stringify(buf));
      } finally {
        await pair.close();
      }
    });
  }

  it("tcpInfo() agrees with ss -tmi on notsent, unacked, cwnd and mss", async (t) => {
    if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
    const pair = await stalledPair();
    try {
      await fill(pair);
      const info = await tcpInfo(pair.clientFd);
      const ss = ssFor(pair.clientPort, pair.serverPort);
      assert.equal(info.os, "linux");
      if (info.os !== "linux") return;
      assert.equal(info.state, "ESTABLISHED");
      assert.equal(info.stateNumber, 1);
      assert.equal(info.notsentBytes, ss.notsent ?? 0);
      assert.equal(info.unacked, ss.unacked ?? 0);
      assert.equal(info.sndCwnd, ss.cwnd);
      assert.equal(info.sndMss, ss.mss);
    } finally {
      await pair.close();
    }
  });

  it("agrees with ss -tmi, as does the listing, with data unacked behind a 1 Mbit/s loopback", {
    timeout: 90_000,
  }, (t) => {
    const root = typeof process.getuid === "function" && process.getuid() === 0;
    const tools = hasTool("ip", ["-V"]) && hasTool("tc", ["-V"]) && hasTool("ss", ["-V"]);
    if (!needs(t, root && tools, "root, ip and tc (iproute2), to slow a namespace's own loopback")) return;
    if (!needs(t, hasTool(runtime), `${runtime} on PATH`)) return;
    // A namespace of our own: its loopback only, slowed so that sent data waits unacked.
    const ns = `sockbuf-oracle-${process.pid}`;
    try {
      run("ip", ["netns", "add", ns]);
      // An Ethernet-sized MTU: tbf drops any packet larger than its burst.
      run("ip", ["-n", ns, "link", "set", "lo", "mtu", "1500", "up"]);
      run("tc", [
        "-n",
        ns,
        "qdisc",
        "add",
        "dev",
        "lo",
        "root",
        "tbf",
        "rate",
        "1mbit",
        "burst",
        "32kbit",
        "latency",
        "400ms",
      ]);
      const script = fileURLToPath(new URL("./fixtures/inflight.ts", import.meta.url));
      const argv = runtime === "deno" ? ["run", "--allow-all", script] : [script];
      // Node: the very binary running the suite (PATH may hold another Node).
      const exe = runtime === "node" ? process.execPath : runtime;
      const r = spawnSync("ip", ["netns", "exec", ns, exe, ...argv], {
        encoding: "utf8",
        timeout: 60_000,
      });
      assert.equal(r.status, 0, r.stderr);
      const got = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      assert.ok(!got.error, got.error);
      const { ss, inspect: buf } = got;
      assert.ok(ss.unacked > 0, "segments in flight");
      assert.equal(buf.unackedSegments, ss.unacked, "unackedSegments = unacked:");
      assert.equal(buf.queued, ss.sendQ, "queued = Send-Q");
      assert.equal(buf.unsent, ss.notsent, "unsent = notsent:");
      assert.equal(buf.size, ss.tb, "size = skmem tb");
      assert.ok(buf.unackedBytes > ss.unacked, "unackedBytes counts bytes, unackedSegments segments");
      // The three calls give what the five calls gave (SO_SNDBUF, SIOCOUTQNSD read directly).
      const { five } = got;
      assert.deepEqual(
        [buf.size, buf.queued, buf.unsent, buf.unackedSegments],
        [five.size, five.queued, five.unsent, five.unackedSegments],
        "three calls = five calls, with segments in flight",
      );
      assert.ok(
        five.unsent > 0 && five.queued > five.unsent,
        `unsent and unacked both: ${JSON.stringify(five)}`,
      );
      // The system-wide listing (netlink sock_diag) on the same socket at the same moment.
      const { list } = got;
      assert.equal(typeof list, "object", `one listing entry for the socket: ${list}`);
      assert.equal(list.unackedSegments, ss.unacked, "listing: unackedSegments = unacked:");
      assert.equal(list.queued, ss.sendQ, "listing: queued = Send-Q");
      assert.equal(list.unsent, ss.notsent, "listing: unsent = notsent:");
      assert.equal(list.size, ss.tb, "listing: size = skmem tb");
      assert.equal(got.cwnd, ss.cwnd, "listing: cwndSegments = cwnd:");
    } finally {
      spawnSync("ip", ["netns", "delete", ns]);
    }
    assert.ok(!run("ip", ["netns", "list"]).includes(ns), "the namespace is gone");
  });
});
