/* Results the caller keeps: deep copies of what a callback saw, alone
 * (uvf_result_free) or as the by-index array of a blocking call
 * (uvf_results). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

struct uvf_results {
  size_t n;
  uvf_result *r;
};

static char *dup_str(const char *s) { return s ? uvf__strdup(s) : NULL; }

/* Bodies are binary: copied by length, with the NUL that follows. */
static char *dup_body(const uvf_result *r) {
  char *b;
  if (!r->body || !(b = uvf__malloc(r->bytes + 1)))
    return NULL;
  memcpy(b, r->body, r->bytes + 1);
  return b;
}

static uvf_attempt *dup_history(const uvf_result *r) {
  uvf_attempt *h;
  if (!r->n_history || !(h = uvf__malloc(r->n_history * sizeof(*h))))
    return NULL;
  memcpy(h, r->history, r->n_history * sizeof(*h));
  return h;
}

/* The header fields and their strings in one block. */
static uvf_header *dup_headers(const uvf_result *r) {
  size_t size = r->n_headers * sizeof(uvf_header), i, n;
  uvf_header *h;
  char *p;
  if (!r->n_headers || !r->headers)
    return NULL;
  for (i = 0; i < r->n_headers; i++)
    size += strlen(r->headers[i].name) + strlen(r->headers[i].value) + 2;
  if (!(h = uvf__malloc(size)))
    return NULL;
  p = (char *)(h + r->n_headers);
  for (i = 0; i < r->n_headers; i++) {
    n = strlen(r->headers[i].name) + 1;
    h[i].name = memcpy(p, r->headers[i].name, n);
    p += n;
    n = strlen(r->headers[i].value) + 1;
    h[i].value = memcpy(p, r->headers[i].value, n);
    p += n;
  }
  return h;
}

static void result_clear(uvf_result *r) {
  free((char *)r->url);
  free((char *)r->final_url);
  free((char *)r->message);
  free((char *)r->body);
  free((uvf_attempt *)r->history);
  free((uvf_header *)r->headers);
}

/* Copies src with its strings into dst. Returns 0, or UVF_ENOMEM with dst
 * holding only what fit (never a dangling pointer). */
int uvf__result_copy(uvf_result *dst, const uvf_result *src) {
  *dst = *src;
  dst->size = sizeof(*dst);
  dst->url = dup_str(src->url);
  dst->final_url = dup_str(src->final_url);
  dst->message = dup_str(src->message);
  dst->body = dup_body(src);
  dst->history = dup_history(src);
  dst->n_history = dst->history ? src->n_history : 0;
  dst->headers = dup_headers(src);
  dst->n_headers = dst->headers ? src->n_headers : 0;
  if ((src->url && !dst->url) || (src->final_url && !dst->final_url) ||
      (src->message && !dst->message) || (src->body && !dst->body) ||
      (src->n_history && !dst->history) ||
      (src->n_headers && src->headers && !dst->headers))
    return UVF_ENOMEM;
  return 0;
}

uvf_result *uvf__result_dup(const uvf_result *src) {
  uvf_result *r = uvf__malloc(sizeof(*r));
  if (r && uvf__result_copy(r, src)) {
    uvf_result_free(r);
    return NULL;
  }
  return r;
}

void uvf_result_free(uvf_result *r) {
  if (!r)
    return;
  result_clear(r);
  free(r);
}

uvf_results *uvf__results_new(size_t n) {
  uvf_results *rs = uvf__calloc(1, sizeof(*rs));
  if (!rs || !(rs->r = uvf__calloc(n ? n : 1, sizeof(*rs->r)))) {
    free(rs);
    return NULL;
  }
  rs->n = n;
  return rs;
}

size_t uvf_results_count(const uvf_results *rs) { return rs ? rs->n : 0; }

const uvf_result *uvf_results_get(const uvf_results *rs, size_t i) {
  return rs && i < rs->n ? &rs->r[i] : NULL;
}

void uvf_results_free(uvf_results **prs) {
  uvf_results *rs = prs ? *prs : NULL;
  size_t i;
  if (!rs)
    return;
  for (i = 0; i < rs->n; i++)
    result_clear(&rs->r[i]);
  free(rs->r);
  free(rs);
  *prs = NULL;
}

/* ---- a batch fed from an array, its results kept by index ---- */

int uvf__collector_init(uvf__collector *c, const char *const *urls, size_t n) {
  memset(c, 0, sizeof(*c));
  c->urls = urls;
  c->n = n;
  return (c->rs = uvf__results_new(n)) ? 0 : UVF_ENOMEM;
}

/* As uvf_callbacks.next. */
int uvf__collector_next(uvf__collector *c, const char **url, uint64_t *tag) {
  if (c->next >= c->n)
    return 0;
  *tag = c->next;
  *url = c->urls[c->next++];
  return 1;
}

void uvf__collector_put(uvf__collector *c, const uvf_result *r) {
  if (r->index >= c->n || uvf__result_copy(&c->rs->r[r->index], r))
    c->oom = 1;
}

/* URLs the batch never took from the array (a deadline or a cancel came
 * first) get their one result too, of the kind given. Returns 0 with
 * *out set, or an error with everything freed. */
int uvf__collector_finish(uvf__collector *c, uvf_err unstarted,
                          uvf_results **out) {
  uvf_result r;
  size_t i;
  memset(&r, 0, sizeof(r));
  r.error = unstarted;
  r.message = uvf_strerror(unstarted);
  for (i = c->next; i < c->n && !c->oom; i++) {
    r.index = r.tag = i;
    r.url = c->urls[i];
    uvf__collector_put(c, &r);
  }
  if (c->oom) {
    uvf_results_free(&c->rs);
    return UVF_ENOMEM;
  }
  *out = c->rs;
  c->rs = NULL;
  return 0;
}

void uvf__collector_free(uvf__collector *c) { uvf_results_free(&c->rs); }
