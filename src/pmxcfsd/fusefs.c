#include "fusefs.h"

#include "fsop.h"
#include "fsperm.h"
#include "log.h"
#include "pagefill.h"
#include "replica.h"
#include "treebind.h"
#include "writeseq.h"

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* When changes also arrive from other members, the kernel may not cache
 * names: a name created, removed or renamed elsewhere must be seen here at
 * once. Attributes it may keep: every change from another member
 * invalidates those of the inodes it touched before this node confirms it
 * (fusefs_invalidate), so a file written elsewhere reads back whole here
 * at once (a stale cached size would cut the read short). */
#define FUSEFS_SHARED_ENTRY_TIMEOUT 0.0
/* When every change passes through this mount, the kernel's caches cannot
 * go stale; it drops what a change touches by itself. */
#define FUSEFS_SOLE_CACHE_TIMEOUT 3600.0
#define FUSEFS_ATTR_TIMEOUT 3600.0
#define FUSEFS_MAX_THREADS 10
#define FUSEFS_MAX_IDLE_THREADS 4
/* Inode numbers from here on are the virtual root entries. */
#define VINO_BASE MEMDB_INODE_LIMIT
#define WWW_DATA_GID_FALLBACK 33

typedef enum {
	LINK_LOCAL,
	LINK_QEMU,
	LINK_LXC,
	LINK_OPENVZ,
	LINK_COUNT,
} link_id_t;

static const char *const link_names[LINK_COUNT] = {"local", "qemu-server", "lxc", "openvz"};
static const char *const link_suffix[LINK_COUNT] = {"", "/qemu-server", "/lxc", "/openvz"};

struct fusefs {
	memdb_t *mdb;
	replica_t *replica;
	vfiles_t *vfiles;
	char *mountpoint;
	char *link_target[LINK_COUNT];
	uint32_t nodeid;
	bool sole_writer;
	double cache_timeout;
	gid_t gid;
	struct fuse_session *se;
	bool mounted;
	pagefill_t *pagefill; /* outside a cluster only */
	writeseq_t *ws;
	GThread *thread;
	struct fuse_loop_config *loop_cfg;
	GMutex bufs_lock;
	GHashTable *bufs; /* obuf_t, open */
};

/* What an open virtual file or directory reads from: a virtual file's
 * content rendered at open, so that a reader sees one consistent document
 * whatever it reads in how many pieces; a directory's entries, packed.
 * Registered in fusefs.bufs until released: the kernel does not release
 * what is open when the mount goes away. */
typedef struct {
	char *data;
	size_t len;
} obuf_t;

static fusefs_t *FS(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void obuf_free(gpointer p)
{
	obuf_t *b = p;

	g_free(b->data);
	g_free(b);
}

static obuf_t *obuf_new(fusefs_t *fs)
{
	obuf_t *b = g_new0(obuf_t, 1);

	g_mutex_lock(&fs->bufs_lock);
	g_hash_table_add(fs->bufs, b);
	g_mutex_unlock(&fs->bufs_lock);
	return b;
}

static void obuf_release(fusefs_t *fs, obuf_t *b)
{
	if (!b)
		return;
	g_mutex_lock(&fs->bufs_lock);
	g_hash_table_remove(fs->bufs, b);
	g_mutex_unlock(&fs->bufs_lock);
}

/* A request handed back by pagefill_writer_begin(), with what its handler
 * was given. */
typedef enum {
	RETRY_OPEN,
	RETRY_CREATE,
	RETRY_SETATTR,
} retry_kind_t;

typedef struct {
	retry_kind_t kind;
	fuse_req_t req;
	fuse_ino_t ino; /* the parent for a create */
	char *name;
	mode_t mode;
	struct fuse_file_info fi;
	bool has_fi;
	struct stat attr;
	int to_set;
} retry_t;

static void retry_run(void *data);

static void *retry_keep(const void *change)
{
	const retry_t *r = change;
	retry_t *copy = g_new(retry_t, 1);

	*copy = *r;
	copy->name = g_strdup(r->name);
	return copy;
}

/* Takes a writer reference on ino for a change of its content, or hands
 * the request back for later (false: the caller returns, not replying). */
static bool writer_begin(fusefs_t *fs, fuse_ino_t ino, const retry_t *r)
{
	return !fs->pagefill || pagefill_writer_begin(fs->pagefill, ino, retry_run, retry_keep, r);
}

static void writer_end(fusefs_t *fs, fuse_ino_t ino)
{
	if (fs->pagefill)
		pagefill_writer_end(fs->pagefill, ino);
}

/* Replies with a copy of a slice of a buffer that belongs to an open handle:
 * once the kernel has the reply it may already send the release that frees
 * the handle, on another thread, before fuse_reply_buf() has returned here. */
static void reply_copy(fuse_req_t req, const char *data, size_t len)
{
	g_autofree char *copy = g_memdup2(data, len);

	fuse_reply_buf(req, copy, len);
}

static bool is_link(fuse_ino_t ino)
{
	return ino >= VINO_BASE + VFILE_COUNT && ino < VINO_BASE + VFILE_COUNT + LINK_COUNT;
}

static fuse_ino_t vfile_ino(vfile_id_t id)
{
	return VINO_BASE + id;
}

static fuse_ino_t link_ino(link_id_t id)
{
	return VINO_BASE + VFILE_COUNT + id;
}

static int link_lookup(const char *name)
{
	for (int i = 0; i < LINK_COUNT; i++)
		if (strcmp(link_names[i], name) == 0)
			return i;
	return -1;
}

static uint32_t now(void)
{
	return (uint32_t)time(NULL);
}

/* In a cluster, changes go through every member (see writeseq). */
static int replica_sink_submit(void *ctx, const fsop_t *op, memdb_attr_t *attr,
			       writeseq_wait_t wait)
{
	switch (wait) {
	case WRITESEQ_SENT:
		return treebind_submit_async(ctx, op);
	case WRITESEQ_ORDERED:
		return treebind_submit_ordered(ctx, op, attr);
	default:
		return treebind_submit(ctx, op, attr);
	}
}

static int replica_sink_barrier(void *ctx, uint64_t inode)
{
	return replica_barrier(ctx, inode);
}

static bool replica_sink_settle(void *ctx, uint64_t inode)
{
	return replica_settle(ctx, inode);
}

static const writeseq_sink_t replica_sink = {
    .submit = replica_sink_submit,
    .barrier = replica_sink_barrier,
    .settle = replica_sink_settle,
};

/* The attributes of ino as this node's own writes, which write() answers
 * before they are applied, leave them. */
static int getattr_settled(fusefs_t *fs, uint64_t ino, memdb_attr_t *a)
{
	writeseq_settle(fs->ws, ino);
	return memdb_getattr(fs->mdb, ino, a);
}

static int submit(fusefs_t *fs, fsop_t op, memdb_attr_t *attr)
{
	return writeseq_change(fs->ws, op, attr, false);
}

static int submit_in_file(fusefs_t *fs, fsop_t op, memdb_attr_t *attr)
{
	return writeseq_change(fs->ws, op, attr, true);
}

/* The reference's modes: nothing else can be set, see setattr. */
static mode_t mode_of(const memdb_attr_t *a)
{
	if (a->type == MEMDB_DIR)
		return S_IFDIR | (a->in_priv ? 0700 : 0755);
	return S_IFREG | (a->in_priv ? 0600 : 0640);
}

static void fill_stat(fusefs_t *fs, const memdb_attr_t *a, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = a->inode;
	st->st_mode = mode_of(a);
	st->st_nlink = a->orphan ? 0 : a->type == MEMDB_DIR ? 2 : 1;
	st->st_uid = 0;
	st->st_gid = fs->gid;
	st->st_size =
	    a->type == MEMDB_REG && writeseq_truncation_pending(fs->ws, a->inode) ? 0 : a->size;
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_atime = st->st_mtime = st->st_ctime = a->mtime;
}

static bool links_writable(fusefs_t *fs)
{
	replica_status_t rs;

	if (!fs->replica)
		return true;
	replica_status(fs->replica, &rs);
	return rs.writable;
}

static void virtual_stat(fusefs_t *fs, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_nlink = 1;
	st->st_uid = 0;
	st->st_gid = fs->gid;
	st->st_blksize = 4096;
	st->st_atime = st->st_mtime = st->st_ctime = now();
	if (is_link(ino)) {
		/* Scripts (and the reference's own tools) lstat "local" to learn
		 * whether this node may write: 0777 when it may, 0555 when not. */
		st->st_mode = S_IFLNK | (links_writable(fs) ? 0777 : 0555);
		st->st_size = (off_t)strlen(fs->link_target[ino - link_ino(0)]);
	} else if (ino == vfile_ino(VFILE_DEBUG)) {
		st->st_mode = S_IFREG | 0640;
	} else {
		st->st_mode = S_IFREG | 0440;
	}
	/* Content is rendered at open; readers use direct I/O and stop at EOF. */
}

#define FSPERM_MAX_GROUPS 64

/* 0 when the caller of req may access a file of this mode for mask (R_OK,
 * W_OK, X_OK). */
static int mode_allowed(fuse_req_t req, mode_t mode, int mask)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	fusefs_t *fs = FS(req);
	gid_t groups[FSPERM_MAX_GROUPS];

	fsperm_caller_t c = {.uid = ctx->uid, .gid = ctx->gid};
	if (ctx->uid != 0 && ctx->gid != fs->gid) {
		/* Read from /proc: only for a caller not in the group already. */
		int n = fuse_req_getgroups(req, FSPERM_MAX_GROUPS, groups);
		if (n > 0) {
			c.groups = groups;
			c.ngroups = MIN((size_t)n, FSPERM_MAX_GROUPS);
		}
	}
	return fsperm_check(&c, mode, fs->gid, mask);
}

/* The same for ino, looked up only for a caller other than root. */
static int allowed(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct stat st;
	memdb_attr_t a;

	if (fuse_req_ctx(req)->uid == 0)
		return 0;
	if (ino >= VINO_BASE) {
		virtual_stat(FS(req), ino, &st);
		return mode_allowed(req, st.st_mode, mask);
	}
	int res = memdb_getattr(FS(req)->mdb, ino, &a);
	return res < 0 ? res : mode_allowed(req, mode_of(&a), mask);
}

static int open_mask(int flags)
{
	switch (flags & O_ACCMODE) {
	case O_RDONLY:
		return (flags & O_TRUNC) ? R_OK | W_OK : R_OK;
	case O_WRONLY:
		return W_OK;
	default:
		return R_OK | W_OK;
	}
}

static bool is_root(fuse_req_t req)
{
	return fuse_req_ctx(req)->uid == 0;
}

/* A lock's existence and mtime are its state, and the kernel answers mkdir
 * of a name it has cached by itself: never let it cache a lock. */
static double entry_timeout_for(fusefs_t *fs, const memdb_attr_t *a)
{
	/* Under priv/ too: a path the kernel has cached it walks without
	 * asking, and only a lookup checks a caller's right to search a
	 * directory (see allowed()). */
	return a->is_lock || a->in_priv ? 0.0 : fs->cache_timeout;
}

static double attr_timeout_for(const memdb_attr_t *a)
{
	return a->is_lock ? 0.0 : FUSEFS_ATTR_TIMEOUT;
}

static void reply_entry(fuse_req_t req, const memdb_attr_t *a)
{
	struct fuse_entry_param e = {0};

	e.ino = a->inode;
	e.attr_timeout = attr_timeout_for(a);
	e.entry_timeout = entry_timeout_for(FS(req), a);
	fill_stat(FS(req), a, &e.attr);
	fuse_reply_entry(req, &e);
}

static void reply_virtual_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e = {0};

	e.ino = ino;
	virtual_stat(FS(req), ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void reply_attr(fuse_req_t req, const memdb_attr_t *a)
{
	struct stat st;

	fill_stat(FS(req), a, &st);
	fuse_reply_attr(req, &st, attr_timeout_for(a));
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	/* O_TRUNC arrives with open: one request less for every rewrite. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Writes must reach the tree before write(2) returns. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Outside a cluster the kernel knows of every change: a file's
	 * modification time, which it sets itself at a write, differing from
	 * the stored one must not cost it the pages pagefill gave it. */
	if (((fusefs_t *)userdata)->pagefill)
		conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	memdb_attr_t a;

	if (parent == FUSE_ROOT_ID) {
		vfile_id_t v = vfiles_lookup(name);
		int l = link_lookup(name);
		if (v != VFILE_COUNT)
			return reply_virtual_entry(req, vfile_ino(v));
		if (l >= 0)
			return reply_virtual_entry(req, link_ino((link_id_t)l));
	}
	int res = allowed(req, parent, X_OK);
	if (res == 0)
		res = memdb_lookup(FS(req)->mdb, parent, name, &a);
	if (res == 0 && a.type == MEMDB_REG && writeseq_settle(FS(req)->ws, a.inode))
		res = memdb_getattr(FS(req)->mdb, a.inode, &a);
	if (res < 0)
		fuse_reply_err(req, -res);
	else
		reply_entry(req, &a);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	if (FS(req)->pagefill)
		pagefill_forget(FS(req)->pagefill, ino);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	for (size_t i = 0; FS(req)->pagefill && i < count; i++)
		pagefill_forget(FS(req)->pagefill, forgets[i].ino);
	fuse_reply_none(req);
}

static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	fuse_reply_err(req, -allowed(req, ino, mask & (R_OK | W_OK | X_OK)));
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	memdb_attr_t a;
	struct stat st;

	if (ino >= VINO_BASE) {
		virtual_stat(FS(req), ino, &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	int res = getattr_settled(FS(req), ino, &a);
	if (res < 0) {
		fuse_reply_err(req, -res);
		return;
	}
	reply_attr(req, &a);
}

/* chmod and chown succeed only when they ask for what is already there:
 * cp -p, rsync and editors do that, and must not fail; anything else would
 * be a promise the file system cannot keep. */
static int check_owner_mode(fusefs_t *fs, const memdb_attr_t *a, const struct stat *attr,
			    int to_set)
{
	if ((to_set & FUSE_SET_ATTR_MODE) && (attr->st_mode & 07777) != (mode_of(a) & 07777))
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_UID) && attr->st_uid != 0)
		return -EPERM;
	if ((to_set & FUSE_SET_ATTR_GID) && attr->st_gid != fs->gid)
		return -EPERM;
	return 0;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	fusefs_t *fs = FS(req);
	memdb_attr_t a;
	int res;

	if (ino >= VINO_BASE) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if ((res = memdb_getattr(fs->mdb, ino, &a)) < 0)
		goto out;
	/* chown(f, -1, -1) changes nothing but the ctime, which the tree does
	 * not keep: on every file system it succeeds for anybody. */
	if (!(to_set & ~FUSE_SET_ATTR_CTIME))
		goto out;
	/* Only the owner, root, may change modes, owners and set times;
	 * truncating and touching need write access. */
	if (!is_root(req)) {
		bool set_times =
		    ((to_set & FUSE_SET_ATTR_ATIME) && !(to_set & FUSE_SET_ATTR_ATIME_NOW)) ||
		    ((to_set & FUSE_SET_ATTR_MTIME) && !(to_set & FUSE_SET_ATTR_MTIME_NOW));
		res = (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) ||
			      set_times
			  ? -EPERM
			  : mode_allowed(req, mode_of(&a), W_OK);
		if (res < 0)
			goto out;
	}
	if ((res = check_owner_mode(fs, &a, attr, to_set)) < 0)
		goto out;
	/* Size and times set after an O_TRUNC open apply to the truncated
	 * file (cp --preserve sets the times of what it copied). */
	if (a.type == MEMDB_REG && (res = writeseq_send_truncation(fs->ws, ino)) < 0)
		goto out;
	if (to_set & FUSE_SET_ATTR_SIZE) {
		retry_t r = {.kind = RETRY_SETATTR,
			     .req = req,
			     .ino = ino,
			     .attr = *attr,
			     .to_set = to_set,
			     .has_fi = fi != NULL};
		if (fi)
			r.fi = *fi;
		if (!writer_begin(fs, ino, &r))
			return;
		/* ftruncate(2) is a change inside an open file; truncate(2)
		 * has no close to confirm it. */
		res = writeseq_change(
		    fs->ws,
		    (fsop_t){.kind = FSOP_TRUNCATE, .inode = ino, .size = (uint64_t)attr->st_size},
		    NULL, fi != NULL);
		writer_end(fs, ino);
		if (res < 0)
			goto out;
	}
	if (to_set & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_MTIME_NOW)) {
		uint32_t t = (to_set & FUSE_SET_ATTR_MTIME_NOW) ? now() : (uint32_t)attr->st_mtime;
		res = submit(fs,
			     (fsop_t){.kind = FSOP_SET_MTIME,
				      .inode = ino,
				      .mtime = t,
				      .lock_version = memdb_lock_expired_version(fs->mdb, ino)},
			     NULL);
		/* Releasing a lock removes it: report it as it was. */
		if (res == 0 && a.is_lock && t == 0) {
			a.mtime = 0;
			reply_attr(req, &a);
			return;
		}
		if (res < 0)
			goto out;
	}
	res = getattr_settled(fs, ino, &a);
out:
	if (res < 0)
		fuse_reply_err(req, -res);
	else
		reply_attr(req, &a);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	if (!is_link(ino)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	fuse_reply_readlink(req, FS(req)->link_target[ino - link_ino(0)]);
}

bool fusefs_reserved_name(const char *name)
{
	return vfiles_lookup(name) != VFILE_COUNT || link_lookup(name) >= 0;
}

static bool reserved_name(fuse_ino_t parent, const char *name)
{
	return parent == FUSE_ROOT_ID && fusefs_reserved_name(name);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	fusefs_t *fs = FS(req);
	memdb_attr_t a;

	int res = allowed(req, parent, W_OK | X_OK);
	if (res == 0 && reserved_name(parent, name))
		res = -EEXIST;
	if (res < 0) {
		fuse_reply_err(req, -res);
		return;
	}
	/* mkdir on a lock this node saw expire takes it over; every member
	 * checks that it did not change since (memdb_mkdir_lock). */
	uint64_t lock_version = memdb_lookup(fs->mdb, parent, name, &a) == 0
				    ? memdb_lock_expired_version(fs->mdb, a.inode)
				    : 0;
	res = submit(
	    fs,
	    (fsop_t){
		.kind = FSOP_MKDIR, .parent = parent, .name = name, .lock_version = lock_version},
	    &a);
	if (res < 0)
		fuse_reply_err(req, -res);
	else
		reply_entry(req, &a);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	fusefs_t *fs = FS(req);
	memdb_attr_t a;

	/* The tree holds files and directories only; as everywhere, the
	 * permission to create in parent is checked first. */
	int res = allowed(req, parent, W_OK | X_OK);
	if (res == 0 && !S_ISREG(mode))
		res = -EPERM;
	if (res == 0 && reserved_name(parent, name))
		res = -EEXIST;
	if (res < 0) {
		fuse_reply_err(req, -res);
		return;
	}
	res = submit(fs, (fsop_t){.kind = FSOP_CREATE, .parent = parent, .name = name}, &a);
	if (res < 0)
		fuse_reply_err(req, -res);
	else
		reply_entry(req, &a);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	fusefs_t *fs = FS(req);
	memdb_attr_t a;
	struct fuse_entry_param e = {0};

	int res = allowed(req, parent, W_OK | X_OK);
	if (res == 0 && reserved_name(parent, name))
		res = -EEXIST;
	if (res < 0) {
		fuse_reply_err(req, -res);
		return;
	}
	/* Answered once ordered: its EEXIST is final then, and its
	 * durability comes with the file's close. */
	res = submit_in_file(fs, (fsop_t){.kind = FSOP_CREATE, .parent = parent, .name = name}, &a);
	/* Another writer (another node, whose change the kernel has not seen)
	 * created the name since the kernel looked it up: without O_EXCL that
	 * is an open of the existing file, as it would have been a moment
	 * earlier. */
	bool existing = res == -EEXIST && !(fi->flags & O_EXCL) &&
			(res = memdb_lookup(fs->mdb, parent, name, &a)) == 0;
	if (existing && a.type == MEMDB_DIR)
		res = -EISDIR;
	if (res < 0) {
		fuse_reply_err(req, -res);
		return;
	}
	if (!writer_begin(fs, a.inode,
			  &(retry_t){.kind = RETRY_CREATE,
				     .req = req,
				     .ino = parent,
				     .name = (char *)name,
				     .mode = mode,
				     .fi = *fi,
				     .has_fi = true}))
		return;
	if (existing && (fi->flags & O_TRUNC) && a.size &&
	    ((res = submit_in_file(fs, (fsop_t){.kind = FSOP_TRUNCATE, .inode = a.inode}, NULL)) <
		 0 ||
	     (res = memdb_getattr(fs->mdb, a.inode, &a)) < 0)) {
		writer_end(fs, a.inode);
		fuse_reply_err(req, -res);
		return;
	}
	e.ino = a.inode;
	e.attr_timeout = attr_timeout_for(&a);
	e.entry_timeout = entry_timeout_for(fs, &a);
	fill_stat(fs, &a, &e.attr);
	fi->fh = writeseq_open(fs->ws, a.inode, false, fs->pagefill != NULL);
	fi->keep_cache = fs->sole_writer;
	/* In a cluster the close confirms what was written. */
	fi->noflush = !fs->replica;
	memdb_hold(fs->mdb, a.inode);
	if (fuse_reply_create(req, &e, fi) != 0) {
		memdb_unhold(fs->mdb, a.inode);
		writer_end(fs, a.inode);
	}
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fusefs_t *fs = FS(req);

	int res = allowed(req, parent, W_OK | X_OK);
	if (res == 0 && reserved_name(parent, name))
		res = -EPERM;
	if (res == 0)
		res =
		    submit(fs, (fsop_t){.kind = FSOP_UNLINK, .parent = parent, .name = name}, NULL);
	fuse_reply_err(req, -res);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fusefs_t *fs = FS(req);

	int res = allowed(req, parent, W_OK | X_OK);
	if (res == 0)
		res =
		    submit(fs, (fsop_t){.kind = FSOP_RMDIR, .parent = parent, .name = name}, NULL);
	fuse_reply_err(req, -res);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	fusefs_t *fs = FS(req);

	if (flags & ~RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	int res = allowed(req, parent, W_OK | X_OK);
	if (res == 0)
		res = allowed(req, newparent, W_OK | X_OK);
	if (res < 0) {
		fuse_reply_err(req, -res);
		return;
	}
	if (reserved_name(parent, name) || reserved_name(newparent, newname)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fuse_reply_err(req, -submit(fs,
				    (fsop_t){.kind = FSOP_RENAME,
					     .parent = parent,
					     .name = name,
					     .newparent = newparent,
					     .newname = newname,
					     .noreplace = flags & RENAME_NOREPLACE},
				    NULL));
}

/* No links in the tree: EPERM, once the caller may create in the
 * directory at all (EACCES first, as a kernel file system answers). */
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	int res = allowed(req, parent, W_OK | X_OK);

	fuse_reply_err(req, res < 0 ? -res : EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	int res = allowed(req, newparent, W_OK | X_OK);

	fuse_reply_err(req, res < 0 ? -res : EPERM);
}

static void open_virtual(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE;
	vfile_id_t id = (vfile_id_t)(ino - VINO_BASE);

	if (is_link(ino)) {
		fuse_reply_err(req, ELOOP);
		return;
	}
	int res = allowed(req, ino, open_mask(fi->flags));
	if (res == 0 && acc != O_RDONLY && id != VFILE_DEBUG)
		res = -EACCES;
	if (res < 0) {
		fuse_reply_err(req, -res);
		return;
	}
	obuf_t *vo = obuf_new(FS(req));
	vo->data = vfiles_render(FS(req)->vfiles, id, &vo->len);
	fi->fh = (uint64_t)(uintptr_t)vo;
	fi->direct_io = 1;
	fi->nonseekable = 0;
	if (fuse_reply_open(req, fi) != 0)
		obuf_release(FS(req), vo);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fusefs_t *fs = FS(req);
	memdb_attr_t a;
	int res;

	if (ino >= VINO_BASE)
		return open_virtual(req, ino, fi);
	/* Held first: a file the kernel found by its name that another node
	 * renamed over or removed since is still opened, as it would have
	 * been a moment earlier (memdb_hold). */
	memdb_hold(fs->mdb, ino);
	if ((res = memdb_getattr(fs->mdb, ino, &a)) < 0) {
		memdb_unhold(fs->mdb, ino);
		/* Removed long enough ago to be forgotten: ESTALE makes the
		 * kernel look the name up again once and open what is there
		 * now. */
		fuse_reply_err(req, res == -ENOENT ? ESTALE : -res);
		return;
	}
	if (a.type == MEMDB_DIR) {
		res = -EISDIR;
		goto fail;
	}
	if ((res = mode_allowed(req, mode_of(&a), open_mask(fi->flags))) < 0)
		goto fail;
	bool writer = fs->pagefill && (fi->flags & O_ACCMODE) != O_RDONLY;
	if (writer &&
	    !writer_begin(fs, ino,
			  &(retry_t){.kind = RETRY_OPEN, .req = req, .ino = ino, .fi = *fi})) {
		/* Answered, or retried from the start once the writer may go. */
		memdb_unhold(fs->mdb, ino);
		return;
	}
	bool defer = false;
	if ((fi->flags & O_TRUNC) && (fi->flags & O_ACCMODE) != O_RDONLY && a.size) {
		if (fs->replica) {
			/* Refused here, as an immediate truncation would be. */
			if (!replica_may_write(fs->replica)) {
				res = -EACCES;
				goto fail;
			}
			defer = true;
		} else if ((res = submit(fs, (fsop_t){.kind = FSOP_TRUNCATE, .inode = ino}, NULL)) <
			   0) {
			if (writer)
				writer_end(fs, ino);
			goto fail;
		}
	}
	fi->fh = writeseq_open(fs->ws, ino, defer, writer);
	fi->keep_cache = fs->sole_writer;
	if (fs->pagefill && !writer)
		pagefill_reader_open(fs->pagefill, ino);
	/* At close a deferred truncation is sent, and in a cluster what was
	 * written is confirmed. */
	fi->noflush = !defer && !(fs->replica && (fi->flags & O_ACCMODE) != O_RDONLY);
	if (fuse_reply_open(req, fi) != 0) {
		/* The opener is gone: the kernel dropped nothing of this. */
		memdb_unhold(fs->mdb, ino);
		writeseq_open_failed(fs->ws, ino, fi->fh);
		if (writer)
			writer_end(fs, ino);
	}
	return;
fail:
	memdb_unhold(fs->mdb, ino);
	fuse_reply_err(req, -res);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	if (ino >= VINO_BASE) {
		obuf_t *vo = (obuf_t *)(uintptr_t)fi->fh;
		if (!vo || off < 0 || (size_t)off >= vo->len)
			fuse_reply_buf(req, NULL, 0);
		else
			reply_copy(req, vo->data + off, MIN(size, vo->len - (size_t)off));
		return;
	}
	if (fi && writeseq_handle_stale(FS(req)->ws, fi->fh)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	if (writeseq_truncation_pending(FS(req)->ws, ino)) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* The kernel asks for whole read-ahead windows; the files are small. */
	memdb_attr_t a;
	int res = getattr_settled(FS(req), ino, &a);
	if (res < 0) {
		fuse_reply_err(req, -res);
		return;
	}
	size = (uint64_t)off >= a.size ? 0 : MIN(size, a.size - (uint64_t)off);
	char *buf = g_malloc(MAX(size, 1));
	ssize_t n = memdb_read(FS(req)->mdb, ino, (uint64_t)off, size, buf);
	if (n < 0)
		fuse_reply_err(req, (int)-n);
	else
		fuse_reply_buf(req, buf, (size_t)n);
	g_free(buf);
}

static void write_debug(fuse_req_t req, const char *buf, size_t size)
{
	g_autofree char *s = g_strndup(buf, size);

	g_strstrip(s);
	if (strcmp(s, "1") == 0 || strcmp(s, "0") == 0) {
		bool on = s[0] == '1';
		log_set_debug(on);
		log_notice("debug logging %s", on ? "enabled" : "disabled");
		fuse_reply_write(req, size);
	} else {
		fuse_reply_err(req, EINVAL);
	}
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	fusefs_t *fs = FS(req);

	if (ino == vfile_ino(VFILE_DEBUG))
		return write_debug(req, buf, size);
	if (ino >= VINO_BASE) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (fi && writeseq_handle_stale(fs->ws, fi->fh)) {
		fuse_reply_err(req, ESTALE);
		return;
	}
	int res = writeseq_write(fs->ws, ino, buf, size, off);
	if (res < 0)
		fuse_reply_err(req, -res);
	else
		fuse_reply_write(req, (size_t)res);
}

/* close(2) of a handle open for writing in a cluster (noflush otherwise):
 * a deferred truncation is sent, and what the file's writes changed is
 * confirmed by a quorum before close returns; it returns the error they
 * met. Outside a cluster nothing is deferred: ENOSYS stops the kernel from
 * asking. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fusefs_t *fs = FS(req);

	if (!fs->replica) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if (ino >= VINO_BASE) {
		fuse_reply_err(req, 0);
		return;
	}
	fuse_reply_err(req, -writeseq_flush(fs->ws, ino));
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	fusefs_t *fs = FS(req);

	if (ino >= VINO_BASE) {
		fuse_reply_err(req, 0);
		return;
	}
	fuse_reply_err(req, -writeseq_flush(fs->ws, ino));
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino >= VINO_BASE) {
		obuf_release(FS(req), (obuf_t *)(uintptr_t)fi->fh);
	} else {
		fusefs_t *fs = FS(req);
		writeseq_release(fs->ws, ino, fi->fh);
		if (writeseq_handle_writer(fi->fh))
			writer_end(fs, ino);
		memdb_unhold(fs->mdb, ino);
	}
	fuse_reply_err(req, 0);
}

static void dirbuf_add(fuse_req_t req, obuf_t *b, const char *name, fuse_ino_t ino, mode_t mode)
{
	struct stat st = {.st_ino = ino, .st_mode = mode};
	size_t old = b->len;
	size_t need = fuse_add_direntry(req, NULL, 0, name, NULL, 0);

	b->len += need;
	b->data = g_realloc(b->data, b->len);
	fuse_add_direntry(req, b->data + old, need, name, &st, (off_t)b->len);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fusefs_t *fs = FS(req);
	GPtrArray *ents = NULL;
	memdb_attr_t a;
	int res;

	if ((res = memdb_getattr(fs->mdb, ino, &a)) < 0 ||
	    (res = mode_allowed(req, mode_of(&a), R_OK)) < 0 ||
	    (res = memdb_readdir(fs->mdb, ino, &ents)) < 0) {
		fuse_reply_err(req, -res);
		return;
	}
	obuf_t *b = obuf_new(fs);
	dirbuf_add(req, b, ".", ino, S_IFDIR);
	dirbuf_add(req, b, "..", ino == FUSE_ROOT_ID ? ino : a.parent, S_IFDIR);
	for (guint i = 0; i < ents->len; i++) {
		memdb_dirent_t *d = ents->pdata[i];
		dirbuf_add(req, b, d->name, d->inode, d->type == MEMDB_DIR ? S_IFDIR : S_IFREG);
	}
	memdb_dirents_free(ents);
	if (ino == FUSE_ROOT_ID) {
		for (int i = 0; i < VFILE_COUNT; i++)
			dirbuf_add(req, b, vfiles_name((vfile_id_t)i), vfile_ino((vfile_id_t)i),
				   S_IFREG);
		for (int i = 0; i < LINK_COUNT; i++)
			dirbuf_add(req, b, link_names[i], link_ino((link_id_t)i), S_IFLNK);
	}
	fi->fh = (uint64_t)(uintptr_t)b;
	if (fuse_reply_open(req, fi) != 0)
		obuf_release(fs, b);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	obuf_t *b = (obuf_t *)(uintptr_t)fi->fh;

	if (!b || off < 0 || (size_t)off >= b->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* Entries were packed with their end offset as cookie: cut at an entry
	 * boundary so that a short buffer never splits one. */
	size_t end = (size_t)off;
	while (end < b->len) {
		const struct packed_dirent {
			uint64_t ino;
			uint64_t off;
			uint32_t namelen;
			uint32_t type;
		} *d = (const void *)(b->data + end);
		size_t next = (size_t)d->off;
		if (next - (size_t)off > size)
			break;
		end = next;
	}
	reply_copy(req, b->data + off, end - (size_t)off);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	obuf_release(FS(req), (obuf_t *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	memdb_usage_t u;
	memdb_limits_t l;
	struct statvfs st = {0};

	memdb_usage(FS(req)->mdb, &u);
	memdb_get_limits(FS(req)->mdb, &l);
	st.f_bsize = st.f_frsize = 4096;
	st.f_blocks = l.max_fs_size / 4096;
	st.f_bfree = st.f_bavail = (l.max_fs_size - MIN(u.bytes, l.max_fs_size)) / 4096;
	st.f_files = l.max_inodes;
	st.f_ffree = st.f_favail = l.max_inodes - MIN(u.inodes, l.max_inodes);
	st.f_namemax = MEMDB_MAX_NAME;
	fuse_reply_statfs(req, &st);
}

static void retry_run(void *data)
{
	retry_t *r = data;

	switch (r->kind) {
	case RETRY_OPEN:
		op_open(r->req, r->ino, &r->fi);
		break;
	case RETRY_CREATE:
		op_create(r->req, r->ino, r->name, r->mode, &r->fi);
		break;
	case RETRY_SETATTR:
		op_setattr(r->req, r->ino, &r->attr, r->to_set, r->has_fi ? &r->fi : NULL);
		break;
	}
	g_free(r->name);
	g_free(r);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .access = op_access,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .fsync = op_fsync,
    .release = op_release,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .statfs = op_statfs,
    .create = op_create,
};

static gid_t www_data_gid(void)
{
	struct group *g = getgrnam("www-data");
	return g ? g->gr_gid : WWW_DATA_GID_FALLBACK;
}

fusefs_t *fusefs_new(const fusefs_config_t *cfg, GError **err)
{
	fusefs_t *fs = g_new0(fusefs_t, 1);
	char *argv[] = {"pmxcfsd", "-o", "allow_other,noatime,fsname=pmxcfsd",
			cfg->debug ? "-d" : NULL, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(cfg->debug ? 4 : 3, argv);

	fs->mdb = cfg->mdb;
	fs->vfiles = cfg->vfiles;
	fs->nodeid = cfg->nodeid;
	fs->sole_writer = cfg->sole_writer;
	fs->replica = cfg->replica;
	fs->cache_timeout =
	    cfg->sole_writer ? FUSEFS_SOLE_CACHE_TIMEOUT : FUSEFS_SHARED_ENTRY_TIMEOUT;
	fs->gid = www_data_gid();
	g_mutex_init(&fs->bufs_lock);
	fs->bufs = g_hash_table_new_full(g_direct_hash, g_direct_equal, obuf_free, NULL);
	fs->ws = writeseq_new(&(writeseq_config_t){.mdb = fs->mdb,
						   .nodeid = fs->nodeid,
						   .sink = fs->replica ? &replica_sink : NULL,
						   .sink_ctx = fs->replica});
	fs->mountpoint = g_strdup(cfg->mountpoint);
	for (int i = 0; i < LINK_COUNT; i++)
		fs->link_target[i] = g_strdup_printf("nodes/%s%s", cfg->nodename, link_suffix[i]);
	fs->se = fuse_session_new(&args, &ops, sizeof(ops), fs);
	fuse_opt_free_args(&args);
	if (!fs->se) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
			    "%s: cannot create the FUSE session", cfg->mountpoint);
		goto fail;
	}
	if (fuse_session_mount(fs->se, fs->mountpoint) != 0) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
			    "%s: cannot mount the FUSE file system (is /dev/fuse there and "
			    "the directory free?)",
			    cfg->mountpoint);
		goto fail;
	}
	fs->mounted = true;
	if (fs->sole_writer)
		fs->pagefill = pagefill_new(fs->se, fs->mdb);
	return fs;
fail:
	fusefs_free(fs);
	return NULL;
}

static gpointer loop_thread(gpointer p)
{
	fusefs_t *fs = p;

	int res = fuse_session_loop_mt(fs->se, fs->loop_cfg);
	if (res < 0)
		log_err("%s: FUSE loop ended: %s", fs->mountpoint, g_strerror(-res));
	return NULL;
}

bool fusefs_start(fusefs_t *fs, GError **err)
{
	fs->loop_cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(fs->loop_cfg, FUSEFS_MAX_THREADS);
	fuse_loop_cfg_set_idle_threads(fs->loop_cfg, FUSEFS_MAX_IDLE_THREADS);
	fs->thread = g_thread_try_new("fuse", loop_thread, fs, err);
	return fs->thread != NULL;
}

/* Attributes only: dropping cached pages would wait for page locks that a
 * local writer holds while it waits for this very thread to confirm it. An
 * open drops a file's cached pages anyway (no keep_cache in a cluster). */
static void inval(fusefs_t *fs, uint64_t ino)
{
	if (ino && ino < VINO_BASE)
		fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
}

static void inval_name(fusefs_t *fs, uint64_t parent, const char *name)
{
	memdb_attr_t a;

	if (name && memdb_lookup(fs->mdb, parent, name, &a) == 0)
		inval(fs, a.inode);
}

void fusefs_invalidate(fusefs_t *fs, const fsop_t *op)
{
	if (!fs || !fs->mounted)
		return;
	if (!op || op->kind == FSOP_ENSURE_LAYOUT) {
		g_autoptr(GArray) all = memdb_inodes(fs->mdb);
		for (guint i = 0; i < all->len; i++)
			inval(fs, g_array_index(all, uint64_t, i));
		return;
	}
	inval(fs, op->inode);
	inval(fs, op->parent);
	if (op->kind == FSOP_UNLINK || op->kind == FSOP_RENAME) {
		/* A file this node holds open may just have left the tree: its
		 * cached link count must not say it is still there. Few are
		 * held, and fewer removed. */
		g_autoptr(GArray) gone = memdb_orphans(fs->mdb);
		for (guint i = 0; i < gone->len; i++)
			inval(fs, g_array_index(gone, uint64_t, i));
	}
	if (op->kind == FSOP_RENAME) {
		inval(fs, op->newparent);
		inval_name(fs, op->newparent, op->newname);
	}
}

void fusefs_free(fusefs_t *fs)
{
	if (!fs)
		return;
	if (fs->se) {
		fuse_session_exit(fs->se);
		/* Unmounting aborts the connection; the workers' reads then fail
		 * and the loop returns. */
		if (fs->mounted)
			fuse_session_unmount(fs->se);
		if (fs->thread)
			g_thread_join(fs->thread);
		pagefill_free(fs->pagefill);
		fuse_session_destroy(fs->se);
	}
	if (fs->loop_cfg)
		fuse_loop_cfg_destroy(fs->loop_cfg);
	for (int i = 0; i < LINK_COUNT; i++)
		g_free(fs->link_target[i]);
	writeseq_free(fs->ws);
	/* Whatever the kernel left open when the mount went away. */
	if (fs->bufs)
		g_hash_table_destroy(fs->bufs);
	g_mutex_clear(&fs->bufs_lock);
	g_free(fs->mountpoint);
	g_free(fs);
}
