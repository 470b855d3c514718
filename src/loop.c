/* The glue between libuv and libcurl's multi socket interface.
 *
 * libcurl says which sockets to watch (on_socket) and when to call it back
 * (on_curl_timer); libuv watches and calls curl_multi_socket_action(). The
 * rules of ../shared/LIBCURL-LIBUV.md apply: no libcurl call from inside a
 * libcurl callback, drain finished transfers after every action, and a
 * timeout of 0 runs on the next loop iteration (an idle handle) rather than
 * as a 0 ms libuv timer, which 1.44 may fire again in the same pass.
 * Each shard (see internal.h) is one multi handle with its own timer; the
 * poll table and the idle handle are shared. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static uvf__poll *poll_get(const uvf_fetcher *f, curl_socket_t fd) {
  return fd >= 0 && (size_t)fd < f->npolls ? f->polls[fd] : NULL;
}

static int table_fit(uvf_fetcher *f, curl_socket_t fd) {
  size_t n = f->npolls ? f->npolls : 64;
  uvf__poll **p;
  if ((size_t)fd < f->npolls)
    return 0;
  while (n <= (size_t)fd)
    n *= 2;
  p = realloc(f->polls, n * sizeof(*p));
  if (!p)
    return UVF_ENOMEM;
  memset(p + f->npolls, 0, (n - f->npolls) * sizeof(*p));
  f->polls = p;
  f->npolls = n;
  return 0;
}

static void on_poll_close(uv_handle_t *h) {
  uvf__poll *p = h->data;
  uvf_fetcher *f = p->f;
  free(p);
  uvf__fetcher_handle_closed(f);
}

/* uv_close() while the fd is still open: libuv's EPOLL_CTL_DEL then acts on
 * our socket, never on a later one that reuses the number. */
static void poll_close(uvf__poll *p) {
  p->f->polls[p->fd] = NULL;
  uv_close((uv_handle_t *)&p->h, on_poll_close);
}

static uvf__poll *poll_new(uvf__shard *sh, curl_socket_t fd, int conn) {
  uvf_fetcher *f = sh->f;
  uvf__poll *p;
  if (fd < 0 || table_fit(f, fd))
    return NULL;
  p = calloc(1, sizeof(*p));
  if (!p)
    return NULL;
  if (uv_poll_init_socket(f->loop, &p->h, fd) != 0) {
    free(p);
    return NULL;
  }
  p->h.data = p;
  p->f = f;
  p->shard = sh;
  p->fd = fd;
  p->conn = conn;
  f->polls[fd] = p;
  f->open_handles++;
  return p;
}

static void action(uvf__shard *sh, curl_socket_t fd, int flags) {
  uvf_fetcher *f = sh->f;
  int running = 0;
  /* An error here (a socket libcurl no longer knows) leaves nothing to
   * do: transfers end through their own results or timeouts. */
  f->in_curl++;
  (void)curl_multi_socket_action(sh->multi, fd, flags, &running);
  f->in_curl--;
  uvf__loop_drain(sh);
  uvf__admit(f);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  uvf__poll *p = h->data;
  int flags = 0;
  if (!p->want) {
    /* An idle keep-alive connection stirred (most likely the server
     * closed it): stop watching now; libcurl finds out when it reuses or
     * prunes the connection. */
    uv_poll_stop(h);
    p->active = 0;
    return;
  }
  if (status < 0) {
    /* libuv stopped the handle on EPOLLERR; libcurl must still learn of it
     * so it can fail or close the connection. ERR alone makes libcurl say
     * "select/poll returned error"; with what the socket was waiting for,
     * it tries that and reports the real cause (a reset, say). */
    flags = CURL_CSELECT_ERR;
    if (p->events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (p->events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
    p->active = uv_is_active((uv_handle_t *)h);
  } else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  action(p->shard, p->fd, flags);
  if (status < 0 && poll_get(p->f, p->fd) == p && p->want && !p->active) {
    /* libcurl still wants the socket it was told about, with nothing new
     * to say, so no socket callback restarts the watcher libuv stopped:
     * restart it, or the transfer would sit until its timeout. */
    p->active = uv_poll_start(&p->h, p->want, on_poll) == 0;
    p->events = p->want;
  }
}

/* CURLMOPT_SOCKETFUNCTION: only changes what libuv watches (R1). */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp) {
  uvf__shard *sh = userp;
  uvf__poll *p = poll_get(sh->f, fd);
  int ev = 0;
  (void)easy;
  (void)socketp;
  if (what == CURL_POLL_REMOVE) {
    if (p && p->conn && p->events == UV_READABLE) {
      /* A connection that was reading: an idle keep-alive connection, or
       * one about to close (then the closesocket callback follows). Its
       * watcher stays as it is, since the next request on it most likely
       * wants the same events back: a stop and a start would cost two
       * epoll_ctl calls per request. */
      p->want = 0;
    } else if (p) {
      /* Anything else closes now (R6). libcurl 7.88 closes a connect
       * attempt it gives up on (a timeout during connect) without the
       * closesocket callback; a watcher left started on it makes libuv
       * abort on EBADF. Also the resolver's socketpair and other sockets
       * we did not open. */
      poll_close(p);
    }
    return 0;
  }
  /* A failure here leaves the transfer to its timeout; returning -1 would
   * make libcurl fail every transfer of the multi handle. */
  if (!p && !(p = poll_new(sh, fd, 0)))
    return 0;
  if (what & CURL_POLL_IN)
    ev |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    ev |= UV_WRITABLE;
  p->want = ev;
  if (p->active && p->events == ev)
    return 0;
  p->active = uv_poll_start(&p->h, ev, on_poll) == 0;
  p->events = ev;
  return 0;
}

static void on_timer(uv_timer_t *t) { action(t->data, CURL_SOCKET_TIMEOUT, 0); }

/* Runs the shards whose timeout of 0 came due; a shard that asks again
 * while this runs waits for the next loop iteration. */
static void run_due(uvf_fetcher *f) {
  uvf__shard *sh = f->due;
  f->due = NULL;
  while (sh && !f->closing) {
    uvf__shard *next = sh->due_next;
    sh->due_next = NULL;
    sh->on_due = 0;
    if (sh->timeout_due) {
      sh->timeout_due = 0;
      action(sh, CURL_SOCKET_TIMEOUT, 0);
    }
    sh = next;
  }
}

static void on_idle(uv_idle_t *i) {
  uvf_fetcher *f = i->data;
  uv_idle_stop(i);
  if (f->closing) {
    uvf__teardown(f);
    return;
  }
  run_due(f);
  if (f->admit_due) {
    f->admit_due = 0;
    uvf__admit(f);
  }
}

/* CURLMOPT_TIMERFUNCTION: every value but -1 replaces the previous timer. */
static int on_curl_timer(CURLM *multi, long ms, void *userp) {
  uvf__shard *sh = userp;
  uvf_fetcher *f = sh->f;
  (void)multi;
  uv_timer_stop(&sh->timer);
  sh->timeout_due = ms == 0;
  if (ms == 0) {
    if (!sh->on_due) {
      sh->on_due = 1;
      sh->due_next = f->due;
      f->due = sh;
    }
    uv_idle_start(&f->idle, on_idle);
  } else if (ms > 0) {
    uv_timer_start(&sh->timer, on_timer, (uint64_t)ms, 0);
  }
  return 0;
}

void uvf__loop_kick(uvf_fetcher *f) {
  f->admit_due = 1;
  if (!f->torn_down)
    uv_idle_start(&f->idle, on_idle);
}

void uvf__loop_drain(uvf__shard *sh) {
  CURLMsg *m;
  int left;
  while (sh->multi && (m = curl_multi_info_read(sh->multi, &left))) {
    CURL *easy = m->easy_handle;
    CURLcode rc = m->data.result; /* m dies with remove_handle (R5) */
    uvf__xfer *x = NULL;
    if (m->msg != CURLMSG_DONE)
      continue;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    if (x)
      uvf__xfer_finish(x, rc);
  }
}

/* Called with the transfer: the name is resolved once it connects. */
curl_socket_t uvf__open_socket(void *clientp, curlsocktype purpose,
                               struct curl_sockaddr *a) {
  uvf__xfer *x = clientp;
  uvf__shard *sh = x->shard;
  uvf__poll *stale;
  curl_socket_t fd;
  uvf__lookup_over(x);
  fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd < 0)
    return CURL_SOCKET_BAD;
  if (purpose == CURLSOCKTYPE_IPCXN)
    sh->f->st.connects++;
  /* A handle left from a socket closed behind our back (none expected)
   * would make uv_poll_init fail with EEXIST. */
  if ((stale = poll_get(sh->f, fd)))
    poll_close(stale);
  if (!poll_new(sh, fd, 1)) {
    close(fd);
    return CURL_SOCKET_BAD;
  }
  return fd;
}

int uvf__close_socket(void *clientp, curl_socket_t fd) {
  uvf__shard *sh = clientp;
  uvf__poll *p = poll_get(sh->f, fd);
  if (p)
    poll_close(p);
  if (sh->f->torn_down && p && p->conn) {
    /* Only idle keep-alive connections are left at teardown. Closing them
     * with a reset leaves no TIME_WAIT socket behind: 10,000 of those make
     * every later connect() on the machine search hard for a free port. */
    struct linger l = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
  }
  return close(fd);
}

static int shard_init(uvf_fetcher *f, uvf__shard *sh, long maxconn) {
  CURLMcode mc = CURLM_OK;
  sh->f = f;
  if (!(sh->multi = curl_multi_init()))
    return UVF_ENOMEM;
  mc |= curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  mc |= curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
  mc |= curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  mc |= curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
  /* Pinned, so a dip in concurrency does not evict warm connections. */
  mc |= curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, maxconn);
  mc |= curl_multi_setopt(sh->multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  mc |= curl_multi_setopt(sh->multi, CURLMOPT_MAX_CONCURRENT_STREAMS,
                          (long)f->o.max_streams);
  return mc == CURLM_OK ? 0 : UVF_EBACKEND;
}

/* Creates every shard's multi handle first, then the libuv handles, whose
 * init cannot fail: an error never leaves a handle on the caller's loop. */
int uvf__loop_init(uvf_fetcher *f) {
  unsigned n = (f->o.max_in_flight + UVF__SHARD_SIZE - 1) / UVF__SHARD_SIZE;
  unsigned per = (f->o.max_in_flight + n - 1) / n, i;
  int rc = 0;
  if (!(f->shards = calloc(n, sizeof(*f->shards))))
    return UVF_ENOMEM;
  f->nshards = n;
  for (i = 0; i < n && !rc; i++)
    rc = shard_init(f, &f->shards[i], per < 16 ? 16 : (long)per);
  if (rc) {
    uvf__loop_free(f);
    return rc;
  }
  for (i = 0; i < n; i++) {
    uv_timer_init(f->loop, &f->shards[i].timer);
    f->shards[i].timer.data = &f->shards[i];
  }
  uv_idle_init(f->loop, &f->idle);
  f->idle.data = f;
  f->open_handles += n + 1;
  return 0;
}

/* No transfer is left in any multi handle (abort removed them); cleanup
 * may still call our socket callbacks, and closes connections through the
 * closesocket callback. */
void uvf__loop_free(uvf_fetcher *f) {
  unsigned i;
  for (i = 0; i < f->nshards; i++) {
    curl_multi_cleanup(f->shards[i].multi);
    f->shards[i].multi = NULL;
  }
}

static void on_handle_close(uv_handle_t *h) {
  uvf__fetcher_handle_closed(h->data);
}

static void on_timer_close(uv_handle_t *h) {
  uvf__shard *sh = h->data;
  uvf__fetcher_handle_closed(sh->f);
}

void uvf__loop_close_handles(uvf_fetcher *f) {
  size_t i;
  for (i = 0; i < f->npolls; i++)
    if (f->polls[i])
      poll_close(f->polls[i]);
  for (i = 0; i < f->nshards; i++)
    uv_close((uv_handle_t *)&f->shards[i].timer, on_timer_close);
  uv_close((uv_handle_t *)&f->idle, on_handle_close);
  uv_close((uv_handle_t *)&f->retry_timer, on_handle_close);
  uv_close((uv_handle_t *)&f->polite_timer, on_handle_close);
}
