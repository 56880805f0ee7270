/* Small file helpers that pvecm and pmxcfsd share. */
#ifndef PVECM_FILEIO_H
#define PVECM_FILEIO_H

#include <stdbool.h>
#include <stddef.h>

/* Writes all len bytes to fd, resuming after short writes and EINTR.
 * False with errno set (EIO for a write that wrote nothing). */
bool fileio_write_all(int fd, const void *buf, size_t len);

#endif
