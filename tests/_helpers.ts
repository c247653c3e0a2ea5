/**
 * Shared test helpers: sockets with known fds, external tools, and skips that are never
 * silent (under CI=true a missing tool fails the test instead).
 *
 * Uses only what Deno and Bun both have (`node:*`), so one suite runs under both, and under Node.
 * Test files do not declare `using`: Node 22 cannot parse it, and the suite runs there too.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  cpSync,
  existsSync,
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import type { TestContext } from "node:test";
import { libc } from "../ffi/mod.ts";
import { LINUX_LIBC } from "../platform/linux/mod.ts";
import { platform } from "../platform/mod.ts";
import { runtimeName } from "../_runtime.ts";
export { setReceiveBuffer, sleep, type StalledPair, stalledPair, unconnectedFd } from "../_testing.ts";

export const CI = process.env.CI === "true";
export const runtime: "bun" | "deno" | "node" = runtimeName;

/** True when `cmd` runs. */
export function hasTool(cmd: string, args: string[] = ["--version"]): boolean {
  return spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
}

/**
 * Skips the test with a message saying what is missing, or, under CI=true, fails it:
 * nothing skips silently in CI.
 */
export function needs(t: TestContext, ok: boolean, what: string): boolean {
  if (ok) return true;
  if (CI) throw new Error(`CI=true and this test needs ${what}`);
  t.skip(`needs ${what}`);
  console.log(`SKIP ${t.name}: needs ${what}`);
  return false;
}

/** Bytes as lowercase hex, two digits each, for messages and for C oracles that read hex. */
export function hex(bytes: ArrayLike<number>): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Runs a command (never through a shell) and returns its stdout. */
export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8" });
}

/** How a process running as another user starts a fixture: a command line and its environment. */
export interface OtherUser {
  /** The runtime binary, reachable by any user. */
  readonly exe: string;
  /** `exe`'s arguments to run `tests/fixtures/NAME` with `args` (Deno: `run --allow-all`). */
  argv(name: string, ...args: string[]): string[];
  /** An environment whose HOME and DENO_DIR that user can write, and no one else's cache. */
  readonly env: Record<string, string | undefined>;
  /** Removes the copy. */
  remove(): void;
}

const repoRoot = dirname(dirname(fileURLToPath(import.meta.url)));

/** Copies every `.ts` file below `from` (not node_modules, .git or .tmp) to `to`. */
function copySources(from: string, to: string): void {
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const src = join(from, e.name);
    if (e.isDirectory()) {
      mkdirSync(join(to, e.name), { mode: 0o755 });
      copySources(src, join(to, e.name));
    } else if (e.isFile() && e.name.endsWith(".ts")) {
      copyFileSync(src, join(to, e.name));
      chmodSync(join(to, e.name), 0o644);
    }
  }
}

/**
 * Lets `uid` run a fixture although the checkout may sit under a directory only root can
 * enter (a clone in `mktemp -d`, a private home): a fresh directory any user can read, holding
 * the runtime binary (a hard link where the filesystem allows, else a copy) and a copy of the
 * project's sources, plus a HOME and DENO_DIR owned by `uid`. Runs as root (it chowns).
 */
export function otherUser(uid: number): OtherUser {
  const dir = mkdtempSync(join(tmpdir(), "sockbuf-other-"));
  try {
    chmodSync(dir, 0o755);
    const exe = join(dir, runtime);
    try {
      linkSync(process.execPath, exe);
    } catch {
      copyFileSync(process.execPath, exe);
      chmodSync(exe, 0o755);
    }
    const src = join(dir, "src");
    mkdirSync(src, { mode: 0o755 });
    copySources(repoRoot, src);
    if (runtime === "node") {
      // Node reads "type": "module" from package.json, and a Node without node:ffi needs koffi
      // (its native part is a package of its own per platform, under @koromix).
      copyFileSync(join(repoRoot, "package.json"), join(src, "package.json"));
      chmodSync(join(src, "package.json"), 0o644);
      for (const pkg of ["koffi", "@koromix"]) {
        const from = join(repoRoot, "node_modules", pkg);
        if (existsSync(from)) cpSync(from, join(src, "node_modules", pkg), { recursive: true });
      }
    }
    const home = join(dir, "home");
    mkdirSync(home, { mode: 0o700 });
    chownSync(home, uid, uid);
    return {
      exe,
      argv: (name, ...args) => {
        const script = join(src, "tests", "fixtures", name);
        return runtime === "deno" ? ["run", "--allow-all", script, ...args] : [script, ...args];
      },
      env: { ...process.env, HOME: home, DENO_DIR: join(home, "deno"), XDG_CACHE_HOME: home },
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** A throwaway self-signed certificate for localhost/127.0.0.1, made by openssl (never through a shell). */
export function selfSigned(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "sockbuf-tls-"));
  try {
    execFileSync("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-addext",
      "basicConstraints=critical,CA:FALSE",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    return {
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
      key: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A runtime's serve form on 127.0.0.1, for tests that run on each: the handler gets what
 * sockbuf takes for a request (`{ server, info }` from Deno.serve, `{ server, request }` from
 * Bun.serve), and the form for the other runtime is skipped with a reason.
 */
export interface ServeForm {
  name: string;
  skip: string | false;
  start(h: (r: never) => Response | Promise<Response>): { port: number; close(): unknown };
}

// deno-lint-ignore no-explicit-any -- Bun's global is untyped under deno check
const Bun = (globalThis as any).Bun;

/** Deno.serve and Bun.serve as {@linkcode ServeForm}s. */
export const SERVE_FORMS: readonly ServeForm[] = [
  {
    name: "Deno.serve",
    skip: runtime !== "deno" && `Deno's API: not in ${runtime}`,
    start(h) {
      const server: Deno.HttpServer<Deno.NetAddr> = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen() {} },
        (_req, info) => h({ server, info } as never),
      );
      return { port: server.addr.port, close: () => server.shutdown() };
    },
  },
  {
    name: "Bun.serve",
    skip: runtime !== "bun" && `Bun's API: not in ${runtime}`,
    start(h) {
      const server = Bun.serve({
        hostname: "127.0.0.1",
        port: 0,
        fetch: (request: Request) => h({ server, request } as never),
      });
      return { port: server.port, close: () => server.stop(true) };
    },
  },
];

/** A tmux server of the test's own, on a private socket, with one session in it. */
export interface TmuxSession {
  /** Runs a tmux command against this server (never through a shell) and returns its stdout. */
  tmux(...args: string[]): string;
  /** Kills this server, its session and the program in it. */
  kill(): void;
}

/**
 * Starts `line` in a detached tmux session of `cols` x `rows` on a tmux server of its own
 * (a socket in a fresh temporary directory, no config file). A shared default server exits
 * when its last session is killed, and a `new-session` that reaches it while it exits fails
 * with "server exited unexpectedly"; a private server per session has no such race. The
 * session is named `main`. `kill()` removes the server, its socket and the directory.
 */
export function tmuxSession(cwd: string, cols: number, rows: number, line: string): TmuxSession {
  const dir = mkdtempSync(join(tmpdir(), "sockbuf-tmux-"));
  const base = ["-S", join(dir, "socket"), "-f", "/dev/null"];
  const session: TmuxSession = {
    tmux: (...args) => run("tmux", [...base, ...args]),
    kill() {
      spawnSync("tmux", [...base, "kill-server"], { stdio: "ignore" });
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    session.tmux("new-session", "-d", "-s", "main", "-x", `${cols}`, "-y", `${rows}`, "-c", cwd, line);
  } catch (e) {
    session.kill();
    throw e;
  }
  return session;
}

/** The fd of the Unix socket bound to `path` (Linux: a 2-byte family, then the path). */
export function fdByUnixPath(path: string): number {
  const c = libc(LINUX_LIBC);
  const want = new TextEncoder().encode(path);
  const addr = new Uint8Array(128);
  for (const fd of platform().sockets.openFds()) {
    const len = c.getsockname(fd, addr);
    if (len >= 2 + want.length && addr[0] === 1 && want.every((b, i) => addr[2 + i] === b)) return fd;
  }
  throw new Error(`No Unix socket at ${path}`);
}

/** What `ss -tmi` says of one connection. */
export interface SsLine {
  sendQ: number;
  skmem: Record<string, number>;
  notsent: number | undefined;
  unacked: number | undefined;
  cwnd: number | undefined;
  mss: number | undefined;
  raw: string;
}

/**
 * Runs `ss -tmi` for the connection with these local and peer ports, and these addresses
 * where given (for connections that differ only in an address).
 */
export function ssFor(
  localPort: number,
  peerPort: number,
  addresses: { local?: string; peer?: string } = {},
): SsLine {
  const end = (address: string | undefined, port: number) =>
    address === undefined
      ? `:${port}`
      : address.includes(":")
      ? `[${address}]:${port}`
      : `${address}:${port}`;
  const filter = addresses.local === undefined && addresses.peer === undefined
    ? `( sport = :${localPort} and dport = :${peerPort} )`
    : `( src ${end(addresses.local, localPort)} and dst ${end(addresses.peer, peerPort)} )`;
  const out = run("ss", ["-tmiHn", "state", "all", filter]);
  const [head, ...rest] = out.trim().split("\n");
  if (!head) throw new Error(`ss shows no connection ${localPort} -> ${peerPort}`);
  const detail = rest.join(" ");
  const num = (re: RegExp) => {
    const m = re.exec(detail);
    return m ? Number(m[1]) : undefined;
  };
  const skmem: Record<string, number> = {};
  const sk = /skmem:\(([^)]*)\)/.exec(detail);
  for (const part of sk ? sk[1].split(",") : []) {
    const m = /^([a-z]+)(\d+)$/.exec(part);
    if (m) skmem[m[1]] = Number(m[2]);
  }
  return {
    sendQ: Number(head.trim().split(/\s+/)[2]),
    skmem,
    notsent: num(/\bnotsent:(\d+)/),
    unacked: num(/\bunacked:(\d+)/),
    cwnd: num(/\bcwnd:(\d+)/),
    mss: num(/\bmss:(\d+)/),
    raw: out,
  };
}
