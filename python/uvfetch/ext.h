/* The uvfetch Python package's extension module, _uvfetch: what its files
 * share. It is built on the public C API alone (uvfetch.h): a Client is a
 * uvf_client, each fetch_all() or fetch() is one uvf_call. */
#ifndef UVFPY_EXT_H
#define UVFPY_EXT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "uvfetch.h"

/* ---- result.c: Result, FetchError ---- */

/* One URL's result. Numbers stay C values; the Python objects are made
 * once, when the result is handed over. Holds no reference cycle, so it
 * is not tracked by the garbage collector. */
typedef struct uvfpy_result {
  PyObject ob_base;
  PyObject *url;       /* str */
  PyObject *final_url; /* str or None */
  PyObject *message;   /* str */
  PyObject *body;      /* bytes or None */
  PyObject *history;   /* tuple of str */
  PyObject *headers;   /* a Headers, made when first asked for; NULL */
  char *header_text;   /* kept headers: "name\0value\0" n_headers times */
  Py_ssize_t n_headers;
  unsigned long long index;
  unsigned long long bytes;
  double time_total, time_connect, time_ttfb, time_queued;
  long status;
  long http_version;
  int error; /* UVF_OK or a result kind */
  int curl_code;
  unsigned attempts, redirects;
  char ok;
  char kept_headers; /* headers were asked for: headers is a Headers */
} uvfpy_result;

extern PyTypeObject uvfpy_ResultType;
extern PyObject *uvfpy_FetchError;

int uvfpy_result_setup(PyObject *module);
/* A new Result from the library's; NULL with an exception set.
 * keep_headers: the call asked for them (Result.headers is a Headers, else
 * None). */
PyObject *uvfpy_result_new(const uvf_result *r, int keep_headers);
/* The result of a URL that was never handed to the library (the call had
 * ended: deadline or cancel); url is a str. */
PyObject *uvfpy_result_missed(unsigned long long index, PyObject *url,
                              int error, int keep_headers);
/* The short name of a result kind ("timeout"), borrowed; None for UVF_OK. */
PyObject *uvfpy_kind_name(int error);
PyObject *uvfpy_result_restore(PyObject *module, PyObject *state);

/* ---- options.c: keyword arguments -> uvf_options ---- */

/* A client's options and the strings they point at, owned. */
typedef struct uvfpy_opts {
  uvf_options o;
  char **headers; /* "Name: value", n of them */
  size_t n_headers;
  char *user_agent, *ca_file, *ca_path;
} uvfpy_opts;

/* The keyword arguments of Client(); NULL for the ones not given. */
typedef struct uvfpy_client_args {
  PyObject *concurrency, *per_host, *timeout, *connect_timeout, *retries,
      *headers, *user_agent, *verify, *cafile, *capath, *http2, *max_body,
      *keep_body, *follow_redirects, *max_redirects, *compressed,
      *rate_per_host, *retry_delay, *retry_max_delay, *keep_headers,
      *max_header_bytes, *retry_all_methods;
} uvfpy_client_args;

/* The per-call keyword arguments; NULL for the ones not given. */
typedef struct uvfpy_call_args {
  PyObject *deadline, *concurrency, *per_host, *timeout, *keep_body, *retries,
      *keep_headers, *max_header_bytes, *retry_all_methods;
} uvfpy_call_args;

int uvfpy_opts_from_args(uvfpy_opts *dst, const uvfpy_client_args *a);
void uvfpy_opts_free(uvfpy_opts *o);
/* A call's options: the client's with the overrides in a. */
int uvfpy_call_options(uvf_options *dst, const uvf_options *base,
                       const uvfpy_call_args *a, long *deadline_ms);
/* Raises the exception for an error the library returned; returns -1. */
int uvfpy_raise(int err);
/* 1 when s[0..n) is an HTTP token (RFC 9110 tchar), n > 0. */
int uvfpy_is_token(const char *s, Py_ssize_t n);
/* The header lines of v (None; a mapping; an iterable of (name, value)
 * pairs or "Name: value" strs), checked, each handed to add() as the
 * library takes it: "Name: value", "Name;" for an empty value, "Name:"
 * for a value of None (removes the header). 0, or -1 with an exception
 * (add() returns -1 with one set to stop). */
int uvfpy_header_lines(PyObject *v, int (*add)(void *, const char *, size_t),
                       void *ctx);

/* ---- request.c: Request ---- */

/* A URL with a method, headers and a body, checked and ready to hand to
 * the library. Holds only str, bytes and a tuple of bytes: no reference
 * cycle, so not tracked by the garbage collector. */
typedef struct uvfpy_request {
  PyObject ob_base;
  PyObject *url;      /* str or bytes, without NUL */
  PyObject *method;   /* str, an upper-case HTTP token; NULL: the default */
  PyObject *lines;    /* tuple of bytes "Name: value" ("Name;", "Name:");
                         NULL: none */
  PyObject *body;     /* bytes; NULL: none */
  unsigned char json; /* UVFPY_JSON_*: headers json= adds when sent */
} uvfpy_request;

#define UVFPY_JSON_CT 1     /* Content-Type: application/json */
#define UVFPY_JSON_ACCEPT 2 /* Accept: application/json */

/* A return of uvfpy_request_submit() that is no uvf_err: a Python
 * exception is set. */
#define UVFPY_RAISED 1

extern PyTypeObject uvfpy_RequestType;

int uvfpy_request_setup(PyObject *module);
PyObject *uvfpy_request_restore(PyObject *module, PyObject *state);
/* UVFPY_JSON_CT and UVFPY_JSON_ACCEPT for the lines that name them. */
unsigned uvfpy_json_headers_in(const char *const *lines, size_t n);
/* uvf_call_submit_request() of a Request; the JSON headers in have are
 * given by the call's options and not added. A uvf_err, or UVFPY_RAISED. */
int uvfpy_request_submit(uvf_call *call, PyObject *rq, unsigned have);

/* ---- client.c: the client ---- */

typedef struct uvfpy_client {
  PyObject ob_base;
  uvf_client *c; /* NULL once closed */
  uvfpy_opts opts;
  long pid; /* the process that made it: a fork does not carry its thread */
  PyObject *weakrefs;
} uvfpy_client;

extern PyTypeObject uvfpy_ClientType;

/* 0 when calls may start on the client, else -1 with an exception set. */
int uvfpy_client_usable(const uvfpy_client *c);

/* ---- fetch.c: one call, as an iterator or collected in a list ---- */

extern PyTypeObject uvfpy_FetchType;

/* A URL (str or bytes) as the C string the library copies; NULL with an
 * exception for another type or a NUL inside. */
const char *uvfpy_url_chars(PyObject *u);

/* Starts a call on client c over the iterable urls (NULL: URLs come
 * through the Fetch's _put()). every: URLs left in the input when the call
 * ended early (deadline, cancel) get a result too, as fetch_all() needs. */
PyObject *uvfpy_fetch_start(uvfpy_client *c, PyObject *urls,
                            const uvf_options *o, long deadline_ms, int every);
/* Runs a call to its end: a list of results by index. */
PyObject *uvfpy_fetch_collect(PyObject *fetch);

#endif /* UVFPY_EXT_H */
