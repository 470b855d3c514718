/* The library's own allocations, and a way for its tests to make the k-th
 * one fail (curl's "torture" testing): every allocation the library makes
 * goes through these, and libcurl's too once a test has handed them to
 * curl_global_init_mem(). libuv's are left alone: libuv 1.44 aborts the
 * process when some of its allocations fail. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static atomic_long fail_at; /* 0: never */
static atomic_long counted;
static atomic_int failed;

/* Counts one allocation; 1 if it is the one to fail. */
static int should_fail(void) {
  long k = atomic_load_explicit(&fail_at, memory_order_relaxed);
  if (k == 0 || atomic_fetch_add(&counted, 1) + 1 != k)
    return 0;
  atomic_store(&failed, 1);
  return 1;
}

void uvf__alloc_fail_at(long k) {
  atomic_store(&counted, 0);
  atomic_store(&failed, 0);
  atomic_store(&fail_at, k);
}

int uvf__alloc_failed(void) { return atomic_load(&failed); }

void *uvf__malloc(size_t n) { return should_fail() ? NULL : malloc(n); }

void *uvf__calloc(size_t n, size_t size) {
  return should_fail() ? NULL : calloc(n, size);
}

void *uvf__realloc(void *p, size_t n) {
  return should_fail() ? NULL : realloc(p, n);
}

char *uvf__strdup(const char *s) { return should_fail() ? NULL : strdup(s); }

/* A printf into new memory; NULL if out of memory. */
char *uvf__aprintf(const char *fmt, ...) {
  va_list ap;
  char *s;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || !(s = uvf__malloc((size_t)n + 1)))
    return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}
