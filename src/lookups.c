/* The cap on host-name lookups at once, in one place.
 *
 * libcurl 7.88 as Debian builds it resolves each name on a thread of its
 * own with a socketpair to report back, and starts one per transfer that
 * misses its DNS cache, with no limit (M7): N transfers to new names mean
 * N threads and 2N more open files at once. So a transfer to a named host
 * counts as a lookup from its start until it opens a socket or reuses a
 * connection (both come after any lookup), at most max_lookups of them
 * run at once (engine-wide), and a batch's URL that finds no slot waits
 * on the batch's lookup queue, holding one of its N slots but no socket
 * and no slot of its host. */
#include "internal.h"

int uvf__lookup_room(const uvf__engine *e) {
  return e->max_lookups == 0 || e->lookups < e->max_lookups;
}

/* Called as the transfer starts. */
void uvf__lookup_begin(uvf__xfer *x) {
  if (!x->u->named)
    return;
  x->looking = 1;
  x->e->lookups++;
}

/* Called when the transfer opens a socket, reuses a connection or ends. */
void uvf__lookup_over(uvf__xfer *x) {
  uvf__engine *e = x->e;
  if (!x->looking)
    return;
  x->looking = 0;
  e->lookups--;
  uvf__engine_admit_all(e); /* maybe inside libcurl: from the loop */
}

void uvf__lookup_wait(uvf__batch *b, uvf__url *u) {
  uvf__list_push(&b->lookup, &u->link);
  b->lookup_waiting++;
}

/* The URL that waited longest, if a slot is free. */
uvf__url *uvf__lookup_next(uvf__batch *b) {
  uvf__link *l;
  if (!uvf__lookup_room(b->e) || !(l = uvf__list_pop(&b->lookup)))
    return NULL;
  b->lookup_waiting--;
  return UVF__CONTAINER(l, uvf__url, link);
}

/* For abort: every URL waiting for a slot. */
void uvf__lookup_collect(uvf__batch *b, uvf__link *to) {
  uvf__list_splice(to, &b->lookup);
  b->lookup_waiting = 0;
}
