/* Unit tests of the library's pieces with logic of their own, called
 * directly (linked against the static library, internals included): the
 * origin table and its lanes, origin keys, and the retry policy. No
 * network. */
#include "../harness.h"
#include "internal.h"

static uvf__engine *engine_on(uv_loop_t *loop, unsigned max_streams) {
  uvf__engine *e = NULL;
  uvf_options o;
  uvf_options_init(&o);
  o.max_streams = max_streams;
  ASSERT_EQ(uv_loop_init(loop), 0);
  ASSERT_EQ(uvf__engine_new(&e, loop, &o), 0);
  return e;
}

static void engine_done(uv_loop_t *loop, uvf__engine *e) {
  uvf__engine_close(e, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(loop), 0);
}

/* ---- origin keys ---- */

static char *key_of(const char *url) {
  CURLU *cu = curl_url();
  char *key;
  ASSERT_EQ(curl_url_set(cu, CURLUPART_URL, url, 0), CURLUE_OK);
  key = uvf__origin_key(cu, strncmp(url, "https", 5) == 0);
  curl_url_cleanup(cu);
  ASSERT(key);
  return key;
}

static void expect_key(const char *url, const char *want) {
  char *key = key_of(url);
  ASSERT_STR_EQ(key, want);
  free(key);
}

TEST_IMPL(an_origin_key_is_scheme_host_and_port_with_the_host_folded) {
  expect_key("http://example.org/x", "http://example.org:80");
  expect_key("https://example.org/x", "https://example.org:443");
  expect_key("http://EXAMPLE.org:8080/", "http://example.org:8080");
  expect_key("http://user:pw@Example.ORG/?q#f", "http://example.org:80");
  expect_key("http://[::1]:81/", "http://[::1]:81");
  expect_key("http://example.org./", "http://example.org.:80");
}

/* ---- the origin table ---- */

TEST_IMPL(origins_are_shared_by_key_and_kept_a_while_unreferenced) {
  uv_loop_t loop;
  uvf__engine *e = engine_on(&loop, 100);
  uvf__origin *a = uvf__origin_ref(e, "http://a:80");
  uvf__origin *b = uvf__origin_ref(e, "http://b:80");
  uvf__origin *a2 = uvf__origin_ref(e, "http://a:80");
  size_t i;
  ASSERT(a == a2);
  ASSERT(a != b);
  ASSERT_EQ(a->refs, 2);
  uvf__origin_learn(b, 20);
  uvf__origin_unref(e, a2);
  uvf__origin_unref(e, b); /* kept, with what was learnt of it */
  ASSERT_EQ(e->origins.count, 2);
  ASSERT(uvf__origin_ref(e, "http://b:80") == b);
  ASSERT_EQ(b->proto, UVF__PROTO_MUX);
  uvf__origin_unref(e, b);
  for (i = 0; i < UVF__IDLE_ORIGINS + 10; i++) { /* the table grows */
    char key[32];
    snprintf(key, sizeof(key), "http://h%zu:80", i);
    uvf__origin_unref(e, uvf__origin_ref(e, key));
  }
  /* a (referenced) and the most recent idle ones; b was the oldest */
  ASSERT_EQ(e->origins.idle, UVF__IDLE_ORIGINS);
  ASSERT_EQ(e->origins.count, UVF__IDLE_ORIGINS + 1);
  ASSERT(uvf__origin_ref(e, "http://a:80") == a);
  ASSERT_EQ(a->refs, 2);
  ASSERT_EQ(uvf__origin_ref(e, "http://b:80")->proto, UVF__PROTO_UNKNOWN);
  engine_done(&loop, e);
}

/* ---- lanes ---- */

static unsigned take(uvf__engine *e, uvf__origin *o, int pipewait,
                     unsigned *group) {
  unsigned lane, g;
  ASSERT_EQ(uvf__lane_take(e, o, pipewait, &lane, &g), 0);
  if (group)
    *group = g;
  return lane;
}

TEST_IMPL(a_multiplexing_origin_fills_lanes_of_max_streams_each) {
  uv_loop_t loop;
  uvf__engine *e = engine_on(&loop, 3);
  uvf__origin *o = uvf__origin_ref(e, "https://a:443");
  unsigned g[7], i;
  uvf__origin_learn(o, 20);
  for (i = 0; i < 7; i++)
    ASSERT_EQ(take(e, o, 1, &g[i]), i / 3);
  ASSERT(g[0] == g[1] && g[1] == g[2]);
  ASSERT(g[3] != g[0] && g[6] != g[3] && g[6] != g[0]);
  ASSERT_EQ(e->ngroups, 3); /* made as lanes needed them */
  uvf__lane_give(o, 1);     /* a slot in lane 1: the next one goes there */
  ASSERT_EQ(take(e, o, 1, NULL), 1);
  ASSERT_EQ(take(e, o, 1, NULL), 2);
  engine_done(&loop, e);
}

TEST_IMPL(a_serial_origin_fills_lanes_of_64) {
  uv_loop_t loop;
  uvf__engine *e = engine_on(&loop, 3);
  uvf__origin *o = uvf__origin_ref(e, "http://a:80");
  unsigned i;
  uvf__origin_learn(o, 11);
  for (i = 0; i < UVF__LANE_SERIAL; i++)
    ASSERT_EQ(take(e, o, 0, NULL), 0);
  ASSERT_EQ(take(e, o, 0, NULL), 1);
  engine_done(&loop, e);
}

/* Before the first reply, a transfer that will wait to share a connection
 * counts as for HTTP/2; one that will not, as for HTTP/1.x. */
TEST_IMPL(an_unknown_origin_sizes_lanes_by_whether_transfers_pipewait) {
  uv_loop_t loop;
  uvf__engine *e = engine_on(&loop, 2);
  uvf__origin *t = uvf__origin_ref(e, "https://t:443");
  uvf__origin *p = uvf__origin_ref(e, "http://p:80");
  ASSERT_EQ(t->proto, UVF__PROTO_UNKNOWN);
  ASSERT_EQ(take(e, t, 1, NULL), 0);
  ASSERT_EQ(take(e, t, 1, NULL), 0);
  ASSERT_EQ(take(e, t, 1, NULL), 1);
  ASSERT_EQ(take(e, p, 0, NULL), 0);
  ASSERT_EQ(take(e, p, 0, NULL), 0);
  ASSERT_EQ(take(e, p, 0, NULL), 0);
  engine_done(&loop, e);
}

TEST_IMPL(a_reply_teaches_the_origin_its_protocol) {
  uv_loop_t loop;
  uvf__engine *e = engine_on(&loop, 2);
  uvf__origin *o = uvf__origin_ref(e, "https://a:443");
  uvf__origin_learn(o, 0); /* no reply: nothing learnt */
  ASSERT_EQ(o->proto, UVF__PROTO_UNKNOWN);
  uvf__origin_learn(o, 20);
  ASSERT_EQ(o->proto, UVF__PROTO_MUX);
  uvf__origin_learn(o, 11);
  ASSERT_EQ(o->proto, UVF__PROTO_SERIAL);
  uvf__origin_learn(o, 10);
  ASSERT_EQ(o->proto, UVF__PROTO_SERIAL);
  engine_done(&loop, e);
}

/* ---- Retry-After pauses of an origin ---- */

/* Nothing else may refer to a paused origin: the pause keeps it, with
 * the time it ends, until it is over; then it is an idle one. */
TEST_IMPL(a_pause_holds_its_origin_until_it_ends) {
  uv_loop_t loop;
  uvf__engine *e = engine_on(&loop, 2);
  uvf__origin *o = uvf__origin_ref(e, "http://a:80");
  uint64_t t0 = uv_hrtime();
  uvf__origin_pause(e, o, 50);
  uvf__origin_unref(e, o);
  ASSERT_EQ(o->refs, 1);
  ASSERT_EQ(e->origins.idle, 0);
  while (e->origins.idle == 0 && uv_hrtime() - t0 < 2000000000ULL)
    uv_run(&loop, UV_RUN_ONCE);
  ASSERT_EQ(e->origins.idle, 1);
  ASSERT_EQ(o->refs, 0);
  ASSERT_LE(50, (uv_hrtime() - t0) / 1000000);
  engine_done(&loop, e);
}

TEST_IMPL(a_shorter_pause_never_cuts_a_longer_one) {
  uv_loop_t loop;
  uvf__engine *e = engine_on(&loop, 2);
  uvf__origin *o = uvf__origin_ref(e, "http://a:80");
  uvf__origin_pause(e, o, 5000);
  uvf__origin_pause(e, o, 100);
  ASSERT_LE(4000000, uvf__origin_wait_us(o, uv_hrtime() / 1000));
  uvf__origin_unref(e, o);
  engine_done(&loop, e);
}

/* ---- retries ---- */

static uvf_result failed(uvf_err kind, long status, int curl_code) {
  uvf_result r;
  memset(&r, 0, sizeof(r));
  r.error = kind;
  r.status = status;
  r.curl_code = curl_code;
  return r;
}

TEST_IMPL(retryable_failures_are_exactly_the_transient_ones) {
  static const long again[] = {408, 429, 500, 502, 503, 504};
  static const long never[] = {400, 401, 403, 404, 405, 410, 418, 501, 505};
  static const int again_curl[] = {CURLE_RECV_ERROR, CURLE_SEND_ERROR,
                                   CURLE_GOT_NOTHING, CURLE_HTTP2,
                                   CURLE_HTTP2_STREAM};
  uvf_result r;
  size_t i;
  for (i = 0; i < sizeof(again) / sizeof(again[0]); i++) {
    r = failed(UVF_EHTTP, again[i], 0);
    if (!uvf__retryable(&r))
      FAIL("HTTP %ld not retried", again[i]);
  }
  for (i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
    r = failed(UVF_EHTTP, never[i], 0);
    if (uvf__retryable(&r))
      FAIL("HTTP %ld retried", never[i]);
  }
  for (i = 0; i < sizeof(again_curl) / sizeof(again_curl[0]); i++) {
    r = failed(UVF_EPROTOCOL, 0, again_curl[i]);
    ASSERT(uvf__retryable(&r));
  }
  r = failed(UVF_EPROTOCOL, 0, CURLE_TOO_MANY_REDIRECTS);
  ASSERT(!uvf__retryable(&r));
  r = failed(UVF_ECONNECT, 0, CURLE_COULDNT_CONNECT);
  ASSERT(uvf__retryable(&r));
  r = failed(UVF_ETIMEOUT, 0, CURLE_OPERATION_TIMEDOUT);
  ASSERT(uvf__retryable(&r));
  static const uvf_err final[] = {UVF_EDNS, UVF_ETLS, UVF_EINVALID_URL,
                                  UVF_ETOO_LARGE, UVF_EABORTED};
  for (i = 0; i < sizeof(final) / sizeof(final[0]); i++) {
    r = failed(final[i], 0, 0);
    ASSERT(!uvf__retryable(&r));
  }
}

static uvf__batch *policy(long base_ms, long max_ms) {
  uvf__batch *b = calloc(1, sizeof(*b));
  uvf_options_init(&b->o);
  b->o.retry_base_ms = base_ms;
  b->o.retry_max_ms = max_ms;
  b->o.max_in_flight = 50;
  b->rng = 12345;
  return b;
}

/* Full jitter: attempt k waits a random time in [0, base * 2^(k-1)],
 * capped; over many draws the spread reaches near both ends. */
TEST_IMPL(backoff_doubles_with_full_jitter_up_to_the_cap) {
  uvf__batch *b = policy(100, 1000);
  uvf_result r = failed(UVF_ETIMEOUT, 0, CURLE_OPERATION_TIMEDOUT);
  unsigned attempts, i;
  for (attempts = 1; attempts <= 6; attempts++) {
    uint64_t span = 100u << (attempts - 1), lo = UINT64_MAX, hi = 0;
    if (span > 1000)
      span = 1000;
    for (i = 0; i < 2000; i++) {
      uint64_t d = uvf__retry_delay_ms(b, attempts, &r, 0);
      lo = d < lo ? d : lo;
      hi = d > hi ? d : hi;
    }
    ASSERT_LE(hi, span);
    ASSERT_LE(span * 9 / 10, hi);
    ASSERT_LE(lo, span / 10);
  }
  free(b);
}

TEST_IMPL(retry_after_sets_the_wait_of_a_429_or_503_within_the_cap) {
  uvf__batch *b = policy(100, 5000);
  uvf_result r503 = failed(UVF_EHTTP, 503, 0);
  uvf_result r429 = failed(UVF_EHTTP, 429, 0);
  uvf_result r500 = failed(UVF_EHTTP, 500, 0);
  ASSERT_EQ(uvf__retry_delay_ms(b, 1, &r503, 2), 2000);
  ASSERT_EQ(uvf__retry_delay_ms(b, 3, &r429, 4), 4000);
  ASSERT_EQ(uvf__retry_delay_ms(b, 1, &r503, 3600), 5000);
  ASSERT_EQ(uvf__retry_delay_ms(b, 1, &r503, 0x7fffffffL), 5000);
  ASSERT_LE(uvf__retry_delay_ms(b, 1, &r500, 9), 100); /* not for a 500 */
  free(b);
}

TEST_IMPL(the_retry_budget_is_ten_plus_one_per_ten_first_attempts) {
  uvf__batch *b = policy(100, 1000);
  b->first_attempts = 0;
  b->retries = 9;
  ASSERT(uvf__retry_allowed(b));
  b->retries = 10;
  ASSERT(!uvf__retry_allowed(b));
  b->first_attempts = 19; /* 10 + 1 */
  ASSERT(uvf__retry_allowed(b));
  b->retries = 11;
  ASSERT(!uvf__retry_allowed(b));
  b->first_attempts = 1000; /* 10 + 100 */
  b->retries = 109;
  ASSERT(uvf__retry_allowed(b));
  b->retry_waiting = 50; /* as many waiting as N: no more */
  ASSERT(!uvf__retry_allowed(b));
  free(b);
}

int main(int argc, char **argv) {
  static const test_entry tests[] = {
      TEST_ENTRY(an_origin_key_is_scheme_host_and_port_with_the_host_folded),
      TEST_ENTRY(origins_are_shared_by_key_and_kept_a_while_unreferenced),
      TEST_ENTRY(a_multiplexing_origin_fills_lanes_of_max_streams_each),
      TEST_ENTRY(a_serial_origin_fills_lanes_of_64),
      TEST_ENTRY(an_unknown_origin_sizes_lanes_by_whether_transfers_pipewait),
      TEST_ENTRY(a_reply_teaches_the_origin_its_protocol),
      TEST_ENTRY(a_pause_holds_its_origin_until_it_ends),
      TEST_ENTRY(a_shorter_pause_never_cuts_a_longer_one),
      TEST_ENTRY(retryable_failures_are_exactly_the_transient_ones),
      TEST_ENTRY(backoff_doubles_with_full_jitter_up_to_the_cap),
      TEST_ENTRY(retry_after_sets_the_wait_of_a_429_or_503_within_the_cap),
      TEST_ENTRY(the_retry_budget_is_ten_plus_one_per_ten_first_attempts),
  };
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
