/* Body files for -o DIR: each body streams into DIR/<index>. Names come
 * from the index alone, never from the URL or the server, so a hostile
 * reply cannot pick where it lands.
 *
 * Nothing is written outside DIR, whatever is found there: DIR/<index> is
 * opened without following a symbolic link (O_NOFOLLOW) and without
 * waiting (O_NONBLOCK: opening a FIFO would otherwise wait for a reader
 * for good), and anything but a regular file with no other hard link
 * that is neither the journal nor the report is left alone; the URL's
 * record says why. Only then is the file truncated.
 *
 * Files are opened, written and closed by a thread of its own, in the
 * order the loop asked, so a slow or full disk never stalls the loop.
 * The loop copies each block of body into a queue; when the queue holds
 * more than BACKLOG_PAUSE bytes the caller stops admitting URLs, and past
 * BACKLOG_WAIT (transfers in flight outrunning the disk) the loop waits
 * for the disk rather than grow without bound. A URL's record waits for
 * its file to be closed: the close can fail too (ENOSPC, EIO on some file
 * systems), and the record must say so. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define BACKLOG_WAIT ((uint64_t)64 << 20)

/* Blocks of body go into buffers of OP_CAP bytes that are used again once
 * written, up to what BACKLOG_WAIT can hold: allocating and freeing 128
 * KiB a block made glibc map fresh pages for each, 14 times the page
 * faults. A transfer's blocks of one loop iteration share a buffer. */
#define OP_CAP ((size_t)128 << 10)
#define POOL_MAX ((int)(BACKLOG_WAIT / OP_CAP))

enum { OP_OPEN, OP_WRITE, OP_CLOSE };

/* Why a body file could not be used; errno values say the rest. */
enum {
  WHY_NONE,
  WHY_CREATE, /* open(), fstat() or ftruncate() failed: errno */
  WHY_WRITE,  /* write() or close() failed: errno */
  WHY_SYMLINK,
  WHY_SPECIAL,
  WHY_LINKED,
  WHY_OURS, /* the journal or the report */
  WHY_OOM
};

typedef struct op op;

typedef struct entry {
  uint64_t index;
  void *cookie;
  op *close_op; /* made with the entry, so that finishing cannot fail */
  op *last;     /* loop: its last op in this batch, if a write */
  uint64_t last_batch;
  struct entry *done_next;
  int replied;
  int oom; /* loop: a block could not be queued */
  /* The thread's until the entry is done, then the loop's. */
  int fd;
  int err;
  int why;
  int ours; /* which protected file, for WHY_OURS */
  int kept; /* a file is there at the end */
  uint64_t written;
  _Atomic int failed; /* set by the thread: stop the transfer */
} entry;

struct op {
  struct op *next;
  entry *e;
  int kind;
  size_t len;
  size_t cap; /* OP_CAP: a pooled buffer */
  char data[];
};

#define MAX_PROTECTED 2

struct uvf_cli_bodies {
  int dirfd;
  char *dir; /* as the user wrote it, without trailing slashes */
  /* loop: the entries not finished yet, by index */
  entry **tab;
  size_t cap; /* a power of two */
  size_t count;
  size_t open_entries; /* entries whose completion is not delivered */
  op *batch_head, *batch_tail;
  uint64_t batch_no; /* counts the batches handed over */
  op *spare;         /* pooled buffers free for use */
  uvf_cli_buf path;
  uvf_cli_buf err;
  /* read-only once the thread runs */
  dev_t prot_dev[MAX_PROTECTED];
  ino_t prot_ino[MAX_PROTECTED];
  const char *prot_what[MAX_PROTECTED];
  int n_protected;
  void (*on_finished)(void *ud, uint64_t index, void *cookie, const char *path,
                      const char *err);
  void (*on_news)(void *ud);
  void *ud;
  uv_async_t async;
  int async_init;
  pthread_t thread;
  int thread_started;
  _Atomic uint64_t backlog; /* body bytes queued, not yet written */
  _Atomic int waiting;      /* the loop waits for room */
  pthread_mutex_t mu;       /* guards what follows */
  pthread_cond_t work;      /* the thread waits on it */
  pthread_cond_t room;      /* the loop waits on it (BACKLOG_WAIT) */
  op *queue_head, *queue_tail;
  op *returned; /* pooled buffers written, for the loop to take */
  _Atomic int pooled;
  entry *done_head, *done_tail;
  uint64_t room_below; /* tell the loop once backlog <= this; 0: no */
  int stop;
};

/* ---- the entries of the loop ---- */

/* Indexes in flight are nearly consecutive, so the index itself spreads
 * them over the table as well as any hash would. */
static size_t home(const uvf_cli_bodies *b, uint64_t index) {
  return (size_t)(index & (b->cap - 1));
}

static entry **slot_of(const uvf_cli_bodies *b, uint64_t index) {
  size_t i;

  for (i = home(b, index); b->tab[i]; i = (i + 1) & (b->cap - 1))
    if (b->tab[i]->index == index)
      return &b->tab[i];
  return NULL;
}

static entry *find(const uvf_cli_bodies *b, uint64_t index) {
  entry **s = slot_of(b, index);

  return s ? *s : NULL;
}

static void insert(uvf_cli_bodies *b, entry *e) {
  size_t i;

  for (i = home(b, e->index); b->tab[i]; i = (i + 1) & (b->cap - 1))
    ;
  b->tab[i] = e;
  b->count++;
}

static int grow(uvf_cli_bodies *b) {
  entry **old = b->tab;
  size_t old_cap = b->cap, i;

  b->tab = calloc(old_cap * 2, sizeof(*b->tab));
  if (!b->tab) {
    b->tab = old;
    return -ENOMEM;
  }
  b->cap = old_cap * 2;
  b->count = 0;
  for (i = 0; i < old_cap; i++)
    if (old[i])
      insert(b, old[i]);
  free(old);
  return 0;
}

/* Deletes without tombstones: later entries of the probe run move back
 * into the hole unless their home lies between the hole and them. */
static void erase(uvf_cli_bodies *b, entry **s) {
  size_t mask = b->cap - 1;
  size_t hole = (size_t)(s - b->tab);
  size_t j = hole;
  size_t k;

  b->tab[hole] = NULL;
  b->count--;
  for (;;) {
    j = (j + 1) & mask;
    if (!b->tab[j])
      return;
    k = home(b, b->tab[j]->index);
    if (hole <= j ? (hole < k && k <= j) : (hole < k || k <= j))
      continue;
    b->tab[hole] = b->tab[j];
    b->tab[j] = NULL;
    hole = j;
  }
}

/* ---- the thread ---- */

static void wake_loop(uvf_cli_bodies *b) { uv_async_send(&b->async); }

static int is_protected(const uvf_cli_bodies *b, const struct stat *st) {
  int i;

  for (i = 0; i < b->n_protected; i++)
    if (st->st_dev == b->prot_dev[i] && st->st_ino == b->prot_ino[i])
      return i;
  return -1;
}

static void refuse(entry *e, int fd, int why) {
  if (fd >= 0)
    close(fd);
  e->why = why;
  atomic_store(&e->failed, 1); /* the transfer may stop: no file */
}

/* Opens DIR/<index> for writing, if it may be written: see the top. */
static void open_body(const uvf_cli_bodies *b, entry *e) {
  char name[24];
  struct stat st;
  int fd;

  snprintf(name, sizeof(name), "%" PRIu64, e->index);
  fd = openat(b->dirfd, name,
              O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
  if (fd < 0) {
    e->err = errno;
    /* ELOOP: a symbolic link; ENXIO: a FIFO nobody reads, or a socket */
    refuse(e, -1,
           errno == ELOOP   ? WHY_SYMLINK
           : errno == ENXIO ? WHY_SPECIAL
                            : WHY_CREATE);
    return;
  }
  if (fstat(fd, &st) != 0) {
    e->err = errno;
    refuse(e, fd, WHY_CREATE);
  } else if (!S_ISREG(st.st_mode)) {
    refuse(e, fd, WHY_SPECIAL);
  } else if ((e->ours = is_protected(b, &st)) >= 0) {
    refuse(e, fd, WHY_OURS);
  } else if (st.st_nlink > 1) {
    refuse(e, fd, WHY_LINKED);
  } else if (st.st_size > 0 && ftruncate(fd, 0) != 0) {
    e->err = errno;
    refuse(e, fd, WHY_CREATE);
  } else {
    e->fd = fd;
  }
}

static void write_body(entry *e, const char *p, size_t len) {
  ssize_t n;

  if (e->fd < 0 || e->why != WHY_NONE)
    return;
  while (len > 0) {
    n = write(e->fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      e->err = errno;
      e->why = WHY_WRITE;
      atomic_store(&e->failed, 1);
      return;
    }
    p += n;
    len -= (size_t)n;
    e->written += (uint64_t)n;
  }
}

/* A retry starts its body anew. */
static void reopen_body(const uvf_cli_bodies *b, entry *e) {
  if (e->fd >= 0)
    close(e->fd);
  e->fd = -1;
  e->err = 0;
  e->why = WHY_NONE;
  e->written = 0;
  atomic_store(&e->failed, 0);
  open_body(b, e);
}

static void close_body(const uvf_cli_bodies *b, entry *e) {
  char name[24];

  e->kept = e->fd >= 0;
  if (e->fd >= 0 && close(e->fd) != 0 && e->why == WHY_NONE) {
    e->err = errno; /* some file systems report ENOSPC or EIO only here */
    e->why = WHY_WRITE;
  }
  e->fd = -1;
  if (e->kept && e->why == WHY_NONE && !e->replied && e->written == 0) {
    /* No reply, no body: an empty file would pass for an empty body. */
    snprintf(name, sizeof(name), "%" PRIu64, e->index);
    if (unlinkat(b->dirfd, name, 0) == 0)
      e->kept = 0;
  }
}

/* A written buffer goes back to the pool, or is freed. */
static void drop_op(uvf_cli_bodies *b, op *o, op **keep) {
  if (o->cap == OP_CAP && atomic_load(&b->pooled) < POOL_MAX) {
    atomic_fetch_add(&b->pooled, 1);
    o->next = *keep;
    *keep = o;
  } else {
    free(o);
  }
}

/* Runs one operation; a finished entry goes on *done. */
static void run_op(uvf_cli_bodies *b, op *o, entry ***done) {
  switch (o->kind) {
  case OP_OPEN: reopen_body(b, o->e); break;
  case OP_WRITE:
    write_body(o->e, o->data, o->len);
    atomic_fetch_sub(&b->backlog, (uint64_t)o->len);
    if (atomic_load(&b->waiting)) {
      pthread_mutex_lock(&b->mu);
      pthread_cond_broadcast(&b->room);
      pthread_mutex_unlock(&b->mu);
    }
    break;
  case OP_CLOSE:
    close_body(b, o->e);
    o->e->done_next = NULL;
    **done = o->e;
    *done = &o->e->done_next;
    break;
  }
}

/* Hands finished entries and written buffers to the loop, and wakes it
 * if it must know. */
static void report(uvf_cli_bodies *b, entry *done, op *keep) {
  int wake = done != NULL;

  while (keep) {
    op *next = keep->next;

    keep->next = b->returned;
    b->returned = keep;
    keep = next;
  }
  if (done) {
    if (b->done_tail)
      b->done_tail->done_next = done;
    else
      b->done_head = done;
    while (done->done_next)
      done = done->done_next;
    b->done_tail = done;
  }
  if (b->room_below > 0 && atomic_load(&b->backlog) <= b->room_below) {
    b->room_below = 0;
    wake = 1;
  }
  if (wake)
    wake_loop(b);
}

static void *run(void *arg) {
  uvf_cli_bodies *b = arg;
  op *chain, *next, *keep;
  entry *done, **tail;

  pthread_mutex_lock(&b->mu);
  for (;;) {
    while (!b->queue_head && !b->stop)
      pthread_cond_wait(&b->work, &b->mu);
    if (!b->queue_head)
      break;
    chain = b->queue_head;
    b->queue_head = b->queue_tail = NULL;
    pthread_mutex_unlock(&b->mu);
    done = NULL;
    tail = &done;
    keep = NULL;
    for (; chain; chain = next) {
      next = chain->next;
      run_op(b, chain, &tail);
      drop_op(b, chain, &keep);
    }
    pthread_mutex_lock(&b->mu);
    report(b, done, keep);
  }
  pthread_mutex_unlock(&b->mu);
  return NULL;
}

/* ---- the loop's side ---- */

/* The record of a finished entry: its file and, if any, what went wrong. */
static const char *why_text(uvf_cli_bodies *b, const entry *e,
                            const char *shown) {
  static const char *const fixed[] = {
      [WHY_SYMLINK] = "it is a symbolic link, which is not followed",
      [WHY_SPECIAL] = "it is not a regular file",
      [WHY_LINKED] = "it has other hard links",
  };
  const char *what;

  if (e->why == WHY_NONE && !e->oom)
    return NULL;
  uvf_cli_buf_reset(&b->err);
  if (e->oom || e->why == WHY_OOM)
    uvf_cli_buf_printf(&b->err, "out of memory writing %s", shown);
  else if (e->why == WHY_CREATE || e->why == WHY_WRITE)
    uvf_cli_buf_printf(&b->err, "cannot %s %s: %s",
                       e->why == WHY_CREATE ? "create" : "write", shown,
                       strerror(e->err));
  else if (e->why == WHY_OURS)
    uvf_cli_buf_printf(&b->err, "cannot create %s: it is %s", shown,
                       b->prot_what[e->ours]);
  else
    uvf_cli_buf_printf(&b->err, "cannot create %s: %s", shown,
                       (what = fixed[e->why]) ? what : "refused");
  return b->err.oom ? "cannot write the body file" : b->err.data;
}

static const char *path_of(uvf_cli_bodies *b, uint64_t index) {
  uvf_cli_buf_reset(&b->path);
  uvf_cli_body_path(&b->path, b->dir, index);
  return b->path.oom ? NULL : b->path.data;
}

static void deliver(uvf_cli_bodies *b, entry *e) {
  const char *shown = path_of(b, e->index);
  const char *err = why_text(b, e, shown ? shown : b->dir);

  b->open_entries--;
  b->on_finished(b->ud, e->index, e->cookie, e->kept ? shown : NULL, err);
}

static void on_async(uv_async_t *h) {
  uvf_cli_bodies *b = h->data;
  entry *done, *next;

  pthread_mutex_lock(&b->mu);
  done = b->done_head;
  b->done_head = b->done_tail = NULL;
  pthread_mutex_unlock(&b->mu);
  for (; done; done = next) {
    next = done->done_next;
    deliver(b, done);
    free(done);
  }
  b->on_news(b->ud);
}

static void queue_op(uvf_cli_bodies *b, op *o) {
  o->next = NULL;
  if (b->batch_tail)
    b->batch_tail->next = o;
  else
    b->batch_head = o;
  b->batch_tail = o;
}

static op *new_op(uvf_cli_bodies *b, entry *e, int kind, size_t len) {
  op *o;
  size_t cap = kind == OP_WRITE && len <= OP_CAP ? OP_CAP : len;

  if (cap == OP_CAP && b->spare) {
    o = b->spare;
    b->spare = o->next;
    atomic_fetch_sub(&b->pooled, 1);
  } else if (!(o = malloc(sizeof(*o) + cap))) {
    return NULL;
  }
  o->e = e;
  o->kind = kind;
  o->len = len;
  o->cap = cap;
  return o;
}

/* Appends this iteration's operations to the thread's queue and takes
 * back the buffers it has written. The lock is held. */
static void queue_batch(uvf_cli_bodies *b) {
  if (b->queue_tail)
    b->queue_tail->next = b->batch_head;
  else
    b->queue_head = b->batch_head;
  b->queue_tail = b->batch_tail;
  while (b->returned) {
    op *o = b->returned;

    b->returned = o->next;
    o->next = b->spare;
    b->spare = o;
  }
}

/* Hands the batch to the thread; with stop, also tells it to end once
 * its queue is done. */
static void hand_over(uvf_cli_bodies *b, int stop) {
  pthread_mutex_lock(&b->mu);
  if (b->batch_head)
    queue_batch(b);
  b->stop |= stop;
  pthread_cond_signal(&b->work);
  pthread_mutex_unlock(&b->mu);
  if (b->batch_head)
    b->batch_no++;
  b->batch_head = b->batch_tail = NULL;
}

void uvf_cli_bodies_flush(uvf_cli_bodies *b) {
  if (b->batch_head)
    hand_over(b, 0);
}

/* Transfers in flight outrun the disk: wait for it rather than hold
 * every byte in memory. */
static void wait_for_room(uvf_cli_bodies *b) {
  uvf_cli_bodies_flush(b);
  pthread_mutex_lock(&b->mu);
  atomic_store(&b->waiting, 1);
  while (atomic_load(&b->backlog) > BACKLOG_WAIT / 2)
    pthread_cond_wait(&b->room, &b->mu);
  atomic_store(&b->waiting, 0);
  pthread_mutex_unlock(&b->mu);
}

void uvf_cli_bodies_start(uvf_cli_bodies *b, uint64_t index) {
  entry *e = find(b, index);
  op *o;

  if (!e) {
    if (2 * (b->count + 1) > b->cap && grow(b) != 0)
      return; /* no entry: no file, no write, the record says file null */
    if (!(e = calloc(1, sizeof(*e))))
      return;
    if (!(e->close_op = new_op(b, e, OP_CLOSE, 0))) {
      free(e);
      return;
    }
    e->index = index;
    e->fd = -1;
    atomic_init(&e->failed, 0);
    insert(b, e);
    b->open_entries++;
  }
  if (!(o = new_op(b, e, OP_OPEN, 0))) {
    e->oom = 1;
    return;
  }
  e->last = NULL;
  queue_op(b, o);
}

int uvf_cli_bodies_write(uvf_cli_bodies *b, uint64_t index, const char *data,
                         size_t len) {
  entry *e = find(b, index);
  op *o;

  if (!e || e->oom || atomic_load(&e->failed))
    return e && !e->oom ? -EIO : -ENOMEM;
  if (atomic_load(&b->backlog) > BACKLOG_WAIT)
    wait_for_room(b);
  o = e->last;
  if (o && e->last_batch == b->batch_no && o->cap - o->len >= len) {
    memcpy(o->data + o->len, data, len); /* the same buffer, still ours */
    o->len += len;
  } else if ((o = new_op(b, e, OP_WRITE, len))) {
    memcpy(o->data, data, len);
    queue_op(b, o);
    e->last = o;
    e->last_batch = b->batch_no;
  } else {
    e->oom = 1;
    return -ENOMEM;
  }
  atomic_fetch_add(&b->backlog, (uint64_t)len);
  return 0;
}

int uvf_cli_bodies_finish(uvf_cli_bodies *b, uint64_t index, int replied,
                          void *cookie) {
  entry **s = slot_of(b, index);
  entry *e;

  if (!s)
    return 0;
  e = *s;
  erase(b, s);
  e->replied = replied;
  e->cookie = cookie;
  queue_op(b, e->close_op);
  return 1;
}

uint64_t uvf_cli_bodies_backlog(const uvf_cli_bodies *b) {
  return atomic_load(&b->backlog);
}

void uvf_cli_bodies_notify_below(uvf_cli_bodies *b, uint64_t mark) {
  pthread_mutex_lock(&b->mu);
  b->room_below = mark > 0 ? mark : 1;
  report(b, NULL, NULL); /* at once if it is already there */
  pthread_mutex_unlock(&b->mu);
}

int uvf_cli_bodies_idle(const uvf_cli_bodies *b) {
  return b->open_entries == 0;
}

void uvf_cli_body_path(uvf_cli_buf *out, const char *dir, uint64_t index) {
  size_t len = strlen(dir);

  while (len > 1 && dir[len - 1] == '/')
    len--;
  uvf_cli_buf_add(out, dir, len);
  if (!(len == 1 && dir[0] == '/'))
    uvf_cli_buf_add(out, "/", 1);
  uvf_cli_buf_printf(out, "%" PRIu64, index);
}

void uvf_cli_bodies_protect(uvf_cli_bodies *b, int fd, const char *what) {
  struct stat st;

  if (b->n_protected == MAX_PROTECTED || fstat(fd, &st) != 0 ||
      !S_ISREG(st.st_mode))
    return;
  b->prot_dev[b->n_protected] = st.st_dev;
  b->prot_ino[b->n_protected] = st.st_ino;
  b->prot_what[b->n_protected++] = what;
}

static int all_digits(const char *s) {
  if (*s == '\0')
    return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return 0;
  return 1;
}

int uvf_cli_bodies_claims(const char *dir, const char *path) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  struct stat d, p;
  char *parent;
  int same;

  if (!all_digits(base) || stat(dir, &d) != 0)
    return 0;
  if (!slash)
    parent = strdup(".");
  else if (slash == path)
    parent = strdup("/");
  else
    parent = strndup(path, (size_t)(slash - path));
  if (!parent)
    return 0;
  same = stat(parent, &p) == 0 && p.st_dev == d.st_dev && p.st_ino == d.st_ino;
  free(parent);
  return same;
}

/* ---- setup and teardown ---- */

/* mkdir -p: the parents of an output directory are often missing too.
 * Returns 0 or a negative errno. */
static int make_dirs(char *path) {
  char *p;
  int rc = 0;

  for (p = strchr(path + 1, '/'); p && rc == 0; p = strchr(p + 1, '/')) {
    *p = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
      rc = -errno;
    *p = '/';
  }
  if (rc == 0 && mkdir(path, 0777) != 0 && errno != EEXIST)
    rc = -errno;
  return rc;
}

/* Catches a read-only or foreign directory now rather than in every
 * record. O_TMPFILE leaves nothing behind; not every file system has it.
 * Returns 0, or a negative errno. */
static int check_writable(int dirfd) {
  int fd;

  if (faccessat(dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0)
    return -errno;
  fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  return errno == EACCES || errno == EROFS || errno == ENOSPC || errno == EDQUOT
             ? -errno
             : 0;
}

static int open_dir(uvf_cli_bodies *b) {
  int rc = make_dirs(b->dir);

  if (rc != 0) {
    uvf_cli_error("cannot create output directory %s: %s", b->dir,
                  strerror(-rc));
    return rc;
  }
  b->dirfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  rc = b->dirfd < 0 ? -errno : check_writable(b->dirfd);
  if (rc != 0)
    uvf_cli_error("cannot write to output directory %s: %s", b->dir,
                  strerror(-rc));
  return rc;
}

static int start_thread(uvf_cli_bodies *b) {
  int rc = uvf_cli_thread_start(&b->thread, run, b, 0);

  b->thread_started = rc == 0;
  return rc;
}

static int start(uvf_cli_bodies *b, uv_loop_t *loop) {
  int rc = open_dir(b);

  if (rc != 0)
    return rc;
  if ((rc = uv_async_init(loop, &b->async, on_async)) != 0) {
    uvf_cli_error("cannot start: %s", uv_strerror(rc));
    return rc;
  }
  b->async_init = 1;
  b->async.data = b;
  if ((rc = start_thread(b)) != 0)
    uvf_cli_error("cannot start a thread: %s", strerror(-rc));
  return rc;
}

/* What the thread shares with the loop, the table (sized for in_flight
 * entries) and the directory's name without trailing slashes. Returns 0
 * or -ENOMEM. */
static int init(uvf_cli_bodies *b, const char *dir, unsigned in_flight) {
  size_t len;

  b->dirfd = -1;
  atomic_init(&b->backlog, 0);
  atomic_init(&b->waiting, 0);
  atomic_init(&b->pooled, 0);
  pthread_mutex_init(&b->mu, NULL);
  pthread_cond_init(&b->work, NULL);
  pthread_cond_init(&b->room, NULL);
  for (b->cap = 16; b->cap < 2 * (size_t)in_flight;)
    b->cap *= 2;
  b->tab = calloc(b->cap, sizeof(*b->tab));
  if (!(b->dir = strdup(dir)) || !b->tab)
    return -ENOMEM;
  len = strlen(b->dir);
  while (len > 1 && b->dir[len - 1] == '/')
    b->dir[--len] = '\0';
  return 0;
}

int uvf_cli_bodies_open(uvf_cli_bodies **out, uv_loop_t *loop, const char *dir,
                        unsigned in_flight,
                        void (*on_finished)(void *ud, uint64_t index,
                                            void *cookie, const char *path,
                                            const char *err),
                        void (*on_news)(void *ud), void *ud) {
  uvf_cli_bodies *b = calloc(1, sizeof(*b));
  int rc;

  if (!b) {
    uvf_cli_error("out of memory");
    return -ENOMEM;
  }
  b->on_finished = on_finished;
  b->on_news = on_news;
  b->ud = ud;
  if ((rc = init(b, dir, in_flight)) != 0)
    uvf_cli_error("out of memory");
  else
    rc = start(b, loop);
  if (rc != 0)
    uvf_cli_bodies_close(b);
  else
    *out = b;
  return rc;
}

static void free_ops(op *o) {
  op *next;

  for (; o; o = next) {
    next = o->next;
    free(o);
  }
}

static void release(uvf_cli_bodies *b) {
  size_t i;

  free_ops(b->batch_head);
  free_ops(b->queue_head);
  free_ops(b->spare);
  free_ops(b->returned);
  for (i = 0; b->tab && i < b->cap; i++) {
    if (!b->tab[i])
      continue;
    if (b->tab[i]->fd >= 0)
      close(b->tab[i]->fd);
    free(b->tab[i]->close_op);
    free(b->tab[i]);
  }
  while (b->done_head) { /* finished, never delivered */
    entry *e = b->done_head;

    b->done_head = e->done_next;
    free(e);
  }
  if (b->dirfd >= 0)
    close(b->dirfd);
  pthread_cond_destroy(&b->room);
  pthread_cond_destroy(&b->work);
  pthread_mutex_destroy(&b->mu);
  uvf_cli_buf_free(&b->path);
  uvf_cli_buf_free(&b->err);
  free(b->tab);
  free(b->dir);
  free(b);
}

static void on_closed(uv_handle_t *h) { release(h->data); }

void uvf_cli_bodies_close(uvf_cli_bodies *b) {
  if (b && b->thread_started) { /* it does what is queued, then ends */
    hand_over(b, 1);
    pthread_join(b->thread, NULL);
  }
  if (b && b->async_init) /* finished entries not delivered go with it */
    uv_close((uv_handle_t *)&b->async, on_closed);
  else if (b)
    release(b);
}
