#!/bin/bash
test_description='cluster-wide locks when one node'"'"'s wall clock runs ahead

Two nodes; the daemon of n2 sees a wall clock 300 s ahead (libfaketime,
its monotonic clock left alone). A lock counts as expired only when the
node that asks has seen it unchanged for 120 s on its own monotonic clock,
so n2 can neither take over nor release nor renew a lock that n1 just took,
although its clock makes the lock look 300 s old. The expiry itself (after
a real 120 s) is covered by the unit tests of memdb.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync

AHEAD=300
NODES="n1 n2"
LOCK=/etc/pve/priv/lock

# faketime_lib: the libfaketime that copes with threads, or nothing
faketime_lib () {
	local f
	for f in /usr/lib/*/faketime/libfaketimeMT.so.1 /usr/lib/faketime/libfaketimeMT.so.1; do
		[ -e "$f" ] && say "$f" && return 0
	done
	return 1
}
FAKETIME_LIB=$(faketime_lib) || skip_all "needs libfaketime (tests/install-deps.sh installs faketime)"

cluster_create 2
cluster_start_corosync

test_expect_success "pmxcfsd on n1, and on n2 with its wall clock ${AHEAD} s ahead, form one writable group" '
	node_start_pmxcfsd n1 &&
	PMXCFSD_PREFIX="env LD_PRELOAD=$FAKETIME_LIB FAKETIME=+${AHEAD}s FAKETIME_DONT_FAKE_MONOTONIC=1" \
		node_start_pmxcfsd n2 &&
	cluster_wait_pve_writable $NODES
'

# So that the tests below cannot pass with a clock that is not ahead.
test_expect_success "n2's daemon stamps its changes ${AHEAD} s ahead" '
	node_exec n2 mkdir $LOCK/own-n2 &&
	mt=$(node_exec n1 stat -c %Y $LOCK/own-n2) &&
	now=$(date +%s) &&
	echo "mtime $mt, now $now" &&
	test "$mt" -ge $((now + AHEAD - 10)) &&
	test "$mt" -le $((now + AHEAD + 10)) &&
	node_exec n2 touch -d @0 $LOCK/own-n2 &&
	wait_for "own-n2 to be gone on n1" 10 "! node_exec n1 test -e $LOCK/own-n2"
'

test_expect_success 'n1 takes a lock; n2 sees it' '
	node_exec n1 mkdir $LOCK/vm-100 &&
	wait_for "the lock on n2" 10 "node_exec n2 test -d $LOCK/vm-100" &&
	node_exec n1 stat -c %Y $LOCK/vm-100 >mtime &&
	test "$(node_exec n2 stat -c %Y $LOCK/vm-100)" = "$(cat mtime)"
'

test_expect_success "to n2's clock the lock is ${AHEAD} s old, yet mkdir there fails with EEXIST" '
	node_sh n2 "test_errno EEXIST mkdir $LOCK/vm-100"
'

test_expect_success 'utime 0 on n2 does not release it (EACCES)' '
	node_sh n2 "test_errno EACCES utime 0 0 $LOCK/vm-100"
'

test_expect_success 'touch on n2 does not renew it either (EACCES)' '
	node_sh n2 "test_errno EACCES utime 0 \$(date +%s) $LOCK/vm-100"
'

test_expect_success 'the lock is untouched on every node, and nobody logged a takeover' '
	cluster_wait_trees_equal $NODES &&
	for n in $NODES; do
		node_exec $n test -d $LOCK/vm-100 &&
		test "$(node_exec $n stat -c %Y $LOCK/vm-100)" = "$(cat mtime)" || return 1
	done &&
	! grep -e "expired" "$(node_log n1)" "$(node_log n2)"
'

test_expect_success 'the holder n1 still renews it and releases it' '
	node_exec n1 touch $LOCK/vm-100 &&
	node_exec n1 touch -d @0 $LOCK/vm-100 &&
	wait_for "the lock to be gone on n2" 10 "! node_exec n2 test -e $LOCK/vm-100" &&
	node_exec n2 mkdir $LOCK/vm-100 &&
	node_sh n1 "test_errno EACCES utime 0 0 $LOCK/vm-100" &&
	node_exec n2 rmdir $LOCK/vm-100
'

test_expect_success 'both daemons stop cleanly' '
	node_stop_pmxcfsd n2 &&
	node_stop_pmxcfsd n1
'

test_done
