/* Keyword arguments to uvf_options: Client(...) once, and the per-call
 * overrides of fetch_all() and fetch(). Every check here says what was
 * wrong in Python's terms; the library's own check (uvf_client_new,
 * uvf_call_start) stays the last word. */
#include "ext.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int uvfpy_raise(int err) {
  PyObject *type;
  switch (err) {
  case UVF_EINVAL: type = PyExc_ValueError; break;
  case UVF_ENOMEM: return PyErr_NoMemory(), -1;
  case UVF_ESTATE: type = PyExc_RuntimeError; break;
  default: type = PyExc_OSError; break;
  }
  PyErr_Format(type, "uvfetch: %s", uvf_strerror(err));
  return -1;
}

/* An int in [min, max]; bool is refused (concurrency=True is a mistake). */
static int get_long(PyObject *v, const char *name, long long min, long long max,
                    long long *out) {
  long long x;
  if (!PyLong_Check(v) || PyBool_Check(v)) {
    PyErr_Format(PyExc_TypeError, "%s must be an int, not %.100s", name,
                 Py_TYPE(v)->tp_name);
    return -1;
  }
  x = PyLong_AsLongLong(v);
  if ((x == -1 && PyErr_Occurred()) || x < min || x > max) {
    PyErr_Clear();
    PyErr_Format(PyExc_ValueError, "%s must be from %lld to %lld, not %R", name,
                 min, max, v);
    return -1;
  }
  *out = x;
  return 0;
}

static int get_unsigned(PyObject *v, const char *name, long long min,
                        long long max, unsigned *out) {
  long long x;
  if (get_long(v, name, min, max, &x) < 0)
    return -1;
  *out = (unsigned)x;
  return 0;
}

/* Seconds (int or float) as milliseconds, rounded up so that a small
 * positive time never becomes "none". None gives none_ms when allowed
 * (none_ms >= 0). Zero and negative times are refused unless zero_ok. */
static int get_seconds(PyObject *v, const char *name, long none_ms, int zero_ok,
                       long *ms) {
  double s;
  if (v == Py_None && none_ms >= 0) {
    *ms = none_ms;
    return 0;
  }
  if (PyBool_Check(v) || !(PyLong_Check(v) || PyFloat_Check(v))) {
    PyErr_Format(PyExc_TypeError,
                 "%s must be a number of seconds%s, not "
                 "%.100s",
                 name, none_ms >= 0 ? " or None" : "", Py_TYPE(v)->tp_name);
    return -1;
  }
  s = PyFloat_AsDouble(v);
  if (s == -1.0 && PyErr_Occurred())
    return -1;
  if (isnan(s) || s < 0 || (s == 0 && !zero_ok) || s * 1000 > LONG_MAX / 2) {
    PyErr_Format(PyExc_ValueError, "%s must be %s seconds, not %R", name,
                 zero_ok ? "0 or more" : "more than 0", v);
    return -1;
  }
  *ms = (long)ceil(s * 1000);
  return 0;
}

static int get_bool(PyObject *v, int *out) {
  int b = PyObject_IsTrue(v);
  if (b < 0)
    return -1;
  *out = b;
  return 0;
}

/* A str (or bytes) without NUL, CR or LF, copied. */
static char *dup_text(PyObject *v, const char *name, int forbid_colon) {
  const char *s;
  Py_ssize_t n, i;
  char *d;
  if (PyUnicode_Check(v)) {
    if (!(s = PyUnicode_AsUTF8AndSize(v, &n)))
      return NULL;
  } else if (PyBytes_Check(v)) {
    s = PyBytes_AS_STRING(v);
    n = PyBytes_GET_SIZE(v);
  } else {
    PyErr_Format(PyExc_TypeError, "%s must be a str, not %.100s", name,
                 Py_TYPE(v)->tp_name);
    return NULL;
  }
  for (i = 0; i < n; i++)
    if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n' ||
        (forbid_colon && s[i] == ':')) {
      PyErr_Format(PyExc_ValueError, "%s must not contain %s: %R", name,
                   forbid_colon ? "':', NUL, CR or LF" : "NUL, CR or LF", v);
      return NULL;
    }
  if (!(d = malloc((size_t)n + 1)))
    return (char *)PyErr_NoMemory();
  memcpy(d, s, (size_t)n);
  d[n] = '\0';
  return d;
}

/* A file name (str, bytes or os.PathLike), copied; NULL for None. */
static int dup_path(PyObject *v, char **out) {
  PyObject *b = NULL;
  if (v == Py_None)
    return 0;
  if (!PyUnicode_FSConverter(v, &b))
    return -1;
  *out = strdup(PyBytes_AS_STRING(b));
  Py_DECREF(b);
  return *out ? 0 : (PyErr_NoMemory(), -1);
}

/* RFC 9110's tchar: what a method or a header name is made of. */
int uvfpy_is_token(const char *s, Py_ssize_t n) {
  Py_ssize_t i;
  if (n <= 0)
    return 0;
  for (i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c))))
      return 0;
  }
  return 1;
}

/* One header as the library takes it: "Name: value", "Name;" (sent
 * empty: "Name:" would remove it, as in libcurl) or, for a value of None,
 * "Name:" (removes a header libcurl or the client would send). */
static int header_pair(PyObject *name, PyObject *value,
                       int (*add)(void *, const char *, size_t), void *ctx) {
  char *n = NULL, *v = NULL, *line = NULL;
  size_t nl, vl;
  int rc = -1;
  if (!(n = dup_text(name, "a header name", 1)))
    goto out;
  if (!*n) {
    PyErr_SetString(PyExc_ValueError, "a header name must not be empty");
    goto out;
  }
  if (!uvfpy_is_token(n, (Py_ssize_t)strlen(n))) {
    PyErr_Format(PyExc_ValueError,
                 "a header name must be an HTTP token (letters, digits and "
                 "!#$%%&'*+-.^_`|~), not %R",
                 name);
    goto out;
  }
  if (value != Py_None && !(v = dup_text(value, "a header value", 0)))
    goto out;
  nl = strlen(n);
  vl = v ? strlen(v) : 0;
  if (!(line = malloc(nl + vl + 3))) {
    PyErr_NoMemory();
    goto out;
  }
  if (!v)
    sprintf(line, "%s:", n);
  else
    sprintf(line, *v ? "%s: %s" : "%s;", n, v);
  rc = add(ctx, line, strlen(line));
out:
  free(line);
  free(n);
  free(v);
  return rc;
}

/* "Name: value": the value stripped of surrounding white space. */
static int header_line(PyObject *line, int (*add)(void *, const char *, size_t),
                       void *ctx) {
  PyObject *colon = PyUnicode_FromString(":"), *parts, *value;
  int rc = -1;
  parts = colon ? PyUnicode_Partition(line, colon) : NULL;
  Py_XDECREF(colon);
  if (!parts)
    return -1;
  if (PyUnicode_GET_LENGTH(PyTuple_GET_ITEM(parts, 1)) == 1) {
    value = PyObject_CallMethod(PyTuple_GET_ITEM(parts, 2), "strip", NULL);
    if (value)
      rc = header_pair(PyTuple_GET_ITEM(parts, 0), value, add, ctx);
    Py_XDECREF(value);
  } else {
    PyErr_Format(PyExc_ValueError,
                 "a header line must read 'Name: value', not %R", line);
  }
  Py_DECREF(parts);
  return rc;
}

int uvfpy_header_lines(PyObject *v, int (*add)(void *, const char *, size_t),
                       void *ctx) {
  PyObject *items, *it, *item;
  int rc = 0;
  if (v == Py_None)
    return 0;
  if (PyUnicode_Check(v) || PyBytes_Check(v)) {
    PyErr_SetString(PyExc_TypeError, "headers must be a dict or a list of "
                                     "(name, value) pairs, not a str");
    return -1;
  }
  items = PyMapping_Check(v) && PyObject_HasAttrString(v, "items")
              ? PyMapping_Items(v)
              : Py_NewRef(v);
  if (!items || !(it = PyObject_GetIter(items))) {
    Py_XDECREF(items);
    return -1;
  }
  while (rc == 0 && (item = PyIter_Next(it))) {
    if (PyUnicode_Check(item)) {
      rc = header_line(item, add, ctx);
    } else if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 2) {
      rc = header_pair(PyTuple_GET_ITEM(item, 0), PyTuple_GET_ITEM(item, 1),
                       add, ctx);
    } else {
      PyErr_Format(PyExc_TypeError,
                   "a header must be a (name, value) pair "
                   "or a 'Name: value' str, not %.100s",
                   Py_TYPE(item)->tp_name);
      rc = -1;
    }
    Py_DECREF(item);
  }
  Py_DECREF(it);
  Py_DECREF(items);
  return rc < 0 || PyErr_Occurred() ? -1 : 0;
}

/* A client's header line, copied into its options. */
static int add_option_header(void *ctx, const char *line, size_t len) {
  uvfpy_opts *d = ctx;
  char **grown = realloc(d->headers, (d->n_headers + 1) * sizeof(*grown));
  char *copy;
  if (!grown)
    return PyErr_NoMemory(), -1;
  d->headers = grown;
  if (!(copy = malloc(len + 1)))
    return PyErr_NoMemory(), -1;
  memcpy(copy, line, len + 1);
  d->headers[d->n_headers++] = copy;
  return 0;
}

static int get_headers(uvfpy_opts *d, PyObject *v) {
  return uvfpy_header_lines(v, add_option_header, d);
}

static int get_http2(PyObject *v, int *out) {
  if (v == Py_True) {
    *out = UVF_HTTP_AUTO;
  } else if (v == Py_False) {
    *out = UVF_HTTP_1_1;
  } else if (PyUnicode_Check(v) &&
             PyUnicode_CompareWithASCIIString(v, "prior") == 0) {
    *out = UVF_HTTP_2_PRIOR;
  } else {
    PyErr_Format(PyExc_ValueError,
                 "http2 must be True (HTTP/2 where TLS offers it), False "
                 "(HTTP/1.1 only) or \"prior\" (HTTP/2 without asking), "
                 "not %R",
                 v);
    return -1;
  }
  return 0;
}

/* verify=True/False, or verify=<CA file> as requests has it. */
static int get_verify(uvfpy_opts *d, PyObject *verify, PyObject *cafile) {
  int on;
  if (PyUnicode_Check(verify) || PyBytes_Check(verify) ||
      PyObject_HasAttrString(verify, "__fspath__")) {
    if (cafile && cafile != Py_None) {
      PyErr_SetString(PyExc_ValueError,
                      "give the CA file as verify= or as cafile=, not both");
      return -1;
    }
    return dup_path(verify, &d->ca_file);
  }
  if (get_bool(verify, &on) < 0)
    return -1;
  d->o.insecure = !on;
  return cafile ? dup_path(cafile, &d->ca_file) : 0;
}

/* keep_headers, max_header_bytes and retry_all_methods, for a client or
 * a call (NULL: not given; None: the client's for a call, and for a
 * client's max_header_bytes no limit but libcurl's own, as 0). */
static int header_args(uvf_options *o, PyObject *keep, PyObject *max,
                       PyObject *all_methods, int call) {
  long long ll;
  if (keep && keep != Py_None && get_bool(keep, &o->keep_headers) < 0)
    return -1;
  if (max == Py_None && !call) {
    o->max_header_bytes = 0;
  } else if (max && max != Py_None) {
    if (get_long(max, "max_header_bytes", 0, INT64_MAX, &ll) < 0)
      return -1;
    o->max_header_bytes = (uint64_t)ll;
  }
  if (all_methods && all_methods != Py_None &&
      get_bool(all_methods, &o->retry_all_methods) < 0)
    return -1;
  return 0;
}

static int apply_client_args(uvfpy_opts *d, const uvfpy_client_args *a) {
  uvf_options *o = &d->o;
  long long ll;
  int b;
  if (a->concurrency && get_unsigned(a->concurrency, "concurrency", 1,
                                     UVF_MAX_IN_FLIGHT, &o->max_in_flight))
    return -1;
  if (a->per_host && a->per_host != Py_None &&
      get_unsigned(a->per_host, "per_host", 0, UINT_MAX, &o->max_per_host))
    return -1;
  if ((a->timeout &&
       get_seconds(a->timeout, "timeout", 0, 0, &o->timeout_ms)) ||
      (a->connect_timeout && get_seconds(a->connect_timeout, "connect_timeout",
                                         0, 0, &o->connect_timeout_ms)))
    return -1;
  if (a->retries &&
      get_unsigned(a->retries, "retries", 0, 1000, &o->max_retries))
    return -1;
  if ((a->headers && get_headers(d, a->headers) < 0) ||
      (a->verify && get_verify(d, a->verify, a->cafile) < 0) ||
      (!a->verify && a->cafile && dup_path(a->cafile, &d->ca_file) < 0) ||
      (a->capath && dup_path(a->capath, &d->ca_path) < 0) ||
      (a->http2 && get_http2(a->http2, &o->http_version) < 0))
    return -1;
  if (a->user_agent && a->user_agent != Py_None &&
      !(d->user_agent = dup_text(a->user_agent, "user_agent", 0)))
    return -1;
  if (a->max_body && a->max_body != Py_None) {
    if (get_long(a->max_body, "max_body", 0, INT64_MAX, &ll) < 0)
      return -1;
    o->max_body = (uint64_t)ll;
  }
  if (a->keep_body && get_bool(a->keep_body, &o->keep_body) < 0)
    return -1;
  if (a->max_redirects &&
      get_long(a->max_redirects, "max_redirects", 0, 1000, &ll) == 0)
    o->max_redirects = (long)ll;
  else if (a->max_redirects)
    return -1;
  if (a->follow_redirects) {
    if (get_bool(a->follow_redirects, &b) < 0)
      return -1;
    if (!b)
      o->max_redirects = -1;
  }
  if (a->compressed) {
    if (get_bool(a->compressed, &b) < 0)
      return -1;
    o->accept_encoding = b ? "" : NULL; /* every encoding libcurl decodes */
  }
  if (a->rate_per_host && a->rate_per_host != Py_None) {
    double r = PyFloat_AsDouble(a->rate_per_host);
    if (r == -1.0 && PyErr_Occurred())
      return -1;
    if (!(r >= 0.001 && r <= 1e6)) {
      PyErr_Format(PyExc_ValueError,
                   "rate_per_host must be from 0.001 to "
                   "1000000 requests a second, or None, not %R",
                   a->rate_per_host);
      return -1;
    }
    o->rate_per_host = r;
  }
  if ((a->retry_delay &&
       get_seconds(a->retry_delay, "retry_delay", -1, 1, &o->retry_base_ms)) ||
      (a->retry_max_delay && get_seconds(a->retry_max_delay, "retry_max_delay",
                                         -1, 1, &o->retry_max_ms)))
    return -1;
  return header_args(o, a->keep_headers, a->max_header_bytes,
                     a->retry_all_methods, 0);
}

int uvfpy_opts_from_args(uvfpy_opts *d, const uvfpy_client_args *a) {
  memset(d, 0, sizeof(*d));
  uvf_options_init(&d->o);
  d->o.keep_body = 1;    /* Python users want their bodies */
  d->o.keep_headers = 1; /* and the headers, as requests and httpx give */
  if (apply_client_args(d, a) < 0) {
    uvfpy_opts_free(d);
    return -1;
  }
  d->o.headers = (const char *const *)d->headers;
  d->o.n_headers = d->n_headers;
  d->o.user_agent = d->user_agent;
  d->o.ca_file = d->ca_file;
  d->o.ca_path = d->ca_path;
  return 0;
}

void uvfpy_opts_free(uvfpy_opts *d) {
  size_t i;
  for (i = 0; i < d->n_headers; i++)
    free(d->headers[i]);
  free(d->headers);
  free(d->user_agent);
  free(d->ca_file);
  free(d->ca_path);
  memset(d, 0, sizeof(*d));
}

int uvfpy_call_options(uvf_options *o, const uvf_options *base,
                       const uvfpy_call_args *a, long *deadline_ms) {
  *o = *base;
  *deadline_ms = 0;
  if (a->deadline && get_seconds(a->deadline, "deadline", 0, 0, deadline_ms))
    return -1;
  if (a->concurrency && a->concurrency != Py_None &&
      get_unsigned(a->concurrency, "concurrency", 1, UVF_MAX_IN_FLIGHT,
                   &o->max_in_flight))
    return -1;
  if (a->per_host == Py_None)
    o->max_per_host = 0;
  else if (a->per_host &&
           get_unsigned(a->per_host, "per_host", 0, UINT_MAX, &o->max_per_host))
    return -1;
  if (a->timeout && get_seconds(a->timeout, "timeout", 0, 0, &o->timeout_ms))
    return -1;
  /* None: the client's, as the signature and the stub say. */
  if (a->keep_body && a->keep_body != Py_None &&
      get_bool(a->keep_body, &o->keep_body) < 0)
    return -1;
  if (a->retries && a->retries != Py_None &&
      get_unsigned(a->retries, "retries", 0, 1000, &o->max_retries))
    return -1;
  return header_args(o, a->keep_headers, a->max_header_bytes,
                     a->retry_all_methods, 1);
}
