#include "pvecm_cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Help text layout of the reference: option names in a 10-column field
 * after two spaces, descriptions indented by 13 and wrapped. */
#define HELP_COLUMNS 79
#define HELP_INDENT 13

typedef struct {
	const char *prog;
	const pvecm_cli_cmd_t *cmds;
	size_t ncmds; /* rows in cmds; the help row comes after them */
} table_t;

struct pvecm_cli_call {
	const table_t *table;
	const pvecm_cli_cmd_t *cmd;
	char *name;
	GPtrArray *args;  /* borrowed from argv */
	GHashTable *opts; /* option name (link0, not link[n]) -> value, both owned */
};

static int help_run(const pvecm_cli_call_t *call);

static const pvecm_cli_arg_t help_args[] = {
    {"extra-args", "Shows help for a specific command", .optional = true, .variadic = true},
    {.name = NULL},
};

static const pvecm_cli_opt_t help_opts[] = {
    {"verbose", PVECM_CLI_BOOLEAN, .description = "Verbose output format."},
    {.name = NULL},
};

static const pvecm_cli_cmd_t help_cmd = {
    .name = "help",
    .description = "Get help about specified command.",
    .args = help_args,
    .opts = help_opts,
    .run = help_run,
};

static size_t table_len(const table_t *t)
{
	return t->ncmds + 1;
}

static const pvecm_cli_cmd_t *table_row(const table_t *t, size_t i)
{
	return i < t->ncmds ? &t->cmds[i] : &help_cmd;
}

/* Word i of a command name as a new string, or NULL past its end. */
static char *name_word(const char *name, size_t i)
{
	g_auto(GStrv) words = g_strsplit(name, " ", -1);

	return i < g_strv_length(words) ? g_strdup(words[i]) : NULL;
}

static size_t name_words(const char *name)
{
	g_auto(GStrv) words = g_strsplit(name, " ", -1);

	return g_strv_length(words);
}

/* Help text */

static void print_wrapped(FILE *out, const char *text, int indent)
{
	g_auto(GStrv) words = g_strsplit_set(text, " \n", -1);
	int col = 0;

	for (char **w = words; *w; w++) {
		int len = (int)strlen(*w);

		if (len == 0)
			continue;
		if (col > indent && col + 1 + len > HELP_COLUMNS) {
			fputc('\n', out);
			col = 0;
		}
		if (col == 0)
			col = fprintf(out, "%*s%s", indent, "", *w);
		else
			col += fprintf(out, " %s", *w);
	}
	fputc('\n', out);
}

static char *opt_display_name(const pvecm_cli_opt_t *o)
{
	return g_strdup_printf("--%s%s", o->name, o->indexed ? "[n]" : "");
}

static char *type_text(pvecm_cli_type_t type, gint64 min, gint64 max)
{
	switch (type) {
	case PVECM_CLI_BOOLEAN:
		return g_strdup("<boolean>");
	case PVECM_CLI_INTEGER:
		if (min == 0 && max == 0)
			return g_strdup("<integer>");
		if (max == G_MAXINT64)
			return g_strdup_printf("<integer> (%" G_GINT64_FORMAT " - N)", min);
		return g_strdup_printf("<integer> (%" G_GINT64_FORMAT " - %" G_GINT64_FORMAT ")",
				       min, max);
	default:
		return g_strdup("<string>");
	}
}

static char *opt_value_text(const pvecm_cli_opt_t *o)
{
	if (o->value_text)
		return g_strdup(o->value_text);
	return type_text(o->type, o->min, o->max);
}

static char *usage_line(const table_t *t, const pvecm_cli_cmd_t *c)
{
	GString *s = g_string_new(NULL);

	g_string_append_printf(s, "%s %s", t->prog, c->name);
	for (const pvecm_cli_arg_t *a = c->args; a && a->name; a++)
		g_string_append_printf(s, a->optional ? " [<%s>]" : " <%s>", a->name);
	if (c->opts && c->opts[0].name)
		g_string_append(s, " [OPTIONS]");
	return g_string_free(s, FALSE);
}

static void print_item(FILE *out, const char *name, const char *value_text,
		       const char *default_text, const char *description)
{
	fprintf(out, "  %-10s %s", name, value_text);
	if (default_text)
		fprintf(out, "   (default=%s)", default_text);
	fputs("\n\n", out);
	print_wrapped(out, description, HELP_INDENT);
	fputc('\n', out);
}

static void print_full(FILE *out, const table_t *t, const pvecm_cli_cmd_t *c)
{
	g_autofree char *line = usage_line(t, c);

	fprintf(out, "USAGE: %s\n\n", line);
	print_wrapped(out, c->description, 2);
	fputc('\n', out);
	for (const pvecm_cli_arg_t *a = c->args; a && a->name; a++) {
		g_autofree char *name = g_strdup_printf("<%s>", a->name);
		g_autofree char *value =
		    a->variadic ? g_strdup("<array>") : type_text(a->type, a->min, a->max);

		print_item(out, name, value, NULL, a->description);
	}
	for (const pvecm_cli_opt_t *o = c->opts; o && o->name; o++) {
		g_autofree char *name = opt_display_name(o);
		g_autofree char *value = opt_value_text(o);

		print_item(out, name, value, o->default_text, o->description);
	}
}

/* The command list; with a group prefix ("pvecm qdevice"), that group's. */
static void print_short_list(FILE *out, const table_t *t, const char *group)
{
	fprintf(out, "USAGE: %s <COMMAND> [ARGS] [OPTIONS]\n", t->prog);
	for (size_t i = 0; i < table_len(t); i++) {
		const pvecm_cli_cmd_t *c = table_row(t, i);
		g_autofree char *line = usage_line(t, c);

		if (group && !(g_str_has_prefix(line, group) && line[strlen(group)] == ' '))
			continue;
		fprintf(out, "%s       %s\n", (c == &help_cmd && !group) ? "\n" : "", line);
	}
}

static void print_verbose_list(FILE *out, const table_t *t)
{
	fprintf(out, "USAGE: %s <COMMAND> [ARGS] [OPTIONS]\n\n", t->prog);
	for (size_t i = 0; i < table_len(t); i++)
		print_full(out, t, table_row(t, i));
}

static int usage_abort(const table_t *t, const char *group, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static int usage_abort(const table_t *t, const char *group, const char *fmt, ...)
{
	g_autofree char *msg = NULL;
	va_list ap;

	va_start(ap, fmt);
	msg = g_strdup_vprintf(fmt, ap);
	va_end(ap);
	fprintf(stderr, "ERROR: %s\n", msg);
	print_short_list(stderr, t, group);
	return PVECM_EXIT_USAGE;
}

/* Command names */

typedef enum {
	RESOLVE_FOUND,
	RESOLVE_UNKNOWN,
	RESOLVE_INCOMPLETE,
} resolve_t;

/* The one word at depth that `given` names among the candidates: an exact
 * match, else the only word it is a prefix of. NULL if none or several. */
static char *match_word(const table_t *t, const bool *cand, size_t depth, const char *given)
{
	g_autofree char *prefix_match = NULL;
	bool ambiguous = false;

	for (size_t i = 0; i < table_len(t); i++) {
		g_autofree char *w = cand[i] ? name_word(table_row(t, i)->name, depth) : NULL;

		if (!w)
			continue;
		if (strcmp(w, given) == 0)
			return g_steal_pointer(&w);
		if (!g_str_has_prefix(w, given))
			continue;
		if (prefix_match && strcmp(prefix_match, w) != 0)
			ambiguous = true;
		else if (!prefix_match)
			prefix_match = g_steal_pointer(&w);
	}
	return ambiguous ? NULL : g_steal_pointer(&prefix_match);
}

/* Matches leading words against the table, as many as the command has.
 * path gets the command as understood, for messages. */
static resolve_t resolve(const table_t *t, char **words, size_t nwords, const pvecm_cli_cmd_t **row,
			 size_t *used, GString *path)
{
	g_autofree bool *cand = g_new(bool, table_len(t));

	for (size_t i = 0; i < table_len(t); i++)
		cand[i] = true;
	g_string_assign(path, t->prog);
	for (size_t depth = 0; depth < nwords; depth++) {
		g_autofree char *w = match_word(t, cand, depth, words[depth]);

		g_string_append_printf(path, " %s", w ? w : words[depth]);
		if (!w)
			return RESOLVE_UNKNOWN;
		for (size_t i = 0; i < table_len(t); i++) {
			g_autofree char *rw =
			    cand[i] ? name_word(table_row(t, i)->name, depth) : NULL;

			cand[i] = rw && strcmp(rw, w) == 0;
			if (cand[i] && name_words(table_row(t, i)->name) == depth + 1) {
				*row = table_row(t, i);
				*used = depth + 1;
				return RESOLVE_FOUND;
			}
		}
	}
	return nwords ? RESOLVE_INCOMPLETE : RESOLVE_UNKNOWN;
}

/* Options and arguments */

static bool is_help_flag(const char *arg)
{
	return strcmp(arg, "--help") == 0 || strcmp(arg, "-help") == 0 || strcmp(arg, "-h") == 0;
}

static bool wants_help(char **argv, size_t argc)
{
	for (size_t i = 0; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (is_help_flag(argv[i]))
			return true;
	return false;
}

static bool is_option(const char *arg)
{
	return arg[0] == '-' && arg[1] != '\0';
}

/* "link3" for an option indexed 8 times: the index part, or -1. */
static int option_index(const pvecm_cli_opt_t *o, const char *given)
{
	const char *digits = given + strlen(o->name);
	guint64 idx;

	if (!g_str_has_prefix(given, o->name) || !*digits || (digits[0] == '0' && digits[1]))
		return -1;
	if (!g_ascii_string_to_unsigned(digits, 10, 0, o->indexed - 1, &idx, NULL))
		return -1;
	return (int)idx;
}

static char *concrete_name(const pvecm_cli_opt_t *o, unsigned idx)
{
	return o->indexed ? g_strdup_printf("%s%u", o->name, idx) : g_strdup(o->name);
}

/* Finds the option `given` names: exactly, else as the unique prefix of one
 * option name (Getopt::Long's abbreviations). */
static const pvecm_cli_opt_t *find_opt(const pvecm_cli_cmd_t *c, const char *given, char **name,
				       GString *err)
{
	g_autoptr(GString) candidates = g_string_new(NULL);
	const pvecm_cli_opt_t *found = NULL;
	size_t matches = 0;

	for (const pvecm_cli_opt_t *o = c->opts; o && o->name; o++) {
		int idx = o->indexed ? option_index(o, given) : (strcmp(o->name, given) ? -1 : 0);

		if (idx >= 0) {
			*name = concrete_name(o, (unsigned)idx);
			return o;
		}
	}
	for (const pvecm_cli_opt_t *o = c->opts; o && o->name; o++) {
		for (unsigned i = 0; i < MAX(o->indexed, 1u); i++) {
			g_autofree char *n = concrete_name(o, i);

			if (!g_str_has_prefix(n, given))
				continue;
			g_string_append_printf(candidates, "%s--%s", matches ? ", " : "", n);
			if (matches++ == 0) {
				found = o;
				*name = g_steal_pointer(&n);
			}
		}
	}
	if (matches == 1)
		return found;
	g_clear_pointer(name, g_free);
	if (matches)
		g_string_printf(err, "option '--%s' is ambiguous (%s)", given, candidates->str);
	else
		g_string_printf(err, "unknown option '--%s'", given);
	return NULL;
}

static const char *bool_word(const char *v)
{
	static const char *const yes[] = {"1", "yes", "true", "on"};
	static const char *const no[] = {"0", "no", "false", "off"};

	for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
		if (g_ascii_strcasecmp(v, yes[i]) == 0)
			return "1";
		if (g_ascii_strcasecmp(v, no[i]) == 0)
			return "0";
	}
	return NULL;
}

static bool check_integer(const pvecm_cli_opt_t *o, const char *name, const char *value,
			  GString *err)
{
	bool ranged = o->min != 0 || o->max != 0;

	if (g_ascii_string_to_signed(value, 10, ranged ? o->min : G_MININT64,
				     ranged ? o->max : G_MAXINT64, NULL, NULL))
		return true;
	g_string_printf(err, "option '--%s': '%s' is not an integer", name, value);
	if (ranged && o->max == G_MAXINT64)
		g_string_append_printf(err, " of at least %" G_GINT64_FORMAT, o->min);
	else if (ranged)
		g_string_append_printf(err, " from %" G_GINT64_FORMAT " to %" G_GINT64_FORMAT,
				       o->min, o->max);
	return false;
}

static bool check_value(const pvecm_cli_opt_t *o, const char *name, const char *value, char **norm,
			GString *err)
{
	if (o->type == PVECM_CLI_BOOLEAN) {
		const char *b = bool_word(value);

		if (!b) {
			g_string_printf(err, "option '--%s': '%s' is not a boolean (1/0, yes/no)",
					name, value);
			return false;
		}
		*norm = g_strdup(b);
		return true;
	}
	if (o->type == PVECM_CLI_INTEGER && !check_integer(o, name, value, err))
		return false;
	*norm = g_strdup(value);
	return true;
}

/* Parses one option at argv[*i], consuming its value. */
static bool parse_option(pvecm_cli_call_t *call, char **argv, size_t argc, size_t *i, GString *err)
{
	const char *arg = argv[*i] + (argv[*i][1] == '-' ? 2 : 1);
	const char *eq = strchr(arg, '=');
	g_autofree char *given = eq ? g_strndup(arg, (size_t)(eq - arg)) : g_strdup(arg);
	g_autofree char *name = NULL;
	const pvecm_cli_opt_t *o = find_opt(call->cmd, given, &name, err);
	const char *value = eq ? eq + 1 : NULL;
	char *norm = NULL;

	if (!o)
		return false;
	if (g_hash_table_contains(call->opts, name)) {
		g_string_printf(err, "option '--%s' given more than once", name);
		return false;
	}
	/* A boolean takes the next word only if it is a boolean, so
	 * `--verbose status` still means status. */
	if (!value && o->type == PVECM_CLI_BOOLEAN)
		value = (*i + 1 < argc && bool_word(argv[*i + 1])) ? argv[++*i] : "1";
	else if (!value && *i + 1 < argc)
		value = argv[++*i];
	if (!value) {
		g_string_printf(err, "option '--%s' needs a value", name);
		return false;
	}
	if (!check_value(o, name, value, &norm, err))
		return false;
	g_hash_table_insert(call->opts, g_steal_pointer(&name), norm);
	return true;
}

static bool check_arg_count(const pvecm_cli_call_t *call, GString *err)
{
	size_t required = 0, max = 0;
	bool variadic = false;

	for (const pvecm_cli_arg_t *a = call->cmd->args; a && a->name; a++) {
		required += a->optional ? 0 : 1;
		max++;
		variadic |= a->variadic;
	}
	if (call->args->len < required) {
		g_string_printf(err, "not enough arguments: <%s> is missing",
				call->cmd->args[call->args->len].name);
		return false;
	}
	if (!variadic && call->args->len > max) {
		g_string_assign(err, "too many arguments");
		return false;
	}
	return true;
}

static bool parse_args(pvecm_cli_call_t *call, char **argv, size_t argc, GString *err)
{
	bool options_done = false;

	for (size_t i = 0; i < argc; i++) {
		if (!options_done && strcmp(argv[i], "--") == 0)
			options_done = true;
		else if (!options_done && is_option(argv[i])) {
			if (!parse_option(call, argv, argc, &i, err))
				return false;
		} else
			g_ptr_array_add(call->args, argv[i]);
	}
	return check_arg_count(call, err);
}

/* Running a command */

static int run_command(const table_t *t, const pvecm_cli_cmd_t *cmd, const char *name, char **argv,
		       size_t argc)
{
	pvecm_cli_call_t call = {
	    .table = t,
	    .cmd = cmd,
	    .name = g_strdup(name),
	    .args = g_ptr_array_new(),
	    .opts = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
	};
	g_autoptr(GString) err = g_string_new(NULL);
	int rc;

	if (wants_help(argv, argc)) {
		print_full(stdout, t, cmd);
		rc = PVECM_EXIT_OK;
	} else if (!parse_args(&call, argv, argc, err)) {
		g_autofree char *line = usage_line(t, cmd);

		fprintf(stderr, "ERROR: %s\nUSAGE: %s\n", err->str, line);
		rc = PVECM_EXIT_USAGE;
	} else
		rc = cmd->run(&call);
	g_free(call.name);
	g_ptr_array_unref(call.args);
	g_hash_table_unref(call.opts);
	return rc;
}

/* Completion */

static void print_matching(const char *word, const char *cur, GHashTable *printed)
{
	if (g_str_has_prefix(word, cur) && g_hash_table_add(printed, g_strdup(word)))
		printf("%s\n", word);
}

/* The words of the table at depth after the given ones. */
static void complete_command(const table_t *t, char **words, size_t depth, const char *cur,
			     GHashTable *printed)
{
	for (size_t i = 0; i < table_len(t); i++) {
		const char *name = table_row(t, i)->name;
		bool match = name_words(name) > depth;

		for (size_t d = 0; match && d < depth; d++) {
			g_autofree char *w = name_word(name, d);
			match = strcmp(w, words[d]) == 0;
		}
		if (match) {
			g_autofree char *w = name_word(name, depth);
			print_matching(w, cur, printed);
		}
	}
}

static const pvecm_cli_opt_t *opt_named(const pvecm_cli_cmd_t *c, const char *word)
{
	g_autoptr(GString) err = g_string_new(NULL);
	g_autofree char *name = NULL;
	const char *given = word + (word[1] == '-' ? 2 : 1);

	if (strchr(given, '='))
		return NULL;
	return find_opt(c, given, &name, err);
}

static void complete_args(const table_t *t, const pvecm_cli_cmd_t *c, char **words, size_t n,
			  const char *cur, GHashTable *printed)
{
	size_t pos = 0;

	/* A value for the option before it: the shell's own completion. */
	if (n > 0 && is_option(words[n - 1])) {
		const pvecm_cli_opt_t *o = opt_named(c, words[n - 1]);
		if (o && o->type != PVECM_CLI_BOOLEAN)
			return;
	}
	if (cur[0] == '-') {
		for (const pvecm_cli_opt_t *o = c->opts; o && o->name; o++)
			for (unsigned i = 0; i < MAX(o->indexed, 1u); i++) {
				g_autofree char *cn = concrete_name(o, i);
				g_autofree char *w = g_strdup_printf("--%s", cn);
				print_matching(w, cur, printed);
			}
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const pvecm_cli_opt_t *o = is_option(words[i]) ? opt_named(c, words[i]) : NULL;
		if (o && o->type != PVECM_CLI_BOOLEAN && !strchr(words[i], '='))
			i++;
		else if (!is_option(words[i]))
			pos++;
	}
	if (c == &help_cmd) {
		complete_command(t, words, pos, cur, printed);
		return;
	}
	const pvecm_cli_arg_t *a = c->args;
	for (size_t i = 0; a && a->name && i < pos && !a->variadic; i++)
		a++;
	if (a && a->name && a->complete) {
		g_auto(GStrv) values = a->complete();
		for (char **v = values; v && *v; v++)
			print_matching(*v, cur, printed);
	}
}

static int complete_run(const table_t *t)
{
	const char *line = g_getenv("COMP_LINE");
	const char *point = g_getenv("COMP_POINT");
	g_autoptr(GHashTable) printed =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	guint64 at = 0;

	if (!line)
		return PVECM_EXIT_OK;
	if (!point || !g_ascii_string_to_unsigned(point, 10, 0, strlen(line), &at, NULL))
		at = strlen(line);
	g_autofree char *upto = g_strndup(line, (gsize)at);
	g_auto(GStrv) split = g_strsplit_set(upto, " \t", -1);
	g_autoptr(GPtrArray) words = g_ptr_array_new();
	for (char **w = split; *w; w++)
		if (**w || !w[1])
			g_ptr_array_add(words, *w);
	/* words: the program, the words before the one being typed, then it
	 * ("" after a blank). */
	if (words->len < 2)
		return PVECM_EXIT_OK;
	const char *cur = words->pdata[words->len - 1];
	char **before = (char **)words->pdata + 1;
	size_t nbefore = words->len - 2;
	for (size_t depth = 0; depth <= nbefore; depth++) {
		const pvecm_cli_cmd_t *row = NULL;
		for (size_t i = 0; i < table_len(t) && depth > 0; i++) {
			const pvecm_cli_cmd_t *c = table_row(t, i);
			if (name_words(c->name) != depth)
				continue;
			bool match = true;
			for (size_t d = 0; match && d < depth; d++) {
				g_autofree char *w = name_word(c->name, d);
				match = strcmp(w, before[d]) == 0;
			}
			if (match)
				row = c;
		}
		if (row) {
			complete_args(t, row, before + depth, nbefore - depth, cur, printed);
			return PVECM_EXIT_OK;
		}
	}
	complete_command(t, before, nbefore, cur, printed);
	return PVECM_EXIT_OK;
}

int pvecm_cli_main(const char *prog, const pvecm_cli_cmd_t *cmds, size_t ncmds, int argc,
		   char **argv)
{
	table_t t = {.prog = prog, .cmds = cmds, .ncmds = ncmds};
	g_autoptr(GString) path = g_string_new(NULL);
	const pvecm_cli_cmd_t *row = NULL;
	char **words = argv + 1;
	size_t nwords = argc > 1 ? (size_t)argc - 1 : 0;
	size_t used = 0;

	if (nwords == 0)
		return usage_abort(&t, NULL, "no command specified");
	if (strcmp(words[0], PVECM_CLI_COMPLETE_CMD) == 0)
		return complete_run(&t);
	/* `pvecm --help` is what people type first. */
	if (is_help_flag(words[0]))
		return run_command(&t, &help_cmd, "help", words + 1, nwords - 1);
	switch (resolve(&t, words, nwords, &row, &used, path)) {
	case RESOLVE_UNKNOWN:
		return usage_abort(&t, NULL, "unknown command '%s'", path->str);
	case RESOLVE_INCOMPLETE:
		return usage_abort(&t, path->str, "incomplete command '%s'", path->str);
	default:
		return run_command(&t, row, path->str, words + used, nwords - used);
	}
}

static int help_run(const pvecm_cli_call_t *call)
{
	const table_t *t = call->table;
	size_t n = call->args->len;
	bool verbose = pvecm_cli_flag(call, "verbose", n > 0);
	g_autoptr(GString) path = g_string_new(NULL);
	const pvecm_cli_cmd_t *row = NULL;
	size_t used = 0;
	g_autofree char *line = NULL;

	if (n == 0) {
		if (verbose)
			print_verbose_list(stdout, t);
		else
			print_short_list(stdout, t, NULL);
		return PVECM_EXIT_OK;
	}
	switch (resolve(t, (char **)call->args->pdata, n, &row, &used, path)) {
	case RESOLVE_UNKNOWN:
		return usage_abort(t, NULL, "unknown command '%s'", path->str);
	case RESOLVE_INCOMPLETE:
		print_short_list(stdout, t, path->str);
		return PVECM_EXIT_OK;
	default:
		break;
	}
	if (verbose) {
		print_full(stdout, t, row);
		return PVECM_EXIT_OK;
	}
	line = usage_line(t, row);
	printf("USAGE: %s\n", line);
	return PVECM_EXIT_OK;
}

const char *pvecm_cli_name(const pvecm_cli_call_t *call)
{
	return call->name;
}

size_t pvecm_cli_nargs(const pvecm_cli_call_t *call)
{
	return call->args->len;
}

const char *pvecm_cli_arg(const pvecm_cli_call_t *call, size_t i)
{
	return i < call->args->len ? g_ptr_array_index(call->args, i) : NULL;
}

const char *pvecm_cli_opt(const pvecm_cli_call_t *call, const char *name)
{
	return g_hash_table_lookup(call->opts, name);
}

bool pvecm_cli_flag(const pvecm_cli_call_t *call, const char *name, bool fallback)
{
	const char *v = pvecm_cli_opt(call, name);

	return v ? strcmp(v, "1") == 0 : fallback;
}

gint64 pvecm_cli_int(const pvecm_cli_call_t *call, const char *name, gint64 fallback)
{
	const char *v = pvecm_cli_opt(call, name);

	return v ? g_ascii_strtoll(v, NULL, 10) : fallback;
}

int pvecm_cli_fail(const char *cmd, int rc, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pvecm %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return rc;
}
