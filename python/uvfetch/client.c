/* The client: one uvf_client (an event loop on a thread of its own, with
 * the connections, DNS cache and TLS state that outlive a call), shared by
 * any number of Python threads. Calls start with the GIL held, so close()
 * (which takes the handle away before it releases the GIL) never races a
 * start; a call already running when the client closes ends as aborted. */
#include "ext.h"

#include <unistd.h>

int uvfpy_client_usable(const uvfpy_client *c) {
  if (!c->c) {
    PyErr_SetString(PyExc_ValueError, "the client is closed");
    return -1;
  }
  if ((long)getpid() != c->pid) {
    PyErr_SetString(PyExc_RuntimeError,
                    "a Client cannot be used after fork(): its event loop "
                    "thread stayed in the parent; make a new one");
    return -1;
  }
  return 0;
}

static int client_init(uvfpy_client *self, PyObject *args, PyObject *kw) {
  static char *names[] = {"concurrency",
                          "per_host",
                          "timeout",
                          "connect_timeout",
                          "retries",
                          "headers",
                          "user_agent",
                          "verify",
                          "cafile",
                          "capath",
                          "http2",
                          "max_body",
                          "keep_body",
                          "follow_redirects",
                          "max_redirects",
                          "compressed",
                          "rate_per_host",
                          "retry_delay",
                          "retry_max_delay",
                          "keep_headers",
                          "max_header_bytes",
                          "retry_all_methods",
                          NULL};
  uvfpy_client_args a = {0};
  uvfpy_opts opts;
  int rc;
  if (!PyArg_ParseTupleAndKeywords(
          args, kw, "|$OOOOOOOOOOOOOOOOOOOOOO:Client", names, &a.concurrency,
          &a.per_host, &a.timeout, &a.connect_timeout, &a.retries, &a.headers,
          &a.user_agent, &a.verify, &a.cafile, &a.capath, &a.http2, &a.max_body,
          &a.keep_body, &a.follow_redirects, &a.max_redirects, &a.compressed,
          &a.rate_per_host, &a.retry_delay, &a.retry_max_delay, &a.keep_headers,
          &a.max_header_bytes, &a.retry_all_methods))
    return -1;
  if (self->c) {
    PyErr_SetString(PyExc_RuntimeError, "Client.__init__ called twice");
    return -1;
  }
  if (uvfpy_opts_from_args(&opts, &a) < 0)
    return -1;
  if ((rc = uvf_client_new(&self->c, &opts.o)) != UVF_OK) {
    self->c = NULL;
    uvfpy_opts_free(&opts);
    return uvfpy_raise(rc);
  }
  self->opts = opts;
  self->pid = (long)getpid();
  return 0;
}

static void client_close_now(uvfpy_client *self) {
  uvf_client *c = self->c;
  PyThreadState *ts;
  if (!c)
    return;
  self->c = NULL; /* no call starts from here on */
  if ((long)getpid() != self->pid)
    return; /* a forked child: the loop thread is the parent's */
  ts = PyEval_SaveThread(); /* the loop thread may take a moment to end */
  uvf_client_free(&c);
  PyEval_RestoreThread(ts);
}

static void client_dealloc(uvfpy_client *self) {
  if (self->weakrefs)
    PyObject_ClearWeakRefs((PyObject *)self);
  client_close_now(self);
  uvfpy_opts_free(&self->opts);
  Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Parses (urls, *, deadline, concurrency, per_host, timeout, keep_body,
 * retries, keep_headers, max_header_bytes, retry_all_methods) into a
 * started Fetch. */
static PyObject *start(uvfpy_client *self, PyObject *args, PyObject *kw,
                       const char *fmt, int every) {
  static char *names[] = {"urls",
                          "deadline",
                          "concurrency",
                          "per_host",
                          "timeout",
                          "keep_body",
                          "retries",
                          "keep_headers",
                          "max_header_bytes",
                          "retry_all_methods",
                          NULL};
  uvfpy_call_args a = {0};
  PyObject *urls;
  uvf_options o;
  long deadline_ms;
  if (!PyArg_ParseTupleAndKeywords(args, kw, fmt, names, &urls, &a.deadline,
                                   &a.concurrency, &a.per_host, &a.timeout,
                                   &a.keep_body, &a.retries, &a.keep_headers,
                                   &a.max_header_bytes, &a.retry_all_methods))
    return NULL;
  if (uvfpy_client_usable(self) < 0 ||
      uvfpy_call_options(&o, &self->opts.o, &a, &deadline_ms) < 0)
    return NULL;
  return uvfpy_fetch_start(self, urls, &o, deadline_ms, every);
}

static PyObject *client_fetch(uvfpy_client *self, PyObject *args,
                              PyObject *kw) {
  return start(self, args, kw, "O|$OOOOOOOOO:fetch", 0);
}

static PyObject *client_fetch_every(uvfpy_client *self, PyObject *args,
                                    PyObject *kw) {
  return start(self, args, kw, "O|$OOOOOOOOO:fetch_all", 1);
}

/* A Fetch fed through _put(), for asyncio's async iterables. */
static PyObject *client_fetch_push(uvfpy_client *self, PyObject *args,
                                   PyObject *kw) {
  static char *names[] = {
      "deadline",          "concurrency", "per_host",     "timeout",
      "keep_body",         "retries",     "keep_headers", "max_header_bytes",
      "retry_all_methods", NULL};
  uvfpy_call_args a = {0};
  uvf_options o;
  long deadline_ms;
  if (!PyArg_ParseTupleAndKeywords(
          args, kw, "|$OOOOOOOOO:fetch_async", names, &a.deadline,
          &a.concurrency, &a.per_host, &a.timeout, &a.keep_body, &a.retries,
          &a.keep_headers, &a.max_header_bytes, &a.retry_all_methods))
    return NULL;
  if (uvfpy_client_usable(self) < 0 ||
      uvfpy_call_options(&o, &self->opts.o, &a, &deadline_ms) < 0)
    return NULL;
  return uvfpy_fetch_start(self, NULL, &o, deadline_ms, 0);
}

static PyObject *client_fetch_all(uvfpy_client *self, PyObject *args,
                                  PyObject *kw) {
  PyObject *f = start(self, args, kw, "O|$OOOOOOOOO:fetch_all", 1), *out;
  if (!f)
    return NULL;
  out = uvfpy_fetch_collect(f);
  Py_DECREF(f);
  return out;
}

static PyObject *client_close(uvfpy_client *self, PyObject *Py_UNUSED(unused)) {
  client_close_now(self);
  Py_RETURN_NONE;
}

static PyObject *client_cancel_all(uvfpy_client *self,
                                   PyObject *Py_UNUSED(unused)) {
  if (uvfpy_client_usable(self) < 0)
    return NULL;
  uvf_client_cancel_all(self->c);
  Py_RETURN_NONE;
}

static PyObject *client_enter(uvfpy_client *self, PyObject *Py_UNUSED(unused)) {
  if (uvfpy_client_usable(self) < 0)
    return NULL;
  return Py_NewRef(self);
}

static PyObject *client_exit(uvfpy_client *self, PyObject *args) {
  client_close_now(self);
  Py_RETURN_FALSE;
}

static PyObject *get_closed(uvfpy_client *self, void *unused) {
  return PyBool_FromLong(self->c == NULL);
}

static PyObject *get_concurrency(uvfpy_client *self, void *unused) {
  return PyLong_FromUnsignedLong(self->opts.o.max_in_flight);
}

static PyObject *client_repr(uvfpy_client *self) {
  return PyUnicode_FromFormat(
      "<%s concurrency=%u per_host=%u %s>", Py_TYPE(self)->tp_name,
      self->opts.o.max_in_flight, self->opts.o.max_per_host,
      self->c ? "open" : "closed");
}

#define CALL_ARGS                                                              \
  "deadline=None, concurrency=None, per_host=None, timeout=None,\n"            \
  "keep_body=None, retries=None, keep_headers=None,\n"                         \
  "max_header_bytes=None, retry_all_methods=None"

static PyMethodDef client_methods[] = {
    {"fetch_all", (PyCFunction)(void (*)(void))client_fetch_all,
     METH_VARARGS | METH_KEYWORDS,
     "fetch_all($self, urls, /, *, " CALL_ARGS ")\n--\n\n"
     "Fetches every URL of the iterable urls (str, bytes, or Request\n"
     "for a method, headers and a body of its own) and returns a list of\n"
     "Result, one per URL, in input order (results[i].index == i).\n\n"
     "Failures are results, never exceptions. deadline (seconds) bounds\n"
     "the whole call: what is not done by then ends as \"deadline\". The\n"
     "other keywords override the client's settings for this call\n"
     "(None: the client's).\n"
     "Blocks with the GIL released; Ctrl-C cancels the call and raises\n"
     "KeyboardInterrupt."},
    {"fetch", (PyCFunction)(void (*)(void))client_fetch,
     METH_VARARGS | METH_KEYWORDS,
     "fetch($self, urls, /, *, " CALL_ARGS ")\n--\n\n"
     "Returns a Fetch: an iterator of Result in completion order (use\n"
     "r.index for the input position). The iterable urls (of str, bytes\n"
     "or Request, as fetch_all() takes them) is read lazily,\n"
     "only as results are taken, so it may be a generator of millions.\n"
     "Once the call ends early (deadline, cancel) nothing more is read\n"
     "from it. Leaving the loop early cancels what is left."},
    {"_fetch_every", (PyCFunction)(void (*)(void))client_fetch_every,
     METH_VARARGS | METH_KEYWORDS,
     "_fetch_every($self, urls, /, *, " CALL_ARGS ")\n--\n\n"
     "fetch() for fetch_all_async(): URLs left in the input when the call\n"
     "ends early get a result too."},
    {"_fetch_push", (PyCFunction)(void (*)(void))client_fetch_push,
     METH_VARARGS | METH_KEYWORDS,
     "_fetch_push($self, /, *, " CALL_ARGS ")\n--\n\n"
     "fetch() fed through Fetch._put(), for async iterables."},
    {"close", (PyCFunction)client_close, METH_NOARGS,
     "close($self, /)\n--\n\n"
     "Ends the calls still running (their URLs end as \"aborted\"), closes\n"
     "the connections and stops the client's thread. Idempotent; a with\n"
     "block calls it."},
    {"cancel_all", (PyCFunction)client_cancel_all, METH_NOARGS,
     "cancel_all($self, /)\n--\n\n"
     "Cancels every call running now, from any thread; the client stays\n"
     "usable."},
    {"__enter__", (PyCFunction)client_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)client_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef client_getset[] = {
    {"closed", (getter)get_closed, NULL, "True once close() was called.", NULL},
    {"concurrency", (getter)get_concurrency, NULL,
     "The client's default cap of transfers in flight per call.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject uvfpy_ClientType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uvfetch._ClientBase",
    .tp_basicsize = sizeof(uvfpy_client),
    .tp_dealloc = (destructor)client_dealloc,
    .tp_repr = (reprfunc)client_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "The C part of uvfetch.Client (see there).",
    .tp_weaklistoffset = offsetof(uvfpy_client, weakrefs),
    .tp_methods = client_methods,
    .tp_getset = client_getset,
    .tp_init = (initproc)client_init,
    .tp_new = PyType_GenericNew,
};
