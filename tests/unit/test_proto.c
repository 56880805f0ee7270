/* The control protocol: the frame codec on its own, then the server in
 * control.c on a real socket with a small command table, driven by
 * proto_call and by hand-made (and broken) frames. */
#include "control.h"
#include "log.h"
#include "proto.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define TEST_CMD_ECHO 100 /* "(s)" -> "(s)", at most TEST_ECHO_MAX bytes */
#define TEST_CMD_FAIL 101 /* "()" -> -EIO */
#define TEST_CMD_UNKNOWN 999
#define TEST_ECHO_MAX 32
#define TEST_TIMEOUT_MS 5000

/* Codec */

static GBytes *encode_ok(uint16_t type, uint32_t flags, uint32_t id, int32_t status,
			 GVariant *payload)
{
	g_autoptr(GError) err = NULL;
	GBytes *frame = proto_encode(type, flags, id, status, payload, &err);

	g_assert_no_error(err);
	g_assert_nonnull(frame);
	return frame;
}

static GVariant *status_reply(void)
{
	GVariantDict d;

	g_variant_dict_init(&d, NULL);
	g_variant_dict_insert(&d, "nodename", "s", "node1");
	g_variant_dict_insert(&d, "mode", "s", "local");
	g_variant_dict_insert(&d, "pid", "u", 4242u);
	g_variant_dict_insert(&d, "starttime", "t", (guint64)1700000000);
	g_variant_dict_insert(&d, "version", "t", (guint64)17);
	g_variant_dict_insert(&d, "quorate", "b", TRUE);
	return g_variant_dict_end(&d);
}

static void roundtrip(uint16_t type, uint32_t flags, int32_t status, GVariant *payload,
		      const char *payload_type)
{
	g_autoptr(GVariant) sent = payload ? g_variant_ref_sink(payload) : NULL;
	g_autoptr(GBytes) frame = encode_ok(type, flags, 77, status, sent);
	g_autoptr(GVariant) got = NULL;
	g_autoptr(GError) err = NULL;
	proto_header_t hdr;
	size_t len;
	const void *data = g_bytes_get_data(frame, &len);

	g_assert_true(proto_decode(data, len, payload_type, &hdr, &got, &err));
	g_assert_no_error(err);
	g_assert_cmpuint(hdr.magic, ==, PROTO_MAGIC);
	g_assert_cmpuint(hdr.version, ==, PROTO_VERSION);
	g_assert_cmpuint(hdr.type, ==, type);
	g_assert_cmpuint(hdr.flags, ==, flags);
	g_assert_cmpuint(hdr.request_id, ==, 77);
	g_assert_cmpint(hdr.status, ==, status);
	g_assert_cmpuint(hdr.length, ==, len - PROTO_HEADER_SIZE);
	if (!sent) {
		g_assert_null(got);
		return;
	}
	g_assert_nonnull(got);
	g_assert_true(g_variant_equal(sent, got));
}

static void test_roundtrip_commands(void)
{
	roundtrip(PROTO_CMD_STATUS, 0, 0, g_variant_new("()"), PROTO_STATUS_REQUEST_TYPE);
	roundtrip(PROTO_CMD_STATUS, PROTO_FLAG_REPLY, 0, status_reply(), PROTO_STATUS_REPLY_TYPE);
	roundtrip(PROTO_CMD_SET_DEBUG, 0, 0, g_variant_new("(b)", TRUE),
		  PROTO_SET_DEBUG_REQUEST_TYPE);
	roundtrip(PROTO_CMD_SET_DEBUG, 0, 0, g_variant_new("(b)", FALSE),
		  PROTO_SET_DEBUG_REQUEST_TYPE);
	roundtrip(PROTO_CMD_SET_DEBUG, PROTO_FLAG_REPLY, 0, g_variant_new("()"),
		  PROTO_SET_DEBUG_REPLY_TYPE);
}

static void test_roundtrip_error_reply(void)
{
	roundtrip(PROTO_CMD_STATUS, PROTO_FLAG_REPLY, -EPERM, NULL, PROTO_STATUS_REPLY_TYPE);
	roundtrip(TEST_CMD_UNKNOWN, PROTO_FLAG_REPLY, -ENOSYS, NULL, "()");
}

/* A writable copy of a valid STATUS request, to break on purpose. */
static guint8 *request_copy(size_t *len)
{
	g_autoptr(GBytes) frame = encode_ok(PROTO_CMD_STATUS, 0, 1, 0, g_variant_new("()"));

	return g_memdup2(g_bytes_get_data(frame, len), g_bytes_get_size(frame));
}

static void put_le32(guint8 *p, guint32 v)
{
	v = GUINT32_TO_LE(v);
	memcpy(p, &v, 4);
}

static void expect_decode_error(const guint8 *buf, size_t len, const char *type, int code)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) payload = NULL;
	proto_header_t hdr;

	g_assert_false(proto_decode(buf, len, type, &hdr, &payload, &err));
	g_assert_error(err, PROTO_ERROR, code);
	g_assert_null(payload);
}

static void test_truncated_header(void)
{
	size_t len;
	g_autofree guint8 *buf = request_copy(&len);

	for (size_t n = 0; n < PROTO_HEADER_SIZE; n++)
		expect_decode_error(buf, n, "()", PROTO_ERROR_TRUNCATED);
}

static void test_truncated_payload(void)
{
	size_t len;
	g_autofree guint8 *buf = request_copy(&len);

	expect_decode_error(buf, len - 1, "()", PROTO_ERROR_TRUNCATED);
}

static void test_bad_magic(void)
{
	size_t len;
	g_autofree guint8 *buf = request_copy(&len);

	buf[0] ^= 0xff;
	expect_decode_error(buf, len, "()", PROTO_ERROR_BAD_MAGIC);
}

static void test_wrong_version(void)
{
	g_autoptr(GError) err = NULL;
	size_t len;
	g_autofree guint8 *buf = request_copy(&len);
	proto_header_t hdr;

	buf[4] = PROTO_VERSION + 1;
	/* Checked before anything else but the magic, so a future version
	 * with another header is still recognised. */
	buf[8] = 0xff;
	put_le32(buf + 12, 0xffffffffu);
	g_assert_false(proto_header_decode(buf, len, &hdr, &err));
	g_assert_error(err, PROTO_ERROR, PROTO_ERROR_VERSION);
	g_assert_cmpuint(hdr.version, ==, PROTO_VERSION + 1);
	g_assert_cmpint(proto_error_errno(err), ==, -EPROTONOSUPPORT);
}

static void test_oversized_length(void)
{
	g_autoptr(GError) err = NULL;
	size_t len;
	g_autofree guint8 *buf = request_copy(&len);
	proto_header_t hdr;

	put_le32(buf + 12, PROTO_MAX_PAYLOAD + 1);
	g_assert_false(proto_header_decode(buf, len, &hdr, &err));
	g_assert_error(err, PROTO_ERROR, PROTO_ERROR_TOO_LARGE);
	g_assert_cmpint(proto_error_errno(err), ==, -EMSGSIZE);

	put_le32(buf + 12, PROTO_MAX_PAYLOAD);
	g_clear_error(&err);
	g_assert_true(proto_header_decode(buf, len, &hdr, &err));
	g_assert_no_error(err);
}

static void test_unknown_flags(void)
{
	size_t len;
	g_autofree guint8 *buf = request_copy(&len);

	put_le32(buf + 8, 0x80);
	expect_decode_error(buf, len, "()", PROTO_ERROR_INVALID);
}

static void test_trailing_bytes(void)
{
	size_t len;
	g_autofree guint8 *buf = request_copy(&len);
	g_autofree guint8 *longer = g_malloc0(len + 3);

	memcpy(longer, buf, len);
	expect_decode_error(longer, len + 3, "()", PROTO_ERROR_TRAILING);
}

/* A frame around arbitrary payload bytes. */
static guint8 *frame_with_payload(const void *payload, size_t plen, size_t *len)
{
	g_autoptr(GBytes) hdr = encode_ok(PROTO_CMD_SET_DEBUG, 0, 1, 0, NULL);
	guint8 *buf = g_malloc(PROTO_HEADER_SIZE + plen);

	memcpy(buf, g_bytes_get_data(hdr, NULL), PROTO_HEADER_SIZE);
	put_le32(buf + 12, (guint32)plen);
	memcpy(buf + PROTO_HEADER_SIZE, payload, plen);
	*len = PROTO_HEADER_SIZE + plen;
	return buf;
}

static void test_malformed_payload(void)
{
	/* A boolean is serialized as 0 or 1; 2 is not the normal form. */
	static const guint8 bad_bool[] = {0x02};
	/* An a{sv} whose framing offset points past its end. */
	static const guint8 bad_dict[] = {'k', 0, 'x', 0xf0};
	size_t len;
	g_autofree guint8 *b1 = frame_with_payload(bad_bool, sizeof(bad_bool), &len);
	g_autofree guint8 *b2 = NULL;
	g_autoptr(GVariant) ok = NULL;
	g_autoptr(GError) err = NULL;
	static const guint8 good_bool[] = {0x01};

	expect_decode_error(b1, len, "(b)", PROTO_ERROR_BAD_PAYLOAD);
	b2 = frame_with_payload(bad_dict, sizeof(bad_dict), &len);
	expect_decode_error(b2, len, "a{sv}", PROTO_ERROR_BAD_PAYLOAD);

	ok = proto_payload_decode(good_bool, sizeof(good_bool), "(b)", &err);
	g_assert_no_error(err);
	g_assert_true(g_variant_get_boolean(g_variant_get_child_value(ok, 0)) == TRUE);
}

static void test_random_payloads(void)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(1234);

	/* Whatever the bytes, decoding either yields a value of the type or
	 * fails cleanly; ASan and UBSan watch the rest. */
	for (int i = 0; i < 2000; i++) {
		guint8 buf[64];
		size_t n = (size_t)g_rand_int_range(rand, 1, sizeof(buf));
		g_autoptr(GError) err = NULL;
		g_autoptr(GVariant) v = NULL;

		for (size_t j = 0; j < n; j++)
			buf[j] = (guint8)g_rand_int(rand);
		v = proto_payload_decode(buf, n, PROTO_STATUS_REPLY_TYPE, &err);
		g_assert_true((v != NULL) != (err != NULL));
		if (v)
			g_assert_true(g_variant_is_of_type(v, G_VARIANT_TYPE("a{sv}")));
	}
}

static void test_wrong_payload_type(void)
{
	g_autoptr(GBytes) s = encode_ok(PROTO_CMD_SET_DEBUG, 0, 1, 0, g_variant_new("(s)", "yes"));
	g_autoptr(GBytes) d = encode_ok(PROTO_CMD_STATUS, PROTO_FLAG_REPLY, 1, 0, status_reply());
	g_autoptr(GBytes) b = encode_ok(PROTO_CMD_STATUS, 0, 1, 0, g_variant_new("(b)", TRUE));
	size_t len;
	const guint8 *p;

	p = g_bytes_get_data(s, &len);
	expect_decode_error(p, len, "(b)", PROTO_ERROR_BAD_PAYLOAD);
	p = g_bytes_get_data(d, &len);
	expect_decode_error(p, len, "(b)", PROTO_ERROR_BAD_PAYLOAD);
	p = g_bytes_get_data(b, &len);
	expect_decode_error(p, len, "()", PROTO_ERROR_BAD_PAYLOAD);
}

static void test_encode_too_large(void)
{
	g_autoptr(GError) err = NULL;
	g_autofree char *big = g_strnfill(PROTO_MAX_PAYLOAD, 'x');
	GBytes *frame = proto_encode(TEST_CMD_ECHO, 0, 1, 0, g_variant_new("(s)", big), &err);

	g_assert_null(frame);
	g_assert_error(err, PROTO_ERROR, PROTO_ERROR_TOO_LARGE);
}

/* Server: a control_t on its own main loop in a thread, as in pmxcfsd. */

typedef struct {
	GMainContext *context;
	GMainLoop *loop;
	GThread *thread;
	control_t *ctl;
	char *dir;
	char *path;
	GMutex lock;
	GCond cond;
	gboolean ready;
	gboolean debug;
	unsigned idle_s;
} server_t;

static int h_status(void *ctx, GVariant *request, GVariant **reply)
{
	*reply = status_reply();
	return 0;
}

static int h_set_debug(void *ctx, GVariant *request, GVariant **reply)
{
	server_t *s = ctx;

	g_variant_get(request, "(b)", &s->debug);
	return 0;
}

static int h_echo(void *ctx, GVariant *request, GVariant **reply)
{
	*reply = g_variant_ref(request);
	return 0;
}

static int h_fail(void *ctx, GVariant *request, GVariant **reply)
{
	*reply = g_variant_new("()"); /* dropped: an error reply has no payload */
	return -EIO;
}

static const control_cmd_t test_cmds[] = {
    {PROTO_CMD_STATUS, "status", PROTO_STATUS_REQUEST_TYPE, 64, h_status},
    {PROTO_CMD_SET_DEBUG, "set-debug", PROTO_SET_DEBUG_REQUEST_TYPE, 64, h_set_debug},
    {TEST_CMD_ECHO, "echo", "(s)", TEST_ECHO_MAX, h_echo},
    {TEST_CMD_FAIL, "fail", "()", 16, h_fail},
};

static gpointer server_thread(gpointer data)
{
	server_t *s = data;
	g_autoptr(GError) err = NULL;

	g_main_context_push_thread_default(s->context);
	s->ctl = control_new(s->path, test_cmds, G_N_ELEMENTS(test_cmds), s, s->idle_s, &err);
	g_assert_no_error(err);
	g_mutex_lock(&s->lock);
	s->ready = TRUE;
	g_cond_signal(&s->cond);
	g_mutex_unlock(&s->lock);
	g_main_loop_run(s->loop);
	control_free(s->ctl);
	g_main_context_pop_thread_default(s->context);
	return NULL;
}

static void server_setup(server_t *s, gconstpointer data)
{
	g_autoptr(GError) err = NULL;

	s->dir = g_dir_make_tmp("test_proto-XXXXXX", &err);
	g_assert_no_error(err);
	s->idle_s = GPOINTER_TO_UINT(data);
	s->path = g_build_filename(s->dir, "run", "pmxcfsd.sock", NULL);
	s->context = g_main_context_new();
	s->loop = g_main_loop_new(s->context, FALSE);
	g_mutex_init(&s->lock);
	g_cond_init(&s->cond);
	s->thread = g_thread_new("control", server_thread, s);
	g_mutex_lock(&s->lock);
	while (!s->ready)
		g_cond_wait(&s->cond, &s->lock);
	g_mutex_unlock(&s->lock);
}

static void server_teardown(server_t *s, gconstpointer data)
{
	g_autofree char *run = g_path_get_dirname(s->path);

	g_main_loop_quit(s->loop);
	g_thread_join(s->thread);
	g_assert_false(g_file_test(s->path, G_FILE_TEST_EXISTS));
	g_assert_cmpint(g_rmdir(run), ==, 0);
	g_assert_cmpint(g_rmdir(s->dir), ==, 0);
	g_main_loop_unref(s->loop);
	g_main_context_unref(s->context);
	g_mutex_clear(&s->lock);
	g_cond_clear(&s->cond);
	g_free(s->path);
	g_free(s->dir);
}

static int call(const server_t *s, uint16_t type, GVariant *req, const char *reply_type,
		GVariant **reply)
{
	g_autoptr(GError) err = NULL;
	int32_t status = 1;

	g_assert_true(
	    proto_call(s->path, type, req, reply_type, TEST_TIMEOUT_MS, &status, reply, &err));
	g_assert_no_error(err);
	return status;
}

static void assert_status_works(const server_t *s)
{
	g_autoptr(GVariant) reply = NULL;
	const char *name = NULL;

	g_assert_cmpint(
	    call(s, PROTO_CMD_STATUS, g_variant_new("()"), PROTO_STATUS_REPLY_TYPE, &reply), ==, 0);
	g_assert_true(g_variant_lookup(reply, "nodename", "&s", &name));
	g_assert_cmpstr(name, ==, "node1");
}

static int raw_connect(const server_t *s)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_assert_cmpint(fd, >=, 0);
	g_strlcpy(addr.sun_path, s->path, sizeof(addr.sun_path));
	g_assert_cmpint(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	return fd;
}

static void raw_send(int fd, const void *buf, size_t len)
{
	g_assert_cmpint(send(fd, buf, len, MSG_NOSIGNAL), ==, (ssize_t)len);
}

static void raw_send_frame(int fd, GBytes *frame)
{
	raw_send(fd, g_bytes_get_data(frame, NULL), g_bytes_get_size(frame));
}

/* Reads n bytes; returns how many arrived before EOF. */
static size_t raw_read(int fd, guint8 *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t r;

		g_assert_cmpint(poll(&pfd, 1, TEST_TIMEOUT_MS), ==, 1);
		r = recv(fd, buf + got, n - got, 0);
		/* A UNIX socket closed with unread input resets its peer once
		 * the peer has read what was sent to it: an EOF too. */
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			break;
		g_assert_cmpint(r, >, 0);
		got += (size_t)r;
	}
	return got;
}

/* Reads one reply without payload and returns its header. */
static proto_header_t raw_read_error_reply(int fd)
{
	g_autoptr(GError) err = NULL;
	guint8 buf[PROTO_HEADER_SIZE];
	proto_header_t hdr;

	g_assert_cmpuint(raw_read(fd, buf, sizeof(buf)), ==, sizeof(buf));
	g_assert_true(proto_header_decode(buf, sizeof(buf), &hdr, &err));
	g_assert_no_error(err);
	g_assert_true(hdr.flags & PROTO_FLAG_REPLY);
	g_assert_cmpuint(hdr.length, ==, 0);
	return hdr;
}

static void assert_closed(int fd)
{
	guint8 b;

	g_assert_cmpuint(raw_read(fd, &b, 1), ==, 0);
}

static void test_call(server_t *s, gconstpointer data)
{
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GVariant) dbg = NULL;
	const char *mode = NULL;
	guint64 version = 0;
	gboolean quorate = FALSE;

	g_assert_cmpint(
	    call(s, PROTO_CMD_STATUS, g_variant_new("()"), PROTO_STATUS_REPLY_TYPE, &reply), ==, 0);
	g_assert_true(g_variant_lookup(reply, "mode", "&s", &mode));
	g_assert_cmpstr(mode, ==, "local");
	g_assert_true(g_variant_lookup(reply, "version", "t", &version));
	g_assert_cmpuint(version, ==, 17);
	g_assert_true(g_variant_lookup(reply, "quorate", "b", &quorate));
	g_assert_true(quorate);

	g_assert_cmpint(call(s, PROTO_CMD_SET_DEBUG, g_variant_new("(b)", TRUE),
			     PROTO_SET_DEBUG_REPLY_TYPE, &dbg),
			==, 0);
	g_assert_nonnull(dbg);
	g_assert_true(s->debug);
}

static void test_unknown_type(server_t *s, gconstpointer data)
{
	g_autoptr(GVariant) reply = NULL;

	g_assert_cmpint(call(s, TEST_CMD_UNKNOWN, g_variant_new("()"), "()", &reply), ==, -ENOSYS);
	g_assert_null(reply);
	assert_status_works(s);
}

static void test_handler_error(server_t *s, gconstpointer data)
{
	g_autoptr(GVariant) reply = NULL;

	g_assert_cmpint(call(s, TEST_CMD_FAIL, g_variant_new("()"), "()", &reply), ==, -EIO);
	g_assert_null(reply);
}

static void test_wrong_request_type(server_t *s, gconstpointer data)
{
	g_autoptr(GBytes) bad = encode_ok(PROTO_CMD_STATUS, 0, 5, 0, g_variant_new("(b)", TRUE));
	g_autoptr(GBytes) empty = encode_ok(PROTO_CMD_SET_DEBUG, 0, 6, 0, NULL);
	int fd = raw_connect(s);
	proto_header_t hdr;

	raw_send_frame(fd, bad);
	hdr = raw_read_error_reply(fd);
	g_assert_cmpint(hdr.status, ==, -EINVAL);
	g_assert_cmpuint(hdr.request_id, ==, 5);
	/* The frame was well formed, so the connection stays usable. */
	raw_send_frame(fd, empty);
	hdr = raw_read_error_reply(fd);
	g_assert_cmpint(hdr.status, ==, -EINVAL);
	g_assert_cmpuint(hdr.request_id, ==, 6);
	close(fd);
	g_assert_false(s->debug);
}

static void test_reply_as_request(server_t *s, gconstpointer data)
{
	g_autoptr(GBytes) f1 =
	    encode_ok(PROTO_CMD_STATUS, PROTO_FLAG_REPLY, 1, 0, g_variant_new("()"));
	g_autoptr(GBytes) f2 = encode_ok(PROTO_CMD_STATUS, 0, 2, -EIO, g_variant_new("()"));
	int fd = raw_connect(s);

	raw_send_frame(fd, f1);
	g_assert_cmpint(raw_read_error_reply(fd).status, ==, -EINVAL);
	raw_send_frame(fd, f2);
	g_assert_cmpint(raw_read_error_reply(fd).status, ==, -EINVAL);
	close(fd);
}

static void test_garbage(server_t *s, gconstpointer data)
{
	g_autoptr(GRand) rand = g_rand_new_with_seed(42);
	guint8 junk[300];
	proto_header_t hdr;
	int fd;

	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (guint8)g_rand_int(rand);
	junk[0] = 'G'; /* never the magic */
	fd = raw_connect(s);
	raw_send(fd, junk, sizeof(junk));
	hdr = raw_read_error_reply(fd);
	g_assert_cmpint(hdr.status, ==, -EPROTO);
	assert_closed(fd);
	close(fd);
	assert_status_works(s);
}

static void test_bad_version(server_t *s, gconstpointer data)
{
	g_autoptr(GBytes) frame = encode_ok(PROTO_CMD_STATUS, 0, 9, 0, g_variant_new("()"));
	g_autofree guint8 *buf = g_memdup2(g_bytes_get_data(frame, NULL), g_bytes_get_size(frame));
	proto_header_t hdr;
	int fd = raw_connect(s);

	buf[4] = PROTO_VERSION + 1;
	raw_send(fd, buf, g_bytes_get_size(frame));
	hdr = raw_read_error_reply(fd);
	g_assert_cmpint(hdr.status, ==, -EPROTONOSUPPORT);
	g_assert_cmpuint(hdr.version, ==, PROTO_VERSION);
	assert_closed(fd);
	close(fd);
	assert_status_works(s);
}

static void test_oversized_frame(server_t *s, gconstpointer data)
{
	g_autoptr(GBytes) frame = encode_ok(PROTO_CMD_STATUS, 0, 3, 0, g_variant_new("()"));
	g_autofree guint8 *buf = g_memdup2(g_bytes_get_data(frame, NULL), g_bytes_get_size(frame));
	proto_header_t hdr;
	int fd = raw_connect(s);

	put_le32(buf + 12, PROTO_MAX_PAYLOAD + 1);
	raw_send(fd, buf, PROTO_HEADER_SIZE);
	hdr = raw_read_error_reply(fd);
	g_assert_cmpint(hdr.status, ==, -EMSGSIZE);
	g_assert_cmpuint(hdr.request_id, ==, 3);
	assert_closed(fd);
	close(fd);
	assert_status_works(s);
}

static void test_row_max_payload(server_t *s, gconstpointer data)
{
	g_autofree char *long_text = g_strnfill(TEST_ECHO_MAX * 2, 'a');
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GBytes) big = encode_ok(TEST_CMD_ECHO, 0, 4, 0, g_variant_new("(s)", long_text));
	g_autoptr(GBytes) small = encode_ok(TEST_CMD_ECHO, 0, 5, 0, g_variant_new("(s)", "hi"));
	g_autofree guint8 *rbuf = NULL;
	size_t rlen = g_bytes_get_size(small);
	int fd = raw_connect(s);

	raw_send_frame(fd, big);
	g_assert_cmpint(raw_read_error_reply(fd).status, ==, -EMSGSIZE);
	/* Over the row's limit but within the protocol's: the frame was read
	 * whole, so the next request on the same connection is served. */
	raw_send_frame(fd, small);
	rbuf = g_malloc(rlen);
	g_assert_cmpuint(raw_read(fd, rbuf, rlen), ==, rlen);
	close(fd);

	g_assert_cmpint(call(s, TEST_CMD_ECHO, g_variant_new("(s)", "hello"), "(s)", &reply), ==,
			0);
	g_assert_cmpstr(g_variant_get_type_string(reply), ==, "(s)");
}

static void test_pipelined(server_t *s, gconstpointer data)
{
	g_autoptr(GBytes) a = encode_ok(TEST_CMD_UNKNOWN, 0, 21, 0, g_variant_new("()"));
	g_autoptr(GBytes) b = encode_ok(TEST_CMD_FAIL, 0, 22, 0, g_variant_new("()"));
	g_autoptr(GByteArray) both = g_byte_array_new();
	proto_header_t hdr;
	int fd = raw_connect(s);

	g_byte_array_append(both, g_bytes_get_data(a, NULL), (guint)g_bytes_get_size(a));
	g_byte_array_append(both, g_bytes_get_data(b, NULL), (guint)g_bytes_get_size(b));
	raw_send(fd, both->data, both->len);
	hdr = raw_read_error_reply(fd);
	g_assert_cmpuint(hdr.request_id, ==, 21);
	g_assert_cmpint(hdr.status, ==, -ENOSYS);
	hdr = raw_read_error_reply(fd);
	g_assert_cmpuint(hdr.request_id, ==, 22);
	g_assert_cmpint(hdr.status, ==, -EIO);
	close(fd);
}

static void test_byte_by_byte(server_t *s, gconstpointer data)
{
	g_autoptr(GBytes) frame = encode_ok(TEST_CMD_ECHO, 0, 31, 0, g_variant_new("(s)", "slow"));
	const guint8 *p = g_bytes_get_data(frame, NULL);
	size_t len = g_bytes_get_size(frame);
	g_autofree guint8 *reply = g_malloc(len);
	int fd = raw_connect(s);

	for (size_t i = 0; i < len; i++) {
		raw_send(fd, p + i, 1);
		g_usleep(1000);
	}
	g_assert_cmpuint(raw_read(fd, reply, len), ==, len);
	g_assert_cmpmem(reply + PROTO_HEADER_SIZE, len - PROTO_HEADER_SIZE, p + PROTO_HEADER_SIZE,
			len - PROTO_HEADER_SIZE);
	close(fd);
}

static void test_disconnect_mid_frame(server_t *s, gconstpointer data)
{
	g_autoptr(GBytes) frame = encode_ok(TEST_CMD_ECHO, 0, 41, 0, g_variant_new("(s)", "abc"));
	const guint8 *p = g_bytes_get_data(frame, NULL);
	size_t cuts[] = {1, PROTO_HEADER_SIZE - 1, PROTO_HEADER_SIZE, g_bytes_get_size(frame) - 1};

	for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
		int fd = raw_connect(s);

		raw_send(fd, p, cuts[i]);
		close(fd);
	}
	assert_status_works(s);
}

static void test_half_close(server_t *s, gconstpointer data)
{
	g_autoptr(GBytes) frame = encode_ok(TEST_CMD_UNKNOWN, 0, 51, 0, g_variant_new("()"));
	int fd = raw_connect(s);

	/* A request followed at once by EOF is still answered. */
	raw_send_frame(fd, frame);
	g_assert_cmpint(shutdown(fd, SHUT_WR), ==, 0);
	g_assert_cmpint(raw_read_error_reply(fd).status, ==, -ENOSYS);
	assert_closed(fd);
	close(fd);
}

static void test_many_clients(server_t *s, gconstpointer data)
{
	int fds[40];
	g_autoptr(GBytes) partial = encode_ok(TEST_CMD_ECHO, 0, 1, 0, g_variant_new("(s)", "x"));

	/* Idle and half-sent connections do not hold up anybody else. */
	for (size_t i = 0; i < G_N_ELEMENTS(fds); i++) {
		fds[i] = raw_connect(s);
		raw_send(fds[i], g_bytes_get_data(partial, NULL), i % PROTO_HEADER_SIZE);
	}
	assert_status_works(s);
	for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
		close(fds[i]);
	assert_status_works(s);
}

/* Set up with an idle timeout of 1 s. */
static void test_idle_timeout(server_t *s, gconstpointer data)
{
	g_autoptr(GBytes) frame = encode_ok(TEST_CMD_ECHO, 0, 7, 0, g_variant_new("(s)", "x"));
	const guint8 *p = g_bytes_get_data(frame, NULL);
	int silent = raw_connect(s);
	int partial = raw_connect(s);
	int slow = raw_connect(s);
	gint64 start = g_get_monotonic_time();
	guint8 buf[PROTO_HEADER_SIZE];
	proto_header_t hdr;

	raw_send(partial, p, 10);
	/* A byte every 300 ms keeps a connection alive past the timeout. */
	for (size_t i = 0; i < 8; i++) {
		raw_send(slow, p + i, 1);
		g_usleep(300 * 1000);
	}
	raw_send(slow, p + 8, g_bytes_get_size(frame) - 8);
	g_assert_cmpuint(raw_read(slow, buf, sizeof(buf)), ==, sizeof(buf));
	g_assert_true(proto_header_decode(buf, sizeof(buf), &hdr, NULL));
	g_assert_cmpint(hdr.status, ==, 0);
	g_assert_cmpuint(hdr.request_id, ==, 7);
	assert_closed(silent);
	assert_closed(partial);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 5 * G_USEC_PER_SEC);
	close(silent);
	close(partial);
	close(slow);
	assert_status_works(s);
}

static void test_connection_limit(server_t *s, gconstpointer data)
{
	g_autoptr(GBytes) frame = encode_ok(TEST_CMD_ECHO, 0, 9, 0, g_variant_new("(s)", "x"));
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) err = NULL;
	int fds[CONTROL_MAX_CONNS];
	int32_t status = 0;
	guint8 buf[PROTO_HEADER_SIZE];
	proto_header_t hdr;
	int extra;

	for (size_t i = 0; i < G_N_ELEMENTS(fds); i++)
		fds[i] = raw_connect(s);
	/* Connections are accepted in order: once the last one is answered,
	 * every one of them holds a slot. */
	raw_send_frame(fds[CONTROL_MAX_CONNS - 1], frame);
	g_assert_cmpuint(raw_read(fds[CONTROL_MAX_CONNS - 1], buf, sizeof(buf)), ==, sizeof(buf));

	g_assert_false(proto_call(s->path, PROTO_CMD_STATUS, g_variant_new("()"),
				  PROTO_STATUS_REPLY_TYPE, TEST_TIMEOUT_MS, &status, &reply, &err));
	g_assert_error(err, PROTO_ERROR, PROTO_ERROR_REFUSED);
	g_assert_nonnull(strstr(err->message, s->path));
	g_assert_nonnull(strstr(err->message, g_strerror(EUSERS)));

	/* The refusal comes unasked, before any request. */
	extra = raw_connect(s);
	hdr = raw_read_error_reply(extra);
	g_assert_cmpuint(hdr.type, ==, PROTO_CMD_NONE);
	g_assert_cmpuint(hdr.request_id, ==, 0);
	g_assert_cmpint(hdr.status, ==, -EUSERS);
	assert_closed(extra);
	close(extra);

	close(fds[0]);
	/* The server notices the close on its next turn of the loop. */
	for (int i = 0; i < 100; i++) {
		g_clear_error(&err);
		g_clear_pointer(&reply, g_variant_unref);
		if (proto_call(s->path, PROTO_CMD_STATUS, g_variant_new("()"),
			       PROTO_STATUS_REPLY_TYPE, TEST_TIMEOUT_MS, &status, &reply, &err))
			break;
		g_usleep(20 * 1000);
	}
	g_assert_no_error(err);
	g_assert_cmpint(status, ==, 0);
	for (size_t i = 1; i < G_N_ELEMENTS(fds); i++)
		close(fds[i]);
}

/* The calling thread alone becomes nobody: setresuid(2) itself is per
 * thread, only the libc wrapper applies it to the whole process. */
static void become_nobody(gboolean on)
{
	if (on) {
		g_assert_cmpint(syscall(SYS_setresgid, 65534, 65534, 0), ==, 0);
		g_assert_cmpint(syscall(SYS_setresuid, 65534, 65534, 0), ==, 0);
	} else {
		g_assert_cmpint(syscall(SYS_setresuid, 0, 0, 0), ==, 0);
		g_assert_cmpint(syscall(SYS_setresgid, 0, 0, 0), ==, 0);
	}
}

static void test_non_root(server_t *s, gconstpointer data)
{
	g_autofree char *run = g_path_get_dirname(s->path);
	g_autoptr(GVariant) reply = NULL;
	g_autoptr(GError) err = NULL;
	struct stat st;
	int32_t status = 0;
	gboolean ok;

	g_assert_cmpint(stat(s->path, &st), ==, 0);
	g_assert_cmpuint(st.st_mode & 07777, ==, 0600);
	/* Open the way so that SO_PEERCRED, not the file mode, refuses. */
	g_assert_cmpint(chmod(s->dir, 0755), ==, 0);
	g_assert_cmpint(chmod(s->path, 0666), ==, 0);
	become_nobody(TRUE);
	ok = proto_call(s->path, PROTO_CMD_STATUS, g_variant_new("()"), PROTO_STATUS_REPLY_TYPE,
			TEST_TIMEOUT_MS, &status, &reply, &err);
	become_nobody(FALSE);
	g_assert_no_error(err);
	g_assert_true(ok);
	g_assert_cmpint(status, ==, -EPERM);
	g_assert_null(reply);
	g_assert_cmpint(chmod(s->dir, 0700), ==, 0);
	g_assert_cmpint(chmod(run, 0755), ==, 0);
	assert_status_works(s);
}

static void test_second_server_refused(server_t *s, gconstpointer data)
{
	g_autoptr(GError) err = NULL;
	control_t *other = control_new(s->path, test_cmds, 1, NULL, 0, &err);

	g_assert_null(other);
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
	g_assert_nonnull(strstr(err->message, s->path));
	assert_status_works(s);
}

/* Client side against missing, stale and silent servers. */

static char *tmp_path(char **dir, const char *name)
{
	g_autoptr(GError) err = NULL;

	*dir = g_dir_make_tmp("test_proto-XXXXXX", &err);
	g_assert_no_error(err);
	return g_build_filename(*dir, name, NULL);
}

static int bind_unix(const char *path, gboolean do_listen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	g_strlcpy(addr.sun_path, path, sizeof(addr.sun_path));
	g_assert_cmpint(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
	if (do_listen)
		g_assert_cmpint(listen(fd, 4), ==, 0);
	return fd;
}

static void expect_call_error(const char *path, int timeout_ms, int code, const char *text)
{
	g_autoptr(GError) err = NULL;
	g_autoptr(GVariant) reply = NULL;
	int32_t status = 0;

	g_assert_false(proto_call(path, PROTO_CMD_STATUS, g_variant_new("()"),
				  PROTO_STATUS_REPLY_TYPE, timeout_ms, &status, &reply, &err));
	g_assert_error(err, PROTO_ERROR, code);
	g_assert_nonnull(strstr(err->message, text));
	g_assert_null(reply);
}

static void test_client_not_running(void)
{
	g_autofree char *dir = NULL;
	g_autofree char *path = tmp_path(&dir, "pmxcfsd.sock");
	int fd;

	expect_call_error(path, 1000, PROTO_ERROR_NOT_RUNNING, path);
	expect_call_error(path, 1000, PROTO_ERROR_NOT_RUNNING, g_strerror(ENOENT));
	/* A socket file left behind by a daemon that is gone. */
	fd = bind_unix(path, FALSE);
	close(fd);
	expect_call_error(path, 1000, PROTO_ERROR_NOT_RUNNING, g_strerror(ECONNREFUSED));
	g_assert_cmpint(unlink(path), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void test_client_timeout(void)
{
	g_autofree char *dir = NULL;
	g_autofree char *path = tmp_path(&dir, "silent.sock");
	int fd = bind_unix(path, TRUE);
	gint64 start = g_get_monotonic_time();

	/* Listens, never answers: the backlog takes the connection. */
	expect_call_error(path, 200, PROTO_ERROR_TIMEOUT, path);
	g_assert_cmpint(g_get_monotonic_time() - start, <, 3 * G_USEC_PER_SEC);
	close(fd);
	g_assert_cmpint(unlink(path), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

typedef struct {
	int listen_fd;
	guint16 version;
} fake_server_t;

/* Answers one request with a reply of another protocol version. */
static gpointer fake_server(gpointer data)
{
	fake_server_t *f = data;
	guint8 req[PROTO_HEADER_SIZE + 1];
	int fd = accept(f->listen_fd, NULL, NULL);
	g_autoptr(GBytes) reply =
	    encode_ok(PROTO_CMD_STATUS, PROTO_FLAG_REPLY, 0, -EPROTONOSUPPORT, NULL);
	g_autofree guint8 *buf = g_memdup2(g_bytes_get_data(reply, NULL), PROTO_HEADER_SIZE);

	g_assert_cmpint(fd, >=, 0);
	raw_read(fd, req, sizeof(req));
	buf[4] = (guint8)f->version;
	buf[5] = (guint8)(f->version >> 8);
	raw_send(fd, buf, PROTO_HEADER_SIZE);
	close(fd);
	return NULL;
}

static void test_client_version_mismatch(void)
{
	g_autofree char *dir = NULL;
	g_autofree char *path = tmp_path(&dir, "future.sock");
	fake_server_t f = {.listen_fd = bind_unix(path, TRUE), .version = PROTO_VERSION + 1};
	GThread *t = g_thread_new("fake", fake_server, &f);
	g_autofree char *want = g_strdup_printf(
	    "incompatible pvecm and pmxcfsd (protocol %u vs %u)", PROTO_VERSION, PROTO_VERSION + 1);

	expect_call_error(path, TEST_TIMEOUT_MS, PROTO_ERROR_VERSION, want);
	g_thread_join(t);
	close(f.listen_fd);
	g_assert_cmpint(unlink(path), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void test_control_new_stale_and_foreign(void)
{
	g_autofree char *dir = NULL;
	g_autofree char *path = tmp_path(&dir, "pmxcfsd.sock");
	g_autoptr(GError) err = NULL;
	control_t *ctl;
	int fd = bind_unix(path, FALSE);

	close(fd);
	/* A stale socket file is replaced... */
	ctl = control_new(path, test_cmds, G_N_ELEMENTS(test_cmds), NULL, 0, &err);
	g_assert_no_error(err);
	g_assert_nonnull(ctl);
	control_free(ctl);
	g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
	/* ...a regular file is not. */
	g_assert_true(g_file_set_contents(path, "keep me", -1, NULL));
	ctl = control_new(path, test_cmds, G_N_ELEMENTS(test_cmds), NULL, 0, &err);
	g_assert_null(ctl);
	g_assert_error(err, G_IO_ERROR, G_IO_ERROR_EXISTS);
	g_assert_true(g_file_test(path, G_FILE_TEST_IS_REGULAR));
	g_assert_cmpint(unlink(path), ==, 0);
	g_assert_cmpint(g_rmdir(dir), ==, 0);
}

static void skip_not_root(void)
{
	g_test_skip("the control socket serves root only");
}

static void add_server_test_idle(const char *name, void (*fn)(server_t *, gconstpointer),
				 unsigned idle_s)
{
	if (geteuid() == 0)
		g_test_add(name, server_t, GUINT_TO_POINTER(idle_s), server_setup, fn,
			   server_teardown);
	else
		g_test_add_func(name, skip_not_root);
}

static void add_server_test(const char *name, void (*fn)(server_t *, gconstpointer))
{
	if (geteuid() == 0)
		g_test_add(name, server_t, NULL, server_setup, fn, server_teardown);
	else
		g_test_add_func(name, skip_not_root);
}

int main(int argc, char **argv)
{
	g_test_init(&argc, &argv, NULL);
	log_init("test_proto", false, g_getenv("TEST_PROTO_LOG") != NULL);

	g_test_add_func("/proto/roundtrip/commands", test_roundtrip_commands);
	g_test_add_func("/proto/roundtrip/error-reply", test_roundtrip_error_reply);
	g_test_add_func("/proto/decode/truncated-header", test_truncated_header);
	g_test_add_func("/proto/decode/truncated-payload", test_truncated_payload);
	g_test_add_func("/proto/decode/bad-magic", test_bad_magic);
	g_test_add_func("/proto/decode/wrong-version", test_wrong_version);
	g_test_add_func("/proto/decode/oversized-length", test_oversized_length);
	g_test_add_func("/proto/decode/unknown-flags", test_unknown_flags);
	g_test_add_func("/proto/decode/trailing-bytes", test_trailing_bytes);
	g_test_add_func("/proto/decode/malformed-payload", test_malformed_payload);
	g_test_add_func("/proto/decode/random-payloads", test_random_payloads);
	g_test_add_func("/proto/decode/wrong-payload-type", test_wrong_payload_type);
	g_test_add_func("/proto/encode/too-large", test_encode_too_large);

	add_server_test("/control/call", test_call);
	add_server_test("/control/unknown-type", test_unknown_type);
	add_server_test("/control/handler-error", test_handler_error);
	add_server_test("/control/wrong-request-type", test_wrong_request_type);
	add_server_test("/control/reply-as-request", test_reply_as_request);
	add_server_test("/control/garbage", test_garbage);
	add_server_test("/control/bad-version", test_bad_version);
	add_server_test("/control/oversized-frame", test_oversized_frame);
	add_server_test("/control/row-max-payload", test_row_max_payload);
	add_server_test("/control/pipelined", test_pipelined);
	add_server_test("/control/byte-by-byte", test_byte_by_byte);
	add_server_test("/control/disconnect-mid-frame", test_disconnect_mid_frame);
	add_server_test("/control/half-close", test_half_close);
	add_server_test("/control/many-clients", test_many_clients);
	add_server_test_idle("/control/idle-timeout", test_idle_timeout, 1);
	add_server_test("/control/connection-limit", test_connection_limit);
	add_server_test("/control/non-root", test_non_root);
	add_server_test("/control/second-server-refused", test_second_server_refused);
	g_test_add_func("/control/stale-and-foreign-file", test_control_new_stale_and_foreign);

	g_test_add_func("/client/not-running", test_client_not_running);
	g_test_add_func("/client/timeout", test_client_timeout);
	g_test_add_func("/client/version-mismatch", test_client_version_mismatch);

	return g_test_run();
}
