/* The journal of a resumable run (src/cli/journal.c): its line format and
 * checksum, and how a file an earlier run left is read back. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli.h"
#include "harness.h"

#define HEADER "uvfetch-journal 1\n"

static char dir[64];
static char path[128];

/* A fresh journal path in a directory of the test's own. */
static void make_path(void) {
  snprintf(dir, sizeof(dir), "/tmp/uvf-journal-XXXXXX");
  ASSERT(mkdtemp(dir));
  snprintf(path, sizeof(path), "%s/journal", dir);
}

static void remove_path(void) {
  unlink(path);
  rmdir(dir);
}

static void write_file(const char *text, size_t len) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

  ASSERT(fd >= 0);
  ASSERT_EQ(write(fd, text, len), (ssize_t)len);
  close(fd);
}

/* The file's bytes, NUL-terminated, in buf. */
static size_t read_file(char *buf, size_t size) {
  int fd = open(path, O_RDONLY);
  ssize_t n;

  ASSERT(fd >= 0);
  n = read(fd, buf, size - 1);
  ASSERT(n >= 0);
  buf[n] = '\0';
  close(fd);
  return (size_t)n;
}

static void no_news(void *ud) { (void)ud; }

static uvf_cli_journaled record(const char *line, int ok, uint64_t bytes) {
  uvf_cli_journaled r;

  r.line = line;
  r.len = strlen(line);
  r.ok = ok;
  r.error = ok ? UVF_OK : UVF_ETIMEOUT;
  r.bytes = bytes;
  return r;
}

/* Opens the journal at path, adds the records of positions[i] with key
 * keys[i], and closes it. */
static void journal_some(const uint64_t *positions, const uint64_t *keys,
                         const uvf_cli_journaled *recs, size_t n) {
  uv_loop_t loop;
  uvf_cli_journal *j = NULL;
  size_t i;

  ASSERT_EQ(uv_loop_init(&loop), 0);
  ASSERT_EQ(uvf_cli_journal_open(&j, path), 0);
  ASSERT_EQ(uvf_cli_journal_start(j, &loop, no_news, NULL), 0);
  for (i = 0; i < n; i++)
    uvf_cli_journal_add(j, positions[i], keys[i], &recs[i]);
  ASSERT_EQ(uvf_cli_journal_flush(j), 0);
  ASSERT_EQ(uvf_cli_journal_close(j), 0);
  uv_run(&loop, UV_RUN_DEFAULT);
  ASSERT_EQ(uv_loop_close(&loop), 0);
}

/* FNV-1a, 64 bits, written out again as the format's reference. */
static uint64_t fnv1a(const char *s) {
  uint64_t h = UINT64_C(0xcbf29ce484222325);

  while (*s)
    h = (h ^ (unsigned char)*s++) * UINT64_C(0x100000001b3);
  return h;
}

/* <sum> <position> <key> <ok> <error> <bytes> <report line>, the sum
 * over what follows it. */
TEST_IMPL(journal_writes_one_checksummed_line_per_record) {
  static const char rest[] = "5 0000000000000abc 0 -4 3 {\"index\":5}";
  uint64_t position = 5, key = 0xabc;
  uvf_cli_journaled rec = record("{\"index\":5}\n", 0, 3);
  char want[256], got[256];

  rec.error = -4;
  make_path();
  journal_some(&position, &key, &rec, 1);
  snprintf(want, sizeof(want), HEADER "%016" PRIx64 " %s\n", fnv1a(rest), rest);
  read_file(got, sizeof(got));
  ASSERT_STR_EQ(got, want);
  remove_path();
}

/* Records are appended as they finish and read back by position. */
TEST_IMPL(journal_reads_back_records_by_input_position) {
  uint64_t positions[] = {3, 1, 2}, keys[] = {30, 10, 20};
  uvf_cli_journaled recs[] = {record("{\"index\":3}", 1, 30),
                              record("{\"index\":1}", 0, 10),
                              record("{\"index\":2}", 1, 20)};
  uvf_cli_journal *j = NULL;
  uvf_cli_journaled got;
  uint64_t position;

  make_path();
  journal_some(positions, keys, recs, 3);
  ASSERT_EQ(uvf_cli_journal_open(&j, path), 0);
  ASSERT_EQ(uvf_cli_journal_count(j), 3);
  ASSERT_EQ(uvf_cli_journal_nth(j, 0, &position, &got), 0);
  ASSERT_EQ(position, 1);
  ASSERT_EQ(uvf_cli_journal_nth(j, 3, &position, &got), -ENOENT);
  ASSERT_EQ(uvf_cli_journal_lookup(j, 0, 0, &got), 0);
  ASSERT_EQ(uvf_cli_journal_lookup(j, 1, 10, &got), 1);
  ASSERT_EQ(got.len, strlen("{\"index\":1}"));
  ASSERT(memcmp(got.line, "{\"index\":1}", got.len) == 0);
  ASSERT(!got.ok && got.error == UVF_ETIMEOUT && got.bytes == 10);
  ASSERT_EQ(uvf_cli_journal_lookup(j, 2, 99, &got), -EINVAL); /* other URL */
  ASSERT_EQ(uvf_cli_journal_unmatched(j), 2); /* a mismatch takes none */
  ASSERT_EQ(uvf_cli_journal_lookup(j, 3, 30, NULL), 1);
  ASSERT_EQ(uvf_cli_journal_unmatched(j), 0);
  uvf_cli_journal_rewind(j);
  ASSERT_EQ(uvf_cli_journal_unmatched(j), 3);
  uvf_cli_journal_close(j);
  remove_path();
}

/* One damaged line costs its own record; a line cut short at the end
 * (kill -9 during a write) is cut off, so the next record starts on a
 * line of its own. Both are said. */
TEST_IMPL(journal_skips_damaged_records_and_cuts_a_torn_end) {
  uint64_t position = 0, key = 1;
  uvf_cli_journaled rec = record("{\"index\":0}", 1, 0);
  uvf_cli_journal *j = NULL;
  char text[512], msgs[512] = "";
  size_t len, good;
  FILE *fp = fmemopen(msgs, sizeof(msgs), "w");

  make_path();
  journal_some(&position, &key, &rec, 1);
  good = read_file(text, sizeof(text));
  len = good + (size_t)snprintf(text + good, sizeof(text) - good,
                                "0000000000000000 1 1 1 0 0 {}\n"
                                "12345 2 2 1");
  write_file(text, len);
  uvf_cli_msgs_to(fp);
  ASSERT_EQ(uvf_cli_journal_open(&j, path), 0);
  uvf_cli_msgs_to(NULL);
  fclose(fp);
  ASSERT_EQ(uvf_cli_journal_count(j), 1);
  ASSERT(strstr(msgs, "uvfetch: warning: journal ") &&
         strstr(msgs, ": skipping 1 damaged record; those URLs are fetched "
                      "again\n"));
  ASSERT(strstr(msgs, ": dropping 11 bytes of an unfinished record at its "
                      "end\n"));
  uvf_cli_journal_close(j);
  ASSERT_EQ(read_file(text, sizeof(text)), len - 11);
  remove_path();
}

TEST_IMPL(journal_refuses_a_file_that_is_not_one) {
  uvf_cli_journal *j = NULL;
  char msgs[512] = "";
  FILE *fp = fmemopen(msgs, sizeof(msgs), "w");

  make_path();
  write_file("hello\nworld\n", 12);
  uvf_cli_msgs_to(fp);
  ASSERT_EQ(uvf_cli_journal_open(&j, path), -EINVAL);
  uvf_cli_msgs_to(NULL);
  fclose(fp);
  ASSERT(!j);
  ASSERT(strstr(msgs, " is not a uvfetch journal; give --journal a new file "
                      "or one an earlier run wrote\n"));
  remove_path();
}

/* A URL is the same URL as an argument or on a line; a line the reader
 * refused is keyed by why, whatever its text. */
TEST_IMPL(journal_key_ignores_where_a_url_came_from) {
  uint64_t arg = UVF_CLI_TAG_ARG | 1, line = 7;

  ASSERT(uvf_cli_journal_key("http://a/", arg) ==
         uvf_cli_journal_key("http://a/", line));
  ASSERT(uvf_cli_journal_key("http://a/", line) !=
         uvf_cli_journal_key("http://b/", line));
  ASSERT(uvf_cli_journal_key("", UVF_CLI_TAG_NUL | 3) !=
         uvf_cli_journal_key("", UVF_CLI_TAG_TOO_LONG | 3));
  ASSERT(uvf_cli_journal_key("", UVF_CLI_TAG_NUL | 3) !=
         uvf_cli_journal_key("", 3));
}

static const test_entry tests[] = {
    TEST_ENTRY(journal_writes_one_checksummed_line_per_record),
    TEST_ENTRY(journal_reads_back_records_by_input_position),
    TEST_ENTRY(journal_skips_damaged_records_and_cuts_a_torn_end),
    TEST_ENTRY(journal_refuses_a_file_that_is_not_one),
    TEST_ENTRY(journal_key_ignores_where_a_url_came_from),
};

int main(int argc, char **argv) {
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
