/* The configuration tree (memdb) bound to the replication engine: the
 * replica_tree_ops_t through which the engine applies ops (fsop.h),
 * compares, dumps and replaces the tree and keeps its quorate stamp, and
 * the typed submit calls the write path uses. */
#ifndef PVECM_TREEBIND_H
#define PVECM_TREEBIND_H

#include "fsop.h"
#include "memdb.h"
#include "replica.h"
#include "replica_tree.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct treebind treebind_t;

/* Called on the main loop, within corosync's dispatch, right after an op
 * from another member changed the tree, or with op NULL after the whole
 * tree was replaced by another member's; before this node confirms it.
 * Must not block on anything a file system request may hold. */
typedef void (*treebind_applied_fn)(void *ctx, const fsop_t *op);

typedef struct {
	memdb_t *mdb;
	/* This node: after a sync that left it writable, its directories
	 * (nodes/NAME/...) are created through the group if missing. */
	const char *nodename;
	treebind_applied_fn applied; /* may be NULL */
	void *ctx;
} treebind_config_t;

/* The tree ops for replica_config_t.tree, with a treebind_t as tree_ctx;
 * their result (replica_submit's) is a memdb_attr_t. */
extern const replica_tree_ops_t treebind_ops;

treebind_t *treebind_new(const treebind_config_t *cfg);
/* After the replica that uses it. Safe on NULL. */
void treebind_free(treebind_t *tb);

/* replica_submit for an fsop: answered once a quorum confirmed it. attr,
 * when not NULL, gets the created entry's attributes (create, mkdir). */
int treebind_submit(replica_t *r, const fsop_t *op, memdb_attr_t *attr);
/* The same, answered once applied here: for the changes inside an open
 * file, which its next replica_barrier() confirms. */
int treebind_submit_ordered(replica_t *r, const fsop_t *op, memdb_attr_t *attr);
/* The same, answered once handed to the group (or queued behind this
 * node's batch in flight): a write inside an open file. What applying it
 * gives reaches the file's next replica_barrier(); replica_settle() waits
 * until this node applied it. */
int treebind_submit_async(replica_t *r, const fsop_t *op);

#endif
