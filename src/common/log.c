#include "log.h"

#include "textesc.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static atomic_bool debug_on;
static bool use_syslog;
static bool use_stderr = true;
static const char *log_ident = "pvecm";

void log_init(const char *ident, bool to_syslog, bool to_stderr)
{
	log_ident = ident;
	use_syslog = to_syslog;
	use_stderr = to_stderr;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_debug(bool on)
{
	atomic_store(&debug_on, on);
}

bool log_get_debug(void)
{
	return atomic_load(&debug_on);
}

static const char *prio_name(int prio)
{
	switch (prio) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
		return "crit";
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
		return "notice";
	case LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

void log_msg(int prio, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Keep one event on one line whatever the message carried in. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	/* Messages carry names a peer chose (node names, paths); escape
	 * sequences in them must reach neither the journal nor a terminal. */
	g_autofree char *safe = textesc(line, strlen(line), false);

	if (use_syslog)
		syslog(prio, "%s", safe);
	if (use_stderr)
		fprintf(stderr, "%s[%s]: %s\n", log_ident, prio_name(prio), safe);
}
