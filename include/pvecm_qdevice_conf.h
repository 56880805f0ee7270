/* The quorum device in corosync.conf, as `pvecm qdevice` writes it:
 *
 *   quorum {
 *     device {
 *       model: net
 *       votes: VOTES
 *       net {
 *         tls: on
 *         host: ADDRESS
 *         algorithm: ffsplit | lms
 *       }
 *     }
 *   }
 *
 * and the choices the manual's "Supported Setups" make: an even node count
 * gets one vote with ffsplit; an odd one (only with --force) lms with
 * N - 1 votes. Works on a parsed configuration only. */
#ifndef PVECM_QDEVICE_CONF_H
#define PVECM_QDEVICE_CONF_H

#include "corosync_conf.h"

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

/* quorum.device is there (in any form: also one written by hand). */
bool pvecm_qdevice_conf_has_device(const corosync_conf_t *conf);

/* The algorithm and the device's votes for a cluster of node_count nodes. */
const char *pvecm_qdevice_conf_algorithm(guint node_count);
uint32_t pvecm_qdevice_conf_votes(guint node_count);

/* Adds the device section above to quorum (created if missing); there
 * must be no device yet. */
void pvecm_qdevice_conf_add(corosync_conf_t *conf, const char *host, const char *algorithm,
			    uint32_t votes);

/* Removes quorum.device; false if there was none. */
bool pvecm_qdevice_conf_remove(corosync_conf_t *conf);

/* --network: cidr must be an address/prefix ("10.1.2.0/24"), and every
 * node (corosync_conf_node_t*) must have an address on some link inside
 * it; the error names the first node that has none. */
bool pvecm_qdevice_conf_check_network(GPtrArray *nodes, const char *cidr, GError **err);

#endif
