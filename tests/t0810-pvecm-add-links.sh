#!/bin/bash
test_description='pvecm add over a separate cluster network, with a redundant link

Three nodes with two networks each: the public one (eth0, where sshd and
pvecm add talk) and a separate cluster network (eth1 on a second bridge).
n1 creates the cluster with --link0 on the cluster network and --link1 on
the public one, as the manual'"'"'s "Adding Nodes With Separated Cluster
Network"; n2 and n3 join with the same links. A joining node whose links
do not match the cluster'"'"'s is refused. With the cluster network of a
node cut, the cluster stays quorate over link 1.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync
test_require_sshd
test_require_program pvecm

NODES="n1 n2 n3"
for n in $NODES; do
	node_create $n
	node_add_link1 $n || error "cannot add a second network to $n"
done
ssh_nodes_start $NODES
# the run's CA, so that create does not make one (t0710 tests that)
node_seed_ca n1 || error "cannot put the test CA in place on n1"

# links_connected NODE LINK: how many peers NODE reaches over LINK
links_connected () {
	node_exec "$1" corosync-cfgtool -s |
		sed -n "/LINK ID $2/,/LINK ID/p" | grep -c "connected\$"
}

test_expect_success 'n1 creates the cluster with link 0 on the cluster network' '
	node_exec n1 pvecm create sepnet --link0 "$(node_link1_ip n1),priority=20" \
		--link1 "$N1" >out 2>&1 &&
	cat out &&
	test "$(node_pve_quorate n1)" = 1
'

test_expect_success 'a node that gives only link 0 is refused, nothing changed' '
	before=$(node_exec n1 cat /etc/pve/corosync.conf) &&
	test_must_fail node_exec n2 pvecm add "$N1" --fingerprint "$FP1" \
		--link0 "$(node_link1_ip n2)" <<<"$TEST_ROOT_PASSWORD" 2>err &&
	cat err &&
	grep -q "the cluster uses link 1 but the new node does not" err &&
	test "$(node_exec n1 cat /etc/pve/corosync.conf)" = "$before" &&
	node_sh n2 "test ! -e /etc/corosync/authkey"
'

test_expect_success 'n2 and n3 join with link 0 on the cluster network and link 1 public' '
	for n in n2 n3; do
		node_exec $n pvecm add "$N1" --fingerprint "$FP1" --link0 "$(node_link1_ip $n)" \
			--link1 "$(node_ip $n)" <<<"$TEST_ROOT_PASSWORD" >out 2>&1 || { cat out; return 1; }
		! grep -q "fallback to local node IP" out || return 1
	done &&
	for n in $NODES; do
		cluster_wait_members $n 3 || return 1
	done &&
	cluster_wait_pve_writable $NODES &&
	cluster_wait_trees_equal $NODES
'

test_expect_success 'corosync.conf has each node on both networks, the priority kept' '
	node_exec n1 cat /etc/pve/corosync.conf >conf &&
	cat conf &&
	for n in $NODES; do
		grep -A6 "name: $n\$" conf >node.$n &&
		grep -q "ring0_addr: $(node_link1_ip $n)\$" node.$n &&
		grep -q "ring1_addr: $(node_ip $n)\$" node.$n || return 1
	done &&
	grep -q "knet_link_priority: 20" conf &&
	grep -q "linknumber: 1" conf
'

test_expect_success 'both links connect every node' '
	for n in $NODES; do
		wait_for "both links of $n to connect" 20 \
			"test \$(links_connected $n 0) -ge 2 && test \$(links_connected $n 1) -ge 2" ||
			return 1
	done
'

test_expect_success 'with the cluster network of n3 cut, the cluster stays quorate over link 1' '
	test_when_finished "node_link1_up n3" &&
	node_link1_down n3 &&
	wait_for "link 0 to n3 to go down on n1" 20 \
		"node_exec n1 corosync-cfgtool -s | sed -n \"/LINK ID 0/,/LINK ID 1/p\" | grep -q \"nodeid: *3:.*disconnected\"" &&
	cluster_wait_members n3 3 &&
	cluster_wait_pve_writable n3 &&
	node_exec n3 sh -c "echo over-link1 >/etc/pve/link1-test" &&
	test "$(node_exec n1 cat /etc/pve/link1-test)" = over-link1
'

test_done
