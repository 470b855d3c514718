/* The collector's pure parts (src/cli/feedparse.c, feedtime.c,
 * headers.c): feed formats and encodings, item identity, dates, unsafe
 * documents, and when a feed is checked again. */
#include <time.h>

#include "feeds.h"
#include "harness.h"

/* Parses doc in pieces of `step` bytes; returns end()'s answer. */
static int parse_in(uvf_cli_feedparser **out, const char *doc, size_t len,
                    size_t step, const char *http_charset) {
  uvf_cli_feedparser *p;
  size_t at;
  int rc = 0;

  ASSERT_EQ(uvf_cli_feedparser_new(&p, http_charset), 0);
  for (at = 0; at < len && rc == 0; at += step)
    rc =
        uvf_cli_feedparser_push(p, doc + at, len - at < step ? len - at : step);
  if (rc == 0)
    rc = uvf_cli_feedparser_end(p);
  *out = p;
  return rc;
}

static uvf_cli_feedparser *parse_ok(const char *doc) {
  uvf_cli_feedparser *p;
  int rc = parse_in(&p, doc, strlen(doc), 7, NULL);

  if (rc != 0)
    FAIL("not parsed: %s", uvf_cli_feedparser_why(p));
  return p;
}

static const uvf_cli_feed_item *item(uvf_cli_feedparser *p, size_t i) {
  const uvf_cli_feed_item *it = uvf_cli_feedparser_item(p, i);

  ASSERT(it != NULL);
  return it;
}

TEST_IMPL(feed_rss2_items_and_channel) {
  uvf_cli_feedparser *p = parse_ok(
      "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel>"
      "<title>Chan</title><ttl>90</ttl><link>http://x/</link>"
      "<item><title>One</title><link>http://x/1</link>"
      "<guid isPermaLink=\"false\">g1</guid>"
      "<description>&lt;b&gt;first&lt;/b&gt;</description>"
      "<pubDate>Mon, 02 Jan 2006 15:04:05 GMT</pubDate></item>"
      "<item><title><![CDATA[Two & more]]></title><link>http://x/2</link>"
      "</item></channel></rss>");

  ASSERT_EQ(uvf_cli_feedparser_kind(p), UVF_CLI_FEED_RSS2);
  ASSERT_STR_EQ(uvf_cli_feedparser_title(p), "Chan");
  ASSERT_EQ(uvf_cli_feedparser_ttl(p), 90);
  ASSERT_EQ(uvf_cli_feedparser_count(p), 2);
  ASSERT_STR_EQ(item(p, 0)->uid, "g1");
  ASSERT_STR_EQ(item(p, 0)->title, "One");
  ASSERT_STR_EQ(item(p, 0)->summary, "<b>first</b>");
  ASSERT_EQ(item(p, 0)->published, 1136214245);
  ASSERT_STR_EQ(item(p, 1)->title, "Two & more");
  ASSERT_STR_EQ(item(p, 1)->uid, "http://x/2");
  uvf_cli_feedparser_free(p);
}

TEST_IMPL(feed_rss1_items_beside_the_channel) {
  uvf_cli_feedparser *p = parse_ok(
      "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\""
      " xmlns=\"http://purl.org/rss/1.0/\""
      " xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
      "<channel rdf:about=\"http://x/\"><title>R1</title>"
      "<items><rdf:Seq><rdf:li resource=\"http://x/a\"/></rdf:Seq></items>"
      "</channel>"
      "<item rdf:about=\"urn:a\"><title>A</title><link>http://x/a</link>"
      "<dc:date>2006-01-02T15:04:05Z</dc:date><dc:creator>Ann</dc:creator>"
      "</item>"
      "<item rdf:about=\"urn:b\"><title>B</title></item></rdf:RDF>");

  ASSERT_EQ(uvf_cli_feedparser_kind(p), UVF_CLI_FEED_RSS1);
  ASSERT_STR_EQ(uvf_cli_feedparser_title(p), "R1");
  ASSERT_EQ(uvf_cli_feedparser_count(p), 2);
  ASSERT_STR_EQ(item(p, 0)->uid, "urn:a");
  ASSERT_STR_EQ(item(p, 0)->author, "Ann");
  ASSERT_EQ(item(p, 0)->published, 1136214245);
  ASSERT_STR_EQ(item(p, 1)->uid, "urn:b");
  uvf_cli_feedparser_free(p);
}

TEST_IMPL(feed_atom_entries_with_alternate_links) {
  uvf_cli_feedparser *p = parse_ok(
      "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>At</title>"
      "<link href=\"http://x/\"/>"
      "<entry><id>tag:x,2006:1</id><title type=\"html\">E1</title>"
      "<link rel=\"self\" href=\"http://x/self\"/>"
      "<link href=\"http://x/e1\"/><author><name>Bo</name></author>"
      "<updated>2006-01-02T16:04:05+01:00</updated>"
      "<content type=\"xhtml\"><div xmlns=\"http://www.w3.org/1999/xhtml\">"
      "hi <b>there</b></div></content></entry></feed>");

  ASSERT_EQ(uvf_cli_feedparser_kind(p), UVF_CLI_FEED_ATOM);
  ASSERT_STR_EQ(uvf_cli_feedparser_title(p), "At");
  ASSERT_EQ(uvf_cli_feedparser_count(p), 1);
  ASSERT_STR_EQ(item(p, 0)->uid, "tag:x,2006:1");
  ASSERT_STR_EQ(item(p, 0)->link, "http://x/e1");
  ASSERT_STR_EQ(item(p, 0)->author, "Bo");
  ASSERT_STR_EQ(item(p, 0)->summary, "hi there");
  ASSERT_EQ(item(p, 0)->updated, 1136214245);
  uvf_cli_feedparser_free(p);
}

/* guid > atom:id > rdf:about > link > a hash of the content. */
TEST_IMPL(feed_identity_precedence) {
  uvf_cli_feedparser *p =
      parse_ok("<rss><channel>"
               "<item><guid>G</guid><id>I</id><link>http://l/</link></item>"
               "<item><id>I</id><link>http://l/</link></item>"
               "<item><link>http://l/2</link></item>"
               "<item><title>no link</title></item>"
               "</channel></rss>");

  ASSERT_EQ(uvf_cli_feedparser_count(p), 4);
  ASSERT_STR_EQ(item(p, 0)->uid, "G");
  ASSERT_STR_EQ(item(p, 1)->uid, "I");
  ASSERT_STR_EQ(item(p, 2)->uid, "http://l/2");
  ASSERT(strncmp(item(p, 3)->uid, "hash:", 5) == 0);
  uvf_cli_feedparser_free(p);
}

TEST_IMPL(feed_rdf_about_beats_link) {
  uvf_cli_feedparser *p = parse_ok(
      "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\""
      " xmlns=\"http://purl.org/rss/1.0/\"><channel/>"
      "<item rdf:about=\"urn:z\"><link>http://x/z</link></item></rdf:RDF>");

  ASSERT_STR_EQ(item(p, 0)->uid, "urn:z");
  uvf_cli_feedparser_free(p);
}

TEST_IMPL(feed_duplicate_identity_kept_once) {
  uvf_cli_feedparser *p = parse_ok("<rss><channel>"
                                   "<item><guid>a</guid><title>1</title></item>"
                                   "<item><guid>a</guid><title>2</title></item>"
                                   "<item><title>same</title></item>"
                                   "<item><title>same</title></item>"
                                   "</channel></rss>");

  ASSERT_EQ(uvf_cli_feedparser_count(p), 2);
  ASSERT_STR_EQ(item(p, 0)->title, "1");
  uvf_cli_feedparser_free(p);
}

TEST_IMPL(feed_changed_item_has_another_hash) {
  uvf_cli_feedparser *a =
      parse_ok("<rss><channel><item><guid>a</guid><title>x</title></item></"
               "channel></rss>");
  uvf_cli_feedparser *b =
      parse_ok("<rss><channel><item><guid>a</guid><title>y</title></item></"
               "channel></rss>");
  uvf_cli_feedparser *c =
      parse_ok("<rss><channel><item><guid>a</guid><title>x</title></item></"
               "channel></rss>");

  ASSERT(item(a, 0)->hash != item(b, 0)->hash);
  ASSERT(item(a, 0)->hash == item(c, 0)->hash);
  uvf_cli_feedparser_free(a);
  uvf_cli_feedparser_free(b);
  uvf_cli_feedparser_free(c);
}

/* "café" in windows-1252 and "Привет" in koi8-r, named in the prolog. */
TEST_IMPL(feed_decodes_windows1252_and_koi8r) {
  uvf_cli_feedparser *p =
      parse_ok("<?xml version=\"1.0\" encoding=\"windows-1252\"?><rss><channel>"
               "<item><title>caf\xe9 \x80</title></item></channel></rss>");

  ASSERT_STR_EQ(item(p, 0)->title, "caf\xc3\xa9 \xe2\x82\xac");
  uvf_cli_feedparser_free(p);
  p = parse_ok("<?xml version=\"1.0\" encoding=\"koi8-r\"?><rss><channel>"
               "<item><title>\xf0\xd2\xc9\xd7\xc5\xd4</title></item>"
               "</channel></rss>");
  ASSERT_STR_EQ(item(p, 0)->title, "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5"
                                   "\xd1\x82");
  uvf_cli_feedparser_free(p);
}

/* BOM, then the XML declaration, then the HTTP header. */
TEST_IMPL(feed_charset_precedence) {
  static const char no_decl[] =
      "<rss><channel><item><title>caf\xe9</title></item></channel></rss>";
  static const char decl[] =
      "<?xml version=\"1.0\" encoding=\"windows-1252\"?>"
      "<rss><channel><item><title>caf\xe9</title></item></channel></rss>";
  static const char bom[] =
      "\xef\xbb\xbf<rss><channel><item><title>caf\xc3\xa9</title></item>"
      "</channel></rss>";
  uvf_cli_feedparser *p;

  ASSERT_EQ(parse_in(&p, no_decl, strlen(no_decl), 3, "windows-1252"), 0);
  ASSERT_STR_EQ(item(p, 0)->title, "caf\xc3\xa9");
  uvf_cli_feedparser_free(p);
  ASSERT_EQ(parse_in(&p, decl, strlen(decl), 3, "koi8-r"), 0);
  ASSERT_STR_EQ(item(p, 0)->title, "caf\xc3\xa9");
  uvf_cli_feedparser_free(p);
  ASSERT_EQ(parse_in(&p, bom, strlen(bom), 1, "koi8-r"), 0);
  ASSERT_STR_EQ(item(p, 0)->title, "caf\xc3\xa9");
  uvf_cli_feedparser_free(p);
}

TEST_IMPL(feed_bad_bytes_are_recovered) {
  uvf_cli_feedparser *p =
      parse_ok("<?xml version=\"1.0\" encoding=\"utf-8\"?><rss><channel>"
               "<item><guid>1</guid><title>bad \xff\xfe byte</title></item>"
               "<item><guid>2</guid></item></channel></rss>");

  ASSERT_EQ(uvf_cli_feedparser_count(p), 2);
  uvf_cli_feedparser_free(p);
}

/* Bytes that are not in the document's encoding, whether it names it or
 * not, reach neither the items nor the channel title as they came: each
 * is U+FFFD, so that SQLite and JSON get text. */
TEST_IMPL(feed_text_kept_is_always_utf8) {
  static const char *const docs[] = {
      "<?xml version=\"1.0\" encoding=\"utf-8\"?><rss><channel>"
      "<title>T\xff x</title><item><guid>1</guid><title>bad \xff\xfe byte"
      "</title></item></channel></rss>",
      "<?xml version=\"1.0\"?><rss><channel><title>T\xff x</title>"
      "<item><guid>1</guid><title>bad \xe9\xe9 byte</title></item>"
      "</channel></rss>",
      "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\""
      " xmlns=\"http://purl.org/rss/1.0/\"><channel><title>T\xff x</title>"
      "</channel><item rdf:about=\"a\xff\"><title>bad \xed\xa0\x80 byte"
      "</title></item></rdf:RDF>"};
  size_t i;

  for (i = 0; i < 3; i++) {
    uvf_cli_feedparser *p = parse_ok(docs[i]);
    const uvf_cli_feed_item *it = uvf_cli_feedparser_item(p, 0);

    ASSERT_EQ(uvf_cli_feedparser_count(p), 1);
    ASSERT_STR_EQ(it->title,
                  i == 2 ? "bad \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD byte"
                         : "bad \xEF\xBF\xBD\xEF\xBF\xBD byte");
    ASSERT_STR_EQ(uvf_cli_feedparser_title(p), "T\xEF\xBF\xBD x");
    if (i == 2)
      ASSERT_STR_EQ(it->uid, "a\xEF\xBF\xBD");
    uvf_cli_feedparser_free(p);
  }
}

TEST_IMPL(feed_html_is_not_a_feed) {
  static const char doc[] = "<html><head><title>x</title></head><body>"
                            "<p>hello</p></body></html>";
  uvf_cli_feedparser *p;

  ASSERT(parse_in(&p, doc, strlen(doc), 5, NULL) != 0);
  ASSERT(strstr(uvf_cli_feedparser_why(p), "not a feed") != NULL);
  uvf_cli_feedparser_free(p);
}

TEST_IMPL(feed_malformed_is_an_error) {
  static const char *docs[] = {
      "<rss><channel><item><title>x</item></channel></rss>",
      "<rss><channel><item><title>cut",
      "",
      "not xml at all",
  };
  uvf_cli_feedparser *p;
  size_t i;

  for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
    if (parse_in(&p, docs[i], strlen(docs[i]), 4, NULL) == 0)
      FAIL("document %zu parsed", i);
    ASSERT(*uvf_cli_feedparser_why(p) != '\0');
    uvf_cli_feedparser_free(p);
  }
}

static double seconds_since(const struct timespec *t0) {
  struct timespec t;

  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t0->tv_sec) +
         (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

TEST_IMPL(feed_billion_laughs_is_an_error_at_once) {
  uvf_cli_buf doc = {0};
  uvf_cli_feedparser *p;
  struct timespec t0;
  int i;

  uvf_cli_buf_puts(&doc, "<?xml version=\"1.0\"?><!DOCTYPE rss [\n"
                         "<!ENTITY lol \"lol\">\n");
  for (i = 1; i <= 9; i++) {
    int k;

    uvf_cli_buf_printf(&doc, "<!ENTITY lol%d \"", i);
    for (k = 0; k < 10; k++)
      uvf_cli_buf_printf(&doc, i == 1 ? "&lol;" : "&lol%d;", i - 1);
    uvf_cli_buf_puts(&doc, "\">\n");
  }
  uvf_cli_buf_puts(&doc, "]><rss><channel><item><title>&lol9;</title>"
                         "</item></channel></rss>");
  clock_gettime(CLOCK_MONOTONIC, &t0);
  ASSERT(parse_in(&p, doc.data, doc.len, 64, NULL) != 0);
  ASSERT(strstr(uvf_cli_feedparser_why(p), "entit") != NULL);
  ASSERT(seconds_since(&t0) < 1.0);
  uvf_cli_feedparser_free(p);
  uvf_cli_buf_free(&doc);
}

/* A few plain entities are expanded; an external one is never loaded. */
TEST_IMPL(feed_plain_and_external_entities_are_not_expanded) {
  uvf_cli_feedparser *p =
      parse_ok("<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY me \"Me\">"
               "<!ENTITY ext SYSTEM \"file:///etc/passwd\">]>"
               "<rss><channel><item><guid>1</guid><title>a&me;b&ext;c</title>"
               "</item></channel></rss>");

  ASSERT_STR_EQ(item(p, 0)->title, "aMebc");
  uvf_cli_feedparser_free(p);
}

TEST_IMPL(feed_dates_with_zone_names) {
  ASSERT_EQ(uvf_cli_feed_date("Mon, 02 Jan 2006 15:04:05 GMT"), 1136214245);
  ASSERT_EQ(uvf_cli_feed_date("Mon, 02 Jan 2006 10:04:05 EST"), 1136214245);
  ASSERT_EQ(uvf_cli_feed_date("Mon, 02 Jan 2006 08:04:05 PDT"), 1136214245);
  ASSERT_EQ(uvf_cli_feed_date("Mon, 02 Jan 2006 17:04:05 +0200"), 1136214245);
  ASSERT_EQ(uvf_cli_feed_date("2006-01-02T15:04:05Z"), 1136214245);
  ASSERT_EQ(uvf_cli_feed_date("2006-01-02T15:04:05.250Z"), 1136214245);
  ASSERT_EQ(uvf_cli_feed_date("2006-01-02T10:04:05-05:00"), 1136214245);
  ASSERT_EQ(uvf_cli_feed_date("2006-01-02"), 1136160000);
  ASSERT_EQ(uvf_cli_feed_date("yesterday-ish"), 0);
  ASSERT_EQ(uvf_cli_feed_date(NULL), 0);
}

TEST_IMPL(feed_interval_from_hints_within_clamps) {
  uvf_cli_feed_hints h = {0};

  ASSERT_EQ(uvf_cli_feed_interval(&h), UVF_CLI_FEED_DEFAULT_INTERVAL);
  h.ttl = 60;
  ASSERT_EQ(uvf_cli_feed_interval(&h), 300);
  h.ttl = 7200;
  h.max_age = 600;
  ASSERT_EQ(uvf_cli_feed_interval(&h), 7200);
  h.expires = 10 * 86400;
  ASSERT_EQ(uvf_cli_feed_interval(&h), 86400);
  memset(&h, 0, sizeof(h));
  h.retry_after = 900;
  ASSERT_EQ(uvf_cli_feed_interval(&h), 900);
  h.retry_after = 0;
  h.max_age = -1;
  ASSERT_EQ(uvf_cli_feed_interval(&h), 300);
}

TEST_IMPL(feed_backoff_doubles_to_a_day) {
  ASSERT_EQ(uvf_cli_feed_backoff(1, 0), 300);
  ASSERT_EQ(uvf_cli_feed_backoff(2, 0), 600);
  ASSERT_EQ(uvf_cli_feed_backoff(3, 0), 1200);
  ASSERT_EQ(uvf_cli_feed_backoff(9, 0), 76800);
  ASSERT_EQ(uvf_cli_feed_backoff(10, 0), 86400);
  ASSERT_EQ(uvf_cli_feed_backoff(1000, 0), 86400);
  ASSERT_EQ(uvf_cli_feed_backoff(1, 4000), 4000);
  ASSERT_EQ(uvf_cli_feed_backoff(1, 999999), 86400);
}

TEST_IMPL(feed_cache_headers_read) {
  ASSERT_EQ(uvf_cli_cache_max_age("public, max-age=900"), 900);
  ASSERT_EQ(uvf_cli_cache_max_age("max-age=900, s-maxage=1800"), 1800);
  ASSERT_EQ(uvf_cli_cache_max_age("no-cache"), -1);
  ASSERT_EQ(uvf_cli_cache_max_age("private"), 0);
  ASSERT_EQ(uvf_cli_cache_max_age(NULL), 0);
  ASSERT_EQ(uvf_cli_retry_after("120", 0), 120);
  ASSERT_EQ(uvf_cli_retry_after("Mon, 02 Jan 2006 15:14:05 GMT", 1136214245),
            600);
  ASSERT_EQ(uvf_cli_retry_after("soon", 0), 0);
}

TEST_IMPL(feed_conditional_headers) {
  uvf_cli_buf b = {0};
  char *h[2];
  char cs[32];

  ASSERT_EQ(uvf_cli_conditional_headers(&b, "\"v1\"",
                                        "Mon, 02 Jan 2006 15:04:05 GMT", h),
            2);
  ASSERT_STR_EQ(h[0], "If-None-Match: \"v1\"");
  ASSERT_STR_EQ(h[1], "If-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT");
  ASSERT_EQ(uvf_cli_conditional_headers(&b, "\"a\r\nX: y\"", NULL, h), 0);
  ASSERT_STR_EQ(
      uvf_cli_content_charset("text/xml; charset=\"KOI8-R\"", cs, sizeof(cs)),
      "KOI8-R");
  ASSERT(uvf_cli_content_charset("text/xml", cs, sizeof(cs)) == NULL);
  uvf_cli_buf_free(&b);
}

/* Names in any case; the first of a repeated one; nothing read past the
 * size of a result made by a library without response headers. */
TEST_IMPL(feed_result_headers_read_within_the_results_size) {
  static const uvf_header h[] = {{"etag", "\"v1\""},
                                 {"cache-control", "max-age=60"},
                                 {"cache-control", "no-cache"}};
  uvf_result r;
  uvf_cli_feed_hints hints;

  memset(&r, 0, sizeof(r));
  r.size = sizeof(r);
  r.headers = h;
  r.n_headers = 3;
  ASSERT_STR_EQ(uvf_cli_result_header(&r, "ETag"), "\"v1\"");
  ASSERT_STR_EQ(uvf_cli_result_header(&r, "Cache-Control"), "max-age=60");
  ASSERT(uvf_cli_result_header(&r, "Expires") == NULL);
  uvf_cli_feed_hints_from(&hints, &r, 0);
  ASSERT_EQ(hints.max_age, 60);
  r.n_headers = 0;
  ASSERT(uvf_cli_result_header(&r, "ETag") == NULL);
  r.n_headers = 3;
  r.size = offsetof(uvf_result, headers); /* an older library's */
  ASSERT(uvf_cli_result_header(&r, "ETag") == NULL);
  ASSERT(uvf_cli_result_header(NULL, "ETag") == NULL);
}

static const test_entry tests[] = {
    TEST_ENTRY(feed_rss2_items_and_channel),
    TEST_ENTRY(feed_rss1_items_beside_the_channel),
    TEST_ENTRY(feed_atom_entries_with_alternate_links),
    TEST_ENTRY(feed_identity_precedence),
    TEST_ENTRY(feed_rdf_about_beats_link),
    TEST_ENTRY(feed_duplicate_identity_kept_once),
    TEST_ENTRY(feed_changed_item_has_another_hash),
    TEST_ENTRY(feed_decodes_windows1252_and_koi8r),
    TEST_ENTRY(feed_charset_precedence),
    TEST_ENTRY(feed_bad_bytes_are_recovered),
    TEST_ENTRY(feed_text_kept_is_always_utf8),
    TEST_ENTRY(feed_html_is_not_a_feed),
    TEST_ENTRY(feed_malformed_is_an_error),
    TEST_ENTRY(feed_billion_laughs_is_an_error_at_once),
    TEST_ENTRY(feed_plain_and_external_entities_are_not_expanded),
    TEST_ENTRY(feed_dates_with_zone_names),
    TEST_ENTRY(feed_interval_from_hints_within_clamps),
    TEST_ENTRY(feed_backoff_doubles_to_a_day),
    TEST_ENTRY(feed_cache_headers_read),
    TEST_ENTRY(feed_conditional_headers),
    TEST_ENTRY(feed_result_headers_read_within_the_results_size),
};

int main(int argc, char **argv) {
  return test_main(argc, argv, tests, sizeof(tests) / sizeof(tests[0]));
}
