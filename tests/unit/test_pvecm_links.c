/* Unit tests for pvecm links' output (include/pvecm_links.h): one text row
 * per node and configured link with corosync's states, the local node's
 * links as "local", and the same as JSON. */
#include "pvecm_links.h"

#include <glib.h>
#include <json-glib/json-glib.h>
#include <string.h>

static pvecm_links_node_t *node(uint32_t id, const char *name, bool local)
{
	pvecm_links_node_t *n = g_new0(pvecm_links_node_t, 1);

	n->nodeid = id;
	n->name = g_strdup(name);
	n->local = local;
	n->known = true;
	return n;
}

static void link_set(pvecm_links_node_t *n, int k, const char *addr, bool enabled, bool connected)
{
	n->link[k].configured = true;
	n->link[k].address = g_strdup(addr);
	n->link[k].enabled = enabled;
	n->link[k].connected = connected;
	n->link[k].mtu = 1397;
	n->reachable |= connected;
}

static void node_free(gpointer p)
{
	pvecm_links_node_t *n = p;

	g_free(n->name);
	for (int i = 0; i < PVECM_LINKS_MAX; i++)
		g_free(n->link[i].address);
	g_free(n);
}

/* n1 (local) and n2 on two links, link 0 to n2 down; n3 on link 0 only,
 * corosync knowing nothing of it; node 4 without a name. */
static pvecm_links_t *sample(void)
{
	pvecm_links_t *l = g_new0(pvecm_links_t, 1);
	pvecm_links_node_t *n;

	l->nodeid = 1;
	l->nodes = g_ptr_array_new_with_free_func(node_free);
	n = node(1, "n1", true);
	link_set(n, 0, "10.0.0.1", true, true);
	link_set(n, 1, "10.1.0.1", false, false);
	g_ptr_array_add(l->nodes, n);
	n = node(2, "n2", false);
	link_set(n, 0, "10.0.0.2", true, false);
	link_set(n, 1, "10.1.0.2", true, true);
	g_ptr_array_add(l->nodes, n);
	n = node(3, "n3", false);
	link_set(n, 0, "10.0.0.3", false, false);
	n->known = false;
	g_ptr_array_add(l->nodes, n);
	n = node(4, NULL, false);
	link_set(n, 3, "fd00::4", true, true);
	g_ptr_array_add(l->nodes, n);
	return l;
}

static void test_text(void)
{
	g_autoptr(pvecm_links_t) l = sample();
	g_autofree char *text = pvecm_links_text(l);
	g_auto(GStrv) rows = g_strsplit(text, "\n", -1);
	static const char *const want[][6] = {
	    {"Nodeid", "Name", "Link", "Address", "Enabled", "Status"},
	    {"1", "n1 (local)", "0", "10.0.0.1", "-", "local"},
	    {"1", "n1 (local)", "1", "10.1.0.1", "-", "local"},
	    {"2", "n2", "0", "10.0.0.2", "yes", "disconnected"},
	    {"2", "n2", "1", "10.1.0.2", "yes", "connected"},
	    {"3", "n3", "0", "10.0.0.3", "no", "disconnected"},
	    {"4", "-", "3", "fd00::4", "yes", "connected"},
	};

	g_assert_cmpuint(g_strv_length(rows), ==, G_N_ELEMENTS(want) + 1);
	g_assert_cmpstr(rows[G_N_ELEMENTS(want)], ==, "");
	for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
		g_autofree char *name = g_strdup(want[i][1]);
		/* The name may hold a space: compare the row as columns, the
		 * name being what lies between the first and the last four. */
		g_auto(GStrv) f = g_strsplit_set(g_strstrip(rows[i]), " ", -1);
		g_autoptr(GPtrArray) cols = g_ptr_array_new();
		for (char **p = f; *p; p++)
			if (**p)
				g_ptr_array_add(cols, *p);
		g_assert_cmpuint(cols->len, >=, 6);
		g_assert_cmpstr(cols->pdata[0], ==, want[i][0]);
		g_autoptr(GString) got_name = g_string_new(cols->pdata[1]);
		for (guint c = 2; c + 4 < cols->len; c++)
			g_string_append_printf(got_name, " %s", (char *)cols->pdata[c]);
		g_assert_cmpstr(got_name->str, ==, name);
		for (int c = 0; c < 4; c++)
			g_assert_cmpstr(cols->pdata[cols->len - 4 + c], ==, want[i][2 + c]);
	}
}

static JsonNode *at(JsonNode *root, const char *path)
{
	g_autoptr(GError) err = NULL;
	JsonNode *res = json_path_query(path, root, &err);

	g_assert_no_error(err);
	JsonArray *a = json_node_get_array(res);
	g_assert_cmpuint(json_array_get_length(a), ==, 1);
	JsonNode *v = json_node_copy(json_array_get_element(a, 0));
	json_node_unref(res);
	return v;
}

static void test_json(void)
{
	g_autoptr(pvecm_links_t) l = sample();
	g_autofree char *text = pvecm_links_json(l);
	g_autoptr(JsonParser) p = json_parser_new();
	g_autoptr(GError) err = NULL;

	g_assert_true(json_parser_load_from_data(p, text, -1, &err));
	g_assert_no_error(err);
	JsonNode *root = json_parser_get_root(p);
	g_autoptr(JsonNode) id = at(root, "$.nodeid");
	g_assert_cmpint(json_node_get_int(id), ==, 1);
	g_autoptr(JsonNode) nodes = at(root, "$.nodes");
	g_assert_cmpuint(json_array_get_length(json_node_get_array(nodes)), ==, 4);
	g_autoptr(JsonNode) local_conn = at(root, "$.nodes[0].links[1].connected");
	g_assert_true(JSON_NODE_HOLDS_NULL(local_conn));
	g_autoptr(JsonNode) down = at(root, "$.nodes[1].links[0].connected");
	g_assert_false(json_node_get_boolean(down));
	g_autoptr(JsonNode) up = at(root, "$.nodes[1].links[1].connected");
	g_assert_true(json_node_get_boolean(up));
	g_autoptr(JsonNode) reach = at(root, "$.nodes[1].reachable");
	g_assert_true(json_node_get_boolean(reach));
	g_autoptr(JsonNode) unreach = at(root, "$.nodes[2].reachable");
	g_assert_false(json_node_get_boolean(unreach));
	g_autoptr(JsonNode) noname = at(root, "$.nodes[3].name");
	g_assert_true(JSON_NODE_HOLDS_NULL(noname));
	g_autoptr(JsonNode) link3 = at(root, "$.nodes[3].links[0].link");
	g_assert_cmpint(json_node_get_int(link3), ==, 3);
	g_autoptr(JsonNode) addr = at(root, "$.nodes[3].links[0].address");
	g_assert_cmpstr(json_node_get_string(addr), ==, "fd00::4");
	g_autoptr(JsonNode) mtu = at(root, "$.nodes[1].links[1].mtu");
	g_assert_cmpint(json_node_get_int(mtu), ==, 1397);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pvecm_links/text", test_text);
	g_test_add_func("/pvecm_links/json", test_json);
	return g_test_run();
}
