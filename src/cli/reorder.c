/* Reorder buffer: report lines arrive in completion order and leave in
 * index order. A line whose index is the next one expected is written at
 * once, with no copy; others wait in a ring indexed by index modulo its
 * size. The ring grows to span the distance between the oldest unfinished
 * index and the newest finished one, which the caller keeps bounded with
 * uvf_pause() (see uvf_cli_sink_held()). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* What waits at an index that has no line (a line of another shard). */
static char no_line[1];

typedef struct slot {
  char *line; /* NULL: nothing waits here */
  size_t len;
} slot;

struct uvf_cli_reorder {
  slot *ring;
  size_t cap;    /* a power of two */
  uint64_t next; /* the index written next */
  size_t held;
  size_t held_bytes;
  uvf_cli_write_fn write;
  void *ud;
};

int uvf_cli_reorder_new(uvf_cli_reorder **out, uvf_cli_write_fn write,
                        void *ud) {
  uvf_cli_reorder *r = calloc(1, sizeof(*r));

  if (!r)
    return -ENOMEM;
  r->write = write;
  r->ud = ud;
  *out = r;
  return 0;
}

static slot *slot_of(const uvf_cli_reorder *r, uint64_t index) {
  return &r->ring[index & (r->cap - 1)];
}

/* Makes room for index, moving what waits into a larger ring. */
static int grow(uvf_cli_reorder *r, uint64_t index) {
  uvf_cli_reorder bigger = *r;
  uint64_t i;

  bigger.cap = r->cap ? r->cap : 64;
  while (index - r->next >= bigger.cap)
    bigger.cap *= 2;
  bigger.ring = calloc(bigger.cap, sizeof(slot));
  if (!bigger.ring)
    return -ENOMEM;
  for (i = r->next; i < r->next + r->cap; i++)
    *slot_of(&bigger, i) = *slot_of(r, i);
  free(r->ring);
  r->ring = bigger.ring;
  r->cap = bigger.cap;
  return 0;
}

static int hold(uvf_cli_reorder *r, uint64_t index, const char *line,
                size_t len) {
  slot *s;
  int rc;

  if (index - r->next >= r->cap && (rc = grow(r, index)) != 0)
    return rc;
  s = slot_of(r, index);
  if (s->line)
    return -EEXIST;
  s->line = len ? malloc(len) : no_line;
  if (!s->line)
    return -ENOMEM;
  if (len)
    memcpy(s->line, line, len);
  s->len = len;
  r->held++;
  r->held_bytes += len;
  return 0;
}

/* Writes the lines that waited for the one just written. */
static int release(uvf_cli_reorder *r) {
  slot *s;
  int rc = 0;

  while (r->held > 0 && (s = slot_of(r, r->next))->line) {
    if (rc == 0 && s->len)
      rc = r->write(r->ud, s->line, s->len);
    if (s->line != no_line)
      free(s->line);
    s->line = NULL;
    r->held--;
    r->held_bytes -= s->len;
    r->next++;
  }
  return rc;
}

int uvf_cli_reorder_put(uvf_cli_reorder *r, uint64_t index, const char *line,
                        size_t len) {
  int rc;
  int rc2;

  if (index < r->next)
    return -EEXIST;
  if (index > r->next)
    return hold(r, index, line, len);
  rc = len ? r->write(r->ud, line, len) : 0;
  r->next++;
  rc2 = release(r);
  return rc != 0 ? rc : rc2;
}

size_t uvf_cli_reorder_held(const uvf_cli_reorder *r) { return r->held_bytes; }

void uvf_cli_reorder_free(uvf_cli_reorder *r) {
  size_t i;

  if (!r)
    return;
  for (i = 0; i < r->cap; i++)
    if (r->ring[i].line != no_line)
      free(r->ring[i].line);
  free(r->ring);
  free(r);
}
