/* The database thread (src/cli/db.c): groups committed whole, in
 * transactions of 100 groups or 50 ms, reads through the thread, a
 * backlog that the loop can watch, failures told to the loop. */
#include <sqlite3.h>
#include <time.h>
#include <unistd.h>

#include "feeds.h"
#include "harness.h"

static const char *const sql[] = {
    "INSERT INTO feeds(url, added) VALUES(?1, ?2)",
    "SELECT id, url FROM feeds WHERE id > ?1 ORDER BY id LIMIT ?2",
    "INSERT INTO feeds(url, added) VALUES(?1, NULL)", /* fails: NOT NULL */
};

typedef struct ctx {
  uv_loop_t loop;
  uvf_cli_db *db;
  int news;
  uint64_t want; /* stop the loop once this many groups are committed */
  int want_rows;
  uint64_t t_committed; /* ns */
} ctx;

static void on_news(void *ud) {
  ctx *x = ud;
  char **rows;
  size_t n, cols;

  x->news++;
  if (x->want && uvf_cli_db_committed(x->db) >= x->want) {
    x->t_committed = uv_hrtime();
    uv_stop(&x->loop);
  }
  if (x->want_rows && uvf_cli_db_rows(x->db, &rows, &n, &cols))
    uv_stop(&x->loop);
  if (uvf_cli_db_error(x->db, NULL) != 0)
    uv_stop(&x->loop);
}

static char path[256];

static void open_ctx(ctx *x) {
  memset(x, 0, sizeof(*x));
  snprintf(path, sizeof(path), "/tmp/uvf-test-db-%d.sqlite", (int)getpid());
  unlink(path);
  ASSERT_EQ(uv_loop_init(&x->loop), 0);
  ASSERT_EQ(uvf_cli_db_open(&x->db, &x->loop, path, sql, 3, on_news, x), 0);
}

static void close_ctx(ctx *x) {
  char wal[300];

  uvf_cli_db_close(x->db);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&x->loop), 0);
  unlink(path);
  snprintf(wal, sizeof(wal), "%s-wal", path);
  unlink(wal);
  snprintf(wal, sizeof(wal), "%s-shm", path);
  unlink(wal);
}

static void add_group(ctx *x, int i) {
  char url[64];

  snprintf(url, sizeof(url), "http://h/%d", i);
  uvf_cli_db_begin(x->db);
  uvf_cli_db_stmt(x->db, 0);
  uvf_cli_db_text(x->db, url);
  uvf_cli_db_int(x->db, i);
  uvf_cli_db_end(x->db);
}

/* Runs the loop, the thread's news reaching it, until on_news stops it
 * (or 10 s). */
static void run_until(ctx *x) {
  uv_timer_t t;

  uv_timer_init(&x->loop, &t);
  uv_timer_start(&t, (uv_timer_cb)uv_stop, 10000, 0);
  uv_ref((uv_handle_t *)&t);
  uv_run(&x->loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&x->loop, UV_RUN_NOWAIT);
}

static int64_t count_rows(void) {
  sqlite3 *db;
  sqlite3_stmt *st;
  int64_t n;

  ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM feeds", -1, &st, NULL),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

/* 201 groups handed at once: transactions of 100, 100 and 1. */
TEST_IMPL(db_commits_every_hundred_groups) {
  ctx x;
  int i;

  open_ctx(&x);
  for (i = 0; i < 201; i++)
    add_group(&x, i);
  uvf_cli_db_flush(x.db);
  x.want = 201;
  run_until(&x);
  ASSERT_EQ(uvf_cli_db_committed(x.db), 201);
  ASSERT_EQ(uvf_cli_db_commits(x.db), 3);
  ASSERT_EQ(uvf_cli_db_pending(x.db), 0);
  ASSERT_EQ(count_rows(), 201);
  ASSERT_EQ(uvf_cli_db_changes(x.db, 0), 201);
  close_ctx(&x);
}

/* A lone group waits for companions up to 50 ms, no longer. */
TEST_IMPL(db_commits_a_lone_group_after_50ms) {
  ctx x;
  uint64_t t0;

  open_ctx(&x);
  add_group(&x, 1);
  t0 = uv_hrtime();
  uvf_cli_db_flush(x.db);
  x.want = 1;
  run_until(&x);
  ASSERT_EQ(uvf_cli_db_committed(x.db), 1);
  ASSERT((x.t_committed - t0) / 1000000 >= UVF_CLI_DB_BATCH_MS - 5);
  ASSERT((x.t_committed - t0) / 1000000 < 5000);
  ASSERT(uvf_cli_db_latency_us(x.db, 99) >= 40000);
  close_ctx(&x);
}

/* A group that fails is not committed, nor is anything after it. */
TEST_IMPL(db_failure_is_told_and_nothing_half_written) {
  ctx x;
  const char *msg;

  open_ctx(&x);
  uvf_cli_db_begin(x.db);
  uvf_cli_db_stmt(x.db, 0);
  uvf_cli_db_text(x.db, "http://ok/");
  uvf_cli_db_int(x.db, 1);
  uvf_cli_db_stmt(x.db, 2);
  uvf_cli_db_text(x.db, "http://bad/");
  uvf_cli_db_end(x.db);
  uvf_cli_db_flush(x.db);
  run_until(&x);
  ASSERT(uvf_cli_db_error(x.db, &msg) < 0);
  ASSERT(strstr(msg, "NOT NULL") != NULL);
  ASSERT_EQ(uvf_cli_db_committed(x.db), 0);
  close_ctx(&x);
  /* closed: the transaction was rolled back */
}

TEST_IMPL(db_reads_rows_through_the_thread) {
  ctx x;
  int64_t args[2] = {0, 2};
  char **rows;
  size_t n, cols;
  int i;

  open_ctx(&x);
  for (i = 0; i < 5; i++)
    add_group(&x, i);
  uvf_cli_db_flush(x.db);
  ASSERT_EQ(uvf_cli_db_read(x.db, 1, args, 2, 100), 0);
  x.want_rows = 1;
  run_until(&x);
  ASSERT(uvf_cli_db_rows(x.db, &rows, &n, &cols));
  ASSERT_EQ(n, 2);
  ASSERT_EQ(cols, 2);
  ASSERT_STR_EQ(rows[0], "1");
  ASSERT_STR_EQ(rows[1], "http://h/0");
  ASSERT_STR_EQ(rows[3], "http://h/1");
  close_ctx(&x);
}

TEST_IMPL(db_backlog_counts_until_committed) {
  ctx x;
  int i;

  open_ctx(&x);
  for (i = 0; i < 10; i++)
    add_group(&x, i);
  ASSERT(uvf_cli_db_pending(x.db) > 0);
  uvf_cli_db_flush(x.db);
  x.want = 10;
  run_until(&x);
  ASSERT_EQ(uvf_cli_db_pending(x.db), 0);
  close_ctx(&x);
}

TEST_IMPL(db_unopenable_file_is_refused) {
  uv_loop_t loop;
  uvf_cli_db *db = NULL;

  uvf_cli_msgs_to(fopen("/dev/null", "w"));
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT(uvf_cli_db_open(&db, &loop, "/nonexistent/dir/x.db", sql, 3, on_news,
                         NULL) < 0);
  ASSERT(db == NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

static const test_entry tests[] = {
    TEST_ENTRY(db_commits_every_hundred_groups),
    TEST_ENTRY(db_commits_a_lone_group_after_50ms),
    TEST_ENTRY(db_failure_is_told_and_nothing_half_written),
    TEST_ENTRY(db_reads_rows_through_the_thread),
    TEST_ENTRY(db_backlog_counts_until_committed),
    TEST_ENTRY(db_unopenable_file_is_refused),
};

int main(int argc, char **argv) {
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
