#ifndef PVECM_CSSOURCE_H
#define PVECM_CSSOURCE_H

/* A connection to one of corosync's services (CPG, votequorum) as a source
 * on the glib main loop, written once: connect, dispatch while the
 * connection's fd has something, and after a failure or a lost connection
 * drop the handle and connect again from a timer. Losing corosync is a
 * state here, never an error that ends anything. Main loop only. */

#include <corosync/corotypes.h>
#include <glib.h>

typedef struct cssource cssource_t;

typedef struct {
	/* Makes the handle and returns the fd to watch in *fd. CS_ERR_TRY_AGAIN:
	 * corosync is busy, tried again soon; another error: tried again
	 * later. Whatever it made is dropped by finalize. */
	cs_error_t (*connect)(void *ctx, int *fd);
	/* Dispatches what is there. Anything but CS_OK and CS_ERR_TRY_AGAIN
	 * means the connection is lost. */
	cs_error_t (*dispatch)(void *ctx);
	/* Drops the handle, if any. */
	void (*finalize)(void *ctx);
	/* Connected (after connect succeeded). */
	void (*connected)(void *ctx);
	/* The connection was lost (the handle is dropped already). */
	void (*lost)(void *ctx, cs_error_t error);
	/* connect failed with error: called once for each new error, so that
	 * the service says what it means without repeating itself. */
	void (*unreachable)(void *ctx, cs_error_t error, guint retry_ms);
} cssource_ops_t;

/* Connects at once (or schedules the first retry). retry_ms: after a
 * failure; busy_ms: after CS_ERR_TRY_AGAIN. */
cssource_t *cssource_new(const cssource_ops_t *ops, void *ctx, guint retry_ms, guint busy_ms);
/* Drops the connection and connects again after retry_ms (no lost call). */
void cssource_restart(cssource_t *s);
/* Drops the connection and everything pending. Safe on NULL. */
void cssource_free(cssource_t *s);

#endif
