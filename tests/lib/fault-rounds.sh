# Rounds of faults on a cluster with writers on every node (t0630, t0631),
# sourced after test-lib.sh and fault-lib.sh. The script sets NODES (the
# node names) before it runs a round.
#
# A round is one line "KIND A B C DELAY": three distinct nodes and a hold
# time in seconds. t0630 draws its lines from a seed; FAULT_SCHEDULE (read
# by fault_schedule_read) gives them instead, so that a schedule that once
# found a fault can be replayed as it is.
#
#	fault_schedule_read 'cut1 n3 n1 n2 0.5; calm n1 n2 n3 20' || error ...
#	fault_round 1 ${schedule[0]}	# the fault, then the recovery
#
# Kinds: cut1, cut2, blip2, kill9-pmxcfsd, kill9-both, restart-pmxcfsd,
# cut2-kill9, kill9-two, kill9-rejoin (see describe_fault); and calm, which
# injects no fault: the writers run DELAY seconds with the cluster whole,
# so that an error in it (and past the grace of the previous fault) is
# unexplained. t0630 draws from a list of its own.
#
# FAULT_BALLAST (a directory under the mount, optional): during the hold
# of kill9-rejoin, node C writes every file in it anew, so that a node
# coming back has that much to catch up on and its sync lasts.

FAULT_ROUND_KINDS="cut1 cut2 blip2 kill9-pmxcfsd kill9-both restart-pmxcfsd cut2-kill9 kill9-two kill9-rejoin calm"

# fault_schedule_read 'LINE; LINE...': the rounds of the text (separated
# by ";" or newlines) into the array schedule; a line that is not a round
# is an error
fault_schedule_read () {
	local line kind a b c d rest
	schedule=()
	while read -r kind a b c d rest; do
		[ -z "$kind" ] && continue
		case " $FAULT_ROUND_KINDS " in
		*" $kind "*) ;;
		*)
			say "fault_schedule_read: unknown kind '$kind'" >&2
			return 1
			;;
		esac
		if [ -z "$d" ] || [ -n "$rest" ] || [ "$a" = "$b" ] || [ "$a" = "$c" ] || [ "$b" = "$c" ] ||
			! [[ $d =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
			say "fault_schedule_read: not 'KIND A B C DELAY' with three distinct nodes: $kind $a $b $c $d $rest" >&2
			return 1
		fi
		for line in "$a" "$b" "$c"; do
			case " $NODES " in
			*" $line "*) ;;
			*)
				say "fault_schedule_read: no node $line among $NODES" >&2
				return 1
				;;
			esac
		done
		schedule+=("$kind $a $b $c $d")
	done < <(tr ';' '\n' <<<"$1")
	[ ${#schedule[@]} -gt 0 ] || {
		say "fault_schedule_read: no round in '$1'" >&2
		return 1
	}
}

# describe_fault KIND A B C DELAY: the round in words
describe_fault () {
	case $1 in
	cut1) say "$2 cut off until read-only, held ${5}s, healed" ;;
	cut2) say "$2 and $3 cut off at once until read-only, held ${5}s, healed" ;;
	blip2) say "$2 and $3 cut off at once for ${5}s, healed" ;;
	kill9-pmxcfsd) say "pmxcfsd on $2 killed with SIGKILL, restarted after ${5}s" ;;
	kill9-both) say "corosync and pmxcfsd on $2 killed with SIGKILL together, restarted after ${5}s" ;;
	restart-pmxcfsd) say "pmxcfsd on $2 stopped with SIGTERM, restarted after ${5}s" ;;
	cut2-kill9) say "$2 and $3 cut off; pmxcfsd on $2 and on $4 (of the majority) killed with SIGKILL, restarted after ${5}s; healed" ;;
	kill9-two) say "pmxcfsd on $2 and $3 killed with SIGKILL together, restarted after ${5}s" ;;
	kill9-rejoin) say "pmxcfsd on $2 and $3 killed with SIGKILL together; after ${5}s $3 restarted, and $2 as soon as $3 joined the group, while it catches up" ;;
	calm) say "no fault for ${5}s" ;;
	esac
}

# the nodes not named
others () {
	local n
	for n in $NODES; do
		case " $* " in *" $n "*) ;; *) say "$n" ;; esac
	done
}

# cluster_recovered: every daemon runs and every node's writer has
# acknowledged new writes (each node is in a group with a quorum of
# synced replicas again: with a majority of the nodes, there is one such
# group)
cluster_recovered () {
	daemons_running $NODES &&
	fault_wait_writes $NODES
}

# cut_off NODE...: cut the nodes off at once until they refuse writes and
# the others wrote without them
cut_off () {
	local n
	for n in "$@"; do
		node_partition "$n" || return 1
	done
	cluster_wait_pve_readonly "$@" &&
	cluster_wait_pve_writable $(others "$@") &&
	fault_wait_writes $(others "$@")
}

# heal NODE...: reconnects the nodes and waits until corosync merged them
# with the others: until then corosync itself keeps them apart, and their
# refusals are the fault's, not pmxcfsd's
heal () {
	local n want=0
	for n in "$@"; do
		node_heal "$n" || return 1
	done
	for n in $NODES; do
		node_corosync_running "$n" && [ ! -e "$TRASH/nodes/$n/partitioned" ] &&
			want=$((want + 1))
	done
	for n in "$@"; do
		cluster_wait_merged "$n" "$want" || return 1
	done
}

# rewrite_ballast NODE: NODE writes every file of $FAULT_BALLAST anew
rewrite_ballast () {
	[ -n "${FAULT_BALLAST:-}" ] || return 0
	local f dir
	dir=$(node_path "$1" "$FAULT_BALLAST")
	for f in "$dir"/*; do
		head -c "$(stat -c %s "$f")" /dev/urandom >"$f" || return 1
	done
}

# start_until_joined NODE: starts pmxcfsd on NODE and returns once it has
# joined its group, before it caught up
start_until_joined () {
	local log from
	log=$(node_log "$1") &&
	from=$(($(wc -l <"$log") + 1))
	node_start_pmxcfsd "$1" &&
	wait_for "pmxcfsd on $1 to join its group" 10 \
		"tail -n +$from '$log' | grep -q 'group membership changed'"
}

# fault_round R KIND A B C DELAY: one round of the schedule, then the
# recovery; a round that failed leaves the next ones out
fault_round () {
	local r=$1 kind=$2 a=$3 b=$4 c=$5 d=$6 desc
	desc="$kind $a $b $c $d"
	if [ -e "$FAULT_LOG/round-failed" ]; then
		say "an earlier round failed"
		return 1
	fi
	say "round $r: $(describe_fault "$kind" "$a" "$b" "$c" "$d")"
	round_begin
	fault_begin
	case $kind in
	cut1)
		cut_off "$a" && sleep "$d" && heal "$a"
		;;
	cut2)
		cut_off "$a" "$b" && sleep "$d" && heal "$a" "$b"
		;;
	blip2)
		node_partition "$a" && node_partition "$b" && sleep "$d" && heal "$a" "$b"
		;;
	kill9-pmxcfsd)
		node_kill9_pmxcfsd "$a" && sleep "$d" && node_start_pmxcfsd "$a"
		;;
	kill9-both)
		fault_kill9_both "$a" && sleep "$d" &&
		node_start_corosync "$a" && node_start_pmxcfsd "$a"
		;;
	restart-pmxcfsd)
		node_stop_pmxcfsd "$a" && sleep "$d" && node_start_pmxcfsd "$a"
		;;
	cut2-kill9)
		# the majority keeps corosync's quorum but only two replicas:
		# read-only until the third one is back
		cut_off "$a" "$b" &&
		node_kill9_pmxcfsd "$a" && node_kill9_pmxcfsd "$c" &&
		cluster_wait_pve_readonly $(others "$a" "$b" "$c") &&
		sleep "$d" &&
		node_start_pmxcfsd "$a" && node_start_pmxcfsd "$c" &&
		cluster_wait_pve_writable $(others "$a" "$b") &&
		heal "$a" "$b"
		;;
	kill9-two)
		fault_kill9_pmxcfsd "$a" "$b" && sleep "$d" &&
		node_start_pmxcfsd "$a" && node_start_pmxcfsd "$b"
		;;
	kill9-rejoin)
		fault_kill9_pmxcfsd "$a" "$b" &&
		rewrite_ballast "$c" && sleep "$d" &&
		start_until_joined "$b" && node_start_pmxcfsd "$a"
		;;
	calm)
		sleep "$d"
		;;
	*)
		say "unknown fault $kind"
		false
		;;
	esac
	local rc=$?
	# a calm round is no fault: nothing in it is explained
	[ "$kind" = calm ] || fault_end "$r" "$desc"
	say "round $r: the fault took $((($(now_us) - round_t0) / 1000)) ms"
	if [ $rc != 0 ]; then
		say "round $r: the fault itself failed"
		: >"$FAULT_LOG/round-failed"
		return 1
	fi
	cluster_recovered || {
		: >"$FAULT_LOG/round-failed"
		return 1
	}
	round_end "$r" "$desc"
	say "round $r: recovered after $((($(now_us) - round_t0) / 1000)) ms"
}
