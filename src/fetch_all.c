/* The blocking call: a private loop, a fetcher fed from the caller's array,
 * a deadline timer, and results copied out by index. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef struct {
  const char *const *urls;
  size_t n, next;
  uvf_result *res;
  uvf_fetcher *f;
  uv_timer_t deadline;
  int deadline_on;
} fa_ctx;

static char *dup_str(const char *s) { return s ? strdup(s) : NULL; }

static uvf_attempt *dup_history(const uvf_result *r) {
  uvf_attempt *h;
  if (!r->n_history || !(h = malloc(r->n_history * sizeof(*h))))
    return NULL;
  memcpy(h, r->history, r->n_history * sizeof(*h));
  return h;
}

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
  uvf_result *d = &c->res[r->index];
  *d = *r;
  d->url = dup_str(r->url);
  d->final_url = dup_str(r->final_url);
  d->message = dup_str(r->message);
  d->body = dup_str(r->body);
  d->history = dup_history(r);
  d->n_history = d->history ? r->n_history : 0;
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
  size_t i;
  for (i = c->next; i < c->n; i++) {
    uvf_result *d = &c->res[i];
    memset(d, 0, sizeof(*d));
    d->index = d->tag = i;
    d->url = dup_str(c->urls[i]);
    d->error = UVF_EDEADLINE;
    d->message = dup_str(uvf_strerror(UVF_EDEADLINE));
  }
}

int uvf_fetch_all(const char *const *urls, size_t n, const uvf_options *o,
                  long deadline_ms, uvf_result *results) {
  uvf_callbacks cb = {fa_next, NULL, NULL, fa_result, fa_done};
  uvf_options defaults;
  fa_ctx c = {urls, n, 0, results, NULL, {0}, 0};
  uv_loop_t loop;
  int rc;
  if ((n && (!urls || !results)) || deadline_ms < 0)
    return UVF_EINVAL;
  if (!o) {
    uvf_options_init(&defaults);
    o = &defaults;
  }
  if (uv_loop_init(&loop))
    return UVF_EBACKEND;
  if ((rc = uvf_fetcher_new(&c.f, &loop, o, &cb, &c))) {
    uv_loop_close(&loop);
    return rc;
  }
  if (deadline_ms > 0) {
    uv_timer_init(&loop, &c.deadline);
    c.deadline.data = &c;
    uv_timer_start(&c.deadline, fa_deadline, (uint64_t)deadline_ms, 0);
    c.deadline_on = 1;
  }
  uv_run(&loop, UV_RUN_DEFAULT);
  fill_unstarted(&c);
  return uv_loop_close(&loop) == 0 ? UVF_OK : UVF_EBACKEND;
}

void uvf_results_free(uvf_result *results, size_t n) {
  size_t i;
  for (i = 0; results && i < n; i++) {
    free((char *)results[i].url);
    free((char *)results[i].final_url);
    free((char *)results[i].message);
    free((char *)results[i].body);
    free((uvf_attempt *)results[i].history);
    results[i].history = NULL;
    results[i].n_history = 0;
    results[i].url = results[i].final_url = NULL;
    results[i].message = results[i].body = NULL;
  }
}
