/* Design 4: uvfetch, the library directly. One libuv loop, at most N
 * transfers in flight (-j N), URLs pulled from the list by the `next`
 * callback and results stored at their index by on_result. With -a it
 * makes the one blocking uvf_fetch_all() call instead. Same limits as the
 * curl designs: a 60 s timeout per transfer. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>

#include <uv.h>

#include "uvfetch.h"

typedef struct state {
  const bench_urls *urls;
  size_t next;
  bench_result *res;
  uvf_fetcher *fetcher;
  int done;
} state;

static void store(bench_result *r, const uvf_result *u) {
  r->status = u->status;
  r->bytes = u->bytes;
  r->ok = u->ok;
  r->err = (int)u->error;
}

static int next_url(void *ud, const char **url, uint64_t *tag) {
  state *s = ud;

  if (s->next >= s->urls->n)
    return 0;
  *tag = s->next;
  *url = s->urls->url[s->next++];
  return 1;
}

static void on_result(void *ud, const uvf_result *r) {
  state *s = ud;

  if (r->tag < s->urls->n)
    store(&s->res[r->tag], r);
}

static void on_done(void *ud) {
  state *s = ud;

  s->done = 1;
  uvf_fetcher_close(s->fetcher, NULL);
}

/* -c, -1/-2 and -m as the curl designs take them; without them the
 * library's defaults, as before the TLS rows. */
static void options(uvf_options *o, const bench_args *a) {
  uvf_options_init(o);
  o->max_in_flight = a->conc;
  o->timeout_ms = 60000;
  o->ca_file = a->ca_file;
  if (a->http == BENCH_HTTP_1_1)
    o->http_version = UVF_HTTP_1_1;
  else if (a->http == BENCH_HTTP_2)
    o->http_version = UVF_HTTP_AUTO;
  if (a->streams)
    o->max_streams = a->streams;
}

static int run_fetcher(const bench_urls *u, const bench_args *a,
                       bench_result *res) {
  uv_loop_t loop;
  uvf_options o;
  uvf_callbacks cb;
  state s = {0};
  int rc;

  uvf_callbacks_init(&cb);
  s.urls = u;
  s.res = res;
  cb.next = next_url;
  cb.on_result = on_result;
  cb.on_done = on_done;
  options(&o, a);
  if (uv_loop_init(&loop) != 0)
    return UVF_EBACKEND;
  rc = uvf_fetcher_new(&s.fetcher, &loop, &o, &cb, &s);
  if (rc == UVF_OK) {
    uv_run(&loop, UV_RUN_DEFAULT);
    if (!s.done)
      fprintf(stderr, "uv_run returned before on_done\n");
  }
  if (uv_loop_close(&loop) != 0)
    fprintf(stderr, "uv_loop_close: handles left open\n");
  return rc;
}

static int run_fetch_all(const bench_urls *u, const bench_args *a,
                         bench_result *res) {
  uvf_results *r = NULL;
  uvf_options o;
  int rc;
  size_t i;

  options(&o, a);
  rc = uvf_fetch_all((const char *const *)u->url, u->n, &o, 0, &r);
  if (rc == UVF_OK) {
    for (i = 0; i < u->n; i++)
      store(&res[i], uvf_results_get(r, i));
    uvf_results_free(&r);
  }
  return rc;
}

int main(int argc, char **argv) {
  bench_args a;
  bench_urls u;
  bench_result *res;
  int rc, code;

  bench_parse_args(argc, argv, &a);
  bench_read_urls(a.input, &u);
  bench_global_init();
  res = bench_results_new(u.n);
  rc = a.fetch_all ? run_fetch_all(&u, &a, res) : run_fetcher(&u, &a, res);
  if (rc != UVF_OK)
    fprintf(stderr, "uvfetch: %s (%s)\n", uvf_strerror(rc), uvf_err_name(rc));
  code = bench_report(res, u.n, "", uvf_err_name);
  free(res);
  bench_free_urls(&u);
  curl_global_cleanup();
  return code;
}
