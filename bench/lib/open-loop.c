/*
 * Open-loop (constant-rate) load generator, in C so that its own pauses are not the server's
 * latency: `POST /v1/token` at a fixed rate, each request with the next user's JWT, sent when it
 * is due whether or not earlier ones were answered. Latency is counted from when a request was
 * due, not from when a connection was free to send it, so a server pause is measured in full
 * (no coordinated omission). One thread, epoll, non-blocking keep-alive connections, a timerfd
 * armed at the next due time (microsecond schedule, not a 1 ms tick). Prints one JSON line:
 * {requests, failed, durationS, p50, p90, p99, p999, max}, latencies in ms of the answered requests;
 * `failed` counts non-2xx answers, failed writes and requests still unanswered at the end.
 *
 *   cc -O2 -o open-loop bench/lib/open-loop.c
 *   ./open-loop 127.0.0.1 8080 tokens.txt 64 10 2000
 *
 * wrk.ts compiles and runs it; nothing here is part of the broker.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define READ_BUF 65536
/* After the last request is due, answers may take this long before they count as failed. */
#define DRAIN_NS (10LL * 1000000000LL)

typedef struct {
  int fd;
  int busy;
  int64_t due_ns;   /* when the request in flight was due */
  char buf[READ_BUF];
  size_t len;
} conn_t;

static int64_t now_ns (void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die (const char *what) {
  perror(what);
  exit(1);
}

static int connect_to (const char *host, int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
  if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", host); exit(1); }
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* The whole request, or -1: requests are small and sockets idle, so a short write means trouble. */
static int write_all (int fd, const char *data, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, data, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      struct timespec pause = { 0, 50000 };
      nanosleep(&pause, NULL);
      continue;
    }
    if (w <= 0) return -1;
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

/* Bytes of a complete response at the start of buf (headers + Content-Length body), 0 if incomplete, -1 if malformed. */
static long response_length (const char *buf, size_t len, int *status) {
  const char *end = memmem(buf, len, "\r\n\r\n", 4);
  if (end == NULL) return 0;
  if (len < 12 || strncmp(buf, "HTTP/1.1 ", 9) != 0) return -1;
  *status = atoi(buf + 9);
  long body = 0;
  for (const char *line = memchr(buf, '\n', (size_t)(end - buf)); line != NULL && line < end; line = memchr(line + 1, '\n', (size_t)(end - line))) {
    if (strncasecmp(line + 1, "content-length:", 15) == 0) body = strtol(line + 16, NULL, 10);
  }
  long total = (long)(end - buf) + 4 + body;
  return (long)len >= total ? total : 0;
}

static int cmp_double (const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double percentile (const double *sorted, long n, double p) {
  if (n == 0) return 0;
  long i = (long)(p / 100.0 * (double)n + 0.999999) - 1;
  if (i < 0) i = 0;
  if (i >= n) i = n - 1;
  return sorted[i];
}

int main (int argc, char **argv) {
  if (argc != 7) { fprintf(stderr, "usage: %s host port tokens-file connections duration-s rate-per-s\n", argv[0]); return 2; }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  int nconn = atoi(argv[4]);
  double duration_s = atof(argv[5]);
  double rate = atof(argv[6]);
  long total = (long)(rate * duration_s + 0.5);
  int64_t interval_ns = (int64_t)(1e9 / rate);

  /* One prepared request per token (one per line). */
  FILE *file = fopen(argv[3], "r");
  if (file == NULL) die("tokens file");
  char **requests = NULL;
  size_t *lengths = NULL;
  long ntokens = 0, capacity = 0;
  char *line = NULL;
  size_t line_cap = 0;
  ssize_t n;
  while ((n = getline(&line, &line_cap, file)) > 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n == 0) continue;
    if (ntokens == capacity) {
      capacity = capacity == 0 ? 1024 : capacity * 2;
      requests = realloc(requests, (size_t)capacity * sizeof *requests);
      lengths = realloc(lengths, (size_t)capacity * sizeof *lengths);
    }
    int size = asprintf(&requests[ntokens], "POST /v1/token HTTP/1.1\r\nHost: %s:%d\r\nAuthorization: Bearer %s\r\nContent-Length: 0\r\n\r\n", host, port, line);
    if (size < 0) die("asprintf");
    lengths[ntokens++] = (size_t)size;
  }
  fclose(file);
  free(line);
  if (ntokens == 0) { fprintf(stderr, "no tokens in %s\n", argv[3]); return 2; }

  int ep = epoll_create1(0);
  int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  if (ep < 0 || timer < 0) die("epoll/timerfd");
  struct epoll_event tev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
  epoll_ctl(ep, EPOLL_CTL_ADD, timer, &tev);

  /* Connections opened, and each used once, before the clock starts: set-up is not latency. */
  conn_t *conns = calloc((size_t)nconn, sizeof *conns);
  for (int i = 0; i < nconn; i++) {
    conns[i].fd = connect_to(host, port);
    if (write_all(conns[i].fd, requests[i % ntokens], lengths[i % ntokens]) < 0) die("warm-up write");
    int status = 0;
    long got;
    while ((got = response_length(conns[i].buf, conns[i].len, &status)) == 0) {
      ssize_t r = read(conns[i].fd, conns[i].buf + conns[i].len, READ_BUF - conns[i].len);
      if (r <= 0) die("warm-up read");
      conns[i].len += (size_t)r;
    }
    if (got < 0) { fprintf(stderr, "malformed response\n"); return 1; }
    conns[i].len = 0;
    if (fcntl(conns[i].fd, F_SETFL, fcntl(conns[i].fd, F_GETFL) | O_NONBLOCK) < 0) die("fcntl");
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)i };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0) die("epoll_ctl");
  }

  double *latencies = calloc((size_t)total, sizeof *latencies);
  long answered = 0, failed = 0, settled = 0, backlog_head = 0;
  int idle = nconn, cursor = 0;
  const int64_t start = now_ns();
  const int64_t give_up = start + (int64_t)(duration_s * 1e9) + DRAIN_NS;
  struct epoll_event events[256];

  while (settled < total && now_ns() < give_up) {
    /* Everything due by now goes out on idle connections (taken in turn); the rest waits, its clock running. */
    int64_t now = now_ns();
    while (backlog_head < total && start + backlog_head * interval_ns <= now && idle > 0) {
      while (conns[cursor].busy) cursor = (cursor + 1) % nconn;
      conn_t *c = &conns[cursor];
      cursor = (cursor + 1) % nconn;
      long k = backlog_head++;
      if (write_all(c->fd, requests[k % ntokens], lengths[k % ntokens]) < 0) {
        failed++;
        settled++;
        continue;
      }
      c->busy = 1;
      c->due_ns = start + k * interval_ns;
      idle--;
    }
    /* Wake at the next due time if a connection is free to send it; otherwise only an answer helps. */
    struct itimerspec its = { 0 };
    if (backlog_head < total && idle > 0) {
      int64_t next = start + backlog_head * interval_ns;
      its.it_value.tv_sec = next / 1000000000LL;
      its.it_value.tv_nsec = next % 1000000000LL;
    }
    timerfd_settime(timer, TFD_TIMER_ABSTIME, &its, NULL);
    int ready = epoll_wait(ep, events, 256, 100);
    if (ready < 0 && errno != EINTR) die("epoll_wait");
    for (int e = 0; e < ready; e++) {
      if (events[e].data.u64 == UINT64_MAX) {
        uint64_t expirations;
        while (read(timer, &expirations, sizeof expirations) > 0) {}
        continue;
      }
      conn_t *c = &conns[events[e].data.u64];
      if (c->len == READ_BUF) { fprintf(stderr, "a response larger than %d bytes\n", READ_BUF); return 1; }
      ssize_t r = read(c->fd, c->buf + c->len, READ_BUF - c->len);
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) { fprintf(stderr, "connection closed by the server\n"); return 1; }
      c->len += (size_t)r;
      int status = 0;
      long got = response_length(c->buf, c->len, &status);
      if (got == 0) continue;
      if (got < 0) { fprintf(stderr, "malformed response\n"); return 1; }
      if (c->busy) {
        if (status < 200 || status >= 300) failed++;
        else latencies[answered++] = (double)(now_ns() - c->due_ns) / 1e6;
        settled++;
        c->busy = 0;
        idle++;
      }
      memmove(c->buf, c->buf + got, c->len - (size_t)got);
      c->len -= (size_t)got;
    }
  }
  double elapsed_s = (double)(now_ns() - start) / 1e9;
  failed += total - settled;

  qsort(latencies, (size_t)answered, sizeof *latencies, cmp_double);
  printf("{\"requests\":%ld,\"failed\":%ld,\"durationS\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}\n",
    total, failed, elapsed_s,
    percentile(latencies, answered, 50), percentile(latencies, answered, 90), percentile(latencies, answered, 99),
    percentile(latencies, answered, 99.9), answered > 0 ? latencies[answered - 1] : 0.0);
  return 0;
}
