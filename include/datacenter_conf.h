/* /etc/pve/datacenter.cfg, read in the reference's format: `key: value`
 * lines, `#` comments, blank lines. Admins edit the file (copy, edit,
 * move back); nothing here writes it. Keys this module does not know are
 * kept as text and otherwise ignored, so that a file written for a newer
 * release still reads.
 *
 * The `migration` property is parsed here too, in both forms the
 * reference accepts:
 *	migration: secure,network=10.1.2.0/24
 *	migration: type=insecure,network=fd00:1:2::/64
 * Used by pvecm; depends on glib and gio (GInetAddressMask) only. */
#ifndef PVECM_DATACENTER_CONF_H
#define PVECM_DATACENTER_CONF_H

#include <gio/gio.h>
#include <glib.h>
#include <stdbool.h>

#define DATACENTER_CONF_ERROR (datacenter_conf_error_quark())
GQuark datacenter_conf_error_quark(void);

typedef enum {
	DATACENTER_CONF_ERROR_PARSE, /* "FILE:LINE: ..." */
	DATACENTER_CONF_ERROR_IO,    /* the file exists but cannot be read */
} datacenter_conf_error_t;

/* The file's name beside the cluster file system's root. */
#define DATACENTER_CONF_NAME "datacenter.cfg"

typedef enum {
	DATACENTER_MIGRATION_SECURE,
	DATACENTER_MIGRATION_INSECURE,
} datacenter_migration_type_t;

typedef struct datacenter_conf datacenter_conf_t;

/* Parses TEXT (LEN bytes, or -1 for a NUL-terminated string). FILENAME
 * only names the source in errors, which read "FILENAME:LINE: ...". NULL
 * with err set when a line is not `key: value`, a key is given twice, or
 * a property this module knows is malformed. */
datacenter_conf_t *datacenter_conf_parse(const char *text, gssize len, const char *filename,
					 GError **err);

/* Reads and parses PATH. A file that does not exist is an empty
 * configuration (a fresh cluster has none). */
datacenter_conf_t *datacenter_conf_load(const char *path, GError **err);

void datacenter_conf_free(datacenter_conf_t *conf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(datacenter_conf_t, datacenter_conf_free)

/* The value of any key as written (trimmed), or NULL. */
const char *datacenter_conf_get(const datacenter_conf_t *conf, const char *key);

/* The migration property: whether it is set, its type (secure when it is
 * not set) and its network (NULL when none is set). */
bool datacenter_conf_has_migration(const datacenter_conf_t *conf);
datacenter_migration_type_t datacenter_conf_migration_type(const datacenter_conf_t *conf);
GInetAddressMask *datacenter_conf_migration_network(const datacenter_conf_t *conf);

/* A network in CIDR notation as the reference's CIDR format takes it: an
 * IPv4 or IPv6 address, a slash, a prefix length of 8-32 (IPv4) or 8-128
 * (IPv6). Host bits may be set (10.1.2.5/24 is 10.1.2.0/24), as `ip`
 * takes them. NULL with err set (the message names TEXT) otherwise. */
GInetAddressMask *datacenter_conf_parse_cidr(const char *text, GError **err);

/* The network as canonical text ("10.1.2.0/24"); free with g_free. */
char *datacenter_conf_cidr_to_string(GInetAddressMask *mask);

#endif
