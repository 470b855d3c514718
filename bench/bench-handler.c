/* The web handler of S1 (doc/scenarios.md) inside a long-lived server: W
 * handler threads, each serving requests back to back for D seconds (a
 * closed-loop load generator in the same process); a request fetches K
 * URLs with a deadline and answers once every URL has its result. How the
 * URLs are fetched is the design:
 *
 *   -m client   one uvf_client shared by every handler (uvf_client_fetch_all)
 *   -m oneshot  a fresh uvf_fetch_all per request (nothing outlives it)
 *   -m pool     a shared pool of P threads, each reusing one blocking libcurl
 *               easy handle; a request queues its URLs and waits for them
 *   -m easy     no concurrency at all: each handler fetches its URLs one
 *               after another on its own reused easy handle (with K=1, the
 *               cost of one request on a warm connection)
 *
 *   bench-handler -m MODE -w W -k K -d SECONDS -D DEADLINE_MS [-p P] URL...
 *
 * The URLs given are used in turn (a request takes the next K of them,
 * wrapping around). Prints one line:
 *   requests=R rps=X p50_ms=A p99_ms=B late=L failed=F urls_ok=U
 * where late counts requests that took longer than their deadline plus
 * 100 ms, and failed the URLs of requests that did not get a 2xx. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "uvfetch.h"

#define MAX_LAT 1000000

typedef struct config {
  const char *mode;
  unsigned w, k, p;
  double seconds;
  long deadline_ms;
  char **urls;
  size_t nurls;
} config;

static config cfg;
static uvf_client *client;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static double *lat; /* ms per request */
static size_t nlat;
static uint64_t late, failed, urls_ok;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void record(double ms, uint64_t ok, uint64_t bad) {
  pthread_mutex_lock(&stats_lock);
  if (nlat < MAX_LAT)
    lat[nlat++] = ms;
  if (ms > (double)cfg.deadline_ms + 100)
    late++;
  urls_ok += ok;
  failed += bad;
  pthread_mutex_unlock(&stats_lock);
}

static size_t discard(char *p, size_t size, size_t n, void *ud) {
  (void)p;
  (void)ud;
  return size * n;
}

static void easy_setup(CURL *e) {
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, cfg.deadline_ms);
}

/* ---- the pool of blocking easy handles ---- */

typedef struct job {
  const char *url;
  int ok;
  struct job *next;
  struct request *req;
} job;

typedef struct request {
  pthread_mutex_t lock;
  pthread_cond_t cond;
  unsigned left;
} request;

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static job *q_head, *q_tail;
static int q_stop;

static void *pool_worker(void *arg) {
  CURL *e = curl_easy_init();
  (void)arg;
  easy_setup(e);
  for (;;) {
    job *j;
    long status = 0;
    pthread_mutex_lock(&q_lock);
    while (!q_head && !q_stop)
      pthread_cond_wait(&q_cond, &q_lock);
    if (!q_head) {
      pthread_mutex_unlock(&q_lock);
      break;
    }
    j = q_head;
    q_head = j->next;
    if (!q_head)
      q_tail = NULL;
    pthread_mutex_unlock(&q_lock);
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    j->ok = curl_easy_perform(e) == CURLE_OK &&
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
            status / 100 == 2;
    pthread_mutex_lock(&j->req->lock);
    if (--j->req->left == 0)
      pthread_cond_signal(&j->req->cond);
    pthread_mutex_unlock(&j->req->lock);
  }
  curl_easy_cleanup(e);
  return NULL;
}

/* Queues the request's URLs and waits for all of them (a URL still
 * queued at the deadline is not fetched any faster: the pool has no way
 * to give up, which is part of what is measured). */
static void pool_request(const char **urls, uint64_t *ok) {
  job *jobs = calloc(cfg.k, sizeof(*jobs));
  request req;
  unsigned i;
  pthread_mutex_init(&req.lock, NULL);
  pthread_cond_init(&req.cond, NULL);
  req.left = cfg.k;
  pthread_mutex_lock(&q_lock);
  for (i = 0; i < cfg.k; i++) {
    jobs[i].url = urls[i];
    jobs[i].req = &req;
    if (q_tail)
      q_tail->next = &jobs[i];
    else
      q_head = &jobs[i];
    q_tail = &jobs[i];
  }
  pthread_cond_broadcast(&q_cond);
  pthread_mutex_unlock(&q_lock);
  pthread_mutex_lock(&req.lock);
  while (req.left)
    pthread_cond_wait(&req.cond, &req.lock);
  pthread_mutex_unlock(&req.lock);
  for (i = 0; i < cfg.k; i++)
    *ok += jobs[i].ok;
  pthread_cond_destroy(&req.cond);
  pthread_mutex_destroy(&req.lock);
  free(jobs);
}

/* ---- the designs ---- */

static void uvf_handler_request(const char **urls, uint64_t *ok) {
  uvf_results *rs = NULL;
  uvf_options o;
  size_t i;
  int rc;
  uvf_options_init(&o);
  o.max_in_flight = cfg.k;
  o.timeout_ms = cfg.deadline_ms;
  rc = strcmp(cfg.mode, "client") == 0
           ? uvf_client_fetch_all(client, urls, cfg.k, &o, cfg.deadline_ms, &rs)
           : uvf_fetch_all(urls, cfg.k, &o, cfg.deadline_ms, &rs);
  for (i = 0; rc == UVF_OK && i < cfg.k; i++)
    *ok += (uint64_t)uvf_results_get(rs, i)->ok;
  uvf_results_free(&rs);
}

static void easy_request(CURL *e, const char **urls, uint64_t *ok) {
  unsigned i;
  for (i = 0; i < cfg.k; i++) {
    long status = 0;
    curl_easy_setopt(e, CURLOPT_URL, urls[i]);
    if (curl_easy_perform(e) == CURLE_OK &&
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status / 100 == 2)
      (*ok)++;
  }
}

static void *handler(void *arg) {
  size_t next = (size_t)(uintptr_t)arg * cfg.k;
  const char **urls = calloc(cfg.k, sizeof(*urls));
  double end = now_ms() + cfg.seconds * 1000;
  CURL *e = NULL;
  if (strcmp(cfg.mode, "easy") == 0) {
    e = curl_easy_init();
    easy_setup(e);
  }
  while (now_ms() < end) {
    uint64_t ok = 0;
    double t0 = now_ms();
    unsigned i;
    for (i = 0; i < cfg.k; i++)
      urls[i] = cfg.urls[next++ % cfg.nurls];
    if (e)
      easy_request(e, urls, &ok);
    else if (strcmp(cfg.mode, "pool") == 0)
      pool_request(urls, &ok);
    else
      uvf_handler_request(urls, &ok);
    record(now_ms() - t0, ok, cfg.k - ok);
  }
  curl_easy_cleanup(e);
  free(urls);
  return NULL;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void usage(void) {
  fprintf(stderr, "usage: bench-handler -m client|oneshot|pool|easy -w W "
                  "-k K -d SECONDS -D DEADLINE_MS [-p P] URL...\n");
  exit(2);
}

static void parse(int argc, char **argv) {
  int c;
  cfg.w = 8;
  cfg.k = 40;
  cfg.p = 64;
  cfg.seconds = 5;
  cfg.deadline_ms = 1000;
  while ((c = getopt(argc, argv, "m:w:k:d:D:p:")) != -1) {
    switch (c) {
    case 'm': cfg.mode = optarg; break;
    case 'w': cfg.w = (unsigned)atoi(optarg); break;
    case 'k': cfg.k = (unsigned)atoi(optarg); break;
    case 'd': cfg.seconds = atof(optarg); break;
    case 'D': cfg.deadline_ms = atol(optarg); break;
    case 'p': cfg.p = (unsigned)atoi(optarg); break;
    default: usage();
    }
  }
  cfg.urls = argv + optind;
  cfg.nurls = (size_t)(argc - optind);
  if (!cfg.mode || !cfg.nurls || !cfg.w || !cfg.k || !cfg.p ||
      (strcmp(cfg.mode, "client") && strcmp(cfg.mode, "oneshot") &&
       strcmp(cfg.mode, "pool") && strcmp(cfg.mode, "easy")))
    usage();
}

int main(int argc, char **argv) {
  pthread_t *t, *pool = NULL;
  double t0, secs;
  unsigned i;
  parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  lat = malloc(MAX_LAT * sizeof(*lat));
  t = calloc(cfg.w, sizeof(*t));
  if (strcmp(cfg.mode, "client") == 0) {
    uvf_options o;
    uvf_options_init(&o);
    o.max_in_flight = cfg.k;
    if (uvf_client_new(&client, &o) != UVF_OK)
      return 2;
  } else if (strcmp(cfg.mode, "pool") == 0) {
    pool = calloc(cfg.p, sizeof(*pool));
    for (i = 0; i < cfg.p; i++)
      pthread_create(&pool[i], NULL, pool_worker, NULL);
  }
  t0 = now_ms();
  for (i = 0; i < cfg.w; i++)
    pthread_create(&t[i], NULL, handler, (void *)(uintptr_t)i);
  for (i = 0; i < cfg.w; i++)
    pthread_join(t[i], NULL);
  secs = (now_ms() - t0) / 1000;
  if (pool) {
    pthread_mutex_lock(&q_lock);
    q_stop = 1;
    pthread_cond_broadcast(&q_cond);
    pthread_mutex_unlock(&q_lock);
    for (i = 0; i < cfg.p; i++)
      pthread_join(pool[i], NULL);
  }
  uvf_client_free(&client);
  qsort(lat, nlat, sizeof(*lat), cmp_double);
  printf("requests=%zu rps=%.1f p50_ms=%.3f p99_ms=%.3f late=%llu "
         "failed=%llu urls_ok=%llu\n",
         nlat, (double)nlat / secs, nlat ? lat[nlat / 2] : 0.0,
         nlat ? lat[(size_t)((double)nlat * 0.99)] : 0.0,
         (unsigned long long)late, (unsigned long long)failed,
         (unsigned long long)urls_ok);
  free(lat);
  free(t);
  free(pool);
  curl_global_cleanup();
  return failed ? 1 : 0;
}
