/* The quorum commands: `pvecm status`, `pvecm nodes` and `pvecm expected`.
 * Each asks pmxcfsd first: without it /etc/pve is an empty directory and
 * every node would look like it is not in a cluster. Then each checks that
 * the cluster's corosync.conf exists, then talks to corosync through its
 * libraries (pvecm_quorum.h). status and nodes print what
 * `corosync-quorumtool -siH` and `-l` print, or the same data as JSON.
 * Each returns the exit code; errors are one line on stderr. */
#ifndef PVECM_STATUS_H
#define PVECM_STATUS_H

#include "pvecm_cli.h"

/* The option status and nodes take: text (the default) or json. */
#define PVECM_OUTPUT_FORMAT "output-format"
extern const pvecm_cli_opt_t pvecm_status_opts[];

/* expected's argument: the new number of expected votes, at least 1. */
extern const pvecm_cli_arg_t pvecm_expected_args[];

int pvecm_status_run(const pvecm_cli_call_t *call);
int pvecm_nodes_run(const pvecm_cli_call_t *call);
int pvecm_expected_run(const pvecm_cli_call_t *call);

/* For other commands that ask corosync: the checks every command here
 * makes first (pmxcfsd answers, this node is in a cluster), printing one
 * line and returning the exit code when one fails; and the one line for a
 * failed request to corosync, returning its exit code. */
int pvecm_status_check_node(void);
int pvecm_status_corosync_failed(const GError *err, const char *what);

#endif
