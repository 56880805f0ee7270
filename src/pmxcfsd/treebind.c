#include "treebind.h"

#include <errno.h>
#include <time.h>

/* Persisted: the stamp of the last membership in which this node was in a
 * quorate, synced group. */
#define META_QSTAMP "quorate_stamp"

/* A received tree may not grow past this: the file system's limit on its
 * content plus room for the inodes' own fields. */
#define TREE_MAX_BYTES ((gsize)MEMDB_MAX_FS_SIZE + (gsize)MEMDB_MAX_INODES * (64 + MEMDB_MAX_NAME))

struct treebind {
	memdb_t *mdb;
	char *nodename;
	treebind_applied_fn applied;
	void *ctx;
};

treebind_t *treebind_new(const treebind_config_t *cfg)
{
	treebind_t *tb = g_new0(treebind_t, 1);

	tb->mdb = cfg->mdb;
	tb->nodename = g_strdup(cfg->nodename);
	tb->applied = cfg->applied;
	tb->ctx = cfg->ctx;
	return tb;
}

void treebind_free(treebind_t *tb)
{
	if (!tb)
		return;
	g_free(tb->nodename);
	g_free(tb);
}

static uint64_t tb_version(void *ctx)
{
	treebind_t *tb = ctx;

	return memdb_version(tb->mdb);
}

static void tb_checksum(void *ctx, uint8_t out[32])
{
	treebind_t *tb = ctx;

	memdb_checksum(tb->mdb, out);
}

static GVariant *tb_encode(void *ctx, const void *op, uint32_t writer)
{
	fsop_t o = *(const fsop_t *)op;

	o.writer = writer;
	return fsop_to_variant(&o);
}

static const char *tb_describe(void *ctx, GVariant *opv, uint64_t *key)
{
	fsop_t op;

	if (!fsop_from_variant(opv, &op))
		return NULL;
	if (key)
		*key = op.inode;
	return fsop_name(op.kind);
}

static int tb_apply(void *ctx, GVariant *opv, bool own, void *result, uint64_t *key)
{
	treebind_t *tb = ctx;
	memdb_attr_t *attr = result;
	fsop_t op;

	if (!fsop_from_variant(opv, &op))
		return -EINVAL;
	int res = own ? fsop_apply_own(tb->mdb, &op, attr) : fsop_apply(tb->mdb, &op, attr);
	/* A barrier names the file an op changed, or the one it created. */
	if (!*key)
		*key = attr->inode;
	if (!own && res >= 0 && tb->applied)
		tb->applied(tb->ctx, &op);
	return res;
}

static GBytes *tb_dump(void *ctx)
{
	treebind_t *tb = ctx;
	g_autoptr(GVariant) dump = memdb_dump(tb->mdb);

	return g_variant_get_data_as_bytes(dump);
}

static replica_tree_status_t tb_replace(void *ctx, GBytes *bytes, GError **err)
{
	treebind_t *tb = ctx;
	g_autoptr(GVariant) dump = g_variant_ref_sink(
	    g_variant_new_from_bytes(G_VARIANT_TYPE(MEMDB_DUMP_TYPE), bytes, FALSE));

	/* memdb_replace does not tell a refused dump from a failed store;
	 * the engine ends both alike. */
	if (!memdb_replace(tb->mdb, dump, err))
		return REPLICA_TREE_STORE_FAILED;
	if (tb->applied)
		tb->applied(tb->ctx, NULL);
	return REPLICA_TREE_OK;
}

static GBytes *tb_diff(void *ctx, uint64_t since)
{
	treebind_t *tb = ctx;
	g_autoptr(GVariant) diff = memdb_diff(tb->mdb, since);

	return diff ? g_variant_get_data_as_bytes(diff) : NULL;
}

static replica_tree_status_t tb_apply_diff(void *ctx, GBytes *bytes, const uint8_t expect_csum[32],
					   GError **err)
{
	treebind_t *tb = ctx;
	g_autoptr(GVariant) diff = g_variant_ref_sink(
	    g_variant_new_from_bytes(G_VARIANT_TYPE(MEMDB_DIFF_TYPE), bytes, FALSE));

	if (!memdb_apply_diff(tb->mdb, diff, expect_csum, err))
		/* Only a failed store leaves this tree in doubt; anything else
		 * changed nothing. */
		return err && *err && (*err)->code == EIO ? REPLICA_TREE_STORE_FAILED
							  : REPLICA_TREE_INVALID;
	if (tb->applied)
		tb->applied(tb->ctx, NULL);
	return REPLICA_TREE_OK;
}

static uint64_t tb_quorate_stamp(void *ctx)
{
	treebind_t *tb = ctx;

	return memdb_get_meta(tb->mdb, META_QSTAMP);
}

static void tb_set_quorate_stamp(void *ctx, uint64_t stamp)
{
	treebind_t *tb = ctx;

	memdb_set_meta(tb->mdb, META_QSTAMP, stamp);
}

/* A node new to the cluster gets its directories once it may write; the
 * group creates them so that every member holds the same tree. */
static GVariant *tb_synced(void *ctx, bool writable, uint32_t writer)
{
	treebind_t *tb = ctx;
	memdb_attr_t a;
	g_autofree char *mine = g_strdup_printf("nodes/%s/priv", tb->nodename);

	if (!writable || memdb_lookup_path(tb->mdb, mine, &a) == 0)
		return NULL;
	fsop_t op = {.kind = FSOP_ENSURE_LAYOUT,
		     .name = tb->nodename,
		     .writer = writer,
		     .time = (uint32_t)time(NULL)};
	return fsop_to_variant(&op);
}

const replica_tree_ops_t treebind_ops = {
    .result_size = sizeof(memdb_attr_t),
    .max_dump_bytes = TREE_MAX_BYTES,
    .version = tb_version,
    .checksum = tb_checksum,
    .encode = tb_encode,
    .describe = tb_describe,
    .apply = tb_apply,
    .dump = tb_dump,
    .replace = tb_replace,
    .quorate_stamp = tb_quorate_stamp,
    .set_quorate_stamp = tb_set_quorate_stamp,
    .synced = tb_synced,
    .diff = tb_diff,
    .apply_diff = tb_apply_diff,
};

int treebind_submit(replica_t *r, const fsop_t *op, memdb_attr_t *attr)
{
	return replica_submit(r, op, 0, attr);
}

int treebind_submit_async(replica_t *r, const fsop_t *op)
{
	return replica_submit(r, op, REPLICA_ASYNC, NULL);
}

int treebind_submit_ordered(replica_t *r, const fsop_t *op, memdb_attr_t *attr)
{
	/* An ordered create is followed by its file's writes or close, which
	 * ask for the acknowledgment that covers it too. */
	unsigned flags = REPLICA_ORDERED | (op->kind == FSOP_CREATE ? REPLICA_ACK_LATER : 0);

	return replica_submit(r, op, flags, attr);
}
