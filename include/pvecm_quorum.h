/* This node's live view of quorum and membership, read from corosync's
 * libraries (quorum, votequorum, cmap, cfg) the way corosync-quorumtool
 * reads it, so that `pvecm status` and `pvecm nodes` show what the tool
 * shows. A snapshot: read once, then printed; nothing here prints. */
#ifndef PVECM_PVECM_QUORUM_H
#define PVECM_PVECM_QUORUM_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define PVECM_QUORUM_ERROR (pvecm_quorum_error_quark())
GQuark pvecm_quorum_error_quark(void);

typedef enum {
	PVECM_QUORUM_ERROR_NOT_RUNNING,	  /* corosync does not answer at all */
	PVECM_QUORUM_ERROR_NO_VOTEQUORUM, /* the quorum provider is not votequorum */
	PVECM_QUORUM_ERROR_REFUSED,	  /* corosync refused a change */
	PVECM_QUORUM_ERROR_FAILED,	  /* any other corosync error */
} pvecm_quorum_error_t;

typedef struct {
	uint32_t nodeid;
	/* The node's name in the nodelist; with PVECM_QUORUM_RESOLVE, for a
	 * node without one, its first address resolved to a host name (as
	 * `corosync-quorumtool -l` shows it). NULL when neither is known. */
	char *name;
	char *ip;   /* the node's first address, numeric; NULL if unknown */
	bool local; /* this node */
	/* votequorum's view of the node; 0 without votequorum */
	uint32_t votes;
	uint32_t flags; /* VOTEQUORUM_INFO_* (the QDEVICE_* bits per node) */
} pvecm_quorum_member_t;

typedef struct {
	char *provider;	 /* quorum.provider; NULL when quorum is not configured */
	bool votequorum; /* the provider is corosync_votequorum */
	bool quorate;
	uint32_t nodeid; /* this node's id; 0 without votequorum, as the tool */
	/* The ring: its representative node (from votequorum; 0 without it)
	 * and its sequence number. */
	uint32_t ring_nodeid;
	uint64_t ring_seq;
	/* votequorum's figures for this node; all 0 without votequorum */
	uint32_t expected_votes;
	uint32_t highest_expected;
	uint32_t total_votes;
	uint32_t quorum;
	uint32_t flags; /* VOTEQUORUM_INFO_* */
	/* Members of the current ring, in the order corosync lists them
	 * (by address). pvecm_quorum_member_t*. */
	GPtrArray *members;
	/* A quorum device is registered: the tool then shows a Qdevice
	 * column and a row for the device. */
	bool qdevice;
	char *qdevice_name;
	uint32_t qdevice_votes;
	/* This node's device casts its vote; if not, the tool shows the
	 * device's votes as 0 and its real count in parentheses. */
	bool qdevice_cast_vote;
} pvecm_quorum_t;

typedef enum {
	PVECM_QUORUM_RESOLVE = 1 << 0, /* see pvecm_quorum_member_t.name */
} pvecm_quorum_flags_t;

/* Reads the current view from the local corosync. NULL with err set when
 * corosync cannot be asked. */
pvecm_quorum_t *pvecm_quorum_read(unsigned flags, GError **err);
void pvecm_quorum_free(pvecm_quorum_t *q);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(pvecm_quorum_t, pvecm_quorum_free)

/* Tells votequorum a new number of expected votes for the cluster. */
bool pvecm_quorum_set_expected(uint32_t expected, GError **err);

#endif
