/**
 * macOS: constants, state names, and the calls. x86_64 and arm64 share every number and
 * layout used here.
 *
 * Sources (apple-oss-distributions/xnu tag xnu-11417.101.15): bsd/sys/socket.h
 * (`SOL_SOCKET`, `SO_SNDBUF`, `SO_NWRITE`), bsd/netinet/tcp.h (`TCP_CONNECTION_INFO`,
 * `TCP_NOTSENT_LOWAT`), bsd/netinet/tcp_private.h (`TCP_INFO`), bsd/netinet/tcp_fsm.h
 * (states), bsd/kern/uipc_socket.c (`SO_NWRITE` is `so_snd.sb_cc`), bsd/netinet/tcp_usrreq.c
 * (`tcp_fill_info`, `tcp_connection_fill_info`); getsockopt(2), tcp(4).
 *
 * Only `getsockopt`/`setsockopt` are called: `ioctl` is variadic, and Apple arm64 passes
 * variadic arguments on the stack, so an FFI declaration with fixed parameters would break.
 * macOS has no SIOCOUTQ anyway.
 *
 * @module
 */
import { SockbufError } from "../../errors.ts";
import { hostArch } from "../../_runtime.ts";
import { libc } from "../../ffi/mod.ts";
import type { Libc, LibcSpec } from "../../ffi/mod.ts";
import { type DarwinTcpInfo, type SendBuffer, TCP_STATES, type TcpState } from "../../types.ts";
import { check, errorFor, intOptions, socketOps, stateName, testingOps } from "../posix.ts";
import {
  DARWIN_PRIVATE_TCP_INFO,
  DARWIN_TCP_CONNECTION_INFO,
  decodeDarwinConnectionInfo,
  decodeDarwinPrivateTcpInfo,
} from "./tcp_info_layout.ts";
import { DARWIN_ERRNO } from "./errno.ts";
import { SIZE_OF } from "../layout.ts";
import type { Platform, SocketOps, TestingOps } from "../types.ts";

/** macOS numbers sockbuf uses. */
export const DARWIN = {
  SOL_SOCKET: 0xffff,
  SO_SNDBUF: 0x1001,
  SO_RCVBUF: 0x1002,
  /**
   * Bytes in the send buffer, unacknowledged included (`so_snd.sb_cc`): `queued` where the
   * private TCP_INFO, whose `tcpi_snd_sbbytes` is the same field, does not answer.
   */
  SO_NWRITE: 0x1024,
  IPPROTO_TCP: 6,
  /** Public `struct tcp_connection_info` (since OS X 10.11). */
  TCP_CONNECTION_INFO: 0x106,
  /** Private `struct tcp_info`, "subject to change"; the only source of unacked bytes. */
  TCP_INFO: 0x200,
  TCP_NOTSENT_LOWAT: 0x201,
  SO_TYPE: 0x1008,
  SOCK_STREAM: 1,
  AF_INET: 2,
  AF_INET6: 30,
  /** `TCPS_LISTEN` (bsd/netinet/tcp_fsm.h). */
  TCPS_LISTEN: 1,
} as const;

/** macOS `EINVAL` (bsd/sys/errno.h). */
const EINVAL = 22;

/**
 * How to open libSystem. dlopen finds it in the dyld shared cache, so it need not exist on
 * disk. On x86_64 the 64-bit-inode `opendir`/`readdir` carry the `$INODE64` suffix
 * (`__DARWIN_INODE64` in <dirent.h>); arm64 has only those, unsuffixed. `d_name` follows
 * d_ino u64, d_seekoff u64, d_reclen u16, d_namlen u16, d_type u8.
 */
export function darwinLibc(arch: string): LibcSpec {
  const suffix = arch === "x86_64" || arch === "x64" ? "$INODE64" : "";
  return {
    path: "/usr/lib/libSystem.B.dylib",
    errnoSymbol: "__error",
    ioctl: false,
    dirent: { opendir: `opendir${suffix}`, readdir: `readdir${suffix}`, nameOffset: 21 },
  };
}
let spec: LibcSpec | undefined;
const lib = (): Libc => libc(spec ??= darwinLibc(hostArch()));

/** `TCPS_*` of bsd/netinet/tcp_fsm.h, by number: the first eleven names, in their order. */
const STATES: readonly TcpState[] = TCP_STATES.slice(0, 11);

/** Names a macOS TCP state number (`UNKNOWN` for one this version does not know). */
export function darwinStateName(n: number | undefined): TcpState {
  return n === undefined ? "UNKNOWN" : stateName(STATES, n);
}

/**
 * Builds the `tcpInfo()` result from a `tcp_connection_info` buffer of which the kernel
 * returned `length` bytes and, where `TCP_INFO` answered, the private `tcp_info` buffer and
 * its returned length.
 */
export function decodeDarwinTcpInfo(
  bytes: Uint8Array,
  length: number,
  privateBytes?: Uint8Array,
  privateLength?: number,
): DarwinTcpInfo {
  const fields = decodeDarwinConnectionInfo(bytes, length);
  return {
    os: "darwin",
    state: darwinStateName(fields.stateNumber),
    ...fields,
    private: privateBytes && privateLength !== undefined
      ? decodeDarwinPrivateTcpInfo(privateBytes, privateLength)
      : undefined,
  };
}

/** Where `inspect()` reads the private `tcp_info`: offsets shared by every layout since xnu-3247. */
function fieldEnd(key: "stateNumber" | "sndSbbytes" | "txunacked"): { offset: number; end: number } {
  const f = DARWIN_PRIVATE_TCP_INFO.fields.find((x) => x.key === key)!;
  return { offset: f.offset, end: f.offset + SIZE_OF[f.type] };
}
const SBBYTES = fieldEnd("sndSbbytes"); // u32 at 64
const TXUNACKED = fieldEnd("txunacked"); // u64 at 92, 4-aligned under #pragma pack(4)
const CONN_STATE = DARWIN_TCP_CONNECTION_INFO.fields[0].offset; // u8 at 0

// Scratch buffers: calls are synchronous and JavaScript is single-threaded, so one set is
// enough. Each is larger than its struct, so a longer struct shows in the returned length.
const info = new Uint8Array(512); // private tcp_info, 408 bytes on current macOS
const infoView = new DataView(info.buffer);
const conn = new Uint8Array(128); // tcp_connection_info, 112 bytes

const { get: getInt, set: setInt } = intOptions(DARWIN_ERRNO);

function readConnectionInfo(c: Libc, fd: number): number {
  return check(
    c.getsockopt(fd, DARWIN.IPPROTO_TCP, DARWIN.TCP_CONNECTION_INFO, conn),
    DARWIN_ERRNO,
    "read TCP_CONNECTION_INFO",
    "getsockopt",
  );
}

// macOS has no socket cookie: the address pair identifies a TCP connection instead. A
// closed fd fails getsockname with EBADF; a reused one has another pair.
const ops: SocketOps = socketOps(
  { ...DARWIN, ENOTCONN: 57, familyOffset: 1, fdDir: "/dev/fd", errno: DARWIN_ERRNO },
  lib,
  (fd) => {
    const local = ops.address(fd, "local");
    if (!local) {
      // Report the errno getsockname gives (EBADF for a closed fd).
      check(
        lib().getsockname(fd, new Uint8Array(128)),
        DARWIN_ERRNO,
        "read the socket's address",
        "getsockname",
      );
      throw ops.closed(`fd ${fd} has no IP address`);
    }
    const peer = ops.address(fd, "peer");
    return `${local.port} ${peer ? `${peer.address.join(".")} ${peer.port}` : "-"}`;
  },
);

/**
 * `inspect()` on macOS in two syscalls: the private TCP_INFO gives the state, the unacked
 * bytes and `tcpi_snd_sbbytes`, which is `so_snd.sb_cc`, the very field SO_NWRITE reads
 * (XNU bsd/netinet/tcp_usrreq.c `tcp_fill_info`, bsd/kern/uipc_socket.c `sogetoptlock`);
 * SO_SNDBUF gives the size. Where the private TCP_INFO is refused or too short, the public
 * TCP_CONNECTION_INFO decides the error and SO_NWRITE gives `queued`. `c` is a parameter so a
 * test can run this on byte fixtures.
 */
export function inspectDarwin(c: Libc, fd: number): SendBuffer {
  let state: number | undefined;
  let queued: number | undefined;
  let unsent: number | undefined;
  let unackedBytes: number | undefined;
  // The private TCP_INFO is the only source of unacked bytes. Where it is refused, the
  // public TCP_CONNECTION_INFO decides: its failure (a file, a UDP or Unix socket, a
  // closed fd) is the error to report.
  const n = c.getsockopt(fd, DARWIN.IPPROTO_TCP, DARWIN.TCP_INFO, info);
  if (n >= 0) {
    if (n >= 1) state = info[0];
    if (n >= SBBYTES.end) queued = infoView.getUint32(SBBYTES.offset, true);
    if (n >= TXUNACKED.end) {
      // u64 as two u32 halves: no BigInt on the hot path
      unackedBytes = infoView.getUint32(TXUNACKED.offset, true) +
        infoView.getUint32(TXUNACKED.offset + 4, true) * 2 ** 32;
      // snd_max − snd_una counts a SYN or FIN, which is not in the buffer: it can exceed
      // sb_cc, and XNU's own tcp_notsent_lowat_check guards the same subtraction.
      unsent = Math.max(0, queued! - unackedBytes);
    }
  } else {
    const m = readConnectionInfo(c, fd);
    if (m > CONN_STATE) state = conn[CONN_STATE];
  }
  if (state === DARWIN.TCPS_LISTEN) {
    // Nothing is sent on a listening socket; Linux refuses it with EINVAL too.
    throw new SockbufError("inspect a listening socket", "getsockopt", EINVAL, "EINVAL");
  }
  const size = getInt(c, fd, DARWIN.SOL_SOCKET, DARWIN.SO_SNDBUF, "SO_SNDBUF");
  queued ??= getInt(c, fd, DARWIN.SOL_SOCKET, DARWIN.SO_NWRITE, "SO_NWRITE");
  return {
    size,
    queued,
    unsent,
    unackedBytes,
    unackedSegments: undefined,
    free: Math.max(0, size - queued),
    state: darwinStateName(state),
    memory: undefined,
  };
}

/** The macOS platform. */
export const darwin: Platform = {
  os: "darwin",
  inspect: (fd) => inspectDarwin(lib(), fd),
  tcpInfo(fd) {
    const c = lib();
    const n = readConnectionInfo(c, fd);
    const m = c.getsockopt(fd, DARWIN.IPPROTO_TCP, DARWIN.TCP_INFO, info);
    return decodeDarwinTcpInfo(conn, n, m >= 0 ? info : undefined, m >= 0 ? m : undefined);
  },
  getNotSentLowat(fd) {
    return getInt(lib(), fd, DARWIN.IPPROTO_TCP, DARWIN.TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT");
  },
  setNotSentLowat(fd, bytes) {
    setInt(lib(), fd, DARWIN.IPPROTO_TCP, DARWIN.TCP_NOTSENT_LOWAT, bytes, "TCP_NOTSENT_LOWAT");
  },
  written(fd) {
    // write_seq = snd_una + sb_cc, and snd_una = snd_nxt − (snd_max − snd_una) while nothing
    // is being retransmitted (snd_nxt = snd_max): sequence numbers, so modulo 2^32.
    const n = lib().getsockopt(fd, DARWIN.IPPROTO_TCP, DARWIN.TCP_INFO, info);
    if (n < TXUNACKED.end) return undefined;
    const sndNxt = infoView.getUint32(52, true);
    const txunacked = infoView.getUint32(TXUNACKED.offset, true);
    return (sndNxt - txunacked + infoView.getUint32(SBBYTES.offset, true)) >>> 0;
  },
  error: (op, syscall, code) => errorFor(DARWIN_ERRNO, op, syscall, code),
  sockets: ops,
  // macOS has no sock_diag; sockbuf does not read its pcblist sysctls (see README).
  listSockets() {
    throw new Error(
      "Listing every socket on the host is Linux-only (netlink sock_diag); macOS is not supported",
    );
  },
  listSocketsJson() {
    throw new Error(
      "Listing every socket on the host is Linux-only (netlink sock_diag); macOS is not supported",
    );
  },
  inspectProcessSocket() {
    throw new Error(
      "Inspecting another process's socket is Linux-only (pidfd_getfd); macOS is not supported",
    );
  },
};

/** What only the demo, examples, benchmarks and tests need of macOS (through `_testing.ts`). */
export const darwinTesting: TestingOps = testingOps(
  ops,
  lib,
  (fd, bytes) => setInt(lib(), fd, DARWIN.SOL_SOCKET, DARWIN.SO_RCVBUF, bytes, "SO_RCVBUF"),
);
