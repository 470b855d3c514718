/* A byte stream written by a thread of its own: the report on standard
 * output, the journal. The loop only copies bytes into memory; a reader
 * that stops reading, a terminal held with Ctrl-S, a slow or full disk
 * then hold up this thread and never the loop, so transfers in flight go
 * on and their timeouts stay true. The caller bounds the memory: it
 * reads uvf_cli_writer_pending() and pauses admission when it grows.
 *
 * The thread works for any kind of descriptor (pipe, terminal, socket,
 * regular file) and leaves its flags alone: making standard output
 * non-blocking would change it for every process that shares it.
 *
 * Bytes added in one loop iteration go out in one write() once the
 * iteration hands them over (uvf_cli_writer_flush()). The thread tells
 * the loop through a uv_async_t when the backlog falls under a mark the
 * loop asked for, when a write fails, and when everything is written
 * after uvf_cli_writer_finish(). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct uvf_cli_writer {
  int fd;
  int pipe;     /* fd is a pipe or FIFO */
  long sync_ms; /* > 0: fdatasync() this often and at the end */
  uv_async_t async;
  pthread_t thread;
  int thread_started;
  void (*notify)(void *ud);
  void *ud;
  uvf_cli_buf batch;        /* loop: added since the last flush */
  uint64_t handed;          /* loop: bytes handed to the thread */
  _Atomic uint64_t written; /* thread: bytes written (or dropped) */
  pthread_mutex_t mu;       /* guards what follows */
  pthread_cond_t cond;      /* the thread waits on it for work */
  uvf_cli_buf queue;        /* handed over, not taken yet */
  uvf_cli_buf out;          /* being written by the thread */
  size_t out_done;          /* of out, written */
  size_t notify_below;      /* tell the loop once pending <= this */
  int err;                  /* the first failure: a negative errno */
  int finishing;            /* no more bytes will come */
  int finished;             /* the thread has ended */
  pthread_cond_t ended;     /* the loop waits on it to abandon */
  uint64_t dropped;         /* lines not written after a failure */
  _Atomic int abandon;      /* end now, whatever is left */
};

static void wake_loop(uvf_cli_writer *w) { uv_async_send(&w->async); }

static uint64_t now_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Giving up on a reader: write() may wait for it for good, so the loop
 * interrupts it with SIGURG, which the thread alone takes, through a
 * handler that does nothing and is installed without SA_RESTART. SIGURG
 * is ignored by default and otherwise only tells of out-of-band socket
 * data, which we never ask for. (pthread_cancel() would do too, but
 * leaves AddressSanitizer's view of the thread's stack poisoned.) */
#define WAKE_SIGNAL SIGURG

static void on_wake_signal(int signum) { (void)signum; }

static int install_wake_signal(void) {
  static int installed;
  struct sigaction sa;

  if (installed)
    return 0;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = on_wake_signal;
  sigemptyset(&sa.sa_mask);
  if (sigaction(WAKE_SIGNAL, &sa, NULL) != 0)
    return -errno;
  installed = 1;
  return 0;
}

/* How much to write at once from p: all of it, except into a pipe, where
 * whole lines of at most PIPE_BUF bytes go in each write(): the kernel
 * writes those all or nothing, so a reader the run gives up on (after a
 * signal) never gets half a record. */
static size_t chunk(const uvf_cli_writer *w, const char *p, size_t len) {
  const char *nl;

  if (!w->pipe || len <= PIPE_BUF)
    return len;
  if ((nl = memrchr(p, '\n', PIPE_BUF)))
    return (size_t)(nl - p) + 1;
  nl = memchr(p, '\n', len); /* one line longer than PIPE_BUF */
  return nl ? (size_t)(nl - p) + 1 : len;
}

/* Writes w->out without the lock held. Returns 0 or a negative errno. */
static int write_out(uvf_cli_writer *w) {
  while (w->out_done < w->out.len) {
    const char *p = w->out.data + w->out_done;
    ssize_t n = write(w->fd, p, chunk(w, p, w->out.len - w->out_done));

    if (n < 0 && errno == EINTR && atomic_load(&w->abandon))
      return -ECANCELED;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return errno != 0 ? -errno : -EIO;
    w->out_done += (size_t)n;
    atomic_fetch_add(&w->written, (uint64_t)n);
  }
  return 0;
}

static void swap(uvf_cli_buf *a, uvf_cli_buf *b) {
  uvf_cli_buf t = *a;

  *a = *b;
  *b = t;
}

/* Waits, the lock held, until there is something to do: bytes, the end,
 * or (with unsynced bytes) the next sync. */
static void wait_for_work(uvf_cli_writer *w, int dirty, uint64_t synced) {
  uint64_t due = synced + (uint64_t)w->sync_ms, now;

  while (w->queue.len == 0 && !w->finishing && !atomic_load(&w->abandon)) {
    if (!dirty || w->sync_ms <= 0) {
      pthread_cond_wait(&w->cond, &w->mu);
      continue;
    }
    if ((now = now_ms()) >= due)
      return;
    uvf_cli_cond_wait_ms(&w->cond, &w->mu, due - now);
  }
}

/* Counts the newlines of what was not written. */
static uint64_t lines_in(const char *p, size_t len) {
  uint64_t n = 0;
  const char *end = p + len;

  while (p < end && (p = memchr(p, '\n', (size_t)(end - p)))) {
    n++;
    p++;
  }
  return n;
}

/* Keeps err (a negative errno; 0: none) if it is the first failure, and
 * tells the loop. The lock is held. */
static void failed(uvf_cli_writer *w, int err) {
  if (err == 0 || w->err != 0)
    return;
  w->err = err;
  wake_loop(w);
}

/* Takes the queue and writes it; the lock is held on entry and exit. */
static void write_queue(uvf_cli_writer *w, int *dirty) {
  int err = 0;

  swap(&w->queue, &w->out);
  w->out_done = 0;
  if (w->err == 0) {
    pthread_mutex_unlock(&w->mu);
    err = write_out(w);
    pthread_mutex_lock(&w->mu);
    *dirty = 1;
  }
  /* After a failure the rest is dropped, but counted as gone. */
  w->dropped += lines_in(w->out.data + w->out_done, w->out.len - w->out_done);
  atomic_fetch_add(&w->written, (uint64_t)(w->out.len - w->out_done));
  w->out.len = w->out_done = 0;
  failed(w, err);
  if (w->notify_below > 0 &&
      w->queue.len <= w->notify_below) { /* nothing else is in flight */
    w->notify_below = 0;
    wake_loop(w);
  }
}

static void sync_now(uvf_cli_writer *w) {
  int err;

  pthread_mutex_unlock(&w->mu);
  err = fdatasync(w->fd) != 0 ? -errno : 0;
  pthread_mutex_lock(&w->mu);
  failed(w, err);
}

static void *run(void *arg) {
  uvf_cli_writer *w = arg;
  int dirty = 0;
  uint64_t synced = now_ms();

  pthread_mutex_lock(&w->mu);
  for (;;) {
    wait_for_work(w, dirty, synced);
    if (atomic_load(&w->abandon))
      break;
    if (w->queue.len > 0)
      write_queue(w, &dirty);
    if (dirty && w->sync_ms > 0 && w->err == 0 &&
        (now_ms() >= synced + (uint64_t)w->sync_ms ||
         (w->finishing && w->queue.len == 0))) {
      sync_now(w);
      dirty = 0;
      synced = now_ms();
    }
    if (w->finishing && w->queue.len == 0)
      break;
  }
  w->finished = 1;
  pthread_cond_signal(&w->ended);
  pthread_mutex_unlock(&w->mu);
  wake_loop(w);
  return NULL;
}

static void on_async(uv_async_t *h) {
  uvf_cli_writer *w = h->data;

  w->notify(w->ud);
}

void uvf_cli_cond_wait_ms(pthread_cond_t *c, pthread_mutex_t *m, uint64_t ms) {
  struct timespec until;

  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += (time_t)(ms / 1000);
  until.tv_nsec += (long)(ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  pthread_cond_timedwait(c, m, &until);
}

int uvf_cli_thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                         int keep) {
  sigset_t all, old;
  int rc;

  sigfillset(&all);
  if (keep)
    sigdelset(&all, keep);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  rc = pthread_create(t, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return -rc;
}

/* The thread takes WAKE_SIGNAL, which cuts a write() that hangs. */
static int start_thread(uvf_cli_writer *w) {
  int rc;

  if ((rc = install_wake_signal()) != 0)
    return rc;
  rc = uvf_cli_thread_start(&w->thread, run, w, WAKE_SIGNAL);
  w->thread_started = rc == 0;
  return rc;
}

int uvf_cli_writer_start(uvf_cli_writer **out, uv_loop_t *loop, int fd,
                         long sync_ms, void (*notify)(void *ud), void *ud) {
  uvf_cli_writer *w = calloc(1, sizeof(*w));
  struct stat st;
  int rc;

  if (!w)
    return -ENOMEM;
  w->fd = fd;
  w->pipe = fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
  w->sync_ms = sync_ms;
  w->notify = notify;
  w->ud = ud;
  atomic_init(&w->written, 0);
  atomic_init(&w->abandon, 0);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cond, NULL);
  pthread_cond_init(&w->ended, NULL);
  if ((rc = uv_async_init(loop, &w->async, on_async)) != 0) {
    pthread_cond_destroy(&w->ended);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
    free(w);
    return rc;
  }
  w->async.data = w;
  uv_unref((uv_handle_t *)&w->async); /* until finish: see there */
  if ((rc = start_thread(w)) != 0) {
    uvf_cli_writer_close(w);
    return rc;
  }
  *out = w;
  return 0;
}

void uvf_cli_writer_add(uvf_cli_writer *w, const char *data, size_t len) {
  if (len > 0)
    uvf_cli_buf_add(&w->batch, data, len);
}

/* Moves the batch to the queue. The lock is held. */
static void queue_batch(uvf_cli_writer *w) {
  if (w->batch.oom)
    failed(w, -ENOMEM);
  w->handed += w->batch.len;
  if (w->queue.len == 0 && !w->queue.oom) {
    swap(&w->queue, &w->batch); /* no copy */
  } else {
    uvf_cli_buf_add(&w->queue, w->batch.data, w->batch.len);
    if (w->queue.oom)
      failed(w, -ENOMEM);
  }
}

/* Hands the batch to the thread; with last, also tells it that nothing
 * more comes: it writes the rest, then ends. */
static void hand_over(uvf_cli_writer *w, int last) {
  pthread_mutex_lock(&w->mu);
  if (w->batch.len > 0 || w->batch.oom)
    queue_batch(w);
  w->finishing |= last;
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mu);
  uvf_cli_buf_reset(&w->batch);
  w->batch.oom = 0;
}

void uvf_cli_writer_flush(uvf_cli_writer *w) {
  if (w->batch.len > 0 || w->batch.oom)
    hand_over(w, 0);
}

size_t uvf_cli_writer_pending(const uvf_cli_writer *w) {
  uint64_t written = atomic_load(&w->written);

  return w->batch.len + (size_t)(w->handed - written);
}

uint64_t uvf_cli_writer_written(const uvf_cli_writer *w) {
  return atomic_load(&w->written);
}

size_t uvf_cli_writer_handed(const uvf_cli_writer *w) {
  return (size_t)(w->handed - atomic_load(&w->written));
}

void uvf_cli_writer_notify_below(uvf_cli_writer *w, size_t mark) {
  pthread_mutex_lock(&w->mu);
  if (w->handed - atomic_load(&w->written) <= mark)
    wake_loop(w); /* already there */
  else
    w->notify_below = mark > 0 ? mark : 1;
  pthread_mutex_unlock(&w->mu);
}

/* A field the thread sets, read under the lock. */
static int read_locked(uvf_cli_writer *w, const int *field) {
  int v;

  pthread_mutex_lock(&w->mu);
  v = *field;
  pthread_mutex_unlock(&w->mu);
  return v;
}

int uvf_cli_writer_error(uvf_cli_writer *w) { return read_locked(w, &w->err); }

void uvf_cli_writer_finish(uvf_cli_writer *w) {
  hand_over(w, 1);
  /* From now on the loop runs until the thread is done. */
  uv_ref((uv_handle_t *)&w->async);
}

int uvf_cli_writer_finished(uvf_cli_writer *w) {
  return read_locked(w, &w->finished);
}

/* Interrupts the thread's write() until it has ended. A signal sent just
 * before write() begins to wait is lost, hence the repeats. */
static void interrupt_until_ended(uvf_cli_writer *w) {
  struct timespec until;

  pthread_mutex_lock(&w->mu);
  while (!w->finished) {
    pthread_kill(w->thread, WAKE_SIGNAL);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 10 * 1000000;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(&w->ended, &w->mu, &until);
  }
  pthread_mutex_unlock(&w->mu);
}

uint64_t uvf_cli_writer_abandon(uvf_cli_writer *w) {
  uint64_t lost;

  if (!w->thread_started)
    return 0;
  pthread_mutex_lock(&w->mu);
  atomic_store(&w->abandon, 1);
  pthread_cond_signal(&w->cond);
  pthread_mutex_unlock(&w->mu);
  interrupt_until_ended(w);
  pthread_join(w->thread, NULL);
  w->thread_started = 0;
  lost = w->dropped + lines_in(w->queue.data, w->queue.len) +
         lines_in(w->batch.data, w->batch.len);
  uvf_cli_buf_reset(&w->out);
  uvf_cli_buf_reset(&w->queue);
  uvf_cli_buf_reset(&w->batch);
  return lost;
}

static void on_closed(uv_handle_t *h) {
  uvf_cli_writer *w = h->data;

  pthread_cond_destroy(&w->ended);
  pthread_cond_destroy(&w->cond);
  pthread_mutex_destroy(&w->mu);
  uvf_cli_buf_free(&w->batch);
  uvf_cli_buf_free(&w->queue);
  uvf_cli_buf_free(&w->out);
  free(w);
}

int uvf_cli_writer_close(uvf_cli_writer *w) {
  int err;

  if (!w)
    return 0;
  if (w->thread_started) {
    hand_over(w, 1);
    pthread_join(w->thread, NULL);
    w->thread_started = 0;
  }
  err = w->err;
  uv_close((uv_handle_t *)&w->async, on_closed);
  return err;
}
