/* The journal of a resumable run (--journal FILE).
 *
 * Each finished record is appended as one line:
 *
 *   <sum> <position> <key> <ok> <error> <bytes> <report line>
 *
 * sum is a 64-bit FNV-1a hash of the rest of the line, so a line cut short
 * by kill -9 or a crash is recognised and dropped; key hashes the URL found
 * at that input position, so a journal is never applied to another input.
 * Lines are handed over once per loop iteration to a writer thread
 * (writer.c), which writes them (the kernel keeps them if the process
 * dies) and makes them durable with an fdatasync() at most every SYNC_MS:
 * the loop never waits for the disk, slow or full.
 *
 * A resumed run holds one small entry (24 bytes) per journaled URL and
 * reads the report lines back from the file as the input reaches them.
 * Records are appended in completion order, which is close to input
 * order, so one sliding read window serves nearly all of them. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define MAGIC "uvfetch-journal 1\n"
#define MAGIC_LEN (sizeof(MAGIC) - 1)
#define SUM_LEN 16
#define SYNC_MS 200
#define WINDOW ((size_t)64 << 10)
#define LEN_BITS 24 /* a journal line is at most 16 MiB */

typedef struct entry {
  uint64_t position;
  uint64_t key;
  uint64_t where; /* offset << LEN_BITS | length, newline excluded */
} entry;

struct uvf_cli_journal {
  char *path;
  int fd;
  entry *e; /* sorted by position */
  size_t n;
  size_t cap;
  size_t cursor; /* the first entry the input has not reached */
  char *win;     /* file bytes [win_off, win_off + win_len) */
  uint64_t win_off;
  size_t win_len;
  size_t win_cap;
  uvf_cli_buf out;    /* added, not yet handed to the writer */
  uvf_cli_writer *wr; /* NULL until uvf_cli_journal_start() */
  int err;            /* the first failure: a negative errno */
};

static uint64_t fnv(uint64_t h, const void *data, size_t len) {
  const unsigned char *p = data;

  while (len--)
    h = (h ^ *p++) * UINT64_C(0x100000001b3);
  return h;
}

#define FNV_INIT UINT64_C(0xcbf29ce484222325)

uint64_t uvf_cli_journal_key(const char *url, uint64_t tag) {
  /* The flags of refused lines, not UVF_CLI_TAG_ARG: a URL is the same
   * URL whether it came as an argument or on a line. */
  unsigned char flags = (unsigned char)(tag >> 56) & 0x7f;

  return fnv(fnv(FNV_INIT, url, strlen(url)), &flags, 1);
}

/* Parses one line (newline excluded, NUL after it). Returns 0 and fills
 * rec, or -EINVAL if the line is damaged. */
static int parse(const char *line, size_t len, uint64_t *position,
                 uint64_t *key, uvf_cli_journaled *rec) {
  char sum_text[SUM_LEN + 1], *end;
  uint64_t sum;
  int ok, err, at = 0;

  if (len < SUM_LEN + 2 || line[SUM_LEN] != ' ')
    return -EINVAL;
  memcpy(sum_text, line, SUM_LEN);
  sum_text[SUM_LEN] = '\0';
  sum = strtoull(sum_text, &end, 16);
  if (*end != '\0' ||
      sum != fnv(FNV_INIT, line + SUM_LEN + 1, len - SUM_LEN - 1))
    return -EINVAL;
  if (sscanf(line + SUM_LEN + 1, "%" SCNu64 " %" SCNx64 " %d %d %" SCNu64 " %n",
             position, key, &ok, &err, &rec->bytes, &at) != 5 ||
      at == 0)
    return -EINVAL;
  rec->ok = ok;
  rec->error = (uvf_err)err;
  rec->line = line + SUM_LEN + 1 + at;
  rec->len = len - SUM_LEN - 1 - (size_t)at;
  return rec->len > 0 && rec->line[0] == '{' ? 0 : -EINVAL;
}

static int remember(uvf_cli_journal *j, uint64_t position, uint64_t key,
                    uint64_t off, size_t len) {
  entry *e = uvf_cli_grow(j->e, j->n, &j->cap, sizeof(*e), 1024);

  if (!e)
    return -ENOMEM;
  j->e = e;
  e[j->n++] = (entry){position, key, off << LEN_BITS | len};
  return 0;
}

static int by_position(const void *a, const void *b) {
  const entry *x = a, *y = b;

  if (x->position != y->position)
    return x->position < y->position ? -1 : 1;
  return x->where < y->where ? -1 : x->where > y->where; /* first wins */
}

/* Sorts the entries and drops repeated positions (the first one stays;
 * a run never journals a position twice, so these are only defensive). */
static void index_entries(uvf_cli_journal *j) {
  size_t i, kept = 0;

  if (j->n == 0)
    return; /* and j->e may be NULL, which qsort() must not get */
  qsort(j->e, j->n, sizeof(*j->e), by_position);
  for (i = 0; i < j->n; i++)
    if (kept == 0 || j->e[kept - 1].position != j->e[i].position)
      j->e[kept++] = j->e[i];
  j->n = kept;
}

/* "cannot <doing> the journal <path>: <why>", why from errno; returns
 * the negative errno. */
static int failed(const char *doing, const char *path) {
  int err = errno;

  uvf_cli_error("cannot %s the journal %s: %s", doing, path, strerror(err));
  return err ? -err : -EIO; /* a short write() sets none */
}

static int not_a_journal(const uvf_cli_journal *j) {
  uvf_cli_error("%s is not a uvfetch journal; give --journal a new file "
                "or one an earlier run wrote",
                j->path);
  return -EINVAL;
}

/* Reads the records of earlier runs; *valid is where the last complete
 * line ends, and *damaged counts the complete lines that are not intact
 * records. A line is checked on its own, so one damaged line costs only
 * its own record. Returns 0, or a negative errno after a message. */
static int load(uvf_cli_journal *j, FILE *fp, uint64_t *valid,
                size_t *damaged) {
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  uint64_t off = MAGIC_LEN, position, key;
  uvf_cli_journaled rec;
  int rc = 0;

  got = getline(&line, &cap, fp);
  if (got != (ssize_t)MAGIC_LEN || memcmp(line, MAGIC, MAGIC_LEN) != 0)
    rc = not_a_journal(j);
  while (rc == 0 && (got = getline(&line, &cap, fp)) > 0) {
    size_t len = (size_t)got - 1;

    if (line[len] != '\n')
      break; /* cut short: it goes */
    line[len] = '\0';
    if (len >= (1u << LEN_BITS) || parse(line, len, &position, &key, &rec) != 0)
      (*damaged)++;
    else if ((rc = remember(j, position, key, off, len)) != 0)
      uvf_cli_error("out of memory reading the journal %s", j->path);
    off += (uint64_t)got;
  }
  free(line);
  *valid = off;
  return rc;
}

/* A new file, or one with only (part of) the header: nothing to resume. */
static int start_file(uvf_cli_journal *j) {
  char head[MAGIC_LEN];
  ssize_t got = pread(j->fd, head, MAGIC_LEN, 0);

  if (got < 0 || memcmp(head, MAGIC, (size_t)got) != 0)
    return not_a_journal(j);
  if (ftruncate(j->fd, 0) != 0 ||
      write(j->fd, MAGIC, MAGIC_LEN) != (ssize_t)MAGIC_LEN)
    return failed("write", j->path);
  return 0;
}

/* Loads the records of a file of size bytes, and cuts off a line cut
 * short at its end, so that new records start on a line of their own. */
static int load_file(uvf_cli_journal *j, uint64_t size) {
  uint64_t valid = 0;
  size_t damaged = 0;
  FILE *fp = NULL;
  int fd, rc;

  if ((fd = dup(j->fd)) < 0 || !(fp = fdopen(fd, "r")))
    rc = failed("read", j->path);
  else
    rc = load(j, fp, &valid, &damaged);
  if (fp)
    fclose(fp);
  else if (fd >= 0)
    close(fd);
  if (rc == 0 && damaged > 0)
    uvf_cli_warn("journal %s: skipping %zu damaged record%s; "
                 "those URLs are fetched again",
                 j->path, damaged, damaged == 1 ? "" : "s");
  if (rc == 0 && valid < size) {
    uvf_cli_warn("journal %s: dropping %" PRIu64 " bytes of an "
                 "unfinished record at its end",
                 j->path, size - valid);
    if (ftruncate(j->fd, (off_t)valid) != 0)
      rc = failed("repair", j->path);
  }
  if (rc == 0)
    index_entries(j);
  return rc;
}

static int prepare_file(uvf_cli_journal *j) {
  struct stat st;

  if (fstat(j->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    uvf_cli_error("journal %s is not a regular file", j->path);
    return -EINVAL;
  }
  if (st.st_size <= (off_t)MAGIC_LEN)
    return start_file(j);
  return load_file(j, (uint64_t)st.st_size);
}

static void release(uvf_cli_journal *j) {
  if (j->fd >= 0)
    close(j->fd); /* also drops the lock */
  uvf_cli_buf_free(&j->out);
  free(j->win);
  free(j->e);
  free(j->path);
  free(j);
}

int uvf_cli_journal_open(uvf_cli_journal **out, const char *path) {
  uvf_cli_journal *j = calloc(1, sizeof(*j));
  int rc;

  if (!j || !(j->path = strdup(path))) {
    free(j);
    uvf_cli_error("out of memory");
    return -ENOMEM;
  }
  /* O_NONBLOCK: a FIFO there must not hold up open(); it is refused. */
  j->fd =
      open(path, O_RDWR | O_CREAT | O_APPEND | O_NONBLOCK | O_CLOEXEC, 0644);
  if (j->fd < 0) {
    rc = failed("open", path);
  } else if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
    rc = -errno;
    uvf_cli_error("journal %s is in use by another run", path);
  } else {
    rc = prepare_file(j);
  }
  if (rc == 0)
    *out = j;
  else
    release(j);
  return rc;
}

size_t uvf_cli_journal_count(const uvf_cli_journal *j) { return j->n; }

void uvf_cli_journal_rewind(uvf_cli_journal *j) { j->cursor = 0; }

size_t uvf_cli_journal_unmatched(const uvf_cli_journal *j) {
  return j->n - j->cursor;
}

/* Makes the window hold [off, off + len]; returns its start or NULL. */
static char *read_back(uvf_cli_journal *j, uint64_t off, size_t len) {
  size_t want = len + 1 > WINDOW ? len + 1 : WINDOW;
  ssize_t got;

  if (off >= j->win_off && off + len <= j->win_off + j->win_len)
    return j->win + (off - j->win_off);
  if (want > j->win_cap) {
    char *w = realloc(j->win, want + 1);

    if (!w)
      return NULL;
    j->win = w;
    j->win_cap = want;
  }
  got = pread(j->fd, j->win, want, (off_t)off);
  if (got < (ssize_t)len)
    return NULL;
  j->win_off = off;
  j->win_len = (size_t)got;
  return j->win;
}

/* Reads entry e back from the file: 0, or -EIO if the record there is
 * gone or damaged (the file changed during the run). */
static int read_entry(uvf_cli_journal *j, const entry *e, uint64_t *position,
                      uvf_cli_journaled *rec) {
  size_t len = (size_t)(e->where & ((1u << LEN_BITS) - 1));
  char *line = read_back(j, e->where >> LEN_BITS, len);
  uint64_t key;
  char saved;
  int rc;

  if (!line)
    return -EIO;
  saved = line[len];
  line[len] = '\0';
  rc = parse(line, len, position, &key, rec) != 0 ? -EIO : 0;
  line[len] = saved;
  return rc;
}

int uvf_cli_journal_nth(uvf_cli_journal *j, size_t i, uint64_t *position,
                        uvf_cli_journaled *rec) {
  return i < j->n ? read_entry(j, &j->e[i], position, rec) : -ENOENT;
}

int uvf_cli_journal_lookup(uvf_cli_journal *j, uint64_t position, uint64_t key,
                           uvf_cli_journaled *rec) {
  const entry *e;
  uint64_t p;

  while (j->cursor < j->n && j->e[j->cursor].position < position)
    j->cursor++;
  if (j->cursor == j->n || j->e[j->cursor].position != position)
    return 0;
  e = &j->e[j->cursor];
  if (e->key != key)
    return -EINVAL;
  j->cursor++;
  if (rec && (read_entry(j, e, &p, rec) != 0 || p != position))
    return -EIO;
  return 1;
}

void uvf_cli_journal_add(uvf_cli_journal *j, uint64_t position, uint64_t key,
                         const uvf_cli_journaled *rec) {
  uvf_cli_buf *b = &j->out;
  size_t start = b->len, len = rec->len;
  uint64_t sum;
  char text[SUM_LEN + 1];

  if (len > 0 && rec->line[len - 1] == '\n')
    len--;
  uvf_cli_buf_add(b, "0000000000000000 ", SUM_LEN + 1);
  uvf_cli_buf_printf(b, "%" PRIu64 " %016" PRIx64 " %d %d %" PRIu64 " ",
                     position, key, rec->ok ? 1 : 0, (int)rec->error,
                     rec->bytes);
  uvf_cli_buf_add(b, rec->line, len);
  if (b->oom) {
    j->err = -ENOMEM;
    return;
  }
  sum = fnv(FNV_INIT, b->data + start + SUM_LEN + 1,
            b->len - start - SUM_LEN - 1);
  snprintf(text, sizeof(text), "%016" PRIx64, sum);
  memcpy(b->data + start, text, SUM_LEN);
  uvf_cli_buf_add(b, "\n", 1);
}

int uvf_cli_journal_start(uvf_cli_journal *j, uv_loop_t *loop,
                          void (*notify)(void *ud), void *ud) {
  return uvf_cli_writer_start(&j->wr, loop, j->fd, SYNC_MS, notify, ud);
}

int uvf_cli_journal_fd(const uvf_cli_journal *j) { return j->fd; }

int uvf_cli_journal_flush(uvf_cli_journal *j) {
  if (j->out.oom && j->err == 0)
    j->err = -ENOMEM;
  if (j->wr && j->err == 0 && j->out.len > 0) {
    uvf_cli_writer_add(j->wr, j->out.data, j->out.len);
    uvf_cli_writer_flush(j->wr);
  }
  uvf_cli_buf_reset(&j->out);
  return uvf_cli_journal_error(j);
}

int uvf_cli_journal_error(uvf_cli_journal *j) {
  if (j->err == 0 && j->wr)
    j->err = uvf_cli_writer_error(j->wr);
  return j->err;
}

void uvf_cli_journal_finish(uvf_cli_journal *j) {
  uvf_cli_journal_flush(j);
  if (j->wr)
    uvf_cli_writer_finish(j->wr);
}

int uvf_cli_journal_finished(uvf_cli_journal *j) {
  return !j->wr || uvf_cli_writer_finished(j->wr);
}

int uvf_cli_journal_close(uvf_cli_journal *j) {
  int err;

  if (!j)
    return 0;
  uvf_cli_journal_flush(j);
  err = uvf_cli_writer_close(j->wr);
  if (j->err != 0 || !j->wr)
    err = j->err;
  release(j);
  return err;
}
