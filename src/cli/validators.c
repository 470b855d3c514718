/* --db's conditional re-fetch: a URL whose last whole reply left an ETag
 * or a Last-Modified in the database (table validators) is asked for
 * again with If-None-Match and If-Modified-Since, so that a server whose
 * document has not changed answers 304 and sends nothing.
 *
 * The lookups are point reads of one indexed table on a read-only
 * connection of their own, made on the loop thread as each URL starts:
 * in WAL mode a reader never waits for the writer thread, and the file is
 * the regular file that thread has just opened. (Handing them to the
 * database thread would keep even a cold disk's page reads off the loop,
 * at the price of reading input ahead: not done yet.) A lookup that fails
 * (busy, out of memory) sends the URL without validators: a whole reply,
 * no harm. Only GETs: validators of a HEAD or a POST reply are not
 * stored (dbsink.c), and a POST must be done, not answered 304. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sqlite3.h>

#include "cli.h"
#include "feeds.h"

struct uvf_cli_validators {
  sqlite3 *db;
  sqlite3_stmt *get;
  uvf_request rq;     /* the last request made conditional */
  const char **lines; /* its header lines: the request's, then ours */
  size_t cap;
  uvf_cli_buf scratch; /* our lines' text */
  char *ours[2];
};

int uvf_cli_validators_open(uvf_cli_validators **out, const char *path) {
  uvf_cli_validators *v = calloc(1, sizeof(*v));
  int rc;

  if (!v)
    return -ENOMEM;
  rc = sqlite3_open_v2(path, &v->db, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v3(v->db,
                            "SELECT etag, last_modified FROM validators"
                            " WHERE url = ?1",
                            -1, SQLITE_PREPARE_PERSISTENT, &v->get, NULL);
  if (rc != SQLITE_OK) {
    uvf_cli_warn("the validators in %s cannot be read (%s): every URL is "
                 "fetched whole",
                 path, v->db ? sqlite3_errmsg(v->db) : sqlite3_errstr(rc));
    uvf_cli_validators_close(v);
    return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
  }
  *out = v;
  return 0;
}

void uvf_cli_validators_close(uvf_cli_validators *v) {
  if (!v)
    return;
  sqlite3_finalize(v->get);
  sqlite3_close(v->db);
  uvf_cli_buf_free(&v->scratch);
  free(v->lines);
  free(v);
}

int uvf_cli_request_is_get(const uvf_request *rq) {
  /* A body without a method is a POST (uvf_request). */
  return rq->url && !rq->body &&
         (!rq->method || strcasecmp(rq->method, "GET") == 0);
}

/* 1 if one of the lines names a conditional field. */
static int conditional(const char *const *lines, size_t n) {
  static const char *const fields[] = {"If-None-Match", "If-Modified-Since",
                                       "If-Match", "If-Unmodified-Since",
                                       "If-Range"};
  size_t i;

  for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
    if (uvf_cli_header_named(lines, n, fields[i]))
      return 1;
  return 0;
}

/* Looks up rq's URL; 0 and the number of our lines, or -1. */
static int lookup(uvf_cli_validators *v, const char *url, size_t *n) {
  int rc;

  *n = 0;
  sqlite3_reset(v->get);
  if (sqlite3_bind_text(v->get, 1, url, -1, SQLITE_STATIC) != SQLITE_OK)
    return -1;
  rc = sqlite3_step(v->get);
  if (rc == SQLITE_ROW)
    *n = uvf_cli_conditional_headers(
        &v->scratch, (const char *)sqlite3_column_text(v->get, 0),
        (const char *)sqlite3_column_text(v->get, 1), v->ours);
  sqlite3_reset(v->get);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

const uvf_request *uvf_cli_validators_apply(uvf_cli_validators *v,
                                            const uvf_request *rq,
                                            const char *const *global,
                                            size_t n_global) {
  size_t n, i;
  const char **grown;

  if (!v || !uvf_cli_request_is_get(rq) ||
      conditional(rq->headers, rq->n_headers) ||
      conditional(global, n_global) || lookup(v, rq->url, &n) != 0 || n == 0)
    return rq;
  while (v->cap < rq->n_headers + n) {
    grown = uvf_cli_grow(v->lines, v->cap, &v->cap, sizeof(*grown), 8);
    if (!grown)
      return rq; /* sent whole */
    v->lines = grown;
  }
  for (i = 0; i < rq->n_headers; i++)
    v->lines[i] = rq->headers[i];
  for (i = 0; i < n; i++)
    v->lines[rq->n_headers + i] = v->ours[i];
  v->rq = *rq;
  v->rq.headers = v->lines;
  v->rq.n_headers = rq->n_headers + n;
  return &v->rq;
}
