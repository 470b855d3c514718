/* uvfetch merge: the reports (or journals) of the shards of one input
 * (--shard I/N) made into the one report a single run would have
 * written, in input order, checking that every index is there once.
 *
 * Each file is read once to note where each record is (24 bytes a
 * record, whatever its length); the notes are sorted by index and the
 * records copied out in that order, read again from their files, so that
 * a report of millions of URLs is never held in memory. The files must
 * therefore be files, not pipes. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run.h"

#define EXIT_INCOMPLETE 4
#define MAX_NAMED 20 /* ranges of missing indexes named in the message */

static const char merge_help[] =
    "Usage: uvfetch merge [--expect N] FILE...\n"
    "Merge the reports (or --journal files) of the shards of one input\n"
    "(uvfetch --shard I/N) into one report in input order, on standard\n"
    "output. Every index from 0 up must appear exactly once: the missing\n"
    "ones and those found twice are named on standard error.\n"
    "\n"
    "      --expect N    the input had N URLs: indexes 0 to N-1 (without\n"
    "                    it, missing records at the end go unnoticed)\n"
    "  -q, --quiet       no summary\n"
    "  -h, --help        show this help and exit\n"
    "\n"
    "Exit status: 0 every index once and every record ok, 1 every index\n"
    "once but some records failed, 2 usage error or a file that cannot be\n"
    "read, 4 some index missing or found twice (the rest is written).\n";

static const char journal_magic[] = "uvfetch-journal 1\n";

typedef struct where {
  uint64_t index;
  uint64_t at;    /* offset in a report; record number in a journal */
  uint32_t len;   /* of the line in a report, newline included */
  uint16_t src;   /* the file */
  uint8_t failed; /* the record says "ok":false */
} where;

typedef struct merge {
  char **paths;
  int n_files;
  int *fds;
  uvf_cli_journal **journals; /* NULL for a report */
  where *w;
  size_t n;
  size_t cap;
  uint64_t expect; /* UINT64_MAX: not given */
  int quiet;
} merge;

static int note(merge *m, uint64_t index, uint64_t at, size_t len, int src,
                int failed) {
  where *grown = uvf_cli_grow(m->w, m->n, &m->cap, sizeof(*m->w), 4096);

  if (!grown) {
    uvf_cli_error("merge: out of memory");
    return -ENOMEM;
  }
  m->w = grown;
  m->w[m->n++] =
      (where){index, at, (uint32_t)len, (uint16_t)src, (uint8_t)failed};
  return 0;
}

/* A report line's index and outcome: it starts {"index":N, and its
 * first ,"ok": is its own (a quote inside a string is escaped). Returns 0,
 * or -EINVAL if it is no record. */
static int read_record(const char *s, size_t len, uint64_t *index,
                       int *failed) {
  static const char head[] = "{\"index\":";
  const char *ok;
  char *end;

  if (len < sizeof(head) || memcmp(s, head, sizeof(head) - 1) != 0 ||
      s[sizeof(head) - 1] < '0' || s[sizeof(head) - 1] > '9')
    return -EINVAL;
  *index = strtoull(s + sizeof(head) - 1, &end, 10);
  ok = memmem(s, len, ",\"ok\":", 6);
  *failed = !ok || (size_t)(s + len - ok) < 10 || memcmp(ok + 6, "true", 4);
  return *end == ',' || *end == '}' ? 0 : -EINVAL;
}

static int bad_line(const merge *m, int src, uint64_t lineno) {
  uvf_cli_error("merge: %s, line %" PRIu64 ": not a uvfetch record",
                m->paths[src], lineno);
  return -EINVAL;
}

/* Notes where each record of report src is. */
static int scan_report(merge *m, int src) {
  FILE *fp = fdopen(dup(m->fds[src]), "r");
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  uint64_t at = 0, lineno = 0, index;
  int failed, rc = 0;

  if (!fp) {
    uvf_cli_error("merge: %s: %s", m->paths[src], strerror(errno));
    return -errno;
  }
  while (rc == 0 && (len = getline(&line, &cap, fp)) > 0) {
    lineno++;
    if (read_record(line, (size_t)len, &index, &failed) != 0 ||
        len > (ssize_t)UINT32_MAX)
      rc = bad_line(m, src, lineno);
    else
      rc = note(m, index, at, (size_t)len, src, failed);
    at += (uint64_t)len;
  }
  if (rc == 0 && ferror(fp)) {
    uvf_cli_error("merge: cannot read %s", m->paths[src]);
    rc = -EIO;
  }
  free(line);
  fclose(fp);
  return rc;
}

/* Notes each record of journal src, by its number in the journal. */
static int scan_journal(merge *m, int src) {
  uvf_cli_journaled rec;
  uint64_t position;
  size_t i, n;
  int rc;

  if ((rc = uvf_cli_journal_open(&m->journals[src], m->paths[src])) != 0)
    return rc;
  n = uvf_cli_journal_count(m->journals[src]);
  for (i = 0; i < n; i++) {
    if ((rc = uvf_cli_journal_nth(m->journals[src], i, &position, &rec)) != 0) {
      uvf_cli_error("merge: cannot read %s back", m->paths[src]);
      return -EIO;
    }
    if ((rc = note(m, position, i, 0, src, !rec.ok)) != 0)
      return rc;
  }
  return 0;
}

static int is_journal(int fd) {
  char head[sizeof(journal_magic) - 1];

  return pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
         memcmp(head, journal_magic, sizeof(head)) == 0;
}

static int scan(merge *m, int src) {
  struct stat st;

  m->fds[src] = open(m->paths[src], O_RDONLY | O_CLOEXEC);
  if (m->fds[src] < 0 || fstat(m->fds[src], &st) != 0) {
    uvf_cli_error("merge: cannot open %s: %s", m->paths[src], strerror(errno));
    return -errno;
  }
  if (!S_ISREG(st.st_mode)) {
    uvf_cli_error("merge: %s is not a regular file (it is read twice)",
                  m->paths[src]);
    return -EINVAL;
  }
  return is_journal(m->fds[src]) ? scan_journal(m, src) : scan_report(m, src);
}

static int by_index(const void *a, const void *b) {
  const where *x = a, *y = b;

  if (x->index != y->index)
    return x->index < y->index ? -1 : 1;
  return x->src != y->src ? (x->src < y->src ? -1 : 1)
                          : (x->at < y->at ? -1 : x->at > y->at);
}

/* Writes the record at w to standard output, with its newline. *buf
 * (*cap bytes) is for a report's line. Returns 0 or a negative errno. */
static int put(merge *m, const where *w, char **buf, size_t *cap) {
  uvf_cli_journaled rec;
  uint64_t position;
  const char *line;
  size_t len;
  char *grown;

  if (m->journals[w->src]) {
    if (uvf_cli_journal_nth(m->journals[w->src], (size_t)w->at, &position,
                            &rec) != 0)
      return -EIO;
    line = rec.line;
    len = rec.len;
  } else {
    if (*cap < w->len) {
      if (!(grown = realloc(*buf, w->len)))
        return -ENOMEM;
      *buf = grown;
      *cap = w->len;
    }
    if (pread(m->fds[w->src], *buf, w->len, (off_t)w->at) != (ssize_t)w->len)
      return -EIO;
    line = *buf;
    len = w->len;
  }
  if (fwrite(line, 1, len, stdout) != len ||
      ((len == 0 || line[len - 1] != '\n') && putchar('\n') == EOF))
    return errno ? -errno : -EIO;
  return 0;
}

typedef struct tally {
  uint64_t written, failed, missing, twice, named;
  uvf_cli_buf gaps; /* the first MAX_NAMED ranges, "5, 7-9" */
} tally;

static void missing(tally *t, uint64_t from, uint64_t to) {
  t->missing += to - from + 1;
  if (t->named++ >= MAX_NAMED)
    return;
  uvf_cli_buf_printf(&t->gaps, "%s%" PRIu64, t->gaps.len ? ", " : "", from);
  if (to > from)
    uvf_cli_buf_printf(&t->gaps, "-%" PRIu64, to);
}

/* Writes the records in index order, one per index; says where one is
 * found twice. Returns 0 or a negative errno. */
static int write_out(merge *m, tally *t) {
  char *buf = NULL;
  size_t cap = 0;
  uint64_t next = 0;
  size_t i;
  int rc = 0;

  for (i = 0; rc == 0 && i < m->n; i++) {
    const where *w = &m->w[i];
    if (w->index < next) {
      if (t->twice++ < MAX_NAMED)
        uvf_cli_error("merge: index %" PRIu64 " found twice (%s and %s)",
                      w->index, m->paths[m->w[i - 1].src], m->paths[w->src]);
      continue;
    }
    if (w->index >= m->expect) {
      uvf_cli_error("merge: index %" PRIu64 " in %s is past --expect %" PRIu64,
                    w->index, m->paths[w->src], m->expect);
      t->twice++;
      continue;
    }
    if (w->index > next)
      missing(t, next, w->index - 1);
    next = w->index + 1;
    rc = put(m, w, &buf, &cap);
    t->written++;
    t->failed += w->failed;
  }
  if (rc == 0 && m->expect != UINT64_MAX && next < m->expect)
    missing(t, next, m->expect - 1);
  free(buf);
  if (rc != 0)
    uvf_cli_error("merge: cannot write the report: %s", strerror(-rc));
  return rc;
}

static int options(merge *m, int argc, char **argv) {
  int i;
  char *end;

  m->expect = UINT64_MAX;
  for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(merge_help, stdout);
      return 0;
    } else if (!strcmp(argv[i], "-q") || !strcmp(argv[i], "--quiet")) {
      m->quiet = 1;
    } else if (!strcmp(argv[i], "--expect") && i + 1 < argc &&
               argv[i + 1][0] >= '0' && argv[i + 1][0] <= '9') {
      m->expect = strtoull(argv[++i], &end, 10);
      if (*end)
        return uvf_cli_usage("merge: --expect '%s' is not a number", argv[i]);
    } else {
      return uvf_cli_usage("merge: unknown option or missing value: %s",
                           argv[i]);
    }
  }
  if (i >= argc)
    return uvf_cli_usage("merge: no files: give the shards' reports");
  if (argc - i > UINT16_MAX)
    return uvf_cli_usage("merge: at most %d files", UINT16_MAX);
  m->paths = argv + i;
  m->n_files = argc - i;
  return 1;
}

static int summary(const merge *m, tally *t) {
  if (t->missing > 0)
    uvf_cli_error("merge: %" PRIu64 " index%s missing: %s%s", t->missing,
                  t->missing == 1 ? "" : "es", t->gaps.data ? t->gaps.data : "",
                  t->named > MAX_NAMED ? ", ..." : "");
  if (!m->quiet)
    fprintf(stderr,
            "uvfetch: merged %" PRIu64 " record%s from %d file%s: %" PRIu64
            " ok, %" PRIu64 " failed\n",
            t->written, t->written == 1 ? "" : "s", m->n_files,
            m->n_files == 1 ? "" : "s", t->written - t->failed, t->failed);
  uvf_cli_buf_free(&t->gaps);
  if (t->missing > 0 || t->twice > 0)
    return EXIT_INCOMPLETE;
  return t->failed > 0 ? UVF_CLI_EXIT_FAILED : UVF_CLI_EXIT_OK;
}

static void release(merge *m) {
  int i;

  for (i = 0; i < m->n_files; i++) {
    if (m->fds[i] >= 0)
      close(m->fds[i]);
    if (m->journals[i])
      uvf_cli_journal_close(m->journals[i]);
  }
  free(m->fds);
  free(m->journals);
  free(m->w);
}

int uvf_cli_merge_main(int argc, char **argv) {
  merge m;
  tally t;
  int i, rc, status = UVF_CLI_EXIT_USAGE;

  memset(&m, 0, sizeof(m));
  memset(&t, 0, sizeof(t));
  if ((rc = options(&m, argc, argv)) <= 0)
    return rc == 0 ? UVF_CLI_EXIT_OK : UVF_CLI_EXIT_USAGE;
  m.fds = malloc((size_t)m.n_files * sizeof(*m.fds));
  m.journals = calloc((size_t)m.n_files, sizeof(*m.journals));
  if (!m.fds || !m.journals) {
    uvf_cli_error("merge: out of memory");
    release(&m);
    return UVF_CLI_EXIT_USAGE;
  }
  for (i = 0; i < m.n_files; i++)
    m.fds[i] = -1;
  for (i = 0, rc = 0; rc == 0 && i < m.n_files; i++)
    rc = scan(&m, i);
  if (rc == 0) {
    qsort(m.w, m.n, sizeof(*m.w), by_index);
    rc = write_out(&m, &t);
    status = rc == 0 ? summary(&m, &t) : UVF_CLI_EXIT_LOCAL;
  }
  if (fflush(stdout) != 0 && status != UVF_CLI_EXIT_USAGE)
    status = UVF_CLI_EXIT_LOCAL;
  uvf_cli_buf_free(&t.gaps);
  release(&m);
  return status;
}
