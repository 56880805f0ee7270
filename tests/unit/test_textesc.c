/* Unit tests for escaping foreign text (include/textesc.h): what a terminal
 * or syslog would act on comes out as visible escapes, text comes out as
 * it went in. */
#include "textesc.h"

#include <glib.h>
#include <string.h>

static void check(const char *in, size_t len, bool keep_newline, const char *want)
{
	g_autofree char *got = textesc(in, len, keep_newline);

	g_assert_cmpstr(got, ==, want);
}

static void test_plain_text_unchanged(void)
{
	const char *s = "node1 joined: 10.0.0.1 \\ back-slash, ümlaut, 日本";

	check(s, strlen(s), false, s);
	check("", 0, false, "");
}

static void test_terminal_escape_sequences(void)
{
	const char *title = "\033]0;owned\007x";
	const char *csi = "a\033[2Jb";

	check(title, strlen(title), true, "\\x1b]0;owned\\x07x");
	check(csi, strlen(csi), true, "a\\x1b[2Jb");
	check("del\177", 4, false, "del\\x7f");
	check("tab\there\r", 9, false, "tab\\there\\r");
}

static void test_newline_kept_only_when_asked(void)
{
	check("one\ntwo\n", 8, true, "one\ntwo\n");
	check("one\ntwo\n", 8, false, "one\\x0atwo\\x0a");
}

static void test_nul_bytes_escaped(void)
{
	check("a\0b", 3, true, "a\\x00b");
}

static void test_c1_controls_escaped(void)
{
	/* U+009B is a CSI on terminals that honour C1 controls. */
	check("x\xc2\x9b"
	      "2J",
	      5, false, "x\\u009b2J");
	check("\xc2\x85", 2, false, "\\u0085");
	/* U+00A0 is not a control. */
	check("\xc2\xa0", 2, false, "\xc2\xa0");
}

static void test_invalid_utf8_bytes_escaped(void)
{
	check("a\xff"
	      "b",
	      3, false, "a\\xffb");
	check("\x9b"
	      "2J",
	      3, false, "\\x9b2J");
	/* A lead byte without its continuation, then valid text. */
	check("\xe6\x97"
	      "ok",
	      4, false, "\\xe6\\x97ok");
	/* An overlong encoding of ESC. */
	check("\xc0\x9b", 2, false, "\\xc0\\x9b");
}

static void test_append_adds_to_what_is_there(void)
{
	g_autoptr(GString) out = g_string_new("pre:");

	textesc_append(out, "\033x", 2, false);
	g_assert_cmpstr(out->str, ==, "pre:\\x1bx");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/textesc/plain-text-unchanged", test_plain_text_unchanged);
	g_test_add_func("/textesc/terminal-escape-sequences", test_terminal_escape_sequences);
	g_test_add_func("/textesc/newline-kept-only-when-asked", test_newline_kept_only_when_asked);
	g_test_add_func("/textesc/nul-bytes-escaped", test_nul_bytes_escaped);
	g_test_add_func("/textesc/c1-controls-escaped", test_c1_controls_escaped);
	g_test_add_func("/textesc/invalid-utf8-bytes-escaped", test_invalid_utf8_bytes_escaped);
	g_test_add_func("/textesc/append-adds-to-what-is-there", test_append_adds_to_what_is_there);
	return g_test_run();
}
