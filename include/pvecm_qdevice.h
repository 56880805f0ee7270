/* `pvecm qdevice setup ADDRESS` and `pvecm qdevice remove`: an external
 * vote for the cluster from corosync-qnetd on a host that is not a node.
 *
 * setup reaches the qnetd host over SSH (pvecm_ssh.h, the host-key and
 * login rules of `pvecm add`) and every other node over the cluster's own
 * SSH keys, makes the TLS certificates with corosync's certutil tools
 * (qnetd's CA on every node; a cluster certificate requested here, signed
 * on the qnetd host and imported everywhere), adds quorum.device to the
 * cluster's corosync.conf under its lock (pvecm_conflock.h) and starts
 * corosync-qdevice on every node through the service seam. A failure on
 * the way undoes what was done. remove takes the device out again. */
#ifndef PVECM_QDEVICE_H
#define PVECM_QDEVICE_H

#include "corosync_conf.h"
#include "pvecm_cli.h"

#include <glib.h>
#include <stdbool.h>

/* How long corosync on a node may take to load the new configuration
 * before corosync-qdevice starts there, and how long the device may take
 * to cast its first vote once started. */
#define PVECM_QDEVICE_LOAD_TIMEOUT_S 30
#define PVECM_QDEVICE_VOTE_TIMEOUT_S 60

/* The advice add, addnode and delnode give while a device is configured. */
#define PVECM_QDEVICE_NODES_ADVICE                                                                 \
	"a QDevice is configured - remove it first ('pvecm qdevice remove'), then add or "         \
	"remove nodes, and set it up again ('pvecm qdevice setup') once the node count is even"

extern const pvecm_cli_arg_t pvecm_qdevice_setup_args[];
extern const pvecm_cli_opt_t pvecm_qdevice_setup_opts[];

int pvecm_qdevice_setup_run(const pvecm_cli_call_t *call);
int pvecm_qdevice_remove_run(const pvecm_cli_call_t *call);

#endif
