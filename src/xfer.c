/* One transfer: the easy handle's setup (safe defaults live here), its
 * write callback, and the result it ends with. Easy handles are pooled by
 * the engine and reused without curl_easy_reset(): options that belong to
 * the engine are set once per handle, those of a batch once per batch the
 * handle serves, and only the URL for each transfer. */
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
    if (!(b = uvf__realloc(x->body, cap)))
      return UVF_ENOMEM;
    x->body = b;
    x->body_cap = cap;
  }
  memcpy(x->body + x->body_len, p, n);
  x->body_len += n;
  x->body[x->body_len] = '\0';
  return 0;
}

/* Hands n body bytes on; non-zero if the transfer must stop. */
static int take_body(uvf__xfer *x, const char *p, size_t n) {
  uvf__batch *b = x->b;
  x->bytes += n;
  if (b->o.keep_body && body_append(x, p, n)) {
    x->body_oom = 1;
    return 1;
  }
  if (b->cb.on_body && b->cb.on_body(b->ud, x->u->index, p, n)) {
    x->cb_abort = 1;
    return 1;
  }
  return 0;
}

/* Returning less than n makes libcurl stop with CURLE_WRITE_ERROR; the flag
 * set beside it tells the result why. A body that grows past max_body is
 * handed on up to the limit, so what came is kept as far as it may go. */
static size_t on_write(char *p, size_t size, size_t nmemb, void *userp) {
  uvf__xfer *x = userp;
  uint64_t max = x->b->o.max_body;
  size_t n = size * nmemb, fits = n;
  if ((x->rq_set & UVF__RQ_NOFOLLOW) && uvf__req_discard(x))
    return n; /* a redirect's body, which libcurl would not hand on */
  if (uvf__hdrs_tell(x))
    return 0;
  if (max && x->bytes + n > max)
    fits = (size_t)(max - x->bytes);
  if (fits > 0 && take_body(x, p, fits))
    return 0;
  if (fits < n) {
    x->too_large = 1;
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

/* The connection is set up (or reused), the request about to go out. */
static int on_prereq(void *clientp, char *primary_ip, char *local_ip,
                     int primary_port, int local_port) {
  uvf__xfer *x = clientp;
  curl_off_t handshake_us = 0;
  (void)primary_ip;
  (void)local_ip;
  (void)primary_port;
  (void)local_port;
  uvf__setup_over(x); /* a reused connection opens no socket */
  if (x->u->tls_first) {
    curl_easy_getinfo(x->easy, CURLINFO_APPCONNECT_TIME_T, &handshake_us);
    uvf__tls_gate_connected(x, (uint64_t)handshake_us);
  }
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
      rc = curl_easy_setopt(easy, opt, val);                                   \
  } while (0)

/* What every transfer of the engine shares, set when the handle is made. */
static int engine_setup(uvf__xfer *x) {
  CURL *easy = x->easy;
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
  SET(CURLOPT_OPENSOCKETFUNCTION, uvf__open_socket);
  SET(CURLOPT_OPENSOCKETDATA, (void *)x);
  SET(CURLOPT_PREREQFUNCTION, on_prereq);
  SET(CURLOPT_PREREQDATA, (void *)x);
  SET(CURLOPT_CLOSESOCKETFUNCTION, uvf__close_socket);
  SET(CURLOPT_CLOSESOCKETDATA, (void *)x->e);
  SET(CURLOPT_SHARE, x->e->share);
  if (rc == CURLE_OK)
    rc = uvf__tls_setup(x, easy);
  if (!x->e->proxy_env) { /* spares libcurl 7 getenv() calls a transfer */
    SET(CURLOPT_PROXY, "");
    SET(CURLOPT_NOPROXY, "");
  }
  return rc == CURLE_OK ? 0 : UVF_EBACKEND;
}

/* The batch's options, set when the handle serves a batch other than the
 * one it served last. */
static int batch_setup(uvf__xfer *x, uvf__batch *b) {
  const uvf_options *o = &b->o;
  CURL *easy = x->easy;
  CURLcode rc = CURLE_OK;
  SET(CURLOPT_FOLLOWLOCATION, o->max_redirects >= 0 ? 1L : 0L);
  SET(CURLOPT_MAXREDIRS, o->max_redirects);
  SET(CURLOPT_TIMEOUT_MS, o->timeout_ms);
  SET(CURLOPT_CONNECTTIMEOUT_MS, o->connect_timeout_ms);
  SET(CURLOPT_LOW_SPEED_LIMIT, o->low_speed_limit);
  SET(CURLOPT_LOW_SPEED_TIME, o->low_speed_limit > 0 && o->low_speed_time <= 0
                                  ? 30L
                                  : o->low_speed_time);
  SET(CURLOPT_USERAGENT, b->user_agent);
  SET(CURLOPT_HTTPHEADER, b->headers);
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
  SET(CURLOPT_ACCEPT_ENCODING, b->accept_encoding);
  SET(CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
  SET(CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
  SET(CURLOPT_HTTP_VERSION, http_version(o->http_version));
  SET(CURLOPT_MAXAGE_CONN, (o->idle_timeout_ms + 999) / 1000);
  if (rc != CURLE_OK)
    return UVF_EBACKEND;
  /* Set to the batch's above: a request sets them again. */
  x->rq_set &= (unsigned char)~(UVF__RQ_HEADERS | UVF__RQ_NOFOLLOW);
  uvf__hdrs_setup(x, easy, o->keep_headers || b->cb.on_headers);
  /* Refused while the handle still holds a receive buffer, which 7.88
   * keeps after an HTTP/2 transfer on a connection others still use (M1):
   * the handle then keeps the size it has. */
  (void)curl_easy_setopt(easy, CURLOPT_BUFFERSIZE, uvf__buffer_size(o));
  x->b = b;
  return 0;
}

#undef SET

/* A new pooled handle with the engine's options; NULL if out of memory. */
static uvf__xfer *xfer_new(uvf__engine *e) {
  uvf__xfer *x = uvf__calloc(1, sizeof(*x));
  if (x && (x->e = e, x->easy = curl_easy_init()) && !engine_setup(x)) {
    uvf__list_init(&x->link);
    e->nxfers++;
    return x;
  }
  if (x)
    curl_easy_cleanup(x->easy);
  free(x);
  return NULL;
}

static void xfer_put(uvf__engine *e, uvf__xfer *x) {
  if (x->body_cap > 65536) { /* keep small buffers for the next body */
    free(x->body);
    x->body = NULL;
    x->body_cap = 0;
  }
  if (x->resp.cap > 65536)
    uvf__hdrs_free(&x->resp);
  x->u = NULL;
  x->group = NULL;
  uvf__list_push(&e->idle_xfers, &x->link);
}

/* A pooled handle, set up for the batch. */
static uvf__xfer *xfer_get(uvf__batch *b) {
  uvf__engine *e = b->e;
  uvf__link *l = uvf__list_pop(&e->idle_xfers);
  uvf__xfer *x = l ? UVF__CONTAINER(l, uvf__xfer, link) : xfer_new(e);
  if (!x)
    return NULL;
  if (x->b != b && batch_setup(x, b)) {
    x->b = NULL;
    xfer_put(e, x);
    return NULL;
  }
  return x;
}

/* A transfer to a host whose first connection is still being set up
 * waits to learn whether it may share it (HTTP/2) rather than open one of
 * its own. Over TLS, ALPN tells at the handshake; over plain HTTP, only
 * with prior knowledge: a plain HTTP/1.1 server would otherwise make
 * every other transfer to it wait for the first whole response. */
static int wants_pipewait(const uvf__batch *b, const uvf__url *u) {
  return u->https && (b->o.http_version == UVF_HTTP_AUTO ||
                      b->o.http_version == UVF_HTTP_2_PRIOR);
}

static int set_pipewait(uvf__xfer *x, int v) {
  if (v == x->pipewait)
    return 0;
  x->pipewait = (unsigned char)v;
  return curl_easy_setopt(x->easy, CURLOPT_PIPEWAIT, (long)v) != CURLE_OK;
}

/* HTTP/2 with prior knowledge over plain HTTP (h2c): libcurl 7.88.1 sets
 * up h2 again on a connection that a second transfer reuses or shares,
 * which breaks it ("Error in the HTTP2 framing layer", curl issue 10634,
 * fixed in 8.0). So each such transfer has a connection of its own, used
 * once. Over TLS, ALPN says h2 and the bug does not arise. */
static int wants_h2c_alone(const uvf__batch *b, const uvf__url *u) {
  return !u->https && b->o.http_version == UVF_HTTP_2_PRIOR;
}

static int set_h2c_alone(uvf__xfer *x, int v) {
  if (v == x->h2c_alone)
    return 0;
  x->h2c_alone = (unsigned char)v;
  return curl_easy_setopt(x->easy, CURLOPT_FRESH_CONNECT, (long)v) ||
         curl_easy_setopt(x->easy, CURLOPT_FORBID_REUSE, (long)v);
}

/* Resets what one transfer leaves behind in a pooled slot. */
static void xfer_reset(uvf__xfer *x, uvf__url *u) {
  x->u = u;
  x->bytes = 0;
  x->body_len = 0;
  if (x->body)
    x->body[0] = '\0'; /* no trace of the slot's previous body */
  x->too_large = x->cb_abort = x->body_oom = x->tls_failed = 0;
  x->hdr_over = x->hdrs_told = x->hdr_abort = x->hdr_oom = 0;
  x->errbuf[0] = '\0';
  uvf__req_reset(x);
  uvf__hdrs_reset(&x->resp);
}

/* Takes the lane, tells the caller, adds the handle to the lane's multi
 * handle. Returns 0 or an error with the lane given back. */
static int launch(uvf__batch *b, uvf__xfer *x, uvf__url *u, int pipewait) {
  uvf__engine *e = b->e;
  unsigned group;
  if (uvf__lane_take(e, u->origin, pipewait, &x->lane, &group))
    return UVF_ENOMEM;
  x->group = e->groups[group];
  x->t_started = uv_hrtime();
  if (++u->attempts == 1)
    b->first_attempts++;
  if (b->cb.on_start) {
    e->in_curl++; /* no uvf_abort() from on_start either */
    b->cb.on_start(b->ud, u->index, u->tag);
    e->in_curl--;
  }
  if (b->state >= UVF__CLOSING) { /* on_start asked to close */
    uvf__lane_give(u->origin, x->lane);
    return UVF_ESTATE;
  }
  if (curl_multi_add_handle(x->group->multi, x->easy) != CURLM_OK) {
    uvf__lane_give(u->origin, x->lane);
    return UVF_EBACKEND;
  }
  uvf__group_join(x->group);
  return 0;
}

/* Starts a transfer for u. Returns 0, with u owned by the transfer, or an
 * error with u still the caller's. */
int uvf__xfer_start(uvf__batch *b, uvf__url *u) {
  uvf__engine *e = b->e;
  uvf__xfer *x = xfer_get(b);
  int pipewait = wants_pipewait(b, u), rc = UVF_EBACKEND;
  if (!x)
    return UVF_ENOMEM;
  xfer_reset(x, u);
  if (curl_easy_setopt(x->easy, CURLOPT_URL, (const char *)u->url) ||
      uvf__req_setup(x, u) || set_pipewait(x, pipewait) ||
      set_h2c_alone(x, wants_h2c_alone(b, u)) ||
      (rc = launch(b, x, u, pipewait))) {
    xfer_put(e, x);
    return rc;
  }
  uvf__lookup_begin(x);
  uvf__list_push(&b->live, &x->link);
  b->st.in_flight++;
  return 0;
}

static double info_secs(CURL *e, CURLINFO what) {
  curl_off_t us = 0;
  curl_easy_getinfo(e, what, &us);
  return (double)us / 1e6;
}

/* A redirect to a URL that does not parse or has a scheme we refuse: the
 * message says whose doing it is, since the input URL itself was fine. */
static void blame_redirect(uvf__xfer *x, CURLcode rc, uvf_result *r) {
  static const char blame[] = "bad redirect from the server: ";
  char msg[CURL_ERROR_SIZE];
  size_t room = sizeof(msg) - sizeof(blame), n = strlen(r->message);
  if (rc != CURLE_URL_MALFORMAT && rc != CURLE_UNSUPPORTED_PROTOCOL)
    return;
  memcpy(msg, blame, sizeof(blame) - 1);
  memcpy(msg + sizeof(blame) - 1, r->message, n < room ? n : room);
  msg[sizeof(blame) - 1 + (n < room ? n : room)] = '\0';
  memcpy(x->errbuf, msg, sizeof(msg));
  r->message = x->errbuf;
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
  r->redirects = (unsigned)redirects + x->hops;
  curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &r->http_version);
  r->http_version = version_number(r->http_version);
  r->time_total = info_secs(e, CURLINFO_TOTAL_TIME_T) + x->hop_secs;
  r->time_connect = info_secs(e, CURLINFO_CONNECT_TIME_T);
  r->time_ttfb = info_secs(e, CURLINFO_STARTTRANSFER_TIME_T);
  r->time_queued = (double)(x->t_started - x->u->t_indexed) / 1e9;
  r->attempts = x->u->attempts;
  r->history = x->u->history;
  r->n_history = x->u->n_history;
  r->bytes = x->bytes;
  if (x->b->o.keep_body) { /* bytes is the length of body, whatever came */
    r->body = x->body ? x->body : "";
    r->bytes = x->body_len;
  }
  r->curl_code = (int)rc;
  /* Input URLs were checked before admission, so an unsupported scheme
   * here came from a redirect. */
  r->error = uvf__kind_from_curl(rc, 1);
  r->message = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
  blame_redirect(x, rc, r);
  if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    /* One wording whether the body grew past max_body or its announced
     * length was over it already (libcurl: "Maximum file size exceeded"). */
    r->error = UVF_ETOO_LARGE;
    r->message = "body larger than the maximum allowed";
  } else if (x->tls_failed) {
    r->message = x->e->tls_error;
  } else if (x->hdr_over) {
    r->error = UVF_EPROTOCOL;
    r->message = "response headers larger than the maximum allowed";
  } else if (x->body_oom) {
    r->error = UVF_EABORTED;
    r->message = "out of memory holding the body";
  } else if (x->hdr_oom) {
    r->error = UVF_EABORTED;
    r->message = "out of memory holding the headers";
  } else if (x->hdr_abort) {
    r->error = UVF_EABORTED;
    r->message = "stopped by the headers callback";
  } else if (x->cb_abort) {
    r->error = UVF_EABORTED;
    r->message = "stopped by the body callback";
  }
  if (x->b->o.keep_headers && uvf__hdrs_result(&x->resp, r)) {
    r->error = UVF_EABORTED;
    r->message = "out of memory holding the headers";
  }
}

/* Hands u to the retry queue if its failure is worth another attempt. */
static int retry_after(uvf__xfer *x, const uvf_result *r, uvf__url *u) {
  curl_off_t after = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RETRY_AFTER, &after);
  if (after > 0 && (r->status == 429 || r->status == 503)) {
    /* The server asked everyone to wait, not only this URL. */
    uint64_t cap = (uint64_t)x->b->o.retry_max_ms;
    uvf__origin_pause(x->e, u->origin,
                      (uint64_t)after >= cap / 1000 ? cap
                                                    : (uint64_t)after * 1000);
  }
  return uvf__retry_take(x->b, u, r, (long)after);
}

/* A result made of what we measured ourselves: libcurl may not have run
 * the transfer yet, and a pooled handle's info then still describes its
 * previous one. */
static void forced_result(uvf__xfer *x, uvf_err kind, uvf_result *r) {
  r->status = 0;
  r->final_url = NULL;
  r->redirects = 0;
  r->http_version = 0;
  r->time_connect = r->time_ttfb = 0;
  r->time_total = (double)(uv_hrtime() - x->t_started) / 1e9;
  r->headers = NULL;
  r->n_headers = 0;
  r->error = kind;
  r->message = uvf_strerror(kind);
}

/* Removes the transfer, delivers its result (or queues a retry), then
 * gives back its lane, its slot and its host's slot. */
static void complete(uvf__xfer *x, CURLcode rc, uvf_err forced) {
  uvf__engine *e = x->e;
  uvf__batch *b = x->b;
  uvf__url *u = x->u;
  char msg[64];
  uvf_result r;
  int retrying;
  /* Never called from inside libcurl (uvf_abort and uvf_fetcher_close
   * refuse or defer there), so this cannot fail with a recursive call. */
  uvf__setup_over(x);
  e->in_curl++;
  curl_multi_remove_handle(x->group->multi, x->easy);
  e->in_curl--;
  uvf__group_leave(x->group);
  uvf__list_remove(&x->link);
  b->st.in_flight--;
  b->admit_due = 1; /* its slot: the loop glue runs admission next */
  uvf__lane_give(u->origin, x->lane);
  uvf__tls_gate_done(e, u);
  if (forced == UVF_OK && rc == CURLE_OK) {
    /* A final response without a body: on_headers has not been told. As
     * from on_body, no uvf_abort() from there. */
    e->in_curl++;
    uvf__hdrs_tell(x);
    e->in_curl--;
  }
  fill_result(x, rc, &r);
  if (forced != UVF_OK) {
    forced_result(x, forced, &r);
  } else {
    if (r.redirects == 0)
      uvf__origin_learn(u->origin, r.http_version);
    if (r.error == UVF_OK && (r.status < 200 || r.status > 299)) {
      r.error = UVF_EHTTP;
      snprintf(msg, sizeof(msg), "HTTP status %ld", r.status);
      r.message = msg;
    }
  }
  r.ok = r.error == UVF_OK;
  if (r.ok)
    r.message = "";
  retrying = !r.ok && forced == UVF_OK && retry_after(x, &r, u);
  if (!retrying)
    uvf__deliver(b, &r); /* r points into x: before the slot is pooled */
  xfer_put(e, x);
  uvf__host_released(b, u);
  if (!retrying)
    uvf__url_release(b, u);
}

void uvf__xfer_finish(uvf__xfer *x, CURLcode rc) {
  if (!uvf__req_hop(x, &rc))
    complete(x, rc, UVF_OK);
}

void uvf__xfer_abort(uvf__xfer *x, uvf_err kind) {
  complete(x, CURLE_ABORTED_BY_CALLBACK, kind);
}

/* At teardown: the multi handles are gone, so the easy handles can go. */
void uvf__xfers_free(uvf__engine *e) {
  uvf__link *l;
  while ((l = uvf__list_pop(&e->idle_xfers))) {
    uvf__xfer *x = UVF__CONTAINER(l, uvf__xfer, link);
    curl_easy_cleanup(x->easy);
    free(x->body);
    free(x->hdr_nodes);
    uvf__hdrs_free(&x->resp);
    free(x);
  }
}
