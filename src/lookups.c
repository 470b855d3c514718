/* The caps on host-name lookups and on TLS connection set-ups at once,
 * in one place.
 *
 * libcurl 7.88 as Debian builds it resolves each name on a thread of its
 * own with a socketpair to report back, and starts one per transfer that
 * misses its DNS cache, with no limit (M7): N transfers to new names mean
 * N threads and 2N more open files at once. So a transfer to a named host
 * counts as a lookup from its start until it opens a socket or reuses a
 * connection (both come after any lookup), at most max_lookups of them
 * run at once (engine-wide), and a batch's URL that finds no slot waits
 * on the batch's lookup queue, holding one of its N slots but no socket
 * and no slot of its host.
 *
 * With max_handshakes, a transfer to an https origin likewise holds a
 * handshake slot from its start until its connection is ready (prereq)
 * or it ends: OpenSSL holds about 32 KiB of buffers per handshake in
 * progress, so a burst of thousands of new connections peaks lower when
 * they are set up a bounded number at a time. It waits on the same queue,
 * first come first served (a URL behind one waiting for a handshake slot
 * waits too). */
#include "internal.h"

int uvf__lookup_room(const uvf__engine *e) {
  return e->max_lookups == 0 || e->lookups < e->max_lookups;
}

static int handshake_room(const uvf__engine *e) {
  return e->max_handshakes == 0 || e->handshakes < e->max_handshakes;
}

/* Whether u may start now as far as these caps go. */
int uvf__setup_room(const uvf__engine *e, const uvf__url *u) {
  return (!u->named || uvf__lookup_room(e)) && (!u->https || handshake_room(e));
}

/* Called as the transfer starts. */
void uvf__lookup_begin(uvf__xfer *x) {
  if (x->u->https && x->e->max_handshakes) {
    x->handshaking = 1;
    x->e->handshakes++;
  }
  if (!x->u->named)
    return;
  x->looking = 1;
  x->e->lookups++;
}

/* Gives back a slot the transfer holds (*held), counted in *count. */
static void give_back(uvf__engine *e, unsigned char *held, unsigned *count) {
  if (!*held)
    return;
  *held = 0;
  (*count)--;
  uvf__engine_admit_all(e); /* maybe inside libcurl: from the loop */
}

/* Called when the transfer opens a socket: any lookup is over. */
void uvf__lookup_over(uvf__xfer *x) {
  give_back(x->e, &x->looking, &x->e->lookups);
}

/* Called when the connection is ready (or reused), or the transfer ends:
 * both slots come back. */
void uvf__setup_over(uvf__xfer *x) {
  uvf__lookup_over(x);
  give_back(x->e, &x->handshaking, &x->e->handshakes);
}

void uvf__lookup_wait(uvf__batch *b, uvf__url *u) {
  uvf__list_push(&b->lookup, &u->link);
  b->lookup_waiting++;
}

/* The URL that waited longest, if the slots it needs are free. */
uvf__url *uvf__lookup_next(uvf__batch *b) {
  uvf__url *u;
  if (uvf__list_empty(&b->lookup))
    return NULL;
  u = UVF__CONTAINER(b->lookup.next, uvf__url, link);
  if (!uvf__setup_room(b->e, u))
    return NULL;
  uvf__list_remove(&u->link);
  b->lookup_waiting--;
  return u;
}

/* For abort: every URL waiting for a slot. */
void uvf__lookup_collect(uvf__batch *b, uvf__link *to) {
  uvf__list_splice(to, &b->lookup);
  b->lookup_waiting = 0;
}
