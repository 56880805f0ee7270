#include "import.h"

#include "dbstore.h"
#include "fusefs.h"
#include "log.h"
#include "textesc.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference stores DT_DIR and DT_REG, as we do. */
G_STATIC_ASSERT(MEMDB_DIR == 4 && MEMDB_REG == 8);

/* A name in a report is cut after this many bytes. */
#define REPORT_NAME_MAX 64

/* The reference's table, column by column, as every query here reads it. */
static const char *const ref_columns[] = {"inode", "parent", "version", "writer",
					  "mtime", "type",   "name",	"data"};

typedef enum {
	ROW_PENDING, /* not reached from the root (yet) */
	ROW_TAKEN,
	ROW_REFUSED,
} row_state_t;

/* Why a row cannot be reached from the root: the first obstacle on the way
 * up from it, at the row cut_at, whose parent is cut_parent. */
typedef enum {
	CUT_NONE,
	CUT_MISSING, /* cut_parent does not exist */
	CUT_FILE,    /* cut_parent is a file */
	CUT_REFUSED, /* cut_parent was refused */
	CUT_CYCLE,   /* the parents loop through cut_parent */
} cut_t;

/* One row of the source, its numbers as found (checked before use). */
typedef struct {
	int64_t inode;
	int64_t parent;
	int64_t version;
	int64_t writer;
	int64_t mtime;
	int64_t type;
	char *name; /* NUL-terminated; may hold NULs before name_len */
	size_t name_len;
	int64_t size;	/* of its data in the source */
	uint8_t *data;	/* a taken file's, once read */
	bool drop_data; /* a directory with data */
	guint depth;	/* taken: how many directories deep */
	row_state_t state;
	char *why; /* refused for a reason of its own or of its siblings */
	cut_t cut; /* refused as unreachable */
	int64_t cut_at;
	int64_t cut_parent;
} row_t;

struct import {
	char *source;
	memdb_limits_t limits;
	sqlite3 *db;
	/* A private copy of the source and its journal, when its journal
	 * held changes (see open_source). */
	char *copy_dir;
	row_t root;	      /* the version row, standing for the root */
	GPtrArray *rows;      /* every other row, in inode order; owns them */
	GHashTable *by_inode; /* inode -> row_t */
	GHashTable *children; /* parent inode -> GPtrArray of row_t, inode order */
	uint64_t renumbered;  /* what inode 1 of the source becomes, or 0 */
	import_counts_t counts;
	GPtrArray *refusals;
	GPtrArray *notes;
};

/* The quark's name is made from the tokens as written: no spaces. */
/* clang-format off */
G_DEFINE_QUARK(import-error-quark, import_error)
/* clang-format on */

static void row_free(gpointer p)
{
	row_t *r = p;

	if (!r)
		return;
	g_free(r->name);
	g_free(r->data);
	g_free(r->why);
	g_free(r);
}

static row_t *find(const import_t *imp, int64_t inode)
{
	if (inode == 0)
		return (row_t *)&imp->root;
	return g_hash_table_lookup(imp->by_inode, &inode);
}

/* ---- the source, read only ---- */

static bool sql_fail(import_t *imp, GError **err, const char *what)
{
	int code = sqlite3_errcode(imp->db);

	if (code == SQLITE_NOTADB)
		g_set_error(err, IMPORT_ERROR, EINVAL,
			    "%s: not an SQLite database, so not one of Proxmox's pmxcfs; "
			    "nothing imported",
			    imp->source);
	else if (code == SQLITE_CORRUPT)
		g_set_error(err, IMPORT_ERROR, EIO,
			    "%s: the database is damaged (%s); nothing imported: import a backup "
			    "of it",
			    imp->source, sqlite3_errmsg(imp->db));
	else
		g_set_error(err, IMPORT_ERROR, EIO, "%s: %s: %s; nothing imported", imp->source,
			    what, sqlite3_errmsg(imp->db));
	return false;
}

/* Only a regular file with SQLite's header is handed to SQLite. */
static bool check_header(const char *path, GError **err)
{
	static const char magic[16] = "SQLite format 3";
	char head[sizeof(magic)];
	struct stat st;

	if (stat(path, &st) < 0) {
		g_set_error(err, IMPORT_ERROR, errno, "%s: %s; nothing imported", path,
			    g_strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(err, IMPORT_ERROR, EINVAL,
			    "%s: not a regular file; name the database file of Proxmox's pmxcfs "
			    "(config.db)",
			    path);
		return false;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		g_set_error(err, IMPORT_ERROR, errno, "%s: %s; nothing imported", path,
			    g_strerror(errno));
		return false;
	}
	ssize_t n = read(fd, head, sizeof(head));
	close(fd);
	if (n != (ssize_t)sizeof(head) || memcmp(head, magic, sizeof(magic)) != 0) {
		g_set_error(err, IMPORT_ERROR, EINVAL,
			    "%s: not an SQLite database, so not one of Proxmox's pmxcfs; "
			    "nothing imported",
			    path);
		return false;
	}
	return true;
}

/* The source's journals that hold anything: changes its main file does not
 * have yet, left by a pmxcfs that did not stop cleanly. */
static GPtrArray *pending_journals(const char *source)
{
	static const char *const suffixes[] = {"-wal", "-journal"};
	GPtrArray *found = g_ptr_array_new_with_free_func(g_free);
	struct stat st;

	for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		char *p = g_strconcat(source, suffixes[i], NULL);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
			g_ptr_array_add(found, p);
		else
			g_free(p);
	}
	return found;
}

/* A short write sets no errno: EIO then. */
static bool io_fail(GError **err, const char *path, int e)
{
	e = e ? e : EIO;
	g_set_error(err, IMPORT_ERROR, e, "%s: %s; nothing imported", path, g_strerror(e));
	return false;
}

static bool copy_file(const char *from, const char *to, GError **err)
{
	char buf[65536];
	ssize_t n;
	bool ok = true;
	int in = open(from, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (in < 0)
		return io_fail(err, from, errno);
	int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (out < 0) {
		close(in);
		return io_fail(err, to, errno);
	}
	while (ok && (n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			ok = io_fail(err, from, errno);
			continue;
		}
		errno = 0;
		if (write(out, buf, (size_t)n) != n)
			ok = io_fail(err, to, errno);
	}
	if (close(out) < 0 && ok)
		ok = io_fail(err, to, errno);
	close(in);
	return ok;
}

static void remove_dir(const char *dir)
{
	GDir *d = g_dir_open(dir, 0, NULL);
	const char *name;

	if (d) {
		while ((name = g_dir_read_name(d))) {
			g_autofree char *p = g_build_filename(dir, name, NULL);
			unlink(p);
		}
		g_dir_close(d);
	}
	if (rmdir(dir) < 0 && errno != ENOENT)
		log_warn("%s: cannot remove this copy of the imported database: %s", dir,
			 g_strerror(errno));
}

/* "file:" URI of path with SQLite's immutable flag: no locks, no journal
 * or WAL read or created, nothing written, not even beside the file. */
static char *immutable_uri(const char *path)
{
	GString *uri = g_string_new("file:");

	for (const char *p = path; *p; p++)
		if (*p == '%' || *p == '?' || *p == '#')
			g_string_append_printf(uri, "%%%02X", (unsigned char)*p);
		else
			g_string_append_c(uri, *p);
	g_string_append(uri, "?immutable=1");
	return g_string_free(uri, FALSE);
}

/* The source is opened immutable. A journal with changes beside it could
 * only be applied by writing there, so then the source and its journals
 * are copied into a private directory, where SQLite applies them. */
static bool open_source(import_t *imp, GError **err)
{
	g_autoptr(GPtrArray) journals = NULL;
	int rc;

	if (!check_header(imp->source, err))
		return false;
	journals = pending_journals(imp->source);
	if (journals->len == 0) {
		g_autofree char *uri = immutable_uri(imp->source);
		rc = sqlite3_open_v2(uri, &imp->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	} else {
		g_autofree char *base = g_path_get_basename(imp->source);
		imp->copy_dir = g_dir_make_tmp("pmxcfsd-import-XXXXXX", err);
		if (!imp->copy_dir) {
			g_prefix_error(err,
				       "%s: a private copy is needed to read it: ", imp->source);
			return false;
		}
		g_autofree char *copy = g_build_filename(imp->copy_dir, base, NULL);
		if (!copy_file(imp->source, copy, err))
			return false;
		for (guint i = 0; i < journals->len; i++) {
			const char *j = journals->pdata[i];
			g_autofree char *to = g_strconcat(copy, j + strlen(imp->source), NULL);
			if (!copy_file(j, to, err))
				return false;
			g_ptr_array_add(
			    imp->notes,
			    g_strdup_printf("%s holds changes not yet in %s (pmxcfs did "
					    "not stop cleanly): both were read from a "
					    "private copy, and are left as they are",
					    j, imp->source));
		}
		rc = sqlite3_open_v2(copy, &imp->db, SQLITE_OPEN_READWRITE, NULL);
	}
	if (rc != SQLITE_OK) {
		if (!imp->db) {
			g_set_error(err, IMPORT_ERROR, ENOMEM, "%s: cannot open it", imp->source);
			return false;
		}
		return sql_fail(imp, err, "open");
	}
	sqlite3_extended_result_codes(imp->db, 0);
	return true;
}

static bool query_text(import_t *imp, const char *sql, char **out, GError **err)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(imp->db, sql, -1, &st, NULL) != SQLITE_OK)
		return sql_fail(imp, err, sql);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = g_strdup((const char *)sqlite3_column_text(st, 0));
	else if (rc == SQLITE_DONE)
		*out = NULL;
	else
		sql_fail(imp, err, sql);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE;
}

static bool check_ref_table(import_t *imp, GError **err)
{
	sqlite3_stmt *st = NULL;
	guint found = 0;

	if (sqlite3_prepare_v2(imp->db, "PRAGMA table_info(tree)", -1, &st, NULL) != SQLITE_OK)
		return sql_fail(imp, err, "reading its tables");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *col = (const char *)sqlite3_column_text(st, 1);
		for (size_t i = 0; col && i < G_N_ELEMENTS(ref_columns); i++)
			if (g_ascii_strcasecmp(col, ref_columns[i]) == 0)
				found |= 1u << i;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return sql_fail(imp, err, "reading its tables");
	if (found != (1u << G_N_ELEMENTS(ref_columns)) - 1) {
		g_set_error(err, IMPORT_ERROR, EINVAL,
			    "%s: not a database of Proxmox's pmxcfs (it has no table tree with "
			    "columns inode, parent, version, writer, mtime, type, name, data); "
			    "nothing imported",
			    imp->source);
		return false;
	}
	return true;
}

/* Damaged, ours, or not the reference's at all: refused as a whole. */
static bool check_source(import_t *imp, GError **err)
{
	g_autofree char *check = NULL;
	g_autofree char *appid = NULL;

	if (!query_text(imp, "PRAGMA quick_check", &check, err) ||
	    !query_text(imp, "PRAGMA application_id", &appid, err))
		return false;
	if (!check || strcmp(check, "ok") != 0) {
		/* SQLite's first finding, on one line */
		g_autofree char *first = g_strndup(check ? check : "no answer", 120);
		g_strdelimit(first, "\r\n", ' ');
		g_set_error(err, IMPORT_ERROR, EIO,
			    "%s: the database is damaged (%s); nothing imported: import a backup "
			    "of it",
			    imp->source, first);
		return false;
	}
	if (appid && g_ascii_strtoll(appid, NULL, 10) == DBSTORE_APPLICATION_ID) {
		g_set_error(err, IMPORT_ERROR, EINVAL,
			    "%s: a database of pmxcfsd already, nothing to import: start pmxcfsd "
			    "with --database %s",
			    imp->source, imp->source);
		return false;
	}
	return check_ref_table(imp, err);
}

/* ---- the rows ---- */

static bool in_range(int64_t v, int64_t max)
{
	return v >= 0 && v <= max;
}

/* The first reason found for refusing the row on its own, or NULL. Reads
 * the row's columns as the query in read_rows selects them. */
static char *parse_row(sqlite3_stmt *st, row_t *r)
{
	static const char *const ints[] = {"parent", "version", "writer", "mtime", "type"};
	const int64_t max_number = (int64_t)MEMDB_INODE_LIMIT - 1;

	r->inode = sqlite3_column_int64(st, 0);
	r->parent = sqlite3_column_int64(st, 1);
	r->version = sqlite3_column_int64(st, 2);
	r->writer = sqlite3_column_int64(st, 3);
	r->mtime = sqlite3_column_int64(st, 4);
	r->type = sqlite3_column_int64(st, 5);
	const char *name = (const char *)sqlite3_column_text(st, 6);
	size_t len = (size_t)sqlite3_column_bytes(st, 6);
	r->name_len = name ? MIN(len, (size_t)MEMDB_MAX_NAME + 1) : 0;
	r->name = g_malloc0(r->name_len + 1);
	memcpy(r->name, name ? name : "", r->name_len);
	r->size = sqlite3_column_int64(st, 7);

	for (int i = 0; i < (int)G_N_ELEMENTS(ints); i++) {
		const char *t = (const char *)sqlite3_column_text(st, 8 + i);
		if (!t || strcmp(t, "integer") != 0)
			return g_strdup_printf("its %s is %s, not an integer", ints[i],
					       t ? t : "missing");
	}
	const char *ntype = (const char *)sqlite3_column_text(st, 13);
	const char *dtype = (const char *)sqlite3_column_text(st, 14);
	if (!ntype || strcmp(ntype, "text") != 0)
		return g_strdup_printf("its name is %s, not text", ntype ? ntype : "missing");
	if (!dtype || (strcmp(dtype, "blob") != 0 && strcmp(dtype, "null") != 0))
		return g_strdup_printf("its data is %s, not a blob", dtype ? dtype : "missing");
	if (!in_range(r->inode, max_number))
		return g_strdup("its inode number is out of range");
	if (!in_range(r->parent, max_number))
		return g_strdup_printf("its parent %" PRId64 " is out of range", r->parent);
	if (!in_range(r->version, max_number))
		return g_strdup_printf("its version %" PRId64 " is out of range", r->version);
	if (!in_range(r->writer, UINT32_MAX))
		return g_strdup_printf("its writer %" PRId64 " is out of range", r->writer);
	if (!in_range(r->mtime, UINT32_MAX))
		return g_strdup_printf("its mtime %" PRId64 " is out of range", r->mtime);
	return NULL;
}

/* The checks that apply to every row but the version row. */
static char *check_entry(const import_t *imp, row_t *r)
{
	if (r->type != MEMDB_DIR && r->type != MEMDB_REG)
		return g_strdup_printf(
		    "its type %" PRId64 " is unknown (directories are 4, files 8)", r->type);
	if (strlen(r->name) != r->name_len)
		return g_strdup("its name holds a NUL byte");
	int res = memdb_check_name(r->name);
	if (res == -ENAMETOOLONG)
		return g_strdup_printf("its name is longer than %d bytes", MEMDB_MAX_NAME);
	if (res < 0)
		return g_strdup("its name is not valid (empty, \".\", \"..\" or with a '/')");
	if (r->parent == 0 && fusefs_reserved_name(r->name))
		return g_strdup("its name is that of a virtual file or link at the root of "
				"/etc/pve, which would hide it");
	if (r->type == MEMDB_REG && (uint64_t)r->size > imp->limits.max_file_size)
		return g_strdup_printf("a file of %" PRId64
				       " bytes, more than the limit of %" PRIu64,
				       r->size, (uint64_t)imp->limits.max_file_size);
	r->drop_data = r->type == MEMDB_DIR && r->size > 0;
	return NULL;
}

/* Inode 0 holds the tree's version, writer and time under a fixed name;
 * without it the file is not the reference's database. */
static bool take_version_row(import_t *imp, row_t *r, char *why, GError **err)
{
	g_autofree char *reason = why;

	if (strlen(r->name) != r->name_len || strcmp(r->name, IMPORT_VERSION_NAME) != 0) {
		g_autofree char *name = textesc(r->name, MIN(r->name_len, REPORT_NAME_MAX), false);
		g_set_error(err, IMPORT_ERROR, EINVAL,
			    "%s: inode 0 is named '%s', not %s: not a database of Proxmox's "
			    "pmxcfs; nothing imported",
			    imp->source, name, IMPORT_VERSION_NAME);
		return false;
	}
	if (reason) {
		g_set_error(err, IMPORT_ERROR, EINVAL,
			    "%s: its version row (inode 0) is damaged: %s; nothing imported",
			    imp->source, reason);
		return false;
	}
	imp->root.version = r->version;
	imp->root.writer = r->writer;
	imp->root.mtime = r->mtime;
	return true;
}

static bool count_rows(import_t *imp, GError **err)
{
	g_autofree char *n = NULL;

	if (!query_text(imp, "SELECT count(*) FROM tree", &n, err))
		return false;
	uint64_t rows = n ? g_ascii_strtoull(n, NULL, 10) : 0;
	/* the version row is no entry */
	if (rows > imp->limits.max_inodes + 1) {
		g_set_error(err, IMPORT_ERROR, ENOSPC,
			    "%s: %" PRIu64 " rows, more than pmxcfsd's limit of %" PRIu64
			    " files and directories; nothing imported",
			    imp->source, rows, (uint64_t)imp->limits.max_inodes);
		return false;
	}
	return true;
}

static void index_row(import_t *imp, row_t *r)
{
	g_ptr_array_add(imp->rows, r);
	g_hash_table_insert(imp->by_inode, &r->inode, r);
	GPtrArray *kids = g_hash_table_lookup(imp->children, &r->parent);
	if (!kids) {
		kids = g_ptr_array_new();
		g_hash_table_insert(imp->children, &r->parent, kids);
	}
	g_ptr_array_add(kids, r);
}

/* Everything but the contents, which only the rows taken need. */
static bool read_rows(import_t *imp, GError **err)
{
	sqlite3_stmt *st = NULL;
	bool have_root = false, ok = true;
	int rc;

	if (!count_rows(imp, err))
		return false;
	if (sqlite3_prepare_v2(
		imp->db,
		"SELECT inode, parent, version, writer, mtime, type, name, length(data),"
		" typeof(parent), typeof(version), typeof(writer), typeof(mtime),"
		" typeof(type), typeof(name), typeof(data) FROM tree ORDER BY inode",
		-1, &st, NULL) != SQLITE_OK)
		return sql_fail(imp, err, "reading the tree");
	while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_t *r = g_new0(row_t, 1);
		char *why = parse_row(st, r);
		if (r->inode == 0) {
			ok = have_root = take_version_row(imp, r, why, err);
			row_free(r);
			continue;
		}
		r->why = why ? why : check_entry(imp, r);
		if (r->why)
			r->state = ROW_REFUSED;
		index_row(imp, r);
	}
	if (ok && rc != SQLITE_DONE)
		ok = sql_fail(imp, err, "reading the tree");
	sqlite3_finalize(st);
	if (ok && !have_root) {
		g_set_error(err, IMPORT_ERROR, EINVAL,
			    "%s: no version row (inode 0, %s): not a database of Proxmox's "
			    "pmxcfs; nothing imported",
			    imp->source, IMPORT_VERSION_NAME);
		ok = false;
	}
	return ok;
}

/* Of two rows with one name in one directory, the one written last. */
static bool newer(const row_t *a, const row_t *b)
{
	return a->version > b->version || (a->version == b->version && a->inode < b->inode);
}

static void refuse_duplicate(row_t *loser, const row_t *winner)
{
	loser->state = ROW_REFUSED;
	loser->why = g_strdup_printf(
	    "the same name as inode %" PRId64 " in the same directory, which is %s", winner->inode,
	    winner->version > loser->version ? "newer" : "as new and has a lower inode number");
}

/* Takes, from the root down, every row that is one directory deeper than
 * a directory taken: one per name, within the depth limit. */
static void walk_tree(import_t *imp)
{
	g_autoptr(GPtrArray) todo = g_ptr_array_new();
	g_autoptr(GHashTable) by_name = g_hash_table_new(g_str_hash, g_str_equal);

	imp->root.state = ROW_TAKEN;
	g_ptr_array_add(todo, &imp->root);
	while (todo->len) {
		row_t *dir = g_ptr_array_steal_index_fast(todo, todo->len - 1);
		GPtrArray *kids = g_hash_table_lookup(imp->children, &dir->inode);
		if (!kids)
			continue;
		g_hash_table_remove_all(by_name);
		for (guint i = 0; i < kids->len; i++) {
			row_t *k = kids->pdata[i];
			if (k->state != ROW_PENDING)
				continue;
			row_t *other = g_hash_table_lookup(by_name, k->name);
			if (!other) {
				g_hash_table_insert(by_name, k->name, k);
			} else if (newer(k, other)) {
				refuse_duplicate(other, k);
				g_hash_table_insert(by_name, k->name, k);
			} else {
				refuse_duplicate(k, other);
			}
		}
		for (guint i = 0; i < kids->len; i++) {
			row_t *k = kids->pdata[i];
			if (k->state != ROW_PENDING)
				continue;
			if (k->type == MEMDB_DIR && dir->depth + 1 > MEMDB_MAX_DEPTH) {
				k->state = ROW_REFUSED;
				k->why = g_strdup_printf(
				    "a directory more than %d directories deep", MEMDB_MAX_DEPTH);
				continue;
			}
			k->state = ROW_TAKEN;
			k->depth = dir->depth + 1;
			if (k->type == MEMDB_DIR)
				g_ptr_array_add(todo, k);
		}
	}
}

/* Finds why r is not reachable, going up its parents; every row passed on
 * the way has the same obstacle, so it is recorded for all of them. */
static void trace_cut(import_t *imp, row_t *r)
{
	g_autoptr(GPtrArray) chain = g_ptr_array_new();
	g_autoptr(GHashTable) seen = g_hash_table_new(NULL, NULL);
	cut_t cut = CUT_NONE;
	int64_t at = 0, parent = 0;

	for (row_t *c = r;; c = find(imp, c->parent)) {
		g_ptr_array_add(chain, c);
		g_hash_table_add(seen, c);
		row_t *p = find(imp, c->parent);
		at = c->inode;
		parent = c->parent;
		if (!p) {
			cut = CUT_MISSING;
		} else if (p->state == ROW_TAKEN) {
			/* a directory taken has every child decided */
			cut = CUT_FILE;
		} else if (p->state == ROW_REFUSED) {
			cut = CUT_REFUSED;
		} else if (p->cut != CUT_NONE) {
			cut = p->cut;
			at = p->cut_at;
			parent = p->cut_parent;
		} else if (g_hash_table_contains(seen, p)) {
			cut = CUT_CYCLE;
		} else {
			continue;
		}
		break;
	}
	for (guint i = 0; i < chain->len; i++) {
		row_t *c = chain->pdata[i];
		c->cut = cut;
		c->cut_at = at;
		c->cut_parent = parent;
	}
}

static void refuse_unreachable(import_t *imp)
{
	for (guint i = 0; i < imp->rows->len; i++) {
		row_t *r = imp->rows->pdata[i];
		if (r->state == ROW_PENDING && r->cut == CUT_NONE)
			trace_cut(imp, r);
	}
	for (guint i = 0; i < imp->rows->len; i++) {
		row_t *r = imp->rows->pdata[i];
		if (r->state == ROW_PENDING)
			r->state = ROW_REFUSED;
	}
}

/* ---- counts, numbers, report ---- */

static bool count_taken(import_t *imp, GError **err)
{
	import_counts_t *c = &imp->counts;
	uint64_t v = MAX((uint64_t)imp->root.version, MEMDB_ROOT_INODE);
	row_t *one = NULL;

	c->source_version = (uint64_t)imp->root.version;
	for (guint i = 0; i < imp->rows->len; i++) {
		row_t *r = imp->rows->pdata[i];
		if (r->state != ROW_TAKEN) {
			c->refused++;
			continue;
		}
		if (r->type == MEMDB_DIR) {
			c->dirs++;
		} else {
			c->files++;
			c->bytes += (uint64_t)r->size;
		}
		/* New inodes take the next version: it must be above all. */
		v = MAX(v, MAX((uint64_t)r->version, (uint64_t)r->inode));
		if (r->inode == MEMDB_ROOT_INODE)
			one = r;
	}
	if (c->dirs + c->files + 1 > imp->limits.max_inodes) {
		g_set_error(err, IMPORT_ERROR, ENOSPC,
			    "%s: %" PRIu64 " files and directories, more than pmxcfsd's limit of "
			    "%" PRIu64 "; nothing imported",
			    imp->source, c->dirs + c->files + 1, (uint64_t)imp->limits.max_inodes);
		return false;
	}
	if (c->bytes > imp->limits.max_fs_size) {
		g_set_error(err, IMPORT_ERROR, ENOSPC,
			    "%s: %" PRIu64 " bytes in files, more than pmxcfsd's limit of %" PRIu64
			    "; nothing imported",
			    imp->source, c->bytes, (uint64_t)imp->limits.max_fs_size);
		return false;
	}
	/* Our root is inode 1; the reference never numbers an entry 1 (its
	 * first is 2), but a row that has it moves to a fresh number. */
	if (one) {
		imp->renumbered = ++v;
		if (v >= MEMDB_INODE_LIMIT) {
			g_set_error(
			    err, IMPORT_ERROR, ERANGE,
			    "%s: its versions leave no number for inode 1; nothing imported",
			    imp->source);
			return false;
		}
	}
	c->version = v;
	return true;
}

static uint64_t target_inode(const import_t *imp, int64_t inode)
{
	if (inode == 0)
		return MEMDB_ROOT_INODE;
	if (inode == MEMDB_ROOT_INODE)
		return imp->renumbered;
	return (uint64_t)inode;
}

static void append_name(GString *s, const row_t *r)
{
	textesc_append(s, r->name, MIN(r->name_len, REPORT_NAME_MAX), false);
	if (r->name_len > REPORT_NAME_MAX)
		g_string_append(s, "...");
}

/* "inode N (a/b/c)" when the row's parents lead to the root, else
 * "inode N ('name' in inode P)". */
static void describe(GString *s, const import_t *imp, const row_t *r)
{
	g_autoptr(GPtrArray) up = g_ptr_array_new();
	const row_t *c = r;

	for (guint i = 0; c && c != &imp->root && i <= MEMDB_MAX_DEPTH + 1; i++) {
		g_ptr_array_add(up, (gpointer)c);
		c = find(imp, c->parent);
	}
	g_string_append_printf(s, "inode %" PRId64 " (", r->inode);
	if (c == &imp->root) {
		for (guint i = up->len; i > 0; i--) {
			append_name(s, up->pdata[i - 1]);
			if (i > 1)
				g_string_append_c(s, '/');
		}
	} else {
		g_string_append_c(s, '\'');
		append_name(s, r);
		g_string_append_printf(s, "' in inode %" PRId64, r->parent);
	}
	g_string_append(s, ")");
}

static void append_cut(GString *s, const row_t *r)
{
	bool self = r->cut_at == r->inode;
	char below[64] = "";

	if (!self)
		g_snprintf(below, sizeof(below), "below inode %" PRId64 ", whose ", r->cut_at);
	switch (r->cut) {
	case CUT_MISSING:
		g_string_append_printf(s, "%sparent inode %" PRId64 " does not exist",
				       self ? "its " : below, r->cut_parent);
		break;
	case CUT_FILE:
		g_string_append_printf(s, "%sparent inode %" PRId64 " is a file",
				       self ? "its " : below, r->cut_parent);
		break;
	case CUT_REFUSED:
		g_string_append_printf(s, "below inode %" PRId64 ", which is refused",
				       r->cut_parent);
		break;
	case CUT_CYCLE:
	case CUT_NONE:
		g_string_append_printf(
		    s, "its parents loop (through inode %" PRId64 ") and never reach the root",
		    r->cut_parent);
		break;
	}
}

static void build_report(import_t *imp)
{
	for (guint i = 0; i < imp->rows->len; i++) {
		const row_t *r = imp->rows->pdata[i];
		GString *s = g_string_new(NULL);
		describe(s, imp, r);
		g_string_append(s, ": ");
		if (r->state == ROW_REFUSED && r->why) {
			g_string_append(s, r->why);
		} else if (r->state == ROW_REFUSED) {
			g_string_append(s, "not reachable from the root: ");
			append_cut(s, r);
		} else if (r->drop_data) {
			g_string_append_printf(s,
					       "a directory with %" PRId64 " bytes of data: "
					       "taken, without the data",
					       r->size);
		} else if (r->inode == MEMDB_ROOT_INODE) {
			g_string_append_printf(s,
					       "becomes inode %" PRIu64 ", as inode 1 is "
					       "pmxcfsd's root",
					       imp->renumbered);
		} else {
			g_string_free(s, TRUE);
			continue;
		}
		g_ptr_array_add(r->state == ROW_REFUSED ? imp->refusals : imp->notes,
				g_string_free(s, FALSE));
	}
}

/* Only now, and only for the files taken, the contents. */
static bool read_data(import_t *imp, GError **err)
{
	sqlite3_stmt *st = NULL;
	bool ok = true;
	int rc;

	if (sqlite3_prepare_v2(imp->db,
			       "SELECT inode, data FROM tree WHERE type = 8 ORDER BY inode", -1,
			       &st, NULL) != SQLITE_OK)
		return sql_fail(imp, err, "reading the files");
	while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		row_t *r = find(imp, sqlite3_column_int64(st, 0));
		if (!r || r == &imp->root || r->state != ROW_TAKEN || r->type != MEMDB_REG)
			continue;
		const void *data = sqlite3_column_blob(st, 1);
		int64_t n = sqlite3_column_bytes(st, 1);
		if (n != r->size) {
			g_set_error(err, IMPORT_ERROR, EAGAIN,
				    "%s: changed while it was read; stop what writes it (the "
				    "pve-cluster service) and import again",
				    imp->source);
			ok = false;
		} else if (n > 0) {
			r->data = g_memdup2(data, (gsize)n);
		}
	}
	if (ok && rc != SQLITE_DONE)
		ok = sql_fail(imp, err, "reading the files");
	sqlite3_finalize(st);
	return ok;
}

/* ---- the object ---- */

import_t *import_new(const char *source, const memdb_limits_t *limits, GError **err)
{
	import_t *imp = g_new0(import_t, 1);

	imp->source = g_strdup(source);
	imp->limits = limits ? *limits : (memdb_limits_t)MEMDB_LIMITS_DEFAULT;
	imp->root.type = MEMDB_DIR;
	imp->root.name = g_strdup("");
	imp->rows = g_ptr_array_new_with_free_func(row_free);
	imp->by_inode = g_hash_table_new(g_int64_hash, g_int64_equal);
	imp->children = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
					      (GDestroyNotify)g_ptr_array_unref);
	imp->refusals = g_ptr_array_new_with_free_func(g_free);
	imp->notes = g_ptr_array_new_with_free_func(g_free);
	bool ok = open_source(imp, err) && check_source(imp, err) && read_rows(imp, err);
	if (ok) {
		walk_tree(imp);
		refuse_unreachable(imp);
		ok = count_taken(imp, err) && read_data(imp, err);
	}
	/* Everything needed is in memory now: the source is let go at once. */
	sqlite3_close(imp->db);
	imp->db = NULL;
	if (imp->copy_dir)
		remove_dir(imp->copy_dir);
	if (!ok) {
		import_free(imp);
		return NULL;
	}
	build_report(imp);
	return imp;
}

void import_free(import_t *imp)
{
	if (!imp)
		return;
	sqlite3_close(imp->db);
	g_free(imp->copy_dir);
	g_hash_table_destroy(imp->children);
	g_hash_table_destroy(imp->by_inode);
	g_ptr_array_free(imp->rows, TRUE);
	g_ptr_array_free(imp->refusals, TRUE);
	g_ptr_array_free(imp->notes, TRUE);
	g_free(imp->root.name);
	g_free(imp->source);
	g_free(imp);
}

void import_get_counts(const import_t *imp, import_counts_t *counts)
{
	*counts = imp->counts;
}

const GPtrArray *import_refusals(const import_t *imp)
{
	return imp->refusals;
}

const GPtrArray *import_notes(const import_t *imp)
{
	return imp->notes;
}

/* ---- the new database ---- */

bool import_check_target(const import_t *imp, const char *dbpath, GError **err)
{
	static const char *const journals[] = {"-wal", "-journal"};
	struct stat st, src;

	if (lstat(dbpath, &st) == 0) {
		if (stat(imp->source, &src) == 0 && src.st_dev == st.st_dev &&
		    src.st_ino == st.st_ino)
			g_set_error(err, IMPORT_ERROR, EEXIST,
				    "%s is where pmxcfsd keeps its own database: move it away "
				    "first, with its -wal and -shm files (for example to %s.pve), "
				    "and import from there",
				    dbpath, dbpath);
		else
			g_set_error(err, IMPORT_ERROR, EEXIST,
				    "%s exists: refusing to overwrite it; move it away, with its "
				    "-wal and -shm files, to import into its place",
				    dbpath);
		return false;
	}
	if (errno != ENOENT) {
		g_set_error(err, IMPORT_ERROR, errno, "%s: %s", dbpath, g_strerror(errno));
		return false;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(journals); i++) {
		g_autofree char *j = g_strconcat(dbpath, journals[i], NULL);
		if (lstat(j, &st) == 0) {
			g_set_error(err, IMPORT_ERROR, EEXIST,
				    "%s exists without its database %s: move it away too (it "
				    "belongs to the database moved away), or the new database "
				    "would take it for its own journal",
				    j, dbpath);
			return false;
		}
	}
	return true;
}

static void add_entry(GVariantBuilder *b, const import_t *imp, const row_t *r)
{
	bool root = r == &imp->root;
	bool file = r->type == MEMDB_REG;
	GVariant *data = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, file ? r->data : NULL,
						   file ? (gsize)r->size : 0, 1);

	g_variant_builder_add(b, "(tttuuys@ay)", (guint64)target_inode(imp, r->inode),
			      (guint64)(root ? 0 : target_inode(imp, r->parent)),
			      (guint64)r->version, (guint32)r->writer, (guint32)r->mtime,
			      (guchar)r->type, r->name, data);
}

/* The tree in memdb_dump's form, entries in increasing inode order: the
 * root (1) first, a renumbered inode 1 last, the others as they were. */
static GVariant *build_dump(const import_t *imp)
{
	GVariantBuilder b;
	const row_t *one = NULL;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a(tttuuysay)"));
	add_entry(&b, imp, &imp->root);
	for (guint i = 0; i < imp->rows->len; i++) {
		const row_t *r = imp->rows->pdata[i];
		if (r->state != ROW_TAKEN)
			continue;
		if (r->inode == MEMDB_ROOT_INODE)
			one = r;
		else
			add_entry(&b, imp, r);
	}
	if (one)
		add_entry(&b, imp, one);
	return g_variant_ref_sink(g_variant_new("(t@a(tttuuysay))", (guint64)imp->counts.version,
						g_variant_builder_end(&b)));
}

static void remove_store(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};

	for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *p = g_strconcat(path, suffixes[i], NULL);
		unlink(p);
	}
}

/* The store is built through memdb, so that the tree passes the same
 * checks as one loaded at start or received from another node. */
static bool build_store(const import_t *imp, const char *path, GError **err)
{
	g_autoptr(GVariant) dump = build_dump(imp);
	g_autofree char *wal = g_strconcat(path, "-wal", NULL);
	memdb_t *mdb = memdb_open_with(path, &imp->limits, err);
	bool ok = mdb && memdb_replace(mdb, dump, err);

	/* Closing moves the write-ahead log into the file and removes it:
	 * what is linked into place must be whole without it. */
	memdb_free(mdb);
	if (ok && access(wal, F_OK) == 0) {
		g_set_error(err, IMPORT_ERROR, EIO,
			    "%s: its write-ahead log was left after closing; nothing imported",
			    path);
		ok = false;
	}
	return ok;
}

static void sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		log_warn("%s: cannot sync the directory: %s", dir, g_strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* Never replaces: a database that appeared meanwhile stays. */
static int place(const char *tmp, const char *dbpath)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, dbpath, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A file system without it: link() never replaces either. */
	return link(tmp, dbpath);
}

bool import_write(const import_t *imp, const char *dbpath, GError **err)
{
	g_autofree char *dir = g_path_get_dirname(dbpath);
	g_autofree char *tmp = g_strconcat(dbpath, ".import-XXXXXX", NULL);

	if (!import_check_target(imp, dbpath, err) || !dbstore_make_private_dir(dir, err))
		return false;
	int fd = g_mkstemp_full(tmp, O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		g_set_error(err, IMPORT_ERROR, errno, "%s: %s", tmp, g_strerror(errno));
		return false;
	}
	close(fd);
	bool ok = build_store(imp, tmp, err);
	if (ok && place(tmp, dbpath) < 0) {
		if (errno == EEXIST)
			g_set_error(err, IMPORT_ERROR, EEXIST,
				    "%s exists: refusing to overwrite it; move it away, with its "
				    "-wal and -shm files, to import into its place",
				    dbpath);
		else
			g_set_error(err, IMPORT_ERROR, errno, "%s: %s; nothing imported", dbpath,
				    g_strerror(errno));
		ok = false;
	}
	remove_store(tmp);
	if (ok)
		sync_dir(dir);
	return ok;
}
