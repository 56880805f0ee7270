/* Outside a cluster every change passes through this mount, so the kernel
 * may keep files' pages across opens. A file's pages hold what its last
 * writer wrote only partly (the kernel reads a page back whole before it
 * trusts it), so when a file is opened for reading while nobody writes it,
 * its whole content is put into the page cache before the open returns:
 * that costs no round trip, a read request would, and a read leaves the
 * attributes stale (the access time) so that the next stat would need
 * another. Filled once; filled again only after a change.
 *
 * Filling a page must not race with a change of that file: content
 * snapshotted before a write and stored after it would hide the write. So
 * a change of content (an open for writing, a truncation) first takes a
 * writer reference here, and a file is filled only while it has none. A
 * change that arrives while its file is being filled is not made to wait
 * on a worker thread (the filling may itself wait for a read that needs
 * one): it is handed back, to be run again once the filling is done. */
#ifndef PVECM_PAGEFILL_H
#define PVECM_PAGEFILL_H

#include "memdb.h"

#include <fuse_lowlevel.h>
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct pagefill pagefill_t;

/* Runs a handed-back change again; called once, from another thread. */
typedef void (*pagefill_retry_fn)(void *data);
/* Keeps what a change needs to run again: called only when it is handed
 * back; what it returns goes to the retry. */
typedef void *(*pagefill_keep_fn)(const void *change);

pagefill_t *pagefill_new(struct fuse_session *se, memdb_t *mdb);
/* Safe on NULL; only once no request is served any more. */
void pagefill_free(pagefill_t *pf);

/* Takes a writer reference on ino. Returns false, taking nothing, when ino
 * is being filled: retry(keep(change)) is called once it is done. */
bool pagefill_writer_begin(pagefill_t *pf, uint64_t ino, pagefill_retry_fn retry,
			   pagefill_keep_fn keep, const void *change);
/* Drops a writer reference. */
void pagefill_writer_end(pagefill_t *pf, uint64_t ino);
/* An open for reading: fills ino's pages unless they are filled already,
 * somebody writes it, or another file is being filled. */
void pagefill_reader_open(pagefill_t *pf, uint64_t ino);
/* The kernel forgot ino, and with it its pages. */
void pagefill_forget(pagefill_t *pf, uint64_t ino);

#endif
