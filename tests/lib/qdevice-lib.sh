# corosync-qnetd hosts and corosync-qdevice in harness nodes, sourced by
# test-lib.sh (so service.sh, run inside a node, has it too).
#
#	qnetd_host_create q		# a host on the test network, not a node:
#					# sshd and corosync-qnetd
#	node_stop_qnetd q / node_start_qnetd q
#	node_start_qdevice n1		# what `service.sh start corosync-qdevice` runs
#
# The qnetd host is a harness node (its own network, mount and UTS
# namespaces) that never runs corosync or pmxcfsd. Its /etc/corosync is
# its own like every node's, so corosync-qnetd-certutil makes its CA there
# and not in the host's /etc/corosync/qnetd. Both daemons run as root in
# the foreground; output goes to qnetd.log / qdevice.log in the node's
# directory, where test_print_logs finds it.

# test_require_qdevice: the qnetd and qdevice programs, or skip
test_require_qdevice () {
	local p
	for p in corosync-qnetd corosync-qnetd-certutil corosync-qnetd-tool \
		corosync-qdevice corosync-qdevice-net-certutil corosync-qdevice-tool; do
		command -v "$p" >/dev/null ||
			skip_all "needs $p (tests/install-deps.sh installs corosync-qnetd and corosync-qdevice)"
	done
}

# node_daemon_launch NAME DAEMON ARGS...: runs DAEMON ARGS in the node in
# the background; its pid goes to DAEMON.pid in the node's directory, its
# exit status to DAEMON.status when it exits
node_daemon_launch () {
	local name=$1 daemon=$2 dir anchor pid
	shift 2
	dir="$TRASH/nodes/$name"
	anchor=$(node_anchor "$name") || return 1
	rm -f "$dir/$daemon.pid" "$dir/$daemon.status"
	say "=== $(date '+%F %T.%N') $daemon $*" >>"$dir/$daemon.log"
	(
		trap - EXIT INT TERM HUP
		nsenter -t "$anchor" -n -m -u -- "$daemon" "$@" \
			</dev/null >>"$dir/$daemon.log" 2>&1 &
		pid=$!
		say "$pid" >"$dir/$daemon.pid.tmp"
		mv "$dir/$daemon.pid.tmp" "$dir/$daemon.pid"
		wait "$pid"
		say $? >"$dir/$daemon.status.tmp"
		mv "$dir/$daemon.status.tmp" "$dir/$daemon.status"
	) </dev/null >/dev/null 2>&1 &
	wait_for "the pid of $daemon on $name" 5 "test -s '$dir/$daemon.pid'"
}

# node_daemon_running NAME DAEMON
node_daemon_running () {
	local f="$TRASH/nodes/$1/$2.pid"
	[ -s "$f" ] && pid_alive "$(cat "$f")"
}

# node_daemon_wait NAME DAEMON 'answers': until the shell condition holds
# inside the node (10 s at most); fails at once if the daemon exits
node_daemon_wait () {
	local name=$1 daemon=$2 cond=$3 dir="$TRASH/nodes/$1"
	wait_for "$daemon on $name to answer" 10 \
		"test -e '$dir/$daemon.status' || node_sh '$name' '$cond'" || return 1
	if [ -e "$dir/$daemon.status" ]; then
		say "$daemon on $name exited with status $(cat "$dir/$daemon.status")" >&2
		tail -n 20 "$dir/$daemon.log" | sed 's/^/    /' >&2
		rm -f "$dir/$daemon.pid"
		return 1
	fi
}

# node_daemon_stop NAME DAEMON: SIGTERM, then wait for the exit
node_daemon_stop () {
	local name=$1 daemon=$2 dir="$TRASH/nodes/$1" pid
	[ -s "$dir/$daemon.pid" ] || return 0
	pid=$(cat "$dir/$daemon.pid")
	kill -TERM "$pid" 2>/dev/null
	wait_for "$daemon (pid $pid) on $name to exit" 10 "test -e '$dir/$daemon.status'" || {
		kill -KILL "$pid"
		return 1
	}
	rm -f "$dir/$daemon.pid" "$dir/$daemon.status"
}

node_start_qnetd () {
	node_sh "$1" '
		mkdir -p /run/corosync-qnetd &&
		{ [ -s /etc/corosync/qnetd/nssdb/qnetd-cacert.crt ] ||
			corosync-qnetd-certutil -i >/dev/null; }
	' || return 1
	node_daemon_launch "$1" corosync-qnetd -f &&
	node_daemon_wait "$1" corosync-qnetd "corosync-qnetd-tool -s"
}

node_stop_qnetd () {
	node_daemon_stop "$1" corosync-qnetd
}

node_qnetd_running () {
	node_daemon_running "$1" corosync-qnetd
}

# node_start_qdevice NAME: corosync-qdevice, once the node's corosync has
# a quorum device configured (it exits otherwise)
node_start_qdevice () {
	node_exec "$1" mkdir -p /run/corosync-qdevice || return 1
	node_daemon_launch "$1" corosync-qdevice -f &&
	node_daemon_wait "$1" corosync-qdevice "corosync-qdevice-tool -s"
}

node_stop_qdevice () {
	node_daemon_stop "$1" corosync-qdevice
}

node_qdevice_running () {
	node_daemon_running "$1" corosync-qdevice
}

# qnetd_host_create NAME: a host on the test network with sshd and
# corosync-qnetd, its own host key and root password (ssh-lib.sh)
qnetd_host_create () {
	node_create "$1" &&
	node_start_sshd "$1" &&
	node_start_qnetd "$1"
}
