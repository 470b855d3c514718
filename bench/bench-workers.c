/* Design 2: a queue feeding W worker threads, the usual fix for design 1.
 * Each worker keeps one easy handle for all its URLs (so it keeps its
 * connection alive), takes the next index from the queue and stores the
 * result at that index. The queue is the URL array and a cursor under a
 * mutex, which is all a FIFO of known jobs needs. If a worker cannot be
 * started, the others do its share: threads_failed_at=K says so. */
#include "common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct queue {
  pthread_mutex_t lock;
  size_t next;
  const bench_urls *urls;
  bench_result *res;
} queue;

/* SIZE_MAX when the queue is empty. */
static size_t queue_take(queue *q) {
  size_t i = SIZE_MAX;

  pthread_mutex_lock(&q->lock);
  if (q->next < q->urls->n)
    i = q->next++;
  pthread_mutex_unlock(&q->lock);
  return i;
}

static void *worker(void *arg) {
  queue *q = arg;
  CURL *e = curl_easy_init();
  size_t i;

  if (e == NULL)
    return NULL; /* the other workers take its share */
  bench_easy_setup(e);
  while ((i = queue_take(q)) != SIZE_MAX)
    bench_easy_fetch(e, q->urls->url[i], &q->res[i]);
  curl_easy_cleanup(e);
  return NULL;
}

int main(int argc, char **argv) {
  bench_args a;
  bench_urls u;
  queue q;
  pthread_t *tid;
  unsigned w, started;
  int rc = 0, code;
  char extra[128] = "";

  bench_parse_args(argc, argv, &a);
  bench_read_urls(a.input, &u);
  bench_global_init();
  w = a.conc;
  tid = calloc(w, sizeof(*tid));
  if (tid == NULL) {
    fprintf(stderr, "out of memory\n");
    return 2;
  }
  pthread_mutex_init(&q.lock, NULL);
  q.next = 0;
  q.urls = &u;
  q.res = bench_results_new(u.n);

  for (started = 0; started < w; started++) {
    rc = pthread_create(&tid[started], NULL, worker, &q);
    if (rc != 0)
      break;
  }
  if (started < w) {
    fprintf(stderr, "pthread_create failed after %u workers: %s\n", started,
            strerror(rc));
    snprintf(extra, sizeof(extra), " threads_failed_at=%u", started);
  }
  for (unsigned t = 0; t < started; t++)
    pthread_join(tid[t], NULL);

  code = bench_report(q.res, u.n, extra, NULL);
  pthread_mutex_destroy(&q.lock);
  free(q.res);
  free(tid);
  bench_free_urls(&u);
  curl_global_cleanup();
  return code;
}
