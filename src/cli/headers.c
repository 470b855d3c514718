/* Response headers and conditional requests: the one place the collector
 * reads a reply's headers or makes a request's.
 *
 * The headers come from uvf_result.headers (uvf_options.keep_headers,
 * set for --db and `feeds run`), or, in `feeds run`, from the library's
 * on_headers callback before the body, for the Content-Type's charset. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "feeds.h"

/* A result made by a library older than response headers has no such
 * fields: its size says so, and nothing past it is read. */
#define HEADERS_END (offsetof(uvf_result, n_headers) + sizeof(size_t))

const char *uvf_cli_header_in(const uvf_header *h, size_t n, const char *name) {
  size_t i;

  for (i = 0; h && name && i < n; i++)
    if (strcasecmp(h[i].name, name) == 0)
      return h[i].value;
  return NULL;
}

const char *uvf_cli_result_header(const uvf_result *r, const char *name) {
  if (!r || r->size < HEADERS_END)
    return NULL;
  return uvf_cli_header_in(r->headers, r->n_headers, name);
}

const char *uvf_cli_content_charset(const char *ct, char *buf, size_t cap) {
  const char *p = ct ? strcasestr(ct, "charset=") : NULL;
  size_t n = 0;

  if (!p || cap == 0)
    return NULL;
  p += 8;
  if (*p == '"')
    p++;
  while (p[n] && p[n] != '"' && p[n] != ';' && !isspace((unsigned char)p[n]))
    n++;
  if (n == 0 || n >= cap)
    return NULL;
  memcpy(buf, p, n);
  buf[n] = '\0';
  return buf;
}

/* A validator goes into a header line only if it cannot add a line. */
static int clean(const char *v) { return v && *v && !strpbrk(v, "\r\n"); }

size_t uvf_cli_conditional_headers(uvf_cli_buf *scratch, const char *etag,
                                   const char *last_modified, char *out[2]) {
  size_t n = 0, at[2];

  uvf_cli_buf_reset(scratch);
  if (clean(etag)) {
    at[n++] = scratch->len;
    uvf_cli_buf_printf(scratch, "If-None-Match: %s", etag);
    uvf_cli_buf_add(scratch, "", 1);
  }
  if (clean(last_modified)) {
    at[n++] = scratch->len;
    uvf_cli_buf_printf(scratch, "If-Modified-Since: %s", last_modified);
    uvf_cli_buf_add(scratch, "", 1);
  }
  if (scratch->oom)
    return 0;
  for (size_t i = 0; i < n; i++) /* the buffer no longer moves */
    out[i] = scratch->data + at[i];
  return n;
}
