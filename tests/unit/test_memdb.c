/* Unit tests for the configuration tree (include/memdb.h): the tree
 * operations and their errnos, limits, versions, persistence through the
 * SQLite store, the node layout, guest-ID uniqueness, locks below priv/lock/
 * and the checksum. Each test works in its own temporary directory, removed
 * at the end. */
#include "memdb.h"
#include "dbstore.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "unit_util.h"

#define W1 1u /* writer node ids */
#define W2 2u
#define T0 1000u /* a base time for mutations */

/* ---- a monotonic clock the tests move ---- */

#define SEC G_USEC_PER_SEC
/* Longer than a lock's lease, and not longer. */
#define LEASE_PLUS ((int64_t)MEMDB_LOCK_TIMEOUT * SEC + 1)
#define LEASE ((int64_t)MEMDB_LOCK_TIMEOUT * SEC)

static int64_t clock_now;

static int64_t test_clock(void)
{
	return clock_now;
}

static void advance(int64_t usec)
{
	clock_now += usec;
}

/* ---- fixture ---- */

typedef struct {
	char *dir;
	char *db;
	memdb_t *m;
	const memdb_limits_t *limits; /* NULL: the defaults */
} fx_t;

/* Every fixture's tree runs on the test clock. */
static memdb_t *open_db_with(const char *path, const memdb_limits_t *limits)
{
	GError *err = NULL;
	memdb_options_t opts = {.limits = limits ? *limits : (memdb_limits_t)MEMDB_LIMITS_DEFAULT,
				.clock = test_clock};
	memdb_t *m = memdb_open_opts(path, &opts, &err);

	g_assert_no_error(err);
	g_assert(m != NULL);
	return m;
}

static memdb_t *open_db(const char *path)
{
	GError *err = NULL;
	memdb_t *m = memdb_open(path, &err);

	g_assert_no_error(err);
	g_assert(m != NULL);
	return m;
}

static void fx_setup_nodb(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;

	fx->dir = g_dir_make_tmp("test_memdb-XXXXXX", &err);
	g_assert_no_error(err);
	g_assert(fx->dir != NULL);
	fx->db = g_build_filename(fx->dir, "config.db", NULL);
	fx->m = NULL;
	fx->limits = data;
	/* Far from 0, as a monotonic clock is. */
	clock_now = 1000 * SEC;
}

static void fx_setup(fx_t *fx, gconstpointer data)
{
	fx_setup_nodb(fx, data);
	fx->m = open_db_with(fx->db, fx->limits);
}

static void fx_teardown(fx_t *fx, gconstpointer data)
{
	memdb_free(fx->m);
	unit_rm_tree(fx->dir);
	g_assert_false(g_file_test(fx->dir, G_FILE_TEST_EXISTS));
	g_free(fx->db);
	g_free(fx->dir);
}

static void reopen(fx_t *fx)
{
	memdb_free(fx->m);
	fx->m = open_db_with(fx->db, fx->limits);
}

/* ---- path helpers (writer W1 and time T0 unless given) ---- */

static uint64_t ino_of(memdb_t *m, const char *path)
{
	memdb_attr_t a;

	return memdb_lookup_path(m, path, &a) == 0 ? a.inode : 0;
}

static memdb_attr_t attr_of(memdb_t *m, const char *path)
{
	memdb_attr_t a;

	memset(&a, 0, sizeof(a));
	g_assert_cmpint(memdb_lookup_path(m, path, &a), ==, 0);
	return a;
}

/* Parent inode and base name of path (root if no '/'). */
static uint64_t split(memdb_t *m, const char *path, char **base)
{
	const char *slash = strrchr(path, '/');

	if (!slash) {
		*base = g_strdup(path);
		return MEMDB_ROOT_INODE;
	}
	*base = g_strdup(slash + 1);
	g_autofree char *dir = g_strndup(path, (gsize)(slash - path));
	uint64_t ino = ino_of(m, dir);
	g_assert(ino != 0);
	return ino;
}

static int mkdir_at(memdb_t *m, const char *path, uint32_t writer, uint32_t mtime)
{
	g_autofree char *base = NULL;
	uint64_t parent = split(m, path, &base);

	return memdb_mkdir(m, parent, base, writer, mtime, NULL);
}

static int create_at(memdb_t *m, const char *path, uint32_t writer, uint32_t mtime)
{
	g_autofree char *base = NULL;
	uint64_t parent = split(m, path, &base);

	return memdb_create(m, parent, base, writer, mtime, NULL);
}

static int unlink_at(memdb_t *m, const char *path, uint32_t writer, uint32_t mtime)
{
	g_autofree char *base = NULL;
	uint64_t parent = split(m, path, &base);

	return memdb_unlink(m, parent, base, writer, mtime);
}

static int rmdir_at(memdb_t *m, const char *path, uint32_t writer, uint32_t mtime)
{
	g_autofree char *base = NULL;
	uint64_t parent = split(m, path, &base);

	return memdb_rmdir(m, parent, base, writer, mtime);
}

static int rename_at(memdb_t *m, const char *from, const char *to, bool noreplace, uint32_t writer,
		     uint32_t mtime)
{
	g_autofree char *b1 = NULL, *b2 = NULL;
	uint64_t p1 = split(m, from, &b1), p2 = split(m, to, &b2);

	return memdb_rename(m, p1, b1, p2, b2, noreplace, writer, mtime);
}

static int write_at(memdb_t *m, const char *path, uint64_t offset, const void *data, size_t len,
		    uint32_t writer, uint32_t mtime)
{
	uint64_t ino = ino_of(m, path);

	g_assert(ino != 0);
	return memdb_write(m, ino, offset, data, len, writer, mtime);
}

static int truncate_at(memdb_t *m, const char *path, uint64_t size, uint32_t writer, uint32_t mtime)
{
	uint64_t ino = ino_of(m, path);

	g_assert(ino != 0);
	return memdb_truncate(m, ino, size, writer, mtime);
}

static void mkdirs(memdb_t *m, const char *path)
{
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);
	GString *p = g_string_new(NULL);

	for (char **s = parts; *s; s++) {
		if (p->len)
			g_string_append_c(p, '/');
		g_string_append(p, *s);
		if (!ino_of(m, p->str))
			g_assert_cmpint(mkdir_at(m, p->str, W1, T0), ==, 0);
	}
	g_string_free(p, TRUE);
}

/* Creates (or overwrites) a file with the given content. */
static void put_file(memdb_t *m, const char *path, const char *content)
{
	if (!ino_of(m, path))
		g_assert_cmpint(create_at(m, path, W1, T0), ==, 0);
	else
		g_assert_cmpint(truncate_at(m, path, 0, W1, T0), ==, 0);
	size_t len = strlen(content);
	if (len)
		g_assert_cmpint(write_at(m, path, 0, content, len, W1, T0), ==, (int)len);
}

static char *content_of(memdb_t *m, const char *path)
{
	return memdb_read_path(m, path, NULL);
}

static bool exists(memdb_t *m, const char *path)
{
	return ino_of(m, path) != 0;
}

/* ---- a full description of the tree, to compare before and after ---- */

static gint dirent_cmp(gconstpointer a, gconstpointer b)
{
	const memdb_dirent_t *x = *(memdb_dirent_t *const *)a, *y = *(memdb_dirent_t *const *)b;
	return strcmp(x->name, y->name);
}

static void dump_entry(memdb_t *m, uint64_t ino, const char *path, GString *out)
{
	memdb_attr_t a;

	g_assert_cmpint(memdb_getattr(m, ino, &a), ==, 0);
	g_string_append_printf(
	    out, "%s type=%d ino=%llu parent=%llu ver=%llu w=%u mtime=%u size=%u%s%s",
	    *path ? path : "/", a.type, (unsigned long long)a.inode, (unsigned long long)a.parent,
	    (unsigned long long)a.version, a.writer, a.mtime, a.size, a.in_priv ? " priv" : "",
	    a.is_lock ? " lock" : "");
	if (a.type == MEMDB_REG) {
		g_autofree char *buf = g_malloc(a.size + 1);
		g_assert_cmpint(memdb_read(m, ino, 0, a.size + 1, buf), ==, (ssize_t)a.size);
		g_autofree char *sum =
		    g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)buf, a.size);
		g_string_append_printf(out, " sha=%.16s\n", sum);
		return;
	}
	g_string_append_c(out, '\n');
	GPtrArray *ents = NULL;
	g_assert_cmpint(memdb_readdir(m, ino, &ents), ==, 0);
	if (!ents)
		return;
	g_ptr_array_sort(ents, dirent_cmp);
	for (guint i = 0; i < ents->len; i++) {
		memdb_dirent_t *d = ents->pdata[i];
		memdb_attr_t c;
		g_assert_cmpint(memdb_lookup(m, ino, d->name, &c), ==, 0);
		g_assert_cmpuint(c.inode, ==, d->inode);
		g_assert_cmpint(c.type, ==, d->type);
		g_assert_cmpuint(c.parent, ==, ino);
		g_autofree char *child = g_strdup_printf("%s/%s", path, d->name);
		dump_entry(m, d->inode, child, out);
	}
	memdb_dirents_free(ents);
}

static char *dump(memdb_t *m)
{
	GString *out = g_string_new(NULL);
	memdb_usage_t u;

	g_string_append_printf(out, "version=%llu\n", (unsigned long long)memdb_version(m));
	memdb_usage(m, &u);
	g_string_append_printf(out, "inodes=%llu bytes=%llu\n", (unsigned long long)u.inodes,
			       (unsigned long long)u.bytes);
	dump_entry(m, MEMDB_ROOT_INODE, "", out);
	return g_string_free(out, FALSE);
}

static char *checksum_hex(memdb_t *m)
{
	uint8_t sum[32];
	GString *s = g_string_new(NULL);

	memdb_checksum(m, sum);
	for (int i = 0; i < 32; i++)
		g_string_append_printf(s, "%02x", sum[i]);
	return g_string_free(s, FALSE);
}

/* Closing and reopening shows exactly the same tree. */
static void assert_survives_reopen(fx_t *fx)
{
	g_autofree char *before = dump(fx->m);
	g_autofree char *sum_before = checksum_hex(fx->m);

	reopen(fx);
	g_autofree char *after = dump(fx->m);
	g_autofree char *sum_after = checksum_hex(fx->m);
	g_assert_cmpstr(after, ==, before);
	g_assert_cmpstr(sum_after, ==, sum_before);
}

static void assert_attr_eq(const memdb_attr_t *x, const memdb_attr_t *y)
{
	g_assert_cmpuint(x->inode, ==, y->inode);
	g_assert_cmpuint(x->parent, ==, y->parent);
	g_assert_cmpuint(x->version, ==, y->version);
	g_assert_cmpuint(x->writer, ==, y->writer);
	g_assert_cmpuint(x->mtime, ==, y->mtime);
	g_assert_cmpuint(x->size, ==, y->size);
	g_assert_cmpint(x->type, ==, y->type);
	g_assert_cmpint(x->in_priv, ==, y->in_priv);
	g_assert_cmpint(x->is_lock, ==, y->is_lock);
}

/* ---- opening ---- */

static void test_open_new(fx_t *fx, gconstpointer data)
{
	memdb_attr_t a;
	memdb_usage_t u;
	GPtrArray *ents = NULL;

	g_assert_cmpint(memdb_getattr(fx->m, MEMDB_ROOT_INODE, &a), ==, 0);
	g_assert_cmpint(a.type, ==, MEMDB_DIR);
	g_assert_cmpuint(a.inode, ==, MEMDB_ROOT_INODE);
	g_assert_false(a.in_priv);
	g_assert_false(a.is_lock);
	g_assert_cmpint(memdb_lookup_path(fx->m, "/", &a), ==, 0);
	g_assert_cmpuint(a.inode, ==, MEMDB_ROOT_INODE);
	g_assert_cmpint(memdb_lookup_path(fx->m, "", &a), ==, 0);
	g_assert_cmpuint(a.inode, ==, MEMDB_ROOT_INODE);
	g_assert_cmpint(memdb_readdir(fx->m, MEMDB_ROOT_INODE, &ents), ==, 0);
	g_assert(ents != NULL);
	g_assert_cmpuint(ents->len, ==, 0);
	memdb_dirents_free(ents);
	memdb_usage(fx->m, &u);
	g_assert_cmpuint(u.inodes, ==, 1);
	g_assert_cmpuint(u.bytes, ==, 0);
	/* The root's version is the global one. */
	g_assert_cmpuint(a.version, ==, memdb_version(fx->m));
	assert_survives_reopen(fx);

	/* The first entries never take the root's inode number. */
	memdb_attr_t f, d;
	g_assert_cmpint(memdb_create(fx->m, MEMDB_ROOT_INODE, "first", W1, T0, &f), ==, 0);
	g_assert_cmpint(memdb_mkdir(fx->m, MEMDB_ROOT_INODE, "second", W1, T0, &d), ==, 0);
	g_assert_cmpuint(f.inode, !=, MEMDB_ROOT_INODE);
	g_assert_cmpuint(d.inode, !=, MEMDB_ROOT_INODE);
	g_assert_cmpuint(d.inode, !=, f.inode);
	g_assert_cmpint(memdb_getattr(fx->m, MEMDB_ROOT_INODE, &a), ==, 0);
	g_assert_cmpint(a.type, ==, MEMDB_DIR);
	g_assert_cmpuint(a.inode, ==, MEMDB_ROOT_INODE);
	g_assert_true(exists(fx->m, "first"));
	g_assert_true(exists(fx->m, "second"));
	assert_survives_reopen(fx);
	g_assert_true(exists(fx->m, "first"));
}

/* A file that is not a store is refused by memdb_open and left alone. */
static void test_open_refuses_garbage(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	static const char junk[] = "this is not a database, it is a text file\n";
	g_autofree char *back = NULL;
	gsize len;

	g_assert_true(g_file_set_contents(fx->db, junk, -1, NULL));
	memdb_t *m = memdb_open(fx->db, &err);
	g_assert_null(m);
	memdb_free(m);
	g_assert_nonnull(err);
	g_clear_error(&err);
	g_assert_true(g_file_get_contents(fx->db, &back, &len, NULL));
	g_assert_cmpstr(back, ==, junk);
}

/* Stores whose rows do not form a tree are refused. */
typedef struct {
	const char *name;
	bool valid;
	dbstore_row_t rows[4];
	size_t nrows;
	uint64_t version; /* the stored global version; 10 if 0 */
} bad_store_t;

#define ROW(i, p, t, n)                                                                            \
	{                                                                                          \
		.inode = i, .parent = p, .version = i, .type = t, .name = n                        \
	}

static const bad_store_t bad_stores[] = {
    {.name = "valid",
     .valid = true,
     .rows = {ROW(1, 0, 4, ""), ROW(2, 1, 4, "d"), ROW(3, 2, 8, "f")},
     .nrows = 3},
    {.name = "orphan", .rows = {ROW(1, 0, 4, ""), ROW(2, 99, 8, "f")}, .nrows = 2},
    {.name = "parent-is-file",
     .rows = {ROW(1, 0, 4, ""), ROW(2, 1, 8, "f"), ROW(3, 2, 8, "g")},
     .nrows = 3},
    {.name = "duplicate-name",
     .rows = {ROW(1, 0, 4, ""), ROW(2, 1, 8, "a"), ROW(3, 1, 8, "a")},
     .nrows = 3},
    {.name = "root-is-file", .rows = {ROW(1, 0, 8, "")}, .nrows = 1},
    {.name = "unknown-type", .rows = {ROW(1, 0, 4, ""), ROW(2, 1, 10, "x")}, .nrows = 2},
    {.name = "own-parent", .rows = {ROW(1, 0, 4, ""), ROW(2, 2, 4, "x")}, .nrows = 2},
    /* Two directories that are each other's parent: not reachable from
     * the root, so not a tree. */
    {.name = "cycle", .rows = {ROW(1, 0, 4, ""), ROW(2, 3, 4, "x"), ROW(3, 2, 4, "y")}, .nrows = 3},
    /* A global version below the entries' versions and inode numbers: the
     * next create would reuse inode 3. */
    {.name = "version-behind",
     .rows = {ROW(1, 0, 4, ""), ROW(2, 1, 4, "d"), ROW(3, 2, 8, "f")},
     .nrows = 3,
     .version = 2},
};

static void test_open_bad_store(gconstpointer data)
{
	const bad_store_t *b = data;
	GError *err = NULL;
	g_autofree char *dir = g_dir_make_tmp("test_memdb-XXXXXX", &err);
	g_autofree char *path = g_build_filename(dir, "config.db", NULL);

	g_assert(dir != NULL);
	dbstore_t *db = dbstore_open(path, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	g_assert_true(dbstore_begin(db, &err));
	for (size_t i = 0; i < b->nrows; i++)
		g_assert_true(dbstore_put(db, &b->rows[i], &err));
	g_assert_true(dbstore_set_version(db, b->version ? b->version : 10, &err));
	g_assert_true(dbstore_commit(db, &err));
	g_assert_no_error(err);
	dbstore_free(db);

	memdb_t *m = memdb_open(path, &err);
	if (b->valid) {
		g_assert_no_error(err);
		g_assert_nonnull(m);
		if (m) {
			g_assert_cmpuint(memdb_version(m), ==, 10);
			g_assert_cmpuint(ino_of(m, "d/f"), ==, 3);
		}
	} else {
		g_assert_null(m);
		g_assert_nonnull(err);
		if (err)
			g_test_message("refused: %s", err->message);
	}
	g_clear_error(&err);
	memdb_free(m);
	unit_rm_tree(dir);
}

/* A file larger than the limit in the store is refused. */
static void test_open_oversize_row(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	g_autofree char *big = g_malloc0(MEMDB_MAX_FILE_SIZE + 1);
	dbstore_row_t rows[] = {ROW(1, 0, 4, ""), ROW(2, 1, 8, "big")};

	rows[1].data = big;
	rows[1].size = MEMDB_MAX_FILE_SIZE + 1;
	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert(db != NULL);
	g_assert_true(dbstore_begin(db, &err));
	g_assert_true(dbstore_put(db, &rows[0], &err));
	g_assert_true(dbstore_put(db, &rows[1], &err));
	g_assert_true(dbstore_commit(db, &err));
	g_assert_no_error(err);
	dbstore_free(db);
	memdb_t *m = memdb_open(fx->db, &err);
	g_assert_null(m);
	g_assert_nonnull(err);
	g_clear_error(&err);
	memdb_free(m);
}

/* ---- the tree ---- */

static void test_tree_create_lookup(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	memdb_attr_t a, b;
	GPtrArray *ents = NULL;

	memset(&a, 0, sizeof(a));
	g_assert_cmpint(memdb_mkdir(m, MEMDB_ROOT_INODE, "dir", W1, T0, &a), ==, 0);
	g_assert_cmpint(a.type, ==, MEMDB_DIR);
	g_assert_cmpuint(a.parent, ==, MEMDB_ROOT_INODE);
	g_assert_cmpuint(a.writer, ==, W1);
	g_assert_cmpuint(a.mtime, ==, T0);
	g_assert_cmpuint(a.size, ==, 0);
	g_assert_cmpuint(a.version, ==, memdb_version(m));
	uint64_t dir = a.inode;
	g_assert_cmpuint(dir, !=, MEMDB_ROOT_INODE);

	g_assert_cmpint(memdb_create(m, dir, "file", W2, T0 + 1, &b), ==, 0);
	g_assert_cmpint(b.type, ==, MEMDB_REG);
	g_assert_cmpuint(b.parent, ==, dir);
	g_assert_cmpuint(b.writer, ==, W2);
	g_assert_cmpuint(b.mtime, ==, T0 + 1);
	g_assert_cmpuint(b.size, ==, 0);
	g_assert_cmpuint(b.inode, !=, dir);

	/* lookup, lookup_path and getattr agree. */
	memdb_attr_t c;
	g_assert_cmpint(memdb_lookup(m, dir, "file", &c), ==, 0);
	assert_attr_eq(&c, &b);
	g_assert_cmpint(memdb_lookup_path(m, "dir/file", &c), ==, 0);
	assert_attr_eq(&c, &b);
	g_assert_cmpint(memdb_lookup_path(m, "/dir/file", &c), ==, 0);
	g_assert_cmpuint(c.inode, ==, b.inode);
	g_assert_cmpint(memdb_lookup_path(m, "dir//file", &c), ==, 0);
	g_assert_cmpuint(c.inode, ==, b.inode);
	g_assert_cmpint(memdb_lookup_path(m, "dir/", &c), ==, 0);
	g_assert_cmpuint(c.inode, ==, dir);
	g_assert_cmpint(memdb_getattr(m, b.inode, &c), ==, 0);
	assert_attr_eq(&c, &b);

	/* Misses. */
	g_assert_cmpint(memdb_lookup(m, dir, "nope", &c), ==, -ENOENT);
	g_assert_cmpint(memdb_lookup(m, b.inode, "x", &c), ==, -ENOTDIR);
	g_assert_cmpint(memdb_lookup(m, 987654, "x", &c), ==, -ENOENT);
	g_assert_cmpint(memdb_lookup_path(m, "dir/nope", &c), ==, -ENOENT);
	g_assert_cmpint(memdb_lookup_path(m, "dir/file/x", &c), ==, -ENOENT);
	g_assert_cmpint(memdb_lookup_path(m, "dir/../dir", &c), ==, -ENOENT);
	g_assert_cmpint(memdb_getattr(m, 987654, &c), ==, -ENOENT);
	char longname[MEMDB_MAX_NAME + 2];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	g_assert_cmpint(memdb_lookup(m, dir, longname, &c), ==, -ENAMETOOLONG);

	/* Creating what exists, or below what is not a directory. */
	g_assert_cmpint(memdb_create(m, dir, "file", W1, T0, NULL), ==, -EEXIST);
	g_assert_cmpint(memdb_mkdir(m, dir, "file", W1, T0, NULL), ==, -EEXIST);
	g_assert_cmpint(memdb_create(m, MEMDB_ROOT_INODE, "dir", W1, T0, NULL), ==, -EEXIST);
	g_assert_cmpint(memdb_mkdir(m, MEMDB_ROOT_INODE, "dir", W1, T0, NULL), ==, -EEXIST);
	g_assert_cmpint(memdb_create(m, b.inode, "x", W1, T0, NULL), ==, -ENOTDIR);
	g_assert_cmpint(memdb_mkdir(m, b.inode, "x", W1, T0, NULL), ==, -ENOTDIR);
	g_assert_cmpint(memdb_create(m, 987654, "x", W1, T0, NULL), ==, -ENOENT);
	g_assert_cmpint(memdb_mkdir(m, 987654, "x", W1, T0, NULL), ==, -ENOENT);

	/* readdir. */
	g_assert_cmpint(create_at(m, "dir/another", W1, T0), ==, 0);
	g_assert_cmpint(mkdir_at(m, "dir/sub", W1, T0), ==, 0);
	g_assert_cmpint(memdb_readdir(m, dir, &ents), ==, 0);
	g_assert(ents != NULL);
	g_ptr_array_sort(ents, dirent_cmp);
	g_assert_cmpuint(ents->len, ==, 3);
	static const char *const names[] = {"another", "file", "sub"};
	static const memdb_type_t types[] = {MEMDB_REG, MEMDB_REG, MEMDB_DIR};
	for (guint i = 0; i < ents->len && i < 3; i++) {
		memdb_dirent_t *d = ents->pdata[i];
		g_autofree char *p = g_strdup_printf("dir/%s", names[i]);
		g_assert_cmpstr(d->name, ==, names[i]);
		g_assert_cmpint(d->type, ==, types[i]);
		g_assert_cmpuint(d->inode, ==, ino_of(m, p));
	}
	memdb_dirents_free(ents);
	ents = NULL;
	g_assert_cmpint(memdb_readdir(m, b.inode, &ents), ==, -ENOTDIR);
	g_assert_cmpint(memdb_readdir(m, 987654, &ents), ==, -ENOENT);
	memdb_dirents_free(NULL);

	memdb_usage_t u;
	memdb_usage(m, &u);
	g_assert_cmpuint(u.inodes, ==, 5);
	assert_survives_reopen(fx);
}

static void test_tree_write_read(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	char buf[64];
	memdb_usage_t u;

	g_assert_cmpint(create_at(m, "f", W1, T0), ==, 0);
	uint64_t f = ino_of(m, "f");
	g_assert_cmpint(memdb_write(m, f, 0, "hello", 5, W1, T0 + 1), ==, 5);
	/* Past the end: the gap reads as zeros. */
	g_assert_cmpint(memdb_write(m, f, 10, "world", 5, W2, T0 + 2), ==, 5);
	memdb_attr_t a = attr_of(m, "f");
	g_assert_cmpuint(a.size, ==, 15);
	g_assert_cmpuint(a.writer, ==, W2);
	g_assert_cmpuint(a.mtime, ==, T0 + 2);
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 15);
	g_assert_cmpmem(buf, 15, "hello\0\0\0\0\0world", 15);
	/* Overwrite in the middle, partly past the end. */
	g_assert_cmpint(memdb_write(m, f, 3, "XY", 2, W1, T0 + 3), ==, 2);
	g_assert_cmpint(memdb_write(m, f, 13, "1234", 4, W1, T0 + 4), ==, 4);
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 17);
	g_assert_cmpmem(buf, 17, "helXY\0\0\0\0\0wor1234", 17);

	/* Ranges. */
	g_assert_cmpint(memdb_read(m, f, 3, 2, buf), ==, 2);
	g_assert_cmpmem(buf, 2, "XY", 2);
	g_assert_cmpint(memdb_read(m, f, 15, 10, buf), ==, 2);
	g_assert_cmpmem(buf, 2, "34", 2);
	g_assert_cmpint(memdb_read(m, f, 17, 10, buf), ==, 0);
	g_assert_cmpint(memdb_read(m, f, 1000, 10, buf), ==, 0);
	g_assert_cmpint(memdb_read(m, f, 0, 0, buf), ==, 0);

	/* read_path: the whole file, NUL-terminated. */
	size_t len = 0;
	g_autofree char *all = memdb_read_path(m, "f", &len);
	g_assert_nonnull(all);
	g_assert_cmpuint(len, ==, 17);
	if (all)
		g_assert_cmpint(all[17], ==, '\0');
	g_assert_cmpint(create_at(m, "empty", W1, T0), ==, 0);
	g_autofree char *e = memdb_read_path(m, "empty", &len);
	g_assert_nonnull(e);
	g_assert_cmpuint(len, ==, 0);
	g_assert_null(memdb_read_path(m, "missing", &len));
	g_assert_cmpint(mkdir_at(m, "d", W1, T0), ==, 0);
	g_assert_null(memdb_read_path(m, "d", &len));
	g_assert_cmpint(memdb_read(m, ino_of(m, "empty"), 0, 10, buf), ==, 0);

	/* Directories and missing inodes. */
	uint64_t d = ino_of(m, "d");
	g_assert_cmpint(memdb_read(m, d, 0, 10, buf), ==, -EISDIR);
	g_assert_cmpint(memdb_write(m, d, 0, "x", 1, W1, T0), ==, -EISDIR);
	g_assert_cmpint(memdb_read(m, 987654, 0, 10, buf), ==, -ENOENT);
	g_assert_cmpint(memdb_write(m, 987654, 0, "x", 1, W1, T0), ==, -ENOENT);

	memdb_usage(m, &u);
	g_assert_cmpuint(u.bytes, ==, 17);
	assert_survives_reopen(fx);
	memdb_usage(fx->m, &u);
	g_assert_cmpuint(u.bytes, ==, 17);
}

/* set_data: the whole content replaced in one change (one version), as
 * an O_TRUNC open and the write after it reach the tree in a cluster. */
static void test_tree_set_data(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	char buf[64];
	memdb_usage_t u;

	g_assert_cmpint(create_at(m, "f", W1, T0), ==, 0);
	uint64_t f = ino_of(m, "f");
	g_assert_cmpint(memdb_write(m, f, 0, "a longer old content", 20, W1, T0), ==, 20);
	uint64_t v = memdb_version(m);
	g_assert_cmpint(memdb_set_data(m, f, "new", 3, W2, T0 + 7), ==, 3);
	g_assert_cmpuint(memdb_version(m), ==, v + 1);
	memdb_attr_t a = attr_of(m, "f");
	g_assert_cmpuint(a.size, ==, 3);
	g_assert_cmpuint(a.writer, ==, W2);
	g_assert_cmpuint(a.mtime, ==, T0 + 7);
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 3);
	g_assert_cmpmem(buf, 3, "new", 3);
	memdb_usage(m, &u);
	g_assert_cmpuint(u.bytes, ==, 3);
	assert_survives_reopen(fx);
	m = fx->m;
	f = ino_of(m, "f");
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 3);
	g_assert_cmpmem(buf, 3, "new", 3);
	/* Nothing: the file is emptied, still one change. */
	v = memdb_version(m);
	g_assert_cmpint(memdb_set_data(m, f, NULL, 0, W1, T0), ==, 0);
	g_assert_cmpuint(memdb_version(m), ==, v + 1);
	g_assert_cmpuint(attr_of(m, "f").size, ==, 0);
	/* Over the file size limit, or on a directory: refused, nothing changed. */
	g_autofree char *big = g_malloc0(MEMDB_MAX_FILE_SIZE + 1);
	v = memdb_version(m);
	g_assert_cmpint(memdb_set_data(m, f, big, MEMDB_MAX_FILE_SIZE + 1, W1, T0), ==, -EFBIG);
	g_assert_cmpint(memdb_set_data(m, MEMDB_ROOT_INODE, "x", 1, W1, T0), ==, -EISDIR);
	g_assert_cmpuint(memdb_version(m), ==, v);
}

static void test_tree_truncate(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	char buf[64];
	memdb_usage_t u;

	g_assert_cmpint(create_at(m, "f", W1, T0), ==, 0);
	uint64_t f = ino_of(m, "f");
	g_assert_cmpint(memdb_write(m, f, 0, "abcd", 4, W1, T0), ==, 4);
	/* Grow. */
	g_assert_cmpint(memdb_truncate(m, f, 8, W2, T0 + 5), ==, 0);
	memdb_attr_t a = attr_of(m, "f");
	g_assert_cmpuint(a.size, ==, 8);
	g_assert_cmpuint(a.writer, ==, W2);
	g_assert_cmpuint(a.mtime, ==, T0 + 5);
	g_assert_cmpuint(a.version, ==, memdb_version(m));
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 8);
	g_assert_cmpmem(buf, 8, "abcd\0\0\0\0", 8);

	g_assert_cmpint(memdb_write(m, f, 0, "abcdefgh", 8, W1, T0), ==, 8);
	/* Shrink. */
	g_assert_cmpint(memdb_truncate(m, f, 3, W1, T0), ==, 0);
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 3);
	g_assert_cmpmem(buf, 3, "abc", 3);
	/* Grow again: the cut bytes do not come back. */
	g_assert_cmpint(memdb_truncate(m, f, 6, W1, T0), ==, 0);
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 6);
	g_assert_cmpmem(buf, 6, "abc\0\0\0", 6);
	memdb_usage(m, &u);
	g_assert_cmpuint(u.bytes, ==, 6);
	assert_survives_reopen(fx);
	m = fx->m;
	f = ino_of(m, "f");
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 6);
	g_assert_cmpmem(buf, 6, "abc\0\0\0", 6);
	/* To zero, and same size. */
	g_assert_cmpint(memdb_truncate(m, f, 6, W1, T0), ==, 0);
	g_assert_cmpuint(attr_of(m, "f").size, ==, 6);
	g_assert_cmpint(memdb_truncate(m, f, 0, W1, T0), ==, 0);
	g_assert_cmpuint(attr_of(m, "f").size, ==, 0);
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 0);
	g_assert_cmpint(memdb_truncate(m, f, 0, W1, T0), ==, 0);
	memdb_usage(m, &u);
	g_assert_cmpuint(u.bytes, ==, 0);
	/* Not on directories. */
	g_assert_cmpint(memdb_truncate(m, MEMDB_ROOT_INODE, 0, W1, T0), ==, -EISDIR);
	g_assert_cmpint(memdb_truncate(m, 987654, 0, W1, T0), ==, -ENOENT);
	assert_survives_reopen(fx);
}

/* Growing an empty file (which has no data buffer) with truncate, as
 * `truncate -s 8 f` on a new file does. */
static void test_tree_truncate_grow_empty(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	char buf[16];

	g_assert_cmpint(create_at(m, "f", W1, T0), ==, 0);
	uint64_t f = ino_of(m, "f");
	g_assert_cmpint(memdb_truncate(m, f, 8, W2, T0 + 5), ==, 0);
	g_assert_cmpuint(attr_of(m, "f").size, ==, 8);
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 8);
	g_assert_cmpmem(buf, 8, "\0\0\0\0\0\0\0\0", 8);
	/* Also after it was cut to zero. */
	g_assert_cmpint(memdb_truncate(m, f, 0, W2, T0 + 6), ==, 0);
	g_assert_cmpint(memdb_truncate(m, f, 3, W2, T0 + 7), ==, 0);
	g_assert_cmpuint(attr_of(m, "f").size, ==, 3);
	assert_survives_reopen(fx);
}

/* POSIX: a write of zero bytes to a regular file has no other result; in
 * particular it does not extend the file. */
static void test_tree_zero_length_write(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;

	put_file(m, "f", "abc");
	uint64_t f = ino_of(m, "f");
	g_assert_cmpint(memdb_write(m, f, 100, "", 0, W1, T0), ==, 0);
	g_assert_cmpuint(attr_of(m, "f").size, ==, 3);
}

static void test_tree_unlink_rmdir(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	memdb_usage_t u;

	mkdirs(m, "d/sub");
	put_file(m, "d/f", "data");
	put_file(m, "top", "x");

	g_assert_cmpint(unlink_at(m, "d/missing", W1, T0), ==, -ENOENT);
	g_assert_cmpint(rmdir_at(m, "d/missing", W1, T0), ==, -ENOENT);
	g_assert_cmpint(unlink_at(m, "d/sub", W1, T0), ==, -EISDIR);
	g_assert_cmpint(rmdir_at(m, "d/f", W1, T0), ==, -ENOTDIR);
	g_assert_cmpint(rmdir_at(m, "d", W1, T0), ==, -ENOTEMPTY);
	g_assert_cmpint(memdb_unlink(m, ino_of(m, "top"), "x", W1, T0), ==, -ENOTDIR);
	g_assert_cmpint(memdb_rmdir(m, ino_of(m, "top"), "x", W1, T0), ==, -ENOTDIR);
	g_assert_cmpint(memdb_unlink(m, 987654, "x", W1, T0), ==, -ENOENT);
	g_assert_cmpint(memdb_rmdir(m, 987654, "x", W1, T0), ==, -ENOENT);
	g_assert_true(exists(m, "d/sub"));
	g_assert_true(exists(m, "d/f"));

	uint64_t fino = ino_of(m, "d/f");
	g_assert_cmpint(unlink_at(m, "d/f", W1, T0), ==, 0);
	g_assert_false(exists(m, "d/f"));
	memdb_attr_t a;
	g_assert_cmpint(memdb_getattr(m, fino, &a), ==, -ENOENT);
	g_assert_cmpint(unlink_at(m, "d/f", W1, T0), ==, -ENOENT);
	g_assert_cmpint(rmdir_at(m, "d", W1, T0), ==, -ENOTEMPTY);
	g_assert_cmpint(rmdir_at(m, "d/sub", W1, T0), ==, 0);
	g_assert_cmpint(rmdir_at(m, "d", W1, T0), ==, 0);
	g_assert_false(exists(m, "d"));
	memdb_usage(m, &u);
	g_assert_cmpuint(u.inodes, ==, 2);
	g_assert_cmpuint(u.bytes, ==, 1);
	assert_survives_reopen(fx);
}

/* ---- rename ---- */

static void test_rename_basic(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;

	mkdirs(m, "a");
	mkdirs(m, "b");
	put_file(m, "a/f", "content");
	uint64_t f = ino_of(m, "a/f");

	/* Same directory. */
	g_assert_cmpint(rename_at(m, "a/f", "a/g", false, W2, T0 + 1), ==, 0);
	g_assert_false(exists(m, "a/f"));
	memdb_attr_t g = attr_of(m, "a/g");
	g_assert_cmpuint(g.inode, ==, f);
	g_assert_cmpuint(g.version, ==, memdb_version(m));
	g_assert_cmpuint(attr_of(m, "a").version, ==, memdb_version(m));
	g_autofree char *c1 = content_of(m, "a/g");
	g_assert_cmpstr(c1, ==, "content");

	/* Across directories: both directories change. */
	g_assert_cmpint(rename_at(m, "a/g", "b/h", false, W2, T0 + 2), ==, 0);
	g_assert_false(exists(m, "a/g"));
	memdb_attr_t h = attr_of(m, "b/h");
	g_assert_cmpuint(h.inode, ==, f);
	g_assert_cmpuint(h.parent, ==, ino_of(m, "b"));
	g_assert_cmpuint(attr_of(m, "a").version, ==, memdb_version(m));
	g_assert_cmpuint(attr_of(m, "a").mtime, ==, T0 + 2);
	g_assert_cmpuint(attr_of(m, "b").version, ==, memdb_version(m));
	g_assert_cmpuint(attr_of(m, "b").mtime, ==, T0 + 2);
	g_autofree char *c2 = content_of(m, "b/h");
	g_assert_cmpstr(c2, ==, "content");

	/* A directory with its content. */
	mkdirs(m, "a/sub/deeper");
	put_file(m, "a/sub/deeper/x", "x");
	g_assert_cmpint(rename_at(m, "a/sub", "b/moved", false, W1, T0 + 3), ==, 0);
	g_autofree char *c3 = content_of(m, "b/moved/deeper/x");
	g_assert_cmpstr(c3, ==, "x");
	g_assert_false(exists(m, "a/sub"));

	/* To the root and back. */
	g_assert_cmpint(rename_at(m, "b/h", "h", false, W1, T0 + 4), ==, 0);
	g_assert_cmpuint(attr_of(m, "h").parent, ==, MEMDB_ROOT_INODE);
	g_assert_cmpint(rename_at(m, "h", "a/h", true, W1, T0 + 5), ==, 0);
	g_assert_true(exists(m, "a/h"));
	assert_survives_reopen(fx);
}

static void test_rename_replace(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	memdb_usage_t u;

	/* The editors' pattern: write x.new, rename it over x. */
	put_file(m, "x", "old content");
	put_file(m, "x.new", "new");
	uint64_t old = ino_of(m, "x"), neu = ino_of(m, "x.new");
	g_assert_cmpint(rename_at(m, "x.new", "x", false, W1, T0 + 1), ==, 0);
	g_assert_false(exists(m, "x.new"));
	g_assert_cmpuint(ino_of(m, "x"), ==, neu);
	memdb_attr_t a;
	g_assert_cmpint(memdb_getattr(m, old, &a), ==, -ENOENT);
	g_autofree char *c = content_of(m, "x");
	g_assert_cmpstr(c, ==, "new");
	memdb_usage(m, &u);
	g_assert_cmpuint(u.inodes, ==, 2);
	g_assert_cmpuint(u.bytes, ==, 3);

	/* Across directories, over a file. */
	mkdirs(m, "d");
	put_file(m, "d/x", "in d");
	g_assert_cmpint(rename_at(m, "x", "d/x", false, W1, T0 + 2), ==, 0);
	g_free(c);
	c = content_of(m, "d/x");
	g_assert_cmpstr(c, ==, "new");
	g_assert_false(exists(m, "x"));

	/* A directory over an empty directory. */
	mkdirs(m, "e1/inner");
	mkdirs(m, "e2");
	g_assert_cmpint(rename_at(m, "e1", "e2", false, W1, T0 + 3), ==, 0);
	g_assert_true(exists(m, "e2/inner"));
	g_assert_false(exists(m, "e1"));
	memdb_usage(m, &u);
	g_assert_cmpuint(u.inodes, ==, 5);
	g_assert_cmpuint(u.bytes, ==, 3);
	assert_survives_reopen(fx);
}

static void test_rename_errors(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;

	mkdirs(m, "full/child");
	mkdirs(m, "empty");
	mkdirs(m, "a/b/c");
	put_file(m, "f", "f");
	put_file(m, "g", "g");
	g_autofree char *before = dump(m);

	g_assert_cmpint(rename_at(m, "empty", "full", false, W1, T0), ==, -ENOTEMPTY);
	g_assert_cmpint(rename_at(m, "f", "empty", false, W1, T0), ==, -EISDIR);
	g_assert_cmpint(rename_at(m, "empty", "f", false, W1, T0), ==, -ENOTDIR);
	g_assert_cmpint(rename_at(m, "a", "a/b/c/a", false, W1, T0), ==, -EINVAL);
	g_assert_cmpint(rename_at(m, "a", "a/x", false, W1, T0), ==, -EINVAL);
	g_assert_cmpint(rename_at(m, "a/b", "a/b/c/b2", false, W1, T0), ==, -EINVAL);
	g_assert_cmpint(rename_at(m, "f", "g", true, W1, T0), ==, -EEXIST);
	g_assert_cmpint(rename_at(m, "empty", "full", true, W1, T0), ==, -EEXIST);
	g_assert_cmpint(rename_at(m, "missing", "h", false, W1, T0), ==, -ENOENT);
	g_assert_cmpint(memdb_rename(m, MEMDB_ROOT_INODE, "f", 987654, "f", false, W1, T0), ==,
			-ENOENT);
	g_assert_cmpint(memdb_rename(m, 987654, "f", MEMDB_ROOT_INODE, "f2", false, W1, T0), ==,
			-ENOENT);
	g_assert_cmpint(memdb_rename(m, MEMDB_ROOT_INODE, "f", ino_of(m, "g"), "f", false, W1, T0),
			==, -ENOTDIR);
	g_assert_cmpint(memdb_rename(m, ino_of(m, "g"), "f", MEMDB_ROOT_INODE, "f", false, W1, T0),
			==, -ENOTDIR);
	g_autofree char *after = dump(m);
	g_assert_cmpstr(after, ==, before);

	/* noreplace to a free name works. */
	g_assert_cmpint(rename_at(m, "f", "h", true, W1, T0), ==, 0);
	g_assert_true(exists(m, "h"));
}

/* Directories nest MEMDB_MAX_DEPTH deep and no deeper, by mkdir or by
 * moving a subtree; a refusal changes nothing. */
static void test_depth_limit(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	memdb_attr_t a;
	uint64_t parent = MEMDB_ROOT_INODE;

	for (int d = 1; d <= MEMDB_MAX_DEPTH; d++) {
		g_assert_cmpint(memdb_mkdir(m, parent, "d", W1, T0, &a), ==, 0);
		parent = a.inode;
	}
	g_autofree char *before = dump(m);
	g_assert_cmpint(memdb_mkdir(m, parent, "d", W1, T0, &a), ==, -EMLINK);
	/* A file at the deepest level is fine: only directories nest. */
	g_assert_cmpint(memdb_create(m, parent, "f", W1, T0, &a), ==, 0);
	mkdirs(m, "sub/tree");
	g_autofree char *mid = dump(m);
	uint64_t deep_parent = memdb_lookup(m, parent, "f", &a) == 0 ? a.parent : 0;
	/* sub (2 levels) under the second deepest directory would go past it. */
	memdb_attr_t pa;
	g_assert_cmpint(memdb_getattr(m, deep_parent, &pa), ==, 0);
	g_assert_cmpint(memdb_rename(m, MEMDB_ROOT_INODE, "sub", pa.parent, "sub", false, W1, T0),
			==, -EMLINK);
	g_autofree char *after = dump(m);
	g_assert_cmpstr(after, ==, mid);
	g_assert_cmpstr(before, !=, mid);
}

/* A tree as deep as it is large, found in the database, is opened,
 * checked, summed and dumped without the stack growing with its depth. */
static void test_open_deep_chain(fx_t *fx, gconstpointer data)
{
	enum { DEPTH = 100000 };
	GError *err = NULL;
	dbstore_t *db = dbstore_open(fx->db, &err);
	dbstore_row_t root = ROW(1, 0, MEMDB_DIR, "");

	g_assert_nonnull(db);
	g_assert_true(dbstore_begin(db, &err));
	g_assert_true(dbstore_put(db, &root, &err));
	for (uint64_t i = 2; i <= DEPTH + 1; i++) {
		dbstore_row_t row = ROW(i, i - 1, MEMDB_DIR, "d");
		g_assert_true(dbstore_put(db, &row, &err));
	}
	g_assert_true(dbstore_set_version(db, DEPTH + 1, &err));
	g_assert_true(dbstore_commit(db, &err));
	g_assert_no_error(err);
	dbstore_free(db);

	memdb_t *m = memdb_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert_nonnull(m);
	uint8_t sum[32];
	memdb_checksum(m, sum);
	g_autoptr(GVariant) d = memdb_dump(m);
	g_assert_nonnull(d);
	memdb_attr_t a;
	/* Nothing more may nest below it. */
	g_assert_cmpint(memdb_mkdir(m, DEPTH + 1, "x", W1, T0, &a), ==, -EMLINK);
	memdb_free(m);
}

/* Renaming an entry onto itself succeeds and changes nothing. */
static void test_rename_self(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;

	mkdirs(m, "d");
	put_file(m, "d/f", "f");
	g_autofree char *before = dump(m);
	g_autofree char *sum = checksum_hex(m);
	g_assert_cmpint(rename_at(m, "d/f", "d/f", false, W2, T0 + 9), ==, 0);
	g_assert_cmpint(rename_at(m, "d", "d", false, W2, T0 + 9), ==, 0);
	g_autofree char *after = dump(m);
	g_autofree char *sum2 = checksum_hex(m);
	g_assert_cmpstr(after, ==, before);
	g_assert_cmpstr(sum2, ==, sum);
}

/* ---- names ---- */

static void test_names(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	char n255[MEMDB_MAX_NAME + 1], n256[MEMDB_MAX_NAME + 2];
	static const char *const invalid[] = {"", ".", "..", "a/b", "/", "x/"};

	memset(n255, 'a', MEMDB_MAX_NAME);
	n255[MEMDB_MAX_NAME] = '\0';
	memset(n256, 'b', MEMDB_MAX_NAME + 1);
	n256[MEMDB_MAX_NAME + 1] = '\0';
	put_file(m, "src", "s");
	mkdirs(m, "srcdir");
	g_autofree char *before = dump(m);

	for (size_t i = 0; i < G_N_ELEMENTS(invalid); i++) {
		const char *n = invalid[i];
		g_test_message("name '%s'", n);
		g_assert_cmpint(memdb_create(m, MEMDB_ROOT_INODE, n, W1, T0, NULL), ==, -EINVAL);
		g_assert_cmpint(memdb_mkdir(m, MEMDB_ROOT_INODE, n, W1, T0, NULL), ==, -EINVAL);
		g_assert_cmpint(
		    memdb_rename(m, MEMDB_ROOT_INODE, "src", MEMDB_ROOT_INODE, n, false, W1, T0),
		    ==, -EINVAL);
		g_assert_cmpint(
		    memdb_rename(m, MEMDB_ROOT_INODE, "srcdir", MEMDB_ROOT_INODE, n, false, W1, T0),
		    ==, -EINVAL);
	}
	g_assert_cmpint(memdb_create(m, MEMDB_ROOT_INODE, n256, W1, T0, NULL), ==, -ENAMETOOLONG);
	g_assert_cmpint(memdb_mkdir(m, MEMDB_ROOT_INODE, n256, W1, T0, NULL), ==, -ENAMETOOLONG);
	g_assert_cmpint(
	    memdb_rename(m, MEMDB_ROOT_INODE, "src", MEMDB_ROOT_INODE, n256, false, W1, T0), ==,
	    -ENAMETOOLONG);
	g_autofree char *after = dump(m);
	g_assert_cmpstr(after, ==, before);

	/* 255 bytes is fine, for files, directories and rename targets. */
	g_assert_cmpint(memdb_create(m, MEMDB_ROOT_INODE, n255, W1, T0, NULL), ==, 0);
	g_assert_cmpint(memdb_mkdir(m, ino_of(m, "srcdir"), n255, W1, T0, NULL), ==, 0);
	g_assert_cmpint(memdb_unlink(m, MEMDB_ROOT_INODE, n255, W1, T0), ==, 0);
	g_assert_cmpint(
	    memdb_rename(m, MEMDB_ROOT_INODE, "src", MEMDB_ROOT_INODE, n255, false, W1, T0), ==, 0);
	memdb_attr_t a;
	g_assert_cmpint(memdb_lookup(m, MEMDB_ROOT_INODE, n255, &a), ==, 0);
	/* Names with odd but legal bytes. */
	g_assert_cmpint(memdb_create(m, MEMDB_ROOT_INODE, "...", W1, T0, NULL), ==, 0);
	g_assert_cmpint(memdb_create(m, MEMDB_ROOT_INODE, ".hidden", W1, T0, NULL), ==, 0);
	g_assert_cmpint(memdb_create(m, MEMDB_ROOT_INODE, "sp ace\t\xc3\xa9", W1, T0, NULL), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(memdb_lookup(fx->m, MEMDB_ROOT_INODE, n255, &a), ==, 0);
	g_assert_cmpint(memdb_lookup(fx->m, ino_of(fx->m, "srcdir"), n255, &a), ==, 0);
}

/* ---- limits ---- */

static void test_limit_file_size(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	g_autofree char *mib = g_malloc(MEMDB_MAX_FILE_SIZE + 1);

	memset(mib, 'm', MEMDB_MAX_FILE_SIZE + 1);
	g_assert_cmpint(create_at(m, "f", W1, T0), ==, 0);
	uint64_t f = ino_of(m, "f");
	g_assert_cmpint(memdb_write(m, f, 0, mib, MEMDB_MAX_FILE_SIZE + 1, W1, T0), ==, -EFBIG);
	g_assert_cmpuint(attr_of(m, "f").size, ==, 0);
	/* Exactly 1 MiB is fine. */
	g_assert_cmpint(memdb_write(m, f, 0, mib, MEMDB_MAX_FILE_SIZE, W1, T0), ==,
			MEMDB_MAX_FILE_SIZE);
	g_assert_cmpuint(attr_of(m, "f").size, ==, MEMDB_MAX_FILE_SIZE);
	uint64_t v = memdb_version(m);
	g_assert_cmpint(memdb_write(m, f, MEMDB_MAX_FILE_SIZE, "x", 1, W1, T0), ==, -EFBIG);
	g_assert_cmpint(memdb_write(m, f, MEMDB_MAX_FILE_SIZE - 1, "xy", 2, W1, T0), ==, -EFBIG);
	g_assert_cmpint(memdb_write(m, f, UINT64_MAX, "x", 1, W1, T0), ==, -EFBIG);
	g_assert_cmpint(memdb_write(m, f, UINT64_MAX - 1, "xy", 2, W1, T0), ==, -EFBIG);
	g_assert_cmpint(memdb_truncate(m, f, MEMDB_MAX_FILE_SIZE + 1, W1, T0), ==, -EFBIG);
	g_assert_cmpint(memdb_truncate(m, f, UINT64_MAX, W1, T0), ==, -EFBIG);
	g_assert_cmpint(memdb_truncate(m, f, (uint64_t)UINT32_MAX + 1, W1, T0), ==, -EFBIG);
	g_assert_cmpuint(memdb_version(m), ==, v);
	/* The last byte can still be overwritten. */
	g_assert_cmpint(memdb_write(m, f, MEMDB_MAX_FILE_SIZE - 1, "z", 1, W1, T0), ==, 1);
	g_assert_cmpint(memdb_truncate(m, f, 10, W1, T0), ==, 0);
	g_assert_cmpint(memdb_truncate(m, f, MEMDB_MAX_FILE_SIZE, W1, T0), ==, 0);
	g_assert_cmpint(memdb_write(m, f, MEMDB_MAX_FILE_SIZE, "", 0, W1, T0), >=, 0);
	g_assert_cmpuint(attr_of(m, "f").size, ==, MEMDB_MAX_FILE_SIZE);
	assert_survives_reopen(fx);
}

/* Small enough that filling the tree takes no time: the checks are the
 * same whatever the numbers (the defaults are checked apart). */
static const memdb_limits_t small_limits = {
    .max_file_size = 4096, .max_fs_size = 8 * 4096, .max_inodes = 64};

static void test_limits_default_are_the_reference_s(fx_t *fx, gconstpointer data)
{
	memdb_limits_t l;

	memdb_get_limits(fx->m, &l);
	g_assert_cmpuint(l.max_file_size, ==, 1024 * 1024);
	g_assert_cmpuint(l.max_fs_size, ==, 128 * 1024 * 1024);
	g_assert_cmpuint(l.max_inodes, ==, 256 * 1024);
	memdb_free(fx->m);
	fx->m = open_db_with(fx->db, &small_limits);
	memdb_get_limits(fx->m, &l);
	g_assert_cmpuint(l.max_file_size, ==, small_limits.max_file_size);
	g_assert_cmpuint(l.max_fs_size, ==, small_limits.max_fs_size);
	g_assert_cmpuint(l.max_inodes, ==, small_limits.max_inodes);
}

static void test_limit_fs_size(fx_t *fx, gconstpointer data)
{
	const uint64_t F = fx->limits->max_file_size, FS = fx->limits->max_fs_size;
	memdb_t *m = fx->m;
	g_autofree char *mib = g_malloc(F);
	char name[32];
	memdb_usage_t u;

	memset(mib, 'q', F);
	mkdirs(m, "big");
	uint64_t big = ino_of(m, "big");
	for (uint64_t i = 0; i < FS / F; i++) {
		memdb_attr_t a;
		g_snprintf(name, sizeof(name), "f%03u", (unsigned)i);
		g_assert_cmpint(memdb_create(m, big, name, W1, T0, &a), ==, 0);
		g_assert_cmpint(memdb_write(m, a.inode, 0, mib, F, W1, T0), ==, (int)F);
	}
	memdb_usage(m, &u);
	g_assert_cmpuint(u.bytes, ==, FS);

	/* One more file can be created (no bytes), but not grown. */
	memdb_attr_t extra;
	g_assert_cmpint(memdb_create(m, big, "extra", W1, T0, &extra), ==, 0);
	uint64_t v = memdb_version(m);
	g_assert_cmpint(memdb_write(m, extra.inode, 0, "x", 1, W1, T0), ==, -ENOSPC);
	g_assert_cmpint(memdb_truncate(m, extra.inode, 1, W1, T0), ==, -ENOSPC);
	g_assert_cmpint(memdb_write(m, extra.inode, 0, mib, F, W1, T0), ==, -ENOSPC);
	g_assert_cmpint(memdb_set_data(m, extra.inode, "x", 1, W1, T0), ==, -ENOSPC);
	g_assert_cmpuint(memdb_version(m), ==, v);
	/* Rewriting a full file in place does not grow anything. */
	uint64_t f0 = ino_of(m, "big/f000");
	g_assert_cmpint(memdb_write(m, f0, 0, "abc", 3, W1, T0), ==, 3);
	/* Freeing one byte makes room for one byte. */
	g_assert_cmpint(memdb_truncate(m, f0, F - 1, W1, T0), ==, 0);
	g_assert_cmpint(memdb_write(m, extra.inode, 0, "x", 1, W1, T0), ==, 1);
	g_assert_cmpint(memdb_write(m, extra.inode, 1, "y", 1, W1, T0), ==, -ENOSPC);
	memdb_usage(m, &u);
	g_assert_cmpuint(u.bytes, ==, FS);

	/* The accounting survives a restart. */
	reopen(fx);
	m = fx->m;
	memdb_usage(m, &u);
	g_assert_cmpuint(u.bytes, ==, FS);
	g_assert_cmpint(write_at(m, "big/extra", 1, "y", 1, W1, T0), ==, -ENOSPC);
	/* Deleting a file frees its bytes. */
	g_assert_cmpint(unlink_at(m, "big/f001", W1, T0), ==, 0);
	g_assert_cmpint(write_at(m, "big/extra", 1, mib, F - 1, W1, T0), ==, (int)(F - 1));
	/* One byte left: exactly full is fine, one more is not. */
	g_assert_cmpint(write_at(m, "big/f000", F - 1, "z", 1, W1, T0), ==, 1);
	g_assert_cmpint(create_at(m, "big/one", W1, T0), ==, 0);
	g_assert_cmpint(write_at(m, "big/one", 0, "1", 1, W1, T0), ==, -ENOSPC);
	memdb_usage(m, &u);
	g_assert_cmpuint(u.bytes, ==, FS);
	/* Renaming over a file frees the replaced one. */
	g_assert_cmpint(create_at(m, "big/small", W1, T0), ==, 0);
	g_assert_cmpint(rename_at(m, "big/small", "big/f002", false, W1, T0), ==, 0);
	g_assert_cmpint(write_at(m, "big/one", 0, "1", 1, W1, T0), ==, 1);
	memdb_usage(m, &u);
	g_assert_cmpuint(u.bytes, ==, FS - F + 1);
}

static void test_limit_inodes(fx_t *fx, gconstpointer data)
{
	const uint64_t N = fx->limits->max_inodes;
	memdb_t *m = fx->m;
	memdb_usage_t u;
	char name[32];

	memdb_usage(m, &u);
	uint64_t dir = MEMDB_ROOT_INODE;
	for (uint64_t i = u.inodes; i < N; i++) {
		g_snprintf(name, sizeof(name), "%llu", (unsigned long long)i);
		g_assert_cmpint(memdb_create(m, dir, name, W1, T0, NULL), ==, 0);
	}
	memdb_usage(m, &u);
	g_assert_cmpuint(u.inodes, ==, N);
	g_assert_cmpint(memdb_create(m, dir, "one-more", W1, T0, NULL), ==, -ENOSPC);
	g_assert_cmpint(memdb_mkdir(m, dir, "one-more", W1, T0, NULL), ==, -ENOSPC);
	g_assert_cmpint(memdb_unlink(m, dir, "1", W1, T0), ==, 0);
	g_assert_cmpint(memdb_mkdir(m, dir, "one-more", W1, T0, NULL), ==, 0);
	/* The limit holds after a restart too. */
	reopen(fx);
	g_assert_cmpint(memdb_create(fx->m, dir, "two-more", W1, T0, NULL), ==, -ENOSPC);
}

/* A tree beyond the limits, in a store or in a transfer, is refused. */
static void test_limits_refuse_bigger_trees(fx_t *fx, gconstpointer data)
{
	g_autofree char *other = g_build_filename(fx->dir, "other.db", NULL);
	memdb_t *big = open_db(other);
	g_autofree char *data4k = g_malloc0(fx->limits->max_file_size + 1);
	g_autoptr(GVariant) dump = NULL;
	GError *err = NULL;
	uint64_t v = memdb_version(fx->m);

	g_assert_cmpint(create_at(big, "f", W1, T0), ==, 0);
	g_assert_cmpint(write_at(big, "f", 0, data4k, fx->limits->max_file_size + 1, W1, T0), ==,
			(int)fx->limits->max_file_size + 1);
	dump = memdb_dump(big);
	g_assert_false(memdb_replace(fx->m, dump, &err));
	g_assert_nonnull(err);
	g_clear_error(&err);
	g_assert_cmpuint(memdb_version(fx->m), ==, v);
	memdb_free(big);
	/* The same store opened with the small limits. */
	big = memdb_open_with(other, fx->limits, &err);
	g_assert_null(big);
	g_assert_nonnull(err);
	g_clear_error(&err);
}

/* ---- versions ---- */

static void test_versions(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t v = memdb_version(m);

#define STEP(expr)                                                                                 \
	do {                                                                                       \
		g_assert_cmpint((expr), >=, 0);                                                    \
		g_assert_cmpuint(memdb_version(m), ==, v + 1);                                     \
		v = memdb_version(m);                                                              \
	} while (0)
#define NOSTEP(expr)                                                                               \
	do {                                                                                       \
		g_assert_cmpint((expr), <, 0);                                                     \
		g_assert_cmpuint(memdb_version(m), ==, v);                                         \
	} while (0)

	STEP(mkdir_at(m, "d", W1, T0 + 1));
	memdb_attr_t root = attr_of(m, "");
	memdb_attr_t d = attr_of(m, "d");
	g_assert_cmpuint(d.version, ==, v);
	/* The parent changed with the create. */
	g_assert_cmpuint(root.version, ==, v);
	g_assert_cmpuint(root.mtime, ==, T0 + 1);
	g_assert_cmpuint(root.writer, ==, W1);

	STEP(create_at(m, "d/f", W2, T0 + 2));
	uint64_t created = v;
	d = attr_of(m, "d");
	g_assert_cmpuint(d.version, ==, v);
	g_assert_cmpuint(d.mtime, ==, T0 + 2);
	g_assert_cmpuint(d.writer, ==, W2);
	g_assert_cmpuint(attr_of(m, "d/f").version, ==, v);
	g_assert_cmpuint(attr_of(m, "").version, ==, v - 1); /* grandparent untouched */

	STEP(write_at(m, "d/f", 0, "abc", 3, W1, T0 + 3));
	memdb_attr_t f = attr_of(m, "d/f");
	g_assert_cmpuint(f.version, ==, v);
	g_assert_cmpuint(f.mtime, ==, T0 + 3);
	g_assert_cmpuint(f.writer, ==, W1);
	g_assert_cmpuint(attr_of(m, "d").version, ==, created); /* a write leaves the dir */

	STEP(truncate_at(m, "d/f", 1, W2, T0 + 4));
	g_assert_cmpuint(attr_of(m, "d/f").version, ==, v);
	STEP(memdb_set_mtime(m, ino_of(m, "d/f"), 4242, W1, T0 + 5));
	f = attr_of(m, "d/f");
	g_assert_cmpuint(f.version, ==, v);
	g_assert_cmpuint(f.mtime, ==, 4242);
	g_assert_cmpuint(f.writer, ==, W1);
	STEP(memdb_set_mtime(m, ino_of(m, "d"), 0, W2, T0 + 5));
	g_assert_cmpuint(attr_of(m, "d").mtime, ==, 0);

	STEP(create_at(m, "d/g", W1, T0 + 6));
	STEP(rename_at(m, "d/g", "d/h", false, W2, T0 + 7));
	g_assert_cmpuint(attr_of(m, "d/h").version, ==, v);
	g_assert_cmpuint(attr_of(m, "d").version, ==, v);

	STEP(unlink_at(m, "d/h", W1, T0 + 8));
	d = attr_of(m, "d");
	g_assert_cmpuint(d.version, ==, v);
	g_assert_cmpuint(d.mtime, ==, T0 + 8);
	g_assert_cmpuint(d.writer, ==, W1);

	STEP(mkdir_at(m, "d/sub", W1, T0 + 9));
	STEP(rmdir_at(m, "d/sub", W2, T0 + 10));
	d = attr_of(m, "d");
	g_assert_cmpuint(d.version, ==, v);
	g_assert_cmpuint(d.mtime, ==, T0 + 10);
	g_assert_cmpuint(d.writer, ==, W2);

	/* Failures change nothing. */
	NOSTEP(create_at(m, "d/f", W1, T0));
	NOSTEP(rmdir_at(m, "d", W1, T0));
	NOSTEP(unlink_at(m, "d/nope", W1, T0));
	NOSTEP(write_at(m, "d/f", MEMDB_MAX_FILE_SIZE, "x", 1, W1, T0));
	NOSTEP(rename_at(m, "d", "d/f", false, W1, T0));
	/* A no-op rename neither. */
	g_assert_cmpint(rename_at(m, "d/f", "d/f", false, W1, T0), ==, 0);
	g_assert_cmpuint(memdb_version(m), ==, v);

	/* The global version is kept across a restart, and continues. */
	reopen(fx);
	m = fx->m;
	g_assert_cmpuint(memdb_version(m), ==, v);
	STEP(create_at(m, "after", W1, T0));
	g_assert_cmpuint(attr_of(m, "after").version, ==, v);
#undef STEP
#undef NOSTEP
}

/* ---- persistence ---- */

/* Every kind of change, each one checked across a close and reopen. */
static void test_persist_each_change(fx_t *fx, gconstpointer data)
{
	char mid[3000];

	memset(mid, 0x5a, sizeof(mid));
	g_assert_cmpint(memdb_ensure_layout(fx->m, "alpha", W1, T0), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(mkdir_at(fx->m, "d", W1, T0 + 1), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(create_at(fx->m, "d/f", W2, T0 + 2), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(write_at(fx->m, "d/f", 0, "hello", 5, W1, T0 + 3), ==, 5);
	assert_survives_reopen(fx);
	g_assert_cmpint(write_at(fx->m, "d/f", 100, mid, sizeof(mid), W1, T0 + 4), ==,
			(int)sizeof(mid));
	assert_survives_reopen(fx);
	g_assert_cmpint(truncate_at(fx->m, "d/f", 50, W2, T0 + 5), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(truncate_at(fx->m, "d/f", 70, W2, T0 + 6), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(create_at(fx->m, "d/g", W1, T0 + 7), ==, 0);
	g_assert_cmpint(write_at(fx->m, "d/g", 0, "gg", 2, W1, T0 + 7), ==, 2);
	g_assert_cmpint(rename_at(fx->m, "d/g", "d/f", false, W1, T0 + 8), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(rename_at(fx->m, "d/f", "nodes/alpha/f", false, W1, T0 + 9), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(rename_at(fx->m, "d", "nodes/d", false, W2, T0 + 10), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(memdb_set_mtime(fx->m, ino_of(fx->m, "nodes/d"), 77, W2, T0 + 11), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(unlink_at(fx->m, "nodes/alpha/f", W1, T0 + 12), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(rmdir_at(fx->m, "nodes/d", W1, T0 + 13), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(mkdir_at(fx->m, "priv/lock/l", W1, T0 + 14), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(memdb_set_mtime(fx->m, ino_of(fx->m, "priv/lock/l"), T0 + 20, W1, T0 + 20),
			==, 0);
	assert_survives_reopen(fx);
	advance(LEASE_PLUS);
	uint64_t lv = memdb_lock_expired_version(fx->m, ino_of(fx->m, "priv/lock/l"));
	g_assert_cmpuint(lv, !=, 0);
	g_assert_cmpint(
	    memdb_mkdir_lock(fx->m, ino_of(fx->m, "priv/lock"), "l", lv, W2, T0 + 21, NULL), ==, 0);
	g_assert_cmpuint(attr_of(fx->m, "priv/lock/l").writer, ==, W2);
	assert_survives_reopen(fx);
	advance(LEASE_PLUS);
	lv = memdb_lock_expired_version(fx->m, ino_of(fx->m, "priv/lock/l"));
	g_assert_cmpuint(lv, !=, 0);
	g_assert_cmpint(
	    memdb_set_mtime_lock(fx->m, ino_of(fx->m, "priv/lock/l"), 0, lv, W1, T0 + 300), ==, 0);
	g_assert_false(exists(fx->m, "priv/lock/l"));
	assert_survives_reopen(fx);
	g_assert_false(exists(fx->m, "priv/lock/l"));
	g_assert_cmpint(create_at(fx->m, "nodes/alpha/qemu-server/100.conf", W1, T0 + 30), ==, 0);
	g_assert_cmpint(rename_at(fx->m, "nodes/alpha/qemu-server/100.conf",
				  "nodes/alpha/lxc/100.conf", false, W1, T0 + 31),
			==, 0);
	assert_survives_reopen(fx);
}

/* A VFS in front of SQLite's own that fails every write while
 * store_writes_fail is set: a full disk or an I/O error, at will. It is
 * the default VFS of this program; unset, it only passes calls on. */
static gboolean store_writes_fail;
static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;

typedef struct {
	sqlite3_file base;
	sqlite3_file *real; /* follows this struct in the same allocation */
} shim_file_t;

#define REAL(f) (((shim_file_t *)(f))->real)

static int shim_close(sqlite3_file *f)
{
	return REAL(f)->pMethods->xClose(REAL(f));
}

static int shim_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return REAL(f)->pMethods->xRead(REAL(f), buf, n, off);
}

static int shim_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	if (store_writes_fail)
		return SQLITE_IOERR_WRITE;
	return REAL(f)->pMethods->xWrite(REAL(f), buf, n, off);
}

static int shim_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	if (store_writes_fail)
		return SQLITE_IOERR_TRUNCATE;
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}

static int shim_sync(sqlite3_file *f, int flags)
{
	return REAL(f)->pMethods->xSync(REAL(f), flags);
}

static int shim_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return REAL(f)->pMethods->xFileSize(REAL(f), size);
}

static int shim_lock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xLock(REAL(f), l);
}

static int shim_unlock(sqlite3_file *f, int l)
{
	return REAL(f)->pMethods->xUnlock(REAL(f), l);
}

static int shim_reserved(sqlite3_file *f, int *out)
{
	return REAL(f)->pMethods->xCheckReservedLock(REAL(f), out);
}

static int shim_control(sqlite3_file *f, int op, void *arg)
{
	return REAL(f)->pMethods->xFileControl(REAL(f), op, arg);
}

static int shim_sector(sqlite3_file *f)
{
	return REAL(f)->pMethods->xSectorSize(REAL(f));
}

static int shim_devchar(sqlite3_file *f)
{
	return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f));
}

static int shim_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **p)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, extend, p);
}

static int shim_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
	return REAL(f)->pMethods->xShmLock(REAL(f), off, n, flags);
}

static void shim_shm_barrier(sqlite3_file *f)
{
	REAL(f)->pMethods->xShmBarrier(REAL(f));
}

static int shim_shm_unmap(sqlite3_file *f, int del)
{
	return REAL(f)->pMethods->xShmUnmap(REAL(f), del);
}

static int shim_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
	return REAL(f)->pMethods->xFetch(REAL(f), off, n, p);
}

static int shim_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return REAL(f)->pMethods->xUnfetch(REAL(f), off, p);
}

static const sqlite3_io_methods shim_io = {
    .iVersion = 3,
    .xClose = shim_close,
    .xRead = shim_read,
    .xWrite = shim_write,
    .xTruncate = shim_truncate,
    .xSync = shim_sync,
    .xFileSize = shim_size,
    .xLock = shim_lock,
    .xUnlock = shim_unlock,
    .xCheckReservedLock = shim_reserved,
    .xFileControl = shim_control,
    .xSectorSize = shim_sector,
    .xDeviceCharacteristics = shim_devchar,
    .xShmMap = shim_shm_map,
    .xShmLock = shim_shm_lock,
    .xShmBarrier = shim_shm_barrier,
    .xShmUnmap = shim_shm_unmap,
    .xFetch = shim_fetch,
    .xUnfetch = shim_unfetch,
};

static int shim_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out)
{
	shim_file_t *s = (shim_file_t *)f;

	s->real = (sqlite3_file *)(s + 1);
	int rc = real_vfs->xOpen(real_vfs, name, s->real, flags, out);
	/* SQLite closes a file only when its methods are set. */
	s->base.pMethods = rc == SQLITE_OK && s->real->pMethods ? &shim_io : NULL;
	return rc;
}

static void shim_register(void)
{
	real_vfs = sqlite3_vfs_find(NULL);
	g_assert_nonnull(real_vfs);
	shim_vfs = *real_vfs;
	shim_vfs.zName = "test-shim";
	shim_vfs.szOsFile = (int)sizeof(shim_file_t) + real_vfs->szOsFile;
	shim_vfs.xOpen = shim_open;
	g_assert_cmpint(sqlite3_vfs_register(&shim_vfs, 1), ==, SQLITE_OK);
}

/* A file removed or renamed over while held open leaves the tree but not
 * memory: writable and readable by inode, listed as an orphan, never
 * stored, and gone with its last hold. */
static void test_held_orphan(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	char buf[16] = {0};
	memdb_attr_t a;

	put_file(m, "f", "old");
	put_file(m, "g", "new");
	uint64_t f = ino_of(m, "f");
	memdb_hold(m, f);
	memdb_hold(m, f);
	g_autoptr(GArray) none = memdb_orphans(m);
	g_assert_cmpuint(none->len, ==, 0);
	g_assert_cmpint(memdb_orphan_write(m, f, 0, "x", 1, false), ==, -ENOENT);

	g_assert_cmpint(rename_at(m, "g", "f", false, W2, T0), ==, 0);
	{
		g_autofree char *c1 = content_of(m, "f");
		g_assert_cmpstr(c1, ==, "new");
	}
	g_autoptr(GArray) one = memdb_orphans(m);
	g_assert_cmpuint(one->len, ==, 1);
	g_assert_cmpuint(g_array_index(one, uint64_t, 0), ==, f);
	g_assert_cmpint(memdb_getattr(m, f, &a), ==, 0);
	g_assert_true(a.orphan);
	g_assert_cmpint(memdb_orphan_write(m, f, 3, "er", 2, false), ==, 2);
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 5);
	g_assert_cmpstr(buf, ==, "older");
	g_assert_cmpint(memdb_orphan_write(m, f, 0, "o", 1, true), ==, 1);
	g_assert_cmpint(memdb_getattr(m, f, &a), ==, 0);
	g_assert_cmpuint(a.size, ==, 1);
	/* Nothing of it reaches the tree or the store. */
	{
		g_autofree char *c2 = content_of(m, "f");
		g_assert_cmpstr(c2, ==, "new");
	}
	assert_survives_reopen(fx);
	m = fx->m;
	{
		g_autofree char *c3 = content_of(m, "f");
		g_assert_cmpstr(c3, ==, "new");
	}
}

/* The last hold of an orphan ends it; of a file still in the tree, it
 * changes nothing. */
static void test_held_release(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	memdb_attr_t a;

	put_file(m, "f", "x");
	put_file(m, "kept", "y");
	uint64_t f = ino_of(m, "f"), kept = ino_of(m, "kept");
	memdb_hold(m, f);
	memdb_hold(m, f);
	memdb_hold(m, kept);
	g_assert_cmpint(unlink_at(m, "f", W1, T0), ==, 0);
	memdb_unhold(m, f);
	g_assert_cmpint(memdb_getattr(m, f, &a), ==, 0);
	memdb_unhold(m, f);
	g_assert_cmpint(memdb_getattr(m, f, &a), ==, -ENOENT);
	g_autoptr(GArray) none = memdb_orphans(m);
	g_assert_cmpuint(none->len, ==, 0);
	memdb_unhold(m, kept);
	memdb_unhold(m, kept); /* one too many: harmless */
	{
		g_autofree char *c4 = content_of(m, "kept");
		g_assert_cmpstr(c4, ==, "y");
	}
}

/* A file removed while nobody held it can still be held for a while (an
 * open that raced its removal by another node): it becomes an orphan with
 * its content. Past MEMDB_RECENT_REMOVED later removals, or once the tree
 * was replaced, it cannot. */
static void test_held_recent(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	memdb_attr_t a;
	char buf[16] = {0};
	GError *err = NULL;

	put_file(m, "f", "old");
	put_file(m, "g", "new");
	uint64_t f = ino_of(m, "f");
	g_assert_cmpint(rename_at(m, "g", "f", false, W2, T0), ==, 0);
	g_assert_cmpint(memdb_getattr(m, f, &a), ==, -ENOENT);
	memdb_hold(m, f);
	g_assert_cmpint(memdb_getattr(m, f, &a), ==, 0);
	g_assert_true(a.orphan);
	g_assert_cmpint(memdb_read(m, f, 0, sizeof(buf), buf), ==, 3);
	g_assert_cmpstr(buf, ==, "old");
	memdb_unhold(m, f);
	g_assert_cmpint(memdb_getattr(m, f, &a), ==, -ENOENT);
	/* Its last hold ended it for good. */
	memdb_hold(m, f);
	g_assert_cmpint(memdb_getattr(m, f, &a), ==, -ENOENT);
	memdb_unhold(m, f);

	put_file(m, "h", "h");
	uint64_t h = ino_of(m, "h");
	g_assert_cmpint(unlink_at(m, "h", W1, T0), ==, 0);
	for (int i = 0; i < MEMDB_RECENT_REMOVED; i++) {
		g_autofree char *name = g_strdup_printf("x%d", i);
		put_file(m, name, "x");
		g_assert_cmpint(unlink_at(m, name, W1, T0), ==, 0);
	}
	memdb_hold(m, h);
	g_assert_cmpint(memdb_getattr(m, h, &a), ==, -ENOENT);
	memdb_unhold(m, h);

	put_file(m, "r", "r");
	uint64_t r = ino_of(m, "r");
	g_assert_cmpint(unlink_at(m, "r", W1, T0), ==, 0);
	g_autoptr(GVariant) dump = memdb_dump(m);
	g_assert_true(memdb_replace(m, dump, &err));
	g_assert_no_error(err);
	memdb_hold(m, r);
	g_assert_cmpint(memdb_getattr(m, r, &a), ==, -ENOENT);
	memdb_unhold(m, r);
}

/* While the store cannot be written, every change fails with EIO and
 * neither memory nor disk change; once it can, changes work again. */
static void test_persist_store_failure(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;

	g_assert_cmpint(memdb_ensure_layout(m, "n1", W1, T0), ==, 0);
	put_file(m, "f", "content");
	mkdirs(m, "d/sub");
	g_assert_cmpint(mkdir_at(m, "priv/lock/held", W1, T0), ==, 0);
	g_autofree char *before = dump(m);
	g_autofree char *sum = checksum_hex(m);

	store_writes_fail = TRUE;
	uint64_t f = ino_of(m, "f");
	g_assert_cmpint(create_at(m, "new", W1, T0), ==, -EIO);
	g_assert_cmpint(mkdir_at(m, "newdir", W1, T0), ==, -EIO);
	g_assert_cmpint(memdb_write(m, f, 0, "XX", 2, W1, T0), ==, -EIO);
	g_assert_cmpint(memdb_write(m, f, 100, "XX", 2, W1, T0), ==, -EIO);
	g_assert_cmpint(memdb_truncate(m, f, 1, W1, T0), ==, -EIO);
	g_assert_cmpint(memdb_truncate(m, f, 0, W1, T0), ==, -EIO);
	g_assert_cmpint(unlink_at(m, "f", W1, T0), ==, -EIO);
	g_assert_cmpint(rmdir_at(m, "d/sub", W1, T0), ==, -EIO);
	g_assert_cmpint(rename_at(m, "f", "d/f", false, W1, T0), ==, -EIO);
	g_assert_cmpint(rename_at(m, "d", "e", false, W1, T0), ==, -EIO);
	g_assert_cmpint(memdb_set_mtime(m, f, 5, W1, T0), ==, -EIO);
	g_assert_cmpint(memdb_set_mtime(m, ino_of(m, "priv/lock/held"), 0, W1, T0), ==, -EIO);
	advance(LEASE_PLUS);
	uint64_t lv = memdb_lock_expired_version(m, ino_of(m, "priv/lock/held"));
	g_assert_cmpuint(lv, !=, 0);
	g_assert_cmpint(memdb_mkdir_lock(m, ino_of(m, "priv/lock"), "held", lv, W2, T0, NULL), ==,
			-EIO);
	g_assert_cmpint(memdb_set_mtime_lock(m, ino_of(m, "priv/lock/held"), 0, lv, W2, T0), ==,
			-EIO);
	/* A change that failed is no change: the lock is still as it was. */
	g_assert_cmpuint(memdb_lock_expired_version(m, ino_of(m, "priv/lock/held")), ==, lv);
	g_assert_cmpint(memdb_ensure_layout(m, "n2", W1, T0), ==, -EIO);

	g_autofree char *during = dump(m);
	g_autofree char *sum2 = checksum_hex(m);
	g_assert_cmpstr(during, ==, before);
	g_assert_cmpstr(sum2, ==, sum);

	store_writes_fail = FALSE;
	assert_survives_reopen(fx);
	g_autofree char *after = dump(fx->m);
	g_assert_cmpstr(after, ==, before);
	/* And it works again. */
	g_assert_cmpint(create_at(fx->m, "new", W1, T0), ==, 0);
	assert_survives_reopen(fx);
}

/* The daemon holds the store's lock from open to close: another program
 * can neither write it nor read it meanwhile. */
static void test_store_is_exclusive(fx_t *fx, gconstpointer data)
{
	sqlite3 *other = NULL;

	g_assert_cmpint(memdb_ensure_layout(fx->m, "n1", W1, T0), ==, 0);
	g_assert_cmpint(sqlite3_open(fx->db, &other), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL) & 0xff, ==,
			SQLITE_BUSY);
	g_assert_cmpint(sqlite3_exec(other, "SELECT count(*) FROM tree", NULL, NULL, NULL) & 0xff,
			==, SQLITE_BUSY);
	sqlite3_close(other);

	/* A second store on the same file is refused, saying why. */
	g_autoptr(GError) err = NULL;
	dbstore_t *second = dbstore_open(fx->db, &err);
	g_assert_null(second);
	g_assert_nonnull(err);
	g_assert_nonnull(strstr(err->message, "in use by another process"));

	/* Closed, it is free again. */
	memdb_free(fx->m);
	fx->m = NULL;
	g_assert_cmpint(sqlite3_open(fx->db, &other), ==, SQLITE_OK);
	sqlite3_stmt *st = NULL;
	g_assert_cmpint(sqlite3_prepare_v2(other, "SELECT count(*) FROM tree", -1, &st, NULL), ==,
			SQLITE_OK);
	g_assert_cmpint(sqlite3_step(st), ==, SQLITE_ROW);
	g_assert_cmpint(sqlite3_column_int64(st, 0), >, 0);
	sqlite3_finalize(st);
	sqlite3_close(other);
}

/* ---- layout and attributes ---- */

static void test_layout(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	static const char *const dirs[] = {
	    "nodes",	      "nodes/pve1",	   "nodes/pve1/qemu-server",
	    "nodes/pve1/lxc", "nodes/pve1/openvz", "nodes/pve1/priv",
	    "priv",	      "priv/lock"};

	g_assert_cmpint(memdb_ensure_layout(m, "pve1", W1, T0), ==, 0);
	for (size_t i = 0; i < G_N_ELEMENTS(dirs); i++) {
		memdb_attr_t a;
		g_test_message("%s", dirs[i]);
		g_assert_cmpint(memdb_lookup_path(m, dirs[i], &a), ==, 0);
		g_assert_cmpint(a.type, ==, MEMDB_DIR);
		g_assert_cmpuint(a.writer, ==, W1);
	}
	/* Idempotent: nothing changes the second time. */
	g_autofree char *before = dump(m);
	g_assert_cmpint(memdb_ensure_layout(m, "pve1", W2, T0 + 50), ==, 0);
	g_autofree char *after = dump(m);
	g_assert_cmpstr(after, ==, before);
	assert_survives_reopen(fx);
	m = fx->m;
	g_assert_cmpint(memdb_ensure_layout(m, "pve1", W2, T0 + 60), ==, 0);
	g_autofree char *again = dump(m);
	g_assert_cmpstr(again, ==, before);

	/* Only what is missing is added. */
	g_assert_cmpint(rmdir_at(m, "nodes/pve1/lxc", W1, T0), ==, 0);
	uint64_t qemu = ino_of(m, "nodes/pve1/qemu-server");
	g_assert_cmpint(memdb_ensure_layout(m, "pve1", W2, T0 + 70), ==, 0);
	g_assert_cmpuint(attr_of(m, "nodes/pve1/lxc").writer, ==, W2);
	g_assert_cmpuint(ino_of(m, "nodes/pve1/qemu-server"), ==, qemu);
	/* Another node. */
	g_assert_cmpint(memdb_ensure_layout(m, "pve2", W2, T0 + 80), ==, 0);
	g_assert_true(exists(m, "nodes/pve2/qemu-server"));
	g_assert_true(exists(m, "nodes/pve2/lxc"));
	g_assert_true(exists(m, "nodes/pve2/priv"));
	g_assert_true(exists(m, "nodes/pve1/qemu-server"));

	/* A file in the way. */
	g_assert_cmpint(create_at(m, "nodes/pve3", W1, T0), ==, 0);
	g_assert_cmpint(memdb_ensure_layout(m, "pve3", W1, T0), ==, -ENOTDIR);
	/* A bad node name. */
	g_assert_cmpint(memdb_ensure_layout(m, "a/b", W1, T0), ==, -EINVAL);
	assert_survives_reopen(fx);
}

static void test_attr_in_priv(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	static const char *const yes[] = {"priv",
					  "priv/x",
					  "priv/lock",
					  "priv/lock/l",
					  "priv/sub",
					  "priv/sub/deep",
					  "nodes/n1/priv",
					  "nodes/n1/priv/x",
					  "nodes/n1/priv/d",
					  "nodes/n1/priv/d/y"};
	static const char *const no[] = {"",
					 "nodes",
					 "nodes/n1",
					 "nodes/n1/qemu-server",
					 "nodes/n1/qemu-server/100.conf",
					 "nodes/n1/lxc",
					 "private",
					 "privfile",
					 "datacenter.cfg"};

	g_assert_cmpint(memdb_ensure_layout(m, "n1", W1, T0), ==, 0);
	put_file(m, "priv/x", "secret");
	mkdirs(m, "priv/sub/deep");
	g_assert_cmpint(mkdir_at(m, "priv/lock/l", W1, T0), ==, 0);
	put_file(m, "nodes/n1/priv/x", "secret");
	mkdirs(m, "nodes/n1/priv/d");
	put_file(m, "nodes/n1/priv/d/y", "y");
	put_file(m, "nodes/n1/qemu-server/100.conf", "");
	mkdirs(m, "private");
	put_file(m, "privfile", "");
	put_file(m, "datacenter.cfg", "");

	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
			g_test_message("in priv: %s", yes[i]);
			g_assert_true(attr_of(fx->m, yes[i]).in_priv);
		}
		for (size_t i = 0; i < G_N_ELEMENTS(no); i++) {
			g_test_message("not in priv: %s", no[i]);
			g_assert_false(attr_of(fx->m, no[i]).in_priv);
		}
		/* Moving something in or out of priv/ changes the answer. */
		if (pass == 0) {
			g_assert_cmpint(rename_at(fx->m, "priv/x", "moved-out", false, W1, T0), ==,
					0);
			g_assert_false(attr_of(fx->m, "moved-out").in_priv);
			g_assert_cmpint(rename_at(fx->m, "moved-out", "priv/x", false, W1, T0), ==,
					0);
			reopen(fx);
		}
	}
}

static void test_attr_is_lock(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	static const char *const no[] = {"priv",	   "priv/lock",	   "priv/lock/l/sub",
					 "priv/lock/file", "priv/other/x", "nodes/n1/priv/lock/x",
					 "lock/x",	   "nodes/n1/lxc"};

	g_assert_cmpint(memdb_ensure_layout(m, "n1", W1, T0), ==, 0);
	g_assert_cmpint(mkdir_at(m, "priv/lock/l", W1, T0), ==, 0);
	g_assert_cmpint(mkdir_at(m, "priv/lock/l/sub", W1, T0), ==, 0);
	g_assert_cmpint(mkdir_at(m, "priv/lock/other", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "priv/lock/file", W1, T0), ==, 0);
	mkdirs(m, "priv/other/x");
	mkdirs(m, "nodes/n1/priv/lock/x");
	mkdirs(m, "lock/x");

	memdb_attr_t a;
	g_assert_cmpint(memdb_mkdir(m, ino_of(m, "priv/lock"), "new", W1, T0, &a), ==, 0);
	g_assert_true(a.is_lock);
	g_assert_true(a.in_priv);
	for (int pass = 0; pass < 2; pass++) {
		g_assert_true(attr_of(fx->m, "priv/lock/l").is_lock);
		g_assert_true(attr_of(fx->m, "priv/lock/other").is_lock);
		for (size_t i = 0; i < G_N_ELEMENTS(no); i++) {
			g_test_message("not a lock: %s", no[i]);
			g_assert_false(attr_of(fx->m, no[i]).is_lock);
		}
		reopen(fx);
	}
}

/* ---- guests ---- */

static void test_guest_unique(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;

	g_assert_cmpint(memdb_ensure_layout(m, "A", W1, T0), ==, 0);
	g_assert_cmpint(memdb_ensure_layout(m, "B", W2, T0), ==, 0);
	put_file(m, "nodes/A/lxc/100.conf", "arch: amd64\n");
	g_autofree char *before = dump(m);

	g_assert_cmpint(create_at(m, "nodes/B/qemu-server/100.conf", W2, T0), ==, -EEXIST);
	g_assert_cmpint(create_at(m, "nodes/B/lxc/100.conf", W2, T0), ==, -EEXIST);
	g_assert_cmpint(create_at(m, "nodes/A/qemu-server/100.conf", W1, T0), ==, -EEXIST);
	g_assert_cmpint(create_at(m, "nodes/A/lxc/100.conf", W1, T0), ==, -EEXIST);
	g_autofree char *after = dump(m);
	g_assert_cmpstr(after, ==, before);

	/* Other IDs are free, also on other nodes. */
	g_assert_cmpint(create_at(m, "nodes/B/qemu-server/101.conf", W2, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/A/qemu-server/102.conf", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/B/lxc/1000.conf", W2, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/A/qemu-server/1000.conf", W1, T0), ==, -EEXIST);
	g_assert_cmpint(create_at(m, "nodes/A/lxc/10.conf", W1, T0), ==, 0);

	/* A node directory created later is checked too. */
	g_assert_cmpint(memdb_ensure_layout(m, "C", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/C/qemu-server/101.conf", W1, T0), ==, -EEXIST);

	/* Once the config is gone, the ID is free. */
	g_assert_cmpint(unlink_at(m, "nodes/A/lxc/100.conf", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/B/qemu-server/100.conf", W2, T0), ==, 0);
	assert_survives_reopen(fx);
	g_assert_cmpint(create_at(fx->m, "nodes/C/lxc/100.conf", W1, T0), ==, -EEXIST);
}

static void test_guest_migrate(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;

	g_assert_cmpint(memdb_ensure_layout(m, "A", W1, T0), ==, 0);
	g_assert_cmpint(memdb_ensure_layout(m, "B", W2, T0), ==, 0);
	put_file(m, "nodes/A/qemu-server/100.conf", "memory: 512\n");
	uint64_t ino = ino_of(m, "nodes/A/qemu-server/100.conf");
	g_assert_cmpint(rename_at(m, "nodes/A/qemu-server/100.conf", "nodes/B/qemu-server/100.conf",
				  false, W1, T0 + 1),
			==, 0);
	g_assert_false(exists(m, "nodes/A/qemu-server/100.conf"));
	g_assert_cmpuint(ino_of(m, "nodes/B/qemu-server/100.conf"), ==, ino);
	g_autofree char *c = content_of(m, "nodes/B/qemu-server/100.conf");
	g_assert_cmpstr(c, ==, "memory: 512\n");
	/* And back, with noreplace as mv -n would. */
	g_assert_cmpint(rename_at(m, "nodes/B/qemu-server/100.conf", "nodes/A/qemu-server/100.conf",
				  true, W2, T0 + 2),
			==, 0);
	/* Within a node, between the two types. */
	g_assert_cmpint(
	    rename_at(m, "nodes/A/qemu-server/100.conf", "nodes/A/lxc/100.conf", false, W1, T0 + 3),
	    ==, 0);
	g_assert_true(exists(m, "nodes/A/lxc/100.conf"));
	assert_survives_reopen(fx);
}

/* Renaming any other file to a guest ID in use fails. */
static void test_guest_rename_taken(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;

	g_assert_cmpint(memdb_ensure_layout(m, "A", W1, T0), ==, 0);
	g_assert_cmpint(memdb_ensure_layout(m, "B", W2, T0), ==, 0);
	put_file(m, "nodes/A/qemu-server/100.conf", "a");
	put_file(m, "nodes/B/qemu-server/101.conf", "b");
	put_file(m, "nodes/B/qemu-server/new.tmp", "tmp");
	put_file(m, "nodes/B/lxc/100.conf.tmp", "tmp");
	put_file(m, "elsewhere", "x");
	g_autofree char *before = dump(m);

	g_assert_cmpint(rename_at(m, "nodes/B/qemu-server/new.tmp", "nodes/B/qemu-server/100.conf",
				  false, W2, T0),
			==, -EEXIST);
	g_assert_cmpint(
	    rename_at(m, "nodes/B/lxc/100.conf.tmp", "nodes/B/lxc/100.conf", false, W2, T0), ==,
	    -EEXIST);
	g_assert_cmpint(rename_at(m, "elsewhere", "nodes/A/lxc/100.conf", false, W2, T0), ==,
			-EEXIST);
	/* Another guest's config onto an ID in use (not over the same file). */
	g_assert_cmpint(
	    rename_at(m, "nodes/B/qemu-server/101.conf", "nodes/B/lxc/100.conf", false, W2, T0), ==,
	    -EEXIST);
	g_autofree char *after = dump(m);
	g_assert_cmpstr(after, ==, before);
	/* To a free ID it works. */
	g_assert_cmpint(rename_at(m, "nodes/B/qemu-server/new.tmp", "nodes/B/qemu-server/102.conf",
				  false, W2, T0),
			==, 0);
}

/* The editors' pattern on a guest config: write 100.conf.tmp next to it and
 * rename it over 100.conf. The ID stays with the same node, so this must
 * work (the reference allows it: only a different VM with the ID is a
 * conflict). */
static void test_guest_replace_config(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;

	g_assert_cmpint(memdb_ensure_layout(m, "A", W1, T0), ==, 0);
	put_file(m, "nodes/A/qemu-server/100.conf", "memory: 512\n");
	put_file(m, "nodes/A/qemu-server/100.conf.tmp", "memory: 1024\n");
	g_assert_cmpint(rename_at(m, "nodes/A/qemu-server/100.conf.tmp",
				  "nodes/A/qemu-server/100.conf", false, W1, T0 + 1),
			==, 0);
	g_autofree char *c = content_of(m, "nodes/A/qemu-server/100.conf");
	g_assert_cmpstr(c, ==, "memory: 1024\n");
	g_assert_false(exists(m, "nodes/A/qemu-server/100.conf.tmp"));
}

/* Names that are not VMID.conf are not guest configs: no uniqueness check. */
static void test_guest_non_vm_names(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	static const char *const names[] = {"100.conf.tmp", "0100.conf", "abc.conf",
					    "100",	    "100.cfg",	 ".conf",
					    "1x0.conf",	    "100.conf~", "1000000000.conf"};

	g_assert_cmpint(memdb_ensure_layout(m, "A", W1, T0), ==, 0);
	g_assert_cmpint(memdb_ensure_layout(m, "B", W2, T0), ==, 0);
	put_file(m, "nodes/A/qemu-server/100.conf", "");
	for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *a = g_strdup_printf("nodes/A/qemu-server/%s", names[i]);
		g_autofree char *b = g_strdup_printf("nodes/B/qemu-server/%s", names[i]);
		g_autofree char *c = g_strdup_printf("nodes/B/lxc/%s", names[i]);
		g_test_message("%s", names[i]);
		g_assert_cmpint(create_at(m, a, W1, T0), ==, 0);
		g_assert_cmpint(create_at(m, b, W2, T0), ==, 0);
		g_assert_cmpint(unlink_at(m, b, W2, T0), ==, 0);
		g_assert_cmpint(rename_at(m, a, b, false, W2, T0), ==, 0);
		g_assert_cmpint(create_at(m, c, W2, T0), ==, 0);
	}
	/* VMID.conf outside nodes/NODE/{qemu-server,lxc} is not checked. */
	mkdirs(m, "qemu-server");
	mkdirs(m, "x/nodes/B/qemu-server");
	mkdirs(m, "nodes/B/other");
	g_assert_cmpint(create_at(m, "qemu-server/100.conf", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "x/nodes/B/qemu-server/100.conf", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/B/other/100.conf", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/B/priv/100.conf", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/100.conf", W1, T0), ==, 0);
	/* A directory named like a config is not a config. */
	g_assert_cmpint(mkdir_at(m, "nodes/B/lxc/100.conf", W1, T0), ==, 0);
}

typedef struct {
	GString *out;
} guests_t;

static void collect_guest(void *ctx, uint32_t vmid, const char *node, memdb_guest_type_t type,
			  uint64_t version)
{
	guests_t *g = ctx;

	g_string_append_printf(g->out, "%s %s %u %llu\n", node,
			       type == MEMDB_GUEST_QEMU ? "qemu" : "lxc", vmid,
			       (unsigned long long)version);
}

static char *list_guests(memdb_t *m)
{
	guests_t g = {.out = g_string_new(NULL)};

	memdb_foreach_guest(m, collect_guest, &g);
	return g_string_free(g.out, FALSE);
}

static void test_guest_foreach(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t v[8];

	g_autofree char *none = list_guests(m);
	g_assert_cmpstr(none, ==, "");
	g_assert_cmpint(memdb_ensure_layout(m, "pve2", W1, T0), ==, 0);
	g_assert_cmpint(memdb_ensure_layout(m, "pve1", W1, T0), ==, 0);
	g_assert_cmpint(memdb_ensure_layout(m, "pve3", W1, T0), ==, 0);
	/* Created out of order; all IDs of the same width. */
	static const char *const files[] = {
	    "nodes/pve2/lxc/301.conf",	       "nodes/pve1/qemu-server/102.conf",
	    "nodes/pve2/qemu-server/201.conf", "nodes/pve1/lxc/103.conf",
	    "nodes/pve1/qemu-server/101.conf", "nodes/pve2/lxc/300.conf",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
		g_assert_cmpint(create_at(m, files[i], W1, T0), ==, 0);
		v[i] = memdb_version(m);
	}
	/* Change one: its version follows. */
	g_assert_cmpint(write_at(m, "nodes/pve1/lxc/103.conf", 0, "x", 1, W1, T0), ==, 1);
	v[3] = memdb_version(m);
	/* Not guests. */
	put_file(m, "nodes/pve1/qemu-server/104.conf.tmp", "");
	put_file(m, "nodes/pve1/priv/105.conf", "");
	mkdirs(m, "nodes/pve3/qemu-server/106.conf");

	g_autofree char *want = g_strdup_printf("pve1 qemu 101 %llu\n"
						"pve1 qemu 102 %llu\n"
						"pve1 lxc 103 %llu\n"
						"pve2 qemu 201 %llu\n"
						"pve2 lxc 300 %llu\n"
						"pve2 lxc 301 %llu\n",
						(unsigned long long)v[4], (unsigned long long)v[1],
						(unsigned long long)v[3], (unsigned long long)v[2],
						(unsigned long long)v[5], (unsigned long long)v[0]);
	g_autofree char *got = list_guests(m);
	g_assert_cmpstr(got, ==, want);
	reopen(fx);
	g_autofree char *got2 = list_guests(fx->m);
	g_assert_cmpstr(got2, ==, want);
}

/* The header promises vmid order; IDs of different widths sort as numbers
 * (99 < 100 < 101 < 1000), not as strings. */
static void test_guest_foreach_numeric(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;

	g_assert_cmpint(memdb_ensure_layout(m, "n", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/n/qemu-server/1000.conf", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/n/qemu-server/101.conf", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/n/qemu-server/99.conf", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/n/qemu-server/100.conf", W1, T0), ==, 0);
	guests_t g = {.out = g_string_new(NULL)};
	memdb_foreach_guest(m, collect_guest, &g);
	g_autofree char *got = g_string_free(g.out, FALSE);
	GString *ids = g_string_new(NULL);
	g_auto(GStrv) lines = g_strsplit(got, "\n", -1);
	for (char **l = lines; *l && **l; l++) {
		g_auto(GStrv) f = g_strsplit(*l, " ", -1);
		g_string_append_printf(ids, "%s ", f[2]);
	}
	g_autofree char *order = g_string_free(ids, FALSE);
	g_assert_cmpstr(order, ==, "99 100 101 1000 ");
}

/* memdb_guest_dirs_version moves forward whenever the set of guests
 * changes: added, removed, moved, or their directory renamed away. */
static void test_guest_dirs_version(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t last;

#define GROWS(expr)                                                                                \
	do {                                                                                       \
		g_assert_cmpint((expr), ==, 0);                                                    \
		uint64_t now_ = memdb_guest_dirs_version(m);                                       \
		if (now_ <= last)                                                                  \
			g_test_message("version did not grow after %s", #expr);                    \
		g_assert_cmpuint(now_, >, last);                                                   \
		last = now_;                                                                       \
	} while (0)

	g_assert_cmpint(memdb_ensure_layout(m, "A", W1, T0), ==, 0);
	g_assert_cmpint(memdb_ensure_layout(m, "B", W1, T0), ==, 0);
	last = memdb_guest_dirs_version(m);
	g_assert_cmpuint(last, >, 0);
	GROWS(create_at(m, "nodes/A/qemu-server/100.conf", W1, T0));
	GROWS(create_at(m, "nodes/B/lxc/200.conf", W1, T0));
	GROWS(rename_at(m, "nodes/A/qemu-server/100.conf", "nodes/B/qemu-server/100.conf", false,
			W1, T0));
	GROWS(unlink_at(m, "nodes/B/lxc/200.conf", W1, T0));
	GROWS(create_at(m, "nodes/A/lxc/300.conf", W1, T0));
	/* A content change is not a change of the guest set. */
	g_assert_cmpint(write_at(m, "nodes/A/lxc/300.conf", 0, "x", 1, W1, T0), ==, 1);
	g_assert_cmpuint(memdb_guest_dirs_version(m), ==, last);
	/* A whole node renamed. */
	GROWS(rename_at(m, "nodes/A", "nodes/C", false, W1, T0));
	/* A guest directory renamed away: guest 100 disappears. */
	GROWS(rename_at(m, "nodes/B/qemu-server", "nodes/B/old", false, W1, T0));
	g_autofree char *guests = list_guests(m);
	g_assert_null(strstr(guests, " 100 "));
	/* And back. */
	GROWS(rename_at(m, "nodes/B/old", "nodes/B/qemu-server", false, W1, T0));
	assert_survives_reopen(fx);
	g_assert_cmpuint(memdb_guest_dirs_version(fx->m), ==, last);
#undef GROWS
}

/* ---- locks ---- */

static uint64_t lock_dir(memdb_t *m)
{
	g_assert_cmpint(memdb_ensure_layout(m, "n1", W1, T0), ==, 0);
	return ino_of(m, "priv/lock");
}

static void test_lock_mkdir_twice(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t locks = lock_dir(m);
	memdb_attr_t a;

	g_assert_cmpint(memdb_mkdir(m, locks, "vm-100", W1, T0, &a), ==, 0);
	g_assert_true(a.is_lock);
	g_assert_cmpuint(a.writer, ==, W1);
	g_autofree char *before = dump(m);
	g_assert_cmpint(memdb_mkdir(m, locks, "vm-100", W1, T0 + 1, NULL), ==, -EEXIST);
	g_assert_cmpint(memdb_mkdir(m, locks, "vm-100", W2, T0 + 1, NULL), ==, -EEXIST);
	/* The time an op carries is the writer's wall clock: however far
	 * ahead, it is no expiry. */
	g_assert_cmpint(memdb_mkdir(m, locks, "vm-100", W2, T0 + 100 * MEMDB_LOCK_TIMEOUT, NULL),
			==, -EEXIST);
	g_assert_cmpint(memdb_mkdir(m, locks, "vm-100", W1, T0 + 100 * MEMDB_LOCK_TIMEOUT, NULL),
			==, -EEXIST);
	/* Nor is a lock version this node has not seen expire. */
	g_assert_cmpint(memdb_mkdir_lock(m, locks, "vm-100", a.version + 1, W2, T0, NULL), ==,
			-EEXIST);
	g_assert_cmpint(memdb_mkdir_lock(m, locks, "vm-100", a.version - 1, W2, T0, NULL), ==,
			-EEXIST);
	/* A file is never a lock. */
	g_assert_cmpint(memdb_create(m, locks, "vm-100", W2, T0 + 10000, NULL), ==, -EEXIST);
	g_autofree char *after = dump(m);
	g_assert_cmpstr(after, ==, before);
	/* Once gone, mkdir takes it, lock version or not. */
	g_assert_cmpint(memdb_rmdir(m, locks, "vm-100", W1, T0 + 2), ==, 0);
	g_assert_cmpint(memdb_mkdir_lock(m, locks, "vm-100", a.version, W2, T0 + 3, &a), ==, 0);
	g_assert_cmpuint(a.writer, ==, W2);
}

/* The lease runs on this node's monotonic clock from when it saw the
 * lock's current version. */
static void test_lock_expired_version(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t locks = lock_dir(m);
	memdb_attr_t a;

	g_assert_cmpint(memdb_mkdir(m, locks, "l", W1, T0, &a), ==, 0);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, 0);
	advance(LEASE);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, 0);
	advance(1);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, a.version);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==,
			 attr_of(m, "priv/lock/l").version);

	/* The holder renews: the lease starts again. */
	g_assert_cmpint(memdb_set_mtime(m, a.inode, T0 + 60, W1, T0 + 60), ==, 0);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, 0);
	advance(LEASE);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, 0);
	advance(1);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==,
			 attr_of(m, "priv/lock/l").version);

	/* Anything but a lock never expires. */
	mkdirs(m, "nodes/n1/priv/lock/x");
	g_assert_cmpint(create_at(m, "priv/lock/file", W1, T0), ==, 0);
	g_assert_cmpint(mkdir_at(m, "priv/lock/l2", W1, T0), ==, 0);
	g_assert_cmpint(mkdir_at(m, "priv/lock/l2/sub", W1, T0), ==, 0);
	advance(10 * LEASE);
	g_assert_cmpuint(memdb_lock_expired_version(m, ino_of(m, "priv/lock")), ==, 0);
	g_assert_cmpuint(memdb_lock_expired_version(m, ino_of(m, "priv/lock/file")), ==, 0);
	g_assert_cmpuint(memdb_lock_expired_version(m, ino_of(m, "priv/lock/l2/sub")), ==, 0);
	g_assert_cmpuint(memdb_lock_expired_version(m, ino_of(m, "nodes/n1/priv/lock/x")), ==, 0);
	g_assert_cmpuint(memdb_lock_expired_version(m, MEMDB_ROOT_INODE), ==, 0);
	g_assert_cmpuint(memdb_lock_expired_version(m, 987654), ==, 0);
	g_assert_cmpuint(memdb_lock_expired_version(m, ino_of(m, "priv/lock/l2")), !=, 0);
}

/* A holder setting an mtime in the past renews its lock like any other
 * mtime: expiry never follows the mtime a writer chose. */
static void test_lock_touch_past(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t locks = lock_dir(m);
	memdb_attr_t a;

	g_assert_cmpint(memdb_mkdir(m, locks, "l", W1, T0, &a), ==, 0);
	advance(LEASE / 2);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, 1, W1, T0 + 60), ==, 0);
	g_assert_cmpuint(attr_of(m, "priv/lock/l").mtime, ==, 1);
	advance(LEASE / 2 + 1);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, 0);
	g_autofree char *before = dump(m);
	g_assert_cmpint(memdb_mkdir(m, locks, "l", W2, T0 + 200, NULL), ==, -EEXIST);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, 0, W2, T0 + 200), ==, -EACCES);
	g_autofree char *after = dump(m);
	g_assert_cmpstr(after, ==, before);
	/* It expires a lease after the touch. */
	advance(LEASE / 2);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), !=, 0);
}

static void test_lock_renew(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t locks = lock_dir(m);
	memdb_attr_t a;

	g_assert_cmpint(memdb_mkdir(m, locks, "l", W1, T0, &a), ==, 0);
	/* The holder renews. */
	g_assert_cmpint(memdb_set_mtime(m, a.inode, T0 + 60, W1, T0 + 60), ==, 0);
	memdb_attr_t b;
	g_assert_cmpint(memdb_getattr(m, a.inode, &b), ==, 0);
	g_assert_cmpuint(b.mtime, ==, T0 + 60);
	g_assert_cmpuint(b.writer, ==, W1);
	g_assert_cmpuint(b.version, ==, memdb_version(m));

	/* Another node can neither renew nor release it before it expires,
	 * whatever time its op carries. */
	g_autofree char *before = dump(m);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, T0 + 70, W2, T0 + 70), ==, -EACCES);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, 0, W2, T0 + 70), ==, -EACCES);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, 0, W2, T0 + 100 * MEMDB_LOCK_TIMEOUT), ==,
			-EACCES);
	g_assert_cmpint(memdb_set_mtime_lock(m, a.inode, 0, b.version + 1, W2, T0), ==, -EACCES);
	g_autofree char *after = dump(m);
	g_assert_cmpstr(after, ==, before);

	/* The holder renews again, even much later, and needs no version. */
	advance(10 * LEASE);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, T0 + 500, W1, T0 + 500), ==, 0);
	g_assert_cmpint(memdb_getattr(m, a.inode, &b), ==, 0);
	g_assert_cmpuint(b.mtime, ==, T0 + 500);
	assert_survives_reopen(fx);
}

static void test_lock_release_by_holder(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t locks = lock_dir(m);
	memdb_attr_t a;

	g_assert_cmpint(memdb_mkdir(m, locks, "l", W1, T0, &a), ==, 0);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, 0, W1, T0 + 5), ==, 0);
	g_assert_false(exists(m, "priv/lock/l"));
	memdb_attr_t b;
	g_assert_cmpint(memdb_getattr(m, a.inode, &b), ==, -ENOENT);
	memdb_attr_t p = attr_of(m, "priv/lock");
	g_assert_cmpuint(p.version, ==, memdb_version(m));
	g_assert_cmpuint(p.mtime, ==, T0 + 5);
	assert_survives_reopen(fx);
	m = fx->m;
	g_assert_false(exists(m, "priv/lock/l"));
	/* Anyone can take it now. */
	g_assert_cmpint(memdb_mkdir(m, ino_of(m, "priv/lock"), "l", W2, T0 + 6, &a), ==, 0);
	g_assert_cmpuint(a.writer, ==, W2);
}

static void test_lock_release_expired(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t locks = lock_dir(m);
	memdb_attr_t a;

	g_assert_cmpint(memdb_mkdir(m, locks, "l", W1, T0, &a), ==, 0);
	advance(LEASE);
	g_assert_cmpint(memdb_set_mtime_lock(m, a.inode, 0, memdb_lock_expired_version(m, a.inode),
					     W2, T0 + 100 * MEMDB_LOCK_TIMEOUT),
			==, -EACCES);
	g_assert_true(exists(m, "priv/lock/l"));
	advance(1);
	uint64_t lv = memdb_lock_expired_version(m, a.inode);
	g_assert_cmpuint(lv, ==, a.version);
	/* Its op's time does not matter either way. */
	g_assert_cmpint(memdb_set_mtime_lock(m, a.inode, 0, lv, W2, 1), ==, 0);
	g_assert_false(exists(m, "priv/lock/l"));
	g_assert_cmpuint(attr_of(m, "priv/lock").writer, ==, W2);
	assert_survives_reopen(fx);
	g_assert_false(exists(fx->m, "priv/lock/l"));
}

/* The version a node saw expire is stale once the lock changed: every
 * member refuses the takeover or release alike. */
static void test_lock_renewed_after_observed(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t locks = lock_dir(m);
	memdb_attr_t a;

	g_assert_cmpint(memdb_mkdir(m, locks, "l", W1, T0, &a), ==, 0);
	advance(LEASE_PLUS);
	uint64_t lv = memdb_lock_expired_version(m, a.inode);
	g_assert_cmpuint(lv, ==, a.version);
	/* The holder's renewal is ordered before the other node's request. */
	g_assert_cmpint(memdb_set_mtime(m, a.inode, T0 + 1, W1, T0 + 1), ==, 0);
	g_autofree char *before = dump(m);
	g_assert_cmpint(memdb_mkdir_lock(m, locks, "l", lv, W2, T0 + 2, NULL), ==, -EEXIST);
	g_assert_cmpint(memdb_set_mtime_lock(m, a.inode, 0, lv, W2, T0 + 2), ==, -EACCES);
	g_assert_cmpint(memdb_set_mtime_lock(m, a.inode, T0 + 2, lv, W2, T0 + 2), ==, -EACCES);
	g_autofree char *after = dump(m);
	g_assert_cmpstr(after, ==, before);
	g_assert_cmpuint(attr_of(m, "priv/lock/l").writer, ==, W1);

	/* A lock released and made again is another version too. */
	advance(LEASE_PLUS);
	lv = memdb_lock_expired_version(m, a.inode);
	g_assert_cmpuint(lv, !=, 0);
	g_assert_cmpint(memdb_rmdir(m, locks, "l", W1, T0 + 3), ==, 0);
	g_assert_cmpint(memdb_mkdir(m, locks, "l", W1, T0 + 4, &a), ==, 0);
	g_assert_cmpint(memdb_mkdir_lock(m, locks, "l", lv, W2, T0 + 5, NULL), ==, -EEXIST);
	g_assert_cmpint(memdb_set_mtime_lock(m, a.inode, 0, lv, W2, T0 + 5), ==, -EACCES);
	g_assert_cmpuint(attr_of(m, "priv/lock/l").writer, ==, W1);
}

static void test_lock_renew_expired(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t locks = lock_dir(m);
	memdb_attr_t a, b;

	g_assert_cmpint(memdb_mkdir(m, locks, "l", W1, T0, &a), ==, 0);
	advance(LEASE_PLUS);
	uint64_t lv = memdb_lock_expired_version(m, a.inode);
	g_assert_cmpint(memdb_set_mtime_lock(m, a.inode, T0 + 5, lv, W2, T0 + 5), ==, 0);
	g_assert_cmpint(memdb_getattr(m, a.inode, &b), ==, 0);
	g_assert_cmpuint(b.writer, ==, W2);
	g_assert_cmpuint(b.mtime, ==, T0 + 5);
	/* Its lease starts again, and the old holder is the other one now,
	 * even with the version it had. */
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, 0);
	g_assert_cmpint(memdb_set_mtime_lock(m, a.inode, T0 + 6, lv, W1, T0 + 6), ==, -EACCES);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, 0, W1, T0 + 6), ==, -EACCES);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, 0, W2, T0 + 6), ==, 0);
	g_assert_false(exists(m, "priv/lock/l"));
}

static void test_lock_takeover(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t locks = lock_dir(m);
	memdb_attr_t a, b;

	g_assert_cmpint(memdb_mkdir(m, locks, "l", W1, T0, &a), ==, 0);
	/* Before expiry on this node's clock: EEXIST, even with an op time far
	 * ahead. */
	advance(LEASE);
	g_assert_cmpint(memdb_mkdir_lock(m, locks, "l", memdb_lock_expired_version(m, a.inode), W2,
					 T0 + 100 * MEMDB_LOCK_TIMEOUT, NULL),
			==, -EEXIST);
	g_assert_cmpuint(attr_of(m, "priv/lock/l").writer, ==, W1);
	/* After: taken over, same directory, new holder and time. */
	advance(1);
	uint64_t v = memdb_version(m);
	g_assert_cmpint(
	    memdb_mkdir_lock(m, locks, "l", memdb_lock_expired_version(m, a.inode), W2, T0 + 7, &b),
	    ==, 0);
	g_assert_cmpuint(b.inode, ==, a.inode);
	g_assert_cmpuint(b.writer, ==, W2);
	g_assert_cmpuint(b.mtime, ==, T0 + 7);
	g_assert_true(b.is_lock);
	g_assert_cmpuint(memdb_version(m), ==, v + 1);
	g_assert_cmpuint(b.version, ==, v + 1);
	/* The new holder's lease starts now. */
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, 0);
	/* The new holder renews; the old one cannot. */
	g_assert_cmpint(memdb_set_mtime(m, a.inode, T0 + 10, W1, T0 + 10), ==, -EACCES);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, T0 + 10, W2, T0 + 10), ==, 0);
	assert_survives_reopen(fx);
	m = fx->m;
	g_assert_cmpuint(attr_of(m, "priv/lock/l").writer, ==, W2);
	/* The former holder can take it back once it expired again. */
	advance(LEASE_PLUS);
	g_assert_cmpint(memdb_mkdir_lock(m, ino_of(m, "priv/lock"), "l",
					 memdb_lock_expired_version(m, a.inode), W1, T0 + 11, &b),
			==, 0);
	g_assert_cmpuint(b.writer, ==, W1);
}

/* A node that loads its tree, at start or from another member in a sync,
 * sees every lock in it for the first time then. */
static void test_lock_observation_restarts(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	uint64_t locks = lock_dir(m);
	memdb_attr_t a;

	g_assert_cmpint(memdb_mkdir(m, locks, "l", W1, T0, &a), ==, 0);
	advance(LEASE - SEC);
	reopen(fx);
	m = fx->m;
	advance(2 * SEC);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, 0);
	advance(LEASE - SEC);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, a.version);

	/* The same tree taken over whole: seen anew. */
	g_autoptr(GVariant) d = memdb_dump(m);
	GError *err = NULL;
	g_assert_true(memdb_replace(m, d, &err));
	g_assert_no_error(err);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, 0);
	advance(LEASE);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, 0);
	advance(1);
	g_assert_cmpuint(memdb_lock_expired_version(m, a.inode), ==, a.version);
}

/* Outside priv/lock/ directories have no lock semantics. */
static void test_lock_not_a_lock(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	memdb_attr_t a;

	g_assert_cmpint(memdb_ensure_layout(m, "n1", W1, T0), ==, 0);
	mkdirs(m, "nodes/n1/priv/lock");
	g_assert_cmpint(memdb_mkdir(m, ino_of(m, "nodes/n1/priv/lock"), "l", W1, T0, &a), ==, 0);
	g_assert_false(a.is_lock);
	/* mkdir again much later: still EEXIST, no takeover. */
	g_assert_cmpint(memdb_mkdir(m, ino_of(m, "nodes/n1/priv/lock"), "l", W2, T0 + 100000, NULL),
			==, -EEXIST);
	/* Any writer sets the mtime, and 0 is just a time. */
	g_assert_cmpint(memdb_set_mtime(m, a.inode, 5, W2, T0), ==, 0);
	g_assert_cmpint(memdb_set_mtime(m, a.inode, 0, W2, T0), ==, 0);
	g_assert_true(exists(m, "nodes/n1/priv/lock/l"));
	g_assert_cmpuint(attr_of(m, "nodes/n1/priv/lock/l").mtime, ==, 0);
	/* priv/lock itself neither. */
	g_assert_cmpint(memdb_set_mtime(m, ino_of(m, "priv/lock"), 0, W2, T0), ==, 0);
	g_assert_true(exists(m, "priv/lock"));
	/* A lock directory that has content is not taken over. */
	g_assert_cmpint(mkdir_at(m, "priv/lock/full", W1, T0), ==, 0);
	g_assert_cmpint(create_at(m, "priv/lock/full/owner", W1, T0), ==, 0);
	g_assert_cmpint(mkdir_at(m, "priv/lock/full", W2, T0 + 10 * MEMDB_LOCK_TIMEOUT), ==,
			-EEXIST);
	g_assert_cmpint(memdb_set_mtime(m, ino_of(m, "nodes"), 9, W1, T0), ==, 0);
	g_assert_cmpint(memdb_set_mtime(m, 987654, 9, W1, T0), ==, -ENOENT);
}

/* ---- checksum ---- */

enum { SAME, OTHER_BYTE, OTHER_MTIME, OTHER_WRITER, OTHER_NAME };

static void scenario(memdb_t *m, int variant)
{
	g_assert_cmpint(memdb_ensure_layout(m, "A", W1, T0), ==, 0);
	g_assert_cmpint(memdb_ensure_layout(m, "B", W2, T0 + 1), ==, 0);
	put_file(m, "nodes/A/qemu-server/100.conf", "memory: 512\ncores: 2\n");
	put_file(m, "datacenter.cfg", "keyboard: en-us\n");
	g_assert_cmpint(rename_at(m, "nodes/A/qemu-server/100.conf", "nodes/B/qemu-server/100.conf",
				  false, W2, T0 + 2),
			==, 0);
	g_assert_cmpint(mkdir_at(m, "priv/lock/x", W1, T0 + 3), ==, 0);
	g_assert_cmpint(create_at(m, "nodes/B/lxc/200.conf", W2, T0 + 4), ==, 0);
	g_assert_cmpint(unlink_at(m, "nodes/B/lxc/200.conf", W2, T0 + 5), ==, 0);
	g_assert_cmpint(truncate_at(m, "datacenter.cfg", 40, W1, T0 + 6), ==, 0);
	const char *last = variant == OTHER_BYTE ? "memory: 513" : "memory: 512";
	g_assert_cmpint(write_at(m, "nodes/B/qemu-server/100.conf", 0, last, strlen(last),
				 variant == OTHER_WRITER ? W1 : W2,
				 variant == OTHER_MTIME ? T0 + 8 : T0 + 7),
			==, (int)strlen(last));
	g_assert_cmpint(create_at(m, variant == OTHER_NAME ? "b" : "a", W1, T0 + 9), ==, 0);
}

static void test_checksum(fx_t *fx, gconstpointer data)
{
	static const char *const what[] = {"same", "one byte", "mtime", "writer", "name"};
	char *sums[G_N_ELEMENTS(what)];
	g_autofree char *again = NULL;

	for (int variant = 0; variant < (int)G_N_ELEMENTS(what); variant++) {
		g_autofree char *sub = g_strdup_printf("%s/v%d", fx->dir, variant);
		g_autofree char *path = g_build_filename(sub, "config.db", NULL);
		g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
		memdb_t *m = open_db(path);
		scenario(m, variant);
		sums[variant] = checksum_hex(m);
		g_test_message("%s: %s", what[variant], sums[variant]);
		/* Stable: the same tree always gives the same sum. */
		g_autofree char *twice = checksum_hex(m);
		g_assert_cmpstr(twice, ==, sums[variant]);
		memdb_free(m);
	}
	/* The same operations on a second store give the same sum. */
	g_autofree char *sub = g_strdup_printf("%s/again", fx->dir);
	g_autofree char *path = g_build_filename(sub, "config.db", NULL);
	g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
	memdb_t *m = open_db(path);
	scenario(m, SAME);
	again = checksum_hex(m);
	g_assert_cmpstr(again, ==, sums[SAME]);
	/* Also after a restart. */
	memdb_free(m);
	m = open_db(path);
	g_free(again);
	again = checksum_hex(m);
	g_assert_cmpstr(again, ==, sums[SAME]);
	memdb_free(m);

	for (int i = 1; i < (int)G_N_ELEMENTS(what); i++) {
		g_test_message("differs by %s", what[i]);
		g_assert_cmpstr(sums[i], !=, sums[SAME]);
		for (int j = i + 1; j < (int)G_N_ELEMENTS(what); j++)
			g_assert_cmpstr(sums[i], !=, sums[j]);
	}
	for (int i = 0; i < (int)G_N_ELEMENTS(what); i++)
		g_free(sums[i]);
}

/* Every change changes the checksum. */
static void test_checksum_each_change(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	GHashTable *seen = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);

#define SUM_CHANGES(expr)                                                                          \
	do {                                                                                       \
		g_assert_cmpint((expr), >=, 0);                                                    \
		char *s_ = checksum_hex(m);                                                        \
		g_assert_false(g_hash_table_contains(seen, s_));                                   \
		g_hash_table_add(seen, s_);                                                        \
	} while (0)

	g_hash_table_add(seen, checksum_hex(m));
	SUM_CHANGES(mkdir_at(m, "d", W1, T0));
	SUM_CHANGES(create_at(m, "d/f", W1, T0));
	SUM_CHANGES(write_at(m, "d/f", 0, "a", 1, W1, T0));
	SUM_CHANGES(write_at(m, "d/f", 0, "b", 1, W1, T0));
	SUM_CHANGES(truncate_at(m, "d/f", 5, W1, T0));
	SUM_CHANGES(memdb_set_mtime(m, ino_of(m, "d/f"), 5, W1, T0));
	SUM_CHANGES(rename_at(m, "d/f", "d/g", false, W1, T0));
	SUM_CHANGES(unlink_at(m, "d/g", W1, T0));
	SUM_CHANGES(rmdir_at(m, "d", W1, T0));
#undef SUM_CHANGES
	g_hash_table_destroy(seen);
}

/* ---- threads ---- */

#define THREADS 4
#define PER_THREAD 50

typedef struct {
	memdb_t *m;
	uint64_t dir;
	int id;
	int failures;
} worker_t;

static gpointer worker(gpointer p)
{
	worker_t *w = p;
	char name[32], text[64];

	for (int i = 0; i < PER_THREAD; i++) {
		memdb_attr_t a;
		g_snprintf(name, sizeof(name), "f%d", i);
		g_snprintf(text, sizeof(text), "thread %d file %d", w->id, i);
		if (memdb_create(w->m, w->dir, name, (uint32_t)w->id, T0, &a) != 0 ||
		    memdb_write(w->m, a.inode, 0, text, strlen(text), (uint32_t)w->id, T0) !=
			(int)strlen(text))
			w->failures++;
		/* Readers interleave with the writers. */
		GPtrArray *ents = NULL;
		if (memdb_readdir(w->m, MEMDB_ROOT_INODE, &ents) != 0)
			w->failures++;
		memdb_dirents_free(ents);
		memdb_usage_t u;
		memdb_usage(w->m, &u);
	}
	return NULL;
}

static void test_threads(fx_t *fx, gconstpointer data)
{
	memdb_t *m = fx->m;
	worker_t w[THREADS];
	GThread *t[THREADS];

	for (int i = 0; i < THREADS; i++) {
		char name[16];
		memdb_attr_t a;
		g_snprintf(name, sizeof(name), "t%d", i);
		g_assert_cmpint(memdb_mkdir(m, MEMDB_ROOT_INODE, name, W1, T0, &a), ==, 0);
		w[i] = (worker_t){.m = m, .dir = a.inode, .id = i + 1};
	}
	uint64_t v = memdb_version(m);
	for (int i = 0; i < THREADS; i++)
		t[i] = g_thread_new("worker", worker, &w[i]);
	for (int i = 0; i < THREADS; i++) {
		g_thread_join(t[i]);
		g_assert_cmpint(w[i].failures, ==, 0);
	}
	g_assert_cmpuint(memdb_version(m), ==, v + THREADS * PER_THREAD * 2);
	memdb_usage_t u;
	memdb_usage(m, &u);
	g_assert_cmpuint(u.inodes, ==, 1 + THREADS + THREADS * PER_THREAD);
	assert_survives_reopen(fx);
	for (int i = 0; i < THREADS; i++)
		for (int j = 0; j < PER_THREAD; j++) {
			g_autofree char *p = g_strdup_printf("t%d/f%d", i, j);
			g_autofree char *want = g_strdup_printf("thread %d file %d", i + 1, j);
			g_autofree char *got = content_of(fx->m, p);
			g_assert_cmpstr(got, ==, want);
		}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();
	log_init("test_memdb", false, g_getenv("TEST_VERBOSE") != NULL);
	shim_register();

#define ADD(path, fn) g_test_add(path, fx_t, NULL, fx_setup, fn, fx_teardown)
	ADD("/memdb/open/new", test_open_new);
	g_test_add("/memdb/open/refuses-garbage", fx_t, NULL, fx_setup_nodb,
		   test_open_refuses_garbage, fx_teardown);
	g_test_add("/memdb/open/oversize-row", fx_t, NULL, fx_setup_nodb, test_open_oversize_row,
		   fx_teardown);
	g_test_add("/memdb/open/deep-chain", fx_t, NULL, fx_setup_nodb, test_open_deep_chain,
		   fx_teardown);
	for (size_t i = 0; i < G_N_ELEMENTS(bad_stores); i++) {
		g_autofree char *p = g_strdup_printf("/memdb/open/store/%s", bad_stores[i].name);
		g_test_add_data_func(p, &bad_stores[i], test_open_bad_store);
	}
	ADD("/memdb/tree/create-lookup-readdir", test_tree_create_lookup);
	ADD("/memdb/tree/write-read", test_tree_write_read);
	ADD("/memdb/tree/truncate", test_tree_truncate);
	ADD("/memdb/tree/set-data", test_tree_set_data);
	ADD("/memdb/tree/truncate-grow-empty", test_tree_truncate_grow_empty);
	ADD("/memdb/tree/zero-length-write", test_tree_zero_length_write);
	ADD("/memdb/tree/unlink-rmdir", test_tree_unlink_rmdir);
	ADD("/memdb/rename/basic", test_rename_basic);
	ADD("/memdb/rename/replace", test_rename_replace);
	ADD("/memdb/rename/errors", test_rename_errors);
	ADD("/memdb/tree/depth-limit", test_depth_limit);
	ADD("/memdb/rename/onto-itself", test_rename_self);
	ADD("/memdb/names", test_names);
	ADD("/memdb/limits/file-size", test_limit_file_size);
#define ADD_SMALL(path, fn) g_test_add(path, fx_t, &small_limits, fx_setup, fn, fx_teardown)
	ADD("/memdb/limits/default-are-the-reference-s", test_limits_default_are_the_reference_s);
	ADD_SMALL("/memdb/limits/fs-size", test_limit_fs_size);
	ADD_SMALL("/memdb/limits/inodes", test_limit_inodes);
	ADD_SMALL("/memdb/limits/refuse-bigger-trees", test_limits_refuse_bigger_trees);
	ADD("/memdb/versions", test_versions);
	ADD("/memdb/persist/each-change", test_persist_each_change);
	ADD("/memdb/persist/store-failure", test_persist_store_failure);
	ADD("/memdb/held/orphan", test_held_orphan);
	ADD("/memdb/held/release", test_held_release);
	ADD("/memdb/held/recent", test_held_recent);
	ADD("/memdb/persist/store-is-exclusive", test_store_is_exclusive);
	ADD("/memdb/layout", test_layout);
	ADD("/memdb/attr/in-priv", test_attr_in_priv);
	ADD("/memdb/attr/is-lock", test_attr_is_lock);
	ADD("/memdb/guests/unique", test_guest_unique);
	ADD("/memdb/guests/migrate", test_guest_migrate);
	ADD("/memdb/guests/rename-taken", test_guest_rename_taken);
	ADD("/memdb/guests/replace-config-by-rename", test_guest_replace_config);
	ADD("/memdb/guests/non-vm-names", test_guest_non_vm_names);
	ADD("/memdb/guests/foreach", test_guest_foreach);
	ADD("/memdb/guests/foreach-numeric-order", test_guest_foreach_numeric);
	ADD("/memdb/guests/dirs-version", test_guest_dirs_version);
	ADD("/memdb/locks/mkdir-twice", test_lock_mkdir_twice);
	ADD("/memdb/locks/renew", test_lock_renew);
	ADD("/memdb/locks/release-by-holder", test_lock_release_by_holder);
	ADD("/memdb/locks/release-expired", test_lock_release_expired);
	ADD("/memdb/locks/renew-expired", test_lock_renew_expired);
	ADD("/memdb/locks/takeover", test_lock_takeover);
	ADD("/memdb/locks/expired-version", test_lock_expired_version);
	ADD("/memdb/locks/touch-past", test_lock_touch_past);
	ADD("/memdb/locks/renewed-after-observed", test_lock_renewed_after_observed);
	ADD("/memdb/locks/observation-restarts", test_lock_observation_restarts);
	ADD("/memdb/locks/not-a-lock", test_lock_not_a_lock);
	ADD("/memdb/checksum/same-ops-same-sum", test_checksum);
	ADD("/memdb/checksum/each-change", test_checksum_each_change);
	ADD("/memdb/threads", test_threads);
#undef ADD
	return g_test_run();
}
