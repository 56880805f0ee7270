#include "pvecm_qdevice_conf.h"

#include <gio/gio.h>
#include <string.h>

bool pvecm_qdevice_conf_has_device(const corosync_conf_t *conf)
{
	const corosync_conf_item_t *quorum = corosync_conf_find_section(conf->root, "quorum");

	return quorum && corosync_conf_find_section(quorum, "device");
}

/* With an even count, one more vote breaks ties and can never outvote a
 * majority of nodes: ffsplit. With an odd count a single vote could tie
 * two halves, so the device needs N - 1 votes and lms, which keeps even
 * the last node running - what the manual warns about. */
const char *pvecm_qdevice_conf_algorithm(guint node_count)
{
	return node_count % 2 ? "lms" : "ffsplit";
}

uint32_t pvecm_qdevice_conf_votes(guint node_count)
{
	return node_count % 2 && node_count > 1 ? node_count - 1 : 1;
}

void pvecm_qdevice_conf_add(corosync_conf_t *conf, const char *host, const char *algorithm,
			    uint32_t votes)
{
	corosync_conf_item_t *quorum = corosync_conf_find_section(conf->root, "quorum");
	corosync_conf_item_t *device, *net;
	char num[16];

	if (!quorum)
		quorum = corosync_conf_add_section(conf->root, "quorum");
	device = corosync_conf_add_section(quorum, "device");
	corosync_conf_set_value(device, "model", "net");
	g_snprintf(num, sizeof(num), "%u", votes);
	corosync_conf_set_value(device, "votes", num);
	net = corosync_conf_add_section(device, "net");
	corosync_conf_set_value(net, "tls", "on");
	corosync_conf_set_value(net, "host", host);
	corosync_conf_set_value(net, "algorithm", algorithm);
}

bool pvecm_qdevice_conf_remove(corosync_conf_t *conf)
{
	corosync_conf_item_t *quorum = corosync_conf_find_section(conf->root, "quorum");
	corosync_conf_item_t *device;
	bool any = false;

	while (quorum && (device = corosync_conf_find_section(quorum, "device")))
		any |= corosync_conf_remove_item(quorum, device);
	return any;
}

/* A ring address that is a name counts with every address it resolves to. */
static bool addr_in(GInetAddressMask *mask, const char *addr)
{
	g_autoptr(GInetAddress) ia = g_inet_address_new_from_string(addr);
	g_autoptr(GResolver) resolver = NULL;
	GList *list;
	bool in = false;

	if (ia)
		return g_inet_address_mask_matches(mask, ia);
	resolver = g_resolver_get_default();
	list = g_resolver_lookup_by_name(resolver, addr, NULL, NULL);
	for (GList *l = list; l && !in; l = l->next)
		in = g_inet_address_mask_matches(mask, l->data);
	g_resolver_free_addresses(list);
	return in;
}

bool pvecm_qdevice_conf_check_network(GPtrArray *nodes, const char *cidr, GError **err)
{
	g_autoptr(GInetAddressMask) mask = NULL;

	if (!strchr(cidr, '/') || !(mask = g_inet_address_mask_new_from_string(cidr, NULL))) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "--network '%s' is not a network in CIDR notation (like 10.1.2.0/24)",
			    cidr);
		return false;
	}
	for (guint i = 0; i < nodes->len; i++) {
		const corosync_conf_node_t *n = nodes->pdata[i];
		bool in = false;

		for (unsigned l = 0; l < COROSYNC_CONF_MAX_LINKS && !in; l++)
			in = n->addr[l] && addr_in(mask, n->addr[l]);
		if (!in) {
			g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "node '%s' has no address in --network %s - give a network "
				    "that every node has an address in",
				    n->name ? n->name : "?", cidr);
			return false;
		}
	}
	return true;
}
