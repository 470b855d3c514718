/* The text buffer and JSON escaper (src/cli/json.c): URLs, messages and
 * final URLs come from input files and servers, and any bytes must give
 * valid JSON. */
#include "cli.h"
#include "harness.h"

/* s as a JSON string. */
static const char *json(uvf_cli_buf *b, const char *s) {
  uvf_cli_buf_reset(b);
  uvf_cli_json_str(b, s);
  ASSERT(!b->oom);
  return b->data;
}

TEST_IMPL(json_copies_plain_ascii) {
  uvf_cli_buf b = {0};

  ASSERT_STR_EQ(json(&b, "http://a.test/x?y=1&z=%20"),
                "\"http://a.test/x?y=1&z=%20\"");
  ASSERT_STR_EQ(json(&b, ""), "\"\"");
  uvf_cli_buf_free(&b);
}

TEST_IMPL(json_writes_null_for_no_string) {
  uvf_cli_buf b = {0};

  ASSERT_STR_EQ(json(&b, NULL), "null");
  uvf_cli_buf_free(&b);
}

TEST_IMPL(json_escapes_quotes_backslashes_and_control_bytes) {
  uvf_cli_buf b = {0};

  ASSERT_STR_EQ(json(&b, "a\"b\\c"), "\"a\\\"b\\\\c\"");
  ASSERT_STR_EQ(json(&b, "\n\r\t"), "\"\\n\\r\\t\"");
  ASSERT_STR_EQ(json(&b, "\x01\x1f\x7f"), "\"\\u0001\\u001f\\u007f\"");
  uvf_cli_buf_free(&b);
}

TEST_IMPL(json_keeps_valid_utf8) {
  uvf_cli_buf b = {0};

  /* U+00E9, U+20AC, U+1F600, and the last code point, U+10FFFF */
  ASSERT_STR_EQ(
      json(&b, "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF"),
      "\"\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80\xF4\x8F\xBF\xBF\"");
  uvf_cli_buf_free(&b);
}

/* Each invalid byte becomes U+FFFD, as RFC 3629 reads: overlong forms,
 * surrogates, values past U+10FFFF, cut sequences, stray continuation
 * bytes. */
TEST_IMPL(json_replaces_invalid_utf8_byte_by_byte) {
  uvf_cli_buf b = {0};

  ASSERT_STR_EQ(json(&b, "\xC0\x80"), "\"\xEF\xBF\xBD\xEF\xBF\xBD\"");
  ASSERT_STR_EQ(json(&b, "\xE0\x80\x80x"),
                "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx\"");
  ASSERT_STR_EQ(json(&b, "\xED\xA0\x80"),
                "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  ASSERT_STR_EQ(json(&b, "\xF4\x90\x80\x80"),
                "\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
  ASSERT_STR_EQ(json(&b, "a\xE2\x82"), "\"a\xEF\xBF\xBD\xEF\xBF\xBD\"");
  ASSERT_STR_EQ(json(&b, "\x80z"), "\"\xEF\xBF\xBDz\"");
  uvf_cli_buf_free(&b);
}

/* The buffer grows as needed and stays NUL-terminated; reset keeps its
 * memory for the next line. */
TEST_IMPL(buf_grows_and_resets) {
  uvf_cli_buf b = {0};
  size_t i;

  for (i = 0; i < 1000; i++)
    uvf_cli_buf_printf(&b, "%03zu,", i % 1000);
  ASSERT(!b.oom);
  ASSERT_EQ(b.len, 4000);
  ASSERT_EQ(strlen(b.data), 4000);
  ASSERT(memcmp(b.data + 3996, "999,", 4) == 0);
  uvf_cli_buf_reset(&b);
  ASSERT_EQ(b.len, 0);
  ASSERT_STR_EQ(b.data, "");
  uvf_cli_buf_puts(&b, "x");
  uvf_cli_buf_add(&b, "yz", 1);
  ASSERT_STR_EQ(b.data, "xy");
  uvf_cli_buf_free(&b);
  ASSERT(!b.data && b.len == 0 && b.cap == 0);
}

static const test_entry tests[] = {
    TEST_ENTRY(json_copies_plain_ascii),
    TEST_ENTRY(json_writes_null_for_no_string),
    TEST_ENTRY(json_escapes_quotes_backslashes_and_control_bytes),
    TEST_ENTRY(json_keeps_valid_utf8),
    TEST_ENTRY(json_replaces_invalid_utf8_byte_by_byte),
    TEST_ENTRY(buf_grows_and_resets),
};

int main(int argc, char **argv) {
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
