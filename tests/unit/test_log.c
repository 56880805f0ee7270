/* Unit tests for logging (include/log.h): one event is one line, and what
 * a peer put into a message cannot reach the log as control characters. */
#include "log.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <unistd.h>

/* Runs fn with stderr going to a file; returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
	g_autofree char *path = NULL;
	char *text = NULL;
	int fd = g_file_open_tmp("test_log-XXXXXX", &path, NULL);
	int saved = dup(STDERR_FILENO);

	g_assert_cmpint(fd, >=, 0);
	fflush(stderr);
	g_assert_cmpint(dup2(fd, STDERR_FILENO), >=, 0);
	fn();
	fflush(stderr);
	g_assert_cmpint(dup2(saved, STDERR_FILENO), >=, 0);
	close(saved);
	close(fd);
	g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
	g_unlink(path);
	return text;
}

static void log_peer_name(void)
{
	log_warn("node '%s' left", "evil\033]0;title\007\r\nforged: line");
}

static void test_peer_controls_escaped(void)
{
	g_autofree char *out = capture_stderr(log_peer_name);

	g_assert_cmpstr(out, ==,
			"test_log[warning]: node 'evil\\x1b]0;title\\x07  forged: line' left\n");
}

static void log_c1(void)
{
	log_info("name %s", "a\xc2\x9b"
			    "31mred");
}

static void test_c1_escaped(void)
{
	g_autofree char *out = capture_stderr(log_c1);

	g_assert_cmpstr(out, ==, "test_log[info]: name a\\u009b31mred\n");
}

static void log_plain(void)
{
	log_err("cannot open /etc/pve/nodes/n1: %s", "No such file or directory");
}

static void test_plain_message_unchanged(void)
{
	g_autofree char *out = capture_stderr(log_plain);

	g_assert_cmpstr(
	    out, ==, "test_log[error]: cannot open /etc/pve/nodes/n1: No such file or directory\n");
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	log_init("test_log", false, true);
	g_test_add_func("/log/peer-controls-escaped", test_peer_controls_escaped);
	g_test_add_func("/log/c1-escaped", test_c1_escaped);
	g_test_add_func("/log/plain-message-unchanged", test_plain_message_unchanged);
	return g_test_run();
}
