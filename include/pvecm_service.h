/* The one way pvecm starts and stops services: the program named by
 * PVECM_SERVICE_CMD (default systemctl), run as `CMD ACTION UNIT`. */
#ifndef PVECM_SERVICE_H
#define PVECM_SERVICE_H

#include <glib.h>
#include <stdbool.h>

#define PVECM_UNIT_COROSYNC "corosync"
#define PVECM_UNIT_PMXCFSD "pmxcfsd"
#define PVECM_UNIT_QDEVICE "corosync-qdevice"

/* ACTION: start, stop, restart, reload, is-active, and enable or disable
 * (whether the unit starts at boot). Fails with a message
 * naming the command, its exit status and the last line it printed. */
bool pvecm_service(const char *action, const char *unit, GError **err);

#endif
