/**
 * The macOS pf helper, run here on fixtures and a recording runner (pfctl itself cannot run
 * on Linux): the rule builder's exact text, the pf.conf transforms on literal fixtures, and
 * the exact pfctl argv and stdin sequences for apply and remove in both modes, including
 * every rollback. No recorded sequence may ever disable pf (`-d`).
 */
import assert from "node:assert/strict";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  applyAnchor,
  applyPersist,
  buildPfRules,
  findPfConfRules,
  insertPfConfRules,
  PfConfError,
  pfctlFailure,
  removeAnchor,
  removePersist,
  removePfConfRules,
  RouteCommandError,
} from "../pf.ts";
import { listUserRoutes, routeUser, unrouteUser } from "../route.ts";
import { type Call, disablesPf, recorder } from "./_runner.ts";

const fixture = (name: string) => readFile(new URL(`./fixtures/pf/${name}`, import.meta.url), "utf8");
const PFCTL = "/sbin/pfctl";
const TOKEN = "5980186465398457001";
const enabled = {
  stderr: `No ALTQ support in kernel\nALTQ related functions disabled\npf enabled\nToken : ${TOKEN}\n`,
};
const seed = buildPfRules({ user: "test1", routeTo: "utun4", gateway: "192.168.15.2" });

let dir = "";
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "sockbuf-pf-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A fresh copy of a fixture as a pf.conf, with its own state directory. */
async function scratch(name: string): Promise<{ pfConf: string; stateDir: string; text: string }> {
  const sub = await mkdtemp(join(dir, "case-"));
  const text = await fixture(name);
  const pfConf = join(sub, "pf.conf");
  await writeFile(pfConf, text);
  await chmod(pfConf, 0o644);
  return { pfConf, stateDir: join(sub, "state"), text };
}

const argv = (calls: Call[]) => calls.map((c) => [c.file, ...c.args].join(" "));

describe("buildPfRules()", () => {
  it("emits the valid route-to form with parentheses, never the seed's braces", () => {
    const r = buildPfRules({ user: "test1", routeTo: "utun4", gateway: "192.168.15.2", outInterface: "en0" });
    assert.equal(
      r.filter,
      "pass out quick on en0 route-to (utun4 192.168.15.2) inet proto { tcp udp } from any to any user test1",
    );
    assert.equal(r.nat, undefined);
    assert.doesNotMatch(r.filter, /route-to \{/);
  });

  it("without outInterface matches every interface but the tunnel, so rerouted packets are not matched again", () => {
    assert.equal(
      seed.filter,
      "pass out quick on ! utun4 route-to (utun4 192.168.15.2) inet proto { tcp udp } from any to any user test1",
    );
  });

  it("handles no gateway, a uid, one protocol, IPv6 and NAT", () => {
    assert.equal(
      buildPfRules({ user: 501, routeTo: "utun2", protocols: ["tcp"] }).filter,
      "pass out quick on ! utun2 route-to utun2 inet proto tcp from any to any user 501",
    );
    const v6 = buildPfRules({ user: "test1", routeTo: "utun4", gateway: "fd00::1", nat: true });
    assert.equal(
      v6.filter,
      "pass out quick on ! utun4 route-to (utun4 fd00::1) inet6 proto { tcp udp } from any to any user test1",
    );
    assert.equal(v6.nat, "nat on utun4 inet6 from ! (utun4) to any -> (utun4)");
  });
});

describe("pf.conf transforms on fixtures", () => {
  it('the stock file gets our line just before anchor "com.apple/*"; twice changes nothing', async () => {
    const out = insertPfConfRules(await fixture("stock.conf"), seed);
    assert.equal(out, await fixture("stock_expected.conf"));
    assert.equal(insertPfConfRules(out, seed), out);
  });

  it('with NAT the nat rule goes just after nat-anchor "com.apple/*"', async () => {
    const rules = buildPfRules({ user: "test1", routeTo: "utun4", gateway: "192.168.15.2", nat: true });
    const out = insertPfConfRules(await fixture("stock.conf"), rules);
    assert.equal(out, await fixture("stock_nat_expected.conf"));
    assert.equal(insertPfConfRules(out, rules), out);
    assert.equal(removePfConfRules(out, "test1"), await fixture("stock.conf"));
  });

  it("a file that already has our line (and lines of its owner) comes back unchanged", async () => {
    const text = await fixture("already_present.conf");
    assert.equal(insertPfConfRules(text, seed), text);
    assert.deepEqual(findPfConfRules(text), [{ user: "test1", rules: [seed.filter] }]);
  });

  it("a changed rule for the same user replaces the old line instead of adding one", async () => {
    const moved = buildPfRules({ user: "test1", routeTo: "utun7" });
    const out = insertPfConfRules(await fixture("already_present.conf"), moved);
    assert.equal(findPfConfRules(out).length, 1);
    assert.deepEqual(findPfConfRules(out)[0].rules, [moved.filter]);
  });

  it("a file without the com.apple anchor line is a PfConfError saying so", async () => {
    const text = await fixture("no_apple_anchor.conf");
    assert.throws(() => insertPfConfRules(text, seed, "/etc/pf.conf"), (err: Error) => {
      assert.ok(err instanceof PfConfError);
      assert.equal(err.path, "/etc/pf.conf");
      assert.match(err.message, /no `anchor "com\.apple\/\*"` line/);
      return true;
    });
  });

  it("CRLF line endings are kept, on every line including ours; twice changes nothing", async () => {
    const crlf = await fixture("stock_crlf.conf");
    const out = insertPfConfRules(crlf, seed);
    assert.equal(out, await fixture("stock_crlf_expected.conf"));
    assert.equal(out.split("\r\n").length, out.split("\n").length, "no bare LF");
    assert.equal(insertPfConfRules(out, seed), out);
    assert.equal(removePfConfRules(out, "test1"), crlf);
  });

  it("removal gives back each fixture exactly, and removing twice changes nothing", async () => {
    for (const name of ["stock.conf", "stock_crlf.conf", "no_apple_anchor.conf"]) {
      const text = await fixture(name);
      assert.equal(removePfConfRules(text, "test1"), text, name);
    }
    const present = await fixture("already_present.conf");
    const removed = removePfConfRules(present, "test1");
    assert.equal(removePfConfRules(removed, "test1"), removed);
    assert.doesNotMatch(removed, /# sockbuf user=/);
    assert.match(removed, /block drop quick proto tcp to port 6666/, "the owner's rule stays");
  });

  it("only our user's lines go: another user's marked line stays", async () => {
    const two = insertPfConfRules(
      insertPfConfRules(await fixture("stock.conf"), seed),
      buildPfRules({ user: "test2", routeTo: "utun5" }),
    );
    assert.deepEqual(findPfConfRules(removePfConfRules(two, "test1")).map((x) => x.user), ["test2"]);
  });
});

describe("pfctl's errors become typed errors", () => {
  it("reads FILE:LINE syntax errors, pf already enabled, and a missing interface", () => {
    assert.deepEqual(pfctlFailure("/etc/pf.conf.sockbuf.tmp:12: syntax error\n"), {
      reason: "syntax-error",
      file: "/etc/pf.conf.sockbuf.tmp",
      line: 12,
    });
    assert.deepEqual(pfctlFailure("stdin:1: syntax error\n"), {
      reason: "syntax-error",
      file: "stdin",
      line: 1,
    });
    assert.deepEqual(pfctlFailure("pfctl: pf already enabled\n"), { reason: "already-enabled" });
    assert.deepEqual(pfctlFailure("no IP address found for utun9\n"), {
      reason: "no-such-interface",
      interface: "utun9",
    });
    assert.deepEqual(pfctlFailure("pfctl: DIOCADDRULE: Operation not permitted\n"), { reason: "failed" });
  });
});

describe("anchor mode, recorded", () => {
  it("apply loads the anchor from stdin, then takes a token with -E and keeps it in a 0600 state file", async () => {
    const { stateDir } = await scratch("stock.conf");
    const rec = recorder((c) => c.args[0] === "-E" ? enabled : undefined);
    const anchor = "com.apple/sockbuf.test1";
    assert.equal(await applyAnchor(seed, anchor, { runner: rec.runner, stateDir }), true);
    assert.deepEqual(rec.lines(), [
      `${PFCTL} -a com.apple/sockbuf.test1 -f - <<< ${seed.filter}\n`,
      `${PFCTL} -E`,
    ]);
    const tokenFile = join(stateDir, "pf-com.apple+sockbuf.test1.token");
    assert.equal(await readFile(tokenFile, "utf8"), TOKEN + "\n");
    assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
    assert.equal((await stat(stateDir)).mode & 0o777, 0o700);

    // Twice: the anchor is reloaded (a load replaces it) but no second reference is taken.
    assert.equal(await applyAnchor(seed, anchor, { runner: rec.runner, stateDir }), false);
    assert.deepEqual(rec.lines().slice(2), [`${PFCTL} -a com.apple/sockbuf.test1 -f - <<< ${seed.filter}\n`]);

    // Remove: show, flush only our anchor, release our token; the state file goes.
    assert.equal(await removeAnchor(anchor, { runner: rec.runner, stateDir }), false);
    assert.deepEqual(rec.lines().slice(3), [
      `${PFCTL} -a com.apple/sockbuf.test1 -sn`,
      `${PFCTL} -a com.apple/sockbuf.test1 -sr`,
      `${PFCTL} -a com.apple/sockbuf.test1 -F all`,
      `${PFCTL} -X ${TOKEN}`,
    ]);
    await assert.rejects(stat(tokenFile), { code: "ENOENT" });
    assert.ok(!disablesPf(rec.calls));
  });

  it("a syntax error in the load is a RouteCommandError with file stdin and the line; no token is taken", async () => {
    const { stateDir } = await scratch("stock.conf");
    const rec = recorder((c) =>
      c.args.includes("-f") ? { code: 1, stderr: "stdin:1: syntax error\n" } : undefined
    );
    await assert.rejects(
      applyAnchor(seed, "com.apple/sockbuf.test1", { runner: rec.runner, stateDir }),
      (err) => {
        assert.ok(err instanceof RouteCommandError);
        assert.equal(err.reason, "syntax-error");
        assert.equal(err.file, "stdin");
        assert.equal(err.line, 1);
        assert.deepEqual(err.argv, [PFCTL, "-a", "com.apple/sockbuf.test1", "-f", "-"]);
        return true;
      },
    );
    assert.equal(rec.calls.length, 1);
    assert.ok(!disablesPf(rec.calls));
  });

  it("if -E fails the anchor is flushed again and no state file is left", async () => {
    const { stateDir } = await scratch("stock.conf");
    const rec = recorder((c) =>
      c.args[0] === "-E" ? { code: 1, stderr: "pfctl: DIOCSTARTREF: Operation not permitted\n" } : undefined
    );
    await assert.rejects(
      applyAnchor(seed, "com.apple/sockbuf.test1", { runner: rec.runner, stateDir }),
      RouteCommandError,
    );
    assert.deepEqual(argv(rec.calls), [
      `${PFCTL} -a com.apple/sockbuf.test1 -f -`,
      `${PFCTL} -E`,
      `${PFCTL} -a com.apple/sockbuf.test1 -F all`,
    ]);
    await assert.rejects(stat(join(stateDir, "pf-com.apple+sockbuf.test1.token")), { code: "ENOENT" });
    assert.ok(!disablesPf(rec.calls));
  });
});

/** A pfctl stand-in that keeps one anchor's rules, so route-level calls see their own effects. */
function fakePfctl(): ReturnType<typeof recorder> {
  const anchors = new Map<string, string[]>();
  return recorder((c) => {
    const a = c.args[0] === "-a" ? c.args[1] : undefined;
    const op = c.args.slice(a ? 2 : 0).join(" ");
    if (op === "-E") return enabled;
    if (op === "-f -" && a) anchors.set(a, c.stdin!.trim().split("\n"));
    if (op === "-F all" && a) anchors.delete(a);
    // Like pfctl, showing an anchor that does not exist fails with EINVAL.
    if ((op === "-sr" || op === "-sn") && a && !anchors.has(a)) {
      return { code: 1, stderr: "pfctl: DIOCGETRULES: Invalid argument\n" };
    }
    if (op === "-sr" && a) return { stdout: anchors.get(a)!.filter((l) => l.startsWith("pass")).join("\n") };
    if (op === "-sn" && a) return { stdout: anchors.get(a)!.filter((l) => l.startsWith("nat")).join("\n") };
    if (op === "-s Anchors") return { stdout: [...anchors.keys()].map((k) => `  ${k}`).join("\n") };
    return undefined;
  });
}

describe("routeUser() on macOS, recorded", () => {
  it("anchor mode by default: one anchor per user; idempotent; listed; removed with its token", async () => {
    const { stateDir, pfConf } = await scratch("stock.conf");
    const rec = fakePfctl();
    const o = {
      user: "test1",
      dev: "utun4",
      gateway: "192.168.15.2",
      nat: true,
      os: "darwin",
      runner: rec.runner,
    };
    const first = await routeUser({ ...o, paths: { stateDir, pfConf } });
    assert.equal(first.changed, true);
    assert.equal(first.route.anchor, "com.apple/sockbuf.test1");
    assert.equal(first.route.dev, "utun4");
    assert.equal(first.route.gateway, "192.168.15.2");
    assert.deepEqual(argv(rec.calls), [
      `${PFCTL} -a com.apple/sockbuf.test1 -sn`,
      `${PFCTL} -a com.apple/sockbuf.test1 -sr`,
      `${PFCTL} -a com.apple/sockbuf.test1 -f -`,
      `${PFCTL} -E`,
      `${PFCTL} -a com.apple/sockbuf.test1 -sn`,
      `${PFCTL} -a com.apple/sockbuf.test1 -sr`,
    ]);
    assert.equal(
      rec.calls[2].stdin,
      `${seed.filter.replace("pass", "nat on utun4 inet from ! (utun4) to any -> (utun4)\npass")}\n`,
    );
    const second = await routeUser({ ...o, paths: { stateDir, pfConf } });
    assert.equal(second.changed, false);
    assert.equal(rec.calls.filter((c) => c.args[0] === "-E").length, 1, "one reference only");

    const listed = await listUserRoutes({ os: "darwin", runner: rec.runner, paths: { stateDir, pfConf } });
    assert.equal(listed.length, 1);
    assert.equal(listed[0].user, "test1");
    assert.equal(listed[0].mode, "anchor");

    assert.deepEqual(
      await unrouteUser({ user: "test1", os: "darwin", runner: rec.runner, paths: { stateDir, pfConf } }),
      {
        removed: 1,
      },
    );
    assert.deepEqual(argv(rec.calls).slice(-2), [
      `${PFCTL} -a com.apple/sockbuf.test1 -F all`,
      `${PFCTL} -X ${TOKEN}`,
    ]);
    assert.deepEqual(
      await listUserRoutes({ os: "darwin", runner: rec.runner, paths: { stateDir, pfConf } }),
      [],
    );
    assert.equal(
      await readFile(pfConf, "utf8"),
      await fixture("stock.conf"),
      "anchor mode never edits pf.conf",
    );
    assert.ok(!disablesPf(rec.calls));
  });
});

describe("persist mode, recorded, on a scratch copy of pf.conf", () => {
  it("apply: backup, pfctl -nf on the temp file, atomic rename, pfctl -f, -E; twice runs nothing", async () => {
    const { pfConf, stateDir, text } = await scratch("stock.conf");
    const rec = recorder((c) => c.args[0] === "-E" ? enabled : undefined);
    assert.equal(await applyPersist(seed, { runner: rec.runner, pfConf, stateDir }), true);
    assert.deepEqual(argv(rec.calls), [
      `${PFCTL} -nf ${pfConf}.sockbuf.tmp`,
      `${PFCTL} -f ${pfConf}`,
      `${PFCTL} -E`,
    ]);
    assert.equal(await readFile(pfConf, "utf8"), await fixture("stock_expected.conf"));
    assert.equal(await readFile(`${pfConf}.sockbuf.bak`, "utf8"), text, "the backup is the file before");
    assert.equal((await stat(pfConf)).mode & 0o777, 0o644, "the mode is kept");
    await assert.rejects(stat(`${pfConf}.sockbuf.tmp`), { code: "ENOENT" });

    assert.equal(await applyPersist(seed, { runner: rec.runner, pfConf, stateDir }), false);
    assert.equal(rec.calls.length, 3, "the second apply ran nothing");
    assert.equal(await readFile(pfConf, "utf8"), await fixture("stock_expected.conf"), "one line, not two");

    assert.equal(await removePersist("test1", { runner: rec.runner, pfConf, stateDir }), 1);
    assert.deepEqual(argv(rec.calls).slice(3), [
      `${PFCTL} -nf ${pfConf}.sockbuf.tmp`,
      `${PFCTL} -f ${pfConf}`,
      `${PFCTL} -X ${TOKEN}`,
    ]);
    assert.equal(await readFile(pfConf, "utf8"), text);
    assert.equal(await removePersist("test1", { runner: rec.runner, pfConf, stateDir }), 0);
    assert.equal(rec.calls.length, 6, "removing twice runs nothing");
    assert.ok(!disablesPf(rec.calls));
  });

  it("when pfctl -nf rejects the temp file, pf.conf is untouched, the temp file gone, nothing loaded", async () => {
    const { pfConf, stateDir, text } = await scratch("stock.conf");
    const rec = recorder((c) =>
      c.args[0] === "-nf" ? { code: 1, stderr: `${c.args[1]}:10: syntax error\n` } : undefined
    );
    await assert.rejects(applyPersist(seed, { runner: rec.runner, pfConf, stateDir }), (err) => {
      assert.ok(err instanceof RouteCommandError);
      assert.equal(err.reason, "syntax-error");
      assert.equal(err.file, `${pfConf}.sockbuf.tmp`);
      assert.equal(err.line, 10);
      return true;
    });
    assert.deepEqual(argv(rec.calls), [`${PFCTL} -nf ${pfConf}.sockbuf.tmp`]);
    assert.equal(await readFile(pfConf, "utf8"), text);
    await assert.rejects(stat(`${pfConf}.sockbuf.tmp`), { code: "ENOENT" });
    assert.ok(!disablesPf(rec.calls));
  });

  it("when pfctl -f fails, the backup goes back and is loaded again", async () => {
    const { pfConf, stateDir, text } = await scratch("stock.conf");
    let loads = 0;
    const rec = recorder((c) =>
      c.args[0] === "-f" && loads++ === 0 ? { code: 1, stderr: "no IP address found for utun4\n" } : undefined
    );
    await assert.rejects(applyPersist(seed, { runner: rec.runner, pfConf, stateDir }), (err) => {
      assert.ok(err instanceof RouteCommandError);
      assert.equal(err.reason, "no-such-interface");
      assert.equal(err.interface, "utun4");
      return true;
    });
    assert.deepEqual(argv(rec.calls), [
      `${PFCTL} -nf ${pfConf}.sockbuf.tmp`,
      `${PFCTL} -f ${pfConf}`,
      `${PFCTL} -f ${pfConf}`,
    ]);
    assert.equal(await readFile(pfConf, "utf8"), text);
    assert.ok(!disablesPf(rec.calls));
  });

  it("when -E fails after the reload, the old file is swapped back in and loaded", async () => {
    const { pfConf, stateDir, text } = await scratch("stock.conf");
    const rec = recorder((c) =>
      c.args[0] === "-E" ? { code: 1, stderr: "pfctl: /dev/pf: Permission denied\n" } : undefined
    );
    await assert.rejects(applyPersist(seed, { runner: rec.runner, pfConf, stateDir }), RouteCommandError);
    assert.deepEqual(argv(rec.calls), [
      `${PFCTL} -nf ${pfConf}.sockbuf.tmp`,
      `${PFCTL} -f ${pfConf}`,
      `${PFCTL} -E`,
      `${PFCTL} -nf ${pfConf}.sockbuf.tmp`,
      `${PFCTL} -f ${pfConf}`,
    ]);
    assert.equal(await readFile(pfConf, "utf8"), text);
    assert.ok(!disablesPf(rec.calls));
  });

  it("a pf.conf without the com.apple anchor: PfConfError, the file byte-identical, nothing spawned", async () => {
    const { pfConf, stateDir, text } = await scratch("no_apple_anchor.conf");
    const rec = recorder();
    await assert.rejects(
      routeUser({
        user: "test1",
        dev: "utun4",
        persist: true,
        os: "darwin",
        runner: rec.runner,
        paths: { pfConf, stateDir },
      }),
      PfConfError,
    );
    assert.equal(await readFile(pfConf, "utf8"), text);
    assert.equal(rec.calls.length, 0);
  });

  it("CRLF pf.conf through routeUser(persist) and back keeps CRLF and the exact text", async () => {
    const { pfConf, stateDir, text } = await scratch("stock_crlf.conf");
    const rec = recorder((c) => c.args[0] === "-E" ? enabled : undefined);
    const o = {
      user: "test1",
      dev: "utun4",
      gateway: "192.168.15.2",
      persist: true,
      os: "darwin",
      runner: rec.runner,
    };
    assert.equal((await routeUser({ ...o, paths: { pfConf, stateDir } })).changed, true);
    assert.equal(await readFile(pfConf, "utf8"), await fixture("stock_crlf_expected.conf"));
    assert.equal((await routeUser({ ...o, paths: { pfConf, stateDir } })).changed, false);
    const listed = await listUserRoutes({
      os: "darwin",
      runner: recorder().runner,
      paths: { pfConf, stateDir },
    });
    assert.deepEqual(listed.map((r) => [r.user, r.mode, r.dev, r.gateway]), [[
      "test1",
      "persist",
      "utun4",
      "192.168.15.2",
    ]]);
    assert.deepEqual(await unrouteUser({ ...o, paths: { pfConf, stateDir } }), { removed: 1 });
    assert.equal(await readFile(pfConf, "utf8"), text);
    assert.ok(!disablesPf(rec.calls));
  });
});
