# Multi-node corosync harness, sourced by test-lib.sh (so test scripts,
# node_sh and test bodies run inside a node all have it).
#
#	cluster_create 3		# nodes n1..n3, one authkey, one corosync.conf
#	cluster_start_corosync		# all of them, until each sees all
#	cluster_wait_quorate n1
#	node_partition n3
#	cluster_wait_inquorate n3
#	cluster_wait_members n1 2
#	node_heal n3
#
# corosync runs in the foreground inside its node, with the real default
# paths (/etc/corosync, /run, /var/lib/corosync are the node's own), its
# output appended to $TRASH/nodes/<name>/corosync.log. That file is named
# *.log in the node's directory, so test_print_logs shows its tail on a
# failure, and the run's cleanup kills corosync with every other process of
# the node's network namespace.
#
# Cluster state is kept in $TRASH (cluster_name, corosync.config_version,
# corosync.authkey) so that the helpers also work inside a node.

# totem token in ms. corosync adds token_coefficient (default 650 ms) for
# every node past two, so a 16-node cluster waits about 10 s to declare a
# node lost; benchmarks may lower the coefficient.
CLUSTER_TOKEN=${CLUSTER_TOKEN:-1000}
CLUSTER_TOKEN_COEFFICIENT=${CLUSTER_TOKEN_COEFFICIENT:-}
export CLUSTER_TOKEN CLUSTER_TOKEN_COEFFICIENT

# test_require_corosync: the corosync programs the harness runs, or skip
test_require_corosync () {
	local p
	for p in corosync corosync-keygen corosync-cmapctl corosync-quorumtool; do
		command -v "$p" >/dev/null ||
			skip_all "needs $p (tests/install-deps.sh installs corosync)"
	done
}

# cluster_name: the name given to cluster_create
cluster_name () {
	cat "$TRASH/cluster_name" 2>/dev/null || say testclu
}

# cluster_token_timeout_ms: the token timeout corosync derives for the
# nodes configured now (token + (nodes - 2) * token_coefficient)
cluster_token_timeout_ms () {
	local n
	n=$(node_list | wc -l)
	[ "$n" -gt 2 ] || n=2
	say $((CLUSTER_TOKEN + (n - 2) * ${CLUSTER_TOKEN_COEFFICIENT:-650}))
}

# cluster_default_timeout: seconds a membership change may take here: a few
# token timeouts (loss, then consensus and a new ring) plus slack for a
# loaded machine
cluster_default_timeout () {
	say $((10 + 3 * $(cluster_token_timeout_ms) / 1000))
}

# cluster_create N [CLUSTERNAME]: nodes n1..nN, one shared authkey and one
# corosync.conf installed in each; corosync is not started
cluster_create () {
	local count=$1 name=${2:-testclu} i key="$TRASH/corosync.authkey" n
	case $count in
	'' | *[!0-9]* | 0) error "cluster_create: bad node count '$count'" ;;
	esac
	[ -e "$TRASH/cluster_name" ] && error "cluster_create: a cluster exists in this run"
	say "$name" >"$TRASH/cluster_name"
	for i in $(seq 1 "$count"); do
		node_create "n$i" || return 1
	done
	# -l is a no-op kept for compatibility (3.x reads /dev/urandom);
	# passed so that an older corosync-keygen does not block on entropy
	corosync-keygen -k "$key" -l >"$TRASH/corosync-keygen.log" 2>&1 || {
		cat "$TRASH/corosync-keygen.log" >&2
		return 1
	}
	for n in $(node_list); do
		install -m 0400 "$key" "$TRASH/nodes/$n/root/etc/corosync/authkey" || return 1
	done
	cluster_write_corosync_conf
}

# cluster_corosync_conf [CONFIG_VERSION]: prints the corosync.conf for the
# nodes of node_list (nodeid: the node's creation index)
cluster_corosync_conf () {
	local version=${1:-1} n
	cat <<-EOF
	totem {
	  version: 2
	  cluster_name: $(cluster_name)
	  config_version: $version
	  ip_version: ipv4-6
	  secauth: on
	  link_mode: passive
	  token: $CLUSTER_TOKEN
	EOF
	[ -n "$CLUSTER_TOKEN_COEFFICIENT" ] &&
		say "  token_coefficient: $CLUSTER_TOKEN_COEFFICIENT"
	cat <<-EOF
	  interface {
	    linknumber: 0
	  }
	}

	nodelist {
	EOF
	for n in $(node_list); do
		cat <<-EOF
		  node {
		    name: $n
		    nodeid: $(cat "$TRASH/nodes/$n/index")
		    quorum_votes: 1
		    ring0_addr: $(node_ip "$n")
		  }
		EOF
	done
	cat <<-EOF
	}

	quorum {
	  provider: corosync_votequorum
	}

	logging {
	  to_stderr: yes
	  to_syslog: no
	  to_logfile: no
	  timestamp: hires
	}
	EOF
}

# cluster_write_corosync_conf [CONFIG_VERSION]: (re)writes the same
# /etc/corosync/corosync.conf in every node. Replaced by a rename, so a
# corosync reading it never sees half a file. Without a version, the last
# one written is kept (1 at first).
cluster_write_corosync_conf () {
	local version=$1 n f conf="$TRASH/corosync.conf"
	[ -n "$version" ] || version=$(cat "$TRASH/corosync.config_version" 2>/dev/null || say 1)
	cluster_corosync_conf "$version" >"$conf" || return 1
	say "$version" >"$TRASH/corosync.config_version"
	for n in $(node_list); do
		f="$TRASH/nodes/$n/root/etc/corosync/corosync.conf"
		cp "$conf" "$f.tmp" && mv "$f.tmp" "$f" || return 1
	done
}

# node_corosync_pid NAME: pid of the corosync started by node_start_corosync
node_corosync_pid () {
	local f="$TRASH/nodes/$1/corosync.pid"
	[ -s "$f" ] || return 1
	cat "$f"
}

# node_corosync_running NAME: the node's corosync process is alive
node_corosync_running () {
	local pid
	pid=$(node_corosync_pid "$1") && pid_alive "$pid"
}

# node_corosync_log NAME: path of the node's corosync log
node_corosync_log () {
	say "$TRASH/nodes/$1/corosync.log"
}

# node_corosync_mark NAME 'event': a line in the node's corosync log, so
# that what the harness did shows among corosync's own timestamps
node_corosync_mark () {
	say "=== $(date '+%F %T.%N') $2" >>"$TRASH/nodes/$1/corosync.log"
}

# node_corosync_answers NAME: corosync on the node serves its IPC
node_corosync_answers () {
	node_exec "$1" timeout 5 corosync-cmapctl -g totem.cluster_name >/dev/null 2>&1
}

# node_launch_corosync NAME: runs `corosync -f` in the node in the
# background, without waiting for it to answer. Its exit status is recorded
# in the node's corosync.status when it exits.
node_launch_corosync () {
	local name=$1 dir anchor pid
	dir="$TRASH/nodes/$name"
	anchor=$(node_anchor "$name") || return 1
	if node_corosync_running "$name"; then
		say "node_start_corosync: corosync already runs on $name" >&2
		return 1
	fi
	# libqb keeps its IPC ring buffers and corosync's 8 MB blackbox in
	# /dev/shm, and a corosync killed with -9 leaves them behind: give the
	# node a /dev/shm of its own, so they go with the node's mount
	# namespace instead of piling up on the host. Done once per node,
	# before any corosync client ran there.
	if [ ! -e "$dir/shm-mounted" ]; then
		node_exec "$name" mount -t tmpfs -o mode=1777,size=256m "shm-$name" /dev/shm ||
			return 1
		: >"$dir/shm-mounted"
	fi
	rm -f "$dir/corosync.pid" "$dir/corosync.status"
	node_corosync_mark "$name" "node_start_corosync: corosync -f"
	(
		trap - EXIT INT TERM HUP
		nsenter -t "$anchor" -n -m -u -- corosync -f \
			</dev/null >>"$dir/corosync.log" 2>&1 &
		pid=$!
		say "$pid" >"$dir/corosync.pid.tmp"
		mv "$dir/corosync.pid.tmp" "$dir/corosync.pid"
		wait "$pid"
		say $? >"$dir/corosync.status.tmp"
		mv "$dir/corosync.status.tmp" "$dir/corosync.status"
	) </dev/null >/dev/null 2>&1 &
	wait_for "the pid of corosync on $name" 5 "test -s '$dir/corosync.pid'"
}

# node_wait_corosync_answers NAME: waits (10 s at most) until the launched
# corosync answers on its IPC; fails at once if it exits before
node_wait_corosync_answers () {
	local name=$1 dir="$TRASH/nodes/$1" pid end
	pid=$(node_corosync_pid "$name") || return 1
	end=$(($(now_us) + 10000000))
	while ! node_corosync_answers "$name"; do
		if [ -e "$dir/corosync.status" ]; then
			say "node_start_corosync: corosync on $name exited with status $(cat "$dir/corosync.status") before answering" >&2
			tail -n 20 "$dir/corosync.log" | sed 's/^/    /' >&2
			rm -f "$dir/corosync.pid"
			return 1
		fi
		if [ "$(now_us)" -ge "$end" ]; then
			say "node_start_corosync: gave up after 10s waiting for corosync (pid $pid) on $name to answer" >&2
			return 1
		fi
		sleep 0.02
	done
}

# node_start_corosync NAME: runs `corosync -f` in the node in the
# background and waits until it answers on its IPC; refused if the node's
# corosync runs already
node_start_corosync () {
	node_launch_corosync "$1" && node_wait_corosync_answers "$1"
}

# node_wait_corosync_exit NAME TIMEOUT: waits for the exit, prints the exit
# status and forgets the process
node_wait_corosync_exit () {
	local dir="$TRASH/nodes/$1"
	wait_for "corosync (pid $(cat "$dir/corosync.pid" 2>/dev/null)) on $1 to exit" "$2" \
		"test -e '$dir/corosync.status'" || return 1
	cat "$dir/corosync.status"
	rm -f "$dir/corosync.pid" "$dir/corosync.status"
}

# node_stop_corosync NAME: SIGTERM; SIGKILL if it has not exited after
# 10 s, which fails (a corosync that hangs on SIGTERM is worth a failure)
node_stop_corosync () {
	local name=$1 pid status
	pid=$(node_corosync_pid "$name") || {
		say "node_stop_corosync: no corosync known on $name" >&2
		return 1
	}
	node_corosync_mark "$name" "node_stop_corosync: SIGTERM to $pid"
	kill -TERM "$pid" || return 1
	if status=$(node_wait_corosync_exit "$name" 10); then
		if [ "$status" != 0 ]; then
			say "node_stop_corosync: corosync on $name exited with status $status after SIGTERM" >&2
			return 1
		fi
		return 0
	fi
	say "node_stop_corosync: corosync on $name ignored SIGTERM for 10s: SIGKILL" >&2
	kill -KILL "$pid"
	node_wait_corosync_exit "$name" 10 >/dev/null
	return 1
}

# node_kill9_corosync NAME: SIGKILL, then wait for the exit
node_kill9_corosync () {
	local name=$1 pid status
	pid=$(node_corosync_pid "$name") || {
		say "node_kill9_corosync: no corosync known on $name" >&2
		return 1
	}
	node_corosync_mark "$name" "node_kill9_corosync: SIGKILL to $pid"
	kill -KILL "$pid" || return 1
	status=$(node_wait_corosync_exit "$name" 10) || return 1
	if [ "$status" != 137 ]; then
		say "node_kill9_corosync: corosync on $name exited with status $status, not by SIGKILL" >&2
		return 1
	fi
}

# node_corosync_quorumtool NAME: `corosync-quorumtool -s` in the node; its
# exit status is 2 when inquorate, so callers read the output instead. A
# client call may block while corosync is busy forming a ring: bounded, so
# that the waits around it keep their deadline.
node_corosync_quorumtool () {
	node_exec "$1" timeout 5 corosync-quorumtool -s 2>&1
}

# node_corosync_members NAME: how many nodes corosync on NAME sees in its
# membership (nothing printed, status 1, when corosync does not answer)
node_corosync_members () {
	node_corosync_quorumtool "$1" |
		awk -F: '$1 == "Nodes" { gsub(/[ \t]/, "", $2); n = $2 }
			END { if (n == "") exit 1; print n }'
}

# node_quorate NAME: votequorum on NAME says quorate
node_quorate () {
	node_corosync_quorumtool "$1" |
		awk -F: '$1 == "Quorate" { gsub(/[ \t]/, "", $2); q = $2 }
			END { exit q != "Yes" }'
}

# node_inquorate NAME: corosync on NAME answers and says not quorate
# (unlike `! node_quorate`, which a dead corosync satisfies too)
node_inquorate () {
	node_corosync_quorumtool "$1" |
		awk -F: '$1 == "Quorate" { gsub(/[ \t]/, "", $2); q = $2 }
			END { exit q != "No" }'
}

# cluster_wait_members NAME COUNT [TIMEOUT]: until corosync on NAME sees
# COUNT members
cluster_wait_members () {
	wait_for "corosync on $1 to see $2 members" "${3:-$(cluster_default_timeout)}" \
		"test \"\$(node_corosync_members '$1')\" = '$2'" || {
		node_corosync_quorumtool "$1" >&2
		return 1
	}
}

# cluster_wait_quorate NAME [TIMEOUT]
cluster_wait_quorate () {
	wait_for "corosync on $1 to be quorate" "${2:-$(cluster_default_timeout)}" \
		"node_quorate '$1'" || {
		node_corosync_quorumtool "$1" >&2
		return 1
	}
}

# cluster_wait_inquorate NAME [TIMEOUT]
cluster_wait_inquorate () {
	wait_for "corosync on $1 to be inquorate" "${2:-$(cluster_default_timeout)}" \
		"node_inquorate '$1'" || {
		node_corosync_quorumtool "$1" >&2
		return 1
	}
}

# cluster_wait_merged NAME COUNT [TIMEOUT]: after a heal, until corosync on
# NAME sees COUNT members again. knet has been seen (once in many hundred
# heals, on a loaded machine) to keep a healed node alone past any timeout:
# then every node's link status goes to stderr, the node's port on the
# switch is bounced once, and the wait starts over. A node that does not
# merge after that fails the wait.
cluster_wait_merged () {
	local n
	cluster_wait_members "$@" && return 0
	for n in $(node_list); do
		node_corosync_running "$n" || continue
		say "corosync-cfgtool -n on $n:" >&2
		node_exec "$n" corosync-cfgtool -n >&2
	done
	say "# corosync on $1 did not merge after the heal: its link is bounced once"
	node_corosync_mark "$1" "cluster_wait_merged: link bounced"
	node_link_down "$1" && node_link_up "$1" &&
		cluster_wait_members "$@"
}

# cluster_start_corosync [NODES...]: starts corosync on the nodes (default:
# all), then waits until each of them sees every node that runs corosync
# and is not cut off (the ones already running count too: they are what
# the started ones join); a node that is cut off waits to see itself alone
cluster_start_corosync () {
	local n nodes want=0
	nodes=${*:-$(node_list)}
	# all launched before any is waited for: knet takes a second or two
	# to bring a link up, and this way the nodes spend it together
	for n in $nodes; do
		node_launch_corosync "$n" || return 1
	done
	for n in $nodes; do
		node_wait_corosync_answers "$n" || return 1
	done
	for n in $(node_list); do
		node_corosync_running "$n" && [ ! -e "$TRASH/nodes/$n/partitioned" ] &&
			want=$((want + 1))
	done
	for n in $nodes; do
		if [ -e "$TRASH/nodes/$n/partitioned" ]; then
			cluster_wait_members "$n" 1 || return 1
		else
			cluster_wait_members "$n" "$want" || return 1
		fi
	done
}

# node_partition NAME / node_heal NAME: cut the node off the switch and
# reconnect it (its corosync keeps running and sees itself alone)
node_partition () {
	[ -e "$TRASH/nodes/$1/corosync.log" ] && node_corosync_mark "$1" "node_partition"
	node_link_down "$1" && : >"$TRASH/nodes/$1/partitioned"
}

node_heal () {
	[ -e "$TRASH/nodes/$1/corosync.log" ] && node_corosync_mark "$1" "node_heal"
	node_link_up "$1" && rm -f "$TRASH/nodes/$1/partitioned"
}

# ---------------------------------------------------------------------------
# pmxcfsd in cluster mode

# node_pve_quorate NAME: prints 1 when the node's pmxcfsd is synced and holds
# write quorum, 0 when it does not (from .members); fails when it cannot be
# asked, so that a failed read is never taken for either state
node_pve_quorate () {
	local v
	v=$(node_exec "$1" cat "$PVE/.members" | json_get cluster quorate) || return 1
	case $v in
	0 | 1) say "$v" ;;
	*) return 1 ;;
	esac
}

# cluster_wait_pve_writable NAME...: until /etc/pve accepts writes on each
cluster_wait_pve_writable () {
	local n
	for n in "$@"; do
		wait_for "/etc/pve on $n to be writable" "$(cluster_default_timeout)" \
			"test \"\$(node_pve_quorate $n)\" = 1" || return 1
	done
}

# cluster_wait_pve_readonly NAME...: until /etc/pve refuses writes on each
cluster_wait_pve_readonly () {
	local n
	for n in "$@"; do
		wait_for "/etc/pve on $n to be read-only" "$(cluster_default_timeout)" \
			"test \"\$(node_pve_quorate $n)\" = 0" || return 1
	done
}

# cluster_wait_file NODE PATH CONTENT: until PATH on NODE holds exactly
# CONTENT (as $(cat) gives it: without the last newline). A write is
# answered once a quorum applied it; another node may apply it a moment
# later, so a test that reads that node waits for it.
cluster_wait_file () {
	local node=$1 path=$2 content=$3
	CWF_CONTENT=$content wait_for "$path on $node to hold '$content'" \
		"$(cluster_default_timeout)" \
		"test \"\$(node_exec $node cat $path)\" = \"\$CWF_CONTENT\""
}

# node_tree_digest NAME: one hash over the node's tree: every path with its
# type, size and mtime, and the content of every file. The virtual files
# and the per-node links are left out (they differ by design).
node_tree_digest () {
	node_exec "$1" sh -c '
		cd "$1" || exit 1
		find . -mindepth 1 -name ".*" -prune -o ! -type l -printf "%p %y %s %T@\n" | sort
		find . -mindepth 1 -name ".*" -prune -o -type f -print0 | sort -z | xargs -0r sha256sum
	' digest "$PVE" | sha256sum | cut -d' ' -f1
}

# cluster_wait_trees_equal NAME...: until all the nodes hold the same tree
cluster_wait_trees_equal () {
	local first=$1
	wait_for "identical trees on $*" 30 '
		d=$(node_tree_digest '"$first"') && ok=1 &&
		for n in '"$*"'; do [ "$(node_tree_digest $n)" = "$d" ] || ok=0; done &&
		[ $ok = 1 ]
	'
}

# cluster_start_pmxcfsd [NODES...]: pmxcfsd in cluster mode on the nodes
# (default: all), each serving its mount before the next starts
cluster_start_pmxcfsd () {
	local n
	for n in ${*:-$(node_list)}; do
		node_start_pmxcfsd "$n" || return 1
	done
}
