/* The corosync.conf parser and writer: whatever parses writes out as text
 * that parses again to the same text (parse(write(parse(x))) is stable),
 * and validation and the node list cope with any parsed tree. */
#include "corosync_conf.h"
#include "fuzz.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(corosync_conf_t) conf =
	    corosync_conf_parse((const char *)data, (gssize)size, "fuzz.conf", &err);
	g_autoptr(corosync_conf_t) again = NULL;
	g_autofree char *out1 = NULL, *out2 = NULL;

	if (!conf) {
		if (!err)
			abort();
		return 0;
	}
	out1 = corosync_conf_to_string(conf);
	again = corosync_conf_parse(out1, -1, "fuzz.conf (written)", NULL);
	if (!again)
		abort();
	out2 = corosync_conf_to_string(again);
	if (strcmp(out1, out2) != 0)
		abort();

	g_clear_error(&err);
	(void)corosync_conf_validate(conf, "fuzz.conf", &err);
	g_autoptr(GPtrArray) nodes = corosync_conf_nodes(conf);
	for (guint i = 0; nodes && i < nodes->len; i++) {
		const corosync_conf_node_t *n = g_ptr_array_index(nodes, i);
		if (n->name && corosync_conf_find_node(nodes, n->name) == NULL)
			abort();
	}
	(void)corosync_conf_version(conf);
	(void)corosync_conf_get(conf, "totem.cluster_name");
	return 0;
}
