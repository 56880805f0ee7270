#include "pvecm_conflock.h"

#include "pvecm_env.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <utime.h>

#define LOCK_POLL_US 100000

/* The lock is a directory that pmxcfsd lets only one node create. One not
 * renewed within the lease is released first, as pmxcfsd allows. */
char *pvecm_conflock_take(const char *cmd, GError **err)
{
	g_autofree char *path =
	    g_build_filename(pvecm_env_pve_dir(), "priv", "lock", PVECM_CONFLOCK_NAME, NULL);
	gint64 end = g_get_monotonic_time() + PVECM_CONFLOCK_WAIT_S * G_USEC_PER_SEC;
	struct stat sb;

	for (;;) {
		if (mkdir(path, 0700) == 0)
			return g_steal_pointer(&path);
		if (errno != EEXIST) {
			g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno),
				    "cannot take the lock %s: %s", path, g_strerror(errno));
			return NULL;
		}
		if (stat(path, &sb) == 0 && sb.st_mtime + PVECM_CONFLOCK_LEASE_S < time(NULL)) {
			fprintf(stderr, "pvecm %s: taking over the expired lock %s\n", cmd, path);
			utime(path, &(struct utimbuf){0, 0});
			continue;
		}
		if (g_get_monotonic_time() > end) {
			g_set_error(err, G_IO_ERROR, G_IO_ERROR_BUSY,
				    "cannot take the lock %s: another node changes corosync.conf "
				    "now - try again in a moment",
				    path);
			return NULL;
		}
		g_usleep(LOCK_POLL_US);
	}
}

void pvecm_conflock_release(const char *cmd, char *path)
{
	if (!path)
		return;
	/* pmxcfsd takes a lock's mtime 0 as its release. */
	if (utime(path, &(struct utimbuf){0, 0}) < 0)
		fprintf(stderr, "pvecm %s: cannot release the lock %s: %s\n", cmd, path,
			g_strerror(errno));
	g_free(path);
}

bool pvecm_conflock_save_next(corosync_conf_t *conf, const char *path, GError **err)
{
	g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, corosync_conf_version(conf) + 1);

	corosync_conf_set(conf, "totem.config_version", v);
	return corosync_conf_validate(conf, path, err) &&
	       corosync_conf_save(conf, path, PVECM_CONFLOCK_CONF_MODE, err);
}
