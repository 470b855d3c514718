/* Public entry points: options, and a fetcher's life from new to close. A
 * fetcher is a batch on an engine of its own, made on the caller's loop. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *uvf_version(void) { return UVF_VERSION_STRING; }

/* The smallest structs a caller may hand in: those of 0.2.0, the first
 * version with sizes. Later fields take their defaults for older callers. */
#define OPTIONS_MIN (offsetof(uvf_options, idle_timeout_ms) + sizeof(long))
#define CALLBACKS_MIN                                                          \
  (offsetof(uvf_callbacks, on_done) + sizeof(void (*)(void *)))

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

static void defaults(uvf_options *o) {
  memset(o, 0, sizeof(*o));
  o->size = sizeof(*o);
  o->max_in_flight = 50;
  o->timeout_ms = 30000;
  o->connect_timeout_ms = 10000;
  o->max_redirects = 10;
  o->retry_base_ms = 500;
  o->retry_max_ms = 30000;
  o->max_lookups = 64;
  o->max_streams = 100;
  o->idle_timeout_ms = 118000;
  o->max_header_bytes = 65536;
}

void uvf_options_init_size(uvf_options *o, size_t size) {
  uvf_options d;
  if (!o || size < sizeof(size_t))
    return;
  defaults(&d);
  d.size = min_size(size, sizeof(d));
  memcpy(o, &d, d.size);
}

void uvf_callbacks_init_size(uvf_callbacks *cb, size_t size) {
  if (!cb || size < sizeof(size_t))
    return;
  memset(cb, 0, size);
  cb->size = min_size(size, sizeof(*cb));
}

static int check_options(const uvf_options *o) {
  return o->max_in_flight >= 1 && o->max_in_flight <= UVF_MAX_IN_FLIGHT &&
         o->timeout_ms >= 0 && o->connect_timeout_ms >= 0 &&
         o->max_redirects >= -1 && o->retry_base_ms >= 0 &&
         o->retry_max_ms >= 0 && o->low_speed_limit >= 0 &&
         o->low_speed_time >= 0 &&
         (o->rate_per_host == 0 ||
          (o->rate_per_host >= 0.001 && o->rate_per_host <= 1e6)) &&
         o->max_body <= INT64_MAX && o->idle_timeout_ms >= 0 &&
         (!o->n_headers || o->headers) && o->http_version >= UVF_HTTP_AUTO &&
         o->http_version <= UVF_HTTP_2_PRIOR && o->max_streams >= 1 &&
         o->max_streams <= 65535;
}

/* A full-size copy of the caller's options, whatever header it was built
 * with: fields its struct does not have keep their defaults. */
int uvf__options_read(uvf_options *dst, const uvf_options *src) {
  if (!src || src->size < OPTIONS_MIN)
    return UVF_EINVAL;
  defaults(dst);
  memcpy(dst, src, min_size(src->size, sizeof(*dst)));
  dst->size = sizeof(*dst);
  return check_options(dst) ? 0 : UVF_EINVAL;
}

static int callbacks_read(uvf_callbacks *dst, const uvf_callbacks *src) {
  if (!src || src->size < CALLBACKS_MIN)
    return UVF_EINVAL;
  memset(dst, 0, sizeof(*dst));
  memcpy(dst, src, min_size(src->size, sizeof(*dst)));
  dst->size = sizeof(*dst);
  return dst->on_result && !(dst->next && dst->next_request) ? 0 : UVF_EINVAL;
}

static char *dup_or_null(const char *s, int *oom) {
  char *d;
  if (!s)
    return NULL;
  if (!(d = uvf__strdup(s)))
    *oom = 1;
  return d;
}

/* The batch keeps copies of the strings; the caller's may go. */
static int copy_options(uvf__batch *b, const uvf_options *o) {
  int oom = 0;
  size_t i;
  b->o = *o;
  b->o.headers = NULL;
  b->o.user_agent = b->o.accept_encoding = NULL;
  b->o.ca_file = b->o.ca_path = NULL; /* the engine's */
  if (!b->o.max_waiting)
    b->o.max_waiting = b->o.max_in_flight > UINT32_MAX / 4
                           ? UINT32_MAX
                           : 4 * b->o.max_in_flight;
  b->user_agent = o->user_agent ? dup_or_null(o->user_agent, &oom)
                                : uvf__strdup("uvfetch/" UVF_VERSION_STRING);
  b->accept_encoding = dup_or_null(o->accept_encoding, &oom);
  for (i = 0; i < o->n_headers; i++) {
    struct curl_slist *l = curl_slist_append(b->headers, o->headers[i]);
    if (!l)
      return UVF_ENOMEM;
    b->headers = l; /* the list is copied, strings and all */
    b->idem_key |= uvf__header_is(o->headers[i], "Idempotency-Key");
  }
  return oom || !b->user_agent ? UVF_ENOMEM : 0;
}

/* What a batch holds besides its libuv handles. */
void uvf__batch_free(uvf__batch *b) {
  curl_slist_free_all(b->headers);
  curl_url_cleanup(b->cu);
  free(b->user_agent);
  free(b->accept_encoding);
  free(b);
}

/* Everything that can fail, before the batch touches an engine. The
 * options and callbacks have been read (full size, checked). */
int uvf__batch_alloc(uvf__batch **out, const uvf_options *o,
                     const uvf_callbacks *cb, void *ud) {
  uvf__batch *b = uvf__calloc(1, sizeof(*b));
  int rc;
  if (!b)
    return UVF_ENOMEM;
  b->cb = *cb;
  b->ud = ud;
  uvf__lists_init(&b->queue, &b->live, &b->hosts, &b->lookup, &b->tls_wait,
                  &b->ready, &b->timed, &b->retry_wait, &b->retry_ready, NULL);
  if ((rc = copy_options(b, o)) || !(b->cu = curl_url())) {
    uvf__batch_free(b);
    return rc ? rc : UVF_ENOMEM;
  }
  *out = b;
  return 0;
}

static void on_deadline(uv_timer_t *t) {
  uvf__abort_all(t->data, UVF_EDEADLINE);
}

/* Cannot fail: timers only. */
void uvf__batch_attach(uvf__batch *b, uvf__engine *e) {
  b->e = e;
  uvf__retry_init(b);
  uvf__polite_init(b);
  uv_timer_init(e->loop, &b->deadline_timer);
  b->deadline_timer.data = b;
  b->open_handles++;
  if (b->deadline_ms > 0)
    uv_timer_start(&b->deadline_timer, on_deadline, (uint64_t)b->deadline_ms,
                   0);
  uvf__list_push(&e->batches, &b->engine_link);
}

int uvf_fetcher_new(uvf_fetcher **out, uv_loop_t *loop, const uvf_options *opts,
                    const uvf_callbacks *cbs, void *ud) {
  uvf__engine *e;
  uvf__batch *b;
  uvf_options o;
  uvf_callbacks cb;
  int rc;
  if (!out || !loop || uvf__options_read(&o, opts) || callbacks_read(&cb, cbs))
    return UVF_EINVAL;
  if ((rc = uvf__batch_alloc(&b, &o, &cb, ud)))
    return rc;
  if ((rc = uvf__engine_new(&e, loop, &o))) { /* none of its handles left */
    uvf__batch_free(b);
    return rc;
  }
  uvf__batch_attach(b, e);
  b->owns_engine = 1;
  uvf__batch_kick(b); /* it starts on the next loop iteration */
  *out = b;
  return 0;
}

static void on_batch_handle_close(uv_handle_t *h);

/* Only forward: a later state keeps every restriction of the earlier
 * ones. Returns the state it was in. From ABORTED on, whatever is left
 * ends as aborted (nothing, when uvf_abort() ran); going to CLOSED ends
 * the batch's handles, and its memory goes in their close callbacks. */
int uvf__batch_set_state(uvf__batch *b, int state) {
  int was = b->state;
  if (state <= was)
    return was;
  b->state = state;
  if (state >= UVF__ABORTED)
    uvf__abort_all(b, UVF_EABORTED);
  if (state == UVF__CLOSED) {
    uv_close((uv_handle_t *)&b->retry_timer, on_batch_handle_close);
    uv_close((uv_handle_t *)&b->polite_timer, on_batch_handle_close);
    uv_close((uv_handle_t *)&b->deadline_timer, on_batch_handle_close);
  }
  return was;
}

/* Asks for admission on the next loop iteration. */
void uvf__batch_kick(uvf__batch *b) {
  b->admit_due = 1;
  uvf__engine_kick(b->e);
}

static void on_batch_handle_close(uv_handle_t *h) {
  uvf__batch *b = h->data;
  uvf__engine *e = b->e;
  uvf__link *l;
  if (--b->open_handles > 0)
    return;
  uvf__list_remove(&b->engine_link);
  /* Pooled handles set up for this batch must be set up again. */
  UVF__LIST_FOREACH(l, &e->idle_xfers) {
    uvf__xfer *x = UVF__CONTAINER(l, uvf__xfer, link);
    if (x->b == b)
      x->b = NULL;
  }
  if (b->on_freed)
    b->on_freed(b->ud);
  uvf__batch_free(b);
  uvf__engine_handle_closed(e);
}

int uvf_submit(uvf_fetcher *b, const char *url, uint64_t tag, uint64_t *index) {
  int rc;
  if (!b || !url)
    return UVF_EINVAL;
  if (b->state >= UVF__ABORTED || b->input_ended)
    return UVF_ESTATE;
  if ((rc = uvf__enqueue(b, url, tag, index)))
    return rc;
  uvf__batch_kick(b);
  return 0;
}

int uvf_submit_request(uvf_fetcher *b, const uvf_request *rq, uint64_t *index) {
  uvf__url *u;
  if (!b || uvf__request_check(rq))
    return UVF_EINVAL;
  if (b->state >= UVF__ABORTED || b->input_ended)
    return UVF_ESTATE;
  if (!(u = uvf__url_make(rq->url, rq, rq->tag)))
    return UVF_ENOMEM;
  uvf__enqueue_made(b, u, index);
  uvf__batch_kick(b);
  return 0;
}

int uvf_end_input(uvf_fetcher *b) {
  if (!b)
    return UVF_EINVAL;
  b->input_ended = 1;
  if (b->state < UVF__CLOSING)
    uvf__batch_kick(b); /* on_done may be due now */
  return 0;
}

void uvf_pause(uvf_fetcher *b) {
  if (b)
    b->paused = 1;
}

void uvf_resume(uvf_fetcher *b) {
  if (!b)
    return;
  b->paused = 0;
  b->source_empty = 0;
  if (b->state < UVF__CLOSING)
    uvf__batch_kick(b);
}

int uvf_drain(uvf_fetcher *b) {
  if (!b)
    return UVF_EINVAL;
  uvf__batch_set_state(b, UVF__DRAINING);
  return 0;
}

int uvf_abort(uvf_fetcher *b, uvf_err kind) {
  if (!b || (kind != UVF_EABORTED && kind != UVF_EDEADLINE))
    return UVF_EINVAL;
  if (b->e->in_curl)
    return UVF_ESTATE;
  uvf__abort_all(b, kind);
  return 0;
}

void uvf_get_stats_size(const uvf_fetcher *b, uvf_stats *s, size_t size) {
  uvf_stats st;
  if (!b || !s)
    return;
  st = b->st;
  st.waiting = uvf__waiting(b);
  memcpy(s, &st, min_size(size, sizeof(st)));
}

void uvf__deliver(uvf__batch *b, uvf_result *r) {
  r->size = sizeof(*r);
  b->st.done++;
  b->st.bytes += r->bytes;
  if (r->ok)
    b->st.ok++;
  b->cb.on_result(b->ud, r);
}

/* Aborts what is left now, unless inside libcurl (on_body, on_start), where
 * removing transfers is not allowed: then the engine's teardown on the
 * next loop iteration does it. */
void uvf_fetcher_close(uvf_fetcher *b, void (*close_cb)(void *ud)) {
  if (!b || b->state >= UVF__CLOSING)
    return;
  if (b->e->in_curl) {
    b->state = UVF__CLOSING; /* the abort waits for the loop */
    uvf__batch_kick(b);
  } else {
    uvf__batch_set_state(b, b->owns_engine ? UVF__CLOSING : UVF__CLOSED);
  }
  if (b->owns_engine)
    uvf__engine_close(b->e, close_cb, b->ud);
}
