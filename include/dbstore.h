/* The SQLite store behind the tree: one row per inode, WAL journal, every
 * change inside an explicit transaction. Knows nothing of the tree's rules. */
#ifndef PVECM_DBSTORE_H
#define PVECM_DBSTORE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct dbstore dbstore_t;

/* Marks our files (PRAGMA application_id) so that a database of another
 * program is never taken for ours (and never overwritten): "PVCF". */
#define DBSTORE_APPLICATION_ID 0x50564346

/* One stored inode, as read back at load time. data is owned by the store's
 * iteration and only valid during the callback. */
typedef struct {
	uint64_t inode;
	uint64_t parent;
	uint64_t version;
	uint32_t writer;
	uint32_t mtime;
	uint8_t type;
	const char *name;
	const void *data;
	uint32_t size;
} dbstore_row_t;

typedef bool (*dbstore_row_fn)(void *ctx, const dbstore_row_t *row, GError **err);

/* Opens path, creating an empty store if the file does not exist or is empty.
 * Refuses, without writing to it, a file that is not SQLite, is damaged, or
 * belongs to another application. */
dbstore_t *dbstore_open(const char *path, GError **err);

/* Backups of the store, beside it (pvecm add moves the old one there). */
#define DBSTORE_BACKUP_DIR "backup"

/* The store's directory (created if missing) and its backup directory
 * become root's and 0700, the backups in it 0600: they hold priv/. A
 * shared directory (sticky bit, such as /tmp) is left as it is. */
bool dbstore_make_private_dir(const char *dir, GError **err);
void dbstore_free(dbstore_t *db);

/* Calls fn for every row, in inode order, and returns the stored global
 * version in *version (0 for a new store). */
bool dbstore_load(dbstore_t *db, dbstore_row_fn fn, void *ctx, uint64_t *version, GError **err);

bool dbstore_begin(dbstore_t *db, GError **err);
bool dbstore_commit(dbstore_t *db, GError **err);
void dbstore_rollback(dbstore_t *db);

/* Inside a transaction: insert or replace a row, delete one, record the
 * tree's global version. */
bool dbstore_put(dbstore_t *db, const dbstore_row_t *row, GError **err);
bool dbstore_delete(dbstore_t *db, uint64_t inode, GError **err);
bool dbstore_set_version(dbstore_t *db, uint64_t version, GError **err);

/* Inside a transaction: deletes every row, before a node that takes over
 * another node's tree puts the new ones. */
bool dbstore_clear(dbstore_t *db, GError **err);

/* Small named counters kept beside the tree (other than its version), for
 * state that must survive a restart. A missing key reads as 0. set_meta
 * commits on its own when called outside a transaction. */
bool dbstore_get_meta(dbstore_t *db, const char *key, uint64_t *value, GError **err);
bool dbstore_set_meta(dbstore_t *db, const char *key, uint64_t value, GError **err);

/* PRAGMA integrity_check; true when "ok". */
bool dbstore_check(dbstore_t *db, GError **err);

#define DBSTORE_ERROR (dbstore_error_quark())
GQuark dbstore_error_quark(void);

#endif
