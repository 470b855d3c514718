/* Report sinks (src/cli/sink.c): --order input writes the lines in index
 * order, --order done as they come, both through a writer thread. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli.h"
#include "harness.h"

typedef struct report {
  uv_loop_t loop;
  FILE *file; /* what the writer thread writes to */
  uvf_cli_writer *w;
  uvf_cli_sink *s;
} report;

static void no_news(void *ud) { (void)ud; }

static void open_report(report *r, const char *order) {
  ASSERT_EQ(uv_loop_init(&r->loop), 0);
  ASSERT((r->file = tmpfile()));
  ASSERT_EQ(
      uvf_cli_writer_start(&r->w, &r->loop, fileno(r->file), 0, no_news, NULL),
      0);
  ASSERT_EQ(uvf_cli_sink_new(&r->s, order, r->w), 0);
}

static void put(report *r, uint64_t index, const char *line) {
  ASSERT_EQ(uvf_cli_sink_put(r->s, index, line, strlen(line)), 0);
}

/* Closes the report; its text, NUL-terminated, in buf. */
static void close_report(report *r, char *buf, size_t size) {
  size_t n;

  ASSERT_EQ(uvf_cli_writer_close(r->w), 0);
  uv_run(&r->loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&r->loop), 0);
  uvf_cli_sink_free(r->s);
  rewind(r->file);
  n = fread(buf, 1, size - 1, r->file);
  buf[n] = '\0';
  fclose(r->file);
}

TEST_IMPL(sink_knows_its_orders) {
  uvf_cli_sink *s = NULL;

  ASSERT(uvf_cli_sink_known("input"));
  ASSERT(uvf_cli_sink_known("done"));
  ASSERT(!uvf_cli_sink_known("random"));
  ASSERT_EQ(uvf_cli_sink_new(&s, "random", NULL), -EINVAL);
  ASSERT(!s);
  uvf_cli_sink_free(NULL);
}

TEST_IMPL(sink_in_input_order_waits_for_earlier_indexes) {
  report r;
  char text[64];

  open_report(&r, "input");
  put(&r, 1, "b\n");
  put(&r, 2, "c\n");
  ASSERT_EQ(uvf_cli_sink_held(r.s), 4);
  ASSERT_EQ(uvf_cli_writer_pending(r.w), 0);
  put(&r, 0, "a\n");
  ASSERT_EQ(uvf_cli_sink_held(r.s), 0);
  ASSERT_EQ(uvf_cli_writer_pending(r.w), 6);
  ASSERT_EQ(uvf_cli_sink_put(r.s, 1, "x\n", 2), -EEXIST);
  close_report(&r, text, sizeof(text));
  ASSERT_STR_EQ(text, "a\nb\nc\n");
}

TEST_IMPL(sink_in_done_order_writes_at_once) {
  report r;
  char text[64];

  open_report(&r, "done");
  put(&r, 2, "c\n");
  put(&r, 0, "a\n");
  ASSERT_EQ(uvf_cli_sink_held(r.s), 0);
  uvf_cli_writer_flush(r.w); /* the thread may write them now */
  put(&r, 1, "b\n");
  close_report(&r, text, sizeof(text));
  ASSERT_STR_EQ(text, "c\na\nb\n");
}

static const test_entry tests[] = {
    TEST_ENTRY(sink_knows_its_orders),
    TEST_ENTRY(sink_in_input_order_waits_for_earlier_indexes),
    TEST_ENTRY(sink_in_done_order_writes_at_once),
};

int main(int argc, char **argv) {
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
