#include "mountguard.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

static int get_flags(int fd, int *flags)
{
	return ioctl(fd, FS_IOC_GETFLAGS, flags);
}

static unsigned count_entries(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	unsigned n = 0;

	while (d && g_dir_read_name(d))
		n++;
	return n;
}

static bool unsupported(int e)
{
	return e == ENOTTY || e == EOPNOTSUPP || e == EINVAL || e == ENOSYS;
}

mountguard_result_t mountguard_seal(const char *dir, unsigned *hidden, GError **err)
{
	int flags = 0, e;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

	if (hidden)
		*hidden = count_entries(dir);
	if (fd < 0) {
		e = errno;
		g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot open %s: %s",
			    dir, g_strerror(e));
		return MOUNTGUARD_FAILED;
	}
	if (get_flags(fd, &flags) == 0) {
		if (!(flags & FS_IMMUTABLE_FL)) {
			flags |= FS_IMMUTABLE_FL;
			if (ioctl(fd, FS_IOC_SETFLAGS, &flags) < 0)
				goto fail;
		}
		close(fd);
		return MOUNTGUARD_SEALED;
	}
fail:
	e = errno;
	close(fd);
	g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "cannot make %s immutable: %s",
		    dir, g_strerror(e));
	return unsupported(e) ? MOUNTGUARD_UNSUPPORTED : MOUNTGUARD_FAILED;
}

bool mountguard_is_sealed(const char *dir)
{
	int flags = 0;
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	bool sealed;

	if (fd < 0)
		return false;
	sealed = get_flags(fd, &flags) == 0 && (flags & FS_IMMUTABLE_FL);
	close(fd);
	return sealed;
}
