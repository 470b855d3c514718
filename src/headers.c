/* Response headers (uvf_options.keep_headers, uvf_callbacks.on_headers):
 * collected as they come by a header callback that is set on the handle
 * only when they are asked for, so a batch that does not want them pays
 * nothing. Each response
 * (a 1xx, a redirect libcurl follows, the final one) starts the
 * collection over; the bytes of all of them count against
 * max_header_bytes. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int room(uvf__hdrs *h, size_t more) {
  size_t cap = h->cap ? h->cap : 1024;
  char *t;
  if (h->len + more <= h->cap)
    return 0;
  while (cap < h->len + more)
    cap *= 2;
  if (!(t = uvf__realloc(h->text, cap)))
    return UVF_ENOMEM;
  h->text = t;
  h->cap = cap;
  return 0;
}

static int is_blank(char c) { return c == ' ' || c == '\t'; }

/* An obsolete folded line (RFC 9112 5.2) goes on the value before it,
 * which is the last string in text. */
static int fold(uvf__hdrs *h, const char *p, size_t n) {
  if (!h->count || room(h, n + 1))
    return h->count ? UVF_ENOMEM : 0;
  h->text[h->len - 1] = ' ';
  memcpy(h->text + h->len, p, n);
  h->len += n;
  h->text[h->len++] = '\0';
  return 0;
}

/* One "Name: value" line, without its line end: "name\0value\0". */
static int add(uvf__hdrs *h, const char *p, size_t n) {
  const char *colon = memchr(p, ':', n), *v;
  size_t name, i;
  if (!colon || colon == p)
    return 0; /* not a field: nothing to keep */
  name = (size_t)(colon - p);
  for (v = colon + 1; v < p + n && is_blank(*v); v++)
    ;
  n -= (size_t)(v - p);
  if (room(h, name + n + 2))
    return UVF_ENOMEM;
  for (i = 0; i < name; i++)
    h->text[h->len++] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
  h->text[h->len++] = '\0';
  memcpy(h->text + h->len, v, n);
  h->len += n;
  h->text[h->len++] = '\0';
  h->count++;
  return 0;
}

/* Returning less than n ends the transfer (CURLE_WRITE_ERROR); the flag
 * beside it tells the result why. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *userp) {
  uvf__xfer *x = userp;
  uvf__hdrs *h = &x->resp;
  uint64_t max = x->b->o.max_header_bytes;
  size_t n = size * nmemb, len = n;
  h->total += n;
  if (max && h->total > max) {
    x->hdr_over = 1;
    return 0;
  }
  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    h->len = h->count = 0; /* a new response: only the last one is kept */
    return n;
  }
  while (len > 0 &&
         (p[len - 1] == '\n' || p[len - 1] == '\r' || is_blank(p[len - 1])))
    len--;
  if (len > 0 && (is_blank(p[0]) ? fold(h, p + 1, len - 1) : add(h, p, len))) {
    x->body_oom = 1;
    return 0;
  }
  return n;
}

void uvf__hdrs_setup(uvf__xfer *x, CURL *easy, int keep) {
  /* Both or neither: a header data pointer without a header function
   * would send the headers to the write callback. */
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, keep ? on_header : NULL);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, keep ? (void *)x : NULL);
}

void uvf__hdrs_reset(uvf__hdrs *h) {
  h->len = h->count = 0;
  h->total = 0;
}

/* h->list[0..count) pointing into text; 0 or UVF_ENOMEM. */
static int list(uvf__hdrs *h) {
  const char *p = h->text;
  size_t i;
  if (h->count > h->list_cap) {
    uvf_header *l = uvf__realloc(h->list, h->count * sizeof(*l));
    if (!l)
      return UVF_ENOMEM;
    h->list = l;
    h->list_cap = h->count;
  }
  for (i = 0; i < h->count; i++) {
    h->list[i].name = p;
    p += strlen(p) + 1;
    h->list[i].value = p;
    p += strlen(p) + 1;
  }
  return 0;
}

int uvf__hdrs_result(uvf__hdrs *h, uvf_result *r) {
  if (list(h))
    return UVF_ENOMEM;
  r->headers = h->count ? h->list : NULL;
  r->n_headers = h->count;
  return 0;
}

/* Called where the response is known to be the final one: at its first
 * body byte (libcurl hands on no body of a redirect it follows, and
 * request.c drops those of the redirects it follows before this), or at
 * the end of a transfer that succeeded without a body. */
int uvf__hdrs_tell(uvf__xfer *x) {
  uvf__batch *b = x->b;
  long status = 0;
  if (!b->cb.on_headers || x->hdrs_told)
    return 0;
  x->hdrs_told = 1;
  if (list(&x->resp)) {
    x->hdr_oom = 1;
    return 1;
  }
  curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);
  if (b->cb.on_headers(b->ud, x->u->index, status,
                       x->resp.count ? x->resp.list : NULL, x->resp.count)) {
    x->hdr_abort = 1;
    return 1;
  }
  return 0;
}

void uvf__hdrs_free(uvf__hdrs *h) {
  free(h->text);
  free(h->list);
  memset(h, 0, sizeof(*h));
}
