/* Connections: reading, the output batch, body streaming, timers and
 * closing.
 *
 * The fast path allocates nothing.  Reads land in one shared buffer and
 * are parsed in place; only bytes that must wait (a partial request, or
 * requests pipelined behind a slow one) are copied into the connection.
 * Responses go into one shared batch, written with uv_try_write; only
 * what the socket refuses is copied into an owned uv_write request. */
#include <stdlib.h>
#include <string.h>

#include "ts.h"

#define PUMP_BUDGET (1024u * 1024u) /* body bytes per turn of the loop */
#define LINGER_MS 2000u
#define IN_SMALL 4096u /* input buffers this small are kept */

struct wreq {
  uv_write_t req;
  struct ts_conn *c;
  unsigned done; /* requests completed by this write */
  char data[];   /* the copied bytes, if not static */
};

static char read_buf[64 * 1024];
static char out_buf[TS_OUT_CAP];
static const struct ts_conn *out_owner; /* whose responses are batched */
static size_t out_len;
static unsigned out_done;

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

static void on_write(uv_write_t *req, int status) {
  struct wreq *w = (struct wreq *)req;
  struct ts_conn *c = w->c;
  unsigned done = w->done;

  free(w);
  c->writes--;
  ts_stats_done(c, done);
  if (c->closing)
    return;
  if (status < 0)
    ts_conn_close(c);
  else
    ts_conn_advance(c);
}

/* Queues p[0..n); copies it unless it lives forever (the pattern). */
static void write_async(struct ts_conn *c, const char *p, size_t n,
                        unsigned done, int copy) {
  struct wreq *w = malloc(sizeof(*w) + (copy ? n : 0));
  uv_buf_t b;

  if (w == NULL) {
    ts_conn_close(c);
    return;
  }
  w->c = c;
  w->done = done;
  if (copy)
    p = memcpy(w->data, p, n);
  b = uv_buf_init((char *)p, (unsigned)n);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
    free(w);
    ts_conn_close(c);
    return;
  }
  c->writes++;
}

/* Writes what it can now and queues the rest; may close c on error. */
static void write_some(struct ts_conn *c, const char *p, size_t n,
                       unsigned done, int copy) {
  int r = UV_EAGAIN;
  uv_buf_t b = uv_buf_init((char *)p, (unsigned)n);

  if (c->writes == 0) /* else try_write would jump the queue's order */
    r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
  if (r == UV_EAGAIN)
    r = 0;
  if (r < 0)
    ts_conn_close(c);
  else if ((size_t)r == n)
    ts_stats_done(c, done);
  else
    write_async(c, p + r, n - (size_t)r, done, copy);
}

void ts_out_flush(struct ts_conn *c) {
  size_t n = out_len;
  unsigned done = out_done;

  out_len = 0;
  out_done = 0;
  if (n > 0 && !c->closing)
    write_some(c, out_buf, n, done, 1);
}

char *ts_out_reserve(struct ts_conn *c, size_t need) {
  if (out_len > 0 && out_owner != c)
    abort(); /* a path forgot to flush: bytes would reach the wrong peer */
  if (out_len + need > sizeof(out_buf))
    ts_out_flush(c);
  out_owner = c;
  return out_buf + out_len;
}

void ts_out_commit(struct ts_conn *c, const char *end, unsigned done) {
  (void)c;
  out_len = (size_t)(end - out_buf);
  out_done += done;
}

/* Sends the next `n` bytes of the body pattern, `sync` allowing
 * uv_try_write first.  Completes the request with the last byte. */
static void body_send(struct ts_conn *c, size_t n, int sync) {
  const char *p = ts_pattern + c->body_off % 26;
  unsigned done;

  c->body_off += n;
  c->body_left -= n;
  done = c->body_left == 0;
  if (done) /* all of it is libuv's now; the request ends with it */
    c->state = TS_IDLE;
  if (sync)
    write_some(c, p, n, done, 0);
  else
    write_async(c, p, n, done, 0);
}

/* Streams a long body in chunks of the pattern, a bounded amount per
 * turn so that one fast reader cannot starve the others. */
static void body_pump(struct ts_conn *c) {
  size_t budget = PUMP_BUDGET;

  ts_out_flush(c); /* the headers first */
  while (!c->closing && c->writes == 0 && c->state == TS_BODY) {
    size_t n = c->body_left < TS_CHUNK ? (size_t)c->body_left : TS_CHUNK;

    body_send(c, n, budget > 0);
    budget = budget > n ? budget - n : 0;
  }
}

static void conn_timer(struct ts_conn *c, uint64_t ms, uint64_t repeat,
                       uv_timer_cb cb) {
  if (c->closing) /* a write failed under the caller: nothing to time */
    return;
  if (!c->timer_init) {
    uv_timer_init(ts_srv.loop, &c->timer);
    c->timer.data = c;
    c->timer_init = 1;
    c->handles++;
  }
  /* The loop's clock dates from before this turn's I/O; a request that
   * arrived late in a busy turn would otherwise wake early. */
  uv_update_time(ts_srv.loop);
  uv_timer_start(&c->timer, cb, ms, repeat);
}

static void on_delay(uv_timer_t *t) {
  struct ts_conn *c = t->data;
  struct ts_spec s = c->spec;

  s.delay_ms = 0;
  c->state = TS_IDLE;
  ts_emit(c, &s);
  ts_conn_advance(c);
}

static void on_trickle(uv_timer_t *t) {
  struct ts_conn *c = t->data;

  body_send(c, 1, 1);
  if (c->closing)
    return;
  if (c->state != TS_TRICKLE) {
    uv_timer_stop(t);
    ts_conn_advance(c);
  }
}

static void on_linger_timeout(uv_timer_t *t) { ts_conn_close(t->data); }

static void on_shutdown(uv_shutdown_t *req, int status) {
  struct ts_conn *c = req->data;

  if (c->closing)
    return;
  if (status < 0 || c->eof)
    ts_conn_close(c);
  else
    conn_timer(c, LINGER_MS, 0, on_linger_timeout);
}

/* Closing with unread input makes the kernel send RST, which can destroy
 * a response the peer has not read yet.  So: FIN first, then read and
 * discard until the peer closes too, or the linger time runs out. */
static void begin_close(struct ts_conn *c) {
  c->state = TS_LINGER;
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    ts_conn_close(c);
}

static void on_close(uv_handle_t *h) {
  struct ts_conn *c = h->data;

  if (--c->handles == 0) {
    free(c->in);
    free(c);
  }
}

/* `reset` sends RST instead of FIN, for /drop. */
static void close_conn(struct ts_conn *c, int reset) {
  if (c->closing)
    return;
  ts_stats_conn_close(c);
  c->closing = 1;
  if (c->prev)
    c->prev->next = c->next;
  else
    ts_srv.conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  if (!reset || uv_tcp_close_reset(&c->tcp, on_close) != 0)
    uv_close((uv_handle_t *)&c->tcp, on_close);
  if (c->timer_init)
    uv_close((uv_handle_t *)&c->timer, on_close);
}

void ts_conn_close(struct ts_conn *c) { close_conn(c, 0); }

/* /drop: reset mid-body, but only once its 1000 bytes are out: RST
 * discards whatever is still queued. */
static void drop_now(struct ts_conn *c) {
  ts_out_flush(c);
  if (!c->closing && c->writes == 0)
    close_conn(c, 1);
}

void ts_conn_enter(struct ts_conn *c, int state) {
  c->state = (uint8_t)state;
  if (state == TS_DELAY)
    conn_timer(c, c->spec.delay_ms, 0, on_delay);
  else if (state == TS_TRICKLE)
    conn_timer(c, 1000, 1000, on_trickle);
}

static int ensure_cap(struct ts_conn *c, size_t need) {
  size_t cap = c->icap ? c->icap : 1024;
  char *p;

  if (need <= c->icap)
    return 0;
  while (cap < need)
    cap *= 2;
  if (cap > TS_IN_MAX)
    cap = TS_IN_MAX;
  p = realloc(c->in, cap);
  if (p == NULL)
    return -1;
  if (c->ibase == c->in) /* not while parsing from the shared buffer */
    c->ibase = p;
  c->in = p;
  c->icap = cap;
  return 0;
}

/* After parsing, keep only the unconsumed bytes, in the owned buffer. */
static void input_settle(struct ts_conn *c) {
  size_t keep = c->ilen - c->ioff;

  if (keep > 0 && c->ibase != c->in && ensure_cap(c, keep) != 0) {
    ts_conn_close(c);
    return;
  }
  if (keep > 0)
    memmove(c->in, c->ibase + c->ioff, keep);
  c->ibase = c->in;
  c->ilen = keep;
  c->ioff = 0;
  if (keep == 0 && c->icap > IN_SMALL) { /* big ones were exceptional */
    free(c->in);
    c->ibase = c->in = NULL;
    c->icap = 0;
  }
}

static int discarding(const struct ts_conn *c) {
  return c->state == TS_STALL || c->state == TS_LINGER;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct ts_conn *c = h->data;
  size_t want = c->ilen + 16384;

  (void)hint;
  if (c->ilen == 0 || discarding(c)) {
    *buf = uv_buf_init(read_buf, sizeof(read_buf));
    return;
  }
  /* Bytes wait already: append to them, in place. */
  if (ensure_cap(c, want < TS_IN_MAX ? want : TS_IN_MAX) != 0) {
    *buf = uv_buf_init(NULL, 0); /* read_cb gets UV_ENOBUFS */
    return;
  }
  *buf = uv_buf_init(c->in + c->ilen, (unsigned)(c->icap - c->ilen));
}

/* Read while there is room, and always where input is only watched for
 * the peer leaving (stall, linger). */
static void read_control(struct ts_conn *c) {
  int want = !c->closing && !c->eof && (discarding(c) || c->ilen < TS_IN_MAX);

  if (want && !c->reading) {
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
      ts_conn_close(c);
      return;
    }
    c->reading = 1;
  } else if (!want && c->reading) {
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
  }
}

/* Clients almost never half-close, so a FIN means the peer gave up:
 * whatever waits (delay, stall, trickle, long body) is abandoned, and
 * in_flight drops at once, as tests of cancellation expect.  Requests
 * already received that are answered at once still are, for the
 * `printf 'GET ...' | nc` kind of client. */
static void read_end(struct ts_conn *c, ssize_t err) {
  c->reading = 0;
  if (err != UV_EOF || c->state != TS_IDLE) {
    ts_conn_close(c);
    return;
  }
  c->eof = 1;
  ts_conn_advance(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  struct ts_conn *c = s->data;

  if (n < 0) {
    read_end(c, n);
    return;
  }
  if (n == 0 || discarding(c))
    return;
  if (buf->base == read_buf) {
    c->ibase = read_buf;
    c->ilen = (size_t)n;
    c->ioff = 0;
    c->scan = 0;
  } else {
    c->ilen += (size_t)n;
  }
  ts_conn_advance(c);
}

/* Parses and answers one request; 0 when none is complete. */
static int next_request(struct ts_conn *c) {
  struct ts_req req;
  long n;

  if (c->want_close || c->ioff == c->ilen)
    return 0;
  n = ts_http_parse(c->ibase + c->ioff, c->ilen - c->ioff, &c->scan, &req);
  if (n == 0)
    return 0;
  if (n < 0) {
    ts_refuse(c, (unsigned)-n);
    c->ioff = c->ilen;
    return 1;
  }
  c->ioff += (size_t)n;
  c->scan = 0;
  ts_route(c, &req);
  if (!req.keep)
    c->want_close = 1;
  return 1;
}

void ts_conn_advance(struct ts_conn *c) {
  while (!c->closing && c->writes == 0) {
    if (c->state == TS_BODY)
      body_pump(c);
    else if (c->state == TS_DROP)
      drop_now(c);
    else if (c->state != TS_IDLE || !next_request(c))
      break;
  }
  ts_out_flush(c); /* also drops the batch of a connection that closed */
  if (c->closing)
    return;
  if (c->state == TS_IDLE && c->writes == 0 && (c->want_close || c->eof))
    begin_close(c);
  else if (c->eof && c->state != TS_IDLE && c->state != TS_LINGER)
    ts_conn_close(c); /* see read_end */
  if (!c->closing)
    input_settle(c);
  if (!c->closing)
    read_control(c);
}

void ts_on_connection(uv_stream_t *server, int status) {
  struct ts_conn *c;

  if (status < 0) {
    ts_log("accept: %s", uv_strerror(status));
    return;
  }
  c = calloc(1, sizeof(*c));
  if (c == NULL)
    abort(); /* libuv would stop accepting until this one is taken */
  uv_tcp_init(ts_srv.loop, &c->tcp);
  c->tcp.data = c;
  c->handles = 1;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
    uv_close((uv_handle_t *)&c->tcp, on_close);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1); /* small responses must not wait */
  c->lis = server->data;
  c->next = ts_srv.conns;
  if (c->next)
    c->next->prev = c;
  ts_srv.conns = c;
  ts_stats_conn_open(c);
  read_control(c);
}
