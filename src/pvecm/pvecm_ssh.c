#include "pvecm_ssh.h"

#include <errno.h>
#include <gio/gio.h>
#include <libssh/libssh.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define READ_CHUNK 16384
#define READ_POLL_MS 100
/* A password line longer than this is not a password. */
#define PASSWORD_MAX 1024

struct pvecm_ssh {
	ssh_session session;
	char *host;
	char *fingerprint;
};

static bool ssh_fail(GError **err, pvecm_ssh_t *s, const char *what)
{
	g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "%s %s: %s", what, s->host,
		    ssh_get_error(s->session));
	return false;
}

void pvecm_ssh_free(pvecm_ssh_t *s)
{
	if (!s)
		return;
	if (s->session) {
		if (ssh_is_connected(s->session))
			ssh_disconnect(s->session);
		ssh_free(s->session);
	}
	g_free(s->host);
	g_free(s->fingerprint);
	g_free(s);
}

const char *pvecm_ssh_fingerprint(const pvecm_ssh_t *s)
{
	return s->fingerprint;
}

static char *key_fingerprint(ssh_key key)
{
	unsigned char *hash = NULL;
	size_t len = 0;
	char *fp, *out;

	if (ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &len) < 0)
		return NULL;
	fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, len);
	ssh_clean_pubkey_hash(&hash);
	out = g_strdup(fp);
	ssh_string_free_char(fp);
	return out;
}

/* `ssh-keygen -lf` prints "SHA256:<base64 without padding>"; accept what
 * an admin pastes from it, with or without the prefix or padding. */
static bool fingerprint_matches(const char *have, const char *given)
{
	g_autofree char *a = g_strdup(g_str_has_prefix(have, "SHA256:") ? have + 7 : have);
	g_autofree char *b = g_strstrip(g_strdup(given));
	const char *bb = g_str_has_prefix(b, "SHA256:") ? b + 7 : b;
	size_t la = strlen(a), lb = strlen(bb);

	while (la && a[la - 1] == '=')
		la--;
	while (lb && bb[lb - 1] == '=')
		lb--;
	return la > 0 && la == lb && memcmp(a, bb, la) == 0;
}

/* Asks on the terminal; false unless the answer is "yes". */
static bool confirm_on_terminal(const char *question)
{
	FILE *tty = fopen("/dev/tty", "r+");
	char line[64];
	bool yes = false;

	if (!tty)
		return false;
	fputs(question, tty);
	fflush(tty);
	if (fgets(line, sizeof(line), tty))
		yes = strcmp(g_strstrip(line), "yes") == 0;
	fclose(tty);
	return yes;
}

static bool verify_host_key(pvecm_ssh_t *s, const char *given, GError **err)
{
	ssh_key key = NULL;

	if (ssh_get_server_publickey(s->session, &key) < 0)
		return ssh_fail(err, s, "cannot get the host key of");
	s->fingerprint = key_fingerprint(key);
	ssh_key_free(key);
	if (!s->fingerprint)
		return ssh_fail(err, s, "cannot compute the host key fingerprint of");

	if (given) {
		if (fingerprint_matches(s->fingerprint, given))
			return true;
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "host key of %s has fingerprint %s, not the given %s - check the "
			    "fingerprint on that host with 'ssh-keygen -lf "
			    "/etc/ssh/ssh_host_ed25519_key.pub'",
			    s->host, s->fingerprint, given);
		return false;
	}

	switch (ssh_session_is_known_server(s->session)) {
	case SSH_KNOWN_HOSTS_OK:
		return true;
	case SSH_KNOWN_HOSTS_CHANGED:
	case SSH_KNOWN_HOSTS_OTHER:
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "host key of %s (%s) differs from the one in the known hosts - if "
			    "the host was reinstalled, remove its old key ('ssh-keygen -R %s') or "
			    "pass --fingerprint",
			    s->host, s->fingerprint, s->host);
		return false;
	case SSH_KNOWN_HOSTS_ERROR:
		return ssh_fail(err, s, "cannot check the known hosts for");
	case SSH_KNOWN_HOSTS_UNKNOWN:
	case SSH_KNOWN_HOSTS_NOT_FOUND:
		break;
	}
	if (isatty(STDIN_FILENO)) {
		g_autofree char *q =
		    g_strdup_printf("The authenticity of host '%s' can't be established.\n"
				    "Host key fingerprint is %s.\n"
				    "Are you sure you want to continue connecting (yes/no)? ",
				    s->host, s->fingerprint);
		if (confirm_on_terminal(q)) {
			if (ssh_session_update_known_hosts(s->session) != SSH_OK)
				fprintf(stderr,
					"pvecm: warning: cannot remember the host key of "
					"%s: %s\n",
					s->host, ssh_get_error(s->session));
			return true;
		}
	}
	g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
		    "host key of %s (%s) is not known - compare it with 'ssh-keygen -lf "
		    "/etc/ssh/ssh_host_ed25519_key.pub' on that host and pass --fingerprint",
		    s->host, s->fingerprint);
	return false;
}

pvecm_ssh_t *pvecm_ssh_connect(const char *host, const char *fingerprint, GError **err)
{
	g_autoptr(pvecm_ssh_t) s = g_new0(pvecm_ssh_t, 1);
	long timeout = PVECM_SSH_TIMEOUT_S;

	s->host = g_strdup(host);
	s->session = ssh_new();
	if (!s->session) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot set up SSH for %s", host);
		return NULL;
	}
	if (ssh_options_set(s->session, SSH_OPTIONS_HOST, host) < 0 ||
	    ssh_options_set(s->session, SSH_OPTIONS_USER, "root") < 0 ||
	    ssh_options_set(s->session, SSH_OPTIONS_TIMEOUT, &timeout) < 0 ||
	    ssh_options_parse_config(s->session, NULL) < 0) {
		ssh_fail(err, s, "cannot set up SSH for");
		return NULL;
	}
	/* The user's own configuration may name another login; joining
	 * needs root on the other side. */
	ssh_options_set(s->session, SSH_OPTIONS_USER, "root");
	if (ssh_connect(s->session) != SSH_OK) {
		ssh_fail(err, s, "cannot connect to");
		return NULL;
	}
	if (!verify_host_key(s, fingerprint, err))
		return NULL;
	return g_steal_pointer(&s);
}

/* The password from the terminal without echo, or one line of standard
 * input when that is not a terminal. */
static char *read_password(const char *host, GError **err)
{
	g_autofree char *buf = g_malloc0(PASSWORD_MAX + 2);
	bool tty = isatty(STDIN_FILENO);
	struct termios old, quiet;
	bool echo_off = false;
	FILE *in = stdin;
	size_t len;

	/* Echo goes off before the prompt shows: what is typed once it is
	 * shown is never echoed nor flushed away. */
	if (tty) {
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
		}
		fprintf(stderr, "Please enter superuser (root) password for '%s': ", host);
		fflush(stderr);
	}
	bool got = fgets(buf, PASSWORD_MAX + 2, in) != NULL;
	if (echo_off)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	if (tty)
		fputc('\n', stderr);
	if (!got) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "no password for root@%s: SSH keys did not work and none was given %s",
			    host, tty ? "on the terminal" : "on standard input");
		return NULL;
	}
	len = strlen(buf);
	if (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > PASSWORD_MAX) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "the password for root@%s is longer than %d bytes", host, PASSWORD_MAX);
		return NULL;
	}
	return g_steal_pointer(&buf);
}

/* Servers that offer keyboard-interactive instead of password ask the
 * same question through it. */
static int login_kbdint(ssh_session session, const char *password)
{
	int rc = ssh_userauth_kbdint(session, NULL, NULL);

	for (int rounds = 0; rc == SSH_AUTH_INFO && rounds < 8; rounds++) {
		int n = ssh_userauth_kbdint_getnprompts(session);
		for (int i = 0; i < n; i++)
			if (ssh_userauth_kbdint_setanswer(session, (unsigned)i, password) < 0)
				return SSH_AUTH_ERROR;
		rc = ssh_userauth_kbdint(session, NULL, NULL);
	}
	return rc;
}

bool pvecm_ssh_login(pvecm_ssh_t *s, GError **err)
{
	int rc = ssh_userauth_none(s->session, NULL);
	int methods;

	if (rc == SSH_AUTH_SUCCESS)
		return true;
	if (rc == SSH_AUTH_ERROR)
		return ssh_fail(err, s, "cannot log in to");
	methods = ssh_userauth_list(s->session, NULL);
	if (methods & SSH_AUTH_METHOD_PUBLICKEY) {
		rc = ssh_userauth_publickey_auto(s->session, NULL, NULL);
		if (rc == SSH_AUTH_SUCCESS)
			return true;
		if (rc == SSH_AUTH_ERROR)
			return ssh_fail(err, s, "cannot log in with SSH keys to");
	}
	if (!(methods & (SSH_AUTH_METHOD_PASSWORD | SSH_AUTH_METHOD_INTERACTIVE))) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
			    "root@%s refused the SSH keys and takes no password", s->host);
		return false;
	}

	g_autofree char *password = read_password(s->host, err);
	if (!password)
		return false;
	rc = methods & SSH_AUTH_METHOD_PASSWORD ? ssh_userauth_password(s->session, NULL, password)
						: login_kbdint(s->session, password);
	explicit_bzero(password, strlen(password));
	if (rc == SSH_AUTH_SUCCESS)
		return true;
	if (rc == SSH_AUTH_ERROR)
		return ssh_fail(err, s, "cannot log in to");
	g_set_error(err, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
		    "root@%s refused the password - check it and try again", s->host);
	return false;
}

static bool drain(pvecm_ssh_t *s, ssh_channel ch, int is_stderr, GByteArray *out, GString *errout,
		  bool blocking, GError **err)
{
	char buf[READ_CHUNK];

	for (;;) {
		int n = blocking ? ssh_channel_read_timeout(ch, buf, sizeof(buf), is_stderr,
							    READ_POLL_MS)
				 : ssh_channel_read_nonblocking(ch, buf, sizeof(buf), is_stderr);
		if (n == SSH_ERROR)
			return ssh_fail(err, s, "lost the connection to");
		if (n <= 0)
			return true;
		size_t have = is_stderr ? (errout ? errout->len : 0) : (out ? out->len : 0);
		if (have + (size_t)n > PVECM_SSH_MAX_OUTPUT) {
			g_set_error(err, G_IO_ERROR, G_IO_ERROR_MESSAGE_TOO_LARGE,
				    "%s sent more than %u bytes of output", s->host,
				    PVECM_SSH_MAX_OUTPUT);
			return false;
		}
		if (is_stderr && errout)
			g_string_append_len(errout, buf, n);
		else if (!is_stderr && out)
			g_byte_array_append(out, (const guint8 *)buf, (guint)n);
		blocking = false;
	}
}

bool pvecm_ssh_run(pvecm_ssh_t *s, const char *command, GByteArray *out, GString *errout,
		   int *status, GError **err)
{
	ssh_channel ch = ssh_channel_new(s->session);
	gint64 deadline = g_get_monotonic_time() + PVECM_SSH_TIMEOUT_S * G_USEC_PER_SEC;
	bool ok = false;

	if (!ch)
		return ssh_fail(err, s, "cannot open a channel to");
	if (ssh_channel_open_session(ch) != SSH_OK ||
	    ssh_channel_request_exec(ch, command) != SSH_OK) {
		ssh_fail(err, s, "cannot run a command on");
		goto out;
	}
	ssh_channel_send_eof(ch);
	while (!ssh_channel_is_eof(ch)) {
		if (!drain(s, ch, 0, out, errout, true, err) ||
		    !drain(s, ch, 1, out, errout, false, err))
			goto out;
		if (g_get_monotonic_time() > deadline) {
			g_set_error(err, G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
				    "'%s' on %s did not finish within %d s", command, s->host,
				    PVECM_SSH_TIMEOUT_S);
			goto out;
		}
	}
	if (!drain(s, ch, 0, out, errout, false, err) || !drain(s, ch, 1, out, errout, false, err))
		goto out;
	/* The exit status arrives with or after EOF; closing waits for it. */
	ssh_channel_close(ch);
	*status = ssh_channel_get_exit_status(ch);
	if (*status < 0) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_FAILED,
			    "'%s' on %s ended without an exit status", command, s->host);
		goto out;
	}
	ok = true;
out:
	ssh_channel_free(ch);
	return ok;
}
