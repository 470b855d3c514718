#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What bench_easy_setup() needs from the command line. */
static const char *setup_ca_file;
static int setup_http;

static void usage(const char *prog) {
  fprintf(stderr,
          "usage: %s -w W -i urls.txt [-c CAFILE] [-1|-2] [-m K]\n"
          "  -w W, -j N  worker threads or processes, or transfers in flight\n"
          "              (ignored by bench-threads: one thread per URL)\n"
          "  -i FILE     URL list, one a line\n"
          "  -a          bench-uvfetch-lib only: use uvf_fetch_all()\n"
          "  -c FILE     trust the CAs in FILE (PEM)\n"
          "  -1, -2      HTTP/1.1 only; HTTP/2 over TLS when offered (ALPN)\n"
          "  -m K        bench-uvfetch-lib only: HTTP/2 streams a connection\n"
          "Prints \"ok=K total=N bytes=B\"; exits 0 iff every URL is ok.\n",
          prog);
  exit(2);
}

void bench_parse_args(int argc, char **argv, bench_args *a) {
  int c;
  char *end;
  unsigned long v;

  memset(a, 0, sizeof(*a));
  a->conc = 50;
  while ((c = getopt(argc, argv, "w:j:i:ac:12m:h")) != -1) {
    switch (c) {
    case 'w':
    case 'j':
      errno = 0;
      v = strtoul(optarg, &end, 10);
      if (errno || *end || v == 0 || v > 1000000)
        usage(argv[0]);
      a->conc = (unsigned)v;
      break;
    case 'm':
      errno = 0;
      v = strtoul(optarg, &end, 10);
      if (errno || *end || v == 0 || v > 65535)
        usage(argv[0]);
      a->streams = (unsigned)v;
      break;
    case 'i': a->input = optarg; break;
    case 'a': a->fetch_all = 1; break;
    case 'c': a->ca_file = optarg; break;
    case '1': a->http = BENCH_HTTP_1_1; break;
    case '2': a->http = BENCH_HTTP_2; break;
    default: usage(argv[0]);
    }
  }
  if (a->input == NULL || optind != argc)
    usage(argv[0]);
  setup_ca_file = a->ca_file;
  setup_http = a->http;
}

static char *read_file(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  char *buf = NULL;
  size_t cap = 0, got = 0, r;

  if (fp == NULL)
    return NULL;
  do {
    if (cap - got < 65536) {
      char *nb = realloc(buf, cap = cap * 2 + 65536);
      if (nb == NULL) {
        free(buf);
        fclose(fp);
        return NULL;
      }
      buf = nb;
    }
    r = fread(buf + got, 1, cap - got - 1, fp);
    got += r;
  } while (r > 0);
  fclose(fp);
  buf[got] = '\0';
  *len = got;
  return buf;
}

void bench_read_urls(const char *path, bench_urls *u) {
  size_t len, i, lines = 1;
  char *p, *nl;

  memset(u, 0, sizeof(*u));
  u->buf = read_file(path, &len);
  if (u->buf == NULL) {
    fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
    exit(2);
  }
  for (i = 0; i < len; i++)
    lines += u->buf[i] == '\n';
  u->url = calloc(lines, sizeof(*u->url));
  if (u->url == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  for (p = u->buf; *p; p = nl + 1) {
    nl = p + strcspn(p, "\r\n");
    if (nl > p)
      u->url[u->n++] = p;
    if (*nl == '\0')
      break;
    *nl = '\0';
  }
  if (u->n == 0) {
    fprintf(stderr, "%s: no URLs\n", path);
    exit(2);
  }
}

void bench_free_urls(bench_urls *u) {
  free(u->url);
  free(u->buf);
  memset(u, 0, sizeof(*u));
}

void bench_global_init(void) {
  signal(SIGPIPE, SIG_IGN);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    fprintf(stderr, "curl_global_init failed\n");
    exit(2);
  }
}

static size_t count_body(char *p, size_t size, size_t nmemb, void *ud) {
  (void)p;
  *(uint64_t *)ud += size * nmemb;
  return size * nmemb;
}

void bench_easy_setup(CURL *e) {
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count_body);
  curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
                   setup_http == BENCH_HTTP_2 ? (long)CURL_HTTP_VERSION_2TLS
                                              : (long)CURL_HTTP_VERSION_1_1);
  if (setup_ca_file)
    curl_easy_setopt(e, CURLOPT_CAINFO, setup_ca_file);
}

void bench_easy_fetch(CURL *e, const char *url, bench_result *r) {
  CURLcode rc;

  memset(r, 0, sizeof(*r));
  curl_easy_setopt(e, CURLOPT_URL, url);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &r->bytes);
  rc = curl_easy_perform(e);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
  r->err = (int)rc;
  r->ok = rc == CURLE_OK && r->status >= 200 && r->status < 300;
}

bench_result *bench_results_new(size_t n) {
  bench_result *r = calloc(n ? n : 1, sizeof(*r));

  if (r == NULL) {
    fprintf(stderr, "out of memory\n");
    exit(2);
  }
  return r;
}

static const char *curl_err_name(int err) {
  return curl_easy_strerror((CURLcode)err);
}

/* Failures grouped by (err, status), first few kinds only: enough to tell
 * a thread limit from a refused connection in a benchmark log. */
static void report_failures(const bench_result *r, size_t n,
                            const char *(*err_name)(int err)) {
  enum { KINDS = 8 };
  struct {
    int err;
    long status;
    size_t count, first;
  } k[KINDS];
  size_t nk = 0, other = 0, i, j;

  for (i = 0; i < n; i++) {
    if (r[i].ok)
      continue;
    for (j = 0; j < nk; j++)
      if (k[j].err == r[i].err && k[j].status == r[i].status)
        break;
    if (j < nk) {
      k[j].count++;
    } else if (nk < KINDS) {
      k[nk].err = r[i].err;
      k[nk].status = r[i].status;
      k[nk].count = 1;
      k[nk++].first = i;
    } else {
      other++;
    }
  }
  for (j = 0; j < nk; j++)
    fprintf(stderr, "failed: %zu x err=%d (%s) status=%ld, first index %zu\n",
            k[j].count, k[j].err,
            (err_name ? err_name : curl_err_name)(k[j].err), k[j].status,
            k[j].first);
  if (other)
    fprintf(stderr, "failed: %zu of other kinds\n", other);
}

int bench_report(const bench_result *r, size_t n, const char *extra,
                 const char *(*err_name)(int err)) {
  size_t i, ok = 0;
  uint64_t bytes = 0;

  for (i = 0; i < n; i++) {
    ok += r[i].ok != 0;
    bytes += r[i].bytes;
  }
  printf("ok=%zu total=%zu bytes=%llu%s\n", ok, n, (unsigned long long)bytes,
         extra ? extra : "");
  fflush(stdout);
  if (ok != n)
    report_failures(r, n, err_name);
  return ok == n ? 0 : 1;
}
