#include "replica.h"

#include "cpggroup.h"
#include "log.h"
#include "quorum.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Tree transfers are cut into messages of this size. */
#define CHUNK_SIZE (256 * 1024)

#define MSG_MAGIC 0x52435650u /* "PVCR" little-endian */
/* The protocol version: members that speak another one are kept out of
 * syncs. 2: ops carry the lock version their sender saw expire (fsop_t).
 * 4: ops travel in batches that carry their sender's acknowledgment. */
#define MSG_VERSION 4
#define ENVELOPE_TYPE "(uuuv)"

enum {
	MSG_SYNC_START = 1, /* epoch: the leader opens a state exchange */
	MSG_STATE,	    /* epoch, stamp, quorate stamp, version, checksum, gen, whole */
	MSG_TREE,	    /* epoch, kind, since, final, index, count, bytes of a transfer */
	MSG_OPS, /* the sender's acknowledgment, ack mode, ops (reqid, gen, the tree's change) */
	MSG_ACK, /* epoch, ops applied */
	MSG_VERIFY_REQ, /* epoch, round */
	MSG_VERIFY,	/* epoch, round, checksum */
	MSG_LOG,	/* a cluster log entry */
	MSG_ACK_REQ,	/* ack mode: acknowledge what you applied */
};

/* Who acknowledges an op (or answers an ack request) at once. Every
 * message costs every node's corosync CPU, so only as many members as the
 * confirmation needs send one; the sender asks everybody when that is
 * slow (ACK_FALLBACK_MS). */
enum {
	ACK_NONE,   /* nobody: its confirmation comes with a later op's */
	ACK_QUORUM, /* the members that make up quorum with the sender */
	ACK_ALL,    /* every member */
};

/* A confirmation that takes this long asks every member to acknowledge:
 * one of those chosen may be slow or stopped (replica_config_t may say
 * otherwise). */
#define ACK_FALLBACK_MS 100

#define EPOCH_T "(uut)"
#define STATE_T "(" EPOCH_T "tttaytb)"
#define TREE_T "(" EPOCH_T "ytbuuay)"

/* What a tree transfer holds: the winner's whole tree, or its changes since
 * the version of the members it is for (the tree's diff). */
enum {
	TRANSFER_WHOLE,
	TRANSFER_DIFF,
};
/* A batch: the ops one member sent while its previous batch was on its
 * way, with what it had applied when it sent them (epoch and count; an
 * epoch of zeros: no acknowledgment). */
#define OPS_T "(" EPOCH_T "tya(ttv))"
#define ACK_T "(" EPOCH_T "t)"
#define VREQ_T "(" EPOCH_T "t)"
#define VERIFY_T "(" EPOCH_T "tay)"
#define LOG_T "(uuyssss)"
#define ACK_REQ_T "(y)"

/* A state exchange round, named by the leader that opened it. */
typedef struct {
	uint32_t nodeid, pid;
	uint64_t counter;
} epoch_t;

typedef struct {
	uint32_t nodeid, pid;
	bool have_state;
	uint64_t stamp, qstamp, version, gen;
	uint8_t csum[32];
	bool stale;	/* its tree differs from the winner's */
	bool foreign;	/* speaks another message version: kept out of syncs */
	bool whole;	/* asks for the winner's whole tree, not its changes */
	uint64_t acked; /* ops it applied in this epoch */
} member_t;

typedef struct {
	uint64_t reqid;
	bool sent;	   /* handed to corosync: others may get it */
	uint64_t send_seq; /* its place among this node's messages; 0 until set */
	bool delivered;	   /* our own message came back (maybe only queued) */
	bool applied;	   /* and was applied here */
	bool done;
	int result;
	uint64_t seq; /* its position among the ops of the epoch */
	/* Its caller was answered once it was applied here (an ordered
	 * write): the record is the replica's, and a failure to confirm it
	 * is kept for the file's next durability point (replica_barrier). */
	bool detached;
	/* Its caller was answered once it was handed out (REPLICA_ASYNC);
	 * async_size: its bytes, counted in replica.async_* until it is
	 * applied here or fails. */
	bool async;
	gsize async_size;
	uint64_t inode;	 /* the file it changed or created, once applied */
	bool ack_wanted; /* sent asking for acknowledgments (not ACK_NONE) */
	guint8 ack;	 /* ACK_*: who acknowledges it at once */
	GVariant *op;	 /* (ttv) while it waits in the outgoing batch */
	/* Its caller waits on this one alone: with 8 writers, waking every
	 * waiting thread at each delivery cost more than the writes. */
	GCond cond;
	/* What applying it gave, tree->result_size bytes. */
	unsigned char out[];
} pending_t;

typedef struct {
	uint32_t nodeid, pid;
	GVariant *body;
} queued_t;

typedef struct {
	uint64_t inode;
	/* what it waits for: the ops to be applied here (settle), or to be
	 * done (barrier) */
	bool settle;
	GCond cond;
} file_waiter_t;

typedef enum {
	ST_DOWN,   /* not in the group */
	ST_SYNC,   /* membership changed, state exchange running */
	ST_SYNCED, /* ops flow */
} state_t;

struct replica {
	const replica_tree_ops_t *tree_ops;
	void *tree_ctx;
	/* apply's result for the op being applied (main loop only). */
	void *scratch;
	clusterlog_t *clog;
	char *nodename;

	/* Everything FUSE threads see goes under lock; the main loop is the
	 * only writer of the rest. */
	GMutex lock;
	GCond cond;	    /* for replica_free; see wake() */
	guint cond_waiters; /* the threads waiting on cond */
	/* Threads waiting for the ops of one file (barrier, settle), each on
	 * a condition of its own: waking every closing writer at each
	 * delivery cost more than the writes. */
	GPtrArray *file_waiters; /* file_waiter_t* */
	/* Held while handing a message to the group, so that send_seq counts
	 * in the order the group gets them. */
	GMutex send_lock;

	const group_ops_t *gops;
	void *group; /* under send_lock for senders; NULL once shut down */
	const replica_quorum_ops_t *qops;
	void *qctx;
	quorum_t *quorum; /* when the quorum is corosync's (qops not given) */
	guint verify_source, sync_source, leave_source;
	uint64_t send_seq;  /* messages handed out so far (under send_lock) */
	uint64_t state_seq; /* send_seq of this epoch's own state message */
	/* Set when this member must leave the group (fail-stop): nothing is
	 * applied or confirmed after that. Under lock. */
	bool leaving;
	bool leave_forget; /* and forget that its state was ever current */
	char *leave_why;
	int leave_pri; /* the log priority of why */

	uint32_t nodeid, pid;
	state_t state;
	GPtrArray *members; /* member_t*, sorted by (nodeid, pid) */
	epoch_t epoch;
	bool have_epoch;
	uint64_t counter; /* for the epochs this node opens */
	uint64_t stamp, qstamp, gen, syncs;
	uint64_t new_stamp;
	member_t *winner;
	GByteArray *tree;
	uint32_t tree_next; /* the next chunk of the transfer under way */
	bool tree_mine;	    /* that transfer is for this member */
	bool tree_taken;    /* this member took a transfer in this sync */
	/* A transfer of changes did not fit this member's tree: its next
	 * state asks for the whole tree. */
	bool want_whole;
	GQueue queued;
	uint64_t applied;
	bool ack_owed;
	/* This node's ops not handed to the group yet (pending_t*, in order),
	 * and whether a batch of its ops is on its way: while one is, the
	 * next ones gather here and go as one message once it is back. */
	GPtrArray *outq;
	bool inflight;
	uint64_t verify_round;
	uint8_t verify_csum[32];
	bool have_verify;
	GHashTable *replaced; /* (nodeid << 32 | pid) -> gen below which its ops are refused */

	GHashTable *pending; /* reqid -> pending_t* (the waiter's, or detached) */
	/* This node's REPLICA_ASYNC ops not applied here yet, and their bytes. */
	guint async_ops;
	gsize async_bytes;
	/* inode -> errno: ordered writes to it that could not be confirmed,
	 * for its next durability point. */
	GHashTable *unconfirmed;
	bool stopped;
	uint64_t next_reqid;
	bool cs_quorate;
	bool writable;
	unsigned ack_fallback_ms;
	unsigned sync_timeout_ms;

	replica_changed_fn changed;
	void *changed_ctx;
	guint changed_source;
	uint64_t seen_version; /* the tree version changed() last heard of */
};

static void disconnect(replica_t *r);
static void queue_clear(replica_t *r);

/* ---- small helpers ---- */

static uint64_t member_key(uint32_t nodeid, uint32_t pid)
{
	return ((uint64_t)nodeid << 32) | pid;
}

static gint member_cmp(gconstpointer a, gconstpointer b)
{
	const member_t *x = *(member_t *const *)a, *y = *(member_t *const *)b;
	uint64_t kx = member_key(x->nodeid, x->pid), ky = member_key(y->nodeid, y->pid);
	return kx < ky ? -1 : kx > ky;
}

static member_t *find_member(replica_t *r, uint32_t nodeid, uint32_t pid)
{
	for (guint i = 0; i < r->members->len; i++) {
		member_t *m = r->members->pdata[i];
		if (m->nodeid == nodeid && m->pid == pid)
			return m;
	}
	return NULL;
}

/* The member that opens syncs and checksum rounds: the lowest one that
 * speaks this node's message version. */
static member_t *leader(replica_t *r)
{
	for (guint i = 0; i < r->members->len; i++) {
		member_t *m = r->members->pdata[i];
		if (!m->foreign)
			return m;
	}
	return NULL;
}

static bool is_me(replica_t *r, uint32_t nodeid, uint32_t pid)
{
	return nodeid == r->nodeid && pid == r->pid;
}

static char *hex(const uint8_t *b, size_t n)
{
	GString *s = g_string_sized_new(n * 2 + 1);
	for (size_t i = 0; i < n; i++)
		g_string_append_printf(s, "%02x", b[i]);
	return g_string_free(s, FALSE);
}

static GVariant *epoch_variant(const epoch_t *e)
{
	return g_variant_new(EPOCH_T, e->nodeid, e->pid, e->counter);
}

static bool epoch_is_current(replica_t *r, GVariant *ev)
{
	epoch_t e;

	g_variant_get(ev, EPOCH_T, &e.nodeid, &e.pid, &e.counter);
	return r->have_epoch && e.nodeid == r->epoch.nodeid && e.pid == r->epoch.pid &&
	       e.counter == r->epoch.counter;
}

/* Sum of the votes of the distinct nodes in the group for which ok(m). */
static uint32_t votes_where(replica_t *r, bool (*ok)(const member_t *, uint64_t), uint64_t arg)
{
	uint32_t sum = 0, last = 0;
	bool any = false;

	for (guint i = 0; i < r->members->len; i++) {
		member_t *m = r->members->pdata[i];
		if (m->foreign || !ok(m, arg) || (any && m->nodeid == last))
			continue;
		sum += r->qops->node_votes(r->qctx, m->nodeid);
		last = m->nodeid;
		any = true;
	}
	return sum;
}

static bool any_member(const member_t *m, uint64_t arg)
{
	return true;
}

/* ---- leaving the group (fail-stop) ---- */

static gboolean leave_idle(gpointer data)
{
	replica_t *r = data;
	bool forget;
	g_autofree char *why = NULL;

	g_mutex_lock(&r->lock);
	r->leave_source = 0;
	forget = r->leave_forget;
	why = g_steal_pointer(&r->leave_why);
	int pri = r->leave_pri;
	g_mutex_unlock(&r->lock);
	log_msg(pri, "leaving the cluster's file system group: %s; rejoining to resync",
		why ? why : "?");
	if (forget) {
		/* Its tree may lack what the others hold: it must never win a
		 * sync on the strength of its stamp. */
		r->qstamp = 0;
		r->tree_ops->set_quorate_stamp(r->tree_ctx, 0);
	}
	disconnect(r);
	return G_SOURCE_REMOVE;
}

/* From any thread: this member stops applying and confirming at once, and
 * leaves the group from the main loop, outside corosync's dispatch; it
 * rejoins and takes the group's tree in the sync that follows. forget: its
 * tree may be incomplete (a failed store). */
static void leave_va(replica_t *r, bool forget, int pri, const char *fmt, va_list ap)
    G_GNUC_PRINTF(4, 0);
static void leave_va(replica_t *r, bool forget, int pri, const char *fmt, va_list ap)
{
	g_mutex_lock(&r->lock);
	if (!r->leaving && !r->stopped) {
		r->leave_why = g_strdup_vprintf(fmt, ap);
		r->leave_pri = pri;
		r->leaving = true;
		r->writable = false;
		r->leave_source = g_idle_add(leave_idle, r);
	}
	r->leave_forget = r->leave_forget || forget;
	g_mutex_unlock(&r->lock);
}

static void request_leave(replica_t *r, bool forget, const char *fmt, ...) G_GNUC_PRINTF(3, 4);
static void request_leave(replica_t *r, bool forget, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	leave_va(r, forget, LOG_ERR, fmt, ap);
	va_end(ap);
}

/* A leave that is part of the protocol, not a fault: logged as a notice. */
static void request_rejoin(replica_t *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
static void request_rejoin(replica_t *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	leave_va(r, false, LOG_NOTICE, fmt, ap);
	va_end(ap);
}

static bool is_leaving(replica_t *r)
{
	g_mutex_lock(&r->lock);
	bool l = r->leaving;
	g_mutex_unlock(&r->lock);
	return l;
}

/* ---- sending ---- */

/* Hands a message to the group, which keeps the order of what it could not
 * take yet; never waits. False when it was not taken and never will be:
 * then this member leaves the group, since the others may wait for it. */
static bool send_msg_seq(replica_t *r, uint32_t type, GVariant *body, uint64_t *seq)
{
	g_autoptr(GVariant) env =
	    g_variant_ref_sink(g_variant_new(ENVELOPE_TYPE, MSG_MAGIC, MSG_VERSION, type, body));
	int rc = -ENOTCONN;

	g_mutex_lock(&r->send_lock);
	if (r->group)
		rc = r->gops->send(r->group, g_variant_get_data(env), g_variant_get_size(env));
	if (seq && rc != -ENOTCONN)
		__atomic_store_n(seq, ++r->send_seq, __ATOMIC_RELEASE);
	g_mutex_unlock(&r->send_lock);
	if (rc == -ENOTCONN)
		return false;
	if (rc < 0) {
		request_leave(r, false, "sending a message of type %u failed: %s", type,
			      g_strerror(-rc));
		return false;
	}
	return true;
}

static bool send_msg(replica_t *r, uint32_t type, GVariant *body)
{
	return send_msg_seq(r, type, body, NULL);
}

/* ---- write admission and confirmation ---- */

static bool acked_at_least(const member_t *m, uint64_t seq)
{
	return m->acked >= seq;
}

/* Under r->lock. */
static void update_writable(replica_t *r)
{
	uint32_t q = r->qops->threshold(r->qctx);

	r->cs_quorate = r->qops->quorate(r->qctx);
	/* A quorum device's vote counts as corosync counts it: qnetd gives
	 * it to one partition at a time. */
	r->writable = r->state == ST_SYNCED && !r->leaving && r->cs_quorate && q > 0 &&
		      votes_where(r, any_member, 0) + r->qops->qdevice_votes(r->qctx) >= q;
}

/* Under r->lock: the members that applied up to seq hold quorum by their
 * own votes; or every member did, and the device's vote makes up the
 * rest. The device holds no data, so it only completes a group in which
 * no member lacks the write. */
static bool confirmed(replica_t *r, uint64_t seq, uint32_t q)
{
	uint32_t acked = votes_where(r, acked_at_least, seq);

	if (acked >= q)
		return true;
	for (guint i = 0; i < r->members->len; i++)
		if (!acked_at_least(r->members->pdata[i], seq))
			return false;
	return acked + r->qops->qdevice_votes(r->qctx) >= q;
}

/* Under r->lock: p's caller, and whoever waits for a file's writes, learn
 * that p moved on. */
static void wake(replica_t *r, pending_t *p)
{
	if (!p->detached)
		g_cond_signal(&p->cond);
	for (guint i = 0; i < r->file_waiters->len; i++) {
		file_waiter_t *w = r->file_waiters->pdata[i];
		if (w->inode == p->inode && (w->settle ? !p->async_size : p->done))
			g_cond_signal(&w->cond);
	}
	if (r->cond_waiters)
		g_cond_broadcast(&r->cond);
}

/* Under r->lock: the calling thread waits for the ops of inode. */
static file_waiter_t *file_wait_begin(replica_t *r, uint64_t inode, bool settle)
{
	file_waiter_t *w = g_new0(file_waiter_t, 1);

	w->inode = inode;
	w->settle = settle;
	g_cond_init(&w->cond);
	g_ptr_array_add(r->file_waiters, w);
	return w;
}

static void file_wait_end(replica_t *r, file_waiter_t *w)
{
	g_ptr_array_remove_fast(r->file_waiters, w);
	g_cond_clear(&w->cond);
	g_free(w);
}

static void pending_free(pending_t *p)
{
	g_cond_clear(&p->cond);
	g_free(p);
}

/* Under r->lock: p no longer counts among the async ops on their way. */
static void async_settled(replica_t *r, pending_t *p)
{
	if (!p->async_size)
		return;
	r->async_ops--;
	r->async_bytes -= p->async_size;
	p->async_size = 0;
}

/* Under r->lock: a change of inode that this node answered before its
 * outcome was known failed; its next durability point reports the first
 * such failure. */
static void note_failure(replica_t *r, uint64_t inode, int err)
{
	gpointer key = (gpointer)(uintptr_t)inode;

	if (inode && !g_hash_table_contains(r->unconfirmed, key))
		g_hash_table_insert(r->unconfirmed, key, GINT_TO_POINTER(err));
}

static void finish(replica_t *r, pending_t *p, int result)
{
	async_settled(r, p);
	/* Never sent: it leaves the batch it waited in, and nobody has it. */
	if (!p->sent && g_ptr_array_remove(r->outq, p))
		g_clear_pointer(&p->op, g_variant_unref);
	/* A detached write that changed the file and is not confirmed after
	 * all: the close that follows must not report success. */
	if (p->detached && p->result >= 0 && result < 0)
		note_failure(r, p->inode, -result);
	p->done = true;
	p->result = result;
	wake(r, p);
}

/* Under r->lock: frees the detached records that have their outcome. */
static void sweep_detached(replica_t *r)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, r->pending);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		pending_t *p = v;
		if (p->detached && p->done) {
			g_hash_table_iter_remove(&it);
			pending_free(p);
		}
	}
}

/* Under r->lock: answers every applied write that members holding quorum
 * confirmed. */
static void confirm_pending(replica_t *r)
{
	GHashTableIter it;
	gpointer v;
	uint32_t q = r->qops->threshold(r->qctx);

	if (!r->writable)
		return;
	g_hash_table_iter_init(&it, r->pending);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		pending_t *p = v;
		if (p->done || !p->applied)
			continue;
		if (confirmed(r, p->seq, q))
			finish(r, p, p->result);
	}
}

/* What a write whose confirmation cannot come any more is answered: one
 * never handed to corosync was refused (nobody has it); one that was may
 * be on other members, so its outcome is unknown. */
static int unconfirmed_result(const pending_t *p)
{
	return p->sent ? -EIO : -EACCES;
}

/* Under r->lock: every write still waiting fails. */
static void fail_pending(replica_t *r, const char *why)
{
	GHashTableIter it;
	gpointer v;
	guint n = 0;

	g_hash_table_iter_init(&it, r->pending);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		pending_t *p = v;
		if (!p->done) {
			finish(r, p, unconfirmed_result(p));
			n++;
		}
	}
	if (n)
		log_warn("%u write(s) in flight fail (EIO: outcome unknown, EACCES: never sent): "
			 "%s",
			 n, why);
}

/* Under r->lock: writes whose own message came back only to be dropped,
 * or did not come back although a later message of this node did (corosync
 * delivers a sender's messages in order), will never be applied here; other
 * members may have them. */
static void fail_lost(replica_t *r, bool queued_dropped)
{
	GHashTableIter it;
	gpointer v;
	guint n = 0;

	g_hash_table_iter_init(&it, r->pending);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		pending_t *p = v;
		if (p->done || p->applied || !p->sent || p->delivered != queued_dropped)
			continue;
		uint64_t seq = __atomic_load_n(&p->send_seq, __ATOMIC_ACQUIRE);
		/* Sent after our state message (or being sent now): it may still
		 * come. */
		if (!queued_dropped && (seq == 0 || seq > r->state_seq))
			continue;
		finish(r, p, -EIO);
		n++;
	}
	if (n)
		log_warn("%u write(s) in flight fail with EIO (outcome unknown): the membership "
			 "changed before they were applied",
			 n);
}

/* ---- applying ops ---- */

/* Whether this member acknowledges at once what a message of the sender's
 * asks for (mode, ACK_*). For ACK_QUORUM: walking the members in order
 * from the sender on, those whose votes together with the sender's first
 * reach quorum; every member computes the same walk. The acknowledgment
 * itself is cumulative (send_ack), so one covers every op before it. */
static bool acks_now(replica_t *r, guint8 mode, uint32_t nodeid, uint32_t pid)
{
	if (mode != ACK_QUORUM)
		return mode == ACK_ALL;
	guint n = r->members->len, start = n;
	for (guint i = 0; i < n; i++) {
		member_t *m = r->members->pdata[i];
		if (m->nodeid == nodeid && m->pid == pid)
			start = i;
	}
	if (start == n)
		return true;
	g_mutex_lock(&r->lock);
	uint32_t q = r->qops->threshold(r->qctx);
	uint32_t votes = r->qops->node_votes(r->qctx, nodeid);
	bool mine = false;
	for (guint k = 1; k < n && votes < q && !mine; k++) {
		member_t *m = r->members->pdata[(start + k) % n];
		if (m->foreign)
			continue;
		mine = is_me(r, m->nodeid, m->pid);
		votes += r->qops->node_votes(r->qctx, m->nodeid);
	}
	g_mutex_unlock(&r->lock);
	return mine;
}

/* One op of a batch; ack: whether this member acknowledges the batch at
 * once (acks_now). */
static void apply_op(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *item, bool ack)
{
	guint64 reqid, gen;
	g_autoptr(GVariant) opv = NULL;
	uint64_t key = 0;
	int res;
	gpointer threshold;

	g_variant_get(item, "(ttv)", &reqid, &gen, &opv);
	const char *what = r->tree_ops->describe(r->tree_ctx, opv, &key);
	if (!what) {
		log_warn("node %u sent an operation that cannot be decoded; ignored", nodeid);
		return;
	}
	memset(r->scratch, 0, r->tree_ops->result_size);
	/* An op sent before its sender's tree was replaced may name inodes of
	 * the old tree: every member refuses it alike. */
	if (g_hash_table_lookup_extended(r->replaced, (gpointer)(uintptr_t)member_key(nodeid, pid),
					 NULL, &threshold) &&
	    gen < (uint64_t)(uintptr_t)threshold)
		res = -ESTALE;
	else
		res = r->tree_ops->apply(r->tree_ctx, opv, is_me(r, nodeid, pid), r->scratch, &key);
	if (res == -EIO) {
		/* Not stored here: this member must not confirm it, nor anything
		 * after it. */
		request_leave(r, true, "applying %s from node %u failed in the store", what,
			      nodeid);
		if (is_me(r, nodeid, pid)) {
			g_mutex_lock(&r->lock);
			pending_t *p = g_hash_table_lookup(r->pending, &reqid);
			if (p && !p->done)
				finish(r, p, -EIO);
			g_mutex_unlock(&r->lock);
		}
		return;
	}
	r->applied++;
	if (!is_me(r, nodeid, pid)) {
		if (ack)
			r->ack_owed = true;
		log_debug("applied %s from node %u: %d", what, nodeid, res);
		return;
	}
	g_mutex_lock(&r->lock);
	pending_t *p = g_hash_table_lookup(r->pending, &reqid);
	if (p && !p->done) {
		p->delivered = true;
		p->applied = true;
		p->result = res == -ESTALE ? -EACCES : res;
		memcpy(p->out, r->scratch, r->tree_ops->result_size);
		p->inode = key;
		p->seq = r->applied;
		async_settled(r, p);
		/* Nobody waits for an async op's result: a failed one needs no
		 * confirmation, its file's close reports it. */
		if (p->async && p->result < 0) {
			note_failure(r, p->inode, -p->result);
			finish(r, p, p->result);
		} else {
			wake(r, p);
		}
		member_t *me = find_member(r, r->nodeid, r->pid);
		if (me)
			me->acked = r->applied;
		confirm_pending(r);
	}
	g_mutex_unlock(&r->lock);
}

/* Whether the members of the group hold quorum by their own votes (and
 * the device's). Every member of one membership computes the same answer
 * from the same member list, unlike corosync's quorate flag, which each
 * node learns at a moment of its own. A threshold of 0 means corosync's
 * quorum is not known here: the group is taken as it is, so that this
 * member stays in step with the others. */
static bool group_has_quorum(replica_t *r)
{
	g_mutex_lock(&r->lock);
	uint32_t q = r->qops->threshold(r->qctx);
	bool ok = q == 0 || votes_where(r, any_member, 0) + r->qops->qdevice_votes(r->qctx) >= q;
	g_mutex_unlock(&r->lock);
	return ok;
}

/* A batch ordered in a membership without quorum: corosync orders what a
 * node sent but had not yet got sequenced when its ring broke in the
 * node's next membership, where it may be alone. No member of such a group
 * applies it (so a minority's tree never changes), and none of the others
 * ever sees it: its writes are refused. */
static void refuse_batch(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *ops)
{
	GVariantIter it;
	guint64 reqid;
	guint n = 0;

	g_mutex_lock(&r->lock);
	g_variant_iter_init(&it, ops);
	while (g_variant_iter_next(&it, "(tt@v)", &reqid, NULL, NULL)) {
		n++;
		pending_t *p =
		    is_me(r, nodeid, pid) ? g_hash_table_lookup(r->pending, &reqid) : NULL;
		if (p && !p->done)
			finish(r, p, -EACCES);
	}
	g_mutex_unlock(&r->lock);
	log_notice("%u write(s) of node %u ordered in a membership without quorum: refused "
		   "by every member",
		   n, nodeid);
}

/* Applies the ops of a batch in order; the batch asks for this member's
 * acknowledgment as its mode says. */
static void apply_batch(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *b)
{
	g_autoptr(GVariant) ops = g_variant_get_child_value(b, 3);
	GVariantIter it;
	GVariant *item;
	guint8 mode;

	if (!group_has_quorum(r)) {
		refuse_batch(r, nodeid, pid, ops);
		return;
	}
	g_variant_get_child(b, 2, "y", &mode);
	bool ack = !is_me(r, nodeid, pid) && acks_now(r, mode, nodeid, pid);
	g_variant_iter_init(&it, ops);
	while ((item = g_variant_iter_next_value(&it))) {
		/* A failed store stops this member at once, within a batch too. */
		if (!is_leaving(r))
			apply_op(r, nodeid, pid, item, ack);
		g_variant_unref(item);
	}
}

/* Hands this node's waiting ops to the group as one batch: when there are
 * any, and no batch of its own is on its way (unless force). with_ack
 * (main loop only, where the count and the epoch live): the batch carries
 * this member's acknowledgment of what it applied, which is then no longer
 * owed. Ops that could not be handed over are refused (nobody has them). */
static void send_batch(replica_t *r, bool with_ack, bool force)
{
	GVariantBuilder b;
	g_autoptr(GArray) reqids = g_array_new(FALSE, FALSE, sizeof(guint64));
	guint8 mode = ACK_NONE;
	epoch_t e = {0};
	guint64 applied = 0;
	int rc = -ENOTCONN;

	g_mutex_lock(&r->send_lock);
	g_mutex_lock(&r->lock);
	if (!r->outq->len || (r->inflight && !force)) {
		g_mutex_unlock(&r->lock);
		g_mutex_unlock(&r->send_lock);
		return;
	}
	/* Its place among this node's messages, known before it is handed
	 * over: corosync may deliver it before send returns. */
	uint64_t seq = r->send_seq + 1;
	g_variant_builder_init(&b, G_VARIANT_TYPE("a(ttv)"));
	for (guint i = 0; i < r->outq->len; i++) {
		pending_t *p = r->outq->pdata[i];
		g_variant_builder_add_value(&b, p->op);
		g_clear_pointer(&p->op, g_variant_unref);
		p->sent = true;
		__atomic_store_n(&p->send_seq, seq, __ATOMIC_RELEASE);
		mode = MAX(mode, p->ack);
		g_array_append_val(reqids, p->reqid);
	}
	g_ptr_array_set_size(r->outq, 0);
	if (with_ack && r->state == ST_SYNCED && !r->leaving) {
		e = r->epoch;
		applied = r->applied;
		r->ack_owed = false;
	}
	r->inflight = true;
	g_mutex_unlock(&r->lock);

	g_autoptr(GVariant) env = g_variant_ref_sink(
	    g_variant_new(ENVELOPE_TYPE, MSG_MAGIC, MSG_VERSION, MSG_OPS,
			  g_variant_new("(" EPOCH_T "ty@a(ttv))", e.nodeid, e.pid, e.counter,
					applied, mode, g_variant_builder_end(&b))));
	if (r->group)
		rc = r->gops->send(r->group, g_variant_get_data(env), g_variant_get_size(env));
	if (rc != -ENOTCONN)
		r->send_seq = seq;
	g_mutex_unlock(&r->send_lock);
	if (rc >= 0)
		return;
	if (rc != -ENOTCONN)
		request_leave(r, false, "sending %u op(s) failed: %s", reqids->len,
			      g_strerror(-rc));
	g_mutex_lock(&r->lock);
	r->inflight = false;
	for (guint i = 0; i < reqids->len; i++) {
		pending_t *p = g_hash_table_lookup(r->pending, &g_array_index(reqids, guint64, i));
		if (p && !p->done && !p->delivered) {
			p->sent = false;
			finish(r, p, -EACCES);
		}
	}
	g_mutex_unlock(&r->lock);
}

/* A member that is leaving confirms nothing more: what it applied last may
 * be what failed. Ops of this node waiting for their batch go now and
 * carry the acknowledgment: one message instead of two. */
static void send_ack(replica_t *r)
{
	if (!r->ack_owed || r->state != ST_SYNCED || is_leaving(r))
		return;
	send_batch(r, true, true);
	if (!r->ack_owed)
		return;
	if (send_msg(r, MSG_ACK,
		     g_variant_new(ACK_T, r->epoch.nodeid, r->epoch.pid, r->epoch.counter,
				   (guint64)r->applied)))
		r->ack_owed = false;
}

/* ---- state exchange ---- */

static void send_state(replica_t *r)
{
	uint8_t csum[32];

	r->tree_ops->checksum(r->tree_ctx, csum);
	GVariant *cs = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, csum, 32, 1);
	send_msg_seq(r, MSG_STATE,
		     g_variant_new("(" EPOCH_T "ttt@aytb)", r->epoch.nodeid, r->epoch.pid,
				   r->epoch.counter, r->stamp, r->qstamp,
				   r->tree_ops->version(r->tree_ctx), cs, r->gen, r->want_whole),
		     &r->state_seq);
}

static void start_round(replica_t *r, const epoch_t *e)
{
	r->epoch = *e;
	r->have_epoch = true;
	r->winner = NULL;
	g_byte_array_set_size(r->tree, 0);
	r->tree_next = 0;
	r->tree_mine = r->tree_taken = false;
	for (guint i = 0; i < r->members->len; i++) {
		member_t *m = r->members->pdata[i];
		m->have_state = false;
		m->stale = false;
	}
	send_state(r);
}

static bool better(const member_t *a, const member_t *b)
{
	if (a->qstamp != b->qstamp)
		return a->qstamp > b->qstamp;
	if (a->version != b->version)
		return a->version > b->version;
	return member_key(a->nodeid, a->pid) < member_key(b->nodeid, b->pid);
}

/* Sends one transfer in chunks; final: the last of this sync. */
static bool send_transfer(replica_t *r, guint8 kind, uint64_t since, bool final, GBytes *b)
{
	gsize size = 0;
	const uint8_t *data = g_bytes_get_data(b, &size);
	uint32_t count = (uint32_t)((size + CHUNK_SIZE - 1) / CHUNK_SIZE);

	if (count == 0)
		count = 1;
	for (uint32_t i = 0; i < count; i++) {
		gsize off = (gsize)i * CHUNK_SIZE, n = MIN(CHUNK_SIZE, size - MIN(off, size));
		GVariant *bytes = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, data + off, n, 1);
		if (!send_msg(r, MSG_TREE,
			      g_variant_new("(" EPOCH_T "ytbuu@ay)", r->epoch.nodeid, r->epoch.pid,
					    r->epoch.counter, kind, (guint64)since, final, i, count,
					    bytes)))
			return false;
	}
	return true;
}

/* The winner brings the stale members up to its tree: each group of them
 * at one version gets the changes since that version, which cost what they
 * missed rather than the whole tree. The whole tree goes instead when the
 * tree keeps no record reaching back that far, a member asks for it (its
 * changes did not fit), or a member is not behind the winner. */
static void send_tree(replica_t *r)
{
	uint64_t mine = r->tree_ops->version(r->tree_ctx);
	g_autoptr(GArray) since = g_array_new(FALSE, FALSE, sizeof(uint64_t));
	g_autoptr(GPtrArray) diffs = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);
	bool whole = !r->tree_ops->diff || !r->tree_ops->apply_diff;

	for (guint i = 0; i < r->members->len && !whole; i++) {
		member_t *m = r->members->pdata[i];
		if (m->foreign || !m->stale)
			continue;
		/* At the winner's version and still stale: its tree went
		 * another way, and no changes since then can mend it. */
		whole = m->whole || m->version >= mine;
		bool seen = false;
		for (guint k = 0; k < since->len; k++)
			seen = seen || g_array_index(since, uint64_t, k) == m->version;
		if (!seen)
			g_array_append_val(since, m->version);
	}
	for (guint k = 0; k < since->len && !whole; k++) {
		GBytes *d = r->tree_ops->diff(r->tree_ctx, g_array_index(since, uint64_t, k));
		whole = !d;
		if (d)
			g_ptr_array_add(diffs, d);
	}
	if (whole) {
		g_autoptr(GBytes) dump = r->tree_ops->dump(r->tree_ctx);
		log_info("sending the whole tree (version %llu, %zu bytes) to the members that "
			 "need it",
			 (unsigned long long)mine, g_bytes_get_size(dump));
		send_transfer(r, TRANSFER_WHOLE, 0, true, dump);
		return;
	}
	for (guint k = 0; k < diffs->len; k++) {
		uint64_t v = g_array_index(since, uint64_t, k);
		log_info("sending the changes from version %llu to %llu (%zu bytes) to the "
			 "members at version %llu",
			 (unsigned long long)v, (unsigned long long)mine,
			 g_bytes_get_size(diffs->pdata[k]), (unsigned long long)v);
		if (!send_transfer(r, TRANSFER_DIFF, v, k + 1 == diffs->len, diffs->pdata[k]))
			return;
	}
}

static void log_cluster(replica_t *r, int pri, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* The leader opens a checksum round; every member answers at the same
 * point of the message stream (on_verify_req). */
static void request_verify(replica_t *r)
{
	member_t *l = leader(r);

	if (r->state == ST_SYNCED && l && is_me(r, l->nodeid, l->pid))
		send_msg(r, MSG_VERIFY_REQ,
			 g_variant_new(VREQ_T, r->epoch.nodeid, r->epoch.pid, r->epoch.counter,
				       ++r->verify_round));
}

static void finish_sync(replica_t *r)
{
	member_t *me = find_member(r, r->nodeid, r->pid);
	bool replaced = me && me->stale;

	if (r->sync_source)
		g_source_remove(r->sync_source);
	r->sync_source = 0;
	g_mutex_lock(&r->lock);
	r->state = ST_SYNCED;
	r->applied = 0;
	r->stamp = r->new_stamp;
	r->gen++;
	r->syncs++;
	for (guint i = 0; i < r->members->len; i++) {
		member_t *m = r->members->pdata[i];
		m->acked = 0;
		if (m->stale)
			g_hash_table_insert(r->replaced,
					    (gpointer)(uintptr_t)member_key(m->nodeid, m->pid),
					    (gpointer)(uintptr_t)(m->gen + 1));
	}
	update_writable(r);
	/* Writes applied before the membership changed are in the tree every
	 * member now has, unless ours was replaced; with quorum, they stand. */
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, r->pending);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		pending_t *p = v;
		if (p->done || !p->applied)
			continue;
		/* Applied by the members that came here with this one; with
		 * quorum and this node's tree kept, every member has it now.
		 * Otherwise the majority may or may not have it. */
		if (r->writable && !replaced)
			finish(r, p, p->result);
		else
			finish(r, p, -EIO);
	}
	bool writable = r->writable;
	g_mutex_unlock(&r->lock);

	if (writable && r->qstamp != r->stamp) {
		r->qstamp = r->stamp;
		r->tree_ops->set_quorate_stamp(r->tree_ctx, r->qstamp);
	}
	log_info("sync done: %u member(s), tree version %llu%s, %s", r->members->len,
		 (unsigned long long)r->tree_ops->version(r->tree_ctx),
		 replaced ? " (taken over)" : "", writable ? "writable" : "read-only (no quorum)");

	queued_t *q;
	while ((q = g_queue_pop_head(&r->queued))) {
		apply_batch(r, q->nodeid, q->pid, q->body);
		g_variant_unref(q->body);
		g_free(q);
	}
	send_ack(r);
	request_verify(r);
	GVariant *op = r->tree_ops->synced(r->tree_ctx, writable, r->nodeid);
	if (op) {
		GVariant *item = g_variant_new("(ttv)", (guint64)0, r->gen, op);
		send_msg(r, MSG_OPS,
			 g_variant_new("(" EPOCH_T "ty@a(ttv))", 0, 0, (guint64)0, (guint64)0,
				       (guint8)ACK_QUORUM,
				       g_variant_new_array(G_VARIANT_TYPE("(ttv)"), &item, 1)));
	}
}

static void decide(replica_t *r)
{
	member_t *w = NULL;
	uint64_t maxstamp = 0;
	bool all_same = true;

	if (r->winner)
		return;
	for (guint i = 0; i < r->members->len; i++) {
		member_t *m = r->members->pdata[i];
		if (m->foreign)
			continue;
		if (!m->have_state)
			return;
		if (!w || better(m, w))
			w = m;
		maxstamp = MAX(maxstamp, m->stamp);
	}
	r->new_stamp = maxstamp + 1;
	r->winner = w;
	if (!w)
		return;
	for (guint i = 0; i < r->members->len; i++) {
		member_t *m = r->members->pdata[i];
		if (m->foreign)
			continue;
		m->stale = m->version != w->version || memcmp(m->csum, w->csum, 32) != 0;
		all_same = all_same && !m->stale;
	}
	if (all_same) {
		finish_sync(r);
		return;
	}
	if (is_me(r, w->nodeid, w->pid))
		send_tree(r);
}

static void on_state(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *body)
{
	g_autoptr(GVariant) ev = g_variant_get_child_value(body, 0);
	g_autoptr(GVariant) cs = g_variant_get_child_value(body, 4);
	member_t *m = find_member(r, nodeid, pid);
	gsize n = 0;
	const uint8_t *csum = g_variant_get_fixed_array(cs, &n, 1);

	if (r->state != ST_SYNC || !m || !epoch_is_current(r, ev) || n != 32)
		return;
	g_variant_get_child(body, 1, "t", &m->stamp);
	g_variant_get_child(body, 2, "t", &m->qstamp);
	g_variant_get_child(body, 3, "t", &m->version);
	g_variant_get_child(body, 5, "t", &m->gen);
	g_variant_get_child(body, 6, "b", &m->whole);
	memcpy(m->csum, csum, 32);
	m->have_state = true;
	if (is_me(r, nodeid, pid)) {
		g_mutex_lock(&r->lock);
		fail_lost(r, false);
		g_mutex_unlock(&r->lock);
	}
	decide(r);
}

/* Takes a complete transfer meant for this member; false when it did not
 * (this member then leaves the group). */
static bool take_transfer(replica_t *r, uint32_t nodeid, guint8 kind, uint64_t since)
{
	g_autoptr(GBytes) b = g_byte_array_free_to_bytes(r->tree);
	GError *err = NULL;
	replica_tree_status_t st;

	r->tree = g_byte_array_new();
	if (kind == TRANSFER_WHOLE)
		st = r->tree_ops->replace(r->tree_ctx, b, &err);
	else
		st = r->tree_ops->apply_diff(r->tree_ctx, b, r->winner->csum, &err);
	if (st == REPLICA_TREE_INVALID && kind == TRANSFER_DIFF) {
		/* This tree is not the one the changes were made from: nothing
		 * changed, and the next sync brings the whole tree. The usual
		 * cause is no fault: corosync delivers a node's own message to
		 * it at once, so a node cut off right after sending applied a
		 * change of its own that the others never received (its
		 * writer got EIO). */
		r->want_whole = true;
		request_rejoin(r,
			       "the changes since version %llu sent by node %u do not fit this "
			       "node's tree (%s): it holds a change the group never got (one of "
			       "its own, in flight when it was cut off) or went its own way; "
			       "asking for the whole tree",
			       (unsigned long long)since, nodeid, err ? err->message : "?");
	} else if (st != REPLICA_TREE_OK) {
		/* Invalid or not stored alike: this member's tree differs from
		 * the winner's, so it must not win a sync on its stamp either. */
		request_leave(r, true, "taking over the tree of node %u failed: %s", nodeid,
			      err ? err->message : "?");
	}
	g_clear_error(&err);
	if (st != REPLICA_TREE_OK)
		return false;
	r->tree_taken = true;
	if (kind == TRANSFER_WHOLE) {
		r->want_whole = false;
		log_notice("took over the tree of node %u (version %llu)", nodeid,
			   (unsigned long long)r->tree_ops->version(r->tree_ctx));
	} else {
		log_notice("took the changes since version %llu from node %u (version %llu)",
			   (unsigned long long)since, nodeid,
			   (unsigned long long)r->tree_ops->version(r->tree_ctx));
	}
	return true;
}

static void on_tree(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *body)
{
	g_autoptr(GVariant) ev = g_variant_get_child_value(body, 0);
	g_autoptr(GVariant) bytes = g_variant_get_child_value(body, 6);
	guint8 kind;
	guint64 since;
	gboolean final;
	guint32 index, count;
	gsize n = 0;
	member_t *me = find_member(r, r->nodeid, r->pid);

	if (r->state != ST_SYNC || !r->winner || !epoch_is_current(r, ev) ||
	    r->winner->nodeid != nodeid || r->winner->pid != pid)
		return;
	g_variant_get_child(body, 1, "y", &kind);
	g_variant_get_child(body, 2, "t", &since);
	g_variant_get_child(body, 3, "b", &final);
	g_variant_get_child(body, 4, "u", &index);
	g_variant_get_child(body, 5, "u", &count);
	if (index == 0) {
		/* A transfer starts: a whole tree is for every stale member,
		 * changes for those at the version they start from. */
		r->tree_next = 0;
		g_byte_array_set_size(r->tree, 0);
		r->tree_mine =
		    me && me->stale &&
		    (kind == TRANSFER_WHOLE || (kind == TRANSFER_DIFF && me->version == since));
	}
	if (index != r->tree_next || index >= count || kind > TRANSFER_DIFF) {
		log_warn("tree transfer from node %u out of order (%u of %u)", nodeid, index,
			 count);
		return;
	}
	r->tree_next++;
	if (r->tree_mine) {
		const uint8_t *p = g_variant_get_fixed_array(bytes, &n, 1);
		gsize max = r->tree_ops->max_dump_bytes;
		if (n > CHUNK_SIZE || r->tree->len + n > max ||
		    (gsize)count * CHUNK_SIZE > max + CHUNK_SIZE) {
			log_err("the tree sent by node %u exceeds the file system's limits (%u "
				"chunks, %zu bytes so far); dropped",
				nodeid, count, (size_t)(r->tree->len + n));
			g_byte_array_set_size(r->tree, 0);
			request_leave(r, false, "the tree sent by node %u was too large", nodeid);
			return;
		}
		g_byte_array_append(r->tree, p, (guint)n);
	}
	if (index + 1 < count)
		return;
	if (r->tree_mine && !take_transfer(r, nodeid, kind, since))
		return;
	r->tree_mine = false;
	if (!final)
		return;
	if (me && me->stale && !r->tree_taken) {
		/* No transfer was for this member: it cannot be in step. */
		r->want_whole = true;
		request_leave(r, false,
			      "node %u sent no transfer for this node's version %llu; "
			      "asking for the whole tree",
			      nodeid, (unsigned long long)me->version);
		return;
	}
	finish_sync(r);
}

/* ---- checksums ---- */

static void on_verify_req(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *body)
{
	g_autoptr(GVariant) ev = g_variant_get_child_value(body, 0);
	member_t *l = leader(r);
	guint64 round;

	if (r->state != ST_SYNCED || !epoch_is_current(r, ev) || !l || l->nodeid != nodeid ||
	    l->pid != pid)
		return;
	g_variant_get_child(body, 1, "t", &round);
	/* Every member computes at the same point of the message stream. */
	r->tree_ops->checksum(r->tree_ctx, r->verify_csum);
	r->verify_round = round;
	r->have_verify = true;
	GVariant *cs = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, r->verify_csum, 32, 1);
	send_msg(r, MSG_VERIFY,
		 g_variant_new("(" EPOCH_T "t@ay)", r->epoch.nodeid, r->epoch.pid, r->epoch.counter,
			       round, cs));
}

static void on_verify(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *body)
{
	g_autoptr(GVariant) ev = g_variant_get_child_value(body, 0);
	g_autoptr(GVariant) cs = g_variant_get_child_value(body, 2);
	member_t *l = leader(r);
	guint64 round;
	gsize n = 0;
	const uint8_t *csum = g_variant_get_fixed_array(cs, &n, 1);

	g_variant_get_child(body, 1, "t", &round);
	if (r->state != ST_SYNCED || !epoch_is_current(r, ev) || !r->have_verify ||
	    round != r->verify_round || n != 32 || memcmp(csum, r->verify_csum, 32) == 0)
		return;
	g_autofree char *ours = hex(r->verify_csum, 32);
	g_autofree char *theirs = hex(csum, 32);
	log_err("tree checksum mismatch: node %u has %s, this node %s", nodeid, theirs, ours);
	/* The leader's tree is the reference: a member that differs from it
	 * leaves, forgets that its state was ever current, and rejoins. */
	if (l && l->nodeid == nodeid && l->pid == pid && !is_me(r, nodeid, pid))
		request_leave(r, true, "this node's tree diverged from the leader's");
}

static gboolean verify_timer(gpointer data)
{
	request_verify(data);
	return G_SOURCE_CONTINUE;
}

/* ---- cluster log ---- */

static void on_log(replica_t *r, GVariant *body)
{
	guint32 time, pid;
	guchar pri;
	const char *node, *user, *tag, *msg;

	g_variant_get(body, "(uuy&s&s&s&s)", &time, &pid, &pri, &node, &user, &tag, &msg);
	clusterlog_add(r->clog, &(clusterlog_entry_t){.time = time,
						      .pid = pid,
						      .pri = pri,
						      .node = node,
						      .user = user,
						      .tag = tag,
						      .msg = msg});
}

void replica_log(replica_t *r, const clusterlog_entry_t *e)
{
	send_msg(r, MSG_LOG,
		 g_variant_new(LOG_T, e->time, e->pid, e->pri, e->node ? e->node : "",
			       e->user ? e->user : "", e->tag ? e->tag : "", e->msg ? e->msg : ""));
}

static void log_cluster(replica_t *r, int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g_autofree char *msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	replica_log(r, &(clusterlog_entry_t){.time = (uint32_t)time(NULL),
					     .pid = (uint32_t)getpid(),
					     .pri = (uint8_t)pri,
					     .node = r->nodename,
					     .user = "root@pam",
					     .tag = "pmxcfsd",
					     .msg = msg});
}

/* ---- corosync callbacks ---- */

static void on_sync_start(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *b)
{
	member_t *l = leader(r);
	epoch_t e;

	g_variant_get(b, EPOCH_T, &e.nodeid, &e.pid, &e.counter);
	if (r->state == ST_SYNC && l && l->nodeid == nodeid && l->pid == pid &&
	    e.nodeid == nodeid && e.pid == pid)
		start_round(r, &e);
}

static void take_ack(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *ev, uint64_t n);

static void on_ops(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *b)
{
	bool mine = is_me(r, nodeid, pid);

	if (r->state == ST_SYNCED) {
		g_autoptr(GVariant) ev = g_variant_get_child_value(b, 0);
		guint64 n;
		g_variant_get_child(b, 1, "t", &n);
		take_ack(r, nodeid, pid, ev, n);
		apply_batch(r, nodeid, pid, b);
	} else {
		/* During a sync every member queues the same ops, and applies
		 * them once the trees agree. */
		queued_t *q = g_new(queued_t, 1);
		q->nodeid = nodeid;
		q->pid = pid;
		q->body = g_variant_ref(b);
		g_queue_push_tail(&r->queued, q);
		if (mine) {
			g_autoptr(GVariant) ops = g_variant_get_child_value(b, 3);
			GVariantIter it;
			guint64 reqid;
			g_mutex_lock(&r->lock);
			g_variant_iter_init(&it, ops);
			while (g_variant_iter_next(&it, "(tt@v)", &reqid, NULL, NULL)) {
				pending_t *p = g_hash_table_lookup(r->pending, &reqid);
				if (p)
					p->delivered = true;
			}
			g_mutex_unlock(&r->lock);
		}
	}
	if (!mine)
		return;
	/* Back: what gathered meanwhile goes now, as one batch. */
	g_mutex_lock(&r->lock);
	r->inflight = false;
	g_mutex_unlock(&r->lock);
	send_batch(r, true, false);
}

/* A member applied n ops of the epoch ev (an ack, or a batch's). */
static void take_ack(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *ev, uint64_t n)
{
	member_t *m = find_member(r, nodeid, pid);

	if (r->state != ST_SYNCED || !m || !epoch_is_current(r, ev))
		return;
	g_mutex_lock(&r->lock);
	m->acked = MAX(m->acked, n);
	confirm_pending(r);
	g_mutex_unlock(&r->lock);
}

static void on_ack(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *b)
{
	g_autoptr(GVariant) ev = g_variant_get_child_value(b, 0);
	guint64 n;

	g_variant_get_child(b, 1, "t", &n);
	take_ack(r, nodeid, pid, ev, n);
}

static void on_log_msg(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *b)
{
	on_log(r, b);
}

/* Acknowledged after this dispatch (see dispatch_cb), for what was applied
 * up to here: in total order, everything the asker sent before. */
static void on_ack_req(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *b)
{
	guint8 mode;

	g_variant_get(b, ACK_REQ_T, &mode);
	if (r->state != ST_SYNCED || is_me(r, nodeid, pid))
		return;
	if (acks_now(r, mode, nodeid, pid))
		r->ack_owed = true;
}

typedef void (*msg_handler_fn)(replica_t *r, uint32_t nodeid, uint32_t pid, GVariant *body);

/* Every message this version speaks: its type, its name for the log, the
 * GVariant type of its body (checked before the handler sees it). */
static const struct {
	uint32_t type;
	const char *name;
	const char *body_type;
	msg_handler_fn handler;
} messages[] = {
    {MSG_SYNC_START, "sync-start", EPOCH_T, on_sync_start},
    {MSG_STATE, "state", STATE_T, on_state},
    {MSG_TREE, "tree", TREE_T, on_tree},
    {MSG_OPS, "ops", OPS_T, on_ops},
    {MSG_ACK, "ack", ACK_T, on_ack},
    {MSG_VERIFY_REQ, "verify-request", VREQ_T, on_verify_req},
    {MSG_VERIFY, "verify", VERIFY_T, on_verify},
    {MSG_LOG, "log", LOG_T, on_log_msg},
    {MSG_ACK_REQ, "ack-request", ACK_REQ_T, on_ack_req},
};

/* A member whose messages are not of this version takes no part in syncs
 * or votes: the others carry on without it. Every member sees the same
 * message at the same point, so all of them exclude it alike. */
static void mark_foreign(replica_t *r, uint32_t nodeid, uint32_t pid, uint32_t version)
{
	member_t *m = find_member(r, nodeid, pid);

	if (!m || m->foreign)
		return;
	member_t *old_leader = leader(r);
	log_err("node %u (pid %u) speaks message version %u, this node %u: it is kept out of "
		"the file system group's syncs; install the same pmxcfsd version on every node",
		nodeid, pid, version, MSG_VERSION);
	g_mutex_lock(&r->lock);
	m->foreign = true;
	update_writable(r);
	g_mutex_unlock(&r->lock);
	if (r->state != ST_SYNC)
		return;
	member_t *l = leader(r);
	if (old_leader == m && l && is_me(r, l->nodeid, l->pid)) {
		epoch_t e = {.nodeid = r->nodeid, .pid = r->pid, .counter = ++r->counter};
		send_msg(r, MSG_SYNC_START, epoch_variant(&e));
	} else if (r->have_epoch) {
		decide(r);
	}
}

static void on_deliver(void *ctx, uint32_t nodeid, uint32_t pid, const void *msg, size_t len)
{
	replica_t *r = ctx;
	guint32 magic, version, type;
	GVariant *body;

	if (!r || is_leaving(r))
		return;
	g_autoptr(GBytes) bytes = g_bytes_new(msg, len);
	g_autoptr(GVariant) env = g_variant_ref_sink(
	    g_variant_new_from_bytes(G_VARIANT_TYPE(ENVELOPE_TYPE), bytes, FALSE));
	g_variant_get(env, ENVELOPE_TYPE, &magic, &version, &type, &body);
	g_autoptr(GVariant) b = body;
	if (magic != MSG_MAGIC || version != MSG_VERSION) {
		mark_foreign(r, nodeid, pid, magic == MSG_MAGIC ? version : 0);
		return;
	}
	for (size_t i = 0; i < G_N_ELEMENTS(messages); i++) {
		if (messages[i].type != type)
			continue;
		if (!g_variant_is_of_type(b, G_VARIANT_TYPE(messages[i].body_type))) {
			log_warn("ignoring a malformed %s message from node %u", messages[i].name,
				 nodeid);
			return;
		}
		messages[i].handler(r, nodeid, pid, b);
		return;
	}
	log_warn("ignoring a message of unknown type %u from node %u", type, nodeid);
}

static gboolean sync_timeout_cb(gpointer data)
{
	replica_t *r = data;

	r->sync_source = 0;
	if (r->state == ST_SYNC)
		request_leave(r, false, "the sync did not finish within %u ms", r->sync_timeout_ms);
	return G_SOURCE_REMOVE;
}

static void on_confchg(void *ctx, const group_member_t *members, size_t nmembers,
		       const group_member_t *left, size_t nleft, const group_member_t *joined,
		       size_t njoined)
{
	replica_t *r = ctx;

	if (is_leaving(r))
		return;
	g_mutex_lock(&r->lock);
	GPtrArray *old = r->members;
	r->members = g_ptr_array_new_with_free_func(g_free);
	bool in = false;
	for (size_t i = 0; i < nmembers; i++) {
		member_t *m = g_new0(member_t, 1);
		m->nodeid = members[i].nodeid;
		m->pid = members[i].pid;
		for (guint k = 0; k < old->len; k++) {
			member_t *o = old->pdata[k];
			if (o->nodeid == m->nodeid && o->pid == m->pid)
				m->foreign = o->foreign;
		}
		in = in || is_me(r, m->nodeid, m->pid);
		g_ptr_array_add(r->members, m);
	}
	g_ptr_array_unref(old);
	g_ptr_array_sort(r->members, member_cmp);
	/* Ops queued during an unfinished sync are dropped by every member
	 * that queued them: the members joining now never got them, and the
	 * new sync starts from the trees as they are. */
	queue_clear(r);
	fail_lost(r, true);
	/* A batch on its way may never come back: what waits for it goes
	 * once the new membership is set up. */
	r->inflight = false;
	for (size_t i = 0; i < nleft; i++)
		g_hash_table_remove(r->replaced,
				    (gpointer)(uintptr_t)member_key(left[i].nodeid, left[i].pid));
	r->state = in ? ST_SYNC : ST_DOWN;
	r->have_epoch = false;
	r->winner = NULL;
	update_writable(r);
	g_mutex_unlock(&r->lock);

	log_info("group membership changed: %zu member(s), %zu joined, %zu left", nmembers, njoined,
		 nleft);
	if (r->sync_source)
		g_source_remove(r->sync_source);
	r->sync_source = 0;
	if (!in)
		return;
	r->sync_source = g_timeout_add(r->sync_timeout_ms, sync_timeout_cb, r);
	member_t *l = leader(r);
	if (l && is_me(r, l->nodeid, l->pid)) {
		epoch_t e = {.nodeid = r->nodeid, .pid = r->pid, .counter = ++r->counter};
		send_msg(r, MSG_SYNC_START, epoch_variant(&e));
		for (size_t i = 0; i < njoined; i++)
			if (!is_me(r, joined[i].nodeid, joined[i].pid))
				log_cluster(r, 6, "node %u joined the file system group",
					    joined[i].nodeid);
		for (size_t i = 0; i < nleft; i++)
			log_cluster(r, 6, "node %u left the file system group", left[i].nodeid);
	}
	send_batch(r, false, false);
}

/* ---- the group ---- */

static void queue_clear(replica_t *r)
{
	queued_t *q;

	while ((q = g_queue_pop_head(&r->queued))) {
		g_variant_unref(q->body);
		g_free(q);
	}
}

/* Out of the group: nothing is applied or confirmed until the next sync. */
static void reset(replica_t *r)
{
	g_mutex_lock(&r->lock);
	r->state = ST_DOWN;
	r->have_epoch = false;
	r->winner = NULL;
	g_ptr_array_set_size(r->members, 0);
	update_writable(r);
	fail_pending(r, "this node left the cluster's file system group");
	r->inflight = false;
	r->leaving = false;
	r->leave_forget = false;
	g_mutex_unlock(&r->lock);
	if (r->sync_source)
		g_source_remove(r->sync_source);
	r->sync_source = 0;
	queue_clear(r);
}

/* Leaves the group and joins it again (fail-stop). */
static void disconnect(replica_t *r)
{
	reset(r);
	if (r->group)
		r->gops->rejoin(r->group);
}

static gboolean changed_idle(gpointer data)
{
	replica_t *r = data;

	r->changed_source = 0;
	r->changed(r->changed_ctx);
	return G_SOURCE_REMOVE;
}

/* One call for any number of changes a dispatch applied. */
static void notify_changed(replica_t *r)
{
	uint64_t v = r->tree_ops->version(r->tree_ctx);

	if (!r->changed || v == r->seen_version)
		return;
	r->seen_version = v;
	if (!r->changed_source)
		r->changed_source = g_idle_add(changed_idle, r);
}

static void on_dispatched(void *ctx)
{
	replica_t *r = ctx;

	send_ack(r);
	notify_changed(r);
}

static void on_lost(void *ctx)
{
	reset(ctx);
}

static void on_joined(void *ctx, uint32_t nodeid, uint32_t pid)
{
	replica_t *r = ctx;

	log_notice("joined the cluster's file system group as node %u", nodeid);
	g_mutex_lock(&r->lock);
	r->nodeid = nodeid;
	r->pid = pid;
	r->state = ST_SYNC; /* until the first membership comes */
	g_mutex_unlock(&r->lock);
}

static const group_callbacks_t group_callbacks = {
    .joined = on_joined,
    .deliver = on_deliver,
    .confchg = on_confchg,
    .dispatched = on_dispatched,
    .lost = on_lost,
};

static void quorum_changed(void *ctx)
{
	replica_changed_quorum(ctx);
}

static uint32_t cs_threshold(void *ctx)
{
	return quorum_threshold(ctx);
}

static bool cs_quorate(void *ctx)
{
	return quorum_quorate(ctx);
}

static uint32_t cs_node_votes(void *ctx, uint32_t nodeid)
{
	return quorum_node_votes(ctx, nodeid);
}

static uint32_t cs_qdevice_votes(void *ctx)
{
	return quorum_qdevice_votes(ctx);
}

static const replica_quorum_ops_t corosync_quorum = {
    .threshold = cs_threshold,
    .quorate = cs_quorate,
    .node_votes = cs_node_votes,
    .qdevice_votes = cs_qdevice_votes,
};

void replica_changed_quorum(replica_t *r)
{
	/* The first call can come from quorum_new() itself. */
	if (!r->qctx)
		return;
	g_mutex_lock(&r->lock);
	bool was = r->writable;
	update_writable(r);
	if (r->writable)
		confirm_pending(r);
	else if (r->state == ST_SYNCED)
		fail_pending(r, "quorum lost");
	bool now = r->writable;
	g_mutex_unlock(&r->lock);
	if (now && !was && r->qstamp != r->stamp) {
		r->qstamp = r->stamp;
		r->tree_ops->set_quorate_stamp(r->tree_ctx, r->qstamp);
	}
	if (now != was)
		log_notice("/etc/pve is now %s", now ? "writable" : "read-only (no quorum)");
}

/* ---- public ---- */

replica_t *replica_new(const replica_config_t *cfg)
{
	replica_t *r = g_new0(replica_t, 1);

	r->tree_ops = cfg->tree;
	r->tree_ctx = cfg->tree_ctx;
	r->scratch = g_malloc0(MAX(r->tree_ops->result_size, 1));
	r->clog = cfg->clog;
	r->nodename = g_strdup(cfg->nodename);
	r->changed = cfg->changed;
	r->changed_ctx = cfg->ctx;
	r->ack_fallback_ms = cfg->ack_fallback_ms ? cfg->ack_fallback_ms : ACK_FALLBACK_MS;
	r->sync_timeout_ms =
	    cfg->sync_timeout_ms ? cfg->sync_timeout_ms : REPLICA_SYNC_TIMEOUT_S * 1000;
	r->seen_version = r->tree_ops->version(r->tree_ctx);
	r->pid = (uint32_t)getpid();
	g_mutex_init(&r->lock);
	g_cond_init(&r->cond);
	r->file_waiters = g_ptr_array_new();
	g_mutex_init(&r->send_lock);
	r->members = g_ptr_array_new_with_free_func(g_free);
	r->tree = g_byte_array_new();
	g_queue_init(&r->queued);
	r->replaced = g_hash_table_new(g_direct_hash, g_direct_equal);
	r->pending = g_hash_table_new(g_int64_hash, g_int64_equal);
	r->outq = g_ptr_array_new();
	r->unconfirmed = g_hash_table_new(g_direct_hash, g_direct_equal);
	r->qstamp = r->tree_ops->quorate_stamp(r->tree_ctx);
	r->stamp = r->qstamp;
	r->state = ST_DOWN;
	if (cfg->quorum) {
		r->qops = cfg->quorum;
		r->qctx = cfg->quorum_ctx;
	} else {
		r->qops = &corosync_quorum;
		r->quorum = quorum_new(quorum_changed, r);
		r->qctx = r->quorum;
	}
	r->gops = cfg->group ? cfg->group : &cpggroup_ops;
	/* May join at once: everything it calls back into is ready. */
	void *g = r->gops->open(REPLICA_GROUP, &group_callbacks, r);
	g_mutex_lock(&r->send_lock);
	r->group = g;
	g_mutex_unlock(&r->send_lock);
	r->verify_source = g_timeout_add_seconds(REPLICA_VERIFY_INTERVAL_S, verify_timer, r);
	return r;
}

void replica_shutdown(replica_t *r)
{
	if (!r || r->stopped)
		return;
	r->stopped = true;
	if (r->leave_source)
		g_source_remove(r->leave_source);
	r->leave_source = 0;
	if (r->sync_source)
		g_source_remove(r->sync_source);
	r->sync_source = 0;
	if (r->verify_source)
		g_source_remove(r->verify_source);
	r->verify_source = 0;
	if (r->changed_source)
		g_source_remove(r->changed_source);
	r->changed_source = 0;
	g_mutex_lock(&r->send_lock);
	void *g = r->group;
	r->group = NULL;
	g_mutex_unlock(&r->send_lock);
	r->gops->close(g);
	quorum_free(r->quorum);
	r->quorum = NULL;
	r->qctx = NULL;
	g_mutex_lock(&r->lock);
	r->state = ST_DOWN;
	r->writable = false;
	r->cs_quorate = false;
	fail_pending(r, "pmxcfsd is stopping");
	g_mutex_unlock(&r->lock);
}

void replica_free(replica_t *r)
{
	if (!r)
		return;
	replica_shutdown(r);
	g_mutex_lock(&r->lock);
	/* Waiters hold their records: wait until every one picked its answer.
	 * Detached ones all have theirs after the shutdown. */
	sweep_detached(r);
	r->cond_waiters++;
	while (g_hash_table_size(r->pending)) {
		g_cond_wait(&r->cond, &r->lock);
		sweep_detached(r);
	}
	r->cond_waiters--;
	g_mutex_unlock(&r->lock);

	queue_clear(r);
	g_hash_table_destroy(r->pending);
	g_ptr_array_free(r->outq, TRUE);
	g_hash_table_destroy(r->unconfirmed);
	g_ptr_array_free(r->file_waiters, TRUE);
	g_hash_table_destroy(r->replaced);
	g_byte_array_free(r->tree, TRUE);
	g_ptr_array_free(r->members, TRUE);
	g_mutex_clear(&r->send_lock);
	g_cond_clear(&r->cond);
	g_mutex_clear(&r->lock);
	g_free(r->leave_why);
	g_free(r->scratch);
	g_free(r->nodename);
	g_free(r);
}

/* Without corosync's quorum nothing can be confirmed; during a state
 * exchange writes wait (they are queued by every member), after it the
 * group itself must hold quorum. Called with r->lock held. */
static bool may_write_locked(const replica_t *r)
{
	return r->state != ST_DOWN && !r->leaving && r->cs_quorate &&
	       (r->state != ST_SYNCED || r->writable);
}

bool replica_may_write(replica_t *r)
{
	g_mutex_lock(&r->lock);
	bool ok = may_write_locked(r);
	g_mutex_unlock(&r->lock);
	return ok;
}

/* Under r->lock, which it drops while sending: asks the members (mode) to
 * acknowledge what they applied. */
static void ask_acks(replica_t *r, guint8 mode)
{
	g_mutex_unlock(&r->lock);
	send_msg(r, MSG_ACK_REQ, g_variant_new(ACK_REQ_T, mode));
	g_mutex_lock(&r->lock);
}

/* Under r->lock: waits for news until end. Once ACK_FALLBACK_MS after
 * start it asks every member for acknowledgments (some of those asked
 * first may be slow). False when end has passed. */
static bool wait_confirmation(replica_t *r, GCond *cond, gint64 start, gint64 end, bool *asked_all)
{
	gint64 ask_at = start + (gint64)r->ack_fallback_ms * (G_USEC_PER_SEC / 1000);

	if (!*asked_all && g_get_monotonic_time() >= ask_at) {
		*asked_all = true;
		ask_acks(r, ACK_ALL);
		return true;
	}
	if (g_cond_wait_until(cond, &r->lock, *asked_all ? end : MIN(end, ask_at)))
		return true;
	return g_get_monotonic_time() < end;
}

static int submit(replica_t *r, const void *op, void *result, unsigned flags)
{
	pending_t *p = g_malloc0(sizeof(*p) + r->tree_ops->result_size);
	g_cond_init(&p->cond);
	bool ordered = flags & REPLICA_ORDERED;
	bool async = flags & REPLICA_ASYNC;
	int res;
	guint8 ack = flags & REPLICA_ACK_LATER ? ACK_NONE : ACK_QUORUM;

	g_mutex_lock(&r->lock);
	if (!may_write_locked(r)) {
		g_mutex_unlock(&r->lock);
		pending_free(p);
		return -EACCES;
	}
	sweep_detached(r);
	p->reqid = ++r->next_reqid;
	p->ack = ack;
	p->ack_wanted = ack != ACK_NONE;
	g_hash_table_insert(r->pending, &p->reqid, p);
	/* The tree's encoding is pure: no lock of the tree's is taken. */
	g_autoptr(GVariant) opv =
	    g_variant_ref_sink(r->tree_ops->encode(r->tree_ctx, op, r->nodeid));
	p->op = g_variant_ref_sink(g_variant_new("(ttv)", p->reqid, r->gen, opv));
	if (async) {
		gsize size = g_variant_get_size(p->op);
		if (r->async_ops >= REPLICA_ASYNC_MAX_OPS ||
		    r->async_bytes + size > REPLICA_ASYNC_MAX_BYTES) {
			async = false;
			ordered = true;
		} else {
			/* Its barrier must find it before it is applied. */
			r->tree_ops->describe(r->tree_ctx, opv, &p->inode);
			p->async = p->detached = true;
			p->async_size = MAX(size, 1);
			r->async_ops++;
			r->async_bytes += p->async_size;
		}
	}
	g_ptr_array_add(r->outq, p);
	g_mutex_unlock(&r->lock);
	send_batch(r, false, false);
	if (async)
		return 0;

	gint64 start = g_get_monotonic_time();
	gint64 end = start + REPLICA_WRITE_TIMEOUT_S * G_USEC_PER_SEC;
	bool asked_all = ordered; /* an ordered op waits for no acknowledgment */
	g_mutex_lock(&r->lock);
	while (!p->done && !(ordered && p->applied))
		if (!wait_confirmation(r, &p->cond, start, end, &asked_all) && !p->done &&
		    !(ordered && p->applied)) {
			log_err("a %s was not confirmed by a quorum of members within %d s; "
				"failing it with %s",
				r->tree_ops->describe(r->tree_ctx, opv, NULL),
				REPLICA_WRITE_TIMEOUT_S,
				p->sent ? "EIO (outcome unknown)" : "EACCES (never sent)");
			finish(r, p, unconfirmed_result(p));
		}
	res = p->result;
	if (res >= 0 && result)
		memcpy(result, p->out, r->tree_ops->result_size);
	if (p->done) {
		g_hash_table_remove(r->pending, &p->reqid);
		pending_free(p);
	} else {
		p->detached = true;
	}
	/* replica_free waits for the table to empty. */
	if (r->cond_waiters)
		g_cond_broadcast(&r->cond);
	g_mutex_unlock(&r->lock);
	return res;
}

int replica_submit(replica_t *r, const void *op, unsigned flags, void *result)
{
	return submit(r, op, result, flags);
}

/* Under r->lock: whether an ordered write to inode still waits for its
 * confirmation; *last: the latest place among the ops applied here of
 * those that do. fail: they fail with EIO. */
static bool unconfirmed_on(replica_t *r, uint64_t inode, bool fail, uint64_t *last)
{
	GHashTableIter it;
	gpointer v;
	bool any = false;

	g_hash_table_iter_init(&it, r->pending);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		pending_t *p = v;
		if (!p->detached || p->done || p->inode != inode)
			continue;
		any = true;
		if (last)
			*last = MAX(*last, p->seq);
		if (fail)
			finish(r, p, -EIO);
	}
	return any;
}

/* Under r->lock: whether an op of this node that asked for acknowledgments
 * is still unconfirmed at or after place seq (or not applied yet, so after
 * it): its acknowledgment will cover seq. */
static bool ack_coming(replica_t *r, uint64_t seq)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, r->pending);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		pending_t *p = v;
		if (!p->done && p->ack_wanted && (!p->applied || p->seq >= seq))
			return true;
	}
	return false;
}

/* Under r->lock: whether an async op of this node that changes inode is
 * not applied here yet. */
static bool unsettled_on(replica_t *r, uint64_t inode)
{
	GHashTableIter it;
	gpointer v;

	if (!r->async_ops)
		return false;
	g_hash_table_iter_init(&it, r->pending);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		pending_t *p = v;
		if (p->async_size && p->inode == inode)
			return true;
	}
	return false;
}

bool replica_settle(replica_t *r, uint64_t inode)
{
	gint64 end = g_get_monotonic_time() + REPLICA_WRITE_TIMEOUT_S * G_USEC_PER_SEC;

	g_mutex_lock(&r->lock);
	if (!unsettled_on(r, inode)) {
		g_mutex_unlock(&r->lock);
		return false;
	}
	file_waiter_t *w = file_wait_begin(r, inode, true);
	/* An op that never comes back is failed by the membership change or
	 * the barrier that gives up on it; the deadline is a backstop. */
	while (unsettled_on(r, inode))
		if (!g_cond_wait_until(&w->cond, &r->lock, end)) {
			log_warn("inode %" G_GUINT64_FORMAT ": this node's writes were not applied "
				 "here within %d s; reading it without them",
				 (guint64)inode, REPLICA_WRITE_TIMEOUT_S);
			break;
		}
	file_wait_end(r, w);
	g_mutex_unlock(&r->lock);
	return true;
}

int replica_barrier(replica_t *r, uint64_t inode)
{
	gint64 start = g_get_monotonic_time();
	gint64 end = start + REPLICA_WRITE_TIMEOUT_S * G_USEC_PER_SEC;
	bool asked_all = false;
	uint64_t last = 0;

	g_mutex_lock(&r->lock);
	/* A file created and closed without a write: nothing asked for the
	 * acknowledgment its close needs yet. */
	if (unconfirmed_on(r, inode, false, &last) && !ack_coming(r, last))
		ask_acks(r, ACK_QUORUM);
	file_waiter_t *w = file_wait_begin(r, inode, false);
	while (unconfirmed_on(r, inode, false, NULL))
		if (!wait_confirmation(r, &w->cond, start, end, &asked_all) &&
		    unconfirmed_on(r, inode, true, NULL))
			log_err("inode %" G_GUINT64_FORMAT
				": writes were not confirmed by a quorum "
				"of members within %d s; the close fails with EIO (outcome "
				"unknown)",
				(guint64)inode, REPLICA_WRITE_TIMEOUT_S);
	file_wait_end(r, w);
	sweep_detached(r);
	gpointer key = (gpointer)(uintptr_t)inode;
	int err = GPOINTER_TO_INT(g_hash_table_lookup(r->unconfirmed, key));
	g_hash_table_remove(r->unconfirmed, key);
	g_mutex_unlock(&r->lock);
	return -err;
}

void replica_status(replica_t *r, replica_status_t *st)
{
	g_mutex_lock(&r->lock);
	*st = (replica_status_t){
	    .connected = r->state != ST_DOWN,
	    .synced = r->state == ST_SYNCED,
	    .quorate = r->cs_quorate,
	    .writable = r->writable,
	    .nodeid = r->nodeid,
	    .members = r->members->len,
	    .syncs = r->syncs,
	    .waiting = r->outq->len,
	};
	g_mutex_unlock(&r->lock);
}

bool replica_node_online(replica_t *r, uint32_t nodeid)
{
	bool on = false;

	g_mutex_lock(&r->lock);
	for (guint i = 0; i < r->members->len && !on; i++)
		on = ((member_t *)r->members->pdata[i])->nodeid == nodeid;
	g_mutex_unlock(&r->lock);
	return on;
}
