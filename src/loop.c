/* The glue between libuv and libcurl's multi socket interface.
 *
 * libcurl says which sockets to watch (on_socket) and when to call it back
 * (on_curl_timer); libuv watches and calls curl_multi_socket_action(). The
 * rules of doc/libcurl-notes.md apply: no libcurl call from inside a
 * libcurl callback (R1), drain finished transfers after every action (R4),
 * and a timeout of 0 runs on the next loop iteration (an idle handle)
 * rather than as a 0 ms libuv timer, which 1.44 may fire again in the same
 * pass (R7). Each group (see internal.h) is one multi handle with its own
 * timer; the poll table and the idle handle belong to the engine. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

static uvf__poll *poll_get(const uvf__engine *e, curl_socket_t fd) {
  return fd >= 0 && (size_t)fd < e->npolls ? e->polls[fd] : NULL;
}

static int table_fit(uvf__engine *e, curl_socket_t fd) {
  size_t n = e->npolls ? e->npolls : 64;
  uvf__poll **p;
  if ((size_t)fd < e->npolls)
    return 0;
  while (n <= (size_t)fd)
    n *= 2;
  p = uvf__realloc(e->polls, n * sizeof(*p));
  if (!p)
    return UVF_ENOMEM;
  memset(p + e->npolls, 0, (n - e->npolls) * sizeof(*p));
  e->polls = p;
  e->npolls = n;
  return 0;
}

static void on_poll_close(uv_handle_t *h) {
  uvf__poll *p = h->data;
  uvf__engine *e = p->e;
  free(p);
  e->open_handles--;
  uvf__engine_handle_closed(e);
}

/* uv_close() while the fd is still open: libuv's EPOLL_CTL_DEL then acts on
 * our socket, never on a later one that reuses the number (U1). */
static void poll_close(uvf__poll *p) {
  p->e->polls[p->fd] = NULL;
  uv_close((uv_handle_t *)&p->h, on_poll_close);
}

static uvf__poll *poll_new(uvf__group *g, curl_socket_t fd, int conn) {
  uvf__engine *e = g->e;
  uvf__poll *p;
  if (fd < 0 || table_fit(e, fd))
    return NULL;
  if (!(p = uvf__calloc(1, sizeof(*p))))
    return NULL;
  if (uv_poll_init_socket(e->loop, &p->h, fd) != 0) { /* R9 */
    free(p);
    return NULL;
  }
  p->h.data = p;
  p->e = e;
  p->group = g;
  p->fd = fd;
  p->conn = conn;
  e->polls[fd] = p;
  e->open_handles++;
  return p;
}

/* Finished transfers, collected after every action (R4). */
static void collect_finished(uvf__group *g) {
  CURLMsg *m;
  int left;
  while (g->multi && (m = curl_multi_info_read(g->multi, &left))) {
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

static void on_timer(uv_timer_t *t);

/* How soon to run libcurl's timeouts again after an action it could not
 * finish (out of memory): without it a transfer could be left with
 * neither a socket nor a timer, and the loop would end without it. */
#define RETRY_ACTION_MS 10

static void action(uvf__group *g, curl_socket_t fd, int flags) {
  uvf__engine *e = g->e;
  int running = 0; /* libcurl writes it unchecked (R8) */
  CURLMcode mc;
  e->in_curl++;
  mc = curl_multi_socket_action(g->multi, fd, flags, &running);
  e->in_curl--;
  /* A socket libcurl no longer knows leaves nothing to do: transfers end
   * through their own results or timeouts. */
  if (mc != CURLM_OK && mc != CURLM_BAD_SOCKET)
    uv_timer_start(&g->timer, on_timer, RETRY_ACTION_MS, 0);
  collect_finished(g);
  uvf__engine_admit_due(e); /* slots just freed are taken at once */
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
     * so it can fail or close the connection (R8). ERR alone makes libcurl
     * say "select/poll returned error"; with what the socket was waiting
     * for, it tries that and reports the real cause (a reset, say). */
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
  action(p->group, p->fd, flags);
  if (status < 0 && poll_get(p->e, p->fd) == p && p->want && !p->active) {
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
  uvf__group *g = userp;
  uvf__poll *p = poll_get(g->e, fd);
  int ev = 0;
  (void)easy;
  (void)socketp;
  if (what == CURL_POLL_REMOVE) {
    if (p && p->conn && p->events == UV_READABLE) {
      /* A connection that was reading: an idle keep-alive connection, or
       * one about to close (then the closesocket callback follows). Its
       * watcher stays as it is, since the next request on it most likely
       * wants the same events back: a stop and a start would cost two
       * epoll_ctl calls per request (T6). */
      p->want = 0;
    } else if (p) {
      /* Anything else closes now (R6). libcurl 7.88 closes a connect
       * attempt it gives up on (a timeout during connect) without the
       * closesocket callback; a watcher left started on it makes libuv
       * abort on EBADF (U2). Also the resolver's socketpair and other
       * sockets we did not open. */
      poll_close(p);
    }
    return 0;
  }
  /* A failure here leaves the transfer to its timeout; returning -1 would
   * make libcurl fail every transfer of the multi handle (R9). */
  if (!p && !(p = poll_new(g, fd, 0)))
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

static void on_timer(uv_timer_t *t) {
  uvf__group *g = t->data;
  action(g, CURL_SOCKET_TIMEOUT, 0);
}

/* Runs the groups whose timeout of 0 came due; a group that asks again
 * while this runs waits for the next loop iteration. */
void uvf__loop_run_due(uvf__engine *e) {
  uvf__link due, *l;
  uvf__list_init(&due);
  uvf__list_splice(&due, &e->due);
  while (e->state == UVF__ENGINE_RUNNING && (l = uvf__list_pop(&due)))
    action(UVF__CONTAINER(l, uvf__group, due_link), CURL_SOCKET_TIMEOUT, 0);
  uvf__list_splice(&e->due, &due); /* what closing left */
}

/* CURLMOPT_TIMERFUNCTION: every value but -1 replaces the previous timer
 * (R2); never calls libcurl back from here. */
static int on_curl_timer(CURLM *multi, long ms, void *userp) {
  uvf__group *g = userp;
  uvf__engine *e = g->e;
  (void)multi;
  uv_timer_stop(&g->timer);
  if (ms != 0 && uvf__linked(&g->due_link))
    uvf__list_remove(&g->due_link);
  if (ms == 0) {
    if (!uvf__linked(&g->due_link))
      uvf__list_push(&e->due, &g->due_link);
    uvf__engine_kick(e);
  } else if (ms > 0) {
    uv_timer_start(&g->timer, on_timer, (uint64_t)ms, 0);
  }
  return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION, called with the transfer: the name is
 * resolved once it connects. */
curl_socket_t uvf__open_socket(void *clientp, curlsocktype purpose,
                               struct curl_sockaddr *a) {
  uvf__xfer *x = clientp;
  uvf__engine *e = x->e;
  uvf__poll *stale;
  curl_socket_t fd;
  uvf__lookup_over(x);
  fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
  if (fd < 0)
    return CURL_SOCKET_BAD;
  if (purpose == CURLSOCKTYPE_IPCXN) {
    e->connects++;
    x->b->st.connects++;
  }
  /* A handle left from a socket closed behind our back (none expected)
   * would make uv_poll_init fail with EEXIST (R9). */
  if ((stale = poll_get(e, fd)))
    poll_close(stale);
  if (!poll_new(x->group, fd, 1)) {
    close(fd);
    return CURL_SOCKET_BAD;
  }
  return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION, with the engine: libcurl keeps it from the
 * transfer that opened the connection. Connections end politely (FIN),
 * also at teardown: a reset would show up at the server as an error. */
int uvf__close_socket(void *clientp, curl_socket_t fd) {
  uvf__engine *e = clientp;
  uvf__poll *p = poll_get(e, fd);
  if (p)
    poll_close(p);
  return close(fd);
}

/* Idle connections a group keeps past its peak of transfers in flight.
 * libcurl 7.88 counts the connections in use toward CURLMOPT_MAXCONNECTS
 * too, and closes the oldest idle one each time a connection comes back
 * to a full cache (C6); so the limit is the peak of the last PEAK_HOLD_MS
 * plus this, and a call that comes after a busier one finds its
 * connections still open. The idle timeout closes what stays unused. */
#define GROUP_MAX_IDLE (2 * UVF__LANE_SERIAL)
#define PEAK_HOLD_MS 60000

static void group_fit(uvf__group *g) {
  uint64_t now = uv_now(g->e->loop);
  long want;
  if (g->transfers >= g->peak || now - g->peak_at > PEAK_HOLD_MS) {
    g->peak = g->transfers;
    g->peak_at = now;
  }
  want = (long)g->peak + GROUP_MAX_IDLE;
  if (want != g->max_conns &&
      curl_multi_setopt(g->multi, CURLMOPT_MAXCONNECTS, want) == CURLM_OK)
    g->max_conns = want;
}

/* Not from inside libcurl: setopt refuses there, as add_handle does. */
void uvf__group_join(uvf__group *g) {
  g->transfers++;
  group_fit(g);
}

void uvf__group_leave(uvf__group *g) {
  g->transfers--;
  group_fit(g);
}

static int multi_setup(uvf__group *g) {
  CURLM *m = g->multi;
  CURLMcode mc = CURLM_OK;
  mc |= curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_socket);
  mc |= curl_multi_setopt(m, CURLMOPT_SOCKETDATA, g);
  mc |= curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer);
  mc |= curl_multi_setopt(m, CURLMOPT_TIMERDATA, g);
  mc |= curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  mc |= curl_multi_setopt(m, CURLMOPT_MAX_CONCURRENT_STREAMS,
                          (long)g->e->max_streams);
  return mc == CURLM_OK ? 0 : UVF_EBACKEND;
}

/* The multi handle first, then the timer, whose init cannot fail: an
 * error leaves no handle on the loop. */
int uvf__group_new(uvf__engine *e, unsigned index, uvf__group **out) {
  uvf__group *g = uvf__calloc(1, sizeof(*g));
  if (!g)
    return UVF_ENOMEM;
  g->e = e;
  g->index = index;
  uvf__list_init(&g->due_link);
  if (!(g->multi = curl_multi_init()) || multi_setup(g)) {
    curl_multi_cleanup(g->multi);
    free(g);
    return UVF_ENOMEM;
  }
  /* CURLMOPT_MAXCONNECTS set, not libcurl's default, which follows the
   * handles added and evicts warm connections when concurrency dips (C5). */
  group_fit(g);
  uv_timer_init(e->loop, &g->timer);
  g->timer.data = g;
  e->open_handles++;
  *out = g;
  return 0;
}

static void on_timer_close(uv_handle_t *h) {
  uvf__group *g = h->data;
  uvf__engine *e = g->e;
  e->open_handles--;
  uvf__engine_handle_closed(e);
}

/* After curl_multi_cleanup(), which may still call the socket callback. */
void uvf__group_close(uvf__group *g) {
  if (uvf__linked(&g->due_link))
    uvf__list_remove(&g->due_link);
  uv_close((uv_handle_t *)&g->timer, on_timer_close);
}

void uvf__loop_close_polls(uvf__engine *e) {
  size_t i;
  for (i = 0; i < e->npolls; i++)
    if (e->polls[i])
      poll_close(e->polls[i]);
}
