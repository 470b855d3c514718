/* uvfetch feeds run: one event loop fetches the feeds that are due, each
 * document is parsed as its bytes arrive, and one database thread
 * stores the items ("one worker, many runners", without the runners'
 * threads). What one feed writes (its items, its validators, its next
 * check) is one group of db.c, committed whole: a kill -9 at any moment
 * leaves every feed either done or still due, so the next run fetches
 * again exactly what was not committed, and the items' UNIQUE(feed,
 * uid) keeps each item once whatever is fetched twice.
 *
 * Each feed is asked for with the validators of its last whole reply, so
 * a feed that has not changed costs a 304 and one UPDATE; the reply's
 * headers (on_headers) give the parser the Content-Type's charset before
 * the first byte of the document.
 *
 * The due feeds are read in pages by the database thread (the loop never
 * calls SQLite), so memory holds one page and the transfers in flight,
 * however many feeds the database has. While the database or the report
 * lags, no feed starts. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "feeds.h"
#include "feeds_run.h"

/* Statements, by position (db.c). */
enum { S_ITEM, S_FEED_OK, S_FEED_NM, S_FEED_ERR, S_DUE };

static const char *const sql[] = {
    [S_ITEM] = "INSERT INTO items(feed, uid, title, link, summary, author,"
               " published, updated, hash, first_seen, changed)"
               " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)"
               " ON CONFLICT(feed, uid) DO UPDATE SET title = excluded.title,"
               " link = excluded.link, summary = excluded.summary,"
               " author = excluded.author, published = excluded.published,"
               " updated = excluded.updated, hash = excluded.hash,"
               " changed = excluded.changed WHERE hash != excluded.hash",
    [S_FEED_OK] = "UPDATE feeds SET title = coalesce(?1, title),"
                  " last_check = ?2, last_status = ?3, last_error = NULL,"
                  " errors = 0, next_check = ?4, etag = ?5,"
                  " last_modified = ?6 WHERE id = ?7",
    [S_FEED_NM] = "UPDATE feeds SET last_check = ?1, last_status = 304,"
                  " last_error = NULL, errors = 0, next_check = ?2,"
                  " etag = coalesce(?3, etag),"
                  " last_modified = coalesce(?4, last_modified)"
                  " WHERE id = ?5",
    [S_FEED_ERR] = "UPDATE feeds SET last_check = ?1, last_status = ?2,"
                   " last_error = ?3, errors = ?4, next_check = ?5,"
                   " gone = ?6 WHERE id = ?7",
    [S_DUE] = "SELECT id, url, errors, etag, last_modified FROM feeds"
              " WHERE gone = 0 AND next_check <= ?1 AND id > ?2"
              " ORDER BY id LIMIT ?3",
};

#define PAGE 512
#define DB_PAUSE ((size_t)4 << 20)     /* bytes not committed */
#define REPORT_PAUSE ((size_t)8 << 20) /* report bytes not written */
#define FEED_MAX_BODY ((uint64_t)8 << 20)
#define NEVER INT64_MAX

/* A feed being fetched: its tag is this job. */
typedef struct job {
  struct job *next; /* in its bucket */
  uint64_t index;
  int64_t id;
  unsigned errors; /* failures in a row before this fetch */
  char *url;
  char *etag; /* the validators stored, for a conditional request */
  char *last_modified;
  uvf_cli_feedparser *parser; /* made once a 2xx reply's headers came */
  int bucketed;
} job;

typedef struct frun {
  uvf_cli_args *a;
  uv_loop_t loop;
  uvf_fetcher *f;
  uvf_cli_db *db;
  uvf_cli_writer *out;
  uvf_cli_progress *progress;
  uvf_cli_signals *signals;
  uv_prepare_t flusher;
  int flusher_init;
  uv_timer_t grace;
  int grace_init;
  job **buckets;
  size_t n_buckets;
  job *ready[2 * PAGE]; /* due feeds read, not started: a ring */
  size_t ready_head, n_ready;
  int64_t last_id;
  int reading, source_end;
  int64_t due_by; /* feeds due by then are fetched */
  int paused, done, closed, interrupted, stopping, wound_down;
  int local_err, out_err;
  uvf_cli_buf line;
  uvf_request rq;         /* the request next_request() hands over */
  uvf_cli_buf validators; /* its conditional header lines */
  char *conditional[2];
  uint64_t started, finished, ok, not_modified, failed, gone, items;
  uint64_t written; /* item rows new or changed, once committed */
  uint64_t p99_us;  /* the commit latency's 99th percentile */
  uint64_t t0;
} frun;

static int64_t wall(void) { return (int64_t)time(NULL); }

/* ---- jobs by index ---- */

static job **bucket(frun *r, uint64_t index) {
  return &r->buckets[index & (r->n_buckets - 1)];
}

static void bucket_put(frun *r, job *j) {
  job **b = bucket(r, j->index);

  j->next = *b;
  *b = j;
  j->bucketed = 1;
}

static job *bucket_find(frun *r, uint64_t index) {
  job *j = *bucket(r, index);

  while (j && j->index != index)
    j = j->next;
  return j;
}

static void bucket_drop(frun *r, job *j) {
  job **p = bucket(r, j->index);

  while (*p && *p != j)
    p = &(*p)->next;
  if (*p)
    *p = j->next;
  j->bucketed = 0;
}

static void job_free(frun *r, job *j) {
  if (j->bucketed)
    bucket_drop(r, j);
  uvf_cli_feedparser_free(j->parser);
  free(j->url);
  free(j->etag);
  free(j->last_modified);
  free(j);
}

/* ---- the source: due feeds, a page at a time ---- */

/* Asks the database thread for the next page of due feeds. */
static void ask_page(frun *r) {
  int64_t args[3] = {r->due_by, r->last_id, PAGE};

  if (r->reading || r->source_end)
    return;
  r->reading = uvf_cli_db_read(r->db, S_DUE, args, 3, PAGE) == 0;
}

static char *dup_str(const char *s) { return s ? strdup(s) : NULL; }

static job *job_of_row(char **row) {
  job *j = calloc(1, sizeof(*j));

  if (!j)
    return NULL;
  j->id = strtoll(row[0], NULL, 10);
  j->url = dup_str(row[1]);
  j->errors = (unsigned)strtoul(row[2] ? row[2] : "0", NULL, 10);
  j->etag = dup_str(row[3]);
  j->last_modified = dup_str(row[4]);
  if (!j->url) {
    free(j->etag);
    free(j->last_modified);
    free(j);
    return NULL;
  }
  return j;
}

/* The page read, if it has come, becomes jobs waiting their turn, and
 * the next page is asked for at once: the fetcher never waits for the
 * database between pages. At most two pages wait. */
static void take_page(frun *r) {
  char **rows;
  size_t n, cols, i;

  if (!r->reading || !uvf_cli_db_rows(r->db, &rows, &n, &cols))
    return;
  r->reading = 0;
  for (i = 0; i < n && cols >= 5; i++) {
    job *j = job_of_row(rows + i * cols);

    if (!j) {
      uvf_cli_error("out of memory");
      r->local_err = 1;
      r->source_end = 1;
      break;
    }
    r->ready[(r->ready_head + r->n_ready++) % (2 * PAGE)] = j;
    r->last_id = j->id;
  }
  if (n < PAGE)
    r->source_end = 1; /* the last page */
  if (r->n_ready <= PAGE)
    ask_page(r);
  if (r->f && !r->paused && !r->stopping)
    uvf_resume(r->f);
}

/* uvf_callbacks.next_request: the next due feed, sent with the
 * validators stored for it (If-None-Match, If-Modified-Since), so that a
 * feed that has not changed is answered 304 and not sent again. The
 * request and its header lines live in r until the next call. */
static int next_request(void *ud, const uvf_request **rq) {
  frun *r = ud;
  job *j;

  if (r->stopping)
    return 0;
  if (r->n_ready == 0) {
    if (r->source_end)
      return 0;
    ask_page(r);
    return -1;
  }
  j = r->ready[r->ready_head];
  r->ready_head = (r->ready_head + 1) % (2 * PAGE);
  r->n_ready--;
  if (r->n_ready <= PAGE)
    ask_page(r);
  r->started++;
  uvf_request_init(&r->rq);
  r->rq.url = j->url;
  r->rq.tag = (uint64_t)(uintptr_t)j;
  /* Out of memory, it is sent without them: a whole reply, no harm. */
  r->rq.n_headers = uvf_cli_conditional_headers(
      &r->validators, j->etag, j->last_modified, r->conditional);
  r->rq.headers = (const char *const *)r->conditional;
  *rq = &r->rq;
  return 1;
}

/* A transfer starts, the first time or again after a retry: the bytes of
 * an earlier attempt are void, and so is its parser. */
static void on_start(void *ud, uint64_t index, uint64_t tag) {
  frun *r = ud;
  job *j = (job *)(uintptr_t)tag;

  if (!j->bucketed) {
    j->index = index;
    bucket_put(r, j);
  }
  uvf_cli_feedparser_free(j->parser);
  j->parser = NULL;
}

/* The reply's headers, before its body: a 2xx gets a parser that knows
 * the Content-Type's charset (used only when the document names none in
 * a byte order mark or its XML declaration). Any other reply gets none,
 * and its body is let go by. */
static int on_headers(void *ud, uint64_t index, long status,
                      const uvf_header *h, size_t n) {
  job *j = bucket_find(ud, index);
  char charset[64];
  const char *cs;

  if (!j || status < 200 || status > 299)
    return 0;
  cs = uvf_cli_content_charset(uvf_cli_header_in(h, n, "Content-Type"), charset,
                               sizeof(charset));
  return uvf_cli_feedparser_new(&j->parser, cs) != 0;
}

static int on_body(void *ud, uint64_t index, const char *data, size_t len) {
  job *j = bucket_find(ud, index);

  if (j && !j->parser)
    return 0; /* an error reply's body */
  /* A document known to be no feed (HTML, an entity bomb) stops here:
   * the rest of its bytes are not worth the wait. */
  return !j || uvf_cli_feedparser_push(j->parser, data, len) != 0;
}

/* ---- what a feed writes ---- */

static void write_items(frun *r, const job *j, int64_t now) {
  size_t i, n = uvf_cli_feedparser_count(j->parser);

  for (i = 0; i < n; i++) {
    const uvf_cli_feed_item *it = uvf_cli_feedparser_item(j->parser, i);

    uvf_cli_db_stmt(r->db, S_ITEM);
    uvf_cli_db_int(r->db, j->id);
    uvf_cli_db_text(r->db, it->uid);
    uvf_cli_db_text(r->db, it->title);
    uvf_cli_db_text(r->db, it->link);
    uvf_cli_db_text(r->db, it->summary);
    uvf_cli_db_text(r->db, it->author);
    uvf_cli_db_int(r->db, it->published);
    uvf_cli_db_int(r->db, it->updated);
    uvf_cli_db_int(r->db, (int64_t)it->hash);
    uvf_cli_db_int(r->db, now);
  }
}

/* A feed fetched and parsed: its items, then the feed with its
 * validators and next check, in one group: the validators are never
 * committed without what they validate. */
static void store_feed(frun *r, const job *j, const uvf_result *res,
                       int64_t now, int64_t next_check) {
  uvf_cli_db_begin(r->db);
  write_items(r, j, now);
  uvf_cli_db_stmt(r->db, S_FEED_OK);
  uvf_cli_db_text(r->db, uvf_cli_feedparser_title(j->parser));
  uvf_cli_db_int(r->db, now);
  uvf_cli_db_int(r->db, res->status);
  uvf_cli_db_int(r->db, next_check);
  uvf_cli_db_text(r->db, uvf_cli_result_header(res, "ETag"));
  uvf_cli_db_text(r->db, uvf_cli_result_header(res, "Last-Modified"));
  uvf_cli_db_int(r->db, j->id);
  uvf_cli_db_end(r->db);
}

/* A 304 updates what it sends (RFC 9111 4.3.4): a server may give a new
 * ETag or Last-Modified with it, and the next request must send those. */
static void store_not_modified(frun *r, const job *j, const uvf_result *res,
                               int64_t now, int64_t next_check) {
  uvf_cli_db_begin(r->db);
  uvf_cli_db_stmt(r->db, S_FEED_NM);
  uvf_cli_db_int(r->db, now);
  uvf_cli_db_int(r->db, next_check);
  uvf_cli_db_text(r->db, uvf_cli_result_header(res, "ETag"));
  uvf_cli_db_text(r->db, uvf_cli_result_header(res, "Last-Modified"));
  uvf_cli_db_int(r->db, j->id);
  uvf_cli_db_end(r->db);
}

static void store_error(frun *r, const job *j, long status, const char *why,
                        int64_t now, int64_t next_check, int gone) {
  uvf_cli_db_begin(r->db);
  uvf_cli_db_stmt(r->db, S_FEED_ERR);
  uvf_cli_db_int(r->db, now);
  uvf_cli_db_int(r->db, status);
  uvf_cli_db_text(r->db, why);
  uvf_cli_db_int(r->db, (int64_t)j->errors + 1);
  uvf_cli_db_int(r->db, next_check);
  uvf_cli_db_int(r->db, gone);
  uvf_cli_db_int(r->db, j->id);
  uvf_cli_db_end(r->db);
}

/* ---- outcomes ---- */

enum outcome { O_OK, O_NOT_MODIFIED, O_ERROR, O_GONE, O_ABORTED };

static const char *const outcome_names[] = {"ok", "not_modified", "error",
                                            "gone", "aborted"};

/* The report line of one feed. */
static void report(frun *r, const job *j, const uvf_result *res, int o,
                   const char *error, const char *message, size_t items,
                   int64_t next_check) {
  uvf_cli_buf *b = &r->line;

  uvf_cli_buf_reset(b);
  uvf_cli_buf_printf(b, "{\"feed\":%" PRId64 ",\"url\":", j->id);
  uvf_cli_json_str(b, j->url);
  uvf_cli_buf_printf(b, ",\"ok\":%s,\"status\":%ld,\"outcome\":\"%s\"",
                     o == O_OK || o == O_NOT_MODIFIED ? "true" : "false",
                     res->status, outcome_names[o]);
  uvf_cli_buf_puts(b, ",\"error\":");
  uvf_cli_json_str(b, error);
  uvf_cli_buf_puts(b, ",\"message\":");
  uvf_cli_json_str(b, message ? message : "");
  uvf_cli_buf_printf(b,
                     ",\"items\":%zu,\"bytes\":%" PRIu64 ",\"attempts\":%u,"
                     "\"time_total\":%.6f,\"next_check\":",
                     items, res->bytes, res->attempts, res->time_total);
  if (next_check == NEVER || o == O_ABORTED)
    uvf_cli_buf_puts(b, "null");
  else
    uvf_cli_buf_printf(b, "%" PRId64, next_check);
  uvf_cli_buf_puts(b, "}\n");
  if (!b->oom)
    uvf_cli_writer_add(r->out, b->data, b->len);
}

static void tally(frun *r, int o, size_t items) {
  r->finished++;
  r->ok += o == O_OK;
  r->not_modified += o == O_NOT_MODIFIED;
  r->failed += o == O_ERROR || o == O_GONE;
  r->gone += o == O_GONE;
  r->items += items;
}

/* What a reply means for a feed: a 304 is no error, 410 stops the feed,
 * a 2xx must parse as a feed. why is set for errors. */
static int judge(const job *j, const uvf_result *res, const char **error,
                 const char **why) {
  *error = NULL;
  *why = NULL;
  if (res->status == 304)
    return O_NOT_MODIFIED;
  if (res->status == 410) {
    *error = "gone";
    *why = "410 Gone: the feed is not fetched again";
    return O_GONE;
  }
  if (res->error == UVF_EABORTED)
    return O_ABORTED; /* by a signal: the feed stays due */
  if (!res->ok) {
    *error = uvf_err_name(res->error);
    *why = res->message;
    return O_ERROR;
  }
  if (!j->parser || uvf_cli_feedparser_end(j->parser) != 0) {
    *error = "feed";
    *why = j->parser ? uvf_cli_feedparser_why(j->parser) : "out of memory";
    return O_ERROR;
  }
  return O_OK;
}

/* A transfer we stopped in on_body because its document is no feed
 * comes back aborted: it is that feed's error, not an interruption. */
static int stopped_by_parser(const job *j, const uvf_result *res) {
  return res->error == UVF_EABORTED && res->status != 0 && j->parser &&
         *uvf_cli_feedparser_why(j->parser) != '\0';
}

static void backpressure(frun *r);

static void on_result(void *ud, const uvf_result *res) {
  frun *r = ud;
  job *j = (job *)(uintptr_t)res->tag;
  int64_t now = wall(), next_check = NEVER;
  uvf_cli_feed_hints h = {0};
  const char *error, *why;
  size_t items = 0;
  int o;

  if (stopped_by_parser(j, res)) {
    o = O_ERROR;
    error = "feed";
    why = uvf_cli_feedparser_why(j->parser);
  } else {
    o = judge(j, res, &error, &why);
  }
  if (o == O_OK || o == O_NOT_MODIFIED) {
    uvf_cli_feed_hints_from(&h, res, now);
    h.ttl = o == O_OK ? uvf_cli_feedparser_ttl(j->parser) * 60 : 0;
    next_check = now + uvf_cli_feed_interval(&h);
  } else if (o == O_ERROR) {
    uvf_cli_feed_hints_from(&h, res, now);
    next_check = now + uvf_cli_feed_backoff(j->errors + 1, h.retry_after);
  }
  if (o == O_OK) {
    items = uvf_cli_feedparser_count(j->parser);
    store_feed(r, j, res, now, next_check);
  } else if (o == O_NOT_MODIFIED) {
    store_not_modified(r, j, res, now, next_check);
  } else if (o != O_ABORTED) { /* an aborted feed stays due */
    store_error(r, j, res->status, why, now, next_check, o == O_GONE);
  }
  tally(r, o, items);
  report(r, j, res, o, o == O_ABORTED ? "aborted" : error, why, items,
         next_check);
  job_free(r, j);
  backpressure(r);
}

/* ---- flow ---- */

static void backpressure(frun *r) {
  size_t db, out;

  if (!r->f || r->stopping || r->done || !r->db || !r->out)
    return;
  db = uvf_cli_db_pending(r->db);
  out = uvf_cli_writer_pending(r->out);
  if (!r->paused && (db > DB_PAUSE || out > REPORT_PAUSE)) {
    r->paused = 1;
    uvf_pause(r->f);
  } else if (r->paused && db < DB_PAUSE / 2 && out < REPORT_PAUSE / 2) {
    r->paused = 0;
    uvf_resume(r->f);
    return;
  }
  if (r->paused) {
    /* Only the threads can end the pause when no feed is finishing. */
    if (db >= DB_PAUSE / 2)
      uvf_cli_db_notify_below(r->db, DB_PAUSE / 2);
    if (out >= REPORT_PAUSE / 2)
      uvf_cli_writer_notify_below(r->out, REPORT_PAUSE / 2);
  }
}

static void stop(frun *r) {
  if (r->stopping || r->done || !r->f)
    return;
  r->stopping = 1;
  uvf_abort(r->f, UVF_EABORTED);
}

static void close_handle(void *h, int *init) {
  if (*init)
    uv_close(h, NULL);
  *init = 0;
}

/* Closes what the run opened besides the fetcher (each close may be
 * called on what is already closed). */
static void close_all(frun *r) {
  uvf_cli_db_close(r->db);
  r->db = NULL;
  uvf_cli_writer_close(r->out);
  r->out = NULL;
  close_handle(&r->flusher, &r->flusher_init);
  close_handle(&r->grace, &r->grace_init);
  uvf_cli_progress_close(r->progress);
  r->progress = NULL;
  uvf_cli_signals_close(r->signals);
  r->signals = NULL;
}

static void wind_down(frun *r) {
  if (!r->closed || r->wound_down || !r->db || !r->out)
    return;
  if (!uvf_cli_db_finished(r->db) || !uvf_cli_writer_finished(r->out))
    return;
  r->wound_down = 1;
  r->written = uvf_cli_db_changes(r->db, S_ITEM);
  r->p99_us = uvf_cli_db_latency_us(r->db, 99);
  close_all(r);
}

static void news(void *ud) {
  frun *r = ud;
  const char *msg;
  int err;

  if (r->db && (err = uvf_cli_db_error(r->db, &msg)) != 0 && !r->local_err) {
    r->local_err = 1;
    uvf_cli_error("cannot write the database %s: %s", r->a->db_path, msg);
    stop(r);
  }
  if (r->out && (err = uvf_cli_writer_error(r->out)) != 0 && !r->out_err) {
    r->out_err = err;
    if (err != -EPIPE)
      uvf_cli_error("cannot write the report: %s", strerror(-err));
    stop(r);
  }
  take_page(r);
  backpressure(r);
  wind_down(r);
}

static void fetcher_closed(void *ud) {
  frun *r = ud;

  r->f = NULL;
  r->closed = 1;
  wind_down(r);
}

static void on_done(void *ud) {
  frun *r = ud;

  r->done = 1;
  uvf_cli_db_finish(r->db);
  uvf_cli_writer_finish(r->out);
  uvf_fetcher_close(r->f, fetcher_closed);
}

static void on_prepare(uv_prepare_t *h) {
  frun *r = h->data;
  uvf_stats s;

  if (r->db)
    uvf_cli_db_flush(r->db);
  if (r->out)
    uvf_cli_writer_flush(r->out);
  if (r->interrupted && !r->stopping && r->f) {
    uvf_get_stats(r->f, &s);
    if (s.in_flight == 0)
      stop(r);
  }
}

static void on_grace_over(uv_timer_t *t) { stop(t->data); }

/* A signal: no new feed starts, those in flight have --grace seconds. */
static void on_signal(void *ud, int signum) {
  frun *r = ud;

  (void)signum;
  if (r->interrupted)
    return;
  r->interrupted = 1;
  if (!r->f || r->done)
    return;
  if (r->a->grace_ms <= 0 || uv_timer_init(&r->loop, &r->grace) != 0) {
    stop(r);
    return;
  }
  r->grace_init = 1;
  r->grace.data = r;
  uv_timer_start(&r->grace, on_grace_over, (uint64_t)r->a->grace_ms, 0);
  uvf_drain(r->f);
  uvf_cli_note("stopping: feeds in flight may finish within %g s; signal "
               "again to quit at once",
               (double)r->a->grace_ms / 1000);
}

static void count(void *ud, uvf_cli_counts *k) {
  frun *r = ud;
  uvf_stats s;

  memset(&s, 0, sizeof(s));
  if (r->f)
    uvf_get_stats(r->f, &s);
  k->done = r->finished;
  k->ok = r->ok + r->not_modified;
  k->failed = r->failed;
  k->in_flight = s.in_flight;
  k->stopping = r->interrupted && !r->stopping && r->grace_init;
  if (k->stopping)
    k->grace_left_ms = uv_timer_get_due_in(&r->grace);
}

/* ---- setup ---- */

static int start_fetcher(frun *r) {
  uvf_callbacks cb;
  int rc;

  uvf_callbacks_init(&cb);
  cb.next_request = next_request;
  cb.on_start = on_start;
  cb.on_headers = on_headers;
  cb.on_body = on_body;
  cb.on_result = on_result;
  cb.on_done = on_done;
  if (!r->a->max_body_given)
    r->a->fetch.max_body = FEED_MAX_BODY; /* a feed is no download */
  rc = uvf_fetcher_new(&r->f, &r->loop, &r->a->fetch, &cb, r);
  if (rc == 0)
    return 0;
  r->f = NULL;
  uvf_cli_error("cannot start: %s", uvf_strerror(rc));
  return -EINVAL;
}

static int start_watchers(frun *r) {
  const uvf_cli_args *a = r->a;
  int rc = uvf_cli_signals_start(&r->signals, &r->loop, on_signal, r);
  int progress = a->progress != UVF_CLI_PROGRESS_AUTO
                     ? a->progress
                     : !a->quiet && isatty(STDERR_FILENO);

  if (rc == 0 && (rc = uv_prepare_init(&r->loop, &r->flusher)) == 0) {
    r->flusher_init = 1;
    r->flusher.data = r;
    uv_unref((uv_handle_t *)&r->flusher);
    rc = uv_prepare_start(&r->flusher, on_prepare);
  }
  if (rc == 0 && progress)
    rc = uvf_cli_progress_start(&r->progress, &r->loop, stderr, count, r);
  if (rc != 0)
    uvf_cli_error("cannot start: %s", uv_strerror(rc));
  return rc;
}

static int setup(frun *r) {
  size_t n = 16;
  int rc;

  while (n < 2 * (size_t)r->a->fetch.max_in_flight)
    n *= 2;
  r->n_buckets = n;
  if (!(r->buckets = calloc(n, sizeof(*r->buckets)))) {
    uvf_cli_error("out of memory");
    return -ENOMEM;
  }
  rc = uvf_cli_db_open(&r->db, &r->loop, r->a->db_path, sql,
                       sizeof(sql) / sizeof(sql[0]), news, r);
  if (rc != 0)
    return rc;
  if ((rc = uvf_cli_writer_start(&r->out, &r->loop, STDOUT_FILENO, 0, news,
                                 r)) != 0) {
    uvf_cli_error("cannot start: %s", strerror(-rc));
    return rc;
  }
  if ((rc = start_fetcher(r)) != 0 || (rc = start_watchers(r)) != 0)
    return rc;
  ask_page(r);
  return 0;
}

/* After a failed setup, or at the end: whatever is still open. */
static void release(frun *r) {
  while (r->n_ready > 0) { /* not started: they stay due */
    job_free(r, r->ready[r->ready_head]);
    r->ready_head = (r->ready_head + 1) % (2 * PAGE);
    r->n_ready--;
  }
  if (r->f)
    uvf_fetcher_close(r->f, fetcher_closed);
  r->f = NULL;
  close_all(r);
  uv_run(&r->loop, UV_RUN_DEFAULT);
}

static void summary(const frun *r) {
  double secs = (double)(uv_hrtime() - r->t0) / 1e9;

  if (r->a->quiet)
    return;
  uvf_cli_note("%" PRIu64 " feeds in %.2f s: %" PRIu64 " ok, %" PRIu64
               " not modified, %" PRIu64 " failed (%" PRIu64 " gone); %" PRIu64
               " items read, %" PRIu64 " items new or changed; commit "
               "latency p99 %.1f ms",
               r->finished, secs, r->ok, r->not_modified, r->failed, r->gone,
               r->items, r->written, (double)r->p99_us / 1000);
}

static int status_of(const frun *r) {
  if (r->local_err)
    return UVF_CLI_EXIT_LOCAL;
  if (r->interrupted)
    return UVF_CLI_EXIT_INTERRUPTED;
  if (r->out_err == -EPIPE)
    return UVF_CLI_EXIT_PIPE;
  return r->failed > 0 || r->out_err ? UVF_CLI_EXIT_FAILED : UVF_CLI_EXIT_OK;
}

int uvf_cli_feeds_run(uvf_cli_args *a) {
  frun r;
  int status;

  if (a->n_urls > 0) {
    uvf_cli_usage("feeds run takes no arguments (feeds add URL... adds)");
    return UVF_CLI_EXIT_USAGE;
  }
  memset(&r, 0, sizeof(r));
  r.a = a;
  r.t0 = uv_hrtime();
  r.due_by = a->feeds_all ? NEVER : wall();
  if (uv_loop_init(&r.loop) != 0) {
    uvf_cli_error("cannot create the event loop");
    return UVF_CLI_EXIT_USAGE;
  }
  if (setup(&r) != 0) {
    release(&r);
    status = UVF_CLI_EXIT_USAGE;
  } else {
    uv_run(&r.loop, UV_RUN_DEFAULT);
    summary(&r);
    status = status_of(&r);
    release(&r);
  }
  if (uv_loop_close(&r.loop) != 0) {
    uvf_cli_error("internal error: event loop not closed");
    status = status == UVF_CLI_EXIT_OK ? UVF_CLI_EXIT_FAILED : status;
  }
  free(r.buckets);
  uvf_cli_buf_free(&r.line);
  uvf_cli_buf_free(&r.validators);
  return status;
}
