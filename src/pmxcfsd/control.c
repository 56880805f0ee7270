#include "control.h"

#include "log.h"
#include "proto.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A connection never buffers more than one maximal frame: the header is
 * checked before the payload is read, and nothing more is read while a
 * reply is still queued. */
#define CONTROL_INBUF_MAX (PROTO_HEADER_SIZE + PROTO_MAX_PAYLOAD)
#define CONTROL_READ_CHUNK 4096

/* Out of file descriptors: stop accepting for a moment instead of spinning
 * on a listening socket that stays readable. */
#define CONTROL_ACCEPT_PAUSE_MS 1000

typedef struct conn conn_t;

struct control {
	char *path;
	int fd;
	GMainContext *context;
	GSource *listen_src;
	GSource *pause_src;
	const control_cmd_t *cmds;
	size_t ncmds;
	void *ctx;
	GList *conns;
	guint nconns;
	gint64 idle_us;
};

struct conn {
	control_t *ctl;
	GList *link;
	int fd;
	GSource *src;
	gpointer tag;
	uid_t uid;
	pid_t pid;
	bool denied;  /* not root: the first request is answered -EPERM */
	bool closing; /* close once the queued reply is written */
	bool eof;     /* the peer will send nothing more */
	gint64 idle_since;
	GByteArray *in;
	GByteArray *out;
	size_t out_off;
};

typedef struct {
	GSource base;
	conn_t *conn;
} conn_source_t;

static void conn_free(conn_t *c)
{
	control_t *ctl = c->ctl;

	ctl->conns = g_list_delete_link(ctl->conns, c->link);
	ctl->nconns--;
	if (c->src) {
		g_source_destroy(c->src);
		g_source_unref(c->src);
	}
	close(c->fd);
	g_byte_array_unref(c->in);
	g_byte_array_unref(c->out);
	g_free(c);
}

static const control_cmd_t *find_cmd(const control_t *ctl, uint16_t type)
{
	for (size_t i = 0; i < ctl->ncmds; i++)
		if (ctl->cmds[i].type == type)
			return &ctl->cmds[i];
	return NULL;
}

static void queue_frame(conn_t *c, GBytes *frame)
{
	size_t len;
	const uint8_t *p = g_bytes_get_data(frame, &len);

	g_byte_array_append(c->out, p, (guint)len);
}

static void queue_reply(conn_t *c, const proto_header_t *req, int status, GVariant *payload)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GBytes) frame = NULL;

	frame = proto_encode(req->type, PROTO_FLAG_REPLY, req->request_id, status, payload, &err);
	if (!frame) {
		log_err("control: reply to request %u (type %u) from pid %d: %s", req->request_id,
			req->type, (int)c->pid, err->message);
		frame = proto_encode(req->type, PROTO_FLAG_REPLY, req->request_id, -EMSGSIZE, NULL,
				     NULL);
	}
	queue_frame(c, frame);
}

/* Writes what it can. Returns false when the peer is gone. */
static bool conn_flush(conn_t *c)
{
	while (c->out_off < c->out->len) {
		ssize_t n =
		    send(c->fd, c->out->data + c->out_off, c->out->len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n < 0) {
			log_debug("control: write to pid %d: %s", (int)c->pid, g_strerror(errno));
			return false;
		}
		c->out_off += (size_t)n;
	}
	g_byte_array_set_size(c->out, 0);
	c->out_off = 0;
	return true;
}

static bool out_pending(const conn_t *c)
{
	return c->out_off < c->out->len;
}

static int run_handler(conn_t *c, const control_cmd_t *cmd, GVariant *request, GVariant **reply)
{
	int rc = cmd->handler(c->ctl->ctx, request, reply);

	if (*reply)
		g_variant_ref_sink(*reply);
	if (rc > 0) {
		log_err("control: handler %s returned %d, not 0 or a negative errno", cmd->name,
			rc);
		rc = -EIO;
	}
	if (rc < 0 && *reply)
		g_clear_pointer(reply, g_variant_unref);
	if (rc == 0 && !*reply)
		*reply = g_variant_ref_sink(g_variant_new("()"));
	return rc;
}

static void dispatch(conn_t *c, const proto_header_t *hdr, const uint8_t *payload)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) request = NULL;
	g_autoptr(GVariant) reply = NULL;
	const control_cmd_t *cmd = find_cmd(c->ctl, hdr->type);
	int rc;

	if ((hdr->flags & PROTO_FLAG_REPLY) || hdr->status != 0) {
		log_warn("control: pid %d sent a reply or a status as a request", (int)c->pid);
		queue_reply(c, hdr, -EINVAL, NULL);
		return;
	}
	if (!cmd) {
		log_debug("control: pid %d sent unknown command type %u", (int)c->pid, hdr->type);
		queue_reply(c, hdr, -ENOSYS, NULL);
		return;
	}
	if (hdr->length > cmd->max_payload) {
		log_warn("control: %s from pid %d: payload of %u bytes exceeds %u", cmd->name,
			 (int)c->pid, hdr->length, cmd->max_payload);
		queue_reply(c, hdr, -EMSGSIZE, NULL);
		return;
	}
	request = proto_payload_decode(payload, hdr->length, cmd->request_type, &err);
	if (!request) {
		log_warn("control: %s from pid %d: %s", cmd->name, (int)c->pid, err->message);
		queue_reply(c, hdr, -EINVAL, NULL);
		return;
	}
	log_debug("control: %s from pid %d", cmd->name, (int)c->pid);
	rc = run_handler(c, cmd, request, &reply);
	queue_reply(c, hdr, rc, reply);
}

/* Answers a header that cannot be trusted and marks the connection for
 * closing: after a bad header nothing says where the next frame begins. */
static void reject_header(conn_t *c, const proto_header_t *hdr, const GError *err)
{
	proto_header_t reply_to = {0};

	log_warn("control: bad frame from pid %d (uid %u): %s", (int)c->pid, (unsigned)c->uid,
		 err->message);
	/* Type and id are only meaningful when the magic and the version
	 * matched; the peer then learns which request failed. */
	if (g_error_matches(err, PROTO_ERROR, PROTO_ERROR_TOO_LARGE) ||
	    g_error_matches(err, PROTO_ERROR, PROTO_ERROR_INVALID))
		reply_to = *hdr;
	queue_reply(c, &reply_to, proto_error_errno(err), NULL);
	c->closing = true;
}

static void deny(conn_t *c, const proto_header_t *hdr)
{
	queue_reply(c, hdr, -EPERM, NULL);
	c->closing = true;
}

/* Handles at most one complete frame from the input buffer. Returns true if
 * it consumed one. */
static bool process_one(conn_t *c)
{
	g_autoptr(GError) err = NULL;
	proto_header_t hdr;
	size_t total;

	if (c->in->len < PROTO_HEADER_SIZE)
		return false;
	if (!proto_header_decode(c->in->data, c->in->len, &hdr, &err)) {
		reject_header(c, &hdr, err);
		return false;
	}
	if (c->denied) {
		deny(c, &hdr);
		return false;
	}
	total = PROTO_HEADER_SIZE + (size_t)hdr.length;
	if (c->in->len < total)
		return false;
	dispatch(c, &hdr, c->in->data + PROTO_HEADER_SIZE);
	g_byte_array_remove_range(c->in, 0, (guint)total);
	return true;
}

/* Reads what is there, up to one maximal frame. Returns false on error; EOF
 * only sets eof, so frames that came with it are still answered. */
static bool conn_read(conn_t *c)
{
	while (c->in->len < CONTROL_INBUF_MAX) {
		size_t room = MIN((size_t)CONTROL_READ_CHUNK, CONTROL_INBUF_MAX - c->in->len);
		guint old = c->in->len;
		ssize_t n;

		g_byte_array_set_size(c->in, old + (guint)room);
		n = recv(c->fd, c->in->data + old, room, 0);
		g_byte_array_set_size(c->in, old + (guint)MAX(n, 0));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n < 0) {
			log_debug("control: read from pid %d: %s", (int)c->pid, g_strerror(errno));
			return false;
		}
		if (n == 0) {
			c->eof = true;
			return true;
		}
	}
	return true;
}

/* Serves complete frames one at a time; a frame waits while the reply to
 * the previous one cannot be written, which bounds the output buffer. */
static bool conn_process(conn_t *c)
{
	while (!c->closing && !out_pending(c) && process_one(c))
		if (!conn_flush(c))
			return false;
	if (!conn_flush(c))
		return false;
	/* Nothing left that could be answered: what remains is a partial
	 * frame the peer will never finish. */
	if (c->eof && !out_pending(c) && !c->closing) {
		if (c->in->len)
			log_debug("control: pid %d left in the middle of a frame", (int)c->pid);
		c->closing = true;
	}
	return true;
}

static void conn_watch(conn_t *c)
{
	g_source_modify_unix_fd(c->src, c->tag, out_pending(c) ? G_IO_OUT : G_IO_IN);
}

/* Returns false when the connection is to be torn down. */
static bool conn_event(conn_t *c, GIOCondition rev)
{
	if (rev & (G_IO_ERR | G_IO_NVAL))
		return false;
	if ((rev & G_IO_OUT) && !conn_flush(c))
		return false;
	if ((rev & (G_IO_IN | G_IO_HUP)) && !out_pending(c) && !c->closing && !c->eof &&
	    !conn_read(c))
		return false;
	if (!conn_process(c))
		return false;
	if (c->closing && !out_pending(c))
		return false;
	/* HUP stays set: waiting for OUT would spin on a peer that is gone. */
	if ((rev & G_IO_HUP) && out_pending(c))
		return false;
	conn_watch(c);
	return true;
}

/* Any traffic restarts the idle clock; the source's ready time is when a
 * silent connection is dropped. */
static void conn_touch(conn_t *c)
{
	c->idle_since = g_get_monotonic_time();
	g_source_set_ready_time(c->src, c->idle_since + c->ctl->idle_us);
}

static gboolean conn_dispatch(GSource *src, GSourceFunc cb, gpointer data)
{
	conn_t *c = ((conn_source_t *)src)->conn;
	GIOCondition rev = g_source_query_unix_fd(src, c->tag);

	if (rev) {
		conn_touch(c);
		if (conn_event(c, rev))
			return G_SOURCE_CONTINUE;
	} else if (g_get_monotonic_time() - c->idle_since < c->ctl->idle_us) {
		return G_SOURCE_CONTINUE;
	} else {
		/* A client that holds a connection without using it takes one
		 * of the few slots every pvecm needs. */
		log_warn(
		    "control: closing connection of pid %d (uid %u): idle for %" G_GINT64_FORMAT
		    " s%s",
		    (int)c->pid, (unsigned)c->uid, c->ctl->idle_us / G_USEC_PER_SEC,
		    c->in->len ? " in the middle of a frame" : "");
	}
	conn_free(c);
	return G_SOURCE_REMOVE;
}

static GSourceFuncs conn_source_funcs = {
    .dispatch = conn_dispatch,
};

static bool peer_creds(int fd, uid_t *uid, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_warn("control: SO_PEERCRED: %s", g_strerror(errno));
		return false;
	}
	*uid = cred.uid;
	*pid = cred.pid;
	return true;
}

static void conn_new(control_t *ctl, int fd)
{
	conn_t *c = g_new0(conn_t, 1);

	c->ctl = ctl;
	c->fd = fd;
	c->in = g_byte_array_new();
	c->out = g_byte_array_new();
	ctl->conns = g_list_prepend(ctl->conns, c);
	c->link = ctl->conns;
	ctl->nconns++;
	if (!peer_creds(fd, &c->uid, &c->pid)) {
		conn_free(c);
		return;
	}
	if (c->uid != 0) {
		log_warn("control: refusing uid %u (pid %d) on %s: only root may use it",
			 (unsigned)c->uid, (int)c->pid, ctl->path);
		c->denied = true;
	}
	c->src = g_source_new(&conn_source_funcs, sizeof(conn_source_t));
	((conn_source_t *)c->src)->conn = c;
	g_source_set_name(c->src, "control connection");
	c->tag = g_source_add_unix_fd(c->src, fd, G_IO_IN);
	conn_touch(c);
	g_source_attach(c->src, ctl->context);
}

/* Tells the client why it is turned away before closing, so pvecm can say
 * so instead of reporting a connection closed for no reason. The socket is
 * new and empty: one header fits without blocking. */
static void refuse_conn(control_t *ctl, int fd)
{
	g_autoptr(GBytes) frame =
	    proto_encode(PROTO_CMD_NONE, PROTO_FLAG_REPLY, 0, -EUSERS, NULL, NULL);
	size_t len;
	const void *p = g_bytes_get_data(frame, &len);

	if (send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("control: telling a refused client why: %s", g_strerror(errno));
	close(fd);
}

static void listen_attach(control_t *ctl);

static gboolean accept_resume(gpointer data)
{
	control_t *ctl = data;

	g_clear_pointer(&ctl->pause_src, g_source_unref);
	listen_attach(ctl);
	return G_SOURCE_REMOVE;
}

static void accept_pause(control_t *ctl)
{
	g_source_destroy(ctl->listen_src);
	g_clear_pointer(&ctl->listen_src, g_source_unref);
	ctl->pause_src = g_timeout_source_new(CONTROL_ACCEPT_PAUSE_MS);
	g_source_set_callback(ctl->pause_src, accept_resume, ctl, NULL);
	g_source_attach(ctl->pause_src, ctl->context);
}

static gboolean on_accept(gint fd, GIOCondition cond, gpointer data)
{
	control_t *ctl = data;

	for (;;) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0 && errno == EINTR)
			continue;
		if (cfd < 0 && (errno == EMFILE || errno == ENFILE)) {
			log_err("control: accept on %s: %s", ctl->path, g_strerror(errno));
			accept_pause(ctl);
			return G_SOURCE_REMOVE;
		}
		if (cfd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("control: accept on %s: %s", ctl->path, g_strerror(errno));
			return G_SOURCE_CONTINUE;
		}
		if (ctl->nconns >= CONTROL_MAX_CONNS) {
			log_warn("control: %u connections open on %s, refusing another",
				 ctl->nconns, ctl->path);
			refuse_conn(ctl, cfd);
			continue;
		}
		conn_new(ctl, cfd);
	}
}

static void listen_attach(control_t *ctl)
{
	ctl->listen_src = g_unix_fd_source_new(ctl->fd, G_IO_IN);
	g_source_set_name(ctl->listen_src, "control listener");
	g_source_set_callback(ctl->listen_src, G_SOURCE_FUNC(on_accept), ctl, NULL);
	g_source_attach(ctl->listen_src, ctl->context);
}

static void set_errno(GError **err, int e, const char *what, const char *path)
{
	g_set_error(err, G_IO_ERROR, g_io_error_from_errno(e), "%s %s: %s", what, path,
		    g_strerror(e));
}

/* A socket file nobody listens on is left over from a daemon that died; one
 * somebody listens on belongs to a running daemon and must not be stolen. */
static bool remove_stale(const char *path, const struct sockaddr_un *addr, GError **err)
{
	struct stat st;
	int fd, rc, e;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return true;
		set_errno(err, errno, "cannot stat control socket", path);
		return false;
	}
	if (!S_ISSOCK(st.st_mode)) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_EXISTS,
			    "%s exists and is not a socket; not replacing it", path);
		return false;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		set_errno(err, errno, "cannot create a socket to probe", path);
		return false;
	}
	rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	e = errno;
	close(fd);
	if (rc == 0 || e == EAGAIN) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
			    "another process is listening on %s", path);
		return false;
	}
	if (unlink(path) < 0 && errno != ENOENT) {
		set_errno(err, errno, "cannot remove stale control socket", path);
		return false;
	}
	return true;
}

static bool make_parent(const char *path, GError **err)
{
	g_autofree char *dir = g_path_get_dirname(path);

	if (g_mkdir_with_parents(dir, 0755) < 0) {
		set_errno(err, errno, "cannot create directory", dir);
		return false;
	}
	return true;
}

static int open_listener(const char *path, GError **err)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		g_set_error(err, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
			    "control socket path too long: %s", path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	if (!make_parent(path, err) || !remove_stale(path, &addr, err))
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		set_errno(err, errno, "cannot create control socket", path);
		return -1;
	}
	/* Between bind and chmod the socket has the umask's mode; connecting
	 * needs write permission, which the default umask leaves to root, and
	 * SO_PEERCRED refuses everybody else anyway. */
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		set_errno(err, errno, "cannot listen on control socket", path);
		close(fd);
		return -1;
	}
	return fd;
}

control_t *control_new(const char *path, const control_cmd_t *cmds, size_t ncmds, void *ctx,
		       unsigned idle_timeout_s, GError **err)
{
	control_t *ctl;
	int fd = open_listener(path, err);

	if (fd < 0)
		return NULL;
	ctl = g_new0(control_t, 1);
	ctl->path = g_strdup(path);
	ctl->fd = fd;
	ctl->context = g_main_context_ref_thread_default();
	ctl->cmds = cmds;
	ctl->ncmds = ncmds;
	ctl->ctx = ctx;
	ctl->idle_us =
	    (gint64)(idle_timeout_s ? idle_timeout_s : CONTROL_IDLE_TIMEOUT_S) * G_USEC_PER_SEC;
	listen_attach(ctl);
	return ctl;
}

void control_free(control_t *ctl)
{
	if (!ctl)
		return;
	while (ctl->conns)
		conn_free(ctl->conns->data);
	if (ctl->listen_src) {
		g_source_destroy(ctl->listen_src);
		g_source_unref(ctl->listen_src);
	}
	if (ctl->pause_src) {
		g_source_destroy(ctl->pause_src);
		g_source_unref(ctl->pause_src);
	}
	close(ctl->fd);
	if (unlink(ctl->path) < 0 && errno != ENOENT)
		log_warn("control: cannot remove %s: %s", ctl->path, g_strerror(errno));
	g_main_context_unref(ctl->context);
	g_free(ctl->path);
	g_free(ctl);
}
