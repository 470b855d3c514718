/* --procs K: one event loop per core. The parent reads the input, routes
 * each line to one of K worker processes by the hash of its origin
 * (route.c), and writes the one report and the one journal; the workers
 * are this same program run with the hidden option --worker, each with
 * its share of -j, fetching what it is handed as a run of its own would.
 *
 * The parent hands a worker "POSITION TAG\tLINE" lines on its standard
 * input (input.c's framed mode), and the worker hands back each record
 * as "POSITION OK ERROR BYTES UNSTARTED\tJSON" (records.c) on its
 * standard output, then "connects N" at its end. The records go through
 * the same sink, journal and tally as a run's own: the report is in
 * input order (or --order done), and replays of a journal happen here.
 *
 * Every line handed out is kept (position -> line) until its record
 * comes, so that nothing is lost whatever happens to a worker: when one
 * dies (kill -9, a crash), a new one takes its place and is handed its
 * lines again, once; a line whose second worker dies too, or the lines
 * of a worker that ended without their record (it was stopped), get a
 * record from here, aborted. Only what the parent has read of the input
 * is ever handed out, and it is read only while every worker has room
 * and the report's window is not full, so memory stays bounded.
 *
 * Signals: the workers run in sessions of their own (Ctrl-C reaches the
 * parent only) and die with the parent (worker.c). The parent passes the
 * first signal on as SIGTERM, and each worker lets its transfers finish
 * within --grace as one process would; a second signal ends the parent,
 * and with it the workers, at once. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run.h"

/* Bytes of lines waiting for one worker before no more input is read. */
#define QUEUE_MARK ((size_t)256 << 10)
/* Workers started in place of dead ones, over the run: more is no bad
 * luck but a bug that would loop. */
#define MAX_RESPAWNS 16
/* Workers a line may be handed to. */
#define MAX_TRIES 2

/* A line handed out, whose record is to come. */
typedef struct pending {
  uint64_t position;
  uint64_t tag; /* the input's: line number and flags */
  uint64_t key; /* the journal's */
  unsigned tries;
  const char *url;  /* the request's, for a record written here */
  const char *rtag; /* the request's "tag" as JSON, or NULL */
  size_t len;       /* of the line */
  char text[];      /* the line, then url and rtag, each with a NUL */
} pending;

typedef struct worker {
  struct uvf_cli_procs *ps;
  unsigned slot;
  uv_process_t proc;
  uv_pipe_t to;   /* its standard input */
  uv_pipe_t from; /* its standard output */
  int handles;    /* of the three, not yet closed */
  int to_open;    /* lines may still be written */
  int exited;
  int eof;
  int64_t status;
  int term_signal;
  uvf_cli_idmap *lines; /* position -> pending, handed, no record yet */
  uvf_cli_buf batch;    /* frames not yet written */
  uvf_cli_buf partial;  /* what came after its last full record */
  char id[48], jobs[16], lookups[16];
} worker;

typedef struct uvf_cli_procs {
  uvf_cli_run *c;
  worker **w; /* by slot; NULL once a slot has ended */
  unsigned k;
  unsigned live;
  unsigned respawns;
  int input_done; /* no more lines for the workers */
  int signalled;
  int killed;  /* the workers were sent SIGKILL */
  int pumping; /* pump() is on the stack */
  uv_idle_t idle;
  int idle_init;
  uint64_t connects;
  uvf_cli_buf scratch;
  char exe[4096];
} uvf_cli_procs;

typedef struct write_req {
  uv_write_t req;
  worker *w;
  char data[];
} write_req;

static void flush(uvf_cli_procs *ps);
static int spawn(uvf_cli_procs *ps, unsigned slot);

/* ---- records ---- */

/* A record for the report, the journal and the tally; line is one JSON
 * object and its newline. */
static void deliver(uvf_cli_run *c, const pending *pd, const char *line,
                    size_t len, int ok, int error, uint64_t bytes) {
  uvf_cli_journaled j = {line, len, ok, (uvf_err)error, bytes};
  int rc;

  uvf_cli_tally_add(&c->tally, ok, (uvf_err)error, bytes);
  /* Aborted ones are left out, as in one process: the next run fetches
   * them again. */
  if (c->journal && error != UVF_EABORTED && !c->journal_refused)
    uvf_cli_journal_add(c->journal, pd->position, pd->key, &j);
  if (c->output_err != 0)
    return;
  if (c->stdout_tty)
    uvf_cli_progress_clear(c->progress);
  if ((rc = uvf_cli_sink_put(c->sink, pd->position, line, len)) != 0)
    uvf_cli_run_output_failed(c, rc);
}

/* A line that its worker never took: as in one process, a URL never
 * started has no record (the report does not wait for it), and the
 * summary counts it among those not started. */
static void skip_line(uvf_cli_run *c, const pending *pd) {
  int rc;

  c->unstarted++;
  if (c->output_err == 0 &&
      (rc = uvf_cli_sink_put(c->sink, pd->position, "", 0)) != 0)
    uvf_cli_run_output_failed(c, rc);
}

/* The record of a line whose worker ended without one: why says how (NULL:
 * "aborted"); one it had not started has none (skip_line()). */
static void abort_line(uvf_cli_procs *ps, pending *pd, const char *why,
                       int unstarted) {
  uvf_cli_run *c = ps->c;
  uvf_result r;
  uvf_cli_record rec;

  if (unstarted) {
    skip_line(c, pd);
    return;
  }
  memset(&r, 0, sizeof(r));
  r.index = pd->position;
  r.tag = pd->tag;
  r.url = pd->url;
  r.error = UVF_EABORTED;
  r.message = why ? why : uvf_strerror(UVF_EABORTED);
  memset(&rec, 0, sizeof(rec));
  rec.r = &r;
  rec.index = pd->position;
  rec.error = UVF_EABORTED;
  rec.message = r.message;
  rec.with_file = c->args.output_dir != NULL;
  rec.with_headers = c->args.fetch.keep_headers;
  rec.tag = pd->rtag;
  uvf_cli_buf_reset(&ps->scratch);
  uvf_cli_record_format(&ps->scratch, &rec);
  if (ps->scratch.oom)
    uvf_cli_run_output_failed(c, -ENOMEM);
  else
    deliver(c, pd, ps->scratch.data, ps->scratch.len, 0, UVF_EABORTED, 0);
}

/* "POSITION OK ERROR BYTES UNSTARTED\tJSON\n" from worker w. */
static void one_record(worker *w, const char *s, size_t len) {
  uvf_cli_run *c = w->ps->c;
  uint64_t position, bytes, v;
  long ok, error, unstarted;
  char *e;

  if (strncmp(s, "connects ", 9) == 0) {
    w->ps->connects += strtoull(s + 9, NULL, 10);
    return;
  }
  position = strtoull(s, &e, 10);
  ok = strtol(e, &e, 10);
  error = strtol(e, &e, 10);
  bytes = strtoull(e, &e, 10);
  unstarted = strtol(e, &e, 10);
  if (*e != '\t' || !uvf_cli_idmap_take(w->lines, position, &v)) {
    uvf_cli_error("internal error: worker %u sent a record it had no line "
                  "for",
                  w->slot);
    return;
  }
  e++;
  c->unstarted += unstarted != 0;
  deliver(c, (pending *)(uintptr_t)v, e, len - (size_t)(e - s), ok != 0,
          (int)error, bytes);
  free((void *)(uintptr_t)v);
}

/* The full records read so far; a record cut short waits for the rest. */
static void take_records(worker *w) {
  char *p = w->partial.data, *end = p + w->partial.len, *nl;

  while (p < end && (nl = memchr(p, '\n', (size_t)(end - p)))) {
    one_record(w, p, (size_t)(nl + 1 - p));
    p = nl + 1;
  }
  memmove(w->partial.data, p, (size_t)(end - p));
  w->partial.len = (size_t)(end - p);
}

/* ---- the end of a worker ---- */

static void on_closed(uv_handle_t *h) {
  worker *w = h->data;

  if (--w->handles > 0)
    return;
  uvf_cli_idmap_free(w->lines);
  uvf_cli_buf_free(&w->batch);
  uvf_cli_buf_free(&w->partial);
  free(w);
}

static void close_worker(worker *w) {
  uv_close((uv_handle_t *)&w->proc, on_closed);
  uv_close((uv_handle_t *)&w->from, on_closed);
  if (!uv_is_closing((uv_handle_t *)&w->to))
    uv_close((uv_handle_t *)&w->to, on_closed);
  w->to_open = 0;
}

/* Every worker has ended: the run winds down as after the fetcher's
 * close. */
static void all_ended(uvf_cli_procs *ps) {
  uvf_cli_run *c = ps->c;

  c->tally.connects = ps->connects;
  c->done = 1;
  if (ps->idle_init)
    uv_close((uv_handle_t *)&ps->idle, NULL);
  ps->idle_init = 0;
  uvf_cli_run_fetcher_closed(c);
}

/* A worker that could not be replaced, or ended on an error of its own:
 * the run stops as after a local error. */
static void local_error(uvf_cli_procs *ps) {
  uvf_cli_run *c = ps->c;

  if (c->stopping || c->interrupted)
    return;
  c->local_err = 1;
  uvf_cli_run_note_rest(c);
  uvf_cli_run_stop(c);
}

/* The lines of a dead worker go to the one that replaces it (replacing,
 * NULL if none), once; the others get their record here. */
static void rehome(uvf_cli_procs *ps, worker *dead, worker *replacing,
                   const char *why, int unstarted) {
  uint64_t position, v;
  pending *pd;

  while (uvf_cli_idmap_any(dead->lines, &position, &v)) {
    uvf_cli_idmap_take(dead->lines, position, NULL);
    pd = (pending *)(uintptr_t)v;
    if (replacing && pd->tries < MAX_TRIES &&
        uvf_cli_idmap_put(replacing->lines, position, v) == 0) {
      pd->tries++;
      uvf_cli_buf_printf(&replacing->batch, "%" PRIu64 " %" PRIu64 "\t",
                         pd->position, pd->tag);
      uvf_cli_buf_add(&replacing->batch, pd->text, pd->len);
      uvf_cli_buf_add(&replacing->batch, "\n", 1);
      continue;
    }
    abort_line(ps, pd, why, unstarted);
    free(pd);
  }
  if (replacing && replacing->batch.oom)
    uvf_cli_run_output_failed(ps->c, -ENOMEM);
}

/* Why a dead worker's lines have no record, in ps->scratch's stead. */
static void say_death(char *why, size_t size, const worker *w) {
  if (w->term_signal)
    snprintf(why, size, "worker process killed by signal %d (%s)",
             w->term_signal, strsignal(w->term_signal));
  else
    snprintf(why, size, "worker process ended with status %" PRId64, w->status);
}

static void worker_ended(worker *w) {
  uvf_cli_procs *ps = w->ps;
  uvf_cli_run *c = ps->c;
  int died = w->term_signal != 0 && !ps->killed;
  int failed = !died && (w->status == UVF_CLI_EXIT_USAGE ||
                         w->status == UVF_CLI_EXIT_LOCAL);
  size_t n = uvf_cli_idmap_count(w->lines);
  char why[128];

  ps->w[w->slot] = NULL;
  close_worker(w);
  say_death(why, sizeof(why), w);
  if (died && !c->stopping && !c->interrupted && ps->respawns < MAX_RESPAWNS &&
      spawn(ps, w->slot) == 0) {
    ps->respawns++;
    uvf_cli_warn("worker %u: %s; %zu URL%s in flight handed to a new "
                 "worker",
                 w->slot, why, n, n == 1 ? "" : "s");
    rehome(ps, w, ps->w[w->slot], why, 0);
    flush(ps);
    return;
  }
  if (died)
    uvf_cli_error("worker %u: %s", w->slot, why);
  /* Ended without the records of its lines: it died, or it stopped (a
   * signal) before it started them, or it was killed after an error. */
  rehome(ps, w, NULL, died || failed ? why : NULL,
         !died && !failed && !ps->killed);
  if (died || failed || (!ps->input_done && !c->stopping))
    local_error(ps);
  if (--ps->live == 0)
    all_ended(ps);
}

static void maybe_ended(worker *w) {
  /* Its records are all read only once its output has ended too. */
  if (w->exited && w->eof)
    worker_ended(w);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int term_signal) {
  worker *w = p->data;

  w->exited = 1;
  w->status = status;
  w->term_signal = term_signal;
  maybe_ended(w);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  (void)h;
  (void)suggested;
  buf->base = malloc(65536);
  buf->len = buf->base ? 65536 : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  worker *w = s->data;

  if (n > 0) {
    uvf_cli_buf_add(&w->partial, buf->base, (size_t)n);
    if (w->partial.oom)
      uvf_cli_run_output_failed(w->ps->c, -ENOMEM);
    else
      take_records(w);
  }
  free(buf->base);
  if (n < 0) { /* the end, or an error: either way nothing more comes */
    uv_read_stop(s);
    w->eof = 1;
    maybe_ended(w);
  }
  uvf_cli_procs_pump(w->ps->c);
}

/* ---- starting a worker ---- */

/* This program with the parent's options (getopt_long() put them first;
 * a "--" ending them is left out), then the worker's own: its number,
 * and its share of -j and --max-lookups, given last so that they win. */
static char **worker_argv(uvf_cli_procs *ps, worker *w) {
  const uvf_cli_args *a = &ps->c->args;
  int n = a->argc, i, at = 0;
  unsigned k = ps->k, s = w->slot;
  unsigned j = a->fetch.max_in_flight, l = a->fetch.max_lookups;
  char **v = calloc((size_t)n + 8, sizeof(*v));

  if (!v)
    return NULL;
  if (n > 1 && strcmp(a->argv[n - 1], "--") == 0)
    n--;
  v[at++] = ps->exe;
  for (i = 1; i < n; i++)
    v[at++] = a->argv[i];
  snprintf(w->id, sizeof(w->id), "%u:%ld", s, (long)getpid());
  snprintf(w->jobs, sizeof(w->jobs), "%u", j / k + (s < j % k));
  l = l / k + (s < l % k) + (l > 0 && l < k && s >= l); /* 0: no cap */
  snprintf(w->lookups, sizeof(w->lookups), "%u", l);
  v[at++] = "--worker";
  v[at++] = w->id;
  v[at++] = "-j";
  v[at++] = w->jobs;
  v[at++] = "--max-lookups";
  v[at++] = w->lookups;
  return v;
}

static int start_process(uvf_cli_procs *ps, worker *w, char **argv) {
  uv_process_options_t o;
  uv_stdio_container_t io[3];

  memset(&o, 0, sizeof(o));
  io[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
  io[0].data.stream = (uv_stream_t *)&w->to;
  io[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  io[1].data.stream = (uv_stream_t *)&w->from;
  io[2].flags = UV_INHERIT_FD;
  io[2].data.fd = STDERR_FILENO;
  o.file = ps->exe;
  o.args = argv;
  o.exit_cb = on_exit_cb;
  o.stdio = io;
  o.stdio_count = 3;
  /* A session of its own: Ctrl-C goes to the parent, which passes it on
   * once, as one process would take it. */
  o.flags = UV_PROCESS_DETACHED;
  return uv_spawn(&ps->c->loop, &w->proc, &o);
}

static int spawn(uvf_cli_procs *ps, unsigned slot) {
  worker *w = calloc(1, sizeof(*w));
  char **argv = NULL;
  int rc = -ENOMEM;

  if (!w || uvf_cli_idmap_new(&w->lines) != 0 ||
      !(argv = (w->ps = ps, w->slot = slot, worker_argv(ps, w)))) {
    uvf_cli_error("cannot start a worker: out of memory");
    if (w)
      uvf_cli_idmap_free(w->lines);
    free(w);
    return rc;
  }
  uv_pipe_init(&ps->c->loop, &w->to, 0);
  uv_pipe_init(&ps->c->loop, &w->from, 0);
  w->proc.data = w->to.data = w->from.data = w;
  w->handles = 3;
  rc = start_process(ps, w, argv);
  free(argv);
  if (rc == 0)
    rc = uv_read_start((uv_stream_t *)&w->from, on_alloc, on_read);
  if (rc != 0) {
    uvf_cli_error("cannot start a worker: %s", uv_strerror(rc));
    if (w->proc.pid > 0)
      uv_process_kill(&w->proc, SIGKILL);
    close_worker(w);
    return rc;
  }
  w->to_open = 1;
  ps->w[slot] = w;
  return 0;
}

/* ---- handing out lines ---- */

static void on_written(uv_write_t *req, int status) {
  write_req *wr = (write_req *)req;
  uvf_cli_run *c = wr->w->ps->c;

  (void)status; /* a worker that went away: its end says what happened */
  free(wr);
  uvf_cli_procs_pump(c);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  worker *w = req->data;

  (void)status;
  free(req);
  if (!uv_is_closing((uv_handle_t *)&w->to))
    uv_close((uv_handle_t *)&w->to, on_closed);
}

/* No more lines for w: its input ends once what is queued is written. */
static void end_input(worker *w) {
  uv_shutdown_t *req = malloc(sizeof(*req));

  w->to_open = 0;
  req && (req->data = w,
          uv_shutdown(req, (uv_stream_t *)&w->to, on_shutdown) == 0)
      ? (void)0
      : (free(req), uv_close((uv_handle_t *)&w->to, on_closed));
}

/* Writes what each worker has waiting, and ends their input once no
 * more lines will come. */
static void flush(uvf_cli_procs *ps) {
  unsigned i;
  worker *w;
  write_req *wr;
  uv_buf_t b;

  for (i = 0; i < ps->k; i++) {
    if (!(w = ps->w[i]) || !w->to_open)
      continue;
    if (w->batch.len > 0 && (wr = malloc(sizeof(*wr) + w->batch.len)) != NULL) {
      wr->w = w;
      memcpy(wr->data, w->batch.data, w->batch.len);
      b = uv_buf_init(wr->data, (unsigned)w->batch.len);
      if (uv_write(&wr->req, (uv_stream_t *)&w->to, &b, 1, on_written) != 0)
        free(wr); /* it is going away: its end hands its lines again */
      uvf_cli_buf_reset(&w->batch);
    } else if (w->batch.len > 0) {
      uvf_cli_run_output_failed(ps->c, -ENOMEM);
    }
    if (ps->input_done || ps->c->stopping)
      end_input(w);
  }
}

/* 1 if a worker has as much waiting as it may. */
static int full(const uvf_cli_procs *ps) {
  unsigned i;
  const worker *w;

  for (i = 0; i < ps->k; i++)
    if ((w = ps->w[i]) && w->batch.len + uv_stream_get_write_queue_size(
                                             (const uv_stream_t *)&w->to) >
                              QUEUE_MARK)
      return 1;
  return 0;
}

static pending *new_pending(const char *line, uint64_t tag, uint64_t position,
                            const char *url, const char *rtag) {
  size_t len = strlen(line), ul = strlen(url) + 1;
  size_t tl = rtag ? strlen(rtag) + 1 : 0;
  pending *pd = malloc(sizeof(*pd) + len + 1 + ul + tl);

  if (!pd)
    return NULL;
  pd->position = position;
  pd->tag = tag;
  pd->key = uvf_cli_journal_key(line, tag);
  pd->tries = 1;
  pd->len = len;
  memcpy(pd->text, line, len + 1);
  pd->url = memcpy(pd->text + len + 1, url, ul);
  pd->rtag = rtag ? memcpy(pd->text + len + 1 + ul, rtag, tl) : NULL;
  return pd;
}

/* The line at input position `position` goes to its worker. Returns 0 or
 * -ENOMEM. */
static int hand(uvf_cli_procs *ps, const char *line, uint64_t tag,
                uint64_t position) {
  uvf_cli_run *c = ps->c;
  uvf_cli_made m = {NULL, NULL, NULL};
  uint64_t h = uvf_cli_run_route(c, line, tag);
  const char *url = line;
  worker *w = ps->w[uvf_cli_route_worker(h, ps->k)];
  pending *pd;

  /* A request line: the record of its URL and "tag", if written here. */
  if (uvf_cli_reqs_is_json(c->reqs, line)) {
    uvf_cli_reqs_make(c->reqs, line, tag, &m);
    url = m.rq && m.rq->url ? m.rq->url : "";
  }
  if (!(pd = new_pending(line, tag, position, url, m.tag)))
    return -ENOMEM;
  if (!w) { /* its worker is gone: the run is stopping */
    abort_line(ps, pd, NULL, 1);
    free(pd);
    return 0;
  }
  if (uvf_cli_idmap_put(w->lines, position, (uintptr_t)pd) != 0) {
    free(pd);
    return -ENOMEM;
  }
  uvf_cli_buf_printf(&w->batch, "%" PRIu64 " %" PRIu64 "\t", position, tag);
  uvf_cli_buf_add(&w->batch, line, pd->len);
  uvf_cli_buf_add(&w->batch, "\n", 1);
  return w->batch.oom ? -ENOMEM : 0;
}

static void on_idle(uv_idle_t *h) {
  uvf_cli_run *c = h->data;

  uv_idle_stop(h);
  c->replay_yielded = 0;
  uvf_cli_procs_pump(c);
}

/* After a batch of replayed records the loop gets its turn; then on. */
static void yield(uvf_cli_procs *ps) {
  if (!ps->idle_init && uv_idle_init(&ps->c->loop, &ps->idle) == 0) {
    ps->idle_init = 1;
    ps->idle.data = ps->c;
  }
  if (ps->idle_init)
    uv_idle_start(&ps->idle, on_idle);
}

static void no_more_lines(uvf_cli_procs *ps) { ps->input_done = 1; }

void uvf_cli_procs_pump(uvf_cli_run *c) {
  uvf_cli_procs *ps = c->procs;
  const char *line;
  uint64_t tag;
  int rc = UVF_CLI_LINE_WAIT;

  if (!ps || ps->pumping || ps->live == 0)
    return;
  ps->pumping = 1;
  while (!ps->input_done && !c->stopping && !c->interrupted && !full(ps) &&
         !uvf_cli_run_hold_report(c)) {
    rc = uvf_cli_run_next_line(c, &line, &tag);
    if (rc != UVF_CLI_LINE_TAKEN)
      break;
    if (hand(ps, line, tag, c->position - 1) != 0) {
      uvf_cli_run_output_failed(c, -ENOMEM);
      break;
    }
  }
  if (rc == UVF_CLI_LINE_END)
    no_more_lines(ps);
  else if (rc == UVF_CLI_LINE_WAIT && c->replay_yielded)
    yield(ps);
  flush(ps);
  ps->pumping = 0;
}

/* ---- the run ---- */

int uvf_cli_procs_start(uvf_cli_run *c) {
  uvf_cli_procs *ps = calloc(1, sizeof(*ps));
  size_t size;
  unsigned i;
  int rc;

  if (!ps || !(ps->w = calloc(c->args.procs, sizeof(*ps->w)))) {
    free(ps);
    uvf_cli_error("cannot start: out of memory");
    return -ENOMEM;
  }
  ps->c = c;
  ps->k = c->args.procs;
  c->procs = ps;
  size = sizeof(ps->exe);
  if ((rc = uv_exepath(ps->exe, &size)) != 0) {
    uvf_cli_error("cannot start the workers: %s", uv_strerror(rc));
    return rc;
  }
  for (i = 0; i < ps->k; i++) {
    if ((rc = spawn(ps, i)) != 0) {
      uvf_cli_procs_stop(c);
      return rc;
    }
    ps->live++;
  }
  uvf_cli_procs_pump(c);
  return 0;
}

void uvf_cli_procs_stop(uvf_cli_run *c) {
  uvf_cli_procs *ps = c->procs;
  unsigned i;

  if (c->stopping)
    return;
  c->stopping = 1;
  ps->input_done = 1;
  /* After a signal each worker has its grace period already; after a
   * local error, what is in flight is aborted at once, as in one
   * process (their lines get aborted records here). */
  for (i = 0; i < ps->k && !c->interrupted; i++)
    if (ps->w[i]) {
      ps->killed = 1;
      uv_process_kill(&ps->w[i]->proc, SIGKILL);
    }
  flush(ps);
}

uint64_t uvf_cli_procs_in_flight(const uvf_cli_run *c) {
  const uvf_cli_procs *ps = c->procs;
  uint64_t n = 0;
  unsigned i;

  for (i = 0; ps && i < ps->k; i++)
    n += ps->w[i] ? uvf_cli_idmap_count(ps->w[i]->lines) : 0;
  return n;
}

void uvf_cli_procs_on_signal(void *ud, int signum) {
  uvf_cli_run *c = ud;
  uvf_cli_procs *ps = c->procs;
  uint64_t n = uvf_cli_procs_in_flight(c);
  unsigned i;

  if (!ps->signalled && !c->wound_down && ps->live > 0) {
    ps->signalled = 1;
    for (i = 0; i < ps->k; i++)
      if (ps->w[i])
        uv_process_kill(&ps->w[i]->proc, SIGTERM);
    no_more_lines(ps);
    flush(ps);
    if (n > 0 && c->args.grace_ms > 0)
      uvf_cli_note("stopping: the workers' transfers in flight may finish "
                   "within %g s; signal again to quit at once",
                   (double)c->args.grace_ms / 1000);
  }
  uvf_cli_run_on_signal(c, signum);
}

void uvf_cli_procs_free(uvf_cli_run *c) {
  if (!c->procs)
    return;
  uvf_cli_buf_free(&c->procs->scratch);
  free(c->procs->w);
  free(c->procs);
  c->procs = NULL;
}
