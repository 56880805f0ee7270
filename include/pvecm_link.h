/* A corosync link as pvecm's --linkN options give it:
 * `[address=]ADDR[,priority=N]`. Host names are resolved when given and
 * only the address is kept, so that a later change in name resolution
 * cannot move the cluster network (the manual's "Corosync addresses"). */
#ifndef PVECM_LINK_H
#define PVECM_LINK_H

#include "corosync_conf.h"
#include "pvecm_cli.h"

#include <gio/gio.h>
#include <stdbool.h>

/* knet_link_priority's range. */
#define PVECM_LINK_PRIORITY_MAX 255

typedef struct {
	char *addr; /* an IP address, as text */
	bool has_priority;
	unsigned priority;
} pvecm_link_t;

void pvecm_link_clear(pvecm_link_t *link);

/* Parses the option value of --link<number> into link, resolving a host
 * name. The error names the option and says what is expected. */
bool pvecm_link_parse(unsigned number, const char *value, pvecm_link_t *link, GError **err);

/* The --link[n] option of create, add and addnode, as one table row. */
#define PVECM_LINK_CLI_OPT                                                                         \
	{                                                                                          \
		"link", PVECM_CLI_STRING,                                                          \
		    .indexed = COROSYNC_CONF_MAX_LINKS,                                            \
		    .value_text = "[address=]<IP> [,priority=<integer>]",                          \
		    .description =                                                                 \
			"Address and priority information of a single corosync link. (up to 8 "    \
			"links supported; link0..link7)"                                           \
	}

/* Parses every --linkN option of call into links (addr NULL where one is
 * not given); a link other than 0 needs --link0 as well. Clear each link
 * with pvecm_link_clear, also on failure. */
bool pvecm_link_parse_opts(const pvecm_cli_call_t *call,
			   pvecm_link_t links[COROSYNC_CONF_MAX_LINKS], GError **err);

/* The link as a --link option value: "ADDR" or "ADDR,priority=N". */
char *pvecm_link_format(const pvecm_link_t *link);

#endif
