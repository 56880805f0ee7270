/* corosync.conf, read and written in corosync's own format: sections
 * (`name {` ... `}`, nested, repeatable like `node`), `key: value` pairs
 * and `#` comments. The parsed file is a tree of items kept in file order,
 * comments included, so that writing what was parsed gives the same
 * configuration with its key order and comments, in corosync's usual
 * layout (two-space indentation, a blank line between top-level sections).
 *
 * Shared by pvecm (create, add, delnode, status) and pmxcfsd (confsync);
 * depends on glib only. */
#ifndef PVECM_COROSYNC_CONF_H
#define PVECM_COROSYNC_CONF_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define COROSYNC_CONF_ERROR (corosync_conf_error_quark())
GQuark corosync_conf_error_quark(void);

typedef enum {
	COROSYNC_CONF_ERROR_PARSE,   /* "FILE:LINE: expected ..." */
	COROSYNC_CONF_ERROR_INVALID, /* parses, but corosync would refuse it */
	COROSYNC_CONF_ERROR_RESOLVE, /* a ringX_addr host name does not resolve */
	COROSYNC_CONF_ERROR_IO,	     /* reading or writing the file */
} corosync_conf_error_t;

/* Links (ringX_addr / linknumber) corosync's knet transport allows. */
#define COROSYNC_CONF_MAX_LINKS 8

typedef enum {
	COROSYNC_CONF_SECTION,
	COROSYNC_CONF_PAIR,
	COROSYNC_CONF_COMMENT,
} corosync_conf_kind_t;

typedef struct corosync_conf_item corosync_conf_item_t;
struct corosync_conf_item {
	corosync_conf_kind_t kind;
	char *name;	  /* section name, key, or a comment's text after '#' */
	char *value;	  /* PAIR only */
	GPtrArray *items; /* SECTION only: corosync_conf_item_t*, in order */
	unsigned line;	  /* where it was parsed; 0 when built in memory */
};

/* The whole file: its top level is a section without a name. */
typedef struct {
	corosync_conf_item_t *root;
} corosync_conf_t;

corosync_conf_t *corosync_conf_new(void);
void corosync_conf_free(corosync_conf_t *conf);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(corosync_conf_t, corosync_conf_free)

/* Parses TEXT (LEN bytes, or -1 for a NUL-terminated string). FILENAME
 * only names the source in errors, which read "FILENAME:LINE: expected
 * ...". NULL with err set on a syntax error. */
corosync_conf_t *corosync_conf_parse(const char *text, gssize len, const char *filename,
				     GError **err);

/* Reads and parses the file at PATH. */
corosync_conf_t *corosync_conf_load(const char *path, GError **err);

/* The configuration as text, ready to be written to a file. */
char *corosync_conf_to_string(const corosync_conf_t *conf);

/* Writes the configuration to PATH with MODE atomically: a temporary file
 * beside it, fsync, rename. A reader sees the old or the new file, never
 * a part of one. */
bool corosync_conf_save(const corosync_conf_t *conf, const char *path, mode_t mode, GError **err);

/* Items */

/* The first item of SECTION that is a section called NAME, or NULL. */
corosync_conf_item_t *corosync_conf_find_section(const corosync_conf_item_t *section,
						 const char *name);
/* The value of the first pair KEY in SECTION, or NULL. */
const char *corosync_conf_find_value(const corosync_conf_item_t *section, const char *key);
/* Sets KEY in SECTION: replaces the value of its first pair in place (the
 * key keeps its position), or appends a new pair. */
void corosync_conf_set_value(corosync_conf_item_t *section, const char *key, const char *value);
/* Removes every pair KEY from SECTION; true if there was one. */
bool corosync_conf_remove_value(corosync_conf_item_t *section, const char *key);
/* Appends a new, empty section NAME to SECTION and returns it. */
corosync_conf_item_t *corosync_conf_add_section(corosync_conf_item_t *section, const char *name);
/* Removes (and frees) ITEM from SECTION; true if it was there. */
bool corosync_conf_remove_item(corosync_conf_item_t *section, corosync_conf_item_t *item);

/* What the functions above and corosync_conf_set accept, so that what is
 * written reads back as the same tree, and corosync takes it. Anything
 * else is a programming error: a critical is logged, nothing changes.
 *
 * A name (key or section): one or more letters, digits, '_', '-', '.'
 * or '/', the characters corosync's cmap takes in names, less ':' that
 * would end a key. */
bool corosync_conf_valid_name(const char *name);
/* A value: no line break, no '{' (corosync would take the line for a
 * section), no space or tab at either end (corosync trims them). May be
 * empty. */
bool corosync_conf_valid_value(const char *value);
/* Whether the whole tree, items built by hand included, can be written
 * and read back the same: names, values, comment texts, and corosync's
 * limits on line and cmap path length. corosync_conf_save checks this
 * first; corosync_conf_to_string writes what it is given. */
bool corosync_conf_check_writable(const corosync_conf_t *conf, GError **err);

/* Dotted paths as corosync's cmap names them, for unique sections:
 * "totem.cluster_name", "quorum.provider". NULL when missing. */
const char *corosync_conf_get(const corosync_conf_t *conf, const char *path);
/* As corosync_conf_get, as an unsigned integer; false when missing or not
 * a number. */
bool corosync_conf_get_uint(const corosync_conf_t *conf, const char *path, uint64_t *out);
/* Sets the value at PATH, creating the sections on the way if needed. */
void corosync_conf_set(corosync_conf_t *conf, const char *path, const char *value);

/* The parts pvecm and pmxcfsd work with */

typedef struct {
	char *name;			     /* nodelist.node.name; NULL if the node has none */
	uint32_t nodeid;		     /* 0 if missing */
	uint32_t votes;			     /* quorum_votes; 1 if missing, as corosync */
	char *addr[COROSYNC_CONF_MAX_LINKS]; /* ringX_addr, NULL where unset */
	corosync_conf_item_t *item;	     /* the node section, borrowed */
} corosync_conf_node_t;

void corosync_conf_node_free(corosync_conf_node_t *node);

/* The nodes of nodelist, in file order; an empty array when there is
 * none. Free with g_ptr_array_unref. */
GPtrArray *corosync_conf_nodes(const corosync_conf_t *conf);

/* The node called name among nodes (from corosync_conf_nodes), or NULL. */
corosync_conf_node_t *corosync_conf_find_node(GPtrArray *nodes, const char *name);

/* totem.config_version; 0 when missing or not a number, as corosync. */
uint64_t corosync_conf_version(const corosync_conf_t *conf);

/* Checks what corosync needs to start the cluster we run: totem with a
 * cluster_name and a config_version, a nodelist in which every node has a
 * unique nodeid, a unique name and a ring0_addr, the same set of links
 * on every node, and a votequorum provider. FILENAME names the file in the
 * message, with the line of the offending item. */
bool corosync_conf_validate(const corosync_conf_t *conf, const char *filename, GError **err);

/* Every ringX_addr that is not an IP address must resolve (getaddrinfo):
 * otherwise corosync's votequorum fails with "nodelist or
 * quorum.expected_votes must be configured", and the error says that
 * this is why (the manual's troubleshooting section). */
bool corosync_conf_check_resolvable(const corosync_conf_t *conf, const char *filename,
				    GError **err);

#endif
