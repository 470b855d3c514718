/* The end of a run: once the fetcher is closed, the threads finish their
 * work (body files, the journal, the report) with the loop running, and
 * every handle is closed. */
#include <errno.h>
#include <inttypes.h>

#include "run.h"

/* Closes a handle of the run's own, if *init says it was made. */
static void close_handle(void *h, int *init) {
  if (*init)
    uv_close(h, NULL);
  *init = 0;
}

static void close_all(uvf_cli_run *c) {
  close_handle(&c->flusher, &c->flusher_init);
  close_handle(&c->grace, &c->grace_init);
  close_handle(&c->watchdog, &c->watchdog_init);
  c->input_failed = c->in && uvf_cli_input_failed(c->in);
  uvf_cli_progress_close(c->progress);
  c->progress = NULL;
  uvf_cli_signals_close(c->signals);
  c->signals = NULL;
  uvf_cli_input_close(c->in);
  c->in = NULL;
  uvf_cli_bodies_close(c->bodies);
  c->bodies = NULL;
  uvf_cli_writer_close(c->out);
  c->out = NULL;
}

/* The reader did not read within the grace period after a signal: the
 * rest of the report is given up. */
static void give_up_report(uvf_cli_run *c) {
  c->lost = uvf_cli_writer_abandon(c->out);
  if (c->output_err == 0)
    c->output_err = -EAGAIN;
}

static int journal_done(uvf_cli_run *c) {
  int err;

  if (!c->journal)
    return 1;
  if (!c->journal_finishing) {
    c->journal_finishing = 1;
    uvf_cli_journal_finish(c->journal);
  }
  if (!uvf_cli_journal_finished(c->journal))
    return 0;
  err = uvf_cli_journal_close(c->journal);
  c->journal = NULL;
  if (err != 0)
    uvf_cli_run_journal_failed(c, err);
  return 1;
}

static int report_done(uvf_cli_run *c) {
  if (!c->out)
    return 1;
  if (!c->report_finishing) {
    c->report_finishing = 1;
    uvf_cli_writer_finish(c->out);
  }
  if (uvf_cli_writer_finished(c->out))
    return 1;
  if (!c->interrupted || !c->grace_over || !c->reader_stalled)
    return 0;
  give_up_report(c);
  return 1;
}

/* Once the fetcher is closed: the body files are closed (their records
 * come then), the journal is synced, the report is written out. Each
 * step waits for its thread with the loop running, so that a signal
 * still acts: after one, the report's reader has the grace period. */
void uvf_cli_run_wind_down(uvf_cli_run *c) {
  if (!c->fetcher_closed || c->wound_down)
    return;
  if (c->bodies && !uvf_cli_bodies_idle(c->bodies))
    return;
  if (!journal_done(c) || !uvf_cli_run_db_done(c) || !report_done(c))
    return;
  c->wound_down = 1;
  close_all(c);
}

void uvf_cli_run_news(void *ud) {
  uvf_cli_run *c = ud;
  int err = c->out ? uvf_cli_writer_error(c->out) : 0;

  if (err != 0 && c->output_err == 0)
    uvf_cli_run_output_failed(c, err);
  err = c->journal ? uvf_cli_journal_error(c->journal) : 0;
  if (err != 0)
    uvf_cli_run_journal_failed(c, err);
  uvf_cli_run_db_check(c);
  uvf_cli_run_backpressure(c);
  uvf_cli_run_wind_down(c);
}

void uvf_cli_run_fetcher_closed(void *ud) {
  uvf_cli_run *c = ud;

  c->f = NULL;
  c->fetcher_closed = 1;
  uvf_cli_run_wind_down(c);
}

void uvf_cli_run_on_done(void *ud) {
  uvf_cli_run *c = ud;
  uvf_stats s;

  uvf_get_stats(c->f, &s);
  c->tally.connects = s.connects;
  if (c->args.worker && c->out) { /* for the parent's summary */
    uvf_cli_buf_reset(&c->framed);
    uvf_cli_buf_printf(&c->framed, "connects %" PRIu64 "\n", s.connects);
    if (!c->framed.oom)
      uvf_cli_writer_add(c->out, c->framed.data, c->framed.len);
  }
  c->done = 1;
  uvf_fetcher_close(c->f, uvf_cli_run_fetcher_closed);
}
