/* Unit tests for the output of pvecm status and pvecm nodes
 * (include/pvecm_status.h): the "Cluster information" block, then what
 * corosync-quorumtool -siH and -l print, byte for byte, and the same data
 * as JSON. Scripts parse both, so the expected texts are written out
 * whole, trailing spaces included. */
#include "pvecm_status.h"

#include <corosync/votequorum.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <stdlib.h>
#include <string.h>

/* 2023-11-14 22:13:20 UTC, shown in UTC (main sets TZ) */
#define NOW ((time_t)1700000000)
#define DATE_LINE "Date:             Tue Nov 14 22:13:20 2023\n"

static void member_free(gpointer p)
{
	pvecm_quorum_member_t *m = p;

	g_free(m->name);
	g_free(m->ip);
	g_free(m);
}

static pvecm_quorum_member_t *member_add(pvecm_quorum_t *q, uint32_t id, const char *name,
					 const char *ip)
{
	pvecm_quorum_member_t *m = g_new0(pvecm_quorum_member_t, 1);

	m->nodeid = id;
	m->name = g_strdup(name);
	m->ip = g_strdup(ip);
	m->local = id == q->nodeid;
	m->votes = q->votequorum ? 1 : 0;
	g_ptr_array_add(q->members, m);
	return m;
}

/* Node LOCAL's view of a votequorum cluster with NODES of 3 nodes present,
 * one vote each, no quorum device; the members are added by the caller. */
static pvecm_quorum_t *view(uint32_t local, uint32_t nodes)
{
	pvecm_quorum_t *q = g_new0(pvecm_quorum_t, 1);

	q->provider = g_strdup("corosync_votequorum");
	q->votequorum = true;
	q->quorate = nodes >= 2;
	q->nodeid = local;
	q->ring_nodeid = 1;
	q->ring_seq = 0x2a;
	q->expected_votes = 3;
	q->highest_expected = 3;
	q->total_votes = nodes;
	q->quorum = 2;
	q->flags = q->quorate ? VOTEQUORUM_INFO_QUORATE : 0;
	q->members = g_ptr_array_new_with_free_func(member_free);
	return q;
}

static pvecm_quorum_t *three_nodes(void)
{
	pvecm_quorum_t *q = view(2, 3);

	member_add(q, 1, "n1", "10.0.0.1");
	member_add(q, 2, "n2", "10.0.0.2");
	member_add(q, 3, "n3", "10.0.0.3");
	return q;
}

static const pvecm_status_cluster_t cluster = {
    .name = "testclu",
    .config_version = "4",
    .transport = "knet",
    .secauth = "on",
};

#define CLUSTER_BLOCK                                                                              \
	"Cluster information\n"                                                                    \
	"-------------------\n"                                                                    \
	"Name:             testclu\n"                                                              \
	"Config Version:   4\n"                                                                    \
	"Transport:        knet\n"                                                                 \
	"Secure auth:      on\n"                                                                   \
	"\n"

static void test_text_quorate_three_nodes(void)
{
	g_autoptr(pvecm_quorum_t) q = three_nodes();
	g_autofree char *text = pvecm_status_text(&cluster, q, NOW);

	g_assert_cmpstr(text, ==,
			CLUSTER_BLOCK "Quorum information\n"
				      "------------------\n" DATE_LINE
				      "Quorum provider:  corosync_votequorum\n"
				      "Nodes:            3\n"
				      "Node ID:          0x00000002\n"
				      "Ring ID:          1.2a\n"
				      "Quorate:          Yes\n"
				      "\n"
				      "Votequorum information\n"
				      "----------------------\n"
				      "Expected votes:   3\n"
				      "Highest expected: 3\n"
				      "Total votes:      3\n"
				      "Quorum:           2  \n"
				      "Flags:            Quorate \n"
				      "\n"
				      "Membership information\n"
				      "----------------------\n"
				      "    Nodeid      Votes Name\n"
				      "0x00000001          1 10.0.0.1\n"
				      "0x00000002          1 10.0.0.2 (local)\n"
				      "0x00000003          1 10.0.0.3\n");
}

static void test_nodes_text_three_nodes(void)
{
	g_autoptr(pvecm_quorum_t) q = three_nodes();
	g_autofree char *text = pvecm_status_nodes_text(q);

	g_assert_cmpstr(text, ==,
			"\n"
			"Membership information\n"
			"----------------------\n"
			"    Nodeid      Votes Name\n"
			"         1          1 n1\n"
			"         2          1 n2 (local)\n"
			"         3          1 n3\n");
}

static void test_text_inquorate(void)
{
	g_autoptr(pvecm_quorum_t) q = view(3, 1);
	g_autofree char *text = NULL;

	q->ring_nodeid = 3;
	q->ring_seq = 0x1f0;
	member_add(q, 3, "n3", "10.0.0.3");
	text = pvecm_status_text(&cluster, q, NOW);
	g_assert_cmpstr(text, ==,
			CLUSTER_BLOCK "Quorum information\n"
				      "------------------\n" DATE_LINE
				      "Quorum provider:  corosync_votequorum\n"
				      "Nodes:            1\n"
				      "Node ID:          0x00000003\n"
				      "Ring ID:          3.1f0\n"
				      "Quorate:          No\n"
				      "\n"
				      "Votequorum information\n"
				      "----------------------\n"
				      "Expected votes:   3\n"
				      "Highest expected: 3\n"
				      "Total votes:      1\n"
				      "Quorum:           2 Activity blocked\n"
				      "Flags:            \n"
				      "\n"
				      "Membership information\n"
				      "----------------------\n"
				      "    Nodeid      Votes Name\n"
				      "0x00000003          1 10.0.0.3 (local)\n");
}

static void test_text_flags_in_the_tools_order(void)
{
	g_autoptr(pvecm_quorum_t) q = view(1, 2);
	g_autofree char *text = NULL;

	q->expected_votes = q->highest_expected = 2;
	q->quorum = 1;
	q->flags = VOTEQUORUM_INFO_QUORATE | VOTEQUORUM_INFO_TWONODE |
		   VOTEQUORUM_INFO_ALLOW_DOWNSCALE | VOTEQUORUM_INFO_WAIT_FOR_ALL |
		   VOTEQUORUM_INFO_AUTO_TIE_BREAKER | VOTEQUORUM_INFO_LAST_MAN_STANDING;
	member_add(q, 1, "n1", "10.0.0.1");
	member_add(q, 2, "n2", "10.0.0.2");
	text = pvecm_status_text(&cluster, q, NOW);
	g_assert_nonnull(strstr(text, "\nQuorum:           1  \n"
				      "Flags:            2Node Quorate WaitForAll LastManStanding "
				      "AutoTieBreaker AllowDownscale \n\n"));
}

/* n1 and n2 with a device registered on n1 only; LOCAL's view, the device
 * casting its vote there or not. */
static pvecm_quorum_t *with_qdevice(uint32_t local, bool cast_vote)
{
	pvecm_quorum_t *q = view(local, 2);
	pvecm_quorum_member_t *m;

	q->expected_votes = q->highest_expected = 3;
	q->total_votes = 3;
	q->flags |= VOTEQUORUM_INFO_QDEVICE_REGISTERED;
	q->qdevice = true;
	q->qdevice_name = g_strdup("Qdevice");
	q->qdevice_votes = 1;
	q->qdevice_cast_vote = cast_vote;
	m = member_add(q, 1, "n1", "10.0.0.1");
	m->flags = VOTEQUORUM_INFO_QDEVICE_REGISTERED | VOTEQUORUM_INFO_QDEVICE_ALIVE |
		   VOTEQUORUM_INFO_QDEVICE_CAST_VOTE;
	member_add(q, 2, "n2", "10.0.0.2");
	return q;
}

static void test_text_qdevice_voting(void)
{
	g_autoptr(pvecm_quorum_t) q = with_qdevice(1, true);
	g_autofree char *text = pvecm_status_text(NULL, q, NOW);
	g_autofree char *nodes = pvecm_status_nodes_text(q);

	g_assert_cmpstr(text, ==,
			"Quorum information\n"
			"------------------\n" DATE_LINE "Quorum provider:  corosync_votequorum\n"
			"Nodes:            2\n"
			"Node ID:          0x00000001\n"
			"Ring ID:          1.2a\n"
			"Quorate:          Yes\n"
			"\n"
			"Votequorum information\n"
			"----------------------\n"
			"Expected votes:   3\n"
			"Highest expected: 3\n"
			"Total votes:      3\n"
			"Quorum:           2  \n"
			"Flags:            Quorate Qdevice \n"
			"\n"
			"Membership information\n"
			"----------------------\n"
			"    Nodeid      Votes    Qdevice Name\n"
			"0x00000001          1    A,V,NMW 10.0.0.1 (local)\n"
			"0x00000002          1         NR 10.0.0.2\n"
			"0x00000000          1            Qdevice\n");
	g_assert_cmpstr(nodes, ==,
			"\n"
			"Membership information\n"
			"----------------------\n"
			"    Nodeid      Votes    Qdevice Name\n"
			"         1          1    A,V,NMW n1 (local)\n"
			"         2          1         NR n2\n"
			"         0          1            Qdevice\n");
}

/* On a node whose device does not vote, the tool shows the device's votes
 * as 0 and its real count after the name. */
static void test_text_qdevice_not_voting_here(void)
{
	g_autoptr(pvecm_quorum_t) q = with_qdevice(2, false);
	g_autofree char *nodes = pvecm_status_nodes_text(q);

	g_assert_cmpstr(nodes, ==,
			"\n"
			"Membership information\n"
			"----------------------\n"
			"    Nodeid      Votes    Qdevice Name\n"
			"         1          1    A,V,NMW n1\n"
			"         2          1         NR n2 (local)\n"
			"         0          0            Qdevice (votes 1)\n");
}

static void test_text_qdevice_flag_columns(void)
{
	static const struct {
		uint32_t flags;
		const char *cell;
	} cases[] = {
	    {VOTEQUORUM_INFO_QDEVICE_REGISTERED | VOTEQUORUM_INFO_QDEVICE_CAST_VOTE, "  NA,V,NMW "},
	    {VOTEQUORUM_INFO_QDEVICE_REGISTERED | VOTEQUORUM_INFO_QDEVICE_ALIVE |
		 VOTEQUORUM_INFO_QDEVICE_MASTER_WINS,
	     "   A,NV,MW "},
	    {VOTEQUORUM_INFO_QDEVICE_REGISTERED | VOTEQUORUM_INFO_QDEVICE_ALIVE |
		 VOTEQUORUM_INFO_QDEVICE_CAST_VOTE | VOTEQUORUM_INFO_QDEVICE_MASTER_WINS,
	     "    A,V,MW "},
	    /* registered but neither alive nor voting: the tool cuts the
	     * text to 8 characters (snprintf into 9 of its 10 bytes) */
	    {VOTEQUORUM_INFO_QDEVICE_REGISTERED, "  NA,NV,NM "},
	    {0, "        NR "},
	};

	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(pvecm_quorum_t) q = with_qdevice(1, true);
		pvecm_quorum_member_t *m = q->members->pdata[1];
		g_autofree char *nodes = NULL;
		g_autofree char *want = NULL;

		m->flags = cases[i].flags;
		nodes = pvecm_status_nodes_text(q);
		want = g_strdup_printf("\n         2          1 %sn2\n", cases[i].cell);
		g_assert_nonnull(strstr(nodes, want));
	}
}

/* A node with neither a nodelist name nor a known address: the tool
 * prints an empty name; the JSON has null. */
static void test_node_without_name(void)
{
	g_autoptr(pvecm_quorum_t) q = view(1, 2);
	g_autofree char *text = NULL;
	g_autofree char *nodes = NULL;

	member_add(q, 1, "n1", "10.0.0.1");
	member_add(q, 4, NULL, NULL);
	text = pvecm_status_text(&cluster, q, NOW);
	nodes = pvecm_status_nodes_text(q);
	g_assert_true(g_str_has_suffix(text, "    Nodeid      Votes Name\n"
					     "0x00000001          1 10.0.0.1 (local)\n"
					     "0x00000004          1 \n"));
	g_assert_true(g_str_has_suffix(nodes, "    Nodeid      Votes Name\n"
					      "         1          1 n1 (local)\n"
					      "         4          1 \n"));
}

/* Addresses longer than the columns push nothing: the name is last. */
static void test_text_ipv6(void)
{
	g_autoptr(pvecm_quorum_t) q = view(1, 2);
	g_autofree char *text = NULL;

	member_add(q, 1, "n1", "fd00::1");
	member_add(q, 2, "n2", "2001:db8:ffff:ffff:ffff:ffff:ffff:2");
	member_add(q, 4000000000u, "n4", "fe80::4");
	text = pvecm_status_text(&cluster, q, NOW);
	g_assert_true(g_str_has_suffix(text,
				       "    Nodeid      Votes Name\n"
				       "0x00000001          1 fd00::1 (local)\n"
				       "0x00000002          1 2001:db8:ffff:ffff:ffff:ffff:ffff:2\n"
				       "0xee6b2800          1 fe80::4\n"));
}

/* Keys the file leaves out show corosync's defaults; a file that could not
 * be read leaves the block out. */
static void test_text_cluster_defaults(void)
{
	g_autoptr(pvecm_quorum_t) q = three_nodes();
	const pvecm_status_cluster_t empty = {0};
	g_autofree char *text = pvecm_status_text(&empty, q, NOW);
	g_autofree char *bare = pvecm_status_text(NULL, q, NOW);

	g_assert_true(g_str_has_prefix(text, "Cluster information\n"
					     "-------------------\n"
					     "Name:             UNKNOWN?\n"
					     "Config Version:   -1\n"
					     "Transport:        knet\n"
					     "Secure auth:      off\n"
					     "\n"
					     "Quorum information\n"));
	g_assert_true(g_str_has_prefix(bare, "Quorum information\n"));
}

/* Without votequorum the tool stops after Quorate, and lists no votes. */
static void test_text_without_votequorum(void)
{
	g_autoptr(pvecm_quorum_t) q = three_nodes();
	g_autofree char *text = NULL;
	g_autofree char *nodes = NULL;

	g_clear_pointer(&q->provider, g_free);
	q->votequorum = false;
	q->nodeid = 0;
	q->ring_nodeid = 0;
	q->ring_seq = 0x10;
	text = pvecm_status_text(NULL, q, NOW);
	nodes = pvecm_status_nodes_text(q);
	g_assert_cmpstr(text, ==,
			"Quorum information\n"
			"------------------\n" DATE_LINE "Quorum provider:  Not configured\n"
			"Nodes:            3\n"
			"Node ID:          0x00000000\n"
			"Ring ID:          10\n"
			"Quorate:          Yes\n");
	g_assert_true(g_str_has_prefix(nodes, "\n"
					      "Membership information\n"
					      "----------------------\n"
					      "    Nodeid Name\n"
					      "         1 n1\n"));
}

/* JSON */

static JsonNode *parse(const char *text)
{
	g_autoptr(JsonParser) p = json_parser_new();
	g_autoptr(GError) err = NULL;

	g_assert_null(strchr(text, '\n'));
	g_assert_true(json_parser_load_from_data(p, text, -1, &err));
	g_assert_no_error(err);
	return json_node_copy(json_parser_get_root(p));
}

/* The node at the dotted PATH under ROOT (array indexes as numbers) */
static JsonNode *at(JsonNode *root, const char *path)
{
	g_auto(GStrv) keys = g_strsplit(path, ".", -1);
	JsonNode *n = root;

	for (char **k = keys; *k; k++) {
		if (JSON_NODE_HOLDS_ARRAY(n)) {
			JsonArray *a = json_node_get_array(n);
			guint64 i;

			g_assert_true(g_ascii_string_to_unsigned(*k, 10, 0, G_MAXUINT, &i, NULL));
			g_assert_cmpuint(i, <, json_array_get_length(a));
			n = json_array_get_element(a, i);
		} else {
			g_assert_true(JSON_NODE_HOLDS_OBJECT(n));
			g_assert_true(json_object_has_member(json_node_get_object(n), *k));
			n = json_object_get_member(json_node_get_object(n), *k);
		}
	}
	return n;
}

/* OBJ's keys, sorted, comma-separated */
static char *keys_of(JsonNode *obj)
{
	g_assert_true(JSON_NODE_HOLDS_OBJECT(obj));
	GList *members = json_object_get_members(json_node_get_object(obj));
	g_autoptr(GString) s = g_string_new(NULL);

	members = g_list_sort(members, (GCompareFunc)strcmp);
	for (GList *l = members; l; l = l->next)
		g_string_append_printf(s, "%s%s", s->len ? "," : "", (char *)l->data);
	g_list_free(members);
	return g_strdup(s->str);
}

static void assert_keys(JsonNode *root, const char *path, const char *want)
{
	g_autofree char *got = keys_of(*path ? at(root, path) : root);

	g_assert_cmpstr(got, ==, want);
}

static void assert_int(JsonNode *root, const char *path, gint64 want)
{
	JsonNode *n = at(root, path);

	g_assert_cmpint(json_node_get_value_type(n), ==, G_TYPE_INT64);
	g_assert_cmpint(json_node_get_int(n), ==, want);
}

static void assert_bool(JsonNode *root, const char *path, bool want)
{
	JsonNode *n = at(root, path);

	g_assert_cmpint(json_node_get_value_type(n), ==, G_TYPE_BOOLEAN);
	g_assert_cmpint(json_node_get_boolean(n), ==, want);
}

static void assert_string(JsonNode *root, const char *path, const char *want)
{
	JsonNode *n = at(root, path);

	g_assert_cmpint(json_node_get_value_type(n), ==, G_TYPE_STRING);
	g_assert_cmpstr(json_node_get_string(n), ==, want);
}

static void assert_null(JsonNode *root, const char *path)
{
	g_assert_true(JSON_NODE_HOLDS_NULL(at(root, path)));
}

static void test_json_quorate_three_nodes(void)
{
	g_autoptr(pvecm_quorum_t) q = three_nodes();
	g_autofree char *text = pvecm_status_json(&cluster, q);
	g_autoptr(JsonNode) root = parse(text);
	JsonNode *flags;

	assert_keys(root, "", "cluster,members,qdevice,quorum,votequorum");
	assert_keys(root, "cluster", "config_version,name,secauth,transport");
	assert_string(root, "cluster.name", "testclu");
	assert_int(root, "cluster.config_version", 4);
	assert_string(root, "cluster.transport", "knet");
	assert_bool(root, "cluster.secauth", true);
	assert_keys(root, "quorum", "nodeid,nodes,provider,quorate,ring_id");
	assert_string(root, "quorum.provider", "corosync_votequorum");
	assert_int(root, "quorum.nodes", 3);
	assert_int(root, "quorum.nodeid", 2);
	assert_keys(root, "quorum.ring_id", "nodeid,seq");
	assert_int(root, "quorum.ring_id.nodeid", 1);
	assert_int(root, "quorum.ring_id.seq", 0x2a);
	assert_bool(root, "quorum.quorate", true);
	assert_keys(root, "votequorum", "expected_votes,flags,highest_expected,quorum,total_votes");
	assert_int(root, "votequorum.expected_votes", 3);
	assert_int(root, "votequorum.highest_expected", 3);
	assert_int(root, "votequorum.total_votes", 3);
	assert_int(root, "votequorum.quorum", 2);
	flags = at(root, "votequorum.flags");
	g_assert_true(JSON_NODE_HOLDS_ARRAY(flags));
	g_assert_cmpuint(json_array_get_length(json_node_get_array(flags)), ==, 1);
	assert_string(root, "votequorum.flags.0", "Quorate");
	g_assert_cmpuint(json_array_get_length(json_node_get_array(at(root, "members"))), ==, 3);
	for (int i = 0; i < 3; i++) {
		g_autofree char *m = g_strdup_printf("members.%d", i);
		g_autofree char *id = g_strdup_printf("%s.nodeid", m);
		g_autofree char *votes = g_strdup_printf("%s.votes", m);
		g_autofree char *name = g_strdup_printf("%s.name", m);
		g_autofree char *ip = g_strdup_printf("%s.ip", m);
		g_autofree char *local = g_strdup_printf("%s.local", m);
		g_autofree char *want_name = g_strdup_printf("n%d", i + 1);
		g_autofree char *want_ip = g_strdup_printf("10.0.0.%d", i + 1);

		assert_keys(root, m, "ip,local,name,nodeid,votes");
		assert_int(root, id, i + 1);
		assert_int(root, votes, 1);
		assert_string(root, name, want_name);
		assert_string(root, ip, want_ip);
		assert_bool(root, local, i + 1 == 2);
	}
	assert_null(root, "qdevice");
}

static void test_json_inquorate(void)
{
	g_autoptr(pvecm_quorum_t) q = view(3, 1);
	g_autofree char *text = NULL;
	g_autoptr(JsonNode) root = NULL;

	member_add(q, 3, "n3", "10.0.0.3");
	text = pvecm_status_json(&cluster, q);
	root = parse(text);
	assert_bool(root, "quorum.quorate", false);
	assert_int(root, "quorum.nodes", 1);
	assert_int(root, "votequorum.total_votes", 1);
	g_assert_cmpuint(json_array_get_length(json_node_get_array(at(root, "votequorum.flags"))),
			 ==, 0);
}

static void test_json_qdevice(void)
{
	g_autoptr(pvecm_quorum_t) q = with_qdevice(2, false);
	g_autofree char *text = pvecm_status_json(&cluster, q);
	g_autoptr(JsonNode) root = parse(text);

	assert_string(root, "votequorum.flags.0", "Quorate");
	assert_string(root, "votequorum.flags.1", "Qdevice");
	assert_keys(root, "qdevice", "cast_vote,name,nodeid,votes");
	assert_int(root, "qdevice.nodeid", 0);
	assert_string(root, "qdevice.name", "Qdevice");
	assert_int(root, "qdevice.votes", 1);
	assert_bool(root, "qdevice.cast_vote", false);
	assert_keys(root, "members.0", "ip,local,name,nodeid,qdevice,votes");
	assert_keys(root, "members.0.qdevice", "alive,cast_vote,master_wins,registered");
	assert_bool(root, "members.0.qdevice.registered", true);
	assert_bool(root, "members.0.qdevice.alive", true);
	assert_bool(root, "members.0.qdevice.cast_vote", true);
	assert_bool(root, "members.0.qdevice.master_wins", false);
	assert_bool(root, "members.1.qdevice.registered", false);
	assert_bool(root, "members.1.qdevice.alive", false);
}

/* A missing or unparsable cluster block, a nameless node and no
 * votequorum: nulls where the text has defaults or nothing. */
static void test_json_nulls(void)
{
	g_autoptr(pvecm_quorum_t) q = view(1, 2);
	const pvecm_status_cluster_t odd = {.config_version = "x"};
	g_autofree char *text = NULL;
	g_autofree char *bare = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autoptr(JsonNode) bare_root = NULL;

	member_add(q, 1, "n1", "fd00::1");
	member_add(q, 4, NULL, NULL);
	text = pvecm_status_json(&odd, q);
	root = parse(text);
	assert_null(root, "cluster.name");
	assert_null(root, "cluster.config_version");
	assert_string(root, "cluster.transport", "knet");
	assert_bool(root, "cluster.secauth", false);
	assert_string(root, "members.0.ip", "fd00::1");
	assert_null(root, "members.1.name");
	assert_null(root, "members.1.ip");

	g_clear_pointer(&q->provider, g_free);
	q->votequorum = false;
	bare = pvecm_status_json(NULL, q);
	bare_root = parse(bare);
	assert_null(bare_root, "cluster");
	assert_null(bare_root, "quorum.provider");
	assert_null(bare_root, "votequorum");
	assert_null(bare_root, "members.0.votes");
}

static void test_nodes_json(void)
{
	g_autoptr(pvecm_quorum_t) q = with_qdevice(1, true);
	g_autofree char *text = pvecm_status_nodes_json(q);
	g_autoptr(JsonNode) root = parse(text);

	assert_keys(root, "", "members");
	g_assert_cmpuint(json_array_get_length(json_node_get_array(at(root, "members"))), ==, 2);
	assert_keys(root, "members.0", "local,name,nodeid,qdevice,votes");
	assert_int(root, "members.0.nodeid", 1);
	assert_int(root, "members.0.votes", 1);
	assert_string(root, "members.0.name", "n1");
	assert_bool(root, "members.0.local", true);
	assert_bool(root, "members.0.qdevice.alive", true);
	assert_bool(root, "members.1.local", false);
}

int main(int argc, char **argv)
{
	/* the Date line is local time */
	setenv("TZ", "UTC", 1);
	tzset();
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pvecm_status/text/quorate-three-nodes", test_text_quorate_three_nodes);
	g_test_add_func("/pvecm_status/text/nodes-three-nodes", test_nodes_text_three_nodes);
	g_test_add_func("/pvecm_status/text/inquorate", test_text_inquorate);
	g_test_add_func("/pvecm_status/text/flags-in-the-tools-order",
			test_text_flags_in_the_tools_order);
	g_test_add_func("/pvecm_status/text/qdevice-voting", test_text_qdevice_voting);
	g_test_add_func("/pvecm_status/text/qdevice-not-voting-here",
			test_text_qdevice_not_voting_here);
	g_test_add_func("/pvecm_status/text/qdevice-flag-columns", test_text_qdevice_flag_columns);
	g_test_add_func("/pvecm_status/text/node-without-name", test_node_without_name);
	g_test_add_func("/pvecm_status/text/ipv6", test_text_ipv6);
	g_test_add_func("/pvecm_status/text/cluster-defaults", test_text_cluster_defaults);
	g_test_add_func("/pvecm_status/text/without-votequorum", test_text_without_votequorum);
	g_test_add_func("/pvecm_status/json/quorate-three-nodes", test_json_quorate_three_nodes);
	g_test_add_func("/pvecm_status/json/inquorate", test_json_inquorate);
	g_test_add_func("/pvecm_status/json/qdevice", test_json_qdevice);
	g_test_add_func("/pvecm_status/json/nulls", test_json_nulls);
	g_test_add_func("/pvecm_status/json/nodes", test_nodes_json);
	return g_test_run();
}
