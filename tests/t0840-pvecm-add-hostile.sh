#!/bin/bash
test_description='pvecm add against a cluster node that sends hostile data

n1 plays a cluster node whose pvecm and cat answer what the test tells
them to: a corosync.conf with a NUL byte in it, one that does not validate,
and output full of terminal escape sequences. n2 tries to join it: each
bad corosync.conf is refused with nothing changed on n2, and whatever n1
printed reaches the terminal with its control characters escaped.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_sshd
test_require_program pvecm

for n in n1 n2; do
	node_create $n
done
ssh_nodes_start n1 n2
N2=$(node_ip n2)
export N2

ESC=$(printf '\033')
export ESC

# n1's commands over SSH find these first: pvecm addnode prints
# $TRASH/addnode.out and $TRASH/addnode.err and exits with
# $TRASH/addnode.status; cat serves the cluster files from $TRASH.
mkdir -p "$TRASH/evil-bin"
cat >"$TRASH/evil-bin/pvecm" <<\EOS
#!/bin/sh
case $1 in
addnode)
	cat "$TRASH/addnode.out"
	cat "$TRASH/addnode.err" >&2
	exit "$(cat "$TRASH/addnode.status")" ;;
*) exec "$BUILD/pvecm" "$@" ;;
esac
EOS
cat >"$TRASH/evil-bin/cat" <<\EOS
#!/bin/sh
case $* in
/etc/pve/corosync.conf) exec /bin/cat "$TRASH/evil.conf" ;;
/etc/corosync/authkey) exec /bin/cat "$TRASH/evil.key" ;;
*) exec /bin/cat "$@" ;;
esac
EOS
chmod +x "$TRASH/evil-bin/pvecm" "$TRASH/evil-bin/cat"
node_sh n1 'sed -i "s|^PATH=|PATH=$TRASH/evil-bin:|" /root/.ssh/environment' ||
	error "cannot give n1 its own pvecm and cat"
head -c 256 /dev/urandom >"$TRASH/evil.key"

# valid_conf: a corosync.conf that lists n1 and n2 and validates
valid_conf () {
	cat <<-EOC
	nodelist {
	  node {
	    name: n1
	    nodeid: 1
	    quorum_votes: 1
	    ring0_addr: $N1
	  }
	  node {
	    name: n2
	    nodeid: 2
	    quorum_votes: 1
	    ring0_addr: $N2
	  }
	}

	quorum {
	  provider: corosync_votequorum
	}

	totem {
	  cluster_name: evil
	  config_version: 2
	  interface {
	    linknumber: 0
	  }
	  ip_version: ipv4-6
	  link_mode: passive
	  secauth: on
	  version: 2
	}
	EOC
}
export -f valid_conf

# n2_state: what a refused join must leave as it was on n2
n2_state () {
	node_sh n2 '
		ls -la /etc/corosync /var/lib/pve-cluster
		cat /etc/corosync/* /etc/pve/corosync.conf 2>/dev/null
		ls -R /etc/pve
	' | sha256sum
}
export -f n2_state

# try_join: pvecm add on n2 fails and changes nothing there
try_join () {
	before=$(n2_state) &&
	printf "%s\n" "$TEST_ROOT_PASSWORD" |
		test_must_fail node_exec n2 pvecm add "$N1" --fingerprint "$FP1" >out 2>err &&
	cat out err &&
	test "$(n2_state)" = "$before"
}
export -f try_join

test_expect_success 'the fake cluster node answers over SSH' '
	printf "added\n" >addnode.out && : >addnode.err && echo 0 >addnode.status &&
	valid_conf >evil.conf &&
	node_sh n1 "PATH=$TRASH/evil-bin:\$PATH; pvecm addnode x && cat /etc/pve/corosync.conf" >got &&
	grep -q "^added$" got && grep -q "cluster_name: evil" got
'

test_expect_success 'a corosync.conf with a NUL byte is refused, nothing changed' '
	{ valid_conf && printf "\0totem {\n  secauth: off\n}\n"; } >evil.conf &&
	try_join &&
	tail -n 1 err | grep -q "corosync.conf contains a NUL byte; not installed" &&
	tail -n 1 err | grep -q "pvecm delnode n2"
'

test_expect_success 'a corosync.conf that does not validate is refused, nothing changed' '
	valid_conf | grep -v cluster_name >evil.conf &&
	try_join &&
	tail -n 1 err | grep -q "corosync.conf is not usable; not installed"
'

test_expect_success 'a corosync.conf the parser cannot read is refused, its quote escaped' '
	printf "totem {\n  cluster_name: a\033[2Jb\n  \033]0;x\007 {\n" >evil.conf &&
	try_join &&
	tail -n 1 err | grep -q "not usable" &&
	! grep -q "$ESC" out err
'

test_expect_success 'the remote output reaches the terminal with control characters escaped' '
	printf "node added\033]0;owned\007\n\033[2Jcleared\n" >addnode.out &&
	valid_conf | grep -v cluster_name >evil.conf &&
	try_join &&
	! grep -q "$ESC" out err &&
	grep -qF "node added\\x1b]0;owned\\x07" out &&
	grep -qxF "\\x1b[2Jcleared" out
'

test_expect_success 'the remote error reaches the terminal with control characters escaped' '
	: >addnode.out &&
	printf "first line\nrefused \033[31mred\033[0m\r\n" >addnode.err &&
	echo 1 >addnode.status &&
	try_join &&
	! grep -q "$ESC" out err &&
	tail -n 1 err | grep -qF "did not add this node: refused \\x1b[31mred\\x1b[0m - nothing changed"
'

test_done
