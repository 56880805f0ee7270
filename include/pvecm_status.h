/* `pvecm status`: this node's view of the cluster. */
#ifndef PVECM_STATUS_H
#define PVECM_STATUS_H

#include "pvecm_cli.h"

/* Asks pmxcfsd first: without it /etc/pve is an empty directory and every
 * node would look like it is not in a cluster. Then checks that the
 * cluster's corosync.conf exists, then reads quorum from corosync. Returns
 * the exit code; errors are one line on stderr. */
int pvecm_status_run(const pvecm_cli_call_t *call);

#endif
