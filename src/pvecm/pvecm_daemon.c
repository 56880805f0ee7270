#include "pvecm_daemon.h"

#include "proto.h"
#include "pvecm_cli.h"
#include "pvecm_env.h"

#include <stdio.h>
#include <unistd.h>

#define WAIT_POLL_US 100000

/* pmxcfsd serves root only; say so rather than leave "Permission denied"
 * to be puzzled over. */
static const char *root_hint(void)
{
	return geteuid() == 0 ? "" : " - pvecm must run as root";
}

void pvecm_daemon_status_clear(pvecm_daemon_status_t *st)
{
	g_clear_pointer(&st->nodename, g_free);
}

int pvecm_daemon_status(pvecm_daemon_status_t *st, bool report)
{
	const char *path = pvecm_env_socket();
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) reply = NULL;
	int32_t status = 0;

	*st = (pvecm_daemon_status_t){0};
	if (!proto_call(path, PROTO_CMD_STATUS, g_variant_new("()"), PROTO_STATUS_REPLY_TYPE,
			PROTO_CALL_TIMEOUT_MS, &status, &reply, &err)) {
		if (g_error_matches(err, PROTO_ERROR, PROTO_ERROR_NOT_RUNNING)) {
			if (report)
				fprintf(stderr,
					"pvecm: pmxcfsd is not running (%s) - start it with '%s "
					"start pmxcfsd'\n",
					err->message, pvecm_env_service_cmd());
			return PVECM_EXIT_NOT_READY;
		}
		if (report)
			fprintf(stderr, "pvecm: %s%s\n", err->message, root_hint());
		return PVECM_EXIT_FAILED;
	}
	if (status < 0) {
		if (report)
			fprintf(stderr, "pvecm: pmxcfsd on %s refused the status request: %s%s\n",
				path, g_strerror(-status), root_hint());
		return PVECM_EXIT_FAILED;
	}

	g_auto(GVariantDict) d;
	const char *s;
	gboolean b;

	g_variant_dict_init(&d, reply);
	if (g_variant_dict_lookup(&d, "nodename", "&s", &s))
		st->nodename = g_strdup(s);
	if (g_variant_dict_lookup(&d, "mode", "&s", &s))
		st->cluster = g_strcmp0(s, "cluster") == 0;
	if (g_variant_dict_lookup(&d, "quorate", "b", &b))
		st->quorate = b;
	if (!g_variant_dict_lookup(&d, "nodeid", "u", &st->nodeid))
		st->nodeid = 0;
	if (!st->nodename) {
		if (report)
			fprintf(stderr, "pvecm: pmxcfsd on %s sent a status without a node name\n",
				path);
		return PVECM_EXIT_FAILED;
	}
	return PVECM_EXIT_OK;
}

bool pvecm_daemon_wait_cluster(unsigned timeout_s)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;

	for (;;) {
		pvecm_daemon_status_t st;
		bool ready =
		    pvecm_daemon_status(&st, false) == PVECM_EXIT_OK && st.cluster && st.quorate;
		pvecm_daemon_status_clear(&st);
		if (ready)
			return true;
		if (g_get_monotonic_time() >= end)
			return false;
		g_usleep(WAIT_POLL_US);
	}
}
