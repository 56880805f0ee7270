/* The replication engine: a state replicated through corosync, one CPG
 * group, every mutation one message applied by every member in delivery
 * order, a state exchange after every membership change, and writes
 * confirmed by members holding quorum. What it replicates it reaches only
 * through a replica_tree_ops_t (replica_tree.h); treebind.h binds the
 * configuration tree to it. Lives on the glib main loop of the thread that
 * creates it; connects in the background and reconnects after corosync
 * restarts.
 *
 * Write rule: a mutation is answered only once members whose votes reach
 * corosync's quorum confirmed that they applied it (the sender's own vote
 * included). The answers mean one thing each:
 *   success  a quorum of synced members applied it; every later sync keeps it;
 *   EACCES   refused: no member applies it, now or after any sync (no quorum
 *            when it was asked, or it named a tree this node no longer has);
 *   EIO      outcome unknown: it was sent, but this node lost the group, its
 *            quorum or its tree before the confirmations came, or they did
 *            not come within REPLICA_WRITE_TIMEOUT_S. The majority may have it.
 *
 * Fail-stop: a member whose store fails, whose send is refused, or whose
 * sync does not finish within REPLICA_SYNC_TIMEOUT_S leaves the group and
 * rejoins; it never confirms what it does not hold. */
#ifndef PVECM_REPLICA_H
#define PVECM_REPLICA_H

#include "clusterlog.h"
#include "replica_tree.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* The CPG group every pmxcfsd of a cluster joins. */
#define REPLICA_GROUP "pmxcfsd_v1"
/* A write that cannot be confirmed within this time fails with EIO; far
 * above any token timeout, so that only a lost quorum gets there. */
#define REPLICA_WRITE_TIMEOUT_S 30
/* A sync (state exchange and tree transfer) that has not finished within
 * this time makes the member leave the group and rejoin. Below the write
 * timeout, so that writes queued during the sync can still be answered. */
#define REPLICA_SYNC_TIMEOUT_S 20
/* Members compare a checksum of the whole tree this often (and after
 * every sync). */
#define REPLICA_VERIFY_INTERVAL_S 60

typedef struct replica replica_t;

/* Called on the main loop after the tree changed through the group (a
 * member's write, or a tree received in a sync); not from inside corosync's
 * dispatch, so it may take its time. */
typedef void (*replica_changed_fn)(void *ctx);

/* Where the engine learns about quorum; corosync's votequorum unless
 * given (tests give their own). */
typedef struct {
	uint32_t (*threshold)(void *ctx); /* votes needed; 0 while unknown */
	bool (*quorate)(void *ctx);	  /* corosync's own verdict */
	uint32_t (*node_votes)(void *ctx, uint32_t nodeid);
	uint32_t (*qdevice_votes)(void *ctx); /* a quorum device's vote now */
} replica_quorum_ops_t;

typedef struct {
	const replica_tree_ops_t *tree;
	void *tree_ctx;
	clusterlog_t *clog;
	const char *nodename;
	replica_changed_fn changed; /* may be NULL */
	void *ctx;
	/* NULL: corosync's CPG (cpggroup_ops) and votequorum. With quorum
	 * given, its owner calls replica_changed_quorum() on every change. */
	const struct group_ops_s *group;
	const replica_quorum_ops_t *quorum;
	void *quorum_ctx;
	/* After how long a confirmation asks every member (0: 100 ms). */
	unsigned ack_fallback_ms;
	/* How long a sync may take (0: REPLICA_SYNC_TIMEOUT_S). */
	unsigned sync_timeout_ms;
} replica_config_t;

replica_t *replica_new(const replica_config_t *cfg);
/* Leaves the group: waiting writes fail with EIO and new ones with EACCES
 * at once. Call before stopping the threads that submit. Safe on NULL. */
void replica_shutdown(replica_t *r);
/* Shuts down if needed, waits for every submitter to have its answer, frees. */
void replica_free(replica_t *r);

/* How replica_submit answers. */
enum {
	/* Once op is applied here (its result is final: every member
	 * computes the same), before a quorum confirmed it: for the changes
	 * inside an open file. If the confirmation then fails, the next
	 * replica_barrier() of the entry it changed says so. */
	REPLICA_ORDERED = 1 << 0,
	/* Asks no member to acknowledge op: a later change of the same entry,
	 * or its barrier, asks for the acknowledgment that covers it too. */
	REPLICA_ACK_LATER = 1 << 1,
	/* Once handed to the group, answering 0: a write inside an open file,
	 * which need not wait even for its order. Its result, when an error,
	 * and its confirmation go to the next replica_barrier() of the entry
	 * it changes; replica_settle() waits until it is applied here, so that
	 * this node reads its own writes. Taken as REPLICA_ORDERED while more
	 * than REPLICA_ASYNC_MAX_OPS or REPLICA_ASYNC_MAX_BYTES of this node's
	 * are not applied yet: a writer cannot run ahead of the group. */
	REPLICA_ASYNC = 1 << 2,
};
#define REPLICA_ASYNC_MAX_OPS 64
#define REPLICA_ASYNC_MAX_BYTES (512 * 1024)

/* From any thread but the main loop's: sends op (the tree's own type, see
 * replica_tree_ops_t.encode) to every member and waits for its
 * confirmation, or with REPLICA_ORDERED in flags until it is applied here.
 * Returns what applying op gave (see replica_tree_ops_t.apply), -EACCES
 * (refused) or -EIO (outcome unknown), as the write rule above. result,
 * when not NULL, gets the tree's result_size bytes of what applying it
 * gave, when that succeeded. */
int replica_submit(replica_t *r, const void *op, unsigned flags, void *result);
/* A durability point of an entry (close, fsync of a file): waits until
 * every ordered change of inode is confirmed. 0, or -EIO when one of them
 * could not be (its outcome is unknown); each failure is reported once. */
int replica_barrier(replica_t *r, uint64_t inode);
/* Waits until this node applied every REPLICA_ASYNC change of inode it
 * handed out (or gave up on it), at most REPLICA_WRITE_TIMEOUT_S: before
 * this node reads or stats inode. Whether there was one to wait for. */
bool replica_settle(replica_t *r, uint64_t inode);

/* Whether replica_submit would try a change now rather than fail it at
 * once with EACCES (during a state exchange a change waits). Thread
 * safe. */
bool replica_may_write(replica_t *r);

/* The quorum (replica_config_t.quorum) changed. Main loop. */
void replica_changed_quorum(replica_t *r);

/* Sends a cluster log entry to every member (each adds it to its log). */
void replica_log(replica_t *r, const clusterlog_entry_t *entry);

typedef struct {
	bool connected;	  /* in the CPG group */
	bool synced;	  /* state exchange done for the current membership */
	bool quorate;	  /* corosync's verdict */
	bool writable;	  /* the write rule holds now */
	uint32_t nodeid;  /* 0 while unknown */
	uint32_t members; /* replicas in the group */
	uint64_t syncs;	  /* state exchanges completed */
	uint32_t waiting; /* ops waiting for this node's batch on its way */
} replica_status_t;

/* Thread safe. */
void replica_status(replica_t *r, replica_status_t *st);
/* Whether the pmxcfsd of node nodeid is in the group now. Thread safe. */
bool replica_node_online(replica_t *r, uint32_t nodeid);

#endif
