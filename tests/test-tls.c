/* HTTPS and HTTP/2 against the project's own server (uvf-testserver
 * --tls, certificates from tests/server/make-certs). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static ts_server srv;

/* ---- counting opens of the CA file ----
 * The program's own fopen/fopen64, exported (meson: export_dynamic), are
 * the ones libcrypto calls: each open of a file named ca.pem counts. */
static atomic_int ca_opens;

static void count_open(const char *path) {
  size_t n = strlen(path);
  if (n >= 7 && strcmp(path + n - 7, "/ca.pem") == 0)
    atomic_fetch_add(&ca_opens, 1);
}

/* Named by their symbols: with large-file support on, <stdio.h> already
 * renames fopen to fopen64 in this file. */
FILE *any_fopen(const char *path, const char *mode) __asm__("fopen");
FILE *any_fopen64(const char *path, const char *mode) __asm__("fopen64");

typedef FILE *(*fopen_fn)(const char *, const char *);

FILE *any_fopen(const char *path, const char *mode) {
  fopen_fn real = (fopen_fn)dlsym(RTLD_NEXT, "fopen");
  count_open(path);
  return real(path, mode);
}

FILE *any_fopen64(const char *path, const char *mode) {
  fopen_fn real = (fopen_fn)dlsym(RTLD_NEXT, "fopen64");
  count_open(path);
  return real(path, mode);
}

/* ---- helpers ---- */

static void start_tls(const char *cert, const char *extra) {
  const char *args[] = {"--tls", ts_cert_arg(cert), extra, NULL};
  ts_start_args(&srv, NULL, args);
}

static char *tls_url(const char *host, const char *fmt, ...) {
  char path[512], *u;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(path, sizeof(path), fmt, ap);
  va_end(ap);
  if (asprintf(&u, "https://%s:%d%s", host, srv.tls_port, path) < 0)
    FAIL("oom");
  return u;
}

static const char *ca_file(void) {
  static char path[4200];
  snprintf(path, sizeof(path), "%s/ca.pem", ts_certs());
  return path;
}

/* A file or directory of the test certificates (ts_certs()), by name. */
static const char *cert_path(const char *name) {
  static char paths[4][4200];
  static unsigned next;
  char *p = paths[next++ % 4];
  snprintf(p, sizeof(paths[0]), "%s/%s", ts_certs(), name);
  return p;
}

static uvf_options with_ca(void) {
  uvf_options o;
  uvf_options_init(&o);
  o.ca_file = ca_file();
  return o;
}

/* One URL; fails unless its kind is k and its message contains want. */
static void expect(const char *url, const uvf_options *o, uvf_err k,
                   const char *want) {
  char *u[1] = {(char *)url};
  uvf_result *r = fetch_urls(u, 1, o, 0);
  if (r->error != k || (want && !strstr(r->message, want)))
    FAIL("%s: expected %s (\"%s\"), got %s: %s", url, uvf_err_name(k),
         want ? want : "", uvf_err_name(r->error), r->message);
  results_done(r);
}

/* The server closes the connection after its reply. */
static const char *const close_each[] = {"Connection: close"};

/* ---- verification ---- */

TEST_IMPL(a_private_ca_given_as_ca_file_is_trusted) {
  uvf_options o = with_ca();
  char *u;
  start_tls("server", NULL);
  u = tls_url("127.0.0.1", "/bytes/10");
  expect(u, &o, UVF_OK, NULL);
  free(u);
  u = tls_url("localhost", "/bytes/10");
  expect(u, &o, UVF_OK, NULL);
  free(u);
  ts_stop(&srv);
}

TEST_IMPL(an_untrusted_certificate_is_tls) {
  uvf_options o;
  char *u;
  start_tls("server", NULL);
  uvf_options_init(&o); /* the system's CAs: our private CA is not one */
  u = tls_url("127.0.0.1", "/bytes/10");
  expect(u, &o, UVF_ETLS, "self-signed certificate in certificate chain");
  free(u);
  ts_stop(&srv);
  start_tls("selfsigned", NULL);
  o = with_ca();
  u = tls_url("127.0.0.1", "/bytes/10");
  expect(u, &o, UVF_ETLS, "self-signed certificate");
  free(u);
  ts_stop(&srv);
}

/* Two calls in a row on one client, over HTTP/2 then HTTP/1.1: the pooled
 * handles of the first serve the second, with the second's options. */
TEST_IMPL(pooled_handles_serve_the_next_call_after_http2) {
  uvf_options o = with_ca();
  uvf_client *c;
  char *u[8];
  size_t i, call;
  start_tls("server", NULL);
  for (i = 0; i < 8; i++)
    u[i] = tls_url("127.0.0.1", "/bytes/%zu", 100 + i);
  ASSERT_EQ(uvf_client_new(&c, &o), UVF_OK);
  for (call = 0; call < 4; call++) {
    uvf_options per = o;
    uvf_results *rs = NULL;
    per.max_in_flight = call % 2 ? 2 : 8; /* another buffer size */
    per.http_version = call % 2 ? UVF_HTTP_1_1 : UVF_HTTP_AUTO;
    ASSERT_EQ(uvf_client_fetch_all(c, (const char *const *)u, 8, &per, 0, &rs),
              UVF_OK);
    for (i = 0; i < 8; i++) {
      const uvf_result *r = uvf_results_get(rs, i);
      if (!r->ok)
        FAIL("call %zu, %zu: %s", call, i, r->message);
      ASSERT_EQ(r->bytes, 100 + i);
      /* HTTP/1.1 when asked; else HTTP/2, or an HTTP/1.1 connection the
       * call before left, which libcurl prefers to a new one */
      if (call % 2
              ? r->http_version != 11
              : r->http_version != 20 && (call == 0 || r->http_version != 11))
        FAIL("call %zu, %zu: HTTP %ld", call, i, r->http_version);
    }
    uvf_results_free(&rs);
  }
  uvf_client_free(&c);
  for (i = 0; i < 8; i++)
    free(u[i]);
  ts_stop(&srv);
}

TEST_IMPL(a_wrong_host_name_is_tls_even_with_the_right_ca) {
  uvf_options o = with_ca();
  char *u;
  start_tls("wronghost", NULL);
  u = tls_url("127.0.0.1", "/bytes/10");
  expect(u, &o, UVF_ETLS, "127.0.0.1");
  free(u);
  ts_stop(&srv);
}

TEST_IMPL(an_expired_certificate_is_tls) {
  uvf_options o = with_ca();
  char *u;
  start_tls("expired", NULL);
  u = tls_url("127.0.0.1", "/bytes/10");
  expect(u, &o, UVF_ETLS, "expired");
  free(u);
  ts_stop(&srv);
}

TEST_IMPL(insecure_accepts_every_bad_certificate) {
  static const char *const bad[] = {"selfsigned", "wronghost", "expired"};
  uvf_options o;
  size_t i;
  uvf_options_init(&o);
  o.insecure = 1;
  for (i = 0; i < 3; i++) {
    char *u;
    start_tls(bad[i], NULL);
    u = tls_url("127.0.0.1", "/bytes/10");
    expect(u, &o, UVF_OK, NULL);
    free(u);
    ts_stop(&srv);
  }
}

TEST_IMPL(a_ca_file_that_cannot_be_read_is_tls_naming_it) {
  uvf_options o;
  char *u;
  start_tls("server", NULL);
  uvf_options_init(&o);
  o.ca_file = "/nonexistent/ca.pem";
  u = tls_url("127.0.0.1", "/bytes/10");
  expect(u, &o, UVF_ETLS, "cannot load CA file /nonexistent/ca.pem");
  free(u);
  ts_stop(&srv);
}

/* ---- where the CAs come from ---- */

/* The CA found by its hashed name in a directory (ca_path), the CA file
 * (here one that does not sign the server) notwithstanding. */
TEST_IMPL(a_private_ca_given_as_ca_path_is_trusted) {
  uvf_options o;
  char *u;
  start_tls("server", NULL);
  uvf_options_init(&o);
  o.ca_file = cert_path("selfsigned.pem");
  o.ca_path = cert_path("cadir");
  u = tls_url("127.0.0.1", "/bytes/10");
  expect(u, &o, UVF_OK, NULL);
  free(u);
  ts_stop(&srv);
}

/* A parsed store is kept for the process and shared by (CA file, CA
 * directory): a fetcher given the same file but another directory gets
 * a store of its own. */
TEST_IMPL(fetchers_with_other_ca_directories_do_not_share_a_store) {
  uvf_options o;
  char *u;
  start_tls("server", NULL);
  u = tls_url("127.0.0.1", "/bytes/10");
  uvf_options_init(&o);
  o.ca_file = cert_path("selfsigned.pem");
  o.ca_path = cert_path("cadir");
  expect(u, &o, UVF_OK, NULL);
  o.ca_path = cert_path("emptydir");
  expect(u, &o, UVF_ETLS, NULL);
  free(u);
  ts_stop(&srv);
}

/* The server sends its certificate without the intermediate CA that
 * signed it: found in the CA file by its name, the intermediate is an
 * anchor of its own (as libcurl trusts it: a partial chain). */
TEST_IMPL(an_intermediate_ca_alone_in_the_ca_file_is_a_trust_anchor) {
  uvf_options o;
  char *u;
  start_tls("interleaf", NULL);
  u = tls_url("127.0.0.1", "/bytes/10");
  uvf_options_init(&o);
  o.ca_file = cert_path("ca.pem"); /* the root alone cannot reach it */
  expect(u, &o, UVF_ETLS, NULL);
  o.ca_file = cert_path("inter.pem");
  expect(u, &o, UVF_OK, NULL);
  free(u);
  ts_stop(&srv);
}

/* Two CAs of one name (a CA renewed with a new key): the one that signed
 * the server is found wherever it is in the file. */
TEST_IMPL(of_two_cas_with_one_name_the_one_that_signed_is_found) {
  uvf_options o;
  char *u;
  start_tls("server", NULL);
  u = tls_url("127.0.0.1", "/bytes/10");
  uvf_options_init(&o);
  o.ca_file = cert_path("ca-twin-first.pem");
  expect(u, &o, UVF_OK, NULL);
  o.ca_file = cert_path("ca-twin-last.pem");
  expect(u, &o, UVF_OK, NULL);
  free(u);
  ts_stop(&srv);
}

/* BEGIN TRUSTED CERTIFICATE blocks (OpenSSL's with trust settings) are
 * CAs too, as OpenSSL's own loader takes them. */
TEST_IMPL(a_ca_file_of_trusted_certificate_blocks_is_trusted) {
  uvf_options o;
  char *u;
  start_tls("server", NULL);
  u = tls_url("127.0.0.1", "/bytes/10");
  uvf_options_init(&o);
  o.ca_file = cert_path("ca-trusted.pem");
  expect(u, &o, UVF_OK, NULL);
  free(u);
  ts_stop(&srv);
}

/* A listening socket on 127.0.0.1 that never accepts: the kernel takes
 * the connection, nobody answers the ClientHello. Returns the socket. */
static int silent_listener(int *port) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(a.sin_port);
  return fd;
}

TEST_IMPL(a_silent_server_times_out_within_connect_timeout) {
  uvf_options o;
  uvf_result *r;
  uint64_t t0;
  char url[64], *u[1] = {url};
  int port, fd = silent_listener(&port);
  snprintf(url, sizeof(url), "https://127.0.0.1:%d/", port);
  uvf_options_init(&o);
  o.connect_timeout_ms = 400;
  t0 = uv_hrtime();
  r = fetch_urls(u, 1, &o, 0);
  ASSERT_EQ(r->error, UVF_ETIMEOUT);
  ASSERT_LE(380, (uv_hrtime() - t0) / 1000000);
  ASSERT_LE((uv_hrtime() - t0) / 1000000, 1500);
  results_done(r);
  close(fd);
}

/* The CA file is parsed once per process, whatever N (many lanes, each a
 * multi handle with a CA cache of its own in libcurl) and however many
 * calls. */
TEST_IMPL(the_ca_file_is_read_once_however_large_n) {
  uvf_options o = with_ca();
  char **u = calloc(300, sizeof(*u));
  uvf_result *r;
  size_t i;
  start_tls("server", "--no-h2"); /* a connection per transfer */
  for (i = 0; i < 300; i++)
    u[i] = tls_url("127.0.0.1", "/delay/200?i=%zu", i);
  o.max_in_flight = 300;
  atomic_store(&ca_opens, 0);
  for (i = 0; i < 2; i++) {
    size_t j;
    r = fetch_urls(u, 300, &o, 0);
    for (j = 0; j < 300; j++)
      if (!r[j].ok)
        FAIL("%zu: %s", j, r[j].message);
    results_done(r);
  }
  ASSERT_EQ(atomic_load(&ca_opens), 1);
  ASSERT_LE(300, ts_stat(&srv, "tls_handshakes"));
  free_urls(u, 300);
  ts_stop(&srv);
}

TEST_IMPL(the_ca_file_is_read_once_for_a_clients_life) {
  uvf_options o = with_ca();
  uvf_client *c;
  char *u[20];
  size_t i, call;
  start_tls("server", NULL);
  for (i = 0; i < 20; i++)
    u[i] = tls_url("127.0.0.1", "/bytes/%zu", i);
  o.headers = close_each;
  o.n_headers = 1;
  o.http_version = UVF_HTTP_1_1; /* every transfer connects anew */
  atomic_store(&ca_opens, 0);
  ASSERT_EQ(uvf_client_new(&c, &o), UVF_OK);
  for (call = 0; call < 5; call++) {
    uvf_results *rs = NULL;
    ASSERT_EQ(uvf_client_fetch_all(c, (const char *const *)u, 20, NULL, 0, &rs),
              UVF_OK);
    for (i = 0; i < 20; i++)
      ASSERT(uvf_results_get(rs, i)->ok);
    uvf_results_free(&rs);
  }
  uvf_client_free(&c);
  ASSERT_LE(atomic_load(&ca_opens), 1); /* 0 if an earlier test read it */
  for (i = 0; i < 20; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* The CA file is parsed on the first TLS connection: a run of http://
 * URLs never reads it. */
TEST_IMPL(plain_http_urls_never_read_the_ca_file) {
  uvf_options o = with_ca();
  char *u[5];
  uvf_result *r;
  size_t i;
  ts_start(&srv, NULL);
  for (i = 0; i < 5; i++)
    if (asprintf(&u[i], "http://127.0.0.1:%d/bytes/3?i=%zu", srv.port, i) < 0)
      FAIL("oom");
  atomic_store(&ca_opens, 0);
  r = fetch_urls(u, 5, &o, 0);
  for (i = 0; i < 5; i++)
    ASSERT(r[i].ok);
  results_done(r);
  ASSERT_EQ(atomic_load(&ca_opens), 0);
  for (i = 0; i < 5; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* A CA file that cannot be read fails every https:// URL of the fetcher,
 * and is tried once, not again for every connection. */
TEST_IMPL(a_ca_file_that_cannot_be_read_is_tried_once) {
  uvf_options o;
  char *u[5];
  uvf_result *r;
  size_t i;
  start_tls("server", NULL);
  for (i = 0; i < 5; i++)
    u[i] = tls_url("127.0.0.1", "/bytes/3?i=%zu", i);
  uvf_options_init(&o);
  o.ca_file = "/nonexistent/ca.pem";
  atomic_store(&ca_opens, 0);
  r = fetch_urls(u, 5, &o, 0);
  for (i = 0; i < 5; i++)
    ASSERT_EQ(r[i].error, UVF_ETLS);
  results_done(r);
  ASSERT_EQ(atomic_load(&ca_opens), 1);
  for (i = 0; i < 5; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* New connections to a host resume the TLS session of earlier ones. */
TEST_IMPL(later_connections_resume_the_tls_session) {
  uvf_options o = with_ca();
  char *u[10];
  uvf_result *r;
  size_t i;
  start_tls("server", "--no-h2");
  for (i = 0; i < 10; i++)
    u[i] = tls_url("127.0.0.1", "/bytes/1?i=%zu", i);
  o.max_in_flight = 1;
  o.headers = close_each;
  o.n_headers = 1;
  r = fetch_urls(u, 10, &o, 0);
  for (i = 0; i < 10; i++)
    ASSERT(r[i].ok);
  results_done(r);
  ASSERT_EQ(ts_stat(&srv, "tls_handshakes"), 10);
  ASSERT_LE(8, ts_stat(&srv, "tls_resumed"));
  for (i = 0; i < 10; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* A burst to a new https origin: the first transfer connects alone, and
 * the others wait for its session and resume it, whatever their number.
 * (HTTP/1.1 asked for: without it libcurl holds the others back itself
 * until the first handshake tells whether they may share its connection,
 * but only within each of the engine's multi handles.) */
TEST_IMPL(a_burst_to_a_new_origin_makes_one_full_handshake) {
  uvf_options o = with_ca();
  char *u[20];
  uvf_result *r;
  size_t i;
  start_tls("server", "--no-h2");
  for (i = 0; i < 20; i++)
    u[i] = tls_url("127.0.0.1", "/delay/200?i=%zu", i);
  o.max_in_flight = 20;
  o.http_version = UVF_HTTP_1_1;
  r = fetch_urls(u, 20, &o, 0);
  for (i = 0; i < 20; i++)
    if (!r[i].ok)
      FAIL("%zu: %s", i, r[i].message);
  results_done(r);
  ASSERT_EQ(ts_stat(&srv, "tls_handshakes"), 20);
  ASSERT_EQ(ts_stat(&srv, "tls_resumed"), 19);
  for (i = 0; i < 20; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* OpenSSL resumes a TLS 1.3 session object once; connections that start
 * after one resumed it, before any new ticket came (this server sends it
 * with the first reply, a second later), still resume. */
TEST_IMPL(a_session_serves_connections_that_start_after_it_was_resumed) {
  uvf_options o = with_ca();
  char *u[7];
  uvf_result *r;
  size_t i;
  const char *args[] = {"--tls", ts_cert_arg("server"), "--no-h2",
                        "--late-tickets", NULL};
  ts_start_args(&srv, NULL, args);
  u[0] = tls_url("127.0.0.1", "/bytes/1"); /* brings the session */
  for (i = 1; i < 7; i++)
    u[i] = tls_url("127.0.0.1", "/delay/1000?i=%zu", i);
  o.max_in_flight = 7;
  o.rate_per_host = 20;   /* one start every 50 ms */
  o.headers = close_each; /* no connection serves two */
  o.n_headers = 1;
  r = fetch_urls(u, 7, &o, 0);
  for (i = 0; i < 7; i++)
    if (!r[i].ok)
      FAIL("%zu: %s", i, r[i].message);
  results_done(r);
  ASSERT_EQ(ts_stat(&srv, "tls_handshakes"), 7);
  ASSERT_EQ(ts_stat(&srv, "tls_resumed"), 6);
  for (i = 0; i < 7; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* ---- the first handshake of an origin (its TLS gate) ---- */

/* Every handshake takes 400 ms: the first transfer's session arrives as
 * its handshake ends, and the others start then, not after waiting
 * another handshake's time for a session that came already. */
TEST_IMPL(the_others_start_as_soon_as_the_first_session_comes) {
  const char *args[] = {
      "--tls", ts_cert_arg("server"), "--no-h2", "--tls-delay", "400", NULL};
  uvf_options o = with_ca();
  char *u[6];
  uvf_result *r;
  size_t i;
  ts_start_args(&srv, NULL, args);
  u[0] = tls_url("127.0.0.1", "/delay/1000"); /* goes first, ends last */
  for (i = 1; i < 6; i++)
    u[i] = tls_url("127.0.0.1", "/bytes/1?i=%zu", i);
  o.max_in_flight = 6;
  o.http_version = UVF_HTTP_1_1;
  r = fetch_urls(u, 6, &o, 0);
  for (i = 0; i < 6; i++)
    if (!r[i].ok)
      FAIL("%zu: %s", i, r[i].message);
  for (i = 1; i < 6; i++)
    if (r[i].time_queued > 0.6)
      FAIL("%zu waited %.3f s to start", i, r[i].time_queued);
  results_done(r);
  ASSERT_EQ(ts_stat(&srv, "tls_resumed"), 5);
  for (i = 0; i < 6; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* A server that never gives a session: the others wait about as long as
 * the first handshake took, not for the first transfer to end. */
TEST_IMPL(without_a_session_the_others_wait_only_about_a_handshake) {
  const char *args[] = {"--tls", ts_cert_arg("server"), "--no-h2",
                        "--no-tickets", NULL};
  uvf_options o = with_ca();
  char *u[10];
  uvf_result *r;
  size_t i;
  ts_start_args(&srv, NULL, args);
  u[0] = tls_url("127.0.0.1", "/delay/1000"); /* goes first, ends last */
  for (i = 1; i < 10; i++)
    u[i] = tls_url("127.0.0.1", "/bytes/1?i=%zu", i);
  o.max_in_flight = 10;
  o.http_version = UVF_HTTP_1_1;
  r = fetch_urls(u, 10, &o, 0);
  for (i = 0; i < 10; i++)
    if (!r[i].ok)
      FAIL("%zu: %s", i, r[i].message);
  for (i = 1; i < 10; i++)
    if (r[i].time_queued > 0.5)
      FAIL("%zu waited %.3f s to start", i, r[i].time_queued);
  results_done(r);
  ASSERT_EQ(ts_stat(&srv, "tls_resumed"), 0);
  for (i = 0; i < 10; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* The first transfer fails in its handshake, with no session: the URLs
 * that waited behind it go on, and each gets its own result. */
TEST_IMPL(urls_behind_a_first_handshake_that_fails_get_their_results) {
  uvf_options o = with_ca();
  char *u[6];
  uvf_result *r;
  size_t i;
  start_tls("selfsigned", NULL);
  for (i = 0; i < 6; i++)
    u[i] = tls_url("127.0.0.1", "/bytes/1?i=%zu", i);
  r = fetch_urls(u, 6, &o, 5000);
  for (i = 0; i < 6; i++)
    if (r[i].error != UVF_ETLS)
      FAIL("%zu: %s: %s", i, uvf_err_name(r[i].error), r[i].message);
  results_done(r);
  for (i = 0; i < 6; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* The deadline comes while the first handshake hangs: the URLs waiting
 * behind it end as deadline too. */
TEST_IMPL(a_deadline_ends_urls_waiting_for_the_first_handshake) {
  uvf_options o = with_ca();
  char *u[5];
  uvf_result *r;
  size_t i;
  int port, fd = silent_listener(&port);
  for (i = 0; i < 5; i++)
    if (asprintf(&u[i], "https://127.0.0.1:%d/?i=%zu", port, i) < 0)
      FAIL("oom");
  r = fetch_urls(u, 5, &o, 300);
  for (i = 0; i < 5; i++)
    ASSERT_EQ(r[i].error, UVF_EDEADLINE);
  results_done(r);
  for (i = 0; i < 5; i++)
    free(u[i]);
  close(fd);
}

/* URLs waiting for the first handshake hold their slots: when it is done
 * no more than N transfers run. */
TEST_IMPL(urls_waiting_for_the_first_handshake_count_toward_n) {
  uvf_options o = with_ca();
  char *u[12];
  uvf_result *r;
  size_t i;
  start_tls("server", "--no-h2");
  for (i = 0; i < 12; i++)
    u[i] = tls_url("127.0.0.1", "/delay/100?i=%zu", i);
  o.max_in_flight = 3;
  o.http_version = UVF_HTTP_1_1;
  r = fetch_urls(u, 12, &o, 0);
  for (i = 0; i < 12; i++)
    if (!r[i].ok)
      FAIL("%zu: %s", i, r[i].message);
  results_done(r);
  ASSERT_LE(ts_stat(&srv, "peak_in_flight"), 3);
  for (i = 0; i < 12; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* A session made without checking the certificate is not one to resume
 * where the certificate must be checked: it would skip the check. */
TEST_IMPL(a_verified_connection_never_resumes_an_unverified_session) {
  uvf_options o = with_ca(), insecure = with_ca();
  uvf_client *c;
  uvf_results *rs = NULL;
  const uvf_result *r;
  char *u[1];
  start_tls("selfsigned", "--no-h2");
  u[0] = tls_url("127.0.0.1", "/bytes/1");
  insecure.insecure = 1;
  ASSERT_EQ(uvf_client_new(&c, &o), UVF_OK);
  ASSERT_EQ(
      uvf_client_fetch_all(c, (const char *const *)u, 1, &insecure, 0, &rs),
      UVF_OK);
  r = uvf_results_get(rs, 0);
  if (!r->ok)
    FAIL("insecure: %s", r->message);
  uvf_results_free(&rs);
  ASSERT_EQ(uvf_client_fetch_all(c, (const char *const *)u, 1, NULL, 0, &rs),
            UVF_OK);
  r = uvf_results_get(rs, 0);
  if (r->error != UVF_ETLS)
    FAIL("verified: %s: %s", uvf_err_name(r->error), r->message);
  uvf_results_free(&rs);
  uvf_client_free(&c);
  ASSERT_EQ(ts_stat(&srv, "tls_resumed"), 0);
  free(u[0]);
  ts_stop(&srv);
}

/* ---- a cap on connections being set up ---- */

/* 24 transfers with max_handshakes 4: each handshake takes 300 ms at
 * the server (--tls-delay) and each transfer keeps its connection for
 * 1 s, so connections are set up 4 at a time, the first alone (it brings
 * the origin's TLS session); from 1.3 s on, the ones still waiting may
 * reuse a connection that came free. The last transfer ends after about
 * 2.9 s; without the cap after 1.6 s. Every URL gets its result. */
TEST_IMPL(a_cap_of_four_handshakes_sets_up_connections_four_at_a_time) {
  const char *args[] = {
      "--tls", ts_cert_arg("server"), "--no-h2", "--tls-delay", "300", NULL};
  uvf_options o = with_ca();
  char *u[24];
  uvf_result *r;
  uint64_t t0, ms;
  size_t i;
  ts_start_args(&srv, NULL, args);
  for (i = 0; i < 24; i++)
    u[i] = tls_url("127.0.0.1", "/delay/1000?i=%zu", i);
  o.max_in_flight = 24;
  o.max_handshakes = 4;
  t0 = uv_hrtime();
  r = fetch_urls(u, 24, &o, 0);
  ms = (uv_hrtime() - t0) / 1000000;
  for (i = 0; i < 24; i++)
    if (!r[i].ok)
      FAIL("%zu: %s", i, r[i].message);
  results_done(r);
  /* A slot is given back as its connection is ready, not as its
   * transfer ends: requests pile up at the server past 4. */
  ASSERT(ts_stat(&srv, "peak_in_flight") >= 8);
  if (ms < 2300)
    FAIL("24 connections in %llu ms: more than 4 handshakes at once",
         (unsigned long long)ms);
  for (i = 0; i < 24; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* Transfers that end before their connection is ready (refused) give
 * their handshake slots back: the URLs after them still run. */
TEST_IMPL(refused_connections_give_their_handshake_slots_back) {
  uvf_options o = with_ca();
  char *u[8];
  uvf_result *r;
  size_t i;
  start_tls("server", "--no-h2");
  for (i = 0; i < 8; i++)
    u[i] = i < 4 ? strdup("https://127.0.0.1:1/refused")
                 : tls_url("127.0.0.1", "/bytes/10?i=%zu", i);
  o.max_in_flight = 8;
  o.max_handshakes = 2;
  r = fetch_urls(u, 8, &o, 10000);
  for (i = 0; i < 8; i++)
    if (r[i].error != (i < 4 ? UVF_ECONNECT : UVF_OK))
      FAIL("%zu: %s: %s", i, uvf_err_name(r[i].error), r[i].message);
  results_done(r);
  for (i = 0; i < 8; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* ---- HTTP/2 ---- */

static void many_to_one_h2_host(size_t n, unsigned max_streams,
                                const char *server_streams, long most_conns) {
  const char *args[] = {"--tls", ts_cert_arg("server"), "--h2-max-streams",
                        server_streams, NULL};
  uvf_options o = with_ca();
  char **u = calloc(n, sizeof(*u));
  uvf_result *r;
  size_t i;
  ts_start_args(&srv, NULL, args);
  for (i = 0; i < n; i++)
    u[i] = tls_url("127.0.0.1", "/delay/1000?i=%zu", i);
  o.max_in_flight = (unsigned)n;
  o.max_streams = max_streams;
  r = fetch_urls(u, n, &o, 0);
  for (i = 0; i < n; i++) {
    if (!r[i].ok)
      FAIL("%zu: %s", i, r[i].message);
    ASSERT_EQ(r[i].http_version, 20);
  }
  results_done(r);
  ASSERT_EQ(ts_stat(&srv, "h2_streams"), n);
  ASSERT_EQ(ts_stat(&srv, "tls_handshakes"), most_conns);
  free_urls(u, n);
  ts_stop(&srv);
}

/* The connections of one host (TLS handshakes: the /stats queries are
 * plain connections): n / max_streams, as long as the server allows
 * max_streams at once on each (its SETTINGS_MAX_CONCURRENT_STREAMS). */
TEST_IMPL(two_thousand_transfers_to_one_h2_host_share_four_connections) {
  many_to_one_h2_host(2000, 500, "1000", 4);
}

TEST_IMPL(by_default_an_h2_connection_carries_100_transfers) {
  many_to_one_h2_host(1000, 100, "128", 10);
}

TEST_IMPL(rst_stream_ends_only_its_stream_as_a_retryable_protocol_error) {
  uvf_options o = with_ca();
  char *u[40];
  uvf_result *r;
  size_t i;
  start_tls("server", NULL);
  for (i = 0; i < 40; i++)
    u[i] = i == 7 ? tls_url("127.0.0.1", "/h2/rst?delay=100")
                  : tls_url("127.0.0.1", "/delay/300?i=%zu", i);
  o.max_in_flight = 40;
  r = fetch_urls(u, 40, &o, 0);
  for (i = 0; i < 40; i++) {
    if (i == 7) {
      ASSERT_EQ(r[i].error, UVF_EPROTOCOL);
      ASSERT(r[i].curl_code == CURLE_HTTP2_STREAM ||
             r[i].curl_code == CURLE_HTTP2);
    } else if (!r[i].ok) {
      FAIL("%zu: %s", i, r[i].message);
    }
  }
  results_done(r);
  ASSERT_EQ(ts_stat(&srv, "tls_handshakes"), 1);
  for (i = 0; i < 40; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* A GOAWAY in the middle of a batch: the streams it names finish; those
 * opened after it fail as retryable, and with retries every URL ends ok,
 * one record each. */
TEST_IMPL(goaway_mid_batch_costs_no_url_when_retried) {
  uvf_options o = with_ca();
  size_t n = 300, i;
  char **u = calloc(n, sizeof(*u));
  uvf_result *r;
  start_tls("server", NULL);
  for (i = 0; i < n; i++)
    u[i] = i == 20 ? tls_url("127.0.0.1", "/h2/goaway?delay=50")
                   : tls_url("127.0.0.1", "/delay/%zu?i=%zu", 20 + i % 7, i);
  o.max_in_flight = 50;
  o.max_retries = 3;
  o.retry_base_ms = 10;
  r = fetch_urls(u, n, &o, 0);
  for (i = 0; i < n; i++) {
    ASSERT_EQ(r[i].index, i);
    if (!r[i].ok)
      FAIL("%zu: %s (%s)", i, uvf_err_name(r[i].error), r[i].message);
  }
  results_done(r);
  ASSERT_LE(2, ts_stat(&srv, "tls_handshakes")); /* one after the GOAWAY */
  free_urls(u, n);
  ts_stop(&srv);
}

TEST_IMPL(http1_1_is_spoken_when_asked_and_recorded) {
  uvf_options o = with_ca();
  char *u[2];
  uvf_result *r;
  start_tls("server", NULL);
  u[0] = tls_url("127.0.0.1", "/bytes/5");
  u[1] = tls_url("127.0.0.1", "/bytes/6");
  o.http_version = UVF_HTTP_1_1;
  r = fetch_urls(u, 2, &o, 0);
  ASSERT_EQ(r[0].http_version, 11);
  ASSERT_EQ(r[1].http_version, 11);
  results_done(r);
  ASSERT_EQ(ts_stat(&srv, "h2_streams"), 0);
  free(u[0]);
  free(u[1]);
  ts_stop(&srv);
}

TEST_IMPL(prior_knowledge_speaks_h2c_over_plain_http) {
  uvf_options o;
  char *u[1];
  uvf_result *r;
  ts_start(&srv, NULL);
  if (asprintf(&u[0], "http://127.0.0.1:%d/bytes/7", srv.port) < 0)
    FAIL("oom");
  uvf_options_init(&o);
  o.http_version = UVF_HTTP_2_PRIOR;
  r = fetch_urls(u, 1, &o, 0);
  ASSERT(r[0].ok);
  ASSERT_EQ(r[0].http_version, 20);
  ASSERT_EQ(r[0].bytes, 7);
  results_done(r);
  ASSERT_EQ(ts_stat(&srv, "h2_streams"), 1);
  free(u[0]);
  ts_stop(&srv);
}

/* libcurl 7.88.1 breaks an h2c connection that a second transfer reuses
 * or shares (curl issue 10634, fixed in 8.0): one after the other and
 * side by side, every URL must still come back over h2. */
static void many_over_h2c(unsigned n_in_flight) {
  uvf_options o;
  char *u[6];
  uvf_result *r;
  size_t i;
  ts_start(&srv, NULL);
  for (i = 0; i < 6; i++)
    if (asprintf(&u[i], "http://127.0.0.1:%d/bytes/7?i=%zu", srv.port, i) < 0)
      FAIL("oom");
  uvf_options_init(&o);
  o.http_version = UVF_HTTP_2_PRIOR;
  o.max_in_flight = n_in_flight;
  r = fetch_urls(u, 6, &o, 0);
  for (i = 0; i < 6; i++) {
    if (!r[i].ok)
      FAIL("%zu: %s", i, r[i].message);
    ASSERT_EQ(r[i].http_version, 20);
  }
  results_done(r);
  ASSERT_EQ(ts_stat(&srv, "h2_streams"), 6);
  for (i = 0; i < 6; i++)
    free(u[i]);
  ts_stop(&srv);
}

TEST_IMPL(prior_knowledge_serves_urls_one_after_the_other) { many_over_h2c(1); }

TEST_IMPL(prior_knowledge_serves_urls_side_by_side) { many_over_h2c(6); }

int main(int argc, char **argv) {
  static const test_entry tests[] = {
      TEST_ENTRY(a_private_ca_given_as_ca_file_is_trusted),
      TEST_ENTRY(an_untrusted_certificate_is_tls),
      TEST_ENTRY(pooled_handles_serve_the_next_call_after_http2),
      TEST_ENTRY(a_wrong_host_name_is_tls_even_with_the_right_ca),
      TEST_ENTRY(an_expired_certificate_is_tls),
      TEST_ENTRY(insecure_accepts_every_bad_certificate),
      TEST_ENTRY(a_ca_file_that_cannot_be_read_is_tls_naming_it),
      TEST_ENTRY(a_private_ca_given_as_ca_path_is_trusted),
      TEST_ENTRY(fetchers_with_other_ca_directories_do_not_share_a_store),
      TEST_ENTRY(an_intermediate_ca_alone_in_the_ca_file_is_a_trust_anchor),
      TEST_ENTRY(of_two_cas_with_one_name_the_one_that_signed_is_found),
      TEST_ENTRY(a_ca_file_of_trusted_certificate_blocks_is_trusted),
      TEST_ENTRY(a_silent_server_times_out_within_connect_timeout),
      TEST_ENTRY(the_ca_file_is_read_once_however_large_n),
      TEST_ENTRY(the_ca_file_is_read_once_for_a_clients_life),
      TEST_ENTRY(plain_http_urls_never_read_the_ca_file),
      TEST_ENTRY(a_ca_file_that_cannot_be_read_is_tried_once),
      TEST_ENTRY(later_connections_resume_the_tls_session),
      TEST_ENTRY(a_burst_to_a_new_origin_makes_one_full_handshake),
      TEST_ENTRY(a_session_serves_connections_that_start_after_it_was_resumed),
      TEST_ENTRY(the_others_start_as_soon_as_the_first_session_comes),
      TEST_ENTRY(without_a_session_the_others_wait_only_about_a_handshake),
      TEST_ENTRY(urls_behind_a_first_handshake_that_fails_get_their_results),
      TEST_ENTRY(a_deadline_ends_urls_waiting_for_the_first_handshake),
      TEST_ENTRY(urls_waiting_for_the_first_handshake_count_toward_n),
      TEST_ENTRY(a_verified_connection_never_resumes_an_unverified_session),
      TEST_ENTRY(a_cap_of_four_handshakes_sets_up_connections_four_at_a_time),
      TEST_ENTRY(refused_connections_give_their_handshake_slots_back),
      TEST_ENTRY(two_thousand_transfers_to_one_h2_host_share_four_connections),
      TEST_ENTRY(by_default_an_h2_connection_carries_100_transfers),
      TEST_ENTRY(rst_stream_ends_only_its_stream_as_a_retryable_protocol_error),
      TEST_ENTRY(goaway_mid_batch_costs_no_url_when_retried),
      TEST_ENTRY(http1_1_is_spoken_when_asked_and_recorded),
      TEST_ENTRY(prior_knowledge_speaks_h2c_over_plain_http),
      TEST_ENTRY(prior_knowledge_serves_urls_one_after_the_other),
      TEST_ENTRY(prior_knowledge_serves_urls_side_by_side),
  };
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
