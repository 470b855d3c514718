/* Connections: reading, TLS, the output batch, body streaming, timers
 * and closing.  HTTP/1.1 requests are parsed here; a connection that
 * speaks h2 hands its bytes to h2.c instead.
 *
 * The fast path allocates nothing.  Reads land in one shared buffer and
 * are parsed in place; only bytes that must wait (a partial request, or
 * requests pipelined behind a slow one) are copied into the connection.
 * Responses go into one shared batch, written with uv_try_write; only
 * what the socket refuses is copied into an owned uv_write request.
 *
 * On the TLS port, OpenSSL sits under all of that: ciphertext read from
 * the socket goes into it, and the plaintext it gives back lands in the
 * same shared buffer as plain reads do; every write goes through
 * SSL_write, and the ciphertext it leaves is written as above. */
#include <stdlib.h>
#include <string.h>

#include "ts.h"

#define PUMP_BUDGET (1024u * 1024u) /* body bytes per turn of the loop */
/* Plaintext per SSL_write, its ciphertext written out at once: the
 * memory BIO, and clearing it, stay bounded.  Four records a syscall:
 * 25% less CPU than one (nginx's ssl_buffer_size) on long bodies. */
#define TLS_CHUNK (64u * 1024u)
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
static void conn_step(struct ts_conn *c);

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

/* Writes the ciphertext that TLS left, copied: its buffer is reused by
 * the next SSL_write. */
static void tls_out(struct ts_conn *c, unsigned done, int sync) {
  char *p;
  size_t n = ts_tls_output(c->ssl, &p);

  if (n == 0) {
    ts_stats_done(c, done);
    return;
  }
  if (sync)
    write_some(c, p, n, done, 1);
  else
    write_async(c, p, n, done, 1);
  ts_tls_output_taken(c->ssl);
}

/* Sends p[0..n), through TLS on the TLS port.  `copy` says that p does
 * not outlive the call, `sync` allows uv_try_write first. */
static void send_bytes(struct ts_conn *c, const char *p, size_t n,
                       unsigned done, int copy, int sync) {
  if (c->ssl == NULL) {
    if (sync)
      write_some(c, p, n, done, copy);
    else
      write_async(c, p, n, done, copy);
    return;
  }
  while (n > 0 && !c->closing) {
    size_t k = n < TLS_CHUNK ? n : TLS_CHUNK;

    if (ts_tls_write(c->ssl, p, k) != 0) {
      ts_conn_close(c);
      return;
    }
    p += k;
    n -= k;
    tls_out(c, n == 0 ? done : 0, sync);
  }
}

static void out_flush(struct ts_conn *c, int sync) {
  size_t n = out_len;
  unsigned done = out_done;

  out_len = 0;
  out_done = 0;
  if (n > 0 && !c->closing)
    send_bytes(c, out_buf, n, done, 1, sync);
}

void ts_out_flush(struct ts_conn *c) { out_flush(c, 1); }

void ts_out_flush_async(struct ts_conn *c) { out_flush(c, 0); }

void ts_out_send(struct ts_conn *c, const char *p, size_t n, unsigned done) {
  ts_out_flush(c);
  if (!c->closing)
    send_bytes(c, p, n, done, 1, 1);
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
  send_bytes(c, p, n, done, 0, sync);
}

/* Streams a long body in chunks of the pattern, a bounded amount per
 * turn so that one fast reader cannot starve the others. */
static void body_pump(struct ts_conn *c) {
  size_t budget = PUMP_BUDGET;
  size_t chunk = c->ssl != NULL ? TLS_CHUNK : TS_CHUNK;

  ts_out_flush(c); /* the headers first */
  while (!c->closing && c->writes == 0 && c->state == TS_BODY) {
    size_t n = c->body_left < chunk ? (size_t)c->body_left : chunk;

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
  struct ts_ex x = {c, NULL};
  struct ts_spec s = c->spec;

  s.delay_ms = 0;
  c->state = TS_IDLE;
  ts_emit(&x, &s);
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
 * a response the peer has not read yet.  So: FIN first (after TLS's
 * close_notify), then read and discard until the peer closes too, or
 * the linger time runs out. */
static void begin_close(struct ts_conn *c) {
  c->state = TS_LINGER;
  if (c->ssl != NULL) {
    ts_tls_close_notify(c->ssl);
    tls_out(c, 0, 1);
    if (c->closing)
      return;
  }
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
    ts_conn_close(c);
}

void ts_conn_unref(struct ts_conn *c) {
  if (--c->handles == 0) {
    if (c->h2 != NULL)
      ts_h2_free(c);
    free(c->in);
    free(c->rhead);
    free(c->rbody);
    ts_tls_free(c->ssl);
    free(c);
  }
}

static void on_close(uv_handle_t *h) { ts_conn_unref(h->data); }

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
  if (c->h2 != NULL)
    ts_h2_close(c);
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

/* Where HTTP/1.1 input goes: the shared buffer when nothing waits, else
 * after what waits, in place.  Its size, 0 (and NULL) without memory. */
static size_t input_space(struct ts_conn *c, char **dst) {
  size_t want = c->ilen + 16384;

  if (c->ilen == 0) {
    *dst = read_buf;
    return sizeof(read_buf);
  }
  if (ensure_cap(c, want < TS_IN_MAX ? want : TS_IN_MAX) != 0) {
    *dst = NULL;
    return 0;
  }
  *dst = c->in + c->ilen;
  return c->icap - c->ilen;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  struct ts_conn *c = h->data;
  char *dst = read_buf;
  size_t n = sizeof(read_buf);

  (void)hint;
  /* Ciphertext and h2 frames are consumed whole, at once. */
  if (!discarding(c) && c->ssl == NULL && c->h2 == NULL)
    n = input_space(c, &dst); /* 0: read_cb gets UV_ENOBUFS */
  *buf = uv_buf_init(dst, (unsigned)n);
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

/* Clients almost never half-close, so an end of input means the peer
 * gave up: whatever waits (delay, stall, trickle, long body, h2 streams)
 * is abandoned, and in_flight drops at once, as tests of cancellation
 * expect.  HTTP/1.1 requests already received that are answered at once
 * still are, for the `printf 'GET ...' | nc` kind of client. */
static void peer_done(struct ts_conn *c) {
  if (c->state != TS_IDLE || c->h2 != NULL) {
    ts_conn_close(c);
    return;
  }
  c->eof = 1;
  conn_step(c);
}

static void read_end(struct ts_conn *c, ssize_t err) {
  c->reading = 0;
  if (err != UV_EOF)
    ts_conn_close(c);
  else
    peer_done(c);
}

/* h2: nghttp2's frames to the batch, the batch to the peer; the
 * connection closes once a GOAWAY has run its course. */
static void h2_step(struct ts_conn *c) {
  if (c->state == TS_LINGER)
    return;
  if (ts_h2_send(c) != 0) {
    ts_conn_close(c);
    return;
  }
  ts_out_flush(c);
  if (c->closing)
    return;
  if (ts_h2_done(c))
    begin_close(c);
  else
    read_control(c);
}

static void h2_input(struct ts_conn *c, const char *p, size_t n) {
  if (ts_h2_input(c, p, n) != 0)
    ts_conn_close(c);
  else
    h2_step(c);
}

/* From now on the connection speaks h2, starting with input p[0..n)
 * that HTTP/1.1 had kept (and may own). */
static void start_h2(struct ts_conn *c, const char *p, size_t n) {
  int err = ts_h2_start(c);

  if (err == 0 && n > 0)
    err = ts_h2_input(c, p, n);
  free(c->in);
  c->in = NULL;
  c->ibase = NULL;
  c->ilen = c->ioff = c->icap = 0;
  if (err != 0)
    ts_conn_close(c);
  else
    h2_step(c);
}

/* h2 with prior knowledge (h2c) opens with the client preface, which
 * HTTP/1.1 never does.  1 if it took the input: a start of the preface
 * waits for the rest, a whole one switches the connection to h2. */
static int sniff_h2c(struct ts_conn *c) {
  size_t n = c->ilen < TS_H2_PREFACE_LEN ? c->ilen : TS_H2_PREFACE_LEN;

  if (memcmp(c->ibase, TS_H2_PREFACE, n) != 0) {
    c->sniffed = 1;
    return 0;
  }
  if (n == TS_H2_PREFACE_LEN) {
    c->sniffed = 1;
    start_h2(c, c->ibase, c->ilen);
    return 1;
  }
  input_settle(c);
  if (!c->closing)
    read_control(c);
  return 1;
}

/* HTTP/1.1 bytes arrived at p: in the shared buffer, or after what
 * waited in the connection's own. */
static void h1_input(struct ts_conn *c, const char *p, size_t n) {
  if (p == read_buf) {
    c->ibase = read_buf;
    c->ilen = n;
    c->ioff = 0;
    c->scan = 0;
  } else {
    c->ilen += n;
  }
  if (c->sniffed || !sniff_h2c(c))
    conn_step(c);
}

/* 1 once the handshake is done and the connection may go on. */
static int tls_handshake(struct ts_conn *c) {
  int r = ts_tls_handshake(c->ssl);

  tls_out(c, 0, 1); /* its own messages, or an alert */
  if (c->closing)
    return 0;
  if (r < 0)
    begin_close(c);
  if (r <= 0)
    return 0;
  ts_tls_shrink(c->ssl);
  c->tls_ready = 1;
  if (ts_tls_alpn_h2(c->ssl))
    start_h2(c, NULL, 0);
  return !c->closing;
}

static int tls_room(const struct ts_conn *c) {
  return !c->closing && !c->eof && !discarding(c) &&
         (c->h2 != NULL || c->ilen < TS_IN_MAX);
}

/* Decrypts what OpenSSL holds, as long as the connection has room. */
static void tls_pull(struct ts_conn *c) {
  long n = 1;

  if (!c->tls_ready && !tls_handshake(c))
    return;
  while (n > 0 && tls_room(c)) {
    char *dst = read_buf;
    size_t cap = sizeof(read_buf);

    if (c->h2 == NULL && (cap = input_space(c, &dst)) == 0)
      n = -1;
    else if ((n = ts_tls_read(c->ssl, dst, cap)) > 0 && c->h2 != NULL)
      h2_input(c, dst, (size_t)n);
    else if (n > 0)
      h1_input(c, dst, (size_t)n);
  }
  if (c->closing)
    return;
  if (n == TS_TLS_EOF)
    peer_done(c);
  else if (n < 0)
    ts_conn_close(c);
  else
    tls_out(c, 0, 1); /* what reading made OpenSSL send, if anything */
  if (!c->closing && c->writes == 0)
    ts_tls_idle(c->ssl);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  struct ts_conn *c = s->data;

  if (n < 0) {
    read_end(c, n);
    return;
  }
  if (n == 0 || discarding(c))
    return;
  if (c->ssl != NULL) {
    if (ts_tls_feed(c->ssl, buf->base, (size_t)n) != 0)
      ts_conn_close(c);
    else
      tls_pull(c);
  } else if (c->h2 != NULL) {
    h2_input(c, buf->base, (size_t)n);
  } else {
    h1_input(c, buf->base, (size_t)n);
  }
}

static void route_h1(struct ts_conn *c, struct ts_req *req) {
  struct ts_ex x = {c, NULL};

  ts_route(&x, req);
  if (!req->keep)
    c->want_close = 1;
}

/* A body that is not all in yet: the head is copied (the input moves),
 * the body gathered in a buffer of its own, and the request routed once
 * it is whole (body_take).  After "Expect: 100-continue" the client
 * waits for our go-ahead. */
static void await_body(struct ts_conn *c, const char *head, size_t n,
                       const struct ts_req *req) {
  uint64_t have = c->ilen - c->ioff;

  c->rhead = malloc(n);
  c->rbody = malloc(req->content_length);
  if (c->rhead == NULL || c->rbody == NULL) {
    ts_conn_close(c);
    return;
  }
  memcpy(c->rhead, head, n);
  c->rhead_len = n;
  memcpy(c->rbody, c->ibase + c->ioff, have);
  c->rbody_len = have;
  c->rbody_want = req->content_length;
  c->ioff = c->ilen;
  c->state = TS_REQ_BODY;
  if (req->expect_continue && have == 0)
    ts_h1_raw(c, "HTTP/1.1 100 Continue\r\n\r\n", 0);
}

/* TS_REQ_BODY: takes what input there is; 1 once the request has been
 * routed. */
static int body_take(struct ts_conn *c) {
  uint64_t want = c->rbody_want - c->rbody_len, have = c->ilen - c->ioff;
  size_t n = (size_t)(have < want ? have : want), scan = 0;
  struct ts_req req;

  memcpy(c->rbody + c->rbody_len, c->ibase + c->ioff, n);
  c->rbody_len += n;
  c->ioff += n;
  if (c->rbody_len < c->rbody_want)
    return 0;
  c->state = TS_IDLE;
  ts_http_parse(c->rhead, c->rhead_len, &scan, &req); /* parsed before */
  req.body = c->rbody;
  route_h1(c, &req);
  free(c->rhead);
  free(c->rbody);
  c->rhead = c->rbody = NULL;
  return 1;
}

/* Parses and answers one request; 0 when none is complete. */
static int next_request(struct ts_conn *c) {
  struct ts_req req;
  const char *head = c->ibase + c->ioff;
  long n;

  if (c->want_close || c->ioff == c->ilen)
    return 0;
  n = ts_http_parse(head, c->ilen - c->ioff, &c->scan, &req);
  if (n == 0)
    return 0;
  if (n > 0 && (req.chunked || req.content_length > TS_MAX_BODY))
    n = req.chunked ? -501 : -413; /* the rest cannot be read */
  if (n < 0) {
    ts_refuse(c, (unsigned)-n);
    c->ioff = c->ilen;
    return 1;
  }
  c->ioff += (size_t)n;
  c->scan = 0;
  if (req.content_length > c->ilen - c->ioff) {
    await_body(c, head, (size_t)n, &req);
    return 1;
  }
  req.body = c->ibase + c->ioff;
  c->ioff += (size_t)req.content_length;
  route_h1(c, &req);
  return 1;
}

/* HTTP/1.1: answers what it can, in order, until it must wait. */
static void conn_step(struct ts_conn *c) {
  while (!c->closing && c->writes == 0) {
    if (c->state == TS_BODY)
      body_pump(c);
    else if (c->state == TS_DROP)
      drop_now(c);
    else if (c->state == TS_REQ_BODY ? !body_take(c)
                                     : c->state != TS_IDLE || !next_request(c))
      break;
  }
  ts_out_flush(c); /* also drops the batch of a connection that closed */
  if (c->closing)
    return;
  if (c->state == TS_IDLE && c->writes == 0 && (c->want_close || c->eof))
    begin_close(c);
  else if (c->eof && c->state != TS_IDLE && c->state != TS_LINGER)
    ts_conn_close(c); /* see peer_done */
  if (!c->closing)
    input_settle(c);
  if (!c->closing)
    read_control(c);
}

void ts_conn_advance(struct ts_conn *c) {
  if (c->h2 != NULL)
    h2_step(c);
  else
    conn_step(c);
  /* Room may have come back for plaintext that OpenSSL still holds. */
  if (c->ssl != NULL && c->tls_ready && tls_room(c) && ts_tls_readable(c->ssl))
    tls_pull(c);
}

/* --tls-delay: the ClientHello waits in the kernel until now. */
static void on_tls_delay(uv_timer_t *t) { read_control(t->data); }

void ts_on_connection(uv_stream_t *server, int status) {
  struct ts_listener *lis = server->data;
  int tls = server == (uv_stream_t *)&lis->tls;
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
  if (tls) {
    c->ssl = ts_tls_new();
    c->sniffed = 1; /* TLS chooses h2 by ALPN alone */
  }
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
      (tls && c->ssl == NULL)) {
    uv_close((uv_handle_t *)&c->tcp, on_close);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1); /* small responses must not wait */
  c->lis = lis;
  c->next = ts_srv.conns;
  if (c->next)
    c->next->prev = c;
  ts_srv.conns = c;
  ts_stats_conn_open(c);
  if (tls && ts_srv.tls_delay_ms > 0)
    conn_timer(c, ts_srv.tls_delay_ms, 0, on_tls_delay);
  else
    read_control(c);
}
