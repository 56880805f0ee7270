#include "pvecm_service.h"

#include "pvecm_env.h"

#include <string.h>

/* The last non-empty line of what the command printed: systemctl says
 * why it failed there. */
static char *last_line(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text ? text : "", "\n", -1);
	const char *last = NULL;

	for (char **l = lines; *l; l++)
		if (*g_strstrip(*l))
			last = *l;
	return g_strdup(last);
}

bool pvecm_service(const char *action, const char *unit, GError **err)
{
	const char *cmd = pvecm_env_service_cmd();
	g_autofree char *out = NULL, *errout = NULL;
	g_autoptr(GError) e = NULL;
	int status = 0;
	const char *argv[] = {cmd, action, unit, NULL};

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &errout,
			  &status, &e)) {
		g_set_error(err, G_SPAWN_ERROR, e->code, "cannot run '%s %s %s': %s", cmd, action,
			    unit, e->message);
		return false;
	}
	if (!g_spawn_check_wait_status(status, &e)) {
		g_autofree char *why = last_line(errout && *errout ? errout : out);
		g_set_error(err, G_SPAWN_ERROR, G_SPAWN_ERROR_FAILED, "'%s %s %s' failed (%s)%s%s",
			    cmd, action, unit, e->message, why ? ": " : "", why ? why : "");
		return false;
	}
	return true;
}
