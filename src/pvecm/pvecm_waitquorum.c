#include "pvecm_waitquorum.h"

#include "pvecm_daemon.h"
#include "pvecm_env.h"

#include <stdio.h>
#include <sys/vfs.h>
#include <unistd.h>

#define CMD "wait-quorum"
#define OPT_TIMEOUT "timeout"

/* statfs(2)'s f_type of a FUSE mount: pmxcfsd serves /etc/pve there. */
#define FUSE_SUPER_MAGIC 0x65735546

const pvecm_cli_opt_t pvecm_waitquorum_opts[] = {
    {
	.name = OPT_TIMEOUT,
	.type = PVECM_CLI_INTEGER,
	.min = 1,
	.max = G_MAXINT32,
	.value_text = "<integer> (1 - N)",
	.description = "Give up after this many seconds (exit code 1). Without it, wait "
		       "as long as it takes.",
    },
    {.name = NULL},
};

typedef enum {
	STATE_QUORATE,
	STATE_NO_DAEMON,   /* pmxcfsd does not answer (yet) */
	STATE_READ_ONLY,   /* pmxcfsd answers: no quorum, /etc/pve read-only */
	STATE_NOT_MOUNTED, /* quorate, but the file system is not there */
} state_t;

static bool pve_dir_mounted(void)
{
	struct statfs sfs;

	return statfs(pvecm_env_pve_dir(), &sfs) == 0 && sfs.f_type == FUSE_SUPER_MAGIC;
}

static state_t current_state(void)
{
	pvecm_daemon_status_t st;
	state_t s;

	if (pvecm_daemon_status(&st, false) != PVECM_EXIT_OK)
		s = STATE_NO_DAEMON;
	else if (!st.quorate)
		s = STATE_READ_ONLY;
	else if (!pve_dir_mounted())
		s = STATE_NOT_MOUNTED;
	else
		s = STATE_QUORATE;
	pvecm_daemon_status_clear(&st);
	return s;
}

/* What the node waits for, for the progress lines and the final error. */
static char *state_text(state_t s)
{
	switch (s) {
	case STATE_NO_DAEMON:
		return g_strdup_printf("pmxcfsd does not answer on %s - is it started ('%s start "
				       "pmxcfsd')?",
				       pvecm_env_socket(), pvecm_env_service_cmd());
	case STATE_READ_ONLY:
		return g_strdup_printf("%s is read-only, this node is not quorate - start more "
				       "nodes (and corosync here); 'pvecm status' shows the votes",
				       pvecm_env_pve_dir());
	case STATE_NOT_MOUNTED:
		return g_strdup_printf("pmxcfsd is quorate but %s is not mounted",
				       pvecm_env_pve_dir());
	default:
		return g_strdup("quorate");
	}
}

int pvecm_waitquorum_run(const pvecm_cli_call_t *call)
{
	gint64 timeout = pvecm_cli_int(call, OPT_TIMEOUT, 0);
	gint64 start = g_get_monotonic_time();
	gint64 end = start + timeout * G_USEC_PER_SEC;
	gint64 next_progress = start + PVECM_WAITQUORUM_PROGRESS_S * G_USEC_PER_SEC;
	bool tty = isatty(STDERR_FILENO);

	for (;;) {
		state_t s = current_state();
		gint64 now = g_get_monotonic_time();
		g_autofree char *text = NULL;

		if (s == STATE_QUORATE)
			return PVECM_EXIT_OK;
		if (timeout && now >= end) {
			text = state_text(s);
			return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED,
					      "no quorum after %" G_GINT64_FORMAT " s: %s", timeout,
					      text);
		}
		if (tty && now >= next_progress) {
			text = state_text(s);
			fprintf(stderr, "waiting for quorum (%" G_GINT64_FORMAT " s): %s\n",
				(now - start) / G_USEC_PER_SEC, text);
			next_progress = now + PVECM_WAITQUORUM_PROGRESS_S * G_USEC_PER_SEC;
		}
		g_usleep(PVECM_WAITQUORUM_POLL_MS * 1000);
	}
}
