/* Unit tests for importing the reference's database (include/import.h):
 * each test writes a database in the reference's schema (one table tree,
 * inode 0 the version row), imports it and checks what was taken, what was
 * refused and why, what the new database holds, and that the source and
 * its directory are left exactly as they were. Each test works in its own
 * temporary directory, removed at the end. */
#include "dbstore.h"
#include "import.h"
#include "log.h"
#include "memdb.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit_util.h"

#define DIR_T 4
#define REG_T 8
#define MTIME0 1700000000

/* ---- helpers ---- */

typedef struct {
	char *dir;
	char *src;    /* dir/src/ref.db, the reference's database */
	char *outdir; /* dir/out, not created */
	char *dst;    /* dir/out/config.db */
} fx_t;

static void fx_setup(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;

	fx->dir = g_dir_make_tmp("test_import-XXXXXX", &err);
	g_assert_no_error(err);
	/* a directory of its own: its listing must not change */
	g_autofree char *srcdir = g_build_filename(fx->dir, "src", NULL);
	g_assert_cmpint(g_mkdir(srcdir, 0700), ==, 0);
	fx->src = g_build_filename(srcdir, "ref.db", NULL);
	fx->outdir = g_build_filename(fx->dir, "out", NULL);
	fx->dst = g_build_filename(fx->outdir, "config.db", NULL);
}

static void fx_teardown(fx_t *fx, gconstpointer data)
{
	unit_rm_tree(fx->dir);
	g_assert_false(g_file_test(fx->dir, G_FILE_TEST_EXISTS));
	g_free(fx->dst);
	g_free(fx->outdir);
	g_free(fx->src);
	g_free(fx->dir);
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		g_test_message("%s: %s", sql, msg ? msg : "?");
	g_assert_cmpint(rc, ==, SQLITE_OK);
	sqlite3_free(msg);
}

/* The reference's table, as its database.c creates it; checks=false makes
 * a variant without the integer checks, to store what they would stop. */
static sqlite3 *ref_create(const char *path, bool checks)
{
	sqlite3 *db = NULL;

	g_assert_cmpint(sqlite3_open(path, &db), ==, SQLITE_OK);
	exec_ok(db, "PRAGMA journal_mode = WAL");
	if (checks)
		exec_ok(db, "CREATE TABLE tree (inode INTEGER PRIMARY KEY NOT NULL,"
			    " parent INTEGER NOT NULL CHECK(typeof(parent)=='integer'),"
			    " version INTEGER NOT NULL CHECK(typeof(version)=='integer'),"
			    " writer INTEGER NOT NULL CHECK(typeof(writer)=='integer'),"
			    " mtime INTEGER NOT NULL CHECK(typeof(mtime)=='integer'),"
			    " type INTEGER NOT NULL CHECK(typeof(type)=='integer'),"
			    " name TEXT NOT NULL, data BLOB)");
	else
		exec_ok(db, "CREATE TABLE tree (inode INTEGER PRIMARY KEY NOT NULL, parent,"
			    " version, writer, mtime, type, name, data)");
	return db;
}

static void ref_put_len(sqlite3 *db, int64_t inode, int64_t parent, int64_t version, int type,
			const char *name, size_t name_len, const void *data, int len)
{
	sqlite3_stmt *st = NULL;

	g_assert_cmpint(sqlite3_prepare_v2(db, "INSERT INTO tree VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
					   -1, &st, NULL),
			==, SQLITE_OK);
	sqlite3_bind_int64(st, 1, inode);
	sqlite3_bind_int64(st, 2, parent);
	sqlite3_bind_int64(st, 3, version);
	sqlite3_bind_int64(st, 4, inode % 5 + 1);
	sqlite3_bind_int64(st, 5, MTIME0 + inode);
	sqlite3_bind_int64(st, 6, type);
	sqlite3_bind_text(st, 7, name, (int)name_len, SQLITE_TRANSIENT);
	/* as the reference binds it: NULL without data */
	sqlite3_bind_blob(st, 8, len ? data : NULL, len, SQLITE_TRANSIENT);
	g_assert_cmpint(sqlite3_step(st), ==, SQLITE_DONE);
	sqlite3_finalize(st);
}

static void ref_put(sqlite3 *db, int64_t inode, int64_t parent, int64_t version, int type,
		    const char *name, const char *data)
{
	ref_put_len(db, inode, parent, version, type, name, strlen(name), data,
		    data ? (int)strlen(data) : 0);
}

static void ref_version(sqlite3 *db, int64_t version)
{
	ref_put(db, 0, 0, version, REG_T, IMPORT_VERSION_NAME, NULL);
}

/* A node's /etc/pve as the reference keeps it; its highest version is 40,
 * the version row says 50. */
static const char binary_key[] = "\x00\x01\x02\xfe\xff\r\n\x1b[0m";
#define BINARY_LEN ((int)sizeof(binary_key) - 1)

static void ref_layout(sqlite3 *db)
{
	ref_version(db, 50);
	ref_put(db, 2, 0, 2, DIR_T, "nodes", NULL);
	ref_put(db, 3, 2, 3, DIR_T, "n1", NULL);
	ref_put(db, 4, 3, 4, DIR_T, "qemu-server", NULL);
	ref_put(db, 5, 3, 5, DIR_T, "lxc", NULL);
	ref_put(db, 6, 3, 6, DIR_T, "priv", NULL);
	ref_put(db, 7, 4, 40, REG_T, "100.conf", "memory: 512\ncores: 2\n");
	ref_put(db, 8, 0, 8, DIR_T, "priv", NULL);
	ref_put_len(db, 9, 8, 9, REG_T, "authkey.key", 11, binary_key, BINARY_LEN);
	ref_put(db, 10, 8, 10, DIR_T, "lock", NULL);
	ref_put(db, 11, 10, 11, DIR_T, "ha_agent_n1_lock", NULL);
	ref_put(db, 12, 0, 12, REG_T, "corosync.conf", "totem {\n  cluster_name: c\n}\n");
	ref_put(db, 13, 0, 13, REG_T, "datacenter.cfg", "keyboard: en-us\n");
	ref_put(db, 14, 0, 14, REG_T, "empty.cfg", NULL);
}

static void ref_close(sqlite3 *db)
{
	g_assert_cmpint(sqlite3_close(db), ==, SQLITE_OK);
}

static import_t *import_ok(fx_t *fx, const memdb_limits_t *limits)
{
	GError *err = NULL;
	import_t *imp = import_new(fx->src, limits, &err);

	g_assert_no_error(err);
	g_assert_nonnull(imp);
	const GPtrArray *r = imp ? import_refusals(imp) : NULL;
	const GPtrArray *n = imp ? import_notes(imp) : NULL;
	for (guint i = 0; r && i < r->len; i++)
		g_test_message("refused: %s", (char *)r->pdata[i]);
	for (guint i = 0; n && i < n->len; i++)
		g_test_message("note: %s", (char *)n->pdata[i]);
	return imp;
}

/* import_new refuses the source as a whole, with one line naming it. */
static void import_refused(fx_t *fx, const memdb_limits_t *limits, const char *why)
{
	GError *err = NULL;
	import_t *imp = import_new(fx->src, limits, &err);

	g_assert_null(imp);
	import_free(imp);
	g_assert_nonnull(err);
	if (!err)
		return;
	g_test_message("refused as expected: %s", err->message);
	g_assert_cmpuint(err->domain, ==, IMPORT_ERROR);
	g_assert_nonnull(strstr(err->message, fx->src));
	g_assert_nonnull(strstr(err->message, why));
	g_assert_null(strchr(err->message, '\n'));
	g_error_free(err);
}

/* How many lines start with "inode N (" and contain what. */
static guint count_lines(const GPtrArray *lines, int64_t inode, const char *what)
{
	g_autofree char *head = g_strdup_printf("inode %" G_GINT64_FORMAT " (", inode);
	guint n = 0;

	for (guint i = 0; i < lines->len; i++) {
		const char *l = lines->pdata[i];
		if (g_str_has_prefix(l, head) && strstr(l, what))
			n++;
	}
	return n;
}

static void assert_refused(const import_t *imp, int64_t inode, const char *what)
{
	guint n = count_lines(import_refusals(imp), inode, what);

	if (n != 1)
		g_test_message("no refusal of inode %" G_GINT64_FORMAT " with '%s'", inode, what);
	g_assert_cmpuint(n, ==, 1);
}

static void write_ok(const import_t *imp, const char *dst)
{
	GError *err = NULL;

	g_assert_true(import_write(imp, dst, &err));
	g_assert_no_error(err);
}

static memdb_t *open_result(const char *dst)
{
	GError *err = NULL;
	memdb_t *mdb = memdb_open(dst, &err);

	g_assert_no_error(err);
	g_assert_nonnull(mdb);
	return mdb;
}

static void assert_entry(memdb_t *mdb, const char *path, uint64_t inode, uint64_t version,
			 memdb_type_t type, const void *data, size_t len)
{
	memdb_attr_t a;

	g_test_message("checking %s", path);
	g_assert_cmpint(memdb_lookup_path(mdb, path, &a), ==, 0);
	g_assert_cmpuint(a.inode, ==, inode);
	g_assert_cmpuint(a.version, ==, version);
	g_assert_cmpuint(a.writer, ==, inode % 5 + 1);
	g_assert_cmpuint(a.mtime, ==, MTIME0 + inode);
	g_assert_cmpint(a.type, ==, type);
	if (type != MEMDB_REG)
		return;
	size_t got_len = 0;
	g_autofree char *got = memdb_read_path(mdb, path, &got_len);
	g_assert_nonnull(got);
	g_assert_cmpuint(got_len, ==, len);
	g_assert_true(got && got_len == len && memcmp(got, data, len) == 0);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

/* The content, mtime and directory listing of a file. */
typedef struct {
	char *data;
	gsize len;
	struct timespec mtime;
	char *listing;
} snap_t;

static gint cmp_str_ptr(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *sorted_listing(const char *dir)
{
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	g_assert_nonnull(d);
	while (d && (name = g_dir_read_name(d)))
		g_ptr_array_add(names, g_strdup(name));
	if (d)
		g_dir_close(d);
	g_ptr_array_sort(names, cmp_str_ptr);
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < names->len; i++)
		g_string_append_printf(s, "%s\n", (char *)names->pdata[i]);
	return g_string_free(s, FALSE);
}

static void age_file(const char *path)
{
	struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 123456789},
				 {.tv_sec = 1000000000, .tv_nsec = 123456789}};

	g_assert_cmpint(utimensat(AT_FDCWD, path, ts, 0), ==, 0);
}

static void snap_take(snap_t *s, const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	struct stat st;

	age_file(path);
	g_assert_cmpint(stat(path, &st), ==, 0);
	s->mtime = st.st_mtim;
	g_assert_true(g_file_get_contents(path, &s->data, &s->len, NULL));
	s->listing = sorted_listing(dir);
}

static void snap_assert_same(snap_t *s, const char *path)
{
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *listing = sorted_listing(dir);
	g_autofree char *data = NULL;
	gsize len = 0;
	struct stat st;

	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_true(g_file_get_contents(path, &data, &len, NULL));
	g_assert_true(len == s->len && memcmp(data, s->data, len) == 0);
	g_assert_cmpint(st.st_mtim.tv_sec, ==, s->mtime.tv_sec);
	g_assert_cmpint(st.st_mtim.tv_nsec, ==, s->mtime.tv_nsec);
	/* nothing new beside it: no -shm, -wal or journal */
	g_assert_cmpstr(listing, ==, s->listing);
	g_free(s->data);
	g_free(s->listing);
}

/* ---- the tree ---- */

static void test_tree_kept(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	import_counts_t c;

	ref_layout(db);
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	import_get_counts(imp, &c);
	g_assert_cmpuint(c.dirs, ==, 8);
	g_assert_cmpuint(c.files, ==, 5);
	g_assert_cmpuint(c.refused, ==, 0);
	g_assert_cmpuint(import_refusals(imp)->len, ==, 0);
	g_assert_cmpuint(import_notes(imp)->len, ==, 0);
	write_ok(imp, fx->dst);
	import_free(imp);

	memdb_t *mdb = open_result(fx->dst);
	const char *conf = "memory: 512\ncores: 2\n";
	assert_entry(mdb, "nodes", 2, 2, MEMDB_DIR, NULL, 0);
	assert_entry(mdb, "nodes/n1", 3, 3, MEMDB_DIR, NULL, 0);
	assert_entry(mdb, "nodes/n1/qemu-server", 4, 4, MEMDB_DIR, NULL, 0);
	assert_entry(mdb, "nodes/n1/lxc", 5, 5, MEMDB_DIR, NULL, 0);
	assert_entry(mdb, "nodes/n1/priv", 6, 6, MEMDB_DIR, NULL, 0);
	assert_entry(mdb, "nodes/n1/qemu-server/100.conf", 7, 40, MEMDB_REG, conf, strlen(conf));
	assert_entry(mdb, "priv", 8, 8, MEMDB_DIR, NULL, 0);
	assert_entry(mdb, "priv/authkey.key", 9, 9, MEMDB_REG, binary_key, BINARY_LEN);
	assert_entry(mdb, "priv/lock/ha_agent_n1_lock", 11, 11, MEMDB_DIR, NULL, 0);
	assert_entry(mdb, "datacenter.cfg", 13, 13, MEMDB_REG, "keyboard: en-us\n", 16);
	assert_entry(mdb, "empty.cfg", 14, 14, MEMDB_REG, "", 0);
	memdb_usage_t u;
	memdb_usage(mdb, &u);
	g_assert_cmpuint(u.inodes, ==, 14);
	memdb_free(mdb);
}

/* The root is inode 1 with the version row's version, writer and time. */
static void test_tree_root(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	memdb_attr_t a;

	ref_layout(db);
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	write_ok(imp, fx->dst);
	import_free(imp);
	memdb_t *mdb = open_result(fx->dst);
	g_assert_cmpint(memdb_getattr(mdb, MEMDB_ROOT_INODE, &a), ==, 0);
	g_assert_cmpint(a.type, ==, MEMDB_DIR);
	g_assert_cmpuint(a.version, ==, 50);
	g_assert_cmpuint(a.writer, ==, 1);
	g_assert_cmpuint(a.mtime, ==, MTIME0);
	memdb_free(mdb);
}

static void import_versions(fx_t *fx, int64_t stored, int64_t newest, uint64_t want)
{
	sqlite3 *db = ref_create(fx->src, true);
	import_counts_t c;

	ref_version(db, stored);
	ref_put(db, 2, 0, 2, DIR_T, "nodes", NULL);
	ref_put(db, 3, 0, newest, REG_T, "f", "x");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	import_get_counts(imp, &c);
	g_assert_cmpuint(c.source_version, ==, (uint64_t)stored);
	g_assert_cmpuint(c.version, ==, want);
	write_ok(imp, fx->dst);
	import_free(imp);
	memdb_t *mdb = open_result(fx->dst);
	g_assert_cmpuint(memdb_version(mdb), ==, want);
	memdb_free(mdb);
}

static void test_version_stored(fx_t *fx, gconstpointer data)
{
	import_versions(fx, 500, 30, 500);
}

static void test_version_rows(fx_t *fx, gconstpointer data)
{
	import_versions(fx, 20, 700, 700);
}

/* A new entry after the import is numbered above every imported one. */
static void test_version_new_entry(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	memdb_attr_t a;

	ref_version(db, 5);
	ref_put(db, 90, 0, 3, REG_T, "f", "x");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	write_ok(imp, fx->dst);
	import_free(imp);
	memdb_t *mdb = open_result(fx->dst);
	g_assert_cmpuint(memdb_version(mdb), ==, 90);
	g_assert_cmpint(memdb_create(mdb, MEMDB_ROOT_INODE, "g", 1, MTIME0, &a), ==, 0);
	g_assert_cmpuint(a.inode, ==, 91);
	memdb_free(mdb);
}

/* ---- rows refused ---- */

static void test_refused_orphan(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	import_counts_t c;

	ref_layout(db);
	ref_put(db, 20, 999, 20, REG_T, "stray.conf", "x");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	import_get_counts(imp, &c);
	g_assert_cmpuint(c.refused, ==, 1);
	g_assert_cmpuint(c.files, ==, 5);
	assert_refused(imp, 20,
		       "('stray.conf' in inode 999): not reachable from the root: its "
		       "parent inode 999 does not exist");
	write_ok(imp, fx->dst);
	import_free(imp);
	memdb_t *mdb = open_result(fx->dst);
	memdb_attr_t a;
	g_assert_cmpint(memdb_getattr(mdb, 20, &a), ==, -ENOENT);
	memdb_free(mdb);
}

static void test_refused_duplicate(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);

	ref_layout(db);
	/* datacenter.cfg again, written later than inode 13 */
	ref_put(db, 21, 0, 21, REG_T, "datacenter.cfg", "keyboard: de\n");
	/* and a directory again, written earlier than nodes (inode 2) */
	ref_put(db, 22, 0, 1, DIR_T, "nodes", NULL);
	ref_put(db, 23, 22, 23, REG_T, "inside-old-nodes", "x");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	assert_refused(imp, 13,
		       "(datacenter.cfg): the same name as inode 21 in the same "
		       "directory, which is newer");
	assert_refused(imp, 22,
		       "(nodes): the same name as inode 2 in the same directory, "
		       "which is newer");
	assert_refused(imp, 23,
		       "(nodes/inside-old-nodes): not reachable from the root: below "
		       "inode 22, which is refused");
	g_assert_cmpuint(import_refusals(imp)->len, ==, 3);
	write_ok(imp, fx->dst);
	import_free(imp);
	memdb_t *mdb = open_result(fx->dst);
	assert_entry(mdb, "datacenter.cfg", 21, 21, MEMDB_REG, "keyboard: de\n", 13);
	assert_entry(mdb, "nodes", 2, 2, MEMDB_DIR, NULL, 0);
	memdb_free(mdb);
}

static void test_refused_cycle(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);

	ref_layout(db);
	ref_put(db, 30, 31, 30, DIR_T, "a", NULL);
	ref_put(db, 31, 30, 31, DIR_T, "b", NULL);
	ref_put(db, 32, 31, 32, REG_T, "below", "x");
	ref_put(db, 33, 33, 33, DIR_T, "self", NULL);
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	assert_refused(imp, 30, "('a' in inode 31): not reachable from the root: its parents loop");
	assert_refused(imp, 31, "('b' in inode 30): not reachable from the root: its parents loop");
	assert_refused(imp, 32,
		       "('below' in inode 31): not reachable from the root: its parents "
		       "loop");
	assert_refused(imp, 33,
		       "('self' in inode 33): not reachable from the root: its parents "
		       "loop (through inode 33)");
	g_assert_cmpuint(import_refusals(imp)->len, ==, 4);
	write_ok(imp, fx->dst);
	import_free(imp);
}

static void test_refused_below_file(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);

	ref_layout(db);
	ref_put(db, 40, 13, 41, REG_T, "in-a-file", "x");
	ref_put(db, 41, 40, 42, REG_T, "deeper", "x");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	assert_refused(imp, 40,
		       "(datacenter.cfg/in-a-file): not reachable from the root: its "
		       "parent inode 13 is a file");
	assert_refused(imp, 41,
		       "(datacenter.cfg/in-a-file/deeper): not reachable from the root: "
		       "below inode 40, whose parent inode 13 is a file");
	import_free(imp);
}

/* A directory refused for its name takes what is below it along. */
static void test_refused_subtree(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);

	ref_layout(db);
	ref_put(db, 50, 0, 50, DIR_T, "..", NULL);
	ref_put(db, 51, 50, 51, DIR_T, "sub", NULL);
	ref_put(db, 52, 51, 52, REG_T, "f", "x");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	assert_refused(imp, 50, "(..): its name is not valid");
	assert_refused(imp, 51,
		       "(../sub): not reachable from the root: below inode 50, which "
		       "is refused");
	assert_refused(imp, 52, "below inode 50, which is refused");
	import_free(imp);
}

static void test_refused_type(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);

	ref_layout(db);
	ref_put(db, 60, 0, 60, 10, "link", "target");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	assert_refused(imp, 60, "(link): its type 10 is unknown");
	import_free(imp);
}

static void test_refused_names(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	char longname[MEMDB_MAX_NAME + 2];

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	ref_layout(db);
	ref_put(db, 70, 0, 70, REG_T, "a/b", "x");
	ref_put(db, 71, 0, 71, REG_T, "", "x");
	ref_put(db, 72, 0, 72, REG_T, ".", "x");
	ref_put_len(db, 73, 0, 73, REG_T, "nul\0byte", 8, "x", 1);
	ref_put(db, 74, 0, 74, REG_T, longname, "x");
	/* the longest name allowed is taken */
	longname[MEMDB_MAX_NAME] = '\0';
	ref_put(db, 75, 0, 75, REG_T, longname, "x");
	/* escapes in a name reach the report escaped */
	ref_put(db, 76, 0, 76, REG_T, "\x1b]0;title\x07/x", "x");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	assert_refused(imp, 70, "(a/b): its name is not valid");
	assert_refused(imp, 71, "(): its name is not valid");
	assert_refused(imp, 72, "(.): its name is not valid");
	assert_refused(imp, 73, "(nul\\x00byte): its name holds a NUL byte");
	assert_refused(imp, 74, "...): its name is longer than 255 bytes");
	assert_refused(imp, 76, "(\\x1b]0;title\\x07/x): its name is not valid");
	g_assert_cmpuint(import_refusals(imp)->len, ==, 6);
	write_ok(imp, fx->dst);
	import_free(imp);
	memdb_t *mdb = open_result(fx->dst);
	memdb_attr_t a;
	g_assert_cmpint(memdb_lookup_path(mdb, longname, &a), ==, 0);
	memdb_free(mdb);
}

/* The mount shows virtual files and links at the root: an entry by such a
 * name would be hidden there, and is refused; deeper down it is a name. */
static void test_refused_reserved(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);

	ref_layout(db);
	ref_put(db, 80, 0, 80, REG_T, ".members", "{}");
	ref_put(db, 81, 0, 81, DIR_T, "local", NULL);
	ref_put(db, 82, 2, 82, DIR_T, "local", NULL);
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	assert_refused(imp, 80, "(.members): its name is that of a virtual file or link");
	assert_refused(imp, 81, "(local): its name is that of a virtual file or link");
	g_assert_cmpuint(import_refusals(imp)->len, ==, 2);
	import_free(imp);
}

static void test_refused_size(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	memdb_limits_t limits = MEMDB_LIMITS_DEFAULT;
	g_autofree char *big = g_strnfill(101, 'x');

	limits.max_file_size = 100;
	ref_layout(db);
	ref_put(db, 90, 0, 90, REG_T, "big", big);
	big[100] = '\0';
	ref_put(db, 91, 0, 91, REG_T, "just-fits", big);
	ref_close(db);
	import_t *imp = import_ok(fx, &limits);
	assert_refused(imp, 90, "(big): a file of 101 bytes, more than the limit of 100");
	g_assert_cmpuint(import_refusals(imp)->len, ==, 1);
	import_free(imp);
}

static void test_refused_depth(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	const int64_t first = 100, deepest = first + MEMDB_MAX_DEPTH;

	ref_version(db, 1);
	exec_ok(db, "BEGIN");
	/* inode first + i is i + 1 directories deep */
	for (int64_t i = first; i <= deepest; i++)
		ref_put(db, i, i == first ? 0 : i - 1, i, DIR_T, "d", NULL);
	ref_put(db, deepest + 1, deepest - 1, deepest + 1, REG_T, "file-at-the-limit", "x");
	ref_put(db, deepest + 2, deepest, deepest + 2, REG_T, "below-the-too-deep", "x");
	exec_ok(db, "COMMIT");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	assert_refused(imp, deepest, "a directory more than 256 directories deep");
	assert_refused(imp, deepest + 2, "below inode 356, which is refused");
	g_assert_cmpuint(import_refusals(imp)->len, ==, 2);
	write_ok(imp, fx->dst);
	import_free(imp);
	memdb_t *mdb = open_result(fx->dst);
	memdb_attr_t a;
	g_assert_cmpint(memdb_getattr(mdb, (uint64_t)deepest - 1, &a), ==, 0);
	g_assert_cmpint(memdb_getattr(mdb, (uint64_t)deepest + 1, &a), ==, 0);
	g_assert_cmpint(memdb_getattr(mdb, (uint64_t)deepest, &a), ==, -ENOENT);
	memdb_free(mdb);
}

/* What the reference's checks would stop, in a table without them. */
static void test_refused_column_types(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, false);

	ref_version(db, 10);
	ref_put(db, 2, 0, 2, REG_T, "good", "x");
	exec_ok(db, "INSERT INTO tree VALUES (3, 0, 'new', 1, 1, 8, 'f3', NULL);"
		    "INSERT INTO tree VALUES (4, 0.5, 4, 1, 1, 8, 'f4', NULL);"
		    "INSERT INTO tree VALUES (5, 0, 5, 1, 1, 8, 55, NULL);"
		    "INSERT INTO tree VALUES (6, 0, 6, 1, 1, 8, 'f6', 'text data');"
		    "INSERT INTO tree VALUES (7, 0, 7, 4294967296, 1, 8, 'f7', NULL);"
		    "INSERT INTO tree VALUES (8, 0, -8, 1, 1, 8, 'f8', NULL);"
		    "INSERT INTO tree VALUES (9, 0, 4611686018427387904, 1, 1, 8, 'f9', NULL);"
		    "INSERT INTO tree VALUES (-10, 0, 10, 1, 1, 8, 'f10', NULL);"
		    "INSERT INTO tree VALUES (11, 0, 11, 1, -1, 8, 'f11', NULL);"
		    "INSERT INTO tree VALUES (12, -2, 12, 1, 1, 8, 'f12', NULL);");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	assert_refused(imp, 3, "its version is text, not an integer");
	assert_refused(imp, 4, "its parent is real, not an integer");
	assert_refused(imp, 5, "its name is integer, not text");
	assert_refused(imp, 6, "its data is text, not a blob");
	assert_refused(imp, 7, "its writer 4294967296 is out of range");
	assert_refused(imp, 8, "its version -8 is out of range");
	assert_refused(imp, 9, "its version 4611686018427387904 is out of range");
	assert_refused(imp, -10, "its inode number is out of range");
	assert_refused(imp, 11, "its mtime -1 is out of range");
	assert_refused(imp, 12, "its parent -2 is out of range");
	g_assert_cmpuint(import_refusals(imp)->len, ==, 10);
	write_ok(imp, fx->dst);
	import_free(imp);
}

/* ---- taken in another form ---- */

static void test_note_dir_data(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	import_counts_t c;

	ref_layout(db);
	ref_put(db, 95, 0, 95, DIR_T, "dir-with-data", "junk");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	import_get_counts(imp, &c);
	g_assert_cmpuint(c.dirs, ==, 9);
	g_assert_cmpuint(c.refused, ==, 0);
	g_assert_cmpuint(count_lines(import_notes(imp), 95,
				     "(dir-with-data): a directory with 4 bytes of data: taken, "
				     "without the data"),
			 ==, 1);
	write_ok(imp, fx->dst);
	import_free(imp);
	memdb_t *mdb = open_result(fx->dst);
	memdb_attr_t a;
	g_assert_cmpint(memdb_lookup_path(mdb, "dir-with-data", &a), ==, 0);
	g_assert_cmpuint(a.size, ==, 0);
	memdb_free(mdb);
}

/* Our root is inode 1: an entry of the source with that number moves to
 * the next free number, its children with it. */
static void test_note_inode_one(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	import_counts_t c;

	ref_version(db, 30);
	ref_put(db, 1, 0, 1, DIR_T, "first", NULL);
	ref_put(db, 2, 1, 2, REG_T, "child", "c");
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	import_get_counts(imp, &c);
	g_assert_cmpuint(c.version, ==, 31);
	g_assert_cmpuint(count_lines(import_notes(imp), 1, "(first): becomes inode 31"), ==, 1);
	write_ok(imp, fx->dst);
	import_free(imp);
	memdb_t *mdb = open_result(fx->dst);
	memdb_attr_t a;
	g_assert_cmpint(memdb_lookup_path(mdb, "first", &a), ==, 0);
	g_assert_cmpuint(a.inode, ==, 31);
	g_assert_cmpuint(a.version, ==, 1);
	g_assert_cmpint(memdb_lookup_path(mdb, "first/child", &a), ==, 0);
	g_assert_cmpuint(a.parent, ==, 31);
	g_assert_cmpuint(memdb_version(mdb), ==, 31);
	memdb_free(mdb);
}

/* ---- refused as a whole ---- */

static void test_limit_inodes(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	memdb_limits_t limits = MEMDB_LIMITS_DEFAULT;

	ref_layout(db);
	ref_close(db);
	limits.max_inodes = 14; /* the layout has 13 and the root */
	import_t *imp = import_ok(fx, &limits);
	import_free(imp);
	limits.max_inodes = 13;
	import_refused(fx, &limits, "more than pmxcfsd's limit of 13");
	/* refused rows do not count, but a table with more rows than the
	 * limit allows entries is refused before it is read */
	g_assert_cmpint(sqlite3_open(fx->src, &db), ==, SQLITE_OK);
	ref_put(db, 20, 999, 20, REG_T, "stray", NULL);
	ref_close(db);
	limits.max_inodes = 14;
	imp = import_ok(fx, &limits);
	import_free(imp);
	limits.max_inodes = 13;
	import_refused(fx, &limits, "15 rows, more than pmxcfsd's limit of 13");
	g_assert_false(exists(fx->dst));
}

static void test_limit_bytes(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	memdb_limits_t limits = MEMDB_LIMITS_DEFAULT;

	ref_version(db, 10);
	ref_put(db, 2, 0, 2, REG_T, "a", "0123456789");
	ref_put(db, 3, 0, 3, REG_T, "b", "0123456789");
	ref_put(db, 4, 999, 4, REG_T, "orphan", "0123456789");
	ref_close(db);
	limits.max_fs_size = 20;
	import_t *imp = import_ok(fx, &limits);
	import_free(imp);
	limits.max_fs_size = 19;
	import_refused(fx, &limits, "20 bytes in files, more than pmxcfsd's limit of 19");
}

static void test_source_missing(fx_t *fx, gconstpointer data)
{
	import_refused(fx, NULL, "No such file or directory");
}

static void test_source_not_sqlite(fx_t *fx, gconstpointer data)
{
	g_assert_true(g_file_set_contents(fx->src, "[global]\nthis is a text file\n", -1, NULL));
	import_refused(fx, NULL, "not an SQLite database");
	g_assert_true(g_file_set_contents(fx->src, "SQLite format 3\0garbage", 23, NULL));
	import_refused(fx, NULL, "not an SQLite database");
	g_assert_true(g_file_set_contents(fx->src, "", 0, NULL));
	import_refused(fx, NULL, "not an SQLite database");
	g_assert_cmpint(g_unlink(fx->src), ==, 0);
	g_assert_cmpint(g_mkdir(fx->src, 0700), ==, 0);
	import_refused(fx, NULL, "not a regular file");
}

static void test_source_foreign(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = NULL;

	g_assert_cmpint(sqlite3_open(fx->src, &db), ==, SQLITE_OK);
	exec_ok(db, "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)");
	ref_close(db);
	import_refused(fx, NULL, "not a database of Proxmox's pmxcfs (it has no table tree");
}

static void test_source_ours(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	memdb_t *mdb = memdb_open(fx->src, &err);

	g_assert_no_error(err);
	memdb_free(mdb);
	import_refused(fx, NULL, "a database of pmxcfsd already, nothing to import");
}

static void test_source_no_version_row(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);

	ref_put(db, 2, 0, 2, DIR_T, "nodes", NULL);
	ref_close(db);
	import_refused(fx, NULL, "no version row (inode 0, __version__)");
}

static void test_source_inode0_misnamed(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);

	ref_put(db, 0, 0, 5, DIR_T, "root", NULL);
	ref_close(db);
	import_refused(fx, NULL, "inode 0 is named 'root', not __version__");
}

static void test_source_damaged(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	g_autofree char *junk = g_strnfill(3000, 'j');
	struct stat st;

	exec_ok(db, "PRAGMA journal_mode = DELETE");
	ref_version(db, 700);
	exec_ok(db, "BEGIN");
	for (int i = 2; i < 600; i++) {
		g_autofree char *name = g_strdup_printf("f%d", i);
		ref_put(db, i, 0, i, REG_T, name, junk);
	}
	exec_ok(db, "COMMIT");
	ref_close(db);
	g_assert_cmpint(stat(fx->src, &st), ==, 0);
	off_t from = st.st_size / 3 / 4096 * 4096, len = st.st_size / 3 / 4096 * 4096;
	g_autofree char *garbage = g_strnfill((gsize)len, '\x5a');
	int fd = open(fx->src, O_WRONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pwrite(fd, garbage, (size_t)len, from), ==, len);
	close(fd);
	import_refused(fx, NULL, "the database is damaged");
}

/* ---- the source stays as it was ---- */

static void test_source_unchanged(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	snap_t s;

	ref_layout(db);
	ref_close(db);
	g_assert_true(exists(fx->src));
	snap_take(&s, fx->src);
	import_t *imp = import_ok(fx, NULL);
	write_ok(imp, fx->dst);
	import_free(imp);
	snap_assert_same(&s, fx->src);
}

/* pmxcfs was killed: its last changes are only in the -wal file. They are
 * read from a private copy; the source and its -wal stay as they are. */
static void test_source_pending_wal(fx_t *fx, gconstpointer data)
{
	g_autofree char *live = g_build_filename(fx->dir, "live.db", NULL);
	g_autofree char *livewal = g_strconcat(live, "-wal", NULL);
	g_autofree char *srcwal = g_strconcat(fx->src, "-wal", NULL);
	sqlite3 *db = ref_create(live, true);
	gchar *buf = NULL;
	gsize len = 0;
	snap_t s, sw;

	ref_layout(db);
	exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE); PRAGMA wal_autocheckpoint = 0");
	ref_put(db, 20, 0, 60, REG_T, "only-in-the-wal", "late");
	exec_ok(db, "UPDATE tree SET version = 60 WHERE inode = 0");
	/* the files as a crash leaves them, copied while the writer holds them */
	g_assert_true(g_file_get_contents(live, &buf, &len, NULL));
	g_assert_true(g_file_set_contents(fx->src, buf, (gssize)len, NULL));
	g_free(buf);
	g_assert_true(g_file_get_contents(livewal, &buf, &len, NULL));
	g_assert_cmpuint(len, >, 0);
	g_assert_true(g_file_set_contents(srcwal, buf, (gssize)len, NULL));
	g_free(buf);
	ref_close(db);
	g_assert_cmpint(g_unlink(live), ==, 0);

	snap_take(&sw, srcwal);
	snap_take(&s, fx->src);
	import_t *imp = import_ok(fx, NULL);
	import_counts_t c;
	import_get_counts(imp, &c);
	g_assert_cmpuint(c.source_version, ==, 60);
	g_assert_cmpuint(c.files, ==, 6);
	const GPtrArray *notes = import_notes(imp);
	g_assert_cmpuint(notes->len, ==, 1);
	if (notes->len)
		g_assert_nonnull(strstr(notes->pdata[0], "holds changes not yet in"));
	write_ok(imp, fx->dst);
	import_free(imp);
	snap_assert_same(&s, fx->src);
	snap_assert_same(&sw, srcwal);

	memdb_t *mdb = open_result(fx->dst);
	assert_entry(mdb, "only-in-the-wal", 20, 60, MEMDB_REG, "late", 4);
	memdb_free(mdb);
}

/* ---- the target ---- */

static void test_target_private(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	struct stat st;

	ref_layout(db);
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	g_assert_false(exists(fx->outdir));
	write_ok(imp, fx->dst);
	import_free(imp);
	g_assert_cmpint(stat(fx->outdir, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 07777, ==, 0700);
	g_assert_cmpint(stat(fx->dst, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 07777, ==, 0600);
	/* no journal and no temporary file left beside it */
	g_autofree char *listing = sorted_listing(fx->outdir);
	g_assert_cmpstr(listing, ==, "config.db\n");
}

static void assert_target_refused(const import_t *imp, const char *dst, const char *why)
{
	GError *err = NULL;

	g_assert_false(import_check_target(imp, dst, &err));
	g_assert_nonnull(err);
	g_clear_error(&err);
	g_assert_false(import_write(imp, dst, &err));
	g_assert_nonnull(err);
	if (!err)
		return;
	g_test_message("refused as expected: %s", err->message);
	g_assert_nonnull(strstr(err->message, why));
	g_error_free(err);
}

/* An existing database is never replaced: the second import is refused
 * and both files stay as they were. */
static void test_target_exists(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	snap_t s;

	ref_layout(db);
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	write_ok(imp, fx->dst);
	snap_take(&s, fx->dst);
	g_autofree char *want =
	    g_strdup_printf("%s exists: refusing to overwrite it; move it away", fx->dst);
	assert_target_refused(imp, fx->dst, want);
	snap_assert_same(&s, fx->dst);
	/* whatever the file is */
	g_autofree char *other = g_build_filename(fx->outdir, "other.db", NULL);
	g_assert_true(g_file_set_contents(other, "not a database", -1, NULL));
	snap_take(&s, other);
	assert_target_refused(imp, other, "exists: refusing to overwrite it");
	snap_assert_same(&s, other);
	import_free(imp);
}

/* The journal of a database moved away would be taken for the new one's. */
static void test_target_stray_wal(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	g_autofree char *wal = g_strconcat(fx->dst, "-wal", NULL);

	ref_layout(db);
	ref_close(db);
	g_assert_cmpint(g_mkdir(fx->outdir, 0700), ==, 0);
	g_assert_true(g_file_set_contents(wal, "left behind", -1, NULL));
	import_t *imp = import_ok(fx, NULL);
	assert_target_refused(imp, fx->dst, "-wal exists without its database");
	g_assert_false(exists(fx->dst));
	import_free(imp);
}

/* Importing onto itself: the file is where the daemon keeps its own. */
static void test_target_is_source(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	snap_t s;

	ref_layout(db);
	ref_close(db);
	snap_take(&s, fx->src);
	import_t *imp = import_ok(fx, NULL);
	assert_target_refused(imp, fx->src,
			      "is where pmxcfsd keeps its own database: move it "
			      "away first");
	import_free(imp);
	snap_assert_same(&s, fx->src);
}

/* The daemon's start: the new database loads, and takes changes. */
static void test_target_loads(fx_t *fx, gconstpointer data)
{
	sqlite3 *db = ref_create(fx->src, true);
	GError *err = NULL;

	ref_layout(db);
	ref_close(db);
	import_t *imp = import_ok(fx, NULL);
	write_ok(imp, fx->dst);
	import_free(imp);
	memdb_t *mdb = open_result(fx->dst);
	g_assert_cmpint(memdb_ensure_layout(mdb, "n2", 0, MTIME0), ==, 0);
	memdb_attr_t a;
	g_assert_cmpint(memdb_lookup_path(mdb, "nodes/n2/qemu-server", &a), ==, 0);
	g_assert_cmpuint(a.inode, >, 50);
	memdb_free(mdb);
	dbstore_t *store = dbstore_open(fx->dst, &err);
	g_assert_no_error(err);
	g_assert_true(dbstore_check(store, &err));
	dbstore_free(store);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();
	log_init("test_import", false, g_getenv("TEST_VERBOSE") != NULL);

#define ADD(path, fn) g_test_add(path, fx_t, NULL, fx_setup, fn, fx_teardown)
	ADD("/import/tree/inodes-versions-writers-mtimes-contents-kept", test_tree_kept);
	ADD("/import/tree/root-is-inode-1-with-the-version-row", test_tree_root);
	ADD("/import/version/stored-version-when-higher", test_version_stored);
	ADD("/import/version/highest-row-version-when-higher", test_version_rows);
	ADD("/import/version/new-entry-numbered-above-all", test_version_new_entry);
	ADD("/import/refused/orphan-reported-rest-taken", test_refused_orphan);
	ADD("/import/refused/duplicate-name-newer-kept", test_refused_duplicate);
	ADD("/import/refused/cycles-and-below", test_refused_cycle);
	ADD("/import/refused/below-a-file", test_refused_below_file);
	ADD("/import/refused/below-a-refused-directory", test_refused_subtree);
	ADD("/import/refused/unknown-type", test_refused_type);
	ADD("/import/refused/invalid-names-escaped", test_refused_names);
	ADD("/import/refused/virtual-names-at-the-root", test_refused_reserved);
	ADD("/import/refused/file-over-the-size-limit", test_refused_size);
	ADD("/import/refused/deeper-than-the-depth-limit", test_refused_depth);
	ADD("/import/refused/column-types-and-ranges", test_refused_column_types);
	ADD("/import/notes/directory-data-dropped", test_note_dir_data);
	ADD("/import/notes/inode-1-renumbered", test_note_inode_one);
	ADD("/import/whole/over-the-inode-limit", test_limit_inodes);
	ADD("/import/whole/over-the-size-limit", test_limit_bytes);
	ADD("/import/whole/missing-file", test_source_missing);
	ADD("/import/whole/not-sqlite", test_source_not_sqlite);
	ADD("/import/whole/another-programs-database", test_source_foreign);
	ADD("/import/whole/our-own-database", test_source_ours);
	ADD("/import/whole/no-version-row", test_source_no_version_row);
	ADD("/import/whole/inode-0-misnamed", test_source_inode0_misnamed);
	ADD("/import/whole/damaged", test_source_damaged);
	ADD("/import/source/bytes-mtime-and-directory-unchanged", test_source_unchanged);
	ADD("/import/source/pending-wal-read-from-a-copy", test_source_pending_wal);
	ADD("/import/target/root-only-modes-nothing-left-beside", test_target_private);
	ADD("/import/target/existing-file-refused-unchanged", test_target_exists);
	ADD("/import/target/stray-wal-refused", test_target_stray_wal);
	ADD("/import/target/source-itself-refused", test_target_is_source);
	ADD("/import/target/loads-and-takes-changes", test_target_loads);
#undef ADD
	return g_test_run();
}
