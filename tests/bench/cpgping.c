/* cpgping: the raw corosync CPG round trip, the floor under every replicated
 * write (tests/bench/cluster.sh).
 *
 *   cpgping member [-g GROUP]
 *       Joins GROUP and stays in it until SIGTERM or SIGINT. Answers a ping
 *       that asks for echoes with an echo message to the group.
 *   cpgping ping [-g GROUP] [-n COUNT] [-s BYTES] [-m MEMBERS] [-a ACKS]
 *                [-w SECONDS]
 *       Joins GROUP, waits until it has MEMBERS members (itself included),
 *       then sends COUNT messages of BYTES one at a time. Each one is done
 *       when it was delivered back to this process and, with -a, when ACKS
 *       members (this one included) have echoed it: the shape of a write that
 *       waits for a quorum of confirmations. Prints one line:
 *       "count C p50_ms X p90_ms Y p99_ms Z msgs_per_s R".
 *
 * GROUP defaults to "bench_ping". Messages are sent with CPG_TYPE_AGREED,
 * as pmxcfsd sends its own. Exit status 0 on success; 1 with a message on
 * stderr otherwise (a ping that takes more than -w seconds, default 10, is
 * a failure).
 */
#include <corosync/cpg.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_GROUP "bench_ping"
#define DEFAULT_COUNT 1000
#define DEFAULT_SIZE 64
#define DEFAULT_WAIT_S 10.0
/* Pings before the measured ones: the first ones after a join pay for
 * the configuration change still settling. */
#define WARMUP 20
#define MSG_MAGIC 0x474e4950u /* "PING" little-endian */
#define MAX_SIZE 65536

enum { KIND_PING = 1, KIND_ECHO = 2 };

typedef struct {
	uint32_t magic;
	uint32_t kind;
	uint32_t want_echo;
	uint32_t origin_nodeid; /* of the ping an echo answers */
	uint32_t origin_pid;
	uint32_t pad;
	uint64_t seq;
} msg_t;

static volatile sig_atomic_t stop;

static cpg_handle_t handle;
static struct cpg_name group_name;
static uint32_t my_nodeid, my_pid;
static bool echo_mode;
static size_t members;
static bool joined;

/* The ping in flight. */
static uint64_t cur_seq;
static bool cur_delivered;
static unsigned cur_echoes;

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cpgping: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

/* corosync answers CS_ERR_TRY_AGAIN while its queue is full or a
 * configuration change is in progress: that is back-pressure, not failure. */
static void send_msg(const void *buf, size_t len)
{
	struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
	double deadline = now() + DEFAULT_WAIT_S;
	cs_error_t err;

	while ((err = cpg_mcast_joined(handle, CPG_TYPE_AGREED, &iov, 1)) == CS_ERR_TRY_AGAIN) {
		if (now() > deadline)
			die("cpg_mcast_joined kept answering TRY_AGAIN for %.0f s", DEFAULT_WAIT_S);
		usleep(100);
	}
	if (err != CS_OK)
		die("cpg_mcast_joined: corosync error %d", err);
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid,
		       uint32_t pid, void *data, size_t len)
{
	(void)h;
	(void)group;
	msg_t m;

	if (len < sizeof(m))
		return;
	memcpy(&m, data, sizeof(m));
	if (m.magic != MSG_MAGIC)
		return;
	if (m.kind == KIND_PING) {
		if (nodeid == my_nodeid && pid == my_pid) {
			if (m.seq == cur_seq)
				cur_delivered = true;
			if (m.want_echo && m.seq == cur_seq)
				cur_echoes++; /* the sender's own confirmation */
		} else if (echo_mode && m.want_echo) {
			msg_t e = {.magic = MSG_MAGIC,
				   .kind = KIND_ECHO,
				   .origin_nodeid = nodeid,
				   .origin_pid = pid,
				   .seq = m.seq};
			send_msg(&e, sizeof(e));
		}
	} else if (m.kind == KIND_ECHO && m.origin_nodeid == my_nodeid &&
		   m.origin_pid == my_pid && m.seq == cur_seq) {
		cur_echoes++;
	}
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
		       const struct cpg_address *list, size_t n, const struct cpg_address *left,
		       size_t nleft, const struct cpg_address *joined_list, size_t njoined)
{
	(void)h;
	(void)group;
	(void)left;
	(void)nleft;
	(void)joined_list;
	(void)njoined;
	members = n;
	for (size_t i = 0; i < n; i++)
		if (list[i].nodeid == my_nodeid && list[i].pid == my_pid)
			joined = true;
}

static void connect_group(const char *name)
{
	cpg_callbacks_t cb = {.cpg_deliver_fn = on_deliver, .cpg_confchg_fn = on_confchg};
	struct cpg_name *group = &group_name;
	cs_error_t err;
	unsigned int nodeid;

	if (strlen(name) >= sizeof(group->value))
		die("group name too long: %s", name);
	group->length = (uint32_t)strlen(name);
	memcpy(group->value, name, group->length);
	if ((err = cpg_initialize(&handle, &cb)) != CS_OK)
		die("cpg_initialize: corosync error %d (is corosync running here?)", err);
	if ((err = cpg_local_get(handle, &nodeid)) != CS_OK)
		die("cpg_local_get: corosync error %d", err);
	my_nodeid = nodeid;
	my_pid = (uint32_t)getpid();
	double deadline = now() + DEFAULT_WAIT_S;
	while ((err = cpg_join(handle, group)) == CS_ERR_TRY_AGAIN) {
		if (now() > deadline)
			die("cpg_join kept answering TRY_AGAIN for %.0f s", DEFAULT_WAIT_S);
		usleep(10000);
	}
	if (err != CS_OK)
		die("cpg_join %s: corosync error %d", name, err);
}

/* Waits for corosync's fd to be readable (at most until deadline, or
 * forever when deadline is 0) and dispatches what is there. Returns false
 * on timeout or signal. */
static bool dispatch_until(double deadline)
{
	struct pollfd pfd = {.events = POLLIN};
	int fd, timeout_ms = -1;
	cs_error_t err;

	if ((err = cpg_fd_get(handle, &fd)) != CS_OK)
		die("cpg_fd_get: corosync error %d", err);
	pfd.fd = fd;
	if (deadline > 0) {
		double left = deadline - now();
		if (left <= 0)
			return false;
		timeout_ms = (int)(left * 1000) + 1;
	}
	int r = poll(&pfd, 1, timeout_ms);
	if (r < 0) {
		if (errno == EINTR)
			return false;
		die("poll: %s", strerror(errno));
	}
	if (r == 0)
		return false;
	if (pfd.revents & (POLLERR | POLLHUP))
		die("corosync closed the connection");
	if ((err = cpg_dispatch(handle, CS_DISPATCH_ALL)) != CS_OK && err != CS_ERR_TRY_AGAIN)
		die("cpg_dispatch: corosync error %d", err);
	return true;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least p of them at or below. */
static double percentile(const double *sorted, long n, double p)
{
	long rank = (long)(p * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return sorted[rank - 1];
}

static int run_member(void)
{
	while (!stop)
		dispatch_until(0);
	return 0;
}

static int run_ping(long count, size_t size, size_t want_members, unsigned acks, double wait_s)
{
	double deadline = now() + wait_s;
	char *buf = calloc(1, size);
	double *lat = malloc(sizeof(double) * (size_t)count);

	if (!buf || !lat)
		die("out of memory");
	while (!joined || members < want_members) {
		if (stop)
			die("interrupted");
		if (!dispatch_until(deadline) && now() >= deadline)
			die("waited %.0f s for %zu members in the group, have %zu", wait_s,
			    want_members, members);
	}

	double t_start = 0;
	for (long i = -WARMUP; i < count; i++) {
		msg_t m = {.magic = MSG_MAGIC, .kind = KIND_PING, .want_echo = acks > 0};

		if (i == 0)
			t_start = now();
		m.seq = ++cur_seq;
		cur_delivered = false;
		cur_echoes = 0;
		memcpy(buf, &m, sizeof(m));
		double t0 = now();
		send_msg(buf, size);
		double limit = t0 + wait_s;
		while (!cur_delivered || cur_echoes < acks) {
			if (stop)
				die("interrupted");
			if (!dispatch_until(limit) && now() >= limit)
				die("message %ld: no delivery%s within %.0f s (%u of %u echoes)", i,
				    acks ? " and echoes" : "", wait_s, cur_echoes, acks);
		}
		if (i >= 0)
			lat[i] = (now() - t0) * 1000.0;
	}
	double total = now() - t_start;

	qsort(lat, (size_t)count, sizeof(double), cmp_double);
	printf("count %ld p50_ms %.3f p90_ms %.3f p99_ms %.3f msgs_per_s %.0f\n", count,
	       percentile(lat, count, 0.50), percentile(lat, count, 0.90),
	       percentile(lat, count, 0.99), total > 0 ? (double)count / total : 0.0);
	free(buf);
	free(lat);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: cpgping member [-g GROUP]\n"
			"       cpgping ping [-g GROUP] [-n COUNT] [-s BYTES] [-m MEMBERS]"
			" [-a ACKS] [-w SECONDS]\n");
	exit(1);
}

int main(int argc, char **argv)
{
	const char *group = DEFAULT_GROUP;
	long count = DEFAULT_COUNT, size = DEFAULT_SIZE, want = 1, acks = 0;
	double wait_s = DEFAULT_WAIT_S;
	bool ping;
	int c;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "ping") == 0)
		ping = true;
	else if (strcmp(argv[1], "member") == 0)
		ping = false;
	else
		usage();
	optind = 2;
	while ((c = getopt(argc, argv, "g:n:s:m:a:w:")) != -1) {
		switch (c) {
		case 'g':
			group = optarg;
			break;
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 's':
			size = strtol(optarg, NULL, 10);
			break;
		case 'm':
			want = strtol(optarg, NULL, 10);
			break;
		case 'a':
			acks = strtol(optarg, NULL, 10);
			break;
		case 'w':
			wait_s = strtod(optarg, NULL);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || count < 1 || size < (long)sizeof(msg_t) || size > MAX_SIZE ||
	    want < 1 || acks < 0 || acks > want || wait_s <= 0)
		usage();

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	echo_mode = !ping;
	connect_group(group);
	int rc = ping ? run_ping(count, (size_t)size, (size_t)want, (unsigned)acks, wait_s)
		      : run_member();
	cpg_leave(handle, &group_name);
	cpg_finalize(handle);
	return rc;
}
