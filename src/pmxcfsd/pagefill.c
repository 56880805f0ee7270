#include "pagefill.h"

#include "log.h"

#include <errno.h>
#include <string.h>

typedef struct {
	pagefill_retry_fn fn;
	void *data;
} retry_t;

struct pagefill {
	struct fuse_session *se;
	memdb_t *mdb;
	GMutex lock;
	GHashTable *writers; /* inode -> writer references (GUINT_TO_POINTER) */
	GHashTable *filled;  /* inodes whose pages were filled, unchanged since */
	/* One file is filled at a time: the filling may wait for page locks
	 * that readers hold while their reads wait for a worker thread, and
	 * it must never take more than one of those. */
	uint64_t filling;
	GArray *retries; /* retry_t: changes of `filling` handed back */
};

pagefill_t *pagefill_new(struct fuse_session *se, memdb_t *mdb)
{
	G_STATIC_ASSERT(sizeof(gpointer) >= sizeof(uint64_t));
	pagefill_t *pf = g_new0(pagefill_t, 1);

	pf->se = se;
	pf->mdb = mdb;
	g_mutex_init(&pf->lock);
	pf->writers = g_hash_table_new(g_direct_hash, g_direct_equal);
	pf->filled = g_hash_table_new(g_direct_hash, g_direct_equal);
	pf->retries = g_array_new(FALSE, FALSE, sizeof(retry_t));
	return pf;
}

void pagefill_free(pagefill_t *pf)
{
	if (!pf)
		return;
	/* Nothing is filled any more, so nothing can be handed back. */
	g_hash_table_destroy(pf->writers);
	g_hash_table_destroy(pf->filled);
	g_array_free(pf->retries, TRUE);
	g_mutex_clear(&pf->lock);
	g_free(pf);
}

static gpointer key_of(uint64_t ino)
{
	return (gpointer)(uintptr_t)ino;
}

static guint writers_of(pagefill_t *pf, uint64_t ino)
{
	return GPOINTER_TO_UINT(g_hash_table_lookup(pf->writers, key_of(ino)));
}

static void set_writers(pagefill_t *pf, uint64_t ino, guint n)
{
	if (n)
		g_hash_table_insert(pf->writers, key_of(ino), GUINT_TO_POINTER(n));
	else
		g_hash_table_remove(pf->writers, key_of(ino));
}

bool pagefill_writer_begin(pagefill_t *pf, uint64_t ino, pagefill_retry_fn retry,
			   pagefill_keep_fn keep, const void *change)
{
	g_mutex_lock(&pf->lock);
	if (pf->filling == ino) {
		retry_t r = {retry, keep(change)};
		g_array_append_val(pf->retries, r);
		g_mutex_unlock(&pf->lock);
		return false;
	}
	set_writers(pf, ino, writers_of(pf, ino) + 1);
	g_hash_table_remove(pf->filled, key_of(ino));
	g_mutex_unlock(&pf->lock);
	return true;
}

static void fill(pagefill_t *pf, uint64_t ino)
{
	memdb_attr_t a;

	if (memdb_getattr(pf->mdb, ino, &a) < 0 || a.type != MEMDB_REG || a.size == 0)
		return;
	g_autofree char *buf = g_malloc(a.size);
	ssize_t n = memdb_read(pf->mdb, ino, 0, a.size, buf);
	if (n <= 0)
		return;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT((size_t)n);
	bv.buf[0].mem = buf;
	int res = fuse_lowlevel_notify_store(pf->se, ino, 0, &bv, 0);
	/* ENOENT: the kernel holds no inode for it any more. */
	if (res < 0 && res != -ENOENT)
		log_debug("inode %" G_GUINT64_FORMAT ": filling its pages failed: %s", (guint64)ino,
			  g_strerror(-res));
}

void pagefill_writer_end(pagefill_t *pf, uint64_t ino)
{
	g_mutex_lock(&pf->lock);
	guint n = writers_of(pf, ino);
	if (n)
		set_writers(pf, ino, n - 1);
	g_mutex_unlock(&pf->lock);
}

void pagefill_reader_open(pagefill_t *pf, uint64_t ino)
{
	g_mutex_lock(&pf->lock);
	if (pf->filling || writers_of(pf, ino) || g_hash_table_contains(pf->filled, key_of(ino))) {
		g_mutex_unlock(&pf->lock);
		return;
	}
	pf->filling = ino;
	g_mutex_unlock(&pf->lock);

	fill(pf, ino);

	g_mutex_lock(&pf->lock);
	pf->filling = 0;
	/* A change that came meanwhile was handed back, not made. */
	g_hash_table_add(pf->filled, key_of(ino));
	GArray *retries = pf->retries;
	pf->retries = g_array_new(FALSE, FALSE, sizeof(retry_t));
	g_mutex_unlock(&pf->lock);
	for (guint i = 0; i < retries->len; i++) {
		retry_t *r = &g_array_index(retries, retry_t, i);
		r->fn(r->data);
	}
	g_array_free(retries, TRUE);
}

void pagefill_forget(pagefill_t *pf, uint64_t ino)
{
	g_mutex_lock(&pf->lock);
	g_hash_table_remove(pf->filled, key_of(ino));
	g_mutex_unlock(&pf->lock);
}
