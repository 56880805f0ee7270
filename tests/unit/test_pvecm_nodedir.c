/* Unit tests for a node's directory as delnode sees it
 * (include/pvecm_nodedir.h): which guest configurations it holds, and the
 * backup copy --force makes of it. */
#include "pvecm_nodedir.h"

#include <ftw.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void put(const char *dir, const char *rel, const char *text)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	g_autofree char *parent = g_path_get_dirname(path);

	g_assert_cmpint(g_mkdir_with_parents(parent, 0755), ==, 0);
	g_assert_true(g_file_set_contents(path, text, -1, NULL));
}

static void test_guests(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-nodedir-XXXXXX", NULL);

	put(dir, "nodes/n9/qemu-server/100.conf", "a");
	put(dir, "nodes/n9/lxc/101.conf", "b");
	put(dir, "nodes/n9/openvz/102.conf", "c");
	put(dir, "nodes/n9/qemu-server/notes.conf", "not a guest");
	put(dir, "nodes/n9/qemu-server/103.conf.tmp", "not a guest");
	put(dir, "nodes/n9/priv/104.conf", "not a guest dir");
	put(dir, "nodes/n8/qemu-server/200.conf", "another node");
	g_autoptr(GPtrArray) g = pvecm_nodedir_guests(dir, "n9");
	g_assert_cmpuint(g->len, ==, 3);
	g_assert_cmpstr(g->pdata[0], ==, "nodes/n9/lxc/101.conf");
	g_assert_cmpstr(g->pdata[1], ==, "nodes/n9/openvz/102.conf");
	g_assert_cmpstr(g->pdata[2], ==, "nodes/n9/qemu-server/100.conf");
	g_autoptr(GPtrArray) none = pvecm_nodedir_guests(dir, "n7");
	g_assert_cmpuint(none->len, ==, 0);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void test_backup(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-nodedir-XXXXXX", NULL);
	g_autofree char *root = g_build_filename(dir, "var/backup", NULL);
	g_autoptr(GError) err = NULL;

	put(dir, "nodes/n9/qemu-server/100.conf", "name: g1\n");
	put(dir, "nodes/n9/priv/key", "secret");
	g_autofree char *n9 = g_build_filename(dir, "nodes/n9/elsewhere", NULL);
	g_assert_cmpint(symlink("/etc", n9), ==, 0);
	g_autofree char *to = pvecm_nodedir_backup(dir, "n9", root, &err);
	g_assert_no_error(err);
	g_assert_nonnull(to);
	g_assert_true(g_str_has_prefix(to, root));
	g_autofree char *base = g_path_get_basename(to);
	g_assert_true(g_str_has_prefix(base, "delnode-n9-"));
	g_autofree char *conf = g_build_filename(to, "qemu-server/100.conf", NULL);
	g_autofree char *text = NULL;
	g_assert_true(g_file_get_contents(conf, &text, NULL, NULL));
	g_assert_cmpstr(text, ==, "name: g1\n");
	struct stat st;
	g_autofree char *key = g_build_filename(to, "priv/key", NULL);
	g_assert_cmpint(stat(key, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 0777, ==, 0600);
	g_assert_cmpint(stat(root, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 0777, ==, 0700);
	/* A link is not followed (nor copied). */
	g_autofree char *link = g_build_filename(to, "elsewhere", NULL);
	g_assert_cmpint(lstat(link, &st), ==, -1);

	/* A node without a directory: an error, and nothing left behind. */
	g_clear_pointer(&to, g_free);
	to = pvecm_nodedir_backup(dir, "n7", root, &err);
	g_assert_null(to);
	g_assert_nonnull(err);
	g_assert_nonnull(strstr(err->message, "nodes/n7"));
	g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
	const char *e;
	while ((e = g_dir_read_name(d)))
		g_assert_false(g_str_has_prefix(e, "delnode-n7-"));
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/pvecm_nodedir/guests", test_guests);
	g_test_add_func("/pvecm_nodedir/backup", test_backup);
	return g_test_run();
}
