/* Unit tests for confsync: which cluster corosync.conf replaces the local
 * copy, and that a refused one leaves it byte for byte as it was. */
#include "confsync.h"

#include <glib/gstdio.h>
#include <string.h>

typedef struct {
	char *dir;
	char *local;
	confsync_t *cs;
} fx_t;

static char *conf_text(unsigned version, const char *comment)
{
	return g_strdup_printf("# %s\n"
			       "totem {\n  cluster_name: unit\n  config_version: %u\n"
			       "  interface {\n    linknumber: 0\n  }\n}\n\n"
			       "nodelist {\n  node {\n    name: a\n    nodeid: 1\n"
			       "    ring0_addr: 127.0.0.1\n  }\n}\n\n"
			       "quorum {\n  provider: corosync_votequorum\n}\n",
			       comment, version);
}

static void fx_setup(fx_t *fx, gconstpointer data)
{
	fx->dir = g_dir_make_tmp("test-confsync-XXXXXX", NULL);
	g_assert(fx->dir);
	fx->local = g_build_filename(fx->dir, "corosync.conf", NULL);
	fx->cs = confsync_new(fx->local, false);
}

static void fx_teardown(fx_t *fx, gconstpointer data)
{
	confsync_free(fx->cs);
	g_unlink(fx->local);
	g_rmdir(fx->dir);
	g_free(fx->local);
	g_free(fx->dir);
}

static confsync_result_t apply(fx_t *fx, const char *text)
{
	return confsync_apply(fx->cs, "cluster.conf", text, strlen(text));
}

static char *local_content(fx_t *fx)
{
	char *s = NULL;

	if (!g_file_get_contents(fx->local, &s, NULL, NULL))
		return NULL;
	return s;
}

static void test_first_copy(fx_t *fx, gconstpointer data)
{
	g_autofree char *v1 = conf_text(1, "first");

	g_assert_cmpint(apply(fx, v1), ==, CONFSYNC_APPLIED);
	g_autofree char *got = local_content(fx);
	g_assert_cmpstr(got, ==, v1);
	GStatBuf st;
	g_assert_cmpint(g_stat(fx->local, &st), ==, 0);
	g_assert_cmpint(st.st_mode & 0777, ==, 0644);
	/* the same again changes nothing */
	g_assert_cmpint(apply(fx, v1), ==, CONFSYNC_UNCHANGED);
}

static void test_higher_replaces(fx_t *fx, gconstpointer data)
{
	g_autofree char *v1 = conf_text(1, "one"), *v2 = conf_text(2, "two");

	g_assert_cmpint(apply(fx, v1), ==, CONFSYNC_APPLIED);
	g_assert_cmpint(apply(fx, v2), ==, CONFSYNC_APPLIED);
	g_autofree char *got = local_content(fx);
	g_assert_cmpstr(got, ==, v2);
}

static void assert_refused_keeps(fx_t *fx, const char *text)
{
	g_autofree char *before = local_content(fx);

	g_assert_cmpint(apply(fx, text), ==, CONFSYNC_REFUSED);
	g_autofree char *after = local_content(fx);
	g_assert_cmpstr(after, ==, before);
}

static void test_lower_or_equal_refused(fx_t *fx, gconstpointer data)
{
	g_autofree char *v2 = conf_text(2, "two"), *v1 = conf_text(1, "lower"),
			*v2b = conf_text(2, "same version, other text");

	g_assert_cmpint(apply(fx, v2), ==, CONFSYNC_APPLIED);
	assert_refused_keeps(fx, v1);
	assert_refused_keeps(fx, v2b);
	/* refused again: still refused (logged once, not checked here) */
	assert_refused_keeps(fx, v2b);
}

static void test_broken_refused(fx_t *fx, gconstpointer data)
{
	g_autofree char *v1 = conf_text(1, "one"), *v5 = conf_text(5, "five");

	g_assert_cmpint(apply(fx, v1), ==, CONFSYNC_APPLIED);
	/* unclosed section */
	g_autofree char *cut = g_strndup(v5, strlen(v5) - 2);
	assert_refused_keeps(fx, cut);
	/* parses, but no nodelist */
	assert_refused_keeps(fx, "totem {\n  cluster_name: x\n  config_version: 9\n}\n");
	/* a host name that does not resolve */
	g_autofree char *unres = conf_text(6, "unresolvable");
	char *p = strstr(unres, "127.0.0.1");
	g_autofree char *bad = g_strdup_printf("%.*sno-such-host.invalid%s", (int)(p - unres),
					       unres, p + strlen("127.0.0.1"));
	assert_refused_keeps(fx, bad);
}

static void test_empty_ignored(fx_t *fx, gconstpointer data)
{
	g_autofree char *v1 = conf_text(1, "one");

	g_assert_cmpint(apply(fx, v1), ==, CONFSYNC_APPLIED);
	g_assert_cmpint(confsync_apply(fx->cs, "cluster.conf", "", 0), ==, CONFSYNC_UNCHANGED);
	g_autofree char *got = local_content(fx);
	g_assert_cmpstr(got, ==, v1);
}

static void test_unparsable_local_replaced(fx_t *fx, gconstpointer data)
{
	g_autofree char *v1 = conf_text(1, "one");

	g_assert(g_file_set_contents(fx->local, "garbage {\n", -1, NULL));
	g_assert_cmpint(apply(fx, v1), ==, CONFSYNC_APPLIED);
	g_autofree char *got = local_content(fx);
	g_assert_cmpstr(got, ==, v1);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add("/confsync/" name, fx_t, NULL, fx_setup, fn, fx_teardown)
	ADD("first-copy", test_first_copy);
	ADD("higher-replaces", test_higher_replaces);
	ADD("lower-or-equal-refused", test_lower_or_equal_refused);
	ADD("broken-refused", test_broken_refused);
	ADD("empty-ignored", test_empty_ignored);
	ADD("unparsable-local-replaced", test_unparsable_local_replaced);
	return g_test_run();
}
