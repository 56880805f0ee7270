#include "fsperm.h"

#include <errno.h>
#include <stdbool.h>

static bool in_group(const fsperm_caller_t *c, gid_t gid)
{
	if (c->gid == gid)
		return true;
	for (size_t i = 0; c->groups && i < c->ngroups; i++)
		if (c->groups[i] == gid)
			return true;
	return false;
}

int fsperm_check(const fsperm_caller_t *caller, mode_t mode, gid_t file_gid, int mask)
{
	if (caller->uid == 0)
		return 0;
	/* The owner is root, and the caller is not. */
	unsigned bits = (unsigned)(in_group(caller, file_gid) ? mode >> 3 : mode) & 7;
	return (bits & (unsigned)mask) == (unsigned)mask ? 0 : -EACCES;
}
