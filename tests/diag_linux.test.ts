/**
 * listSockets() against `ss -tmie`, which reads the same kernel interface with its own code:
 * stalled loopback connections with different amounts queued, IPv4 and IPv6, and the filters.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import { inspectSync, listSockets, listSocketsStream, listSocketsSync, type SocketEntry } from "../mod.ts";
import { hasTool, needs, sleep, type StalledPair, stalledPair } from "./_helpers.ts";
import { ssDetail, startHolder } from "./_diag.ts";

const linux = process.platform === "linux";
const haveSs = linux && hasTool("ss", ["-V"]);

/** Writes `bytes` and waits until the writer's queue stops changing. */
async function queue(pair: StalledPair, bytes: number): Promise<void> {
  pair.client.write(new Uint8Array(bytes).fill(0x61));
  let last = -1;
  for (let stable = 0; stable < 4;) {
    await sleep(40);
    const q = inspectSync(pair.clientFd).queued;
    stable = q === last ? stable + 1 : 0;
    last = q;
  }
}

/** The one entry for this local and peer port. */
function entryFor(local: number, peer: number, family?: 4 | 6): SocketEntry {
  // A TIME_WAIT left by an earlier connection between the same ports is not ours
  const found = listSocketsSync({ port: { local, peer }, family }).filter((e) => e.state !== "TIME_WAIT");
  assert.equal(found.length, 1, `one socket ${local} -> ${peer}: ${JSON.stringify(found)}`);
  return found[0];
}

/** Our entry and ss's line for one socket, read while ss saw it unchanged around our read. */
function stableRead(local: number, peer: number, family: 4 | 6) {
  for (let i = 0; i < 20; i++) {
    const ssBefore = ssDetail(local, peer, family);
    const entry = entryFor(local, peer, family);
    const ss = ssDetail(local, peer, family);
    const key = (l: typeof ss) => JSON.stringify([l.recvQ, l.sendQ, l.skmem, l.notsent, l.unacked]);
    if (key(ssBefore) === key(ss)) return { entry, ss };
  }
  throw new Error(`socket ${local} -> ${peer} never held still`);
}

describe("listSockets() on stalled loopback connections", { skip: !linux && "Linux only: sock_diag" }, () => {
  // Small receive buffers on the readers, so each amount written leaves a different queue.
  const amounts = [40_000, 300_000, 2_000_000];
  const pairs: { host: string; bytes: number; pair: StalledPair }[] = [];

  before(async () => {
    for (const host of ["127.0.0.1", "::1"]) {
      // IPv6 writes a little more, so every connection's queue differs.
      for (const bytes of amounts.map((b) => b + (host === "::1" ? 7_000 : 0))) {
        const pair = await stalledPair(host, { rcvbuf: 16_384 });
        pairs.push({ host, bytes, pair });
        await queue(pair, bytes);
      }
    }
  });
  after(async () => {
    for (const { pair } of pairs) await pair.close();
  });

  it("agrees with ss -tmie on Send-Q, notsent, unacked, skmem, uid, inode and cookie", (t) => {
    if (!needs(t, haveSs, "ss from iproute2")) return;
    const queued = new Set<number>();
    for (const { host, bytes, pair } of pairs) {
      const family = host === "::1" ? 6 : 4;
      const { entry, ss } = stableRead(pair.clientPort, pair.serverPort, family);
      const what = `${host}, ${bytes} bytes written: ${ss.raw}\n${JSON.stringify(entry)}`;
      const buf = entry.sendBuffer!;
      assert.ok(buf, what);
      assert.equal(entry.family, family, what);
      assert.deepEqual(entry.local, { address: host, port: pair.clientPort }, what);
      assert.deepEqual(entry.peer, { address: host, port: pair.serverPort }, what);
      assert.equal(entry.state, "ESTABLISHED", what);
      assert.ok(ss.sendQ > 0, `the reader's window should hold data back: ${what}`);
      assert.equal(buf.queued, ss.sendQ, `queued = Send-Q: ${what}`);
      assert.equal(buf.unsent, ss.notsent, `unsent = notsent: ${what}`);
      assert.equal(buf.unackedSegments, ss.unacked, `unackedSegments = unacked: ${what}`);
      assert.equal(buf.size, ss.skmem.tb, `size = skmem tb: ${what}`);
      assert.equal(buf.unackedBytes, buf.queued - buf.unsent!, what);
      assert.equal(buf.free, Math.max(0, buf.size - buf.queued), what);
      const m = entry.memory!;
      assert.deepEqual(
        [
          m.rmemAlloc,
          m.rcvbuf,
          m.wmemAlloc,
          m.sndbuf,
          m.fwdAlloc,
          m.wmemQueued,
          m.optmem,
          m.backlog,
          m.drops,
        ],
        ["r", "rb", "t", "tb", "f", "w", "o", "bl", "d"].map((k) => ss.skmem[k]),
        `every skmem field: ${what}`,
      );
      assert.equal(entry.receiveQueued, ss.recvQ, `Recv-Q: ${what}`);
      assert.equal(entry.uid, ss.uid, `uid: ${what}`);
      assert.equal(entry.inode, ss.ino, `inode: ${what}`);
      assert.ok(entry.inode > 0, what);
      assert.equal(entry.cookie, ss.cookie, `cookie = sk: ${what}`);
      // The same socket read through getsockopt/ioctl in this process
      assert.equal(inspectSync(pair.clientFd).queued, buf.queued, what);
      queued.add(buf.queued);
      // The reader's side: bytes received and not read
      const reader = stableRead(pair.serverPort, pair.clientPort, family);
      assert.equal(reader.entry.receiveQueued, reader.ss.recvQ, `reader's Recv-Q: ${reader.ss.raw}`);
      assert.ok(reader.ss.recvQ > 0, reader.ss.raw);
    }
    assert.equal(queued.size, pairs.length, `different amounts queued: ${[...queued]}`);
  });

  it("reports a listener's accept queue, with nothing queued to send", (t) => {
    if (!needs(t, haveSs, "ss from iproute2")) return;
    for (const { host, pair } of pairs.slice(0, 4)) {
      const [entry] = listSocketsSync({ states: ["LISTEN"], port: { local: pair.serverPort } });
      assert.ok(entry, `the listener on ${pair.serverPort}`);
      assert.equal(entry.state, "LISTEN");
      assert.deepEqual(entry.local, { address: host, port: pair.serverPort });
      assert.deepEqual(entry.peer, { address: host === "::1" ? "::" : "0.0.0.0", port: 0 });
      const ss = ssDetail(pair.serverPort, 0);
      // ss prints a listener's accept queue as Recv-Q and its limit as Send-Q
      assert.deepEqual(entry.acceptQueue, { length: ss.recvQ, limit: ss.sendQ }, ss.raw);
      assert.equal(entry.receiveQueued, undefined);
      assert.equal(entry.sendBuffer?.queued, 0);
      assert.equal(entry.sendBuffer?.unackedSegments, undefined);
      assert.equal(entry.sendBuffer?.size, ss.skmem.tb, ss.raw);
    }
  });

  it("applies state, port and family filters in the kernel: sockets outside them are absent", async () => {
    // Our sockets by their exact ends (other tests' sockets, and TIME_WAIT leftovers that
    // share a port number, come and go meanwhile)
    const ours = new Set<string>();
    for (const { pair } of pairs) {
      ours.add(`${pair.serverPort}>0`).add(`${pair.clientPort}>${pair.serverPort}`);
      ours.add(`${pair.serverPort}>${pair.clientPort}`);
    }
    const mine = (e: SocketEntry) => e.state !== "TIME_WAIT" && ours.has(`${e.local.port}>${e.peer.port}`);
    const all = listSocketsSync().filter(mine);
    // Our sockets: per pair a listener, the writer and the reader
    assert.equal(all.length, pairs.length * 3, JSON.stringify(all.map((e) => [e.local, e.peer, e.state])));
    const cookies = (list: SocketEntry[]) => list.filter(mine).map((e) => e.cookie).sort((a, b) => a - b);
    const expect = (list: SocketEntry[], keep: (e: SocketEntry) => boolean, what: string) =>
      assert.deepEqual(cookies(list), cookies(all.filter(keep)), what);

    const { pair: v4 } = pairs[0];
    const { pair: v6 } = pairs[amounts.length];
    const either = listSocketsSync({ port: v4.serverPort });
    expect(either, (e) => e.local.port === v4.serverPort || e.peer.port === v4.serverPort, "either port");
    assert.equal(either.filter(mine).length, 3, "the listener, the writer and the reader");
    assert.ok(either.every((e) => e.local.port === v4.serverPort || e.peer.port === v4.serverPort));

    const local = listSocketsSync({ port: { local: v6.serverPort } });
    assert.ok(local.every((e) => e.local.port === v6.serverPort));
    expect(local, (e) => e.local.port === v6.serverPort, "local port");

    const peer = listSocketsSync({ port: { peer: v6.serverPort } });
    assert.ok(peer.every((e) => e.peer.port === v6.serverPort));
    expect(peer, (e) => e.peer.port === v6.serverPort, "peer port");

    const listening = listSocketsSync({ states: ["LISTEN"] });
    assert.ok(listening.every((e) => e.state === "LISTEN"));
    expect(listening, (e) => e.state === "LISTEN", "LISTEN");

    const established = listSocketsSync({ states: ["ESTABLISHED", "CLOSE_WAIT"] });
    assert.ok(established.every((e) => e.state === "ESTABLISHED" || e.state === "CLOSE_WAIT"));
    expect(established, (e) => e.state === "ESTABLISHED", "ESTABLISHED");

    const six = listSocketsSync({ family: 6 });
    assert.ok(six.every((e) => e.family === 6));
    expect(six, (e) => e.family === 6, "IPv6");
    const four = listSocketsSync({ family: 4, states: ["ESTABLISHED"], port: v6.serverPort });
    assert.deepEqual(four.filter(mine), [], "none of our IPv6 sockets");
    assert.ok(four.every((e) => e.family === 4 && e.state === "ESTABLISHED"));

    const streamed: SocketEntry[] = [];
    for await (const e of listSocketsStream({ port: v4.serverPort })) streamed.push(e);
    expect(streamed, (e) => e.local.port === v4.serverPort || e.peer.port === v4.serverPort, "stream");
    assert.deepEqual(cookies(await listSockets({ port: v4.serverPort })), cookies(either));
  });

  it("maps each socket to this process and its fd with processes: true", () => {
    const self = readFileSync("/proc/self/comm", "utf8").trim();
    for (const { pair } of pairs) {
      const [entry] = listSocketsSync({
        port: { local: pair.clientPort, peer: pair.serverPort },
        states: ["ESTABLISHED"],
        processes: true,
      });
      assert.deepEqual(entry.processes, [{ pid: process.pid, fd: pair.clientFd, command: self }]);
      assert.equal(entryFor(pair.clientPort, pair.serverPort).processes, undefined, "off by default");
    }
  });

  it("attaches the whole tcp_info only when asked, agreeing with the snapshot", () => {
    const { pair } = pairs[1];
    const plain = entryFor(pair.clientPort, pair.serverPort);
    assert.equal(plain.tcpInfo, undefined);
    const [full] = listSocketsSync({
      port: { local: pair.clientPort, peer: pair.serverPort },
      states: ["ESTABLISHED"],
      tcpInfo: true,
    });
    const info = full.tcpInfo!;
    assert.equal(info.os, "linux");
    assert.ok(info.length >= 160, `tcp_info length ${info.length}`);
    assert.equal(info.state, "ESTABLISHED");
    assert.equal(info.notsentBytes, full.sendBuffer!.unsent);
    assert.equal(info.unacked, full.sendBuffer!.unackedSegments);
    assert.equal(info.sndCwnd, full.cwndSegments);
    assert.equal(info.rtt, full.rttMicros);
  });

  it("gives the owner's uid for another user's socket, as ss does", async (t) => {
    const root = process.getuid?.() === 0;
    if (!needs(t, root && haveSs && hasTool("setpriv", ["--version"]), "root, ss and setpriv")) return;
    const { pair } = pairs[0];
    const holder = await startHolder("127.0.0.1", pair.serverPort, 0, 65534);
    try {
      const entry = entryFor(holder.localPort, pair.serverPort);
      const ss = ssDetail(holder.localPort, pair.serverPort);
      assert.equal(entry.uid, 65534);
      assert.equal(entry.uid, ss.uid, ss.raw);
      assert.equal(entry.inode, ss.ino, ss.raw);
      const [withOwner] = listSocketsSync({
        port: { local: holder.localPort, peer: pair.serverPort },
        states: ["ESTABLISHED"],
        processes: true,
      });
      assert.deepEqual(withOwner.processes?.map((p) => [p.pid, p.fd]), [[holder.pid, holder.fd]]);
    } finally {
      await holder.stop();
    }
  });

  it("rejects bad filters with TypeError or RangeError naming the field", async () => {
    assert.throws(() => listSocketsSync({ states: ["NOPE" as "LISTEN"] }), /filter\.states/);
    assert.throws(() => listSocketsSync({ states: ["UNKNOWN"] }), RangeError);
    assert.throws(() => listSocketsSync({ port: 70000 }), { name: "RangeError", message: /filter\.port/ });
    assert.throws(() => listSocketsSync({ port: { local: 1.5 } }), /filter\.port\.local/);
    assert.throws(() => listSocketsSync({ port: "80" as unknown as number }), TypeError);
    assert.throws(() => listSocketsSync({ family: 5 as 4 }), /filter\.family/);
    await assert.rejects(listSockets({ port: -1 }), RangeError);
  });
});
