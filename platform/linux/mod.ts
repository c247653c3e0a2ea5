/**
 * Linux: constants, errno names, and the calls. x86_64 and aarch64 share every number used
 * here (mips, ppc and sparc do not, and are not supported).
 *
 * Sources: socket(7), tcp(7); include/uapi/asm-generic/socket.h, include/uapi/linux/tcp.h,
 * include/uapi/linux/sockios.h, include/uapi/asm-generic/ioctls.h; net/ipv4/tcp.c
 * (`tcp_ioctl`, `tcp_get_info`).
 *
 * @module
 */
import { libc } from "../../ffi/mod.ts";
import type { Libc, LibcSpec } from "../../ffi/mod.ts";
import type { LinuxTcpInfo, SendBuffer, TcpState } from "../../types.ts";
import { check, errorFor, intOptions, socketOps, stateName, testingOps } from "../posix.ts";
import { decode, type Layout, viewOf } from "../layout.ts";
import { LINUX_ERRNO } from "./errno.ts";
import { type LinuxDiagContext, listLinuxSockets, listLinuxSocketsJson, withProcessFd } from "./diag.ts";
import {
  decodeLinux618,
  decodeLinuxBits,
  LinuxTcpInfo618,
  LinuxTcpInfoBits,
  linuxTcpInfoWords,
} from "./tcp_info_decode.gen.ts";
import type { LinuxTcpInfoFields } from "../../tcp_info_fields.ts";
import { LINUX_TCP_INFO_6_18, LINUX_TCP_INFO_BITS } from "./tcp_info_layout.ts";
import type { Platform, TestingOps } from "../types.ts";

/**
 * `tcpi_notsent_bytes` (Linux 4.6) is the u32 at 144: a TCP_INFO that returns fewer than
 * 148 bytes comes from an older kernel, which must be asked SIOCOUTQNSD instead.
 */
const NOTSENT_END = 148;
/** `include/uapi/linux/sock_diag.h`: `SK_MEMINFO_SNDBUF` = 3, `SK_MEMINFO_WMEM_QUEUED` = 5. */
const SK_MEMINFO_SNDBUF = 3;
const SK_MEMINFO_WMEM_QUEUED = 5;
/** `TCP_SYN_SENT`, `TCP_SYN_RECV`: SIOCOUTQNSD answers 0 in these states. */
const SYN_SENT = 2;
const SYN_RECV = 3;

/** Linux numbers sockbuf uses. */
export const LINUX = {
  SOL_SOCKET: 1,
  SO_TYPE: 3,
  SOCK_STREAM: 1,
  SO_SNDBUF: 7,
  SO_RCVBUF: 8,
  SO_MEMINFO: 55,
  /** A u64 that identifies a socket and is never reused while the system runs (Linux 4.12). */
  SO_COOKIE: 57,
  AF_INET: 2,
  AF_INET6: 10,
  IPPROTO_TCP: 6,
  TCP_INFO: 11,
  TCP_NOTSENT_LOWAT: 25,
  /** `write_seq − snd_una`: unacked + unsent. tcp(7) wrongly calls it "unsent". */
  SIOCOUTQ: 0x5411,
  /** `write_seq − snd_nxt`: unsent only. */
  SIOCOUTQNSD: 0x894b,
} as const;

/** How to open glibc. */
export const LINUX_LIBC: LibcSpec = {
  path: "libc.so.6",
  errnoSymbol: "__errno_location",
  ioctl: true,
  syscall: true,
  // glibc's struct dirent on 64-bit: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name
  dirent: { opendir: "opendir", readdir: "readdir", nameOffset: 19 },
};
const SPEC = LINUX_LIBC;

/** `include/net/tcp_states.h`, by number. */
const STATES: readonly TcpState[] = [
  "UNKNOWN",
  "ESTABLISHED",
  "SYN_SENT",
  "SYN_RECEIVED",
  "FIN_WAIT_1",
  "FIN_WAIT_2",
  "TIME_WAIT",
  "CLOSED",
  "CLOSE_WAIT",
  "LAST_ACK",
  "LISTEN",
  "CLOSING",
  "NEW_SYN_RECV",
  "BOUND_INACTIVE",
];

/**
 * The first kernel release whose `tcp_info` ends in the u32 bit word rather than two u16s.
 * Both layouts are 280 bytes, so only the release can tell them apart.
 */
export const LINUX_TCP_INFO_BITS_SINCE: readonly [number, number] = [7, 0];

/** True when a `uname -r` release string is at least `major.minor`. */
function atLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  const [maj, min] = m ? [Number(m[1]), Number(m[2])] : [0, 0];
  return maj > major || (maj === major && min >= minor);
}

/** The release that grew `tcp_info` to each size (include/uapi/linux/tcp.h history). */
const SIZES: readonly [major: number, minor: number, size: number][] = [
  [6, 18, 280],
  [6, 7, 248],
  [6, 2, 240],
  [5, 4, 232],
  [4, 19, 224],
  [4, 18, 200],
  [4, 10, 192],
  [4, 9, 168],
  [4, 6, 160],
  [4, 2, 144],
  [4, 1, 136],
  [3, 15, 120],
];

/** The size of `tcp_info` a mainline kernel of this release returns. */
export function linuxTcpInfoSize(release: string): number {
  const hit = SIZES.find(([major, minor]) => atLeast(release, major, minor));
  return hit ? hit[2] : 104;
}

/** Picks the layout of the last word of `tcp_info` from a `uname -r` release string. */
export function linuxTcpInfoLayout(release: string): Layout<keyof LinuxTcpInfoFields> {
  return atLeast(release, ...LINUX_TCP_INFO_BITS_SINCE) ? LINUX_TCP_INFO_BITS : LINUX_TCP_INFO_6_18;
}

/**
 * Decodes a Linux `tcp_info` buffer of which the kernel returned `length` bytes, with the
 * layout's generated decoder (platform/linux/tcp_info_decode.gen.ts).
 */
export function decodeLinuxTcpInfo(
  bytes: Uint8Array,
  length: number,
  layout: Layout<keyof LinuxTcpInfoFields> = LINUX_TCP_INFO_6_18,
): LinuxTcpInfo {
  const n = Math.min(length, bytes.byteLength);
  const info = (layout === LINUX_TCP_INFO_BITS ? decodeLinuxBits : decodeLinux618)(viewOf(bytes), n, STATES);
  info.length = length;
  return info;
}

/** The same result by the generic table-driven decoder: the reference the generated one is tested against. */
export function decodeLinuxTcpInfoByTable(
  bytes: Uint8Array,
  length: number,
  layout: Layout<keyof LinuxTcpInfoFields> = LINUX_TCP_INFO_6_18,
): LinuxTcpInfo {
  const fields = decode(layout, bytes, length);
  const state = fields.stateNumber === undefined ? "UNKNOWN" : stateName(STATES, fields.stateNumber);
  return { os: "linux", state, length, ...fields };
}

// Scratch buffers: calls are synchronous and JavaScript is single-threaded, so one set is
// enough and the hot path allocates nothing but its result. Word views read them in the
// native byte order, little-endian on every supported target.
const info = new Uint8Array(512); // more than any known tcp_info, so a longer one shows in `length`
const infoWords = new Uint32Array(info.buffer);
// inspect()'s three calls write here: tcp_info through tcpi_notsent_bytes, and sk_meminfo
// through SK_MEMINFO_WMEM_QUEUED.
const head = new Uint8Array(NOTSENT_END);
const headWords = new Uint32Array(head.buffer);
const meminfo = new Uint8Array(24); // u32 sk_meminfo[SK_MEMINFO_WMEM_QUEUED + 1]
const memWords = new Uint32Array(meminfo.buffer);
const acked = new Uint8Array(128); // tcp_info through tcpi_bytes_acked (Linux 4.1)
const ackedView = new DataView(acked.buffer);
let tailLayout: Layout<keyof LinuxTcpInfoFields> | undefined;
let TcpInfoClass: typeof LinuxTcpInfo618 | typeof LinuxTcpInfoBits | undefined;

function kernelLayout(c: Libc): Layout<keyof LinuxTcpInfoFields> {
  if (tailLayout) return tailLayout;
  const uts = new Uint8Array(6 * 65); // struct utsname: six char[65]
  check(c.uname(uts), LINUX_ERRNO, "read the kernel release", "uname");
  const release = new TextDecoder().decode(uts.subarray(130, 195)).replace(/\0.*$/s, "");
  return tailLayout = linuxTcpInfoLayout(release);
}

const { get: getInt, set: setInt } = intOptions(LINUX_ERRNO);

const cookie = new Uint8Array(8);
const cookieView = new DataView(cookie.buffer);

/**
 * `inspect()` on Linux in three syscalls (FACTS §8): TCP_INFO gives the state, the unacked
 * segments and `tcpi_notsent_bytes`, which is SIOCOUTQNSD's `write_seq − snd_nxt`;
 * SIOCOUTQ gives what is queued; SO_MEMINFO gives `sk_sndbuf`, the value SO_SNDBUF reads,
 * and the memory fields. A kernel older than 4.6 has neither `tcpi_notsent_bytes` (the
 * length TCP_INFO returns says so) nor SO_MEMINFO (it fails): SIOCOUTQNSD and SO_SNDBUF
 * stand in, so the numbers are the same either way. `c` is a parameter so a test can play
 * an old kernel.
 */
export function inspectLinux(c: Libc, fd: number): SendBuffer {
  // TCP_INFO first: it is the call that refuses anything but a TCP socket (ENOTSOCK for
  // files, ENOPROTOOPT for UDP, EOPNOTSUPP for Unix sockets).
  const n = check(
    c.getsockopt(fd, LINUX.IPPROTO_TCP, LINUX.TCP_INFO, head),
    LINUX_ERRNO,
    "read TCP_INFO",
    "getsockopt",
  );
  const ioctl = c.ioctlInt!;
  // EINVAL on a LISTEN socket, whose tcpi_unacked is the accept queue, not data.
  const queued = check(ioctl(fd, LINUX.SIOCOUTQ), LINUX_ERRNO, "read SIOCOUTQ", "ioctl");
  const m = c.getsockopt(fd, LINUX.SOL_SOCKET, LINUX.SO_MEMINFO, meminfo);
  const state = n >= 1 ? head[0] : 0;
  const unsent = n < NOTSENT_END
    ? check(ioctl(fd, LINUX.SIOCOUTQNSD), LINUX_ERRNO, "read SIOCOUTQNSD", "ioctl")
    : state === SYN_SENT || state === SYN_RECV
    ? 0 // as SIOCOUTQNSD: a fast-open SYN's data is not yet "unsent"
    : headWords[NOTSENT_END / 4 - 1];
  const size = m >= (SK_MEMINFO_SNDBUF + 1) * 4
    ? memWords[SK_MEMINFO_SNDBUF]
    : getInt(c, fd, LINUX.SOL_SOCKET, LINUX.SO_SNDBUF, "SO_SNDBUF");
  // One literal, always the same keys in the same order: one hidden class for every result.
  return {
    size,
    queued,
    unsent,
    unackedBytes: queued > unsent ? queued - unsent : 0,
    unackedSegments: n >= 28 ? headWords[6] : undefined,
    free: size > queued ? size - queued : 0,
    state: n >= 1 ? stateName(STATES, state) : "UNKNOWN",
    memory: m >= (SK_MEMINFO_WMEM_QUEUED + 1) * 4
      ? { sndbuf: memWords[SK_MEMINFO_SNDBUF], wmemQueued: memWords[SK_MEMINFO_WMEM_QUEUED] }
      : undefined,
  };
}

/** What the listing needs from this file. */
const DIAG_CONTEXT: LinuxDiagContext = {
  lib: () => libc(SPEC),
  states: STATES,
  tcpInfo: (bytes, length) => decodeLinuxTcpInfo(bytes, length, kernelLayout(libc(SPEC))),
};

/** The Linux platform. */
export const linux: Platform = {
  os: "linux",
  inspect: (fd) => inspectLinux(libc(SPEC), fd),
  tcpInfo(fd) {
    const c = libc(SPEC);
    const n = check(
      c.getsockopt(fd, LINUX.IPPROTO_TCP, LINUX.TCP_INFO, info),
      LINUX_ERRNO,
      "read TCP_INFO",
      "getsockopt",
    );
    // Lazy: the result keeps a copy of the struct's words and decodes a field when it is
    // read. Measured alone here, the copy costs ~35–50 ns and toJSON()'s ~80 properties ~80–100 ns.
    TcpInfoClass ??= kernelLayout(c) === LINUX_TCP_INFO_BITS ? LinuxTcpInfoBits : LinuxTcpInfo618;
    return new TcpInfoClass(linuxTcpInfoWords(infoWords), n, n >= 1 ? stateName(STATES, info[0]) : "UNKNOWN");
  },
  getNotSentLowat(fd) {
    return getInt(libc(SPEC), fd, LINUX.IPPROTO_TCP, LINUX.TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT");
  },
  setNotSentLowat(fd, bytes) {
    setInt(libc(SPEC), fd, LINUX.IPPROTO_TCP, LINUX.TCP_NOTSENT_LOWAT, bytes, "TCP_NOTSENT_LOWAT");
  },
  written(fd) {
    // bytes_acked + SIOCOUTQ = write_seq − the first data byte's sequence number
    const c = libc(SPEC);
    const n = c.getsockopt(fd, LINUX.IPPROTO_TCP, LINUX.TCP_INFO, acked);
    const queued = c.ioctlInt!(fd, LINUX.SIOCOUTQ);
    if (n < 128 || queued < 0) return undefined;
    return ackedView.getUint32(120, true) + ackedView.getUint32(124, true) * 2 ** 32 + queued;
  },
  error: (op, syscall, code) => errorFor(LINUX_ERRNO, op, syscall, code),
  listSockets: (query) => listLinuxSockets(query, DIAG_CONTEXT),
  listSocketsJson: (query) => listLinuxSocketsJson(query, DIAG_CONTEXT),
  inspectProcessSocket: (pid, fd) => withProcessFd(libc(SPEC), pid, fd, (dup) => linux.inspect(dup)),
  sockets: socketOps(
    { ...LINUX, ENOTCONN: 107, familyOffset: 0, fdDir: "/proc/self/fd", errno: LINUX_ERRNO },
    () => libc(SPEC),
    (fd) => {
      check(
        libc(SPEC).getsockopt(fd, LINUX.SOL_SOCKET, LINUX.SO_COOKIE, cookie),
        LINUX_ERRNO,
        "read SO_COOKIE",
        "getsockopt",
      );
      // Cookies count sockets created since boot: far below 2^53, so a number is exact.
      return cookieView.getUint32(0, true) + cookieView.getUint32(4, true) * 2 ** 32;
    },
  ),
};

/** What only the demo, examples, benchmarks and tests need of Linux (through `_testing.ts`). */
export const linuxTesting: TestingOps = testingOps(
  linux.sockets,
  () => libc(SPEC),
  (fd, bytes) => setInt(libc(SPEC), fd, LINUX.SOL_SOCKET, LINUX.SO_RCVBUF, bytes, "SO_RCVBUF"),
);
