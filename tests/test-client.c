/* The long-lived client and its calls, from several threads, against the
 * project's own loopback server. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

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

static uint64_t ms_since(uint64_t t0) { return (uv_hrtime() - t0) / 1000000; }

static uvf_client *client_new(unsigned n) {
  uvf_client *c = NULL;
  uvf_options o;
  uvf_options_init(&o);
  o.max_in_flight = n;
  ASSERT_EQ(uvf_client_new(&c, &o), UVF_OK);
  return c;
}

TEST_IMPL(client_fetch_all_gives_one_result_per_url_by_index) {
  uvf_client *c;
  uvf_results *rs = NULL;
  char *u[30];
  size_t i;
  ts_start(&srv, NULL);
  for (i = 0; i < 30; i++)
    u[i] = urlf("/delay/%zu?bytes=%zu", (30 - i) * 3, i);
  c = client_new(10);
  ASSERT_EQ(uvf_client_fetch_all(c, (const char *const *)u, 30, NULL, 0, &rs),
            UVF_OK);
  ASSERT_EQ(uvf_results_count(rs), 30);
  for (i = 0; i < 30; i++) {
    const uvf_result *r = uvf_results_get(rs, i);
    ASSERT_EQ(r->index, i);
    ASSERT_STR_EQ(r->url, u[i]);
    ASSERT(r->ok);
    ASSERT_EQ(r->bytes, i);
  }
  ASSERT_LE(ts_stat(&srv, "peak_in_flight"), 10);
  uvf_results_free(&rs);
  ASSERT(rs == NULL);
  uvf_client_free(&c);
  ASSERT(c == NULL);
  for (i = 0; i < 30; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* A call fed URL by URL, results taken as they come. */
TEST_IMPL(call_streams_results_in_completion_order) {
  uvf_client *c = client_new(4);
  uvf_call *call;
  uvf_result *r;
  char *slow, *fast;
  uint64_t idx;
  ts_start(&srv, NULL);
  slow = urlf("/delay/400");
  fast = urlf("/delay/1");
  ASSERT_EQ(uvf_call_start(&call, c, NULL, 0), UVF_OK);
  ASSERT_EQ(uvf_call_submit(call, slow, 7, &idx), UVF_OK);
  ASSERT_EQ(idx, 0);
  ASSERT_EQ(uvf_call_submit(call, fast, 8, &idx), UVF_OK);
  ASSERT_EQ(idx, 1);
  ASSERT_EQ(uvf_call_end_input(call), UVF_OK);
  ASSERT_EQ(uvf_call_submit(call, fast, 9, NULL), UVF_ESTATE);
  ASSERT_EQ(uvf_call_next(call, -1, &r), UVF_OK);
  ASSERT_EQ(r->index, 1);
  ASSERT_EQ(r->tag, 8);
  uvf_result_free(r);
  ASSERT_EQ(uvf_call_next(call, 0, &r), UVF_EAGAIN); /* the slow one */
  ASSERT_EQ(uvf_call_next(call, -1, &r), UVF_OK);
  ASSERT_EQ(r->index, 0);
  ASSERT(r->ok);
  uvf_result_free(r);
  ASSERT_EQ(uvf_call_next(call, -1, &r), UVF_EOF);
  uvf_call_free(&call);
  uvf_client_free(&c);
  free(slow);
  free(fast);
  ts_stop(&srv);
}

/* Having taken the result of every URL submitted so far is not the end
 * of a call: until its input ends more may come, so uvf_call_next() says
 * EAGAIN, not EOF. */
TEST_IMPL(a_call_ends_with_its_input_not_when_its_results_are_all_taken) {
  uvf_client *c = client_new(4);
  uvf_call *call;
  uvf_result *r;
  char *fast;
  ts_start(&srv, NULL);
  fast = urlf("/delay/1");
  ASSERT_EQ(uvf_call_start(&call, c, NULL, 0), UVF_OK);
  ASSERT_EQ(uvf_call_submit(call, fast, 0, NULL), UVF_OK);
  ASSERT_EQ(uvf_call_next(call, -1, &r), UVF_OK);
  uvf_result_free(r);
  ASSERT_EQ(uvf_call_next(call, 0, &r), UVF_EAGAIN);
  ASSERT_EQ(uvf_call_next(call, 50, &r), UVF_EAGAIN);
  ASSERT_EQ(uvf_call_submit(call, fast, 0, NULL), UVF_OK);
  ASSERT_EQ(uvf_call_next(call, -1, &r), UVF_OK);
  ASSERT_EQ(r->index, 1);
  uvf_result_free(r);
  ASSERT_EQ(uvf_call_end_input(call), UVF_OK);
  ASSERT_EQ(uvf_call_next(call, -1, &r), UVF_EOF);
  uvf_call_free(&call);
  uvf_client_free(&c);
  free(fast);
  ts_stop(&srv);
}

/* Submitting more than the window without taking results is refused, so
 * a caller's memory stays bounded by N, not by its input. */
TEST_IMPL(call_submit_waits_for_the_caller_past_twice_n) {
  uvf_client *c = client_new(3);
  uvf_call *call;
  uvf_result *r;
  char *u;
  int i, taken = 0;
  ts_start(&srv, NULL);
  u = urlf("/delay/1");
  ASSERT_EQ(uvf_call_start(&call, c, NULL, 0), UVF_OK);
  for (i = 0; i < 6; i++)
    ASSERT_EQ(uvf_call_submit(call, u, 0, NULL), UVF_OK);
  ASSERT_EQ(uvf_call_submit(call, u, 0, NULL), UVF_EAGAIN);
  ASSERT_EQ(uvf_call_next(call, -1, &r), UVF_OK);
  uvf_result_free(r);
  ASSERT_EQ(uvf_call_submit(call, u, 0, NULL), UVF_OK);
  uvf_call_end_input(call);
  while (uvf_call_next(call, -1, &r) == UVF_OK) {
    ASSERT(r->ok);
    uvf_result_free(r);
    taken++;
  }
  ASSERT_EQ(taken, 6);
  uvf_call_free(&call);
  uvf_client_free(&c);
  free(u);
  ts_stop(&srv);
}

typedef struct canceller {
  uvf_call *call;
  uint64_t fired_at;
} canceller;

static void *cancel_soon(void *arg) {
  canceller *k = arg;
  usleep(300 * 1000);
  k->fired_at = uv_hrtime();
  ASSERT_EQ(uvf_call_cancel(k->call), UVF_OK);
  return NULL;
}

/* A handler whose client went away: the call ends at once, its URLs as
 * aborted (those in flight, and those it never started: N is 10), and
 * the client goes on serving. */
TEST_IMPL(cancel_from_another_thread_returns_within_50_ms) {
  uvf_client *c = client_new(50);
  uvf_results *rs = NULL;
  uvf_options o;
  canceller k = {0};
  pthread_t t;
  char *u[40];
  size_t i;
  ts_start(&srv, NULL);
  for (i = 0; i < 40; i++)
    u[i] = urlf(i < 5 ? "/delay/1?i=%zu" : "/delay/20000?i=%zu", i);
  uvf_options_init(&o);
  o.max_in_flight = 10;
  ASSERT_EQ(uvf_call_start(&k.call, c, &o, 0), UVF_OK);
  ASSERT_EQ(pthread_create(&t, NULL, cancel_soon, &k), 0);
  ASSERT_EQ(uvf_call_fetch_all(k.call, (const char *const *)u, 40, &rs),
            UVF_OK);
  ASSERT_LE(ms_since(k.fired_at), 50);
  pthread_join(t, NULL);
  for (i = 0; i < 40; i++) {
    const uvf_result *r = uvf_results_get(rs, i);
    ASSERT_EQ(r->index, i);
    if (i < 5)
      ASSERT(r->ok);
    else
      ASSERT_EQ(r->error, UVF_EABORTED);
  }
  uvf_results_free(&rs);
  uvf_call_free(&k.call);
  /* Still usable. */
  ASSERT_EQ(uvf_client_fetch_all(c, (const char *const *)u, 5, NULL, 0, &rs),
            UVF_OK);
  for (i = 0; i < 5; i++)
    ASSERT(uvf_results_get(rs, i)->ok);
  uvf_results_free(&rs);
  uvf_client_free(&c);
  for (i = 0; i < 40; i++)
    free(u[i]);
  ts_stop(&srv);
}

TEST_IMPL(call_deadline_ends_what_is_left_as_deadline) {
  uvf_client *c = client_new(2);
  uvf_results *rs = NULL;
  char *u[6];
  uint64_t t0;
  size_t i;
  ts_start(&srv, NULL);
  for (i = 0; i < 6; i++)
    u[i] = urlf(i == 0 ? "/delay/1?i=%zu" : "/delay/5000?i=%zu", i);
  t0 = uv_hrtime();
  ASSERT_EQ(uvf_client_fetch_all(c, (const char *const *)u, 6, NULL, 300, &rs),
            UVF_OK);
  ASSERT_LE(280, ms_since(t0));
  ASSERT_LE(ms_since(t0), 900);
  ASSERT(uvf_results_get(rs, 0)->ok);
  for (i = 1; i < 6; i++) /* in flight, and never started */
    ASSERT_EQ(uvf_results_get(rs, i)->error, UVF_EDEADLINE);
  uvf_results_free(&rs);
  uvf_client_free(&c);
  for (i = 0; i < 6; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* Takes what came: at once (0) or waiting up to timeout_ms. Every result
 * is invalid_url or deadline; EOF means every submitted URL's result has
 * been taken. Returns what the last uvf_call_next() said. */
static int take_results(uvf_call *call, long timeout_ms, uint64_t submitted,
                        uint64_t *got) {
  uvf_result *r;
  int rc;
  while ((rc = uvf_call_next(call, timeout_ms, &r)) == UVF_OK) {
    if (r->error != UVF_EINVALID_URL && r->error != UVF_EDEADLINE)
      FAIL("%s: %s", r->url, uvf_err_name(r->error));
    ++*got;
    uvf_result_free(r);
  }
  if (rc == UVF_EOF && *got != submitted)
    FAIL("EOF with %" PRIu64 " of %" PRIu64 " results taken", *got, submitted);
  return rc;
}

/* A call fed invalid URLs without pause (their results come at once, so
 * its window stays open) until it ends: each URL gets one result,
 * invalid_url or deadline, and EOF comes only after the last; ending the
 * input after that is harmless. */
static void *feed_invalid_urls_until_the_end(void *arg) {
  uvf_call *call = arg;
  uint64_t t0 = uv_hrtime(), submitted = 0, got = 0;
  int rc = UVF_OK;
  while (rc != UVF_ESTATE && ms_since(t0) < 5000) {
    char u[64];
    uint64_t before = got;
    snprintf(u, sizeof(u), "not a url %llu", (unsigned long long)submitted);
    rc = uvf_call_submit(call, u, 0, NULL);
    if (rc == UVF_OK)
      submitted++;
    /* What came, then at once back to submitting; a short wait only
     * when the window is full and nothing came. */
    take_results(call, rc == UVF_EAGAIN && got == before ? 10 : 0, submitted,
                 &got);
  }
  ASSERT_EQ(rc, UVF_ESTATE); /* the call knows it is over */
  ASSERT_EQ(uvf_call_end_input(call), UVF_OK);
  ASSERT_EQ(take_results(call, 2000, submitted, &got), UVF_EOF);
  return NULL;
}

/* URLs submitted while the deadline ends a call get one result each,
 * labelled deadline, and EOF only after them. The loop is kept busy by
 * another call of the client, fed 40,000 URLs for one host, so that
 * both deadlines come in one turn of the loop: URLs submitted meanwhile
 * reach the first call after it has ended, and the second call's end
 * (40,000 results) holds them back a while longer. */
TEST_IMPL(urls_submitted_as_the_deadline_ends_a_call_still_get_results) {
  uvf_client *c = client_new(500); /* a window of 1000 URLs */
  uvf_call *late = NULL, *busy = NULL;
  uvf_options o;
  uvf_result *r;
  pthread_t t;
  uint64_t submitted = 0, got = 0;
  char *slow;
  int rc;
  ts_start(&srv, NULL);
  slow = urlf("/delay/5000");
  uvf_options_init(&o);
  o.max_in_flight = 50000;
  o.max_per_host = 1; /* one transfer, the others parked */
  ASSERT_EQ(uvf_call_start(&late, c, NULL, 20), UVF_OK);
  ASSERT_EQ(uvf_call_start(&busy, c, &o, 20), UVF_OK);
  ASSERT_EQ(pthread_create(&t, NULL, feed_invalid_urls_until_the_end, late), 0);
  while (submitted < 40000 && uvf_call_submit(busy, slow, 0, NULL) == UVF_OK)
    submitted++;
  pthread_join(t, NULL);
  uvf_call_end_input(busy);
  while ((rc = uvf_call_next(busy, 5000, &r)) == UVF_OK) {
    ASSERT_EQ(r->error, UVF_EDEADLINE);
    got++;
    uvf_result_free(r);
  }
  ASSERT_EQ(rc, UVF_EOF);
  ASSERT_EQ(got, submitted);
  uvf_call_free(&busy);
  uvf_call_free(&late);
  uvf_client_free(&c);
  free(slow);
  ts_stop(&srv);
}

/* ---- many threads on one warm client ---- */

#define THREADS 8
#define CALLS 50
#define PER_CALL 40

typedef struct worker {
  uvf_client *c;
  int id;
  int bad;
} worker;

/* URL j of a call: mostly fast, some slow, some 503s, some drops. */
static char *mixed_url(int id, int call, int j, int *expect_ok) {
  *expect_ok = 1;
  switch (j % 10) {
  case 3:
    *expect_ok = 0;
    return urlf("/status/503?w=%d&c=%d&j=%d", id, call, j);
  case 7: return urlf("/delay/30?bytes=%d&w=%d&c=%d", j, id, call);
  default: return urlf("/bytes/%d?w=%d&c=%d&j=%d", j * 7, id, call, j);
  }
}

static void *work(void *arg) {
  worker *w = arg;
  int call, j, ok[PER_CALL];
  for (call = 0; call < CALLS; call++) {
    char *u[PER_CALL];
    uvf_results *rs = NULL;
    for (j = 0; j < PER_CALL; j++)
      u[j] = mixed_url(w->id, call, j, &ok[j]);
    if (uvf_client_fetch_all(w->c, (const char *const *)u, PER_CALL, NULL, 5000,
                             &rs) != UVF_OK)
      w->bad++;
    for (j = 0; rs && j < PER_CALL; j++) {
      const uvf_result *r = uvf_results_get(rs, (size_t)j);
      if (r->index != (uint64_t)j || strcmp(r->url, u[j]) != 0 ||
          r->ok != ok[j] ||
          (ok[j] && j % 10 != 7 && r->bytes != (uint64_t)j * 7))
        w->bad++;
    }
    uvf_results_free(&rs);
    for (j = 0; j < PER_CALL; j++)
      free(u[j]);
  }
  return NULL;
}

TEST_IMPL(eight_threads_share_one_client_and_every_result_is_right) {
  uvf_client *c = client_new(PER_CALL);
  pthread_t t[THREADS];
  worker w[THREADS];
  int i, bad = 0;
  ts_start(&srv, NULL);
  for (i = 0; i < THREADS; i++) {
    w[i].c = c;
    w[i].id = i;
    w[i].bad = 0;
    ASSERT_EQ(pthread_create(&t[i], NULL, work, &w[i]), 0);
  }
  for (i = 0; i < THREADS; i++) {
    pthread_join(t[i], NULL);
    bad += w[i].bad;
  }
  ASSERT_EQ(bad, 0);
  ASSERT_EQ(ts_stat(&srv, "requests"), THREADS * CALLS * PER_CALL);
  uvf_client_free(&c);
  ts_stop(&srv);
}

/* ---- a caller that finds the loop resting runs its call itself ---- */

typedef struct later_call {
  uvf_client *c;
  long wait_ms; /* before the call */
  const char *path;
  int error;      /* of its one result */
  uint64_t ended; /* uv_hrtime() */
} later_call;

static void *call_later(void *arg) {
  later_call *k = arg;
  uvf_results *rs = NULL;
  char *u = urlf("%s", k->path);
  usleep((useconds_t)k->wait_ms * 1000);
  ASSERT_EQ(
      uvf_client_fetch_all(k->c, (const char *const *)&u, 1, NULL, 0, &rs),
      UVF_OK);
  k->error = uvf_results_get(rs, 0)->error;
  k->ended = uv_hrtime();
  uvf_results_free(&rs);
  free(u);
  return NULL;
}

/* The first call runs the resting loop in its thread; a second call
 * comes while it does and outlasts it: the loop goes back to its own
 * thread, which finishes the second call. */
TEST_IMPL(a_call_that_outlasts_the_caller_running_the_loop_still_ends) {
  uvf_client *c = client_new(10);
  later_call a = {c, 0, "/delay/300?a", -1, 0},
             b = {c, 100, "/delay/700?b", -1, 0};
  pthread_t ta, tb;
  uint64_t t0 = uv_hrtime();
  ts_start(&srv, NULL);
  ASSERT_EQ(pthread_create(&ta, NULL, call_later, &a), 0);
  ASSERT_EQ(pthread_create(&tb, NULL, call_later, &b), 0);
  pthread_join(ta, NULL);
  pthread_join(tb, NULL);
  ASSERT_EQ(a.error, UVF_OK);
  ASSERT_EQ(b.error, UVF_OK);
  ASSERT(a.ended < b.ended);
  ASSERT_LE((b.ended - t0) / 1000000, 3000);
  uvf_client_free(&c);
  ts_stop(&srv);
}

/* A call of one URL that would take 20 s, running the resting loop in a
 * thread of its own by the time this returns. */
static void start_long_call(uvf_client *c, later_call *a, pthread_t *t) {
  later_call k = {c, 0, "/delay/20000?a", -1, 0};
  *a = k;
  ts_start(&srv, NULL);
  ASSERT_EQ(pthread_create(t, NULL, call_later, a), 0);
  usleep(200 * 1000);
}

/* A call running the loop in its caller's thread hears
 * uvf_client_cancel_all() from another thread at once. */
TEST_IMPL(cancel_all_ends_a_call_running_in_its_callers_thread) {
  uvf_client *c = client_new(10);
  later_call a;
  pthread_t ta;
  uint64_t fired;
  start_long_call(c, &a, &ta);
  fired = uv_hrtime();
  ASSERT_EQ(uvf_client_cancel_all(c), UVF_OK);
  pthread_join(ta, NULL);
  ASSERT_EQ(a.error, UVF_EABORTED);
  ASSERT_LE((a.ended - fired) / 1000000, 50);
  uvf_client_free(&c);
  ts_stop(&srv);
}

/* Freeing the client from another thread ends such a call too, its URL
 * aborted, and the client's thread and loop end cleanly. */
TEST_IMPL(freeing_the_client_ends_a_call_running_in_its_callers_thread) {
  uvf_client *c = client_new(10);
  later_call a;
  pthread_t ta;
  start_long_call(c, &a, &ta);
  uvf_client_free(&c);
  pthread_join(ta, NULL);
  ASSERT_EQ(a.error, UVF_EABORTED);
  ts_stop(&srv);
}

/* A client that rested for a while runs the next call in the caller's
 * thread: its deadline still counts from the call, not from when the
 * loop last ran. */
TEST_IMPL(a_call_after_the_client_rested_keeps_its_whole_deadline) {
  uvf_client *c = client_new(10);
  uvf_results *rs = NULL;
  char *u;
  uint64_t t0;
  ts_start(&srv, NULL);
  u = urlf("/delay/2000");
  usleep(500 * 1000);
  t0 = uv_hrtime();
  ASSERT_EQ(uvf_client_fetch_all(c, (const char *const *)&u, 1, NULL, 300, &rs),
            UVF_OK);
  ASSERT_LE(280, ms_since(t0));
  ASSERT_EQ(uvf_results_get(rs, 0)->error, UVF_EDEADLINE);
  uvf_results_free(&rs);
  uvf_client_free(&c);
  free(u);
  ts_stop(&srv);
}

/* Calls that end at once (a URL that does not parse) from many threads:
 * tens of thousands of wake-ups of the loop, many of them racing the
 * loop's reading of the last one. A lost wake-up leaves a caller
 * waiting for ever; the watchdog turns that into a failure. */
#define TINY_THREADS 8
#define TINY_CALLS 3000

static uv_mutex_t tiny_lock;
static unsigned long tiny_done;

static void *tiny_calls(void *arg) {
  uvf_client *c = arg;
  const char *u[1] = {"not a url"};
  int i;
  for (i = 0; i < TINY_CALLS; i++) {
    uvf_results *rs = NULL;
    ASSERT_EQ(uvf_client_fetch_all(c, u, 1, NULL, 0, &rs), UVF_OK);
    ASSERT_EQ(uvf_results_get(rs, 0)->error, UVF_EINVALID_URL);
    uvf_results_free(&rs);
    uv_mutex_lock(&tiny_lock);
    tiny_done++;
    uv_mutex_unlock(&tiny_lock);
  }
  return NULL;
}

TEST_IMPL(racing_wake_ups_from_eight_threads_are_never_lost) {
  uvf_client *c = client_new(4);
  pthread_t t[TINY_THREADS];
  unsigned long seen = 0, now;
  uint64_t still = uv_hrtime();
  int i;
  uv_mutex_init(&tiny_lock);
  for (i = 0; i < TINY_THREADS; i++)
    ASSERT_EQ(pthread_create(&t[i], NULL, tiny_calls, c), 0);
  do { /* no call for 5 s: a wake-up was lost */
    usleep(10000);
    uv_mutex_lock(&tiny_lock);
    now = tiny_done;
    uv_mutex_unlock(&tiny_lock);
    if (now != seen) {
      seen = now;
      still = uv_hrtime();
    }
    if (ms_since(still) > 5000)
      FAIL("no call ended for 5 s: a wake-up was lost");
  } while (now < TINY_THREADS * TINY_CALLS);
  for (i = 0; i < TINY_THREADS; i++)
    pthread_join(t[i], NULL);
  uvf_client_free(&c);
  uv_mutex_destroy(&tiny_lock);
}

/* The handler's load: 320 transfers at once over five hosts, 64 each.
 * Connections stay open between calls even when one multi handle of the
 * engine carries the connections of several hosts. */
#define WIDE_HOSTS 5
#define WIDE_PER_HOST 64
#define WIDE (WIDE_HOSTS * WIDE_PER_HOST)

static void wide_call(uvf_client *c) {
  char *u[WIDE];
  uvf_results *rs = NULL;
  int j;
  for (j = 0; j < WIDE; j++)
    if (asprintf(&u[j], "http://127.0.0.%d:%d/delay/200?j=%d",
                 1 + j % WIDE_HOSTS, srv.port, j) < 0)
      FAIL("oom");
  ASSERT_EQ(
      uvf_client_fetch_all(c, (const char *const *)u, WIDE, NULL, 10000, &rs),
      UVF_OK);
  for (j = 0; j < WIDE; j++) {
    ASSERT(uvf_results_get(rs, (size_t)j)->ok);
    free(u[j]);
  }
  uvf_results_free(&rs);
}

TEST_IMPL(a_warm_client_at_320_in_flight_over_five_hosts_opens_no_connection) {
  uvf_client *c = client_new(WIDE);
  long warm;
  int i;
  ts_start(&srv, "127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5");
  wide_call(c);
  warm = ts_stat(&srv, "connections");
  ASSERT(warm > WIDE_PER_HOST && warm <= WIDE + 1); /* + ts_stat's own */
  for (i = 0; i < 3; i++)
    wide_call(c);
  ASSERT_EQ(ts_stat(&srv, "connections"), warm + 1);
  ASSERT_EQ(ts_stat(&srv, "requests"), 4 * WIDE);
  uvf_client_free(&c);
  ts_stop(&srv);
}

/* ---- bodies are binary ---- */

/* A one-shot HTTP server on a thread: answers one request with a body
 * of 1024 bytes where every fourth is NUL. */
typedef struct oneshot {
  int lfd, port;
} oneshot;

static void *oneshot_serve(void *arg) {
  oneshot *o = arg;
  char head[256], body[1024], req[4096];
  int fd = accept(o->lfd, NULL, NULL), i, n;
  for (i = 0; i < 1024; i++)
    body[i] = (char)(i % 4 ? 'a' + i % 26 : 0);
  if (fd < 0)
    return NULL;
  if (read(fd, req, sizeof(req)) <= 0)
    FAIL("no request");
  n = snprintf(head, sizeof(head),
               "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n"
               "Connection: close\r\n\r\n");
  if (write(fd, head, (size_t)n) != n || write(fd, body, 1024) != 1024)
    FAIL("write");
  close(fd);
  return NULL;
}

static void oneshot_start(oneshot *o, pthread_t *t) {
  struct sockaddr_in a;
  socklen_t len = sizeof(a);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  o->lfd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT(o->lfd >= 0);
  ASSERT_EQ(bind(o->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  ASSERT_EQ(listen(o->lfd, 4), 0);
  ASSERT_EQ(getsockname(o->lfd, (struct sockaddr *)&a, &len), 0);
  o->port = ntohs(a.sin_port);
  ASSERT_EQ(pthread_create(t, NULL, oneshot_serve, o), 0);
}

TEST_IMPL(kept_bodies_are_binary_nul_bytes_included) {
  uvf_options opts;
  uvf_results *rs = NULL;
  const uvf_result *r;
  oneshot o;
  pthread_t t;
  char url[64];
  const char *u[1] = {url};
  int i;
  oneshot_start(&o, &t);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/bin", o.port);
  uvf_options_init(&opts);
  opts.keep_body = 1;
  ASSERT_EQ(uvf_fetch_all(u, 1, &opts, 0, &rs), UVF_OK);
  pthread_join(t, NULL);
  close(o.lfd);
  r = uvf_results_get(rs, 0);
  ASSERT(r->ok);
  ASSERT_EQ(r->bytes, 1024);
  for (i = 0; i < 1024; i++)
    if (r->body[i] != (char)(i % 4 ? 'a' + i % 26 : 0))
      FAIL("byte %d differs", i);
  ASSERT_EQ(r->body[1024], '\0');
  uvf_results_free(&rs);
}

/* ---- the API's edges ---- */

TEST_IMPL(every_function_takes_null_handles) {
  uvf_result *r = NULL;
  uvf_stats st;
  ASSERT_EQ(uvf_submit(NULL, "http://x/", 0, NULL), UVF_EINVAL);
  ASSERT_EQ(uvf_end_input(NULL), UVF_EINVAL);
  ASSERT_EQ(uvf_drain(NULL), UVF_EINVAL);
  ASSERT_EQ(uvf_abort(NULL, UVF_EABORTED), UVF_EINVAL);
  uvf_pause(NULL);
  uvf_resume(NULL);
  memset(&st, 0x55, sizeof(st));
  uvf_get_stats(NULL, &st);
  ASSERT_EQ(st.done, 0x5555555555555555ULL); /* untouched */
  uvf_fetcher_close(NULL, NULL);
  ASSERT_EQ(uvf_client_new(NULL, NULL), UVF_EINVAL);
  uvf_client_free(NULL);
  ASSERT_EQ(uvf_client_cancel_all(NULL), UVF_EINVAL);
  ASSERT_EQ(uvf_call_start(NULL, NULL, NULL, 0), UVF_EINVAL);
  ASSERT_EQ(uvf_call_submit(NULL, "x", 0, NULL), UVF_EINVAL);
  ASSERT_EQ(uvf_call_end_input(NULL), UVF_EINVAL);
  ASSERT_EQ(uvf_call_next(NULL, 0, &r), UVF_EINVAL);
  ASSERT_EQ(uvf_call_cancel(NULL), UVF_EINVAL);
  ASSERT_EQ(uvf_call_fd(NULL), UVF_EINVAL);
  uvf_call_free(NULL);
  uvf_result_free(NULL);
  ASSERT_EQ(uvf_results_count(NULL), 0);
  ASSERT(uvf_results_get(NULL, 0) == NULL);
  uvf_results_free(NULL);
  ASSERT_EQ(uvf_fetch_all(NULL, 1, NULL, 0, NULL), UVF_EINVAL);
}

/* A caller built against an older header hands in smaller structs: the
 * fields it lacks take their defaults. */
TEST_IMPL(options_of_an_older_size_are_accepted_and_a_bad_size_refused) {
  uvf_options o;
  uvf_results *rs = NULL;
  const char *u[1] = {"not a url"};
  uvf_options_init(&o);
  ASSERT_EQ(o.size, sizeof(o));
  o.size = sizeof(size_t); /* no field at all: not a version we made */
  ASSERT_EQ(uvf_fetch_all(u, 1, &o, 0, &rs), UVF_EINVAL);
  o.size = sizeof(o);
  o.rate_per_host = 1e-9; /* would overflow the spacing */
  ASSERT_EQ(uvf_fetch_all(u, 1, &o, 0, &rs), UVF_EINVAL);
  uvf_options_init(&o);
  o.max_body = UINT64_MAX; /* libcurl takes at most INT64_MAX */
  ASSERT_EQ(uvf_fetch_all(u, 1, &o, 0, &rs), UVF_EINVAL);
  ASSERT(rs == NULL);
}

int main(int argc, char **argv) {
  static const test_entry tests[] = {
      TEST_ENTRY(client_fetch_all_gives_one_result_per_url_by_index),
      TEST_ENTRY(call_streams_results_in_completion_order),
      TEST_ENTRY(a_call_ends_with_its_input_not_when_its_results_are_all_taken),
      TEST_ENTRY(call_submit_waits_for_the_caller_past_twice_n),
      TEST_ENTRY(cancel_from_another_thread_returns_within_50_ms),
      TEST_ENTRY(call_deadline_ends_what_is_left_as_deadline),
      TEST_ENTRY(urls_submitted_as_the_deadline_ends_a_call_still_get_results),
      TEST_ENTRY(eight_threads_share_one_client_and_every_result_is_right),
      TEST_ENTRY(a_call_that_outlasts_the_caller_running_the_loop_still_ends),
      TEST_ENTRY(cancel_all_ends_a_call_running_in_its_callers_thread),
      TEST_ENTRY(freeing_the_client_ends_a_call_running_in_its_callers_thread),
      TEST_ENTRY(a_call_after_the_client_rested_keeps_its_whole_deadline),
      TEST_ENTRY(racing_wake_ups_from_eight_threads_are_never_lost),
      TEST_ENTRY(
          a_warm_client_at_320_in_flight_over_five_hosts_opens_no_connection),
      TEST_ENTRY(kept_bodies_are_binary_nul_bytes_included),
      TEST_ENTRY(every_function_takes_null_handles),
      TEST_ENTRY(options_of_an_older_size_are_accepted_and_a_bad_size_refused),
  };
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
