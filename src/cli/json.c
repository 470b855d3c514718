/* Growable buffers (text, and arrays) and JSON string escaping. URLs,
 * messages and final URLs come from input files and servers, so nothing
 * is assumed about their bytes. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Room for more bytes and a NUL. Returns 0, or -ENOMEM once b->oom is
 * set. */
static int reserve(uvf_cli_buf *b, size_t more) {
  size_t cap;
  char *grown;

  if (b->oom)
    return -ENOMEM;
  if (b->cap - b->len > more)
    return 0;
  cap = b->cap ? b->cap : 256;
  while (cap - b->len <= more)
    cap *= 2;
  grown = realloc(b->data, cap);
  if (!grown) {
    b->oom = 1;
    return -ENOMEM;
  }
  b->data = grown;
  b->cap = cap;
  return 0;
}

void *uvf_cli_grow(void *items, size_t n, size_t *cap, size_t size,
                   size_t first) {
  size_t want = *cap ? 2 * *cap : first;
  void *grown;

  if (n < *cap)
    return items;
  if (!(grown = realloc(items, want * size)))
    return NULL;
  *cap = want;
  return grown;
}

void uvf_cli_buf_reset(uvf_cli_buf *b) {
  b->len = 0;
  b->oom = 0;
  if (b->data)
    b->data[0] = '\0';
}

void uvf_cli_buf_free(uvf_cli_buf *b) {
  free(b->data);
  memset(b, 0, sizeof(*b));
}

void uvf_cli_buf_add(uvf_cli_buf *b, const char *s, size_t len) {
  if (reserve(b, len) != 0)
    return;
  memcpy(b->data + b->len, s, len);
  b->len += len;
  b->data[b->len] = '\0';
}

void uvf_cli_buf_puts(uvf_cli_buf *b, const char *s) {
  uvf_cli_buf_add(b, s, strlen(s));
}

void uvf_cli_buf_printf(uvf_cli_buf *b, const char *fmt, ...) {
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || reserve(b, (size_t)n) != 0)
    return;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1 to 4), or 0 if the bytes
 * there are not one: overlong forms, surrogates and values past U+10FFFF
 * count as invalid, as RFC 3629 says. */
static size_t utf8_len(const unsigned char *s, size_t avail) {
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  size_t n;
  size_t i;

  if (s[0] >= 0xC2 && s[0] <= 0xDF)
    n = 2;
  else if (s[0] >= 0xE0 && s[0] <= 0xEF)
    n = 3;
  else if (s[0] >= 0xF0 && s[0] <= 0xF4)
    n = 4;
  else
    return 0;
  if (n > avail)
    return 0;
  if (s[0] == 0xE0)
    lo = 0xA0;
  else if (s[0] == 0xED)
    hi = 0x9F;
  else if (s[0] == 0xF0)
    lo = 0x90;
  else if (s[0] == 0xF4)
    hi = 0x8F;
  if (s[1] < lo || s[1] > hi)
    return 0;
  for (i = 2; i < n; i++)
    if (s[i] < 0x80 || s[i] > 0xBF)
      return 0;
  return n;
}

static void escape_ascii(uvf_cli_buf *b, unsigned char c) {
  switch (c) {
  case '"': uvf_cli_buf_add(b, "\\\"", 2); break;
  case '\\': uvf_cli_buf_add(b, "\\\\", 2); break;
  case '\n': uvf_cli_buf_add(b, "\\n", 2); break;
  case '\r': uvf_cli_buf_add(b, "\\r", 2); break;
  case '\t': uvf_cli_buf_add(b, "\\t", 2); break;
  default: uvf_cli_buf_printf(b, "\\u%04x", c); break;
  }
}

static int needs_escape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\' || c == 0x7F;
}

void uvf_cli_json_str(uvf_cli_buf *b, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t avail;
  size_t run;
  size_t n;

  if (!s) {
    uvf_cli_buf_add(b, "null", 4);
    return;
  }
  avail = strlen(s);
  uvf_cli_buf_add(b, "\"", 1);
  while (avail > 0) {
    /* Copy plain ASCII in one go; most URLs are nothing else. */
    for (run = 0; run < avail && p[run] < 0x80 && !needs_escape(p[run]);)
      run++;
    uvf_cli_buf_add(b, (const char *)p, run);
    p += run;
    avail -= run;
    if (avail == 0)
      break;
    if (*p < 0x80) {
      escape_ascii(b, *p);
      n = 1;
    } else if ((n = utf8_len(p, avail)) > 0) {
      uvf_cli_buf_add(b, (const char *)p, n);
    } else {
      uvf_cli_buf_add(b, replacement, sizeof(replacement) - 1);
      n = 1;
    }
    p += n;
    avail -= n;
  }
  uvf_cli_buf_add(b, "\"", 1);
}
