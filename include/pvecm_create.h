/* `pvecm create CLUSTERNAME`: makes this node the first node of a new
 * cluster. Writes corosync's authkey and the cluster's corosync.conf,
 * starts corosync and moves pmxcfsd from local to cluster mode, keeping
 * every file of /etc/pve. */
#ifndef PVECM_CREATE_H
#define PVECM_CREATE_H

#include "pvecm_cli.h"

/* Cluster names follow node name rules, at most this long (corosync
 * derives its knet/crypto identifiers from it). */
#define PVECM_CLUSTER_NAME_MAX 15
/* Milliseconds corosync adds to the token timeout for every node past
 * two, as current releases of the reference write it. */
#define PVECM_TOKEN_COEFFICIENT_DEFAULT 125
/* How long create waits for the new cluster to be quorate. */
#define PVECM_CREATE_QUORUM_TIMEOUT_S 60

extern const pvecm_cli_arg_t pvecm_create_args[];
extern const pvecm_cli_opt_t pvecm_create_opts[];

int pvecm_create_run(const pvecm_cli_call_t *call);

#endif
