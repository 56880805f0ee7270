/* A node's directory in /etc/pve (nodes/NAME) as pvecm delnode sees it:
 * the guest configurations it still holds, and a copy of it kept on the
 * local disk before it goes. */
#ifndef PVECM_NODEDIR_H
#define PVECM_NODEDIR_H

#include <glib.h>

/* Where delnode --force keeps a removed node's directory: the backup
 * directory beside pmxcfsd's database. */
#define PVECM_NODEDIR_BACKUP_DIR "backup"

/* The guest configurations (VMID.conf) under nodes/NAME/qemu-server, lxc
 * and openvz, as paths relative to pve_dir, sorted; empty when none. */
GPtrArray *pvecm_nodedir_guests(const char *pve_dir, const char *name);

/* Copies nodes/NAME (directories and regular files, nothing followed) to
 * a new directory backup_root/delnode-NAME-SECONDS (0700, files 0600: it
 * holds the node's priv/) and returns its path; NULL with err set, and
 * nothing left behind, when it cannot. */
char *pvecm_nodedir_backup(const char *pve_dir, const char *name, const char *backup_root,
			   GError **err);

#endif
