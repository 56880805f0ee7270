/* Unit tests for datacenter_conf: the `key: value` format, the migration
 * property in both of its forms, and the message for each malformed case. */
#include "datacenter_conf.h"

#include <glib/gstdio.h>
#include <string.h>

#define FILE_NAME "/etc/pve/datacenter.cfg"

static datacenter_conf_t *parse_ok(const char *text)
{
	g_autoptr(GError) err = NULL;
	datacenter_conf_t *conf = datacenter_conf_parse(text, -1, FILE_NAME, &err);

	g_assert_no_error(err);
	g_assert_nonnull(conf);
	return conf;
}

static char *network_of(const datacenter_conf_t *conf)
{
	GInetAddressMask *m = datacenter_conf_migration_network(conf);

	return m ? datacenter_conf_cidr_to_string(m) : NULL;
}

/* The text parses to an error whose message is exactly `want`. */
static void assert_error(const char *text, const char *want)
{
	g_autoptr(GError) err = NULL;
	datacenter_conf_t *conf = datacenter_conf_parse(text, -1, FILE_NAME, &err);

	g_assert_null(conf);
	g_assert_error(err, DATACENTER_CONF_ERROR, DATACENTER_CONF_ERROR_PARSE);
	g_assert_cmpstr(err->message, ==, want);
}

static void test_short_form(void)
{
	g_autoptr(datacenter_conf_t) c = parse_ok("migration: secure,network=10.1.2.0/24\n");
	g_autofree char *net = network_of(c);

	g_assert_true(datacenter_conf_has_migration(c));
	g_assert_cmpint(datacenter_conf_migration_type(c), ==, DATACENTER_MIGRATION_SECURE);
	g_assert_cmpstr(net, ==, "10.1.2.0/24");
}

static void test_keyed_form(void)
{
	g_autoptr(datacenter_conf_t) c = parse_ok("migration: type=insecure,network=10.1.2.0/24");
	g_autofree char *net = network_of(c);

	g_assert_cmpint(datacenter_conf_migration_type(c), ==, DATACENTER_MIGRATION_INSECURE);
	g_assert_cmpstr(net, ==, "10.1.2.0/24");
}

static void test_network_first(void)
{
	g_autoptr(datacenter_conf_t) c = parse_ok("migration: network=10.1.2.0/24,insecure\n");
	g_autofree char *net = network_of(c);

	g_assert_cmpint(datacenter_conf_migration_type(c), ==, DATACENTER_MIGRATION_INSECURE);
	g_assert_cmpstr(net, ==, "10.1.2.0/24");
}

static void test_type_only(void)
{
	g_autoptr(datacenter_conf_t) c = parse_ok("migration: insecure\n");

	g_assert_true(datacenter_conf_has_migration(c));
	g_assert_cmpint(datacenter_conf_migration_type(c), ==, DATACENTER_MIGRATION_INSECURE);
	g_assert_null(datacenter_conf_migration_network(c));
}

static void test_ipv6(void)
{
	g_autoptr(datacenter_conf_t) c = parse_ok("migration: type=secure,network=fd00:1:2::/64\n");
	g_autofree char *net = network_of(c);
	g_autoptr(GInetAddress) in = g_inet_address_new_from_string("fd00:1:2::17");
	g_autoptr(GInetAddress) out = g_inet_address_new_from_string("fd00:1:3::17");
	g_autoptr(GInetAddress) v4 = g_inet_address_new_from_string("10.1.2.1");

	g_assert_cmpstr(net, ==, "fd00:1:2::/64");
	g_assert_true(g_inet_address_mask_matches(datacenter_conf_migration_network(c), in));
	g_assert_false(g_inet_address_mask_matches(datacenter_conf_migration_network(c), out));
	g_assert_false(g_inet_address_mask_matches(datacenter_conf_migration_network(c), v4));
}

static void test_no_migration(void)
{
	g_autoptr(datacenter_conf_t) c = parse_ok("keyboard: de\n");

	g_assert_false(datacenter_conf_has_migration(c));
	g_assert_cmpint(datacenter_conf_migration_type(c), ==, DATACENTER_MIGRATION_SECURE);
	g_assert_null(datacenter_conf_migration_network(c));
}

static void test_comments_blank_unknown(void)
{
	g_autoptr(datacenter_conf_t) c = parse_ok("# use dedicated migration network\n"
						  "\n"
						  "   # indented comment: with colon\n"
						  "keyboard: en-us\n"
						  "email_from: admin@example.com\n"
						  "future-key:   some, value=1  \r\n"
						  "empty_key:\n"
						  "migration: secure,network=10.1.2.0/24\n");
	g_autofree char *net = network_of(c);

	g_assert_cmpstr(net, ==, "10.1.2.0/24");
	g_assert_cmpstr(datacenter_conf_get(c, "keyboard"), ==, "en-us");
	g_assert_cmpstr(datacenter_conf_get(c, "email_from"), ==, "admin@example.com");
	g_assert_cmpstr(datacenter_conf_get(c, "future-key"), ==, "some, value=1");
	g_assert_cmpstr(datacenter_conf_get(c, "empty_key"), ==, "");
	g_assert_null(datacenter_conf_get(c, "absent"));
}

static void test_empty_file(void)
{
	g_autoptr(datacenter_conf_t) c = parse_ok("");

	g_assert_false(datacenter_conf_has_migration(c));
}

static void test_host_bits_and_spaces(void)
{
	g_autoptr(datacenter_conf_t) c = parse_ok("migration:secure , network = 10.1.2.77/24 ,\n");
	g_autofree char *net = network_of(c);

	g_assert_cmpstr(net, ==, "10.1.2.0/24");
}

static void test_network_without_type(void)
{
	assert_error("keyboard: de\nmigration: network=10.1.2.0/24\n",
		     FILE_NAME ":2: migration: the migration type must always be set when the "
			       "migration network gets set (e.g. 'secure,network=10.1.2.0/24')");
}

static void test_bad_type(void)
{
	assert_error("migration: fast,network=10.1.2.0/24\n",
		     FILE_NAME ":1: migration: type 'fast' is neither secure nor insecure");
	assert_error("migration: type=SECURE\n",
		     FILE_NAME ":1: migration: type 'SECURE' is neither secure nor insecure");
}

static void test_type_twice(void)
{
	assert_error("migration: secure,type=insecure\n",
		     FILE_NAME ":1: migration: 'type' is given twice");
	assert_error("migration: secure,insecure\n",
		     FILE_NAME ":1: migration: 'type' is given twice");
	assert_error("migration: secure,network=10.1.2.0/24,network=10.1.3.0/24\n",
		     FILE_NAME ":1: migration: 'network' is given twice");
}

static void test_unknown_key(void)
{
	assert_error("migration: secure,speed=10\n",
		     FILE_NAME ":1: migration: unknown key 'speed' (it takes type and network)");
}

static void test_empty_values(void)
{
	assert_error("migration:\n", FILE_NAME ":1: migration: the property is empty (e.g. "
					       "'secure,network=10.1.2.0/24')");
	assert_error("migration: secure,network=\n",
		     FILE_NAME ":1: migration: 'network' has no value");
}

static void test_bad_networks(void)
{
	assert_error("migration: secure,network=10.1.2.0\n",
		     FILE_NAME ":1: migration: network: '10.1.2.0' is not a network in CIDR "
			       "notation (ADDRESS/PREFIX, e.g. 10.1.2.0/24 or fd00:1:2::/64)");
	assert_error("migration: secure,network=10.1.2.300/24\n",
		     FILE_NAME ":1: migration: network: '10.1.2.300/24' is not a network in "
			       "CIDR notation (ADDRESS/PREFIX, e.g. 10.1.2.0/24 or fd00:1:2::/64)");
	assert_error("migration: secure,network=10.1.2.0/33\n",
		     FILE_NAME ":1: migration: network: '10.1.2.0/33': the prefix length must "
			       "be a number from 8 to 32");
	assert_error("migration: secure,network=10.0.0.0/7\n",
		     FILE_NAME ":1: migration: network: '10.0.0.0/7': the prefix length must "
			       "be a number from 8 to 32");
	assert_error("migration: secure,network=10.1.2.0/x\n",
		     FILE_NAME ":1: migration: network: '10.1.2.0/x': the prefix length must "
			       "be a number from 8 to 32");
	assert_error("migration: secure,network=fd00::/129\n",
		     FILE_NAME ":1: migration: network: 'fd00::/129': the prefix length must "
			       "be a number from 8 to 128");
	assert_error("migration: secure,network=fe80::1%eth0/64\n",
		     FILE_NAME ":1: migration: network: 'fe80::1%eth0/64' is not a network in "
			       "CIDR notation (ADDRESS/PREFIX, e.g. 10.1.2.0/24 or fd00:1:2::/64)");
}

static void test_bad_lines(void)
{
	assert_error("keyboard: de\nthis line has no colon\n",
		     FILE_NAME ":2: expected 'key: value', got 'this line has no colon'");
	assert_error(": value\n", FILE_NAME ":1: '' is not a key (letters, digits, '_', '-', "
					    "starting with a letter)");
	assert_error("my key: value\n", FILE_NAME ":1: 'my key' is not a key (letters, digits, "
						  "'_', '-', starting with a letter)");
	assert_error("keyboard: de\n\nkeyboard: fr\n",
		     FILE_NAME ":3: 'keyboard' is already set on line 1");
}

static void test_nul_byte(void)
{
	g_autoptr(GError) err = NULL;
	static const char text[] = "keyboard: de\n\0migration: secure\n";

	g_assert_null(datacenter_conf_parse(text, sizeof(text) - 1, FILE_NAME, &err));
	g_assert_error(err, DATACENTER_CONF_ERROR, DATACENTER_CONF_ERROR_PARSE);
	g_assert_nonnull(strstr(err->message, FILE_NAME));
}

static void test_parse_cidr(void)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GInetAddressMask) m = datacenter_conf_parse_cidr("192.168.77.9/16", &err);
	g_autofree char *s = NULL;

	g_assert_no_error(err);
	s = datacenter_conf_cidr_to_string(m);
	g_assert_cmpstr(s, ==, "192.168.0.0/16");
	g_assert_null(datacenter_conf_parse_cidr("", &err));
	g_assert_nonnull(err);
}

/* A host network (the whole prefix) is written with its prefix too, and
 * reads back as the same network (found by fuzz_datacenter_conf). */
static void test_full_prefix_round_trip(void)
{
	static const char *const nets[] = {"1.1.2.0/32", "fd00:1:2::7/128", "10.0.0.0/8"};

	for (size_t i = 0; i < G_N_ELEMENTS(nets); i++) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GInetAddressMask) m = datacenter_conf_parse_cidr(nets[i], &err);
		g_assert_no_error(err);
		g_autofree char *s = datacenter_conf_cidr_to_string(m);
		g_assert_cmpstr(s, ==, nets[i]);
		g_autoptr(GInetAddressMask) again = datacenter_conf_parse_cidr(s, &err);
		g_assert_no_error(err);
		g_assert_true(g_inet_address_mask_equal(m, again));
	}
}

static void test_load(void)
{
	g_autofree char *dir = g_dir_make_tmp("test-datacenter-conf-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "datacenter.cfg", NULL);
	g_autoptr(GError) err = NULL;
	datacenter_conf_t *c;

	/* no file: an empty configuration */
	c = datacenter_conf_load(path, &err);
	g_assert_no_error(err);
	g_assert_false(datacenter_conf_has_migration(c));
	datacenter_conf_free(c);

	g_assert_true(g_file_set_contents(path, "migration: network=10.1.2.0/24\n", -1, NULL));
	c = datacenter_conf_load(path, &err);
	g_assert_null(c);
	g_assert_nonnull(
	    g_strrstr(err->message, "datacenter.cfg:1: migration: the migration type"));
	g_clear_error(&err);

	g_assert_true(g_file_set_contents(path, "migration: insecure\n", -1, NULL));
	c = datacenter_conf_load(path, &err);
	g_assert_no_error(err);
	g_assert_cmpint(datacenter_conf_migration_type(c), ==, DATACENTER_MIGRATION_INSECURE);
	datacenter_conf_free(c);

	/* a directory where the file should be: an I/O error naming it */
	g_assert_cmpint(g_unlink(path), ==, 0);
	g_assert_cmpint(g_mkdir(path, 0700), ==, 0);
	c = datacenter_conf_load(path, &err);
	g_assert_null(c);
	g_assert_error(err, DATACENTER_CONF_ERROR, DATACENTER_CONF_ERROR_IO);
	g_assert_nonnull(strstr(err->message, path));
	g_rmdir(path);
	g_rmdir(dir);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) g_test_add_func("/datacenter_conf/" name, fn)
	ADD("short-form", test_short_form);
	ADD("keyed-form", test_keyed_form);
	ADD("network-first", test_network_first);
	ADD("type-only", test_type_only);
	ADD("ipv6", test_ipv6);
	ADD("no-migration", test_no_migration);
	ADD("comments-blank-unknown", test_comments_blank_unknown);
	ADD("empty-file", test_empty_file);
	ADD("host-bits-and-spaces", test_host_bits_and_spaces);
	ADD("network-without-type", test_network_without_type);
	ADD("bad-type", test_bad_type);
	ADD("type-twice", test_type_twice);
	ADD("unknown-key", test_unknown_key);
	ADD("empty-values", test_empty_values);
	ADD("bad-networks", test_bad_networks);
	ADD("bad-lines", test_bad_lines);
	ADD("nul-byte", test_nul_byte);
	ADD("parse-cidr", test_parse_cidr);
	ADD("full-prefix-round-trip", test_full_prefix_round_trip);
	ADD("load", test_load);
	return g_test_run();
}
