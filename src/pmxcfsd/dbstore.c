#include "dbstore.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bump when the schema changes; an unknown schema is refused. */
#define DBSTORE_SCHEMA_VERSION 1
/* Small page cache: the tree itself lives in memory. */
#define DBSTORE_CACHE_KIB 2048

struct dbstore {
	sqlite3 *db;
	char *path;
	sqlite3_stmt *put;
	sqlite3_stmt *del;
	sqlite3_stmt *setver;
	sqlite3_stmt *begin;
	sqlite3_stmt *commit;
	sqlite3_stmt *rollback;
};

/* The quark's name is made from the tokens as written: no spaces. */
/* clang-format off */
G_DEFINE_QUARK(dbstore-error-quark, dbstore_error)
/* clang-format on */

static bool fail(dbstore_t *db, GError **err, const char *what)
{
	g_set_error(err, DBSTORE_ERROR, sqlite3_errcode(db->db), "%s: %s: %s", db->path, what,
		    sqlite3_errmsg(db->db));
	return false;
}

static bool exec(dbstore_t *db, const char *sql, GError **err)
{
	char *msg = NULL;

	if (sqlite3_exec(db->db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return true;
	g_set_error(err, DBSTORE_ERROR, sqlite3_errcode(db->db), "%s: %s: %s", db->path, sql,
		    msg ? msg : sqlite3_errmsg(db->db));
	sqlite3_free(msg);
	return false;
}

static bool query_int(dbstore_t *db, const char *sql, int64_t *out, GError **err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail(db, err, sql);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		ok = true;
	} else if (rc == SQLITE_DONE) {
		*out = 0;
		ok = true;
	} else {
		fail(db, err, sql);
	}
	sqlite3_finalize(st);
	return ok;
}

/* A non-empty file must start with SQLite's header; anything else is not
 * ours, and we must not let SQLite decide whether to touch it. Sets *wal
 * when the header says the database is in WAL mode, as ours always is. */
static bool file_state(const char *path, bool *is_new, bool *wal, GError **err)
{
	static const char magic[16] = "SQLite format 3";
	unsigned char head[20];
	struct stat st;

	if (stat(path, &st) < 0) {
		if (errno == ENOENT) {
			*is_new = true;
			return true;
		}
		g_set_error(err, DBSTORE_ERROR, errno, "%s: %s", path, g_strerror(errno));
		return false;
	}
	if (!S_ISREG(st.st_mode)) {
		g_set_error(err, DBSTORE_ERROR, EINVAL, "%s: not a regular file", path);
		return false;
	}
	*is_new = st.st_size == 0;
	if (*is_new)
		return true;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		g_set_error(err, DBSTORE_ERROR, errno, "%s: %s", path, g_strerror(errno));
		return false;
	}
	ssize_t n = read(fd, head, sizeof(head));
	close(fd);
	if (n != (ssize_t)sizeof(head) || memcmp(head, magic, sizeof(magic)) != 0) {
		g_set_error(err, DBSTORE_ERROR, EINVAL,
			    "%s: not an SQLite database; refusing to use or overwrite it "
			    "(move it away to start with an empty tree)",
			    path);
		return false;
	}
	/* File format write and read versions: 2 and 2 mean WAL. */
	*wal = head[18] == 2 && head[19] == 2;
	return true;
}

static bool create_schema(dbstore_t *db, GError **err)
{
	char sql[512];

	g_snprintf(sql, sizeof(sql),
		   "BEGIN;"
		   "CREATE TABLE tree (inode INTEGER PRIMARY KEY, parent INTEGER NOT NULL,"
		   " version INTEGER NOT NULL, writer INTEGER NOT NULL, mtime INTEGER NOT NULL,"
		   " type INTEGER NOT NULL, name TEXT NOT NULL, data BLOB);"
		   "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
		   "INSERT INTO meta VALUES ('version', 0);"
		   "PRAGMA application_id = %d; PRAGMA user_version = %d;"
		   "COMMIT;",
		   DBSTORE_APPLICATION_ID, DBSTORE_SCHEMA_VERSION);
	return exec(db, sql, err);
}

/* Runs on a connection that writes nothing (see verify_file), so that a
 * refused file and its directory stay exactly as they were. Sets *empty for
 * an SQLite file without any table, which becomes a new store. */
static bool verify_existing(dbstore_t *db, bool *empty, GError **err)
{
	int64_t appid, schema, ntables;
	char *foreign = "%s: not a pmxcfsd database (application id %#llx); refusing to use or "
			"overwrite it (move it away to start with an empty tree)";

	if (!query_int(db, "PRAGMA application_id", &appid, err) ||
	    !query_int(db, "PRAGMA user_version", &schema, err) ||
	    !query_int(db, "SELECT count(*) FROM sqlite_master", &ntables, err))
		return false;
	*empty = appid == 0 && ntables == 0;
	if (*empty)
		return true;
	if (appid != DBSTORE_APPLICATION_ID) {
		g_set_error(err, DBSTORE_ERROR, EINVAL, foreign, db->path,
			    (unsigned long long)appid);
		return false;
	}
	if (schema != DBSTORE_SCHEMA_VERSION) {
		g_set_error(err, DBSTORE_ERROR, EINVAL,
			    "%s: database schema version %lld, this pmxcfsd reads %d", db->path,
			    (long long)schema, DBSTORE_SCHEMA_VERSION);
		return false;
	}
	return dbstore_check(db, err);
}

static bool wal_has_frames(const char *path)
{
	g_autofree char *wal = g_strconcat(path, "-wal", NULL);
	struct stat st;

	return stat(wal, &st) == 0 && st.st_size > 0;
}

/* SQLite's answer when another connection holds the file, said as what to do. */
static void explain_busy(const char *path, GError **err)
{
	if (err && *err && ((*err)->code & 0xff) == SQLITE_BUSY) {
		g_clear_error(err);
		g_set_error(err, DBSTORE_ERROR, SQLITE_BUSY,
			    "%s: in use by another process (is pmxcfsd running already?); "
			    "stop it first",
			    path);
	}
}

/*
 * Decides whether the file is ours before anything may write to it.
 *
 * Without a WAL the main file is the whole database: it is read immutable
 * (no locks, no journal replay, no side files). With a WAL, the main file
 * alone may be half check-pointed (a daemon killed while copying WAL pages
 * into it), a state that is sound only when read through the WAL. It is then
 * read through it, on a connection that keeps its locks and WAL index in
 * memory and neither check-points nor deletes the WAL when it closes.
 */
static bool verify_file(const char *path, bool wal_mode, bool *empty, GError **err)
{
	dbstore_t probe = {.path = (char *)path};
	bool through_wal = wal_mode && wal_has_frames(path);
	GString *uri = g_string_new("file:");
	int flags = SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;

	for (const char *p = path; *p; p++)
		if (*p == '%' || *p == '?' || *p == '#')
			g_string_append_printf(uri, "%%%02X", (unsigned char)*p);
		else
			g_string_append_c(uri, *p);
	if (through_wal)
		flags |= SQLITE_OPEN_READWRITE;
	else {
		flags |= SQLITE_OPEN_READONLY;
		g_string_append(uri, "?immutable=1");
	}
	int rc = sqlite3_open_v2(uri->str, &probe.db, flags, NULL);
	g_string_free(uri, TRUE);
	bool ok = rc == SQLITE_OK || fail(&probe, err, "open");
	if (ok && through_wal &&
	    sqlite3_db_config(probe.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK)
		ok = fail(&probe, err, "open without check-pointing");
	if (ok && through_wal)
		ok = exec(&probe, "PRAGMA locking_mode = EXCLUSIVE", err);
	if (ok)
		ok = verify_existing(&probe, empty, err);
	sqlite3_close(probe.db);
	if (ok && *empty && wal_has_frames(path)) {
		/* Our stores have their tables in the main file from the start
		 * and are in WAL mode: tables in the WAL of a file whose header
		 * says otherwise belong to another program. */
		g_set_error(err, DBSTORE_ERROR, EINVAL,
			    "%s: not a pmxcfsd database (its content is in its -wal file); "
			    "refusing to use or overwrite it (move both away to start with an "
			    "empty tree)",
			    path);
		ok = false;
	}
	explain_busy(path, err);
	return ok;
}

static bool prepare(dbstore_t *db, sqlite3_stmt **st, const char *sql, GError **err)
{
	if (sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return fail(db, err, sql);
	return true;
}

static bool prepare_all(dbstore_t *db, GError **err)
{
	return prepare(db, &db->put,
		       "INSERT OR REPLACE INTO tree (inode, parent, version, writer, mtime, type,"
		       " name, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		       err) &&
	       prepare(db, &db->del, "DELETE FROM tree WHERE inode = ?", err) &&
	       prepare(db, &db->setver, "UPDATE meta SET value = ? WHERE key = 'version'", err) &&
	       prepare(db, &db->begin, "BEGIN IMMEDIATE", err) &&
	       prepare(db, &db->commit, "COMMIT", err) &&
	       prepare(db, &db->rollback, "ROLLBACK", err);
}

/* SQLite counts every allocation under a global mutex unless told not to
 * before its first use; nothing here reads those counts. */
static void sqlite_setup(void)
{
	static gsize done;

	if (g_once_init_enter(&done)) {
		sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
		g_once_init_leave(&done, 1);
	}
}

/* The store holds /etc/pve/priv (the cluster CA key, authkey copies, SSH
 * keys): whatever the umask was and whatever mode an older version left,
 * its files are root's alone. A wider mode found is narrowed and logged. */
static bool make_private(const char *path, mode_t mode, GError **err)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return true;
		g_set_error(err, DBSTORE_ERROR, errno, "%s: %s", path, g_strerror(errno));
		return false;
	}
	if (S_ISLNK(st.st_mode))
		return true; /* the link's target is checked where it is opened */
	if (st.st_uid != geteuid() && chown(path, geteuid(), (gid_t)-1) < 0) {
		g_set_error(err, DBSTORE_ERROR, errno, "%s: cannot make it root's: %s", path,
			    g_strerror(errno));
		return false;
	}
	if ((st.st_mode & 07777 & ~mode) == 0)
		return true;
	if (chmod(path, st.st_mode & mode) < 0) {
		g_set_error(err, DBSTORE_ERROR, errno, "%s: cannot change its mode to %o: %s", path,
			    (unsigned)(st.st_mode & mode), g_strerror(errno));
		return false;
	}
	log_warn("%s was readable by others (mode %o); now %o, as it holds /etc/pve/priv", path,
		 (unsigned)(st.st_mode & 07777), (unsigned)(st.st_mode & mode));
	return true;
}

static bool make_files_private(const char *path, GError **err)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};

	for (size_t i = 0; i < G_N_ELEMENTS(suffixes); i++) {
		g_autofree char *p = g_strconcat(path, suffixes[i], NULL);
		if (!make_private(p, 0600, err))
			return false;
	}
	return true;
}

/* A new store is created 0600 before SQLite opens it: SQLite gives its WAL
 * and shared-memory files the mode of the database file. */
static bool create_private(const char *path, GError **err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0) {
		g_set_error(err, DBSTORE_ERROR, errno, "%s: %s", path, g_strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

bool dbstore_make_private_dir(const char *dir, GError **err)
{
	g_autofree char *bdir = g_build_filename(dir, DBSTORE_BACKUP_DIR, NULL);
	struct stat st;

	if (g_mkdir_with_parents(dir, 0700) < 0 || stat(dir, &st) < 0) {
		g_set_error(err, DBSTORE_ERROR, errno, "%s: %s", dir, g_strerror(errno));
		return false;
	}
	/* A shared directory such as /tmp is never narrowed: the files are. */
	if (st.st_mode & S_ISVTX)
		return true;
	if (!make_private(dir, 0700, err) || !make_private(bdir, 0700, err))
		return false;
	DIR *d = opendir(bdir);
	if (!d)
		return true; /* no backups yet */
	struct dirent *de;
	bool ok = true;
	while (ok && (de = readdir(d))) {
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		g_autofree char *p = g_build_filename(bdir, de->d_name, NULL);
		if (lstat(p, &st) == 0 && S_ISREG(st.st_mode))
			ok = make_private(p, 0600, err);
	}
	closedir(d);
	return ok;
}

dbstore_t *dbstore_open(const char *path, GError **err)
{
	bool is_new = false, empty = false, wal_mode = false;
	dbstore_t *db;
	char pragmas[256];

	sqlite_setup();

	if (!file_state(path, &is_new, &wal_mode, err))
		return NULL;
	if (!is_new && !verify_file(path, wal_mode, &empty, err))
		return NULL;
	if (!make_files_private(path, err) || (is_new && !create_private(path, err)))
		return NULL;
	db = g_new0(dbstore_t, 1);
	db->path = g_strdup(path);
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (is_new ? SQLITE_OPEN_CREATE : 0);
	if (sqlite3_open_v2(path, &db->db, flags, NULL) != SQLITE_OK) {
		if (db->db)
			fail(db, err, "open");
		else
			g_set_error(err, DBSTORE_ERROR, ENOMEM, "%s: cannot open", path);
		goto out_free;
	}
	sqlite3_extended_result_codes(db->db, 1);
	/* The daemon is the store's only user: its locks are taken once, here,
	 * and held, not taken and dropped with fcntl() in every transaction,
	 * and the WAL index lives in memory instead of a shared file. Nobody
	 * else can write the tree behind the daemon's back, or read it while
	 * a transaction is half written. */
	if (!exec(db, "PRAGMA locking_mode = EXCLUSIVE", err))
		goto out_free;
	if ((is_new || empty) && !create_schema(db, err))
		goto out_free;
	/* NORMAL in WAL mode: a commit reaches the kernel before it returns, so
	 * a killed daemon loses nothing; only power loss could cost the tail. */
	g_snprintf(pragmas, sizeof(pragmas),
		   "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
		   "PRAGMA cache_size = -%d; PRAGMA foreign_keys = OFF;",
		   DBSTORE_CACHE_KIB);
	if (!exec(db, pragmas, err) || !prepare_all(db, err))
		goto out_free;
	/* Takes the lock now: a second daemon on this file fails at start. */
	if (!exec(db, "BEGIN EXCLUSIVE; COMMIT;", err))
		goto out_free;
	return db;

out_free:
	explain_busy(path, err);
	dbstore_free(db);
	return NULL;
}

void dbstore_free(dbstore_t *db)
{
	if (!db)
		return;
	sqlite3_finalize(db->put);
	sqlite3_finalize(db->del);
	sqlite3_finalize(db->setver);
	sqlite3_finalize(db->begin);
	sqlite3_finalize(db->commit);
	sqlite3_finalize(db->rollback);
	if (db->db)
		sqlite3_close(db->db);
	g_free(db->path);
	g_free(db);
}

bool dbstore_check(dbstore_t *db, GError **err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	if (sqlite3_prepare_v2(db->db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK)
		return fail(db, err, "integrity check");
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *res = (const char *)sqlite3_column_text(st, 0);
		ok = res && strcmp(res, "ok") == 0;
		if (!ok)
			g_set_error(err, DBSTORE_ERROR, EIO,
				    "%s: database is damaged (%s); refusing to use it", db->path,
				    res ? res : "?");
	} else {
		g_set_error(err, DBSTORE_ERROR, EIO,
			    "%s: database is damaged (%s); refusing to use it", db->path,
			    sqlite3_errmsg(db->db));
	}
	sqlite3_finalize(st);
	return ok;
}

bool dbstore_load(dbstore_t *db, dbstore_row_fn fn, void *ctx, uint64_t *version, GError **err)
{
	sqlite3_stmt *st = NULL;
	int64_t v;
	bool ok = true;

	if (!query_int(db, "SELECT value FROM meta WHERE key = 'version'", &v, err))
		return false;
	*version = (uint64_t)v;
	if (sqlite3_prepare_v2(db->db,
			       "SELECT inode, parent, version, writer, mtime, type, name, data"
			       " FROM tree ORDER BY inode",
			       -1, &st, NULL) != SQLITE_OK)
		return fail(db, err, "load");
	int rc;
	while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		dbstore_row_t row = {
		    .inode = (uint64_t)sqlite3_column_int64(st, 0),
		    .parent = (uint64_t)sqlite3_column_int64(st, 1),
		    .version = (uint64_t)sqlite3_column_int64(st, 2),
		    .writer = (uint32_t)sqlite3_column_int64(st, 3),
		    .mtime = (uint32_t)sqlite3_column_int64(st, 4),
		    .type = (uint8_t)sqlite3_column_int(st, 5),
		    .name = (const char *)sqlite3_column_text(st, 6),
		    .data = sqlite3_column_blob(st, 7),
		    .size = (uint32_t)sqlite3_column_bytes(st, 7),
		};
		if (!row.name) {
			g_set_error(err, DBSTORE_ERROR, EIO, "%s: inode %llu has no name", db->path,
				    (unsigned long long)row.inode);
			ok = false;
			break;
		}
		ok = fn(ctx, &row, err);
	}
	if (ok && rc != SQLITE_DONE)
		ok = fail(db, err, "load");
	sqlite3_finalize(st);
	return ok;
}

static bool step_reset(dbstore_t *db, sqlite3_stmt *st, const char *what, GError **err)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_DONE || rc == SQLITE_ROW)
		return true;
	return fail(db, err, what);
}

bool dbstore_begin(dbstore_t *db, GError **err)
{
	return step_reset(db, db->begin, "begin transaction", err);
}

bool dbstore_commit(dbstore_t *db, GError **err)
{
	if (step_reset(db, db->commit, "commit", err))
		return true;
	dbstore_rollback(db);
	return false;
}

void dbstore_rollback(dbstore_t *db)
{
	if (!sqlite3_get_autocommit(db->db))
		step_reset(db, db->rollback, "rollback", NULL);
}

bool dbstore_put(dbstore_t *db, const dbstore_row_t *row, GError **err)
{
	sqlite3_stmt *st = db->put;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)row->inode);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)row->parent);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)row->version);
	sqlite3_bind_int64(st, 4, row->writer);
	sqlite3_bind_int64(st, 5, row->mtime);
	sqlite3_bind_int(st, 6, row->type);
	sqlite3_bind_text(st, 7, row->name, -1, SQLITE_STATIC);
	if (row->size)
		sqlite3_bind_blob(st, 8, row->data, (int)row->size, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	return step_reset(db, st, "write row", err);
}

bool dbstore_delete(dbstore_t *db, uint64_t inode, GError **err)
{
	sqlite3_bind_int64(db->del, 1, (sqlite3_int64)inode);
	return step_reset(db, db->del, "delete row", err);
}

bool dbstore_set_version(dbstore_t *db, uint64_t version, GError **err)
{
	sqlite3_bind_int64(db->setver, 1, (sqlite3_int64)version);
	return step_reset(db, db->setver, "write version", err);
}

bool dbstore_clear(dbstore_t *db, GError **err)
{
	return exec(db, "DELETE FROM tree", err);
}

bool dbstore_get_meta(dbstore_t *db, const char *key, uint64_t *value, GError **err)
{
	sqlite3_stmt *st = NULL;
	bool ok = false;

	if (sqlite3_prepare_v2(db->db, "SELECT value FROM meta WHERE key = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return fail(db, err, "read meta");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		*value = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
		ok = true;
	} else {
		fail(db, err, "read meta");
	}
	sqlite3_finalize(st);
	return ok;
}

bool dbstore_set_meta(dbstore_t *db, const char *key, uint64_t value, GError **err)
{
	sqlite3_stmt *st = NULL;

	if (strcmp(key, "version") == 0) {
		g_set_error(err, DBSTORE_ERROR, EINVAL, "%s: meta key 'version' is the tree's own",
			    db->path);
		return false;
	}
	if (sqlite3_prepare_v2(db->db, "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", -1,
			       &st, NULL) != SQLITE_OK)
		return fail(db, err, "write meta");
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)value);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? true : fail(db, err, "write meta");
}
