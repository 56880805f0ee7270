#include "fsop.h"

#include <errno.h>

/* FSOP_VARIANT_TYPE with the bytes passed as a GVariant. */
#define FSOP_FORMAT "(uttstsbtt@ayuuut)"

static const char *const names[] = {
    [FSOP_CREATE] = "create",	  [FSOP_MKDIR] = "mkdir",     [FSOP_WRITE] = "write",
    [FSOP_TRUNCATE] = "truncate", [FSOP_UNLINK] = "unlink",   [FSOP_RMDIR] = "rmdir",
    [FSOP_RENAME] = "rename",	  [FSOP_SET_MTIME] = "utime", [FSOP_ENSURE_LAYOUT] = "layout",
    [FSOP_SET_DATA] = "set-data",
};

const char *fsop_name(fsop_kind_t kind)
{
	return kind >= FSOP_CREATE && kind <= FSOP_KIND_MAX ? names[kind] : "unknown";
}

int fsop_apply(memdb_t *mdb, const fsop_t *op, memdb_attr_t *attr)
{
	switch (op->kind) {
	case FSOP_CREATE:
		return memdb_create(mdb, op->parent, op->name, op->writer, op->time, attr);
	case FSOP_MKDIR:
		return memdb_mkdir_lock(mdb, op->parent, op->name, op->lock_version, op->writer,
					op->time, attr);
	case FSOP_WRITE:
		return memdb_write(mdb, op->inode, op->offset, op->data, op->len, op->writer,
				   op->time);
	case FSOP_TRUNCATE:
		return memdb_truncate(mdb, op->inode, op->size, op->writer, op->time);
	case FSOP_UNLINK:
		return memdb_unlink(mdb, op->parent, op->name, op->writer, op->time);
	case FSOP_RMDIR:
		return memdb_rmdir(mdb, op->parent, op->name, op->writer, op->time);
	case FSOP_RENAME:
		return memdb_rename(mdb, op->parent, op->name, op->newparent, op->newname,
				    op->noreplace, op->writer, op->time);
	case FSOP_SET_MTIME:
		return memdb_set_mtime_lock(mdb, op->inode, op->mtime, op->lock_version, op->writer,
					    op->time);
	case FSOP_ENSURE_LAYOUT:
		return memdb_ensure_layout(mdb, op->name, op->writer, op->time);
	case FSOP_SET_DATA:
		return memdb_set_data(mdb, op->inode, op->data, op->len, op->writer, op->time);
	}
	return -EINVAL;
}

bool fsop_changes_content(const fsop_t *op)
{
	return op->inode && (op->kind == FSOP_WRITE || op->kind == FSOP_SET_DATA ||
			     op->kind == FSOP_TRUNCATE || op->kind == FSOP_SET_MTIME);
}

int fsop_apply_orphan(memdb_t *mdb, const fsop_t *op)
{
	memdb_attr_t a;

	if (!fsop_changes_content(op) || memdb_getattr(mdb, op->inode, &a) < 0 || !a.orphan)
		return -ENOENT;
	switch (op->kind) {
	case FSOP_WRITE:
		return memdb_orphan_write(mdb, op->inode, op->offset, op->data, op->len, false);
	case FSOP_SET_DATA:
		return memdb_orphan_write(mdb, op->inode, 0, op->data, op->len, true);
	case FSOP_TRUNCATE:
		return MIN(0, memdb_orphan_write(mdb, op->inode, op->size, NULL, 0, true));
	default:
		return 0; /* its times: nobody can see them after the close */
	}
}

int fsop_apply_own(memdb_t *mdb, const fsop_t *op, memdb_attr_t *attr)
{
	int res = fsop_apply(mdb, op, attr);

	/* Another node removed or renamed over the file while the change was
	 * on its way: ordered after that, it reaches the copy this node still
	 * holds open, as a write to an unlinked open file does. */
	if (res == -ENOENT)
		res = fsop_apply_orphan(mdb, op);
	return res;
}

GVariant *fsop_to_variant(const fsop_t *op)
{
	GVariant *data = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, op->data ? op->data : "",
						   op->data ? op->len : 0, 1);

	return g_variant_new(FSOP_FORMAT, (guint32)op->kind, op->inode, op->parent,
			     op->name ? op->name : "", op->newparent,
			     op->newname ? op->newname : "", op->noreplace, op->offset, op->size,
			     data, op->mtime, op->writer, op->time, op->lock_version);
}

bool fsop_from_variant(GVariant *v, fsop_t *op)
{
	guint32 kind;
	gboolean noreplace;
	GVariant *data;
	gsize len = 0;

	if (!g_variant_is_of_type(v, G_VARIANT_TYPE(FSOP_VARIANT_TYPE)))
		return false;
	/* Borrowed pointers must point into v's own buffer: a value built in
	 * memory keeps its children apart and may drop them when serialised
	 * later, so serialise it now. */
	(void)g_variant_get_data(v);
	*op = (fsop_t){0};
	g_variant_get(v, FSOP_FORMAT, &kind, &op->inode, &op->parent, NULL, &op->newparent, NULL,
		      &noreplace, &op->offset, &op->size, &data, &op->mtime, &op->writer, &op->time,
		      &op->lock_version);
	if (kind < FSOP_CREATE || kind > FSOP_KIND_MAX) {
		g_variant_unref(data);
		return false;
	}
	op->kind = (fsop_kind_t)kind;
	op->noreplace = noreplace;
	/* Borrow the strings and bytes from v: it stays alive while op is used. */
	g_variant_get_child(v, 3, "&s", &op->name);
	g_variant_get_child(v, 5, "&s", &op->newname);
	op->data = g_variant_get_fixed_array(data, &len, 1);
	op->len = len;
	/* data is a child of v: the bytes stay valid while v lives. */
	g_variant_unref(data);
	return true;
}
