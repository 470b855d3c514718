/* The collector of S2 as it is usually built, "one worker, many runners":
 * W fetch threads, each with a blocking libcurl easy handle, hand each
 * feed's raw document through a bounded queue to one writer thread that
 * parses it and writes its items. The same parser (src/cli/feedparse.c),
 * the same schema and statements and the same batching (100 feeds or
 * 50 ms a transaction) as `uvfetch feeds run`: only the concurrency model
 * differs.
 *
 *   bench-feeds-threads -w W --db FILE
 *
 * fetches every feed of FILE (made by `uvfetch feeds add`) and prints
 * "feeds=N ok=K items=I commit_p99_ms=X". */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sqlite3.h>

#include "feeds.h"

#define QUEUE_CAP 64 /* documents waiting for the writer */
#define BATCH 100
#define BATCH_MS 50
#define MAX_BODY ((size_t)8 << 20)

typedef struct doc {
  int64_t id;
  long status;
  char *body;
  size_t len;
  uint64_t queued_ns; /* when the runner handed it over */
} doc;

/* The bounded queue: runners wait while it is full. */
typedef struct queue {
  pthread_mutex_t mu;
  pthread_cond_t not_full, not_empty;
  doc items[QUEUE_CAP];
  size_t head, n;
  int runners_left;
} queue;

typedef struct feeds {
  int64_t *id;
  char **url;
  size_t n, next;
  pthread_mutex_t mu;
} feeds;

static queue q;
static feeds fl;

static uint64_t now_ns(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put(const doc *d) {
  pthread_mutex_lock(&q.mu);
  while (q.n == QUEUE_CAP)
    pthread_cond_wait(&q.not_full, &q.mu);
  q.items[(q.head + q.n++) % QUEUE_CAP] = *d;
  pthread_cond_signal(&q.not_empty);
  pthread_mutex_unlock(&q.mu);
}

/* 1 with a document, 0 once every runner is done and the queue empty;
 * waits at most until `until_ns` (0: for good) and returns -1 then. */
static int take(doc *d, uint64_t until_ns) {
  struct timespec ts;
  int rc = 1;

  pthread_mutex_lock(&q.mu);
  while (q.n == 0 && q.runners_left > 0 && rc == 1) {
    if (!until_ns) {
      pthread_cond_wait(&q.not_empty, &q.mu);
      continue;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    {
      uint64_t now = now_ns(), left = until_ns > now ? until_ns - now : 0;
      uint64_t t =
          (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec + left;

      ts.tv_sec = (time_t)(t / 1000000000u);
      ts.tv_nsec = (long)(t % 1000000000u);
    }
    if (pthread_cond_timedwait(&q.not_empty, &q.mu, &ts) == ETIMEDOUT)
      rc = -1;
  }
  if (q.n > 0) {
    *d = q.items[q.head];
    q.head = (q.head + 1) % QUEUE_CAP;
    q.n--;
    pthread_cond_signal(&q.not_full);
    rc = 1;
  } else if (rc == 1) {
    rc = 0;
  }
  pthread_mutex_unlock(&q.mu);
  return rc;
}

/* ---- the runners ---- */

typedef struct body {
  char *p;
  size_t len, cap;
} body;

static size_t on_data(char *p, size_t size, size_t n, void *ud) {
  body *b = ud;
  size_t len = size * n;

  if (b->len + len > MAX_BODY)
    return 0;
  if (b->len + len + 1 > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 16384;
    char *grown;

    while (cap < b->len + len + 1)
      cap *= 2;
    if (!(grown = realloc(b->p, cap)))
      return 0;
    b->p = grown;
    b->cap = cap;
  }
  memcpy(b->p + b->len, p, len);
  b->len += len;
  return len;
}

static void *runner(void *arg) {
  CURL *e = curl_easy_init();
  size_t i;

  (void)arg;
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
  for (;;) {
    body b = {0};
    doc d;

    pthread_mutex_lock(&fl.mu);
    i = fl.next < fl.n ? fl.next++ : SIZE_MAX;
    pthread_mutex_unlock(&fl.mu);
    if (i == SIZE_MAX)
      break;
    curl_easy_setopt(e, CURLOPT_URL, fl.url[i]);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    memset(&d, 0, sizeof(d));
    d.id = fl.id[i];
    if (curl_easy_perform(e) == CURLE_OK)
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &d.status);
    d.body = b.p;
    d.len = b.len;
    d.queued_ns = now_ns();
    put(&d);
  }
  curl_easy_cleanup(e);
  pthread_mutex_lock(&q.mu);
  q.runners_left--;
  pthread_cond_broadcast(&q.not_empty);
  pthread_mutex_unlock(&q.mu);
  return NULL;
}

/* ---- the writer ---- */

typedef struct writer {
  sqlite3 *db;
  sqlite3_stmt *item, *feed;
  int in_txn;
  uint64_t txn_start_ns;
  uint64_t pending[BATCH]; /* queued_ns of the feeds of the transaction */
  size_t n_pending;
  uint64_t *lat_us;
  size_t n_lat, cap_lat;
  uint64_t feeds, ok, items;
} writer;

static void die_sql(writer *w, const char *what) {
  fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(w->db));
  exit(1);
}

static void commit(writer *w) {
  uint64_t t;
  size_t i;

  if (!w->in_txn)
    return;
  if (sqlite3_exec(w->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
    die_sql(w, "COMMIT");
  w->in_txn = 0;
  t = now_ns();
  for (i = 0; i < w->n_pending; i++) {
    if (w->n_lat == w->cap_lat) {
      w->cap_lat = w->cap_lat ? 2 * w->cap_lat : 1024;
      w->lat_us = realloc(w->lat_us, w->cap_lat * sizeof(uint64_t));
      if (!w->lat_us)
        exit(1);
    }
    w->lat_us[w->n_lat++] = (t - w->pending[i]) / 1000;
  }
  w->n_pending = 0;
}

static void step(writer *w, sqlite3_stmt *st) {
  if (sqlite3_step(st) != SQLITE_DONE)
    die_sql(w, "step");
  sqlite3_reset(st);
}

static void store(writer *w, const doc *d) {
  uvf_cli_feedparser *p = NULL;
  int64_t now = (int64_t)time(NULL);
  size_t i, n;

  w->feeds++;
  if (d->status != 200 || uvf_cli_feedparser_new(&p, NULL) != 0 ||
      uvf_cli_feedparser_push(p, d->body ? d->body : "", d->len) != 0 ||
      uvf_cli_feedparser_end(p) != 0) {
    uvf_cli_feedparser_free(p);
    return;
  }
  if (!w->in_txn) {
    if (sqlite3_exec(w->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
      die_sql(w, "BEGIN");
    w->in_txn = 1;
    w->txn_start_ns = now_ns();
  }
  n = uvf_cli_feedparser_count(p);
  for (i = 0; i < n; i++) {
    const uvf_cli_feed_item *it = uvf_cli_feedparser_item(p, i);

    sqlite3_bind_int64(w->item, 1, d->id);
    sqlite3_bind_text(w->item, 2, it->uid, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->item, 3, it->title, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->item, 4, it->link, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->item, 5, it->summary, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->item, 6, it->author, -1, SQLITE_STATIC);
    sqlite3_bind_int64(w->item, 7, it->published);
    sqlite3_bind_int64(w->item, 8, it->updated);
    sqlite3_bind_int64(w->item, 9, (int64_t)it->hash);
    sqlite3_bind_int64(w->item, 10, now);
    step(w, w->item);
  }
  sqlite3_bind_text(w->feed, 1, uvf_cli_feedparser_title(p), -1, SQLITE_STATIC);
  sqlite3_bind_int64(w->feed, 2, now);
  sqlite3_bind_int64(w->feed, 3, d->status);
  sqlite3_bind_int64(w->feed, 4, now + 3600);
  sqlite3_bind_int64(w->feed, 5, d->id);
  step(w, w->feed);
  w->ok++;
  w->items += n;
  w->pending[w->n_pending++] = d->queued_ns;
  uvf_cli_feedparser_free(p);
  if (w->n_pending >= BATCH)
    commit(w);
}

static void writer_open(writer *w, const char *path) {
  memset(w, 0, sizeof(*w));
  if (sqlite3_open(path, &w->db) != SQLITE_OK ||
      sqlite3_exec(w->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                   NULL, NULL, NULL) != SQLITE_OK)
    die_sql(w, path);
  if (sqlite3_prepare_v2(
          w->db,
          "INSERT INTO items(feed, uid, title, link, summary, author,"
          " published, updated, hash, first_seen, changed)"
          " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)"
          " ON CONFLICT(feed, uid) DO UPDATE SET title = excluded.title,"
          " link = excluded.link, summary = excluded.summary,"
          " author = excluded.author, published = excluded.published,"
          " updated = excluded.updated, hash = excluded.hash,"
          " changed = excluded.changed WHERE hash != excluded.hash",
          -1, &w->item, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(w->db,
                         "UPDATE feeds SET title = coalesce(?1, title),"
                         " last_check = ?2, last_status = ?3, errors = 0,"
                         " next_check = ?4 WHERE id = ?5",
                         -1, &w->feed, NULL) != SQLITE_OK)
    die_sql(w, "prepare");
}

static void load_feeds(writer *w) {
  sqlite3_stmt *st;
  size_t cap = 0;

  if (sqlite3_prepare_v2(w->db, "SELECT id, url FROM feeds WHERE gone = 0", -1,
                         &st, NULL) != SQLITE_OK)
    die_sql(w, "select");
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (fl.n == cap) {
      cap = cap ? 2 * cap : 1024;
      fl.id = realloc(fl.id, cap * sizeof(*fl.id));
      fl.url = realloc(fl.url, cap * sizeof(*fl.url));
      if (!fl.id || !fl.url)
        exit(1);
    }
    fl.id[fl.n] = sqlite3_column_int64(st, 0);
    fl.url[fl.n++] = strdup((const char *)sqlite3_column_text(st, 1));
  }
  sqlite3_finalize(st);
}

static void *write_all(void *arg) {
  writer *w = arg;
  doc d;
  int rc;

  for (;;) {
    rc = take(&d, w->in_txn ? w->txn_start_ns + BATCH_MS * 1000000u : 0);
    if (rc == 1) {
      store(w, &d);
      free(d.body);
    }
    if (rc != 1 ||
        (w->in_txn && now_ns() >= w->txn_start_ns + BATCH_MS * 1000000u))
      commit(w);
    if (rc == 0)
      break;
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {{"db", required_argument, NULL, 'd'},
                                       {NULL, 0, NULL, 0}};
  const char *path = NULL;
  unsigned w = 50, started = 0, i;
  pthread_t *tid, wt;
  writer wr;
  int c;

  while ((c = getopt_long(argc, argv, "w:", opts, NULL)) != -1) {
    if (c == 'w')
      w = (unsigned)strtoul(optarg, NULL, 10);
    else if (c == 'd')
      path = optarg;
    else
      return 2;
  }
  if (!path || w == 0) {
    fprintf(stderr, "usage: bench-feeds-threads -w W --db FILE\n");
    return 2;
  }
  curl_global_init(CURL_GLOBAL_ALL);
  writer_open(&wr, path);
  load_feeds(&wr);
  pthread_mutex_init(&fl.mu, NULL);
  pthread_mutex_init(&q.mu, NULL);
  pthread_cond_init(&q.not_full, NULL);
  pthread_cond_init(&q.not_empty, NULL);
  q.runners_left = (int)w;
  tid = calloc(w, sizeof(*tid));
  pthread_create(&wt, NULL, write_all, &wr);
  for (i = 0; i < w; i++)
    started += pthread_create(&tid[i], NULL, runner, NULL) == 0;
  if (started < w) { /* those not started are not waited for */
    pthread_mutex_lock(&q.mu);
    q.runners_left -= (int)(w - started);
    pthread_cond_broadcast(&q.not_empty);
    pthread_mutex_unlock(&q.mu);
  }
  for (i = 0; i < w; i++)
    if (i < started)
      pthread_join(tid[i], NULL);
  pthread_join(wt, NULL);
  qsort(wr.lat_us, wr.n_lat, sizeof(uint64_t), cmp_u64);
  printf(
      "feeds=%" PRIu64 " ok=%" PRIu64 " items=%" PRIu64 " commit_p99_ms=%.1f\n",
      wr.feeds, wr.ok, wr.items,
      wr.n_lat
          ? (double)wr.lat_us[(size_t)ceil(0.99 * (double)wr.n_lat) - 1] / 1000
          : 0.0);
  sqlite3_finalize(wr.item);
  sqlite3_finalize(wr.feed);
  sqlite3_close(wr.db);
  return wr.ok == wr.feeds ? 0 : 1;
}
