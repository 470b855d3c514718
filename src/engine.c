/* The engine: what every batch on one loop shares, from creation to the
 * last close callback. See internal.h for what it owns. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* One DNS cache and one TLS session cache for every group (libcurl 7.88
 * keeps sessions per easy handle otherwise, so a new connection resumed
 * only if its pooled handle had met the host before). Connections stay
 * per group. The loop is single-threaded: no lock callbacks needed. */
static int make_share(uvf__engine *e) {
  CURLSHcode sc;
  if (!(e->share = curl_share_init()))
    return UVF_ENOMEM;
  if ((sc = curl_share_setopt(e->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS)) ||
      (sc = curl_share_setopt(e->share, CURLSHOPT_SHARE,
                              CURL_LOCK_DATA_SSL_SESSION)))
    return sc == CURLSHE_NOMEM ? UVF_ENOMEM : UVF_EBACKEND;
  return 0;
}

/* Frees what the engine still holds once no handle is open. */
static void release(uvf__engine *e) {
  void (*cb)(void *ud) = e->on_closed;
  void *ud = e->closed_ud;
  unsigned i;
  uvf__xfers_free(e);
  curl_share_cleanup(e->share); /* after the easy handles that use it */
  for (i = 0; i < e->ngroups; i++)
    free(e->groups[i]);
  free(e->groups);
  uvf__origins_free(&e->origins);
  uvf__tls_free(e);
  free(e->polls);
  free(e);
  curl_global_cleanup();
  if (cb)
    cb(ud);
}

static void on_idle(uv_idle_t *i);

/* Whether any variable libcurl takes a proxy from is set. When none is,
 * the engine tells libcurl "no proxy" outright instead of letting it read
 * them again for every transfer; so a long-lived client sees proxy
 * variables as they were when it was made. */
static int proxy_env(void) {
  static const char *const names[] = {
      "http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
      "ALL_PROXY",  "no_proxy",    "NO_PROXY"};
  size_t i;
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (getenv(names[i]))
      return 1;
  return 0;
}

int uvf__engine_new(uvf__engine **out, uv_loop_t *loop, const uvf_options *o) {
  uvf__engine *e;
  int rc;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return UVF_EBACKEND;
  if (!(e = uvf__calloc(1, sizeof(*e)))) {
    curl_global_cleanup();
    return UVF_ENOMEM;
  }
  e->loop = loop;
  e->max_lookups = o->max_lookups;
  e->max_handshakes = o->max_handshakes;
  e->max_streams = o->max_streams;
  e->proxy_env = proxy_env();
  uvf__lists_init(&e->due, &e->batches, &e->paused, &e->idle_xfers, NULL);
  /* The first group last: it is the only part that puts a handle on the
   * loop, so a failure before it leaves none behind. */
  if ((rc = make_share(e)) || (rc = uvf__tls_init(e, o)) ||
      (rc = uvf__origins_init(&e->origins)) || !uvf__engine_group(e, 0)) {
    release(e);
    return rc ? rc : UVF_ENOMEM;
  }
  /* Handles that cannot fail last, so an error leaves none behind. */
  uv_idle_init(loop, &e->idle);
  e->idle.data = e;
  uv_timer_init(loop, &e->pause_timer);
  e->pause_timer.data = e;
  uvf__tls_gate_init(e);
  e->open_handles += 3;
  *out = e;
  return 0;
}

/* The group of that index, made if it is the next one; NULL on failure. */
uvf__group *uvf__engine_group(uvf__engine *e, unsigned index) {
  uvf__group **grown, *g;
  if (index < e->ngroups)
    return e->groups[index];
  if (index != e->ngroups || e->state != UVF__ENGINE_RUNNING)
    return NULL;
  if (!(grown = uvf__realloc(e->groups, (e->ngroups + 1) * sizeof(*grown))))
    return NULL;
  e->groups = grown;
  if (uvf__group_new(e, index, &g))
    return NULL;
  e->groups[e->ngroups++] = g;
  return g;
}

void uvf__engine_kick(uvf__engine *e) {
  if (e->state != UVF__ENGINE_CLOSED)
    uv_idle_start(&e->idle, on_idle);
}

/* Engine-wide room came free (a lookup slot): every batch may go on. */
void uvf__engine_admit_all(uvf__engine *e) {
  uvf__link *l;
  UVF__LIST_FOREACH(l, &e->batches)
  uvf__batch_kick(UVF__CONTAINER(l, uvf__batch, engine_link));
}

static void on_handle_close(uv_handle_t *h) {
  uvf__engine *e = h->data;
  e->open_handles--;
  uvf__engine_handle_closed(e);
}

/* Runs admission for the batches that asked for it. */
void uvf__engine_admit_due(uvf__engine *e) {
  uvf__link *l;
  for (l = e->batches.next; l != &e->batches;) {
    uvf__batch *b = UVF__CONTAINER(l, uvf__batch, engine_link);
    l = l->next; /* admission may close and unlink b */
    if (b->admit_due) {
      b->admit_due = 0;
      uvf__admit(b);
    }
  }
}

/* Every batch ends (their results delivered), then R12's order: clean up
 * the multi handles, then close every libuv handle; memory goes in the
 * last close callback. */
static void teardown(uvf__engine *e) {
  uvf__link *l = e->batches.next;
  unsigned i;
  while (l != &e->batches) {
    uvf__batch *b = UVF__CONTAINER(l, uvf__batch, engine_link);
    l = l->next;
    uvf__batch_set_state(b, UVF__CLOSED);
  }
  e->state = UVF__ENGINE_CLOSED;
  for (i = 0; i < e->ngroups; i++) {
    curl_multi_cleanup(e->groups[i]->multi);
    e->groups[i]->multi = NULL;
  }
  uvf__loop_close_polls(e);
  for (i = 0; i < e->ngroups; i++)
    uvf__group_close(e->groups[i]);
  uv_close((uv_handle_t *)&e->idle, on_handle_close);
  uv_close((uv_handle_t *)&e->pause_timer, on_handle_close);
  uv_close((uv_handle_t *)&e->gate_timer, on_handle_close);
}

/* The idle callback runs libcurl's timeouts of 0 (R7), deferred admission
 * and teardown: never from inside libcurl or our own loops. */
static void on_idle(uv_idle_t *i) {
  uvf__engine *e = i->data;
  uv_idle_stop(i);
  if (e->state == UVF__ENGINE_CLOSING) {
    teardown(e);
    return;
  }
  uvf__loop_run_due(e);
  uvf__engine_admit_due(e);
}

/* Teardown waits for the idle callback: close may be asked for from a
 * result callback, deep inside admission or the loop glue. */
void uvf__engine_close(uvf__engine *e, void (*cb)(void *ud), void *ud) {
  if (e->state != UVF__ENGINE_RUNNING)
    return;
  e->state = UVF__ENGINE_CLOSING;
  e->on_closed = cb;
  e->closed_ud = ud;
  uv_idle_start(&e->idle, on_idle);
}

void uvf__engine_handle_closed(uvf__engine *e) {
  if (e->open_handles > 0 || e->state != UVF__ENGINE_CLOSED ||
      !uvf__list_empty(&e->batches))
    return;
  release(e);
}
