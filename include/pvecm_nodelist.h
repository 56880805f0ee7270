/* The cluster side of membership: `pvecm addnode` and `pvecm delnode`
 * change the nodelist of the cluster's /etc/pve/corosync.conf (with
 * config_version + 1, which pmxcfsd hands to corosync on every node).
 * Both act only on a quorate cluster node and hold the cluster-wide lock
 * on corosync.conf while they read, change and write it. */
#ifndef PVECM_NODELIST_H
#define PVECM_NODELIST_H

#include "pvecm_cli.h"

/* The version of the join exchange between `pvecm add` on a new node and
 * the `pvecm apiver` / `pvecm addnode --apiversion` it runs on a cluster
 * node. Bump it when that exchange changes. As the reference, each side
 * accepts a peer up to an age older (and any newer one): a cluster node
 * takes a joining node of version >= PVECM_API_VERSION -
 * PVECM_API_AGE_AS_CLUSTER, a joining node a cluster of version >=
 * PVECM_API_VERSION - PVECM_API_AGE_AS_JOINEE. */
#define PVECM_API_VERSION 1
#define PVECM_API_AGE_AS_CLUSTER 1
#define PVECM_API_AGE_AS_JOINEE 1

extern const pvecm_cli_arg_t pvecm_addnode_args[];
extern const pvecm_cli_opt_t pvecm_addnode_opts[];
extern const pvecm_cli_arg_t pvecm_delnode_args[];
extern const pvecm_cli_opt_t pvecm_delnode_opts[];

int pvecm_addnode_run(const pvecm_cli_call_t *call);
int pvecm_delnode_run(const pvecm_cli_call_t *call);

#endif
