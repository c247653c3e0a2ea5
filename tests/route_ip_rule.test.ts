/**
 * Per-user routing on Linux. First the exact `ip` argv sequences, recorded; then for real, as
 * root, inside two network namespaces this test creates and deletes: the library runs in the
 * first (a fixture under `ip netns exec`), routes a test uid out of a veth whose peer sits in
 * the second, and the kernel (`ip route get … uid N`, a datagram sent as that uid, the veth's
 * tx counter) says where that uid's traffic goes. Removal must restore the namespace's rules
 * and routes exactly, and the host's rules must never change.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { defaultRunner, RouteCommandError, routeUser, unrouteUser } from "../route/mod.ts";
import { resolveUid } from "../route/_ip_rule.ts";
import { hasTool, needs, otherUser, run, runtime, sleep } from "./_helpers.ts";
import { recorder } from "./_runner.ts";

const IP = "/usr/sbin/ip";
/** The protocol number sockbuf marks its rules and routes with (see route/_ip_rule.ts). */
const PROTOCOL = 115;
const linux = process.platform === "linux";
const paths = { ip: IP, id: "/usr/bin/id" };
const NO_TABLE = {
  code: 2,
  stderr: "Error: ipv4: FIB table does not exist.\nDump terminated\n",
  stdout: "[",
};

describe("Linux ip rule driver, recorded", () => {
  it("route: reads, adds the rule, finds the table empty, adds the route; a name resolves through id -u", async () => {
    const rec = recorder((c) => {
      if (c.file === "/usr/bin/id") return { stdout: "4242\n" };
      if (c.args.includes("route") && c.args.includes("show")) return NO_TABLE;
      if (c.args.includes("show")) return { stdout: '[{"priority":0,"src":"all","table":"local"}]' };
    });
    const r = await routeUser({
      user: "test1",
      dev: "wg0",
      gateway: "10.8.0.1",
      os: "linux",
      runner: rec.runner,
      paths,
    });
    assert.deepEqual(rec.lines(), [
      "/usr/bin/id -u test1",
      `${IP} -N -j -4 rule show`,
      `${IP} -4 rule add uidrange 4242-4242 lookup 104242 priority 10000 protocol 115`,
      `${IP} -N -j -4 route show table 104242`,
      `${IP} -4 route add default via 10.8.0.1 dev wg0 table 104242 proto 115`,
    ]);
    assert.deepEqual(r, {
      changed: true,
      route: {
        os: "linux",
        uid: 4242,
        dev: "wg0",
        gateway: "10.8.0.1",
        family: "inet",
        table: 104242,
        priority: 10000,
      },
    });
  });

  it("route when both are in place runs only the reads and reports no change", async () => {
    const rec = recorder((c) => {
      if (c.args.includes("rule")) {
        return {
          stdout:
            '[{"priority":10000,"src":"all","uid_start":4242,"uid_end":4242,"table":"104242","protocol":"115"}]',
        };
      }
      return { stdout: '[{"dst":"default","gateway":"10.8.0.1","dev":"wg0","protocol":"115","flags":[]}]' };
    });
    const r = await routeUser({
      user: 4242,
      dev: "wg0",
      gateway: "10.8.0.1",
      os: "linux",
      runner: rec.runner,
      paths,
    });
    assert.equal(r.changed, false);
    assert.deepEqual(rec.lines(), [`${IP} -N -j -4 rule show`, `${IP} -N -j -4 route show table 104242`]);
  });

  it("IPv6, no gateway, a chosen table and priority", async () => {
    const rec = recorder((c) =>
      c.args.includes("route") && c.args.includes("show") ? NO_TABLE : { stdout: "[]" }
    );
    await routeUser({
      user: 7,
      dev: "tun0",
      family: "inet6",
      table: "7100",
      priority: 20000,
      os: "linux",
      runner: rec.runner,
      paths,
    });
    assert.deepEqual(rec.lines(), [
      `${IP} -N -j -6 rule show`,
      `${IP} -6 rule add uidrange 7-7 lookup 7100 priority 20000 protocol 115`,
      `${IP} -N -j -6 route show table 7100`,
      `${IP} -6 route add default dev tun0 table 7100 proto 115`,
    ]);
  });

  it("a failing route step deletes the rule this call added, and the error is typed", async () => {
    const rec = recorder((c) => {
      if (c.args.includes("add") && c.args.includes("route")) {
        return { code: 1, stderr: 'Cannot find device "wg9"\n' };
      }
      if (c.args.includes("route") && c.args.includes("show")) return NO_TABLE;
      if (c.args.includes("show")) return { stdout: "[]" };
    });
    await assert.rejects(
      routeUser({ user: 4242, dev: "wg9", os: "linux", runner: rec.runner, paths }),
      (err) => {
        assert.ok(err instanceof RouteCommandError);
        assert.equal(err.reason, "no-such-interface");
        assert.equal(err.interface, "wg9");
        assert.equal(err.exitCode, 1);
        assert.deepEqual(err.argv, [
          IP,
          "-4",
          "route",
          "add",
          "default",
          "dev",
          "wg9",
          "table",
          "104242",
          "proto",
          "115",
        ]);
        return true;
      },
    );
    assert.equal(
      rec.lines().at(-1),
      `${IP} -4 rule del uidrange 4242-4242 lookup 104242 priority 10000 protocol 115`,
    );
  });

  it("remove deletes exactly our rule and default route in both families, leaving other rules alone", async () => {
    const rules4 = JSON.stringify([
      { priority: 0, src: "all", table: "local" },
      { priority: 10000, src: "all", uid_start: 4242, uid_end: 4242, table: "104242", protocol: "115" },
      { priority: 10000, src: "all", uid_start: 4343, uid_end: 4343, table: "104343", protocol: "115" },
      { priority: 9000, src: "all", uid_start: 4242, uid_end: 4242, table: "104242", fwmark: "0x1" },
    ]);
    const rec = recorder((c) => {
      if (c.args.includes("-6")) return c.args.includes("route") ? NO_TABLE : { stdout: "[]" };
      if (c.args.includes("rule") && c.args.includes("show")) return { stdout: rules4 };
      if (c.args.includes("route") && c.args.includes("show")) {
        return {
          stdout:
            '[{"dst":"default","gateway":"10.8.0.1","dev":"wg0","protocol":"115"},{"dst":"10.1.0.0/16","dev":"wg0","protocol":"115"}]',
        };
      }
    });
    assert.deepEqual(await unrouteUser({ user: 4242, os: "linux", runner: rec.runner, paths }), {
      removed: 2,
    });
    assert.deepEqual(rec.lines(), [
      `${IP} -N -j -4 rule show`,
      `${IP} -4 rule del uidrange 4242-4242 lookup 104242 priority 10000 protocol 115`,
      `${IP} -N -j -4 route show table 104242`,
      `${IP} -4 route del default via 10.8.0.1 dev wg0 table 104242 proto 115`,
      `${IP} -N -j -6 rule show`,
      `${IP} -N -j -6 route show table 104242`,
    ]);
  });
});

describe(
  "user names resolve to uids through id -u",
  { skip: !linux && "reads /etc/passwd as the oracle" },
  () => {
    it("agrees with /etc/passwd, and an unknown name is a no-such-user RouteCommandError", async () => {
      const passwd = readFileSync("/etc/passwd", "utf8").split("\n").map((l) => l.split(":"));
      for (const name of ["root", "daemon", "nobody"]) {
        const line = passwd.find((f) => f[0] === name);
        if (line) assert.equal(await resolveUid(name, defaultRunner), Number(line[2]), name);
      }
      await assert.rejects(resolveUid("sockbuf_no_such_user", defaultRunner), (err) => {
        assert.ok(err instanceof RouteCommandError);
        assert.equal(err.reason, "no-such-user");
        return true;
      });
    });
  },
);

const root = typeof process.getuid === "function" && process.getuid() === 0;

/** `ip` in the host namespace or, with `ns`, inside it. */
const ip = (args: string[], ns?: string) => run(IP, ns ? ["-n", ns, ...args] : args);
/** Every rule and route of a namespace (or the host), both families, as text to compare. */
const snapshot = (ns?: string) =>
  ["-4", "-6"].map((f) => ip([f, "rule", "show"], ns) + ip([f, "route", "show", "table", "all"], ns)).join(
    "\n",
  );
const txPackets = (ns: string, dev: string): number =>
  JSON.parse(ip(["-s", "-j", "link", "show", "dev", dev], ns))[0].stats64.tx.packets;
/** The lines of `ip [-6] rule show` in `ns` for one uid. */
const uidRuleLines = (ns: string, uid: number, family = "-4") =>
  ip([family, "rule", "show"], ns).split("\n").filter((l) => l.includes(`uidrange ${uid}-${uid}`));
/** The lines of `ip [-6] route show table T` in `ns`. */
const tableLines = (ns: string, table: number, family = "-4") => {
  const r = spawnSync(IP, ["-n", ns, family, "route", "show", "table", String(table)], { encoding: "utf8" });
  return r.stdout.split("\n").filter((l) => l.trim() !== "");
};

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const script = (name: string, ...args: string[]) =>
  runtime === "deno" ? ["run", "--allow-all", fixture(name), ...args] : [fixture(name), ...args];
let nsCount = 0;

/**
 * Two namespaces of the test's own: `a`, where the library runs, with veth `rt0`
 * (10.231.0.1/24, and with `ipv6` fd00:50::1/64) whose peer `rt1` (10.231.0.2, fd00:50::fe)
 * sits in `b`. IPv6 only on request: a global IPv6 address makes the kernel send MLD reports
 * at moments of its own, which would bump the packet counters a test reads.
 * `api` runs one routing call inside `a` through the fixture; `apiAsync` does the same without
 * blocking, so several processes can overlap. `close` deletes both namespaces.
 */
function namespaces(ipv6 = false) {
  const tag = `sbtest-route-${process.pid}-${++nsCount}`;
  const a = `${tag}-a`;
  const b = `${tag}-b`;
  const argv = (action: string, options: object) => [
    "netns",
    "exec",
    a,
    process.execPath,
    ...script("route_ns.ts", action, JSON.stringify(options)),
  ];
  const parse = (status: number | null, stdout: string, stderr: string) => {
    assert.equal(status, 0, stderr);
    return JSON.parse(stdout.trim().split("\n").at(-1)!);
  };
  const ns = {
    a,
    b,
    /** The library, run inside namespace a. */
    api(action: string, options: object) {
      const r = spawnSync(IP, argv(action, options), { encoding: "utf8", timeout: 30_000 });
      return parse(r.status, r.stdout, r.stderr);
    },
    /**
     * The same, as a separate process that starts its calls at `startAt` (epoch ms), each `ip … show`
     * answer held back `readDelayMs`.
     */
    apiAsync(
      action: string,
      options: object,
      startAt: number,
      readDelayMs = 0,
    ): Promise<Record<string, unknown>> {
      return new Promise((resolve, reject) => {
        const child = spawn(IP, argv(action, options), {
          env: {
            ...process.env,
            SBTEST_START_AT: String(startAt),
            SBTEST_READ_DELAY_MS: String(readDelayMs),
          },
        });
        let out = "";
        let err = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (err += d));
        child.on("error", reject);
        child.on("close", (code) => {
          try {
            resolve(parse(code, out, err));
          } catch (e) {
            reject(e);
          }
        });
      });
    },
    /** `sockbuf` (cli.ts) run inside namespace a: its exit code and output. */
    cli(...args: string[]) {
      const cliPath = fileURLToPath(new URL("../cli.ts", import.meta.url));
      const r = spawnSync(IP, [
        "netns",
        "exec",
        a,
        process.execPath,
        ...(runtime === "deno" ? ["run", "--allow-all", cliPath] : [cliPath]),
        ...args,
      ], { encoding: "utf8", timeout: 30_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    },
    close() {
      spawnSync(IP, ["netns", "delete", a]);
      spawnSync(IP, ["netns", "delete", b]);
    },
  };
  try {
    ip(["netns", "add", a]);
    ip(["netns", "add", b]);
    ip(["link", "set", "lo", "up"], a);
    ip(["link", "add", "rt0", "type", "veth", "peer", "name", "rt1", "netns", b], a);
    // No IPv6 link-local address, so no router solicitations or DAD bump the counters.
    ip(["link", "set", "rt0", "addrgenmode", "none"], a);
    ip(["link", "set", "rt1", "addrgenmode", "none"], b);
    ip(["addr", "add", "10.231.0.1/24", "dev", "rt0"], a);
    ip(["addr", "add", "10.231.0.2/24", "dev", "rt1"], b);
    if (ipv6) {
      ip(["-6", "addr", "add", "fd00:50::1/64", "dev", "rt0", "nodad"], a);
      ip(["-6", "addr", "add", "fd00:50::fe/64", "dev", "rt1", "nodad"], b);
    }
    ip(["link", "set", "rt0", "up"], a);
    ip(["link", "set", "rt1", "up"], b);
  } catch (e) {
    ns.close();
    throw e;
  }
  return ns;
}

/** Runs `fn` with fresh namespaces, deletes them, and checks the host's rules never changed. */
async function inNamespaces(
  fn: (ns: ReturnType<typeof namespaces>) => void | Promise<void>,
  { ipv6 = false } = {},
) {
  const hostBefore = snapshot();
  const ns = namespaces(ipv6);
  try {
    await fn(ns);
  } finally {
    ns.close();
  }
  assert.equal(snapshot(), hostBefore, "the host's rules and routes never changed");
  assert.ok(!ip(["netns", "list"]).includes(ns.a), "the namespaces are gone");
}

/**
 * What `ip monitor route rule` in `ns` sees while `fn` runs: every route or rule the kernel
 * changed. A marker route in a spare table, added and deleted before and after, fences the
 * window, so nothing is missed because the monitor started late or stopped early.
 */
async function monitored(ns: string, fn: () => void): Promise<string> {
  const child = spawn(IP, ["-n", ns, "monitor", "route", "rule"]);
  let seen = "";
  child.stdout.on("data", (d) => (seen += d));
  const marker = async () => {
    const count = () => seen.split("\n").filter((l) => l.includes("192.0.2.0/24")).length;
    const want = count() + 2;
    for (let i = 0; count() < want; i++) {
      if (i % 20 === 0) {
        // Again every second until the monitor shows both: it may not have subscribed yet.
        spawnSync(IP, ["-n", ns, "route", "replace", "192.0.2.0/24", "dev", "lo", "table", "99"]);
        spawnSync(IP, ["-n", ns, "route", "del", "192.0.2.0/24", "dev", "lo", "table", "99"]);
      }
      if (i > 200) throw new Error(`ip monitor never showed the marker: ${seen}`);
      await sleep(50);
    }
    return seen.length;
  };
  try {
    const from = await marker();
    fn();
    await marker();
    const window = seen.slice(from);
    return window.split("\n").filter((l) => l !== "" && !l.includes("192.0.2.0/24")).join("\n");
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.on("close", r));
  }
}

const NEEDS_ROOT = "root and iproute2, to make network namespaces";

describe(
  "Linux per-user routing for real, in namespaces of the test's own",
  { skip: !linux && "Linux only" },
  () => {
    it(
      "routes uid 4242 out of the chosen veth, then removes it without a trace",
      { timeout: 60_000 },
      async (t) => {
        if (!needs(t, root && hasTool(IP, ["-V"]), NEEDS_ROOT)) return;
        if (
          !needs(t, hasTool("setpriv", ["--version"]), "setpriv (util-linux), to send as another uid")
        ) return;
        await inNamespaces(({ a, b, api }) => {
          /** One datagram to 10.99.0.5:9 sent as `uid` from namespace a; the fixture prints sent or the error. */
          const sendAs = (uid: number) => {
            const other = otherUser(uid);
            try {
              const r = spawnSync(IP, [
                "netns",
                "exec",
                a,
                "setpriv",
                `--reuid=${uid}`,
                `--regid=${uid}`,
                "--clear-groups",
                other.exe,
                ...other.argv("udp_send.ts", "10.99.0.5", "9"),
              ], { encoding: "utf8", timeout: 30_000, env: other.env });
              assert.equal(r.status, 0, r.stderr);
              return r.stdout.trim();
            } finally {
              other.remove();
            }
          };
          // The gateway's address is known in advance, so one datagram is exactly one packet (no ARP).
          const mac = JSON.parse(ip(["-j", "link", "show", "dev", "rt1"], b))[0].address;
          ip(["neigh", "replace", "10.231.0.2", "lladdr", mac, "dev", "rt0", "nud", "permanent"], a);
          const before = snapshot(a);

          // A route through a device that does not exist fails, typed, and leaves no rule behind.
          const bad = api("add", { user: 4242, dev: "nosuch0", gateway: "10.231.0.2" });
          assert.equal(bad.error?.name, "RouteCommandError", JSON.stringify(bad));
          assert.equal(bad.error.reason, "no-such-interface");
          assert.equal(snapshot(a), before, "the failed add rolled its rule back");

          const added = api("add", { user: 4242, dev: "rt0", gateway: "10.231.0.2" });
          assert.ok(!added.error, JSON.stringify(added.error));
          assert.equal(added.result.changed, true);
          const again = api("add", { user: "4242", dev: "rt0", gateway: "10.231.0.2" });
          assert.equal(again.result.changed, false, "the second add changes nothing");
          assert.deepEqual(
            uidRuleLines(a, 4242),
            [`10000:\tfrom all uidrange 4242-4242 lookup 104242 proto ${PROTOCOL}`],
            "one rule, carrying our mark",
          );
          assert.deepEqual(
            tableLines(a, 104242),
            [`default via 10.231.0.2 dev rt0 proto ${PROTOCOL} `],
            "one route, carrying our mark",
          );

          const listed = api("list", {});
          assert.deepEqual(listed, {
            result: [{
              os: "linux",
              uid: 4242,
              family: "inet",
              table: 104242,
              priority: 10000,
              dev: "rt0",
              gateway: "10.231.0.2",
            }],
            foreign: [],
          });

          // The kernel's own answer: uid 4242 goes out rt0; another uid has no route at all.
          assert.match(
            ip(["route", "get", "10.99.0.5", "uid", "4242"], a),
            /via 10\.231\.0\.2 dev rt0 table 104242/,
          );
          assert.equal(
            spawnSync(IP, ["-n", a, "route", "get", "10.99.0.5", "uid", "4343"]).status,
            2,
            "unreachable for 4343",
          );

          const tx0 = txPackets(a, "rt0");
          assert.notEqual(sendAs(4343), "sent", "uid 4343 has no route");
          assert.equal(txPackets(a, "rt0"), tx0, "nothing left rt0 for uid 4343");
          assert.equal(sendAs(4242), "sent");
          assert.equal(txPackets(a, "rt0"), tx0 + 1, "uid 4242's datagram left through rt0");

          const removed = api("remove", { user: 4242 });
          assert.deepEqual(removed, { result: { removed: 2 } });
          assert.deepEqual(
            api("remove", { user: 4242 }),
            { result: { removed: 0 } },
            "removing twice finds nothing",
          );
          assert.equal(snapshot(a), before, "the namespace's rules and routes are as before");
          assert.deepEqual(api("list", {}), { result: [], foreign: [] });
        });
      },
    );

    it(
      "four overlapping routeUser calls in one process all succeed and leave one rule and one route",
      { timeout: 60_000 },
      async (t) => {
        if (!needs(t, root && hasTool(IP, ["-V"]), NEEDS_ROOT)) return;
        await inNamespaces(({ a, api }) => {
          const options = { user: 4242, dev: "rt0", gateway: "10.231.0.2" };
          const { results } = api("add-many", { count: 4, options });
          console.log("four calls in one process:", JSON.stringify(results));
          for (const r of results) assert.ok(!r.error, `every call succeeds: ${JSON.stringify(r.error)}`);
          assert.deepEqual(
            results.map((r: { result: { changed: boolean } }) => r.result.changed).sort(),
            [false, false, false, true],
            "exactly one call made the change",
          );
          assert.equal(uidRuleLines(a, 4242).length, 1, "one rule");
          assert.equal(tableLines(a, 104242).length, 1, "one route");
        });
      },
    );

    it(
      "routeUser from four processes at once: every one succeeds, one rule and one route remain",
      { timeout: 60_000 },
      async (t) => {
        if (!needs(t, root && hasTool(IP, ["-V"]), NEEDS_ROOT)) return;
        await inNamespaces(async ({ a, apiAsync }) => {
          const options = { user: 4242, dev: "rt0", gateway: "10.231.0.2" };
          // Each process waits for the same instant and its reads are held back 500 ms, so every
          // process reads the state before any of them changes it: the race, made certain.
          const startAt = Date.now() + (runtime === "deno" ? 3000 : 1500);
          const results = await Promise.all(
            [1, 2, 3, 4].map(() => apiAsync("add", options, startAt, 500)),
          );
          console.log("four processes:", JSON.stringify(results));
          for (const r of results) assert.ok(!r.error, `every process succeeds: ${JSON.stringify(r.error)}`);
          assert.ok(results.some((r) => (r.result as { changed: boolean }).changed), "one made the change");
          assert.equal(uidRuleLines(a, 4242).length, 1, "one rule");
          assert.equal(tableLines(a, 104242).length, 1, "one route");
        });
      },
    );

    it(
      "unrouteUser from four processes at once: every one succeeds, and together they removed our two",
      { timeout: 60_000 },
      async (t) => {
        if (!needs(t, root && hasTool(IP, ["-V"]), NEEDS_ROOT)) return;
        await inNamespaces(async ({ a, api, apiAsync }) => {
          const before = snapshot(a);
          const added = api("add", { user: 4242, dev: "rt0", gateway: "10.231.0.2" });
          assert.ok(!added.error, JSON.stringify(added.error));
          const startAt = Date.now() + (runtime === "deno" ? 3000 : 1500);
          const results = await Promise.all(
            [1, 2, 3, 4].map(() => apiAsync("remove", { user: 4242 }, startAt, 500)),
          );
          console.log("four removing processes:", JSON.stringify(results));
          for (const r of results) assert.ok(!r.error, `every process succeeds: ${JSON.stringify(r.error)}`);
          const removed = results.map((r) => (r.result as { removed: number }).removed);
          assert.equal(removed.reduce((n, m) => n + m, 0), 2, "one rule and one route, each removed once");
          assert.equal(snapshot(a), before, "nothing of ours is left");
        });
      },
    );

    it(
      "an IPv6 gateway written non-canonically is the same gateway: a second add changes nothing",
      { timeout: 60_000 },
      async (t) => {
        if (!needs(t, root && hasTool(IP, ["-V"]), NEEDS_ROOT)) return;
        await inNamespaces(async ({ a, api }) => {
          const options = { user: 4242, dev: "rt0", gateway: "fd00:50:0:0::fe" };
          const first = api("add", options);
          assert.ok(!first.error, JSON.stringify(first.error));
          assert.deepEqual(
            tableLines(a, 104242, "-6").map((l) => l.split(" ").slice(0, 5).join(" ")),
            ["default via fd00:50::fe dev rt0"],
            "ip shows the gateway in its canonical form",
          );
          let second: Record<string, { changed?: boolean }> = {};
          const seen = await monitored(a, () => (second = api("add", options)));
          console.log("second add:", JSON.stringify(second), "ip monitor saw:", JSON.stringify(seen));
          assert.ok(!second.error, JSON.stringify(second.error));
          assert.equal(second.result.changed, false, "the second add reports no change");
          assert.equal(seen, "", "the kernel saw no route or rule change");
          assert.equal(uidRuleLines(a, 4242, "-6").length, 1, "one rule");
          assert.equal(tableLines(a, 104242, "-6").length, 1, "one route");
        }, { ipv6: true });
      },
    );

    it(
      "unrouteUser leaves a default route it did not make alone, with no rule of ours, and reports it",
      { timeout: 60_000 },
      async (t) => {
        if (!needs(t, root && hasTool(IP, ["-V"]), NEEDS_ROOT)) return;
        await inNamespaces(({ a, api, cli }) => {
          // Someone else's: a default route in table 104242 and a rule for uid 4242, neither ours.
          ip(["route", "add", "default", "via", "10.231.0.2", "dev", "rt0", "table", "104242"], a);
          ip(["rule", "add", "uidrange", "4242-4242", "lookup", "104242", "priority", "10000"], a);
          const before = snapshot(a);
          const removed = api("remove", { user: 4242 });
          console.log("remove with only foreign entries:", JSON.stringify(removed));
          assert.equal(snapshot(a), before, "nothing was removed");
          assert.deepEqual(removed, {
            result: {
              removed: 0,
              foreign: [
                { kind: "rule", family: "inet", uid: 4242, table: 104242, priority: 10000, protocol: 0 },
                {
                  kind: "route",
                  family: "inet",
                  table: 104242,
                  dev: "rt0",
                  gateway: "10.231.0.2",
                  protocol: 3,
                },
              ],
            },
          });
          // The command line says the same, and succeeds.
          const out = cli("route", "remove", "--user", "4242");
          console.log("sockbuf route remove:", JSON.stringify(out));
          assert.equal(out.code, 0, out.stderr);
          assert.equal(
            out.stdout,
            "nothing of ours to remove\nnot made by sockbuf, left alone:\n" +
              " inet rule uidrange 4242-4242 lookup 104242 priority 10000 protocol 0\n" +
              " inet route default via 10.231.0.2 dev rt0 table 104242 proto 3\n",
          );
          assert.equal(snapshot(a), before, "nothing was removed");
        });
      },
    );

    it(
      "routeUser does not take over a default route it did not make: a typed error, nothing changed",
      { timeout: 60_000 },
      async (t) => {
        if (!needs(t, root && hasTool(IP, ["-V"]), NEEDS_ROOT)) return;
        await inNamespaces(({ a, api }) => {
          ip(["route", "add", "default", "via", "10.231.0.2", "dev", "rt0", "table", "104242"], a);
          const before = snapshot(a);
          const added = api("add", { user: 4242, dev: "rt0" });
          console.log("add over a foreign default route:", JSON.stringify(added));
          assert.equal(added.error?.name, "RouteCommandError", JSON.stringify(added));
          assert.equal(added.error.reason, "exists");
          assert.match(added.error.message, /table 104242 already has a default route sockbuf did not make/);
          assert.equal(
            snapshot(a),
            before,
            "the foreign route stays, and the rule this call added went again",
          );
        });
      },
    );

    it(
      "next to foreign entries, list shows only ours and reports the rest; removal takes only ours",
      { timeout: 60_000 },
      async (t) => {
        if (!needs(t, root && hasTool(IP, ["-V"]), NEEDS_ROOT)) return;
        await inNamespaces(({ a, api }) => {
          const before = snapshot(a);
          const added = api("add", { user: 4242, dev: "rt0", gateway: "10.231.0.2" });
          assert.ok(!added.error, JSON.stringify(added.error));
          // Foreign neighbours: a backup default route (metric 50, proto static) in our table, a
          // rule for the same uid at another priority, and another uid's rule.
          const foreign = [
            ["route", "add", "default", "via", "10.231.0.2", "dev", "rt0", "table", "104242", "metric", "50"],
            ["route", "add", "default", "dev", "rt0", "table", "104343", "proto", "static"],
            ["rule", "add", "uidrange", "4242-4242", "lookup", "104242", "priority", "9000"],
            ["rule", "add", "uidrange", "4343-4343", "lookup", "104343", "priority", "10000"],
          ];
          for (const args of foreign) ip(args, a);
          const withForeign = snapshot(a);

          const listed = api("list", {});
          console.log("list next to foreign entries:", JSON.stringify(listed));
          assert.deepEqual(listed.result, [{
            os: "linux",
            uid: 4242,
            family: "inet",
            table: 104242,
            priority: 10000,
            dev: "rt0",
            gateway: "10.231.0.2",
          }], "only ours is listed");
          assert.deepEqual(listed.foreign, [
            { kind: "rule", family: "inet", uid: 4242, table: 104242, priority: 9000, protocol: 0 },
            { kind: "rule", family: "inet", uid: 4343, table: 104343, priority: 10000, protocol: 0 },
            {
              kind: "route",
              family: "inet",
              table: 104242,
              dev: "rt0",
              gateway: "10.231.0.2",
              metric: 50,
              protocol: 3,
            },
          ]);

          const removed = api("remove", { user: 4242 });
          console.log("remove next to foreign entries:", JSON.stringify(removed));
          assert.equal(removed.result.removed, 2, "our rule and our route");
          assert.deepEqual(removed.result.foreign, [
            { kind: "rule", family: "inet", uid: 4242, table: 104242, priority: 9000, protocol: 0 },
            {
              kind: "route",
              family: "inet",
              table: 104242,
              dev: "rt0",
              gateway: "10.231.0.2",
              metric: 50,
              protocol: 3,
            },
          ]);
          // What is left is exactly the foreign entries: adding them to the first snapshot gives it back.
          assert.equal(
            snapshot(a),
            withForeign.split("\n").filter((l) => !l.includes(`proto ${PROTOCOL}`)).join("\n"),
          );
          for (const args of foreign) ip([...args.slice(0, 1), "del", ...args.slice(2)], a);
          assert.equal(snapshot(a), before, "and nothing else changed");
        });
      },
    );
  },
);
