/**
 * Hostile command lines, each run as a real process under this suite's runtime: bad flags,
 * flags given twice, huge values, control characters, odd Unicode, negative numbers, bogus
 * states, sorts, ports and PID:FD, unknown commands, and route garbage. Every one must exit 2
 * at once, say on stderr what was wrong (quoting at most 40 characters of the value), and
 * print no raw control character anywhere.
 *
 * `route` inputs are only ones rejected before anything runs; as root they also run inside a
 * network namespace of their own (`unshare -n`), and the host's rules are compared after.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { describe, it } from "node:test";
import { cliAsync, type CliResult, CONTROL, hasRuntime, pool } from "./_cli.ts";
import { hasTool, needs, run, runtime } from "./_helpers.ts";

const linux = process.platform === "linux";
const isRoot = process.getuid?.() === 0;
const HUGE = "9".repeat(5000);

/** [argv, what stderr must say]; every case must exit 2. */
type Case = [string[], RegExp];

const GROUPS: Record<string, Case[]> = {
  "unknown commands": [
    [[], /^Usage: sockbuf <command>/],
    [["frobnicate"], /^sockbuf: unknown command "frobnicate"$/m],
    [["LS"], /unknown command "LS"/],
    [["-x"], /unknown command "-x"/],
    [["--version"], /unknown command "--version"/],
    [["\x1b[2J\x1b[H"], /unknown command "\\u001b\[2J\\u001b\[H"/],
    [["ls\u202e"], /unknown command "ls\\u\{202e\}"/],
    [["x".repeat(5000)], /unknown command "x{40}…"$/m],
  ],
  "ls: bad flags and values": [
    [["ls", "--bogus"], /^sockbuf ls: unknown flag "--bogus"$/m],
    [["ls", "-p"], /unknown flag "-p"/],
    [["ls", "-hx"], /unknown flag "-hx"/],
    [["ls", "--no-port"], /unknown flag "--no-port"/],
    [["ls", "--constructor"], /unknown flag "--constructor"/],
    [["ls", "--__proto__=1"], /unknown flag "--__proto__"/],
    [["ls", "extra"], /unexpected argument "extra"/],
    [["ls", "--json=yes"], /--json takes no value/],
    [["ls", "--port"], /--port needs a value/],
    [["ls", "--sort", "colour"], /--sort must be one of unsent, .*got "colour"/],
    [["ls", "--sort", ""], /--sort must be one of .*got ""/],
    [["ls", "--port", "70000"], /--port must be an integer from 0 to 65535, got "70000"/],
    [["ls", "--port", "-1"], /--port/],
    [["ls", "--port=-1"], /--port must be an integer from 0 to 65535, got "-1"/],
    [["ls", "--port", "1e3"], /--port must be .*got "1e3"/],
    [["ls", "--port", "0x50"], /--port must be .*got "0x50"/],
    [["ls", "--port", "+80"], /--port must be .*got "\+80"/],
    [["ls", "--port", " 80"], /--port must be .*got " 80"/],
    [["ls", "--port", ""], /--port must be .*got ""/],
    [["ls", "--pid", "0"], /--pid must be an integer from 1 to 2147483647, got "0"/],
    [["ls", "--pid=-5"], /--pid must be .*got "-5"/],
    [["ls", "--pid", "2147483648"], /--pid must be .*got "2147483648"/],
    [["ls", "--limit", "0"], /--limit must be .*got "0"/],
    [["ls", "--limit", "-3"], /--limit/],
    [["ls", "--limit", "1.5"], /--limit must be .*got "1.5"/],
    [["ls", "--limit", "9007199254740993"], /--limit must be .*got "9007199254740993"/],
  ],
  "a flag given twice exits 2 naming it (every command)": [
    [["ls", "--sort", "port", "--sort", "pid"], /--sort given twice/],
    [["ls", "--port", "80", "--port=443"], /--port given twice/],
    [["ls", "--json", "--json"], /--json given twice/],
    [["ls", "--processes", "--no-processes"], /--processes given twice/],
    [["top", "--count", "1", "--interval", "100", "--interval", "200"], /--interval given twice/],
    [["top", "--count", "1", "--count", "2"], /--count given twice/],
    [["inspect", "--json", "--json", "1:2"], /--json given twice/],
    [["demo", "--seconds", "1", "--seconds", "2"], /--seconds given twice/],
    // The duplicate is rejected before routing; --table local keeps it harmless even if not.
    [
      ["route", "add", "--user", "4242", "--dev", "lo", "--dev", "eth0", "--table", "local"],
      /--dev given twice/,
    ],
  ],
  "--state lists with a bad name exit 2 naming it": [
    [["ls", "--state", "all,bogus"], /--state: unknown TCP state "bogus"/],
    [["ls", "--state", "bogus,all"], /--state: unknown TCP state "bogus"/],
    [["ls", "--state", "all", "--state", "nope"], /--state: unknown TCP state "nope"/],
    [["ls", "--state", "sleeping"], /--state: unknown TCP state "sleeping"/],
    [["ls", "--state", ""], /--state: unknown TCP state ""/],
    [["ls", "--state", "established,"], /--state: unknown TCP state ""/],
    [["ls", "--state", "establıshed"], /--state: unknown TCP state "establıshed"/], // dotless ı upper-cases to I
    [["top", "--count", "1", "--state", "all,nope"], /--state: unknown TCP state "nope"/],
  ],
  "--tcp-info without --json exits 2": [
    [["ls", "--tcp-info"], /--tcp-info needs --json/],
    [["ls", "--tcp-info", "--state", "all"], /--tcp-info needs --json/],
    [["top", "--tcp-info"], /unknown flag "--tcp-info"/],
  ],
  "huge values are cut in the message": [
    [["ls", "--pid", HUGE], /--pid must be .*got "9{40}…"$/m],
    [["ls", "--sort", HUGE], /--sort must be .*got "9{40}…"$/m],
    [["ls", "--state", HUGE], /--state: unknown TCP state "9{40}…"$/m],
    [["ls", `--${"y".repeat(5000)}`], /unknown flag "--y{38}…"$/m],
    [["ls", HUGE], /unexpected argument "9{40}…"$/m],
    [["inspect", `${HUGE}:1`], /expected one PID:FD argument, such as 1234:5, got "9{40}…"$/m],
    [["top", "--interval", HUGE], /--interval must be .*got "9{40}…"$/m],
    [["demo", "--rate", HUGE], /--rate must be .*got "9{40}…"$/m],
  ],
  "control characters and odd unicode never reach stderr raw": [
    [["ls", "--sort", "\x1b[2J\x1b[31mred"], /--sort must be .*got "\\u001b\[2J\\u001b\[31mred"/],
    [["ls", "--state", "est\rFORGED"], /--state: unknown TCP state "est\\rFORGED"/],
    [["ls", "--port", "80\n443"], /--port must be .*got "80\\n443"/],
    [["ls", "--sort", "\u0085\u009b1m"], /--sort must be .*got "\\x85\\x9b1m"/],
    [["ls", "--sort", "\x7f"], /--sort must be .*got "\\x7f"/],
    [["ls", "--\u202estate"], /unknown flag "--\\u\{202e\}state"/],
    [["ls", "--sort", "unsent\u2028x"], /--sort must be .*got "unsent\\u\{2028\}x"/],
    [["ls", "--sort", "ｕｎｓｅｎｔ"], /--sort must be .*got "ｕｎｓｅｎｔ"/],
    [["ls", "--sort", "u\u0301nsent"], /--sort must be /],
    [["ls", "--port", "８０"], /--port must be .*got "８０"/],
    [["ls", "--limit", "٣"], /--limit must be .*got "٣"/],
    [["ls", "--sort", "🦀"], /--sort must be .*got "🦀"/],
    [["top", "--interval", "１００"], /--interval must be .*got "１００"/],
  ],
  "top: bad values": [
    [["top", "--interval", "5"], /--interval must be an integer from 100/],
    [["top", "--interval", "99999999999"], /--interval must be /],
    [["top", "--interval", "-100"], /--interval/],
    [["top", "--count", "0"], /--count must be .*got "0"/],
    [["top", "--count=-1"], /--count must be .*got "-1"/],
    [["top", "--count", "NaN"], /--count must be .*got "NaN"/],
    [["top", "--json"], /unknown flag "--json"/],
    [["top", "now"], /unexpected argument "now"/],
  ],
  "inspect: bad PID:FD": [
    [["inspect"], /expected one PID:FD argument/],
    [["inspect", "12"], /expected one PID:FD argument, such as 1234:5, got "12"/],
    [["inspect", "1:2", "3:4"], /expected one PID:FD argument/],
    [["inspect", "-1:3"], /unknown flag "-1:3"/],
    [["inspect", "1:-3"], /expected one PID:FD argument.*got "1:-3"/],
    [["inspect", "abc:def"], /expected one PID:FD argument.*got "abc:def"/],
    [["inspect", "１:２"], /expected one PID:FD argument.*got "１:２"/],
    [["inspect", "1:2\x1b[8m"], /expected one PID:FD argument.*got "1:2\\u001b\[8m"/],
    [["inspect", "0:1"], /Expected pid as an integer from 1 to 2147483647/],
    [["inspect", "9999999999:1"], /Expected pid as an integer from 1 to 2147483647/],
    [["inspect", "1:99999999999"], /expected one PID:FD argument/],
  ],
  "route: garbage rejected at validation": [
    [["route"], /expected add, remove or list, got ""/],
    [["route", "rewire"], /expected add, remove or list, got "rewire"/],
    [["route", "\u202eadd"], /expected add, remove or list, got "\\u\{202e\}add"/],
    [["route", "add"], /route add needs --user/],
    [["route", "add", "--user", "4242"], /route add needs --dev/],
    [["route", "remove", "--dev", "lo"], /route remove needs --user/],
    [["route", "add", "--user", "x;reboot", "--dev", "lo"], /^sockbuf route: user: /m],
    [["route", "add", "--user", "4242", "--dev", "lo\x1b[2J"], /^sockbuf route: dev: .*"lo\\u001b\[2J"/m],
    [["route", "add", "--user", "4242", "--dev", "lo", "--gateway", "999.1.1.1"], /gateway: /],
    [["route", "add", "--user", "4242", "--dev", "lo", "--table", "local"], /table: /],
    [["route", "add", "--user", "4242", "--dev", "lo", "--priority=-1"], /priority: /],
    [["route", "add", "--user", "a".repeat(5000), "--dev", "lo"], /user: .*"a{40}…"$/m],
    [["route", "add", "--user", "4242", "--dev", "lo", "extra"], /unexpected argument "extra"/],
    [["route", "list", "--bogus"], /unknown flag "--bogus"/],
  ],
  "demo: bad values": [
    [["demo", "--seconds", "x"], /--seconds must be .*got "x"/],
    [["demo", "--seconds", "0"], /--seconds must be /],
    [["demo", "--seconds=-1"], /--seconds must be .*got "-1"/],
    [["demo", "--seconds", "Infinity"], /--seconds must be .*got "Infinity"/],
    [["demo", "--rate", "1"], /--rate must be /],
    [["demo", "--lowat", "0"], /--lowat must be /],
    [["demo", "--bogus"], /unknown flag "--bogus"/],
    [["demo", "extra"], /unexpected argument "extra"/],
  ],
};

/** Why a run broke the rules, or `undefined` if it kept them. */
function problem(message: RegExp, r: CliResult): string | undefined {
  const shown = `exit ${r.code}${r.signal ? ` (${r.signal})` : ""}, ${Math.round(r.ms)} ms\nstderr: ${
    JSON.stringify(r.stderr.slice(0, 300))
  }\nstdout: ${JSON.stringify(r.stdout.slice(0, 200))}`;
  if (r.timedOut) return `hung (killed after ${Math.round(r.ms)} ms)`;
  if (r.code !== 2) return `expected exit 2; ${shown}`;
  if (!message.test(r.stderr)) return `stderr does not match ${message}; ${shown}`;
  if (CONTROL.test(r.stderr) || CONTROL.test(r.stdout)) return `a raw control character; ${shown}`;
  if (r.stderr.length > 1000) return `stderr of ${r.stderr.length} characters; ${shown}`;
  if (r.stdout !== "") return `output on stdout; ${shown}`;
  return undefined;
}

describe(`sockbuf hostile command lines (${runtime})`, () => {
  const total = Object.values(GROUPS).reduce((n, cases) => n + cases.length, 0);
  const codes = new Map<number | null, number>();

  for (const [group, cases] of Object.entries(GROUPS)) {
    it(`${group} (${cases.length} cases)`, { timeout: 120_000 }, async (t) => {
      if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
      const isRoute = (args: string[]) => args[0] === "route";
      // As root, route runs in a network namespace of its own: if a case ever got past the
      // checks, it would change only that namespace, which goes when the process ends.
      const sandbox = linux && isRoot && hasTool("unshare", ["--version"]) ? ["unshare", "-n"] : undefined;
      if (cases.some(([args]) => isRoute(args)) && linux && !sandbox) {
        if (!needs(t, false, "root and unshare (route cases run in a namespace of their own)")) return;
      }
      const rulesBefore = linux && hasTool("ip", ["-V"]) ? run("ip", ["rule", "show"]) : "";
      const results = await pool(
        cases,
        4,
        ([args]) => cliAsync(args, { timeoutMs: 20_000, prefix: isRoute(args) ? sandbox ?? [] : [] }),
      );
      const failures: string[] = [];
      results.forEach((r, i) => {
        const [args, message] = cases[i];
        codes.set(r.code, (codes.get(r.code) ?? 0) + 1);
        const why = problem(message, r);
        if (why) failures.push(`sockbuf ${JSON.stringify(args).slice(0, 120)}: ${why}`);
      });
      const slowest = Math.max(...results.map((r) => r.ms));
      console.log(
        `${group}: ${cases.length - failures.length}/${cases.length} as expected, slowest ${
          Math.round(slowest)
        } ms`,
      );
      if (rulesBefore) {
        assert.equal(run("ip", ["rule", "show"]), rulesBefore, "the host's rules did not change");
      }
      assert.deepEqual(failures, [], failures.join("\n\n"));
    });
  }

  it("tries at least 60 hostile command lines", () => {
    console.log(`${total} hostile command lines under ${runtime}; exit codes: ${JSON.stringify([...codes])}`);
    assert.ok(total >= 60, `${total} cases`);
  });
});
