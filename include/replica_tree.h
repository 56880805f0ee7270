/* What the replication engine (replica.h) needs from the state it
 * replicates, as a table of callbacks: the engine orders, syncs and
 * confirms opaque changes and whole-state transfers, and never looks
 * inside them. treebind.h gives the table for the configuration tree;
 * the engine's unit tests give one of their own.
 *
 * Every callback runs on the engine's main loop, except encode, which runs
 * on the thread that submits. A change travels as a GVariant whose type
 * only the tree knows; every member applies the same changes in the same
 * order and must compute the same results. */
#ifndef PVECM_REPLICA_TREE_H
#define PVECM_REPLICA_TREE_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a whole-state transfer did on the member that takes it. */
typedef enum {
	REPLICA_TREE_OK = 0,
	/* Not a valid state: nothing changed. */
	REPLICA_TREE_INVALID,
	/* The store failed: what this member holds may be incomplete. */
	REPLICA_TREE_STORE_FAILED,
} replica_tree_status_t;

typedef struct replica_tree_ops_s {
	/* Bytes of the opaque result of one change that a submitter gets back
	 * (0: none): apply fills them, replica_submit copies them out. */
	size_t result_size;
	/* A received whole-state transfer may not grow past this. */
	size_t max_dump_bytes;

	/* Counts changes: grows with every change applied, and is the
	 * second criterion (after the quorate stamp) of which state wins a
	 * sync. */
	uint64_t (*version)(void *tree);
	/* A digest of the whole state, equal on members that hold the same. */
	void (*checksum)(void *tree, uint8_t out[32]);

	/* The wire form of a change the submitter gave in the tree's own
	 * type (replica_submit's op), as written by node writer. */
	GVariant *(*encode)(void *tree, const void *op, uint32_t writer);
	/* A short name of a change, for the logs; NULL when it is no valid
	 * change, which every member then ignores alike. *key (key may be
	 * NULL): the entry it changes, as replica_barrier names it; 0 for
	 * none, or for one that applying it creates. */
	const char *(*describe)(void *tree, GVariant *op, uint64_t *key);
	/* Applies a change that describe accepted, in delivery order. own:
	 * this member sent it. Fills result (result_size bytes, zeroed), and
	 * *key (describe's) if 0 and the change created an entry. Returns its
	 * result, the same on every member (>= 0, or a negative errno), or
	 * -EIO when it was not stored here: then this member confirms
	 * neither it nor anything after it, and leaves the group. */
	int (*apply)(void *tree, GVariant *op, bool own, void *result, uint64_t *key);

	/* The whole state, for members that must take it over. */
	GBytes *(*dump)(void *tree);
	/* Replaces the whole state by another member's dump; err says why
	 * not. */
	replica_tree_status_t (*replace)(void *tree, GBytes *dump, GError **err);

	/* The stamp of the last membership in which this member was in a
	 * quorate, synced group, kept with the state across restarts. */
	uint64_t (*quorate_stamp)(void *tree);
	void (*set_quorate_stamp)(void *tree, uint64_t stamp);

	/* After every sync; writable: this member may write now. A change
	 * this member then sends at once, written by node writer, without a
	 * submitter to answer (floating; NULL: none). */
	GVariant *(*synced)(void *tree, bool writable, uint32_t writer);

	/* An incremental sync (both NULL: whole trees only). The changes
	 * since version since, or NULL when this tree cannot tell them (its
	 * record does not reach back that far): the whole tree goes then.
	 * Applying them must give a state whose checksum is expect_csum, or
	 * change nothing and answer REPLICA_TREE_INVALID (this state is not
	 * the one they were made from): the member then asks for the whole
	 * tree. */
	GBytes *(*diff)(void *tree, uint64_t since);
	replica_tree_status_t (*apply_diff)(void *tree, GBytes *diff, const uint8_t expect_csum[32],
					    GError **err);
} replica_tree_ops_t;

#endif
