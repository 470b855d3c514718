/* libFuzzer target: the test server's request parser. It must never read
 * outside the buffer, and a request it accepts must lie inside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size ? size : 1); /* exact size: ASan sees overreads */
  size_t scan = 0;
  struct ts_req req;
  long n;
  memcpy(buf, data, size);
  memset(&req, 0, sizeof(req));
  n = ts_http_parse(buf, size, &scan, &req);
  if (n > 0) {
    if ((size_t)n > size || !req.target || req.target < buf ||
        req.target + req.target_len > buf + size)
      abort();
    if (req.headers < buf || req.headers + req.headers_len > buf + size)
      abort();
  }
  if (scan > size)
    abort();
  free(buf);
  return 0;
}
