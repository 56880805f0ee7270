#include "pvecm_mtunnel.h"

#include "datacenter_conf.h"
#include "nodeinfo.h"
#include "pvecm_daemon.h"
#include "pvecm_env.h"

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define CMD "mtunnel"
#define OPT_NETWORK "migration_network"
#define OPT_GET_IP "get_migration_ip"
#define OPT_RUN "run-command"

const pvecm_cli_arg_t pvecm_mtunnel_args[] = {
    {
	.name = "extra-args",
	.description = "With --run-command: the command and its arguments, after '--'.",
	.optional = true,
	.variadic = true,
    },
    {.name = NULL},
};

const pvecm_cli_opt_t pvecm_mtunnel_opts[] = {
    {
	.name = OPT_GET_IP,
	.type = PVECM_CLI_BOOLEAN,
	.default_text = "0",
	.description = "Print this node's address in the migration network, or 'no ip' when "
		       "no migration network is configured.",
    },
    {
	.name = OPT_NETWORK,
	.type = PVECM_CLI_STRING,
	.value_text = "<CIDR>",
	.description = "The migration network in which this node's migration address is "
		       "looked up; default: the network of the 'migration' property in "
		       "datacenter.cfg.",
    },
    {
	.name = OPT_RUN,
	.type = PVECM_CLI_BOOLEAN,
	.description = "Listen on the migration address, print the address and the port on "
		       "two lines, and run the command given after '--' with the first "
		       "connection as its standard input.",
    },
    {.name = NULL},
};

/* The migration network */

/* This node's distinct addresses in net, on interfaces that are up, as
 * text; the same address on two interfaces counts once. */
static GPtrArray *local_addresses_in(GInetAddressMask *net, GError **err)
{
	GPtrArray *found = g_ptr_array_new_with_free_func(g_free);
	struct ifaddrs *ifa_list = NULL;

	if (getifaddrs(&ifa_list) < 0) {
		g_set_error(err, G_IO_ERROR, g_io_error_from_errno(errno),
			    "cannot list this node's addresses: %s", g_strerror(errno));
		g_ptr_array_unref(found);
		return NULL;
	}
	for (struct ifaddrs *ifa = ifa_list; ifa; ifa = ifa->ifa_next) {
		const struct sockaddr *sa = ifa->ifa_addr;
		g_autoptr(GInetAddress) addr = NULL;
		g_autofree char *text = NULL;

		if (!sa || !(ifa->ifa_flags & IFF_UP))
			continue;
		if (sa->sa_family == AF_INET)
			addr = g_inet_address_new_from_bytes(
			    (const guint8 *)&((const struct sockaddr_in *)(const void *)sa)
				->sin_addr,
			    G_SOCKET_FAMILY_IPV4);
		else if (sa->sa_family == AF_INET6)
			addr = g_inet_address_new_from_bytes(
			    (const guint8 *)&((const struct sockaddr_in6 *)(const void *)sa)
				->sin6_addr,
			    G_SOCKET_FAMILY_IPV6);
		if (!addr || !g_inet_address_mask_matches(net, addr))
			continue;
		text = g_inet_address_to_string(addr);
		if (!g_ptr_array_find_with_equal_func(found, text, g_str_equal, NULL))
			g_ptr_array_add(found, g_steal_pointer(&text));
	}
	freeifaddrs(ifa_list);
	return found;
}

/* The migration network: --migration_network, else datacenter.cfg's; *net
 * NULL when neither sets one. *cidr is the network as the admin wrote it,
 * for messages. Returns the exit code. */
static int migration_network(const pvecm_cli_call_t *call, GInetAddressMask **net, char **cidr)
{
	const char *given = pvecm_cli_opt(call, OPT_NETWORK);
	g_autofree char *path = NULL;
	g_autoptr(datacenter_conf_t) conf = NULL;
	g_autoptr(GError) err = NULL;

	*net = NULL;
	*cidr = NULL;
	if (given) {
		*net = datacenter_conf_parse_cidr(given, &err);
		if (!*net)
			return pvecm_cli_fail(CMD, PVECM_EXIT_USAGE, "--" OPT_NETWORK ": %s",
					      err->message);
		*cidr = g_strdup(given);
		return PVECM_EXIT_OK;
	}
	path = g_build_filename(pvecm_env_pve_dir(), DATACENTER_CONF_NAME, NULL);
	conf = datacenter_conf_load(path, &err);
	if (!conf)
		return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "%s", err->message);
	if (datacenter_conf_migration_network(conf)) {
		*net = g_object_ref(datacenter_conf_migration_network(conf));
		*cidr = datacenter_conf_cidr_to_string(*net);
	}
	return PVECM_EXIT_OK;
}

/* This node's one address in the migration network into *ip, NULL when
 * no network is configured. Returns the exit code; the two errors are the
 * reference's, which the migrating node passes on to the admin. */
static int migration_ip(const pvecm_cli_call_t *call, char **ip)
{
	g_autoptr(GInetAddressMask) net = NULL;
	g_autofree char *cidr = NULL;
	g_autoptr(GPtrArray) addrs = NULL;
	g_autoptr(GError) err = NULL;
	int rc = migration_network(call, &net, &cidr);

	*ip = NULL;
	if (rc != PVECM_EXIT_OK || !net)
		return rc;
	addrs = local_addresses_in(net, &err);
	if (!addrs)
		return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "%s", err->message);
	if (addrs->len == 0)
		return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED,
				      "could not get migration ip: no IP address configured on "
				      "local node for network '%s'",
				      cidr);
	if (addrs->len > 1)
		return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED,
				      "could not get migration ip: multiple IP address configured "
				      "for network '%s'",
				      cidr);
	*ip = g_strdup(g_ptr_array_index(addrs, 0));
	return PVECM_EXIT_OK;
}

/* --run-command */

/* A socket listening on ip at the first free port of the migration range;
 * -1 after saying why. */
static int listen_migration_port(const char *ip, int *port)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	int rc = getaddrinfo(ip, NULL, &hints, &ai);
	int fd = -1;

	if (rc != 0) {
		pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "'%s' is not an IP address: %s", ip,
			       gai_strerror(rc));
		return -1;
	}
	for (int p = PVECM_MTUNNEL_PORT_MIN; p <= PVECM_MTUNNEL_PORT_MAX; p++) {
		int one = 1;

		if (ai->ai_family == AF_INET6)
			((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_port =
			    htons((uint16_t)p);
		else
			((struct sockaddr_in *)(void *)ai->ai_addr)->sin_port = htons((uint16_t)p);
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
			pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "cannot create a socket: %s",
				       g_strerror(errno));
			break;
		}
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0) {
			*port = p;
			freeaddrinfo(ai);
			return fd;
		}
		rc = errno;
		close(fd);
		fd = -1;
		if (rc != EADDRINUSE) {
			pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "cannot listen on %s port %d: %s",
				       ip, p, g_strerror(rc));
			break;
		}
	}
	if (rc == EADDRINUSE)
		pvecm_cli_fail(CMD, PVECM_EXIT_FAILED,
			       "no free port from %d to %d on %s: too many migrations at once",
			       PVECM_MTUNNEL_PORT_MIN, PVECM_MTUNNEL_PORT_MAX, ip);
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	return -1;
}

/* The one client, or -1 after saying why. Closes the listening socket. */
static int accept_client(int lfd)
{
	struct pollfd pfd = {.fd = lfd, .events = POLLIN};
	int n, fd = -1;

	do
		n = poll(&pfd, 1, PVECM_MTUNNEL_ACCEPT_TIMEOUT_S * 1000);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "timed out waiting for client (%d s)",
			       PVECM_MTUNNEL_ACCEPT_TIMEOUT_S);
	else if (n < 0 || (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
		pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "cannot accept the client: %s",
			       g_strerror(errno));
	close(lfd);
	return fd;
}

/* Runs argv with fd as its standard input; the exit code. The command
 * owns the connection: when it closes its input, the connection ends. */
static int run_with_input(char **argv, int fd)
{
	int status = 0;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(fd);
		return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "cannot fork: %s", g_strerror(errno));
	}
	if (pid == 0) {
		if (dup2(fd, STDIN_FILENO) >= 0)
			execvp(argv[0], argv);
		fprintf(stderr, "pvecm " CMD ": cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "cannot wait for '%s': %s",
					      argv[0], g_strerror(errno));
	if (WIFSIGNALED(status))
		return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "'%s' got signal %d", argv[0],
				      WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "'%s' exited with code %d", argv[0],
				      WEXITSTATUS(status));
	return PVECM_EXIT_OK;
}

static int run_command(const pvecm_cli_call_t *call)
{
	size_t n = pvecm_cli_nargs(call);
	g_autofree char *ip = NULL;
	g_autofree char *nodename = NULL;
	g_autofree char **argv = NULL;
	g_autoptr(GError) err = NULL;
	int rc, lfd, fd, port = 0;

	if (n == 0)
		return pvecm_cli_fail(CMD, PVECM_EXIT_USAGE,
				      "missing command: give it after '--" OPT_RUN " --'");
	rc = migration_ip(call, &ip);
	if (rc != PVECM_EXIT_OK)
		return rc;
	if (!ip) {
		nodename = nodeinfo_nodename(&err);
		ip = nodename ? nodeinfo_resolve(nodename, &err) : NULL;
		if (!ip)
			return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "%s", err->message);
	}
	lfd = listen_migration_port(ip, &port);
	if (lfd < 0)
		return PVECM_EXIT_FAILED;
	/* The caller reads where to connect before it connects. */
	printf("%s\n%d\n", ip, port);
	if (fflush(stdout) != 0) {
		close(lfd);
		return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "cannot write output: %s",
				      g_strerror(errno));
	}
	fd = accept_client(lfd);
	if (fd < 0)
		return PVECM_EXIT_FAILED;
	argv = g_new0(char *, n + 1);
	for (size_t i = 0; i < n; i++)
		argv[i] = (char *)pvecm_cli_arg(call, i);
	return run_with_input(argv, fd);
}

/* The plain tunnel */

static int tunnel(void)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	printf("tunnel online\n");
	if (fflush(stdout) != 0)
		return pvecm_cli_fail(CMD, PVECM_EXIT_FAILED, "cannot write output: %s",
				      g_strerror(errno));
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		if (len > 0 && line[len - 1] == '\n')
			line[len - 1] = '\0';
		if (strcmp(line, "quit") == 0)
			break;
	}
	free(line);
	return PVECM_EXIT_OK;
}

/* Quorum as pmxcfsd sees it: /etc/pve is writable. A daemon that does not
 * answer is no quorum either, said once on stderr. */
static bool have_quorum(void)
{
	pvecm_daemon_status_t st;
	int rc = pvecm_daemon_status(&st, false);
	bool quorate = rc == PVECM_EXIT_OK && st.quorate;

	if (rc != PVECM_EXIT_OK)
		fprintf(stderr, "pvecm " CMD ": pmxcfsd does not answer on %s\n",
			pvecm_env_socket());
	pvecm_daemon_status_clear(&st);
	return quorate;
}

int pvecm_mtunnel_run(const pvecm_cli_call_t *call)
{
	bool get_ip = pvecm_cli_flag(call, OPT_GET_IP, false);
	bool run = pvecm_cli_flag(call, OPT_RUN, false);
	g_autofree char *ip = NULL;
	int rc;

	if (get_ip && run)
		return pvecm_cli_fail(CMD, PVECM_EXIT_USAGE,
				      "cannot use --" OPT_RUN " with --" OPT_GET_IP);
	if (!run && pvecm_cli_nargs(call) > 0)
		return pvecm_cli_fail(CMD, PVECM_EXIT_USAGE,
				      "a command is only run with --" OPT_RUN " (got '%s')",
				      pvecm_cli_arg(call, 0));
	if (pvecm_cli_opt(call, OPT_NETWORK)) {
		g_autoptr(GError) err = NULL;
		g_autoptr(GInetAddressMask) net =
		    datacenter_conf_parse_cidr(pvecm_cli_opt(call, OPT_NETWORK), &err);

		if (!net)
			return pvecm_cli_fail(CMD, PVECM_EXIT_USAGE, "--" OPT_NETWORK ": %s",
					      err->message);
	}
	if (!have_quorum()) {
		printf("no quorum\n");
		return PVECM_EXIT_OK;
	}
	if (run)
		return run_command(call);
	if (!get_ip)
		return tunnel();
	rc = migration_ip(call, &ip);
	if (rc != PVECM_EXIT_OK)
		return rc;
	if (ip)
		printf("ip: '%s'\n", ip);
	else
		printf("no ip\n");
	return PVECM_EXIT_OK;
}
