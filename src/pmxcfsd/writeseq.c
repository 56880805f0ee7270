#include "writeseq.h"

#include "log.h"

#include <errno.h>
#include <glib.h>
#include <time.h>

/* An O_TRUNC open in a cluster does not send its truncation at once: it
 * goes with the first write, as one change with it (FSOP_SET_DATA), or
 * before any other change of the file, or at the first close if nothing
 * was written. One round instead of two for every rewrite. Until then this
 * node sees the file empty, as the kernel, which dropped its cache at the
 * open, believes too; the other nodes see the old content. Kept while a
 * handle that deferred it is open or a thread uses it. */
typedef struct {
	GMutex lock;   /* held while sending: one sender at a time */
	gint pending;  /* atomic: the truncation is not sent yet */
	uint64_t gen;  /* the tree it was deferred in (see writeseq_handle_stale) */
	guint handles; /* under writeseq.lock: open handles that deferred it */
	guint users;   /* under writeseq.lock: threads using it now */
} trunc_t;

struct writeseq {
	memdb_t *mdb;
	uint32_t nodeid;
	const writeseq_sink_t *sink;
	void *sink_ctx;
	GMutex lock;
	GHashTable *truncs; /* inode -> trunc_t* */
};

/* An open regular file is its handle number alone, nothing allocated: a
 * handle the kernel never releases (the mount aborted under a writer) then
 * costs nothing. The bits: the tree generation it was opened in, whether
 * its open deferred a truncation, whether it holds a writer reference. */
#define FH_DEFERRED 1u
#define FH_WRITER 2u
#define FH_GEN_SHIFT 2

static uint64_t gen_bits(uint64_t gen)
{
	return gen & (UINT64_MAX >> FH_GEN_SHIFT);
}

writeseq_t *writeseq_new(const writeseq_config_t *cfg)
{
	writeseq_t *ws = g_new0(writeseq_t, 1);

	ws->mdb = cfg->mdb;
	ws->nodeid = cfg->nodeid;
	ws->sink = cfg->sink;
	ws->sink_ctx = cfg->sink_ctx;
	g_mutex_init(&ws->lock);
	ws->truncs = g_hash_table_new(g_direct_hash, g_direct_equal);
	return ws;
}

static void trunc_free(gpointer p)
{
	trunc_t *t = p;

	g_mutex_clear(&t->lock);
	g_free(t);
}

void writeseq_free(writeseq_t *ws)
{
	if (!ws)
		return;
	/* Whatever the kernel left open when the mount went away. */
	GHashTableIter it;
	gpointer v;
	g_hash_table_iter_init(&it, ws->truncs);
	while (g_hash_table_iter_next(&it, NULL, &v))
		trunc_free(v);
	g_hash_table_destroy(ws->truncs);
	g_mutex_clear(&ws->lock);
	g_free(ws);
}

/* A change of a file removed from the tree while this node holds it open
 * is this node's alone and changes only here (fsop_apply_orphan); one whose
 * file is removed while the change is on its way reaches that copy when
 * it is applied (fsop_apply_own). */
static int change(writeseq_t *ws, fsop_t op, memdb_attr_t *attr, writeseq_wait_t wait)
{
	op.writer = ws->nodeid;
	op.time = (uint32_t)time(NULL);
	int res = fsop_apply_orphan(ws->mdb, &op);
	if (res != -ENOENT)
		return res;
	if (!ws->sink)
		return fsop_apply(ws->mdb, &op, attr);
	return ws->sink->submit(ws->sink_ctx, &op, attr, wait);
}

int writeseq_change(writeseq_t *ws, fsop_t op, memdb_attr_t *attr, bool in_file)
{
	return change(ws, op, attr, in_file ? WRITESEQ_ORDERED : WRITESEQ_CONFIRMED);
}

/* The data of a write (or set_data) in a cluster goes without waiting for
 * its order when this node's tree says it fits: the ordered apply decides,
 * and what it refuses fails the close. EFBIG depends on nothing another
 * node does and is answered here; with space short (ENOSPC), or a file
 * that is not in the tree, the ordered answer is waited for. */
static int change_data(writeseq_t *ws, fsop_t op)
{
	bool keep = op.kind == FSOP_WRITE;

	if (!ws->sink)
		return change(ws, op, NULL, WRITESEQ_ORDERED);
	int fit = memdb_check_write(ws->mdb, op.inode, keep ? op.offset : 0, op.len, keep);
	if (fit == -EFBIG)
		return fit;
	if (fit < 0)
		return change(ws, op, NULL, WRITESEQ_ORDERED);
	int res = change(ws, op, NULL, WRITESEQ_SENT);
	return res < 0 ? res : (int)op.len;
}

/* The inode's deferred truncation with a use counted, or NULL. defer:
 * for an O_TRUNC open, made if needed, pending, and its handle counted. */
static trunc_t *trunc_get(writeseq_t *ws, uint64_t ino, bool defer)
{
	gpointer key = (gpointer)(uintptr_t)ino;

	g_mutex_lock(&ws->lock);
	trunc_t *t = g_hash_table_lookup(ws->truncs, key);
	if (!t && defer) {
		t = g_new0(trunc_t, 1);
		g_mutex_init(&t->lock);
		g_hash_table_insert(ws->truncs, key, t);
	}
	if (t) {
		t->users++;
		if (defer) {
			t->handles++;
			t->gen = memdb_generation(ws->mdb);
			g_atomic_int_set(&t->pending, 1);
		} else if (t->gen != memdb_generation(ws->mdb)) {
			/* The tree was replaced: the inode number may name
			 * another file now, and the old one is gone. */
			g_atomic_int_set(&t->pending, 0);
		}
	}
	g_mutex_unlock(&ws->lock);
	return t;
}

/* Ends a use; closing: also a deferring handle's. Freed when neither is
 * left. */
static void trunc_put(writeseq_t *ws, uint64_t ino, trunc_t *t, bool closing)
{
	if (!t)
		return;
	g_mutex_lock(&ws->lock);
	t->users--;
	if (closing)
		t->handles--;
	bool gone = !t->users && !t->handles;
	if (gone)
		g_hash_table_remove(ws->truncs, (gpointer)(uintptr_t)ino);
	g_mutex_unlock(&ws->lock);
	if (gone)
		trunc_free(t);
}

bool writeseq_truncation_pending(writeseq_t *ws, uint64_t ino)
{
	if (!ws->sink)
		return false;
	g_mutex_lock(&ws->lock);
	trunc_t *t = g_hash_table_lookup(ws->truncs, (gpointer)(uintptr_t)ino);
	bool pending = t && g_atomic_int_get(&t->pending) && t->gen == memdb_generation(ws->mdb);
	g_mutex_unlock(&ws->lock);
	return pending;
}

/* With t->lock held: sends the truncation if it is still pending. */
static int trunc_send_locked(writeseq_t *ws, uint64_t ino, trunc_t *t)
{
	if (!g_atomic_int_get(&t->pending))
		return 0;
	int res = writeseq_change(ws, (fsop_t){.kind = FSOP_TRUNCATE, .inode = ino}, NULL, true);
	/* Removed or renamed over meanwhile: nothing is left to truncate. */
	if (res == -ENOENT)
		res = 0;
	if (res == 0)
		g_atomic_int_set(&t->pending, 0);
	return res;
}

int writeseq_send_truncation(writeseq_t *ws, uint64_t ino)
{
	trunc_t *t = ws->sink ? trunc_get(ws, ino, false) : NULL;

	if (!t)
		return 0;
	g_mutex_lock(&t->lock);
	int res = trunc_send_locked(ws, ino, t);
	g_mutex_unlock(&t->lock);
	trunc_put(ws, ino, t, false);
	return res;
}

int writeseq_write(writeseq_t *ws, uint64_t ino, const void *buf, size_t size, off_t off)
{
	trunc_t *t = ws->sink ? trunc_get(ws, ino, false) : NULL;
	int res = 0;

	if (t) {
		g_mutex_lock(&t->lock);
		if (off == 0 && g_atomic_int_get(&t->pending)) {
			res = change_data(
			    ws, (fsop_t){
				    .kind = FSOP_SET_DATA, .inode = ino, .data = buf, .len = size});
			if (res >= 0)
				g_atomic_int_set(&t->pending, 0);
			g_mutex_unlock(&t->lock);
			trunc_put(ws, ino, t, false);
			return res;
		}
		res = trunc_send_locked(ws, ino, t);
		g_mutex_unlock(&t->lock);
		trunc_put(ws, ino, t, false);
		if (res < 0)
			return res;
	}
	return change_data(ws, (fsop_t){.kind = FSOP_WRITE,
					.inode = ino,
					.offset = (uint64_t)off,
					.data = buf,
					.len = size});
}

bool writeseq_settle(writeseq_t *ws, uint64_t ino)
{
	return ws->sink && ws->sink->settle(ws->sink_ctx, ino);
}

int writeseq_flush(writeseq_t *ws, uint64_t ino)
{
	int res = writeseq_send_truncation(ws, ino);
	int conf = ws->sink ? ws->sink->barrier(ws->sink_ctx, ino) : 0;

	return res < 0 ? res : conf;
}

uint64_t writeseq_open(writeseq_t *ws, uint64_t ino, bool defer, bool writer)
{
	defer = defer && ws->sink;
	uint64_t fh = gen_bits(memdb_generation(ws->mdb)) << FH_GEN_SHIFT |
		      (defer ? FH_DEFERRED : 0) | (writer ? FH_WRITER : 0);
	if (defer)
		trunc_put(ws, ino, trunc_get(ws, ino, true), false);
	return fh;
}

void writeseq_open_failed(writeseq_t *ws, uint64_t ino, uint64_t fh)
{
	if (fh & FH_DEFERRED)
		trunc_put(ws, ino, trunc_get(ws, ino, false), true);
}

bool writeseq_handle_stale(writeseq_t *ws, uint64_t fh)
{
	return fh >> FH_GEN_SHIFT != gen_bits(memdb_generation(ws->mdb));
}

bool writeseq_handle_writer(uint64_t fh)
{
	return fh & FH_WRITER;
}

void writeseq_release(writeseq_t *ws, uint64_t ino, uint64_t fh)
{
	if (!(fh & FH_DEFERRED))
		return;
	/* Every close flushes first: a truncation still pending could not be
	 * sent then, and is tried once more. */
	if (writeseq_truncation_pending(ws, ino) && writeseq_flush(ws, ino) < 0)
		log_warn("inode %" G_GUINT64_FORMAT ": the truncation of an O_TRUNC open could "
			 "not be sent or confirmed; it may not have happened",
			 (guint64)ino);
	trunc_put(ws, ino, trunc_get(ws, ino, false), true);
}
