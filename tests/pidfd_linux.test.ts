/**
 * inspectProcessSocket(): another process's socket, duplicated with pidfd_getfd, against
 * `ss -tmie`; and the errors, including a user without ptrace rights over the target.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as net from "node:net";
import process from "node:process";
import { describe, it } from "node:test";
import { inspectProcessSocket, listSocketsSync, SockbufError } from "../mod.ts";
import { hasTool, needs, otherUser, sleep } from "./_helpers.ts";
import { ssDetail, startHolder } from "./_diag.ts";

const linux = process.platform === "linux";
const root = linux && process.getuid?.() === 0;

/** A server that accepts and never reads, so the holder's writes stay queued. */
async function stalledServer(): Promise<{ server: net.Server; port: number; close(): Promise<void> }> {
  const accepted: net.Socket[] = [];
  const server = net.createServer({ pauseOnConnect: true }, (s) => accepted.push(s));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    async close() {
      for (const s of accepted) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("inspectProcessSocket()", { skip: !linux && "Linux only: pidfd_getfd" }, () => {
  it("reads a child process's socket as ss sees it", { timeout: 30_000 }, async (t) => {
    if (!needs(t, root && hasTool("ss", ["-V"]), "root and ss")) return;
    const srv = await stalledServer();
    const holder = await startHolder("127.0.0.1", srv.port, 6_000_000);
    try {
      // Wait until the child's queue holds still, then read between two identical ss lines
      let done = false;
      for (let i = 0; i < 100 && !done; i++) {
        await sleep(50);
        const before = ssDetail(holder.localPort, srv.port);
        const buf = await inspectProcessSocket(holder.pid, holder.fd);
        const ss = ssDetail(holder.localPort, srv.port);
        const key = (l: typeof ss) => JSON.stringify([l.sendQ, l.skmem, l.notsent, l.unacked]);
        if (key(before) !== key(ss) || ss.sendQ === 0) continue;
        assert.equal(buf.queued, ss.sendQ, `queued = Send-Q: ${ss.raw}`);
        assert.equal(buf.unsent, ss.notsent, `unsent = notsent: ${ss.raw}`);
        assert.equal(buf.unackedSegments, ss.unacked, `unackedSegments = unacked: ${ss.raw}`);
        assert.equal(buf.size, ss.skmem.tb, `size = tb: ${ss.raw}`);
        assert.equal(buf.memory?.wmemQueued, ss.skmem.w, `wmemQueued = w: ${ss.raw}`);
        assert.equal(buf.state, "ESTABLISHED");
        assert.ok(buf.unsent! > 0, ss.raw);
        done = true;
      }
      assert.ok(done, "the child's socket held still with data queued");
      // The listing names the same process and fd (ESTABLISHED: a TIME_WAIT left by an earlier
      // connection on the same port has no inode and no holder)
      const here = { port: { local: holder.localPort, peer: srv.port }, states: ["ESTABLISHED"] } as const;
      const [entry] = listSocketsSync({ ...here, processes: true });
      assert.deepEqual(entry.processes?.map((p) => [p.pid, p.fd]), [[holder.pid, holder.fd]]);
      // The duplicate was closed: this process holds no fd of that socket
      const [again] = listSocketsSync({ ...here, processes: true });
      assert.ok(again.processes?.every((p) => p.pid !== process.pid), JSON.stringify(again.processes));
    } finally {
      await holder.stop();
      await srv.close();
    }
  });

  it("explains the ptrace requirement when the caller has no rights over the process", {
    timeout: 30_000,
  }, async (t) => {
    if (!needs(t, root && hasTool("setpriv", ["--version"]), "root and setpriv")) return;
    const srv = await stalledServer();
    const holder = await startHolder("127.0.0.1", srv.port, 1000); // root-owned
    try {
      const other = otherUser(65534);
      let r;
      try {
        r = spawnSync(
          "setpriv",
          [
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            other.exe,
            ...other.argv("diag_inspect.ts", `${holder.pid}`, `${holder.fd}`),
          ],
          { encoding: "utf8", env: other.env, timeout: 20_000 },
        );
      } finally {
        other.remove();
      }
      assert.equal(r.status, 0, r.stderr);
      const got = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
      assert.equal(got.code, "EPERM", r.stdout);
      assert.equal(got.syscall, "pidfd_getfd", r.stdout);
      assert.match(got.message, /ptrace/);
      assert.match(got.message, /CAP_SYS_PTRACE/);
      assert.match(got.message, /same uid/);
      assert.match(got.message, new RegExp(`process ${holder.pid}`));
    } finally {
      await holder.stop();
      await srv.close();
    }
  });

  it("says which of process and fd is missing, and rejects bad arguments", async () => {
    // A pid that no longer exists: a child that has exited and been reaped
    const gone = spawnSync(process.execPath, ["--version"]).pid!;
    await assert.rejects(inspectProcessSocket(gone, 0), (err: unknown) => {
      assert.ok(err instanceof SockbufError);
      assert.equal(err.code, "ESRCH");
      assert.match(err.message, /no such process/);
      return true;
    });
    await assert.rejects(inspectProcessSocket(process.pid, 1_000_000), (err: unknown) => {
      assert.ok(err instanceof SockbufError);
      assert.equal(err.code, "EBADF");
      assert.match(err.message, /fd 1000000 is not open in process/);
      return true;
    });
    await assert.rejects(inspectProcessSocket(0, 3), RangeError);
    await assert.rejects(inspectProcessSocket(1, -1), RangeError);
    await assert.rejects(inspectProcessSocket(1.5, 3), RangeError);
    await assert.rejects(inspectProcessSocket("1" as unknown as number, 3), TypeError);
  });
});
