/* Fetch: one uvf_call, fed from a Python iterable and drained of results.
 *
 * The iterable is read only while the call has room: uvf_call_submit()
 * says UVF_EAGAIN once 2 N URLs are submitted and not taken, and the URL
 * in hand waits (pending) until a result has been taken. An item is a URL
 * (str or bytes) or a Request (request.c). So a generator
 * of millions of URLs is read as the results go, and memory stays bounded
 * by N, never by the input.
 *
 * Blocking waits release the GIL and wake every WAIT_MS to run the
 * signal handlers: Ctrl-C raises KeyboardInterrupt within that time. On
 * any exception the call is cancelled and drained before it propagates.
 * The same object serves asyncio (fileno() and poll(), which never
 * block) and fetch_all() (uvfpy_fetch_collect). */
#include "ext.h"

#include <sched.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 50       /* longest sleep between looks at signals */
#define DRAIN_MS 10000   /* longest wait for a cancelled call's end */
#define POLL_MAX 4096    /* results one poll() hands out at most */
#define SIGNALS_EVERY 64 /* results taken without a wait between looks */
#define STRAGGLE_MS 2000 /* see eof() */

typedef struct uvfpy_fetch {
  PyObject ob_base;
  uvfpy_client *client;         /* strong: the client outlives its calls */
  uvf_call *call;               /* NULL once closed */
  PyObject *source;             /* the input's iterator; NULL once it ended */
  PyObject *pending;            /* a URL taken from source that found no room */
  unsigned long long submitted; /* URLs the library took (its indexes) */
  unsigned long long taken;     /* their results taken */
  unsigned long long n_missed;  /* results made here for URLs never taken */
  unsigned long long window;    /* the library's: 2 N submitted, not taken */
  double straggle_until;        /* see eof(); 0: not waiting for one */
  double deadline_at;           /* monotonic seconds; 0: none */
  unsigned json_have;           /* UVFPY_JSON_*: the call's options give them */
  int keep_headers;             /* the call's results carry headers */
  int every;        /* URLs left when the call ended early get results */
  int push;         /* no source: URLs come through _put() (asyncio) */
  int ended;        /* uvf_call_end_input() called */
  int refused;      /* submit said UVF_ESTATE: the call ended early */
  int saw_deadline; /* a result said UVF_EDEADLINE: the deadline ended it */
  int eof;          /* the library has handed out every result */
  int busy;         /* a thread is inside next(), poll() or collect */
  unsigned quiet;   /* results since the last look at signals */
} uvfpy_fetch;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int forked(const uvfpy_fetch *f) {
  return (long)getpid() != f->client->pid;
}

/* ---- feeding the call ---- */

const char *uvfpy_url_chars(PyObject *u) {
  const char *s;
  Py_ssize_t n;
  if (PyUnicode_Check(u)) {
    s = PyUnicode_AsUTF8AndSize(u, &n);
  } else if (PyBytes_Check(u)) {
    s = PyBytes_AS_STRING(u);
    n = PyBytes_GET_SIZE(u);
  } else {
    PyErr_Format(PyExc_TypeError,
                 "a URL must be a str, bytes or a uvfetch.Request, not %.100s",
                 Py_TYPE(u)->tp_name);
    return NULL;
  }
  if (s && strlen(s) != (size_t)n) {
    PyErr_Format(PyExc_ValueError, "a URL must not contain NUL: %R", u);
    return NULL;
  }
  return s;
}

/* Hands one input item, a URL or a Request, to the call: 0 with the
 * library's answer in *rc, or -1 with an exception (a wrong type). */
static int submit(uvfpy_fetch *f, PyObject *u, int *rc) {
  const char *s;
  if (Py_IS_TYPE(u, &uvfpy_RequestType)) {
    *rc = uvfpy_request_submit(f->call, u, f->json_have);
    return *rc == UVFPY_RAISED ? -1 : 0;
  }
  if (!(s = uvfpy_url_chars(u)))
    return -1;
  *rc = uvf_call_submit(f->call, s, 0, NULL);
  return 0;
}

/* Why the call ended early, for URLs it never took: the deadline if a
 * result said so, or if the deadline has come (the library's timer runs on
 * the loop's clock, which may be a little behind ours); else a cancel. */
static int missed_kind(const uvfpy_fetch *f) {
  if (f->saw_deadline || (f->deadline_at && now() >= f->deadline_at - 0.02))
    return UVF_EDEADLINE;
  return UVF_EABORTED;
}

/* The call refused a URL: it has ended (deadline, cancel, client
 * closed). Nothing more is read from the input, unless `every` asks for
 * a result per URL; the call needs no end of input any more. */
static void refuse(uvfpy_fetch *f) {
  f->refused = 1;
  if (!f->every)
    Py_CLEAR(f->pending);
  f->ended = 1;
}

/* Hands URLs to the call while it has room. Unless forced, it waits until
 * a quarter of the window is free and then fills it in one go: the loop
 * thread, woken once for the lot, then admits them together (one URL at a
 * time costs a wake-up, two context switches, per URL). 0, or -1 with an
 * exception (from the input's iterator, or a URL of the wrong type). */
static int pump(uvfpy_fetch *f, int force) {
  unsigned long long batch = f->window / 4 ? f->window / 4 : 1;
  if (!force && f->submitted - f->taken + batch > f->window)
    return 0;
  while (!f->ended && !f->push) {
    PyObject *u = f->pending;
    int rc;
    f->pending = NULL;
    if (!u && !(u = PyIter_Next(f->source))) {
      if (PyErr_Occurred())
        return -1;
      Py_CLEAR(f->source);
      uvf_call_end_input(f->call);
      f->ended = 1;
      break;
    }
    if (submit(f, u, &rc) < 0) {
      Py_DECREF(u);
      return -1;
    }
    if (rc == UVF_EAGAIN) { /* full: take a result first */
      f->pending = u;
      break;
    }
    if (rc == UVF_ESTATE) {
      f->pending = u; /* with `every`, it gets a result */
      refuse(f);
      break;
    }
    Py_DECREF(u);
    if (rc != UVF_OK)
      return uvfpy_raise(rc);
    f->submitted++;
  }
  return 0;
}

/* The next URL the call never saw, as a result of missed_kind(); NULL
 * when none is left (or with an exception). */
static PyObject *next_missed(uvfpy_fetch *f) {
  PyObject *u = f->pending, *url, *r;
  f->pending = NULL;
  if (!u && (!f->source || !(u = PyIter_Next(f->source)))) {
    Py_CLEAR(f->source);
    return NULL;
  }
  if (Py_IS_TYPE(u, &uvfpy_RequestType)) /* its URL was checked */
    Py_SETREF(u, Py_NewRef(((uvfpy_request *)u)->url));
  else if (!uvfpy_url_chars(u)) {
    Py_DECREF(u);
    return NULL;
  }
  url = PyBytes_Check(u) ? PyUnicode_DecodeFSDefaultAndSize(
                               PyBytes_AS_STRING(u), PyBytes_GET_SIZE(u))
                         : Py_NewRef(u);
  Py_DECREF(u);
  if (!url)
    return NULL;
  r = uvfpy_result_missed(f->submitted + f->n_missed++, url, missed_kind(f),
                          f->keep_headers);
  Py_DECREF(url);
  return r;
}

/* ---- taking results ---- */

/* A result of the library's as a Result. A URL handed over just as the
 * call's deadline ended it is refused by the library as aborted; once a
 * result said deadline, the others that ended with the call say so too. */
static PyObject *result(uvfpy_fetch *f, uvf_result *r) {
  uvfpy_result *o = (uvfpy_result *)uvfpy_result_new(r, f->keep_headers);
  PyObject *msg;
  uvf_result_free(r);
  f->taken++;
  if (o && o->error == UVF_EDEADLINE) {
    f->saw_deadline = 1;
  } else if (o && o->error == UVF_EABORTED && f->saw_deadline) {
    if (!(msg = PyUnicode_FromString(uvf_strerror(UVF_EDEADLINE)))) {
      Py_DECREF(o);
      return NULL;
    }
    o->error = UVF_EDEADLINE;
    Py_SETREF(o->message, msg);
  }
  return (PyObject *)o;
}

/* The library says UVF_EOF once every URL it took has had its result
 * taken. Should that ever not hold (a library bug), EOF means "not yet"
 * for STRAGGLE_MS at most, and the indexes without a result are then
 * reported as such rather than waited for. */
static int eof(uvfpy_fetch *f) {
  double t = now();
  if (f->taken >= f->submitted)
    return f->eof = 1;
  if (!f->straggle_until)
    f->straggle_until = t + STRAGGLE_MS / 1000.0;
  else if (t > f->straggle_until)
    return f->eof = 1; /* collect reports the index without a result */
  return 0;
}

/* 1 with *out set, 0 if none came within timeout_ms (f->eof once all
 * are taken), -1 with an exception. The GIL is released while waiting,
 * which starts with a sched_yield(): on a core shared with the loop thread
 * (a pinned or busy machine) the loop then runs until it has nothing left
 * to do, and the results it made are taken in a row, where waiting for
 * each would wake this thread once per result, two context switches each
 * (20,000 x 1 KiB on one core: 55,000 -> 800 switches, -25% time). With a
 * core of its own the yield returns at once. */
static int take(uvfpy_fetch *f, long timeout_ms, PyObject **out) {
  uvf_result *r = NULL;
  int rc;
  if (timeout_ms == 0) {
    rc = uvf_call_next(f->call, 0, &r);
  } else {
    PyThreadState *ts = PyEval_SaveThread();
    sched_yield();
    rc = uvf_call_next(f->call, timeout_ms, &r);
    if (rc == UVF_EOF && f->taken < f->submitted)
      usleep(1000); /* a straggler is on its way: see eof() */
    PyEval_RestoreThread(ts);
  }
  if (rc == UVF_OK)
    return (*out = result(f, r)) ? 1 : -1;
  if (rc == UVF_EOF) {
    eof(f);
    return 0;
  }
  return rc == UVF_EAGAIN ? 0 : uvfpy_raise(rc);
}

/* Ends the call after an exception, which it keeps: cancels, then takes
 * and drops the results until the library says every one is out, so
 * that no transfer of this call outlives the exception. */
static void cancel_drain(uvfpy_fetch *f) {
  PyObject *type, *value, *tb;
  PyThreadState *ts;
  double until = now() + DRAIN_MS / 1000.0;
  uvf_result *r;
  int rc;
  if (!f->call)
    return;
  PyErr_Fetch(&type, &value, &tb);
  uvf_call_cancel(f->call);
  ts = PyEval_SaveThread();
  do {
    rc = uvf_call_next(f->call, WAIT_MS, &r);
    if (rc == UVF_OK)
      uvf_result_free(r);
  } while ((rc == UVF_OK || rc == UVF_EAGAIN) && now() < until);
  PyEval_RestoreThread(ts);
  f->eof = 1;
  f->ended = 1;
  Py_CLEAR(f->pending);
  Py_CLEAR(f->source);
  PyErr_Restore(type, value, tb);
}

/* Runs the signal handlers now and then: a KeyboardInterrupt shows here. */
static int signals(uvfpy_fetch *f, int waited) {
  if (!waited && ++f->quiet < SIGNALS_EVERY)
    return 0;
  f->quiet = 0;
  return PyErr_CheckSignals();
}

/* The next result, waiting as long as it takes; NULL at the end (no
 * exception) or on an error (exception set, call cancelled). */
static PyObject *next_result(uvfpy_fetch *f) {
  PyObject *r = NULL;
  int got;
  while (f->call && !f->eof) {
    if (pump(f, 0) < 0)
      goto fail;
    got = take(f, 0, &r);
    if (got == 0 && !f->eof) { /* nothing ready: top up, then wait */
      if (pump(f, 1) < 0)
        goto fail;
      got = take(f, WAIT_MS, &r);
    }
    if (got < 0)
      goto fail;
    if (signals(f, got == 0) < 0) {
      Py_XDECREF(r);
      goto fail;
    }
    if (got)
      return r;
  }
  if (f->every && f->refused && (r = next_missed(f)))
    return r;
  if (PyErr_Occurred())
    goto fail;
  return NULL;
fail:
  cancel_drain(f);
  return NULL;
}

static int enter(uvfpy_fetch *f) {
  if (f->busy) {
    PyErr_SetString(PyExc_RuntimeError,
                    "this fetch is already being read in another thread");
    return -1;
  }
  if (f->call && forked(f)) {
    PyErr_SetString(PyExc_RuntimeError, "a fetch cannot go on after fork()");
    return -1;
  }
  f->busy = 1;
  return 0;
}

/* ---- the Python type ---- */

PyObject *uvfpy_fetch_start(uvfpy_client *c, PyObject *urls,
                            const uvf_options *o, long deadline_ms, int every) {
  uvfpy_fetch *f;
  PyObject *it;
  int rc;
  if (urls && (PyUnicode_Check(urls) || PyBytes_Check(urls))) {
    PyErr_SetString(PyExc_TypeError,
                    "urls must be an iterable of URLs, not a single URL");
    return NULL;
  }
  if (uvfpy_client_usable(c) < 0)
    return NULL;
  if (urls == NULL) /* push mode */
    it = NULL;
  else if (!(it = PyObject_GetIter(urls)))
    return NULL;
  if (!(f = PyObject_GC_New(uvfpy_fetch, &uvfpy_FetchType))) {
    Py_XDECREF(it);
    return NULL;
  }
  memset(&f->call, 0, sizeof(*f) - offsetof(uvfpy_fetch, call));
  f->client = (uvfpy_client *)Py_NewRef(c);
  f->source = it;
  f->push = it == NULL;
  f->every = every && it != NULL;
  if ((rc = uvf_call_start(&f->call, c->c, o, deadline_ms)) != UVF_OK) {
    f->call = NULL;
    Py_DECREF(f);
    return uvfpy_raise(rc), NULL;
  }
  f->window = 2 * (unsigned long long)o->max_in_flight;
  f->json_have = uvfpy_json_headers_in(o->headers, o->n_headers);
  f->keep_headers = o->keep_headers != 0;
  if (deadline_ms)
    f->deadline_at = now() + (double)deadline_ms / 1000.0;
  PyObject_GC_Track(f);
  return (PyObject *)f;
}

PyObject *uvfpy_fetch_collect(PyObject *self) {
  uvfpy_fetch *f = (uvfpy_fetch *)self;
  PyObject *out, *r;
  Py_ssize_t have;
  if (enter(f) < 0)
    return NULL;
  if (!(out = PyList_New(0))) {
    f->busy = 0;
    return NULL;
  }
  while ((r = next_result(f))) {
    unsigned long long i = ((uvfpy_result *)r)->index;
    while ((unsigned long long)PyList_GET_SIZE(out) <= i &&
           PyList_Append(out, Py_None) == 0)
      ;
    if (PyErr_Occurred()) {
      Py_DECREF(r);
      cancel_drain(f);
      break;
    }
    PyList_SetItem(out, (Py_ssize_t)i, r); /* steals r, drops the None */
  }
  f->busy = 0;
  if (PyErr_Occurred()) {
    Py_DECREF(out);
    return NULL;
  }
  for (have = 0; have < PyList_GET_SIZE(out); have++)
    if (PyList_GET_ITEM(out, have) == Py_None) {
      Py_DECREF(out);
      PyErr_Format(PyExc_RuntimeError, "uvfetch: no result for index %zd",
                   have);
      return NULL;
    }
  return out;
}

static PyObject *fetch_iter(PyObject *self) { return Py_NewRef(self); }

static PyObject *fetch_iternext(uvfpy_fetch *f) {
  PyObject *r;
  if (enter(f) < 0)
    return NULL;
  r = next_result(f);
  f->busy = 0;
  return r;
}

static PyObject *fetch_poll(uvfpy_fetch *f, PyObject *Py_UNUSED(unused)) {
  PyObject *out, *r = NULL;
  int got = 1;
  if (enter(f) < 0)
    return NULL;
  if (!(out = PyList_New(0)))
    goto fail;
  while (f->call && !f->eof && PyList_GET_SIZE(out) < POLL_MAX) {
    if (pump(f, 1) < 0 || (got = take(f, 0, &r)) < 0)
      goto fail;
    if (!got)
      break;
    if (PyList_Append(out, r) < 0)
      goto fail;
    Py_CLEAR(r);
  }
  while ((!f->call || f->eof) && f->every && f->refused &&
         PyList_GET_SIZE(out) < POLL_MAX && (r = next_missed(f))) {
    if (PyList_Append(out, r) < 0)
      goto fail;
    Py_CLEAR(r);
  }
  if (PyErr_Occurred())
    goto fail;
  f->busy = 0;
  if (PyList_GET_SIZE(out) == 0 && (!f->call || f->eof)) {
    Py_DECREF(out);
    Py_RETURN_NONE; /* the end */
  }
  return out;
fail:
  Py_XDECREF(r);
  Py_XDECREF(out);
  cancel_drain(f);
  f->busy = 0;
  return NULL;
}

/* Push mode: one URL. True when taken (or dropped: the call has ended),
 * False when there is no room until a result is taken. */
static PyObject *fetch_put(uvfpy_fetch *f, PyObject *u) {
  int rc;
  if (!f->push) {
    PyErr_SetString(PyExc_RuntimeError, "this fetch reads its own input");
    return NULL;
  }
  if (!f->call || f->ended)
    Py_RETURN_TRUE;
  if (submit(f, u, &rc) < 0)
    return NULL;
  if (rc == UVF_EAGAIN)
    Py_RETURN_FALSE;
  if (rc == UVF_ESTATE) {
    refuse(f);
    Py_RETURN_TRUE;
  }
  if (rc != UVF_OK)
    return uvfpy_raise(rc), NULL;
  f->submitted++;
  Py_RETURN_TRUE;
}

static PyObject *fetch_end_input(uvfpy_fetch *f, PyObject *Py_UNUSED(unused)) {
  if (f->call && !f->ended) {
    uvf_call_end_input(f->call);
    f->ended = 1;
  }
  Py_RETURN_NONE;
}

static PyObject *get_straggling(uvfpy_fetch *f, void *unused) {
  return PyBool_FromLong(f->straggle_until && !f->eof);
}

static PyObject *get_accepting(uvfpy_fetch *f, void *unused) {
  return PyBool_FromLong(f->push && f->call && !f->ended);
}

static PyObject *fetch_fileno(uvfpy_fetch *f, PyObject *Py_UNUSED(unused)) {
  if (!f->call) {
    PyErr_SetString(PyExc_ValueError, "the fetch is closed");
    return NULL;
  }
  return PyLong_FromLong(uvf_call_fd(f->call));
}

static PyObject *fetch_cancel(uvfpy_fetch *f, PyObject *Py_UNUSED(unused)) {
  if (f->call && !forked(f))
    uvf_call_cancel(f->call);
  Py_RETURN_NONE;
}

/* Cancels what is left and lets go of the call. From another thread
 * while one reads, it only cancels: the reader sees the rest end as
 * aborted, then the end. */
static PyObject *fetch_close(uvfpy_fetch *f, PyObject *Py_UNUSED(unused)) {
  if (!f->call)
    Py_RETURN_NONE;
  if (forked(f)) {
    f->call = NULL; /* its memory belongs to the parent's client */
  } else if (f->busy) {
    uvf_call_cancel(f->call);
    Py_RETURN_NONE;
  } else {
    uvf_call_free(&f->call);
  }
  f->eof = f->ended = 1;
  f->every = 0;
  Py_CLEAR(f->pending);
  Py_CLEAR(f->source);
  Py_RETURN_NONE;
}

static PyObject *fetch_enter(PyObject *self, PyObject *Py_UNUSED(unused)) {
  return Py_NewRef(self);
}

static PyObject *fetch_exit(uvfpy_fetch *f, PyObject *args) {
  PyObject *r = fetch_close(f, NULL);
  Py_XDECREF(r);
  if (!r)
    return NULL;
  Py_RETURN_FALSE;
}

static PyObject *get_submitted(uvfpy_fetch *f, void *unused) {
  return PyLong_FromUnsignedLongLong(f->submitted + f->n_missed);
}

static int fetch_traverse(uvfpy_fetch *f, visitproc visit, void *arg) {
  Py_VISIT(f->client);
  Py_VISIT(f->source);
  Py_VISIT(f->pending);
  return 0;
}

static int fetch_clear(uvfpy_fetch *f) {
  Py_CLEAR(f->source);
  Py_CLEAR(f->pending);
  return 0;
}

static void fetch_dealloc(uvfpy_fetch *f) {
  PyObject_GC_UnTrack(f);
  if (f->call && !forked(f))
    uvf_call_free(&f->call); /* cancels what is left */
  fetch_clear(f);
  Py_CLEAR(f->client);
  PyObject_GC_Del(f);
}

static PyMethodDef fetch_methods[] = {
    {"cancel", (PyCFunction)fetch_cancel, METH_NOARGS,
     "cancel($self, /)\n--\n\n"
     "Cancels the call, from any thread: URLs not finished end as\n"
     "\"aborted\" and are still handed out, then iteration ends."},
    {"close", (PyCFunction)fetch_close, METH_NOARGS,
     "close($self, /)\n--\n\n"
     "Cancels what is left and lets go of the call; iteration ends.\n"
     "Leaving a for loop early (break) does the same once the fetch is\n"
     "dropped; close() or a with block does it at once."},
    {"poll", (PyCFunction)fetch_poll, METH_NOARGS,
     "poll($self, /)\n--\n\n"
     "Never blocks: hands URLs to the call while it has room, then\n"
     "returns the results ready now (a list, maybe empty), or None at the\n"
     "end. For event loops, with fileno()."},
    {"fileno", (PyCFunction)fetch_fileno, METH_NOARGS,
     "fileno($self, /)\n--\n\n"
     "A file descriptor that is readable while results wait (for\n"
     "asyncio's loop.add_reader and selectors). Owned by the fetch."},
    {"_put", (PyCFunction)fetch_put, METH_O,
     "_put($self, url, /)\n--\n\n"
     "For a fetch fed by push (asyncio's async iterables): hands over one\n"
     "URL. True when taken (or dropped because the call has ended), False\n"
     "when there is no room until a result is taken."},
    {"_end_input", (PyCFunction)fetch_end_input, METH_NOARGS,
     "_end_input($self, /)\n--\n\nNo more URLs will come through _put()."},
    {"__enter__", fetch_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)fetch_exit, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef fetch_getset[] = {
    {"submitted", (getter)get_submitted, NULL,
     "URLs read from the input so far (each has or will have a result).", NULL},
    {"_straggling", (getter)get_straggling, NULL,
     "True while the library has said it is done but a result is still on\n"
     "its way (poll() then returns [] although fileno() is readable).",
     NULL},
    {"_accepting", (getter)get_accepting, NULL,
     "Push mode: True while _put() may still hand URLs to the call.", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

PyTypeObject uvfpy_FetchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "uvfetch.Fetch",
    .tp_basicsize = sizeof(uvfpy_fetch),
    .tp_dealloc = (destructor)fetch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc =
        "The results of Client.fetch(), in the order they complete.\n\n"
        "Iterate over it (each step blocks, with the GIL released, until a\n"
        "result is ready); the input is read only as results are taken,\n"
        "so memory stays bounded by the concurrency, not by the input.\n"
        "Ctrl-C while waiting cancels the call and raises\n"
        "KeyboardInterrupt. Leaving the loop early cancels what is left.",
    .tp_traverse = (traverseproc)fetch_traverse,
    .tp_clear = (inquiry)fetch_clear,
    .tp_iter = fetch_iter,
    .tp_iternext = (iternextfunc)fetch_iternext,
    .tp_methods = fetch_methods,
    .tp_getset = fetch_getset,
};
