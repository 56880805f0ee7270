/* The read-only JSON files at the root of /etc/pve, rendered on open from
 * the tree and the daemon's state, in the reference's key names. */
#ifndef PVECM_VFILES_H
#define PVECM_VFILES_H

#include "clusterlog.h"
#include "memdb.h"
#include "replica.h"

#include <stddef.h>
#include <time.h>

typedef enum {
	VFILE_VERSION,
	VFILE_MEMBERS,
	VFILE_VMLIST,
	VFILE_CLUSTERLOG,
	VFILE_DEBUG,
	VFILE_COUNT,
} vfile_id_t;

typedef struct vfiles vfiles_t;

/* nodename and ip describe this node (ip may be empty when unknown). */
vfiles_t *vfiles_new(memdb_t *mdb, clusterlog_t *log, const char *nodename, const char *ip,
		     time_t starttime);
void vfiles_free(vfiles_t *vf);
/* In cluster mode: .members lists the configured nodes and who is online. */
void vfiles_set_replica(vfiles_t *vf, replica_t *r);

/* The file's name at the root ("." prefixed), or NULL. */
const char *vfiles_name(vfile_id_t id);
/* VFILE_COUNT when name is not a virtual file. */
vfile_id_t vfiles_lookup(const char *name);

/* The content as it is now; g_free() it. */
char *vfiles_render(vfiles_t *vf, vfile_id_t id, size_t *len);

#endif
