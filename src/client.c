/* The long-lived client: an engine on a loop of its own, run by a thread
 * the client owns, and calls (batches) handed to it from any thread.
 *
 * Threads meet only here. A caller thread touches a call's shared part
 * under the call's lock, then, to wake the loop, puts the call on the
 * client's list of calls with news (under the client's lock, always taken
 * second) and wakes the loop (wake_loop). Whoever runs the loop owns the
 * engine and every batch; it moves news into the batch (URLs, end of
 * input, cancel) and results out of it. That is the client's thread,
 * except while it rests for want of calls: then a uvf_client_fetch_all()
 * caller may run the loop for its own call (runner, run_as_owner). A call
 * lives while the caller holds it or its batch is alive on the loop (two
 * references). */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

/* News for the loop, as bits of uvf_call.news. */
enum { NEWS_START = 1, NEWS_INPUT = 2, NEWS_CANCEL = 4 };

/* Who runs the loop: its own thread, nobody (the thread rests: no call
 * is alive), or a caller of uvf_client_fetch_all() that found it resting
 * and runs its own call on the loop, in its own thread, with no thread
 * to wake and wait for (the loop goes back to its thread after). */
enum { RUNNER_LOOP, RUNNER_NONE, RUNNER_CALLER };

typedef struct queued {
  uvf__link link;
  uvf_result *r;
} queued;

struct uvf_client {
  uv_loop_t loop;
  uv_thread_t thread;
  uv_poll_t wake;      /* on wake_fd: news from callers (see wake()) */
  int wake_fd;         /* an eventfd */
  atomic_int wake_due; /* written to wake_fd, not yet read by the loop */
  uvf__engine *e;
  uvf_options o; /* defaults of calls; strings owned (see opts_own) */
  char **strings;
  size_t nstrings;
  uv_mutex_t lock;
  uvf__link news;      /* calls with news for the loop */
  int closing;         /* uvf_client_free() began */
  int cancel_all;      /* uvf_client_cancel_all() asked */
  int runner;          /* RUNNER_*, under lock */
  uv_cond_t unpark;    /* the loop thread rests on it (RUNNER_LOOP ends it) */
  atomic_uint senders; /* callers between post() and wake() */
  uvf__link calls;     /* loop thread: calls with a live batch */
};

struct uvf_call {
  uv_mutex_t lock;
  uv_cond_t cond;    /* news for uvf_call_next() */
  uv_sem_t done_sem; /* posted once, at the end: uvf_call_fetch_all() */
  uvf_client *c;     /* NULL once the loop has let go of the call */
  uvf__batch *b;     /* the loop thread's */
  uvf__link news_link;
  uvf__link live_link; /* loop thread: in client->calls */
  unsigned news;
  int refs;
  int efd;     /* made by the first uvf_call_fd(), -1 until then */
  int efd_set; /* it is readable now */
  /* caller's side, under lock */
  uvf__link input;  /* URLs and requests made (uvf__url_make), their index
                       in index, for the batch to queue as they are */
  uvf__link output; /* finished results */
  uint64_t submitted, taken, window;
  int input_ended, cancelled, done;
  /* uvf_call_fetch_all: URLs from the caller's array, results straight
   * into place by index (from_array set under lock, the rest the loop's
   * while the caller waits) */
  int from_array;
  uvf__collector col;
  uint64_t lost;    /* results that could not be kept (out of memory) */
  uvf_err ended_by; /* loop thread: why the batch ended (see refused) */
};

/* ---- options the client keeps ---- */

static const char *keep(uvf_client *c, const char *s) {
  char **grown, *d;
  if (!s)
    return NULL;
  if (!(grown = uvf__realloc(c->strings, (c->nstrings + 1) * sizeof(*grown))))
    return NULL;
  c->strings = grown;
  if (!(d = uvf__strdup(s)))
    return NULL;
  return c->strings[c->nstrings++] = d;
}

/* A deep copy of the caller's options, for calls made without any. */
static int opts_own(uvf_client *c, const uvf_options *src) {
  const char **h = NULL;
  size_t i;
  int rc = uvf__options_read(&c->o, src);
  if (rc)
    return rc;
  if (c->o.n_headers && !(h = uvf__calloc(c->o.n_headers, sizeof(*h))))
    return UVF_ENOMEM;
  for (i = 0; i < c->o.n_headers; i++)
    if (!(h[i] = keep(c, src->headers[i])))
      rc = UVF_ENOMEM;
  c->o.headers = h;
  if ((src->user_agent && !(c->o.user_agent = keep(c, src->user_agent))) ||
      (src->accept_encoding &&
       !(c->o.accept_encoding = keep(c, src->accept_encoding))) ||
      (src->ca_file && !(c->o.ca_file = keep(c, src->ca_file))) ||
      (src->ca_path && !(c->o.ca_path = keep(c, src->ca_path))))
    rc = UVF_ENOMEM;
  return rc;
}

static void opts_free(uvf_client *c) {
  size_t i;
  for (i = 0; i < c->nstrings; i++)
    free(c->strings[i]);
  free(c->strings);
  free((void *)c->o.headers);
}

/* ---- calls: shared part ---- */

static void call_free_now(uvf_call *call) {
  uvf__link *l;
  while ((l = uvf__list_pop(&call->input)))
    free(UVF__CONTAINER(l, uvf__url, link));
  while ((l = uvf__list_pop(&call->output))) {
    queued *q = UVF__CONTAINER(l, queued, link);
    uvf_result_free(q->r);
    free(q);
  }
  if (call->efd >= 0)
    close(call->efd);
  uv_cond_destroy(&call->cond);
  uv_sem_destroy(&call->done_sem);
  uv_mutex_destroy(&call->lock);
  free(call);
}

/* Drops one reference, under the call's lock, which it releases. */
static void call_unref_unlock(uvf_call *call) {
  int last = --call->refs == 0;
  uv_mutex_unlock(&call->lock);
  if (last)
    call_free_now(call);
}

/* Under the client's lock: the loop thread goes on if it rests. */
static void unpark_locked(uvf_client *c) {
  if (c->runner == RUNNER_NONE) {
    c->runner = RUNNER_LOOP;
    uv_cond_signal(&c->unpark);
  }
}

/* Leaves news for the loop about a call; under the call's lock. A call
 * may start only while the client is not closing: checked in the same
 * critical section that hands the news over, so the loop sees the start
 * before it sees the close. On success *wakeup is the client, for wake()
 * once the call's lock is released: woken under it, the loop thread
 * would at once block on that lock, and on a single core that costs two
 * more context switches for every call. With own, a resting loop becomes
 * the caller's to run (*own set, no wakeup); wakeup NULL: the caller runs
 * the loop already. */
static int post(uvf_call *call, unsigned news, uvf_client **wakeup, int *own) {
  uvf_client *c = call->c;
  int rc = 0;
  if (!c)
    return UVF_ESTATE;
  uv_mutex_lock(&c->lock);
  if ((news & NEWS_START) && c->closing) {
    rc = UVF_ESTATE;
  } else {
    call->news |= news;
    if (!uvf__linked(&call->news_link))
      uvf__list_push(&c->news, &call->news_link);
    if (own && c->runner == RUNNER_NONE) {
      c->runner = RUNNER_CALLER;
      *own = 1;
      wakeup = NULL;
    } else if (wakeup) {
      unpark_locked(c);
    }
  }
  uv_mutex_unlock(&c->lock);
  if (!rc && wakeup && !*wakeup) {
    /* Counted while the call still holds the client: uvf_client_free()
     * waits for the count to drop before it closes the loop. */
    atomic_fetch_add(&c->senders, 1);
    *wakeup = c;
  }
  return rc;
}

/* Wakes the loop thread: one write until the loop reads it. Not
 * uv_async_send(): in libuv 1.44 the woken loop thread spins (997 pauses,
 * then sched_yield) while the sender is between its eventfd write and
 * its last store, and on a single core the sender cannot finish until
 * the loop thread yields; that cost a few µs on every call. */
static void wake_loop(uvf_client *c) {
  uint64_t one = 1;
  if (!atomic_exchange(&c->wake_due, 1) &&
      write(c->wake_fd, &one, sizeof(one)) < 0)
    atomic_store(&c->wake_due, 0); /* an eventfd of ours cannot fail */
}

/* After post(), with no lock held. */
static void wake(uvf_client *c) {
  if (!c)
    return;
  wake_loop(c);
  atomic_fetch_sub(&c->senders, 1);
}

/* Under the call's lock: the batch is over and each URL submitted has had
 * its result taken (results of URLs submitted just before the end may
 * come after it). */
static int all_taken(const uvf_call *call) {
  return call->done && call->taken >= call->submitted;
}

/* Under the call's lock. Most callers never ask for the descriptor, so
 * it costs nothing until one does. */
static void eventfd_set(uvf_call *call, int on) {
  uint64_t one = 1;
  ssize_t n;
  if (call->efd < 0 || call->efd_set == on)
    return;
  call->efd_set = on;
  if (on)
    n = write(call->efd, &one, sizeof(one));
  else
    n = read(call->efd, &one, sizeof(one));
  (void)n; /* an eventfd of our own: neither can fail */
}

/* ---- calls: the loop's side ---- */

static int call_next_url(void *ud, const char **url, uint64_t *tag) {
  return uvf__collector_next(&((uvf_call *)ud)->col, url, tag);
}

static void call_result(void *ud, const uvf_result *r) {
  uvf_call *call = ud;
  queued *q;
  if (call->col.rs) { /* the caller waits; the array is ours till done */
    uvf__collector_put(&call->col, r);
    return;
  }
  if ((q = uvf__malloc(sizeof(*q))) && !(q->r = uvf__result_dup(r))) {
    free(q);
    q = NULL; /* uvf_call_next() says UVF_ENOMEM in its place */
  }
  uv_mutex_lock(&call->lock);
  if (uvf__list_empty(&call->output) && !call->lost)
    eventfd_set(call, 1);
  if (q)
    uvf__list_push(&call->output, &q->link);
  else
    call->lost++;
  uv_mutex_unlock(&call->lock);
  /* After the unlock, so the waiter wakes to a free lock; the call lives
   * on, the loop's reference held till call_freed(). */
  uv_cond_broadcast(&call->cond);
}

static void call_done(void *ud) {
  uvf_call *call = ud;
  call->ended_by = call->b->aborted_by ? call->b->aborted_by : UVF_EABORTED;
  uvf_fetcher_close(call->b, NULL); /* its memory goes, then call_freed */
  uv_mutex_lock(&call->lock);
  call->done = 1;
  eventfd_set(call, 1);
  uv_mutex_unlock(&call->lock);
  uv_cond_broadcast(&call->cond); /* as in call_result() */
  uv_sem_post(&call->done_sem);
}

static void refused(uvf_call *call, const uvf__url *p, uvf_err kind);

/* The batch's memory is gone: the loop lets go of the call. URLs the
 * caller submitted after the batch ended still get their results. */
static void call_freed(void *ud) {
  uvf_call *call = ud;
  uvf_client *c = call->c;
  uvf__link late, *l;
  uvf__list_remove(&call->live_link);
  uvf__list_init(&late);
  uv_mutex_lock(&call->lock);
  uvf__list_splice(&late, &call->input);
  uv_mutex_unlock(&call->lock);
  while ((l = uvf__list_pop(&late))) {
    refused(call, UVF__CONTAINER(l, uvf__url, link), call->ended_by);
    free(UVF__CONTAINER(l, uvf__url, link));
  }
  uv_mutex_lock(&call->lock);
  /* News posted since the batch closed has nowhere to go; the call must
   * leave the client's list before the caller may free it. */
  uv_mutex_lock(&c->lock);
  if (uvf__linked(&call->news_link))
    uvf__list_remove(&call->news_link);
  uv_mutex_unlock(&c->lock);
  call->news = 0;
  call->b = NULL;
  call->c = NULL;
  call_unref_unlock(call);
}

/* A URL the batch would not take (it was cancelled, reached its deadline
 * or is closing) still gets its one result, saying why. */
static void refused(uvf_call *call, const uvf__url *p, uvf_err kind) {
  uvf_result r;
  memset(&r, 0, sizeof(r));
  r.size = sizeof(r);
  r.index = p->index;
  r.tag = p->tag;
  r.url = p->url;
  r.error = kind;
  r.message = uvf_strerror(kind);
  call_result(call, &r);
}

/* Moves what the caller submitted into the batch, in order, so indexes
 * match; then the end of input, then a cancel. */
static void call_news(uvf_call *call, unsigned news) {
  uvf__link in, *l;
  int ended, cancelled, from_array;
  uvf__list_init(&in);
  uv_mutex_lock(&call->lock);
  uvf__list_splice(&in, &call->input);
  ended = call->input_ended;
  cancelled = call->cancelled;
  from_array = call->from_array; /* then col stays as it is */
  uv_mutex_unlock(&call->lock);
  if (news & NEWS_START)
    uvf__batch_attach(call->b, call->c->e);
  if (from_array)
    call->b->cb.next = call_next_url; /* uvf_call_fetch_all */
  while ((l = uvf__list_pop(&in))) {
    uvf__url *u = UVF__CONTAINER(l, uvf__url, link);
    if (call->b->state >= UVF__ABORTED || call->b->input_ended) {
      refused(call, u,
              call->b->aborted_by ? call->b->aborted_by : UVF_EABORTED);
      free(u);
    } else {
      uvf__enqueue_made(call->b, u, NULL); /* the same index, in order */
    }
  }
  if (ended && !from_array)
    uvf_end_input(call->b);
  if (cancelled)
    uvf_abort(call->b, UVF_EABORTED);
  call->b->admit_due = 1; /* on_wake runs it before the loop waits */
}

static void on_engine_closed(void *ud) {
  uvf_client *c = ud;
  if (c->wake.data) /* the fd is closed by client_destroy() */
    uv_close((uv_handle_t *)&c->wake, NULL);
}

/* Takes the calls with news one at a time, each under the client's lock
 * (callers test a call's link there); once none is left, reads the
 * client's own flags in the same critical section, so a call started
 * before the client began to close is always seen before the close. */
static void take_news(uvf_client *c) {
  int closing = 0, cancel_all = 0;
  uvf__link *l;
  for (;;) {
    uvf_call *call;
    unsigned n;
    uv_mutex_lock(&c->lock);
    if (!(l = uvf__list_pop(&c->news))) {
      closing = c->closing;
      cancel_all = c->cancel_all;
      c->cancel_all = 0;
    }
    uv_mutex_unlock(&c->lock);
    if (!l)
      break;
    call = UVF__CONTAINER(l, uvf_call, news_link);
    uv_mutex_lock(&call->lock);
    n = call->news;
    call->news = 0;
    uv_mutex_unlock(&call->lock);
    if (n & NEWS_START)
      uvf__list_push(&c->calls, &call->live_link);
    call_news(call, n);
  }
  if (cancel_all || closing)
    UVF__LIST_FOREACH(l, &c->calls) {
      uvf_abort(UVF__CONTAINER(l, uvf_call, live_link)->b, UVF_EABORTED);
    }
  uvf__engine_admit_due(c->e);
  if (closing)
    uvf__engine_close(c->e, on_engine_closed, c);
}

static void on_wake(uv_poll_t *h, int status, int events) {
  uvf_client *c = h->data;
  uint64_t count;
  (void)status;
  (void)events;
  /* Read, then cleared, then the news: a caller whose wake_loop() finds
   * the flag still set posted its news before, and it is read below. */
  if (read(c->wake_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
    return;
  atomic_store(&c->wake_due, 0);
  take_news(c);
}

/* Under the client's lock, by whoever runs the loop: nothing is left for
 * it to do but watch idle connections, which libcurl checks anyway
 * before it reuses one. */
static int may_rest(uvf_client *c) {
  return uvf__list_empty(&c->news) && uvf__list_empty(&c->calls) &&
         !c->closing && !c->cancel_all;
}

/* Runs the loop while there is work, rests while there is none. */
static void loop_main(void *arg) {
  uvf_client *c = arg;
  int more = 1;
  while (more) {
    uv_mutex_lock(&c->lock);
    if (may_rest(c)) {
      c->runner = RUNNER_NONE;
      while (c->runner != RUNNER_LOOP)
        uv_cond_wait(&c->unpark, &c->lock);
    }
    uv_mutex_unlock(&c->lock);
    more = uv_run(&c->loop, UV_RUN_ONCE);
  }
}

/* A caller that took the resting loop (post() with own) runs it until
 * its call has let go of the client; then gives it back to the loop
 * thread if others' calls came meanwhile, or lets it rest. The lock's
 * hand-overs order the loop's memory between the threads. */
static void run_as_owner(uvf_client *c, uvf_call *call) {
  /* The loop's clock stopped when it last ran: timers the news starts
   * (the call's deadline) count from now, not from then. */
  uv_update_time(&c->loop);
  take_news(c);
  while (call->c) /* written by this thread only, in call_freed() */
    uv_run(&c->loop, UV_RUN_ONCE);
  uv_mutex_lock(&c->lock);
  c->runner = RUNNER_NONE;
  if (!may_rest(c))
    unpark_locked(c);
  uv_mutex_unlock(&c->lock);
}

/* ---- the client ---- */

/* Once its loop has ended. */
static void client_destroy(uvf_client *c) {
  uv_loop_close(&c->loop);
  if (c->wake_fd >= 0)
    close(c->wake_fd);
  uv_cond_destroy(&c->unpark);
  uv_mutex_destroy(&c->lock);
  opts_free(c);
  free(c);
}

int uvf_client_new(uvf_client **out, const uvf_options *o) {
  uvf_client *c;
  int rc;
  if (!out)
    return UVF_EINVAL;
  if (!(c = uvf__calloc(1, sizeof(*c))))
    return UVF_ENOMEM;
  atomic_init(&c->senders, 0);
  atomic_init(&c->wake_due, 0);
  c->wake_fd = -1;
  uvf__list_init(&c->news);
  uvf__list_init(&c->calls);
  if ((rc = opts_own(c, o)) ||
      (rc = uv_loop_init(&c->loop) ? UVF_EBACKEND : 0)) {
    opts_free(c);
    free(c);
    return rc;
  }
  if ((rc = uvf__engine_new(&c->e, &c->loop, &c->o))) {
    uv_loop_close(&c->loop);
    opts_free(c);
    free(c);
    return rc;
  }
  uv_mutex_init(&c->lock);
  uv_cond_init(&c->unpark);
  c->runner = RUNNER_LOOP;
  if ((c->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) >= 0 &&
      uv_poll_init(&c->loop, &c->wake, c->wake_fd) == 0)
    c->wake.data = c; /* from now on on_engine_closed() closes it */
  if (!c->wake.data || uv_poll_start(&c->wake, UV_READABLE, on_wake) ||
      uv_thread_create(&c->thread, loop_main, c) != 0) {
    c->closing = 1;
    uvf__engine_close(c->e, on_engine_closed, c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    client_destroy(c);
    return UVF_EBACKEND;
  }
  *out = c;
  return 0;
}

void uvf_client_free(uvf_client **pc) {
  uvf_client *c = pc ? *pc : NULL;
  if (!c)
    return;
  uv_mutex_lock(&c->lock);
  c->closing = 1;
  unpark_locked(c);
  uv_mutex_unlock(&c->lock);
  wake_loop(c);
  uv_thread_join(&c->thread);
  /* Every call has let go of the client (call_freed), so the count can
   * only fall: a caller between post() and wake() still writes to
   * wake_fd, which client_destroy() closes. */
  while (atomic_load(&c->senders))
    sched_yield();
  client_destroy(c);
  *pc = NULL;
}

int uvf_client_cancel_all(uvf_client *c) {
  if (!c)
    return UVF_EINVAL;
  uv_mutex_lock(&c->lock);
  c->cancel_all = 1;
  unpark_locked(c);
  uv_mutex_unlock(&c->lock);
  wake_loop(c);
  return 0;
}

/* ---- calls: the caller's side ---- */

/* Makes a call and posts its start; *wakeup and *own as from post(),
 * for the caller to wake() the loop, maybe after posting more news, or to
 * run it. */
static int call_start(uvf_call **out, uvf_client *c, const uvf_options *o,
                      long deadline_ms, uvf_client **wakeup, int *own) {
  uvf_callbacks cb;
  uvf_options opts;
  uvf_call *call;
  int rc;
  if (!out || !c || deadline_ms < 0 || (o && uvf__options_read(&opts, o)))
    return UVF_EINVAL;
  if (!o)
    opts = c->o;
  if (!(call = uvf__calloc(1, sizeof(*call))))
    return UVF_ENOMEM;
  uvf_callbacks_init(&cb);
  cb.on_result = call_result;
  cb.on_done = call_done;
  if ((rc = uvf__batch_alloc(&call->b, &opts, &cb, call))) {
    free(call);
    return rc;
  }
  call->efd = -1;
  call->b->deadline_ms = deadline_ms;
  call->b->on_freed = call_freed;
  call->window = 2 * (uint64_t)opts.max_in_flight;
  call->c = c;
  call->refs = 2; /* the caller's, and the loop's while the batch lives */
  uvf__lists_init(&call->news_link, &call->live_link, &call->input,
                  &call->output, NULL);
  uv_mutex_init(&call->lock);
  uv_cond_init(&call->cond);
  uv_sem_init(&call->done_sem, 0);
  uv_mutex_lock(&call->lock);
  if ((rc = post(call, NEWS_START, wakeup, own))) { /* client closing */
    uvf__batch_free(call->b);
    call->refs = 1;
    call_unref_unlock(call);
    return rc;
  }
  uv_mutex_unlock(&call->lock);
  *out = call;
  return 0;
}

int uvf_call_start(uvf_call **out, uvf_client *c, const uvf_options *o,
                   long deadline_ms) {
  uvf_client *w = NULL;
  int rc = call_start(out, c, o, deadline_ms, &w, NULL);
  wake(w);
  return rc;
}

/* The copy is made here, on the caller's thread, so that a large body
 * is copied once; the loop only links it into the batch. */
static int submit_locked(uvf_call *call, const char *url, const uvf_request *rq,
                         uint64_t tag, uint64_t *index, uvf_client **wakeup) {
  uvf__url *u;
  if (!call->c || call->input_ended || call->cancelled || call->done ||
      call->from_array)
    return UVF_ESTATE;
  if (call->submitted - call->taken >= call->window)
    return UVF_EAGAIN;
  if (!(u = uvf__url_make(url, rq, tag)))
    return UVF_ENOMEM;
  u->index = call->submitted++;
  uvf__list_push(&call->input, &u->link);
  if (index)
    *index = u->index;
  post(call, NEWS_INPUT, wakeup, NULL);
  return 0;
}

int uvf_call_submit(uvf_call *call, const char *url, uint64_t tag,
                    uint64_t *index) {
  uvf_client *w = NULL;
  int rc;
  if (!call || !url)
    return UVF_EINVAL;
  uv_mutex_lock(&call->lock);
  rc = submit_locked(call, url, NULL, tag, index, &w);
  uv_mutex_unlock(&call->lock);
  wake(w);
  return rc;
}

int uvf_call_submit_request(uvf_call *call, const uvf_request *rq,
                            uint64_t *index) {
  uvf_client *w = NULL;
  int rc;
  if (!call || uvf__request_check(rq))
    return UVF_EINVAL;
  uv_mutex_lock(&call->lock);
  rc = submit_locked(call, rq->url, rq, rq->tag, index, &w);
  uv_mutex_unlock(&call->lock);
  wake(w);
  return rc;
}

int uvf_call_end_input(uvf_call *call) {
  uvf_client *w = NULL;
  if (!call)
    return UVF_EINVAL;
  uv_mutex_lock(&call->lock);
  if (!call->input_ended) {
    call->input_ended = 1;
    post(call, NEWS_INPUT, &w, NULL);
  }
  uv_mutex_unlock(&call->lock);
  wake(w);
  return 0;
}

/* Under the call's lock; wakeup as for post(). */
static void cancel_locked(uvf_call *call, uvf_client **wakeup) {
  if (!call->cancelled && !call->done) {
    call->cancelled = 1;
    post(call, NEWS_CANCEL, wakeup, NULL);
  }
}

int uvf_call_cancel(uvf_call *call) {
  uvf_client *w = NULL;
  if (!call)
    return UVF_EINVAL;
  uv_mutex_lock(&call->lock);
  cancel_locked(call, &w);
  uv_mutex_unlock(&call->lock);
  wake(w);
  return 0;
}

int uvf_call_fd(uvf_call *call) {
  int fd;
  if (!call)
    return UVF_EINVAL;
  uv_mutex_lock(&call->lock);
  if (call->efd < 0 &&
      (call->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) >= 0)
    eventfd_set(call, !uvf__list_empty(&call->output) || call->lost ||
                          all_taken(call));
  fd = call->efd < 0 ? UVF_EBACKEND : call->efd;
  uv_mutex_unlock(&call->lock);
  return fd;
}

/* Waits for news on the call until deadline (uv_hrtime ns; 0 = none).
 * Returns 0, or UV_ETIMEDOUT. Under the call's lock. */
static int wait_locked(uvf_call *call, long timeout_ms, uint64_t until) {
  uint64_t now;
  if (timeout_ms < 0) {
    uv_cond_wait(&call->cond, &call->lock);
    return 0;
  }
  now = uv_hrtime();
  if (now >= until)
    return UV_ETIMEDOUT;
  return uv_cond_timedwait(&call->cond, &call->lock, until - now);
}

int uvf_call_next(uvf_call *call, long timeout_ms, uvf_result **r) {
  uint64_t until =
      uv_hrtime() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0) * 1000000;
  uvf__link *l;
  int rc = 0;
  if (!call || !r || call->from_array)
    return UVF_EINVAL;
  uv_mutex_lock(&call->lock);
  while (uvf__list_empty(&call->output) && !call->lost && !all_taken(call) &&
         rc == 0)
    rc = wait_locked(call, timeout_ms, until);
  if ((l = uvf__list_pop(&call->output))) {
    queued *q = UVF__CONTAINER(l, queued, link);
    *r = q->r;
    free(q);
    call->taken++;
    rc = 0;
  } else if (call->lost) {
    call->lost--;
    call->taken++;
    rc = UVF_ENOMEM;
  } else {
    rc = all_taken(call) ? UVF_EOF : UVF_EAGAIN;
  }
  if (uvf__list_empty(&call->output) && !call->lost && !all_taken(call))
    eventfd_set(call, 0);
  uv_mutex_unlock(&call->lock);
  return rc;
}

/* uvf_call_fetch_all(), and the wake() of news posted before it; or,
 * for the owner of the loop (see run_as_owner), the run of its call. */
static int call_fetch_all(uvf_call *call, const char *const *urls, size_t n,
                          uvf_results **out, uvf_client **wakeup,
                          uvf_client *owner) {
  int rc = 0, cancelled;
  uv_mutex_lock(&call->lock);
  if (call->submitted || call->input_ended || call->from_array || !call->c)
    rc = UVF_ESTATE;
  else if (uvf__collector_init(&call->col, urls, n))
    rc = UVF_ENOMEM;
  if (!rc) {
    /* Read by the loop thread (the batch's next callback) while this
     * thread waits below, so the array needs no copy. */
    call->from_array = 1;
    call->input_ended = 1;
    post(call, NEWS_INPUT, owner ? NULL : wakeup, NULL);
  } else if (owner) {
    cancel_locked(call, NULL); /* so that the run below ends */
  }
  uv_mutex_unlock(&call->lock);
  if (owner) {
    run_as_owner(owner, call);
  } else {
    wake(*wakeup);
    /* A semaphore, not the condition: the mutex a condition wait takes
     * back is marked contended, which costs one more futex call a call. */
    if (!rc)
      uv_sem_wait(&call->done_sem);
  }
  uv_mutex_lock(&call->lock);
  cancelled = call->cancelled;
  uv_mutex_unlock(&call->lock);
  if (rc)
    return rc;
  /* What a cancel or the deadline left untaken from the array. */
  return uvf__collector_finish(&call->col,
                               cancelled ? UVF_EABORTED : UVF_EDEADLINE, out);
}

int uvf_call_fetch_all(uvf_call *call, const char *const *urls, size_t n,
                       uvf_results **out) {
  uvf_client *w = NULL;
  if (!call || (n && !urls) || !out)
    return UVF_EINVAL;
  return call_fetch_all(call, urls, n, out, &w, NULL);
}

void uvf_call_free(uvf_call **pcall) {
  uvf_call *call = pcall ? *pcall : NULL;
  uvf_client *w = NULL;
  if (!call)
    return;
  uv_mutex_lock(&call->lock);
  cancel_locked(call, &w);
  call_unref_unlock(call);
  wake(w);
  *pcall = NULL;
}

/* One wake-up of the loop for the start and the URLs both, or none: a
 * caller that finds the loop resting runs the call itself. */
int uvf_client_fetch_all(uvf_client *c, const char *const *urls, size_t n,
                         const uvf_options *o, long deadline_ms,
                         uvf_results **out) {
  uvf_client *w = NULL;
  uvf_call *call;
  int rc, own = 0;
  if ((n && !urls) || !out)
    return UVF_EINVAL;
  if ((rc = call_start(&call, c, o, deadline_ms, &w, &own)))
    return rc;
  rc = call_fetch_all(call, urls, n, out, &w, own ? c : NULL);
  uvf_call_free(&call);
  return rc;
}
