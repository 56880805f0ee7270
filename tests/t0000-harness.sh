#!/bin/bash
test_description='the test library itself

Nodes get their own hostname, /etc/hosts, /run and address, reach each
other over the switch, can be cut off and reconnected; the helpers report
errnos and JSON correctly; a failing script prints its failures and the
node logs, and leaves no namespace, process or mount behind.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root

test_expect_success 'three nodes can be created' '
	node_create n1 &&
	node_create n2 &&
	node_create n3 &&
	test "$(node_list | tr "\n" " ")" = "n1 n2 n3 "
'

test_expect_success 'each node has its hostname and address' '
	for n in n1 n2 n3; do
		test "$(node_exec $n hostname)" = $n &&
		node_exec $n ip -o -4 addr show eth0 | grep -q " $(node_ip $n)/24 " || exit 1
	done
'

test_expect_success 'each node resolves every node name to its address' '
	for n in n1 n2 n3; do
		for m in n1 n2 n3; do
			test "$(node_exec $n getent hosts $m | cut -d" " -f1)" = "$(node_ip $m)" || exit 1
		done
	done
'

test_expect_success 'each node has its own /run and /var/lib/pve-cluster' '
	node_exec n1 sh -c "echo one >/run/probe" &&
	node_exec n2 sh -c "echo two >/run/probe" &&
	test "$(node_exec n1 cat /run/probe)" = one &&
	test "$(node_exec n2 cat /run/probe)" = two &&
	test ! -e /run/probe &&
	test "$(cat "$(node_dir n1)/root/run/probe")" = one &&
	node_exec n3 sh -c "echo three >/var/lib/pve-cluster/probe" &&
	test "$(cat "$(node_dir n3)/root/var/lib/pve-cluster/probe")" = three
'

test_expect_success 'what a node writes below /etc stays in the node' '
	node_exec n1 test -d /etc/pve &&
	node_exec n1 sh -c "echo x >/etc/pve/harness-probe" &&
	test ! -e /etc/pve/harness-probe &&
	node_exec n2 test ! -e /etc/pve/harness-probe
'

# tcp_ok FROM TO: a TCP connection from node FROM to node TO (by name) works
tcp_ok () {
	node_exec "$2" perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => 7777,
			Listen => 1, ReuseAddr => 1) or die "listen: $!";
		$SIG{ALRM} = sub { exit 1 }; alarm 5;
		my $c = $s->accept or exit 1; print $c "hello\n";' &
	local srv=$!
	sleep 0.2
	local got
	got=$(node_exec "$1" perl -MIO::Socket::INET -e '
		my $c = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => 7777,
			Timeout => 2) or exit 1;
		print scalar <$c>;' "$2")
	kill $srv 2>/dev/null
	wait $srv 2>/dev/null
	test "$got" = hello
}

test_expect_success 'nodes reach each other over the switch' '
	tcp_ok n1 n2 &&
	tcp_ok n3 n1
'

test_expect_success 'a node cut off the switch is unreachable, and reachable again' '
	node_link_down n2 &&
	! tcp_ok n1 n2 &&
	node_link_up n2 &&
	wait_for "n1 to reach n2 again" 10 "tcp_ok n1 n2"
'

test_expect_success 'the host has no address on the test network' '
	! ip -o addr | grep -q " $TEST_NET\."
'

test_expect_success 'test_errno tells errnos apart' '
	test_errno OK mkdir "$TRASH/e" &&
	test_errno EEXIST mkdir "$TRASH/e" &&
	test_errno ENOENT rmdir "$TRASH/no/such" &&
	! test_errno EEXIST rmdir "$TRASH/e" 2>/dev/null
'

test_expect_success 'json_get and json_type read JSON' '
	echo "{\"a\": {\"b\": [1, \"x\"]}, \"n\": 0}" >j &&
	test "$(json_get a b 1 <j)" = x &&
	test "$(json_type a b 0 <j)" = number &&
	test "$(json_type a b 1 <j)" = string &&
	test "$(json_type a <j)" = object &&
	test "$(json_keys <j | tr "\n" " ")" = "a n " &&
	test_expect_code=$(json_get missing <j >/dev/null 2>&1; echo $?) &&
	test "$test_expect_code" = 1 &&
	test "$(echo "not json" | json_get >/dev/null 2>&1; echo $?)" = 2
'

test_expect_success 'wait_for gives up after its timeout and says what it waited for' '
	start=$(date +%s) &&
	! wait_for "something that never happens" 1 false 2>err &&
	grep -q "something that never happens" err &&
	test $(($(date +%s) - start)) -le 3
'

# A failing script, run on its own: its output, and what it leaves behind.
cat >"$TRASH/t9999-fails.sh" <<EOF
#!/bin/bash
. "$TEST_LIB_DIR/test-lib.sh"
node_create a1
node_create a2
echo "a line from the node log" >>"\$TRASH/nodes/a1/pmxcfsd.log"
echo "\$TEST_PREFIX" >"$TRASH/inner-prefix"
echo "\$TRASH" >"$TRASH/inner-trash"
test_expect_success 'passes' 'true'
test_expect_success 'fails' 'echo some output; false'
test_node a1
test_expect_success 'runs in the node' 'test "\$(hostname)" = a1'
test_node
node_exec a1 sleep 1000 &
test_done
EOF

test_expect_success 'a failing script reports TAP, its failures and the node logs' '
	TEST_NO_KEEP=1 env -u TEST_LIB_INNER bash "$TRASH/t9999-fails.sh" >out 2>&1
	test $? = 1 &&
	grep -q "^ok 1 - passes" out &&
	grep -q "^not ok 2 - fails" out &&
	grep -q "^#   some output" out &&
	grep -q "^ok 3 - runs in the node" out &&
	grep -q "a line from the node log" out &&
	grep -q "^1\.\.3$" out
'

test_expect_success 'and leaves no namespace and no process behind' '
	p=$(cat inner-prefix) &&
	! ip netns list | grep -q "^$p-" &&
	! ps -eo args | grep -q "^sleep 1000$" &&
	test ! -e "$(cat inner-trash)"
'

test_done
