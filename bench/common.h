/* What every benchmark design shares, so that the designs differ only in
 * their concurrency model: the command line, reading the URL list, the
 * libcurl options of one transfer, the per-index result record and the one
 * summary line printed at the end. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

/* The outcome of one URL, stored at its index. err is a CURLcode for the
 * curl designs and a uvf_err for uvfetch; 0 means no error. */
typedef struct bench_result {
  long status;
  uint64_t bytes;
  int ok;
  int err;
} bench_result;

typedef struct bench_args {
  unsigned conc;     /* -w W or -j N: workers, or transfers in flight */
  const char *input; /* -i FILE: one URL a line */
  int fetch_all;     /* -a: bench-uvfetch-lib uses uvf_fetch_all() */
} bench_args;

typedef struct bench_urls {
  char **url;
  size_t n;
  char *buf; /* the file's text; url[i] points into it */
} bench_urls;

/* Parses -w/-j, -i and -a; prints usage and exits 2 on a bad command line. */
void bench_parse_args(int argc, char **argv, bench_args *a);

/* Reads the URL list (blank lines skipped); exits 2 if it cannot. */
void bench_read_urls(const char *path, bench_urls *u);
void bench_free_urls(bench_urls *u);

/* curl_global_init and SIGPIPE ignored: call once in main, before any
 * thread or process starts. */
void bench_global_init(void);

/* The options every design sets once per easy handle: no signals, a body
 * sink that counts and discards, a 60 s timeout, HTTP/1.1, keep-alive. */
void bench_easy_setup(CURL *e);

/* One blocking transfer of url on e into *r. */
void bench_easy_fetch(CURL *e, const char *url, bench_result *r);

/* Allocates n zeroed results (a zeroed result is a failure); exits on
 * out of memory. */
bench_result *bench_results_new(size_t n);

/* Prints "ok=K total=N bytes=B<extra>" on stdout and, when something
 * failed, a breakdown by error on stderr using err_name (NULL: CURLcode
 * strings). Returns the exit code: 0 iff every result is ok. */
int bench_report(const bench_result *r, size_t n, const char *extra,
                 const char *(*err_name)(int err));

#endif /* BENCH_COMMON_H */
