#include "nodeinfo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gio/gio.h>
#include <netdb.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

bool nodeinfo_check_name(const char *kind, const char *name, size_t max, GError **err)
{
	size_t len = name ? strlen(name) : 0;
	bool ok =
	    len > 0 && len <= max && g_ascii_isalnum(name[0]) && g_ascii_isalnum(name[len - 1]);

	for (size_t i = 0; ok && i < len; i++)
		ok = g_ascii_isalnum(name[i]) || name[i] == '-';
	if (!ok) {
		g_autofree char *shown = g_strescape(name ? name : "", NULL);
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "invalid %s name '%s': use at most %zu letters, digits and '-', "
			    "starting and ending with a letter or digit",
			    kind, shown, max);
	}
	return ok;
}

char *nodeinfo_nodename(GError **err)
{
	char host[256];

	if (gethostname(host, sizeof(host)) < 0) {
		g_set_error(err, G_FILE_ERROR, g_file_error_from_errno(errno),
			    "cannot read the host name: %s", g_strerror(errno));
		return NULL;
	}
	host[sizeof(host) - 1] = '\0';
	char *dot = strchr(host, '.');
	if (dot)
		*dot = '\0';
	if (!*host) {
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_INVAL,
			    "the host name is empty: set one with 'hostnamectl set-hostname NAME'");
		return NULL;
	}
	return g_strdup(host);
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && in6->sin6_addr.s6_addr[12] == 127);
	}
	return true;
}

char *nodeinfo_resolve(const char *name, GError **err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *res = NULL;
	char buf[INET6_ADDRSTRLEN];
	char *ip = NULL;

	int rc = getaddrinfo(name, NULL, &hints, &res);
	for (struct addrinfo *ai = rc == 0 ? res : NULL; ai && !ip; ai = ai->ai_next) {
		if (is_loopback(ai->ai_addr))
			continue;
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, buf, sizeof(buf), NULL, 0,
				NI_NUMERICHOST) == 0)
			ip = g_strdup(buf);
	}
	if (res)
		freeaddrinfo(res);
	if (!ip)
		g_set_error(err, G_FILE_ERROR, G_FILE_ERROR_NOENT,
			    "unable to resolve node name '%s' to a non-loopback IP address "
			    "(%s): add a line 'ADDRESS %s' with this node's cluster address to "
			    "/etc/hosts, and make sure no line maps '%s' to 127.x or ::1",
			    name, rc ? gai_strerror(rc) : "only loopback addresses", name, name);
	return ip;
}
