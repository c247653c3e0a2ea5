/**
 * inspectMany()/inspectManySync(): many sockets in one call, results in order, each socket
 * failing alone (issue 14 item 3). Numbers are checked against `ss -tmi`.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { closeSync, openSync } from "node:fs";
import process from "node:process";
import { inspectMany, inspectManySync, inspectSync, SockbufError } from "../mod.ts";
import { hasTool, needs, sleep, ssFor, stalledPair } from "./_helpers.ts";

const linux = process.platform === "linux";

describe("inspectMany()", () => {
  it("reads each socket in order, and a bad one fails alone", async (t) => {
    const a = await stalledPair();
    const b = await stalledPair("::1");
    const file = openSync("/dev/null", "r");
    try {
      a.client.write(new Uint8Array(8 << 20));
      let last = -1;
      for (let stable = 0; stable < 5;) {
        await sleep(30);
        const q = inspectSync(a.clientFd).queued;
        stable = q === last && q > 0 ? stable + 1 : 0;
        last = q;
      }
      const got = await inspectMany([a.clientFd, file, -1, b.client, "no" as never, a.client]);
      assert.deepEqual(got.map((r) => r.status), [
        "fulfilled",
        "rejected",
        "rejected",
        "fulfilled",
        "rejected",
        "fulfilled",
      ]);
      const [fa, ff, fneg, fb, fstr, fa2] = got;
      assert.ok(ff.status === "rejected" && ff.reason instanceof SockbufError);
      assert.equal((ff.reason as SockbufError).code, "ENOTSOCK");
      assert.ok(fneg.status === "rejected" && fneg.reason instanceof RangeError);
      assert.ok(fstr.status === "rejected" && fstr.reason instanceof TypeError);
      assert.ok(fa.status === "fulfilled" && fb.status === "fulfilled" && fa2.status === "fulfilled");
      // The same socket by fd and by object: the same numbers, and inspectSync's.
      assert.deepEqual(fa.value, fa2.value);
      assert.deepEqual(fa.value, inspectSync(a.clientFd));
      assert.ok(fa.value.queued > 0, "the first socket's buffer is full");
      assert.equal(fb.value.queued, 0, "the second socket is idle");
      if (linux && needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) {
        const ss = ssFor(a.clientPort, a.serverPort);
        assert.equal(fa.value.queued, ss.sendQ, "queued = ss Send-Q");
        assert.equal(fa.value.size, ss.skmem.tb, "size = ss skmem tb");
        assert.equal(fa.value.unsent, ss.notsent ?? 0, "unsent = ss notsent:");
      }
    } finally {
      closeSync(file);
      await a.close();
      await b.close();
    }
  });

  it("takes any iterable, and an empty one gives []", async () => {
    const a = await stalledPair();
    try {
      const fds = function* () {
        yield a.clientFd;
        yield a.client;
      };
      const got = inspectManySync(fds());
      assert.equal(got.length, 2);
      assert.ok(got.every((r) => r.status === "fulfilled"));
      assert.deepEqual(await inspectMany([]), []);
      assert.deepEqual(inspectManySync(new Set()), []);
    } finally {
      await a.close();
    }
  });

  it("rejects as a whole only when the argument is not a list of sockets", async () => {
    for (const bad of [42, "12", null, undefined, { length: 1, 0: 3 }]) {
      await assert.rejects(inspectMany(bad as never), {
        name: "TypeError",
        message: /Expected sockets as an iterable of sockets/,
      });
      assert.throws(() => inspectManySync(bad as never), TypeError);
    }
  });
});
