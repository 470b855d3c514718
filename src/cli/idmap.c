/* A map from one 64-bit number to another, for the few thousand entries
 * in flight at once: a library index to its input position in a run that
 * skips lines (--shard, a worker), an input position to its line in the
 * parent of worker processes. Open addressing with linear probing, and
 * deletion by moving later entries back, so that it never fills with
 * tombstones however many millions pass through it. */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

typedef struct slot {
  uint64_t key;
  uint64_t value;
  int used;
} slot;

struct uvf_cli_idmap {
  slot *s;
  size_t cap; /* a power of two */
  size_t n;
};

static size_t home(const uvf_cli_idmap *m, uint64_t key) {
  return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 20) & (m->cap - 1);
}

int uvf_cli_idmap_new(uvf_cli_idmap **out) {
  uvf_cli_idmap *m = calloc(1, sizeof(*m));

  if (!m)
    return -ENOMEM;
  m->cap = 64;
  if (!(m->s = calloc(m->cap, sizeof(*m->s)))) {
    free(m);
    return -ENOMEM;
  }
  *out = m;
  return 0;
}

static slot *find(const uvf_cli_idmap *m, uint64_t key) {
  size_t i = home(m, key);

  while (m->s[i].used && m->s[i].key != key)
    i = (i + 1) & (m->cap - 1);
  return &m->s[i];
}

/* Twice the slots once half are used: probes stay short. */
static int grow(uvf_cli_idmap *m) {
  uvf_cli_idmap big = {calloc(2 * m->cap, sizeof(slot)), 2 * m->cap, m->n};
  size_t i;

  if (!big.s)
    return -ENOMEM;
  for (i = 0; i < m->cap; i++)
    if (m->s[i].used)
      *find(&big, m->s[i].key) = m->s[i];
  free(m->s);
  *m = big;
  return 0;
}

int uvf_cli_idmap_put(uvf_cli_idmap *m, uint64_t key, uint64_t value) {
  slot *s;

  if (2 * (m->n + 1) > m->cap && grow(m) != 0)
    return -ENOMEM;
  s = find(m, key);
  m->n += !s->used;
  *s = (slot){key, value, 1};
  return 0;
}

int uvf_cli_idmap_get(const uvf_cli_idmap *m, uint64_t key, uint64_t *value) {
  const slot *s = find(m, key);

  if (s->used)
    *value = s->value;
  return s->used;
}

/* Backward-shift deletion: each later entry of the run that would be
 * found through the hole moves into it. */
int uvf_cli_idmap_take(uvf_cli_idmap *m, uint64_t key, uint64_t *value) {
  slot *s = find(m, key);
  size_t hole = (size_t)(s - m->s), i = hole, want;

  if (!s->used)
    return 0;
  if (value)
    *value = s->value;
  for (;;) {
    m->s[hole].used = 0;
    for (;;) {
      i = (i + 1) & (m->cap - 1);
      if (!m->s[i].used) {
        m->n--;
        return 1;
      }
      want = home(m, m->s[i].key);
      /* movable unless its home lies cyclically in (hole, i] */
      if (hole <= i ? (want <= hole || want > i) : (want <= hole && want > i))
        break;
    }
    m->s[hole] = m->s[i];
    hole = i;
  }
}

size_t uvf_cli_idmap_count(const uvf_cli_idmap *m) { return m ? m->n : 0; }

int uvf_cli_idmap_any(const uvf_cli_idmap *m, uint64_t *key, uint64_t *value) {
  size_t i;

  for (i = 0; m && m->n > 0 && i < m->cap; i++)
    if (m->s[i].used) {
      *key = m->s[i].key;
      *value = m->s[i].value;
      return 1;
    }
  return 0;
}

void uvf_cli_idmap_free(uvf_cli_idmap *m) {
  if (!m)
    return;
  free(m->s);
  free(m);
}
