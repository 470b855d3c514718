/* The URL reader (src/cli/input.c): which lines of an input file are
 * URLs, what is trimmed off them, and how the lines it refuses are
 * tagged. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli.h"
#include "harness.h"

static char dir[64];
static char path[128];
static uv_loop_t loop;

/* An input file holding len bytes of text. */
static void make_input(const char *text, size_t len) {
  int fd;

  snprintf(dir, sizeof(dir), "/tmp/uvf-input-XXXXXX");
  ASSERT(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/urls", dir);
  fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT(fd >= 0);
  ASSERT_EQ(write(fd, text, len), (ssize_t)len);
  close(fd);
  ASSERT_EQ(uv_loop_init(&loop), 0);
}

static uvf_cli_input *open_input(char *const *urls, size_t n_urls) {
  uvf_cli_input *in = NULL;

  ASSERT_EQ(uvf_cli_input_open(&in, &loop, path, urls, n_urls), 0);
  return in;
}

static void done(uvf_cli_input *in) {
  uvf_cli_input_close(in);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  unlink(path);
  rmdir(dir);
}

/* The next URL must be want, with tag want_tag. */
static void expect(uvf_cli_input *in, const char *want, uint64_t want_tag) {
  const char *url;
  uint64_t tag;

  ASSERT_EQ(uvf_cli_input_next(in, &url, &tag), 1);
  ASSERT_STR_EQ(url, want);
  ASSERT_EQ(tag, want_tag);
}

static void expect_end(uvf_cli_input *in) {
  const char *url;
  uint64_t tag;

  ASSERT_EQ(uvf_cli_input_next(in, &url, &tag), 0);
  ASSERT_EQ(uvf_cli_input_next(in, &url, &tag), 0);
}

#define MAKE_INPUT(text) make_input(text, sizeof(text) - 1)

/* Blank lines and comments are skipped; blanks around a URL go; the line
 * number is the tag. The last line needs no newline. */
TEST_IMPL(input_skips_blanks_and_comments_and_trims) {
  uvf_cli_input *in;
  uint64_t n;

  MAKE_INPUT("http://a/\n\n  # a comment\n\t http://b/ \r\n   \n"
             "#http://c/\nhttp://d/");
  in = open_input(NULL, 0);
  expect(in, "http://a/", 1);
  expect(in, "http://b/", 4);
  expect(in, "http://d/", 7);
  expect_end(in);
  ASSERT(uvf_cli_input_total(in, &n) && n == 3);
  done(in);
}

/* URL arguments come first, tagged by their place among the arguments.
 * A byte order mark goes from the first argument and from the file's
 * first line (`xargs uvfetch < urls.txt` passes it on), nowhere else. */
TEST_IMPL(input_reads_arguments_first_and_drops_one_byte_order_mark) {
  char *urls[] = {"\xEF\xBB\xBFhttp://x/", "\xEF\xBB\xBFhttp://y/"};
  uvf_cli_input *in;

  MAKE_INPUT("\xEF\xBB\xBFhttp://a/\n\xEF\xBB\xBFhttp://b/\n");
  in = open_input(urls, 2);
  expect(in, "http://x/", UVF_CLI_TAG_ARG | 1);
  expect(in, "\xEF\xBB\xBFhttp://y/", UVF_CLI_TAG_ARG | 2);
  expect(in, "http://a/", 1);
  expect(in, "\xEF\xBB\xBFhttp://b/", 2);
  expect_end(in);
  done(in);
}

/* A line with a NUL byte or over UVF_CLI_MAX_LINE is handed over as ""
 * with a flag saying why; an overlong comment is still a comment. */
TEST_IMPL(input_refuses_nul_bytes_and_overlong_lines) {
  static const char head[] = "http://a/\nhttp://\0b/\n";
  size_t max = UVF_CLI_MAX_LINE, len = sizeof(head) - 1;
  char *text = malloc(3 * max + 64);
  uvf_cli_input *in;

  memcpy(text, head, len);
  memset(text + len, 'x', max + 1);
  len += max + 1;
  text[len++] = '\n';
  text[len++] = '#';
  memset(text + len, 'y', max + 1);
  len += max + 1;
  len += (size_t)sprintf(text + len, "\nhttp://c/\n");
  make_input(text, len);
  free(text);
  in = open_input(NULL, 0);
  expect(in, "http://a/", 1);
  expect(in, "", UVF_CLI_TAG_NUL | 2);
  expect(in, "", UVF_CLI_TAG_TOO_LONG | 3);
  expect(in, "http://c/", 5);
  expect_end(in);
  done(in);
}

/* What is left, counted without handing it out: arguments and the URL
 * lines of the rest of the file. */
TEST_IMPL(input_counts_the_rest_and_ahead) {
  char *urls[] = {"http://x/"};
  uvf_cli_input *in;
  uint64_t n;

  MAKE_INPUT("http://a/\n# c\n\nhttp://b/\nhttp://c/\n");
  in = open_input(urls, 1);
  ASSERT(!uvf_cli_input_total(in, &n)); /* not counted yet */
  uvf_cli_input_precount(in);
  ASSERT(uvf_cli_input_total(in, &n) && n == 4);
  expect(in, "http://x/", UVF_CLI_TAG_ARG | 1);
  expect(in, "http://a/", 1);
  ASSERT_EQ(uvf_cli_input_count_rest(in, &n), 0);
  ASSERT_EQ(n, 2);
  expect_end(in); /* counting read it all */
  done(in);
}

TEST_IMPL(input_refuses_what_it_cannot_read) {
  uvf_cli_input *in = NULL;
  char msgs[256] = "";
  FILE *fp = fmemopen(msgs, sizeof(msgs), "w");

  MAKE_INPUT("");
  uvf_cli_msgs_to(fp);
  ASSERT_EQ(uvf_cli_input_open(&in, &loop, dir, NULL, 0), -EISDIR);
  ASSERT_EQ(uvf_cli_input_open(&in, &loop, "/nonexistent/urls", NULL, 0),
            -ENOENT);
  uvf_cli_msgs_to(NULL);
  fclose(fp);
  ASSERT(!in);
  ASSERT(strstr(msgs, "uvfetch: cannot read "));
  ASSERT(strstr(msgs, ": it is a directory\n"));
  ASSERT(strstr(msgs, "uvfetch: cannot open /nonexistent/urls: No such file "
                      "or directory\n"));
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
  unlink(path);
  rmdir(dir);
}

static const test_entry tests[] = {
    TEST_ENTRY(input_skips_blanks_and_comments_and_trims),
    TEST_ENTRY(input_reads_arguments_first_and_drops_one_byte_order_mark),
    TEST_ENTRY(input_refuses_nul_bytes_and_overlong_lines),
    TEST_ENTRY(input_counts_the_rest_and_ahead),
    TEST_ENTRY(input_refuses_what_it_cannot_read),
};

int main(int argc, char **argv) {
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
