/* Admission: which URL starts next. At most max_in_flight transfers run,
 * at most max_per_host of them to one scheme+host+port. A URL whose host
 * is at its cap is parked on that host, so it never holds back URLs for
 * other hosts; when one of the host's transfers ends, the host goes on the
 * ready list and its oldest parked URL takes the next free slot. New URLs
 * are read from the queue or the source only while slots are free and the
 * parked count is under max_waiting: memory follows the work in flight,
 * not the length of the input. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

int uvf__tracks_hosts(const uvf_fetcher *f) {
  return f->o.max_per_host || f->o.rate_per_host > 0 || f->o.max_retries;
}

static void ready_push(uvf_fetcher *f, uvf__host *h) {
  h->on_ready = 1;
  h->ready_next = NULL;
  if (f->ready_tail)
    f->ready_tail->ready_next = h;
  else
    f->ready_head = h;
  f->ready_tail = h;
}

static uvf__host *ready_pop(uvf_fetcher *f) {
  uvf__host *h = f->ready_head;
  f->ready_head = h->ready_next;
  if (!f->ready_head)
    f->ready_tail = NULL;
  h->on_ready = 0;
  h->ready_next = NULL;
  return h;
}

static int cap_room(const uvf_fetcher *f, const uvf__host *h) {
  return f->o.max_per_host == 0 || h->in_flight < f->o.max_per_host;
}

/* Microseconds until the host's rate or a Retry-After pause lets it start
 * a transfer; 0 if it may now. */
static uint64_t time_wait_us(const uvf_fetcher *f, const uvf__host *h) {
  uint64_t now = uv_hrtime() / 1000, until = h->paused_until_us;
  if (f->o.rate_per_host > 0 && h->next_start_us > until)
    until = h->next_start_us;
  return until > now ? until - now : 0;
}

static int host_has_room(const uvf_fetcher *f, const uvf__host *h) {
  return cap_room(f, h) && time_wait_us(f, h) == 0;
}

static void on_polite_timer(uv_timer_t *t);

/* Re-arms the timer for the host on the timed list that can go first. */
static void polite_arm(uvf_fetcher *f) {
  uint64_t least = UINT64_MAX;
  uvf__host *h;
  for (h = f->timed; h; h = h->time_next) {
    uint64_t w = time_wait_us(f, h);
    if (w < least)
      least = w;
  }
  for (h = f->paused_hosts; h; h = h->pause_next) {
    uint64_t now = uv_hrtime() / 1000;
    uint64_t w = h->paused_until_us > now ? h->paused_until_us - now : 0;
    if (w < least)
      least = w;
  }
  if (least != UINT64_MAX)
    uv_timer_start(&f->polite_timer, on_polite_timer, least / 1000 + 1, 0);
}

/* A host with parked URLs goes where it can be found again: the ready
 * list if it may start now, the timed list if only time holds it back;
 * a host at its cap is found again when one of its transfers ends. */
static void host_schedule(uvf_fetcher *f, uvf__host *h) {
  if (!h->parked_head || h->on_ready || h->on_timed || !cap_room(f, h))
    return;
  if (time_wait_us(f, h) == 0) {
    ready_push(f, h);
    return;
  }
  h->on_timed = 1;
  h->time_next = f->timed;
  f->timed = h;
  polite_arm(f);
}

/* A pause that is over no longer keeps its host entry alive. */
static void end_pauses(uvf_fetcher *f) {
  uvf__host **pp = &f->paused_hosts;
  uint64_t now = uv_hrtime() / 1000;
  while (*pp) {
    uvf__host *h = *pp;
    if (h->paused_until_us <= now) {
      *pp = h->pause_next;
      h->on_paused = 0;
      h->pause_next = NULL;
      uvf__host_unref(&f->hosts, h);
    } else {
      pp = &h->pause_next;
    }
  }
}

static void on_polite_timer(uv_timer_t *t) {
  uvf_fetcher *f = t->data;
  uvf__host **pp = &f->timed;
  end_pauses(f);
  while (*pp) {
    uvf__host *h = *pp;
    if (time_wait_us(f, h) == 0) {
      *pp = h->time_next;
      h->on_timed = 0;
      h->time_next = NULL;
      host_schedule(f, h);
    } else {
      pp = &h->time_next;
    }
  }
  polite_arm(f);
  uvf__admit(f);
}

void uvf__polite_init(uvf_fetcher *f) {
  uv_timer_init(f->loop, &f->polite_timer);
  f->polite_timer.data = f;
  f->open_handles++;
}

/* The host entry must outlive the pause even when nothing refers to it, or
 * the next URL for the host would find a fresh entry and no pause. */
void uvf__host_pause(uvf_fetcher *f, uvf__host *h, uint64_t ms) {
  uint64_t until = uv_hrtime() / 1000 + ms * 1000;
  if (until > h->paused_until_us)
    h->paused_until_us = until;
  if (!h->on_paused) {
    h->on_paused = 1;
    h->refs++;
    h->pause_next = f->paused_hosts;
    f->paused_hosts = h;
  }
  polite_arm(f);
}

void uvf__host_released(uvf_fetcher *f, uvf__host *h) {
  h->in_flight--;
  host_schedule(f, h);
  uvf__host_unref(&f->hosts, h); /* the reference of the finished URL */
}

/* Delivers a result for a URL that never became a transfer, and frees it. */
void uvf__deliver_url_error(uvf_fetcher *f, uvf__url *u, uvf_err kind,
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
  r.time_queued = (double)(uv_hrtime() - u->t_indexed) / 1e9;
  uvf__deliver(f, &r);
  if (u->host)
    uvf__host_unref(&f->hosts, u->host);
  uvf__url_free(u);
}

static uvf__url *url_new(uvf_fetcher *f, const char *s, uint64_t tag) {
  size_t len = strlen(s);
  uvf__url *u = malloc(sizeof(*u) + len + 1);
  if (!u)
    return NULL;
  memcpy(u->url, s, len + 1);
  u->next = NULL;
  u->host = NULL;
  u->attempts = 0;
  u->history = NULL;
  u->due = 0;
  u->named = 0;
  u->https = 0;
  u->index = f->st.submitted++;
  u->tag = tag;
  u->t_indexed = uv_hrtime();
  return u;
}

int uvf__enqueue(uvf_fetcher *f, const char *s, uint64_t tag, uint64_t *index) {
  uvf__url *u = url_new(f, s, tag);
  if (!u)
    return UVF_ENOMEM;
  if (f->queue_tail)
    f->queue_tail->next = u;
  else
    f->queue_head = u;
  f->queue_tail = u;
  f->st.queued++;
  if (index)
    *index = u->index;
  return 0;
}

static uvf__url *queue_pop(uvf_fetcher *f) {
  uvf__url *u = f->queue_head;
  f->queue_head = u->next;
  if (!f->queue_head)
    f->queue_tail = NULL;
  u->next = NULL;
  f->st.queued--;
  return u;
}

/* The source has moved past this URL, so its index still needs a result. */
static void deliver_oom(uvf_fetcher *f, const char *s, uint64_t tag) {
  uvf_result r;
  memset(&r, 0, sizeof(r));
  r.index = f->st.submitted++;
  r.tag = tag;
  r.url = s;
  r.error = UVF_EABORTED;
  r.message = "out of memory";
  uvf__deliver(f, &r);
}

static uvf__url *take_next(uvf_fetcher *f) {
  const char *s = NULL;
  uint64_t tag = 0;
  uvf__url *u;
  int rc;
  if (f->queue_head)
    return queue_pop(f);
  while (f->cb.next && !f->source_empty && !f->input_ended && !f->aborted) {
    rc = f->cb.next(f->ud, &s, &tag);
    if (f->aborted)
      return NULL; /* next() aborted or closed: this URL gets no index */
    if (rc <= 0) {
      f->input_ended = rc == 0;
      f->source_empty = rc < 0;
      return NULL;
    }
    if ((u = url_new(f, s, tag)))
      return u;
    deliver_oom(f, s, tag);
  }
  return NULL;
}

/* IPv6 addresses come in brackets; anything else that is not an IPv4
 * address in dotted form may need a lookup. */
static int is_name(const char *host) {
  struct in_addr a;
  return host[0] != '[' && inet_pton(AF_INET, host, &a) != 1;
}

/* Checks the URL and finds its host; returns an error text if it cannot
 * start, with *kind saying why. */
static const char *classify(uvf_fetcher *f, uvf__url *u, uvf_err *kind) {
  char *host = NULL, *port = NULL, *key;
  CURLUcode uc;
  int https = strncasecmp(u->url, "https://", 8) == 0;
  *kind = UVF_EINVALID_URL;
  if (!https && strncasecmp(u->url, "http://", 7) != 0)
    return "only http:// and https:// URLs are supported";
  if ((uc = curl_url_set(f->cu, CURLUPART_URL, u->url, 0)) != CURLUE_OK)
    return curl_url_strerror(uc);
  if (curl_url_get(f->cu, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
    curl_free(host);
    return "no host name";
  }
  u->named = is_name(host);
  u->https = https;
  if (uvf__tracks_hosts(f)) {
    curl_url_get(f->cu, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    if (asprintf(&key, "%s://%s:%s", https ? "https" : "http", host,
                 port ? port : "") >= 0) {
      u->host = uvf__host_ref(&f->hosts, key);
      free(key);
    }
    curl_free(port);
  }
  curl_free(host);
  if (uvf__tracks_hosts(f) && !u->host) {
    *kind = UVF_EABORTED;
    return "out of memory";
  }
  return NULL;
}

static void launch(uvf_fetcher *f, uvf__url *u);

/* A URL waiting for a lookup slot. It counts as waiting and holds one of
 * the N slots, but no socket and no slot of its host: the host's cap, rate
 * and pauses are checked when it leaves the queue. */
static void lookup_push(uvf_fetcher *f, uvf__url *u) {
  u->next = NULL;
  if (f->lookup_tail)
    f->lookup_tail->next = u;
  else
    f->lookup_head = u;
  f->lookup_tail = u;
  f->lookup_waiting++;
  f->st.waiting++;
}

static uvf__url *lookup_pop(uvf_fetcher *f) {
  uvf__url *u = f->lookup_head;
  f->lookup_head = u->next;
  if (!f->lookup_head)
    f->lookup_tail = NULL;
  u->next = NULL;
  f->lookup_waiting--;
  f->st.waiting--;
  return u;
}

/* Takes the host's slot and starts the transfer or, if it may need a
 * lookup and none is free, holds it in the lookup queue. */
static void start(uvf_fetcher *f, uvf__url *u) {
  uvf__host *h = u->host;
  if (u->named && !uvf__lookup_room(f)) {
    lookup_push(f, u);
    return;
  }
  if (h) {
    h->in_flight++;
    if (f->o.rate_per_host > 0) { /* the next start, evenly spaced */
      uint64_t now = uv_hrtime() / 1000;
      h->next_start_us = (h->next_start_us > now ? h->next_start_us : now) +
                         (uint64_t)(1e6 / f->o.rate_per_host);
    }
  }
  launch(f, u);
}

static void launch(uvf_fetcher *f, uvf__url *u) {
  uvf__host *h = u->host;
  int rc;
  if ((rc = uvf__xfer_start(f, u)) == 0)
    return;
  if (h) {
    h->refs++; /* kept alive across the release below */
    uvf__host_released(f, h);
  }
  uvf__deliver_url_error(f, u, UVF_EABORTED,
                         rc == UVF_ENOMEM   ? "out of memory"
                         : rc == UVF_ESTATE ? uvf_strerror(UVF_EABORTED)
                                            : "libcurl refused the transfer");
}

static void park(uvf_fetcher *f, uvf__host *h, uvf__url *u) {
  if (h->parked_tail)
    h->parked_tail->next = u;
  else
    h->parked_head = u;
  h->parked_tail = u;
  f->st.waiting++;
}

/* Parks a URL behind its host if the host cannot take it now. */
static void place(uvf_fetcher *f, uvf__url *u) {
  uvf__host *h = u->host;
  if (h && (h->parked_head || !host_has_room(f, h))) {
    park(f, h, u);
    host_schedule(f, h);
  } else {
    start(f, u);
  }
}

static void dispatch(uvf_fetcher *f, uvf__url *u) {
  uvf_err kind;
  const char *why = classify(f, u, &kind);
  if (why) {
    char msg[256];
    snprintf(msg, sizeof(msg), "%s%s",
             kind == UVF_EINVALID_URL ? "invalid URL: " : "", why);
    uvf__deliver_url_error(f, u, kind, msg);
  } else {
    place(f, u);
  }
}

static void start_parked(uvf_fetcher *f) {
  uvf__host *h = ready_pop(f);
  uvf__url *u = h->parked_head;
  int more;
  if (!host_has_room(f, h)) { /* paused since it was put on the list */
    host_schedule(f, h);
    return;
  }
  h->parked_head = u->next;
  if (!h->parked_head)
    h->parked_tail = NULL;
  u->next = NULL;
  f->st.waiting--;
  more = h->parked_head != NULL; /* then h outlives start() */
  start(f, u);
  if (more && !f->aborted)
    host_schedule(f, h);
}

void uvf__admit(uvf_fetcher *f) {
  unsigned max_waiting = f->o.max_waiting;
  uvf__url *u;
  if (f->admitting || f->closing)
    return; /* the loop further up the stack re-checks everything */
  if (f->aborted) {
    uvf__maybe_done(f);
    return;
  }
  f->admitting = 1;
  while (!f->closing && !f->aborted && !f->draining && f->lookup_head &&
         uvf__lookup_room(f))
    place(f, lookup_pop(f));
  while (!f->closing && !f->aborted && !f->draining &&
         f->st.in_flight + f->lookup_waiting < f->o.max_in_flight) {
    if (f->ready_head) {
      start_parked(f);
      continue;
    }
    if ((u = uvf__retry_pop(f))) {
      dispatch(f, u); /* indexed already: goes even when paused */
      continue;
    }
    if (f->paused || f->st.waiting >= max_waiting || !(u = take_next(f)))
      break;
    dispatch(f, u);
  }
  f->admitting = 0;
  uvf__maybe_done(f);
}

void uvf__maybe_done(uvf_fetcher *f) {
  if (f->done_called || f->admitting || !f->input_ended || f->queue_head ||
      f->st.waiting || f->st.in_flight)
    return;
  f->done_called = 1;
  if (f->cb.on_done)
    f->cb.on_done(f->ud);
}

/* Unhooks every parked URL from its host first, so no host is freed while
 * the table is being walked. */
static uvf__url *collect_parked(uvf_fetcher *f) {
  uvf__url *all = NULL, **tail = &all;
  size_t i;
  for (i = 0; i < f->hosts.nbuckets; i++) {
    uvf__host *h;
    for (h = f->hosts.buckets[i]; h; h = h->hash_next) {
      if (!h->parked_head)
        continue;
      *tail = h->parked_head;
      tail = &h->parked_tail->next;
      h->parked_head = h->parked_tail = NULL;
      h->on_ready = h->on_timed = 0;
      h->time_next = NULL;
    }
  }
  f->ready_head = f->ready_tail = NULL;
  f->timed = NULL;
  if (!f->torn_down)
    uv_timer_stop(&f->polite_timer);
  return all;
}

void uvf__abort_all(uvf_fetcher *f, uvf_err kind) {
  uvf__url *u;
  f->aborted = 1;
  f->input_ended = 1;
  while (f->live)
    uvf__xfer_abort(f->live, kind);
  while (f->queue_head) {
    u = queue_pop(f);
    uvf__deliver_url_error(f, u, kind, uvf_strerror(kind));
  }
  while (f->lookup_head) {
    u = lookup_pop(f);
    uvf__deliver_url_error(f, u, kind, uvf_strerror(kind));
  }
  u = collect_parked(f);
  if (u) {
    uvf__url *t = u;
    while (t->next)
      t = t->next;
    t->next = uvf__retry_collect(f);
  } else {
    u = uvf__retry_collect(f);
  }
  while (u) {
    uvf__url *next = u->next;
    f->st.waiting--;
    uvf__deliver_url_error(f, u, kind, uvf_strerror(kind));
    u = next;
  }
  uvf__maybe_done(f);
}
