/* The report and the journal: one record a finished URL, replayed ones
 * included, written through the sink (in input order or as they come)
 * and kept in the journal for a later run. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "run.h"

/* A finished URL whose record waits for its body file to be closed. */
typedef struct saved {
  uvf_result r;
  uint64_t position;
  uvf_cli_linenote note;
  _Alignas(uvf_header) char text[]; /* the history, headers and strings of
                                       r */
} saved;

/* Hands c->line, the record of input position `position`, to the sink.
 * Returns 0 or a negative errno (the run then stops). */
static int put_line(uvf_cli_run *c, uint64_t position) {
  int rc;

  if (c->stdout_tty) /* the same terminal, most likely */
    uvf_cli_progress_clear(c->progress);
  rc = uvf_cli_sink_put(c->sink, position, c->line.data, c->line.len);
  if (rc != 0)
    uvf_cli_run_output_failed(c, rc);
  return rc;
}

void uvf_cli_run_replay(uvf_cli_run *c, uint64_t position,
                        const uvf_cli_journaled *rec) {
  uvf_cli_tally_add(&c->tally, rec->ok, rec->error, rec->bytes);
  c->tally.replayed++;
  if (c->output_err != 0)
    return;
  uvf_cli_buf_reset(&c->line);
  uvf_cli_buf_add(&c->line, rec->line, rec->len);
  uvf_cli_buf_add(&c->line, "\n", 1);
  if (c->line.oom)
    uvf_cli_run_output_failed(c, -ENOMEM);
  else
    put_line(c, position);
}

/* The message of a record: invalid URLs and requests say where in the
 * input they are, since the URL alone may be empty or mangled. A line
 * that is not a request says why (its note): the library saw no URL. */
static const char *describe(uvf_cli_run *c, const uvf_result *r,
                            const uvf_cli_linenote *note) {
  uint64_t n = UVF_CLI_TAG_NUMBER(r->tag);
  const char *where = r->tag & UVF_CLI_TAG_ARG ? "argument" : "line";
  const char *why = r->message ? r->message : "";
  const char *prefix = "invalid URL: ";

  if (r->error == UVF_EINVALID_REQUEST) {
    uvf_cli_buf_reset(&c->msg);
    uvf_cli_buf_printf(&c->msg, "%s %" PRIu64 ": %s", where, n,
                       note->why ? note->why : why);
    return c->msg.oom ? why : c->msg.data;
  }
  if (r->error != UVF_EINVALID_URL)
    return why;
  if (strncmp(why, prefix, strlen(prefix)) == 0)
    why += strlen(prefix); /* the library's wording; said once below */
  uvf_cli_buf_reset(&c->msg);
  uvf_cli_buf_printf(&c->msg, "%s %" PRIu64 ": %s", where, n, prefix);
  if (r->tag & UVF_CLI_TAG_TOO_LONG)
    uvf_cli_buf_printf(&c->msg, "line longer than %d bytes", UVF_CLI_MAX_LINE);
  else if (r->tag & UVF_CLI_TAG_NUL)
    uvf_cli_buf_puts(&c->msg, "line contains a NUL byte");
  else
    uvf_cli_buf_puts(&c->msg, why);
  return c->msg.oom ? why : c->msg.data;
}

void uvf_cli_run_output_failed(uvf_cli_run *c, int err) {
  if (c->output_err != 0)
    return;
  c->output_err = err;
  if (err == -EIO && c->stdout_tty) {
    /* The terminal went away (a dropped ssh session): SIGHUP is on its
     * way or lost; either way, stop as it asks. The journal keeps
     * the records. */
    uvf_cli_run_on_signal(c, SIGHUP);
    return;
  }
  if (err != -EPIPE) /* `uvfetch ... | head` is no error worth a word */
    uvf_cli_error("cannot write the report: %s", strerror(-err));
  if (c->interrupted)
    return; /* stopping already: the grace period goes on */
  c->local_err = err != -EPIPE;
  uvf_cli_run_note_rest(c);
  uvf_cli_run_stop(c);
}

void uvf_cli_run_journal_failed(uvf_cli_run *c, int err) {
  if (c->journal_err != 0)
    return;
  c->journal_err = err;
  c->local_err = 1;
  uvf_cli_error("cannot write the journal %s: %s", c->args.journal_path,
                strerror(-err));
  uvf_cli_run_note_rest(c);
  uvf_cli_run_stop(c);
}

/* Keeps a finished record for a later run. Aborted ones are left out:
 * they were cut short by us, and the next run fetches them again. */
static void journal_record(uvf_cli_run *c, const uvf_cli_record *rec,
                           const uvf_cli_linenote *note) {
  uvf_cli_journaled j;

  if (!c->journal || rec->error == UVF_EABORTED || c->journal_refused)
    return;
  j.line = c->line.data;
  j.len = c->line.len;
  j.ok = rec->ok;
  j.error = rec->error;
  j.bytes = rec->r->bytes;
  /* A JSON line's key is the line's, noted when it was taken. */
  uvf_cli_journal_add(c->journal, rec->index,
                      note->key == rec->r->tag
                          ? note->jkey
                          : uvf_cli_journal_key(rec->r->url, rec->r->tag),
                      &j);
}

/* A worker hands its parent each record with what the parent's tally
 * and journal need, before the line: "POSITION OK ERROR BYTES UNSTARTED"
 * and a tab (procs.c reads it). */
static void frame(uvf_cli_run *c, const uvf_cli_record *rec) {
  uvf_cli_buf *f = &c->framed;
  uvf_cli_buf swap;
  int unstarted = rec->error == UVF_EABORTED && rec->r->attempts == 0;

  uvf_cli_buf_reset(f);
  uvf_cli_buf_printf(f, "%" PRIu64 " %d %d %" PRIu64 " %d\t", rec->index,
                     rec->ok, (int)rec->error, rec->r->bytes, unstarted);
  uvf_cli_buf_add(f, c->line.data, c->line.len);
  swap = c->line;
  c->line = *f;
  *f = swap;
}

static void emit(uvf_cli_run *c, const uvf_cli_record *rec,
                 const uvf_cli_linenote *note) {
  uvf_cli_buf_reset(&c->line);
  uvf_cli_record_format(&c->line, rec);
  if (c->args.worker && !c->line.oom)
    frame(c, rec);
  if (c->line.oom) {
    uvf_cli_run_output_failed(c, -ENOMEM);
    return;
  }
  journal_record(c, rec, note);
  if (c->db && rec->error != UVF_EABORTED)
    uvf_cli_run_db_record(c, rec, note->key == rec->r->tag && note->not_get,
                          c->line.data, c->line.len);
  if (c->output_err == 0 && put_line(c, rec->index) == 0)
    uvf_cli_run_backpressure(c);
}

/* Writes the record of a finished URL; file and write_err come from its
 * body file (-o). */
static void record(uvf_cli_run *c, const uvf_result *r, uint64_t position,
                   const char *message, const char *file, const char *write_err,
                   const uvf_cli_linenote *note) {
  uvf_cli_record rec;

  memset(&rec, 0, sizeof(rec));
  rec.r = r;
  rec.index = position;
  rec.ok = r->ok;
  rec.error = r->error;
  rec.message = message;
  rec.with_file = c->args.output_dir != NULL;
  rec.file = file;
  rec.with_headers = c->args.with_headers;
  rec.tag = note->key == r->tag ? note->tag : NULL;
  if (write_err) {
    /* We stopped it (on_body returned non-zero), or it had no body and
     * the file could not even be created: either way it failed. */
    rec.ok = 0;
    rec.error = UVF_EABORTED;
    rec.message = write_err;
  } else if (r->error == UVF_EABORTED && r->attempts == 0) {
    c->unstarted++; /* it waited for its host, a rate or a lookup */
  } else if (c->db && r->status == 304) {
    /* With --db a 304 (to the caller's own If-None-Match, say) means
     * the copy stored is still good. */
    rec.ok = 1;
    rec.error = UVF_OK;
    rec.message = "not modified";
  }
  uvf_cli_tally_add(&c->tally, rec.ok, rec.error, r->bytes);
  if (c->output_err == 0 || c->journal)
    emit(c, &rec, note);
}

static size_t text_len(const char *s) { return s ? strlen(s) + 1 : 0; }

static const char *copy_text(char **to, const char *s) {
  char *at = *to;
  size_t n = text_len(s);

  if (!s)
    return NULL;
  memcpy(at, s, n);
  *to += n;
  return at;
}

/* Bytes of the header fields' strings. */
static size_t headers_len(const uvf_result *r) {
  size_t n = 0, i;

  for (i = 0; r->headers && i < r->n_headers; i++)
    n += text_len(r->headers[i].name) + text_len(r->headers[i].value);
  return n;
}

/* The header fields of r at h, their strings at *to. */
static void copy_headers(uvf_header *h, char **to, const uvf_result *r) {
  size_t i;

  for (i = 0; r->headers && i < r->n_headers; i++) {
    h[i].name = copy_text(to, r->headers[i].name);
    h[i].value = copy_text(to, r->headers[i].value);
  }
}

/* A copy of r that outlives on_result, for a record that waits: its
 * header fields, the attempts of its history, then its strings. */
static saved *save(const uvf_result *r, uint64_t position,
                   const char *message) {
  size_t n = r->history ? r->n_history : 0;
  size_t nh = r->headers ? r->n_headers : 0;
  size_t fields = nh * sizeof(uvf_header), attempts = n * sizeof(uvf_attempt);
  saved *sv =
      malloc(sizeof(*sv) + fields + attempts + text_len(r->url) +
             text_len(r->final_url) + text_len(message) + headers_len(r));
  char *to;

  if (!sv)
    return NULL;
  sv->r = *r;
  sv->position = position;
  memset(&sv->note, 0, sizeof(sv->note));
  sv->r.headers = nh > 0 ? (const uvf_header *)(void *)sv->text : NULL;
  sv->r.n_headers = nh;
  if (n > 0)
    memcpy(sv->text + fields, r->history, attempts);
  sv->r.history =
      n > 0 ? (const uvf_attempt *)(void *)(sv->text + fields) : NULL;
  sv->r.n_history = (unsigned)n;
  to = sv->text + fields + attempts;
  copy_headers((uvf_header *)(void *)sv->text, &to, r);
  sv->r.url = copy_text(&to, r->url);
  sv->r.final_url = copy_text(&to, r->final_url);
  sv->r.message = copy_text(&to, message);
  sv->r.body = NULL;
  return sv;
}

void uvf_cli_run_on_result(void *ud, const uvf_result *r) {
  uvf_cli_run *c = ud;
  uint64_t position = uvf_cli_run_position_of(c, r->index);
  uvf_cli_linenote note = {~r->tag, 0, NULL, NULL, 0}; /* none: another key */
  const char *message;
  saved *sv;

  uvf_cli_run_forget(c, r->index);
  uvf_cli_notes_take(c->notes, r->tag, &note);
  message = describe(c, r, &note);
  if (c->bodies) {
    /* The record waits until the body file is closed: the close may
     * fail, and then the record says so. */
    if (!(sv = save(r, position, message)))
      uvf_cli_run_output_failed(c, -ENOMEM);
    else
      sv->note = note;
    if (uvf_cli_bodies_finish(c->bodies, position, r->status != 0, sv)) {
      if (!sv) /* no record will come */
        uvf_cli_linenote_clear(&note);
      return;
    }
    free(sv);
  }
  record(c, r, position, message, NULL, NULL, &note);
  uvf_cli_linenote_clear(&note);
}

void uvf_cli_run_on_body_done(void *ud, uint64_t index, void *cookie,
                              const char *path, const char *err) {
  uvf_cli_run *c = ud;
  saved *sv = cookie;

  (void)index;
  if (!sv) /* out of memory: no record */
    return;
  record(c, &sv->r, sv->position, sv->r.message, path, err, &sv->note);
  uvf_cli_linenote_clear(&sv->note);
  free(sv);
}
