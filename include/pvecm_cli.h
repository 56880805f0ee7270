/* pvecm's command line, parsed the way the reference's command-line handler
 * does it: `pvecm COMMAND [ARGS] [OPTIONS]`, commands of one or more words
 * that may be abbreviated to a unique prefix, options as `--opt value`,
 * `--opt=value` or `-opt value` anywhere after the command, `--` ending
 * them, and a built-in `help` command. A command is one row of a table. */
#ifndef PVECM_CLI_H
#define PVECM_CLI_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit codes, documented in pvecm(1). */
enum {
	PVECM_EXIT_OK = 0,
	PVECM_EXIT_FAILED = 1,
	/* Not part of a cluster, or a service it needs (pmxcfsd, corosync)
	 * is not running; for `pvecm status`, also a partition without
	 * quorum (as the reference's corosync-quorumtool -s). */
	PVECM_EXIT_NOT_READY = 2,
	/* As the reference's handler: exit(-1). */
	PVECM_EXIT_USAGE = 255,
};

typedef enum {
	PVECM_CLI_STRING,
	PVECM_CLI_INTEGER,
	PVECM_CLI_BOOLEAN,
} pvecm_cli_type_t;

typedef struct {
	const char *name; /* without dashes */
	pvecm_cli_type_t type;
	/* > 0: the option exists as name0 .. name<indexed - 1> and is shown
	 * once, as name[n] (the reference's --link[n]). */
	unsigned indexed;
	/* Integers: accepted range; min == max == 0 accepts any. */
	gint64 min, max;
	const char *value_text; /* replaces "<string>" etc. in help */
	const char *default_text;
	const char *description;
} pvecm_cli_opt_t;

typedef struct {
	const char *name;
	const char *description;
	bool optional;
	bool variadic; /* takes every remaining argument; last in the list */
	/* For help: the value's type and, for integers, its range (as for
	 * options; the command checks the value itself). */
	pvecm_cli_type_t type;
	gint64 min, max;
	/* For shell completion: the values this argument may take now (a
	 * NULL-terminated list to g_strfreev), or NULL for none. */
	char **(*complete)(void);
} pvecm_cli_arg_t;

typedef struct pvecm_cli_call pvecm_cli_call_t;

/* Returns the exit code. */
typedef int (*pvecm_cli_fn)(const pvecm_cli_call_t *call);

typedef struct {
	const char *name; /* words separated by one space: "status", "qdevice setup" */
	const char *description;
	const pvecm_cli_arg_t *args; /* NULL, or ended by an entry whose name is NULL */
	const pvecm_cli_opt_t *opts; /* likewise */
	pvecm_cli_fn run;
} pvecm_cli_cmd_t;

/* Parses argv against the table (in the order `help` lists it; the help
 * command is added after it), runs the command and returns the exit code.
 * Usage errors go to stderr as "ERROR: ..." and a usage line, with
 * PVECM_EXIT_USAGE. */
int pvecm_cli_main(const char *prog, const pvecm_cli_cmd_t *cmds, size_t ncmds, int argc,
		   char **argv);

/* Shell completion, as the reference's handler does it: `PROG
 * bashcomplete` (not listed in help) reads the command line bash gives in
 * COMP_LINE up to COMP_POINT and prints the words that may come next, one
 * a line: command words, option names of the command found, an argument's
 * values (pvecm_cli_arg_t.complete). All come from the same table the
 * parser reads. */
#define PVECM_CLI_COMPLETE_CMD "bashcomplete"

/* Prints "pvecm CMD: MESSAGE" as one line on stderr and returns rc: how
 * a command reports a failure. */
int pvecm_cli_fail(const char *cmd, int rc, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

/* "pvecm status": the program and the command's full name, for messages. */
const char *pvecm_cli_name(const pvecm_cli_call_t *call);

size_t pvecm_cli_nargs(const pvecm_cli_call_t *call);
const char *pvecm_cli_arg(const pvecm_cli_call_t *call, size_t i);

/* The value given for an option (e.g. "link0"), or NULL. Integers are
 * already checked against their range, booleans normalised to "1"/"0". */
const char *pvecm_cli_opt(const pvecm_cli_call_t *call, const char *name);
bool pvecm_cli_flag(const pvecm_cli_call_t *call, const char *name, bool fallback);
gint64 pvecm_cli_int(const pvecm_cli_call_t *call, const char *name, gint64 fallback);

#endif
