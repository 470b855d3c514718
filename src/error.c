/* Error names and texts, and how libcurl's codes map onto result kinds. */
#include "internal.h"

typedef struct {
  int err;
  const char *name;
  const char *text;
} err_entry;

static const err_entry err_table[] = {
    {UVF_OK, "none", "success"},
    {UVF_EINVALID_URL, "invalid_url", "not a valid http or https URL"},
    {UVF_EDNS, "dns", "host name could not be resolved"},
    {UVF_ECONNECT, "connect", "could not connect"},
    {UVF_ETLS, "tls", "TLS handshake or verification failed"},
    {UVF_ETIMEOUT, "timeout", "timed out"},
    {UVF_EPROTOCOL, "protocol", "protocol error"},
    {UVF_ETOO_LARGE, "too_large", "body larger than the maximum allowed"},
    {UVF_EHTTP, "http", "HTTP status not 2xx"},
    {UVF_EABORTED, "aborted", "aborted"},
    {UVF_EDEADLINE, "deadline", "not finished by the deadline"},
    {UVF_EINVALID_REQUEST, "invalid_request",
     "request cannot be sent as given"},
    {UVF_EINVAL, "einval", "invalid argument"},
    {UVF_ENOMEM, "enomem", "out of memory"},
    {UVF_ESTATE, "estate", "operation not allowed in this state"},
    {UVF_EBACKEND, "ebackend", "libcurl or libuv failed to set up"},
};

static const err_entry *find(int err) {
  size_t i;
  for (i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
    if (err_table[i].err == err)
      return &err_table[i];
  return NULL;
}

const char *uvf_strerror(int err) {
  const err_entry *e = find(err);
  return e ? e->text : "unknown error";
}

const char *uvf_err_name(int err) {
  const err_entry *e = find(err);
  return e ? e->name : "unknown";
}

/* `redirected` tells a bad URL met on a redirect (an unsupported scheme or
 * a Location that does not parse: the server's doing, protocol) from one
 * in the input (already caught as invalid_url). */
uvf_err uvf__kind_from_curl(CURLcode rc, int redirected) {
  switch (rc) {
  case CURLE_OK: return UVF_OK;
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
    return redirected ? UVF_EPROTOCOL : UVF_EINVALID_URL;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY: return UVF_EDNS;
  case CURLE_COULDNT_CONNECT: return UVF_ECONNECT;
  case CURLE_OPERATION_TIMEDOUT: return UVF_ETIMEOUT;
  case CURLE_FILESIZE_EXCEEDED: return UVF_ETOO_LARGE;
  case CURLE_ABORTED_BY_CALLBACK: return UVF_EABORTED;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT: return UVF_ETLS;
  default: return UVF_EPROTOCOL;
  }
}
