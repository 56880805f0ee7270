/* Who this node is: its name and the address the cluster knows it by. */
#ifndef PVECM_NODEINFO_H
#define PVECM_NODEINFO_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* Host names are DNS labels. */
#define NODEINFO_NAME_MAX 63

/* The one rule for node and cluster names, wherever one comes from (the
 * command line, corosync.conf, a joining node): letters, digits and '-',
 * not '-' at either end, at most max characters. Such a name is always one
 * path component ("/", ".", ".." and "" are refused). False with a message
 * naming KIND ("node", "cluster") and the name. */
bool nodeinfo_check_name(const char *kind, const char *name, size_t max, GError **err);

/* The host name up to its first dot, as cluster node names are. */
char *nodeinfo_nodename(GError **err);

/* The first non-loopback address name resolves to, as text. Fails with a
 * message that says how to fix /etc/hosts when there is none. */
char *nodeinfo_resolve(const char *name, GError **err);

#endif
