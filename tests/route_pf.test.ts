/**
 * The macOS pf helper, run here on fixtures and a recording runner (pfctl itself cannot run
 * on Linux): the rule builder's exact text, the pf.conf transforms on literal fixtures, and
 * the exact pfctl argv and stdin sequences for apply and remove in both modes, including
 * every rollback. No recorded sequence may ever disable pf (`-d`).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmod,
  chown,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { after, before, describe, it } from "node:test";
import {
  applyAnchor,
  applyPersist,
  buildPfRules,
  insertPfConfRules,
  PfConfError,
  removeAnchor,
  removePersist,
  removePfConfRules,
  RouteCommandError,
  RouteError,
} from "../route/pf.ts";
import { listUserRoutes, routeUser, unrouteUser } from "../route/mod.ts";
import { findPfConfRules } from "../route/_pf_conf.ts";
import { pfctlFailure } from "../route/_pfctl.ts";
import { hasTool, needs } from "./_helpers.ts";
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

/** Temp files get unpredictable names: `pf.conf.sockbuf-<16 hex digits>.tmp`. */
const RANDOM_TMP = /\.sockbuf-[0-9a-f]{16}\.tmp$/;
/** Each call as one line, the random part of a temp file's name written RANDOM. */
const argv = (calls: Call[]) =>
  calls.map((c) => [c.file, ...c.args.map((a) => a.replace(RANDOM_TMP, ".sockbuf-RANDOM.tmp"))].join(" "));

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
    const tokenFile = join(stateDir, "pf-anchor-com.apple%2Fsockbuf.test1.token");
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
    await assert.rejects(stat(join(stateDir, "pf-anchor-com.apple%2Fsockbuf.test1.token")), {
      code: "ENOENT",
    });
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
      `${PFCTL} -nf ${pfConf}.sockbuf-RANDOM.tmp`,
      `${PFCTL} -f ${pfConf}`,
      `${PFCTL} -E`,
    ]);
    assert.equal(await readFile(pfConf, "utf8"), await fixture("stock_expected.conf"));
    assert.equal(await readFile(`${pfConf}.sockbuf.bak`, "utf8"), text, "the backup is the file before");
    assert.equal((await stat(pfConf)).mode & 0o777, 0o644, "the mode is kept");
    await assert.rejects(stat(rec.calls[0].args[1]), { code: "ENOENT" });

    assert.equal(await applyPersist(seed, { runner: rec.runner, pfConf, stateDir }), false);
    assert.equal(rec.calls.length, 3, "the second apply ran nothing");
    assert.equal(await readFile(pfConf, "utf8"), await fixture("stock_expected.conf"), "one line, not two");

    assert.equal(await removePersist("test1", { runner: rec.runner, pfConf, stateDir }), 1);
    assert.deepEqual(argv(rec.calls).slice(3), [
      `${PFCTL} -nf ${pfConf}.sockbuf-RANDOM.tmp`,
      `${PFCTL} -f ${pfConf}`,
      `${PFCTL} -X ${TOKEN}`,
    ]);
    assert.equal(await readFile(pfConf, "utf8"), text);
    assert.notEqual(rec.calls[3].args[1], rec.calls[0].args[1], "each temp file gets a new name");
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
      assert.ok(err.file?.startsWith(`${pfConf}.sockbuf-`) && RANDOM_TMP.test(err.file), String(err.file));
      assert.equal(err.line, 10);
      return true;
    });
    assert.deepEqual(argv(rec.calls), [`${PFCTL} -nf ${pfConf}.sockbuf-RANDOM.tmp`]);
    assert.equal(await readFile(pfConf, "utf8"), text);
    await assert.rejects(stat(rec.calls[0].args[1]), { code: "ENOENT" });
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
      `${PFCTL} -nf ${pfConf}.sockbuf-RANDOM.tmp`,
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
      `${PFCTL} -nf ${pfConf}.sockbuf-RANDOM.tmp`,
      `${PFCTL} -f ${pfConf}`,
      `${PFCTL} -E`,
      `${PFCTL} -nf ${pfConf}.sockbuf-RANDOM.tmp`,
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

// ---- state and token files: what another user could plant must never be written through or trusted ----

const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;
/** The token file of anchor com.apple/sockbuf.test1 as versions before the fix named it, and its fixed temp name. */
const OLD_TOKEN = "pf-com.apple+sockbuf.test1.token";
const OLD_TOKEN_TMP = `${OLD_TOKEN}.sockbuf.tmp`;
/** The same token file now: mode prefix, then the anchor percent-encoded (`/` as %2F). */
const NEW_TOKEN = "pf-anchor-com.apple%2Fsockbuf.test1.token";

/** A state directory of the given mode under a directory uid 65534 can traverse, plus a file outside it. */
async function exposed(mode: number): Promise<{ stateDir: string; victim: string; root: string }> {
  const root = await mkdtemp(join(tmpdir(), "sockbuf-pf-state-"));
  await chmod(root, 0o755);
  const stateDir = join(root, "state");
  await mkdir(stateDir);
  await chmod(stateDir, mode);
  const victim = join(root, "victim");
  await writeFile(victim, "victim's own text\n");
  await chmod(victim, 0o644);
  return { stateDir, victim, root };
}

/** Writes `text` to `file` as uid 65534 (setpriv, then tee: a real process of another user); true if it could. */
function writeAsNobody(file: string, text: string): boolean {
  const r = spawnSync(
    "setpriv",
    [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "tee", file],
    { input: text, stdio: ["pipe", "ignore", "ignore"] },
  );
  return r.status === 0;
}

/** The driver refused a state or token file: a RouteError named PfStateError, with this reason and path. */
function refused(reason: string, path: string) {
  return (err: unknown) => {
    assert.ok(err instanceof RouteError, `expected a RouteError, got ${err}`);
    assert.equal(err.name, "PfStateError", err.message);
    assert.equal((err as { reason?: string }).reason, reason, err.message);
    assert.equal((err as { path?: string }).path, path, err.message);
    assert.ok(err.message.includes(path), `the message names the path: ${err.message}`);
    return true;
  };
}

const ANCHOR = "com.apple/sockbuf.test1";
const anchorEnabled = (c: Call) => c.args[0] === "-E" ? enabled : undefined;

describe("state and token files that another user could have planted", () => {
  it("a symlink planted at the token's temp name in a state dir others can write: refused, its target untouched", async () => {
    const { stateDir, victim, root } = await exposed(0o777);
    try {
      await symlink(victim, join(stateDir, OLD_TOKEN_TMP));
      const rec = recorder(anchorEnabled);
      await assert.rejects(
        applyAnchor(seed, ANCHOR, { runner: rec.runner, stateDir }),
        refused("unsafe-mode", stateDir),
      );
      assert.equal(await readFile(victim, "utf8"), "victim's own text\n", "the link's target is untouched");
      assert.deepEqual(rec.calls, [], "nothing ran: pf is untouched too");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("a 0666 temp file of uid 65534 at the old temp name never becomes the token; its owner cannot reach pfctl -X", async (t) => {
    if (!needs(t, isRoot, "root (to chown a file to uid 65534)")) return;
    if (!needs(t, hasTool("setpriv", ["--version"]), "setpriv (util-linux)")) return;
    const { stateDir, root } = await exposed(0o755);
    try {
      const planted = join(stateDir, OLD_TOKEN_TMP);
      await writeFile(planted, "");
      await chmod(planted, 0o666);
      await chown(planted, NOBODY, NOBODY);
      const rec = recorder(anchorEnabled);
      await applyAnchor(seed, ANCHOR, { runner: rec.runner, stateDir });
      // uid 65534 rewrites every token file it can reach, as in the report.
      const tokens = (await readdir(stateDir)).filter((n) => n.endsWith(".token"));
      assert.equal(tokens.length, 1, `one token file: ${tokens}`);
      const st = await lstat(join(stateDir, tokens[0]));
      const written = writeAsNobody(join(stateDir, tokens[0]), "31337\n");
      await removeAnchor(ANCHOR, { runner: rec.runner, stateDir });
      assert.ok(!argv(rec.calls).includes(`${PFCTL} -X 31337`), argv(rec.calls).join("\n"));
      assert.equal(argv(rec.calls).at(-1), `${PFCTL} -X ${TOKEN}`, "our own reference is released");
      assert.equal(written, false, "uid 65534 cannot write the token file");
      assert.equal(st.uid, process.getuid!(), "the token file is ours, not uid 65534's");
      assert.equal(st.mode & 0o777, 0o600);
      assert.equal(await readFile(planted, "utf8"), "", "the planted file was never written");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("a 0666 token file owned by uid 65534 is refused: no pfctl -X of its token, and apply takes nothing from it", async (t) => {
    if (!needs(t, isRoot, "root (to chown a file to uid 65534)")) return;
    const { stateDir, root } = await exposed(0o755);
    try {
      // At today's name and at the fixed name, so the check holds whichever name is read.
      for (const name of [OLD_TOKEN, NEW_TOKEN]) {
        await writeFile(join(stateDir, name), "31337\n");
        await chmod(join(stateDir, name), 0o666);
        await chown(join(stateDir, name), NOBODY, NOBODY);
      }
      const rec = recorder(anchorEnabled);
      await assert.rejects(
        removeAnchor(ANCHOR, { runner: rec.runner, stateDir }),
        refused("wrong-owner", join(stateDir, NEW_TOKEN)),
      );
      await assert.rejects(
        applyAnchor(seed, ANCHOR, { runner: rec.runner, stateDir }),
        refused("wrong-owner", join(stateDir, NEW_TOKEN)),
      );
      assert.ok(!rec.calls.some((c) => c.args[0] === "-X"), argv(rec.calls).join("\n"));
      assert.equal(
        await readFile(join(stateDir, NEW_TOKEN), "utf8"),
        "31337\n",
        "left for the admin to inspect",
      );
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("a token file of ours that group or others could read or write, or a symlink to one, is refused", async () => {
    const { stateDir, root } = await exposed(0o755);
    try {
      const file = join(stateDir, NEW_TOKEN);
      const rec = recorder(anchorEnabled);
      await writeFile(join(stateDir, "elsewhere"), "31337\n", { mode: 0o600 });
      await symlink(join(stateDir, "elsewhere"), file);
      await assert.rejects(removeAnchor(ANCHOR, { runner: rec.runner, stateDir }), refused("symlink", file));
      await rm(file);
      await writeFile(file, "31337\n");
      await chmod(file, 0o644);
      await assert.rejects(
        removeAnchor(ANCHOR, { runner: rec.runner, stateDir }),
        refused("unsafe-mode", file),
      );
      assert.ok(!rec.calls.some((c) => c.args[0] === "-X"), argv(rec.calls).join("\n"));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("a FIFO at the token's name is refused without blocking; a file at the state dir's name is refused", async (t) => {
    if (!needs(t, hasTool("mkfifo", ["--version"]), "mkfifo (coreutils)")) return;
    const { stateDir, root } = await exposed(0o700);
    try {
      const file = join(stateDir, NEW_TOKEN);
      spawnSync("mkfifo", ["-m", "600", file]);
      const rec = recorder(anchorEnabled);
      await assert.rejects(
        removeAnchor(ANCHOR, { runner: rec.runner, stateDir }),
        refused("not-a-file", file),
      );
      const notDir = join(root, "victim");
      await assert.rejects(
        applyAnchor(seed, ANCHOR, { runner: rec.runner, stateDir: notDir }),
        refused("not-a-directory", notDir),
      );
      assert.deepEqual(rec.calls, []);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("a state dir that group or others can write is refused, with nothing run", async () => {
    for (const mode of [0o777, 0o770, 0o707, 0o1777]) {
      const { stateDir, root } = await exposed(mode);
      try {
        const rec = recorder(anchorEnabled);
        await assert.rejects(
          applyAnchor(seed, ANCHOR, { runner: rec.runner, stateDir }),
          refused("unsafe-mode", stateDir),
        );
        await assert.rejects(
          removeAnchor(ANCHOR, { runner: rec.runner, stateDir }),
          refused("unsafe-mode", stateDir),
        );
        assert.deepEqual(rec.calls, [], `mode ${mode.toString(8)}`);
        assert.deepEqual(await readdir(stateDir), [], "no file was made in it");
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    }
  });

  it("a state dir owned by another user is refused", async (t) => {
    if (!needs(t, isRoot, "root (to chown a directory to uid 65534)")) return;
    const { stateDir, root } = await exposed(0o700);
    try {
      await chown(stateDir, NOBODY, NOBODY);
      const rec = recorder(anchorEnabled);
      await assert.rejects(
        applyAnchor(seed, ANCHOR, { runner: rec.runner, stateDir }),
        refused("wrong-owner", stateDir),
      );
      assert.deepEqual(rec.calls, []);
      assert.deepEqual(await readdir(stateDir), []);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("a state dir that is a symlink, even to a safe directory, is refused", async () => {
    const { stateDir: real, root } = await exposed(0o700);
    try {
      const stateDir = join(root, "link");
      await symlink(real, stateDir);
      const rec = recorder(anchorEnabled);
      await assert.rejects(
        applyAnchor(seed, ANCHOR, { runner: rec.runner, stateDir }),
        refused("symlink", stateDir),
      );
      assert.deepEqual(rec.calls, []);
      assert.deepEqual(await readdir(real), [], "nothing was written through the link");
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("a missing state dir is made 0700 and ours", async () => {
    const { root } = await exposed(0o700);
    try {
      const stateDir = join(root, "new", "state");
      await applyAnchor(seed, ANCHOR, { runner: recorder(anchorEnabled).runner, stateDir });
      const st = await lstat(stateDir);
      assert.ok(st.isDirectory());
      assert.equal(st.mode & 0o777, 0o700);
      assert.equal(st.uid, process.getuid!());
      assert.deepEqual(await readdir(stateDir), [NEW_TOKEN]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("a symlink planted at pf.conf's temp name: refused, its target and pf.conf untouched, nothing run", async () => {
    const { pfConf, stateDir, text } = await scratch("stock.conf");
    const victim = join(dirname(pfConf), "victim");
    await writeFile(victim, "victim's own text\n");
    await symlink(victim, `${pfConf}.sockbuf.tmp`);
    const rec = recorder(anchorEnabled);
    await assert.rejects(
      applyPersist(seed, { runner: rec.runner, pfConf, stateDir }),
      refused("foreign-file", `${pfConf}.sockbuf.tmp`),
    );
    assert.equal(await readFile(victim, "utf8"), "victim's own text\n");
    assert.ok((await lstat(pfConf)).isFile(), "pf.conf is still a file, not the link");
    assert.equal(await readFile(pfConf, "utf8"), text);
    assert.deepEqual(rec.calls, []);
  });

  it("a symlink planted at pf.conf's backup name is replaced, never written through", async () => {
    const { pfConf, stateDir, text } = await scratch("stock.conf");
    const victim = join(dirname(pfConf), "victim");
    await writeFile(victim, "victim's own text\n");
    await symlink(victim, `${pfConf}.sockbuf.bak`);
    const rec = recorder(anchorEnabled);
    assert.equal(await applyPersist(seed, { runner: rec.runner, pfConf, stateDir }), true);
    assert.equal(await readFile(victim, "utf8"), "victim's own text\n");
    const bak = await lstat(`${pfConf}.sockbuf.bak`);
    assert.ok(bak.isFile() && !bak.isSymbolicLink(), "the backup is a file of its own");
    assert.equal(await readFile(`${pfConf}.sockbuf.bak`, "utf8"), text);
    assert.equal(await readFile(pfConf, "utf8"), await fixture("stock_expected.conf"));
  });

  it("a 0666 file of uid 65534 at pf.conf's temp name is refused; a stale temp file of ours is removed", async (t) => {
    if (!needs(t, isRoot, "root (to chown a file to uid 65534)")) return;
    const { pfConf, stateDir, text } = await scratch("stock.conf");
    const foreign = `${pfConf}.sockbuf.tmp`;
    await writeFile(foreign, "");
    await chmod(foreign, 0o666);
    await chown(foreign, NOBODY, NOBODY);
    const rec = recorder(anchorEnabled);
    await assert.rejects(
      applyPersist(seed, { runner: rec.runner, pfConf, stateDir }),
      refused("foreign-file", foreign),
    );
    assert.equal(await readFile(foreign, "utf8"), "");
    assert.equal(await readFile(pfConf, "utf8"), text);
    assert.deepEqual(rec.calls, []);

    // The same name holding a file of ours, as an interrupted run leaves it, is cleared away;
    // a fresh one may be a running apply's, so it is left to it.
    await chown(foreign, 0, 0);
    await chmod(foreign, 0o644);
    const fresh = `${pfConf}.sockbuf-0123456789abcdef.tmp`;
    await writeFile(fresh, "");
    const twoMinutesAgo = new Date(Date.now() - 120_000);
    await utimes(foreign, twoMinutesAgo, twoMinutesAgo);
    assert.equal(await applyPersist(seed, { runner: rec.runner, pfConf, stateDir }), true);
    assert.equal(await readFile(fresh, "utf8"), "", "a fresh temp file is left alone");
    await rm(fresh);
    await assert.rejects(lstat(foreign), { code: "ENOENT" });
    assert.deepEqual((await readdir(dirname(pfConf))).filter((n) => n.endsWith(".tmp")), []);
  });
});

describe("token keys: one per mode and anchor or user", () => {
  it("anchor persist/test1 and persist mode for test1 hold separate references; removing one keeps the other", async () => {
    const { pfConf, stateDir } = await scratch("stock.conf");
    let next = 100;
    const rec = recorder((c) =>
      c.args[0] === "-E" ? { stderr: `pf enabled\nToken : ${next++}\n` } : undefined
    );
    const o = { runner: rec.runner, pfConf, stateDir };
    assert.equal(await applyAnchor(seed, "persist/test1", o), true);
    assert.equal(await applyPersist(seed, o), true);
    assert.equal(rec.calls.filter((c) => c.args[0] === "-E").length, 2, "each took its own reference");
    const files = await readdir(stateDir);
    assert.equal(files.length, 2, `two token files: ${files}`);

    await removeAnchor("persist/test1", o);
    assert.equal(argv(rec.calls).at(-1), `${PFCTL} -X 100`);
    assert.equal((await readdir(stateDir)).length, 1, "the persist token file stays");
    assert.equal(await removePersist("test1", o), 1);
    assert.equal(argv(rec.calls).at(-1), `${PFCTL} -X 101`, "persist mode releases its own reference");
    assert.deepEqual(await readdir(stateDir), []);
  });

  it("an anchor too long to name its token file is a RangeError saying so, before pfctl runs", async () => {
    const { stateDir } = await scratch("stock.conf");
    const long = Array(4).fill("a".repeat(63)).join("/"); // the longest anchor the grammar allows
    const rec = recorder(anchorEnabled);
    await assert.rejects(applyAnchor(seed, long, { runner: rec.runner, stateDir }), (err: Error) => {
      assert.ok(err instanceof RangeError);
      assert.match(err.message, /^anchor: .* is too long to name its token file: 261 bytes .*, at most 210$/);
      return true;
    });
    assert.deepEqual(rec.calls, []);
    // 3 x 63 + 3 x "%2F" + 12 = 210 bytes encoded: the limit, with room for the temp file's suffix.
    const fits = Array(3).fill("a".repeat(63)).join("/") + "/" + "a".repeat(12);
    await assert.rejects(applyAnchor(seed, fits + "a", { runner: rec.runner, stateDir }), RangeError);
    assert.equal(await applyAnchor(seed, fits, { runner: rec.runner, stateDir }), true);
    assert.deepEqual(await readdir(stateDir), [`pf-anchor-${fits.replaceAll("/", "%2F")}.token`]);
  });

  it("over many (mode, name) pairs every token file name is distinct and decodes back to its pair", async () => {
    const { pfConf, stateDir } = await scratch("stock.conf");
    const parts = [
      "persist",
      "anchor",
      "test1",
      "a",
      "a-b",
      "a.b",
      "b",
      "_",
      "2F",
      "sockbuf.test1",
      "com.apple",
    ];
    const anchors = [...parts, ...parts.flatMap((p) => parts.map((q) => `${p}/${q}`)), "a/b/c/d", "a-b/c"];
    const users = ["test1", "a", "persist", "anchor", "_", "a-b", "a.b", "b", "F2", "501", "x.2F"];
    let next = 1;
    const byToken = new Map<string, string>();
    const rec = recorder((c) => {
      if (c.args[0] !== "-E") return undefined;
      const token = String(next++);
      return { stderr: `Token : ${token}\n` };
    });
    const o = { runner: rec.runner, pfConf, stateDir };
    for (const anchor of anchors) {
      await applyAnchor(seed, anchor, o);
      byToken.set(String(next - 1), `anchor ${anchor}`);
    }
    for (const user of users) {
      await applyPersist(buildPfRules({ user, routeTo: "utun4" }), o);
      byToken.set(String(next - 1), `persist ${user}`);
    }
    assert.equal(next - 1, anchors.length + users.length, "every pair took a reference of its own");
    const files = (await readdir(stateDir)).sort();
    assert.equal(files.length, anchors.length + users.length, "one file per pair");
    for (const file of files) {
      // decodeURIComponent is the oracle: the name is mode, '-', then the name percent-encoded.
      const m = /^pf-(anchor|persist)-(.+)\.token$/.exec(file);
      assert.ok(m, file);
      const token = (await readFile(join(stateDir, file), "utf8")).trim();
      assert.equal(`${m[1]} ${decodeURIComponent(m[2])}`, byToken.get(token), file);
    }
    // Removal releases exactly each pair's own token.
    for (const anchor of anchors.slice(0, 20)) {
      await removeAnchor(anchor, o);
      const released = argv(rec.calls).at(-1)!.split(" ").at(-1)!;
      assert.equal(byToken.get(released), `anchor ${anchor}`);
    }
    for (const user of users) {
      await removePersist(user, o);
      const released = argv(rec.calls).at(-1)!.split(" ").at(-1)!;
      assert.equal(byToken.get(released), `persist ${user}`);
    }
    assert.equal((await readdir(stateDir)).length, anchors.length - 20);
  });
});
