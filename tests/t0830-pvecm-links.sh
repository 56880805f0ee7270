#!/bin/bash
test_description='pvecm links: every corosync link to every node, as corosync sees it

Three nodes with two links each (ring0_addr on one network, ring1_addr on a
second). pvecm links on every node lists each node and each configured
link with its address, enabled and connected, as corosync-cfgtool -n
reports them; --output-format json the same for scripts. Link 0 of n3 cut:
every node shows that link down (and link 1 still up) within a few token
timeouts, and up again after the heal.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync
test_require_program pvecm

NODES="n1 n2 n3"

cluster_create 3
for n in $NODES; do
	node_add_link1 $n || error "cannot add a second network to $n"
done
# Both links in the configuration from the start.
script="s/^  interface {\$/  interface {\n    linknumber: 1\n  }\n&/"
for n in $NODES; do
	script="$script; s/^    ring0_addr: $(node_ip $n)\$/&\n    ring1_addr: $(node_link1_ip $n)/"
done
for n in $NODES; do
	sed -i "$script" "$TRASH/nodes/$n/root/etc/corosync/corosync.conf" || error "cannot add link 1"
done
cluster_start_corosync
cluster_start_pmxcfsd $NODES
cluster_wait_pve_writable $NODES || error "the cluster does not become writable"
node_exec n1 cp /etc/corosync/corosync.conf /etc/pve/corosync.conf ||
	error "cannot put corosync.conf into /etc/pve"

idx () {
	cat "$TRASH/nodes/$1/index"
}

# link_row OUTPUT NODE LINK: the row of pvecm links OUTPUT for NODE's
# LINK, as "ADDRESS ENABLED STATUS"
link_row () {
	say "$1" | awk -v id=$(idx $2) -v l=$3 \
		'$1 == id && $(NF - 3) == l { print $(NF - 2), $(NF - 1), $NF }'
}

# link_is OUTPUT NODE LINK STATUS: that row has NODE's address of LINK,
# enabled (no state for the local node's), and STATUS
link_is () {
	local addr enabled=yes
	[ $3 = 0 ] && addr=$(node_ip $2) || addr=$(node_link1_ip $2)
	[ $4 = local ] && enabled=-
	test "$(link_row "$1" $2 $3)" = "$addr $enabled $4"
}

# links_all ON STATUS0 STATUS1 [CUT]: on ON (one run of pvecm links),
# every other node's link 0 and link 1 have these states; with CUT, only
# the links between ON and CUT (all of CUT's when ON is CUT) have them,
# the others are connected
links_all () {
	local on=$1 s0=$2 s1=$3 cut=$4 n a b out
	out=$(node_exec $on pvecm links) || return 1
	for n in $NODES; do
		if [ $n = $on ]; then
			link_is "$out" $n 0 local && link_is "$out" $n 1 local || return 1
			continue
		fi
		a=$s0 b=$s1
		if [ -n "$cut" ] && [ $on != $cut ] && [ $n != $cut ]; then
			a=connected b=connected
		fi
		link_is "$out" $n 0 $a && link_is "$out" $n 1 $b || return 1
	done
}

test_expect_success 'on every node: a header and one row per node and link' '
	for n in $NODES; do
		wait_for "all links connected on $n" 20 \
			"links_all $n connected connected" || {
			node_exec $n pvecm links
			return 1
		}
		node_exec $n pvecm links >out.$n &&
		head -n 1 out.$n | grep -q "^Nodeid *Name *Link *Address *Enabled *Status$" &&
		test $(wc -l <out.$n) = 7 &&
		grep -q "^ *$(idx $n) $n (local) " out.$n || return 1
	done &&
	cat out.n1
'

test_expect_success 'the states are corosync-cfgtool -n'"'"'s: connected there is connected here' '
	node_exec n1 corosync-cfgtool -n >cfgtool &&
	cat cfgtool &&
	for n in n2 n3; do
		sed -n "/^nodeid: *$(idx $n)[: ]/,/^nodeid/p" cfgtool >block.$n &&
		grep -q "LINK: *0 .*connected" block.$n &&
		grep -q "LINK: *1 .*connected" block.$n || return 1
	done
'

test_expect_success '--output-format json: nodes, links, addresses and states' '
	node_exec n2 pvecm links --output-format json >json &&
	test "$(json_get nodeid <json)" = 2 &&
	test "$(json_get nodes 2 name <json)" = n3 &&
	test "$(json_get nodes 2 links 1 address <json)" = "$(node_link1_ip n3)" &&
	test "$(json_get nodes 2 links 0 enabled <json)" = true &&
	test "$(json_get nodes 2 links 0 connected <json)" = true &&
	test "$(json_get nodes 1 local <json)" = true &&
	test "$(json_get nodes 1 links 0 connected <json)" = null &&
	test "$(json_type nodes 0 links 0 mtu <json)" = number
'

# knet declares a link down once its pings go unanswered for its ping
# timeout, which corosync derives from the token timeout; pvecm links reads
# corosync's state as it is at each call. On a loaded machine the time knet
# takes varies a lot (seconds), so the bound is the membership deadline
# the other tests use, and the time seen is printed.
test_expect_success 'link 0 of n3 cut: every node shows it down, link 1 up' '
	t0=$(now_us) &&
	node_link_down n3 &&
	wait_for "link 0 to n3 down on n1" "$(cluster_default_timeout)" \
		"links_all n1 disconnected connected n3" &&
	ms=$((($(now_us) - t0) / 1000)) &&
	say "link 0 seen down on n1 after $ms ms (token timeout $(cluster_token_timeout_ms) ms)" &&
	for n in $NODES; do
		wait_for "link 0 to n3 down on $n" "$(cluster_default_timeout)" \
			"links_all $n disconnected connected n3" || {
			node_exec $n pvecm links
			return 1
		}
	done &&
	node_exec n1 pvecm links --output-format json >json &&
	test "$(json_get nodes 2 links 0 connected <json)" = false &&
	test "$(json_get nodes 2 links 1 connected <json)" = true &&
	test "$(json_get nodes 2 reachable <json)" = true &&
	cluster_wait_quorate n1 n2 n3
'

test_expect_success 'healed: link 0 up again everywhere' '
	node_link_up n3 &&
	for n in $NODES; do
		wait_for "link 0 to n3 up on $n" "$(cluster_default_timeout)" \
			"links_all $n connected connected" || {
			node_exec $n pvecm links
			return 1
		}
	done
'

test_expect_success 'without corosync: one line that says so, exit 2' '
	node_stop_corosync n3 &&
	test_exit_code 2 node_exec n3 pvecm links >out 2>err &&
	test $(wc -l <err) = 1 &&
	grep -q "corosync is not running" err &&
	test ! -s out
'

test_done
