#include "datacenter_conf.h"

#include <stdarg.h>
#include <string.h>

#define MIGRATION_KEY "migration"
#define MIGRATION_EXAMPLE "secure,network=10.1.2.0/24"

/* The reference's CIDR format refuses shorter prefixes. */
#define CIDR_MIN_PREFIX 8

struct datacenter_conf {
	GHashTable *values; /* key -> value, both owned */
	bool has_migration;
	datacenter_migration_type_t migration_type;
	GInetAddressMask *migration_network; /* NULL when none is set */
};

GQuark datacenter_conf_error_quark(void)
{
	return g_quark_from_static_string("datacenter-conf-error-quark");
}

void datacenter_conf_free(datacenter_conf_t *conf)
{
	if (!conf)
		return;
	if (conf->values)
		g_hash_table_unref(conf->values);
	g_clear_object(&conf->migration_network);
	g_free(conf);
}

/* CIDR */

static GInetAddress *clear_host_bits(GInetAddress *addr, guint prefix)
{
	gsize len = g_inet_address_get_native_size(addr);
	guint8 bytes[16];

	memcpy(bytes, g_inet_address_to_bytes(addr), len);
	for (gsize i = 0; i < len; i++) {
		guint keep = prefix >= 8 * (i + 1) ? 8 : (prefix > 8 * i ? prefix - 8 * i : 0);

		bytes[i] &= (guint8)(0xff00u >> keep);
	}
	return g_inet_address_new_from_bytes(bytes, g_inet_address_get_family(addr));
}

GInetAddressMask *datacenter_conf_parse_cidr(const char *text, GError **err)
{
	const char *slash = strrchr(text, '/');
	g_autofree char *host = slash ? g_strndup(text, (gsize)(slash - text)) : NULL;
	g_autoptr(GInetAddress) addr = NULL;
	g_autoptr(GInetAddress) net = NULL;
	guint64 prefix = 0;
	guint max;

	/* A scope (fe80::1%eth0) names an interface, not a network. */
	if (host && !strchr(host, '%'))
		addr = g_inet_address_new_from_string(host);
	if (!addr) {
		g_set_error(err, DATACENTER_CONF_ERROR, DATACENTER_CONF_ERROR_PARSE,
			    "'%s' is not a network in CIDR notation (ADDRESS/PREFIX, e.g. "
			    "10.1.2.0/24 or fd00:1:2::/64)",
			    text);
		return NULL;
	}
	max = g_inet_address_get_family(addr) == G_SOCKET_FAMILY_IPV6 ? 128 : 32;
	if (!g_ascii_string_to_unsigned(slash + 1, 10, CIDR_MIN_PREFIX, max, &prefix, NULL)) {
		g_set_error(err, DATACENTER_CONF_ERROR, DATACENTER_CONF_ERROR_PARSE,
			    "'%s': the prefix length must be a number from %d to %u", text,
			    CIDR_MIN_PREFIX, max);
		return NULL;
	}
	net = clear_host_bits(addr, (guint)prefix);
	return g_inet_address_mask_new(net, (guint)prefix, err);
}

char *datacenter_conf_cidr_to_string(GInetAddressMask *mask)
{
	/* Not g_inet_address_mask_to_string(): it leaves out a full-length
	 * prefix, and "10.1.2.3" is not a network in CIDR notation. */
	g_autofree char *addr = g_inet_address_to_string(g_inet_address_mask_get_address(mask));

	return g_strdup_printf("%s/%u", addr, g_inet_address_mask_get_length(mask));
}

/* The migration property */

typedef struct {
	char *type;
	char *network;
} migration_parts_t;

static void migration_parts_clear(migration_parts_t *p)
{
	g_clear_pointer(&p->type, g_free);
	g_clear_pointer(&p->network, g_free);
}

/* Sets *slot to value unless a value is there already. */
static char *take_part(char **slot, const char *key, const char *value)
{
	if (*slot)
		return g_strdup_printf("'%s' is given twice", key);
	if (!*value)
		return g_strdup_printf("'%s' has no value", key);
	*slot = g_strdup(value);
	return NULL;
}

/* Splits "secure,network=X" / "type=secure,network=X" into its parts. A
 * part without a key is the type, as in the reference's property strings. */
static char *split_migration(const char *value, migration_parts_t *p)
{
	g_auto(GStrv) parts = g_strsplit(value, ",", -1);

	for (char **part = parts; *part; part++) {
		char *eq, *msg;

		g_strstrip(*part);
		if (!**part)
			continue;
		eq = strchr(*part, '=');
		if (!eq) {
			msg = take_part(&p->type, "type", *part);
		} else {
			*eq = '\0';
			g_strstrip(*part);
			g_strstrip(eq + 1);
			if (strcmp(*part, "type") == 0)
				msg = take_part(&p->type, "type", eq + 1);
			else if (strcmp(*part, "network") == 0)
				msg = take_part(&p->network, "network", eq + 1);
			else
				msg = g_strdup_printf(
				    "unknown key '%s' (it takes type and network)", *part);
		}
		if (msg)
			return msg;
	}
	return NULL;
}

/* Fills the migration fields of conf; a message saying what is wrong
 * otherwise. */
static char *parse_migration(datacenter_conf_t *conf, const char *value)
{
	migration_parts_t p = {0};
	g_autoptr(GError) cidr_err = NULL;
	char *msg = split_migration(value, &p);

	if (msg)
		goto out;
	if (!p.type && !p.network) {
		msg = g_strdup("the property is empty (e.g. '" MIGRATION_EXAMPLE "')");
		goto out;
	}
	if (!p.type) {
		msg = g_strdup("the migration type must always be set when the migration "
			       "network gets set (e.g. '" MIGRATION_EXAMPLE "')");
		goto out;
	}
	if (strcmp(p.type, "secure") == 0) {
		conf->migration_type = DATACENTER_MIGRATION_SECURE;
	} else if (strcmp(p.type, "insecure") == 0) {
		conf->migration_type = DATACENTER_MIGRATION_INSECURE;
	} else {
		msg = g_strdup_printf("type '%s' is neither secure nor insecure", p.type);
		goto out;
	}
	if (p.network) {
		conf->migration_network = datacenter_conf_parse_cidr(p.network, &cidr_err);
		if (!conf->migration_network) {
			msg = g_strdup_printf("network: %s", cidr_err->message);
			goto out;
		}
	}
	conf->has_migration = true;
out:
	migration_parts_clear(&p);
	return msg;
}

/* Lines */

static bool valid_key(const char *key)
{
	if (!g_ascii_isalpha(key[0]))
		return false;
	for (const char *c = key; *c; c++)
		if (!g_ascii_isalnum(*c) && *c != '_' && *c != '-')
			return false;
	return true;
}

static bool parse_error(GError **err, const char *filename, unsigned line, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);

static bool parse_error(GError **err, const char *filename, unsigned line, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	g_set_error(err, DATACENTER_CONF_ERROR, DATACENTER_CONF_ERROR_PARSE, "%s:%u: %s", filename,
		    line, msg);
	return false;
}

static bool parse_line(datacenter_conf_t *conf, GHashTable *lines, char *text, const char *filename,
		       unsigned line, GError **err)
{
	char *colon, *key, *value;

	g_strstrip(text);
	if (!*text || *text == '#')
		return true;
	colon = strchr(text, ':');
	if (!colon)
		return parse_error(err, filename, line, "expected 'key: value', got '%s'", text);
	*colon = '\0';
	key = g_strstrip(text);
	value = g_strstrip(colon + 1);
	if (!valid_key(key))
		return parse_error(err, filename, line,
				   "'%s' is not a key (letters, digits, '_', "
				   "'-', starting with a letter)",
				   key);
	if (g_hash_table_contains(lines, key))
		return parse_error(err, filename, line, "'%s' is already set on line %u", key,
				   GPOINTER_TO_UINT(g_hash_table_lookup(lines, key)));
	g_hash_table_insert(lines, g_strdup(key), GUINT_TO_POINTER(line));
	g_hash_table_insert(conf->values, g_strdup(key), g_strdup(value));
	if (strcmp(key, MIGRATION_KEY) == 0) {
		g_autofree char *msg = parse_migration(conf, value);

		if (msg)
			return parse_error(err, filename, line, MIGRATION_KEY ": %s", msg);
	}
	return true;
}

datacenter_conf_t *datacenter_conf_parse(const char *text, gssize len, const char *filename,
					 GError **err)
{
	g_autoptr(datacenter_conf_t) conf = g_new0(datacenter_conf_t, 1);
	g_autoptr(GHashTable) lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autofree char *copy = len < 0 ? g_strdup(text) : g_strndup(text, (gsize)len);
	g_auto(GStrv) split = NULL;
	unsigned line = 0;

	conf->values = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	if (len >= 0 && memchr(text, '\0', (size_t)len)) {
		g_set_error(err, DATACENTER_CONF_ERROR, DATACENTER_CONF_ERROR_PARSE,
			    "%s: contains a NUL byte; it is not a text file", filename);
		return NULL;
	}
	split = g_strsplit(copy, "\n", -1);
	for (char **l = split; *l; l++)
		if (!parse_line(conf, lines, *l, filename, ++line, err))
			return NULL;
	return g_steal_pointer(&conf);
}

datacenter_conf_t *datacenter_conf_load(const char *path, GError **err)
{
	g_autofree char *text = NULL;
	g_autoptr(GError) read_err = NULL;
	gsize len = 0;

	if (!g_file_get_contents(path, &text, &len, &read_err)) {
		if (g_error_matches(read_err, G_FILE_ERROR, G_FILE_ERROR_NOENT))
			return datacenter_conf_parse("", 0, path, err);
		g_set_error(err, DATACENTER_CONF_ERROR, DATACENTER_CONF_ERROR_IO, "%s",
			    read_err->message);
		return NULL;
	}
	return datacenter_conf_parse(text, (gssize)len, path, err);
}

const char *datacenter_conf_get(const datacenter_conf_t *conf, const char *key)
{
	return g_hash_table_lookup(conf->values, key);
}

bool datacenter_conf_has_migration(const datacenter_conf_t *conf)
{
	return conf->has_migration;
}

datacenter_migration_type_t datacenter_conf_migration_type(const datacenter_conf_t *conf)
{
	return conf->migration_type;
}

GInetAddressMask *datacenter_conf_migration_network(const datacenter_conf_t *conf)
{
	return conf->migration_network;
}
