#include "pvecm_nodelist.h"

#include "corosync_conf.h"
#include "pvecm_conflock.h"
#include "nodeinfo.h"
#include "pvecm_daemon.h"
#include "pvecm_env.h"
#include "pvecm_certs.h"
#include "pvecm_link.h"
#include "pvecm_nodedir.h"
#include "pvecm_qdevice.h"
#include "pvecm_qdevice_conf.h"
#include "pvecm_quorum.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

/* As pmxcfsd serves files outside priv/. */

const pvecm_cli_arg_t pvecm_addnode_args[] = {
    {.name = "node", .description = "The cluster node name."},
    {.name = NULL},
};

const pvecm_cli_opt_t pvecm_addnode_opts[] = {
    {"apiversion", PVECM_CLI_INTEGER, .min = 0, .max = G_MAXINT32,
     .description = "The JOIN_API_VERSION of the new node."},
    {"force", PVECM_CLI_BOOLEAN,
     .description = "Do not throw error if node already exists (it is replaced)."},
    PVECM_LINK_CLI_OPT,
    {"nodeid", PVECM_CLI_INTEGER, .min = 1, .max = G_MAXINT32,
     .description = "Node id for this node (default: the lowest one not in use)."},
    {"votes", PVECM_CLI_INTEGER, .min = 0, .max = G_MAXINT32,
     .description = "Number of votes for this node (default: 1)."},
    {.name = NULL},
};

/* The node names of the cluster's corosync.conf, for shell completion;
 * none when it cannot be read. */
static char **node_names(void)
{
	g_autofree char *path = pvecm_env_cluster_conf();
	g_autoptr(corosync_conf_t) conf = corosync_conf_load(path, NULL);
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();

	if (conf) {
		g_autoptr(GPtrArray) nodes = corosync_conf_nodes(conf);
		for (guint i = 0; i < nodes->len; i++) {
			const corosync_conf_node_t *n = nodes->pdata[i];
			if (n->name &&
			    nodeinfo_check_name("node", n->name, NODEINFO_NAME_MAX, NULL))
				g_strv_builder_add(b, n->name);
		}
	}
	return g_strv_builder_end(b);
}

const pvecm_cli_arg_t pvecm_delnode_args[] = {
    {.name = "node", .description = "The cluster node name.", .complete = node_names},
    {.name = NULL},
};

const pvecm_cli_opt_t pvecm_delnode_opts[] = {
    {"force", PVECM_CLI_BOOLEAN,
     .description = "Remove the node even while its directory holds guest configurations; "
		    "the directory is first copied to /var/lib/pve-cluster/backup/ on this "
		    "node."},
    {.name = NULL},
};

/* This node must be in a cluster whose /etc/pve is writable: changes to
 * the nodelist are made only by a quorate partition. Fills st. */
static int require_quorate_cluster(const char *cmd, pvecm_daemon_status_t *st)
{
	int rc = pvecm_daemon_status(st, true);

	if (rc != PVECM_EXIT_OK)
		return rc;
	if (!st->cluster)
		return pvecm_cli_fail(
		    cmd, PVECM_EXIT_NOT_READY,
		    "this node is not part of a cluster - run it on a cluster node");
	if (!st->quorate)
		return pvecm_cli_fail(
		    cmd, PVECM_EXIT_NOT_READY,
		    "cluster not ready - no quorum? (see 'pvecm status'; on a node that "
		    "lost its peers for good, 'pvecm expected 1' first)");
	return PVECM_EXIT_OK;
}

/* The cluster's corosync.conf, checked as corosync and pmxcfsd check it
 * before any name in it is trusted: a node name becomes a path. */
static corosync_conf_t *load_conf(const char *path, GError **err)
{
	g_autoptr(corosync_conf_t) conf = corosync_conf_load(path, err);

	if (!conf || !corosync_conf_validate(conf, path, err)) {
		if (err && *err)
			g_prefix_error(err, "cannot use the cluster configuration: ");
		return NULL;
	}
	return g_steal_pointer(&conf);
}

/* ---------------------------------------------------------------- addnode */

typedef struct {
	const char *name;
	uint32_t nodeid, votes;
	bool force;
	pvecm_link_t links[COROSYNC_CONF_MAX_LINKS]; /* addr NULL: not used */
} addnode_t;

static void addnode_clear(addnode_t *a)
{
	for (unsigned i = 0; i < COROSYNC_CONF_MAX_LINKS; i++)
		pvecm_link_clear(&a->links[i]);
}

static int addnode_options(const pvecm_cli_call_t *call, addnode_t *a)
{
	g_autoptr(GError) err = NULL;
	/* As the reference: a caller that does not say speaks version 0. */
	gint64 api = pvecm_cli_int(call, "apiversion", 0);

	if (api < PVECM_API_VERSION - PVECM_API_AGE_AS_CLUSTER)
		return pvecm_cli_fail("addnode", PVECM_EXIT_FAILED,
				      "the joining node speaks join API version %" G_GINT64_FORMAT
				      ", this node %d and versions from %d on - upgrade pvecm on "
				      "the joining node",
				      api, PVECM_API_VERSION,
				      PVECM_API_VERSION - PVECM_API_AGE_AS_CLUSTER);
	a->name = pvecm_cli_arg(call, 0);
	if (!nodeinfo_check_name("node", a->name, NODEINFO_NAME_MAX, &err))
		return pvecm_cli_fail("addnode", PVECM_EXIT_FAILED, "%s", err->message);
	a->nodeid = (uint32_t)pvecm_cli_int(call, "nodeid", 0);
	a->votes = (uint32_t)pvecm_cli_int(call, "votes", 1);
	a->force = pvecm_cli_flag(call, "force", false);
	if (!pvecm_link_parse_opts(call, a->links, &err))
		return pvecm_cli_fail("addnode", PVECM_EXIT_FAILED, "%s", err->message);
	if (!a->links[0].addr)
		return pvecm_cli_fail("addnode", PVECM_EXIT_FAILED,
				      "no --link0 given - give the new node's address on link 0");
	return PVECM_EXIT_OK;
}

/* The links of the new node must be the cluster's (corosync needs the
 * same set on every node) at addresses no other node uses. */
static int addnode_check_links(const addnode_t *a, GPtrArray *nodes)
{
	for (guint i = 0; i < nodes->len; i++) {
		const corosync_conf_node_t *n = nodes->pdata[i];
		for (unsigned l = 0; l < COROSYNC_CONF_MAX_LINKS; l++) {
			if (!n->addr[l] != !a->links[l].addr)
				return pvecm_cli_fail(
				    "addnode", PVECM_EXIT_FAILED,
				    "the cluster %s link %u but the new node %s - give "
				    "exactly the links of node '%s'",
				    n->addr[l] ? "uses" : "does not use", l,
				    a->links[l].addr ? "has it" : "does not",
				    n->name ? n->name : "?");
			if (n->addr[l] && g_strcmp0(n->addr[l], a->links[l].addr) == 0)
				return pvecm_cli_fail(
				    "addnode", PVECM_EXIT_FAILED,
				    "address %s of link %u is already used by node '%s'",
				    n->addr[l], l, n->name ? n->name : "?");
		}
	}
	return PVECM_EXIT_OK;
}

static int addnode_pick_nodeid(addnode_t *a, GPtrArray *nodes)
{
	for (guint i = 0; i < nodes->len; i++) {
		const corosync_conf_node_t *n = nodes->pdata[i];
		if (a->nodeid && n->nodeid == a->nodeid)
			return pvecm_cli_fail(
			    "addnode", PVECM_EXIT_FAILED,
			    "node ID %u is already used by node '%s' - choose another "
			    "--nodeid or leave it out",
			    a->nodeid, n->name ? n->name : "?");
	}
	for (uint32_t id = 1; !a->nodeid; id++) {
		bool used = false;
		for (guint i = 0; i < nodes->len && !used; i++)
			used = ((corosync_conf_node_t *)nodes->pdata[i])->nodeid == id;
		if (!used)
			a->nodeid = id;
	}
	return PVECM_EXIT_OK;
}

static void addnode_append(const addnode_t *a, corosync_conf_t *conf)
{
	corosync_conf_item_t *list = corosync_conf_find_section(conf->root, "nodelist");
	corosync_conf_item_t *node;
	char num[16];

	if (!list)
		list = corosync_conf_add_section(conf->root, "nodelist");
	node = corosync_conf_add_section(list, "node");
	corosync_conf_set_value(node, "name", a->name);
	g_snprintf(num, sizeof(num), "%u", a->nodeid);
	corosync_conf_set_value(node, "nodeid", num);
	g_snprintf(num, sizeof(num), "%u", a->votes);
	corosync_conf_set_value(node, "quorum_votes", num);
	for (unsigned l = 0; l < COROSYNC_CONF_MAX_LINKS; l++) {
		if (!a->links[l].addr)
			continue;
		g_autofree char *key = g_strdup_printf("ring%u_addr", l);
		corosync_conf_set_value(node, key, a->links[l].addr);
	}
}

/* Under the lock: the checks against the current nodelist, then the new
 * node and config_version + 1. */
static int addnode_locked(addnode_t *a, const char *path)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(corosync_conf_t) conf = load_conf(path, &err);
	g_autoptr(GPtrArray) nodes = NULL;
	corosync_conf_node_t *old;
	int rc;

	if (!conf)
		return pvecm_cli_fail("addnode", PVECM_EXIT_FAILED, "%s", err->message);
	if (pvecm_qdevice_conf_has_device(conf))
		return pvecm_cli_fail("addnode", PVECM_EXIT_FAILED, PVECM_QDEVICE_NODES_ADVICE);
	nodes = corosync_conf_nodes(conf);
	old = corosync_conf_find_node(nodes, a->name);
	if (old && !a->force)
		return pvecm_cli_fail(
		    "addnode", PVECM_EXIT_FAILED,
		    "node '%s' is already defined (nodeid %u) - remove it with 'pvecm "
		    "delnode %s' first, or use --force to replace it",
		    a->name, old->nodeid, a->name);
	if (old) {
		corosync_conf_remove_item(corosync_conf_find_section(conf->root, "nodelist"),
					  old->item);
		g_ptr_array_remove(nodes, old);
	}
	if ((rc = addnode_check_links(a, nodes)) != PVECM_EXIT_OK ||
	    (rc = addnode_pick_nodeid(a, nodes)) != PVECM_EXIT_OK)
		return rc;
	addnode_append(a, conf);
	if (!pvecm_conflock_save_next(conf, path, &err))
		return pvecm_cli_fail("addnode", PVECM_EXIT_FAILED, "%s", err->message);
	printf("Added node '%s' (nodeid %u) to %s, config_version %" G_GUINT64_FORMAT "\n", a->name,
	       a->nodeid, path, corosync_conf_version(conf));
	return PVECM_EXIT_OK;
}

int pvecm_addnode_run(const pvecm_cli_call_t *call)
{
	addnode_t a = {0};
	pvecm_daemon_status_t st = {0};
	g_autoptr(GError) err = NULL;
	g_autofree char *path = pvecm_env_cluster_conf();
	char *lock = NULL;
	int rc;

	rc = addnode_options(call, &a);
	if (rc == PVECM_EXIT_OK)
		rc = require_quorate_cluster("addnode", &st);
	if (rc == PVECM_EXIT_OK && !(lock = pvecm_conflock_take("addnode", &err)))
		rc = pvecm_cli_fail("addnode", PVECM_EXIT_FAILED, "%s", err->message);
	if (rc == PVECM_EXIT_OK)
		rc = addnode_locked(&a, path);
	pvecm_conflock_release("addnode", lock);
	pvecm_daemon_status_clear(&st);
	addnode_clear(&a);
	return rc;
}

/* ---------------------------------------------------------------- delnode */

/* A node still in corosync's membership would come back with its old
 * configuration: the manual says to power it off first. */
static int delnode_check_offline(const corosync_conf_node_t *n)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(pvecm_quorum_t) q = pvecm_quorum_read(0, &err);

	if (!q)
		return pvecm_cli_fail("delnode", PVECM_EXIT_NOT_READY, "%s", err->message);
	for (guint i = 0; i < q->members->len; i++) {
		const pvecm_quorum_member_t *m = q->members->pdata[i];
		if (m->nodeid == n->nodeid)
			return pvecm_cli_fail(
			    "delnode", PVECM_EXIT_FAILED,
			    "node '%s' (nodeid %u) is online - power it off first, and "
			    "make sure it never comes back as it is",
			    n->name, n->nodeid);
	}
	return PVECM_EXIT_OK;
}

/* A node is named by its name, or by its address on any link. */
static corosync_conf_node_t *find_node_or_addr(GPtrArray *nodes, const char *what)
{
	corosync_conf_node_t *n = corosync_conf_find_node(nodes, what);

	for (guint i = 0; !n && i < nodes->len; i++) {
		corosync_conf_node_t *c = nodes->pdata[i];
		for (unsigned l = 0; l < COROSYNC_CONF_MAX_LINKS && !n; l++)
			if (g_strcmp0(c->addr[l], what) == 0)
				n = c;
	}
	return n;
}

/* Removes the node's directory from /etc/pve, deepest entries first. */
/* Removes the entry NAME and what it holds, never following a symbolic link:
 * a link is removed as a link, whatever it points to. Entries come from
 * dirfd PARENT. */
static bool remove_at(int parent, const char *name, const char *path, GError **err)
{
	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return true;
	if (errno != EISDIR && errno != EPERM) {
		g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno), "cannot remove %s: %s",
			    path, g_strerror(errno));
		return false;
	}
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	if (!d) {
		g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno), "cannot open %s: %s",
			    path, g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return false;
	}
	struct dirent *de;
	bool ok = true;
	while (ok && (de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		g_autofree char *child = g_build_filename(path, de->d_name, NULL);
		ok = remove_at(dirfd(d), de->d_name, child, err);
	}
	closedir(d);
	if (ok && unlinkat(parent, name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
		g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno), "cannot remove %s: %s",
			    path, g_strerror(errno));
		ok = false;
	}
	return ok;
}

/* Removes nodes/NAME and what it holds, and nothing outside it: NAME is
 * one path component by the name rule, checked again here. */
static bool remove_node_dir(const char *name, GError **err)
{
	g_autofree char *nodes = g_build_filename(pvecm_env_pve_dir(), "nodes", NULL);
	g_autofree char *path = g_build_filename(nodes, name, NULL);

	if (!nodeinfo_check_name("node", name, NODEINFO_NAME_MAX, err))
		return false;
	int fd = open(nodes, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno), "cannot open %s: %s",
			    nodes, g_strerror(errno));
		return false;
	}
	bool ok = remove_at(fd, name, path, err);
	close(fd);
	return ok;
}

/* Guests configured on the node would vanish cluster-wide with its
 * directory: refused, naming them, unless forced. */
static int delnode_check_guests(const char *name, bool force)
{
	g_autoptr(GPtrArray) guests = pvecm_nodedir_guests(pvecm_env_pve_dir(), name);
	g_autoptr(GString) list = g_string_new(NULL);

	if (guests->len == 0 || force)
		return PVECM_EXIT_OK;
	for (guint i = 0; i < guests->len; i++)
		g_string_append_printf(list, "%s%s/%s", i ? ", " : "", pvecm_env_pve_dir(),
				       (const char *)guests->pdata[i]);
	return pvecm_cli_fail("delnode", PVECM_EXIT_FAILED,
			      "node '%s' still holds guest configurations: %s - move each to the "
			      "same directory of another node (mv %s/nodes/%s/qemu-server/ID.conf "
			      "%s/nodes/OTHER/qemu-server/), or use --force to remove the node "
			      "anyway with a backup of its directory; nothing changed",
			      name, list->str, pvecm_env_pve_dir(), name, pvecm_env_pve_dir());
}

/* The node's per-node lock (the HA agent's, as the reference names it). */
static bool remove_node_locks(const char *name, GError **err)
{
	g_autofree char *leaf = g_strdup_printf("ha_agent_%s_lock", name);
	g_autofree char *path = g_build_filename(pvecm_env_pve_dir(), "priv", "lock", leaf, NULL);

	if (rmdir(path) == 0 || errno == ENOENT)
		return true;
	g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno), "cannot remove %s: %s", path,
		    g_strerror(errno));
	return false;
}

/* Everything of the node in /etc/pve but its corosync.conf entry: its
 * directory, its lines in the cluster's SSH files, its lock. */
static bool forget_node(const char *name, GStrv addrs, GError **err)
{
	return remove_node_dir(name, err) &&
	       pvecm_certs_forget_node(pvecm_env_pve_dir(), name, (const char *const *)addrs,
				       err) &&
	       remove_node_locks(name, err);
}

static int delnode_locked(const char *what, const char *self, const char *path, bool force)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(corosync_conf_t) conf = load_conf(path, &err);
	g_autoptr(GPtrArray) nodes = NULL;
	g_autoptr(GStrvBuilder) addrs = g_strv_builder_new();
	g_autofree char *backup = NULL;
	corosync_conf_node_t *n;
	int rc;

	if (!conf)
		return pvecm_cli_fail("delnode", PVECM_EXIT_FAILED, "%s", err->message);
	if (pvecm_qdevice_conf_has_device(conf))
		return pvecm_cli_fail("delnode", PVECM_EXIT_FAILED, PVECM_QDEVICE_NODES_ADVICE);
	nodes = corosync_conf_nodes(conf);
	n = find_node_or_addr(nodes, what);
	if (!n)
		return pvecm_cli_fail("delnode", PVECM_EXIT_FAILED,
				      "Node/IP: %s is not a known host of the cluster.", what);
	if (g_strcmp0(n->name, self) == 0)
		return pvecm_cli_fail(
		    "delnode", PVECM_EXIT_FAILED,
		    "Cannot delete myself from cluster! - run it on another node");
	if ((rc = delnode_check_offline(n)) != PVECM_EXIT_OK)
		return rc;
	if ((rc = delnode_check_guests(n->name, force)) != PVECM_EXIT_OK)
		return rc;
	g_autofree char *bdir = g_path_get_dirname(pvecm_env_database());
	g_autofree char *broot = g_build_filename(bdir, PVECM_NODEDIR_BACKUP_DIR, NULL);
	g_autofree char *ndir = g_build_filename(pvecm_env_pve_dir(), "nodes", n->name, NULL);
	if (force && g_file_test(ndir, G_FILE_TEST_IS_DIR) &&
	    !(backup = pvecm_nodedir_backup(pvecm_env_pve_dir(), n->name, broot, &err)))
		return pvecm_cli_fail("delnode", PVECM_EXIT_FAILED, "%s - nothing changed",
				      err->message);

	g_autofree char *name = g_strdup(n->name);
	for (unsigned l = 0; l < COROSYNC_CONF_MAX_LINKS; l++)
		if (n->addr[l])
			g_strv_builder_add(addrs, n->addr[l]);
	g_auto(GStrv) addrv = g_strv_builder_end(addrs);
	corosync_conf_remove_item(corosync_conf_find_section(conf->root, "nodelist"), n->item);
	if (!pvecm_conflock_save_next(conf, path, &err))
		return pvecm_cli_fail("delnode", PVECM_EXIT_FAILED, "%s", err->message);

	/* The node is out of the cluster now; what is left is its files. */
	if (!forget_node(name, addrv, &err))
		return pvecm_cli_fail(
		    "delnode", PVECM_EXIT_FAILED,
		    "node '%s' was removed from corosync.conf, but %s - remove the "
		    "rest of it by hand (%s/nodes/%s, its lines in "
		    "%s/priv/authorized_keys and known_hosts)",
		    name, err->message, pvecm_env_pve_dir(), name, pvecm_env_pve_dir());
	if (backup)
		printf("node '%s' removed; its directory %s/nodes/%s was moved to %s\n", name,
		       pvecm_env_pve_dir(), name, backup);
	return PVECM_EXIT_OK;
}

int pvecm_delnode_run(const pvecm_cli_call_t *call)
{
	pvecm_daemon_status_t st = {0};
	g_autoptr(GError) err = NULL;
	g_autofree char *path = pvecm_env_cluster_conf();
	char *lock = NULL;
	int rc;

	rc = require_quorate_cluster("delnode", &st);
	if (rc == PVECM_EXIT_OK && !(lock = pvecm_conflock_take("delnode", &err)))
		rc = pvecm_cli_fail("delnode", PVECM_EXIT_FAILED, "%s", err->message);
	if (rc == PVECM_EXIT_OK)
		rc = delnode_locked(pvecm_cli_arg(call, 0), st.nodename, path,
				    pvecm_cli_flag(call, "force", false));
	pvecm_conflock_release("delnode", lock);
	pvecm_daemon_status_clear(&st);
	return rc;
}
