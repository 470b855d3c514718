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

void ts_start(ts_server *s, const char *bind) { ts_start_args(s, bind, NULL); }

#define MAX_ARGS 32

static void exec_server(const char *exe, const char *bind,
                        const char *const *args) {
  const char *argv[MAX_ARGS + 8];
  int n = 0;
  argv[n++] = exe;
  argv[n++] = "--bind";
  argv[n++] = bind ? bind : "127.0.0.1";
  argv[n++] = "--max-seconds";
  argv[n++] = "300";
  argv[n++] = "--quiet";
  while (args && *args && n < MAX_ARGS)
    argv[n++] = *args++;
  argv[n] = NULL;
  execv(exe, (char *const *)argv);
  _exit(127);
}

void ts_start_args(ts_server *s, const char *bind, const char *const *args) {
  const char *exe = getenv("UVF_TESTSERVER");
  int pfd[2], tls = 0;
  char line[64] = {0};
  const char *const *a;
  FILE *in;
  if (!exe)
    FAIL("UVF_TESTSERVER is not set");
  for (a = args; a && *a; a++)
    tls |= strcmp(*a, "--tls") == 0;
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
    exec_server(exe, bind, args);
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
  if (tls && (!fgets(line, sizeof(line), in) ||
              sscanf(line, "TLSPORT %d", &s->tls_port) != 1))
    FAIL("test server did not say its TLS port (got \"%s\")", line);
  fclose(in);
}

const char *ts_certs(void) {
  static char dir[4096];
  const char *make = getenv("UVF_MAKE_CERTS"), *d = getenv("UVF_CERTS");
  char cmd[8192];
  if (dir[0])
    return dir;
  if (!make || !d)
    FAIL("UVF_MAKE_CERTS and UVF_CERTS must be set");
  snprintf(cmd, sizeof(cmd), "'%s' '%s' >/dev/null", make, d);
  if (system(cmd) != 0)
    FAIL("%s failed", cmd);
  snprintf(dir, sizeof(dir), "%s", d);
  return dir;
}

const char *ts_cert_arg(const char *name) {
  static char arg[8192];
  const char *d = ts_certs();
  snprintf(arg, sizeof(arg), "%s/%s.pem,%s/%s.key", d, name, d, name);
  return arg;
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

long ts_stat(const ts_server *s, const char *name) {
  char *json = ts_get(s, "/stats");
  long v = json_int(json, name);
  free(json);
  return v;
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

uvf_callbacks cbs(int (*next)(void *, const char **, uint64_t *),
                  void (*on_start)(void *, uint64_t, uint64_t),
                  int (*on_body)(void *, uint64_t, const char *, size_t),
                  void (*on_result)(void *, const uvf_result *),
                  void (*on_done)(void *)) {
  uvf_callbacks cb;
  uvf_callbacks_init(&cb);
  cb.next = next;
  cb.on_start = on_start;
  cb.on_body = on_body;
  cb.on_result = on_result;
  cb.on_done = on_done;
  return cb;
}

typedef struct fetched {
  uvf_results *rs;
  uvf_result r[];
} fetched;

uvf_result *fetch_urls(char **urls, size_t n, const uvf_options *o,
                       long deadline_ms) {
  uvf_results *rs = NULL;
  fetched *f;
  size_t i;
  ASSERT_EQ(uvf_fetch_all((const char *const *)urls, n, o, deadline_ms, &rs),
            UVF_OK);
  ASSERT_EQ(uvf_results_count(rs), n);
  f = malloc(sizeof(*f) + (n ? n : 1) * sizeof(uvf_result));
  ASSERT(f);
  f->rs = rs;
  for (i = 0; i < n; i++)
    f->r[i] = *uvf_results_get(rs, i);
  return f->r;
}

void results_done(uvf_result *r) {
  fetched *f = (fetched *)((char *)r - offsetof(fetched, r));
  uvf_results_free(&f->rs);
  free(f);
}
