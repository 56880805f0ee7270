/* Changing the cluster's /etc/pve/corosync.conf: the cluster-wide lock
 * that every change by pvecm holds while it reads, changes and writes the
 * file, and the write itself (config_version + 1, checked as corosync
 * will read it; pmxcfsd hands it on to corosync on every node). */
#ifndef PVECM_CONFLOCK_H
#define PVECM_CONFLOCK_H

#include "corosync_conf.h"

#include <glib.h>
#include <stdbool.h>

/* The lock under /etc/pve/priv/lock/, and how long to wait for another
 * holder. */
#define PVECM_CONFLOCK_NAME "file-corosync_conf"
#define PVECM_CONFLOCK_WAIT_S 10
/* A lock not renewed for this long is abandoned and may be taken over
 * (pmxcfsd's lock lease). */
#define PVECM_CONFLOCK_LEASE_S 120
/* As pmxcfsd serves files outside priv/. */
#define PVECM_CONFLOCK_CONF_MODE 0640

/* Takes the lock, waiting up to PVECM_CONFLOCK_WAIT_S; cmd names the
 * command in the line printed when an expired lock is taken over. The
 * lock's path, to pass to pvecm_conflock_release, or NULL with err set. */
char *pvecm_conflock_take(const char *cmd, GError **err);

/* Releases the lock taken (NULL: none) and frees path. */
void pvecm_conflock_release(const char *cmd, char *path);

/* config_version + 1, then the configuration checked as corosync will
 * read it and written atomically over path. */
bool pvecm_conflock_save_next(corosync_conf_t *conf, const char *path, GError **err);

#endif
