#include "vfiles.h"

#include "cmapconf.h"
#include "log.h"
#include "nodeinfo.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

struct vfiles {
	memdb_t *mdb;
	replica_t *replica;
	/* The node list corosync last gave: shown while corosync is away, so
	 * that .members keeps naming the cluster and its nodes. */
	GMutex conf_lock;
	cmapconf_t *conf;
	clusterlog_t *log;
	char *nodename;
	char *ip;
	time_t starttime;
	/* Under conf_lock: clinfo counts the changes of what .members shows
	 * (see clinfo_update); ips caches name resolutions (ip_entry_t). */
	uint64_t clinfo;
	char *clinfo_sig;
	GHashTable *ips;
};

/* A node's address is what its name resolves to, as tools use it for SSH
 * and migration; kept this long so that reading .members does not ask the
 * resolver each time, short enough that an edited /etc/hosts shows soon. */
#define VFILES_IP_TTL_S 30

typedef struct {
	char *ip; /* NULL: the name did not resolve */
	gint64 when;
} ip_entry_t;

static const char *const names[VFILE_COUNT] = {
    [VFILE_VERSION] = ".version",	[VFILE_MEMBERS] = ".members", [VFILE_VMLIST] = ".vmlist",
    [VFILE_CLUSTERLOG] = ".clusterlog", [VFILE_DEBUG] = ".debug",
};

/* Files whose version tools watch to know when to re-read them: the
 * reference's list, in its order; an absent one shows version 0. */
static const char *const watched[] = {
    "corosync.conf",
    "corosync.conf.new",
    "storage.cfg",
    "user.cfg",
    "domains.cfg",
    "notifications.cfg",
    "priv/notifications.cfg",
    "priv/shadow.cfg",
    "priv/acme/plugins.cfg",
    "priv/tfa.cfg",
    "priv/token.cfg",
    "priv/wg-keys.cfg",
    "datacenter.cfg",
    "vzdump.cron",
    "vzdump.conf",
    "jobs.cfg",
    "ha/crm_commands",
    "ha/manager_status",
    "ha/resources.cfg",
    "ha/rules.cfg",
    "ha/groups.cfg",
    "ha/fence.cfg",
    "status.cfg",
    "replication.cfg",
    "ceph.conf",
    "sdn/vnets.cfg",
    "sdn/zones.cfg",
    "sdn/controllers.cfg",
    "sdn/subnets.cfg",
    "sdn/ipams.cfg",
    "sdn/mac-cache.json",
    "sdn/pve-ipam-state.json",
    "sdn/dns.cfg",
    "sdn/fabrics.cfg",
    "sdn/route-maps.cfg",
    "sdn/prefix-lists.cfg",
    "sdn/.running-config",
    "virtual-guest/cpu-models.conf",
    "virtual-guest/profiles.cfg",
    "firewall/cluster.fw",
    "mapping/directory.cfg",
    "mapping/pci.cfg",
    "mapping/usb.cfg",
};

static void ip_entry_free(gpointer p)
{
	ip_entry_t *e = p;

	g_free(e->ip);
	g_free(e);
}

vfiles_t *vfiles_new(memdb_t *mdb, clusterlog_t *log, const char *nodename, const char *ip,
		     time_t starttime)
{
	vfiles_t *vf = g_new0(vfiles_t, 1);

	vf->mdb = mdb;
	vf->log = log;
	g_mutex_init(&vf->conf_lock);
	vf->nodename = g_strdup(nodename);
	vf->ip = g_strdup(ip ? ip : "");
	vf->starttime = starttime;
	vf->clinfo = 1;
	vf->ips = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, ip_entry_free);
	return vf;
}

void vfiles_set_replica(vfiles_t *vf, replica_t *r)
{
	vf->replica = r;
}

void vfiles_free(vfiles_t *vf)
{
	if (!vf)
		return;
	cmapconf_free(vf->conf);
	g_hash_table_destroy(vf->ips);
	g_free(vf->clinfo_sig);
	g_mutex_clear(&vf->conf_lock);
	g_free(vf->nodename);
	g_free(vf->ip);
	g_free(vf);
}

const char *vfiles_name(vfile_id_t id)
{
	return id < VFILE_COUNT ? names[id] : NULL;
}

vfile_id_t vfiles_lookup(const char *name)
{
	for (int i = 0; i < VFILE_COUNT; i++)
		if (strcmp(names[i], name) == 0)
			return (vfile_id_t)i;
	return VFILE_COUNT;
}

static char *finish(JsonBuilder *b, size_t *len)
{
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	gsize glen = 0;

	json_generator_set_root(gen, root);
	json_generator_set_pretty(gen, TRUE);
	char *out = json_generator_to_data(gen, &glen);
	/* A trailing newline, as a text file read by shell tools should have. */
	char *nl = g_strconcat(out, "\n", NULL);
	g_free(out);
	*len = glen + 1;
	return nl;
}

static void member_int(JsonBuilder *b, const char *name, gint64 v)
{
	json_builder_set_member_name(b, name);
	json_builder_add_int_value(b, v);
}

static void member_str(JsonBuilder *b, const char *name, const char *v)
{
	json_builder_set_member_name(b, name);
	json_builder_add_string_value(b, v);
}

/* The vmlist changes whenever a guest directory's entries change; its
 * version is the newest version among those directories. */
typedef struct {
	uint64_t version;
	GHashTable *seen; /* vmid -> first occurrence index */
	GPtrArray *guests;
} vmlist_t;

typedef struct {
	uint32_t vmid;
	char *node;
	memdb_guest_type_t type;
	uint64_t version;
} guest_t;

static void guest_free(gpointer p)
{
	guest_t *g = p;

	g_free(g->node);
	g_free(g);
}

static void collect_guest(void *ctx, uint32_t vmid, const char *node, memdb_guest_type_t type,
			  uint64_t version)
{
	vmlist_t *vl = ctx;
	guest_t *g = g_new(guest_t, 1);

	g->vmid = vmid;
	g->node = g_strdup(node);
	g->type = type;
	g->version = version;
	g_ptr_array_add(vl->guests, g);
}

static const char *type_name(memdb_guest_type_t t)
{
	return t == MEMDB_GUEST_QEMU ? "qemu" : "lxc";
}

static void collect_vmlist(vfiles_t *vf, vmlist_t *vl)
{
	vl->guests = g_ptr_array_new_with_free_func(guest_free);
	memdb_foreach_guest(vf->mdb, collect_guest, vl);
	vl->version = memdb_guest_dirs_version(vf->mdb);
}

static void add_guest(JsonBuilder *b, const guest_t *g)
{
	json_builder_begin_object(b);
	member_str(b, "node", g->node);
	member_str(b, "type", type_name(g->type));
	member_int(b, "version", (gint64)g->version);
	json_builder_end_object(b);
}

/* A VMID configured on two nodes cannot be created through this file system,
 * but a restored or merged database may hold one: report every copy under
 * "duplicates" and say so in the log, rather than silently keep one. */
static char *render_vmlist(vfiles_t *vf, size_t *len)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(GHashTable) count = g_hash_table_new(g_direct_hash, g_direct_equal);
	vmlist_t vl = {0};
	bool dups = false;

	collect_vmlist(vf, &vl);
	for (guint i = 0; i < vl.guests->len; i++) {
		guest_t *g = vl.guests->pdata[i];
		gpointer key = GUINT_TO_POINTER(g->vmid);
		guint n = GPOINTER_TO_UINT(g_hash_table_lookup(count, key)) + 1;
		g_hash_table_insert(count, key, GUINT_TO_POINTER(n));
		dups |= n > 1;
	}
	json_builder_begin_object(b);
	member_int(b, "version", (gint64)vl.version);
	json_builder_set_member_name(b, "ids");
	json_builder_begin_object(b);
	g_autoptr(GHashTable) shown = g_hash_table_new(g_direct_hash, g_direct_equal);
	for (guint i = 0; i < vl.guests->len; i++) {
		guest_t *g = vl.guests->pdata[i];
		char id[16];
		if (!g_hash_table_add(shown, GUINT_TO_POINTER(g->vmid)))
			continue;
		g_snprintf(id, sizeof(id), "%u", g->vmid);
		json_builder_set_member_name(b, id);
		add_guest(b, g);
	}
	json_builder_end_object(b);
	if (dups) {
		json_builder_set_member_name(b, "duplicates");
		json_builder_begin_object(b);
		for (guint i = 0; i < vl.guests->len; i++) {
			guest_t *g = vl.guests->pdata[i];
			guint n =
			    GPOINTER_TO_UINT(g_hash_table_lookup(count, GUINT_TO_POINTER(g->vmid)));
			if (n < 2)
				continue;
			char id[16];
			g_snprintf(id, sizeof(id), "%u", g->vmid);
			json_builder_set_member_name(b, id);
			json_builder_begin_array(b);
			for (guint j = i; j < vl.guests->len; j++) {
				guest_t *d = vl.guests->pdata[j];
				if (d->vmid == g->vmid)
					add_guest(b, d);
			}
			json_builder_end_array(b);
			g_hash_table_insert(count, GUINT_TO_POINTER(g->vmid), GUINT_TO_POINTER(1));
			log_warn("guest %u is configured on more than one node (first on %s)",
				 g->vmid, g->node);
		}
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
	g_ptr_array_free(vl.guests, TRUE);
	return finish(b, len);
}

/* The address node name resolves to here, or its corosync address when it
 * does not resolve (tools need one to reach it). Under conf_lock. */
static const char *node_ip(vfiles_t *vf, const cmapconf_node_t *n)
{
	gint64 now = g_get_monotonic_time();
	ip_entry_t *e;

	if (strcmp(n->name, vf->nodename) == 0 && *vf->ip)
		return vf->ip;
	e = g_hash_table_lookup(vf->ips, n->name);
	if (!e || now - e->when > VFILES_IP_TTL_S * G_USEC_PER_SEC) {
		g_autoptr(GError) err = NULL;
		e = g_new0(ip_entry_t, 1);
		e->ip = nodeinfo_resolve(n->name, &err);
		e->when = now;
		if (!e->ip)
			log_debug("node %s: %s", n->name, err->message);
		g_hash_table_replace(vf->ips, g_strdup(n->name), e);
	}
	return e->ip ? e->ip : n->addr;
}

/* What .members shows now, under conf_lock: refreshes the node list from
 * corosync, and counts a change of anything in it (or a state exchange,
 * which every membership change brings) in vf->clinfo, so that a client
 * watching .version's "clinfo" sees each change. */
static void clinfo_update(vfiles_t *vf, replica_status_t *st)
{
	cmapconf_t *fresh = vf->replica ? cmapconf_read(NULL) : NULL;
	g_autoptr(GString) sig = g_string_new(NULL);

	if (fresh) {
		cmapconf_free(vf->conf);
		vf->conf = fresh;
	}
	memset(st, 0, sizeof(*st));
	if (!vf->replica)
		return;
	replica_status(vf->replica, st);
	g_string_append_printf(sig, "%d %" G_GUINT64_FORMAT, st->writable, st->syncs);
	if (vf->conf) {
		g_string_append_printf(sig, " %s %" G_GUINT64_FORMAT, vf->conf->cluster_name,
				       vf->conf->config_version);
		for (guint i = 0; i < vf->conf->nodes->len; i++) {
			const cmapconf_node_t *n = vf->conf->nodes->pdata[i];
			g_string_append_printf(sig, " %u:%s:%d:%s", n->nodeid, n->name,
					       replica_node_online(vf->replica, n->nodeid),
					       node_ip(vf, n));
		}
	}
	if (g_strcmp0(sig->str, vf->clinfo_sig) != 0) {
		if (vf->clinfo_sig)
			vf->clinfo++;
		g_free(vf->clinfo_sig);
		vf->clinfo_sig = g_strdup(sig->str);
	}
}

static char *render_version(vfiles_t *vf, size_t *len)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	replica_status_t st;
	memdb_attr_t a;

	g_mutex_lock(&vf->conf_lock);
	clinfo_update(vf, &st);
	uint64_t clinfo = vf->clinfo;
	g_mutex_unlock(&vf->conf_lock);
	json_builder_begin_object(b);
	member_int(b, "starttime", (gint64)vf->starttime);
	member_int(b, "clinfo", (gint64)clinfo);
	member_int(b, "vmlist", (gint64)memdb_guest_dirs_version(vf->mdb));
	for (size_t i = 0; i < G_N_ELEMENTS(watched); i++) {
		bool there = memdb_lookup_path(vf->mdb, watched[i], &a) == 0 && a.type == MEMDB_REG;
		member_int(b, watched[i], there ? (gint64)a.version : 0);
	}
	json_builder_end_object(b);
	return finish(b, len);
}

/* In a cluster: every configured node, online when its pmxcfsd is in the
 * group. Outside one, or while corosync cannot be asked: this node alone. */
static char *render_members(vfiles_t *vf, size_t *len)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	replica_status_t st;

	g_mutex_lock(&vf->conf_lock);
	clinfo_update(vf, &st);
	const cmapconf_t *conf = vf->conf;
	json_builder_begin_object(b);
	member_str(b, "nodename", vf->nodename);
	member_int(b, "version", (gint64)vf->clinfo);
	if (vf->replica) {
		json_builder_set_member_name(b, "cluster");
		json_builder_begin_object(b);
		member_str(b, "name", conf ? conf->cluster_name : "");
		member_int(b, "version", conf ? (int64_t)conf->config_version : 0);
		member_int(b, "nodes", conf ? conf->nodes->len : 0);
		member_int(b, "quorate", st.writable);
		json_builder_end_object(b);
	}
	json_builder_set_member_name(b, "nodelist");
	json_builder_begin_object(b);
	if (conf) {
		for (guint i = 0; i < conf->nodes->len; i++) {
			const cmapconf_node_t *n = conf->nodes->pdata[i];
			json_builder_set_member_name(b, n->name);
			json_builder_begin_object(b);
			member_int(b, "id", n->nodeid);
			member_int(b, "online", replica_node_online(vf->replica, n->nodeid));
			member_str(b, "ip", node_ip(vf, n));
			json_builder_end_object(b);
		}
	} else {
		json_builder_set_member_name(b, vf->nodename);
		json_builder_begin_object(b);
		member_int(b, "id", 0);
		member_int(b, "online", 1);
		member_str(b, "ip", vf->ip);
		json_builder_end_object(b);
	}
	g_mutex_unlock(&vf->conf_lock);
	json_builder_end_object(b);
	json_builder_end_object(b);
	return finish(b, len);
}

char *vfiles_render(vfiles_t *vf, vfile_id_t id, size_t *len)
{
	size_t dummy;

	if (!len)
		len = &dummy;
	switch (id) {
	case VFILE_VERSION:
		return render_version(vf, len);
	case VFILE_MEMBERS:
		return render_members(vf, len);
	case VFILE_VMLIST:
		return render_vmlist(vf, len);
	case VFILE_CLUSTERLOG:
		return clusterlog_json(vf->log, CLUSTERLOG_SHOW, len);
	case VFILE_DEBUG:
		*len = 2;
		return g_strdup(log_get_debug() ? "1\n" : "0\n");
	default:
		*len = 0;
		return g_strdup("");
	}
}
