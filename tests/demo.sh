#!/bin/bash
# A guided tour of a 3-node cluster on this machine: nodes n1, n2 and n3,
# each a network, mount and UTS namespace of its own, with sshd. pvecm
# create makes n1 a cluster; n2 and n3 join it with pvecm add over SSH; a
# file written on one node is read on another; pvecm status; n3 is
# cut off the network, turns read-only and keeps reading while n1 goes on
# writing; once reconnected, n3 catches up.
# Everything it starts is removed at the end, also when it fails or is
# interrupted.
#
# usage: BUILD=build tests/demo.sh   (make demo does this)

. "$(dirname "$0")/lib/test-lib.sh"
[ "$(id -u)" = 0 ] || error "the demo needs root (namespaces and FUSE)"
[ -c /dev/fuse ] || error "the demo needs /dev/fuse"
test_require_program pmxcfsd pvecm
for p in nsenter unshare ip corosync corosync-keygen corosync-quorumtool /usr/sbin/sshd ssh-keygen; do
	command -v "$p" >/dev/null || error "the demo needs $p (tests/install-deps.sh installs it)"
done

# Ctrl-C or kill: the library's EXIT trap removes the nodes, and nothing of
# the run is kept. The signal may land in a wait whose output is discarded,
# so the message goes to the terminal when there is one.
stopped () {
	TEST_NO_KEEP=1
	{ printf '\ndemo %s: removing the nodes\n' "$1" >/dev/tty; } 2>/dev/null ||
		printf '\ndemo %s: removing the nodes\n' "$1" >&2
	exit "$2"
}
trap 'stopped interrupted 130' INT
trap 'stopped terminated 143' TERM

if [ -t 1 ]; then
	bold=$(printf '\033[1m') plain=$(printf '\033[0m')
else
	bold='' plain=''
fi
step () {
	printf '\n%s==> %s%s\n' "$bold" "$*" "$plain"
}

# fail 'what went wrong': shows the tail of the nodes' logs, says what went
# wrong, exits 1 (the library's trap then removes the nodes and keeps their
# logs in the temporary directory it names)
fail () {
	say "" >&2
	TEST_LOG_LINES=15 test_print_logs >&2
	say "demo failed: $*" >&2
	exit 1
}

# run NODE 'command': shows the command as typed on the node, runs it
# there and shows its output; the output is left in $out, the exit status
# is returned
run () {
	local node=$1 rc
	shift
	printf '%s# %s\n' "$node" "$*"
	out=$(node_exec "$node" bash -c "cd /root 2>/dev/null; $*" 2>&1)
	rc=$?
	[ -n "$out" ] && printf '%s\n' "$out"
	return $rc
}

# must NODE 'command': run, and fail the demo if the command fails
must () {
	run "$@" || fail "'$2' failed on $1"
}

# must_print NODE 'command' EXPECTED: run, and fail unless it succeeds and
# prints exactly EXPECTED
must_print () {
	must "$1" "$2"
	[ "$out" = "$3" ] || fail "'$2' on $1 printed '$out', expected '$3'"
}

# writable NODE: the node's pmxcfsd is synced with the others and holds
# write quorum (what .members says as cluster.quorate)
writable () {
	node_exec "$1" cat /etc/pve/.members | json_get cluster quorate | grep -qx 1
}

wait_writable () {
	wait_for "/etc/pve on $1 to be writable" "$DEMO_TIMEOUT" "writable $1" ||
		fail "/etc/pve on $1 did not become writable"
}

# The cluster's token timeout grows with its size; waits allow a few.
DEMO_TIMEOUT=30

step "Three nodes, n1 n2 n3, each in namespaces of its own on this machine"
say "Each has its own network, hostname, /run, /etc/corosync and"
say "/var/lib/pve-cluster; this machine's /etc/pve is not touched."
for n in n1 n2 n3; do
	node_create "$n" || fail "could not create node $n"
done
must n1 'getent hosts n1 n2 n3'

step "Start sshd and pmxcfsd on every node: not in a cluster yet, /etc/pve is local and writable"
for n in n1 n2 n3; do
	node_start_sshd "$n" || fail "sshd did not start on $n"
	node_start_pmxcfsd "$n" || fail "pmxcfsd did not start on $n"
done
must n1 'ls /etc/pve/nodes'

step "Create the cluster on n1"
say "pvecm writes the authkey and corosync.conf, starts corosync, and pmxcfsd"
say "moves to cluster mode keeping every file of /etc/pve."
must n1 'echo "keyboard: en-us" > /etc/pve/datacenter.cfg'
must n1 'pvecm create democlu'
must n1 'pvecm status'
case $out in
*"Quorate:          Yes"*) ;;
*) fail "pvecm status on n1 does not say the new cluster is quorate" ;;
esac

step "n2 and n3 join with 'pvecm add', over SSH to n1"
say "pvecm add checks n1's SSH host key against --fingerprint (here read off"
say "n1 as 'ssh-keygen -lf' shows it), logs in as root with the password (read"
say "from standard input here, asked on a terminal otherwise), has n1 add the"
say "node to corosync.conf, fetches the authkey and corosync.conf, and starts"
say "corosync and pmxcfsd. The node's own /etc/pve is replaced by the cluster's."
fp=$(node_ssh_fingerprint n1) || fail "cannot read the host key fingerprint of n1"
for n in n2 n3; do
	printf '%s# pvecm add %s --fingerprint %s\n' "$n" "$(node_ip n1)" "$fp"
	out=$(printf '%s\n' "$TEST_ROOT_PASSWORD" |
		node_exec "$n" pvecm add "$(node_ip n1)" --fingerprint "$fp" 2>&1) ||
		{ printf '%s\n' "$out"; fail "pvecm add failed on $n"; }
	printf '%s\n' "$out"
done
for n in n1 n2 n3; do
	wait_writable "$n"
done
must n1 'pvecm nodes'

step "Read on n3 what n1 wrote before the cluster existed"
must_print n3 'cat /etc/pve/datacenter.cfg' "keyboard: en-us"
must n3 'ls /etc/pve/nodes'
must n2 'pvecm status'
case $out in
*"Quorate:          Yes"*) ;;
*) fail "pvecm status on n2 does not say the cluster is quorate" ;;
esac

step "Cut n3 off the network: alone it has no quorum, /etc/pve turns read-only"
node_partition n3 || fail "could not cut n3 off"
wait_for "corosync on n3 to lose quorum" "$DEMO_TIMEOUT" "node_inquorate n3" ||
	fail "corosync on n3 did not lose quorum"
wait_for "/etc/pve on n3 to be read-only" "$DEMO_TIMEOUT" "! writable n3" ||
	fail "/etc/pve on n3 did not turn read-only"
must n3 'grep quorate /etc/pve/.members'
run n3 'echo "keyboard: de" > /etc/pve/datacenter.cfg'
rc=$?
[ $rc != 0 ] || fail "a write on the cut-off n3 succeeded"
case $out in
*"Permission denied"*) ;;
*) fail "the write on n3 failed, but not with 'Permission denied'" ;;
esac
say "(reading still works)"
must_print n3 'cat /etc/pve/datacenter.cfg' "keyboard: en-us"

step "n1 and n2 are still a majority: n1 goes on writing"
wait_writable n1
must n1 'printf "name: web\nmemory: 2048\n" > /etc/pve/qemu-server/100.conf'
must n1 'echo "keyboard: fr" > /etc/pve/datacenter.cfg'

step "Reconnect n3: it catches up with what n1 wrote meanwhile"
node_heal n3 || fail "could not reconnect n3"
wait_writable n3
wait_for "n3 to have n1's writes" 10 \
	'test "$(node_exec n3 cat /etc/pve/datacenter.cfg)" = "keyboard: fr"' ||
	fail "n3 did not catch up with n1's writes"
must n3 'grep quorate /etc/pve/.members'
must_print n3 'cat /etc/pve/datacenter.cfg' "keyboard: fr"
must_print n3 'cat /etc/pve/nodes/n1/qemu-server/100.conf' "$(printf 'name: web\nmemory: 2048')"
must n3 'echo "n3 is back" > /etc/pve/motd'
must_print n1 'cat /etc/pve/motd' "n3 is back"

step "Done. Removing the nodes (processes, namespaces, mounts, files)."
# the EXIT trap of the test library removes everything
exit 0
