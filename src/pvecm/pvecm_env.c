#include "pvecm_env.h"

#include <glib.h>

/* An empty variable counts as unset, so `VAR= pvecm ...` cannot point pvecm
 * at the current directory by accident. */
static const char *env_or(const char *name, const char *fallback)
{
	const char *v = g_getenv(name);

	return v && *v ? v : fallback;
}

const char *pvecm_env_socket(void)
{
	return env_or(PVECM_ENV_SOCKET, PVECM_DEFAULT_SOCKET);
}

const char *pvecm_env_pve_dir(void)
{
	return env_or(PVECM_ENV_PVE_DIR, PVECM_DEFAULT_PVE_DIR);
}

const char *pvecm_env_database(void)
{
	return env_or(PVECM_ENV_DATABASE, PVECM_DEFAULT_DATABASE);
}

const char *pvecm_env_service_cmd(void)
{
	return env_or(PVECM_ENV_SERVICE_CMD, PVECM_DEFAULT_SERVICE_CMD);
}

const char *pvecm_env_ssh_dir(void)
{
	return env_or(PVECM_ENV_SSH_DIR, PVECM_DEFAULT_SSH_DIR);
}

const char *pvecm_env_root_ssh_dir(void)
{
	return env_or(PVECM_ENV_ROOT_SSH_DIR, PVECM_DEFAULT_ROOT_SSH_DIR);
}

char *pvecm_env_cluster_conf(void)
{
	return g_build_filename(pvecm_env_pve_dir(), "corosync.conf", NULL);
}

char *pvecm_env_corosync_conf(void)
{
	return g_build_filename(env_or(PVECM_ENV_COROSYNC_DIR, PVECM_DEFAULT_COROSYNC_DIR),
				"corosync.conf", NULL);
}

char *pvecm_env_authkey(void)
{
	return g_build_filename(env_or(PVECM_ENV_COROSYNC_DIR, PVECM_DEFAULT_COROSYNC_DIR),
				"authkey", NULL);
}
