/* `pvecm links`: the state of every configured corosync link to every
 * node, as corosync itself sees it now (libcfg's node status, what
 * `corosync-cfgtool -n` shows), beside the addresses the nodelist gives
 * each link. Reading is separate from printing so that the output can be
 * checked without a cluster. */
#ifndef PVECM_LINKS_H
#define PVECM_LINKS_H

#include "pvecm_cli.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* corosync's CFG_MAX_LINKS (knet's KNET_MAX_LINK). */
#define PVECM_LINKS_MAX 8

typedef struct {
	bool configured; /* the nodelist gives this link an address */
	char *address;	 /* ringN_addr as configured; NULL when not configured */
	/* corosync's runtime view; all false when it knows nothing of it */
	bool enabled;
	bool connected;
	unsigned mtu;
} pvecm_links_link_t;

typedef struct {
	uint32_t nodeid;
	char *name; /* the nodelist's name; NULL when it has none */
	bool local;
	bool known;	/* corosync answered for this node */
	bool reachable; /* knet reaches it over at least one link */
	pvecm_links_link_t link[PVECM_LINKS_MAX];
} pvecm_links_node_t;

typedef struct {
	uint32_t nodeid;  /* this node */
	GPtrArray *nodes; /* pvecm_links_node_t*, by node id */
} pvecm_links_t;

/* From the local corosync; NULL with err set (PVECM_QUORUM_ERROR) when it
 * cannot be asked. */
pvecm_links_t *pvecm_links_read(GError **err);
void pvecm_links_free(pvecm_links_t *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(pvecm_links_t, pvecm_links_free)

/* One row per node and configured link: Nodeid, Name, Link, Address,
 * Enabled (yes, no; "-" for the local node), Status (connected,
 * disconnected; local for the local node). */
char *pvecm_links_text(const pvecm_links_t *l);
/* {"nodeid": N, "nodes": [{"nodeid": N, "name": S|null, "local": B,
 * "reachable": B, "links": [{"link": N, "address": S, "enabled": B|null,
 * "connected": B|null, "mtu": N}]}]}; null for the local node's links. */
char *pvecm_links_json(const pvecm_links_t *l);

extern const pvecm_cli_opt_t pvecm_links_opts[];
int pvecm_links_run(const pvecm_cli_call_t *call);

#endif
