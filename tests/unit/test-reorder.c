/* The reorder window (src/cli/reorder.c): report lines come in completion
 * order and leave in index order, each exactly once. */
#include <errno.h>

#include "cli.h"
#include "harness.h"

/* What the window wrote, in order. */
typedef struct written {
  char text[4096];
  size_t len;
  int calls;
  int fail_at; /* the call that fails with -EIO; 0: none */
} written;

static int take(void *ud, const char *line, size_t len) {
  written *w = ud;

  if (++w->calls == w->fail_at)
    return -EIO;
  ASSERT(w->len + len < sizeof(w->text));
  memcpy(w->text + w->len, line, len);
  w->len += len;
  w->text[w->len] = '\0';
  return 0;
}

static uvf_cli_reorder *window(written *w) {
  uvf_cli_reorder *r = NULL;

  memset(w, 0, sizeof(*w));
  ASSERT_EQ(uvf_cli_reorder_new(&r, take, w), 0);
  return r;
}

static void put(uvf_cli_reorder *r, uint64_t index, const char *line) {
  ASSERT_EQ(uvf_cli_reorder_put(r, index, line, strlen(line)), 0);
}

TEST_IMPL(reorder_writes_the_next_index_at_once) {
  written w;
  uvf_cli_reorder *r = window(&w);

  put(r, 0, "a\n");
  put(r, 1, "b\n");
  ASSERT_STR_EQ(w.text, "a\nb\n");
  ASSERT_EQ(uvf_cli_reorder_held(r), 0);
  uvf_cli_reorder_free(r);
}

TEST_IMPL(reorder_holds_early_lines_until_the_gap_is_filled) {
  written w;
  uvf_cli_reorder *r = window(&w);

  put(r, 2, "c\n");
  put(r, 1, "bb\n");
  ASSERT_EQ(w.len, 0);
  ASSERT_EQ(uvf_cli_reorder_held(r), 5); /* bytes, not lines */
  put(r, 0, "a\n");
  ASSERT_STR_EQ(w.text, "a\nbb\nc\n");
  ASSERT_EQ(uvf_cli_reorder_held(r), 0);
  put(r, 3, "d\n");
  ASSERT_STR_EQ(w.text, "a\nbb\nc\nd\n");
  uvf_cli_reorder_free(r);
}

/* A slow first index with thousands finished behind it: the ring grows
 * and keeps every line in its place. */
TEST_IMPL(reorder_grows_its_ring_past_a_slow_index) {
  written w;
  uvf_cli_reorder *r = window(&w);
  char line[16];
  uint64_t i;

  for (i = 1000; i >= 1; i--) {
    snprintf(line, sizeof(line), "%03u\n", (unsigned)(i % 1000));
    put(r, i, line);
  }
  ASSERT_EQ(uvf_cli_reorder_held(r), 4000);
  ASSERT_EQ(w.len, 0);
  put(r, 0, "---\n");
  ASSERT_EQ(w.calls, 1001);
  ASSERT_EQ(w.len, 4004);
  ASSERT(memcmp(w.text, "---\n001\n002\n", 12) == 0);
  ASSERT(memcmp(w.text + 4000, "000\n", 4) == 0);
  uvf_cli_reorder_free(r);
}

TEST_IMPL(reorder_refuses_an_index_put_twice) {
  written w;
  uvf_cli_reorder *r = window(&w);

  put(r, 0, "a\n");
  put(r, 2, "c\n");
  ASSERT_EQ(uvf_cli_reorder_put(r, 0, "x\n", 2), -EEXIST); /* written */
  ASSERT_EQ(uvf_cli_reorder_put(r, 2, "x\n", 2), -EEXIST); /* held */
  put(r, 1, "b\n");
  ASSERT_STR_EQ(w.text, "a\nb\nc\n");
  uvf_cli_reorder_free(r);
}

/* A failed write is reported, and the lines behind it still leave the
 * window (the writer decides what to drop). */
TEST_IMPL(reorder_reports_a_write_error_and_moves_on) {
  written w;
  uvf_cli_reorder *r = window(&w);

  w.fail_at = 2;
  put(r, 1, "b\n");
  put(r, 2, "c\n");
  ASSERT_EQ(uvf_cli_reorder_put(r, 0, "a\n", 2), -EIO);
  ASSERT_STR_EQ(w.text, "a\n"); /* b failed; c was not offered after it */
  ASSERT_EQ(uvf_cli_reorder_held(r), 0);
  put(r, 3, "d\n");
  ASSERT_STR_EQ(w.text, "a\nd\n");
  uvf_cli_reorder_free(r);
}

/* Lines still held at the end are freed with the window (LeakSanitizer
 * watches), and NULL is fine. */
TEST_IMPL(reorder_frees_what_it_still_holds) {
  written w;
  uvf_cli_reorder *r = window(&w);

  put(r, 5, "f\n");
  put(r, 9, "j\n");
  uvf_cli_reorder_free(r);
  uvf_cli_reorder_free(NULL);
}

static const test_entry tests[] = {
    TEST_ENTRY(reorder_writes_the_next_index_at_once),
    TEST_ENTRY(reorder_holds_early_lines_until_the_gap_is_filled),
    TEST_ENTRY(reorder_grows_its_ring_past_a_slow_index),
    TEST_ENTRY(reorder_refuses_an_index_put_twice),
    TEST_ENTRY(reorder_reports_a_write_error_and_moves_on),
    TEST_ENTRY(reorder_frees_what_it_still_holds),
};

int main(int argc, char **argv) {
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
