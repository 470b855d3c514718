/* uvfetch feeds: a collector of feeds on one SQLite database. `add`,
 * `import`, `list` and `items` are short sessions of their own on the
 * database, with no event loop; `run` fetches on the loop (feeds_run.c),
 * where only the database thread calls SQLite. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sqlite3.h>

#include "feeds.h"
#include "feeds_run.h"

const char uvf_cli_feeds_help[] =
    "Usage: uvfetch feeds COMMAND --db FILE [options] [ARG...]\n"
    "Collect feeds (RSS 2.0, RSS 1.0, Atom) into the SQLite database FILE.\n"
    "\n"
    "Commands:\n"
    "  add URL...        add feeds (those already there are left alone)\n"
    "  import OPML       add the feeds of an OPML file (its xmlUrl outlines)\n"
    "  list              the feeds, one JSON line each\n"
    "  run               fetch the feeds that are due, parse them as they\n"
    "                    arrive, store their items; one JSON line a feed\n"
    "  items [URL]       the items most recently new or changed, one JSON\n"
    "                    line each, of every feed or of the feed URL\n"
    "\n"
    "Options:\n"
    "      --db FILE         the database (created if missing); required\n"
    "      --all             run: fetch every feed, due or not (not those\n"
    "                        that answered 410 Gone)\n"
    "      --limit N         items: at most N (default 100)\n"
    "  run takes the fetch options of uvfetch(1) as well: -j, --per-host,\n"
    "  --rate, --timeout, --connect-timeout, --retry, --retry-delay,\n"
    "  --max-body (default 8M a feed), --compressed, -A, -H, -k, --grace,\n"
    "  -q, --progress, --no-progress...\n"
    "\n"
    "A feed is due when its next check has come: after a good reply, the\n"
    "longest of its <ttl>, Cache-Control max-age, Expires and Retry-After,\n"
    "else an hour, within 5 minutes and 24 hours; after failures, 5 minutes\n"
    "doubling up to 24 hours. 410 Gone stops a feed. Each feed is asked for\n"
    "with its stored ETag and Last-Modified (If-None-Match,\n"
    "If-Modified-Since): a 304 writes no item. A malformed feed, an HTML\n"
    "page, an entity bomb or a feed over --max-body is an error of that\n"
    "feed only.\n"
    "Exit status: 0 every feed fetched, 1 some failed, 2 usage or setup\n"
    "error, 3 the database could not be written, 130 interrupted.\n";

#define DEFAULT_LIMIT 100

/* ---- a short session on the database, for the commands but run ---- */

static int sql_failed(sqlite3 *db, const char *path) {
  uvf_cli_error("%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
  return -EIO;
}

static int open_db(sqlite3 **out, const char *path) {
  sqlite3 *db = NULL;

  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      NULL) != SQLITE_OK ||
      sqlite3_busy_timeout(db, 10000) != SQLITE_OK ||
      sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL) !=
          SQLITE_OK ||
      sqlite3_exec(db, uvf_cli_db_schema, NULL, NULL, NULL) != SQLITE_OK) {
    sql_failed(db, path);
    sqlite3_close(db);
    return -EIO;
  }
  *out = db;
  return 0;
}

static int is_http_url(const char *u) {
  return strncasecmp(u, "http://", 7) == 0 ||
         strncasecmp(u, "https://", 8) == 0;
}

/* Adds the feeds of urls[0..n) in one transaction. */
static int add_urls(sqlite3 *db, const char *path, const char *const *urls,
                    size_t n) {
  sqlite3_stmt *st = NULL;
  size_t i, added = 0;
  int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);

  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO feeds(url, added) VALUES(?1, ?2)"
                            " ON CONFLICT(url) DO NOTHING",
                            -1, &st, NULL);
  for (i = 0; i < n && rc == SQLITE_OK; i++) {
    sqlite3_bind_text(st, 1, urls[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
    rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    added += (size_t)sqlite3_changes(db);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_OK)
    rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    return sql_failed(db, path);
  uvf_cli_note("%zu feed%s added, %zu already there", added,
               added == 1 ? "" : "s", n - added);
  return 0;
}

static int cmd_add(const uvf_cli_args *a, sqlite3 *db) {
  size_t i;

  if (a->n_urls == 0)
    return uvf_cli_usage("feeds add: no URLs");
  for (i = 0; i < a->n_urls; i++)
    if (!is_http_url(a->urls[i]))
      return uvf_cli_usage("feeds add: '%s' is not an http or https URL",
                           a->urls[i]);
  return add_urls(db, a->db_path, (const char *const *)a->urls, a->n_urls);
}

/* The xmlUrl of every <outline> of an OPML document, at any depth. */
static int collect_outlines(xmlNodePtr n, const char ***urls, size_t *count,
                            size_t *cap) {
  for (; n; n = n->next) {
    xmlChar *u;

    if (n->type != XML_ELEMENT_NODE)
      continue;
    if (strcasecmp((const char *)n->name, "outline") == 0 &&
        (u = xmlGetProp(n, (const xmlChar *)"xmlUrl"))) {
      void *grown = uvf_cli_grow(*urls, *count, cap, sizeof(char *), 64);

      if (!grown || !is_http_url((const char *)u)) {
        xmlFree(u);
        if (!grown)
          return -ENOMEM;
      } else {
        *urls = grown;
        (*urls)[(*count)++] = (const char *)u;
      }
    }
    if (collect_outlines(n->children, urls, count, cap) != 0)
      return -ENOMEM;
  }
  return 0;
}

static int cmd_import(const uvf_cli_args *a, sqlite3 *db) {
  const char **urls = NULL;
  size_t n = 0, cap = 0, i;
  xmlDocPtr doc;
  int rc;

  if (a->n_urls != 1)
    return uvf_cli_usage("feeds import: give one OPML file");
  /* No network, no DTD, no entity substituted: an OPML file is data. */
  doc = xmlReadFile(a->urls[0], NULL,
                    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
  if (!doc) {
    uvf_cli_error("feeds import: %s: not a readable XML file", a->urls[0]);
    return -EINVAL;
  }
  rc = collect_outlines(xmlDocGetRootElement(doc), &urls, &n, &cap);
  if (rc == 0)
    rc = add_urls(db, a->db_path, urls, n);
  else
    uvf_cli_error("out of memory");
  for (i = 0; i < n; i++)
    xmlFree((void *)urls[i]);
  free(urls);
  xmlFreeDoc(doc);
  return rc;
}

/* Writes the current row of st as one JSON object: names[i] is column i;
 * a name starting with '#' is a number. */
static void row_json(uvf_cli_buf *b, sqlite3_stmt *st,
                     const char *const *names) {
  int i, n = sqlite3_column_count(st);

  uvf_cli_buf_reset(b);
  uvf_cli_buf_add(b, "{", 1);
  for (i = 0; i < n && names[i]; i++) {
    const char *name = names[i] + (names[i][0] == '#');

    uvf_cli_buf_printf(b, "%s\"%s\":", i ? "," : "", name);
    if (sqlite3_column_type(st, i) == SQLITE_NULL)
      uvf_cli_buf_puts(b, "null");
    else if (names[i][0] == '#')
      uvf_cli_buf_printf(b, "%lld", (long long)sqlite3_column_int64(st, i));
    else
      uvf_cli_json_str(b, (const char *)sqlite3_column_text(st, i));
  }
  uvf_cli_buf_add(b, "}\n", 2);
}

/* Prints every row of st as JSON lines. */
static int print_rows(sqlite3 *db, sqlite3_stmt *st, const char *path,
                      const char *const *names) {
  uvf_cli_buf b = {0};
  int rc;

  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    row_json(&b, st, names);
    if (b.oom || fwrite(b.data, 1, b.len, stdout) != b.len) {
      uvf_cli_buf_free(&b);
      uvf_cli_error("cannot write: %s", b.oom ? "out of memory" : "output");
      return -EIO;
    }
  }
  uvf_cli_buf_free(&b);
  return rc == SQLITE_DONE ? 0 : sql_failed(db, path);
}

static int cmd_list(const uvf_cli_args *a, sqlite3 *db) {
  static const char *const names[] = {
      "#id",           "url",        "title",   "#next_check", "#last_check",
      "#status",       "last_error", "#errors", "#gone",       "etag",
      "last_modified", "#items",     NULL};
  sqlite3_stmt *st;
  int rc;

  if (sqlite3_prepare_v2(
          db,
          "SELECT id, url, title, next_check, last_check, last_status,"
          " last_error, errors, gone, etag, last_modified,"
          " (SELECT count(*) FROM items WHERE feed = feeds.id)"
          " FROM feeds ORDER BY id",
          -1, &st, NULL) != SQLITE_OK)
    return sql_failed(db, a->db_path);
  rc = print_rows(db, st, a->db_path, names);
  sqlite3_finalize(st);
  return rc;
}

static int cmd_items(const uvf_cli_args *a, sqlite3 *db) {
  static const char *const names[] = {
      "feed",       "uid",      "title",       "link",     "summary", "author",
      "#published", "#updated", "#first_seen", "#changed", NULL};
  sqlite3_stmt *st;
  int rc;

  if (a->n_urls > 1)
    return uvf_cli_usage("feeds items: at most one feed URL");
  if (sqlite3_prepare_v2(
          db,
          "SELECT f.url, i.uid, i.title, i.link, i.summary, i.author,"
          " i.published, i.updated, i.first_seen, i.changed"
          " FROM items i JOIN feeds f ON f.id = i.feed"
          " WHERE ?1 IS NULL OR f.url = ?1"
          " ORDER BY i.changed DESC, i.id DESC LIMIT ?2",
          -1, &st, NULL) != SQLITE_OK)
    return sql_failed(db, a->db_path);
  if (a->n_urls == 1)
    sqlite3_bind_text(st, 1, a->urls[0], -1, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, a->limit > 0 ? a->limit : DEFAULT_LIMIT);
  rc = print_rows(db, st, a->db_path, names);
  sqlite3_finalize(st);
  return rc;
}

/* add, import, list, items: one short session each. */
static int offline(const char *cmd, const uvf_cli_args *a) {
  int (*fn)(const uvf_cli_args *, sqlite3 *) =
      strcmp(cmd, "add") == 0      ? cmd_add
      : strcmp(cmd, "import") == 0 ? cmd_import
      : strcmp(cmd, "list") == 0   ? cmd_list
                                   : cmd_items;
  sqlite3 *db;
  int rc;

  if (fn != cmd_add && fn != cmd_import && fn != cmd_items && a->n_urls > 0)
    return uvf_cli_usage("feeds %s takes no arguments", cmd);
  if ((rc = open_db(&db, a->db_path)) != 0)
    return rc;
  rc = fn(a, db);
  if (sqlite3_close(db) != SQLITE_OK && rc == 0)
    rc = -EIO;
  return rc;
}

static int known(const char *cmd) {
  static const char *const cmds[] = {"add", "import", "list", "items", "run"};
  size_t i;

  for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
    if (strcmp(cmd, cmds[i]) == 0)
      return 1;
  return 0;
}

int uvf_cli_feeds_main(int argc, char **argv) {
  uvf_cli_args a;
  const char *cmd = argc > 1 ? argv[1] : NULL;
  int rc, status;

  if (cmd && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)) {
    fputs(uvf_cli_feeds_help, stdout);
    return UVF_CLI_EXIT_OK;
  }
  if (!cmd || !known(cmd)) {
    uvf_cli_usage("feeds: %s%s%s", cmd ? "unknown command '" : "no command",
                  cmd ? cmd : "", cmd ? "'" : "");
    return UVF_CLI_EXIT_USAGE;
  }
  rc = uvf_cli_args_parse_feeds(&a, argc - 1, argv + 1);
  uvf_cli_msgs_quiet(a.quiet);
  if (rc == 0 && !a.db_path)
    rc = uvf_cli_usage("feeds %s: --db FILE is required", cmd);
  if (rc != 0) {
    uvf_cli_args_free(&a);
    return rc > 0 ? UVF_CLI_EXIT_OK : UVF_CLI_EXIT_USAGE;
  }
  if (strcmp(cmd, "run") == 0)
    status = uvf_cli_feeds_run(&a);
  else if ((rc = offline(cmd, &a)) == 0)
    status = UVF_CLI_EXIT_OK;
  else
    status = rc == -EINVAL ? UVF_CLI_EXIT_USAGE : UVF_CLI_EXIT_LOCAL;
  uvf_cli_args_free(&a);
  if (fflush(stdout) != 0 && status == UVF_CLI_EXIT_OK)
    status = UVF_CLI_EXIT_FAILED;
  return status;
}
