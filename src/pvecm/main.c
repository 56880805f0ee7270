/* pvecm: the cluster manager's command line. Commands are rows of the
 * table below; pvecm_cli.c parses, checks and prints help for them. */
#include "pvecm_authkey.h"
#include "pvecm_certs.h"
#include "pvecm_cli.h"
#include "pvecm_create.h"
#include "pvecm_join.h"
#include "pvecm_links.h"
#include "pvecm_mtunnel.h"
#include "pvecm_nodelist.h"
#include "pvecm_qdevice.h"
#include "pvecm_status.h"
#include "pvecm_waitquorum.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static int cmd_apiver(const pvecm_cli_call_t *call)
{
	printf("%d\n", PVECM_API_VERSION);
	return PVECM_EXIT_OK;
}

static const pvecm_cli_arg_t keygen_args[] = {
    {.name = "filename", .description = "Output file name"},
    {.name = NULL},
};

static int cmd_keygen(const pvecm_cli_call_t *call)
{
	g_autoptr(GError) err = NULL;

	if (!pvecm_authkey_create(pvecm_cli_arg(call, 0), &err)) {
		fprintf(stderr, "%s: %s\n", pvecm_cli_name(call), err->message);
		return PVECM_EXIT_FAILED;
	}
	return PVECM_EXIT_OK;
}

/* In the order `pvecm help` lists them. */
static const pvecm_cli_cmd_t commands[] = {
    {
	.name = "add",
	.description = "Adds the current node to an existing cluster.",
	.args = pvecm_add_args,
	.opts = pvecm_add_opts,
	.run = pvecm_add_run,
    },
    {
	.name = "addnode",
	.description = "Adds a node to the cluster configuration. This call is for internal "
		       "use.",
	.args = pvecm_addnode_args,
	.opts = pvecm_addnode_opts,
	.run = pvecm_addnode_run,
    },
    {
	.name = "apiver",
	.description = "Return the version of the cluster join API available on this "
		       "node.",
	.run = cmd_apiver,
    },
    {
	.name = "create",
	.description = "Generate new cluster configuration. If no links given, default to "
		       "local IP address as link0.",
	.args = pvecm_create_args,
	.opts = pvecm_create_opts,
	.run = pvecm_create_run,
    },
    {
	.name = "delnode",
	.description = "Removes a node from the cluster configuration.",
	.args = pvecm_delnode_args,
	.opts = pvecm_delnode_opts,
	.run = pvecm_delnode_run,
    },
    {
	.name = "expected",
	.description = "Tells corosync a new value of expected votes.",
	.args = pvecm_expected_args,
	.run = pvecm_expected_run,
    },
    {
	.name = "keygen",
	.description = "Generate new cryptographic key for corosync.",
	.args = keygen_args,
	.run = cmd_keygen,
    },
    {
	.name = "links",
	.description = "Displays the state of every corosync link to every node, as corosync "
		       "sees it now.",
	.opts = pvecm_links_opts,
	.run = pvecm_links_run,
    },
    {
	.name = "mtunnel",
	.description = "Used by guest migration: run on the migration's target over SSH. "
		       "Not meant to be used by hand.",
	.args = pvecm_mtunnel_args,
	.opts = pvecm_mtunnel_opts,
	.run = pvecm_mtunnel_run,
    },
    {
	.name = "nodes",
	.description = "Displays the local view of the cluster nodes.",
	.opts = pvecm_status_opts,
	.run = pvecm_nodes_run,
    },
    {
	.name = "qdevice remove",
	.description = "Remove a configured QDevice",
	.run = pvecm_qdevice_remove_run,
    },
    {
	.name = "qdevice setup",
	.description = "Setup the use of a QDevice",
	.args = pvecm_qdevice_setup_args,
	.opts = pvecm_qdevice_setup_opts,
	.run = pvecm_qdevice_setup_run,
    },
    {
	.name = "status",
	.description = "Displays the local view of the cluster status.",
	.opts = pvecm_status_opts,
	.run = pvecm_status_run,
    },
    {
	.name = "updatecerts",
	.description = "Update node certificates (and generate all needed files/directories).",
	.opts = pvecm_updatecerts_opts,
	.run = pvecm_updatecerts_run,
    },
    {
	.name = "wait-quorum",
	.description = "Wait until this node is quorate and /etc/pve is writable, for boot "
		       "scripts and services that start guests.",
	.opts = pvecm_waitquorum_opts,
	.run = pvecm_waitquorum_run,
    },
};

int main(int argc, char **argv)
{
	int rc = pvecm_cli_main("pvecm", commands, G_N_ELEMENTS(commands), argc, argv);

	/* Output that did not reach its reader (a full disk, a closed pipe)
	 * is a failure, not a success with nothing printed. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "pvecm: cannot write output: %s\n", strerror(errno));
		return rc == PVECM_EXIT_OK ? PVECM_EXIT_FAILED : rc;
	}
	return rc;
}
