/* uvfetch: fetch many URLs on one libuv loop with libcurl's multi interface.
 *
 * Contracts that hold for every function below:
 *  - The library never prints and never exits. Errors are values of
 *    enum uvf_err (negative), turned into text by uvf_strerror().
 *  - A function that takes a callback and returns an error never calls it.
 *  - Every callback runs on the thread that runs the fetcher's uv_loop_t,
 *    from inside uv_run(); the library starts no thread of its own (libcurl's
 *    threaded resolver may, but it never calls back into user code).
 *  - Strings passed in are copied before the call returns unless a comment
 *    says otherwise. Pointers handed to a callback are valid only until
 *    that callback returns.
 */
#ifndef UVFETCH_H
#define UVFETCH_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(UVF_BUILDING) && defined(__GNUC__)
#define UVF_EXTERN __attribute__((visibility("default")))
#else
#define UVF_EXTERN
#endif

#define UVF_VERSION_MAJOR 0
#define UVF_VERSION_MINOR 1
#define UVF_VERSION_PATCH 0
#define UVF_VERSION_STRING "0.1.0"

/* Errors. UVF_OK and the result kinds (UVF_EINVALID_URL .. UVF_EDEADLINE)
 * describe what happened to one URL and appear in uvf_result.error; the
 * rest are returned by API calls. uvf_err_name() gives the short name used
 * in reports ("dns", "timeout", ...; "none" for UVF_OK). */
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
  UVF_EABORTED = -9,     /* stopped by uvf_abort() or a callback */
  UVF_EDEADLINE = -10,   /* not finished by the caller's deadline */
  UVF_EINVAL = -20,      /* invalid argument */
  UVF_ENOMEM = -21,      /* out of memory */
  UVF_ESTATE = -22,      /* call not allowed now (closing, wrong context) */
  UVF_EBACKEND = -23     /* libcurl or libuv refused to set up */
} uvf_err;

/* Static strings; never NULL, also for unknown values. */
UVF_EXTERN const char *uvf_strerror(int err);
UVF_EXTERN const char *uvf_err_name(int err);
UVF_EXTERN const char *uvf_version(void);

/* Settings for a fetcher. Fill with uvf_options_init() first, then change
 * fields; a zero-filled struct is not a valid set of defaults. The library
 * copies what it needs from it (strings and the header array included). */
#define UVF_MAX_IN_FLIGHT 1000000

/* Which HTTP versions a fetcher speaks. */
enum uvf_http_version {
  UVF_HTTP_AUTO = 0,   /* HTTP/2 over TLS when the server offers it
                          (ALPN), HTTP/1.1 otherwise and for http:// */
  UVF_HTTP_1_1 = 1,    /* HTTP/1.1 only */
  UVF_HTTP_2_PRIOR = 2 /* HTTP/2 without asking first, also for http://
                          (h2c with prior knowledge) */
};

typedef struct uvf_options {
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
  uint64_t max_body;           /* bytes; 0 = no limit (default) */
  const char *accept_encoding; /* NULL = send none (default);
                                  "" = every encoding libcurl decodes */
  int insecure;                /* 1 = skip TLS verification; default 0 */
  const char *ca_file;         /* PEM file of trusted CAs; NULL = libcurl's
                                  default (Debian: /etc/ssl/certs/
                                  ca-certificates.crt). Parsed once per
                                  process, on the first TLS connection */
  const char *ca_path;         /* directory of hashed CA certificates;
                                  NULL = libcurl's default (Debian:
                                  /etc/ssl/certs) */
  int http_version;            /* enum uvf_http_version; default
                                  UVF_HTTP_AUTO */
  unsigned max_streams;        /* HTTP/2 requests at once on one connection;
                                  the server's own limit holds too; 1 to
                                  65535, default 100 */
  int keep_body;               /* 1 = collect each body in memory and hand it
                                  over in uvf_result.body; default 0 */
  double rate_per_host;        /* requests started per second and host, evenly
                                  spaced; 0 = no limit (default) */
  long low_speed_limit;        /* bytes/s; below it for low_speed_time seconds
                                  a transfer ends with UVF_ETIMEOUT; 0 = off */
  long low_speed_time;         /* seconds; default 30 when the limit is set */
  unsigned max_retries;        /* retries after a retryable failure: connect
                                  error, timeout, reset or empty reply, HTTP
                                  408, 429, 500, 502, 503, 504; default 0.
                                  A fetcher retries at most 10 + 1 per 10
                                  first attempts in all, and keeps at most
                                  max_in_flight URLs waiting for a retry;
                                  past either, a failure is final */
  long retry_base_ms;          /* backoff: a random wait in [0, base * 2^k],
                                  k = retries so far; default 500 */
  long retry_max_ms;           /* cap of one wait, Retry-After included;
                                  default 30000. A 429 or 503 with Retry-After
                                  also pauses its whole host that long, when
                                  hosts are tracked (per-host cap, rate or
                                  retries set) */
  long buffer_size;            /* libcurl receive buffer per transfer, 1024 to
                                  10 MiB; 0 = 4 MiB / N within 1 to 128 KiB */
  unsigned max_lookups;        /* transfers at once that may be looking up a
                                  host name (URLs with an IP address never
                                  wait for this); the rest wait, holding no
                                  socket. Debian's libcurl spends a thread and
                                  two file descriptors on each lookup and has
                                  no cap of its own. Default 64; 0 = no cap.
                                  A lookup for a redirect's new host is not
                                  counted */
} uvf_options;

UVF_EXTERN void uvf_options_init(uvf_options *o);

/* One earlier attempt of a URL that was retried. */
typedef struct uvf_attempt {
  uvf_err error; /* its result kind */
  long status;   /* its HTTP status, 0 if none */
  int curl_code; /* its raw CURLcode, 0 if none */
} uvf_attempt;

/* What happened to one URL. Handed to on_result; every pointer in it lives
 * until on_result returns (except in uvf_fetch_all, see there). */
typedef struct uvf_result {
  uint64_t index;             /* 0-based position among submitted URLs */
  uint64_t tag;               /* the caller's tag given with the URL */
  const char *url;            /* as submitted */
  const char *final_url;      /* after redirects; NULL if no request was made
                                 or the transfer was aborted */
  long status;                /* final HTTP status; 0 if none or aborted */
  int ok;                     /* 1 when error == UVF_OK (final status 2xx) */
  uvf_err error;              /* UVF_OK or a result kind */
  int curl_code;              /* raw CURLcode, 0 if none */
  const char *message;        /* human-readable detail; "" when ok */
  uint64_t bytes;             /* body bytes received (decoded) */
  const char *body;           /* keep_body only: the body, NUL-terminated */
  double time_total;          /* seconds, the last attempt's transfer */
  double time_connect;        /* seconds until TCP connected */
  double time_ttfb;           /* seconds until the first response byte */
  double time_queued;         /* seconds between index and transfer start */
  unsigned attempts;          /* transfers started for this URL */
  const uvf_attempt *history; /* the failed attempts before the last,
                                 oldest first; NULL if none */
  unsigned n_history;
  unsigned redirects; /* redirects followed */
  long http_version;  /* of the final reply: 10, 11, 20; 0 if none */
} uvf_result;

typedef struct uvf_fetcher uvf_fetcher;

typedef struct uvf_callbacks {
  /* Pull source, optional. Called when a slot is free and no submitted URL
   * waits. Return 1 with *url (read during this call only) and *tag set,
   * 0 when the input has ended for good, or -1 when nothing is ready now:
   * it is asked again after uvf_resume(). If it calls uvf_abort() or
   * uvf_fetcher_close(), the URL it returns is dropped without an index. */
  int (*next)(void *ud, const char **url, uint64_t *tag);
  /* Optional. A transfer for this index is about to start; again for
   * each retry, after which the earlier attempt's body bytes (already
   * passed to on_body) are void. Runs inside
   * admission: uvf_abort() is refused here; after uvf_fetcher_close() the
   * transfer does not start and its result says UVF_EABORTED. */
  void (*on_start)(void *ud, uint64_t index, uint64_t tag);
  /* Optional. Body bytes as they arrive (decoded). Return 0 to go on,
   * non-zero to stop this transfer (its result says UVF_EABORTED). Runs
   * inside libcurl: uvf_abort() is refused here (UVF_ESTATE) and
   * uvf_fetcher_close() takes effect on the next loop iteration. */
  int (*on_body)(void *ud, uint64_t index, const char *data, size_t len);
  /* Exactly once per index, in completion order. May call uvf_submit,
   * uvf_pause, uvf_resume, uvf_abort and uvf_fetcher_close. */
  void (*on_result)(void *ud, const uvf_result *r);
  /* Optional. The input has ended (next returned 0 or uvf_end_input was
   * called) and every index has its result. Called once. */
  void (*on_done)(void *ud);
} uvf_callbacks;

/* Creates a fetcher on the caller's loop. It starts work on the next loop
 * iteration. *out is set only on success. cb is copied; ud is passed back
 * to every callback. */
UVF_EXTERN int uvf_fetcher_new(uvf_fetcher **out, uv_loop_t *loop,
                               const uvf_options *o, const uvf_callbacks *cb,
                               void *ud);

/* Queues one URL (copied) and tells its index. The URL is checked when it
 * is admitted; an invalid one gets a UVF_EINVALID_URL result. */
UVF_EXTERN int uvf_submit(uvf_fetcher *f, const char *url, uint64_t tag,
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
 * sets state, like uvf_pause(); returns UVF_EINVAL for NULL. */
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
} uvf_stats;

UVF_EXTERN void uvf_get_stats(const uvf_fetcher *f, uvf_stats *s);

/* Aborts what is left (UVF_EABORTED results are delivered first), then
 * releases every handle. close_cb, if any, runs from the loop after the
 * fetcher's memory is gone; after it uv_loop_close() of the caller's loop
 * no longer sees any handle of ours. A second call does nothing. Called
 * from on_body or on_start, the abort and its results wait for the next
 * loop iteration. */
UVF_EXTERN void uvf_fetcher_close(uvf_fetcher *f, void (*close_cb)(void *ud));

/* Blocking: fetches urls[0..n) on a private loop and fills results[i] for
 * each i. Work not finished deadline_ms after the call began ends with
 * UVF_EDEADLINE (0 = no deadline). The strings in results belong to the
 * caller, who releases them with uvf_results_free(). Returns UVF_OK; an
 * API error with results untouched; or UVF_EBACKEND with results filled
 * (free them too) if the private loop would not close, which is a bug. */
UVF_EXTERN int uvf_fetch_all(const char *const *urls, size_t n,
                             const uvf_options *o, long deadline_ms,
                             uvf_result *results);
UVF_EXTERN void uvf_results_free(uvf_result *results, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* UVFETCH_H */
