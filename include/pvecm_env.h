/* Where pvecm finds things. Every default mirrors the reference and can be
 * overridden from the environment, for packaging and for tests that run
 * several nodes on one machine. */
#ifndef PVECM_ENV_H
#define PVECM_ENV_H

#define PVECM_ENV_SOCKET "PVECM_SOCKET"
#define PVECM_DEFAULT_SOCKET "/run/pmxcfsd/pmxcfsd.sock"

#define PVECM_ENV_PVE_DIR "PVECM_PVE_DIR"
#define PVECM_DEFAULT_PVE_DIR "/etc/pve"

/* corosync's own directory: corosync.conf and authkey. */
#define PVECM_ENV_COROSYNC_DIR "PVECM_COROSYNC_DIR"
#define PVECM_DEFAULT_COROSYNC_DIR "/etc/corosync"

/* The SSH server's directory (host keys, ssh_known_hosts) and root's. */
#define PVECM_ENV_SSH_DIR "PVECM_SSH_DIR"
#define PVECM_DEFAULT_SSH_DIR "/etc/ssh"
#define PVECM_ENV_ROOT_SSH_DIR "PVECM_ROOT_SSH_DIR"
#define PVECM_DEFAULT_ROOT_SSH_DIR "/root/.ssh"

/* The service seam of DESIGN.md: called as `CMD ACTION UNIT`. */
#define PVECM_ENV_SERVICE_CMD "PVECM_SERVICE_CMD"
#define PVECM_DEFAULT_SERVICE_CMD "systemctl"

/* pmxcfsd's database: `pvecm add` backs it up before the node takes
 * over the cluster's tree. */
#define PVECM_ENV_DATABASE "PVECM_DATABASE"
#define PVECM_DEFAULT_DATABASE "/var/lib/pve-cluster/config.db"

/* pmxcfsd's control socket. */
const char *pvecm_env_socket(void);

/* The cluster file system's mount point. */
const char *pvecm_env_pve_dir(void);

/* pmxcfsd's database file. */
const char *pvecm_env_database(void);

/* The program that starts and stops services. */
const char *pvecm_env_service_cmd(void);

const char *pvecm_env_ssh_dir(void);
const char *pvecm_env_root_ssh_dir(void);

/* corosync.conf and authkey in corosync's directory; free with g_free. */
char *pvecm_env_corosync_conf(void);
char *pvecm_env_authkey(void);

/* The cluster-wide corosync.conf inside pvecm_env_pve_dir(); free with g_free. */
char *pvecm_env_cluster_conf(void);

#endif
