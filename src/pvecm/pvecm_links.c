#include "pvecm_links.h"

#include "pvecm_quorum.h"
#include "pvecm_status.h"

#include <corosync/cfg.h>
#include <corosync/cmap.h>
#include <json-glib/json-glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

G_STATIC_ASSERT(PVECM_LINKS_MAX == CFG_MAX_LINKS);

const pvecm_cli_opt_t pvecm_links_opts[] = {
    {
	.name = PVECM_OUTPUT_FORMAT,
	.type = PVECM_CLI_STRING,
	.value_text = "<json | text>",
	.default_text = "text",
	.description = "Output format.",
    },
    {.name = NULL},
};

static void node_free(gpointer p)
{
	pvecm_links_node_t *n = p;

	g_free(n->name);
	for (int i = 0; i < PVECM_LINKS_MAX; i++)
		g_free(n->link[i].address);
	g_free(n);
}

void pvecm_links_free(pvecm_links_t *l)
{
	if (!l)
		return;
	if (l->nodes)
		g_ptr_array_unref(l->nodes);
	g_free(l);
}

static bool cs_fail(GError **err, pvecm_quorum_error_t code, const char *what, cs_error_t rc)
{
	g_set_error(err, PVECM_QUORUM_ERROR, code, "%s: %s", what, cs_strerror(rc));
	return false;
}

static char *cmap_str(cmap_handle_t h, const char *key)
{
	char *v = NULL;
	char *copy;

	if (cmap_get_string(h, key, &v) != CS_OK || !v)
		return NULL;
	copy = g_strdup(v);
	free(v);
	return copy;
}

static gint by_nodeid(gconstpointer a, gconstpointer b)
{
	const pvecm_links_node_t *x = *(pvecm_links_node_t *const *)a;
	const pvecm_links_node_t *y = *(pvecm_links_node_t *const *)b;

	return x->nodeid < y->nodeid ? -1 : x->nodeid > y->nodeid;
}

/* The nodelist as corosync runs it: nodeid, name and ringN_addr. */
static bool read_nodelist(cmap_handle_t h, GPtrArray *nodes, GError **err)
{
	char key[CMAP_KEYNAME_MAXLEN + 1];
	cmap_iter_handle_t it;
	cs_error_t rc = cmap_iter_init(h, "nodelist.node.", &it);

	if (rc != CS_OK)
		return cs_fail(err, PVECM_QUORUM_ERROR_FAILED, "cannot read the nodelist", rc);
	while (cmap_iter_next(h, it, key, NULL, NULL) == CS_OK) {
		unsigned pos;
		uint32_t id;
		int end = 0;

		if (sscanf(key, "nodelist.node.%u.nodeid%n", &pos, &end) != 1 || key[end] != '\0' ||
		    cmap_get_uint32(h, key, &id) != CS_OK)
			continue;
		pvecm_links_node_t *n = g_new0(pvecm_links_node_t, 1);
		g_autofree char *name_key = g_strdup_printf("nodelist.node.%u.name", pos);
		n->nodeid = id;
		n->name = cmap_str(h, name_key);
		for (unsigned l = 0; l < PVECM_LINKS_MAX; l++) {
			g_autofree char *k =
			    g_strdup_printf("nodelist.node.%u.ring%u_addr", pos, l);
			n->link[l].address = cmap_str(h, k);
			n->link[l].configured = n->link[l].address != NULL;
		}
		g_ptr_array_add(nodes, n);
	}
	cmap_iter_finalize(h, it);
	g_ptr_array_sort(nodes, by_nodeid);
	return true;
}

static void read_status(corosync_cfg_handle_t cfg, pvecm_links_node_t *n)
{
	struct corosync_cfg_node_status_v1 st;

	memset(&st, 0, sizeof(st));
	if (corosync_cfg_node_status_get(cfg, n->nodeid, CFG_NODE_STATUS_V1, &st) != CS_OK)
		return;
	n->known = true;
	n->reachable = st.reachable;
	for (int l = 0; l < PVECM_LINKS_MAX; l++) {
		n->link[l].enabled = st.link_status[l].enabled;
		n->link[l].connected = st.link_status[l].connected;
		n->link[l].mtu = st.link_status[l].mtu;
	}
}

pvecm_links_t *pvecm_links_read(GError **err)
{
	g_autoptr(pvecm_links_t) l = g_new0(pvecm_links_t, 1);
	cmap_handle_t h;
	corosync_cfg_handle_t cfg;
	corosync_cfg_callbacks_t cb = {0};
	cs_error_t rc;
	bool ok;

	l->nodes = g_ptr_array_new_with_free_func(node_free);
	rc = cmap_initialize(&h);
	if (rc != CS_OK) {
		g_set_error(err, PVECM_QUORUM_ERROR, PVECM_QUORUM_ERROR_NOT_RUNNING,
			    "corosync is not running (cannot connect to its cmap service: %s)",
			    cs_strerror(rc));
		return NULL;
	}
	ok = read_nodelist(h, l->nodes, err);
	if (ok && (rc = cmap_get_uint32(h, "runtime.votequorum.this_node_id", &l->nodeid)) != CS_OK)
		ok = cs_fail(err, PVECM_QUORUM_ERROR_FAILED, "cannot read this node's id", rc);
	cmap_finalize(h);
	if (!ok)
		return NULL;
	rc = corosync_cfg_initialize(&cfg, &cb);
	if (rc != CS_OK) {
		cs_fail(err, PVECM_QUORUM_ERROR_FAILED, "cannot connect to corosync's cfg service",
			rc);
		return NULL;
	}
	for (guint i = 0; i < l->nodes->len; i++) {
		pvecm_links_node_t *n = l->nodes->pdata[i];
		n->local = n->nodeid == l->nodeid;
		read_status(cfg, n);
	}
	corosync_cfg_finalize(cfg);
	return g_steal_pointer(&l);
}

/* knet's link to the local node is a loopback: its state says nothing of
 * the network, so the local node's links show as "local", with no
 * enabled state ("-", null in JSON) rather than the loopback's. */
static const char *status_word(const pvecm_links_node_t *n, const pvecm_links_link_t *k)
{
	if (n->local)
		return "local";
	return k->connected ? "connected" : "disconnected";
}

static const char *enabled_word(const pvecm_links_node_t *n, const pvecm_links_link_t *k)
{
	if (n->local)
		return "-";
	return k->enabled ? "yes" : "no";
}

char *pvecm_links_text(const pvecm_links_t *l)
{
	GString *s = g_string_new(NULL);

	g_string_append_printf(s, "%-10s %-20s %4s  %-39s %-7s %s\n", "Nodeid", "Name", "Link",
			       "Address", "Enabled", "Status");
	for (guint i = 0; i < l->nodes->len; i++) {
		const pvecm_links_node_t *n = l->nodes->pdata[i];
		g_autofree char *name =
		    g_strdup_printf("%s%s", n->name ? n->name : "-", n->local ? " (local)" : "");
		for (int k = 0; k < PVECM_LINKS_MAX; k++) {
			const pvecm_links_link_t *link = &n->link[k];
			if (!link->configured)
				continue;
			g_string_append_printf(s, "%10u %-20s %4d  %-39s %-7s %s\n", n->nodeid,
					       name, k, link->address, enabled_word(n, link),
					       status_word(n, link));
		}
	}
	return g_string_free(s, FALSE);
}

static void json_bool(JsonBuilder *b, const char *member, bool v)
{
	json_builder_set_member_name(b, member);
	json_builder_add_boolean_value(b, v);
}

static void json_int(JsonBuilder *b, const char *member, gint64 v)
{
	json_builder_set_member_name(b, member);
	json_builder_add_int_value(b, v);
}

static void json_node(JsonBuilder *b, const pvecm_links_node_t *n)
{
	json_builder_begin_object(b);
	json_int(b, "nodeid", n->nodeid);
	json_builder_set_member_name(b, "name");
	if (n->name)
		json_builder_add_string_value(b, n->name);
	else
		json_builder_add_null_value(b);
	json_bool(b, "local", n->local);
	json_bool(b, "reachable", n->local || n->reachable);
	json_builder_set_member_name(b, "links");
	json_builder_begin_array(b);
	for (int k = 0; k < PVECM_LINKS_MAX; k++) {
		const pvecm_links_link_t *link = &n->link[k];
		if (!link->configured)
			continue;
		json_builder_begin_object(b);
		json_int(b, "link", k);
		json_builder_set_member_name(b, "address");
		json_builder_add_string_value(b, link->address);
		if (n->local) {
			json_builder_set_member_name(b, "enabled");
			json_builder_add_null_value(b);
			json_builder_set_member_name(b, "connected");
			json_builder_add_null_value(b);
		} else {
			json_bool(b, "enabled", link->enabled);
			json_bool(b, "connected", link->connected);
		}
		json_int(b, "mtu", link->mtu);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
	json_builder_end_object(b);
}

char *pvecm_links_json(const pvecm_links_t *l)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;
	char *text;

	json_builder_begin_object(b);
	json_int(b, "nodeid", l->nodeid);
	json_builder_set_member_name(b, "nodes");
	json_builder_begin_array(b);
	for (guint i = 0; i < l->nodes->len; i++)
		json_node(b, l->nodes->pdata[i]);
	json_builder_end_array(b);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	text = json_generator_to_data(gen, NULL);
	return text;
}

int pvecm_links_run(const pvecm_cli_call_t *call)
{
	const char *format = pvecm_cli_opt(call, PVECM_OUTPUT_FORMAT);
	g_autoptr(GError) err = NULL;
	g_autoptr(pvecm_links_t) l = NULL;
	g_autofree char *out = NULL;
	int rc;

	if (format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0) {
		fprintf(stderr, "ERROR: option '--%s': '%s' is not one of json, text\n",
			PVECM_OUTPUT_FORMAT, format);
		return PVECM_EXIT_USAGE;
	}
	rc = pvecm_status_check_node();
	if (rc != PVECM_EXIT_OK)
		return rc;
	l = pvecm_links_read(&err);
	if (!l)
		return pvecm_status_corosync_failed(err,
						    "cannot read the link status from corosync");
	if (format && strcmp(format, "json") == 0) {
		out = pvecm_links_json(l);
		printf("%s\n", out);
	} else {
		out = pvecm_links_text(l);
		fputs(out, stdout);
	}
	return PVECM_EXIT_OK;
}
