/* Command-line parsing, --help and --version. Keep the help text, the
 * defaults set in set_defaults() and doc/uvfetch.1 in step. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"

#define MAX_PARALLEL 100000u
#define MAX_PROCS 256
#define MAX_SHARDS 1000000u
#define MAX_SECONDS (INT_MAX / 1000) /* so milliseconds fit in a long */

/* The options: those with a short form are its letter, the others come
 * after every letter. */
enum {
  OPT_INPUT = 'i',
  OPT_PARALLEL = 'j',
  OPT_HEADER = 'H',
  OPT_USER_AGENT = 'A',
  OPT_INSECURE = 'k',
  OPT_OUTPUT_DIR = 'o',
  OPT_QUIET = 'q',
  OPT_HELP = 'h',
  OPT_VERSION = 'V',
  OPT_REQUEST = 'X',
  OPT_DATA = 'd',
  OPT_PER_HOST = 256,
  OPT_TIMEOUT,
  OPT_CONNECT_TIMEOUT,
  OPT_MAX_REDIRS,
  OPT_NO_FOLLOW,
  OPT_MAX_BODY,
  OPT_COMPRESSED,
  OPT_ORDER,
  OPT_PROGRESS,
  OPT_NO_PROGRESS,
  OPT_RETRY,
  OPT_RETRY_DELAY,
  OPT_RETRY_MAX_DELAY,
  OPT_LOW_SPEED,
  OPT_LOW_SPEED_TIME,
  OPT_RATE,
  OPT_JOURNAL,
  OPT_MAX_LOOKUPS,
  OPT_MAX_HANDSHAKES,
  OPT_GRACE,
  OPT_CACERT,
  OPT_CAPATH,
  OPT_HTTP1_1,
  OPT_HTTP2,
  OPT_HTTP2_PRIOR,
  OPT_MAX_STREAMS,
  OPT_DB,
  OPT_DB_BODIES,
  OPT_NO_CONDITIONAL,
  OPT_ALL,
  OPT_LIMIT,
  OPT_JSON,
  OPT_RETRY_ALL_METHODS,
  OPT_HEADERS,
  OPT_MAX_HEADER_BYTES,
  OPT_INPUT_FORMAT,
  OPT_PROCS,
  OPT_PIN,
  OPT_SHARD,
  OPT_SHARD_BY,
  OPT_WORKER
};

static const char short_opts[] = ":i:j:H:A:ko:qhVX:d:";

static const struct option long_opts[] = {
    {"input", required_argument, NULL, OPT_INPUT},
    {"parallel", required_argument, NULL, OPT_PARALLEL},
    {"per-host", required_argument, NULL, OPT_PER_HOST},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"max-redirs", required_argument, NULL, OPT_MAX_REDIRS},
    {"no-follow", no_argument, NULL, OPT_NO_FOLLOW},
    {"header", required_argument, NULL, OPT_HEADER},
    {"user-agent", required_argument, NULL, OPT_USER_AGENT},
    {"max-body", required_argument, NULL, OPT_MAX_BODY},
    {"retry", required_argument, NULL, OPT_RETRY},
    {"low-speed", required_argument, NULL, OPT_LOW_SPEED},
    {"rate", required_argument, NULL, OPT_RATE},
    {"max-lookups", required_argument, NULL, OPT_MAX_LOOKUPS},
    {"max-handshakes", required_argument, NULL, OPT_MAX_HANDSHAKES},
    {"low-speed-time", required_argument, NULL, OPT_LOW_SPEED_TIME},
    {"retry-delay", required_argument, NULL, OPT_RETRY_DELAY},
    {"retry-max-delay", required_argument, NULL, OPT_RETRY_MAX_DELAY},
    {"compressed", no_argument, NULL, OPT_COMPRESSED},
    {"insecure", no_argument, NULL, OPT_INSECURE},
    {"cacert", required_argument, NULL, OPT_CACERT},
    {"capath", required_argument, NULL, OPT_CAPATH},
    {"http1.1", no_argument, NULL, OPT_HTTP1_1},
    {"http2", no_argument, NULL, OPT_HTTP2},
    {"http2-prior-knowledge", no_argument, NULL, OPT_HTTP2_PRIOR},
    {"max-streams", required_argument, NULL, OPT_MAX_STREAMS},
    {"request", required_argument, NULL, OPT_REQUEST},
    {"data", required_argument, NULL, OPT_DATA},
    {"json", required_argument, NULL, OPT_JSON},
    {"retry-all-methods", no_argument, NULL, OPT_RETRY_ALL_METHODS},
    {"headers", no_argument, NULL, OPT_HEADERS},
    {"max-header-bytes", required_argument, NULL, OPT_MAX_HEADER_BYTES},
    {"input-format", required_argument, NULL, OPT_INPUT_FORMAT},
    {"procs", required_argument, NULL, OPT_PROCS},
    {"pin", no_argument, NULL, OPT_PIN},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"shard-by", required_argument, NULL, OPT_SHARD_BY},
    {"worker", required_argument, NULL, OPT_WORKER}, /* not in --help */
    {"output-dir", required_argument, NULL, OPT_OUTPUT_DIR},
    {"order", required_argument, NULL, OPT_ORDER},
    {"journal", required_argument, NULL, OPT_JOURNAL},
    {"grace", required_argument, NULL, OPT_GRACE},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"progress", no_argument, NULL, OPT_PROGRESS},
    {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
    {"db", required_argument, NULL, OPT_DB},
    {"db-bodies", no_argument, NULL, OPT_DB_BODIES},
    {"no-conditional", no_argument, NULL, OPT_NO_CONDITIONAL},
    {"all", no_argument, NULL, OPT_ALL},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0}};

static const char help_text[] =
    "Usage: uvfetch [options] [URL...]\n"
    "Fetch many http and https URLs at once on one event loop. One JSON line\n"
    "per URL goes to standard output, in input order unless --order done.\n"
    "URL arguments come first, then the lines of the -i file.\n"
    "\n"
    "Input:\n"
    "  -i, --input FILE          URLs, one a line ('-' = standard input);\n"
    "                            blank lines and '#' comments are skipped\n"
    "      --input-format urls|jsonl\n"
    "                            read every line as a URL, or as a request\n"
    "                            (a JSON object: url, method, headers, body,\n"
    "                            body_base64, json, tag); default: a line\n"
    "                            starting with '{' is a request\n"
    "Requests (for every line that does not say otherwise):\n"
    "  -X, --request METHOD      method (default GET, or POST with a body)\n"
    "  -d, --data STRING|@FILE   send a body, byte for byte (a POST)\n"
    "      --json STRING|@FILE   send a JSON body, with Content-Type and\n"
    "                            Accept: application/json\n"
    "Transfers:\n"
    "  -j, --parallel N          transfers at once, 1..100000 (default 50)\n"
    "      --per-host M          transfers at once per host, 0 = no cap\n"
    "                            (default 0)\n"
    "      --timeout SEC         limit for a whole transfer, 0 = none\n"
    "                            (default 30)\n"
    "      --connect-timeout SEC limit for connecting (default 10)\n"
    "      --max-lookups N       host-name lookups at once, 0 = no cap\n"
    "                            (default 64)\n"
    "      --max-handshakes N    https connections being set up at once,\n"
    "                            0 = no cap (default 0): a lower memory\n"
    "                            peak for bursts of new TLS connections\n"
    "      --max-redirs N        redirects to follow, -1 = none (default 10)\n"
    "      --no-follow           do not follow redirects (--max-redirs -1)\n"
    "  -H, --header 'NAME: VALUE'\n"
    "                            extra request header; repeatable\n"
    "  -A, --user-agent AGENT    User-Agent (default "
    "uvfetch/" UVF_VERSION_STRING ")\n"
    "      --max-body BYTES      fail a body over BYTES; suffixes k, M, G\n"
    "                            (default 0 = no limit)\n"
    "      --compressed          request a compressed response, decode it\n"
    "      --rate R              start at most R requests a second per host,\n"
    "                            evenly spaced (default 0 = no limit)\n"
    "      --low-speed BYTES     end a transfer slower than BYTES/s for\n"
    "                            --low-speed-time seconds (timeout)\n"
    "      --low-speed-time SEC  (default 30 when --low-speed is given)\n"
    "      --retry N             retry a URL up to N times after a connect\n"
    "                            error, timeout, reset or HTTP 408, 429,\n"
    "                            500, 502, 503, 504 (default 0)\n"
    "      --retry-delay SEC     backoff base: wait a random time up to\n"
    "                            SEC x 2^(retries so far) (default 0.5)\n"
    "      --retry-max-delay SEC longest wait, Retry-After included\n"
    "                            (default 30)\n"
    "      --retry-all-methods   retry any method; by default only GET, HEAD,\n"
    "                            PUT, DELETE, OPTIONS, TRACE and requests "
    "with\n"
    "                            an Idempotency-Key (any method after a\n"
    "                            refused connection)\n"
    "      --http1.1             speak HTTP/1.1 only\n"
    "      --http2               HTTP/2 over TLS when the server offers it,\n"
    "                            else HTTP/1.1 (the default)\n"
    "      --http2-prior-knowledge\n"
    "                            HTTP/2 without asking, http:// too (h2c)\n"
    "      --max-streams N       HTTP/2 requests at once on one connection,\n"
    "                            1..65535 (default 100); the server's own\n"
    "                            limit holds too\n"
    "  -k, --insecure            do not verify TLS certificates\n"
    "      --cacert FILE         trust the CAs in FILE (PEM) instead of the\n"
    "                            system's bundle\n"
    "      --capath DIR          trust the CAs in DIR (hashed, as made by\n"
    "                            openssl rehash) instead of the system's\n"
    "More cores, more machines:\n"
    "      --procs K             K worker processes, one event loop each;\n"
    "                            each URL goes to one by its scheme, host\n"
    "                            and port, -j N is shared out among them;\n"
    "                            one report, journal and summary as with one\n"
    "                            (default 1)\n"
    "      --pin                 with --procs, pin each worker to a core\n"
    "      --shard I/N           fetch only the URLs of shard I of N\n"
    "                            (0..N-1), routed as --procs routes them;\n"
    "                            records keep their index in the whole\n"
    "                            input (join the reports: uvfetch merge)\n"
    "      --shard-by host|url   route by scheme, host and port (default),\n"
    "                            or by the whole line, for inputs of one\n"
    "                            host: --per-host and --rate then hold per\n"
    "                            shard or worker\n"
    "Output:\n"
    "  -o, --output-dir DIR      save each body as DIR/INDEX (created if\n"
    "                            missing); default: bodies are discarded\n"
    "      --order input|done    order of the report lines (default input)\n"
    "      --headers             put the response's headers in the record\n"
    "      --max-header-bytes BYTES\n"
    "                            with --headers: fail a transfer whose\n"
    "                            responses' headers pass BYTES (protocol);\n"
    "                            0 = no limit (default 64k)\n"
    "      --db FILE             also keep each record in the SQLite database\n"
    "                            FILE (created if missing), in batched\n"
    "                            transactions written by a thread of its own;\n"
    "                            a URL stored with an ETag or Last-Modified\n"
    "                            is asked for with them (304 if unchanged)\n"
    "      --db-bodies           with --db, keep each body there too\n"
    "      --no-conditional      with --db, do not send a URL's stored ETag\n"
    "                            and Last-Modified back: fetch it whole\n"
    "Interruptions:\n"
    "      --journal FILE        keep each finished record in FILE; run the\n"
    "                            same command again to resume: URLs done\n"
    "                            are not fetched again and the report is\n"
    "                            the one an uninterrupted run would give\n"
    "      --grace SEC           on SIGINT, SIGTERM or SIGHUP, start nothing\n"
    "                            more and give transfers in flight SEC\n"
    "                            seconds before aborting them (default 5); a\n"
    "                            second signal exits at once\n"
    "  -q, --quiet               no progress line and no summary\n"
    "      --progress            show the progress line on standard error\n"
    "                            (default: only if it is a terminal)\n"
    "      --no-progress         do not show the progress line\n"
    "  -h, --help                show this help and exit\n"
    "  -V, --version             show versions and exit\n"
    "\n"
    "Collecting feeds: uvfetch feeds --help.\n"
    "Merging shard reports: uvfetch merge --help.\n"
    "\n"
    "Report fields: index url ok status error message bytes attempts\n"
    "history time_total final_url http_version, then file with -o,\n"
    "headers with --headers, and tag for a request that has one.\n"
    "Exit status: 0 every URL fetched with a 2xx status, 1 some failed,\n"
    "2 usage or setup error, 3 stopped by a local error (the journal or the\n"
    "report could not be written, the input could not be read), 130\n"
    "interrupted, 141 the reader of the report went away (as in\n"
    "`uvfetch ... | head`).\n";

/* The name of an option as the user could have typed it. */
static const char *opt_name(int val, int long_index) {
  static char name[32];
  size_t i = long_index >= 0 ? (size_t)long_index : 0;

  for (; long_index < 0 && long_opts[i].name; i++)
    if (long_opts[i].val == val && val >= 256)
      break;
  if (long_opts[i].name)
    snprintf(name, sizeof(name), "--%s", long_opts[i].name);
  else
    snprintf(name, sizeof(name), "-%c", val);
  return name;
}

static int parse_long(const char *s, long min, long max, long *out) {
  char *end;
  long v;

  errno = 0;
  v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
    return -EINVAL;
  *out = v;
  return 0;
}

/* A finite number from 0 to max, the whole of s. Returns 0 or -EINVAL. */
static int parse_double(const char *s, double max, double *out) {
  char *end;
  double v;

  errno = 0;
  v = strtod(s, &end);
  if (errno != 0 || end == s || *end != '\0' || !isfinite(v) || v < 0 ||
      v > max)
    return -EINVAL;
  *out = v;
  return 0;
}

static int parse_seconds(const char *s, long *ms) {
  double v;

  if (parse_double(s, MAX_SECONDS, &v) != 0)
    return -EINVAL;
  *ms = lround(v * 1000.0);
  if (*ms == 0 && v > 0) /* 0 would mean "no limit" */
    *ms = 1;
  return 0;
}

/* Requests a second: 0 (no limit), or at least the library's least, one
 * every 1000 s; less would overflow its spacing, or mean nothing. */
#define MIN_RATE 0.001

static int parse_rate(const char *s, double *out) {
  double r;

  if (parse_double(s, 1e6, &r) != 0 || (r > 0 && r < MIN_RATE))
    return -EINVAL;
  *out = r;
  return 0;
}

/* Size suffixes, two by two: k, M, G (any case). */
static const char units[] = "kKmMgG";

static int parse_bytes(const char *s, uint64_t *out) {
  char *end;
  const char *unit;
  unsigned long long v;
  unsigned shift = 0;

  if (*s == '-' || *s == '+')
    return -EINVAL;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || end == s)
    return -EINVAL;
  if (*end && (unit = strchr(units, *end))) {
    shift = 10 * (1 + (unsigned)(unit - units) / 2);
    end++;
  }
  /* libcurl takes a size as a signed 64-bit curl_off_t */
  if (*end != '\0' || v > ((uint64_t)INT64_MAX >> shift))
    return -EINVAL;
  *out = (uint64_t)v << shift;
  return 0;
}

/* A header line must not smuggle extra lines into the request. */
/* "Name: value", "Name:" (removes a header libcurl would send) or, as in
 * curl, "Name;" (sends it with an empty value). The name has no blank:
 * "Name : v" is one a server must reject. */
static int header_ok(const char *h) {
  size_t name = strcspn(h, ":;");

  if (name == 0 || h[name] == '\0' || strcspn(h, " \t") < name ||
      strpbrk(h, "\r\n"))
    return 0;
  return h[name] == ':' || h[name + 1] == '\0'; /* libcurl wants ";" last */
}

static int add_header(uvf_cli_args *a, const char *h) {
  const char **grown;

  grown = realloc(a->headers, (a->n_headers + 1) * sizeof(*grown));
  if (!grown) {
    uvf_cli_error("out of memory");
    return -ENOMEM;
  }
  a->headers = grown;
  a->headers[a->n_headers++] = h;
  return 0;
}

static void set_defaults(uvf_cli_args *a) {
  memset(a, 0, sizeof(*a));
  uvf_options_init(&a->fetch);
  /* Pinned here because --help and the man page promise them. */
  a->fetch.max_in_flight = 50;
  a->fetch.max_per_host = 0;
  a->fetch.timeout_ms = 30000;
  a->fetch.connect_timeout_ms = 10000;
  a->fetch.max_redirects = 10;
  a->fetch.max_body = 0;
  a->order = "input";
  a->progress = UVF_CLI_PROGRESS_AUTO;
  a->grace_ms = 5000;
}

static void print_version(void) {
  printf("uvfetch %s\n", UVF_VERSION_STRING);
  printf("libuvfetch %s, libcurl %s, libuv %s\n", uvf_version(),
         curl_version_info(CURLVERSION_NOW)->version, uv_version_string());
}

/* How an option's number is read and stored, and what it must be. */
enum {
  COUNT,   /* unsigned, min to max */
  LONG,    /* long, min up */
  WHOLE,   /* long, min up, said "a whole number" */
  SECONDS, /* long milliseconds, from a number of seconds */
  RATE,    /* double, requests a second */
  BYTES    /* uint64_t, with a k, M or G suffix */
};

typedef struct number_rule {
  int val;
  int kind;
  long min, max; /* COUNT, LONG, WHOLE */
  size_t at;     /* offset of the value in uvf_cli_args */
} number_rule;

#define AT(field) offsetof(uvf_cli_args, field)

static const number_rule numbers[] = {
    {OPT_PARALLEL, COUNT, 1, MAX_PARALLEL, AT(fetch.max_in_flight)},
    {OPT_PER_HOST, COUNT, 0, MAX_PARALLEL, AT(fetch.max_per_host)},
    {OPT_MAX_LOOKUPS, COUNT, 0, MAX_PARALLEL, AT(fetch.max_lookups)},
    {OPT_MAX_HANDSHAKES, COUNT, 0, MAX_PARALLEL, AT(fetch.max_handshakes)},
    {OPT_MAX_STREAMS, COUNT, 1, 65535, AT(fetch.max_streams)},
    {OPT_PROCS, COUNT, 1, MAX_PROCS, AT(procs)},
    {OPT_RETRY, COUNT, 0, 100, AT(fetch.max_retries)},
    {OPT_MAX_REDIRS, LONG, -1, INT_MAX, AT(fetch.max_redirects)},
    {OPT_LOW_SPEED, WHOLE, 0, INT_MAX, AT(fetch.low_speed_limit)},
    {OPT_LOW_SPEED_TIME, WHOLE, 0, INT_MAX, AT(fetch.low_speed_time)},
    {OPT_TIMEOUT, SECONDS, 0, 0, AT(fetch.timeout_ms)},
    {OPT_CONNECT_TIMEOUT, SECONDS, 0, 0, AT(fetch.connect_timeout_ms)},
    {OPT_RETRY_DELAY, SECONDS, 0, 0, AT(fetch.retry_base_ms)},
    {OPT_RETRY_MAX_DELAY, SECONDS, 0, 0, AT(fetch.retry_max_ms)},
    {OPT_GRACE, SECONDS, 0, 0, AT(grace_ms)},
    {OPT_RATE, RATE, 0, 0, AT(fetch.rate_per_host)},
    {OPT_MAX_BODY, BYTES, 0, 0, AT(fetch.max_body)},
    {OPT_LIMIT, LONG, 1, LONG_MAX, AT(limit)},
    {OPT_MAX_HEADER_BYTES, BYTES, 0, 0, AT(fetch.max_header_bytes)},
};

/* Reads v into *to, of the type o->kind says. Returns 0 or -EINVAL. */
static int read_number(const number_rule *o, const char *v, void *to) {
  long n = 0;
  int rc;

  switch (o->kind) {
  case SECONDS: return parse_seconds(v, to);
  case RATE: return parse_rate(v, to);
  case BYTES: return parse_bytes(v, to);
  }
  rc = parse_long(v, o->min, o->max, &n);
  if (rc == 0 && o->kind == COUNT)
    *(unsigned *)to = (unsigned)n;
  else if (rc == 0)
    *(long *)to = n;
  return rc;
}

/* Says what the value of option `name` must be; returns -EINVAL. */
static int bad_number(const number_rule *o, const char *name, const char *v) {
  switch (o->kind) {
  case COUNT:
    return uvf_cli_usage("option %s: '%s' is not a number from %ld to %ld",
                         name, v, o->min, o->max);
  case LONG:
    return uvf_cli_usage("option %s: '%s' is not a number from %ld up", name, v,
                         o->min);
  case WHOLE:
    return uvf_cli_usage("option %s: '%s' is not a whole number from %ld up",
                         name, v, o->min);
  case SECONDS:
    return uvf_cli_usage("option %s: '%s' is not a number of seconds "
                         "from 0 to %d",
                         name, v, MAX_SECONDS);
  case RATE:
    return uvf_cli_usage("option %s: '%s' is not 0 or a rate from %g (one "
                         "request every %g s) to 1000000 per second",
                         name, v, MIN_RATE, 1 / MIN_RATE);
  }
  return uvf_cli_usage("option %s: '%s' is not a size in bytes "
                       "(like 500000, 64k, 10M, 2G) up to %" PRId64,
                       name, v, INT64_MAX);
}

/* The options that take a number. Returns 0, or -EINVAL after a
 * message. */
static int number_opt(uvf_cli_args *a, int c, const char *name, const char *v) {
  size_t i;

  for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++)
    if (numbers[i].val == c)
      return read_number(&numbers[i], v, (char *)a + numbers[i].at) == 0
                 ? 0
                 : bad_number(&numbers[i], name, v);
  return uvf_cli_usage("option %s: not handled", name);
}

/* A CA file or directory that cannot be read would fail every https://
 * URL as `tls`: say so now instead. */
static int ca_opt(uvf_cli_args *a, int c, const char *name, const char *v) {
  int dir = c == OPT_CAPATH;
  struct stat st;

  if (stat(v, &st) != 0)
    return uvf_cli_usage("option %s: %s: %s", name, v, strerror(errno));
  if (dir ? !S_ISDIR(st.st_mode) : S_ISDIR(st.st_mode))
    return uvf_cli_usage("option %s: %s is %s", name, v,
                         dir ? "not a directory" : "a directory");
  if (access(v, dir ? R_OK | X_OK : R_OK) != 0)
    return uvf_cli_usage("option %s: %s: %s", name, v, strerror(errno));
  *(dir ? &a->fetch.ca_path : &a->fetch.ca_file) = v;
  return 0;
}

/* The options that take no value. Returns 1 if c is one. */
static int flag_opt(uvf_cli_args *a, int c) {
  switch (c) {
  case OPT_INSECURE: a->fetch.insecure = 1; break;
  case OPT_HTTP1_1: a->fetch.http_version = UVF_HTTP_1_1; break;
  case OPT_HTTP2: a->fetch.http_version = UVF_HTTP_AUTO; break;
  case OPT_HTTP2_PRIOR: a->fetch.http_version = UVF_HTTP_2_PRIOR; break;
  case OPT_QUIET: a->quiet = 1; break;
  case OPT_NO_FOLLOW: a->fetch.max_redirects = -1; break;
  case OPT_COMPRESSED: a->fetch.accept_encoding = ""; break;
  case OPT_PROGRESS: a->progress = UVF_CLI_PROGRESS_ON; break;
  case OPT_RETRY_ALL_METHODS: a->fetch.retry_all_methods = 1; break;
  case OPT_HEADERS: a->with_headers = 1; break;
  case OPT_NO_PROGRESS: a->progress = UVF_CLI_PROGRESS_OFF; break;
  case OPT_DB_BODIES: a->db_bodies = 1; break;
  case OPT_NO_CONDITIONAL: a->no_conditional = 1; break;
  case OPT_ALL: a->feeds_all = 1; break;
  case OPT_PIN: a->pin = 1; break;
  default: return 0;
  }
  return 1;
}

/* What an option's value names ("file", "directory"), which must not be
 * empty; NULL if it names none. */
static const char *names(int c) {
  switch (c) {
  case OPT_INPUT:
  case OPT_JOURNAL:
  case OPT_DB:
  case OPT_CACERT: return "file";
  case OPT_OUTPUT_DIR:
  case OPT_CAPATH: return "directory";
  }
  return NULL;
}

/* A method is an HTTP token (RFC 9110 5.6.2). */
static int method_ok(const char *m) {
  for (; *m; m++)
    if (!((*m >= 'a' && *m <= 'z') || (*m >= 'A' && *m <= 'Z') ||
          (*m >= '0' && *m <= '9') || strchr("!#$%&'*+-.^_`|~", *m)))
      return 0;
  return 1;
}

/* The whole of a file, read once for every request. Returns 0 or a
 * negative errno after a message. */
static int read_file(uvf_cli_args *a, const char *name, const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC), err = 0;
  size_t cap = 0;
  ssize_t n = 1;
  char *grown;

  if (fd < 0)
    return uvf_cli_usage("option %s: %s: %s", name, path, strerror(errno));
  free(a->data_owned);
  a->data_owned = NULL;
  a->data_len = 0;
  while (n > 0) {
    if (a->data_len == cap) {
      cap = cap ? 2 * cap : 65536;
      if (!(grown = realloc(a->data_owned, cap))) {
        err = ENOMEM;
        break;
      }
      a->data_owned = grown;
    }
    n = read(fd, a->data_owned + a->data_len, cap - a->data_len);
    if (n > 0)
      a->data_len += (size_t)n;
    else if (n < 0 && errno != EINTR)
      err = errno;
    else if (n < 0)
      n = 1;
  }
  close(fd);
  if (err)
    return uvf_cli_usage("option %s: %s: %s", name, path, strerror(err));
  a->data = a->data_owned ? a->data_owned : "";
  return 0;
}

/* -d and --json: the text, or the file after '@'. */
static int data_opt(uvf_cli_args *a, int c, const char *name, const char *v) {
  if (a->data && a->json != (c == OPT_JSON))
    return uvf_cli_usage("option %s: -d and --json cannot both be given", name);
  a->json = c == OPT_JSON;
  if (v[0] == '@')
    return read_file(a, name, v + 1);
  a->data = v;
  a->data_len = strlen(v);
  return 0;
}

/* The options that shape requests. Returns 0, 1 if c is none of them,
 * or -EINVAL after a message. */
static int request_opt(uvf_cli_args *a, int c, const char *name,
                       const char *v) {
  switch (c) {
  case OPT_REQUEST:
    if (!*v || !method_ok(v))
      return uvf_cli_usage("option %s: '%s' is not a method", name, v);
    a->method = v;
    return 0;
  case OPT_DATA:
  case OPT_JSON: return data_opt(a, c, name, v);
  case OPT_INPUT_FORMAT:
    if (strcmp(v, "urls") && strcmp(v, "jsonl"))
      return uvf_cli_usage("option %s: '%s' is not 'urls' or 'jsonl'", name, v);
    a->input_format = v[0] == 'u' ? UVF_CLI_INPUT_URLS : UVF_CLI_INPUT_JSONL;
    return 0;
  }
  return 1;
}

/* "I/N", shard I of N. Returns 0 or -EINVAL after a message. */
static int shard_opt(uvf_cli_args *a, const char *name, const char *v) {
  unsigned long i, n;
  char *end;

  errno = 0;
  i = strtoul(v, &end, 10);
  if (end != v && *end == '/' && v[0] != '-' && end[1] != '-') {
    const char *nv = end + 1;
    n = strtoul(nv, &end, 10);
    if (errno == 0 && end != nv && *end == '\0' && n >= 1 && n <= MAX_SHARDS &&
        i < n) {
      a->shard = (unsigned)i;
      a->shards = (unsigned)n;
      return 0;
    }
  }
  return uvf_cli_usage("option %s: '%s' is not I/N with 0 <= I < N <= %u", name,
                       v, MAX_SHARDS);
}

/* Hidden: "I:PPID", worker I of a parent --procs run. */
static int worker_opt(uvf_cli_args *a, const char *name, const char *v) {
  unsigned long i;
  long ppid;
  char *end;

  i = strtoul(v, &end, 10);
  if (end != v && *end == ':' && i < MAX_PROCS) {
    ppid = strtol(end + 1, &end, 10);
    if (*end == '\0' && ppid > 1) {
      a->worker = 1;
      a->worker_id = (unsigned)i;
      a->parent_pid = ppid;
      return 0;
    }
  }
  return uvf_cli_usage("option %s: '%s' is not I:PPID", name, v);
}

/* The options of --procs and --shard that take a value. Returns 0, 1 if
 * c is none of them, or -EINVAL after a message. */
static int scale_opt(uvf_cli_args *a, int c, const char *name, const char *v) {
  switch (c) {
  case OPT_SHARD: return shard_opt(a, name, v);
  case OPT_WORKER: return worker_opt(a, name, v);
  case OPT_SHARD_BY:
    if (strcmp(v, "host") && strcmp(v, "url"))
      return uvf_cli_usage("option %s: '%s' is not 'host' or 'url'", name, v);
    a->shard_by_url = v[0] == 'u';
    return 0;
  }
  return 1;
}

/* The options that take a value v. Returns 0, or -EINVAL after a
 * message. */
static int value_opt(uvf_cli_args *a, int c, const char *name, const char *v) {
  const char *what = names(c);
  int rc;

  if (what && *v == '\0')
    return uvf_cli_usage("option %s: empty %s name", name, what);
  if ((rc = request_opt(a, c, name, v)) <= 0 ||
      (rc = scale_opt(a, c, name, v)) <= 0)
    return rc;
  switch (c) {
  case OPT_INPUT:
    if (a->input_path)
      return uvf_cli_usage("option %s: only one input file can be given", name);
    a->input_path = v;
    return 0;
  case OPT_HEADER:
    if (!header_ok(v))
      return uvf_cli_usage("option %s: '%s' is not 'Name: value'", name, v);
    return add_header(a, v);
  case OPT_USER_AGENT:
    if (strpbrk(v, "\r\n"))
      return uvf_cli_usage("option %s: line breaks are not allowed", name);
    a->fetch.user_agent = v;
    return 0;
  case OPT_JOURNAL: a->journal_path = v; return 0;
  case OPT_DB: a->db_path = v; return 0;
  case OPT_CACERT:
  case OPT_CAPATH: return ca_opt(a, c, name, v);
  case OPT_OUTPUT_DIR: a->output_dir = v; return 0;
  case OPT_ORDER:
    if (!uvf_cli_sink_known(v))
      return uvf_cli_usage("option %s: '%s' is not 'input' or 'done'", name, v);
    a->order = v;
    return 0;
  }
  return number_opt(a, c, name, v);
}

/* What getopt_long() said it could not take: a missing value (':') or an
 * unknown option ('?'). Returns -EINVAL after a message. */
static int bad_opt(int c, char **argv) {
  const char *typed = argv[optind - 1];
  int is_long = strncmp(typed, "--", 2) == 0;

  if (c == ':')
    return uvf_cli_usage("option %s needs a value",
                         is_long ? typed : opt_name(optopt, -1));
  if (is_long)
    return uvf_cli_usage("unknown or ambiguous option, or misused value: %s",
                         typed);
  return uvf_cli_usage("unknown option -%c", optopt);
}

/* Options that mean nothing to `uvfetch feeds`, and those that mean
 * nothing elsewhere. */
static int misplaced(const uvf_cli_args *a, int c) {
  switch (c) {
  case OPT_INPUT:
  case OPT_OUTPUT_DIR:
  case OPT_ORDER:
  case OPT_JOURNAL:
  case OPT_DB_BODIES:
  case OPT_NO_CONDITIONAL:
  case OPT_PROCS:
  case OPT_PIN:
  case OPT_SHARD:
  case OPT_SHARD_BY:
  case OPT_WORKER: return a->feeds;
  case OPT_ALL:
  case OPT_LIMIT: return !a->feeds;
  }
  return 0;
}

/* Returns 0 to go on, 1 after --help or --version, or a negative errno
 * after a message. */
static int one_opt(uvf_cli_args *a, int c, int long_index, char **argv) {
  if (misplaced(a, c))
    return uvf_cli_usage("option %s: not for %s", opt_name(c, long_index),
                         a->feeds ? "uvfetch feeds" : "a fetch");
  switch (c) {
  case OPT_HELP:
    fputs(a->feeds ? uvf_cli_feeds_help : help_text, stdout);
    return 1;
  case OPT_VERSION: print_version(); return 1;
  case ':':
  case '?': return bad_opt(c, argv);
  }
  if (flag_opt(a, c))
    return 0;
  return value_opt(a, c, opt_name(c, long_index), optarg);
}

static int has_header(const uvf_cli_args *a, const char *name) {
  size_t n = strlen(name), i;

  for (i = 0; i < a->n_headers; i++)
    if (strncasecmp(a->headers[i], name, n) == 0 &&
        (a->headers[i][n] == ':' || a->headers[i][n] == ';'))
      return 1;
  return 0;
}

/* --json sends what curl 7.82's does, unless -H says otherwise. */
static int json_headers(uvf_cli_args *a) {
  int rc = 0;

  if (!has_header(a, "Content-Type"))
    rc = add_header(a, "Content-Type: application/json");
  if (rc == 0 && !has_header(a, "Accept"))
    rc = add_header(a, "Accept: application/json");
  return rc;
}

static int parse(uvf_cli_args *a, int argc, char **argv) {
  int c;
  int long_index;
  int rc;

  opterr = 0; /* our messages, with our prefix */
  for (;;) {
    long_index = -1;
    c = getopt_long(argc, argv, short_opts, long_opts, &long_index);
    if (c == -1)
      break;
    rc = one_opt(a, c, long_index, argv);
    if (rc != 0)
      return rc;
  }
  if (a->fetch.low_speed_time > 0 && a->fetch.low_speed_limit == 0)
    uvf_cli_warn("--low-speed-time has no effect without "
                 "--low-speed");
  a->urls = argv + optind;
  a->n_urls = (size_t)(argc - optind);
  a->max_body_given = a->fetch.max_body != 0;
  if (a->json && (rc = json_headers(a)) != 0)
    return rc;
  a->fetch.headers = a->headers;
  a->fetch.n_headers = a->n_headers;
  if (a->db_bodies && !a->db_path)
    return uvf_cli_usage("--db-bodies needs --db FILE");
  if (a->no_conditional && !a->db_path)
    return uvf_cli_usage("--no-conditional needs --db FILE");
  if (a->db_bodies && a->output_dir)
    return uvf_cli_usage("--db-bodies and -o: keep bodies in one place");
  a->fetch.keep_body |= a->db_bodies;
  /* The database keeps the validators of each reply, and the collector
   * reads its Cache-Control, Expires and Retry-After: headers are kept
   * for it, but go into records only with --headers. */
  a->fetch.keep_headers = a->with_headers || a->db_path;
  return 0;
}

int uvf_cli_args_parse_feeds(uvf_cli_args *a, int argc, char **argv) {
  set_defaults(a);
  a->feeds = 1;
  optind = 1; /* argv[0] is the subcommand */
  return parse(a, argc, argv);
}

/* A worker of --procs reads its parent's frames on standard input and
 * hands it every record there, in completion order: the parent has the
 * input, the journal, the report, the progress line and the summary. */
static void as_worker(uvf_cli_args *a) {
  a->input_path = "-";
  a->n_urls = 0;
  a->journal_path = NULL;
  a->db_path = NULL;
  a->quiet = 1;
  a->progress = UVF_CLI_PROGRESS_OFF;
  a->order = "done";
  a->shards = 0;
  a->procs = 0;
}

/* What --procs and --shard need of the other options. */
static int check_scale(uvf_cli_args *a) {
  if (a->procs <= 1) {
    if (a->pin)
      uvf_cli_warn("--pin has no effect without --procs");
    return 0;
  }
  if (a->db_path)
    return uvf_cli_usage("--db cannot be used with --procs");
  if (a->fetch.max_in_flight < a->procs)
    return uvf_cli_usage("-j %u is less than --procs %u: each worker needs "
                         "at least one transfer",
                         a->fetch.max_in_flight, a->procs);
  return 0;
}

int uvf_cli_args_parse(uvf_cli_args *a, int argc, char **argv) {
  int rc;

  set_defaults(a);
  if ((rc = parse(a, argc, argv)) != 0)
    return rc;
  /* getopt_long() has moved the options ahead of the URLs: the workers
   * are given the options only. */
  a->argv = argv;
  a->argc = optind;
  if (a->worker) {
    as_worker(a);
    return 0;
  }
  if (a->n_urls == 0 && !a->input_path)
    return uvf_cli_usage("no URLs: give them as arguments or with -i FILE");
  return check_scale(a);
}

void uvf_cli_args_free(uvf_cli_args *a) {
  free(a->data_owned);
  a->data_owned = NULL;
  free(a->headers);
  a->headers = NULL;
  a->n_headers = 0;
}
