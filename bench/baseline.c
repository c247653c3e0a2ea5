/*
 * The C baseline for bench/main.ts: each function makes, `n` times over, exactly the
 * syscalls one sockbuf call makes on Linux, in the same order and with the same buffer
 * sizes, and returns the nanoseconds per repetition. bench/main.ts compiles it with
 * `cc -O2 -shared -fPIC` and calls it through FFI on the very socket the JavaScript side
 * measures, so C and JavaScript see the same kernel state; one FFI call is spread over `n`
 * repetitions and so costs nothing measurable. One function is the exception:
 * sb_inspect_seed makes the seed's four calls for the same answer, the bar issue 14 set.
 *
 * A failing syscall returns -errno at once, so a broken setup cannot pass for a fast one.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif
#ifndef SIOCOUTQNSD
#define SIOCOUTQNSD 0x894B
#endif

/* Keeps the compiler from discarding results. */
volatile uint64_t sb_sink;

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * platform/linux/mod.ts inspect(): TCP_INFO (148 bytes, through tcpi_notsent_bytes),
 * SIOCOUTQ, SO_MEMINFO (24 bytes, through SK_MEMINFO_WMEM_QUEUED).
 */
static int inspect_once(int fd) {
  uint32_t head[37];
  socklen_t len = sizeof head;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, head, &len) != 0) return -errno;
  int queued = 0;
  if (ioctl(fd, SIOCOUTQ, &queued) != 0) return -errno;
  uint32_t mem[6];
  len = sizeof mem;
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0) return -errno;
  uint32_t unsent = head[36], unacked = head[6], size = mem[3];
  sb_sink += (uint64_t)size + (uint64_t)queued + unsent + unacked + mem[5] + (head[0] & 0xff);
  return 0;
}

/*
 * The seed's C: the four calls it made for the same answer, without the memory fields:
 * SO_SNDBUF, SIOCOUTQ, TCP_INFO (its whole struct), SIOCOUTQNSD.
 */
static int seed_once(int fd) {
  int size = 0;
  socklen_t len = sizeof size;
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) != 0) return -errno;
  int queued = 0, unsent = 0;
  if (ioctl(fd, SIOCOUTQ, &queued) != 0) return -errno;
  struct tcp_info info;
  len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -errno;
  if (ioctl(fd, SIOCOUTQNSD, &unsent) != 0) return -errno;
  sb_sink += (uint64_t)size + (uint64_t)queued + (uint64_t)unsent + info.tcpi_unacked + info.tcpi_state;
  return 0;
}

/* ResolvedSocket.checkedFd(): SO_COOKIE, then the socket's own calls. */
static int cookie_once(int fd) {
  uint64_t cookie;
  socklen_t len = sizeof cookie;
  if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) != 0) return -errno;
  sb_sink += cookie;
  return 0;
}

/*
 * platform/linux/mod.ts tcpInfo(): TCP_INFO into a 512-byte buffer, then the "decode" C gets
 * for free: the struct as returned, copied out.
 */
static int tcpinfo_once(int fd) {
  unsigned char info[512];
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &len) != 0) return -errno;
  struct tcp_info out;
  memset(&out, 0, sizeof out);
  memcpy(&out, info, len < sizeof out ? len : sizeof out);
  sb_sink += len + out.tcpi_state + out.tcpi_rtt + out.tcpi_snd_cwnd;
  return 0;
}

/* ns per repetition of inspectSync(fd) / await inspect(fd); negative: -errno. */
double sb_inspect(int fd, int n) {
  double t0 = now_ns();
  for (int i = 0; i < n; i++) {
    int r = inspect_once(fd);
    if (r < 0) return r;
  }
  return (now_ns() - t0) / n;
}

/* ns per repetition of the seed's four calls. */
double sb_inspect_seed(int fd, int n) {
  double t0 = now_ns();
  for (int i = 0; i < n; i++) {
    int r = seed_once(fd);
    if (r < 0) return r;
  }
  return (now_ns() - t0) / n;
}

/* ns per repetition of inspectSync(socket) on a socket object whose fd is cached. */
double sb_inspect_cached(int fd, int n) {
  double t0 = now_ns();
  for (int i = 0; i < n; i++) {
    int r = cookie_once(fd);
    if (r == 0) r = inspect_once(fd);
    if (r < 0) return r;
  }
  return (now_ns() - t0) / n;
}

/* ns per repetition of tcpInfo(fd). */
double sb_tcpinfo(int fd, int n) {
  double t0 = now_ns();
  for (int i = 0; i < n; i++) {
    int r = tcpinfo_once(fd);
    if (r < 0) return r;
  }
  return (now_ns() - t0) / n;
}


/*
 * listSocketsSync({ states }) on Linux: one netlink sock_diag socket, SO_RCVTIMEO, then per
 * family (IPv4, IPv6) one dump request asking for INET_DIAG_INFO and INET_DIAG_SKMEMINFO and
 * receives into a 1 MiB buffer with MSG_TRUNC until NLMSG_DONE, then close. Each socket is
 * parsed into a struct, as the JavaScript side parses it into an entry.
 */
struct entry {
  uint8_t family, state;
  uint16_t local_port, peer_port;
  uint8_t local[16], peer[16];
  uint32_t uid, inode;
  uint32_t meminfo[9];
  struct tcp_info info;
  uint32_t info_len;
};

static struct entry *entries;
static size_t entries_cap;
static int last_count;
static unsigned seq;

static int list_once(uint32_t states) {
  static unsigned char buf[1 << 20];
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return -errno;
  struct timeval tv = {.tv_sec = 10, .tv_usec = 0};
  if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
    int e = errno;
    close(fd);
    return -e;
  }
  int count = 0;
  const int families[2] = {AF_INET, AF_INET6};
  for (int f = 0; f < 2; f++) {
    struct {
      struct nlmsghdr nh;
      struct inet_diag_req_v2 req;
    } msg;
    memset(&msg, 0, sizeof msg);
    msg.nh.nlmsg_len = sizeof msg;
    msg.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.nh.nlmsg_seq = ++seq;
    msg.req.sdiag_family = families[f];
    msg.req.sdiag_protocol = IPPROTO_TCP;
    msg.req.idiag_ext = (1 << (INET_DIAG_INFO - 1)) | (1 << (INET_DIAG_SKMEMINFO - 1));
    msg.req.idiag_states = states;
    if (send(fd, &msg, sizeof msg, 0) < 0) goto fail;
    for (int done = 0; !done;) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_TRUNC);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || (size_t)n > sizeof buf) goto fail;
      for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_seq != seq) continue;
        if (h->nlmsg_type == NLMSG_DONE) {
          done = 1;
          break;
        }
        if (h->nlmsg_type == NLMSG_ERROR) {
          errno = EPROTO;
          goto fail;
        }
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
        struct inet_diag_msg *m = NLMSG_DATA(h);
        if ((size_t)count >= entries_cap) {
          entries_cap = entries_cap ? entries_cap * 2 : 1024;
          entries = realloc(entries, entries_cap * sizeof *entries);
          if (!entries) abort();
        }
        struct entry *e = &entries[count++];
        memset(e, 0, sizeof *e);
        e->family = m->idiag_family;
        e->state = m->idiag_state;
        e->local_port = ntohs(m->id.idiag_sport);
        e->peer_port = ntohs(m->id.idiag_dport);
        memcpy(e->local, m->id.idiag_src, 16);
        memcpy(e->peer, m->id.idiag_dst, 16);
        e->uid = m->idiag_uid;
        e->inode = m->idiag_inode;
        int alen = h->nlmsg_len - NLMSG_LENGTH(sizeof *m);
        for (struct rtattr *a = (struct rtattr *)(m + 1); RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
          size_t len = RTA_PAYLOAD(a);
          if ((a->rta_type & NLA_TYPE_MASK) == INET_DIAG_INFO) {
            e->info_len = len;
            memcpy(&e->info, RTA_DATA(a), len < sizeof e->info ? len : sizeof e->info);
          } else if ((a->rta_type & NLA_TYPE_MASK) == INET_DIAG_SKMEMINFO) {
            memcpy(e->meminfo, RTA_DATA(a), len < sizeof e->meminfo ? len : sizeof e->meminfo);
          }
        }
      }
    }
  }
  close(fd);
  last_count = count;
  sb_sink += count;
  return 0;
fail:;
  int e = errno ? errno : EPROTO;
  close(fd);
  return -e;
}

/* ns per listing of the sockets in the `states` bitmask; negative: -errno. */
double sb_list(int states, int n) {
  double t0 = now_ns();
  for (int i = 0; i < n; i++) {
    int r = list_once((uint32_t)states);
    if (r < 0) return r;
  }
  return (now_ns() - t0) / n;
}

/* The number of sockets the last listing found. */
int sb_list_count(void) { return last_count; }

static int *held;
static int held_count;

/*
 * Opens `pairs` loopback connections (2 * pairs sockets) that nobody reads or writes, so the
 * listing has that many more sockets to report. Returns the sockets held, or -errno.
 */
int sb_hold(int pairs) {
  int lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lst < 0) return -errno;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t alen = sizeof addr;
  if (bind(lst, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lst, 128) != 0 ||
      getsockname(lst, (struct sockaddr *)&addr, &alen) != 0) {
    int e = errno;
    close(lst);
    return -e;
  }
  held = realloc(held, (size_t)(held_count + 2 * pairs) * sizeof *held);
  if (!held) abort();
  for (int i = 0; i < pairs; i++) {
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof addr) != 0) {
      int e = errno;
      if (c >= 0) close(c);
      close(lst);
      return -e;
    }
    int s = accept4(lst, NULL, NULL, SOCK_CLOEXEC);
    if (s < 0) {
      int e = errno;
      close(c);
      close(lst);
      return -e;
    }
    held[held_count++] = c;
    held[held_count++] = s;
  }
  close(lst);
  return held_count;
}

/* The i-th socket sb_hold opened, or -1. */
int sb_held(int i) { return i >= 0 && i < held_count ? held[i] : -1; }

/*
 * ns per socket of inspectManySync over the first `count` sockets sb_hold opened: the same
 * three calls as inspect_once on each, `n` times over.
 */
double sb_inspect_many(int count, int n) {
  if (count > held_count) return -EINVAL;
  double t0 = now_ns();
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < count; k++) {
      int r = inspect_once(held[k]);
      if (r < 0) return r;
    }
  }
  return (now_ns() - t0) / ((double)n * count);
}

/* Closes every socket sb_hold opened. */
void sb_release(void) {
  for (int i = 0; i < held_count; i++) close(held[i]);
  held_count = 0;
}

/*
 * A marker for bench/syscalls.ts: a getsockopt on fd -1 that fails with EBADF and shows in
 * strace as getsockopt(-1, 0x5342, id, ...), separating one side's calls from the other's.
 */
int sb_mark(int id) { return getsockopt(-1, 0x5342, id, NULL, NULL); }
