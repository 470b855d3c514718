/* Admission: which URL of a batch starts next. At most max_in_flight
 * transfers run, at most max_per_host of them to one scheme+host+port. A
 * URL whose host is at its cap (or waits for its rate, or for a
 * Retry-After pause) is parked on that host, so it never holds back URLs
 * for other hosts; when the host has room again it goes on the ready list
 * and its oldest parked URL takes the next free slot. New URLs are read
 * from the queue or the source only while slots are free and the parked
 * count is under max_waiting: memory follows the work in flight, not the
 * length of the input.
 *
 * A URL goes through these steps, each named for what it decides:
 * admit_new (valid URL?), route (park behind its host, or go on),
 * pass_lookup_gate (wait for a host-name lookup slot, or take the host's
 * slot), begin_transfer (started, or a result saying why not). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

int uvf__tracks_hosts(const uvf__batch *b) {
  return b->o.max_per_host || b->o.rate_per_host > 0 || b->o.max_retries;
}

/* ---- a batch's hosts ---- */

static uvf__host *host_ref(uvf__batch *b, uvf__origin *o) {
  uvf__link *l;
  uvf__host *h;
  UVF__LIST_FOREACH(l, &o->hosts) {
    h = UVF__CONTAINER(l, uvf__host, origin_link);
    if (h->b == b) {
      h->refs++;
      return h;
    }
  }
  if (!(h = uvf__calloc(1, sizeof(*h))))
    return NULL;
  uvf__list_init(&h->parked);
  uvf__list_init(&h->ready_link);
  uvf__list_init(&h->timed_link);
  uvf__list_push(&o->hosts, &h->origin_link);
  uvf__list_push(&b->hosts, &h->batch_link);
  h->origin = o;
  o->refs++;
  h->b = b;
  h->refs = 1;
  return h;
}

static void host_unref(uvf__batch *b, uvf__host *h) {
  if (--h->refs > 0)
    return;
  uvf__list_remove(&h->origin_link);
  uvf__list_remove(&h->batch_link);
  uvf__origin_unref(b->e, h->origin);
  free(h);
}

/* Drops the references a URL holds and frees it. */
void uvf__url_release(uvf__batch *b, uvf__url *u) {
  uvf__tls_gate_done(b->e, u); /* if it was to bring a TLS session */
  if (u->host)
    host_unref(b, u->host);
  if (u->origin)
    uvf__origin_unref(b->e, u->origin);
  free(u->history);
  free(u);
}

static int cap_room(const uvf__batch *b, const uvf__host *h) {
  return b->o.max_per_host == 0 || h->in_flight < b->o.max_per_host;
}

/* Microseconds until the host's rate or a Retry-After pause lets it start
 * a transfer; 0 if it may now. */
static uint64_t time_wait_us(const uvf__batch *b, const uvf__host *h) {
  uint64_t now = uv_hrtime() / 1000;
  uint64_t w = uvf__origin_wait_us(h->origin, now);
  if (b->o.rate_per_host > 0 && h->next_start_us > now + w)
    w = h->next_start_us - now;
  return w;
}

static int host_has_room(const uvf__batch *b, const uvf__host *h) {
  return cap_room(b, h) && time_wait_us(b, h) == 0;
}

static void on_polite_timer(uv_timer_t *t);

/* Re-arms the timer for the host on the timed list that can go first. */
static void polite_arm(uvf__batch *b) {
  uint64_t least = UINT64_MAX;
  uvf__link *l;
  UVF__LIST_FOREACH(l, &b->timed) {
    uint64_t w = time_wait_us(b, UVF__CONTAINER(l, uvf__host, timed_link));
    if (w < least)
      least = w;
  }
  if (least != UINT64_MAX)
    uv_timer_start(&b->polite_timer, on_polite_timer, least / 1000 + 1, 0);
}

/* A host with parked URLs goes where it can be found again: the ready
 * list if it may start now, the timed list if only time holds it back;
 * a host at its cap is found again when one of its transfers ends. */
static void host_schedule(uvf__batch *b, uvf__host *h) {
  if (uvf__list_empty(&h->parked) || uvf__linked(&h->ready_link) ||
      uvf__linked(&h->timed_link) || !cap_room(b, h))
    return;
  if (time_wait_us(b, h) == 0) {
    uvf__list_push(&b->ready, &h->ready_link);
    return;
  }
  uvf__list_push(&b->timed, &h->timed_link);
  polite_arm(b);
}

static void on_polite_timer(uv_timer_t *t) {
  uvf__batch *b = t->data;
  uvf__link *l = b->timed.next;
  while (l != &b->timed) {
    uvf__host *h = UVF__CONTAINER(l, uvf__host, timed_link);
    l = l->next;
    if (time_wait_us(b, h) == 0) {
      uvf__list_remove(&h->timed_link);
      host_schedule(b, h);
    }
  }
  polite_arm(b);
  uvf__admit(b);
}

void uvf__polite_init(uvf__batch *b) {
  uv_timer_init(b->e->loop, &b->polite_timer);
  b->polite_timer.data = b;
  b->open_handles++;
}

/* The transfer of u ended: its host has a slot free again. */
void uvf__host_released(uvf__batch *b, uvf__url *u) {
  if (!u->host)
    return;
  u->host->in_flight--;
  host_schedule(b, u->host);
}

/* ---- results without a transfer ---- */

/* Delivers a result for a URL that never became a transfer, and frees it. */
void uvf__deliver_url_error(uvf__batch *b, uvf__url *u, uvf_err kind,
                            const char *message) {
  uvf_result r;
  memset(&r, 0, sizeof(r));
  r.index = u->index;
  r.tag = u->tag;
  r.url = u->url;
  r.error = kind;
  r.message = message;
  r.attempts = u->attempts;
  r.history = u->history;
  r.n_history = u->n_history;
  r.time_queued = (double)(uv_hrtime() - u->t_indexed) / 1e9;
  uvf__deliver(b, &r);
  uvf__url_release(b, u);
}

/* The source has moved past this URL, so its index still needs a result. */
static void deliver_oom(uvf__batch *b, const char *s, uint64_t tag) {
  uvf_result r;
  memset(&r, 0, sizeof(r));
  r.index = b->st.submitted++;
  r.tag = tag;
  r.url = s;
  r.error = UVF_EABORTED;
  r.message = "out of memory";
  uvf__deliver(b, &r);
}

/* ---- taking URLs ---- */

static void give_index(uvf__batch *b, uvf__url *u) {
  u->index = b->st.submitted++;
  u->t_indexed = uv_hrtime();
}

void uvf__enqueue_made(uvf__batch *b, uvf__url *u, uint64_t *index) {
  give_index(b, u);
  uvf__list_push(&b->queue, &u->link);
  b->st.queued++;
  if (index)
    *index = u->index;
}

int uvf__enqueue(uvf__batch *b, const char *s, uint64_t tag, uint64_t *index) {
  uvf__url *u = uvf__url_make(s, NULL, tag);
  if (!u)
    return UVF_ENOMEM;
  uvf__enqueue_made(b, u, index);
  return 0;
}

static uvf__url *queue_pop(uvf__batch *b) {
  uvf__link *l = uvf__list_pop(&b->queue);
  if (!l)
    return NULL;
  b->st.queued--;
  return UVF__CONTAINER(l, uvf__url, link);
}

/* Asks the source for one URL or request: as next() answers, with *u
 * made (or NULL if out of memory: its index then has a result). */
static int ask_source(uvf__batch *b, uvf__url **u) {
  const uvf_request *rq = NULL;
  uvf_request full;
  const char *s = NULL;
  uint64_t tag = 0;
  int rc = b->cb.next_request ? b->cb.next_request(b->ud, &rq)
                              : b->cb.next(b->ud, &s, &tag);
  if (rc <= 0 || b->state >= UVF__ABORTED)
    return rc;
  if (b->cb.next_request) { /* the caller's struct may be an older one */
    uvf_request_init(&full);
    if (rq && rq->size >= sizeof(size_t))
      memcpy(&full, rq, rq->size < sizeof(full) ? rq->size : sizeof(full));
    full.size = sizeof(full);
    s = full.url;
    tag = full.tag;
  }
  if ((*u = uvf__url_make(s, b->cb.next_request ? &full : NULL, tag)))
    give_index(b, *u);
  else
    deliver_oom(b, s ? s : "", tag);
  return rc;
}

/* The next new URL: submitted ones first, then the source's. */
static uvf__url *take_next(uvf__batch *b) {
  uvf__url *u = queue_pop(b);
  int rc = 1;
  while (!u && rc > 0 && (b->cb.next || b->cb.next_request) &&
         !b->source_empty && !b->input_ended) {
    rc = ask_source(b, &u);
    if (b->state >= UVF__ABORTED) {
      if (u) /* next() aborted or closed: this URL gets no index */
        uvf__url_release(b, u);
      return NULL;
    }
    if (rc <= 0) {
      b->input_ended = rc == 0;
      b->source_empty = rc < 0;
    }
  }
  return u;
}

/* ---- checking a URL ---- */

/* IPv6 addresses come in brackets; anything else that is not an IPv4
 * address in dotted form may need a lookup. */
static int is_name(const char *host) {
  struct in_addr a;
  return host[0] != '[' && inet_pton(AF_INET, host, &a) != 1;
}

/* Finds the URL's origin (and its host, if the batch tracks hosts). */
static const char *find_origin(uvf__batch *b, uvf__url *u, uvf_err *kind) {
  char *key = uvf__origin_key(b->cu, u->https);
  if (key) {
    u->origin = uvf__origin_ref(b->e, key);
    free(key);
  }
  if (u->origin && uvf__tracks_hosts(b))
    u->host = host_ref(b, u->origin);
  *kind = UVF_EABORTED;
  return !u->origin || (uvf__tracks_hosts(b) && !u->host) ? "out of memory"
                                                          : NULL;
}

/* Checks the URL and finds its origin; returns an error text if it cannot
 * start, with *kind saying why. */
static const char *classify(uvf__batch *b, uvf__url *u, uvf_err *kind) {
  char *host = NULL;
  const char *why;
  CURLUcode uc;
  u->https = strncasecmp(u->url, "https://", 8) == 0;
  *kind = UVF_EINVALID_URL;
  if (!u->https && strncasecmp(u->url, "http://", 7) != 0)
    return "only http:// and https:// URLs are supported";
  if ((uc = curl_url_set(b->cu, CURLUPART_URL, u->url, 0)) != CURLUE_OK)
    return curl_url_strerror(uc);
  if (curl_url_get(b->cu, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
    curl_free(host);
    return "no host name";
  }
  u->named = is_name(host);
  why = find_origin(b, u, kind);
  curl_free(host);
  return why;
}

/* ---- the steps of a URL ---- */

/* Starts the transfer, or records why it could not start. */
static void begin_transfer(uvf__batch *b, uvf__url *u) {
  int rc = uvf__xfer_start(b, u);
  if (rc == 0)
    return;
  uvf__host_released(b, u);
  uvf__deliver_url_error(b, u, UVF_EABORTED,
                         rc == UVF_ENOMEM   ? "out of memory"
                         : rc == UVF_ESTATE ? uvf_strerror(UVF_EABORTED)
                                            : "libcurl refused the transfer");
}

/* A URL for a named host waits for a lookup slot if none is free. While
 * it waits it counts against N but holds no socket and no slot of its
 * host: the host's cap, rate and pauses are checked when it leaves. */
static void pass_lookup_gate(uvf__batch *b, uvf__url *u) {
  uvf__host *h = u->host;
  if (!uvf__tls_gate_pass(b, u))
    return; /* waits for its origin's first TLS session */
  if (!uvf__setup_room(b->e, u)) {
    uvf__lookup_wait(b, u);
    return;
  }
  if (h) {
    h->in_flight++;
    if (b->o.rate_per_host > 0) { /* the next start, evenly spaced */
      uint64_t now = uv_hrtime() / 1000;
      h->next_start_us = (h->next_start_us > now ? h->next_start_us : now) +
                         (uint64_t)(1e6 / b->o.rate_per_host);
    }
  }
  begin_transfer(b, u);
}

/* Parks a URL behind its host if the host cannot take it now. */
static void route(uvf__batch *b, uvf__url *u) {
  uvf__host *h = u->host;
  if (h && (!uvf__list_empty(&h->parked) || !host_has_room(b, h))) {
    uvf__list_push(&h->parked, &u->link);
    b->parked++;
    host_schedule(b, h);
  } else {
    pass_lookup_gate(b, u);
  }
}

static void admit_new(uvf__batch *b, uvf__url *u) {
  uvf_err kind;
  const char *why;
  if (u->rq && u->rq->bad) {
    uvf__deliver_url_error(b, u, UVF_EINVALID_REQUEST, u->rq->bad);
    return;
  }
  why = classify(b, u, &kind);
  if (why) {
    char msg[256];
    snprintf(msg, sizeof(msg), "%s%s",
             kind == UVF_EINVALID_URL ? "invalid URL: " : "", why);
    uvf__deliver_url_error(b, u, kind, msg);
  } else {
    route(b, u);
  }
}

/* The oldest URL parked on the first ready host. */
static void start_parked(uvf__batch *b) {
  uvf__host *h =
      UVF__CONTAINER(uvf__list_pop(&b->ready), uvf__host, ready_link);
  uvf__url *u;
  if (!host_has_room(b, h)) { /* paused since it was put on the list */
    host_schedule(b, h);
    return;
  }
  u = UVF__CONTAINER(uvf__list_pop(&h->parked), uvf__url, link);
  b->parked--;
  h->refs++; /* h outlives the start */
  pass_lookup_gate(b, u);
  if (b->state == UVF__RUNNING)
    host_schedule(b, h);
  host_unref(b, h);
}

/* URLs indexed, not queued and not in flight: parked behind their host,
 * waiting for a lookup slot or for a retry. */
uint64_t uvf__waiting(const uvf__batch *b) {
  return (uint64_t)b->parked + b->lookup_waiting + b->tls_waiting +
         b->retry_waiting;
}

/* URLs at a gate hold one of the N slots, so they count here. */
static int may_start(const uvf__batch *b) {
  return b->state == UVF__RUNNING &&
         b->st.in_flight + b->lookup_waiting + b->tls_waiting <
             b->o.max_in_flight;
}

/* URLs whose origin's TLS gate opened go on their way. */
static void release_gated(uvf__batch *b) {
  uvf__link released, *l;
  uvf__list_init(&released);
  uvf__tls_gate_release(b, &released);
  while ((l = uvf__list_pop(&released)))
    route(b, UVF__CONTAINER(l, uvf__url, link));
}

/* Fills free slots: URLs that waited for a lookup slot, then parked URLs
 * whose host has room, then retries that came due, then new URLs. */
void uvf__admit(uvf__batch *b) {
  uvf__url *u;
  if (b->state == UVF__CLOSING && !b->owns_engine && !b->e->in_curl) {
    uvf__batch_set_state(b, UVF__CLOSED); /* closed from inside libcurl */
    return;
  }
  if (b->admitting || b->state >= UVF__CLOSING)
    return; /* the loop further up the stack re-checks everything */
  b->admitting = 1;
  release_gated(b);
  while (b->state == UVF__RUNNING && (u = uvf__lookup_next(b)))
    route(b, u);
  while (may_start(b)) {
    if (!uvf__list_empty(&b->ready))
      start_parked(b);
    else if ((u = uvf__retry_pop(b)))
      route(b, u); /* indexed already: goes even when paused */
    else if (b->paused || uvf__waiting(b) >= b->o.max_waiting ||
             !(u = take_next(b)))
      break;
    else
      admit_new(b, u);
  }
  b->admitting = 0;
  uvf__maybe_done(b);
}

void uvf__maybe_done(uvf__batch *b) {
  if (b->done_called || b->admitting || !b->input_ended ||
      !uvf__list_empty(&b->queue) || uvf__waiting(b) || b->st.in_flight)
    return;
  b->done_called = 1;
  if (b->state < UVF__CLOSED)
    uv_timer_stop(&b->deadline_timer);
  if (b->cb.on_done)
    b->cb.on_done(b->ud);
}

/* ---- abort ---- */

static void list_clear(uvf__link *head) {
  while (uvf__list_pop(head))
    ;
}

/* Unhooks every URL waiting anywhere in the batch onto one list. */
static void collect_waiting(uvf__batch *b, uvf__link *all) {
  uvf__link *l;
  uvf__list_splice(all, &b->queue);
  uvf__lookup_collect(b, all);
  uvf__tls_gate_collect(b, all);
  b->st.queued = 0;
  list_clear(&b->ready);
  list_clear(&b->timed);
  UVF__LIST_FOREACH(l, &b->hosts) {
    uvf__host *h = UVF__CONTAINER(l, uvf__host, batch_link);
    uvf__list_splice(all, &h->parked);
  }
  uvf__retry_collect(b, all);
  b->parked = 0;
  if (b->state < UVF__CLOSED)
    uv_timer_stop(&b->polite_timer);
}

/* Ends every indexed URL without a result yet; from then on nothing
 * starts (the state is at least ABORTED). Does nothing more when called
 * again with nothing left. */
void uvf__abort_all(uvf__batch *b, uvf_err kind) {
  uvf__link all, *l;
  if (b->state < UVF__ABORTED) {
    b->state = UVF__ABORTED;
    b->aborted_by = kind;
  }
  b->input_ended = 1;
  while ((l = b->live.next) != &b->live)
    uvf__xfer_abort(UVF__CONTAINER(l, uvf__xfer, link), kind);
  uvf__list_init(&all);
  collect_waiting(b, &all);
  while ((l = uvf__list_pop(&all)))
    uvf__deliver_url_error(b, UVF__CONTAINER(l, uvf__url, link), kind,
                           uvf_strerror(kind));
  uvf__maybe_done(b);
}
