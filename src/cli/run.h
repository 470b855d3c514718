/* One run of the command: its state, and the functions its files share.
 * main.c starts it and turns its outcome into an exit status; setup.c
 * wires the modules of cli.h together on one loop; feed.c hands the
 * fetcher its URLs; records.c writes the report and the journal; grace.c
 * stops a run after a signal; end.c winds it down. */
#ifndef UVF_CLI_RUN_H
#define UVF_CLI_RUN_H

#include "cli.h"

typedef struct uvf_cli_run {
  uvf_cli_args args;
  uv_loop_t loop;
  uvf_fetcher *f;
  uvf_cli_input *in;
  uvf_cli_sink *sink;
  uvf_cli_bodies *bodies;
  uvf_cli_progress *progress;
  uvf_cli_signals *signals;
  uvf_cli_journal *journal; /* --journal; NULL if none */
  struct uvf_cli_db *db;    /* --db; NULL if none */
  int64_t run_id;           /* this run's row in the database */
  int db_finishing;
  int db_failed;
  struct uvf_cli_validators *validators; /* --db's, sent back; or NULL */
  uvf_cli_positions *positions;          /* NULL when nothing is skipped */
  uvf_cli_reqs *reqs;                    /* input lines as requests */
  uvf_cli_notes *notes;                  /* of lines whose record is to come */
  uvf_cli_idmap *where;        /* library index -> input position, in a run that
                                  skips lines (--shard, a worker); else NULL */
  uint64_t handed;             /* requests handed to the fetcher */
  struct uvf_cli_procs *procs; /* --procs K: the workers; else NULL */
  uvf_cli_buf framed;          /* a worker's record with its frame */
  uint64_t position;           /* input URLs read so far */
  uint64_t taken;              /* of them, handed to the fetcher */
  int input_ended;
  int journal_refused;
  int journal_err;     /* a failed journal write: a negative errno */
  uvf_cli_writer *out; /* the report's writer thread */
  uv_prepare_t flusher;
  int flusher_init;
  uv_timer_t grace;
  int grace_init;
  int grace_over;
  uv_timer_t watchdog; /* after the grace period: is the reader reading? */
  int watchdog_init;
  uint64_t reader_mark; /* report bytes written at the last look */
  size_t reader_due;    /* bytes the writer had for it then */
  int reader_stalled;   /* it had bytes to take, and took none */
  int draining;         /* interrupted: transfers in flight may finish */
  uvf_cli_buf line;
  uvf_cli_buf msg;
  uvf_cli_tally tally;
  size_t window; /* bytes of held report lines before uvf_pause() */
  int paused;
  int stopping; /* aborted: never resume */
  int done;     /* on_done seen */
  int fetcher_closed;
  int journal_finishing;
  int report_finishing;
  int wound_down; /* every thread done, every handle closed */
  uint64_t lost;  /* report lines a reader never took */
  int interrupted;
  int local_err;           /* stopped by a local error: exit 3 */
  int rest_noted;          /* rest, rest_counted are set */
  int rest_counted;        /* rest is the number of URLs not started */
  uint64_t rest_journaled; /* of them, done by an earlier run */
  uint64_t unstarted;      /* given an index, aborted before any attempt */
  int replay_yielded;      /* the next callback yielded after a replay */
  uint64_t rest;
  int input_failed;
  int output_err; /* a failed write to stdout: a negative errno */
  int stdout_tty;
  uint64_t t0;
} uvf_cli_run;

/* ---- setup.c ---- */

/* Opens and starts everything a run needs. Returns 0, or a negative
 * errno after a message. */
int uvf_cli_run_setup(uvf_cli_run *c);
/* After a failed setup: releases what was made, through the loop. */
void uvf_cli_run_abandon(uvf_cli_run *c);

/* ---- feed.c: the fetcher's URLs ---- */

/* What uvf_cli_run_next_line() did: uvf_callbacks.next's answers, and
 * those it only uses itself. */
enum {
  UVF_CLI_LINE_WAIT = -1,
  UVF_CLI_LINE_END = 0,
  UVF_CLI_LINE_TAKEN = 1,
  UVF_CLI_LINE_REPLAYED = 2,
  UVF_CLI_LINE_SKIPPED = 3
};

/* The next input line to fetch, at input position c->position - 1: the
 * journal's records (a resumed run) are replayed on the way, and lines
 * of other shards (--shard) skipped. Returns LINE_TAKEN with *line and
 * *tag, LINE_END, or LINE_WAIT (a pipe has no line yet, or too much
 * waits in memory). */
int uvf_cli_run_next_line(uvf_cli_run *c, const char **line, uint64_t *tag);
/* The hash that routes an input line (route.c): its origin, or the whole
 * line with --shard-by url. */
uint64_t uvf_cli_run_route(uvf_cli_run *c, const char *line, uint64_t tag);
/* The fetcher's callbacks (uvf_callbacks). */
int uvf_cli_run_next_request(void *ud, const uvf_request **rq);
void uvf_cli_run_on_start(void *ud, uint64_t index, uint64_t tag);
int uvf_cli_run_on_body(void *ud, uint64_t index, const char *data, size_t len);
/* The input reader's: the input has a line again. */
void uvf_cli_run_input_ready(void *ud);
/* Pauses the fetcher while too much waits in memory, resumes it once
 * that has gone down. */
void uvf_cli_run_backpressure(uvf_cli_run *c);
/* With worker processes: 1 if no more lines should be handed out while
 * the report waits (then the writer says when it has caught up), 0 once
 * it has come down to half its window. */
int uvf_cli_run_hold_report(uvf_cli_run *c);
/* Where library index `index` is in the input. */
uint64_t uvf_cli_run_position_of(const uvf_cli_run *c, uint64_t index);
/* Index `index` has its result: its position is not asked again. */
void uvf_cli_run_forget(uvf_cli_run *c, uint64_t index);

/* ---- procs.c: --procs K, the parent of K worker processes ---- */

/* Starts the workers and hands them the input. Returns 0, or a negative
 * errno after a message. */
int uvf_cli_procs_start(uvf_cli_run *c);
/* Hands out more lines if there is room (uvf_cli_run_backpressure()). */
void uvf_cli_procs_pump(uvf_cli_run *c);
/* Stops the workers: at once after a local error; after a signal they
 * have the grace period (uvf_cli_run_stop()). */
void uvf_cli_procs_stop(uvf_cli_run *c);
/* The signals' on_signal in the parent. */
void uvf_cli_procs_on_signal(void *ud, int signum);
/* Lines handed out and still without a record. */
uint64_t uvf_cli_procs_in_flight(const uvf_cli_run *c);
/* After the loop: what outlives its handles. */
void uvf_cli_procs_free(uvf_cli_run *c);
/* uvfetch merge (merge.c): returns the exit status. */
int uvf_cli_merge_main(int argc, char **argv);
/* In a worker, before its run: dies with its parent, and is pinned to a
 * core with --pin. Returns 0, or a negative errno after a message. */
int uvf_cli_worker_prepare(const uvf_cli_args *a);

/* ---- records.c: the report and the journal ---- */

/* uvf_callbacks.on_result. */
void uvf_cli_run_on_result(void *ud, const uvf_result *r);
/* The body files' on_finished: the record of a URL that waited for its
 * file. */
void uvf_cli_run_on_body_done(void *ud, uint64_t index, void *cookie,
                              const char *path, const char *err);
/* A URL an earlier run finished: its record comes from the journal. */
void uvf_cli_run_replay(uvf_cli_run *c, uint64_t position,
                        const uvf_cli_journaled *rec);
/* The report or the journal cannot be written (err: a negative errno):
 * says so, once, and stops the run. */
void uvf_cli_run_output_failed(uvf_cli_run *c, int err);
void uvf_cli_run_journal_failed(uvf_cli_run *c, int err);

/* ---- dbsink.c: --db ---- */

/* Opens --db (if given) and records the run. Returns 0, or a negative
 * errno after a message. */
int uvf_cli_run_db_open(uvf_cli_run *c);
/* Queues the record rec, whose report line is line[0..len). */
/* not_get: the record's request was no GET (its validators are not
 * stored). */
void uvf_cli_run_db_record(uvf_cli_run *c, const uvf_cli_record *rec,
                           int not_get, const char *line, size_t len);
/* Winding down: 1 once the database is committed and closed. */
int uvf_cli_run_db_done(uvf_cli_run *c);
/* Stops the run, once, if the database could not be written. */
void uvf_cli_run_db_check(uvf_cli_run *c);

/* ---- grace.c: stopping ---- */

/* Aborts what is in flight and takes no more URLs. */
void uvf_cli_run_stop(uvf_cli_run *c);
/* Counts, where that is cheap, the input left unstarted. */
void uvf_cli_run_note_rest(uvf_cli_run *c);
/* The signals' on_signal: SIGINT, SIGTERM or SIGHUP. */
void uvf_cli_run_on_signal(void *ud, int signum);

/* ---- end.c: winding down ---- */

/* uvf_callbacks.on_done. */
void uvf_cli_run_on_done(void *ud);
/* The fetcher's close callback. */
void uvf_cli_run_fetcher_closed(void *ud);
/* Takes the next steps of the end of the run that can be taken now. */
void uvf_cli_run_wind_down(uvf_cli_run *c);
/* News from a thread (the report's writer, the journal's, the body
 * files'): a write failed, a backlog went down, or one is done. */
void uvf_cli_run_news(void *ud);

#endif /* UVF_CLI_RUN_H */
