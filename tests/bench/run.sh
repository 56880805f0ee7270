#!/bin/bash
# Benchmark of pmxcfsd in local mode against a tmpfs baseline (issue 2,
# "Benchmark"). Not part of `make check`: it reports, it does not judge; the
# exit status is non-zero only when the benchmark itself could not run.
#
#   make bench            (or: make && BUILD=build tests/bench/run.sh)
#
# Everything runs inside private mount, UTS and PID namespaces: the FUSE mount
# and the tmpfs are invisible to the host and vanish with the namespace, and
# any process left behind is killed by the kernel when the namespace's init
# (this script) exits. The daemon's files live in a per-run directory on a
# real disk (under /tmp, or /var/tmp when /tmp is a tmpfs), removed at the end.
#
# Environment: BUILD (default build), BENCH_FILES/BENCH_SIZE (ops workload,
# default 2000 x 200 bytes), BENCH_REPS (default 3; medians are reported),
# BENCH_FILL (files for the memory/restart part, default 10000 of 1 KiB).
set -euo pipefail

BUILD=${BUILD:-build}
BENCH_FILES=${BENCH_FILES:-2000}
BENCH_SIZE=${BENCH_SIZE:-200}
BENCH_REPS=${BENCH_REPS:-3}
BENCH_FILL=${BENCH_FILL:-10000}
BENCH_FILL_SIZE=1024
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PMXCFSD=$ROOT/$BUILD/pmxcfsd
FSBENCH=$ROOT/$BUILD/tests/fsbench
SELF=$ROOT/tests/bench/run.sh

die() {
	echo "bench: $*" >&2
	exit 1
}

# ---------------------------------------------------------------- outside
if [ -z "${PMXCFSD_BENCH_INNER:-}" ]; then
	[ "$(id -u)" = 0 ] || die "needs root (FUSE mounts and namespaces)"
	[ -x "$PMXCFSD" ] || die "$PMXCFSD not built: run make first"
	if [ ! -x "$FSBENCH" ] || [ tests/bench/fsbench.c -nt "$FSBENCH" ]; then
		mkdir -p "$(dirname "$FSBENCH")"
		${CC:-cc} -O2 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE \
			-o "$FSBENCH" tests/bench/fsbench.c
	fi
	# The database belongs on a real disk: /tmp unless that is a tmpfs.
	base=/tmp
	if [ "$(stat -f -c %T /tmp)" = tmpfs ]; then
		base=/var/tmp
	fi
	RUNDIR=$(mktemp -d "$base/pmxcfsd-bench.XXXXXX")
	# shellcheck disable=SC2317 # called by the trap
	cleanup_outer() {
		rm -rf -- "$RUNDIR"
	}
	trap cleanup_outer EXIT
	# On interruption the namespace's init (the inner script) is asked to
	# stop with SIGTERM, and stops the daemon; if that takes too long,
	# SIGKILL to unshare takes the init (--kill-child) and with it everything
	# in the namespace. (unshare itself ignores SIGINT and SIGTERM.)
	PMXCFSD_BENCH_INNER=1 RUNDIR=$RUNDIR BUILD=$BUILD \
		unshare -m -u -p -f --kill-child --mount-proc --propagation private \
		/bin/bash "$SELF" &
	UNSHARE_PID=$!
	interrupted=
	# shellcheck disable=SC2317 # called by the trap
	on_signal() {
		interrupted=1
		local init
		init=$(pgrep -P "$UNSHARE_PID" || true)
		if [ -n "$init" ]; then
			kill -TERM "$init" 2>/dev/null || true
		fi
	}
	trap on_signal INT TERM
	rc=0
	wait "$UNSHARE_PID" || rc=$?
	if [ -n "$interrupted" ]; then
		for _ in $(seq 100); do
			kill -0 "$UNSHARE_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$UNSHARE_PID" 2>/dev/null || true
		wait "$UNSHARE_PID" 2>/dev/null || true
		echo "bench: interrupted" >&2
		exit 130
	fi
	exit $rc
fi

# ---------------------------------------------------------------- inside
# We are PID 1 of the namespace: the daemon, once it detaches, is our child.
: "${RUNDIR:?}"
hostname bench-node
MNT=$RUNDIR/pve
TMPFS=$RUNDIR/tmpfs
mkdir -p "$MNT" "$TMPFS" "$RUNDIR/lib" "$RUNDIR/run"
mount -t tmpfs -o size=512m,mode=0755 bench-tmpfs "$TMPFS"
DAEMON_PID=

# shellcheck disable=SC2317 # called by the trap
cleanup_inner() {
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill -TERM "$DAEMON_PID" 2>/dev/null || true
		for _ in $(seq 50); do
			kill -0 "$DAEMON_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$DAEMON_PID" 2>/dev/null || true
	fi
	umount -l "$MNT" 2>/dev/null || true
	umount -l "$TMPFS" 2>/dev/null || true
}
trap cleanup_inner EXIT
trap 'exit 130' INT TERM

# start_daemon DBNAME: the daemonizing form, which returns once mounted.
daemon_args() {
	echo -l --mountpoint "$MNT" --database "$RUNDIR/lib/$1" \
		--socket "$RUNDIR/run/pmxcfsd.sock" --pidfile "$RUNDIR/run/pmxcfsd.pid"
}
read_pid() {
	DAEMON_PID=$(cat "$RUNDIR/run/pmxcfsd.pid")
	[ -n "$DAEMON_PID" ] || die "no PID in $RUNDIR/run/pmxcfsd.pid"
}
start_daemon() {
	# shellcheck disable=SC2046
	"$PMXCFSD" $(daemon_args "$1") || die "pmxcfsd did not start"
	read_pid
}
# stop_daemon: SIGTERM, wait until the PID is gone; the seconds in STOP_T.
stop_daemon() {
	STOP_T=$("$FSBENCH" --term-until-gone "$DAEMON_PID" 30) || die "pmxcfsd did not stop"
	wait "$DAEMON_PID" 2>/dev/null || true
	DAEMON_PID=
	if mountpoint -q "$MNT"; then
		die "$MNT still mounted after pmxcfsd exited"
	fi
}
rss_kib() {
	awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON_PID/status"
}
median() {
	printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
		if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# value FILE OP: the figure for OP in one fsbench output.
value() {
	awk -v op="$2" '$1 == op {print $2}' "$1"
}

dbfs=$(df --output=fstype "$RUNDIR" | tail -n 1)
echo "pmxcfsd benchmark: $(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ)," \
	"load average $(cut -d' ' -f1-3 /proc/loadavg) (other load skews the figures)"
echo "database on real disk: $RUNDIR/lib ($dbfs; /tmp is $(df --output=fstype /tmp | tail -n 1))"
echo "baseline: tmpfs at $TMPFS; pmxcfsd -l mounted at $MNT"
echo "workload: $BENCH_FILES files of $BENCH_SIZE bytes; each figure is the median of $BENCH_REPS runs"
echo

# ---- operations: tmpfs and pmxcfsd, runs interleaved
start_daemon ops.db
for rep in $(seq "$BENCH_REPS"); do
	"$FSBENCH" -n "$BENCH_FILES" -s "$BENCH_SIZE" "$TMPFS" >"$RUNDIR/tmpfs.$rep" ||
		die "fsbench on tmpfs failed"
	"$FSBENCH" -n "$BENCH_FILES" -s "$BENCH_SIZE" "$MNT" >"$RUNDIR/pve.$rep" ||
		die "fsbench on pmxcfsd failed"
done
stop_daemon

ops=(create overwrite read stat rename mkdir_rmdir unlink)
declare -A label=([create]=create [overwrite]=overwrite [read]=read [stat]=stat
	[rename]=write-then-rename [mkdir_rmdir]=mkdir+rmdir [unlink]=unlink)
declare -A ref=([create]=0.047 [overwrite]=0.047 [read]=0.083 [stat]=0.108
	[rename]=0.041 [mkdir_rmdir]=0.024 [unlink]=0.043)

printf '%-18s %12s %12s %8s %8s %8s  %s\n' operation "tmpfs op/s" "pmxcfsd op/s" ratio \
	reference target verdict
for op in "${ops[@]}"; do
	tv=() pv=()
	for rep in $(seq "$BENCH_REPS"); do
		tv+=("$(value "$RUNDIR/tmpfs.$rep" "$op")")
		pv+=("$(value "$RUNDIR/pve.$rep" "$op")")
	done
	tm=$(median "${tv[@]}")
	pm=$(median "${pv[@]}")
	awk -v l="${label[$op]}" -v t="$tm" -v p="$pm" -v r="${ref[$op]}" 'BEGIN {
		ratio = t > 0 ? p / t : 0; target = 2 * r
		verdict = (ratio >= target) ? "ok" : "BELOW TARGET"
		printf("%-18s %12.0f %12.0f %8.3f %8.3f %8.3f  %s\n", l, t, p, ratio, r, target,
			verdict) }'
done
echo

# ---- memory and restart with BENCH_FILL files of 1 KiB
start_daemon config.db
sleep 1
rss_idle=$(rss_kib)
out=$("$FSBENCH" -n "$BENCH_FILL" -s "$BENCH_FILL_SIZE" -p create -k "$MNT") ||
	die "writing $BENCH_FILL files failed"
fill_dir=$(awk '$1 == "dir" {print $2}' <<<"$out")
fill_rate=$(awk '$1 == "create" {print $2}' <<<"$out")
sleep 0.5
rss_full=$(rss_kib)
probe=$fill_dir/$(printf 'f%06d' $((BENCH_FILL - 1)))
[ -s "$probe" ] || die "$probe missing after the fill"

stops=() starts=()
for rep in $(seq "$BENCH_REPS"); do
	stop_daemon
	stops+=("$STOP_T")
	# shellcheck disable=SC2046
	t=$("$FSBENCH" --start-until-readable "$probe" 30 "$PMXCFSD" $(daemon_args config.db)) ||
		die "pmxcfsd did not come back with $probe readable"
	read_pid
	starts+=("$t")
done
sleep 0.5
rss_loaded=$(rss_kib)
stop_daemon
stops+=("$STOP_T")

stop_med=$(median "${stops[@]}")
start_med=$(median "${starts[@]}")
awk -v idle="$rss_idle" -v full="$rss_full" -v loaded="$rss_loaded" -v n="$BENCH_FILL" \
	-v rate="$fill_rate" -v start="$start_med" -v stop="$stop_med" \
	-v starts="${starts[*]}" -v stops="${stops[*]}" 'BEGIN {
	printf "%-42s %10s %10s %10s  %s\n", "measure", "pmxcfsd", "reference", "target", "verdict"
	mi = idle / 1024; mf = full / 1024; ml = loaded / 1024
	printf "%-42s %6.1f MiB %6.0f MiB %6s MiB  %s\n", "RSS idle (empty tree)", mi, 12, "<=12",
		mi <= 12 ? "ok" : "ABOVE TARGET"
	printf "%-42s %6.1f MiB %6.0f MiB %6s MiB  %s\n", "RSS after writing " n " files of 1 KiB", mf,
		28, "<=28", mf <= 28 ? "ok" : "ABOVE TARGET"
	printf "%-42s %6.1f MiB %10s %10s  %s\n", "RSS after restart with " n " files", ml, "-", "-",
		"(for information)"
	printf "%-42s %8.3f s %8.1f s %8s s  %s\n", "start to first readable file (" n " files)",
		start, 1.1, "<0.2", start < 0.2 ? "ok" : "ABOVE TARGET"
	printf "%-42s %8.3f s %8s s %8s s  %s\n", "SIGTERM to exit (" n " files)", stop, "1-2",
		"<0.2", stop < 0.2 ? "ok" : "ABOVE TARGET"
	printf "\nwriting the %d files ran at %.0f creates/s\n", n, rate
	printf "start runs: %s s; stop runs: %s s\n", starts, stops
}'
