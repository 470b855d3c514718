/* One first TLS handshake per origin.
 *
 * A full TLS handshake costs the client about three times a resumed one
 * (OpenSSL 3.0 parses the server's certificates, each through its
 * provider decoders, and checks their signatures), and a burst of N
 * transfers to a new https origin would make N of them at once, before
 * any session exists to resume. So the first transfer to such an origin
 * goes alone; the others wait (holding one of their batch's N slots, no
 * socket) until its TLS session has arrived, which libcurl stores in the
 * engine's shared session cache (TLS 1.3 sends it just after the
 * handshake), and then connect resuming it. The wait is over early when
 * no session comes within the time the first handshake took (at least
 * 5 ms), or when the first transfer ends: a server without resumption
 * costs one handshake's time, once. An origin keeps what it learnt while
 * the engine remembers it (see origins.c). Every connection then starts
 * from a copy of the origin's latest session (tls_session.c): OpenSSL
 * would resume the one object libcurl shares between them only once. */
#include "internal.h"

#define GIVE_UP_MIN_US 5000

static void on_gate_timer(uv_timer_t *t);

static uint64_t give_up_time(const uvf__link *l) {
  return UVF__CONTAINER(l, const uvf__origin, gate_link)->tls_give_up_us;
}

static void gate_arm(uvf__engine *e) {
  uvf__timer_arm_soonest(e, &e->gate_timer, on_gate_timer, &e->gating,
                         give_up_time);
}

/* An origin on the engine's gating list is kept alive by it: its first
 * transfer may be gone when its gate opens. */
static void gating_add(uvf__engine *e, uvf__origin *o) {
  if (uvf__linked(&o->gate_link))
    return;
  o->refs++;
  uvf__list_push(&e->gating, &o->gate_link);
}

/* The origin's transfers need not wait any more: every batch may go on. */
static void gate_open(uvf__engine *e, uvf__origin *o) {
  if (o->tls_warm)
    return;
  o->tls_warm = 1;
  if (uvf__linked(&o->gate_link)) {
    uvf__list_remove(&o->gate_link);
    uvf__origin_unref(e, o);
  }
  e->gate_epoch++;
  uvf__engine_admit_all(e);
}

/* The origin's session is in the share: its gate opens on the next turn
 * of the loop, outside libcurl. */
void uvf__tls_gate_soon(uvf__engine *e, uvf__origin *o) {
  if (o->tls_warm)
    return;
  o->tls_give_up_us = 1; /* long past */
  gating_add(e, o);
  if (e->state == UVF__ENGINE_RUNNING)
    uv_timer_start(&e->gate_timer, on_gate_timer, 0, 0);
}

static void on_gate_timer(uv_timer_t *t) {
  uvf__engine *e = t->data;
  uint64_t now = uv_hrtime() / 1000;
  uvf__link *l = e->gating.next;
  while (l != &e->gating) {
    uvf__origin *o = UVF__CONTAINER(l, uvf__origin, gate_link);
    l = l->next;
    if (o->tls_give_up_us <= now)
      gate_open(e, o);
  }
  gate_arm(e);
}

void uvf__tls_gate_init(uvf__engine *e) {
  uvf__list_init(&e->gating);
  uv_timer_init(e->loop, &e->gate_timer);
  e->gate_timer.data = e;
}

/* Before u takes its slots: 1 if it may go on (and, if its origin has no
 * session yet, it is the one that may bring it), 0 if it now waits on the
 * batch's gate queue. */
int uvf__tls_gate_pass(uvf__batch *b, uvf__url *u) {
  uvf__origin *o = u->origin;
  if (!u->https || o->tls_warm || b->o.insecure || b->e->proxy_env)
    return 1; /* (tls_session.c keeps no session for these) */
  if (o->tls_first > 0) {
    uvf__list_push(&b->tls_wait, &u->link);
    b->tls_waiting++;
    return 0;
  }
  u->tls_first = 1;
  o->tls_first++;
  return 1;
}

/* The first transfer's connection is set up (from inside libcurl, before
 * the request goes out): the session should follow within about the time
 * the handshake took. */
void uvf__tls_gate_connected(uvf__xfer *x, uint64_t handshake_us) {
  uvf__origin *o = x->u->origin;
  if (!x->u->tls_first || o->tls_warm || o->tls_give_up_us)
    return;
  o->tls_give_up_us =
      uv_hrtime() / 1000 +
      (handshake_us > GIVE_UP_MIN_US ? handshake_us : GIVE_UP_MIN_US);
  gating_add(x->e, o);
  gate_arm(x->e);
}

/* The transfer of u has ended, whatever its result, or u is released
 * without one (abort). The gate opens on the next turn of the loop:
 * callers are deep in a batch's bookkeeping. */
void uvf__tls_gate_done(uvf__engine *e, uvf__url *u) {
  uvf__origin *o = u->origin;
  if (!u->tls_first)
    return;
  u->tls_first = 0;
  if (--o->tls_first == 0)
    uvf__tls_gate_soon(e, o);
}

/* Moves every waiting URL whose origin is open, or has no first transfer
 * any more (it then becomes one), to `to`. Scans only after a gate
 * opened since the last scan. */
void uvf__tls_gate_release(uvf__batch *b, uvf__link *to) {
  uvf__engine *e = b->e;
  uvf__link *l = b->tls_wait.next;
  if (b->gate_epoch == e->gate_epoch)
    return;
  b->gate_epoch = e->gate_epoch;
  while (l != &b->tls_wait) {
    uvf__url *u = UVF__CONTAINER(l, uvf__url, link);
    l = l->next;
    if (u->origin->tls_warm || u->origin->tls_first == 0) {
      uvf__list_remove(&u->link);
      uvf__list_push(to, &u->link);
      b->tls_waiting--;
    }
  }
}

/* For abort: every URL waiting at a gate. */
void uvf__tls_gate_collect(uvf__batch *b, uvf__link *to) {
  uvf__list_splice(to, &b->tls_wait);
  b->tls_waiting = 0;
}
