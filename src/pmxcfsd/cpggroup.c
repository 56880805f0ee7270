#include "cpggroup.h"

#include "cssource.h"
#include "log.h"

#include <corosync/cpg.h>
#include <errno.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

/* Not in the group: tried again this often. */
#define RETRY_MS 1000
/* corosync answered "try again" to a join: soon, not after a full retry. */
#define JOIN_RETRY_MS 50
/* Messages corosync could not take yet are offered again this often. */
#define DRAIN_MS 2

typedef struct {
	char *name;
	group_callbacks_t cb;
	void *ctx;
	/* Senders on other threads use the handle and the queue under
	 * send_lock; the rest belongs to the main loop. */
	GMutex send_lock;
	cpg_handle_t handle;
	bool have_handle;
	GQueue outq; /* GBytes*, in order */
	guint drain_source;
	cssource_t *src;
	uint32_t nodeid;
} cpggroup_t;

static cpggroup_t *from_handle(cpg_handle_t h)
{
	void *ctx = NULL;

	cpg_context_get(h, &ctx);
	return ctx;
}

/* Under send_lock. */
static cs_error_t mcast(cpggroup_t *g, GBytes *msg)
{
	gsize len;
	struct iovec iov = {.iov_base = (void *)g_bytes_get_data(msg, &len)};

	iov.iov_len = len;
	return g->have_handle ? cpg_mcast_joined(g->handle, CPG_TYPE_AGREED, &iov, 1)
			      : CS_ERR_BAD_HANDLE;
}

/* Under send_lock. */
static void outq_clear(cpggroup_t *g)
{
	GBytes *b;

	while ((b = g_queue_pop_head(&g->outq)))
		g_bytes_unref(b);
	if (g->drain_source)
		g_source_remove(g->drain_source);
	g->drain_source = 0;
}

/* cssource: drops the handle and what waited to be sent on it. */
static void cg_finalize(void *ctx)
{
	cpggroup_t *g = ctx;

	g_mutex_lock(&g->send_lock);
	if (g->have_handle)
		cpg_finalize(g->handle);
	g->have_handle = false;
	outq_clear(g);
	g_mutex_unlock(&g->send_lock);
}

/* Out of the group on corosync's account: the user resets, and the group
 * is joined again later. */
static void lose(cpggroup_t *g)
{
	cssource_restart(g->src);
	g->cb.lost(g->ctx);
}

static gboolean drain_cb(gpointer data)
{
	cpggroup_t *g = data;
	cs_error_t rc = CS_OK;
	GBytes *b;

	g_mutex_lock(&g->send_lock);
	while ((b = g_queue_peek_head(&g->outq))) {
		rc = mcast(g, b);
		if (rc != CS_OK)
			break;
		g_bytes_unref(g_queue_pop_head(&g->outq));
	}
	bool more = rc == CS_ERR_TRY_AGAIN;
	if (!more) {
		g->drain_source = 0;
		if (rc != CS_OK) {
			/* The source is ending: outq_clear must not remove it. */
			while ((b = g_queue_pop_head(&g->outq)))
				g_bytes_unref(b);
		}
	}
	g_mutex_unlock(&g->send_lock);
	if (rc != CS_OK && rc != CS_ERR_TRY_AGAIN) {
		/* The others may wait for what it held: out, and in again. */
		log_warn("corosync refused a queued message of group %s (error %d); leaving it",
			 g->name, rc);
		lose(g);
	}
	return more ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static int cg_send(void *p, const void *msg, size_t len)
{
	cpggroup_t *g = p;
	cs_error_t rc = CS_OK;
	g_autoptr(GBytes) b = g_bytes_new(msg, len);

	g_mutex_lock(&g->send_lock);
	if (!g->have_handle)
		rc = CS_ERR_BAD_HANDLE;
	else if (g_queue_is_empty(&g->outq))
		rc = mcast(g, b);
	if (rc == CS_ERR_TRY_AGAIN || (rc == CS_OK && !g_queue_is_empty(&g->outq))) {
		g_queue_push_tail(&g->outq, g_steal_pointer(&b));
		if (!g->drain_source)
			g->drain_source = g_timeout_add(DRAIN_MS, drain_cb, g);
		rc = CS_OK;
	}
	g_mutex_unlock(&g->send_lock);
	if (rc == CS_ERR_BAD_HANDLE)
		return -ENOTCONN;
	if (rc != CS_OK) {
		log_warn("sending to group %s failed (corosync error %d)", g->name, rc);
		return -EIO;
	}
	return 0;
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid, uint32_t pid,
		       void *msg, size_t len)
{
	cpggroup_t *g = from_handle(h);

	if (g)
		g->cb.deliver(g->ctx, nodeid, pid, msg, len);
}

static group_member_t *members_of(const struct cpg_address *a, size_t n)
{
	group_member_t *m = g_new0(group_member_t, MAX(n, 1));

	for (size_t i = 0; i < n; i++)
		m[i] = (group_member_t){.nodeid = a[i].nodeid, .pid = a[i].pid};
	return m;
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
		       const struct cpg_address *members, size_t nmembers,
		       const struct cpg_address *left, size_t nleft,
		       const struct cpg_address *joined, size_t njoined)
{
	cpggroup_t *g = from_handle(h);

	if (!g)
		return;
	g_autofree group_member_t *m = members_of(members, nmembers);
	g_autofree group_member_t *l = members_of(left, nleft);
	g_autofree group_member_t *j = members_of(joined, njoined);
	g->cb.confchg(g->ctx, m, nmembers, l, nleft, j, njoined);
}

static void on_totem(cpg_handle_t h, struct cpg_ring_id ring, uint32_t n, const uint32_t *members)
{
	log_debug("corosync ring %u.%llu with %u node(s)", ring.nodeid,
		  (unsigned long long)ring.seq, n);
}

static cs_error_t cg_dispatch(void *ctx)
{
	cpggroup_t *g = ctx;
	cs_error_t rc = cpg_dispatch(g->handle, CS_DISPATCH_ALL);

	if ((rc == CS_OK || rc == CS_ERR_TRY_AGAIN) && g->have_handle)
		g->cb.dispatched(g->ctx);
	return rc;
}

static cs_error_t cg_connect(void *ctx, int *fd)
{
	cpggroup_t *g = ctx;
	cpg_model_v1_data_t model = {
	    .model = CPG_MODEL_V1,
	    .cpg_deliver_fn = on_deliver,
	    .cpg_confchg_fn = on_confchg,
	    .cpg_totem_confchg_fn = on_totem,
	    .flags = CPG_MODEL_V1_DELIVER_INITIAL_TOTEM_CONF,
	};
	struct cpg_name name = {.length = (uint32_t)strlen(g->name)};
	unsigned int nodeid = 0;
	cpg_handle_t h;

	memcpy(name.value, g->name, name.length);
	cs_error_t rc = cpg_model_initialize(&h, CPG_MODEL_V1, (cpg_model_data_t *)&model, NULL);
	if (rc != CS_OK)
		return rc;
	g_mutex_lock(&g->send_lock);
	g->handle = h;
	g->have_handle = true;
	g_mutex_unlock(&g->send_lock);
	cpg_context_set(h, g);
	rc = cpg_local_get(h, &nodeid);
	if (rc == CS_OK)
		rc = cpg_join(h, &name);
	if (rc == CS_OK)
		rc = cpg_fd_get(h, fd);
	g->nodeid = nodeid;
	return rc;
}

static void cg_connected(void *ctx)
{
	cpggroup_t *g = ctx;

	g->cb.joined(g->ctx, g->nodeid, (uint32_t)getpid());
}

static void cg_lost(void *ctx, cs_error_t rc)
{
	cpggroup_t *g = ctx;

	log_warn("lost the connection to corosync (error %d); reads go on, writes fail until "
		 "it is back",
		 rc);
	g->cb.lost(g->ctx);
}

static void cg_unreachable(void *ctx, cs_error_t rc, guint retry_ms)
{
	log_warn("cannot join the cluster's file system group through corosync (error %d); "
		 "serving reads, retrying every %u ms",
		 rc, retry_ms);
}

static const cssource_ops_t cpg_source = {
    .connect = cg_connect,
    .dispatch = cg_dispatch,
    .finalize = cg_finalize,
    .connected = cg_connected,
    .lost = cg_lost,
    .unreachable = cg_unreachable,
};

static void *cg_open(const char *name, const group_callbacks_t *cb, void *ctx)
{
	cpggroup_t *g = g_new0(cpggroup_t, 1);

	g->name = g_strdup(name);
	g->cb = *cb;
	g->ctx = ctx;
	g_mutex_init(&g->send_lock);
	g_queue_init(&g->outq);
	g->src = cssource_new(&cpg_source, g, RETRY_MS, JOIN_RETRY_MS);
	return g;
}

static void cg_rejoin(void *p)
{
	cpggroup_t *g = p;

	cssource_restart(g->src);
}

static void cg_close(void *p)
{
	cpggroup_t *g = p;

	if (!g)
		return;
	cssource_free(g->src);
	g_mutex_clear(&g->send_lock);
	g_free(g->name);
	g_free(g);
}

const group_ops_t cpggroup_ops = {
    .open = cg_open,
    .send = cg_send,
    .rejoin = cg_rejoin,
    .close = cg_close,
};
