/* Endpoints: map a request to the response to send.  The decisions are
 * the same over HTTP/1.1 and h2; h1.c and h2.c write them out.  Nothing
 * here allocates but /echo, whose reply grows with the request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ts.h"

#define MAX_DELAY_MS (24u * 3600u * 1000u)
#define H2_CANCEL 8u /* /h2/rst's RST_STREAM code unless code= says */

char ts_pattern[TS_CHUNK + 26];

/* Location values are built here; a target is at most 64 KiB. */
static char hdr_buf[TS_MAX_HEAD + 32];

struct query {
  uint64_t delay, bytes, code;
  int has_delay, has_bytes, has_code;
  const char *raw; /* after '?', or NULL */
  size_t raw_len;
};

/* 1xx, 204 and 304 carry no body and no Content-Length. */
static int bodyless(unsigned status) {
  return status < 200 || status == 204 || status == 304;
}

static void reply(const struct ts_ex *x, const struct ts_reply *r) {
  if (x->st != NULL)
    ts_h2_reply(x->st, r);
  else
    ts_h1_reply(x->c, r);
}

/* A small complete response with a literal body; counted if `done`. */
static void reply_text(const struct ts_ex *x, unsigned status, int keep,
                       int head, const char *body, unsigned done) {
  struct ts_reply r = {0};

  r.ctype = "text/plain";
  r.body = body;
  r.len = strlen(body);
  r.status = (uint16_t)status;
  r.has_len = 1;
  r.head = (uint8_t)head;
  r.keep = (uint8_t)keep;
  r.done = (uint8_t)done;
  reply(x, &r);
}

static void emit_status_text(const struct ts_ex *x, const struct ts_spec *s) {
  struct ts_reply r = {0};
  char body[64];

  if (bodyless(s->status)) {
    r.ctype = "text/plain";
    r.status = s->status;
    r.keep = s->keep;
    r.done = 1;
    reply(x, &r);
    return;
  }
  snprintf(body, sizeof(body), "%u %s\n", s->status, ts_reason(s->status));
  reply_text(x, s->status, s->keep, s->head, body, 1);
}

void ts_emit(const struct ts_ex *x, const struct ts_spec *s) {
  if (s->kind == TS_K_STATUS_TEXT)
    emit_status_text(x, s);
  else if (s->kind == TS_K_FEED)
    ts_feed_emit(x, s);
  else if (x->st != NULL)
    ts_h2_emit(x->st, s);
  else
    ts_h1_emit(x->c, s);
}

static int parse_param(const char *v, size_t n, uint64_t *out, int *has) {
  if (ts_parse_u64(v, n, out) != 0)
    return -1;
  *has = 1;
  return 0;
}

/* Only delay=, bytes= and code= mean anything; other keys (i=17) are
 * there to make URLs distinct and are skipped. */
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
    } else if (len > 5 && memcmp(q, "code=", 5) == 0) {
      if (parse_param(q + 5, len - 5, &out->code, &out->has_code) != 0)
        return -1;
    }
    q = e + 1;
  }
  return out->delay > MAX_DELAY_MS || out->code > UINT32_MAX ? -1 : 0;
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

/* The value of key= ("url=") in the query, still encoded. */
static const char *find_param(const struct query *q, const char *key,
                              size_t *len) {
  const char *p = q->raw, *end = q->raw + q->raw_len;
  size_t k = strlen(key);

  while (p != NULL && p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *e = amp ? amp : end;

    if ((size_t)(e - p) >= k && memcmp(p, key, k) == 0) {
      *len = (size_t)(e - p) - k;
      return p + k;
    }
    p = e + 1;
  }
  return NULL;
}

static const char *find_url_param(const struct query *q, size_t *len) {
  return find_param(q, "url=", len);
}

/* /redirect-to?url=<percent-encoded>: 302 to anything, file:// too. */
static void redirect_to(const struct ts_ex *x, const struct ts_req *r,
                        const struct query *q) {
  struct ts_reply rp = {0};
  int head = r->method == TS_HEAD;
  size_t n = 0;
  const char *url = find_url_param(q, &n);
  long len;

  if (url == NULL || n == 0) {
    reply_text(x, 400, r->keep, head, "missing url\n", 1);
    return;
  }
  len = n <= sizeof(hdr_buf) ? pct_decode(hdr_buf, url, n) : -1;
  if (len < 0) {
    reply_text(x, 400, r->keep, head, "bad url\n", 1);
    return;
  }
  rp.ctype = "text/plain";
  rp.body = "redirect\n";
  rp.len = 9;
  rp.hname = "Location";
  rp.hval = hdr_buf;
  rp.hval_len = (size_t)len;
  rp.status = 302;
  rp.has_len = 1;
  rp.head = (uint8_t)head;
  rp.keep = r->keep;
  rp.done = 1;
  reply(x, &rp);
}

/* /redirect/<n>: a chain of n 302s ending in "done"; the query string
 * rides along so that chains stay distinct. */
static void redirect_n(const struct ts_ex *x, const struct ts_req *r,
                       uint64_t n, const struct query *q) {
  struct ts_reply rp = {0};
  int len;

  if (n == 0) {
    reply_text(x, 200, r->keep, r->method == TS_HEAD, "done\n", 1);
    return;
  }
  len = snprintf(hdr_buf, sizeof(hdr_buf), "/redirect/%llu%s%.*s",
                 (unsigned long long)(n - 1), q->raw != NULL ? "?" : "",
                 (int)q->raw_len, q->raw != NULL ? q->raw : "");
  rp.ctype = "text/plain";
  rp.body = "redirect\n";
  rp.len = 9;
  rp.hname = "Location";
  rp.hval = hdr_buf;
  rp.hval_len = len < (int)sizeof(hdr_buf) ? (size_t)len : sizeof(hdr_buf) - 1;
  rp.status = 302;
  rp.has_len = 1;
  rp.head = r->method == TS_HEAD;
  rp.keep = r->keep;
  rp.done = 1;
  reply(x, &rp);
}

static void stats_reply(const struct ts_ex *x, const struct ts_req *r,
                        int reset) {
  struct ts_reply rp = {0};
  char json[4096];

  if (reset)
    ts_stats_reset();
  rp.ctype = "application/json";
  rp.body = json;
  rp.len = ts_stats_json(json, sizeof(json));
  rp.status = 200;
  rp.has_len = 1;
  rp.head = r->method == TS_HEAD;
  rp.keep = r->keep;
  rp.done = 0; /* /stats is never counted */
  reply(x, &rp);
}

/* Starts the response now or after its delay. */
static void start(const struct ts_ex *x, struct ts_spec *s) {
  if (s->delay_ms == 0) {
    ts_emit(x, s);
  } else if (x->st != NULL) {
    ts_h2_delay(x->st, s);
  } else {
    x->c->spec = *s;
    ts_conn_enter(x->c, TS_DELAY);
  }
}

void ts_feed_start(const struct ts_ex *x, struct ts_spec *s) { start(x, s); }

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
static void counted(const struct ts_ex *x, const struct ts_req *r,
                    const char *path, size_t n, const struct query *q) {
  struct ts_spec s = {0};
  int err = 0;

  s.status = 200;
  s.keep = r->keep;
  s.head = r->method == TS_HEAD;
  if (!slow_kind(path, n, &s, q))
    err = numbered(path, n, q, &s);
  if (err != 0) {
    reply_text(x, (unsigned)err, r->keep, s.head,
               err == 404 ? "not found\n" : "bad request\n", 1);
    return;
  }
  start(x, &s);
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

static void flaky(const struct ts_ex *x, const struct ts_req *r, uint64_t k,
                  const struct query *q) {
  uint64_t *seen = flaky_count(r->target, r->target_len);
  struct ts_reply rp = {0};
  int head = r->method == TS_HEAD;

  if (seen == NULL || (*seen)++ >= k) {
    reply_text(x, 200, r->keep, head, "ok\n", 1);
    return;
  }
  if (q->raw != NULL && memmem(q->raw, q->raw_len, "retry_after", 11)) {
    rp.hname = "Retry-After";
    rp.hval = "1";
    rp.hval_len = 1;
  }
  rp.ctype = "text/plain";
  rp.body = "busy\n";
  rp.len = 5;
  rp.status = 503;
  rp.has_len = 1;
  rp.head = (uint8_t)head;
  rp.keep = r->keep;
  rp.done = 1;
  reply(x, &rp);
}

#include "gzip-bomb.h"

/* /gzip-bomb: 8 KiB on the wire that a client decoding gzip turns into
 * 8 MiB. */
static void gzip_bomb(const struct ts_ex *x, const struct ts_req *r) {
  struct ts_reply rp = {0};

  rp.ctype = "application/octet-stream";
  rp.body = (const char *)ts_gzip_bomb;
  rp.len = sizeof(ts_gzip_bomb);
  rp.hname = "Content-Encoding";
  rp.hval = "gzip";
  rp.hval_len = 4;
  rp.status = 200;
  rp.has_len = 1;
  rp.head = r->method == TS_HEAD;
  rp.keep = r->keep;
  rp.done = 1;
  reply(x, &rp);
}

/* /bad/<what>: replies no client should accept, then a close:
 * status-line (no valid status), short-body (Content-Length 1000, 10 bytes,
 * then FIN), chunked (a chunk size that is not hex), many-headers (10,000
 * header lines, then a valid small body).  h2 has its own versions. */
static int bad_reply(const struct ts_ex *x, const char *what, size_t n) {
  struct ts_conn *c = x->c;

  if (x->st != NULL)
    return ts_h2_bad(x->st, what, n);
  if (n == 11 && memcmp(what, "status-line", 11) == 0) {
    ts_h1_raw(c, "HTTP/1.1 abc Broken\r\nContent-Length: 2\r\n\r\nno", 1);
  } else if (n == 10 && memcmp(what, "short-body", 10) == 0) {
    ts_h1_raw(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789",
              1);
  } else if (n == 7 && memcmp(what, "chunked", 7) == 0) {
    ts_h1_raw(c,
              "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              "3\r\nabc\r\nzz\r\nbroken\r\n0\r\n\r\n",
              1);
  } else if (n == 12 && memcmp(what, "many-headers", 12) == 0) {
    char line[40];
    int i;
    ts_h1_raw(c, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n", 0);
    for (i = 0; i < 10000; i++) {
      snprintf(line, sizeof(line), "X-Filler-%d: %d\r\n", i, i);
      ts_h1_raw(c, line, 0);
    }
    ts_h1_raw(c, "\r\nend", 1);
  } else {
    return -1;
  }
  c->want_close = 1;
  return 0;
}

/* /headers: the request's header lines as the body, so tests can see
 * what a client sent.  The CRLF after the last line is the parser's
 * guarantee: the blank line (HTTP/1.1), or h2.c's own. */
static void echo_headers(const struct ts_ex *x, const struct ts_req *r) {
  struct ts_reply rp = {0};

  rp.ctype = "text/plain";
  rp.body = r->headers;
  rp.len = r->headers_len + 2;
  rp.status = 200;
  rp.has_len = 1;
  rp.head = r->method == TS_HEAD;
  rp.keep = r->keep;
  rp.done = 1;
  reply(x, &rp);
}

/* /status/<code>?location=<percent-encoded>: that status with that
 * Location, for redirects of every kind (303, 307, 308...). */
static void status_location(const struct ts_ex *x, const struct ts_req *r,
                            uint64_t code, const char *loc, size_t n) {
  struct ts_reply rp = {0};
  int head = r->method == TS_HEAD;
  long len = n <= sizeof(hdr_buf) ? pct_decode(hdr_buf, loc, n) : -1;
  char body[64];

  if (len < 0 || code < 100 || code > 999) {
    reply_text(x, 400, r->keep, head, "bad request\n", 1);
    return;
  }
  snprintf(body, sizeof(body), "%u %s\n", (unsigned)code,
           ts_reason((unsigned)code));
  rp.ctype = "text/plain";
  rp.body = body;
  rp.len = bodyless((unsigned)code) ? 0 : strlen(body);
  rp.hname = "Location";
  rp.hval = hdr_buf;
  rp.hval_len = (size_t)len;
  rp.status = (uint16_t)code;
  rp.has_len = !bodyless((unsigned)code);
  rp.head = (uint8_t)head;
  rp.keep = r->keep;
  rp.done = 1;
  reply(x, &rp);
}

/* /response-headers?Name=value&Name=value: 200 with those header fields,
 * in that order, percent-decoded (a name may come twice: Set-Cookie). */
static void response_headers(const struct ts_ex *x, const struct ts_req *r,
                             const struct query *q) {
  struct ts_reply rp = {0};
  const char *p = q->raw, *end = q->raw + q->raw_len;
  char *out = hdr_buf;
  int head = r->method == TS_HEAD;

  while (p != NULL && p < end && rp.n_extra < TS_MAX_EXTRA) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *e = amp ? amp : end;
    const char *eq = memchr(p, '=', (size_t)(e - p));
    long nl = eq ? pct_decode(out, p, (size_t)(eq - p)) : -1;
    long vl = nl > 0 ? pct_decode(out + nl, eq + 1, (size_t)(e - eq - 1)) : -1;

    if (vl < 0 || memchr(out, ':', (size_t)nl)) {
      reply_text(x, 400, r->keep, head, "bad header\n", 1);
      return;
    }
    rp.xname[rp.n_extra] = out;
    rp.xname_len[rp.n_extra] = (size_t)nl;
    rp.xval[rp.n_extra] = out + nl;
    rp.xval_len[rp.n_extra++] = (size_t)vl;
    out += nl + vl;
    p = e + 1;
  }
  rp.ctype = "text/plain";
  rp.body = "ok\n";
  rp.len = 3;
  rp.status = 200;
  rp.has_len = 1;
  rp.head = (uint8_t)head;
  rp.keep = r->keep;
  rp.done = 1;
  reply(x, &rp);
}

/* ---- /echo ---- */

/* Appends s[0..n) as the inside of a JSON string: bytes past ASCII as
 * \u00XX, so any request gives valid JSON. */
static char *json_chars(char *p, const char *s, size_t n) {
  static const char hex[] = "0123456789abcdef";
  size_t i;

  for (i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];

    if (ch == '"' || ch == '\\') {
      *p++ = '\\';
      *p++ = (char)ch;
    } else if (ch < 0x20 || ch >= 0x7f) {
      memcpy(p, "\\u00", 4);
      p[4] = hex[ch >> 4];
      p[5] = hex[ch & 15];
      p += 6;
    } else {
      *p++ = (char)ch;
    }
  }
  return p;
}

static char *base64(char *p, const unsigned char *s, size_t n) {
  static const char tab[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  size_t i;

  for (i = 0; i + 2 < n; i += 3, p += 4) {
    p[0] = tab[s[i] >> 2];
    p[1] = tab[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
    p[2] = tab[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
    p[3] = tab[s[i + 2] & 63];
  }
  if (i < n) {
    p[0] = tab[s[i] >> 2];
    p[1] = tab[((s[i] & 3) << 4) | (i + 1 < n ? s[i + 1] >> 4 : 0)];
    p[2] = i + 1 < n ? tab[(s[i + 1] & 15) << 2] : '=';
    p[3] = '=';
    p += 4;
  }
  return p;
}

/* "headers": [["Name", "value"], ...] from the header lines. */
static char *json_headers(char *p, const char *h, size_t n) {
  const char *end = h + n;
  int first = 1;

  p += sprintf(p, "\"headers\":[");
  while (h < end) {
    const char *eol = memmem(h, (size_t)(end - h), "\r\n", 2);
    const char *colon, *v;

    if (eol == NULL)
      eol = end;
    colon = memchr(h, ':', (size_t)(eol - h));
    if (colon != NULL) {
      for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
        ;
      p += sprintf(p, "%s[\"", first ? "" : ",");
      p = json_chars(p, h, (size_t)(colon - h));
      memcpy(p, "\",\"", 3);
      p = json_chars(p + 3, v, (size_t)(eol - v));
      memcpy(p, "\"]", 2);
      p += 2;
      first = 0;
    }
    h = eol + 2;
  }
  *p++ = ']';
  return p;
}

/* /echo: 200 with what was received, as JSON: {"method", "target",
 * "headers": [[name, value]...] in the order received (h2: lower-case,
 * pseudo-headers left out), "body_length", "body_base64"}. */
static void echo(const struct ts_ex *x, const struct ts_req *r) {
  struct ts_reply rp = {0};
  size_t body = (size_t)r->content_length;
  size_t cap = 256 + 6 * (r->method_len + r->target_len + r->headers_len) +
               4 * (body / 3 + 1);
  char *json = malloc(cap), *p = json;

  if (json == NULL) {
    reply_text(x, 500, 0, 0, "out of memory\n", 1);
    return;
  }
  p += sprintf(p, "{\"method\":\"");
  p = json_chars(p, r->method_name, r->method_len);
  p += sprintf(p, "\",\"target\":\"");
  p = json_chars(p, r->target, r->target_len);
  p += sprintf(p, "\",");
  p = json_headers(p, r->headers, r->headers_len);
  p += sprintf(p, ",\"body_length\":%zu,\"body_base64\":\"", body);
  p = base64(p, (const unsigned char *)(r->body ? r->body : ""), body);
  p += sprintf(p, "\"}\n");
  rp.ctype = "application/json";
  rp.body = json;
  rp.len = (uint64_t)(p - json);
  rp.status = 200;
  rp.has_len = 1;
  rp.head = r->method == TS_HEAD;
  rp.keep = r->keep;
  rp.done = 1;
  reply(x, &rp);
  free(json);
}

static void begin(const struct ts_ex *x) {
  ts_stats_begin(x->c);
  if (x->st != NULL)
    ts_h2_counted(x->st);
}

/* /h2/rst and /h2/goaway exist only over h2: 0 if it was neither. */
static int h2_fault(const struct ts_ex *x, const char *path, size_t n,
                    const struct query *q) {
  if (x->st == NULL)
    return 0;
  if (n == 7 && memcmp(path, "/h2/rst", 7) == 0)
    ts_h2_rst(x->st, (uint32_t)q->delay,
              q->has_code ? (uint32_t)q->code : H2_CANCEL);
  else if (n == 10 && memcmp(path, "/h2/goaway", 10) == 0)
    ts_h2_goaway(x->st, (uint32_t)q->delay);
  else
    return 0;
  return 1;
}

static void dispatch(const struct ts_ex *x, const struct ts_req *r,
                     const char *path, size_t n, const struct query *q) {
  size_t at;
  uint64_t v;

  const char *loc;
  size_t loc_len = 0;

  begin(x);
  if (n == 8 && memcmp(path, "/headers", 8) == 0) {
    echo_headers(x, r);
  } else if (n == 5 && memcmp(path, "/echo", 5) == 0) {
    echo(x, r);
  } else if (n == 17 && memcmp(path, "/response-headers", 17) == 0) {
    response_headers(x, r, q);
  } else if (prefix(path, n, "/status/", &at) &&
             (loc = find_param(q, "location=", &loc_len)) != NULL) {
    status_location(x, r, ts_parse_u64(path + at, n - at, &v) == 0 ? v : 0, loc,
                    loc_len);
  } else if (n == 10 && memcmp(path, "/gzip-bomb", 10) == 0) {
    gzip_bomb(x, r);
  } else if (prefix(path, n, "/bad/", &at) &&
             bad_reply(x, path + at, n - at) == 0) {
    /* replied */
  } else if (prefix(path, n, "/flaky/", &at) &&
             ts_parse_u64(path + at, n - at, &v) == 0) {
    flaky(x, r, v, q);
  } else if (n == 12 && memcmp(path, "/redirect-to", 12) == 0) {
    redirect_to(x, r, q);
  } else if (prefix(path, n, "/redirect/", &at)) {
    if (ts_parse_u64(path + at, n - at, &v) == 0)
      redirect_n(x, r, v, q);
    else
      reply_text(x, 400, r->keep, r->method == TS_HEAD, "bad request\n", 1);
  } else if (ts_feed_route(x, r, path, n, q->raw, q->raw_len,
                           (uint32_t)q->delay)) {
    /* replied, or will after its delay */
  } else if (!h2_fault(x, path, n, q)) {
    counted(x, r, path, n, q);
  }
}

static void refuse(const struct ts_ex *x, unsigned status) {
  begin(x);
  reply_text(x, status, 0, 0,
             status == 431   ? "request header block too large\n"
             : status == 413 ? "request body too large\n"
             : status == 501 ? "request bodies need a Content-Length\n"
                             : "bad request\n",
             1);
  if (x->st == NULL)
    x->c->want_close = 1; /* the rest of the input cannot be trusted */
}

void ts_refuse(struct ts_conn *c, unsigned status) {
  struct ts_ex x = {c, NULL};

  refuse(&x, status);
}

void ts_route(const struct ts_ex *x, const struct ts_req *r) {
  const char *t = r->target;
  const char *qm = memchr(t, '?', r->target_len);
  size_t n = qm ? (size_t)(qm - t) : r->target_len;
  struct query q = {0};

  if (qm != NULL) {
    q.raw = qm + 1;
    q.raw_len = r->target_len - n - 1;
  }
  if (n == 6 && memcmp(t, "/stats", 6) == 0) {
    stats_reply(x, r, 0);
  } else if (n == 12 && memcmp(t, "/stats/reset", 12) == 0) {
    stats_reply(x, r, 1);
  } else if (q.raw != NULL && parse_query(q.raw, q.raw_len, &q) != 0) {
    begin(x);
    reply_text(x, 400, r->keep, r->method == TS_HEAD, "bad query\n", 1);
  } else {
    dispatch(x, r, t, n, &q);
  }
}
