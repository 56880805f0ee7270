/* `pvecm updatecerts`: the files a node needs to talk to the others, made
 * or repaired in /etc/pve, as pve-cluster runs it on every start and after a
 * join:
 *
 *   pve-root-ca.pem, priv/pve-root-ca.key, priv/pve-root-ca.srl
 *	the cluster's CA, created once and never replaced;
 *   nodes/NODE/pve-ssl.pem, pve-ssl.key
 *	the node's certificate, signed by the CA, for its name and addresses;
 *   priv/authorized_keys, priv/known_hosts
 *	root's SSH keys and every node's host keys, shared by the cluster;
 *	root's authorized_keys and the global ssh_known_hosts link to them.
 *
 * Every file in /etc/pve is replaced by renaming a complete temporary file
 * over it, so that a reader on any node sees the old or the new file. */
#ifndef PVECM_CERTS_H
#define PVECM_CERTS_H

#include "pvecm_cli.h"

#include <glib.h>
#include <stdbool.h>
#include <stdio.h>

#define PVECM_CERTS_ERROR (pvecm_certs_error_quark())
GQuark pvecm_certs_error_quark(void);

typedef enum {
	/* pmxcfsd does not run, or /etc/pve is read-only (no quorum). */
	PVECM_CERTS_ERROR_NOT_READY,
	/* The files found cannot be used as they are (half a CA, a CA key
	 * that does not match its certificate, no SSH host key). */
	PVECM_CERTS_ERROR_INVALID,
	/* OpenSSL or libssh failed. */
	PVECM_CERTS_ERROR_CRYPTO,
} pvecm_certs_error_t;

/* A node certificate is replaced this long before it expires. */
#define PVECM_CERTS_RENEW_DAYS 30
#define PVECM_CERTS_NODE_DAYS 730
#define PVECM_CERTS_CA_DAYS 3650
#define PVECM_CERTS_CA_BITS 4096
#define PVECM_CERTS_NODE_BITS 2048
#define PVECM_CERTS_SSH_BITS 2048

/* Where a node's files are and who the node is. Every string is owned. */
typedef struct {
	char *pve_dir;	    /* /etc/pve */
	char *ssh_dir;	    /* /etc/ssh: host keys, ssh_known_hosts */
	char *root_ssh_dir; /* /root/.ssh */
	char *nodename;
	char *fqdn; /* the certificate's common name; NULL: nodename */
	/* The node's IP addresses, as text; NULL-terminated, at least one. */
	GStrv addrs;
	/* Where to say what was done, one line each; NULL: nowhere. */
	FILE *out;
	/* updatecerts --unmerge-known-hosts: ssh_known_hosts becomes (and
	 * stays) a file of this node's own, see pvecm_certs_merge_known_hosts. */
	bool unmerge_known_hosts;
} pvecm_certs_node_t;

void pvecm_certs_node_clear(pvecm_certs_node_t *node);

/* Fills node for the local node called nodename with the default paths
 * (pvecm_env.h): its addresses are its ringX_addr values in the cluster's
 * corosync.conf when it is listed there, otherwise the address its name
 * resolves to. */
bool pvecm_certs_node_local(pvecm_certs_node_t *node, const char *nodename, GError **err);

/* Creates the CA when neither pve-root-ca.pem nor priv/pve-root-ca.key
 * exists; *created says whether it did. Refuses half a CA, naming the
 * missing file. */
bool pvecm_certs_ensure_ca(const pvecm_certs_node_t *node, bool *created, GError **err);

/* Keeps the node's key and certificate if the certificate verifies against
 * the CA, names exactly the node's addresses and is valid for more than
 * PVECM_CERTS_RENEW_DAYS; otherwise, or with force, makes new ones.
 * *created says whether it did; *reason (may be NULL) why, static text. */
bool pvecm_certs_ensure_node_cert(const pvecm_certs_node_t *node, bool force, bool *created,
				  const char **reason, GError **err);

/* Creates root's RSA key pair (id_rsa, id_rsa.pub) when id_rsa is missing,
 * and id_rsa.pub from id_rsa when only that is missing. */
bool pvecm_certs_ensure_root_key(const pvecm_certs_node_t *node, bool *created, GError **err);

/* priv/authorized_keys keeps its lines (without duplicates), gains those of
 * a root authorized_keys that is not yet a link to it and root's public
 * key; then root's authorized_keys becomes that link. */
bool pvecm_certs_merge_authorized_keys(const pvecm_certs_node_t *node, GError **err);

/* priv/known_hosts gets a line "HOST TYPE KEY" for the node's name and
 * each of its addresses and each of its SSH host keys. Lines of other
 * hosts are kept; a line for this node's name or addresses (hashed ones
 * included) is replaced, so that a node reinstalled under the same name
 * is not refused by ssh on the others for its new keys. ssh_known_hosts
 * becomes a link to it, after its own lines were merged.
 * With node->unmerge_known_hosts, or when ssh_known_hosts is a local file
 * that an earlier unmerge marked (its first line is
 * PVECM_CERTS_UNMERGED_MARK), ssh_known_hosts is neither merged nor
 * linked: an unmerge replaces a link by a copy of the cluster's file (a
 * local file keeps its lines), marked so that later runs leave it so. */
#define PVECM_CERTS_UNMERGED_MARK                                                                  \
	"# local file, not merged into /etc/pve/priv/known_hosts (pvecm updatecerts "              \
	"--unmerge-known-hosts); delete this line to merge it again"
bool pvecm_certs_merge_known_hosts(const pvecm_certs_node_t *node, GError **err);

/* What pvecm delnode removes of a node from the cluster-wide SSH files in
 * pve_dir: in priv/known_hosts every host name or address of the node
 * (name, and addrs as in corosync.conf; hashed entries too) and the lines
 * left with none; in priv/authorized_keys the lines of its root key
 * (comment root@NAME or root@NAME.DOMAIN). A file without such lines is
 * not written. */
bool pvecm_certs_forget_node(const char *pve_dir, const char *name, const char *const *addrs,
			     GError **err);

/* All of the above, in that order, for the node given. */
bool pvecm_certs_update_node(const pvecm_certs_node_t *node, bool force, GError **err);

/* All of the above for the local node, as pmxcfsd names it, with the
 * default paths and progress on stdout; fails with
 * PVECM_CERTS_ERROR_NOT_READY while /etc/pve is not writable. What `pvecm
 * create` and `pvecm add` run once the node is in its cluster. */
bool pvecm_certs_update(bool force, GError **err);

/* The command `pvecm updatecerts [--force] [--silent]`. */
extern const pvecm_cli_opt_t pvecm_updatecerts_opts[];
int pvecm_updatecerts_run(const pvecm_cli_call_t *call);

#endif
