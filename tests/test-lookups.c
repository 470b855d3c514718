/* Host-name lookups: at most max_lookups at once. The tests need names
 * that resolve without a DNS server, so this program defines its own
 * getaddrinfo(), which libcurl's resolver threads call instead of libc's
 * (the executable exports it, see tests/meson.build): names ending in
 * .uvf.test take LOOKUP_MS and resolve to 127.0.0.1, and the largest
 * number of lookups running at once is recorded. */
#include <dlfcn.h>
#include <netdb.h>
#include <stdatomic.h>
#include <unistd.h>

#include "harness.h"
#include "uvfetch.h"

#define LOOKUP_MS 30
#define SUFFIX ".uvf.test"

typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *,
                      struct addrinfo **);

static gai_fn real_getaddrinfo;
static atomic_int looking, most_looking, lookups;

__attribute__((constructor)) static void find_real(void) {
  real_getaddrinfo = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
}

static int is_test_name(const char *node) {
  size_t n = node ? strlen(node) : 0, s = strlen(SUFFIX);
  return n > s && strcmp(node + n - s, SUFFIX) == 0;
}

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res) {
  int now, most, rc;

  if (!is_test_name(node))
    return real_getaddrinfo(node, service, hints, res);
  now = atomic_fetch_add(&looking, 1) + 1;
  most = atomic_load(&most_looking);
  while (now > most && !atomic_compare_exchange_weak(&most_looking, &most, now))
    ;
  atomic_fetch_add(&lookups, 1);
  usleep(LOOKUP_MS * 1000);
  rc = real_getaddrinfo("127.0.0.1", service, hints, res);
  atomic_fetch_sub(&looking, 1);
  return rc;
}

static ts_server srv;

/* n URLs on distinct names, each needing a lookup of its own. */
static char **named_urls(size_t n) {
  char **u = calloc(n, sizeof(*u));
  size_t i;
  for (i = 0; i < n; i++)
    if (asprintf(&u[i], "http://h%zu" SUFFIX ":%d/bytes/10", i, srv.port) < 0)
      FAIL("oom");
  return u;
}

/* Fetches n distinct names at N = n; returns the most lookups at once. */
static int most_lookups_at_once(size_t n, unsigned max_lookups) {
  char **u = named_urls(n);
  uvf_result *r;
  uvf_options o;
  size_t i;
  atomic_store(&most_looking, 0);
  atomic_store(&lookups, 0);
  uvf_options_init(&o);
  o.max_in_flight = (unsigned)n;
  o.max_lookups = max_lookups;
  r = fetch_urls(u, n, &o, 0);
  for (i = 0; i < n; i++)
    if (!r[i].ok)
      FAIL("%s: %s", u[i], r[i].message);
  ASSERT_EQ(atomic_load(&lookups), n); /* each name was looked up */
  results_done(r);
  free_urls(u, n);
  return atomic_load(&most_looking);
}

TEST_IMPL(lookups_at_once_stay_within_max_lookups) {
  int most;
  ts_start(&srv, NULL);
  most = most_lookups_at_once(120, 8);
  ASSERT_LE(most, 8);
  ASSERT_LE(4, most); /* the cap was used, not just respected */
  ts_stop(&srv);
}

/* The measurement itself: without a cap libcurl looks up every new name
 * at once, a thread and two descriptors each. */
TEST_IMPL(without_a_cap_every_name_is_looked_up_at_once) {
  ts_start(&srv, NULL);
  ASSERT_LE(16, most_lookups_at_once(120, 0)); /* twice the cap above */
  ts_stop(&srv);
}

/* A lookup slot is free once its transfer connects: the next name's
 * lookup starts then, not when the first transfer ends. */
TEST_IMPL(a_lookup_slot_frees_as_its_transfer_connects) {
  char *u[4];
  uvf_result *r;
  uvf_options o;
  size_t i;
  ts_start(&srv, NULL);
  for (i = 0; i < 4; i++)
    if (asprintf(&u[i], "http://slow%zu" SUFFIX ":%d/delay/1000", i, srv.port) <
        0)
      FAIL("oom");
  uvf_options_init(&o);
  o.max_in_flight = 4;
  o.max_lookups = 1;
  r = fetch_urls(u, 4, &o, 0);
  for (i = 0; i < 4; i++) {
    if (!r[i].ok)
      FAIL("%s: %s", u[i], r[i].message);
    if (r[i].time_queued > 0.5) /* 4 lookups of LOOKUP_MS, one at a time */
      FAIL("%s waited %.3f s to start", u[i], r[i].time_queued);
  }
  results_done(r);
  for (i = 0; i < 4; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* A fetcher on a loop of its own, for the tests that watch callbacks. */
typedef struct lk_run {
  uv_loop_t loop;
  uvf_fetcher *f;
  size_t seen, named_done, ip_done_before_named, aborted;
  uint64_t starts[8]; /* of the URLs tagged 1 */
  size_t n_starts;
} lk_run;

static void lk_done(void *ud) { uvf_fetcher_close(((lk_run *)ud)->f, NULL); }

static void lk_begin(lk_run *run, const uvf_options *o, uvf_callbacks cb) {
  memset(run, 0, sizeof(*run));
  cb.on_done = lk_done;
  ASSERT_EQ(uv_loop_init(&run->loop), 0);
  ASSERT_EQ(uvf_fetcher_new(&run->f, &run->loop, o, &cb, run), 0);
}

/* Submits the URL made from fmt (a format taking the port, then i). */
static void lk_submit(lk_run *run, const char *fmt, size_t i, uint64_t tag) {
  char *url;
  if (asprintf(&url, fmt, srv.port, i) < 0)
    FAIL("oom");
  ASSERT_EQ(uvf_submit(run->f, url, tag, NULL), 0);
  free(url);
}

static void lk_finish(lk_run *run) {
  ASSERT_EQ(uvf_end_input(run->f), 0);
  uv_run(&run->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&run->loop), 0);
}

static void or_result(void *ud, const uvf_result *r) {
  lk_run *run = ud;
  if (!r->ok)
    FAIL("%s: %s", r->url, r->message);
  run->seen++;
  if (r->tag) /* named */
    run->named_done++;
  else if (run->named_done < 10)
    run->ip_done_before_named++;
}

/* Lookups waiting for a slot hold back no URL with an IP address. */
TEST_IMPL(addresses_never_wait_for_a_lookup_slot) {
  uvf_callbacks cb = cbs(NULL, NULL, NULL, or_result, NULL);
  uvf_options o;
  lk_run run;
  size_t i;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.max_in_flight = 100;
  o.max_lookups = 1; /* 50 names: at least 1.5 s one after the other */
  lk_begin(&run, &o, cb);
  for (i = 0; i < 100; i++)
    if (i % 2 == 0)
      lk_submit(&run, "http://n%2$zu" SUFFIX ":%1$d/bytes/10", i, 1);
    else
      lk_submit(&run, "http://127.0.0.1:%d/bytes/10?i=%zu", i, 0);
  lk_finish(&run);
  ASSERT_EQ(run.seen, 100);
  ASSERT_EQ(run.ip_done_before_named, 50);
  ASSERT_LE(atomic_load(&most_looking), 1);
  ts_stop(&srv);
}

static void abort_soon(uv_timer_t *t) {
  lk_run *run = t->data;
  ASSERT_EQ(uvf_abort(run->f, UVF_EABORTED), 0);
  uv_close((uv_handle_t *)t, NULL);
}

static void count_result(void *ud, const uvf_result *r) {
  lk_run *run = ud;
  run->seen++;
  run->aborted += r->error == UVF_EABORTED;
}

/* URLs waiting for a lookup slot hold one of the N slots, no socket and
 * no host slot; an abort ends each with one result. */
TEST_IMPL(abort_ends_urls_waiting_for_a_lookup) {
  uvf_callbacks cb = cbs(NULL, NULL, NULL, count_result, NULL);
  uv_timer_t timer;
  uvf_options o;
  lk_run run;
  size_t i, n = 20;
  uvf_stats st;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.max_in_flight = 50;
  o.max_lookups = 1;
  o.max_per_host = 1; /* hosts are tracked: their entries must go */
  lk_begin(&run, &o, cb);
  for (i = 0; i < n; i++)
    lk_submit(&run, "http://h%2$zu" SUFFIX ":%1$d/bytes/10", i, 0);
  uv_timer_init(&run.loop, &timer);
  timer.data = &run;
  uv_timer_start(&timer, abort_soon, 5 * LOOKUP_MS, 0);
  uv_run(&run.loop, UV_RUN_ONCE); /* admission ran: one lookup, the rest wait */
  uvf_get_stats(run.f, &st);
  ASSERT_EQ(st.in_flight, 1);
  ASSERT_EQ(st.waiting, n - 1);
  lk_finish(&run);
  ASSERT_EQ(run.seen, n);
  ASSERT_LE(n - 6, run.aborted); /* about 5 finished; the rest aborted */
  ts_stop(&srv);
}

static void rr_start(void *ud, uint64_t index, uint64_t tag) {
  lk_run *run = ud;
  (void)index;
  if (!tag)
    return; /* not the rate-limited host */
  if (run->n_starts < 8)
    run->starts[run->n_starts] = uv_hrtime();
  run->n_starts++;
}

static void rr_result(void *ud, const uvf_result *r) {
  (void)ud;
  if (!r->ok)
    FAIL("%s: %s", r->url, r->message);
}

/* A URL that waited for a lookup slot still keeps its host's rate. */
TEST_IMPL(urls_waiting_for_a_lookup_keep_the_host_rate) {
  uvf_callbacks cb = cbs(NULL, rr_start, NULL, rr_result, NULL);
  uvf_options o;
  lk_run run;
  size_t i;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.max_in_flight = 30;
  o.max_lookups = 1;
  o.rate_per_host = 5; /* a start every 200 ms */
  lk_begin(&run, &o, cb);
  /* One URL for the rate-limited host, then 20 other names whose lookups
   * (30 ms each, one at a time) keep the later ones waiting for a slot. */
  for (i = 0; i < 24; i++)
    if (i == 0 || i > 20)
      lk_submit(&run, "http://rate" SUFFIX ":%d/bytes/10?i=%zu", i, 1);
    else
      lk_submit(&run, "http://x%2$zu" SUFFIX ":%1$d/bytes/10", i, 0);
  lk_finish(&run);
  ASSERT_EQ(run.n_starts, 4);
  for (i = 1; i < 4; i++)
    ASSERT_LE(150000000, run.starts[i] - run.starts[i - 1]);
  ts_stop(&srv);
}

/* URLs waiting for a lookup slot count toward N: with more named URLs
 * than N and one lookup at a time, the server never sees more than N. */
TEST_IMPL(urls_waiting_for_a_lookup_count_toward_n) {
  size_t n = 40, i;
  char **u = calloc(n, sizeof(*u));
  uvf_result *r;
  uvf_options o;
  char *s;
  long peak;
  ts_start(&srv, NULL);
  for (i = 0; i < n; i++)
    if (asprintf(&u[i], "http://w%zu" SUFFIX ":%d/delay/300", i, srv.port) < 0)
      FAIL("oom");
  uvf_options_init(&o);
  o.max_in_flight = 5;
  o.max_lookups = 1;
  r = fetch_urls(u, n, &o, 0);
  for (i = 0; i < n; i++)
    if (!r[i].ok)
      FAIL("%s: %s", u[i], r[i].message);
  s = ts_get(&srv, "/stats");
  peak = json_int(s, "peak_in_flight");
  free(s);
  ASSERT_LE(peak, 5);
  ASSERT_LE(3, peak); /* the N slots were used */
  ASSERT_LE(atomic_load(&most_looking), 1);
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

/* An IPv6 address needs no lookup either: it starts while a name holds
 * the only lookup slot. */
TEST_IMPL(ipv6_addresses_never_wait_for_a_lookup_slot) {
  uvf_callbacks cb = cbs(NULL, NULL, NULL, count_result, NULL);
  uvf_options o;
  lk_run run;
  uvf_stats st;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.max_in_flight = 10;
  o.max_lookups = 1;
  lk_begin(&run, &o, cb);
  lk_submit(&run, "http://slow" SUFFIX ":%d/bytes/10?i=%zu", 0, 0);
  lk_submit(&run, "http://[::1]:%d/bytes/10?i=%zu", 1, 0);
  lk_submit(&run, "http://127.0.0.1:%d/bytes/10?i=%zu", 2, 0);
  uv_run(&run.loop, UV_RUN_ONCE); /* admission ran */
  uvf_get_stats(run.f, &st);
  ASSERT_EQ(st.waiting, 0);
  ASSERT_EQ(st.in_flight, 3);
  lk_finish(&run);
  ASSERT_EQ(run.seen, 3);
  ts_stop(&srv);
}

/* Hundreds of hosts tracked at once: the host table grows and shrinks,
 * and each host keeps its own cap. */
TEST_IMPL(hundreds_of_hosts_each_keep_their_own_cap) {
  size_t n = 600, i;
  char **u = calloc(n, sizeof(*u));
  uvf_result *r;
  uvf_options o;
  ts_start(&srv, NULL);
  for (i = 0; i < n; i++) /* 300 hosts, two URLs each */
    if (asprintf(&u[i], "http://m%zu" SUFFIX ":%d/delay/20?i=%zu", i % 300,
                 srv.port, i) < 0)
      FAIL("oom");
  uvf_options_init(&o);
  o.max_in_flight = 400;
  o.max_per_host = 1;
  o.max_lookups = 0;
  r = fetch_urls(u, n, &o, 0);
  for (i = 0; i < n; i++) {
    if (!r[i].ok)
      FAIL("%s: %s", u[i], r[i].message);
    /* the second URL of a host waited for the first */
    if (i >= 300 && r[i].time_queued < 0.015)
      FAIL("%s started after %.3f s, beside its host's first", u[i],
           r[i].time_queued);
  }
  results_done(r);
  free_urls(u, n);
  ts_stop(&srv);
}

int main(int argc, char **argv) {
  static const test_entry tests[] = {
      TEST_ENTRY(lookups_at_once_stay_within_max_lookups),
      TEST_ENTRY(without_a_cap_every_name_is_looked_up_at_once),
      TEST_ENTRY(a_lookup_slot_frees_as_its_transfer_connects),
      TEST_ENTRY(addresses_never_wait_for_a_lookup_slot),
      TEST_ENTRY(abort_ends_urls_waiting_for_a_lookup),
      TEST_ENTRY(urls_waiting_for_a_lookup_keep_the_host_rate),
      TEST_ENTRY(urls_waiting_for_a_lookup_count_toward_n),
      TEST_ENTRY(ipv6_addresses_never_wait_for_a_lookup_slot),
      TEST_ENTRY(hundreds_of_hosts_each_keep_their_own_cap),
  };
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
