/* A small test harness: typed assertions, one test per process run, and
 * the project's loopback server started on an ephemeral port. */
#ifndef UVF_TEST_HARNESS_H
#define UVF_TEST_HARNESS_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#define FAIL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                            \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    exit(1);                                                                   \
  } while (0)

#define ASSERT(c)                                                              \
  do {                                                                         \
    if (!(c))                                                                  \
      FAIL("assertion failed: %s", #c);                                        \
  } while (0)

#define ASSERT_EQ(a, b)                                                        \
  do {                                                                         \
    int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                              \
    if (a_ != b_)                                                              \
      FAIL("%s == %s: %" PRId64 " != %" PRId64, #a, #b, a_, b_);               \
  } while (0)

#define ASSERT_LE(a, b)                                                        \
  do {                                                                         \
    int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                              \
    if (a_ > b_)                                                               \
      FAIL("%s <= %s: %" PRId64 " > %" PRId64, #a, #b, a_, b_);                \
  } while (0)

#define ASSERT_STR_EQ(a, b)                                                    \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (!a_ || !b_ || strcmp(a_, b_) != 0)                                     \
      FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",           \
           b_ ? b_ : "(null)");                                                \
  } while (0)

#include <uv.h>

#include "uvfetch.h"

/* Callbacks in the order of uvf_callbacks, with its size filled in. */
uvf_callbacks cbs(int (*next)(void *, const char **, uint64_t *),
                  void (*on_start)(void *, uint64_t, uint64_t),
                  int (*on_body)(void *, uint64_t, const char *, size_t),
                  void (*on_result)(void *, const uvf_result *),
                  void (*on_done)(void *));

/* uvf_fetch_all's results as an array of n structs (copies of the
 * library's, whose strings stay valid until results_done()). Fails the
 * test if the call does not return UVF_OK. */
uvf_result *fetch_urls(char **urls, size_t n, const uvf_options *o,
                       long deadline_ms);
void results_done(uvf_result *r);

typedef struct test_entry {
  const char *name;
  void (*fn)(void);
} test_entry;

#define TEST_IMPL(name) static void test_##name(void)
#define TEST_ENTRY(name)                                                       \
  { #name, test_##name }

typedef struct ts_server {
  pid_t pid;
  int port;
  int tls_port; /* with --tls */
} ts_server;

/* Starts $UVF_TESTSERVER bound to `bind` (NULL: 127.0.0.1) and waits for
 * its PORT line. Fails the test on error. */
void ts_start(ts_server *s, const char *bind);
/* The same with more arguments (NULL-terminated); with --tls it also
 * waits for the TLSPORT line. */
void ts_start_args(ts_server *s, const char *bind, const char *const *args);
/* The directory of the test certificates (tests/server/make-certs), made
 * on first use: ca.pem, server, wronghost, expired, selfsigned. */
const char *ts_certs(void);
/* "DIR/NAME.pem,DIR/NAME.key", for --tls. */
const char *ts_cert_arg(const char *name);
void ts_stop(ts_server *s);
/* GET path from the server at 127.0.0.1 and return the body (malloc'd). */
char *ts_get(const ts_server *s, const char *path);
/* Frees n malloc'd strings and the array holding them. */
void free_urls(char **u, size_t n);
/* Reads an integer field from a flat JSON text: "name":123 */
long json_int(const char *json, const char *name);
/* One field of the server's /stats. */
long ts_stat(const ts_server *s, const char *name);

int test_main(int argc, char **argv, const test_entry *tests, size_t n);

#endif
