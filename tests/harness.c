#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A failing test exits at once: the servers it started must not outlive it
 * (they would also hold the test's output pipe open). */
#define MAX_SERVERS 4
static pid_t running_servers[MAX_SERVERS];
static int atexit_set;

static void stop_running_servers(void) {
  int i;
  for (i = 0; i < MAX_SERVERS; i++)
    if (running_servers[i] > 0)
      kill(running_servers[i], SIGTERM);
}

static void note_server(pid_t old, pid_t now) {
  int i;
  for (i = 0; i < MAX_SERVERS; i++)
    if (running_servers[i] == old) {
      running_servers[i] = now;
      return;
    }
  if (now > 0)
    FAIL("more than %d test servers at once", MAX_SERVERS);
}

void ts_start(ts_server *s, const char *bind) {
  const char *exe = getenv("UVF_TESTSERVER");
  int pfd[2];
  char line[64] = {0};
  FILE *in;
  if (!exe)
    FAIL("UVF_TESTSERVER is not set");
  if (pipe(pfd))
    FAIL("pipe");
  s->pid = fork();
  if (s->pid == 0) {
    /* A test killed on a timeout runs no atexit handler: the server
     * goes with it all the same. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(pfd[1], 1);
    close(pfd[0]);
    close(pfd[1]);
    execl(exe, exe, "--bind", bind ? bind : "127.0.0.1", "--max-seconds", "300",
          "--quiet", (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  if (!atexit_set)
    atexit(stop_running_servers);
  atexit_set = 1;
  note_server(0, s->pid);
  in = fdopen(pfd[0], "r");
  if (!in || !fgets(line, sizeof(line), in) ||
      sscanf(line, "PORT %d", &s->port) != 1)
    FAIL("test server did not say its port (got \"%s\")", line);
  fclose(in);
}

void ts_stop(ts_server *s) {
  int st;
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  waitpid(s->pid, &st, 0);
  note_server(s->pid, 0);
  s->pid = 0;
}

char *ts_get(const ts_server *s, const char *path) {
  struct sockaddr_in a;
  char req[512], *buf = malloc(65536), *body;
  size_t len = 0;
  ssize_t r;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)s->port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (!buf || fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
    FAIL("cannot reach the test server");
  snprintf(req, sizeof(req),
           "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
  if (write(fd, req, strlen(req)) < 0)
    FAIL("write");
  while (len < 65535 && (r = read(fd, buf + len, 65535 - len)) > 0)
    len += (size_t)r;
  buf[len] = '\0';
  close(fd);
  body = strstr(buf, "\r\n\r\n");
  if (!body)
    FAIL("bad reply from test server: %s", buf);
  memmove(buf, body + 4, strlen(body + 4) + 1);
  return buf;
}

long json_int(const char *json, const char *name) {
  char key[128];
  const char *p;
  snprintf(key, sizeof(key), "\"%s\":", name);
  p = strstr(json, key);
  if (!p)
    FAIL("no field %s in %s", name, json);
  return strtol(p + strlen(key), NULL, 10);
}

int test_main(int argc, char **argv, const test_entry *tests, size_t n) {
  size_t i;
  signal(SIGPIPE, SIG_IGN);
  if (argc != 2) {
    for (i = 0; i < n; i++)
      printf("%s\n", tests[i].name);
    return 0;
  }
  for (i = 0; i < n; i++)
    if (strcmp(tests[i].name, argv[1]) == 0) {
      tests[i].fn();
      return 0;
    }
  fprintf(stderr, "no test named %s\n", argv[1]);
  return 2;
}

void free_urls(char **u, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    free(u[i]);
  free(u);
}
