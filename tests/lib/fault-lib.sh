# Helpers of the fault tests (t0620, t0630), sourced by the test script
# after test-lib.sh:
#
#	. "$TEST_LIB_DIR/fault-lib.sh"
#	fault_writers_start DIR KEYS SEED n1 n2 ...	# fswriter on each node
#	fault_begin; ...faults...; fault_end 'what'	# a fault interval
#	fault_writers_stop
#	fault_dump_states DIR n1 n2 ...			# the final trees
#	fault_judge KEYS n1 n2 ...			# the judge's verdict
#
# The writers' ledgers (ledger-NODE), the fault log (faults: "F ROUND
# START_US END_US what") and the rounds (rounds: "R ROUND START_US END_US
# what") are kept in $FAULT_LOG (default $TRASH), outside /etc/pve, for the
# judge (fault-judge.py) to hold the final trees against. A script that
# judges several runs of writers on one cluster gives each its own
# FAULT_LOG.

FAULT_JUDGE=$TEST_LIB_DIR/fault-judge.py
FAULT_LOG=${FAULT_LOG:-$TRASH}
# seconds before an error in which a fault must have happened for the
# error to be explained
FAULT_GRACE=${FAULT_GRACE:-10}

# daemons_running [NODE...]: pmxcfsd and corosync run on every node
# (default: $NODES); a daemon that exited by itself shows its status
daemons_running () {
	local n dir ok=0
	for n in ${*:-$NODES}; do
		dir=$TRASH/nodes/$n
		if [ -e "$dir/pmxcfsd.status" ] || ! pid_alive "$(node_pmxcfsd_pid "$n")"; then
			say "pmxcfsd on $n is not running (exit status: $(cat "$dir/pmxcfsd.status" 2>/dev/null || say unknown))"
			ok=1
		fi
		if [ -e "$dir/corosync.status" ] || ! node_corosync_running "$n"; then
			say "corosync on $n is not running (exit status: $(cat "$dir/corosync.status" 2>/dev/null || say unknown))"
			ok=1
		fi
	done
	return $ok
}

# ---------------------------------------------------------------- writers

# fault_writers_start DIR KEYS SEED NODE...: DIR (below /etc/pve) gets
# c/, t/, k/ and KEYS shared keys, then every node runs fswriter on it in
# the background, its ledger in $FAULT_LOG/ledger-NODE. Bounded by itself
# (FAULT_WRITER_SECONDS, default an hour) and stopped by
# fault_writers_stop.
fault_writers_start () {
	local dir=$1 keys=$2 seed=$3 n
	shift 3
	rm -f "$FAULT_LOG/stop-writers"
	node_exec "$1" mkdir "$dir" "$dir/c" "$dir/t" "$dir/k" &&
	node_exec "$1" fswriter --init --dir "$dir" --ledger "$FAULT_LOG/ledger-init" --keys "$keys" ||
		return 1
	# A close is confirmed by a quorum, not by every node: one still
	# applying what came before (a test's ballast) would answer its
	# writer's first open of a key with ENOENT, with no fault to explain
	# it. The last key there means every one is (total order).
	for n in "$@"; do
		wait_for "the shared keys to reach $n" "$(cluster_default_timeout)" \
			"test -e \"$(node_path "$n" "$dir/k/k$((keys - 1))")\"" || return 1
	done
	for n in "$@"; do
		: >"$FAULT_LOG/ledger-$n" || return 1
		node_exec "$n" fswriter --node "$n" --dir "$dir" --ledger "$FAULT_LOG/ledger-$n" \
			--seed "$seed" --keys "$keys" --stop "$FAULT_LOG/stop-writers" \
			--duration "${FAULT_WRITER_SECONDS:-3600}" --pause-ms "${FAULT_WRITER_PAUSE_MS:-50}" \
			>"$FAULT_LOG/writer-$n.log" 2>&1 &
		say $! >"$FAULT_LOG/writer-$n.pid"
	done
}

# fault_acked NODE: how many writes the node's writer had acknowledged
fault_acked () {
	grep -c '^E .* ok - ' "$FAULT_LOG/ledger-$1"
}

# fault_wait_writes NODE...: until each node's writer acknowledged two
# writes more than at the call (one may have been in flight), within
# FAULT_RECOVERY_TIMEOUT seconds (default: a write's own time limit, for
# one in flight, plus two membership changes)
fault_wait_writes () {
	local n want=
	for n in "$@"; do
		want="$want && test \$(fault_acked $n) -ge $(($(fault_acked "$n") + 2))"
	done
	wait_for "the writers on $* to acknowledge new writes" \
		"${FAULT_RECOVERY_TIMEOUT:-$((REPLICA_WRITE_TIMEOUT_S + 2 * $(cluster_default_timeout)))}" \
		"true $want" || {
		for n in "$@"; do
			say "writer on $n, the last lines of its ledger:"
			tail -n 2 "$FAULT_LOG/ledger-$n"
		done
		return 1
	}
}

# fault_writers_stop NODE...: the writers finish their current write and
# exit; a writer stuck in a call longer than a write may wait fails this
fault_writers_stop () {
	local n pid
	: >"$FAULT_LOG/stop-writers"
	for n in "$@"; do
		pid=$(cat "$FAULT_LOG/writer-$n.pid") || return 1
		wait_for "the writer on $n to stop" $((REPLICA_WRITE_TIMEOUT_S + 10)) \
			"! pid_alive $pid" || {
			say "the writer on $n hangs in: $(tail -n 1 "$FAULT_LOG/ledger-$n")"
			return 1
		}
		wait "$pid" || {
			say "the writer on $n failed: $(cat "$FAULT_LOG/writer-$n.log")"
			return 1
		}
	done
}

# how long a write may wait for its confirmations (REPLICA_WRITE_TIMEOUT_S
# in include/replica.h)
REPLICA_WRITE_TIMEOUT_S=${REPLICA_WRITE_TIMEOUT_S:-30}

# ------------------------------------------------------- faults and rounds

# fault_begin / fault_end ROUND 'what': the time from fault_begin to
# fault_end (the last heal or restart) is a fault interval: errors in it,
# or up to FAULT_GRACE seconds after it, are explained
fault_begin () {
	fault_t0=$(now_us)
}

fault_end () {
	say "F $1 $fault_t0 $(now_us) $2" >>"$FAULT_LOG/faults"
}

# round_begin / round_end ROUND 'what': a round, from its first fault to
# the cluster's recovery (the judge wants writes acknowledged in each)
round_begin () {
	round_t0=$(now_us)
}

round_end () {
	say "R $1 $round_t0 $(now_us) $2" >>"$FAULT_LOG/rounds"
}

# fault_kill9_pmxcfsd NODE...: SIGKILL to pmxcfsd on all the nodes at
# once, then wait for each to exit and drop its dead mount
fault_kill9_pmxcfsd () {
	local n pids=
	for n in "$@"; do
		pids="$pids $(node_pmxcfsd_pid "$n")" || return 1
	done
	kill -KILL $pids || return 1
	fault_reap_pmxcfsd "$@"
}

# fault_reap_pmxcfsd NODE...: after a SIGKILL: the exit, the mount
fault_reap_pmxcfsd () {
	local n status
	for n in "$@"; do
		status=$(node_wait_pmxcfsd_exit "$n" 10) && [ "$status" = 137 ] || {
			say "pmxcfsd on $n did not die of SIGKILL (status ${status:-unknown})"
			return 1
		}
		if node_mounted "$n"; then
			node_exec "$n" umount -l "$PVE" || return 1
		fi
	done
}

# fault_kill9_both NODE: SIGKILL to corosync and pmxcfsd of the node at
# once, then wait for both to exit and drop the dead mount
fault_kill9_both () {
	local name=$1 cpid ppid status
	cpid=$(node_corosync_pid "$name") && ppid=$(node_pmxcfsd_pid "$name") || return 1
	node_corosync_mark "$name" "fault_kill9_both: SIGKILL to corosync $cpid and pmxcfsd $ppid"
	kill -KILL "$cpid" "$ppid" || return 1
	status=$(node_wait_corosync_exit "$name" 10) && [ "$status" = 137 ] || {
		say "corosync on $name did not die of SIGKILL (status ${status:-unknown})"
		return 1
	}
	fault_reap_pmxcfsd "$name"
}

# fault_heal_all NODE...: whatever a failed round left behind: every link
# up, every daemon that is not running started
fault_heal_all () {
	local n
	for n in "$@"; do
		[ -e "$TRASH/nodes/$n/partitioned" ] && node_heal "$n"
		if [ -e "$TRASH/nodes/$n/corosync.status" ] || ! node_corosync_running "$n"; then
			rm -f "$TRASH/nodes/$n/corosync.pid" "$TRASH/nodes/$n/corosync.status"
			node_start_corosync "$n" || return 1
		fi
		if [ -e "$TRASH/nodes/$n/pmxcfsd.status" ] || ! pid_alive "$(node_pmxcfsd_pid "$n")"; then
			rm -f "$TRASH/nodes/$n/pmxcfsd.pid" "$TRASH/nodes/$n/pmxcfsd.status"
			node_mounted "$n" && node_exec "$n" umount -l "$PVE"
			node_start_pmxcfsd "$n" || return 1
		fi
	done
}

# --------------------------------------------------------------- the judge

# fault_dump_states DIR NODE...: each node's tree below DIR into
# $FAULT_LOG/state-NODE (see fault-judge.py dump)
fault_dump_states () {
	local dir=$1 n
	shift
	for n in "$@"; do
		node_exec "$n" python3 "$FAULT_JUDGE" dump "$dir" >"$FAULT_LOG/state-$n" || {
			say "cannot read $dir on $n"
			return 1
		}
	done
}

# fault_judge KEYS LEDGERDIR NODE...: the judge over the ledgers, fault log
# and rounds in LEDGERDIR and the states of the nodes there; prints its
# findings and the summary line "judge: lost N phantom N ..."
fault_judge () {
	local keys=$1 d=$2 n args=()
	shift 2
	for n in "$d"/ledger-*; do
		args+=(--ledger "$n")
	done
	for n in "$@"; do
		args+=("$n=$d/state-$n")
	done
	python3 "$FAULT_JUDGE" judge --faults "$d/faults" --rounds "$d/rounds" --keys "$keys" \
		--grace "$FAULT_GRACE" "${args[@]}"
}

# fault_judge_count CATEGORY FILE: the count of CATEGORY in the judge's
# summary line in FILE
fault_judge_count () {
	sed -n "s/^judge: .*\\<$1 \\([0-9]*\\).*/\\1/p" "$2"
}

# fault_judge_selftest KEYS NODE...: plants each kind of violation in a
# copy of the run's final state and ledgers, and checks that the judge
# finds it (and that the unaltered copy gives the counts it gave before)
fault_judge_selftest () {
	local keys=$1 src=$TRASH nodes first last kind cnt base rc=0 line ok_create ok_key
	shift
	nodes="$*" first=$1
	last=${*: -1}
	fault_judge "$keys" "$src" $nodes >"$TRASH/selftest-base.out"
	# an acknowledged create, and an acknowledged write of a shared key
	ok_create=$(awk '$1 == "E" && $4 == "create" && $8 == "ok" { print $2 "-" $3 " " $11; exit }' "$src"/ledger-n*)
	ok_key=$(awk '$1 == "E" && $4 == "pwrite" && $8 == "ok" { print; exit }' "$src"/ledger-n*)
	[ -n "$ok_create" ] && [ -n "$ok_key" ] || {
		say "self-test: the ledgers hold no acknowledged create or pwrite"
		return 1
	}
	set -- $ok_create
	local cname=$1 chash=$2
	for kind in lost-delete lost-content lost-fake phantom-refused phantom-file stale unexplained divergent; do
		base=$TRASH/selftest-$kind
		rm -rf "$base" && mkdir "$base" || return 1
		cp "$src"/ledger-* "$src/faults" "$src/rounds" "$base/" || return 1
		for n in $nodes; do
			cp "$src/state-$n" "$base/state-$n" || return 1
		done
		case $kind in
		lost-delete)
			# an acknowledged create gone from one node
			sed -i "\\#^c/$cname #d" "$base/state-$last"
			want=lost
			;;
		lost-content)
			# its content altered everywhere (the name survived)
			for n in $nodes; do
				sed -i "s#^\\(c/$cname f [0-9]*\\) $chash\$#\\1 0000000000000000#" "$base/state-$n"
			done
			want=lost
			;;
		lost-fake)
			# a write the ledger says was acknowledged, which no node has
			line=$(tail -n 1 "$base/ledger-$first")
			set -- $line
			say "E $first 99999999 create - $6 $6 ok - 100 0123456789abcdef" >>"$base/ledger-$first"
			want=lost
			;;
		phantom-refused)
			# an acknowledged create turned into one refused at open:
			# its file must then be nowhere
			for f in "$base"/ledger-n*; do
				awk -v n="${cname%-*}" -v s="${cname##*-}" '
					$1 == "E" && $2 == n && $3 == s { $8 = "EACCES"; $9 = "open" } { print }
				' "$f" >"$f.new" && mv "$f.new" "$f"
			done
			want=phantom
			;;
		phantom-file)
			# a file no operation wrote
			for n in $nodes; do
				say "c/nobody-1 f 4 0123456789abcdef" >>"$base/state-$n"
			done
			want=phantom
			;;
		stale)
			# an acknowledged pwrite of every key that started after
			# everything else ended: the final values are older
			line=$(awk '$1 == "E" { if ($7 > m) m = $7 } END { printf "%.0f\n", m + 1000 }' "$base"/ledger-*)
			for k in $(seq 0 $((keys - 1))); do
				say "E $first $((99999000 + k)) pwrite k$k $line $((line + 1)) ok - 64 $(printf '%016x' $k)" \
					>>"$base/ledger-$first"
			done
			want=stale
			;;
		unexplained)
			# an error 1 ms after the shared keys were made, before
			# any fault
			line=$(awk '$1 == "E" { printf "%.0f\n", $7 + 1000; exit }' "$base/ledger-init")
			say "E $first 99999999 create - $line $((line + 10)) EACCES open 100 0123456789abcdef" >>"$base/ledger-$first"
			want=unexplained
			;;
		divergent)
			# one node holds another value of a key
			sed -i 's#^\(k/k0 f 64\) .*#\1 0123456789abcdef#' "$base/state-$last"
			want=divergent
			;;
		esac
		fault_judge "$keys" "$base" $nodes >"$base/judge.out"
		cnt=$(fault_judge_count "$want" "$base/judge.out")
		if [ -n "$cnt" ] && [ "$cnt" -gt "$(fault_judge_count "$want" "$TRASH/selftest-base.out")" ]; then
			say "self-test $kind: caught ($want $cnt): $(grep -vxF -f "$TRASH/selftest-base.out" "$base/judge.out" | grep -m1 "^${want^^}")"
		else
			say "self-test $kind: NOT caught, $want ${cnt:-?}:"
			tail -n 5 "$base/judge.out"
			rc=1
		fi
	done
	return $rc
}
