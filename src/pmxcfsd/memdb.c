#include "memdb.h"

#include "dbstore.h"
#include "log.h"

#include <errno.h>
#include <string.h>

typedef struct entry entry_t;

struct entry {
	uint64_t inode;
	uint64_t parent;
	uint64_t version;
	uint32_t writer;
	uint32_t mtime;
	memdb_type_t type;
	char *name;
	uint32_t size;
	uint8_t *data;	      /* MEMDB_REG */
	GHashTable *children; /* MEMDB_DIR: name -> entry_t* (borrowed from index) */
	bool orphan_in_priv;  /* an orphan: whether it was under priv/ */
	/* This node's clock (memdb_t.clock) when it first saw this version:
	 * how long a lock has been left as it is, measured here. */
	int64_t seen;
};

struct memdb {
	GMutex lock;
	dbstore_t *store;
	GHashTable *index; /* inode -> entry_t*, owns the entries */
	entry_t *root;
	uint64_t version;
	uint64_t bytes;
	uint64_t generation; /* bumped when the whole tree is replaced */
	/* Open handles on this node per regular file (inode -> count), and
	 * the files removed from the tree while held (inode -> entry_t*,
	 * owned): their handles go on reading and writing them, on this node
	 * only, until the last one is closed, as on any POSIX file system. */
	GHashTable *held;
	GHashTable *orphans;
	/* Regular files removed from the tree while not held, newest last
	 * (entry_t*, owned; and inode -> entry_t*): an open that raced the
	 * removal still gets the file the kernel found (memdb_hold). */
	GQueue *recent;
	GHashTable *recent_index;
	memdb_limits_t limits;
	memdb_clock_fn clock;
	/* The inodes removed from the tree (tomb_t*, oldest first), complete
	 * for removals after tomb_base: what memdb_diff lists as removed. */
	GQueue *tombs;
	uint64_t tomb_base;
	guint max_tombs;
};

typedef struct {
	uint64_t inode;
	uint64_t removed; /* the version of the change that removed it */
} tomb_t;

static entry_t *entry_new(uint64_t inode, uint64_t parent, memdb_type_t type, const char *name)
{
	entry_t *e = g_new0(entry_t, 1);

	e->inode = inode;
	e->parent = parent;
	e->type = type;
	e->name = g_strdup(name);
	if (type == MEMDB_DIR)
		e->children = g_hash_table_new(g_str_hash, g_str_equal);
	return e;
}

static void entry_free(gpointer p)
{
	entry_t *e = p;

	if (!e)
		return;
	if (e->children)
		g_hash_table_destroy(e->children);
	g_free(e->data);
	g_free(e->name);
	g_free(e);
}

static entry_t *get(memdb_t *mdb, uint64_t inode)
{
	return g_hash_table_lookup(mdb->index, &inode);
}

static void init_held(memdb_t *mdb)
{
	mdb->held = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
	/* keyed by the entry's own inode field, freed with it */
	mdb->orphans = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, entry_free);
	mdb->recent = g_queue_new();
	mdb->recent_index = g_hash_table_new(g_int64_hash, g_int64_equal);
}

/* Forgets every recently removed file: after the tree was replaced its
 * inode numbers may name other files. */
static void recent_clear(memdb_t *mdb)
{
	g_hash_table_remove_all(mdb->recent_index);
	g_queue_free_full(mdb->recent, entry_free);
	mdb->recent = g_queue_new();
}

/* e, a regular file just removed from the tree and not held, is kept
 * among the recent ones (the oldest goes past MEMDB_RECENT_REMOVED). */
static void recent_add(memdb_t *mdb, entry_t *e)
{
	g_queue_push_tail(mdb->recent, e);
	g_hash_table_insert(mdb->recent_index, &e->inode, e);
	if (g_queue_get_length(mdb->recent) > MEMDB_RECENT_REMOVED) {
		entry_t *old = g_queue_pop_head(mdb->recent);
		g_hash_table_remove(mdb->recent_index, &old->inode);
		entry_free(old);
	}
}

/* A file in the tree, or one removed from it that a handle still holds. */
static entry_t *get_any(memdb_t *mdb, uint64_t inode)
{
	entry_t *e = get(mdb, inode);

	return e ? e : g_hash_table_lookup(mdb->orphans, &inode);
}

static entry_t *parent_of(memdb_t *mdb, const entry_t *e)
{
	return e->inode == MEMDB_ROOT_INODE ? NULL : get(mdb, e->parent);
}

static bool is_named_child_of_root(memdb_t *mdb, const entry_t *e, const char *name)
{
	return e && e->parent == MEMDB_ROOT_INODE && e->inode != MEMDB_ROOT_INODE &&
	       strcmp(e->name, name) == 0;
}

static bool entry_in_priv(memdb_t *mdb, const entry_t *e)
{
	for (; e && e->inode != MEMDB_ROOT_INODE; e = parent_of(mdb, e))
		if (e->type == MEMDB_DIR && strcmp(e->name, "priv") == 0)
			return true;
	return false;
}

/* priv/lock itself, at the root. */
static bool is_lock_parent(memdb_t *mdb, const entry_t *dir)
{
	return dir && dir->type == MEMDB_DIR && strcmp(dir->name, "lock") == 0 &&
	       is_named_child_of_root(mdb, parent_of(mdb, dir), "priv");
}

static bool entry_is_lock(memdb_t *mdb, const entry_t *e)
{
	return e->type == MEMDB_DIR && is_lock_parent(mdb, parent_of(mdb, e));
}

static void fill_attr(memdb_t *mdb, const entry_t *e, memdb_attr_t *attr)
{
	if (!attr)
		return;
	attr->inode = e->inode;
	attr->parent = e->parent;
	attr->version = e->version;
	attr->writer = e->writer;
	attr->mtime = e->mtime;
	attr->size = e->size;
	attr->type = e->type;
	attr->orphan = !get(mdb, e->inode);
	attr->in_priv = attr->orphan ? e->orphan_in_priv : entry_in_priv(mdb, e);
	attr->is_lock = !attr->orphan && entry_is_lock(mdb, e);
}

static void to_row(const entry_t *e, dbstore_row_t *row)
{
	*row = (dbstore_row_t){
	    .inode = e->inode,
	    .parent = e->parent,
	    .version = e->version,
	    .writer = e->writer,
	    .mtime = e->mtime,
	    .type = (uint8_t)e->type,
	    .name = e->name,
	    .data = e->data,
	    .size = e->size,
	};
}

static void index_insert(memdb_t *mdb, entry_t *e)
{
	g_hash_table_replace(mdb->index, &e->inode, e);
}

/* ---- removed inodes, for memdb_diff ---- */

static void tomb_add(memdb_t *mdb, uint64_t inode, uint64_t removed)
{
	tomb_t *t = g_new(tomb_t, 1);

	t->inode = inode;
	t->removed = removed;
	g_queue_push_tail(mdb->tombs, t);
	if (g_queue_get_length(mdb->tombs) > mdb->max_tombs) {
		g_autofree tomb_t *oldest = g_queue_pop_head(mdb->tombs);
		/* Other removals of the same change may still be recorded, but
		 * a diff from below this version would need this one too. */
		mdb->tomb_base = MAX(mdb->tomb_base, oldest->removed);
	}
}

/* The record starts afresh at version: nothing removed before it is known. */
static void tombs_reset(memdb_t *mdb, uint64_t version)
{
	g_queue_clear_full(mdb->tombs, g_free);
	mdb->tomb_base = version;
}

/* ---- guests ---- */

/* VMID.conf with VMID a decimal number without leading zeros. */
static bool parse_vmid(const char *name, uint32_t *vmid)
{
	const char *dot = strchr(name, '.');
	size_t n = dot ? (size_t)(dot - name) : 0;

	if (!dot || strcmp(dot, ".conf") != 0 || n == 0 || n > 9 || name[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] < '0' || name[i] > '9')
			return false;
	*vmid = (uint32_t)strtoul(name, NULL, 10);
	return true;
}

/* nodes/NODE/qemu-server or nodes/NODE/lxc; returns the node entry. */
static entry_t *guest_dir_node(memdb_t *mdb, const entry_t *dir, memdb_guest_type_t *type)
{
	if (!dir || dir->type != MEMDB_DIR)
		return NULL;
	if (strcmp(dir->name, "qemu-server") == 0)
		*type = MEMDB_GUEST_QEMU;
	else if (strcmp(dir->name, "lxc") == 0)
		*type = MEMDB_GUEST_LXC;
	else
		return NULL;
	entry_t *node = parent_of(mdb, dir);
	if (!node || !is_named_child_of_root(mdb, parent_of(mdb, node), "nodes"))
		return NULL;
	return node;
}

static entry_t *nodes_dir(memdb_t *mdb)
{
	entry_t *n = g_hash_table_lookup(mdb->root->children, "nodes");
	return n && n->type == MEMDB_DIR ? n : NULL;
}

/* Another guest config with this VMID anywhere below nodes/, other than the
 * two given (the file being moved, the file it replaces). */
static bool vmid_taken(memdb_t *mdb, uint32_t vmid, const entry_t *skip, const entry_t *skip2)
{
	entry_t *nodes = nodes_dir(mdb);
	char name[32];
	GHashTableIter it;
	gpointer v;

	if (!nodes)
		return false;
	g_snprintf(name, sizeof(name), "%u.conf", vmid);
	g_hash_table_iter_init(&it, nodes->children);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		entry_t *node = v;
		static const char *const kinds[] = {"qemu-server", "lxc"};
		if (node->type != MEMDB_DIR)
			continue;
		for (size_t i = 0; i < G_N_ELEMENTS(kinds); i++) {
			entry_t *d = g_hash_table_lookup(node->children, kinds[i]);
			entry_t *f = d && d->type == MEMDB_DIR
					 ? g_hash_table_lookup(d->children, name)
					 : NULL;
			if (f && f != skip && f != skip2)
				return true;
		}
	}
	return false;
}

/* Creating (or renaming to) dir/name must not duplicate a guest ID. */
static bool guest_conflict(memdb_t *mdb, const entry_t *dir, const char *name,
			   const entry_t *moving, const entry_t *replaced)
{
	memdb_guest_type_t type;
	uint32_t vmid;

	if (!guest_dir_node(mdb, dir, &type) || !parse_vmid(name, &vmid))
		return false;
	return vmid_taken(mdb, vmid, moving, replaced);
}

/* ---- loading ---- */

typedef struct {
	memdb_t *mdb;
	GPtrArray *all;
	int64_t now; /* every loaded version is first seen now */
} load_ctx_t;

static bool load_row(void *ctx, const dbstore_row_t *row, GError **err)
{
	load_ctx_t *lc = ctx;

	if (row->type != MEMDB_DIR && row->type != MEMDB_REG) {
		g_set_error(err, DBSTORE_ERROR, EIO, "inode %llu has unknown type %u",
			    (unsigned long long)row->inode, row->type);
		return false;
	}
	if (row->size > lc->mdb->limits.max_file_size) {
		g_set_error(err, DBSTORE_ERROR, EIO, "inode %llu is larger than %llu bytes",
			    (unsigned long long)row->inode,
			    (unsigned long long)lc->mdb->limits.max_file_size);
		return false;
	}
	entry_t *e = entry_new(row->inode, row->parent, row->type, row->name);
	e->version = row->version;
	e->writer = row->writer;
	e->mtime = row->mtime;
	e->seen = lc->now;
	if (row->type == MEMDB_REG && row->size) {
		e->data = g_memdup2(row->data, row->size);
		e->size = row->size;
	}
	lc->mdb->bytes += e->size;
	g_ptr_array_add(lc->all, e);
	return true;
}

/* Links every loaded entry below its parent; a row whose parent is missing
 * or not a directory means the store is inconsistent. */
static bool link_tree(memdb_t *mdb, GPtrArray *all, GError **err)
{
	for (guint i = 0; i < all->len; i++)
		index_insert(mdb, all->pdata[i]);
	for (guint i = 0; i < all->len; i++) {
		entry_t *e = all->pdata[i];
		if (e->inode == MEMDB_ROOT_INODE)
			continue;
		entry_t *p = get(mdb, e->parent);
		if (!p || p->type != MEMDB_DIR || p == e ||
		    g_hash_table_contains(p->children, e->name)) {
			g_set_error(
			    err, DBSTORE_ERROR, EIO, "inode %llu (%s) has no valid parent %llu",
			    (unsigned long long)e->inode, e->name, (unsigned long long)e->parent);
			return false;
		}
		g_hash_table_insert(p->children, e->name, e);
	}
	return true;
}

/* Counts what hangs below dir, itself included, and how many levels of
 * directories it holds below itself. Walks with a stack of its own: a
 * tree may be as deep as it is large (one found in a database or received
 * in a sync), the thread's stack is not. */
static void measure_tree(const entry_t *dir, guint *count, guint *height)
{
	g_autoptr(GPtrArray) todo = g_ptr_array_new();
	g_autoptr(GArray) level = g_array_new(FALSE, FALSE, sizeof(guint));
	GHashTableIter it;
	gpointer v;
	guint zero = 0;

	*count = 1;
	*height = 0;
	g_ptr_array_add(todo, (gpointer)dir);
	g_array_append_val(level, zero);
	while (todo->len) {
		const entry_t *d = g_ptr_array_steal_index_fast(todo, todo->len - 1);
		guint l = g_array_index(level, guint, level->len - 1);
		g_array_set_size(level, level->len - 1);
		*height = MAX(*height, l);
		g_hash_table_iter_init(&it, d->children);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			const entry_t *e = v;
			(*count)++;
			if (e->type != MEMDB_DIR)
				continue;
			guint next = l + 1;
			g_ptr_array_add(todo, (gpointer)e);
			g_array_append_val(level, next);
		}
	}
}

static guint count_reachable(const entry_t *root)
{
	guint n, h;

	measure_tree(root, &n, &h);
	return n;
}

/* How many directories deep e is (the root is 0). */
static guint depth_of(memdb_t *mdb, const entry_t *e)
{
	guint d = 0;

	for (e = parent_of(mdb, e); e; e = parent_of(mdb, e))
		d++;
	return d;
}

/* How many levels of directories dir holds below itself. */
static guint height_of(const entry_t *dir)
{
	guint n, h;

	measure_tree(dir, &n, &h);
	return h;
}

/* A loaded tree must be one tree: rooted, without cycles or strays, and
 * every inode and version at or below the global version, because new
 * inodes are numbered by the next version. */
static bool check_tree(memdb_t *mdb, const char *dbpath, GError **err)
{
	GHashTableIter it;
	gpointer v;

	if (mdb->root->type != MEMDB_DIR) {
		g_set_error(err, DBSTORE_ERROR, EIO, "%s: root inode is not a directory", dbpath);
		return false;
	}
	g_hash_table_iter_init(&it, mdb->index);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		const entry_t *e = v;
		if (e->inode > mdb->version || e->version > mdb->version) {
			g_set_error(err, DBSTORE_ERROR, EIO,
				    "%s: inode %llu (%s) is newer than the database version %llu",
				    dbpath, (unsigned long long)e->inode, e->name,
				    (unsigned long long)mdb->version);
			return false;
		}
	}
	/* Entries on a cycle are linked to each other but not to the root. */
	if (count_reachable(mdb->root) != g_hash_table_size(mdb->index)) {
		g_set_error(err, DBSTORE_ERROR, EIO,
			    "%s: %u entries are not reachable from the root", dbpath,
			    g_hash_table_size(mdb->index) - count_reachable(mdb->root));
		return false;
	}
	return true;
}

static bool create_root(memdb_t *mdb, GError **err)
{
	dbstore_row_t row;
	entry_t *root = entry_new(MEMDB_ROOT_INODE, 0, MEMDB_DIR, "");

	/* New inodes are numbered by the version that creates them: the root
	 * takes version 1 so that none of them can collide with it. */
	root->mtime = (uint32_t)time(NULL);
	root->version = MEMDB_ROOT_INODE;
	root->seen = mdb->clock();
	to_row(root, &row);
	if (!dbstore_begin(mdb->store, err) || !dbstore_put(mdb->store, &row, err) ||
	    !dbstore_set_version(mdb->store, root->version, err) ||
	    !dbstore_commit(mdb->store, err)) {
		dbstore_rollback(mdb->store);
		entry_free(root);
		return false;
	}
	index_insert(mdb, root);
	mdb->root = root;
	mdb->version = root->version;
	return true;
}

memdb_t *memdb_open(const char *dbpath, GError **err)
{
	return memdb_open_with(dbpath, NULL, err);
}

memdb_t *memdb_open_with(const char *dbpath, const memdb_limits_t *limits, GError **err)
{
	memdb_options_t opts = {.limits = limits ? *limits : (memdb_limits_t)MEMDB_LIMITS_DEFAULT};

	return memdb_open_opts(dbpath, &opts, err);
}

memdb_t *memdb_open_opts(const char *dbpath, const memdb_options_t *opts, GError **err)
{
	memdb_t *mdb = g_new0(memdb_t, 1);
	load_ctx_t lc = {.mdb = mdb, .all = g_ptr_array_new_with_free_func(entry_free)};

	mdb->limits = opts ? opts->limits : (memdb_limits_t)MEMDB_LIMITS_DEFAULT;
	mdb->clock = opts && opts->clock ? opts->clock : g_get_monotonic_time;
	mdb->max_tombs = opts && opts->max_tombs ? opts->max_tombs : MEMDB_MAX_TOMBS;
	mdb->tombs = g_queue_new();
	lc.now = mdb->clock();

	g_mutex_init(&mdb->lock);
	mdb->index = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, entry_free);
	init_held(mdb);
	mdb->store = dbstore_open(dbpath, err);
	if (!mdb->store)
		goto fail;
	if (!dbstore_load(mdb->store, load_row, &lc, &mdb->version, err))
		goto fail;
	/* From here on the index owns the entries. */
	g_ptr_array_set_free_func(lc.all, NULL);
	if (!link_tree(mdb, lc.all, err))
		goto fail;
	mdb->generation = 1;
	mdb->root = get(mdb, MEMDB_ROOT_INODE);
	if (mdb->root && !check_tree(mdb, dbpath, err))
		goto fail;
	if (!mdb->root && !create_root(mdb, err))
		goto fail;
	/* Removals before this start are not known. */
	mdb->tomb_base = mdb->version;
	g_ptr_array_free(lc.all, TRUE);
	return mdb;

fail:
	g_ptr_array_free(lc.all, TRUE);
	memdb_free(mdb);
	return NULL;
}

void memdb_free(memdb_t *mdb)
{
	if (!mdb)
		return;
	if (mdb->index)
		g_hash_table_destroy(mdb->index);
	if (mdb->orphans)
		g_hash_table_destroy(mdb->orphans);
	if (mdb->held)
		g_hash_table_destroy(mdb->held);
	if (mdb->recent_index)
		g_hash_table_destroy(mdb->recent_index);
	if (mdb->recent)
		g_queue_free_full(mdb->recent, entry_free);
	if (mdb->tombs)
		g_queue_free_full(mdb->tombs, g_free);
	dbstore_free(mdb->store);
	g_mutex_clear(&mdb->lock);
	g_free(mdb);
}

void memdb_get_limits(memdb_t *mdb, memdb_limits_t *limits)
{
	*limits = mdb->limits;
}

uint64_t memdb_version(memdb_t *mdb)
{
	g_mutex_lock(&mdb->lock);
	uint64_t v = mdb->version;
	g_mutex_unlock(&mdb->lock);
	return v;
}

/* ---- reads ---- */

int memdb_check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	if (n > MEMDB_MAX_NAME)
		return -ENAMETOOLONG;
	return 0;
}

static int get_dir(memdb_t *mdb, uint64_t inode, entry_t **dir)
{
	*dir = get(mdb, inode);
	if (!*dir)
		return -ENOENT;
	return (*dir)->type == MEMDB_DIR ? 0 : -ENOTDIR;
}

static entry_t *child(entry_t *dir, const char *name)
{
	return g_hash_table_lookup(dir->children, name);
}

int memdb_getattr(memdb_t *mdb, uint64_t inode, memdb_attr_t *attr)
{
	int res = 0;

	g_mutex_lock(&mdb->lock);
	entry_t *e = get_any(mdb, inode);
	if (e)
		fill_attr(mdb, e, attr);
	else
		res = -ENOENT;
	g_mutex_unlock(&mdb->lock);
	return res;
}

int memdb_lookup(memdb_t *mdb, uint64_t parent, const char *name, memdb_attr_t *attr)
{
	entry_t *dir, *e;
	int res;

	if (strlen(name) > MEMDB_MAX_NAME)
		return -ENAMETOOLONG;
	g_mutex_lock(&mdb->lock);
	res = get_dir(mdb, parent, &dir);
	if (res == 0) {
		e = child(dir, name);
		if (e)
			fill_attr(mdb, e, attr);
		else
			res = -ENOENT;
	}
	g_mutex_unlock(&mdb->lock);
	return res;
}

static entry_t *resolve(memdb_t *mdb, const char *path)
{
	entry_t *e = mdb->root;
	g_auto(GStrv) parts = g_strsplit(path, "/", -1);

	for (char **p = parts; e && *p; p++) {
		if (**p == '\0')
			continue;
		if (e->type != MEMDB_DIR)
			return NULL;
		e = child(e, *p);
	}
	return e;
}

int memdb_lookup_path(memdb_t *mdb, const char *path, memdb_attr_t *attr)
{
	g_mutex_lock(&mdb->lock);
	entry_t *e = resolve(mdb, path);
	if (e)
		fill_attr(mdb, e, attr);
	g_mutex_unlock(&mdb->lock);
	return e ? 0 : -ENOENT;
}

ssize_t memdb_read(memdb_t *mdb, uint64_t inode, uint64_t offset, size_t size, void *buf)
{
	ssize_t res;

	g_mutex_lock(&mdb->lock);
	entry_t *e = get_any(mdb, inode);
	if (!e) {
		res = -ENOENT;
	} else if (e->type != MEMDB_REG) {
		res = -EISDIR;
	} else if (offset >= e->size) {
		res = 0;
	} else {
		size_t n = MIN(size, e->size - offset);
		memcpy(buf, e->data + offset, n);
		res = (ssize_t)n;
	}
	g_mutex_unlock(&mdb->lock);
	return res;
}

char *memdb_read_path(memdb_t *mdb, const char *path, size_t *len)
{
	char *out = NULL;

	g_mutex_lock(&mdb->lock);
	entry_t *e = resolve(mdb, path);
	if (e && e->type == MEMDB_REG) {
		out = g_malloc(e->size + 1);
		if (e->size)
			memcpy(out, e->data, e->size);
		out[e->size] = '\0';
		if (len)
			*len = e->size;
	}
	g_mutex_unlock(&mdb->lock);
	return out;
}

static void dirent_free(gpointer p)
{
	memdb_dirent_t *d = p;

	g_free(d->name);
	g_free(d);
}

int memdb_readdir(memdb_t *mdb, uint64_t inode, GPtrArray **entries)
{
	entry_t *dir;
	GHashTableIter it;
	gpointer v;

	g_mutex_lock(&mdb->lock);
	int res = get_dir(mdb, inode, &dir);
	if (res == 0) {
		GPtrArray *a = g_ptr_array_new_full(g_hash_table_size(dir->children), dirent_free);
		g_hash_table_iter_init(&it, dir->children);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			entry_t *e = v;
			memdb_dirent_t *d = g_new(memdb_dirent_t, 1);
			d->name = g_strdup(e->name);
			d->inode = e->inode;
			d->type = e->type;
			g_ptr_array_add(a, d);
		}
		*entries = a;
	}
	g_mutex_unlock(&mdb->lock);
	return res;
}

void memdb_dirents_free(GPtrArray *entries)
{
	if (entries)
		g_ptr_array_free(entries, TRUE);
}

/* ---- mutations ----
 *
 * Each one checks everything first, then writes the changed rows and the new
 * global version in one transaction, and changes memory only once that
 * committed: a failed transaction leaves memory and disk as they were. */

static int store_fail(memdb_t *mdb, GError *err, const char *op)
{
	log_err("memdb: %s failed: %s", op, err ? err->message : "unknown error");
	g_clear_error(&err);
	dbstore_rollback(mdb->store);
	return -EIO;
}

/* Writes rows for the given entries (each with its new state already in the
 * entry copies passed) plus optional deletions, and the new version. */
static int persist(memdb_t *mdb, const char *op, entry_t **puts, size_t nputs, const uint64_t *dels,
		   size_t ndels, uint64_t version)
{
	GError *err = NULL;
	dbstore_row_t row;

	if (!dbstore_begin(mdb->store, &err))
		return store_fail(mdb, err, op);
	for (size_t i = 0; i < nputs; i++) {
		to_row(puts[i], &row);
		if (!dbstore_put(mdb->store, &row, &err))
			return store_fail(mdb, err, op);
	}
	for (size_t i = 0; i < ndels; i++)
		if (!dbstore_delete(mdb->store, dels[i], &err))
			return store_fail(mdb, err, op);
	if (!dbstore_set_version(mdb->store, version, &err) || !dbstore_commit(mdb->store, &err))
		return store_fail(mdb, err, op);
	return 0;
}

/* A shallow copy of an entry's attributes (no data, no children) to stage
 * a new row before commit. */
static entry_t stage(const entry_t *e, uint64_t version, uint32_t writer, uint32_t mtime)
{
	entry_t s = *e;

	s.version = version;
	s.writer = writer;
	s.mtime = mtime;
	return s;
}

static void commit_meta(memdb_t *mdb, entry_t *e, const entry_t *s)
{
	e->version = s->version;
	e->writer = s->writer;
	e->mtime = s->mtime;
	e->seen = mdb->clock();
}

static int check_new(memdb_t *mdb, uint64_t parent, const char *name, entry_t **dir)
{
	int res = memdb_check_name(name);

	if (res == 0)
		res = get_dir(mdb, parent, dir);
	if (res == 0 && g_hash_table_size(mdb->index) >= mdb->limits.max_inodes)
		res = -ENOSPC;
	return res;
}

/* Whether the node that asked found the lock expired, in the version it is
 * in now: the same answer on every member, whatever their clocks say. */
static bool lock_version_current(const entry_t *e, uint64_t lock_version)
{
	return lock_version != 0 && lock_version == e->version;
}

static void log_lock_taken(const char *name, uint32_t holder, uint32_t writer, const char *how)
{
	log_info("lock priv/lock/%s held by node %u expired (unchanged for over %d s on node %u's "
		 "clock): %s by node %u",
		 name, holder, MEMDB_LOCK_TIMEOUT, writer, how, writer);
}

/* mkdir on an expired lock takes it over: the directory stays, with the new
 * holder and time. */
static int take_lock(memdb_t *mdb, entry_t *e, uint64_t lock_version, uint32_t writer,
		     uint32_t mtime)
{
	uint64_t v = mdb->version + 1;
	entry_t s = stage(e, v, writer, mtime);
	entry_t *puts[] = {&s};

	if (g_hash_table_size(e->children) != 0 || !lock_version_current(e, lock_version))
		return -EEXIST;
	int res = persist(mdb, "take lock", puts, 1, NULL, 0, v);
	if (res == 0) {
		log_lock_taken(e->name, e->writer, writer, "taken over");
		commit_meta(mdb, e, &s);
		mdb->version = v;
	}
	return res;
}

static int create_entry(memdb_t *mdb, uint64_t parent, const char *name, memdb_type_t type,
			uint64_t lock_version, uint32_t writer, uint32_t mtime, memdb_attr_t *attr)
{
	entry_t *dir, *old;
	int res = check_new(mdb, parent, name, &dir);

	if (res < 0)
		return res;
	if ((old = child(dir, name))) {
		if (type != MEMDB_DIR || old->type != MEMDB_DIR || !is_lock_parent(mdb, dir))
			return -EEXIST;
		if ((res = take_lock(mdb, old, lock_version, writer, mtime)) == 0)
			fill_attr(mdb, old, attr);
		return res;
	}
	if (type == MEMDB_REG && guest_conflict(mdb, dir, name, NULL, NULL))
		return -EEXIST;
	if (type == MEMDB_DIR && depth_of(mdb, dir) + 1 > MEMDB_MAX_DEPTH)
		return -EMLINK;

	uint64_t v = mdb->version + 1;
	entry_t *e = entry_new(v, parent, type, name);
	e->version = v;
	e->writer = writer;
	e->mtime = mtime;
	e->seen = mdb->clock();
	entry_t ps = stage(dir, v, writer, mtime);
	entry_t *puts[] = {e, &ps};
	res = persist(mdb, type == MEMDB_DIR ? "mkdir" : "create", puts, 2, NULL, 0, v);
	if (res < 0) {
		entry_free(e);
		return res;
	}
	commit_meta(mdb, dir, &ps);
	index_insert(mdb, e);
	g_hash_table_insert(dir->children, e->name, e);
	mdb->version = v;
	fill_attr(mdb, e, attr);
	return 0;
}

int memdb_create(memdb_t *mdb, uint64_t parent, const char *name, uint32_t writer, uint32_t mtime,
		 memdb_attr_t *attr)
{
	g_mutex_lock(&mdb->lock);
	int res = create_entry(mdb, parent, name, MEMDB_REG, 0, writer, mtime, attr);
	g_mutex_unlock(&mdb->lock);
	return res;
}

int memdb_mkdir(memdb_t *mdb, uint64_t parent, const char *name, uint32_t writer, uint32_t mtime,
		memdb_attr_t *attr)
{
	return memdb_mkdir_lock(mdb, parent, name, 0, writer, mtime, attr);
}

int memdb_mkdir_lock(memdb_t *mdb, uint64_t parent, const char *name, uint64_t lock_version,
		     uint32_t writer, uint32_t mtime, memdb_attr_t *attr)
{
	g_mutex_lock(&mdb->lock);
	int res = create_entry(mdb, parent, name, MEMDB_DIR, lock_version, writer, mtime, attr);
	g_mutex_unlock(&mdb->lock);
	return res;
}

/* Replaces a file's content by newdata (owned on success). */
static int set_content(memdb_t *mdb, entry_t *e, uint8_t *newdata, uint32_t newsize,
		       uint32_t writer, uint32_t mtime, const char *op)
{
	uint64_t v = mdb->version + 1;
	entry_t s = stage(e, v, writer, mtime);
	entry_t *puts[] = {&s};

	s.data = newdata;
	s.size = newsize;
	int res = persist(mdb, op, puts, 1, NULL, 0, v);
	if (res < 0)
		return res;
	mdb->bytes = mdb->bytes - e->size + newsize;
	g_free(e->data);
	e->data = newdata;
	e->size = newsize;
	commit_meta(mdb, e, &s);
	mdb->version = v;
	return 0;
}

static int check_file(memdb_t *mdb, uint64_t inode, entry_t **e)
{
	*e = get(mdb, inode);
	if (!*e)
		return -ENOENT;
	return (*e)->type == MEMDB_REG ? 0 : -EISDIR;
}

static int check_size(memdb_t *mdb, const entry_t *e, uint64_t newsize)
{
	if (newsize > mdb->limits.max_file_size)
		return -EFBIG;
	if (newsize > e->size && mdb->bytes + (newsize - e->size) > mdb->limits.max_fs_size)
		return -ENOSPC;
	return 0;
}

/* What write_locked would answer before it changes anything: 0, or the
 * errno of the limit the write would break. */
static int check_write_locked(memdb_t *mdb, uint64_t inode, uint64_t offset, size_t len, bool keep,
			      entry_t **e)
{
	int res = check_file(mdb, inode, e);

	if (res < 0)
		return res;
	if (len == 0 && keep)
		return 0;
	if (offset > mdb->limits.max_file_size || len > mdb->limits.max_file_size - offset)
		return -EFBIG;
	uint64_t end = offset + len;
	return check_size(mdb, *e, MAX(end, keep ? (uint64_t)(*e)->size : 0));
}

int memdb_check_write(memdb_t *mdb, uint64_t inode, uint64_t offset, size_t len, bool keep)
{
	entry_t *e;

	g_mutex_lock(&mdb->lock);
	int res = check_write_locked(mdb, inode, offset, len, keep, &e);
	g_mutex_unlock(&mdb->lock);
	return res;
}

/* keep: the data lands on the old content; otherwise it replaces it. */
static int write_locked(memdb_t *mdb, uint64_t inode, uint64_t offset, const void *data, size_t len,
			bool keep, uint32_t writer, uint32_t mtime)
{
	entry_t *e;
	int res = check_write_locked(mdb, inode, offset, len, keep, &e);

	if (res < 0 || (len == 0 && keep))
		return res;
	uint64_t end = offset + len;
	uint32_t oldsize = keep ? e->size : 0;
	uint32_t newsize = (uint32_t)MAX(end, (uint64_t)oldsize);
	uint8_t *buf = newsize ? g_malloc0(newsize) : NULL;
	if (oldsize)
		memcpy(buf, e->data, oldsize);
	if (len)
		memcpy(buf + offset, data, len);
	res = set_content(mdb, e, buf, newsize, writer, mtime, keep ? "write" : "set-data");
	if (res < 0)
		g_free(buf);
	return res < 0 ? res : (int)len;
}

int memdb_write(memdb_t *mdb, uint64_t inode, uint64_t offset, const void *data, size_t len,
		uint32_t writer, uint32_t mtime)
{
	g_mutex_lock(&mdb->lock);
	int res = write_locked(mdb, inode, offset, data, len, true, writer, mtime);
	g_mutex_unlock(&mdb->lock);
	return res;
}

int memdb_set_data(memdb_t *mdb, uint64_t inode, const void *data, size_t len, uint32_t writer,
		   uint32_t mtime)
{
	g_mutex_lock(&mdb->lock);
	int res = write_locked(mdb, inode, 0, data, len, false, writer, mtime);
	g_mutex_unlock(&mdb->lock);
	return res;
}

static int truncate_locked(memdb_t *mdb, uint64_t inode, uint64_t size, uint32_t writer,
			   uint32_t mtime)
{
	entry_t *e;
	int res = check_file(mdb, inode, &e);

	if (res < 0)
		return res;
	if ((res = check_size(mdb, e, size)) < 0)
		return res;
	uint8_t *buf = NULL;
	if (size) {
		buf = g_malloc0(size);
		if (e->size)
			memcpy(buf, e->data, MIN(size, (uint64_t)e->size));
	}
	res = set_content(mdb, e, buf, (uint32_t)size, writer, mtime, "truncate");
	if (res < 0)
		g_free(buf);
	return res;
}

int memdb_truncate(memdb_t *mdb, uint64_t inode, uint64_t size, uint32_t writer, uint32_t mtime)
{
	g_mutex_lock(&mdb->lock);
	int res = truncate_locked(mdb, inode, size, writer, mtime);
	g_mutex_unlock(&mdb->lock);
	return res;
}

/* Drops e from memory after its row was deleted by the change to
 * version. */
static void forget(memdb_t *mdb, entry_t *dir, entry_t *e, uint64_t version)
{
	g_hash_table_remove(dir->children, e->name);
	mdb->bytes -= e->size;
	tomb_add(mdb, e->inode, version);
	if (e->type == MEMDB_REG) {
		e->orphan_in_priv = entry_in_priv(mdb, e);
		g_hash_table_steal(mdb->index, &e->inode);
		if (g_hash_table_contains(mdb->held, &e->inode))
			g_hash_table_insert(mdb->orphans, &e->inode, e);
		else
			recent_add(mdb, e);
		return;
	}
	g_hash_table_remove(mdb->index, &e->inode);
}

static int remove_locked(memdb_t *mdb, uint64_t parent, const char *name, memdb_type_t type,
			 uint32_t writer, uint32_t mtime)
{
	entry_t *dir, *e;
	int res = get_dir(mdb, parent, &dir);

	if (res < 0)
		return res;
	if (!(e = child(dir, name)))
		return -ENOENT;
	if (type == MEMDB_REG && e->type == MEMDB_DIR)
		return -EISDIR;
	if (type == MEMDB_DIR && e->type != MEMDB_DIR)
		return -ENOTDIR;
	if (e->type == MEMDB_DIR && g_hash_table_size(e->children))
		return -ENOTEMPTY;
	uint64_t v = mdb->version + 1;
	entry_t ps = stage(dir, v, writer, mtime);
	entry_t *puts[] = {&ps};
	res = persist(mdb, type == MEMDB_DIR ? "rmdir" : "unlink", puts, 1, &e->inode, 1, v);
	if (res < 0)
		return res;
	forget(mdb, dir, e, v);
	commit_meta(mdb, dir, &ps);
	mdb->version = v;
	return 0;
}

int memdb_unlink(memdb_t *mdb, uint64_t parent, const char *name, uint32_t writer, uint32_t mtime)
{
	g_mutex_lock(&mdb->lock);
	int res = remove_locked(mdb, parent, name, MEMDB_REG, writer, mtime);
	g_mutex_unlock(&mdb->lock);
	return res;
}

int memdb_rmdir(memdb_t *mdb, uint64_t parent, const char *name, uint32_t writer, uint32_t mtime)
{
	g_mutex_lock(&mdb->lock);
	int res = remove_locked(mdb, parent, name, MEMDB_DIR, writer, mtime);
	g_mutex_unlock(&mdb->lock);
	return res;
}

static bool is_ancestor(memdb_t *mdb, const entry_t *a, const entry_t *e)
{
	for (; e; e = parent_of(mdb, e))
		if (e == a)
			return true;
	return false;
}

static int check_replace(const entry_t *src, const entry_t *dst)
{
	if (src->type == MEMDB_DIR && dst->type != MEMDB_DIR)
		return -ENOTDIR;
	if (src->type != MEMDB_DIR && dst->type == MEMDB_DIR)
		return -EISDIR;
	if (dst->type == MEMDB_DIR && g_hash_table_size(dst->children))
		return -ENOTEMPTY;
	return 0;
}

static int rename_locked(memdb_t *mdb, uint64_t parent, const char *name, uint64_t newparent,
			 const char *newname, bool noreplace, uint32_t writer, uint32_t mtime)
{
	entry_t *from, *to, *e, *old;
	int res;

	if ((res = memdb_check_name(newname)) < 0 || (res = get_dir(mdb, parent, &from)) < 0 ||
	    (res = get_dir(mdb, newparent, &to)) < 0)
		return res;
	if (!(e = child(from, name)))
		return -ENOENT;
	old = child(to, newname);
	if (old == e)
		return 0;
	if (old && noreplace)
		return -EEXIST;
	if (old && (res = check_replace(e, old)) < 0)
		return res;
	if (e->type == MEMDB_DIR && is_ancestor(mdb, e, to))
		return -EINVAL;
	if (e->type == MEMDB_DIR && depth_of(mdb, to) + 1 + height_of(e) > MEMDB_MAX_DEPTH)
		return -EMLINK;
	if (e->type == MEMDB_REG && guest_conflict(mdb, to, newname, e, old))
		return -EEXIST;

	uint64_t v = mdb->version + 1;
	entry_t s = stage(e, v, writer, mtime);
	entry_t fs = stage(from, v, writer, mtime);
	entry_t ts = stage(to, v, writer, mtime);
	s.parent = to->inode;
	s.name = (char *)newname;
	entry_t *puts[] = {&s, &fs, &ts};
	res = persist(mdb, "rename", puts, from == to ? 2 : 3, old ? &old->inode : NULL,
		      old ? 1 : 0, v);
	if (res < 0)
		return res;
	if (old)
		forget(mdb, to, old, v);
	g_hash_table_remove(from->children, e->name);
	g_free(e->name);
	e->name = g_strdup(newname);
	e->parent = to->inode;
	g_hash_table_insert(to->children, e->name, e);
	commit_meta(mdb, e, &s);
	commit_meta(mdb, from, &fs);
	commit_meta(mdb, to, &ts);
	mdb->version = v;
	return 0;
}

int memdb_rename(memdb_t *mdb, uint64_t parent, const char *name, uint64_t newparent,
		 const char *newname, bool noreplace, uint32_t writer, uint32_t mtime)
{
	g_mutex_lock(&mdb->lock);
	int res = rename_locked(mdb, parent, name, newparent, newname, noreplace, writer, mtime);
	g_mutex_unlock(&mdb->lock);
	return res;
}

static int set_mtime_locked(memdb_t *mdb, uint64_t inode, uint32_t mtime, uint64_t lock_version,
			    uint32_t writer, uint32_t now)
{
	entry_t *e = get(mdb, inode);
	bool taken = false;
	uint32_t holder = 0;

	if (!e)
		return -ENOENT;
	if (entry_is_lock(mdb, e)) {
		holder = e->writer;
		if (holder != writer && !lock_version_current(e, lock_version))
			return -EACCES;
		if (mtime == 0) {
			entry_t *dir = parent_of(mdb, e);
			g_autofree char *name = g_strdup(e->name);
			int res = remove_locked(mdb, dir->inode, name, MEMDB_DIR, writer, now);
			if (res == 0 && holder != writer)
				log_lock_taken(name, holder, writer, "released");
			else if (res == 0)
				log_debug("lock priv/lock/%s released by node %u", name, writer);
			return res;
		}
		taken = holder != writer;
	}
	uint64_t v = mdb->version + 1;
	entry_t s = stage(e, v, writer, mtime);
	entry_t *puts[] = {&s};
	int res = persist(mdb, "set mtime", puts, 1, NULL, 0, v);
	if (res < 0)
		return res;
	if (taken)
		log_lock_taken(e->name, holder, writer, "taken over (renewed)");
	commit_meta(mdb, e, &s);
	mdb->version = v;
	return 0;
}

int memdb_set_mtime(memdb_t *mdb, uint64_t inode, uint32_t mtime, uint32_t writer, uint32_t now)
{
	return memdb_set_mtime_lock(mdb, inode, mtime, 0, writer, now);
}

int memdb_set_mtime_lock(memdb_t *mdb, uint64_t inode, uint32_t mtime, uint64_t lock_version,
			 uint32_t writer, uint32_t now)
{
	g_mutex_lock(&mdb->lock);
	int res = set_mtime_locked(mdb, inode, mtime, lock_version, writer, now);
	g_mutex_unlock(&mdb->lock);
	return res;
}

uint64_t memdb_lock_expired_version(memdb_t *mdb, uint64_t inode)
{
	uint64_t v = 0;

	g_mutex_lock(&mdb->lock);
	entry_t *e = get(mdb, inode);
	if (e && entry_is_lock(mdb, e) &&
	    mdb->clock() - e->seen > (int64_t)MEMDB_LOCK_TIMEOUT * G_USEC_PER_SEC)
		v = e->version;
	g_mutex_unlock(&mdb->lock);
	return v;
}

static int ensure_dir(memdb_t *mdb, uint64_t parent, const char *name, uint32_t writer,
		      uint32_t mtime, uint64_t *inode)
{
	memdb_attr_t a = {0};
	entry_t *dir, *e;
	int res = get_dir(mdb, parent, &dir);

	if (res < 0)
		return res;
	if ((e = child(dir, name))) {
		*inode = e->inode;
		return e->type == MEMDB_DIR ? 0 : -ENOTDIR;
	}
	res = create_entry(mdb, parent, name, MEMDB_DIR, 0, writer, mtime, &a);
	*inode = a.inode;
	return res;
}

int memdb_ensure_layout(memdb_t *mdb, const char *nodename, uint32_t writer, uint32_t mtime)
{
	uint64_t nodes, node, priv, ino;
	int res;

	g_mutex_lock(&mdb->lock);
	if ((res = ensure_dir(mdb, MEMDB_ROOT_INODE, "nodes", writer, mtime, &nodes)) < 0 ||
	    (res = ensure_dir(mdb, nodes, nodename, writer, mtime, &node)) < 0 ||
	    (res = ensure_dir(mdb, node, "qemu-server", writer, mtime, &ino)) < 0 ||
	    (res = ensure_dir(mdb, node, "lxc", writer, mtime, &ino)) < 0 ||
	    (res = ensure_dir(mdb, node, "openvz", writer, mtime, &ino)) < 0 ||
	    (res = ensure_dir(mdb, node, "priv", writer, mtime, &ino)) < 0 ||
	    (res = ensure_dir(mdb, MEMDB_ROOT_INODE, "priv", writer, mtime, &priv)) < 0 ||
	    (res = ensure_dir(mdb, priv, "lock", writer, mtime, &ino)) < 0)
		log_err("cannot create the layout for node %s: %s", nodename, g_strerror(-res));
	g_mutex_unlock(&mdb->lock);
	return res;
}

/* ---- listings ---- */

static gint by_name(gconstpointer a, gconstpointer b)
{
	const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
	return strcmp(x->name, y->name);
}

/* Guest configs in VMID order, anything else after them. */
static gint by_vmid(gconstpointer a, gconstpointer b)
{
	const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
	uint32_t vx = UINT32_MAX, vy = UINT32_MAX;

	parse_vmid(x->name, &vx);
	parse_vmid(y->name, &vy);
	return vx < vy ? -1 : vx > vy;
}

static GPtrArray *values(GHashTable *h)
{
	GPtrArray *a = g_ptr_array_sized_new(g_hash_table_size(h));
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, h);
	while (g_hash_table_iter_next(&it, NULL, &v))
		g_ptr_array_add(a, v);
	return a;
}

static GPtrArray *sorted_children(entry_t *dir)
{
	GPtrArray *a = values(dir->children);
	g_ptr_array_sort(a, by_name);
	return a;
}

void memdb_foreach_guest(memdb_t *mdb, memdb_guest_fn fn, void *ctx)
{
	static const char *const kinds[] = {"qemu-server", "lxc"};

	g_mutex_lock(&mdb->lock);
	entry_t *nodes = nodes_dir(mdb);
	g_autoptr(GPtrArray) nl = nodes ? sorted_children(nodes) : g_ptr_array_new();
	for (guint i = 0; i < nl->len; i++) {
		entry_t *node = nl->pdata[i];
		if (node->type != MEMDB_DIR)
			continue;
		for (size_t k = 0; k < G_N_ELEMENTS(kinds); k++) {
			entry_t *d = child(node, kinds[k]);
			if (!d || d->type != MEMDB_DIR)
				continue;
			g_autoptr(GPtrArray) files = values(d->children);
			g_ptr_array_sort(files, by_vmid);
			for (guint j = 0; j < files->len; j++) {
				entry_t *f = files->pdata[j];
				uint32_t vmid;
				if (f->type == MEMDB_REG && parse_vmid(f->name, &vmid))
					fn(ctx, vmid, node->name,
					   k == 0 ? MEMDB_GUEST_QEMU : MEMDB_GUEST_LXC, f->version);
			}
		}
	}
	g_mutex_unlock(&mdb->lock);
}

uint64_t memdb_guest_dirs_version(memdb_t *mdb)
{
	static const char *const kinds[] = {"qemu-server", "lxc"};
	GHashTableIter it;
	gpointer v;
	uint64_t max = 0;

	g_mutex_lock(&mdb->lock);
	entry_t *nodes = nodes_dir(mdb);
	if (nodes) {
		max = nodes->version;
		g_hash_table_iter_init(&it, nodes->children);
		while (g_hash_table_iter_next(&it, NULL, &v)) {
			entry_t *node = v;
			/* Renaming a guest directory away changes its node's version. */
			max = MAX(max, node->version);
			for (size_t k = 0; node->type == MEMDB_DIR && k < G_N_ELEMENTS(kinds);
			     k++) {
				entry_t *d = child(node, kinds[k]);
				if (d)
					max = MAX(max, d->version);
			}
		}
	}
	g_mutex_unlock(&mdb->lock);
	return max;
}

void memdb_usage(memdb_t *mdb, memdb_usage_t *usage)
{
	g_mutex_lock(&mdb->lock);
	usage->inodes = g_hash_table_size(mdb->index);
	usage->bytes = mdb->bytes;
	g_mutex_unlock(&mdb->lock);
}

static gint by_inode(gconstpointer a, gconstpointer b)
{
	const entry_t *x = *(entry_t *const *)a, *y = *(entry_t *const *)b;
	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

static void checksum_locked(memdb_t *mdb, uint8_t out[32])
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	gsize len = 32;

	g_autoptr(GPtrArray) all = values(mdb->index);
	g_ptr_array_sort(all, by_inode);
	for (guint i = 0; i < all->len; i++) {
		const entry_t *e = all->pdata[i];
		uint64_t fixed[5] = {e->inode, e->parent, e->version,
				     ((uint64_t)e->writer << 32) | e->mtime,
				     ((uint64_t)e->type << 32) | e->size};
		g_checksum_update(sum, (const guchar *)fixed, sizeof(fixed));
		g_checksum_update(sum, (const guchar *)e->name, (gssize)strlen(e->name) + 1);
		if (e->size)
			g_checksum_update(sum, e->data, e->size);
	}
	g_checksum_get_digest(sum, out, &len);
}

void memdb_checksum(memdb_t *mdb, uint8_t out[32])
{
	g_mutex_lock(&mdb->lock);
	checksum_locked(mdb, out);
	g_mutex_unlock(&mdb->lock);
}

/* ---- whole-tree transfer ---- */

static void add_row(GVariantBuilder *b, const entry_t *e)
{
	GVariant *data = g_variant_new_fixed_array(G_VARIANT_TYPE_BYTE, e->data, e->size, 1);

	g_variant_builder_add(b, "(tttuuys@ay)", e->inode, e->parent, e->version, e->writer,
			      e->mtime, (guchar)e->type, e->name, data);
}

GVariant *memdb_dump(memdb_t *mdb)
{
	GVariantBuilder b;

	g_variant_builder_init(&b, G_VARIANT_TYPE("a(tttuuysay)"));
	g_mutex_lock(&mdb->lock);
	g_autoptr(GPtrArray) all = values(mdb->index);
	g_ptr_array_sort(all, by_inode);
	for (guint i = 0; i < all->len; i++)
		add_row(&b, all->pdata[i]);
	uint64_t version = mdb->version;
	g_mutex_unlock(&mdb->lock);
	return g_variant_ref_sink(
	    g_variant_new("(t@a(tttuuysay))", version, g_variant_builder_end(&b)));
}

/* Builds a complete tree from a dump into a scratch memdb (no store), with
 * the same checks a load from disk gets, plus the limits and name rules. */
static memdb_t *tree_from_dump(const memdb_t *mdb, GVariant *dump, GError **err)
{
	memdb_t *t = g_new0(memdb_t, 1);
	load_ctx_t lc = {.mdb = t, .all = g_ptr_array_new_with_free_func(entry_free)};
	GVariantIter it;
	GVariant *rows;
	guint64 inode, parent, version;
	guint32 writer, mtime;
	guchar type;
	const char *name;
	GVariant *data;
	guint64 last = 0;
	bool ok = true;

	t->limits = mdb->limits;
	t->clock = mdb->clock;
	lc.now = t->clock();
	g_mutex_init(&t->lock);
	t->index = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, entry_free);
	init_held(t);
	if (!g_variant_is_of_type(dump, G_VARIANT_TYPE(MEMDB_DUMP_TYPE))) {
		g_set_error(err, DBSTORE_ERROR, EPROTO, "tree transfer has type %s, not %s",
			    g_variant_get_type_string(dump), MEMDB_DUMP_TYPE);
		ok = false;
		goto out;
	}
	g_variant_get(dump, "(t@a(tttuuysay))", &t->version, &rows);
	if (g_variant_n_children(rows) > t->limits.max_inodes) {
		g_set_error(err, DBSTORE_ERROR, ENOSPC,
			    "tree transfer has %zu inodes, more than %llu",
			    g_variant_n_children(rows), (unsigned long long)t->limits.max_inodes);
		ok = false;
	}
	g_variant_iter_init(&it, rows);
	while (ok && g_variant_iter_next(&it, "(tttuuy&s@ay)", &inode, &parent, &version, &writer,
					 &mtime, &type, &name, &data)) {
		gsize size = 0;
		const void *p = g_variant_get_fixed_array(data, &size, 1);
		dbstore_row_t row = {.inode = inode,
				     .parent = parent,
				     .version = version,
				     .writer = writer,
				     .mtime = mtime,
				     .type = type,
				     .name = name,
				     .data = p,
				     .size = (uint32_t)MIN(size, UINT32_MAX)};
		if (size > t->limits.max_file_size) {
			g_set_error(
			    err, DBSTORE_ERROR, EFBIG, "inode %llu is larger than %llu bytes",
			    (unsigned long long)inode, (unsigned long long)t->limits.max_file_size);
			ok = false;
		} else if (inode != MEMDB_ROOT_INODE && memdb_check_name(name) < 0) {
			g_set_error(err, DBSTORE_ERROR, EINVAL, "inode %llu has an invalid name",
				    (unsigned long long)inode);
			ok = false;
		} else if (inode <= last) {
			/* memdb_dump sends inodes in increasing order: anything else
			 * could hold one twice. */
			g_set_error(err, DBSTORE_ERROR, EPROTO,
				    "tree transfer has inode %llu out of order",
				    (unsigned long long)inode);
			ok = false;
		} else {
			ok = load_row(&lc, &row, err);
			last = inode;
		}
		g_variant_unref(data);
	}
	g_variant_unref(rows);
	if (!ok)
		goto out;
	if (t->bytes > t->limits.max_fs_size) {
		g_set_error(
		    err, DBSTORE_ERROR, ENOSPC, "tree transfer holds %llu bytes, more than %llu",
		    (unsigned long long)t->bytes, (unsigned long long)t->limits.max_fs_size);
		ok = false;
		goto out;
	}
	g_ptr_array_set_free_func(lc.all, NULL);
	ok = link_tree(t, lc.all, err);
	if (!ok) {
		/* link_tree indexed every entry: the index frees them now. */
		g_ptr_array_set_size(lc.all, 0);
		goto out;
	}
	t->root = get(t, MEMDB_ROOT_INODE);
	if (!t->root) {
		g_set_error(err, DBSTORE_ERROR, EPROTO, "tree transfer has no root");
		ok = false;
	} else {
		ok = check_tree(t, "tree transfer", err);
	}
out:
	g_ptr_array_free(lc.all, TRUE);
	if (!ok) {
		memdb_free(t);
		return NULL;
	}
	return t;
}

bool memdb_replace(memdb_t *mdb, GVariant *dump, GError **err)
{
	memdb_t *t = tree_from_dump(mdb, dump, err);
	GHashTableIter it;
	gpointer v;
	dbstore_row_t row;

	if (!t)
		return false;
	g_mutex_lock(&mdb->lock);
	bool ok = dbstore_begin(mdb->store, err) && dbstore_clear(mdb->store, err);
	g_hash_table_iter_init(&it, t->index);
	while (ok && g_hash_table_iter_next(&it, NULL, &v)) {
		to_row(v, &row);
		ok = dbstore_put(mdb->store, &row, err);
	}
	ok = ok && dbstore_set_version(mdb->store, t->version, err) &&
	     dbstore_commit(mdb->store, err);
	if (!ok) {
		dbstore_rollback(mdb->store);
	} else {
		GHashTable *old = mdb->index;
		mdb->index = t->index;
		mdb->root = t->root;
		mdb->version = t->version;
		mdb->bytes = t->bytes;
		mdb->generation++;
		recent_clear(mdb);
		tombs_reset(mdb, t->version);
		t->index = old;
	}
	g_mutex_unlock(&mdb->lock);
	memdb_free(t);
	return ok;
}

uint64_t memdb_generation(memdb_t *mdb)
{
	g_mutex_lock(&mdb->lock);
	uint64_t g = mdb->generation;
	g_mutex_unlock(&mdb->lock);
	return g;
}

/* ---- incremental transfer ---- */

static gint by_u64(gconstpointer a, gconstpointer b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The removals after since of inodes not in the tree, sorted, each once. */
static GVariant *removed_since(memdb_t *mdb, uint64_t since)
{
	g_autoptr(GArray) gone = g_array_new(FALSE, FALSE, sizeof(uint64_t));

	/* The record is in removal order: walk back from the newest. */
	for (GList *l = mdb->tombs->tail; l; l = l->prev) {
		const tomb_t *t = l->data;
		if (t->removed <= since)
			break;
		if (!get(mdb, t->inode))
			g_array_append_val(gone, t->inode);
	}
	g_array_sort(gone, by_u64);
	guint n = 0;
	for (guint i = 0; i < gone->len; i++)
		if (n == 0 ||
		    g_array_index(gone, uint64_t, i) != g_array_index(gone, uint64_t, n - 1))
			g_array_index(gone, uint64_t, n++) = g_array_index(gone, uint64_t, i);
	return g_variant_new_fixed_array(G_VARIANT_TYPE_UINT64, gone->data, n, sizeof(uint64_t));
}

GVariant *memdb_diff(memdb_t *mdb, uint64_t since)
{
	GVariantBuilder b;
	GHashTableIter it;
	gpointer v;

	g_mutex_lock(&mdb->lock);
	if (since < mdb->tomb_base || since > mdb->version) {
		g_mutex_unlock(&mdb->lock);
		return NULL;
	}
	g_autoptr(GPtrArray) changed = g_ptr_array_new();
	g_hash_table_iter_init(&it, mdb->index);
	while (g_hash_table_iter_next(&it, NULL, &v))
		if (((entry_t *)v)->version > since)
			g_ptr_array_add(changed, v);
	g_ptr_array_sort(changed, by_inode);
	g_variant_builder_init(&b, G_VARIANT_TYPE("a(tttuuysay)"));
	for (guint i = 0; i < changed->len; i++)
		add_row(&b, changed->pdata[i]);
	GVariant *gone = removed_since(mdb, since);
	uint64_t version = mdb->version;
	g_mutex_unlock(&mdb->lock);
	return g_variant_ref_sink(
	    g_variant_new("(tt@a(tttuuysay)@at)", version, since, g_variant_builder_end(&b), gone));
}

uint64_t memdb_tomb_base(memdb_t *mdb)
{
	g_mutex_lock(&mdb->lock);
	uint64_t v = mdb->tomb_base;
	g_mutex_unlock(&mdb->lock);
	return v;
}

/* A diff taken apart: what it claims, its new and changed inodes as
 * entries ready to link (in increasing inode order), and the inodes it
 * removes (increasing). */
typedef struct {
	uint64_t version;
	uint64_t since;
	GPtrArray *rows; /* entry_t*, owned until linked */
	GArray *removed; /* uint64_t */
} diff_t;

static void diff_clear(diff_t *d)
{
	if (d->rows)
		g_ptr_array_free(d->rows, TRUE);
	if (d->removed)
		g_array_free(d->removed, TRUE);
}

/* One row of a diff as an entry, with the checks a row of a whole tree
 * gets. */
static entry_t *diff_row(memdb_t *mdb, const diff_t *d, GVariant *rv, uint64_t last, GError **err)
{
	guint64 inode, parent, version;
	guint32 writer, mtime;
	guchar type;
	const char *name;
	g_autoptr(GVariant) data = NULL;
	gsize size = 0;

	g_variant_get(rv, "(tttuuy&s@ay)", &inode, &parent, &version, &writer, &mtime, &type, &name,
		      &data);
	const void *p = g_variant_get_fixed_array(data, &size, 1);
	if (inode <= last) {
		g_set_error(err, DBSTORE_ERROR, EPROTO, "diff has inode %llu out of order",
			    (unsigned long long)inode);
	} else if (inode > d->version || version > d->version) {
		g_set_error(err, DBSTORE_ERROR, EPROTO,
			    "diff has inode %llu (%s) newer than its version %llu",
			    (unsigned long long)inode, name, (unsigned long long)d->version);
	} else if (type != MEMDB_DIR && type != MEMDB_REG) {
		g_set_error(err, DBSTORE_ERROR, EPROTO, "diff has inode %llu of unknown type %u",
			    (unsigned long long)inode, type);
	} else if (inode == MEMDB_ROOT_INODE && type != MEMDB_DIR) {
		g_set_error(err, DBSTORE_ERROR, EINVAL, "diff makes the root inode a file");
	} else if (inode != MEMDB_ROOT_INODE && memdb_check_name(name) < 0) {
		g_set_error(err, DBSTORE_ERROR, EINVAL, "diff gives inode %llu an invalid name",
			    (unsigned long long)inode);
	} else if (type == MEMDB_DIR && size) {
		g_set_error(err, DBSTORE_ERROR, EPROTO, "diff gives directory inode %llu content",
			    (unsigned long long)inode);
	} else if (size > mdb->limits.max_file_size) {
		g_set_error(
		    err, DBSTORE_ERROR, EFBIG, "diff gives inode %llu %zu bytes, more than %llu",
		    (unsigned long long)inode, size, (unsigned long long)mdb->limits.max_file_size);
	} else {
		entry_t *e = entry_new(inode, parent, type, name);
		e->version = version;
		e->writer = writer;
		e->mtime = mtime;
		if (size) {
			e->data = g_memdup2(p, size);
			e->size = (uint32_t)size;
		}
		return e;
	}
	return NULL;
}

/* Takes a diff apart without the tree's lock: everything that can be
 * checked on the diff alone. */
static bool diff_parse(memdb_t *mdb, GVariant *diff, diff_t *d, GError **err)
{
	g_autoptr(GVariant) rows = NULL, gone = NULL;
	GVariantIter it;
	GVariant *rv;
	uint64_t last = 0;
	gsize n = 0;

	if (!g_variant_is_of_type(diff, G_VARIANT_TYPE(MEMDB_DIFF_TYPE))) {
		g_set_error(err, DBSTORE_ERROR, EPROTO, "diff has type %s, not %s",
			    g_variant_get_type_string(diff), MEMDB_DIFF_TYPE);
		return false;
	}
	g_variant_get(diff, "(tt@a(tttuuysay)@at)", &d->version, &d->since, &rows, &gone);
	if (d->version < d->since) {
		g_set_error(err, DBSTORE_ERROR, EPROTO, "diff goes back from version %llu to %llu",
			    (unsigned long long)d->since, (unsigned long long)d->version);
		return false;
	}
	if (g_variant_n_children(rows) > mdb->limits.max_inodes) {
		g_set_error(err, DBSTORE_ERROR, ENOSPC, "diff has %zu inodes, more than %llu",
			    g_variant_n_children(rows), (unsigned long long)mdb->limits.max_inodes);
		return false;
	}
	const uint64_t *ids = g_variant_get_fixed_array(gone, &n, sizeof(uint64_t));
	if (n > MAX(mdb->max_tombs, MEMDB_MAX_TOMBS)) {
		g_set_error(err, DBSTORE_ERROR, EPROTO, "diff removes %zu inodes, more than %u", n,
			    MAX(mdb->max_tombs, MEMDB_MAX_TOMBS));
		return false;
	}
	d->removed = g_array_sized_new(FALSE, FALSE, sizeof(uint64_t), (guint)n);
	for (gsize i = 0; i < n; i++) {
		if (ids[i] <= last || ids[i] == MEMDB_ROOT_INODE) {
			g_set_error(err, DBSTORE_ERROR, EPROTO,
				    "diff removes inode %llu out of order, or the root",
				    (unsigned long long)ids[i]);
			return false;
		}
		g_array_append_val(d->removed, ids[i]);
		last = ids[i];
	}
	d->rows = g_ptr_array_new_full((guint)g_variant_n_children(rows), entry_free);
	last = 0;
	gsize k = 0;
	g_variant_iter_init(&it, rows);
	while ((rv = g_variant_iter_next_value(&it))) {
		entry_t *e = diff_row(mdb, d, rv, last, err);
		g_variant_unref(rv);
		if (!e)
			return false;
		g_ptr_array_add(d->rows, e);
		last = e->inode;
		/* Both lists are sorted: one pass finds an inode in both. */
		while (k < n && ids[k] < e->inode)
			k++;
		if (k < n && ids[k] == e->inode) {
			g_set_error(err, DBSTORE_ERROR, EPROTO,
				    "diff both removes and changes inode %llu",
				    (unsigned long long)e->inode);
			return false;
		}
	}
	return true;
}

/* One inode a diff touches: the entry it had before (NULL: a new one),
 * and the one it gets (NULL: removed). While the diff is applied, memory
 * is changed in place and this log undoes it. */
typedef struct {
	entry_t *old;
	entry_t *cur;
	bool attached; /* cur is linked below its parent */
	bool moved;    /* old's directory entries went to cur */
} change_t;

typedef struct {
	memdb_t *mdb;
	const diff_t *d;
	GArray *log; /* change_t */
	entry_t *root;
	int64_t bytes; /* the change in mdb->bytes */
} apply_t;

/* Unlinks every inode the diff touches from its directory and from the
 * index (cannot fail): what is left linked is what the diff keeps. */
static void apply_detach(apply_t *a)
{
	memdb_t *mdb = a->mdb;

	for (guint i = 0; i < a->log->len; i++) {
		change_t *c = &g_array_index(a->log, change_t, i);
		entry_t *dir = c->old ? parent_of(mdb, c->old) : NULL;
		if (c->old && !c->cur && c->old->type == MEMDB_REG &&
		    g_hash_table_contains(mdb->held, &c->old->inode))
			c->old->orphan_in_priv = entry_in_priv(mdb, c->old);
		if (dir)
			g_hash_table_remove(dir->children, c->old->name);
	}
	for (guint i = 0; i < a->log->len; i++) {
		change_t *c = &g_array_index(a->log, change_t, i);
		if (c->old)
			g_hash_table_steal(mdb->index, &c->old->inode);
		a->bytes += (int64_t)(c->cur ? c->cur->size : 0) - (c->old ? c->old->size : 0);
	}
}

/* A directory the diff removes, or turns into a file, must lose all its
 * entries in the same diff; one it keeps takes its entries along. */
static bool apply_adopt(apply_t *a, GError **err)
{
	for (guint i = 0; i < a->log->len; i++) {
		change_t *c = &g_array_index(a->log, change_t, i);
		if (!c->old || c->old->type != MEMDB_DIR)
			continue;
		if (c->cur && c->cur->type == MEMDB_DIR) {
			g_hash_table_destroy(c->cur->children);
			c->cur->children = g_steal_pointer(&c->old->children);
			c->moved = true;
			continue;
		}
		GHashTableIter it;
		gpointer v;
		g_hash_table_iter_init(&it, c->old->children);
		if (g_hash_table_iter_next(&it, NULL, &v)) {
			const entry_t *e = v;
			g_set_error(
			    err, DBSTORE_ERROR, EINVAL,
			    "diff %s directory inode %llu (%s) but keeps its entry %llu (%s)",
			    c->cur ? "turns into a file" : "removes",
			    (unsigned long long)c->old->inode, c->old->name,
			    (unsigned long long)e->inode, e->name);
			return false;
		}
	}
	return true;
}

/* Links every new and changed inode below its parent. */
static bool apply_link(apply_t *a, GError **err)
{
	memdb_t *mdb = a->mdb;

	for (guint i = 0; i < a->log->len; i++) {
		change_t *c = &g_array_index(a->log, change_t, i);
		if (c->cur)
			index_insert(mdb, c->cur);
	}
	for (guint i = 0; i < a->log->len; i++) {
		change_t *c = &g_array_index(a->log, change_t, i);
		entry_t *e = c->cur;
		if (!e)
			continue;
		if (e->inode == MEMDB_ROOT_INODE) {
			mdb->root = e;
			continue;
		}
		entry_t *p = get(mdb, e->parent);
		if (!p || p->type != MEMDB_DIR || p == e) {
			g_set_error(err, DBSTORE_ERROR, EINVAL,
				    "diff puts inode %llu (%s) below %llu, which is %s",
				    (unsigned long long)e->inode, e->name,
				    (unsigned long long)e->parent,
				    !p	     ? "missing"
				    : p == e ? "itself"
					     : "no directory");
			return false;
		}
		if (g_hash_table_contains(p->children, e->name)) {
			g_set_error(err, DBSTORE_ERROR, EINVAL,
				    "diff puts inode %llu (%s) below %llu, which has an entry of "
				    "that name",
				    (unsigned long long)e->inode, e->name,
				    (unsigned long long)e->parent);
			return false;
		}
		g_hash_table_insert(p->children, e->name, e);
		c->attached = true;
	}
	return true;
}

/* A directory the diff moved that no longer reaches the root within the
 * depth limit: on a cycle, or below one. */
static const entry_t *find_stray(apply_t *a)
{
	for (guint i = 0; i < a->log->len; i++) {
		const entry_t *e = g_array_index(a->log, change_t, i).cur;
		guint steps = 0;
		if (!e || e->type != MEMDB_DIR)
			continue;
		for (const entry_t *p = e; p && p != a->mdb->root; p = parent_of(a->mdb, p))
			if (++steps > MEMDB_MAX_DEPTH + 1)
				return e;
	}
	return NULL;
}

/* The whole result: within the limits, one tree, not too deep. */
static bool apply_check(apply_t *a, GError **err)
{
	memdb_t *mdb = a->mdb;
	guint size = g_hash_table_size(mdb->index), count, height;
	uint64_t bytes = (uint64_t)((int64_t)mdb->bytes + a->bytes);

	if (size > mdb->limits.max_inodes) {
		g_set_error(err, DBSTORE_ERROR, ENOSPC, "diff leaves %u inodes, more than %llu",
			    size, (unsigned long long)mdb->limits.max_inodes);
		return false;
	}
	if (bytes > mdb->limits.max_fs_size) {
		g_set_error(err, DBSTORE_ERROR, ENOSPC, "diff leaves %llu bytes, more than %llu",
			    (unsigned long long)bytes, (unsigned long long)mdb->limits.max_fs_size);
		return false;
	}
	measure_tree(mdb->root, &count, &height);
	if (count != size) {
		const entry_t *e = find_stray(a);
		g_set_error(err, DBSTORE_ERROR, EINVAL,
			    "diff leaves %u inodes unreachable from the root (a cycle through "
			    "inode %llu (%s))",
			    size - count, e ? (unsigned long long)e->inode : 0ULL,
			    e ? e->name : "?");
		return false;
	}
	if (height > MEMDB_MAX_DEPTH) {
		g_set_error(err, DBSTORE_ERROR, EMLINK,
			    "diff nests directories %u deep, deeper than %d", height,
			    MEMDB_MAX_DEPTH);
		return false;
	}
	return true;
}

/* Puts memory back as it was before apply_detach, whatever step failed. */
static void apply_undo(apply_t *a)
{
	memdb_t *mdb = a->mdb;

	for (guint i = 0; i < a->log->len; i++) {
		change_t *c = &g_array_index(a->log, change_t, i);
		if (c->attached)
			g_hash_table_remove(get(mdb, c->cur->parent)->children, c->cur->name);
	}
	for (guint i = 0; i < a->log->len; i++) {
		change_t *c = &g_array_index(a->log, change_t, i);
		if (c->cur && get(mdb, c->cur->inode) == c->cur)
			g_hash_table_steal(mdb->index, &c->cur->inode);
		if (c->moved)
			c->old->children = g_steal_pointer(&c->cur->children);
	}
	for (guint i = 0; i < a->log->len; i++) {
		change_t *c = &g_array_index(a->log, change_t, i);
		if (c->old)
			index_insert(mdb, c->old);
	}
	mdb->root = a->root;
	for (guint i = 0; i < a->log->len; i++) {
		change_t *c = &g_array_index(a->log, change_t, i);
		entry_t *dir = c->old ? parent_of(mdb, c->old) : NULL;
		if (dir)
			g_hash_table_insert(dir->children, c->old->name, c->old);
	}
}

/* Only the rows the diff touches, and the version, in one transaction. */
static bool apply_store(apply_t *a, GError **err)
{
	memdb_t *mdb = a->mdb;
	GError *e = NULL;
	dbstore_row_t row;
	bool ok = dbstore_begin(mdb->store, &e);

	for (guint i = 0; ok && i < a->log->len; i++) {
		const change_t *c = &g_array_index(a->log, change_t, i);
		if (c->cur) {
			to_row(c->cur, &row);
			ok = dbstore_put(mdb->store, &row, &e);
		} else {
			ok = dbstore_delete(mdb->store, c->old->inode, &e);
		}
	}
	ok = ok && dbstore_set_version(mdb->store, a->d->version, &e) &&
	     dbstore_commit(mdb->store, &e);
	if (!ok) {
		dbstore_rollback(mdb->store);
		/* The store's own codes are SQLite's: this one says what the
		 * caller must do. */
		g_set_error(err, DBSTORE_ERROR, EIO, "storing the diff to version %llu failed: %s",
			    (unsigned long long)a->d->version, e ? e->message : "unknown error");
		g_clear_error(&e);
	}
	return ok;
}

/* After the store committed: the old entries go (or stay as orphans while
 * held), and the bookkeeping of a replacement follows. */
static void apply_finish(apply_t *a)
{
	memdb_t *mdb = a->mdb;
	int64_t now = mdb->clock();

	for (guint i = 0; i < a->log->len; i++) {
		change_t *c = &g_array_index(a->log, change_t, i);
		if (c->cur)
			c->cur->seen = now;
		if (c->old && !c->cur && c->old->type == MEMDB_REG &&
		    g_hash_table_contains(mdb->held, &c->old->inode))
			g_hash_table_insert(mdb->orphans, &c->old->inode, c->old);
		else
			entry_free(c->old);
	}
	/* The diff lists every removal after its base, which is this tree's
	 * version: the record stays complete from where it was. */
	for (guint i = 0; i < a->d->removed->len; i++)
		tomb_add(mdb, g_array_index(a->d->removed, uint64_t, i), a->d->version);
	mdb->bytes = (uint64_t)((int64_t)mdb->bytes + a->bytes);
	mdb->version = a->d->version;
	mdb->generation++;
	recent_clear(mdb);
}

static bool apply_locked(memdb_t *mdb, diff_t *d, const uint8_t expect_csum[32], GError **err)
{
	apply_t a = {.mdb = mdb, .d = d, .root = mdb->root};
	uint8_t sum[32];

	if (d->since != mdb->version) {
		g_set_error(err, DBSTORE_ERROR, ESTALE,
			    "diff is from version %llu, this tree is at %llu",
			    (unsigned long long)d->since, (unsigned long long)mdb->version);
		return false;
	}
	a.log = g_array_sized_new(FALSE, TRUE, sizeof(change_t), d->removed->len + d->rows->len);
	for (guint i = 0; i < d->removed->len; i++) {
		change_t c = {.old = get(mdb, g_array_index(d->removed, uint64_t, i))};
		if (c.old)
			g_array_append_val(a.log, c);
	}
	for (guint i = 0; i < d->rows->len; i++) {
		entry_t *e = d->rows->pdata[i];
		change_t c = {.old = get(mdb, e->inode), .cur = e};
		g_array_append_val(a.log, c);
	}
	/* From here on the log owns the new entries. */
	g_ptr_array_set_free_func(d->rows, NULL);
	apply_detach(&a);
	bool ok = apply_adopt(&a, err) && apply_link(&a, err) && apply_check(&a, err);
	if (ok) {
		checksum_locked(mdb, sum);
		if (memcmp(sum, expect_csum, sizeof(sum)) != 0) {
			g_set_error(err, DBSTORE_ERROR, ESTALE,
				    "the tree after the diff from version %llu to %llu differs "
				    "from the sender's",
				    (unsigned long long)d->since, (unsigned long long)d->version);
			ok = false;
		}
	}
	ok = ok && apply_store(&a, err);
	if (ok) {
		apply_finish(&a);
	} else {
		apply_undo(&a);
		for (guint i = 0; i < a.log->len; i++)
			entry_free(g_array_index(a.log, change_t, i).cur);
	}
	g_array_free(a.log, TRUE);
	return ok;
}

bool memdb_apply_diff(memdb_t *mdb, GVariant *diff, const uint8_t expect_csum[32], GError **err)
{
	diff_t d = {0};
	bool ok = diff_parse(mdb, diff, &d, err);

	if (ok) {
		g_mutex_lock(&mdb->lock);
		ok = apply_locked(mdb, &d, expect_csum, err);
		g_mutex_unlock(&mdb->lock);
	}
	diff_clear(&d);
	return ok;
}

static GArray *keys_of(memdb_t *mdb, GHashTable *table)
{
	GHashTableIter it;
	gpointer key;

	g_mutex_lock(&mdb->lock);
	GArray *out = g_array_sized_new(FALSE, FALSE, sizeof(uint64_t), g_hash_table_size(table));
	g_hash_table_iter_init(&it, table);
	while (g_hash_table_iter_next(&it, &key, NULL))
		g_array_append_val(out, *(uint64_t *)key);
	g_mutex_unlock(&mdb->lock);
	return out;
}

GArray *memdb_inodes(memdb_t *mdb)
{
	return keys_of(mdb, mdb->index);
}

GArray *memdb_orphans(memdb_t *mdb)
{
	return keys_of(mdb, mdb->orphans);
}

uint64_t memdb_get_meta(memdb_t *mdb, const char *key)
{
	GError *err = NULL;
	uint64_t v = 0;

	g_mutex_lock(&mdb->lock);
	if (!dbstore_get_meta(mdb->store, key, &v, &err)) {
		log_err("memdb: reading %s failed: %s", key, err->message);
		g_error_free(err);
	}
	g_mutex_unlock(&mdb->lock);
	return v;
}

int memdb_set_meta(memdb_t *mdb, const char *key, uint64_t value)
{
	GError *err = NULL;
	int res = 0;

	g_mutex_lock(&mdb->lock);
	if (!dbstore_set_meta(mdb->store, key, value, &err)) {
		log_err("memdb: writing %s failed: %s", key, err->message);
		g_error_free(err);
		res = -EIO;
	}
	g_mutex_unlock(&mdb->lock);
	return res;
}

/* ---- files held open on this node ---- */

void memdb_hold(memdb_t *mdb, uint64_t inode)
{
	g_mutex_lock(&mdb->lock);
	guint n = GPOINTER_TO_UINT(g_hash_table_lookup(mdb->held, &inode));
	entry_t *e = g_hash_table_lookup(mdb->recent_index, &inode);
	if (e && !get_any(mdb, inode)) {
		/* Removed since the kernel found it: as if it had been open
		 * already. */
		g_hash_table_remove(mdb->recent_index, &inode);
		g_queue_remove(mdb->recent, e);
		g_hash_table_insert(mdb->orphans, &e->inode, e);
	}
	g_hash_table_insert(mdb->held, g_memdup2(&inode, sizeof(inode)), GUINT_TO_POINTER(n + 1));
	g_mutex_unlock(&mdb->lock);
}

void memdb_unhold(memdb_t *mdb, uint64_t inode)
{
	g_mutex_lock(&mdb->lock);
	guint n = GPOINTER_TO_UINT(g_hash_table_lookup(mdb->held, &inode));
	if (n > 1) {
		g_hash_table_insert(mdb->held, g_memdup2(&inode, sizeof(inode)),
				    GUINT_TO_POINTER(n - 1));
	} else if (n == 1) {
		g_hash_table_remove(mdb->held, &inode);
		g_hash_table_remove(mdb->orphans, &inode);
	}
	g_mutex_unlock(&mdb->lock);
}

int memdb_orphan_write(memdb_t *mdb, uint64_t inode, uint64_t offset, const void *data, size_t len,
		       bool truncate)
{
	int res;

	g_mutex_lock(&mdb->lock);
	entry_t *e = g_hash_table_lookup(mdb->orphans, &inode);
	if (!e) {
		res = -ENOENT;
	} else if (offset > MEMDB_MAX_FILE_SIZE || len > MEMDB_MAX_FILE_SIZE - offset) {
		res = -EFBIG;
	} else {
		uint32_t end = (uint32_t)(offset + len);
		uint32_t newsize = truncate ? end : MAX(end, e->size);
		if (newsize != e->size) {
			e->data = g_realloc(e->data, newsize ? newsize : 1);
			if (newsize > e->size)
				memset(e->data + e->size, 0, newsize - e->size);
			e->size = newsize;
		}
		if (len)
			memcpy(e->data + offset, data, len);
		e->mtime = (uint32_t)time(NULL);
		res = (int)len;
	}
	g_mutex_unlock(&mdb->lock);
	return res;
}
