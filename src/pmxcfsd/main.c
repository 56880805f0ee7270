/* pmxcfsd: serves the cluster configuration file system at /etc/pve. */
#include "clusterlog.h"
#include "confsync.h"
#include "control.h"
#include "dbstore.h"
#include "fusefs.h"
#include "import.h"
#include "log.h"
#include "memdb.h"
#include "mountguard.h"
#include "nodeinfo.h"
#include "proto.h"
#include "replica.h"
#include "treebind.h"
#include "vfiles.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <glib-unix.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MOUNTPOINT "/etc/pve"
#define DEFAULT_DATABASE "/var/lib/pve-cluster/config.db"
#define DEFAULT_SOCKET "/run/pmxcfsd/pmxcfsd.sock"
#define DEFAULT_PIDFILE "/run/pmxcfsd/pmxcfsd.pid"
#define DEFAULT_COROSYNC_CONF "/etc/corosync/corosync.conf"
/* corosync's key, beside its corosync.conf */
#define COROSYNC_AUTHKEY_NAME "authkey"
/* The cluster's corosync.conf, relative to the root of the tree. */
#define CLUSTER_CONF_NAME "corosync.conf"
/* Local changes are recorded as written by node 0 until the node has a
 * cluster node id. */
#define LOCAL_NODEID 0

typedef struct {
	gboolean foreground;
	gboolean debug;
	gboolean local;
	char *mountpoint;
	char *database;
	char *socket;
	char *pidfile;
	char *corosync_conf;
	int control_idle_timeout;
	char *import;
	gboolean dry_run;
} options_t;

typedef struct {
	options_t opt;
	char *nodename;
	char *ip;
	time_t starttime;
	int pidfd;
	/* In a cluster: not -l, and a corosync.conf exists (local or in the
	 * tree). A node that is not in one yet serves in local mode, so that
	 * a standalone node's /etc/pve is writable, as in the reference. */
	bool cluster;
	confsync_t *confsync;	    /* cluster mode only */
	uint64_t cluster_conf_seen; /* version of the tree's corosync.conf last handed over */
	memdb_t *mdb;
	clusterlog_t *clog;
	vfiles_t *vfiles;
	treebind_t *tree;   /* cluster mode only: the tree as the replica sees it */
	replica_t *replica; /* cluster mode only */
	fusefs_t *fs;
	control_t *ctl;
	GMainLoop *loop;
} daemon_t;

static const char *mode_name(const daemon_t *d)
{
	return d->cluster ? "cluster" : "local";
}

static int cmd_status(void *ctx, GVariant *request, GVariant **reply)
{
	daemon_t *d = ctx;
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE(PROTO_STATUS_REPLY_TYPE));
	g_variant_builder_add(&b, "{sv}", "nodename", g_variant_new_string(d->nodename));
	g_variant_builder_add(&b, "{sv}", "mode", g_variant_new_string(mode_name(d)));
	g_variant_builder_add(&b, "{sv}", "pid", g_variant_new_uint32((uint32_t)getpid()));
	g_variant_builder_add(&b, "{sv}", "starttime",
			      g_variant_new_uint64((uint64_t)d->starttime));
	g_variant_builder_add(&b, "{sv}", "version", g_variant_new_uint64(memdb_version(d->mdb)));
	/* Outside a cluster this node alone decides. */
	bool quorate = true;
	if (d->replica) {
		replica_status_t st;
		replica_status(d->replica, &st);
		quorate = st.writable;
		g_variant_builder_add(&b, "{sv}", "nodeid", g_variant_new_uint32(st.nodeid));
		g_variant_builder_add(&b, "{sv}", "members", g_variant_new_uint32(st.members));
		g_variant_builder_add(&b, "{sv}", "synced", g_variant_new_boolean(st.synced));
		g_variant_builder_add(&b, "{sv}", "syncs", g_variant_new_uint64(st.syncs));
	}
	g_variant_builder_add(&b, "{sv}", "quorate", g_variant_new_boolean(quorate));
	*reply = g_variant_builder_end(&b);
	return 0;
}

static int cmd_set_debug(void *ctx, GVariant *request, GVariant **reply)
{
	gboolean on;

	g_variant_get(request, "(b)", &on);
	log_set_debug(on);
	log_notice("debug logging %s", on ? "enabled" : "disabled");
	*reply = g_variant_new("()");
	return 0;
}

static const control_cmd_t commands[] = {
    {PROTO_CMD_STATUS, "status", PROTO_STATUS_REQUEST_TYPE, 64, cmd_status},
    {PROTO_CMD_SET_DEBUG, "set-debug", PROTO_SET_DEBUG_REQUEST_TYPE, 64, cmd_set_debug},
};

static void daemon_clear(daemon_t *d)
{
	g_free(d->nodename);
	g_free(d->ip);
	g_free(d->opt.mountpoint);
	g_free(d->opt.database);
	g_free(d->opt.socket);
	g_free(d->opt.pidfile);
	g_free(d->opt.corosync_conf);
	g_free(d->opt.import);
}

static bool parse_options(int argc, char **argv, options_t *o)
{
	GOptionEntry entries[] = {
	    {"foreground", 'f', 0, G_OPTION_ARG_NONE, &o->foreground,
	     "Do not daemonize; log to stderr too", NULL},
	    {"debug", 'd', 0, G_OPTION_ARG_NONE, &o->debug, "Turn on debug messages", NULL},
	    {"local", 'l', 0, G_OPTION_ARG_NONE, &o->local,
	     "Local mode: ignore corosync, always writable", NULL},
	    {"mountpoint", 0, 0, G_OPTION_ARG_FILENAME, &o->mountpoint,
	     "Where to mount (default " DEFAULT_MOUNTPOINT ")", "DIR"},
	    {"database", 0, 0, G_OPTION_ARG_FILENAME, &o->database,
	     "The database (default " DEFAULT_DATABASE ")", "FILE"},
	    {"socket", 0, 0, G_OPTION_ARG_FILENAME, &o->socket,
	     "Control socket (default " DEFAULT_SOCKET ")", "PATH"},
	    {"pidfile", 0, 0, G_OPTION_ARG_FILENAME, &o->pidfile,
	     "PID file (default " DEFAULT_PIDFILE ")", "PATH"},
	    {"corosync-conf", 0, 0, G_OPTION_ARG_FILENAME, &o->corosync_conf,
	     "corosync's own copy of the cluster configuration (default " DEFAULT_COROSYNC_CONF ")",
	     "FILE"},
	    {"control-idle-timeout", 0, 0, G_OPTION_ARG_INT, &o->control_idle_timeout,
	     "Close control connections idle this long (default 30)", "SECONDS"},
	    {"import", 0, 0, G_OPTION_ARG_FILENAME, &o->import,
	     "Make the database of Proxmox's pmxcfs FILE the database (--database), then exit",
	     "FILE"},
	    {"dry-run", 0, 0, G_OPTION_ARG_NONE, &o->dry_run,
	     "With --import: check and report, write nothing", NULL},
	    {NULL, 0, 0, 0, NULL, NULL, NULL},
	};
	g_autoptr(GOptionContext) ctx =
	    g_option_context_new("- the cluster configuration file system");
	g_autoptr(GError) err = NULL;

	g_option_context_add_main_entries(ctx, entries, NULL);
	if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc > 1) {
		fprintf(stderr, "pmxcfsd: %s (see 'pmxcfsd --help')\n",
			err ? err->message : "unexpected argument");
		return false;
	}
	if (o->dry_run && !o->import) {
		fprintf(stderr, "pmxcfsd: --dry-run goes with --import FILE\n");
		return false;
	}
	if (o->control_idle_timeout < 0) {
		fprintf(stderr,
			"pmxcfsd: --control-idle-timeout must be 0 or more seconds, not %d\n",
			o->control_idle_timeout);
		return false;
	}
	if (!o->mountpoint)
		o->mountpoint = g_strdup(DEFAULT_MOUNTPOINT);
	if (!o->database)
		o->database = g_strdup(DEFAULT_DATABASE);
	if (!o->socket)
		o->socket = g_strdup(DEFAULT_SOCKET);
	if (!o->pidfile)
		o->pidfile = g_strdup(DEFAULT_PIDFILE);
	if (!o->corosync_conf)
		o->corosync_conf = g_strdup(DEFAULT_COROSYNC_CONF);
	return true;
}

/* One instance per node: the PID file is locked for the daemon's lifetime. */
static bool lock_pidfile(daemon_t *d, GError **err)
{
	g_autofree char *dir = g_path_get_dirname(d->opt.pidfile);
	char buf[32];

	if (g_mkdir_with_parents(dir, 0755) < 0) {
		g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", dir,
			    g_strerror(errno));
		return false;
	}
	d->pidfd = open(d->opt.pidfile, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (d->pidfd < 0) {
		g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s",
			    d->opt.pidfile, g_strerror(errno));
		return false;
	}
	if (flock(d->pidfd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = read(d->pidfd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		g_strchomp(buf);
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_EXIST,
			    "pmxcfsd is already running (pid %s, %s)", *buf ? buf : "?",
			    d->opt.pidfile);
		close(d->pidfd);
		d->pidfd = -1;
		return false;
	}
	int len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(d->pidfd, 0) < 0 || pwrite(d->pidfd, buf, (size_t)len, 0) != len) {
		g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s",
			    d->opt.pidfile, g_strerror(errno));
		return false;
	}
	return true;
}

static void unlock_pidfile(daemon_t *d)
{
	if (d->pidfd < 0)
		return;
	unlink(d->opt.pidfile);
	close(d->pidfd);
	d->pidfd = -1;
}

static void print_import_report(const import_t *imp, const char *source)
{
	const GPtrArray *notes = import_notes(imp);
	const GPtrArray *refused = import_refusals(imp);
	import_counts_t c;

	import_get_counts(imp, &c);
	printf("%s: the tree of Proxmox's pmxcfs, version %" PRIu64 "\n", source, c.source_version);
	for (guint i = 0; i < notes->len; i++)
		printf("note: %s\n", (const char *)notes->pdata[i]);
	for (guint i = 0; i < refused->len; i++)
		printf("refused: %s\n", (const char *)refused->pdata[i]);
	printf("taken: %" PRIu64 " directories, %" PRIu64 " files (%" PRIu64
	       " bytes); refused: %" PRIu64 " rows; version %" PRIu64 "\n",
	       c.dirs, c.files, c.bytes, c.refused, c.version);
}

/* Something serves the mount point: the reference's pmxcfs, or a pmxcfsd
 * with a pid file of its own, which may be writing the source. A mount
 * left dead by a killed daemon (ENOTCONN) serves nothing. */
static bool mountpoint_served(const char *mp)
{
	g_autofree char *parent = g_path_get_dirname(mp);
	struct stat st, pst;

	return stat(mp, &st) == 0 && stat(parent, &pst) == 0 && st.st_dev != pst.st_dev;
}

/* --import: with no daemon running on this node (the pid file's lock is
 * held throughout, so none starts meanwhile), the reference's database
 * becomes ours. */
static int run_import(daemon_t *d)
{
	const char *source = d->opt.import, *target = d->opt.database;
	g_autoptr(GError) err = NULL;
	import_t *imp = NULL;
	int rc = EXIT_FAILURE;

	if (!lock_pidfile(d, &err)) {
		fprintf(stderr, "pmxcfsd: not importing %s: %s%s\n", source, err->message,
			g_error_matches(err, G_FILE_ERROR, G_FILE_ERROR_EXIST)
			    ? "; stop it first (systemctl stop pve-cluster)"
			    : "");
		unlock_pidfile(d);
		return EXIT_FAILURE;
	}
	if (mountpoint_served(d->opt.mountpoint)) {
		fprintf(
		    stderr,
		    "pmxcfsd: not importing %s: %s is mounted, so pmxcfs or pmxcfsd is running; "
		    "stop it first (systemctl stop pve-cluster)\n",
		    source, d->opt.mountpoint);
		unlock_pidfile(d);
		return EXIT_FAILURE;
	}
	imp = import_new(source, NULL, &err);
	if (!imp)
		goto out;
	print_import_report(imp, source);
	if (!import_check_target(imp, target, &err))
		goto out;
	if (d->opt.dry_run) {
		printf("dry run: nothing written; importing into %s would succeed\n", target);
		rc = EXIT_SUCCESS;
		goto out;
	}
	if (!import_write(imp, target, &err))
		goto out;
	printf("imported into %s: start pmxcfsd as usual\n", target);
	rc = EXIT_SUCCESS;
out:
	fflush(stdout);
	if (err)
		fprintf(stderr, "pmxcfsd: %s\n", err->message);
	import_free(imp);
	unlock_pidfile(d);
	return rc;
}

/* A pmxcfsd that was killed leaves its mount behind, dead: every access
 * fails with ENOTCONN. No one can be using it, so detach it. */
static void clear_dead_mount(const char *mp)
{
	struct stat st;

	if (stat(mp, &st) == 0 || errno != ENOTCONN)
		return;
	if (umount2(mp, MNT_DETACH) == 0)
		log_notice("%s: detached the dead mount of a pmxcfsd that did not stop cleanly",
			   mp);
	else
		log_err("%s: cannot detach the dead mount: %s", mp, g_strerror(errno));
}

/* Whatever is written to the bare mount point while the daemon is down
 * would be lost under the mount: from the first start on, it refuses. */
static void seal_mountpoint(const char *mp)
{
	g_autoptr(GError) err = NULL;
	unsigned hidden = 0;

	switch (mountguard_seal(mp, &hidden, &err)) {
	case MOUNTGUARD_SEALED:
		break;
	case MOUNTGUARD_UNSUPPORTED:
		log_warn("%s; while pmxcfsd is not running, writes there go to the file system "
			 "below and are hidden by the next mount",
			 err->message);
		break;
	case MOUNTGUARD_FAILED:
		log_warn("%s", err->message);
		break;
	}
	if (hidden)
		log_warn("%u entries in the mount point %s itself will be hidden by the mount; "
			 "they were written while pmxcfsd was not running and are not in the "
			 "cluster's tree",
			 hidden, mp);
}

static bool check_mountpoint(const char *mp, GError **err)
{
	g_autofree char *parent = g_path_get_dirname(mp);
	struct stat st, pst;

	clear_dead_mount(mp);
	if (g_mkdir_with_parents(mp, 0755) < 0 || stat(mp, &st) < 0 || stat(parent, &pst) < 0) {
		g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", mp,
			    g_strerror(errno));
		return false;
	}
	if (!S_ISDIR(st.st_mode)) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOTDIR, "%s: not a directory", mp);
		return false;
	}
	if (st.st_dev != pst.st_dev) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_EXIST,
			    "mount point %s is busy: something is already mounted there "
			    "(stop it, or 'umount %s')",
			    mp, mp);
		return false;
	}
	seal_mountpoint(mp);
	return true;
}

static bool load_tree(daemon_t *d, GError **err)
{
	g_autofree char *dir = g_path_get_dirname(d->opt.database);

	if (!dbstore_make_private_dir(dir, err))
		return false;
	d->mdb = memdb_open(d->opt.database, err);
	if (!d->mdb)
		return false;
	memdb_attr_t attr;
	g_autofree char *cs_dir = g_path_get_dirname(d->opt.corosync_conf);
	g_autofree char *authkey = g_build_filename(cs_dir, COROSYNC_AUTHKEY_NAME, NULL);
	/* corosync's package installs an example corosync.conf: only with a
	 * key beside it is corosync set up for a cluster. */
	bool corosync_set_up = g_file_test(d->opt.corosync_conf, G_FILE_TEST_EXISTS) &&
			       g_file_test(authkey, G_FILE_TEST_EXISTS);
	d->cluster = !d->opt.local &&
		     (corosync_set_up || memdb_lookup_path(d->mdb, CLUSTER_CONF_NAME, &attr) == 0);
	if (!d->opt.local && !d->cluster)
		log_notice("no cluster configuration (%s/%s, or %s with %s): this node is not in "
			   "a cluster, serving in local mode",
			   d->opt.mountpoint, CLUSTER_CONF_NAME, d->opt.corosync_conf, authkey);
	/* In a cluster the node's directories are created through the group,
	 * once it is synced and quorate (see treebind.c). */
	if (d->cluster)
		return true;
	int res = memdb_ensure_layout(d->mdb, d->nodename, LOCAL_NODEID, (uint32_t)time(NULL));
	if (res < 0) {
		g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(-res),
			    "%s: cannot create the directories of node %s: %s", d->opt.database,
			    d->nodename, g_strerror(-res));
		return false;
	}
	return true;
}

/* Another member changed the tree: the kernel's cache of it goes. */
static void forget_cached(void *ctx, const fsop_t *op)
{
	daemon_t *d = ctx;

	fusefs_invalidate(d->fs, op);
}

/* Hands the tree's corosync.conf to confsync whenever it changed; at
 * start, before the main loop runs, at once. */
static void sync_corosync_conf_now(daemon_t *d, bool now)
{
	memdb_attr_t attr;
	size_t len = 0;

	if (memdb_lookup_path(d->mdb, CLUSTER_CONF_NAME, &attr) < 0 || attr.type != MEMDB_REG ||
	    attr.version == d->cluster_conf_seen)
		return;
	g_autofree char *text = memdb_read_path(d->mdb, CLUSTER_CONF_NAME, &len);
	if (!text)
		return;
	d->cluster_conf_seen = attr.version;
	g_autofree char *source = g_build_filename(d->opt.mountpoint, CLUSTER_CONF_NAME, NULL);
	if (now)
		confsync_apply(d->confsync, source, text, len);
	else
		confsync_queue(d->confsync, source, text, len);
}

static void sync_corosync_conf(void *ctx)
{
	sync_corosync_conf_now(ctx, false);
}

static bool start_services(daemon_t *d, GError **err)
{
	fusefs_config_t fc = {
	    .mountpoint = d->opt.mountpoint,
	    .nodename = d->nodename,
	    .nodeid = LOCAL_NODEID,
	    .mdb = d->mdb,
	    /* Not in a cluster: nothing changes the tree behind the kernel. */
	    .sole_writer = !d->cluster,
	};

	d->clog = clusterlog_new(CLUSTERLOG_MAX_ENTRIES);
	d->vfiles = vfiles_new(d->mdb, d->clog, d->nodename, d->ip, d->starttime);
	fc.vfiles = d->vfiles;
	if (d->cluster) {
		d->confsync = confsync_new(d->opt.corosync_conf, true);
		/* Before corosync starts (the unit orders it so), corosync gets
		 * the newest configuration this node has. */
		sync_corosync_conf_now(d, true);
		d->tree = treebind_new(&(treebind_config_t){
		    .mdb = d->mdb, .nodename = d->nodename, .applied = forget_cached, .ctx = d});
		d->replica = replica_new(&(replica_config_t){.tree = &treebind_ops,
							     .tree_ctx = d->tree,
							     .clog = d->clog,
							     .nodename = d->nodename,
							     .changed = sync_corosync_conf,
							     .ctx = d});
		vfiles_set_replica(d->vfiles, d->replica);
		fc.replica = d->replica;
	}
	if (!check_mountpoint(d->opt.mountpoint, err))
		return false;
	d->fs = fusefs_new(&fc, err);
	if (!d->fs || !fusefs_start(d->fs, err))
		return false;
	d->ctl = control_new(d->opt.socket, commands, G_N_ELEMENTS(commands), d,
			     (unsigned)d->opt.control_idle_timeout, err);
	return d->ctl != NULL;
}

static void stop_services(daemon_t *d)
{
	control_free(d->ctl);
	/* Writes waiting for the cluster fail first, so the FUSE threads that
	 * wait for them can finish. */
	replica_shutdown(d->replica);
	g_clear_pointer(&d->fs, fusefs_free);
	replica_free(d->replica);
	treebind_free(d->tree);
	confsync_free(d->confsync);
	vfiles_free(d->vfiles);
	clusterlog_free(d->clog);
	memdb_free(d->mdb);
	unlock_pidfile(d);
}

static gboolean on_quit_signal(gpointer p)
{
	daemon_t *d = p;

	log_notice("received signal, shutting down");
	g_main_loop_quit(d->loop);
	return G_SOURCE_CONTINUE;
}

/* The parent of a daemonizing pmxcfsd waits here until the child reports
 * that /etc/pve is served (a single 0 byte) or why it is not (the message),
 * so that systemd and scripts can rely on the mount when we return. */
static int wait_for_child(int fd)
{
	GString *msg = g_string_new(NULL);
	char buf[512];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		g_string_append_len(msg, buf, n);
	int ok = msg->len == 1 && msg->str[0] == '\0';
	if (!ok)
		fprintf(stderr, "pmxcfsd: %s\n",
			msg->len ? msg->str : "the daemon exited during start-up");
	g_string_free(msg, TRUE);
	return ok ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int daemonize(int *notify_fd)
{
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "pmxcfsd: pipe: %s\n", g_strerror(errno));
		return EXIT_FAILURE;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "pmxcfsd: fork: %s\n", g_strerror(errno));
		return EXIT_FAILURE;
	}
	if (pid > 0) {
		close(p[1]);
		exit(wait_for_child(p[0]));
	}
	close(p[0]);
	setsid();
	if (chdir("/") < 0)
		return EXIT_FAILURE;
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	*notify_fd = p[1];
	return -1;
}

static void notify_parent(int *fd, const char *error)
{
	if (*fd < 0)
		return;
	if (error) {
		ssize_t n = write(*fd, error, strlen(error));
		(void)n;
	} else {
		ssize_t n = write(*fd, "", 1);
		(void)n;
	}
	close(*fd);
	*fd = -1;
}

static bool identify_node(daemon_t *d, GError **err)
{
	d->nodename = nodeinfo_nodename(err);
	if (!d->nodename)
		return false;
	d->ip = nodeinfo_resolve(d->nodename, err);
	if (d->ip)
		return true;
	if (!d->opt.local)
		return false;
	/* Local mode talks to no other node: an unresolvable name is fine. */
	g_clear_error(err);
	d->ip = g_strdup("");
	return true;
}

int main(int argc, char **argv)
{
	daemon_t d = {.pidfd = -1};
	g_autoptr(GError) err = NULL;
	int notify_fd = -1;
	int rc = EXIT_FAILURE;

	if (!parse_options(argc, argv, &d.opt))
		return EXIT_FAILURE;
	if (d.opt.import) {
		/* Messages of the store (a mode narrowed) reach the admin too. */
		log_init("pmxcfsd", true, true);
		rc = run_import(&d);
		daemon_clear(&d);
		return rc;
	}
	log_init("pmxcfsd", true, d.opt.foreground);
	log_set_debug(d.opt.debug);
	if (!identify_node(&d, &err)) {
		fprintf(stderr, "pmxcfsd: %s\n", err->message);
		daemon_clear(&d);
		return EXIT_FAILURE;
	}
	if (!d.opt.foreground && (rc = daemonize(&notify_fd)) >= 0) {
		daemon_clear(&d);
		return rc;
	}
	d.starttime = time(NULL);
	if (!lock_pidfile(&d, &err) || !load_tree(&d, &err) || !start_services(&d, &err)) {
		log_err("%s", err->message);
		notify_parent(&notify_fd, err->message);
		stop_services(&d);
		daemon_clear(&d);
		return EXIT_FAILURE;
	}
	clusterlog_add(d.clog, &(clusterlog_entry_t){.time = (uint32_t)d.starttime,
						     .pid = (uint32_t)getpid(),
						     .pri = LOG_INFO,
						     .node = d.nodename,
						     .tag = "pmxcfsd",
						     .msg = "starting pmxcfsd"});
	log_notice("serving %s from %s in %s mode as node %s", d.opt.mountpoint, d.opt.database,
		   mode_name(&d), d.nodename);
	signal(SIGPIPE, SIG_IGN);
	d.loop = g_main_loop_new(NULL, FALSE);
	g_unix_signal_add(SIGTERM, on_quit_signal, &d);
	g_unix_signal_add(SIGINT, on_quit_signal, &d);
	notify_parent(&notify_fd, NULL);
	g_main_loop_run(d.loop);
	stop_services(&d);
	g_main_loop_unref(d.loop);
	log_notice("stopped");
	daemon_clear(&d);
	return EXIT_SUCCESS;
}
