/* Unit tests for writeseq: what reaches the cluster, in what order and
 * how answered, for the FUSE request sequences of open files; handles;
 * files held open after they left the tree. The cluster is a sink that
 * records every change and applies it to one tree. */
#include "log.h"
#include "writeseq.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include "unit_util.h"

#define MAX_OPS 16

typedef struct {
	fsop_kind_t kind;
	writeseq_wait_t wait;
	uint64_t offset, size;
	size_t len;
} seen_t;

typedef struct {
	char *dir;
	memdb_t *m;
	writeseq_t *ws;
	seen_t ops[MAX_OPS];
	int nops;
	int barriers;
	int fail_next;	    /* the next submit answers this (not applied) */
	int barrier_result; /* what barriers answer */
	char *remove_first; /* removed by "another node" just before the next op */
	int settles;	    /* settle calls that found a change on its way */
	uint64_t unsettled; /* the inode of the last change answered once sent */
} fx_t;

/* Applies op as the sender's node applies its own ops; one answered once
 * sent stays "on its way" for settle until a barrier or settle of its
 * inode. */
static int sink_submit(void *ctx, const fsop_t *op, memdb_attr_t *attr, writeseq_wait_t wait)
{
	fx_t *fx = ctx;

	g_assert_cmpint(fx->nops, <, MAX_OPS);
	if (wait == WRITESEQ_SENT)
		fx->unsettled = op->inode;
	fx->ops[fx->nops++] = (seen_t){
	    .kind = op->kind, .wait = wait, .offset = op->offset, .size = op->size, .len = op->len};
	if (fx->fail_next) {
		int res = fx->fail_next;
		fx->fail_next = 0;
		return res;
	}
	if (fx->remove_first) {
		memdb_attr_t root;
		g_assert_cmpint(memdb_lookup_path(fx->m, "", &root), ==, 0);
		fsop_t un = {.kind = FSOP_UNLINK, .parent = root.inode, .name = fx->remove_first};
		g_assert_cmpint(fsop_apply(fx->m, &un, NULL), ==, 0);
		g_clear_pointer(&fx->remove_first, g_free);
	}
	int res = fsop_apply_own(fx->m, op, attr);
	return wait == WRITESEQ_SENT ? MIN(res, 0) : res;
}

static int sink_barrier(void *ctx, uint64_t inode)
{
	fx_t *fx = ctx;

	fx->barriers++;
	if (fx->unsettled == inode)
		fx->unsettled = 0;
	return fx->barrier_result;
}

static bool sink_settle(void *ctx, uint64_t inode)
{
	fx_t *fx = ctx;

	if (!inode || fx->unsettled != inode)
		return false;
	fx->unsettled = 0;
	fx->settles++;
	return true;
}

static const writeseq_sink_t sink = {
    .submit = sink_submit, .barrier = sink_barrier, .settle = sink_settle};

static void setup(fx_t *fx, bool cluster)
{
	GError *err = NULL;

	memset(fx, 0, sizeof(*fx));
	fx->dir = g_dir_make_tmp("test-writeseq-XXXXXX", NULL);
	g_assert(fx->dir);
	g_autofree char *db = g_build_filename(fx->dir, "config.db", NULL);
	fx->m = memdb_open(db, &err);
	g_assert_no_error(err);
	fx->ws = writeseq_new(&(writeseq_config_t){
	    .mdb = fx->m, .nodeid = 1, .sink = cluster ? &sink : NULL, .sink_ctx = fx});
}

static void fx_cluster(fx_t *fx, gconstpointer data)
{
	setup(fx, true);
}

static void fx_local(fx_t *fx, gconstpointer data)
{
	setup(fx, false);
}

static void fx_teardown(fx_t *fx, gconstpointer data)
{
	writeseq_free(fx->ws);
	memdb_free(fx->m);
	unit_rm_tree(fx->dir);
	g_free(fx->dir);
	g_free(fx->remove_first);
}

/* A file with content, made without the sink; returns its inode. */
static uint64_t put(fx_t *fx, const char *name, const char *content)
{
	memdb_attr_t root, a;

	g_assert_cmpint(memdb_lookup_path(fx->m, "", &root), ==, 0);
	fsop_t c = {.kind = FSOP_CREATE, .parent = root.inode, .name = name};
	g_assert_cmpint(fsop_apply(fx->m, &c, &a), ==, 0);
	fsop_t w = {
	    .kind = FSOP_SET_DATA, .inode = a.inode, .data = content, .len = strlen(content)};
	g_assert_cmpint(fsop_apply(fx->m, &w, NULL), >=, 0);
	return a.inode;
}

static char *read_all(fx_t *fx, uint64_t ino)
{
	memdb_attr_t a;
	g_assert_cmpint(memdb_getattr(fx->m, ino, &a), ==, 0);
	char *buf = g_malloc0(a.size + 1);
	g_assert_cmpint(memdb_read(fx->m, ino, 0, a.size, buf), ==, (ssize_t)a.size);
	return buf;
}

/* O_TRUNC open, write at 0, close: one change (the new content), in the
 * file, then the close's barrier. Until the write the file reads empty
 * here, and the tree still has the old content. */
static void test_rewrite_is_one_change(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "old content");

	uint64_t fh = writeseq_open(fx->ws, ino, true, false);
	g_assert_true(writeseq_truncation_pending(fx->ws, ino));
	g_autofree char *still = read_all(fx, ino);
	g_assert_cmpstr(still, ==, "old content");
	g_assert_cmpint(writeseq_write(fx->ws, ino, "new", 3, 0), ==, 3);
	g_assert_false(writeseq_truncation_pending(fx->ws, ino));
	g_assert_cmpint(writeseq_flush(fx->ws, ino), ==, 0);
	writeseq_release(fx->ws, ino, fh);

	g_assert_cmpint(fx->nops, ==, 1);
	g_assert_cmpint(fx->ops[0].kind, ==, FSOP_SET_DATA);
	g_assert_cmpint(fx->ops[0].wait, ==, WRITESEQ_SENT);
	g_assert_cmpint(fx->barriers, ==, 1);
	g_autofree char *now = read_all(fx, ino);
	g_assert_cmpstr(now, ==, "new");
}

/* A first write elsewhere than at 0: the truncation goes first. */
static void test_write_elsewhere_truncates_first(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "old content");

	uint64_t fh = writeseq_open(fx->ws, ino, true, false);
	g_assert_cmpint(writeseq_write(fx->ws, ino, "x", 1, 4), ==, 1);
	writeseq_release(fx->ws, ino, fh);
	g_assert_cmpint(fx->nops, ==, 2);
	g_assert_cmpint(fx->ops[0].kind, ==, FSOP_TRUNCATE);
	g_assert_cmpint(fx->ops[1].kind, ==, FSOP_WRITE);
	g_assert_cmpuint(fx->ops[1].offset, ==, 4);
	memdb_attr_t a;
	g_assert_cmpint(memdb_getattr(fx->m, ino, &a), ==, 0);
	g_assert_cmpuint(a.size, ==, 5);
}

/* O_TRUNC and close without a write (a shell's "> file"): the close sends
 * the truncation and confirms it. */
static void test_close_sends_truncation(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "old");

	uint64_t fh = writeseq_open(fx->ws, ino, true, false);
	g_assert_cmpint(writeseq_flush(fx->ws, ino), ==, 0);
	g_assert_cmpint(fx->nops, ==, 1);
	g_assert_cmpint(fx->ops[0].kind, ==, FSOP_TRUNCATE);
	g_assert_cmpint(fx->barriers, ==, 1);
	/* Release after a successful flush sends nothing more. */
	writeseq_release(fx->ws, ino, fh);
	g_assert_cmpint(fx->nops, ==, 1);
	memdb_attr_t a;
	g_assert_cmpint(memdb_getattr(fx->m, ino, &a), ==, 0);
	g_assert_cmpuint(a.size, ==, 0);
}

/* A truncation refused at the close is tried once more at the release; a
 * failed confirmation is what close returns. */
static void test_close_errors(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "old");

	uint64_t fh = writeseq_open(fx->ws, ino, true, false);
	fx->fail_next = -EACCES;
	g_assert_cmpint(writeseq_flush(fx->ws, ino), ==, -EACCES);
	g_assert_true(writeseq_truncation_pending(fx->ws, ino));
	writeseq_release(fx->ws, ino, fh);
	g_assert_cmpint(fx->nops, ==, 2);
	g_assert_false(writeseq_truncation_pending(fx->ws, ino));

	fx->barrier_result = -EIO;
	g_assert_cmpint(writeseq_write(fx->ws, ino, "y", 1, 0), ==, 1);
	g_assert_cmpint(writeseq_flush(fx->ws, ino), ==, -EIO);
}

/* An open that was not answered after all leaves nothing deferred. */
static void test_open_failed(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "old");

	uint64_t fh = writeseq_open(fx->ws, ino, true, true);
	g_assert_true(writeseq_handle_writer(fh));
	writeseq_open_failed(fx->ws, ino, fh);
	g_assert_false(writeseq_truncation_pending(fx->ws, ino));
	g_assert_cmpint(fx->nops, ==, 0);
}

/* A write in an open file is answered once sent, other changes in it
 * once ordered, namespace changes once confirmed. Before this node reads
 * or stats the file, its writes on their way are settled. */
static void test_kinds_of_answer(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "abc");
	memdb_attr_t root;

	g_assert_cmpint(memdb_lookup_path(fx->m, "", &root), ==, 0);
	g_assert_cmpint(writeseq_write(fx->ws, ino, "z", 1, 1), ==, 1);
	g_assert_true(writeseq_settle(fx->ws, ino));
	g_assert_false(writeseq_settle(fx->ws, ino));
	g_assert_cmpint(writeseq_change(fx->ws,
					(fsop_t){.kind = FSOP_TRUNCATE, .inode = ino, .size = 2},
					NULL, true),
			==, 0);
	g_assert_cmpint(
	    writeseq_change(fx->ws, (fsop_t){.kind = FSOP_MKDIR, .parent = root.inode, .name = "d"},
			    NULL, false),
	    ==, 0);
	g_assert_cmpint(fx->nops, ==, 3);
	g_assert_cmpint(fx->ops[0].wait, ==, WRITESEQ_SENT);
	g_assert_cmpint(fx->ops[1].wait, ==, WRITESEQ_ORDERED);
	g_assert_cmpint(fx->ops[2].wait, ==, WRITESEQ_CONFIRMED);
	g_assert_cmpint(fx->settles, ==, 1);
	g_autofree char *c = read_all(fx, ino);
	g_assert_cmpstr(c, ==, "az");
}

/* A write past the largest file is refused here, without a round: no
 * other node's change can make it fit. */
static void test_too_large_refused_here(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "abc");
	static const char byte = 'x';

	g_assert_cmpint(writeseq_write(fx->ws, ino, &byte, 1, MEMDB_MAX_FILE_SIZE), ==, -EFBIG);
	g_assert_cmpint(fx->nops, ==, 0);
	g_assert_false(writeseq_settle(fx->ws, ino));
}

/* Without room in the tree for it, a write waits for its ordered answer:
 * the ENOSPC comes from write(), not only from the close. */
static void test_no_space_waits_for_order(fx_t *fx, gconstpointer data)
{
	GError *err = NULL;
	memdb_limits_t lim = MEMDB_LIMITS_DEFAULT;

	writeseq_free(fx->ws);
	memdb_free(fx->m);
	g_autofree char *db = g_build_filename(fx->dir, "small.db", NULL);
	lim.max_fs_size = 64;
	fx->m = memdb_open_with(db, &lim, &err);
	g_assert_no_error(err);
	fx->ws = writeseq_new(
	    &(writeseq_config_t){.mdb = fx->m, .nodeid = 1, .sink = &sink, .sink_ctx = fx});
	uint64_t ino = put(fx, "f", "abc");
	char big[100] = {0};

	g_assert_cmpint(writeseq_write(fx->ws, ino, big, sizeof(big), 0), ==, -ENOSPC);
	g_assert_cmpint(fx->nops, ==, 1);
	g_assert_cmpint(fx->ops[0].wait, ==, WRITESEQ_ORDERED);
	g_assert_cmpint(writeseq_write(fx->ws, ino, big, 8, 0), ==, 8);
	g_assert_cmpint(fx->ops[1].wait, ==, WRITESEQ_SENT);
}

/* A handle opened before the tree was replaced is stale after it. */
static void test_handle_stale_after_replace(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "x");
	GError *err = NULL;

	uint64_t fh = writeseq_open(fx->ws, ino, false, false);
	g_assert_false(writeseq_handle_stale(fx->ws, fh));
	g_autoptr(GVariant) dump = memdb_dump(fx->m);
	g_assert_true(memdb_replace(fx->m, dump, &err));
	g_assert_no_error(err);
	g_assert_true(writeseq_handle_stale(fx->ws, fh));
	g_assert_false(writeseq_handle_stale(fx->ws, writeseq_open(fx->ws, ino, false, false)));
}

/* A file this node holds open that left the tree: its changes stay here,
 * the cluster sees none of them. */
static void test_orphan_changes_stay_here(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "held");
	memdb_attr_t root;

	g_assert_cmpint(memdb_lookup_path(fx->m, "", &root), ==, 0);
	memdb_hold(fx->m, ino);
	fsop_t un = {.kind = FSOP_UNLINK, .parent = root.inode, .name = "f"};
	g_assert_cmpint(fsop_apply(fx->m, &un, NULL), ==, 0);
	g_assert_cmpint(writeseq_write(fx->ws, ino, "H", 1, 0), ==, 1);
	g_assert_cmpint(fx->nops, ==, 0);
	g_autofree char *c = read_all(fx, ino);
	g_assert_cmpstr(c, ==, "Held");
	memdb_unhold(fx->m, ino);
}

/* Another node renamed over the file while a write to it was on its way:
 * ordered after that, the write reaches the copy held open here. */
static void test_write_racing_remote_remove(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "old");

	memdb_hold(fx->m, ino);
	fx->remove_first = g_strdup("f");
	g_assert_cmpint(writeseq_write(fx->ws, ino, "N", 1, 0), ==, 1);
	g_assert_cmpint(fx->nops, ==, 1);
	g_autofree char *c = read_all(fx, ino);
	g_assert_cmpstr(c, ==, "Nld");
	memdb_unhold(fx->m, ino);
}

/* Outside a cluster nothing is deferred and no barrier is needed. */
static void test_local_mode(fx_t *fx, gconstpointer data)
{
	uint64_t ino = put(fx, "f", "old");

	uint64_t fh = writeseq_open(fx->ws, ino, true, false);
	g_assert_false(writeseq_truncation_pending(fx->ws, ino));
	g_assert_cmpint(writeseq_write(fx->ws, ino, "L", 1, 0), ==, 1);
	g_assert_cmpint(writeseq_flush(fx->ws, ino), ==, 0);
	writeseq_release(fx->ws, ino, fh);
	g_autofree char *c = read_all(fx, ino);
	g_assert_cmpstr(c, ==, "Lld");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	log_init("test_writeseq", false, g_getenv("TEST_VERBOSE") != NULL);
#define ADD(path, setup, fn) g_test_add(path, fx_t, NULL, setup, fn, fx_teardown)
	ADD("/writeseq/rewrite-is-one-change", fx_cluster, test_rewrite_is_one_change);
	ADD("/writeseq/write-elsewhere-truncates-first", fx_cluster,
	    test_write_elsewhere_truncates_first);
	ADD("/writeseq/close-sends-truncation", fx_cluster, test_close_sends_truncation);
	ADD("/writeseq/close-errors", fx_cluster, test_close_errors);
	ADD("/writeseq/open-failed", fx_cluster, test_open_failed);
	ADD("/writeseq/kinds-of-answer", fx_cluster, test_kinds_of_answer);
	ADD("/writeseq/too-large-refused-here", fx_cluster, test_too_large_refused_here);
	ADD("/writeseq/no-space-waits-for-order", fx_cluster, test_no_space_waits_for_order);
	ADD("/writeseq/handle-stale-after-replace", fx_cluster, test_handle_stale_after_replace);
	ADD("/writeseq/orphan-changes-stay-here", fx_cluster, test_orphan_changes_stay_here);
	ADD("/writeseq/write-racing-remote-remove", fx_cluster, test_write_racing_remote_remove);
	ADD("/writeseq/local-mode", fx_local, test_local_mode);
	return g_test_run();
}
