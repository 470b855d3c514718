/* Report sinks: where finished report lines go, one sink per --order
 * value, chosen by name from a table (as dav1d picks its output muxers).
 * Both end in the same buffered stdio stream. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

struct uvf_cli_sink {
  const struct sink_ops *ops;
  FILE *fp;
  int err; /* errno of the first write error; later lines are dropped */
  int unflushed;
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

  if (s->err != 0)
    return s->err;
  errno = 0;
  if (fwrite(line, 1, len, s->fp) != len || ferror(s->fp))
    s->err = errno != 0 ? errno : EIO;
  s->unflushed = 1;
  return s->err;
}

/* --order done: lines go out as they come. */
static int done_put(uvf_cli_sink *s, uint64_t index, const char *line,
                    size_t len) {
  (void)index;
  return write_line(s, line, len);
}

/* --order input: lines wait in a reorder buffer for earlier indexes. */
static int input_open(uvf_cli_sink *s) {
  s->reorder = uvf_cli_reorder_new(write_line, s);
  return s->reorder != NULL ? 0 : UVF_ENOMEM;
}

static int input_put(uvf_cli_sink *s, uint64_t index, const char *line,
                     size_t len) {
  int rc = uvf_cli_reorder_put(s->reorder, index, line, len);

  return rc != 0 && s->err == 0 ? rc : s->err;
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

int uvf_cli_sink_new(uvf_cli_sink **out, const char *order, FILE *fp) {
  uvf_cli_sink *s;
  const sink_ops *ops = find(order);

  if (ops == NULL)
    return UVF_EINVAL;
  s = calloc(1, sizeof(*s));
  if (s == NULL)
    return UVF_ENOMEM;
  s->ops = ops;
  s->fp = fp;
  if (ops->open != NULL && ops->open(s) != 0) {
    free(s);
    return UVF_ENOMEM;
  }
  *out = s;
  return 0;
}

int uvf_cli_sink_put(uvf_cli_sink *s, uint64_t index, const char *line,
                     size_t len) {
  return s->ops->put(s, index, line, len);
}

size_t uvf_cli_sink_held(const uvf_cli_sink *s) {
  return s->ops->held != NULL ? s->ops->held(s) : 0;
}

int uvf_cli_sink_flush(uvf_cli_sink *s) {
  if (!s->unflushed || s->err != 0)
    return s->err;
  s->unflushed = 0;
  errno = 0;
  if (fflush(s->fp) != 0)
    s->err = errno != 0 ? errno : EIO;
  return s->err;
}

int uvf_cli_sink_finish(uvf_cli_sink *s) {
  s->unflushed = 1;
  return uvf_cli_sink_flush(s);
}

void uvf_cli_sink_free(uvf_cli_sink **s) {
  if (*s == NULL)
    return;
  if ((*s)->ops->close != NULL)
    (*s)->ops->close(*s);
  free(*s);
  *s = NULL;
}
