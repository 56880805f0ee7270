/* Unit tests for the SQLite store (include/dbstore.h): opening and creating,
 * refusing files that are not ours without touching them, WAL, rows,
 * transactions and recovery after a crash. Each test works in its own
 * temporary directory, removed at the end. */
#include "dbstore.h"
#include "log.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <signal.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "unit_util.h"

/* ---- helpers ---- */

typedef struct {
	char *dir;
	char *db; /* dir/config.db, not created */
} fx_t;

static void fx_setup(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;

	fx->dir = g_dir_make_tmp("test_dbstore-XXXXXX", &err);
	g_assert_no_error(err);
	g_assert(fx->dir != NULL);
	fx->db = g_build_filename(fx->dir, "config.db", NULL);
}

static void fx_teardown(fx_t *fx, gconstpointer data)
{
	unit_rm_tree(fx->dir);
	g_assert_false(g_file_test(fx->dir, G_FILE_TEST_EXISTS));
	g_free(fx->db);
	g_free(fx->dir);
}

/* The content, size and mtime of a file, and the names in its directory:
 * what must be identical after a refused open. */
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
	GDir *d = g_dir_open(dir, 0, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
	const char *name;

	g_assert(d != NULL);
	while ((name = g_dir_read_name(d)))
		g_ptr_array_add(names, g_strdup(name));
	g_dir_close(d);
	g_ptr_array_sort(names, cmp_str_ptr);
	GString *s = g_string_new(NULL);
	for (guint i = 0; i < names->len; i++)
		g_string_append_printf(s, "%s\n", (char *)names->pdata[i]);
	return g_string_free(s, FALSE);
}

/* Sets an old mtime so that any later write would show. */
static void age_file(const char *path)
{
	struct timespec ts[2] = {{.tv_sec = 1000000000, .tv_nsec = 123456789},
				 {.tv_sec = 1000000000, .tv_nsec = 123456789}};

	g_assert_cmpint(utimensat(AT_FDCWD, path, ts, 0), ==, 0);
}

static void snap_take(snap_t *s, const char *path)
{
	GError *err = NULL;
	struct stat st;
	g_autofree char *dir = g_path_get_dirname(path);

	g_assert_cmpint(stat(path, &st), ==, 0);
	s->mtime = st.st_mtim;
	g_assert_true(g_file_get_contents(path, &s->data, &s->len, &err));
	g_assert_no_error(err);
	s->listing = sorted_listing(dir);
}

static void snap_assert_same(snap_t *s, const char *path)
{
	g_autofree char *data = NULL;
	gsize len = 0;
	struct stat st;
	g_autofree char *dir = g_path_get_dirname(path);
	g_autofree char *listing = sorted_listing(dir);

	g_assert_cmpint(stat(path, &st), ==, 0);
	g_assert_true(g_file_get_contents(path, &data, &len, NULL));
	g_assert_cmpuint(len, ==, s->len);
	g_assert_true(len == s->len && memcmp(data, s->data, len) == 0);
	g_assert_cmpint(st.st_mtim.tv_sec, ==, s->mtime.tv_sec);
	g_assert_cmpint(st.st_mtim.tv_nsec, ==, s->mtime.tv_nsec);
	/* No journal, WAL or shm file left behind either. */
	g_assert_cmpstr(listing, ==, s->listing);
}

static void snap_clear(snap_t *s)
{
	g_free(s->data);
	g_free(s->listing);
	memset(s, 0, sizeof(*s));
}

static void assert_dbstore_error(const GError *err)
{
	g_assert_nonnull(err);
	if (err)
		g_assert_cmpuint(err->domain, ==, DBSTORE_ERROR);
}

static void write_file(const char *path, const void *data, gsize len)
{
	GError *err = NULL;

	g_assert_true(g_file_set_contents(path, data, (gssize)len, &err));
	g_assert_no_error(err);
}

/* Opening path must fail with a DBSTORE_ERROR naming the file, and leave the
 * file and its directory exactly as they were. */
static void assert_refused_unchanged(const char *path)
{
	GError *err = NULL;
	snap_t s;

	age_file(path);
	snap_take(&s, path);
	dbstore_t *db = dbstore_open(path, &err);
	g_assert_null(db);
	dbstore_free(db);
	assert_dbstore_error(err);
	if (err) {
		g_test_message("refused as expected: %s", err->message);
		g_assert_nonnull(strstr(err->message, path));
	}
	g_clear_error(&err);
	snap_assert_same(&s, path);
	snap_clear(&s);
}

static dbstore_row_t row_make(uint64_t inode, uint64_t parent, uint64_t version, uint8_t type,
			      const char *name, const char *data)
{
	return (dbstore_row_t){
	    .inode = inode,
	    .parent = parent,
	    .version = version,
	    .writer = (uint32_t)(inode * 7),
	    .mtime = (uint32_t)(1700000000 + inode),
	    .type = type,
	    .name = name,
	    .data = data,
	    .size = data ? (uint32_t)strlen(data) : 0,
	};
}

static void put_rows(dbstore_t *db, const dbstore_row_t *rows, size_t n, uint64_t version)
{
	GError *err = NULL;

	g_assert_true(dbstore_begin(db, &err));
	g_assert_no_error(err);
	for (size_t i = 0; i < n; i++) {
		g_assert_true(dbstore_put(db, &rows[i], &err));
		g_assert_no_error(err);
	}
	g_assert_true(dbstore_set_version(db, version, &err));
	g_assert_true(dbstore_commit(db, &err));
	g_assert_no_error(err);
}

/* What dbstore_load reported, one line per row. */
typedef struct {
	GString *out;
	guint count;
	uint64_t last_inode;
	bool in_order;
	int fail_at; /* make the callback fail at this row (1-based), 0: never */
} load_t;

static bool collect_row(void *ctx, const dbstore_row_t *r, GError **err)
{
	load_t *l = ctx;
	g_autofree char *hex = NULL;

	l->count++;
	if (l->count > 1 && r->inode <= l->last_inode)
		l->in_order = false;
	l->last_inode = r->inode;
	if (l->fail_at && (int)l->count == l->fail_at) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "stop at %u", l->count);
		return false;
	}
	if (r->size)
		hex = g_compute_checksum_for_data(G_CHECKSUM_SHA256, r->data, r->size);
	g_string_append_printf(l->out, "%llu %llu %llu %u %u %u %s %u %s %s\n",
			       (unsigned long long)r->inode, (unsigned long long)r->parent,
			       (unsigned long long)r->version, r->writer, r->mtime, r->type,
			       r->name, r->size, r->data ? "data" : "null", hex ? hex : "-");
	return true;
}

/* Loads everything; returns the dump (caller frees) and the version. */
static char *load_all(dbstore_t *db, uint64_t *version, guint *count)
{
	GError *err = NULL;
	load_t l = {.out = g_string_new(NULL), .in_order = true};

	*version = 12345;
	g_assert_true(dbstore_load(db, collect_row, &l, version, &err));
	g_assert_no_error(err);
	g_assert_true(l.in_order);
	if (count)
		*count = l.count;
	return g_string_free(l.out, FALSE);
}

static char *dump_rows(const dbstore_row_t *rows, size_t n)
{
	load_t l = {.out = g_string_new(NULL), .in_order = true};

	for (size_t i = 0; i < n; i++)
		collect_row(&l, &rows[i], NULL);
	return g_string_free(l.out, FALSE);
}

/* A real store with enough rows to span many pages. */
static void make_big_store(const char *path, guint nrows)
{
	GError *err = NULL;
	dbstore_t *db = dbstore_open(path, &err);
	char data[301];

	g_assert_no_error(err);
	g_assert(db != NULL);
	g_assert_true(dbstore_begin(db, &err));
	for (guint i = 1; i <= nrows; i++) {
		char name[32];
		g_snprintf(name, sizeof(name), "file-%u.conf", i);
		memset(data, 'a' + (char)(i % 26), sizeof(data) - 1);
		data[sizeof(data) - 1] = '\0';
		dbstore_row_t r =
		    row_make(i, i == 1 ? 0 : 1, i, i == 1 ? 4 : 8, name, i == 1 ? NULL : data);
		g_assert_true(dbstore_put(db, &r, &err));
	}
	g_assert_true(dbstore_set_version(db, nrows, &err));
	g_assert_true(dbstore_commit(db, &err));
	g_assert_no_error(err);
	dbstore_free(db);
}

static int sqlite_exec(const char *path, const char *sql)
{
	sqlite3 *s = NULL;
	int rc = sqlite3_open(path, &s);

	if (rc == SQLITE_OK)
		rc = sqlite3_exec(s, sql, NULL, NULL, NULL);
	sqlite3_close(s);
	return rc;
}

/* ---- opening ---- */

static void test_open_new(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	uint64_t version;
	guint count;

	g_assert_false(g_file_test(fx->db, G_FILE_TEST_EXISTS));
	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	g_assert_true(g_file_test(fx->db, G_FILE_TEST_IS_REGULAR));
	g_autofree char *dump = load_all(db, &version, &count);
	g_assert_cmpuint(version, ==, 0);
	g_assert_cmpuint(count, ==, 0);
	g_assert_true(dbstore_check(db, &err));
	g_assert_no_error(err);
	dbstore_free(db);

	/* Reopening the new, empty store works too. */
	db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	g_free(dump);
	dump = load_all(db, &version, &count);
	g_assert_cmpuint(version, ==, 0);
	g_assert_cmpuint(count, ==, 0);
	dbstore_free(db);
}

static void test_open_empty_file(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	uint64_t version;
	guint count;

	write_file(fx->db, "", 0);
	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	g_autofree char *dump = load_all(db, &version, &count);
	g_assert_cmpuint(count, ==, 0);
	g_assert_cmpuint(version, ==, 0);
	dbstore_row_t r = row_make(1, 0, 1, 4, "", NULL);
	put_rows(db, &r, 1, 1);
	dbstore_free(db);

	struct stat st;
	g_assert_cmpint(stat(fx->db, &st), ==, 0);
	g_assert_cmpint(st.st_size, >, 0);
	db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	g_free(dump);
	dump = load_all(db, &version, &count);
	g_assert_cmpuint(count, ==, 1);
	g_assert_cmpuint(version, ==, 1);
	dbstore_free(db);
}

static void test_open_random_refused(fx_t *fx, gconstpointer data)
{
	g_autoptr(GRand) rnd = g_rand_new_with_seed(42);
	guint8 buf[3 * 4096];

	for (gsize i = 0; i < sizeof(buf); i++)
		buf[i] = (guint8)g_rand_int_range(rnd, 0, 256);
	write_file(fx->db, buf, sizeof(buf));
	assert_refused_unchanged(fx->db);
}

/* A text file shorter than SQLite's header. */
static void test_open_short_refused(fx_t *fx, gconstpointer data)
{
	write_file(fx->db, "hello\n", 6);
	assert_refused_unchanged(fx->db);
}

/* SQLite's magic followed by garbage: not a database either. */
static void test_open_magic_garbage_refused(fx_t *fx, gconstpointer data)
{
	g_autoptr(GRand) rnd = g_rand_new_with_seed(7);
	guint8 buf[2 * 4096];

	for (gsize i = 0; i < sizeof(buf); i++)
		buf[i] = (guint8)g_rand_int_range(rnd, 0, 256);
	memcpy(buf, "SQLite format 3", 16);
	write_file(fx->db, buf, sizeof(buf));
	assert_refused_unchanged(fx->db);
}

static void test_open_directory_refused(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;

	g_assert_cmpint(g_mkdir(fx->db, 0755), ==, 0);
	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert_null(db);
	dbstore_free(db);
	g_assert_error(err, DBSTORE_ERROR, EINVAL);
	g_clear_error(&err);
	g_assert_true(g_file_test(fx->db, G_FILE_TEST_IS_DIR));
}

static void test_open_missing_dir_fails(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	g_autofree char *path = g_build_filename(fx->dir, "nope", "config.db", NULL);

	dbstore_t *db = dbstore_open(path, &err);
	g_assert_null(db);
	dbstore_free(db);
	g_assert_nonnull(err);
	g_clear_error(&err);
}

/* A valid SQLite database of another program. */
static void test_open_foreign_refused(fx_t *fx, gconstpointer data)
{
	g_assert_cmpint(sqlite_exec(fx->db,
				    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);"
				    "INSERT INTO users VALUES (1, 'alice'), (2, 'bob');"),
			==, SQLITE_OK);
	assert_refused_unchanged(fx->db);
	/* Still the other program's data. */
	g_assert_cmpint(sqlite_exec(fx->db, "SELECT name FROM users"), ==, SQLITE_OK);
}

/* Another program's database with an application id of its own. */
static void test_open_foreign_appid_refused(fx_t *fx, gconstpointer data)
{
	g_assert_cmpint(sqlite_exec(fx->db, "PRAGMA application_id = 1234;"
					    "CREATE TABLE tree (inode INTEGER PRIMARY KEY);"),
			==, SQLITE_OK);
	assert_refused_unchanged(fx->db);
}

/* A foreign database in WAL mode whose last transactions are still in its
 * WAL file (the other program was killed). Opening must not check-point
 * that WAL into the main file nor delete it. */
static void test_open_foreign_wal_refused(fx_t *fx, gconstpointer data)
{
	g_autofree char *src = g_build_filename(fx->dir, "other.db", NULL);
	g_autofree char *srcwal = g_strconcat(src, "-wal", NULL);
	g_autofree char *wal = g_strconcat(fx->db, "-wal", NULL);
	g_autofree char *walcopy = g_build_filename(fx->dir, "copy-of-wal", NULL);
	sqlite3 *s = NULL;
	gchar *buf = NULL;
	gsize len;
	snap_t ws;

	g_assert_cmpint(sqlite3_open(src, &s), ==, SQLITE_OK);
	g_assert_cmpint(sqlite3_exec(s,
				     "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;"
				     "CREATE TABLE t (x); INSERT INTO t VALUES (1), (2), (3);",
				     NULL, NULL, NULL),
			==, SQLITE_OK);
	/* Copy the main file and the WAL while the connection holds them, as
	 * a crash would leave them. */
	g_assert_true(g_file_get_contents(src, &buf, &len, NULL));
	write_file(fx->db, buf, len);
	g_free(buf);
	g_assert_true(g_file_get_contents(srcwal, &buf, &len, NULL));
	g_assert_cmpuint(len, >, 0);
	write_file(wal, buf, len);
	write_file(walcopy, buf, len);
	g_free(buf);
	sqlite3_close(s);
	g_unlink(src);

	age_file(wal);
	snap_take(&ws, wal);
	assert_refused_unchanged(fx->db);
	g_assert_true(g_file_test(wal, G_FILE_TEST_EXISTS));
	if (g_file_test(wal, G_FILE_TEST_EXISTS))
		snap_assert_same(&ws, wal);
	snap_clear(&ws);
}

/* An SQLite file without a table, in rollback mode, beside a WAL with
 * frames: whatever is in that WAL is not ours. */
static void test_open_empty_beside_wal_refused(fx_t *fx, gconstpointer data)
{
	g_autofree char *wal = g_strconcat(fx->db, "-wal", NULL);
	guint8 head[100];

	g_assert_cmpint(sqlite_exec(fx->db, "PRAGMA page_size = 4096; VACUUM;"), ==, SQLITE_OK);
	int fd = open(fx->db, O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(read(fd, head, sizeof(head)), ==, (ssize_t)sizeof(head));
	close(fd);
	g_assert_cmpint(head[18], ==, 1); /* rollback mode */
	write_file(wal, "not ours, but frames all the same", 33);
	assert_refused_unchanged(fx->db);
	g_assert_true(g_file_test(wal, G_FILE_TEST_EXISTS));
}

/* Our own store with a schema version this code does not know. */
static void test_open_schema_refused(fx_t *fx, gconstpointer data)
{
	make_big_store(fx->db, 3);
	g_assert_cmpint(sqlite_exec(fx->db, "PRAGMA user_version = 99"), ==, SQLITE_OK);
	assert_refused_unchanged(fx->db);
}

/* A real store with garbage written over its middle pages. */
static void test_open_damaged_refused(fx_t *fx, gconstpointer data)
{
	g_autoptr(GRand) rnd = g_rand_new_with_seed(1234);
	struct stat st;

	make_big_store(fx->db, 600);
	g_assert_cmpint(stat(fx->db, &st), ==, 0);
	off_t pages = st.st_size / 4096;
	g_test_message("store has %lld pages", (long long)pages);
	g_assert_cmpint(pages, >=, 20);
	/* Overwrite pages from a third to two thirds of the file. */
	off_t from = pages / 3 * 4096, to = pages * 2 / 3 * 4096;
	guint8 *garbage = g_malloc(to - from);
	for (off_t i = 0; i < to - from; i++)
		garbage[i] = (guint8)g_rand_int_range(rnd, 0, 256);
	int fd = open(fx->db, O_WRONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(pwrite(fd, garbage, to - from, from), ==, to - from);
	close(fd);
	g_free(garbage);
	assert_refused_unchanged(fx->db);
}

/* A real store cut in half (a partial copy). */
static void test_open_truncated_refused(fx_t *fx, gconstpointer data)
{
	struct stat st;

	make_big_store(fx->db, 600);
	g_assert_cmpint(stat(fx->db, &st), ==, 0);
	g_assert_cmpint(truncate(fx->db, st.st_size / 2 / 4096 * 4096), ==, 0);
	assert_refused_unchanged(fx->db);
}

/* The store runs in WAL mode: the header says so, and commits go to the
 * -wal file while the store is open. */
static void test_wal(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	g_autofree char *wal = g_strconcat(fx->db, "-wal", NULL);
	guint8 head[100];

	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	dbstore_row_t r = row_make(1, 0, 1, 4, "", NULL);
	put_rows(db, &r, 1, 1);
	g_assert_true(g_file_test(wal, G_FILE_TEST_IS_REGULAR));
	int fd = open(fx->db, O_RDONLY);
	g_assert_cmpint(fd, >=, 0);
	g_assert_cmpint(read(fd, head, sizeof(head)), ==, (ssize_t)sizeof(head));
	close(fd);
	/* File format read/write versions: 2 means WAL. */
	g_assert_cmpint(head[18], ==, 2);
	g_assert_cmpint(head[19], ==, 2);
	/* application_id at offset 68, big endian: "PVCF". */
	g_assert_cmpmem(head + 68, 4, "PVCF", 4);
	dbstore_free(db);
}

/* ---- rows ---- */

static void test_rows_roundtrip(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	uint64_t version;
	guint count;
	static const char bin[] = {'a', '\0', 'b', '\xff', '\0'};
	dbstore_row_t rows[] = {
	    row_make(1, 0, 1, 4, "", NULL),
	    row_make(2, 1, 2, 4, "nodes", NULL),
	    row_make(3, 2, 3, 8, "file.cfg", "content of the file\n"),
	    row_make(4, 2, 4, 8, "empty", NULL),
	    row_make(5, 1, 5, 8, "binary", NULL),
	    row_make(6, 1, 6, 8, "gone", "to be deleted"),
	};
	/* Binary content with NULs, and extreme 32-bit fields. */
	rows[4].data = bin;
	rows[4].size = sizeof(bin);
	rows[4].writer = UINT32_MAX;
	rows[4].mtime = UINT32_MAX;
	rows[4].version = (uint64_t)INT64_MAX;

	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	put_rows(db, rows, G_N_ELEMENTS(rows), 6);
	dbstore_free(db);

	db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	g_autofree char *got = load_all(db, &version, &count);
	g_autofree char *want = dump_rows(rows, G_N_ELEMENTS(rows));
	g_assert_cmpstr(got, ==, want);
	g_assert_cmpuint(version, ==, 6);
	g_assert_cmpuint(count, ==, 6);

	/* Delete one, replace one, bump the version. */
	dbstore_row_t changed = rows[2];
	changed.version = 7;
	changed.data = "new";
	changed.size = 3;
	changed.name = "renamed.cfg";
	g_assert_true(dbstore_begin(db, &err));
	g_assert_true(dbstore_delete(db, 6, &err));
	g_assert_true(dbstore_put(db, &changed, &err));
	g_assert_true(dbstore_set_version(db, 7, &err));
	g_assert_true(dbstore_commit(db, &err));
	g_assert_no_error(err);
	dbstore_free(db);

	db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	dbstore_row_t after[] = {rows[0], rows[1], changed, rows[3], rows[4]};
	g_free(got);
	g_free(want);
	got = load_all(db, &version, &count);
	want = dump_rows(after, G_N_ELEMENTS(after));
	g_assert_cmpstr(got, ==, want);
	g_assert_cmpuint(version, ==, 7);
	g_assert_true(dbstore_check(db, &err));
	g_assert_no_error(err);
	dbstore_free(db);
}

/* Deleting a row that does not exist is not an error. */
static void test_rows_delete_missing(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	uint64_t version;
	guint count;

	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert(db != NULL);
	g_assert_true(dbstore_begin(db, &err));
	g_assert_true(dbstore_delete(db, 99, &err));
	g_assert_true(dbstore_commit(db, &err));
	g_assert_no_error(err);
	g_autofree char *got = load_all(db, &version, &count);
	g_assert_cmpstr(got, ==, "");
	g_assert_cmpuint(count, ==, 0);
	dbstore_free(db);
}

static void test_rows_rollback(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	uint64_t version;
	guint count;
	dbstore_row_t base[] = {row_make(1, 0, 1, 4, "", NULL),
				row_make(2, 1, 2, 8, "keep", "kept")};

	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert(db != NULL);
	put_rows(db, base, G_N_ELEMENTS(base), 2);
	g_autofree char *before = load_all(db, &version, &count);

	/* A transaction that puts, replaces, deletes and bumps the version,
	 * then rolls back. */
	dbstore_row_t extra = row_make(3, 1, 3, 8, "extra", "x");
	dbstore_row_t repl = base[1];
	repl.data = "changed";
	repl.size = 7;
	g_assert_true(dbstore_begin(db, &err));
	g_assert_true(dbstore_put(db, &extra, &err));
	g_assert_true(dbstore_put(db, &repl, &err));
	g_assert_true(dbstore_delete(db, 1, &err));
	g_assert_true(dbstore_set_version(db, 3, &err));
	g_assert_no_error(err);
	dbstore_rollback(db);
	/* A second rollback outside a transaction is harmless. */
	dbstore_rollback(db);

	g_autofree char *now = load_all(db, &version, &count);
	g_assert_cmpstr(now, ==, before);
	g_assert_cmpuint(version, ==, 2);
	dbstore_free(db);

	db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	g_free(now);
	now = load_all(db, &version, &count);
	g_assert_cmpstr(now, ==, before);
	g_assert_cmpuint(version, ==, 2);
	/* And the store still takes transactions. */
	put_rows(db, &extra, 1, 3);
	g_free(now);
	now = load_all(db, &version, &count);
	g_assert_cmpuint(count, ==, 3);
	dbstore_free(db);
}

/* Rows come back in inode order whatever the order they were written in. */
static void test_rows_load_order(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	uint64_t version;
	guint count;
	static const uint64_t order[] = {17, 3, 1000000, 1, 42, 2, 999, 5, 4, 100};
	dbstore_row_t rows[G_N_ELEMENTS(order)];
	char names[G_N_ELEMENTS(order)][32];

	for (size_t i = 0; i < G_N_ELEMENTS(order); i++) {
		g_snprintf(names[i], sizeof(names[i]), "n%llu", (unsigned long long)order[i]);
		rows[i] = row_make(order[i], 1, order[i], 8, names[i], names[i]);
	}
	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert(db != NULL);
	/* In several transactions, to mix pages. */
	put_rows(db, rows, 4, 10);
	put_rows(db, rows + 4, G_N_ELEMENTS(order) - 4, 11);
	dbstore_free(db);

	db = dbstore_open(fx->db, &err);
	g_assert(db != NULL);
	g_autofree char *got = load_all(db, &version, &count);
	g_assert_cmpuint(count, ==, G_N_ELEMENTS(order));
	g_assert_cmpuint(version, ==, 11);

	dbstore_row_t sorted[G_N_ELEMENTS(order)];
	memcpy(sorted, rows, sizeof(rows));
	for (size_t i = 0; i < G_N_ELEMENTS(sorted); i++)
		for (size_t j = i + 1; j < G_N_ELEMENTS(sorted); j++)
			if (sorted[j].inode < sorted[i].inode) {
				dbstore_row_t t = sorted[i];
				sorted[i] = sorted[j];
				sorted[j] = t;
			}
	g_autofree char *want = dump_rows(sorted, G_N_ELEMENTS(sorted));
	g_assert_cmpstr(got, ==, want);
	dbstore_free(db);
}

/* An error from the callback stops the load and is passed on. */
static void test_rows_load_error(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	uint64_t version = 0;
	dbstore_row_t rows[] = {row_make(1, 0, 1, 4, "", NULL), row_make(2, 1, 2, 8, "a", "a"),
				row_make(3, 1, 3, 8, "b", "b")};

	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert(db != NULL);
	put_rows(db, rows, G_N_ELEMENTS(rows), 3);
	load_t l = {.out = g_string_new(NULL), .in_order = true, .fail_at = 2};
	g_assert_false(dbstore_load(db, collect_row, &l, &version, &err));
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_FAILED);
	g_clear_error(&err);
	g_assert_cmpuint(l.count, ==, 2);
	g_string_free(l.out, TRUE);

	/* The store is still usable afterwards. */
	put_rows(db, rows, 1, 4);
	guint count = 0;
	g_autofree char *got = load_all(db, &version, &count);
	g_assert_cmpuint(count, ==, 3);
	g_assert_true(g_str_has_prefix(got, "1 0 1 7 "));
	g_assert_cmpuint(version, ==, 4);
	dbstore_free(db);
}

static void test_rows_clear(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	uint64_t version;
	guint count;
	dbstore_row_t rows[] = {row_make(1, 0, 1, 4, "", NULL), row_make(2, 1, 2, 8, "a", "a")};
	dbstore_row_t other[] = {row_make(1, 0, 9, 4, "", NULL), row_make(7, 1, 9, 8, "z", "z")};

	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert(db != NULL);
	put_rows(db, rows, G_N_ELEMENTS(rows), 2);

	/* Cleared and rolled back: nothing lost. */
	g_assert_true(dbstore_begin(db, &err));
	g_assert_true(dbstore_clear(db, &err));
	g_assert_no_error(err);
	dbstore_rollback(db);
	g_autofree char *got = load_all(db, &version, &count);
	g_assert_cmpuint(count, ==, 2);

	/* Cleared and replaced by another tree. */
	g_assert_true(dbstore_begin(db, &err));
	g_assert_true(dbstore_clear(db, &err));
	for (size_t i = 0; i < G_N_ELEMENTS(other); i++)
		g_assert_true(dbstore_put(db, &other[i], &err));
	g_assert_true(dbstore_set_version(db, 9, &err));
	g_assert_true(dbstore_commit(db, &err));
	g_assert_no_error(err);
	dbstore_free(db);

	db = dbstore_open(fx->db, &err);
	g_assert(db != NULL);
	g_free(got);
	got = load_all(db, &version, &count);
	g_autofree char *want = dump_rows(other, G_N_ELEMENTS(other));
	g_assert_cmpstr(got, ==, want);
	g_assert_cmpuint(version, ==, 9);
	dbstore_free(db);
}

/* Two transactions at once are refused (no nested BEGIN). */
static void test_rows_nested_begin(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;

	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert(db != NULL);
	g_assert_true(dbstore_begin(db, &err));
	g_assert_false(dbstore_begin(db, &err));
	assert_dbstore_error(err);
	g_clear_error(&err);
	dbstore_rollback(db);
	g_assert_true(dbstore_begin(db, &err));
	g_assert_true(dbstore_commit(db, &err));
	g_assert_no_error(err);
	dbstore_free(db);
}

/* ---- crash ---- */

/* A child commits (or not) and is killed with SIGKILL before closing. */
static void crash_child(const char *path, bool commit)
{
	pid_t pid = fork();

	g_assert_cmpint(pid, >=, 0);
	if (pid == 0) {
		GError *err = NULL;
		dbstore_t *db = dbstore_open(path, &err);
		if (!db)
			_exit(2);
		dbstore_row_t r = row_make(2, 1, 2, 8, "written", "acknowledged");
		if (!dbstore_begin(db, &err) || !dbstore_put(db, &r, &err) ||
		    !dbstore_set_version(db, 2, &err))
			_exit(3);
		if (commit && !dbstore_commit(db, &err))
			_exit(4);
		kill(getpid(), SIGKILL);
		_exit(5);
	}
	int status = 0;
	g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
	g_assert_true(WIFSIGNALED(status));
	g_assert_cmpint(WTERMSIG(status), ==, SIGKILL);
}

static void test_crash(fx_t *fx, gconstpointer data)
{
	bool commit = GPOINTER_TO_INT(data);
	GError *err = NULL;
	uint64_t version;
	guint count;
	dbstore_row_t root = row_make(1, 0, 1, 4, "", NULL);

	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert(db != NULL);
	put_rows(db, &root, 1, 1);
	dbstore_free(db);

	crash_child(fx->db, commit);

	db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert(db != NULL);
	g_autofree char *got = load_all(db, &version, &count);
	g_assert_true(dbstore_check(db, &err));
	g_assert_no_error(err);
	if (commit) {
		g_assert_cmpuint(count, ==, 2);
		g_assert_cmpuint(version, ==, 2);
		g_assert_nonnull(strstr(got, " written "));
	} else {
		g_assert_cmpuint(count, ==, 1);
		g_assert_cmpuint(version, ==, 1);
	}
	dbstore_free(db);
}

/* A daemon killed while it check-points its WAL into the main file leaves
 * a main file whose first pages are new and whose others are old, beside
 * the whole WAL. That state is sound read through the WAL, and the store
 * must open it with the WAL's content, not refuse it as damaged. */
static void test_crash_mid_checkpoint(fx_t *fx, gconstpointer data)
{
	guint newpages = GPOINTER_TO_UINT(data);
	g_autofree char *wal = g_strconcat(fx->db, "-wal", NULL);
	g_autofree char *old = NULL, *ckpt = NULL, *walcopy = NULL;
	gsize oldlen = 0, ckptlen = 0, wallen = 0;
	GError *err = NULL;
	sqlite3 *s = NULL;
	uint64_t version;
	guint count;

	make_big_store(fx->db, 600);
	g_assert_true(g_file_get_contents(fx->db, &old, &oldlen, NULL));

	/* As the daemon runs: locks and WAL index in memory, no automatic
	 * check-point, so that the changes stay in the WAL until we ask. */
	g_assert_cmpint(sqlite3_open(fx->db, &s), ==, SQLITE_OK);
	g_assert_cmpint(
	    sqlite3_exec(s,
			 "PRAGMA locking_mode = EXCLUSIVE; PRAGMA wal_autocheckpoint = 0;"
			 "BEGIN;"
			 "UPDATE tree SET data = randomblob(300) WHERE inode % 2 = 0;"
			 "DELETE FROM tree WHERE inode % 7 = 0 AND inode > 1;"
			 "INSERT INTO tree SELECT inode + 1000, 1, inode + 1000, 0, 0, 8,"
			 " 'more-' || inode, randomblob(300) FROM tree WHERE inode > 1;"
			 "UPDATE meta SET value = 4242 WHERE key = 'version';"
			 "COMMIT;",
			 NULL, NULL, NULL),
	    ==, SQLITE_OK);
	g_assert_true(g_file_get_contents(wal, &walcopy, &wallen, NULL));
	g_assert_cmpint(sqlite3_exec(s, "PRAGMA wal_checkpoint(FULL)", NULL, NULL, NULL), ==,
			SQLITE_OK);
	g_assert_true(g_file_get_contents(fx->db, &ckpt, &ckptlen, NULL));
	sqlite3_close(s);
	g_assert_cmpuint(wallen, >, 0);
	g_assert_cmpuint(ckptlen, >, (gsize)newpages * 4096);
	g_assert_cmpuint(oldlen, >, (gsize)newpages * 4096);

	/* The killed check-point copied the first pages only. */
	GByteArray *mix = g_byte_array_new();
	g_byte_array_append(mix, (guint8 *)ckpt, newpages * 4096);
	g_byte_array_append(mix, (guint8 *)old + newpages * 4096, oldlen - newpages * 4096);
	write_file(fx->db, mix->data, mix->len);
	g_byte_array_unref(mix);
	write_file(wal, walcopy, wallen);

	dbstore_t *db = dbstore_open(fx->db, &err);
	g_assert_no_error(err);
	g_assert_nonnull(db);
	if (!db)
		return;
	g_autofree char *got = load_all(db, &version, &count);
	g_assert_cmpuint(version, ==, 4242);
	/* 600 rows, 85 deleted, 514 added (all but the root, once more). */
	g_assert_cmpuint(count, ==, 600 - 85 + 514);
	g_assert_nonnull(strstr(got, "more-600"));
	g_assert_null(strstr(got, "file-7.conf"));
	g_assert_true(dbstore_check(db, &err));
	g_assert_no_error(err);
	dbstore_free(db);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_set_nonfatal_assertions();
	log_init("test_dbstore", false, g_getenv("TEST_VERBOSE") != NULL);

#define ADD(path, fn) g_test_add(path, fx_t, NULL, fx_setup, fn, fx_teardown)
	ADD("/dbstore/open/new-file", test_open_new);
	ADD("/dbstore/open/empty-file", test_open_empty_file);
	ADD("/dbstore/open/random-bytes-refused", test_open_random_refused);
	ADD("/dbstore/open/short-file-refused", test_open_short_refused);
	ADD("/dbstore/open/magic-then-garbage-refused", test_open_magic_garbage_refused);
	ADD("/dbstore/open/directory-refused", test_open_directory_refused);
	ADD("/dbstore/open/missing-directory-fails", test_open_missing_dir_fails);
	ADD("/dbstore/open/foreign-sqlite-refused", test_open_foreign_refused);
	ADD("/dbstore/open/foreign-appid-refused", test_open_foreign_appid_refused);
	ADD("/dbstore/open/foreign-wal-refused", test_open_foreign_wal_refused);
	ADD("/dbstore/open/empty-beside-wal-refused", test_open_empty_beside_wal_refused);
	ADD("/dbstore/open/unknown-schema-refused", test_open_schema_refused);
	ADD("/dbstore/open/damaged-refused", test_open_damaged_refused);
	ADD("/dbstore/open/truncated-refused", test_open_truncated_refused);
	ADD("/dbstore/wal", test_wal);
	ADD("/dbstore/rows/roundtrip", test_rows_roundtrip);
	ADD("/dbstore/rows/delete-missing", test_rows_delete_missing);
	ADD("/dbstore/rows/rollback", test_rows_rollback);
	ADD("/dbstore/rows/load-order", test_rows_load_order);
	ADD("/dbstore/rows/load-callback-error", test_rows_load_error);
	ADD("/dbstore/rows/clear", test_rows_clear);
	ADD("/dbstore/rows/nested-begin", test_rows_nested_begin);
#undef ADD
	g_test_add("/dbstore/crash/committed-survives-kill", fx_t, GINT_TO_POINTER(1), fx_setup,
		   test_crash, fx_teardown);
	g_test_add("/dbstore/crash/uncommitted-lost", fx_t, GINT_TO_POINTER(0), fx_setup,
		   test_crash, fx_teardown);
	g_test_add("/dbstore/crash/mid-checkpoint-first-page", fx_t, GUINT_TO_POINTER(1), fx_setup,
		   test_crash_mid_checkpoint, fx_teardown);
	g_test_add("/dbstore/crash/mid-checkpoint-half", fx_t, GUINT_TO_POINTER(20), fx_setup,
		   test_crash_mid_checkpoint, fx_teardown);
	return g_test_run();
}
