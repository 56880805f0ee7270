/* Small file helpers that pvecm and pmxcfsd share. */
#ifndef PVECM_FILEIO_H
#define PVECM_FILEIO_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* Writes all len bytes to fd, resuming after short writes and EINTR.
 * False with errno set (EIO for a write that wrote nothing). */
bool fileio_write_all(int fd, const void *buf, size_t len);

/* Puts a file back as it was before a command changed it: old (len bytes)
 * written whole with mode, or, old NULL, no file there. For undoing. */
bool fileio_restore(const char *path, const void *old, size_t len, int mode, GError **err);

#endif
