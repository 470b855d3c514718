/* TLS set-up shared by every connection.
 *
 * libcurl 7.88's OpenSSL backend makes a new SSL_CTX for each connection
 * and fills its certificate store from the CA file, a parse of about 20 ms
 * for Debian's bundle. Its own cache of the parsed store lives in one
 * multi handle, and Debian's compiled-in CA directory turns even that off.
 * Here the store is made once per process for each (CA file, CA
 * directory) pair (its certificates parsed only as chains need them: see
 * ca_index.c) and installed into every new SSL_CTX from the
 * CURLOPT_SSL_CTX_FUNCTION callback, which libcurl calls after it has set
 * the context up and before the handshake. libcurl still checks the host
 * name, and OpenSSL the chain and the dates, against exactly the CAs
 * libcurl would have loaded: its compiled-in defaults unless the caller
 * names others. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "internal.h"

/* A parsed store is reused for this long, as libcurl's own cache
 * (CURLOPT_CA_CACHE_TIMEOUT's default), so that a long-lived process sees
 * an updated bundle within a day. */
#define STORE_MAX_AGE_NS (24ULL * 3600 * 1000000000)
/* Stores kept while no fetcher uses them; the oldest unused one goes. */
#define STORE_CACHE_MAX 4

typedef struct store_entry {
  struct store_entry *next;
  char *ca_file; /* NULL: none */
  char *ca_path; /* NULL: none */
  X509_STORE *store;
  uint64_t loaded; /* uv_hrtime() */
} store_entry;

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static store_entry *cache;

static int same(const char *a, const char *b) {
  return a == b || (a && b && strcmp(a, b) == 0);
}

static void entry_free(store_entry *e) {
  X509_STORE_free(e->store);
  free(e->ca_file);
  free(e->ca_path);
  free(e);
}

/* Flags as libcurl sets them on a store it fills, so verification is the
 * same: issuers from the trust store first, and an intermediate in it
 * trusted as an anchor. */
static X509_STORE *store_load(const char *ca_file, const char *ca_path,
                              char *err, size_t errlen) {
  X509_STORE *s = X509_STORE_new();
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  ERR_clear_error();
  if (ca_file && uvf__ca_file_lookup(s, ca_file)) {
    snprintf(err, errlen, "cannot load CA file %s", ca_file);
    X509_STORE_free(s);
    return NULL;
  }
  if (ca_path && !X509_STORE_load_path(s, ca_path)) {
    snprintf(err, errlen, "cannot use CA directory %s", ca_path);
    X509_STORE_free(s);
    return NULL;
  }
  X509_STORE_set_flags(s,
                       X509_V_FLAG_TRUSTED_FIRST | X509_V_FLAG_PARTIAL_CHAIN);
  return s;
}

/* Drops expired entries and, past the cap, the oldest: entries only hold
 * a reference, so a fetcher using one keeps its store. */
static void cache_trim(uint64_t now) {
  store_entry **pp = &cache;
  size_t n = 0;
  while (*pp) {
    store_entry *e = *pp;
    if (now - e->loaded > STORE_MAX_AGE_NS || ++n > STORE_CACHE_MAX) {
      *pp = e->next;
      entry_free(e);
    } else {
      pp = &e->next;
    }
  }
}

static X509_STORE *store_get(const char *ca_file, const char *ca_path,
                             char *err, size_t errlen) {
  uint64_t now = uv_hrtime();
  store_entry *e, **pp;
  X509_STORE *s = NULL;
  pthread_mutex_lock(&cache_lock);
  for (pp = &cache; (e = *pp); pp = &e->next)
    if (same(e->ca_file, ca_file) && same(e->ca_path, ca_path) &&
        now - e->loaded <= STORE_MAX_AGE_NS)
      break;
  if (e) {
    *pp = e->next; /* to the front: most recently used */
  } else if ((e = uvf__calloc(1, sizeof(*e))) &&
             (!ca_file || (e->ca_file = uvf__strdup(ca_file))) &&
             (!ca_path || (e->ca_path = uvf__strdup(ca_path))) &&
             (e->store = store_load(ca_file, ca_path, err, errlen))) {
    e->loaded = now;
  } else {
    if (e && !e->store && !err[0])
      snprintf(err, errlen, "out of memory");
    if (e)
      entry_free(e);
    e = NULL;
  }
  if (e) {
    e->next = cache;
    cache = e;
    if (X509_STORE_up_ref(e->store))
      s = e->store;
    cache_trim(now);
  }
  pthread_mutex_unlock(&cache_lock);
  return s;
}

/* CURLOPT_SSL_CTX_FUNCTION: runs inside libcurl for each new TLS
 * connection. The store is parsed on the first one, so a run that fetches
 * only http:// URLs never pays for it; a failure is kept, not retried per
 * connection, and its text goes into the transfer's result. */
static CURLcode on_ssl_ctx(CURL *easy, void *ssl_ctx, void *userp) {
  uvf__xfer *x = userp;
  uvf__engine *e = x->e;
  (void)easy;
  uvf__tls_watch(ssl_ctx, x);
  if (x->b->o.insecure) /* nothing to verify against */
    return CURLE_OK;
  if (!e->tls_store && !e->tls_error[0])
    e->tls_store =
        store_get(e->ca_file, e->ca_path, e->tls_error, sizeof(e->tls_error));
  if (!e->tls_store) {
    x->tls_failed = 1;
    return CURLE_SSL_CACERT_BADFILE;
  }
  SSL_CTX_set1_cert_store(ssl_ctx, e->tls_store);
  return CURLE_OK;
}

/* libcurl is told of no CA file or directory, so it loads nothing itself:
 * on_ssl_ctx installs the shared store (none with verification off). */
CURLcode uvf__tls_setup(uvf__xfer *x, CURL *easy) {
  CURLcode rc;
  if ((rc = curl_easy_setopt(easy, CURLOPT_CAINFO, (char *)NULL)) ||
      (rc = curl_easy_setopt(easy, CURLOPT_CAPATH, (char *)NULL)) ||
      (rc = curl_easy_setopt(easy, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx)))
    return rc;
  return curl_easy_setopt(easy, CURLOPT_SSL_CTX_DATA, (void *)x);
}

/* What libcurl would load: the caller's choice, else its compiled-in
 * defaults (Debian: /etc/ssl/certs/ca-certificates.crt and /etc/ssl/certs). */
int uvf__tls_init(uvf__engine *e, const uvf_options *o) {
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  const char *file = o->ca_file ? o->ca_file : v->cainfo;
  const char *path = o->ca_path ? o->ca_path : v->capath;
  if ((file && !(e->ca_file = uvf__strdup(file))) ||
      (path && !(e->ca_path = uvf__strdup(path))))
    return UVF_ENOMEM;
  return 0;
}

void uvf__tls_free(uvf__engine *e) {
  X509_STORE_free(e->tls_store);
  e->tls_store = NULL;
  free(e->ca_file);
  free(e->ca_path);
  e->ca_file = e->ca_path = NULL;
}
