#!/bin/bash
test_description='pvecm create: a node outside a cluster becomes a one-node cluster

A node that is not in a cluster serves /etc/pve writable in local mode.
pvecm create checks its arguments and the node first and changes nothing
when it refuses; then it writes the authkey and corosync.conf (in /etc/pve
and for corosync), starts corosync through the service seam and moves
pmxcfsd to cluster mode without losing a file. A failed start is undone.
Each node here creates a cluster of its own.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync
test_require_program pvecm

node_create n1
node_create n2
node_create n3
for n in n1 n2 n3; do
	node_start_pmxcfsd $n || error "cannot start pmxcfsd on $n"
done
# n1 makes its cluster CA; n2 and n3, whose tests are about other things,
# are given the run's CA and keep it (tests/lib/ca-lib.sh)
for n in n2 n3; do
	node_seed_ca $n || error "cannot put the test CA in place on $n"
done
test_node n1

# state_digest: everything create may touch on this node
state_digest () {
	{
		ls -la /etc/corosync
		cat /etc/corosync/* 2>/dev/null
		cat /etc/pve/corosync.conf 2>/dev/null
		cat /etc/pve/.members | json_get cluster name 2>/dev/null
		node_corosync_running "$(hostname)" && echo corosync runs
	} | sha256sum
}
export -f state_digest

# refused WHAT ARGS...: pvecm create ARGS fails with one line naming WHAT
# (a usage error adds the usage line) and changes nothing
refused () {
	local what=$1 before
	shift
	before=$(state_digest) &&
	test_must_fail pvecm create "$@" >out 2>err &&
	cat err &&
	test "$(wc -l <err)" -le 2 &&
	head -n1 err | grep -q -- "$what" &&
	test "$(state_digest)" = "$before"
}
export -f refused

test_expect_success 'a node outside a cluster serves /etc/pve in local mode, writable' '
	grep -q "not in a cluster, serving in local mode" "$(node_log n1)" &&
	echo "written before the cluster" >/etc/pve/before.txt &&
	mkdir /etc/pve/kept && echo 1 >/etc/pve/kept/one &&
	test -d /etc/pve/nodes/n1/qemu-server
'

test_expect_success 'create refuses bad cluster names and changes nothing' '
	refused "invalid cluster name" toolongname12345 &&
	refused "invalid cluster name" bad_name &&
	refused "invalid cluster name" -- -lead &&
	refused "invalid cluster name" trail- &&
	refused "invalid cluster name" "a b" &&
	refused "invalid cluster name" ""
'

test_expect_success 'create refuses bad options and changes nothing' '
	refused "priority" ok --link0 "$(node_ip n1),priority=abc" &&
	refused "priority" ok --link0 "$(node_ip n1),priority=256" &&
	refused "cannot resolve host name" ok --link0 no-such-host.invalid &&
	refused "without --link0" ok --link1 "$(node_ip n1)" &&
	refused "unexpected" ok --link0 "$(node_ip n1),speed=10" &&
	refused "link8" ok --link8 "$(node_ip n1)" &&
	refused "nodeid" ok --nodeid 0 &&
	refused "votes" ok --votes 0 &&
	refused "clustername" &&
	refused "token-coefficient" ok --token-coefficient -1
'

test_expect_success 'create writes the key and corosync.conf, makes the CA, starts corosync, goes to cluster mode' '
	pvecm create testclu --link0 "$(node_ip n1),priority=20" >out 2>err &&
	cat out err &&
	grep -q "^generate new cluster CA certificate$" out &&
	test -s /etc/pve/pve-root-ca.pem && test -s /etc/pve/priv/pve-root-ca.key &&
	grep -q "Writing corosync key to /etc/corosync/authkey" out &&
	grep -q "Writing corosync config to /etc/pve/corosync.conf" out &&
	grep -q "Waiting for quorum... OK" out &&
	test "$(stat -c "%a %s" /etc/corosync/authkey)" = "400 256" &&
	cmp /etc/pve/corosync.conf /etc/corosync/corosync.conf &&
	node_corosync_running n1 &&
	grep -q "in cluster mode" "$(node_log n1)" &&
	test "$(node_pve_quorate n1)" = 1
'

test_expect_success 'corosync.conf has the layout of the reference' '
	cat >expect <<-EOF &&
	logging {
	  debug: off
	  to_syslog: yes
	}

	nodelist {
	  node {
	    name: n1
	    nodeid: 1
	    quorum_votes: 1
	    ring0_addr: $(node_ip n1)
	  }
	}

	quorum {
	  provider: corosync_votequorum
	}

	totem {
	  cluster_name: testclu
	  config_version: 1
	  interface {
	    knet_link_priority: 20
	    linknumber: 0
	  }
	  ip_version: ipv4-6
	  link_mode: passive
	  secauth: on
	  token_coefficient: 125
	  version: 2
	}
	EOF
	test_cmp expect /etc/pve/corosync.conf
'

test_expect_success 'corosync runs the configuration written' '
	test "$(corosync-cmapctl -g totem.cluster_name)" = "totem.cluster_name (str) = testclu" &&
	corosync-cmapctl -g totem.token_coefficient | grep -q "= 125$" &&
	corosync-cmapctl -g totem.interface.0.knet_link_priority | grep -q "= 20$" &&
	corosync-cmapctl -g runtime.votequorum.this_node_id | grep -q "= 1$" &&
	corosync-quorumtool -s | grep -q "^Quorate: *Yes"
'

test_expect_success 'no file was lost moving to cluster mode, and /etc/pve stays writable' '
	test "$(cat /etc/pve/before.txt)" = "written before the cluster" &&
	test "$(cat /etc/pve/kept/one)" = 1 &&
	echo after >/etc/pve/after.txt &&
	test "$(cat /etc/pve/after.txt)" = after &&
	test "$(cat /etc/pve/.members | json_get cluster name)" = testclu
'

test_expect_success 'create on a node already in a cluster fails and changes nothing' '
	refused "already exists" other &&
	refused "already exists" testclu --link0 "$(node_ip n1)"
'

# with_hostile_node NAME: /etc/pve/corosync.conf lists one more node, called
# NAME, offline and without votes, at 10.213.255.9 (the manual's cp, edit, mv)
with_hostile_node () {
	v=$(sed -n "s/^ *config_version: //p" /etc/pve/corosync.conf) &&
	awk -v name="$1" -v v=$((v + 1)) "
		/^nodelist {/ { print; print \"  node {\"; print \"    name:\" (name == \"\" ? \"\" : \" \" name);
			print \"    nodeid: 9\"; print \"    quorum_votes: 0\";
			print \"    ring0_addr: 10.213.255.9\"; print \"  }\"; next }
		/config_version:/ { print \"  config_version: \" v; next }
		{ print }" /etc/pve/corosync.conf >/etc/pve/corosync.conf.new &&
	mv /etc/pve/corosync.conf.new /etc/pve/corosync.conf
}
export -f with_hostile_node

test_expect_success 'delnode refuses a node whose name would lead outside /etc/pve/nodes' '
	cp /etc/pve/corosync.conf good.conf &&
	mkdir -p /run/canary/inside && echo keep >/run/canary/inside/file &&
	with_hostile_node ../../../run/canary &&
	test_must_fail pvecm delnode 10.213.255.9 2>err &&
	cat err &&
	test $(wc -l <err) = 1 &&
	grep -q "invalid node name .\.\./\.\./\.\./run/canary." err &&
	test "$(cat /run/canary/inside/file)" = keep &&
	grep -q "name: ../../../run/canary" /etc/pve/corosync.conf &&
	! grep -q "run/canary" /etc/corosync/corosync.conf &&
	grep -q "invalid node name" "$(node_log n1)"
'

test_expect_success 'delnode refuses a node with an empty name: every node directory stays' '
	cp good.conf /etc/pve/corosync.conf.new && mv /etc/pve/corosync.conf.new /etc/pve/corosync.conf &&
	with_hostile_node "" &&
	test_must_fail pvecm delnode 10.213.255.9 2>err &&
	cat err &&
	grep -q "invalid node name" err &&
	test -d /etc/pve/nodes/n1 &&
	cp good.conf /etc/pve/corosync.conf.new && mv /etc/pve/corosync.conf.new /etc/pve/corosync.conf
'

test_expect_success 'pvecm keygen writes a new key and never replaces one' '
	pvecm keygen "$TRASH/key" &&
	test "$(stat -c "%a %s" "$TRASH/key")" = "400 256" &&
	cp "$TRASH/key" "$TRASH/key.orig" &&
	test_must_fail pvecm keygen "$TRASH/key" 2>err &&
	grep -q "already exists" err &&
	cmp "$TRASH/key" "$TRASH/key.orig" &&
	test_must_fail pvecm keygen /nonexistent-dir/sub/key 2>err &&
	test "$(wc -l <err)" = 1
'

test_expect_success 'without --link0, the address of the node name is used; options land in the file' '
	node_sh n2 "
		pvecm create second --nodeid 7 --votes 2 --token-coefficient 300 >out 2>err &&
		cat out err &&
		grep -q \"No --link0 given: using $(node_ip n2)\" out &&
		grep -q \"^    ring0_addr: $(node_ip n2)\$\" /etc/pve/corosync.conf &&
		grep -q \"^    nodeid: 7\$\" /etc/pve/corosync.conf &&
		grep -q \"^    quorum_votes: 2\$\" /etc/pve/corosync.conf &&
		grep -q \"^  token_coefficient: 300\$\" /etc/pve/corosync.conf &&
		! grep -q knet_link_priority /etc/pve/corosync.conf &&
		corosync-cmapctl -g runtime.votequorum.this_node_id | grep -q \"= 7\$\"
	"
'

test_expect_success 'a failed corosync start is undone: key and configs removed, the old file back' '
	node_sh n3 "
		printf \"# corosync example\ntotem {\n  version: 2\n}\n\" >/etc/corosync/corosync.conf &&
		cp /etc/corosync/corosync.conf example.orig &&
		printf \"#!/bin/sh\necho unit \\\$2 failed to start >&2\nexit 1\n\" >failing &&
		chmod +x failing &&
		PVECM_SERVICE_CMD=\$PWD/failing test_must_fail pvecm create third >out 2>err &&
		cat out err &&
		grep -q \"failed to start\" err &&
		grep -q \"nothing changed\" err &&
		test ! -e /etc/corosync/authkey &&
		test ! -e /etc/pve/corosync.conf &&
		cmp /etc/corosync/corosync.conf example.orig &&
		echo still-writable >/etc/pve/check
	"
'

test_expect_success 'host names given as links are stored as addresses' '
	node_sh n3 "
		pvecm create third --link0 n3 >out 2>err &&
		cat out err &&
		grep -q \"^    ring0_addr: $(node_ip n3)\$\" /etc/pve/corosync.conf &&
		! grep -q \"ring0_addr: n3\" /etc/pve/corosync.conf &&
		test \"\$(node_pve_quorate n3)\" = 1
	"
'

test_done
