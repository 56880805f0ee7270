#include "pvecm_link.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

void pvecm_link_clear(pvecm_link_t *link)
{
	g_clear_pointer(&link->addr, g_free);
	link->has_priority = false;
	link->priority = 0;
}

/* The first address getaddrinfo gives, as corosync would pick it. */
static char *resolve(unsigned number, const char *host, GError **err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *res = NULL;
	char buf[INET6_ADDRSTRLEN];
	int rc;

	if (g_hostname_is_ip_address(host))
		return g_strdup(host);
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0 || !res) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
			    "--link%u: cannot resolve host name '%s' (%s) - give an IP address",
			    number, host, rc ? gai_strerror(rc) : "no address");
		return NULL;
	}
	const void *a = res->ai_family == AF_INET6
			    ? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
			    : (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr;
	char *ip = g_strdup(inet_ntop(res->ai_family, a, buf, sizeof(buf)));
	freeaddrinfo(res);
	return ip;
}

bool pvecm_link_parse(unsigned number, const char *value, pvecm_link_t *link, GError **err)
{
	g_auto(GStrv) parts = g_strsplit(value, ",", -1);
	g_autofree char *addr = NULL;
	bool has_priority = false;
	guint64 priority = 0;

	*link = (pvecm_link_t){0};
	for (char **p = parts; *p; p++) {
		const char *part = *p;
		const char *eq = strchr(part, '=');
		if (!eq && p == parts) {
			addr = g_strdup(part);
			continue;
		}
		if (eq && g_str_has_prefix(part, "address=") && !addr) {
			addr = g_strdup(eq + 1);
		} else if (eq && g_str_has_prefix(part, "priority=") && !has_priority) {
			if (!g_ascii_string_to_unsigned(eq + 1, 10, 0, PVECM_LINK_PRIORITY_MAX,
							&priority, NULL)) {
				g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
					    "--link%u: priority '%s' is not a number from 0 to %d",
					    number, eq + 1, PVECM_LINK_PRIORITY_MAX);
				return false;
			}
			has_priority = true;
		} else {
			g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "--link%u: unexpected '%s' - expected "
				    "[address=]ADDRESS[,priority=N]",
				    number, part);
			return false;
		}
	}
	if (!addr || !*addr) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
			    "--link%u: no address - expected [address=]ADDRESS[,priority=N]",
			    number);
		return false;
	}
	link->addr = resolve(number, addr, err);
	if (!link->addr)
		return false;
	link->has_priority = has_priority;
	link->priority = (unsigned)priority;
	return true;
}

bool pvecm_link_parse_opts(const pvecm_cli_call_t *call,
			   pvecm_link_t links[COROSYNC_CONF_MAX_LINKS], GError **err)
{
	for (unsigned i = 0; i < COROSYNC_CONF_MAX_LINKS; i++) {
		g_autofree char *name = g_strdup_printf("link%u", i);
		const char *v = pvecm_cli_opt(call, name);
		if (v && !pvecm_link_parse(i, v, &links[i], err))
			return false;
	}
	for (unsigned i = 1; i < COROSYNC_CONF_MAX_LINKS && !links[0].addr; i++) {
		if (links[i].addr) {
			g_set_error(err, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
				    "--link%u given without --link0 - give link0 as well", i);
			return false;
		}
	}
	return true;
}

char *pvecm_link_format(const pvecm_link_t *link)
{
	return link->has_priority ? g_strdup_printf("%s,priority=%u", link->addr, link->priority)
				  : g_strdup(link->addr);
}
