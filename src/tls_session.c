/* An origin's TLS session, for every connection that follows.
 *
 * libcurl 7.88 keeps one session per host in the engine's share and hands
 * that same SSL_SESSION object to each new connection. OpenSSL 3.0 uses a
 * TLS 1.3 session once: the first connection that resumes it marks it
 * not resumable, and every other connection that was given the object
 * then makes a full handshake (RFC 8446, C.4: tickets SHOULD NOT be
 * reused). A burst of connections to a new origin, released together by
 * its TLS gate (tls_gate.c), would so resume once and make every other
 * handshake in full.
 *
 * So the origin keeps a copy of its latest session, never attached to a
 * connection, and each new connection to it starts its handshake with a
 * copy of that copy: the server's ticket decrypts as often as it is
 * shown, as Go's client and OpenSSL's own s_client -sess_in use it.
 * Only verified connections made without a proxy store or take a session:
 * a session resumed skips the certificate check, and one made through a
 * proxy may be the proxy's. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include <openssl/ssl.h>

#include "internal.h"

typedef int (*new_session_fn)(SSL *ssl, SSL_SESSION *sess);

static pthread_once_t ex_once = PTHREAD_ONCE_INIT;
static int ex_origin = -1; /* SSL_CTX ex_data: the connection's origin */
static _Atomic(new_session_fn) curl_new_session; /* libcurl's callback */

/* A connection (its SSL_CTX) holds a reference on its origin. */
typedef struct ctx_origin {
  uvf__engine *e;
  uvf__origin *o;
} ctx_origin;

static void ctx_origin_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad,
                            int idx, long argl, void *argp) {
  ctx_origin *co = ptr;
  (void)parent;
  (void)ad;
  (void)idx;
  (void)argl;
  (void)argp;
  if (!co)
    return;
  uvf__origin_unref(co->e, co->o);
  free(co);
}

static void ex_make(void) {
  ex_origin = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, ctx_origin_free);
}

static ctx_origin *origin_of(const SSL *ssl) {
  return SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex_origin);
}

/* libcurl stores the session in the share first; the origin keeps its own
 * copy, and its gate opens from the loop (this runs inside libcurl). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
  ctx_origin *co = origin_of(ssl);
  new_session_fn curl_cb = curl_new_session;
  int kept = curl_cb ? curl_cb(ssl, sess) : 0;
  SSL_SESSION *copy;
  if (!co)
    return kept;
  if ((copy = SSL_SESSION_dup(sess))) {
    SSL_SESSION_free(co->o->tls_session);
    co->o->tls_session = copy;
  }
  if (copy || kept)
    uvf__tls_gate_soon(co->e, co->o);
  return kept;
}

/* Before the first handshake message is written, after libcurl has set
 * the session it had: the connection takes a fresh copy of its origin's.
 * OpenSSL passes the SSL as const to this callback; the object is the
 * connection's own, so changing its session here is what SSL_set_session
 * would do before SSL_connect. */
static void on_info(const SSL *ssl, int where, int ret) {
  ctx_origin *co;
  SSL_SESSION *copy;
  (void)ret;
  if (!(where & SSL_CB_HANDSHAKE_START) || !SSL_in_before(ssl) ||
      !(co = origin_of(ssl)) || !co->o->tls_session)
    return;
  if ((copy = SSL_SESSION_dup(co->o->tls_session))) {
    SSL_set_session((SSL *)ssl, copy); /* takes its own reference */
    SSL_SESSION_free(copy);
  }
}

/* Called with every new SSL_CTX libcurl makes for a connection of x.
 * Without memory for the bookkeeping, the connection goes on as libcurl
 * would have it. */
void uvf__tls_watch(void *ssl_ctx, uvf__xfer *x) {
  SSL_CTX *ctx = ssl_ctx;
  ctx_origin *co;
  if (x->b->o.insecure || x->e->proxy_env)
    return;
  pthread_once(&ex_once, ex_make);
  if (ex_origin < 0 || !(co = uvf__malloc(sizeof(*co))))
    return;
  co->e = x->e;
  co->o = x->u->origin;
  if (!SSL_CTX_set_ex_data(ctx, ex_origin, co)) {
    free(co);
    return;
  }
  co->o->refs++;
  curl_new_session = SSL_CTX_sess_get_new_cb(ctx);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  SSL_CTX_set_info_callback(ctx, on_info);
}

void uvf__tls_session_free(uvf__origin *o) {
  SSL_SESSION_free(o->tls_session);
  o->tls_session = NULL;
}
