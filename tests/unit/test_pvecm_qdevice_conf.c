/* Unit tests for pvecm_qdevice_conf: the device section written and
 * removed in corosync.conf, the supported setups, --network. */
#include "pvecm_qdevice_conf.h"

#include <gio/gio.h>
#include <string.h>

static const char *base = "totem {\n  cluster_name: unit\n  config_version: 3\n}\n\n"
			  "nodelist {\n  node {\n    name: a\n    nodeid: 1\n"
			  "    ring0_addr: 10.1.0.1\n  }\n  node {\n    name: b\n    nodeid: 2\n"
			  "    ring0_addr: 10.1.0.2\n    ring1_addr: 10.2.0.2\n  }\n}\n\n"
			  "quorum {\n  provider: corosync_votequorum\n}\n";

static corosync_conf_t *parse(const char *text)
{
	g_autoptr(GError) err = NULL;
	corosync_conf_t *conf = corosync_conf_parse(text, -1, "unit.conf", &err);

	g_assert_no_error(err);
	return conf;
}

static void test_add_writes_the_section(void)
{
	g_autoptr(corosync_conf_t) conf = parse(base);
	g_autofree char *text = NULL;

	g_assert_false(pvecm_qdevice_conf_has_device(conf));
	pvecm_qdevice_conf_add(conf, "192.0.2.9", "ffsplit", 1);
	g_assert_true(pvecm_qdevice_conf_has_device(conf));
	text = corosync_conf_to_string(conf);
	g_assert_nonnull(strstr(text, "quorum {\n  provider: corosync_votequorum\n"
				      "  device {\n    model: net\n    votes: 1\n"
				      "    net {\n      tls: on\n      host: 192.0.2.9\n"
				      "      algorithm: ffsplit\n    }\n  }\n}\n"));
	g_assert_cmpstr(corosync_conf_get(conf, "quorum.device.net.host"), ==, "192.0.2.9");
}

static void test_remove_gives_back_the_file(void)
{
	g_autoptr(corosync_conf_t) conf = parse(base);
	g_autofree char *before = corosync_conf_to_string(conf);
	g_autofree char *after = NULL;

	pvecm_qdevice_conf_add(conf, "192.0.2.9", "lms", 2);
	g_assert_true(pvecm_qdevice_conf_remove(conf));
	g_assert_false(pvecm_qdevice_conf_has_device(conf));
	after = corosync_conf_to_string(conf);
	g_assert_cmpstr(after, ==, before);
	g_assert_false(pvecm_qdevice_conf_remove(conf));
}

static void test_a_device_written_by_hand_counts(void)
{
	g_autoptr(corosync_conf_t) conf =
	    parse("quorum {\n  provider: corosync_votequorum\n  device {\n    model: net\n"
		  "  }\n}\n");

	g_assert_true(pvecm_qdevice_conf_has_device(conf));
}

static void test_supported_setups(void)
{
	g_assert_cmpstr(pvecm_qdevice_conf_algorithm(2), ==, "ffsplit");
	g_assert_cmpuint(pvecm_qdevice_conf_votes(2), ==, 1);
	g_assert_cmpstr(pvecm_qdevice_conf_algorithm(4), ==, "ffsplit");
	g_assert_cmpuint(pvecm_qdevice_conf_votes(4), ==, 1);
	g_assert_cmpstr(pvecm_qdevice_conf_algorithm(3), ==, "lms");
	g_assert_cmpuint(pvecm_qdevice_conf_votes(3), ==, 2);
	g_assert_cmpuint(pvecm_qdevice_conf_votes(15), ==, 14);
}

static void test_network(void)
{
	g_autoptr(corosync_conf_t) conf = parse(base);
	g_autoptr(GPtrArray) nodes = corosync_conf_nodes(conf);
	g_autoptr(GError) err = NULL;

	g_assert_true(pvecm_qdevice_conf_check_network(nodes, "10.1.0.0/24", &err));
	g_assert_no_error(err);
	g_assert_true(pvecm_qdevice_conf_check_network(nodes, "10.0.0.0/8", &err));
	/* b has an address in it on link 1, a none at all */
	g_assert_false(pvecm_qdevice_conf_check_network(nodes, "10.2.0.0/24", &err));
	g_assert_nonnull(strstr(err->message, "node 'a' has no address in --network 10.2.0.0/24"));
	g_clear_error(&err);
	g_assert_false(pvecm_qdevice_conf_check_network(nodes, "10.1.0.0", &err));
	g_assert_nonnull(strstr(err->message, "not a network in CIDR notation"));
	g_clear_error(&err);
	g_assert_false(pvecm_qdevice_conf_check_network(nodes, "10.1.0.300/24", &err));
	g_clear_error(&err);
	g_assert_false(pvecm_qdevice_conf_check_network(nodes, "10.1.0.0/99", &err));
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/qdevice_conf/add", test_add_writes_the_section);
	g_test_add_func("/qdevice_conf/remove", test_remove_gives_back_the_file);
	g_test_add_func("/qdevice_conf/by_hand", test_a_device_written_by_hand_counts);
	g_test_add_func("/qdevice_conf/setups", test_supported_setups);
	g_test_add_func("/qdevice_conf/network", test_network);
	return g_test_run();
}
