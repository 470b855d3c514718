/* Only the public header: it must bring everything it needs. */
#include "uvfetch.h"

int main(void) {
  uvf_options o;
  uvf_options_init(&o);
  return o.max_in_flight > 0 && uvf_version()[0] ? 0 : 1;
}
