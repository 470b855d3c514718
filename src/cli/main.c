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
  int journal_err; /* errno of a failed journal write */
  uv_prepare_t flusher;
  int flusher_init;
  uv_timer_t grace;
  int grace_init;
  int draining; /* interrupted: transfers in flight may finish */
  uvf_cli_buf line;
  uvf_cli_buf msg;
  uvf_cli_tally tally;
  size_t window; /* bytes of held report lines before uvf_pause() */
  int paused;
  int stopping; /* aborted: never resume */
  int done;     /* on_done seen */
  int interrupted;
  int rest_counted;        /* rest is the number of URLs not started */
  uint64_t rest_journaled; /* of them, done by an earlier run */
  int replay_yielded;      /* cb_next said -1 after a long replay */
  uint64_t rest;
  int input_failed;
  int output_err; /* errno of a failed write to stdout */
  int stdout_tty;
  uint64_t t0;
} cli;

/* Progress line that uvf_cli_error() must erase before printing. */
static uvf_cli_progress *shown_progress;

void uvf_cli_error(const char *fmt, ...) {
  va_list ap;

  uvf_cli_progress_clear(shown_progress);
  fputs("uvfetch: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

static void stop(cli *c) {
  if (c->stopping || c->done || c->f == NULL)
    return;
  c->stopping = 1;
  uvf_abort(c->f, UVF_EABORTED);
}

/* ---- backpressure ---- */

/* Early finishers wait in the reorder buffer for a slow earlier index.
 * Taking no new URLs while it is full keeps memory bounded by N and the
 * window, never by the number of URLs. */
static void backpressure(cli *c) {
  size_t held = uvf_cli_sink_held(c->sink);

  if (!c->paused && held > c->window) {
    c->paused = 1;
    uvf_pause(c->f);
  } else if (c->paused && held < c->window / 2) {
    c->paused = 0;
    if (!c->stopping && !c->done)
      uvf_resume(c->f);
  }
}

static void on_input_ready(void *ud) {
  cli *c = ud;

  if (!c->paused && !c->stopping && !c->done && c->f != NULL)
    uvf_resume(c->f);
}

/* ---- resuming ---- */

/* Where library index `index` is in the input. */
static uint64_t position_of(const cli *c, uint64_t index) {
  return c->positions != NULL ? uvf_cli_positions_of(c->positions, index)
                              : index;
}

static void output_failed(cli *c, int err);

/* A journaled record names the body file of the run that wrote it, so it
 * fits this report only if this run has the same -o (or none either). */
static int same_output_dir(cli *c, uint64_t position,
                           const uvf_cli_journaled *rec) {
  static const char key[] = ",\"file\":";
  const char *at = memmem(rec->line, rec->len, key, sizeof(key) - 1);
  const char *path;
  size_t len;

  if (c->bodies == NULL || at == NULL)
    return c->bodies == NULL && at == NULL;
  at += sizeof(key) - 1;
  len = rec->len - (size_t)(at - rec->line);
  if (len == 5 && memcmp(at, "null}", 5) == 0)
    return 1; /* no file then, none now either */
  if ((path = uvf_cli_bodies_path(c->bodies, position)) == NULL)
    return 0;
  uvf_cli_buf_reset(&c->msg);
  uvf_cli_json_str(&c->msg, path);
  uvf_cli_buf_add(&c->msg, "}", 1);
  return !c->msg.oom && c->msg.len == len && memcmp(c->msg.data, at, len) == 0;
}

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
    output_failed(c, ENOMEM);
    return;
  }
  if (c->stdout_tty)
    uvf_cli_progress_clear(c->progress);
  rc = uvf_cli_sink_put(c->sink, position, c->line.data, c->line.len);
  if (rc != 0)
    output_failed(c, rc);
}

/* 1 if the journal's answer for the current position is a record this
 * run can replay; otherwise says why not. */
static int record_fits(cli *c, int rc, uint64_t tag,
                       const uvf_cli_journaled *rec) {
  if (rc != UVF_CLI_JOURNAL_DONE) {
    uvf_cli_resume_mismatch(c->args.journal_path, rc, c->position, tag);
    return 0;
  }
  if (!same_output_dir(c, c->position, rec)) {
    uvf_cli_error("journal %s was written with another -o than this run's: "
                  "its records name other body files; resume with the same "
                  "-o, or start a new journal",
                  c->args.journal_path);
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
    if (c->positions != NULL && uvf_cli_sink_held(c->sink) > c->window) {
      c->paused = 1; /* backpressure() resumes the fetcher */
      return -1;
    }
    if (replayed == REPLAY_BATCH) {
      c->replay_yielded = 1; /* on_prepare() resumes the fetcher */
      return -1;
    }
    rc = uvf_cli_input_next(c->in, url, tag);
    if (rc == 0 && !c->input_ended) {
      c->input_ended = 1;
      if (c->positions != NULL && !uvf_cli_input_failed(c->in) &&
          uvf_cli_resume_past_end(c->args.journal_path, c->journal,
                                  c->position) != 0)
        c->journal_refused = 1; /* every URL has its record already */
    }
    if (rc != 1)
      return rc;
    if (c->positions == NULL) {
      c->position++;
      return 1;
    }
    rc = uvf_cli_journal_lookup(c->journal, c->position,
                                uvf_cli_journal_key(*url, *tag), &rec);
    if (rc == UVF_CLI_JOURNAL_NEW) {
      if (uvf_cli_positions_note(c->positions, c->taken, c->position)) {
        output_failed(c, ENOMEM);
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

static int cb_body(void *ud, uint64_t index, const char *data, size_t len) {
  cli *c = ud;

  return uvf_cli_bodies_write(c->bodies, position_of(c, index), data, len) != 0;
}

/* The message of a record: invalid URLs say where in the input they are,
 * since the URL alone may be empty or mangled. */
static const char *describe(cli *c, const uvf_result *r) {
  uint64_t n = UVF_CLI_TAG_NUMBER(r->tag);
  const char *where = r->tag & UVF_CLI_TAG_ARG ? "argument" : "line";
  const char *why = r->message != NULL ? r->message : "";
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

static void output_failed(cli *c, int err) {
  if (c->output_err != 0)
    return;
  c->output_err = err;
  if (err != EPIPE) /* `uvfetch ... | head` is no error worth a word */
    uvf_cli_error("cannot write the report: %s", strerror(err));
  stop(c);
}

static void journal_failed(cli *c, int err) {
  if (c->journal_err != 0)
    return;
  c->journal_err = err;
  uvf_cli_error("cannot write the journal %s: %s", c->args.journal_path,
                strerror(err));
  stop(c);
}

/* Keeps a finished record for a later run. Aborted ones are left out:
 * they were cut short by us, and the next run fetches them again. */
static void journal_record(cli *c, const uvf_cli_record *rec) {
  uvf_cli_journaled j;

  if (c->journal == NULL || rec->error == UVF_EABORTED || c->journal_refused)
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
    output_failed(c, ENOMEM);
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

static void cb_result(void *ud, const uvf_result *r) {
  cli *c = ud;
  uvf_cli_record rec;
  const char *write_err = NULL;

  memset(&rec, 0, sizeof(rec));
  rec.r = r;
  rec.index = position_of(c, r->index);
  rec.ok = r->ok;
  rec.error = r->error;
  rec.message = describe(c, r);
  rec.with_file = c->bodies != NULL;
  if (c->bodies != NULL)
    uvf_cli_bodies_finish(c->bodies, rec.index, r->status != 0, &rec.file,
                          &write_err);
  if (write_err != NULL) {
    /* We stopped it (on_body returned non-zero), or it had no body and
     * the file could not even be created: either way it failed. */
    rec.ok = 0;
    rec.error = UVF_EABORTED;
    rec.message = write_err;
  }
  uvf_cli_tally_add(&c->tally, rec.ok, rec.error, r->bytes);
  if (c->output_err == 0 || c->journal != NULL)
    emit(c, &rec);
}

static void fetcher_closed(void *ud) {
  cli *c = ud;

  c->f = NULL;
  if (c->flusher_init)
    uv_close((uv_handle_t *)&c->flusher, NULL);
  c->flusher_init = 0;
  if (c->grace_init)
    uv_close((uv_handle_t *)&c->grace, NULL);
  c->grace_init = 0;
  if (c->journal != NULL) {
    int err = uvf_cli_journal_close(c->journal);

    c->journal = NULL;
    if (err != 0)
      journal_failed(c, err);
  }
  c->input_failed = c->in != NULL && uvf_cli_input_failed(c->in);
  uvf_cli_progress_stop(c->progress);
  c->progress = shown_progress = NULL;
  uvf_cli_signals_close(c->signals);
  c->signals = NULL;
  uvf_cli_input_close(c->in);
  c->in = NULL;
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

static void on_grace_over(uv_timer_t *t) { stop(t->data); }

/* Lets the transfers in flight finish for --grace seconds, starting no
 * other; on_prepare() ends the run early once none is left. */
static int start_grace(cli *c, uint64_t in_flight) {
  double secs = (double)c->args.grace_ms / 1000;

  if (uv_timer_init(&c->loop, &c->grace) != 0)
    return -1;
  c->grace_init = 1;
  c->grace.data = c;
  uv_timer_start(&c->grace, on_grace_over, (uint64_t)c->args.grace_ms, 0);
  uvf_drain(c->f);
  c->draining = 1;
  if (!c->args.quiet)
    uvf_cli_error("stopping: %" PRIu64 " transfer%s in flight may finish "
                  "within %g s; signal again to quit at once",
                  in_flight, in_flight == 1 ? "" : "s", secs);
  return 0;
}

static void on_signal(void *ud, int signum) {
  cli *c = ud;
  uvf_stats s;

  (void)signum;
  if (c->done || c->interrupted || c->f == NULL)
    return;
  c->interrupted = 1;
  /* What is left of the input will not be started. Count it only where
   * that is cheap. */
  if (c->in != NULL)
    c->rest_counted = uvf_cli_input_count_rest(c->in, &c->rest) == 0;
  if (c->positions != NULL) /* every record not reached yet is ahead */
    c->rest_journaled = uvf_cli_journal_unmatched(c->journal);
  uvf_get_stats(c->f, &s);
  if (c->args.grace_ms > 0 && s.in_flight > 0 &&
      start_grace(c, s.in_flight) == 0)
    return;
  stop(c);
}

static void count(void *ud, uvf_cli_counts *k) {
  cli *c = ud;
  uvf_stats s;

  memset(&s, 0, sizeof(s));
  if (c->f != NULL)
    uvf_get_stats(c->f, &s);
  k->done = c->tally.total;
  k->ok = c->tally.ok;
  k->failed = c->tally.failed;
  k->in_flight = s.in_flight;
  k->stopping = c->draining && !c->stopping && c->grace_init;
  if (k->stopping)
    k->grace_left_ms = uv_timer_get_due_in(&c->grace);
  k->total_known = c->in != NULL && uvf_cli_input_total(c->in, &k->total);
}

/* Runs each time the loop is about to wait. Records written in this
 * iteration go out now, in one write: a reader at the end of a pipe sees
 * them as they come, yet a busy run still writes in large blocks. */
static void on_prepare(uv_prepare_t *h) {
  cli *c = h->data;
  int err = uvf_cli_sink_flush(c->sink);
  uvf_stats s;

  if (err != 0)
    output_failed(c, err);
  if (c->journal != NULL && (err = uvf_cli_journal_flush(c->journal)) != 0)
    journal_failed(c, err);
  if (c->replay_yielded && c->f != NULL && !c->paused && !c->stopping &&
      !c->done) {
    c->replay_yielded = 0;
    uvf_resume(c->f);
  }
  if (c->draining && c->f != NULL) {
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
  uvf_cli_error("warning: -j %u lowered to %llu: only %llu open files "
                "allowed",
                n, (unsigned long long)most, (unsigned long long)rl.rlim_cur);
  return (unsigned)most;
}

static void setup_stdout(cli *c) {
  static char buf[1 << 18];

  c->stdout_tty = isatty(STDOUT_FILENO);
  /* A terminal keeps line buffering, so records show up as they come. */
  if (!c->stdout_tty)
    setvbuf(stdout, buf, _IOFBF, sizeof(buf));
}

static int start_fetcher(cli *c) {
  uvf_callbacks cb;
  int rc;

  uvf_callbacks_init(&cb);
  cb.next = cb_next;
  cb.on_result = cb_result;
  cb.on_done = cb_done;
  if (c->bodies != NULL) {
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

static int setup(cli *c) {
  const uvf_cli_args *a = &c->args;
  int rc;

  setup_stdout(c);
  c->args.fetch.max_in_flight = fit_fd_limit(
      a->fetch.max_in_flight, a->output_dir != NULL, a->fetch.max_lookups);
  /* Enough to ride out a slow URL among fast ones (at 10,000 records a
   * second, 2 s of 300-byte records is 6 MB), still a bound whatever the
   * length of the input. */
  c->window = 1024 * (size_t)a->fetch.max_in_flight;
  if (c->window < WINDOW_MIN)
    c->window = WINDOW_MIN;
  if (uvf_cli_input_open(&c->in, &c->loop, a->input_path, a->urls, a->n_urls) !=
      0)
    return -1;
  uvf_cli_input_on_ready(c->in, on_input_ready, c);
  if (a->journal_path != NULL &&
      uvf_cli_resume_open(&c->journal, &c->positions, &c->loop, a) != 0)
    return -1;
  if (a->output_dir != NULL && uvf_cli_bodies_open(&c->bodies, a->output_dir,
                                                   a->fetch.max_in_flight) != 0)
    return -1;
  if (uvf_cli_sink_new(&c->sink, a->order, stdout) != 0) {
    uvf_cli_error("out of memory");
    return -1;
  }
  if (start_fetcher(c) != 0)
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
  shown_progress = c->progress;
  return 0;
}

/* After a failed setup: release what was made, through the loop. */
static void abandon(cli *c) {
  if (c->f != NULL) {
    c->done = 1;
    uvf_fetcher_close(c->f, fetcher_closed);
  } else {
    fetcher_closed(c);
  }
  uv_run(&c->loop, UV_RUN_DEFAULT);
}

static void report_rest(const cli *c) {
  uint64_t fresh = c->rest - c->rest_journaled;

  if (!c->rest_counted)
    uvf_cli_error("interrupted; remaining input not read");
  else if (c->rest == 0)
    uvf_cli_error("interrupted; every input URL was started");
  else if (c->rest_journaled == 0 || c->rest < c->rest_journaled)
    uvf_cli_error("interrupted; %" PRIu64 " input URL%s not started", c->rest,
                  c->rest == 1 ? "" : "s");
  else
    uvf_cli_error("interrupted; %" PRIu64 " input URL%s not started, and "
                  "%" PRIu64 " done by an earlier run not reported",
                  fresh, fresh == 1 ? "" : "s", c->rest_journaled);
}

static int finish(cli *c) {
  double secs = (double)(uv_hrtime() - c->t0) / 1e9;
  int err = uvf_cli_sink_finish(c->sink);

  if (err != 0)
    output_failed(c, err);
  if (c->output_err == EPIPE)
    return UVF_CLI_EXIT_PIPE; /* quietly, as a shell tool killed by SIGPIPE */
  if (!c->args.quiet)
    uvf_cli_tally_print(stderr, &c->tally, secs);
  if (c->interrupted) {
    report_rest(c);
    return UVF_CLI_EXIT_INTERRUPTED;
  }
  if (c->journal_refused)
    return UVF_CLI_EXIT_USAGE;
  if (c->output_err != 0 || c->input_failed || c->journal_err != 0 ||
      c->tally.failed > 0)
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
  int status;

  int closed_stdout = fill_std_fds();

  if (closed_stdout < 0) {
    uvf_cli_error("a standard descriptor is closed and /dev/null cannot "
                  "take its place");
    return UVF_CLI_EXIT_USAGE;
  }
  /* A reader that went away is a write error, not a silent death. */
  signal(SIGPIPE, SIG_IGN);
  memset(&c, 0, sizeof(c));
  status = uvf_cli_args_parse(&c.args, argc, argv);
  if (status < 0 && closed_stdout) {
    uvf_cli_error("standard output is closed: nowhere to write the report "
                  "(use > /dev/null to discard it)");
    status = UVF_CLI_EXIT_USAGE;
  }
  if (status < 0)
    status = run(&c);
  uvf_cli_sink_free(&c.sink);
  uvf_cli_positions_free(c.positions);
  uvf_cli_bodies_free(&c.bodies);
  uvf_cli_buf_free(&c.line);
  uvf_cli_buf_free(&c.msg);
  uvf_cli_args_free(&c.args);
  if (fflush(stdout) != 0 && status == UVF_CLI_EXIT_OK)
    status = UVF_CLI_EXIT_FAILED;
  return status;
}
