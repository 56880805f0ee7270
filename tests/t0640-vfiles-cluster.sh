#!/bin/bash
test_description='the virtual files and the local links as scripts read them, on 3 nodes

.members and .version carry the reference'"'"'s key names and types on every
node; a node'"'"'s "ip" is the address its name resolves to (here a second
address, not its corosync ring0_addr); .version lists the 43 files the
reference watches and its "clinfo" changes with every change of the cluster
information. /etc/pve/local, qemu-server, lxc and openvz are 0777 while the
node is quorate and 0555 while it is not: through quorum loss and back.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync

NODES="n1 n2 n3"
LINKS="local qemu-server lxc openvz"

cluster_create 3

# name_ip NODE: the address NODE's name resolves to, on the same network as
# its ring0_addr but not that address
name_ip () {
	say "$TEST_NET.$((100 + $(cat "$TRASH/nodes/$1/index")))"
}

for n in $NODES; do
	ip -n "$(node_ns $n)" addr add "$(name_ip $n)/24" dev eth0 || exit 1
done
for n in $NODES; do
	{
		printf '127.0.0.1\tlocalhost\n'
		for m in $NODES; do printf '%s\t%s\n' "$(name_ip $m)" "$m"; done
	} | node_set_hosts $n
done

cluster_start_corosync

# members_ok NODE QUORATE ONLINE...: NODE's .members has the reference's
# keys and types, quorate as given, and node i online as the i-th ONLINE
members_ok () {
	local node=$1 quorate=$2 m i=0 online
	shift 2
	node_exec $node cat /etc/pve/.members >members.$node &&
	test "$(json_get nodename <members.$node)" = $node &&
	test "$(json_type version <members.$node)" = number &&
	test "$(json_get cluster name <members.$node)" = "$(cluster_name)" &&
	test "$(json_type cluster name <members.$node)" = string &&
	test "$(json_get cluster version <members.$node)" = 1 &&
	test "$(json_get cluster nodes <members.$node)" = 3 &&
	test "$(json_get cluster quorate <members.$node)" = "$quorate" &&
	test "$(json_keys nodelist <members.$node | tr "\n" " ")" = "n1 n2 n3 " &&
	for m in $NODES; do
		online=$1
		shift
		test "$(json_get nodelist $m id <members.$node)" = "$(cat "$TRASH/nodes/$m/index")" &&
		test "$(json_type nodelist $m id <members.$node)" = number &&
		test "$(json_get nodelist $m online <members.$node)" = "$online" &&
		test "$(json_type nodelist $m online <members.$node)" = number &&
		test "$(json_get nodelist $m ip <members.$node)" = "$(name_ip $m)" &&
		test "$(json_type nodelist $m ip <members.$node)" = string || {
			cat members.$node
			return 1
		}
	done
}

# links_mode NODE MODE: every link on NODE has MODE (as lstat sees it)
links_mode () {
	local l
	for l in $LINKS; do
		test "$(node_exec $1 stat -c %a /etc/pve/$l)" = "$2" || {
			node_exec $1 stat /etc/pve/$l
			return 1
		}
	done
}

clinfo () {
	node_exec $1 cat /etc/pve/.version | json_get clinfo
}

test_expect_success 'three nodes in cluster mode, writable' '
	cluster_start_pmxcfsd $NODES &&
	cluster_wait_pve_writable $NODES
'

test_expect_success '.members: the reference keys and types, ip from name resolution' '
	for n in $NODES; do
		wait_for "all nodes online in .members on $n" 20 \
			"members_ok $n 1 1 1 1 >/dev/null" || { members_ok $n 1 1 1 1; return 1; }
	done &&
	test "$(name_ip n1)" != "$(node_ip n1)" &&
	node_exec n1 grep -q "ring0_addr: $(node_ip n1)\$" /etc/corosync/corosync.conf
'

test_expect_success '.version: numbers for starttime, clinfo, vmlist and the 43 watched files' '
	node_exec n1 sh -c "echo keyboard: de >/etc/pve/datacenter.cfg" &&
	for n in $NODES; do
		node_exec $n cat /etc/pve/.version >version.$n &&
		for k in starttime clinfo vmlist corosync.conf datacenter.cfg sdn/zones.cfg; do
			test "$(json_type $k <version.$n)" = number || return 1
		done &&
		test $(json_keys <version.$n | grep -cvx "starttime\\|clinfo\\|vmlist") = 43 || return 1
	done &&
	test "$(json_get datacenter.cfg <version.n1)" -gt 0 &&
	test "$(json_get jobs.cfg <version.n1)" = 0
'

test_expect_success 'quorate: local, qemu-server, lxc and openvz are 0777 and lead to the node' '
	for n in $NODES; do
		links_mode $n 777 &&
		test "$(node_exec $n readlink /etc/pve/openvz)" = nodes/$n/openvz &&
		node_exec $n test -d /etc/pve/nodes/$n/openvz || return 1
	done
'

test_expect_success 'n3 cut off: its links turn 0555 and .members says not quorate' '
	c1=$(clinfo n1) && c3=$(clinfo n3) &&
	node_partition n3 &&
	cluster_wait_pve_readonly n3 &&
	links_mode n3 555 &&
	wait_for "n3 to see the others offline" 20 "members_ok n3 0 0 0 1 >/dev/null" &&
	wait_for "n1 to see n3 offline" 20 "members_ok n1 1 1 1 0 >/dev/null" &&
	links_mode n1 777 &&
	test "$(clinfo n3)" -gt "$c3" &&
	test "$(clinfo n1)" -gt "$c1"
'

test_expect_success 'a script sees the quorum change in clinfo between two reads of .version' '
	c3=$(clinfo n3) &&
	test "$(clinfo n3)" = "$c3" &&
	node_heal n3 &&
	cluster_wait_pve_writable n3 &&
	test "$(clinfo n3)" -gt "$c3"
'

test_expect_success 'healed: the links are 0777 again and every node is online everywhere' '
	for n in $NODES; do
		links_mode $n 777 &&
		wait_for "all nodes online in .members on $n" 20 \
			"members_ok $n 1 1 1 1 >/dev/null" || { members_ok $n 1 1 1 1; return 1; }
	done
'

test_done
