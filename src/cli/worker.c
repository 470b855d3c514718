/* A worker process of --procs (see procs.c), before its run: it must not
 * outlive its parent, which alone can write its records, and with --pin
 * it keeps to one core. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "run.h"

/* The slot-th of the cores this process may run on (cyclically). */
static int pin(unsigned slot) {
  cpu_set_t allowed, one;
  int n, i, seen = 0;

  if (sched_getaffinity(0, sizeof(allowed), &allowed) != 0)
    return -errno;
  n = CPU_COUNT(&allowed);
  if (n <= 0)
    return -EINVAL;
  for (i = 0; i < CPU_SETSIZE; i++)
    if (CPU_ISSET(i, &allowed) && seen++ == (int)(slot % (unsigned)n))
      break;
  CPU_ZERO(&one);
  CPU_SET(i, &one);
  return sched_setaffinity(0, sizeof(one), &one) == 0 ? 0 : -errno;
}

int uvf_cli_worker_prepare(const uvf_cli_args *a) {
  int rc;

  /* Killed when the parent dies, then checked: it may have died already. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != a->parent_pid) {
    uvf_cli_error("worker %u: the parent process is gone", a->worker_id);
    return -ESRCH;
  }
  if (a->pin && (rc = pin(a->worker_id)) != 0)
    uvf_cli_warn("worker %u: cannot pin to a core: %s", a->worker_id,
                 strerror(-rc));
  return 0;
}
