/* Unit tests for --linkN values (include/pvecm_link.h): the accepted forms,
 * a priority in knet's range, host names resolved to the address kept,
 * errors that name the option, and the value written back for addnode. */
#include "pvecm_link.h"

#include <glib.h>
#include <string.h>

static void parse_ok(unsigned n, const char *value, const char *addr, int priority)
{
	g_autoptr(GError) err = NULL;
	pvecm_link_t link;

	g_assert_true(pvecm_link_parse(n, value, &link, &err));
	g_assert_no_error(err);
	g_assert_cmpstr(link.addr, ==, addr);
	g_assert_cmpint(link.has_priority, ==, priority >= 0);
	if (priority >= 0)
		g_assert_cmpuint(link.priority, ==, (unsigned)priority);
	pvecm_link_clear(&link);
	g_assert_null(link.addr);
}

static void parse_fails(unsigned n, const char *value, const char *what)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *opt = g_strdup_printf("--link%u: ", n);
	pvecm_link_t link;

	g_assert_false(pvecm_link_parse(n, value, &link, &err));
	g_assert_nonnull(err);
	g_assert_true(g_str_has_prefix(err->message, opt));
	if (!strstr(err->message, what))
		g_error("'%s': expected '%s' in: %s", value, what, err->message);
	pvecm_link_clear(&link);
}

static void test_forms(void)
{
	parse_ok(0, "10.0.0.1", "10.0.0.1", -1);
	parse_ok(1, "address=10.0.0.2", "10.0.0.2", -1);
	parse_ok(2, "10.0.0.3,priority=20", "10.0.0.3", 20);
	parse_ok(3, "address=fd00::1,priority=0", "fd00::1", 0);
	parse_ok(7, "priority=255,address=192.0.2.7", "192.0.2.7", 255);
}

static void test_host_name_resolved(void)
{
	g_autoptr(GError) err = NULL;
	pvecm_link_t link;

	g_assert_true(pvecm_link_parse(0, "localhost", &link, &err));
	g_assert_no_error(err);
	g_assert_true(g_hostname_is_ip_address(link.addr));
	g_assert_true(strcmp(link.addr, "127.0.0.1") == 0 || strcmp(link.addr, "::1") == 0);
	pvecm_link_clear(&link);
	parse_fails(4, "no-such-host.invalid", "cannot resolve host name 'no-such-host.invalid'");
}

static void test_errors(void)
{
	parse_fails(0, "", "no address");
	parse_fails(0, "address=", "no address");
	parse_fails(1, "priority=3", "no address");
	parse_fails(0, "10.0.0.1,priority=256", "priority '256' is not a number from 0 to 255");
	parse_fails(0, "10.0.0.1,priority=-1", "is not a number");
	parse_fails(0, "10.0.0.1,priority=x", "is not a number");
	parse_fails(2, "10.0.0.1,mtu=1500", "unexpected 'mtu=1500'");
	parse_fails(0, "10.0.0.1,10.0.0.2", "unexpected '10.0.0.2'");
	parse_fails(0, "address=10.0.0.1,address=10.0.0.2", "unexpected 'address=10.0.0.2'");
	parse_fails(0, "10.0.0.1,priority=1,priority=2", "unexpected 'priority=2'");
}

static void test_format_round_trips(void)
{
	const char *values[] = {"10.0.0.1", "10.0.0.1,priority=5", "fd00::2,priority=0"};

	for (size_t i = 0; i < G_N_ELEMENTS(values); i++) {
		pvecm_link_t a, b;
		g_autofree char *text = NULL;

		g_assert_true(pvecm_link_parse(0, values[i], &a, NULL));
		text = pvecm_link_format(&a);
		g_assert_cmpstr(text, ==, values[i]);
		g_assert_true(pvecm_link_parse(0, text, &b, NULL));
		g_assert_cmpstr(a.addr, ==, b.addr);
		g_assert_cmpint(a.has_priority, ==, b.has_priority);
		g_assert_cmpuint(a.priority, ==, b.priority);
		pvecm_link_clear(&a);
		pvecm_link_clear(&b);
	}
}

/* pvecm_link_parse_opts reads a parsed command line: run one through
 * pvecm_cli_main with a command that hands its call to the check. */
static pvecm_link_t opts_links[COROSYNC_CONF_MAX_LINKS];
static GError *opts_err;

static int parse_opts_cmd(const pvecm_cli_call_t *call)
{
	return pvecm_link_parse_opts(call, opts_links, &opts_err) ? 0 : 1;
}

static const pvecm_cli_opt_t link_opts[] = {PVECM_LINK_CLI_OPT, {.name = NULL}};
static const pvecm_cli_cmd_t link_cmd = {
    .name = "create", .description = "Create.", .opts = link_opts, .run = parse_opts_cmd};

static int run_opts(const char *line)
{
	g_auto(GStrv) argv = g_strsplit(line, " ", -1);

	for (unsigned i = 0; i < COROSYNC_CONF_MAX_LINKS; i++)
		pvecm_link_clear(&opts_links[i]);
	g_clear_error(&opts_err);
	return pvecm_cli_main("pvecm", &link_cmd, 1, (int)g_strv_length(argv), argv);
}

static void test_parse_opts(void)
{
	g_assert_cmpint(run_opts("pvecm create --link0 10.0.0.1 --link2 10.0.2.1,priority=9"), ==,
			0);
	g_assert_cmpstr(opts_links[0].addr, ==, "10.0.0.1");
	g_assert_null(opts_links[1].addr);
	g_assert_cmpstr(opts_links[2].addr, ==, "10.0.2.1");
	g_assert_cmpuint(opts_links[2].priority, ==, 9);

	g_assert_cmpint(run_opts("pvecm create --link1 10.0.1.1"), ==, 1);
	g_assert_nonnull(strstr(opts_err->message, "--link1 given without --link0"));

	g_assert_cmpint(run_opts("pvecm create --link0 10.0.0.1 --link5 10.0.0.5,frob=1"), ==, 1);
	g_assert_nonnull(strstr(opts_err->message, "--link5: unexpected 'frob=1'"));

	g_assert_cmpint(run_opts("pvecm create"), ==, 0);
	for (unsigned i = 0; i < COROSYNC_CONF_MAX_LINKS; i++)
		g_assert_null(opts_links[i].addr);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/link/forms", test_forms);
	g_test_add_func("/link/host-name-resolved", test_host_name_resolved);
	g_test_add_func("/link/errors", test_errors);
	g_test_add_func("/link/format-round-trips", test_format_round_trips);
	g_test_add_func("/link/parse-opts", test_parse_opts);
	int rc = g_test_run();
	run_opts("pvecm create");
	return rc;
}
