#include "fileio.h"

#include <errno.h>
#include <unistd.h>

bool fileio_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return false;
		}
		p += n;
		len -= (size_t)n;
	}
	return true;
}

bool fileio_restore(const char *path, const void *old, size_t len, int mode, GError **err)
{
	if (old)
		return g_file_set_contents_full(path, old, (gssize)len,
						G_FILE_SET_CONTENTS_CONSISTENT, mode, err);
	if (unlink(path) == 0 || errno == ENOENT)
		return true;
	int e = errno;
	g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot remove %s: %s", path,
		    g_strerror(e));
	return false;
}
