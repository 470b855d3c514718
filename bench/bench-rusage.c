/* bench-rusage FILE CMD [ARG...]: runs CMD and writes to FILE one line,
 *   "<wall s> <user s> <sys s> <max RSS KiB> <exit code>"
 * the figures of GNU time's "%e %U %S %M" at microsecond rather than 10 ms
 * resolution (a 200 MiB bulk run takes a fraction of a second). CPU and RSS
 * come from wait4(), so they cover CMD and the descendants it waited for;
 * RSS is the largest single process, as with GNU time.
 *
 * bench/run starts every design through this small program rather than
 * directly because Linux carries a process's RSS high-water mark across
 * exec(): a client forked from the Python runner would report the runner's
 * RSS as its own peak. Forked from this program it carries a few hundred
 * KiB. Exits with CMD's exit code (128 + signal if it was killed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval tv) {
  return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  struct timespec t0, t1;
  struct rusage ru;
  int status, code;
  pid_t pid;
  FILE *out;

  if (argc < 3) {
    fprintf(stderr, "usage: bench-rusage FILE CMD [ARG...]\n");
    return 2;
  }
  out = fopen(argv[1], "w");
  if (out == NULL) {
    fprintf(stderr, "bench-rusage: %s: %s\n", argv[1], strerror(errno));
    return 2;
  }
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid = fork();
  if (pid < 0) {
    perror("bench-rusage: fork");
    return 2;
  }
  if (pid == 0) {
    fclose(out);
    execvp(argv[2], argv + 2);
    fprintf(stderr, "bench-rusage: %s: %s\n", argv[2], strerror(errno));
    _exit(127);
  }
  while (wait4(pid, &status, 0, &ru) < 0) {
    if (errno != EINTR) {
      perror("bench-rusage: wait4");
      return 2;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  fprintf(out, "%.6f %.6f %.6f %ld %d\n",
          (double)(t1.tv_sec - t0.tv_sec) +
              (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
          seconds(ru.ru_utime), seconds(ru.ru_stime), ru.ru_maxrss, code);
  fclose(out);
  return code;
}
