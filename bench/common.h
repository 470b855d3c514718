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

/* The HTTP version asked for (-1, -2); BENCH_HTTP_DEFAULT leaves each
 * design as it was before TLS rows existed: HTTP/1.1 for the curl designs,
 * uvfetch's own default. */
enum { BENCH_HTTP_DEFAULT = 0, BENCH_HTTP_1_1 = 1, BENCH_HTTP_2 = 2 };

typedef struct bench_args {
  unsigned conc;       /* -w W or -j N: workers, or transfers in flight */
  const char *input;   /* -i FILE: one URL a line */
  int fetch_all;       /* -a: bench-uvfetch-lib uses uvf_fetch_all() */
  const char *ca_file; /* -c FILE: trusted CAs (PEM); NULL: libcurl's */
  int http;            /* -1 or -2: BENCH_HTTP_1_1 or BENCH_HTTP_2 */
  unsigned streams;    /* -m K: bench-uvfetch-lib's max_streams; 0: its
                          default */
} bench_args;

typedef struct bench_urls {
  char **url;
  size_t n;
  char *buf; /* the file's text; url[i] points into it */
} bench_urls;

/* Parses -w/-j, -i, -a, -c, -1/-2 and -m; prints usage and exits 2 on a
 * bad command line. -c and -1/-2 are also kept for bench_easy_setup(). */
void bench_parse_args(int argc, char **argv, bench_args *a);

/* Reads the URL list (blank lines skipped); exits 2 if it cannot. */
void bench_read_urls(const char *path, bench_urls *u);
void bench_free_urls(bench_urls *u);

/* curl_global_init and SIGPIPE ignored: call once in main, before any
 * thread or process starts. */
void bench_global_init(void);

/* The options every design sets once per easy handle: no signals, a body
 * sink that counts and discards, a 60 s timeout, HTTP/1.1 (-2: HTTP/2 over
 * TLS when the server offers it by ALPN, one stream per handle since each
 * transfer blocks), keep-alive; with -c the CA file as CURLOPT_CAINFO, the
 * CA directory left at libcurl's default (Debian: /etc/ssl/certs), as a
 * program that sets only CURLOPT_CAINFO has it. */
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
