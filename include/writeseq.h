#ifndef PVECM_WRITESEQ_H
#define PVECM_WRITESEQ_H

/* Write sequencing of open files, between the kernel's requests (fusefs)
 * and the tree or the replication engine: which changes are answered once
 * ordered and which once confirmed, what an O_TRUNC open defers and
 * coalesces with the first write, what a close confirms, and the handle
 * numbers that say what an open did. Changes of a file that left the tree
 * while held open stay on this node (memdb orphans). Thread safe. */

#include "fsop.h"
#include "memdb.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct writeseq writeseq_t;

/* How long a change sent to the cluster is waited for. */
typedef enum {
	WRITESEQ_CONFIRMED, /* until a quorum confirmed it */
	WRITESEQ_ORDERED,   /* until applied here: its result is final */
	WRITESEQ_SENT,	    /* until handed out: 0, its result goes to the barrier */
} writeseq_wait_t;

/* Where changes go in a cluster (NULL in local mode: applied at once). */
typedef struct {
	/* Sends op to every member and waits as wait says; the result as
	 * treebind_submit. */
	int (*submit)(void *ctx, const fsop_t *op, memdb_attr_t *attr, writeseq_wait_t wait);
	/* Waits until the changes of inode sent so far are confirmed: 0, or
	 * the first error one of them met since the last barrier. */
	int (*barrier)(void *ctx, uint64_t inode);
	/* Waits until the changes of inode sent so far are applied here;
	 * whether there were any not applied yet. */
	bool (*settle)(void *ctx, uint64_t inode);
} writeseq_sink_t;

typedef struct {
	memdb_t *mdb;
	uint32_t nodeid; /* the writer of every change */
	const writeseq_sink_t *sink;
	void *sink_ctx;
} writeseq_config_t;

writeseq_t *writeseq_new(const writeseq_config_t *cfg);
void writeseq_free(writeseq_t *ws);

/* A change. in_file: a change inside an open file (a create with its
 * open, a write, an ftruncate), answered once ordered; the file's close
 * or fsync confirms it. Anything else is answered once confirmed. */
int writeseq_change(writeseq_t *ws, fsop_t op, memdb_attr_t *attr, bool in_file);

/* The handle number of an open of ino. defer: an O_TRUNC open of a file
 * that is not empty, in a cluster: its truncation waits for the first
 * write, another change or the close. writer: the caller holds a page
 * cache writer reference for it (see writeseq_handle_writer). */
uint64_t writeseq_open(writeseq_t *ws, uint64_t ino, bool defer, bool writer);
/* The open was not answered after all: what it deferred is dropped. */
void writeseq_open_failed(writeseq_t *ws, uint64_t ino, uint64_t fh);
/* Whether the tree was replaced since fh was opened: its inode number may
 * name another file now. */
bool writeseq_handle_stale(writeseq_t *ws, uint64_t fh);
bool writeseq_handle_writer(uint64_t fh);

/* Whether an O_TRUNC open's truncation of ino is still to be sent: until
 * then this node reads the file as empty. */
bool writeseq_truncation_pending(writeseq_t *ws, uint64_t ino);
/* Sends it, if pending: before any other change of the file. */
int writeseq_send_truncation(writeseq_t *ws, uint64_t ino);

/* A write: with a truncation pending, at offset 0 it becomes the file's
 * new content in one change; elsewhere the truncation goes first. In a
 * cluster it returns once sent, before it is ordered: an error it meets
 * there (ENOSPC, lost quorum) fails the file's next flush. EFBIG, which
 * does not depend on what other nodes do, is answered at once. The byte
 * count or a negative errno. */
int writeseq_write(writeseq_t *ws, uint64_t ino, const void *buf, size_t size, off_t off);

/* Before this node reads or stats ino: its writes still on their way
 * are applied here first. Whether it waited for any (the file's
 * attributes may have changed). */
bool writeseq_settle(writeseq_t *ws, uint64_t ino);

/* close(2) and fsync(2): a pending truncation sent, and every ordered
 * change of ino confirmed. 0 or the first error. */
int writeseq_flush(writeseq_t *ws, uint64_t ino);
/* The last close of a handle: a truncation it deferred and could not send
 * at the flush is tried once more. */
void writeseq_release(writeseq_t *ws, uint64_t ino, uint64_t fh);

#endif
