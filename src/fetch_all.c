/* The blocking call on a private loop: a fetcher fed from the caller's
 * array and collected by index, with a deadline timer. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
  uvf__collector col;
  uvf_fetcher *f;
  uv_timer_t deadline;
  int deadline_on;
} fa_ctx;

static int fa_next(void *ud, const char **url, uint64_t *tag) {
  return uvf__collector_next(&((fa_ctx *)ud)->col, url, tag);
}

static void fa_result(void *ud, const uvf_result *r) {
  uvf__collector_put(&((fa_ctx *)ud)->col, r);
}

static void fa_done(void *ud) {
  fa_ctx *c = ud;
  if (c->deadline_on) {
    c->deadline_on = 0;
    uv_close((uv_handle_t *)&c->deadline, NULL);
  }
  uvf_fetcher_close(c->f, NULL);
}

static void fa_deadline(uv_timer_t *t) {
  fa_ctx *c = t->data;
  uvf_abort(c->f, UVF_EDEADLINE);
}

static int run(fa_ctx *c, uv_loop_t *loop, const uvf_options *o,
               long deadline_ms) {
  uvf_callbacks cb;
  int rc;
  uvf_callbacks_init(&cb);
  cb.next = fa_next;
  cb.on_result = fa_result;
  cb.on_done = fa_done;
  if ((rc = uvf_fetcher_new(&c->f, loop, o, &cb, c)))
    return rc;
  if (deadline_ms > 0) {
    uv_timer_init(loop, &c->deadline);
    c->deadline.data = c;
    uv_timer_start(&c->deadline, fa_deadline, (uint64_t)deadline_ms, 0);
    c->deadline_on = 1;
  }
  uv_run(loop, UV_RUN_DEFAULT);
  return 0;
}

int uvf_fetch_all(const char *const *urls, size_t n, const uvf_options *o,
                  long deadline_ms, uvf_results **out) {
  fa_ctx c;
  uvf_options defaults;
  uv_loop_t loop;
  int rc;
  if ((n && !urls) || !out || deadline_ms < 0)
    return UVF_EINVAL;
  if (!o) {
    uvf_options_init(&defaults);
    o = &defaults;
  }
  memset(&c, 0, sizeof(c));
  if (uvf__collector_init(&c.col, urls, n))
    return UVF_ENOMEM;
  if (uv_loop_init(&loop)) {
    uvf__collector_free(&c.col);
    return UVF_EBACKEND;
  }
  rc = run(&c, &loop, o, deadline_ms);
  if (uv_loop_close(&loop) != 0 && rc == 0)
    rc = UVF_EBACKEND; /* a handle of ours left on the loop: a bug */
  if (rc) {
    uvf__collector_free(&c.col);
    return rc;
  }
  return uvf__collector_finish(&c.col, UVF_EDEADLINE, out);
}
