#include "quorum.h"

#include "cssource.h"
#include "log.h"

#include <corosync/votequorum.h>
#include <glib.h>

/* How often a lost connection to corosync is retried. */
#define QUORUM_RETRY_MS 1000

struct quorum {
	quorum_changed_fn changed;
	void *ctx;
	votequorum_handle_t handle;
	bool connected;
	bool quorate;
	uint32_t threshold;
	uint32_t qdevice_votes; /* cast for this partition now */
	GHashTable *votes;	/* nodeid -> votes */
	cssource_t *src;
	bool failing; /* since the last connection, connecting failed or it was lost */
};

static quorum_t *from_handle(votequorum_handle_t h)
{
	void *ctx = NULL;

	votequorum_context_get(h, &ctx);
	return ctx;
}

static void refresh_info(quorum_t *q, const uint32_t *nodes, size_t n)
{
	struct votequorum_info info;

	/* Node id 0 asks about this node; its quorum value is the cluster's,
	 * its flags say whether the local quorum device votes for us. */
	if (votequorum_getinfo(q->handle, 0, &info) == CS_OK) {
		q->threshold = info.quorum;
		q->qdevice_votes = (info.flags & VOTEQUORUM_INFO_QDEVICE_REGISTERED) &&
					   (info.flags & VOTEQUORUM_INFO_QDEVICE_CAST_VOTE)
				       ? info.qdevice_votes
				       : 0;
	}
	for (size_t i = 0; i < n; i++)
		if (votequorum_getinfo(q->handle, nodes[i], &info) == CS_OK)
			g_hash_table_insert(q->votes, GUINT_TO_POINTER(nodes[i]),
					    GUINT_TO_POINTER(info.node_votes));
}

static void on_quorum(votequorum_handle_t h, uint64_t context, uint32_t quorate, uint32_t n,
		      votequorum_node_t nodes[])
{
	quorum_t *q = from_handle(h);
	uint32_t ids[n ? n : 1];

	if (!q)
		return;
	for (uint32_t i = 0; i < n; i++)
		ids[i] = nodes[i].nodeid;
	if (q->quorate != !!quorate)
		log_notice("corosync reports the cluster %s", quorate ? "quorate" : "not quorate");
	q->quorate = quorate;
	refresh_info(q, ids, n);
	q->changed(q->ctx);
}

static void on_expected(votequorum_handle_t h, uint64_t context, uint32_t expected)
{
	quorum_t *q = from_handle(h);

	if (!q)
		return;
	refresh_info(q, NULL, 0);
	log_info("expected votes now %u, quorum %u", expected, q->threshold);
	q->changed(q->ctx);
}

static void on_nodelist(votequorum_handle_t h, uint64_t context, votequorum_ring_id_t ring,
			uint32_t n, uint32_t nodes[])
{
	quorum_t *q = from_handle(h);

	if (!q)
		return;
	refresh_info(q, nodes, n);
	q->changed(q->ctx);
}

/* cssource: drops the handle; nothing is known without it. */
static void q_finalize(void *ctx)
{
	quorum_t *q = ctx;

	if (q->connected)
		votequorum_finalize(q->handle);
	q->connected = false;
	q->quorate = false;
	q->threshold = 0;
	q->qdevice_votes = 0;
	g_hash_table_remove_all(q->votes);
}

static cs_error_t q_dispatch(void *ctx)
{
	quorum_t *q = ctx;

	return votequorum_dispatch(q->handle, CS_DISPATCH_ALL);
}

static cs_error_t q_connect(void *ctx, int *fd)
{
	quorum_t *q = ctx;
	votequorum_callbacks_t cb = {
	    .votequorum_quorum_notify_fn = on_quorum,
	    .votequorum_expectedvotes_notify_fn = on_expected,
	    .votequorum_nodelist_notify_fn = on_nodelist,
	};

	cs_error_t rc = votequorum_initialize(&q->handle, &cb);
	if (rc != CS_OK)
		return rc;
	votequorum_context_set(q->handle, q);
	q->connected = true;
	rc = votequorum_trackstart(q->handle, 0, CS_TRACK_CHANGES | CS_TRACK_CURRENT);
	if (rc == CS_OK)
		rc = votequorum_fd_get(q->handle, fd);
	return rc;
}

static void q_connected(void *ctx)
{
	quorum_t *q = ctx;

	if (q->failing)
		log_notice("connected to corosync's votequorum");
	q->failing = false;
	refresh_info(q, NULL, 0);
	q->changed(q->ctx);
}

static void q_lost(void *ctx, cs_error_t rc)
{
	quorum_t *q = ctx;

	log_warn("lost the connection to corosync's votequorum (error %d); retrying", rc);
	q->failing = true;
	q->changed(q->ctx);
}

static void q_unreachable(void *ctx, cs_error_t rc, guint retry_ms)
{
	quorum_t *q = ctx;

	log_warn("cannot reach corosync's votequorum (error %d); the tree stays read-only until "
		 "it can, retrying every %u ms",
		 rc, retry_ms);
	q->failing = true;
}

static const cssource_ops_t votequorum_source = {
    .connect = q_connect,
    .dispatch = q_dispatch,
    .finalize = q_finalize,
    .connected = q_connected,
    .lost = q_lost,
    .unreachable = q_unreachable,
};

quorum_t *quorum_new(quorum_changed_fn changed, void *ctx)
{
	quorum_t *q = g_new0(quorum_t, 1);

	q->changed = changed;
	q->ctx = ctx;
	q->votes = g_hash_table_new(g_direct_hash, g_direct_equal);
	q->src = cssource_new(&votequorum_source, q, QUORUM_RETRY_MS, QUORUM_RETRY_MS);
	return q;
}

void quorum_free(quorum_t *q)
{
	if (!q)
		return;
	cssource_free(q->src);
	g_hash_table_destroy(q->votes);
	g_free(q);
}

bool quorum_connected(quorum_t *q)
{
	return q->connected;
}

bool quorum_quorate(quorum_t *q)
{
	return q->connected && q->quorate;
}

uint32_t quorum_qdevice_votes(quorum_t *q)
{
	return q->connected ? q->qdevice_votes : 0;
}

uint32_t quorum_threshold(quorum_t *q)
{
	return q->threshold;
}

uint32_t quorum_node_votes(quorum_t *q, uint32_t nodeid)
{
	gpointer v;

	if (!g_hash_table_lookup_extended(q->votes, GUINT_TO_POINTER(nodeid), NULL, &v)) {
		struct votequorum_info info;
		if (!q->connected || votequorum_getinfo(q->handle, nodeid, &info) != CS_OK)
			return 0;
		g_hash_table_insert(q->votes, GUINT_TO_POINTER(nodeid),
				    GUINT_TO_POINTER(info.node_votes));
		return info.node_votes;
	}
	return GPOINTER_TO_UINT(v);
}
