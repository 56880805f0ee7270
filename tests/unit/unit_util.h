/* Helpers the unit tests share (header only: each test is one program). */
#ifndef PVECM_UNIT_UTIL_H
#define PVECM_UNIT_UTIL_H

#include <glib.h>
#include <glib/gstdio.h>

/* Removes a test's scratch directory and everything in it, without
 * following symlinks out of it. */
static inline void unit_rm_tree(const char *path)
{
	GDir *d = g_dir_open(path, 0, NULL);
	const char *name;

	if (d) {
		while ((name = g_dir_read_name(d))) {
			g_autofree char *p = g_build_filename(path, name, NULL);
			if (g_file_test(p, G_FILE_TEST_IS_DIR) &&
			    !g_file_test(p, G_FILE_TEST_IS_SYMLINK))
				unit_rm_tree(p);
			else
				g_unlink(p);
		}
		g_dir_close(d);
	}
	g_rmdir(path);
}

#endif
