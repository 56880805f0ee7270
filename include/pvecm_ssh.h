/* pvecm's SSH client (libssh): how `pvecm add` reaches a cluster node to
 * run `pvecm apiver` and `pvecm addnode` there and to fetch the cluster's
 * key and configuration. The server's host key is verified before any
 * secret is sent; then root logs in with a key or agent, or a password. */
#ifndef PVECM_SSH_H
#define PVECM_SSH_H

#include <glib.h>
#include <stdbool.h>

typedef struct pvecm_ssh pvecm_ssh_t;

/* The longest output a remote command may return (the cluster's
 * corosync.conf and authkey are far smaller): a bound, so that a
 * misbehaving server cannot make pvecm allocate without end. */
#define PVECM_SSH_MAX_OUTPUT (4u << 20)
/* How long connecting and each remote command may take. */
#define PVECM_SSH_TIMEOUT_S 60

/* Connects to root@host and verifies its host key: with fingerprint set
 * ("SHA256:..." as `ssh-keygen -lf` prints it, the prefix optional) the
 * key must have it; otherwise it must be in root's known hosts, or, on a
 * terminal, be shown and confirmed (and is then remembered). A mismatch
 * fails before anything is sent. */
pvecm_ssh_t *pvecm_ssh_connect(const char *host, const char *fingerprint, GError **err);

/* The server's host key fingerprint, "SHA256:<base64>". */
const char *pvecm_ssh_fingerprint(const pvecm_ssh_t *ssh);

/* Logs in as root: public keys (agent or root's keys) first; then the
 * password, asked on the terminal, or read as one line from standard
 * input when that is not a terminal (for scripts). */
bool pvecm_ssh_login(pvecm_ssh_t *ssh, GError **err);

/* Runs command on the server and collects its output. Returns false only
 * when the command could not be run or its output not read; otherwise
 * *status is its exit status. out and errout may be NULL. */
bool pvecm_ssh_run(pvecm_ssh_t *ssh, const char *command, GByteArray *out, GString *errout,
		   int *status, GError **err);

void pvecm_ssh_free(pvecm_ssh_t *ssh);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(pvecm_ssh_t, pvecm_ssh_free)

#endif
