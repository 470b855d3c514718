/* The database: one SQLite connection on a thread of its own, fed by the
 * loop through a bounded hand-over, as the report's writer (writer.c).
 * The loop encodes each group of statement executions into bytes; the
 * thread binds, steps and commits them. The loop never writes with
 * sqlite3 (its only calls are validators.c's point reads, on a read-only
 * connection, which in WAL mode never wait for a writer), so a slow
 * disk, a checkpoint or another process holding the lock hold up this
 * thread only; the caller reads uvf_cli_db_pending() and pauses
 * admission while it is high.
 *
 * Transactions: a group (what one URL or one feed writes: its record,
 * its items, its validators) is committed whole or not at all, so a
 * kill -9 at any moment leaves every group either there or absent. The
 * thread commits once UVF_CLI_DB_BATCH_ROWS groups are in a transaction,
 * or UVF_CLI_DB_BATCH_MS after it began, whichever comes first: one
 * fsync for many rows, yet a record is durable within 50 ms of a quiet
 * moment. WAL with synchronous=NORMAL: a commit does not wait for the
 * disk, a power cut loses at most the last transactions, never the
 * database's consistency. Checkpoints run on this thread too (SQLite's
 * automatic ones happen in the committing thread), and once at the end. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "feeds.h"

const char uvf_cli_db_schema[] =
    "CREATE TABLE IF NOT EXISTS runs("
    " id INTEGER PRIMARY KEY, started INTEGER NOT NULL, finished INTEGER,"
    " command TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS records("
    " run INTEGER NOT NULL, idx INTEGER NOT NULL, url TEXT NOT NULL,"
    " ok INTEGER NOT NULL, status INTEGER NOT NULL, outcome TEXT NOT NULL,"
    " bytes INTEGER NOT NULL, attempts INTEGER NOT NULL,"
    " time_us INTEGER NOT NULL, record TEXT NOT NULL, body BLOB,"
    " PRIMARY KEY(run, idx));"
    "CREATE TABLE IF NOT EXISTS validators("
    " url TEXT PRIMARY KEY, etag TEXT, last_modified TEXT,"
    " updated INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS feeds("
    " id INTEGER PRIMARY KEY, url TEXT NOT NULL UNIQUE, title TEXT,"
    " added INTEGER NOT NULL, next_check INTEGER NOT NULL DEFAULT 0,"
    " last_check INTEGER, last_status INTEGER, last_error TEXT,"
    " errors INTEGER NOT NULL DEFAULT 0, gone INTEGER NOT NULL DEFAULT 0,"
    " etag TEXT, last_modified TEXT);"
    "CREATE TABLE IF NOT EXISTS items("
    " id INTEGER PRIMARY KEY, feed INTEGER NOT NULL REFERENCES feeds(id),"
    " uid TEXT NOT NULL, title TEXT, link TEXT, summary TEXT, author TEXT,"
    " published INTEGER, updated INTEGER, hash INTEGER NOT NULL,"
    " first_seen INTEGER NOT NULL, changed INTEGER NOT NULL,"
    " UNIQUE(feed, uid));"
    "CREATE INDEX IF NOT EXISTS items_changed ON items(changed);"
    "CREATE INDEX IF NOT EXISTS feeds_due ON feeds(next_check);";

/* Opcodes of the encoded groups. */
enum {
  OP_STMT = 'S',
  OP_INT = 'i',
  OP_TEXT = 't',
  OP_BLOB = 'b',
  OP_NULL = 'n',
  OP_END = 'E'
};

#define MAX_STMTS 16
#define LAT_BUCKETS 400 /* log-spaced by 5%: 1 us to ~ 300 s */

struct uvf_cli_db {
  char *path;
  const char *const *sql;
  size_t n_sql;
  uv_async_t async;
  pthread_t thread;
  int thread_started;
  uvf_cli_db_news_fn news;
  void *ud;
  /* loop side */
  uvf_cli_buf batch;
  size_t group_at; /* where the open group began in batch */
  int read_ref;    /* the async is ref'd for a read */
  int finish_ref;  /* ...and for the end */
  uint64_t groups; /* ended */
  uint64_t handed; /* bytes handed to the thread */
  /* shared, under mu */
  pthread_mutex_t mu;
  pthread_cond_t cond;
  uvf_cli_buf queue;
  int finishing, finished, ready;
  int err;
  char errmsg[512];
  size_t notify_below;
  int read_wanted, read_done;
  unsigned read_stmt;
  int64_t read_args[4];
  size_t read_n, read_max;
  char **rows; /* read_rows * read_cols strings */
  size_t read_rows, read_cols;
  uint64_t changes[MAX_STMTS];
  uint64_t lat[LAT_BUCKETS];
  uint64_t n_lat;
  _Atomic uint64_t committed;       /* groups */
  _Atomic uint64_t commits;         /* transactions */
  _Atomic uint64_t committed_bytes; /* of the encoded groups */
  /* thread side */
  sqlite3 *db;
  sqlite3_stmt *stmts[MAX_STMTS];
  uvf_cli_buf work;
  uint64_t txn_groups, txn_bytes, txn_start_ms;
  uint64_t txn_changes[MAX_STMTS];
  uint64_t *txn_ends; /* end times (ns) of the groups of the transaction */
  size_t cap_ends;
  int in_txn;
};

static uint64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the thread ---- */

/* Keeps the first failure and tells the loop; the lock is not held. */
static void failed(uvf_cli_db *d, int rc, const char *what) {
  pthread_mutex_lock(&d->mu);
  if (d->err == 0) {
    d->err = rc == SQLITE_FULL ? -ENOSPC : rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
    /* what may be a whole statement (the schema): its start says which */
    snprintf(d->errmsg, sizeof(d->errmsg), "%.200s: %s", what,
             d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
  }
  pthread_mutex_unlock(&d->mu);
  uv_async_send(&d->async);
}

static int has_failed(uvf_cli_db *d) {
  int e;

  pthread_mutex_lock(&d->mu);
  e = d->err;
  pthread_mutex_unlock(&d->mu);
  return e != 0;
}

static int exec(uvf_cli_db *d, const char *sql) {
  int rc = sqlite3_exec(d->db, sql, NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    failed(d, rc, sql);
  return rc == SQLITE_OK ? 0 : -1;
}

static int open_db(uvf_cli_db *d) {
  size_t i;
  int rc = sqlite3_open_v2(
      d->path, &d->db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);

  if (rc != SQLITE_OK) {
    failed(d, rc, d->path);
    return -1;
  }
  /* Another process on the same file (a second run) waits its turn. */
  sqlite3_busy_timeout(d->db, 10000);
  if (exec(d, "PRAGMA journal_mode=WAL") ||
      exec(d, "PRAGMA synchronous=NORMAL") ||
      exec(d, "PRAGMA foreign_keys=ON") || exec(d, uvf_cli_db_schema))
    return -1;
  for (i = 0; i < d->n_sql; i++) {
    rc = sqlite3_prepare_v3(d->db, d->sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                            &d->stmts[i], NULL);
    if (rc != SQLITE_OK) {
      failed(d, rc, d->sql[i]);
      return -1;
    }
  }
  return 0;
}

static void note_latency(uvf_cli_db *d, uint64_t us) {
  size_t b = us <= 1 ? 0 : (size_t)(log((double)us) / log(1.05));

  d->lat[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1]++;
  d->n_lat++;
}

static void commit(uvf_cli_db *d) {
  uint64_t t;
  size_t i;

  if (!d->in_txn)
    return;
  d->in_txn = 0;
  if (exec(d, "COMMIT") != 0)
    return;
  t = now_ns();
  pthread_mutex_lock(&d->mu);
  for (i = 0; i < d->txn_groups; i++)
    note_latency(d, (t - d->txn_ends[i]) / 1000);
  for (i = 0; i < MAX_STMTS; i++)
    d->changes[i] += d->txn_changes[i];
  pthread_mutex_unlock(&d->mu);
  memset(d->txn_changes, 0, sizeof(d->txn_changes));
  atomic_fetch_add(&d->committed_bytes, d->txn_bytes);
  atomic_fetch_add(&d->committed, d->txn_groups);
  atomic_fetch_add(&d->commits, 1);
  d->txn_groups = d->txn_bytes = 0;
  uv_async_send(&d->async);
}

static uint32_t get32(const char *p) {
  uint32_t v;

  memcpy(&v, p, 4);
  return v;
}

/* Steps a bound statement. */
static int step(uvf_cli_db *d, sqlite3_stmt *st, unsigned idx) {
  int rc = sqlite3_step(st);

  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    failed(d, rc, sqlite3_sql(st));
    return -1;
  }
  d->txn_changes[idx] += (uint64_t)sqlite3_changes(d->db);
  return 0;
}

/* Binds one value at *pp to st's parameter n; returns 0 or -1. */
static int bind_value(sqlite3_stmt *st, int n, const char **pp) {
  const char *p = *pp;
  int64_t v;
  uint32_t len;
  int rc;

  switch (*p++) {
  case OP_INT:
    memcpy(&v, p, 8);
    p += 8;
    rc = sqlite3_bind_int64(st, n, v);
    break;
  case OP_TEXT:
  case OP_BLOB:
    len = get32(p);
    p += 4;
    rc = p[-5] == OP_TEXT
             ? sqlite3_bind_text(st, n, p, (int)len, SQLITE_STATIC)
             : sqlite3_bind_blob(st, n, p, (int)len, SQLITE_STATIC);
    p += len;
    break;
  default: rc = sqlite3_bind_null(st, n); break;
  }
  *pp = p;
  return rc == SQLITE_OK ? 0 : -1;
}

/* Runs one group at *pp, up to its OP_END. Returns 0 or -1. */
static int run_group(uvf_cli_db *d, const char **pp, uint64_t *ended) {
  const char *p = *pp;
  sqlite3_stmt *st = NULL;
  unsigned idx = 0;
  int n = 0;

  for (;;) {
    char op = *p;

    if ((op == OP_STMT || op == OP_END) && st && step(d, st, idx) != 0)
      return -1;
    if (op == OP_END) {
      memcpy(ended, p + 1, 8);
      *pp = p + 9;
      return 0;
    }
    if (op == OP_STMT) {
      idx = get32(p + 1);
      st = idx < d->n_sql ? d->stmts[idx] : NULL;
      n = 0;
      p += 5;
      continue;
    }
    if (!st || bind_value(st, ++n, &p) != 0) {
      failed(d, SQLITE_MISUSE, "bind");
      return -1;
    }
  }
}

static void run_work(uvf_cli_db *d) {
  const char *p = d->work.data, *end = p + d->work.len;

  while (p < end && !has_failed(d)) {
    const char *start = p;
    uint64_t ended = 0;
    void *grown;

    if (!d->in_txn) {
      if (exec(d, "BEGIN") != 0)
        return;
      d->in_txn = 1;
      d->txn_start_ms = now_ms();
    }
    if (run_group(d, &p, &ended) != 0)
      return;
    grown = uvf_cli_grow(d->txn_ends, d->txn_groups, &d->cap_ends,
                         sizeof(uint64_t), UVF_CLI_DB_BATCH_ROWS);
    if (grown) {
      d->txn_ends = grown;
      d->txn_ends[d->txn_groups] = ended;
    }
    d->txn_groups += grown != NULL;
    d->txn_bytes += (uint64_t)(p - start);
    if (d->txn_groups >= UVF_CLI_DB_BATCH_ROWS)
      commit(d);
  }
}

static void free_rows(uvf_cli_db *d) {
  size_t i;

  for (i = 0; i < d->read_rows * d->read_cols; i++)
    free(d->rows[i]);
  free(d->rows);
  d->rows = NULL;
  d->read_rows = d->read_cols = 0;
}

/* A read, on the thread: its rows as strings. The lock is not held. */
static void run_read(uvf_cli_db *d) {
  sqlite3_stmt *st = d->stmts[d->read_stmt];
  size_t i, cols = (size_t)sqlite3_column_count(st), n = 0, cap = 0;
  char **rows = NULL;
  int rc;

  for (i = 0; i < d->read_n; i++)
    sqlite3_bind_int64(st, (int)i + 1, d->read_args[i]);
  while (n < d->read_max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
    void *grown = uvf_cli_grow(rows, n * cols, &cap, sizeof(char *) * cols, 64);

    if (!grown)
      break;
    rows = grown;
    for (i = 0; i < cols; i++) {
      const unsigned char *t = sqlite3_column_text(st, (int)i);
      rows[n * cols + i] = t ? strdup((const char *)t) : NULL;
    }
    n++;
  }
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  pthread_mutex_lock(&d->mu);
  d->rows = rows;
  d->read_rows = n;
  d->read_cols = cols;
  d->read_done = 1;
  pthread_mutex_unlock(&d->mu);
  uv_async_send(&d->async);
}

/* Waits, the lock held, for work, a read, the end, or the commit due. */
static void wait_for_work(uvf_cli_db *d) {
  uint64_t due, now;

  while (d->queue.len == 0 && !d->finishing && !d->read_wanted) {
    if (!d->in_txn) {
      pthread_cond_wait(&d->cond, &d->mu);
      continue;
    }
    due = d->txn_start_ms + UVF_CLI_DB_BATCH_MS;
    if ((now = now_ms()) >= due)
      return;
    uvf_cli_cond_wait_ms(&d->cond, &d->mu, due - now);
  }
}

static void swap(uvf_cli_buf *a, uvf_cli_buf *b) {
  uvf_cli_buf t = *a;

  *a = *b;
  *b = t;
}

static void serve(uvf_cli_db *d) {
  int read, last;

  pthread_mutex_lock(&d->mu);
  for (;;) {
    wait_for_work(d);
    swap(&d->queue, &d->work);
    read = d->read_wanted && !d->read_done;
    d->read_wanted = 0;
    last = d->finishing && d->queue.len == 0 && d->work.len == 0;
    pthread_mutex_unlock(&d->mu);
    if (d->work.len > 0)
      run_work(d);
    uvf_cli_buf_reset(&d->work);
    if (read)
      run_read(d);
    if (d->in_txn &&
        (last || now_ms() >= d->txn_start_ms + UVF_CLI_DB_BATCH_MS))
      commit(d);
    pthread_mutex_lock(&d->mu);
    if (d->notify_below > 0 &&
        d->handed - atomic_load(&d->committed_bytes) <= d->notify_below) {
      d->notify_below = 0;
      uv_async_send(&d->async);
    }
    if (last)
      break;
  }
  pthread_mutex_unlock(&d->mu);
}

static void close_db(uvf_cli_db *d) {
  size_t i;

  if (d->in_txn)
    exec(d, "ROLLBACK");
  for (i = 0; i < MAX_STMTS; i++)
    sqlite3_finalize(d->stmts[i]);
  if (d->db) {
    /* Folds the WAL into the database here, not in a later reader. */
    sqlite3_wal_checkpoint_v2(d->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                              NULL);
    sqlite3_close(d->db);
  }
  d->db = NULL;
}

static void *run(void *arg) {
  uvf_cli_db *d = arg;
  int ok = open_db(d) == 0;

  pthread_mutex_lock(&d->mu);
  d->ready = 1;
  pthread_cond_broadcast(&d->cond);
  pthread_mutex_unlock(&d->mu);
  if (ok)
    serve(d);
  close_db(d);
  pthread_mutex_lock(&d->mu);
  d->finished = 1;
  pthread_mutex_unlock(&d->mu);
  uv_async_send(&d->async);
  return NULL;
}

/* ---- the loop ---- */

static void on_async(uv_async_t *h) {
  uvf_cli_db *d = h->data;

  d->news(d->ud);
}

static int start_thread(uvf_cli_db *d) {
  int rc = uvf_cli_thread_start(&d->thread, run, d, 0);

  d->thread_started = rc == 0;
  return rc;
}

int uvf_cli_db_open(uvf_cli_db **out, uv_loop_t *loop, const char *path,
                    const char *const *sql, size_t n, uvf_cli_db_news_fn news,
                    void *ud) {
  uvf_cli_db *d = calloc(1, sizeof(*d));
  int rc;

  if (!d || n > MAX_STMTS || !(d->path = strdup(path))) {
    free(d);
    uvf_cli_error("cannot open the database %s: %s", path, strerror(ENOMEM));
    return -ENOMEM;
  }
  d->sql = sql;
  d->n_sql = n;
  d->news = news;
  d->ud = ud;
  atomic_init(&d->committed, 0);
  atomic_init(&d->commits, 0);
  atomic_init(&d->committed_bytes, 0);
  pthread_mutex_init(&d->mu, NULL);
  pthread_cond_init(&d->cond, NULL);
  if ((rc = uv_async_init(loop, &d->async, on_async)) != 0) {
    pthread_cond_destroy(&d->cond);
    pthread_mutex_destroy(&d->mu);
    free(d->path);
    free(d);
    uvf_cli_error("cannot open the database %s: %s", path, uv_strerror(rc));
    return rc;
  }
  d->async.data = d;
  uv_unref((uv_handle_t *)&d->async);
  if ((rc = start_thread(d)) != 0) {
    uvf_cli_error("cannot start the database thread: %s", strerror(-rc));
    uvf_cli_db_close(d);
    return rc;
  }
  /* The schema and the statements are the thread's first work: wait for
   * them, so that a database that cannot be opened stops the run before
   * it starts. */
  pthread_mutex_lock(&d->mu);
  while (!d->ready)
    pthread_cond_wait(&d->cond, &d->mu);
  rc = d->err;
  pthread_mutex_unlock(&d->mu);
  if (rc != 0) {
    uvf_cli_error("cannot open the database %s", d->errmsg);
    uvf_cli_db_close(d);
    return rc;
  }
  *out = d;
  return 0;
}

static void put(uvf_cli_db *d, char op, const void *p, size_t len) {
  uvf_cli_buf_add(&d->batch, &op, 1);
  if (len > 0)
    uvf_cli_buf_add(&d->batch, p, len);
}

static void put_len(uvf_cli_db *d, char op, const void *p, size_t len) {
  uint32_t n = len > INT32_MAX ? INT32_MAX : (uint32_t)len;

  put(d, op, &n, 4);
  uvf_cli_buf_add(&d->batch, p, n);
}

void uvf_cli_db_begin(uvf_cli_db *d) { d->group_at = d->batch.len; }

void uvf_cli_db_stmt(uvf_cli_db *d, unsigned stmt) {
  uint32_t v = stmt;

  put(d, OP_STMT, &v, 4);
}

void uvf_cli_db_int(uvf_cli_db *d, int64_t v) { put(d, OP_INT, &v, 8); }

void uvf_cli_db_text(uvf_cli_db *d, const char *s) {
  if (s)
    put_len(d, OP_TEXT, s, strlen(s));
  else
    put(d, OP_NULL, NULL, 0);
}

void uvf_cli_db_textn(uvf_cli_db *d, const char *s, size_t len) {
  put_len(d, OP_TEXT, s, len);
}

void uvf_cli_db_blob(uvf_cli_db *d, const void *p, size_t len) {
  put_len(d, OP_BLOB, p ? p : "", len);
}

void uvf_cli_db_null(uvf_cli_db *d) { put(d, OP_NULL, NULL, 0); }

void uvf_cli_db_end(uvf_cli_db *d) {
  uint64_t t = now_ns();

  put(d, OP_END, &t, 8);
  d->groups++;
}

void uvf_cli_db_flush(uvf_cli_db *d) {
  int oom = d->batch.oom;

  if (d->batch.len == 0 && !oom)
    return;
  pthread_mutex_lock(&d->mu);
  d->handed += d->batch.len;
  if (oom && d->err == 0) {
    d->err = -ENOMEM;
    snprintf(d->errmsg, sizeof(d->errmsg), "out of memory");
  }
  if (d->queue.len == 0 && !d->queue.oom) {
    swap(&d->queue, &d->batch);
  } else {
    uvf_cli_buf_add(&d->queue, d->batch.data, d->batch.len);
    if (d->queue.oom && d->err == 0)
      d->err = -ENOMEM;
  }
  pthread_cond_signal(&d->cond);
  pthread_mutex_unlock(&d->mu);
  uvf_cli_buf_reset(&d->batch);
  d->batch.oom = 0;
  if (oom)
    uv_async_send(&d->async);
}

uint64_t uvf_cli_db_groups(const uvf_cli_db *d) { return d->groups; }

uint64_t uvf_cli_db_committed(const uvf_cli_db *d) {
  return atomic_load(&d->committed);
}

uint64_t uvf_cli_db_commits(const uvf_cli_db *d) {
  return atomic_load(&d->commits);
}

size_t uvf_cli_db_pending(const uvf_cli_db *d) {
  return d->batch.len + (size_t)(d->handed - atomic_load(&d->committed_bytes));
}

void uvf_cli_db_notify_below(uvf_cli_db *d, size_t mark) {
  pthread_mutex_lock(&d->mu);
  if (d->handed - atomic_load(&d->committed_bytes) <= mark)
    uv_async_send(&d->async);
  else
    d->notify_below = mark > 0 ? mark : 1;
  pthread_mutex_unlock(&d->mu);
}

uint64_t uvf_cli_db_changes(const uvf_cli_db *d, unsigned stmt) {
  uvf_cli_db *m = (uvf_cli_db *)d;
  uint64_t v;

  if (stmt >= MAX_STMTS)
    return 0;
  pthread_mutex_lock(&m->mu);
  v = d->changes[stmt];
  pthread_mutex_unlock(&m->mu);
  return v;
}

uint64_t uvf_cli_db_latency_us(const uvf_cli_db *d, double p) {
  uvf_cli_db *m = (uvf_cli_db *)d;
  uint64_t want, seen = 0, us = 0;
  size_t b;

  pthread_mutex_lock(&m->mu);
  want = (uint64_t)ceil((double)d->n_lat * p / 100.0);
  for (b = 0; b < LAT_BUCKETS && d->n_lat > 0; b++) {
    seen += d->lat[b];
    if (seen >= want && seen > 0) {
      us = (uint64_t)pow(1.05, (double)(b + 1));
      break;
    }
  }
  pthread_mutex_unlock(&m->mu);
  return us;
}

int uvf_cli_db_read(uvf_cli_db *d, unsigned stmt, const int64_t *args, size_t n,
                    size_t max_rows) {
  size_t i;

  if (stmt >= d->n_sql || n > 4)
    return -EINVAL;
  pthread_mutex_lock(&d->mu);
  if (d->read_wanted) {
    pthread_mutex_unlock(&d->mu);
    return -EBUSY;
  }
  free_rows(d);
  d->read_stmt = stmt;
  for (i = 0; i < n; i++)
    d->read_args[i] = args[i];
  d->read_n = n;
  d->read_max = max_rows;
  d->read_done = 0;
  d->read_wanted = 1;
  pthread_cond_signal(&d->cond);
  pthread_mutex_unlock(&d->mu);
  /* A loop that waits for the rows alone must not end meanwhile. */
  uv_ref((uv_handle_t *)&d->async);
  d->read_ref = 1;
  return 0;
}

int uvf_cli_db_rows(uvf_cli_db *d, char ***rows, size_t *n_rows, size_t *cols) {
  int done;

  pthread_mutex_lock(&d->mu);
  done = d->read_done;
  if (done) {
    *rows = d->rows;
    *n_rows = d->read_rows;
    *cols = d->read_cols;
  }
  pthread_mutex_unlock(&d->mu);
  if (done && d->read_ref && !d->finish_ref)
    uv_unref((uv_handle_t *)&d->async);
  d->read_ref = d->read_ref && !done;
  return done;
}

int uvf_cli_db_error(uvf_cli_db *d, const char **msg) {
  int e;

  pthread_mutex_lock(&d->mu);
  e = d->err;
  pthread_mutex_unlock(&d->mu);
  if (msg)
    *msg = d->errmsg;
  return e;
}

void uvf_cli_db_finish(uvf_cli_db *d) {
  uvf_cli_db_flush(d);
  pthread_mutex_lock(&d->mu);
  d->finishing = 1;
  pthread_cond_signal(&d->cond);
  pthread_mutex_unlock(&d->mu);
  uv_ref((uv_handle_t *)&d->async); /* the loop runs until the thread ends */
  d->finish_ref = 1;
}

int uvf_cli_db_finished(uvf_cli_db *d) {
  int f;

  pthread_mutex_lock(&d->mu);
  f = d->finished;
  pthread_mutex_unlock(&d->mu);
  return f;
}

static void on_closed(uv_handle_t *h) {
  uvf_cli_db *d = h->data;

  free_rows(d);
  pthread_cond_destroy(&d->cond);
  pthread_mutex_destroy(&d->mu);
  uvf_cli_buf_free(&d->batch);
  uvf_cli_buf_free(&d->queue);
  uvf_cli_buf_free(&d->work);
  free(d->txn_ends);
  free(d->path);
  free(d);
}

int uvf_cli_db_close(uvf_cli_db *d) {
  int err;

  if (!d)
    return 0;
  if (d->thread_started) {
    pthread_mutex_lock(&d->mu);
    d->finishing = 1;
    pthread_cond_signal(&d->cond);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->thread, NULL);
    d->thread_started = 0;
  }
  err = d->err;
  uv_close((uv_handle_t *)&d->async, on_closed);
  return err;
}
