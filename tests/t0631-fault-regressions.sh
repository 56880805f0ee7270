#!/bin/bash
test_description='the shortest fault schedules that once broke a promise of the replication engine

Five nodes with real corosync and pmxcfsd and the writers and judge of
t0630 (tests/tools/fswriter, tests/lib/fault-judge.py). Each test replays,
on one cluster, the shortest schedule of t0630'"'"'s rounds
(tests/lib/fault-rounds.sh) that made an earlier engine break one promise,
with writers on every node in a directory of their own, and has the judge
hold that directory on every node against their ledgers:

  a write of a shared key failing with ENOENT, with no fault near, while
  other nodes keep replacing the key by a temporary file and a rename;
  a refused write applied: a write answered EACCES whose content, or a
  create refused at open whose file, shows up after the heal.

  an acknowledged write lost: a file created and written with success,
  found empty after the heal, when a node comes back while another one
  is still catching up.

Each schedule failed the judge in most runs of the engine it was found
on.
On failure each test'"'"'s ledgers, fault log and final states are kept in
the temporary directory, under the test'"'"'s name.'

. "$(dirname "$0")/lib/test-lib.sh"
. "$TEST_LIB_DIR/fault-lib.sh"
. "$TEST_LIB_DIR/fault-rounds.sh"
test_require_root
test_require_corosync
test_require_program tests/fswriter
command -v python3 >/dev/null || skip_all "needs python3 (tests/install-deps.sh installs it)"
PATH=$BUILD/tests:$PATH

NODES="n1 n2 n3 n4 n5"
# the seed of the writers (what they write, and when): fixed, so that a
# failure is replayed as closely as timing allows
SEED=631

# replay NAME KEYS PAUSE_MS 'SCHEDULE': writers in $PVE/NAME on every node
# (KEYS shared keys, PAUSE_MS between writes), the rounds of SCHEDULE, the
# heal, then the judge over $TRASH/NAME. The fault log starts with the
# faults of the replays before: an error they caused is explained.
replay () {
	local name=$1 keys=$2 pause=$3 r prev=$FAULT_LOG rc
	FAULT_LOG=$TRASH/$name
	mkdir -p "$FAULT_LOG" &&
	cat "$prev/faults" >"$FAULT_LOG/faults" 2>/dev/null
	: >>"$FAULT_LOG/faults" && : >"$FAULT_LOG/rounds" || return 1
	fault_schedule_read "$4" || return 1
	say "schedule: $4"
	FAULT_WRITER_PAUSE_MS=$pause fault_writers_start "$PVE/$name" "$keys" "$SEED" $NODES &&
	fault_wait_writes $NODES || return 1
	for r in $(seq 1 ${#schedule[@]}); do
		fault_round "$r" ${schedule[r - 1]} || break
	done
	fault_heal_all $NODES &&
	fault_writers_stop $NODES &&
	daemons_running $NODES &&
	cluster_wait_pve_writable $NODES &&
	cluster_wait_trees_equal $NODES &&
	fault_dump_states "$PVE/$name" $NODES || return 1
	fault_judge "$keys" "$FAULT_LOG" $NODES >"$FAULT_LOG/judge.out"
	rc=$?
	cat "$FAULT_LOG/judge.out"
	grep -q "^judge: " "$FAULT_LOG/judge.out" && test $rc = 0 &&
	test ! -e "$FAULT_LOG/round-failed"
}

cluster_create 5
cluster_start_corosync
: >"$TRASH/faults"

test_expect_success 'five nodes form a writable cluster' '
	cluster_start_pmxcfsd $NODES &&
	cluster_wait_pve_writable $NODES
'

# Errors without a fault: fswriter replaces a shared key by a temporary
# file and rename while another node'"'"'s writer has the key open for a
# pwrite. The engine answered the open of an inode that a remote rename
# had just removed, a pwrite through a handle whose file had been renamed
# over, and a pwrite sent before and ordered after such a rename with
# ENOENT. Fixed by keeping a file that is open on a node (an orphan) until
# its last handle closes, sending a change racing a remote rename to the
# held copy, and opening the file the kernel found even when a remote
# rename removed it a moment before (it was answered ESTALE, which failed
# when the kernel's one retry lost the race again: seen once under load).
# Two keys and no pause between writes make the races frequent: the engine
# before those fixes failed about 5 writes a second here.
test_expect_success 'no fault, writers racing on two shared keys: no write fails with ENOENT' '
	replay enoent 2 0 "calm n1 n2 n3 8"
'

# Refused writes applied: two nodes cut off with writes in flight. A
# write a node had sent just before the cut could be ordered on the
# majority side and kept there; when the membership changed, the cut-off
# node, no longer quorate, answered it EACCES (refused) although it had
# been applied. The same when the majority lost its quorum of replicas
# (cut2-kill9). Fixed by answering EIO (outcome unknown) for every write
# that was handed to corosync and not confirmed, and EACCES only for one
# that no member can ever apply. Writers with no pause between writes
# have one in flight at nearly every instant: the engine before that fix
# showed a refused write after this one cut in 6 runs out of 8 (a second
# cut never added one).
test_expect_success 'two nodes cut off with writes in flight: nothing refused shows up after the heal' '
	replay phantom 8 0 "cut2 n1 n2 n3 0.5"
'

# Acknowledged writes lost: two daemons killed, the cluster writing on
# without them, then one restarted and the other joining while the first
# one still catches up. The members that had kept writing queued the
# writes ordered during that first catch-up, and applied them only after
# the second join'"'"'s sync, which the returning node never took part in;
# its tree, which lacked them, then won the next checksum comparison and
# every member took it: files created and written with success were
# empty, or another file held their content. Fixed by dropping what was
# queued when the membership changes again, the writers getting EIO
# (outcome unknown), and by the quorate stamp deciding which tree wins.
# Node C rewrites 12 MiB of ballast while the two are down, so that the
# first one'"'"'s catch-up lasts long enough for the second one to join in it.
test_expect_success 'a node joining while another catches up: every acknowledged write keeps its content' '
	mkdir -p "$(node_path n3 "$PVE/ballast")" &&
	for i in $(seq 1 12); do
		head -c 1048576 /dev/urandom >"$(node_path n3 "$PVE/ballast/b$i")" || return 1
	done &&
	FAULT_BALLAST=$PVE/ballast replay rejoin 8 0 "kill9-rejoin n1 n2 n3 2"
'

test_done
