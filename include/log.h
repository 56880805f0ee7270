/* One line per event to syslog (journal), and to stderr when asked. */
#ifndef PVECM_LOG_H
#define PVECM_LOG_H

#include <stdbool.h>
#include <syslog.h>

/* ident names the program in syslog; to_stderr mirrors every line there
 * (foreground daemon, CLI); to_syslog is off for the CLI's own messages. */
void log_init(const char *ident, bool to_syslog, bool to_stderr);
void log_set_debug(bool on);
bool log_get_debug(void);

void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (log_get_debug())                                                               \
			log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
	} while (0)

#endif
