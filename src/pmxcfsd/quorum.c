#include "quorum.h"

#include "log.h"

#include <corosync/votequorum.h>
#include <glib-unix.h>
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
	guint fd_source;
	guint retry_source;
	int last_error; /* logged once per change */
};

static void try_connect(quorum_t *q);

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

static void disconnect(quorum_t *q)
{
	if (q->fd_source)
		g_source_remove(q->fd_source);
	q->fd_source = 0;
	if (q->connected)
		votequorum_finalize(q->handle);
	q->connected = false;
	q->quorate = false;
	q->threshold = 0;
	q->qdevice_votes = 0;
	g_hash_table_remove_all(q->votes);
}

static gboolean retry_cb(gpointer data)
{
	quorum_t *q = data;

	q->retry_source = 0;
	try_connect(q);
	return G_SOURCE_REMOVE;
}

static void schedule_retry(quorum_t *q)
{
	if (!q->retry_source)
		q->retry_source = g_timeout_add(QUORUM_RETRY_MS, retry_cb, q);
}

static gboolean dispatch_cb(gint fd, GIOCondition cond, gpointer data)
{
	quorum_t *q = data;
	cs_error_t rc = votequorum_dispatch(q->handle, CS_DISPATCH_ALL);

	if (rc == CS_OK || rc == CS_ERR_TRY_AGAIN)
		return G_SOURCE_CONTINUE;
	log_warn("lost the connection to corosync's votequorum (error %d); retrying", rc);
	q->last_error = rc;
	q->fd_source = 0;
	disconnect(q);
	q->changed(q->ctx);
	schedule_retry(q);
	return G_SOURCE_REMOVE;
}

static void try_connect(quorum_t *q)
{
	votequorum_callbacks_t cb = {
	    .votequorum_quorum_notify_fn = on_quorum,
	    .votequorum_expectedvotes_notify_fn = on_expected,
	    .votequorum_nodelist_notify_fn = on_nodelist,
	};
	cs_error_t rc;
	int fd;

	rc = votequorum_initialize(&q->handle, &cb);
	if (rc == CS_OK) {
		votequorum_context_set(q->handle, q);
		q->connected = true;
		rc = votequorum_trackstart(q->handle, 0, CS_TRACK_CHANGES | CS_TRACK_CURRENT);
	}
	if (rc == CS_OK)
		rc = votequorum_fd_get(q->handle, &fd);
	if (rc != CS_OK) {
		if (q->last_error != (int)rc)
			log_warn("cannot reach corosync's votequorum (error %d); the tree stays "
				 "read-only until it can, retrying every %d ms",
				 rc, QUORUM_RETRY_MS);
		q->last_error = rc;
		disconnect(q);
		schedule_retry(q);
		return;
	}
	if (q->last_error)
		log_notice("connected to corosync's votequorum");
	q->last_error = 0;
	refresh_info(q, NULL, 0);
	q->fd_source = g_unix_fd_add(fd, G_IO_IN | G_IO_ERR | G_IO_HUP, dispatch_cb, q);
	q->changed(q->ctx);
}

quorum_t *quorum_new(quorum_changed_fn changed, void *ctx)
{
	quorum_t *q = g_new0(quorum_t, 1);

	q->changed = changed;
	q->ctx = ctx;
	q->votes = g_hash_table_new(g_direct_hash, g_direct_equal);
	/* -1: the first failure is always logged */
	q->last_error = -1;
	try_connect(q);
	return q;
}

void quorum_free(quorum_t *q)
{
	if (!q)
		return;
	if (q->retry_source)
		g_source_remove(q->retry_source);
	disconnect(q);
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
