/* Design 3: a pool of W worker processes (fork), as multiprocessing.Pool.
 * The parent hands out indexes through a task pipe and reads fixed-size
 * result records back through a result pipe, storing each by its index.
 * Both pipes carry records no larger than PIPE_BUF, so every write and read
 * is whole even with many processes on one pipe. Each worker keeps one easy
 * handle for all its URLs.
 *
 * Memory: GNU time reports the largest single process, not the pool, so
 * the summary line adds two figures. pool_kb is what the pool costs: the
 * parent's peak RSS plus each worker's private memory (its own pages and
 * the pages it copied on write, read from /proc/self/smaps_rollup as it
 * exits); shared library and inherited pages count once, as for the
 * one-process designs. rss_sum_kb adds up every process's peak RSS, as
 * `top` shows a pool, counting shared pages once per process. If fork()
 * fails, the workers that exist do all the work: forks_failed_at=K. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct record {
  uint32_t index;
  int32_t err;
  int32_t ok;
  int32_t status;
  uint64_t bytes;
} record;

enum { TASKS_PER_WRITE = 256, RECORDS_PER_READ = 128 };

/* A worker's last record: bytes holds its private memory in KiB. */
#define MEMORY_RECORD UINT32_MAX

static ssize_t read_full(int fd, void *buf, size_t len) {
  ssize_t r;

  do
    r = read(fd, buf, len);
  while (r < 0 && errno == EINTR);
  return r;
}

static void write_full(int fd, const void *buf, size_t len) {
  ssize_t r;

  do
    r = write(fd, buf, len);
  while (r < 0 && errno == EINTR);
}

/* Private_Clean + Private_Dirty of this process, in KiB; 0 if unknown. */
static uint64_t private_kb(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "r");
  char line[256];
  unsigned long long kb, sum = 0;

  if (f == NULL)
    return 0;
  while (fgets(line, sizeof(line), f))
    if (sscanf(line, "Private_Clean: %llu", &kb) == 1 ||
        sscanf(line, "Private_Dirty: %llu", &kb) == 1)
      sum += kb;
  fclose(f);
  return sum;
}

static void worker(const bench_urls *u, int task_r, int res_w) {
  CURL *e = curl_easy_init();
  uint32_t i;
  bench_result r;
  record rec;

  if (e == NULL)
    _exit(1);
  bench_easy_setup(e);
  while (read_full(task_r, &i, sizeof(i)) == (ssize_t)sizeof(i)) {
    if (i >= u->n)
      continue;
    bench_easy_fetch(e, u->url[i], &r);
    rec.index = i;
    rec.err = r.err;
    rec.ok = r.ok;
    rec.status = (int32_t)r.status;
    rec.bytes = r.bytes;
    write_full(res_w, &rec, sizeof(rec));
  }
  memset(&rec, 0, sizeof(rec));
  rec.index = MEMORY_RECORD;
  rec.bytes = private_kb(); /* before cleanup: as much as it ever held */
  write_full(res_w, &rec, sizeof(rec));
  curl_easy_cleanup(e);
  _exit(0);
}

/* Writes as many pending indexes as the task pipe takes without blocking;
 * returns the new count of indexes handed out. */
static size_t feed_tasks(int task_w, size_t sent, size_t n) {
  uint32_t batch[TASKS_PER_WRITE];
  size_t k;
  ssize_t w;

  while (sent < n) {
    for (k = 0; k < TASKS_PER_WRITE && sent + k < n; k++)
      batch[k] = (uint32_t)(sent + k);
    w = write(task_w, batch, k * sizeof(batch[0]));
    if (w < 0)
      break; /* EAGAIN: the pipe is full; EINTR: try on the next poll */
    sent += (size_t)w / sizeof(batch[0]);
  }
  return sent;
}

static void store(bench_result *res, size_t n, const record *rec,
                  uint64_t *private_sum) {
  if (rec->index == MEMORY_RECORD)
    *private_sum += rec->bytes;
  if (rec->index >= n)
    return;
  res[rec->index].err = rec->err;
  res[rec->index].ok = rec->ok;
  res[rec->index].status = rec->status;
  res[rec->index].bytes = rec->bytes;
}

/* Hands out every index and collects results until all workers have
 * closed the result pipe. */
static void dispatch(int task_w, int res_r, size_t n, bench_result *res,
                     uint64_t *private_sum) {
  size_t sent = 0, k;
  record rec[RECORDS_PER_READ];
  ssize_t r;
  struct pollfd p[2];

  fcntl(task_w, F_SETFL, fcntl(task_w, F_GETFL) | O_NONBLOCK);
  for (;;) {
    p[0].fd = sent < n ? task_w : -1;
    p[0].events = POLLOUT;
    p[1].fd = res_r;
    p[1].events = POLLIN;
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    if (sent < n && (p[0].revents & (POLLOUT | POLLERR))) {
      sent = feed_tasks(task_w, sent, n);
      if (sent == n || (p[0].revents & POLLERR)) {
        close(task_w); /* end of input: idle workers read EOF and exit */
        sent = n;
      }
    }
    if (p[1].revents & (POLLIN | POLLHUP)) {
      /* Writes of whole records keep the pipe a whole number of records. */
      r = read_full(res_r, rec, sizeof(rec));
      if (r <= 0)
        break; /* every worker is gone */
      for (k = 0; k < (size_t)r / sizeof(rec[0]); k++)
        store(res, n, &rec[k], private_sum);
    }
  }
  if (sent < n)
    close(task_w);
}

int main(int argc, char **argv) {
  bench_args a;
  bench_urls u;
  bench_result *res;
  int task[2], result[2], code, status;
  unsigned w, started;
  long rss_kb = 0;
  uint64_t private_sum = 0;
  struct rusage ru;
  char extra[160];
  pid_t pid;
  int fork_err = 0, n;

  bench_parse_args(argc, argv, &a);
  bench_read_urls(a.input, &u);
  bench_global_init();
  res = bench_results_new(u.n);
  if (pipe(task) != 0 || pipe(result) != 0) {
    perror("pipe");
    return 2;
  }

  w = a.conc;
  for (started = 0; started < w; started++) {
    pid = fork();
    if (pid < 0) {
      fork_err = errno;
      break;
    }
    if (pid == 0) {
      close(task[1]);
      close(result[0]);
      worker(&u, task[0], result[1]);
    }
  }
  close(task[0]);
  close(result[1]);
  if (started > 0)
    dispatch(task[1], result[0], u.n, res, &private_sum);
  else
    close(task[1]);
  close(result[0]);

  while ((pid = wait4(-1, &status, 0, &ru)) > 0)
    rss_kb += ru.ru_maxrss;
  getrusage(RUSAGE_SELF, &ru);
  rss_kb += ru.ru_maxrss;

  n = snprintf(extra, sizeof(extra), " pool_kb=%llu rss_sum_kb=%ld",
               (unsigned long long)(ru.ru_maxrss + private_sum), rss_kb);
  if (started < w) {
    fprintf(stderr, "fork failed after %u workers: %s\n", started,
            strerror(fork_err));
    snprintf(extra + n, sizeof(extra) - n, " forks_failed_at=%u", started);
  }
  code = bench_report(res, u.n, extra, NULL);
  free(res);
  bench_free_urls(&u);
  curl_global_cleanup();
  return code;
}
