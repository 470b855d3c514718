/* Response headers and conditional requests: the one place the collector
 * reads a reply's headers or makes a request's.
 *
 * The library hands over no response headers yet: until uvf_result
 * carries them (keep_headers, uvf_result.headers, being added),
 * uvf_cli_result_header() finds none, so validators are not stored,
 * Cache-Control, Expires and Retry-After do not move the next check, and
 * the charset comes from the BOM or the XML declaration alone. Wiring it
 * is this function's body, nothing else. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "feeds.h"

const char *uvf_cli_result_header(const uvf_result *r, const char *name) {
  (void)r;
  (void)name;
  return NULL;
}

int uvf_cli_result_headers_known(void) { return 0; }

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
