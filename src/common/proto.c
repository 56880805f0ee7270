#include "proto.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

GQuark proto_error_quark(void)
{
	return g_quark_from_static_string("proto-error-quark");
}

int proto_error_errno(const GError *err)
{
	if (!err || err->domain != PROTO_ERROR)
		return -EIO;
	switch (err->code) {
	case PROTO_ERROR_BAD_MAGIC:
		return -EPROTO;
	case PROTO_ERROR_VERSION:
		return -EPROTONOSUPPORT;
	case PROTO_ERROR_TOO_LARGE:
		return -EMSGSIZE;
	case PROTO_ERROR_TRUNCATED:
	case PROTO_ERROR_TRAILING:
	case PROTO_ERROR_BAD_PAYLOAD:
	case PROTO_ERROR_INVALID:
		return -EINVAL;
	default:
		return -EIO;
	}
}

static void put_u16(uint8_t *p, uint16_t v)
{
	v = GUINT16_TO_LE(v);
	memcpy(p, &v, sizeof(v));
}

static void put_u32(uint8_t *p, uint32_t v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, sizeof(v));
}

static uint16_t get_u16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return GUINT16_FROM_LE(v);
}

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return GUINT32_FROM_LE(v);
}

GBytes *proto_encode(uint16_t type, uint32_t flags, uint32_t request_id, int32_t status,
		     GVariant *payload, GError **err)
{
	g_autoptr(GVariant) owned = payload ? g_variant_ref_sink(payload) : NULL;
	size_t len = owned ? g_variant_get_size(owned) : 0;
	uint8_t *buf;

	if (len > PROTO_MAX_PAYLOAD) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_TOO_LARGE,
			    "payload of %zu bytes exceeds the maximum of %u", len,
			    PROTO_MAX_PAYLOAD);
		return NULL;
	}
	buf = g_malloc(PROTO_HEADER_SIZE + len);
	put_u32(buf + 0, PROTO_MAGIC);
	put_u16(buf + 4, PROTO_VERSION);
	put_u16(buf + 6, type);
	put_u32(buf + 8, flags);
	put_u32(buf + 12, (uint32_t)len);
	put_u32(buf + 16, request_id);
	put_u32(buf + 20, (uint32_t)status);
	if (len)
		g_variant_store(owned, buf + PROTO_HEADER_SIZE);
	return g_bytes_new_take(buf, PROTO_HEADER_SIZE + len);
}

gboolean proto_header_decode(const void *buf, size_t len, proto_header_t *hdr, GError **err)
{
	const uint8_t *p = buf;

	if (len < PROTO_HEADER_SIZE) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_TRUNCATED,
			    "truncated header: %zu of %d bytes", len, PROTO_HEADER_SIZE);
		return FALSE;
	}
	hdr->magic = get_u32(p + 0);
	hdr->version = get_u16(p + 4);
	hdr->type = get_u16(p + 6);
	hdr->flags = get_u32(p + 8);
	hdr->length = get_u32(p + 12);
	hdr->request_id = get_u32(p + 16);
	hdr->status = (int32_t)get_u32(p + 20);
	if (hdr->magic != PROTO_MAGIC) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_BAD_MAGIC,
			    "bad magic 0x%08x, expected 0x%08x", hdr->magic, PROTO_MAGIC);
		return FALSE;
	}
	if (hdr->version != PROTO_VERSION) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_VERSION,
			    "protocol version %u, expected %u", hdr->version, PROTO_VERSION);
		return FALSE;
	}
	if (hdr->flags & ~PROTO_FLAGS_KNOWN) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_INVALID, "unknown flags 0x%x",
			    hdr->flags & ~PROTO_FLAGS_KNOWN);
		return FALSE;
	}
	if (hdr->length > PROTO_MAX_PAYLOAD) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_TOO_LARGE,
			    "payload length %u exceeds the maximum of %u", hdr->length,
			    PROTO_MAX_PAYLOAD);
		return FALSE;
	}
	return TRUE;
}

GVariant *proto_payload_decode(const void *buf, size_t len, const char *type, GError **err)
{
	g_autoptr(GBytes) bytes = NULL;
	g_autoptr(GVariant) value = NULL;

	if (!g_variant_type_string_is_valid(type)) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_BAD_PAYLOAD,
			    "'%s' is not a GVariant type string", type);
		return NULL;
	}
	if (len == 0) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_BAD_PAYLOAD,
			    "empty payload where a value of type '%s' was expected", type);
		return NULL;
	}
	bytes = g_bytes_new(buf, len);
	value = g_variant_ref_sink(g_variant_new_from_bytes(G_VARIANT_TYPE(type), bytes, FALSE));
	/* Anything not in normal form did not come from g_variant_store of a
	 * value of this type: wrong type, truncated, or forged offsets. */
	if (!g_variant_is_normal_form(value)) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_BAD_PAYLOAD,
			    "payload of %zu bytes is not a valid value of type '%s'", len, type);
		return NULL;
	}
	return g_steal_pointer(&value);
}

gboolean proto_decode(const void *buf, size_t len, const char *payload_type, proto_header_t *hdr,
		      GVariant **payload, GError **err)
{
	const uint8_t *p = buf;
	size_t total;

	*payload = NULL;
	if (!proto_header_decode(buf, len, hdr, err))
		return FALSE;
	total = PROTO_HEADER_SIZE + (size_t)hdr->length;
	if (len < total) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_TRUNCATED,
			    "truncated frame: %zu of %zu bytes", len, total);
		return FALSE;
	}
	if (len > total) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_TRAILING,
			    "%zu bytes after the end of the frame", len - total);
		return FALSE;
	}
	if (hdr->length == 0)
		return TRUE;
	*payload = proto_payload_decode(p + PROTO_HEADER_SIZE, hdr->length, payload_type, err);
	return *payload != NULL;
}

/* Client side. */

typedef struct {
	int fd;
	const char *path;
	int timeout_ms;
	gint64 deadline;
} call_t;

static int ms_left(const call_t *c)
{
	gint64 left = c->deadline - g_get_monotonic_time();

	return left <= 0 ? 0 : (int)((left + 999) / 1000);
}

static void set_errno_error(GError **err, const char *path, const char *what, int e)
{
	int code = (e == ENOENT || e == ECONNREFUSED) ? PROTO_ERROR_NOT_RUNNING : PROTO_ERROR_IO;

	g_set_error(err, PROTO_ERROR, code, "cannot %s %s: %s", what, path, g_strerror(e));
}

static void set_timeout_error(GError **err, const call_t *c, const char *what)
{
	g_set_error(err, PROTO_ERROR, PROTO_ERROR_TIMEOUT, "cannot %s %s: no progress within %d ms",
		    what, c->path, c->timeout_ms);
}

static gboolean client_connect(call_t *c, GError **err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = c->timeout_ms / 1000,
			     .tv_usec = (c->timeout_ms % 1000) * 1000};

	if (strlen(c->path) >= sizeof(addr.sun_path)) {
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_IO, "socket path too long: %s", c->path);
		return FALSE;
	}
	strcpy(addr.sun_path, c->path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		set_errno_error(err, c->path, "create a socket for", errno);
		return FALSE;
	}
	/* A full listen backlog blocks connect and a stuck daemon blocks send;
	 * both honour the send timeout on UNIX sockets. */
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
		return TRUE;
	if (errno == EAGAIN || errno == EINPROGRESS)
		set_timeout_error(err, c, "connect to");
	else
		set_errno_error(err, c->path, "connect to", errno);
	return FALSE;
}

static gboolean client_send(const call_t *c, GBytes *frame, GError **err)
{
	size_t len;
	const uint8_t *p = g_bytes_get_data(frame, &len);

	while (len > 0) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			set_timeout_error(err, c, "send to");
			return FALSE;
		}
		if (n < 0) {
			set_errno_error(err, c->path, "send to", errno);
			return FALSE;
		}
		p += n;
		len -= (size_t)n;
	}
	return TRUE;
}

/* Reads exactly len bytes before the call's deadline. */
static gboolean client_read(const call_t *c, uint8_t *buf, size_t len, GError **err)
{
	while (len > 0) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int rc = poll(&pfd, 1, ms_left(c));
		ssize_t n;

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0) {
			set_errno_error(err, c->path, "wait for a reply on", errno);
			return FALSE;
		}
		if (rc == 0) {
			set_timeout_error(err, c, "read a reply from");
			return FALSE;
		}
		n = recv(c->fd, buf, len, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			set_errno_error(err, c->path, "read a reply from", errno);
			return FALSE;
		}
		if (n == 0) {
			g_set_error(err, PROTO_ERROR, PROTO_ERROR_CLOSED,
				    "%s closed the connection before replying", c->path);
			return FALSE;
		}
		buf += n;
		len -= (size_t)n;
	}
	return TRUE;
}

static gboolean client_read_header(const call_t *c, proto_header_t *hdr, GError **err)
{
	g_autoptr(GError) local = NULL;
	uint8_t hbuf[PROTO_HEADER_SIZE];

	if (!client_read(c, hbuf, sizeof(hbuf), err))
		return FALSE;
	if (proto_header_decode(hbuf, sizeof(hbuf), hdr, &local))
		return TRUE;
	if (g_error_matches(local, PROTO_ERROR, PROTO_ERROR_VERSION))
		g_set_error(err, PROTO_ERROR, PROTO_ERROR_VERSION,
			    "incompatible pvecm and pmxcfsd (protocol %u vs %u)", PROTO_VERSION,
			    hdr->version);
	else
		g_set_error(err, local->domain, local->code, "bad reply from %s: %s", c->path,
			    local->message);
	return FALSE;
}

static gboolean check_reply_header(const call_t *c, const proto_header_t *hdr, uint16_t type,
				   uint32_t id, GError **err)
{
	const char *why = NULL;

	if (!(hdr->flags & PROTO_FLAG_REPLY))
		why = "a request where a reply was expected";
	else if (hdr->type != type || hdr->request_id != id)
		why = "a reply to another request";
	else if (hdr->status > 0)
		why = "a positive status";
	else if (hdr->status < 0 && hdr->length != 0)
		why = "an error reply with a payload";
	else if (hdr->status == 0 && hdr->length == 0)
		why = "a reply without payload";
	if (!why)
		return TRUE;
	g_set_error(err, PROTO_ERROR, PROTO_ERROR_INVALID, "bad reply from %s: %s", c->path, why);
	return FALSE;
}

static uint32_t next_request_id(void)
{
	static gint counter;
	uint32_t id;

	/* The pid tells concurrent clients apart in the daemon's logs; id 0
	 * is the server's refusal of a connection. */
	do
		id = ((uint32_t)getpid() << 16) ^ (uint32_t)g_atomic_int_add(&counter, 1);
	while (id == 0);
	return id;
}

static gboolean is_refusal(const proto_header_t *hdr)
{
	return (hdr->flags & PROTO_FLAG_REPLY) && hdr->type == PROTO_CMD_NONE &&
	       hdr->request_id == 0 && hdr->status < 0;
}

static void set_refused_error(GError **err, const call_t *c, int32_t status)
{
	g_set_error(err, PROTO_ERROR, PROTO_ERROR_REFUSED,
		    "pmxcfsd refused the connection on %s: %s%s", c->path, g_strerror(-status),
		    status == -EUSERS ? " (too many connections open; retry once some are closed)"
				      : "");
}

/* A server that turned the connection away may have closed it before the
 * request was sent; its reason is still waiting to be read. */
static gboolean send_or_refused(const call_t *c, GBytes *frame, GError **err)
{
	proto_header_t hdr;

	if (client_send(c, frame, err))
		return TRUE;
	if (client_read_header(c, &hdr, NULL) && is_refusal(&hdr)) {
		g_clear_error(err);
		set_refused_error(err, c, hdr.status);
	}
	return FALSE;
}

static gboolean client_exchange(const call_t *c, uint16_t type, GVariant *request,
				const char *reply_type, int32_t *status, GVariant **reply,
				GError **err)
{
	uint32_t id = next_request_id();
	g_autoptr(GBytes) frame = proto_encode(type, 0, id, 0, request, err);
	g_autofree uint8_t *payload = NULL;
	proto_header_t hdr;

	if (!frame || !send_or_refused(c, frame, err) || !client_read_header(c, &hdr, err))
		return FALSE;
	if (is_refusal(&hdr)) {
		set_refused_error(err, c, hdr.status);
		return FALSE;
	}
	if (!check_reply_header(c, &hdr, type, id, err))
		return FALSE;
	*status = hdr.status;
	if (hdr.length == 0)
		return TRUE;
	payload = g_malloc(hdr.length);
	if (!client_read(c, payload, hdr.length, err))
		return FALSE;
	*reply = proto_payload_decode(payload, hdr.length, reply_type, err);
	if (!*reply)
		g_prefix_error(err, "bad reply from %s: ", c->path);
	return *reply != NULL;
}

gboolean proto_call(const char *path, uint16_t type, GVariant *request, const char *reply_type,
		    int timeout_ms, int32_t *status, GVariant **reply, GError **err)
{
	g_autoptr(GVariant) owned = NULL;
	call_t c = {.fd = -1, .path = path, .timeout_ms = timeout_ms};
	gboolean ok;

	g_return_val_if_fail(request != NULL, FALSE);
	owned = g_variant_ref_sink(request);
	*status = 0;
	*reply = NULL;
	c.deadline = g_get_monotonic_time() + (gint64)timeout_ms * 1000;
	ok = client_connect(&c, err) &&
	     client_exchange(&c, type, owned, reply_type, status, reply, err);
	if (c.fd >= 0)
		close(c.fd);
	return ok;
}
