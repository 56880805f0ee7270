/*
 * fswriter: a writer for the fault tests. It writes into DIR (a directory
 * of /etc/pve with subdirectories c/, t/ and k/) in a loop and keeps a
 * ledger of every operation, outside the file system under test, with the
 * wall-clock time it started and ended, its result (the errno name of the
 * first step that failed) and a hash of the content it wrote. A judge
 * (tests/lib/fault-judge.py) later holds the final trees of all nodes
 * against the ledgers.
 *
 * Three kinds of writes, drawn from the seed:
 *   create  c/NODE-SEQ: open(O_CREAT|O_EXCL), one write(), close()
 *   rename  t/NODE-SEQ written as a create, then rename() over k/kN
 *   pwrite  k/kN: open(O_WRONLY), pwrite() at offset 0, close()
 * Every value of a shared key is KEY_VALUE_LEN bytes, so that any sequence
 * of whole renames and pwrites leaves exactly one value in the file.
 *
 * Ledger lines (one write(2) each, on an O_APPEND descriptor):
 *   S NODE SEQ KIND KEY START_US
 *   E NODE SEQ KIND KEY START_US END_US RESULT STEP SIZE HASH
 * RESULT is "ok" or an errno name, STEP the call that failed ("-" when
 * none did), KEY "-" for a create, HASH the 64-bit FNV-1a of the content.
 *
 * usage: fswriter --node NAME --dir DIR --ledger FILE [--seed N] [--keys K]
 *                 [--duration S] [--max-ops N] [--stop FILE] [--pause-ms M]
 *        fswriter --init --dir DIR --ledger FILE [--keys K]
 * The loop ends by itself after S seconds or N operations, or when the
 * stop file exists. --init creates the keys k/k0 .. k/k(K-1) (node "init").
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KEY_VALUE_LEN 64
#define CREATE_MIN 32
#define CREATE_MAX 4096

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* xorshift64*: reproducible from the seed, no libc state */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static uint64_t fnv1a(const char *buf, size_t len)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)buf[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int ledger_fd = -1;

static void ledger(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void ledger(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) || write(ledger_fd, line, (size_t)n) != n) {
		/* a ledger with a hole would make the judge wrong: stop */
		perror("fswriter: ledger");
		exit(2);
	}
}

/* fill BUF with LEN bytes: the header (which names the op), then printable
 * filler from the seed, then a newline */
static void make_content(char *buf, size_t len, const char *node, uint64_t seq, const char *kind,
			 const char *key)
{
	int h = snprintf(buf, len, "%s %" PRIu64 " %s %s ", node, seq, kind, key);
	size_t i = h > 0 && (size_t)h < len ? (size_t)h : 0;
	for (; i + 1 < len; i++)
		buf[i] = "0123456789abcdef"[rng_next() >> 60];
	buf[len - 1] = '\n';
}

struct result {
	const char *step; /* NULL: every step succeeded */
	int err;
};

static struct result fail(const char *step, int err)
{
	return (struct result){step, err};
}

/* open(O_CREAT|O_EXCL), one write(), close() */
static struct result create_file(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	if (fd < 0)
		return fail("open", errno);
	ssize_t n = write(fd, buf, len);
	if (n < 0 || (size_t)n != len) {
		int e = n < 0 ? errno : EIO;
		const char *step = n < 0 ? "write" : "short-write";
		close(fd);
		return fail(step, e);
	}
	if (close(fd) < 0)
		return fail("close", errno);
	return fail(NULL, 0);
}

static struct result pwrite_file(const char *path, const char *buf, size_t len)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		return fail("open", errno);
	ssize_t n = pwrite(fd, buf, len, 0);
	if (n < 0 || (size_t)n != len) {
		int e = n < 0 ? errno : EIO;
		const char *step = n < 0 ? "pwrite" : "short-pwrite";
		close(fd);
		return fail(step, e);
	}
	/* Another node may have renamed a new value over the key since the
	 * open: the write then went, as POSIX has it, to the replaced file,
	 * and names no value of the key. */
	struct stat st;
	bool replaced = fstat(fd, &st) == 0 && st.st_nlink == 0;
	if (close(fd) < 0)
		return fail("close", errno);
	return replaced ? (struct result){"replaced", 0} : fail(NULL, 0);
}

static const char *errno_name(int e)
{
	const char *s = strerrorname_np(e);
	return s ? s : "EUNKNOWN";
}

static void record(const char *node, uint64_t seq, const char *kind, const char *key, int64_t start,
		   struct result r, size_t len, uint64_t hash)
{
	ledger("E %s %" PRIu64 " %s %s %" PRId64 " %" PRId64 " %s %s %zu %016" PRIx64 "\n", node, seq,
	       kind, key, start, now_us(), r.step && r.err ? errno_name(r.err) : "ok",
	       r.step ? r.step : "-",
	       len, hash);
}

static void usage(void)
{
	fprintf(stderr, "usage: fswriter --node NAME --dir DIR --ledger FILE [--seed N] [--keys K]\n"
			"                [--duration S] [--max-ops N] [--stop FILE] [--pause-ms M]\n"
			"       fswriter --init --dir DIR --ledger FILE [--keys K]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *node = NULL, *dir = NULL, *ledger_path = NULL, *stop = NULL;
	uint64_t seed = 1, max_ops = 100000;
	int keys = 8, duration = 600, pause_ms = 20;
	bool init = false;
	static const struct option opts[] = {
		{"node", required_argument, NULL, 'n'},	   {"dir", required_argument, NULL, 'd'},
		{"ledger", required_argument, NULL, 'l'},  {"seed", required_argument, NULL, 's'},
		{"keys", required_argument, NULL, 'k'},	   {"duration", required_argument, NULL, 't'},
		{"max-ops", required_argument, NULL, 'm'}, {"stop", required_argument, NULL, 'x'},
		{"pause-ms", required_argument, NULL, 'p'}, {"init", no_argument, NULL, 'i'},
		{NULL, 0, NULL, 0},
	};
	int c;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'n': node = optarg; break;
		case 'd': dir = optarg; break;
		case 'l': ledger_path = optarg; break;
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'k': keys = atoi(optarg); break;
		case 't': duration = atoi(optarg); break;
		case 'm': max_ops = strtoull(optarg, NULL, 10); break;
		case 'x': stop = optarg; break;
		case 'p': pause_ms = atoi(optarg); break;
		case 'i': init = true; break;
		default: usage();
		}
	}
	if (init)
		node = "init";
	if (!node || !dir || !ledger_path || keys < 1 || keys > 1000 || duration < 1 || pause_ms < 0 ||
	    optind != argc || strchr(node, ' ') || strchr(node, '/'))
		usage();
	ledger_fd = open(ledger_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (ledger_fd < 0) {
		fprintf(stderr, "fswriter: %s: %s\n", ledger_path, strerror(errno));
		return 2;
	}
	rng_state = (seed * 0x9E3779B97F4A7C15ULL) ^ fnv1a(node, strlen(node)) ^ 0x5DEECE66DULL;
	if (!rng_state)
		rng_state = 1;

	char path[4096], tmp[4096], key[16], buf[CREATE_MAX];
	if (init) {
		for (int k = 0; k < keys; k++) {
			snprintf(key, sizeof(key), "k%d", k);
			snprintf(path, sizeof(path), "%s/k/%s", dir, key);
			make_content(buf, KEY_VALUE_LEN, node, (uint64_t)k, "init", key);
			int64_t start = now_us();
			ledger("S %s %d init %s %" PRId64 "\n", node, k, key, start);
			struct result r = create_file(path, buf, KEY_VALUE_LEN);
			record(node, (uint64_t)k, "init", key, start, r, KEY_VALUE_LEN,
			       fnv1a(buf, KEY_VALUE_LEN));
			if (r.step) {
				fprintf(stderr, "fswriter: %s: %s failed: %s\n", path, r.step,
					strerror(r.err));
				return 1;
			}
		}
		return 0;
	}

	int64_t end = now_us() + (int64_t)duration * 1000000;
	for (uint64_t seq = 1; seq <= max_ops && now_us() < end; seq++) {
		if (stop && access(stop, F_OK) == 0)
			break;
		unsigned pick = (unsigned)(rng_next() >> 33) % 10;
		const char *kind = pick < 4 ? "create" : pick < 7 ? "rename" : "pwrite";
		struct result r;
		size_t len;
		if (pick < 4) {
			strcpy(key, "-");
			len = CREATE_MIN + (size_t)(rng_next() >> 33) % (CREATE_MAX - CREATE_MIN + 1);
		} else {
			snprintf(key, sizeof(key), "k%u", (unsigned)((rng_next() >> 33) % (unsigned)keys));
			len = KEY_VALUE_LEN;
		}
		make_content(buf, len, node, seq, kind, key);
		uint64_t hash = fnv1a(buf, len);
		int64_t start = now_us();
		ledger("S %s %" PRIu64 " %s %s %" PRId64 "\n", node, seq, kind, key, start);
		if (pick < 4) {
			snprintf(path, sizeof(path), "%s/c/%s-%" PRIu64, dir, node, seq);
			r = create_file(path, buf, len);
		} else if (pick < 7) {
			snprintf(tmp, sizeof(tmp), "%s/t/%s-%" PRIu64, dir, node, seq);
			snprintf(path, sizeof(path), "%s/k/%s", dir, key);
			r = create_file(tmp, buf, len);
			if (!r.step && rename(tmp, path) < 0)
				r = fail("rename", errno);
		} else {
			snprintf(path, sizeof(path), "%s/k/%s", dir, key);
			r = pwrite_file(path, buf, len);
		}
		record(node, seq, kind, key, start, r, len, hash);
		/* after a failure wait longer: a node without quorum or without
		 * a daemon would otherwise fill the ledger with refusals */
		int ms = r.err ? 50 + pause_ms : pause_ms;
		if (ms > 0) {
			ms = ms / 2 + (int)((rng_next() >> 33) % (unsigned)(ms + 1));
			struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	return 0;
}
