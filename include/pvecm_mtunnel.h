/* `pvecm mtunnel`: what a migrating node runs on the migration's target
 * over SSH, as the reference's. Without quorum it prints "no quorum" and
 * succeeds (the caller reads it). Otherwise, by its options:
 *  --get_migration_ip	prints "ip: 'ADDR'", this node's one address in the
 *			migration network (--migration_network, else the
 *			one in datacenter.cfg), or "no ip" when no network
 *			is configured;
 *  --run-command -- CMD	listens on the migration address (the node's own
 *			address when no network is configured) on the first
 *			free port from 60000 to 60050, prints the address and
 *			the port on two lines, accepts one connection and
 *			runs CMD with it as standard input;
 *  neither		prints "tunnel online" and waits on standard input
 *			for a line "quit" or its end. */
#ifndef PVECM_MTUNNEL_H
#define PVECM_MTUNNEL_H

#include "pvecm_cli.h"

/* The reference's migration port range. */
#define PVECM_MTUNNEL_PORT_MIN 60000
#define PVECM_MTUNNEL_PORT_MAX 60050

/* How long --run-command waits for its one client. */
#define PVECM_MTUNNEL_ACCEPT_TIMEOUT_S 30

extern const pvecm_cli_arg_t pvecm_mtunnel_args[];
extern const pvecm_cli_opt_t pvecm_mtunnel_opts[];

int pvecm_mtunnel_run(const pvecm_cli_call_t *call);

#endif
