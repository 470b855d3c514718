/* The URL source: command-line URLs first, then the lines of the -i file,
 * handed to the fetcher one at a time through its `next` callback, so a
 * list of millions of URLs is never held in memory.
 *
 * Lines are read into one buffer rather than with getline(): a file
 * with no newline in it (a binary file, /dev/zero) must not make us grow
 * a line without bound. A line over UVF_CLI_MAX_LINE is skipped up to its
 * newline and reported as an invalid URL; one that starts with '{' (a
 * request, whose body may be long) may have up to
 * UVF_CLI_MAX_REQUEST_LINE, the buffer growing to hold it.
 *
 * A pipe or terminal may have no full line yet. Blocking in read() would
 * stall every transfer on the loop, so then the reader answers "nothing
 * ready" and watches the descriptor with a uv_poll; the owner is told when
 * it becomes readable and asks again. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define CHUNK 65536

enum { LINE_OK, LINE_TOO_LONG, LINE_LONG_COMMENT };
#define BUF_CAP (UVF_CLI_MAX_LINE + 1 + CHUNK)

struct uvf_cli_input {
  char *const *args;
  size_t n_args;
  size_t next_arg;
  const char *name; /* for messages */
  int fd;           /* -1: no file */
  int own_fd;
  int fd_flags; /* restored at the end: uv_poll makes fds non-blocking */
  int may_wait; /* pipe or terminal: reads can wait */
  char *buf;    /* unread bytes are buf[start, end) */
  size_t cap;   /* of buf, less the byte for a NUL */
  size_t start;
  size_t end;
  int eof;
  int failed;    /* a read error ended the input early */
  int skipping;  /* inside an overlong line, up to its newline */
  int skip_kind; /* LINE_TOO_LONG or LINE_LONG_COMMENT */
  int ended;
  uint64_t lineno;
  uint64_t urls; /* handed out so far */
  uint64_t hint; /* URL lines in the file, if have_hint */
  int have_hint;
  int framed;         /* a worker's input: "POSITION TAG\tURL" lines */
  uint64_t frame_pos; /* the last frame's POSITION */
  uv_loop_t *loop;
  uv_poll_t poll;
  int poll_init;
  void (*ready)(void *ud);
  void *ready_ud;
};

/* Returns 0, or a negative errno after a message. */
static int open_file(uvf_cli_input *in, const char *path) {
  struct stat st;
  int err;

  in->name = strcmp(path, "-") == 0 ? "standard input" : path;
  in->fd =
      strcmp(path, "-") == 0 ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  if (in->fd < 0) {
    err = errno;
    uvf_cli_error("cannot open %s: %s", path, strerror(err));
    return -err;
  }
  in->own_fd = in->fd != STDIN_FILENO;
  if (fstat(in->fd, &st) != 0) {
    err = errno;
    uvf_cli_error("cannot read %s: %s", in->name, strerror(err));
    return -err;
  }
  if (S_ISDIR(st.st_mode)) {
    uvf_cli_error("cannot read %s: it is a directory", in->name);
    return -EISDIR;
  }
  in->may_wait = !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
  in->fd_flags = fcntl(in->fd, F_GETFL);
  in->buf = malloc(BUF_CAP + 1); /* + 1: room for a NUL after a last line */
  in->cap = BUF_CAP;
  if (!in->buf) {
    uvf_cli_error("out of memory");
    return -ENOMEM;
  }
  return 0;
}

int uvf_cli_input_open(uvf_cli_input **out, uv_loop_t *loop, const char *path,
                       char *const *urls, size_t n_urls) {
  uvf_cli_input *in = malloc(sizeof(*in));
  int rc;

  if (!in) {
    uvf_cli_error("out of memory");
    return -ENOMEM;
  }
  *in = (uvf_cli_input){
      .args = urls, .n_args = n_urls, .fd = -1, .fd_flags = -1, .loop = loop};
  if (path && (rc = open_file(in, path)) != 0) {
    uvf_cli_input_close(in);
    return rc;
  }
  *out = in;
  return 0;
}

static int readable_now(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLIN};

  return poll(&p, 1, 0) != 0;
}

/* Reads more bytes. Returns 1, 0 at the end (or after a read error), or
 * -1 when reading would wait. */
static int fill(uvf_cli_input *in) {
  ssize_t n;

  if (in->start > 0) {
    memmove(in->buf, in->buf + in->start, in->end - in->start);
    in->end -= in->start;
    in->start = 0;
  }
  if (in->may_wait && !readable_now(in->fd))
    return -1;
  do
    n = read(in->fd, in->buf + in->end, in->cap - in->end);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return -1;
  if (n < 0) {
    uvf_cli_error("cannot read %s: %s", in->name, strerror(errno));
    in->failed = 1;
  }
  if (n <= 0) {
    in->eof = 1;
    return 0;
  }
  in->end += (size_t)n;
  return 1;
}

static int is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Trims in place; a comment or blank line comes back empty. */
static void trim(char **s, size_t *len) {
  while (*len > 0 && is_space(**s)) {
    (*s)++;
    (*len)--;
  }
  while (*len > 0 && is_space((*s)[*len - 1]))
    (*len)--;
  if (*len > 0 && **s == '#')
    *len = 0;
}

static const char *first_char(const char *s, size_t len) {
  while (len > 0 && is_space(*s)) {
    s++;
    len--;
  }
  return len > 0 ? s : NULL;
}

/* An overlong line is judged by its head: a long comment is still a
 * comment, anything else is a URL too long to take. */
static int long_kind(const char *s, size_t len) {
  const char *c = first_char(s, len);
  return c && *c == '#' ? LINE_LONG_COMMENT : LINE_TOO_LONG;
}

/* The longest the line at s (len bytes so far) may be. A frame's line
 * was measured by the parent already. */
static size_t line_limit(const uvf_cli_input *in, const char *s, size_t len) {
  const char *c = first_char(s, len);
  if (in->framed)
    return UVF_CLI_MAX_REQUEST_LINE + 64;
  return c && *c == '{' ? UVF_CLI_MAX_REQUEST_LINE : UVF_CLI_MAX_LINE;
}

/* Room for a request line longer than the buffer: twice the buffer, up
 * to what its limit needs. Returns 0 or -ENOMEM. */
static int grow_buf(uvf_cli_input *in) {
  size_t cap = 2 * in->cap, most = UVF_CLI_MAX_REQUEST_LINE + 1 + CHUNK;
  char *b;

  if (cap > most)
    cap = most;
  if (!(b = realloc(in->buf, cap + 1)))
    return -ENOMEM;
  in->buf = b;
  in->cap = cap;
  return 0;
}

/* The next raw line without its newline, and its kind (LINE_*; the text of
 * an overlong line is not kept). Returns 1, 0 at the end, or -1 when
 * reading would wait. */
static int raw_line(uvf_cli_input *in, char **line, size_t *len, int *kind) {
  char *nl;

  for (;;) {
    *line = in->buf + in->start;
    *len = in->end - in->start;
    nl = memchr(*line, '\n', *len);
    if (nl) {
      *len = (size_t)(nl - *line);
      in->start += *len + 1;
      if (in->skipping)
        *kind = in->skip_kind;
      else
        *kind = *len > line_limit(in, *line, *len) ? long_kind(*line, *len)
                                                   : LINE_OK;
      in->skipping = 0;
      return 1;
    }
    if (!in->skipping && *len > line_limit(in, *line, *len)) {
      in->skipping = 1;
      in->skip_kind = long_kind(*line, *len);
    } else if (!in->skipping && in->start == 0 && in->end == in->cap &&
               grow_buf(in) != 0) {
      in->skipping = 1; /* no memory for it: too long after all */
      in->skip_kind = LINE_TOO_LONG;
    }
    if (in->skipping)
      in->start = in->end = 0;
    if (in->eof) {
      if (in->start == in->end && !in->skipping)
        return 0;
      *line = in->buf + in->start;
      *len = in->end - in->start;
      *kind = in->skipping ? in->skip_kind : LINE_OK;
      in->skipping = 0;
      in->start = in->end;
      return 1;
    }
    if (fill(in) < 0)
      return -1;
  }
}

static void on_readable(uv_poll_t *h, int status, int events) {
  uvf_cli_input *in = h->data;

  (void)status; /* an error shows up in the next read() */
  (void)events;
  uv_poll_stop(h);
  if (in->ready)
    in->ready(in->ready_ud);
}

/* Returns 0, or a libuv error if the descriptor cannot be watched (then
 * reads wait). */
static int watch(uvf_cli_input *in) {
  int rc = 0;

  if (!in->poll_init && (rc = uv_poll_init(in->loop, &in->poll, in->fd)) == 0) {
    in->poll.data = in;
    in->poll_init = 1;
  }
  return rc ? rc : uv_poll_start(&in->poll, UV_READABLE, on_readable);
}

#define BOM "\xEF\xBB\xBF" /* UTF-8 byte order mark, as some editors write */

static int next_arg(uvf_cli_input *in, const char **url, uint64_t *tag) {
  *url = in->args[in->next_arg++];
  /* The input starts here: `xargs uvfetch < urls.txt` passes a file's
   * mark on with its first line. */
  if (in->next_arg == 1 && strncmp(*url, BOM, 3) == 0)
    *url += 3;
  *tag = UVF_CLI_TAG_ARG | in->next_arg;
  in->urls++;
  return 1;
}

/* Lines the library could misread are handed over as "", which it reports
 * as an invalid URL; the tag's flag lets the report say why. */
static int refuse(uvf_cli_input *in, uint64_t flag, const char **url,
                  uint64_t *tag) {
  *url = "";
  *tag = in->lineno | flag;
  in->urls++;
  return 1;
}

/* The next line of the file: 1, 0 at the end, or -1 when a pipe or
 * terminal has no full line yet (it is then watched). */
static int read_line(uvf_cli_input *in, char **line, size_t *len, int *kind) {
  int rc;

  while ((rc = raw_line(in, line, len, kind)) < 0 && watch(in) != 0) {
    /* Cannot watch it: fall back to plain blocking reads. */
    in->may_wait = 0;
    if (in->fd_flags >= 0)
      fcntl(in->fd, F_SETFL, in->fd_flags & ~O_NONBLOCK);
  }
  return rc;
}

/* The next line of the file as a URL: 1 with *url and *tag, or 0 if it
 * holds none (blank, a comment). */
static int take_line(uvf_cli_input *in, char *line, size_t len, int kind,
                     const char **url, uint64_t *tag) {
  in->lineno++;
  if (kind != LINE_OK)
    return kind == LINE_TOO_LONG && refuse(in, UVF_CLI_TAG_TOO_LONG, url, tag);
  if (in->lineno == 1 && len >= 3 && memcmp(line, BOM, 3) == 0) {
    line += 3;
    len -= 3;
  }
  trim(&line, &len);
  if (len == 0)
    return 0;
  /* a NUL would cut the URL short into something else */
  if (memchr(line, '\0', len))
    return refuse(in, UVF_CLI_TAG_NUL, url, tag);
  line[len] = '\0';
  *url = line;
  *tag = in->lineno;
  in->urls++;
  return 1;
}

/* A worker's line, "POSITION TAG\tURL" from its parent, which has
 * trimmed and judged it already. Anything else is a bug: the input ends
 * there with an error. Returns 1, or 0 after that error. */
static int take_frame(uvf_cli_input *in, char *line, size_t len, int kind,
                      const char **url, uint64_t *tag) {
  char *tab = memchr(line, '\t', len), *end;
  uint64_t pos, t;

  if (kind == LINE_OK && tab && line[0] >= '0' && line[0] <= '9') {
    pos = strtoull(line, &end, 10);
    if (*end == ' ' && (t = strtoull(end + 1, &end, 10), end == tab)) {
      line[len] = '\0';
      in->frame_pos = pos;
      in->lineno++;
      in->urls++;
      *url = tab + 1;
      *tag = t;
      return 1;
    }
  }
  uvf_cli_error("internal error: a worker's input line is not a frame");
  in->failed = in->ended = 1;
  return 0;
}

static int take(uvf_cli_input *in, char *line, size_t len, int kind,
                const char **url, uint64_t *tag) {
  if (in->framed)
    return take_frame(in, line, len, kind, url, tag);
  return take_line(in, line, len, kind, url, tag);
}

int uvf_cli_input_next(uvf_cli_input *in, const char **url, uint64_t *tag) {
  char *line;
  size_t len;
  int kind, rc = 0;

  if (in->next_arg < in->n_args)
    return next_arg(in, url, tag);
  while (in->fd >= 0 && !in->ended &&
         (rc = read_line(in, &line, &len, &kind)) > 0 &&
         !take(in, line, len, kind, url, tag))
    ;
  if (rc == 0 || (in->framed && in->failed)) {
    in->ended = 1;
    rc = 0;
  }
  return rc;
}

void uvf_cli_input_framed(uvf_cli_input *in) { in->framed = 1; }

uint64_t uvf_cli_input_position(const uvf_cli_input *in) {
  return in->frame_pos;
}

void uvf_cli_input_on_ready(uvf_cli_input *in, void (*ready)(void *ud),
                            void *ud) {
  in->ready = ready;
  in->ready_ud = ud;
}

/* Counts the way uvf_cli_input_next() does, with pread() so that the
 * reader's position stays where it is. Only a line of more than 64 KiB of
 * blanks can make the two disagree; the count is only a hint. Returns 0
 * or a negative errno. */
static int count_file(int fd, uint64_t *n) {
  char *chunk = malloc(CHUNK);
  const char *p;
  const char *stop;
  off_t off = lseek(fd, 0, SEEK_CUR); /* stdin may start mid-file */
  ssize_t got;
  int at_start = 1;

  if (!chunk || off < 0) {
    free(chunk);
    return chunk ? -errno : -ENOMEM;
  }
  *n = 0;
  while ((got = pread(fd, chunk, CHUNK, off)) > 0) {
    off += got;
    stop = chunk + got;
    for (p = chunk; p < stop; p++) {
      if (!at_start && !(p = memchr(p, '\n', (size_t)(stop - p))))
        break;
      if (*p == '\n') {
        at_start = 1;
      } else if (!is_space(*p)) {
        at_start = 0;
        *n += *p != '#';
      }
    }
  }
  free(chunk);
  return got < 0 ? -EIO : 0;
}

void uvf_cli_input_precount(uvf_cli_input *in) {
  if (in->fd >= 0 && !in->may_wait && count_file(in->fd, &in->hint) == 0)
    in->have_hint = 1;
}

int uvf_cli_input_total(const uvf_cli_input *in, uint64_t *n) {
  if (in->ended) {
    *n = in->urls;
    return 1;
  }
  /* A file that grew since it was counted: the hint is wrong. */
  if (in->have_hint && in->n_args + in->hint >= in->urls) {
    *n = in->n_args + in->hint;
    return 1;
  }
  return 0;
}

int uvf_cli_input_failed(const uvf_cli_input *in) { return in->failed; }

int uvf_cli_input_count_rest(uvf_cli_input *in, uint64_t *n) {
  char *line;
  size_t len;
  int kind;

  *n = in->n_args - in->next_arg;
  if (in->fd < 0 || in->ended)
    return 0;
  if (in->may_wait)
    return -EAGAIN;
  while (raw_line(in, &line, &len, &kind) > 0) {
    if (kind == LINE_OK)
      trim(&line, &len);
    if (kind == LINE_TOO_LONG || (kind == LINE_OK && len > 0))
      (*n)++;
  }
  in->ended = 1;
  return 0;
}

static void release(uvf_cli_input *in) {
  if (in->fd >= 0 && in->fd_flags >= 0)
    fcntl(in->fd, F_SETFL, in->fd_flags);
  if (in->own_fd)
    close(in->fd);
  free(in->buf);
  free(in);
}

static void on_closed(uv_handle_t *h) { release(h->data); }

void uvf_cli_input_close(uvf_cli_input *in) {
  if (!in)
    return;
  in->ready = NULL;
  /* The descriptor is closed only after libuv lets go of it. */
  if (in->poll_init)
    uv_close((uv_handle_t *)&in->poll, on_closed);
  else
    release(in);
}
