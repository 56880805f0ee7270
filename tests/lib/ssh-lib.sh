# sshd in harness nodes, sourced by test-lib.sh (so test bodies run inside
# a node have it too).
#
#	node_start_sshd n1	# host key, root password, sshd on port 22
#	node_ssh_fingerprint n1	# SHA256:... of its host key
#
# Each node has its own /etc/ssh host key (made in the node's overlay of
# /etc, so the host's keys are not shared), its own /root/.ssh, and root's
# password $TEST_ROOT_PASSWORD in the node's own /etc/shadow. sshd reads
# /root/.ssh/environment, which carries the harness's variables, so that
# `pvecm` run over SSH is the one under test and starts services through
# the harness (PVECM_SERVICE_CMD) in the node it runs in.

TEST_ROOT_PASSWORD=${TEST_ROOT_PASSWORD:-pvecm-test-root}
export TEST_ROOT_PASSWORD

# test_require_sshd: sshd and the key tools, or skip
test_require_sshd () {
	local p
	for p in /usr/sbin/sshd ssh ssh-keygen chpasswd; do
		command -v "$p" >/dev/null ||
			skip_all "needs $p (tests/install-deps.sh installs openssh-server)"
	done
}

# node_ssh_keygen NAME: a new host key for the node, as a reinstall makes
node_ssh_keygen () {
	node_sh "$1" '
		rm -f /etc/ssh/ssh_host_*key /etc/ssh/ssh_host_*key.pub &&
		ssh-keygen -q -t ed25519 -N "" -C "root@$(hostname)" -f /etc/ssh/ssh_host_ed25519_key
	'
}

# node_ssh_fingerprint NAME: the fingerprint of its host key, as
# `ssh-keygen -lf` prints it
node_ssh_fingerprint () {
	node_sh "$1" 'ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub' | awk '{ print $2 }'
}

node_sshd_pid () {
	local f="$TRASH/nodes/$1/sshd.pid"
	[ -s "$f" ] && cat "$f"
}

# node_start_sshd NAME: root may log in with the password or a key
node_start_sshd () {
	local name=$1 dir="$TRASH/nodes/$1" anchor
	anchor=$(node_anchor "$name") || return 1
	if [ ! -s "$dir/ssh-ready" ]; then
		node_ssh_keygen "$name" || return 1
		node_sh "$name" '
			mkdir -p /run/sshd /root/.ssh && chmod 700 /root/.ssh &&
			printf "root:%s\n" "$TEST_ROOT_PASSWORD" | chpasswd &&
			env | grep -E "^(TEST_[A-Z0-9_]*|TRASH|BUILD|SRC_ROOT|PVECM_[A-Z_]*|CLUSTER_[A-Z_]*|PVE[A-Z_]*|LC_ALL|PATH)=" \
				>/root/.ssh/environment
		' || return 1
		say ok >"$dir/ssh-ready"
	fi
	node_sh "$name" 'mkdir -p /run/sshd' || return 1
	(
		trap - EXIT INT TERM HUP
		exec nsenter -t "$anchor" -n -m -u -- /usr/sbin/sshd -D -e \
			-o HostKey=/etc/ssh/ssh_host_ed25519_key \
			-o PermitRootLogin=yes -o PasswordAuthentication=yes \
			-o KbdInteractiveAuthentication=no -o PermitUserEnvironment=yes \
			-o UseDNS=no -o PidFile=none \
			</dev/null >>"$dir/sshd.log" 2>&1
	) &
	say $! >"$dir/sshd.pid"
	wait_for "sshd on $name to listen on port 22" 10 \
		"nsenter -t $anchor -n -- ss -Hltn 'sport = :22' | grep -q LISTEN"
}

# node_stop_sshd NAME
node_stop_sshd () {
	local pid
	pid=$(node_sshd_pid "$1") || return 0
	kill "$pid" 2>/dev/null
	wait_for "sshd on $1 to exit" 5 "! pid_alive $pid"
	rm -f "$TRASH/nodes/$1/sshd.pid"
}

# ssh_nodes_start NODE...: sshd and pmxcfsd (local mode until a join) on
# every node, the way the join tests begin; then N1 and FP1 name n1's
# address and host key fingerprint, for the joins that follow.
ssh_nodes_start () {
	local n
	for n in "$@"; do
		node_start_sshd "$n" || error "cannot start sshd on $n"
		node_start_pmxcfsd "$n" || error "cannot start pmxcfsd on $n"
	done
	N1=$(node_ip n1)
	FP1=$(node_ssh_fingerprint n1)
	export N1 FP1
}
