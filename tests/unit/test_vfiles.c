/* Unit tests for the virtual files (include/vfiles.h) in local mode: their
 * names, and what each renders from a real tree and cluster log: valid
 * JSON with the reference's keys, guests found where their configs are,
 * versions that move when the guests do, newest log entries first. */
#include "vfiles.h"

#include "log.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>

typedef struct {
	char *dir;
	memdb_t *mdb;
	clusterlog_t *clog;
	vfiles_t *vf;
} fx_t;

static void fx_setup(fx_t *fx, gconstpointer data)
{
	g_autofree char *db = NULL;
	GError *err = NULL;

	fx->dir = g_dir_make_tmp("test-vfiles-XXXXXX", NULL);
	g_assert_nonnull(fx->dir);
	db = g_build_filename(fx->dir, "config.db", NULL);
	fx->mdb = memdb_open(db, &err);
	g_assert_no_error(err);
	g_assert_cmpint(memdb_ensure_layout(fx->mdb, "n1", 1, 1000), ==, 0);
	g_assert_cmpint(memdb_ensure_layout(fx->mdb, "n2", 1, 1000), ==, 0);
	fx->clog = clusterlog_new(16);
	fx->vf = vfiles_new(fx->mdb, fx->clog, "n1", "192.0.2.1", 1234567890);
}

static void fx_teardown(fx_t *fx, gconstpointer data)
{
	const char *names[] = {"config.db", "config.db-wal", "config.db-shm"};

	vfiles_free(fx->vf);
	clusterlog_free(fx->clog);
	memdb_free(fx->mdb);
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *p = g_build_filename(fx->dir, names[i], NULL);
		g_unlink(p);
	}
	g_rmdir(fx->dir);
	g_free(fx->dir);
}

/* Renders id, checks it is one JSON object (and a newline, but for the
 * cluster log, which has none), returns it. */
static JsonObject *render(fx_t *fx, vfile_id_t id, JsonParser **keep)
{
	size_t len = 0;
	g_autofree char *text = vfiles_render(fx->vf, id, &len);
	GError *err = NULL;

	g_assert_cmpuint(len, ==, strlen(text));
	g_assert_true(len > 0);
	if (id != VFILE_CLUSTERLOG)
		g_assert_true(text[len - 1] == '\n');
	*keep = json_parser_new();
	g_assert_true(json_parser_load_from_data(*keep, text, (gssize)len, &err));
	g_assert_no_error(err);
	g_assert_true(JSON_NODE_HOLDS_OBJECT(json_parser_get_root(*keep)));
	return json_node_get_object(json_parser_get_root(*keep));
}

static void add_guest(fx_t *fx, const char *node, const char *kind, const char *file)
{
	g_autofree char *dir = g_strdup_printf("nodes/%s/%s", node, kind);
	memdb_attr_t d;

	g_assert_cmpint(memdb_lookup_path(fx->mdb, dir, &d), ==, 0);
	g_assert_cmpint(memdb_create(fx->mdb, d.inode, file, 1, 2000, NULL), ==, 0);
}

static void test_names(void)
{
	for (vfile_id_t id = 0; id < VFILE_COUNT; id++) {
		const char *name = vfiles_name(id);

		g_assert_nonnull(name);
		g_assert_true(name[0] == '.');
		g_assert_cmpint(vfiles_lookup(name), ==, id);
	}
	g_assert_cmpstr(vfiles_name(VFILE_MEMBERS), ==, ".members");
	g_assert_cmpstr(vfiles_name(VFILE_VMLIST), ==, ".vmlist");
	g_assert_cmpint(vfiles_lookup("members"), ==, VFILE_COUNT);
	g_assert_cmpint(vfiles_lookup(".nope"), ==, VFILE_COUNT);
	g_assert_null(vfiles_name(VFILE_COUNT));
}

static void test_version(fx_t *fx, gconstpointer data)
{
	g_autoptr(JsonParser) p1 = NULL, p2 = NULL;
	JsonObject *v = render(fx, VFILE_VERSION, &p1);
	gint64 vmlist;

	g_assert_cmpint(json_object_get_int_member(v, "starttime"), ==, 1234567890);
	g_assert_true(json_object_has_member(v, "clinfo"));
	vmlist = json_object_get_int_member(v, "vmlist");
	add_guest(fx, "n1", "qemu-server", "100.conf");
	v = render(fx, VFILE_VERSION, &p2);
	g_assert_cmpint(json_object_get_int_member(v, "vmlist"), >, vmlist);
	g_assert_cmpint(json_object_get_int_member(v, "starttime"), ==, 1234567890);
}

static void test_members_local(fx_t *fx, gconstpointer data)
{
	g_autoptr(JsonParser) p = NULL;
	JsonObject *m = render(fx, VFILE_MEMBERS, &p);
	JsonObject *nodes, *me;

	g_assert_cmpstr(json_object_get_string_member(m, "nodename"), ==, "n1");
	g_assert_false(json_object_has_member(m, "cluster"));
	nodes = json_object_get_object_member(m, "nodelist");
	g_assert_cmpuint(json_object_get_size(nodes), ==, 1);
	me = json_object_get_object_member(nodes, "n1");
	g_assert_nonnull(me);
	g_assert_cmpint(json_object_get_int_member(me, "online"), ==, 1);
	g_assert_true(json_object_has_member(me, "id"));
}

static void test_vmlist(fx_t *fx, gconstpointer data)
{
	g_autoptr(JsonParser) p1 = NULL, p2 = NULL;
	JsonObject *l = render(fx, VFILE_VMLIST, &p1);
	JsonObject *ids, *g;
	gint64 version = json_object_get_int_member(l, "version");

	g_assert_cmpuint(json_object_get_size(json_object_get_object_member(l, "ids")), ==, 0);
	add_guest(fx, "n1", "qemu-server", "100.conf");
	add_guest(fx, "n2", "lxc", "200.conf");
	/* Not guest configurations: no number, or not .conf. */
	add_guest(fx, "n1", "qemu-server", "notes.conf");
	add_guest(fx, "n1", "qemu-server", "101.conf.tmp");
	l = render(fx, VFILE_VMLIST, &p2);
	g_assert_cmpint(json_object_get_int_member(l, "version"), >, version);
	ids = json_object_get_object_member(l, "ids");
	g_assert_cmpuint(json_object_get_size(ids), ==, 2);
	g = json_object_get_object_member(ids, "100");
	g_assert_cmpstr(json_object_get_string_member(g, "node"), ==, "n1");
	g_assert_cmpstr(json_object_get_string_member(g, "type"), ==, "qemu");
	g_assert_true(json_object_has_member(g, "version"));
	g = json_object_get_object_member(ids, "200");
	g_assert_cmpstr(json_object_get_string_member(g, "node"), ==, "n2");
	g_assert_cmpstr(json_object_get_string_member(g, "type"), ==, "lxc");
}

static void test_clusterlog_newest_first(fx_t *fx, gconstpointer data)
{
	g_autoptr(JsonParser) p = NULL;
	JsonArray *entries;

	for (uint32_t i = 1; i <= 3; i++) {
		g_autofree char *msg = g_strdup_printf("event %u", i);
		clusterlog_entry_t e = {.time = 1000 + i,
					.pid = 42,
					.pri = 6,
					.node = "n1",
					.user = "root@pam",
					.tag = "test",
					.msg = msg};
		clusterlog_add(fx->clog, &e);
	}
	entries = json_object_get_array_member(render(fx, VFILE_CLUSTERLOG, &p), "data");
	g_assert_cmpuint(json_array_get_length(entries), ==, 3);
	g_assert_cmpstr(
	    json_object_get_string_member(json_array_get_object_element(entries, 0), "msg"), ==,
	    "event 3");
	g_assert_cmpstr(
	    json_object_get_string_member(json_array_get_object_element(entries, 2), "msg"), ==,
	    "event 1");
}

static void test_debug_follows_the_log_level(fx_t *fx, gconstpointer data)
{
	g_autofree char *off = NULL, *on = NULL;

	log_set_debug(false);
	off = vfiles_render(fx->vf, VFILE_DEBUG, NULL);
	log_set_debug(true);
	on = vfiles_render(fx->vf, VFILE_DEBUG, NULL);
	log_set_debug(false);
	g_assert_cmpstr(off, ==, "0\n");
	g_assert_cmpstr(on, ==, "1\n");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	log_init("test_vfiles", false, false);
	g_test_add_func("/vfiles/names", test_names);
	g_test_add("/vfiles/version", fx_t, NULL, fx_setup, test_version, fx_teardown);
	g_test_add("/vfiles/members-local", fx_t, NULL, fx_setup, test_members_local, fx_teardown);
	g_test_add("/vfiles/vmlist", fx_t, NULL, fx_setup, test_vmlist, fx_teardown);
	g_test_add("/vfiles/clusterlog-newest-first", fx_t, NULL, fx_setup,
		   test_clusterlog_newest_first, fx_teardown);
	g_test_add("/vfiles/debug-follows-the-log-level", fx_t, NULL, fx_setup,
		   test_debug_follows_the_log_level, fx_teardown);
	return g_test_run();
}
