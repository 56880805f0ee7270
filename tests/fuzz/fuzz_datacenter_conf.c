/* The datacenter.cfg parser: any text either parses or fails with an
 * error that names the file; what parses answers every query, and its
 * migration network, written out, parses back to the same network. */
#include "datacenter_conf.h"
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
	g_autoptr(datacenter_conf_t) conf =
	    datacenter_conf_parse((const char *)data, (gssize)size, "fuzz.cfg", &err);

	if (!conf) {
		if (!err || !g_str_has_prefix(err->message, "fuzz.cfg"))
			abort();
		return 0;
	}
	(void)datacenter_conf_get(conf, "migration");
	(void)datacenter_conf_get(conf, "keyboard");
	(void)datacenter_conf_migration_type(conf);
	GInetAddressMask *net = datacenter_conf_migration_network(conf);
	if (net && !datacenter_conf_has_migration(conf))
		abort();
	if (net) {
		g_autofree char *text = datacenter_conf_cidr_to_string(net);
		g_autoptr(GInetAddressMask) again = datacenter_conf_parse_cidr(text, NULL);
		if (!again || !g_inet_address_mask_equal(net, again))
			abort();
	}
	return 0;
}
