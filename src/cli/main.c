/* uvfetch: the command. Parses the command line, runs the fetch (run.h)
 * and turns its outcome into an exit status. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "feeds.h"
#include "run.h"

/* After a signal or a local error: how many input URLs never started,
 * those that got an index but waited (for their host, a rate, a lookup)
 * included. */
static void report_rest(const uvf_cli_run *c, const char *how) {
  uint64_t journaled =
      c->rest_counted && c->rest >= c->rest_journaled ? c->rest_journaled : 0;
  uint64_t fresh = (c->rest_counted ? c->rest - journaled : 0) + c->unstarted;

  if (!c->rest_counted && fresh == 0)
    uvf_cli_error("%s; remaining input not read", how);
  else if (!c->rest_counted)
    uvf_cli_error("%s; %" PRIu64 " input URL%s not started, and the "
                  "remaining input not read",
                  how, fresh, fresh == 1 ? "" : "s");
  else if (fresh == 0 && journaled == 0)
    uvf_cli_error("%s; every input URL was started", how);
  else if (journaled == 0)
    uvf_cli_error("%s; %" PRIu64 " input URL%s not started", how, fresh,
                  fresh == 1 ? "" : "s");
  else
    uvf_cli_error("%s; %" PRIu64 " input URL%s not started, and "
                  "%" PRIu64 " done by an earlier run not reported",
                  how, fresh, fresh == 1 ? "" : "s", journaled);
}

/* A worker's parent says it all: the summary and what was left. */
static int worker_status(const uvf_cli_run *c) {
  if (c->output_err == -EPIPE)
    return UVF_CLI_EXIT_PIPE;
  if (c->interrupted)
    return UVF_CLI_EXIT_INTERRUPTED;
  return c->local_err || c->input_failed ? UVF_CLI_EXIT_LOCAL : UVF_CLI_EXIT_OK;
}

static int finish(uvf_cli_run *c) {
  double secs = (double)(uv_hrtime() - c->t0) / 1e9;

  if (c->args.worker)
    return worker_status(c);
  if (c->output_err == -EPIPE)
    return UVF_CLI_EXIT_PIPE; /* quietly, as a shell tool killed by SIGPIPE */
  if (!c->args.quiet)
    uvf_cli_tally_print(stderr, &c->tally, secs);
  if (c->lost > 0)
    uvf_cli_error("%" PRIu64 " record%s not written: the report's reader "
                  "did not read within the grace period",
                  c->lost, c->lost == 1 ? " was" : "s were");
  if (c->interrupted) {
    report_rest(c, "interrupted");
    return UVF_CLI_EXIT_INTERRUPTED;
  }
  if (c->journal_refused)
    return UVF_CLI_EXIT_USAGE;
  if (c->local_err || c->input_failed) {
    report_rest(c, "stopped by the error above");
    return UVF_CLI_EXIT_LOCAL;
  }
  if (c->output_err != 0 || c->tally.failed > 0)
    return UVF_CLI_EXIT_FAILED;
  return UVF_CLI_EXIT_OK;
}

static void print_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  uvf_cli_error("  open handle: %s%s", uv_handle_type_name(h->type),
                uv_is_closing(h) ? " (closing)" : "");
}

/* A handle left open is a bug on our side or the library's: say so, and
 * leave its memory for LeakSanitizer to point at. */
static int close_loop(uvf_cli_run *c, int status) {
  int rc = uv_loop_close(&c->loop);

  if (rc == 0)
    return status;
  uvf_cli_error("internal error: event loop not closed: %s", uv_strerror(rc));
  uv_walk(&c->loop, print_handle, NULL);
  return status == UVF_CLI_EXIT_OK ? UVF_CLI_EXIT_FAILED : status;
}

/* What outlives the loop's handles. */
static void free_run(uvf_cli_run *c) {
  uvf_cli_procs_free(c);
  uvf_cli_idmap_free(c->where);
  uvf_cli_buf_free(&c->framed);
  uvf_cli_sink_free(c->sink);
  uvf_cli_reqs_free(c->reqs);
  uvf_cli_validators_close(c->validators);
  uvf_cli_notes_free(c->notes);
  uvf_cli_positions_free(c->positions);
  uvf_cli_buf_free(&c->line);
  uvf_cli_buf_free(&c->msg);
}

static int run(uvf_cli_run *c) {
  int status;

  c->t0 = uv_hrtime();
  if (uv_loop_init(&c->loop) != 0) {
    uvf_cli_error("cannot create the event loop");
    return UVF_CLI_EXIT_USAGE;
  }
  if (uvf_cli_run_setup(c) != 0) {
    uvf_cli_run_abandon(c);
    status = UVF_CLI_EXIT_USAGE;
  } else {
    uv_run(&c->loop, UV_RUN_DEFAULT);
    status = finish(c);
  }
  status = close_loop(c, status);
  free_run(c);
  return status;
}

/* A closed standard descriptor would be the next one open()ed or
 * socket()ed, and libuv asserts on closing descriptors 0 to 2: give each
 * closed one /dev/null. Returns 1 if standard output was closed, 0 if
 * not, or -EBADF if one cannot be given. */
static int fill_std_fds(void) {
  int fd, closed_stdout = 0;

  for (fd = 0; fd <= 2; fd++) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
      continue;
    closed_stdout |= fd == STDOUT_FILENO;
    if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
      return -EBADF;
  }
  return closed_stdout;
}

int main(int argc, char **argv) {
  uvf_cli_run c;
  int status, rc, closed_stdout = fill_std_fds();

  if (closed_stdout < 0) {
    uvf_cli_error("a standard descriptor is closed and /dev/null cannot "
                  "take its place");
    return UVF_CLI_EXIT_USAGE;
  }
  /* A reader that went away is a write error, not a silent death. */
  signal(SIGPIPE, SIG_IGN);
  if (argc > 1 && strcmp(argv[1], "feeds") == 0)
    return uvf_cli_feeds_main(argc - 1, argv + 1);
  if (argc > 1 && strcmp(argv[1], "merge") == 0)
    return uvf_cli_merge_main(argc - 1, argv + 1);
  memset(&c, 0, sizeof(c));
  rc = uvf_cli_args_parse(&c.args, argc, argv);
  if (rc == 0 && closed_stdout) {
    uvf_cli_error("standard output is closed: nowhere to write the report "
                  "(use > /dev/null to discard it)");
    rc = -EBADF;
  }
  uvf_cli_msgs_quiet(c.args.quiet);
  if (rc == 0 && c.args.worker)
    rc = uvf_cli_worker_prepare(&c.args);
  if (rc == 0)
    status = run(&c);
  else
    status = rc > 0 ? UVF_CLI_EXIT_OK : UVF_CLI_EXIT_USAGE;
  uvf_cli_args_free(&c.args);
  if (fflush(stdout) != 0 && status == UVF_CLI_EXIT_OK)
    status = UVF_CLI_EXIT_FAILED;
  return status;
}
