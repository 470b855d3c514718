/* Internal structures shared by the library's files. Nothing here is API.
 *
 * Two levels, so that what is costly to build outlives one batch of URLs:
 *  - the engine (uvf__engine) owns the loop glue, libcurl's multi handles
 *    ("groups") and the connections they cache, the DNS and TLS session
 *    caches, the parsed CA store, what is known of each origin
 *    (scheme+host+port), and a pool of easy handles;
 *  - a batch (struct uvf_fetcher) owns its URLs, its caps, its retries and
 *    its results, and runs on an engine.
 * Everything here runs on the engine's loop thread. The rules of libcurl
 * 7.88 and libuv 1.44 this code keeps are in doc/libcurl-notes.md; the
 * comments cite them by name (R1, T3, ...). */
#ifndef UVF_INTERNAL_H
#define UVF_INTERNAL_H

#include <curl/curl.h>
#include <uv.h>

#include "queue.h"
#include "uvfetch.h"

typedef struct uvf__engine uvf__engine;
typedef struct uvf_fetcher uvf__batch;

/* ---- origins: what the engine knows of a scheme+host+port ---- */

enum uvf__proto {
  UVF__PROTO_UNKNOWN, /* no reply seen yet */
  UVF__PROTO_SERIAL,  /* one request at a time per connection (HTTP/1.x) */
  UVF__PROTO_MUX      /* many at once per connection (HTTP/2) */
};

/* Transfers of one origin are spread over "lanes", each a group (a multi
 * handle) of its own: libcurl 7.88 multiplexes the transfers of one multi
 * handle onto one HTTP/2 connection (CURLOPT_PIPEWAIT) until the stream
 * limit, and past it opens a new connection for every further transfer.
 * A lane holds at most max_streams transfers of a multiplexing origin, so
 * each lane is one connection; for HTTP/1.x a lane holds at most
 * UVF__LANE_SERIAL transfers, which bounds the connections of one multi
 * handle (7.88 walks them all on every curl_multi_remove_handle). */
#define UVF__LANE_SERIAL 64

typedef struct uvf__origin {
  struct uvf__origin *hash_next;
  uvf__link hosts;      /* uvf__host of each batch that sends here */
  uvf__link pause_link; /* on engine->paused while a pause holds it */
  uvf__link idle_link;  /* on origins.idle_list while nothing refers to it */
  uvf__link gate_link;  /* on engine->gating while tls_give_up_us is set */
  unsigned refs;
  int tls_warm;            /* a TLS session exists, or waiting is over */
  unsigned tls_first;      /* transfers that may bring the first session */
  uint64_t tls_give_up_us; /* when to stop waiting for it; 0: not yet */
  struct ssl_session_st *tls_session; /* latest, for copies (tls_session.c) */
  int proto;                          /* enum uvf__proto */
  unsigned home;                      /* group of lane 0 */
  unsigned *lanes;                    /* transfers in flight per lane */
  unsigned nlanes;                    /* size of lanes */
  uint64_t paused_until_us;           /* Retry-After: no start before */
  char key[];
} uvf__origin;

/* Origins nothing refers to are kept, this many at the most. */
#define UVF__IDLE_ORIGINS 1024

typedef struct uvf__origins {
  uvf__origin **buckets;
  size_t nbuckets; /* power of two */
  size_t count;
  uvf__link idle_list; /* oldest first */
  size_t idle;
} uvf__origins;

/* ---- groups: one multi handle each ---- */

typedef struct uvf__group {
  uvf__engine *e;
  CURLM *multi;
  uv_timer_t timer;   /* libcurl's timeout, when > 0 ms */
  uvf__link due_link; /* on engine->due: a timeout of 0 is pending */
  unsigned index;
  unsigned transfers; /* added to multi, of every origin */
  unsigned peak;      /* most transfers since peak_at (loop ms) */
  uint64_t peak_at;
  long max_conns; /* CURLMOPT_MAXCONNECTS as set (loop.c) */
} uvf__group;

/* A uv_poll_t for one socket, kept in a table indexed by fd. Connection
 * sockets (opened through our opensocket callback) keep theirs from open
 * to close, still watching while libcurl leaves them idle, which spares a
 * handle init, start, stop and close for every request on a keep-alive
 * connection (T6). */
typedef struct uvf__poll {
  uv_poll_t h;
  uvf__engine *e;
  uvf__group *group; /* whose multi handle this socket belongs to */
  curl_socket_t fd;
  int conn;   /* opened by us: close only in the closesocket callback */
  int active; /* uv_poll_start()ed */
  int events; /* what it was started with */
  int want;   /* what libcurl wants now; 0 after CURL_POLL_REMOVE */
} uvf__poll;

/* ---- a batch's view of one origin ---- */

/* Per-host cap, rate and parking for one batch. Exists while referenced
 * (a URL classified for it, or a transfer in flight). */
typedef struct uvf__host {
  uvf__link origin_link; /* in origin->hosts */
  uvf__link batch_link;  /* in batch->hosts */
  uvf__link parked;      /* uvf__url waiting for this host */
  uvf__link ready_link;  /* on batch->ready: may start now */
  uvf__link timed_link;  /* on batch->timed: waits for rate or pause */
  uvf__origin *origin;
  uvf__batch *b;
  uint64_t next_start_us; /* rate: earliest next start */
  unsigned in_flight;
  unsigned refs;
} uvf__host;

/* ---- URLs and transfers ---- */

/* What a request adds to its URL (request.c), in the URL's own block. */
typedef struct uvf__req {
  const char *method; /* as sent; NULL: GET */
  const char *body;   /* NULL: none */
  size_t body_len;
  const char **headers; /* the request's "Name: value" lines */
  size_t n_headers;
  const char *bad;           /* why it cannot be sent, or NULL */
  unsigned char head;        /* HEAD: no body in the reply */
  unsigned char idempotent;  /* may be retried whatever failed */
  unsigned char self_follow; /* redirects are followed by request.c */
} uvf__req;

/* A URL with its index, from submission to result. It sits on at most
 * one list at a time (queued, waiting for a lookup slot, parked behind its
 * host, waiting for a retry) and owns its text and history. */
typedef struct uvf__url {
  uvf__link link;
  uvf__origin *origin; /* set once classified; holds a reference */
  uvf__host *host;     /* ditto, when the batch tracks hosts */
  uint64_t index;
  uint64_t tag;
  uint64_t t_indexed;   /* uv_hrtime() when the index was given */
  uint64_t due;         /* uv_now() when a retry may start */
  uvf_attempt *history; /* failed attempts, oldest first */
  unsigned n_history;
  unsigned attempts;   /* transfers started so far */
  unsigned char named; /* the host is a name, not an IP address */
  unsigned char https;
  unsigned char tls_first; /* may bring its origin's first TLS session */
  uvf__req *rq; /* NULL for a plain URL (a GET); else in this block */
  char url[];
} uvf__url;

/* Response headers of one transfer as they come (headers.c): "name\0value\0"
 * pairs of the current response in text, and the bytes of all responses
 * of the attempt so far. */
typedef struct uvf__hdrs {
  char *text;
  size_t len, cap;
  size_t count;     /* pairs in text */
  uint64_t total;   /* header bytes received over all responses */
  uvf_header *list; /* built for the result */
  size_t list_cap;
} uvf__hdrs;

/* One transfer: an easy handle from the engine's pool, reused from one
 * URL to the next so that its options are set once. */
typedef struct uvf__xfer {
  uvf__link link; /* batch->live while in flight, engine->idle_xfers */
  uvf__engine *e;
  uvf__batch *b;     /* whose options the handle carries */
  uvf__group *group; /* the multi handle it is in, while in flight */
  CURL *easy;
  uvf__url *u; /* owned while in flight */
  unsigned lane;
  uint64_t t_started;
  uint64_t bytes;
  char *body;
  size_t body_len, body_cap;
  unsigned char too_large, cb_abort, body_oom, tls_failed;
  unsigned char looking;        /* named host, not yet connecting: may be in a
                                   lookup */
  unsigned char handshaking;    /* https, its connection not yet ready (with
                                   max_handshakes; see lookups.c) */
  unsigned char pipewait;       /* CURLOPT_PIPEWAIT as last set */
  unsigned char h2c_alone;      /* CURLOPT_FRESH_CONNECT and FORBID_REUSE */
  unsigned char rq_set;         /* request options now on the handle (RQ_*,
                                   request.c), 0 when set up for a plain GET */
  unsigned char hop_get;        /* a redirect turned the request into a GET */
  unsigned char hop_foreign;    /* a redirect left the request's origin */
  unsigned char hop_checked;    /* on_write looked at this response */
  unsigned char hop_discard;    /* its body is a redirect's: dropped */
  unsigned char hdr_over;       /* response headers past max_header_bytes */
  unsigned char hdrs_told;      /* on_headers called for this attempt */
  unsigned char hdr_abort;      /* on_headers said stop */
  unsigned char hdr_oom;        /* no memory to list the headers */
  unsigned hops;                /* redirects request.c followed */
  double hop_secs;              /* their transfers' time */
  struct curl_slist *hdr_nodes; /* request headers as sent (request.c) */
  size_t hdr_nodes_cap;
  uvf__hdrs resp; /* response headers collected (headers.c) */
  char errbuf[CURL_ERROR_SIZE];
} uvf__xfer;

/* ---- the engine ---- */

enum uvf__engine_state {
  UVF__ENGINE_RUNNING,
  UVF__ENGINE_CLOSING, /* teardown on the next loop iteration */
  UVF__ENGINE_CLOSED   /* handles closing; memory goes with the last one */
};

struct uvf__engine {
  uv_loop_t *loop;
  int state;        /* enum uvf__engine_state */
  unsigned in_curl; /* > 0 while inside a libcurl call */
  uvf__group **groups;
  unsigned ngroups;
  uvf__link due;     /* groups whose libcurl timeout of 0 is pending */
  uv_idle_t idle;    /* timeouts of 0, deferred admission, teardown */
  uvf__link batches; /* every batch on this engine */
  unsigned open_handles;
  void (*on_closed)(void *ud);
  void *closed_ud;

  CURLSH *share;                   /* one DNS cache and TLS session cache */
  char *ca_file, *ca_path;         /* what the CA store is made of */
  struct x509_store_st *tls_store; /* parsed on the first TLS connection */
  char tls_error[256];             /* why it could not be, if so */

  uvf__poll **polls; /* indexed by fd */
  size_t npolls;
  uvf__origins origins;
  uvf__link paused; /* origins held by a Retry-After pause */
  uv_timer_t pause_timer;
  uvf__link gating; /* origins whose first TLS session may come late */
  uv_timer_t gate_timer;
  uint64_t gate_epoch; /* bumped when an origin's TLS gate opens */

  uvf__link idle_xfers; /* pooled easy handles */
  unsigned nxfers;      /* easy handles made */
  unsigned lookups;     /* transfers with x->looking set */
  unsigned max_lookups;
  unsigned handshakes; /* transfers with x->handshaking set */
  unsigned max_handshakes;
  unsigned max_streams;
  int proxy_env; /* a proxy variable was set when the engine was made */
  uint64_t connects;
};

/* ---- a batch ---- */

/* A batch's life runs one way: RUNNING -> DRAINING (uvf_drain: nothing
 * new starts) -> ABORTED (every index has its result or never will) ->
 * CLOSING (uvf_fetcher_close) -> CLOSED. A later state implies the
 * earlier ones' restrictions; uvf__batch_set_state() never goes back. */
enum uvf__batch_state {
  UVF__RUNNING,
  UVF__DRAINING,
  UVF__ABORTED,
  UVF__CLOSING,
  UVF__CLOSED
};

struct uvf_fetcher {
  uvf__link engine_link; /* in engine->batches */
  uvf__engine *e;
  int state;       /* enum uvf__batch_state */
  int owns_engine; /* uvf_fetcher_new() made the engine for this batch */
  void (*on_freed)(void *ud); /* the batch's memory is gone (client calls) */
  long deadline_ms;           /* from the start; 0 = none */
  uvf_err aborted_by;         /* the first abort's kind; UVF_OK: none */
  uv_timer_t deadline_timer;
  uvf_options o;
  uvf_callbacks cb;
  void *ud;
  void (*close_cb)(void *ud);
  CURLU *cu;
  struct curl_slist *headers;
  unsigned char idem_key; /* headers has an Idempotency-Key */
  char *user_agent;
  char *accept_encoding;

  uvf__link queue;  /* submitted, not yet taken */
  uvf__link live;   /* transfers in flight */
  uvf__link hosts;  /* every uvf__host of the batch */
  uvf__link lookup; /* waiting for a lookup slot */
  unsigned lookup_waiting;
  uvf__link tls_wait; /* waiting for their origin's first TLS session */
  unsigned tls_waiting;
  uint64_t gate_epoch; /* the engine's, when tls_wait was last looked at */
  unsigned parked;     /* URLs parked behind their hosts */
  uvf__link ready;     /* hosts with parked URLs and room */
  uvf__link timed;     /* hosts with parked URLs waiting for a time */
  uv_timer_t polite_timer;

  uv_timer_t retry_timer;
  uvf__link retry_wait;  /* sorted by due */
  uvf__link retry_ready; /* due, to start before any new URL */
  uint64_t first_attempts, retries, rng;
  unsigned retry_waiting; /* at most max_in_flight: bounds open files */

  uvf_stats st; /* but waiting: see uvf__waiting() */
  unsigned open_handles;

  unsigned char paused;       /* uvf_pause() */
  unsigned char source_empty; /* next() said -1: ask again after resume */
  unsigned char input_ended;
  unsigned char done_called;
  unsigned char admit_due; /* run admission from the idle callback */
  unsigned char admitting; /* admission loop on the stack */
};

/* results.c */
int uvf__result_copy(uvf_result *dst, const uvf_result *src);
uvf_result *uvf__result_dup(const uvf_result *src);
uvf_results *uvf__results_new(size_t n);

typedef struct uvf__collector {
  const char *const *urls;
  size_t n, next;
  uvf_results *rs;
  int oom;
} uvf__collector;

int uvf__collector_init(uvf__collector *c, const char *const *urls, size_t n);
int uvf__collector_next(uvf__collector *c, const char **url, uint64_t *tag);
void uvf__collector_put(uvf__collector *c, const uvf_result *r);
int uvf__collector_finish(uvf__collector *c, uvf_err unstarted,
                          uvf_results **out);
void uvf__collector_free(uvf__collector *c);

/* alloc.c */
void *uvf__malloc(size_t n);
void *uvf__calloc(size_t n, size_t size);
void *uvf__realloc(void *p, size_t n);
char *uvf__strdup(const char *s);
char *uvf__aprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For tests: the k-th allocation from now fails (0: none); whether it did. */
void uvf__alloc_fail_at(long k);
int uvf__alloc_failed(void);

/* error.c */
uvf_err uvf__kind_from_curl(CURLcode rc, int redirected);

/* ca_index.c */
struct x509_store_st;
int uvf__ca_file_lookup(struct x509_store_st *store, const char *path);

/* tls_gate.c */
void uvf__tls_gate_init(uvf__engine *e);
void uvf__tls_gate_soon(uvf__engine *e, uvf__origin *o);
int uvf__tls_gate_pass(uvf__batch *b, uvf__url *u);
void uvf__tls_gate_connected(uvf__xfer *x, uint64_t handshake_us);
void uvf__tls_gate_done(uvf__engine *e, uvf__url *u);
void uvf__tls_gate_release(uvf__batch *b, uvf__link *to);
void uvf__tls_gate_collect(uvf__batch *b, uvf__link *to);

/* tls.c */
int uvf__tls_init(uvf__engine *e, const uvf_options *o);
CURLcode uvf__tls_setup(uvf__xfer *x, CURL *easy);
void uvf__tls_free(uvf__engine *e);

/* tls_session.c */
void uvf__tls_watch(void *ssl_ctx, uvf__xfer *x);
void uvf__tls_session_free(uvf__origin *o);

/* engine.c */
int uvf__engine_new(uvf__engine **out, uv_loop_t *loop, const uvf_options *o);
void uvf__engine_close(uvf__engine *e, void (*cb)(void *ud), void *ud);
void uvf__engine_kick(uvf__engine *e);
void uvf__engine_admit_all(uvf__engine *e);
void uvf__engine_admit_due(uvf__engine *e);
uvf__group *uvf__engine_group(uvf__engine *e, unsigned index);
void uvf__engine_handle_closed(uvf__engine *e);

/* loop.c */
int uvf__group_new(uvf__engine *e, unsigned index, uvf__group **out);
void uvf__group_close(uvf__group *g);
void uvf__group_join(uvf__group *g);
void uvf__group_leave(uvf__group *g);
void uvf__loop_run_due(uvf__engine *e);
void uvf__loop_close_polls(uvf__engine *e);
curl_socket_t uvf__open_socket(void *clientp, curlsocktype purpose,
                               struct curl_sockaddr *addr);
int uvf__close_socket(void *clientp, curl_socket_t fd);

/* origins.c */
/* "scheme://host:port" of the URL set in cu, the host as libcurl would
 * match it (see origins.c); malloc'd, NULL if out of memory. */
char *uvf__origin_key(CURLU *cu, int https);
int uvf__origins_init(uvf__origins *t);
uvf__origin *uvf__origin_ref(uvf__engine *e, const char *key);
void uvf__origin_unref(uvf__engine *e, uvf__origin *o);
void uvf__origins_free(uvf__origins *t);
int uvf__lane_take(uvf__engine *e, uvf__origin *o, int pipewait, unsigned *lane,
                   unsigned *group);
void uvf__lane_give(uvf__origin *o, unsigned lane);
void uvf__origin_learn(uvf__origin *o, long http_version);
void uvf__origin_pause(uvf__engine *e, uvf__origin *o, uint64_t ms);
uint64_t uvf__origin_wait_us(const uvf__origin *o, uint64_t now_us);
void uvf__timer_arm_soonest(uvf__engine *e, uv_timer_t *t, uv_timer_cb cb,
                            uvf__link *list,
                            uint64_t (*when_us)(const uvf__link *));

/* xfer.c */
int uvf__xfer_start(uvf__batch *b, uvf__url *u);
void uvf__xfer_finish(uvf__xfer *x, CURLcode rc);
void uvf__xfer_abort(uvf__xfer *x, uvf_err kind);
void uvf__xfers_free(uvf__engine *e);
long uvf__buffer_size(const uvf_options *o);

/* lookups.c */
int uvf__lookup_room(const uvf__engine *e);
int uvf__setup_room(const uvf__engine *e, const uvf__url *u);
void uvf__lookup_begin(uvf__xfer *x);
void uvf__lookup_over(uvf__xfer *x);
void uvf__setup_over(uvf__xfer *x);
void uvf__lookup_wait(uvf__batch *b, uvf__url *u);
uvf__url *uvf__lookup_next(uvf__batch *b);
void uvf__lookup_collect(uvf__batch *b, uvf__link *to);

/* admit.c */
void uvf__admit(uvf__batch *b);
int uvf__enqueue(uvf__batch *b, const char *url, uint64_t tag, uint64_t *index);
/* Gives u (from uvf__url_make) the next index and queues it. */
void uvf__enqueue_made(uvf__batch *b, uvf__url *u, uint64_t *index);
void uvf__deliver_url_error(uvf__batch *b, uvf__url *u, uvf_err kind,
                            const char *message);
void uvf__host_released(uvf__batch *b, uvf__url *u);
void uvf__url_release(uvf__batch *b, uvf__url *u);
void uvf__polite_init(uvf__batch *b);
int uvf__tracks_hosts(const uvf__batch *b);
void uvf__maybe_done(uvf__batch *b);
uint64_t uvf__waiting(const uvf__batch *b);
void uvf__abort_all(uvf__batch *b, uvf_err kind);

/* request.c */
/* Request options set on a handle, in uvf__xfer.rq_set. */
enum {
  UVF__RQ_HEADERS = 1,  /* CURLOPT_HTTPHEADER is x->hdr_nodes */
  UVF__RQ_BODY = 2,     /* CURLOPT_POSTFIELDS */
  UVF__RQ_CUSTOM = 4,   /* CURLOPT_CUSTOMREQUEST */
  UVF__RQ_NOBODY = 8,   /* CURLOPT_NOBODY (HEAD) */
  UVF__RQ_NOFOLLOW = 16 /* CURLOPT_FOLLOWLOCATION off: request.c follows */
};
/* A URL (plain: rq NULL) in a block of its own, the request copied and
 * checked; no index yet. NULL if out of memory. */
uvf__url *uvf__url_make(const char *url, const uvf_request *rq, uint64_t tag);
/* The smallest struct uvf_submit_request() takes and its checks: 0 or
 * UVF_EINVAL. */
int uvf__request_check(const uvf_request *rq);
/* 1 if a header line's name is `name` (case-insensitive). */
int uvf__header_is(const char *line, const char *name);
/* Sets the method, body, headers and redirect mode of u on the handle,
 * and takes off what a previous request left; 0 or UVF_EBACKEND. */
int uvf__req_setup(uvf__xfer *x, const uvf__url *u);
/* The transfer ended with rc: if it is a redirect that request.c
 * follows, the handle goes on to its target as the same attempt and 1 is
 * returned; else 0, with *rc changed if the redirect cannot be followed. */
int uvf__req_hop(uvf__xfer *x, CURLcode *rc);
/* In the write callback: 1 if this response's body is a redirect's. */
int uvf__req_discard(uvf__xfer *x);
void uvf__req_reset(uvf__xfer *x);

/* headers.c */
void uvf__hdrs_setup(uvf__xfer *x, CURL *easy, int keep);
void uvf__hdrs_reset(uvf__hdrs *h);
/* Fills r->headers and r->n_headers; 0 or UVF_ENOMEM. */
int uvf__hdrs_result(uvf__hdrs *h, uvf_result *r);
/* Calls on_headers, if set and not yet called in this attempt, with the
 * final response's headers; 1 if the transfer must stop (x->hdr_abort or
 * x->hdr_oom says why), else 0. */
int uvf__hdrs_tell(uvf__xfer *x);
void uvf__hdrs_free(uvf__hdrs *h);

/* retry.c */
int uvf__retryable(const uvf_result *r);
uint64_t uvf__retry_delay_ms(uvf__batch *b, unsigned attempts,
                             const uvf_result *r, long retry_after_s);
int uvf__retry_allowed(const uvf__batch *b);
void uvf__retry_init(uvf__batch *b);
int uvf__retry_take(uvf__batch *b, uvf__url *u, const uvf_result *r,
                    long retry_after_s);
/* 1 if u may be sent again after failing as r: an idempotent method, or
 * nothing of it was sent. */
int uvf__may_resend(const uvf__batch *b, const uvf__url *u,
                    const uvf_result *r);
uvf__url *uvf__retry_pop(uvf__batch *b);
void uvf__retry_collect(uvf__batch *b, uvf__link *to);

/* fetcher.c */
int uvf__options_read(uvf_options *dst, const uvf_options *src);
int uvf__batch_alloc(uvf__batch **out, const uvf_options *o,
                     const uvf_callbacks *cb, void *ud);
void uvf__batch_attach(uvf__batch *b, uvf__engine *e);
void uvf__batch_free(uvf__batch *b);
void uvf__deliver(uvf__batch *b, uvf_result *r);
int uvf__batch_set_state(uvf__batch *b, int state);
void uvf__batch_kick(uvf__batch *b);
void uvf__batch_handle_closed(uvf__batch *b);

#endif
