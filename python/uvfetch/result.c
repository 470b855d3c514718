/* Result: what happened to one URL, as a Python object with fixed slots
 * (no dict), made from the library's uvf_result in one pass; and
 * FetchError, raised by Result.raise_for_error(). */
#include "ext.h"

#include <string.h>
#include <structmember.h>

PyObject *uvfpy_FetchError;

/* Interned names of the result kinds, by -error; and shared constants. */
#define KINDS 12 /* UVF_OK .. UVF_EINVALID_REQUEST */
static PyObject *kind_names[KINDS];
static PyObject *empty_str, *empty_tuple;

PyObject *uvfpy_kind_name(int error) {
  if (error > 0 || error <= -KINDS)
    return Py_None;
  return error == UVF_OK ? Py_None : kind_names[-error];
}

static PyObject *decode(const char *s, const char *errors) {
  return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), errors);
}

/* "http 503" for a status, the kind's name otherwise, as the CLI's
 * records say it. */
static PyObject *history(const uvf_result *r) {
  PyObject *t;
  unsigned i;
  if (!r->n_history || !r->history)
    return Py_NewRef(empty_tuple);
  if (!(t = PyTuple_New(r->n_history)))
    return NULL;
  for (i = 0; i < r->n_history; i++) {
    const uvf_attempt *a = &r->history[i];
    PyObject *s = a->error == UVF_EHTTP
                      ? PyUnicode_FromFormat("http %ld", a->status)
                      : Py_NewRef(uvfpy_kind_name(a->error));
    if (!s) {
      Py_DECREF(t);
      return NULL;
    }
    PyTuple_SET_ITEM(t, i, s);
  }
  return t;
}

static uvfpy_result *alloc_result(void) {
  uvfpy_result *o = PyObject_New(uvfpy_result, &uvfpy_ResultType);
  if (!o)
    return NULL;
  o->url = o->final_url = o->message = o->body = o->history = NULL;
  o->headers = NULL;
  o->header_text = NULL;
  o->n_headers = 0;
  o->kept_headers = 0;
  return o;
}

/* The library's header fields in one block, "name\0value\0" each: the
 * Headers mapping is made only if the program asks for it. 0, or -1
 * with an exception. */
static int keep_headers(uvfpy_result *o, const uvf_result *r) {
  size_t len = 0, i, n;
  char *p;
  o->kept_headers = 1;
  if (r->size < offsetof(uvf_result, n_headers) + sizeof(r->n_headers) ||
      !r->headers || !r->n_headers)
    return 0;
  for (i = 0; i < r->n_headers; i++)
    len += strlen(r->headers[i].name) + strlen(r->headers[i].value) + 2;
  if (r->n_headers > PY_SSIZE_T_MAX || !(p = PyMem_Malloc(len))) {
    PyErr_NoMemory();
    return -1;
  }
  o->header_text = p;
  o->n_headers = (Py_ssize_t)r->n_headers;
  for (i = 0; i < r->n_headers; i++) {
    n = strlen(r->headers[i].name) + 1;
    memcpy(p, r->headers[i].name, n);
    p += n;
    n = strlen(r->headers[i].value) + 1;
    memcpy(p, r->headers[i].value, n);
    p += n;
  }
  return 0;
}

PyObject *uvfpy_result_new(const uvf_result *r, int kept_headers) {
  uvfpy_result *o = alloc_result();
  if (!o)
    return NULL;
  o->index = r->index;
  o->bytes = r->bytes;
  o->time_total = r->time_total;
  o->time_connect = r->time_connect;
  o->time_ttfb = r->time_ttfb;
  o->time_queued = r->time_queued;
  o->status = r->status;
  o->http_version = r->http_version;
  o->error = r->error;
  o->curl_code = r->curl_code;
  o->attempts = r->attempts;
  o->redirects = r->redirects;
  o->ok = r->ok ? 1 : 0;
  if (!(o->url = decode(r->url ? r->url : "", "surrogateescape")))
    goto fail;
  if (!r->final_url)
    o->final_url = Py_NewRef(Py_None);
  else if (r->url && strcmp(r->final_url, r->url) == 0)
    o->final_url = Py_NewRef(o->url);
  else if (!(o->final_url = decode(r->final_url, "surrogateescape")))
    goto fail;
  if (!r->message || !*r->message)
    o->message = Py_NewRef(empty_str);
  else if (!(o->message = decode(r->message, "replace")))
    goto fail;
  if (!r->body)
    o->body = Py_NewRef(Py_None);
  else if (r->bytes > PY_SSIZE_T_MAX)
    goto fail_size;
  else if (!(o->body =
                 PyBytes_FromStringAndSize(r->body, (Py_ssize_t)r->bytes)))
    goto fail;
  if (!(o->history = history(r)))
    goto fail;
  if (kept_headers && keep_headers(o, r) < 0)
    goto fail;
  return (PyObject *)o;
fail_size:
  PyErr_NoMemory();
fail:
  Py_DECREF(o);
  return NULL;
}

PyObject *uvfpy_result_missed(unsigned long long index, PyObject *url,
                              int error, int kept_headers) {
  uvfpy_result *o = alloc_result();
  if (!o)
    return NULL;
  memset(&o->index, 0, sizeof(*o) - offsetof(uvfpy_result, index));
  o->kept_headers = kept_headers ? 1 : 0;
  o->index = index;
  o->error = error;
  o->url = Py_NewRef(url);
  o->final_url = Py_NewRef(Py_None);
  o->body = Py_NewRef(Py_None);
  o->history = Py_NewRef(empty_tuple);
  if (!(o->message = decode(uvf_strerror(error), "strict"))) {
    Py_DECREF(o);
    return NULL;
  }
  return (PyObject *)o;
}

static void result_dealloc(uvfpy_result *o) {
  Py_XDECREF(o->url);
  Py_XDECREF(o->final_url);
  Py_XDECREF(o->message);
  Py_XDECREF(o->body);
  Py_XDECREF(o->history);
  Py_XDECREF(o->headers);
  PyMem_Free(o->header_text);
  PyObject_Free(o);
}

/* ---- attributes ---- */

#define RO READONLY
static PyMemberDef result_members[] = {
    {"index", T_ULONGLONG, offsetof(uvfpy_result, index), RO,
     "Position of the URL in the input, from 0."},
    {"url", T_OBJECT, offsetof(uvfpy_result, url), RO,
     "The URL as it was given (str)."},
    {"ok", T_BOOL, offsetof(uvfpy_result, ok), RO,
     "True when a reply came with a 2xx final status (error is None)."},
    {"status", T_LONG, offsetof(uvfpy_result, status), RO,
     "The final HTTP status; 0 if no reply came."},
    {"message", T_OBJECT, offsetof(uvfpy_result, message), RO,
     "What went wrong, for people; \"\" when ok."},
    {"body", T_OBJECT, offsetof(uvfpy_result, body), RO,
     "The body (bytes, NUL bytes and all); None when bodies are not kept\n"
     "(keep_body=False) or no reply came."},
    {"bytes", T_ULONGLONG, offsetof(uvfpy_result, bytes), RO,
     "Body bytes received (after decoding), kept or not."},
    {"attempts", T_UINT, offsetof(uvfpy_result, attempts), RO,
     "Transfers started for this URL (1 + retries; 0 if none started)."},
    {"history", T_OBJECT, offsetof(uvfpy_result, history), RO,
     "The errors of earlier attempts, oldest first: a tuple of str such as\n"
     "('timeout', 'http 503')."},
    {"time_total", T_DOUBLE, offsetof(uvfpy_result, time_total), RO,
     "Seconds the last attempt's transfer took."},
    {"time_connect", T_DOUBLE, offsetof(uvfpy_result, time_connect), RO,
     "Seconds until the connection was made (0 when one was reused)."},
    {"time_ttfb", T_DOUBLE, offsetof(uvfpy_result, time_ttfb), RO,
     "Seconds until the first byte of the reply."},
    {"time_queued", T_DOUBLE, offsetof(uvfpy_result, time_queued), RO,
     "Seconds between the URL's submission and its transfer's start."},
    {"final_url", T_OBJECT, offsetof(uvfpy_result, final_url), RO,
     "The URL after redirects; None if no request was made."},
    {"redirects", T_UINT, offsetof(uvfpy_result, redirects), RO,
     "Redirects followed."},
    {"curl_code", T_INT, offsetof(uvfpy_result, curl_code), RO,
     "libcurl's raw CURLcode, 0 if none."},
    {NULL, 0, 0, 0, NULL}};

static PyObject *get_error(uvfpy_result *o, void *unused) {
  return Py_NewRef(uvfpy_kind_name(o->error));
}

static PyObject *get_http_version(uvfpy_result *o, void *unused) {
  switch (o->http_version) {
  case 10: return PyUnicode_FromString("1.0");
  case 11: return PyUnicode_FromString("1.1");
  case 20: return PyUnicode_FromString("2");
  case 30: return PyUnicode_FromString("3");
  default: Py_RETURN_NONE;
  }
}

static PyObject *get_text(uvfpy_result *o, void *unused) {
  if (o->body == Py_None)
    Py_RETURN_NONE;
  return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(o->body),
                              PyBytes_GET_SIZE(o->body), "replace");
}

/* uvfetch._headers.Headers, imported when first needed. */
static PyObject *headers_type;

static PyObject *headers_class(void) {
  PyObject *m, *cls;
  if (headers_type)
    return headers_type;
  if (!(m = PyImport_ImportModule("uvfetch._headers")))
    return NULL;
  cls = PyObject_GetAttrString(m, "Headers");
  Py_DECREF(m);
  if (cls && headers_type) /* another thread was quicker */
    Py_DECREF(cls);
  else if (cls)
    headers_type = cls;
  return cls ? headers_type : NULL;
}

/* A header value: UTF-8 if it is, else Latin-1 (as httpx reads them). */
static PyObject *header_value(const char *v) {
  Py_ssize_t n = (Py_ssize_t)strlen(v);
  PyObject *s = PyUnicode_DecodeUTF8(v, n, "strict");
  if (s || !PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
    return s;
  PyErr_Clear();
  return PyUnicode_DecodeLatin1(v, n, "strict");
}

/* The kept fields as one tuple: name, value, name, value... */
static PyObject *header_fields(uvfpy_result *o) {
  PyObject *t = PyTuple_New(2 * o->n_headers), *s;
  const char *p = o->header_text;
  Py_ssize_t i;
  if (!t)
    return NULL;
  for (i = 0; i < 2 * o->n_headers; i++) {
    s = i % 2 ? header_value(p)
              : PyUnicode_DecodeLatin1(p, (Py_ssize_t)strlen(p), "strict");
    if (!s) {
      Py_DECREF(t);
      return NULL;
    }
    PyTuple_SET_ITEM(t, i, s);
    p += strlen(p) + 1;
  }
  return t;
}

/* Made on first access, from header_text, which stays until the Result
 * goes: making the Headers runs Python code, during which another thread
 * may ask too (the first one made wins). */
static PyObject *get_headers(uvfpy_result *o, void *unused) {
  PyObject *cls, *fields, *h;
  if (o->headers)
    return Py_NewRef(o->headers);
  if (!o->kept_headers)
    Py_RETURN_NONE;
  if (!(cls = headers_class()) || !(fields = header_fields(o)))
    return NULL;
  h = PyObject_CallMethod(cls, "_from_flat", "(N)", fields);
  if (!h)
    return NULL;
  if (o->headers) {
    Py_DECREF(h);
    return Py_NewRef(o->headers);
  }
  o->headers = h;
  return Py_NewRef(h);
}

static PyGetSetDef result_getset[] = {
    {"headers", (getter)get_headers, NULL,
     "The final response's header fields (after redirects), a Headers:\n"
     "a read-only mapping whose names are case-insensitive;\n"
     "r.headers[\"Content-Type\"], r.headers.get(\"etag\"). A repeated\n"
     "field (Set-Cookie) reads as its values joined by \", \"; get_all()\n"
     "gives them as a list, multi_items() every field in order. Empty\n"
     "when no reply came; None when the call had keep_headers=False.",
     NULL},
    {"error", (getter)get_error, NULL,
     "None when ok, else the kind of failure: \"invalid_url\", \"dns\",\n"
     "\"connect\", \"tls\", \"timeout\", \"protocol\", \"too_large\",\n"
     "\"http\" (a reply whose final status is not 2xx), \"aborted\"\n"
     "(cancelled) or \"deadline\" (not done by the call's deadline).",
     NULL},
    {"http_version", (getter)get_http_version, NULL,
     "The final reply's HTTP version: \"1.0\", \"1.1\", \"2\"; None if no\n"
     "reply came.",
     NULL},
    {"text", (getter)get_text, NULL,
     "The body decoded as UTF-8 (bad bytes replaced); None without a body.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

/* ---- methods ---- */

static PyObject *result_json(uvfpy_result *o, PyObject *args,
                             PyObject *kwargs) {
  PyObject *json, *loads, *v;
  if (PyTuple_GET_SIZE(args)) {
    PyErr_SetString(PyExc_TypeError, "json() takes keyword arguments only");
    return NULL;
  }
  if (o->body == Py_None) {
    PyErr_SetString(PyExc_ValueError,
                    "no body to parse: the client was made with "
                    "keep_body=False, or no reply came");
    return NULL;
  }
  if (!(json = PyImport_ImportModule("json")))
    return NULL;
  loads = PyObject_GetAttrString(json, "loads");
  Py_DECREF(json);
  if (!loads)
    return NULL;
  args = PyTuple_Pack(1, o->body);
  v = args ? PyObject_Call(loads, args, kwargs) : NULL;
  Py_XDECREF(args);
  Py_DECREF(loads);
  return v;
}

static PyObject *result_raise_for_error(uvfpy_result *o,
                                        PyObject *Py_UNUSED(unused)) {
  PyObject *msg, *exc;
  if (o->ok)
    return Py_NewRef(o);
  if (o->error == UVF_EHTTP)
    msg = PyUnicode_FromFormat("http %ld: %U", o->status, o->url);
  else
    msg = PyUnicode_FromFormat("%S: %U (%U)", uvfpy_kind_name(o->error),
                               o->message, o->url);
  if (!msg)
    return NULL;
  exc = PyObject_CallOneArg(uvfpy_FetchError, msg);
  Py_DECREF(msg);
  if (!exc)
    return NULL;
  if (PyObject_SetAttrString(exc, "result", (PyObject *)o) == 0)
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
  Py_DECREF(exc);
  return NULL;
}

/* Pickling (results handed between processes): the fields in order. */
#define STATE_FORMAT "KO!OlOiiO!OKIO!ddddlIO|O"
static PyObject *restore_fn; /* _uvfetch._result_restore */

static PyObject *result_reduce(uvfpy_result *o, PyObject *Py_UNUSED(unused)) {
  PyObject *headers = get_headers(o, NULL);
  if (!headers)
    return NULL;
  return Py_BuildValue(
      "O(KOOlOiiOOKIOddddlION)", restore_fn, o->index, o->url,
      o->ok ? Py_True : Py_False, o->status, uvfpy_kind_name(o->error),
      o->error, o->curl_code, o->message, o->body, o->bytes, o->attempts,
      o->history, o->time_total, o->time_connect, o->time_ttfb, o->time_queued,
      o->http_version, o->redirects, o->final_url, headers);
}

PyObject *uvfpy_result_restore(PyObject *module, PyObject *args) {
  uvfpy_result *o = alloc_result();
  PyObject *url, *ok, *name, *message, *body, *hist, *final_url;
  PyObject *headers = Py_None, *cls;
  int is_headers = 0;
  if (!o)
    return NULL;
  if (!PyArg_ParseTuple(
          args, STATE_FORMAT, &o->index, &PyUnicode_Type, &url, &ok, &o->status,
          &name, &o->error, &o->curl_code, &PyUnicode_Type, &message, &body,
          &o->bytes, &o->attempts, &PyTuple_Type, &hist, &o->time_total,
          &o->time_connect, &o->time_ttfb, &o->time_queued, &o->http_version,
          &o->redirects, &final_url, &headers)) {
    Py_DECREF(o);
    return NULL;
  }
  if (headers != Py_None &&
      (!(cls = headers_class()) ||
       (is_headers = PyObject_IsInstance(headers, cls)) < 0)) {
    Py_DECREF(o);
    return NULL;
  }
  if ((body != Py_None && !PyBytes_Check(body)) ||
      (final_url != Py_None && !PyUnicode_Check(final_url)) ||
      (headers != Py_None && !is_headers)) {
    PyErr_SetString(PyExc_TypeError, "not the state of a Result");
    Py_DECREF(o);
    return NULL;
  }
  if (headers != Py_None) {
    o->kept_headers = 1;
    o->headers = Py_NewRef(headers);
  }
  (void)name; /* for people reading a pickle; error is what counts */
  o->ok = ok == Py_True;
  o->url = Py_NewRef(url);
  o->message = Py_NewRef(message);
  o->body = Py_NewRef(body);
  o->history = Py_NewRef(hist);
  o->final_url = Py_NewRef(final_url);
  return (PyObject *)o;
}

static PyObject *result_repr(uvfpy_result *o) {
  if (o->ok)
    return PyUnicode_FromFormat("<uvfetch.Result #%llu %ld %R>", o->index,
                                o->status, o->url);
  if (o->error == UVF_EHTTP)
    return PyUnicode_FromFormat("<uvfetch.Result #%llu http %ld %R>", o->index,
                                o->status, o->url);
  return PyUnicode_FromFormat("<uvfetch.Result #%llu %S %R>", o->index,
                              uvfpy_kind_name(o->error), o->url);
}

static PyMethodDef result_methods[] = {
    {"json", (PyCFunction)(void (*)(void))result_json,
     METH_VARARGS | METH_KEYWORDS,
     "json(**kwargs)\n--\n\n"
     "The body parsed as JSON (json.loads(self.body, **kwargs)).\n"
     "ValueError if no body was kept; json.JSONDecodeError if it is not\n"
     "JSON."},
    {"raise_for_error", (PyCFunction)result_raise_for_error, METH_NOARGS,
     "raise_for_error($self, /)\n--\n\n"
     "Raises FetchError (with .result = self) unless ok; returns self\n"
     "when ok, so that r.raise_for_error().json() reads well."},
    {"__reduce__", (PyCFunction)result_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

PyTypeObject uvfpy_ResultType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uvfetch.Result",
    .tp_basicsize = sizeof(uvfpy_result),
    .tp_dealloc = (destructor)result_dealloc,
    .tp_repr = (reprfunc)result_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "What happened to one URL. Made by the library, read-only.\n\n"
              "ok is True for a 2xx reply; otherwise error names the kind\n"
              "of failure and message says more. A failed fetch is a\n"
              "Result, never an exception, unless raise_for_error() is\n"
              "called. Results pickle.",
    .tp_members = result_members,
    .tp_getset = result_getset,
    .tp_methods = result_methods,
};

int uvfpy_result_setup(PyObject *m) {
  PyObject *names;
  int i;
  if (!(empty_str = PyUnicode_InternFromString("")) ||
      !(empty_tuple = PyTuple_New(0)) || !(names = PyTuple_New(KINDS - 1)))
    return -1;
  for (i = 1; i < KINDS; i++) {
    if (!(kind_names[i] = PyUnicode_InternFromString(uvf_err_name(-i)))) {
      Py_DECREF(names);
      return -1;
    }
    PyTuple_SET_ITEM(names, i - 1, Py_NewRef(kind_names[i]));
  }
  if (PyModule_AddObject(m, "KINDS", names) < 0) {
    Py_DECREF(names);
    return -1;
  }
  uvfpy_FetchError = PyErr_NewExceptionWithDoc(
      "uvfetch.FetchError",
      "Raised by Result.raise_for_error() for a URL that failed; the\n"
      "Result is in its .result attribute.",
      PyExc_Exception, NULL);
  if (!uvfpy_FetchError || PyType_Ready(&uvfpy_ResultType) < 0 ||
      !(restore_fn = PyObject_GetAttrString(m, "_result_restore")))
    return -1;
  if (PyModule_AddObject(m, "FetchError", Py_NewRef(uvfpy_FetchError)) < 0 ||
      PyModule_AddObject(m, "Result", Py_NewRef(&uvfpy_ResultType)) < 0)
    return -1;
  return 0;
}
