#!/bin/bash
test_description='pvecm qdevice setup and remove: an external vote from a real corosync-qnetd

Two nodes, n1 and n2, form a cluster the manual'"'"'s way (create, add over
SSH); a third host, q, is not a node: it runs sshd and corosync-qnetd.
Refusals (qnetd unreachable, an unknown or wrong host key, qnetd not
running, a failure while signing, a failure starting corosync-qdevice)
leave corosync.conf and the nodes as they were. Then setup: the device
votes, status shows it on both nodes, and with n2 cut off n1 keeps quorum
and a writable /etc/pve; with qnetd stopped both nodes keep quorum, and
the vote returns when it starts again. While a device is configured, add
and delnode refuse. After remove, n3 joins, and the three-node cluster
gets a device only with --force, which uses lms.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync
test_require_sshd
test_require_qdevice
test_require_program pvecm

for n in n1 n2 n3; do
	node_create $n
done
ssh_nodes_start n1 n2 n3
# the run's CA, so that create does not make one (t0710 tests that)
node_seed_ca n1 || error "cannot put the test CA in place on n1"
qnetd_host_create q
Q=$(node_ip q)
FPQ=$(node_ssh_fingerprint q)

# qd_state NODE: what a refused or undone setup must leave as it was:
# corosync.conf (config_version included) byte for byte, the node's
# qdevice state, temporary files in /etc/pve, the daemon and its mark
qd_state () {
	node_sh "$1" '
		sha256sum /etc/pve/corosync.conf /etc/corosync/corosync.conf
		ls -a /etc/corosync /etc/pve/priv
		test -e /etc/corosync/qdevice && echo qdevice state dir
		node_qdevice_running "$(hostname)" && echo qdevice runs
		test -e "$TRASH/nodes/$(hostname)/corosync-qdevice.enabled" && echo enabled
	' | sha256sum
}

# setup_refused WHAT [STDIN] -- ARGS: `pvecm qdevice setup` on n1 fails
# with an error line containing WHAT; no node changed
setup_refused () {
	local what=$1 input=$2 n before=
	shift 3
	for n in $QD_NODES; do
		before="$before $(qd_state $n)"
	done
	printf "%s\n" "$input" >stdin &&
	test_must_fail node_exec n1 pvecm qdevice setup "$@" <stdin >out 2>err &&
	cat out err &&
	grep "^pvecm qdevice setup: " err | grep -q -- "$what" || return 1
	after=
	for n in $QD_NODES; do
		after="$after $(qd_state $n)"
	done
	test "$after" = "$before"
}
QD_NODES="n1 n2"

# status_has_device NODE VOTES: pvecm status on NODE shows the device
# voting with VOTES, expected votes of all nodes plus VOTES
status_has_device () {
	local expected
	expected=$(($(echo $QD_NODES | wc -w) + $2))
	node_exec "$1" pvecm status >status.$1 &&
	grep -q "^Expected votes:   $expected$" status.$1 &&
	grep -q "^Flags:            Quorate Qdevice $" status.$1 &&
	grep -q "^    Nodeid      Votes    Qdevice Name$" status.$1 &&
	grep -Eq "^0x00000000 +$2 +Qdevice$" status.$1 &&
	test "$(grep -c "A,V,NMW" status.$1)" = "$(echo $QD_NODES | wc -w)"
}

wait_device_votes () {
	wait_for "the device to vote on $1" 30 "status_has_device $1 $2" || {
		cat status.$1
		return 1
	}
}

test_expect_success 'n1 creates the cluster and n2 joins it' '
	node_exec n1 pvecm create testclu >out 2>&1 &&
	printf "%s\n" "$TEST_ROOT_PASSWORD" |
		node_exec n2 pvecm add "$N1" --fingerprint "$FP1" >out 2>&1 &&
	cluster_wait_pve_writable n1 n2
'

test_expect_success 'setup without a cluster is refused' '
	test_must_fail node_exec n3 pvecm qdevice setup "$Q" </dev/null 2>err &&
	cat err &&
	grep -q "not part of a cluster" err
'

test_expect_success 'setup refuses a qnetd host that does not answer' '
	setup_refused "cannot connect to" "" -- "$TEST_NET.249"
'

test_expect_success 'setup refuses an unknown host key without --fingerprint (no terminal)' '
	setup_refused "is not known" "$TEST_ROOT_PASSWORD" -- "$Q" &&
	grep -q "$FPQ" err
'

test_expect_success 'setup refuses a wrong --fingerprint' '
	setup_refused "not the given" "$TEST_ROOT_PASSWORD" -- "$Q" \
		--fingerprint SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
'

test_expect_success 'setup refuses a qnetd host where corosync-qnetd does not run' '
	node_stop_qnetd q &&
	setup_refused "corosync-qnetd does not run on $Q" "$TEST_ROOT_PASSWORD" -- "$Q" \
		--fingerprint "$FPQ" &&
	node_start_qnetd q
'

test_expect_success 'setup refuses a --network that is no CIDR or that a node has no address in' '
	setup_refused "not a network in CIDR" "" -- "$Q" --network 10.0.0.300/24 &&
	setup_refused "node .n1. has no address in --network 192.0.2.0/24" "" -- "$Q" \
		--network 192.0.2.0/24
'

# The qnetd host signs nothing: its certutil, found first in the PATH
# that root'"'"'s SSH sessions there get, fails at -s.
test_expect_success 'a failure after the certificates were made is undone on every node' '
	mkdir -p "$TRASH/inject" &&
	cat >"$TRASH/inject/corosync-qnetd-certutil" <<-\EOF &&
	#!/bin/sh
	case " $* " in *" -s "*) echo "signing refused for the test" >&2; exit 1 ;; esac
	exec /usr/bin/corosync-qnetd-certutil "$@"
	EOF
	chmod +x "$TRASH/inject/corosync-qnetd-certutil" &&
	node_sh q "sed -i \"s|^PATH=|PATH=$TRASH/inject:|\" /root/.ssh/environment" &&
	test_when_finished "node_sh q \"sed -i \\\"s|^PATH=$TRASH/inject:|PATH=|\\\" /root/.ssh/environment\"" &&
	setup_refused "did not sign the cluster certificate: signing refused" \
		"$TEST_ROOT_PASSWORD" -- "$Q" --fingerprint "$FPQ" &&
	grep -q "initializing it on all nodes" out &&
	grep -q "every change was undone" err
'

test_expect_success 'a failure starting corosync-qdevice on n2 is undone: corosync.conf without the device, n1 stopped' '
	cat >"$TRASH/qdevice-fails" <<-\EOF &&
	#!/bin/sh
	if [ "$1 $2" = "start corosync-qdevice" ]; then
		echo "unit corosync-qdevice failed to start" >&2
		exit 1
	fi
	exec "$TEST_LIB_DIR/service.sh" "$@"
	EOF
	chmod +x "$TRASH/qdevice-fails" &&
	node_sh n2 "sed -i \"s|^PVECM_SERVICE_CMD=.*|PVECM_SERVICE_CMD=$TRASH/qdevice-fails|\" /root/.ssh/environment" &&
	test_when_finished "node_sh n2 \"sed -i \\\"s|^PVECM_SERVICE_CMD=.*|PVECM_SERVICE_CMD=\$PVECM_SERVICE_CMD|\\\" /root/.ssh/environment\"" &&
	version=$(node_exec n1 pvecm status | sed -n "s/^Config Version: *//p") &&
	printf "%s\n" "$TEST_ROOT_PASSWORD" >stdin &&
	test_must_fail node_exec n1 pvecm qdevice setup "$Q" --fingerprint "$FPQ" <stdin >out 2>err &&
	cat out err &&
	grep -q "cannot start corosync-qdevice on node n2: .*failed to start" err &&
	grep -q "every change was undone" err &&
	for n in n1 n2; do
		node_sh $n "! grep -q device /etc/pve/corosync.conf &&
			grep -q \"config_version: $((version + 2))\" /etc/pve/corosync.conf &&
			test ! -e /etc/corosync/qdevice &&
			test ! -e \"\$TRASH/nodes/$n/corosync-qdevice.enabled\" &&
			! node_qdevice_running $n && ls /etc/pve/priv" >ls.$n || return 1
		! grep -q qdevice ls.$n || return 1
	done
'

test_expect_success 'setup on the two-node cluster: the device votes, status shows it on both nodes' '
	printf "%s\n" "$TEST_ROOT_PASSWORD" |
		node_exec n1 pvecm qdevice setup "$Q" --fingerprint "$FPQ" >out 2>err &&
	cat out err &&
	grep -q "^INFO: signing the cluster certificate on $Q" out &&
	grep -q "^Done: the QDevice on $Q votes for cluster .testclu. (algorithm ffsplit, 1 vote)" out &&
	node_sh n1 "cat /etc/pve/corosync.conf" >conf &&
	grep -A10 "^  device {" conf >device &&
	grep -q "^    model: net$" device &&
	grep -q "^    votes: 1$" device &&
	grep -q "^      tls: on$" device &&
	grep -q "^      host: $Q$" device &&
	grep -q "^      algorithm: ffsplit$" device &&
	for n in n1 n2; do
		wait_device_votes $n 1 &&
		node_qdevice_running $n &&
		test -e "$TRASH/nodes/$n/corosync-qdevice.enabled" &&
		node_sh $n "ls /etc/pve/priv" >ls.$n &&
		! grep -q qdevice ls.$n || return 1
	done &&
	node_exec q corosync-qnetd-tool -l >clients &&
	cat clients &&
	grep -q "Cluster \"testclu\"" clients
'

test_expect_success 'the JSON status carries the device' '
	node_exec n2 pvecm status --output-format json >status.json &&
	test "$(json_get qdevice votes <status.json)" = 1 &&
	test "$(json_get qdevice cast_vote <status.json)" = true &&
	test "$(json_get votequorum flags <status.json)" = "[\"Quorate\",\"Qdevice\"]"
'

test_expect_success 'setup twice is refused and changes nothing' '
	setup_refused "QDevice already configured" "" -- "$Q" --fingerprint "$FPQ"
'

test_expect_success 'n2 cut off: n1 keeps quorum with the device (2 of 3) and stays writable; n2 is read-only' '
	node_partition n2 &&
	cluster_wait_members n1 1 &&
	cluster_wait_quorate n1 &&
	cluster_wait_pve_writable n1 &&
	node_sh n1 "echo alone >/etc/pve/written-alone" &&
	cluster_wait_inquorate n2 &&
	cluster_wait_pve_readonly n2 &&
	test_must_fail node_sh n2 "echo x >/etc/pve/from-n2" &&
	node_heal n2 &&
	cluster_wait_members n1 2 &&
	cluster_wait_pve_writable n1 n2 &&
	node_sh n2 "test \"\$(cat /etc/pve/written-alone)\" = alone"
'

test_expect_success 'qnetd stopped: both nodes stay quorate without its vote; started again, the vote returns' '
	node_stop_qnetd q &&
	wait_for "n1 to lose the device vote" 30 \
		"node_exec n1 pvecm status | grep -Eq \"^0x00000000 +0 +Qdevice \\(votes 1\\)$\"" &&
	node_quorate n1 && node_quorate n2 &&
	test "$(node_pve_quorate n1)" = 1 && test "$(node_pve_quorate n2)" = 1 &&
	node_sh n2 "echo still >/etc/pve/without-qnetd" &&
	node_start_qnetd q &&
	wait_device_votes n1 1 &&
	wait_device_votes n2 1
'

test_expect_success 'while the device is configured, add and delnode refuse with the manual'"'"'s advice' '
	before=$(qd_state n1) &&
	printf "%s\n" "$TEST_ROOT_PASSWORD" >stdin &&
	test_must_fail node_exec n3 pvecm add "$N1" --fingerprint "$FP1" <stdin >out 2>err &&
	cat out err &&
	grep -q "a QDevice is configured - remove it first" err &&
	test_must_fail node_exec n1 pvecm delnode n2 2>err &&
	grep -q "a QDevice is configured - remove it first" err &&
	test_must_fail node_exec n1 pvecm addnode n9 --link0 10.99.0.1 2>err &&
	grep -q "a QDevice is configured - remove it first" err &&
	test "$(qd_state n1)" = "$before" &&
	node_sh n3 "test ! -e /etc/pve/corosync.conf"
'

test_expect_success 'remove: plain votes again on every node, qdevice stopped, state gone' '
	node_exec n2 pvecm qdevice remove >out 2>err &&
	cat out err &&
	tail -n 1 out | grep -qx "Removed Qdevice." &&
	for n in n1 n2; do
		wait_for "expected votes 2 on $n" 20 \
			"node_exec $n pvecm status | grep -q \"^Expected votes:   2$\"" &&
		node_exec $n pvecm status >status.$n &&
		grep -q "^Flags:            Quorate $" status.$n &&
		! grep -q Qdevice status.$n &&
		! node_qdevice_running $n &&
		test ! -e "$TRASH/nodes/$n/corosync-qdevice.enabled" &&
		node_sh $n "test ! -e /etc/corosync/qdevice && ! grep -q device /etc/pve/corosync.conf" ||
		return 1
	done
'

test_expect_success 'remove without a device is refused' '
	before=$(qd_state n1) &&
	test_must_fail node_exec n1 pvecm qdevice remove 2>err &&
	grep -q "No QDevice configured!" err &&
	test "$(qd_state n1)" = "$before"
'

test_expect_success 'after remove n3 joins' '
	printf "%s\n" "$TEST_ROOT_PASSWORD" |
		node_exec n3 pvecm add "$N1" --fingerprint "$FP1" >out 2>err &&
	cat out err &&
	grep -q "successfully added node .n3." out &&
	cluster_wait_members n1 3 &&
	cluster_wait_pve_writable n1 n2 n3
'
QD_NODES="n1 n2 n3"

test_expect_success 'three nodes: setup without --force is refused, nothing changed' '
	setup_refused "Clusters with an odd node count are not officially supported!" \
		"$TEST_ROOT_PASSWORD" -- "$Q" --fingerprint "$FPQ"
'

test_expect_success 'a node offline: setup is refused, naming it' '
	node_partition n3 &&
	cluster_wait_members n1 2 &&
	before=$(qd_state n1) &&
	test_must_fail node_exec n1 pvecm qdevice setup "$Q" --force </dev/null 2>err &&
	grep -q "All nodes must be online! Node n3 is offline, aborting." err &&
	test "$(qd_state n1)" = "$before" &&
	node_heal n3 &&
	cluster_wait_members n1 3 &&
	cluster_wait_pve_writable n1 n2 n3
'

test_expect_success 'three nodes with --force: lms with 2 votes, a warning, the device in status' '
	printf "%s\n" "$TEST_ROOT_PASSWORD" |
		node_exec n2 pvecm qdevice setup "$Q" --fingerprint "$FPQ" --force >out 2>err &&
	cat out err &&
	grep -q "WARNING: odd node count" err &&
	grep -q "(algorithm lms, 2 votes)" out &&
	node_sh n1 "grep -q \"algorithm: lms\" /etc/pve/corosync.conf" &&
	for n in n1 n2 n3; do
		wait_device_votes $n 2 || return 1
	done
'

test_expect_success 'remove, then delnode of a powered-off node works again' '
	node_exec n1 pvecm qdevice remove >out 2>&1 &&
	grep -qx "Removed Qdevice." out &&
	node_stop_pmxcfsd n3 && node_stop_corosync n3 &&
	cluster_wait_members n1 2 &&
	node_exec n1 pvecm delnode n3 &&
	node_sh n1 "! grep -q \"name: n3\" /etc/pve/corosync.conf"
'

test_done
