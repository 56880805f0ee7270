/* A corosync link as pvecm's --linkN options give it:
 * `[address=]ADDR[,priority=N]`. Host names are resolved when given and
 * only the address is kept, so that a later change in name resolution
 * cannot move the cluster network (the manual's "Corosync addresses"). */
#ifndef PVECM_LINK_H
#define PVECM_LINK_H

#include <gio/gio.h>
#include <stdbool.h>

/* knet_link_priority's range. */
#define PVECM_LINK_PRIORITY_MAX 255

typedef struct {
	char *addr;	   /* an IP address, as text */
	bool has_priority;
	unsigned priority;
} pvecm_link_t;

void pvecm_link_clear(pvecm_link_t *link);

/* Parses the option value of --link<number> into link, resolving a host
 * name. The error names the option and says what is expected. */
bool pvecm_link_parse(unsigned number, const char *value, pvecm_link_t *link, GError **err);

#endif
