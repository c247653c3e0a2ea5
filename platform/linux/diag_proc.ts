/**
 * Linux: which processes hold a socket (`/proc/PID/fd/N → socket:[INODE]`, as `ss -p` finds
 * them), and another process's socket through `pidfd_open` + `pidfd_getfd` (Linux 5.6).
 *
 * Everything goes through libc, so Deno needs only `--allow-ffi`: its own file-system API
 * treats `/proc` as privileged (`--allow-all`).
 *
 * @module
 */
import { SockbufError } from "../../errors.ts";
import type { Libc } from "../../ffi/mod.ts";
import type { SocketProcess } from "../../types.ts";
import { check, errnoName } from "../posix.ts";
import { LINUX_ERRNO } from "./errno.ts";

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
/** Syscall numbers, the same on x86_64 and aarch64 (asm-generic/unistd.h, syscall_64.tbl). */
const SYS_PIDFD_OPEN = 434;
const SYS_PIDFD_GETFD = 438;

const SOCKET_PREFIX = [...new TextEncoder().encode("socket:[")];

/** A process's command name from `/proc/PID/comm`, or `""` if it cannot be read. */
function commandOf(c: Libc, pid: number, buf: Uint8Array): string {
  const fd = c.open(new TextEncoder().encode(`/proc/${pid}/comm\0`), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  try {
    const len = c.read(fd, buf);
    if (len <= 0) return "";
    return new TextDecoder().decode(buf.subarray(0, buf[len - 1] === 10 ? len - 1 : len));
  } finally {
    c.closeFd(fd);
  }
}

/**
 * Every socket inode held open by a process this one may look into, with its holders.
 * Processes of other users are skipped unless running as root (their fd directories refuse).
 */
export function socketProcesses(c: Libc): Map<number, SocketProcess[]> {
  const found = new Map<number, SocketProcess[]>();
  const dirs = c.listDir("/proc");
  if (typeof dirs === "number") check(dirs, LINUX_ERRNO, "list /proc", "opendir");
  // One path buffer and one link buffer for every readlink: "/proc/PID/fd/" then the fd.
  const path = new Uint8Array(64);
  const link = new Uint8Array(64);
  const comm = new Uint8Array(64);
  for (const name of dirs as string[]) {
    const first = name.charCodeAt(0);
    if (first < 48 || first > 57) continue; // not a pid
    const fds = c.listDir(`/proc/${name}/fd`);
    if (typeof fds === "number") continue; // gone, or not ours to read
    const pid = Number(name);
    let prefix = 0;
    for (const ch of `/proc/${name}/fd/`) path[prefix++] = ch.charCodeAt(0);
    let command: string | undefined;
    for (const fdName of fds) {
      if (fdName.charCodeAt(0) === 46) continue; // "." and ".."
      let p = prefix;
      for (let i = 0; i < fdName.length; i++) path[p++] = fdName.charCodeAt(i);
      path[p] = 0;
      const n = c.readlink(path, link);
      if (n < 10 || link[0] !== SOCKET_PREFIX[0] || link[7] !== SOCKET_PREFIX[7]) continue;
      let inode = 0;
      for (let i = 8; i < n - 1; i++) inode = inode * 10 + link[i] - 48;
      command ??= commandOf(c, pid, comm);
      const holder: SocketProcess = { pid, fd: Number(fdName), command };
      const list = found.get(inode);
      if (list) list.push(holder);
      else found.set(inode, [holder]);
    }
  }
  return found;
}

/** Why a pidfd call failed, in words a reader can act on. */
function pidfdError(errno: number, syscall: string, pid: number, fd: number): SockbufError {
  const code = errnoName(LINUX_ERRNO, errno);
  const what = syscall === "pidfd_open" ? `open process ${pid}` : `take fd ${fd} of process ${pid}`;
  const why: Record<string, string> = {
    EPERM: "pidfd_getfd needs ptrace rights over the process (PTRACE_MODE_ATTACH_REALCREDS): " +
      "the same uid, not denied by /proc/sys/kernel/yama/ptrace_scope, or CAP_SYS_PTRACE (root)",
    ESRCH: "no such process",
    EBADF: `fd ${fd} is not open in process ${pid}`,
    ENOSYS: "pidfd_open and pidfd_getfd need Linux 5.6 or later",
    EINVAL: "not a valid process id",
  };
  return new SockbufError(why[code] ? `${what} (${why[code]})` : what, syscall, errno, code);
}

/**
 * Runs `use` on a duplicate of process `pid`'s fd `fd`, made with `pidfd_getfd`, and closes
 * the duplicate (and the pidfd) afterwards whatever happens.
 *
 * @throws {SockbufError} `EPERM` without ptrace rights, `ESRCH` for no such process, `EBADF`
 * for an fd not open there, `ENOSYS` before Linux 5.6, each with a message saying so
 */
export function withProcessFd<T>(c: Libc, pid: number, fd: number, use: (dup: number) => T): T {
  const sys = c.syscall3;
  if (!sys) throw pidfdError(38, "pidfd_open", pid, fd); // ENOSYS: not bound on this CPU
  const pidfd = sys(SYS_PIDFD_OPEN, pid, 0, 0);
  if (pidfd < 0) throw pidfdError(-pidfd, "pidfd_open", pid, fd);
  try {
    const dup = sys(SYS_PIDFD_GETFD, pidfd, fd, 0);
    if (dup < 0) throw pidfdError(-dup, "pidfd_getfd", pid, fd);
    try {
      return use(dup);
    } finally {
      c.closeFd(dup);
    }
  } finally {
    c.closeFd(pidfd);
  }
}
