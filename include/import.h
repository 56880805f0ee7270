/* Taking over the tree of Proxmox's own pmxcfs: its config.db (one table
 * "tree", one row per inode, inode 0 holding the tree's version) becomes a
 * new database of ours with the same inode numbers, versions, writers,
 * modification times and contents. The source is only read, never written
 * nor anything beside it. Every row is checked against the rules of our
 * tree; the rows that do not form one valid tree are refused one by one and
 * reported, the rest is taken. */
#ifndef PVECM_IMPORT_H
#define PVECM_IMPORT_H

#include "memdb.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* The reference's version row: inode 0, under this name. */
#define IMPORT_VERSION_NAME "__version__"

typedef struct import import_t;

typedef struct {
	uint64_t dirs;		 /* directories taken, the root not counted */
	uint64_t files;		 /* regular files taken */
	uint64_t bytes;		 /* the files' content */
	uint64_t refused;	 /* rows refused */
	uint64_t source_version; /* as the source's version row has it */
	uint64_t version;	 /* the global version of the new database */
} import_counts_t;

/* Reads and checks source against the limits (NULL: the defaults). NULL,
 * with one line naming source in err, when it is not a database of the
 * reference, is damaged, or its tree as a whole is beyond the limits. */
import_t *import_new(const char *source, const memdb_limits_t *limits, GError **err);
void import_free(import_t *imp);

void import_get_counts(const import_t *imp, import_counts_t *counts);
/* One line per refused row, "inode N (PATH): why", in inode order; the
 * path is the row's place in the source, or its name and parent when it
 * has none. Names are escaped for a terminal. */
const GPtrArray *import_refusals(const import_t *imp);
/* Lines about what was taken in another form than found (a directory's
 * data dropped, an inode renumbered, a source read from a copy). */
const GPtrArray *import_notes(const import_t *imp);

/* Whether a new database may be written at dbpath: nothing is there, nor
 * a journal of an earlier database beside it, and it is not the source. */
bool import_check_target(const import_t *imp, const char *dbpath, GError **err);
/* Writes the tree as a new database at dbpath, all or nothing: built
 * beside it under a temporary name, then linked into place, so an
 * existing dbpath is never replaced. The directory is made root's and
 * 0700, the file is 0600, as the daemon keeps them. */
bool import_write(const import_t *imp, const char *dbpath, GError **err);

#define IMPORT_ERROR (import_error_quark())
GQuark import_error_quark(void);

#endif
