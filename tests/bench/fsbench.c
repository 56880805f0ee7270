/* fsbench: times small-file operations on a directory, for comparing
 * pmxcfsd's mount with a tmpfs baseline (tests/bench/run.sh).
 *
 *   fsbench [-n FILES] [-s BYTES] [-w BYTES] [-p PHASES] [-j WRITERS] [-D] [-k] DIR
 *       Works in a fresh subdirectory of DIR and prints one line per phase,
 *       "PHASE OPS_PER_SECOND", measured with CLOCK_MONOTONIC. PHASES is a
 *       comma-separated subset of: create overwrite read stat rename
 *       mkdir_rmdir unlink (default: all, in that order). -j runs each
 *       phase in WRITERS processes at once, each on its share of the files;
 *       the rate is their total; with -D each writer works in a directory
 *       of its own (the kernel serializes creates in one directory, as it
 *       holds the directory's lock across the file system's create). -k
 *       keeps the subdirectory and what is left in it; the subdirectory's
 *       path is printed as "dir PATH". -w writes each file in write() calls
 *       of at most that many bytes (as a program writing through a stdio
 *       buffer does) instead of one.
 *   fsbench --start-until-readable FILE TIMEOUT CMD [ARG...]
 *       Runs CMD, waits for it, then polls until FILE can be opened and
 *       read; prints the seconds from just before CMD started.
 *   fsbench --term-until-gone PID TIMEOUT
 *       Sends SIGTERM to PID and polls until it has exited (gone, or a
 *       zombie); prints the seconds it took.
 *
 * Exit status 0 on success; 1 with a message on stderr otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_FILES 2000
#define DEFAULT_SIZE 200
#define POLL_NS 1000000L /* 1 ms */

static const char *const all_phases[] = {"create", "overwrite",   "read",  "stat",
					 "rename", "mkdir_rmdir", "unlink"};
#define NPHASES (sizeof(all_phases) / sizeof(all_phases[0]))

static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "fsbench: ");
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

static void nap(void)
{
	struct timespec ts = {0, POLL_NS};
	nanosleep(&ts, NULL);
}

static void name_of(char *buf, size_t len, const char *dir, long i, const char *suffix)
{
	int n = snprintf(buf, len, "%s/f%06ld%s", dir, i, suffix);
	if (n < 0 || (size_t)n >= len)
		die("path too long: %s", dir);
}

/* -w: the largest write() call; 0 for the whole file in one */
static size_t chunk;

static void write_file(const char *path, int flags, const char *data, size_t size)
{
	int fd = open(path, flags | O_WRONLY | O_CLOEXEC, 0640);
	if (fd < 0)
		die("open %s: %s", path, strerror(errno));
	for (size_t off = 0; off < size;) {
		size_t len = chunk && size - off > chunk ? chunk : size - off;
		ssize_t n = write(fd, data + off, len);
		if (n != (ssize_t)len)
			die("write %s: %s", path, n < 0 ? strerror(errno) : "short write");
		off += len;
	}
	if (close(fd) < 0)
		die("close %s: %s", path, strerror(errno));
}

static void run_phase(const char *phase, const char *dir, long nfiles, size_t size, char *data,
		      char *rbuf, long first, long step)
{
	char path[4096], tmp[4096];

	for (long i = first; i < nfiles; i += step) {
		name_of(path, sizeof(path), dir, i, "");
		if (strcmp(phase, "create") == 0) {
			write_file(path, O_CREAT | O_EXCL, data, size);
		} else if (strcmp(phase, "overwrite") == 0) {
			data[0] = (char)('a' + i % 26);
			write_file(path, O_TRUNC, data, size);
		} else if (strcmp(phase, "read") == 0) {
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd < 0)
				die("open %s: %s", path, strerror(errno));
			ssize_t n = read(fd, rbuf, size + 1);
			if (n != (ssize_t)size)
				die("read %s: %s", path, n < 0 ? strerror(errno) : "wrong size");
			close(fd);
		} else if (strcmp(phase, "stat") == 0) {
			struct stat st;
			if (stat(path, &st) < 0)
				die("stat %s: %s", path, strerror(errno));
			if ((size_t)st.st_size != size)
				die("stat %s: size %lld, expected %zu", path,
				    (long long)st.st_size, size);
		} else if (strcmp(phase, "rename") == 0) {
			name_of(tmp, sizeof(tmp), dir, i, ".tmp");
			write_file(tmp, O_CREAT | O_TRUNC, data, size);
			if (rename(tmp, path) < 0)
				die("rename %s: %s", tmp, strerror(errno));
		} else if (strcmp(phase, "mkdir_rmdir") == 0) {
			name_of(tmp, sizeof(tmp), dir, i, ".d");
			if (mkdir(tmp, 0755) < 0)
				die("mkdir %s: %s", tmp, strerror(errno));
			if (rmdir(tmp) < 0)
				die("rmdir %s: %s", tmp, strerror(errno));
		} else if (strcmp(phase, "unlink") == 0) {
			if (unlink(path) < 0)
				die("unlink %s: %s", path, strerror(errno));
		} else {
			die("unknown phase %s", phase);
		}
	}
}

/* The phase in writers processes at once; with one, in this process. */
/* Writer w's directory: dir itself, or its own below it (-D). */
static void writer_dir(char *buf, size_t len, const char *dir, long w, bool own)
{
	int n = own ? snprintf(buf, len, "%s/w%ld", dir, w) : snprintf(buf, len, "%s", dir);
	if (n < 0 || (size_t)n >= len)
		die("path too long: %s", dir);
}

static void run_writers(const char *phase, const char *dir, long nfiles, size_t size, char *data,
			char *rbuf, long writers, bool own_dirs)
{
	char wdir[4096];

	if (writers == 1) {
		run_phase(phase, dir, nfiles, size, data, rbuf, 0, 1);
		return;
	}
	pid_t pids[writers];
	for (long w = 0; w < writers; w++) {
		pids[w] = fork();
		if (pids[w] < 0)
			die("fork: %s", strerror(errno));
		if (pids[w] == 0) {
			writer_dir(wdir, sizeof(wdir), dir, w, own_dirs);
			run_phase(phase, wdir, nfiles, size, data, rbuf, w, writers);
			_exit(0);
		}
	}
	bool failed = false;
	for (long w = 0; w < writers; w++) {
		int status;
		if (waitpid(pids[w], &status, 0) < 0)
			die("waitpid: %s", strerror(errno));
		failed = failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	}
	if (failed)
		die("a writer of phase %s failed", phase);
}

static bool known_phase(const char *p)
{
	for (size_t i = 0; i < NPHASES; i++)
		if (strcmp(all_phases[i], p) == 0)
			return true;
	return false;
}

static int bench(int argc, char **argv)
{
	long nfiles = DEFAULT_FILES;
	long size = DEFAULT_SIZE;
	char *phases = NULL;
	long writers = 1;
	bool keep = false, own_dirs = false;
	int c;

	while ((c = getopt(argc, argv, "n:s:w:p:j:Dk")) != -1) {
		switch (c) {
		case 'n':
			nfiles = strtol(optarg, NULL, 10);
			break;
		case 's':
			size = strtol(optarg, NULL, 10);
			break;
		case 'w':
			chunk = (size_t)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			phases = optarg;
			break;
		case 'j':
			writers = strtol(optarg, NULL, 10);
			break;
		case 'D':
			own_dirs = true;
			break;
		case 'k':
			keep = true;
			break;
		default:
			return 1;
		}
	}
	if (optind != argc - 1 || nfiles <= 0 || size <= 0 || writers < 1 || writers > 256)
		die("usage: fsbench [-n FILES] [-s BYTES] [-w BYTES] [-p PHASES] [-j WRITERS] [-D] "
		    "[-k] DIR");

	char dir[4096];
	int len = snprintf(dir, sizeof(dir), "%s/fsbench.%ld.%ld", argv[optind], (long)getpid(),
			   (long)time(NULL));
	if (len < 0 || (size_t)len >= sizeof(dir) - 64)
		die("path too long: %s", argv[optind]);
	if (mkdir(dir, 0755) < 0)
		die("mkdir %s: %s", dir, strerror(errno));
	for (long w = 0; own_dirs && writers > 1 && w < writers; w++) {
		char wdir[4096];
		writer_dir(wdir, sizeof(wdir), dir, w, true);
		if (mkdir(wdir, 0755) < 0)
			die("mkdir %s: %s", wdir, strerror(errno));
	}

	char *data = malloc((size_t)size);
	char *rbuf = malloc((size_t)size + 1);
	if (!data || !rbuf)
		die("out of memory");
	for (long i = 0; i < size; i++)
		data[i] = (char)('a' + i % 26);
	data[size - 1] = '\n';

	const char *list[NPHASES];
	size_t n = 0;
	if (phases) {
		for (char *p = strtok(phases, ","); p; p = strtok(NULL, ",")) {
			if (!known_phase(p) || n == NPHASES)
				die("unknown or repeated phase %s", p);
			list[n++] = p;
		}
	} else {
		for (n = 0; n < NPHASES; n++)
			list[n] = all_phases[n];
	}

	for (size_t i = 0; i < n; i++) {
		double t0 = now();
		run_writers(list[i], dir, nfiles, (size_t)size, data, rbuf, writers, own_dirs);
		double dt = now() - t0;
		printf("%s %.1f\n", list[i], dt > 0 ? (double)nfiles / dt : 0.0);
		fflush(stdout);
	}

	if (keep) {
		printf("dir %s\n", dir);
	} else {
		/* Whatever a partial phase list left behind. */
		char path[4096], wdir[4096];
		bool own = own_dirs && writers > 1;
		for (long i = 0; i < nfiles; i++) {
			writer_dir(wdir, sizeof(wdir), dir, i % writers, own);
			name_of(path, sizeof(path), wdir, i, "");
			unlink(path);
		}
		for (long w = 0; own && w < writers; w++) {
			writer_dir(wdir, sizeof(wdir), dir, w, true);
			if (rmdir(wdir) < 0)
				die("rmdir %s: %s", wdir, strerror(errno));
		}
		if (rmdir(dir) < 0)
			die("rmdir %s: %s", dir, strerror(errno));
	}
	free(data);
	free(rbuf);
	return 0;
}

static int start_until_readable(int argc, char **argv)
{
	if (argc < 5)
		die("usage: fsbench --start-until-readable FILE TIMEOUT CMD [ARG...]");
	const char *file = argv[2];
	double timeout = strtod(argv[3], NULL);
	char buf[4096];
	int status;

	double t0 = now();
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		execvp(argv[4], argv + 4);
		fprintf(stderr, "fsbench: exec %s: %s\n", argv[4], strerror(errno));
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid: %s", strerror(errno));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("%s failed (status %d)", argv[4], status);
	for (;;) {
		int fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			ssize_t n = read(fd, buf, sizeof(buf));
			close(fd);
			if (n > 0)
				break;
		}
		if (now() - t0 > timeout)
			die("%s not readable after %.1f s", file, timeout);
		nap();
	}
	printf("%.4f\n", now() - t0);
	return 0;
}

/* Gone, or exited and waiting for a parent that may never reap it. */
static bool exited(pid_t pid)
{
	char path[64], buf[512];

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && (p[2] == 'Z' || p[2] == 'X');
}

static int term_until_gone(int argc, char **argv)
{
	if (argc != 4)
		die("usage: fsbench --term-until-gone PID TIMEOUT");
	pid_t pid = (pid_t)strtol(argv[2], NULL, 10);
	double timeout = strtod(argv[3], NULL);

	if (pid <= 1)
		die("bad pid %s", argv[2]);
	double t0 = now();
	if (kill(pid, SIGTERM) < 0)
		die("kill %ld: %s", (long)pid, strerror(errno));
	while (!exited(pid)) {
		if (now() - t0 > timeout)
			die("pid %ld still running %.1f s after SIGTERM", (long)pid, timeout);
		nap();
	}
	printf("%.4f\n", now() - t0);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--start-until-readable") == 0)
		return start_until_readable(argc, argv);
	if (argc > 1 && strcmp(argv[1], "--term-until-gone") == 0)
		return term_until_gone(argc, argv);
	return bench(argc, argv);
}
