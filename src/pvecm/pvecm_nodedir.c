#include "pvecm_nodedir.h"

#include <errno.h>
#include <ftw.h>
#include <gio/gio.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const guest_dirs[] = {"qemu-server", "lxc", "openvz"};

static bool is_guest_conf(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot || strcmp(dot, ".conf") != 0 || dot == name)
		return false;
	for (const char *p = name; p < dot; p++)
		if (!g_ascii_isdigit(*p))
			return false;
	return true;
}

static gint by_string(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

GPtrArray *pvecm_nodedir_guests(const char *pve_dir, const char *name)
{
	GPtrArray *found = g_ptr_array_new_with_free_func(g_free);

	for (size_t i = 0; i < G_N_ELEMENTS(guest_dirs); i++) {
		g_autofree char *rel = g_build_filename("nodes", name, guest_dirs[i], NULL);
		g_autofree char *dir = g_build_filename(pve_dir, rel, NULL);
		g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
		const char *e;

		while (d && (e = g_dir_read_name(d)))
			if (is_guest_conf(e))
				g_ptr_array_add(found, g_build_filename(rel, e, NULL));
	}
	g_ptr_array_sort(found, by_string);
	return found;
}

static bool fail_errno(GError **err, int e, const char *what, const char *path)
{
	g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e), "%s %s: %s", what, path,
		    g_strerror(e));
	return false;
}

/* Copies the tree at from into the new directory to. */
static bool copy_tree(const char *from, const char *to, GError **err)
{
	g_autoptr(GDir) d = NULL;
	g_autoptr(GError) e = NULL;
	const char *name;

	if (mkdir(to, 0700) < 0)
		return fail_errno(err, errno, "cannot create", to);
	d = g_dir_open(from, 0, &e);
	if (!d) {
		g_propagate_error(err, g_steal_pointer(&e));
		return false;
	}
	while ((name = g_dir_read_name(d))) {
		g_autofree char *src = g_build_filename(from, name, NULL);
		g_autofree char *dst = g_build_filename(to, name, NULL);
		struct stat st;

		if (lstat(src, &st) < 0)
			return fail_errno(err, errno, "cannot read", src);
		if (S_ISDIR(st.st_mode)) {
			if (!copy_tree(src, dst, err))
				return false;
		} else if (S_ISREG(st.st_mode)) {
			g_autofree char *data = NULL;
			gsize len = 0;
			if (!g_file_get_contents(src, &data, &len, err) ||
			    !g_file_set_contents_full(dst, data, (gssize)len,
						      G_FILE_SET_CONTENTS_CONSISTENT, 0600, err))
				return false;
		}
	}
	return true;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

char *pvecm_nodedir_backup(const char *pve_dir, const char *name, const char *backup_root,
			   GError **err)
{
	g_autofree char *from = g_build_filename(pve_dir, "nodes", name, NULL);
	g_autofree char *leaf = g_strdup_printf("delnode-%s-%lld", name, (long long)time(NULL));
	g_autofree char *to = g_build_filename(backup_root, leaf, NULL);

	/* The copy holds the node's priv/: only root may enter. */
	if (g_mkdir_with_parents(backup_root, 0700) < 0 || chmod(backup_root, 0700) < 0) {
		fail_errno(err, errno, "cannot create", backup_root);
		return NULL;
	}
	if (!copy_tree(from, to, err)) {
		nftw(to, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		g_prefix_error(err, "cannot back up %s to %s: ", from, to);
		return NULL;
	}
	return g_steal_pointer(&to);
}
