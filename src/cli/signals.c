/* SIGINT, SIGTERM and SIGHUP. The first one is handled on the loop, where
 * the run can be stopped in order: abort, write every record, flush. A
 * second one ends the process at once with status 130. SIGHUP (a closed
 * terminal, a dropped ssh session) is one more way of asking a run to
 * stop, not to die: its records still belong in the report and the
 * journal.
 *
 * Why not uv_signal: libuv only records a signal and handles it on the
 * next loop iteration. When the loop is stuck, for instance writing the
 * report to a pipe nobody reads (`uvfetch ... | less`, then Ctrl-C), it
 * would see neither the first signal nor the second, and only SIGKILL
 * would help. So a plain handler counts signals itself and wakes the loop
 * with uv_async_send(), which libuv documents as async-signal-safe. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const int watched[] = {SIGINT, SIGTERM, SIGHUP};
#define N_WATCHED (sizeof(watched) / sizeof(watched[0]))

struct uvf_cli_signals {
  uv_async_t async;
  void (*on_signal)(void *ud, int signum);
  void *ud;
};

/* Shared with the signal handler, hence globals: there is one process. */
static volatile sig_atomic_t caught;     /* the first signal, 0 if none */
static volatile sig_atomic_t async_open; /* uv_async_send() allowed */
static uv_async_t *volatile async_handle;

static void handler(int signum) {
  static const char quit[] = "\nuvfetch: quitting at once; records not "
                             "written yet are lost (a --journal keeps "
                             "them)\n";
  int saved = errno;

  if (caught != 0 || !async_open) {
    ssize_t w = write(STDERR_FILENO, quit, sizeof(quit) - 1);

    (void)w; /* nothing more to do if it fails */
    _exit(UVF_CLI_EXIT_INTERRUPTED);
  }
  caught = signum;
  uv_async_send(async_handle);
  errno = saved;
}

static void on_async(uv_async_t *h) {
  uvf_cli_signals *s = h->data;

  if (caught != 0)
    s->on_signal(s->ud, caught);
}

static int install(void) {
  struct sigaction sa;
  size_t i;

  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = handler;
  sigemptyset(&sa.sa_mask);
  for (i = 0; i < N_WATCHED; i++)
    sigaddset(&sa.sa_mask, watched[i]);
  /* stdio reports EINTR as a write error; restart instead. */
  sa.sa_flags = SA_RESTART;
  for (i = 0; i < N_WATCHED; i++)
    if (sigaction(watched[i], &sa, NULL) != 0)
      return -errno;
  return 0;
}

int uvf_cli_signals_start(uvf_cli_signals **out, uv_loop_t *loop,
                          void (*on_signal)(void *ud, int signum), void *ud) {
  uvf_cli_signals *s = calloc(1, sizeof(*s));
  int rc;

  if (!s)
    return -ENOMEM;
  s->on_signal = on_signal;
  s->ud = ud;
  rc = uv_async_init(loop, &s->async, on_async);
  if (rc != 0) {
    free(s);
    return rc;
  }
  s->async.data = s;
  /* Waiting for a signal must not keep the loop running. */
  uv_unref((uv_handle_t *)&s->async);
  async_handle = &s->async;
  async_open = 1;
  rc = install();
  if (rc != 0) {
    uvf_cli_signals_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

static void on_closed(uv_handle_t *h) { free(h->data); }

void uvf_cli_signals_close(uvf_cli_signals *s) {
  if (!s)
    return;
  /* From here a signal ends the process at once: the run is over but
   * the final flush of stdout may still wait on a pipe. */
  async_open = 0;
  async_handle = NULL;
  uv_close((uv_handle_t *)&s->async, on_closed);
}
