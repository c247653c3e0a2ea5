/**
 * Process names are outside text: any unprivileged process can rename itself (prctl
 * PR_SET_NAME, or a write to /proc/self/comm) to something a terminal acts on. `ls` and `top`
 * must show such names escaped, as ps does, and `--json` must keep them exact.
 *
 * The renamed processes are real: python3 forks one child per name, each holding one end of
 * a loopback TCP connection and renaming itself through /proc/self/comm.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { describe, it } from "node:test";
import type { SocketEntry } from "../types.ts";
import { cliArgv, cliAsync, CONTROL, hasRuntime, root } from "./_cli.ts";
import { hasTool, needs, runtime, sleep, tmuxSession } from "./_helpers.ts";

const linux = process.platform === "linux";

/** Each hostile name (at most 15 bytes: TASK_COMM_LEN) and how the table must show it. */
const NAMES: [raw: string, shown: string][] = [
  ["a\r\x1b[2K\x1b[8m", "a\\x0d\\x1b[2K\\x1b[8m"], // back to column 0, erase the line, conceal the rest
  ["b\nFORGED ROW", "b\\x0aFORGED ROW"], // a line of its own
  ["c\u009b2J\u202eZ\x7f", "c\\x9b2J\\u{202e}Z\\x7f"], // C1 CSI, right-to-left override, DEL
  ["d\\x1b[2J", "d\\\\x1b[2J"], // a real backslash is doubled, so the escapes are unambiguous
];

const FORKER = `
import json, os, socket, sys, time
names = json.loads(sys.argv[1])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(8)
port = ls.getsockname()[1]
parent = os.getpid()
keep, kids = [], []
for name in names:
    c = socket.create_connection(("127.0.0.1", port)); a, _ = ls.accept()
    cport = c.getsockname()[1]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        ls.close(); a.close(); os.close(r)
        for k in keep: k.close()
        with open("/proc/self/comm", "wb") as f: f.write(name.encode())
        os.close(w)
        while os.getppid() == parent: time.sleep(0.2)
        os._exit(0)
    os.close(w); os.read(r, 1); os.close(r)  # the child has renamed itself
    c.close(); keep.append(a); kids.append({"pid": pid, "port": cport, "name": name})
print(json.dumps({"port": port, "kids": kids}), flush=True)
sys.stdin.read()
`;

interface Kids {
  port: number;
  kids: { pid: number; port: number; name: string }[];
  proc: ChildProcess;
}

async function renamedHolders(): Promise<Kids> {
  const proc = spawn("python3", ["-c", FORKER, JSON.stringify(NAMES.map(([raw]) => raw))], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let line = "";
  for await (const chunk of proc.stdout!) {
    line += String(chunk);
    if (line.includes("\n")) break;
  }
  return { ...JSON.parse(line), proc };
}

/** Runs `line` in a tmux pane until `done` matches the pane; returns the pane's text. */
async function inTmux(line: string, done: RegExp, keys?: string): Promise<string> {
  const term = tmuxSession(root, 200, 30, line);
  try {
    let pane = "";
    for (let i = 0; i < 150 && !done.test(pane); i++) {
      await sleep(100);
      pane = term.tmux("capture-pane", "-p", "-t", "main");
    }
    if (keys) term.tmux("send-keys", "-t", "main", keys);
    return pane;
  } finally {
    term.kill();
  }
}

/** Checks a table (a pane's text or piped output) shows every renamed holder escaped. */
function checkTable(text: string, kids: Kids, what: string): void {
  const lines = text.split("\n");
  for (const [i, kid] of kids.kids.entries()) {
    const row = lines.find((l) => new RegExp(`^\\S+\\s+127\\.0\\.0\\.1:${kid.port}\\s`).test(l));
    assert.ok(row, `${what}: the row of ${JSON.stringify(kid.name)} is shown (not erased):\n${text}`);
    assert.ok(
      row.trimEnd().endsWith(`${NAMES[i][1]}[${kid.pid}]`),
      `${what}: ${JSON.stringify(kid.name)} shows as ${NAMES[i][1]}:\n${row}`,
    );
  }
  assert.ok(!lines.some((l) => l.startsWith("FORGED")), `${what}: no forged line:\n${text}`);
}

describe(`sockbuf ls and top with hostile process names (${runtime})`, {
  skip: !linux && "Linux only: sock_diag, /proc/PID/comm",
}, () => {
  it("ls escapes control characters in process names; --json keeps them exact", async (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    if (!needs(t, hasTool("python3"), "python3 (renames child processes)")) return;
    const kids = await renamedHolders();
    try {
      const json = await cliAsync(["ls", "--json", "--port", String(kids.port)]);
      assert.equal(json.code, 0, json.stderr);
      const entries = JSON.parse(json.stdout) as SocketEntry[];
      for (const kid of kids.kids) {
        const e = entries.find((e) => e.local.port === kid.port);
        assert.deepEqual(e?.processes?.map((p) => [p.pid, p.command]), [[kid.pid, kid.name]], json.stdout);
      }
      const plain = await cliAsync(["ls", "--port", String(kids.port)]);
      assert.equal(plain.code, 0, plain.stderr);
      console.log(`sockbuf ls (${runtime}), piped:\n${plain.stdout.trimEnd()}`);
      assert.ok(!CONTROL.test(plain.stdout), `no raw control characters:\n${JSON.stringify(plain.stdout)}`);
      assert.equal(
        plain.stdout.trimEnd().split("\n").length,
        1 + 2 * kids.kids.length,
        "one line per socket",
      );
      checkTable(plain.stdout, kids, "ls piped");
      if (!needs(t, hasTool("tmux", ["-V"]), "tmux")) return;
      const [cmd, argv] = cliArgv(["ls", "--port", String(kids.port)]);
      const pane = await inTmux(`${[cmd, ...argv].join(" ")}; echo "exit=$?"; sleep 60`, /exit=\d+/);
      console.log(`sockbuf ls (${runtime}) in a terminal:\n${pane.trimEnd()}`);
      assert.match(pane, /exit=0/, pane);
      checkTable(pane, kids, "ls in tmux");
    } finally {
      kids.proc.kill();
    }
  });

  it("top escapes control characters in process names on the terminal", async (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    if (!needs(t, hasTool("python3"), "python3 (renames child processes)")) return;
    if (!needs(t, hasTool("tmux", ["-V"]), "tmux")) return;
    const kids = await renamedHolders();
    try {
      const [cmd, argv] = cliArgv(["top", "--interval", "200", "--port", String(kids.port)]);
      const pane = await inTmux(
        `${[cmd, ...argv].join(" ")}; echo "exit=$?"; sleep 60`,
        new RegExp(`\\[${kids.kids.at(-1)!.pid}\\]`),
        "q",
      );
      console.log(`sockbuf top (${runtime}) in a terminal:\n${pane.trimEnd()}`);
      assert.match(pane, /^sockbuf top /m, pane);
      checkTable(pane, kids, "top in tmux");
    } finally {
      kids.proc.kill();
    }
  });
});
