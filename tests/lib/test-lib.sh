# Test library for the system tests, in the style of git's t/test-lib.sh.
#
# A test script looks like this:
#
#	#!/bin/bash
#	test_description='what this script covers'
#	. "$(dirname "$0")/lib/test-lib.sh"
#	test_require_root
#	node_create n1
#	node_start_pmxcfsd n1 -l
#	test_node n1			# later bodies run inside node n1
#	test_expect_success 'a file can be written' '
#		echo hello >/etc/pve/f && test "$(cat /etc/pve/f)" = hello
#	'
#	test_done
#
# It prints TAP (see tests/run.sh). Options of every test script:
#	-v, --verbose	show the output of every test body
#	-i, --immediate	stop at the first failing test
#	-x		trace the commands of the test bodies (set -x)
#	-d, --debug	keep the temporary directory after the run
#
# Every node is a network namespace (wired to a per-run switch namespace
# holding a bridge) plus a mount and UTS namespace held open by an "anchor"
# process. Inside a node, the real default paths are in use: /run,
# /etc/corosync, /var/lib/pve-cluster, /var/lib/corosync and /etc/hosts are
# bind mounts of per-node directories, and FUSE mounts /etc/pve there without
# being visible to the host or to the other nodes.
#
# Names carry a per-run prefix (pc<pid>): namespaces pc<pid>-<node> and
# pc<pid>-sw. On exit, failure or interruption, a trap kills every process of
# those namespaces and deletes them; a later run removes the leftovers of a
# run that was killed with SIGKILL (its pid is gone).
#
# Node state is kept in files under $TRASH/nodes/<name>/ so that the node
# helpers also work from a test body that runs inside a node (test_node).

# ---------------------------------------------------------------------------
# Paths and environment (also done in library-only mode, inside nodes)

TEST_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_DIR=$(dirname "$TEST_LIB_DIR")
SRC_ROOT=$(dirname "$TEST_DIR")
BUILD=${BUILD:-build}
case $BUILD in
/*) ;;
*) BUILD=$SRC_ROOT/$BUILD ;;
esac
case ":$PATH:" in
*":$BUILD:"*) ;;
*) PATH=$BUILD:$PATH ;;
esac
export BUILD PATH TEST_LIB_DIR TEST_DIR SRC_ROOT
export LC_ALL=C

# The mount point and the paths every node has of its own.
PVE=/etc/pve
PVE_DB=/var/lib/pve-cluster/config.db
PVE_SOCK=/run/pmxcfsd/pmxcfsd.sock
PVE_PIDFILE=/run/pmxcfsd/pmxcfsd.pid
# Directories bind-mounted per node (each starts empty): root's SSH keys
# too, so that nodes never share them with each other or with the host.
TEST_NODE_DIRS=${TEST_NODE_DIRS:-"/run /etc/corosync /var/lib/pve-cluster /var/lib/corosync /root/.ssh"}
# Directories a node sees through an overlay of its own: it reads the
# host's files, and what it writes or creates there (/etc/pve, the mount
# point, say) stays in the node. So nothing a node does, and no write that
# lands under /etc/pve while nothing is mounted there, touches the host.
TEST_NODE_OVERLAYS=${TEST_NODE_OVERLAYS:-"/etc /var/lib"}
export PVE PVE_DB PVE_SOCK PVE_PIDFILE TEST_NODE_DIRS TEST_NODE_OVERLAYS
# pvecm starts and stops daemons of the node it runs in through the harness
export PVECM_SERVICE_CMD="$TEST_LIB_DIR/service.sh"

# ---------------------------------------------------------------------------
# Small helpers

say () {
	printf '%s\n' "$*"
}

error () {
	say "error: $*" >&2
	exit 1
}

# now_us: wall clock in microseconds
now_us () {
	local t=$EPOCHREALTIME
	echo "${t/./}"
}

# wait_for 'what' TIMEOUT_SECONDS 'condition'
# Polls the shell condition until it succeeds, at most TIMEOUT seconds
# (fractions allowed). On timeout says what it waited for, shows the
# condition's output once more and returns 1.
wait_for () {
	local what=$1 timeout=$2 cond=$3 end delay=0.01
	end=$(($(now_us) + $(awk -v t="$timeout" 'BEGIN { printf "%d", t * 1000000 }')))
	while :; do
		if eval "$cond" >/dev/null 2>&1; then
			return 0
		fi
		if [ "$(now_us)" -ge "$end" ]; then
			say "wait_for: gave up after ${timeout}s waiting for: $what" >&2
			say "wait_for: condition: $cond" >&2
			eval "$cond" >&2 2>&1
			return 1
		fi
		sleep "$delay"
		case $delay in
		0.01) delay=0.02 ;;
		0.02) delay=0.05 ;;
		0.05) delay=0.1 ;;
		esac
	done
}

# test_cmp EXPECTED ACTUAL: like cmp, but shows a diff
test_cmp () {
	diff -u "$1" "$2"
}

# test_must_fail CMD...: CMD fails with an ordinary exit code (no signal,
# not "command not found")
test_must_fail () {
	"$@"
	local rc=$?
	if [ $rc = 0 ]; then
		say "test_must_fail: command succeeded: $*" >&2
		return 1
	elif [ $rc -gt 128 ] && [ $rc -le 192 ]; then
		say "test_must_fail: command died of signal $((rc - 128)): $*" >&2
		return 1
	elif [ $rc = 127 ] || [ $rc = 126 ]; then
		say "test_must_fail: command not found or not executable: $*" >&2
		return 1
	fi
	return 0
}

# test_exit_code N CMD...: CMD exits with exactly N
test_exit_code () {
	local want=$1 rc
	shift
	"$@"
	rc=$?
	if [ "$rc" != "$want" ]; then
		say "test_exit_code: expected exit $want, got $rc: $*" >&2
		return 1
	fi
}

# test_errno ERRNO OP ARGS...: the system call OP fails with ERRNO (a name
# such as EEXIST, or OK for success). The call is made by perl, so the errno
# is the one the file system returned, not a tool's guess. Ops:
#   create P | open P | mkdir P | rmdir P | unlink P | rename A B |
#   symlink TARGET P | link A B | chmod OCTAL P | chown UID GID P |
#   truncate P LEN | write P SIZE [OFFSET] | utime ATIME MTIME P | mknod P
test_errno () {
	perl -MPOSIX -MErrno -e '
		use strict;
		my ($want, $op, @a) = @ARGV;
		my $r;
		if ($op eq "create") {
			$r = POSIX::open($a[0], O_CREAT|O_WRONLY|O_EXCL, 0640);
			POSIX::close($r) if defined $r;
		} elsif ($op eq "open") {
			$r = POSIX::open($a[0], O_RDONLY);
			POSIX::close($r) if defined $r;
		} elsif ($op eq "otrunc") {
			$r = POSIX::open($a[0], O_WRONLY|O_TRUNC);
			POSIX::close($r) if defined $r;
		} elsif ($op eq "mkdir") { $r = mkdir($a[0], 0755);
		} elsif ($op eq "rmdir") { $r = rmdir($a[0]);
		} elsif ($op eq "unlink") { $r = unlink($a[0]);
		} elsif ($op eq "rename") { $r = rename($a[0], $a[1]);
		} elsif ($op eq "symlink") { $r = symlink($a[0], $a[1]);
		} elsif ($op eq "link") { $r = link($a[0], $a[1]);
		} elsif ($op eq "chmod") { $r = chmod(oct($a[0]), $a[1]);
		} elsif ($op eq "chown") { $r = chown($a[0], $a[1], $a[2]);
		} elsif ($op eq "truncate") { $r = truncate($a[0], $a[1]);
		} elsif ($op eq "utime") { $r = utime($a[0], $a[1], $a[2]);
		} elsif ($op eq "mknod") { $r = POSIX::mkfifo($a[0], 0640);
		} elsif ($op eq "write") {
			my $fd = POSIX::open($a[0], O_CREAT|O_WRONLY, 0640);
			if (defined $fd) {
				POSIX::lseek($fd, $a[2] // 0, SEEK_SET);
				# short writes are legal: go on until all is
				# written or a write fails
				my $left = $a[1];
				my $n = 1;
				while ($left > 0 && defined $n && $n > 0) {
					my $chunk = $left > 65536 ? 65536 : $left;
					$n = POSIX::write($fd, "x" x $chunk, $chunk);
					$left -= $n if defined $n;
				}
				$r = $left == 0;
				my $e = $!;
				my $c = POSIX::close($fd);
				if ($r && !defined $c) { $r = 0; } elsif (!$r) { $! = $e; }
			}
		} else { die "test_errno: unknown op $op\n"; }
		my $got = $r ? "OK" : ((grep { $!{$_} } keys %!)[0] // "errno " . ($! + 0));
		exit 0 if $got eq $want;
		print STDERR "test_errno: $op @a: expected $want, got $got\n";
		exit 1;
	' -- "$@"
}

# json_get KEY...: reads JSON on stdin and prints the value found by
# walking the keys (array indexes are numbers); objects and arrays are
# printed as JSON. Exit 1 if a key is missing, 2 if stdin is not JSON.
json_get () {
	perl -MJSON::PP -e '
		local $/; my $text = <STDIN>;
		my $v = eval { JSON::PP->new->allow_nonref->decode($text) };
		if (!defined $v && $@) { print STDERR "json_get: not JSON: $@"; exit 2; }
		for my $k (@ARGV) {
			if (ref $v eq "HASH" && exists $v->{$k}) { $v = $v->{$k}; }
			elsif (ref $v eq "ARRAY" && $k =~ /^\d+$/ && $k < @$v) { $v = $v->[$k]; }
			else { print STDERR "json_get: no key \"$k\"\n"; exit 1; }
		}
		if (ref $v eq "HASH" || ref $v eq "ARRAY") {
			print JSON::PP->new->canonical->encode($v), "\n";
		} elsif (JSON::PP::is_bool($v)) {
			print $v ? "true\n" : "false\n";
		} else {
			print defined $v ? "$v\n" : "null\n";
		}
	' -- "$@"
}

# json_keys KEY...: like json_get, but prints the keys of the object found
# (sorted, one a line).
json_keys () {
	json_get "$@" | perl -MJSON::PP -e '
		local $/; my $v = decode_json(<STDIN>);
		ref $v eq "HASH" or die "json_keys: not an object\n";
		print "$_\n" for sort keys %$v;
	'
}

# json_type KEY...: prints number, string, object, array, bool or null
json_type () {
	perl -MJSON::PP -MB -e '
		local $/; my $v = JSON::PP->new->allow_nonref->decode(<STDIN>);
		for my $k (@ARGV) {
			$v = ref $v eq "ARRAY" ? $v->[$k] : $v->{$k};
		}
		if (!defined $v) { print "null\n"; }
		elsif (JSON::PP::is_bool($v)) { print "bool\n"; }
		elsif (ref $v eq "HASH") { print "object\n"; }
		elsif (ref $v eq "ARRAY") { print "array\n"; }
		else {
			my $f = B::svref_2object(\$v)->FLAGS;
			print $f & (B::SVp_IOK | B::SVp_NOK) && !($f & B::SVp_POK) ? "number\n" : "string\n";
		}
	' -- "$@"
}

# ---------------------------------------------------------------------------
# Nodes

node_dir () {
	say "$TRASH/nodes/$1"
}

node_anchor () {
	local f="$TRASH/nodes/$1/anchor.pid"
	[ -s "$f" ] || error "no such node: $1"
	cat "$f"
}

node_ip () {
	cat "$TRASH/nodes/$1/ip"
}

node_ns () {
	say "$TEST_PREFIX-$1"
}

# node_list: the names of the nodes, in creation order
node_list () {
	[ -d "$TRASH/nodes" ] || return 0
	ls -1 "$TRASH/nodes" | while read -r n; do
		say "$(cat "$TRASH/nodes/$n/index") $n"
	done | sort -n | cut -d' ' -f2
}

# node_exec NAME CMD...: run CMD inside the node's namespaces
node_exec () {
	local anchor
	anchor=$(node_anchor "$1") || return 1
	shift
	nsenter -t "$anchor" -n -m -u -- "$@"
}

# node_sh NAME 'shell code': run shell code inside the node, with this
# library's functions available
node_sh () {
	local anchor
	anchor=$(node_anchor "$1") || return 1
	TEST_LIB_CODE=$2 nsenter -t "$anchor" -n -m -u -- \
		bash -c '. "$TEST_LIB_DIR/test-lib.sh"; cd "$TRASH" || exit 1
			node_sh_body_ () { eval "$TEST_LIB_CODE"; }
			node_sh_body_'
}

# node_path NAME PATH: the host's way into PATH as the node sees it
node_path () {
	say "/proc/$(node_anchor "$1")/root$2"
}

# switch_ensure: the switch namespace with its bridge, created once per run
switch_ensure () {
	local sw="$TEST_PREFIX-sw"
	[ -e "/run/netns/$sw" ] && return 0
	ip netns add "$sw" &&
	ip -n "$sw" link set lo up &&
	ip -n "$sw" link add br0 type bridge &&
	ip -n "$sw" link set br0 up
}

# node_write_hosts: (re)write every node's /etc/hosts with all node names.
# Written in place: the file is a bind mount in the node.
node_write_hosts () {
	local n hosts
	hosts=$(
		printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n'
		for n in $(node_list); do
			printf '%s\t%s\n' "$(node_ip "$n")" "$n"
		done
	)
	for n in $(node_list); do
		say "$hosts" >"$TRASH/nodes/$n/root/etc/hosts"
	done
}

# node_set_hosts NAME < content: replace a node's /etc/hosts (in place)
node_set_hosts () {
	cat >"$TRASH/nodes/$1/root/etc/hosts"
}

# node_create NAME [IP]: a new node: network namespace wired to the switch
# (eth0 with IP/24, default $TEST_NET.<index>), its own mount and UTS
# namespace with the per-node directories bind-mounted, hostname NAME.
node_create () {
	local name=$1 ip=$2 idx dir ns sw="$TEST_PREFIX-sw" p anchor
	case $name in
	'' | *[!a-z0-9-]* | -*) error "node_create: bad node name '$name'" ;;
	esac
	dir="$TRASH/nodes/$name"
	[ -e "$dir" ] && error "node_create: node $name exists"
	idx=$(($(node_list | wc -l) + 1))
	[ $idx -le 250 ] || error "node_create: too many nodes"
	ip=${ip:-$TEST_NET.$idx}
	ns="$TEST_PREFIX-$name"
	mkdir -p "$dir/root/etc" || return 1
	for p in $TEST_NODE_DIRS; do
		mkdir -p "$dir/root$p" || return 1
	done
	for p in $TEST_NODE_OVERLAYS; do
		mkdir -p "$dir/overlay$p/upper" "$dir/overlay$p/work" || return 1
	done
	mkdir -p "$dir/root/run/lock" "$dir/root/run/pmxcfsd"
	: >"$dir/root/etc/hosts"
	say "$idx" >"$dir/index"
	say "$ip" >"$dir/ip"
	switch_ensure || return 1
	ip netns add "$ns" || return 1
	ip -n "$sw" link add "v$idx" type veth peer name eth0 netns "$ns" &&
	ip -n "$sw" link set "v$idx" master br0 &&
	ip -n "$sw" link set "v$idx" up &&
	ip -n "$ns" link set lo up &&
	ip -n "$ns" addr add "$ip/24" dev eth0 &&
	ip -n "$ns" link set eth0 up || return 1
	node_write_hosts
	# The anchor: mounts the overlays, binds the per-node directories
	# (a missing mount point is created in an overlay, or on the host
	# when no overlay covers it), creates /etc/pve, sets the hostname,
	# then holds the namespaces open. Its pid file appears when ready.
	ip netns exec "$ns" unshare -m -u --propagation private \
		/bin/sh -c '
			set -e
			dir=$1 name=$2 overlays=$3 pve=$4
			shift 4
			for p in $overlays; do
				mount -t overlay "overlay-$name" -o \
					"lowerdir=$p,upperdir=$dir/overlay$p/upper,workdir=$dir/overlay$p/work" "$p"
			done
			for p in "$@"; do
				mkdir -p "$p"
				mount --bind "$dir/root$p" "$p"
			done
			mount --bind "$dir/root/etc/hosts" /etc/hosts
			mkdir -p "$pve"
			hostname "$name"
			echo $$ >"$dir/anchor.pid.tmp"
			mv "$dir/anchor.pid.tmp" "$dir/anchor.pid"
			exec sleep infinity
		' anchor "$dir" "$name" "$TEST_NODE_OVERLAYS" "$PVE" $TEST_NODE_DIRS \
		</dev/null >"$dir/anchor.log" 2>&1 &
	wait_for "the anchor of node $name" 10 "test -s '$dir/anchor.pid'" || {
		cat "$dir/anchor.log" >&2
		return 1
	}
	anchor=$(cat "$dir/anchor.pid")
	[ "$(node_exec "$name" hostname)" = "$name" ] || error "node_create: hostname of $name not set"
}

# node_link_down NAME / node_link_up NAME: cut a node off the switch
node_link_down () {
	ip -n "$TEST_PREFIX-sw" link set "v$(cat "$TRASH/nodes/$1/index")" down
}

node_link_up () {
	ip -n "$TEST_PREFIX-sw" link set "v$(cat "$TRASH/nodes/$1/index")" up
}

# node_add_link1 NAME: a second network for the node, as a separate cluster
# network: eth1 on bridge br1 of the switch, address node_link1_ip NAME
node_add_link1 () {
	local name=$1 idx sw="$TEST_PREFIX-sw" ns="$TEST_PREFIX-$1"
	idx=$(cat "$TRASH/nodes/$name/index") || return 1
	if ! ip -n "$sw" link show br1 >/dev/null 2>&1; then
		ip -n "$sw" link add br1 type bridge && ip -n "$sw" link set br1 up || return 1
	fi
	ip -n "$sw" link add "w$idx" type veth peer name eth1 netns "$ns" &&
	ip -n "$sw" link set "w$idx" master br1 &&
	ip -n "$sw" link set "w$idx" up &&
	ip -n "$ns" addr add "$TEST_NET1.$idx/24" dev eth1 &&
	ip -n "$ns" link set eth1 up &&
	say "$TEST_NET1.$idx" >"$TRASH/nodes/$name/ip1"
}

node_link1_ip () {
	cat "$TRASH/nodes/$1/ip1"
}

# node_link1_down NAME / node_link1_up NAME: cut the node's second network
node_link1_down () {
	ip -n "$TEST_PREFIX-sw" link set "w$(cat "$TRASH/nodes/$1/index")" down
}

node_link1_up () {
	ip -n "$TEST_PREFIX-sw" link set "w$(cat "$TRASH/nodes/$1/index")" up
}

# pid_alive PID: the process exists and is not a zombie
pid_alive () {
	local state
	state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# node_mounted NAME [MOUNTPOINT]: the node has a mount at /etc/pve, alive or
# dead (read from mountinfo: a dead FUSE mount fails stat with ENOTCONN)
node_mounted () {
	node_exec "$1" awk -v mp="${2:-$PVE}" \
		'$5 == mp { found = 1 } END { exit !found }' /proc/self/mountinfo
}

# node_serving NAME [MOUNTPOINT]: mounted and answering
node_serving () {
	node_mounted "$1" "${2:-$PVE}" && node_exec "$1" stat -f "${2:-$PVE}" >/dev/null 2>&1
}

# node_pmxcfsd_pid NAME: pid of the node's pmxcfsd (started by
# node_start_pmxcfsd, or daemonized: from its pid file)
node_pmxcfsd_pid () {
	local dir="$TRASH/nodes/$1" pid
	if [ -s "$dir/pmxcfsd.pid" ]; then
		cat "$dir/pmxcfsd.pid"
		return 0
	fi
	pid=$(cat "$dir/root$PVE_PIDFILE" 2>/dev/null) || return 1
	say "$pid"
}

# node_start_pmxcfsd NAME [ARGS...]: runs `pmxcfsd -f ARGS` (or the daemon
# PMXCFSD_BIN names, after the command PMXCFSD_PREFIX names) in the node in
# the background, stdout and stderr appended to the node's pmxcfsd.log, and
# waits until the mount is there. Its exit status is recorded when it exits.
# PMXCFSD_PREFIX, when set, is a command (split at spaces) that execs the
# daemon, such as `env VAR=VALUE`: it must not fork, so that the pid is the
# daemon's.
node_start_pmxcfsd () {
	local name=$1 dir anchor pid mp=$PVE a prev= prefix
	shift
	read -ra prefix <<<"${PMXCFSD_PREFIX:-}"
	dir="$TRASH/nodes/$name"
	anchor=$(node_anchor "$name") || return 1
	for a in "$@"; do
		[ "$prev" = --mountpoint ] && mp=$a
		case $a in --mountpoint=*) mp=${a#--mountpoint=} ;; esac
		prev=$a
	done
	if [ -s "$dir/pmxcfsd.pid" ] && pid_alive "$(cat "$dir/pmxcfsd.pid")"; then
		say "node_start_pmxcfsd: pmxcfsd already runs on $name" >&2
		return 1
	fi
	rm -f "$dir/pmxcfsd.pid" "$dir/pmxcfsd.status"
	say "=== $(date '+%F %T.%N') node_start_pmxcfsd: ${PMXCFSD_PREFIX:+$PMXCFSD_PREFIX }${PMXCFSD_BIN:-pmxcfsd} -f $*" >>"$dir/pmxcfsd.log"
	(
		trap - EXIT INT TERM HUP
		nsenter -t "$anchor" -n -m -u -- "${prefix[@]}" "${PMXCFSD_BIN:-pmxcfsd}" -f "$@" \
			</dev/null >>"$dir/pmxcfsd.log" 2>&1 &
		pid=$!
		say "$pid" >"$dir/pmxcfsd.pid.tmp"
		mv "$dir/pmxcfsd.pid.tmp" "$dir/pmxcfsd.pid"
		wait "$pid"
		say $? >"$dir/pmxcfsd.status.tmp"
		mv "$dir/pmxcfsd.status.tmp" "$dir/pmxcfsd.status"
	) </dev/null >/dev/null 2>&1 &
	wait_for "the pid of pmxcfsd on $name" 5 "test -s '$dir/pmxcfsd.pid'" || return 1
	pid=$(cat "$dir/pmxcfsd.pid")
	local end=$(($(now_us) + 10000000))
	while ! node_serving "$name" "$mp"; do
		if [ -e "$dir/pmxcfsd.status" ]; then
			say "node_start_pmxcfsd: pmxcfsd on $name exited with status $(cat "$dir/pmxcfsd.status") before mounting $mp" >&2
			tail -n 20 "$dir/pmxcfsd.log" | sed 's/^/    /' >&2
			rm -f "$dir/pmxcfsd.pid"
			return 1
		fi
		if [ "$(now_us)" -ge "$end" ]; then
			say "node_start_pmxcfsd: gave up after 10s waiting for pmxcfsd (pid $pid) on $name to mount $mp" >&2
			return 1
		fi
		sleep 0.01
	done
	say "$mp" >"$dir/pmxcfsd.mountpoint"
}

# node_wait_pmxcfsd_exit NAME TIMEOUT: waits for the daemon to exit; prints
# its exit status if it was started by node_start_pmxcfsd
node_wait_pmxcfsd_exit () {
	local dir="$TRASH/nodes/$1" pid
	pid=$(node_pmxcfsd_pid "$1") || return 0
	if [ -s "$dir/pmxcfsd.pid" ]; then
		wait_for "pmxcfsd (pid $pid) on $1 to exit" "$2" "test -e '$dir/pmxcfsd.status'" || return 1
		cat "$dir/pmxcfsd.status"
		rm -f "$dir/pmxcfsd.pid" "$dir/pmxcfsd.status"
	else
		wait_for "pmxcfsd (pid $pid) on $1 to exit" "$2" "! pid_alive $pid" || return 1
	fi
}

# node_stop_pmxcfsd NAME: SIGTERM, wait for the exit (status 0), check
# that the mount is gone
node_stop_pmxcfsd () {
	local name=$1 pid status mp
	mp=$(cat "$TRASH/nodes/$name/pmxcfsd.mountpoint" 2>/dev/null || say "$PVE")
	pid=$(node_pmxcfsd_pid "$name") || {
		say "node_stop_pmxcfsd: no pmxcfsd known on $name" >&2
		return 1
	}
	kill -TERM "$pid" || return 1
	status=$(node_wait_pmxcfsd_exit "$name" 10) || return 1
	if [ -n "$status" ] && [ "$status" != 0 ]; then
		say "node_stop_pmxcfsd: pmxcfsd on $name exited with status $status after SIGTERM" >&2
		return 1
	fi
	if node_mounted "$name" "$mp"; then
		say "node_stop_pmxcfsd: $mp is still mounted on $name after pmxcfsd exited" >&2
		return 1
	fi
}

# node_kill9_pmxcfsd NAME: SIGKILL, wait, then lazily unmount the dead FUSE
# mount it leaves behind (what an admin's `umount -l /etc/pve` does)
node_kill9_pmxcfsd () {
	local name=$1 pid mp status
	mp=$(cat "$TRASH/nodes/$name/pmxcfsd.mountpoint" 2>/dev/null || say "$PVE")
	pid=$(node_pmxcfsd_pid "$name") || return 1
	kill -KILL "$pid" || return 1
	status=$(node_wait_pmxcfsd_exit "$name" 10) || return 1
	if [ -n "$status" ] && [ "$status" != 137 ]; then
		say "node_kill9_pmxcfsd: pmxcfsd on $name exited with status $status, not by SIGKILL" >&2
		return 1
	fi
	if node_mounted "$name" "$mp"; then
		node_exec "$name" umount -l "$mp" || return 1
	fi
}

# node_pmxcfsd_ensure_stopped NAME: whatever pmxcfsd runs on the node
# (foreground or daemonized), stop it: SIGTERM, then SIGKILL after 10 s;
# then make sure nothing is mounted on /etc/pve. For cleanups.
node_pmxcfsd_ensure_stopped () {
	local name=$1 dir="$TRASH/nodes/$1" pid
	for pid in $(cat "$dir/pmxcfsd.pid" "$dir/root$PVE_PIDFILE" 2>/dev/null); do
		pid_alive "$pid" || continue
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pmxcfsd ] || continue
		kill -TERM "$pid"
		wait_for "pmxcfsd (pid $pid) on $name to exit" 10 "! pid_alive $pid" ||
			kill -KILL "$pid"
	done
	if [ -s "$dir/pmxcfsd.pid" ]; then
		wait_for "the status of pmxcfsd on $name" 10 "test -e '$dir/pmxcfsd.status'"
		rm -f "$dir/pmxcfsd.pid" "$dir/pmxcfsd.status"
	fi
	if node_mounted "$name"; then
		node_exec "$name" umount -l "$PVE"
	fi
	return 0
}

# node_log NAME: path of the node's pmxcfsd log
node_log () {
	say "$TRASH/nodes/$1/pmxcfsd.log"
}

# ns_teardown NETNS: kill every process in the network namespace, delete it
ns_teardown () {
	local ns=$1 pids
	[ -e "/run/netns/$ns" ] || return 0
	for _ in $(seq 1 40); do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -z "$pids" ] && break
		kill -KILL $pids 2>/dev/null
		sleep 0.05
	done
	ip netns delete "$ns" 2>/dev/null
}

# cleanup_prefix PREFIX: remove every namespace of a run
cleanup_prefix () {
	local ns
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		case $ns in
		"$1"-sw) ;;
		"$1"-*) ns_teardown "$ns" ;;
		esac
	done
	ns_teardown "$1-sw"
}

# cleanup_stale: namespaces of runs whose test process is gone
cleanup_stale () {
	local ns pid
	for ns in $(ip netns list 2>/dev/null | awk '{ print $1 }'); do
		case $ns in
		pc[0-9]*-*) ;;
		*) continue ;;
		esac
		pid=${ns%%-*}
		pid=${pid#pc}
		# stale: our own prefix (a reused pid), or no test script runs
		# under that pid any more
		if [ "pc$pid" = "$TEST_PREFIX" ] || ! kill -0 "$pid" 2>/dev/null ||
			! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'tests/\|\.sh'; then
			cleanup_prefix "pc$pid"
		fi
	done
}

# ---------------------------------------------------------------------------
# Tests

test_count=0
test_success=0
test_failure=0
test_skipped=0
test_prereqs=" "
TEST_NODE=

test_set_prereq () {
	test_prereqs="$test_prereqs$1 "
}

test_have_prereq () {
	local p
	for p in $(say "$1" | tr , ' '); do
		case $test_prereqs in
		*" $p "*) ;;
		*) return 1 ;;
		esac
	done
}

# test_node NAME: run the following test bodies inside node NAME (in a
# child bash with this library loaded: variables set in a body do not
# outlive it). `test_node` without a name: run them in the script's shell.
test_node () {
	TEST_NODE=$1
}

# test_when_finished 'cmd': run cmd after the current test body, whatever
# its outcome; a failing cmd fails the test
test_when_finished () {
	test_cleanup="{ $*
		} && (exit \"\$eval_ret\"); eval_ret=\$?; $test_cleanup"
}

# test_print_logs: the tail of every node's logs, as TAP comments
test_print_logs () {
	local n f
	for n in $(node_list); do
		for f in "$TRASH/nodes/$n"/*.log; do
			[ -s "$f" ] || continue
			say "# --- node $n: ${f##*/} (last ${TEST_LOG_LINES:-25} lines)"
			tail -n "${TEST_LOG_LINES:-25}" "$f" | sed 's/^/#   /'
		done
	done
}

# test_run_ BODY: evaluates the body (here, or in the node set by
# test_node) with the cleanup hooks; returns its status
# test_body_ CODE: a test body in a function of its own, so that its
# "return 1" ends the body and not test_run_ (whose cleanup must still run)
test_body_ () {
	eval "$1"
}

test_run_ () {
	local out="$TRASH/.test-output" rc
	if [ -n "$TEST_NODE" ]; then
		TEST_LIB_CODE=$1 TEST_LIB_TRACE=$test_trace nsenter -t "$(node_anchor "$TEST_NODE")" -n -m -u -- bash -c '
			. "$TEST_LIB_DIR/test-lib.sh"
			cd "$TRASH" || exit 1
			test_cleanup=:
			# in a function, so that "return 1" ends the body as it
			# does in a body run on the host (from test_run_)
			test_body_ () { eval "$TEST_LIB_CODE"; }
			[ -n "$TEST_LIB_TRACE" ] && set -x
			test_body_
			eval_ret=$?
			set +x
			eval "$test_cleanup"
			exit $eval_ret' </dev/null >"$out" 2>&1
		rc=$?
	else
		test_cleanup=:
		{
			[ -n "$test_trace" ] && set -x
			test_body_ "$1"
			eval_ret=$?
			set +x
			eval "$test_cleanup"
		} </dev/null >"$out" 2>&1
		rc=$eval_ret
	fi
	if [ -n "$verbose" ]; then
		sed 's/^/# /' "$out"
	fi
	return $rc
}

test_ok_ () {
	test_success=$((test_success + 1))
	say "ok $test_count - $1"
}

test_failure_ () {
	local desc=$1 body=$2
	test_failure=$((test_failure + 1))
	say "not ok $test_count - $desc"
	if [ -z "$verbose" ]; then
		say "#   output:"
		tail -n 60 "$TRASH/.test-output" | sed 's/^/#   /'
	fi
	say "#   test body${TEST_NODE:+ (in node $TEST_NODE)}:"
	say "$body" | sed 's/^/#   /'
	test_print_logs
	if [ -n "$immediate" ]; then
		say "# stopping at the first failure (--immediate)"
		test_done
	fi
}

# test_expect_success [PREREQ] 'description' 'body'
test_expect_success () {
	local prereq=
	if [ $# = 3 ]; then
		prereq=$1
		shift
	fi
	[ $# = 2 ] || error "bug in the test script: test_expect_success needs 2 or 3 arguments"
	test_count=$((test_count + 1))
	if [ -n "$prereq" ] && ! test_have_prereq "$prereq"; then
		test_skipped=$((test_skipped + 1))
		say "ok $test_count - $1 # SKIP missing $prereq"
		return 0
	fi
	if test_run_ "$2"; then
		test_ok_ "$1"
	else
		test_failure_ "$1" "$2"
	fi
}

# test_skip 'description' 'reason'
test_skip () {
	test_count=$((test_count + 1))
	test_skipped=$((test_skipped + 1))
	say "ok $test_count - $1 # SKIP $2"
}

# skip_all 'reason': skip the whole script
skip_all () {
	say "1..0 # SKIP $1"
	exit 0
}

test_done () {
	say "1..$test_count"
	if [ $test_failure = 0 ]; then
		if [ $test_skipped != 0 ]; then
			say "# passed all $test_count test(s), $test_skipped skipped"
		else
			say "# passed all $test_count test(s)"
		fi
		exit 0
	fi
	say "# failed $test_failure among $test_count test(s)"
	exit 1
}

# test_require_root: root, FUSE and namespaces, or skip the script
test_require_root () {
	[ "$(id -u)" = 0 ] || skip_all "needs root (namespaces, FUSE mounts)"
	[ -c /dev/fuse ] || skip_all "needs /dev/fuse"
	command -v nsenter >/dev/null && command -v unshare >/dev/null ||
		skip_all "needs nsenter and unshare (util-linux)"
	command -v ip >/dev/null || skip_all "needs ip (iproute2)"
	[ -x "$BUILD/pmxcfsd" ] || error "$BUILD/pmxcfsd is missing: run make"
}

# test_require_program NAME...: programs of the build that the script uses
test_require_program () {
	local p
	for p in "$@"; do
		[ -x "$BUILD/$p" ] || error "$BUILD/$p is missing: run make"
	done
}

# ---------------------------------------------------------------------------
# The run: options, temporary directory, cleanup trap. Skipped in
# library-only mode (inside a node, TEST_PREFIX is already set).

test_cleanup_run_ () {
	local rc=$1
	trap - EXIT INT TERM HUP
	set +x
	# background jobs of this shell (daemon wrappers, writers); disowned
	# first so that bash does not report each one as "Killed"
	local jobpids
	jobpids=$(jobs -p)
	disown -a 2>/dev/null
	[ -n "$jobpids" ] && kill -KILL $jobpids 2>/dev/null
	[ -n "$TEST_PREFIX" ] && cleanup_prefix "$TEST_PREFIX"
	if [ -n "$TRASH" ] && [ -d "$TRASH" ]; then
		# TEST_KEEP_LOGS=DIR: a failed run's logs (not its trees and
		# databases) go there, for runs that keep nothing else
		if [ -n "$TEST_KEEP_LOGS" ] && { [ $rc != 0 ] || [ $test_failure != 0 ]; }; then
			mkdir -p "$TEST_KEEP_LOGS" &&
				(cd "$TRASH" && find . -xdev -name '*.log' -type f \
					-exec cp --parents {} "$TEST_KEEP_LOGS" \;) &&
				say "# kept the logs in $TEST_KEEP_LOGS" >&2
		fi
		# kept for a look after a failure (TEST_NO_KEEP=1: never)
		if [ -n "$debug" ] || { [ -z "$TEST_NO_KEEP" ] &&
			{ [ $rc != 0 ] || [ $test_failure != 0 ]; }; }; then
			say "# kept the temporary directory $TRASH" >&2
		else
			# pmxcfsd makes its mount points immutable (in a node's
			# overlay of /etc, or wherever --mountpoint put them)
			find "$TRASH" -xdev -type d -exec chattr -i {} + 2>/dev/null
			rm -rf "$TRASH"
		fi
	fi
	exit $rc
}

if [ -z "$TEST_LIB_INNER" ]; then
	export TEST_LIB_INNER=1
	verbose='' immediate='' debug='' test_trace=''
	while [ $# -gt 0 ]; do
		case $1 in
		-v | --verbose) verbose=t ;;
		-i | --immediate) immediate=t ;;
		-d | --debug) debug=t ;;
		-x) test_trace=t ;;
		-h | --help)
			say "usage: $0 [-v|--verbose] [-i|--immediate] [-x] [-d|--debug]"
			say "${test_description:-}"
			exit 0
			;;
		*) error "unknown option: $1" ;;
		esac
		shift
	done
	export TEST_PREFIX="pc$$"
	# 10.213.X.0/24, X from the pid: a different subnet per run where possible
	export TEST_NET="10.213.$(($$ % 250 + 1))"
	# the second cluster network (node_add_link1)
	export TEST_NET1="10.214.$(($$ % 250 + 1))"
	TRASH=$(mktemp -d "${TMPDIR:-/tmp}/pvecm-test.$TEST_PREFIX.$(basename "$0" .sh).XXXXXX") ||
		error "cannot create a temporary directory"
	export TRASH
	mkdir -p "$TRASH/nodes"
	# test bodies run here (scratch files such as "actual", "expect")
	cd "$TRASH" || exit 1
	trap 'test_cleanup_run_ $?' EXIT
	trap 'say "# interrupted" >&2; exit 130' INT
	trap 'say "# terminated" >&2; exit 143' TERM
	trap 'exit 129' HUP
	if [ "$(id -u)" = 0 ] && command -v ip >/dev/null; then
		cleanup_stale
	fi
	# Unit-like helpers read JSON with perl; everything else is coreutils.
	command -v perl >/dev/null && test_set_prereq PERL
	[ "$(id -u)" = 0 ] && test_set_prereq ROOT
fi
. "$TEST_LIB_DIR/cluster-lib.sh"
. "$TEST_LIB_DIR/ssh-lib.sh"
. "$TEST_LIB_DIR/qdevice-lib.sh"
. "$TEST_LIB_DIR/ca-lib.sh"
