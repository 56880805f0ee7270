/* Unit tests for the incremental transfer of the configuration tree
 * (memdb_diff, memdb_apply_diff in include/memdb.h): trees kept equal by
 * diffs alone through random changes, the bounds of the removal record,
 * diffs that do not fit or are broken (refused, nothing changed in memory
 * or on disk), a store that fails, what a diff does to held files and
 * locks, and its size on a large tree. Each test works in its own
 * temporary directory, removed at the end. */
#include "memdb.h"
#include "dbstore.h"
#include "log.h"

#include <errno.h>
#include <sqlite3.h>
#include <string.h>
#include "unit_util.h"

#define W1 1u
#define W2 2u
#define T0 1000u

#define SEC G_USEC_PER_SEC
#define LEASE ((int64_t)MEMDB_LOCK_TIMEOUT * SEC)

static int64_t clock_now;

static int64_t test_clock(void)
{
	return clock_now;
}

/* ---- fixture: a directory for several stores ---- */

typedef struct {
	char *dir;
} fx_t;

/* In memory (tmpfs) where there is one: the random test makes thousands
 * of transactions, and opens and closes stores. */
static void fx_setup(fx_t *fx, gconstpointer data)
{
	const char *base = g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" : NULL;
	g_autofree char *tmpl =
	    g_build_filename(base ? base : g_get_tmp_dir(), "test_memdb_diff-XXXXXX", NULL);

	fx->dir = g_mkdtemp(g_steal_pointer(&tmpl));
	g_assert_nonnull(fx->dir);
	clock_now = 1000 * SEC;
}

static void fx_teardown(fx_t *fx, gconstpointer data)
{
	unit_rm_tree(fx->dir);
	g_assert_false(g_file_test(fx->dir, G_FILE_TEST_EXISTS));
	g_free(fx->dir);
}

static char *db_path(fx_t *fx, const char *name)
{
	return g_build_filename(fx->dir, name, NULL);
}

static memdb_t *open_opts(fx_t *fx, const char *name, const memdb_limits_t *limits,
			  uint32_t max_tombs)
{
	g_autofree char *path = db_path(fx, name);
	memdb_options_t opts = {.limits = limits ? *limits : (memdb_limits_t)MEMDB_LIMITS_DEFAULT,
				.clock = test_clock,
				.max_tombs = max_tombs};
	GError *err = NULL;
	memdb_t *m = memdb_open_opts(path, &opts, &err);

	g_assert_no_error(err);
	g_assert_nonnull(m);
	return m;
}

static memdb_t *open_db(fx_t *fx, const char *name)
{
	return open_opts(fx, name, NULL, 0);
}

/* ---- path helpers ---- */

static uint64_t ino_of(memdb_t *m, const char *path)
{
	memdb_attr_t a;

	return memdb_lookup_path(m, path, &a) == 0 ? a.inode : 0;
}

static uint64_t split(memdb_t *m, const char *path, char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*base = g_strdup(path);
		return MEMDB_ROOT_INODE;
	}
	*base = g_strdup(slash + 1);
	g_autofree char *dir = g_strndup(path, (gsize)(slash - path));
	return ino_of(m, dir);
}

static int mkdir_at(memdb_t *m, const char *path)
{
	g_autofree char *base = NULL;
	uint64_t parent = split(m, path, &base);

	return memdb_mkdir(m, parent, base, W1, T0, NULL);
}

static void put_file(memdb_t *m, const char *path, const char *content)
{
	g_autofree char *base = NULL;
	uint64_t parent = split(m, path, &base);
	memdb_attr_t a;

	if (memdb_lookup(m, parent, base, &a) < 0)
		g_assert_cmpint(memdb_create(m, parent, base, W1, T0, &a), ==, 0);
	g_assert_cmpint(memdb_set_data(m, a.inode, content, strlen(content), W1, T0), ==,
			(int)strlen(content));
}

static int unlink_at(memdb_t *m, const char *path)
{
	g_autofree char *base = NULL;
	uint64_t parent = split(m, path, &base);

	return memdb_unlink(m, parent, base, W1, T0);
}

static int rename_at(memdb_t *m, const char *from, const char *to)
{
	g_autofree char *b1 = NULL, *b2 = NULL;
	uint64_t p1 = split(m, from, &b1), p2 = split(m, to, &b2);

	return memdb_rename(m, p1, b1, p2, b2, false, W1, T0);
}

/* ---- comparing trees ---- */

/* Both built by memdb_dump, so in normal form: equal values are equal
 * bytes (g_variant_equal would print both when it cannot tell). */
static bool same_value(GVariant *x, GVariant *y)
{
	return g_variant_get_size(x) == g_variant_get_size(y) &&
	       memcmp(g_variant_get_data(x), g_variant_get_data(y), g_variant_get_size(x)) == 0;
}

static void assert_same_tree(memdb_t *x, memdb_t *y)
{
	uint8_t sx[32], sy[32];
	g_autoptr(GVariant) dx = memdb_dump(x);
	g_autoptr(GVariant) dy = memdb_dump(y);

	memdb_checksum(x, sx);
	memdb_checksum(y, sy);
	g_assert_true(memcmp(sx, sy, 32) == 0);
	g_assert_true(same_value(dx, dy));
	memdb_usage_t ux, uy;
	memdb_usage(x, &ux);
	memdb_usage(y, &uy);
	g_assert_cmpuint(ux.inodes, ==, uy.inodes);
	g_assert_cmpuint(ux.bytes, ==, uy.bytes);
}

/* What the store holds is what memory holds. */
static void assert_store_matches(fx_t *fx, memdb_t **m, const char *name)
{
	g_autoptr(GVariant) before = memdb_dump(*m);
	memdb_limits_t limits;

	memdb_get_limits(*m, &limits);
	memdb_free(*m);
	*m = open_opts(fx, name, &limits, 0);
	g_autoptr(GVariant) after = memdb_dump(*m);
	g_assert_true(same_value(before, after));
}

static void copy_tree(memdb_t *from, memdb_t *to)
{
	g_autoptr(GVariant) d = memdb_dump(from);
	GError *err = NULL;

	g_assert_true(memdb_replace(to, d, &err));
	g_assert_no_error(err);
}

/* Brings to up to from by a diff; false if from cannot make one. */
static bool sync_by_diff(memdb_t *from, memdb_t *to)
{
	g_autoptr(GVariant) d = memdb_diff(from, memdb_version(to));
	uint8_t sum[32];
	GError *err = NULL;

	if (!d)
		return false;
	memdb_checksum(from, sum);
	g_assert_true(memdb_apply_diff(to, d, sum, &err));
	g_assert_no_error(err);
	return true;
}

/* The diff is refused with code and neither memory nor store changed. */
static void assert_refused(fx_t *fx, memdb_t **m, const char *name, GVariant *diff,
			   const uint8_t sum[32], int code)
{
	g_autoptr(GVariant) before = memdb_dump(*m);
	uint8_t zero[32] = {0};
	GError *err = NULL;
	uint64_t gen = memdb_generation(*m);

	g_variant_ref_sink(diff);
	g_assert_false(memdb_apply_diff(*m, diff, sum ? sum : zero, &err));
	g_assert_error(err, DBSTORE_ERROR, code);
	if (err)
		g_test_message("refused as expected: %s", err->message);
	g_clear_error(&err);
	g_variant_unref(diff);
	g_autoptr(GVariant) after = memdb_dump(*m);
	g_assert_true(same_value(before, after));
	g_assert_cmpuint(memdb_generation(*m), ==, gen);
	assert_store_matches(fx, m, name);
}

/* ---- random changes ---- */

static const char *const names[] = {"a", "b", "c", "d", "e", "f.conf", "100.conf"};

typedef struct {
	GArray *dirs;  /* inode numbers */
	GArray *files; /* inode numbers */
} pick_t;

static void pick_init(memdb_t *m, pick_t *p)
{
	g_autoptr(GArray) all = memdb_inodes(m);

	p->dirs = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	p->files = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	for (guint i = 0; i < all->len; i++) {
		uint64_t ino = g_array_index(all, uint64_t, i);
		memdb_attr_t a;
		g_assert_cmpint(memdb_getattr(m, ino, &a), ==, 0);
		g_array_append_val(a.type == MEMDB_DIR ? p->dirs : p->files, ino);
	}
}

static gint by_u64(gconstpointer a, gconstpointer b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t pick(GRand *r, GArray *a)
{
	return a->len ? g_array_index(a, uint64_t, g_rand_int_range(r, 0, (gint32)a->len)) : 0;
}

/* The name of ino in its parent directory (owned by the caller). */
static char *name_of(memdb_t *m, uint64_t ino, uint64_t *parent)
{
	GPtrArray *ents = NULL;
	char *name = NULL;
	memdb_attr_t a;

	g_assert_cmpint(memdb_getattr(m, ino, &a), ==, 0);
	*parent = a.parent;
	g_assert_cmpint(memdb_readdir(m, a.parent, &ents), ==, 0);
	for (guint i = 0; i < ents->len; i++) {
		memdb_dirent_t *d = ents->pdata[i];
		if (d->inode == ino)
			name = g_strdup(d->name);
	}
	memdb_dirents_free(ents);
	g_assert_nonnull(name);
	return name;
}

/* One random change; many fail (a name taken, a directory not empty):
 * those change nothing, which is fine too. */
static void random_change(memdb_t *m, GRand *r)
{
	pick_t p;
	uint8_t buf[600];
	uint32_t mtime = T0 + (uint32_t)g_rand_int_range(r, 0, 100);
	uint32_t writer = g_rand_boolean(r) ? W1 : W2;
	uint64_t parent, dir, file, locks = ino_of(m, "priv/lock");
	const char *name = names[g_rand_int_range(r, 0, G_N_ELEMENTS(names))];

	pick_init(m, &p);
	g_array_sort(p.dirs, by_u64);
	g_array_sort(p.files, by_u64);
	dir = pick(r, p.dirs);
	file = pick(r, p.files);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)g_rand_int(r);
	switch (g_rand_int_range(r, 0, 12)) {
	case 0:
	case 1:
		memdb_create(m, dir, name, writer, mtime, NULL);
		break;
	case 2:
		if (file)
			memdb_write(m, file, (uint64_t)g_rand_int_range(r, 0, 300), buf,
				    (size_t)g_rand_int_range(r, 1, sizeof(buf)), writer, mtime);
		break;
	case 3:
		if (file)
			memdb_truncate(m, file, (uint64_t)g_rand_int_range(r, 0, 400), writer,
				       mtime);
		break;
	case 4:
		if (file)
			memdb_set_data(m, file, buf, (size_t)g_rand_int_range(r, 0, 200), writer,
				       mtime);
		break;
	case 5:
		if (file) {
			g_autofree char *old = name_of(m, file, &parent);
			memdb_unlink(m, parent, old, writer, mtime);
		}
		break;
	case 6:
		memdb_mkdir(m, dir, name, writer, mtime, NULL);
		break;
	case 7:
		if (dir != MEMDB_ROOT_INODE) {
			g_autofree char *old = name_of(m, dir, &parent);
			memdb_rmdir(m, parent, old, writer, mtime);
		}
		break;
	case 8:
	case 9: {
		/* Files over files, directories into other parents, onto empty
		 * directories, below themselves (refused). */
		uint64_t what = g_rand_boolean(r) ? file : dir;
		if (what && what != MEMDB_ROOT_INODE) {
			g_autofree char *old = name_of(m, what, &parent);
			memdb_rename(m, parent, old, pick(r, p.dirs), name, false, writer, mtime);
		}
		break;
	}
	case 10:
		if (locks)
			memdb_mkdir(m, locks, name, writer, mtime, NULL);
		break;
	case 11: {
		uint64_t what = g_rand_boolean(r) ? file : dir;
		/* On a lock: a renewal, or with 0 its release by the holder. */
		if (what)
			memdb_set_mtime(m, what, g_rand_boolean(r) ? 0 : mtime, writer, mtime);
		break;
	}
	}
	g_array_free(p.dirs, TRUE);
	g_array_free(p.files, TRUE);
}

/* ---- tests ---- */

/* Three trees kept equal by diffs alone through random changes: changes
 * land on A or B, the other follows by a diff each round, and C follows
 * only now and then from either, across several rounds (and so across
 * diffs its sender itself applied). Stores are checked against memory
 * along the way. DIFF_SEED picks another seed; a failure prints it. */
static void test_random(fx_t *fx, gconstpointer data)
{
	const char *env = g_getenv("DIFF_SEED");
	guint32 seed = env ? (guint32)g_ascii_strtoull(env, NULL, 10) : 20240611u;
	memdb_t *t[3] = {open_db(fx, "a.db"), open_db(fx, "b.db"), open_db(fx, "c.db")};
	const char *tn[3] = {"a.db", "b.db", "c.db"};
	enum { ROUNDS = 250 };
	g_autoptr(GRand) r = g_rand_new_with_seed(seed);

	g_assert_cmpint(memdb_ensure_layout(t[0], "n1", W1, T0), ==, 0);
	for (int i = 0; i < 20; i++)
		random_change(t[0], r);
	copy_tree(t[0], t[1]);
	copy_tree(t[0], t[2]);
	for (int round = 0; round < ROUNDS && !g_test_failed(); round++) {
		int w = g_rand_int_range(r, 0, 2), n = g_rand_int_range(r, 0, 25);
		for (int i = 0; i < n; i++)
			random_change(t[w], r);
		g_assert_true(sync_by_diff(t[w], t[1 - w]));
		assert_same_tree(t[w], t[1 - w]);
		if (g_rand_int_range(r, 0, 4) == 0) {
			int from = g_rand_int_range(r, 0, 2);
			g_assert_true(sync_by_diff(t[from], t[2]));
			assert_same_tree(t[from], t[2]);
		}
		if (round % 25 == 0) {
			int k = g_rand_int_range(r, 0, 3);
			assert_store_matches(fx, &t[k], tn[k]);
			/* A reopened tree knows no removals before now. */
			g_assert_cmpuint(memdb_tomb_base(t[k]), ==, memdb_version(t[k]));
			if (k == 2)
				continue;
			/* And serves no diff from before; the other one does. */
			copy_tree(t[1 - k], t[2]);
		}
		if (g_test_failed())
			g_printerr("# test_random failed in round %d with DIFF_SEED=%u\n", round,
				   seed);
	}
	for (int i = 0; i < 3; i++)
		memdb_free(t[i]);
}

/* A diff exists for exactly the versions from the tomb base to now; the
 * base is the version at open and after a replacement. */
static void test_bounds(fx_t *fx, gconstpointer data)
{
	memdb_t *a = open_db(fx, "a.db"), *b = open_db(fx, "b.db");
	uint8_t sum[32];
	GError *err = NULL;

	put_file(a, "f", "one");
	uint64_t v0 = memdb_version(a);
	g_assert_cmpuint(memdb_tomb_base(a), ==, 1);
	put_file(a, "g", "two");
	g_assert_cmpint(unlink_at(a, "f"), ==, 0);
	uint64_t v = memdb_version(a);
	g_assert_null(memdb_diff(a, v + 1));
	g_assert_null(memdb_diff(a, 0));
	g_autoptr(GVariant) d = memdb_diff(a, v0);
	g_assert_nonnull(d);
	g_assert_true(g_variant_is_of_type(d, G_VARIANT_TYPE(MEMDB_DIFF_TYPE)));
	guint64 dv, ds;
	g_autoptr(GVariant) rows = NULL, gone = NULL;
	g_variant_get(d, "(tt@a(tttuuysay)@at)", &dv, &ds, &rows, &gone);
	g_assert_cmpuint(dv, ==, v);
	g_assert_cmpuint(ds, ==, v0);
	/* g and the root (f's parent); f removed. */
	g_assert_cmpuint(g_variant_n_children(rows), ==, 2);
	g_assert_cmpuint(g_variant_n_children(gone), ==, 1);

	/* Nothing since now: an empty diff that applies. */
	copy_tree(a, b);
	g_autoptr(GVariant) none = memdb_diff(a, v);
	g_assert_nonnull(none);
	memdb_checksum(a, sum);
	g_assert_true(memdb_apply_diff(b, none, sum, &err));
	g_assert_no_error(err);
	assert_same_tree(a, b);

	/* Reopened: the record starts again. */
	memdb_free(a);
	a = open_db(fx, "a.db");
	g_assert_cmpuint(memdb_tomb_base(a), ==, v);
	g_assert_null(memdb_diff(a, v0));
	g_autoptr(GVariant) again = memdb_diff(a, v);
	g_assert_nonnull(again);

	/* Replaced by an older tree: the base is that tree's version. */
	memdb_t *c = open_db(fx, "c.db");
	put_file(c, "x", "x");
	copy_tree(c, a);
	g_assert_cmpuint(memdb_tomb_base(a), ==, memdb_version(c));
	g_assert_null(memdb_diff(a, v));
	memdb_free(a);
	memdb_free(b);
	memdb_free(c);
}

/* With room for 3 removals, a fourth drops the first and the base rises
 * to the version that removed it; diffs from below the base are no
 * longer made, from the base on they still bring a tree up to date. */
static void test_tomb_trim(fx_t *fx, gconstpointer data)
{
	memdb_t *a = open_opts(fx, "a.db", NULL, 3), *b = open_db(fx, "b.db");
	uint64_t removed[5], opened = memdb_version(a);
	char name[8];

	for (int i = 0; i < 5; i++) {
		g_snprintf(name, sizeof(name), "f%d", i);
		put_file(a, name, "x");
	}
	uint64_t start = memdb_version(a);
	for (int i = 0; i < 5; i++) {
		g_snprintf(name, sizeof(name), "f%d", i);
		g_assert_cmpint(unlink_at(a, name), ==, 0);
		removed[i] = memdb_version(a);
		g_assert_cmpuint(memdb_tomb_base(a), ==, i < 3 ? opened : removed[i - 3]);
		if (i == 1)
			copy_tree(a, b);
	}
	g_assert_null(memdb_diff(a, start));
	g_assert_null(memdb_diff(a, removed[1] - 1));
	g_autoptr(GVariant) d = memdb_diff(a, removed[1]);
	g_assert_nonnull(d);
	g_autoptr(GVariant) gone = g_variant_get_child_value(d, 3);
	g_assert_cmpuint(g_variant_n_children(gone), ==, 3);
	g_assert_true(sync_by_diff(a, b));
	assert_same_tree(a, b);
	memdb_free(a);
	memdb_free(b);
}

/* A tree that made a change of its own is not the tree the diff was made
 * from: refused (ESTALE), by version or by checksum, nothing changed. */
static void test_diverged(fx_t *fx, gconstpointer data)
{
	memdb_t *a = open_db(fx, "a.db"), *b = open_db(fx, "b.db");
	uint8_t sum[32];

	put_file(a, "f", "base");
	g_assert_cmpint(mkdir_at(a, "d"), ==, 0);
	copy_tree(a, b);
	uint64_t v = memdb_version(a);
	put_file(a, "f", "a's");
	put_file(a, "g", "a's");
	put_file(b, "f", "b's");
	memdb_checksum(a, sum);

	/* From where b was: b has moved on. */
	assert_refused(fx, &b, "b.db", memdb_diff(a, v), sum, ESTALE);
	/* From b's version: the same number, another tree. */
	assert_refused(fx, &b, "b.db", memdb_diff(a, memdb_version(b)), sum, ESTALE);
	/* The right diff with a checksum that is not the sender's. */
	memdb_t *c = open_db(fx, "c.db");
	copy_tree(a, c);
	put_file(c, "h", "c's");
	g_autoptr(GVariant) good = memdb_diff(c, memdb_version(a));
	uint8_t wrong[32];
	memcpy(wrong, sum, 32);
	wrong[0] ^= 1;
	memdb_t *a2 = open_db(fx, "a2.db");
	copy_tree(a, a2);
	assert_refused(fx, &a2, "a2.db", g_variant_ref(good), wrong, ESTALE);
	/* And then the right checksum takes. */
	g_assert_true(sync_by_diff(c, a2));
	assert_same_tree(c, a2);
	memdb_free(a);
	memdb_free(a2);
	memdb_free(b);
	memdb_free(c);
}

/* ---- hand-made diffs against a small tree ---- */

typedef struct {
	GVariantBuilder rows;
	GVariantBuilder gone;
} mk_t;

static void mk_init(mk_t *k)
{
	g_variant_builder_init(&k->rows, G_VARIANT_TYPE("a(tttuuysay)"));
	g_variant_builder_init(&k->gone, G_VARIANT_TYPE("at"));
}

static void mk_row(mk_t *k, uint64_t ino, uint64_t parent, uint64_t version, memdb_type_t type,
		   const char *name, const void *data, size_t len)
{
	GVariant *d = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, len, 1);

	g_variant_builder_add(&k->rows, "(tttuuys@ay)", ino, parent, version, W1, T0, (guchar)type,
			      name, d);
}

static GVariant *mk_end(mk_t *k, uint64_t version, uint64_t since)
{
	return g_variant_new("(tt@a(tttuuysay)@at)", version, since,
			     g_variant_builder_end(&k->rows), g_variant_builder_end(&k->gone));
}

/* Diffs that are not valid, or whose result is no valid tree, are refused
 * before anything changes, with the reason. */
static void test_broken(fx_t *fx, gconstpointer data)
{
	memdb_limits_t small = {.max_file_size = 16, .max_fs_size = 64, .max_inodes = 8};
	memdb_t *b = open_opts(fx, "b.db", &small, 0);
	mk_t k;

	g_assert_cmpint(mkdir_at(b, "d"), ==, 0);
	g_assert_cmpint(mkdir_at(b, "d/e"), ==, 0);
	put_file(b, "f", "x");
	uint64_t v = memdb_version(b), d = ino_of(b, "d"), e = ino_of(b, "d/e"), f = ino_of(b, "f");
	uint64_t n = v + 1;
	char big[17] = {0};

	assert_refused(fx, &b, "b.db", memdb_dump(b), NULL, EPROTO);
	/* d moved below its own child. */
	mk_init(&k);
	mk_row(&k, d, e, n, MEMDB_DIR, "d", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EINVAL);
	/* A new file under a name that is taken. */
	mk_init(&k);
	mk_row(&k, n, MEMDB_ROOT_INODE, n, MEMDB_REG, "f", "y", 1);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EINVAL);
	/* Below a file, below nothing, below itself. */
	mk_init(&k);
	mk_row(&k, n, f, n, MEMDB_REG, "g", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EINVAL);
	mk_init(&k);
	mk_row(&k, n, 999, n, MEMDB_REG, "g", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EINVAL);
	mk_init(&k);
	mk_row(&k, n, n, n, MEMDB_DIR, "g", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EINVAL);
	/* d removed, e left in it. */
	mk_init(&k);
	g_variant_builder_add(&k.gone, "t", d);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EINVAL);
	/* d turned into a file with e in it. */
	mk_init(&k);
	mk_row(&k, d, MEMDB_ROOT_INODE, n, MEMDB_REG, "d", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EINVAL);
	/* The root removed, or made a file. */
	mk_init(&k);
	g_variant_builder_add(&k.gone, "t", (guint64)MEMDB_ROOT_INODE);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EPROTO);
	mk_init(&k);
	mk_row(&k, MEMDB_ROOT_INODE, 0, n, MEMDB_REG, "", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EINVAL);
	/* Rows out of order, twice, removed and changed at once. */
	mk_init(&k);
	mk_row(&k, f, MEMDB_ROOT_INODE, n, MEMDB_REG, "f", NULL, 0);
	mk_row(&k, d, MEMDB_ROOT_INODE, n, MEMDB_DIR, "d", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EPROTO);
	mk_init(&k);
	mk_row(&k, f, MEMDB_ROOT_INODE, n, MEMDB_REG, "f", NULL, 0);
	mk_row(&k, f, MEMDB_ROOT_INODE, n, MEMDB_REG, "f", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EPROTO);
	mk_init(&k);
	mk_row(&k, f, MEMDB_ROOT_INODE, n, MEMDB_REG, "f", NULL, 0);
	g_variant_builder_add(&k.gone, "t", f);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EPROTO);
	/* Newer than the diff, an unknown type, a bad name, a version that
	 * goes back. */
	mk_init(&k);
	mk_row(&k, n + 5, MEMDB_ROOT_INODE, n, MEMDB_REG, "g", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EPROTO);
	mk_init(&k);
	mk_row(&k, n, MEMDB_ROOT_INODE, n, 7, "g", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EPROTO);
	mk_init(&k);
	mk_row(&k, n, MEMDB_ROOT_INODE, n, MEMDB_REG, "a/b", NULL, 0);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EINVAL);
	mk_init(&k);
	assert_refused(fx, &b, "b.db", mk_end(&k, v - 1, v), NULL, EPROTO);
	mk_init(&k);
	mk_row(&k, d, MEMDB_ROOT_INODE, n, MEMDB_DIR, "d", "x", 1);
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EPROTO);
	/* Past the limits: a file, the inodes, the bytes. */
	mk_init(&k);
	mk_row(&k, f, MEMDB_ROOT_INODE, n, MEMDB_REG, "f", big, sizeof(big));
	assert_refused(fx, &b, "b.db", mk_end(&k, n, v), NULL, EFBIG);
	mk_init(&k);
	for (uint64_t i = 0; i < 6; i++) {
		g_autofree char *name = g_strdup_printf("n%llu", (unsigned long long)i);
		mk_row(&k, n + i, MEMDB_ROOT_INODE, n + 5, MEMDB_REG, name, NULL, 0);
	}
	assert_refused(fx, &b, "b.db", mk_end(&k, n + 5, v), NULL, ENOSPC);
	mk_init(&k);
	for (uint64_t i = 0; i < 4; i++) {
		g_autofree char *name = g_strdup_printf("n%llu", (unsigned long long)i);
		mk_row(&k, n + i, MEMDB_ROOT_INODE, n + 3, MEMDB_REG, name, big, 16);
	}
	assert_refused(fx, &b, "b.db", mk_end(&k, n + 3, v), NULL, ENOSPC);
	memdb_free(b);
}

/* Directories nest no deeper through a diff than through mkdir. */
static void test_depth(fx_t *fx, gconstpointer data)
{
	memdb_t *b = open_db(fx, "b.db");
	uint64_t v = memdb_version(b), parent = MEMDB_ROOT_INODE;
	uint64_t top = v + MEMDB_MAX_DEPTH + 1;
	mk_t k;

	mk_init(&k);
	/* The root's row first: the rows go in inode order. */
	mk_row(&k, MEMDB_ROOT_INODE, 0, top, MEMDB_DIR, "", NULL, 0);
	for (uint64_t i = 1; i <= MEMDB_MAX_DEPTH + 1; i++) {
		mk_row(&k, v + i, parent, top, MEMDB_DIR, "d", NULL, 0);
		parent = v + i;
	}
	assert_refused(fx, &b, "b.db", mk_end(&k, top, v), NULL, EMLINK);
	memdb_free(b);
}

/* A store that fails mid-way (here a trigger refuses one row): EIO, the
 * transaction rolled back, memory as before; the same diff applies once
 * the store works. */
static void test_store_failure(fx_t *fx, gconstpointer data)
{
	memdb_t *a = open_db(fx, "a.db"), *b = open_db(fx, "b.db");
	g_autofree char *bpath = db_path(fx, "b.db");
	sqlite3 *raw = NULL;
	uint8_t sum[32];

	put_file(a, "f", "x");
	copy_tree(a, b);
	memdb_free(b);
	g_assert_cmpint(sqlite3_open(bpath, &raw), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(raw,
				     "CREATE TRIGGER poison BEFORE INSERT ON tree WHEN "
				     "NEW.name = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned'); "
				     "END",
				     NULL, NULL, NULL),
			==, SQLITE_OK);
	sqlite3_close(raw);
	b = open_db(fx, "b.db");
	uint64_t v = memdb_version(b);
	put_file(a, "f", "changed");
	put_file(a, "poison", "y");
	memdb_checksum(a, sum);
	assert_refused(fx, &b, "b.db", memdb_diff(a, v), sum, EIO);

	g_assert_cmpint(sqlite3_open(bpath, &raw), ==, SQLITE_OK);
	memdb_free(b);
	g_assert_cmpint(sqlite3_exec(raw, "DROP TRIGGER poison", NULL, NULL, NULL), ==, SQLITE_OK);
	sqlite3_close(raw);
	b = open_db(fx, "b.db");
	g_assert_true(sync_by_diff(a, b));
	assert_same_tree(a, b);
	assert_store_matches(fx, &b, "b.db");
	memdb_free(a);
	memdb_free(b);
}

/* After a diff, as after a whole tree: the generation moves on, a held
 * file the diff removed is an orphan, a lock the diff changed is first
 * seen now while one it did not touch keeps its time. */
static void test_bookkeeping(fx_t *fx, gconstpointer data)
{
	memdb_t *a = open_db(fx, "a.db"), *b = open_db(fx, "b.db");
	memdb_attr_t attr;
	char buf[8] = {0};

	g_assert_cmpint(memdb_ensure_layout(a, "n1", W1, T0), ==, 0);
	g_assert_cmpint(mkdir_at(a, "priv/lock/renewed"), ==, 0);
	g_assert_cmpint(mkdir_at(a, "priv/lock/kept"), ==, 0);
	put_file(a, "held", "data");
	put_file(a, "other", "new");
	copy_tree(a, b);
	uint64_t held = ino_of(b, "held"), renewed = ino_of(b, "priv/lock/renewed"),
		 kept = ino_of(b, "priv/lock/kept");
	memdb_hold(b, held);
	uint64_t gen = memdb_generation(b);

	clock_now += LEASE / 2;
	g_assert_cmpint(memdb_set_mtime(a, renewed, T0 + 5, W1, T0 + 5), ==, 0);
	g_assert_cmpint(rename_at(a, "other", "held"), ==, 0);
	g_assert_true(sync_by_diff(a, b));
	g_assert_cmpuint(memdb_generation(b), ==, gen + 1);

	g_autoptr(GArray) orphans = memdb_orphans(b);
	g_assert_cmpuint(orphans->len, ==, 1);
	g_assert_cmpuint(g_array_index(orphans, uint64_t, 0), ==, held);
	g_assert_cmpint(memdb_getattr(b, held, &attr), ==, 0);
	g_assert_true(attr.orphan);
	g_assert_cmpint(memdb_read(b, held, 0, sizeof(buf), buf), ==, 4);
	g_assert_cmpstr(buf, ==, "data");
	memdb_unhold(b, held);
	g_assert_cmpint(memdb_getattr(b, held, &attr), ==, -ENOENT);

	/* kept was seen at the copy, renewed at the diff, half a lease later. */
	clock_now += LEASE / 2 + 1;
	g_assert_cmpuint(memdb_lock_expired_version(b, kept), !=, 0);
	g_assert_cmpuint(memdb_lock_expired_version(b, renewed), ==, 0);
	clock_now += LEASE / 2;
	g_assert_cmpint(memdb_getattr(a, renewed, &attr), ==, 0);
	g_assert_cmpuint(memdb_lock_expired_version(b, renewed), ==, attr.version);
	memdb_free(a);
	memdb_free(b);
}

/* 10,000 files of 1 KiB in 100 directories as one whole tree, built as a
 * dump: one transaction instead of 20,000. */
static GVariant *big_tree(void)
{
	enum { DIRS = 100, FILES = 100 };
	GVariantBuilder b;
	uint8_t data[1024];
	uint64_t ino = MEMDB_ROOT_INODE;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a(tttuuysay)"));
	g_variant_builder_add(&b, "(tttuuys@ay)", ino, (guint64)0, (guint64)1, W1, T0,
			      (guchar)MEMDB_DIR, "",
			      g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, NULL, 0, 1));
	for (int d = 0; d < DIRS; d++) {
		uint64_t dir = ++ino;
		g_autofree char *dn = g_strdup_printf("dir%03d", d);
		g_variant_builder_add(&b, "(tttuuys@ay)", dir, (guint64)MEMDB_ROOT_INODE, dir, W1,
				      T0, (guchar)MEMDB_DIR, dn,
				      g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, NULL, 0, 1));
		for (int f = 0; f < FILES; f++) {
			g_autofree char *fn = g_strdup_printf("%d.conf", 100 + f);
			memset(data, 'a' + (d + f) % 26, sizeof(data));
			ino++;
			g_variant_builder_add(
			    &b, "(tttuuys@ay)", ino, dir, ino, W1, T0, (guchar)MEMDB_REG, fn,
			    g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data, sizeof(data), 1));
		}
	}
	return g_variant_ref_sink(
	    g_variant_new("(t@a(tttuuysay))", ino, g_variant_builder_end(&b)));
}

/* Ten changes to a tree of 10,000 files of 1 KiB: the diff carries about
 * what changed (under ten times the changed bytes plus a fixed 4 KiB),
 * not the tree. Prints its size and the time of applying it beside the
 * time of taking over the whole tree (printed, not asserted). */
static void test_big_tree(fx_t *fx, gconstpointer data)
{
	memdb_t *a = open_db(fx, "a.db"), *b = open_db(fx, "b.db"), *c = open_db(fx, "c.db");
	g_autoptr(GVariant) tree = big_tree();
	uint8_t content[1024], sum[32];
	GError *err = NULL;
	size_t changed = 0;

	g_assert_true(memdb_replace(a, tree, &err));
	g_assert_no_error(err);
	copy_tree(a, b);
	copy_tree(a, c);
	uint64_t since = memdb_version(b);
	memset(content, 'z', sizeof(content));
	for (int i = 0; i < 6; i++) {
		g_autofree char *p = g_strdup_printf("dir%03d/%d.conf", i * 7, 100 + i);
		put_file(a, p, i % 2 ? "short" : (char[]){'z', 0});
		g_assert_cmpint(memdb_set_data(a, ino_of(a, p), content, sizeof(content), W2, T0),
				==, (int)sizeof(content));
		changed += sizeof(content);
	}
	put_file(a, "dir050/new.conf", "a new file");
	changed += strlen("a new file");
	g_assert_cmpint(unlink_at(a, "dir051/100.conf"), ==, 0);
	g_assert_cmpint(rename_at(a, "dir052/101.conf", "dir053/101.conf"), ==, 0);
	g_assert_cmpint(mkdir_at(a, "dir054/sub"), ==, 0);
	changed += 1024; /* the file moved is sent whole */

	g_autoptr(GVariant) diff = memdb_diff(a, since);
	g_autoptr(GVariant) whole = memdb_dump(a);
	gsize dsize = g_variant_get_size(diff), wsize = g_variant_get_size(whole);
	g_assert_cmpuint(dsize, <, 10 * changed + 4096);
	memdb_checksum(a, sum);

	int64_t t0 = g_get_monotonic_time();
	g_assert_true(memdb_apply_diff(b, diff, sum, &err));
	int64_t t1 = g_get_monotonic_time();
	g_assert_true(memdb_replace(c, whole, &err));
	int64_t t2 = g_get_monotonic_time();
	memdb_checksum(b, sum);
	int64_t t3 = g_get_monotonic_time();
	g_assert_no_error(err);
	assert_same_tree(a, b);
	assert_same_tree(a, c);
	assert_store_matches(fx, &b, "b.db");
	/* apply_diff sums the whole result: that part is what the tree's
	 * size costs it. */
	g_printerr("# 10,000 files, 10 changes (%zu bytes changed): diff %zu bytes, whole tree "
		   "%zu bytes; apply_diff %.1f ms (of which a checksum takes %.1f ms), replace "
		   "%.1f ms\n",
		   changed, dsize, wsize, (double)(t1 - t0) / 1000, (double)(t3 - t2) / 1000,
		   (double)(t2 - t1) / 1000);
	memdb_free(a);
	memdb_free(b);
	memdb_free(c);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();
	log_init("test_memdb_diff", false, g_getenv("TEST_VERBOSE") != NULL);

#define ADD(path, fn) g_test_add(path, fx_t, NULL, fx_setup, fn, fx_teardown)
	ADD("/memdb-diff/random-changes-keep-three-trees-equal", test_random);
	ADD("/memdb-diff/bounds-tomb-base-open-replace", test_bounds);
	ADD("/memdb-diff/tomb-record-trimmed-raises-base", test_tomb_trim);
	ADD("/memdb-diff/diverged-tree-refused-unchanged", test_diverged);
	ADD("/memdb-diff/broken-diffs-refused-unchanged", test_broken);
	ADD("/memdb-diff/too-deep-refused", test_depth);
	ADD("/memdb-diff/store-failure-eio-unchanged", test_store_failure);
	ADD("/memdb-diff/generation-orphans-lock-clock", test_bookkeeping);
	ADD("/memdb-diff/big-tree-diff-size", test_big_tree);
#undef ADD
	return g_test_run();
}
