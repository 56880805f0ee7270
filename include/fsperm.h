/* Who may do what in /etc/pve. The kernel's own checks (the
 * default_permissions mount option) need a file's attributes fresh, and
 * every change in a directory makes the directory's stale: that cost a
 * request more for every create, rename, mkdir and removal. So the checks
 * are made here instead, against the reference's fixed ownership (owner
 * root, group www-data) and modes, as the kernel would make them. */
#ifndef PVECM_FSPERM_H
#define PVECM_FSPERM_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups, may be NULL */
	size_t ngroups;
} fsperm_caller_t;

/* 0 when caller may access a file of the given mode, owned by root and
 * group file_gid, for mask (R_OK, W_OK, X_OK or'ed); -EACCES otherwise.
 * root may do anything: execution is refused by the kernel itself. */
int fsperm_check(const fsperm_caller_t *caller, mode_t mode, gid_t file_gid, int mask);

#endif
