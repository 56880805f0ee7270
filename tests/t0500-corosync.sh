#!/bin/bash
test_description='the corosync harness: three nodes, membership and quorum

Three nodes with one authkey and one corosync.conf form one quorate
membership; a node cut off the switch loses quorum while the other two keep
it, and rejoins when its link is back; a corosync stopped (or killed) on one
node leaves two members, and rejoins when started again; with two of three
gone the last one is inquorate. Only corosync runs here, no pmxcfsd.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync

cluster_create 3

# ------------------------------------------------------------------- setup

test_expect_success 'the authkey is the same in every node, mode 0400, owned by root' '
	for n in n1 n2 n3; do
		test "$(node_exec $n stat -c "%a %U" /etc/corosync/authkey)" = "400 root" &&
		node_exec $n cat /etc/corosync/authkey >key.$n &&
		cmp "$TRASH/corosync.authkey" key.$n || exit 1
	done &&
	test "$(wc -c <key.n1)" -ge 128
'

test_expect_success 'every node has the same corosync.conf, and corosync accepts it' '
	for n in n1 n2 n3; do
		node_exec $n cat /etc/corosync/corosync.conf >conf.$n &&
		test_cmp conf.n1 conf.$n &&
		node_exec $n corosync -t >check.$n 2>&1 || { cat check.$n; exit 1; }
	done &&
	grep -q "cluster_name: testclu" conf.n1 &&
	grep -q "secauth: on" conf.n1 &&
	test "$(grep -c "ring0_addr:" conf.n1)" = 3 &&
	grep -q "ring0_addr: $(node_ip n3)$" conf.n1
'

# -------------------------------------------------------------- membership

test_expect_success 'three nodes form one membership and are quorate' '
	cluster_start_corosync &&
	for n in n1 n2 n3; do
		test "$(node_corosync_members $n)" = 3 &&
		node_quorate $n || exit 1
	done
'

test_expect_success 'corosync runs in its node: its own /run, name and cluster name' '
	for n in n1 n2 n3; do
		pid=$(node_corosync_pid $n) &&
		test "$(cat /proc/$pid/comm)" = corosync &&
		test "$(node_exec $n cat /run/corosync.pid)" = "$pid" &&
		test "$(node_exec $n corosync-cmapctl -g totem.cluster_name)" = \
			"totem.cluster_name (str) = testclu" &&
		node_exec $n corosync-quorumtool -s >status.$n &&
		grep -q " $n (local)\$" status.$n || exit 1
	done
'

test_expect_success 'a second corosync on a node is refused' '
	pid=$(node_corosync_pid n1) &&
	test_must_fail node_start_corosync n1 &&
	test "$(node_corosync_pid n1)" = "$pid" &&
	pid_alive "$pid"
'

# --------------------------------------------------------------- partition

test_expect_success 'n3 cut off: n3 is inquorate, n1 and n2 stay quorate with 2 members' '
	node_partition n3 &&
	cluster_wait_inquorate n3 &&
	cluster_wait_members n1 2 &&
	cluster_wait_members n2 2 &&
	cluster_wait_members n3 1 &&
	node_quorate n1 &&
	node_quorate n2 &&
	! node_quorate n3
'

test_expect_success 'n3 healed: three members again, all quorate' '
	node_heal n3 &&
	for n in n1 n2 n3; do
		cluster_wait_members $n 3 &&
		cluster_wait_quorate $n || exit 1
	done
'

# ---------------------------------------------------------- stop and start

test_expect_success 'corosync stopped on n2: n1 and n3 see 2 members and stay quorate' '
	pid=$(node_corosync_pid n2) &&
	node_stop_corosync n2 &&
	! pid_alive "$pid" &&
	! node_corosync_running n2 &&
	test_must_fail node_corosync_members n2 &&
	cluster_wait_members n1 2 &&
	cluster_wait_members n3 2 &&
	node_quorate n1 &&
	node_quorate n3
'

test_expect_success 'corosync started again on n2: three members' '
	node_start_corosync n2 &&
	for n in n1 n2 n3; do
		cluster_wait_members $n 3 &&
		cluster_wait_quorate $n || exit 1
	done
'

test_expect_success 'corosync killed with -9 on n3 and started again: it rejoins' '
	node_kill9_corosync n3 &&
	cluster_wait_members n1 2 &&
	cluster_wait_members n2 2 &&
	node_start_corosync n3 &&
	for n in n1 n2 n3; do
		cluster_wait_members $n 3 || exit 1
	done
'

test_expect_success 'two of three stopped: the last node is inquorate, then quorate again' '
	node_stop_corosync n2 &&
	node_stop_corosync n3 &&
	cluster_wait_members n1 1 &&
	cluster_wait_inquorate n1 &&
	cluster_start_corosync n2 n3 &&
	for n in n1 n2 n3; do
		cluster_wait_members $n 3 &&
		cluster_wait_quorate $n || exit 1
	done
'

test_expect_success 'corosync stops cleanly on every node' '
	for n in n1 n2 n3; do
		node_stop_corosync $n || exit 1
	done
'

test_done
