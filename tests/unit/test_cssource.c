/* Unit tests for cssource: a corosync service connection as a main-loop
 * source, driven by a fake service whose connect fails as told and whose
 * fd is one end of a pipe. */
#include "cssource.h"

#include <stdbool.h>
#include <unistd.h>

typedef struct {
	GQueue results; /* what the next connects return (GINT_TO_POINTER), then CS_OK */
	int pipe[2];
	bool open; /* a handle exists */
	int connects, finalizes, connected, lost, unreachable, dispatches;
	cs_error_t dispatch_result;
	cs_error_t last_lost, last_unreachable;
} fake_t;

static cs_error_t f_connect(void *ctx, int *fd)
{
	fake_t *f = ctx;

	f->connects++;
	f->open = true;
	cs_error_t rc = g_queue_is_empty(&f->results)
			    ? CS_OK
			    : (cs_error_t)GPOINTER_TO_INT(g_queue_pop_head(&f->results));
	*fd = f->pipe[0];
	return rc;
}

static cs_error_t f_dispatch(void *ctx)
{
	fake_t *f = ctx;
	char c;

	f->dispatches++;
	g_assert_cmpint(read(f->pipe[0], &c, 1), ==, 1);
	return f->dispatch_result;
}

static void f_finalize(void *ctx)
{
	fake_t *f = ctx;

	f->finalizes++;
	f->open = false;
}

static void f_connected(void *ctx)
{
	((fake_t *)ctx)->connected++;
}

static void f_lost(void *ctx, cs_error_t error)
{
	fake_t *f = ctx;

	f->lost++;
	f->last_lost = error;
}

static void f_unreachable(void *ctx, cs_error_t error, guint retry_ms)
{
	fake_t *f = ctx;

	f->unreachable++;
	f->last_unreachable = error;
}

static const cssource_ops_t fake_ops = {
    .connect = f_connect,
    .dispatch = f_dispatch,
    .finalize = f_finalize,
    .connected = f_connected,
    .lost = f_lost,
    .unreachable = f_unreachable,
};

static void fake_init(fake_t *f)
{
	*f = (fake_t){.dispatch_result = CS_OK};
	g_queue_init(&f->results);
	g_assert_cmpint(pipe(f->pipe), ==, 0);
}

static void fake_clear(fake_t *f)
{
	g_queue_clear(&f->results);
	close(f->pipe[0]);
	close(f->pipe[1]);
}

static gboolean flag_cb(gpointer data)
{
	*(bool *)data = true;
	return G_SOURCE_REMOVE;
}

/* Runs the main loop until *count reaches want (or 5 s pass: fails). */
static void run_until(const int *count, int want)
{
	gint64 end = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;

	while (*count < want) {
		g_assert_cmpint(g_get_monotonic_time(), <, end);
		g_main_context_iteration(NULL, FALSE);
		g_usleep(200);
	}
}

/* Runs the main loop for ms milliseconds. */
static void run_for(guint ms)
{
	bool done = false;

	g_timeout_add(ms, flag_cb, &done);
	while (!done)
		g_main_context_iteration(NULL, TRUE);
}

/* Failures are retried from a timer; each new error is reported once,
 * busy answers not at all; every failed attempt drops its handle. */
static void test_retries_until_connected(void)
{
	fake_t f;

	fake_init(&f);
	g_queue_push_tail(&f.results, GINT_TO_POINTER(CS_ERR_LIBRARY));
	g_queue_push_tail(&f.results, GINT_TO_POINTER(CS_ERR_LIBRARY));
	g_queue_push_tail(&f.results, GINT_TO_POINTER(CS_ERR_TRY_AGAIN));
	g_queue_push_tail(&f.results, GINT_TO_POINTER(CS_ERR_NOT_EXIST));
	cssource_t *s = cssource_new(&fake_ops, &f, 5, 1);
	g_assert_cmpint(f.connects, ==, 1);
	g_assert_cmpint(f.unreachable, ==, 1);
	g_assert_false(f.open);
	run_until(&f.connected, 1);
	g_assert_cmpint(f.connects, ==, 5);
	g_assert_cmpint(f.finalizes, ==, 4);
	g_assert_cmpint(f.unreachable, ==, 2);
	g_assert_cmpint(f.last_unreachable, ==, CS_ERR_NOT_EXIST);
	g_assert_cmpint(f.connected, ==, 1);
	g_assert_true(f.open);
	cssource_free(s);
	g_assert_false(f.open);
	fake_clear(&f);
}

/* What arrives is dispatched; a failed dispatch is a lost connection: the
 * handle goes, the user hears it, and it connects again. */
static void test_lost_and_back(void)
{
	fake_t f;

	fake_init(&f);
	cssource_t *s = cssource_new(&fake_ops, &f, 5, 1);
	g_assert_cmpint(f.connected, ==, 1);
	g_assert_cmpint(write(f.pipe[1], "x", 1), ==, 1);
	run_until(&f.dispatches, 1);
	g_assert_cmpint(f.lost, ==, 0);

	f.dispatch_result = CS_ERR_BAD_HANDLE;
	g_assert_cmpint(write(f.pipe[1], "x", 1), ==, 1);
	run_until(&f.connected, 2);
	g_assert_cmpint(f.dispatches, ==, 2);
	g_assert_cmpint(f.lost, ==, 1);
	g_assert_cmpint(f.last_lost, ==, CS_ERR_BAD_HANDLE);
	g_assert_cmpint(f.connected, ==, 2);
	g_assert_true(f.open);
	cssource_free(s);
	fake_clear(&f);
}

/* A restart drops the connection without a lost call and connects again;
 * freeing drops everything pending. */
static void test_restart_and_free(void)
{
	fake_t f;

	fake_init(&f);
	cssource_t *s = cssource_new(&fake_ops, &f, 5, 1);
	cssource_restart(s);
	g_assert_false(f.open);
	run_until(&f.connected, 2);
	g_assert_cmpint(f.lost, ==, 0);
	g_assert_cmpint(f.connected, ==, 2);
	cssource_restart(s);
	cssource_free(s); /* the retry timer goes too */
	run_for(20);
	g_assert_cmpint(f.connects, ==, 2);
	g_assert_false(f.open);
	cssource_free(NULL);
	fake_clear(&f);
}

static GPollFunc real_poll;
static gint last_ready;

static gint counting_poll(GPollFD *fds, guint nfds, gint timeout)
{
	last_ready = real_poll(fds, nfds, timeout);
	return last_ready;
}

/* A delivery wakes the loop once: after its dispatch the next poll finds
 * nothing ready (glib's own wakeup is not signalled around it). */
static void test_dispatch_wakes_once(void)
{
	fake_t f;

	fake_init(&f);
	real_poll = g_main_context_get_poll_func(NULL);
	g_main_context_set_poll_func(NULL, counting_poll);
	cssource_t *s = cssource_new(&fake_ops, &f, 5, 1);
	while (g_main_context_iteration(NULL, FALSE))
		;
	for (int i = 1; i <= 3; i++) {
		g_assert_cmpint(write(f.pipe[1], "x", 1), ==, 1);
		g_assert_true(g_main_context_iteration(NULL, TRUE));
		g_assert_cmpint(f.dispatches, ==, i);
		g_main_context_iteration(NULL, FALSE);
		g_assert_cmpint(last_ready, ==, 0);
	}
	cssource_free(s);
	g_main_context_set_poll_func(NULL, real_poll);
	fake_clear(&f);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	g_test_add_func("/cssource/retries-until-connected", test_retries_until_connected);
	g_test_add_func("/cssource/lost-and-back", test_lost_and_back);
	g_test_add_func("/cssource/restart-and-free", test_restart_and_free);
	g_test_add_func("/cssource/dispatch-wakes-once", test_dispatch_wakes_once);
	return g_test_run();
}
