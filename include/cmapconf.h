/* The cluster's configuration as the local corosync runs it, read through
 * cmap: cluster name, config version, and the node list. */
#ifndef PVECM_CMAPCONF_H
#define PVECM_CMAPCONF_H

#include <glib.h>
#include <stdint.h>

typedef struct {
	uint32_t nodeid;
	char *name;
	char *addr; /* ring0_addr as configured */
	uint32_t votes;
} cmapconf_node_t;

typedef struct {
	char *cluster_name;
	uint64_t config_version;
	GPtrArray *nodes; /* cmapconf_node_t*, in nodeid order */
} cmapconf_t;

/* NULL with err set when corosync cannot be asked. */
cmapconf_t *cmapconf_read(GError **err);
void cmapconf_free(cmapconf_t *c);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(cmapconf_t, cmapconf_free)

#endif
