/* The quorum commands: `pvecm status`, `pvecm nodes` and `pvecm expected`.
 * Each asks pmxcfsd first: without it /etc/pve is an empty directory and
 * every node would look like it is not in a cluster. Then each checks that
 * the cluster's corosync.conf exists, then talks to corosync through its
 * libraries (pvecm_quorum.h). status and nodes print what
 * `corosync-quorumtool -siH` and `-l` print, or the same data as JSON.
 * Each returns the exit code; errors are one line on stderr. Reading is
 * separate from rendering so that the layout, which scripts parse, can be
 * checked without a cluster. */
#ifndef PVECM_STATUS_H
#define PVECM_STATUS_H

#include "pvecm_cli.h"
#include "pvecm_quorum.h"

#include <time.h>

/* The option status and nodes take: text (the default) or json. */
#define PVECM_OUTPUT_FORMAT "output-format"
extern const pvecm_cli_opt_t pvecm_status_opts[];

/* The "Cluster information" block: the totem keys of the cluster's
 * corosync.conf as written there; NULL for a key the file leaves out,
 * shown as corosync's default (knet, secauth off) or, for the name and
 * the version, as the reference shows them (UNKNOWN?, -1). */
typedef struct {
	const char *name;
	const char *config_version;
	const char *transport;
	const char *secauth;
} pvecm_status_cluster_t;

/* `pvecm status`: the "Cluster information" block (left out when cluster
 * is NULL, as when the file cannot be read), then what
 * `corosync-quorumtool -siH` prints for q, byte for byte, its Date line
 * being now in ctime(3)'s local-time layout. Ends in a newline. */
char *pvecm_status_text(const pvecm_status_cluster_t *cluster, const pvecm_quorum_t *q, time_t now);
/* The same as one JSON object, without a newline:
 * {"cluster": {"name": S|null, "config_version": N|null, "transport": S,
 *   "secauth": B} | null,
 *  "quorum": {"provider": S|null, "nodes": N, "nodeid": N,
 *   "ring_id": {"nodeid": N, "seq": N}, "quorate": B},
 *  "votequorum": {"expected_votes": N, "highest_expected": N,
 *   "total_votes": N, "quorum": N, "flags": [S...]} | null,
 *  "members": [{"nodeid": N, "votes": N|null, "name": S|null, "ip": S|null,
 *   "local": B, "qdevice": {"registered": B, "alive": B, "cast_vote": B,
 *   "master_wins": B} (only with a device)}...],
 *  "qdevice": {"nodeid": 0, "name": S|null, "votes": N, "cast_vote": B} | null} */
char *pvecm_status_json(const pvecm_status_cluster_t *cluster, const pvecm_quorum_t *q);
/* `pvecm nodes`: what `corosync-quorumtool -l` prints for q (decimal ids,
 * the members' names); as JSON {"members": [...]}, the members of
 * pvecm_status_json without "ip". */
char *pvecm_status_nodes_text(const pvecm_quorum_t *q);
char *pvecm_status_nodes_json(const pvecm_quorum_t *q);

/* expected's argument: the new number of expected votes, at least 1. */
extern const pvecm_cli_arg_t pvecm_expected_args[];

int pvecm_status_run(const pvecm_cli_call_t *call);
int pvecm_nodes_run(const pvecm_cli_call_t *call);
int pvecm_expected_run(const pvecm_cli_call_t *call);

/* For other commands that ask corosync: the checks every command here
 * makes first (pmxcfsd answers, this node is in a cluster), printing one
 * line and returning the exit code when one fails; and the one line for a
 * failed request to corosync, returning its exit code. */
int pvecm_status_check_node(void);
int pvecm_status_corosync_failed(const GError *err, const char *what);

#endif
