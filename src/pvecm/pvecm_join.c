#include "pvecm_join.h"

#include "corosync_conf.h"
#include "fileio.h"
#include "nodeinfo.h"
#include "pvecm_certs.h"
#include "pvecm_daemon.h"
#include "pvecm_env.h"
#include "pvecm_link.h"
#include "pvecm_nodelist.h"
#include "pvecm_service.h"
#include "pvecm_ssh.h"
#include "textesc.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define AUTHKEY_MODE 0400
#define LOCAL_CONF_MODE 0644

const pvecm_cli_arg_t pvecm_add_args[] = {
    {.name = "hostname", .description = "Hostname (or IP) of an existing cluster member."},
    {.name = NULL},
};

const pvecm_cli_opt_t pvecm_add_opts[] = {
    {"fingerprint", PVECM_CLI_STRING, .value_text = "SHA256:<base64>",
     .description = "SSH host key fingerprint of the cluster member, as 'ssh-keygen -lf' "
		    "prints it on that host. Without it the key must be known already or "
		    "confirmed on the terminal."},
    {"force", PVECM_CLI_BOOLEAN,
     .description = "Do not throw error if node already exists, or this node has a "
		    "corosync key, a corosync.conf or guests (they are replaced)."},
    PVECM_LINK_CLI_OPT,
    {"nodeid", PVECM_CLI_INTEGER, .min = 1, .max = G_MAXINT32,
     .description = "Node id for this node."},
    {"votes", PVECM_CLI_INTEGER, .min = 0, .max = G_MAXINT32,
     .description = "Number of votes for this node"},
    {.name = NULL},
};

typedef struct {
	const char *host;
	const char *fingerprint;
	bool force;
	gint64 nodeid, votes;			     /* 0: not given */
	pvecm_link_t links[COROSYNC_CONF_MAX_LINKS]; /* addr NULL: not given */

	char *nodename;
	char *pve_conf, *local_conf, *authkey;
	pvecm_ssh_t *ssh;

	/* what the cluster node sent */
	GByteArray *key;
	char *conf_text;
	corosync_conf_t *conf;
	uint32_t joined_nodeid;

	/* the local state before the join, put back if it fails */
	char *db, *backup;
	char *old_local_conf, *old_authkey;
	gsize old_local_conf_len, old_authkey_len;
	bool replaced_files, moved_db, started_corosync;
} join_t;

static void join_clear(join_t *j)
{
	for (unsigned i = 0; i < COROSYNC_CONF_MAX_LINKS; i++)
		pvecm_link_clear(&j->links[i]);
	g_free(j->nodename);
	g_free(j->pve_conf);
	g_free(j->local_conf);
	g_free(j->authkey);
	g_clear_pointer(&j->ssh, pvecm_ssh_free);
	if (j->key) {
		explicit_bzero(j->key->data, j->key->len);
		g_byte_array_unref(j->key);
	}
	g_free(j->conf_text);
	g_clear_pointer(&j->conf, corosync_conf_free);
	g_free(j->db);
	g_free(j->backup);
	g_free(j->old_local_conf);
	if (j->old_authkey)
		explicit_bzero(j->old_authkey, j->old_authkey_len);
	g_free(j->old_authkey);
}

#define fail(...) pvecm_cli_fail("add", PVECM_EXIT_FAILED, __VA_ARGS__)

static int read_options(const pvecm_cli_call_t *call, join_t *j)
{
	g_autoptr(GError) err = NULL;

	j->host = pvecm_cli_arg(call, 0);
	j->fingerprint = pvecm_cli_opt(call, "fingerprint");
	j->force = pvecm_cli_flag(call, "force", false);
	j->nodeid = pvecm_cli_int(call, "nodeid", 0);
	j->votes = pvecm_cli_int(call, "votes", -1);
	/* Checked here, so that a typo fails before anything is sent; the
	 * addresses go on resolved. */
	if (!pvecm_link_parse_opts(call, j->links, &err))
		return fail("%s", err->message);
	return PVECM_EXIT_OK;
}

static bool dir_has_conf(const char *path)
{
	g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir)))
		if (g_str_has_suffix(name, ".conf"))
			return true;
	return false;
}

/* Guests configured on this node would vanish with its /etc/pve. */
static bool has_guests(void)
{
	g_autofree char *nodes = g_build_filename(pvecm_env_pve_dir(), "nodes", NULL);
	g_autoptr(GDir) dir = g_dir_open(nodes, 0, NULL);
	const char *name;

	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *qemu = g_build_filename(nodes, name, "qemu-server", NULL);
		g_autofree char *lxc = g_build_filename(nodes, name, "lxc", NULL);
		if (dir_has_conf(qemu) || dir_has_conf(lxc))
			return true;
	}
	return false;
}

/* What must hold before anything is sent: each failure changes nothing. */
static int check_local(join_t *j)
{
	pvecm_daemon_status_t st;
	g_autofree char *cwd = g_get_current_dir();
	const char *pve = pvecm_env_pve_dir();
	size_t plen = strlen(pve);
	int rc = pvecm_daemon_status(&st, true);

	if (rc != PVECM_EXIT_OK)
		return rc;
	j->nodename = g_steal_pointer(&st.nodename);
	bool cluster = st.cluster;
	pvecm_daemon_status_clear(&st);

	j->pve_conf = pvecm_env_cluster_conf();
	j->local_conf = pvecm_env_corosync_conf();
	j->authkey = pvecm_env_authkey();
	j->db = g_strdup(pvecm_env_database());
	if (strncmp(cwd, pve, plen) == 0 && (cwd[plen] == '/' || cwd[plen] == '\0'))
		return fail("the current directory %s is inside %s, which the join replaces - "
			    "change to another directory first",
			    cwd, pve);
	if (cluster || access(j->pve_conf, F_OK) == 0)
		return fail("this node is already part of a cluster (%s exists)", j->pve_conf);
	if (access(j->authkey, F_OK) == 0) {
		if (!j->force)
			return fail("authentication key %s already exists - remove it if it "
				    "is left over, or use --force",
				    j->authkey);
		fprintf(stderr, "pvecm add: warning: replacing %s (--force)\n", j->authkey);
	}
	if (has_guests()) {
		if (!j->force)
			return fail("this host already contains virtual guests - their "
				    "configurations in %s/nodes would be lost; move them away "
				    "first",
				    pve);
		fprintf(stderr,
			"pvecm add: warning: guest configurations in %s/nodes will be "
			"replaced by the cluster's (--force)\n",
			pve);
	}
	return PVECM_EXIT_OK;
}

/* Without links the cluster reaches this node where its name points. */
static int default_link(join_t *j)
{
	g_autoptr(GError) err = NULL;

	if (j->links[0].addr)
		return PVECM_EXIT_OK;
	j->links[0].addr = nodeinfo_resolve(j->nodename, &err);
	if (!j->links[0].addr)
		return fail("%s", err->message);
	printf("No cluster network links passed explicitly, fallback to local node IP '%s'\n",
	       j->links[0].addr);
	return PVECM_EXIT_OK;
}

/* The last line a remote command printed on stderr, as its reason,
 * escaped: the remote node's text must not drive this terminal. */
static char *remote_reason(GString *errout)
{
	g_auto(GStrv) lines = g_strsplit(g_strstrip(errout->str), "\n", -1);
	guint n = g_strv_length(lines);

	if (!n)
		return g_strdup("(no message)");
	return textesc(lines[n - 1], strlen(lines[n - 1]), false);
}

/* Prints what the remote node sent, its line breaks kept. */
static void print_remote(const GByteArray *out)
{
	g_autofree char *text = textesc((const char *)out->data, out->len, true);

	fputs(text, stdout);
}

/* Runs command on the cluster node. False with *why set to the reason
 * (the command's last line on stderr, or why it could not run). */
static bool remote_run(join_t *j, const char *command, GByteArray *out, char **why)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GString) errout = g_string_new(NULL);
	int status;

	if (!pvecm_ssh_run(j->ssh, command, out, errout, &status, &err)) {
		*why = g_strdup(err->message);
		return false;
	}
	if (status != 0) {
		*why = remote_reason(errout);
		return false;
	}
	return true;
}

static int connect_host(join_t *j)
{
	g_autoptr(GError) err = NULL;

	printf("Connecting to root@%s over SSH\n", j->host);
	fflush(stdout);
	j->ssh = pvecm_ssh_connect(j->host, j->fingerprint, &err);
	if (!j->ssh)
		return fail("%s - nothing changed", err->message);
	printf("Host key %s verified\n", pvecm_ssh_fingerprint(j->ssh));
	if (!pvecm_ssh_login(j->ssh, &err))
		return fail("%s - nothing changed", err->message);
	return PVECM_EXIT_OK;
}

static int check_apiver(join_t *j)
{
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree char *text = NULL, *why = NULL;
	gint64 v;
	char *end;

	if (!remote_run(j, "pvecm apiver", out, &why))
		return fail("'pvecm apiver' failed on %s: %s - is pvecm installed there? Nothing "
			    "changed",
			    j->host, why);
	text = textesc((const char *)out->data, out->len, true);
	v = g_ascii_strtoll(g_strstrip(text), &end, 10);
	if (!*text || *end || v < PVECM_API_VERSION - PVECM_API_AGE_AS_JOINEE) {
		g_autofree char *shown = textesc(text, strlen(text), false);
		return fail("%s speaks join API version '%s', this node %d and versions from %d "
			    "on - upgrade pvecm on the cluster's nodes; nothing changed",
			    j->host, shown, PVECM_API_VERSION,
			    PVECM_API_VERSION - PVECM_API_AGE_AS_JOINEE);
	}
	return PVECM_EXIT_OK;
}

static int remote_addnode(join_t *j)
{
	g_autoptr(GString) cmd = g_string_new("pvecm addnode ");
	g_autofree char *qname = g_shell_quote(j->nodename);
	g_autoptr(GByteArray) out = g_byte_array_new();
	g_autofree char *why = NULL;

	g_string_append_printf(cmd, "%s --apiversion %d", qname, PVECM_API_VERSION);
	for (unsigned i = 0; i < COROSYNC_CONF_MAX_LINKS; i++) {
		if (!j->links[i].addr)
			continue;
		g_autofree char *opt = pvecm_link_format(&j->links[i]);
		g_autofree char *q = g_shell_quote(opt);
		g_string_append_printf(cmd, " --link%u %s", i, q);
	}
	if (j->nodeid)
		g_string_append_printf(cmd, " --nodeid %" G_GINT64_FORMAT, j->nodeid);
	if (j->votes >= 0)
		g_string_append_printf(cmd, " --votes %" G_GINT64_FORMAT, j->votes);
	if (j->force)
		g_string_append(cmd, " --force");
	if (!remote_run(j, cmd->str, out, &why))
		return fail("%s did not add this node: %s - nothing changed", j->host, why);
	print_remote(out);
	return PVECM_EXIT_OK;
}

/* Past addnode the cluster lists this node: a failure from here on must
 * say how to take it out again. */
static int fail_listed(join_t *j, const char *what, const char *why)
{
	return fail("%s%s%s - the cluster lists this node now: run 'pvecm delnode %s' on %s "
		    "(after 'pvecm expected 1' there if it lost quorum), then try again",
		    what, why ? ": " : "", why ? why : "", j->nodename, j->host);
}

static int fetch_cluster_files(join_t *j)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GByteArray) conf = g_byte_array_new();
	/* The cluster node's own paths are the defaults: this node's
	 * overrides (for packaging, tests) say nothing about that one. */
	g_autofree char *qkey = g_shell_quote(PVECM_DEFAULT_COROSYNC_DIR "/authkey");
	g_autofree char *qconf = g_shell_quote(PVECM_DEFAULT_PVE_DIR "/corosync.conf");
	g_autofree char *cat_key = g_strdup_printf("cat %s", qkey);
	g_autofree char *cat_conf = g_strdup_printf("cat %s", qconf);
	g_autofree char *why = NULL;

	j->key = g_byte_array_new();
	if (!remote_run(j, cat_key, j->key, &why))
		return fail_listed(j, "cannot fetch the cluster's authkey", why);
	if (j->key->len == 0 || j->key->len > PVECM_JOIN_AUTHKEY_MAX)
		return fail_listed(j, "the cluster's authkey has an impossible size", NULL);
	if (!remote_run(j, cat_conf, conf, &why))
		return fail_listed(j, "cannot fetch the cluster's corosync.conf", why);
	/* Installed as it came: what was validated must be all there is. */
	if (memchr(conf->data, '\0', conf->len))
		return fail_listed(
		    j, "the cluster's corosync.conf contains a NUL byte; not installed", NULL);
	j->conf_text = g_strndup((const char *)conf->data, conf->len);
	g_autofree char *origin =
	    g_strdup_printf("%s:%s", j->host, PVECM_DEFAULT_PVE_DIR "/corosync.conf");
	j->conf = corosync_conf_parse(j->conf_text, (gssize)conf->len, origin, &err);
	if (!j->conf || !corosync_conf_validate(j->conf, origin, &err)) {
		/* The parser quotes what it could not read. */
		g_autofree char *msg = textesc(err->message, strlen(err->message), false);
		return fail_listed(j, "the cluster's corosync.conf is not usable; not installed",
				   msg);
	}

	g_autoptr(GPtrArray) nodes = corosync_conf_nodes(j->conf);
	const corosync_conf_node_t *me = corosync_conf_find_node(nodes, j->nodename);
	if (me)
		j->joined_nodeid = me->nodeid;
	if (!j->joined_nodeid)
		return fail_listed(j, "the cluster's corosync.conf does not list this node", NULL);
	return PVECM_EXIT_OK;
}

static bool save_file(const char *path, const void *data, gsize len, int mode, GError **err)
{
	return g_file_set_contents_full(path, data, (gssize)len, G_FILE_SET_CONTENTS_CONSISTENT,
					mode, err);
}

/* Puts the node back as it was before the join, as far as it can. */
static void undo_local(join_t *j)
{
	g_autoptr(GError) err = NULL;

	if (j->started_corosync && !pvecm_service("stop", PVECM_UNIT_COROSYNC, &err)) {
		fprintf(stderr, "pvecm add: while undoing: %s\n", err->message);
		g_clear_error(&err);
	}
	if (!pvecm_service("stop", PVECM_UNIT_PMXCFSD, &err)) {
		fprintf(stderr, "pvecm add: while undoing: %s\n", err->message);
		g_clear_error(&err);
	}
	if (j->replaced_files) {
		if (!fileio_restore(j->authkey, j->old_authkey, j->old_authkey_len, AUTHKEY_MODE,
				    &err)) {
			fprintf(stderr, "pvecm add: while undoing: %s\n", err->message);
			g_clear_error(&err);
		}
		if (!fileio_restore(j->local_conf, j->old_local_conf, j->old_local_conf_len,
				    LOCAL_CONF_MODE, &err)) {
			fprintf(stderr, "pvecm add: while undoing: %s\n", err->message);
			g_clear_error(&err);
		}
	}
	if (j->moved_db) {
		/* Whatever the failed start wrote goes; the node's own tree
		 * comes back. */
		g_autofree char *wal = g_strconcat(j->db, "-wal", NULL);
		g_autofree char *shm = g_strconcat(j->db, "-shm", NULL);
		unlink(wal);
		unlink(shm);
		if (rename(j->backup, j->db) < 0)
			fprintf(stderr, "pvecm add: while undoing: cannot move %s back to %s: %s\n",
				j->backup, j->db, g_strerror(errno));
	}
	if (!pvecm_service("start", PVECM_UNIT_PMXCFSD, &err))
		fprintf(stderr, "pvecm add: while undoing: %s\n", err->message);
}

/* pmxcfsd is stopped: its database goes to the backup directory, and the
 * node starts from an empty one that the cluster fills. */
static int backup_db(join_t *j)
{
	g_autofree char *dir = g_path_get_dirname(j->db);
	g_autofree char *bdir = g_build_filename(dir, PVECM_JOIN_BACKUP_DIR, NULL);
	g_autofree char *wal = g_strconcat(j->db, "-wal", NULL);

	/* The backup holds priv/: only root may enter, whatever made it before. */
	if (g_mkdir_with_parents(bdir, 0700) < 0 || chmod(bdir, 0700) < 0)
		return fail("cannot create %s: %s - nothing changed", bdir, g_strerror(errno));
	/* pmxcfsd checkpoints its WAL on a clean stop; one left over holds
	 * committed changes and belongs with the database. */
	if (access(wal, F_OK) == 0)
		return fail("%s is left over after pmxcfsd stopped - start and stop pmxcfsd once "
			    "so that it is merged, then try again",
			    wal);
	j->backup = g_strdup_printf("%s/config-%lld.db", bdir, (long long)time(NULL));
	if (rename(j->db, j->backup) < 0) {
		if (errno == ENOENT) {
			g_clear_pointer(&j->backup, g_free);
			return PVECM_EXIT_OK;
		}
		return fail("cannot move %s to %s: %s", j->db, j->backup, g_strerror(errno));
	}
	j->moved_db = true;
	printf("Backed up the local /etc/pve database to %s\n", j->backup);
	return PVECM_EXIT_OK;
}

static int install_files(join_t *j)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *cs_dir = g_path_get_dirname(j->authkey);

	g_file_get_contents(j->authkey, &j->old_authkey, &j->old_authkey_len, NULL);
	g_file_get_contents(j->local_conf, &j->old_local_conf, &j->old_local_conf_len, NULL);
	if (g_mkdir_with_parents(cs_dir, 0755) < 0)
		return fail("cannot create %s: %s", cs_dir, g_strerror(errno));
	j->replaced_files = true;
	if (!save_file(j->authkey, j->key->data, j->key->len, AUTHKEY_MODE, &err) ||
	    !save_file(j->local_conf, j->conf_text, strlen(j->conf_text), LOCAL_CONF_MODE, &err))
		return fail("%s", err->message);
	return PVECM_EXIT_OK;
}

static int join_locally(join_t *j)
{
	g_autoptr(GError) err = NULL;
	int rc;

	printf("Stopping pmxcfsd to replace its database\n");
	fflush(stdout);
	if (!pvecm_service("stop", PVECM_UNIT_PMXCFSD, &err))
		return fail_listed(j, "cannot stop pmxcfsd", err->message);
	rc = backup_db(j);
	if (rc == PVECM_EXIT_OK)
		rc = install_files(j);
	if (rc == PVECM_EXIT_OK) {
		printf("Starting corosync and pmxcfsd in cluster mode\n");
		fflush(stdout);
		j->started_corosync = true;
		if (!pvecm_service("restart", PVECM_UNIT_COROSYNC, &err) ||
		    !pvecm_service("start", PVECM_UNIT_PMXCFSD, &err))
			rc = fail("%s", err->message);
	}
	if (rc == PVECM_EXIT_OK) {
		printf("Waiting for quorum...");
		fflush(stdout);
		if (pvecm_daemon_wait_cluster(PVECM_JOIN_QUORUM_TIMEOUT_S)) {
			printf(" OK\n");
			return PVECM_EXIT_OK;
		}
		printf("\n");
		rc = fail("/etc/pve did not become writable in the cluster within %d s - see "
			  "'pvecm status' and 'journalctl -u corosync -u pmxcfsd'",
			  PVECM_JOIN_QUORUM_TIMEOUT_S);
	}
	undo_local(j);
	return fail_listed(j, "the join failed and this node went back to its state before it",
			   NULL);
}

int pvecm_add_run(const pvecm_cli_call_t *call)
{
	join_t j = {0};
	g_autoptr(GError) err = NULL;
	int rc;

	rc = read_options(call, &j);
	if (rc == PVECM_EXIT_OK)
		rc = check_local(&j);
	if (rc == PVECM_EXIT_OK)
		rc = default_link(&j);
	if (rc == PVECM_EXIT_OK)
		rc = connect_host(&j);
	if (rc == PVECM_EXIT_OK)
		rc = check_apiver(&j);
	if (rc == PVECM_EXIT_OK)
		rc = remote_addnode(&j);
	if (rc == PVECM_EXIT_OK)
		rc = fetch_cluster_files(&j);
	/* Nothing more is needed from the cluster node. */
	g_clear_pointer(&j.ssh, pvecm_ssh_free);
	if (rc == PVECM_EXIT_OK)
		rc = join_locally(&j);
	if (rc != PVECM_EXIT_OK)
		goto out;

	if (!pvecm_certs_update(false, &err)) {
		fprintf(stderr,
			"pvecm add: this node joined, but its certificates and SSH keys are not "
			"set up: %s - run 'pvecm updatecerts'\n",
			err->message);
		rc = PVECM_EXIT_FAILED;
		goto out;
	}
	printf("successfully added node '%s' to cluster (nodeid %u).\n", j.nodename,
	       j.joined_nodeid);
out:
	join_clear(&j);
	return rc;
}
