/* corosync.conf parser and writer: the manual's example files read, write
 * and read back the same; malformed files fail on the line corosync
 * names; validation and name resolution say which item is wrong; and,
 * where corosync is installed, corosync itself accepts what we write and
 * rejects what we reject. */
#include "corosync_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* The three corosync.conf files of seed-pvecm.adoc, as printed there. */

/* "Separate After Cluster Creation", before the change */
static const char manual_before[] = "logging {\n"
				    "debug: off\n"
				    "to_syslog: yes\n"
				    "}\n"
				    "nodelist {\n"
				    "node {\n"
				    "name: due\n"
				    "nodeid: 2\n"
				    "quorum_votes: 1\n"
				    "ring0_addr: due\n"
				    "}\n"
				    "node {\n"
				    "name: tre\n"
				    "nodeid: 3\n"
				    "quorum_votes: 1\n"
				    "ring0_addr: tre\n"
				    "}\n"
				    "node {\n"
				    "name: uno\n"
				    "nodeid: 1\n"
				    "quorum_votes: 1\n"
				    "ring0_addr: uno\n"
				    "}\n"
				    "}\n"
				    "quorum {\n"
				    "provider: corosync_votequorum\n"
				    "}\n"
				    "totem {\n"
				    "cluster_name: testcluster\n"
				    "config_version: 3\n"
				    "ip_version: ipv4-6\n"
				    "secauth: on\n"
				    "version: 2\n"
				    "interface {\n"
				    "linknumber: 0\n"
				    "}\n"
				    "}\n";

/* "Separate After Cluster Creation", after the change */
static const char manual_after[] = "logging {\n"
				   "debug: off\n"
				   "to_syslog: yes\n"
				   "}\n"
				   "nodelist {\n"
				   "node {\n"
				   "name: due\n"
				   "nodeid: 2\n"
				   "quorum_votes: 1\n"
				   "ring0_addr: 10.10.10.2\n"
				   "}\n"
				   "node {\n"
				   "name: tre\n"
				   "nodeid: 3\n"
				   "quorum_votes: 1\n"
				   "ring0_addr: 10.10.10.3\n"
				   "}\n"
				   "node {\n"
				   "name: uno\n"
				   "nodeid: 1\n"
				   "quorum_votes: 1\n"
				   "ring0_addr: 10.10.10.1\n"
				   "}\n"
				   "}\n"
				   "quorum {\n"
				   "provider: corosync_votequorum\n"
				   "}\n"
				   "totem {\n"
				   "cluster_name: testcluster\n"
				   "config_version: 4\n"
				   "ip_version: ipv4-6\n"
				   "secauth: on\n"
				   "version: 2\n"
				   "interface {\n"
				   "linknumber: 0\n"
				   "}\n"
				   "}\n";

/* "Adding Redundant Links To An Existing Cluster" */
static const char manual_redundant[] = "logging {\n"
				       "debug: off\n"
				       "to_syslog: yes\n"
				       "}\n"
				       "nodelist {\n"
				       "node {\n"
				       "name: due\n"
				       "nodeid: 2\n"
				       "quorum_votes: 1\n"
				       "ring0_addr: 10.10.10.2\n"
				       "ring1_addr: 10.20.20.2\n"
				       "}\n"
				       "node {\n"
				       "name: tre\n"
				       "nodeid: 3\n"
				       "quorum_votes: 1\n"
				       "ring0_addr: 10.10.10.3\n"
				       "ring1_addr: 10.20.20.3\n"
				       "}\n"
				       "node {\n"
				       "name: uno\n"
				       "nodeid: 1\n"
				       "quorum_votes: 1\n"
				       "ring0_addr: 10.10.10.1\n"
				       "ring1_addr: 10.20.20.1\n"
				       "}\n"
				       "}\n"
				       "quorum {\n"
				       "provider: corosync_votequorum\n"
				       "}\n"
				       "totem {\n"
				       "cluster_name: testcluster\n"
				       "config_version: 4\n"
				       "ip_version: ipv4-6\n"
				       "secauth: on\n"
				       "version: 2\n"
				       "interface {\n"
				       "linknumber: 0\n"
				       "}\n"
				       "interface {\n"
				       "linknumber: 1\n"
				       "}\n"
				       "}\n";

/* What each manual file must read as. */
typedef struct {
	const char *text;
	uint64_t version;
	const char *ring0[3]; /* due, tre, uno */
	const char *ring1[3]; /* NULL where there is no second link */
	unsigned interfaces;
} manual_t;

static const manual_t manual[] = {
    {manual_before, 3, {"due", "tre", "uno"}, {NULL, NULL, NULL}, 1},
    {manual_after, 4, {"10.10.10.2", "10.10.10.3", "10.10.10.1"}, {NULL, NULL, NULL}, 1},
    {manual_redundant,
     4,
     {"10.10.10.2", "10.10.10.3", "10.10.10.1"},
     {"10.20.20.2", "10.20.20.3", "10.20.20.1"},
     2},
};

/* Helpers */

static corosync_conf_t *parse_ok(const char *text)
{
	g_autoptr(GError) err = NULL;
	corosync_conf_t *conf = corosync_conf_parse(text, -1, "test.conf", &err);

	g_assert_no_error(err);
	g_assert_nonnull(conf);
	return conf;
}

static void assert_same_items(const corosync_conf_item_t *a, const corosync_conf_item_t *b)
{
	g_assert_cmpint(a->kind, ==, b->kind);
	g_assert_cmpstr(a->name, ==, b->name);
	g_assert_cmpstr(a->value, ==, b->value);
	if (a->kind != COROSYNC_CONF_SECTION)
		return;
	g_assert_cmpuint(a->items->len, ==, b->items->len);
	for (guint i = 0; i < a->items->len; i++)
		assert_same_items(g_ptr_array_index(a->items, i), g_ptr_array_index(b->items, i));
}

/* Writing CONF and reading it back gives the same tree, and writing that
 * again gives the same text. */
static void assert_round_trip(const corosync_conf_t *conf)
{
	g_autofree char *once = corosync_conf_to_string(conf);
	g_autoptr(corosync_conf_t) again = parse_ok(once);
	g_autofree char *twice = corosync_conf_to_string(again);

	assert_same_items(conf->root, again->root);
	g_assert_cmpstr(once, ==, twice);
	g_assert_true(corosync_conf_check_writable(conf, NULL));
}

static corosync_conf_item_t *child(const corosync_conf_item_t *section, guint i)
{
	g_assert_cmpuint(i, <, section->items->len);
	return g_ptr_array_index(section->items, i);
}

static char *make_tmp_dir(void)
{
	g_autoptr(GError) err = NULL;
	char *dir = g_dir_make_tmp("test-corosync-conf-XXXXXX", &err);

	g_assert_no_error(err);
	return dir;
}

static void remove_tmp_dir(const char *dir)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	g_assert_nonnull(d);
	while ((name = g_dir_read_name(d))) {
		g_autofree char *p = g_build_filename(dir, name, NULL);
		g_assert_cmpint(g_unlink(p), ==, 0);
	}
	g_dir_close(d);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static char *read_text(const char *path)
{
	g_autoptr(GError) err = NULL;
	char *text = NULL;

	g_assert_true(g_file_get_contents(path, &text, NULL, &err));
	g_assert_no_error(err);
	return text;
}

/* The manual's files */

static void test_manual_values(gconstpointer data)
{
	const manual_t *m = data;
	g_autoptr(corosync_conf_t) conf = parse_ok(m->text);
	static const char *const names[] = {"due", "tre", "uno"};
	static const uint32_t ids[] = {2, 3, 1};

	g_assert_cmpuint(corosync_conf_version(conf), ==, m->version);
	g_assert_cmpstr(corosync_conf_get(conf, "totem.cluster_name"), ==, "testcluster");
	g_assert_cmpstr(corosync_conf_get(conf, "totem.ip_version"), ==, "ipv4-6");
	g_assert_cmpstr(corosync_conf_get(conf, "totem.secauth"), ==, "on");
	g_assert_cmpstr(corosync_conf_get(conf, "quorum.provider"), ==, "corosync_votequorum");
	g_assert_cmpstr(corosync_conf_get(conf, "logging.to_syslog"), ==, "yes");
	g_assert_cmpstr(corosync_conf_get(conf, "totem.interface.linknumber"), ==, "0");

	g_autoptr(GPtrArray) nodes = corosync_conf_nodes(conf);
	g_assert_cmpuint(nodes->len, ==, 3);
	for (guint i = 0; i < 3; i++) {
		const corosync_conf_node_t *n = g_ptr_array_index(nodes, i);
		g_assert_cmpstr(n->name, ==, names[i]);
		g_assert_cmpuint(n->nodeid, ==, ids[i]);
		g_assert_cmpuint(n->votes, ==, 1);
		g_assert_cmpstr(n->addr[0], ==, m->ring0[i]);
		g_assert_cmpstr(n->addr[1], ==, m->ring1[i]);
		for (int x = 2; x < COROSYNC_CONF_MAX_LINKS; x++)
			g_assert_null(n->addr[x]);
		g_assert_cmpstr(n->item->name, ==, "node");
	}

	const corosync_conf_item_t *totem = corosync_conf_find_section(conf->root, "totem");
	g_assert_nonnull(totem);
	unsigned interfaces = 0;
	for (guint i = 0; i < totem->items->len; i++) {
		const corosync_conf_item_t *it = child(totem, i);
		if (it->kind != COROSYNC_CONF_SECTION)
			continue;
		g_assert_cmpstr(it->name, ==, "interface");
		uint64_t link;
		g_assert_true(g_ascii_string_to_unsigned(corosync_conf_find_value(it, "linknumber"),
							 10, 0, 7, &link, NULL));
		g_assert_cmpuint(link, ==, interfaces);
		interfaces++;
	}
	g_assert_cmpuint(interfaces, ==, m->interfaces);
}

static void test_manual_round_trip(gconstpointer data)
{
	const manual_t *m = data;
	g_autoptr(corosync_conf_t) conf = parse_ok(m->text);

	assert_round_trip(conf);
	/* the order of the file, not an order of our own */
	g_assert_cmpstr(child(conf->root, 0)->name, ==, "logging");
	g_assert_cmpstr(child(conf->root, 3)->name, ==, "totem");
	const corosync_conf_item_t *totem = child(conf->root, 3);
	static const char *const keys[] = {"cluster_name", "config_version", "ip_version",
					   "secauth", "version"};
	for (guint i = 0; i < G_N_ELEMENTS(keys); i++)
		g_assert_cmpstr(child(totem, i)->name, ==, keys[i]);
}

static void test_manual_validates(gconstpointer data)
{
	const manual_t *m = data;
	g_autoptr(corosync_conf_t) conf = parse_ok(m->text);
	g_autoptr(GError) err = NULL;

	g_assert_true(corosync_conf_validate(conf, "corosync.conf", &err));
	g_assert_no_error(err);
}

/* The layout we write, on the manual's file after the change. */
static void test_write_layout(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok(manual_after);
	g_autofree char *text = corosync_conf_to_string(conf);

	g_assert_cmpstr(text, ==,
			"logging {\n"
			"  debug: off\n"
			"  to_syslog: yes\n"
			"}\n"
			"\n"
			"nodelist {\n"
			"  node {\n"
			"    name: due\n"
			"    nodeid: 2\n"
			"    quorum_votes: 1\n"
			"    ring0_addr: 10.10.10.2\n"
			"  }\n"
			"  node {\n"
			"    name: tre\n"
			"    nodeid: 3\n"
			"    quorum_votes: 1\n"
			"    ring0_addr: 10.10.10.3\n"
			"  }\n"
			"  node {\n"
			"    name: uno\n"
			"    nodeid: 1\n"
			"    quorum_votes: 1\n"
			"    ring0_addr: 10.10.10.1\n"
			"  }\n"
			"}\n"
			"\n"
			"quorum {\n"
			"  provider: corosync_votequorum\n"
			"}\n"
			"\n"
			"totem {\n"
			"  cluster_name: testcluster\n"
			"  config_version: 4\n"
			"  ip_version: ipv4-6\n"
			"  secauth: on\n"
			"  version: 2\n"
			"  interface {\n"
			"    linknumber: 0\n"
			"  }\n"
			"}\n");
}

/* Reading: what corosync takes */

static void test_parse_lenient_forms(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok("totem: {\n"
						   "\tcluster_name:x\n"
						   "  \t config_version:\t  12  \t\n"
						   "ring0_addr: fe80::1\n"
						   "note: b # not a comment\n"
						   "closing: x}\n"
						   "empty:\n"
						   "dotted.key: v\n"
						   "}");
	const corosync_conf_item_t *totem = child(conf->root, 0);

	g_assert_cmpuint(conf->root->items->len, ==, 1);
	g_assert_cmpstr(totem->name, ==, "totem");
	g_assert_cmpstr(corosync_conf_find_value(totem, "cluster_name"), ==, "x");
	g_assert_cmpstr(corosync_conf_find_value(totem, "config_version"), ==, "12");
	g_assert_cmpstr(corosync_conf_find_value(totem, "ring0_addr"), ==, "fe80::1");
	g_assert_cmpstr(corosync_conf_find_value(totem, "note"), ==, "b # not a comment");
	g_assert_cmpstr(corosync_conf_find_value(totem, "closing"), ==, "x}");
	g_assert_cmpstr(corosync_conf_find_value(totem, "empty"), ==, "");
	g_assert_cmpstr(corosync_conf_find_value(totem, "dotted.key"), ==, "v");
	g_assert_cmpuint(corosync_conf_version(conf), ==, 12);
	assert_round_trip(conf);
}

static void test_parse_crlf_and_blanks(void)
{
	g_autoptr(corosync_conf_t) conf =
	    parse_ok("\r\n   \r\n\t\ntotem {\r\n  a: 1 \r\n}\r\n\r\n");
	const corosync_conf_item_t *totem = child(conf->root, 0);

	g_assert_cmpuint(conf->root->items->len, ==, 1);
	g_assert_cmpuint(totem->line, ==, 4);
	g_assert_cmpstr(corosync_conf_find_value(totem, "a"), ==, "1");
	g_assert_cmpuint(child(totem, 0)->line, ==, 5);
}

/* Found by fuzzing: a CR before a CRLF stayed in a comment, and the text
 * written from it lost one CR more at each parse. */
static void test_parse_trailing_white_space_trimmed(void)
{
	g_autoptr(corosync_conf_t) conf =
	    parse_ok("#  : s1  ...\r\r\r\ntotem {\n  a: 1 \r\v\f\t\r\r\n}\r\r");
	const corosync_conf_item_t *totem = child(conf->root, 1);

	g_assert_cmpstr(child(conf->root, 0)->name, ==, "  : s1  ...");
	g_assert_cmpstr(corosync_conf_find_value(totem, "a"), ==, "1");
	assert_round_trip(conf);
}

static void test_parse_length(void)
{
	g_autoptr(GError) err = NULL;
	/* no NUL after the 14 bytes: only LEN may be read */
	const char text[14] = {'a', ' ',  '{', '\n', 'b', ':', ' ',
			       'c', '\n', '}', '\n', 'x', 'x', 'x'};
	g_autoptr(corosync_conf_t) conf = corosync_conf_parse(text, 11, "n.conf", &err);

	g_assert_no_error(err);
	g_assert_cmpstr(corosync_conf_get(conf, "a.b"), ==, "c");

	g_autoptr(corosync_conf_t) empty = parse_ok("");
	g_assert_cmpuint(empty->root->items->len, ==, 0);
	g_autofree char *text_empty = corosync_conf_to_string(empty);
	g_assert_cmpstr(text_empty, ==, "");
}

static void test_parse_lines(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok("# one\n"
						   "\n"
						   "totem {\n"
						   "  # four\n"
						   "  a: 5\n"
						   "  b {\n"
						   "  }\n"
						   "}\n");
	const corosync_conf_item_t *totem = child(conf->root, 1);

	g_assert_cmpuint(child(conf->root, 0)->line, ==, 1);
	g_assert_cmpuint(totem->line, ==, 3);
	g_assert_cmpuint(child(totem, 0)->line, ==, 4);
	g_assert_cmpuint(child(totem, 1)->line, ==, 5);
	g_assert_cmpuint(child(totem, 2)->line, ==, 6);
	g_autoptr(corosync_conf_t) fresh = corosync_conf_new();
	g_assert_cmpuint(fresh->root->line, ==, 0);
}

/* Comments and key order */

static const char commented[] = "# Please read the corosync.conf.5 manual page\n"
				"#second line\n"
				"totem {\n"
				"\t# the name\n"
				"\tcluster_name: x\n"
				"  #indented\n"
				"\tinterface {\n"
				"\t\t# deep\n"
				"\t\tlinknumber: 0\n"
				"\t}\n"
				"\t# last in totem\n"
				"}\n"
				"# between\n"
				"logging {\n"
				"}\n"
				"# trailing\n"
				"top: level\n"
				"# end\n";

static void test_comments_kept(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok(commented);
	const corosync_conf_item_t *root = conf->root;
	const corosync_conf_item_t *totem = child(root, 2);

	g_assert_cmpuint(root->items->len, ==, 8);
	g_assert_cmpint(child(root, 0)->kind, ==, COROSYNC_CONF_COMMENT);
	g_assert_cmpstr(child(root, 0)->name, ==, " Please read the corosync.conf.5 manual page");
	g_assert_null(child(root, 0)->value);
	g_assert_cmpstr(child(root, 1)->name, ==, "second line");
	g_assert_cmpstr(totem->name, ==, "totem");
	g_assert_cmpint(child(totem, 0)->kind, ==, COROSYNC_CONF_COMMENT);
	g_assert_cmpstr(child(totem, 0)->name, ==, " the name");
	g_assert_cmpint(child(totem, 1)->kind, ==, COROSYNC_CONF_PAIR);
	g_assert_cmpstr(child(totem, 2)->name, ==, "indented");
	g_assert_cmpstr(child(child(totem, 3), 0)->name, ==, " deep");
	g_assert_cmpstr(child(totem, 4)->name, ==, " last in totem");
	g_assert_cmpstr(child(root, 3)->name, ==, " between");
	g_assert_cmpstr(child(root, 7)->name, ==, " end");
	assert_round_trip(conf);
}

static void test_comments_layout(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok(commented);
	g_autofree char *text = corosync_conf_to_string(conf);

	g_assert_cmpstr(text, ==,
			"# Please read the corosync.conf.5 manual page\n"
			"#second line\n"
			"totem {\n"
			"  # the name\n"
			"  cluster_name: x\n"
			"  #indented\n"
			"  interface {\n"
			"    # deep\n"
			"    linknumber: 0\n"
			"  }\n"
			"  # last in totem\n"
			"}\n"
			"\n"
			"# between\n"
			"logging {\n"
			"}\n"
			"\n"
			"# trailing\n"
			"top: level\n"
			"# end\n");
}

static void test_key_order_kept(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok("zzz: 1\nb {\ny: 2\na: 3\ny: 4\n}\naaa: 5\n");
	g_autofree char *text = corosync_conf_to_string(conf);

	g_assert_cmpstr(text, ==, "zzz: 1\n\nb {\n  y: 2\n  a: 3\n  y: 4\n}\n\naaa: 5\n");
	assert_round_trip(conf);
	/* the first of two pairs with one key wins, as for get */
	g_assert_cmpstr(corosync_conf_get(conf, "b.y"), ==, "2");
}

/* Reading: what corosync refuses */

typedef struct {
	const char *path;
	const char *text;
	gssize len;
	const char *message;
	bool corosync_agrees; /* corosync -t fails on the same line */
} bad_text_t;

#define LONG_200                                                                                   \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaa"                                                                             \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaa"
#define LONG_60 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
/* "k: " and 508 characters: one more than corosync reads */
#define LONG_LINE "k: " LONG_200 LONG_200 LONG_60 "cccccccccccccccccccccccccccccccccccccccccccccccc"

static const bad_text_t bad_texts[] = {
    {"/parse/error/unclosed", "totem {\nversion: 2\n", -1,
     "test.conf:2: expected '}' to close section 'totem' opened at line 1", true},
    {"/parse/error/unclosed-inner", "totem {\ninterface {\nlinknumber: 0\n\n# c\n", -1,
     "test.conf:5: expected '}' to close section 'interface' opened at line 2", true},
    {"/parse/error/stray-brace", "totem {\n}\n}\n", -1,
     "test.conf:3: expected 'key: value' or 'section {', not '}': no section is open here", true},
    {"/parse/error/garbage", "totem {\nversion 2\n}\n", -1,
     "test.conf:2: expected 'key: value', 'section {' or '}', not 'version 2'", true},
    {"/parse/error/no-section-name", "{\n}\n", -1,
     "test.conf:1: expected a section name before '{'", true},
    {"/parse/error/colon-section-name", "  : {\n}\n", -1,
     "test.conf:1: expected a section name before '{'", false},
    {"/parse/error/text-after-open", "totem { version: 2\n}\n", -1,
     "test.conf:1: expected a line break after 'totem {'", true},
    {"/parse/error/text-after-close", "totem {\n} x\n", -1,
     "test.conf:2: expected '}' alone on its line, not '} x'", true},
    {"/parse/error/double-close", "a {\nb {\n}}\n", -1,
     "test.conf:3: expected '}' alone on its line, not '}}'", true},
    /* corosync 3.1 stores this one as "totem."; later ones refuse it */
    {"/parse/error/empty-key", "totem {\n: 2\n}\n", -1,
     "test.conf:2: expected a key name before ':'", false},
    {"/parse/error/empty-key-top", "abc: 1\n  : 2\n", -1,
     "test.conf:2: expected a key name before ':'", true},
    {"/parse/error/short-top-key", "abc: 1\nab: 2\n", -1,
     "test.conf:2: expected a key name of at least 3 characters at the top level, not "
     "'ab': corosync's cmap refuses shorter ones",
     true},
    {"/parse/error/key-with-blank", "totem {\nmy key: 2\n}\n", -1,
     "test.conf:2: expected a key name of letters, digits, '_', '-', '.' or '/', not 'my key'",
     true},
    {"/parse/error/section-with-blank", "my totem {\n}\n", -1,
     "test.conf:1: expected a section name of letters, digits, '_', '-', '.', '/' or ':', "
     "not 'my totem'",
     false},
    {"/parse/error/nul-byte", "totem {\nk: v\0x\n}\n", 16,
     "test.conf:2: expected text, not a NUL byte", false},
    {"/parse/error/line-too-long", LONG_LINE "\n", -1,
     "test.conf:1: expected a line of at most 510 characters (corosync's limit), not 511", true},
    {"/parse/error/path-too-long", LONG_200 " {\n" LONG_60 ": v\n}\n", -1,
     "test.conf:2: expected a shorter key name: corosync's cmap paths stay below 256 "
     "characters",
     true},
    {"/parse/error/counts-every-line", "# c\n\ntotem {\n  # c\n\n  bad\n}\n", -1,
     "test.conf:6: expected 'key: value', 'section {' or '}', not 'bad'", true},
    {"/parse/error/counts-crlf-lines", "totem {\r\nk: v\r\n}\r\n}\r\n", -1,
     "test.conf:4: expected 'key: value' or 'section {', not '}': no section is open here", true},
};

static void test_parse_error(gconstpointer data)
{
	const bad_text_t *bad = data;
	g_autoptr(GError) err = NULL;
	g_autoptr(corosync_conf_t) conf =
	    corosync_conf_parse(bad->text, bad->len, "test.conf", &err);

	g_assert_null(conf);
	g_assert_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_PARSE);
	g_assert_cmpstr(err->message, ==, bad->message);
}

/* Writing */

static void test_write_empty_value(void)
{
	g_autoptr(corosync_conf_t) conf = corosync_conf_new();
	corosync_conf_item_t *s = corosync_conf_add_section(conf->root, "s");

	corosync_conf_set_value(s, "k", "");
	g_autofree char *text = corosync_conf_to_string(conf);
	g_assert_cmpstr(text, ==, "s {\n  k:\n}\n");
	assert_round_trip(conf);
}

static void test_write_fixed_point(void)
{
	g_autoptr(corosync_conf_t) conf =
	    parse_ok("#a\n\n\n  xxx:1\ntotem:{\n\t\t\tb:c\nsub {\n}\n}\n"
		     "#z\n  # y \nq {\n}\n#last\n");
	assert_round_trip(conf);
}

static corosync_conf_item_t *hand_item(corosync_conf_kind_t kind, const char *name,
				       const char *value)
{
	corosync_conf_item_t *it = g_new0(corosync_conf_item_t, 1);

	it->kind = kind;
	it->name = g_strdup(name);
	it->value = g_strdup(value);
	if (kind == COROSYNC_CONF_SECTION)
		it->items = g_ptr_array_new();
	return it;
}

static void assert_unwritable(corosync_conf_item_t *it, const char *message)
{
	g_autoptr(corosync_conf_t) conf = corosync_conf_new();
	corosync_conf_item_t *totem = corosync_conf_add_section(conf->root, "totem");
	g_autoptr(GError) err = NULL;

	g_ptr_array_add(totem->items, it);
	g_assert_false(corosync_conf_check_writable(conf, &err));
	g_assert_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_INVALID);
	g_assert_cmpstr(err->message, ==, message);
}

static void test_write_refuses_what_would_not_read_back(void)
{
	assert_unwritable(hand_item(COROSYNC_CONF_PAIR, "k", "a\nb"),
			  "totem.k would not read back as written: a line break, '{', or a "
			  "blank at either end");
	assert_unwritable(hand_item(COROSYNC_CONF_PAIR, "k", "a{"),
			  "totem.k would not read back as written: a line break, '{', or a "
			  "blank at either end");
	assert_unwritable(hand_item(COROSYNC_CONF_PAIR, "k", " a"),
			  "totem.k would not read back as written: a line break, '{', or a "
			  "blank at either end");
	assert_unwritable(hand_item(COROSYNC_CONF_PAIR, "a:b", "v"),
			  "totem would not read back as written: key name 'a:b'");
	assert_unwritable(hand_item(COROSYNC_CONF_PAIR, "a b", "v"),
			  "totem would not read back as written: key name 'a b'");
	assert_unwritable(hand_item(COROSYNC_CONF_SECTION, "a}", NULL),
			  "totem would not read back as written: section name 'a}'");
	assert_unwritable(hand_item(COROSYNC_CONF_SECTION, "", NULL),
			  "totem would not read back as written: section name ''");
	assert_unwritable(hand_item(COROSYNC_CONF_COMMENT, "two\nlines", NULL),
			  "totem would not read back as written: comment '#two\nlines'");
	assert_unwritable(hand_item(COROSYNC_CONF_COMMENT, "blank at the end ", NULL),
			  "totem would not read back as written: comment '#blank at the end '");
	g_autoptr(corosync_conf_t) conf = corosync_conf_new();
	g_autoptr(GError) err = NULL;
	corosync_conf_set_value(conf->root, "ab", "v");
	g_assert_false(corosync_conf_check_writable(conf, &err));
	g_assert_cmpstr(err->message, ==,
			"the top level would not read back as written: key name 'ab': corosync's "
			"cmap takes at least 3 characters");
	assert_unwritable(hand_item(COROSYNC_CONF_PAIR, "k", LONG_200 LONG_200 LONG_200),
			  "totem.k would not read back as written: its line would be 605 "
			  "characters, corosync reads 510");
}

/* Items */

static void test_valid_name_and_value(void)
{
	static const char *const good_names[] = {"ring0_addr", "a.b", "a/b", "x-y", "Z9"};
	static const char *const bad_names[] = {"", "a b", "a:b", "a{", "a}", "#a", "a\n", "a\tb"};
	static const char *const good_values[] = {"",	   "10.0.0.1", "fe80::1", "a b",
						  "a # b", "x}",       "a\tb"};
	static const char *const bad_values[] = {" a", "a ", "\ta", "a\t", "a\nb", "a{b", "a\r"};

	for (size_t i = 0; i < G_N_ELEMENTS(good_names); i++)
		g_assert_true(corosync_conf_valid_name(good_names[i]));
	for (size_t i = 0; i < G_N_ELEMENTS(bad_names); i++)
		g_assert_false(corosync_conf_valid_name(bad_names[i]));
	g_assert_false(corosync_conf_valid_name(NULL));
	for (size_t i = 0; i < G_N_ELEMENTS(good_values); i++)
		g_assert_true(corosync_conf_valid_value(good_values[i]));
	for (size_t i = 0; i < G_N_ELEMENTS(bad_values); i++)
		g_assert_false(corosync_conf_valid_value(bad_values[i]));
	g_assert_false(corosync_conf_valid_value(NULL));
}

static void test_find(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok(manual_redundant);
	const corosync_conf_item_t *totem = corosync_conf_find_section(conf->root, "totem");

	g_assert_nonnull(totem);
	g_assert_cmpuint(totem->line, ==, 31);
	const corosync_conf_item_t *iface = corosync_conf_find_section(totem, "interface");
	g_assert_cmpuint(iface->line, ==, 37);
	g_assert_null(corosync_conf_find_section(conf->root, "nosuch"));
	/* a pair is not a section, a section is not a pair */
	g_assert_null(corosync_conf_find_section(totem, "version"));
	g_assert_null(corosync_conf_find_value(totem, "interface"));
	g_assert_cmpstr(corosync_conf_find_value(totem, "version"), ==, "2");
	g_assert_null(corosync_conf_find_value(NULL, "version"));
	g_assert_null(corosync_conf_find_section(NULL, "totem"));
}

static void test_set_value_keeps_position(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok("totem {\na: 1\nb: 2\nc: 3\nb: 4\n}\n");
	corosync_conf_item_t *totem = child(conf->root, 0);
	corosync_conf_item_t *b = child(totem, 1);

	corosync_conf_set_value(totem, "b", "x");
	g_assert_true(child(totem, 1) == b);
	g_assert_cmpuint(b->line, ==, 3);
	g_autofree char *text = corosync_conf_to_string(conf);
	g_assert_cmpstr(text, ==, "totem {\n  a: 1\n  b: x\n  c: 3\n  b: 4\n}\n");
}

static void test_set_value_appends(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok("totem {\n# note\na: 1\n}\n");
	corosync_conf_item_t *totem = child(conf->root, 0);

	corosync_conf_set_value(totem, "d", "4");
	corosync_conf_set_value(conf->root, "top", "level");
	g_assert_cmpuint(child(totem, 2)->line, ==, 0);
	g_autofree char *text = corosync_conf_to_string(conf);
	g_assert_cmpstr(text, ==, "totem {\n  # note\n  a: 1\n  d: 4\n}\n\ntop: level\n");
	assert_round_trip(conf);
}

static void test_remove_value(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok("totem {\nb: 1\na: 2\nb: 3\nsub {\n}\n}\n");
	corosync_conf_item_t *totem = child(conf->root, 0);

	g_assert_true(corosync_conf_remove_value(totem, "b"));
	g_assert_false(corosync_conf_remove_value(totem, "b"));
	/* a section is not a value */
	g_assert_false(corosync_conf_remove_value(totem, "sub"));
	g_autofree char *text = corosync_conf_to_string(conf);
	g_assert_cmpstr(text, ==, "totem {\n  a: 2\n  sub {\n  }\n}\n");
}

static void test_add_and_remove_item(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok(manual_after);
	corosync_conf_item_t *nodelist = corosync_conf_find_section(conf->root, "nodelist");
	corosync_conf_item_t *node = corosync_conf_add_section(nodelist, "node");

	corosync_conf_set_value(node, "name", "quattro");
	corosync_conf_set_value(node, "nodeid", "4");
	corosync_conf_set_value(node, "quorum_votes", "1");
	corosync_conf_set_value(node, "ring0_addr", "10.10.10.4");
	g_assert_true(child(nodelist, 3) == node);
	g_assert_cmpuint(node->line, ==, 0);
	g_assert_true(corosync_conf_validate(conf, NULL, NULL));

	g_autoptr(GPtrArray) nodes = corosync_conf_nodes(conf);
	g_assert_cmpuint(nodes->len, ==, 4);
	const corosync_conf_node_t *tre = g_ptr_array_index(nodes, 1);
	g_assert_cmpstr(tre->name, ==, "tre");
	g_assert_true(corosync_conf_remove_item(nodelist, tre->item));
	g_assert_cmpuint(nodelist->items->len, ==, 3);
	g_assert_cmpstr(corosync_conf_find_value(child(nodelist, 1), "name"), ==, "uno");
	/* only a child of the section given */
	corosync_conf_item_t *totem = corosync_conf_find_section(conf->root, "totem");
	g_assert_false(corosync_conf_remove_item(nodelist, totem));
	g_assert_false(corosync_conf_remove_item(nodelist, NULL));
	g_assert_true(corosync_conf_remove_item(conf->root, totem));
	g_assert_null(corosync_conf_find_section(conf->root, "totem"));
	assert_round_trip(conf);
}

/* Refused input is a programming error: a critical, and no change. */
static void test_set_refuses_invalid(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok("totem {\na: 1\n}\n");
	corosync_conf_item_t *totem = child(conf->root, 0);
	static const char *const keys[] = {"a:b", "a{", "a}", "a b", "", "a\n"};
	static const char *const values[] = {"x\ny", "x{", " x", "x "};

	for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
		g_test_expect_message(NULL, G_LOG_LEVEL_CRITICAL, "*corosync_conf_valid_name*");
		corosync_conf_set_value(totem, keys[i], "v");
		g_test_assert_expected_messages();
	}
	for (size_t i = 0; i < G_N_ELEMENTS(values); i++) {
		g_test_expect_message(NULL, G_LOG_LEVEL_CRITICAL, "*corosync_conf_valid_value*");
		corosync_conf_set_value(totem, "a", values[i]);
		g_test_assert_expected_messages();
	}
	g_test_expect_message(NULL, G_LOG_LEVEL_CRITICAL, "*corosync_conf_valid_name*");
	g_assert_null(corosync_conf_add_section(totem, "has space"));
	g_test_assert_expected_messages();
	g_test_expect_message(NULL, G_LOG_LEVEL_CRITICAL, "*corosync_conf_valid_name*");
	corosync_conf_set(conf, "totem..a", "v");
	g_test_assert_expected_messages();
	g_test_expect_message(NULL, G_LOG_LEVEL_CRITICAL, "*corosync_conf_valid_value*");
	corosync_conf_set(conf, "new.a", "x\ny");
	g_test_assert_expected_messages();

	g_autofree char *text = corosync_conf_to_string(conf);
	g_assert_cmpstr(text, ==, "totem {\n  a: 1\n}\n");
}

/* Dotted paths */

static void test_path_get(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok(manual_redundant);

	g_assert_cmpstr(corosync_conf_get(conf, "totem.interface.linknumber"), ==, "0");
	g_assert_cmpstr(corosync_conf_get(conf, "nodelist.node.name"), ==, "due");
	g_assert_cmpstr(corosync_conf_get(conf, "logging.debug"), ==, "off");
	g_assert_null(corosync_conf_get(conf, "totem.nosuch"));
	g_assert_null(corosync_conf_get(conf, "nosuch.version"));
	g_assert_null(corosync_conf_get(conf, "totem.interface"));
	g_assert_null(corosync_conf_get(conf, "totem"));
	g_assert_null(corosync_conf_get(conf, ""));
	g_assert_null(corosync_conf_get(conf, NULL));
	g_assert_null(corosync_conf_get(NULL, "totem.version"));
}

static void test_path_get_uint(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok("a {\n"
						   "zero: 0\n"
						   "max: 18446744073709551615\n"
						   "over: 18446744073709551616\n"
						   "signed: -1\n"
						   "plus: +1\n"
						   "word: four\n"
						   "mixed: 4x\n"
						   "empty:\n"
						   "}\n");
	uint64_t v = 42;

	g_assert_true(corosync_conf_get_uint(conf, "a.zero", &v));
	g_assert_cmpuint(v, ==, 0);
	g_assert_true(corosync_conf_get_uint(conf, "a.max", &v));
	g_assert_cmpuint(v, ==, G_MAXUINT64);
	static const char *const bad[] = {"a.over",  "a.signed", "a.plus",   "a.word",
					  "a.mixed", "a.empty",	 "a.missing"};
	for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
		v = 42;
		g_assert_false(corosync_conf_get_uint(conf, bad[i], &v));
		g_assert_cmpuint(v, ==, 42);
	}
}

static void test_path_set(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok(manual_after);
	corosync_conf_item_t *totem = corosync_conf_find_section(conf->root, "totem");
	corosync_conf_item_t *version = child(totem, 1);

	corosync_conf_set(conf, "totem.config_version", "5");
	g_assert_true(child(totem, 1) == version);
	g_assert_cmpuint(corosync_conf_version(conf), ==, 5);
	corosync_conf_set(conf, "totem.interface.knet_link_priority", "20");
	g_assert_cmpstr(corosync_conf_find_value(child(totem, 5), "knet_link_priority"), ==, "20");
	corosync_conf_set(conf, "quorum.device.net.host", "10.0.0.9");
	g_assert_cmpstr(corosync_conf_get(conf, "quorum.device.net.host"), ==, "10.0.0.9");
	g_assert_true(corosync_conf_validate(conf, NULL, NULL));
	assert_round_trip(conf);

	g_autoptr(corosync_conf_t) fresh = corosync_conf_new();
	corosync_conf_set(fresh, "totem.cluster_name", "x");
	corosync_conf_set(fresh, "top", "1");
	g_autofree char *text = corosync_conf_to_string(fresh);
	g_assert_cmpstr(text, ==, "totem {\n  cluster_name: x\n}\n\ntop: 1\n");
}

/* Nodes and version */

static void test_nodes(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok("nodelist {\n"
						   "node {\n"
						   "name: a\n"
						   "nodeid: 7\n"
						   "quorum_votes: 3\n"
						   "ring0_addr: 10.0.0.1\n"
						   "ring7_addr: 10.7.0.1\n"
						   "ring8_addr: 10.8.0.1\n"
						   "}\n"
						   "# not a node\n"
						   "other {\n"
						   "}\n"
						   "node {\n"
						   "ring1_addr: 10.1.0.2\n"
						   "nodeid: x\n"
						   "}\n"
						   "}\n");
	g_autoptr(GPtrArray) nodes = corosync_conf_nodes(conf);

	g_assert_cmpuint(nodes->len, ==, 2);
	const corosync_conf_node_t *a = g_ptr_array_index(nodes, 0);
	g_assert_cmpstr(a->name, ==, "a");
	g_assert_cmpuint(a->nodeid, ==, 7);
	g_assert_cmpuint(a->votes, ==, 3);
	g_assert_cmpstr(a->addr[0], ==, "10.0.0.1");
	g_assert_cmpstr(a->addr[7], ==, "10.7.0.1");
	g_assert_null(a->addr[1]);
	g_assert_cmpuint(a->item->line, ==, 2);
	const corosync_conf_node_t *b = g_ptr_array_index(nodes, 1);
	g_assert_null(b->name);
	g_assert_cmpuint(b->nodeid, ==, 0);
	g_assert_cmpuint(b->votes, ==, 1);
	g_assert_null(b->addr[0]);
	g_assert_cmpstr(b->addr[1], ==, "10.1.0.2");
	g_assert_cmpuint(b->item->line, ==, 13);
}

static void test_nodes_none(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok("totem {\n}\n");
	g_autoptr(GPtrArray) nodes = corosync_conf_nodes(conf);
	g_autoptr(corosync_conf_t) empty = parse_ok("nodelist {\n}\n");
	g_autoptr(GPtrArray) none = corosync_conf_nodes(empty);

	g_assert_nonnull(nodes);
	g_assert_cmpuint(nodes->len, ==, 0);
	g_assert_cmpuint(none->len, ==, 0);
}

static void test_version(void)
{
	g_autoptr(corosync_conf_t) none = parse_ok("totem {\n}\n");
	g_autoptr(corosync_conf_t) word = parse_ok("totem {\nconfig_version: x\n}\n");
	g_autoptr(corosync_conf_t) big = parse_ok("totem {\nconfig_version: 4294967296\n}\n");

	g_assert_cmpuint(corosync_conf_version(none), ==, 0);
	g_assert_cmpuint(corosync_conf_version(word), ==, 0);
	g_assert_cmpuint(corosync_conf_version(big), ==, 4294967296ULL);
}

/* Validation: a valid file, and one change that breaks it */

static const char valid_conf[] = "totem {\n"			     /* 1 */
				 "  cluster_name: test\n"	     /* 2 */
				 "  config_version: 3\n"	     /* 3 */
				 "  interface {\n"		     /* 4 */
				 "    linknumber: 0\n"		     /* 5 */
				 "  }\n"			     /* 6 */
				 "}\n"				     /* 7 */
				 "\n"				     /* 8 */
				 "nodelist {\n"			     /* 9 */
				 "  node {\n"			     /* 10 */
				 "    name: n1\n"		     /* 11 */
				 "    nodeid: 1\n"		     /* 12 */
				 "    quorum_votes: 1\n"	     /* 13 */
				 "    ring0_addr: 10.0.0.1\n"	     /* 14 */
				 "  }\n"			     /* 15 */
				 "  node {\n"			     /* 16 */
				 "    name: n2\n"		     /* 17 */
				 "    nodeid: 2\n"		     /* 18 */
				 "    quorum_votes: 1\n"	     /* 19 */
				 "    ring0_addr: 10.0.0.2\n"	     /* 20 */
				 "  }\n"			     /* 21 */
				 "}\n"				     /* 22 */
				 "\n"				     /* 23 */
				 "quorum {\n"			     /* 24 */
				 "  provider: corosync_votequorum\n" /* 25 */
				 "}\n";				     /* 26 */

typedef struct {
	const char *path;
	const char *from; /* every occurrence is replaced */
	const char *to;
	const char *message;
} bad_conf_t;

static const bad_conf_t bad_confs[] = {
    {"/validate/duplicate-nodeid", "nodeid: 2", "nodeid: 1",
     "corosync.conf:18: node 'n2' has the same nodeid 1 as node 'n1' (line 12)"},
    {"/validate/duplicate-name", "name: n2", "name: n1",
     "corosync.conf:17: node name 'n1' of nodeid 2 is already the name of nodeid 1 (line 11)"},
    {"/validate/missing-ring0", "    ring0_addr: 10.0.0.2\n", "",
     "corosync.conf:16: node 'n2' has no ring0_addr"},
    {"/validate/link-mismatch", "    ring0_addr: 10.0.0.2\n",
     "    ring0_addr: 10.0.0.2\n    ring1_addr: 10.1.0.2\n",
     "corosync.conf:16: node 'n2' has links 0,1 but node 'n1' (line 10) has links 0; every "
     "node needs the same ringX_addr keys"},
    {"/validate/link-out-of-range", "    ring0_addr: 10.0.0.1\n",
     "    ring0_addr: 10.0.0.1\n    ring8_addr: 10.8.0.1\n",
     "corosync.conf:15: node 'n1' has ring8_addr; corosync has links 0 to 7"},
    {"/validate/missing-config-version", "  config_version: 3\n", "",
     "corosync.conf:1: section 'totem' has no config_version"},
    {"/validate/config-version-not-number", "config_version: 3", "config_version: three",
     "corosync.conf:3: totem.config_version 'three' is not a number"},
    {"/validate/missing-cluster-name", "  cluster_name: test\n", "",
     "corosync.conf:1: section 'totem' has no cluster_name"},
    {"/validate/missing-totem", "totem {", "totem_x {", "corosync.conf: no 'totem' section"},
    {"/validate/second-totem", "quorum {", "totem {\n}\nquorum {",
     "corosync.conf:24: section 'totem' appears again (first at line 1); keep one"},
    {"/validate/missing-nodelist", "nodelist {", "nodes {", "corosync.conf: no 'nodelist' section"},
    {"/validate/no-nodes", "  node {", "  host {",
     "corosync.conf:9: section 'nodelist' has no node"},
    {"/validate/missing-nodeid", "    nodeid: 2\n", "",
     "corosync.conf:16: node 'n2' has no nodeid"},
    {"/validate/nodeid-zero", "nodeid: 2", "nodeid: 0",
     "corosync.conf:18: node 'n2' has nodeid '0'; expected a number from 1 to 4294967295"},
    {"/validate/nodeid-too-big", "nodeid: 2", "nodeid: 4294967296",
     "corosync.conf:18: node 'n2' has nodeid '4294967296'; expected a number from 1 to "
     "4294967295"},
    {"/validate/missing-name", "    name: n2\n", "",
     "corosync.conf:16: the node with nodeid 2 has no name"},
    {"/validate/name-escapes-nodes-dir", "name: n2", "name: ../../..",
     "corosync.conf:17: node '../../..': invalid node name '../../..': use at most 63 letters, "
     "digits and '-', starting and ending with a letter or digit"},
    {"/validate/name-empty", "name: n2", "name:",
     "corosync.conf:17: node '': invalid node name '': use at most 63 letters, digits and '-', "
     "starting and ending with a letter or digit"},
    {"/validate/name-dot", "name: n2", "name: .",
     "corosync.conf:17: node '.': invalid node name '.': use at most 63 letters, digits and '-', "
     "starting and ending with a letter or digit"},
    {"/validate/name-dotdot", "name: n2", "name: ..",
     "corosync.conf:17: node '..': invalid node name '..': use at most 63 letters, digits and "
     "'-', starting and ending with a letter or digit"},
    {"/validate/name-slash", "name: n2", "name: /",
     "corosync.conf:17: node '/': invalid node name '/': use at most 63 letters, digits and '-', "
     "starting and ending with a letter or digit"},
    {"/validate/name-with-slash", "name: n2", "name: a/b",
     "corosync.conf:17: node 'a/b': invalid node name 'a/b': use at most 63 letters, digits and "
     "'-', starting and ending with a letter or digit"},
    {"/validate/votes-not-number", "quorum_votes: 1", "quorum_votes: one",
     "corosync.conf:13: node 'n1' has quorum_votes 'one'; expected a number"},
    {"/validate/missing-quorum", "quorum {", "quorate {", "corosync.conf: no 'quorum' section"},
    {"/validate/missing-provider", "  provider: corosync_votequorum\n", "",
     "corosync.conf:24: section 'quorum' has no provider; expected corosync_votequorum"},
    {"/validate/wrong-provider", "provider: corosync_votequorum", "provider: other",
     "corosync.conf:25: quorum.provider 'other' is not corosync_votequorum"},
    {"/validate/linknumber-out-of-range", "linknumber: 0", "linknumber: 8",
     "corosync.conf:5: interface linknumber '8' is not a link number from 0 to 7"},
    {"/validate/linknumber-duplicate", "  }\n}\n\nnodelist",
     "  }\n  interface {\n    linknumber: 0\n  }\n}\n\nnodelist",
     "corosync.conf:8: interface linknumber 0 appears again (first at line 5)"},
    {"/validate/linknumber-default-duplicate", "  }\n}\n\nnodelist",
     "  }\n  interface {\n  }\n}\n\nnodelist",
     "corosync.conf:7: interface linknumber 0 appears again (first at line 5)"},
};

static char *replace_all(const char *text, const char *from, const char *to)
{
	g_auto(GStrv) parts = g_strsplit(text, from, -1);

	g_assert_cmpuint(g_strv_length(parts), >, 1);
	return g_strjoinv(to, parts);
}

static void test_validate_ok(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok(valid_conf);
	g_autoptr(GError) err = NULL;

	g_assert_true(corosync_conf_validate(conf, "corosync.conf", &err));
	g_assert_no_error(err);
}

static void test_validate_refuses(gconstpointer data)
{
	const bad_conf_t *bad = data;
	g_autofree char *text = replace_all(valid_conf, bad->from, bad->to);
	g_autoptr(corosync_conf_t) conf = parse_ok(text);
	g_autoptr(GError) err = NULL;

	g_assert_false(corosync_conf_validate(conf, "corosync.conf", &err));
	g_assert_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_INVALID);
	g_assert_cmpstr(err->message, ==, bad->message);
}

/* Items built in memory have no line: the message names the file only. */
static void test_validate_in_memory(void)
{
	g_autoptr(corosync_conf_t) conf = parse_ok(valid_conf);
	corosync_conf_item_t *nodelist = corosync_conf_find_section(conf->root, "nodelist");
	corosync_conf_item_t *node = corosync_conf_add_section(nodelist, "node");
	g_autoptr(GError) err = NULL;

	corosync_conf_set_value(node, "name", "n3");
	corosync_conf_set_value(node, "nodeid", "2");
	corosync_conf_set_value(node, "ring0_addr", "10.0.0.3");
	g_assert_false(corosync_conf_validate(conf, "/etc/pve/corosync.conf", &err));
	g_assert_cmpstr(err->message, ==,
			"/etc/pve/corosync.conf: node 'n3' has the same nodeid 2 as node 'n2' "
			"(line 18)");
}

/* Files */

static void test_save_atomic_and_mode(void)
{
	g_autofree char *dir = make_tmp_dir();
	g_autofree char *path = g_build_filename(dir, "corosync.conf", NULL);
	g_autoptr(corosync_conf_t) before = parse_ok(manual_before);
	g_autoptr(corosync_conf_t) after = parse_ok(manual_after);
	g_autofree char *before_text = corosync_conf_to_string(before);
	g_autofree char *after_text = corosync_conf_to_string(after);
	g_autoptr(GError) err = NULL;
	struct stat st_old, st_new;

	g_assert_true(corosync_conf_save(before, path, 0640, &err));
	g_assert_no_error(err);
	g_assert_cmpint(g_stat(path, &st_old), ==, 0);
	g_assert_cmpint(st_old.st_mode & 07777, ==, 0640);
	g_autofree char *got = read_text(path);
	g_assert_cmpstr(got, ==, before_text);

	/* a reader of the old file keeps reading the old file, whole */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	g_assert_cmpint(fd, >=, 0);
	g_assert_true(corosync_conf_save(after, path, 0600, &err));
	g_assert_no_error(err);
	g_assert_cmpint(g_stat(path, &st_new), ==, 0);
	g_assert_cmpint(st_new.st_mode & 07777, ==, 0600);
	g_assert_cmpuint(st_new.st_ino, !=, st_old.st_ino);
	g_autofree char *got_new = read_text(path);
	g_assert_cmpstr(got_new, ==, after_text);
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	g_assert_cmpint(n, ==, (ssize_t)strlen(before_text));
	buf[n] = '\0';
	g_assert_cmpstr(buf, ==, before_text);
	close(fd);

	/* nothing left beside it */
	GDir *d = g_dir_open(dir, 0, NULL);
	g_assert_cmpstr(g_dir_read_name(d), ==, "corosync.conf");
	g_assert_null(g_dir_read_name(d));
	g_dir_close(d);

	g_autoptr(corosync_conf_t) loaded = corosync_conf_load(path, &err);
	g_assert_no_error(err);
	assert_same_items(after->root, loaded->root);
	remove_tmp_dir(dir);
}

static void test_save_errors(void)
{
	g_autofree char *dir = make_tmp_dir();
	g_autofree char *path = g_build_filename(dir, "missing", "corosync.conf", NULL);
	g_autofree char *ok_path = g_build_filename(dir, "corosync.conf", NULL);
	g_autoptr(corosync_conf_t) conf = parse_ok(valid_conf);
	g_autoptr(GError) err = NULL;

	g_assert_false(corosync_conf_save(conf, path, 0640, &err));
	g_assert_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_IO);
	g_assert_nonnull(strstr(err->message, path));
	g_assert_true(g_str_has_suffix(err->message, g_strerror(ENOENT)));
	g_clear_error(&err);

	/* a tree that would not read back is not written at all */
	corosync_conf_item_t *totem = corosync_conf_find_section(conf->root, "totem");
	g_ptr_array_add(totem->items, hand_item(COROSYNC_CONF_PAIR, "token", "1\n2"));
	g_assert_false(corosync_conf_save(conf, ok_path, 0640, &err));
	g_assert_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_INVALID);
	g_autofree char *want = g_strdup_printf("cannot write %s: totem.token would not read back "
						"as written: a line break, '{', or a blank at "
						"either end",
						ok_path);
	g_assert_cmpstr(err->message, ==, want);
	g_assert_false(g_file_test(ok_path, G_FILE_TEST_EXISTS));
	remove_tmp_dir(dir);
}

static void test_load_errors(void)
{
	g_autofree char *dir = make_tmp_dir();
	g_autofree char *missing = g_build_filename(dir, "missing.conf", NULL);
	g_autofree char *bad = g_build_filename(dir, "bad.conf", NULL);
	g_autofree char *big = g_build_filename(dir, "big.conf", NULL);
	g_autoptr(GError) err = NULL;

	g_assert_null(corosync_conf_load(missing, &err));
	g_assert_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_IO);
	g_autofree char *want = g_strdup_printf("cannot open %s: %s", missing, g_strerror(ENOENT));
	g_assert_cmpstr(err->message, ==, want);
	g_clear_error(&err);

	g_assert_true(g_file_set_contents(bad, "totem {\n  nonsense\n}\n", -1, NULL));
	g_assert_null(corosync_conf_load(bad, &err));
	g_assert_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_PARSE);
	g_autofree char *want_bad =
	    g_strdup_printf("%s:2: expected 'key: value', 'section {' or '}', not 'nonsense'", bad);
	g_assert_cmpstr(err->message, ==, want_bad);
	g_clear_error(&err);

	g_autofree char *lots = g_strnfill(1024 * 1024 + 1, '\n');
	g_assert_true(g_file_set_contents(big, lots, -1, NULL));
	g_assert_null(corosync_conf_load(big, &err));
	g_assert_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_IO);
	g_assert_true(g_str_has_suffix(err->message, g_strerror(EFBIG)));
	remove_tmp_dir(dir);
}

/* Name resolution */

static void test_resolvable_ok(void)
{
	g_autofree char *text =
	    replace_all(valid_conf, "    ring0_addr: 10.0.0.2\n", "    ring0_addr: localhost\n");
	g_autofree char *text6 = replace_all(text, "ring0_addr: 10.0.0.1", "ring0_addr: fd00::1");
	g_autoptr(corosync_conf_t) conf = parse_ok(text6);
	g_autoptr(GError) err = NULL;

	g_assert_true(corosync_conf_check_resolvable(conf, "corosync.conf", &err));
	g_assert_no_error(err);
}

static void test_resolvable_refuses(void)
{
	g_autofree char *text =
	    replace_all(valid_conf, "ring0_addr: 10.0.0.2", "ring0_addr: no-such-host.invalid");
	g_autoptr(corosync_conf_t) conf = parse_ok(text);
	g_autoptr(GError) err = NULL;

	g_assert_false(corosync_conf_check_resolvable(conf, "corosync.conf", &err));
	g_assert_error(err, COROSYNC_CONF_ERROR, COROSYNC_CONF_ERROR_RESOLVE);
	/* the reason between the parentheses is the resolver's */
	g_assert_true(g_str_has_prefix(err->message, "corosync.conf:20: ring0_addr "
						     "'no-such-host.invalid' of node 'n2' does "
						     "not resolve ("));
	g_assert_true(g_str_has_suffix(err->message,
				       ") - corosync would fail with 'nodelist or "
				       "quorum.expected_votes must be configured'; use an IP "
				       "address or fix name resolution"));
	g_assert_null(strchr(err->message, '\n'));
	/* validation alone does not resolve */
	g_assert_true(corosync_conf_validate(conf, NULL, NULL));
}

/* corosync itself: "corosync -t" reads a configuration the way corosync
 * starts (parser, cmap, totem and node checks, the authkey when crypto is
 * on, node addresses) and exits. */

static char *corosync_program(void)
{
	char *program = g_find_program_in_path("corosync");

	if (!program)
		g_test_skip("corosync is not on PATH");
	return program;
}

/* Runs "corosync -t -c PATH"; its exit code, -1 if it did not exit. */
static int corosync_test_config(const char *program, const char *path, char **output)
{
	g_autofree char *timeout = g_find_program_in_path("timeout");
	const char *with_timeout[] = {timeout, "60", program, "-t", "-c", path, NULL};
	const char *plain[] = {program, "-t", "-c", path, NULL};
	g_autofree char *out = NULL, *errout = NULL;
	g_autoptr(GError) err = NULL;
	int status;

	g_assert_true(g_spawn_sync(NULL, (char **)(timeout ? with_timeout : plain), NULL,
				   G_SPAWN_DEFAULT, NULL, NULL, &out, &errout, &status, &err));
	g_assert_no_error(err);
	*output = g_strconcat(out, errout, NULL);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void assert_corosync_accepts(const char *program, const char *path)
{
	g_autofree char *output = NULL;
	int rc = corosync_test_config(program, path, &output);

	if (rc != 0)
		g_test_message("corosync -t -c %s: exit %d:\n%s", path, rc, output);
	g_assert_cmpint(rc, ==, 0);
}

static void test_corosync_accepts_written(void)
{
	g_autofree char *program = corosync_program();
	if (!program)
		return;
	g_autofree char *dir = make_tmp_dir();
	g_autofree char *path = g_build_filename(dir, "corosync.conf", NULL);
	g_autofree char *key = g_build_filename(dir, "authkey", NULL);
	g_autoptr(corosync_conf_t) conf = corosync_conf_new();
	g_autoptr(GError) err = NULL;

	/* secauth needs a key: ours, not the host's /etc/corosync/authkey */
	guint8 secret[256];
	for (size_t i = 0; i < sizeof(secret); i++)
		secret[i] = (guint8)g_random_int_range(0, 256);
	g_assert_true(g_file_set_contents(key, (const char *)secret, sizeof(secret), NULL));
	g_assert_cmpint(g_chmod(key, 0400), ==, 0);

	corosync_conf_set(conf, "totem.cluster_name", "pvecm-test");
	corosync_conf_set(conf, "totem.config_version", "1");
	corosync_conf_set(conf, "totem.ip_version", "ipv4-6");
	corosync_conf_set(conf, "totem.secauth", "on");
	corosync_conf_set(conf, "totem.link_mode", "passive");
	corosync_conf_set(conf, "totem.token_coefficient", "125");
	corosync_conf_set(conf, "totem.keyfile", key);
	corosync_conf_set(conf, "totem.version", "2");
	corosync_conf_item_t *totem = corosync_conf_find_section(conf->root, "totem");
	corosync_conf_set_value(corosync_conf_add_section(totem, "interface"), "linknumber", "0");
	corosync_conf_item_t *nodelist = corosync_conf_add_section(conf->root, "nodelist");
	for (unsigned i = 1; i <= 3; i++) {
		corosync_conf_item_t *node = corosync_conf_add_section(nodelist, "node");
		g_autofree char *name = g_strdup_printf("n%u", i);
		g_autofree char *id = g_strdup_printf("%u", i);
		g_autofree char *addr = g_strdup_printf("127.0.0.%u", i);
		corosync_conf_set_value(node, "name", name);
		corosync_conf_set_value(node, "nodeid", id);
		corosync_conf_set_value(node, "quorum_votes", "1");
		corosync_conf_set_value(node, "ring0_addr", addr);
	}
	corosync_conf_set(conf, "quorum.provider", "corosync_votequorum");
	corosync_conf_set(conf, "logging.to_stderr", "yes");
	corosync_conf_set(conf, "logging.to_syslog", "no");
	corosync_conf_set(conf, "logging.debug", "off");

	g_assert_true(corosync_conf_validate(conf, path, &err));
	g_assert_true(corosync_conf_check_resolvable(conf, path, &err));
	g_assert_no_error(err);
	g_assert_true(corosync_conf_save(conf, path, 0640, &err));
	g_assert_no_error(err);
	assert_corosync_accepts(program, path);
	remove_tmp_dir(dir);
}

/* What we read leniently, corosync reads too, before and after we
 * rewrite it. */
static void test_corosync_accepts_lenient(void)
{
	g_autofree char *program = corosync_program();
	if (!program)
		return;
	static const char lenient[] = "# header\n"
				      "totem:{\n"
				      "\tcluster_name:lenient\n"
				      "version:2\n"
				      "config_version:   7   \n"
				      "  crypto_cipher: none\n"
				      "  crypto_hash: none\n"
				      "interface {\n"
				      "linknumber:0\n"
				      "}\n"
				      "}\n"
				      "nodelist {\r\n"
				      "node {\r\n"
				      "name: n1\r\n"
				      "# comment # with { and }\r\n"
				      "nodeid: 1\r\n"
				      "ring0_addr: 127.0.0.1\r\n"
				      "}\r\n"
				      "}\n"
				      "quorum {\n"
				      "provider: corosync_votequorum\n"
				      "}\n"
				      "logging {\n"
				      "to_stderr: yes\n"
				      "to_syslog: no\n"
				      "}";
	g_autofree char *dir = make_tmp_dir();
	g_autofree char *as_is = g_build_filename(dir, "as-is.conf", NULL);
	g_autofree char *rewritten = g_build_filename(dir, "rewritten.conf", NULL);
	g_autoptr(corosync_conf_t) conf = parse_ok(lenient);
	g_autoptr(GError) err = NULL;

	g_assert_cmpstr(corosync_conf_get(conf, "totem.cluster_name"), ==, "lenient");
	g_assert_cmpuint(corosync_conf_version(conf), ==, 7);
	g_assert_true(corosync_conf_validate(conf, NULL, &err));
	g_assert_no_error(err);
	g_assert_true(g_file_set_contents(as_is, lenient, -1, NULL));
	assert_corosync_accepts(program, as_is);
	g_assert_true(corosync_conf_save(conf, rewritten, 0644, &err));
	g_assert_no_error(err);
	assert_corosync_accepts(program, rewritten);
	remove_tmp_dir(dir);
}

/* What we refuse, corosync refuses, and names the same line. */
static void test_corosync_rejects(gconstpointer data)
{
	const bad_text_t *bad = data;
	g_autofree char *program = corosync_program();
	if (!program)
		return;
	g_autofree char *dir = make_tmp_dir();
	g_autofree char *path = g_build_filename(dir, "test.conf", NULL);
	g_autofree char *output = NULL;
	unsigned line = 0;

	g_assert_cmpint(sscanf(bad->message, "test.conf:%u:", &line), ==, 1);
	g_assert_true(g_file_set_contents(path, bad->text, bad->len, NULL));
	int rc = corosync_test_config(program, path, &output);
	g_autofree char *where = g_strdup_printf("%s:%u: ", path, line);
	if (rc == 0 || !strstr(output, where))
		g_test_message("corosync -t -c %s: exit %d, expected '%s' in:\n%s", path, rc, where,
			       output);
	g_assert_cmpint(rc, !=, 0);
	g_assert_nonnull(strstr(output, where));
	remove_tmp_dir(dir);
}

int main(int argc, char **argv)
{
	static const char *const manual_names[] = {"separate-before", "separate-after",
						   "redundant-links"};

	g_test_init(&argc, &argv, NULL);
	for (size_t i = 0; i < G_N_ELEMENTS(manual); i++) {
		g_autofree char *values = g_strdup_printf("/manual/%s/values", manual_names[i]);
		g_autofree char *trip = g_strdup_printf("/manual/%s/round-trip", manual_names[i]);
		g_autofree char *valid = g_strdup_printf("/manual/%s/validates", manual_names[i]);
		g_test_add_data_func(values, &manual[i], test_manual_values);
		g_test_add_data_func(trip, &manual[i], test_manual_round_trip);
		g_test_add_data_func(valid, &manual[i], test_manual_validates);
	}
	g_test_add_func("/parse/lenient-forms", test_parse_lenient_forms);
	g_test_add_func("/parse/crlf-and-blanks", test_parse_crlf_and_blanks);
	g_test_add_func("/parse/trailing-white-space-trimmed",
			test_parse_trailing_white_space_trimmed);
	g_test_add_func("/parse/length", test_parse_length);
	g_test_add_func("/parse/lines", test_parse_lines);
	for (size_t i = 0; i < G_N_ELEMENTS(bad_texts); i++)
		g_test_add_data_func(bad_texts[i].path, &bad_texts[i], test_parse_error);
	g_test_add_func("/comments/kept", test_comments_kept);
	g_test_add_func("/comments/layout", test_comments_layout);
	g_test_add_func("/write/layout", test_write_layout);
	g_test_add_func("/write/key-order", test_key_order_kept);
	g_test_add_func("/write/empty-value", test_write_empty_value);
	g_test_add_func("/write/fixed-point", test_write_fixed_point);
	g_test_add_func("/write/refuses-what-would-not-read-back",
			test_write_refuses_what_would_not_read_back);
	g_test_add_func("/items/valid-name-and-value", test_valid_name_and_value);
	g_test_add_func("/items/find", test_find);
	g_test_add_func("/items/set-value-keeps-position", test_set_value_keeps_position);
	g_test_add_func("/items/set-value-appends", test_set_value_appends);
	g_test_add_func("/items/remove-value", test_remove_value);
	g_test_add_func("/items/add-and-remove", test_add_and_remove_item);
	g_test_add_func("/items/set-refuses-invalid", test_set_refuses_invalid);
	g_test_add_func("/path/get", test_path_get);
	g_test_add_func("/path/get-uint", test_path_get_uint);
	g_test_add_func("/path/set", test_path_set);
	g_test_add_func("/nodes/list", test_nodes);
	g_test_add_func("/nodes/none", test_nodes_none);
	g_test_add_func("/nodes/version", test_version);
	g_test_add_func("/validate/ok", test_validate_ok);
	for (size_t i = 0; i < G_N_ELEMENTS(bad_confs); i++)
		g_test_add_data_func(bad_confs[i].path, &bad_confs[i], test_validate_refuses);
	g_test_add_func("/validate/in-memory", test_validate_in_memory);
	g_test_add_func("/file/save-atomic-and-mode", test_save_atomic_and_mode);
	g_test_add_func("/file/save-errors", test_save_errors);
	g_test_add_func("/file/load-errors", test_load_errors);
	g_test_add_func("/resolve/ip-and-localhost", test_resolvable_ok);
	g_test_add_func("/resolve/unknown-host", test_resolvable_refuses);
	g_test_add_func("/corosync/accepts-what-we-write", test_corosync_accepts_written);
	g_test_add_func("/corosync/accepts-what-we-accept", test_corosync_accepts_lenient);
	for (size_t i = 0; i < G_N_ELEMENTS(bad_texts); i++) {
		if (!bad_texts[i].corosync_agrees)
			continue;
		g_autofree char *path = g_strdup_printf("/corosync/rejects%s",
							bad_texts[i].path + strlen("/parse/error"));
		g_test_add_data_func(path, &bad_texts[i], test_corosync_rejects);
	}
	return g_test_run();
}
