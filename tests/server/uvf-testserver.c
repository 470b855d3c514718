/* uvf-testserver: uvfetch's own loopback HTTP server: HTTP/1.1, TLS and
 * HTTP/2, for the tests, the benchmarks and the demo.
 *
 *   uvf-testserver [--bind ADDR[,ADDR...]] [--port P]
 *                  [--tls CERTFILE,KEYFILE [--tls-port P]] [--no-h2]
 *                  [--late-tickets]
 *                  [--h2-max-streams N] [--max-seconds S] [--quiet]
 *
 * Prints "PORT <n>" on stdout once listening and, with --tls, "TLSPORT
 * <n>" on the next line; nothing else goes there, and each line is
 * flushed.  Only 127.0.0.0/8 is accepted: tests and benchmarks must never
 * reach beyond this machine.  Every ADDR listens on the one port, and with
 * --tls on the one TLS port too (0, the default, picks free ones).  It
 * exits by itself after --max-seconds (default 3600) so that a crashed
 * test cannot leave it running; SIGINT and SIGTERM end it at once with
 * status 0.
 *
 * Protocols.  The plain port speaks HTTP/1.1, and h2 with prior
 * knowledge (h2c): a connection that opens with the client preface
 * "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" speaks h2 from then on.  The TLS port
 * (--tls: PEM files, the certificate file may hold the chain; TLS 1.2
 * and 1.3; session tickets) offers h2 and http/1.1 by ALPN, h2 first;
 * --no-h2 offers http/1.1 only; no ALPN is HTTP/1.1.  --late-tickets
 * sends a TLS 1.3 connection's one session ticket with its first reply
 * instead of two right after the handshake, so that a client's first
 * reply carries it (tests of session reuse).  h2 announces
 * SETTINGS_MAX_CONCURRENT_STREAMS N (--h2-max-streams, default 128) and
 * 1 MiB windows (16 MiB for the connection).  tests/server/make-certs
 * makes certificates to test with.
 *
 * Endpoints (any method; a request body, with a Content-Length over
 * HTTP/1.1 and up to 64 MiB, is read and, but by /echo, ignored; after
 * "Expect: 100-continue" a 100 goes first.  Any query string is allowed,
 * and keys other than delay=, bytes=, code= and location= are ignored,
 * so that URLs can be made distinct).  They answer the same over
 * HTTP/1.1 and h2, except where said:
 *   /bytes/<n>        200, n body bytes, streamed; byte i is 'a' + i % 26
 *   /delay/<ms>       200 after ms, 16 bytes (or bytes=)
 *   /status/<code>    that status (100-999), short text or bytes= bytes;
 *                     1xx, 204 and 304 have no body (h2 sends a 1xx as a
 *                     final response, which clients reject);
 *                     location=<percent-encoded> adds a Location (no
 *                     delay then), for redirects of every code
 *   /echo             200, JSON of what was received: {"method",
 *                     "target", "headers": [[name, value], ...] in the
 *                     order received (h2: pseudo-headers left out),
 *                     "body_length", "body_base64"}
 *   /response-headers?Name=value&...  200 "ok" with those header fields
 *                     (percent-decoded, in order, a name may repeat; 16
 *                     at most)
 *   /redirect/<n>     302 to /redirect/<n-1>?<same query>; 0: "done\n"
 *   /redirect-to?url=<percent-encoded>   302 to that URL
 *   /flaky/<k>        503 "busy" for the first k requests with this exact
 *                     target, then 200; "retry_after" in the query adds
 *                     Retry-After: 1 to the 503s
 *   /headers          200, the request's header lines as the body (h2:
 *                     "name: value" lines, pseudo-headers left out)
 *   /gzip-bomb        8 KiB of gzip that decodes to 8 MiB of zeros
 *   /drop             Content-Length 100000, 1000 bytes, then a TCP reset
 *                     (h2: RST_STREAM(INTERNAL_ERROR) on that stream only)
 *   /stall            Content-Length 100, then nothing (h2: HEADERS, then
 *                     nothing on that stream)
 *   /trickle          Content-Length bytes= (10), one byte a second (h2:
 *                     a one-byte DATA frame a second)
 *   /bad/<what>       what no client should accept.  HTTP/1.1, then a
 *                     close: status-line (not a status), short-body
 *                     (Content-Length 1000, 10 bytes, FIN), chunked (a
 *                     chunk size that is not hex), many-headers (10,000
 *                     header lines, then a valid 3-byte body).  h2, on
 *                     that stream: status-line (":status: abc"),
 *                     short-body (content-length 1000, 10 bytes, then the
 *                     end of the stream), many-headers (10,000 fields);
 *                     chunked is 404
 *   /h2/rst           h2 only: after delay= ms (0), RST_STREAM on that
 *                     stream, with error code code= (8, CANCEL; 7 is
 *                     REFUSED_STREAM, which clients may retry elsewhere)
 *   /h2/goaway        h2 only: after delay= ms (0), GOAWAY(NO_ERROR) whose
 *                     last-stream-id is the highest stream id received
 *                     by then; this stream then answers 200 "goaway\n".
 *                     Streams up to that id are answered as usual; streams
 *                     the client opens later are never processed (no
 *                     response, not counted: the GOAWAY tells the client
 *                     they were refused).  The connection closes once the
 *                     streams kept are done
 *   /feed/<n>         a generated feed (RSS 2.0, RSS 1.0, Atom; utf-8,
 *                     windows-1252, koi8-r; revisions, ETag and
 *                     Last-Modified, honoured with cond=1, a charset
 *                     in Content-Type, Cache-Control, Expires and
 *                     Retry-After, broken ones): the query keys are
 *                     listed in feeds.c
 *   /stats            JSON counters; /stats/reset zeroes and returns them
 * Over HTTP/1.1 /h2/... are 404.  delay=<ms> delays any of these but
 * /redirect*, /flaky, /headers, /gzip-bomb, /bad, /stats*; bytes=<n> sets
 * the body size of /delay, /status and /trickle.  A number in the path
 * wins over the query (/delay/5?delay=9 waits 5 ms).  Anything else is
 * 404.  A client that closes its side gives up whatever it waits for (an
 * h2 client that resets a stream, whatever that stream waits for).
 *
 * /stats, all counts since start or the last /stats/reset unless said:
 *   requests          requests received (HTTP/1.1 requests and h2
 *                     streams), /stats* excluded
 *   in_flight         received and not fully written (h2: the stream not
 *                     yet closed), now; peak_in_flight, its peak
 *   connections       TCP connections accepted, both ports (the one
 *                     asking for /stats included)
 *   open_connections  open now; peak_connections, its peak
 *   tls_handshakes    TLS handshakes completed; tls_resumed, those of
 *                     them that resumed a session
 *   h2_connections    connections that spoke h2 (ALPN h2 or h2c)
 *   h2_streams        h2 requests received, /stats* excluded
 *   peak_in_flight_by_addr, peak_connections_by_addr, connections_by_addr
 *                     the same per listening address
 * Peaks restart from the current values at a reset.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ts.h"

#define BACKLOG 65535 /* the kernel trims it to net.core.somaxconn */
#define BIND_TRIES 20

struct ts_server ts_srv;

struct options {
  const char *bind[TS_MAX_ADDRS];
  int nbind;
  int port, tls_port;
  uint64_t max_seconds;
  const char *cert, *key; /* --tls */
  int no_h2;
};

static uv_signal_t sig_int, sig_term;
static uv_timer_t max_timer;
static int tls_on; /* the TLS listeners exist */

void ts_log(const char *fmt, ...) {
  va_list ap;

  if (ts_srv.quiet)
    return;
  va_start(ap, fmt);
  fputs("uvf-testserver: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

static void usage(FILE *f) {
  fputs(
      "usage: uvf-testserver [--bind ADDR[,ADDR...]] [--port P]\n"
      "                      [--tls CERTFILE,KEYFILE [--tls-port P]]\n"
      "                      [--no-h2] [--late-tickets] [--h2-max-streams N]\n"
      "                      [--max-seconds S] [--quiet]\n"
      "ADDR is in 127.0.0.0/8 or \"localhost\" (default 127.0.0.1);\n"
      "port 0 (default) picks a free port, shared by every ADDR.\n",
      f);
}

_Noreturn static void die(const char *what, const char *detail) {
  fprintf(stderr, "uvf-testserver: %s%s%s\n", what, detail ? ": " : "",
          detail ? detail : "");
  exit(2);
}

/* "127.0.0.5" or "localhost" -> listener address; refuses the rest. */
static void add_addr(struct ts_listener *l, const char *s) {
  struct in_addr a;

  if (strcmp(s, "localhost") == 0)
    s = "127.0.0.1";
  if (inet_pton(AF_INET, s, &a) != 1)
    die("not an IPv4 address", s);
  if ((ntohl(a.s_addr) >> 24) != 127)
    die("refusing a non-loopback address", s);
  memset(&l->addr, 0, sizeof(l->addr));
  l->addr.sin_family = AF_INET;
  l->addr.sin_addr = a;
  inet_ntop(AF_INET, &a, l->name, sizeof(l->name));
}

static int find_addr(const struct sockaddr_in *a, int n) {
  int i;

  for (i = 0; i < n; i++)
    if (ts_srv.lis[i].addr.sin_addr.s_addr == a->sin_addr.s_addr)
      return i;
  return -1;
}

static void split_binds(struct options *o, char *list) {
  char *save = NULL, *tok;

  for (tok = strtok_r(list, ",", &save); tok != NULL;
       tok = strtok_r(NULL, ",", &save)) {
    if (o->nbind == TS_MAX_ADDRS)
      die("too many --bind addresses", NULL);
    o->bind[o->nbind++] = tok;
  }
}

static uint64_t number(const char *s, uint64_t max, const char *opt) {
  uint64_t v;

  if (s == NULL || ts_parse_u64(s, strlen(s), &v) != 0 || v > max)
    die("bad value for", opt);
  return v;
}

/* "CERTFILE,KEYFILE": the first comma splits them. */
static void split_tls(struct options *o, char *v) {
  char *comma = strchr(v, ',');

  if (comma == NULL || comma == v || comma[1] == '\0')
    die("--tls wants CERTFILE,KEYFILE, not", v);
  *comma = '\0';
  o->cert = v;
  o->key = comma + 1;
}

/* Takes "--opt value" or "--opt=value"; returns the value or NULL. */
static char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);

  if (strncmp(argv[*i], name, n) != 0)
    return NULL;
  if (argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (argv[*i][n] != '\0')
    return NULL;
  if (*i + 1 >= argc)
    die("missing value for", name);
  return argv[++*i];
}

static void parse_args(int argc, char **argv, struct options *o) {
  int i;

  for (i = 1; i < argc; i++) {
    char *v;

    if ((v = opt_value(argc, argv, &i, "--bind")) != NULL)
      split_binds(o, v);
    else if ((v = opt_value(argc, argv, &i, "--port")) != NULL)
      o->port = (int)number(v, 65535, "--port");
    else if ((v = opt_value(argc, argv, &i, "--max-seconds")) != NULL)
      o->max_seconds = number(v, 100u * 24 * 3600, "--max-seconds");
    else if ((v = opt_value(argc, argv, &i, "--tls")) != NULL)
      split_tls(o, v);
    else if ((v = opt_value(argc, argv, &i, "--tls-port")) != NULL)
      o->tls_port = (int)number(v, 65535, "--tls-port");
    else if ((v = opt_value(argc, argv, &i, "--h2-max-streams")) != NULL)
      ts_srv.h2_max_streams =
          (uint32_t)number(v, INT32_MAX, "--h2-max-streams");
    else if (strcmp(argv[i], "--no-h2") == 0)
      o->no_h2 = 1;
    else if (strcmp(argv[i], "--late-tickets") == 0)
      ts_srv.late_tickets = 1;
    else if (strcmp(argv[i], "--quiet") == 0)
      ts_srv.quiet = 1;
    else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      usage(stdout), exit(0);
    else
      usage(stderr), die("unknown argument", argv[i]);
  }
  if (o->max_seconds == 0)
    die("--max-seconds must be at least 1", NULL);
  if (ts_srv.h2_max_streams == 0)
    die("--h2-max-streams must be at least 1", NULL);
  if (o->tls_port != 0 && o->cert == NULL)
    die("--tls-port needs --tls", NULL);
}

/* 10,000 connections need more descriptors than the usual soft 1024. */
static void raise_nofile(void) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return;
  rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
    ts_log("could not raise the descriptor limit");
}

static uv_tcp_t *port_handle(struct ts_listener *l, int tls) {
  return tls ? &l->tls : &l->tcp;
}

static int listen_one(struct ts_listener *l, int tls, int port) {
  uv_tcp_t *h = port_handle(l, tls);
  struct sockaddr_in a = l->addr;
  int err;

  a.sin_port = htons((uint16_t)port);
  uv_tcp_init(ts_srv.loop, h);
  h->data = l;
  err = uv_tcp_bind(h, (const struct sockaddr *)&a, 0);
  if (err == 0)
    err = uv_listen((uv_stream_t *)h, BACKLOG, ts_on_connection);
  return err;
}

static int bound_port(const uv_tcp_t *h) {
  struct sockaddr_in sa;
  int len = sizeof(sa);

  if (uv_tcp_getsockname(h, (struct sockaddr *)&sa, &len) != 0)
    return -1;
  return ntohs(sa.sin_port);
}

static void close_listeners(int tls, int n) {
  int i;

  for (i = 0; i < n; i++)
    uv_close((uv_handle_t *)port_handle(&ts_srv.lis[i], tls), NULL);
  uv_run(ts_srv.loop, UV_RUN_NOWAIT); /* let the closes complete */
}

/* Binds every address to one port, the plain one or the TLS one.  With
 * port 0 the first address picks it; another server may hold that port
 * on a later address, so the whole set is retried. */
static int listen_all(int tls, int port) {
  int i, p = port;

  for (i = 0; i < ts_srv.nlis; i++) {
    int err = listen_one(&ts_srv.lis[i], tls, p);

    if (err != 0) {
      close_listeners(tls, i + 1);
      return err;
    }
    if (i == 0 && (p = bound_port(port_handle(&ts_srv.lis[0], tls))) < 0) {
      close_listeners(tls, 1);
      return UV_EINVAL;
    }
  }
  return p;
}

static int start_listening(int tls, int port) {
  int tries, r = UV_EADDRINUSE;

  for (tries = 0; tries < BIND_TRIES; tries++) {
    r = listen_all(tls, port);
    if (r >= 0 || port != 0 || r != UV_EADDRINUSE)
      break;
  }
  return r;
}

static void stop_handle(uv_handle_t *h) {
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* Closes everything so the loop ends by itself, cleanly. */
static void server_stop(void) {
  int i;

  if (ts_srv.stopping)
    return;
  ts_srv.stopping = 1;
  while (ts_srv.conns != NULL)
    ts_conn_close(ts_srv.conns);
  for (i = 0; i < ts_srv.nlis; i++) {
    stop_handle((uv_handle_t *)&ts_srv.lis[i].tcp);
    if (tls_on)
      stop_handle((uv_handle_t *)&ts_srv.lis[i].tls);
  }
  stop_handle((uv_handle_t *)&sig_int);
  stop_handle((uv_handle_t *)&sig_term);
  stop_handle((uv_handle_t *)&max_timer);
}

static void on_signal(uv_signal_t *s, int signum) {
  (void)s;
  ts_log("signal %d, exiting", signum);
  server_stop();
}

static void on_max_time(uv_timer_t *t) {
  (void)t;
  ts_log("--max-seconds reached, exiting");
  server_stop();
}

static void start_guards(uint64_t max_seconds) {
  uv_signal_init(ts_srv.loop, &sig_int);
  uv_signal_init(ts_srv.loop, &sig_term);
  uv_signal_start(&sig_int, on_signal, SIGINT);
  uv_signal_start(&sig_term, on_signal, SIGTERM);
  uv_timer_init(ts_srv.loop, &max_timer);
  uv_timer_start(&max_timer, on_max_time, max_seconds * 1000, 0);
}

static void setup(const struct options *o) {
  int i, port, tls_port = 0;

  for (i = 0; i < o->nbind; i++) {
    add_addr(&ts_srv.lis[i], o->bind[i]);
    if (i > 0 && find_addr(&ts_srv.lis[i].addr, i) >= 0)
      die("address given twice", ts_srv.lis[i].name);
  }
  ts_srv.nlis = o->nbind;
  for (i = 0; i < (int)sizeof(ts_pattern); i++)
    ts_pattern[i] = (char)('a' + i % 26);
  if (o->cert != NULL)
    ts_tls_init(o->cert, o->key, !o->no_h2);
  port = start_listening(0, o->port);
  if (port < 0)
    die("cannot listen", uv_strerror(port));
  if (o->cert != NULL && (tls_port = start_listening(1, o->tls_port)) < 0)
    die("cannot listen for TLS", uv_strerror(tls_port));
  tls_on = o->cert != NULL;
  printf("PORT %d\n", port);
  fflush(stdout);
  if (tls_on) {
    printf("TLSPORT %d\n", tls_port);
    fflush(stdout);
  }
  ts_log("listening on port %d%s (%d address%s)", port,
         tls_on ? " and a TLS port" : "", ts_srv.nlis,
         ts_srv.nlis == 1 ? "" : "es");
}

int main(int argc, char **argv) {
  static char localhost[] = "127.0.0.1";
  struct options o = {{0}, 0, 0, 0, 3600, NULL, NULL, 0};

  ts_srv.h2_max_streams = 128; /* as nginx */
  parse_args(argc, argv, &o);
  if (o.nbind == 0)
    o.bind[o.nbind++] = localhost;
  signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error value */
  raise_nofile();
  ts_srv.loop = uv_default_loop();
  ts_h2_init();
  setup(&o);
  start_guards(o.max_seconds);
  uv_run(ts_srv.loop, UV_RUN_DEFAULT);
  if (uv_loop_close(ts_srv.loop) != 0)
    ts_log("loop closed with handles still open");
  ts_h2_cleanup();
  ts_tls_cleanup();
  return 0;
}
