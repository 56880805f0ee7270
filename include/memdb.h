/* The configuration tree: every inode in memory, each change persisted to
 * the SQLite store (dbstore.h) in one transaction before it is visible.
 * Thread safe. Mutations take the writer's node id and the time of the
 * change from the caller, so that replicas applying the same operations in
 * the same order end with identical trees. All int results are 0 (or a
 * count) on success and a negative errno on failure. */
#ifndef PVECM_MEMDB_H
#define PVECM_MEMDB_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Limits of the reference file system. */
#define MEMDB_MAX_FILE_SIZE (1024 * 1024)
#define MEMDB_MAX_FS_SIZE (128 * 1024 * 1024)
#define MEMDB_MAX_INODES (256 * 1024)
#define MEMDB_MAX_NAME 255
/* Directories nest at most this deep: mkdir and rename answer EMLINK
 * beyond it. Far more than a configuration tree needs, and every path a
 * tool builds stays within PATH_MAX. */
#define MEMDB_MAX_DEPTH 256
/* A lock below priv/lock/ that a node has seen unchanged for this many
 * seconds, on its own monotonic clock, may be taken over or released by
 * another node (memdb_lock_expired_version). */
#define MEMDB_LOCK_TIMEOUT 120

#define MEMDB_ROOT_INODE 1
/* Inode numbers and versions stay below this; the mount numbers its
 * virtual entries from here on. New inodes take the next version, so a
 * tree reaches it only after 2^62 changes. */
#define MEMDB_INODE_LIMIT (UINT64_C(1) << 62)

typedef enum {
	MEMDB_DIR = 4, /* DT_DIR */
	MEMDB_REG = 8, /* DT_REG */
} memdb_type_t;

typedef struct {
	uint64_t inode;
	uint64_t parent;
	uint64_t version;
	uint32_t writer;
	uint32_t mtime;
	uint32_t size;
	memdb_type_t type;
	bool in_priv; /* priv/ itself or below one: stricter modes */
	bool is_lock; /* a directory directly below priv/lock/ */
	bool orphan;  /* removed from the tree, still held open here */
} memdb_attr_t;

typedef struct {
	char *name;
	uint64_t inode;
	memdb_type_t type;
} memdb_dirent_t;

typedef enum {
	MEMDB_GUEST_QEMU,
	MEMDB_GUEST_LXC,
} memdb_guest_type_t;

typedef struct memdb memdb_t;

/* The rule for an entry's name: not empty, not "." or "..", no '/', at
 * most MEMDB_MAX_NAME bytes. 0, or -EINVAL or -ENAMETOOLONG. */
int memdb_check_name(const char *name);

/* What the tree may hold; a change past a limit fails (EFBIG for a file,
 * ENOSPC for the whole), and a store or a transferred tree beyond them is
 * refused. */
typedef struct {
	uint64_t max_file_size;
	uint64_t max_fs_size;
	uint64_t max_inodes;
} memdb_limits_t;

#define MEMDB_LIMITS_DEFAULT                                                                       \
	{                                                                                          \
		.max_file_size = MEMDB_MAX_FILE_SIZE, .max_fs_size = MEMDB_MAX_FS_SIZE,            \
		.max_inodes = MEMDB_MAX_INODES                                                     \
	}

/* Microseconds on a clock that never jumps, as g_get_monotonic_time(). */
typedef int64_t (*memdb_clock_fn)(void);

/* How many removed inodes a tree remembers for memdb_diff (see there):
 * at 16 bytes and a list link each, a few MiB at most, and far more
 * removals than a member misses in the seconds of a membership change. */
#define MEMDB_MAX_TOMBS 65536

/* How a tree is opened: its limits, the clock that times this node's
 * observation of locks (NULL: g_get_monotonic_time; tests pass their own),
 * and how many removals it remembers for memdb_diff (0: MEMDB_MAX_TOMBS;
 * tests use a few). */
typedef struct {
	memdb_limits_t limits;
	memdb_clock_fn clock;
	uint32_t max_tombs;
} memdb_options_t;

/* Files held open on this node. A regular file removed from the tree
 * (unlink, or a rename over it, by any node) while held stays readable,
 * writable and stat-able through its inode number, here only, with
 * attr.orphan set, until the last hold is dropped: as an unlinked file
 * that is still open on any POSIX file system. A hold of one of the last
 * MEMDB_RECENT_REMOVED regular files removed while not held makes it such
 * an orphan too: an open of a file the kernel found by its name just
 * before another node replaced it opens that file, as the open would have
 * had it come first. Thread safe. */
#define MEMDB_RECENT_REMOVED 64
void memdb_hold(memdb_t *mdb, uint64_t inode);
void memdb_unhold(memdb_t *mdb, uint64_t inode);
/* Writes to such an orphan (truncate: the file ends after the write);
 * nothing is stored or replicated. -ENOENT when inode is no orphan. */
int memdb_orphan_write(memdb_t *mdb, uint64_t inode, uint64_t offset, const void *data, size_t len,
		       bool truncate);

/* Opens (or creates) the store at dbpath and loads the tree, with the
 * default limits. */
memdb_t *memdb_open(const char *dbpath, GError **err);
/* The same with other limits (NULL: the defaults); tests use small ones. */
memdb_t *memdb_open_with(const char *dbpath, const memdb_limits_t *limits, GError **err);
/* The same with every option (NULL: the defaults). */
memdb_t *memdb_open_opts(const char *dbpath, const memdb_options_t *opts, GError **err);
/* The limits it was opened with. Never changes, needs no lock. */
void memdb_get_limits(memdb_t *mdb, memdb_limits_t *limits);
void memdb_free(memdb_t *mdb);

uint64_t memdb_version(memdb_t *mdb);

int memdb_getattr(memdb_t *mdb, uint64_t inode, memdb_attr_t *attr);
int memdb_lookup(memdb_t *mdb, uint64_t parent, const char *name, memdb_attr_t *attr);
/* Path relative to the root, '/'-separated, leading '/' allowed. */
int memdb_lookup_path(memdb_t *mdb, const char *path, memdb_attr_t *attr);
/* Copies at most size bytes from offset into buf; returns the count. */
ssize_t memdb_read(memdb_t *mdb, uint64_t inode, uint64_t offset, size_t size, void *buf);
/* The whole content of a file by path, NUL-terminated; NULL if absent. */
char *memdb_read_path(memdb_t *mdb, const char *path, size_t *len);
/* A snapshot of a directory's entries; free with memdb_dirents_free(). */
int memdb_readdir(memdb_t *mdb, uint64_t inode, GPtrArray **entries);
void memdb_dirents_free(GPtrArray *entries);

int memdb_create(memdb_t *mdb, uint64_t parent, const char *name, uint32_t writer, uint32_t mtime,
		 memdb_attr_t *attr);
/* An existing name is EEXIST, a lock directory below priv/lock/ too. */
int memdb_mkdir(memdb_t *mdb, uint64_t parent, const char *name, uint32_t writer, uint32_t mtime,
		memdb_attr_t *attr);
/* As memdb_mkdir, except that an existing, empty lock directory whose
 * version is still lock_version (nonzero) is taken over: the writer
 * becomes its holder. lock_version comes from memdb_lock_expired_version
 * on the node that asks; a renewal since then changed the version, and the
 * takeover fails with EEXIST on every member alike. */
int memdb_mkdir_lock(memdb_t *mdb, uint64_t parent, const char *name, uint64_t lock_version,
		     uint32_t writer, uint32_t mtime, memdb_attr_t *attr);
int memdb_write(memdb_t *mdb, uint64_t inode, uint64_t offset, const void *data, size_t len,
		uint32_t writer, uint32_t mtime);
int memdb_truncate(memdb_t *mdb, uint64_t inode, uint64_t size, uint32_t writer, uint32_t mtime);
/* The file's content becomes data: a truncate to 0 and a write at 0 as
 * one change. Returns len or a negative errno. */
int memdb_set_data(memdb_t *mdb, uint64_t inode, const void *data, size_t len, uint32_t writer,
		   uint32_t mtime);
/* What a write (keep: onto the old content; otherwise replacing it) of
 * len bytes at offset to inode would answer now, without making it: 0 or
 * -ENOENT, -EISDIR, -EFBIG, -ENOSPC. */
int memdb_check_write(memdb_t *mdb, uint64_t inode, uint64_t offset, size_t len, bool keep);
int memdb_unlink(memdb_t *mdb, uint64_t parent, const char *name, uint32_t writer, uint32_t mtime);
int memdb_rmdir(memdb_t *mdb, uint64_t parent, const char *name, uint32_t writer, uint32_t mtime);
/* noreplace: fail with EEXIST instead of replacing an existing target. */
int memdb_rename(memdb_t *mdb, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, bool noreplace, uint32_t writer, uint32_t mtime);
/* Sets the modification time. On a lock directory: 0 releases the lock,
 * another value renews it; only its holder may (EACCES). now is the time
 * of the request (the parent's new mtime when a lock is released). */
int memdb_set_mtime(memdb_t *mdb, uint64_t inode, uint32_t mtime, uint32_t writer, uint32_t now);
/* As memdb_set_mtime, except that a node other than the holder may release
 * or renew (and so take) the lock too while its version is still
 * lock_version (nonzero), as memdb_lock_expired_version gave it to the node
 * that asks. */
int memdb_set_mtime_lock(memdb_t *mdb, uint64_t inode, uint32_t mtime, uint64_t lock_version,
			 uint32_t writer, uint32_t now);
/* The version of the lock directory inode if this node has seen it
 * unchanged for more than MEMDB_LOCK_TIMEOUT seconds on its own clock,
 * else 0 (also for anything that is no lock). This node first sees a
 * version when it applies the change that made it, or when it loads or
 * takes over a whole tree (at start, in a sync): a node that just started
 * waits the whole lease. Expiry never depends on a node's wall clock, nor
 * on the mtime a writer chose. */
uint64_t memdb_lock_expired_version(memdb_t *mdb, uint64_t inode);

/* Creates the directories every node expects, where missing:
 * nodes/NODE/{qemu-server,lxc,priv}, priv/, priv/lock/. */
int memdb_ensure_layout(memdb_t *mdb, const char *nodename, uint32_t writer, uint32_t mtime);

typedef void (*memdb_guest_fn)(void *ctx, uint32_t vmid, const char *node, memdb_guest_type_t type,
			       uint64_t version);
/* Calls fn for every guest config nodes/NODE/{qemu-server,lxc}/VMID.conf,
 * in node then type then vmid order, duplicates included. */
void memdb_foreach_guest(memdb_t *mdb, memdb_guest_fn fn, void *ctx);

/* The newest version among the guest directories (nodes/NODE/{qemu-server,lxc}
 * and nodes/): changes whenever a guest is added, removed or moved. */
uint64_t memdb_guest_dirs_version(memdb_t *mdb);

typedef struct {
	uint64_t inodes;
	uint64_t bytes;
} memdb_usage_t;
void memdb_usage(memdb_t *mdb, memdb_usage_t *usage);

/* SHA-256 over every entry, independent of memory layout and insertion order. */
void memdb_checksum(memdb_t *mdb, uint8_t out[32]);

/* The whole tree as one value, for a member that must take over this
 * node's state: the global version and every inode (inode, parent,
 * version, writer, mtime, type, name, data), in increasing inode order. */
#define MEMDB_DUMP_TYPE "(ta(tttuuysay))"
GVariant *memdb_dump(memdb_t *mdb);
/* Replaces the whole tree, in memory and in the store (one transaction), by
 * a dump. A dump that is not one valid tree within the limits is refused
 * and nothing changes. */
bool memdb_replace(memdb_t *mdb, GVariant *dump, GError **err);
/* Counts replacements (memdb_replace, memdb_apply_diff): an inode number
 * seen before a replacement may name another file after it. */
uint64_t memdb_generation(memdb_t *mdb);

/* ---- incremental transfer ----
 *
 * Every change sets the global version to the next number and gives that
 * version to every inode it changes: the inode itself, and for a create,
 * mkdir, unlink, rmdir or rename also the parent directories (both, for a
 * rename between directories). What changed since version S is therefore
 * every inode whose version is above S, plus the inodes removed after S.
 *
 * Removed inodes are remembered in memory only, with the version that
 * removed them (unlink, rmdir, a rename over an existing target, a lock
 * released, a removal in an applied diff), at most max_tombs of them (the
 * oldest are dropped). The record is complete from the tomb base on: the
 * version the tree had when it was opened or replaced (memdb_replace),
 * raised to the removing version of each removal dropped from the record.
 * memdb_apply_diff keeps the record and adds the diff's removals, since
 * the diff lists every removal after its base. */

/* The changes from version since to now, for a member whose tree is this
 * tree as it was at version since: (the version now, since, every inode
 * whose version is above since in increasing inode order as in
 * MEMDB_DUMP_TYPE, the inodes removed after since in increasing order).
 * NULL when since is below memdb_tomb_base (removals are no longer known)
 * or above the version: send the whole tree (memdb_dump) then. Only
 * inodes no longer in the tree are listed as removed; a receiver ignores
 * the removal of an inode it does not have. */
#define MEMDB_DIFF_TYPE "(tta(tttuuysay)at)"
GVariant *memdb_diff(memdb_t *mdb, uint64_t since);
uint64_t memdb_tomb_base(memdb_t *mdb);

/* Applies a diff from memdb_diff to this tree, which must be at the diff's
 * base version: removals, then the changed and new inodes, then the
 * diff's version. The result must be one valid tree within the limits (as
 * memdb_replace checks a whole one, and no directory deeper than
 * MEMDB_MAX_DEPTH) whose memdb_checksum is expect_csum; the changed rows
 * are then stored in one transaction. All or nothing: on failure memory
 * and store are as they were, and err (domain DBSTORE_ERROR) names the
 * inode and the reason, its code saying what the caller does:
 *   EIO      the store failed: fail-stop (leave the group and resync),
 *            as for any change this node cannot store;
 *   ESTALE   this tree is not the one the diff was made from (another
 *            version, or the result's checksum differs): send the whole
 *            tree instead;
 *   EPROTO, EINVAL, ENOSPC, EFBIG, EMLINK
 *            the diff is malformed, or its result is no valid tree, or
 *            exceeds the limits: send the whole tree instead (and
 *            suspect the sender).
 * Afterwards, as after memdb_replace, memdb_generation has moved on (an
 * inode may name another file now), files held open that the diff removed
 * become orphans as with any removal, and every inode the diff changed is
 * first seen now by the lock clock (memdb_lock_expired_version); inodes
 * it did not touch keep their observation time. */
bool memdb_apply_diff(memdb_t *mdb, GVariant *diff, const uint8_t expect_csum[32], GError **err);
/* Every inode number of the tree now, in no order. */
GArray *memdb_inodes(memdb_t *mdb);
/* Every inode number of a file removed from the tree while held open. */
GArray *memdb_orphans(memdb_t *mdb);

/* Named counters persisted with the tree (see dbstore_get_meta). */
uint64_t memdb_get_meta(memdb_t *mdb, const char *key);
int memdb_set_meta(memdb_t *mdb, const char *key, uint64_t value);

#endif
