/* libFuzzer target: the CLI's URL reader and the JSON escaper it feeds.
 * Whatever the input bytes, the reader must hand out lines that are
 * NUL-terminated, at most UVF_CLI_MAX_LINE long, free of surrounding
 * blanks, with strictly growing line numbers; and the escaper must write
 * JSON strings with no raw control byte. ASan/UBSan catch the rest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The reader reports read errors; none are expected here. */
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  uvf_cli_msgs_to(fopen("/dev/null", "w"));
  return 0;
}

static void check_json(const char *s, size_t n) {
  uvf_cli_buf b = {0};
  size_t i;
  uvf_cli_json_str(&b, s);
  if (b.oom)
    abort();
  if (b.len < 2 || b.data[0] != '"' || b.data[b.len - 1] != '"')
    abort();
  for (i = 0; i < b.len; i++)
    if ((unsigned char)b.data[i] < 0x20)
      abort();
  (void)n;
  uvf_cli_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uv_loop_t loop;
  uvf_cli_input *in = NULL;
  const char *url;
  uint64_t tag, last = 0;
  char path[64];
  int fd = memfd_create("fuzz-input", 0);
  if (fd < 0 || write(fd, data, size) != (ssize_t)size)
    abort();
  lseek(fd, 0, SEEK_SET);
  snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  uv_loop_init(&loop);
  if (uvf_cli_input_open(&in, &loop, path, NULL, 0) != 0)
    abort();
  while (uvf_cli_input_next(in, &url, &tag) == 1) {
    size_t len = strlen(url);
    uint64_t line = UVF_CLI_TAG_NUMBER(tag);
    if (len > UVF_CLI_MAX_LINE || line <= last)
      abort();
    if (len && (url[0] == ' ' || url[len - 1] == ' '))
      abort();
    last = line;
    check_json(url, len);
  }
  uvf_cli_input_close(in);
  uv_run(&loop, UV_RUN_DEFAULT);
  if (uv_loop_close(&loop) != 0)
    abort();
  close(fd);
  {
    char *copy = malloc(size + 1); /* the raw bytes through the escaper */
    memcpy(copy, data, size);
    copy[size] = '\0';
    check_json(copy, size);
    free(copy);
  }
  return 0;
}
