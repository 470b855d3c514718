/* The C side of the Python module's overhead figure (bench/py_run): the
 * long-lived client driven as the module's Client.fetch() drives it (see
 * python/uvfetch/fetch.c): one call, URLs submitted a quarter window at a
 * time while uvf_call_submit() has room, results taken with
 * uvf_call_next(), a sched_yield() before waiting for one, each stored at
 * its index. The module's cost per result is its CPU time over this
 * program's, divided by the URLs.
 *
 *   bench-client -j N [-k] -i FILE     (-k: keep bodies and response
 *                                       headers, as Python does)
 *
 * Prints "ok=K total=N bytes=B fetch_cpu_us=U" like the other designs,
 * U being the CPU time (both threads) of the fetch alone. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common.h"
#include "uvfetch.h"

static void store(bench_result *res, size_t n, const uvf_result *r) {
  if (r->index < n) {
    res[r->index].status = r->status;
    res[r->index].bytes = r->bytes;
    res[r->index].ok = r->ok;
    res[r->index].err = r->error;
  }
}

static int run(const bench_urls *u, unsigned conc, int keep,
               bench_result *res) {
  uvf_client *c = NULL;
  uvf_call *call = NULL;
  uvf_result *r;
  uvf_options o;
  size_t next = 0, window = 2 * (size_t)conc, taken = 0;
  size_t batch = window / 4 ? window / 4 : 1;
  int rc, ended = 0;
  uvf_options_init(&o);
  o.max_in_flight = conc;
  o.timeout_ms = 60000;
  o.keep_body = keep;
  o.keep_headers = keep; /* the module's Client keeps both by default */
  if ((rc = uvf_client_new(&c, &o)) || (rc = uvf_call_start(&call, c, NULL, 0)))
    goto out;
  for (;;) {
    int force = 0;
    rc = uvf_call_next(call, 0, &r);
    if (rc == UVF_EAGAIN) { /* nothing ready: top up, yield, then wait */
      force = 1;
      sched_yield();
    }
    while (!ended && next < u->n && (force || next - taken + batch <= window)) {
      int s = uvf_call_submit(call, u->url[next], 0, NULL);
      if (s == UVF_EAGAIN)
        break;
      if (s != UVF_OK) {
        rc = s;
        goto out;
      }
      next++;
    }
    if (!ended && next == u->n) {
      uvf_call_end_input(call);
      ended = 1;
    }
    if (rc == UVF_EAGAIN)
      rc = uvf_call_next(call, -1, &r);
    if (rc == UVF_EOF)
      break;
    if (rc != UVF_OK)
      goto out;
    store(res, u->n, r);
    uvf_result_free(r);
    taken++;
  }
  rc = 0;
out:
  uvf_call_free(&call);
  uvf_client_free(&c);
  return rc;
}

static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int main(int argc, char **argv) {
  const char *input = NULL;
  unsigned conc = 50;
  int keep = 0, opt, rc;
  bench_urls u;
  bench_result *res;
  char extra[64];
  double cpu;
  while ((opt = getopt(argc, argv, "j:w:ki:")) != -1) {
    switch (opt) {
    case 'j':
    case 'w': conc = (unsigned)atoi(optarg); break;
    case 'k': keep = 1; break;
    case 'i': input = optarg; break;
    default:
      input = NULL;
      optind = argc;
      break;
    }
  }
  if (!input || conc == 0) {
    fprintf(stderr, "usage: bench-client -j N [-k] -i FILE\n");
    return 2;
  }
  bench_global_init();
  bench_read_urls(input, &u);
  res = bench_results_new(u.n);
  cpu = cpu_us();
  if ((rc = run(&u, conc, keep, res)) != UVF_OK) {
    fprintf(stderr, "bench-client: %s\n", uvf_strerror(rc));
    return 1;
  }
  snprintf(extra, sizeof(extra), " fetch_cpu_us=%.0f", cpu_us() - cpu);
  rc = bench_report(res, u.n, extra, uvf_err_name);
  free(res);
  bench_free_urls(&u);
  return rc;
}
