/* Soak: one fetcher on its own loop runs a long URL list (with faults in
 * it) and is checked for what only shows over time:
 *  - exactly one result per index (a bitmap of the indexes seen);
 *  - flat memory: RSS and the open descriptors are sampled every 0.5 s
 *    by a uv_timer on the same loop and written as CSV;
 *  - no descriptor leak: fds are counted after uv_loop_init, before the
 *    fetcher exists, and again once its close callback has run and
 *    uv_run() has returned.
 * URLs are streamed from the file by the `next` callback, one line at a
 * time, so RSS measures the engine, not the URL list. bench/soak drives
 * it; a JSON summary goes to stdout. Exit 0 iff every index got exactly
 * one result, no descriptor leaked and the loop closed clean. */
#include <curl/curl.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <uv.h>

#include "uvfetch.h"

#define SAMPLE_MS 500
#define NKINDS 11 /* UVF_OK (0) .. UVF_EDEADLINE (-10) */

typedef struct soak_args {
  unsigned n, per_host, retries;
  long timeout_ms;
  const char *input, *samples, *records;
} soak_args;

typedef struct soak {
  FILE *in, *samples, *records;
  char *line;
  size_t line_cap;
  unsigned char *seen; /* bit i: index i has had its result */
  size_t seen_bytes;
  uint64_t submitted, results, dups, bad_index, tag_mismatch;
  uint64_t by_kind[NKINDS], other_kind, http503, retries, bytes;
  uint64_t t0;
  long rss0_kib, peak_sample_kib;
  int fds0, max_fds, grow_failed, closed;
  uvf_fetcher *f;
  uv_timer_t timer;
} soak;

/* ------------------------------------------------------------ /proc */

/* Descriptors open now, without the one opendir() itself holds. */
static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL)
    n += e->d_name[0] != '.';
  closedir(d);
  return n - 1;
}

/* A "Vm...:" line of /proc/self/status in KiB. VmHWM, not getrusage's
 * ru_maxrss: Linux carries ru_maxrss across exec, so a client started
 * from Python would report Python's peak as its own. */
static long status_kib(const char *key) {
  FILE *fp = fopen("/proc/self/status", "r");
  char buf[256];
  size_t klen = strlen(key);
  long v = -1;

  if (fp == NULL)
    return -1;
  while (fgets(buf, sizeof(buf), fp) != NULL)
    if (strncmp(buf, key, klen) == 0 && buf[klen] == ':') {
      v = strtol(buf + klen + 1, NULL, 10);
      break;
    }
  fclose(fp);
  return v;
}

static double seconds_since(uint64_t t0) {
  return (double)(uv_hrtime() - t0) / 1e9;
}

static void sample(soak *s) {
  long rss = status_kib("VmRSS");
  int fds = count_fds();

  if (rss > s->peak_sample_kib)
    s->peak_sample_kib = rss;
  if (fds > s->max_fds)
    s->max_fds = fds;
  fprintf(s->samples, "%.3f,%ld,%d,%" PRIu64 "\n", seconds_since(s->t0), rss,
          fds, s->results);
  fflush(s->samples); /* bench/soak may read it while we run */
}

static void on_sample(uv_timer_t *t) { sample(t->data); }

/* ------------------------------------------------------------ the bitmap */

/* Room for index i; the list is streamed, so its length is not known. */
static int seen_grow(soak *s, uint64_t i) {
  size_t need = (size_t)(i / 8) + 1, cap = s->seen_bytes ? s->seen_bytes : 4096;
  unsigned char *p;

  if (need <= s->seen_bytes)
    return 0;
  while (cap < need)
    cap *= 2;
  p = realloc(s->seen, cap);
  if (p == NULL)
    return -1;
  memset(p + s->seen_bytes, 0, cap - s->seen_bytes);
  s->seen = p;
  s->seen_bytes = cap;
  return 0;
}

/* 1 if index i had already been seen (a duplicate), then marks it. */
static int seen_set(soak *s, uint64_t i) {
  unsigned char bit = (unsigned char)(1u << (i % 8));
  int had = (s->seen[i / 8] & bit) != 0;

  s->seen[i / 8] |= bit;
  return had;
}

static uint64_t count_missing(const soak *s) {
  uint64_t i, missing = 0;

  for (i = 0; i < s->submitted; i++)
    missing += (s->seen[i / 8] >> (i % 8) & 1u) == 0;
  return missing;
}

/* ------------------------------------------------------------ callbacks */

/* One line of the file a call: the library copies the URL, so one reused
 * buffer is all the input ever holds. */
static int next_url(void *ud, const char **url, uint64_t *tag) {
  soak *s = ud;
  ssize_t len;

  while ((len = getline(&s->line, &s->line_cap, s->in)) >= 0) {
    while (len > 0 && (s->line[len - 1] == '\n' || s->line[len - 1] == '\r'))
      s->line[--len] = '\0';
    if (len == 0)
      continue;
    if (seen_grow(s, s->submitted) != 0) {
      s->grow_failed = 1; /* end the input; the summary says why */
      return 0;
    }
    *url = s->line;
    *tag = s->submitted++; /* the fetcher's index should equal it */
    return 1;
  }
  return 0;
}

static void count_kind(soak *s, const uvf_result *r) {
  int k = -(int)r->error;

  if (k >= 0 && k < NKINDS)
    s->by_kind[k]++;
  else
    s->other_kind++;
  s->http503 += r->status == 503;
  s->retries += r->attempts > 1 ? r->attempts - 1 : 0;
  s->bytes += r->bytes;
}

static void on_result(void *ud, const uvf_result *r) {
  soak *s = ud;

  s->results++;
  s->tag_mismatch += r->tag != r->index;
  if (r->index >= s->submitted)
    s->bad_index++;
  else if (seen_set(s, r->index))
    s->dups++;
  count_kind(s, r);
  if (s->records != NULL)
    fprintf(s->records, "%" PRIu64 ",%s,%ld,%u\n", r->index,
            uvf_err_name(r->error), r->status, r->attempts);
}

static void on_closed(void *ud) {
  soak *s = ud;

  s->closed = 1;
  uv_close((uv_handle_t *)&s->timer, NULL); /* the loop can now end */
}

static void on_done(void *ud) {
  soak *s = ud;

  uvf_fetcher_close(s->f, on_closed);
}

/* ------------------------------------------------------------ the run */

static void set_options(uvf_options *o, const soak_args *a) {
  uvf_options_init(o);
  o->max_in_flight = a->n;
  o->max_per_host = a->per_host;
  o->timeout_ms = a->timeout_ms; /* ends the stalls */
  o->max_retries = a->retries;
}

static double cpu_seconds(void) {
  struct rusage ru;

  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* The per-index check and the outcomes, the start of the JSON line. */
static void print_counts(const soak *s) {
  int k;

  printf("{\"urls\":%" PRIu64 ",\"results\":%" PRIu64, s->submitted,
         s->results);
  printf(",\"duplicates\":%" PRIu64 ",\"missing\":%" PRIu64, s->dups,
         count_missing(s));
  printf(",\"bad_index\":%" PRIu64 ",\"tag_mismatch\":%" PRIu64, s->bad_index,
         s->tag_mismatch);
  printf(",\"kinds\":{");
  for (k = 0; k < NKINDS; k++)
    printf("%s\"%s\":%" PRIu64, k ? "," : "", uvf_err_name(-k), s->by_kind[k]);
  printf("},\"other_kind\":%" PRIu64 ",\"http_503\":%" PRIu64, s->other_kind,
         s->http503);
  printf(",\"retries\":%" PRIu64 ",\"bytes\":%" PRIu64, s->retries, s->bytes);
}

/* The settings, time, memory and descriptors, the end of the JSON line. */
static void print_figures(const soak *s, const soak_args *a, double wall,
                          int fds1, int loop_ok) {
  printf(",\"n\":%u,\"per_host\":%u,\"timeout_ms\":%ld,\"max_retries\":%u",
         a->n, a->per_host, a->timeout_ms, a->retries);
  printf(",\"wall_s\":%.3f,\"cpu_s\":%.3f", wall, cpu_seconds());
  printf(",\"rss_baseline_kib\":%ld,\"peak_rss_kib\":%ld", s->rss0_kib,
         status_kib("VmHWM"));
  printf(",\"peak_sample_rss_kib\":%ld,\"max_fds\":%d", s->peak_sample_kib,
         s->max_fds);
  printf(",\"fds_baseline\":%d,\"fds_end\":%d", s->fds0, fds1);
  printf(",\"loop_closed\":%s,\"input_error\":%s}\n",
         loop_ok ? "true" : "false", s->grow_failed ? "true" : "false");
}

/* Exactly one result per index, nothing leaked, everything closed. */
static int passed(const soak *s, int fds1, int loop_ok) {
  return s->closed && loop_ok && !s->grow_failed && fds1 <= s->fds0 &&
         s->dups == 0 && s->bad_index == 0 && s->results == s->submitted &&
         count_missing(s) == 0;
}

/* Runs the list; returns the process exit code. */
static int run(soak *s, const soak_args *a) {
  uv_loop_t loop;
  uvf_options o;
  uvf_callbacks cb;
  int rc, fds1, loop_ok;

  uvf_callbacks_init(&cb);
  cb.next = next_url;
  cb.on_result = on_result;
  cb.on_done = on_done;
  set_options(&o, a);
  if (uv_loop_init(&loop) != 0)
    return 2;
  s->fds0 = count_fds(); /* loop and files open: a leak is the fetcher's */
  s->rss0_kib = status_kib("VmRSS"); /* libraries loaded, no transfer yet */
  s->t0 = uv_hrtime();
  sample(s); /* the first line shows the state before the fetcher */
  rc = uvf_fetcher_new(&s->f, &loop, &o, &cb, s);
  if (rc != UVF_OK) {
    fprintf(stderr, "bench-soak: %s\n", uvf_strerror(rc));
    uv_loop_close(&loop);
    return 2;
  }
  uv_timer_init(&loop, &s->timer);
  s->timer.data = s;
  uv_timer_start(&s->timer, on_sample, SAMPLE_MS, SAMPLE_MS);
  uv_run(&loop, UV_RUN_DEFAULT);
  fds1 = count_fds();
  sample(s); /* the last line shows the state after close */
  loop_ok = uv_loop_close(&loop) == 0;
  print_counts(s);
  print_figures(s, a, seconds_since(s->t0), fds1, loop_ok);
  return passed(s, fds1, loop_ok) ? 0 : 1;
}

/* ------------------------------------------------------------ setup */

static void usage(void) {
  fputs("usage: bench-soak [-j N] [-p PER_HOST] [-t TIMEOUT_MS] [-r RETRIES]\n"
        "                  -i URLS -s SAMPLES.csv [-R RECORDS.csv]\n"
        "  defaults: -j 1000 -p 0 -t 2000 -r 0\n",
        stderr);
  exit(2);
}

static unsigned long number(const char *v) {
  char *end;
  unsigned long x = strtoul(v, &end, 10);

  if (*v == '\0' || *end != '\0')
    usage();
  return x;
}

static void parse_args(int argc, char **argv, soak_args *a) {
  int c;

  *a = (soak_args){1000, 0, 0, 2000, NULL, NULL, NULL};
  while ((c = getopt(argc, argv, "j:p:t:r:i:s:R:")) != -1) {
    switch (c) {
    case 'j': a->n = (unsigned)number(optarg); break;
    case 'p': a->per_host = (unsigned)number(optarg); break;
    case 't': a->timeout_ms = (long)number(optarg); break;
    case 'r': a->retries = (unsigned)number(optarg); break;
    case 'i': a->input = optarg; break;
    case 's': a->samples = optarg; break;
    case 'R': a->records = optarg; break;
    default: usage();
    }
  }
  if (a->input == NULL || a->samples == NULL || optind != argc)
    usage();
}

/* N connections need more than the usual soft limit of 1024. */
static void raise_nofile(void) {
  struct rlimit rl;

  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static FILE *open_or_die(const char *path, const char *mode) {
  FILE *fp = fopen(path, mode);

  if (fp == NULL) {
    perror(path);
    exit(2);
  }
  return fp;
}

int main(int argc, char **argv) {
  soak_args a;
  soak s = {0};
  int code;

  parse_args(argc, argv, &a);
  signal(SIGPIPE, SIG_IGN);
  raise_nofile();
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return 2;
  s.in = open_or_die(a.input, "r");
  s.samples = open_or_die(a.samples, "w");
  s.records = a.records ? open_or_die(a.records, "w") : NULL;
  fputs("t_s,rss_kib,fds,done\n", s.samples);
  code = run(&s, &a);
  fclose(s.in);
  fclose(s.samples);
  if (s.records != NULL && fclose(s.records) != 0)
    code = 1;
  free(s.line);
  free(s.seen);
  curl_global_cleanup();
  return code;
}
