/* Design 1: one thread per URL, each with its own easy handle and a
 * blocking curl_easy_perform(). No cap: -w is ignored. When
 * pthread_create() fails, the URLs left without a thread are failures and
 * the summary line says how far it got: threads_failed_at=K. */
#include "common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct job {
  const char *url;
  bench_result *res;
} job;

static void *run_one(void *arg) {
  job *j = arg;
  CURL *e = curl_easy_init();

  if (e == NULL) {
    j->res->err = CURLE_FAILED_INIT;
    return NULL;
  }
  bench_easy_setup(e);
  bench_easy_fetch(e, j->url, j->res);
  curl_easy_cleanup(e);
  return NULL;
}

int main(int argc, char **argv) {
  bench_args a;
  bench_urls u;
  bench_result *res;
  pthread_t *tid;
  job *jobs;
  size_t i, started;
  int rc = 0, code;
  char extra[128] = "";

  bench_parse_args(argc, argv, &a);
  bench_read_urls(a.input, &u);
  bench_global_init();
  res = bench_results_new(u.n);
  tid = calloc(u.n, sizeof(*tid));
  jobs = calloc(u.n, sizeof(*jobs));
  if (tid == NULL || jobs == NULL) {
    fprintf(stderr, "out of memory\n");
    return 2;
  }

  for (started = 0; started < u.n; started++) {
    jobs[started].url = u.url[started];
    jobs[started].res = &res[started];
    rc = pthread_create(&tid[started], NULL, run_one, &jobs[started]);
    if (rc != 0)
      break;
  }
  if (started < u.n) {
    /* The URLs from here on never got a thread: their zeroed results
     * already count as failures. */
    fprintf(stderr, "pthread_create failed after %zu threads: %s\n", started,
            strerror(rc));
    snprintf(extra, sizeof(extra), " threads_failed_at=%zu", started);
    for (i = started; i < u.n; i++)
      res[i].err = CURLE_FAILED_INIT;
  }
  for (i = 0; i < started; i++)
    pthread_join(tid[i], NULL);

  code = bench_report(res, u.n, extra, NULL);
  free(jobs);
  free(tid);
  free(res);
  bench_free_urls(&u);
  curl_global_cleanup();
  return code;
}
