#!/bin/bash
test_description='pmxcfsd as a 3-node cluster: replication, quorum, sync, restarts

Three nodes with real corosync and pmxcfsd in cluster mode. A write on any
node reads back the same everywhere; concurrent writers converge; a cut-off
node turns read-only (EACCES) and catches up when it returns; a daemon
killed with -9, a daemon down during writes and a cold start of the whole
cluster keep every acknowledged write; locks are cluster-wide; only synced
replicas count toward write quorum.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync

NODES="n1 n2 n3"

cluster_create 3
cluster_start_corosync

test_expect_success 'pmxcfsd starts in cluster mode on three nodes and becomes writable' '
	cluster_start_pmxcfsd $NODES &&
	cluster_wait_pve_writable $NODES &&
	for n in $NODES; do node_exec $n test -d /etc/pve/nodes/$n/qemu-server || return 1; done
'

test_expect_success 'each node has its own directories, visible on every node' '
	cluster_wait_trees_equal $NODES &&
	for n in $NODES; do
		test "$(node_exec $n ls /etc/pve/nodes | tr "\n" " ")" = "n1 n2 n3 " || return 1
	done
'

test_expect_success 'a write on one node reads back the same on all, with size and mtime' '
	node_exec n1 sh -c "printf \"hello from n1\n\" >/etc/pve/greeting" &&
	for n in $NODES; do
		cluster_wait_file $n /etc/pve/greeting "hello from n1" || return 1
	done &&
	s1=$(node_exec n1 stat -c "%s %Y" /etc/pve/greeting) &&
	test "$s1" = "$(node_exec n2 stat -c "%s %Y" /etc/pve/greeting)" &&
	test "$s1" = "$(node_exec n3 stat -c "%s %Y" /etc/pve/greeting)"
'

# Answered once members holding quorum applied it (DESIGN, write path):
# with three nodes that is the writer and at least one other, at once; the
# third may apply it a moment later.
test_expect_success 'the write is answered only once a quorum has it (no polling needed)' '
	for i in $(seq 1 20); do
		node_exec n2 sh -c "echo $i >/etc/pve/counter" &&
		a=$(node_exec n1 cat /etc/pve/counter) &&
		b=$(node_exec n3 cat /etc/pve/counter) &&
		test "$(node_exec n2 cat /etc/pve/counter)" = $i &&
		{ test "$a" = $i || test "$b" = $i; } &&
		wait_for "n1 and n3 to apply write $i" 5 \
			"test \"\$(node_exec n1 cat /etc/pve/counter)\" = $i &&
			 test \"\$(node_exec n3 cat /etc/pve/counter)\" = $i" || return 1
	done
'

# write_then_close NODE PATH TAG: in the background, creates PATH on NODE,
# writes "x", records "written" in $TRASH/TAG.written, closes it and
# records close's errno name (0 for success) in $TRASH/TAG.closed
write_then_close () {
	node_exec "$1" python3 -c '
import errno, os, sys
path, tag = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
os.write(fd, b"x")
open(tag + ".written", "w").close()
try:
    os.close(fd)
    rc = "0"
except OSError as e:
    rc = errno.errorcode[e.errno]
with open(tag + ".closed.tmp", "w") as f:
    f.write(rc + "\n")
os.rename(tag + ".closed.tmp", tag + ".closed")
' "$2" "$TRASH/$3" &
}

test_expect_success 'a write returns before a quorum has it; its close waits until a quorum confirmed it' '
	p1=$(node_pmxcfsd_pid n1) && p2=$(node_pmxcfsd_pid n2) &&
	test_when_finished "kill -CONT $p1 $p2" &&
	kill -STOP $p1 $p2 &&
	write_then_close n3 /etc/pve/confirmed-at-close cac &&
	wait_for "the write on n3 to return" 10 "test -e \"$TRASH/cac.written\"" &&
	test ! -e "$TRASH/cac.closed" &&
	kill -CONT $p1 $p2 &&
	wait_for "the close on n3 to return" 10 "test -e \"$TRASH/cac.closed\"" &&
	test "$(cat "$TRASH/cac.closed")" = 0 &&
	a=$(node_exec n1 cat /etc/pve/confirmed-at-close) &&
	b=$(node_exec n2 cat /etc/pve/confirmed-at-close) &&
	{ test "$a" = x || test "$b" = x; }
'

test_expect_success 'every process on the writing node reads a write back at once, before its close' '
	node_exec n1 python3 -c "
import os, sys
p = \"/etc/pve/read-own-writes\"
for i in range(300):
    data = (\"v%d \" % i).encode() * (1 + i % 7)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    os.write(fd, data)
    size = os.stat(p).st_size
    with open(p, \"rb\") as f:
        got = f.read()
    os.close(fd)
    if size != len(data) or got != data:
        sys.exit(\"write %d: stat says %d bytes, a read gives %r; written: %r\" % (i, size, got[:40], data[:40]))
" &&
	cluster_wait_file n3 /etc/pve/read-own-writes "$(printf "v299 %.0s" 1 2 3 4 5 6)"
'

test_expect_success 'a close whose write lost quorum before a quorum confirmed it fails with EIO' '
	p1=$(node_pmxcfsd_pid n1) && p2=$(node_pmxcfsd_pid n2) &&
	test_when_finished "kill -CONT $p1 $p2; node_heal n3" &&
	kill -STOP $p1 $p2 &&
	write_then_close n3 /etc/pve/unconfirmed-at-close uac &&
	wait_for "the write on n3 to return" 10 "test -e \"$TRASH/uac.written\"" &&
	node_partition n3 &&
	wait_for "the close on n3 to return" 20 "test -e \"$TRASH/uac.closed\"" &&
	test "$(cat "$TRASH/uac.closed")" = EIO &&
	kill -CONT $p1 $p2 &&
	node_heal n3 &&
	cluster_wait_pve_writable $NODES &&
	cluster_wait_trees_equal $NODES &&
	# EIO, not EACCES: the others had the write before n3 was cut off
	cluster_wait_file n1 /etc/pve/unconfirmed-at-close x &&
	cluster_wait_file n3 /etc/pve/unconfirmed-at-close x
'

test_expect_success 'every kind of change replicates: mkdir, rename over, truncate, unlink, rmdir, utime' '
	node_exec n3 sh -c "
		mkdir /etc/pve/dir &&
		echo v1 >/etc/pve/dir/conf &&
		cp /etc/pve/dir/conf /etc/pve/dir/conf.new &&
		echo v2 >>/etc/pve/dir/conf.new &&
		mv /etc/pve/dir/conf.new /etc/pve/dir/conf &&
		echo gone >/etc/pve/dir/tmp && rm /etc/pve/dir/tmp &&
		mkdir /etc/pve/dir/sub && rmdir /etc/pve/dir/sub &&
		echo 123456 >/etc/pve/trunc && truncate -s 3 /etc/pve/trunc &&
		touch -d @1000000000 /etc/pve/dir/conf
	" &&
	cluster_wait_trees_equal $NODES &&
	test "$(node_exec n1 cat /etc/pve/dir/conf)" = "$(printf "v1\nv2")" &&
	test "$(node_exec n1 ls /etc/pve/dir)" = conf &&
	test "$(node_exec n2 cat /etc/pve/trunc)" = 123 &&
	test "$(node_exec n2 stat -c %Y /etc/pve/dir/conf)" = 1000000000
'

test_expect_success 'a reader on n2 holding a file reads its old bytes whole after n1 renames a new one over it' '
	head -c 600000 /dev/urandom >old.bin &&
	node_exec n1 cp "$PWD/old.bin" /etc/pve/held.bin &&
	wait_for "n2 to have held.bin" 10 "node_exec n2 cmp -s $PWD/old.bin /etc/pve/held.bin" &&
	{ node_exec n2 sh -c "exec 3</etc/pve/held.bin; touch $PWD/opened;
		while ! test -e $PWD/replaced; do sleep 0.05; done;
		cat <&3 >$PWD/read.bin" & } &&
	reader=$! &&
	wait_for "the reader on n2 to open held.bin" 10 "test -e opened" &&
	node_exec n1 sh -c "echo new >/etc/pve/held.tmp && mv /etc/pve/held.tmp /etc/pve/held.bin" &&
	wait_for "n2 to see the new held.bin" 10 "test \"\$(node_exec n2 cat /etc/pve/held.bin)\" = new" &&
	touch replaced &&
	wait $reader &&
	cmp old.bin read.bin
'

test_expect_success PERL 'a rewrite (open with O_TRUNC, write, close) reaches every node as one change' '
	node_exec n1 sh -c "printf \"keyboard: en-us, longer\n\" >/etc/pve/datacenter.cfg" &&
	cluster_wait_file n2 /etc/pve/datacenter.cfg "keyboard: en-us, longer" &&
	v0=$(node_exec n2 cat /etc/pve/.version | json_get datacenter.cfg) &&
	node_exec n1 perl -e "open(my \$f, \">\", \"/etc/pve/datacenter.cfg\") or die; print \$f \"keyboard: de\n\"; close(\$f) or die" &&
	for n in $NODES; do
		cluster_wait_file $n /etc/pve/datacenter.cfg "keyboard: de" || return 1
	done &&
	v1=$(node_exec n2 cat /etc/pve/.version | json_get datacenter.cfg) &&
	echo "datacenter.cfg versions: $v0 -> $v1" &&
	test $((v1 - v0)) = 1
'

test_expect_success 'O_TRUNC without a write (a shell redirection) empties the file when it is closed' '
	node_exec n2 sh -c ": >/etc/pve/datacenter.cfg" &&
	for n in $NODES; do
		wait_for "an empty datacenter.cfg on $n" 10 \
			"test \"\$(node_exec $n stat -c %s /etc/pve/datacenter.cfg)\" = 0" || return 1
	done
'

test_expect_success PERL 'after O_TRUNC its node sees an empty file, the others the old one until a write' '
	node_exec n1 sh -c "printf 0123456789 >/etc/pve/pending" &&
	PENDING1=$(node_path n1 /etc/pve/pending) PENDING2=$(node_path n2 /etc/pve/pending) perl -e "
		open(my \$f, \"+>\", \$ENV{PENDING1}) or die \"open: \$!\";
		my \$size = (stat(\$f))[7];
		my \$n = sysread(\$f, my \$buf, 100);
		print \"\$size \$n\n\";
		# read in this process: a child would close a copy of \$f, and
		# every close sends the truncation
		for my \$p (\$ENV{PENDING1}, \$ENV{PENDING2}) {
			open(my \$r, \"<\", \$p) or die \"open \$p: \$!\";
			my \$c = <\$r> // \"\";
			close(\$r);
			print \"\$c\n\";
		}
		syswrite(\$f, \"ab\") or die \"write: \$!\";
		close(\$f) or die \"close: \$!\";
	" >out &&
	cat out &&
	test "$(sed -n 1p out)" = "0 0" &&
	test -z "$(sed -n 2p out)" &&
	test "$(sed -n 3p out)" = 0123456789 &&
	for n in $NODES; do
		cluster_wait_file $n /etc/pve/pending ab || return 1
	done
'

test_expect_success 'copying an empty file over a full one, keeping its timestamps, keeps the mtime' '
	node_exec n3 sh -c "printf full >/etc/pve/target && : >/tmp/empty-src && touch -d @1200000000 /tmp/empty-src &&
		cp --preserve=timestamps /tmp/empty-src /etc/pve/target" &&
	for n in $NODES; do
		wait_for "target on $n with size 0 and mtime 1200000000" 10 \
			"test \"\$(node_exec $n stat -c \"%s %Y\" /etc/pve/target)\" = \"0 1200000000\"" ||
			return 1
	done
'

test_expect_success '.members lists every node online with its id and address' '
	for n in $NODES; do
		node_exec $n cat /etc/pve/.members >members.$n &&
		test "$(json_get cluster name <members.$n)" = testclu &&
		test "$(json_get cluster nodes <members.$n)" = 3 &&
		test "$(json_get nodename <members.$n)" = $n || return 1
		for m in 1 2 3; do
			test "$(json_get nodelist n$m id <members.$n)" = $m &&
			test "$(json_get nodelist n$m online <members.$n)" = 1 &&
			test "$(json_get nodelist n$m ip <members.$n)" = "$(node_ip n$m)" || return 1
		done
	done
'

test_expect_success '.vmlist and .version are the same on every node' '
	node_exec n1 sh -c "echo name: a >/etc/pve/nodes/n1/qemu-server/100.conf" &&
	node_exec n2 sh -c "echo name: b >/etc/pve/nodes/n2/lxc/101.conf" &&
	cluster_wait_trees_equal $NODES &&
	v=$(node_exec n1 cat /etc/pve/.vmlist) &&
	test "$(echo "$v" | json_get ids 100 node)" = n1 &&
	test "$(echo "$v" | json_get ids 101 type)" = lxc &&
	for n in n2 n3; do
		test "$(node_exec $n cat /etc/pve/.vmlist)" = "$v" || return 1
	done &&
	node_exec n1 cat /etc/pve/.version | json_get vmlist >ver1 &&
	node_exec n3 cat /etc/pve/.version | json_get vmlist >ver3 &&
	test_cmp ver1 ver3
'

test_expect_success 'a guest id taken on one node cannot be created on another' '
	node_sh n3 "test_errno EEXIST create /etc/pve/nodes/n3/qemu-server/100.conf"
'

test_expect_success 'concurrent writers on all nodes, same and different files, converge' '
	pids= &&
	for n in $NODES; do
		node_sh $n "
			for i in \$(seq 1 40); do
				echo \"$n \$i\" >/etc/pve/same || exit 1
				echo \"$n \$i\" >/etc/pve/own-$n-\$i || exit 1
			done
		" &
		pids="$pids $!"
	done &&
	for p in $pids; do wait $p || return 1; done &&
	cluster_wait_trees_equal $NODES &&
	for n in $NODES; do
		test "$(node_exec n1 cat /etc/pve/own-$n-40)" = "$n 40" || return 1
	done &&
	case "$(node_exec n2 cat /etc/pve/same)" in
	"n1 40" | "n2 40" | "n3 40") ;;
	*) false ;;
	esac
'

test_expect_success 'locks are cluster-wide: a lock held on one node is refused on another' '
	node_exec n1 mkdir /etc/pve/priv/lock/storage-a &&
	node_sh n2 "test_errno EEXIST mkdir /etc/pve/priv/lock/storage-a" &&
	node_sh n3 "test_errno EEXIST mkdir /etc/pve/priv/lock/storage-a" &&
	node_exec n1 touch -d @0 /etc/pve/priv/lock/storage-a &&
	node_exec n2 mkdir /etc/pve/priv/lock/storage-a &&
	node_sh n1 "test_errno EEXIST mkdir /etc/pve/priv/lock/storage-a" &&
	node_exec n2 touch -d @0 /etc/pve/priv/lock/storage-a
'

# newest_log_entry NODE: the newest entry of the node's cluster log, its
# fields but the node-local sequence number (uid), one per line
newest_log_entry () {
	node_exec "$1" cat /etc/pve/.clusterlog |
		perl -MJSON::PP -e '
			my $e = JSON::PP->new->decode(join "", <STDIN>)->{data}[0] or exit 1;
			print "$_=$e->{$_}\n" for grep { $_ ne "uid" } sort keys %$e;'
}
export -f newest_log_entry

# Each node's own "starting pmxcfsd" entry, and the entries sent before a
# node joined, are not merged into the others' logs at a sync; so only
# what was logged with all three in the group is the same everywhere.
test_expect_success PERL 'the newest cluster log entry, logged with all nodes in the group, is the same on every node' '
	newest_log_entry n1 >entry1 &&
	grep -q "^msg=node 3 joined the file system group$" entry1 &&
	wait_for "the same newest cluster log entry on n2 and n3" 10 "
		newest_log_entry n2 >entry2 && newest_log_entry n3 >entry3 &&
		cmp -s entry1 entry2 && cmp -s entry1 entry3" ||
	{ diff -u entry1 entry2; diff -u entry1 entry3; false; }
'

# ------------------------------------------------------------ partitions

test_expect_success 'a node cut off turns read-only (EACCES) and keeps reading' '
	node_partition n3 &&
	cluster_wait_pve_readonly n3 &&
	node_sh n3 "test_errno EACCES create /etc/pve/minority" &&
	node_sh n3 "test_errno EACCES write /etc/pve/greeting 3" &&
	node_sh n3 "test_errno EACCES mkdir /etc/pve/minority-dir" &&
	node_sh n3 "test_errno EACCES unlink /etc/pve/greeting" &&
	test "$(node_exec n3 cat /etc/pve/greeting)" = "hello from n1"
'

test_expect_success 'on the cut-off node, opening a file with O_TRUNC fails at once (EACCES)' '
	node_sh n3 "test_errno EACCES otrunc /etc/pve/greeting" &&
	test "$(node_exec n3 cat /etc/pve/greeting)" = "hello from n1"
'

test_expect_success 'the majority keeps writing while n3 is cut off' '
	cluster_wait_pve_writable n1 n2 &&
	node_exec n1 sh -c "for i in \$(seq 1 30); do echo \$i >/etc/pve/during-partition-\$i || exit 1; done" &&
	node_exec n2 sh -c "echo changed >/etc/pve/greeting"
'

test_expect_success 'after the heal n3 has every write of the majority' '
	node_heal n3 &&
	cluster_wait_pve_writable n3 &&
	cluster_wait_trees_equal $NODES &&
	test "$(node_exec n3 cat /etc/pve/during-partition-30)" = 30 &&
	test "$(node_exec n3 cat /etc/pve/greeting)" = changed &&
	node_sh n3 "test_errno ENOENT open /etc/pve/minority" &&
	node_exec n3 sh -c "echo back >/etc/pve/from-n3" &&
	cluster_wait_file n1 /etc/pve/from-n3 back
'

# ------------------------------------------------------------ replicas that count

test_expect_success 'only synced replicas count: with two daemons stopped, the third refuses writes' '
	node_stop_pmxcfsd n2 &&
	node_stop_pmxcfsd n3 &&
	node_quorate n1 &&
	cluster_wait_pve_readonly n1 &&
	node_sh n1 "test_errno EACCES create /etc/pve/alone" &&
	test "$(node_exec n1 cat /etc/pve/greeting)" = changed
'

test_expect_success 'a daemon that was down while others wrote catches up when it returns' '
	node_start_pmxcfsd n2 &&
	cluster_wait_pve_writable n1 n2 &&
	node_exec n1 sh -c "for i in \$(seq 1 50); do echo \$i >/etc/pve/while-n3-down-\$i || exit 1; done" &&
	node_start_pmxcfsd n3 &&
	cluster_wait_pve_writable n3 &&
	cluster_wait_trees_equal $NODES &&
	test "$(node_exec n3 cat /etc/pve/while-n3-down-50)" = 50
'

test_expect_success 'kill -9 of a daemon during writes: every acknowledged write survives' '
	node_sh n1 "
		for i in \$(seq 1 200); do
			echo \$i >/etc/pve/ledger-\$i && echo \$i >>\"\$TRASH/ledger\" || exit 0
		done
	" &
	writer=$! &&
	wait_for "writes to start" 10 "test -s ledger" &&
	node_kill9_pmxcfsd n2 &&
	wait $writer &&
	node_start_pmxcfsd n2 &&
	cluster_wait_pve_writable $NODES &&
	cluster_wait_trees_equal $NODES &&
	test -s ledger &&
	node_sh n2 "
		while read -r i; do
			test \"\$(cat /etc/pve/ledger-\$i)\" = \$i || { echo lost ledger-\$i; exit 1; }
		done <\"\$TRASH/ledger\"
	"
'

test_expect_success 'a cold start of the whole cluster, in another order, keeps everything' '
	before=$(node_tree_digest n1) &&
	for n in $NODES; do node_stop_pmxcfsd $n || return 1; done &&
	cluster_start_pmxcfsd n3 n2 n1 &&
	cluster_wait_pve_writable $NODES &&
	cluster_wait_trees_equal $NODES &&
	test "$(node_tree_digest n1)" = "$before"
'

test_expect_success 'without corosync pmxcfsd serves reads, refuses writes, and recovers' '
	node_stop_corosync n3 &&
	cluster_wait_pve_readonly n3 &&
	test "$(node_exec n3 cat /etc/pve/greeting)" = changed &&
	node_sh n3 "test_errno EACCES create /etc/pve/no-corosync" &&
	node_start_corosync n3 &&
	cluster_wait_pve_writable n3 &&
	node_exec n3 sh -c "echo again >/etc/pve/corosync-back" &&
	cluster_wait_file n1 /etc/pve/corosync-back again &&
	test $(grep -c "cannot join the cluster" "$TRASH/nodes/n3/pmxcfsd.log") -le 1
'

test_done
