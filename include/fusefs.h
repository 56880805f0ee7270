/* /etc/pve: the tree served over FUSE (low-level API, inode based), with the
 * reference's ownership, modes and virtual root entries. Requests are served
 * by libfuse's worker threads. */
#ifndef PVECM_FUSEFS_H
#define PVECM_FUSEFS_H

#include "fsop.h"
#include "memdb.h"
#include "replica.h"
#include "vfiles.h"

#include <glib.h>
#include <stdint.h>

typedef struct fusefs fusefs_t;

typedef struct {
	const char *mountpoint;
	const char *nodename; /* target of the local, qemu-server and lxc links */
	uint32_t nodeid;      /* recorded as the writer of local changes */
	memdb_t *mdb;
	replica_t *replica; /* cluster mode: mutations go through it; NULL: local */
	vfiles_t *vfiles;
	bool sole_writer; /* every change passes through this mount (not clustered) */
	bool debug;	  /* libfuse's own request tracing */
} fusefs_config_t;

/* Whether name, at the root of the tree, is one of the virtual files or
 * links the mount shows there: an entry of the tree by that name could be
 * neither created nor reached. */
bool fusefs_reserved_name(const char *name);

/* Mounts; the file system serves requests once fusefs_start() ran. */
fusefs_t *fusefs_new(const fusefs_config_t *cfg, GError **err);
/* Starts the worker threads. */
bool fusefs_start(fusefs_t *fs, GError **err);
/* In a cluster, after another member's op changed the tree (op NULL:
 * the whole tree was replaced): the kernel forgets the attributes it keeps
 * of the inodes concerned. Safe on NULL. */
void fusefs_invalidate(fusefs_t *fs, const fsop_t *op);
/* Unmounts, stops and joins the workers, frees. Safe on NULL and on a
 * file system that was never started. */
void fusefs_free(fusefs_t *fs);

#endif
