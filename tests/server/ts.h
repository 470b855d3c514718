/* uvf-testserver: the project's loopback HTTP/1.1 server for tests,
 * benchmarks and the demo.  Declarations shared by its source files.
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

struct ts_listener {
  uv_tcp_t tcp;
  struct sockaddr_in addr;
  char name[INET_ADDRSTRLEN];
  uint64_t in_flight, peak_in_flight;
  uint64_t conns, peak_conns;
};

struct ts_stats {
  uint64_t requests;  /* requests received, /stats* excluded */
  uint64_t in_flight; /* received and not yet fully written */
  uint64_t peak_in_flight;
  uint64_t conns, peak_conns;
};

struct ts_conn;

struct ts_server {
  uv_loop_t *loop;
  struct ts_listener lis[TS_MAX_ADDRS];
  int nlis;
  struct ts_stats st;
  struct ts_conn *conns; /* every open connection, for shutdown */
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
  TS_IDLE,    /* parsing requests, writing small responses */
  TS_DELAY,   /* a response waits on the timer */
  TS_BODY,    /* a long body is being streamed */
  TS_TRICKLE, /* one body byte per second */
  TS_STALL,   /* headers sent, nothing more until the peer leaves */
  TS_DROP,    /* part of a body sent; reset once it is out */
  TS_LINGER   /* our side shut down; draining the peer before close */
};

/* What to send for one request, kept while the request waits. */
enum ts_kind {
  TS_K_PATTERN,
  TS_K_STATUS_TEXT,
  TS_K_DROP,
  TS_K_STALL,
  TS_K_TRICKLE
};

struct ts_spec {
  uint64_t body_len;
  uint32_t delay_ms;
  uint16_t status;
  uint8_t kind; /* enum ts_kind */
  uint8_t keep; /* keep-alive after this response */
  uint8_t head; /* HEAD: headers only */
};

struct ts_conn {
  uv_tcp_t tcp;
  uv_timer_t timer; /* delay, trickle, linger; set up on use */
  uv_shutdown_t shutdown;
  struct ts_listener *lis;
  struct ts_conn *prev, *next;
  char *in;          /* owned input, only while bytes wait */
  const char *ibase; /* input being parsed: `in` or shared */
  size_t ilen, ioff, icap;
  size_t scan;         /* where the search for CRLFCRLF resumes */
  struct ts_spec spec; /* the response waiting or in progress */
  uint64_t body_left;  /* body bytes not yet handed to libuv */
  uint64_t body_off;   /* index of the next body byte */
  uint32_t writes;     /* uv_write requests outstanding */
  uint32_t inflight;   /* counted requests not fully written */
  uint8_t state;       /* enum ts_state */
  uint8_t handles;     /* handles still to see their close cb */
  uint8_t timer_init, reading, eof, want_close, closing;
};

void ts_on_connection(uv_stream_t *server, int status);
void ts_conn_close(struct ts_conn *c);
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

/* ---- HTTP parsing (http.c) ---- */

enum ts_method { TS_GET, TS_HEAD, TS_OTHER };

struct ts_req {
  const char *target; /* origin-form: path and query */
  size_t target_len;
  uint8_t method; /* enum ts_method */
  uint8_t keep;
  const char *headers; /* the header lines after the request line */
  size_t headers_len;  /* up to, not including, the blank line */
};

/* Looks for one complete header block in p[0..len).  Returns its length
 * and fills `req`; 0 when more bytes are needed (`*scan` remembers how
 * far the search got); or -400 / -431 for a request to refuse. */
long ts_http_parse(const char *p, size_t len, size_t *scan, struct ts_req *req);
int ts_parse_u64(const char *s, size_t n, uint64_t *out);

/* ---- responses (routes.c, stats.c) ---- */

/* Byte i of every body is 'a' + i % 26; chunks are cut from here. */
#define TS_CHUNK (256u * 1024u)
extern char ts_pattern[TS_CHUNK + 26];
#define TS_INLINE_BODY 16384u /* bodies up to this go into the batch */

void ts_route(struct ts_conn *c, const struct ts_req *req);
/* Refuses the request (400, 405, 431) and closes after the reply. */
void ts_refuse(struct ts_conn *c, unsigned status);
void ts_emit(struct ts_conn *c, const struct ts_spec *s);
char *ts_head(char *p, unsigned status, const char *ctype, int has_len,
              uint64_t len, int keep);

void ts_stats_begin(struct ts_conn *c);
void ts_stats_done(struct ts_conn *c, unsigned n);
void ts_stats_conn_open(struct ts_conn *c);
void ts_stats_conn_close(struct ts_conn *c);
void ts_stats_reset(void);
size_t ts_stats_json(char *buf, size_t cap);

#endif
