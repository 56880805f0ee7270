#!/bin/bash
test_description='pvecm add, addnode and delnode: a 4-node cluster built the manual'"'"'s way

Four nodes, each with sshd (its own host key, root password and keys) and
pmxcfsd in local mode. n1 creates the cluster; n2, n3 and n4 join it with
pvecm add over SSH: with the password on standard input and --fingerprint,
with a key the cluster node already trusts and a host key already known.
Each refusal (wrong fingerprint, unknown host key, wrong password, guests
on the joining node, a duplicate node ID, name or address, a node already
in a cluster, a cluster node without quorum) leaves both sides as they
were. Then the cluster: pvecm status in the manual'"'"'s layout with four
nodes, one /etc/pve everywhere, certificates that verify against the
cluster CA, SSH between nodes with the merged keys. Then delnode of a
powered-off node, a wiped node re-added with the same name and address,
and the manual'"'"'s separation of a node without reinstalling it.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync
test_require_sshd
test_require_program pvecm
command -v python3 >/dev/null ||
	skip_all "needs python3 to answer prompts on a terminal (tests/install-deps.sh installs it)"
command -v openssl >/dev/null ||
	skip_all "needs openssl to check certificates (tests/install-deps.sh installs it)"

NODES="n1 n2 n3 n4"
for n in $NODES; do
	node_create $n
done
ssh_nodes_start $NODES

# last_start_log NODE: pmxcfsd's log since its last start on NODE
last_start_log () {
	awk '/^=== /{ buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "$(node_log "$1")"
}

# join_state NODE: what a refused join must leave as it was on NODE (the
# database's files are listed by name: the lock addnode takes writes them)
join_state () {
	node_sh "$1" '
		ls -la /etc/corosync
		ls /var/lib/pve-cluster
		cat /etc/corosync/* 2>/dev/null
		cat /etc/pve/corosync.conf 2>/dev/null
		json_get cluster version </etc/pve/.members 2>/dev/null
		node_corosync_running "$(hostname)" && echo corosync runs
		cat /root/.ssh/known_hosts 2>/dev/null
	' | sha256sum
}

# refused_join NODE WHAT [STDIN] -- ARGS...: pvecm add ARGS on NODE fails
# with an error line containing WHAT, and neither NODE nor n1 changed
refused_join () {
	local node=$1 what=$2 input=$3 before1 before
	shift 4
	before1=$(join_state n1) && before=$(join_state "$node") &&
	printf "%s\n" "$input" >stdin &&
	test_must_fail node_exec "$node" pvecm add "$@" <stdin >out 2>err &&
	cat out err &&
	grep "^pvecm add: " err | tail -n 1 | grep -q -- "$what" &&
	test "$(join_state n1)" = "$before1" &&
	test "$(join_state "$node")" = "$before"
}

test_expect_success 'n1 creates the cluster keeping the CA put in /etc/pve before, with its node certificate' '
	node_seed_ca n1 &&
	node_exec n1 pvecm create testclu >out 2>&1 &&
	cat out &&
	! grep -q "generate new cluster CA" out &&
	node_has_test_ca n1 &&
	node_sh n1 "test -s /etc/pve/nodes/n1/pve-ssl.pem" &&
	test "$(node_pve_quorate n1)" = 1
'

test_expect_success 'a wrong --fingerprint is refused before anything is sent' '
	refused_join n2 "not the given" "$TEST_ROOT_PASSWORD" -- "$N1" \
		--fingerprint SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
'

test_expect_success 'an unknown host key without --fingerprint is refused (no terminal)' '
	refused_join n2 "is not known" "$TEST_ROOT_PASSWORD" -- "$N1" &&
	grep -q "$FP1" err
'

test_expect_success 'on a terminal, a host key not confirmed is refused' '
	before=$(join_state n2) &&
	test_must_fail node_exec n2 "$TEST_LIB_DIR/pty-answer.py" "(yes/no)? " no -- \
		pvecm add "$N1" >out &&
	cat out &&
	grep -q "$FP1" out &&
	grep -q "is not known" out &&
	test "$(join_state n2)" = "$before"
'

test_expect_success 'a wrong password is refused' '
	refused_join n2 "refused the password" "wrong-password" -- "$N1" --fingerprint "$FP1"
'

test_expect_success 'a node with guests is refused' '
	node_sh n2 "echo name: vm >/etc/pve/qemu-server/100.conf" &&
	refused_join n2 "virtual guests" "$TEST_ROOT_PASSWORD" -- "$N1" --fingerprint "$FP1" &&
	node_sh n2 "rm /etc/pve/qemu-server/100.conf"
'

test_expect_success 'the current directory inside /etc/pve is refused' '
	before=$(join_state n2) &&
	test_must_fail node_sh n2 "cd /etc/pve/nodes && pvecm add $N1 --fingerprint $FP1 </dev/null" 2>err &&
	grep -q "inside /etc/pve" err &&
	test "$(join_state n2)" = "$before"
'

test_expect_success 'n2 joins with the password on standard input and --fingerprint' '
	node_sh n2 "echo before-join >/etc/pve/local-file" &&
	printf "%s\n" "$TEST_ROOT_PASSWORD" | node_exec n2 pvecm add "$N1" --fingerprint "$FP1" >out 2>err &&
	cat out err &&
	grep -q "fallback to local node IP .$(node_ip n2)." out &&
	grep -q "successfully added node .n2. to cluster" out &&
	test "$(node_pve_quorate n2)" = 1 &&
	grep -q "in cluster mode" "$(node_log n2)" &&
	node_sh n2 "test ! -e /etc/pve/local-file && ls /var/lib/pve-cluster/backup/config-*.db" &&
	cluster_wait_trees_equal n1 n2
'

test_expect_success 'the cluster corosync.conf lists n2 with the next id and version 2' '
	node_sh n1 "cat /etc/pve/corosync.conf" >conf &&
	grep -A4 "name: n2" conf >node2 &&
	grep -q "nodeid: 2" node2 &&
	grep -q "ring0_addr: $(node_ip n2)" node2 &&
	grep -q "config_version: 2" conf &&
	node_sh n2 "cmp /etc/pve/corosync.conf /etc/corosync/corosync.conf"
'

test_expect_success 'a join failing on the joining node is undone there, and says how to clean up' '
	cat >"$TRASH/corosync-fails" <<-\EOF &&
	#!/bin/sh
	if [ "$1 $2" = "restart corosync" ]; then
		echo "unit corosync failed to start" >&2
		exit 1
	fi
	exec "$TEST_LIB_DIR/service.sh" "$@"
	EOF
	chmod +x "$TRASH/corosync-fails" &&
	node_sh n3 "echo mine >/etc/pve/mine" &&
	printf "%s\n" "$TEST_ROOT_PASSWORD" |
		test_must_fail node_exec n3 env PVECM_SERVICE_CMD="$TRASH/corosync-fails" \
			pvecm add "$N1" --fingerprint "$FP1" >out 2>err &&
	cat out err &&
	grep -q "failed to start" err &&
	tail -n 1 err | grep -q "run .pvecm delnode n3. on $N1" &&
	node_sh n3 "test \"\$(cat /etc/pve/mine)\" = mine && echo again >/etc/pve/mine &&
		test ! -e /etc/corosync/authkey && test ! -e /etc/corosync/corosync.conf &&
		test ! -e /etc/pve/corosync.conf && ! node_corosync_running n3" &&
	node_sh n1 "grep -q \"name: n3\" /etc/pve/corosync.conf" &&
	node_exec n1 pvecm delnode n3 &&
	node_sh n1 "! grep -q \"name: n3\" /etc/pve/corosync.conf"
'

test_expect_success 'a node already in a cluster is refused' '
	refused_join n2 "already part of a cluster" "$TEST_ROOT_PASSWORD" -- "$N1" --fingerprint "$FP1"
'

test_expect_success 'a duplicate node ID is refused by the cluster node' '
	refused_join n3 "already used by node .n2." "$TEST_ROOT_PASSWORD" -- "$N1" \
		--fingerprint "$FP1" --nodeid 2
'

test_expect_success 'addnode refuses a duplicate name, a used address and a wrong link set' '
	before=$(join_state n1) &&
	test_must_fail node_exec n1 pvecm addnode n2 --link0 10.99.0.1 2>err &&
	grep -q "already defined" err &&
	test_must_fail node_exec n1 pvecm addnode n9 --link0 "$(node_ip n2)" 2>err &&
	grep -q "already used by node .n2." err &&
	test_must_fail node_exec n1 pvecm addnode n9 --link0 10.99.0.1 --link1 10.99.1.1 2>err &&
	grep -q "does not use link 1" err &&
	test_must_fail node_exec n1 pvecm addnode bad_name --link0 10.99.0.1 2>err &&
	grep -q "invalid node name" err &&
	test "$(join_state n1)" = "$before"
'

test_expect_success 'addnode gives up while another node holds the corosync.conf lock' '
	node_sh n1 "mkdir /etc/pve/priv/lock/file-corosync_conf" &&
	test_when_finished "node_sh n1 \"touch -d @0 /etc/pve/priv/lock/file-corosync_conf\"" &&
	before=$(join_state n1) &&
	test_must_fail node_exec n1 pvecm addnode n9 --link0 10.99.0.1 2>err &&
	cat err &&
	grep -q "another node changes corosync.conf" err &&
	test "$(join_state n1)" = "$before"
'

test_expect_success 'a cluster node without quorum refuses to add a node' '
	node_partition n2 &&
	cluster_wait_inquorate n1 &&
	refused_join n3 "no quorum" "$TEST_ROOT_PASSWORD" -- "$N1" --fingerprint "$FP1" &&
	before=$(join_state n1) &&
	test_must_fail node_exec n1 pvecm delnode n2 2>err &&
	grep -q "no quorum" err &&
	test "$(join_state n1)" = "$before" &&
	node_heal n2 &&
	cluster_wait_quorate n1 &&
	cluster_wait_pve_writable n1 n2
'

test_expect_success 'n3 joins with a key n1 trusts and a host key it already knows' '
	node_sh n3 "ssh-keygen -q -t ed25519 -N \"\" -f /root/.ssh/id_ed25519" &&
	pub=$(node_sh n3 "cat /root/.ssh/id_ed25519.pub") &&
	node_sh n1 "echo \"$pub\" >>/etc/pve/priv/authorized_keys" &&
	node_sh n3 "ssh-keyscan -t ed25519 $N1 2>/dev/null >/root/.ssh/known_hosts && test -s /root/.ssh/known_hosts" &&
	node_exec n3 pvecm add "$N1" </dev/null >out 2>err &&
	cat out err &&
	! grep -qi password err &&
	grep -q "successfully added node .n3." out &&
	cluster_wait_trees_equal n1 n2 n3
'

test_expect_success 'n4 joins on a terminal: host key confirmed, password typed unechoed' '
	node_exec n4 "$TEST_LIB_DIR/pty-answer.py" "(yes/no)? " yes "password for" \
		"$TEST_ROOT_PASSWORD" -- pvecm add "$N1" >out &&
	cat out &&
	grep -q "Host key fingerprint is $FP1" out &&
	! grep -q "$TEST_ROOT_PASSWORD" out &&
	grep -q "successfully added node .n4." out &&
	node_sh n4 "ssh-keygen -F $N1 -f /root/.ssh/known_hosts"
'

test_expect_success 'the cluster has four members on every node' '
	for n in $NODES; do
		cluster_wait_members $n 4 || return 1
	done &&
	cluster_wait_pve_writable $NODES &&
	cluster_wait_trees_equal $NODES
'

test_expect_success 'pvecm status on n2 has the layout of the manual with 4 nodes' '
	node_exec n2 pvecm status >status &&
	cat status &&
	grep -q "^Name:             testclu$" status &&
	grep -q "^Config Version:   6$" status &&
	grep -q "^Nodes:            4$" status &&
	grep -q "^Quorate:          Yes$" status &&
	grep -q "^Expected votes:   4$" status &&
	grep -q "^Total votes:      4$" status &&
	grep -q "^Quorum:           3  *$" status &&
	grep -Eq "^0x00000002 +1 $(node_ip n2) \(local\)$" status &&
	test "$(grep -Ec "^0x0000000[1-4] +1 10\." status)" = 4 &&
	node_exec n2 pvecm nodes >nodes.out &&
	test "$(grep -Ec "^ +[1-4] +1 n[1-4]" nodes.out)" = 4
'

test_expect_success 'every node has a certificate that verifies against the cluster CA' '
	for n in $NODES; do
		node_sh $n "openssl verify -CAfile /etc/pve/pve-root-ca.pem /etc/pve/nodes/$n/pve-ssl.pem" >out &&
		grep -q ": OK$" out &&
		node_sh $n "openssl x509 -noout -ext subjectAltName -in /etc/pve/nodes/$n/pve-ssl.pem" >san &&
		grep -q "DNS:$n" san && grep -q "IP Address:$(node_ip $n)" san || return 1
	done
'

test_expect_success 'root on every node reaches every other over SSH with the merged keys' '
	for a in $NODES; do
		for b in $NODES; do
			[ $a = $b ] && continue
			node_exec $a ssh -o BatchMode=yes -o StrictHostKeyChecking=yes \
				"$(node_ip $b)" hostname >out 2>err </dev/null || { cat err; return 1; }
			test "$(cat out)" = $b || return 1
		done
	done
'

test_expect_success 'delnode refuses the local node, an unknown node and an online node' '
	before=$(join_state n1) &&
	test_must_fail node_exec n1 pvecm delnode n1 2>err && grep -q "Cannot delete myself" err &&
	test_must_fail node_exec n1 pvecm delnode n9 2>err && grep -q "not a known host" err &&
	test_must_fail node_exec n1 pvecm delnode n4 2>err && grep -q "is online" err &&
	test "$(join_state n1)" = "$before"
'

test_expect_success 'n4, powered off and wiped but still listed, is refused as a duplicate name' '
	node_stop_pmxcfsd n4 && node_stop_corosync n4 && node_stop_sshd n4 &&
	cluster_wait_members n1 3 &&
	node_sh n4 "rm -rf /var/lib/pve-cluster/* /var/lib/corosync/* /etc/corosync/* /root/.ssh/id_* /root/.ssh/known_hosts" &&
	node_ssh_keygen n4 &&
	node_start_sshd n4 &&
	node_start_pmxcfsd n4 &&
	refused_join n4 "already defined" "$TEST_ROOT_PASSWORD" -- "$N1" --fingerprint "$FP1"
'

test_expect_success 'delnode removes the powered-off node: no output, three nodes left' '
	node_exec n1 pvecm delnode n4 >out 2>&1 &&
	test ! -s out &&
	node_sh n1 "test ! -e /etc/pve/nodes/n4 && ! grep -q \"name: n4\" /etc/pve/corosync.conf" &&
	wait_for "expected votes 3 on n2" 20 "node_exec n2 pvecm status | grep -q \"^Expected votes:   3$\"" &&
	node_exec n2 pvecm status >status &&
	grep -q "^Nodes:            3$" status &&
	grep -q "^Config Version:   7$" status
'

# The key is only in an agent this time: not in /root/.ssh, and no
# password on stdin to fall back to.
test_expect_success 'the wiped n4, with its new host key and a key in an agent, joins again under its name and address' '
	node_sh n4 "ssh-keygen -q -t ed25519 -N \"\" -f /root/agent-key" &&
	pub=$(node_sh n4 "cat /root/agent-key.pub") &&
	node_sh n1 "echo \"$pub\" >>/etc/pve/priv/authorized_keys" &&
	node_sh n4 "eval \$(ssh-agent -s) >/dev/null &&
		ssh-add -q /root/agent-key && rm /root/agent-key &&
		pvecm add $N1 --fingerprint $FP1 </dev/null; rc=\$?;
		ssh-agent -k >/dev/null; exit \$rc" >out 2>err &&
	cat out err &&
	! grep -qi password err &&
	grep -q "successfully added node .n4." out &&
	cluster_wait_members n1 4 &&
	cluster_wait_trees_equal $NODES &&
	node_exec n1 ssh -o BatchMode=yes -o StrictHostKeyChecking=yes "$(node_ip n4)" hostname </dev/null >out &&
	test "$(cat out)" = n4 &&
	node_sh n1 "grep -c \"^n4 \" /etc/pve/priv/known_hosts" >count &&
	test "$(cat count)" = 1
'

test_expect_success 'n3 is separated without reinstalling, as the manual does it' '
	node_sh n3 "echo kept >/etc/pve/nodes/n3/note" &&
	node_stop_pmxcfsd n3 && node_stop_corosync n3 &&
	node_start_pmxcfsd n3 -l &&
	node_sh n3 "rm /etc/pve/corosync.conf && rm -f /etc/corosync/*" &&
	node_stop_pmxcfsd n3 &&
	node_start_pmxcfsd n3 &&
	last_start_log n3 | grep -q "serving in local mode" &&
	cluster_wait_members n1 3 &&
	node_exec n1 pvecm delnode n3 &&
	node_sh n3 "rm -f /var/lib/corosync/*" &&
	node_sh n3 "test \"\$(cat /etc/pve/nodes/n3/note)\" = kept && echo local >/etc/pve/after" &&
	node_sh n1 "! grep -q \"name: n3\" /etc/pve/corosync.conf && test ! -e /etc/pve/nodes/n3"
'

test_expect_success 'the separated n3 can form a cluster of its own' '
	node_exec n3 pvecm create other >out 2>&1 &&
	cat out &&
	node_sh n3 "grep -q \"cluster_name: other\" /etc/pve/corosync.conf && test -s /etc/pve/after"
'

test_done
