/* Resuming a run from its journal (--journal): opening it, making sure it
 * was written for this input, and saying so when it was not. The records
 * themselves are replayed in their place by feed.c's `next` callback. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

void uvf_cli_resume_mismatch(const char *path, int rc, uint64_t position,
                             uint64_t tag) {
  if (rc == -EIO) {
    uvf_cli_error("cannot read back the journal %s: it changed during the "
                  "run",
                  path);
    return;
  }
  uvf_cli_error("journal %s does not match the input: its record for index "
                "%" PRIu64 " is for another URL than %s %" PRIu64
                " has; resume with the input it was written for, or start a "
                "new journal",
                path, position, tag & UVF_CLI_TAG_ARG ? "argument" : "line",
                UVF_CLI_TAG_NUMBER(tag));
}

int uvf_cli_resume_past_end(const char *path, const uvf_cli_journal *j,
                            uint64_t n_urls) {
  size_t n = uvf_cli_journal_unmatched(j);

  if (n == 0)
    return 0;
  uvf_cli_error("journal %s does not match the input: it has %zu record%s "
                "past its last URL (%" PRIu64 "); resume with the input it "
                "was written for, or start a new journal",
                path, n, n == 1 ? "" : "s", n_urls);
  return -EINVAL;
}

/* The value of a record's "file" field, to the end of the line; NULL if
 * it has none (a run without -o). */
static const char *file_field(const uvf_cli_journaled *rec, size_t *len) {
  static const char key[] = ",\"file\":";
  const char *at = memmem(rec->line, rec->len, key, sizeof(key) - 1);

  if (!at)
    return NULL;
  at += sizeof(key) - 1;
  *len = rec->len - (size_t)(at - rec->line);
  return at;
}

/* 1 if the record's "file" is null: no file then, so no telling. */
static int names_no_file(const uvf_cli_journaled *rec) {
  size_t len;
  const char *at = file_field(rec, &len);

  return at && len == 5 && memcmp(at, "null}", 5) == 0;
}

/* 1 if `at` (len bytes) is the JSON of body file path and the closing
 * brace. */
static int same_file(const char *at, size_t len, const char *path) {
  uvf_cli_buf quoted = {0};
  int same;

  uvf_cli_json_str(&quoted, path);
  uvf_cli_buf_add(&quoted, "}", 1);
  same = !quoted.oom && quoted.len == len && memcmp(quoted.data, at, len) == 0;
  uvf_cli_buf_free(&quoted);
  return same;
}

int uvf_cli_resume_fits_dir(const uvf_cli_journaled *rec, const char *dir,
                            uint64_t position, uvf_cli_buf *scratch) {
  size_t len;
  const char *at = file_field(rec, &len);

  if (!dir || !at)
    return !dir && !at;
  if (names_no_file(rec))
    return 1;
  uvf_cli_buf_reset(scratch);
  uvf_cli_body_path(scratch, dir, position);
  return !scratch->oom && same_file(at, len, scratch->data);
}

/* Records looked at before the run for the -o they were written with. */
#define DIR_LOOKS 1000

void uvf_cli_resume_wrong_dir(const char *path) {
  uvf_cli_error("journal %s was written with another -o than this run's: "
                "its records name other body files; resume with the same "
                "-o, or start a new journal",
                path);
}

/* The body files the records name must be this run's: checked before
 * anything is said or made (the -o directory), on the first records that
 * name a file; the rest are checked as they are replayed. */
static int check_dir(uvf_cli_journal *j, const uvf_cli_args *a) {
  uvf_cli_buf scratch = {0};
  uvf_cli_journaled rec;
  uint64_t position;
  size_t i;
  int fits = 1, told = 0;

  for (i = 0; !told && i < DIR_LOOKS; i++) {
    if (uvf_cli_journal_nth(j, i, &position, &rec) != 0)
      break;
    fits = uvf_cli_resume_fits_dir(&rec, a->output_dir, position, &scratch);
    told = !fits || !names_no_file(&rec);
  }
  uvf_cli_buf_free(&scratch);
  if (fits)
    return 0;
  uvf_cli_resume_wrong_dir(a->journal_path);
  return -EINVAL;
}

/* 1 if the input can be read twice: URL arguments and regular files. */
static int rereadable(const char *path) {
  struct stat st;

  return !path || (strcmp(path, "-") != 0 && stat(path, &st) == 0 &&
                   S_ISREG(st.st_mode));
}

/* Reads the input once before any transfer starts, so that a journal
 * written for another input is refused before it could mislead. Input
 * that can be read only once is checked as it is read. */
static int check(uvf_cli_journal *j, uv_loop_t *loop, const uvf_cli_args *a) {
  uvf_cli_input *in;
  uint64_t position = 0, tag;
  const char *url;
  int rc = 0;

  if (!rereadable(a->input_path))
    return 0;
  rc = uvf_cli_input_open(&in, loop, a->input_path, a->urls, a->n_urls);
  if (rc != 0)
    return rc;
  while (rc == 0 && uvf_cli_input_next(in, &url, &tag) == 1) {
    int found = uvf_cli_journal_lookup(j, position,
                                       uvf_cli_journal_key(url, tag), NULL);

    if (found < 0) {
      uvf_cli_resume_mismatch(a->journal_path, found, position, tag);
      rc = found;
    }
    position++;
  }
  if (rc == 0)
    rc = uvf_cli_resume_past_end(a->journal_path, j, position);
  uvf_cli_input_close(in);
  uvf_cli_journal_rewind(j);
  return rc;
}

int uvf_cli_resume_open(uvf_cli_journal **j, uvf_cli_positions **positions,
                        uv_loop_t *loop, const uvf_cli_args *a) {
  size_t n;
  int rc;

  *positions = NULL;
  if ((rc = uvf_cli_journal_open(j, a->journal_path)) != 0)
    return rc;
  if ((n = uvf_cli_journal_count(*j)) == 0)
    return 0; /* a new journal: no URL to skip */
  if ((rc = uvf_cli_positions_new(positions)) != 0) {
    uvf_cli_error("out of memory");
    return rc;
  }
  if ((rc = check(*j, loop, a)) != 0 || (rc = check_dir(*j, a)) != 0)
    return rc;
  uvf_cli_note("resuming: %zu URL%s done by an earlier run (journal %s)", n,
               n == 1 ? "" : "s", a->journal_path);
  return 0;
}
