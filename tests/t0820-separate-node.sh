#!/bin/bash
test_description='the manual'"'"'s "Separate A Node Without Reinstalling", command by command

A 3-node cluster. On n3, the section'"'"'s commands run exactly as printed in
the manual (systemctl stop pve-cluster, pmxcfs -l, rm, killall pmxcfs,
systemctl start pve-cluster, rm /var/lib/corosync/*), systemctl being the
service seam the other tests use (pve-cluster is the alias of pmxcfsd there,
as the unit installed by make install declares), and killall one limited to
the node. n3 ends up in local mode with its files; n1 deletes it with
pvecm delnode. A cluster node accepts a joining node one join API version
older than its own, as the reference does. pvecm delnode of a node that
still holds guest configurations refuses and changes nothing, with --force
removes it after copying its directory to the backup directory, and
without guests leaves nothing of the node anywhere in /etc/pve, so that it
can be added again cleanly. make install ships the names the manual uses: pmxcfs and
pve-cluster.service.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync
test_require_program pvecm

NODES="n1 n2 n3"

cluster_create 3
cluster_start_corosync

# The section as the manual prints it, with two shims: systemctl is the
# test's service seam, and killall acts on this node's processes only (all
# nodes share one pid namespace) and returns once they are gone, so that
# the next line does not find the old daemon still on its way out.
SECTION='
systemctl () { "$PVECM_SERVICE_CMD" "$@"; }
killall () {
	local p mine pids=
	mine=$(readlink /proc/self/ns/mnt)
	for p in /proc/[0-9]*; do
		[ "$(cat $p/comm 2>/dev/null)" = "$1" ] &&
		[ "$(readlink $p/ns/mnt 2>/dev/null)" = "$mine" ] || continue
		kill "${p#/proc/}" && pids="$pids ${p#/proc/}"
	done
	[ -n "$pids" ] || { echo "$1: no process found" >&2; return 1; }
	for p in $pids; do
		wait_for "process $p to exit" 10 "! pid_alive $p" || return 1
	done
}
set -ex
systemctl stop pve-cluster
systemctl stop corosync
pmxcfs -l
rm /etc/pve/corosync.conf
rm /etc/corosync/*
killall pmxcfs
systemctl start pve-cluster
'

test_expect_success 'make install ships pmxcfs and pve-cluster.service as the manual names them' '
	make -C "$SRC_ROOT" --no-print-directory BUILD="$BUILD" DESTDIR="$TRASH/dest" \
		UNITDIR=/lib/systemd/system install >install.log 2>&1 || { cat install.log; exit 1; } &&
	test "$(readlink "$TRASH/dest/usr/sbin/pmxcfs")" = pmxcfsd &&
	test -x "$TRASH/dest/usr/sbin/pmxcfs" &&
	test "$(readlink "$TRASH/dest/lib/systemd/system/pve-cluster.service")" = pmxcfsd.service &&
	sed -n "/^\[Install\]/,\$p" "$TRASH/dest/lib/systemd/system/pmxcfsd.service" |
		grep -qx "Alias=pve-cluster.service" &&
	test -s "$TRASH/dest/usr/share/bash-completion/completions/pvecm"
'

test_expect_success 'a 3-node cluster with /etc/pve/corosync.conf' '
	cluster_start_pmxcfsd $NODES &&
	cluster_wait_pve_writable $NODES &&
	node_sh n1 "cp /etc/corosync/corosync.conf /etc/pve/corosync.conf" &&
	node_sh n3 "echo kept >/etc/pve/nodes/n3/note" &&
	cluster_wait_trees_equal $NODES
'

test_expect_success 'on n3, the section runs as written, every command succeeding' '
	node_sh n3 "$SECTION" >section.out 2>&1 || { cat section.out; exit 1; } &&
	cat section.out
'

test_expect_success 'n3 is separated: pmxcfsd in local mode, writable, its files kept' '
	pid=$(node_pmxcfsd_pid n3) && pid_alive $pid &&
	node_exec n3 sh -c "! ls /etc/corosync/* 2>/dev/null" &&
	tail -n 5 "$(node_log n3)" | grep -q "local mode" &&
	test "$(node_exec n3 stat -c %a /etc/pve/local)" = 777 &&
	node_sh n3 "test \"\$(cat /etc/pve/nodes/n3/note)\" = kept && echo local >/etc/pve/after" &&
	test_must_fail node_exec n3 pvecm status >out 2>err &&
	cat err
'

test_expect_success 'a remaining node deletes it with pvecm delnode' '
	cluster_wait_members n1 2 &&
	node_exec n1 pvecm delnode n3 &&
	node_sh n1 "! grep -q \"name: n3\" /etc/pve/corosync.conf" &&
	wait_for "expected votes 2 on n2" 20 \
		"node_exec n2 pvecm status | grep -q \"^Expected votes:   2\\\$\""
'

test_expect_success 'and on n3, rm /var/lib/corosync/* as written' '
	node_sh n3 "set -e; rm /var/lib/corosync/*" 2>err || { cat err; exit 1; } &&
	node_exec n3 sh -c "! ls /var/lib/corosync/* 2>/dev/null"
'

test_expect_success 'addnode accepts a joining node one join API version older (0)' '
	test "$(node_exec n1 pvecm apiver)" = 1 &&
	node_exec n1 pvecm addnode n9 --apiversion 0 --link0 10.99.0.9 &&
	node_sh n1 "grep -q \"name: n9\" /etc/pve/corosync.conf"
'

# plant_n9: what a node leaves in /etc/pve while it is a member: its
# directory, its root key, its host key lines, its HA agent lock
plant_n9 () {
	node_sh n1 "
		set -e
		mkdir -p /etc/pve/nodes/n9/qemu-server /etc/pve/nodes/n9/lxc /etc/pve/nodes/n9/priv
		echo secret >/etc/pve/nodes/n9/priv/key
		echo cert >/etc/pve/nodes/n9/pve-ssl.pem
		echo \"ssh-rsa AAAAn9key root@n9\" >>/etc/pve/priv/authorized_keys
		echo \"ssh-rsa AAAAn1key root@n1\" >>/etc/pve/priv/authorized_keys
		echo \"n9 ssh-ed25519 AAAAn9host\" >>/etc/pve/priv/known_hosts
		echo \"10.99.0.9 ssh-ed25519 AAAAn9host\" >>/etc/pve/priv/known_hosts
		echo \"n1 ssh-ed25519 AAAAn1host\" >>/etc/pve/priv/known_hosts
		mkdir -p /etc/pve/priv/lock/ha_agent_n9_lock
	"
}

# pve_state: every path of /etc/pve (but the virtual files) with its
# content, and corosync.conf
pve_state () {
	node_sh n1 "cd /etc/pve && find . -name \".?*\" -prune -o -print | sort &&
		find . -name \".?*\" -prune -o -type f -print | sort | xargs cat"
}

test_expect_success 'delnode of a node with guest configurations refuses, naming them; nothing changes' '
	plant_n9 &&
	node_sh n1 "echo name: g1 >/etc/pve/nodes/n9/qemu-server/100.conf &&
		echo hostname: c1 >/etc/pve/nodes/n9/lxc/101.conf" &&
	before=$(pve_state) &&
	test_must_fail node_exec n1 pvecm delnode n9 >out 2>err &&
	cat err &&
	test $(wc -l <err) = 1 &&
	grep -q "nodes/n9/lxc/101.conf, /etc/pve/nodes/n9/qemu-server/100.conf" err &&
	grep -q "move each" err && grep -q -- "--force" err &&
	test "$(pve_state)" = "$before"
'

test_expect_success 'delnode --force removes it after copying its directory to the backup, and says where' '
	node_exec n1 pvecm delnode n9 --force >out 2>err &&
	cat out err &&
	backup=$(sed -n "s/.* was moved to \(.*\)\$/\1/p" out) &&
	case $backup in /var/lib/pve-cluster/backup/delnode-n9-*) ;; *) exit 1 ;; esac &&
	test "$(node_exec n1 cat $backup/qemu-server/100.conf)" = "name: g1" &&
	test "$(node_exec n1 cat $backup/lxc/101.conf)" = "hostname: c1" &&
	test "$(node_exec n1 cat $backup/priv/key)" = secret &&
	test "$(node_exec n1 stat -c %a $backup)" = 700 &&
	node_sh n1 "test ! -e /etc/pve/nodes/n9 && ! grep -q n9 /etc/pve/corosync.conf"
'

test_expect_success 'delnode of a node without guests leaves nothing of it anywhere in /etc/pve' '
	node_exec n1 pvecm addnode n9 --link0 10.99.0.9 &&
	plant_n9 &&
	node_exec n1 pvecm delnode n9 >out 2>err &&
	test ! -s out && test ! -s err &&
	node_sh n1 "
		test ! -e /etc/pve/nodes/n9 &&
		test ! -e /etc/pve/priv/lock/ha_agent_n9_lock &&
		! grep -q \"n9\|10.99.0.9\" /etc/pve/corosync.conf /etc/pve/priv/authorized_keys \
			/etc/pve/priv/known_hosts &&
		grep -qx \"ssh-rsa AAAAn1key root@n1\" /etc/pve/priv/authorized_keys &&
		grep -qx \"n1 ssh-ed25519 AAAAn1host\" /etc/pve/priv/known_hosts &&
		cd /etc/pve && ! find . -name \".?*\" -prune -o -print | grep n9 &&
		! find . -name \".?*\" -prune -o -type f -print0 | xargs -0 grep -l \"n9\|10\.99\.0\.9\"
	"
'

test_expect_success 'and it can be added again under the same name and address' '
	node_exec n1 pvecm addnode n9 --link0 10.99.0.9 &&
	node_sh n1 "test \$(grep -c \"name: n9\" /etc/pve/corosync.conf) = 1 &&
		! grep -q n9 /etc/pve/priv/known_hosts"
'

# complete LINE: what bash offers for LINE (typed up to its end) on n1,
# through the installed completion file, one word a line
complete_on_n1 () {
	node_exec n1 bash -c '
		. "$1" || exit 1
		COMP_LINE=$2 COMP_POINT=${#2}
		read -r -a COMP_WORDS <<<"$2"
		[ "${2% }" != "$2" ] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_pvecm && printf "%s\n" "${COMPREPLY[@]}"
	' complete "$TRASH/dest/usr/share/bash-completion/completions/pvecm" "$1"
}

test_expect_success 'bash completion: commands, options and node names, from pvecm'"'"'s own table' '
	node_exec n1 bash -c ". $TRASH/dest/usr/share/bash-completion/completions/pvecm && complete -p pvecm" |
		grep -q "_pvecm pvecm" &&
	complete_on_n1 "pvecm " >words &&
	pvecm help | sed -n "s/^ *pvecm \([a-z][a-z-]*\).*/\1/p" | sort -u >commands &&
	sort -u words | test_cmp commands - &&
	test "$(complete_on_n1 "pvecm del")" = delnode &&
	test "$(complete_on_n1 "pvecm links --out")" = --output-format &&
	test "$(complete_on_n1 "pvecm updatecerts --unm")" = --unmerge-known-hosts &&
	test "$(complete_on_n1 "pvecm delnode ")" = "$(printf "n1\nn2\nn9")" &&
	test "$(complete_on_n1 "pvecm delnode n")" = "$(printf "n1\nn2\nn9")" &&
	test "$(complete_on_n1 "pvecm delnode n9 --f")" = --force &&
	test -z "$(complete_on_n1 "pvecm expected ")" &&
	test "$(complete_on_n1 "pvecm help sta")" = status
'

test_done
