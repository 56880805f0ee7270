#include "pvecm_create.h"

#include "corosync_conf.h"
#include "fileio.h"
#include "nodeinfo.h"
#include "pvecm_authkey.h"
#include "pvecm_certs.h"
#include "pvecm_daemon.h"
#include "pvecm_env.h"
#include "pvecm_link.h"
#include "pvecm_nodelist.h"
#include "pvecm_service.h"

#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The cluster's corosync.conf in /etc/pve, as pmxcfsd serves files. */
#define CLUSTER_CONF_MODE 0640
/* corosync's own copy, as corosync's packaging installs it. */
#define LOCAL_CONF_MODE 0644

const pvecm_cli_arg_t pvecm_create_args[] = {
    {.name = "clustername", .description = "The name of the cluster."},
    {.name = NULL},
};

const pvecm_cli_opt_t pvecm_create_opts[] = {
    PVECM_LINK_CLI_OPT,
    {"nodeid", PVECM_CLI_INTEGER, .min = 1, .max = G_MAXINT32,
     .description = "Node id for this node."},
    {"votes", PVECM_CLI_INTEGER, .min = 1, .max = G_MAXINT32,
     .description = "Number of votes for this node."},
    {"token-coefficient", PVECM_CLI_INTEGER, .min = 0, .max = G_MAXINT32,
     .default_text = G_STRINGIFY(PVECM_TOKEN_COEFFICIENT_DEFAULT),
     .description = "Milliseconds corosync adds to the token timeout for every node past two "
		    "(totem.token_coefficient)."},
    {.name = NULL},
};

typedef struct {
	const char *clustername;
	char *nodename;
	uint32_t nodeid, votes;
	uint64_t token_coefficient;
	pvecm_link_t links[COROSYNC_CONF_MAX_LINKS]; /* addr NULL: not used */

	char *pve_conf;	  /* /etc/pve/corosync.conf */
	char *local_conf; /* /etc/corosync/corosync.conf */
	char *authkey;

	/* What was there before, to be put back if a step fails. */
	char *old_local;
	gsize old_local_len;
	bool wrote_authkey, wrote_pve_conf, wrote_local_conf, started_corosync;
} create_t;

static void create_clear(create_t *c)
{
	for (unsigned i = 0; i < COROSYNC_CONF_MAX_LINKS; i++)
		pvecm_link_clear(&c->links[i]);
	g_free(c->nodename);
	g_free(c->pve_conf);
	g_free(c->local_conf);
	g_free(c->authkey);
	g_free(c->old_local);
}

#define fail(...) pvecm_cli_fail("create", PVECM_EXIT_FAILED, __VA_ARGS__)

static int read_options(const pvecm_cli_call_t *call, create_t *c)
{
	g_autoptr(GError) err = NULL;

	c->clustername = pvecm_cli_arg(call, 0);
	if (!nodeinfo_check_name("cluster", c->clustername, PVECM_CLUSTER_NAME_MAX, &err))
		return fail("%s", err->message);
	c->nodeid = (uint32_t)pvecm_cli_int(call, "nodeid", 1);
	c->votes = (uint32_t)pvecm_cli_int(call, "votes", 1);
	c->token_coefficient =
	    (uint64_t)pvecm_cli_int(call, "token-coefficient", PVECM_TOKEN_COEFFICIENT_DEFAULT);
	if (!pvecm_link_parse_opts(call, c->links, &err))
		return fail("%s", err->message);
	return PVECM_EXIT_OK;
}

/* Refuses a node that is in a cluster already, changing nothing. */
static int check_node(create_t *c)
{
	pvecm_daemon_status_t st;
	int rc = pvecm_daemon_status(&st, true);

	if (rc != PVECM_EXIT_OK)
		return rc;
	c->nodename = g_steal_pointer(&st.nodename);
	bool cluster = st.cluster;
	pvecm_daemon_status_clear(&st);

	c->pve_conf = pvecm_env_cluster_conf();
	c->local_conf = pvecm_env_corosync_conf();
	c->authkey = pvecm_env_authkey();
	if (access(c->pve_conf, F_OK) == 0)
		return fail("cluster config '%s' already exists - this node is in a cluster",
			    c->pve_conf);
	if (cluster)
		return fail("this node is already in a cluster (pmxcfsd runs in cluster mode)");
	if (access(c->authkey, F_OK) == 0)
		return fail("corosync authkey '%s' already exists - this node was set up for a "
			    "cluster; if it is left over, remove it and %s first",
			    c->authkey, c->local_conf);
	return PVECM_EXIT_OK;
}

/* Without --link0 the cluster talks over the address the node's name
 * resolves to, as the node is known on the network. */
static int default_link(create_t *c)
{
	g_autoptr(GError) err = NULL;

	if (c->links[0].addr)
		return PVECM_EXIT_OK;
	c->links[0].addr = nodeinfo_resolve(c->nodename, &err);
	if (!c->links[0].addr)
		return fail("%s", err->message);
	printf("No --link0 given: using %s, the address of node name '%s'\n", c->links[0].addr,
	       c->nodename);
	return PVECM_EXIT_OK;
}

static void set_uint(corosync_conf_item_t *section, const char *key, uint64_t value)
{
	g_autofree char *v = g_strdup_printf("%" G_GUINT64_FORMAT, value);
	corosync_conf_set_value(section, key, v);
}

/* The layout the reference writes: logging, nodelist, quorum, totem. */
static corosync_conf_t *build_conf(const create_t *c)
{
	corosync_conf_t *conf = corosync_conf_new();
	corosync_conf_item_t *root = conf->root, *s, *node;

	s = corosync_conf_add_section(root, "logging");
	corosync_conf_set_value(s, "debug", "off");
	corosync_conf_set_value(s, "to_syslog", "yes");

	s = corosync_conf_add_section(root, "nodelist");
	node = corosync_conf_add_section(s, "node");
	corosync_conf_set_value(node, "name", c->nodename);
	set_uint(node, "nodeid", c->nodeid);
	set_uint(node, "quorum_votes", c->votes);
	for (unsigned i = 0; i < COROSYNC_CONF_MAX_LINKS; i++) {
		if (!c->links[i].addr)
			continue;
		g_autofree char *key = g_strdup_printf("ring%u_addr", i);
		corosync_conf_set_value(node, key, c->links[i].addr);
	}

	s = corosync_conf_add_section(root, "quorum");
	corosync_conf_set_value(s, "provider", "corosync_votequorum");

	s = corosync_conf_add_section(root, "totem");
	corosync_conf_set_value(s, "cluster_name", c->clustername);
	corosync_conf_set_value(s, "config_version", "1");
	for (unsigned i = 0; i < COROSYNC_CONF_MAX_LINKS; i++) {
		if (!c->links[i].addr)
			continue;
		corosync_conf_item_t *iface = corosync_conf_add_section(s, "interface");
		if (c->links[i].has_priority)
			set_uint(iface, "knet_link_priority", c->links[i].priority);
		set_uint(iface, "linknumber", i);
	}
	corosync_conf_set_value(s, "ip_version", "ipv4-6");
	corosync_conf_set_value(s, "link_mode", "passive");
	corosync_conf_set_value(s, "secauth", "on");
	set_uint(s, "token_coefficient", c->token_coefficient);
	corosync_conf_set_value(s, "version", "2");
	return conf;
}

/* Puts back what create changed, in reverse order, as far as it can;
 * says what it could not. */
static void undo(create_t *c)
{
	g_autoptr(GError) err = NULL;

	if (c->started_corosync && !pvecm_service("stop", PVECM_UNIT_COROSYNC, &err)) {
		fprintf(stderr, "pvecm create: while undoing: %s - stop corosync by hand\n",
			err->message);
		g_clear_error(&err);
	}
	if (c->wrote_local_conf &&
	    !fileio_restore(c->local_conf, c->old_local, c->old_local_len, LOCAL_CONF_MODE, &err)) {
		fprintf(stderr, "pvecm create: while undoing: %s\n", err->message);
		g_clear_error(&err);
	}
	if (c->wrote_pve_conf && !fileio_restore(c->pve_conf, NULL, 0, 0, &err)) {
		fprintf(stderr, "pvecm create: while undoing: %s\n", err->message);
		g_clear_error(&err);
	}
	if (c->wrote_authkey && !fileio_restore(c->authkey, NULL, 0, 0, &err))
		fprintf(stderr, "pvecm create: while undoing: %s\n", err->message);
}

static int write_files(create_t *c, const corosync_conf_t *conf)
{
	g_autoptr(GError) err = NULL;

	g_autofree char *cs_dir = g_path_get_dirname(c->authkey);

	/* A node where the corosync package was never configured may lack
	 * its directory; a missing directory for `pvecm keygen` is the
	 * admin's typo and is refused there. */
	if (g_mkdir_with_parents(cs_dir, 0755) < 0)
		return fail("cannot create %s: %s", cs_dir, g_strerror(errno));
	printf("Writing corosync key to %s\n", c->authkey);
	if (!pvecm_authkey_create(c->authkey, &err))
		return fail("%s", err->message);
	c->wrote_authkey = true;

	printf("Writing corosync config to %s\n", c->pve_conf);
	if (!corosync_conf_save(conf, c->pve_conf, CLUSTER_CONF_MODE, &err))
		return fail("%s", err->message);
	c->wrote_pve_conf = true;

	/* corosync's package may have installed an example configuration
	 * there; it is kept to be put back if create fails. */
	/* Left NULL when there is none: undo then removes what create wrote. */
	g_file_get_contents(c->local_conf, &c->old_local, &c->old_local_len, NULL);
	if (!corosync_conf_save(conf, c->local_conf, LOCAL_CONF_MODE, &err))
		return fail("%s", err->message);
	c->wrote_local_conf = true;
	return PVECM_EXIT_OK;
}

static int start_cluster(create_t *c)
{
	g_autoptr(GError) err = NULL;

	printf("Restart corosync and cluster filesystem\n");
	fflush(stdout);
	/* restart, not start: corosync may run with the package's example. */
	c->started_corosync = true;
	if (!pvecm_service("restart", PVECM_UNIT_COROSYNC, &err))
		return fail("%s - see 'journalctl -u corosync'", err->message);
	/* pmxcfsd decides its mode when it starts: with the cluster's
	 * corosync.conf in its tree it now joins the group. */
	if (!pvecm_service("restart", PVECM_UNIT_PMXCFSD, &err)) {
		fprintf(stderr,
			"pvecm create: %s - the cluster is configured and corosync runs, but "
			"/etc/pve may not be mounted: see 'journalctl -u pmxcfsd', then run '%s "
			"start pmxcfsd'\n",
			err->message, pvecm_env_service_cmd());
		return PVECM_EXIT_NOT_READY;
	}
	return PVECM_EXIT_OK;
}

int pvecm_create_run(const pvecm_cli_call_t *call)
{
	create_t c = {0};
	g_autoptr(corosync_conf_t) conf = NULL;
	g_autoptr(GError) err = NULL;
	int rc;

	rc = read_options(call, &c);
	if (rc == PVECM_EXIT_OK)
		rc = check_node(&c);
	if (rc == PVECM_EXIT_OK)
		rc = default_link(&c);
	if (rc != PVECM_EXIT_OK)
		goto out;
	conf = build_conf(&c);
	if (!corosync_conf_validate(conf, c.pve_conf, &err)) {
		rc = fail("%s", err->message);
		goto out;
	}
	rc = write_files(&c, conf);
	if (rc == PVECM_EXIT_OK) {
		rc = start_cluster(&c);
		if (rc == PVECM_EXIT_NOT_READY)
			goto out; /* past the point of undoing: said what to do */
	}
	if (rc != PVECM_EXIT_OK) {
		undo(&c);
		fprintf(stderr, "pvecm create: nothing changed: the files written were removed\n");
		goto out;
	}
	printf("Waiting for quorum...");
	fflush(stdout);
	if (!pvecm_daemon_wait_cluster(PVECM_CREATE_QUORUM_TIMEOUT_S)) {
		printf("\n");
		fprintf(stderr,
			"pvecm create: cluster '%s' is configured, but /etc/pve is not writable "
			"in cluster mode after %d s - check '%s is-active corosync', 'pvecm "
			"status' and 'journalctl -u pmxcfsd'\n",
			c.clustername, PVECM_CREATE_QUORUM_TIMEOUT_S, pvecm_env_service_cmd());
		rc = PVECM_EXIT_NOT_READY;
		goto out;
	}
	printf(" OK\n");
	if (!pvecm_certs_update(false, &err)) {
		fprintf(stderr,
			"pvecm create: cluster '%s' is created, but its certificates and SSH keys "
			"are not set up: %s - run 'pvecm updatecerts'\n",
			c.clustername, err->message);
		rc = PVECM_EXIT_FAILED;
		goto out;
	}
	printf("Cluster '%s' created: node '%s' (nodeid %u)\n", c.clustername, c.nodename,
	       c.nodeid);
out:
	create_clear(&c);
	return rc;
}
