/* Unit tests for pvecm's command-line parser (include/pvecm_cli.h): commands
 * of several words and their unique prefixes, options in every spelling
 * the reference takes, typed values checked before the command runs, and
 * usage errors that exit 255 without running anything. */
#include "pvecm_cli.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* What the last command that ran saw. */
static struct {
	int runs;
	char *name;
	GPtrArray *args;
	char *opt_text, *opt_number, *opt_flag, *opt_link0, *opt_link3;
	gint64 number;
	bool flag;
} seen;

static void seen_reset(void)
{
	g_free(seen.name);
	g_clear_pointer(&seen.args, g_ptr_array_unref);
	g_free(seen.opt_text);
	g_free(seen.opt_number);
	g_free(seen.opt_flag);
	g_free(seen.opt_link0);
	g_free(seen.opt_link3);
	memset(&seen, 0, sizeof(seen));
}

static int record(const pvecm_cli_call_t *call)
{
	seen.runs++;
	seen.name = g_strdup(pvecm_cli_name(call));
	seen.args = g_ptr_array_new_with_free_func(g_free);
	for (size_t i = 0; i < pvecm_cli_nargs(call); i++)
		g_ptr_array_add(seen.args, g_strdup(pvecm_cli_arg(call, i)));
	seen.opt_text = g_strdup(pvecm_cli_opt(call, "text"));
	seen.opt_number = g_strdup(pvecm_cli_opt(call, "number"));
	seen.opt_flag = g_strdup(pvecm_cli_opt(call, "flag"));
	seen.opt_link0 = g_strdup(pvecm_cli_opt(call, "link0"));
	seen.opt_link3 = g_strdup(pvecm_cli_opt(call, "link3"));
	seen.number = pvecm_cli_int(call, "number", -7);
	seen.flag = pvecm_cli_flag(call, "flag", false);
	return 42;
}

static const pvecm_cli_opt_t opts[] = {
    {"text", PVECM_CLI_STRING, .description = "Some text."},
    {"number", PVECM_CLI_INTEGER, .min = 1, .max = 10, .description = "A number."},
    {"flag", PVECM_CLI_BOOLEAN, .description = "A flag."},
    {"link", PVECM_CLI_STRING, .indexed = 8, .description = "A link."},
    {"nodeid", PVECM_CLI_INTEGER, .min = 1, .max = G_MAXINT64, .description = "An id."},
    {.name = NULL},
};

static const pvecm_cli_arg_t one_arg[] = {
    {.name = "node", .description = "A node."},
    {.name = NULL},
};

static const pvecm_cli_arg_t rest_args[] = {
    {.name = "words", .description = "Words.", .optional = true, .variadic = true},
    {.name = NULL},
};

static const pvecm_cli_cmd_t cmds[] = {
    {.name = "status", .description = "Status.", .opts = opts, .run = record},
    {.name = "add", .description = "Add.", .args = one_arg, .opts = opts, .run = record},
    {.name = "addnode", .description = "Add a node.", .args = one_arg, .run = record},
    {.name = "qdevice setup", .description = "Set up.", .args = one_arg, .run = record},
    {.name = "qdevice remove", .description = "Remove.", .run = record},
    {.name = "echo", .description = "Echo.", .args = rest_args, .opts = opts, .run = record},
};

/* Runs pvecm with the words of line; stderr and stdout go to *err and
 * *out when not NULL. */
static int run(const char *line, char **out, char **err)
{
	g_auto(GStrv) words = g_strsplit(line, " ", -1);
	g_autofree char *argv0 = g_strdup("pvecm");
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	char *outbuf = NULL, *errbuf = NULL;
	size_t outlen = 0, errlen = 0;
	FILE *o = open_memstream(&outbuf, &outlen), *e = open_memstream(&errbuf, &errlen);
	FILE *saved_out = stdout, *saved_err = stderr;
	int rc;

	g_ptr_array_add(argv, argv0);
	for (char **w = words; *w; w++)
		if (**w)
			g_ptr_array_add(argv, *w);
	g_ptr_array_add(argv, NULL);
	seen_reset();
	stdout = o;
	stderr = e;
	rc = pvecm_cli_main("pvecm", cmds, G_N_ELEMENTS(cmds), (int)argv->len - 1,
			    (char **)argv->pdata);
	stdout = saved_out;
	stderr = saved_err;
	fclose(o);
	fclose(e);
	if (out)
		*out = outbuf;
	else
		free(outbuf);
	if (err)
		*err = errbuf;
	else
		free(errbuf);
	return rc;
}

/* line fails as a usage error whose message contains what; nothing ran. */
static void usage_error(const char *line, const char *what)
{
	g_autofree char *err = NULL;

	g_assert_cmpint(run(line, NULL, &err), ==, PVECM_EXIT_USAGE);
	g_assert_cmpint(seen.runs, ==, 0);
	if (!strstr(err, what))
		g_error("'%s': expected '%s' in: %s", line, what, err);
	g_assert_true(g_str_has_prefix(err, "ERROR: "));
}

static void test_runs_the_command_and_returns_its_code(void)
{
	g_assert_cmpint(run("status", NULL, NULL), ==, 42);
	g_assert_cmpint(seen.runs, ==, 1);
	g_assert_cmpstr(seen.name, ==, "pvecm status");
	g_assert_null(seen.opt_text);
	g_assert_cmpint(seen.number, ==, -7);
	g_assert_false(seen.flag);
}

static void test_unique_prefix_and_exact_match(void)
{
	g_assert_cmpint(run("stat", NULL, NULL), ==, 42);
	g_assert_cmpstr(seen.name, ==, "pvecm status");
	/* "add" is a command of its own and a prefix of "addnode". */
	g_assert_cmpint(run("add n1", NULL, NULL), ==, 42);
	g_assert_cmpstr(seen.name, ==, "pvecm add");
	g_assert_cmpint(run("addn n1", NULL, NULL), ==, 42);
	g_assert_cmpstr(seen.name, ==, "pvecm addnode");
	g_assert_cmpint(run("qd s n1", NULL, NULL), ==, 42);
	g_assert_cmpstr(seen.name, ==, "pvecm qdevice setup");
	g_assert_cmpstr(g_ptr_array_index(seen.args, 0), ==, "n1");
}

static void test_unknown_incomplete_and_missing_commands(void)
{
	usage_error("", "no command specified");
	usage_error("frobnicate", "unknown command 'pvecm frobnicate'");
	usage_error("qdevice", "incomplete command 'pvecm qdevice'");
	usage_error("qdevice frob", "unknown command");
	/* "a" is a prefix of add and addnode. */
	usage_error("a n1", "unknown command");
}

static void test_option_spellings(void)
{
	g_assert_cmpint(run("status --text hello", NULL, NULL), ==, 42);
	g_assert_cmpstr(seen.opt_text, ==, "hello");
	g_assert_cmpint(run("status --text=a=b", NULL, NULL), ==, 42);
	g_assert_cmpstr(seen.opt_text, ==, "a=b");
	g_assert_cmpint(run("status -text single", NULL, NULL), ==, 42);
	g_assert_cmpstr(seen.opt_text, ==, "single");
	g_assert_cmpint(run("status --te abbreviated", NULL, NULL), ==, 42);
	g_assert_cmpstr(seen.opt_text, ==, "abbreviated");
}

static void test_options_anywhere_after_the_command_and_dashdash(void)
{
	g_assert_cmpint(run("add --number 3 n1 --text t", NULL, NULL), ==, 42);
	g_assert_cmpstr(g_ptr_array_index(seen.args, 0), ==, "n1");
	g_assert_cmpint(seen.number, ==, 3);
	g_assert_cmpstr(seen.opt_text, ==, "t");
	g_assert_cmpint(run("echo a -- --text b", NULL, NULL), ==, 42);
	g_assert_cmpuint(seen.args->len, ==, 3);
	g_assert_cmpstr(g_ptr_array_index(seen.args, 1), ==, "--text");
	g_assert_null(seen.opt_text);
}

static void test_integers_checked_against_their_range(void)
{
	g_assert_cmpint(run("status --number 10", NULL, NULL), ==, 42);
	g_assert_cmpint(seen.number, ==, 10);
	g_assert_cmpstr(seen.opt_number, ==, "10");
	usage_error("status --number 11", "'11' is not an integer from 1 to 10");
	usage_error("status --number 0", "from 1 to 10");
	usage_error("status --number x", "'x' is not an integer");
	usage_error("status --nodeid 0", "of at least 1");
}

static void test_booleans(void)
{
	g_assert_cmpint(run("status --flag", NULL, NULL), ==, 42);
	g_assert_true(seen.flag);
	g_assert_cmpstr(seen.opt_flag, ==, "1");
	g_assert_cmpint(run("status --flag no", NULL, NULL), ==, 42);
	g_assert_false(seen.flag);
	g_assert_cmpstr(seen.opt_flag, ==, "0");
	g_assert_cmpint(run("status --flag=YES", NULL, NULL), ==, 42);
	g_assert_true(seen.flag);
	/* The next word is an argument unless it is a boolean. */
	g_assert_cmpint(run("echo --flag word", NULL, NULL), ==, 42);
	g_assert_true(seen.flag);
	g_assert_cmpstr(g_ptr_array_index(seen.args, 0), ==, "word");
	usage_error("status --flag=maybe", "'maybe' is not a boolean");
}

static void test_indexed_options(void)
{
	g_assert_cmpint(run("status --link0 10.0.0.1 --link3=10.0.3.1", NULL, NULL), ==, 42);
	g_assert_cmpstr(seen.opt_link0, ==, "10.0.0.1");
	g_assert_cmpstr(seen.opt_link3, ==, "10.0.3.1");
	usage_error("status --link8 x", "unknown option '--link8'");
	usage_error("status --link03 x", "unknown option");
	usage_error("status --link x", "ambiguous");
}

static void test_option_errors(void)
{
	usage_error("status --frob 1", "unknown option '--frob'");
	usage_error("status --text a --text b", "option '--text' given more than once");
	usage_error("status --text", "option '--text' needs a value");
	usage_error("addnode n1 --text x", "unknown option '--text'");
}

static void test_argument_count(void)
{
	g_autofree char *err = NULL;

	usage_error("add", "<node> is missing");
	g_assert_cmpint(run("add n1 n2", NULL, &err), ==, PVECM_EXIT_USAGE);
	g_assert_cmpint(seen.runs, ==, 0);
	g_assert_cmpint(run("echo", NULL, NULL), ==, 42);
	g_assert_cmpuint(seen.args->len, ==, 0);
}

static void test_usage_line_on_error(void)
{
	g_autofree char *err = NULL;

	g_assert_cmpint(run("add", NULL, &err), ==, PVECM_EXIT_USAGE);
	g_assert_nonnull(strstr(err, "\nUSAGE: pvecm add <node>"));
}

static void test_help(void)
{
	g_autofree char *out = NULL, *out2 = NULL, *out3 = NULL;

	g_assert_cmpint(run("help", &out, NULL), ==, PVECM_EXIT_OK);
	g_assert_cmpint(seen.runs, ==, 0);
	g_assert_nonnull(strstr(out, "pvecm status"));
	g_assert_nonnull(strstr(out, "pvecm qdevice setup <node>"));
	g_assert_nonnull(strstr(out, "pvecm help"));
	g_assert_cmpint(run("help add --verbose", &out2, NULL), ==, PVECM_EXIT_OK);
	g_assert_nonnull(strstr(out2, "USAGE: pvecm add <node> [OPTIONS]"));
	g_assert_nonnull(strstr(out2, "  --number   <integer> (1 - 10)\n"));
	g_assert_nonnull(strstr(out2, "  --nodeid   <integer> (1 - N)\n"));
	g_assert_nonnull(strstr(out2, "  --link[n]  <string>\n"));
	g_assert_nonnull(strstr(out2, "\n             A number.\n"));
	g_assert_null(strstr(out2, "pvecm status"));
	g_assert_cmpint(run("add --help", &out3, NULL), ==, PVECM_EXIT_OK);
	g_assert_cmpint(seen.runs, ==, 0);
	g_assert_nonnull(strstr(out3, "pvecm add <node>"));
	usage_error("help frobnicate", "unknown command");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cli/runs-the-command-and-returns-its-code",
			test_runs_the_command_and_returns_its_code);
	g_test_add_func("/cli/unique-prefix-and-exact-match", test_unique_prefix_and_exact_match);
	g_test_add_func("/cli/unknown-incomplete-and-missing-commands",
			test_unknown_incomplete_and_missing_commands);
	g_test_add_func("/cli/option-spellings", test_option_spellings);
	g_test_add_func("/cli/options-anywhere-after-the-command-and-dashdash",
			test_options_anywhere_after_the_command_and_dashdash);
	g_test_add_func("/cli/integers-checked-against-their-range",
			test_integers_checked_against_their_range);
	g_test_add_func("/cli/booleans", test_booleans);
	g_test_add_func("/cli/indexed-options", test_indexed_options);
	g_test_add_func("/cli/option-errors", test_option_errors);
	g_test_add_func("/cli/argument-count", test_argument_count);
	g_test_add_func("/cli/usage-line-on-error", test_usage_line_on_error);
	g_test_add_func("/cli/help", test_help);
	int rc = g_test_run();
	seen_reset();
	return rc;
}
