/* libFuzzer target: the journal loader (--journal). Whatever the file
 * holds, opening it must either refuse it or load the intact records and
 * cut off the rest; then a record appended to it must be found by the next
 * open, with nothing more to cut off. ASan/UBSan catch the rest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Damaged journals are the point: their messages go nowhere. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  uvf_cli_msgs_to(fopen("/dev/null", "w"));
  return 0;
}

/* Asks about positions 0..limit and checks what comes back. */
static size_t walk(uvf_cli_journal *j, uint64_t limit) {
  uvf_cli_journaled rec;
  size_t done = 0;
  uint64_t p;

  for (p = 0; p <= limit; p++) {
    int rc = uvf_cli_journal_lookup(j, p, 0, &rec);

    if (rc == 1) {
      if (rec.len == 0 || rec.line[0] != '{')
        abort();
      done++;
    }
  }
  return done;
}

static uvf_cli_journal *open_at(const char *path) {
  uvf_cli_journal *j = NULL;

  return uvf_cli_journal_open(&j, path) == 0 ? j : NULL;
}

static void no_news(void *ud) { (void)ud; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uv_loop_t loop;
  uvf_cli_journal *j;
  uvf_cli_journaled rec = {"{\"index\":0}", 11, 1, UVF_OK, 3};
  size_t before;
  off_t file_size;
  char path[64];
  int fd = memfd_create("fuzz-journal", 0);

  if (fd < 0 || write(fd, data, size) != (ssize_t)size)
    abort();
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  uv_loop_init(&loop);
  if ((j = open_at(path))) {
    before = uvf_cli_journal_count(j);
    walk(j, 64);
    if (uvf_cli_journal_start(j, &loop, no_news, NULL) != 0)
      abort();
    /* A position no record has: the lookups ended past every record. */
    uvf_cli_journal_add(j, UINT64_C(1) << 40, 7, &rec);
    if (uvf_cli_journal_close(j) != 0)
      abort();
    uv_run(&loop, UV_RUN_DEFAULT);
    file_size = lseek(fd, 0, SEEK_END);
    if (!(j = open_at(path)) ||
        lseek(fd, 0, SEEK_END) != file_size || /* nothing cut off */
        uvf_cli_journal_count(j) != before + 1 ||
        uvf_cli_journal_lookup(j, UINT64_C(1) << 40, 7, NULL) != 1)
      abort();
    uvf_cli_journal_close(j);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  uv_loop_close(&loop);
  close(fd);
  return 0;
}
