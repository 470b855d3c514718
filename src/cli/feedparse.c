/* Feed documents, parsed as their bytes arrive: libxml2's push parser with
 * SAX2 callbacks, so memory grows with the items kept, never with a
 * document's tricks. RSS 0.9x/2.0, RSS 1.0 (RDF, items beside the
 * channel) and Atom. libxml2 does the XML and the encodings (a BOM, then
 * the XML declaration; windows-1252, koi8-r... through iconv), and
 * recovers from bytes that are not in the document's encoding; those
 * reach the items as U+FFFD, so that every text kept is UTF-8.
 *
 * Safety: no network (XML_PARSE_NONET), no external DTD or entity is
 * loaded (neither XML_PARSE_DTDLOAD nor XML_PARSE_NOENT), entities are
 * not substituted, and a DTD that declares an entity made of other
 * entities (the billion laughs) or too many or too long ones makes the
 * document an error at once. A document's size is the fetcher's
 * --max-body. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "feeds.h"

#define NS_ATOM "http://www.w3.org/2005/Atom"
#define NS_ATOM03 "http://purl.org/atom/ns#"
#define NS_RDF "http://www.w3.org/1999/02/22-rdf-syntax-ns#"

/* Entities a feed may declare: few, short, and made of text only. */
#define MAX_ENTITIES 64
#define MAX_ENTITY_BYTES 4096
#define MAX_ENTITY_REFS 10000

/* The bytes kept before the parser starts, to see whether the document
 * names its encoding (enough for any XML declaration that does). */
#define SNIFF_BYTES 512

/* Fields of an item that collect text. */
enum field {
  F_NONE,
  F_TITLE,
  F_LINK,
  F_GUID,
  F_ID,
  F_SUMMARY,
  F_CONTENT,
  F_PUBLISHED,
  F_UPDATED,
  F_AUTHOR,
  F_CHANNEL_TITLE,
  F_TTL,
  F_COUNT
};

struct uvf_cli_feedparser {
  xmlParserCtxtPtr ctxt;
  xmlSAXHandler sax;
  char *http_charset;
  uvf_cli_buf sniff; /* the first bytes, until the parser starts */
  int kind;
  int depth;
  int item_depth;              /* depth of the open item, 0 if none */
  int field;                   /* enum field being collected */
  int field_depth;             /* its element's depth */
  uvf_cli_buf text;            /* its text so far */
  uvf_cli_buf fields[F_COUNT]; /* the open item's fields */
  int has[F_COUNT];
  char *about;     /* rdf:about of the open item */
  char *atom_link; /* the open entry's alternate link */
  char *title;     /* the channel's */
  long ttl;
  uvf_cli_feed_item *items;
  size_t n_items, cap_items;
  int entities;
  size_t entity_bytes;
  unsigned refs;
  int bad; /* a fatal error that is not of the encoding */
  int stopped;
  char why[256];
};

static int fail(uvf_cli_feedparser *p, const char *fmt, const char *arg) {
  if (!p->stopped) {
    snprintf(p->why, sizeof(p->why), fmt, arg ? arg : "");
    p->stopped = 1;
    if (p->ctxt)
      xmlStopParser(p->ctxt);
  }
  return -EINVAL;
}

/* SAX2's own handlers, which some of ours call, want the parser context
 * as their user data: ours hangs off it. */
static uvf_cli_feedparser *me(void *ctxt) {
  return ((xmlParserCtxtPtr)ctxt)->_private;
}

static int is_ns(const xmlChar *uri, const char *ns) {
  return uri && strcmp((const char *)uri, ns) == 0;
}

static int is_atom(const xmlChar *uri) {
  return is_ns(uri, NS_ATOM) || is_ns(uri, NS_ATOM03);
}

static int name_is(const xmlChar *name, const char *s) {
  return strcmp((const char *)name, s) == 0;
}

/* Length of the valid UTF-8 sequence at s (n bytes there), 0 if none
 * starts there (RFC 3629: no overlong form, no surrogate, nothing past
 * U+10FFFF). */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char lo = 0x80, hi = 0xBF;
  size_t len, i;

  if (s[0] < 0x80)
    return 1;
  if (s[0] >= 0xC2 && s[0] <= 0xDF)
    len = 2;
  else if (s[0] >= 0xE0 && s[0] <= 0xEF)
    len = 3, lo = s[0] == 0xE0 ? 0xA0 : 0x80, hi = s[0] == 0xED ? 0x9F : 0xBF;
  else if (s[0] >= 0xF0 && s[0] <= 0xF4)
    len = 4, lo = s[0] == 0xF0 ? 0x90 : 0x80, hi = s[0] == 0xF4 ? 0x8F : 0xBF;
  else
    return 0;
  if (n < len || s[1] < lo || s[1] > hi)
    return 0;
  for (i = 2; i < len; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  return len;
}

/* s (len bytes) onto b as UTF-8, each byte that starts no valid
 * sequence as U+FFFD: in recovery libxml2 hands such bytes on as they
 * came, and what is stored and printed must be text. */
static void put_utf8(uvf_cli_buf *b, const char *s, size_t len) {
  const char *run = s, *end = s + len;
  size_t n;

  while (s < end) {
    if ((n = utf8_len((const unsigned char *)s, (size_t)(end - s))) > 0) {
      s += n;
      continue;
    }
    uvf_cli_buf_add(b, run, (size_t)(s - run));
    uvf_cli_buf_add(b, "\xEF\xBF\xBD", 3);
    run = ++s;
  }
  uvf_cli_buf_add(b, run, (size_t)(s - run));
}

/* A copy of s (len bytes) as put_utf8() makes it; NULL if out of memory. */
static char *utf8_dup(const char *s, size_t len) {
  uvf_cli_buf b = {0};

  put_utf8(&b, s, len);
  if (b.oom)
    uvf_cli_buf_free(&b);
  return b.data;
}

/* The value of attribute `name` among SAX2's (localname, prefix, URI,
 * value, end) quintuples, copied; NULL if absent. */
static char *attr(int n, const xmlChar **a, const char *name, const char *ns) {
  int i;

  for (i = 0; i < n; i++, a += 5) {
    if (!name_is(a[0], name) || (ns && !is_ns(a[2], ns)))
      continue;
    return utf8_dup((const char *)a[3], (size_t)(a[4] - a[3]));
  }
  return NULL;
}

/* The root names the kind of feed; anything else (HTML) is no feed. */
static void root(uvf_cli_feedparser *p, const xmlChar *name,
                 const xmlChar *uri) {
  if (name_is(name, "rss") && !uri)
    p->kind = UVF_CLI_FEED_RSS2;
  else if (name_is(name, "RDF") && is_ns(uri, NS_RDF))
    p->kind = UVF_CLI_FEED_RSS1;
  else if (name_is(name, "feed") && is_atom(uri))
    p->kind = UVF_CLI_FEED_ATOM;
  else
    fail(p, "not a feed: the document is <%s>", (const char *)name);
}

static int starts_item(const uvf_cli_feedparser *p, const xmlChar *name) {
  if (p->kind == UVF_CLI_FEED_ATOM)
    return name_is(name, "entry");
  return name_is(name, "item");
}

/* Which field an element of an item fills, by its local name: the
 * namespaces of RSS modules (dc:, content:) vary too much to insist. */
static int item_field(const xmlChar *name, const xmlChar *uri) {
  static const struct {
    const char *name;
    int field;
  } map[] = {{"title", F_TITLE},         {"link", F_LINK},
             {"guid", F_GUID},           {"id", F_ID},
             {"description", F_SUMMARY}, {"summary", F_SUMMARY},
             {"encoded", F_CONTENT},     {"content", F_CONTENT},
             {"pubDate", F_PUBLISHED},   {"published", F_PUBLISHED},
             {"issued", F_PUBLISHED},    {"date", F_PUBLISHED},
             {"updated", F_UPDATED},     {"modified", F_UPDATED},
             {"creator", F_AUTHOR},      {"author", F_AUTHOR}};
  size_t i;

  (void)uri;
  for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if (name_is(name, map[i].name))
      return map[i].field;
  return F_NONE;
}

static void begin_field(uvf_cli_feedparser *p, int field) {
  p->field = field;
  p->field_depth = p->depth;
  uvf_cli_buf_reset(&p->text);
}

/* An Atom entry's link: the first alternate one (no rel is alternate). */
static void atom_link(uvf_cli_feedparser *p, int n, const xmlChar **a) {
  char *rel = attr(n, a, "rel", NULL);

  if (!p->atom_link && (!rel || strcmp(rel, "alternate") == 0))
    p->atom_link = attr(n, a, "href", NULL);
  free(rel);
}

static void start_in_item(uvf_cli_feedparser *p, const xmlChar *name,
                          const xmlChar *uri, int n, const xmlChar **a) {
  int f;

  if (p->depth != p->item_depth + 1 || p->field != F_NONE)
    return; /* text of nested elements goes to the open field */
  f = item_field(name, uri);
  if (f == F_LINK && p->kind == UVF_CLI_FEED_ATOM) {
    atom_link(p, n, a);
    return;
  }
  if (f == F_AUTHOR && is_atom(uri))
    f = F_NONE; /* Atom's author holds <name>: taken below */
  if (f != F_NONE)
    begin_field(p, f);
}

static void clear_item(uvf_cli_feedparser *p) {
  int i;

  for (i = 0; i < F_COUNT; i++) {
    uvf_cli_buf_reset(&p->fields[i]);
    p->has[i] = 0;
  }
  free(p->about);
  free(p->atom_link);
  p->about = p->atom_link = NULL;
}

static void on_start(void *ud, const xmlChar *name, const xmlChar *prefix,
                     const xmlChar *uri, int n_ns, const xmlChar **ns,
                     int n_attrs, int n_defaulted, const xmlChar **attrs) {
  uvf_cli_feedparser *p = me(ud);

  (void)prefix, (void)n_ns, (void)ns, (void)n_defaulted;
  if (p->stopped)
    return;
  p->depth++;
  if (p->depth == 1) {
    root(p, name, uri);
  } else if (p->item_depth > 0) {
    if (p->kind == UVF_CLI_FEED_ATOM && name_is(name, "name") &&
        p->field == F_NONE && p->depth == p->item_depth + 2)
      begin_field(p, F_AUTHOR);
    else
      start_in_item(p, name, uri, n_attrs, attrs);
  } else if (starts_item(p, name) &&
             !(p->kind == UVF_CLI_FEED_ATOM && !is_atom(uri))) {
    clear_item(p);
    p->item_depth = p->depth;
    if (p->kind == UVF_CLI_FEED_RSS1)
      p->about = attr(n_attrs, attrs, "about", NS_RDF);
  } else if (name_is(name, "title") && p->depth <= 3 && !p->title) {
    begin_field(p, F_CHANNEL_TITLE);
  } else if (name_is(name, "ttl") && p->depth == 3) {
    begin_field(p, F_TTL);
  }
}

static void on_chars(void *ud, const xmlChar *s, int len) {
  uvf_cli_feedparser *p = me(ud);

  if (p->field == F_NONE || p->stopped)
    return;
  if (p->text.len + (size_t)len <= UVF_CLI_FEED_MAX_FIELD)
    uvf_cli_buf_add(&p->text, (const char *)s, (size_t)len);
}

/* s with white space trimmed at both ends, in place. */
static char *trim(char *s) {
  char *e;

  while (isspace((unsigned char)*s))
    s++;
  e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1]))
    *--e = '\0';
  return s;
}

static void end_field(uvf_cli_feedparser *p) {
  const char *t = p->text.data ? trim(p->text.data) : "";
  int f = p->field;

  p->field = F_NONE;
  if (f == F_CHANNEL_TITLE) {
    free(p->title);
    p->title = utf8_dup(t, strlen(t));
  } else if (f == F_TTL) {
    p->ttl = strtol(t, NULL, 10);
    if (p->ttl < 0)
      p->ttl = 0;
  } else if (!p->has[f]) { /* the first of a kind counts */
    uvf_cli_buf_reset(&p->fields[f]);
    put_utf8(&p->fields[f], t, strlen(t));
    p->has[f] = 1;
  }
}

static char *field(const uvf_cli_feedparser *p, int f) {
  return p->has[f] && p->fields[f].data && *p->fields[f].data
             ? p->fields[f].data
             : NULL;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static uint64_t fnv(uint64_t h, const char *s) {
  for (; s && *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ULL;
  return (h ^ 0xff) * 1099511628211ULL; /* a field boundary */
}

/* What tells an item changed: every field it shows. */
static uint64_t content_hash(const uvf_cli_feedparser *p, const char *link) {
  uint64_t h = 1469598103934665603ULL;
  static const int fs[] = {F_TITLE,   F_SUMMARY, F_CONTENT, F_PUBLISHED,
                           F_UPDATED, F_AUTHOR,  F_GUID,    F_ID};
  size_t i;

  h = fnv(h, link);
  for (i = 0; i < sizeof(fs) / sizeof(fs[0]); i++)
    h = fnv(h, field(p, fs[i]));
  return h;
}

/* guid > atom:id > rdf:about > link > a hash of the content. */
static char *identity(const uvf_cli_feedparser *p, const char *link,
                      uint64_t hash) {
  char buf[32];

  if (field(p, F_GUID))
    return strdup(field(p, F_GUID));
  if (field(p, F_ID))
    return strdup(field(p, F_ID));
  if (p->about && *p->about)
    return strdup(p->about);
  if (link)
    return strdup(link);
  snprintf(buf, sizeof(buf), "hash:%016llx", (unsigned long long)hash);
  return strdup(buf);
}

static int seen(const uvf_cli_feedparser *p, const char *uid) {
  size_t i;

  for (i = 0; i < p->n_items; i++)
    if (strcmp(p->items[i].uid, uid) == 0)
      return 1;
  return 0;
}

static void free_item(uvf_cli_feed_item *it) {
  free(it->uid);
  free(it->title);
  free(it->link);
  free(it->summary);
  free(it->author);
}

static void end_item(uvf_cli_feedparser *p) {
  const char *link = p->atom_link ? p->atom_link : field(p, F_LINK);
  uvf_cli_feed_item it;
  void *grown;

  memset(&it, 0, sizeof(it));
  it.hash = content_hash(p, link);
  it.uid = identity(p, link, it.hash);
  if (!it.uid || seen(p, it.uid) || p->n_items >= UVF_CLI_FEED_MAX_ITEMS) {
    free(it.uid); /* the first of a uid stands: unique per feed */
    return;
  }
  it.title = dup_or_null(field(p, F_TITLE));
  it.link = dup_or_null(link);
  it.summary = dup_or_null(field(p, F_SUMMARY) ? field(p, F_SUMMARY)
                                               : field(p, F_CONTENT));
  it.author = dup_or_null(field(p, F_AUTHOR));
  it.published = uvf_cli_feed_date(field(p, F_PUBLISHED));
  it.updated = uvf_cli_feed_date(field(p, F_UPDATED));
  grown = uvf_cli_grow(p->items, p->n_items, &p->cap_items, sizeof(it), 16);
  if (!grown) {
    free_item(&it);
    fail(p, "out of memory%s", NULL);
    return;
  }
  p->items = grown;
  p->items[p->n_items++] = it;
}

static void on_end(void *ud, const xmlChar *name, const xmlChar *prefix,
                   const xmlChar *uri) {
  uvf_cli_feedparser *p = me(ud);

  (void)name, (void)prefix, (void)uri;
  if (p->stopped)
    return;
  if (p->field != F_NONE && p->depth == p->field_depth)
    end_field(p);
  if (p->item_depth > 0 && p->depth == p->item_depth) {
    end_item(p);
    p->item_depth = 0;
  }
  p->depth--;
}

/* The billion laughs and its kin: an entity made of entities, or many
 * or long ones, ends the document now, before any is expanded. */
static void on_entity_decl(void *ud, const xmlChar *name, int type,
                           const xmlChar *public_id, const xmlChar *system_id,
                           xmlChar *content) {
  uvf_cli_feedparser *p = me(ud);
  size_t len = content ? strlen((const char *)content) : 0;

  if (p->stopped)
    return;
  p->entity_bytes += len;
  if (content && (strchr((const char *)content, '&') ||
                  strchr((const char *)content, '%')))
    fail(p, "entity %s is made of other entities (an entity bomb)",
         (const char *)name);
  else if (++p->entities > MAX_ENTITIES || p->entity_bytes > MAX_ENTITY_BYTES)
    fail(p, "too many or too long entity declarations%s", NULL);
  else
    xmlSAX2EntityDecl(p->ctxt, name, type, public_id, system_id, content);
}

/* An entity reference that is not substituted: counted, and its text is
 * left out. */
static void on_reference(void *ud, const xmlChar *name) {
  uvf_cli_feedparser *p = me(ud);

  (void)name;
  if (++p->refs > MAX_ENTITY_REFS)
    fail(p, "too many entity references%s", NULL);
}

/* Errors of the encoding are recovered from (the bad bytes are read as
 * they come); any other fatal one makes the document malformed. */
static void on_error(void *ud, xmlErrorPtr e) {
  uvf_cli_feedparser *p = me(ud);

  if (e->level != XML_ERR_FATAL)
    return;
  switch (e->code) {
  case XML_ERR_INVALID_CHAR:
  case XML_ERR_INVALID_ENCODING:
  case XML_I18N_CONV_FAILED: return;
  }
  if (!p->bad) {
    p->bad = 1;
    snprintf(p->why, sizeof(p->why), "malformed feed: line %d: %s", e->line,
             e->message ? e->message : "error");
    trim(p->why);
  }
}

static void init_sax(uvf_cli_feedparser *p) {
  xmlSAXVersion(&p->sax, 2);
  p->sax.startElementNs = on_start;
  p->sax.endElementNs = on_end;
  p->sax.characters = on_chars;
  p->sax.cdataBlock = on_chars;
  p->sax.entityDecl = on_entity_decl;
  p->sax.reference = on_reference;
  p->sax.serror = on_error;
  p->sax.error = NULL;
  p->sax.warning = NULL;
  p->sax.initialized = XML_SAX2_MAGIC;
}

int uvf_cli_feedparser_new(uvf_cli_feedparser **out, const char *http_charset) {
  uvf_cli_feedparser *p = calloc(1, sizeof(*p));

  if (!p)
    return -ENOMEM;
  init_sax(p);
  if (http_charset && !(p->http_charset = strdup(http_charset))) {
    free(p);
    return -ENOMEM;
  }
  *out = p;
  return 0;
}

/* 1 if the document's first bytes say its encoding (a BOM, or an XML
 * declaration with encoding=), 0 if they do not, -1 if more are needed. */
static int names_encoding(const char *s, size_t n) {
  static const char *const boms[] = {"\xEF\xBB\xBF", "\xFE\xFF", "\xFF\xFE"};
  const char *end;
  size_t i;

  for (i = 0; i < 3; i++)
    if (n >= strlen(boms[i]) && memcmp(s, boms[i], strlen(boms[i])) == 0)
      return 1;
  if (n < 5)
    return n < SNIFF_BYTES ? -1 : 0;
  if (memcmp(s, "<?xml", 5) != 0)
    return 0;
  if (!(end = memmem(s, n, "?>", 2)))
    return n < SNIFF_BYTES ? -1 : 0;
  return memmem(s, (size_t)(end - s), "encoding", 8) != NULL;
}

static int start_parser(uvf_cli_feedparser *p, int use_http) {
  xmlCharEncodingHandlerPtr h;

  p->ctxt = xmlCreatePushParserCtxt(&p->sax, NULL, NULL, 0, NULL);
  if (!p->ctxt)
    return fail(p, "out of memory%s", NULL);
  p->ctxt->_private = p;
  xmlCtxtUseOptions(p->ctxt, XML_PARSE_NONET | XML_PARSE_RECOVER |
                                 XML_PARSE_NOWARNING | XML_PARSE_NOERROR);
  p->ctxt->replaceEntities = 0;
  if (use_http && p->http_charset &&
      (h = xmlFindCharEncodingHandler(p->http_charset)))
    xmlSwitchToEncoding(p->ctxt, h);
  return 0;
}

static int parse(uvf_cli_feedparser *p, const char *data, size_t len,
                 int last) {
  while (!p->stopped && (len > 0 || last)) {
    int n = len > (1 << 20) ? 1 << 20 : (int)len;

    xmlParseChunk(p->ctxt, data, n, last && (size_t)n == len);
    data += n;
    len -= (size_t)n;
    if (len == 0)
      break;
  }
  return p->stopped ? -EINVAL : 0;
}

/* Bytes wait in p->sniff until it is known whether the document names
 * its encoding; then the parser starts with the HTTP charset or not. */
static int sniff(uvf_cli_feedparser *p, const char *data, size_t len,
                 int last) {
  int named;

  uvf_cli_buf_add(&p->sniff, data, len);
  if (p->sniff.oom)
    return fail(p, "out of memory%s", NULL);
  named = names_encoding(p->sniff.data, p->sniff.len);
  if (named < 0 && !last)
    return 0;
  if (start_parser(p, named <= 0) != 0)
    return -EINVAL;
  return parse(p, p->sniff.data, p->sniff.len, last);
}

int uvf_cli_feedparser_push(uvf_cli_feedparser *p, const char *data,
                            size_t len) {
  if (p->stopped)
    return -EINVAL;
  if (!p->ctxt)
    return sniff(p, data, len, 0);
  return parse(p, data, len, 0);
}

int uvf_cli_feedparser_end(uvf_cli_feedparser *p) {
  if (p->stopped)
    return -EINVAL;
  if (!p->ctxt && sniff(p, "", 0, 1) != 0)
    return -EINVAL;
  if (p->ctxt && parse(p, "", 0, 1) != 0)
    return -EINVAL;
  if (p->kind == UVF_CLI_FEED_UNKNOWN) {
    /* A copy: snprintf's source (p->why) must not be its target. */
    char was[sizeof(p->why)];

    snprintf(was, sizeof(was), "%s", p->bad ? p->why : "no root element");
    return fail(p, "not a feed: %.240s", was);
  }
  if (p->bad) {
    p->stopped = 1;
    return -EINVAL;
  }
  return 0;
}

const char *uvf_cli_feedparser_why(const uvf_cli_feedparser *p) {
  return p->why;
}

int uvf_cli_feedparser_kind(const uvf_cli_feedparser *p) { return p->kind; }

const char *uvf_cli_feedparser_title(const uvf_cli_feedparser *p) {
  return p->title;
}

long uvf_cli_feedparser_ttl(const uvf_cli_feedparser *p) { return p->ttl; }

size_t uvf_cli_feedparser_count(const uvf_cli_feedparser *p) {
  return p->n_items;
}

const uvf_cli_feed_item *uvf_cli_feedparser_item(const uvf_cli_feedparser *p,
                                                 size_t i) {
  return i < p->n_items ? &p->items[i] : NULL;
}

void uvf_cli_feedparser_free(uvf_cli_feedparser *p) {
  size_t i;

  if (!p)
    return;
  if (p->ctxt) {
    if (p->ctxt->myDoc)
      xmlFreeDoc(p->ctxt->myDoc);
    xmlFreeParserCtxt(p->ctxt);
  }
  for (i = 0; i < p->n_items; i++)
    free_item(&p->items[i]);
  free(p->items);
  clear_item(p);
  for (i = 0; i < F_COUNT; i++)
    uvf_cli_buf_free(&p->fields[i]);
  uvf_cli_buf_free(&p->text);
  uvf_cli_buf_free(&p->sniff);
  free(p->title);
  free(p->http_charset);
  free(p);
}

/* ---- dates ---- */

/* RFC 3339 and its ISO 8601 kin: 2006-01-02T15:04:05.123+01:00, with a
 * space for the T, no seconds, or a date alone. 0 if it is not one. */
static int64_t iso_date(const char *s) {
  struct tm tm;
  int y, mo, d, h = 0, mi = 0, sec = 0, n = 0, zh = 0, zm = 0;
  char sign = 0;
  const char *z;

  if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
    return 0;
  z = s + n;
  if ((*z == 'T' || *z == 't' || *z == ' ') &&
      sscanf(z + 1, "%2d:%2d%n", &h, &mi, &n) == 2) {
    z += 1 + n;
    if (*z == ':' && sscanf(z + 1, "%2d%n", &sec, &n) == 1)
      z += 1 + n;
    if (*z == '.')
      for (z++; isdigit((unsigned char)*z); z++)
        ;
  }
  if ((*z == '+' || *z == '-') && sscanf(z + 1, "%2d:%2d", &zh, &zm) >= 1)
    sign = *z;
  memset(&tm, 0, sizeof(tm));
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return 0;
  return (int64_t)timegm(&tm) - (sign == '-'   ? -1
                                 : sign == '+' ? 1
                                               : 0) *
                                    (zh * 3600 + zm * 60);
}

int64_t uvf_cli_feed_date(const char *s) {
  int64_t t;
  time_t c;

  if (!s || !*s)
    return 0;
  while (isspace((unsigned char)*s))
    s++;
  if ((t = iso_date(s)) != 0)
    return t;
  /* RFC 822 and 1123, zone names (EST, PDT, UT, military letters) and
   * numeric zones: libcurl's date parser reads them all. */
  c = curl_getdate(s, NULL);
  return c == -1 ? 0 : (int64_t)c;
}
