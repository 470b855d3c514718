/* Internal interfaces of the uvfetch command. Nothing here is installed;
 * the library's public API is include/uvfetch.h. Functions shared between
 * the files of src/cli/ are named uvf_cli_*; the rest are static.
 *
 * Conventions, as libuv's and dav1d's:
 * - A function that can fail returns an int: 0 on success, or a negative
 *   errno (-ENOMEM, -EINVAL...; libuv's own codes are the same on Unix).
 *   A few also have a positive answer on success (1: found, done), said
 *   where they are declared, as is whether a message was printed.
 * - A question ("1 if ...") returns 1 or 0 and cannot fail.
 * - int foo_new/open/start(foo **out, ...) makes one; *out is set only on
 *   success. foo_free(foo *) releases at once; foo_close(foo *) releases
 *   through the loop (the memory goes in a close callback, so the loop
 *   must run afterwards). Both take NULL. */
#ifndef UVF_CLI_H
#define UVF_CLI_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <uv.h>

#include "uvfetch.h"

/* Exit statuses, documented in --help and uvfetch(1). */
#define UVF_CLI_EXIT_OK 0
#define UVF_CLI_EXIT_FAILED 1
#define UVF_CLI_EXIT_USAGE 2
#define UVF_CLI_EXIT_LOCAL 3 /* stopped by a local error, as wget's 3 */
#define UVF_CLI_EXIT_INTERRUPTED 130
#define UVF_CLI_EXIT_PIPE 141 /* 128 + SIGPIPE: the report's reader left */

/* Longest input line taken as a URL, newline excluded. */
#define UVF_CLI_MAX_LINE 65536
/* Longest line starting with '{' (a JSON request may carry its body). */
#define UVF_CLI_MAX_REQUEST_LINE (16 << 20)

/* A URL's tag tells where it came from: its line number (1-based) in the
 * input file, or its position among the URL arguments, plus flags for
 * lines the reader refused. The library hands the tag back in each
 * result, so the reader keeps no per-URL memory. */
#define UVF_CLI_TAG_ARG (UINT64_C(1) << 63)      /* a command-line URL */
#define UVF_CLI_TAG_TOO_LONG (UINT64_C(1) << 62) /* over UVF_CLI_MAX_LINE */
#define UVF_CLI_TAG_NUL (UINT64_C(1) << 61)      /* had a NUL byte */
#define UVF_CLI_TAG_NUMBER(t) ((t) & ((UINT64_C(1) << 48) - 1))

/* ---- messages (msgs.c) ---- */

/* "uvfetch: <message>" and a newline on stderr. */
void uvf_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "uvfetch: warning: <message>". */
void uvf_cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "uvfetch: <message>", unless -q: news of the run, not of a problem. */
void uvf_cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An error and "Try 'uvfetch --help'..."; returns -EINVAL, for the
 * caller to pass on. */
int uvf_cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sends the messages to fp instead of stderr (NULL: stderr again). */
void uvf_cli_msgs_to(FILE *fp);
/* With on set, notes are not printed. */
void uvf_cli_msgs_quiet(int on);
/* fn(ud) runs before each message: setup.c erases the progress line there.
 * NULL: nothing. */
void uvf_cli_msgs_before(void (*fn)(void *ud), void *ud);

/* ---- command line (args.c) ---- */

enum uvf_cli_progress_mode {
  UVF_CLI_PROGRESS_AUTO = -1, /* only if stderr is a terminal */
  UVF_CLI_PROGRESS_OFF = 0,
  UVF_CLI_PROGRESS_ON = 1
};

/* --input-format: how a line of the input is read. */
enum uvf_cli_input_format {
  UVF_CLI_INPUT_AUTO, /* a line starting with '{' is a request (JSON) */
  UVF_CLI_INPUT_URLS, /* every line is a URL */
  UVF_CLI_INPUT_JSONL /* every line is a request */
};

typedef struct uvf_cli_args {
  uvf_options fetch;    /* headers point into `headers` */
  const char **headers; /* -H values, strings owned by argv */
  size_t n_headers;
  const char *input_path; /* -i; NULL if none */
  char *const *urls;      /* URL arguments (argv) */
  size_t n_urls;
  const char *output_dir;   /* -o; NULL if none */
  const char *order;        /* "input" or "done" */
  const char *journal_path; /* --journal; NULL if none */
  long grace_ms;            /* --grace */
  int quiet;
  int progress;        /* enum uvf_cli_progress_mode */
  const char *db_path; /* --db; NULL if none */
  int db_bodies;       /* --db-bodies */
  int no_conditional;  /* --no-conditional */
  int feeds;           /* parsing `uvfetch feeds ...` */
  int feeds_all;       /* feeds run --all: due or not */
  long limit;          /* feeds items --limit */
  int max_body_given;  /* --max-body was given */
  const char *method;  /* -X; NULL if none */
  const char *data;    /* -d or --json: data_len bytes; NULL if none */
  size_t data_len;
  char *data_owned; /* data read from @FILE */
  int json;         /* --json */
  int input_format; /* enum uvf_cli_input_format */
  unsigned shard;   /* --shard I/N: I */
  unsigned shards;  /* N; 0 if not sharded */
  int shard_by_url; /* --shard-by url: route by the whole line */
  unsigned procs;   /* --procs K; 0 or 1: one process */
  int pin;          /* --pin: a worker a core */
  int worker;       /* hidden --worker I:PPID: a worker of --procs */
  unsigned worker_id;
  long parent_pid;
  int argc; /* the command line, for the workers */
  char **argv;
  int with_headers; /* --headers: response headers in each record */
} uvf_cli_args;

/* Returns 0 to go on with the run, 1 after --help or --version (nothing
 * more to do), or a negative errno after a message: -EINVAL for a usage
 * error. */
int uvf_cli_args_parse(uvf_cli_args *a, int argc, char **argv);
/* The same for `uvfetch feeds SUBCOMMAND [options] [ARG...]`, argv[0]
 * being the subcommand: ARGs are left in a->urls, and only the options
 * of a collector are taken. */
int uvf_cli_args_parse_feeds(uvf_cli_args *a, int argc, char **argv);
/* uvfetch feeds --help (feeds.c). */
extern const char uvf_cli_feeds_help[];
void uvf_cli_args_free(uvf_cli_args *a);

/* ---- growable buffers and JSON (json.c) ---- */

/* items (n used of *cap, each size bytes) with room for one more: items
 * itself, or a larger copy (first items, then twice as many each time).
 * NULL if out of memory; items is then left as it was. */
void *uvf_cli_grow(void *items, size_t n, size_t *cap, size_t size,
                   size_t first);

typedef struct uvf_cli_buf {
  char *data;
  size_t len;
  size_t cap;
  int oom; /* an allocation failed; the content is truncated */
} uvf_cli_buf;

void uvf_cli_buf_reset(uvf_cli_buf *b);
void uvf_cli_buf_free(uvf_cli_buf *b);
void uvf_cli_buf_add(uvf_cli_buf *b, const char *s, size_t len);
void uvf_cli_buf_puts(uvf_cli_buf *b, const char *s);
void uvf_cli_buf_printf(uvf_cli_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string, or null when s is NULL. Bytes that are not
 * valid UTF-8 become U+FFFD, so any input gives valid JSON. */
void uvf_cli_json_str(uvf_cli_buf *b, const char *s);

/* ---- records and summary (report.c) ---- */

/* One report line: the library's result with the CLI's view of it. */
typedef struct uvf_cli_record {
  const uvf_result *r;
  uint64_t index; /* position in the input, which the report shows */
  int ok;
  uvf_err error;
  const char *message;
  int with_file;    /* -o given: the "file" field is written */
  const char *file; /* the body file, NULL if none */
  int with_headers; /* --headers: the "headers" field is written */
  const char *tag;  /* the request's "tag" as JSON text, NULL if none */
} uvf_cli_record;

/* Appends the record as one JSON object and a newline. The fields after
 * file (headers, tag) are in uvf_cli_record_more. */
void uvf_cli_record_format(uvf_cli_buf *b, const uvf_cli_record *rec);

typedef struct uvf_cli_tally {
  uint64_t total;
  uint64_t ok;
  uint64_t failed;
  uint64_t bytes;
  uint64_t replayed;    /* of total, records read back from a journal */
  uint64_t connects;    /* connections the fetcher opened */
  uint64_t by_kind[16]; /* indexed by -error */
} uvf_cli_tally;

void uvf_cli_tally_add(uvf_cli_tally *t, int ok, uvf_err error, uint64_t bytes);
void uvf_cli_tally_print(FILE *fp, const uvf_cli_tally *t, double seconds);

/* ---- requests from input lines (requests.c) ---- */

typedef struct uvf_cli_reqs uvf_cli_reqs;

/* What every line's request starts from. */
typedef struct uvf_cli_reqs_defaults {
  int format;         /* enum uvf_cli_input_format */
  const char *method; /* -X, or NULL */
  const char *body;   /* -d or --json, body_len bytes, or NULL */
  size_t body_len;
  const char *const *headers; /* -H, which a line's "json" defers to */
  size_t n_headers;
} uvf_cli_reqs_defaults;

/* A line made into a request: rq is valid until the next call. If the
 * line is not a request, why says so (the field, and what is wrong) and
 * rq has no URL, so the library gives it its index and an
 * invalid_request result. tag: the line's "tag", as JSON text, or NULL. */
typedef struct uvf_cli_made {
  const uvf_request *rq;
  const char *why;
  const char *tag;
} uvf_cli_made;

/* Returns 0 or -ENOMEM. d is copied; what it points to must outlive r. */
int uvf_cli_reqs_new(uvf_cli_reqs **out, const uvf_cli_reqs_defaults *d);
/* 1 if the line is read as JSON. */
int uvf_cli_reqs_is_json(const uvf_cli_reqs *r, const char *line);
/* Returns 0, or -EINVAL when the line is not a request (out->why). */
int uvf_cli_reqs_make(uvf_cli_reqs *r, const char *line, uint64_t tag,
                      uvf_cli_made *out);
void uvf_cli_reqs_free(uvf_cli_reqs *r);
/* 1 if one of the "Name: value" lines (or curl's "Name;") names the field
 * name, in any case. */
int uvf_cli_header_named(const char *const *lines, size_t n, const char *name);

/* ---- notes on lines in flight (notes.c) ---- */

typedef struct uvf_cli_linenote {
  uint64_t key;  /* the line's tag */
  uint64_t jkey; /* its journal key */
  char *tag;     /* the request's "tag" as JSON text, or NULL */
  char *why;     /* why the line is not a request, or NULL */
  int not_get;   /* with --db: its request is no GET */
} uvf_cli_linenote;

typedef struct uvf_cli_notes uvf_cli_notes;

/* Keeps a copy of note (its strings too), making *n on first use.
 * Returns 0 or -ENOMEM. */
int uvf_cli_notes_put(uvf_cli_notes **n, const uvf_cli_linenote *note);
/* 1 with *out (its strings now the caller's) if key has a note. */
int uvf_cli_notes_take(uvf_cli_notes *n, uint64_t key, uvf_cli_linenote *out);
void uvf_cli_linenote_clear(uvf_cli_linenote *note);
void uvf_cli_notes_free(uvf_cli_notes *n);

/* ---- input (input.c) ---- */

typedef struct uvf_cli_input uvf_cli_input;

/* Reads the URL arguments first, then the lines of path ("-" = stdin;
 * NULL = none). Returns 0, or a negative errno after a message. */
int uvf_cli_input_open(uvf_cli_input **out, uv_loop_t *loop, const char *path,
                       char *const *urls, size_t n_urls);
/* As uvf_callbacks.next: 1 with *url (valid until the next call) and *tag,
 * 0 at the end, -1 when a pipe or terminal has no full line yet; then
 * ready(ud) runs once the input becomes readable. */
int uvf_cli_input_next(uvf_cli_input *in, const char **url, uint64_t *tag);
void uvf_cli_input_on_ready(uvf_cli_input *in, void (*ready)(void *ud),
                            void *ud);
/* 1 if a read error ended the input early (a message was printed). */
int uvf_cli_input_failed(const uvf_cli_input *in);
/* For the progress line: counts the URLs of a regular file ahead, in one
 * quick pass that keeps nothing. Does nothing for pipes and terminals. */
void uvf_cli_input_precount(uvf_cli_input *in);
/* 1 with the number of URLs in *n if it is known: the input has ended, or
 * it was counted ahead. */
int uvf_cli_input_total(const uvf_cli_input *in, uint64_t *n);
/* Counts the URLs not yet handed out into *n. Returns 0, or -EAGAIN
 * without reading when that would mean waiting on a pipe or a terminal. */
int uvf_cli_input_count_rest(uvf_cli_input *in, uint64_t *n);
/* Reads the lines as a worker process gets them from its parent
 * ("POSITION TAG\tURL"): each line's tag is TAG, and
 * uvf_cli_input_position() says its POSITION. A line that is not a frame
 * ends the input with an error. */
void uvf_cli_input_framed(uvf_cli_input *in);
/* The input position of the last line handed out, in framed mode. */
uint64_t uvf_cli_input_position(const uvf_cli_input *in);
/* Stops watching and frees; the memory goes in a close callback, so the
 * loop must run afterwards. */
void uvf_cli_input_close(uvf_cli_input *in);

/* ---- writer threads (writer.c) ---- */

/* Starts fn(arg) on a thread that takes no signal but keep (0: none):
 * signals are the loop's business, and a handler run on a writing thread
 * would only interrupt its write(). Returns 0 or a negative errno. */
int uvf_cli_thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                         int keep);
/* Waits on c, with m held, for at most ms milliseconds. */
void uvf_cli_cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, uint64_t ms);

typedef struct uvf_cli_writer uvf_cli_writer;

/* Starts a thread that writes what is handed to it to fd; with sync_ms >
 * 0 it also fdatasync()s that often and at the end. notify(ud) runs on
 * the loop when a write fails, when the backlog falls to the mark given
 * to uvf_cli_writer_notify_below(), and when the thread has ended after
 * uvf_cli_writer_finish(). Returns 0 or a negative errno. */
int uvf_cli_writer_start(uvf_cli_writer **out, uv_loop_t *loop, int fd,
                         long sync_ms, void (*notify)(void *ud), void *ud);
/* Copies bytes into this iteration's batch. */
void uvf_cli_writer_add(uvf_cli_writer *w, const char *data, size_t len);
/* Hands the batch to the thread. */
void uvf_cli_writer_flush(uvf_cli_writer *w);
/* Bytes added and not yet written. */
size_t uvf_cli_writer_pending(const uvf_cli_writer *w);
/* Bytes written so far (or dropped after a failure). */
uint64_t uvf_cli_writer_written(const uvf_cli_writer *w);
/* Of the pending bytes, those handed to the thread. */
size_t uvf_cli_writer_handed(const uvf_cli_writer *w);
/* Asks for notify() once no more than mark bytes are pending. */
void uvf_cli_writer_notify_below(uvf_cli_writer *w, size_t mark);
/* The first failure as a negative errno (the rest is dropped), or 0. */
int uvf_cli_writer_error(uvf_cli_writer *w);
/* Nothing more comes: write the rest (and sync), then end. Until then the
 * loop keeps running. */
void uvf_cli_writer_finish(uvf_cli_writer *w);
/* 1 once the thread has ended. */
int uvf_cli_writer_finished(uvf_cli_writer *w);
/* Ends the thread now, even in the middle of a write() that waits for a
 * reader; returns the number of lines not written. */
uint64_t uvf_cli_writer_abandon(uvf_cli_writer *w);
/* Lets the thread write what is left and joins it (this waits, unless
 * it has finished or was abandoned), then frees, the memory in a close
 * callback. Returns 0, or the first failure as a negative errno. */
int uvf_cli_writer_close(uvf_cli_writer *w);

/* ---- report sinks (sink.c) ---- */

typedef struct uvf_cli_sink uvf_cli_sink;

/* 1 if name is a known --order value. */
int uvf_cli_sink_known(const char *name);
/* A sink handing report lines to w in the given order. Returns 0,
 * -EINVAL for an unknown order, or -ENOMEM. */
int uvf_cli_sink_new(uvf_cli_sink **out, const char *order, uvf_cli_writer *w);
/* Takes the line of one index (copied if it must wait); len 0 says that
 * the index has none (a line of another shard). Returns 0 or a negative
 * errno (-ENOMEM, -EEXIST for an index put twice). Write errors come
 * through the writer. */
int uvf_cli_sink_put(uvf_cli_sink *s, uint64_t index, const char *line,
                     size_t len);
/* Bytes of the lines waiting for an earlier index. */
size_t uvf_cli_sink_held(const uvf_cli_sink *s);
void uvf_cli_sink_free(uvf_cli_sink *s);

/* ---- reorder buffer (reorder.c) ---- */

typedef struct uvf_cli_reorder uvf_cli_reorder;
/* Writes one line; returns 0 or a negative errno. */
typedef int (*uvf_cli_write_fn)(void *ud, const char *line, size_t len);

/* Returns 0 or -ENOMEM. */
int uvf_cli_reorder_new(uvf_cli_reorder **out, uvf_cli_write_fn write,
                        void *ud);
/* Returns 0, -ENOMEM, -EEXIST if index was put before, or what write
 * returned. */
int uvf_cli_reorder_put(uvf_cli_reorder *r, uint64_t index, const char *line,
                        size_t len);
/* Bytes of the lines held. */
size_t uvf_cli_reorder_held(const uvf_cli_reorder *r);
void uvf_cli_reorder_free(uvf_cli_reorder *r);

/* ---- input positions of library indexes (positions.c) ---- */

typedef struct uvf_cli_positions uvf_cli_positions;

/* Returns 0 or -ENOMEM. */
int uvf_cli_positions_new(uvf_cli_positions **out);
/* Library index `index` is the URL at input position `position`; called
 * for each index in increasing order. Returns 0 or -ENOMEM. */
int uvf_cli_positions_note(uvf_cli_positions *p, uint64_t index,
                           uint64_t position);
uint64_t uvf_cli_positions_of(const uvf_cli_positions *p, uint64_t index);
void uvf_cli_positions_free(uvf_cli_positions *p);

/* ---- numbers in flight, by number (idmap.c) ---- */

typedef struct uvf_cli_idmap uvf_cli_idmap;

/* Returns 0 or -ENOMEM. */
int uvf_cli_idmap_new(uvf_cli_idmap **out);
/* Sets key's value. Returns 0 or -ENOMEM. */
int uvf_cli_idmap_put(uvf_cli_idmap *m, uint64_t key, uint64_t value);
/* 1 with *value if key is in the map, else 0. */
int uvf_cli_idmap_get(const uvf_cli_idmap *m, uint64_t key, uint64_t *value);
/* As get, and removes it; value may be NULL. */
int uvf_cli_idmap_take(uvf_cli_idmap *m, uint64_t key, uint64_t *value);
/* Entries (0 for NULL). */
size_t uvf_cli_idmap_count(const uvf_cli_idmap *m);
/* 1 with some entry, 0 if there is none (m NULL too). */
int uvf_cli_idmap_any(const uvf_cli_idmap *m, uint64_t *key, uint64_t *value);
void uvf_cli_idmap_free(uvf_cli_idmap *m);

/* ---- routing lines to shards and workers (route.c) ---- */

/* The stable hash of a URL's origin: lower-case scheme://host:port. */
uint64_t uvf_cli_route_origin(const char *url);
/* The stable hash of the whole text (--shard-by url). */
uint64_t uvf_cli_route_url(const char *url);
/* The shard of n (--shard I/N), and the worker of k (--procs K), that a
 * hash goes to; independent of each other. */
unsigned uvf_cli_route_shard(uint64_t hash, unsigned n);
unsigned uvf_cli_route_worker(uint64_t hash, unsigned k);

/* ---- journal of a resumable run (journal.c) ---- */

typedef struct uvf_cli_journal uvf_cli_journal;

/* One journaled record. */
typedef struct uvf_cli_journaled {
  const char *line; /* the report line; its newline is optional */
  size_t len;
  int ok;
  uvf_err error;
  uint64_t bytes;
} uvf_cli_journaled;

/* Opens path, creating it if needed, locks it and loads the records of
 * earlier runs; a record cut short at the end is dropped with a warning.
 * Returns 0, or a negative errno after a message. */
int uvf_cli_journal_open(uvf_cli_journal **out, const char *path);
/* Starts the writer thread that appends the records (see writer.c for
 * notify). Returns 0 or a negative errno. */
int uvf_cli_journal_start(uvf_cli_journal *j, uv_loop_t *loop,
                          void (*notify)(void *ud), void *ud);
int uvf_cli_journal_fd(const uvf_cli_journal *j);
/* Records loaded from earlier runs. */
size_t uvf_cli_journal_count(const uvf_cli_journal *j);
/* What identifies an input URL: its text and the reader's flags. */
uint64_t uvf_cli_journal_key(const char *url, uint64_t tag);
/* Asks about each input position in increasing order. Returns 1 if the
 * journal has the record of that URL (do not fetch it again), 0 if it has
 * none (fetch it), or -EINVAL if its record there is of another URL, and
 * -EIO if that record cannot be read back (the file changed during the
 * run). With 1 and rec not NULL, rec is filled; its line stays valid
 * until the next call. */
int uvf_cli_journal_lookup(uvf_cli_journal *j, uint64_t position, uint64_t key,
                           uvf_cli_journaled *rec);
/* Records not reached by the lookups so far: once the input has ended,
 * records of positions past its end. */
size_t uvf_cli_journal_unmatched(const uvf_cli_journal *j);
/* The i-th record in input order (0-based), as for lookup: 0, -ENOENT if
 * there is none, or -EIO if it cannot be read back. */
int uvf_cli_journal_nth(uvf_cli_journal *j, size_t i, uint64_t *position,
                        uvf_cli_journaled *rec);
/* Starts the lookups over, after a checking pass. */
void uvf_cli_journal_rewind(uvf_cli_journal *j);
/* Queues one finished record; it is written by the next flush. */
void uvf_cli_journal_add(uvf_cli_journal *j, uint64_t position, uint64_t key,
                         const uvf_cli_journaled *rec);
/* Hands the queued records to the writer. Returns 0, or the first
 * failure as a negative errno (after which nothing more is written). */
int uvf_cli_journal_flush(uvf_cli_journal *j);
int uvf_cli_journal_error(uvf_cli_journal *j);
/* Flushes; the writer then syncs and ends (uvf_cli_journal_finished()). */
void uvf_cli_journal_finish(uvf_cli_journal *j);
int uvf_cli_journal_finished(uvf_cli_journal *j);
/* Writes what is queued, syncs, closes and frees; this waits for the
 * disk unless uvf_cli_journal_finished() said 1. Returns 0 or a negative
 * errno. */
int uvf_cli_journal_close(uvf_cli_journal *j);

/* ---- resuming from a journal (resume.c) ---- */

/* Opens a->journal_path (see uvf_cli_journal_open); if it has records,
 * makes *positions and checks the records against the input when the
 * input can be read twice. *j is set as soon as the journal is open, for
 * the caller to close. Returns 0, or a negative errno after a message. */
int uvf_cli_resume_open(uvf_cli_journal **j, uvf_cli_positions **positions,
                        uv_loop_t *loop, const uvf_cli_args *a);
/* Says that the record at input position `position` (0-based) is not for
 * the URL the input has there (rc < 0 from uvf_cli_journal_lookup). */
void uvf_cli_resume_mismatch(const char *path, int rc, uint64_t position,
                             uint64_t tag);
/* 1 if a journaled record at position fits a run with -o dir (NULL:
 * none), or cannot tell (it names no file); 0 if not. scratch is any
 * buffer. */
int uvf_cli_resume_fits_dir(const uvf_cli_journaled *rec, const char *dir,
                            uint64_t position, uvf_cli_buf *scratch);
/* Says that the journal's records name another -o's body files. */
void uvf_cli_resume_wrong_dir(const char *path);
/* Once the input has ended after n_urls URLs: 0, or -EINVAL after a
 * message if the journal has records past them. */
int uvf_cli_resume_past_end(const char *path, const uvf_cli_journal *j,
                            uint64_t n_urls);

/* ---- body files (bodies.c) ---- */

typedef struct uvf_cli_bodies uvf_cli_bodies;

/* Creates dir (and its parents) if missing, checks it can be written and
 * starts the thread that writes the files. in_flight sizes the table.
 * on_finished(ud, index, cookie, path, err) runs on the loop once the
 * file of a finished index is closed: path is its name, NULL if there is
 * none (it could not be created, or no reply came and the empty file was
 * removed); err is NULL or why the body is incomplete; both are valid
 * during the call. on_news(ud) runs after those of a batch, and when the
 * backlog has fallen to the mark of uvf_cli_bodies_notify_below().
 * Returns 0, or a negative errno after a message. */
int uvf_cli_bodies_open(uvf_cli_bodies **out, uv_loop_t *loop, const char *dir,
                        unsigned in_flight,
                        void (*on_finished)(void *ud, uint64_t index,
                                            void *cookie, const char *path,
                                            const char *err),
                        void (*on_news)(void *ud), void *ud);
/* Refuses to write into the regular file open as fd (the journal, the
 * report); what names it in records ("the journal"). Before any start. */
void uvf_cli_bodies_protect(uvf_cli_bodies *b, int fd, const char *what);
void uvf_cli_bodies_start(uvf_cli_bodies *b, uint64_t index);
/* Queues a copy. Returns 0, or a negative errno when the transfer should
 * stop: -ENOMEM, or -EIO when its file cannot be written (its record will
 * say why). May wait for the disk when far behind. */
int uvf_cli_bodies_write(uvf_cli_bodies *b, uint64_t index, const char *data,
                         size_t len);
/* The transfer of index has ended. Returns 1 if on_finished(cookie) will
 * follow, 0 if the index has no file (never started). */
int uvf_cli_bodies_finish(uvf_cli_bodies *b, uint64_t index, int replied,
                          void *cookie);
/* Hands this iteration's work to the thread. */
void uvf_cli_bodies_flush(uvf_cli_bodies *b);
/* Body bytes queued and not yet written. */
uint64_t uvf_cli_bodies_backlog(const uvf_cli_bodies *b);
void uvf_cli_bodies_notify_below(uvf_cli_bodies *b, uint64_t mark);
/* 1 when every started index has had its on_finished. */
int uvf_cli_bodies_idle(const uvf_cli_bodies *b);
/* Appends the name of the body of index under dir, as -o dir gives it. */
void uvf_cli_body_path(uvf_cli_buf *out, const char *dir, uint64_t index);
/* 1 if path is, or would be created as, a body file of dir: a name of
 * digits in that directory. */
int uvf_cli_bodies_claims(const char *dir, const char *path);
/* Stops the thread once its work is done, and frees (the memory in a
 * close callback). */
void uvf_cli_bodies_close(uvf_cli_bodies *b);

/* ---- progress line (progress.c) ---- */

typedef struct uvf_cli_counts {
  uint64_t done;
  uint64_t total; /* valid when total_known */
  int total_known;
  uint64_t in_flight;
  uint64_t ok;
  uint64_t failed;
  int stopping;           /* in the grace period after a signal */
  uint64_t grace_left_ms; /* valid when stopping */
  int hold;               /* do not draw now */
} uvf_cli_counts;

typedef struct uvf_cli_progress uvf_cli_progress;

/* Redraws a status line on fp a few times a second from what count(ud)
 * says. Returns 0 or a negative errno. */
int uvf_cli_progress_start(uvf_cli_progress **out, uv_loop_t *loop, FILE *fp,
                           void (*count)(void *ud, uvf_cli_counts *c),
                           void *ud);
/* Erases the line so other text can be printed (p NULL: nothing to do).
 * The line comes back at the next tick. */
void uvf_cli_progress_clear(uvf_cli_progress *p);
/* Erases the line for good and closes the timer (memory goes in its close
 * callback). */
void uvf_cli_progress_close(uvf_cli_progress *p);

/* ---- signals (signals.c) ---- */

typedef struct uvf_cli_signals uvf_cli_signals;

/* Calls on_signal(ud, signum) on the loop for the first SIGINT, SIGTERM or
 * SIGHUP; a second one ends the process at once with status 130. Returns
 * 0 or a negative errno. */
int uvf_cli_signals_start(uvf_cli_signals **out, uv_loop_t *loop,
                          void (*on_signal)(void *ud, int signum), void *ud);
/* Closes the handles (memory goes in their close callbacks). */
void uvf_cli_signals_close(uvf_cli_signals *s);

#endif /* UVF_CLI_H */
