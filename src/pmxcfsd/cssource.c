#include "cssource.h"

#include <glib-unix.h>

struct cssource {
	const cssource_ops_t *ops;
	void *ctx;
	guint retry_ms, busy_ms;
	guint fd_source, retry_source;
	/* The last error connect met, so that each is reported once; -1
	 * before the first attempt, so that the first is always reported. */
	int last_error;
};

static void try_connect(cssource_t *s);

static gboolean retry_cb(gpointer data)
{
	cssource_t *s = data;

	s->retry_source = 0;
	try_connect(s);
	return G_SOURCE_REMOVE;
}

static void schedule(cssource_t *s, guint ms)
{
	if (!s->retry_source)
		s->retry_source = g_timeout_add(ms, retry_cb, s);
}

static void drop(cssource_t *s)
{
	if (s->fd_source)
		g_source_remove(s->fd_source);
	s->fd_source = 0;
	s->ops->finalize(s->ctx);
}

static gboolean dispatch_cb(gint fd, GIOCondition cond, gpointer data)
{
	cssource_t *s = data;
	cs_error_t rc = s->ops->dispatch(s->ctx);

	/* Restarted from inside the dispatch: this watch is gone already. */
	if (!s->fd_source)
		return G_SOURCE_REMOVE;
	if (rc == CS_OK || rc == CS_ERR_TRY_AGAIN)
		return G_SOURCE_CONTINUE;
	/* Returning REMOVE ends this watch; drop() must not remove it too. */
	s->fd_source = 0;
	s->last_error = rc;
	s->ops->finalize(s->ctx);
	s->ops->lost(s->ctx, rc);
	schedule(s, s->retry_ms);
	return G_SOURCE_REMOVE;
}

/* The watch is never blocked while it dispatches: glib would take the fd
 * out of its poll set and put it back around every dispatch, each time
 * waking its own loop, which then polls once more for nothing: two writes,
 * a read and a poll per corosync delivery, on every node. Nothing a
 * dispatch calls iterates the loop, so it cannot recurse. */
static guint watch(cssource_t *s, int fd)
{
	GSource *src = g_unix_fd_source_new(fd, G_IO_IN | G_IO_ERR | G_IO_HUP);

	g_source_set_callback(src, G_SOURCE_FUNC(dispatch_cb), s, NULL);
	g_source_set_can_recurse(src, TRUE);
	guint id = g_source_attach(src, NULL);
	g_source_unref(src);
	return id;
}

static void try_connect(cssource_t *s)
{
	int fd = -1;
	cs_error_t rc = s->ops->connect(s->ctx, &fd);

	if (rc == CS_OK) {
		s->last_error = CS_OK;
		s->fd_source = watch(s, fd);
		s->ops->connected(s->ctx);
		return;
	}
	s->ops->finalize(s->ctx);
	if (rc == CS_ERR_TRY_AGAIN) {
		schedule(s, s->busy_ms);
		return;
	}
	if (s->last_error != (int)rc)
		s->ops->unreachable(s->ctx, rc, s->retry_ms);
	s->last_error = rc;
	schedule(s, s->retry_ms);
}

cssource_t *cssource_new(const cssource_ops_t *ops, void *ctx, guint retry_ms, guint busy_ms)
{
	cssource_t *s = g_new0(cssource_t, 1);

	s->ops = ops;
	s->ctx = ctx;
	s->retry_ms = retry_ms;
	s->busy_ms = busy_ms;
	s->last_error = -1;
	try_connect(s);
	return s;
}

void cssource_restart(cssource_t *s)
{
	drop(s);
	schedule(s, s->retry_ms);
}

void cssource_free(cssource_t *s)
{
	if (!s)
		return;
	drop(s);
	if (s->retry_source)
		g_source_remove(s->retry_source);
	g_free(s);
}
