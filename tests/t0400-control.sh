#!/bin/bash
test_description='the control socket and pvecm on a node outside a cluster

pvecm status says when pmxcfsd is not running, and on a node that is not
in a cluster prints the reference error; pvecm parses help and usage like
the reference. The control socket is 0600 and served to root only; every
malformed request gets an error reply or a closed connection, and the
daemon goes on serving everyone else.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_program pvecm

NOT_IN_CLUSTER="Error: Corosync config '/etc/pve/corosync.conf' does not exist - is this node part of a cluster?"
export NOT_IN_CLUSTER

# ctl.pl: a raw client of the control protocol (include/proto.h). Sends
# one frame (fields as key=value, payload and raw bytes in hex) and prints
# "reply ..." with the reply's header, "closed" or "timeout".
cat >"$TRASH/ctl.pl" <<'EOF'
use strict;
use IO::Socket::UNIX;
use IO::Select;
my %o = (socket => '/run/pmxcfsd/pmxcfsd.sock', magic => 0x4d435650, version => 1,
	 type => 1, flags => 0, id => 4242, status => 0, payload => '00',
	 timeout => 5, close => 0, count => 1);
for (@ARGV) { my ($k, $v) = split /=/, $_, 2; $v = hex $v if $v =~ /^0x/; $o{$k} = $v; }
my $payload = pack('H*', $o{payload});
my $len = defined $o{length} ? $o{length} : length $payload;
my $frame = defined $o{raw} ? pack('H*', $o{raw})
	: pack('VvvVVVl<', $o{magic}, $o{version}, $o{type}, $o{flags}, $len, $o{id}, $o{status})
	  . $payload;
$frame = substr($frame, 0, $o{cut}) if defined $o{cut};
local $SIG{PIPE} = 'IGNORE';
# count=N: as many requests, each on a connection of its own, a line each
sub one {
	my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $o{socket})
		or do { print "connect: $!\n"; exit 3; };
	my $sent = syswrite($s, $frame);
	if ($o{close}) { print "sent ", $sent // 0, " bytes, closed\n"; return; }
	my $sel = IO::Select->new($s);
	my $buf = '';
	while (length $buf < 24) {
		if (!$sel->can_read($o{timeout})) { print "timeout\n"; exit 4; }
		my $n = sysread($s, $buf, 24 - length $buf, length $buf);
		if (!$n) { print length $buf ? "closed after " . length($buf) . " bytes\n" : "closed\n"; return; }
	}
	my ($magic, $ver, $type, $flags, $rlen, $id, $status) = unpack('VvvVVVl<', $buf);
	printf "reply magic=%08x version=%d type=%d flags=%d length=%d id=%d status=%d\n",
		$magic, $ver, $type, $flags, $rlen, $id, $status;
}
one() for 1 .. $o{count};
EOF
CTL="perl $TRASH/ctl.pl"
export CTL

# the socket still answers a well-formed STATUS request
ctl_alive () {
	$CTL >out && grep -q "^reply .* flags=1 .* id=4242 status=0$" out || { cat out; false; }
}
export -f ctl_alive

node_create n1
test_node n1

# ------------------------------------------------- pvecm without the daemon

test_expect_success 'pvecm status without pmxcfsd says it is not running (exit 2)' '
	test_exit_code 2 pvecm status >out 2>err &&
	cat err &&
	grep -q "pmxcfsd" err &&
	grep -qi "not running" err
'

test_expect_success 'start pmxcfsd (local mode)' '
	node_start_pmxcfsd n1 -l
'

# ----------------------------------------------------- pvecm outside a cluster

test_expect_success 'pvecm status on a node outside a cluster prints the reference error (exit 2)' '
	test_exit_code 2 pvecm status >out 2>err &&
	cat err &&
	grep -qxF "$NOT_IN_CLUSTER" err
'

# ------------------------------------------------------------- help and usage

test_expect_success 'pvecm help prints the usage of every command' '
	pvecm help >out 2>err &&
	cat out &&
	grep -q "^USAGE: pvecm <COMMAND> \[ARGS\] \[OPTIONS\]" out &&
	grep -q "pvecm status" out &&
	grep -q "pvecm help" out
'

test_expect_success 'pvecm help status and pvecm status --help show the usage of status' '
	pvecm help status >out 2>err &&
	grep -q "pvecm status" out &&
	pvecm status --help >out2 2>err2 &&
	grep -q "pvecm status" out2
'

test_expect_success 'pvecm help expected shows an integer argument of at least 1, as the reference' '
	pvecm help expected >out 2>err &&
	grep -qx "  <expected> <integer> (1 - N)" out &&
	test_must_fail pvecm expected zero 2>err &&
	grep -q "not a number of votes" err
'

test_expect_success 'pvecm apiver prints the join API version, 1' '
	test "$(pvecm apiver)" = 1
'

test_expect_success 'an unknown command is a usage error' '
	test_must_fail pvecm frobnicate >out 2>err &&
	cat err &&
	test -s err &&
	grep -qi "usage" err
'

test_expect_success 'pvecm without a command is a usage error' '
	test_must_fail pvecm >out 2>err &&
	grep -qi "usage" err
'

test_expect_success 'an unknown option is a usage error' '
	test_must_fail pvecm status --frobnicate >out 2>err &&
	cat err &&
	test -s err
'

test_expect_success 'pvecm help of an unknown command fails' '
	test_must_fail pvecm help frobnicate >out 2>err &&
	test -s err
'

# ------------------------------------------------------------ socket security

test_expect_success 'the control socket is 0600 root' '
	test "$(stat -c "%a %U %F" /run/pmxcfsd/pmxcfsd.sock)" = "600 root socket"
'

test_expect_success 'a well-formed STATUS request gets a reply (the raw client works)' '
	ctl_alive
'

test_expect_success 'a non-root pvecm is refused' '
	test_must_fail setpriv --reuid=65534 --regid=65534 --clear-groups pvecm status >out 2>err &&
	cat err &&
	test -s err &&
	! grep -qxF "$NOT_IN_CLUSTER" err
'

test_expect_success 'a non-root client that can open the socket is refused, and logged' '
	log=$(node_log n1) &&
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		--inh-caps=+dac_override --ambient-caps=+dac_override \
		$CTL >out 2>&1;
	cat out &&
	! grep -q "status=0$" out &&
	wait_for "the refusal of uid 65534 in the log" 5 "grep -q 65534 \"$log\"" &&
	test_must_fail setpriv --reuid=65534 --regid=65534 --clear-groups \
		--inh-caps=+dac_override --ambient-caps=+dac_override pvecm status 2>err &&
	! grep -qxF "$NOT_IN_CLUSTER" err &&
	ctl_alive
'

# ------------------------------------------------------------ malformed input

test_expect_success 'garbage on the socket does not stop the daemon' '
	for i in 1 2 3 4 5; do
		$CTL raw=$(head -c 4096 /dev/urandom | od -An -v -tx1 | tr -d " \n") >>out || exit 1
	done &&
	cat out &&
	ctl_alive &&
	test_exit_code 2 pvecm status 2>err &&
	grep -qxF "$NOT_IN_CLUSTER" err
'

test_expect_success 'another protocol version gets an error reply or a close' '
	$CTL version=99 >out && cat out &&
	! grep -q "status=0$" out &&
	ctl_alive
'

test_expect_success 'an unknown command type gets -ENOSYS' '
	$CTL type=999 >out && cat out &&
	grep -q "^reply .* type=999 flags=1 .* status=-38$" out &&
	ctl_alive
'

test_expect_success 'a bad magic gets an error reply or a close' '
	$CTL magic=0x12345678 >out && cat out &&
	! grep -q "status=0$" out &&
	ctl_alive
'

test_expect_success 'unknown flags get an error reply or a close' '
	$CTL flags=128 >out && cat out &&
	! grep -q "status=0$" out &&
	ctl_alive
'

test_expect_success 'a request with a status set gets an error reply or a close' '
	$CTL status=-5 >out && cat out &&
	! grep -q "status=0$" out &&
	ctl_alive
'

test_expect_success 'a length over the maximum is refused without waiting for the payload' '
	$CTL length=4294967295 payload= timeout=5 >out && cat out &&
	! grep -q "status=0$" out && ! grep -q timeout out &&
	$CTL length=65537 payload= timeout=5 >out && cat out &&
	! grep -q "status=0$" out && ! grep -q timeout out &&
	ctl_alive
'

test_expect_success 'a payload of the wrong type gets an error reply' '
	$CTL payload=6162636465 >out && cat out &&
	grep -q "^reply .* status=-[0-9]" out &&
	$CTL type=2 payload=0505 >out && cat out &&
	grep -q "^reply .* status=-[0-9]" out &&
	ctl_alive
'

test_expect_success 'a truncated frame followed by a close does no harm' '
	$CTL cut=10 close=1 >out &&
	$CTL payload=000000 length=3 cut=26 close=1 >out &&
	$CTL length=100 payload=00 close=1 >out &&
	ctl_alive
'

test_expect_success 'a client that stalls mid-frame does not block the others' '
	(perl -MIO::Socket::UNIX -e "
		my \$s = IO::Socket::UNIX->new(Peer => q(/run/pmxcfsd/pmxcfsd.sock)) or die;
		syswrite(\$s, pack(q(VvvV), 0x4d435650, 1, 1, 0));
		sleep 20;" &) &&
	sleep 0.2 &&
	ctl_alive &&
	test_exit_code 2 timeout 5 pvecm status 2>err &&
	grep -qxF "$NOT_IN_CLUSTER" err
'

test_expect_success 'fifty idle connections do not block a new client' '
	perl -MIO::Socket::UNIX -e "
		my @s;
		\$| = 1;
		for (1..50) { push @s, IO::Socket::UNIX->new(Peer => q(/run/pmxcfsd/pmxcfsd.sock)) or die \$!; }
		print qq(open\n);
		sleep 10;" >held &
	held=$! &&
	wait_for "50 connections" 5 "grep -q open held" &&
	ctl_alive &&
	test_exit_code 2 timeout 5 pvecm status 2>err &&
	grep -qxF "$NOT_IN_CLUSTER" err &&
	kill $held
'

test_expect_success 'many requests in a row on fresh connections are all answered' '
	$CTL count=200 >out &&
	test "$(grep -c "^reply .* flags=1 .* id=4242 status=0$" out)" = 200
'

test_expect_success 'the daemon is still the same process and logged no crash' '
	pid=$(node_pmxcfsd_pid n1) &&
	pid_alive "$pid" &&
	test "$(cat /proc/$pid/comm)" = pmxcfsd
'

test_expect_success 'pmxcfsd stops cleanly after all that' '
	node_stop_pmxcfsd n1
'

# ------------------------------------------------ idle and surplus connections

test_expect_success 'start pmxcfsd with --control-idle-timeout 2' '
	node_start_pmxcfsd n1 -l --control-idle-timeout 2 &&
	ctl_alive
'

test_expect_success 'a connection idle for the timeout is closed, and logged' '
	log=$(node_log n1) &&
	perl -MIO::Socket::UNIX -MTime::HiRes=time -e "
		my \$s = IO::Socket::UNIX->new(Peer => q(/run/pmxcfsd/pmxcfsd.sock)) or die \$!;
		my \$t = time; my \$b;
		my \$n = sysread(\$s, \$b, 1);
		printf qq(read %d after %.1f s\n), \$n, time - \$t;" >out &&
	cat out &&
	grep -q "^read 0 after [2-5]\.[0-9] s$" out &&
	wait_for "the idle close in the log" 5 "grep -q \"idle for 2 s\" \"$log\""
'

test_expect_success 'with 64 connections held, pvecm says the daemon has too many; it works again once they idle out' '
	perl -MIO::Socket::UNIX -MIO::Select -e "
		my @s; \$| = 1;
		for (1..64) { push @s, IO::Socket::UNIX->new(Peer => q(/run/pmxcfsd/pmxcfsd.sock)) or die \$!; }
		print qq(open\n);
		my \$sel = IO::Select->new(@s); my \$b;
		while (\$sel->count) {
			for (\$sel->can_read(10)) { \$sel->remove(\$_) if !sysread(\$_, \$b, 1); }
		}
		print qq(all closed\n);" >held &
	held=$! &&
	test_when_finished "kill $held 2>/dev/null; true" &&
	wait_for "64 connections" 5 "grep -q open held" &&
	test_must_fail pvecm status >out 2>err &&
	cat err &&
	grep -q "refused the connection on /run/pmxcfsd/pmxcfsd.sock: Too many users" err &&
	$CTL >out && cat out &&
	grep -q "^reply .* type=0 flags=1 length=0 id=0 status=-87$" out &&
	wait_for "the held connections closed for idleness" 10 "grep -q \"all closed\" held" &&
	test_exit_code 2 pvecm status 2>err &&
	grep -qxF "$NOT_IN_CLUSTER" err
'

test_expect_success 'pmxcfsd with an idle timeout stops cleanly' '
	node_stop_pmxcfsd n1
'

test_expect_success 'pvecm status after the daemon stopped says it is not running (exit 2)' '
	test_exit_code 2 pvecm status >out 2>err &&
	grep -qi "not running" err
'

# words: a text as one line of single-spaced words, man markup removed
words () {
	sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e '/^\.[A-Z]/s/^\.[A-Z]* *//' |
		tr '\n' ' ' | tr -s ' '
}
export -f words

test_expect_success 'every command of pvecm help is in the man page, with its description and options' '
	man=$(words <"$SRC_ROOT/man/pvecm.1") &&
	pvecm help | sed -n "s/^ *pvecm \([a-z][a-z ]*[a-z]\).*/\1/p" >commands &&
	test "$(wc -l <commands)" -ge 6 &&
	while read -r cmd; do
		case $man in *"pvecm $cmd"*) ;; *) echo "no pvecm $cmd in the man page"; return 1 ;; esac
		pvecm help $cmd --verbose >h || return 1
		desc=$(sed -n "3,/^$/p" h | words | sed "s/^ //; s/ \$//") &&
		case $man in *"$desc"*) ;; *) echo "not in the man page: $desc"; return 1 ;; esac
		for opt in $(sed -n "s/^  \(--[a-z-]*\).*/\1/p" h | sed "s/\[n\]//"); do
			case $man in *"$opt"*) ;; *) echo "option $opt of $cmd not in the man page"; return 1 ;; esac
		done
	done <commands
'

test_done
