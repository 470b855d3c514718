/* The command's messages on standard error, as curl's tool_msgs.c: every
 * file reports through these, so none depends on main.c to be heard.
 *
 * They are printed on the loop thread, with the blocking stdio of
 * stderr: a terminal held with Ctrl-S holds them up. They are few (one a
 * failure, not one a URL), unlike the progress line, which is drawn only
 * when its write cannot wait (progress.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

static FILE *out; /* NULL: stderr */
static int quiet; /* -q: no notes */
static void (*before)(void *ud);
static void *before_ud;

void uvf_cli_msgs_to(FILE *fp) { out = fp; }

void uvf_cli_msgs_quiet(int on) { quiet = on; }

void uvf_cli_msgs_before(void (*fn)(void *ud), void *ud) {
  before = fn;
  before_ud = ud;
}

static void vsay(const char *prefix, const char *fmt, va_list ap) {
  FILE *fp = out ? out : stderr;

  if (before)
    before(before_ud);
  fputs(prefix, fp);
  vfprintf(fp, fmt, ap);
  fputc('\n', fp);
}

/* The body of each printf-like function below. */
#define SAY(prefix)                                                            \
  do {                                                                         \
    va_list ap;                                                                \
                                                                               \
    va_start(ap, fmt);                                                         \
    vsay(prefix, fmt, ap);                                                     \
    va_end(ap);                                                                \
  } while (0)

void uvf_cli_error(const char *fmt, ...) { SAY("uvfetch: "); }

void uvf_cli_warn(const char *fmt, ...) { SAY("uvfetch: warning: "); }

void uvf_cli_note(const char *fmt, ...) {
  if (!quiet)
    SAY("uvfetch: ");
}

int uvf_cli_usage(const char *fmt, ...) {
  SAY("uvfetch: ");
  fputs("Try 'uvfetch --help' for more information.\n", out ? out : stderr);
  return -EINVAL;
}
