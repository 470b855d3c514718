/* Where an input line goes: which of N shards (--shard I/N) or of K
 * worker processes (--procs K) fetches it. A line goes by its origin
 * (scheme, host and port), so that everything kept per host (--per-host,
 * --rate, Retry-After pauses, connections, TLS sessions) stays in one
 * process and holds as it does in one; or, with --shard-by url, by the
 * whole line, for inputs that are all one host.
 *
 * The hash must not change between versions or machines: the shards of
 * one input may be fetched by different builds on different hosts, and
 * their reports merged. It is 64-bit FNV-1a of the key (doc/uvfetch.1
 * spells it out, and python/uvfetch/dask.py computes the same), mixed
 * (mix() below). Shards take the low 32 bits and workers the high 32,
 * so that the workers of one shard still share its lines out evenly. */
#include <string.h>
#include <strings.h>

#include "cli.h"

#define FNV_OFFSET UINT64_C(0xcbf29ce484222325)
#define FNV_PRIME UINT64_C(0x100000001b3)

static uint64_t fnv_byte(uint64_t h, unsigned char c) {
  return (h ^ c) * FNV_PRIME;
}

static unsigned char lower(unsigned char c) {
  return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

static uint64_t fnv_lower(uint64_t h, const char *s, size_t len) {
  size_t i;

  for (i = 0; i < len; i++)
    h = fnv_byte(h, lower((unsigned char)s[i]));
  return h;
}

/* The port a scheme implies when the URL names none. */
static const char *default_port(const char *scheme, size_t len) {
  if (len == 5 && strncasecmp(scheme, "https", 5) == 0)
    return "443";
  return "80";
}

/* The authority's host and port, userinfo left out; an IPv6 address
 * keeps its brackets. */
static void split_authority(const char *a, size_t len, const char **host,
                            size_t *host_len, const char **port,
                            size_t *port_len) {
  const char *p, *end;

  for (p = a + len; p > a && p[-1] != '@'; p--)
    ; /* the last '@' ends the userinfo */
  len -= (size_t)(p - a);
  a = p;
  end = a + len;
  p = a;
  if (len > 0 && a[0] == '[') /* up to the ']', else to the end */
    p = (p = memchr(a, ']', len)) ? p + 1 : end;
  while (p < end && *p != ':')
    p++;
  *host = a;
  *host_len = (size_t)(p - a);
  *port = p < end ? p + 1 : NULL;
  *port_len = p < end ? (size_t)(end - p - 1) : 0;
}

/* FNV-1a of "scheme://host:port", lower case, with the scheme's port when
 * the URL gives none. A URL without "://" is hashed whole: it will be an
 * invalid_url record wherever it goes. */
uint64_t uvf_cli_route_origin(const char *url) {
  const char *sep = strstr(url, "://"), *a, *host, *port;
  size_t scheme_len, alen, host_len, port_len;
  uint64_t h;

  if (!sep || sep == url)
    return uvf_cli_route_url(url);
  scheme_len = (size_t)(sep - url);
  a = sep + 3;
  alen = strcspn(a, "/?#");
  split_authority(a, alen, &host, &host_len, &port, &port_len);
  if (!port || port_len == 0) {
    port = default_port(url, scheme_len);
    port_len = strlen(port);
  }
  h = fnv_lower(FNV_OFFSET, url, scheme_len + 3);
  h = fnv_lower(h, host, host_len);
  h = fnv_byte(h, ':');
  return fnv_lower(h, port, port_len);
}

uint64_t uvf_cli_route_url(const char *url) {
  uint64_t h = FNV_OFFSET;

  for (; *url; url++)
    h = fnv_byte(h, (unsigned char)*url);
  return h;
}

/* FNV-1a's low bits are poor dividends: its prime's low 32 bits are a
 * multiple of 3, so keys that differ only at the end all but skip a
 * shard in three. SplitMix64's finalizer spreads every bit first. */
static uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
  return z ^ (z >> 31);
}

unsigned uvf_cli_route_shard(uint64_t hash, unsigned n) {
  return (unsigned)((mix(hash) & UINT32_MAX) % n);
}

unsigned uvf_cli_route_worker(uint64_t hash, unsigned k) {
  return (unsigned)((mix(hash) >> 32) % k);
}
