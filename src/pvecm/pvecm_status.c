#include "pvecm_status.h"

#include "proto.h"
#include "pvecm_env.h"

#include <corosync/cmap.h>
#include <corosync/quorum.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATUS_ERROR "Error: cannot read cluster status from corosync"

/* pmxcfsd serves root only; say so rather than leave "Permission denied"
 * to be puzzled over. */
static const char *root_hint(void)
{
	return geteuid() == 0 ? "" : " - pvecm must run as root";
}

static int ask_daemon(void)
{
	const char *path = pvecm_env_socket();
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) reply = NULL;
	int32_t status = 0;

	if (!proto_call(path, PROTO_CMD_STATUS, g_variant_new("()"), PROTO_STATUS_REPLY_TYPE,
			PROTO_CALL_TIMEOUT_MS, &status, &reply, &err)) {
		if (g_error_matches(err, PROTO_ERROR, PROTO_ERROR_NOT_RUNNING)) {
			fprintf(stderr,
				"pvecm: pmxcfsd is not running (%s) - start it with '%s start "
				"pmxcfsd'\n",
				err->message, pvecm_env_service_cmd());
			return PVECM_EXIT_NOT_READY;
		}
		fprintf(stderr, "pvecm: %s%s\n", err->message, root_hint());
		return PVECM_EXIT_FAILED;
	}
	if (status < 0) {
		fprintf(stderr, "pvecm: pmxcfsd on %s refused the status request: %s%s\n", path,
			g_strerror(-status), root_hint());
		return PVECM_EXIT_FAILED;
	}
	return PVECM_EXIT_OK;
}

static int check_cluster_conf(void)
{
	g_autofree char *conf = pvecm_env_cluster_conf();
	struct stat st;

	if (stat(conf, &st) == 0) {
		if (S_ISREG(st.st_mode))
			return PVECM_EXIT_OK;
	} else if (errno != ENOENT && errno != ENOTDIR) {
		fprintf(stderr, "Error: cannot access corosync config '%s': %s\n", conf,
			g_strerror(errno));
		return PVECM_EXIT_FAILED;
	}
	fprintf(stderr,
		"Error: Corosync config '%s' does not exist - is this node part of a cluster?\n",
		conf);
	return PVECM_EXIT_NOT_READY;
}

typedef struct {
	bool called;
	bool quorate;
	struct quorum_ring_id ring;
	uint32_t members;
	uint32_t nodeid;
	char provider[256];
} quorum_view_t;

static void on_quorum(quorum_handle_t h, uint32_t quorate, struct quorum_ring_id ring_id,
		      uint32_t n, const uint32_t *members)
{
	const void *ctx = NULL;
	quorum_view_t *v;

	quorum_context_get(h, &ctx);
	v = (quorum_view_t *)ctx;
	v->called = true;
	v->quorate = quorate != 0;
	v->ring = ring_id;
	v->members = n;
}

/* The current view, as corosync-quorumtool reads it. Returns -1 when
 * corosync cannot be reached at all. */
static int read_quorum(quorum_view_t *v)
{
	quorum_model_v1_data_t model = {.model = QUORUM_MODEL_V1, .quorum_notify_fn = on_quorum};
	quorum_handle_t h;
	uint32_t qtype;
	cs_error_t rc;

	rc = quorum_model_initialize(&h, QUORUM_MODEL_V1, (quorum_model_data_t *)&model, &qtype, v);
	if (rc != CS_OK) {
		fprintf(stderr, "%s: corosync is not running (%s)\n", STATUS_ERROR,
			cs_strerror(rc));
		return -1;
	}
	rc = quorum_trackstart(h, CS_TRACK_CURRENT);
	while (rc == CS_OK && !v->called)
		rc = quorum_dispatch(h, CS_DISPATCH_ONE);
	quorum_finalize(h);
	if (rc != CS_OK) {
		fprintf(stderr, "%s: quorum tracking failed: %s\n", STATUS_ERROR, cs_strerror(rc));
		return 1;
	}
	return 0;
}

/* Provider name and local node id live in cmap; without votequorum there
 * is no node id and quorumtool shows 0, as this does. */
static int read_cmap(quorum_view_t *v)
{
	cmap_handle_t h;
	char *provider = NULL;
	cs_error_t rc = cmap_initialize(&h);

	if (rc != CS_OK) {
		fprintf(stderr, "%s: cmap service: %s\n", STATUS_ERROR, cs_strerror(rc));
		return 1;
	}
	if (cmap_get_string(h, "quorum.provider", &provider) == CS_OK) {
		g_strlcpy(v->provider, provider, sizeof(v->provider));
		free(provider);
	} else
		g_strlcpy(v->provider, "Not configured", sizeof(v->provider));
	if (cmap_get_uint32(h, "runtime.votequorum.this_node_id", &v->nodeid) != CS_OK)
		v->nodeid = 0;
	cmap_finalize(h);
	return 0;
}

/* The "Quorum information" block of `corosync-quorumtool -siH`. */
static void print_quorum(const quorum_view_t *v)
{
	time_t now = time(NULL);

	printf("Quorum information\n");
	printf("------------------\n");
	printf("Date:             %s", ctime(&now));
	printf("Quorum provider:  %s\n", v->provider);
	printf("Nodes:            %" PRIu32 "\n", v->members);
	printf("Node ID:          0x%08" PRIx32 "\n", v->nodeid);
	printf("Ring ID:          %" PRIx32 ".%" PRIx64 "\n", v->ring.nodeid, v->ring.seq);
	printf("Quorate:          %s\n", v->quorate ? "Yes" : "No");
}

int pvecm_status_run(const pvecm_cli_call_t *call)
{
	quorum_view_t view = {0};
	int rc = ask_daemon();

	if (rc == PVECM_EXIT_OK)
		rc = check_cluster_conf();
	if (rc != PVECM_EXIT_OK)
		return rc;
	rc = read_quorum(&view);
	if (rc < 0)
		return PVECM_EXIT_NOT_READY;
	if (rc > 0 || read_cmap(&view) != 0)
		return PVECM_EXIT_FAILED;
	print_quorum(&view);
	return PVECM_EXIT_OK;
}
