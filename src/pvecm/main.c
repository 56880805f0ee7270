/* pvecm: the cluster manager's command line. Commands are rows of the
 * table below; pvecm_cli.c parses, checks and prints help for them. */
#include "pvecm_cli.h"
#include "pvecm_status.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The version of the join exchange between `pvecm add` on a new node and
 * the `pvecm apiver` / `pvecm addnode` it runs on a cluster node. A joining
 * node refuses a cluster node that reports another version; bump it when
 * that exchange changes incompatibly. */
#define PVECM_API_VERSION 1

static int cmd_apiver(const pvecm_cli_call_t *call)
{
	printf("%d\n", PVECM_API_VERSION);
	return PVECM_EXIT_OK;
}

/* In the order `pvecm help` lists them. */
static const pvecm_cli_cmd_t commands[] = {
    {
	.name = "apiver",
	.description = "Return the version of the cluster join API available on this "
		       "node.",
	.run = cmd_apiver,
    },
    {
	.name = "status",
	.description = "Displays the local view of the cluster status.",
	.run = pvecm_status_run,
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
