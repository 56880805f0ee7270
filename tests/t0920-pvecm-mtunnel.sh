#!/bin/bash
test_description='pvecm mtunnel on a node with a separate migration network

Two nodes in a cluster, each with two networks as in the manual'"'"'s
migration example: the cluster network (eth0) and a separate migration
network (eth1 on a second bridge). --get_migration_ip finds the node'"'"'s
address in the network given with --migration_network, else in the one of
the migration property in datacenter.cfg, says "no ip" with neither, and
fails with the reference'"'"'s messages when the node has no address or two
in it. --run-command listens on the migration address, prints it and the
port, and runs the command with the first connection as its standard
input; two tunnels at once get two ports. The plain tunnel says "tunnel
online" and waits for "quit". A migrating node calls it over SSH. Without
quorum every form prints "no quorum" and succeeds.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync
test_require_sshd
test_require_program pvecm

NODES="n1 n2"
cluster_create 2
for n in $NODES; do
	node_add_link1 $n || error "cannot add a second network to $n"
done
cluster_start_corosync
cluster_start_pmxcfsd $NODES
cluster_wait_pve_writable $NODES || error "the cluster did not become writable"

MIGNET="$TEST_NET1.0/24"
CLUNET="$TEST_NET.0/24"
# a network no node has an address in
NONET="10.215.$(($$ % 250 + 1)).0/24"
# an IPv6 migration network, on eth1 too
V6NET="fd42:$(($$ % 250 + 1))::/64"
V6IP2="fd42:$(($$ % 250 + 1))::2"
N2MIG=$(node_link1_ip n2)
export MIGNET CLUNET NONET V6NET V6IP2 N2MIG

# set_datacenter_cfg TEXT: n1 replaces /etc/pve/datacenter.cfg as an admin
# does (a copy, then a rename), and waits until n2 reads the same
set_datacenter_cfg () {
	printf '%s\n' "$1" >dc.want &&
	node_exec n1 sh -c "cat >/etc/pve/datacenter.cfg.new && mv /etc/pve/datacenter.cfg.new /etc/pve/datacenter.cfg" <dc.want &&
	wait_for "n2 to read the new datacenter.cfg" 10 \
		"node_exec n2 cat /etc/pve/datacenter.cfg | cmp -s - dc.want"
}

# mtunnel_bg NAME NODE ARGS...: pvecm mtunnel ARGS in the background on
# NODE, its output in NAME.out and NAME.err, its pid in NAME.pid, its exit
# code in NAME.rc once it exits
mtunnel_bg () {
	local name=$1 node=$2
	shift 2
	rm -f "$name.rc"
	( node_exec "$node" pvecm mtunnel "$@" >"$name.out" 2>"$name.err"; say $? >"$name.rc" ) &
	say $! >"$name.pid"
}

# tunnel_endpoint NAME: waits until the tunnel printed its address and
# port; prints them as "ADDR PORT"
tunnel_endpoint () {
	wait_for "tunnel $1 to print its address and port" 10 \
		"test \$(wc -l <$1.out) -ge 2" || { cat "$1.err"; return 1; }
	say "$(sed -n 1p "$1.out") $(sed -n 2p "$1.out")"
}

# tunnel_done NAME: waits for the tunnel to exit; fails unless with 0
tunnel_done () {
	wait_for "tunnel $1 to exit" 15 "test -s $1.rc" || return 1
	cat "$1.err"
	test "$(cat "$1.rc")" = 0
}

test_expect_success 'pvecm help mtunnel says it is used by guest migration' '
	pvecm help mtunnel >out &&
	cat out &&
	grep -q "^USAGE: pvecm mtunnel" out &&
	grep -qi "guest migration" out &&
	grep -q -- "--migration_network" out &&
	grep -q -- "--get_migration_ip" out &&
	grep -q -- "--run-command" out
'

test_expect_success 'no migration network anywhere: "no ip"' '
	node_exec n2 test ! -e /etc/pve/datacenter.cfg &&
	node_exec n2 pvecm mtunnel --get_migration_ip >out 2>err &&
	cat out err &&
	test "$(cat out)" = "no ip"
'

test_expect_success '--migration_network picks the address in that network' '
	node_exec n2 pvecm mtunnel --migration_network "$MIGNET" --get_migration_ip >out &&
	test "$(cat out)" = "ip: '"'"'$N2MIG'"'"'" &&
	node_exec n2 pvecm mtunnel --migration_network "$CLUNET" --get_migration_ip >out &&
	test "$(cat out)" = "ip: '"'"'$(node_ip n2)'"'"'"
'

test_expect_success 'without the option, the network of datacenter.cfg; the option wins over it' '
	set_datacenter_cfg "# use dedicated migration network
keyboard: en-us
migration: secure,network=$MIGNET" &&
	node_exec n2 pvecm mtunnel --get_migration_ip >out &&
	test "$(cat out)" = "ip: '"'"'$N2MIG'"'"'" &&
	node_exec n2 pvecm mtunnel --get_migration_ip --migration_network "$CLUNET" >out &&
	test "$(cat out)" = "ip: '"'"'$(node_ip n2)'"'"'" &&
	set_datacenter_cfg "migration: type=insecure,network=$MIGNET" &&
	node_exec n2 pvecm mtunnel --get_migration_ip >out &&
	test "$(cat out)" = "ip: '"'"'$N2MIG'"'"'"
'

test_expect_success 'a datacenter.cfg with a network but no type is refused, naming file and line' '
	set_datacenter_cfg "keyboard: de
migration: network=$MIGNET" &&
	test_exit_code 1 node_exec n2 pvecm mtunnel --get_migration_ip >out 2>err &&
	cat err &&
	test ! -s out &&
	grep -q "/etc/pve/datacenter.cfg:2: migration: the migration type must always be set when the migration network gets set" err &&
	test $(wc -l <err) = 1
'

test_expect_success 'no address in the network: the reference'"'"'s error' '
	test_exit_code 1 node_exec n2 pvecm mtunnel --migration_network "$NONET" \
		--get_migration_ip >out 2>err &&
	cat err &&
	test ! -s out &&
	grep -q "could not get migration ip: no IP address configured on local node for network '"'"'$NONET'"'"'" err
'

test_expect_success 'two addresses in the network: the reference'"'"'s error' '
	test_when_finished "ip -n $(node_ns n2) addr del $TEST_NET1.102/24 dev eth1" &&
	ip -n "$(node_ns n2)" addr add "$TEST_NET1.102/24" dev eth1 &&
	test_exit_code 1 node_exec n2 pvecm mtunnel --migration_network "$MIGNET" \
		--get_migration_ip >out 2>err &&
	cat err &&
	test ! -s out &&
	grep -q "could not get migration ip: multiple IP address configured for network '"'"'$MIGNET'"'"'" err
'

test_expect_success 'an IPv6 migration network' '
	ip -n "$(node_ns n2)" addr add "$V6IP2/64" dev eth1 nodad &&
	set_datacenter_cfg "migration: secure,network=$V6NET" &&
	node_exec n2 pvecm mtunnel --get_migration_ip >out &&
	cat out &&
	test "$(cat out)" = "ip: '"'"'$V6IP2'"'"'"
'

test_expect_success 'bad usage: a bad network, --run-command with --get_migration_ip, no command' '
	test_exit_code 255 node_exec n2 pvecm mtunnel --migration_network 10.1.2.0 \
		--get_migration_ip >out 2>err &&
	grep -q "is not a network in CIDR notation" err && test ! -s out &&
	test_exit_code 255 node_exec n2 pvecm mtunnel --get_migration_ip --run-command \
		-- cat >out 2>err &&
	grep -q "cannot use --run-command with --get_migration_ip" err && test ! -s out &&
	test_exit_code 255 node_exec n2 pvecm mtunnel --run-command >out 2>err &&
	cat err &&
	grep -q "missing command" err && test ! -s out
'

test_expect_success '--run-command: the bytes sent to the printed address and port reach the command' '
	set_datacenter_cfg "migration: secure,network=$MIGNET" &&
	head -c 300000 /dev/urandom >payload &&
	mtunnel_bg t1 n2 --migration_network "$MIGNET" --run-command -- \
		sh -c "cat >\"$TRASH/recv.t1\"" &&
	read -r ip port <<<"$(tunnel_endpoint t1)" &&
	test "$ip" = "$N2MIG" &&
	test "$port" -ge 60000 && test "$port" -le 60050 &&
	node_exec n1 bash -c "cat >/dev/tcp/$ip/$port" <payload &&
	tunnel_done t1 &&
	cmp payload recv.t1
'

test_expect_success 'two tunnels at once listen on two ports and each gets its bytes' '
	mtunnel_bg a n2 --run-command -- sh -c "cat >\"$TRASH/recv.a\"" &&
	mtunnel_bg b n2 --run-command -- sh -c "cat >\"$TRASH/recv.b\"" &&
	read -r ipa porta <<<"$(tunnel_endpoint a)" &&
	read -r ipb portb <<<"$(tunnel_endpoint b)" &&
	say "a: $ipa $porta, b: $ipb $portb" &&
	test "$ipa" = "$N2MIG" && test "$ipb" = "$N2MIG" &&
	test "$porta" != "$portb" &&
	node_exec n1 bash -c "echo to-b >/dev/tcp/$ipb/$portb" &&
	node_exec n1 bash -c "echo to-a >/dev/tcp/$ipa/$porta" &&
	tunnel_done a && tunnel_done b &&
	test "$(cat recv.a)" = to-a &&
	test "$(cat recv.b)" = to-b
'

test_expect_success 'with no migration network, --run-command listens on the node'"'"'s own address' '
	node_exec n1 rm /etc/pve/datacenter.cfg &&
	wait_for "n2 to see datacenter.cfg gone" 10 "node_exec n2 test ! -e /etc/pve/datacenter.cfg" &&
	mtunnel_bg own n2 --run-command -- sh -c "cat >\"$TRASH/recv.own\"" &&
	read -r ip port <<<"$(tunnel_endpoint own)" &&
	test "$ip" = "$(node_ip n2)" &&
	node_exec n1 bash -c "echo over-eth0 >/dev/tcp/$ip/$port" &&
	tunnel_done own &&
	test "$(cat recv.own)" = over-eth0
'

test_expect_success 'a failing command makes the tunnel fail with its exit code' '
	mtunnel_bg fail n2 --run-command -- sh -c "cat >/dev/null; exit 3" &&
	read -r ip port <<<"$(tunnel_endpoint fail)" &&
	node_exec n1 bash -c "echo x >/dev/tcp/$ip/$port" &&
	wait_for "tunnel fail to exit" 15 "test -s fail.rc" &&
	cat fail.err &&
	test "$(cat fail.rc)" = 1 &&
	grep -q "exited with code 3" fail.err
'

# wait_file FILE: until FILE exists, 30 s at most
wait_file () {
	local i
	for i in $(seq 600); do
		test -e "$1" && return 0
		sleep 0.05
	done
	return 1
}

# The writer feeds the tunnel "not quit" at once and "quit" once go.quit
# exists, then keeps its end open until go.end exists: so the tunnel can
# only have stopped at the quit line, not at the end of its input.
test_expect_success 'the plain tunnel says "tunnel online" and waits for "quit"' '
	test_when_finished "touch go.quit go.end" &&
	(
		say "not quit" && wait_file go.quit && say quit && wait_file go.end
	) | { node_exec n2 pvecm mtunnel >plain.out 2>plain.err; say $? >plain.rc; } &
	wait_for "tunnel online" 10 "grep -q \"^tunnel online\$\" plain.out" &&
	sleep 0.3 && test ! -e plain.rc &&
	touch go.quit &&
	wait_for "the tunnel to end at quit" 10 "test -s plain.rc" &&
	test ! -e go.end &&
	test "$(cat plain.rc)" = 0 &&
	test "$(cat plain.out)" = "tunnel online"
'

test_expect_success 'the plain tunnel ends at the end of its input too' '
	node_exec n2 timeout 10 pvecm mtunnel </dev/null >out &&
	test "$(cat out)" = "tunnel online"
'

test_expect_success 'over SSH from the other node, as a migrating node calls it' '
	node_start_sshd n2 &&
	node_sh n1 "ssh-keygen -q -t ed25519 -N \"\" -f /root/.ssh/id_ed25519" &&
	node_sh n1 "cat /root/.ssh/id_ed25519.pub" >n1.pub &&
	node_sh n2 "cat >>/root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys" <n1.pub &&
	node_exec n1 ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
		"root@$(node_ip n2)" pvecm mtunnel --migration_network "$MIGNET" \
		--get_migration_ip </dev/null >out 2>err &&
	cat out err &&
	test "$(cat out)" = "ip: '"'"'$N2MIG'"'"'"
'

test_expect_success 'without quorum every form prints "no quorum" and exits 0' '
	test_when_finished "node_heal n2" &&
	node_partition n2 &&
	cluster_wait_pve_readonly n2 &&
	node_exec n2 pvecm mtunnel --migration_network "$MIGNET" --get_migration_ip >out &&
	test "$(cat out)" = "no quorum" &&
	node_exec n2 pvecm mtunnel </dev/null >out &&
	test "$(cat out)" = "no quorum" &&
	node_exec n2 pvecm mtunnel --run-command -- cat >out &&
	test "$(cat out)" = "no quorum"
'

test_done
