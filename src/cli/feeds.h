/* The collector's modules: the SQLite writer thread (db.c), the feed
 * parser (feedparse.c), feed schedules (feedtime.c), response headers
 * (headers.c), and `uvfetch feeds` (feeds.c, feeds_run.c). Conventions
 * as in cli.h: 0 or a negative errno. */
#ifndef UVF_CLI_FEEDS_H
#define UVF_CLI_FEEDS_H

#include <stdint.h>

#include "cli.h"

/* ---- the database writer thread (db.c) ---- */

/* One SQLite connection, used by a thread of its own only: the loop never
 * calls sqlite3. The loop queues groups of statement executions; the
 * thread runs them in transactions of about DB_BATCH_ROWS groups or
 * DB_BATCH_MS milliseconds, whichever comes first, and never splits a
 * group across two transactions: what a group writes is committed whole
 * or not at all. WAL, synchronous=NORMAL, checkpoints on that thread. */
typedef struct uvf_cli_db uvf_cli_db;

#define UVF_CLI_DB_BATCH_ROWS 100
#define UVF_CLI_DB_BATCH_MS 50

/* What news(ud) may ask about: run on the loop when a transaction has
 * committed, when the backlog falls under the mark of
 * uvf_cli_db_notify_below(), when a page of rows has been read, on a
 * failure and once the thread has ended. */
typedef void (*uvf_cli_db_news_fn)(void *ud);

/* Opens path (creating it and the schema), prepares the n statements of
 * sql[] (a group refers to them by position) and starts the thread.
 * Returns 0, or a negative errno after a message. */
int uvf_cli_db_open(uvf_cli_db **out, uv_loop_t *loop, const char *path,
                    const char *const *sql, size_t n, uvf_cli_db_news_fn news,
                    void *ud);

/* Building a group, on the loop: begin, then for each statement its
 * values in order, then end. The values are copied. A text of NULL binds
 * NULL. */
void uvf_cli_db_begin(uvf_cli_db *d);
void uvf_cli_db_stmt(uvf_cli_db *d, unsigned stmt);
void uvf_cli_db_int(uvf_cli_db *d, int64_t v);
void uvf_cli_db_text(uvf_cli_db *d, const char *s);
void uvf_cli_db_textn(uvf_cli_db *d, const char *s, size_t len);
void uvf_cli_db_blob(uvf_cli_db *d, const void *p, size_t len);
void uvf_cli_db_null(uvf_cli_db *d);
/* Ends the group; it goes to the thread at the next flush. ticket is
 * what uvf_cli_db_committed() counts. */
void uvf_cli_db_end(uvf_cli_db *d);
/* Hands the groups of this loop iteration to the thread. */
void uvf_cli_db_flush(uvf_cli_db *d);
/* Groups ended so far, and of them those committed. */
uint64_t uvf_cli_db_groups(const uvf_cli_db *d);
uint64_t uvf_cli_db_committed(const uvf_cli_db *d);
/* Transactions committed so far. */
uint64_t uvf_cli_db_commits(const uvf_cli_db *d);
/* Bytes of groups not yet committed: the backlog that pauses admission. */
size_t uvf_cli_db_pending(const uvf_cli_db *d);
/* Asks for news once pending is at most mark. */
void uvf_cli_db_notify_below(uvf_cli_db *d, size_t mark);
/* Rows changed by the statements of the groups committed so far, by
 * statement (0 for an index out of range). */
uint64_t uvf_cli_db_changes(const uvf_cli_db *d, unsigned stmt);
/* Commit latencies (from a group's end to its commit) in microseconds:
 * the p-th percentile (0..100) of those seen so far; 0 if none. */
uint64_t uvf_cli_db_latency_us(const uvf_cli_db *d, double p);

/* Reading through the thread: runs statement stmt with the int64
 * arguments args[0..n) and keeps its rows (at most max_rows) for
 * uvf_cli_db_rows(); news follows. One read at a time. Returns 0 or
 * -EBUSY. */
int uvf_cli_db_read(uvf_cli_db *d, unsigned stmt, const int64_t *args, size_t n,
                    size_t max_rows);
/* Once the read is done: 1 with its rows, 0 while it runs. Each row is
 * its columns as text (NULL for NULL), cols of them. The rows stay
 * valid until the next read. */
int uvf_cli_db_rows(uvf_cli_db *d, char ***rows, size_t *n_rows, size_t *cols);

/* The first failure, as a negative errno, with its message in *msg
 * (valid until uvf_cli_db_close()); 0 if none. */
int uvf_cli_db_error(uvf_cli_db *d, const char **msg);
/* Nothing more comes: commit the rest, checkpoint, end the thread. */
void uvf_cli_db_finish(uvf_cli_db *d);
int uvf_cli_db_finished(uvf_cli_db *d);
/* Finishes if needed, joins the thread (this waits) and frees, the
 * memory in a close callback. Returns 0 or the first failure. */
int uvf_cli_db_close(uvf_cli_db *d);

/* The schema, shared by --db and `uvfetch feeds`. */
extern const char uvf_cli_db_schema[];

/* ---- feed documents (feedparse.c) ---- */

enum uvf_cli_feed_kind {
  UVF_CLI_FEED_UNKNOWN = 0,
  UVF_CLI_FEED_RSS2, /* RSS 0.9x and 2.0 */
  UVF_CLI_FEED_RSS1, /* RDF: items beside the channel */
  UVF_CLI_FEED_ATOM
};

typedef struct uvf_cli_feed_item {
  char *uid; /* unique in its feed: guid > atom:id > rdf:about > link >
                "hash:" and a hash of the content */
  char *title;
  char *link;
  char *summary; /* description, summary, or else content */
  char *author;
  int64_t published; /* Unix seconds; 0 if none or unreadable */
  int64_t updated;
  uint64_t hash; /* of the content: a changed item has another */
} uvf_cli_feed_item;

typedef struct uvf_cli_feedparser uvf_cli_feedparser;

/* Most items kept from one feed, and the longest text of one field. */
#define UVF_CLI_FEED_MAX_ITEMS 10000
#define UVF_CLI_FEED_MAX_FIELD (256 * 1024)

/* A push parser for one feed document. http_charset is the charset of
 * the reply's Content-Type, NULL if none: it applies only when the
 * document has neither a byte order mark nor an encoding in its XML
 * declaration. Returns 0 or -ENOMEM. */
int uvf_cli_feedparser_new(uvf_cli_feedparser **out, const char *http_charset);
/* Parses bytes as they arrive. Returns 0, or -EINVAL once the document
 * is known to be no feed, or unsafe (then stop pushing). */
int uvf_cli_feedparser_push(uvf_cli_feedparser *p, const char *data,
                            size_t len);
/* The end of the document. Returns 0 when it was a feed, else -EINVAL
 * with the reason in uvf_cli_feedparser_why(). */
int uvf_cli_feedparser_end(uvf_cli_feedparser *p);
const char *uvf_cli_feedparser_why(const uvf_cli_feedparser *p);
int uvf_cli_feedparser_kind(const uvf_cli_feedparser *p);
const char *uvf_cli_feedparser_title(const uvf_cli_feedparser *p);
/* The channel's <ttl> in minutes, 0 if none. */
long uvf_cli_feedparser_ttl(const uvf_cli_feedparser *p);
/* The items, in document order, duplicates of a uid dropped. */
size_t uvf_cli_feedparser_count(const uvf_cli_feedparser *p);
const uvf_cli_feed_item *uvf_cli_feedparser_item(const uvf_cli_feedparser *p,
                                                 size_t i);
void uvf_cli_feedparser_free(uvf_cli_feedparser *p);

/* A date of a feed (RFC 822 with zone names, RFC 3339) as Unix seconds;
 * 0 if it cannot be read. */
int64_t uvf_cli_feed_date(const char *s);

/* ---- schedules (feedtime.c) ---- */

#define UVF_CLI_FEED_MIN_INTERVAL 300   /* 5 minutes */
#define UVF_CLI_FEED_MAX_INTERVAL 86400 /* 24 hours */
#define UVF_CLI_FEED_DEFAULT_INTERVAL 3600

/* What a reply says of the next check. Seconds; 0 when not given. */
typedef struct uvf_cli_feed_hints {
  long ttl;         /* the feed's <ttl>, in seconds */
  long max_age;     /* Cache-Control: max-age (s-maxage) */
  long expires;     /* Expires, less the time of the reply */
  long retry_after; /* Retry-After */
} uvf_cli_feed_hints;

/* Seconds until the next check after a good reply (200 or 304): the
 * longest of the hints, or the default, within 5 minutes and 24 hours. */
long uvf_cli_feed_interval(const uvf_cli_feed_hints *h);
/* Seconds until the next try after `errors` failures in a row (1 up):
 * 5 minutes doubling, at most 24 hours, and no sooner than Retry-After. */
long uvf_cli_feed_backoff(unsigned errors, long retry_after);
/* Fills the header hints from the reply's headers (see headers.c); now
 * is the time of the reply. */
void uvf_cli_feed_hints_from(uvf_cli_feed_hints *h, const uvf_result *r,
                             int64_t now);
/* Cache-Control's max-age (s-maxage wins), or 0; -1 for no-store or
 * no-cache, which ask for the shortest interval. */
long uvf_cli_cache_max_age(const char *cache_control);
/* Retry-After, as seconds or an HTTP date, in seconds from now; 0 if
 * none or unreadable. */
long uvf_cli_retry_after(const char *v, int64_t now);

/* ---- response headers (headers.c) ---- */

/* The value of header `name` (any case) among h[0..n), the first if it
 * repeats, or NULL. */
const char *uvf_cli_header_in(const uvf_header *h, size_t n, const char *name);
/* The same among the final reply's headers of r (with keep_headers); NULL
 * also when r comes from a library that has no headers in its results. */
const char *uvf_cli_result_header(const uvf_result *r, const char *name);
/* The charset parameter of a Content-Type, into buf (cap bytes); NULL if
 * none. */
const char *uvf_cli_content_charset(const char *content_type, char *buf,
                                    size_t cap);
/* The request headers of a conditional re-fetch ("If-None-Match: ...",
 * "If-Modified-Since: ...") for the validators etag and last_modified
 * (either may be NULL), into out[0..2). Returns how many. Values with a
 * line break are left out. */
size_t uvf_cli_conditional_headers(uvf_cli_buf *scratch, const char *etag,
                                   const char *last_modified, char *out[2]);

/* ---- --db's validators sent back (validators.c) ---- */

typedef struct uvf_cli_validators uvf_cli_validators;

/* Opens the database at path (made by uvf_cli_db_open) for reading.
 * Returns 0 or a negative errno. */
int uvf_cli_validators_open(uvf_cli_validators **out, const char *path);
/* rq, or a copy of it (valid until the next call) with If-None-Match and
 * If-Modified-Since for the validators stored for its URL: only for a
 * GET that sends no conditional field of its own, nor among the global
 * header lines (-H) that go with every request. v may be NULL. */
const uvf_request *uvf_cli_validators_apply(uvf_cli_validators *v,
                                            const uvf_request *rq,
                                            const char *const *global,
                                            size_t n_global);
/* 1 if rq is a GET: its reply's validators may be stored and sent back. */
int uvf_cli_request_is_get(const uvf_request *rq);
void uvf_cli_validators_close(uvf_cli_validators *v);

/* ---- `uvfetch feeds` (feeds.c) ---- */

/* The subcommand, argv[0] being "feeds". Returns an exit status. */
int uvf_cli_feeds_main(int argc, char **argv);

#endif /* UVF_CLI_FEEDS_H */
