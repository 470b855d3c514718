/* Request: a URL with a method, headers and a body, taken wherever a URL
 * is (fetch_all, fetch, the async forms). Everything is checked and put
 * in the form the library takes when the Request is made, so a mistake
 * raises where it was written, and handing one to a call costs a
 * uvf_request on the stack and the library's copy, nothing more. */
#include "ext.h"

#include <string.h>
#include <strings.h>

#define HEAD_STACK 16 /* header lines handed over without a malloc */

static PyObject *json_dumps, *json_kwargs, *urlencode, *urlencode_kwargs;

/* Methods sent upper-case whatever their case is, as requests and httpx
 * do; interned, so that most Requests share their method. */
static const char *const known[] = {"GET",    "HEAD",    "POST",  "PUT",
                                    "DELETE", "OPTIONS", "PATCH", "TRACE"};
static PyObject *known_str[sizeof(known) / sizeof(known[0])];

static PyObject *method_str(PyObject *m) {
  const char *s;
  Py_ssize_t n, i;
  if (!PyUnicode_Check(m)) {
    PyErr_Format(PyExc_TypeError, "method must be a str, not %.100s",
                 Py_TYPE(m)->tp_name);
    return NULL;
  }
  if (!(s = PyUnicode_AsUTF8AndSize(m, &n)))
    return NULL;
  if (!uvfpy_is_token(s, n)) {
    PyErr_Format(PyExc_ValueError,
                 "method must be an HTTP token such as \"POST\" (letters, "
                 "digits and !#$%%&'*+-.^_`|~), not %R",
                 m);
    return NULL;
  }
  for (i = 0; i < (Py_ssize_t)(sizeof(known) / sizeof(known[0])); i++)
    if (strcasecmp(s, known[i]) == 0)
      return Py_NewRef(known_str[i]);
  return PyObject_CallMethod(m, "upper", NULL);
}

/* 1 when a header line names name ("Name: v", "Name:" or "Name;"). */
static int line_names(const char *line, const char *name) {
  size_t n = strlen(name);
  return strncasecmp(line, name, n) == 0 && (line[n] == ':' || line[n] == ';');
}

unsigned uvfpy_json_headers_in(const char *const *lines, size_t n) {
  unsigned have = 0;
  size_t i;
  for (i = 0; i < n; i++) {
    if (line_names(lines[i], "Content-Type"))
      have |= UVFPY_JSON_CT;
    if (line_names(lines[i], "Accept"))
      have |= UVFPY_JSON_ACCEPT;
  }
  return have;
}

/* Collects header lines as bytes, for uvfpy_header_lines(). */
typedef struct lines_ctx {
  PyObject *list;
  unsigned have; /* UVFPY_JSON_CT | UVFPY_JSON_ACCEPT named */
} lines_ctx;

static int add_line(void *ctx, const char *line, size_t len) {
  lines_ctx *c = ctx;
  PyObject *b = PyBytes_FromStringAndSize(line, (Py_ssize_t)len);
  int rc;
  if (!b)
    return -1;
  rc = PyList_Append(c->list, b);
  Py_DECREF(b);
  c->have |= uvfpy_json_headers_in(&line, 1);
  return rc;
}

/* module.name into *fn, once. The import may let another thread run,
 * which may have cached it meanwhile. */
static int cache(PyObject **fn, const char *module, const char *name) {
  PyObject *m, *f;
  if (*fn)
    return 0;
  if (!(m = PyImport_ImportModule(module)))
    return -1;
  f = PyObject_GetAttrString(m, name);
  Py_DECREF(m);
  if (!f)
    return -1;
  if (*fn)
    Py_DECREF(f);
  else
    *fn = f;
  return 0;
}

/* fn(v, **kwargs), a str, as UTF-8 bytes. */
static PyObject *call_utf8(PyObject *fn, PyObject *v, PyObject *kwargs) {
  PyObject *args, *s, *b;
  if (!(args = PyTuple_Pack(1, v)))
    return NULL;
  s = PyObject_Call(fn, args, kwargs);
  Py_DECREF(args);
  if (!s)
    return NULL;
  b = PyUnicode_AsUTF8String(s);
  Py_DECREF(s);
  return b;
}

/* json= as compact UTF-8, as curl --json and the command send it; NaN and
 * infinities are refused (they are not JSON). */
static PyObject *json_body(PyObject *v) {
  if (cache(&json_dumps, "json", "dumps") < 0)
    return NULL;
  if (!json_kwargs && !(json_kwargs = Py_BuildValue(
                            "{s(ss)sOsO}", "separators", ",", ":",
                            "ensure_ascii", Py_False, "allow_nan", Py_False)))
    return NULL;
  return call_utf8(json_dumps, v, json_kwargs);
}

/* data=: bytes as they are, a str as UTF-8, any other buffer copied, a
 * dict or a list of pairs form-encoded (as requests does: a list value
 * repeats its key). */
static PyObject *data_body(PyObject *v) {
  if (PyBytes_CheckExact(v))
    return Py_NewRef(v);
  if (PyUnicode_Check(v))
    return PyUnicode_AsUTF8String(v);
  if (PyObject_CheckBuffer(v))
    return PyBytes_FromObject(v);
  if (PyDict_Check(v) || PyList_Check(v) || PyTuple_Check(v) ||
      (PyMapping_Check(v) && PyObject_HasAttrString(v, "items"))) {
    if (cache(&urlencode, "urllib.parse", "urlencode") < 0)
      return NULL;
    if (!urlencode_kwargs &&
        !(urlencode_kwargs = Py_BuildValue("{sO}", "doseq", Py_True)))
      return NULL;
    return call_utf8(urlencode, v, urlencode_kwargs);
  }
  PyErr_Format(PyExc_TypeError,
               "data must be bytes, a str, a dict or a list of (name, value) "
               "pairs, not %.100s",
               Py_TYPE(v)->tp_name);
  return NULL;
}

static PyObject *request_new(PyTypeObject *type, PyObject *args, PyObject *kw) {
  static char *names[] = {"url", "method", "headers", "data", "json", NULL};
  PyObject *url, *method = Py_None, *headers = Py_None, *data = Py_None,
                 *json = Py_None;
  lines_ctx lc = {NULL, 0};
  uvfpy_request *rq;
  const char *s;
  Py_ssize_t n;
  if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$OOOO:Request", names, &url,
                                   &method, &headers, &data, &json))
    return NULL;
  if (PyUnicode_Check(url)) {
    if (!(s = PyUnicode_AsUTF8AndSize(url, &n)))
      return NULL;
  } else if (PyBytes_Check(url)) {
    s = PyBytes_AS_STRING(url);
    n = PyBytes_GET_SIZE(url);
  } else {
    PyErr_Format(PyExc_TypeError, "url must be a str or bytes, not %.100s",
                 Py_TYPE(url)->tp_name);
    return NULL;
  }
  if (strlen(s) != (size_t)n) {
    PyErr_Format(PyExc_ValueError, "a URL must not contain NUL: %R", url);
    return NULL;
  }
  if (data != Py_None && json != Py_None) {
    PyErr_SetString(PyExc_ValueError, "give data= or json=, not both");
    return NULL;
  }
  if (!(rq = (uvfpy_request *)type->tp_alloc(type, 0)))
    return NULL;
  rq->url = Py_NewRef(url);
  if (method != Py_None && !(rq->method = method_str(method)))
    goto fail;
  if (headers != Py_None) {
    if (!(lc.list = PyList_New(0)) ||
        uvfpy_header_lines(headers, add_line, &lc) < 0 ||
        !(rq->lines = PyList_AsTuple(lc.list)))
      goto fail;
    Py_CLEAR(lc.list);
  }
  if (json != Py_None) {
    if (!(rq->body = json_body(json)))
      goto fail;
    rq->json = (unsigned char)((UVFPY_JSON_CT | UVFPY_JSON_ACCEPT) & ~lc.have);
  } else if (data != Py_None && !(rq->body = data_body(data))) {
    goto fail;
  }
  if (rq->body && rq->method == known_str[1]) {
    PyErr_SetString(PyExc_ValueError, "a HEAD request has no body");
    goto fail;
  }
  if (rq->method == known_str[0] && !rq->body)
    Py_CLEAR(rq->method); /* the default: the library's plain path */
  return (PyObject *)rq;
fail:
  Py_XDECREF(lc.list);
  Py_DECREF(rq);
  return NULL;
}

static void request_dealloc(uvfpy_request *rq) {
  Py_XDECREF(rq->url);
  Py_XDECREF(rq->method);
  Py_XDECREF(rq->lines);
  Py_XDECREF(rq->body);
  Py_TYPE(rq)->tp_free((PyObject *)rq);
}

int uvfpy_request_submit(uvf_call *call, PyObject *obj, unsigned have) {
  static const char *const json_lines[] = {"Content-Type: application/json",
                                           "Accept: application/json"};
  uvfpy_request *rq = (uvfpy_request *)obj;
  const char *stack[HEAD_STACK], **lines = stack;
  Py_ssize_t n = rq->lines ? PyTuple_GET_SIZE(rq->lines) : 0, i;
  unsigned add = rq->json & ~have;
  uvf_request r;
  int rc;
  uvf_request_init(&r);
  if (!(r.url = uvfpy_url_chars(rq->url)))
    return UVFPY_RAISED;
  if (rq->method && !(r.method = PyUnicode_AsUTF8(rq->method)))
    return UVFPY_RAISED;
  if (n + 2 > HEAD_STACK &&
      !(lines = PyMem_Malloc((size_t)(n + 2) * sizeof(*lines)))) {
    PyErr_NoMemory();
    return UVFPY_RAISED;
  }
  for (i = 0; i < n; i++)
    lines[i] = PyBytes_AS_STRING(PyTuple_GET_ITEM(rq->lines, i));
  if (add & UVFPY_JSON_CT)
    lines[n++] = json_lines[0];
  if (add & UVFPY_JSON_ACCEPT)
    lines[n++] = json_lines[1];
  r.headers = lines;
  r.n_headers = (size_t)n;
  if (rq->body) {
    r.body = PyBytes_AS_STRING(rq->body);
    r.body_len = (size_t)PyBytes_GET_SIZE(rq->body);
  }
  rc = uvf_call_submit_request(call, &r, NULL);
  if (lines != stack)
    PyMem_Free(lines);
  return rc;
}

/* ---- attributes ---- */

static PyObject *get_url(uvfpy_request *rq, void *unused) {
  return Py_NewRef(rq->url);
}

static PyObject *get_method(uvfpy_request *rq, void *unused) {
  if (rq->method)
    return Py_NewRef(rq->method);
  return Py_NewRef(known_str[rq->body ? 2 : 0]);
}

/* The lines back as (name, value) pairs: "" for "Name;", None for
 * "Name:". */
static PyObject *get_headers(uvfpy_request *rq, void *unused) {
  Py_ssize_t n = rq->lines ? PyTuple_GET_SIZE(rq->lines) : 0, i;
  PyObject *out = PyList_New(n);
  if (!out)
    return NULL;
  for (i = 0; i < n; i++) {
    const char *line = PyBytes_AS_STRING(PyTuple_GET_ITEM(rq->lines, i));
    size_t name = strcspn(line, ":;");
    const char *v = line + name + 1;
    PyObject *pair;
    while (*v == ' ')
      v++;
    if (line[name] == ';' || *v)
      pair = Py_BuildValue(
          "(s#N)", line, (Py_ssize_t)name,
          PyUnicode_DecodeUTF8(v, (Py_ssize_t)strlen(v), "surrogateescape"));
    else
      pair = Py_BuildValue("(s#O)", line, (Py_ssize_t)name, Py_None);
    if (!pair) {
      Py_DECREF(out);
      return NULL;
    }
    PyList_SET_ITEM(out, i, pair);
  }
  return out;
}

static PyObject *get_body(uvfpy_request *rq, void *unused) {
  return Py_NewRef(rq->body ? rq->body : Py_None);
}

static PyGetSetDef request_getset[] = {
    {"url", (getter)get_url, NULL, "The URL, as given.", NULL},
    {"method", (getter)get_method, NULL,
     "The method sent: upper-case; \"GET\", or \"POST\" with a body, when\n"
     "none was given.",
     NULL},
    {"headers", (getter)get_headers, NULL,
     "The header fields given, as a list of (name, value) pairs in order\n"
     "(a value of None removes that header). json= adds Content-Type and\n"
     "Accept: application/json when the request is sent, unless they are\n"
     "given here or by the client.",
     NULL},
    {"body", (getter)get_body, NULL,
     "The body that is sent (bytes), or None: data= as given (a str as\n"
     "UTF-8, a dict form-encoded), or json= serialised.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyObject *request_repr(uvfpy_request *rq) {
  PyObject *m = get_method(rq, NULL), *r;
  if (!m)
    return NULL;
  r = PyUnicode_FromFormat("<uvfetch.Request %U %R>", m, rq->url);
  Py_DECREF(m);
  return r;
}

/* Pickling (Requests handed to other processes): the state as it is. */
static PyObject *restore_fn; /* _uvfetch._request_restore */

static PyObject *request_reduce(uvfpy_request *rq,
                                PyObject *Py_UNUSED(unused)) {
  return Py_BuildValue("O(OOOOi)", restore_fn, rq->url,
                       rq->method ? rq->method : Py_None,
                       rq->lines ? rq->lines : Py_None,
                       rq->body ? rq->body : Py_None, (int)rq->json);
}

PyObject *uvfpy_request_restore(PyObject *module, PyObject *args) {
  PyObject *url, *method, *lines, *body, *again;
  uvfpy_request *rq;
  Py_ssize_t i;
  int json;
  if (!PyArg_ParseTuple(args, "OOOOi", &url, &method, &lines, &body, &json))
    return NULL;
  /* Checked again as Request() checks: a pickle is input too. */
  if (!(again = PyObject_CallOneArg((PyObject *)&uvfpy_RequestType, url)))
    return NULL;
  rq = (uvfpy_request *)again;
  if (method != Py_None && !(rq->method = method_str(method)))
    goto fail;
  if (lines != Py_None) {
    if (!PyTuple_Check(lines))
      goto bad;
    for (i = 0; i < PyTuple_GET_SIZE(lines); i++) {
      PyObject *l = PyTuple_GET_ITEM(lines, i);
      const char *s;
      size_t name;
      if (!PyBytes_Check(l))
        goto bad;
      s = PyBytes_AS_STRING(l);
      name = strcspn(s, ":;");
      if (strlen(s) != (size_t)PyBytes_GET_SIZE(l) ||
          !uvfpy_is_token(s, (Py_ssize_t)name) || !s[name] ||
          (s[name] == ';' && s[name + 1]) || strpbrk(s, "\r\n"))
        goto bad;
    }
    rq->lines = Py_NewRef(lines);
  }
  if (body != Py_None) {
    if (!PyBytes_Check(body))
      goto bad;
    rq->body = Py_NewRef(body);
  }
  rq->json = (unsigned char)(json & (UVFPY_JSON_CT | UVFPY_JSON_ACCEPT));
  return again;
bad:
  PyErr_SetString(PyExc_TypeError, "not the state of a Request");
fail:
  Py_DECREF(again);
  return NULL;
}

static PyMethodDef request_methods[] = {
    {"__reduce__", (PyCFunction)request_reduce, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}};

PyTypeObject uvfpy_RequestType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uvfetch.Request",
    .tp_basicsize = sizeof(uvfpy_request),
    .tp_dealloc = (destructor)request_dealloc,
    .tp_repr = (reprfunc)request_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "Request(url, *, method=None, headers=None, data=None, json=None)\n"
        "--\n\n"
        "A URL with its own method, headers and body, taken wherever a URL\n"
        "is: fetch_all(), fetch() and their async forms, mixed with plain\n"
        "URLs in one input if need be. Read-only; pickles.\n\n"
        "  method   None: GET, or POST with a body; sent upper-case\n"
        "  headers  a dict, or a list of (name, value) pairs or\n"
        "           \"Name: value\" strs, sent besides the client's (one\n"
        "           of the same name there is replaced; a value of None\n"
        "           removes it)\n"
        "  data     the body: bytes (NUL bytes and all), a str (sent as\n"
        "           UTF-8), or a dict or list of pairs (form-encoded);\n"
        "           Content-Type application/x-www-form-urlencoded unless\n"
        "           a header gives one\n"
        "  json     the body as JSON (compact, UTF-8), with Content-Type\n"
        "           and Accept: application/json unless the request or\n"
        "           the client gives them\n\n"
        "A wrong type raises TypeError and a value that cannot be sent\n"
        "(a method or header name that is not an HTTP token, a line break\n"
        "in a header value, a HEAD with a body, both data and json)\n"
        "ValueError, here rather than at fetch time. Redirects go as in\n"
        "browsers (301/302 turn a POST into a GET without body, 303 any\n"
        "method but HEAD; 307/308 keep method and body), and Authorization\n"
        "and Cookie headers are not sent on to another host.",
    .tp_getset = request_getset,
    .tp_methods = request_methods,
    .tp_new = request_new,
};

int uvfpy_request_setup(PyObject *m) {
  size_t i;
  for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if (!known_str[i] && !(known_str[i] = PyUnicode_InternFromString(known[i])))
      return -1;
  if (PyType_Ready(&uvfpy_RequestType) < 0 ||
      !(restore_fn = PyObject_GetAttrString(m, "_request_restore")) ||
      PyModule_AddObject(m, "Request", Py_NewRef(&uvfpy_RequestType)) < 0)
    return -1;
  return 0;
}
