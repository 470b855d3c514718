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

int uvf__retryable(const uvf_result *r) {
  switch (r->error) {
  case UVF_ECONNECT:
  case UVF_ETIMEOUT: return 1;
  case UVF_EPROTOCOL:
    /* Resets and silence, often a stale keep-alive; an HTTP/2 stream the
     * server reset or refused (RST_STREAM, or past a GOAWAY's last
     * stream). */
    return r->curl_code == CURLE_RECV_ERROR ||
           r->curl_code == CURLE_SEND_ERROR ||
           r->curl_code == CURLE_GOT_NOTHING || r->curl_code == CURLE_HTTP2 ||
           r->curl_code == CURLE_HTTP2_STREAM;
  case UVF_EHTTP:
    return r->status == 408 || r->status == 429 || r->status == 500 ||
           r->status == 502 || r->status == 503 || r->status == 504;
  default: return 0;
  }
}

static uint64_t next_random(uvf__batch *b) {
  uint64_t x = b->rng; /* xorshift64: jitter needs spread, not secrecy */
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return b->rng = x;
}

/* The wait before attempt attempts + 1: the server's Retry-After for a
 * 429 or 503 that has one, else a random time in [0, base * 2^(attempts
 * - 1)]; never more than retry_max_ms. */
uint64_t uvf__retry_delay_ms(uvf__batch *b, unsigned attempts,
                             const uvf_result *r, long retry_after_s) {
  uint64_t cap = (uint64_t)b->o.retry_max_ms;
  uint64_t span = (uint64_t)b->o.retry_base_ms;
  unsigned k = attempts - 1;
  if ((r->status == 429 || r->status == 503) && retry_after_s > 0) {
    uint64_t after = (uint64_t)retry_after_s;
    return after >= cap / 1000 ? cap : after * 1000; /* no overflow */
  }
  while (k-- > 0 && span < cap)
    span *= 2;
  if (span > cap)
    span = cap;
  return next_random(b) % (span + 1);
}

static int note_attempt(uvf__url *u, const uvf_result *r) {
  uvf_attempt *h = uvf__realloc(u->history, (u->n_history + 1) * sizeof(*h));
  if (!h)
    return UVF_ENOMEM;
  h[u->n_history].error = r->error;
  h[u->n_history].status = r->status;
  h[u->n_history].curl_code = r->curl_code;
  u->history = h;
  u->n_history++;
  return 0;
}

static uvf__url *url_of(uvf__link *l) {
  return UVF__CONTAINER(l, uvf__url, link);
}

static void on_retry_timer(uv_timer_t *t);

static void arm(uvf__batch *b) {
  uint64_t now = uv_now(b->e->loop), due;
  if (uvf__list_empty(&b->retry_wait) || b->state >= UVF__CLOSED)
    return;
  due = url_of(b->retry_wait.next)->due;
  uv_timer_start(&b->retry_timer, on_retry_timer, due > now ? due - now : 0, 0);
}

/* Moves every due URL to the ready list, which admission empties first. */
static void on_retry_timer(uv_timer_t *t) {
  uvf__batch *b = t->data;
  uint64_t now = uv_now(b->e->loop);
  uvf__link *l;
  while ((l = b->retry_wait.next) != &b->retry_wait && url_of(l)->due <= now) {
    uvf__list_remove(l);
    uvf__list_push(&b->retry_ready, l);
  }
  arm(b);
  uvf__admit(b);
}

void uvf__retry_init(uvf__batch *b) {
  uv_timer_init(b->e->loop, &b->retry_timer);
  b->retry_timer.data = b;
  b->rng = uv_hrtime() | 1;
  b->open_handles++;
}

/* The budget: retries so far under 10 + 1 per 10 first attempts, and
 * fewer URLs waiting for one than N (each may hold a body file). */
int uvf__retry_allowed(const uvf__batch *b) {
  return b->retries < RETRY_FLOOR + b->first_attempts / RETRY_SHARE &&
         b->retry_waiting < b->o.max_in_flight;
}

/* Sending a request again is safe when its method is idempotent (RFC
 * 9110 9.2.2; an Idempotency-Key makes any method so), or when none of
 * it was sent: the connection was refused before the first hop. */
int uvf__may_resend(const uvf__batch *b, const uvf__url *u,
                    const uvf_result *r) {
  return !u->rq || u->rq->idempotent || b->o.retry_all_methods || b->idem_key ||
         (r->error == UVF_ECONNECT && r->redirects == 0);
}

/* Keeps u (and the references it holds) for another attempt if its
 * failure is worth one and the budget allows; returns 1 if so. */
int uvf__retry_take(uvf__batch *b, uvf__url *u, const uvf_result *r,
                    long retry_after_s) {
  uvf__link *at = &b->retry_wait;
  if (u->attempts > b->o.max_retries || !uvf__retryable(r) ||
      !uvf__may_resend(b, u, r) || b->state != UVF__RUNNING ||
      !uvf__retry_allowed(b))
    return 0; /* over budget: this failure is the URL's result */
  if (note_attempt(u, r))
    return 0;
  b->retries++;
  b->retry_waiting++;
  u->due = uv_now(b->e->loop) +
           uvf__retry_delay_ms(b, u->attempts, r, retry_after_s);
  while (at->prev != &b->retry_wait && url_of(at->prev)->due > u->due)
    at = at->prev; /* from the end: delays mostly grow */
  uvf__list_insert_before(at, &u->link);
  arm(b);
  return 1;
}

uvf__url *uvf__retry_pop(uvf__batch *b) {
  uvf__link *l = uvf__list_pop(&b->retry_ready);
  if (!l)
    return NULL;
  b->retry_waiting--;
  return url_of(l);
}

/* For abort: hands over every URL waiting for a retry, ready or not. */
void uvf__retry_collect(uvf__batch *b, uvf__link *to) {
  uvf__list_splice(to, &b->retry_ready);
  uvf__list_splice(to, &b->retry_wait);
  b->retry_waiting = 0;
  if (b->state < UVF__CLOSED)
    uv_timer_stop(&b->retry_timer);
}
