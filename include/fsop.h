/* One mutation of the tree as a value: what a FUSE request asks for, applied
 * to the tree here (local mode) or sent to every member and applied by each
 * in the same order (cluster mode). Everything apply needs travels in the
 * value, the writer's node id and clock included, so that every member gets
 * the same result. */
#ifndef PVECM_FSOP_H
#define PVECM_FSOP_H

#include "memdb.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
	FSOP_CREATE = 1,
	FSOP_MKDIR,
	FSOP_WRITE,
	FSOP_TRUNCATE,
	FSOP_UNLINK,
	FSOP_RMDIR,
	FSOP_RENAME,
	FSOP_SET_MTIME,
	FSOP_ENSURE_LAYOUT, /* name: the node whose directories must exist */
	/* inode, data: the file's new content (an O_TRUNC open and the write
	 * at 0 after it, sent as one change) */
	FSOP_SET_DATA,
	FSOP_KIND_MAX = FSOP_SET_DATA,
} fsop_kind_t;

typedef struct {
	fsop_kind_t kind;
	uint64_t inode;	    /* write, set_data, truncate, set_mtime */
	uint64_t parent;    /* create, mkdir, unlink, rmdir, rename (source) */
	const char *name;   /* borrowed */
	uint64_t newparent; /* rename */
	const char *newname;
	bool noreplace;
	uint64_t offset;  /* write */
	uint64_t size;	  /* truncate */
	const void *data; /* write, set_data; borrowed */
	size_t len;
	uint32_t mtime;	 /* set_mtime: the new value */
	uint32_t writer; /* node id of the writer */
	uint32_t time;	 /* the writer's clock when it asked */
	/* mkdir, set_mtime on a lock directory below priv/lock/: the lock's
	 * version if the writer saw it unchanged for the whole lease (see
	 * memdb_lock_expired_version), else 0. Lets a node other than the
	 * holder take or release it, unless it changed in between. */
	uint64_t lock_version;
} fsop_t;

/* Applies op to the tree: the memdb result (0, a byte count for a write, or
 * a negative errno). attr, when not NULL, gets the created entry's
 * attributes for create and mkdir. */
int fsop_apply(memdb_t *mdb, const fsop_t *op, memdb_attr_t *attr);

/* Whether op changes a file's content or times (write, set_data,
 * truncate, set_mtime). */
bool fsop_changes_content(const fsop_t *op);
/* Applies such a change to a file that left the tree while this node
 * holds it open (a memdb orphan): it changes here alone. -ENOENT when op
 * changes no content or its file is no orphan. */
int fsop_apply_orphan(memdb_t *mdb, const fsop_t *op);
/* fsop_apply on the node that sent op: a change of content whose file
 * another node removed meanwhile reaches the copy held open here. */
int fsop_apply_own(memdb_t *mdb, const fsop_t *op, memdb_attr_t *attr);

const char *fsop_name(fsop_kind_t kind);

/* The wire form, of type FSOP_VARIANT_TYPE. */
GVariant *fsop_to_variant(const fsop_t *op);
/* Fills op with pointers into v (keep v alive while op is used). False for
 * a value of the wrong type or an unknown kind. */
bool fsop_from_variant(GVariant *v, fsop_t *op);
#define FSOP_VARIANT_TYPE "(uttstsbttayuuut)"

#endif
