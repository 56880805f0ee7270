/* The bare mount point: while pmxcfsd is not running, /etc/pve is a plain
 * directory on the root file system, and whatever a tool writes there
 * lands on the disk, to vanish under the next mount without the cluster
 * ever seeing it. Made immutable (FS_IMMUTABLE_FL, chattr +i), the
 * directory refuses every write with EPERM at once; the flag is kept on
 * disk, so it holds across a crash of the daemon and a reboot, and a mount
 * over the directory is not affected by it. */
#ifndef PVECM_MOUNTGUARD_H
#define PVECM_MOUNTGUARD_H

#include <glib.h>
#include <stdbool.h>

typedef enum {
	MOUNTGUARD_SEALED,	/* immutable now (or already was) */
	MOUNTGUARD_UNSUPPORTED, /* the file system has no immutable flag */
	MOUNTGUARD_FAILED,	/* could not look or could not set it */
} mountguard_result_t;

/* Makes the directory dir immutable unless it is already. Entries found in
 * it (written while nothing was mounted, hidden by the mount from now on)
 * are counted into *hidden, when not NULL. err says why for UNSUPPORTED
 * and FAILED; neither is fatal to serving the mount. */
mountguard_result_t mountguard_seal(const char *dir, unsigned *hidden, GError **err);

/* Whether dir is immutable now. */
bool mountguard_is_sealed(const char *dir);

#endif
