/**
 * Per-user routing on Linux. First the exact `ip` argv sequences, recorded; then for real, as
 * root, inside two network namespaces this test creates and deletes: the library runs in the
 * first (a fixture under `ip netns exec`), routes a test uid out of a veth whose peer sits in
 * the second, and the kernel (`ip route get … uid N`, a datagram sent as that uid, the veth's
 * tx counter) says where that uid's traffic goes. Removal must restore the namespace's rules
 * and routes exactly, and the host's rules must never change.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { readFileSync } from "node:fs";
import { defaultRunner, RouteCommandError, routeUser, unrouteUser } from "../route.ts";
import { resolveUid } from "../platform/ip_rule.ts";
import { hasTool, needs, otherUser, run, runtime } from "./_helpers.ts";
import { recorder } from "./_runner.ts";

const IP = "/usr/sbin/ip";
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
      `${IP} -j -4 rule show`,
      `${IP} -4 rule add uidrange 4242-4242 lookup 104242 priority 10000`,
      `${IP} -j -4 route show table 104242`,
      `${IP} -4 route replace default via 10.8.0.1 dev wg0 table 104242`,
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
          stdout: '[{"priority":10000,"src":"all","uid_start":4242,"uid_end":4242,"table":"104242"}]',
        };
      }
      return { stdout: '[{"dst":"default","gateway":"10.8.0.1","dev":"wg0","flags":[]}]' };
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
    assert.deepEqual(rec.lines(), [`${IP} -j -4 rule show`, `${IP} -j -4 route show table 104242`]);
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
      `${IP} -j -6 rule show`,
      `${IP} -6 rule add uidrange 7-7 lookup 7100 priority 20000`,
      `${IP} -j -6 route show table 7100`,
      `${IP} -6 route replace default dev tun0 table 7100`,
    ]);
  });

  it("a failing route step deletes the rule this call added, and the error is typed", async () => {
    const rec = recorder((c) => {
      if (c.args.includes("replace")) return { code: 1, stderr: 'Cannot find device "wg9"\n' };
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
          "replace",
          "default",
          "dev",
          "wg9",
          "table",
          "104242",
        ]);
        return true;
      },
    );
    assert.equal(rec.lines().at(-1), `${IP} -4 rule del uidrange 4242-4242 lookup 104242 priority 10000`);
  });

  it("remove deletes exactly our rule and default route in both families, leaving other rules alone", async () => {
    const rules4 = JSON.stringify([
      { priority: 0, src: "all", table: "local" },
      { priority: 10000, src: "all", uid_start: 4242, uid_end: 4242, table: "104242" },
      { priority: 10000, src: "all", uid_start: 4343, uid_end: 4343, table: "104343" },
      { priority: 9000, src: "all", uid_start: 4242, uid_end: 4242, table: "104242", fwmark: "0x1" },
    ]);
    const rec = recorder((c) => {
      if (c.args.includes("-6")) return c.args.includes("route") ? NO_TABLE : { stdout: "[]" };
      if (c.args.includes("rule") && c.args.includes("show")) return { stdout: rules4 };
      if (c.args.includes("route") && c.args.includes("show")) {
        return {
          stdout: '[{"dst":"default","gateway":"10.8.0.1","dev":"wg0"},{"dst":"10.1.0.0/16","dev":"wg0"}]',
        };
      }
    });
    assert.deepEqual(await unrouteUser({ user: 4242, os: "linux", runner: rec.runner, paths }), {
      removed: 2,
    });
    assert.deepEqual(rec.lines(), [
      `${IP} -j -4 rule show`,
      `${IP} -4 rule del uidrange 4242-4242 lookup 104242 priority 10000`,
      `${IP} -j -4 route show table 104242`,
      `${IP} -4 route del default via 10.8.0.1 dev wg0 table 104242`,
      `${IP} -j -6 rule show`,
      `${IP} -j -6 route show table 104242`,
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

describe(
  "Linux per-user routing for real, in namespaces of the test's own",
  { skip: !linux && "Linux only" },
  () => {
    it(
      "routes uid 4242 out of the chosen veth, then removes it without a trace",
      { timeout: 60_000 },
      (t) => {
        if (!needs(t, root && hasTool(IP, ["-V"]), "root and iproute2, to make network namespaces")) return;
        if (
          !needs(t, hasTool("setpriv", ["--version"]), "setpriv (util-linux), to send as another uid")
        ) return;
        const hostBefore = snapshot();
        const a = `sockbuf-route-a-${process.pid}`;
        const b = `sockbuf-route-b-${process.pid}`;
        const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
        const script = (name: string, ...args: string[]) =>
          runtime === "deno" ? ["run", "--allow-all", fixture(name), ...args] : [fixture(name), ...args];
        /** The library, run inside namespace a. */
        const api = (action: string, options: object) => {
          const r = spawnSync(IP, [
            "netns",
            "exec",
            a,
            process.execPath,
            ...script("route_ns.ts", action, JSON.stringify(options)),
          ], {
            encoding: "utf8",
            timeout: 30_000,
          });
          assert.equal(r.status, 0, r.stderr);
          return JSON.parse(r.stdout.trim().split("\n").at(-1)!);
        };
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
          ip(["link", "set", "rt0", "up"], a);
          ip(["link", "set", "rt1", "up"], b);
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
          const rules = ip(["rule", "show"], a).split("\n").filter((l) => l.includes("uidrange 4242-4242"));
          assert.deepEqual(rules, ["10000:\tfrom all uidrange 4242-4242 lookup 104242"], "one rule");
          assert.equal(ip(["route", "show", "table", "104242"], a).trim().split("\n").length, 1, "one route");

          const listed = api("list", {}).result;
          assert.deepEqual(listed, [{
            os: "linux",
            uid: 4242,
            family: "inet",
            table: 104242,
            priority: 10000,
            dev: "rt0",
            gateway: "10.231.0.2",
          }]);

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
          assert.deepEqual(api("list", {}), { result: [] });
        } finally {
          spawnSync(IP, ["netns", "delete", a]);
          spawnSync(IP, ["netns", "delete", b]);
        }
        assert.equal(snapshot(), hostBefore, "the host's rules and routes never changed");
        assert.ok(!ip(["netns", "list"]).includes(a), "the namespaces are gone");
      },
    );
  },
);
