#include "pvecm_quorum.h"

#include <corosync/cfg.h>
#include <corosync/cmap.h>
#include <corosync/quorum.h>
#include <corosync/votequorum.h>
#include <libknet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

GQuark pvecm_quorum_error_quark(void)
{
	return g_quark_from_static_string("pvecm-quorum-error-quark");
}

#define VOTEQUORUM_PROVIDER "corosync_votequorum"

/* The open services and what their callbacks delivered. */
typedef struct {
	cmap_handle_t cmap;
	quorum_handle_t quorum;
	votequorum_handle_t vq;
	corosync_cfg_handle_t cfg;
	bool have_cmap, have_quorum, have_vq, have_cfg;
	uint32_t quorum_type;
	bool quorum_called;
	bool vq_called;
	GArray *view; /* uint32_t node ids from the quorum callback */
	uint64_t ring_seq;
	uint32_t ring_nodeid;
} conn_t;

static void conn_close(conn_t *c)
{
	if (c->have_vq)
		votequorum_finalize(c->vq);
	if (c->have_cfg)
		corosync_cfg_finalize(c->cfg);
	if (c->have_quorum)
		quorum_finalize(c->quorum);
	if (c->have_cmap)
		cmap_finalize(c->cmap);
	if (c->view)
		g_array_unref(c->view);
}

static void member_free(gpointer p)
{
	pvecm_quorum_member_t *m = p;

	g_free(m->name);
	g_free(m->ip);
	g_free(m);
}

void pvecm_quorum_free(pvecm_quorum_t *q)
{
	if (!q)
		return;
	g_free(q->provider);
	g_free(q->qdevice_name);
	if (q->members)
		g_ptr_array_unref(q->members);
	g_free(q);
}

static bool fail(GError **err, pvecm_quorum_error_t code, const char *what, cs_error_t rc)
{
	g_set_error(err, PVECM_QUORUM_ERROR, code, "%s: %s", what, cs_strerror(rc));
	return false;
}

/* Callbacks */

static void on_quorum(quorum_handle_t h, uint32_t quorate, struct quorum_ring_id ring, uint32_t n,
		      const uint32_t *members)
{
	const void *ctx = NULL;
	conn_t *c;

	if (quorum_context_get(h, &ctx) != CS_OK || !ctx)
		return;
	c = (conn_t *)ctx;
	c->quorum_called = true;
	c->ring_seq = ring.seq;
	g_array_set_size(c->view, 0);
	g_array_append_vals(c->view, members, n);
}

/* The tool takes the ring's representative from votequorum's node list
 * and the sequence number from the quorum service; so do we, so that the
 * two agree even while a ring is being formed. */
static void on_vq_nodelist(votequorum_handle_t h, uint64_t context, votequorum_ring_id_t ring,
			   uint32_t n, uint32_t nodes[])
{
	conn_t *c = (conn_t *)(uintptr_t)context;

	c->vq_called = true;
	c->ring_nodeid = ring.nodeid;
}

/* Connecting */

static bool open_cmap(conn_t *c, GError **err)
{
	cs_error_t rc = cmap_initialize(&c->cmap);

	if (rc != CS_OK) {
		g_set_error(err, PVECM_QUORUM_ERROR, PVECM_QUORUM_ERROR_NOT_RUNNING,
			    "corosync is not running (cannot connect to its cmap service: %s)",
			    cs_strerror(rc));
		return false;
	}
	c->have_cmap = true;
	return true;
}

static char *read_provider(conn_t *c)
{
	char *s = NULL;
	char *copy;

	/* Without a quorum provider the service reports QUORUM_FREE, and
	 * the tool calls it "Not configured" whatever cmap holds. */
	if (c->quorum_type == QUORUM_FREE)
		return NULL;
	if (cmap_get_string(c->cmap, "quorum.provider", &s) != CS_OK || !s)
		return NULL;
	copy = g_strdup(s);
	free(s);
	return copy;
}

static bool open_quorum(conn_t *c, GError **err)
{
	quorum_model_v1_data_t model = {.model = QUORUM_MODEL_V1, .quorum_notify_fn = on_quorum};
	cs_error_t rc;

	rc = quorum_model_initialize(&c->quorum, QUORUM_MODEL_V1, (quorum_model_data_t *)&model,
				     &c->quorum_type, c);
	if (rc != CS_OK)
		return fail(err, PVECM_QUORUM_ERROR_FAILED,
			    "cannot connect to corosync's quorum service", rc);
	c->have_quorum = true;
	return true;
}

static bool open_cfg(conn_t *c, GError **err)
{
	corosync_cfg_callbacks_t cb = {0};
	cs_error_t rc = corosync_cfg_initialize(&c->cfg, &cb);

	if (rc != CS_OK)
		return fail(err, PVECM_QUORUM_ERROR_FAILED,
			    "cannot connect to corosync's cfg service", rc);
	c->have_cfg = true;
	return true;
}

static bool open_votequorum(conn_t *c, GError **err)
{
	votequorum_callbacks_t cb = {.votequorum_nodelist_notify_fn = on_vq_nodelist};
	cs_error_t rc = votequorum_initialize(&c->vq, &cb);

	if (rc != CS_OK)
		return fail(err, PVECM_QUORUM_ERROR_FAILED,
			    "cannot connect to corosync's votequorum service", rc);
	c->have_vq = true;
	return true;
}

static bool track_quorum(conn_t *c, bool *quorate, GError **err)
{
	int q = 0;
	cs_error_t rc = quorum_getquorate(c->quorum, &q);

	if (rc != CS_OK)
		return fail(err, PVECM_QUORUM_ERROR_FAILED, "cannot get the quorate state", rc);
	*quorate = q != 0;
	rc = quorum_trackstart(c->quorum, CS_TRACK_CURRENT);
	if (rc != CS_OK)
		return fail(err, PVECM_QUORUM_ERROR_FAILED, "cannot start quorum tracking", rc);
	while (rc == CS_OK && !c->quorum_called)
		rc = quorum_dispatch(c->quorum, CS_DISPATCH_ONE);
	if (rc != CS_OK)
		return fail(err, PVECM_QUORUM_ERROR_FAILED, "cannot read the quorum membership",
			    rc);
	quorum_trackstop(c->quorum);
	return true;
}

static bool track_votequorum(conn_t *c, GError **err)
{
	cs_error_t rc = votequorum_trackstart(c->vq, (uint64_t)(uintptr_t)c, CS_TRACK_CURRENT);

	if (rc != CS_OK)
		return fail(err, PVECM_QUORUM_ERROR_FAILED, "cannot start votequorum tracking", rc);
	while (rc == CS_OK && !c->vq_called)
		rc = votequorum_dispatch(c->vq, CS_DISPATCH_ONE);
	if (rc != CS_OK)
		return fail(err, PVECM_QUORUM_ERROR_FAILED, "cannot read votequorum's node list",
			    rc);
	return true;
}

/* Per node */

/* nodeid -> nodelist name, from cmap's nodelist.node.<pos>.{nodeid,name}. */
static GHashTable *nodelist_names(conn_t *c)
{
	GHashTable *names = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL, g_free);
	char key[CMAP_KEYNAME_MAXLEN + 1];
	cmap_iter_handle_t it;

	if (cmap_iter_init(c->cmap, "nodelist.node.", &it) != CS_OK)
		return names;
	while (cmap_iter_next(c->cmap, it, key, NULL, NULL) == CS_OK) {
		g_autofree char *name_key = NULL;
		char *name = NULL;
		unsigned pos;
		uint32_t id;
		int end = 0;

		if (sscanf(key, "nodelist.node.%u.nodeid%n", &pos, &end) != 1 || key[end] != '\0' ||
		    cmap_get_uint32(c->cmap, key, &id) != CS_OK)
			continue;
		name_key = g_strdup_printf("nodelist.node.%u.name", pos);
		if (cmap_get_string(c->cmap, name_key, &name) != CS_OK || !name)
			continue;
		if (*name && !g_hash_table_contains(names, GUINT_TO_POINTER(id)))
			g_hash_table_insert(names, GUINT_TO_POINTER(id), g_strdup(name));
		free(name);
	}
	cmap_iter_finalize(c->cmap, it);
	return names;
}

/* The node's first link address as text: numeric, or resolved to a host
 * name (which falls back to the numeric form). NULL if corosync has none. */
static char *node_addr(conn_t *c, uint32_t nodeid, bool numeric)
{
	corosync_cfg_node_address_t addrs[KNET_MAX_LINK];
	const struct sockaddr *sa = (const struct sockaddr *)addrs[0].address;
	char buf[NI_MAXHOST];
	int n = 0;
	socklen_t len;

	if (corosync_cfg_get_node_addrs(c->cfg, nodeid, KNET_MAX_LINK, &n, addrs) != CS_OK ||
	    n < 1 || sa->sa_family == 0)
		return NULL;
	len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (getnameinfo(sa, len, buf, sizeof(buf), NULL, 0, numeric ? NI_NUMERICHOST : 0) != 0)
		return NULL;
	return g_strdup(buf);
}

static void read_members(conn_t *c, pvecm_quorum_t *q, unsigned flags)
{
	g_autoptr(GHashTable) names = nodelist_names(c);
	uint32_t local_flags = 0;

	for (guint i = 0; i < c->view->len; i++) {
		pvecm_quorum_member_t *m = g_new0(pvecm_quorum_member_t, 1);
		struct votequorum_info info = {0};

		m->nodeid = g_array_index(c->view, uint32_t, i);
		m->name = g_strdup(g_hash_table_lookup(names, GUINT_TO_POINTER(m->nodeid)));
		m->ip = node_addr(c, m->nodeid, true);
		if (!m->name && (flags & PVECM_QUORUM_RESOLVE))
			m->name = node_addr(c, m->nodeid, false);
		m->local = q->votequorum && m->nodeid == q->nodeid;
		if (c->have_vq && votequorum_getinfo(c->vq, m->nodeid, &info) == CS_OK) {
			m->votes = info.node_votes;
			m->flags = info.flags;
		}
		/* The device's name and votes come from the first member's
		 * record, as the tool shows them. */
		if (i == 0) {
			q->qdevice_name = g_strndup(info.qdevice_name, sizeof(info.qdevice_name));
			q->qdevice_votes = info.qdevice_votes;
		}
		if (m->flags & VOTEQUORUM_INFO_QDEVICE_REGISTERED)
			q->qdevice = true;
		if (m->local)
			local_flags = m->flags;
		g_ptr_array_add(q->members, m);
	}
	q->qdevice_cast_vote = (local_flags & VOTEQUORUM_INFO_QDEVICE_CAST_VOTE) != 0;
}

static bool read_votequorum(conn_t *c, pvecm_quorum_t *q, GError **err)
{
	struct votequorum_info info = {0};
	cs_error_t rc = cmap_get_uint32(c->cmap, "runtime.votequorum.this_node_id", &q->nodeid);

	if (rc != CS_OK)
		return fail(err, PVECM_QUORUM_ERROR_FAILED, "cannot read this node's id from cmap",
			    rc);
	if (!track_votequorum(c, err))
		return false;
	q->ring_nodeid = c->ring_nodeid;
	/* NOT_EXIST still fills in the cluster-wide figures; the tool
	 * prints them too. */
	rc = votequorum_getinfo(c->vq, q->nodeid, &info);
	if (rc != CS_OK && rc != CS_ERR_NOT_EXIST)
		return fail(err, PVECM_QUORUM_ERROR_FAILED, "cannot get votequorum's node info",
			    rc);
	q->expected_votes = info.node_expected_votes;
	q->highest_expected = info.highest_expected;
	q->total_votes = info.total_votes;
	q->quorum = info.quorum;
	q->flags = info.flags;
	return true;
}

pvecm_quorum_t *pvecm_quorum_read(unsigned flags, GError **err)
{
	g_autoptr(pvecm_quorum_t) q = g_new0(pvecm_quorum_t, 1);
	conn_t c = {.view = g_array_new(FALSE, FALSE, sizeof(uint32_t))};
	bool ok = false;

	q->members = g_ptr_array_new_with_free_func(member_free);
	if (!open_cmap(&c, err))
		goto out;
	if (!open_quorum(&c, err) || !open_cfg(&c, err))
		goto out;
	/* Needs the quorum type, known once the quorum service is open. */
	q->provider = read_provider(&c);
	q->votequorum = g_strcmp0(q->provider, VOTEQUORUM_PROVIDER) == 0;
	if (q->votequorum && !open_votequorum(&c, err))
		goto out;
	if (!track_quorum(&c, &q->quorate, err))
		goto out;
	q->ring_seq = c.ring_seq;
	if (q->votequorum && !read_votequorum(&c, q, err))
		goto out;
	read_members(&c, q, flags);
	ok = true;
out:
	conn_close(&c);
	return ok ? g_steal_pointer(&q) : NULL;
}

bool pvecm_quorum_set_expected(uint32_t expected, GError **err)
{
	conn_t c = {0};
	g_autofree char *provider = NULL;
	bool ok = false;
	cs_error_t rc;

	if (!open_cmap(&c, err) || !open_quorum(&c, err))
		goto out;
	provider = read_provider(&c);
	if (g_strcmp0(provider, VOTEQUORUM_PROVIDER) != 0) {
		g_set_error(err, PVECM_QUORUM_ERROR, PVECM_QUORUM_ERROR_NO_VOTEQUORUM,
			    "corosync's quorum provider is %s, not " VOTEQUORUM_PROVIDER,
			    provider ? provider : "not configured");
		goto out;
	}
	if (!open_votequorum(&c, err))
		goto out;
	rc = votequorum_setexpected(c.vq, expected);
	if (rc == CS_ERR_INVALID_PARAM)
		fail(err, PVECM_QUORUM_ERROR_REFUSED, "votequorum refused the value", rc);
	else if (rc != CS_OK)
		fail(err, PVECM_QUORUM_ERROR_FAILED, "votequorum could not take the value", rc);
	if (rc != CS_OK)
		goto out;
	ok = true;
out:
	conn_close(&c);
	return ok;
}
