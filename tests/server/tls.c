/* TLS: OpenSSL over two memory BIOs.  conn.c writes the ciphertext that
 * libuv read into one and hands what OpenSSL wrote into the other back
 * to libuv; OpenSSL never sees the socket.
 *
 * One SSL_CTX for the server: TLS 1.2 and 1.3, OpenSSL's defaults for
 * resumption (session tickets, and a session cache for TLS 1.2 clients
 * that want it), ALPN with the server's preference: h2, then http/1.1. */
#include <limits.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ts.h"

/* A memory BIO keeps the largest buffer it ever needed.  When the
 * connection waits, one bigger than this is replaced (so that idle
 * connections stay small); the handshake's are given back whatever
 * their size. */
#define BIO_KEEP 4096u

static SSL_CTX *ctx;
/* ALPN's wire format: each name after its length, best first. */
static const unsigned char alpn_h2[] = "\x02h2\x08http/1.1";
static const unsigned char alpn_h1[] = "\x08http/1.1";
static const unsigned char *alpn;
static unsigned alpn_len;
/* --late-tickets: SSL ex_data, set once the connection's ticket is out. */
static int ticket_sent = -1;

/* Errors stay queued per thread and would confuse the next
 * SSL_get_error, whichever connection it is for: log and drop them. */
static void log_errors(const char *what) {
  unsigned long e;
  char msg[256];

  while ((e = ERR_get_error()) != 0) {
    ERR_error_string_n(e, msg, sizeof(msg));
    ts_log("%s: %s", what, msg);
  }
}

_Noreturn static void fail(const char *what, const char *file) {
  ts_srv.quiet = 0;
  log_errors(file);
  ts_log("%s: %s", what, file);
  exit(2);
}

static int select_alpn(SSL *ssl, const unsigned char **out,
                       unsigned char *outlen, const unsigned char *in,
                       unsigned inlen, void *arg) {
  unsigned char *sel;

  /* Picks the first of our names that the client offers too. */
  if (SSL_select_next_proto(&sel, outlen, alpn, alpn_len, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_NOACK; /* nothing in common: HTTP/1.1 */
  *out = sel;
  return SSL_TLSEXT_ERR_OK;
}

void ts_tls_init(const char *cert, const char *key, int h2) {
  ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL)
    fail("cannot create a TLS context", "OpenSSL");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION);
  /* Without it OpenSSL keeps 34 KiB of record buffers per connection,
   * idle ones too. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1)
    fail("cannot load the certificate chain", cert);
  if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
    fail("cannot load the private key", key);
  if (SSL_CTX_check_private_key(ctx) != 1)
    fail("the key does not match the certificate", key);
  alpn = h2 ? alpn_h2 : alpn_h1;
  alpn_len = (unsigned)(h2 ? sizeof(alpn_h2) : sizeof(alpn_h1)) - 1;
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, NULL);
  if (ts_srv.late_tickets) {
    SSL_CTX_set_num_tickets(ctx, 0); /* none right after the handshake */
    ticket_sent = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
  }
  if (ts_srv.no_tickets) { /* a server that never resumes */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
}

void ts_tls_cleanup(void) {
  SSL_CTX_free(ctx);
  ctx = NULL;
}

SSL *ts_tls_new(void) {
  SSL *ssl = SSL_new(ctx);
  BIO *in = BIO_new(BIO_s_mem()), *out = BIO_new(BIO_s_mem());

  if (ssl == NULL || in == NULL || out == NULL) {
    BIO_free(in);
    BIO_free(out);
    SSL_free(ssl);
    log_errors("TLS");
    return NULL;
  }
  /* An empty memory BIO says "retry", its default: SSL_read then
   * wants more input rather than seeing the end of it. */
  SSL_set_bio(ssl, in, out);
  SSL_set_accept_state(ssl);
  return ssl;
}

void ts_tls_free(SSL *ssl) { SSL_free(ssl); }

/* Replaces an empty BIO whose buffer grew past `keep`. */
static void trim(SSL *ssl, BIO *b, int rbio, size_t keep) {
  BUF_MEM *bm;
  BIO *fresh;

  if (BIO_get_mem_ptr(b, &bm) != 1 || bm->length > 0 || bm->max <= keep)
    return;
  fresh = BIO_new(BIO_s_mem());
  if (fresh == NULL)
    return; /* keeping the big one is fine */
  if (rbio)
    SSL_set0_rbio(ssl, fresh);
  else
    SSL_set0_wbio(ssl, fresh);
}

int ts_tls_feed(SSL *ssl, const char *p, size_t n) {
  return BIO_write(SSL_get_rbio(ssl), p, (int)n) == (int)n ? 0 : -1;
}

int ts_tls_handshake(SSL *ssl) {
  int r = SSL_do_handshake(ssl);

  if (r == 1) {
    ts_stats_tls(SSL_session_reused(ssl));
    return 1;
  }
  if (SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ)
    return 0;
  log_errors("TLS handshake");
  return -1;
}

int ts_tls_alpn_h2(const SSL *ssl) {
  const unsigned char *p;
  unsigned n;

  SSL_get0_alpn_selected(ssl, &p, &n);
  return n == 2 && memcmp(p, "h2", 2) == 0;
}

long ts_tls_read(SSL *ssl, char *buf, size_t cap) {
  int r = SSL_read(ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);

  if (r > 0)
    return r;
  switch (SSL_get_error(ssl, r)) {
  case SSL_ERROR_WANT_READ: return 0;
  case SSL_ERROR_ZERO_RETURN: return TS_TLS_EOF;
  default: log_errors("TLS read"); return -1;
  }
}

int ts_tls_readable(SSL *ssl) {
  if (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN)
    return 0;
  return SSL_pending(ssl) > 0 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0;
}

/* A memory BIO takes everything, so one call writes it all.  With
 * --late-tickets a TLS 1.3 connection's one ticket goes just before the
 * first bytes written on it: a client sees it with its first reply. */
int ts_tls_write(SSL *ssl, const char *p, size_t n) {
  if (ticket_sent >= 0 && SSL_version(ssl) == TLS1_3_VERSION &&
      SSL_get_ex_data(ssl, ticket_sent) == NULL &&
      SSL_new_session_ticket(ssl) == 1)
    SSL_set_ex_data(ssl, ticket_sent, (void *)1);
  if (SSL_write(ssl, p, (int)n) == (int)n)
    return 0;
  log_errors("TLS write");
  return -1;
}

void ts_tls_close_notify(SSL *ssl) {
  if (SSL_is_init_finished(ssl) && SSL_shutdown(ssl) < 0)
    log_errors("TLS shutdown");
}

size_t ts_tls_output(SSL *ssl, char **p) {
  long n = BIO_get_mem_data(SSL_get_wbio(ssl), p);

  return n > 0 ? (size_t)n : 0;
}

void ts_tls_output_taken(SSL *ssl) {
  (void)BIO_reset(SSL_get_wbio(ssl)); /* empties it, keeping its buffer */
}

void ts_tls_shrink(SSL *ssl) {
  trim(ssl, SSL_get_rbio(ssl), 1, 0);
  trim(ssl, SSL_get_wbio(ssl), 0, 0);
}

void ts_tls_idle(SSL *ssl) {
  trim(ssl, SSL_get_rbio(ssl), 1, BIO_KEEP);
  trim(ssl, SSL_get_wbio(ssl), 0, BIO_KEEP);
}
