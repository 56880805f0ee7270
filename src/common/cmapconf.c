#include "cmapconf.h"

#include <corosync/cmap.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void node_free(gpointer p)
{
	cmapconf_node_t *n = p;

	g_free(n->name);
	g_free(n->addr);
	g_free(n);
}

static gint by_nodeid(gconstpointer a, gconstpointer b)
{
	const cmapconf_node_t *x = *(cmapconf_node_t *const *)a;
	const cmapconf_node_t *y = *(cmapconf_node_t *const *)b;
	return x->nodeid < y->nodeid ? -1 : x->nodeid > y->nodeid;
}

static char *get_str(cmap_handle_t h, const char *key)
{
	char *v = NULL;

	if (cmap_get_string(h, key, &v) != CS_OK)
		return NULL;
	char *r = g_strdup(v);
	free(v);
	return r;
}

void cmapconf_free(cmapconf_t *c)
{
	if (!c)
		return;
	g_free(c->cluster_name);
	if (c->nodes)
		g_ptr_array_free(c->nodes, TRUE);
	g_free(c);
}

cmapconf_t *cmapconf_read(GError **err)
{
	cmap_handle_t h;
	cmap_iter_handle_t it;
	char key[CMAP_KEYNAME_MAXLEN + 1];
	size_t len;
	cmap_value_types_t type;
	cs_error_t rc;

	if ((rc = cmap_initialize(&h)) != CS_OK) {
		g_set_error(err, g_quark_from_static_string("cmapconf"), ENOTCONN,
			    "cannot connect to corosync's cmap (error %d); is corosync running?",
			    rc);
		return NULL;
	}
	cmapconf_t *c = g_new0(cmapconf_t, 1);
	c->nodes = g_ptr_array_new_with_free_func(node_free);
	c->cluster_name = get_str(h, "totem.cluster_name");
	uint64_t v64;
	uint32_t v32;
	if (cmap_get_uint64(h, "totem.config_version", &v64) == CS_OK)
		c->config_version = v64;
	if (cmap_iter_init(h, "nodelist.node.", &it) == CS_OK) {
		GHashTable *seen = g_hash_table_new(g_direct_hash, g_direct_equal);
		while (cmap_iter_next(h, it, key, &len, &type) == CS_OK) {
			unsigned idx;
			char field[64];
			if (sscanf(key, "nodelist.node.%u.%63s", &idx, field) != 2 ||
			    g_hash_table_contains(seen, GUINT_TO_POINTER(idx + 1)))
				continue;
			g_hash_table_add(seen, GUINT_TO_POINTER(idx + 1));
			cmapconf_node_t *n = g_new0(cmapconf_node_t, 1);
			char k[CMAP_KEYNAME_MAXLEN + 1];
			snprintf(k, sizeof(k), "nodelist.node.%u.nodeid", idx);
			if (cmap_get_uint32(h, k, &v32) == CS_OK)
				n->nodeid = v32;
			snprintf(k, sizeof(k), "nodelist.node.%u.name", idx);
			n->name = get_str(h, k);
			snprintf(k, sizeof(k), "nodelist.node.%u.ring0_addr", idx);
			n->addr = get_str(h, k);
			n->votes = 1;
			snprintf(k, sizeof(k), "nodelist.node.%u.quorum_votes", idx);
			if (cmap_get_uint32(h, k, &v32) == CS_OK)
				n->votes = v32;
			if (!n->name)
				n->name = g_strdup(n->addr ? n->addr : "");
			if (!n->addr)
				n->addr = g_strdup("");
			g_ptr_array_add(c->nodes, n);
		}
		cmap_iter_finalize(h, it);
		g_hash_table_destroy(seen);
	}
	cmap_finalize(h);
	if (!c->cluster_name)
		c->cluster_name = g_strdup("");
	g_ptr_array_sort(c->nodes, by_nodeid);
	return c;
}
