/* Endpoints: map a request to the response to send, and write response
 * headers.  Nothing here allocates: headers and small bodies go straight
 * into the connection's output batch. */
#include <string.h>

#include "ts.h"

#define PUTS(p, lit) put((p), (lit), sizeof(lit) - 1)
#define MAX_DELAY_MS (24u * 3600u * 1000u)

char ts_pattern[TS_CHUNK + 26];

/* Room for any header block we write, the Location value aside. */
#define HEAD_ROOM 256u

struct query {
  uint64_t delay, bytes;
  int has_delay, has_bytes;
  const char *raw; /* after '?', or NULL */
  size_t raw_len;
};

static char *put(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}

static char *put_u64(char *p, uint64_t v) {
  char tmp[20];
  size_t i = sizeof(tmp);

  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  return put(p, tmp + i, sizeof(tmp) - i);
}

static const char *reason(unsigned status) {
  switch (status) {
  case 200: return "OK";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  default: return "Status";
  }
}

static char *status_line(char *p, unsigned status) {
  const char *r;

  if (status == 200) /* the hot path: one copy */
    return PUTS(p, "HTTP/1.1 200 OK\r\n");
  r = reason(status);
  p = PUTS(p, "HTTP/1.1 ");
  p = put_u64(p, status);
  *p++ = ' ';
  p = put(p, r, strlen(r));
  return PUTS(p, "\r\n");
}

/* Everything but the final CRLF, so callers may add a Location. */
char *ts_head(char *p, unsigned status, const char *ctype, int has_len,
              uint64_t len, int keep) {
  p = status_line(p, status);
  p = PUTS(p, "Content-Type: ");
  p = put(p, ctype, strlen(ctype));
  if (has_len) {
    p = PUTS(p, "\r\nContent-Length: ");
    p = put_u64(p, len);
  }
  if (keep)
    return PUTS(p, "\r\nConnection: keep-alive\r\n");
  return PUTS(p, "\r\nConnection: close\r\n");
}

/* 1xx, 204 and 304 carry no body and no Content-Length. */
static int bodyless(unsigned status) {
  return status < 200 || status == 204 || status == 304;
}

/* A small complete response with a literal body; counted if `done`. */
static void reply_text(struct ts_conn *c, unsigned status, int keep, int head,
                       const char *body, unsigned done) {
  size_t n = strlen(body);
  char *p = ts_out_reserve(c, HEAD_ROOM + n);

  p = ts_head(p, status, "text/plain", 1, n, keep);
  p = PUTS(p, "\r\n");
  if (!head)
    p = put(p, body, n);
  ts_out_commit(c, p, done);
}

static void emit_pattern(struct ts_conn *c, const struct ts_spec *s) {
  uint64_t n = s->body_len;
  int inline_body = !s->head && n <= TS_INLINE_BODY;
  char *p = ts_out_reserve(c, HEAD_ROOM + (inline_body ? n : 0));

  p = ts_head(p, s->status, "text/plain", 1, n, s->keep);
  p = PUTS(p, "\r\n");
  if (s->head || n == 0 || inline_body) {
    if (inline_body)
      p = put(p, ts_pattern, n);
    ts_out_commit(c, p, 1);
    return;
  }
  ts_out_commit(c, p, 0);
  c->body_left = n;
  c->body_off = 0;
  ts_conn_enter(c, TS_BODY);
}

static void emit_status_text(struct ts_conn *c, const struct ts_spec *s) {
  char body[64], *p;

  if (bodyless(s->status)) {
    p = ts_out_reserve(c, HEAD_ROOM);
    p = ts_head(p, s->status, "text/plain", 0, 0, s->keep);
    ts_out_commit(c, PUTS(p, "\r\n"), 1);
    return;
  }
  p = put_u64(body, s->status);
  *p++ = ' ';
  strcpy(p, reason(s->status));
  strcat(p, "\n");
  reply_text(c, s->status, s->keep, s->head, body, 1);
}

/* /drop, /stall, /trickle: headers promise more than will come soon. */
static void emit_slow(struct ts_conn *c, const struct ts_spec *s) {
  uint64_t len = s->kind == TS_K_DROP ? 100000 : s->body_len;
  size_t now = s->kind == TS_K_DROP ? 1000 : 0;
  char *p = ts_out_reserve(c, HEAD_ROOM + now);

  p = ts_head(p, 200, "text/plain", 1, len, s->keep);
  p = PUTS(p, "\r\n");
  if (s->head || len == 0) {
    ts_out_commit(c, p, 1);
    return;
  }
  p = put(p, ts_pattern, now);
  ts_out_commit(c, p, 0);
  c->body_left = len - now;
  c->body_off = now;
  if (s->kind == TS_K_DROP)
    ts_conn_enter(c, TS_DROP);
  else if (s->kind == TS_K_STALL)
    ts_conn_enter(c, TS_STALL);
  else
    ts_conn_enter(c, TS_TRICKLE);
}

void ts_emit(struct ts_conn *c, const struct ts_spec *s) {
  c->spec = *s;
  switch (s->kind) {
  case TS_K_PATTERN: emit_pattern(c, s); break;
  case TS_K_STATUS_TEXT: emit_status_text(c, s); break;
  default: emit_slow(c, s); break;
  }
}

static int parse_param(const char *v, size_t n, uint64_t *out, int *has) {
  if (ts_parse_u64(v, n, out) != 0)
    return -1;
  *has = 1;
  return 0;
}

/* Only delay= and bytes= mean anything; other keys (i=17) are there to
 * make URLs distinct and are skipped. */
static int parse_query(const char *q, size_t n, struct query *out) {
  const char *end = q + n;

  while (q < end) {
    const char *amp = memchr(q, '&', (size_t)(end - q));
    const char *e = amp ? amp : end;
    size_t len = (size_t)(e - q);

    if (len > 6 && memcmp(q, "delay=", 6) == 0) {
      if (parse_param(q + 6, len - 6, &out->delay, &out->has_delay) != 0)
        return -1;
    } else if (len > 6 && memcmp(q, "bytes=", 6) == 0) {
      if (parse_param(q + 6, len - 6, &out->bytes, &out->has_bytes) != 0)
        return -1;
    }
    q = e + 1;
  }
  return out->delay > MAX_DELAY_MS ? -1 : 0;
}

static int hexval(int ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  ch |= 0x20;
  return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decodes into dst (never longer than src).  Control bytes are
 * refused: decoded into a Location header they would split it. */
static long pct_decode(char *dst, const char *s, size_t n) {
  char *d = dst;
  size_t i;

  for (i = 0; i < n; i++) {
    int ch = (unsigned char)s[i];

    if (ch == '%') {
      int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
      int lo = hi >= 0 ? hexval(s[i + 2]) : -1;

      if (lo < 0)
        return -1;
      ch = hi * 16 + lo;
      i += 2;
    }
    if (ch < 0x20 || ch == 0x7f)
      return -1;
    *d++ = (char)ch;
  }
  return d - dst;
}

static const char *find_url_param(const struct query *q, size_t *len) {
  const char *p = q->raw, *end = q->raw + q->raw_len;

  while (p != NULL && p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *e = amp ? amp : end;

    if (e - p >= 4 && memcmp(p, "url=", 4) == 0) {
      *len = (size_t)(e - p - 4);
      return p + 4;
    }
    p = e + 1;
  }
  return NULL;
}

/* /redirect-to?url=<percent-encoded>: 302 to anything, file:// too. */
static void redirect_to(struct ts_conn *c, const struct ts_req *r,
                        const struct query *q) {
  size_t n = 0;
  const char *url = find_url_param(q, &n);
  char *p, *loc;
  long len;

  if (url == NULL || n == 0) {
    reply_text(c, 400, r->keep, r->method == TS_HEAD, "missing url\n", 1);
    return;
  }
  p = ts_out_reserve(c, HEAD_ROOM + n);
  p = ts_head(p, 302, "text/plain", 1, 9, r->keep);
  loc = PUTS(p, "Location: ");
  len = pct_decode(loc, url, n);
  if (len < 0) { /* never committed, so the half-written head is gone */
    reply_text(c, 400, r->keep, r->method == TS_HEAD, "bad url\n", 1);
    return;
  }
  p = PUTS(loc + len, "\r\n\r\n");
  if (r->method != TS_HEAD)
    p = PUTS(p, "redirect\n");
  ts_out_commit(c, p, 1);
}

/* /redirect/<n>: a chain of n 302s ending in "done"; the query string
 * rides along so that chains stay distinct. */
static void redirect_n(struct ts_conn *c, const struct ts_req *r, uint64_t n,
                       const struct query *q) {
  char *p;

  if (n == 0) {
    reply_text(c, 200, r->keep, r->method == TS_HEAD, "done\n", 1);
    return;
  }
  p = ts_out_reserve(c, HEAD_ROOM + q->raw_len);
  p = ts_head(p, 302, "text/plain", 1, 9, r->keep);
  p = PUTS(p, "Location: /redirect/");
  p = put_u64(p, n - 1);
  if (q->raw != NULL) {
    *p++ = '?';
    p = put(p, q->raw, q->raw_len);
  }
  p = PUTS(p, "\r\n\r\n");
  if (r->method != TS_HEAD)
    p = PUTS(p, "redirect\n");
  ts_out_commit(c, p, 1);
}

static void stats_reply(struct ts_conn *c, const struct ts_req *r, int reset) {
  char json[2048];
  size_t n;
  char *p;

  if (reset)
    ts_stats_reset();
  n = ts_stats_json(json, sizeof(json));
  p = ts_out_reserve(c, HEAD_ROOM + n);
  p = ts_head(p, 200, "application/json", 1, n, r->keep);
  p = PUTS(p, "\r\n");
  if (r->method != TS_HEAD)
    p = put(p, json, n);
  ts_out_commit(c, p, 0); /* /stats is never counted */
}

/* Starts the response now or after its delay. */
static void start(struct ts_conn *c, struct ts_spec *s) {
  if (s->delay_ms == 0) {
    ts_emit(c, s);
    return;
  }
  c->spec = *s;
  ts_conn_enter(c, TS_DELAY);
}

static int prefix(const char *p, size_t n, const char *lit, size_t *rest) {
  size_t l = strlen(lit);

  if (n < l || memcmp(p, lit, l) != 0)
    return 0;
  *rest = l;
  return 1;
}

/* Numbered endpoints: /delay/<ms>, /bytes/<n>, /status/<code>.  The
 * number in the path wins over the query parameter of the same sense. */
static int numbered(const char *path, size_t n, const struct query *q,
                    struct ts_spec *s) {
  size_t at = 0;
  uint64_t v;

  s->body_len = q->has_bytes ? q->bytes : 16;
  s->delay_ms = (uint32_t)q->delay;
  if (prefix(path, n, "/delay/", &at)) {
    if (ts_parse_u64(path + at, n - at, &v) != 0 || v > MAX_DELAY_MS)
      return 400;
    s->delay_ms = (uint32_t)v;
  } else if (prefix(path, n, "/bytes/", &at)) {
    if (ts_parse_u64(path + at, n - at, &v) != 0)
      return 400;
    s->body_len = v;
  } else if (prefix(path, n, "/status/", &at)) {
    if (ts_parse_u64(path + at, n - at, &v) != 0 || v < 100 || v > 999)
      return 400;
    s->status = (uint16_t)v;
    if (!q->has_bytes || bodyless(s->status))
      s->kind = TS_K_STATUS_TEXT;
  } else {
    return 404;
  }
  return 0;
}

static int slow_kind(const char *path, size_t n, struct ts_spec *s,
                     const struct query *q) {
  if (n == 5 && memcmp(path, "/drop", 5) == 0)
    s->kind = TS_K_DROP;
  else if (n == 6 && memcmp(path, "/stall", 6) == 0)
    s->kind = TS_K_STALL, s->body_len = 100;
  else if (n == 8 && memcmp(path, "/trickle", 8) == 0)
    s->kind = TS_K_TRICKLE, s->body_len = q->has_bytes ? q->bytes : 10;
  else
    return 0;
  s->delay_ms = (uint32_t)q->delay;
  return 1;
}

/* Counted endpoints: everything with a spec, which may wait. */
static void counted(struct ts_conn *c, const struct ts_req *r, const char *path,
                    size_t n, const struct query *q) {
  struct ts_spec s = {0};
  int err = 0;

  s.status = 200;
  s.keep = r->keep;
  s.head = r->method == TS_HEAD;
  if (!slow_kind(path, n, &s, q))
    err = numbered(path, n, q, &s);
  if (err != 0) {
    reply_text(c, (unsigned)err, r->keep, s.head,
               err == 404 ? "not found\n" : "bad request\n", 1);
    return;
  }
  start(c, &s);
}

/* /flaky/<k>?...: 503 for the first k requests with this exact target,
 * then 200; with "retry_after" in the query the 503s carry Retry-After: 1.
 * Counts live in a small open-addressed table keyed by the target's hash
 * (a test tool: a full table just answers 200). */
#define FLAKY_SLOTS 8192u
static struct {
  uint64_t key;
  uint64_t seen;
} flaky_tab[FLAKY_SLOTS];

static uint64_t *flaky_count(const char *t, size_t n) {
  uint64_t h = 1469598103934665603ULL;
  size_t i;

  for (i = 0; i < n; i++)
    h = (h ^ (unsigned char)t[i]) * 1099511628211ULL;
  h |= 1; /* 0 marks a free slot */
  for (i = 0; i < FLAKY_SLOTS; i++) {
    size_t s = (size_t)((h + i) % FLAKY_SLOTS);
    if (flaky_tab[s].key == h || flaky_tab[s].key == 0) {
      flaky_tab[s].key = h;
      return &flaky_tab[s].seen;
    }
  }
  return NULL;
}

static void flaky(struct ts_conn *c, const struct ts_req *r, uint64_t k,
                  const struct query *q) {
  uint64_t *seen = flaky_count(r->target, r->target_len);
  int head = r->method == TS_HEAD;
  char *p;

  if (seen == NULL || (*seen)++ >= k) {
    reply_text(c, 200, r->keep, head, "ok\n", 1);
    return;
  }
  p = ts_out_reserve(c, HEAD_ROOM + 16);
  p = ts_head(p, 503, "text/plain", 1, 5, r->keep);
  if (q->raw != NULL && memmem(q->raw, q->raw_len, "retry_after", 11))
    p = PUTS(p, "Retry-After: 1\r\n");
  p = PUTS(p, "\r\n");
  if (!head)
    p = PUTS(p, "busy\n");
  ts_out_commit(c, p, 1);
}

#include "gzip-bomb.h"

/* /gzip-bomb: 8 KiB on the wire that a client decoding gzip turns into
 * 8 MiB. */
static void gzip_bomb(struct ts_conn *c, const struct ts_req *r) {
  size_t n = sizeof(ts_gzip_bomb);
  char *p = ts_out_reserve(c, HEAD_ROOM + n);
  p = ts_head(p, 200, "application/octet-stream", 1, n, r->keep);
  p = PUTS(p, "Content-Encoding: gzip\r\n\r\n");
  if (r->method != TS_HEAD)
    p = put(p, (const char *)ts_gzip_bomb, n);
  ts_out_commit(c, p, 1);
}

/* Appends a literal to the output batch (flushing as needed). */
static void out_lit(struct ts_conn *c, const char *s, unsigned done) {
  size_t n = strlen(s);
  char *p = ts_out_reserve(c, n);
  ts_out_commit(c, put(p, s, n), done);
}

/* /bad/<what>: replies no client should accept, then a close:
 * status-line (no valid status), short-body (Content-Length 1000, 10 bytes,
 * then FIN), chunked (a chunk size that is not hex), many-headers (10,000
 * header lines, then a valid small body). */
static int bad_reply(struct ts_conn *c, const char *what, size_t n) {
  if (n == 11 && memcmp(what, "status-line", 11) == 0) {
    out_lit(c, "HTTP/1.1 abc Broken\r\nContent-Length: 2\r\n\r\nno", 1);
  } else if (n == 10 && memcmp(what, "short-body", 10) == 0) {
    out_lit(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789", 1);
  } else if (n == 7 && memcmp(what, "chunked", 7) == 0) {
    out_lit(c,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\nzz\r\nbroken\r\n0\r\n\r\n",
            1);
  } else if (n == 12 && memcmp(what, "many-headers", 12) == 0) {
    char line[40];
    int i;
    out_lit(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", 0);
    for (i = 0; i < 10000; i++) {
      snprintf(line, sizeof(line), "X-Filler-%d: %d\r\n", i, i);
      out_lit(c, line, 0);
    }
    out_lit(c, "\r\nend", 1);
  } else {
    return -1;
  }
  c->want_close = 1;
  return 0;
}

/* /headers: the request's header lines as the body, so tests can see
 * what a client sent. */
static void echo_headers(struct ts_conn *c, const struct ts_req *r) {
  size_t n = r->headers_len;
  char *p = ts_out_reserve(c, HEAD_ROOM + n + 2);

  p = ts_head(p, 200, "text/plain", 1, n + 2, r->keep);
  p = PUTS(p, "\r\n");
  if (r->method != TS_HEAD) {
    p = put(p, r->headers, n);
    p = PUTS(p, "\r\n");
  }
  ts_out_commit(c, p, 1);
}

static void dispatch(struct ts_conn *c, const struct ts_req *r,
                     const char *path, size_t n, const struct query *q) {
  size_t at;
  uint64_t v;

  ts_stats_begin(c);
  if (n == 8 && memcmp(path, "/headers", 8) == 0) {
    echo_headers(c, r);
  } else if (n == 10 && memcmp(path, "/gzip-bomb", 10) == 0) {
    gzip_bomb(c, r);
  } else if (prefix(path, n, "/bad/", &at) &&
             bad_reply(c, path + at, n - at) == 0) {
    /* replied */
  } else if (prefix(path, n, "/flaky/", &at) &&
             ts_parse_u64(path + at, n - at, &v) == 0) {
    flaky(c, r, v, q);
  } else if (n == 12 && memcmp(path, "/redirect-to", 12) == 0) {
    redirect_to(c, r, q);
  } else if (prefix(path, n, "/redirect/", &at)) {
    if (ts_parse_u64(path + at, n - at, &v) == 0)
      redirect_n(c, r, v, q);
    else
      reply_text(c, 400, r->keep, r->method == TS_HEAD, "bad request\n", 1);
  } else {
    counted(c, r, path, n, q);
  }
}

void ts_refuse(struct ts_conn *c, unsigned status) {
  ts_stats_begin(c);
  reply_text(c, status, 0, 0,
             status == 431   ? "request header block too large\n"
             : status == 405 ? "only GET and HEAD\n"
                             : "bad request\n",
             1);
  c->want_close = 1; /* the rest of the input cannot be trusted */
}

void ts_route(struct ts_conn *c, const struct ts_req *r) {
  const char *t = r->target;
  const char *qm = memchr(t, '?', r->target_len);
  size_t n = qm ? (size_t)(qm - t) : r->target_len;
  struct query q = {0};

  if (qm != NULL) {
    q.raw = qm + 1;
    q.raw_len = r->target_len - n - 1;
  }
  if (r->method == TS_OTHER) {
    ts_refuse(c, 405); /* a body may follow, which we will not parse */
  } else if (n == 6 && memcmp(t, "/stats", 6) == 0) {
    stats_reply(c, r, 0);
  } else if (n == 12 && memcmp(t, "/stats/reset", 12) == 0) {
    stats_reply(c, r, 1);
  } else if (q.raw != NULL && parse_query(q.raw, q.raw_len, &q) != 0) {
    ts_stats_begin(c);
    reply_text(c, 400, r->keep, r->method == TS_HEAD, "bad query\n", 1);
  } else {
    dispatch(c, r, t, n, &q);
  }
}
