/* Retries: which failures are worth another attempt, how long to wait
 * (exponential backoff with full jitter, or the server's Retry-After), and
 * a budget so that a failing host cannot turn a batch into a retry storm.
 * A URL waiting for its retry keeps its index and counts as waiting, so
 * admission stops reading new URLs while many wait: memory stays bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Retries allowed: a floor, then one for every ten first attempts. */
#define RETRY_FLOOR 10
#define RETRY_SHARE 10

void uvf__url_free(uvf__url *u) {
  free(u->history);
  free(u);
}

static int retryable(const uvf_result *r) {
  switch (r->error) {
  case UVF_ECONNECT:
  case UVF_ETIMEOUT: return 1;
  case UVF_EPROTOCOL: /* resets and silence, often a stale keep-alive */
    return r->curl_code == CURLE_RECV_ERROR ||
           r->curl_code == CURLE_SEND_ERROR ||
           r->curl_code == CURLE_GOT_NOTHING;
  case UVF_EHTTP:
    return r->status == 408 || r->status == 429 || r->status == 500 ||
           r->status == 502 || r->status == 503 || r->status == 504;
  default: return 0;
  }
}

static uint64_t next_random(uvf_fetcher *f) {
  uint64_t x = f->rng; /* xorshift64: jitter needs spread, not secrecy */
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return f->rng = x;
}

static uint64_t delay_ms(uvf_fetcher *f, const uvf__url *u, const uvf_result *r,
                         long retry_after_s) {
  uint64_t cap = (uint64_t)f->o.retry_max_ms;
  uint64_t span = (uint64_t)f->o.retry_base_ms;
  unsigned k = u->attempts - 1;
  if ((r->status == 429 || r->status == 503) && retry_after_s > 0) {
    uint64_t after = (uint64_t)retry_after_s;
    return after >= cap / 1000 ? cap : after * 1000; /* no overflow */
  }
  while (k-- > 0 && span < cap)
    span *= 2;
  if (span > cap)
    span = cap;
  return next_random(f) % (span + 1);
}

static int note_attempt(uvf__url *u, const uvf_result *r) {
  char entry[64];
  size_t old = u->history ? strlen(u->history) : 0;
  char *h;
  if (r->error == UVF_EHTTP)
    snprintf(entry, sizeof(entry), "http %ld", r->status);
  else
    snprintf(entry, sizeof(entry), "%s", uvf_err_name(r->error));
  if (!(h = realloc(u->history, old + strlen(entry) + 3)))
    return UVF_ENOMEM;
  sprintf(h + old, "%s%s", old ? "; " : "", entry);
  u->history = h;
  return 0;
}

static void on_retry_timer(uv_timer_t *t);

static void arm(uvf_fetcher *f) {
  uint64_t now = uv_now(f->loop);
  if (!f->retry_wait)
    return;
  uv_timer_start(&f->retry_timer, on_retry_timer,
                 f->retry_wait->due > now ? f->retry_wait->due - now : 0, 0);
}

/* Moves every due URL to the ready list, which admission empties first. */
static void on_retry_timer(uv_timer_t *t) {
  uvf_fetcher *f = t->data;
  uint64_t now = uv_now(f->loop);
  uvf__url **tail = &f->retry_ready;
  while (*tail)
    tail = &(*tail)->next;
  while (f->retry_wait && f->retry_wait->due <= now) {
    uvf__url *u = f->retry_wait;
    f->retry_wait = u->next;
    u->next = NULL;
    *tail = u;
    tail = &u->next;
  }
  arm(f);
  uvf__admit(f);
}

void uvf__retry_init(uvf_fetcher *f) {
  uv_timer_init(f->loop, &f->retry_timer);
  f->retry_timer.data = f;
  f->rng = uv_hrtime() | 1;
  f->open_handles++;
}

int uvf__retry_take(uvf_fetcher *f, uvf__url *u, const uvf_result *r,
                    long retry_after_s) {
  uvf__url **pp = &f->retry_wait;
  if (u->attempts > f->o.max_retries || !retryable(r) || f->aborted ||
      f->closing)
    return 0;
  if (f->retries >= RETRY_FLOOR + f->first_attempts / RETRY_SHARE ||
      f->retry_waiting >= f->o.max_in_flight)
    return 0; /* over budget: this failure is the URL's result */
  if (note_attempt(u, r))
    return 0;
  f->retries++;
  f->retry_waiting++;
  u->due = uv_now(f->loop) + delay_ms(f, u, r, retry_after_s);
  while (*pp && (*pp)->due <= u->due)
    pp = &(*pp)->next;
  u->next = *pp;
  *pp = u;
  f->st.waiting++;
  arm(f);
  return 1;
}

uvf__url *uvf__retry_pop(uvf_fetcher *f) {
  uvf__url *u = f->retry_ready;
  if (!u)
    return NULL;
  f->retry_ready = u->next;
  u->next = NULL;
  f->st.waiting--;
  f->retry_waiting--;
  return u;
}

/* For abort: hands over every URL waiting for a retry, ready or not. */
uvf__url *uvf__retry_collect(uvf_fetcher *f) {
  uvf__url *all = f->retry_ready, **tail = &all;
  while (*tail)
    tail = &(*tail)->next;
  *tail = f->retry_wait;
  f->retry_ready = f->retry_wait = NULL;
  f->retry_waiting = 0;
  if (!f->closing && !f->torn_down)
    uv_timer_stop(&f->retry_timer);
  return all;
}
