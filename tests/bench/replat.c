/* replat: replication latency between two mounts of one cluster
 * (tests/bench/cluster.sh).
 *
 *   replat [-n COUNT] [-s BYTES] [-w SECONDS] [-i POLL_US] WRITE_PATH READ_PATH
 *
 * COUNT times (default 200), writes a content of BYTES (default 128) found
 * in no earlier write to WRITE_PATH (open O_CREAT|O_TRUNC, write, close),
 * while a second thread reads READ_PATH (open, read, close, every POLL_US
 * microseconds, default 100) until it holds the same bytes. The latency of
 * one write is from just before its open to the first read that returned
 * it. Both paths are usually one file as two nodes see it, reached from the
 * host through /proc/<pid>/root.
 *
 * The writer's calls are timed too: in cluster mode each mutation returns
 * only once a quorum of members confirmed it, so the writer's own calls
 * cost a round of confirmations of their own.
 *
 * Prints one line of "name value" pairs: count, lat_{p50,p90,p99}_ms,
 * open_p50_ms, write_{p50,p99}_ms, close_p50_ms, call_p50_ms (open+write+
 * close). Exit status 0 on success; 1 with a message on stderr otherwise
 * (a write not seen within -w seconds, default 10, is a failure).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_COUNT 200
#define DEFAULT_SIZE 128
#define DEFAULT_WAIT_S 10.0
#define DEFAULT_POLL_US 100
/* Writes before the measured ones, so that the first measured one does not
 * pay for cold caches and a just-created file. */
#define WARMUP 10
#define MAX_SIZE (512 * 1024)

static const char *read_path;
static size_t size;
static long poll_us;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
/* Under lock: the content the reader looks for, its number, and the
 * number of the last one the reader saw, with when. */
static char *want;
static long want_seq = -1, seen_seq = -1;
static double seen_at;
static bool quit;

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "replat: ");
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

/* Whether path holds exactly len bytes equal to data. A file that is
 * missing or cannot be read yet is simply not there yet. */
static bool holds(const char *path, const char *data, size_t len, char *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	size_t got = 0;
	ssize_t n;
	while (got < len + 1 && (n = read(fd, buf + got, len + 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	return got == len && memcmp(buf, data, len) == 0;
}

static void *reader(void *arg)
{
	(void)arg;
	char *buf = malloc(size + 1);
	char *expect = malloc(size);
	struct timespec nap = {0, poll_us * 1000};

	if (!buf || !expect)
		die("out of memory");
	pthread_mutex_lock(&lock);
	for (;;) {
		while (!quit && want_seq == seen_seq)
			pthread_cond_wait(&cond, &lock);
		if (quit)
			break;
		long seq = want_seq;
		memcpy(expect, want, size);
		pthread_mutex_unlock(&lock);

		while (!holds(read_path, expect, size, buf)) {
			pthread_mutex_lock(&lock);
			bool moved_on = quit || want_seq != seq;
			pthread_mutex_unlock(&lock);
			if (moved_on)
				break;
			if (poll_us > 0)
				nanosleep(&nap, NULL);
		}
		double t = now();

		pthread_mutex_lock(&lock);
		if (want_seq == seq) {
			seen_seq = seq;
			seen_at = t;
			pthread_cond_broadcast(&cond);
		}
	}
	pthread_mutex_unlock(&lock);
	free(buf);
	free(expect);
	return NULL;
}

static void fill(char *buf, long seq)
{
	int n = snprintf(buf, size, "replat pid %ld write %ld\n", (long)getpid(), seq);
	size_t used = n > 0 ? (size_t)n : 0;
	if (used > size)
		used = size;
	for (size_t i = used; i < size; i++)
		buf[i] = (char)('a' + (seq + (long)i) % 26);
	buf[size - 1] = '\n';
}

/* Hands content number seq to the reader, which starts polling for it. */
static void look_for(long seq, const char *data)
{
	pthread_mutex_lock(&lock);
	memcpy(want, data, size);
	want_seq = seq;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
}

/* Waits until the reader saw content number seq; returns when it did. */
static double wait_seen(long seq, double deadline)
{
	struct timespec ts;
	double t;

	clock_gettime(CLOCK_REALTIME, &ts);
	double rt_deadline = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 + (deadline - now());
	ts.tv_sec = (time_t)rt_deadline;
	ts.tv_nsec = (long)((rt_deadline - (double)ts.tv_sec) * 1e9);
	pthread_mutex_lock(&lock);
	while (seen_seq != seq) {
		int r = pthread_cond_timedwait(&cond, &lock, &ts);
		if (r == ETIMEDOUT && seen_seq != seq) {
			pthread_mutex_unlock(&lock);
			die("write %ld not seen at %s within the time limit", seq, read_path);
		}
	}
	t = seen_at;
	pthread_mutex_unlock(&lock);
	return t;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank; sorts v. */
static double percentile(double *v, long n, double p)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	long rank = (long)(p * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}

static void usage(void)
{
	fprintf(stderr, "usage: replat [-n COUNT] [-s BYTES] [-w SECONDS] [-i POLL_US]"
			" WRITE_PATH READ_PATH\n");
	exit(1);
}

int main(int argc, char **argv)
{
	long count = DEFAULT_COUNT, lsize = DEFAULT_SIZE;
	double wait_s = DEFAULT_WAIT_S;
	int c;

	poll_us = DEFAULT_POLL_US;
	while ((c = getopt(argc, argv, "n:s:w:i:")) != -1) {
		switch (c) {
		case 'n':
			count = strtol(optarg, NULL, 10);
			break;
		case 's':
			lsize = strtol(optarg, NULL, 10);
			break;
		case 'w':
			wait_s = strtod(optarg, NULL);
			break;
		case 'i':
			poll_us = strtol(optarg, NULL, 10);
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || count < 1 || lsize < 32 || lsize > MAX_SIZE || wait_s <= 0 ||
	    poll_us < 0 || poll_us >= 1000000)
		usage();
	const char *write_path = argv[optind];
	read_path = argv[optind + 1];
	size = (size_t)lsize;

	char *data = malloc(size);
	double *lat = malloc(sizeof(double) * (size_t)count);
	double *t_open = malloc(sizeof(double) * (size_t)count);
	double *t_write = malloc(sizeof(double) * (size_t)count);
	double *t_close = malloc(sizeof(double) * (size_t)count);
	double *t_call = malloc(sizeof(double) * (size_t)count);
	want = malloc(size);
	if (!data || !lat || !t_open || !t_write || !t_close || !t_call || !want)
		die("out of memory");

	pthread_t th;
	if ((errno = pthread_create(&th, NULL, reader, NULL)) != 0)
		die("pthread_create: %s", strerror(errno));

	for (long i = -WARMUP; i < count; i++) {
		long seq = i + WARMUP;
		fill(data, seq);
		look_for(seq, data);

		double t0 = now();
		int fd = open(write_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
		if (fd < 0)
			die("open %s: %s", write_path, strerror(errno));
		double t1 = now();
		ssize_t n = write(fd, data, size);
		if (n != (ssize_t)size)
			die("write %s: %s", write_path, n < 0 ? strerror(errno) : "short write");
		double t2 = now();
		if (close(fd) < 0)
			die("close %s: %s", write_path, strerror(errno));
		double t3 = now();

		double seen = wait_seen(seq, t0 + wait_s);
		if (i >= 0) {
			lat[i] = (seen - t0) * 1000.0;
			t_open[i] = (t1 - t0) * 1000.0;
			t_write[i] = (t2 - t1) * 1000.0;
			t_close[i] = (t3 - t2) * 1000.0;
			t_call[i] = (t3 - t0) * 1000.0;
		}
	}

	pthread_mutex_lock(&lock);
	quit = true;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	pthread_join(th, NULL);

	double l50 = percentile(lat, count, 0.50), l90 = percentile(lat, count, 0.90);
	double l99 = percentile(lat, count, 0.99);
	double w50 = percentile(t_write, count, 0.50), w99 = percentile(t_write, count, 0.99);
	printf("count %ld lat_p50_ms %.3f lat_p90_ms %.3f lat_p99_ms %.3f open_p50_ms %.3f"
	       " write_p50_ms %.3f write_p99_ms %.3f close_p50_ms %.3f call_p50_ms %.3f\n",
	       count, l50, l90, l99, percentile(t_open, count, 0.50), w50, w99,
	       percentile(t_close, count, 0.50), percentile(t_call, count, 0.50));
	return 0;
}
