/* HTTP/1.1 responses: status line, headers and bodies written straight
 * into the connection's output batch.  Nothing here allocates. */
#include <string.h>

#include "ts.h"

#define PUTS(p, lit) put((p), (lit), sizeof(lit) - 1)

/* Room for any header block we write, the extra header's value aside. */
#define HEAD_ROOM 256u

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

const char *ts_reason(unsigned status) {
  switch (status) {
  case 200: return "OK";
  case 204: return "No Content";
  case 206: return "Partial Content";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
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
  r = ts_reason(status);
  p = PUTS(p, "HTTP/1.1 ");
  p = put_u64(p, status);
  *p++ = ' ';
  p = put(p, r, strlen(r));
  return PUTS(p, "\r\n");
}

/* Everything but the final CRLF, so callers may add a header. */
static char *head(char *p, unsigned status, const char *ctype, int has_len,
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

static char *field(char *p, const char *name, size_t nlen, const char *v,
                   size_t vlen) {
  p = put(p, name, nlen);
  p = PUTS(p, ": ");
  p = put(p, v, vlen);
  return PUTS(p, "\r\n");
}

void ts_h1_reply(struct ts_conn *c, const struct ts_reply *r) {
  size_t body = r->head || !r->has_len ? 0 : (size_t)r->len;
  size_t extra = r->hval_len, i;
  int inline_body = body <= TS_INLINE_BODY;
  char *p;

  for (i = 0; i < r->n_extra; i++)
    extra += r->xname_len[i] + r->xval_len[i] + 4;
  p = ts_out_reserve(c, HEAD_ROOM + extra + (inline_body ? body : 0));
  p = head(p, r->status, r->ctype, r->has_len, r->len, r->keep);
  if (r->hname != NULL)
    p = field(p, r->hname, strlen(r->hname), r->hval, r->hval_len);
  for (i = 0; i < r->n_extra; i++)
    p = field(p, r->xname[i], r->xname_len[i], r->xval[i], r->xval_len[i]);
  p = PUTS(p, "\r\n");
  if (body > 0 && inline_body)
    p = put(p, r->body, body);
  ts_out_commit(c, p, inline_body ? r->done : 0);
  if (!inline_body) /* larger than the batch: sent after it */
    ts_out_send(c, r->body, body, r->done);
}

static void emit_pattern(struct ts_conn *c, const struct ts_spec *s) {
  uint64_t n = s->body_len;
  int inline_body = !s->head && n <= TS_INLINE_BODY;
  char *p = ts_out_reserve(c, HEAD_ROOM + (inline_body ? n : 0));

  p = head(p, s->status, "text/plain", 1, n, s->keep);
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

/* /drop, /stall, /trickle: headers promise more than will come soon. */
static void emit_slow(struct ts_conn *c, const struct ts_spec *s) {
  uint64_t len = s->kind == TS_K_DROP ? 100000 : s->body_len;
  size_t now = s->kind == TS_K_DROP ? 1000 : 0;
  char *p = ts_out_reserve(c, HEAD_ROOM + now);

  p = head(p, 200, "text/plain", 1, len, s->keep);
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

void ts_h1_emit(struct ts_conn *c, const struct ts_spec *s) {
  c->spec = *s;
  if (s->kind == TS_K_PATTERN)
    emit_pattern(c, s);
  else
    emit_slow(c, s);
}

/* Appends a literal to the output batch (flushing as needed). */
void ts_h1_raw(struct ts_conn *c, const char *s, unsigned done) {
  size_t n = strlen(s);
  char *p = ts_out_reserve(c, n);
  ts_out_commit(c, put(p, s, n), done);
}
