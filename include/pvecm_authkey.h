/* corosync's authkey: the shared secret every node of a cluster holds,
 * from which knet derives its encryption keys. */
#ifndef PVECM_AUTHKEY_H
#define PVECM_AUTHKEY_H

#include <glib.h>
#include <stdbool.h>

/* The size corosync-keygen writes by default (2048 bits). */
#define PVECM_AUTHKEY_BYTES 256

/* Writes a new random key to path, mode 0400, refusing to replace an
 * existing file. The file appears whole or not at all; its directory
 * must exist. */
bool pvecm_authkey_create(const char *path, GError **err);

#endif
