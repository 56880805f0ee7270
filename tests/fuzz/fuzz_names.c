/* Names from outside: a corosync.conf key or section name, and a file
 * name a peer's op creates in the tree. A name the tree takes can be
 * found again under that name, is one path component, and goes away with
 * unlink; a name corosync_conf_valid_name accepts, in a file the writer
 * agrees to write, is read back unchanged. */
#include "corosync_conf.h"
#include "fuzz.h"

#include <string.h>

static memdb_t *m;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	m = fuzz_memdb("names.db");
	return 0;
}

static void check_tree_name(const char *name)
{
	memdb_attr_t made, found;
	int rc = memdb_create(m, MEMDB_ROOT_INODE, name, 1, 1000, &made);

	if (rc != 0)
		return;
	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strlen(name) > MEMDB_MAX_NAME)
		abort();
	if (memdb_lookup(m, MEMDB_ROOT_INODE, name, &found) != 0 || found.inode != made.inode)
		abort();
	if (memdb_unlink(m, MEMDB_ROOT_INODE, name, 1, 1001) != 0)
		abort();
	if (memdb_lookup(m, MEMDB_ROOT_INODE, name, &found) != -ENOENT)
		abort();
}

static void check_conf_name(const char *name)
{
	g_autoptr(corosync_conf_t) conf = NULL;
	g_autoptr(corosync_conf_t) back = NULL;
	g_autofree char *text = NULL;

	if (!corosync_conf_valid_name(name))
		return;
	conf = corosync_conf_new();
	corosync_conf_set(conf, "totem.cluster_name", "fuzz");
	corosync_conf_set_value(corosync_conf_find_section(conf->root, "totem"), name, "x");
	/* A name can be valid and still too long for corosync's cmap path;
	 * the writer's check says so before anything is written. */
	if (!corosync_conf_check_writable(conf, NULL))
		return;
	text = corosync_conf_to_string(conf);
	back = corosync_conf_parse(text, -1, "fuzz.conf", NULL);
	if (!back || g_strcmp0(corosync_conf_find_value(
				   corosync_conf_find_section(back->root, "totem"), name),
			       "x") != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autofree char *name = g_strndup((const char *)data, size);
	memdb_attr_t attr;

	check_tree_name(name);
	check_conf_name(name);
	(void)memdb_lookup_path(m, name, &attr);
	return 0;
}
