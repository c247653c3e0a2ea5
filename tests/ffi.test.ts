/**
 * Loading: lazily, once, closed idempotently; one clear error without --allow-ffi; one
 * clear error naming an unsupported OS.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { closeLibrary, getNotSentLowat, inspect, setNotSentLowat } from "../mod.ts";
import { selectPlatform } from "../platform/mod.ts";
import { hasTool, needs, stalledPair } from "./_helpers.ts";

const linux = process.platform === "linux";
const unix = linux || process.platform === "darwin";

describe("loading libc", () => {
  it("without --allow-ffi, Deno fails with one error that names the flag", (t) => {
    // "deno" from PATH, not process.execPath: Deno's node:child_process runs its own
    // executable with the parent's permissions, which would grant --allow-ffi.
    if (!needs(t, hasTool("deno"), "deno on PATH (npm test puts node_modules/.bin there)")) return;
    const script = fileURLToPath(new URL("./fixtures/no_ffi.ts", import.meta.url));
    const r = spawnSync("deno", ["run", "--no-prompt", "--no-config", script], {
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    assert.notEqual(r.status, 0);
    const errors = r.stderr.split("\n").filter((l) => /^error:/.test(l));
    assert.deepEqual(errors, [
      "error: Uncaught (in promise) Error: sockbuf calls libc through FFI: run Deno with plain --allow-ffi, " +
      "without a path (--allow-ffi=PATH does not cover libc, which is loaded by name, nor the pointer calls " +
      "sockbuf makes)",
    ]);
  });

  it("names an unsupported OS in the error of every call", () => {
    for (const [os, name] of [["windows", "windows"], ["win32", "windows"], ["freebsd", "freebsd"]]) {
      const p = selectPlatform(os);
      for (
        const call of [
          () => p.inspect(3),
          () => p.tcpInfo(3),
          () => p.getNotSentLowat(3),
          () => p.setNotSentLowat(3, 1),
        ]
      ) {
        assert.throws(call, {
          name: "Error",
          message: `sockbuf does not support ${name}: it runs on linux and darwin (macOS)`,
        });
      }
    }
    assert.equal(selectPlatform("linux").os, "linux");
  });

  it(
    "closes idempotently and loads again on the next call",
    { skip: !linux && "runs the calls on Linux" },
    async () => {
      const pair = await stalledPair();
      try {
        const before = await inspect(pair.clientFd);
        closeLibrary();
        closeLibrary();
        const after = await inspect(pair.clientFd);
        assert.equal(after.size, before.size);
        closeLibrary();
      } finally {
        await pair.close();
      }
    },
  );
});

describe("TCP_NOTSENT_LOWAT", { skip: !unix && "Linux and macOS only" }, () => {
  it("reads back what was set, and 0 on a fresh socket", async () => {
    const pair = await stalledPair();
    try {
      assert.equal(await getNotSentLowat(pair.clientFd), 0);
      await setNotSentLowat(pair.clientFd, 16384);
      assert.equal(await getNotSentLowat(pair.clientFd), 16384);
      await setNotSentLowat(pair.clientFd, 2 ** 31 - 1);
      assert.equal(await getNotSentLowat(pair.clientFd), 2 ** 31 - 1);
    } finally {
      await pair.close();
    }
  });

  it("keeps the kernel's unsent bytes near the limit while the reader stalls", {
    skip: !linux && "Linux only: macOS does not limit send() by it",
  }, async () => {
    const lowat = 16384;
    const unsentAfterFill = async (set: boolean) => {
      const pair = await stalledPair();
      try {
        if (set) await setNotSentLowat(pair.clientFd, lowat);
        const chunk = new Uint8Array(1 << 20);
        for (let i = 0; i < 16; i++) pair.client.write(chunk);
        let last = -1;
        for (let stable = 0; stable < 5;) {
          await new Promise((r) => setTimeout(r, 50));
          const { unsent } = await inspect(pair.clientFd);
          stable = unsent === last ? stable + 1 : 0;
          last = unsent!;
        }
        return last;
      } finally {
        await pair.close();
      }
    };
    const without = await unsentAfterFill(false);
    const withLowat = await unsentAfterFill(true);
    // Linux stops send() once unsent passes the limit; one write can overshoot by a segment.
    assert.ok(withLowat <= lowat + 65536, `unsent ${withLowat} with lowat ${lowat}`);
    assert.ok(without > 4 * (lowat + 65536), `unsent ${without} without lowat`);
  });
});
