/* Unit tests for the replication engine, without corosync: replicas in
 * one process, each with its own tree, joined through a process group of
 * this file's own (a bus that delivers every message to the members of the
 * sender's partition in one total order, and tells memberships as CPG
 * does) and a quorum of one vote per node. The test thread is the main
 * loop; writes are submitted from threads of their own, as FUSE does.
 *
 * The tree is either the configuration tree (memdb through treebind), for
 * what the write path relies on, or a fake one of this file's own (keys
 * and values, whose state, store and transfers a test sets up and breaks
 * at will), for the engine's own rules: which state wins a sync, who takes
 * it over, and that a member that cannot store leaves. */
#include "cpggroup.h"
#include "log.h"
#include "replica.h"
#include "treebind.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include "unit_util.h"

#define NODES 3
#define WAIT_S 10 /* any condition a test waits for */

/* ---- the bus ---- */

typedef struct {
	int idx; /* node idx + 1 is its node id */
	uint32_t pid;
	group_callbacks_t cb;
	void *ctx;
	bool open;	     /* a replica uses it */
	bool in_group;	     /* joined */
	bool want_join;	     /* rejoin asked: joins at the next pump */
	bool held;	     /* a slow process: deliveries wait in held_msgs */
	GQueue held_msgs;    /* msg_t* */
	bool stalled;	     /* sends wait in stalled_msgs, not yet ordered */
	GQueue stalled_msgs; /* msg_t* */
	group_member_t view[NODES];
	size_t nview;
} fgroup_t;

typedef struct {
	uint32_t nodeid, pid;
	int part;
	GBytes *data;
} msg_t;

/* The engine's message types (replica.c), as the tap counts them. */
enum {
	TAP_TREE = 3,
	TAP_ACK = 5,
	TAP_TYPES = 16,
};

static struct {
	GMutex lock;
	GQueue msgs;		       /* msg_t*, in total order */
	guint sent[NODES][TAP_TYPES];  /* messages each node sent, by type */
	guint rejoins[NODES];	       /* leaves to join again (fail-stop) */
	gsize bytes[NODES][TAP_TYPES]; /* their size, by type */
	fgroup_t g[NODES];
	int part[NODES]; /* each node's network partition */
	bool dirty;	 /* memberships to recompute */
	int opening;	 /* the node whose replica opens next */
} bus;

static void msg_free(msg_t *m)
{
	g_bytes_unref(m->data);
	g_free(m);
}

static void *fg_open(const char *name, const group_callbacks_t *cb, void *ctx)
{
	fgroup_t *g = &bus.g[bus.opening];

	g->cb = *cb;
	g->ctx = ctx;
	g->open = true;
	g->want_join = true;
	g->pid += 1000; /* a process of its own every time */
	return g;
}

static int fg_send(void *p, const void *msg, size_t len)
{
	fgroup_t *g = p;
	int res = 0;

	g_mutex_lock(&bus.lock);
	if (!g->in_group) {
		res = -ENOTCONN;
	} else {
		msg_t *m = g_new0(msg_t, 1);
		m->nodeid = (uint32_t)g->idx + 1;
		m->pid = g->pid;
		m->part = bus.part[g->idx];
		m->data = g_bytes_new(msg, len);
		g_queue_push_tail(g->stalled ? &g->stalled_msgs : &bus.msgs, m);
		g_autoptr(GVariant) env = g_variant_ref_sink(
		    g_variant_new_from_bytes(G_VARIANT_TYPE("(uuuv)"), m->data, FALSE));
		guint32 type;
		g_variant_get_child(env, 2, "u", &type);
		if (type < TAP_TYPES) {
			bus.sent[g->idx][type]++;
			bus.bytes[g->idx][type] += len;
		}
	}
	g_mutex_unlock(&bus.lock);
	return res;
}

/* Node i's stalled messages get their order now, in the partition it is
 * in now, ahead of what it sent since: what corosync does with messages a
 * node had not got sequenced when its ring broke. */
static void unstall(int i)
{
	fgroup_t *g = &bus.g[i];
	msg_t *m;

	g_mutex_lock(&bus.lock);
	g->stalled = false;
	GList *later = bus.msgs.head;
	while (later && ((msg_t *)later->data)->nodeid != (uint32_t)i + 1)
		later = later->next;
	while ((m = g_queue_pop_head(&g->stalled_msgs))) {
		m->part = bus.part[i];
		if (later)
			g_queue_insert_before(&bus.msgs, later, m);
		else
			g_queue_push_tail(&bus.msgs, m);
	}
	g_mutex_unlock(&bus.lock);
}

static void fg_rejoin(void *p)
{
	fgroup_t *g = p;

	g_mutex_lock(&bus.lock);
	g->in_group = false;
	g->want_join = true;
	bus.dirty = true;
	bus.rejoins[g->idx]++;
	g_mutex_unlock(&bus.lock);
}

static void fg_close(void *p)
{
	fgroup_t *g = p;

	if (!g)
		return;
	g_mutex_lock(&bus.lock);
	g->open = g->in_group = g->want_join = false;
	g->nview = 0;
	bus.dirty = true;
	g_mutex_unlock(&bus.lock);
}

static const group_ops_t fake_group = {
    .open = fg_open,
    .send = fg_send,
    .rejoin = fg_rejoin,
    .close = fg_close,
};

static bool in_view(const group_member_t *v, size_t n, group_member_t m)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].nodeid == m.nodeid && v[i].pid == m.pid)
			return true;
	return false;
}

/* Tells every member whose view changed its new membership, with what left
 * and joined relative to what it saw before, as CPG does. */
static void update_views(void)
{
	for (int i = 0; i < NODES; i++) {
		fgroup_t *g = &bus.g[i];
		if (!g->in_group)
			continue;
		group_member_t now[NODES], left[NODES], joined[NODES];
		size_t n = 0, nl = 0, nj = 0;
		for (int k = 0; k < NODES; k++)
			if (bus.g[k].in_group && bus.part[k] == bus.part[i])
				now[n++] = (group_member_t){(uint32_t)k + 1, bus.g[k].pid};
		for (size_t k = 0; k < g->nview; k++)
			if (!in_view(now, n, g->view[k]))
				left[nl++] = g->view[k];
		for (size_t k = 0; k < n; k++)
			if (!in_view(g->view, g->nview, now[k]))
				joined[nj++] = now[k];
		if (!nl && !nj)
			continue;
		memcpy(g->view, now, sizeof(now[0]) * n);
		g->nview = n;
		g->cb.confchg(g->ctx, now, n, left, nl, joined, nj);
		g->cb.dispatched(g->ctx);
	}
}

static void deliver_to(fgroup_t *g, msg_t *m)
{
	gsize len;
	const void *d = g_bytes_get_data(m->data, &len);

	g->cb.deliver(g->ctx, m->nodeid, m->pid, d, len);
	g->cb.dispatched(g->ctx);
}

/* One step of everything that is due: main loop sources, joins,
 * memberships, one message. False when nothing was. */
static bool pump_once(void)
{
	bool did = false;

	while (g_main_context_iteration(NULL, FALSE))
		did = true;
	for (int i = 0; i < NODES; i++) {
		fgroup_t *g = &bus.g[i];
		if (g->open && !g->held && g_queue_get_length(&g->held_msgs)) {
			msg_t *m = g_queue_pop_head(&g->held_msgs);
			deliver_to(g, m);
			msg_free(m);
			return true;
		}
	}
	g_mutex_lock(&bus.lock);
	msg_t *m = g_queue_pop_head(&bus.msgs);
	bool joins = false;
	for (int i = 0; i < NODES; i++)
		joins = joins || bus.g[i].want_join;
	bool change = !m && (bus.dirty || joins);
	g_mutex_unlock(&bus.lock);
	if (m) {
		/* Virtual synchrony: the members of its partition get it
		 * before any membership change. */
		for (int i = 0; i < NODES; i++) {
			fgroup_t *g = &bus.g[i];
			if (!g->in_group || bus.part[i] != m->part)
				continue;
			if (g->held) {
				msg_t *c = g_new0(msg_t, 1);
				*c = *m;
				c->data = g_bytes_ref(m->data);
				g_queue_push_tail(&g->held_msgs, c);
			} else {
				deliver_to(g, m);
			}
		}
		msg_free(m);
		return true;
	}
	if (change) {
		/* A member that left to rejoin is seen leaving first, as CPG
		 * shows it, even when it joins again at once. */
		if (bus.dirty)
			update_views();
		for (int i = 0; i < NODES; i++) {
			fgroup_t *g = &bus.g[i];
			if (!g->want_join)
				continue;
			g->want_join = false;
			g->in_group = true;
			g->nview = 0;
			g->cb.joined(g->ctx, (uint32_t)i + 1, g->pid);
		}
		bus.dirty = false;
		update_views();
		return true;
	}
	return did;
}

static void pump(void)
{
	while (pump_once())
		;
}

/* ---- the quorum: one vote per node, NODES expected ---- */

static uint32_t fq_threshold(void *ctx)
{
	return NODES / 2 + 1;
}

static bool fq_quorate(void *ctx)
{
	int idx = GPOINTER_TO_INT(ctx), n = 0;

	for (int k = 0; k < NODES; k++)
		n += bus.part[k] == bus.part[idx];
	return n >= NODES / 2 + 1;
}

static uint32_t fq_votes(void *ctx, uint32_t nodeid)
{
	return 1;
}

static uint32_t fq_qdevice(void *ctx)
{
	return 0;
}

static const replica_quorum_ops_t fake_quorum = {
    .threshold = fq_threshold,
    .quorate = fq_quorate,
    .node_votes = fq_votes,
    .qdevice_votes = fq_qdevice,
};

/* ---- a fake tree: keys and values ---- */

/* A change: sets key to value. id names it for barriers. */
typedef struct {
	uint64_t id;
	const char *key, *value;
} fop_t;

#define FOP_T "(tssu)" /* id, key, value, writer */
#define FDUMP_T "(ta{ss})"

typedef struct {
	GHashTable *kv; /* key -> value */
	uint64_t version, qstamp;
	int fail_store;	  /* so many of the next applies fail in the store */
	int fail_replace; /* so many of the next replaces fail */
	guint replace_calls, replaces, forgets;
	/* A writable member sets this key after a sync, if missing (as the
	 * configuration tree creates a node's directories). */
	const char *after_sync;
} ftree_t;

static ftree_t *ftree_new(void)
{
	ftree_t *t = g_new0(ftree_t, 1);

	t->kv = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return t;
}

static void ftree_free(ftree_t *t)
{
	if (!t)
		return;
	g_hash_table_destroy(t->kv);
	g_free(t);
}

static void ftree_set(ftree_t *t, const char *key, const char *value)
{
	g_hash_table_insert(t->kv, g_strdup(key), g_strdup(value));
}

static const char *ftree_get(ftree_t *t, const char *key)
{
	return g_hash_table_lookup(t->kv, key);
}

static uint64_t ft_version(void *ctx)
{
	return ((ftree_t *)ctx)->version;
}

static int key_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Over the content only: trees of one version may still differ. */
static void ft_checksum(void *ctx, uint8_t out[32])
{
	ftree_t *t = ctx;
	g_autoptr(GChecksum) c = g_checksum_new(G_CHECKSUM_SHA256);
	g_autofree gpointer *keys = g_hash_table_get_keys_as_array(t->kv, NULL);
	gsize n = 32;

	qsort(keys, g_hash_table_size(t->kv), sizeof(*keys), key_cmp);
	for (guint i = 0; i < g_hash_table_size(t->kv); i++) {
		const char *v = g_hash_table_lookup(t->kv, keys[i]);
		g_checksum_update(c, (const guchar *)keys[i], (gssize)strlen(keys[i]) + 1);
		g_checksum_update(c, (const guchar *)v, (gssize)strlen(v) + 1);
	}
	g_checksum_get_digest(c, out, &n);
}

static GVariant *ft_encode(void *ctx, const void *op, uint32_t writer)
{
	const fop_t *f = op;

	return g_variant_new(FOP_T, f->id, f->key, f->value, writer);
}

static const char *ft_describe(void *ctx, GVariant *op, uint64_t *key)
{
	if (!g_variant_is_of_type(op, G_VARIANT_TYPE(FOP_T)))
		return NULL;
	if (key)
		g_variant_get_child(op, 0, "t", key);
	return "set";
}

/* result: the tree's version after the change. */
static int ft_apply(void *ctx, GVariant *op, bool own, void *result, uint64_t *key)
{
	ftree_t *t = ctx;
	const char *k, *v;

	if (t->fail_store > 0) {
		t->fail_store--;
		return -EIO;
	}
	g_variant_get(op, "(t&s&su)", NULL, &k, &v, NULL);
	ftree_set(t, k, v);
	t->version++;
	memcpy(result, &t->version, sizeof(t->version));
	return 0;
}

static GBytes *ft_dump(void *ctx)
{
	ftree_t *t = ctx;
	GVariantBuilder b;
	GHashTableIter it;
	gpointer k, v;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a{ss}"));
	g_hash_table_iter_init(&it, t->kv);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_variant_builder_add(&b, "{ss}", k, v);
	g_autoptr(GVariant) d =
	    g_variant_ref_sink(g_variant_new("(t@a{ss})", t->version, g_variant_builder_end(&b)));
	return g_variant_get_data_as_bytes(d);
}

static replica_tree_status_t ft_replace(void *ctx, GBytes *bytes, GError **err)
{
	ftree_t *t = ctx;
	g_autoptr(GVariant) d =
	    g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE(FDUMP_T), bytes, FALSE));
	GVariantIter *it;
	const char *k, *v;

	t->replace_calls++;
	if (t->fail_replace > 0) {
		t->fail_replace--;
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_IO, "the test's store refused it");
		return REPLICA_TREE_STORE_FAILED;
	}
	g_hash_table_remove_all(t->kv);
	g_variant_get(d, "(ta{ss})", &t->version, &it);
	while (g_variant_iter_next(it, "{&s&s}", &k, &v))
		ftree_set(t, k, v);
	g_variant_iter_free(it);
	t->replaces++;
	return REPLICA_TREE_OK;
}

static uint64_t ft_quorate_stamp(void *ctx)
{
	return ((ftree_t *)ctx)->qstamp;
}

static void ft_set_quorate_stamp(void *ctx, uint64_t stamp)
{
	ftree_t *t = ctx;

	t->forgets += stamp == 0;
	t->qstamp = stamp;
}

static GVariant *ft_synced(void *ctx, bool writable, uint32_t writer)
{
	ftree_t *t = ctx;

	if (!writable || !t->after_sync || ftree_get(t, t->after_sync))
		return NULL;
	return ft_encode(t, &(fop_t){.key = t->after_sync, .value = "after-sync"}, writer);
}

static const replica_tree_ops_t fake_tree = {
    .result_size = sizeof(uint64_t),
    .max_dump_bytes = 1 << 20,
    .version = ft_version,
    .checksum = ft_checksum,
    .encode = ft_encode,
    .describe = ft_describe,
    .apply = ft_apply,
    .dump = ft_dump,
    .replace = ft_replace,
    .quorate_stamp = ft_quorate_stamp,
    .set_quorate_stamp = ft_set_quorate_stamp,
    .synced = ft_synced,
};

/* ---- the cluster ---- */

typedef struct {
	char *dir;
	bool fake; /* each node's tree is an ftree_t, not a memdb */
	memdb_t *mdb[NODES];
	treebind_t *tb[NODES];
	ftree_t *ft[NODES];
	clusterlog_t *clog[NODES];
	replica_t *r[NODES];
} fx_t;

/* 0, or the ack fallback and the sync timeout the nodes of a test start
 * with. */
static unsigned fallback_ms, sync_timeout_ms;

static void start_node(fx_t *fx, int i)
{
	g_autofree char *name = g_strdup_printf("n%d", i + 1);
	GError *err = NULL;

	if (!fx->clog[i])
		fx->clog[i] = clusterlog_new(100);
	if (!fx->fake && !fx->mdb[i]) {
		g_autofree char *db = g_strdup_printf("%s/n%d.db", fx->dir, i + 1);
		fx->mdb[i] = memdb_open(db, &err);
		g_assert_no_error(err);
		fx->tb[i] = treebind_new(&(treebind_config_t){.mdb = fx->mdb[i], .nodename = name});
	}
	bus.opening = i;
	fx->r[i] = replica_new(
	    &(replica_config_t){.tree = fx->fake ? &fake_tree : &treebind_ops,
				.tree_ctx = fx->fake ? (void *)fx->ft[i] : (void *)fx->tb[i],
				.clog = fx->clog[i],
				.nodename = name,
				.group = &fake_group,
				.quorum = &fake_quorum,
				.quorum_ctx = GINT_TO_POINTER(i),
				.ack_fallback_ms = fallback_ms,
				.sync_timeout_ms = sync_timeout_ms});
}

static void stop_node(fx_t *fx, int i)
{
	replica_free(fx->r[i]);
	fx->r[i] = NULL;
	pump();
}

static void quorum_changed_everywhere(fx_t *fx)
{
	for (int i = 0; i < NODES; i++)
		if (fx->r[i])
			replica_changed_quorum(fx->r[i]);
}

static bool writable(fx_t *fx, int i)
{
	replica_status_t st;

	replica_status(fx->r[i], &st);
	return st.writable;
}

static void bus_reset(void)
{
	memset(&bus.g, 0, sizeof(bus.g));
	memset(&bus.part, 0, sizeof(bus.part));
	memset(&bus.sent, 0, sizeof(bus.sent));
	memset(&bus.rejoins, 0, sizeof(bus.rejoins));
	memset(&bus.bytes, 0, sizeof(bus.bytes));
	g_queue_init(&bus.msgs);
	bus.dirty = false;
	for (int i = 0; i < NODES; i++) {
		bus.g[i].idx = i;
		g_queue_init(&bus.g[i].held_msgs);
		g_queue_init(&bus.g[i].stalled_msgs);
	}
}

/* Every node joins at once, and the group syncs. */
static void start_all(fx_t *fx)
{
	for (int i = 0; i < NODES; i++)
		start_node(fx, i);
	pump();
	for (int i = 0; i < NODES; i++)
		g_assert_true(writable(fx, i));
}

/* data: NULL, or the unsigned ack fallback in ms. */
static void fx_setup(fx_t *fx, gconstpointer data)
{
	fallback_ms = data ? *(const unsigned *)data : 0;
	sync_timeout_ms = 0;
	bus_reset();
	fx->dir = g_dir_make_tmp("test-replica-XXXXXX", NULL);
	g_assert(fx->dir);
	start_all(fx);
}

/* Fake trees, empty; the test sets them up and starts the nodes. */
static void fx_setup_fake(fx_t *fx, gconstpointer data)
{
	fallback_ms = 0;
	sync_timeout_ms = data ? *(const unsigned *)data : 0;
	bus_reset();
	fx->fake = true;
	for (int i = 0; i < NODES; i++)
		fx->ft[i] = ftree_new();
}

static void fx_teardown(fx_t *fx, gconstpointer data)
{
	for (int i = 0; i < NODES; i++) {
		bus.g[i].held = false;
		if (fx->r[i])
			replica_shutdown(fx->r[i]);
	}
	pump();
	for (int i = 0; i < NODES; i++) {
		replica_free(fx->r[i]);
		treebind_free(fx->tb[i]);
		memdb_free(fx->mdb[i]);
		ftree_free(fx->ft[i]);
		clusterlog_free(fx->clog[i]);
	}
	msg_t *m;
	while ((m = g_queue_pop_head(&bus.msgs)))
		msg_free(m);
	for (int i = 0; i < NODES; i++) {
		while ((m = g_queue_pop_head(&bus.g[i].held_msgs)))
			msg_free(m);
		while ((m = g_queue_pop_head(&bus.g[i].stalled_msgs)))
			msg_free(m);
	}
	if (fx->dir)
		unit_rm_tree(fx->dir);
	g_free(fx->dir);
}

/* ---- writes, from threads of their own ---- */

typedef enum {
	JOB_CONFIRMED,
	JOB_ORDERED,
	JOB_BARRIER,
	JOB_ASYNC,
	JOB_SETTLE,
	JOB_SET, /* a fake tree's change: op.name is the key, op.data the value */
} job_kind_t;

typedef struct {
	replica_t *r;
	job_kind_t kind;
	fsop_t op;
	char *name, *data;
	memdb_attr_t attr;
	uint64_t version; /* JOB_SET's result: the fake tree's version */
	int res;
	gint done;
	GThread *thread;
} job_t;

static gpointer job_run(gpointer p)
{
	job_t *j = p;

	switch (j->kind) {
	case JOB_CONFIRMED:
		j->res = treebind_submit(j->r, &j->op, &j->attr);
		break;
	case JOB_ORDERED:
		j->res = treebind_submit_ordered(j->r, &j->op, &j->attr);
		break;
	case JOB_BARRIER:
		j->res = replica_barrier(j->r, j->op.inode);
		break;
	case JOB_ASYNC:
		j->res = treebind_submit_async(j->r, &j->op);
		break;
	case JOB_SETTLE:
		j->res = replica_settle(j->r, j->op.inode);
		break;
	case JOB_SET:
		j->res = replica_submit(j->r, &(fop_t){.key = j->name, .value = j->data}, 0,
					&j->version);
		break;
	}
	g_atomic_int_set(&j->done, 1);
	return NULL;
}

static job_t *job_start(replica_t *r, job_kind_t kind, fsop_t op)
{
	job_t *j = g_new0(job_t, 1);

	j->r = r;
	j->kind = kind;
	j->op = op;
	j->name = g_strdup(op.name);
	j->data = g_memdup2(op.data, op.len);
	j->op.name = j->name;
	j->op.data = j->data;
	j->op.time = 1000;
	j->thread = g_thread_new("submit", job_run, j);
	return j;
}

/* Pumps until the job has its answer (or WAIT_S passed: then fails). */
static int job_finish(job_t *j)
{
	gint64 end = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;

	while (!g_atomic_int_get(&j->done)) {
		g_assert_cmpint(g_get_monotonic_time(), <, end);
		if (!pump_once())
			g_usleep(1000);
	}
	g_thread_join(j->thread);
	return j->res;
}

static void job_free(job_t *j)
{
	g_free(j->name);
	g_free(j->data);
	g_free(j);
}

/* Pumps for a while: what can happen in ms milliseconds does. */
static void pump_for(int ms)
{
	gint64 end = g_get_monotonic_time() + ms * 1000;

	while (g_get_monotonic_time() < end)
		if (!pump_once())
			g_usleep(1000);
}

static int submit_wait(replica_t *r, job_kind_t kind, fsop_t op, memdb_attr_t *attr)
{
	job_t *j = job_start(r, kind, op);
	int res = job_finish(j);
	if (attr)
		*attr = j->attr;
	job_free(j);
	return res;
}

static char *content(memdb_t *m, const char *path)
{
	return memdb_read_path(m, path, NULL);
}

static void assert_content_everywhere(fx_t *fx, const char *path, const char *want)
{
	for (int i = 0; i < NODES; i++) {
		g_autofree char *c = content(fx->mdb[i], path);
		g_assert_cmpstr(c, ==, want);
	}
}

static void assert_trees_equal(fx_t *fx)
{
	uint8_t a[32], b[32];

	memdb_checksum(fx->mdb[0], a);
	for (int i = 1; i < NODES; i++) {
		memdb_checksum(fx->mdb[i], b);
		g_assert_cmpmem(a, sizeof(a), b, sizeof(b));
	}
}

/* A write() of the string data at off to ino. */
static fsop_t write_op(uint64_t ino, uint64_t off, const char *data)
{
	return (fsop_t){
	    .kind = FSOP_WRITE, .inode = ino, .offset = off, .data = data, .len = strlen(data)};
}

/* create + write, ordered, then the close's barrier; returns the inode */
static uint64_t create_file(fx_t *fx, int node, const char *name, const char *data)
{
	memdb_attr_t a;

	g_assert_cmpint(submit_wait(fx->r[node], JOB_ORDERED,
				    (fsop_t){.kind = FSOP_CREATE, .parent = 1, .name = name}, &a),
			==, 0);
	g_assert_cmpint(submit_wait(fx->r[node], JOB_ORDERED, write_op(a.inode, 0, data), NULL), ==,
			(int)strlen(data));
	return a.inode;
}

/* The messages node i handed to the bus, of every type. */
static int sent_total(int i)
{
	guint n = 0;

	g_mutex_lock(&bus.lock);
	for (int t = 0; t < TAP_TYPES; t++)
		n += bus.sent[i][t];
	g_mutex_unlock(&bus.lock);
	return (int)n;
}

/* Pumps until node i handed n messages to the bus in all. */
static void wait_sent(int i, int n)
{
	gint64 end = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;

	for (;;) {
		if (sent_total(i) == n)
			return;
		g_assert_cmpint(g_get_monotonic_time(), <, end);
		if (!pump_once())
			g_usleep(1000);
	}
}

/* ---- tests ---- */

/* Three replicas join, sync, and a confirmed mkdir is on all of them. */
static void test_join_and_confirm(fx_t *fx, gconstpointer data)
{
	g_assert_cmpint(submit_wait(fx->r[0], JOB_CONFIRMED,
				    (fsop_t){.kind = FSOP_MKDIR, .parent = 1, .name = "d"}, NULL),
			==, 0);
	pump();
	for (int i = 0; i < NODES; i++) {
		memdb_attr_t a;
		g_assert_cmpint(memdb_lookup_path(fx->mdb[i], "d", &a), ==, 0);
	}
	assert_trees_equal(fx);
}

/* An ordered write is answered once applied by its node; the barrier
 * waits for a member's acknowledgment, and only one member (the next in
 * the walk) is asked for it. */
static void test_ordered_then_barrier(fx_t *fx, gconstpointer data)
{
	bus.g[1].held = true;
	bus.g[2].held = true;
	uint64_t ino = create_file(fx, 0, "f", "hello");
	g_autofree char *c = content(fx->mdb[0], "f");
	g_assert_cmpstr(c, ==, "hello");

	job_t *b = job_start(fx->r[0], JOB_BARRIER, (fsop_t){.inode = ino});
	pump_for(30);
	g_assert_false(g_atomic_int_get(&b->done));
	bus.g[1].held = false;
	g_assert_cmpint(job_finish(b), ==, 0);
	job_free(b);
	bus.g[2].held = false;
	pump();
	assert_content_everywhere(fx, "f", "hello");
	assert_trees_equal(fx);
}

/* A write answered once handed out: its node applies it later, and reads
 * it only after settling; the barrier confirms it as any other. */
static void test_async_settle_then_barrier(fx_t *fx, gconstpointer data)
{
	uint64_t ino = create_file(fx, 0, "f", "old");

	bus.g[0].held = true;
	g_assert_cmpint(submit_wait(fx->r[0], JOB_ASYNC, write_op(ino, 0, "new"), NULL), ==, 0);
	job_t *st = job_start(fx->r[0], JOB_SETTLE, (fsop_t){.inode = ino});
	pump_for(30);
	g_assert_false(g_atomic_int_get(&st->done));
	g_autofree char *before = content(fx->mdb[0], "f");
	g_assert_cmpstr(before, ==, "old");
	/* Another file's reader does not wait for it. */
	g_assert_cmpint(submit_wait(fx->r[0], JOB_SETTLE, (fsop_t){.inode = ino + 1}, NULL), ==, 0);
	bus.g[0].held = false;
	g_assert_cmpint(job_finish(st), ==, 1);
	job_free(st);
	g_autofree char *after = content(fx->mdb[0], "f");
	g_assert_cmpstr(after, ==, "new");
	g_assert_cmpint(submit_wait(fx->r[0], JOB_BARRIER, (fsop_t){.inode = ino}, NULL), ==, 0);
	pump();
	assert_content_everywhere(fx, "f", "new");
	assert_trees_equal(fx);
}

/* What applying an async write gave, when it failed, is what the file's
 * next barrier answers, once. */
static void test_async_failure_reaches_barrier(fx_t *fx, gconstpointer data)
{
	uint64_t ino = create_file(fx, 1, "f", "abc");

	g_assert_cmpint(
	    submit_wait(fx->r[1], JOB_ASYNC, write_op(ino, MEMDB_MAX_FILE_SIZE, "x"), NULL), ==, 0);
	g_assert_cmpint(submit_wait(fx->r[1], JOB_BARRIER, (fsop_t){.inode = ino}, NULL), ==,
			-EFBIG);
	g_assert_cmpint(submit_wait(fx->r[1], JOB_BARRIER, (fsop_t){.inode = ino}, NULL), ==, 0);
	pump();
	assert_content_everywhere(fx, "f", "abc");
	assert_trees_equal(fx);
}

/* A writer cannot run ahead of the group: past REPLICA_ASYNC_MAX_OPS
 * writes its node has not applied, the next one waits for its order. */
static void test_async_bounded(fx_t *fx, gconstpointer data)
{
	uint64_t ino = create_file(fx, 0, "f", "");

	bus.g[0].held = true;
	for (int i = 0; i < REPLICA_ASYNC_MAX_OPS; i++)
		g_assert_cmpint(
		    submit_wait(fx->r[0], JOB_ASYNC, write_op(ino, (uint64_t)i, "a"), NULL), ==, 0);
	job_t *j = job_start(fx->r[0], JOB_ASYNC, write_op(ino, REPLICA_ASYNC_MAX_OPS, "b"));
	pump_for(30);
	g_assert_false(g_atomic_int_get(&j->done));
	bus.g[0].held = false;
	g_assert_cmpint(job_finish(j), ==, 1);
	job_free(j);
	g_assert_cmpint(submit_wait(fx->r[0], JOB_BARRIER, (fsop_t){.inode = ino}, NULL), ==, 0);
	pump();
	g_autofree char *want = g_strnfill(REPLICA_ASYNC_MAX_OPS, 'a');
	g_autofree char *all = g_strconcat(want, "b", NULL);
	assert_content_everywhere(fx, "f", all);
}

/* The member asked to acknowledge is stopped: after ACK_FALLBACK_MS the
 * writer asks everybody, and the third member's acknowledgment confirms. */
static void test_fallback_to_all(fx_t *fx, gconstpointer data)
{
	bus.g[1].held = true;
	job_t *j = job_start(fx->r[0], JOB_CONFIRMED,
			     (fsop_t){.kind = FSOP_MKDIR, .parent = 1, .name = "slow"});
	g_assert_cmpint(job_finish(j), ==, 0);
	job_free(j);
	bus.g[1].held = false;
	pump();
	assert_trees_equal(fx);
}

/* A node alone has no quorum: a write is refused (EACCES) and nobody
 * applies it, then or after the heal. */
static void test_minority_refuses(fx_t *fx, gconstpointer data)
{
	bus.part[2] = 1;
	bus.dirty = true;
	quorum_changed_everywhere(fx);
	pump();
	g_assert_false(writable(fx, 2));
	g_assert_true(writable(fx, 0));
	g_assert_cmpint(submit_wait(fx->r[2], JOB_CONFIRMED,
				    (fsop_t){.kind = FSOP_MKDIR, .parent = 1, .name = "minority"},
				    NULL),
			==, -EACCES);
	create_file(fx, 0, "majority", "m");
	bus.part[2] = 0;
	bus.dirty = true;
	quorum_changed_everywhere(fx);
	pump();
	g_assert_true(writable(fx, 2));
	assert_content_everywhere(fx, "majority", "m");
	for (int i = 0; i < NODES; i++) {
		memdb_attr_t a;
		g_assert_cmpint(memdb_lookup_path(fx->mdb[i], "minority", &a), ==, -ENOENT);
	}
	assert_trees_equal(fx);
}

/* A write answered once ordered whose confirmation cannot come: its node
 * is cut off while the others are slow. The close fails with EIO (outcome
 * unknown, not EACCES), and the others did apply it. */
static void test_lost_confirmation_is_eio(fx_t *fx, gconstpointer data)
{
	bus.g[0].held = true;
	bus.g[1].held = true;
	uint64_t ino = create_file(fx, 2, "cut", "x");
	job_t *b = job_start(fx->r[2], JOB_BARRIER, (fsop_t){.inode = ino});
	pump_for(20);
	g_assert_false(g_atomic_int_get(&b->done));
	bus.part[2] = 1;
	bus.dirty = true;
	quorum_changed_everywhere(fx);
	g_assert_cmpint(job_finish(b), ==, -EIO);
	job_free(b);
	/* Reported once: the next close has nothing to report. */
	g_assert_cmpint(submit_wait(fx->r[2], JOB_BARRIER, (fsop_t){.inode = ino}, NULL), ==, 0);
	bus.g[0].held = bus.g[1].held = false;
	bus.part[2] = 0;
	bus.dirty = true;
	quorum_changed_everywhere(fx);
	pump();
	assert_content_everywhere(fx, "cut", "x");
	assert_trees_equal(fx);
}

/* The engine half of a loss seen on 5 nodes (an acknowledged create found
 * empty after the heal): a write queued by the members during a sync that
 * a second membership change then cut short. The old members applied it
 * after their next sync, the others never did, and a later checksum round
 * made the trees agree on a tree without it. Now every member that queued
 * it drops it at the membership change, and its sender answers EIO
 * (outcome unknown), which no member contradicts. */
static void test_queued_then_membership_change(fx_t *fx, gconstpointer data)
{
	memdb_attr_t a;

	bus.g[2].held = true; /* n3 never sends its state: the sync waits */
	stop_node(fx, 1);
	start_node(fx, 1);
	pump();
	g_assert_false(writable(fx, 0));
	job_t *j = job_start(fx->r[0], JOB_CONFIRMED,
			     (fsop_t){.kind = FSOP_MKDIR, .parent = 1, .name = "queued"});
	wait_sent(0, sent_total(0) + 1);
	pump();
	/* n3 goes away before the sync finishes. */
	bus.part[2] = 1;
	bus.dirty = true;
	quorum_changed_everywhere(fx);
	g_assert_cmpint(job_finish(j), ==, -EIO);
	job_free(j);
	for (int i = 0; i < 2; i++)
		g_assert_cmpint(memdb_lookup_path(fx->mdb[i], "queued", &a), ==, -ENOENT);
	bus.g[2].held = false;
	bus.part[2] = 0;
	bus.dirty = true;
	quorum_changed_everywhere(fx);
	pump();
	for (int i = 0; i < NODES; i++) {
		g_assert_true(writable(fx, i));
		g_assert_cmpint(memdb_lookup_path(fx->mdb[i], "queued", &a), ==, -ENOENT);
	}
	assert_trees_equal(fx);
}

/* The result of an op is final and the same everywhere: a second create
 * of the same name, from another node, fails with EEXIST and changes
 * nothing. */
static void test_conflicting_creates(fx_t *fx, gconstpointer data)
{
	create_file(fx, 0, "once", "first");
	g_assert_cmpint(submit_wait(fx->r[1], JOB_ORDERED,
				    (fsop_t){.kind = FSOP_CREATE, .parent = 1, .name = "once"},
				    NULL),
			==, -EEXIST);
	pump();
	assert_content_everywhere(fx, "once", "first");
	assert_trees_equal(fx);
}

/* A daemon restarted (a new process) after missing writes takes the
 * group's tree in the sync and can write again. */
static void test_restart_catches_up(fx_t *fx, gconstpointer data)
{
	stop_node(fx, 2);
	g_assert_true(writable(fx, 0));
	create_file(fx, 0, "while-down", "w");
	pump();
	start_node(fx, 2);
	pump();
	g_assert_true(writable(fx, 2));
	assert_content_everywhere(fx, "while-down", "w");
	create_file(fx, 2, "from-n3", "back");
	g_assert_cmpint(submit_wait(fx->r[2], JOB_BARRIER,
				    (fsop_t){.inode = ({
						     memdb_attr_t a;
						     memdb_lookup_path(fx->mdb[2], "from-n3", &a);
						     a.inode;
					     })},
				    NULL),
			==, 0);
	pump();
	assert_content_everywhere(fx, "from-n3", "back");
	assert_trees_equal(fx);
}

/* The tree transfers every node sent in all, in bytes. */
static gsize tree_bytes(void)
{
	gsize n = 0;

	for (int i = 0; i < NODES; i++)
		n += bus.bytes[i][TAP_TREE];
	return n;
}

/* A member that missed a few changes of a large tree gets those changes,
 * not the tree: the transfer's size follows what it missed. */
static void test_rejoin_gets_changes(fx_t *fx, gconstpointer data)
{
	g_autofree char *big = g_strnfill(8000, 'x');
	for (int k = 0; k < 40; k++) {
		g_autofree char *name = g_strdup_printf("big-%d", k);
		create_file(fx, 0, name, big);
	}
	pump();
	stop_node(fx, 2);
	create_file(fx, 0, "missed-1", "one");
	create_file(fx, 1, "missed-2", "two");
	g_assert_cmpint(submit_wait(fx->r[0], JOB_CONFIRMED,
				    (fsop_t){.kind = FSOP_UNLINK, .parent = 1, .name = "big-7"},
				    NULL),
			==, 0);
	pump();
	gsize before = tree_bytes();
	start_node(fx, 2);
	pump();
	g_assert_true(writable(fx, 2));
	assert_content_everywhere(fx, "missed-2", "two");
	assert_trees_equal(fx);
	gsize sent = tree_bytes() - before;
	g_assert_cmpuint(sent, >, 0);
	/* The tree holds 320,000 bytes of content. */
	g_assert_cmpuint(sent, <, 8000);
	g_assert_cmpuint(bus.rejoins[2], ==, 0);
}

/* A member whose tree went its own way while it was away cannot take the
 * changes (they were made from another tree): it asks for the whole tree
 * in the next sync, and ends with the group's. */
static void test_diverged_takes_whole(fx_t *fx, gconstpointer data)
{
	uint64_t shared = create_file(fx, 0, "shared", "s");
	pump();
	stop_node(fx, 2);
	/* Its own change, as a partition that was never confirmed may leave,
	 * of a file the others do not change again. */
	g_assert_cmpint(memdb_write(fx->mdb[2], shared, 0, "S", 1, 3, 1000), ==, 1);
	for (int k = 0; k < 3; k++) {
		g_autofree char *name = g_strdup_printf("after-%d", k);
		create_file(fx, 0, name, "a");
	}
	pump();
	start_node(fx, 2);
	gint64 end = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
	for (;;) {
		g_autofree char *c = content(fx->mdb[2], "shared");
		if (writable(fx, 2) && g_strcmp0(c, "s") == 0)
			break;
		g_assert_cmpint(g_get_monotonic_time(), <, end);
		if (!pump_once())
			g_usleep(1000);
	}
	pump();
	g_assert_cmpuint(bus.rejoins[2], ==, 1);
	assert_content_everywhere(fx, "shared", "s");
	assert_content_everywhere(fx, "after-2", "a");
	assert_trees_equal(fx);
}

/* ---- the engine alone, on fake trees ---- */

/* A fake tree's change from node, confirmed by a quorum; *version: the
 * tree's version after it, as that node's apply gave it. */
static int set_wait(fx_t *fx, int node, const char *key, const char *value, uint64_t *version)
{
	job_t *j = job_start(fx->r[node], JOB_SET,
			     (fsop_t){.name = key, .data = value, .len = strlen(value) + 1});
	int res = job_finish(j);

	if (version)
		*version = j->version;
	job_free(j);
	return res;
}

/* A node's state before it starts: its quorate stamp, its version and one
 * key. */
static void preset(fx_t *fx, int i, uint64_t qstamp, uint64_t version, const char *key,
		   const char *value)
{
	fx->ft[i]->qstamp = qstamp;
	fx->ft[i]->version = version;
	ftree_set(fx->ft[i], key, value);
}

static void assert_fake_trees_equal(fx_t *fx)
{
	uint8_t a[32], b[32];

	ft_checksum(fx->ft[0], a);
	for (int i = 1; i < NODES; i++) {
		ft_checksum(fx->ft[i], b);
		g_assert_cmpmem(a, sizeof(a), b, sizeof(b));
		g_assert_cmpuint(fx->ft[i]->version, ==, fx->ft[0]->version);
	}
}

/* The state written under the latest quorate membership wins over any
 * version: node 1's (stamp 5, version 1) beats node 2's version 9 of
 * stamp 3; both others take it over. */
static void test_fake_later_quorate_stamp_wins(fx_t *fx, gconstpointer data)
{
	preset(fx, 0, 5, 1, "a", "from-1");
	preset(fx, 1, 3, 9, "b", "from-2");
	preset(fx, 2, 3, 4, "c", "from-3");
	start_all(fx);
	assert_fake_trees_equal(fx);
	for (int i = 0; i < NODES; i++) {
		g_assert_cmpstr(ftree_get(fx->ft[i], "a"), ==, "from-1");
		g_assert_null(ftree_get(fx->ft[i], "b"));
		g_assert_cmpuint(fx->ft[i]->replaces, ==, i == 0 ? 0 : 1);
	}
	g_assert_cmpuint(bus.sent[0][TAP_TREE], >, 0);
	g_assert_cmpuint(bus.sent[1][TAP_TREE] + bus.sent[2][TAP_TREE], ==, 0);
}

/* At the same quorate stamp the higher version wins; of two equal states
 * the lower node sends it, and only the member that differs takes it. */
static void test_fake_higher_version_wins(fx_t *fx, gconstpointer data)
{
	preset(fx, 0, 3, 2, "old", "1");
	preset(fx, 1, 3, 7, "new", "2");
	preset(fx, 2, 3, 7, "new", "2");
	start_all(fx);
	assert_fake_trees_equal(fx);
	g_assert_cmpstr(ftree_get(fx->ft[0], "new"), ==, "2");
	g_assert_null(ftree_get(fx->ft[0], "old"));
	g_assert_cmpuint(fx->ft[0]->replaces, ==, 1);
	g_assert_cmpuint(fx->ft[1]->replaces + fx->ft[2]->replaces, ==, 0);
	g_assert_cmpuint(bus.sent[1][TAP_TREE], >, 0);
	g_assert_cmpuint(bus.sent[0][TAP_TREE] + bus.sent[2][TAP_TREE], ==, 0);
}

/* A member whose tree has the winner's version but another content
 * (checksum) is stale too, and takes the winner's tree. */
static void test_fake_same_version_other_content_replaced(fx_t *fx, gconstpointer data)
{
	preset(fx, 0, 3, 5, "k", "right");
	preset(fx, 1, 3, 5, "k", "right");
	preset(fx, 2, 3, 5, "k", "wrong");
	start_all(fx);
	assert_fake_trees_equal(fx);
	g_assert_cmpstr(ftree_get(fx->ft[2], "k"), ==, "right");
	g_assert_cmpuint(fx->ft[2]->replaces, ==, 1);
	g_assert_cmpuint(fx->ft[0]->replaces + fx->ft[1]->replaces, ==, 0);
}

/* Members that hold the same state sync without any tree transfer, and
 * each keeps the new membership's stamp as its quorate stamp. */
static void test_fake_equal_states_transfer_nothing(fx_t *fx, gconstpointer data)
{
	for (int i = 0; i < NODES; i++)
		preset(fx, i, 2, 4, "same", "s");
	start_all(fx);
	for (int i = 0; i < NODES; i++) {
		g_assert_cmpuint(bus.sent[i][TAP_TREE], ==, 0);
		g_assert_cmpuint(fx->ft[i]->replace_calls, ==, 0);
		g_assert_cmpuint(fx->ft[i]->qstamp, ==, 3);
	}
}

/* A change applied everywhere gives its submitter the result of its own
 * node's apply (the opaque result buffer). */
static void test_fake_result_reaches_submitter(fx_t *fx, gconstpointer data)
{
	uint64_t v = 0;

	start_all(fx);
	g_assert_cmpint(set_wait(fx, 1, "x", "1", &v), ==, 0);
	g_assert_cmpuint(v, ==, 1);
	g_assert_cmpint(set_wait(fx, 2, "y", "2", &v), ==, 0);
	g_assert_cmpuint(v, ==, 2);
	pump();
	assert_fake_trees_equal(fx);
}

/* A member whose store fails on a change sends no acknowledgment for it
 * (node 2 is the one node 1's change asks), forgets its quorate stamp,
 * leaves and rejoins, and takes the group's tree; the change is
 * confirmed by the others. */
static void test_fake_failed_store_leaves(fx_t *fx, gconstpointer data)
{
	start_all(fx);
	guint syncs_before = fx->ft[1]->replaces;
	fx->ft[1]->fail_store = 1;
	memset(&bus.sent, 0, sizeof(bus.sent));
	g_assert_cmpint(set_wait(fx, 0, "k", "v", NULL), ==, 0);
	pump();
	g_assert_cmpuint(bus.sent[1][TAP_ACK], ==, 0);
	g_assert_cmpuint(fx->ft[1]->forgets, ==, 1);
	g_assert_cmpuint(fx->ft[1]->replaces, ==, syncs_before + 1);
	g_assert_true(writable(fx, 1));
	g_assert_cmpstr(ftree_get(fx->ft[1], "k"), ==, "v");
	assert_fake_trees_equal(fx);
}

/* A member that cannot take over the winner's tree leaves, forgets its
 * stamp, and takes it in the sync after it rejoins. */
static void test_fake_failed_replace_leaves(fx_t *fx, gconstpointer data)
{
	for (int i = 0; i < 2; i++)
		preset(fx, i, 4, 6, "k", "group");
	preset(fx, 2, 4, 1, "k", "behind");
	fx->ft[2]->fail_replace = 1;
	start_all(fx);
	g_assert_cmpuint(fx->ft[2]->replace_calls, ==, 2);
	g_assert_cmpuint(fx->ft[2]->replaces, ==, 1);
	g_assert_cmpuint(fx->ft[2]->forgets, ==, 1);
	g_assert_cmpstr(ftree_get(fx->ft[2], "k"), ==, "group");
	assert_fake_trees_equal(fx);
}

/* What a member's tree asks to send after a sync (the configuration tree:
 * a new node's directories) reaches every member. */
static void test_fake_synced_change_everywhere(fx_t *fx, gconstpointer data)
{
	const char *keys[NODES] = {"dir-n1", "dir-n2", "dir-n3"};

	for (int i = 0; i < NODES; i++)
		fx->ft[i]->after_sync = keys[i];
	start_all(fx);
	pump();
	for (int i = 0; i < NODES; i++)
		for (int k = 0; k < NODES; k++)
			g_assert_cmpstr(ftree_get(fx->ft[i], keys[k]), ==, "after-sync");
	assert_fake_trees_equal(fx);
}

/* A member speaking another message version is kept out: the others stay
 * writable and confirm without it. */
static void test_fake_foreign_version_excluded(fx_t *fx, gconstpointer data)
{
	start_all(fx);
	/* (magic, version 99, type 5, an empty body) from node 3's process */
	g_autoptr(GVariant) env = g_variant_ref_sink(
	    g_variant_new("(uuuv)", 0x52435650u, 99u, 5u, g_variant_new_string("?")));
	g_assert_cmpint(fg_send(&bus.g[2], g_variant_get_data(env), g_variant_get_size(env)), ==,
			0);
	pump();
	g_assert_true(writable(fx, 0));
	g_assert_cmpint(set_wait(fx, 0, "without-3", "1", NULL), ==, 0);
}

/* Pumps until node i has n ops waiting for its batch on its way. */
static void wait_waiting(fx_t *fx, int i, uint32_t n)
{
	gint64 end = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
	replica_status_t st;

	for (;;) {
		replica_status(fx->r[i], &st);
		if (st.waiting == n)
			return;
		g_assert_cmpint(g_get_monotonic_time(), <, end);
		if (!pump_once())
			g_usleep(1000);
	}
}

/* Ops submitted while a batch of their node is on its way travel together
 * in one message once it is back. */
static void test_batching(fx_t *fx, gconstpointer data)
{
	bus.g[0].held = true; /* n1's own batch does not come back yet */
	pump();
	int before = sent_total(0);
	job_t *a = job_start(fx->r[0], JOB_CONFIRMED,
			     (fsop_t){.kind = FSOP_MKDIR, .parent = 1, .name = "a"});
	wait_sent(0, before + 1);
	job_t *b = job_start(fx->r[0], JOB_CONFIRMED,
			     (fsop_t){.kind = FSOP_MKDIR, .parent = 1, .name = "b"});
	job_t *c = job_start(fx->r[0], JOB_CONFIRMED,
			     (fsop_t){.kind = FSOP_MKDIR, .parent = 1, .name = "c"});
	wait_waiting(fx, 0, 2);
	g_assert_cmpint(sent_total(0) - before, ==, 1);
	bus.g[0].held = false;
	g_assert_cmpint(job_finish(a), ==, 0);
	g_assert_cmpint(job_finish(b), ==, 0);
	g_assert_cmpint(job_finish(c), ==, 0);
	job_free(a);
	job_free(b);
	job_free(c);
	pump();
	/* a, then b and c in one batch; n1 acknowledges nobody. */
	g_assert_cmpint(sent_total(0) - before, ==, 2);
	for (int i = 0; i < NODES; i++) {
		memdb_attr_t attr;
		g_assert_cmpint(memdb_lookup_path(fx->mdb[i], "b", &attr), ==, 0);
		g_assert_cmpint(memdb_lookup_path(fx->mdb[i], "c", &attr), ==, 0);
	}
	assert_trees_equal(fx);
}

/* A member that owes an acknowledgment while ops of its own wait for
 * their batch sends them at once, carrying it: one message, not two. */
static void test_ack_rides_on_batch(fx_t *fx, gconstpointer data)
{
	pump();
	bus.g[1].held = true; /* n2 applies nothing yet */
	/* n1's op first in the total order; n2 acknowledges n1's ops. */
	int before0 = sent_total(0), before = sent_total(1);
	job_t *a = job_start(fx->r[0], JOB_CONFIRMED,
			     (fsop_t){.kind = FSOP_MKDIR, .parent = 1, .name = "from-n1"});
	wait_sent(0, before0 + 1);
	job_t *d = job_start(fx->r[1], JOB_CONFIRMED,
			     (fsop_t){.kind = FSOP_MKDIR, .parent = 1, .name = "d"});
	wait_sent(1, before + 1);
	job_t *e = job_start(fx->r[1], JOB_CONFIRMED,
			     (fsop_t){.kind = FSOP_MKDIR, .parent = 1, .name = "e"});
	wait_waiting(fx, 1, 1);
	bus.g[1].held = false;
	g_assert_cmpint(job_finish(a), ==, 0);
	g_assert_cmpint(job_finish(d), ==, 0);
	g_assert_cmpint(job_finish(e), ==, 0);
	job_free(a);
	job_free(d);
	job_free(e);
	pump();
	/* d, then e with the acknowledgment of n1's op: none alone. */
	g_assert_cmpint(sent_total(1) - before, ==, 2);
	assert_trees_equal(fx);
}

/* A member whose state never comes (a stopped process) holds up the sync:
 * once it has taken longer than the sync timeout, every member waiting in it
 * leaves and rejoins rather than staying read-only for good; once the
 * stopped one runs again, the group syncs and writes. */
static void test_fake_sync_times_out(fx_t *fx, gconstpointer data)
{
	start_all(fx);
	bus.g[2].held = true;
	stop_node(fx, 0);
	start_node(fx, 0);
	pump_for(700);
	g_assert_cmpuint(bus.rejoins[1], >=, 1);
	g_assert_false(writable(fx, 1));
	bus.g[2].held = false;
	gint64 end = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
	while (!writable(fx, 0) || !writable(fx, 1) || !writable(fx, 2)) {
		g_assert_cmpint(g_get_monotonic_time(), <, end);
		if (!pump_once())
			g_usleep(1000);
	}
	assert_fake_trees_equal(fx);
}

/* A write node 3 sent as its link broke is ordered only in the membership
 * that follows, where node 3 is alone and without quorum: it must not
 * change node 3's tree (which would no longer fit the changes the group
 * sends it after the heal), its caller never hears success, and after the
 * heal it is nowhere. The same write queued during node 3's sync alone is
 * refused too. */
static void test_fake_late_write_in_minority(fx_t *fx, gconstpointer data)
{
	start_all(fx);
	g_assert_cmpint(set_wait(fx, 0, "k", "before", NULL), ==, 0);
	pump();
	for (int round = 0; round < 2; round++) {
		uint64_t v = fx->ft[2]->version;
		int sent = sent_total(2);
		bus.g[2].stalled = true;
		job_t *j =
		    job_start(fx->r[2], JOB_SET, (fsop_t){.name = "late", .data = "x", .len = 2});
		wait_sent(2, sent + 1);
		bus.part[2] = 1;
		bus.dirty = true;
		quorum_changed_everywhere(fx);
		if (round == 0) {
			/* ordered after node 3's sync alone */
			pump();
			g_assert_false(writable(fx, 2));
			unstall(2);
		} else {
			/* ordered while node 3 syncs alone: the membership is
			 * told first, then the write comes, then the sync */
			g_assert_true(pump_once());
			unstall(2);
		}
		int res = job_finish(j);
		g_assert_true(res == -EIO || res == -EACCES);
		job_free(j);
		pump();
		g_assert_false(writable(fx, 2));
		g_assert_null(ftree_get(fx->ft[2], "late"));
		g_assert_cmpuint(fx->ft[2]->version, ==, v);
		g_assert_cmpint(set_wait(fx, 0, "k", round ? "after-1" : "after-0", NULL), ==, 0);
		bus.part[2] = 0;
		bus.dirty = true;
		quorum_changed_everywhere(fx);
		pump();
		g_assert_true(writable(fx, 2));
		for (int i = 0; i < NODES; i++)
			g_assert_null(ftree_get(fx->ft[i], "late"));
		assert_fake_trees_equal(fx);
	}
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	log_init("test_replica", false, g_getenv("TEST_VERBOSE") != NULL);
	g_mutex_init(&bus.lock);
#define ADD(path, fn) g_test_add(path, fx_t, NULL, fx_setup, fn, fx_teardown)
	ADD("/replica/join-and-confirm", test_join_and_confirm);
	ADD("/replica/ordered-then-barrier", test_ordered_then_barrier);
	ADD("/replica/async-settle-then-barrier", test_async_settle_then_barrier);
	ADD("/replica/async-failure-reaches-barrier", test_async_failure_reaches_barrier);
	ADD("/replica/async-bounded", test_async_bounded);
	ADD("/replica/fallback-to-all", test_fallback_to_all);
	ADD("/replica/minority-refuses", test_minority_refuses);
	ADD("/replica/lost-confirmation-is-eio", test_lost_confirmation_is_eio);
	ADD("/replica/queued-then-membership-change", test_queued_then_membership_change);
	ADD("/replica/conflicting-creates", test_conflicting_creates);
	ADD("/replica/restart-catches-up", test_restart_catches_up);
	ADD("/replica/rejoin-gets-changes", test_rejoin_gets_changes);
	ADD("/replica/diverged-takes-whole", test_diverged_takes_whole);
	/* No fallback: only the members chosen acknowledge, and only the
	 * messages the test counts are sent, however slow it runs. */
	static const unsigned no_fallback = 600 * 1000;
	g_test_add("/replica/batching", fx_t, &no_fallback, fx_setup, test_batching, fx_teardown);
	g_test_add("/replica/ack-rides-on-batch", fx_t, &no_fallback, fx_setup,
		   test_ack_rides_on_batch, fx_teardown);
#define ADD_FAKE(path, fn) g_test_add(path, fx_t, NULL, fx_setup_fake, fn, fx_teardown)
	ADD_FAKE("/replica/fake/later-quorate-stamp-wins", test_fake_later_quorate_stamp_wins);
	ADD_FAKE("/replica/fake/higher-version-wins", test_fake_higher_version_wins);
	ADD_FAKE("/replica/fake/same-version-other-content-replaced",
		 test_fake_same_version_other_content_replaced);
	ADD_FAKE("/replica/fake/equal-states-transfer-nothing",
		 test_fake_equal_states_transfer_nothing);
	ADD_FAKE("/replica/fake/result-reaches-submitter", test_fake_result_reaches_submitter);
	ADD_FAKE("/replica/fake/failed-store-leaves", test_fake_failed_store_leaves);
	ADD_FAKE("/replica/fake/failed-replace-leaves", test_fake_failed_replace_leaves);
	ADD_FAKE("/replica/fake/synced-change-everywhere", test_fake_synced_change_everywhere);
	ADD_FAKE("/replica/fake/foreign-version-excluded", test_fake_foreign_version_excluded);
	ADD_FAKE("/replica/fake/late-write-in-minority", test_fake_late_write_in_minority);
	/* data: the sync timeout in ms */
	static const unsigned short_sync = 200;
	g_test_add("/replica/fake/sync-times-out", fx_t, &short_sync, fx_setup_fake,
		   test_fake_sync_times_out, fx_teardown);
	return g_test_run();
}
