/* Body files for -o DIR: each body streams into DIR/<index>. Names come
 * from the index alone, never from the URL or the server, so a hostile
 * reply cannot pick where it lands. Open files live in a small hash table
 * keyed by index: an index is in flight at most once, and at most N are
 * in flight, so the table stays near 2 * N slots. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

typedef struct entry {
  uint64_t index;
  int used;
  int fd;  /* -1 if it could not be opened */
  int err; /* errno of the first failure, 0 if none */
  uint64_t written;
} entry;

struct uvf_cli_bodies {
  int dirfd;
  char *dir; /* as the user wrote it, without trailing slashes */
  entry *tab;
  size_t cap; /* a power of two */
  size_t count;
  uvf_cli_buf path;
  uvf_cli_buf err;
};

/* Indexes in flight are nearly consecutive, so the index itself spreads
 * them over the table as well as any hash would. */
static size_t home(const uvf_cli_bodies *b, uint64_t index) {
  return (size_t)(index & (b->cap - 1));
}

static entry *find(const uvf_cli_bodies *b, uint64_t index) {
  size_t i;

  for (i = home(b, index); b->tab[i].used; i = (i + 1) & (b->cap - 1))
    if (b->tab[i].index == index)
      return &b->tab[i];
  return NULL;
}

static entry *insert(uvf_cli_bodies *b, uint64_t index) {
  size_t i;

  for (i = home(b, index); b->tab[i].used; i = (i + 1) & (b->cap - 1))
    ;
  b->tab[i].used = 1;
  b->tab[i].index = index;
  b->count++;
  return &b->tab[i];
}

static int grow(uvf_cli_bodies *b) {
  entry *old = b->tab;
  size_t old_cap = b->cap;
  size_t i;

  b->tab = calloc(old_cap * 2, sizeof(entry));
  if (b->tab == NULL) {
    b->tab = old;
    return -1;
  }
  b->cap = old_cap * 2;
  b->count = 0;
  for (i = 0; i < old_cap; i++)
    if (old[i].used)
      *insert(b, old[i].index) = old[i];
  free(old);
  return 0;
}

/* Deletes without tombstones: later entries of the probe run move back
 * into the hole unless their home lies between the hole and them. */
static void erase(uvf_cli_bodies *b, entry *e) {
  size_t mask = b->cap - 1;
  size_t hole = (size_t)(e - b->tab);
  size_t j = hole;
  size_t k;

  b->tab[hole].used = 0;
  b->count--;
  for (;;) {
    j = (j + 1) & mask;
    if (!b->tab[j].used)
      return;
    k = home(b, b->tab[j].index);
    if (hole <= j ? (hole < k && k <= j) : (hole < k || k <= j))
      continue;
    b->tab[hole] = b->tab[j];
    b->tab[j].used = 0;
    hole = j;
  }
}

/* mkdir -p: the parents of an output directory are often missing too. */
static int make_dirs(char *path) {
  char *p;

  for (p = strchr(path + 1, '/'); p != NULL; p = strchr(p + 1, '/')) {
    *p = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
      *p = '/';
      return -1;
    }
    *p = '/';
  }
  if (mkdir(path, 0777) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

/* Catches a read-only or foreign directory now rather than in every
 * record. O_TMPFILE leaves nothing behind; not every file system has it. */
static int check_writable(int dirfd) {
  int fd;

  if (faccessat(dirfd, ".", W_OK | X_OK, AT_EACCESS) != 0)
    return -1;
  fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  return errno == EACCES || errno == EROFS || errno == ENOSPC || errno == EDQUOT
             ? -1
             : 0;
}

static int open_dir(uvf_cli_bodies *b) {
  if (make_dirs(b->dir) != 0) {
    uvf_cli_error("cannot create output directory %s: %s", b->dir,
                  strerror(errno));
    return -1;
  }
  b->dirfd = open(b->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (b->dirfd < 0 || check_writable(b->dirfd) != 0) {
    uvf_cli_error("cannot write to output directory %s: %s", b->dir,
                  strerror(errno));
    return -1;
  }
  return 0;
}

int uvf_cli_bodies_open(uvf_cli_bodies **out, const char *dir,
                        unsigned in_flight) {
  uvf_cli_bodies *b = calloc(1, sizeof(*b));
  size_t len;

  if (b == NULL)
    goto oom;
  b->dirfd = -1;
  if ((b->dir = strdup(dir)) == NULL)
    goto oom;
  len = strlen(b->dir);
  while (len > 1 && b->dir[len - 1] == '/')
    b->dir[--len] = '\0';
  for (b->cap = 16; b->cap < 2 * (size_t)in_flight;)
    b->cap *= 2;
  b->tab = calloc(b->cap, sizeof(entry));
  if (b->tab == NULL)
    goto oom;
  if (open_dir(b) != 0) {
    uvf_cli_bodies_free(&b);
    return -1;
  }
  *out = b;
  return 0;
oom:
  uvf_cli_error("out of memory");
  if (b != NULL)
    uvf_cli_bodies_free(&b);
  return -1;
}

void uvf_cli_bodies_start(uvf_cli_bodies *b, uint64_t index) {
  char name[24];
  entry *e = find(b, index);

  if (e == NULL) {
    if (2 * (b->count + 1) > b->cap && grow(b) != 0)
      return; /* no entry: no file, no write, the record says file null */
    e = insert(b, index);
  } else if (e->fd >= 0) {
    close(e->fd);
  }
  snprintf(name, sizeof(name), "%" PRIu64, index);
  e->fd =
      openat(b->dirfd, name, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  e->err = e->fd < 0 ? errno : 0;
  e->written = 0;
}

int uvf_cli_bodies_write(uvf_cli_bodies *b, uint64_t index, const char *data,
                         size_t len) {
  entry *e = find(b, index);
  ssize_t n;

  if (e == NULL || e->fd < 0 || e->err != 0)
    return -1;
  while (len > 0) {
    n = write(e->fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      e->err = errno;
      return -1;
    }
    data += n;
    len -= (size_t)n;
    e->written += (uint64_t)n;
  }
  return 0;
}

static const char *path_of(uvf_cli_bodies *b, uint64_t index) {
  uvf_cli_buf_reset(&b->path);
  uvf_cli_buf_printf(&b->path, "%s%s%" PRIu64, b->dir,
                     strcmp(b->dir, "/") == 0 ? "" : "/", index);
  return b->path.oom ? NULL : b->path.data;
}

const char *uvf_cli_bodies_path(uvf_cli_bodies *b, uint64_t index) {
  return path_of(b, index);
}

void uvf_cli_bodies_finish(uvf_cli_bodies *b, uint64_t index, int replied,
                           const char **path, const char **err) {
  entry *e = find(b, index);
  char name[24];
  const char *shown;

  *path = NULL;
  *err = NULL;
  if (e == NULL)
    return;
  shown = path_of(b, index);
  if (shown == NULL)
    shown = b->dir;
  if (e->fd >= 0) {
    if (close(e->fd) != 0 && e->err == 0)
      e->err = errno; /* some file systems report ENOSPC or EIO only here */
    *path = shown;
  }
  if (e->err != 0) {
    uvf_cli_buf_reset(&b->err);
    uvf_cli_buf_printf(&b->err, "cannot %s %s: %s",
                       e->fd >= 0 ? "write" : "create", shown,
                       strerror(e->err));
    *err = b->err.oom ? "cannot write the body file" : b->err.data;
  } else if (e->fd >= 0 && !replied && e->written == 0) {
    /* No reply, no body: an empty file would pass for an empty body. */
    snprintf(name, sizeof(name), "%" PRIu64, index);
    if (unlinkat(b->dirfd, name, 0) == 0)
      *path = NULL;
  }
  erase(b, e);
}

void uvf_cli_bodies_free(uvf_cli_bodies **pb) {
  uvf_cli_bodies *b = *pb;
  size_t i;

  if (b == NULL)
    return;
  for (i = 0; b->tab != NULL && i < b->cap; i++)
    if (b->tab[i].used && b->tab[i].fd >= 0)
      close(b->tab[i].fd);
  if (b->dirfd >= 0)
    close(b->dirfd);
  uvf_cli_buf_free(&b->path);
  uvf_cli_buf_free(&b->err);
  free(b->tab);
  free(b->dir);
  free(b);
  *pb = NULL;
}
