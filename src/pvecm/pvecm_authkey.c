#include "pvecm_authkey.h"

#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <unistd.h>

static bool fail_errno(GError **err, const char *what, const char *path)
{
	int e = errno;

	g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(e), "%s %s: %s", what, path,
		    g_strerror(e));
	return false;
}

bool pvecm_authkey_create(const char *path, GError **err)
{
	unsigned char key[PVECM_AUTHKEY_BYTES];
	g_autofree char *tmp = g_strdup_printf("%s.tmp.%d", path, (int)getpid());
	g_autofree char *dir = g_path_get_dirname(path);
	bool ok = false;
	int fd;

	if (access(path, F_OK) == 0) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_EXIST,
			    "authentication key '%s' already exists - remove it first if it is "
			    "not used",
			    path);
		return false;
	}
	if (RAND_bytes(key, sizeof(key)) != 1) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_FAILED,
			    "cannot gather random bytes for %s: %s", path,
			    ERR_error_string(ERR_get_error(), NULL));
		return false;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
	if (fd < 0)
		return fail_errno(err, "cannot create", tmp);
	if (!fileio_write_all(fd, key, sizeof(key)) || fsync(fd) < 0) {
		fail_errno(err, "cannot write", tmp);
		close(fd);
	} else if (close(fd) < 0) {
		fail_errno(err, "cannot write", tmp);
	} else if (link(tmp, path) < 0) {
		/* link() fails if a key appeared meanwhile: never replace one. */
		fail_errno(err, "cannot create", path);
	} else {
		ok = true;
	}
	unlink(tmp);
	OPENSSL_cleanse(key, sizeof(key));
	if (ok) {
		int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	return ok;
}
