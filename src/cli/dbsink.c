/* --db FILE: every record of a fetch also goes into SQLite (and with
 * --db-bodies its body), written by the database thread of db.c in
 * batched transactions. A record and the validators of its reply are one
 * group: committed together or not at all. While the thread lags, no URL
 * starts (feed.c). */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "feeds.h"
#include "run.h"

enum { S_RUN, S_RECORD, S_VALIDATORS, S_REVALIDATED, S_RUN_END };

static const char *const sql[] = {
    [S_RUN] = "INSERT INTO runs(id, started, command) VALUES(?1, ?2, ?3)",
    [S_RECORD] = "INSERT INTO records(run, idx, url, ok, status, outcome,"
                 " bytes, attempts, time_us, record, body)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [S_VALIDATORS] = "INSERT INTO validators(url, etag, last_modified, updated)"
                     " VALUES(?1, ?2, ?3, ?4) ON CONFLICT(url) DO UPDATE SET"
                     " etag = excluded.etag,"
                     " last_modified = excluded.last_modified,"
                     " updated = excluded.updated",
    [S_REVALIDATED] = "UPDATE validators SET etag = coalesce(?2, etag),"
                      " last_modified = coalesce(?3, last_modified),"
                      " updated = ?4 WHERE url = ?1",
    [S_RUN_END] = "UPDATE runs SET finished = ?2 WHERE id = ?1",
};

/* A run's id: its start in microseconds, unique enough for runs of one
 * database, and known before the thread has read anything. */
static int64_t run_id(void) {
  struct timespec ts;

  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int uvf_cli_run_db_open(uvf_cli_run *c) {
  int rc;

  if (!c->args.db_path)
    return 0;
  rc = uvf_cli_db_open(&c->db, &c->loop, c->args.db_path, sql,
                       sizeof(sql) / sizeof(sql[0]), uvf_cli_run_news, c);
  if (rc != 0)
    return rc;
  /* Not with -o: a 304 would leave that URL's body file empty. A
   * database that cannot be read this way only costs whole replies. */
  if (!c->args.no_conditional && !c->args.output_dir)
    (void)uvf_cli_validators_open(&c->validators, c->args.db_path);
  c->run_id = run_id();
  uvf_cli_db_begin(c->db);
  uvf_cli_db_stmt(c->db, S_RUN);
  uvf_cli_db_int(c->db, c->run_id);
  uvf_cli_db_int(c->db, (int64_t)time(NULL));
  uvf_cli_db_text(c->db, c->args.input_path ? c->args.input_path : "-");
  uvf_cli_db_end(c->db);
  return 0;
}

/* What the database says of a record: a 304 is no error. */
static const char *outcome(const uvf_cli_record *rec) {
  if (rec->ok && rec->r->status == 304)
    return "not_modified";
  return rec->ok ? "ok" : uvf_err_name(rec->error);
}

void uvf_cli_run_db_record(uvf_cli_run *c, const uvf_cli_record *rec,
                           int not_get, const char *line, size_t len) {
  const uvf_result *r = rec->r;
  const char *etag = uvf_cli_result_header(r, "ETag");
  const char *lm = uvf_cli_result_header(r, "Last-Modified");

  uvf_cli_db_begin(c->db);
  uvf_cli_db_stmt(c->db, S_RECORD);
  uvf_cli_db_int(c->db, c->run_id);
  uvf_cli_db_int(c->db, (int64_t)rec->index);
  uvf_cli_db_text(c->db, r->url);
  uvf_cli_db_int(c->db, rec->ok);
  uvf_cli_db_int(c->db, r->status);
  uvf_cli_db_text(c->db, outcome(rec));
  uvf_cli_db_int(c->db, (int64_t)r->bytes);
  uvf_cli_db_int(c->db, r->attempts);
  uvf_cli_db_int(c->db, (int64_t)(r->time_total * 1e6)); /* microseconds */
  uvf_cli_db_textn(c->db, line,
                   len > 0 && line[len - 1] == '\n' ? len - 1 : len);
  if (c->args.db_bodies && r->body)
    uvf_cli_db_blob(c->db, r->body, (size_t)r->bytes);
  else
    uvf_cli_db_null(c->db);
  if (rec->ok && !not_get && (etag || lm)) {
    /* In the record's group: never stored without what they validate.
     * A 304 may name new ones (RFC 9111 4.3.4); it keeps those it does
     * not name. */
    uvf_cli_db_stmt(c->db, r->status == 304 ? S_REVALIDATED : S_VALIDATORS);
    uvf_cli_db_text(c->db, r->url);
    uvf_cli_db_text(c->db, etag);
    uvf_cli_db_text(c->db, lm);
    uvf_cli_db_int(c->db, (int64_t)time(NULL));
  }
  uvf_cli_db_end(c->db);
}

/* At the end: the run is marked finished, everything is committed, the
 * thread checkpoints and ends. Returns 1 once that is done. */
int uvf_cli_run_db_done(uvf_cli_run *c) {
  if (!c->db)
    return 1;
  if (!c->db_finishing) {
    c->db_finishing = 1;
    /* Closed first, so that the writer is the last connection and
     * removes the -wal and -shm files. */
    uvf_cli_validators_close(c->validators);
    c->validators = NULL;
    if (!c->interrupted && !c->local_err) {
      uvf_cli_db_begin(c->db);
      uvf_cli_db_stmt(c->db, S_RUN_END);
      uvf_cli_db_int(c->db, c->run_id);
      uvf_cli_db_int(c->db, (int64_t)time(NULL));
      uvf_cli_db_end(c->db);
    }
    uvf_cli_db_finish(c->db);
  }
  if (!uvf_cli_db_finished(c->db))
    return 0;
  uvf_cli_run_db_check(c);
  uvf_cli_db_close(c->db);
  c->db = NULL;
  return 1;
}

void uvf_cli_run_db_check(uvf_cli_run *c) {
  const char *msg;

  if (!c->db || c->db_failed || uvf_cli_db_error(c->db, &msg) == 0)
    return;
  c->db_failed = 1;
  c->local_err = 1;
  uvf_cli_error("cannot write the database %s: %s", c->args.db_path, msg);
  uvf_cli_run_note_rest(c);
  uvf_cli_run_stop(c);
}
