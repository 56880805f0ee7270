#!/bin/bash
test_description='the corosync harness: five nodes, a minority of two

Five nodes of a cluster with its own name form one quorate membership; with
two of them cut off, the three others keep quorum and the two are each alone
and inquorate; healed, all five are members again.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync

cluster_create 5 five

test_expect_success 'five nodes form one membership and are quorate' '
	cluster_start_corosync &&
	for n in n1 n2 n3 n4 n5; do
		test "$(node_corosync_members $n)" = 5 &&
		node_quorate $n &&
		test "$(node_exec $n corosync-cmapctl -g totem.cluster_name)" = \
			"totem.cluster_name (str) = five" || exit 1
	done
'

test_expect_success 'n4 and n5 cut off: n1..n3 keep quorum with 3 members, n4 and n5 are inquorate' '
	node_partition n4 &&
	node_partition n5 &&
	for n in n4 n5; do
		cluster_wait_inquorate $n &&
		cluster_wait_members $n 1 || exit 1
	done &&
	for n in n1 n2 n3; do
		cluster_wait_members $n 3 &&
		node_quorate $n || exit 1
	done
'

test_expect_success 'n4 and n5 healed: five members again, all quorate' '
	node_heal n4 &&
	node_heal n5 &&
	for n in n1 n2 n3 n4 n5; do
		cluster_wait_members $n 5 &&
		cluster_wait_quorate $n || exit 1
	done
'

test_done
