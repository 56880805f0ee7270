/* Corosync's votequorum as seen from this node: whether corosync counts the
 * cluster quorate, the vote threshold and each node's votes. Lives on the
 * glib main loop; connects in the background and reconnects after corosync
 * restarts. Only for the main loop's thread. */
#ifndef PVECM_QUORUM_H
#define PVECM_QUORUM_H

#include <stdbool.h>
#include <stdint.h>

typedef struct quorum quorum_t;

/* Called on the main loop whenever anything below may have changed. */
typedef void (*quorum_changed_fn)(void *ctx);

quorum_t *quorum_new(quorum_changed_fn changed, void *ctx);
void quorum_free(quorum_t *q);

bool quorum_connected(quorum_t *q);
/* corosync's verdict; false while not connected */
bool quorum_quorate(quorum_t *q);
/* votes needed for quorum (votequorum's "Quorum:"); 0 while unknown */
uint32_t quorum_threshold(quorum_t *q);
/* the votes the quorum device (corosync-qdevice) casts for this node's
 * partition now; 0 without a device or while it does not vote for us */
uint32_t quorum_qdevice_votes(quorum_t *q);
/* the votes a node casts, as votequorum counts them (0 for unknown nodes) */
uint32_t quorum_node_votes(quorum_t *q, uint32_t nodeid);

#endif
