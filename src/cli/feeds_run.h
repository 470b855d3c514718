/* uvfetch feeds run (feeds_run.c). */
#ifndef UVF_CLI_FEEDS_RUN_H
#define UVF_CLI_FEEDS_RUN_H

#include "cli.h"

/* Fetches the feeds that are due (every feed with a->feeds_all) and
 * stores their items in a->db_path. Returns an exit status. */
int uvf_cli_feeds_run(uvf_cli_args *a);

#endif
