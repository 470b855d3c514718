/* A CA file read once and parsed lazily, certificate by certificate.
 *
 * OpenSSL 3.0 spends about 1.6 million instructions on each certificate
 * it parses (its public key goes through the provider decoders), 240
 * million for Debian's bundle of 144: more CPU than a hundred TLS
 * connections, for a run that will meet one or two of those CAs. So the
 * file is only split into its certificates (PEM blocks, base64 decoded)
 * and each is indexed by the hash of its subject, the part OpenSSL looks
 * issuers up by; the store gets a lookup method (as OpenSSL's own hashed
 * directory lookup does) that parses a certificate the first time a chain
 * asks for its subject, and adds it to the store. The trust anchors are
 * exactly the file's: any of them can still be found, by the same names. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "internal.h"

typedef struct ca_entry {
  unsigned long hash; /* of the subject, as X509_NAME_hash_ex() gives it */
  unsigned char *der;
  long len;
  int trusted; /* a TRUSTED CERTIFICATE block: auxiliary trust data */
  X509 *x;     /* parsed, once asked for */
} ca_entry;

typedef struct ca_index {
  pthread_mutex_t lock; /* several loops may verify with one store */
  ca_entry *e;
  size_t n;
} ca_index;

/* ---- finding the subject without parsing the certificate ---- */

/* One DER tag-length-value at p (before end): its content and the byte
 * after it; NULL if malformed. Lengths of more than 4 bytes are refused. */
static const unsigned char *tlv(const unsigned char *p,
                                const unsigned char *end, int *tag,
                                const unsigned char **content, size_t *len) {
  size_t n = 0, k;
  if (end - p < 2)
    return NULL;
  *tag = *p++;
  if (*p < 0x80) {
    n = *p++;
  } else {
    k = *p++ & 0x7f;
    if (k == 0 || k > 4 || (size_t)(end - p) < k)
      return NULL;
    while (k--)
      n = n << 8 | *p++;
  }
  if ((size_t)(end - p) < n)
    return NULL;
  *content = p;
  *len = n;
  return p + n;
}

/* The subject Name of a DER certificate, tag and length included. */
static int subject_of(const unsigned char *der, long der_len,
                      const unsigned char **subj, long *subj_len) {
  const unsigned char *p, *end, *c, *next;
  size_t len;
  int tag, field;
  /* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { ... } ... } */
  if (!tlv(der, der + der_len, &tag, &c, &len) || tag != 0x30 ||
      !tlv(c, c + len, &tag, &p, &len) || tag != 0x30)
    return -1;
  end = p + len;
  /* [0] version (optional), serial, signature, issuer, validity, subject */
  for (field = 0; (next = tlv(p, end, &tag, &c, &len)); p = next) {
    if (field == 0 && tag == 0xa0)
      continue;
    if (field++ == 4) {
      *subj = p;
      *subj_len = (long)(next - p);
      return tag == 0x30 ? 0 : -1;
    }
  }
  return -1;
}

static int entry_hash(ca_entry *e) {
  const unsigned char *subj, *q;
  long subj_len;
  X509_NAME *name;
  int ok = 0;
  if (subject_of(e->der, e->len, &subj, &subj_len))
    return -1;
  q = subj;
  if (!(name = d2i_X509_NAME(NULL, &q, subj_len)))
    return -1;
  e->hash = X509_NAME_hash_ex(name, NULL, NULL, &ok);
  X509_NAME_free(name);
  return ok ? 0 : -1;
}

/* ---- the index ---- */

static void index_free(ca_index *ix) {
  size_t i;
  for (i = 0; i < ix->n; i++) {
    X509_free(ix->e[i].x);
    OPENSSL_free(ix->e[i].der);
  }
  free(ix->e);
  pthread_mutex_destroy(&ix->lock);
  free(ix);
}

static int by_hash(const void *a, const void *b) {
  unsigned long x = ((const ca_entry *)a)->hash,
                y = ((const ca_entry *)b)->hash;
  return x < y ? -1 : x > y;
}

/* Keeps one PEM block of the file if it is a certificate that indexes. */
static int add_block(ca_index *ix, char *name, unsigned char *der, long len) {
  ca_entry e, *grown;
  memset(&e, 0, sizeof(e));
  e.der = der;
  e.len = len;
  e.trusted = strcmp(name, PEM_STRING_X509_TRUSTED) == 0;
  if ((!e.trusted && strcmp(name, PEM_STRING_X509) != 0 &&
       strcmp(name, PEM_STRING_X509_OLD) != 0) ||
      entry_hash(&e)) {
    OPENSSL_free(der); /* a CRL, a key, a damaged block: not an anchor */
    return 0;
  }
  if (!(grown = uvf__realloc(ix->e, (ix->n + 1) * sizeof(*grown)))) {
    OPENSSL_free(der);
    return UVF_ENOMEM;
  }
  ix->e = grown;
  ix->e[ix->n++] = e;
  return 0;
}

static ca_index *index_file(const char *path) {
  ca_index *ix = uvf__calloc(1, sizeof(*ix));
  BIO *bio = BIO_new_file(path, "r");
  char *name = NULL, *header = NULL;
  unsigned char *der = NULL;
  long len;
  int rc = 0;
  if (!ix || !bio) {
    BIO_free(bio);
    free(ix);
    return NULL;
  }
  pthread_mutex_init(&ix->lock, NULL);
  while (!rc && PEM_read_bio(bio, &name, &header, &der, &len)) {
    rc = add_block(ix, name, der, len);
    OPENSSL_free(name);
    OPENSSL_free(header);
  }
  BIO_free(bio);
  ERR_clear_error(); /* the end of the file reads as an error */
  if (rc || ix->n == 0) {
    index_free(ix);
    return NULL;
  }
  qsort(ix->e, ix->n, sizeof(*ix->e), by_hash);
  return ix;
}

/* ---- the lookup method ---- */

static X509 *parse(const ca_entry *e) {
  const unsigned char *p = e->der;
  return e->trusted ? d2i_X509_AUX(NULL, &p, e->len)
                    : d2i_X509(NULL, &p, e->len);
}

/* Parses and adds to the store every certificate with that subject
 * (cross-signed CAs share one); *found is one of them. */
static int load_subject(ca_index *ix, X509_STORE *store, const X509_NAME *name,
                        unsigned long hash, X509 **found) {
  ca_entry key, *e;
  key.hash = hash;
  e = bsearch(&key, ix->e, ix->n, sizeof(*ix->e), by_hash);
  while (e && e > ix->e && e[-1].hash == hash)
    e--;
  for (; e && e < ix->e + ix->n && e->hash == hash; e++) {
    if (!e->x && (e->x = parse(e)))
      X509_STORE_add_cert(store, e->x);
    if (e->x && X509_NAME_cmp(X509_get_subject_name(e->x), name) == 0 &&
        !*found)
      *found = e->x;
  }
  return *found != NULL;
}

static int get_by_subject(X509_LOOKUP *lu, X509_LOOKUP_TYPE type,
                          const X509_NAME *name, X509_OBJECT *ret) {
  ca_index *ix = X509_LOOKUP_get_method_data(lu);
  X509 *found = NULL;
  unsigned long hash;
  int ok = 0;
  if (type != X509_LU_X509 || !ix)
    return 0;
  hash = X509_NAME_hash_ex(name, NULL, NULL, &ok);
  if (!ok)
    return 0;
  pthread_mutex_lock(&ix->lock);
  ok = load_subject(ix, X509_LOOKUP_get_store(lu), name, hash, &found) &&
       X509_OBJECT_set1_X509(ret, found);
  pthread_mutex_unlock(&ix->lock);
  return ok;
}

static void lookup_free(X509_LOOKUP *lu) {
  ca_index *ix = X509_LOOKUP_get_method_data(lu);
  if (ix)
    index_free(ix);
}

static pthread_once_t method_once = PTHREAD_ONCE_INIT;
static X509_LOOKUP_METHOD *method;

/* One method for the process: lookups refer to it for their whole life. */
static void method_make(void) {
  X509_LOOKUP_METHOD *m = X509_LOOKUP_meth_new("uvfetch CA file, lazily");
  if (m && X509_LOOKUP_meth_set_get_by_subject(m, get_by_subject) &&
      X509_LOOKUP_meth_set_free(m, lookup_free))
    method = m;
  else
    X509_LOOKUP_meth_free(m);
}

int uvf__ca_file_lookup(X509_STORE *store, const char *path) {
  X509_LOOKUP *lu;
  ca_index *ix;
  pthread_once(&method_once, method_make);
  if (!method || !(ix = index_file(path)))
    return -1;
  if (!(lu = X509_STORE_add_lookup(store, method))) {
    index_free(ix);
    return -1;
  }
  X509_LOOKUP_set_method_data(lu, ix);
  return 0;
}
