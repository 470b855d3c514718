/* Origins: what the engine knows of each scheme+host+port, kept while
 * anything refers to it. Chained hashing with FNV-1a; an entry is freed
 * as soon as nothing refers to it, so a crawl over a million hosts keeps
 * only the busy ones. Each origin spreads its transfers over lanes (see
 * internal.h) and remembers whether it multiplexes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Host names compare as the URL standard and libcurl compare them: ASCII
 * case does not matter (libcurl matches connections case-insensitively),
 * and a name that is not ASCII counts in its punycode form, which folds
 * its case too. A trailing dot does matter: since 7.82 libcurl keeps it
 * for the lookup, the Host header and its connection cache, and "name."
 * (absolute) may resolve elsewhere than "name" (searched). */
static char *host_name(CURLU *cu) {
  char *host = NULL, *p;
  if (curl_url_get(cu, CURLUPART_HOST, &host, 0) != CURLUE_OK)
    return NULL;
#ifdef CURLU_PUNYCODE
  for (p = host; *p && (unsigned char)*p < 0x80; p++)
    ;
  if (*p) { /* its punycode form, if libcurl can make it */
    char *ascii = NULL;
    if (curl_url_get(cu, CURLUPART_HOST, &ascii, CURLU_PUNYCODE) == CURLUE_OK) {
      curl_free(host);
      host = ascii;
    }
  }
#endif
  for (p = host; *p; p++)
    if (*p >= 'A' && *p <= 'Z')
      *p = (char)(*p - 'A' + 'a');
  return host;
}

char *uvf__origin_key(CURLU *cu, int https) {
  char *host = host_name(cu), *port = NULL, *key = NULL;
  if (!host)
    return NULL;
  curl_url_get(cu, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
  key = uvf__aprintf("%s://%s:%s", https ? "https" : "http", host,
                     port ? port : "");
  curl_free(port);
  curl_free(host);
  return key;
}

static size_t hash(const char *s) {
  size_t h = (size_t)14695981039346656037ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
  return h;
}

int uvf__origins_init(uvf__origins *t) {
  t->count = t->idle = 0;
  uvf__list_init(&t->idle_list);
  t->buckets = uvf__calloc(64, sizeof(*t->buckets));
  t->nbuckets = t->buckets ? 64 : 0;
  return t->buckets ? 0 : UVF_ENOMEM;
}

/* Doubling keeps chains short; a failed grow just leaves them longer. */
static void grow(uvf__origins *t) {
  size_t n = t->nbuckets * 2, i;
  uvf__origin **b = uvf__calloc(n, sizeof(*b));
  if (!b)
    return;
  for (i = 0; i < t->nbuckets; i++) {
    uvf__origin *o = t->buckets[i], *next;
    for (; o; o = next) {
      size_t slot = hash(o->key) & (n - 1);
      next = o->hash_next;
      o->hash_next = b[slot];
      b[slot] = o;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = n;
}

uvf__origin *uvf__origin_ref(uvf__engine *e, const char *key) {
  uvf__origins *t = &e->origins;
  size_t h = hash(key), slot = h & (t->nbuckets - 1), len;
  uvf__origin *o;
  for (o = t->buckets[slot]; o; o = o->hash_next)
    if (strcmp(o->key, key) == 0) {
      if (o->refs++ == 0) { /* back from the idle ones */
        uvf__list_remove(&o->idle_link);
        t->idle--;
      }
      return o;
    }
  len = strlen(key);
  if (!(o = uvf__calloc(1, sizeof(*o) + len + 1)))
    return NULL;
  memcpy(o->key, key, len + 1);
  o->refs = 1;
  uvf__lists_init(&o->hosts, &o->pause_link, &o->idle_link, &o->gate_link,
                  NULL);
  /* Lane 0 lands where the hash says, so origins spread over the groups
   * and an origin seen again finds its idle connections where it left
   * them (as long as the number of groups has not changed). */
  o->home = e->ngroups ? (unsigned)(h % e->ngroups) : 0;
  o->hash_next = t->buckets[slot];
  t->buckets[slot] = o;
  if (++t->count > t->nbuckets)
    grow(t);
  return o;
}

static void origin_free(uvf__origins *t, uvf__origin *o) {
  uvf__origin **pp = &t->buckets[hash(o->key) & (t->nbuckets - 1)];
  while (*pp != o)
    pp = &(*pp)->hash_next;
  *pp = o->hash_next;
  t->count--;
  uvf__tls_session_free(o);
  free(o->lanes);
  free(o);
}

/* An origin nothing refers to is kept, among the most recent
 * UVF__IDLE_ORIGINS, with what was learnt of it (its protocol, its lanes
 * and so where its idle connections are, whether a TLS session exists):
 * the next batch to the same hosts starts from there. */
void uvf__origin_unref(uvf__engine *e, uvf__origin *o) {
  uvf__origins *t = &e->origins;
  uvf__link *oldest;
  if (--o->refs > 0)
    return;
  uvf__list_push(&t->idle_list, &o->idle_link);
  if (++t->idle <= UVF__IDLE_ORIGINS)
    return;
  oldest = uvf__list_pop(&t->idle_list);
  t->idle--;
  origin_free(t, UVF__CONTAINER(oldest, uvf__origin, idle_link));
}

void uvf__origins_free(uvf__origins *t) {
  size_t i;
  for (i = 0; i < t->nbuckets; i++) {
    uvf__origin *o = t->buckets[i], *next;
    for (; o; o = next) {
      next = o->hash_next;
      uvf__tls_session_free(o);
      free(o->lanes);
      free(o);
    }
  }
  free(t->buckets);
  t->buckets = NULL;
  t->nbuckets = t->count = 0;
}

/* Lane j of an origin: lanes[2j] is its group, lanes[2j+1] its transfers
 * in flight. The mapping never changes while the origin lives, so lane 0
 * keeps finding the connections it left. */
#define LANE_GROUP(o, j) ((o)->lanes[2 * (j)])
#define LANE_COUNT(o, j) ((o)->lanes[2 * (j) + 1])

static int group_used(const uvf__origin *o, unsigned g) {
  unsigned j;
  for (j = 0; j < o->nlanes; j++)
    if (LANE_GROUP(o, j) == g)
      return 1;
  return 0;
}

/* A new lane goes to the first group after the origin's home that none of
 * its lanes uses; when it uses them all, the engine makes one more. */
static int lane_add(uvf__engine *e, uvf__origin *o) {
  unsigned g = e->ngroups, k, *lanes;
  for (k = 0; k < e->ngroups; k++) {
    unsigned cand = (o->home + o->nlanes + k) % e->ngroups;
    if (!group_used(o, cand)) {
      g = cand;
      break;
    }
  }
  if (!uvf__engine_group(e, g))
    return UVF_ENOMEM;
  if (!(lanes = uvf__realloc(o->lanes, 2 * (o->nlanes + 1) * sizeof(*lanes))))
    return UVF_ENOMEM;
  o->lanes = lanes;
  LANE_GROUP(o, o->nlanes) = g;
  LANE_COUNT(o, o->nlanes) = 0;
  o->nlanes++;
  return 0;
}

/* How many transfers of the origin one lane takes. Until the origin has
 * answered, a transfer that waits to learn whether it may share a
 * connection (pipewait) is counted as for HTTP/2, so that a first burst to
 * a new host fills lanes that can each become one connection. */
static unsigned lane_size(const uvf__engine *e, const uvf__origin *o,
                          int pipewait) {
  if (o->proto == UVF__PROTO_MUX ||
      (o->proto == UVF__PROTO_UNKNOWN && pipewait))
    return e->max_streams;
  return UVF__LANE_SERIAL;
}

int uvf__lane_take(uvf__engine *e, uvf__origin *o, int pipewait, unsigned *lane,
                   unsigned *group) {
  unsigned size = lane_size(e, o, pipewait), j;
  for (j = 0; j < o->nlanes && LANE_COUNT(o, j) >= size; j++)
    ;
  if (j == o->nlanes && lane_add(e, o))
    return UVF_ENOMEM;
  LANE_COUNT(o, j)++;
  *lane = j;
  *group = LANE_GROUP(o, j);
  return 0;
}

void uvf__lane_give(uvf__origin *o, unsigned lane) { LANE_COUNT(o, lane)--; }

/* A reply tells how the origin speaks; a redirected one tells of another
 * origin, so the caller passes only replies that came without redirects. */
void uvf__origin_learn(uvf__origin *o, long http_version) {
  if (http_version >= 20)
    o->proto = UVF__PROTO_MUX;
  else if (http_version > 0)
    o->proto = UVF__PROTO_SERIAL;
}

/* Arms t for the soonest of the times (µs, uv_hrtime's clock) that
 * when_us gives for the links of list; leaves it alone for an empty list
 * or an engine that no longer runs. A millisecond is added so that the
 * timer never fires just before its time. */
void uvf__timer_arm_soonest(uvf__engine *e, uv_timer_t *t, uv_timer_cb cb,
                            uvf__link *list,
                            uint64_t (*when_us)(const uvf__link *)) {
  uint64_t now = uv_hrtime() / 1000, least = UINT64_MAX;
  uvf__link *l;
  UVF__LIST_FOREACH(l, list) {
    uint64_t at = when_us(l), w = at > now ? at - now : 0;
    if (w < least)
      least = w;
  }
  if (least != UINT64_MAX && e->state == UVF__ENGINE_RUNNING)
    uv_timer_start(t, cb, least / 1000 + 1, 0);
}

static void on_pause_timer(uv_timer_t *t);

static uint64_t pause_end(const uvf__link *l) {
  return UVF__CONTAINER(l, const uvf__origin, pause_link)->paused_until_us;
}

/* Re-arms the timer for the pause that ends first. */
static void pause_arm(uvf__engine *e) {
  uvf__timer_arm_soonest(e, &e->pause_timer, on_pause_timer, &e->paused,
                         pause_end);
}

/* A pause that is over no longer keeps its origin alive. */
static void on_pause_timer(uv_timer_t *t) {
  uvf__engine *e = t->data;
  uint64_t now = uv_hrtime() / 1000;
  uvf__link *l = e->paused.next;
  while (l != &e->paused) {
    uvf__origin *o = UVF__CONTAINER(l, uvf__origin, pause_link);
    l = l->next;
    if (o->paused_until_us <= now) {
      uvf__list_remove(&o->pause_link);
      uvf__origin_unref(e, o);
    }
  }
  pause_arm(e);
}

/* The server asked everyone to wait, not only one URL: no batch starts a
 * transfer to the origin before the pause ends. The origin must outlive
 * the pause even when nothing else refers to it, or the next URL for it
 * would find a fresh entry and no pause. */
void uvf__origin_pause(uvf__engine *e, uvf__origin *o, uint64_t ms) {
  uint64_t until = uv_hrtime() / 1000 + ms * 1000;
  if (until > o->paused_until_us)
    o->paused_until_us = until;
  if (!uvf__linked(&o->pause_link)) {
    o->refs++;
    uvf__list_push(&e->paused, &o->pause_link);
  }
  pause_arm(e);
}

uint64_t uvf__origin_wait_us(const uvf__origin *o, uint64_t now_us) {
  return o->paused_until_us > now_us ? o->paused_until_us - now_us : 0;
}
