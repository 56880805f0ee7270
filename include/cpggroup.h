#ifndef PVECM_CPGGROUP_H
#define PVECM_CPGGROUP_H

#include <stddef.h>
#include <stdint.h>

/* A process group with virtual synchrony: every member sees the same
 * memberships and the same messages between them, in the same total order.
 * The replication engine speaks to one through group_ops_t only, so that
 * its tests can give it a group of their own; cpggroup_ops is corosync's
 * CPG, a restartable source on the main loop. */

/* A member: the node, and the process on it. */
typedef struct {
	uint32_t nodeid, pid;
} group_member_t;

/* What a group tells its user, always on the main loop. */
typedef struct {
	/* Now in the group as (nodeid, pid); a membership follows. */
	void (*joined)(void *ctx, uint32_t nodeid, uint32_t pid);
	void (*deliver)(void *ctx, uint32_t nodeid, uint32_t pid, const void *msg, size_t len);
	void (*confchg)(void *ctx, const group_member_t *members, size_t n,
			const group_member_t *left, size_t nleft, const group_member_t *joined,
			size_t njoined);
	/* After every batch of deliveries and memberships. */
	void (*dispatched)(void *ctx);
	/* Out of the group (the connection was lost, or a queued message
	 * refused); the group joins again by itself, and says so by joined. */
	void (*lost)(void *ctx);
} group_callbacks_t;

typedef struct group_ops_s {
	/* Starts joining the group name at once, and keeps trying. */
	void *(*open)(const char *name, const group_callbacks_t *cb, void *ctx);
	/* From any thread, never waiting: 0 when msg was handed over (or
	 * queued behind messages the group could not take yet, in order),
	 * -ENOTCONN when not in the group, another negative errno when it
	 * never will be sent. */
	int (*send)(void *group, const void *msg, size_t len);
	/* Leaves the group and joins it again (on the main loop; no lost). */
	void (*rejoin)(void *group);
	/* Leaves and frees; no callback comes afterwards. Safe on NULL. */
	void (*close)(void *group);
} group_ops_t;

extern const group_ops_t cpggroup_ops;

#endif
