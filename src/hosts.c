/* The per-host table: scheme+host+port -> in-flight count and parked URLs.
 * Chained hashing with FNV-1a; entries are freed as soon as nothing refers
 * to them, so a crawl over a million hosts keeps only the busy ones. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static size_t hash(const char *s) {
  size_t h = (size_t)14695981039346656037ULL;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * (size_t)1099511628211ULL;
  return h;
}

int uvf__hosts_init(uvf__hosts *t) {
  t->nbuckets = 64;
  t->count = 0;
  t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
  return t->buckets ? 0 : UVF_ENOMEM;
}

/* Doubling keeps chains short; a failed grow just leaves them longer. */
static void grow(uvf__hosts *t) {
  size_t n = t->nbuckets * 2, i;
  uvf__host **b = calloc(n, sizeof(*b));
  if (!b)
    return;
  for (i = 0; i < t->nbuckets; i++) {
    uvf__host *h = t->buckets[i], *next;
    for (; h; h = next) {
      size_t slot = hash(h->key) & (n - 1);
      next = h->hash_next;
      h->hash_next = b[slot];
      b[slot] = h;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->nbuckets = n;
}

uvf__host *uvf__host_ref(uvf__hosts *t, const char *key) {
  size_t slot = hash(key) & (t->nbuckets - 1), len;
  uvf__host *h;
  for (h = t->buckets[slot]; h; h = h->hash_next)
    if (strcmp(h->key, key) == 0) {
      h->refs++;
      return h;
    }
  len = strlen(key);
  h = calloc(1, sizeof(*h) + len + 1);
  if (!h)
    return NULL;
  memcpy(h->key, key, len + 1);
  h->refs = 1;
  h->hash_next = t->buckets[slot];
  t->buckets[slot] = h;
  if (++t->count > t->nbuckets)
    grow(t);
  return h;
}

void uvf__host_unref(uvf__hosts *t, uvf__host *h) {
  uvf__host **pp;
  if (--h->refs > 0)
    return;
  pp = &t->buckets[hash(h->key) & (t->nbuckets - 1)];
  while (*pp != h)
    pp = &(*pp)->hash_next;
  *pp = h->hash_next;
  t->count--;
  free(h);
}

void uvf__hosts_free(uvf__hosts *t) {
  size_t i;
  for (i = 0; i < t->nbuckets; i++) {
    uvf__host *h = t->buckets[i], *next;
    for (; h; h = next) {
      next = h->hash_next;
      free(h);
    }
  }
  free(t->buckets);
  t->buckets = NULL;
  t->nbuckets = t->count = 0;
}
