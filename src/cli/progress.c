/* The progress line on stderr: one line redrawn in place with \r a few
 * times a second by a uv_timer on the fetcher's loop. Shorter redraws pad
 * with spaces rather than use escape codes, so a forced --progress into a
 * file or pipe stays plain text. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli.h"

#define TICK_MS 250
#define RATE_TAU 3.0 /* seconds the rate takes to follow a change */

struct uvf_cli_progress {
  uv_timer_t timer;
  FILE *fp;
  void (*count)(void *ud, uvf_cli_counts *c);
  void *ud;
  size_t shown;     /* columns of the line now on screen; 0 = none */
  uint64_t last_ns; /* time of the last tick */
  uint64_t last_done;
  double rate; /* URLs per second, smoothed; < 0 until known */
};

static void update_rate(uvf_cli_progress *p, uint64_t done) {
  uint64_t now = uv_hrtime();
  double dt = (double)(now - p->last_ns) / 1e9;
  double inst;

  if (dt <= 0)
    return;
  inst = (double)(done - p->last_done) / dt;
  if (p->rate < 0)
    p->rate = inst;
  else
    p->rate += (inst - p->rate) * (1.0 - exp(-dt / RATE_TAU));
  p->last_ns = now;
  p->last_done = done;
}

static void format_eta(char *out, size_t size, const uvf_cli_progress *p,
                       const uvf_cli_counts *c) {
  double secs;
  unsigned long s;

  if (!c->total_known || p->rate <= 0.01 || c->done > c->total) {
    snprintf(out, size, "?");
    return;
  }
  secs = (double)(c->total - c->done) / p->rate;
  s = secs > 359999 ? 359999 : (unsigned long)ceil(secs);
  if (s >= 3600)
    snprintf(out, size, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
  else
    snprintf(out, size, "%lu:%02lu", s / 60, s % 60);
}

/* A line wider than the terminal wraps, and \r would then redraw only
 * its last row. */
static size_t columns(FILE *fp) {
  struct winsize ws;

  if (ioctl(fileno(fp), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
    return ws.ws_col - 1;
  return 200;
}

/* The line is drawn from the loop, so it is drawn only when the write
 * cannot wait: a terminal held with Ctrl-S, or a pipe nobody reads, would
 * otherwise stop every transfer (the report has a thread of its own). */
static int writable(FILE *fp) {
  struct pollfd pfd = {.fd = fileno(fp), .events = POLLOUT};

  return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT);
}

static void draw(uvf_cli_progress *p) {
  uvf_cli_counts c;
  char total[24];
  char eta[24];
  char line[256];
  size_t len;
  int n;

  memset(&c, 0, sizeof(c));
  p->count(p->ud, &c);
  update_rate(p, c.done);
  if (c.hold || !writable(p->fp))
    return;
  if (c.total_known)
    snprintf(total, sizeof(total), "%" PRIu64, c.total);
  else
    snprintf(total, sizeof(total), "?");
  if (c.stopping) /* what is left to wait for is the grace period */
    snprintf(eta, sizeof(eta), "stopping in %.1f s",
             (double)c.grace_left_ms / 1000);
  else
    format_eta(eta, sizeof(eta), p, &c);
  n = snprintf(line, sizeof(line),
               "%" PRIu64 "/%s done, %" PRIu64 " in flight, %" PRIu64
               " ok, %" PRIu64 " failed, %.1f/s, %s%s",
               c.done, total, c.in_flight, c.ok, c.failed,
               p->rate > 0 ? p->rate : 0.0, c.stopping ? "" : "ETA ", eta);
  len = n < 0 ? 0 : (size_t)n >= sizeof(line) ? sizeof(line) - 1 : (size_t)n;
  if (len > columns(p->fp))
    len = columns(p->fp);
  fprintf(p->fp, "\r%.*s%*s", (int)len, line,
          (int)(p->shown > len ? p->shown - len : 0), "");
  fflush(p->fp);
  p->shown = len;
}

static void on_tick(uv_timer_t *t) { draw(t->data); }

static void on_closed(uv_handle_t *h) { free(h->data); }

int uvf_cli_progress_start(uvf_cli_progress **out, uv_loop_t *loop, FILE *fp,
                           void (*count)(void *ud, uvf_cli_counts *c),
                           void *ud) {
  uvf_cli_progress *p = malloc(sizeof(*p));
  int rc;

  if (!p)
    return -ENOMEM;
  *p = (uvf_cli_progress){
      .fp = fp, .count = count, .ud = ud, .rate = -1, .last_ns = uv_hrtime()};
  rc = uv_timer_init(loop, &p->timer);
  if (rc != 0) {
    free(p);
    return rc;
  }
  p->timer.data = p;
  rc = uv_timer_start(&p->timer, on_tick, TICK_MS, TICK_MS);
  if (rc != 0) {
    uv_close((uv_handle_t *)&p->timer, on_closed);
    return rc;
  }
  /* The fetcher's handles decide when the loop ends, not this timer. */
  uv_unref((uv_handle_t *)&p->timer);
  *out = p;
  return 0;
}

void uvf_cli_progress_clear(uvf_cli_progress *p) {
  if (!p || p->shown == 0 || !writable(p->fp))
    return;
  fprintf(p->fp, "\r%*s\r", (int)p->shown, "");
  fflush(p->fp);
  p->shown = 0;
}

void uvf_cli_progress_close(uvf_cli_progress *p) {
  if (!p)
    return;
  uvf_cli_progress_clear(p);
  uv_timer_stop(&p->timer);
  uv_close((uv_handle_t *)&p->timer, on_closed);
}
