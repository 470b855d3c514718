/* What the fetcher is fed: the next input URL, or the journal's record
 * in its place when an earlier run finished it, and how much may wait in
 * memory before the fetcher must take no more. */
#include <errno.h>

#include "feeds.h"
#include "run.h"

/* Body bytes queued for the disk before no new URL is taken. */
#define FILES_PAUSE ((uint64_t)4 << 20)
/* Bytes of --db groups not yet committed, likewise. */
#define DB_PAUSE ((size_t)4 << 20)

static size_t db_backlog(const uvf_cli_run *c) {
  return c->db ? uvf_cli_db_pending(c->db) : 0;
}

/* Report bytes in memory: waiting for an earlier index, or for the
 * reader. */
static size_t report_backlog(const uvf_cli_run *c) {
  return uvf_cli_sink_held(c->sink) +
         (c->out ? uvf_cli_writer_pending(c->out) : 0);
}

static uint64_t files_backlog(const uvf_cli_run *c) {
  return c->bodies ? uvf_cli_bodies_backlog(c->bodies) : 0;
}

/* Asks the threads that lag to say when they have caught up: only they
 * can end the pause when no record is coming. */
static void await_threads(uvf_cli_run *c, size_t report, uint64_t files) {
  size_t held = uvf_cli_sink_held(c->sink), low = c->window / 2;

  if (c->out && report >= low && held < low &&
      uvf_cli_writer_pending(c->out) > 0)
    uvf_cli_writer_notify_below(c->out, low - held);
  if (files >= FILES_PAUSE / 2)
    uvf_cli_bodies_notify_below(c->bodies, FILES_PAUSE / 2);
  if (db_backlog(c) >= DB_PAUSE / 2)
    uvf_cli_db_notify_below(c->db, DB_PAUSE / 2);
}

/* Early finishers wait in the reorder buffer for a slow earlier index,
 * records wait for a slow reader, bodies for a slow disk. Taking no new
 * URLs while too much waits keeps memory bounded by N and the window,
 * never by the number of URLs, while the transfers in flight go on. */
void uvf_cli_run_backpressure(uvf_cli_run *c) {
  size_t report = report_backlog(c);
  uint64_t files = files_backlog(c);

  if (c->procs) {
    uvf_cli_procs_pump(c);
    return;
  }
  if (!c->f || c->stopping || c->done)
    return;
  size_t db = db_backlog(c);

  if (!c->paused &&
      (report > c->window || files > FILES_PAUSE || db > DB_PAUSE)) {
    c->paused = 1;
    uvf_pause(c->f);
  } else if (c->paused && report < c->window / 2 && files < FILES_PAUSE / 2 &&
             db < DB_PAUSE / 2) {
    c->paused = 0;
    uvf_resume(c->f);
    return;
  }
  if (c->paused)
    await_threads(c, report, files);
}

int uvf_cli_run_hold_report(uvf_cli_run *c) {
  size_t report = report_backlog(c);

  if (c->paused ? report >= c->window / 2 : report > c->window) {
    c->paused = 1;
    await_threads(c, report, 0);
    return 1;
  }
  c->paused = 0;
  return 0;
}

void uvf_cli_run_input_ready(void *ud) {
  uvf_cli_run *c = ud;

  if (c->procs)
    uvf_cli_procs_pump(c);
  else if (!c->paused && !c->stopping && !c->done && c->f)
    uvf_resume(c->f);
}

/* Where library index `index` is in the input. */
uint64_t uvf_cli_run_position_of(const uvf_cli_run *c, uint64_t index) {
  uint64_t position;

  if (c->where && uvf_cli_idmap_get(c->where, index, &position))
    return position;
  return c->positions ? uvf_cli_positions_of(c->positions, index) : index;
}

void uvf_cli_run_forget(uvf_cli_run *c, uint64_t index) {
  if (c->where)
    uvf_cli_idmap_take(c->where, index, NULL);
}

uint64_t uvf_cli_run_route(uvf_cli_run *c, const char *line, uint64_t tag) {
  uvf_cli_made m;

  if (c->args.shard_by_url)
    return uvf_cli_route_url(line);
  /* A request line goes by the URL inside it. */
  if (uvf_cli_reqs_is_json(c->reqs, line))
    return uvf_cli_reqs_make(c->reqs, line, tag, &m) == 0 && m.rq->url
               ? uvf_cli_route_origin(m.rq->url)
               : uvf_cli_route_url(line);
  return uvf_cli_route_origin(line);
}

/* 1 if the line is for another shard (--shard I/N). */
static int other_shard(uvf_cli_run *c, const char *line, uint64_t tag) {
  unsigned n = c->args.shards;

  return n > 0 && uvf_cli_route_shard(uvf_cli_run_route(c, line, tag), n) !=
                      c->args.shard;
}

/* 1 if the journal's answer for the current position is a record this
 * run can replay; otherwise says why not. */
static int record_fits(uvf_cli_run *c, int rc, uint64_t tag,
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

static void refuse_journal(uvf_cli_run *c) {
  c->journal_refused = 1;
  uvf_cli_run_stop(c);
}

/* Records replayed in one call: the loop gets its turn between batches,
 * with --order done too, where nothing is held back. */
#define REPLAY_BATCH 4096

enum {
  URL_WAIT = UVF_CLI_LINE_WAIT,
  URL_END = UVF_CLI_LINE_END,
  URL_TAKEN = UVF_CLI_LINE_TAKEN,
  URL_REPLAYED = UVF_CLI_LINE_REPLAYED,
  URL_SKIPPED = UVF_CLI_LINE_SKIPPED
};

/* 1 if no URL is to be taken now: too many report lines wait (the
 * replayed ones too), or a batch of replays has been written. */
static int held_back(uvf_cli_run *c, size_t replayed) {
  int full = c->positions && report_backlog(c) > c->window;

  if (full) {
    c->paused = 1; /* backpressure() resumes the fetcher */
    await_threads(c, report_backlog(c), files_backlog(c));
  } else if (replayed == REPLAY_BATCH) {
    c->replay_yielded = 1; /* on_prepare() in setup.c resumes the fetcher */
  }
  return full || replayed == REPLAY_BATCH;
}

static void input_ended(uvf_cli_run *c) {
  if (c->input_ended)
    return;
  c->input_ended = 1;
  if (c->positions && !uvf_cli_input_failed(c->in) &&
      uvf_cli_resume_past_end(c->args.journal_path, c->journal, c->position))
    c->journal_refused = 1; /* every URL has its record already */
}

/* The URL at c->position, in a resumed run: taken if the journal has no
 * record of it, else its record is replayed. */
static int take_or_replay(uvf_cli_run *c, const char *url, uint64_t tag) {
  uvf_cli_journaled rec;
  int rc = uvf_cli_journal_lookup(c->journal, c->position,
                                  uvf_cli_journal_key(url, tag), &rec);

  if (rc == 0 && !c->where &&
      uvf_cli_positions_note(c->positions, c->taken, c->position) != 0) {
    uvf_cli_run_output_failed(c, -ENOMEM);
    rc = URL_END;
  } else if (rc == 0) {
    c->taken++;
    c->position++;
    rc = URL_TAKEN;
  } else if (!record_fits(c, rc, tag, &rec)) {
    refuse_journal(c);
    rc = URL_END;
  } else {
    uvf_cli_run_replay(c, c->position++, &rec);
    rc = c->stopping ? URL_END : URL_REPLAYED;
  }
  return rc;
}

static int next_url(uvf_cli_run *c, const char **url, uint64_t *tag,
                    size_t replayed) {
  int rc = URL_WAIT;

  if (!held_back(c, replayed) &&
      (rc = uvf_cli_input_next(c->in, url, tag)) == URL_END) {
    input_ended(c);
  } else if (rc == URL_TAKEN && c->args.worker) {
    c->position = uvf_cli_input_position(c->in) + 1; /* the parent's */
  } else if (rc == URL_TAKEN && other_shard(c, *url, *tag)) {
    /* Its place is kept: records show the global index, and the report
     * in input order does not wait for it. */
    if (uvf_cli_sink_put(c->sink, c->position++, "", 0) != 0)
      uvf_cli_run_output_failed(c, -ENOMEM);
    rc = URL_SKIPPED;
  } else if (rc == URL_TAKEN && !c->positions) {
    c->position++;
  } else if (rc == URL_TAKEN)
    rc = take_or_replay(c, *url, *tag);
  return rc;
}

/* The next input line that the journal does not have; those it has are
 * reported on the way, in their place. */
int uvf_cli_run_next_line(uvf_cli_run *c, const char **line, uint64_t *tag) {
  size_t replayed = 0;
  int rc;

  while ((rc = next_url(c, line, tag, replayed)) == URL_REPLAYED ||
         rc == URL_SKIPPED)
    replayed += rc == URL_REPLAYED;
  return rc;
}

/* What the record will need that the result does not carry back: the
 * line's "tag", why it is not a request, and the journal key of a JSON
 * line (made of the line, not of its URL). A plain URL line needs none. */
static int note_line(uvf_cli_run *c, const char *line, uint64_t tag,
                     const uvf_cli_made *m) {
  uvf_cli_linenote n = {tag, 0, (char *)m->tag, (char *)m->why, 0};

  n.not_get = c->db && !uvf_cli_request_is_get(m->rq);
  if (!m->tag && !m->why && !n.not_get &&
      !(c->journal && uvf_cli_reqs_is_json(c->reqs, line)))
    return 0;
  n.jkey = uvf_cli_journal_key(line, tag);
  return uvf_cli_notes_put(&c->notes, &n);
}

/* Hands the fetcher the request of the next input line. */
int uvf_cli_run_next_request(void *ud, const uvf_request **rq) {
  uvf_cli_run *c = ud;
  const char *line;
  uvf_cli_made m;
  uint64_t tag;
  int rc = uvf_cli_run_next_line(c, &line, &tag);

  if (rc != URL_TAKEN)
    return rc;
  if (uvf_cli_reqs_make(c->reqs, line, tag, &m) == 0)
    m.rq = uvf_cli_validators_apply(c->validators, m.rq, c->args.fetch.headers,
                                    c->args.fetch.n_headers);
  if (note_line(c, line, tag, &m) != 0 ||
      (c->where &&
       uvf_cli_idmap_put(c->where, c->handed, c->position - 1) != 0))
    uvf_cli_run_output_failed(c, -ENOMEM);
  c->handed++;
  *rq = m.rq;
  return rc;
}

void uvf_cli_run_on_start(void *ud, uint64_t index, uint64_t tag) {
  uvf_cli_run *c = ud;

  (void)tag;
  uvf_cli_bodies_start(c->bodies, uvf_cli_run_position_of(c, index));
}

int uvf_cli_run_on_body(void *ud, uint64_t index, const char *data,
                        size_t len) {
  uvf_cli_run *c = ud;
  int rc = uvf_cli_bodies_write(c->bodies, uvf_cli_run_position_of(c, index),
                                data, len);

  /* A record waits for its file, so the disk lagging shows here first. */
  if (!c->paused && files_backlog(c) > FILES_PAUSE)
    uvf_cli_run_backpressure(c);
  return rc != 0;
}
