/* Requests: a URL with a method, headers and a body (uvf_request).
 *
 * What the caller hands over is checked and copied into one block with
 * the URL, so a queued request holds memory in proportion to its own
 * size and nothing else. At each attempt its options are set on the
 * pooled easy handle, and taken off again before the handle serves a
 * plain URL; a plain URL on a handle that never served a request costs
 * one test.
 *
 * Redirects. libcurl 7.88 follows a POST made with CURLOPT_POSTFIELDS as
 * browsers do (301, 302 and 303 turn it into a GET without body; 307 and
 * 308 keep it), but keeps a method set with CURLOPT_CUSTOMREQUEST on
 * every redirect: a PUT or a DELETE answered with 303 would be sent
 * again as a PUT or a DELETE, a PATCH answered with 302 as a PATCH
 * without its body (doc/libcurl-notes.md, F1 to F3). So every request
 * that has a body or a method other than GET and HEAD follows its
 * redirects here: libcurl stops at the 3xx (CURLOPT_FOLLOWLOCATION off),
 * and the handle goes on to CURLINFO_REDIRECT_URL as the same attempt,
 * with the method, body and headers the fetch standard gives. GET and
 * HEAD stay with libcurl, which does them right. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

/* The smallest uvf_request taken: 0.3.0's, the first. */
#define REQUEST_MIN (offsetof(uvf_request, tag) + sizeof(uint64_t))

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

void uvf_request_init_size(uvf_request *rq, size_t size) {
  if (!rq || size < sizeof(size_t))
    return;
  memset(rq, 0, size);
  rq->size = size < sizeof(*rq) ? size : sizeof(*rq);
}

/* ---- checking ---- */

static int is_tchar(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

/* Length of the token at s (RFC 9110 tchar), 0 if none. */
static size_t token_len(const char *s) {
  size_t n = 0;
  while (is_tchar((unsigned char)s[n]))
    n++;
  return n;
}

/* "Name: value", "Name:" (removes a header) or "Name;" (sends it empty):
 * a line break would smuggle another line into the request. */
static int header_ok(const char *h) {
  size_t name;
  if (!h || !(name = token_len(h)))
    return 0;
  if (h[name] == ';')
    return h[name + 1] == '\0';
  return h[name] == ':' && !strpbrk(h + name, "\r\n");
}

int uvf__header_is(const char *line, const char *name) {
  size_t n = strlen(name);
  return strncasecmp(line, name, n) == 0 && (line[n] == ':' || line[n] == ';');
}

/* The methods the fetch standard normalizes: sent upper-case. */
static const char *const normal[] = {"GET", "HEAD",   "POST",
                                     "PUT", "DELETE", "OPTIONS"};

static const char *method_of(const uvf_request *rq) {
  size_t i;
  if (!rq->method)
    return rq->body ? "POST" : NULL;
  for (i = 0; i < sizeof(normal) / sizeof(normal[0]); i++)
    if (strcasecmp(rq->method, normal[i]) == 0)
      return normal[i];
  return rq->method;
}

static int is(const char *method, const char *name) {
  return method && strcmp(method, name) == 0;
}

/* RFC 9110 9.2.2, or an Idempotency-Key that makes the request so. */
static int idempotent(const char *m, const uvf_request *rq) {
  size_t i;
  if (!m || is(m, "GET") || is(m, "HEAD") || is(m, "PUT") || is(m, "DELETE") ||
      is(m, "OPTIONS") || is(m, "TRACE"))
    return 1;
  for (i = 0; i < rq->n_headers; i++)
    if (uvf__header_is(rq->headers[i], "Idempotency-Key"))
      return 1;
  return 0;
}

/* Why the request cannot be sent, into why (empty if it can). */
static void check(const char *url, const uvf_request *rq, char *why,
                  size_t size) {
  size_t i;
  why[0] = '\0';
  if (!url) {
    snprintf(why, size, "invalid request: no URL");
    return;
  }
  if (rq->method &&
      (!*rq->method || token_len(rq->method) != strlen(rq->method))) {
    snprintf(why, size, "invalid request: method \"%.40s\" is not a token",
             rq->method);
    return;
  }
  if ((rq->n_headers && !rq->headers) || (rq->body_len && !rq->body)) {
    snprintf(why, size, "invalid request: %s is NULL with a length",
             rq->body_len && !rq->body ? "body" : "headers");
    return;
  }
  for (i = 0; i < rq->n_headers; i++)
    if (!header_ok(rq->headers[i])) {
      snprintf(why, size,
               "invalid request: header %zu is not 'Name: value' on one line",
               i + 1);
      return;
    }
  if (rq->body && is(method_of(rq), "HEAD"))
    snprintf(why, size, "invalid request: a HEAD request has no body");
}

int uvf__request_check(const uvf_request *rq) {
  return rq && rq->size >= REQUEST_MIN && rq->url &&
                 !(rq->n_headers && !rq->headers) &&
                 !(rq->body_len && !rq->body)
             ? 0
             : UVF_EINVAL;
}

/* ---- the block ---- */

static char *put(char **p, const void *s, size_t n) {
  char *at = *p;
  memcpy(at, s, n);
  *p += n;
  return at;
}

/* Bytes the request adds after its uvf__req, 0 if they do not fit. */
static size_t extra_size(const uvf_request *rq, const char *m) {
  size_t n = rq->n_headers * sizeof(char *) + 1, i;
  if (m && m == rq->method)
    n += strlen(m) + 1;
  for (i = 0; i < rq->n_headers; i++)
    n += strlen(rq->headers[i]) + 1;
  return rq->body_len > SIZE_MAX / 2 - n ? 0 : n + rq->body_len;
}

/* Copies what can be sent into the block after q, at p. */
static void fill(uvf__req *q, char *p, const uvf_request *rq, const char *m) {
  size_t i;
  q->headers = (const char **)(void *)p;
  p += rq->n_headers * sizeof(char *);
  q->method = m && m == rq->method ? put(&p, m, strlen(m) + 1) : m;
  for (i = 0; i < rq->n_headers; i++)
    q->headers[i] = put(&p, rq->headers[i], strlen(rq->headers[i]) + 1);
  q->n_headers = rq->n_headers;
  if (rq->body) {
    q->body = put(&p, rq->body, rq->body_len);
    q->body_len = rq->body_len;
  }
  *p = '\0'; /* after the body: libcurl may log it as text */
  q->head = is(m, "HEAD");
  q->idempotent = (unsigned char)idempotent(m, rq);
  q->self_follow = q->body || (m && !is(m, "GET") && !q->head);
}

uvf__url *uvf__url_make(const char *url, const uvf_request *rq, uint64_t tag) {
  size_t ulen = strlen(url ? url : "") + 1, at, extra = 0;
  const char *m = rq ? method_of(rq) : NULL;
  char why[160] = "";
  uvf__url *u;
  if (rq && url && !rq->method && !rq->n_headers && !rq->body)
    rq = NULL; /* a plain GET: no request block */
  if (rq)
    check(url, rq, why, sizeof(why));
  at = ALIGN8(sizeof(*u) + ulen);
  if (rq && !(extra = why[0] ? strlen(why) + 1 : extra_size(rq, m)))
    return NULL;
  if (!(u = uvf__malloc(rq ? at + sizeof(uvf__req) + extra : at)))
    return NULL;
  memset(u, 0, sizeof(*u));
  memcpy(u->url, url ? url : "", ulen);
  uvf__list_init(&u->link);
  u->tag = tag;
  if (!rq)
    return u;
  u->rq = memset((char *)u + at, 0, sizeof(uvf__req));
  if (why[0])
    u->rq->bad = memcpy((char *)(u->rq + 1), why, extra);
  else
    fill(u->rq, (char *)(u->rq + 1), rq, m);
  return u;
}

/* ---- on the handle ---- */

#define SET(opt, val)                                                          \
  do {                                                                         \
    if (rc == CURLE_OK)                                                        \
      rc = curl_easy_setopt(x->easy, opt, val);                                \
  } while (0)

/* Headers a redirect leaves out: credentials once it has left the
 * request's origin, and what described the body once it made the
 * request a GET (as the fetch standard does). */
static int dropped(const uvf__xfer *x, const char *line) {
  return (x->hop_foreign && (uvf__header_is(line, "Authorization") ||
                             uvf__header_is(line, "Cookie"))) ||
         (x->hop_get && (uvf__header_is(line, "Content-Type") ||
                         uvf__header_is(line, "Content-Encoding") ||
                         uvf__header_is(line, "Content-Language") ||
                         uvf__header_is(line, "Content-Location")));
}

/* A batch header the request gives again, by name. */
static int replaced(const uvf__req *q, const char *line) {
  size_t n = strcspn(line, ":;"), i;
  for (i = 0; q && i < q->n_headers; i++)
    if (strncasecmp(q->headers[i], line, n) == 0 &&
        (q->headers[i][n] == ':' || q->headers[i][n] == ';'))
      return 1;
  return 0;
}

/* The batch's headers, the request's in place of those of the same name,
 * less what a redirect drops, as a list in x's own nodes (libcurl only
 * reads it, while the transfer runs). */
static int build_headers(uvf__xfer *x, const uvf__req *q) {
  size_t n = q ? q->n_headers : 0, k = 0, i;
  struct curl_slist *l;
  for (l = x->b->headers; l; l = l->next)
    n++;
  if (n > x->hdr_nodes_cap) {
    if (!(l = uvf__realloc(x->hdr_nodes, n * sizeof(*l))))
      return UVF_ENOMEM;
    x->hdr_nodes = l;
    x->hdr_nodes_cap = n;
  }
  for (l = x->b->headers; l; l = l->next)
    if (!replaced(q, l->data) && !dropped(x, l->data))
      x->hdr_nodes[k++].data = l->data;
  for (i = 0; q && i < q->n_headers; i++)
    if (!dropped(x, q->headers[i]))
      x->hdr_nodes[k++].data = (char *)q->headers[i];
  for (i = 0; i < k; i++)
    x->hdr_nodes[i].next = i + 1 < k ? &x->hdr_nodes[i + 1] : NULL;
  return curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER,
                          k ? x->hdr_nodes : NULL) == CURLE_OK
             ? 0
             : UVF_EBACKEND;
}

/* Back to a plain GET with the batch's headers and redirects. */
static CURLcode restore(uvf__xfer *x) {
  CURLcode rc = CURLE_OK;
  if (x->rq_set & (UVF__RQ_BODY | UVF__RQ_NOBODY))
    SET(CURLOPT_HTTPGET, 1L);
  if (x->rq_set & UVF__RQ_CUSTOM)
    SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
  if (x->rq_set & UVF__RQ_HEADERS)
    SET(CURLOPT_HTTPHEADER, x->b->headers);
  if (x->rq_set & UVF__RQ_NOFOLLOW)
    SET(CURLOPT_FOLLOWLOCATION, 1L);
  x->rq_set = 0;
  return rc;
}

/* libcurl sends POST for a body and GET without; any other method, or
 * one of those the other way round, is a custom one. */
static int custom_method(const uvf__req *q) {
  return q->method && !q->head && !is(q->method, q->body ? "POST" : "GET");
}

int uvf__req_setup(uvf__xfer *x, const uvf__url *u) {
  const uvf__req *q = u->rq;
  CURLcode rc = CURLE_OK;
  if (!x->rq_set && !q)
    return 0; /* the plain GET: nothing to set or take off */
  rc = restore(x);
  if (!q || rc != CURLE_OK)
    return rc == CURLE_OK ? 0 : UVF_EBACKEND;
  if (q->head)
    SET(CURLOPT_NOBODY, 1L);
  if (q->body) {
    /* Not copied: the body lives in u, which the transfer owns. */
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
    SET(CURLOPT_POSTFIELDS, q->body);
  }
  if (custom_method(q))
    SET(CURLOPT_CUSTOMREQUEST, q->method);
  if (q->self_follow && x->b->o.max_redirects >= 0)
    SET(CURLOPT_FOLLOWLOCATION, 0L);
  x->rq_set = (unsigned char)((q->head ? UVF__RQ_NOBODY : 0) |
                              (q->body ? UVF__RQ_BODY : 0) |
                              (custom_method(q) ? UVF__RQ_CUSTOM : 0) |
                              (q->self_follow && x->b->o.max_redirects >= 0
                                   ? UVF__RQ_NOFOLLOW
                                   : 0));
  if (rc == CURLE_OK && q->n_headers) {
    x->rq_set |= UVF__RQ_HEADERS; /* even half set: restore() resets it */
    return build_headers(x, q);
  }
  return rc == CURLE_OK ? 0 : UVF_EBACKEND;
}

void uvf__req_reset(uvf__xfer *x) {
  x->hops = 0;
  x->hop_secs = 0;
  x->hop_get = x->hop_foreign = x->hop_checked = x->hop_discard = 0;
}

/* ---- redirects ---- */

/* The target of a redirect libcurl did not follow; NULL if the response
 * is not one (304 and a 3xx without Location are final, as in libcurl). */
static const char *redirect_target(uvf__xfer *x) {
  char *next = NULL;
  long status = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
  if (status < 300 || status > 399 || status == 304)
    return NULL;
  curl_easy_getinfo(x->easy, CURLINFO_REDIRECT_URL, &next);
  return next;
}

/* libcurl 7.88 works out CURLINFO_REDIRECT_URL only once the transfer is
 * done (F4): while the body comes, a 3xx with a Location is a redirect
 * that the hop will follow or refuse. */
int uvf__req_discard(uvf__xfer *x) {
  struct curl_header *h;
  long status = 0;
  if (!x->hop_checked) {
    x->hop_checked = 1;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
    x->hop_discard = status >= 300 && status <= 399 && status != 304 &&
                     curl_easy_header(x->easy, "Location", 0, CURLH_HEADER, -1,
                                      &h) == CURLHE_OK;
  }
  return x->hop_discard;
}

/* Checks the target as libcurl would before following it: 0, or a
 * CURLcode with the reason in errbuf. Notes whether it leaves the
 * request's origin (scheme, host and port, as libcurl's own rule for
 * credentials). */
static CURLcode check_target(uvf__xfer *x, const char *next) {
  CURLUcode uc = curl_url_set(x->b->cu, CURLUPART_URL, next, 0);
  int https = strncasecmp(next, "https://", 8) == 0;
  char *key;
  if (uc != CURLUE_OK) {
    snprintf(x->errbuf, sizeof(x->errbuf), "%s", curl_url_strerror(uc));
    return CURLE_URL_MALFORMAT;
  }
  if (!https && strncasecmp(next, "http://", 7) != 0) {
    snprintf(x->errbuf, sizeof(x->errbuf),
             "Protocol of \"%.200s\" not supported", next);
    return CURLE_UNSUPPORTED_PROTOCOL;
  }
  key = uvf__origin_key(x->b->cu, https);
  if (!key || strcmp(key, x->u->origin->key) != 0)
    x->hop_foreign = 1; /* for good, even if a later one comes back */
  free(key);
  return CURLE_OK;
}

/* 301 and 302 turn a POST into a GET, 303 anything but HEAD (fetch
 * standard, 4.4 HTTP-redirect fetch). */
static int becomes_get(const uvf__xfer *x) {
  const uvf__req *q = x->u->rq;
  long status = 0;
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
  return ((status == 301 || status == 302) && is(q->method, "POST")) ||
         (status == 303 && !q->head);
}

/* The handle, out of its multi handle, set up for the next hop. */
static CURLcode next_hop(uvf__xfer *x, const char *next) {
  CURLcode rc = CURLE_OK;
  int headers = x->b->headers || x->u->rq->n_headers;
  SET(CURLOPT_URL, next); /* copied: next is libcurl's */
  if (becomes_get(x) && !x->hop_get) {
    x->hop_get = 1;
    SET(CURLOPT_HTTPGET, 1L);
    SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
    x->rq_set &= (unsigned char)~(UVF__RQ_BODY | UVF__RQ_CUSTOM);
  }
  if (rc == CURLE_OK && headers && (x->hop_get || x->hop_foreign)) {
    x->rq_set |= UVF__RQ_HEADERS;
    if (build_headers(x, x->u->rq))
      rc = CURLE_OUT_OF_MEMORY;
  }
  return rc;
}

int uvf__req_hop(uvf__xfer *x, CURLcode *rc) {
  const char *next;
  curl_off_t us = 0;
  long max = x->b->o.max_redirects;
  if (!(x->rq_set & UVF__RQ_NOFOLLOW) || *rc != CURLE_OK ||
      !(next = redirect_target(x)))
    return 0;
  if (x->hops >= (unsigned long)max) {
    snprintf(x->errbuf, sizeof(x->errbuf), "Maximum (%ld) redirects followed",
             max);
    *rc = CURLE_TOO_MANY_REDIRECTS;
    return 0;
  }
  if ((*rc = check_target(x, next)) != CURLE_OK)
    return 0;
  curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &us);
  x->hop_secs += (double)us / 1e6;
  x->hops++;
  x->e->in_curl++;
  curl_multi_remove_handle(x->group->multi, x->easy);
  x->e->in_curl--;
  if ((*rc = next_hop(x, next)) == CURLE_OK &&
      curl_multi_add_handle(x->group->multi, x->easy) != CURLM_OK)
    *rc = CURLE_FAILED_INIT;
  x->bytes = x->body_len = 0;
  if (x->body)
    x->body[0] = '\0';
  x->hop_checked = x->hop_discard = 0;
  return *rc == CURLE_OK;
}
