/* confsync: the cluster's /etc/pve/corosync.conf reaches this node's
 * /etc/corosync/corosync.conf. Only a higher totem.config_version that
 * parses and validates replaces the local copy (atomically); then corosync
 * is asked to reload it, so an edit takes effect without a restart. A
 * lower or equal version, or a file corosync could not use, leaves the
 * local copy as it is and the reason is logged once per content. */
#ifndef PVECM_CONFSYNC_H
#define PVECM_CONFSYNC_H

#include <glib.h>
#include <stdbool.h>

typedef struct confsync confsync_t;

typedef enum {
	CONFSYNC_APPLIED,   /* the local copy was replaced */
	CONFSYNC_UNCHANGED, /* same content as the local copy, or an empty file */
	CONFSYNC_REFUSED,   /* not applied; logged */
} confsync_result_t;

/* local_path: the copy corosync reads. reload: whether to ask the local
 * corosync to reload after a change (off for tests without corosync). */
confsync_t *confsync_new(const char *local_path, bool reload);
void confsync_free(confsync_t *cs);

/* text is the content of the cluster's corosync.conf; source names it in
 * messages (e.g. "/etc/pve/corosync.conf"). Blocks for a file write and
 * a call to corosync: run it from an idle callback, not inside a dispatch. */
confsync_result_t confsync_apply(confsync_t *cs, const char *source, const char *text, size_t len);

/* confsync_apply on a thread of its own, in the order queued: its name
 * lookups, file write and call to corosync never hold up the main loop.
 * Once confsync_queue was used, call confsync_apply no more. */
void confsync_queue(confsync_t *cs, const char *source, const char *text, size_t len);

#endif
