/* The library's behaviour, one test per behaviour, against the project's
 * own loopback server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "uvfetch.h"

static ts_server srv;

static char *urlf(const char *fmt, ...) {
  char path[512], *u;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(path, sizeof(path), fmt, ap);
  va_end(ap);
  if (asprintf(&u, "http://127.0.0.1:%d%s", srv.port, path) < 0)
    FAIL("oom");
  return u;
}

static uvf_result *fetch(char **urls, size_t n, const uvf_options *o,
                         long deadline_ms) {
  return fetch_urls(urls, n, o, deadline_ms);
}

/* One URL through the blocking call; the caller frees with done1(). */
static uvf_result *fetch1(const char *url, const uvf_options *o) {
  char *u[1] = {(char *)url};
  return fetch(u, 1, o, 0);
}

static void done1(uvf_result *r) { results_done(r); }

static void expect_kind(const char *url, const uvf_options *o, uvf_err k) {
  uvf_result *r = fetch1(url, o);
  if (r->error != k)
    FAIL("%s: expected %s, got %s (%s)", url, uvf_err_name(k),
         uvf_err_name(r->error), r->message);
  ASSERT_EQ(r->ok, 0);
  ASSERT(r->message && *r->message);
  done1(r);
}

/* One path on the test server through the blocking call. */
static uvf_result *fetch_path(const char *path, const uvf_options *o) {
  char *u = urlf("%s", path);
  uvf_result *r = fetch1(u, o);
  free(u);
  return r;
}

static void expect_path_kind(const char *path, const uvf_options *o,
                             uvf_err k) {
  char *u = urlf("%s", path);
  expect_kind(u, o, k);
  free(u);
}

/* The history as "http 503; connect", for comparing. */
static const char *history_text(const uvf_result *r) {
  static char buf[512];
  size_t len = 0;
  unsigned i;
  buf[0] = '\0';
  for (i = 0; i < r->n_history && len < sizeof(buf); i++) {
    const uvf_attempt *a = &r->history[i];
    if (a->error == UVF_EHTTP)
      len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%shttp %ld",
                              i ? "; " : "", a->status);
    else
      len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
                              i ? "; " : "", uvf_err_name(a->error));
  }
  return buf;
}

static long stats_field(const char *name) {
  char *s = ts_get(&srv, "/stats");
  long v = json_int(s, name);
  free(s);
  return v;
}

TEST_IMPL(thousand_urls_at_n50_one_record_each_and_peak_bounded) {
  size_t n = 1000, i;
  char **u = calloc(n, sizeof(*u));
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  srand(7);
  for (i = 0; i < n; i++)
    u[i] = urlf("/delay/%d?bytes=%zu&i=%zu", rand() % 40, i % 3000, i);
  uvf_options_init(&o);
  o.max_in_flight = 50;
  r = fetch(u, n, &o, 0);
  for (i = 0; i < n; i++) {
    ASSERT_EQ(r[i].index, i);
    ASSERT_STR_EQ(r[i].url, u[i]);
    if (!r[i].ok)
      FAIL("index %zu: %s", i, r[i].message);
    ASSERT_EQ(r[i].bytes, i % 3000);
    ASSERT_EQ(r[i].status, 200);
  }
  ASSERT_EQ(stats_field("requests"), n);
  ASSERT_LE(stats_field("peak_in_flight"), 50);
  ASSERT_LE(40, stats_field("peak_in_flight")); /* the cap was used */
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

/* Past 64 slots transfers spread over several multi handles; the cap and
 * the one-record-per-index rule hold across them. */
TEST_IMPL(cap_holds_across_shards_at_n300) {
  size_t n = 1500, i;
  char **u = calloc(n, sizeof(*u));
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  for (i = 0; i < n; i++)
    u[i] = urlf("/delay/%zu?bytes=%zu&i=%zu", 50 + i % 30, i % 100, i);
  uvf_options_init(&o);
  o.max_in_flight = 300;
  r = fetch(u, n, &o, 0);
  for (i = 0; i < n; i++) {
    ASSERT_EQ(r[i].index, i);
    if (!r[i].ok)
      FAIL("index %zu: %s", i, r[i].message);
    ASSERT_EQ(r[i].bytes, i % 100);
  }
  ASSERT_EQ(stats_field("requests"), n);
  ASSERT_LE(stats_field("peak_in_flight"), 300);
  ASSERT_LE(65, stats_field("peak_in_flight")); /* more than one shard's */
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

TEST_IMPL(per_host_cap_holds_across_loopback_hosts) {
  size_t n = 500, i;
  char **u = calloc(n, sizeof(*u)), *s, key[32];
  uvf_options o;
  uvf_result *r;
  int h;
  ts_start(&srv, "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5");
  for (i = 0; i < n; i++)
    if (asprintf(&u[i], "http://127.0.0.%zu:%d/delay/%zu?i=%zu", 1 + i % 5,
                 srv.port, 5 + i % 20, i) < 0)
      FAIL("oom");
  uvf_options_init(&o);
  o.max_in_flight = 50;
  o.max_per_host = 3;
  r = fetch(u, n, &o, 0);
  for (i = 0; i < n; i++)
    ASSERT(r[i].ok);
  s = ts_get(&srv, "/stats");
  for (h = 1; h <= 5; h++) {
    snprintf(key, sizeof(key), "127.0.0.%d", h);
    ASSERT_LE(json_int(s, key), 3);
    ASSERT_LE(2, json_int(s, key));
  }
  ASSERT_LE(json_int(s, "peak_in_flight"), 15);
  free(s);
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

/* localhost, LOCALHOST and LocalHost are one host: at --per-host 1 the
 * server never sees two of them at once. */
TEST_IMPL(host_names_differing_in_case_share_the_per_host_cap) {
  static const char *names[] = {"localhost", "LOCALHOST", "LocalHost"};
  size_t n = 9, i;
  char **u = calloc(n, sizeof(*u));
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  for (i = 0; i < n; i++)
    if (asprintf(&u[i], "http://%s:%d/delay/100?i=%zu", names[i % 3], srv.port,
                 i) < 0)
      FAIL("oom");
  uvf_options_init(&o);
  o.max_in_flight = 9;
  o.max_per_host = 1;
  r = fetch(u, n, &o, 0);
  for (i = 0; i < n; i++)
    if (!r[i].ok)
      FAIL("%s: %s", u[i], r[i].message);
  ASSERT_EQ(stats_field("peak_in_flight"), 1);
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

TEST_IMPL(busy_host_does_not_hold_back_other_hosts) {
  size_t n = 20, i;
  char **u = calloc(n, sizeof(*u));
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, "127.0.0.1,127.0.0.2");
  /* Ten slow URLs to one host first, then ten fast ones to another. */
  for (i = 0; i < n; i++)
    if (asprintf(&u[i], "http://127.0.0.%d:%d/delay/%d?i=%zu", i < 10 ? 1 : 2,
                 srv.port, i < 10 ? 400 : 1, i) < 0)
      FAIL("oom");
  uvf_options_init(&o);
  o.max_in_flight = 20;
  o.max_per_host = 1;
  r = fetch(u, n, &o, 0);
  for (i = 10; i < n; i++) {
    ASSERT(r[i].ok);
    if (r[i].time_queued > 0.3)
      FAIL("index %zu waited %.3f s behind the busy host", i, r[i].time_queued);
  }
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

/* The asynchronous API on a loop the caller owns. */
typedef struct async_run {
  uv_loop_t loop;
  uvf_fetcher *f;
  size_t n, results, max_outstanding, max_in_flight;
  unsigned char *seen;
  char **urls;
  size_t next;
  int done, closed;
  uv_timer_t timer;
  uvf_err abort_kind;
  size_t kinds[16];
} async_run;

static void on_closed(void *ud) { ((async_run *)ud)->closed = 1; }

static void ar_result(void *ud, const uvf_result *r) {
  async_run *a = ud;
  ASSERT(r->index < a->n);
  ASSERT_EQ(a->seen[r->index], 0);
  a->seen[r->index] = 1;
  a->results++;
  a->kinds[-r->error]++;
}

static void ar_done(void *ud) {
  async_run *a = ud;
  a->done++;
  uvf_fetcher_close(a->f, on_closed);
}

static int ar_next(void *ud, const char **url, uint64_t *tag) {
  async_run *a = ud;
  uvf_stats st;
  uvf_get_stats(a->f, &st);
  if (st.submitted - st.done > a->max_outstanding)
    a->max_outstanding = st.submitted - st.done;
  if (a->next >= a->n)
    return 0;
  *tag = a->next;
  *url = a->urls[a->next++];
  return 1;
}

static void ar_init(async_run *a, size_t n, const char *path_fmt) {
  size_t i;
  memset(a, 0, sizeof(*a));
  ASSERT_EQ(uv_loop_init(&a->loop), 0);
  a->n = n;
  a->seen = calloc(n, 1);
  a->urls = calloc(n, sizeof(char *));
  for (i = 0; i < n; i++)
    a->urls[i] = urlf(path_fmt, i);
}

static void ar_finish(async_run *a, size_t expected_results) {
  ASSERT_EQ(a->done, 1);
  ASSERT_EQ(a->closed, 1);
  ASSERT_EQ(a->results, expected_results);
  ASSERT_EQ(uv_loop_close(&a->loop), 0);
  free(a->seen);
  free_urls(a->urls, a->n);
}

TEST_IMPL(async_api_on_caller_loop_closes_clean) {
  uvf_callbacks cb = cbs(NULL, NULL, NULL, ar_result, ar_done);
  uvf_options o;
  async_run a;
  size_t i;
  uint64_t idx;
  ts_start(&srv, NULL);
  ar_init(&a, 20, "/delay/10?i=%zu");
  uvf_options_init(&o);
  o.max_in_flight = 4;
  ASSERT_EQ(uvf_fetcher_new(&a.f, &a.loop, &o, &cb, &a), 0);
  for (i = 0; i < a.n; i++) {
    ASSERT_EQ(uvf_submit(a.f, a.urls[i], i, &idx), 0);
    ASSERT_EQ(idx, i);
  }
  ASSERT_EQ(uvf_end_input(a.f), 0);
  ASSERT_EQ(uvf_submit(a.f, a.urls[0], 0, NULL), UVF_ESTATE);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(a.kinds[0], a.n);
  ar_finish(&a, a.n);
  ts_stop(&srv);
}

TEST_IMPL(source_is_read_only_as_slots_free_up) {
  uvf_callbacks cb = cbs(ar_next, NULL, NULL, ar_result, ar_done);
  uvf_options o;
  async_run a;
  ts_start(&srv, NULL);
  ar_init(&a, 300, "/delay/2?i=%zu");
  uvf_options_init(&o);
  o.max_in_flight = 10;
  ASSERT_EQ(uvf_fetcher_new(&a.f, &a.loop, &o, &cb, &a), 0);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(a.kinds[0], a.n);
  ASSERT_LE(a.max_outstanding, 10);
  ar_finish(&a, a.n);
  ts_stop(&srv);
}

static void on_abort_timer(uv_timer_t *t) {
  async_run *a = t->data;
  ASSERT_EQ(uvf_abort(a->f, a->abort_kind), 0);
  uv_close((uv_handle_t *)t, NULL);
}

TEST_IMPL(abort_ends_in_flight_and_queued_urls_as_aborted) {
  uvf_callbacks cb = cbs(ar_next, NULL, NULL, ar_result, ar_done);
  uvf_options o;
  async_run a;
  ts_start(&srv, NULL);
  ar_init(&a, 8, "/delay/5000?i=%zu");
  uvf_options_init(&o);
  o.max_in_flight = 4;
  ASSERT_EQ(uvf_fetcher_new(&a.f, &a.loop, &o, &cb, &a), 0);
  a.abort_kind = UVF_EABORTED;
  uv_timer_init(&a.loop, &a.timer);
  a.timer.data = &a;
  uv_timer_start(&a.timer, on_abort_timer, 200, 0);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  /* Four were in flight; the source was never asked for the rest. */
  ASSERT_EQ(a.results, 4);
  ASSERT_EQ(a.kinds[-UVF_EABORTED], 4);
  ar_finish(&a, 4); /* only indexed URLs get records */
  ts_stop(&srv);
}

static int abort_next(void *ud, const char **url, uint64_t *tag) {
  async_run *a = ud;
  if (a->next == 4)
    ASSERT_EQ(uvf_abort(a->f, UVF_EABORTED), 0);
  return ar_next(ud, url, tag);
}

TEST_IMPL(abort_from_the_source_drops_the_url_it_returns) {
  uvf_callbacks cb = cbs(abort_next, NULL, NULL, ar_result, ar_done);
  uvf_options o;
  async_run a;
  ts_start(&srv, NULL);
  ar_init(&a, 8, "/delay/2000?i=%zu");
  uvf_options_init(&o);
  o.max_in_flight = 8;
  ASSERT_EQ(uvf_fetcher_new(&a.f, &a.loop, &o, &cb, &a), 0);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(a.kinds[-UVF_EABORTED], 4);
  ar_finish(&a, 4);
  ts_stop(&srv);
}

static int close_on_body(void *ud, uint64_t index, const char *d, size_t n) {
  async_run *a = ud;
  uvf_fetcher_close(a->f, on_closed);
  return 0;
}

static void count_done(void *ud) { ((async_run *)ud)->done++; }

TEST_IMPL(close_from_on_body_still_gives_every_index_a_result) {
  uvf_callbacks cb = cbs(ar_next, NULL, close_on_body, ar_result, count_done);
  uvf_options o;
  async_run a;
  ts_start(&srv, NULL);
  ar_init(&a, 6, "/bytes/200000?i=%zu");
  uvf_options_init(&o);
  o.max_in_flight = 3;
  ASSERT_EQ(uvf_fetcher_new(&a.f, &a.loop, &o, &cb, &a), 0);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(a.results, 3); /* the three indexed when close came */
  ar_finish(&a, 3);
  ts_stop(&srv);
}

TEST_IMPL(kept_body_never_carries_a_previous_body) {
  uvf_options o;
  uvf_result *r;
  char *u[2];
  ts_start(&srv, NULL);
  u[0] = urlf("/bytes/100");
  u[1] = urlf("/status/204");
  uvf_options_init(&o);
  o.keep_body = 1;
  o.max_in_flight = 1; /* both through the same pooled slot */
  r = fetch(u, 2, &o, 0);
  ASSERT_EQ(r[0].bytes, 100);
  ASSERT(r[1].ok);
  ASSERT_EQ(r[1].bytes, 0);
  ASSERT_STR_EQ(r[1].body, "");
  results_done(r);
  free(u[0]);
  free(u[1]);
  ts_stop(&srv);
}

TEST_IMPL(blocking_call_honours_its_deadline) {
  size_t n = 20, i;
  char **u = calloc(n, sizeof(*u));
  uvf_options o;
  uvf_result *r;
  uint64_t t0, ms;
  ts_start(&srv, NULL);
  for (i = 0; i < n; i++)
    u[i] = urlf(i == 0 ? "/delay/1?i=%zu" : "/delay/5000?i=%zu", i);
  uvf_options_init(&o);
  o.max_in_flight = 5;
  t0 = uv_hrtime();
  r = fetch(u, n, &o, 400);
  ms = (uv_hrtime() - t0) / 1000000;
  ASSERT_LE(380, ms); /* not before the deadline */
  ASSERT_LE(ms, 900); /* nor long after it */
  ASSERT(r[0].ok);
  for (i = 1; i < n; i++) {
    ASSERT_EQ(r[i].index, i);
    ASSERT_EQ(r[i].error, UVF_EDEADLINE);
    ASSERT_STR_EQ(r[i].url, u[i]);
  }
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

TEST_IMPL(invalid_urls_get_invalid_url_records) {
  const char *bad[] = {
      "ftp://127.0.0.1/x",    "not a url", "http://", "file:///etc/passwd",
      "http://exa mple.com/", ""};
  size_t i;
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    expect_kind(bad[i], NULL, UVF_EINVALID_URL);
}

TEST_IMPL(unresolvable_host_is_dns) {
  /* A 70-character label fails inside the resolver, before any query is
   * sent: the test stays on this machine. */
  char host[80];
  memset(host, 'a', 70);
  host[70] = '\0';
  char *u;
  if (asprintf(&u, "http://%s.invalid/", host) < 0)
    FAIL("oom");
  expect_kind(u, NULL, UVF_EDNS);
  free(u);
}

TEST_IMPL(refused_connection_is_connect) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  char u[64];
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  ASSERT_EQ(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  close(fd); /* bound, never listened, now closed: nobody is there */
  snprintf(u, sizeof(u), "http://127.0.0.1:%d/", ntohs(a.sin_port));
  expect_kind(u, NULL, UVF_ECONNECT);
}

TEST_IMPL(tls_to_a_plain_http_server_is_tls) {
  char u[64];
  ts_start(&srv, NULL);
  snprintf(u, sizeof(u), "https://127.0.0.1:%d/bytes/10", srv.port);
  expect_kind(u, NULL, UVF_ETLS);
  ts_stop(&srv);
}

TEST_IMPL(stalled_reply_past_timeout_is_timeout) {
  uvf_options o;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.timeout_ms = 300;
  expect_path_kind("/stall", &o, UVF_ETIMEOUT);
  ts_stop(&srv);
}

TEST_IMPL(connection_dropped_mid_body_is_protocol) {
  ts_start(&srv, NULL);
  expect_path_kind("/drop", NULL, UVF_EPROTOCOL);
  ts_stop(&srv);
}

TEST_IMPL(too_many_redirects_is_protocol) {
  uvf_options o;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.max_redirects = 3;
  expect_path_kind("/redirect/10", &o, UVF_EPROTOCOL);
  ts_stop(&srv);
}

TEST_IMPL(redirect_to_file_scheme_is_refused) {
  ts_start(&srv, NULL);
  expect_path_kind("/redirect-to?url=file%3A%2F%2F%2Fetc%2Fpasswd", NULL,
                   UVF_EPROTOCOL);
  expect_path_kind("/redirect-to?url=ftp%3A%2F%2F127.0.0.1%2Fx", NULL,
                   UVF_EPROTOCOL);
  ts_stop(&srv);
}

/* A Location that does not parse is the server's fault, not the input's:
 * protocol, and the message says so. */
TEST_IMPL(bad_location_from_the_server_is_protocol) {
  static const char *paths[] = {
      "/redirect-to?url=http%3A%2F%2F%5B%3A%3A1",   /* http://[::1 */
      "/redirect-to?url=http%3A%2F%2F",             /* http:// */
      "/redirect-to?url=http%3A%2F%2Fa%3A99999%2F", /* port 99999 */
      "/redirect-to?url=ftp%3A%2F%2F127.0.0.1%2Fx"};
  size_t i;
  ts_start(&srv, NULL);
  for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    uvf_result *r = fetch_path(paths[i], NULL);
    if (r->error != UVF_EPROTOCOL)
      FAIL("%s: %s (%s)", paths[i], uvf_err_name(r->error), r->message);
    if (!strstr(r->message, "redirect from the server"))
      FAIL("%s: \"%s\" does not blame the server", paths[i], r->message);
    ASSERT_EQ(r->status, 302);
    done1(r);
  }
  ts_stop(&srv);
}

TEST_IMPL(body_over_max_body_is_too_large) {
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.max_body = 1000;
  expect_path_kind("/bytes/100000", &o, UVF_ETOO_LARGE);
  /* Announced too long, or grown too long: the same words. */
  r = fetch_path("/bytes/100000", &o);
  ASSERT_STR_EQ(r->message, uvf_strerror(UVF_ETOO_LARGE));
  done1(r);
  r = fetch_path("/gzip-bomb", &o);
  ASSERT_STR_EQ(r->message, uvf_strerror(UVF_ETOO_LARGE));
  done1(r);
  ts_stop(&srv);
}

TEST_IMPL(status_404_is_http_with_status) {
  uvf_result *r;
  ts_start(&srv, NULL);
  r = fetch_path("/status/404", NULL);
  ASSERT_EQ(r->error, UVF_EHTTP);
  ASSERT_EQ(r->status, 404);
  ASSERT_EQ(r->ok, 0);
  done1(r);
  ts_stop(&srv);
}

TEST_IMPL(failing_urls_do_not_stop_the_batch) {
  size_t n = 60, i;
  char **u = calloc(n, sizeof(*u));
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  for (i = 0; i < n; i++) {
    switch (i % 4) {
    case 0: u[i] = urlf("/bytes/%zu?i=%zu", i, i); break;
    case 1: u[i] = urlf("/status/500?i=%zu", i); break;
    case 2: u[i] = urlf("/drop?i=%zu", i); break;
    default: u[i] = strdup("gopher://nope"); break;
    }
  }
  uvf_options_init(&o);
  o.max_in_flight = 8;
  r = fetch(u, n, &o, 0);
  for (i = 0; i < n; i++) {
    static const uvf_err want[] = {UVF_OK, UVF_EHTTP, UVF_EPROTOCOL,
                                   UVF_EINVALID_URL};
    ASSERT_EQ(r[i].error, want[i % 4]);
    if (i % 4 == 0)
      ASSERT_EQ(r[i].bytes, i);
  }
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

TEST_IMPL(kept_body_is_the_servers_bytes) {
  uvf_options o;
  uvf_result *r;
  size_t i;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.keep_body = 1;
  r = fetch_path("/bytes/70000", &o);
  ASSERT(r->ok);
  ASSERT_EQ(r->bytes, 70000);
  ASSERT(r->body);
  for (i = 0; i < 70000; i++)
    if (r->body[i] != 'a' + (char)(i % 26))
      FAIL("byte %zu differs", i);
  done1(r);
  ts_stop(&srv);
}

TEST_IMPL(extra_headers_and_user_agent_are_sent) {
  const char *hdrs[] = {"X-Probe: 42", "Accept: text/plain"};
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.keep_body = 1;
  o.headers = hdrs;
  o.n_headers = 2;
  o.user_agent = "probe/1.0";
  o.accept_encoding = "";
  r = fetch_path("/headers", &o);
  ASSERT(r->ok);
  ASSERT(strstr(r->body, "X-Probe: 42\r\n"));
  ASSERT(strstr(r->body, "Accept: text/plain\r\n"));
  ASSERT(strstr(r->body, "User-Agent: probe/1.0\r\n"));
  ASSERT(strstr(r->body, "Accept-Encoding: "));
  done1(r);
  ts_stop(&srv);
}

TEST_IMPL(default_user_agent_names_uvfetch) {
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.keep_body = 1;
  r = fetch_path("/headers", &o);
  ASSERT(r->ok);
  ASSERT(strstr(r->body, "User-Agent: uvfetch/" UVF_VERSION_STRING "\r\n"));
  ASSERT(!strstr(r->body, "Accept-Encoding"));
  done1(r);
  ts_stop(&srv);
}

TEST_IMPL(redirects_are_followed_and_counted) {
  uvf_result *r;
  ts_start(&srv, NULL);
  r = fetch_path("/redirect/3", NULL);
  ASSERT(r->ok);
  ASSERT_EQ(r->redirects, 3);
  ASSERT(strstr(r->final_url, "/redirect/0"));
  done1(r);
  ts_stop(&srv);
}

/* Pauses after the first result and resumes 300 ms later: no transfer may
 * start in between. */
typedef struct pause_run {
  async_run a;
  uint64_t paused_at, resumed_at, first_start_after_resume;
  int starts_while_paused, results_while_paused;
} pause_run;

static void pr_start(void *ud, uint64_t index, uint64_t tag) {
  pause_run *p = ud;
  if (p->paused_at && !p->resumed_at)
    p->starts_while_paused++;
  if (p->resumed_at && !p->first_start_after_resume)
    p->first_start_after_resume = uv_hrtime();
}

static void pr_resume(uv_timer_t *t) {
  pause_run *p = t->data;
  p->resumed_at = uv_hrtime();
  uvf_resume(p->a.f);
  uv_close((uv_handle_t *)t, NULL);
}

static void pr_result(void *ud, const uvf_result *r) {
  pause_run *p = ud;
  ar_result(&p->a, r);
  if (p->paused_at && !p->resumed_at)
    p->results_while_paused++;
  if (!p->paused_at) {
    p->paused_at = uv_hrtime();
    uvf_pause(p->a.f);
    uv_timer_start(&p->a.timer, pr_resume, 300, 0);
  }
}

TEST_IMPL(pause_stops_admission_until_resume) {
  uvf_callbacks cb = cbs(ar_next, pr_start, NULL, pr_result, ar_done);
  uvf_options o;
  pause_run p;
  ts_start(&srv, NULL);
  memset(&p, 0, sizeof(p));
  ar_init(&p.a, 40, "/delay/5?i=%zu");
  uv_timer_init(&p.a.loop, &p.a.timer);
  p.a.timer.data = &p;
  uvf_options_init(&o);
  o.max_in_flight = 2;
  ASSERT_EQ(uvf_fetcher_new(&p.a.f, &p.a.loop, &o, &cb, &p), 0);
  uv_run(&p.a.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(p.starts_while_paused, 0);
  /* The transfer in flight at the pause went on to its result, and
   * admission came back as soon as resumed. */
  ASSERT_EQ(p.results_while_paused, 1);
  ASSERT(p.first_start_after_resume > 0);
  ASSERT_LE(p.first_start_after_resume - p.resumed_at, 100000000);
  ASSERT_EQ(p.a.kinds[0], p.a.n);
  ar_finish(&p.a, p.a.n);
  ts_stop(&srv);
}

/* A timeout that hits transfers while they connect: libcurl 7.88 closes
 * such connect attempts without the closesocket callback, and a watcher
 * left on one made libuv abort. Many at once, over several hosts. */
TEST_IMPL(timeouts_during_connect_at_scale_end_as_timeout) {
  static const long timeouts[] = {5, 10, 20, 40, 80};
  size_t n = 3000, i, t, kinds[16] = {0};
  char **u = calloc(n, sizeof(*u));
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4");
  for (i = 0; i < n; i++)
    if (asprintf(&u[i], "http://127.0.0.%zu:%d/bytes/%zu?i=%zu", 1 + i % 4,
                 srv.port, 100 + i % 5000, i) < 0)
      FAIL("oom");
  uvf_options_init(&o);
  o.max_in_flight = 1000;
  for (t = 0; t < sizeof(timeouts) / sizeof(timeouts[0]); t++) {
    o.timeout_ms = timeouts[t]; /* where the timeout lands varies */
    r = fetch(u, n, &o, 0);
    for (i = 0; i < n; i++) {
      ASSERT_EQ(r[i].index, i);
      if (r[i].error != UVF_OK && r[i].error != UVF_ETIMEOUT)
        FAIL("index %zu: %s: %s", i, uvf_err_name(r[i].error), r[i].message);
      kinds[-r[i].error]++;
    }
    results_done(r);
  }
  ASSERT(kinds[-UVF_ETIMEOUT] > 0); /* the case under test did happen */
  free_urls(u, n);
  ts_stop(&srv);
}

/* uvf_drain(): what is in flight finishes; nothing else starts, not even
 * URLs parked behind the per-host cap; uvf_abort() then ends those. */
typedef struct drain_run {
  async_run a;
  unsigned starts, starts_after_drain, drained;
  uint64_t in_flight_at_check;
} drain_run;

static void dr_start(void *ud, uint64_t index, uint64_t tag) {
  drain_run *d = ud;
  (void)index;
  (void)tag;
  d->starts++;
  d->starts_after_drain += d->drained;
}

static void dr_check(uv_timer_t *t) {
  drain_run *d = t->data;
  uvf_stats st;
  uvf_get_stats(d->a.f, &st);
  d->in_flight_at_check = st.in_flight;
  ASSERT_EQ(uvf_abort(d->a.f, UVF_EABORTED), 0);
  uv_close((uv_handle_t *)t, NULL);
}

static void dr_drain(uv_timer_t *t) {
  drain_run *d = t->data;
  ASSERT_EQ(uvf_drain(d->a.f), 0);
  d->drained = 1;
  uv_timer_start(t, dr_check, 700, 0);
}

TEST_IMPL(drain_lets_transfers_finish_and_starts_no_other) {
  uvf_callbacks cb = cbs(ar_next, dr_start, NULL, ar_result, ar_done);
  uvf_options o;
  drain_run d;
  ts_start(&srv, NULL);
  memset(&d, 0, sizeof(d));
  ar_init(&d.a, 8, "/delay/300?i=%zu");
  uv_timer_init(&d.a.loop, &d.a.timer);
  d.a.timer.data = &d;
  uvf_options_init(&o);
  o.max_in_flight = 8;
  o.max_per_host = 2; /* two in flight, the rest parked */
  ASSERT_EQ(uvf_fetcher_new(&d.a.f, &d.a.loop, &o, &cb, &d), 0);
  uv_timer_start(&d.a.timer, dr_drain, 100, 0);
  uv_run(&d.a.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uvf_drain(NULL), UVF_EINVAL);
  ASSERT_EQ(d.starts, 2);
  ASSERT_EQ(d.starts_after_drain, 0);
  ASSERT_EQ(d.in_flight_at_check, 0);
  ASSERT_EQ(d.a.kinds[0], 2); /* the two finished */
  ASSERT_EQ(d.a.kinds[-UVF_EABORTED], d.a.n - 2);
  ar_finish(&d.a, d.a.n);
  ts_stop(&srv);
}

TEST_IMPL(every_kind_has_a_name_and_text) {
  int k;
  for (k = UVF_OK; k >= UVF_EDEADLINE; k--) {
    ASSERT(strcmp(uvf_err_name(k), "unknown") != 0);
    ASSERT(strcmp(uvf_strerror(k), "unknown error") != 0);
  }
  ASSERT_STR_EQ(uvf_err_name(UVF_ETOO_LARGE), "too_large");
  ASSERT_STR_EQ(uvf_err_name(UVF_OK), "none");
}

TEST_IMPL(bad_arguments_are_refused_without_callbacks) {
  uvf_callbacks cb = cbs(NULL, NULL, NULL, NULL, NULL);
  uvf_options o;
  uvf_fetcher *f = NULL;
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvf_options_init(&o);
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), UVF_EINVAL);
  o.max_in_flight = 0;
  cb.on_result = ar_result;
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), UVF_EINVAL);
  ASSERT(f == NULL);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static uvf_options retry_options(unsigned retries) {
  uvf_options o;
  uvf_options_init(&o);
  o.max_retries = retries;
  o.retry_base_ms = 20;
  return o;
}

TEST_IMPL(retry_recovers_after_a_burst_of_503s) {
  uvf_options o = retry_options(3);
  uvf_result *r;
  ts_start(&srv, NULL);
  r = fetch_path("/flaky/2?i=1", &o);
  if (!r->ok)
    FAIL("%s: %s", uvf_err_name(r->error), r->message);
  ASSERT_EQ(r->attempts, 3);
  ASSERT_STR_EQ(history_text(r), "http 503; http 503");
  done1(r);
  ts_stop(&srv);
}

TEST_IMPL(retries_stop_at_the_maximum_and_keep_the_history) {
  uvf_options o = retry_options(2);
  uvf_result *r;
  ts_start(&srv, NULL);
  r = fetch_path("/status/503", &o);
  ASSERT_EQ(r->error, UVF_EHTTP);
  ASSERT_EQ(r->status, 503);
  ASSERT_EQ(r->attempts, 3);
  ASSERT_STR_EQ(history_text(r), "http 503; http 503");
  done1(r);
  ts_stop(&srv);
}

TEST_IMPL(retry_after_is_honoured) {
  uvf_options o = retry_options(1);
  uvf_result *r;
  uint64_t t0;
  char *u;
  ts_start(&srv, NULL);
  u = urlf("/flaky/1?retry_after&i=2");
  t0 = uv_hrtime();
  r = fetch1(u, &o);
  ASSERT(r->ok);
  ASSERT_EQ(r->attempts, 2);
  ASSERT_LE(900, (uv_hrtime() - t0) / 1000000); /* Retry-After: 1 */
  done1(r);
  free(u);
  ts_stop(&srv);
}

TEST_IMPL(refused_connections_are_retried) {
  uvf_options o = retry_options(2);
  uvf_result *r;
  r = fetch1("http://127.0.0.1:1/", &o);
  ASSERT_EQ(r->error, UVF_ECONNECT);
  ASSERT_EQ(r->attempts, 3);
  ASSERT_STR_EQ(history_text(r), "connect; connect");
  done1(r);
}

TEST_IMPL(client_errors_are_not_retried) {
  uvf_options o = retry_options(3);
  uvf_result *r;
  ts_start(&srv, NULL);
  r = fetch_path("/status/404", &o);
  ASSERT_EQ(r->error, UVF_EHTTP);
  ASSERT_EQ(r->attempts, 1);
  ASSERT(r->history == NULL);
  ASSERT_EQ(r->n_history, 0);
  done1(r);
  ts_stop(&srv);
}

/* 100 URLs that always fail may retry 10 + 100 / 10 times in all. */
TEST_IMPL(retry_budget_stops_a_retry_storm) {
  size_t n = 100, i, retries = 0;
  char **u = calloc(n, sizeof(*u));
  uvf_options o = retry_options(5);
  uvf_result *r;
  ts_start(&srv, NULL);
  o.retry_base_ms = 1;
  o.max_in_flight = 10;
  for (i = 0; i < n; i++)
    u[i] = urlf("/status/503?i=%zu", i);
  r = fetch(u, n, &o, 0);
  for (i = 0; i < n; i++) {
    ASSERT_EQ(r[i].index, i);
    ASSERT_EQ(r[i].status, 503);
    retries += r[i].attempts - 1;
  }
  ASSERT_EQ(retries, 20); /* the budget, all of it */
  ASSERT_EQ(stats_field("requests"), n + retries);
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

TEST_IMPL(abort_ends_urls_waiting_for_a_retry) {
  size_t n = 4, i;
  char **u = calloc(n, sizeof(*u));
  uvf_options o = retry_options(3);
  uvf_result *r;
  ts_start(&srv, NULL);
  /* Every wait a random time up to 10^8 ms: still waiting at the
   * deadline, each after its one attempt. */
  o.retry_base_ms = o.retry_max_ms = 100000000;
  for (i = 0; i < n; i++)
    u[i] = urlf("/status/503?i=%zu", i);
  r = fetch(u, n, &o, 500);
  for (i = 0; i < n; i++) {
    ASSERT_EQ(r[i].error, UVF_EDEADLINE);
    ASSERT_EQ(r[i].attempts, 1);
    ASSERT_STR_EQ(history_text(&r[i]), "http 503");
  }
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

TEST_IMPL(trickling_below_low_speed_is_timeout) {
  uvf_options o;
  uvf_result *r;
  uint64_t t0;
  char *u;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.low_speed_limit = 100;
  o.low_speed_time = 1;
  u = urlf("/trickle?bytes=60");
  t0 = uv_hrtime();
  r = fetch1(u, &o);
  ASSERT_EQ(r->error, UVF_ETIMEOUT);
  ASSERT_LE((uv_hrtime() - t0) / 1000000, 5000); /* not 60 s */
  done1(r);
  free(u);
  ts_stop(&srv);
}

TEST_IMPL(huge_body_stops_at_max_body) {
  uvf_options o;
  uvf_result *r;
  char *u;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.max_body = 1 << 20;
  u = urlf("/bytes/10000000000"); /* 10 GB announced */
  r = fetch1(u, &o);
  ASSERT_EQ(r->error, UVF_ETOO_LARGE);
  ASSERT_LE(r->bytes, 1 << 20);
  done1(r);
  free(u);
  ts_stop(&srv);
}

/* 10 URLs to each of two hosts at 20 a second per host: about 0.45 s,
 * whatever N, and not 0.9 s (the rate is per host). */
TEST_IMPL(rate_spaces_requests_per_host) {
  size_t n = 20, i;
  char **u = calloc(n, sizeof(*u));
  uvf_options o;
  uvf_result *r;
  uint64_t t0, ms;
  ts_start(&srv, "127.0.0.1,127.0.0.2");
  for (i = 0; i < n; i++)
    if (asprintf(&u[i], "http://127.0.0.%zu:%d/bytes/1?i=%zu", 1 + i % 2,
                 srv.port, i) < 0)
      FAIL("oom");
  uvf_options_init(&o);
  o.max_in_flight = 50;
  o.rate_per_host = 20;
  t0 = uv_hrtime();
  r = fetch(u, n, &o, 0);
  ms = (uv_hrtime() - t0) / 1000000;
  for (i = 0; i < n; i++)
    ASSERT(r[i].ok);
  ASSERT_LE(430, ms);
  ASSERT_LE(ms, 850);
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

/* A rate so low or a limit so high that they overflow (1e6 / 5e-14 does
 * not fit in 64 bits, libcurl's curl_off_t is signed) is refused: they
 * once meant no limit, or no transfer at all. */
TEST_IMPL(rates_and_body_limits_out_of_range_are_refused) {
  uvf_callbacks cb = cbs(NULL, NULL, NULL, ar_result, NULL);
  uvf_options o;
  uvf_fetcher *f = NULL;
  uv_loop_t loop;
  uv_loop_init(&loop);
  uvf_options_init(&o);
  o.rate_per_host = 5e-14;
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), UVF_EINVAL);
  uvf_options_init(&o);
  o.max_body = (uint64_t)INT64_MAX + 1;
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), UVF_EINVAL);
  ASSERT(f == NULL);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* N=1: the first URL gets 503 with Retry-After: 1; the second, to the same
 * host, must wait for the pause too, though it was never refused. */
TEST_IMPL(retry_after_pauses_the_whole_host) {
  char *u[2];
  uvf_options o = retry_options(1);
  uvf_result *r;
  ts_start(&srv, NULL);
  u[0] = urlf("/flaky/1?retry_after&i=p0");
  u[1] = urlf("/bytes/3?i=p1");
  o.max_in_flight = 1;
  r = fetch(u, 2, &o, 0);
  ASSERT(r[0].ok);
  ASSERT_EQ(r[0].attempts, 2);
  ASSERT(r[1].ok);
  if (r[1].time_queued < 0.8)
    FAIL("second URL started %.3f s after its index, during the pause",
         r[1].time_queued);
  results_done(r);
  free(u[0]);
  free(u[1]);
  ts_stop(&srv);
}

TEST_IMPL(misbehaving_servers_end_as_protocol_and_spare_the_batch) {
  static const char *paths[] = {
      "/bad/status-line", "/bytes/11", "/bad/short-body",  "/bytes/12",
      "/bad/chunked",     "/bytes/13", "/bad/many-headers"};
  static const uvf_err want[] = {UVF_EPROTOCOL, UVF_OK, UVF_EPROTOCOL, UVF_OK,
                                 UVF_EPROTOCOL, UVF_OK, UVF_OK};
  size_t n = sizeof(paths) / sizeof(paths[0]), i;
  char **u = calloc(n, sizeof(*u));
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  for (i = 0; i < n; i++)
    u[i] = urlf("%s", paths[i]);
  uvf_options_init(&o);
  o.max_in_flight = 3;
  r = fetch(u, n, &o, 0);
  for (i = 0; i < n; i++) {
    if (r[i].error != want[i])
      FAIL("%s: %s (%s)", paths[i], uvf_err_name(r[i].error), r[i].message);
    if (i % 2 && i < 6)
      ASSERT_EQ(r[i].bytes, 10 + (i + 1) / 2);
  }
  ASSERT_EQ(r[6].bytes, 3); /* 10,000 header lines, then the body */
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

TEST_IMPL(compressed_body_expanding_past_max_body_is_too_large) {
  uvf_options o;
  uvf_result *r;
  char *u;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.accept_encoding = "";
  o.max_body = 100000; /* 8 KiB on the wire, 8 MiB decoded */
  u = urlf("/gzip-bomb");
  r = fetch1(u, &o);
  ASSERT_EQ(r->error, UVF_ETOO_LARGE);
  ASSERT_EQ(r->bytes, 100000); /* what fits is kept */
  done1(r);
  o.max_body = 0; /* without a limit it decodes in full */
  r = fetch1(u, &o);
  ASSERT(r->ok);
  ASSERT_EQ(r->bytes, 8 << 20);
  done1(r);
  free(u);
  ts_stop(&srv);
}

/* ---- boundaries, retries, host keys, deadlines ---- */

/* A body of exactly max_body bytes is whole and fine; one byte more is
 * too large, whether the length is announced or only found decoding. */
TEST_IMPL(body_of_exactly_max_body_bytes_is_accepted) {
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.max_body = 1000;
  r = fetch_path("/bytes/1000", &o);
  if (!r->ok)
    FAIL("1000 bytes at max_body 1000: %s", r->message);
  ASSERT_EQ(r->bytes, 1000);
  done1(r);
  r = fetch_path("/bytes/1001", &o);
  ASSERT_EQ(r->error, UVF_ETOO_LARGE);
  done1(r);
  /* 8 KiB on the wire, 8 MiB decoded: only the decoded count decides. */
  o.accept_encoding = "";
  o.max_body = 8 << 20;
  r = fetch_path("/gzip-bomb", &o);
  if (!r->ok)
    FAIL("8 MiB decoded at max_body 8 MiB: %s", r->message);
  ASSERT_EQ(r->bytes, 8 << 20);
  done1(r);
  o.max_body = (8 << 20) - 1;
  r = fetch_path("/gzip-bomb", &o);
  ASSERT_EQ(r->error, UVF_ETOO_LARGE);
  done1(r);
  ts_stop(&srv);
}

/* One URL with one retry allowed; returns its attempts and checks the
 * history names the first failure. */
static unsigned attempts_for(const char *path, const uvf_options *o,
                             const char *history) {
  uvf_result *r = fetch_path(path, o);
  unsigned n = r->attempts;
  if (history && strcmp(history_text(r), history) != 0)
    FAIL("%s: history \"%s\", expected \"%s\"", path, history_text(r), history);
  if (!history && r->n_history)
    FAIL("%s: not retried, yet history \"%s\"", path, history_text(r));
  done1(r);
  return n;
}

TEST_IMPL(each_retryable_status_is_retried_and_no_other) {
  static const int again[] = {408, 429, 500, 502, 503, 504};
  static const int final[] = {400, 403, 404, 409, 410, 499, 501, 505, 507};
  uvf_options o = retry_options(1);
  char path[64], hist[32];
  size_t i;
  ts_start(&srv, NULL);
  o.retry_base_ms = 1;
  for (i = 0; i < sizeof(again) / sizeof(again[0]); i++) {
    snprintf(path, sizeof(path), "/status/%d", again[i]);
    snprintf(hist, sizeof(hist), "http %d", again[i]);
    if (attempts_for(path, &o, hist) != 2)
      FAIL("%d was not retried", again[i]);
  }
  for (i = 0; i < sizeof(final) / sizeof(final[0]); i++) {
    snprintf(path, sizeof(path), "/status/%d", final[i]);
    if (attempts_for(path, &o, NULL) != 1)
      FAIL("%d was retried", final[i]);
  }
  ts_stop(&srv);
}

TEST_IMPL(timeouts_and_resets_are_retried_other_failures_not) {
  uvf_options o = retry_options(1);
  char host[80], *u;
  ts_start(&srv, NULL);
  o.retry_base_ms = 1;
  o.timeout_ms = 200;
  ASSERT_EQ(attempts_for("/stall?i=1", &o, "timeout"), 2);
  ASSERT_EQ(attempts_for("/drop?i=2", &o, "protocol"), 2); /* a reset */
  ASSERT_EQ(attempts_for("/bad/short-body", &o, NULL), 1);
  ASSERT_EQ(attempts_for("/bad/status-line", &o, NULL), 1);
  o.max_body = 10;
  ASSERT_EQ(attempts_for("/bytes/11", &o, NULL), 1);
  memset(host, 'a', 70); /* fails in the resolver, no query sent */
  host[70] = '\0';
  if (asprintf(&u, "http://%s.invalid/", host) < 0)
    FAIL("oom");
  {
    uvf_result *r = fetch1(u, &o);
    ASSERT_EQ(r->error, UVF_EDNS);
    ASSERT_EQ(r->attempts, 1);
    done1(r);
  }
  free(u);
  ts_stop(&srv);
}

/* Waits are capped by retry_max_ms, the backoff's and Retry-After's. */
TEST_IMPL(retry_waits_never_exceed_retry_max_ms) {
  uvf_options o = retry_options(3);
  uvf_result *r;
  uint64_t t0, ms;
  ts_start(&srv, NULL);
  o.retry_base_ms = 600000; /* uncapped, a wait of minutes */
  o.retry_max_ms = 100;
  t0 = uv_hrtime();
  r = fetch_path("/status/503?i=backoff", &o);
  ms = (uv_hrtime() - t0) / 1000000;
  ASSERT_EQ(r->attempts, 4);
  ASSERT_LE(ms, 1500); /* three waits of at most 100 ms */
  done1(r);
  o.max_retries = 1;
  t0 = uv_hrtime();
  r = fetch_path("/flaky/1?retry_after&i=cap", &o); /* Retry-After: 1 */
  ms = (uv_hrtime() - t0) / 1000000;
  ASSERT(r->ok);
  ASSERT_EQ(r->attempts, 2);
  ASSERT_LE(ms, 700);
  done1(r);
  ts_stop(&srv);
}

/* At most N URLs wait for a retry: past that a failure is final, so a
 * failing batch cannot pile up open files or memory. */
TEST_IMPL(at_most_n_urls_wait_for_a_retry) {
  size_t n = 10, i, waited = 0, final = 0;
  char **u = calloc(n, sizeof(*u));
  uvf_options o = retry_options(1);
  uvf_result *r;
  ts_start(&srv, NULL);
  o.max_in_flight = 2;
  o.retry_base_ms = o.retry_max_ms = 100000000; /* still waiting at the end */
  for (i = 0; i < n; i++)
    u[i] = urlf("/status/503?i=%zu", i);
  r = fetch(u, n, &o, 1000);
  for (i = 0; i < n; i++) {
    ASSERT_EQ(r[i].attempts, 1);
    if (r[i].error == UVF_EDEADLINE)
      waited++;
    else if (r[i].error == UVF_EHTTP && r[i].status == 503)
      final++;
    else
      FAIL("index %zu: %s", i, uvf_err_name(r[i].error));
  }
  ASSERT_EQ(waited, 2);
  ASSERT_EQ(final, n - 2);
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

/* The per-host cap counts per scheme, host and port: a busy server does
 * not hold back another port or scheme on the same address. */
TEST_IMPL(per_host_cap_is_per_scheme_host_and_port) {
  ts_server other;
  char *u[2];
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  ts_start(&other, NULL);
  uvf_options_init(&o);
  o.max_per_host = 1;
  u[0] = urlf("/delay/600?i=0");
  if (asprintf(&u[1], "http://127.0.0.1:%d/bytes/5?i=1", other.port) < 0)
    FAIL("oom");
  r = fetch(u, 2, &o, 0);
  ASSERT(r[0].ok && r[1].ok);
  if (r[1].time_queued > 0.3)
    FAIL("port %d waited %.3f s behind port %d", other.port, r[1].time_queued,
         srv.port);
  results_done(r);
  free(u[1]);
  if (asprintf(&u[1], "https://127.0.0.1:%d/bytes/5?i=1", srv.port) < 0)
    FAIL("oom");
  r = fetch(u, 2, &o, 0);
  ASSERT(r[0].ok);
  ASSERT_EQ(r[1].error, UVF_ETLS);
  if (r[1].time_queued > 0.3)
    FAIL("https waited %.3f s behind http", r[1].time_queued);
  results_done(r);
  free(u[0]);
  free(u[1]);
  ts_stop(&other);
  ts_stop(&srv);
}

/* Results say ok exactly for 2xx; any other final status is http. */
TEST_IMPL(only_2xx_statuses_are_ok) {
  static const int ok[] = {200, 201, 204, 299};
  static const int bad[] = {300, 304, 400, 404, 500, 599};
  size_t i;
  char path[32];
  uvf_result *r;
  ts_start(&srv, NULL);
  for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
    snprintf(path, sizeof(path), "/status/%d", ok[i]);
    r = fetch_path(path, NULL);
    if (!r->ok || r->error != UVF_OK || r->status != ok[i])
      FAIL("%d: %s", ok[i], r->message);
    ASSERT_STR_EQ(r->message, "");
    done1(r);
  }
  for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char want[32];
    snprintf(path, sizeof(path), "/status/%d", bad[i]);
    snprintf(want, sizeof(want), "HTTP status %d", bad[i]);
    r = fetch_path(path, NULL);
    ASSERT_EQ(r->ok, 0);
    ASSERT_EQ(r->error, UVF_EHTTP);
    ASSERT_EQ(r->status, bad[i]);
    ASSERT_STR_EQ(r->message, want);
    done1(r);
  }
  ts_stop(&srv);
}

TEST_IMPL(max_redirects_minus_one_does_not_follow) {
  uvf_options o;
  uvf_result *r;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.max_redirects = -1;
  r = fetch_path("/redirect/1", &o);
  ASSERT_EQ(r->error, UVF_EHTTP);
  ASSERT_EQ(r->status, 302);
  ASSERT_EQ(r->redirects, 0);
  done1(r);
  o.max_redirects = 3; /* exactly as many as allowed */
  r = fetch_path("/redirect/3", &o);
  ASSERT(r->ok);
  ASSERT_EQ(r->redirects, 3);
  done1(r);
  o.max_redirects = 2;
  r = fetch_path("/redirect/3", &o);
  ASSERT_EQ(r->error, UVF_EPROTOCOL);
  done1(r);
  ts_stop(&srv);
}

/* uvf_get_stats() counts what on_result saw. */
typedef struct stats_run {
  async_run a;
  uint64_t ok, bytes;
  uvf_stats at_done;
} stats_run;

static void sr_result(void *ud, const uvf_result *r) {
  stats_run *s = ud;
  ar_result(&s->a, r);
  s->ok += r->ok;
  s->bytes += r->bytes;
}

static void sr_done(void *ud) {
  stats_run *s = ud;
  uvf_get_stats(s->a.f, &s->at_done);
  ar_done(&s->a);
}

TEST_IMPL(stats_count_results_ok_and_bytes) {
  uvf_callbacks cb = cbs(ar_next, NULL, NULL, sr_result, sr_done);
  uvf_options o;
  stats_run s;
  size_t i;
  ts_start(&srv, NULL);
  memset(&s, 0, sizeof(s));
  ar_init(&s.a, 30, "/status/200?bytes=%zu");
  for (i = 0; i < s.a.n; i += 3) { /* every third fails */
    free(s.a.urls[i]);
    s.a.urls[i] = urlf("/status/404?bytes=%zu", i);
  }
  uvf_options_init(&o);
  o.max_in_flight = 4;
  ASSERT_EQ(uvf_fetcher_new(&s.a.f, &s.a.loop, &o, &cb, &s), 0);
  uv_run(&s.a.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(s.at_done.submitted, 30);
  ASSERT_EQ(s.at_done.done, 30);
  ASSERT_EQ(s.at_done.ok, s.ok);
  ASSERT_EQ(s.ok, 20);
  ASSERT_EQ(s.at_done.bytes, s.bytes);
  ASSERT_EQ(s.at_done.in_flight, 0);
  ASSERT_EQ(s.at_done.queued, 0);
  ASSERT_EQ(s.at_done.waiting, 0);
  ar_finish(&s.a, s.a.n);
  ts_stop(&srv);
}

TEST_IMPL(out_of_range_arguments_are_refused) {
  uvf_callbacks cb = cbs(NULL, NULL, NULL, ar_result, NULL);
  uvf_options o;
  uvf_fetcher *f = NULL;
  uvf_results *res = NULL;
  const char *urls[1] = {"http://127.0.0.1:1/"};
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  uvf_options_init(&o);
  o.max_in_flight = UVF_MAX_IN_FLIGHT + 1;
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), UVF_EINVAL);
  uvf_options_init(&o);
  o.rate_per_host = -1;
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), UVF_EINVAL);
  uvf_options_init(&o);
  o.timeout_ms = -1;
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), UVF_EINVAL);
  uvf_options_init(&o);
  o.n_headers = 1; /* and no array */
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), UVF_EINVAL);
  ASSERT(f == NULL);
  uvf_options_init(&o);
  ASSERT_EQ(uvf_fetch_all(urls, 1, &o, -1, &res), UVF_EINVAL);
  ASSERT_EQ(uvf_fetch_all(NULL, 1, &o, 0, &res), UVF_EINVAL);
  ASSERT_EQ(uvf_fetch_all(urls, 1, &o, 0, NULL), UVF_EINVAL);
  ASSERT(res == NULL);
  ASSERT_EQ(uvf_fetch_all(NULL, 0, &o, 0, &res), UVF_OK); /* nothing to do */
  ASSERT_EQ(uvf_results_count(res), 0);
  uvf_results_free(&res);
  /* Results and deadlines are the only kinds an abort gives. */
  o.max_in_flight = 1;
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), 0);
  ASSERT_EQ(uvf_abort(f, UVF_ETIMEOUT), UVF_EINVAL);
  ASSERT_EQ(uvf_abort(f, UVF_EABORTED), 0);
  uvf_fetcher_close(f, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* Parked URLs count against max_waiting (4 N unless set): past it the
 * source is not read, so memory follows the work, not the input. */
static size_t most_read_ahead(unsigned max_waiting) {
  uvf_callbacks cb = cbs(ar_next, NULL, NULL, ar_result, ar_done);
  uvf_options o;
  async_run a;
  size_t most;
  ar_init(&a, 60, "/delay/2?i=%zu");
  uvf_options_init(&o);
  o.max_in_flight = 4;
  o.max_per_host = 1; /* one in flight, the rest parked */
  o.max_waiting = max_waiting;
  ASSERT_EQ(uvf_fetcher_new(&a.f, &a.loop, &o, &cb, &a), 0);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(a.kinds[0], a.n);
  most = a.max_outstanding;
  ar_finish(&a, a.n);
  return most;
}

TEST_IMPL(parked_urls_stop_the_source_at_max_waiting) {
  size_t most;
  ts_start(&srv, NULL);
  most = most_read_ahead(0); /* 4 N = 16 parked, 1 in flight */
  if (most < 15 || most > 18)
    FAIL("%zu URLs read ahead at N = 4 by default", most);
  most = most_read_ahead(3);
  if (most < 3 || most > 5)
    FAIL("%zu URLs read ahead at max_waiting 3", most);
  ts_stop(&srv);
}

/* Full jitter draws each wait from [0, base * 2^k]: ten retries at a
 * base of 1 ms wait up to 1023 ms in all, about half that on average,
 * and far more than the 10 ms that waits without doubling could reach.
 * Three URLs, so that one unlucky draw cannot fail the test. */
TEST_IMPL(backoff_doubles_with_each_retry) {
  uvf_options o = retry_options(10);
  uint64_t t0, ms;
  int i;
  ts_start(&srv, NULL);
  o.retry_base_ms = 1;
  o.retry_max_ms = 100000;
  t0 = uv_hrtime();
  for (i = 0; i < 3; i++) { /* one fetcher each: a retry budget each */
    uvf_result *r = fetch_path("/status/503", &o);
    ASSERT_EQ(r->attempts, 11);
    done1(r);
  }
  ms = (uv_hrtime() - t0) / 1000000;
  ASSERT_LE(60, ms);
  ASSERT_LE(ms, 3 * 1023 + 1500);
  ts_stop(&srv);
}

/* The short names are an interface: reports and scripts use them. */
TEST_IMPL(each_error_kind_has_its_report_name) {
  static const char *names[] = {"none",     "invalid_url", "dns",
                                "connect",  "tls",         "timeout",
                                "protocol", "too_large",   "http",
                                "aborted",  "deadline",    "invalid_request"};
  int k;
  for (k = 0; k < 12; k++)
    ASSERT_STR_EQ(uvf_err_name(-k), names[k]);
  ASSERT_STR_EQ(uvf_err_name(UVF_EINVALID_REQUEST - 1), "unknown");
  ASSERT_STR_EQ(uvf_strerror(1), "unknown error");
  ASSERT_STR_EQ(uvf_version(), UVF_VERSION_STRING);
}

/* What uvfetch.h promises of uvf_options_init(). */
TEST_IMPL(options_init_gives_the_documented_defaults) {
  uvf_options o;
  memset(&o, 0xff, sizeof(o));
  uvf_options_init(&o);
  ASSERT_EQ(o.max_in_flight, 50);
  ASSERT_EQ(o.max_per_host, 0);
  ASSERT_EQ(o.max_waiting, 0);
  ASSERT_EQ(o.timeout_ms, 30000);
  ASSERT_EQ(o.connect_timeout_ms, 10000);
  ASSERT_EQ(o.max_redirects, 10);
  ASSERT(o.headers == NULL && o.n_headers == 0);
  ASSERT(o.user_agent == NULL && o.accept_encoding == NULL);
  ASSERT_EQ(o.max_body, 0);
  ASSERT_EQ(o.insecure, 0);
  ASSERT_EQ(o.keep_body, 0);
  ASSERT(o.rate_per_host == 0);
  ASSERT_EQ(o.low_speed_limit, 0);
  ASSERT_EQ(o.max_retries, 0);
  ASSERT_EQ(o.retry_base_ms, 500);
  ASSERT_EQ(o.retry_max_ms, 30000);
  ASSERT_EQ(o.buffer_size, 0);
  ASSERT_EQ(o.max_lookups, 64);
}

/* on_body returning non-zero stops that transfer alone. */
static int stop_index_0(void *ud, uint64_t index, const char *d, size_t n) {
  (void)ud;
  (void)d;
  (void)n;
  return index == 0;
}

TEST_IMPL(body_callback_can_stop_a_transfer) {
  uvf_callbacks cb = cbs(ar_next, NULL, stop_index_0, ar_result, ar_done);
  uvf_options o;
  async_run a;
  ts_start(&srv, NULL);
  ar_init(&a, 3, "/bytes/300000?i=%zu");
  uvf_options_init(&o);
  ASSERT_EQ(uvf_fetcher_new(&a.f, &a.loop, &o, &cb, &a), 0);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(a.kinds[-UVF_EABORTED], 1);
  ASSERT_EQ(a.kinds[0], 2);
  ar_finish(&a, a.n);
  ts_stop(&srv);
}

static const test_entry tests[] = {
    TEST_ENTRY(thousand_urls_at_n50_one_record_each_and_peak_bounded),
    TEST_ENTRY(cap_holds_across_shards_at_n300),
    TEST_ENTRY(per_host_cap_holds_across_loopback_hosts),
    TEST_ENTRY(host_names_differing_in_case_share_the_per_host_cap),
    TEST_ENTRY(busy_host_does_not_hold_back_other_hosts),
    TEST_ENTRY(async_api_on_caller_loop_closes_clean),
    TEST_ENTRY(source_is_read_only_as_slots_free_up),
    TEST_ENTRY(abort_ends_in_flight_and_queued_urls_as_aborted),
    TEST_ENTRY(abort_from_the_source_drops_the_url_it_returns),
    TEST_ENTRY(close_from_on_body_still_gives_every_index_a_result),
    TEST_ENTRY(kept_body_never_carries_a_previous_body),
    TEST_ENTRY(blocking_call_honours_its_deadline),
    TEST_ENTRY(invalid_urls_get_invalid_url_records),
    TEST_ENTRY(unresolvable_host_is_dns),
    TEST_ENTRY(refused_connection_is_connect),
    TEST_ENTRY(tls_to_a_plain_http_server_is_tls),
    TEST_ENTRY(stalled_reply_past_timeout_is_timeout),
    TEST_ENTRY(connection_dropped_mid_body_is_protocol),
    TEST_ENTRY(too_many_redirects_is_protocol),
    TEST_ENTRY(redirect_to_file_scheme_is_refused),
    TEST_ENTRY(bad_location_from_the_server_is_protocol),
    TEST_ENTRY(body_over_max_body_is_too_large),
    TEST_ENTRY(status_404_is_http_with_status),
    TEST_ENTRY(failing_urls_do_not_stop_the_batch),
    TEST_ENTRY(kept_body_is_the_servers_bytes),
    TEST_ENTRY(extra_headers_and_user_agent_are_sent),
    TEST_ENTRY(default_user_agent_names_uvfetch),
    TEST_ENTRY(redirects_are_followed_and_counted),
    TEST_ENTRY(pause_stops_admission_until_resume),
    TEST_ENTRY(retry_recovers_after_a_burst_of_503s),
    TEST_ENTRY(retries_stop_at_the_maximum_and_keep_the_history),
    TEST_ENTRY(retry_after_is_honoured),
    TEST_ENTRY(refused_connections_are_retried),
    TEST_ENTRY(client_errors_are_not_retried),
    TEST_ENTRY(retry_budget_stops_a_retry_storm),
    TEST_ENTRY(abort_ends_urls_waiting_for_a_retry),
    TEST_ENTRY(trickling_below_low_speed_is_timeout),
    TEST_ENTRY(huge_body_stops_at_max_body),
    TEST_ENTRY(rate_spaces_requests_per_host),
    TEST_ENTRY(rates_and_body_limits_out_of_range_are_refused),
    TEST_ENTRY(retry_after_pauses_the_whole_host),
    TEST_ENTRY(misbehaving_servers_end_as_protocol_and_spare_the_batch),
    TEST_ENTRY(compressed_body_expanding_past_max_body_is_too_large),
    TEST_ENTRY(timeouts_during_connect_at_scale_end_as_timeout),
    TEST_ENTRY(drain_lets_transfers_finish_and_starts_no_other),
    TEST_ENTRY(every_kind_has_a_name_and_text),
    TEST_ENTRY(bad_arguments_are_refused_without_callbacks),
    TEST_ENTRY(body_of_exactly_max_body_bytes_is_accepted),
    TEST_ENTRY(each_retryable_status_is_retried_and_no_other),
    TEST_ENTRY(timeouts_and_resets_are_retried_other_failures_not),
    TEST_ENTRY(retry_waits_never_exceed_retry_max_ms),
    TEST_ENTRY(at_most_n_urls_wait_for_a_retry),
    TEST_ENTRY(per_host_cap_is_per_scheme_host_and_port),
    TEST_ENTRY(only_2xx_statuses_are_ok),
    TEST_ENTRY(max_redirects_minus_one_does_not_follow),
    TEST_ENTRY(stats_count_results_ok_and_bytes),
    TEST_ENTRY(out_of_range_arguments_are_refused),
    TEST_ENTRY(parked_urls_stop_the_source_at_max_waiting),
    TEST_ENTRY(backoff_doubles_with_each_retry),
    TEST_ENTRY(each_error_kind_has_its_report_name),
    TEST_ENTRY(options_init_gives_the_documented_defaults),
    TEST_ENTRY(body_callback_can_stop_a_transfer),
};

int main(int argc, char **argv) {
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
