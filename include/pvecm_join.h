/* `pvecm add HOST`: this node joins the cluster HOST belongs to. Over one
 * SSH session with HOST (pvecm_ssh.h) it checks the join API version,
 * has HOST add it to the cluster's corosync.conf (`pvecm addnode`), and
 * fetches the cluster's authkey and corosync.conf; then it backs up its
 * own /etc/pve database, starts corosync and pmxcfsd in cluster mode, and
 * takes over the cluster's /etc/pve. */
#ifndef PVECM_JOIN_H
#define PVECM_JOIN_H

#include "pvecm_cli.h"

/* How long the new node waits for its /etc/pve to be writable in the
 * cluster after starting corosync and pmxcfsd. */
#define PVECM_JOIN_QUORUM_TIMEOUT_S 60
/* Where the database of a node that joined is kept, beside the live one. */
#define PVECM_JOIN_BACKUP_DIR "backup"
/* The largest authkey a cluster node may send (corosync's own limit). */
#define PVECM_JOIN_AUTHKEY_MAX 4096

extern const pvecm_cli_arg_t pvecm_add_args[];
extern const pvecm_cli_opt_t pvecm_add_opts[];

int pvecm_add_run(const pvecm_cli_call_t *call);

#endif
