/* uvf-testserver: the project's loopback HTTP server (HTTP/1.1, TLS,
 * HTTP/2) for tests, benchmarks and the demo.  Declarations shared by
 * its source files.
 *
 * One thread, one libuv loop, global state: this is a test tool, and a
 * single instance per process keeps every callback free of plumbing.
 */
#ifndef UVF_TESTSERVER_TS_H
#define UVF_TESTSERVER_TS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define TS_MAX_ADDRS 16
#define TS_MAX_HEAD 65536u /* a bigger request header block gets 431 */
/* Input kept per connection: one maximal header block plus a little, so
 * that an over-long block can be told apart from a maximal one. */
#define TS_IN_MAX (TS_MAX_HEAD + 4096u)

/* ---- listeners and counters (uvf-testserver.c, stats.c) ---- */

/* One address: its plain port and, with --tls, its TLS port. */
struct ts_listener {
  uv_tcp_t tcp;
  uv_tcp_t tls;
  struct sockaddr_in addr;
  char name[INET_ADDRSTRLEN];
  uint64_t in_flight, peak_in_flight;
  uint64_t conns, peak_conns;
  uint64_t accepted;
};

struct ts_stats {
  uint64_t requests;  /* requests received, /stats* excluded */
  uint64_t in_flight; /* received and not yet fully written */
  uint64_t peak_in_flight;
  uint64_t conns, peak_conns; /* open now, and the peak */
  uint64_t accepted;          /* TCP connections accepted */
  uint64_t tls_handshakes, tls_resumed;
  uint64_t h2_conns, h2_streams; /* h2 streams count like requests */
};

struct ts_conn;

struct ts_server {
  uv_loop_t *loop;
  struct ts_listener lis[TS_MAX_ADDRS];
  int nlis;
  struct ts_stats st;
  struct ts_conn *conns; /* every open connection, for shutdown */
  uint32_t h2_max_streams;
  int late_tickets; /* TLS 1.3 tickets go with each connection's first reply */
  int quiet;
  int stopping;
};

extern struct ts_server ts_srv;

void ts_log(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ---- connections (conn.c) ---- */

enum ts_state {
  TS_IDLE,     /* parsing requests, writing small responses */
  TS_DELAY,    /* a response waits on the timer */
  TS_BODY,     /* a long body is being streamed */
  TS_TRICKLE,  /* one body byte per second */
  TS_STALL,    /* headers sent, nothing more until the peer leaves */
  TS_DROP,     /* part of a body sent; reset once it is out */
  TS_REQ_BODY, /* a request's body is being read */
  TS_LINGER    /* our side shut down; draining the peer before close */
};

/* What to send for one request, kept while the request waits. */
enum ts_kind {
  TS_K_PATTERN,
  TS_K_STATUS_TEXT,
  TS_K_DROP,
  TS_K_STALL,
  TS_K_TRICKLE,
  TS_K_FEED /* a generated feed (feeds.c), made from arg */
};

struct ts_spec {
  uint64_t body_len;
  uint64_t arg;  /* TS_K_FEED: the feed's parameters */
  uint64_t arg2; /* TS_K_FEED: its reply's header hints */
  uint32_t delay_ms;
  uint16_t status;
  uint8_t kind; /* enum ts_kind */
  uint8_t keep; /* keep-alive after this response */
  uint8_t head; /* HEAD: headers only */
};

struct ssl_st;          /* OpenSSL's SSL */
struct nghttp2_session; /* nghttp2's */
struct ts_stream;       /* one h2 stream (h2.c) */

struct ts_conn {
  uv_tcp_t tcp;
  uv_timer_t timer; /* delay, trickle, linger; set up on use */
  uv_shutdown_t shutdown;
  struct ts_listener *lis;
  struct ts_conn *prev, *next;
  struct ssl_st *ssl;         /* on the TLS port */
  struct nghttp2_session *h2; /* once the connection speaks h2 */
  struct ts_stream *streams;  /* h2 streams still open */
  int32_t goaway_last;        /* h2: last stream id of our GOAWAY, or 0 */
  char *in;                   /* owned input, only while bytes wait */
  const char *ibase;          /* input being parsed: `in` or shared */
  size_t ilen, ioff, icap;
  size_t scan;         /* where the search for CRLFCRLF resumes */
  struct ts_spec spec; /* the response waiting or in progress */
  char *rhead;         /* TS_REQ_BODY: the request's head, copied */
  size_t rhead_len;
  char *rbody; /* TS_REQ_BODY: the body so far */
  uint64_t rbody_len, rbody_want;
  uint64_t body_left; /* body bytes not yet handed to libuv */
  uint64_t body_off;  /* index of the next body byte */
  uint32_t writes;    /* uv_write requests outstanding */
  uint32_t inflight;  /* counted requests not fully written */
  uint8_t state;      /* enum ts_state */
  uint32_t handles;   /* handles still to see their close cb */
  uint8_t timer_init, reading, eof, want_close, closing;
  uint8_t sniffed;   /* known not to open with the h2 preface */
  uint8_t tls_ready; /* the TLS handshake is done */
};

void ts_on_connection(uv_stream_t *server, int status);
void ts_conn_close(struct ts_conn *c);
/* Drops one handle reference; frees the connection with the last. */
void ts_conn_unref(struct ts_conn *c);
/* Runs the connection until it must wait for the peer, a write or a
 * timer.  Never re-entered: libuv defers every callback it causes. */
void ts_conn_advance(struct ts_conn *c);
/* Sets the state, starting the delay or trickle timer it needs. */
void ts_conn_enter(struct ts_conn *c, int state);

/* Output batch: responses to one connection are gathered in a shared
 * buffer and written with one syscall.  The reserved space is valid
 * until ts_out_commit, and dropped if never committed; `done` counts
 * the requests that the committed bytes complete. */
#define TS_OUT_CAP (128u * 1024u + 4096u)
char *ts_out_reserve(struct ts_conn *c, size_t need);
void ts_out_commit(struct ts_conn *c, const char *end, unsigned done);
void ts_out_flush(struct ts_conn *c);
/* Flushes the batch, then sends p[0..n) (copied) after it: for bodies
 * too large for the batch. */
void ts_out_send(struct ts_conn *c, const char *p, size_t n, unsigned done);
/* Writes the batch without trying the socket first, so that the write
 * callback comes back: how a long send yields to other connections. */
void ts_out_flush_async(struct ts_conn *c);

/* ---- HTTP parsing (http.c) ---- */

enum ts_method { TS_GET, TS_HEAD, TS_OTHER };

/* Request bodies up to this are read (and /echo'ed); a larger one gets
 * 413 and a close. */
#define TS_MAX_BODY (64u << 20)

struct ts_req {
  const char *target; /* origin-form: path and query */
  size_t target_len;
  uint8_t method; /* enum ts_method */
  uint8_t keep;
  uint8_t expect_continue; /* Expect: 100-continue */
  uint8_t chunked;         /* Transfer-Encoding: refused (501) */
  const char *method_name; /* as received */
  size_t method_len;
  const char *headers;     /* the header lines after the request line */
  size_t headers_len;      /* up to, not including, the blank line */
  uint64_t content_length; /* of the request's body */
  const char *body;        /* content_length bytes, once read */
};

/* Looks for one complete header block in p[0..len).  Returns its length
 * and fills `req`; 0 when more bytes are needed (`*scan` remembers how
 * far the search got); or -400 / -431 for a request to refuse. */
long ts_http_parse(const char *p, size_t len, size_t *scan, struct ts_req *req);
int ts_parse_u64(const char *s, size_t n, uint64_t *out);

/* ---- responses (routes.c, h1.c, stats.c) ---- */

/* Byte i of every body is 'a' + i % 26; chunks are cut from here. */
#define TS_CHUNK (256u * 1024u)
extern char ts_pattern[TS_CHUNK + 26];
#define TS_INLINE_BODY 16384u /* bodies up to this go into the batch */

/* Where a response goes: the connection itself over HTTP/1.1, one of
 * its streams over h2. */
struct ts_ex {
  struct ts_conn *c;
  struct ts_stream *st; /* NULL over HTTP/1.1 */
};

/* Extra header fields a reply may carry besides hname (/response-headers). */
#define TS_MAX_EXTRA 16

/* A response whose body is known at once. */
struct ts_reply {
  const char *ctype;
  const char *body; /* len bytes, copied before the call returns */
  uint64_t len;
  const char *hname; /* one more header field ("Location"), or NULL */
  const char *hval;
  size_t hval_len;
  const char *xname[TS_MAX_EXTRA]; /* n_extra more, each as hname */
  const char *xval[TS_MAX_EXTRA];
  size_t xname_len[TS_MAX_EXTRA], xval_len[TS_MAX_EXTRA];
  unsigned n_extra;
  uint16_t status;
  uint8_t has_len; /* 0: neither Content-Length nor body (1xx, 204, 304) */
  uint8_t head;    /* HEAD: the headers only */
  uint8_t keep;    /* HTTP/1.1 keep-alive */
  uint8_t done;    /* completes a counted request */
};

void ts_route(const struct ts_ex *x, const struct ts_req *req);
/* Refuses an HTTP/1.1 request (400, 405, 431); closes after the reply. */
void ts_refuse(struct ts_conn *c, unsigned status);
/* Sends a response from its spec: now, whatever its delay_ms. */
void ts_emit(const struct ts_ex *x, const struct ts_spec *s);
const char *ts_reason(unsigned status);
/* Starts a response now or after its delay_ms. */
void ts_feed_start(const struct ts_ex *x, struct ts_spec *s);

/* /feed/<n> (feeds.c): 1 if path is one (then answered), 0 if not. */
int ts_feed_route(const struct ts_ex *x, const struct ts_req *r,
                  const char *path, size_t n, const char *q, size_t qn,
                  uint32_t delay_ms);
void ts_feed_emit(const struct ts_ex *x, const struct ts_spec *s);

/* HTTP/1.1 writers: into the connection's output batch. */
void ts_h1_reply(struct ts_conn *c, const struct ts_reply *r);
void ts_h1_emit(struct ts_conn *c, const struct ts_spec *s);
void ts_h1_raw(struct ts_conn *c, const char *s, unsigned done);

void ts_stats_begin(struct ts_conn *c);
void ts_stats_done(struct ts_conn *c, unsigned n);
void ts_stats_conn_open(struct ts_conn *c);
void ts_stats_conn_close(struct ts_conn *c);
void ts_stats_tls(int resumed);
void ts_stats_h2_conn(void);
void ts_stats_reset(void);
size_t ts_stats_json(char *buf, size_t cap);

/* ---- TLS (tls.c): OpenSSL over two memory BIOs ---- */

/* Loads the certificate chain and key; exits with a message if it
 * cannot.  `h2` says whether ALPN offers h2 before http/1.1. */
void ts_tls_init(const char *cert, const char *key, int h2);
void ts_tls_cleanup(void);
struct ssl_st *ts_tls_new(void);
void ts_tls_free(struct ssl_st *ssl);
/* Ciphertext from the peer, for the next ts_tls_read. */
int ts_tls_feed(struct ssl_st *ssl, const char *p, size_t n);
/* 1 once the handshake is done (counted then), 0 while it needs more
 * input, -1 if it failed. */
int ts_tls_handshake(struct ssl_st *ssl);
int ts_tls_alpn_h2(const struct ssl_st *ssl);
/* Plaintext into buf: its length, 0 when more ciphertext is needed,
 * TS_TLS_EOF on the peer's close_notify, -1 on error. */
#define TS_TLS_EOF (-2)
long ts_tls_read(struct ssl_st *ssl, char *buf, size_t cap);
/* 1 if ts_tls_read could return bytes without more input. */
int ts_tls_readable(struct ssl_st *ssl);
int ts_tls_write(struct ssl_st *ssl, const char *p, size_t n);
void ts_tls_close_notify(struct ssl_st *ssl);
/* Ciphertext waiting to go out: its length, and where it is. */
size_t ts_tls_output(struct ssl_st *ssl, char **p);
void ts_tls_output_taken(struct ssl_st *ssl);
/* Gives back the memory BIOs' buffers: all of them once the handshake
 * is sent, big ones when the connection waits with nothing to write. */
void ts_tls_shrink(struct ssl_st *ssl);
void ts_tls_idle(struct ssl_st *ssl);

/* ---- HTTP/2 (h2.c): nghttp2's server session ---- */

#define TS_H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define TS_H2_PREFACE_LEN 24u

void ts_h2_init(void);
void ts_h2_cleanup(void);
/* The connection speaks h2 from now on; 0, or -1 without memory. */
int ts_h2_start(struct ts_conn *c);
/* Closing: stops the streams' timers.  Freeing, once the connection's
 * last handle is closed: the session and the streams, no callbacks. */
void ts_h2_close(struct ts_conn *c);
void ts_h2_free(struct ts_conn *c);
/* Bytes from the peer; -1 if the connection must be dropped. */
int ts_h2_input(struct ts_conn *c, const char *p, size_t n);
/* Hands nghttp2's frames to the output batch; -1 on a fatal error. */
int ts_h2_send(struct ts_conn *c);
/* 1 once a GOAWAY went out and every stream it kept is done. */
int ts_h2_done(struct ts_conn *c);
void ts_h2_counted(struct ts_stream *st);
void ts_h2_reply(struct ts_stream *st, const struct ts_reply *r);
void ts_h2_emit(struct ts_stream *st, const struct ts_spec *s);
void ts_h2_delay(struct ts_stream *st, const struct ts_spec *s);
/* /h2/rst, /h2/goaway and /bad/<what> over h2; see uvf-testserver.c. */
void ts_h2_rst(struct ts_stream *st, uint32_t delay_ms, uint32_t code);
void ts_h2_goaway(struct ts_stream *st, uint32_t delay_ms);
int ts_h2_bad(struct ts_stream *st, const char *what, size_t n);

#endif
