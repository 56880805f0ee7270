#include "vfiles.h"

#include "cmapconf.h"
#include "log.h"

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
};

static const char *const names[VFILE_COUNT] = {
	[VFILE_VERSION] = ".version",	    [VFILE_MEMBERS] = ".members",
	[VFILE_VMLIST] = ".vmlist",	    [VFILE_CLUSTERLOG] = ".clusterlog",
	[VFILE_DEBUG] = ".debug",
};

/* Files whose version tools watch to know when to re-read them. */
static const char *const watched[] = {
	"corosync.conf",     "corosync.conf.new", "datacenter.cfg", "storage.cfg",
	"user.cfg",	     "domains.cfg",	  "priv/shadow.cfg", "priv/tfa.cfg",
	"priv/token.cfg",    "vzdump.cron",	  "replication.cfg", "ceph.conf",
	"ha/resources.cfg",  "ha/groups.cfg",	  "ha/fence.cfg",    "ha/manager_status",
	"ha/crm_commands",   "firewall/cluster.fw",
};

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
			guint n = GPOINTER_TO_UINT(
				g_hash_table_lookup(count, GUINT_TO_POINTER(g->vmid)));
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

static char *render_version(vfiles_t *vf, size_t *len)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	memdb_attr_t a;

	json_builder_begin_object(b);
	member_int(b, "starttime", (gint64)vf->starttime);
	member_int(b, "clinfo", 1);
	member_int(b, "vmlist", (gint64)memdb_guest_dirs_version(vf->mdb));
	for (size_t i = 0; i < G_N_ELEMENTS(watched); i++)
		if (memdb_lookup_path(vf->mdb, watched[i], &a) == 0 && a.type == MEMDB_REG)
			member_int(b, watched[i], (gint64)a.version);
	json_builder_end_object(b);
	return finish(b, len);
}

/* Outside a cluster this node is the only member, and online. */
/* In a cluster: every configured node, online when its pmxcfsd is in the
 * group. Outside one, or while corosync cannot be asked: this node alone. */
static char *render_members(vfiles_t *vf, size_t *len)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	cmapconf_t *fresh = vf->replica ? cmapconf_read(NULL) : NULL;

	g_mutex_lock(&vf->conf_lock);
	if (fresh) {
		cmapconf_free(vf->conf);
		vf->conf = fresh;
	}
	const cmapconf_t *conf = vf->conf;
	json_builder_begin_object(b);
	member_str(b, "nodename", vf->nodename);
	member_int(b, "version", conf ? (int64_t)conf->config_version : 1);
	if (vf->replica) {
		replica_status_t st;
		replica_status(vf->replica, &st);
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
			member_str(b, "ip", n->addr);
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
