/* Stopping a run: on a signal, transfers in flight get --grace seconds to
 * finish and the report's reader gets them to read the rest; after that
 * what runs is aborted, and the report is given up once its reader takes
 * nothing more. */
#include <inttypes.h>

#include "run.h"

void uvf_cli_run_stop(uvf_cli_run *c) {
  if (c->procs) {
    uvf_cli_procs_stop(c);
    return;
  }
  if (c->stopping || c->done || !c->f)
    return;
  c->stopping = 1;
  uvf_abort(c->f, UVF_EABORTED);
}

/* How often a report's reader is looked at once the grace is over. */
#define READER_LOOK_MS 1000

/* Whether the report's reader took nothing since the last look, though
 * the writer had bytes for it then. */
static void look_at_reader(uvf_cli_run *c) {
  uint64_t written;

  if (!c->out)
    return;
  written = uvf_cli_writer_written(c->out);
  c->reader_stalled = c->reader_due > 0 && written == c->reader_mark;
  c->reader_mark = written;
  c->reader_due = uvf_cli_writer_handed(c->out);
}

static void on_watchdog(uv_timer_t *t) {
  uvf_cli_run *c = t->data;

  look_at_reader(c);
  uvf_cli_run_wind_down(c);
}

/* Once the grace period is over, transfers still running are aborted;
 * the rest of the report goes out as long as its reader keeps reading,
 * and is given up as soon as it takes nothing for READER_LOOK_MS (at
 * once if it took nothing during the grace period). */
static void grace_over(uvf_cli_run *c) {
  c->grace_over = 1;
  uvf_cli_run_stop(c);
  look_at_reader(c);
  if (uv_timer_init(&c->loop, &c->watchdog) == 0) {
    c->watchdog_init = 1;
    c->watchdog.data = c;
    uv_timer_start(&c->watchdog, on_watchdog, READER_LOOK_MS, READER_LOOK_MS);
  } else {
    c->reader_stalled = 1; /* cannot look again: do not wait */
  }
  uvf_cli_run_wind_down(c);
}

static void on_grace_over(uv_timer_t *t) { grace_over(t->data); }

/* With --grace 0, or no timer to be had, there is no grace period:
 * c->grace_init stays 0. */
static void start_grace_timer(uvf_cli_run *c) {
  if (c->args.grace_ms <= 0 || uv_timer_init(&c->loop, &c->grace) != 0)
    return;
  c->grace_init = 1;
  c->grace.data = c;
  uv_timer_start(&c->grace, on_grace_over, (uint64_t)c->args.grace_ms, 0);
}

/* What is left of the input will not be started. Count it only where
 * that is cheap. */
void uvf_cli_run_note_rest(uvf_cli_run *c) {
  if (c->rest_noted || !c->in)
    return;
  c->rest_noted = 1;
  c->rest_counted = uvf_cli_input_count_rest(c->in, &c->rest) == 0;
  if (c->positions) /* every record not reached yet is ahead */
    c->rest_journaled = uvf_cli_journal_unmatched(c->journal);
}

/* Lets the transfers in flight finish for --grace seconds, starting no
 * other; on_prepare() in setup.c ends the run early once none is left. */
static void drain_transfers(uvf_cli_run *c) {
  uvf_stats s;
  double secs = (double)c->args.grace_ms / 1000;

  uvf_get_stats(c->f, &s);
  if (!c->grace_init || s.in_flight == 0) {
    uvf_cli_run_stop(c);
    return;
  }
  uvf_drain(c->f);
  c->draining = 1;
  uvf_cli_note("stopping: %" PRIu64 " transfer%s in flight may finish "
               "within %g s; signal again to quit at once",
               s.in_flight, s.in_flight == 1 ? "" : "s", secs);
}

/* SIGINT, SIGTERM, SIGHUP: the same grace for all. After the fetcher has
 * finished, what is left is a report waiting for its reader, who then
 * has the grace period to read it. */
void uvf_cli_run_on_signal(void *ud, int signum) {
  uvf_cli_run *c = ud;

  (void)signum;
  if (c->interrupted || c->wound_down)
    return;
  c->interrupted = 1;
  uvf_cli_run_note_rest(c);
  look_at_reader(c); /* the first look */
  start_grace_timer(c);
  if (c->f && !c->done)
    drain_transfers(c);
  else if (c->out && c->grace_init && uvf_cli_writer_pending(c->out) > 0)
    uvf_cli_note("stopping: the report's reader has %g s to read the rest; "
                 "signal again to quit at once",
                 (double)c->args.grace_ms / 1000);
  if (!c->grace_init)
    grace_over(c); /* --grace 0 */
  else
    uvf_cli_run_wind_down(c);
}
