/* HTTP/2 with nghttp2's server session, over TLS (ALPN h2) or in the
 * clear with prior knowledge (h2c).
 *
 * nghttp2 does the framing, HPACK and flow control.  Each request
 * stream goes through the same routes as HTTP/1.1 (routes.c); this file
 * turns their replies into HEADERS and DATA.  A body is copied once:
 * from the pattern, or from a small buffer of the stream's, straight
 * into the connection's output batch, as nghttp2 asks for each DATA
 * frame (NGHTTP2_DATA_FLAG_NO_COPY).  Delays, trickles and faults have
 * a libuv timer per stream.
 *
 * Lifetimes: nghttp2 may call back into a connection that closes under
 * it, so the session and the streams still open are freed only with
 * the connection itself, once its last handle is closed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "ts.h"

#define PUMP_BUDGET (1024u * 1024u) /* bytes per turn of the loop */
#define STREAM_WINDOW (1u << 20)    /* for request bodies */
#define CONN_WINDOW (16u << 20)
#define MAX_HEADER_BLOCK (1u << 20) /* /bad/many-headers: 10,000 fields */
#define MANY_HEADERS 10000

/* What DATA a stream's body provider gives. */
enum body_kind {
  B_DATA,    /* `left` bytes, then the end of the stream */
  B_STALL,   /* nothing, ever */
  B_TRICKLE, /* one byte per timer tick */
  B_DROP     /* `left` bytes, then RST_STREAM(INTERNAL_ERROR) */
};

enum fault { F_NONE, F_RST, F_GOAWAY };

struct ts_stream {
  struct ts_conn *c;
  struct ts_stream *prev, *next; /* the connection's open streams */
  uv_timer_t timer;              /* delay, trickle, fault; set up on use */
  struct ts_spec spec;           /* the response waiting on the timer */
  char *path;                    /* :path, until routed */
  char *echo;                    /* header lines, for /headers */
  size_t path_len, echo_len, echo_cap;
  char *method_name; /* :method, until routed */
  char *body;        /* the request's body, until routed */
  size_t body_len, body_cap;
  char *own;         /* a body copied from a ts_reply */
  uint64_t left;     /* body bytes not yet handed to nghttp2 */
  uint64_t off;      /* index of the next body byte to send */
  uint32_t credit;   /* trickle: bytes the timer has allowed */
  uint32_t rst_code; /* /h2/rst */
  int32_t id;
  uint8_t method;     /* enum ts_method */
  uint8_t kind;       /* enum body_kind */
  uint8_t fault;      /* enum fault, what the timer does */
  uint8_t counted;    /* in the request counters until it closes */
  uint8_t routed;     /* its request was answered (or is being) */
  uint8_t timer_init; /* the timer is a handle of the connection's */
  uint8_t gone;       /* closed by nghttp2; freed with its timer */
};

static nghttp2_session_callbacks *callbacks;
static nghttp2_option *option;
static size_t turn_bytes; /* sent by this ts_h2_send, for the budget */

/* ---- streams ---- */

static void on_timer_close(uv_handle_t *h) {
  struct ts_stream *st = h->data;
  struct ts_conn *c = st->c;

  if (st->gone)
    free(st);
  ts_conn_unref(c);
}

static void stream_free(struct ts_stream *st) {
  free(st->path);
  free(st->echo);
  free(st->own);
  free(st->method_name);
  free(st->body);
  st->path = st->echo = st->own = st->method_name = st->body = NULL;
  if (st->timer_init) {
    st->gone = 1;
    uv_close((uv_handle_t *)&st->timer, on_timer_close);
  } else {
    free(st);
  }
}

static void unlink_stream(struct ts_stream *st) {
  if (st->prev)
    st->prev->next = st->next;
  else
    st->c->streams = st->next;
  if (st->next)
    st->next->prev = st->prev;
}

/* nghttp2 closed the stream: answered, reset, or refused by GOAWAY. */
static void stream_closed(struct ts_stream *st) {
  struct ts_conn *c = st->c;

  if (c->closing)
    return; /* the connection frees every stream */
  if (st->counted)
    ts_stats_done(c, 1);
  unlink_stream(st);
  stream_free(st);
}

static void timer_start(struct ts_stream *st, uint64_t ms, uint64_t repeat,
                        uv_timer_cb cb) {
  if (!st->timer_init) {
    uv_timer_init(ts_srv.loop, &st->timer);
    st->timer.data = st;
    st->timer_init = 1;
    st->c->handles++;
  }
  uv_update_time(ts_srv.loop); /* as conn.c: the loop's clock is old */
  uv_timer_start(&st->timer, cb, ms, repeat);
}

void ts_h2_counted(struct ts_stream *st) { st->counted = 1; }

/* ---- responses ---- */

static nghttp2_nv field(const char *name, size_t nlen, const char *value,
                        size_t vlen) {
  /* nghttp2 copies names and values when the response is submitted. */
  nghttp2_nv nv = {(uint8_t *)name, (uint8_t *)value, nlen, vlen,
                   NGHTTP2_NV_FLAG_NONE};
  return nv;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf,
                         size_t len, uint32_t *flags, nghttp2_data_source *src,
                         void *ud) {
  struct ts_stream *st = src->ptr;
  uint64_t n = st->left < len ? st->left : len;

  if (st->kind == B_STALL || (st->kind == B_TRICKLE && st->credit == 0))
    return NGHTTP2_ERR_DEFERRED;
  if (st->kind == B_DROP && n == 0)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* INTERNAL_ERROR */
  if (st->kind == B_TRICKLE) {
    n = n < 1 ? n : 1;
    st->credit--;
  }
  st->left -= n;
  *flags |= NGHTTP2_DATA_FLAG_NO_COPY; /* on_send_data copies it */
  if (st->left == 0 && st->kind != B_DROP)
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

/* Submits the response; `body` says whether DATA follows.  A stream
 * nghttp2 will not take is reset. */
static void submit(struct ts_stream *st, const nghttp2_nv *nv, size_t n,
                   int body) {
  nghttp2_data_provider prd;

  prd.source.ptr = st;
  prd.read_callback = read_body;
  if (nghttp2_submit_response(st->c->h2, st->id, nv, n, body ? &prd : NULL))
    nghttp2_submit_rst_stream(st->c->h2, NGHTTP2_FLAG_NONE, st->id,
                              NGHTTP2_INTERNAL_ERROR);
}

/* Keeps a copy of a body that does not come from the pattern. */
static int own_body(struct ts_stream *st, const char *p, size_t n) {
  st->own = malloc(n ? n : 1);
  if (st->own == NULL) {
    nghttp2_submit_rst_stream(st->c->h2, NGHTTP2_FLAG_NONE, st->id,
                              NGHTTP2_INTERNAL_ERROR);
    return -1;
  }
  memcpy(st->own, p, n);
  st->left = n;
  st->kind = B_DATA;
  return 0;
}

/* The header fields of a reply: :status, content-type, content-length
 * when it has one, and the extra field (its name lowercased, as h2
 * wants). */
struct fields {
  nghttp2_nv nv[4 + TS_MAX_EXTRA];
  size_t n;
  char status[12], len[24], name[32];
  char xname[TS_MAX_EXTRA][64];
};

/* h2 wants names lower-cased; longer ones than the room are cut. */
static size_t lower_name(char *dst, size_t cap, const char *s, size_t n) {
  size_t i;

  for (i = 0; i < n && i < cap; i++)
    dst[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
  return i;
}

static void fields_of(struct fields *f, const struct ts_reply *r) {
  size_t i, n;

  n = (size_t)snprintf(f->status, sizeof(f->status), "%u", r->status);
  f->n = 0;
  f->nv[f->n++] = field(":status", 7, f->status, n);
  f->nv[f->n++] = field("content-type", 12, r->ctype, strlen(r->ctype));
  if (r->has_len) {
    n = (size_t)snprintf(f->len, sizeof(f->len), "%llu",
                         (unsigned long long)r->len);
    f->nv[f->n++] = field("content-length", 14, f->len, n);
  }
  if (r->hname != NULL) {
    for (i = 0; r->hname[i] != '\0' && i < sizeof(f->name); i++)
      f->name[i] = (char)(r->hname[i] | 0x20); /* letters and '-' */
    f->nv[f->n++] = field(f->name, i, r->hval, r->hval_len);
  }
  for (i = 0; i < r->n_extra && i < TS_MAX_EXTRA; i++) {
    n = lower_name(f->xname[i], sizeof(f->xname[i]), r->xname[i],
                   r->xname_len[i]);
    f->nv[f->n++] = field(f->xname[i], n, r->xval[i], r->xval_len[i]);
  }
}

void ts_h2_reply(struct ts_stream *st, const struct ts_reply *r) {
  struct fields f;
  int body = !r->head && r->has_len && r->len > 0;

  fields_of(&f, r);
  if (body && own_body(st, r->body, (size_t)r->len) != 0)
    return;
  submit(st, f.nv, f.n, body);
}

static void on_trickle(uv_timer_t *t) {
  struct ts_stream *st = t->data;

  st->credit++;
  nghttp2_session_resume_data(st->c->h2, st->id);
  ts_conn_advance(st->c);
}

/* Pattern bodies and the slow kinds: DATA from the pattern.  /drop
 * promises 100,000 bytes, sends 1000 and resets the stream; /stall
 * sends its headers only; /trickle one byte a second. */
void ts_h2_emit(struct ts_stream *st, const struct ts_spec *s) {
  static const uint8_t kinds[] = {[TS_K_PATTERN] = B_DATA,
                                  [TS_K_DROP] = B_DROP,
                                  [TS_K_STALL] = B_STALL,
                                  [TS_K_TRICKLE] = B_TRICKLE};
  struct ts_reply r = {0};
  struct fields f;
  int body;

  r.ctype = "text/plain";
  r.status = s->status;
  r.has_len = 1;
  r.len = s->kind == TS_K_DROP ? 100000 : s->body_len;
  fields_of(&f, &r);
  body = !s->head && r.len > 0;
  st->kind = kinds[s->kind];
  st->left = s->kind == TS_K_DROP ? 1000 : r.len;
  submit(st, f.nv, f.n, body);
  if (body && st->kind == B_TRICKLE)
    timer_start(st, 1000, 1000, on_trickle);
}

static void on_delay(uv_timer_t *t) {
  struct ts_stream *st = t->data;
  struct ts_ex x = {st->c, st};
  struct ts_spec s = st->spec;

  s.delay_ms = 0;
  ts_emit(&x, &s);
  ts_conn_advance(st->c);
}

void ts_h2_delay(struct ts_stream *st, const struct ts_spec *s) {
  st->spec = *s;
  timer_start(st, s->delay_ms, 0, on_delay);
}

/* ---- faults ---- */

static void reply_text(struct ts_stream *st, const char *text) {
  struct ts_reply r = {0};

  r.ctype = "text/plain";
  r.body = text;
  r.len = strlen(text);
  r.status = 200;
  r.has_len = 1;
  ts_h2_reply(st, &r);
}

/* GOAWAY names the last stream received so far: those up to it are
 * answered as usual, later ones are never processed (on_begin_headers
 * ignores them until nghttp2, once the GOAWAY is out, refuses them
 * itself).  The connection closes when the kept ones are done. */
static void goaway_now(struct ts_stream *st) {
  struct ts_conn *c = st->c;
  int32_t last = nghttp2_session_get_last_proc_stream_id(c->h2);

  if (c->goaway_last == 0 || last < c->goaway_last)
    c->goaway_last = last; /* a GOAWAY never raises it */
  nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL,
                        0);
  reply_text(st, "goaway\n");
}

static void fault_now(struct ts_stream *st) {
  if (st->fault == F_RST)
    nghttp2_submit_rst_stream(st->c->h2, NGHTTP2_FLAG_NONE, st->id,
                              st->rst_code);
  else
    goaway_now(st);
}

static void on_fault(uv_timer_t *t) {
  struct ts_stream *st = t->data;

  fault_now(st);
  ts_conn_advance(st->c);
}

static void fault(struct ts_stream *st, int what, uint32_t delay_ms) {
  st->fault = (uint8_t)what;
  if (delay_ms == 0)
    fault_now(st);
  else
    timer_start(st, delay_ms, 0, on_fault);
}

void ts_h2_rst(struct ts_stream *st, uint32_t delay_ms, uint32_t code) {
  st->rst_code = code;
  fault(st, F_RST, delay_ms);
}

void ts_h2_goaway(struct ts_stream *st, uint32_t delay_ms) {
  fault(st, F_GOAWAY, delay_ms);
}

/* 10,000 x-filler-<i>: <i> fields and a 3-byte body, as over HTTP/1.1. */
static void many_headers(struct ts_stream *st) {
  nghttp2_nv *nv = malloc((MANY_HEADERS + 3) * sizeof(*nv));
  char *text = malloc(MANY_HEADERS * 24);
  char *p = text;
  size_t n = 0;
  int i;

  if (nv == NULL || text == NULL || own_body(st, "end", 3) != 0) {
    free(nv);
    free(text);
    return;
  }
  nv[n++] = field(":status", 7, "200", 3);
  nv[n++] = field("content-length", 14, "3", 1);
  for (i = 0; i < MANY_HEADERS; i++) {
    int k = sprintf(p, "x-filler-%d", i);
    int v = sprintf(p + k, "%d", i);

    nv[n++] = field(p, (size_t)k, p + k, (size_t)v);
    p += k + v;
  }
  submit(st, nv, n, 1);
  free(nv);
  free(text);
}

/* /bad/<what> over h2: status-line sends ":status: abc", short-body
 * promises 1000 bytes and ends the stream after 10, many-headers sends
 * 10,000 fields.  There is no chunked encoding in h2: -1, so 404. */
int ts_h2_bad(struct ts_stream *st, const char *what, size_t n) {
  nghttp2_nv nv[2];

  if (n == 11 && memcmp(what, "status-line", 11) == 0) {
    nv[0] = field(":status", 7, "abc", 3);
    nv[1] = field("content-length", 14, "2", 1);
    if (own_body(st, "no", 2) == 0)
      submit(st, nv, 2, 1);
  } else if (n == 10 && memcmp(what, "short-body", 10) == 0) {
    nv[0] = field(":status", 7, "200", 3);
    nv[1] = field("content-length", 14, "1000", 4);
    if (own_body(st, "0123456789", 10) == 0)
      submit(st, nv, 2, 1);
  } else if (n == 12 && memcmp(what, "many-headers", 12) == 0) {
    many_headers(st);
  } else {
    return -1;
  }
  return 0;
}

/* ---- nghttp2 callbacks: output ---- */

/* Counts bytes against the budget; past it the batch goes out as a
 * uv_write, whose callback resumes sending on a later turn. */
static void spent(struct ts_conn *c, size_t n) {
  turn_bytes += n;
  if (turn_bytes >= PUMP_BUDGET && c->writes == 0)
    ts_out_flush_async(c);
}

/* Frames other than DATA, serialized by nghttp2. */
static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len,
                       int flags, void *ud) {
  struct ts_conn *c = ud;
  char *p;

  if (c->closing || c->writes > 0) /* the socket is full: wait */
    return NGHTTP2_ERR_WOULDBLOCK;
  p = ts_out_reserve(c, len);
  memcpy(p, data, len);
  ts_out_commit(c, p + len, 0);
  spent(c, len);
  return (ssize_t)len;
}

static int on_send_data(nghttp2_session *s, nghttp2_frame *frame,
                        const uint8_t *framehd, size_t len,
                        nghttp2_data_source *src, void *ud) {
  struct ts_conn *c = ud;
  struct ts_stream *st = src->ptr;
  const char *body = st->own ? st->own + st->off : ts_pattern + st->off % 26;
  char *p;

  if (c->closing || c->writes > 0)
    return NGHTTP2_ERR_WOULDBLOCK;
  /* No padding was asked for: the frame is its header and the data. */
  p = ts_out_reserve(c, 9 + len);
  memcpy(p, framehd, 9);
  memcpy(p + 9, body, len);
  ts_out_commit(c, p + 9 + len, 0);
  st->off += len;
  spent(c, 9 + len);
  return 0;
}

/* ---- nghttp2 callbacks: input ---- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f,
                            void *ud) {
  struct ts_conn *c = ud;
  struct ts_stream *st;

  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
    return 0;
  if (c->goaway_last != 0 && f->hd.stream_id > c->goaway_last)
    return 0; /* after our GOAWAY: never processed */
  st = calloc(1, sizeof(*st));
  if (st == NULL)
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  st->c = c;
  st->id = f->hd.stream_id;
  st->method = TS_OTHER;
  st->next = c->streams;
  if (st->next)
    st->next->prev = st;
  c->streams = st;
  nghttp2_session_set_stream_user_data(s, st->id, st);
  return 0;
}

static int method_of(const uint8_t *v, size_t n) {
  if (n == 3 && memcmp(v, "GET", 3) == 0)
    return TS_GET;
  if (n == 4 && memcmp(v, "HEAD", 4) == 0)
    return TS_HEAD;
  return TS_OTHER;
}

static char *copy(const uint8_t *v, size_t n) {
  char *p = malloc(n + 1);

  if (p != NULL) {
    memcpy(p, v, n);
    p[n] = '\0';
  }
  return p;
}

static int path_is(const struct ts_stream *st, const char *p, size_t n) {
  return st->path_len >= n && memcmp(st->path, p, n) == 0 &&
         (st->path_len == n || st->path[n] == '?');
}

/* Pseudo-headers come first, so :path is known by the first field.
 * /headers and /echo show them, /feed/ looks for validators among them. */
static int wants_echo(const struct ts_stream *st) {
  return path_is(st, "/headers", 8) || path_is(st, "/echo", 5) ||
         (st->path_len > 6 && memcmp(st->path, "/feed/", 6) == 0);
}

static int echo_add(struct ts_stream *st, const uint8_t *name, size_t nlen,
                    const uint8_t *value, size_t vlen) {
  size_t need = st->echo_len + nlen + vlen + 4;

  if (need > st->echo_cap) {
    size_t cap = need < 1024 ? 1024 : 2 * need;
    char *p = realloc(st->echo, cap);

    if (p == NULL)
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    st->echo = p;
    st->echo_cap = cap;
  }
  memcpy(st->echo + st->echo_len, name, nlen);
  memcpy(st->echo + st->echo_len + nlen, ": ", 2);
  memcpy(st->echo + st->echo_len + nlen + 2, value, vlen);
  memcpy(st->echo + st->echo_len + nlen + 2 + vlen, "\r\n", 2);
  st->echo_len = need;
  return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f,
                     const uint8_t *name, size_t nlen, const uint8_t *value,
                     size_t vlen, uint8_t flags, void *ud) {
  struct ts_stream *st =
      nghttp2_session_get_stream_user_data(s, f->hd.stream_id);

  if (st == NULL || st->routed)
    return 0;
  if (nlen == 5 && memcmp(name, ":path", 5) == 0) {
    free(st->path);
    st->path = copy(value, vlen);
    st->path_len = st->path ? vlen : 0;
    return st->path ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (nlen == 7 && memcmp(name, ":method", 7) == 0) {
    st->method = (uint8_t)method_of(value, vlen);
    free(st->method_name);
    st->method_name = copy(value, vlen);
    return st->method_name ? 0 : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (nlen > 0 && name[0] != ':' && wants_echo(st))
    return echo_add(st, name, nlen, value, vlen);
  return 0;
}

/* The whole request is in: route it as HTTP/1.1 would be.  /headers
 * gets the fields as "name: value" lines; like the parser's, the last
 * CRLF follows the lines rather than being counted in them. */
static void request(struct ts_stream *st) {
  struct ts_ex x = {st->c, st};
  struct ts_req r = {0};

  st->routed = 1;
  r.target = st->path ? st->path : "*";
  r.target_len = st->path ? st->path_len : 1;
  r.method = st->path ? st->method : TS_OTHER;
  r.keep = 1;
  r.headers = st->echo_len > 0 ? st->echo : "\r\n";
  r.headers_len = st->echo_len > 0 ? st->echo_len - 2 : 0;
  r.method_name = st->method_name ? st->method_name : "GET";
  r.method_len = strlen(r.method_name);
  r.body = st->body ? st->body : "";
  r.content_length = st->body_len;
  ts_route(&x, &r);
  free(st->path);
  free(st->echo);
  free(st->method_name);
  free(st->body);
  st->path = st->echo = st->method_name = st->body = NULL;
}

/* A request's DATA, kept for the route (/echo); past TS_MAX_BODY the
 * stream is reset. */
static int on_data(nghttp2_session *s, uint8_t flags, int32_t id,
                   const uint8_t *data, size_t len, void *ud) {
  struct ts_stream *st = nghttp2_session_get_stream_user_data(s, id);
  size_t cap;
  char *p;

  if (st == NULL || st->routed)
    return 0;
  if (st->body_len + len > TS_MAX_BODY)
    return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id,
                                     NGHTTP2_REFUSED_STREAM) == 0
               ? 0
               : NGHTTP2_ERR_CALLBACK_FAILURE;
  if (st->body_len + len > st->body_cap) {
    cap = st->body_cap ? st->body_cap : 4096;
    while (cap < st->body_len + len)
      cap *= 2;
    if ((p = realloc(st->body, cap)) == NULL)
      return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    st->body = p;
    st->body_cap = cap;
  }
  memcpy(st->body + st->body_len, data, len);
  st->body_len += len;
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *ud) {
  struct ts_stream *st;

  if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
      !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (st != NULL && !st->routed)
    request(st);
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code,
                           void *ud) {
  struct ts_stream *st = nghttp2_session_get_stream_user_data(s, id);

  if (st != NULL)
    stream_closed(st);
  return 0;
}

/* ---- the session ---- */

void ts_h2_init(void) {
  nghttp2_session_callbacks *cb;

  if (nghttp2_session_callbacks_new(&cb) != 0 ||
      nghttp2_option_new(&option) != 0)
    abort();
  nghttp2_session_callbacks_set_send_callback(cb, on_send);
  nghttp2_session_callbacks_set_send_data_callback(cb, on_send_data);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_option_set_max_send_header_block_length(option, MAX_HEADER_BLOCK);
  callbacks = cb;
}

void ts_h2_cleanup(void) {
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_option_del(option);
  callbacks = NULL;
  option = NULL;
}

int ts_h2_start(struct ts_conn *c) {
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, ts_srv.h2_max_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1}, /* keeps no closed streams */
  };

  if (nghttp2_session_server_new2(&c->h2, callbacks, c, option) != 0)
    return -1;
  if (nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 3) != 0 ||
      nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0,
                                            CONN_WINDOW) != 0)
    return -1; /* the session goes with the connection */
  ts_stats_h2_conn();
  return 0;
}

/* Closing: the stream timers go now, everything else with the memory. */
void ts_h2_close(struct ts_conn *c) {
  struct ts_stream *st;

  for (st = c->streams; st != NULL; st = st->next)
    if (st->timer_init)
      uv_close((uv_handle_t *)&st->timer, on_timer_close);
}

void ts_h2_free(struct ts_conn *c) {
  nghttp2_session_del(c->h2);
  c->h2 = NULL;
  while (c->streams != NULL) {
    struct ts_stream *st = c->streams;

    unlink_stream(st);
    st->timer_init = 0; /* closed by ts_h2_close */
    stream_free(st);
  }
}

int ts_h2_input(struct ts_conn *c, const char *p, size_t n) {
  ssize_t r = nghttp2_session_mem_recv(c->h2, (const uint8_t *)p, n);

  if (r < 0)
    ts_log("h2: %s", nghttp2_strerror((int)r));
  return r < 0 ? -1 : 0;
}

int ts_h2_send(struct ts_conn *c) {
  turn_bytes = 0;
  return nghttp2_session_send(c->h2) == 0 ? 0 : -1;
}

int ts_h2_done(struct ts_conn *c) {
  return !nghttp2_session_want_read(c->h2) &&
         !nghttp2_session_want_write(c->h2);
}
