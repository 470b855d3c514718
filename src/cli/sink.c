/* Report sinks: where finished report lines go, one sink per --order
 * value, chosen by name from a table (as dav1d picks its output muxers).
 * Both end in the same writer thread (writer.c), so that a slow reader of
 * the report never stalls the loop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct uvf_cli_sink {
  const struct sink_ops *ops;
  uvf_cli_writer *w;
  uvf_cli_reorder *reorder;
};

typedef struct sink_ops {
  const char *name;
  int (*open)(uvf_cli_sink *s);
  int (*put)(uvf_cli_sink *s, uint64_t index, const char *line, size_t len);
  size_t (*held)(const uvf_cli_sink *s);
  void (*close)(uvf_cli_sink *s);
} sink_ops;

static int write_line(void *ud, const char *line, size_t len) {
  uvf_cli_sink *s = ud;

  uvf_cli_writer_add(s->w, line, len);
  return 0;
}

/* --order done: lines go out as they come. */
static int done_put(uvf_cli_sink *s, uint64_t index, const char *line,
                    size_t len) {
  (void)index;
  return len ? write_line(s, line, len) : 0;
}

/* --order input: lines wait in a reorder buffer for earlier indexes. */
static int input_open(uvf_cli_sink *s) {
  return uvf_cli_reorder_new(&s->reorder, write_line, s);
}

static int input_put(uvf_cli_sink *s, uint64_t index, const char *line,
                     size_t len) {
  return uvf_cli_reorder_put(s->reorder, index, line, len);
}

static size_t input_held(const uvf_cli_sink *s) {
  return uvf_cli_reorder_held(s->reorder);
}

static void input_close(uvf_cli_sink *s) {
  uvf_cli_reorder_free(s->reorder);
  s->reorder = NULL;
}

static const sink_ops sinks[] = {
    {"input", input_open, input_put, input_held, input_close},
    {"done", NULL, done_put, NULL, NULL},
};

static const sink_ops *find(const char *name) {
  size_t i;

  for (i = 0; i < sizeof(sinks) / sizeof(sinks[0]); i++)
    if (strcmp(sinks[i].name, name) == 0)
      return &sinks[i];
  return NULL;
}

int uvf_cli_sink_known(const char *name) { return find(name) != NULL; }

int uvf_cli_sink_new(uvf_cli_sink **out, const char *order, uvf_cli_writer *w) {
  uvf_cli_sink *s;
  const sink_ops *ops = find(order);
  int rc = 0;

  if (!ops)
    return -EINVAL;
  s = calloc(1, sizeof(*s));
  if (!s)
    return -ENOMEM;
  s->ops = ops;
  s->w = w;
  if (ops->open && (rc = ops->open(s)) != 0)
    free(s);
  else
    *out = s;
  return rc;
}

int uvf_cli_sink_put(uvf_cli_sink *s, uint64_t index, const char *line,
                     size_t len) {
  return s->ops->put(s, index, line, len);
}

size_t uvf_cli_sink_held(const uvf_cli_sink *s) {
  return s->ops->held ? s->ops->held(s) : 0;
}

void uvf_cli_sink_free(uvf_cli_sink *s) {
  if (!s)
    return;
  if (s->ops->close)
    s->ops->close(s);
  free(s);
}
