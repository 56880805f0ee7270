#!/bin/bash
test_description='pmxcfsd as a 5-node cluster: a 3/2 partition and its heal

Five nodes write concurrently and converge; cut into three and two, the
two turn read-only while the three keep writing; after the heal all five
hold the majority'"'"'s tree and accept writes again.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync

NODES="n1 n2 n3 n4 n5"

cluster_create 5
cluster_start_corosync

test_expect_success 'five daemons form one writable group' '
	cluster_start_pmxcfsd &&
	cluster_wait_pve_writable $NODES &&
	test "$(node_exec n5 cat /etc/pve/.members | json_get cluster nodes)" = 5
'

test_expect_success 'writers on all five nodes converge to one tree' '
	pids= &&
	for n in $NODES; do
		node_sh $n "
			for i in \$(seq 1 20); do
				echo \"$n \$i\" >/etc/pve/shared || exit 1
				echo \"$n \$i\" >/etc/pve/nodes/$n/file-\$i || exit 1
			done
		" &
		pids="$pids $!"
	done &&
	for p in $pids; do wait $p || return 1; done &&
	cluster_wait_trees_equal $NODES &&
	test "$(node_exec n1 ls /etc/pve/nodes/n5 | grep -c ^file-)" = 20
'

test_expect_success 'cut 3/2: the two turn read-only, the three keep writing' '
	node_partition n4 &&
	node_partition n5 &&
	cluster_wait_pve_readonly n4 n5 &&
	node_sh n4 "test_errno EACCES create /etc/pve/minority" &&
	node_sh n5 "test_errno EACCES write /etc/pve/shared 4" &&
	test -n "$(node_exec n5 cat /etc/pve/shared)" &&
	cluster_wait_pve_writable n1 n2 n3 &&
	for i in $(seq 1 20); do
		node_exec n2 sh -c "echo $i >/etc/pve/majority-$i" || return 1
	done
'

test_expect_success 'after the heal all five hold the majority'"'"'s writes and write again' '
	node_heal n4 &&
	node_heal n5 &&
	cluster_wait_pve_writable $NODES &&
	cluster_wait_trees_equal $NODES &&
	test "$(node_exec n5 cat /etc/pve/majority-20)" = 20 &&
	node_sh n4 "test_errno ENOENT open /etc/pve/minority" &&
	node_exec n5 sh -c "echo healed >/etc/pve/after" &&
	test "$(node_exec n1 cat /etc/pve/after)" = healed
'

test_done
