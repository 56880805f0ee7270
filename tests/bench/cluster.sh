#!/bin/bash
# Cluster benchmark: pmxcfsd in cluster mode against the raw corosync CPG
# round trip measured in the same run (DESIGN.md, "The floor, measured").
# Not part of `make check`: it reports, it does not judge; the exit status is
# non-zero only when a cluster size could not be measured.
#
#   make bench            (after the local benchmark, tests/bench/run.sh)
#   BUILD=build tests/bench/cluster.sh [-d]
#
# For every cluster size N, a fresh cluster of N nodes (network namespaces,
# real corosync, see tests/lib/) runs pmxcfsd on every node, and:
#   1. cpgping joins a group of its own on every node; n1 sends messages one
#      at a time, each waiting for its own delivery (the floor), then again
#      waiting also for echoes from a quorum of members (what the write rule
#      adds on top of one delivery);
#   2. replat writes one file through n1's mount from the host and polls the
#      same file through the last node's mount until it reads the same bytes;
#   3. fsbench creates small files on n1, with the cluster and then with n1's
#      pmxcfsd restarted in local mode (-l), on its own copy of the tree.
# Each size runs in a process of its own (this script again), so that the
# harness's trap removes its nodes before the next size starts.
#
# Environment: BUILD (default build), CLUSTER_SIZES (default "3 8 16"),
# BENCH_PINGS (CPG messages per measure, default 1000), BENCH_REPL_WRITES
# (default 200), BENCH_CREATES (default 2000), BENCH_SIZE (bytes per file,
# default 200). Option: -d (--debug) keeps each size's temporary directory,
# with the nodes' logs under nodes/*/.

BENCH_SELF=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
BENCH_ROOT=$(cd "$(dirname "$0")/../.." && pwd)

bench_die () {
	printf 'cluster bench: %s\n' "$*" >&2
	exit 1
}

# ---------------------------------------------------------------- outside
if [ -z "$BENCH_CLUSTER_N" ]; then
	for a in "$@"; do
		case $a in
		-d | --debug) ;;
		-h | --help)
			sed -n '2,/^$/s/^# \{0,1\}//p' "$BENCH_SELF"
			exit 0
			;;
		*) bench_die "unknown option $a (usage: $0 [-d])" ;;
		esac
	done
	CLUSTER_SIZES=${CLUSTER_SIZES:-"3 8 16"}
	BUILD=${BUILD:-build}
	case $BUILD in
	/*) build_dir=$BUILD ;;
	*) build_dir=$BENCH_ROOT/$BUILD ;;
	esac
	[ "$(id -u)" = 0 ] || bench_die "needs root (namespaces, FUSE mounts)"
	[ -x "$build_dir/pmxcfsd" ] || bench_die "$build_dir/pmxcfsd not built: run make first"
	for p in corosync corosync-keygen corosync-cmapctl corosync-quorumtool; do
		command -v "$p" >/dev/null || bench_die "needs $p (tests/install-deps.sh installs it)"
	done
	for n in $CLUSTER_SIZES; do
		case $n in
		'' | *[!0-9]*) bench_die "CLUSTER_SIZES: '$n' is not a node count" ;;
		esac
		if [ "$n" -lt 2 ] || [ "$n" -gt 250 ]; then
			bench_die "CLUSTER_SIZES: $n is out of 2..250"
		fi
	done
	# Built here too, so that the script also runs without `make bench`.
	make -s -C "$BENCH_ROOT" BUILD="$BUILD" "$BUILD/tests/fsbench" \
		"$BUILD/tests/cpgping" "$BUILD/tests/replat" >&2 ||
		bench_die "building the benchmark tools failed"

	echo "pmxcfsd cluster benchmark: $(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ)," \
		"load average $(cut -d' ' -f1-3 /proc/loadavg) (other load skews the figures)"
	echo "$(corosync -v 2>/dev/null | head -n 1); sizes: $CLUSTER_SIZES; every node runs" \
		"corosync and pmxcfsd on this machine"
	echo

	start=$EPOCHREALTIME
	failed=
	child=
	interrupted=
	# A background child does not get SIGINT from the terminal's Ctrl-C
	# (non-interactive shells ignore it for background jobs), so it is
	# passed on as SIGTERM, which the harness turns into its cleanup.
	# shellcheck disable=SC2317 # called by the trap
	on_signal () {
		interrupted=1
		[ -n "$child" ] && kill -TERM "$child" 2>/dev/null
	}
	trap on_signal INT TERM HUP
	for n in $CLUSTER_SIZES; do
		BENCH_CLUSTER_N=$n BUILD=$BUILD bash "$BENCH_SELF" "$@" &
		child=$!
		rc=0
		while :; do
			wait "$child"
			rc=$?
			# a trapped signal ends `wait` early; the child is still there
			kill -0 "$child" 2>/dev/null || break
		done
		child=
		if [ -n "$interrupted" ]; then
			echo "cluster bench: interrupted" >&2
			exit 130
		fi
		if [ "$rc" != 0 ]; then
			echo "cluster bench: N=$n could not be measured (exit status $rc)" >&2
			failed="$failed $n"
		fi
	done
	awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN {
		printf "\ncluster benchmark: total run time %.0f s\n", e - s }'
	[ -z "$failed" ] || bench_die "sizes not measured:$failed"
	exit 0
fi

# ---------------------------------------------------------------- inside
# shellcheck disable=SC2034 # read by test-lib.sh (-h)
test_description="cluster benchmark, $BENCH_CLUSTER_N nodes"
. "$BENCH_ROOT/tests/lib/test-lib.sh"
test_require_root
test_require_corosync
test_require_program tests/fsbench tests/cpgping tests/replat

N=$BENCH_CLUSTER_N
PINGS=${BENCH_PINGS:-1000}
WRITES=${BENCH_REPL_WRITES:-200}
CREATES=${BENCH_CREATES:-2000}
SIZE=${BENCH_SIZE:-200}
LAST=n$N
# quorum of N one-vote members (votequorum's default), the writer included
QUORUM=$((N / 2 + 1))
PING_GROUP=bench_ping
T0=$EPOCHREALTIME

progress () {
	awk -v s="$T0" -v e="$EPOCHREALTIME" -v n="$N" -v m="$*" 'BEGIN {
		printf "# N=%d %6.1fs %s\n", n, e - s, m }' >&2
}

# field LINE NAME: the value after NAME in a line of "name value" pairs
field () {
	awk -v k="$2" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' <<<"$1"
}

# shellcheck disable=SC2317 # called through wait_for
# every_node_has PATH CONTENT: each node reads CONTENT at PATH in its mount
every_node_has () {
	local n
	for n in $(node_list); do
		[ "$(cat "$(node_path "$n" "$1")" 2>/dev/null)" = "$2" ] || return 1
	done
}

# shellcheck disable=SC2317 # called through wait_for
# probe_cluster TOKEN: a write through n1 succeeds and every node reads it
probe_cluster () {
	say "$1" >"$(node_path n1 "$PVE/bench-probe")" 2>/dev/null &&
		every_node_has "$PVE/bench-probe" "$1"
}

# A membership change takes a few token timeouts, and every pmxcfsd that
# joins starts a state exchange: allow for one per node.
ready_timeout=$(($(cluster_default_timeout) + 2 * N))

progress "creating $N nodes"
cluster_create "$N" bench || error "creating $N nodes failed"
progress "starting corosync"
cluster_start_corosync || error "corosync did not form one membership of $N"
cluster_wait_quorate n1 || error "corosync on n1 is not quorate"
progress "starting pmxcfsd on every node"
for n in $(node_list); do
	node_start_pmxcfsd "$n" || error "pmxcfsd did not start on $n"
done
wait_for "a write through n1 to be accepted and read on all $N nodes" "$ready_timeout" \
	"probe_cluster ready-$$" || error "the cluster's /etc/pve did not become writable"

# ---- 1. the floor: raw CPG round trips with N members
progress "CPG round trips ($PINGS messages)"
member_pids=()
for n in $(node_list); do
	[ "$n" = n1 ] && continue
	nsenter -t "$(node_anchor "$n")" -n -m -u -- "$BUILD/tests/cpgping" member -g "$PING_GROUP" \
		</dev/null >>"$(node_dir "$n")/cpgping.log" 2>&1 &
	member_pids+=($!)
done
ping_wait=$((ready_timeout > 30 ? ready_timeout : 30))
ping=$(node_exec n1 "$BUILD/tests/cpgping" ping -g "$PING_GROUP" -n "$PINGS" -m "$N" \
	-w "$ping_wait") || error "cpgping ping failed"
qping=$(node_exec n1 "$BUILD/tests/cpgping" ping -g "$PING_GROUP" -n "$PINGS" -m "$N" \
	-a "$QUORUM" -w "$ping_wait") || error "cpgping ping with echoes failed"
if [ ${#member_pids[@]} -gt 0 ]; then
	kill -TERM "${member_pids[@]}" 2>/dev/null
	wait "${member_pids[@]}" 2>/dev/null
fi

# ---- 2. replication latency, n1 to the last node
progress "replication latency ($WRITES writes, n1 to $LAST)"
repl=$("$BUILD/tests/replat" -n "$WRITES" -s "$SIZE" -w 30 \
	"$(node_path n1 "$PVE/bench-replat")" "$(node_path "$LAST" "$PVE/bench-replat")") ||
	error "replat failed"

# ---- 3. creates on n1: cluster, then local mode
progress "creates on n1 in the cluster ($CREATES files of $SIZE bytes)"
out=$(node_exec n1 "$BUILD/tests/fsbench" -n "$CREATES" -s "$SIZE" -p create -k "$PVE") ||
	error "fsbench in the cluster failed"
creates_cluster=$(field "$out" create)
progress "restarting pmxcfsd on n1 in local mode"
node_stop_pmxcfsd n1 || error "stopping pmxcfsd on n1 failed"
node_start_pmxcfsd n1 -l || error "pmxcfsd -l did not start on n1"
progress "creates on n1 in local mode"
out=$(node_exec n1 "$BUILD/tests/fsbench" -n "$CREATES" -s "$SIZE" -p create -k "$PVE") ||
	error "fsbench in local mode failed"
creates_local=$(field "$out" create)

# ---- figures
awk -v n="$N" -v q="$QUORUM" -v pings="$PINGS" \
	-v r50="$(field "$ping" p50_ms)" -v r90="$(field "$ping" p90_ms)" \
	-v r99="$(field "$ping" p99_ms)" -v rps="$(field "$ping" msgs_per_s)" \
	-v q50="$(field "$qping" p50_ms)" -v q99="$(field "$qping" p99_ms)" \
	-v qps="$(field "$qping" msgs_per_s)" \
	-v writes="$(field "$repl" count)" -v l50="$(field "$repl" lat_p50_ms)" \
	-v l90="$(field "$repl" lat_p90_ms)" -v l99="$(field "$repl" lat_p99_ms)" \
	-v w50="$(field "$repl" write_p50_ms)" -v w99="$(field "$repl" write_p99_ms)" \
	-v o50="$(field "$repl" open_p50_ms)" -v c50="$(field "$repl" close_p50_ms)" \
	-v a50="$(field "$repl" call_p50_ms)" \
	-v cc="$creates_cluster" -v cl="$creates_local" 'function ratio(a, b) {
		return b > 0 ? sprintf("%.1f", a / b) : "-"
	}
	BEGIN {
		printf "N=%d CPG round trip p50 %.2f ms p90 %.2f ms p99 %.2f ms, %.0f msgs/s" \
			" (%d messages one at a time, %d members)\n", n, r50, r90, r99, rps, pings, n
		printf "N=%d CPG quorum round trip p50 %.2f ms p99 %.2f ms, %.0f msgs/s" \
			" (delivered and echoed by %d of %d members; CPG round trip p50 %.2f ms," \
			" ratio %s)\n", n, q50, q99, qps, q, n, r50, ratio(q50, r50)
		printf "N=%d replication latency p50 %.2f ms (CPG round trip p50 %.2f ms, ratio %s)\n",
			n, l50, r50, ratio(l50, r50)
		printf "N=%d replication latency p90 %.2f ms (CPG round trip p90 %.2f ms, ratio %s)\n",
			n, l90, r90, ratio(l90, r90)
		printf "N=%d replication latency p99 %.2f ms (CPG round trip p99 %.2f ms, ratio %s)\n",
			n, l99, r99, ratio(l99, r99)
		printf "N=%d write() call p50 %.2f ms p99 %.2f ms (CPG quorum round trip p50 %.2f ms," \
			" ratio %s)\n", n, w50, w99, q50, ratio(w50, q50)
		printf "N=%d open(O_TRUNC)+write+close p50 %.2f ms (open %.2f, write %.2f, close %.2f;" \
			" CPG quorum round trip p50 %.2f ms, ratio %s)\n",
			n, a50, o50, w50, c50, q50, ratio(a50, q50)
		# parenthesised: a bare ">" among printf arguments redirects
		printf "N=%d creates/s cluster %.0f local %.0f ratio %.2f\n",
			n, cc, cl, (cl > 0 ? cc / cl : 0)
	}' || error "the figures could not be printed"

# Warnings and errors of the daemons during the run, for a look at the logs
# (kept with -d) when the figures are odd.
for n in $(node_list); do
	grep -iE '\b(warning|error|crit)\b' "$(node_log "$n")" 2>/dev/null >"$TRASH/odd.$n"
	[ -s "$TRASH/odd.$n" ] || continue
	say "# N=$N: $n: $(wc -l <"$TRASH/odd.$n") warning/error line(s) in its pmxcfsd log, the first:" >&2
	head -n 3 "$TRASH/odd.$n" | sed 's/^/#     /' >&2
done
progress "done; removing the nodes"
exit 0
