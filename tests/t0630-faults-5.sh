#!/bin/bash
test_description='five nodes, writers on every node during a seeded schedule of faults

Five nodes with real corosync and pmxcfsd. On every node a writer
(tests/tools/fswriter) runs during the whole schedule with three kinds of
writes: unique creates with content (open O_CREAT|O_EXCL, write, close),
replacements of shared keys by a temporary file and rename, and in-place
pwrites of the shared keys; it keeps a ledger outside /etc/pve with each
write'"'"'s start, end, result (errno name) and content hash. A schedule drawn
from a seed cuts one or two nodes off at once, kills pmxcfsd, or corosync
and pmxcfsd together, with SIGKILL, restarts them (one of two killed
together while the other still catches up), and heals; after each
round the cluster must recover and every writer write again.

After the last heal the judge (tests/lib/fault-judge.py) holds the trees
of all five nodes against the ledgers: every acknowledged write is on every
node with its content; nothing a refused call (any error but EIO, the
answer for "outcome unknown", or ECONNABORTED from a daemon that died with
the call in flight) would have written shows up anywhere; every shared
key holds a value written by an op that succeeded or whose outcome is
unknown, and none older than an acknowledged write of it; no error came
without a fault in the 10 s before it; the trees are identical. Then it
shows it is not vacuous: writes were acknowledged in every round, and each
kind of violation planted in a copy of the final state is caught.

FAULT_SEED=N repeats a run (the seed is printed as a TAP comment);
FAULT_ROUNDS (default 9: every kind of fault once) sets the number of
rounds; FAULT_SCHEDULE='"'"'KIND A B C DELAY; ...'"'"' runs these rounds
instead of drawn ones (a run prints its own as "# schedule:"; the kinds
are in tests/lib/fault-rounds.sh); FAULT_KEYS (default 8) the number of
shared keys; FAULT_WRITER_PAUSE_MS (default 50) the writers'"'"' pause between writes.'

. "$(dirname "$0")/lib/test-lib.sh"
. "$TEST_LIB_DIR/fault-lib.sh"
. "$TEST_LIB_DIR/fault-rounds.sh"
test_require_root
test_require_corosync
test_require_program tests/fswriter
command -v python3 >/dev/null || skip_all "needs python3 (tests/install-deps.sh installs it)"
PATH=$BUILD/tests:$PATH

NODES="n1 n2 n3 n4 n5"
DIR=$PVE/faults

FAULT_SEED=${FAULT_SEED:-$((($$ ^ $(date +%s)) % 1000000))}
FAULT_ROUNDS=${FAULT_ROUNDS:-9}
FAULT_KEYS=${FAULT_KEYS:-8}
say "# FAULT_SEED=$FAULT_SEED (FAULT_SEED=$FAULT_SEED repeats this schedule)"

# ---------------------------------------------------------------- schedule
#
# One line per round: KIND A B C DELAY (three distinct nodes, a hold time
# in seconds). The first rounds are a shuffle of every kind, the rest are
# drawn at random; all drawn here, up front, so that the schedule follows
# from the seed alone.
FAULT_KINDS=(cut1 cut2 blip2 kill9-pmxcfsd kill9-both restart-pmxcfsd cut2-kill9 kill9-two
	kill9-rejoin)
RANDOM=$FAULT_SEED

# random_delay VAR MAX_CENTISECONDS: VAR gets a delay such as 0.37 (set
# through printf -v: a $(...) would draw in a subshell)
random_delay () {
	local c=$((RANDOM % ($2 + 1)))
	printf -v "$1" '%d.%02d' $((c / 100)) $((c % 100))
}

schedule=()
kinds=("${FAULT_KINDS[@]}")
for ((i = ${#kinds[@]} - 1; i > 0; i--)); do
	j=$((RANDOM % (i + 1)))
	k=${kinds[i]} kinds[i]=${kinds[j]} kinds[j]=$k
done
for r in $(seq 1 "$FAULT_ROUNDS"); do
	if [ "$r" -le ${#kinds[@]} ]; then
		kind=${kinds[r - 1]}
	else
		kind=${FAULT_KINDS[RANDOM % ${#FAULT_KINDS[@]}]}
	fi
	a=$((RANDOM % 5 + 1))
	b=$(((a + RANDOM % 4) % 5 + 1))
	c=$a
	while [ "$c" = "$a" ] || [ "$c" = "$b" ]; do
		c=$((RANDOM % 5 + 1))
	done
	case $kind in
	blip2) random_delay d 400 ;;
	*) random_delay d 300 ;;
	esac
	schedule+=("$kind n$a n$b n$c $d")
done
if [ -n "${FAULT_SCHEDULE:-}" ]; then
	fault_schedule_read "$FAULT_SCHEDULE" || error "FAULT_SCHEDULE: not a schedule"
	FAULT_ROUNDS=${#schedule[@]}
fi

for r in $(seq 1 "$FAULT_ROUNDS"); do
	say "# round $r: $(describe_fault ${schedule[r - 1]})"
done
say "# schedule: $(IFS=';'; say "${schedule[*]}" | sed 's/;/; /g')"

# ---------------------------------------------------------------- the run

cluster_create 5
cluster_start_corosync
: >"$TRASH/faults"
: >"$TRASH/rounds"

test_expect_success 'five nodes form a writable cluster and every node starts a writer' '
	cluster_start_pmxcfsd $NODES &&
	cluster_wait_pve_writable $NODES &&
	fault_writers_start $DIR $FAULT_KEYS $FAULT_SEED $NODES &&
	fault_wait_writes $NODES
'

for r in $(seq 1 "$FAULT_ROUNDS"); do
	set -- ${schedule[r - 1]}
	test_expect_success "fault round $r ($1 on $2): the cluster recovers and every node writes again" "
		fault_round $r ${schedule[r - 1]}
	"
done

test_expect_success 'after the last heal the writers stop, all daemons run and the trees converge' '
	fault_heal_all $NODES &&
	fault_writers_stop $NODES &&
	daemons_running $NODES &&
	for n in $NODES; do
		cluster_wait_merged $n 5 || return 1
	done &&
	cluster_wait_pve_writable $NODES &&
	cluster_wait_trees_equal $NODES
'

test_expect_success 'the judge: no write lost, phantom or stale, no divergence, no unexplained error' '
	fault_dump_states $DIR $NODES &&
	fault_judge $FAULT_KEYS "$TRASH" $NODES >judge.out
	rc=$?
	cat judge.out
	cp judge.out "$TRASH/judge.final" &&
	grep -q "^judge: " judge.out &&
	test $rc = 0
'

test_expect_success 'the trees of the five nodes are identical' '
	d1=$(node_tree_digest n1) && test -n "$d1" &&
	for n in $NODES; do
		test "$(node_tree_digest $n)" = "$d1" || {
			say "the tree of $n differs from that of n1"
			return 1
		}
	done
'

test_expect_success 'the judge is not vacuous: each kind of planted violation is caught' '
	fault_judge_selftest $FAULT_KEYS $NODES
'

# A node cut off right after sending applied its own change, which the
# others never got: the changes they send it after the heal do not fit, and
# it takes the whole tree. Expected, but counted.
say "# incremental syncs that fell back to the whole tree: $(cat "$TRASH"/nodes/*/pmxcfsd.log | grep -c 'do not fit this node.s tree')"

test_expect_success 'no replica logged a diverged tree or a failed takeover' '
	! grep -H "checksum mismatch\|diverged\|taking over the tree of node .* failed" \
		"$TRASH"/nodes/*/pmxcfsd.log
'

say "# $(grep -h '^judge: ' "$TRASH/judge.final" 2>/dev/null || say 'judge: did not run')"
say "# FAULT_SEED=$FAULT_SEED"

test_done
