/**
 * The command line's output through a pipe, as `sockbuf top | slow-reader` and
 * `sockbuf ls | head -n 1` give it: every byte in order however slowly the reader reads, and
 * a quiet end when the reader goes away (exit 141, 128 + SIGPIPE, nothing on stderr).
 *
 * The reader is python3, an independent program: it opens a few hundred loopback
 * connections (so a listing is larger than a pipe's 64 KiB), starts the CLI with its stdout
 * on a pipe (no shell), reads it slowly or closes it after its first read (one line, or 4 KiB
 * of the one long line `--json` prints), and reports what it
 * read, the CLI's stderr and its exit status as JSON.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";
import { describe, it } from "node:test";
import { cliArgv, hasRuntime, root } from "./_cli.ts";
import { hasTool, needs, runtime } from "./_helpers.ts";

const linux = process.platform === "linux";

const READER = `
import json, os, resource, socket, subprocess, sys, time
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
mode, conns = sys.argv[1], int(sys.argv[2])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1024)
port = ls.getsockname()[1]
keep = []
for i in range(conns):
    c = socket.create_connection(("127.0.0.1", port)); a, _ = ls.accept(); keep += [c, a]
argv = [a.replace("PORT", str(port)) for a in sys.argv[3:]]
p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
fd = p.stdout.fileno()
got = b""
if mode == "slow":
    while True:
        b = os.read(fd, 4096)
        if not b: break
        got += b; time.sleep(0.01)
else:
    got = os.read(fd, 4096)  # up to the first line's end, or 4 KiB of one long line
    if b"\\n" in got: got = got[:got.index(b"\\n") + 1]
    p.stdout.close()
err = p.stderr.read(); rc = p.wait()
print(json.dumps({"port": port, "rc": rc, "stdout": got.decode("utf-8", "replace"), "stderr": err.decode("utf-8", "replace")}))
`;

interface Read {
  port: number;
  /** The CLI's exit status; negative for a signal, as Python reports it. */
  rc: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI under the python3 reader; `PORT` in `args` becomes the connections' port. */
function throughPipe(mode: "slow" | "close", conns: number, args: string[]): Read {
  const [cmd, argv] = cliArgv(args);
  const r = spawnSync("python3", ["-c", READER, mode, String(conns), cmd, ...argv], {
    cwd: root,
    encoding: "utf8",
    timeout: 120_000,
    maxBuffer: 64 << 20,
    env: { ...process.env, NO_COLOR: "1" },
  });
  assert.equal(r.status, 0, `the reader failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

const ROW = /^[a-z0-9-]+ +127\.0\.0\.1:\d+ +127\.0\.0\.1:\d+ +.* python3\[\d+\]$/;

describe(`sockbuf output through a pipe (${runtime})`, { skip: !linux && "Linux only: sock_diag" }, () => {
  it("top through a slow reader: every snapshot whole and in order", { timeout: 120_000 }, (t) => {
    if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
    if (!needs(t, hasTool("python3"), "python3 (the slow reader)")) return;
    const count = 6;
    const r = throughPipe("slow", 300, ["top", "--interval", "100", "--count", `${count}`, "--port", "PORT"]);
    assert.equal(r.rc, 0, r.stderr);
    assert.equal(r.stderr, "");
    const frames = r.stdout.replace(/\n$/, "").split("\n\n");
    const broken: string[] = [];
    let last = "";
    frames.forEach((frame, i) => {
      const [head, columns, ...rows] = frame.split("\n");
      const m = /^sockbuf top {2}(\d\d:\d\d:\d\d) {2}(\d+) sockets, /.exec(head);
      if (!m) broken.push(`snapshot ${i}: header ${JSON.stringify(head.slice(0, 80))}`);
      else {
        assert.ok(m[1] >= last, `snapshot ${i} is in order (${m[1]} after ${last})`);
        last = m[1];
        if (Number(m[2]) !== rows.length) broken.push(`snapshot ${i}: ${m[2]} sockets, ${rows.length} rows`);
      }
      if (!/^STATE\s+LOCAL\s+PEER/.test(columns ?? "")) broken.push(`snapshot ${i}: no column header`);
      for (const row of rows) {
        if (!ROW.test(row)) broken.push(`snapshot ${i}: ${JSON.stringify(row.slice(0, 100))}`);
      }
    });
    console.log(
      `${runtime}: ${r.stdout.length} bytes, ${frames.length} snapshots, ${broken.length} broken lines` +
        (broken.length ? `:\n${broken.slice(0, 10).join("\n")}` : ""),
    );
    assert.equal(frames.length, count, "every snapshot arrived");
    assert.deepEqual(broken, [], "no snapshot is cut or interleaved");
    assert.equal(frames[0].split("\n").length, 2 + 600, "each snapshot lists all 600 sockets");
  });

  for (
    const [what, args] of [
      ["ls", ["ls", "--port", "PORT"]],
      ["ls --json", ["ls", "--json", "--port", "PORT"]],
      ["top", ["top", "--interval", "100", "--count", "5", "--port", "PORT"]],
      ["demo", ["demo", "--seconds", "0.3"]],
    ] as const
  ) {
    it(`${what} into a reader that closes after its first read: exit 141, nothing on stderr`, {
      timeout: 120_000,
    }, (t) => {
      if (!needs(t, hasRuntime(), `${runtime} on PATH`)) return;
      if (!needs(t, hasTool("python3"), "python3 (the reader)")) return;
      const r = throughPipe("close", 400, [...args]);
      console.log(`${runtime} ${what}: exit ${r.rc}, stderr ${JSON.stringify(r.stderr.slice(0, 300))}`);
      assert.equal(r.stderr, "", "nothing on stderr: no stack trace, no banner, no message");
      assert.equal(r.rc, 141, "exit 141, as a shell reports a program SIGPIPE ended");
      assert.ok(r.stdout.length > 1, "the reader got its first line");
    });
  }
});
