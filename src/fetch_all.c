/* The blocking call on a private loop: a fetcher fed from the caller's
 * array, a deadline timer, and results copied out by index. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
  const char *const *urls;
  size_t n, next;
  uvf_results *rs;
  uvf_fetcher *f;
  uv_timer_t deadline;
  int deadline_on;
  int oom;
} fa_ctx;

static int fa_next(void *ud, const char **url, uint64_t *tag) {
  fa_ctx *c = ud;
  if (c->next >= c->n)
    return 0;
  *tag = c->next;
  *url = c->urls[c->next++];
  return 1;
}

static void fa_result(void *ud, const uvf_result *r) {
  fa_ctx *c = ud;
  if (uvf__result_copy(uvf__results_at(c->rs, r->index), r))
    c->oom = 1;
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

/* URLs the source never handed over still need their record. */
static void fill_unstarted(fa_ctx *c) {
  uvf_result r;
  size_t i;
  memset(&r, 0, sizeof(r));
  r.error = UVF_EDEADLINE;
  r.message = uvf_strerror(UVF_EDEADLINE);
  for (i = c->next; i < c->n; i++) {
    r.index = r.tag = i;
    r.url = c->urls[i];
    if (uvf__result_copy(uvf__results_at(c->rs, i), &r))
      c->oom = 1;
  }
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
  fill_unstarted(c);
  return c->oom ? UVF_ENOMEM : 0;
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
  c.urls = urls;
  c.n = n;
  if (!(c.rs = uvf__results_new(n)))
    return UVF_ENOMEM;
  if (uv_loop_init(&loop)) {
    uvf_results_free(&c.rs);
    return UVF_EBACKEND;
  }
  rc = run(&c, &loop, o, deadline_ms);
  if (uv_loop_close(&loop) != 0 && rc == 0)
    rc = UVF_EBACKEND; /* a handle of ours left on the loop: a bug */
  if (rc) {
    uvf_results_free(&c.rs);
    return rc;
  }
  *out = c.rs;
  return UVF_OK;
}
