/* Who this node is: its name and the address the cluster knows it by. */
#ifndef PVECM_NODEINFO_H
#define PVECM_NODEINFO_H

#include <glib.h>

/* The host name up to its first dot, as cluster node names are. */
char *nodeinfo_nodename(GError **err);

/* The first non-loopback address name resolves to, as text. Fails with a
 * message that says how to fix /etc/hosts when there is none. */
char *nodeinfo_resolve(const char *name, GError **err);

#endif
