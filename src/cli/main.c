/* uvfetch: the command. Wires the input reader, the fetcher, the report
 * sink, body files, the progress line and signals together on one
 * uv_loop_t, and turns the outcome into an exit status. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

typedef struct cli {
  uvf_cli_args args;
  uv_loop_t loop;
  uvf_fetcher *f;
  uvf_cli_input *in;
  uvf_cli_sink *sink;
  uvf_cli_bodies *bodies;
  uvf_cli_progress *progress;
  uvf_cli_signals *signals;
  uvf_cli_journal *journal;     /* --journal; NULL if none */
  uvf_cli_positions *positions; /* NULL when nothing is skipped */
  uint64_t position;            /* input URLs read so far */
  uint64_t taken;               /* of them, handed to the fetcher */
  int input_ended;
  int journal_refused;
  int journal_err;     /* a failed journal write: a negative errno */
  uvf_cli_writer *out; /* the report's writer thread */
  uv_prepare_t flusher;
  int flusher_init;
  uv_timer_t grace;
  int grace_init;
  int grace_over;
  uv_timer_t watchdog; /* after the grace period: is the reader reading? */
  int watchdog_init;
  uint64_t reader_mark; /* report bytes written at the last look */
  size_t reader_due;    /* bytes the writer had for it then */
  int reader_stalled;   /* it had bytes to take, and took none */
  int draining;         /* interrupted: transfers in flight may finish */
  uvf_cli_buf line;
  uvf_cli_buf msg;
  uvf_cli_tally tally;
  size_t window; /* bytes of held report lines before uvf_pause() */
  int paused;
  int stopping; /* aborted: never resume */
  int done;     /* on_done seen */
  int fetcher_closed;
  int journal_finishing;
  int report_finishing;
  int wound_down; /* every thread done, every handle closed */
  uint64_t lost;  /* report lines a reader never took */
  int interrupted;
  int local_err;           /* stopped by a local error: exit 3 */
  int rest_noted;          /* rest, rest_counted are set */
  int rest_counted;        /* rest is the number of URLs not started */
  uint64_t rest_journaled; /* of them, done by an earlier run */
  uint64_t unstarted;      /* given an index, aborted before any attempt */
  int replay_yielded;      /* cb_next said -1 after a long replay */
  uint64_t rest;
  int input_failed;
  int output_err; /* a failed write to stdout: a negative errno */
  int stdout_tty;
  uint64_t t0;
} cli;

/* A finished URL whose record waits for its body file to be closed. */
typedef struct saved {
  uvf_result r;
  uint64_t position;
  _Alignas(uvf_attempt) char text[]; /* the history and strings of r */
} saved;

static void stop(cli *c) {
  if (c->stopping || c->done || !c->f)
    return;
  c->stopping = 1;
  uvf_abort(c->f, UVF_EABORTED);
}

/* ---- backpressure ---- */

/* Body bytes queued for the disk before no new URL is taken. */
#define FILES_PAUSE ((uint64_t)4 << 20)

/* Report bytes in memory: waiting for an earlier index, or for the
 * reader. */
static size_t report_backlog(const cli *c) {
  return uvf_cli_sink_held(c->sink) +
         (c->out ? uvf_cli_writer_pending(c->out) : 0);
}

static uint64_t files_backlog(const cli *c) {
  return c->bodies ? uvf_cli_bodies_backlog(c->bodies) : 0;
}

/* Asks the threads that lag to say when they have caught up: only they
 * can end the pause when no record is coming. */
static void await_threads(cli *c, size_t report, uint64_t files) {
  size_t held = uvf_cli_sink_held(c->sink), low = c->window / 2;

  if (c->out && report >= low && held < low &&
      uvf_cli_writer_pending(c->out) > 0)
    uvf_cli_writer_notify_below(c->out, low - held);
  if (files >= FILES_PAUSE / 2)
    uvf_cli_bodies_notify_below(c->bodies, FILES_PAUSE / 2);
}

/* Early finishers wait in the reorder buffer for a slow earlier index,
 * records wait for a slow reader, bodies for a slow disk. Taking no new
 * URLs while too much waits keeps memory bounded by N and the window,
 * never by the number of URLs, while the transfers in flight go on. */
static void backpressure(cli *c) {
  size_t report = report_backlog(c);
  uint64_t files = files_backlog(c);

  if (!c->f || c->stopping || c->done)
    return;
  if (!c->paused && (report > c->window || files > FILES_PAUSE)) {
    c->paused = 1;
    uvf_pause(c->f);
  } else if (c->paused && report < c->window / 2 && files < FILES_PAUSE / 2) {
    c->paused = 0;
    uvf_resume(c->f);
    return;
  }
  if (c->paused)
    await_threads(c, report, files);
}

static void on_input_ready(void *ud) {
  cli *c = ud;

  if (!c->paused && !c->stopping && !c->done && c->f)
    uvf_resume(c->f);
}

/* ---- resuming ---- */

/* Where library index `index` is in the input. */
static uint64_t position_of(const cli *c, uint64_t index) {
  return c->positions ? uvf_cli_positions_of(c->positions, index) : index;
}

static void output_failed(cli *c, int err);

/* A URL an earlier run finished: its record comes from the journal. */
static void replay(cli *c, uint64_t position, const uvf_cli_journaled *rec) {
  int rc;

  uvf_cli_tally_add(&c->tally, rec->ok, rec->error, rec->bytes);
  c->tally.replayed++;
  if (c->output_err != 0)
    return;
  uvf_cli_buf_reset(&c->line);
  uvf_cli_buf_add(&c->line, rec->line, rec->len);
  uvf_cli_buf_add(&c->line, "\n", 1);
  if (c->line.oom) {
    output_failed(c, -ENOMEM);
    return;
  }
  if (c->stdout_tty)
    uvf_cli_progress_clear(c->progress);
  rc = uvf_cli_sink_put(c->sink, position, c->line.data, c->line.len);
  if (rc != 0)
    output_failed(c, rc);
}

static void note_rest(cli *c);

/* 1 if the journal's answer for the current position is a record this
 * run can replay; otherwise says why not. */
static int record_fits(cli *c, int rc, uint64_t tag,
                       const uvf_cli_journaled *rec) {
  if (rc != 1) {
    uvf_cli_resume_mismatch(c->args.journal_path, rc, c->position, tag);
    return 0;
  }
  /* A record names the body file of the run that wrote it, so it fits
   * this report only if this run has the same -o (or none either). */
  if (!uvf_cli_resume_fits_dir(rec, c->args.output_dir, c->position, &c->msg)) {
    uvf_cli_resume_wrong_dir(c->args.journal_path);
    return 0;
  }
  return 1;
}

static void refuse_journal(cli *c) {
  c->journal_refused = 1;
  stop(c);
}

/* ---- fetcher callbacks ---- */

/* Hands the fetcher the next input URL that the journal does not have;
 * those it has are reported on the way, in their place. */
/* Records replayed in one call: the loop gets its turn between batches,
 * with --order done too, where nothing is held back. */
#define REPLAY_BATCH 4096

static int cb_next(void *ud, const char **url, uint64_t *tag) {
  cli *c = ud;
  uvf_cli_journaled rec;
  size_t replayed = 0;
  int rc;

  for (;;) {
    if (c->positions && report_backlog(c) > c->window) {
      c->paused = 1; /* backpressure() resumes the fetcher */
      await_threads(c, report_backlog(c), files_backlog(c));
      return -1;
    }
    if (replayed == REPLAY_BATCH) {
      c->replay_yielded = 1; /* on_prepare() resumes the fetcher */
      return -1;
    }
    rc = uvf_cli_input_next(c->in, url, tag);
    if (rc == 0 && !c->input_ended) {
      c->input_ended = 1;
      if (c->positions && !uvf_cli_input_failed(c->in) &&
          uvf_cli_resume_past_end(c->args.journal_path, c->journal,
                                  c->position) != 0)
        c->journal_refused = 1; /* every URL has its record already */
    }
    if (rc != 1)
      return rc;
    if (!c->positions) {
      c->position++;
      return 1;
    }
    rc = uvf_cli_journal_lookup(c->journal, c->position,
                                uvf_cli_journal_key(*url, *tag), &rec);
    if (rc == 0) {
      if (uvf_cli_positions_note(c->positions, c->taken, c->position)) {
        output_failed(c, -ENOMEM);
        return 0;
      }
      c->taken++;
      c->position++;
      return 1;
    }
    if (!record_fits(c, rc, *tag, &rec)) {
      refuse_journal(c);
      return 0;
    }
    replay(c, c->position++, &rec);
    replayed++;
    if (c->stopping)
      return 0;
  }
}

static void cb_start(void *ud, uint64_t index, uint64_t tag) {
  cli *c = ud;

  (void)tag;
  uvf_cli_bodies_start(c->bodies, position_of(c, index));
}

static void backpressure(cli *c);

static int cb_body(void *ud, uint64_t index, const char *data, size_t len) {
  cli *c = ud;
  int rc = uvf_cli_bodies_write(c->bodies, position_of(c, index), data, len);

  /* A record waits for its file, so the disk lagging shows here first. */
  if (!c->paused && files_backlog(c) > FILES_PAUSE)
    backpressure(c);
  return rc != 0;
}

/* The message of a record: invalid URLs say where in the input they are,
 * since the URL alone may be empty or mangled. */
static const char *describe(cli *c, const uvf_result *r) {
  uint64_t n = UVF_CLI_TAG_NUMBER(r->tag);
  const char *where = r->tag & UVF_CLI_TAG_ARG ? "argument" : "line";
  const char *why = r->message ? r->message : "";
  const char *prefix = "invalid URL: ";

  if (r->error != UVF_EINVALID_URL)
    return why;
  if (strncmp(why, prefix, strlen(prefix)) == 0)
    why += strlen(prefix); /* the library's wording; said once below */
  uvf_cli_buf_reset(&c->msg);
  uvf_cli_buf_printf(&c->msg, "%s %" PRIu64 ": %s", where, n, prefix);
  if (r->tag & UVF_CLI_TAG_TOO_LONG)
    uvf_cli_buf_printf(&c->msg, "line longer than %d bytes", UVF_CLI_MAX_LINE);
  else if (r->tag & UVF_CLI_TAG_NUL)
    uvf_cli_buf_puts(&c->msg, "line contains a NUL byte");
  else
    uvf_cli_buf_puts(&c->msg, why);
  return c->msg.oom ? why : c->msg.data;
}

static void on_signal(void *ud, int signum);

static void output_failed(cli *c, int err) {
  if (c->output_err != 0)
    return;
  c->output_err = err;
  if (err == -EIO && c->stdout_tty) {
    /* The terminal went away (a dropped ssh session): SIGHUP is on its
     * way or lost; either way, stop as it asks. The journal keeps the
     * records. */
    on_signal(c, SIGHUP);
    return;
  }
  if (err != -EPIPE) /* `uvfetch ... | head` is no error worth a word */
    uvf_cli_error("cannot write the report: %s", strerror(-err));
  if (c->interrupted)
    return; /* stopping already: the grace period goes on */
  c->local_err = err != -EPIPE;
  note_rest(c);
  stop(c);
}

static void journal_failed(cli *c, int err) {
  if (c->journal_err != 0)
    return;
  c->journal_err = err;
  c->local_err = 1;
  uvf_cli_error("cannot write the journal %s: %s", c->args.journal_path,
                strerror(-err));
  note_rest(c);
  stop(c);
}

/* Keeps a finished record for a later run. Aborted ones are left out:
 * they were cut short by us, and the next run fetches them again. */
static void journal_record(cli *c, const uvf_cli_record *rec) {
  uvf_cli_journaled j;

  if (!c->journal || rec->error == UVF_EABORTED || c->journal_refused)
    return;
  j.line = c->line.data;
  j.len = c->line.len;
  j.ok = rec->ok;
  j.error = rec->error;
  j.bytes = rec->r->bytes;
  uvf_cli_journal_add(c->journal, rec->index,
                      uvf_cli_journal_key(rec->r->url, rec->r->tag), &j);
}

static void emit(cli *c, const uvf_cli_record *rec) {
  int rc;

  uvf_cli_buf_reset(&c->line);
  uvf_cli_record_format(&c->line, rec);
  if (c->line.oom) {
    output_failed(c, -ENOMEM);
    return;
  }
  journal_record(c, rec);
  if (c->output_err != 0)
    return;
  if (c->stdout_tty) /* the same terminal, most likely */
    uvf_cli_progress_clear(c->progress);
  rc = uvf_cli_sink_put(c->sink, rec->index, c->line.data, c->line.len);
  if (rc != 0)
    output_failed(c, rc);
  else
    backpressure(c);
}

/* Writes the record of a finished URL; file and write_err come from its
 * body file (-o). */
static void record(cli *c, const uvf_result *r, uint64_t position,
                   const char *message, const char *file,
                   const char *write_err) {
  uvf_cli_record rec;

  memset(&rec, 0, sizeof(rec));
  rec.r = r;
  rec.index = position;
  rec.ok = r->ok;
  rec.error = r->error;
  rec.message = message;
  rec.with_file = c->args.output_dir != NULL;
  rec.file = file;
  if (write_err) {
    /* We stopped it (on_body returned non-zero), or it had no body and
     * the file could not even be created: either way it failed. */
    rec.ok = 0;
    rec.error = UVF_EABORTED;
    rec.message = write_err;
  } else if (r->error == UVF_EABORTED && r->attempts == 0) {
    c->unstarted++; /* it waited for its host, a rate or a lookup */
  }
  uvf_cli_tally_add(&c->tally, rec.ok, rec.error, r->bytes);
  if (c->output_err == 0 || c->journal)
    emit(c, &rec);
}

static size_t text_len(const char *s) { return s ? strlen(s) + 1 : 0; }

static const char *copy_text(char **to, const char *s) {
  char *at = *to;
  size_t n = text_len(s);

  if (!s)
    return NULL;
  memcpy(at, s, n);
  *to += n;
  return at;
}

/* A copy of r that outlives on_result, for a record that waits: the
 * attempts of its history, then its strings. */
static saved *save(const uvf_result *r, uint64_t position,
                   const char *message) {
  size_t n = r->history ? r->n_history : 0;
  size_t attempts = n * sizeof(uvf_attempt);
  saved *sv = malloc(sizeof(*sv) + attempts + text_len(r->url) +
                     text_len(r->final_url) + text_len(message));
  char *to;

  if (!sv)
    return NULL;
  sv->r = *r;
  sv->position = position;
  if (n > 0)
    memcpy(sv->text, r->history, attempts);
  sv->r.history = n > 0 ? (const uvf_attempt *)(void *)sv->text : NULL;
  sv->r.n_history = (unsigned)n;
  to = sv->text + attempts;
  sv->r.url = copy_text(&to, r->url);
  sv->r.final_url = copy_text(&to, r->final_url);
  sv->r.message = copy_text(&to, message);
  sv->r.body = NULL;
  return sv;
}

static void cb_result(void *ud, const uvf_result *r) {
  cli *c = ud;
  uint64_t position = position_of(c, r->index);
  const char *message = describe(c, r);
  saved *sv;

  if (c->bodies) {
    /* The record waits until the body file is closed: the close may
     * fail, and then the record says so. */
    if (!(sv = save(r, position, message)))
      output_failed(c, -ENOMEM);
    if (uvf_cli_bodies_finish(c->bodies, position, r->status != 0, sv))
      return;
    free(sv);
  }
  record(c, r, position, message, NULL, NULL);
}

static void on_body_done(void *ud, uint64_t index, void *cookie,
                         const char *path, const char *err) {
  cli *c = ud;
  saved *sv = cookie;

  (void)index;
  if (!sv) /* out of memory: no record */
    return;
  record(c, &sv->r, sv->position, sv->r.message, path, err);
  free(sv);
}

/* ---- the end of a run ---- */

static void close_all(cli *c) {
  if (c->flusher_init)
    uv_close((uv_handle_t *)&c->flusher, NULL);
  c->flusher_init = 0;
  if (c->grace_init)
    uv_close((uv_handle_t *)&c->grace, NULL);
  c->grace_init = 0;
  if (c->watchdog_init)
    uv_close((uv_handle_t *)&c->watchdog, NULL);
  c->watchdog_init = 0;
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
static void give_up_report(cli *c) {
  c->lost = uvf_cli_writer_abandon(c->out);
  if (c->output_err == 0)
    c->output_err = -EAGAIN;
}

static int journal_done(cli *c) {
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
    journal_failed(c, err);
  return 1;
}

static int report_done(cli *c) {
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
static void wind_down(cli *c) {
  if (!c->fetcher_closed || c->wound_down)
    return;
  if (c->bodies && !uvf_cli_bodies_idle(c->bodies))
    return;
  if (!journal_done(c) || !report_done(c))
    return;
  c->wound_down = 1;
  close_all(c);
}

/* The threads' news: a write failed, a backlog went down, or one is done. */
static void on_report_news(void *ud) {
  cli *c = ud;
  int err = uvf_cli_writer_error(c->out);

  if (err != 0 && c->output_err == 0)
    output_failed(c, err);
  backpressure(c);
  wind_down(c);
}

static void on_journal_news(void *ud) {
  cli *c = ud;
  int err = c->journal ? uvf_cli_journal_error(c->journal) : 0;

  if (err != 0)
    journal_failed(c, err);
  wind_down(c);
}

static void on_files_news(void *ud) {
  cli *c = ud;

  backpressure(c);
  wind_down(c);
}

static void fetcher_closed(void *ud) {
  cli *c = ud;

  c->f = NULL;
  c->fetcher_closed = 1;
  wind_down(c);
}

static void cb_done(void *ud) {
  cli *c = ud;
  uvf_stats s;

  uvf_get_stats(c->f, &s);
  c->tally.connects = s.connects;
  c->done = 1;
  uvf_fetcher_close(c->f, fetcher_closed);
}

/* ---- signals and progress ---- */

/* How often a report's reader is looked at once the grace is over. */
#define READER_LOOK_MS 1000

/* Whether the report's reader took nothing since the last look, though
 * the writer had bytes for it then. */
static void look_at_reader(cli *c) {
  uint64_t written;

  if (!c->out)
    return;
  written = uvf_cli_writer_written(c->out);
  c->reader_stalled = c->reader_due > 0 && written == c->reader_mark;
  c->reader_mark = written;
  c->reader_due = uvf_cli_writer_handed(c->out);
}

static void on_watchdog(uv_timer_t *t) {
  cli *c = t->data;

  look_at_reader(c);
  wind_down(c);
}

/* Once the grace period is over, transfers still running are aborted;
 * the rest of the report goes out as long as its reader keeps reading,
 * and is given up as soon as it takes nothing for READER_LOOK_MS (at
 * once if it took nothing during the grace period). */
static void grace_over(cli *c) {
  c->grace_over = 1;
  stop(c);
  look_at_reader(c);
  if (uv_timer_init(&c->loop, &c->watchdog) == 0) {
    c->watchdog_init = 1;
    c->watchdog.data = c;
    uv_timer_start(&c->watchdog, on_watchdog, READER_LOOK_MS, READER_LOOK_MS);
  } else {
    c->reader_stalled = 1; /* cannot look again: do not wait */
  }
  wind_down(c);
}

static void on_grace_over(uv_timer_t *t) { grace_over(t->data); }

static int start_grace_timer(cli *c) {
  if (c->args.grace_ms <= 0 || uv_timer_init(&c->loop, &c->grace) != 0)
    return -1;
  c->grace_init = 1;
  c->grace.data = c;
  return uv_timer_start(&c->grace, on_grace_over, (uint64_t)c->args.grace_ms,
                        0);
}

/* What is left of the input will not be started. Count it only where
 * that is cheap. */
static void note_rest(cli *c) {
  if (c->rest_noted || !c->in)
    return;
  c->rest_noted = 1;
  c->rest_counted = uvf_cli_input_count_rest(c->in, &c->rest) == 0;
  if (c->positions) /* every record not reached yet is ahead */
    c->rest_journaled = uvf_cli_journal_unmatched(c->journal);
}

/* Lets the transfers in flight finish for --grace seconds, starting no
 * other; on_prepare() ends the run early once none is left. */
static void drain_transfers(cli *c) {
  uvf_stats s;
  double secs = (double)c->args.grace_ms / 1000;

  uvf_get_stats(c->f, &s);
  if (!c->grace_init || s.in_flight == 0) {
    stop(c);
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
static void on_signal(void *ud, int signum) {
  cli *c = ud;

  (void)signum;
  if (c->interrupted || c->wound_down)
    return;
  c->interrupted = 1;
  note_rest(c);
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
    wind_down(c);
}

static void count(void *ud, uvf_cli_counts *k) {
  cli *c = ud;
  uvf_stats s;

  memset(&s, 0, sizeof(s));
  if (c->f)
    uvf_get_stats(c->f, &s);
  k->done = c->tally.total;
  k->ok = c->tally.ok;
  k->failed = c->tally.failed;
  k->in_flight = s.in_flight;
  k->stopping = c->draining && !c->stopping && c->grace_init;
  if (k->stopping)
    k->grace_left_ms = uv_timer_get_due_in(&c->grace);
  k->total_known = c->in && uvf_cli_input_total(c->in, &k->total);
  /* On a shared terminal the line would land inside a record. */
  k->hold = c->stdout_tty && c->out && uvf_cli_writer_pending(c->out);
}

/* Runs each time the loop is about to wait. Records and body blocks of
 * this iteration go to their threads now, in one batch each: a reader at
 * the end of a pipe sees records as they come, yet a busy run still
 * writes in large blocks. */
static void on_prepare(uv_prepare_t *h) {
  cli *c = h->data;
  uvf_stats s;
  int err;

  if (c->out)
    uvf_cli_writer_flush(c->out);
  if (c->bodies)
    uvf_cli_bodies_flush(c->bodies);
  if (c->journal && (err = uvf_cli_journal_flush(c->journal)) != 0)
    journal_failed(c, err);
  if (c->replay_yielded && c->f && !c->paused && !c->stopping && !c->done) {
    c->replay_yielded = 0;
    uvf_resume(c->f);
  }
  if (c->draining && c->f) {
    uvf_get_stats(c->f, &s);
    if (s.in_flight == 0) /* the grace period is not needed any more */
      stop(c);
  }
}

static int start_flusher(cli *c) {
  int rc = uv_prepare_init(&c->loop, &c->flusher);

  if (rc != 0)
    return rc;
  c->flusher.data = c;
  c->flusher_init = 1;
  uv_unref((uv_handle_t *)&c->flusher);
  return uv_prepare_start(&c->flusher, on_prepare);
}

/* Before a message: a line on stderr must start at the left edge. */
static void erase_progress(void *ud) {
  cli *c = ud;

  uvf_cli_progress_clear(c->progress);
}

static int want_progress(const uvf_cli_args *a) {
  if (a->progress != UVF_CLI_PROGRESS_AUTO)
    return a->progress;
  return !a->quiet && isatty(STDERR_FILENO);
}

/* ---- setup and teardown ---- */

/* Raises the open-file limit to the hard limit, then lowers N to what it
 * allows, so that a run does not meet EMFILE half-way. A transfer holds
 * one socket (libcurl keeps no more connections than transfers) and, with
 * -o, a body file; a host-name lookup holds a socketpair instead of the
 * socket (one more), and at most `lookups` run at once; the reserve covers
 * stdio and the loop. With --max-lookups 0 lookups are not counted. */
#define FD_RESERVE 128
#define FD_RESERVE_MIN 24

/* Report bytes that may wait for a slow earlier record (--order input). */
#define WINDOW_MIN (8u << 20)

static unsigned fit_fd_limit(unsigned n, int with_files, unsigned lookups) {
  struct rlimit rl;
  rlim_t per = with_files ? 2 : 1, most, avail, reserve;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return n;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur == RLIM_INFINITY)
    return n;
  /* A quarter of a small limit is reserve enough, but no less than what a
   * run opens before any transfer: stdio, the loop's descriptors, the
   * journal, the -o directory (14 counted). */
  reserve = rl.rlim_cur / 4 < FD_RESERVE ? rl.rlim_cur / 4 : FD_RESERVE;
  if (reserve < FD_RESERVE_MIN)
    reserve = FD_RESERVE_MIN;
  avail = rl.rlim_cur > reserve ? rl.rlim_cur - reserve : 0;
  most = avail > lookups ? (avail - lookups) / per : 0;
  if (most < lookups) /* then N caps the lookups too */
    most = avail / (per + 1);
  if (most < 1)
    most = 1;
  if ((rlim_t)n <= most)
    return n;
  uvf_cli_warn("-j %u lowered to %llu: only %llu open files "
               "allowed",
               n, (unsigned long long)most, (unsigned long long)rl.rlim_cur);
  return (unsigned)most;
}

static int start_fetcher(cli *c) {
  uvf_callbacks cb;
  int rc;

  uvf_callbacks_init(&cb);
  cb.next = cb_next;
  cb.on_result = cb_result;
  cb.on_done = cb_done;
  if (c->bodies) {
    cb.on_start = cb_start;
    cb.on_body = cb_body;
  }
  rc = uvf_fetcher_new(&c->f, &c->loop, &c->args.fetch, &cb, c);
  if (rc != 0) {
    c->f = NULL;
    uvf_cli_error("cannot start: %s", uvf_strerror(rc));
  }
  return rc;
}

/* A journal or a report that -o would overwrite with a body (DIR/0) is
 * refused before anything is opened. Where a link hides it, the body
 * file itself is refused later (uvf_cli_bodies_protect()). */
static int check_paths(const uvf_cli_args *a) {
  char self[4096];
  struct stat st;
  ssize_t n;

  if (!a->output_dir)
    return 0;
  if (a->journal_path &&
      uvf_cli_bodies_claims(a->output_dir, a->journal_path)) {
    uvf_cli_error("journal %s is where -o %s saves a body; give the journal "
                  "another name or place",
                  a->journal_path, a->output_dir);
    return -1;
  }
  if (fstat(STDOUT_FILENO, &st) != 0 || !S_ISREG(st.st_mode) ||
      (n = readlink("/proc/self/fd/1", self, sizeof(self) - 1)) <= 0)
    return 0;
  self[n] = '\0';
  if (!uvf_cli_bodies_claims(a->output_dir, self))
    return 0;
  uvf_cli_error("the report (standard output) goes to %s, where -o %s saves "
                "a body; send it elsewhere",
                self, a->output_dir);
  return -1;
}

/* The body files, told which files they must never be. */
static int open_bodies(cli *c) {
  const uvf_cli_args *a = &c->args;

  if (!a->output_dir)
    return 0;
  if (uvf_cli_bodies_open(&c->bodies, &c->loop, a->output_dir,
                          a->fetch.max_in_flight, on_body_done, on_files_news,
                          c) != 0)
    return -1;
  if (c->journal)
    uvf_cli_bodies_protect(c->bodies, uvf_cli_journal_fd(c->journal),
                           "the journal");
  uvf_cli_bodies_protect(c->bodies, STDOUT_FILENO, "the report");
  return 0;
}

/* The report's writer thread and the journal's. */
static int start_writers(cli *c) {
  int rc = uvf_cli_writer_start(&c->out, &c->loop, STDOUT_FILENO, 0,
                                on_report_news, c);

  if (rc == 0)
    rc = uvf_cli_sink_new(&c->sink, c->args.order, c->out);
  if (rc == 0 && c->journal)
    rc = uvf_cli_journal_start(c->journal, &c->loop, on_journal_news, c);
  if (rc != 0)
    uvf_cli_error("cannot start: %s", strerror(-rc));
  return rc;
}

static int setup(cli *c) {
  const uvf_cli_args *a = &c->args;
  int rc;

  c->stdout_tty = isatty(STDOUT_FILENO);
  uvf_cli_msgs_before(erase_progress, c);
  c->args.fetch.max_in_flight = fit_fd_limit(
      a->fetch.max_in_flight, a->output_dir != NULL, a->fetch.max_lookups);
  /* Enough to ride out a slow URL among fast ones (at 10,000 records a
   * second, 2 s of 300-byte records is 6 MB), still a bound whatever the
   * length of the input. */
  c->window = 1024 * (size_t)a->fetch.max_in_flight;
  if (c->window < WINDOW_MIN)
    c->window = WINDOW_MIN;
  if (check_paths(a) != 0 || uvf_cli_input_open(&c->in, &c->loop, a->input_path,
                                                a->urls, a->n_urls) != 0)
    return -1;
  uvf_cli_input_on_ready(c->in, on_input_ready, c);
  if (a->journal_path &&
      uvf_cli_resume_open(&c->journal, &c->positions, &c->loop, a) != 0)
    return -1;
  if (open_bodies(c) != 0 || start_writers(c) != 0 || start_fetcher(c) != 0)
    return -1;
  rc = uvf_cli_signals_start(&c->signals, &c->loop, on_signal, c);
  if (rc == 0)
    rc = start_flusher(c);
  if (rc == 0 && want_progress(a)) {
    uvf_cli_input_precount(c->in); /* gives the line its total and ETA */
    rc = uvf_cli_progress_start(&c->progress, &c->loop, stderr, count, c);
  }
  if (rc != 0) {
    uvf_cli_error("cannot start: %s", uv_strerror(rc));
    return -1;
  }
  return 0;
}

/* After a failed setup: release what was made, through the loop. */
static void abandon(cli *c) {
  if (c->f) {
    c->done = 1;
    uvf_fetcher_close(c->f, fetcher_closed);
  } else {
    fetcher_closed(c);
  }
  uv_run(&c->loop, UV_RUN_DEFAULT);
}

/* After a signal or a local error: how many input URLs never started,
 * those that got an index but waited (for their host, a rate, a lookup)
 * included. */
static void report_rest(const cli *c, const char *how) {
  uint64_t journaled =
      c->rest_counted && c->rest >= c->rest_journaled ? c->rest_journaled : 0;
  uint64_t fresh = (c->rest_counted ? c->rest - journaled : 0) + c->unstarted;

  if (!c->rest_counted && fresh == 0)
    uvf_cli_error("%s; remaining input not read", how);
  else if (!c->rest_counted)
    uvf_cli_error("%s; %" PRIu64 " input URL%s not started, and the "
                  "remaining input not read",
                  how, fresh, fresh == 1 ? "" : "s");
  else if (fresh == 0 && journaled == 0)
    uvf_cli_error("%s; every input URL was started", how);
  else if (journaled == 0)
    uvf_cli_error("%s; %" PRIu64 " input URL%s not started", how, fresh,
                  fresh == 1 ? "" : "s");
  else
    uvf_cli_error("%s; %" PRIu64 " input URL%s not started, and "
                  "%" PRIu64 " done by an earlier run not reported",
                  how, fresh, fresh == 1 ? "" : "s", journaled);
}

static int finish(cli *c) {
  double secs = (double)(uv_hrtime() - c->t0) / 1e9;

  if (c->output_err == -EPIPE)
    return UVF_CLI_EXIT_PIPE; /* quietly, as a shell tool killed by SIGPIPE */
  if (!c->args.quiet)
    uvf_cli_tally_print(stderr, &c->tally, secs);
  if (c->lost > 0)
    uvf_cli_error("%" PRIu64 " record%s not written: the report's reader "
                  "did not read within the grace period",
                  c->lost, c->lost == 1 ? " was" : "s were");
  if (c->interrupted) {
    report_rest(c, "interrupted");
    return UVF_CLI_EXIT_INTERRUPTED;
  }
  if (c->journal_refused)
    return UVF_CLI_EXIT_USAGE;
  if (c->local_err || c->input_failed) {
    report_rest(c, "stopped by the error above");
    return UVF_CLI_EXIT_LOCAL;
  }
  if (c->output_err != 0 || c->tally.failed > 0)
    return UVF_CLI_EXIT_FAILED;
  return UVF_CLI_EXIT_OK;
}

static void print_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  uvf_cli_error("  open handle: %s%s", uv_handle_type_name(h->type),
                uv_is_closing(h) ? " (closing)" : "");
}

/* A handle left open is a bug on our side or the library's: say so, and
 * leave its memory for LeakSanitizer to point at. */
static int close_loop(cli *c, int status) {
  int rc = uv_loop_close(&c->loop);

  if (rc == 0)
    return status;
  uvf_cli_error("internal error: event loop not closed: %s", uv_strerror(rc));
  uv_walk(&c->loop, print_handle, NULL);
  return status == UVF_CLI_EXIT_OK ? UVF_CLI_EXIT_FAILED : status;
}

static int run(cli *c) {
  int status;

  c->t0 = uv_hrtime();
  if (uv_loop_init(&c->loop) != 0) {
    uvf_cli_error("cannot create the event loop");
    return UVF_CLI_EXIT_USAGE;
  }
  if (setup(c) != 0) {
    abandon(c);
    status = UVF_CLI_EXIT_USAGE;
  } else {
    uv_run(&c->loop, UV_RUN_DEFAULT);
    status = finish(c);
  }
  return close_loop(c, status);
}

/* A closed standard descriptor would be the next one open()ed or
 * socket()ed, and libuv asserts on closing descriptors 0 to 2: give each
 * closed one /dev/null. Returns -1 if one cannot be given, else 1 if
 * standard output was closed, else 0. */
static int fill_std_fds(void) {
  int fd, closed_stdout = 0;

  for (fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
      continue;
    closed_stdout |= fd == STDOUT_FILENO;
    if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
      return -1;
  }
  return closed_stdout;
}

int main(int argc, char **argv) {
  cli c;
  int status, rc;

  int closed_stdout = fill_std_fds();

  if (closed_stdout < 0) {
    uvf_cli_error("a standard descriptor is closed and /dev/null cannot "
                  "take its place");
    return UVF_CLI_EXIT_USAGE;
  }
  /* A reader that went away is a write error, not a silent death. */
  signal(SIGPIPE, SIG_IGN);
  memset(&c, 0, sizeof(c));
  rc = uvf_cli_args_parse(&c.args, argc, argv);
  if (rc == 0 && closed_stdout) {
    uvf_cli_error("standard output is closed: nowhere to write the report "
                  "(use > /dev/null to discard it)");
    rc = -EBADF;
  }
  uvf_cli_msgs_quiet(c.args.quiet);
  if (rc == 0)
    status = run(&c);
  else
    status = rc > 0 ? UVF_CLI_EXIT_OK : UVF_CLI_EXIT_USAGE;
  uvf_cli_sink_free(c.sink);
  uvf_cli_positions_free(c.positions);
  uvf_cli_buf_free(&c.line);
  uvf_cli_buf_free(&c.msg);
  uvf_cli_args_free(&c.args);
  if (fflush(stdout) != 0 && status == UVF_CLI_EXIT_OK)
    status = UVF_CLI_EXIT_FAILED;
  return status;
}
