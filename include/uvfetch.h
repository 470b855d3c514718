/* uvfetch: fetch many URLs at once with libcurl's multi interface driven
 * by libuv: one event loop instead of a pool of threads.
 *
 * Three ways in, on one engine:
 *  - uvf_fetcher: asynchronous, on the caller's own uv_loop_t;
 *  - uvf_client and uvf_call: a long-lived client with an event loop on a
 *    thread of its own, which any number of threads may call at once; it
 *    keeps connections, the DNS cache, TLS sessions and the parsed CA
 *    store between calls;
 *  - uvf_fetch_all: one blocking call.
 *
 * Contracts that hold for every function below:
 *  - The library never prints and never exits. Errors are values of enum
 *    uvf_err (negative), turned into text by uvf_strerror().
 *  - A function that takes a callback and returns an error never calls it.
 *  - Callbacks of a uvf_fetcher run on the thread that runs its loop, from
 *    inside uv_run(). A uvf_client runs its own callbacks on its own
 *    thread and calls none of the caller's. (A uvf_client_fetch_all()
 *    that finds no other call alive runs the client's loop in the
 *    calling thread until its call is over: no thread hand-over per call.
 *    It changes nothing the caller can see.) libcurl's resolver threads
 *    never call into user code.
 *  - Strings passed in are copied before the call returns unless a comment
 *    says otherwise. Pointers handed to a callback are valid only until
 *    that callback returns.
 *  - Every function accepts NULL for its handle: those that return int
 *    return UVF_EINVAL, the others do nothing.
 *  - Threads: a uvf_fetcher, and everything reached from its callbacks,
 *    belongs to its loop's thread. uvf_client and uvf_call functions may be
 *    called from any thread, at the same time. uvf_fetch_all may run in
 *    several threads at once. Process-wide set-up (curl_global_init) is
 *    done by the library under a lock; libcurl 7.80 or later is required.
 *
 * ABI: the size of every struct the caller allocates reaches the library
 * from sizeof in the caller's own code, through a macro: uvf_options_init(),
 * uvf_callbacks_init() and uvf_request_init() store it in the struct's
 * first field,
 * uvf_get_stats() passes it along. Structs the library allocates
 * (uvf_result) are only ever handed over by pointer. Either may gain fields at
 * its end in a later minor version, and a program built against an older header
 * keeps working with a newer library of the same soname. See doc/abi.md. This
 * header needs only a C99 compiler (or C++), and not <uv.h>.
 */
#ifndef UVFETCH_H
#define UVFETCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(UVF_BUILDING) && defined(__GNUC__)
#define UVF_EXTERN __attribute__((visibility("default")))
#else
#define UVF_EXTERN
#endif

#define UVF_VERSION_MAJOR 0
#define UVF_VERSION_MINOR 4
#define UVF_VERSION_PATCH 0
#define UVF_VERSION_STRING "0.4.0"
/* 0xMMmmpp, for comparisons: #if UVF_VERSION_HEX >= 0x000200 */
#define UVF_VERSION_HEX                                                        \
  ((UVF_VERSION_MAJOR << 16) | (UVF_VERSION_MINOR << 8) | UVF_VERSION_PATCH)

struct uv_loop_s; /* libuv's uv_loop_t */

/* Errors. UVF_OK and the result kinds (UVF_EINVALID_URL ..
 * UVF_EINVALID_REQUEST) describe what happened to one URL and appear in
 * uvf_result.error; the rest are returned by API calls. uvf_err_name() gives
 * the short name used in reports ("dns", "timeout", ...; "none" for UVF_OK). */
typedef enum uvf_err {
  UVF_OK = 0,
  UVF_EINVALID_URL = -1, /* not an absolute http or https URL */
  UVF_EDNS = -2,         /* host name did not resolve */
  UVF_ECONNECT = -3,     /* TCP connect failed or was refused */
  UVF_ETLS = -4,         /* TLS handshake or certificate check failed */
  UVF_ETIMEOUT = -5,     /* total or connect timeout expired */
  UVF_EPROTOCOL = -6,    /* bad reply, reset, too many redirects, ... */
  UVF_ETOO_LARGE = -7,   /* body exceeded uvf_options.max_body */
  UVF_EHTTP = -8,        /* a reply came, but its final status is not 2xx */
  UVF_EABORTED = -9,     /* stopped by uvf_abort(), a cancel or a callback */
  UVF_EDEADLINE = -10,   /* not finished by the caller's deadline */
  UVF_EINVAL = -20,      /* invalid argument */
  UVF_ENOMEM = -21,      /* out of memory */
  UVF_ESTATE = -22,      /* call not allowed now (closing, wrong context) */
  UVF_EBACKEND = -23,    /* libcurl or libuv refused to set up */
  UVF_EAGAIN = -24,      /* not now: no result yet, or no room yet */
  UVF_EOF = -25,         /* no more: every result has been taken */
  UVF_EINVALID_REQUEST = -11 /* a request whose method, headers or body
                                cannot be sent (see uvf_request) */
} uvf_err;

/* Static strings; never NULL, also for unknown values. */
UVF_EXTERN const char *uvf_strerror(int err);
UVF_EXTERN const char *uvf_err_name(int err);
UVF_EXTERN const char *uvf_version(void);

/* ---- options ---- */

#define UVF_MAX_IN_FLIGHT 1000000

/* Which HTTP versions are spoken. */
enum uvf_http_version {
  UVF_HTTP_AUTO = 0,   /* HTTP/2 over TLS when the server offers it
                          (ALPN), HTTP/1.1 otherwise and for http:// */
  UVF_HTTP_1_1 = 1,    /* HTTP/1.1 only */
  UVF_HTTP_2_PRIOR = 2 /* HTTP/2 without asking first, also for http://
                          (h2c with prior knowledge) */
};

/* Settings. Fill with uvf_options_init() first, then change fields; a
 * zero-filled struct is not a valid set of defaults. The library copies
 * what it needs (strings and the header array included). Fields marked
 * [engine] are read when a fetcher or a client is made and ignored in the
 * options of a single uvf_call. */
typedef struct uvf_options {
  size_t size;                /* set by uvf_options_init() */
  unsigned max_in_flight;     /* N, transfers at once, 1 to UVF_MAX_IN_FLIGHT;
                                 default 50 */
  unsigned max_per_host;      /* per scheme+host+port; 0 = no cap (default) */
  unsigned max_waiting;       /* URLs parked behind busy hosts before the
                                 source is no longer read; 0 = 4 * N */
  long timeout_ms;            /* whole transfer; 0 = none; default 30000 */
  long connect_timeout_ms;    /* default 10000 */
  long max_redirects;         /* -1 = do not follow; default 10 */
  const char *const *headers; /* "Name: value" lines, n_headers of them */
  size_t n_headers;
  const char *user_agent;      /* NULL = "uvfetch/<version>" */
  uint64_t max_body;           /* bytes; 0 = no limit (default); at most
                                  INT64_MAX. A body that grows past it is
                                  handed on up to the limit, then ends
                                  UVF_ETOO_LARGE */
  const char *accept_encoding; /* NULL = send none (default);
                                  "" = every encoding libcurl decodes */
  int insecure;                /* 1 = skip TLS verification; default 0 */
  const char *ca_file;         /* [engine] PEM file of trusted CAs; NULL =
                                  libcurl's default (Debian: /etc/ssl/certs/
                                  ca-certificates.crt). Parsed once per
                                  process, on the first TLS connection */
  const char *ca_path;         /* [engine] directory of hashed CA
                                  certificates; NULL = libcurl's default
                                  (Debian: /etc/ssl/certs) */
  int http_version;            /* enum uvf_http_version; default
                                  UVF_HTTP_AUTO */
  unsigned max_streams;        /* [engine] HTTP/2 requests at once on one
                                  connection; the server's own limit must
                                  allow it. 1 to 65535, default 100 */
  int keep_body;               /* 1 = collect each body in memory and hand it
                                  over in uvf_result.body; default 0 */
  double rate_per_host;        /* requests started per second and host, evenly
                                  spaced; 0 = no limit (default), else from
                                  0.001 to 1000000 */
  long low_speed_limit;        /* bytes/s; below it for low_speed_time seconds
                                  a transfer ends with UVF_ETIMEOUT; 0 = off */
  long low_speed_time;         /* seconds; default 30 when the limit is set */
  unsigned max_retries;        /* retries after a retryable failure: connect
                                  error, timeout, reset or empty reply, a
                                  refused or reset HTTP/2 stream, HTTP 408,
                                  429, 500, 502, 503, 504; default 0. A batch
                                  retries at most 10 + 1 per 10 first
                                  attempts in all, and keeps at most
                                  max_in_flight URLs waiting for a retry;
                                  past either, a failure is final */
  long retry_base_ms;          /* backoff: a random wait in [0, base * 2^k],
                                  k = retries so far; default 500 */
  long retry_max_ms;           /* cap of one wait, Retry-After included;
                                  default 30000. A 429 or 503 with Retry-After
                                  also pauses its whole host that long */
  long buffer_size;            /* libcurl receive buffer per transfer, 1024 to
                                  10 MiB; 0 = 4 MiB / N within 1 to 128 KiB */
  unsigned max_lookups;        /* [engine] transfers at once that may be
                                  looking up a host name (URLs with an IP
                                  address never wait for this); the rest
                                  wait, holding no socket. Debian's libcurl
                                  spends a thread and two file descriptors
                                  on each lookup and has no cap of its own.
                                  Default 64; 0 = no cap. A lookup for a
                                  redirect's new host is not counted */
  long idle_timeout_ms;        /* an idle connection older than this is not
                                  reused; default 118000 (libcurl's) */
  int retry_all_methods;       /* 1 = retry requests of any method; default
                                  0: only GET, HEAD, PUT, DELETE, OPTIONS
                                  and TRACE, requests with an
                                  Idempotency-Key header, and, whatever the
                                  method, a refused connection (nothing was
                                  sent) */
  int keep_headers;            /* 1 = hand over the final response's header
                                  fields in uvf_result.headers; default 0
                                  (see also uvf_callbacks.on_headers) */
  uint64_t max_header_bytes;   /* with keep_headers or an on_headers
                                  callback: response header bytes
                                  (status lines included) one attempt may
                                  receive over all its responses (redirects
                                  and 1xx too); past it the transfer ends
                                  UVF_EPROTOCOL. Default 65536; 0 = only
                                  libcurl's own limit */
  unsigned max_handshakes;     /* [engine] https transfers at once that may
                                  be setting up a connection (connect and
                                  TLS handshake), from their start until
                                  the connection is ready or one is reused;
                                  the rest wait, holding no socket. A
                                  handshake in progress holds about 32 KiB
                                  of OpenSSL buffers, so a burst of new
                                  connections peaks lower with a cap (2,000
                                  at once: 152 MiB RSS, 118 MiB with 64).
                                  Each round trip then opens about this
                                  many, which slows a burst over a distant
                                  link. Default 0: no cap (0.4.0) */
#ifdef UVF_TEST_GROWN_ABI
  long grown_field; /* the ABI test's stand-in for a later field */
#endif
} uvf_options;

UVF_EXTERN void uvf_options_init_size(uvf_options *o, size_t size);
#define uvf_options_init(o) uvf_options_init_size((o), sizeof(*(o)))

/* ---- requests ---- */

/* A URL with its method, headers and body, handed over like a URL (see
 * uvf_submit_request(), uvf_callbacks.next_request,
 * uvf_call_submit_request()). Fill with uvf_request_init() first, then
 * set fields. The library copies all of it, the body included, before
 * the call that takes it returns.
 *
 * A request that cannot be sent as it is (a method that is not an HTTP
 * token, a header line that is not "Name: value" or holds a line break,
 * a HEAD with a body) gets its index all the same and a result with
 * UVF_EINVALID_REQUEST whose message names the field.
 *
 * Redirects go as in browsers and curl: 301 and 302 turn a POST into a
 * GET without body, 303 turns any method but HEAD into one, 307 and 308
 * keep the method and the body; Authorization and Cookie headers (the
 * request's and uvf_options.headers') are not sent on to another scheme,
 * host or port. */
typedef struct uvf_request {
  size_t size;        /* set by uvf_request_init() */
  const char *url;    /* absolute http or https URL */
  const char *method; /* NULL = GET, or POST when body is not NULL (as curl
                         -d). An HTTP token, sent as given, except GET,
                         HEAD, POST, PUT, DELETE and OPTIONS, which are
                         sent upper-case whatever their case */
  const char *const *headers; /* "Name: value" lines, n_headers of them,
                                 sent besides uvf_options.headers; one
                                 there of the same name is replaced. As
                                 there, "Name:" removes a header libcurl
                                 would send, "Name;" sends it empty */
  size_t n_headers;
  const void *body; /* body_len bytes, any bytes (NUL too); NULL = none. A
                       body makes libcurl add Content-Length and, unless
                       a header gives one, Content-Type:
                       application/x-www-form-urlencoded, as curl -d */
  size_t body_len;
  uint64_t tag; /* handed back in the result */
#ifdef UVF_TEST_GROWN_ABI
  long grown_field;
#endif
} uvf_request;

UVF_EXTERN void uvf_request_init_size(uvf_request *rq, size_t size);
#define uvf_request_init(rq) uvf_request_init_size((rq), sizeof(*(rq)))

/* ---- results ---- */

/* One response header field. Never grows (it comes in arrays). */
typedef struct uvf_header {
  const char *name;  /* lower-cased */
  const char *value; /* without surrounding white space */
} uvf_header;

/* One earlier attempt of a URL that was retried. Never grows. */
typedef struct uvf_attempt {
  uvf_err error; /* its result kind */
  long status;   /* its HTTP status, 0 if none */
  int curl_code; /* its raw CURLcode, 0 if none */
} uvf_attempt;

/* What happened to one URL. Always allocated by the library and handed
 * over by pointer; how long it lives is said where it is handed over. */
typedef struct uvf_result {
  size_t size;                /* of this struct in the library that made it */
  uint64_t index;             /* 0-based position among the URLs of the batch */
  uint64_t tag;               /* the caller's tag given with the URL */
  const char *url;            /* as submitted */
  const char *final_url;      /* after redirects; NULL if no request was made
                                 or the transfer was aborted */
  long status;                /* final HTTP status; 0 if none or aborted */
  int ok;                     /* 1 when error == UVF_OK (final status 2xx) */
  uvf_err error;              /* UVF_OK or a result kind */
  int curl_code;              /* raw CURLcode, 0 if none */
  const char *message;        /* human-readable detail; "" when ok */
  uint64_t bytes;             /* body bytes received (decoded); with keep_body,
                                 the length of body, NUL bytes included */
  const char *body;           /* keep_body only: the body, followed by a NUL
                                 that is not counted in bytes; else NULL */
  double time_total;          /* seconds, the last attempt's transfer */
  double time_connect;        /* seconds until TCP connected */
  double time_ttfb;           /* seconds until the first response byte */
  double time_queued;         /* seconds between index and transfer start */
  unsigned attempts;          /* transfers started for this URL */
  const uvf_attempt *history; /* the failed attempts before this result,
                                 oldest first; NULL if none */
  unsigned n_history;
  unsigned redirects;        /* redirects followed */
  long http_version;         /* of the final reply: 10, 11, 20; 0 if none */
  const uvf_header *headers; /* keep_headers only: the final response's
                                header fields (after redirects and 1xx),
                                in the order received, a repeated name
                                once per line; NULL if none */
  size_t n_headers;
#ifdef UVF_TEST_GROWN_ABI
  long grown_field;
#endif
} uvf_result;

/* ---- the asynchronous fetcher, on the caller's loop ---- */

typedef struct uvf_fetcher uvf_fetcher;

typedef struct uvf_callbacks {
  size_t size; /* set by uvf_callbacks_init() */
  /* Pull source, optional. Called when a slot is free and no submitted URL
   * waits. Return 1 with *url (read during this call only) and *tag set,
   * 0 when the input has ended for good, or -1 when nothing is ready now:
   * it is asked again after uvf_resume(). If it calls uvf_abort() or
   * uvf_fetcher_close(), the URL it returns is dropped without an index. */
  int (*next)(void *ud, const char **url, uint64_t *tag);
  /* Optional. A transfer for this index is about to start; again for
   * each retry, after which the earlier attempt's body bytes (already
   * passed to on_body) are void. Runs inside admission: uvf_abort() is
   * refused here; after uvf_fetcher_close() the transfer does not start
   * and its result says UVF_EABORTED. */
  void (*on_start)(void *ud, uint64_t index, uint64_t tag);
  /* Optional. Body bytes as they arrive (decoded). Return 0 to go on,
   * non-zero to stop this transfer (its result says UVF_EABORTED). Runs
   * inside libcurl: uvf_abort() is refused here (UVF_ESTATE) and
   * uvf_fetcher_close() takes effect on the next loop iteration. */
  int (*on_body)(void *ud, uint64_t index, const char *data, size_t len);
  /* Exactly once per index, in completion order; the result lives until
   * it returns. May call uvf_submit, uvf_pause, uvf_resume, uvf_abort and
   * uvf_fetcher_close. */
  void (*on_result)(void *ud, const uvf_result *r);
  /* Optional. The input has ended (next returned 0, uvf_end_input was
   * called, or the fetcher was aborted) and every index has its result.
   * Called once, possibly from inside uvf_abort() or uvf_fetcher_close(). */
  void (*on_done)(void *ud);
  /* Pull source of requests, optional, in place of next (a fetcher with
   * both is refused). As next, with the request in *rq, which (and what
   * it points to) is read before the source is asked again; its tag is
   * the request's. A request without a URL gets
   * its index and an UVF_EINVALID_REQUEST result. */
  int (*next_request)(void *ud, const uvf_request **rq);
  /* Optional. The final response's status and header fields (as in
   * uvf_result.headers: names lower-cased, in the order received; given
   * whether or not keep_headers is set), once per attempt, as soon as it
   * is known to be final: before its first body byte reaches on_body, or,
   * for a response without a body, before its result (or its retry). Not
   * called for an attempt that fails before its body starts. headers is
   * valid during the call only. Return 0 to go on, non-zero to stop this
   * transfer (its result says UVF_EABORTED). As in on_body, uvf_abort()
   * is refused here and uvf_fetcher_close() takes effect on the next
   * loop iteration. Setting it makes the library collect response
   * headers, so max_header_bytes applies. */
  int (*on_headers)(void *ud, uint64_t index, long status,
                    const uvf_header *headers, size_t n_headers);
#ifdef UVF_TEST_GROWN_ABI
  void (*grown_field)(void *ud);
#endif
} uvf_callbacks;

UVF_EXTERN void uvf_callbacks_init_size(uvf_callbacks *cb, size_t size);
#define uvf_callbacks_init(cb) uvf_callbacks_init_size((cb), sizeof(*(cb)))

/* Creates a fetcher on the caller's loop. It starts work on the next loop
 * iteration. *out is set only on success; on failure no handle is left on
 * the loop. cb is copied; ud is passed back to every callback.
 * While the fetcher lives it keeps handles on the loop (idle keep-alive
 * connections are watched too), so uv_run(UV_RUN_DEFAULT) returns only
 * after uvf_fetcher_close() has finished. A program that closes every
 * handle with uv_walk() must skip the fetcher's (their data pointers are
 * the library's) and call uvf_fetcher_close() instead. */
UVF_EXTERN int uvf_fetcher_new(uvf_fetcher **out, struct uv_loop_s *loop,
                               const uvf_options *o, const uvf_callbacks *cb,
                               void *ud);

/* Queues one URL (copied) and tells its index. The URL is checked when it
 * is admitted; an invalid one gets a UVF_EINVALID_URL result. */
UVF_EXTERN int uvf_submit(uvf_fetcher *f, const char *url, uint64_t tag,
                          uint64_t *index);

/* Queues one request (copied, its body too) and tells its index: as
 * uvf_submit(). UVF_EINVAL if rq or its URL is NULL, or headers or body is
 * NULL with a count that is not 0. */
UVF_EXTERN int uvf_submit_request(uvf_fetcher *f, const uvf_request *rq,
                                  uint64_t *index);

/* No more uvf_submit() calls will come; on_done fires once all is done.
 * Needed only when there is no next callback. */
UVF_EXTERN int uvf_end_input(uvf_fetcher *f);

/* Backpressure: after uvf_pause() no new URL is taken from the queue or the
 * source; transfers in flight and URLs already parked behind a busy host go
 * on. uvf_resume() undoes it; it is also how a source whose next() said -1
 * tells that it has URLs again (it clears that state even when not paused).
 * Both only set state: admission runs on the next loop iteration. */
UVF_EXTERN void uvf_pause(uvf_fetcher *f);
UVF_EXTERN void uvf_resume(uvf_fetcher *f);

/* Winding down: from now on no transfer starts, not even for a URL already
 * parked or waiting for a retry; transfers in flight go on to their
 * results. It cannot be undone; uvf_abort() ends what is left, and
 * uvf_get_stats() tells when in_flight has reached 0. A program that got
 * SIGINT calls it, gives the transfers a grace period, then aborts. Only
 * sets state, like uvf_pause(). */
UVF_EXTERN int uvf_drain(uvf_fetcher *f);

/* Stops taking new URLs and ends every indexed URL that has no result yet
 * (queued, parked or in flight) with the given kind, UVF_EABORTED or
 * UVF_EDEADLINE. Their on_result calls run before this returns, and so does
 * on_done (unless uvf_abort was called from on_result inside admission, in
 * which case on_done follows once that returns). URLs never taken from the
 * source get no index and no result. Returns UVF_ESTATE when called from
 * on_body or on_start. */
UVF_EXTERN int uvf_abort(uvf_fetcher *f, uvf_err kind);

typedef struct uvf_stats {
  uint64_t submitted; /* indexes given out so far */
  uint64_t queued;    /* submitted, not yet admitted */
  uint64_t waiting;   /* parked behind a busy, rate-limited or paused
                         host, waiting for a retry, or for a lookup
                         slot (see max_lookups) */
  uint64_t in_flight;
  uint64_t done; /* results delivered */
  uint64_t ok;
  uint64_t bytes;    /* body bytes of finished transfers */
  uint64_t connects; /* connections opened (TCP connect attempts) */
#ifdef UVF_TEST_GROWN_ABI
  uint64_t grown_field;
#endif
} uvf_stats;

/* Fills *s, of the caller's size (the macro passes it). */
UVF_EXTERN void uvf_get_stats_size(const uvf_fetcher *f, uvf_stats *s,
                                   size_t size);
#define uvf_get_stats(f, s) uvf_get_stats_size((f), (s), sizeof(*(s)))

/* Aborts what is left (UVF_EABORTED results are delivered first, and
 * on_done if not yet), then releases every handle. close_cb, if any, runs
 * from the loop after the fetcher's memory is gone; after it
 * uv_loop_close() of the caller's loop no longer sees any handle of ours.
 * A second call does nothing. Called from on_body or on_start, the abort
 * and its results wait for the next loop iteration. */
UVF_EXTERN void uvf_fetcher_close(uvf_fetcher *f, void (*close_cb)(void *ud));

/* ---- the long-lived client, on a thread of its own ---- */

typedef struct uvf_client uvf_client;
typedef struct uvf_call uvf_call;

/* Starts a client: an event loop on a new thread, and everything that
 * outlives a call (connections, DNS cache, TLS sessions, the CA store).
 * o gives the defaults of its calls and the [engine] settings. It keeps
 * as many idle connections as were in use at once in the last minute,
 * plus an allowance of 128 for each of its internal multi handles. None
 * is reused once it has been idle longer than idle_timeout_ms. */
UVF_EXTERN int uvf_client_new(uvf_client **out, const uvf_options *o);

/* Ends every call still running (their URLs end as UVF_EABORTED), closes
 * the connections (politely: no reset), stops the thread and frees the
 * client; sets *c to NULL. Calls of this client must still be freed with
 * uvf_call_free() (before or after). Must not be called from a thread
 * that is waiting in one of the client's calls. */
UVF_EXTERN void uvf_client_free(uvf_client **c);

/* Cancels every call of the client that is running now, from any thread;
 * the client stays usable. */
UVF_EXTERN int uvf_client_cancel_all(uvf_client *c);

/* Starts a call: a batch of URLs with its own options (NULL: the
 * client's; [engine] fields are ignored) and deadline (ms from now; 0 =
 * none). URLs are then handed over with uvf_call_submit() and results
 * taken with uvf_call_next(). */
UVF_EXTERN int uvf_call_start(uvf_call **out, uvf_client *c,
                              const uvf_options *o, long deadline_ms);

/* Hands over one URL (copied) and tells its index. Returns UVF_EAGAIN when
 * 2 N URLs are submitted and their results not yet taken: take one with
 * uvf_call_next() and submit again. UVF_ESTATE after uvf_call_end_input()
 * or once the call was cancelled or reached its deadline. */
UVF_EXTERN int uvf_call_submit(uvf_call *call, const char *url, uint64_t tag,
                               uint64_t *index);

/* Hands over one request (copied, its body too, before this returns), as
 * uvf_call_submit() and uvf_submit_request(). */
UVF_EXTERN int uvf_call_submit_request(uvf_call *call, const uvf_request *rq,
                                       uint64_t *index);

/* No more URLs. */
UVF_EXTERN int uvf_call_end_input(uvf_call *call);

/* The next finished result, in completion order, waiting at most
 * timeout_ms (0 = do not wait, -1 = as long as it takes). Returns 0 with
 * *r set (free it with uvf_result_free()); UVF_EAGAIN if none came in time;
 * UVF_ENOMEM in place of a result that could not be kept (out of memory);
 * UVF_EOF once the call is over (input ended, cancelled or past its
 * deadline) and every URL submitted has had its result taken. */
UVF_EXTERN int uvf_call_next(uvf_call *call, long timeout_ms, uvf_result **r);

/* A file descriptor that is readable while a result waits to be taken or
 * the call is done (an eventfd, made by the first call to this), for
 * callers with an event loop of their own (asyncio's add_reader). Owned by
 * the call. */
UVF_EXTERN int uvf_call_fd(uvf_call *call);

/* Ends the call, from any thread: every URL submitted and not finished
 * ends as UVF_EABORTED, at once, and uvf_call_next() hands those results
 * out. Further submits get UVF_ESTATE. */
UVF_EXTERN int uvf_call_cancel(uvf_call *call);

/* Cancels the call if it is not done and frees it, with the results not
 * taken; sets *call to NULL. */
UVF_EXTERN void uvf_call_free(uvf_call **call);

UVF_EXTERN void uvf_result_free(uvf_result *r);

/* ---- blocking calls ---- */

/* The results of a blocking call, by index. */
typedef struct uvf_results uvf_results;

UVF_EXTERN size_t uvf_results_count(const uvf_results *rs);
/* Result i (0 <= i < count), valid until uvf_results_free(). */
UVF_EXTERN const uvf_result *uvf_results_get(const uvf_results *rs, size_t i);
UVF_EXTERN void uvf_results_free(uvf_results **rs);

/* Submits urls[0..n) to the call (started with nothing submitted), ends
 * its input and waits for every result: *out gets them by index. Another
 * thread may uvf_call_cancel() the call meanwhile: this then returns at
 * once with UVF_EABORTED results for what had not finished. Returns UVF_OK
 * or an API error, with *out untouched. */
UVF_EXTERN int uvf_call_fetch_all(uvf_call *call, const char *const *urls,
                                  size_t n, uvf_results **out);

/* uvf_call_start(), uvf_call_fetch_all(), uvf_call_free() in one. When no
 * other call of the client is alive, the calling thread runs the call on
 * the client's loop itself (the client's thread rests meanwhile, and
 * takes the loop back if other calls come), which spares two thread
 * wake-ups a call. */
UVF_EXTERN int uvf_client_fetch_all(uvf_client *c, const char *const *urls,
                                    size_t n, const uvf_options *o,
                                    long deadline_ms, uvf_results **out);

/* The same on a private loop in the calling thread: no connection or
 * cache outlives it. */
UVF_EXTERN int uvf_fetch_all(const char *const *urls, size_t n,
                             const uvf_options *o, long deadline_ms,
                             uvf_results **out);

#ifdef __cplusplus
}
#endif
#endif /* UVFETCH_H */
