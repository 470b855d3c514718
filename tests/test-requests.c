/* Requests (uvf_request): methods, headers and bodies per request, their
 * redirects and retries, and response headers in results; one test per
 * behaviour, against the project's own loopback server, whose /echo
 * answers with what it received. */
#include <stdarg.h>

#include "harness.h"

static ts_server srv;

static char *urlf(const char *fmt, ...) {
  char path[1024], *u;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(path, sizeof(path), fmt, ap);
  va_end(ap);
  if (asprintf(&u, "http://127.0.0.1:%d%s", srv.port, path) < 0)
    FAIL("oom");
  return u;
}

/* /status/<code>?location=<the server's /echo at host>. */
static char *redirect_url(int code, const char *host) {
  return urlf("/status/%d?location=http%%3A%%2F%%2F%s%%3A%d%%2Fecho", code,
              host, srv.port);
}

static uvf_request request(const char *url, const char *method,
                           const char *body) {
  uvf_request rq;
  uvf_request_init(&rq);
  rq.url = url;
  rq.method = method;
  rq.body = body;
  rq.body_len = body ? strlen(body) : 0;
  return rq;
}

static uvf_options options(void) {
  uvf_options o;
  uvf_options_init(&o);
  o.keep_body = 1;
  return o;
}

/* ---- running requests through a client call ---- */

/* Submits rqs[0..n) to one call and takes every result; out[i] is the
 * result of index i (free each with uvf_result_free). */
static uvf_result **run(const uvf_request *rqs, size_t n,
                        const uvf_options *o) {
  uvf_result **out = calloc(n ? n : 1, sizeof(*out)), *r;
  uvf_client *c = NULL;
  uvf_call *call = NULL;
  size_t i = 0;
  uint64_t idx;
  int rc;
  ASSERT_EQ(uvf_client_new(&c, o), UVF_OK);
  ASSERT_EQ(uvf_call_start(&call, c, NULL, 0), UVF_OK);
  for (;;) {
    while (i < n && (rc = uvf_call_submit_request(call, &rqs[i], &idx)) == 0)
      ASSERT_EQ(idx, i++);
    if (i == n)
      uvf_call_end_input(call);
    else
      ASSERT_EQ(rc, UVF_EAGAIN);
    if ((rc = uvf_call_next(call, -1, &r)) == UVF_EOF)
      break;
    ASSERT_EQ(rc, UVF_OK);
    ASSERT(r->index < n && !out[r->index]);
    out[r->index] = r;
  }
  for (i = 0; i < n; i++)
    if (!out[i])
      FAIL("no result for index %zu", i);
  uvf_call_free(&call);
  uvf_client_free(&c);
  return out;
}

static uvf_result *run1(const uvf_request *rq, const uvf_options *o) {
  uvf_result **out = run(rq, 1, o), *r = out[0];
  free(out);
  return r;
}

static void free_all(uvf_result **r, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    uvf_result_free(r[i]);
  free(r);
}

/* ---- reading /echo's JSON ---- */

/* The string value of "name" (no escapes in what the tests send). */
static char *echo_str(const char *json, const char *name) {
  char key[64];
  const char *p, *e;
  snprintf(key, sizeof(key), "\"%s\":\"", name);
  if (!(p = strstr(json, key)))
    FAIL("no %s in %s", name, json);
  p += strlen(key);
  e = strchr(p, '"');
  return strndup(p, (size_t)(e - p));
}

static int b64(char c) {
  const char *t =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const char *at = strchr(t, c);
  return c && at ? (int)(at - t) : -1;
}

/* The body /echo received, *n bytes. */
static unsigned char *echo_body(const char *json, size_t *n) {
  char *s = echo_str(json, "body_base64");
  size_t len = strlen(s), i;
  unsigned char *out = malloc(len / 4 * 3 + 1);
  *n = 0;
  for (i = 0; i + 3 < len; i += 4) {
    int a = b64(s[i]), b = b64(s[i + 1]), c = b64(s[i + 2]), d = b64(s[i + 3]);
    out[(*n)++] = (unsigned char)(a << 2 | b >> 4);
    if (c >= 0)
      out[(*n)++] = (unsigned char)((b & 15) << 4 | c >> 2);
    if (d >= 0)
      out[(*n)++] = (unsigned char)((c & 3) << 6 | d);
  }
  free(s);
  ASSERT_EQ(*n, json_int(json, "body_length"));
  return out;
}

/* How many request header lines named `name` (any case) /echo saw, and
 * the value of the last. */
static int echo_header(const char *json, const char *name, char *value,
                       size_t cap) {
  const char *p = strstr(json, "\"headers\":[");
  size_t n = strlen(name);
  int count = 0;
  while (p && (p = strstr(p, "[\""))) {
    const char *v = p + 2 + n;
    if (strncasecmp(p + 2, name, n) == 0 && strncmp(v, "\",\"", 3) == 0) {
      const char *e = strchr(v + 3, '"');
      snprintf(value, cap, "%.*s", (int)(e - v - 3), v + 3);
      count++;
    }
    p += 2;
  }
  return count;
}

static void expect_echo(const uvf_result *r, const char *method,
                        size_t body_len) {
  char *m;
  if (!r->ok)
    FAIL("%s: %s (%s)", r->url, uvf_err_name(r->error), r->message);
  m = echo_str(r->body, "method");
  ASSERT_STR_EQ(m, method);
  ASSERT_EQ(json_int(r->body, "body_length"), body_len);
  free(m);
}

/* ---- methods and bodies ---- */

TEST_IMPL(post_with_a_1_mib_body_with_nul_bytes_arrives_whole) {
  size_t n = 1 << 20, got, i;
  unsigned char *body = malloc(n), *echoed;
  uvf_options o = options();
  uvf_request rq;
  uvf_result *r;
  char *u;
  ts_start(&srv, NULL);
  for (i = 0; i < n; i++)
    body[i] = (unsigned char)(i * 7919 % 251); /* NUL every 251 bytes */
  u = urlf("/echo");
  rq = request(u, NULL, NULL);
  rq.body = body;
  rq.body_len = n;
  r = run1(&rq, &o);
  expect_echo(r, "POST", n);
  echoed = echo_body(r->body, &got);
  ASSERT_EQ(got, n);
  ASSERT(memcmp(echoed, body, n) == 0);
  free(echoed);
  uvf_result_free(r);
  free(body);
  free(u);
  ts_stop(&srv);
}

/* The same over HTTP/2 (h2c), where a body goes in DATA frames. */
TEST_IMPL(post_body_arrives_over_http2_too) {
  uvf_options o = options();
  uvf_request rq;
  uvf_result *r;
  char *u;
  ts_start(&srv, NULL);
  o.http_version = UVF_HTTP_2_PRIOR;
  u = urlf("/echo");
  rq = request(u, "PUT", "over h2");
  r = run1(&rq, &o);
  expect_echo(r, "PUT", 7);
  ASSERT_EQ(r->http_version, 20);
  uvf_result_free(r);
  free(u);
  ts_stop(&srv);
}

/* As curl: no method is GET, a body alone makes a POST, a method is sent
 * as given, the six standard ones upper-cased whatever their case. */
TEST_IMPL(method_is_get_post_with_a_body_or_as_given) {
  static const struct {
    const char *method, *body, *sent;
  } cases[] = {{NULL, NULL, "GET"},          {NULL, "x", "POST"},
               {"post", "x", "POST"},        {"delete", NULL, "DELETE"},
               {"PATCH", "x", "PATCH"},      {"Purge", NULL, "Purge"},
               {"OPTIONS", NULL, "OPTIONS"}, {"GET", "x", "GET"}};
  size_t n = sizeof(cases) / sizeof(cases[0]), i;
  uvf_request rqs[8];
  uvf_options o = options();
  uvf_result **r;
  char *u;
  ts_start(&srv, NULL);
  u = urlf("/echo");
  for (i = 0; i < n; i++)
    rqs[i] = request(u, cases[i].method, cases[i].body);
  r = run(rqs, n, &o);
  for (i = 0; i < n; i++)
    expect_echo(r[i], cases[i].sent, cases[i].body ? 1 : 0);
  free_all(r, n);
  free(u);
  ts_stop(&srv);
}

TEST_IMPL(head_request_gets_headers_and_no_body) {
  uvf_options o = options();
  uvf_request rq;
  uvf_result *r;
  char *u;
  ts_start(&srv, NULL);
  u = urlf("/bytes/5000");
  rq = request(u, "HEAD", NULL);
  r = run1(&rq, &o);
  ASSERT(r->ok);
  ASSERT_EQ(r->bytes, 0);
  uvf_result_free(r);
  free(u);
  ts_stop(&srv);
}

/* Pooled easy handles go from a request to a plain URL and back: the
 * plain GET after a POST with headers carries neither. */
TEST_IMPL(a_plain_url_after_a_request_on_the_same_handle_is_a_bare_get) {
  uvf_request rqs[4];
  const char *h[] = {"X-Only-Here: 1"};
  uvf_options o = options();
  uvf_result **r;
  char *u, val[64];
  size_t i;
  ts_start(&srv, NULL);
  o.max_in_flight = 1; /* one handle for all */
  u = urlf("/echo");
  for (i = 0; i < 4; i++)
    rqs[i] = request(u, NULL, NULL);
  rqs[0] = request(u, "PATCH", "abc");
  rqs[0].headers = h;
  rqs[0].n_headers = 1;
  rqs[2] = request(u, "HEAD", NULL);
  r = run(rqs, 4, &o);
  expect_echo(r[0], "PATCH", 3);
  ASSERT_EQ(echo_header(r[0]->body, "X-Only-Here", val, sizeof(val)), 1);
  expect_echo(r[1], "GET", 0);
  ASSERT_EQ(echo_header(r[1]->body, "X-Only-Here", val, sizeof(val)), 0);
  ASSERT_EQ(echo_header(r[1]->body, "Content-Type", val, sizeof(val)), 0);
  ASSERT(r[2]->ok && r[2]->bytes == 0);
  expect_echo(r[3], "GET", 0); /* not HEAD any more */
  free_all(r, 4);
  free(u);
  ts_stop(&srv);
}

/* ---- headers per request ---- */

/* 1000 requests in flight 100 at a time, each with its own header: each
 * arrives with its own value, once, and never another's. */
TEST_IMPL(per_request_headers_are_never_mixed_up) {
  size_t n = 1000, i;
  uvf_request *rqs = calloc(n, sizeof(*rqs));
  char **h = calloc(n, sizeof(*h)), **u = calloc(n, sizeof(*u)), val[64];
  uvf_options o = options();
  uvf_result **r;
  ts_start(&srv, NULL);
  o.max_in_flight = 100;
  for (i = 0; i < n; i++) {
    u[i] = urlf("/echo?i=%zu", i);
    if (asprintf(&h[i], "X-Request: %zu", i) < 0)
      FAIL("oom");
    rqs[i] = request(u[i], i % 2 ? "POST" : NULL, i % 2 ? "b" : NULL);
    rqs[i].headers = (const char *const *)&h[i];
    rqs[i].n_headers = 1;
  }
  r = run(rqs, n, &o);
  for (i = 0; i < n; i++) {
    char want[32];
    expect_echo(r[i], i % 2 ? "POST" : "GET", i % 2);
    snprintf(want, sizeof(want), "%zu", i);
    if (echo_header(r[i]->body, "X-Request", val, sizeof(val)) != 1 ||
        strcmp(val, want) != 0)
      FAIL("index %zu got X-Request %s", i, val);
  }
  ASSERT_LE(50, ts_stat(&srv, "connections")); /* 100 handles at once */
  free_all(r, n);
  free_urls(h, n);
  free_urls(u, n);
  free(rqs);
  ts_stop(&srv);
}

/* A request's header replaces the options' header of the same name; the
 * others of the options are sent too. */
TEST_IMPL(request_header_replaces_the_options_header_of_that_name) {
  const char *global[] = {"Accept: text/plain", "X-Global: g"};
  const char *own[] = {"accept: application/json"};
  uvf_options o = options();
  uvf_request rq;
  uvf_result *r;
  char *u, val[64];
  ts_start(&srv, NULL);
  o.headers = global;
  o.n_headers = 2;
  u = urlf("/echo");
  rq = request(u, NULL, NULL);
  rq.headers = own;
  rq.n_headers = 1;
  r = run1(&rq, &o);
  ASSERT(r->ok);
  ASSERT_EQ(echo_header(r->body, "Accept", val, sizeof(val)), 1);
  ASSERT_STR_EQ(val, "application/json");
  ASSERT_EQ(echo_header(r->body, "X-Global", val, sizeof(val)), 1);
  uvf_result_free(r);
  free(u);
  ts_stop(&srv);
}

/* ---- invalid requests ---- */

TEST_IMPL(invalid_requests_get_an_index_and_a_result_naming_the_field) {
  const char *bad_header[] = {"X-Fine: 1", "X-Split: a\r\nX-Smuggled: b"};
  const char *no_colon[] = {"NoColon"};
  uvf_request rqs[5];
  uvf_options o = options();
  uvf_result **r;
  char *u;
  size_t i;
  ts_start(&srv, NULL);
  u = urlf("/echo");
  rqs[0] = request(u, "GE T", NULL);
  rqs[1] = request(u, NULL, NULL);
  rqs[1].headers = bad_header;
  rqs[1].n_headers = 2;
  rqs[2] = request(u, "HEAD", "body");
  rqs[3] = request(u, NULL, NULL);
  rqs[3].headers = no_colon;
  rqs[3].n_headers = 1;
  rqs[4] = request(u, "POST", "fine");
  r = run(rqs, 5, &o);
  for (i = 0; i < 4; i++) {
    ASSERT_EQ(r[i]->index, i);
    ASSERT_EQ(r[i]->error, UVF_EINVALID_REQUEST);
    ASSERT_STR_EQ(uvf_err_name(r[i]->error), "invalid_request");
    ASSERT_EQ(r[i]->attempts, 0);
  }
  ASSERT(strstr(r[0]->message, "method"));
  ASSERT(strstr(r[1]->message, "header 2"));
  ASSERT(strstr(r[2]->message, "HEAD"));
  ASSERT(strstr(r[3]->message, "header 1"));
  expect_echo(r[4], "POST", 4);
  ASSERT_EQ(ts_stat(&srv, "requests"), 1);
  free_all(r, 5);
  free(u);
  ts_stop(&srv);
}

TEST_IMPL(submit_request_refuses_what_it_cannot_copy) {
  uv_loop_t loop;
  uvf_fetcher *f;
  uvf_callbacks cb = cbs(NULL, NULL, NULL, NULL, NULL);
  uvf_options o;
  uvf_request rq;
  cb.on_result = (void (*)(void *, const uvf_result *))abort;
  uvf_options_init(&o);
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), 0);
  rq = request(NULL, NULL, NULL);
  ASSERT_EQ(uvf_submit_request(f, &rq, NULL), UVF_EINVAL); /* no URL */
  rq = request("http://127.0.0.1:1/", NULL, NULL);
  rq.body_len = 5; /* no body to go with it */
  ASSERT_EQ(uvf_submit_request(f, &rq, NULL), UVF_EINVAL);
  rq.body_len = 0;
  rq.n_headers = 1;
  ASSERT_EQ(uvf_submit_request(f, &rq, NULL), UVF_EINVAL);
  ASSERT_EQ(uvf_submit_request(f, NULL, NULL), UVF_EINVAL);
  ASSERT_EQ(uvf_submit_request(NULL, &rq, NULL), UVF_EINVAL);
  rq.size = 8; /* older than any uvf_request */
  rq.n_headers = 0;
  ASSERT_EQ(uvf_submit_request(f, &rq, NULL), UVF_EINVAL);
  /* A fetcher asks one source, not two. */
  cb.next_request = (int (*)(void *, const uvf_request **))abort;
  cb.next = (int (*)(void *, const char **, uint64_t *))abort;
  ASSERT_EQ(uvf_fetcher_new(&f, &loop, &o, &cb, NULL), UVF_EINVAL);
  uvf_fetcher_close(f, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* ---- a source of requests, on the caller's loop ---- */

typedef struct source_run {
  uvf_fetcher *f;
  size_t next, n, results, invalid;
  char *url;
  uvf_request rq;
  char *seen_body[4];
  char buf[32];
} source_run;

static int sr_next(void *ud, const uvf_request **rq) {
  source_run *s = ud;
  char *buf = s->buf;
  if (s->next >= s->n)
    return 0;
  uvf_request_init(&s->rq);
  s->rq.url = s->next == 2 ? NULL : s->url; /* one without a URL */
  s->rq.tag = 100 + s->next;
  snprintf(buf, sizeof(s->buf), "body %zu", s->next++);
  s->rq.body = buf; /* copied before the next call */
  s->rq.body_len = strlen(buf);
  *rq = &s->rq;
  return 1;
}

static void sr_result(void *ud, const uvf_result *r) {
  source_run *s = ud;
  ASSERT_EQ(r->tag, 100 + r->index);
  if (r->error == UVF_EINVALID_REQUEST) {
    s->invalid++;
    ASSERT(strstr(r->message, "URL"));
  } else {
    ASSERT(r->ok);
    s->seen_body[r->index] = echo_str(r->body, "body_base64");
  }
  s->results++;
}

static void sr_done(void *ud) {
  uvf_fetcher_close(((source_run *)ud)->f, NULL);
}

TEST_IMPL(a_source_of_requests_feeds_the_fetcher) {
  uvf_callbacks cb = cbs(NULL, NULL, NULL, sr_result, sr_done);
  uvf_options o = options();
  source_run s;
  uv_loop_t loop;
  size_t i;
  ts_start(&srv, NULL);
  memset(&s, 0, sizeof(s));
  s.n = 4;
  s.url = urlf("/echo");
  cb.next_request = sr_next;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(uvf_fetcher_new(&s.f, &loop, &o, &cb, &s), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  ASSERT_EQ(s.results, 4);
  ASSERT_EQ(s.invalid, 1);
  ASSERT_STR_EQ(s.seen_body[0], "Ym9keSAw"); /* "body 0" */
  ASSERT_STR_EQ(s.seen_body[3], "Ym9keSAz"); /* "body 3" */
  for (i = 0; i < 4; i++)
    free(s.seen_body[i]);
  free(s.url);
  ts_stop(&srv);
}

/* ---- redirects ---- */

static uvf_result *post_to(const char *url, const char *method,
                           const uvf_options *o) {
  uvf_request rq = request(url, method, "payload");
  return run1(&rq, o);
}

TEST_IMPL(post_answered_303_is_followed_by_a_get_without_body) {
  uvf_options o = options();
  char *u, val[64];
  uvf_result *r;
  ts_start(&srv, NULL);
  u = redirect_url(303, "127.0.0.1");
  r = post_to(u, NULL, &o);
  expect_echo(r, "GET", 0);
  ASSERT_EQ(r->redirects, 1);
  ASSERT(strstr(r->final_url, "/echo"));
  ASSERT_EQ(echo_header(r->body, "Content-Type", val, sizeof(val)), 0);
  uvf_result_free(r);
  free(u);
  ts_stop(&srv);
}

TEST_IMPL(post_answered_307_or_308_keeps_method_and_body) {
  uvf_options o = options();
  int codes[] = {307, 308}, i;
  ts_start(&srv, NULL);
  for (i = 0; i < 2; i++) {
    char *u = redirect_url(codes[i], "127.0.0.1");
    uvf_result *r = post_to(u, NULL, &o);
    size_t n;
    unsigned char *b;
    expect_echo(r, "POST", 7);
    b = echo_body(r->body, &n);
    ASSERT(memcmp(b, "payload", 7) == 0);
    ASSERT_EQ(r->redirects, 1);
    free(b);
    uvf_result_free(r);
    free(u);
  }
  ts_stop(&srv);
}

/* libcurl would keep a custom method on every redirect (PUT after a 303,
 * PATCH without its body after a 302): browsers' rules instead. */
TEST_IMPL(redirects_change_custom_methods_as_browsers_do) {
  static const struct {
    int code;
    const char *method, *after;
    size_t body;
  } cases[] = {{303, "PUT", "GET", 0},     {303, "DELETE", "GET", 0},
               {302, "PATCH", "PATCH", 7}, {301, "PUT", "PUT", 7},
               {301, "POST", "GET", 0},    {308, "PATCH", "PATCH", 7},
               {302, NULL, "GET", 0}}; /* a body alone makes a POST */
  size_t n = sizeof(cases) / sizeof(cases[0]), i;
  uvf_options o = options();
  ts_start(&srv, NULL);
  for (i = 0; i < n; i++) {
    char *u = redirect_url(cases[i].code, "127.0.0.1");
    uvf_request rq = request(
        u, cases[i].method,
        cases[i].method && !strcmp(cases[i].method, "DELETE") ? NULL
                                                              : "payload");
    uvf_result *r = run1(&rq, &o);
    expect_echo(r, cases[i].after, cases[i].body);
    uvf_result_free(r);
    free(u);
  }
  ts_stop(&srv);
}

/* Authorization and Cookie, the request's and the options', stay with the
 * request's origin; other headers go on. */
TEST_IMPL(cross_host_redirect_drops_authorization_and_cookie) {
  const char *global[] = {"Cookie: session=1"};
  const char *own[] = {"Authorization: Bearer secret", "X-Own: kept"};
  uvf_options o = options();
  const char *methods[] = {NULL, "PUT"};
  char val[64];
  int i;
  ts_start(&srv, NULL);
  o.headers = global;
  o.n_headers = 1;
  for (i = 0; i < 2; i++) {
    char *away = redirect_url(307, "localhost"), *home;
    uvf_request rq = request(away, methods[i], NULL);
    uvf_result *r;
    rq.headers = own;
    rq.n_headers = 2;
    r = run1(&rq, &o);
    ASSERT(r->ok && strstr(r->final_url, "localhost"));
    ASSERT_EQ(echo_header(r->body, "Authorization", val, sizeof(val)), 0);
    ASSERT_EQ(echo_header(r->body, "Cookie", val, sizeof(val)), 0);
    ASSERT_EQ(echo_header(r->body, "X-Own", val, sizeof(val)), 1);
    uvf_result_free(r);
    /* The same redirect within the origin keeps them. */
    home = redirect_url(307, "127.0.0.1");
    rq.url = home;
    r = run1(&rq, &o);
    ASSERT_EQ(echo_header(r->body, "Authorization", val, sizeof(val)), 1);
    ASSERT_EQ(echo_header(r->body, "Cookie", val, sizeof(val)), 1);
    uvf_result_free(r);
    free(away);
    free(home);
  }
  ts_stop(&srv);
}

/* The redirects a request follows itself keep libcurl's limits and
 * errors: too many is protocol, a bad Location is the server's fault. */
TEST_IMPL(redirects_of_requests_keep_the_limit_and_blame_bad_locations) {
  uvf_options o = options();
  uvf_result *r;
  char *u;
  ts_start(&srv, NULL);
  o.max_redirects = 2;
  u = urlf("/redirect/5");
  r = post_to(u, "PUT", &o);
  ASSERT_EQ(r->error, UVF_EPROTOCOL);
  ASSERT_EQ(r->redirects, 2);
  ASSERT(strstr(r->message, "redirect"));
  ASSERT_EQ(r->bytes, 0); /* a redirect's body is nobody's */
  uvf_result_free(r);
  free(u);
  u = urlf("/redirect-to?url=http%%3A%%2F%%2F%%5B%%3A%%3A1");
  r = post_to(u, NULL, &o);
  ASSERT_EQ(r->error, UVF_EPROTOCOL);
  ASSERT_EQ(r->status, 302);
  ASSERT(strstr(r->message, "redirect from the server"));
  uvf_result_free(r);
  free(u);
  u = urlf("/redirect-to?url=file%%3A%%2F%%2F%%2Fetc%%2Fpasswd");
  r = post_to(u, NULL, &o);
  ASSERT_EQ(r->error, UVF_EPROTOCOL);
  uvf_result_free(r);
  free(u);
  o.max_redirects = -1; /* not followed: the 307 is the result */
  u = redirect_url(307, "127.0.0.1");
  r = post_to(u, NULL, &o);
  ASSERT_EQ(r->status, 307);
  ASSERT_EQ(r->error, UVF_EHTTP);
  uvf_result_free(r);
  free(u);
  ts_stop(&srv);
}

/* ---- retries ---- */

static unsigned attempts_of(const char *method, const char *key,
                            int retry_all) {
  const char *h[] = {key};
  uvf_options o = options();
  uvf_request rq;
  uvf_result *r;
  unsigned n;
  char *u = urlf("/flaky/1?m=%s&k=%d&a=%d", method, key != NULL, retry_all);
  o.max_retries = 2;
  o.retry_base_ms = 1;
  o.retry_all_methods = retry_all;
  rq = request(u, method, strcmp(method, "DELETE") ? "b" : NULL);
  rq.headers = h;
  rq.n_headers = key ? 1 : 0;
  r = run1(&rq, &o);
  n = r->attempts;
  if (n == 2)
    ASSERT(r->ok);
  else
    ASSERT_EQ(r->status, 503);
  uvf_result_free(r);
  free(u);
  return n;
}

TEST_IMPL(post_to_a_503_is_retried_only_when_allowed) {
  ts_start(&srv, NULL);
  ASSERT_EQ(attempts_of("POST", NULL, 0), 1);
  ASSERT_EQ(attempts_of("PATCH", NULL, 0), 1);
  ASSERT_EQ(attempts_of("POST", NULL, 1), 2);
  ASSERT_EQ(attempts_of("POST", "Idempotency-Key: 7f3a", 0), 2);
  ASSERT_EQ(attempts_of("PUT", NULL, 0), 2);
  ASSERT_EQ(attempts_of("DELETE", NULL, 0), 2);
  ts_stop(&srv);
}

/* A refused connection sent nothing: any method may try again. */
TEST_IMPL(refused_connection_is_retried_for_any_method) {
  uvf_options o = options();
  uvf_request rq = request("http://127.0.0.1:1/", "POST", "x");
  uvf_result *r;
  o.max_retries = 2;
  o.retry_base_ms = 1;
  r = run1(&rq, &o);
  ASSERT_EQ(r->error, UVF_ECONNECT);
  ASSERT_EQ(r->attempts, 3);
  uvf_result_free(r);
}

/* ---- response headers ---- */

static const char *header_value(const uvf_result *r, const char *name,
                                int nth) {
  size_t i;
  for (i = 0; i < r->n_headers; i++)
    if (strcmp(r->headers[i].name, name) == 0 && nth-- == 0)
      return r->headers[i].value;
  return NULL;
}

TEST_IMPL(response_headers_come_lower_cased_repeated_names_each) {
  uvf_options o = options();
  uvf_request rq;
  uvf_result *r;
  char *u;
  ts_start(&srv, NULL);
  o.keep_headers = 1;
  u = urlf("/response-headers?Set-Cookie=a%%3D1&ETag=%%22v1%%22"
           "&Set-Cookie=b%%3D2&X-RateLimit-Remaining=%%20%%2099");
  rq = request(u, NULL, NULL);
  r = run1(&rq, &o);
  ASSERT(r->ok);
  ASSERT_STR_EQ(header_value(r, "content-type", 0), "text/plain");
  ASSERT_STR_EQ(header_value(r, "set-cookie", 0), "a=1");
  ASSERT_STR_EQ(header_value(r, "set-cookie", 1), "b=2");
  ASSERT_STR_EQ(header_value(r, "etag", 0), "\"v1\"");
  ASSERT_STR_EQ(header_value(r, "x-ratelimit-remaining", 0), "99");
  ASSERT(header_value(r, "Set-Cookie", 0) == NULL);
  ASSERT_STR_EQ(r->headers[0].name, "content-type"); /* in order */
  uvf_result_free(r);
  free(u);
  ts_stop(&srv);
}

/* Over HTTP/2 too, where names come lower-case already. */
TEST_IMPL(response_headers_over_http2) {
  uvf_options o = options();
  uvf_request rq;
  uvf_result *r;
  char *u;
  ts_start(&srv, NULL);
  o.keep_headers = 1;
  o.http_version = UVF_HTTP_2_PRIOR;
  u = urlf("/response-headers?Set-Cookie=a%%3D1&Set-Cookie=b%%3D2");
  rq = request(u, NULL, NULL);
  r = run1(&rq, &o);
  ASSERT(r->ok);
  ASSERT_STR_EQ(header_value(r, "set-cookie", 1), "b=2");
  ASSERT_STR_EQ(header_value(r, "content-length", 0), "3");
  uvf_result_free(r);
  free(u);
  ts_stop(&srv);
}

/* Only the final response's, whoever followed the redirect. */
TEST_IMPL(response_headers_are_the_final_responses_after_redirects) {
  uvf_options o = options();
  uvf_request rq[2];
  uvf_result **r;
  char *u;
  int i;
  ts_start(&srv, NULL);
  o.keep_headers = 1;
  u = redirect_url(307, "127.0.0.1");
  rq[0] = request(u, NULL, NULL);        /* libcurl follows */
  rq[1] = request(u, "POST", "payload"); /* request.c follows */
  r = run(rq, 2, &o);
  for (i = 0; i < 2; i++) {
    ASSERT(r[i]->ok);
    ASSERT(header_value(r[i], "location", 0) == NULL);
    ASSERT_STR_EQ(header_value(r[i], "content-type", 0), "application/json");
  }
  free_all(r, 2);
  free(u);
  ts_stop(&srv);
}

TEST_IMPL(response_headers_past_the_limit_end_as_protocol) {
  uvf_options o = options();
  uvf_request rq[3];
  uvf_result **r;
  char *many, *fine, *redirected;
  ts_start(&srv, NULL);
  o.keep_headers = 1;
  o.max_header_bytes = 4096;
  many = urlf("/bad/many-headers");
  fine = urlf("/response-headers?X-A=%0500d", 0);
  redirected = urlf("/redirect/40"); /* 40 small responses */
  rq[0] = request(many, NULL, NULL);
  rq[1] = request(fine, NULL, NULL);
  rq[2] = request(redirected, NULL, NULL);
  o.max_redirects = 50;
  r = run(rq, 3, &o);
  ASSERT_EQ(r[0]->error, UVF_EPROTOCOL);
  ASSERT(strstr(r[0]->message, "headers"));
  ASSERT(r[1]->ok);
  ASSERT_EQ(r[2]->error, UVF_EPROTOCOL); /* every response counts */
  free_all(r, 3);
  free(many);
  free(fine);
  free(redirected);
  ts_stop(&srv);
}

TEST_IMPL(no_response_headers_unless_asked) {
  uvf_options o = options();
  uvf_request rq;
  uvf_result *r;
  char *u;
  ts_start(&srv, NULL);
  u = urlf("/response-headers?ETag=x");
  rq = request(u, NULL, NULL);
  r = run1(&rq, &o);
  ASSERT(r->ok);
  ASSERT(r->headers == NULL && r->n_headers == 0);
  ASSERT(strcmp(r->body, "ok\n") == 0); /* and not in the body either */
  uvf_result_free(r);
  free(u);
  ts_stop(&srv);
}

/* The blocking call's results carry them too (results.c's copies). */
TEST_IMPL(blocking_results_carry_response_headers) {
  uvf_options o;
  uvf_results *rs = NULL;
  const uvf_result *r;
  char *u;
  ts_start(&srv, NULL);
  uvf_options_init(&o);
  o.keep_headers = 1;
  u = urlf("/response-headers?Link=%%3C%%2Fnext%%3E");
  ASSERT_EQ(uvf_fetch_all((const char *const *)&u, 1, &o, 0, &rs), UVF_OK);
  r = uvf_results_get(rs, 0);
  ASSERT_STR_EQ(header_value(r, "link", 0), "</next>");
  uvf_results_free(&rs);
  free(u);
  ts_stop(&srv);
}

/* ---- on_headers: the final response's headers before its body ---- */

#define HD_MAX 8

/* What the callbacks saw, one letter an event per index: s (on_start),
 * h (on_headers), b (on_body, once for a run of calls), r (on_result). */
typedef struct hd_run {
  uv_loop_t loop;
  uvf_fetcher *f;
  const uvf_request *rqs;
  size_t n, next;
  uint64_t stop; /* index whose on_headers says stop; HD_MAX: none */
  char log[HD_MAX][32];
  long status[HD_MAX][4]; /* as on_headers saw it, per call */
  int n_told[HD_MAX];
  char ctype[HD_MAX][64]; /* content-type at the last on_headers */
  int location[HD_MAX];   /* a location field was among them */
  uvf_err error[HD_MAX];
  char message[HD_MAX][64];
  size_t result_headers[HD_MAX];
} hd_run;

static void hd_log(hd_run *h, uint64_t index, char c) {
  size_t len;
  ASSERT(index < h->n);
  len = strlen(h->log[index]);
  if (c == 'b' && len > 0 && h->log[index][len - 1] == 'b')
    return;
  ASSERT(len + 1 < sizeof(h->log[index]));
  h->log[index][len] = c;
}

static int hd_next(void *ud, const uvf_request **rq) {
  hd_run *h = ud;
  if (h->next >= h->n)
    return 0;
  *rq = &h->rqs[h->next++];
  return 1;
}

static void hd_start(void *ud, uint64_t index, uint64_t tag) {
  (void)tag;
  hd_log(ud, index, 's');
}

static int hd_headers(void *ud, uint64_t index, long status,
                      const uvf_header *hs, size_t n) {
  hd_run *h = ud;
  size_t i;
  hd_log(h, index, 'h');
  ASSERT_EQ(uvf_abort(h->f, UVF_EABORTED), UVF_ESTATE);
  ASSERT(h->n_told[index] < 4);
  h->status[index][h->n_told[index]++] = status;
  h->ctype[index][0] = '\0';
  for (i = 0; i < n; i++) {
    if (strcmp(hs[i].name, "content-type") == 0)
      snprintf(h->ctype[index], sizeof(h->ctype[index]), "%s", hs[i].value);
    h->location[index] |= strcmp(hs[i].name, "location") == 0;
  }
  return index == h->stop;
}

static int hd_body(void *ud, uint64_t index, const char *d, size_t n) {
  (void)d;
  (void)n;
  hd_log(ud, index, 'b');
  return 0;
}

static void hd_result(void *ud, const uvf_result *r) {
  hd_run *h = ud;
  hd_log(h, r->index, 'r');
  h->error[r->index] = r->error;
  snprintf(h->message[r->index], sizeof(h->message[r->index]), "%s",
           r->message);
  h->result_headers[r->index] = r->n_headers;
}

static void hd_done(void *ud) { uvf_fetcher_close(((hd_run *)ud)->f, NULL); }

/* Runs rqs[0..n) through a fetcher on a loop of the test's own. */
static void hd_go(hd_run *h, const uvf_request *rqs, size_t n,
                  const uvf_options *o, size_t callbacks_size) {
  uvf_callbacks cb;
  ASSERT(n <= HD_MAX);
  memset(h, 0, sizeof(*h));
  h->rqs = rqs;
  h->n = n;
  h->stop = HD_MAX;
  ASSERT_EQ(uv_loop_init(&h->loop), 0);
  uvf_callbacks_init(&cb);
  cb.next_request = hd_next;
  cb.on_start = hd_start;
  cb.on_body = hd_body;
  cb.on_result = hd_result;
  cb.on_done = hd_done;
  cb.on_headers = hd_headers;
  cb.size = callbacks_size;
  ASSERT_EQ(uvf_fetcher_new(&h->f, &h->loop, o, &cb, h), UVF_OK);
}

static void hd_finish(hd_run *h) {
  uv_run(&h->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&h->loop), 0);
}

/* One request, in a fetcher of its own: libcurl 7.88 cannot reuse a
 * connection of HTTP/2 with prior knowledge (curl issue 10634), so over
 * HTTP/2 nothing here may take a second request. */
static void told_once(const uvf_request *rq, int h2, const char *log,
                      long status, const char *ctype) {
  static hd_run h;
  uvf_options o;
  uvf_options_init(&o);
  o.http_version = h2 ? UVF_HTTP_2_PRIOR : UVF_HTTP_1_1;
  hd_go(&h, rq, 1, &o, sizeof(uvf_callbacks));
  hd_finish(&h);
  ASSERT_STR_EQ(h.log[0], log);
  ASSERT_EQ(h.n_told[0], 1);
  ASSERT_EQ(h.status[0][0], status);
  ASSERT(!h.location[0]);
  if (ctype)
    ASSERT_STR_EQ(h.ctype[0], ctype);
  ASSERT_EQ(h.result_headers[0], 0); /* keep_headers was not set */
}

/* Once an attempt, before the first body byte, with the final response's
 * headers whoever followed its redirects; before the result when there
 * is no body; over HTTP/1.1 and HTTP/2 (redirects over HTTP/1.1 only,
 * see above); without keep_headers. */
TEST_IMPL(headers_callback_comes_once_before_the_body) {
  uvf_request rq[5];
  char *u[5];
  int h2, i;
  ts_start(&srv, NULL);
  u[0] = urlf("/response-headers?X-A=1");
  u[1] = urlf("/redirect/2");
  u[2] = redirect_url(307, "127.0.0.1");
  u[3] = urlf("/status/204");
  u[4] = urlf("/status/304");
  for (i = 0; i < 5; i++)
    rq[i] = request(u[i], i == 2 ? "POST" : NULL, i == 2 ? "payload" : NULL);
  for (h2 = 0; h2 < 2; h2++) {
    told_once(&rq[0], h2, "shbr", 200, "text/plain");
    if (!h2) {
      told_once(&rq[1], h2, "shbr", 200, NULL); /* libcurl followed */
      told_once(&rq[2], h2, "shbr", 200, "application/json"); /* request.c */
    }
    told_once(&rq[3], h2, "shr", 204, NULL);
    told_once(&rq[4], h2, "shr", 304, NULL);
  }
  for (i = 0; i < 5; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* Non-zero stops the transfer before any body byte: an aborted result
 * that says why, even for a response that had ended. */
TEST_IMPL(headers_callback_can_stop_the_transfer) {
  static hd_run h;
  uvf_options o;
  uvf_request rq[2];
  char *u[2];
  int i;
  ts_start(&srv, NULL);
  u[0] = urlf("/bytes/1000000");
  u[1] = urlf("/status/204");
  rq[0] = request(u[0], NULL, NULL);
  rq[1] = request(u[1], NULL, NULL);
  uvf_options_init(&o);
  for (i = 0; i < 2; i++) {
    hd_go(&h, rq, 2, &o, sizeof(uvf_callbacks));
    h.stop = (uint64_t)i;
    hd_finish(&h);
    ASSERT_STR_EQ(h.log[i], "shr");
    ASSERT_EQ(h.error[i], UVF_EABORTED);
    ASSERT_STR_EQ(h.message[i], "stopped by the headers callback");
    ASSERT_EQ(h.error[1 - i], UVF_OK);
  }
  free(u[0]);
  free(u[1]);
  ts_stop(&srv);
}

/* Each attempt is told of its own response; an attempt that fails before
 * its body starts (a refused connection, headers then silence) is not. */
TEST_IMPL(headers_callback_per_attempt_and_not_for_failures) {
  static hd_run h;
  uvf_options o;
  uvf_request rq[3];
  char *u[3];
  int i;
  ts_start(&srv, NULL);
  u[0] = urlf("/flaky/1?headers-retry");
  u[1] = strdup("http://127.0.0.1:1/");
  u[2] = urlf("/stall");
  for (i = 0; i < 3; i++)
    rq[i] = request(u[i], NULL, NULL);
  uvf_options_init(&o);
  o.max_retries = 1;
  o.retry_base_ms = 1;
  o.timeout_ms = 500;
  hd_go(&h, rq, 3, &o, sizeof(uvf_callbacks));
  hd_finish(&h);
  ASSERT_STR_EQ(h.log[0], "shbshbr");
  ASSERT_EQ(h.status[0][0], 503);
  ASSERT_EQ(h.status[0][1], 200);
  ASSERT_STR_EQ(h.log[1], "ssr");
  ASSERT_EQ(h.error[1], UVF_ECONNECT);
  ASSERT_STR_EQ(h.log[2], "ssr");
  ASSERT_EQ(h.error[2], UVF_ETIMEOUT);
  for (i = 0; i < 3; i++)
    free(u[i]);
  ts_stop(&srv);
}

/* A caller built before on_headers existed hands in a smaller struct:
 * whatever lies past its end is never read. */
TEST_IMPL(headers_callback_past_an_older_callers_struct_is_not_read) {
  static hd_run h;
  uvf_options o;
  uvf_request rq;
  char *u;
  ts_start(&srv, NULL);
  u = urlf("/bytes/10");
  rq = request(u, NULL, NULL);
  uvf_options_init(&o);
  hd_go(&h, &rq, 1, &o, offsetof(uvf_callbacks, on_headers));
  hd_finish(&h);
  ASSERT_STR_EQ(h.log[0], "sbr");
  free(u);
  ts_stop(&srv);
}

static const test_entry tests[] = {
    TEST_ENTRY(post_with_a_1_mib_body_with_nul_bytes_arrives_whole),
    TEST_ENTRY(post_body_arrives_over_http2_too),
    TEST_ENTRY(method_is_get_post_with_a_body_or_as_given),
    TEST_ENTRY(head_request_gets_headers_and_no_body),
    TEST_ENTRY(a_plain_url_after_a_request_on_the_same_handle_is_a_bare_get),
    TEST_ENTRY(per_request_headers_are_never_mixed_up),
    TEST_ENTRY(request_header_replaces_the_options_header_of_that_name),
    TEST_ENTRY(invalid_requests_get_an_index_and_a_result_naming_the_field),
    TEST_ENTRY(submit_request_refuses_what_it_cannot_copy),
    TEST_ENTRY(a_source_of_requests_feeds_the_fetcher),
    TEST_ENTRY(post_answered_303_is_followed_by_a_get_without_body),
    TEST_ENTRY(post_answered_307_or_308_keeps_method_and_body),
    TEST_ENTRY(redirects_change_custom_methods_as_browsers_do),
    TEST_ENTRY(cross_host_redirect_drops_authorization_and_cookie),
    TEST_ENTRY(redirects_of_requests_keep_the_limit_and_blame_bad_locations),
    TEST_ENTRY(post_to_a_503_is_retried_only_when_allowed),
    TEST_ENTRY(refused_connection_is_retried_for_any_method),
    TEST_ENTRY(response_headers_come_lower_cased_repeated_names_each),
    TEST_ENTRY(response_headers_over_http2),
    TEST_ENTRY(response_headers_are_the_final_responses_after_redirects),
    TEST_ENTRY(response_headers_past_the_limit_end_as_protocol),
    TEST_ENTRY(no_response_headers_unless_asked),
    TEST_ENTRY(blocking_results_carry_response_headers),
    TEST_ENTRY(headers_callback_comes_once_before_the_body),
    TEST_ENTRY(headers_callback_can_stop_the_transfer),
    TEST_ENTRY(headers_callback_per_attempt_and_not_for_failures),
    TEST_ENTRY(headers_callback_past_an_older_callers_struct_is_not_read),
};

int main(int argc, char **argv) {
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
