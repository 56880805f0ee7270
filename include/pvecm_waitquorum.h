/* `pvecm wait-quorum [--timeout SECONDS]`: waits until this node is
 * quorate and /etc/pve is writable, for boot scripts and units that start
 * what needs the cluster (guests) only then. It may run before pmxcfsd or
 * corosync has started: it waits for them too. On a terminal it says what
 * it waits for every few seconds; otherwise it is silent until it gives
 * up. A node outside a cluster (pmxcfsd in local mode) is quorate. */
#ifndef PVECM_WAITQUORUM_H
#define PVECM_WAITQUORUM_H

#include "pvecm_cli.h"

/* How often pmxcfsd is asked, and how often a terminal hears of it. */
#define PVECM_WAITQUORUM_POLL_MS 200
#define PVECM_WAITQUORUM_PROGRESS_S 5

extern const pvecm_cli_opt_t pvecm_waitquorum_opts[];

/* 0 once quorate; PVECM_EXIT_FAILED with one line on stderr at the
 * timeout. */
int pvecm_waitquorum_run(const pvecm_cli_call_t *call);

#endif
