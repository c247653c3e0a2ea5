/**
 * The `sockbuf` command line, run as a user runs it: a separate process under the runtime
 * running this suite (`deno run -A cli.ts …` or `bun cli.ts …`), checked against `ss`, a
 * terminal (tmux) and its exit codes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { inspectSync } from "../mod.ts";
import type { SocketEntry } from "../types.ts";
import {
  hasTool,
  needs,
  run,
  runtime,
  sleep,
  ssFor,
  stalledPair,
  type TmuxSession,
  tmuxSession,
} from "./_helpers.ts";
import { childOf, cliArgv, hasRuntime } from "./_cli.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const linux = process.platform === "linux";
const isRoot = process.getuid?.() === 0;

/** Runs the CLI to completion (the event loop of this process waits meanwhile). */
function cli(args: string[], env: Record<string, string> = {}) {
  const [cmd, argv] = cliArgv(args);
  const r = spawnSync(cmd, argv, {
    cwd: root,
    encoding: "utf8",
    timeout: 60_000,
    // A busy host's listing runs to megabytes (500 bytes a socket); the default is 1 MiB.
    maxBuffer: 1 << 30,
    env: { ...process.env, NO_COLOR: "1", ...env },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, all: `${r.stdout}\n${r.stderr}` };
}

/** Waits until the writer's queue stops changing. */
async function settle(fd: number): Promise<void> {
  let last = -1;
  for (let stable = 0; stable < 4;) {
    await sleep(40);
    const q = inspectSync(fd).queued;
    stable = q === last ? stable + 1 : 0;
    last = q;
  }
}

describe(`sockbuf command line (${runtime})`, () => {
  it("prints help for itself and every command, with exit code 0", (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    const top = cli(["--help"]);
    assert.equal(top.code, 0, top.all);
    for (const name of ["ls", "top", "inspect", "why", "export", "route", "demo"]) {
      assert.match(top.stdout, new RegExp(`^  ${name} `, "m"), `the help lists ${name}`);
      const r = cli([name, "--help"]);
      assert.equal(r.code, 0, r.all);
      assert.match(r.stdout, new RegExp(`^Usage: sockbuf ${name}`), r.all);
    }
  });

  it("exits 2 with a message naming the problem for a wrong command line", (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    const cases: [string[], RegExp][] = [
      [[], /Usage: sockbuf <command>/],
      [["frobnicate"], /unknown command "frobnicate"/],
      [["ls", "--bogus"], /bogus/],
      [["ls", "--sort", "colour"], /--sort must be one of unsent, .*got "colour"/],
      [["ls", "--state", "sleeping"], /--state: unknown TCP state "sleeping"/],
      [["ls", "--port", "70000"], /--port must be an integer from 0 to 65535, got "70000"/],
      [["ls", "--limit", "-3"], /limit/],
      [["top", "--interval", "5"], /--interval must be an integer from 100/],
      [["inspect", "12"], /expected one PID:FD argument/],
      [["inspect", "1:2", "3:4"], /expected one PID:FD argument/],
      [["demo", "--seconds", "x"], /--seconds must be/],
    ];
    for (const [args, message] of cases) {
      const r = cli(args);
      assert.equal(r.code, 2, `sockbuf ${args.join(" ")}: exit ${r.code}\n${r.all}`);
      assert.match(r.stderr, message, `sockbuf ${args.join(" ")}`);
    }
  });

  it("ls --json agrees with ss -tmi on Send-Q, notsent, unacked and skmem tb (IPv4 and IPv6)", {
    skip: !linux && "Linux only: sock_diag",
    timeout: 60_000,
  }, async (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    if (!needs(t, hasTool("ss", ["-V"]), "ss from iproute2")) return;
    const pairs = [];
    try {
      // Different amounts queued: part of each write sits in the reader's window, the rest
      // in the writer's send buffer.
      for (
        const [host, amount] of [["127.0.0.1", 300_000], ["::1", 1_500_000], ["127.0.0.1", 32 << 20]] as const
      ) {
        const pair = await stalledPair(host);
        pairs.push(pair);
        pair.client.write(new Uint8Array(amount).fill(0x62));
      }
      for (const p of pairs) await settle(p.clientFd);
      for (let attempt = 0;; attempt++) {
        const before = pairs.map((p) => ssFor(p.clientPort, p.serverPort));
        const r = cli(["ls", "--json", "--state", "established", "--no-processes"]);
        const after = pairs.map((p) => ssFor(p.clientPort, p.serverPort));
        assert.equal(r.code, 0, r.all);
        const key = (l: (typeof before)[number]) =>
          JSON.stringify([l.sendQ, l.skmem.tb, l.notsent, l.unacked]);
        if (before.some((b, i) => key(b) !== key(after[i]))) {
          assert.ok(attempt < 5, "the sockets kept changing while they were listed");
          continue;
        }
        const entries = JSON.parse(r.stdout) as SocketEntry[];
        const queues = new Set<number>();
        pairs.forEach((p, i) => {
          const e = entries.find((e) => e.local.port === p.clientPort && e.peer.port === p.serverPort);
          assert.ok(e, `ls --json lists the connection from port ${p.clientPort}`);
          const ss = after[i];
          assert.ok(ss.sendQ > 0, ss.raw);
          assert.equal(e.sendBuffer?.queued, ss.sendQ, "queued = Send-Q");
          assert.equal(e.sendBuffer?.unsent, ss.notsent ?? 0, "unsent = notsent: (ss prints none for 0)");
          assert.equal(e.sendBuffer?.unackedSegments, ss.unacked ?? 0, "unackedSegments = unacked:");
          assert.equal(e.sendBuffer?.size, ss.skmem.tb, "size = skmem tb");
          assert.equal(e.memory?.sndbuf, ss.skmem.tb);
          assert.equal(e.memory?.wmemQueued, ss.skmem.w);
          queues.add(ss.sendQ);
        });
        assert.equal(queues.size, pairs.length, "each connection holds a different amount");
        break;
      }
    } finally {
      for (const p of pairs) await p.close();
    }
  });

  it("ls shows a readable table, and --port, --pid and --limit narrow it", {
    skip: !linux && "Linux only: sock_diag",
  }, async (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    const pair = await stalledPair();
    try {
      pair.client.write(new Uint8Array(4 << 20));
      await settle(pair.clientFd);
      const r = cli(["ls", "--port", String(pair.serverPort), "--pid", String(process.pid)]);
      assert.equal(r.code, 0, r.all);
      const lines = r.stdout.trimEnd().split("\n");
      assert.match(
        lines[0],
        /^STATE\s+LOCAL\s+PEER\s+SIZE\s+QUEUED\s+UNSENT▼\s+UNACKED\s+CWND\s+RTT\s+PROCESS$/,
      );
      assert.ok(!r.stdout.includes("\x1b"), "no colour off a terminal");
      // Only our client's end is held by this process (the server end too: both are ours).
      const mine = lines.slice(1).filter((l) => l.includes(`127.0.0.1:${pair.clientPort}  127.0.0.1:`));
      assert.equal(mine.length, 1, r.stdout);
      assert.match(mine[0], /^established\s/);
      assert.match(mine[0], /\d+\.\d (KiB|MiB)/, "byte counts are readable");
      assert.match(mine[0], new RegExp(`\\[${process.pid}\\]$`), "the process column names this process");
      for (const l of lines.slice(1)) assert.match(l, new RegExp(`:${pair.serverPort}\\b`));
      const one = cli(["ls", "--port", String(pair.serverPort), "--limit", "1", "--json"]);
      assert.equal((JSON.parse(one.stdout) as unknown[]).length, 1);
    } finally {
      await pair.close();
    }
  });

  it("inspect PID:FD reads a socket of another process as ss does", {
    skip: !linux && "Linux only: pidfd_getfd",
  }, async (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    if (!needs(t, isRoot, "root (pidfd_getfd needs ptrace rights over this test process)")) return;
    const pair = await stalledPair();
    try {
      pair.client.write(new Uint8Array(8 << 20));
      await settle(pair.clientFd);
      // The CLI is another process: it takes this process's fd with pidfd_getfd.
      const r = cli(["inspect", `${process.pid}:${pair.clientFd}`, "--json"]);
      assert.equal(r.code, 0, r.all);
      const ss = ssFor(pair.clientPort, pair.serverPort);
      const buf = JSON.parse(r.stdout);
      assert.equal(buf.queued, ss.sendQ);
      assert.equal(buf.unsent, ss.notsent ?? 0);
      assert.equal(buf.size, ss.skmem.tb);
      const bad = cli(["inspect", `${process.pid}:99999`]);
      assert.equal(bad.code, 1, bad.all);
      assert.match(bad.stderr, /EBADF/);
    } finally {
      await pair.close();
    }
  });

  it("route rejects hostile values with exit 2 before running anything", (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    const rulesBefore = linux ? run("ip", ["rule", "show"]) : "";
    const cases: [string[], RegExp][] = [
      [["add", "--user", "test1; rm -rf /", "--dev", "lo"], /^sockbuf route: user: /],
      [["add", "--user", "$(id)", "--dev", "lo"], /^sockbuf route: user: /],
      [["add", "--user", "4242", "--dev", "en0 all"], /^sockbuf route: dev: /],
      [["add", "--user", "4242", "--dev", "lo", "--gateway", "999.1.1.1"], /^sockbuf route: gateway: /],
      [["add", "--user", "4242", "--dev", "lo", "--table", "local"], /^sockbuf route: table: /],
      [["add", "--user", "4242"], /needs --dev/],
      [["remove", "--dev", "lo"], /needs --user/],
      [["rewire"], /expected add, remove or list/],
    ];
    for (const [args, message] of cases) {
      const r = cli(["route", ...args]);
      assert.equal(r.code, 2, `sockbuf route ${args.join(" ")}: exit ${r.code}\n${r.all}`);
      assert.match(r.stderr, message, `sockbuf route ${args.join(" ")}`);
    }
    if (linux) assert.equal(run("ip", ["rule", "show"]), rulesBefore, "the host's rules did not change");
  });

  it("route add, list and remove work for real inside a network namespace of the test's own", {
    skip: !linux && "Linux only: ip rule",
    timeout: 60_000,
  }, (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    if (!needs(t, isRoot, "root (network namespaces, ip rule)")) return;
    if (!needs(t, hasTool("ip", ["-V"]), "ip from iproute2")) return;
    const ns = `sockbuf-cli-${process.pid}`;
    const hostRules = run("ip", ["rule", "show"]);
    const inNs = (args: string[]) => {
      const [cmd, argv] = cliArgv(["route", ...args]);
      const r = spawnSync("ip", ["netns", "exec", ns, cmd, ...argv], {
        cwd: root,
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, NO_COLOR: "1" },
      });
      return { code: r.status, stdout: r.stdout, all: `${r.stdout}\n${r.stderr}` };
    };
    run("ip", ["netns", "add", ns]);
    try {
      const ip = (...args: string[]) => run("ip", ["-n", ns, ...args]);
      // A veth pair, both ends in the namespace (this kernel has no dummy driver).
      ip("link", "add", "tun9", "type", "veth", "peer", "name", "tun9p");
      // No IPv6 link-local addresses: one that appears after the snapshot (DAD) would differ.
      ip("link", "set", "tun9", "addrgenmode", "none");
      ip("link", "set", "tun9p", "addrgenmode", "none");
      ip("link", "set", "tun9", "up");
      ip("link", "set", "tun9p", "up");
      ip("addr", "add", "10.77.0.1/24", "dev", "tun9");
      const state = () =>
        ip("rule", "show") + ip("-6", "rule", "show") + ip("route", "show", "table", "all") +
        ip("-6", "route", "show", "table", "all");
      const before = state();
      const add = ["add", "--user", "4242", "--dev", "tun9", "--gateway", "10.77.0.2", "--table", "4242"];
      const first = inNs([...add, "--json"]);
      assert.equal(first.code, 0, first.all);
      assert.equal(JSON.parse(first.stdout).changed, true);
      const second = inNs(add);
      assert.equal(second.code, 0, second.all);
      assert.match(second.stdout, /^already in place: uid 4242, tun9 via 10\.77\.0\.2/);
      assert.match(ip("route", "get", "10.99.0.1", "uid", "4242"), /via 10\.77\.0\.2 dev tun9 table 4242/);
      const list = inNs(["list", "--json"]);
      assert.equal(list.code, 0, list.all);
      const routes = JSON.parse(list.stdout) as { uid: number; dev: string; table: number }[];
      assert.deepEqual(routes.map((r) => [r.uid, r.dev, r.table]), [[4242, "tun9", 4242]]);
      const failed = inNs(["add", "--user", "4243", "--dev", "nosuch0"]);
      assert.equal(failed.code, 1, failed.all);
      assert.match(failed.all, /Cannot find device "nosuch0"/);
      const removed = inNs(["remove", "--user", "4242", "--table", "4242"]);
      assert.equal(removed.code, 0, removed.all);
      assert.match(removed.stdout, /^removed \d+/);
      assert.equal(state(), before, "the namespace's rules and routes are as they were");
    } finally {
      spawnSync("ip", ["netns", "delete", ns]);
    }
    assert.ok(!run("ip", ["netns", "list"]).includes(ns), "the namespace is gone");
    assert.equal(run("ip", ["rule", "show"]), hostRules, "the host's rules did not change");
  });

  it("ls colours a terminal's table, and not with NO_COLOR set", {
    skip: !linux && "Linux only: sock_diag",
    timeout: 60_000,
  }, async (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    if (!needs(t, hasTool("tmux", ["-V"]), "tmux")) return;
    const [cmd, argv] = cliArgv(["ls", "--state", "all", "--limit", "5"]);
    const shown: Record<string, string> = {};
    for (const noColor of ["", "1"]) {
      // env(1) sets NO_COLOR for the command alone; tmux gives it a terminal.
      const line = `env NO_COLOR=${noColor} ${[cmd, ...argv].join(" ")}; echo "exit=$?"; sleep 60`;
      const term = tmuxSession(root, 200, 40, line);
      try {
        let pane = "";
        for (let i = 0; i < 100 && !/exit=\d+/.test(pane); i++) {
          await sleep(100);
          pane = term.tmux("capture-pane", "-e", "-p", "-t", "main"); // -e keeps the escapes
        }
        assert.match(pane, /exit=0/, pane);
        shown[noColor || "colour"] = pane;
      } finally {
        term.kill();
      }
    }
    assert.ok(shown.colour.includes("\x1b[1mSTATE"), `the header is bold on a terminal:\n${shown.colour}`);
    assert.ok(!shown["1"].includes("\x1b["), `no escape codes with NO_COLOR:\n${shown["1"]}`);
    assert.match(shown["1"], /^STATE\s+LOCAL/m);
  });

  it("top draws a frame in a terminal and gives the terminal back on q", {
    skip: !linux && "Linux only: sock_diag",
    timeout: 60_000,
  }, async (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    if (!needs(t, hasTool("tmux", ["-V"]), "tmux")) return;
    const pair = await stalledPair();
    let term: TmuxSession | undefined;
    try {
      pair.client.write(new Uint8Array(4 << 20));
      await settle(pair.clientFd);
      const [cmd, argv] = cliArgv(["top", "--interval", "200", "--port", String(pair.serverPort)]);
      // tmux runs the command in a shell of its own; after top exits, print its exit code
      // and the terminal modes it left, so both can be read from the pane.
      const line = `${[cmd, ...argv].join(" ")}; echo "exit=$?"; stty -a; sleep 60`;
      term = tmuxSession(root, 160, 24, line);
      const { tmux } = term;
      let frame = "";
      for (let i = 0; i < 100 && !frame.includes("STATE"); i++) {
        await sleep(100);
        frame = tmux("capture-pane", "-p", "-t", "main");
      }
      console.log(`sockbuf top frame (${runtime}):\n${frame.trimEnd()}`);
      assert.match(frame, /^sockbuf top {2}\d\d:\d\d:\d\d {2}\d+ sockets, .* unsent {2}sorted by unsent/m);
      assert.match(
        frame,
        new RegExp(`established\\s+127\\.0\\.0\\.1:${pair.clientPort}\\s+127\\.0\\.0\\.1:`),
      );
      assert.equal(
        tmux("display", "-p", "-t", "main", "#{alternate_on}").trim(),
        "1",
        "top uses the alternate screen",
      );
      tmux("send-keys", "-t", "main", "q");
      let after = "";
      for (let i = 0; i < 100 && !/exit=\d+/.test(after); i++) {
        await sleep(100);
        after = tmux("capture-pane", "-p", "-t", "main", "-S", "-100");
      }
      assert.match(after, /exit=0/, after);
      assert.equal(
        tmux("display", "-p", "-t", "main", "#{alternate_on} #{cursor_flag}").trim(),
        "0 1",
        "the main screen is back and the cursor shows",
      );
      const modes = after.split(/\s+/);
      assert.ok(modes.includes("icanon") && modes.includes("echo"), `cooked mode is back:\n${after}`);
      assert.ok(!after.includes("STATE"), "the frame went with the alternate screen");
    } finally {
      term?.kill();
      await pair.close();
    }
  });

  for (const signal of ["SIGHUP", "SIGQUIT", "SIGTERM", "SIGINT"] as const) {
    it(`top gives the terminal back after ${signal}`, {
      skip: !linux && "Linux only: sock_diag",
      timeout: 60_000,
    }, async (t) => {
      if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
      if (!needs(t, hasTool("tmux", ["-V"]), "tmux")) return;
      const [cmd, argv] = cliArgv(["top", "--interval", "200", "--state", "listen"]);
      const line = `${[cmd, ...argv].join(" ")}; echo "exit=$?"; stty -a; sleep 60`;
      const term = tmuxSession(root, 160, 24, line);
      try {
        const { tmux } = term;
        let frame = "";
        for (let i = 0; i < 100 && !frame.includes("STATE"); i++) {
          await sleep(100);
          frame = tmux("capture-pane", "-p", "-t", "main");
        }
        assert.match(frame, /^sockbuf top /m, frame);
        const shown = () => tmux("display", "-p", "-t", "main", "#{alternate_on} #{cursor_flag}").trim();
        assert.equal(shown(), "1 0", "top took the alternate screen and hid the cursor");
        // The pane runs a shell; top is its only child.
        process.kill(
          await childOf(Number(tmux("display", "-p", "-t", "main", "#{pane_pid}").trim())),
          signal,
        );
        let after = "";
        for (let i = 0; i < 100 && !/exit=\d+/.test(after); i++) {
          await sleep(100);
          after = tmux("capture-pane", "-p", "-t", "main", "-S", "-100");
        }
        const modes = after.split(/\s+/);
        console.log(
          `top after ${signal} (${runtime}): ${
            /exit=\d+/.exec(after)?.[0]
          }, screen and cursor "${shown()}", ${
            modes.includes("icanon") && modes.includes("echo") ? "cooked" : "raw"
          } mode`,
        );
        assert.match(after, /exit=0/, after);
        assert.equal(shown(), "0 1", "the main screen is back and the cursor shows");
        assert.ok(modes.includes("icanon") && modes.includes("echo"), `cooked mode is back:\n${after}`);
      } finally {
        term.kill();
      }
    });
  }
});
