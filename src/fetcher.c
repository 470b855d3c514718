/* Public entry points: options, a fetcher's life from new to close. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

const char *uvf_version(void) { return UVF_VERSION_STRING; }

void uvf_options_init(uvf_options *o) {
  memset(o, 0, sizeof(*o));
  o->max_in_flight = 50;
  o->timeout_ms = 30000;
  o->connect_timeout_ms = 10000;
  o->max_redirects = 10;
  o->retry_base_ms = 500;
  o->retry_max_ms = 30000;
  o->max_lookups = 64;
  o->max_streams = 1000;
}

static char *dup_or_null(const char *s, int *oom) {
  char *d;
  if (!s)
    return NULL;
  if (!(d = strdup(s)))
    *oom = 1;
  return d;
}

static int copy_options(uvf_fetcher *f, const uvf_options *o) {
  int oom = 0;
  size_t i;
  f->o = *o;
  f->o.headers = NULL;
  f->o.user_agent = NULL;
  f->o.accept_encoding = NULL;
  f->o.ca_file = f->o.ca_path = NULL; /* uvf__tls_init() keeps copies */
  if (!f->o.max_waiting)
    f->o.max_waiting = f->o.max_in_flight > UINT32_MAX / 4
                           ? UINT32_MAX
                           : 4 * f->o.max_in_flight;
  f->user_agent = o->user_agent ? dup_or_null(o->user_agent, &oom)
                                : strdup("uvfetch/" UVF_VERSION_STRING);
  f->accept_encoding = dup_or_null(o->accept_encoding, &oom);
  for (i = 0; i < o->n_headers; i++) {
    struct curl_slist *l = curl_slist_append(f->headers, o->headers[i]);
    if (!l)
      return UVF_ENOMEM;
    f->headers = l; /* the list is copied, strings and all */
  }
  return oom || !f->user_agent ? UVF_ENOMEM : 0;
}

static int check_args(uv_loop_t *loop, const uvf_options *o,
                      const uvf_callbacks *cb) {
  if (!loop || !o || !cb || !cb->on_result)
    return UVF_EINVAL;
  if (o->max_in_flight < 1 || o->max_in_flight > UVF_MAX_IN_FLIGHT ||
      o->timeout_ms < 0 || o->connect_timeout_ms < 0 || o->max_redirects < -1 ||
      o->retry_base_ms < 0 || o->retry_max_ms < 0 || o->low_speed_limit < 0 ||
      o->low_speed_time < 0 ||
      !(o->rate_per_host >= 0 && o->rate_per_host <= 1e6) ||
      (o->n_headers && !o->headers) || o->http_version < UVF_HTTP_AUTO ||
      o->http_version > UVF_HTTP_2_PRIOR || o->max_streams < 1 ||
      o->max_streams > 65535)
    return UVF_EINVAL;
  return 0;
}

/* Frees what uvf_fetcher_new() or the teardown leaves; handles are closed. */
static void release(uvf_fetcher *f) {
  uvf__xfers_free(f);
  curl_share_cleanup(f->share); /* after the easy handles that use it */
  free(f->shards);
  curl_slist_free_all(f->headers);
  curl_url_cleanup(f->cu);
  uvf__hosts_free(&f->hosts);
  free(f->user_agent);
  free(f->accept_encoding);
  uvf__tls_free(f);
  free(f->polls);
  free(f);
  curl_global_cleanup();
}

/* Shards share one DNS cache and one TLS session cache (libcurl 7.88
 * keeps sessions per easy handle otherwise, so a new connection resumed
 * only if its pooled handle had met the host before). Connections stay
 * per shard. The loop is single-threaded: no lock callbacks needed. */
static int make_share(uvf_fetcher *f) {
  if (!(f->share = curl_share_init()))
    return UVF_ENOMEM;
  if (curl_share_setopt(f->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
      curl_share_setopt(f->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION))
    return UVF_EBACKEND;
  return 0;
}

int uvf_fetcher_new(uvf_fetcher **out, uv_loop_t *loop, const uvf_options *o,
                    const uvf_callbacks *cb, void *ud) {
  uvf_fetcher *f;
  int rc;
  if (!out || (rc = check_args(loop, o, cb)))
    return UVF_EINVAL;
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return UVF_EBACKEND;
  if (!(f = calloc(1, sizeof(*f)))) {
    curl_global_cleanup();
    return UVF_ENOMEM;
  }
  f->loop = loop;
  f->cb = *cb;
  f->ud = ud;
  if ((rc = copy_options(f, o)) || (rc = uvf__tls_init(f, o)) ||
      (rc = uvf__hosts_init(&f->hosts)))
    goto fail;
  f->cu = curl_url();
  if (!f->cu || (rc = make_share(f))) {
    rc = UVF_ENOMEM;
    goto fail;
  }
  if ((rc = uvf__loop_init(f)))
    goto fail; /* it left no handle on the loop */
  uvf__retry_init(f);
  uvf__polite_init(f);
  uvf__loop_kick(f);
  *out = f;
  return 0;
fail:
  release(f);
  return rc;
}

int uvf_submit(uvf_fetcher *f, const char *url, uint64_t tag, uint64_t *index) {
  int rc;
  if (!f || !url)
    return UVF_EINVAL;
  if (f->closing || f->aborted || f->input_ended)
    return UVF_ESTATE;
  if ((rc = uvf__enqueue(f, url, tag, index)))
    return rc;
  uvf__loop_kick(f);
  return 0;
}

int uvf_end_input(uvf_fetcher *f) {
  if (!f)
    return UVF_EINVAL;
  f->input_ended = 1;
  if (!f->closing)
    uvf__loop_kick(f); /* on_done may be due now */
  return 0;
}

void uvf_pause(uvf_fetcher *f) { f->paused = 1; }

void uvf_resume(uvf_fetcher *f) {
  f->paused = 0;
  f->source_empty = 0;
  if (!f->closing)
    uvf__loop_kick(f);
}

int uvf_drain(uvf_fetcher *f) {
  if (!f)
    return UVF_EINVAL;
  f->draining = 1;
  return 0;
}

int uvf_abort(uvf_fetcher *f, uvf_err kind) {
  if (!f || (kind != UVF_EABORTED && kind != UVF_EDEADLINE))
    return UVF_EINVAL;
  if (f->in_curl)
    return UVF_ESTATE;
  uvf__abort_all(f, kind);
  return 0;
}

void uvf_get_stats(const uvf_fetcher *f, uvf_stats *s) { *s = f->st; }

void uvf__deliver(uvf_fetcher *f, const uvf_result *r) {
  f->st.done++;
  f->st.bytes += r->bytes;
  if (r->ok)
    f->st.ok++;
  f->cb.on_result(f->ud, r);
}

/* Teardown runs from the idle callback, never from inside our own loops or
 * libcurl, since close may be asked for from on_result. */
void uvf_fetcher_close(uvf_fetcher *f, void (*close_cb)(void *ud)) {
  if (!f || f->closing)
    return;
  f->closing = 1;
  f->close_cb = close_cb;
  /* From inside libcurl (on_body, on_start) the abort waits for the idle
   * callback, where removing transfers is allowed. */
  if (!f->aborted && !f->in_curl)
    uvf__abort_all(f, UVF_EABORTED);
  uvf__loop_kick(f);
}

/* R12's order: clean up the multi handles, then close every libuv handle;
 * memory goes in the last close callback. */
void uvf__teardown(uvf_fetcher *f) {
  if (!f->aborted)
    uvf__abort_all(f, UVF_EABORTED);
  f->torn_down = 1;
  uvf__loop_free(f);
  uvf__loop_close_handles(f);
}

void uvf__fetcher_handle_closed(uvf_fetcher *f) {
  void (*cb)(void *ud) = f->close_cb;
  void *ud = f->ud;
  if (--f->open_handles > 0 || !f->torn_down)
    return;
  release(f);
  if (cb)
    cb(ud);
}
