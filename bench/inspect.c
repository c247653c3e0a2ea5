/*
 * The C baseline for bench/inspect.ts: the same syscalls sockbuf's Linux inspectSync and
 * tcpInfo make, on a loopback connection whose accepting side never reads and whose send
 * buffer is full.
 *
 *   cc -O2 -o bench/bin/inspect bench/inspect.c && bench/bin/inspect [iterations] [runs]
 *
 * Prints machine-readable lines:
 *   c inspect ns_per_op=<median> min=<min> max=<max> runs=<runs> n=<iterations>
 *   c tcpinfo ns_per_op=<median> min=<min> max=<max> runs=<runs> n=<iterations>
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#ifndef SIOCOUTQNSD
#define SIOCOUTQNSD 0x894B
#endif

static void die(const char *what) {
  perror(what);
  exit(1);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Keeps the compiler from discarding results. */
static volatile uint64_t sink;

/* The five syscalls of inspectSync, in the same order and with the same buffer sizes. */
static inline void inspect_once(int fd) {
  unsigned char head[32];
  socklen_t len = sizeof head;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, head, &len) != 0) die("TCP_INFO");
  int size = 0;
  len = sizeof size;
  if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, &len) != 0) die("SO_SNDBUF");
  int queued = 0, unsent = 0;
  if (ioctl(fd, SIOCOUTQ, &queued) != 0) die("SIOCOUTQ");
  if (ioctl(fd, SIOCOUTQNSD, &unsent) != 0) die("SIOCOUTQNSD");
  uint32_t mem[9];
  len = sizeof mem;
  if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) != 0) die("SO_MEMINFO");
  uint32_t unacked;
  memcpy(&unacked, head + 24, 4);
  sink += (uint64_t)size + (uint64_t)queued + (uint64_t)unsent + unacked + mem[3] + mem[5];
}

/* tcpInfo's one syscall: TCP_INFO into a 512-byte buffer. */
static inline void tcpinfo_once(int fd) {
  unsigned char info[512];
  socklen_t len = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, info, &len) != 0) die("TCP_INFO");
  sink += len + info[0];
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void bench(const char *name, void (*op)(int), int fd, long n, int runs) {
  double *ns = calloc((size_t)runs, sizeof *ns);
  if (!ns) die("calloc");
  for (long i = 0; i < n / 10; i++) op(fd); /* warm-up */
  for (int r = 0; r < runs; r++) {
    double t0 = now_ns();
    for (long i = 0; i < n; i++) op(fd);
    ns[r] = (now_ns() - t0) / (double)n;
  }
  qsort(ns, (size_t)runs, sizeof *ns, cmp_double);
  printf("c %s ns_per_op=%.1f min=%.1f max=%.1f runs=%d n=%ld\n", name, ns[runs / 2], ns[0],
         ns[runs - 1], runs, n);
  fflush(stdout);
  free(ns);
}

static void inspect_op(int fd) { inspect_once(fd); }
static void tcpinfo_op(int fd) { tcpinfo_once(fd); }

int main(int argc, char **argv) {
  long n = argc > 1 ? strtol(argv[1], NULL, 10) : 200000;
  int runs = argc > 2 ? atoi(argv[2]) : 7;
  if (n <= 0 || runs <= 0) {
    fprintf(stderr, "usage: %s [iterations > 0] [runs > 0]\n", argv[0]);
    return 2;
  }

  int lst = socket(AF_INET, SOCK_STREAM, 0);
  if (lst < 0) die("socket");
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lst, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");
  if (listen(lst, 1) != 0) die("listen");
  socklen_t alen = sizeof addr;
  if (getsockname(lst, (struct sockaddr *)&addr, &alen) != 0) die("getsockname");

  int cli = socket(AF_INET, SOCK_STREAM, 0);
  if (cli < 0) die("socket");
  if (connect(cli, (struct sockaddr *)&addr, sizeof addr) != 0) die("connect");
  int srv = accept(lst, NULL, NULL); /* never read */
  if (srv < 0) die("accept");

  /* Fill the send buffer (and the peer's receive buffer) until the kernel says EAGAIN. */
  if (fcntl(cli, F_SETFL, fcntl(cli, F_GETFL) | O_NONBLOCK) != 0) die("fcntl");
  static char chunk[65536];
  memset(chunk, 'x', sizeof chunk);
  long total = 0;
  for (int idle = 0; idle < 20;) {
    ssize_t w = write(cli, chunk, sizeof chunk);
    if (w > 0) {
      total += w;
      idle = 0;
    } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      idle++; /* let the loopback drain into the peer's receive buffer, then retry */
      usleep(5000);
    } else {
      die("write");
    }
  }
  int queued = 0;
  if (ioctl(cli, SIOCOUTQ, &queued) != 0) die("SIOCOUTQ");
  printf("c filled written=%ld queued=%d\n", total, queued);

  bench("inspect", inspect_op, cli, n, runs);
  bench("tcpinfo", tcpinfo_op, cli, n, runs);

  close(cli);
  close(srv);
  close(lst);
  return 0;
}
