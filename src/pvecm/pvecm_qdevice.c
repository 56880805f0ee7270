#include "pvecm_qdevice.h"

#include "nodeinfo.h"
#include "pvecm_conflock.h"
#include "pvecm_create.h"
#include "pvecm_daemon.h"
#include "pvecm_env.h"
#include "pvecm_qdevice_conf.h"
#include "pvecm_quorum.h"
#include "pvecm_service.h"
#include "pvecm_ssh.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Where corosync's certutil tools keep their databases; the tools have
 * these paths built in, on every host alike. */
#define QNETD_DB "/etc/corosync/qnetd/nssdb"
#define QNETD_CA QNETD_DB "/qnetd-cacert.crt"
#define QDEVICE_DIR "/etc/corosync/qdevice"
#define QDEVICE_DB QDEVICE_DIR "/net/nssdb"
#define QDEVICE_CRQ QDEVICE_DB "/qdevice-net-node.crq"
#define QDEVICE_P12 QDEVICE_DB "/qdevice-net-node.p12"

/* Handed to the other nodes through /etc/pve (priv/: the p12 holds the
 * cluster certificate's key), removed again whatever happens. */
#define TMP_CA "priv/qnetd-cacert.crt"
#define TMP_P12 "priv/qdevice-net-node.p12"

#define VOTE_POLL_US 200000

const pvecm_cli_arg_t pvecm_qdevice_setup_args[] = {
    {.name = "address",
     .description = "Specifies the network address of an external corosync "
		    "QDevice"},
    {.name = NULL},
};

const pvecm_cli_opt_t pvecm_qdevice_setup_opts[] = {
    {"fingerprint", PVECM_CLI_STRING, .value_text = "SHA256:<base64>",
     .description = "SSH host key fingerprint of the QDevice host, as 'ssh-keygen -lf' prints "
		    "it there. Without it the key must be known already or confirmed on the "
		    "terminal."},
    {"force", PVECM_CLI_BOOLEAN,
     .description = "Set up a QDevice for an odd node count too (algorithm lms, with its "
		    "risks)."},
    {"network", PVECM_CLI_STRING, .value_text = "<CIDR>",
     .description = "The network which should be used to connect to the external qdevice: "
		    "checked to hold an address of every node; the nodes reach the QDevice "
		    "the way their routing table says."},
    {.name = NULL},
};

typedef struct {
	char *name;
	uint32_t nodeid;
	char *addr; /* ring0: where SSH reaches it */
	bool local;
	pvecm_ssh_t *ssh; /* the other nodes, once connected */
	/* what setup did there, for the undo */
	bool made_db, started;
} qd_node_t;

typedef struct {
	const char *cmd; /* "qdevice setup", for messages */
	const char *address, *fingerprint, *network;
	bool force;

	char *nodename;
	char *conf_path;
	corosync_conf_t *conf;
	char *cluster_name;
	GPtrArray *nodes; /* qd_node_t*, in nodelist order */
	const char *algorithm;
	uint32_t votes;

	pvecm_ssh_t *qnetd;
	char *tmp_ca, *tmp_p12; /* in /etc/pve, to remove */
	bool conf_changed;
} qd_t;

static void node_free(gpointer p)
{
	qd_node_t *n = p;

	g_free(n->name);
	g_free(n->addr);
	pvecm_ssh_free(n->ssh);
	g_free(n);
}

static void qd_clear(qd_t *q)
{
	g_free(q->nodename);
	g_free(q->conf_path);
	g_clear_pointer(&q->conf, corosync_conf_free);
	g_free(q->cluster_name);
	g_clear_pointer(&q->nodes, g_ptr_array_unref);
	g_clear_pointer(&q->qnetd, pvecm_ssh_free);
	g_free(q->tmp_ca);
	g_free(q->tmp_p12);
}

static int fail(const qd_t *q, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static int fail(const qd_t *q, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	return pvecm_cli_fail(q->cmd, PVECM_EXIT_FAILED, "%s", msg);
}

static void info(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

static void info(const char *fmt, ...)
{
	va_list ap;

	fputs("INFO: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* Running commands on the nodes and the qnetd host */

/* The last line a command printed on stderr (else stdout), as its reason. */
static char *reason(const char *errout, const char *out)
{
	const char *text = errout && *g_strstrip((char *)errout) ? errout : out;
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
	guint n = g_strv_length(lines);

	return g_strdup(n && *lines[n - 1] ? lines[n - 1] : "(no message)");
}

static bool run_local(const char *command, GString *out, char **why)
{
	const char *argv[] = {"/bin/sh", "-c", command, NULL};
	g_autofree char *sout = NULL, *serr = NULL;
	g_autoptr(GError) err = NULL;
	int status;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &sout, &serr,
			  &status, &err)) {
		*why = g_strdup(err->message);
		return false;
	}
	if (!g_spawn_check_wait_status(status, NULL)) {
		*why = reason(serr, sout);
		return false;
	}
	if (out)
		g_string_append(out, sout);
	return true;
}

static bool run_ssh(pvecm_ssh_t *ssh, const char *command, GString *out, char **why)
{
	g_autoptr(GByteArray) bytes = g_byte_array_new();
	g_autoptr(GString) errout = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	int status;

	if (!pvecm_ssh_run(ssh, command, bytes, errout, &status, &err)) {
		*why = g_strdup(err->message);
		return false;
	}
	if (status != 0) {
		g_autofree char *text = g_strndup((const char *)bytes->data, bytes->len);
		*why = reason(errout->str, text);
		return false;
	}
	if (out)
		g_string_append_len(out, (const char *)bytes->data, bytes->len);
	return true;
}

/* Runs a shell command on the node: here, or there over SSH. */
static bool node_run(qd_node_t *n, const char *command, GString *out, char **why)
{
	return n->local ? run_local(command, out, why) : run_ssh(n->ssh, command, out, why);
}

/* The service seam on the node: here pvecm's own; there the one that
 * node's environment names. */
static bool node_service(qd_node_t *n, const char *action, char **why)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *command = NULL;

	if (n->local) {
		if (pvecm_service(action, PVECM_UNIT_QDEVICE, &err))
			return true;
		*why = g_strdup(err->message);
		return false;
	}
	command = g_strdup_printf("\"${%s:-%s}\" %s %s", PVECM_ENV_SERVICE_CMD,
				  PVECM_DEFAULT_SERVICE_CMD, action, PVECM_UNIT_QDEVICE);
	return run_ssh(n->ssh, command, NULL, why);
}

/* Checks that leave everything as it was */

static int read_cluster(qd_t *q)
{
	pvecm_daemon_status_t st;
	g_autoptr(GError) err = NULL;
	int rc = pvecm_daemon_status(&st, true);

	if (rc != PVECM_EXIT_OK)
		return rc;
	q->nodename = g_steal_pointer(&st.nodename);
	if (!st.cluster)
		rc =
		    pvecm_cli_fail(q->cmd, PVECM_EXIT_NOT_READY,
				   "this node is not part of a cluster - run it on a cluster node");
	else if (!st.quorate)
		rc = pvecm_cli_fail(q->cmd, PVECM_EXIT_NOT_READY,
				    "cluster not ready - no quorum? (see 'pvecm status')");
	pvecm_daemon_status_clear(&st);
	if (rc != PVECM_EXIT_OK)
		return rc;

	q->conf_path = pvecm_env_cluster_conf();
	q->conf = corosync_conf_load(q->conf_path, &err);
	if (!q->conf)
		return fail(q, "%s", err->message);
	q->cluster_name = g_strdup(corosync_conf_get(q->conf, "totem.cluster_name"));
	if (!q->cluster_name)
		return fail(q, "%s has no totem.cluster_name - fix it first", q->conf_path);
	/* It names files and goes into commands. */
	if (!nodeinfo_check_name("cluster", q->cluster_name, PVECM_CLUSTER_NAME_MAX, &err))
		return fail(q, "%s: %s", q->conf_path, err->message);

	g_autoptr(GPtrArray) nodes = corosync_conf_nodes(q->conf);
	q->nodes = g_ptr_array_new_with_free_func(node_free);
	for (guint i = 0; i < nodes->len; i++) {
		const corosync_conf_node_t *c = nodes->pdata[i];
		qd_node_t *n = g_new0(qd_node_t, 1);

		n->name = g_strdup(c->name ? c->name : c->addr[0]);
		n->nodeid = c->nodeid;
		n->addr = g_strdup(c->addr[0]);
		n->local = g_strcmp0(c->name, q->nodename) == 0;
		g_ptr_array_add(q->nodes, n);
	}
	return PVECM_EXIT_OK;
}

/* The manual: "All nodes must be online". */
static int check_online(qd_t *q)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(pvecm_quorum_t) view = pvecm_quorum_read(0, &err);

	if (!view)
		return pvecm_cli_fail(q->cmd, PVECM_EXIT_NOT_READY, "%s", err->message);
	for (guint i = 0; i < q->nodes->len; i++) {
		const qd_node_t *n = q->nodes->pdata[i];
		bool online = false;

		for (guint m = 0; m < view->members->len && !online; m++)
			online =
			    ((pvecm_quorum_member_t *)view->members->pdata[m])->nodeid == n->nodeid;
		if (!online)
			return fail(q, "All nodes must be online! Node %s is offline, aborting.",
				    n->name);
	}
	return PVECM_EXIT_OK;
}

static int check_setup(qd_t *q)
{
	guint count = q->nodes->len;
	g_autoptr(GError) err = NULL;

	if (pvecm_qdevice_conf_has_device(q->conf))
		return fail(q, "QDevice already configured! - remove it first with 'pvecm qdevice "
			       "remove'");
	if (count % 2 && !q->force)
		return fail(q, "Clusters with an odd node count are not officially supported! - "
			       "see 'man pvecm' (Supported Setups); --force sets one up anyway");
	if (q->network) {
		g_autoptr(GPtrArray) nodes = corosync_conf_nodes(q->conf);
		if (!pvecm_qdevice_conf_check_network(nodes, q->network, &err))
			return fail(q, "%s", err->message);
	}
	q->algorithm = pvecm_qdevice_conf_algorithm(count);
	q->votes = pvecm_qdevice_conf_votes(count);
	return PVECM_EXIT_OK;
}

static int connect_qnetd(qd_t *q)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *why = NULL;

	info("connecting to the QDevice host root@%s over SSH", q->address);
	q->qnetd = pvecm_ssh_connect(q->address, q->fingerprint, &err);
	if (!q->qnetd || !pvecm_ssh_login(q->qnetd, &err))
		return fail(q, "%s - nothing changed", err->message);
	if (!run_ssh(q->qnetd,
		     "command -v corosync-qnetd >/dev/null && "
		     "command -v corosync-qnetd-certutil >/dev/null && "
		     "command -v corosync-qnetd-tool >/dev/null",
		     NULL, &why))
		return fail(q,
			    "corosync-qnetd is not installed on %s - install the corosync-qnetd "
			    "package there; nothing changed",
			    q->address);
	g_clear_pointer(&why, g_free);
	if (!run_ssh(q->qnetd, "corosync-qnetd-tool -s", NULL, &why))
		return fail(q,
			    "corosync-qnetd does not run on %s (%s) - start it there "
			    "('systemctl start corosync-qnetd'); nothing changed",
			    q->address, why);
	return PVECM_EXIT_OK;
}

/* Every other node over the cluster's SSH keys; corosync-qdevice on all. */
static int connect_nodes(qd_t *q)
{
	for (guint i = 0; i < q->nodes->len; i++) {
		qd_node_t *n = q->nodes->pdata[i];
		g_autoptr(GError) err = NULL;
		g_autofree char *why = NULL;

		if (!n->local && !n->addr)
			return fail(q, "node %s has no ring0_addr in %s - nothing changed", n->name,
				    q->conf_path);
		if (!n->local) {
			n->ssh = pvecm_ssh_connect(n->addr, NULL, &err);
			if (!n->ssh || !pvecm_ssh_login(n->ssh, &err))
				return fail(q,
					    "cannot reach node %s over SSH: %s - run 'pvecm "
					    "updatecerts' on every node; nothing changed",
					    n->name, err->message);
		}
		if (!node_run(n,
			      "command -v corosync-qdevice >/dev/null && "
			      "command -v corosync-qdevice-net-certutil >/dev/null",
			      NULL, &why))
			return fail(q,
				    "corosync-qdevice is not installed on node %s - install the "
				    "corosync-qdevice package on every node; nothing changed",
				    n->name);
	}
	return PVECM_EXIT_OK;
}

/* Certificates */

/* A file in /etc/pve that every node reads, written whole by rename. */
static char *put_shared(qd_t *q, const char *rel, const void *data, gsize len, GError **err)
{
	g_autofree char *path = g_build_filename(pvecm_env_pve_dir(), rel, NULL);

	if (!g_file_set_contents_full(path, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT, 0600,
				      err))
		return NULL;
	return g_steal_pointer(&path);
}

static void remove_shared(char **path)
{
	if (*path && unlink(*path) < 0 && errno != ENOENT)
		fprintf(stderr, "pvecm qdevice: cannot remove %s: %s - remove it by hand\n", *path,
			g_strerror(errno));
	g_clear_pointer(path, g_free);
}

/* The file as the node sees it: another node may apply the rename a
 * moment after this one. */
static char *wait_shared_cmd(const char *path, const char *then)
{
	g_autofree char *qp = g_shell_quote(path);

	return g_strdup_printf("i=0; while [ ! -s %s ]; do i=$((i+1)); "
			       "[ $i -gt 100 ] && { echo %s does not show up >&2; exit 1; }; "
			       "sleep 0.1; done; %s",
			       qp, qp, then);
}

static int init_ca(qd_t *q)
{
	g_autoptr(GString) ca = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	g_autofree char *why = NULL;

	info("initializing the QNetd CA on %s", q->address);
	if (!run_ssh(q->qnetd,
		     "[ -s " QNETD_CA " ] || corosync-qnetd-certutil -i >/dev/null && "
		     "cat " QNETD_CA,
		     ca, &why))
		return fail(q, "cannot initialize the QNetd CA on %s: %s", q->address, why);
	/* certutil writes the certificate as text, then as PEM. */
	if (!strstr(ca->str, "-----BEGIN CERTIFICATE-----"))
		return fail(q, "%s on %s is not a PEM certificate", QNETD_CA, q->address);

	info("copying the CA certificate and initializing it on all nodes");
	q->tmp_ca = put_shared(q, TMP_CA, ca->str, ca->len, &err);
	if (!q->tmp_ca)
		return fail(q, "%s", err->message);
	for (guint i = 0; i < q->nodes->len; i++) {
		qd_node_t *n = q->nodes->pdata[i];
		g_autofree char *qca = g_shell_quote(q->tmp_ca);
		/* No device is configured, so a database left here is unused:
		 * the tool refuses to initialize over it. */
		g_autofree char *then = g_strdup_printf(
		    "rm -rf " QDEVICE_DIR "/net && corosync-qdevice-net-certutil -i -c %s", qca);
		g_autofree char *command = wait_shared_cmd(q->tmp_ca, then);

		n->made_db = true;
		if (!node_run(n, command, NULL, &why))
			return fail(q, "cannot initialize the QDevice database on node %s: %s",
				    n->name, why);
	}
	return PVECM_EXIT_OK;
}

/* The request and the certificate are DER: they travel base64-encoded. */
static int sign_cluster_cert(qd_t *q)
{
	g_autofree char *crq = NULL, *why = NULL, *command = NULL, *b64 = NULL, *qname = NULL;
	g_autofree char *local_command = NULL, *crt_path = NULL, *qcrt = NULL;
	g_autofree guchar *crt = NULL;
	g_autoptr(GString) crt_b64 = g_string_new(NULL);
	g_autoptr(GError) err = NULL;
	gsize len;

	info("generating the cluster certificate request");
	qname = g_shell_quote(q->cluster_name);
	local_command = g_strdup_printf("corosync-qdevice-net-certutil -r -n %s >/dev/null", qname);
	if (!run_local(local_command, NULL, &why))
		return fail(q, "cannot make the certificate request: %s", why);
	if (!g_file_get_contents(QDEVICE_CRQ, &crq, &len, &err))
		return fail(q, "%s", err->message);

	info("signing the cluster certificate on %s", q->address);
	b64 = g_base64_encode((const guchar *)crq, len);
	/* A directory of its own keeps the request apart from anything else
	 * on the host. */
	command = g_strdup_printf(
	    "d=$(mktemp -d) && echo %s | base64 -d >\"$d/qdevice-net-node.crq\" && "
	    "corosync-qnetd-certutil -s -c \"$d/qdevice-net-node.crq\" -n %s >/dev/null; "
	    "rc=$?; rm -rf \"$d\"; [ $rc = 0 ] && base64 -w0 " QNETD_DB "/cluster-%s.crt",
	    b64, qname, q->cluster_name);
	if (!run_ssh(q->qnetd, command, crt_b64, &why))
		return fail(q, "%s did not sign the cluster certificate: %s", q->address, why);
	crt = g_base64_decode(g_strstrip(crt_b64->str), &len);
	if (len == 0)
		return fail(q, "%s sent no signed cluster certificate", q->address);

	info("importing the signed cluster certificate");
	crt_path = g_strdup_printf(QDEVICE_DB "/cluster-%s.crt", q->cluster_name);
	if (!g_file_set_contents(crt_path, (const char *)crt, (gssize)len, &err))
		return fail(q, "%s", err->message);
	qcrt = g_shell_quote(crt_path);
	g_free(local_command);
	/* The tool reports a failed import on its output only. */
	local_command = g_strdup_printf(
	    "corosync-qdevice-net-certutil -M -c %s >/dev/null && test -s " QDEVICE_P12, qcrt);
	if (!run_local(local_command, NULL, &why))
		return fail(q, "cannot import the cluster certificate: %s", why);
	return PVECM_EXIT_OK;
}

static int share_cluster_cert(qd_t *q)
{
	g_autofree char *p12 = NULL;
	g_autoptr(GError) err = NULL;
	gsize len;

	info("copying the cluster certificate to all nodes and importing it");
	if (!g_file_get_contents(QDEVICE_P12, &p12, &len, &err))
		return fail(q, "%s", err->message);
	q->tmp_p12 = put_shared(q, TMP_P12, p12, len, &err);
	explicit_bzero(p12, len);
	if (!q->tmp_p12)
		return fail(q, "%s", err->message);
	for (guint i = 0; i < q->nodes->len; i++) {
		qd_node_t *n = q->nodes->pdata[i];
		g_autofree char *qp = g_shell_quote(q->tmp_p12);
		g_autofree char *then =
		    g_strdup_printf("corosync-qdevice-net-certutil -m -c %s >/dev/null", qp);
		g_autofree char *command = wait_shared_cmd(q->tmp_p12, then);
		g_autofree char *why = NULL;

		if (n->local)
			continue;
		if (!node_run(n, command, NULL, &why))
			return fail(q, "cannot import the cluster certificate on node %s: %s",
				    n->name, why);
	}
	return PVECM_EXIT_OK;
}

/* corosync.conf */

/* Under the lock: the file as it is now, changed by edit, written with
 * config_version + 1. edit returns false (with *why) to refuse. */
typedef bool (*edit_fn)(qd_t *q, corosync_conf_t *conf, char **why);

static bool edit_conf(qd_t *q, edit_fn edit, char **why)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(corosync_conf_t) conf = NULL;
	char *lock = pvecm_conflock_take(q->cmd, &err);
	bool ok = false;

	if (!lock) {
		*why = g_strdup(err->message);
		return false;
	}
	conf = corosync_conf_load(q->conf_path, &err);
	if (!conf)
		*why = g_strdup(err->message);
	else if (edit(q, conf, why)) {
		ok = pvecm_conflock_save_next(conf, q->conf_path, &err);
		if (!ok)
			*why = g_strdup(err->message);
	}
	pvecm_conflock_release(q->cmd, lock);
	return ok;
}

static bool add_device(qd_t *q, corosync_conf_t *conf, char **why)
{
	if (pvecm_qdevice_conf_has_device(conf)) {
		*why = g_strdup("another QDevice was configured meanwhile");
		return false;
	}
	pvecm_qdevice_conf_add(conf, q->address, q->algorithm, q->votes);
	return true;
}

static bool remove_device(qd_t *q, corosync_conf_t *conf, char **why)
{
	if (!pvecm_qdevice_conf_remove(conf)) {
		*why = g_strdup("No QDevice configured!");
		return false;
	}
	return true;
}

/* Starting the daemons */

/* corosync-qdevice reads its settings from corosync: it may only start
 * once the node's corosync has loaded the new configuration. */
static bool wait_loaded(qd_node_t *n, char **why)
{
	g_autofree char *command = g_strdup_printf(
	    "i=0; until corosync-cmapctl -g quorum.device.model >/dev/null 2>&1; do "
	    "i=$((i+1)); [ $i -gt %d ] && { echo corosync did not load the QDevice "
	    "configuration within %d s >&2; exit 1; }; sleep 0.2; done",
	    PVECM_QDEVICE_LOAD_TIMEOUT_S * 5, PVECM_QDEVICE_LOAD_TIMEOUT_S);

	return node_run(n, command, NULL, why);
}

static int start_daemons(qd_t *q)
{
	for (guint i = 0; i < q->nodes->len; i++) {
		qd_node_t *n = q->nodes->pdata[i];
		g_autofree char *why = NULL;

		info("starting and enabling corosync-qdevice on node '%s'", n->name);
		n->started = true;
		if (!wait_loaded(n, &why) || !node_service(n, "start", &why) ||
		    !node_service(n, "enable", &why))
			return fail(q, "cannot start corosync-qdevice on node %s: %s", n->name,
				    why);
	}
	return PVECM_EXIT_OK;
}

/* The device counts once it casts its vote here: the certificates work
 * and qnetd answers. */
static int wait_vote(qd_t *q)
{
	gint64 end = g_get_monotonic_time() + PVECM_QDEVICE_VOTE_TIMEOUT_S * G_USEC_PER_SEC;

	info("waiting for the QDevice to cast its vote");
	for (;;) {
		g_autoptr(pvecm_quorum_t) view = pvecm_quorum_read(0, NULL);

		if (view && view->qdevice && view->qdevice_cast_vote)
			return PVECM_EXIT_OK;
		if (g_get_monotonic_time() > end)
			return fail(q,
				    "the QDevice did not cast a vote within %d s - see "
				    "'journalctl -u corosync-qdevice' on the nodes and "
				    "'corosync-qnetd-tool -l' on %s",
				    PVECM_QDEVICE_VOTE_TIMEOUT_S, q->address);
		g_usleep(VOTE_POLL_US);
	}
}

/* Undo: what setup changed, in reverse order; says what is left. */
static void setup_undo(qd_t *q)
{
	g_autoptr(GString) left = g_string_new(NULL);

	for (guint i = 0; i < q->nodes->len; i++) {
		qd_node_t *n = q->nodes->pdata[i];
		g_autofree char *why = NULL;

		if (n->started &&
		    (!node_service(n, "stop", &why) || !node_service(n, "disable", &why)))
			g_string_append_printf(
			    left, "; stop and disable corosync-qdevice on node %s (%s)", n->name,
			    why);
	}
	if (q->conf_changed) {
		g_autofree char *why = NULL;

		if (edit_conf(q, remove_device, &why))
			printf("Removed the QDevice from %s again\n", q->conf_path);
		else
			g_string_append_printf(left, "; remove quorum.device from %s (%s)",
					       q->conf_path, why);
	}
	for (guint i = 0; i < q->nodes->len; i++) {
		qd_node_t *n = q->nodes->pdata[i];
		g_autofree char *why = NULL;

		if (n->made_db && !node_run(n, "rm -rf " QDEVICE_DIR, NULL, &why))
			g_string_append_printf(left, "; remove %s on node %s (%s)", QDEVICE_DIR,
					       n->name, why);
	}
	if (left->len)
		fprintf(stderr, "pvecm %s: undone as far as possible; left to do by hand%s\n",
			q->cmd, left->str);
	else
		fprintf(stderr, "pvecm %s: every change was undone; nothing is left to clean up\n",
			q->cmd);
}

static int setup_changes(qd_t *q)
{
	g_autofree char *why = NULL;
	int rc;

	rc = init_ca(q);
	if (rc == PVECM_EXIT_OK)
		rc = sign_cluster_cert(q);
	if (rc == PVECM_EXIT_OK)
		rc = share_cluster_cert(q);
	remove_shared(&q->tmp_ca);
	remove_shared(&q->tmp_p12);
	if (rc != PVECM_EXIT_OK)
		return rc;

	info("adding the QDevice to %s (algorithm %s, %u vote%s)", q->conf_path, q->algorithm,
	     q->votes, q->votes == 1 ? "" : "s");
	q->conf_changed = true;
	if (!edit_conf(q, add_device, &why)) {
		q->conf_changed = false;
		return fail(q, "cannot add the QDevice to %s: %s", q->conf_path, why);
	}
	rc = start_daemons(q);
	if (rc == PVECM_EXIT_OK)
		rc = wait_vote(q);
	return rc;
}

int pvecm_qdevice_setup_run(const pvecm_cli_call_t *call)
{
	qd_t q = {
	    .cmd = "qdevice setup",
	    .address = pvecm_cli_arg(call, 0),
	    .fingerprint = pvecm_cli_opt(call, "fingerprint"),
	    .network = pvecm_cli_opt(call, "network"),
	    .force = pvecm_cli_flag(call, "force", false),
	};
	int rc;

	rc = read_cluster(&q);
	if (rc == PVECM_EXIT_OK)
		rc = check_online(&q);
	if (rc == PVECM_EXIT_OK)
		rc = check_setup(&q);
	if (rc == PVECM_EXIT_OK && q.nodes->len % 2)
		fprintf(stderr,
			"pvecm %s: WARNING: odd node count (%u): the QDevice gets %u votes and "
			"the lms algorithm. If it fails, no single node may fail any more; and "
			"with it, all but one node may fail, which may overload that last one.\n",
			q.cmd, q.nodes->len, q.votes);
	if (rc == PVECM_EXIT_OK)
		rc = connect_qnetd(&q);
	if (rc == PVECM_EXIT_OK)
		rc = connect_nodes(&q);
	if (rc == PVECM_EXIT_OK) {
		rc = setup_changes(&q);
		if (rc != PVECM_EXIT_OK)
			setup_undo(&q);
	}
	if (rc == PVECM_EXIT_OK)
		printf("Done: the QDevice on %s votes for cluster '%s' (algorithm %s, %u "
		       "vote%s).\n",
		       q.address, q.cluster_name, q.algorithm, q.votes, q.votes == 1 ? "" : "s");
	qd_clear(&q);
	return rc;
}

/* remove */

static int remove_daemons(qd_t *q)
{
	g_autoptr(GString) left = g_string_new(NULL);

	for (guint i = 0; i < q->nodes->len; i++) {
		qd_node_t *n = q->nodes->pdata[i];
		g_autofree char *why = NULL;

		info("stopping and disabling corosync-qdevice on node '%s'", n->name);
		if (!node_service(n, "stop", &why) || !node_service(n, "disable", &why) ||
		    !node_run(n, "rm -rf " QDEVICE_DIR, NULL, &why))
			g_string_append_printf(left,
					       "; on node %s: stop and disable "
					       "corosync-qdevice, remove %s (%s)",
					       n->name, QDEVICE_DIR, why);
	}
	if (!left->len)
		return PVECM_EXIT_OK;
	return fail(q, "the QDevice is out of %s, but left to do by hand%s", q->conf_path,
		    left->str);
}

int pvecm_qdevice_remove_run(const pvecm_cli_call_t *call)
{
	qd_t q = {.cmd = "qdevice remove"};
	g_autofree char *why = NULL;
	int rc;

	rc = read_cluster(&q);
	if (rc == PVECM_EXIT_OK && !pvecm_qdevice_conf_has_device(q.conf))
		rc = fail(&q, "No QDevice configured!");
	if (rc == PVECM_EXIT_OK)
		rc = check_online(&q);
	if (rc == PVECM_EXIT_OK)
		rc = connect_nodes(&q);
	if (rc == PVECM_EXIT_OK) {
		info("removing the QDevice from %s", q.conf_path);
		if (!edit_conf(&q, remove_device, &why))
			rc = fail(&q, "cannot remove the QDevice from %s: %s - nothing changed",
				  q.conf_path, why);
	}
	if (rc == PVECM_EXIT_OK)
		rc = remove_daemons(&q);
	if (rc == PVECM_EXIT_OK)
		printf("Removed Qdevice.\n");
	qd_clear(&q);
	return rc;
}
