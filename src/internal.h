/* Internal structures shared by the library's files. Nothing here is API. */
#ifndef UVF_INTERNAL_H
#define UVF_INTERNAL_H

#include <curl/curl.h>

#include "uvfetch.h"

/* A URL with its index: queued after uvf_submit(), or parked behind a host
 * that is at its cap. Owns its copy of the URL text. */
typedef struct uvf__url {
  struct uvf__url *next;
  struct uvf__host *host; /* set once classified; holds a reference */
  uint64_t index;
  uint64_t tag;
  uint64_t t_indexed; /* uv_hrtime() when the index was given */
  uint64_t due;       /* uv_now() when a retry may start */
  unsigned attempts;  /* transfers started so far */
  int named;          /* the host is a name, not an IP address */
  int https;          /* set by classification */
  char *history;      /* earlier attempts' errors; NULL if none */
  char url[];
} uvf__url;

/* One scheme+host+port with transfers in flight or URLs parked. Entries
 * live only while referenced, so the table grows with work in progress,
 * never with the number of distinct hosts seen. */
typedef struct uvf__host {
  struct uvf__host *hash_next;
  struct uvf__host *ready_next; /* in fetcher->ready while on it */
  uvf__url *parked_head, *parked_tail;
  struct uvf__host *time_next;  /* in fetcher->timed while on it */
  struct uvf__host *pause_next; /* in fetcher->paused while on it */
  int on_paused;                /* holds a reference until the pause ends */
  uint64_t next_start_us;       /* --rate: earliest next start */
  uint64_t paused_until_us;     /* Retry-After: no start before */
  unsigned in_flight;
  unsigned refs;
  int on_ready;
  int on_timed;
  char key[];
} uvf__host;

typedef struct uvf__hosts {
  uvf__host **buckets;
  size_t nbuckets; /* power of two */
  size_t count;
} uvf__hosts;

/* Transfers are spread over several multi handles ("shards") of at most
 * UVF__SHARD_SIZE slots each. libcurl 7.88 walks a multi handle's whole
 * connection cache on every curl_multi_remove_handle() and scans all the
 * connections to a host before each new transfer, so one multi handle
 * with N connections costs O(N) per request; shards bound that walk. */
#define UVF__SHARD_SIZE 64

typedef struct uvf__shard {
  uvf_fetcher *f;
  CURLM *multi;
  uv_timer_t timer; /* libcurl's timeout, when > 0 ms */
  struct uvf__shard *due_next;
  int timeout_due; /* libcurl asked for a timeout of 0 */
  int on_due;      /* on fetcher->due */
} uvf__shard;

/* One transfer slot: an easy handle that is reused from one URL to the
 * next, so its options and TLS session cache survive. */
typedef struct uvf__xfer {
  struct uvf__xfer *next; /* free list */
  struct uvf__xfer *live_prev, *live_next;
  uvf_fetcher *f;
  uvf__shard *shard; /* for good: its multi handle */
  CURL *easy;
  uvf__url *u; /* owned while in flight */
  uint64_t t_started;
  uint64_t bytes;
  char *body;
  size_t body_len, body_cap;
  int too_large;
  int cb_abort;
  int body_oom;
  int looking;    /* named host, not yet connecting: may be in a lookup */
  int tls_failed; /* the CA store could not be loaded (tls_error says) */
  int pipewait;   /* CURLOPT_PIPEWAIT as last set */
  char errbuf[CURL_ERROR_SIZE];
} uvf__xfer;

/* A uv_poll_t for one socket, kept in a table indexed by fd. Connection
 * sockets (opened through our opensocket callback) keep theirs from open
 * to close, still watching while libcurl leaves them idle, which spares a
 * handle init, start, stop and close for every request on a keep-alive
 * connection. */
typedef struct uvf__poll {
  uv_poll_t h;
  uvf_fetcher *f;
  uvf__shard *shard; /* whose multi handle this socket belongs to */
  curl_socket_t fd;
  int conn;   /* opened by us: close only in the closesocket callback */
  int active; /* uv_poll_start()ed */
  int events; /* what it was started with */
  int want;   /* what libcurl wants now; 0 after CURL_POLL_REMOVE */
} uvf__poll;

struct uvf_fetcher {
  uv_loop_t *loop;
  uvf__shard *shards;
  unsigned nshards;
  uvf__shard *due; /* shards whose libcurl timeout of 0 is pending */
  CURLSH *share;   /* one DNS cache and TLS session cache for all shards */
  char *ca_file, *ca_path;         /* what the CA store is made of */
  struct x509_store_st *tls_store; /* parsed on the first TLS connection */
  char tls_error[256];             /* why it could not be, if so */
  CURLU *cu;
  struct curl_slist *headers;
  char *user_agent;
  char *accept_encoding;
  uvf_options o;
  uvf_callbacks cb;
  void *ud;

  uv_idle_t idle; /* libcurl's timeouts of 0, deferred admission, close */
  unsigned open_handles;
  void (*close_cb)(void *ud);

  uvf__poll **polls; /* indexed by fd */
  size_t npolls;

  uvf__xfer *free_xfers;
  uvf__xfer *live; /* transfers in the multi handle */
  unsigned nxfers; /* slots created, at most max_in_flight */

  uvf__url *queue_head, *queue_tail; /* submitted, not yet taken */
  uvf__hosts hosts;
  uvf__host *ready_head, *ready_tail; /* hosts with parked URLs and room */
  uvf__host *timed;        /* hosts with parked URLs waiting for a time */
  uvf__host *paused_hosts; /* kept alive by a Retry-After pause */
  uv_timer_t polite_timer;

  uv_timer_t retry_timer;
  uvf__url *retry_wait;  /* sorted by due */
  uvf__url *retry_ready; /* due, to start before any new URL */
  uint64_t first_attempts, retries, rng;
  unsigned retry_waiting; /* at most max_in_flight: bounds open files */

  uvf__url *lookup_head, *lookup_tail; /* waiting for a lookup slot */
  unsigned lookup_waiting;
  unsigned lookups; /* transfers with x->looking set */

  uvf_stats st;

  unsigned in_curl; /* > 0 while inside a libcurl call */
  int admit_due;    /* run admission from the idle callback */
  int admitting;    /* admission loop on the stack */
  int paused;
  int draining;     /* uvf_drain(): no transfer starts any more */
  int source_empty; /* next() said -1: ask again after resume */
  int input_ended;
  int done_called;
  int aborted; /* uvf_abort() ran: nothing more will start */
  int closing;
  int torn_down;
};

/* tls.c */
int uvf__tls_init(uvf_fetcher *f, const uvf_options *o);
CURLcode uvf__tls_setup(uvf__xfer *x, CURL *e);
void uvf__tls_free(uvf_fetcher *f);

/* error.c */
uvf_err uvf__kind_from_curl(CURLcode rc, int redirected);

/* hosts.c */
int uvf__hosts_init(uvf__hosts *t);
uvf__host *uvf__host_ref(uvf__hosts *t, const char *key);
void uvf__host_unref(uvf__hosts *t, uvf__host *h);
void uvf__hosts_free(uvf__hosts *t);

/* loop.c */
int uvf__loop_init(uvf_fetcher *f);
void uvf__loop_kick(uvf_fetcher *f);
void uvf__loop_drain(uvf__shard *sh);
void uvf__loop_close_handles(uvf_fetcher *f);
void uvf__loop_free(uvf_fetcher *f);
curl_socket_t uvf__open_socket(void *clientp, curlsocktype purpose,
                               struct curl_sockaddr *addr);
int uvf__close_socket(void *clientp, curl_socket_t fd);

/* xfer.c */
int uvf__xfer_start(uvf_fetcher *f, uvf__url *u);
void uvf__xfer_finish(uvf__xfer *x, CURLcode rc);
void uvf__xfer_abort(uvf__xfer *x, uvf_err kind);
void uvf__xfers_free(uvf_fetcher *f);
void uvf__lookup_over(uvf__xfer *x);
int uvf__lookup_room(const uvf_fetcher *f);
long uvf__buffer_size(const uvf_options *o);

/* admit.c */
void uvf__admit(uvf_fetcher *f);
int uvf__enqueue(uvf_fetcher *f, const char *url, uint64_t tag,
                 uint64_t *index);
void uvf__deliver_url_error(uvf_fetcher *f, uvf__url *u, uvf_err kind,
                            const char *message);
void uvf__host_released(uvf_fetcher *f, uvf__host *h);
void uvf__host_pause(uvf_fetcher *f, uvf__host *h, uint64_t ms);
void uvf__polite_init(uvf_fetcher *f);
int uvf__tracks_hosts(const uvf_fetcher *f);
void uvf__maybe_done(uvf_fetcher *f);
void uvf__abort_all(uvf_fetcher *f, uvf_err kind);

/* retry.c */
void uvf__retry_init(uvf_fetcher *f);
int uvf__retry_take(uvf_fetcher *f, uvf__url *u, const uvf_result *r,
                    long retry_after_s);
uvf__url *uvf__retry_pop(uvf_fetcher *f);
uvf__url *uvf__retry_collect(uvf_fetcher *f);
void uvf__url_free(uvf__url *u);

/* fetcher.c */
void uvf__deliver(uvf_fetcher *f, const uvf_result *r);
void uvf__fetcher_handle_closed(uvf_fetcher *f);
void uvf__teardown(uvf_fetcher *f);

#endif
