/* Input positions of the library's indexes. The library numbers the URLs
 * it takes 0, 1, 2...; a resumed run skips the URLs its journal already
 * has, so the URL of library index j sits at input position j + (URLs
 * skipped before it). That offset only changes where a run of skipped
 * URLs ends, so a sorted list of (first index, offset) pairs is the whole
 * map: empty in a run with nothing to skip, which then costs nothing. */
#include <errno.h>
#include <stdlib.h>

#include "cli.h"

typedef struct step {
  uint64_t from;   /* first library index with this offset */
  uint64_t offset; /* position - index */
} step;

struct uvf_cli_positions {
  step *steps;
  size_t n;
  size_t cap;
};

int uvf_cli_positions_new(uvf_cli_positions **out) {
  uvf_cli_positions *p = calloc(1, sizeof(*p));

  if (!p)
    return -ENOMEM;
  *out = p;
  return 0;
}

int uvf_cli_positions_note(uvf_cli_positions *p, uint64_t index,
                           uint64_t position) {
  uint64_t offset = position - index;
  step *s;

  if (offset == (p->n ? p->steps[p->n - 1].offset : 0))
    return 0;
  if (!(s = uvf_cli_grow(p->steps, p->n, &p->cap, sizeof(*s), 16)))
    return -ENOMEM;
  p->steps = s;
  s[p->n++] = (step){index, offset};
  return 0;
}

uint64_t uvf_cli_positions_of(const uvf_cli_positions *p, uint64_t index) {
  size_t lo = 0, hi = p->n; /* the answer is the last step with from <= index */

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;

    if (p->steps[mid].from <= index)
      lo = mid + 1;
    else
      hi = mid;
  }
  return index + (lo ? p->steps[lo - 1].offset : 0);
}

void uvf_cli_positions_free(uvf_cli_positions *p) {
  if (!p)
    return;
  free(p->steps);
  free(p);
}
