/* Request parsing: just enough HTTP/1.x to serve the routes.  The
 * request line, the end of the header block, and the Connection,
 * Content-Length, Expect and Transfer-Encoding headers; everything else
 * in the block is skipped. */
#include <string.h>

#include "ts.h"

int ts_parse_u64(const char *s, size_t n, uint64_t *out) {
  uint64_t v = 0;
  size_t i;

  if (n == 0 || n > 19) /* 19 digits cannot overflow 64 bits */
    return -1;
  for (i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return 0;
}

static int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch; }

static int ieq(const char *a, const char *lit, size_t n) {
  size_t i;

  for (i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lit[i])
      return 0;
  return 1;
}

/* A Connection value is a comma list: look at each token. */
static void connection_tokens(const char *v, const char *end,
                              struct ts_req *req) {
  while (v < end) {
    const char *t, *te;

    while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
      v++;
    t = v;
    while (v < end && *v != ',')
      v++;
    te = v;
    while (te > t && (te[-1] == ' ' || te[-1] == '\t'))
      te--;
    if (te - t == 5 && ieq(t, "close", 5))
      req->keep = 0;
    else if (te - t == 10 && ieq(t, "keep-alive", 10))
      req->keep = 1;
  }
}

static const char *skip_blanks(const char *v, const char *end) {
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  return v;
}

/* 1 if the line p[0..eol) is the header `name` (lower-case, with its
 * colon); *v is then where its value starts. */
static int header_is(const char *p, const char *eol, const char *name,
                     const char **v) {
  size_t n = strlen(name);

  if ((size_t)(eol - p) < n || !ieq(p, name, n))
    return 0;
  *v = skip_blanks(p + n, eol);
  return 1;
}

/* Header lines run from p (just after the request line) to end (the
 * final CRLFCRLF).  Returns -1 for a Content-Length that is not a
 * number. */
static int scan_headers(const char *p, const char *end, struct ts_req *req) {
  const char *v;

  while (p < end) {
    const char *eol = memchr(p, '\r', (size_t)(end - p));
    const char *ve;

    if (eol == NULL)
      eol = end;
    ve = eol;
    while (ve > p && (ve[-1] == ' ' || ve[-1] == '\t'))
      ve--;
    if (header_is(p, eol, "connection:", &v)) {
      connection_tokens(v, eol, req);
    } else if (header_is(p, eol, "content-length:", &v)) {
      if (ts_parse_u64(v, (size_t)(ve - v), &req->content_length) != 0)
        return -1;
    } else if (header_is(p, eol, "expect:", &v)) {
      req->expect_continue = ve - v == 12 && ieq(v, "100-continue", 12);
    } else if (header_is(p, eol, "transfer-encoding:", &v)) {
      req->chunked = 1;
    }
    p = eol + 2;
  }
  return 0;
}

static int parse_method(const char *p, size_t n) {
  if (n == 3 && memcmp(p, "GET", 3) == 0)
    return TS_GET;
  if (n == 4 && memcmp(p, "HEAD", 4) == 0)
    return TS_HEAD;
  return TS_OTHER;
}

/* Absolute-form targets (what a proxy would get) lose scheme and host. */
static int set_target(const char *t, size_t n, struct ts_req *req) {
  if (n >= 7 && ieq(t, "http://", 7)) {
    const char *slash = memchr(t + 7, '/', n - 7);

    if (slash == NULL)
      return -1;
    n -= (size_t)(slash - t);
    t = slash;
  }
  if (n == 0 || t[0] != '/')
    return -1;
  req->target = t;
  req->target_len = n;
  return 0;
}

/* "METHOD SP target SP HTTP/1.x" ending at eol. */
static int parse_request_line(const char *p, const char *eol,
                              struct ts_req *req) {
  const char *sp1 = memchr(p, ' ', (size_t)(eol - p));
  const char *sp2;

  if (sp1 == NULL || sp1 == p)
    return -1;
  sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
  if (sp2 == NULL || eol - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
    return -1;
  if (sp2[8] == '1')
    req->keep = 1;
  else if (sp2[8] == '0')
    req->keep = 0; /* HTTP/1.0 closes unless it asks otherwise */
  else
    return -1;
  req->method = (uint8_t)parse_method(p, (size_t)(sp1 - p));
  req->method_name = p;
  req->method_len = (size_t)(sp1 - p);
  return set_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), req);
}

static const char *find_end(const char *p, size_t len, size_t *scan) {
  const char *e = memmem(p + *scan, len - *scan, "\r\n\r\n", 4);

  /* Resume three bytes back: the terminator may straddle two reads. */
  if (e == NULL)
    *scan = len >= 3 ? len - 3 : 0;
  return e;
}

long ts_http_parse(const char *p, size_t len, size_t *scan,
                   struct ts_req *req) {
  const char *end;
  const char *eol;

  /* A request starts with a method token; anything else (a TLS
   * ClientHello, say) is refused at once rather than waited on. */
  if (len > 0 && !(p[0] >= 'A' && p[0] <= 'Z'))
    return -400;
  end = find_end(p, len, scan);
  if (end == NULL)
    return len > TS_MAX_HEAD ? -431 : 0;
  if ((size_t)(end - p) + 4 > TS_MAX_HEAD)
    return -431;
  eol = memchr(p, '\r', (size_t)(end - p) + 1);
  if (parse_request_line(p, eol, req) != 0)
    return -400;
  /* "\r\r\n\r\n" puts the request line's end one byte before `end`. */
  req->headers = eol + 2 <= end ? eol + 2 : end;
  req->headers_len = (size_t)(end - req->headers);
  req->content_length = 0;
  req->expect_continue = req->chunked = 0;
  req->body = NULL;
  if (eol < end && scan_headers(eol + 2, end, req) != 0)
    return -400;
  return (long)(end - p) + 4;
}
