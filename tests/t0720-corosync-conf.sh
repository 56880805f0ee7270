#!/bin/bash
test_description='editing /etc/pve/corosync.conf reaches corosync on every node

Three nodes with real corosync and pmxcfsd. An edit made the way the
manual says (copy, edit, increase config_version, move over) reaches
/etc/corosync/corosync.conf on every node and corosync reloads it without
a restart. A lower or equal config_version and a file that does not parse
are not applied, and say why in the log. A second link added by editing
the file keeps the cluster quorate when link 0 is cut.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync

NODES="n1 n2 n3"

cluster_create 3
for n in $NODES; do
	node_add_link1 $n || error "cannot add a second network to $n"
done
cluster_start_corosync
cluster_start_pmxcfsd $NODES
cluster_wait_pve_writable $NODES || error "the cluster does not become writable"

# edit_conf SED-SCRIPT: on n1, the manual's way: copy, edit the copy, move
# it over
edit_conf () {
	node_exec n1 sh -c '
		cp /etc/pve/corosync.conf /etc/pve/corosync.conf.new &&
		sed -i "$1" /etc/pve/corosync.conf.new &&
		mv /etc/pve/corosync.conf.new /etc/pve/corosync.conf
	' edit "$1"
}

# wait_local_conf_version V: every node's corosync.conf has config_version V
# and its corosync runs it
wait_local_conf_version () {
	local n
	for n in $NODES; do
		wait_for "config_version $1 in corosync on $n" 20 \
			"node_exec $n corosync-cmapctl -g totem.config_version | grep -q \"= $1\$\"" ||
			return 1
		node_exec $n grep -q "^  config_version: $1\$" /etc/corosync/corosync.conf || return 1
	done
}

# wait_logged TEXT: every node's pmxcfsd logged TEXT since the mark
wait_logged () {
	local n
	for n in $NODES; do
		wait_for "pmxcfsd on $n to log '$1'" 20 \
			"tail -c +\$(cat $TRASH/mark.$n) $(node_log $n) | grep -q -- \"$1\"" || return 1
	done
}

mark_logs () {
	local n
	for n in $NODES; do
		say $(($(stat -c %s "$(node_log $n)") + 1)) >"$TRASH/mark.$n"
	done
}

# local_confs_digest: one hash over every node's /etc/corosync/corosync.conf
local_confs_digest () {
	local n
	for n in $NODES; do node_exec $n cat /etc/corosync/corosync.conf; done | sha256sum
}

test_expect_success 'the cluster has its corosync.conf in /etc/pve; the same file changes nothing' '
	mark_logs &&
	node_exec n1 cp /etc/corosync/corosync.conf /etc/pve/corosync.conf &&
	before=$(local_confs_digest) &&
	cluster_wait_trees_equal $NODES &&
	test "$(local_confs_digest)" = "$before" &&
	! grep -q "not applying" "$(node_log n1)"
'

test_expect_success 'an edit with a higher config_version reaches corosync on every node' '
	edit_conf "s/^  config_version: 1\$/  config_version: 2/; 1i # edited by the admin" &&
	wait_local_conf_version 2 &&
	for n in $NODES; do
		node_exec $n cmp /etc/pve/corosync.conf /etc/corosync/corosync.conf || return 1
		node_exec $n head -n1 /etc/corosync/corosync.conf | grep -q "^# edited by the admin" ||
			return 1
	done &&
	grep -q "corosync reloaded /etc/corosync/corosync.conf" "$(node_log n2)"
'

test_expect_success 'a lower config_version is refused everywhere and the reason logged' '
	before=$(local_confs_digest) &&
	mark_logs &&
	edit_conf "s/^  config_version: 2\$/  config_version: 1/; s/^# edited by the admin/# lower/" &&
	wait_logged "its config_version 1 is not higher than the local copy.s 2" &&
	test "$(local_confs_digest)" = "$before" &&
	node_exec n2 corosync-cmapctl -g totem.config_version | grep -q "= 2$"
'

test_expect_success 'the same config_version with other content is refused' '
	before=$(local_confs_digest) &&
	mark_logs &&
	edit_conf "s/^  config_version: 1\$/  config_version: 2/; s/^# lower/# same version/" &&
	wait_logged "its config_version 2 is not higher than the local copy.s 2" &&
	test "$(local_confs_digest)" = "$before"
'

test_expect_success 'a file that does not parse is refused, naming the line' '
	before=$(local_confs_digest) &&
	mark_logs &&
	edit_conf "s/^  config_version: 2\$/  config_version: 3/; s/^quorum {\$/quorum/" &&
	wait_logged "not applying /etc/pve/corosync.conf to /etc/corosync/corosync.conf: /etc/pve/corosync.conf:[0-9]*:" &&
	test "$(local_confs_digest)" = "$before"
'

test_expect_success 'a node that does not resolve is refused as the troubleshooting section says' '
	before=$(local_confs_digest) &&
	mark_logs &&
	edit_conf "s/^quorum\$/quorum {/; s/ring0_addr: $(node_ip n3)/ring0_addr: no-such-host.invalid/" &&
	wait_logged "nodelist or quorum.expected_votes must be configured" &&
	test "$(local_confs_digest)" = "$before"
'

test_expect_success 'a valid edit after the refused ones applies' '
	edit_conf "s/ring0_addr: no-such-host.invalid/ring0_addr: $(node_ip n3)/; s/^  config_version: 3\$/  config_version: 4/" &&
	wait_local_conf_version 4 &&
	cluster_wait_quorate n1 n2 n3
'

test_expect_success 'a second link added by editing the file comes up on every node' '
	script="s/^  config_version: 4\$/  config_version: 5/" &&
	for n in $NODES; do
		script="$script; s/^    ring0_addr: $(node_ip $n)\$/&\n    ring1_addr: $(node_link1_ip $n)/"
	done &&
	script="$script; s/^  interface {\$/  interface {\n    linknumber: 1\n  }\n&/" &&
	edit_conf "$script" &&
	node_exec n1 cat /etc/pve/corosync.conf &&
	wait_local_conf_version 5 &&
	for n in $NODES; do
		wait_for "link 1 of $n to connect to all" 20 \
			"test \"\$(node_exec $n corosync-cfgtool -s | sed -n \"/LINK ID 1/,/LINK ID/p\" | grep -c \"connected\$\")\" -ge 2" ||
			return 1
	done
'

test_expect_success 'with link 0 of n3 cut, the cluster stays quorate over link 1' '
	test_when_finished "node_link_up n3" &&
	node_link_down n3 &&
	wait_for "link 0 to n3 to go down on n1" 20 \
		"node_exec n1 corosync-cfgtool -s | sed -n \"/LINK ID 0/,/LINK ID 1/p\" | grep -q \"nodeid: *3:.*disconnected\"" &&
	cluster_wait_quorate n1 n2 n3 &&
	cluster_wait_members n3 3 &&
	cluster_wait_pve_writable n3 &&
	node_exec n3 sh -c "echo over-link1 >/etc/pve/link1-test" &&
	test "$(node_exec n1 cat /etc/pve/link1-test)" = over-link1
'

test_done
