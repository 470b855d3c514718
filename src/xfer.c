/* One transfer: the easy handle's setup (safe defaults live here), its
 * write callback, and the result it ends with. Easy handles are pooled and
 * reused without curl_easy_reset(): only the URL differs between
 * transfers, so every other option is set once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int body_append(uvf__xfer *x, const char *p, size_t n) {
  if (x->body_len + n + 1 > x->body_cap) {
    size_t cap = x->body_cap ? x->body_cap : 4096;
    char *b;
    while (cap < x->body_len + n + 1)
      cap *= 2;
    if (!(b = realloc(x->body, cap)))
      return UVF_ENOMEM;
    x->body = b;
    x->body_cap = cap;
  }
  memcpy(x->body + x->body_len, p, n);
  x->body_len += n;
  x->body[x->body_len] = '\0';
  return 0;
}

/* Returning less than n makes libcurl stop with CURLE_WRITE_ERROR; the flag
 * set beside it tells the result why. */
static size_t on_write(char *p, size_t size, size_t nmemb, void *userp) {
  uvf__xfer *x = userp;
  uvf_fetcher *f = x->f;
  size_t n = size * nmemb;
  if (f->o.max_body && x->bytes + n > f->o.max_body) {
    x->too_large = 1;
    return 0;
  }
  x->bytes += n;
  if (f->o.keep_body && body_append(x, p, n)) {
    x->body_oom = 1;
    return 0;
  }
  if (f->cb.on_body && f->cb.on_body(f->ud, x->u->index, p, n)) {
    x->cb_abort = 1;
    return 0;
  }
  return n;
}

/* Receive buffers share a budget of 4 MiB unless told otherwise: big
 * buffers (fewer reads) for a few large bodies, small ones when thousands
 * of transfers are in flight, where each would otherwise hold 16 KiB. */
long uvf__buffer_size(const uvf_options *o) {
  long size;
  if (o->buffer_size)
    return o->buffer_size;
  size = (4L << 20) / (long)o->max_in_flight;
  if (size > 128L << 10)
    size = 128L << 10;
  return size < 1024 ? 1024 : size;
}

/* Host-name lookups. libcurl 7.88 as Debian builds it resolves each name
 * on a thread of its own with a socketpair to report back, and starts one
 * per transfer that misses its DNS cache, with no limit: N transfers to
 * new names mean N threads and 2N more open files at once. So transfers
 * to a named host count as lookups from their start until they open a
 * socket or reuse a connection (both come after any lookup), and at most
 * max_lookups of them run; admission holds the others back. */
int uvf__lookup_room(const uvf_fetcher *f) {
  return f->o.max_lookups == 0 || f->lookups < f->o.max_lookups;
}

void uvf__lookup_over(uvf__xfer *x) {
  uvf_fetcher *f = x->f;
  if (!x->looking)
    return;
  x->looking = 0;
  f->lookups--;
  if (f->lookup_head)
    uvf__loop_kick(f); /* inside libcurl now: start them from the loop */
}

static int on_prereq(void *clientp, char *primary_ip, char *local_ip,
                     int primary_port, int local_port) {
  (void)primary_ip;
  (void)local_ip;
  (void)primary_port;
  (void)local_port;
  uvf__lookup_over(clientp); /* a reused connection opens no socket */
  return CURL_PREREQFUNC_OK;
}

static long http_version(int v) {
  switch (v) {
  case UVF_HTTP_1_1: return CURL_HTTP_VERSION_1_1;
  case UVF_HTTP_2_PRIOR: return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
  default: return CURL_HTTP_VERSION_2TLS;
  }
}

/* CURLINFO_HTTP_VERSION's values as the numbers people write. */
static long version_number(long v) {
  switch (v) {
  case CURL_HTTP_VERSION_1_0: return 10;
  case CURL_HTTP_VERSION_1_1: return 11;
  case CURL_HTTP_VERSION_2_0: return 20;
  case CURL_HTTP_VERSION_3: return 30;
  default: return 0;
  }
}

#define SET(opt, val)                                                          \
  do {                                                                         \
    if (rc == CURLE_OK)                                                        \
      rc = curl_easy_setopt(e, opt, val);                                      \
  } while (0)

static int easy_setup(uvf_fetcher *f, uvf__xfer *x) {
  const uvf_options *o = &f->o;
  CURL *e = x->easy;
  CURLcode rc = CURLE_OK;
  SET(CURLOPT_PRIVATE, (void *)x);
  SET(CURLOPT_NOSIGNAL, 1L); /* else sigaction() around every action (T1) */
  /* Removing a transfer that is still resolving would otherwise join the
   * resolver thread and stall the loop (abort, deadline, close). */
  SET(CURLOPT_QUICK_EXIT, 1L);
  SET(CURLOPT_WRITEFUNCTION, on_write);
  SET(CURLOPT_WRITEDATA, (void *)x);
  SET(CURLOPT_ERRORBUFFER, x->errbuf);
  SET(CURLOPT_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  SET(CURLOPT_FOLLOWLOCATION, o->max_redirects >= 0 ? 1L : 0L);
  SET(CURLOPT_MAXREDIRS, o->max_redirects);
  SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
  SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
  if (o->low_speed_limit > 0) {
    SET(CURLOPT_LOW_SPEED_LIMIT, o->low_speed_limit);
    SET(CURLOPT_LOW_SPEED_TIME,
        o->low_speed_time > 0 ? o->low_speed_time : 30L);
  }
  SET(CURLOPT_USERAGENT, f->user_agent);
  SET(CURLOPT_HTTPHEADER, f->headers);
  if (o->max_body)
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
  if (f->accept_encoding)
    SET(CURLOPT_ACCEPT_ENCODING, f->accept_encoding);
  SET(CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
  SET(CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
  if (rc == CURLE_OK)
    rc = uvf__tls_setup(x, e);
  SET(CURLOPT_HTTP_VERSION, http_version(o->http_version));
  SET(CURLOPT_BUFFERSIZE, uvf__buffer_size(o));
  SET(CURLOPT_OPENSOCKETFUNCTION, uvf__open_socket);
  SET(CURLOPT_OPENSOCKETDATA, (void *)x);
  SET(CURLOPT_PREREQFUNCTION, on_prereq);
  SET(CURLOPT_PREREQDATA, (void *)x);
  SET(CURLOPT_CLOSESOCKETFUNCTION, uvf__close_socket);
  SET(CURLOPT_CLOSESOCKETDATA, (void *)x->shard);
  if (f->share)
    SET(CURLOPT_SHARE, f->share);
  return rc == CURLE_OK ? 0 : UVF_EBACKEND;
}

static uvf__xfer *xfer_get(uvf_fetcher *f) {
  uvf__xfer *x = f->free_xfers;
  if (x) {
    f->free_xfers = x->next;
    return x;
  }
  if (!(x = calloc(1, sizeof(*x))))
    return NULL;
  x->f = f;
  /* Slots fill the shards in turn, so none holds more than its share. */
  x->shard = &f->shards[f->nxfers % f->nshards];
  if (!(x->easy = curl_easy_init()) || easy_setup(f, x)) {
    curl_easy_cleanup(x->easy);
    free(x);
    return NULL;
  }
  f->nxfers++;
  return x;
}

static void xfer_put(uvf_fetcher *f, uvf__xfer *x) {
  if (x->body_cap > 65536) { /* keep small buffers for the next body */
    free(x->body);
    x->body = NULL;
    x->body_cap = 0;
  }
  x->next = f->free_xfers;
  f->free_xfers = x;
}

static void live_unlink(uvf_fetcher *f, uvf__xfer *x) {
  if (x->live_prev)
    x->live_prev->live_next = x->live_next;
  else
    f->live = x->live_next;
  if (x->live_next)
    x->live_next->live_prev = x->live_prev;
  x->live_prev = x->live_next = NULL;
}

/* A transfer to a host whose first connection is still being set up
 * waits to learn whether it may share it (HTTP/2) rather than open one of
 * its own. Over TLS, ALPN tells at the handshake; over plain HTTP, only
 * with prior knowledge: a plain HTTP/1.1 server would otherwise make
 * every other transfer to it wait for the first whole response. */
static int set_pipewait(uvf__xfer *x, const uvf__url *u) {
  int v = x->f->o.http_version == UVF_HTTP_2_PRIOR ||
          (u->https && x->f->o.http_version == UVF_HTTP_AUTO);
  if (v == x->pipewait)
    return 0;
  x->pipewait = v;
  return curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, (long)v) != CURLE_OK;
}

/* Takes ownership of u in every case. */
int uvf__xfer_start(uvf_fetcher *f, uvf__url *u) {
  uvf__xfer *x = xfer_get(f);
  if (!x)
    return UVF_ENOMEM;
  x->u = u;
  x->bytes = 0;
  x->body_len = 0;
  if (x->body)
    x->body[0] = '\0'; /* no trace of the slot's previous body */
  x->too_large = x->cb_abort = x->body_oom = x->tls_failed = 0;
  x->errbuf[0] = '\0';
  if (curl_easy_setopt(x->easy, CURLOPT_URL, (const char *)u->url) !=
      CURLE_OK) {
    x->u = NULL;
    xfer_put(f, x);
    return UVF_ENOMEM;
  }
  if (set_pipewait(x, u)) {
    x->u = NULL;
    xfer_put(f, x);
    return UVF_EBACKEND;
  }
  x->t_started = uv_hrtime();
  if (++u->attempts == 1)
    f->first_attempts++;
  if (f->cb.on_start) {
    f->in_curl++; /* no uvf_abort() from on_start either */
    f->cb.on_start(f->ud, u->index, u->tag);
    f->in_curl--;
    if (f->closing) { /* on_start asked to close: do not start */
      x->u = NULL;
      xfer_put(f, x);
      return UVF_ESTATE;
    }
  }
  if (curl_multi_add_handle(x->shard->multi, x->easy) != CURLM_OK) {
    x->u = NULL;
    xfer_put(f, x);
    return UVF_EBACKEND;
  }
  if (u->named) {
    x->looking = 1;
    f->lookups++;
  }
  x->live_next = f->live;
  if (f->live)
    f->live->live_prev = x;
  f->live = x;
  f->st.in_flight++;
  return 0;
}

static double info_secs(CURL *e, CURLINFO what) {
  curl_off_t us = 0;
  curl_easy_getinfo(e, what, &us);
  return (double)us / 1e6;
}

static void fill_result(uvf__xfer *x, CURLcode rc, uvf_result *r) {
  CURL *e = x->easy;
  char *final_url = NULL;
  long redirects = 0;
  memset(r, 0, sizeof(*r));
  r->index = x->u->index;
  r->tag = x->u->tag;
  r->url = x->u->url;
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
  curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &final_url);
  curl_easy_getinfo(e, CURLINFO_REDIRECT_COUNT, &redirects);
  r->final_url = final_url;
  r->redirects = (unsigned)redirects;
  curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &r->http_version);
  r->http_version = version_number(r->http_version);
  r->time_total = info_secs(e, CURLINFO_TOTAL_TIME_T);
  r->time_connect = info_secs(e, CURLINFO_CONNECT_TIME_T);
  r->time_ttfb = info_secs(e, CURLINFO_STARTTRANSFER_TIME_T);
  r->time_queued = (double)(x->t_started - x->u->t_indexed) / 1e9;
  r->attempts = x->u->attempts;
  r->history = x->u->history;
  r->bytes = x->bytes;
  r->body = x->f->o.keep_body ? (x->body ? x->body : "") : NULL;
  r->curl_code = (int)rc;
  /* Input URLs were checked before admission, so an unsupported scheme
   * here came from a redirect. */
  r->error = uvf__kind_from_curl(rc, 1);
  r->message = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
  if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    /* One wording whether the body grew past max_body or its announced
     * length was over it already (libcurl: "Maximum file size exceeded"). */
    r->error = UVF_ETOO_LARGE;
    r->message = "body larger than the maximum allowed";
  } else if (x->tls_failed) {
    r->message = x->f->tls_error;
  } else if (x->body_oom) {
    r->error = UVF_EABORTED;
    r->message = "out of memory holding the body";
  } else if (x->cb_abort) {
    r->error = UVF_EABORTED;
    r->message = "stopped by the body callback";
  }
}

/* Hands u to the retry queue if its failure is worth another attempt; the
 * host reference u held is given back by the caller as for a result. */
static int retry_after(uvf__xfer *x, const uvf_result *r, uvf__url *u) {
  curl_off_t after = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &after);
  if (u->host && after > 0 && (r->status == 429 || r->status == 503)) {
    /* The server asked everyone to wait, not only this URL. */
    uint64_t cap = (uint64_t)x->f->o.retry_max_ms;
    uvf__host_pause(x->f, u->host,
                    (uint64_t)after >= cap / 1000 ? cap
                                                  : (uint64_t)after * 1000);
  }
  u->host = NULL; /* the caller gives its reference back either way */
  return uvf__retry_take(x->f, u, r, (long)after);
}

/* Removes the transfer, delivers its result, then gives back its slot and
 * its host's slot; a parked URL may take them on the next admission. */
static void complete(uvf__xfer *x, CURLcode rc, uvf_err forced) {
  uvf_fetcher *f = x->f;
  uvf__url *u = x->u;
  uvf__host *h = u->host;
  char msg[64];
  uvf_result r;
  /* Never called from inside libcurl (uvf_abort and uvf_fetcher_close
   * refuse or defer there), so this cannot fail with a recursive call. */
  uvf__lookup_over(x);
  f->in_curl++;
  curl_multi_remove_handle(x->shard->multi, x->easy);
  f->in_curl--;
  live_unlink(f, x);
  f->st.in_flight--;
  fill_result(x, rc, &r);
  if (forced != UVF_OK) {
    /* libcurl may not have run this transfer yet, and a pooled handle's
     * info then still describes its previous one: report only what we
     * measured ourselves. */
    r.status = 0;
    r.final_url = NULL;
    r.redirects = 0;
    r.time_connect = r.time_ttfb = 0;
    r.time_total = (double)(uv_hrtime() - x->t_started) / 1e9;
    r.error = forced;
    r.message = uvf_strerror(forced);
  } else if (r.error == UVF_OK && (r.status < 200 || r.status > 299)) {
    r.error = UVF_EHTTP;
    snprintf(msg, sizeof(msg), "HTTP status %ld", r.status);
    r.message = msg;
  }
  r.ok = r.error == UVF_OK;
  if (r.ok)
    r.message = "";
  x->u = NULL;
  if (!r.ok && forced == UVF_OK && retry_after(x, &r, u)) {
    xfer_put(f, x);
    if (h)
      uvf__host_released(f, h);
    return;
  }
  uvf__deliver(f, &r);
  xfer_put(f, x);
  uvf__url_free(u);
  if (h)
    uvf__host_released(f, h);
}

void uvf__xfer_finish(uvf__xfer *x, CURLcode rc) { complete(x, rc, UVF_OK); }

void uvf__xfer_abort(uvf__xfer *x, uvf_err kind) {
  complete(x, CURLE_ABORTED_BY_CALLBACK, kind);
}

/* At teardown: the multi handle is gone, so the easy handles can go. */
void uvf__xfers_free(uvf_fetcher *f) {
  uvf__xfer *x, *next;
  for (x = f->free_xfers; x; x = next) {
    next = x->next;
    curl_easy_cleanup(x->easy);
    free(x->body);
    free(x);
  }
  f->free_xfers = NULL;
}
