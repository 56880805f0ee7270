#!/bin/bash
test_description='pvecm wait-quorum through a cold start of a 3-node cluster

The manual'"'"'s cold start: after a power failure the nodes boot one by
one, and what needs the cluster starts only once it is quorate. Every
node'"'"'s corosync and pmxcfsd are stopped; `pvecm wait-quorum --timeout 60`
runs on all three before anything starts; the nodes come up one at a time
in a random order. Each wait returns 0 only once its node is quorate (not
before the second node came up) and /etc/pve is writable when it returns.
With one node up, a shorter wait gives up with exit 1, silently but for its
last line, or with progress lines on a terminal.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync
test_require_program pvecm

NODES="n1 n2 n3"
cluster_create 3
cluster_start_corosync
cluster_start_pmxcfsd $NODES
cluster_wait_pve_writable $NODES || error "the cluster did not become writable"

# wait_bg NODE: `pvecm wait-quorum --timeout 60` in the background on NODE;
# when it returns, wq.NODE gets its exit code and the time (µs), and
# write.NODE the outcome of a write to /etc/pve made right then
wait_bg () {
	rm -f "wq.$1" "write.$1"
	node_sh "$1" '
		pvecm wait-quorum --timeout 60 2>"wq.$(hostname).err"
		rc=$?
		t=$(now_us)
		if echo "cold start" >"/etc/pve/cold-$(hostname)" 2>"write.$(hostname).err"; then
			w=ok
		else
			w=failed
		fi
		say "$w" >"write.$(hostname)"
		say "$rc $t" >"wq.$(hostname)"
	' &
}

# node_runs_pvecm NODE: a pvecm process runs in the node
node_runs_pvecm () {
	local pid
	for pid in $(ip netns pids "$(node_ns "$1")"); do
		[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pvecm ] && return 0
	done
	return 1
}

# node_up NODE: the node boots: pmxcfsd first (its unit orders it before
# corosync), then corosync, not waiting for it to join
node_up () {
	node_start_pmxcfsd "$1" && node_launch_corosync "$1"
}

test_expect_success 'on a quorate node wait-quorum returns 0 at once, silently' '
	start=$(now_us) &&
	node_exec n1 pvecm wait-quorum --timeout 5 >out 2>err &&
	test ! -s out && test ! -s err &&
	test $(($(now_us) - start)) -lt 3000000
'

test_expect_success 'power failure: every node'"'"'s corosync and pmxcfsd stop' '
	for n in $NODES; do
		node_stop_pmxcfsd $n && node_stop_corosync $n || return 1
	done
'

ORDER=$(shuf -e $NODES | tr "\n" " ")
read -r FIRST SECOND THIRD <<<"$ORDER"
export FIRST SECOND THIRD
say "# cold start order: $ORDER"

test_expect_success 'wait-quorum runs on every node before anything has started' '
	for n in $NODES; do wait_bg $n; done &&
	for n in $NODES; do
		wait_for "wait-quorum to run on $n" 10 "node_runs_pvecm $n" || return 1
	done
'

test_expect_success 'the first node comes up; a wait there alone times out with exit 1' '
	node_up $FIRST &&
	node_wait_corosync_answers $FIRST &&
	start=$(now_us) &&
	test_exit_code 1 node_exec $FIRST pvecm wait-quorum --timeout 3 >out 2>err &&
	elapsed=$(($(now_us) - start)) &&
	cat err &&
	test "$elapsed" -ge 3000000 &&
	test ! -s out &&
	test $(wc -l <err) = 1 &&
	grep -q "^pvecm wait-quorum: no quorum after 3 s: /etc/pve is read-only" err &&
	for n in $NODES; do test ! -e wq.$n || return 1; done
'

test_expect_success 'on a terminal, a wait says every few seconds what it waits for' '
	test_exit_code 1 node_exec $FIRST script -qec "pvecm wait-quorum --timeout 6" /dev/null \
		>tty.out 2>&1 &&
	cat tty.out &&
	grep -q "waiting for quorum (5 s): /etc/pve is read-only" tty.out &&
	grep -q "no quorum after 6 s" tty.out &&
	for n in $NODES; do test ! -e wq.$n || return 1; done
'

test_expect_success 'the second node comes up: both waits return 0, not before, and can write' '
	t2=$(now_us) &&
	node_up $SECOND &&
	for n in $FIRST $SECOND; do
		wait_for "wait-quorum on $n to return" 30 "test -s wq.$n" || return 1
	done &&
	for n in $FIRST $SECOND; do
		read -r rc t <wq.$n &&
		say "$n: exit $rc, $(((t - t2) / 1000)) ms after the second node started" &&
		test "$rc" = 0 && test "$t" -gt "$t2" &&
		test "$(cat write.$n)" = ok || { cat wq.$n.err write.$n.err; return 1; }
	done &&
	test ! -e wq.$THIRD
'

test_expect_success 'the third node comes up: its wait returns 0 and it can write' '
	t3=$(now_us) &&
	node_up $THIRD &&
	wait_for "wait-quorum on $THIRD to return" 30 "test -s wq.$THIRD" &&
	read -r rc t <wq.$THIRD &&
	test "$rc" = 0 && test "$t" -gt "$t3" &&
	test "$(cat write.$THIRD)" = ok &&
	for n in $NODES; do
		test "$(node_exec $THIRD cat /etc/pve/cold-$n)" = "cold start" || return 1
	done
'

test_done
