/* Unit tests for what a member sends the others: a whole tree as one value
 * (memdb_dump/memdb_replace) and one mutation as one value (fsop.h). A
 * replaced tree must equal its source bit for bit, and nothing malformed
 * may change a tree. */
#include "fsop.h"
#include "memdb.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

typedef struct {
	char *dir;
	memdb_t *a; /* the source */
	memdb_t *b; /* the one that takes over */
} fx_t;

static memdb_t *open_in(const char *dir, const char *name)
{
	g_autofree char *path = g_build_filename(dir, name, NULL);
	GError *err = NULL;
	memdb_t *m = memdb_open(path, &err);

	g_assert_no_error(err);
	return m;
}

static void fx_setup(fx_t *fx, gconstpointer data)
{
	fx->dir = g_dir_make_tmp("test-transfer-XXXXXX", NULL);
	g_assert(fx->dir);
	fx->a = open_in(fx->dir, "a.db");
	fx->b = open_in(fx->dir, "b.db");
}

static void fx_teardown(fx_t *fx, gconstpointer data)
{
	memdb_free(fx->a);
	memdb_free(fx->b);
	const char *names[] = {"a.db", "a.db-wal", "a.db-shm", "b.db", "b.db-wal", "b.db-shm"};
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *p = g_build_filename(fx->dir, names[i], NULL);
		g_unlink(p);
	}
	g_rmdir(fx->dir);
	g_free(fx->dir);
}

static void fill(memdb_t *m)
{
	memdb_attr_t d, f;

	g_assert_cmpint(memdb_ensure_layout(m, "n1", 1, 1000), ==, 0);
	g_assert_cmpint(memdb_mkdir(m, MEMDB_ROOT_INODE, "dir", 1, 1001, &d), ==, 0);
	g_assert_cmpint(memdb_create(m, d.inode, "conf", 2, 1002, &f), ==, 0);
	g_assert_cmpint(memdb_write(m, f.inode, 0, "hello\n", 6, 2, 1003), ==, 6);
	g_assert_cmpint(memdb_create(m, MEMDB_ROOT_INODE, "empty", 3, 1004, NULL), ==, 0);
}

static void assert_same(memdb_t *x, memdb_t *y)
{
	uint8_t cx[32], cy[32];

	memdb_checksum(x, cx);
	memdb_checksum(y, cy);
	g_assert_cmpmem(cx, 32, cy, 32);
	g_assert_cmpuint(memdb_version(x), ==, memdb_version(y));
}

static void test_replace_copies_everything(fx_t *fx, gconstpointer data)
{
	fill(fx->a);
	g_autoptr(GVariant) dump = memdb_dump(fx->a);
	GError *err = NULL;
	uint64_t gen = memdb_generation(fx->b);

	g_assert_true(memdb_replace(fx->b, dump, &err));
	g_assert_no_error(err);
	assert_same(fx->a, fx->b);
	g_assert_cmpuint(memdb_generation(fx->b), ==, gen + 1);
	size_t len;
	g_autofree char *c = memdb_read_path(fx->b, "dir/conf", &len);
	g_assert_cmpstr(c, ==, "hello\n");
	/* The next change gets the same inode and version on both. */
	memdb_attr_t x, y;
	g_assert_cmpint(memdb_create(fx->a, MEMDB_ROOT_INODE, "next", 1, 2000, &x), ==, 0);
	g_assert_cmpint(memdb_create(fx->b, MEMDB_ROOT_INODE, "next", 1, 2000, &y), ==, 0);
	g_assert_cmpuint(x.inode, ==, y.inode);
	assert_same(fx->a, fx->b);
}

static void test_replace_persists(fx_t *fx, gconstpointer data)
{
	fill(fx->a);
	g_autoptr(GVariant) dump = memdb_dump(fx->a);

	g_assert_true(memdb_replace(fx->b, dump, NULL));
	memdb_free(fx->b);
	fx->b = open_in(fx->dir, "b.db");
	assert_same(fx->a, fx->b);
}

static void test_meta_survives_replace(fx_t *fx, gconstpointer data)
{
	g_assert_cmpint(memdb_set_meta(fx->b, "quorate_stamp", 42), ==, 0);
	fill(fx->a);
	g_autoptr(GVariant) dump = memdb_dump(fx->a);
	g_assert_true(memdb_replace(fx->b, dump, NULL));
	g_assert_cmpuint(memdb_get_meta(fx->b, "quorate_stamp"), ==, 42);
	g_assert_cmpuint(memdb_get_meta(fx->b, "never-set"), ==, 0);
	g_assert_cmpint(memdb_set_meta(fx->b, "version", 1), ==, -EIO);
}

/* A dump of the tree as rows, to break in one place. */
typedef struct {
	guint64 inode, parent, version;
	guint32 writer, mtime;
	guchar type;
	const char *name;
	const char *data;
} row_t;

static GVariant *make_dump(guint64 version, const row_t *rows, size_t n)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a(tttuuysay)"));
	for (size_t i = 0; i < n; i++) {
		const char *d = rows[i].data ? rows[i].data : "";
		g_variant_builder_add(
		    &b, "(tttuuys@ay)", rows[i].inode, rows[i].parent, rows[i].version,
		    rows[i].writer, rows[i].mtime, rows[i].type, rows[i].name,
		    g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, d, strlen(d), 1));
	}
	return g_variant_ref_sink(
	    g_variant_new("(t@a(tttuuysay))", version, g_variant_builder_end(&b)));
}

#define ROOT                                                                                       \
	{                                                                                          \
		1, 0, 1, 0, 1000, MEMDB_DIR, "", NULL                                              \
	}

static const struct bad {
	const char *path;
	guint64 version;
	row_t rows[4];
	size_t n;
} bad_dumps[] = {
    {"/transfer/refuses/no-root", 5, {{2, 1, 2, 1, 1, MEMDB_REG, "f", "x"}}, 1},
    {"/transfer/refuses/orphan", 5, {ROOT, {3, 9, 3, 1, 1, MEMDB_REG, "f", NULL}}, 2},
    {"/transfer/refuses/cycle",
     5,
     {ROOT, {2, 3, 2, 1, 1, MEMDB_DIR, "a", NULL}, {3, 2, 3, 1, 1, MEMDB_DIR, "b", NULL}},
     3},
    {"/transfer/refuses/parent-is-file",
     5,
     {ROOT, {2, 1, 2, 1, 1, MEMDB_REG, "f", NULL}, {3, 2, 3, 1, 1, MEMDB_REG, "g", NULL}},
     3},
    {"/transfer/refuses/duplicate-inode",
     5,
     {ROOT, {2, 1, 2, 1, 1, MEMDB_REG, "f", NULL}, {2, 1, 2, 1, 1, MEMDB_REG, "g", NULL}},
     3},
    {"/transfer/refuses/duplicate-name",
     5,
     {ROOT, {2, 1, 2, 1, 1, MEMDB_REG, "f", NULL}, {3, 1, 3, 1, 1, MEMDB_REG, "f", NULL}},
     3},
    {"/transfer/refuses/newer-than-version", 2, {ROOT, {3, 1, 3, 1, 1, MEMDB_REG, "f", NULL}}, 2},
    {"/transfer/refuses/bad-type", 5, {ROOT, {2, 1, 2, 1, 1, 7, "f", NULL}}, 2},
    {"/transfer/refuses/slash-in-name", 5, {ROOT, {2, 1, 2, 1, 1, MEMDB_REG, "a/b", NULL}}, 2},
    {"/transfer/refuses/dot-name", 5, {ROOT, {2, 1, 2, 1, 1, MEMDB_DIR, "..", NULL}}, 2},
};

static void test_replace_refuses(fx_t *fx, gconstpointer data)
{
	const struct bad *bd = data;
	uint8_t before[32], after[32];
	GError *err = NULL;

	fill(fx->b);
	memdb_checksum(fx->b, before);
	uint64_t gen = memdb_generation(fx->b);
	g_autoptr(GVariant) dump = make_dump(bd->version, bd->rows, bd->n);
	g_assert_false(memdb_replace(fx->b, dump, &err));
	g_assert_nonnull(err);
	g_assert_cmpstr(err->message, !=, "");
	g_error_free(err);
	memdb_checksum(fx->b, after);
	g_assert_cmpmem(before, 32, after, 32);
	g_assert_cmpuint(memdb_generation(fx->b), ==, gen);
}

static void test_replace_refuses_wrong_type(fx_t *fx, gconstpointer data)
{
	g_autoptr(GVariant) v = g_variant_ref_sink(g_variant_new("(ts)", (guint64)1, "x"));
	GError *err = NULL;

	g_assert_false(memdb_replace(fx->b, v, &err));
	g_assert_error(err, g_quark_from_static_string("dbstore-error-quark"), EPROTO);
	g_error_free(err);
}

static void test_fsop_round_trip(void)
{
	fsop_t op = {.kind = FSOP_RENAME,
		     .parent = 7,
		     .name = "a.conf",
		     .newparent = 9,
		     .newname = "b.conf",
		     .noreplace = true,
		     .writer = 3,
		     .time = 1234};
	g_autoptr(GVariant) v = g_variant_ref_sink(fsop_to_variant(&op));
	fsop_t back;

	g_assert_true(fsop_from_variant(v, &back));
	g_assert_cmpint(back.kind, ==, FSOP_RENAME);
	g_assert_cmpuint(back.parent, ==, 7);
	g_assert_cmpstr(back.name, ==, "a.conf");
	g_assert_cmpuint(back.newparent, ==, 9);
	g_assert_cmpstr(back.newname, ==, "b.conf");
	g_assert_true(back.noreplace);
	g_assert_cmpuint(back.writer, ==, 3);
	g_assert_cmpuint(back.time, ==, 1234);
	g_assert_cmpuint(back.lock_version, ==, 0);

	fsop_t mk = {.kind = FSOP_MKDIR,
		     .parent = 4,
		     .name = "vm-100",
		     .writer = 2,
		     .time = 99,
		     .lock_version = 0x0123456789abcdefULL};
	g_autoptr(GVariant) mv = g_variant_ref_sink(fsop_to_variant(&mk));
	g_assert_true(fsop_from_variant(mv, &back));
	g_assert_cmpint(back.kind, ==, FSOP_MKDIR);
	g_assert_cmpuint(back.parent, ==, 4);
	g_assert_cmpstr(back.name, ==, "vm-100");
	g_assert_cmpuint(back.lock_version, ==, 0x0123456789abcdefULL);
	fsop_t ut = {.kind = FSOP_SET_MTIME, .inode = 8, .mtime = 0, .lock_version = UINT64_MAX};
	g_autoptr(GVariant) uv = g_variant_ref_sink(fsop_to_variant(&ut));
	g_assert_true(fsop_from_variant(uv, &back));
	g_assert_cmpint(back.kind, ==, FSOP_SET_MTIME);
	g_assert_cmpuint(back.inode, ==, 8);
	g_assert_cmpuint(back.lock_version, ==, UINT64_MAX);

	fsop_t w = {.kind = FSOP_WRITE, .inode = 5, .offset = 10, .data = "abc", .len = 3};
	g_autoptr(GVariant) wv = g_variant_ref_sink(fsop_to_variant(&w));
	g_assert_true(fsop_from_variant(wv, &back));
	g_assert_cmpuint(back.len, ==, 3);
	g_assert_cmpmem(back.data, back.len, "abc", 3);
	g_assert_cmpuint(back.offset, ==, 10);
}

static void test_fsop_refuses_garbage(void)
{
	fsop_t op;
	g_autoptr(GVariant) wrong = g_variant_ref_sink(g_variant_new("(u)", 1u));
	g_assert_false(fsop_from_variant(wrong, &op));

	fsop_t bad = {.kind = FSOP_CREATE, .name = "x"};
	g_autoptr(GVariant) v = g_variant_ref_sink(fsop_to_variant(&bad));
	/* Same shape, unknown kind. */
	gsize nkids = g_variant_n_children(v);
	GVariant *kids[nkids];
	for (gsize i = 0; i < nkids; i++)
		kids[i] = g_variant_get_child_value(v, i);
	g_variant_unref(kids[0]);
	kids[0] = g_variant_new_uint32(99);
	g_autoptr(GVariant) odd = g_variant_ref_sink(g_variant_new_tuple(kids, nkids));
	for (gsize i = 1; i < nkids; i++)
		g_variant_unref(kids[i]);
	g_assert_false(fsop_from_variant(odd, &op));

	/* Random bytes read as the wire type decode to defaults or fail,
	 * never crash. */
	guint8 noise[97];
	for (gsize i = 0; i < sizeof(noise); i++)
		noise[i] = (guint8)(i * 37 + 11);
	g_autoptr(GVariant) n = g_variant_ref_sink(g_variant_new_from_data(
	    G_VARIANT_TYPE(FSOP_VARIANT_TYPE), noise, sizeof(noise), FALSE, NULL, NULL));
	(void)fsop_from_variant(n, &op);
}

static void test_fsop_apply_matches_memdb(fx_t *fx, gconstpointer data)
{
	memdb_attr_t a;
	fsop_t mk = {
	    .kind = FSOP_MKDIR, .parent = MEMDB_ROOT_INODE, .name = "d", .writer = 1, .time = 10};

	g_assert_cmpint(fsop_apply(fx->a, &mk, &a), ==, 0);
	g_assert_cmpint(a.type, ==, MEMDB_DIR);
	g_assert_cmpint(fsop_apply(fx->a, &mk, NULL), ==, -EEXIST);
	fsop_t cr = {.kind = FSOP_CREATE, .parent = a.inode, .name = "f", .writer = 1, .time = 11};
	memdb_attr_t f;
	g_assert_cmpint(fsop_apply(fx->a, &cr, &f), ==, 0);
	fsop_t wr = {.kind = FSOP_WRITE,
		     .inode = f.inode,
		     .data = "12345",
		     .len = 5,
		     .writer = 1,
		     .time = 12};
	g_assert_cmpint(fsop_apply(fx->a, &wr, NULL), ==, 5);
	fsop_t tr = {.kind = FSOP_TRUNCATE, .inode = f.inode, .size = 2, .writer = 1, .time = 13};
	g_assert_cmpint(fsop_apply(fx->a, &tr, NULL), ==, 0);
	size_t len;
	g_autofree char *c = memdb_read_path(fx->a, "d/f", &len);
	g_assert_cmpstr(c, ==, "12");
	fsop_t sd = {.kind = FSOP_SET_DATA,
		     .inode = f.inode,
		     .data = "xyz",
		     .len = 3,
		     .writer = 2,
		     .time = 14};
	g_autoptr(GVariant) sv = g_variant_ref_sink(fsop_to_variant(&sd));
	fsop_t back;
	g_assert_true(fsop_from_variant(sv, &back));
	g_assert_cmpint(back.kind, ==, FSOP_SET_DATA);
	g_assert_cmpint(fsop_apply(fx->a, &back, NULL), ==, 3);
	g_autofree char *c2 = memdb_read_path(fx->a, "d/f", &len);
	g_assert_cmpstr(c2, ==, "xyz");
	g_assert_cmpstr(fsop_name(FSOP_SET_DATA), ==, "set-data");
	fsop_t bad = {.kind = (fsop_kind_t)0};
	g_assert_cmpint(fsop_apply(fx->a, &bad, NULL), ==, -EINVAL);
}

/* Applied by every member: whether a node other than the holder may take
 * or release a lock depends on the lock version in the op alone, never on
 * the op's time or on the member's own clock. */
static void test_fsop_lock_version_decides(fx_t *fx, gconstpointer data)
{
	memdb_t *members[] = {fx->a, fx->b};
	uint64_t lock = 0, locks = 0;
	uint32_t ahead = 4000000000u;

	fill(fx->a);
	g_autoptr(GVariant) dump = memdb_dump(fx->a);
	g_assert_true(memdb_replace(fx->b, dump, NULL));
	for (size_t i = 0; i < G_N_ELEMENTS(members); i++) {
		memdb_t *m = members[i];
		memdb_attr_t l, a;
		g_assert_cmpint(memdb_lookup_path(m, "priv/lock", &l), ==, 0);
		locks = l.inode;
		fsop_t mk = {.kind = FSOP_MKDIR,
			     .parent = locks,
			     .name = "vm-100",
			     .writer = 1,
			     .time = 2000};
		g_assert_cmpint(fsop_apply(m, &mk, &a), ==, 0);
		lock = a.inode;
		/* Node 2's clock far ahead, without a version: refused. */
		fsop_t take = {.kind = FSOP_MKDIR,
			       .parent = locks,
			       .name = "vm-100",
			       .writer = 2,
			       .time = ahead};
		g_assert_cmpint(fsop_apply(m, &take, NULL), ==, -EEXIST);
		fsop_t release = {
		    .kind = FSOP_SET_MTIME, .inode = lock, .writer = 2, .time = ahead};
		g_assert_cmpint(fsop_apply(m, &release, NULL), ==, -EACCES);
		/* With the version node 2 saw expire: taken, at once. */
		take.lock_version = a.version;
		g_assert_cmpint(fsop_apply(m, &take, &a), ==, 0);
		g_assert_cmpuint(a.writer, ==, 2);
		/* Node 1 asking with the version it saw is too late now. */
		fsop_t back = {.kind = FSOP_SET_MTIME,
			       .inode = lock,
			       .writer = 1,
			       .time = 2001,
			       .lock_version = take.lock_version};
		g_assert_cmpint(fsop_apply(m, &back, NULL), ==, -EACCES);
	}
	assert_same(fx->a, fx->b);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(path, fn) g_test_add(path, fx_t, NULL, fx_setup, fn, fx_teardown)
	ADD("/transfer/replace/copies-everything", test_replace_copies_everything);
	ADD("/transfer/replace/persists", test_replace_persists);
	ADD("/transfer/replace/keeps-meta", test_meta_survives_replace);
	ADD("/transfer/refuses/wrong-type", test_replace_refuses_wrong_type);
	for (size_t i = 0; i < G_N_ELEMENTS(bad_dumps); i++)
		g_test_add(bad_dumps[i].path, fx_t, &bad_dumps[i], fx_setup, test_replace_refuses,
			   fx_teardown);
	ADD("/fsop/apply", test_fsop_apply_matches_memdb);
	ADD("/fsop/lock-version-decides", test_fsop_lock_version_decides);
	g_test_add_func("/fsop/round-trip", test_fsop_round_trip);
	g_test_add_func("/fsop/refuses-garbage", test_fsop_refuses_garbage);
	return g_test_run();
}
