/* The run's wiring: the input reader, the fetcher, the report sink, body
 * files, the journal, the progress line and signals, on one uv_loop_t. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "feeds.h"
#include "run.h"

static void count(void *ud, uvf_cli_counts *k) {
  uvf_cli_run *c = ud;
  uvf_stats s;

  memset(&s, 0, sizeof(s));
  if (c->f)
    uvf_get_stats(c->f, &s);
  k->done = c->tally.total;
  k->ok = c->tally.ok;
  k->failed = c->tally.failed;
  k->in_flight = c->procs ? uvf_cli_procs_in_flight(c) : s.in_flight;
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
  uvf_cli_run *c = h->data;
  uvf_stats s;
  int err;

  if (c->out)
    uvf_cli_writer_flush(c->out);
  if (c->bodies)
    uvf_cli_bodies_flush(c->bodies);
  if (c->db)
    uvf_cli_db_flush(c->db);
  if (c->journal && (err = uvf_cli_journal_flush(c->journal)) != 0)
    uvf_cli_run_journal_failed(c, err);
  if (c->replay_yielded && c->f && !c->paused && !c->stopping && !c->done) {
    c->replay_yielded = 0;
    uvf_resume(c->f);
  }
  if (c->draining && c->f) {
    uvf_get_stats(c->f, &s);
    if (s.in_flight == 0) /* the grace period is not needed any more */
      uvf_cli_run_stop(c);
  }
}

static int start_flusher(uvf_cli_run *c) {
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
  uvf_cli_run *c = ud;

  uvf_cli_progress_clear(c->progress);
}

static int want_progress(const uvf_cli_args *a) {
  if (a->progress != UVF_CLI_PROGRESS_AUTO)
    return a->progress;
  return !a->quiet && isatty(STDERR_FILENO);
}

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

/* The open-file limit, raised to the hard limit; RLIM_INFINITY if there
 * is none, or it cannot be read. */
static rlim_t open_file_limit(void) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
    return RLIM_INFINITY;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

/* The transfers at once that limit allows, each holding per descriptors. */
static rlim_t most_transfers(rlim_t limit, rlim_t per, unsigned lookups) {
  rlim_t reserve, avail, most;

  /* A quarter of a small limit is reserve enough, but no less than what a
   * run opens before any transfer: stdio, the loop's descriptors, the
   * journal, the -o directory (14 counted). */
  reserve = limit / 4 < FD_RESERVE ? limit / 4 : FD_RESERVE;
  if (reserve < FD_RESERVE_MIN)
    reserve = FD_RESERVE_MIN;
  avail = limit > reserve ? limit - reserve : 0;
  most = avail > lookups ? (avail - lookups) / per : 0;
  if (most < lookups) /* then N caps the lookups too */
    most = avail / (per + 1);
  return most < 1 ? 1 : most;
}

static unsigned fit_fd_limit(unsigned n, int with_files, unsigned lookups) {
  rlim_t limit = open_file_limit(), most;

  if (limit == RLIM_INFINITY)
    return n;
  most = most_transfers(limit, with_files ? 2 : 1, lookups);
  if ((rlim_t)n <= most)
    return n;
  uvf_cli_warn("-j %u lowered to %llu: only %llu open files "
               "allowed",
               n, (unsigned long long)most, (unsigned long long)limit);
  return (unsigned)most;
}

static int start_fetcher(uvf_cli_run *c) {
  uvf_callbacks cb;
  int rc;

  uvf_callbacks_init(&cb);
  cb.next_request = uvf_cli_run_next_request;
  cb.on_result = uvf_cli_run_on_result;
  cb.on_done = uvf_cli_run_on_done;
  if (c->bodies) {
    cb.on_start = uvf_cli_run_on_start;
    cb.on_body = uvf_cli_run_on_body;
  }
  rc = uvf_fetcher_new(&c->f, &c->loop, &c->args.fetch, &cb, c);
  if (rc == 0)
    return 0;
  c->f = NULL;
  uvf_cli_error("cannot start: %s", uvf_strerror(rc));
  return rc == UVF_ENOMEM ? -ENOMEM : -EINVAL; /* the library's own codes */
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
    return -EEXIST;
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
  return -EEXIST;
}

/* The body files, told which files they must never be. */
static int open_bodies(uvf_cli_run *c) {
  const uvf_cli_args *a = &c->args;
  int rc;

  if (!a->output_dir)
    return 0;
  rc = uvf_cli_bodies_open(&c->bodies, &c->loop, a->output_dir,
                           a->fetch.max_in_flight, uvf_cli_run_on_body_done,
                           uvf_cli_run_news, c);
  if (rc != 0)
    return rc;
  if (c->journal)
    uvf_cli_bodies_protect(c->bodies, uvf_cli_journal_fd(c->journal),
                           "the journal");
  uvf_cli_bodies_protect(c->bodies, STDOUT_FILENO, "the report");
  return 0;
}

/* The report's writer thread and the journal's. */
static int start_writers(uvf_cli_run *c) {
  int rc = uvf_cli_writer_start(&c->out, &c->loop, STDOUT_FILENO, 0,
                                uvf_cli_run_news, c);

  if (rc == 0)
    rc = uvf_cli_sink_new(&c->sink, c->args.order, c->out);
  if (rc == 0 && c->journal)
    rc = uvf_cli_journal_start(c->journal, &c->loop, uvf_cli_run_news, c);
  if (rc != 0)
    uvf_cli_error("cannot start: %s", strerror(-rc));
  return rc;
}

/* N fitted to the open-file limit, and the report's window to N. */
static void size_run(uvf_cli_run *c) {
  uvf_options *o = &c->args.fetch;

  o->max_in_flight = fit_fd_limit(o->max_in_flight, c->args.output_dir != NULL,
                                  o->max_lookups);
  /* Enough to ride out a slow URL among fast ones (at 10,000 records a
   * second, 2 s of 300-byte records is 6 MB), still a bound whatever the
   * length of the input. */
  c->window = 1024 * (size_t)o->max_in_flight;
  if (c->window < WINDOW_MIN)
    c->window = WINDOW_MIN;
}

/* How input lines become requests. */
static int open_requests(uvf_cli_run *c) {
  const uvf_cli_args *a = &c->args;
  uvf_cli_reqs_defaults d = {a->input_format,  a->method,
                             a->data,          a->data_len,
                             a->fetch.headers, a->fetch.n_headers};
  int rc = uvf_cli_reqs_new(&c->reqs, &d);

  if (rc != 0)
    uvf_cli_error("cannot start: %s", strerror(-rc));
  return rc;
}

/* The input, and the journal that may have the records of some of it. */
static int open_input(uvf_cli_run *c) {
  const uvf_cli_args *a = &c->args;
  int rc = check_paths(a);

  if (rc == 0)
    rc = open_requests(c);
  if (rc == 0)
    rc =
        uvf_cli_input_open(&c->in, &c->loop, a->input_path, a->urls, a->n_urls);
  if (rc == 0)
    uvf_cli_input_on_ready(c->in, uvf_cli_run_input_ready, c);
  if (rc == 0 && a->worker)
    uvf_cli_input_framed(c->in);
  /* Lines skipped: library indexes are not input positions. */
  if (rc == 0 && (a->worker || a->shards > 0) &&
      (rc = uvf_cli_idmap_new(&c->where)) != 0)
    uvf_cli_error("cannot start: %s", strerror(-rc));
  if (rc == 0 && a->journal_path)
    rc = uvf_cli_resume_open(&c->journal, &c->positions, &c->loop, a);
  return rc;
}

/* What only watches the run: signals, the flusher, the progress line. */
static int start_watchers(uvf_cli_run *c) {
  int rc = uvf_cli_signals_start(
      &c->signals, &c->loop,
      c->procs ? uvf_cli_procs_on_signal : uvf_cli_run_on_signal, c);

  if (rc == 0)
    rc = start_flusher(c);
  if (rc == 0 && want_progress(&c->args)) {
    uvf_cli_input_precount(c->in); /* gives the line its total and ETA */
    rc = uvf_cli_progress_start(&c->progress, &c->loop, stderr, count, c);
  }
  if (rc != 0)
    uvf_cli_error("cannot start: %s", uv_strerror(rc));
  return rc;
}

/* --shard-by url puts one host in every shard and worker. */
static void note_split_caps(const uvf_cli_args *a) {
  if (!a->shard_by_url || (a->shards <= 1 && a->procs <= 1) ||
      (a->fetch.max_per_host == 0 && a->fetch.rate_per_host <= 0))
    return;
  uvf_cli_note("--shard-by url: --per-host and --rate hold in each %s, so a "
               "host may get up to %u times as much",
               a->procs > 1 ? "worker" : "shard",
               a->procs > 1 ? a->procs : a->shards);
}

int uvf_cli_run_setup(uvf_cli_run *c) {
  int rc;

  c->stdout_tty = isatty(STDOUT_FILENO);
  uvf_cli_msgs_before(erase_progress, c);
  size_run(c);
  if ((rc = open_input(c)) != 0 || (rc = uvf_cli_run_db_open(c)) != 0 ||
      (rc = open_bodies(c)) != 0 || (rc = start_writers(c)) != 0)
    return rc;
  /* With --procs the workers fetch; the body directory is made and
   * checked here all the same, so that a bad -o is a usage error. */
  rc = c->args.procs > 1 ? uvf_cli_procs_start(c) : start_fetcher(c);
  if (rc != 0)
    return rc;
  note_split_caps(&c->args);
  return start_watchers(c);
}

/* After a failed setup: release what was made, through the loop. */
void uvf_cli_run_abandon(uvf_cli_run *c) {
  if (c->f) {
    c->done = 1;
    uvf_fetcher_close(c->f, uvf_cli_run_fetcher_closed);
  } else {
    uvf_cli_run_fetcher_closed(c);
  }
  uv_run(&c->loop, UV_RUN_DEFAULT);
}
