/* When to check a feed again: after a good reply, from what the feed and
 * the reply say (the feed's <ttl>, Cache-Control, Expires, Retry-After)
 * within 5 minutes and 24 hours; after failures, a backoff that doubles.
 * The numbers a server gives are clamped: one that asks for a check every
 * second would hammer it, one that asks for a year would lose the feed. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "feeds.h"

static long clamp(long s) {
  if (s < UVF_CLI_FEED_MIN_INTERVAL)
    return UVF_CLI_FEED_MIN_INTERVAL;
  if (s > UVF_CLI_FEED_MAX_INTERVAL)
    return UVF_CLI_FEED_MAX_INTERVAL;
  return s;
}

long uvf_cli_feed_interval(const uvf_cli_feed_hints *h) {
  long best = 0;

  /* The longest wins: each is a server's wish not to be asked sooner. */
  if (h->ttl > best)
    best = h->ttl;
  if (h->max_age > best)
    best = h->max_age;
  if (h->expires > best)
    best = h->expires;
  if (h->retry_after > best)
    best = h->retry_after;
  if (h->max_age < 0 && best == 0) /* no-cache: as often as allowed */
    return UVF_CLI_FEED_MIN_INTERVAL;
  return clamp(best > 0 ? best : UVF_CLI_FEED_DEFAULT_INTERVAL);
}

long uvf_cli_feed_backoff(unsigned errors, long retry_after) {
  long s = UVF_CLI_FEED_MIN_INTERVAL;
  unsigned i;

  for (i = 1; i < errors && s < UVF_CLI_FEED_MAX_INTERVAL; i++)
    s *= 2;
  if (retry_after > s)
    s = retry_after;
  return clamp(s);
}

/* The number after "name=" in a Cache-Control list, or -1. */
static long directive(const char *cc, const char *name) {
  size_t n = strlen(name);
  const char *p = cc;

  while ((p = strcasestr(p, name))) {
    int starts = p == cc || p[-1] == ',' || isspace((unsigned char)p[-1]);

    p += n;
    if (starts && *p == '=') {
      p++;
      if (*p == '"')
        p++;
      if (isdigit((unsigned char)*p))
        return strtol(p, NULL, 10);
    }
  }
  return -1;
}

long uvf_cli_cache_max_age(const char *cc) {
  long v;

  if (!cc)
    return 0;
  if ((v = directive(cc, "s-maxage")) >= 0 ||
      (v = directive(cc, "max-age")) >= 0)
    return v;
  if (strcasestr(cc, "no-cache") || strcasestr(cc, "no-store"))
    return -1;
  return 0;
}

long uvf_cli_retry_after(const char *v, int64_t now) {
  time_t t;
  char *end;
  long s;

  if (!v)
    return 0;
  while (isspace((unsigned char)*v))
    v++;
  if (isdigit((unsigned char)*v)) {
    s = strtol(v, &end, 10);
    return s > 0 ? s : 0;
  }
  t = curl_getdate(v, NULL);
  return t == -1 || (int64_t)t <= now ? 0 : (long)((int64_t)t - now);
}

void uvf_cli_feed_hints_from(uvf_cli_feed_hints *h, const uvf_result *r,
                             int64_t now) {
  const char *exp = uvf_cli_result_header(r, "Expires");
  time_t t;

  h->max_age = uvf_cli_cache_max_age(uvf_cli_result_header(r, "Cache-Control"));
  h->retry_after =
      uvf_cli_retry_after(uvf_cli_result_header(r, "Retry-After"), now);
  h->expires = 0;
  if (exp && (t = curl_getdate(exp, NULL)) != -1 && (int64_t)t > now)
    h->expires = (long)((int64_t)t - now);
}
