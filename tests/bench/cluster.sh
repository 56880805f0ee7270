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
#   4. the PVE pattern on n1: a tmp file written and renamed over the old;
#      then files of 16 KiB written in 4 KiB write() calls (a stdio buffer);
#   5. 8 concurrent writers on n1 (in one directory, where the kernel
#      serializes their creates, then each in a directory of its own), then
#      one writer on every node at once; then, in small passes of their
#      own under perf, the FUSE requests the kernel sent per file (create,
#      and tmp file + rename), from its fuse:fuse_request_send tracepoint;
#   6. (first size only) sync cost: the last node's pmxcfsd stopped, 10
#      changes made, restarted on a tree of 10,000 files of 1 KiB: bytes
#      corosync sent over its links and the time until it is writable;
#   7. the creates again with n1's pmxcfsd in local mode.
# Each figure is printed beside the CPG round trip of the same run (or the
# single writer's rate), as a ratio; with the CPU corosync and pmxcfsd used
# per create on all nodes together (one 2-core machine runs every node).
#
# Environment: BUILD (default build), CLUSTER_SIZES (default "3 5 8 16";
# 32 is measured when asked for), BENCH_PINGS (CPG messages per measure,
# default 1000), BENCH_REPL_WRITES (default 200), BENCH_CREATES (default
# 2000), BENCH_RENAMES (default 1000), BENCH_CHUNKED (16 KiB files, default
# 300), BENCH_SIZE (bytes per file, default 200), BENCH_FUSE_FILES (files
# per FUSE request count, default 200), BENCH_SYNC_FILES (tree size for the
# sync cost, default 10000; 0 skips it), PEER (another daemon's binary,
# run as `PEER -f` on the same nodes after ours with empty trees, through
# the same workloads: the reference pmxcfs built by
# ../shared/tools/reference-pmxcfs-build.sh; its figures are printed beside
# ours). Option: -d (--debug) keeps each size's
# temporary directory, with the nodes' logs under nodes/*/.

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
	CLUSTER_SIZES=${CLUSTER_SIZES:-"3 5 8 16"}
	BUILD=${BUILD:-build}
	case $BUILD in
	/*) build_dir=$BUILD ;;
	*) build_dir=$BENCH_ROOT/$BUILD ;;
	esac
	[ "$(id -u)" = 0 ] || bench_die "needs root (namespaces, FUSE mounts)"
	[ -x "$build_dir/pmxcfsd" ] || bench_die "$build_dir/pmxcfsd not built: run make first"
	if [ -n "${PEER:-}" ]; then
		[ -x "$PEER" ] || bench_die "PEER=$PEER is not an executable file"
		PEER=$(cd "$(dirname "$PEER")" && pwd)/$(basename "$PEER")
		export PEER
	fi
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
	sync_files=${BENCH_SYNC_FILES:-10000}
	for n in $CLUSTER_SIZES; do
		BENCH_CLUSTER_N=$n BUILD=$BUILD BENCH_SYNC_FILES=$sync_files \
			bash "$BENCH_SELF" "$@" &
		sync_files=0
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
RENAMES=${BENCH_RENAMES:-1000}
# files of CHUNKED_SIZE bytes written in CHUNK-byte write() calls, as a
# program writing through a stdio buffer does
CHUNKED=${BENCH_CHUNKED:-300}
CHUNKED_SIZE=16384
CHUNK=4096
SIZE=${BENCH_SIZE:-200}
# the sync cost is measured with the first size only, unless asked for
SYNC_FILES=${BENCH_SYNC_FILES:-0}
SYNC_CHANGES=${BENCH_SYNC_CHANGES:-10}
PEER=${PEER:-}
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

# cpu_ticks PROGRAM: the CPU time (utime + stime, in clock ticks) used so
# far by PROGRAM (corosync or pmxcfsd) on every node together
cpu_ticks () {
	local n pid total=0 t
	for n in $(node_list); do
		case $1 in
		corosync) pid=$(node_corosync_pid "$n") ;;
		*) pid=$(node_pmxcfsd_pid "$n") ;;
		esac || return 1
		t=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat") || return 1
		total=$((total + t))
	done
	say "$total"
}

# knet_tx_bytes: the bytes every node's corosync sent on its links so far
knet_tx_bytes () {
	local n total=0 b
	for n in $(node_list); do
		b=$(node_exec "$n" corosync-cmapctl -m stats 2>/dev/null |
			awk '/\.tx_data_bytes / { s += $NF } END { print s + 0 }') || return 1
		total=$((total + b))
	done
	say "$total"
}

# cpg_sent: the CPG requests every node's pmxcfsd made so far, from
# corosync's own statistics (service 2 is CPG): one per message it sent,
# and a handful for joins and membership queries
cpg_sent () {
	local n pid total=0 c
	for n in $(node_list); do
		pid=$(node_pmxcfsd_pid "$n") || return 1
		c=$(node_exec "$n" corosync-cmapctl -m stats 2>/dev/null |
			awk -v p="stats.ipcs.service2.$pid." \
				'index($1, p) == 1 && $1 ~ /\.requests$/ { s += $NF }
				END { print s + 0 }') || return 1
		total=$((total + c))
	done
	say "$total"
}

# per_file A B FILES: (B - A) / FILES, for the messages per file
per_file () {
	awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.2f", (n > 0 ? (b - a) / n : 0) }'
}

TICK_MS=$(awk -v h="$(getconf CLK_TCK)" 'BEGIN { print 1000 / h }')

# FUSE requests per file come from the kernel's own tracepoint
# (fuse:fuse_request_send, Linux 6.x), recorded by perf on every mount of
# the machine while one small pass of a workload runs on n1 alone: nothing
# else uses a mount then. Without perf or the tracepoint they are not
# counted, and the figures say why.
FUSE_FILES=${BENCH_FUSE_FILES:-200}
fuse_why=
if ! command -v perf >/dev/null; then
	fuse_why="perf is not installed (apt-get install linux-perf)"
elif ! perf list 'fuse:fuse_request_send' 2>/dev/null | grep -q fuse_request_send; then
	fuse_why="the kernel has no fuse:fuse_request_send tracepoint"
fi

# fuse_figure CREATE RENAME: the two counts of fuse_requests as one phrase;
# a rename pass makes its target files first, so a rename is what it adds
# to a create, kind by kind
fuse_figure () {
	if [ -n "$fuse_why" ]; then
		say "not counted: $fuse_why"
		return
	fi
	awk -v a="$1" -v b="$2" '
	function parse(str, arr, w, i, m) {
		m = split(str, w, " ")
		arr[""] = w[1]
		for (i = 2; i < m; i += 2) arr[w[i]] = w[i + 1]
	}
	# the kinds in the order a file meets them, any others after
	function show(arr, k, i, out, sep, seen) {
		out = sprintf("%.2f (", arr[""])
		for (i = 1; i <= norder; i++) {
			k = order[i]; seen[k] = 1
			if ((k in arr) && arr[k] + 0 != 0) {
				out = out sep sprintf("%s %.2f", k, arr[k]); sep = ", "
			}
		}
		for (k in arr) if (k != "" && !(k in seen) && arr[k] + 0 != 0) {
			out = out sep sprintf("%s %.2f", k, arr[k]); sep = ", "
		}
		return out ")"
	}
	BEGIN {
		norder = split("LOOKUP GETATTR CREATE OPEN WRITE FLUSH RELEASE RENAME", order, " ")
		if (a == "" || b == "") { print "not counted: perf recorded nothing"; exit }
		parse(a, c); parse(b, r)
		for (k in c) r[k] -= c[k]
		printf "create %s; tmp file + rename over %s", show(c), show(r)
	}'
}

# fuse_requests FILES CMD...: runs CMD in n1 under perf; prints the FUSE
# requests per file, in all and by kind ("7.00 LOOKUP 2.00 CREATE 1.00 ..."),
# or nothing when they cannot be counted
fuse_requests () {
	local files=$1 data=$TRASH/fuse.perf.data
	shift
	[ -z "$fuse_why" ] || return 0
	perf record -q -a -e fuse:fuse_request_send -o "$data" -- \
		nsenter -t "$(node_anchor n1)" -n -m -u -- "$@" >/dev/null 2>&1 || return 0
	perf script -i "$data" 2>/dev/null | awk -v n="$files" '
		{ for (i = 1; i < NF; i++) if ($i == "opcode") { k = $(i + 2); break }
		  gsub(/[()]/, "", k); sub(/^FUSE_/, "", k); c[k]++; t++ }
		END {
			if (!t) exit
			printf "%.2f", t / n
			for (k in c) printf " %s %.2f", k, c[k] / n
		}'
	rm -f "$data"
}

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
c0=$(cpu_ticks corosync) || error "reading CPU times failed"
ping=$(node_exec n1 "$BUILD/tests/cpgping" ping -g "$PING_GROUP" -n "$PINGS" -m "$N" \
	-w "$ping_wait") || error "cpgping ping failed"
c1=$(cpu_ticks corosync) || error "reading CPU times failed"
ping_cpu_ms=$(awk -v a="$c0" -v b="$c1" -v t="$TICK_MS" -v n="$PINGS" \
	'BEGIN { printf "%.3f", (b - a) * t / n }')
qping=$(node_exec n1 "$BUILD/tests/cpgping" ping -g "$PING_GROUP" -n "$PINGS" -m "$N" \
	-a "$QUORUM" -w "$ping_wait") || error "cpgping ping with echoes failed"
if [ ${#member_pids[@]} -gt 0 ]; then
	kill -TERM "${member_pids[@]}" 2>/dev/null
	wait "${member_pids[@]}" 2>/dev/null
fi

# corosync's CPU while nothing is written: the token still circulates
progress "corosync's CPU while idle (2 s)"
c0=$(cpu_ticks corosync) && p0=$(cpu_ticks pmxcfsd) || error "reading CPU times failed"
t0=$EPOCHREALTIME
sleep 2
c1=$(cpu_ticks corosync) && p1=$(cpu_ticks pmxcfsd) || error "reading CPU times failed"
idle_cs=$(awk -v a="$c0" -v b="$c1" -v t="$TICK_MS" -v s="$t0" -v e="$EPOCHREALTIME" \
	'BEGIN { printf "%.1f", (b - a) * t / (e - s) / 10 }')
idle_pm=$(awk -v a="$p0" -v b="$p1" -v t="$TICK_MS" -v s="$t0" -v e="$EPOCHREALTIME" \
	'BEGIN { printf "%.1f", (b - a) * t / (e - s) / 10 }')

# measure_workloads: sections 2 to 5 on the daemons running now; sets
# repl (replat's line), creates_cluster, cs_ms and pm_ms (CPU per create),
# renames_cluster, chunked_cluster, creates_j8, creates_j8d, creates_each,
# and the CPG
# messages all nodes sent per file in each: mpf_cc, mpf_rn, mpf_j8,
# mpf_j8d, mpf_each, mpf_ch
measure_workloads () {
	local c0 c1 p0 p1 m0 out per n r writers=()

	# ---- 2. replication latency, n1 to the last node
	progress "replication latency ($WRITES writes, n1 to $LAST)"
	repl=$("$BUILD/tests/replat" -n "$WRITES" -s "$SIZE" -w 30 \
		"$(node_path n1 "$PVE/bench-replat")" "$(node_path "$LAST" "$PVE/bench-replat")") ||
		error "replat failed"

	# ---- 3. creates on n1 in the cluster, with the CPU every daemon used
	progress "creates on n1 in the cluster ($CREATES files of $SIZE bytes)"
	m0=$(cpg_sent) || error "reading corosync's statistics failed"
	c0=$(cpu_ticks corosync) && p0=$(cpu_ticks pmxcfsd) || error "reading CPU times failed"
	# -k: the files stay, so that only the creates are counted
	out=$(node_exec n1 "$BUILD/tests/fsbench" -n "$CREATES" -s "$SIZE" -p create -k "$PVE") ||
		error "fsbench in the cluster failed"
	c1=$(cpu_ticks corosync) && p1=$(cpu_ticks pmxcfsd) || error "reading CPU times failed"
	mpf_cc=$(per_file "$m0" "$(cpg_sent)" "$CREATES")
	creates_cluster=$(field "$out" create)
	cs_ms=$(awk -v a="$c0" -v b="$c1" -v t="$TICK_MS" -v n="$CREATES" \
		'BEGIN { printf "%.3f", (b - a) * t / n }')
	pm_ms=$(awk -v a="$p0" -v b="$p1" -v t="$TICK_MS" -v n="$CREATES" \
		'BEGIN { printf "%.3f", (b - a) * t / n }')

	# ---- 4. the PVE pattern: a tmp file renamed over the old one
	progress "tmp file + rename over on n1 ($RENAMES files)"
	m0=$(cpg_sent) || error "reading corosync's statistics failed"
	out=$(node_exec n1 "$BUILD/tests/fsbench" -n "$RENAMES" -s "$SIZE" -p create,rename \
		-k "$PVE") || error "fsbench rename in the cluster failed"
	# the files it renames over were made first, as the creates above
	mpf_rn=$(awk -v t="$(per_file "$m0" "$(cpg_sent)" "$RENAMES")" -v c="$mpf_cc" \
		'BEGIN { printf "%.2f", t - c }')
	renames_cluster=$(field "$out" rename)

	# ---- 4b. a larger file in several write() calls
	progress "$CHUNKED files of $CHUNKED_SIZE bytes in write() calls of $CHUNK on n1"
	m0=$(cpg_sent) || error "reading corosync's statistics failed"
	out=$(node_exec n1 "$BUILD/tests/fsbench" -n "$CHUNKED" -s "$CHUNKED_SIZE" -w "$CHUNK" \
		-p create -k "$PVE") || error "fsbench -w in the cluster failed"
	mpf_ch=$(per_file "$m0" "$(cpg_sent)" "$CHUNKED")
	chunked_cluster=$(field "$out" create)

	# ---- 5. writers sharing rounds: 8 on n1, then one on every node
	progress "8 concurrent writers on n1"
	m0=$(cpg_sent) || error "reading corosync's statistics failed"
	out=$(node_exec n1 "$BUILD/tests/fsbench" -n "$CREATES" -s "$SIZE" -j 8 -p create \
		-k "$PVE") || error "fsbench -j 8 in the cluster failed"
	mpf_j8=$(per_file "$m0" "$(cpg_sent)" "$CREATES")
	creates_j8=$(field "$out" create)
	progress "8 concurrent writers on n1, each in a directory of its own"
	m0=$(cpg_sent) || error "reading corosync's statistics failed"
	out=$(node_exec n1 "$BUILD/tests/fsbench" -n "$CREATES" -s "$SIZE" -j 8 -D -p create \
		-k "$PVE") || error "fsbench -j 8 -D in the cluster failed"
	mpf_j8d=$(per_file "$m0" "$(cpg_sent)" "$CREATES")
	creates_j8d=$(field "$out" create)
	progress "one writer on each of the $N nodes"
	per=$(((CREATES + N - 1) / N))
	m0=$(cpg_sent) || error "reading corosync's statistics failed"
	for n in $(node_list); do
		node_exec "$n" "$BUILD/tests/fsbench" -n "$per" -s "$SIZE" -p create -k "$PVE" \
			>"$TRASH/each.$n" 2>&1 &
		writers+=($!)
	done
	# (a bare `wait` would wait for the daemons too)
	wait "${writers[@]}"
	mpf_each=$(per_file "$m0" "$(cpg_sent)" $((per * N)))
	creates_each=0
	for n in $(node_list); do
		r=$(field "$(cat "$TRASH/each.$n")" create)
		[ -n "$r" ] || error "the writer on $n failed: $(cat "$TRASH/each.$n")"
		creates_each=$(awk -v a="$creates_each" -v b="$r" 'BEGIN { print a + b }')
	done

	# ---- 5b. FUSE requests per file, in passes of their own (perf's
	# recording is not part of the rates above)
	progress "FUSE requests per file ($FUSE_FILES creates, then as many renames)"
	fr_cc=$(fuse_requests "$FUSE_FILES" "$BUILD/tests/fsbench" -n "$FUSE_FILES" -s "$SIZE" \
		-p create -k "$PVE")
	fr_rn=$(fuse_requests "$FUSE_FILES" "$BUILD/tests/fsbench" -n "$FUSE_FILES" -s "$SIZE" \
		-p create,rename -k "$PVE")
}

measure_workloads

# ---- 6. sync cost: the last node rejoins after missing a few changes
sync_line=
if [ "$SYNC_FILES" -gt 0 ]; then
	progress "sync: filling the tree with $SYNC_FILES files of 1 KiB"
	node_exec n1 "$BUILD/tests/fsbench" -n "$SYNC_FILES" -s 1024 -j 8 -p create -k \
		"$PVE" >/dev/null || error "filling the tree failed"
	wait_for "every node to have the filled tree" "$ready_timeout" \
		"probe_cluster filled-$$" || error "the filled tree did not reach every node"
	node_stop_pmxcfsd "$LAST" || error "stopping pmxcfsd on $LAST failed"
	for i in $(seq 1 "$SYNC_CHANGES"); do
		say "change $i" >"$(node_path n1 "$PVE/bench-missed-$i")" ||
			error "change $i on n1 failed"
	done
	# what the daemons log from here on names each transfer and its size
	for n in $(node_list); do
		wc -l <"$(node_log "$n")" >"$TRASH/loglines.$n" 2>/dev/null || echo 0 >"$TRASH/loglines.$n"
	done
	b0=$(knet_tx_bytes) || error "reading corosync's link statistics failed"
	t0=$EPOCHREALTIME
	node_start_pmxcfsd "$LAST" || error "pmxcfsd did not restart on $LAST"
	wait_for "$LAST to be writable again" "$ready_timeout" \
		"say x >\"\$(node_path $LAST \$PVE/bench-rejoined)\" 2>/dev/null" ||
		error "$LAST did not become writable"
	t1=$EPOCHREALTIME
	b1=$(knet_tx_bytes) || error "reading corosync's link statistics failed"
	# the transfers' own bytes, as the sending daemons logged them ("sending
	# the changes from version A to B (N bytes)" or "the whole tree")
	xfer=0 kinds=
	for n in $(node_list); do
		while read -r kind bytes; do
			xfer=$((xfer + bytes))
			kinds="$kinds $kind"
		done < <(tail -n +"$(($(cat "$TRASH/loglines.$n") + 1))" "$(node_log "$n")" |
			sed -n -e 's/.*sending the changes from .*(\([0-9]*\) bytes).*/changes \1/p' \
				-e 's/.*sending the whole tree (version [0-9]*, \([0-9]*\) bytes).*/whole \1/p')
	done
	sync_line=$(awk -v n="$N" -v f="$SYNC_FILES" -v c="$SYNC_CHANGES" -v b="$((b1 - b0))" \
		-v t0="$t0" -v t1="$t1" -v x="$xfer" -v k="${kinds# }" 'BEGIN {
		changed = c * 10
		printf "N=%d sync after missing %d changes (tree of %d files of 1 KiB):" \
			" %.0f KiB sent over the links, %.2f s until writable (the changes:" \
			" %d bytes, ratio %.0f); the transfer itself (%s): %d bytes, ratio %.1f\n",
			n, c, f, b / 1024, t1 - t0, changed, b / changed, (k == "" ? "none" : k), x,
			x / changed
	}')
fi

# ---- the same workloads on another daemon (PEER), on the same nodes
peer_line=
if [ -n "$PEER" ]; then
	ours_repl=$repl ours_cc=$creates_cluster ours_rn=$renames_cluster
	ours_j8=$creates_j8 ours_each=$creates_each ours_cs=$cs_ms ours_pm=$pm_ms
	ours_j8d=$creates_j8d ours_ch=$chunked_cluster ours_mpf_ch=$mpf_ch
	ours_mpf="$mpf_cc $mpf_rn $mpf_j8 $mpf_j8d $mpf_each"
	ours_fr_cc=$fr_cc ours_fr_rn=$fr_rn
	progress "stopping pmxcfsd everywhere; starting $PEER on empty trees"
	for n in $(node_list); do
		node_stop_pmxcfsd "$n" || error "stopping pmxcfsd on $n failed"
		rm -f "$(node_dir "$n")"/root/var/lib/pve-cluster/config.db*
	done
	for n in $(node_list); do
		PMXCFSD_BIN=$PEER node_start_pmxcfsd "$n" || error "$PEER did not start on $n"
	done
	wait_for "a write through n1 to be accepted and read on all $N nodes ($PEER)" \
		"$ready_timeout" "probe_cluster peer-$$" ||
		error "$PEER's /etc/pve did not become writable"
	# its CPU is counted as pmxcfsd's: same pid files
	measure_workloads
	for n in $(node_list); do
		# the other daemon may not stop on SIGTERM in time: then by force,
		# with its mount
		if ! node_stop_pmxcfsd "$n" 2>/dev/null; then
			say "# N=$N: $PEER on $n did not stop on SIGTERM; killed" >&2
			kill -KILL "$(node_pmxcfsd_pid "$n")" 2>/dev/null
			node_wait_pmxcfsd_exit "$n" 10 >/dev/null ||
				error "$PEER on $n did not exit after SIGKILL"
			node_exec "$n" umount -l "$PVE" 2>/dev/null
		fi
		rm -f "$(node_dir "$n")"/root/var/lib/pve-cluster/config.db*
	done
	peer_line=$(awk -v n="$N" -v peer="$(basename "$PEER")" \
		-v ol50="$(field "$ours_repl" lat_p50_ms)" -v pl50="$(field "$repl" lat_p50_ms)" \
		-v ol99="$(field "$ours_repl" lat_p99_ms)" -v pl99="$(field "$repl" lat_p99_ms)" \
		-v occ="$ours_cc" -v pcc="$creates_cluster" -v orn="$ours_rn" -v prn="$renames_cluster" \
		-v oj8="$ours_j8" -v pj8="$creates_j8" -v oea="$ours_each" -v pea="$creates_each" \
		-v oj8d="$ours_j8d" -v pj8d="$creates_j8d" -v omsg="$ours_mpf" \
		-v pmsg="$mpf_cc $mpf_rn $mpf_j8 $mpf_j8d $mpf_each" \
		-v och="$ours_ch" -v pch="$chunked_cluster" -v omch="$ours_mpf_ch" -v pmch="$mpf_ch" \
		-v csz="$CHUNKED_SIZE" -v ck="$CHUNK" \
		-v ocs="$ours_cs" -v pcs="$cs_ms" -v opm="$ours_pm" -v ppm="$pm_ms" \
		'function ratio(a, b) {
			return b > 0 ? sprintf("%.2f", a / b) : "-"
		}
		BEGIN {
			printf "N=%d %s: creates/s %.0f (ours %.0f, ratio %s); latency p50 %.2f ms" \
				" (ours %.2f, ratio %s), p99 %.2f ms (ours %.2f)\n",
				n, peer, pcc, occ, ratio(occ, pcc), pl50, ol50, ratio(ol50, pl50), pl99, ol99
			printf "N=%d %s: tmp file + rename/s %.0f (ours %.0f, ratio %s); 8 writers %.0f" \
				" (ours %.0f, ratio %s), in 8 directories %.0f (ours %.0f, ratio %s);" \
				" a writer per node %.0f in all (ours %.0f, ratio %s); CPU per create:" \
				" corosync %.3f ms (ours %.3f), the daemons %.3f ms (ours %.3f)\n",
				n, peer, prn, orn, ratio(orn, prn), pj8, oj8, ratio(oj8, pj8), pj8d, oj8d,
				ratio(oj8d, pj8d), pea, oea, ratio(oea, pea), pcs, ocs, ppm, opm
			split(omsg, om, " ")
			split(pmsg, pm, " ")
			printf "N=%d %s: CPG messages per file: create %s (ours %s), rename %s (ours %s)," \
				" 8 writers %s (ours %s), in 8 directories %s (ours %s), a writer per" \
				" node %s (ours %s)\n", n, peer, pm[1], om[1], pm[2], om[2], pm[3], om[3],
				pm[4], om[4], pm[5], om[5]
			printf "N=%d %s: files of %d bytes in write() calls of %d/s %.0f (ours %.0f," \
				" ratio %s), CPG messages per file %s (ours %s)\n", n, peer, csz, ck, pch,
				och, ratio(och, pch), pmch, omch
		}')
	peer_line="$peer_line
N=$N $(basename "$PEER"): FUSE requests per file on n1: $(fuse_figure "$fr_cc" "$fr_rn")"
	fr_cc=$ours_fr_cc fr_rn=$ours_fr_rn
	repl=$ours_repl creates_cluster=$ours_cc renames_cluster=$ours_rn
	creates_j8=$ours_j8 creates_each=$ours_each cs_ms=$ours_cs pm_ms=$ours_pm
	creates_j8d=$ours_j8d chunked_cluster=$ours_ch mpf_ch=$ours_mpf_ch
	read -r mpf_cc mpf_rn mpf_j8 mpf_j8d mpf_each <<<"$ours_mpf"
fi

# ---- 7. the same creates in local mode, on n1's own copy of the tree
progress "restarting pmxcfsd on n1 in local mode"
[ -n "$PEER" ] || node_stop_pmxcfsd n1 || error "stopping pmxcfsd on n1 failed"
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
	-v cc="$creates_cluster" -v cl="$creates_local" -v rn="$renames_cluster" \
	-v j8="$creates_j8" -v j8d="$creates_j8d" -v each="$creates_each" \
	-v msgs="$mpf_cc $mpf_rn $mpf_j8 $mpf_j8d $mpf_each" -v csms="$cs_ms" -v pmms="$pm_ms" \
	-v ch="$chunked_cluster" -v mch="$mpf_ch" -v csz="$CHUNKED_SIZE" -v ck="$CHUNK" \
	-v pingcpu="$ping_cpu_ms" -v idlecs="$idle_cs" -v idlepm="$idle_pm" \
	-v fuse="$(fuse_figure "$fr_cc" "$fr_rn")" \
	'function ratio(a, b) {
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
		printf "N=%d replication latency p99 %.2f ms (CPG round trip p99 %.2f ms, ratio %s;" \
			" p99/p50 %s)\n", n, l99, r99, ratio(l99, r99), ratio(l99, l50)
		printf "N=%d write() call p50 %.2f ms p99 %.2f ms (CPG quorum round trip p50 %.2f ms," \
			" ratio %s)\n", n, w50, w99, q50, ratio(w50, q50)
		printf "N=%d open(O_TRUNC)+write+close p50 %.2f ms (open %.2f, write %.2f, close %.2f;" \
			" CPG quorum round trip p50 %.2f ms, ratio %s)\n",
			n, a50, o50, w50, c50, q50, ratio(a50, q50)
		# parenthesised: a bare ">" among printf arguments redirects
		printf "N=%d creates/s cluster %.0f local %.0f ratio %.2f\n",
			n, cc, cl, (cl > 0 ? cc / cl : 0)
		printf "N=%d create cost %.2f ms = %s CPG round trips (p50 %.2f ms); CPU per create:" \
			" corosync %.3f ms = %s raw CPG messages (%.3f ms each), pmxcfsd %.3f ms" \
			" (all %d nodes together)\n",
			n, (cc > 0 ? 1000 / cc : 0), (cc > 0 ? ratio(1000 / cc, r50) : "-"), r50,
			csms, ratio(csms, pingcpu), pingcpu, pmms, n
		# What DESIGN.md'"'"'s acknowledgment rule leaves at best: a new file
		# waits for its create to be ordered (one round trip, its EEXIST)
		# and for its data to be ordered and confirmed by a quorum at the
		# close (one quorum round trip); nothing else in series.
		floor = r50 + q50
		printf "N=%d floor under the acknowledgment rule: a new file waits for one CPG round trip" \
			" (its create) and one CPG quorum round trip (its data, confirmed at the close)" \
			" = %.2f ms, %.0f creates/s at most; measured %.0f creates/s, ratio %.2f\n",
			n, floor, (floor > 0 ? 1000 / floor : 0), cc, (floor > 0 ? cc * floor / 1000 : 0)
		printf "N=%d idle: corosync %.1f%% of a CPU, pmxcfsd %.1f%% (all %d nodes together)\n",
			n, idlecs, idlepm, n
		printf "N=%d tmp file + rename over/s %.0f (creates/s %.0f, ratio %s)\n",
			n, rn, cc, ratio(rn, cc)
		printf "N=%d files of %d bytes in write() calls of %d/s %.0f (creates/s %.0f, ratio %s);" \
			" CPG messages per file %s\n", n, csz, ck, ch, cc, ratio(ch, cc), mch
		printf "N=%d 8 writers on n1: creates/s %.0f (one writer %.0f, ratio %s)\n",
			n, j8, cc, ratio(j8, cc)
		printf "N=%d 8 writers on n1, each in a directory of its own: creates/s %.0f" \
			" (one writer %.0f, ratio %s)\n", n, j8d, cc, ratio(j8d, cc)
		printf "N=%d one writer on each node: creates/s %.0f in all (one writer %.0f," \
			" ratio %s)\n", n, each, cc, ratio(each, cc)
		split(msgs, m, " ")
		printf "N=%d CPG messages per file (all nodes): create %s, rename %s, 8 writers %s," \
			" in 8 directories %s, a writer per node %s\n", n, m[1], m[2], m[3], m[4], m[5]
		printf "N=%d FUSE requests per file on n1: %s\n", n, fuse
	}' || error "the figures could not be printed"
[ -z "$sync_line" ] || say "$sync_line"
[ -z "$peer_line" ] || say "$peer_line"

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
