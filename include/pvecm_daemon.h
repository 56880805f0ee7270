/* pvecm asks the local pmxcfsd how it is: its node name, its mode (local
 * or cluster) and whether /etc/pve is writable. */
#ifndef PVECM_DAEMON_H
#define PVECM_DAEMON_H

#include <glib.h>
#include <stdbool.h>

typedef struct {
	char *nodename;
	bool cluster;	/* cluster mode; false in local mode */
	bool quorate;	/* /etc/pve is writable now */
	guint32 nodeid; /* corosync's node id; 0 when unknown or local */
} pvecm_daemon_status_t;

void pvecm_daemon_status_clear(pvecm_daemon_status_t *st);

/* Fills st from pmxcfsd's control socket. On failure returns the exit code
 * for it (PVECM_EXIT_NOT_READY when pmxcfsd does not run) and, when
 * report is set, prints one line on stderr that says what to do;
 * PVECM_EXIT_OK otherwise. */
int pvecm_daemon_status(pvecm_daemon_status_t *st, bool report);

/* Waits until pmxcfsd serves /etc/pve in cluster mode and writable: the
 * cluster is quorate and its file system works. False after timeout_s. */
bool pvecm_daemon_wait_cluster(unsigned timeout_s);

#endif
