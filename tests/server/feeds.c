/* /feed/<n>: feeds made from the URL alone, so that tests and benchmarks
 * need no files.  The query picks the rest (any order, all optional):
 *   fmt=rss2|rss1|atom   the format (rss2)
 *   enc=utf-8|windows-1252|koi8-r   the encoding, named in the XML
 *                        declaration (utf-8); each item's title has a
 *                        word that needs it
 *   items=<k>            items (20); item i has guid (or id, or
 *                        rdf:about) "feed-<n>-item-<i>"; as many as fit in
 *                        96 KiB are sent
 *   rev=<r>              revision (0): item 0's title and the ETag change
 *                        with it, nothing else
 *   cond=1               honour If-None-Match and If-Modified-Since: 304
 *                        when they match (ETag "f<n>-<r>", Last-Modified
 *                        2006-01-02 15:04:05 GMT plus r hours); without
 *                        it the validators are sent and ignored
 *   etag=<k>             the ETag is "f<n>-<r>-e<k>" (k > 0): another ETag
 *                        for the same Last-Modified, so that a 304 to
 *                        If-Modified-Since brings a new ETag
 *   ttl=<minutes>        a <ttl> in the channel (RSS 2.0)
 *   charset=http         the encoding is named by the Content-Type's
 *                        charset, not in the XML declaration
 *   maxage=<s>           Cache-Control: max-age=<s> (on 304s too)
 *   expires=<s>          Expires: the time of the reply plus s seconds
 *   retry=<s>            503 with Retry-After: <s> (s < 8192), and no
 *                        document
 *   bad=malformed|html|bomb|badbytes   a cut-off document, an HTML page,
 *                        a billion-laughs DTD, bytes that are not UTF-8
 *   delay=<ms>           as elsewhere
 * A huge feed is /bytes/<n> (or /gzip-bomb with --compressed): its size
 * trips --max-body whatever it holds. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ts.h"

#define FEED_CAP (96u * 1024u)
#define BASE_TIME 1136214245 /* 2006-01-02 15:04:05 GMT */

enum { FMT_RSS2, FMT_RSS1, FMT_ATOM };
enum { ENC_UTF8, ENC_1252, ENC_KOI8R };
enum { BAD_NONE, BAD_MALFORMED, BAD_HTML, BAD_BOMB, BAD_BYTES };

/* A feed's parameters, packed into a ts_spec's arg so that a delayed
 * reply can be made later from the spec alone. */
struct feed {
  unsigned n, items, rev, fmt, enc, bad, cond, ttl, http_charset;
  unsigned maxage, expires, retry; /* seconds; 0: none */
  unsigned etag;                   /* etag=<k>; 0: none */
};

static uint64_t pack(const struct feed *f) {
  return (uint64_t)f->n | (uint64_t)f->items << 20 | (uint64_t)f->rev << 34 |
         (uint64_t)f->fmt << 42 | (uint64_t)f->enc << 44 |
         (uint64_t)f->bad << 46 | (uint64_t)f->cond << 50 |
         (uint64_t)f->ttl << 51 | (uint64_t)f->http_charset << 62;
}

static uint64_t pack_hints(const struct feed *f) {
  return (uint64_t)f->maxage | (uint64_t)f->expires << 21 |
         (uint64_t)f->retry << 42 | (uint64_t)f->etag << 55;
}

static void unpack(uint64_t a, struct feed *f) {
  f->n = (unsigned)(a & 0xfffff);
  f->items = (unsigned)(a >> 20 & 0x3fff);
  f->rev = (unsigned)(a >> 34 & 0xff);
  f->fmt = (unsigned)(a >> 42 & 3);
  f->enc = (unsigned)(a >> 44 & 3);
  f->bad = (unsigned)(a >> 46 & 15);
  f->cond = (unsigned)(a >> 50 & 1);
  f->ttl = (unsigned)(a >> 51 & 0x7ff);
  f->http_charset = (unsigned)(a >> 62 & 1);
}

static void unpack_hints(uint64_t a, struct feed *f) {
  f->maxage = (unsigned)(a & 0x1fffff);
  f->expires = (unsigned)(a >> 21 & 0x1fffff);
  f->retry = (unsigned)(a >> 42 & 0x1fff);
  f->etag = (unsigned)(a >> 55 & 0xff);
}

/* The ETag of feed f, quoted. */
static void etag_of(char *buf, size_t size, const struct feed *f) {
  if (f->etag)
    snprintf(buf, size, "\"f%u-%u-e%u\"", f->n, f->rev, f->etag);
  else
    snprintf(buf, size, "\"f%u-%u\"", f->n, f->rev);
}

/* The value of key= in the query, as a number, or def. */
static unsigned num(const char *q, size_t n, const char *key, unsigned def,
                    unsigned max) {
  size_t k = strlen(key);
  const char *p = q, *end = q + n;
  uint64_t v;

  while (p && p < end) {
    const char *amp = memchr(p, '&', (size_t)(end - p));
    const char *e = amp ? amp : end;

    if ((size_t)(e - p) > k + 1 && memcmp(p, key, k) == 0 && p[k] == '=' &&
        ts_parse_u64(p + k + 1, (size_t)(e - p) - k - 1, &v) == 0)
      return v > max ? max : (unsigned)v;
    p = e + 1;
  }
  return def;
}

/* Which of the words is the value of key=, or def. */
static unsigned word(const char *q, size_t n, const char *key,
                     const char *const *words, unsigned def) {
  char pat[64];
  unsigned i;

  for (i = 0; words[i]; i++) {
    snprintf(pat, sizeof(pat), "%s=%s", key, words[i]);
    const char *at = q ? memmem(q, n, pat, strlen(pat)) : NULL;
    size_t end = at ? (size_t)(at - q) + strlen(pat) : 0;

    if (at && (at == q || at[-1] == '&') && (end == n || q[end] == '&'))
      return i;
  }
  return def;
}

static void parse(const char *path, size_t pn, const char *q, size_t qn,
                  struct feed *f) {
  static const char *const fmts[] = {"rss2", "rss1", "atom", NULL};
  static const char *const encs[] = {"utf-8", "windows-1252", "koi8-r", NULL};
  static const char *const bads[] = {"none", "malformed", "html",
                                     "bomb", "badbytes",  NULL};
  static const char *const charsets[] = {"xml", "http", NULL};
  uint64_t v = 0;

  memset(f, 0, sizeof(*f));
  if (ts_parse_u64(path, pn, &v) == 0 && v < 0x100000)
    f->n = (unsigned)v;
  f->items = num(q, qn, "items", 20, 0x3fff);
  f->rev = num(q, qn, "rev", 0, 0xff);
  f->cond = num(q, qn, "cond", 0, 1);
  f->ttl = num(q, qn, "ttl", 0, 0x7ff);
  f->fmt = word(q, qn, "fmt", fmts, FMT_RSS2);
  f->enc = word(q, qn, "enc", encs, ENC_UTF8);
  f->bad = word(q, qn, "bad", bads, BAD_NONE);
  f->http_charset = word(q, qn, "charset", charsets, 0);
  f->maxage = num(q, qn, "maxage", 0, 0x1fffff);
  f->expires = num(q, qn, "expires", 0, 0x1fffff);
  f->retry = num(q, qn, "retry", 0, 0x1fff);
  f->etag = num(q, qn, "etag", 0, 0xff);
}

/* ---- the document ---- */

struct out {
  char *p;
  size_t len, cap;
};

static void add(struct out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void add(struct out *o, const char *fmt, ...) {
  va_list ap;
  int n;

  if (o->len >= o->cap)
    return;
  va_start(ap, fmt);
  n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
  va_end(ap);
  o->len = n < 0 || (size_t)n >= o->cap - o->len ? o->cap : o->len + (size_t)n;
}

static const char *enc_name(unsigned e) {
  return e == ENC_1252 ? "windows-1252" : e == ENC_KOI8R ? "koi8-r" : "utf-8";
}

/* "café" or "Привет" in the feed's encoding: stored, it reads the same. */
static const char *word_in(unsigned e) {
  if (e == ENC_1252)
    return "caf\xe9";
  if (e == ENC_KOI8R)
    return "\xf0\xd2\xc9\xd7\xc5\xd4";
  return "caf\xc3\xa9";
}

static void date822(char *buf, size_t cap, long t) {
  time_t tt = (time_t)t;
  struct tm tm;

  gmtime_r(&tt, &tm);
  strftime(buf, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void date3339(char *buf, size_t cap, long t) {
  time_t tt = (time_t)t;
  struct tm tm;

  gmtime_r(&tt, &tm);
  strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void head(struct out *o, const struct feed *f) {
  if (f->http_charset)
    add(o, "<?xml version=\"1.0\"?>\n");
  else
    add(o, "<?xml version=\"1.0\" encoding=\"%s\"?>\n", enc_name(f->enc));
  if (f->bad == BAD_BOMB) {
    int i, k;

    add(o, "<!DOCTYPE rss [<!ENTITY lol0 \"lol\">\n");
    for (i = 1; i <= 9; i++) {
      add(o, "<!ENTITY lol%d \"", i);
      for (k = 0; k < 10; k++)
        add(o, "&lol%d;", i - 1);
      add(o, "\">\n");
    }
    add(o, "]>\n");
  }
  if (f->fmt == FMT_ATOM)
    add(o,
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Feed %u %s"
        "</title><id>urn:feed:%u</id>\n",
        f->n, word_in(f->enc), f->n);
  else if (f->fmt == FMT_RSS1)
    add(o,
        "<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\""
        " xmlns=\"http://purl.org/rss/1.0/\""
        " xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n"
        "<channel rdf:about=\"http://feeds.test/%u\"><title>Feed %u %s"
        "</title><link>http://feeds.test/%u</link></channel>\n",
        f->n, f->n, word_in(f->enc), f->n);
  else
    add(o,
        "<rss version=\"2.0\"><channel><title>Feed %u %s</title>"
        "<link>http://feeds.test/%u</link>\n",
        f->n, word_in(f->enc), f->n);
  if (f->fmt == FMT_RSS2 && f->ttl > 0)
    add(o, "<ttl>%u</ttl>\n", f->ttl);
}

static void one_item(struct out *o, const struct feed *f, unsigned i) {
  char date[64], rev[32] = "";
  long t = BASE_TIME - (long)i * 3600;
  const char *w =
      f->bad == BAD_BYTES && i == 0 ? "bad \xff\xfe bytes" : word_in(f->enc);

  if (i == 0 && f->rev > 0)
    snprintf(rev, sizeof(rev), " rev %u", f->rev);
  if (f->fmt == FMT_ATOM) {
    date3339(date, sizeof(date), t);
    add(o,
        "<entry><id>feed-%u-item-%u</id><title>Item %u %s%s</title>"
        "<link href=\"http://feeds.test/%u/%u\"/><updated>%s</updated>"
        "<summary>Text of item %u &amp; feed %u</summary></entry>\n",
        f->n, i, i, w, rev, f->n, i, date, i, f->n);
  } else if (f->fmt == FMT_RSS1) {
    date3339(date, sizeof(date), t);
    add(o,
        "<item rdf:about=\"feed-%u-item-%u\"><title>Item %u %s%s</title>"
        "<link>http://feeds.test/%u/%u</link><dc:date>%s</dc:date>"
        "<description>Text of item %u &amp; feed %u</description></item>\n",
        f->n, i, i, w, rev, f->n, i, date, i, f->n);
  } else {
    date822(date, sizeof(date), t);
    add(o,
        "<item><guid isPermaLink=\"false\">feed-%u-item-%u</guid>"
        "<title>Item %u %s%s</title><link>http://feeds.test/%u/%u</link>"
        "<pubDate>%s</pubDate><description>Text of item %u &amp; feed %u"
        "%s</description></item>\n",
        f->n, i, i, w, rev, f->n, i, date, i, f->n,
        f->bad == BAD_BOMB && i == 0 ? " &lol9;" : "");
  }
}

static void tail(struct out *o, const struct feed *f) {
  if (f->bad == BAD_MALFORMED) {
    add(o, "<item><title>cut off"); /* and nothing closes */
    return;
  }
  add(o, f->fmt == FMT_ATOM   ? "</feed>\n"
         : f->fmt == FMT_RSS1 ? "</rdf:RDF>\n"
                              : "</channel></rss>\n");
}

static size_t document(char *buf, const struct feed *f) {
  struct out o = {buf, 0, FEED_CAP};
  unsigned i;

  if (f->bad == BAD_HTML) {
    add(&o,
        "<!DOCTYPE html>\n<html><head><title>Feed %u</title></head>"
        "<body><p>This is a web page, not a feed.</p></body></html>\n",
        f->n);
    return o.len;
  }
  head(&o, f);
  for (i = 0; i < f->items && o.len < FEED_CAP - 2048; i++)
    one_item(&o, f, i);
  tail(&o, f);
  return o.len;
}

/* ---- the reply ---- */

/* 1 if a request header `name` (any case) has `value` in its value. */
static int header_has(const struct ts_req *r, const char *name,
                      const char *value) {
  const char *p = r->headers, *end = r->headers + r->headers_len;
  size_t n = strlen(name);

  while (p && p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    const char *e = eol ? eol : end;

    if ((size_t)(e - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':' &&
        memmem(p + n + 1, (size_t)(e - p) - n - 1, value, strlen(value)))
      return 1;
    p = e + 1;
  }
  return 0;
}

static char doc_buf[FEED_CAP];

static void reply(const struct ts_ex *x, const struct ts_reply *r) {
  if (x->st != NULL)
    ts_h2_reply(x->st, r);
  else
    ts_h1_reply(x->c, r);
}

/* One more header field of r; the strings must outlive the reply call. */
static void extra(struct ts_reply *r, const char *name, const char *value) {
  r->xname[r->n_extra] = name;
  r->xname_len[r->n_extra] = strlen(name);
  r->xval[r->n_extra] = value;
  r->xval_len[r->n_extra] = strlen(value);
  r->n_extra++;
}

/* The header fields every reply of feed f carries. */
static void hint_headers(struct ts_reply *r, const struct feed *f) {
  static char etag[48], lm[64], cc[32], expires[64], retry[16];

  etag_of(etag, sizeof(etag), f);
  date822(lm, sizeof(lm), BASE_TIME + (long)f->rev * 3600);
  extra(r, "ETag", etag);
  extra(r, "Last-Modified", lm);
  if (f->maxage) {
    snprintf(cc, sizeof(cc), "max-age=%u", f->maxage);
    extra(r, "Cache-Control", cc);
  }
  if (f->expires) {
    date822(expires, sizeof(expires), (long)time(NULL) + (long)f->expires);
    extra(r, "Expires", expires);
  }
  if (f->retry) {
    snprintf(retry, sizeof(retry), "%u", f->retry);
    extra(r, "Retry-After", retry);
  }
}

void ts_feed_emit(const struct ts_ex *x, const struct ts_spec *s) {
  static char ctype[64];
  struct ts_reply r = {0};
  struct feed f;

  unpack(s->arg, &f);
  unpack_hints(s->arg2, &f);
  hint_headers(&r, &f);
  r.status = s->status;
  r.head = s->head;
  r.keep = s->keep;
  r.done = 1;
  snprintf(ctype, sizeof(ctype), "application/rss+xml; charset=%s",
           enc_name(f.enc));
  r.ctype = f.bad == BAD_HTML ? "text/html; charset=utf-8"
            : f.http_charset  ? ctype
                              : "application/rss+xml";
  if (s->status == 304) {
    reply(x, &r);
    return;
  }
  if (s->status == 503) {
    r.ctype = "text/plain";
    r.body = "busy\n";
    r.len = 5;
    r.has_len = 1;
    reply(x, &r);
    return;
  }
  r.body = doc_buf;
  r.len = document(doc_buf, &f);
  r.has_len = 1;
  reply(x, &r);
}

int ts_feed_route(const struct ts_ex *x, const struct ts_req *r,
                  const char *path, size_t n, const char *q, size_t qn,
                  uint32_t delay_ms) {
  struct ts_spec s = {0};
  struct feed f;
  char etag[48], lm[64];

  if (n < 7 || memcmp(path, "/feed/", 6) != 0)
    return 0;
  parse(path + 6, n - 6, q, q ? qn : 0, &f);
  etag_of(etag, sizeof(etag), &f);
  date822(lm, sizeof(lm), BASE_TIME + (long)f.rev * 3600);
  s.kind = TS_K_FEED;
  s.arg = pack(&f);
  s.arg2 = pack_hints(&f);
  s.status = f.retry ? 503 : 200;
  if (!f.retry && f.cond &&
      (header_has(r, "If-None-Match", etag) ||
       header_has(r, "If-Modified-Since", lm)))
    s.status = 304;
  s.keep = r->keep;
  s.head = r->method == TS_HEAD;
  s.delay_ms = delay_ms;
  ts_feed_start(x, &s);
  return 1;
}
