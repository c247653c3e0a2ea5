/**
 * Hostile input never reaches a process: every value below fails its grammar with a TypeError
 * (RangeError for a number out of range) whose message starts with the field's name, and the
 * recording runner shows that nothing was spawned, for both the Linux and the macOS driver.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { buildPfRules } from "../route/pf.ts";
import {
  defaultRunner,
  listUserRoutes,
  routeUser,
  type RouteUserOptions,
  unrouteUser,
} from "../route/mod.ts";
import { validateAnchor, validateInterface, validateIp, validateUser } from "../route/_validate.ts";
import { recorder } from "./_runner.ts";

const good: RouteUserOptions = { user: "test1", dev: "utun4", gateway: "192.168.15.2" };

/** [what it is, field, the bad options]: each must be refused with a TypeError naming `field`. */
const HOSTILE: [string, string, Partial<Record<string, unknown>>][] = [
  ["a shell command after the name", "user", { user: "test1; rm -rf /" }],
  ["a newline that would start a second pf rule", "user", { user: "test1\npass out quick all" }],
  ["command substitution", "user", { user: "$(id)" }],
  ["backquotes", "user", { user: "`id`" }],
  ["a single quote", "user", { user: "test'1" }],
  ["a double quote", "user", { user: 'test"1' }],
  ["an empty string", "user", { user: "" }],
  ["a 300-character name", "user", { user: "a".repeat(300) }],
  ["a uid of -1 as text", "user", { user: "-1" }],
  ["an option in place of a name", "user", { user: "-rf" }],
  ["a carriage return", "user", { user: "root\r" }],
  ["a NUL byte", "user", { user: "te\0st" }],
  ["a space and a second user clause", "user", { user: "test1 user root" }],
  ["an object", "user", { user: { toString: () => "root" } }],
  ["a gateway octet of 999", "gateway", { gateway: "999.1.1.1" }],
  ["an IPv4 with a leading zero (octal to some)", "gateway", { gateway: "010.1.1.1" }],
  ["a gateway with a command", "gateway", { gateway: "10.0.0.1; id" }],
  ["an IPv6 zone", "gateway", { gateway: "fe80::1%en0" }],
  ["an IPv6 with two ::", "gateway", { gateway: "1::2::3" }],
  ["a mapped IPv4 that is not one", "gateway", { gateway: "::ffff:999.1.1.1" }],
  ["an interface called `en0 all`", "dev", { dev: "en0 all" }],
  ["an interface with a path", "dev", { dev: "eth0/../x" }],
  ["an empty interface", "dev", { dev: "" }],
  ["a 16-character interface (IFNAMSIZ is 16 with the NUL)", "dev", { dev: "a".repeat(16) }],
  ["an option in place of an interface", "dev", { dev: "-j" }],
  ["a tab in an interface", "dev", { dev: "utun4\tany" }],
  ["an anchor path holding ..", "anchor", { anchor: "com.apple/../evil" }],
  ["an anchor starting with ..", "anchor", { anchor: "../x" }],
  ["a wildcard anchor", "anchor", { anchor: "com.apple/*" }],
  ["an empty anchor", "anchor", { anchor: "" }],
  ["an anchor with a trailing /", "anchor", { anchor: "com.apple/" }],
  ["a table with a command", "table", { table: "1; reboot" }],
  ["a priority with a trailing space", "priority", { priority: "10000 " }],
  ["a relative ip path", "paths.ip", { paths: { ip: "ip" } }],
  ["a pf.conf path through ..", "paths.pfConf", { paths: { pfConf: "/etc/../tmp/pf.conf" } }],
  ["a protocol pf's user cannot match", "protocols", { protocols: ["tcp", "icmp"] }],
  ["an unknown family", "family", { family: "inet4" }],
  ["a family that does not match the gateway", "family", { family: "inet6" }],
  ["persist as a string", "persist", { persist: "yes" }],
];

/** Numbers out of range: RangeError, as for every numeric argument in sockbuf. */
const OUT_OF_RANGE: [string, string, Partial<Record<string, unknown>>][] = [
  ["a uid of -1", "user", { user: -1 }],
  ["a uid of 2^32", "user", { user: 2 ** 32 }],
  ["a uid of 2^32 as text", "user", { user: "4294967296" }],
  ["a uid of 2^32 - 1 ((uid_t)-1)", "user", { user: 2 ** 32 - 1 }],
  ["a fractional uid", "user", { user: 1.5 }],
  ["the main table", "table", { table: 254 }],
  ["table 0", "table", { table: 0 }],
  ["priority 0 (the local rule's)", "priority", { priority: 0 }],
  ["priority 32766 (after main)", "priority", { priority: 32766 }],
];

const calls = {
  routeUser: (o: Record<string, unknown>) => routeUser(o as unknown as RouteUserOptions),
  unrouteUser: (o: Record<string, unknown>) => unrouteUser(o as unknown as RouteUserOptions),
};

describe("routing input is checked before any process starts", () => {
  it(`has at least 20 hostile inputs that are TypeErrors (${HOSTILE.length})`, () => {
    assert.ok(HOSTILE.length >= 20);
  });

  for (const os of ["linux", "darwin"]) {
    for (const [name, call] of Object.entries(calls)) {
      it(`${name}() on ${os} refuses each hostile input with a TypeError naming the field, spawning nothing`, async () => {
        for (const [what, field, bad] of HOSTILE) {
          const rec = recorder();
          await assert.rejects(
            call({ ...good, ...bad, os, runner: rec.runner }),
            (err: Error) => {
              assert.ok(err instanceof TypeError, `${what}: expected TypeError, got ${err}`);
              assert.ok(
                err.message.startsWith(`${field}:`),
                `${what}: message should name ${field}: ${err.message}`,
              );
              return true;
            },
            what,
          );
          assert.equal(rec.calls.length, 0, `${what}: spawned ${JSON.stringify(rec.calls)}`);
        }
      });

      it(`${name}() on ${os} refuses numbers out of range with a RangeError naming the field, spawning nothing`, async () => {
        for (const [what, field, bad] of OUT_OF_RANGE) {
          const rec = recorder();
          await assert.rejects(call({ ...good, ...bad, os, runner: rec.runner }), (err: Error) => {
            assert.ok(err instanceof RangeError, `${what}: expected RangeError, got ${err}`);
            assert.ok(err.message.startsWith(`${field}:`), `${what}: ${err.message}`);
            return true;
          });
          assert.equal(rec.calls.length, 0, what);
        }
      });
    }
  }

  it("error messages quote the bad value escaped and cut, so it cannot forge a log line", async () => {
    const rec = recorder();
    const err = await routeUser({
      user: "x\nFAKE LOG LINE" + "y".repeat(500),
      dev: "en0",
      runner: rec.runner,
    })
      .then(() => undefined, (e: Error) => e);
    assert.ok(err instanceof TypeError);
    assert.ok(!err.message.includes("\n"), err.message);
    assert.ok(err.message.length < 200, err.message);
  });

  it("listUserRoutes() refuses a hostile user filter and a relative runner path, spawning nothing", async () => {
    const rec = recorder();
    await assert.rejects(
      listUserRoutes({ user: "$(id)", runner: rec.runner, os: "linux" }),
      /^TypeError: user:/,
    );
    await assert.rejects(
      listUserRoutes({ os: "linux", runner: rec.runner, paths: { id: "id" } }),
      /paths\.id:/,
    );
    await assert.rejects(listUserRoutes({ os: "../linux", runner: rec.runner }), /^TypeError: os:/);
    assert.equal(rec.calls.length, 0);
  });

  it("routeUser() refuses options of the other OS: no persist, nat or anchor on Linux, no table on macOS", async () => {
    const rec = recorder(() => ({ stdout: "0\n" }));
    await assert.rejects(
      routeUser({ ...good, persist: true, os: "linux", runner: rec.runner }),
      /^TypeError: persist:/,
    );
    await assert.rejects(
      routeUser({ ...good, nat: true, os: "linux", runner: rec.runner }),
      /^TypeError: nat:/,
    );
    await assert.rejects(
      routeUser({ ...good, table: 7100, os: "darwin", runner: rec.runner }),
      /^TypeError: table:/,
    );
    assert.equal(rec.calls.length, 0);
  });

  it("buildPfRules() refuses the same inputs and pf keywords as interface names", () => {
    const base = { user: "test1", routeTo: "utun4" };
    assert.throws(() => buildPfRules({ ...base, user: "test1\npass all" }), /^TypeError: user:/);
    assert.throws(() => buildPfRules({ ...base, routeTo: "any" }), /^TypeError: routeTo:.*keyword/);
    assert.throws(() => buildPfRules({ ...base, outInterface: "all" }), /^TypeError: outInterface:/);
    assert.throws(() => buildPfRules({ ...base, gateway: "999.1.1.1" }), /^TypeError: gateway:/);
    assert.throws(() => buildPfRules({ ...base, protocols: [] }), /^TypeError: protocols:/);
  });

  it("an unsupported OS is a RouteUnsupportedError after the input passed, with nothing spawned", async () => {
    const rec = recorder();
    await assert.rejects(routeUser({ ...good, os: "freebsd", runner: rec.runner }), {
      name: "RouteUnsupportedError",
    });
    assert.equal(rec.calls.length, 0);
  });
});

describe("the grammars accept what the systems use", () => {
  it("user names and uids", () => {
    for (const u of ["test1", "_mdnsresponder", "www-data", "a.b", "A".repeat(32)]) {
      assert.equal(validateUser(u), u);
    }
    assert.equal(validateUser("4242"), 4242);
    assert.equal(validateUser(0), 0);
    assert.equal(validateUser(2 ** 32 - 2), 2 ** 32 - 2);
    assert.throws(() => validateUser("A".repeat(33)), TypeError);
  });

  it("interface names", () => {
    for (const i of ["en0", "utun4", "eth0.100", "veth-a", "wg_0", "bridge100", "a".repeat(15)]) {
      assert.equal(validateInterface(i), i);
    }
  });

  it("IPv4 and IPv6 addresses, with the family", () => {
    const v4 = ["0.0.0.0", "192.168.15.2", "255.255.255.255", "10.0.0.1"];
    const v6 = [
      "::",
      "::1",
      "fe80::1",
      "2001:db8::",
      "1:2:3:4:5:6:7:8",
      "1:2:3:4:5:6:7::",
      "::ffff:192.0.2.1",
      "64:ff9b::1.2.3.4",
      "1:2:3:4:5:6:1.2.3.4",
    ];
    for (const a of v4) assert.deepEqual(validateIp(a), { address: a, family: "inet" });
    for (const a of v6) assert.deepEqual(validateIp(a), { address: a, family: "inet6" });
    for (
      const a of [
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1:2:3:4:5:6:7:8:9",
        "1:2:3:4:5:6:7:8::",
        ":1::",
        "12345::",
        "[::1]",
        " ::1",
      ]
    ) {
      assert.throws(() => validateIp(a), TypeError, a);
    }
  });

  it("anchor paths", () => {
    for (const a of ["sockbuf", "com.apple/sockbuf.test1", "com.apple/250.sockbuf", "a/b/c/d"]) {
      assert.equal(validateAnchor(a), a);
    }
    assert.throws(() => validateAnchor("a/b/c/d/e"), TypeError);
  });
});

describe("the default runner", () => {
  it("passes hostile-looking arguments to the program literally: no shell reads them", async () => {
    const argv = ["test1; rm -rf /", "$(id)", "`id`", "a\nb", "'\""];
    const r = await defaultRunner("/usr/bin/printf", ["%s|", ...argv]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, argv.map((a) => a + "|").join(""));
  });

  it("feeds stdin and reports the exit code and stderr", async () => {
    assert.equal((await defaultRunner("/bin/cat", [], { stdin: "pass out all\n" })).stdout, "pass out all\n");
    const r = await defaultRunner("/bin/ls", ["/nonexistent-sockbuf"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /nonexistent-sockbuf/);
  });

  it("kills a program that hangs instead of waiting on it", async () => {
    const started = Date.now();
    const r = await defaultRunner("/bin/sleep", ["30"], { timeoutMs: 300 });
    assert.equal(r.code, 128 + 9, "SIGKILL");
    assert.match(r.stderr, /\/bin\/sleep did not finish in 300 ms and was killed/);
    assert.ok(Date.now() - started < 5_000, "it returned long before sleep would have");
  });

  it("refuses a timeoutMs setTimeout cannot wait, rather than killing the program at once", () => {
    assert.throws(() => defaultRunner("/bin/sleep", ["0.1"], { timeoutMs: 2 ** 31 }), {
      name: "RangeError",
      message: /^Expected timeoutMs as a number of milliseconds from 0 to 2147483647, got 2147483648$/,
    });
    assert.throws(() => defaultRunner("/bin/sleep", ["0.1"], { timeoutMs: "5" as never }), {
      name: "TypeError",
      message: /^Expected timeoutMs as a number of milliseconds, got the string "5"$/,
    });
  });

  it("refuses a relative executable, which a PATH lookup could redirect", () => {
    assert.throws(() => defaultRunner("printf", ["x"]), /^TypeError: file:/);
    assert.throws(() => defaultRunner("/bin/echo", ["a\0b"]), /^TypeError: args:/);
  });
});
