/* Unit tests for the permission rules (include/fsperm.h): root, the group
 * www-data by primary and by supplementary group, everybody else, against
 * the tree's four modes. */
#include "fsperm.h"

#include <errno.h>
#include <glib.h>
#include <unistd.h>

#define WWW 33

static void test_root_may_anything(void)
{
	fsperm_caller_t root = {.uid = 0, .gid = 0};

	g_assert_cmpint(fsperm_check(&root, 0600, WWW, R_OK | W_OK), ==, 0);
	g_assert_cmpint(fsperm_check(&root, 0700, WWW, R_OK | W_OK | X_OK), ==, 0);
	g_assert_cmpint(fsperm_check(&root, 0440, WWW, W_OK), ==, 0);
}

static void test_group_reads_files_and_searches_dirs(void)
{
	fsperm_caller_t www = {.uid = WWW, .gid = WWW};

	g_assert_cmpint(fsperm_check(&www, 0640, WWW, R_OK), ==, 0);
	g_assert_cmpint(fsperm_check(&www, 0640, WWW, W_OK), ==, -EACCES);
	g_assert_cmpint(fsperm_check(&www, 0640, WWW, R_OK | W_OK), ==, -EACCES);
	g_assert_cmpint(fsperm_check(&www, 0755, WWW, R_OK | X_OK), ==, 0);
	g_assert_cmpint(fsperm_check(&www, 0755, WWW, W_OK | X_OK), ==, -EACCES);
	/* priv/ */
	g_assert_cmpint(fsperm_check(&www, 0600, WWW, R_OK), ==, -EACCES);
	g_assert_cmpint(fsperm_check(&www, 0700, WWW, X_OK), ==, -EACCES);
	g_assert_cmpint(fsperm_check(&www, 0700, WWW, R_OK), ==, -EACCES);
}

static void test_supplementary_group_counts(void)
{
	gid_t groups[] = {100, WWW, 1000};
	fsperm_caller_t c = {.uid = 1000, .gid = 1000, .groups = groups, .ngroups = 3};
	fsperm_caller_t none = {.uid = 1000, .gid = 1000, .groups = groups, .ngroups = 1};

	g_assert_cmpint(fsperm_check(&c, 0640, WWW, R_OK), ==, 0);
	g_assert_cmpint(fsperm_check(&none, 0640, WWW, R_OK), ==, -EACCES);
}

static void test_others_only_search_public_dirs(void)
{
	fsperm_caller_t nobody = {.uid = 65534, .gid = 65534};

	g_assert_cmpint(fsperm_check(&nobody, 0640, WWW, R_OK), ==, -EACCES);
	g_assert_cmpint(fsperm_check(&nobody, 0755, WWW, R_OK | X_OK), ==, 0);
	g_assert_cmpint(fsperm_check(&nobody, 0755, WWW, W_OK), ==, -EACCES);
	g_assert_cmpint(fsperm_check(&nobody, 0700, WWW, X_OK), ==, -EACCES);
	g_assert_cmpint(fsperm_check(&nobody, 0440, WWW, R_OK), ==, -EACCES);
	/* The owner is root: a caller with the file's group as uid is no owner. */
	fsperm_caller_t uid33 = {.uid = WWW, .gid = 65534};
	g_assert_cmpint(fsperm_check(&uid33, 0600, WWW, R_OK), ==, -EACCES);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/fsperm/root", test_root_may_anything);
	g_test_add_func("/fsperm/group", test_group_reads_files_and_searches_dirs);
	g_test_add_func("/fsperm/supplementary", test_supplementary_group_counts);
	g_test_add_func("/fsperm/others", test_others_only_search_public_dirs);
	return g_test_run();
}
