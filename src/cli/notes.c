/* Notes on input lines whose record is still to come: what the library's
 * result does not carry back (a request's "tag", why a line is not a
 * request, the journal key of a JSON line). Keyed by the line's tag; a
 * note lives from the line's taking to its record, so there are never
 * more than the URLs the fetcher holds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct entry {
  struct entry *next;
  uvf_cli_linenote note;
} entry;

struct uvf_cli_notes {
  entry **buckets;
  size_t nbuckets; /* power of two */
  size_t count;
};

static size_t slot(const uvf_cli_notes *n, uint64_t key) {
  return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 32) &
         (n->nbuckets - 1);
}

static int grow(uvf_cli_notes *n) {
  size_t size = n->nbuckets ? 2 * n->nbuckets : 64, i;
  entry **b = calloc(size, sizeof(*b)), *e;
  uvf_cli_notes bigger = {b, size, n->count};

  if (!b)
    return -ENOMEM;
  for (i = 0; i < n->nbuckets; i++)
    while ((e = n->buckets[i])) {
      n->buckets[i] = e->next;
      e->next = b[slot(&bigger, e->note.key)];
      b[slot(&bigger, e->note.key)] = e;
    }
  free(n->buckets);
  *n = bigger;
  return 0;
}

static char *dup_or_null(const char *s, int *oom) {
  char *d = s ? strdup(s) : NULL;

  *oom |= s && !d;
  return d;
}

int uvf_cli_notes_put(uvf_cli_notes **pn, const uvf_cli_linenote *note) {
  uvf_cli_notes *n = *pn;
  entry *e;
  int oom = 0;

  if (!n && !(n = *pn = calloc(1, sizeof(*n))))
    return -ENOMEM;
  if ((n->count >= n->nbuckets && grow(n)) || !(e = malloc(sizeof(*e))))
    return -ENOMEM;
  e->note = *note;
  e->note.tag = dup_or_null(note->tag, &oom);
  e->note.why = dup_or_null(note->why, &oom);
  if (oom) {
    free(e->note.tag);
    free(e->note.why);
    free(e);
    return -ENOMEM;
  }
  e->next = n->buckets[slot(n, note->key)];
  n->buckets[slot(n, note->key)] = e;
  n->count++;
  return 0;
}

int uvf_cli_notes_take(uvf_cli_notes *n, uint64_t key, uvf_cli_linenote *out) {
  entry **at, *e;

  if (!n || !n->nbuckets)
    return 0;
  for (at = &n->buckets[slot(n, key)]; (e = *at); at = &e->next)
    if (e->note.key == key) {
      *at = e->next;
      *out = e->note;
      free(e);
      n->count--;
      return 1;
    }
  return 0;
}

void uvf_cli_linenote_clear(uvf_cli_linenote *note) {
  free(note->tag);
  free(note->why);
  note->tag = note->why = NULL;
}

void uvf_cli_notes_free(uvf_cli_notes *n) {
  uvf_cli_linenote note;
  size_t i;

  if (!n)
    return;
  for (i = 0; i < n->nbuckets; i++)
    while (n->buckets[i] &&
           uvf_cli_notes_take(n, n->buckets[i]->note.key, &note))
      uvf_cli_linenote_clear(&note);
  free(n->buckets);
  free(n);
}
