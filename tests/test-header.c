/* Only the public header, compiled alone: as C99 with -pedantic-errors,
 * as C++, and by meson with the project's flags. Touches every type. */
#include "uvfetch.h"

static int use_everything(void) {
  uvf_options o;
  uvf_callbacks cb;
  uvf_stats st;
  uvf_attempt a;
  const uvf_result *r = 0;
  uvf_results *rs = 0;
  uvf_fetcher *f = 0;
  uvf_client *c = 0;
  uvf_call *call = 0;
  enum uvf_http_version v = UVF_HTTP_AUTO;
  uvf_options_init(&o);
  uvf_callbacks_init(&cb);
  uvf_get_stats(f, &st);
  a.error = UVF_OK;
  (void)a;
  (void)r;
  (void)rs;
  (void)c;
  (void)call;
  (void)v;
  return o.max_in_flight > 0 && cb.size > 0 && UVF_VERSION_HEX >= 0x000200 &&
                 uvf_version()[0]
             ? 0
             : 1;
}

int main(void) { return use_everything(); }
