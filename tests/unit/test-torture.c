/* Allocation failures, as curl's torture tests: a representative run is
 * repeated with its k-th allocation failing, for k = 1, 2, ... until a
 * run makes fewer than k allocations. Each run must return UVF_ENOMEM or
 * deliver every result, intact; nothing may leak (LeakSanitizer at exit)
 * and nothing may crash.
 *
 * The allocations failed are the library's own. libuv's are left alone
 * because libuv 1.44 aborts on some failed allocations by design, and
 * libcurl's because 7.88 does not survive all of them: with its
 * allocations handed to the same counter (curl_global_init_mem), one that
 * fails inside curl_multi_socket_action (the 137th of this run) leaves a
 * hash table it then divides by the size of (SIGFPE in the next
 * socket_action). */
#include "../harness.h"
#include "internal.h"

static ts_server srv;

#define N_URLS 6

static char *urls[N_URLS];

static void free_urls_in(char **u, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    free(u[i]);
}

static void make_urls(void) {
  static const char *const paths[N_URLS] = {"/bytes/70000",       "/status/404",
                                            "/redirect/1",        "/flaky/1",
                                            "/delay/5?bytes=100", NULL};
  int i;
  for (i = 0; i < N_URLS; i++)
    if (!paths[i])
      urls[i] = strdup("ftp://127.0.0.1/not-http");
    else if (asprintf(&urls[i], "http://127.0.0.1:%d%s", srv.port, paths[i]) <
             0)
      FAIL("oom");
}

/* Every result is there, for its URL, with a message. */
static void check_results(uvf_results *rs, long k) {
  size_t i;
  ASSERT_EQ(uvf_results_count(rs), N_URLS);
  for (i = 0; i < N_URLS; i++) {
    const uvf_result *r = uvf_results_get(rs, i);
    if (r->index != i || !r->url || strcmp(r->url, urls[i]) != 0 ||
        !r->message || (r->error > 0 || r->error < UVF_EDEADLINE))
      FAIL("k=%ld: result %zu is broken", k, i);
  }
}

static uvf_options options(void) {
  uvf_options o;
  uvf_options_init(&o);
  o.max_in_flight = 2;
  o.keep_body = 1;
  o.max_retries = 1;
  o.retry_base_ms = 1;
  o.timeout_ms = 3000;
  return o;
}

/* The flaky URL is new each run, so that it fails once every time. */
static void renew_flaky(long k) {
  free(urls[3]);
  if (asprintf(&urls[3], "http://127.0.0.1:%d/flaky/1?k=%ld", srv.port, k) < 0)
    FAIL("oom");
}

/* Runs the workload with the k-th allocation failing; 1 if it did. */
static int blocking_run(long k) {
  uvf_options o = options();
  uvf_results *rs = NULL;
  int rc, hit;
  renew_flaky(k);
  uvf__alloc_fail_at(k);
  rc = uvf_fetch_all((const char *const *)urls, N_URLS, &o, 0, &rs);
  hit = uvf__alloc_failed();
  uvf__alloc_fail_at(0);
  if (rc == UVF_OK)
    check_results(rs, k);
  else if (rc != UVF_ENOMEM)
    FAIL("k=%ld: uvf_fetch_all returned %s", k, uvf_err_name(rc));
  uvf_results_free(&rs);
  return hit;
}

static int client_run(long k) {
  uvf_options o = options();
  uvf_client *c = NULL;
  uvf_results *rs = NULL;
  int rc, hit;
  renew_flaky(k);
  uvf__alloc_fail_at(k);
  rc = uvf_client_new(&c, &o);
  if (rc == UVF_OK)
    rc = uvf_client_fetch_all(c, (const char *const *)urls, N_URLS, NULL, 0,
                              &rs);
  uvf_client_free(&c);
  hit = uvf__alloc_failed();
  uvf__alloc_fail_at(0);
  if (rc == UVF_OK)
    check_results(rs, k);
  else if (rc != UVF_ENOMEM)
    FAIL("k=%ld: the client returned %s", k, uvf_err_name(rc));
  uvf_results_free(&rs);
  return hit;
}

/* k from 1 until a run no longer reaches its k-th allocation. */
static long torture(int (*run)(long k)) {
  long k;
  for (k = 1; k < 100000; k++)
    if (!run(k))
      return k - 1;
  FAIL("more than 100,000 allocations in one run?");
}

TEST_IMPL(every_allocation_of_a_blocking_call_may_fail) {
  long n;
  ts_start(&srv, NULL);
  make_urls();
  n = torture(blocking_run);
  ASSERT_LE(30, n); /* it did count them */
  fprintf(stderr, "%ld allocations, each failed once\n", n);
  free_urls_in(urls, N_URLS);
  ts_stop(&srv);
}

TEST_IMPL(every_allocation_of_a_client_call_may_fail) {
  long n;
  ts_start(&srv, NULL);
  make_urls();
  n = torture(client_run);
  ASSERT_LE(30, n);
  fprintf(stderr, "%ld allocations, each failed once\n", n);
  free_urls_in(urls, N_URLS);
  ts_stop(&srv);
}

int main(int argc, char **argv) {
  static const test_entry tests[] = {
      TEST_ENTRY(every_allocation_of_a_blocking_call_may_fail),
      TEST_ENTRY(every_allocation_of_a_client_call_may_fail),
  };
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
