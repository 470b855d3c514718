/* A caller built against this header, linked with a copy of the library
 * whose structs have one more field at the end (built with
 * UVF_TEST_GROWN_ABI): nothing of the caller's is overwritten, the fields
 * it knows keep their meaning, and the library sees the defaults for the
 * field the caller does not know. */
#include "harness.h"

#define CANARY 0x5a5a5a5a5a5a5a5aULL

static ts_server srv;

typedef struct {
  uvf_options o;
  uint64_t canary;
} guarded_options;

typedef struct {
  uvf_stats s;
  uint64_t canary;
} guarded_stats;

typedef struct {
  uvf_callbacks cb;
  uint64_t canary;
} guarded_callbacks;

typedef struct {
  uv_loop_t loop;
  uvf_fetcher *f;
  int results, done;
  guarded_stats st;
} run;

static void on_result(void *ud, const uvf_result *r) {
  run *a = ud;
  ASSERT(r->size > sizeof(*r)); /* made by the grown library */
  ASSERT(r->ok);
  ASSERT_EQ(r->http_version, 11);
  a->results++;
}

static void on_done(void *ud) {
  run *a = ud;
  a->st.canary = CANARY;
  uvf_get_stats(a->f, &a->st.s);
  ASSERT_EQ(a->st.canary, CANARY);
  ASSERT_EQ(a->st.s.done, 3);
  a->done = 1;
  uvf_fetcher_close(a->f, NULL);
}

TEST_IMPL(abi_caller_built_against_this_header_runs_with_a_grown_library) {
  guarded_options g;
  guarded_callbacks gcb;
  uvf_results *rs = NULL;
  run a;
  char *u[3];
  size_t i;
  ts_start(&srv, NULL);
  for (i = 0; i < 3; i++)
    if (asprintf(&u[i], "http://127.0.0.1:%d/bytes/%zu", srv.port, i) < 0)
      FAIL("oom");
  g.canary = CANARY;
  uvf_options_init(&g.o);
  ASSERT_EQ(g.canary, CANARY);
  ASSERT_EQ(g.o.size, sizeof(g.o));
  g.o.max_in_flight = 2;
  ASSERT_EQ(uvf_fetch_all((const char *const *)u, 3, &g.o, 0, &rs), UVF_OK);
  for (i = 0; i < 3; i++) {
    const uvf_result *r = uvf_results_get(rs, i);
    ASSERT_EQ(r->index, i);
    ASSERT_EQ(r->bytes, i);
    ASSERT_EQ(r->status, 200);
  }
  uvf_results_free(&rs);
  memset(&a, 0, sizeof(a));
  ASSERT_EQ(uv_loop_init(&a.loop), 0);
  gcb.canary = CANARY;
  uvf_callbacks_init(&gcb.cb);
  ASSERT_EQ(gcb.canary, CANARY);
  gcb.cb.on_result = on_result;
  gcb.cb.on_done = on_done;
  ASSERT_EQ(uvf_fetcher_new(&a.f, &a.loop, &g.o, &gcb.cb, &a), UVF_OK);
  for (i = 0; i < 3; i++)
    ASSERT_EQ(uvf_submit(a.f, u[i], i, NULL), UVF_OK);
  uvf_end_input(a.f);
  uv_run(&a.loop, UV_RUN_DEFAULT);
  ASSERT_EQ(a.results, 3);
  ASSERT(a.done);
  ASSERT_EQ(uv_loop_close(&a.loop), 0);
  for (i = 0; i < 3; i++)
    free(u[i]);
  ts_stop(&srv);
}

int main(int argc, char **argv) {
  static const test_entry tests[] = {
      TEST_ENTRY(
          abi_caller_built_against_this_header_runs_with_a_grown_library),
  };
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
