#!/bin/bash
test_description='the pmxcfsd daemon: start, stop, one instance, persistence, the database

Daemonizing returns only once /etc/pve is mounted; a second instance and a
busy mount point are refused; SIGTERM stops cleanly; the tree persists
across restarts; the node name must resolve to a non-loopback address
unless in local mode; a damaged or foreign database is refused and left
as it was.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root

node_create n1
test_node n1

# ------------------------------------------------------------ daemonizing

test_expect_success 'pmxcfsd daemonizes and returns only once /etc/pve is mounted' '
	pmxcfsd -l 2>err &&
	mountpoint -q /etc/pve &&
	test -d /etc/pve/nodes/n1 &&
	echo first >/etc/pve/first &&
	test "$(cat /etc/pve/first)" = first
'

test_expect_success 'the daemon writes its pid file and control socket' '
	pid=$(cat /run/pmxcfsd/pmxcfsd.pid) &&
	pid_alive "$pid" &&
	test "$(cat /proc/$pid/comm)" = pmxcfsd &&
	test -S /run/pmxcfsd/pmxcfsd.sock &&
	test "$(stat -c "%a %U" /run/pmxcfsd/pmxcfsd.sock)" = "600 root"
'

test_expect_success 'the database is created with the default path' '
	test -s /var/lib/pve-cluster/config.db &&
	test "$(head -c 15 /var/lib/pve-cluster/config.db)" = "SQLite format 3"
'

test_expect_success 'a second instance is refused with a message' '
	test_must_fail pmxcfsd -l 2>err &&
	test -s err && cat err &&
	test_must_fail pmxcfsd -f -l 2>err2 &&
	test -s err2 &&
	pid_alive "$(cat /run/pmxcfsd/pmxcfsd.pid)" &&
	test "$(cat /etc/pve/first)" = first
'

test_expect_success 'a second instance with its own pid file is refused (mount point busy)' '
	test_must_fail pmxcfsd -l --pidfile=/run/other.pid --socket=/run/other.sock 2>err &&
	test -s err && cat err &&
	test "$(cat /etc/pve/first)" = first
'

test_expect_success 'SIGTERM stops the daemon cleanly and unmounts' '
	pid=$(cat /run/pmxcfsd/pmxcfsd.pid) &&
	kill -TERM "$pid" &&
	wait_for "pmxcfsd (pid $pid) to exit" 10 "! pid_alive $pid" &&
	! mountpoint -q /etc/pve &&
	test ! -S /run/pmxcfsd/pmxcfsd.sock
'

# private_to_root: nobody may list /var/lib/pve-cluster or read anything
# in it, and the secret in priv/ is not found by a local user's grep
private_to_root () {
	test "$(stat -c "%a %U" /var/lib/pve-cluster)" = "700 root" &&
	test "$(stat -c "%a %U" /var/lib/pve-cluster/config.db)" = "600 root" &&
	! runuser -u nobody -- ls /var/lib/pve-cluster >/dev/null 2>&1 &&
	find /var/lib/pve-cluster -mindepth 1 >files &&
	test -s files &&
	while read -r f; do
		if runuser -u nobody -- test -r "$f"; then echo "readable by nobody: $f"; return 1; fi
		if test -f "$f" && test "$(stat -c %a "$f")" != 600; then
			echo "mode of $f: $(stat -c %a "$f")"; return 1
		fi
	done <files &&
	{ runuser -u nobody -- grep -rqa private-key-material /var/lib/pve-cluster 2>/dev/null; test $? = 2; }
}
export -f private_to_root

test_expect_success 'the database and its directory are root'"'"'s alone, whatever the umask' '
	node_start_pmxcfsd n1 -l &&
	echo private-key-material >/etc/pve/priv/authkey.key &&
	private_to_root &&
	node_stop_pmxcfsd n1
'

test_expect_success 'a database left readable by others is made private at start, and logged' '
	chmod 644 /var/lib/pve-cluster/config.db &&
	chmod 755 /var/lib/pve-cluster &&
	mkdir -p /var/lib/pve-cluster/backup &&
	chmod 755 /var/lib/pve-cluster/backup &&
	cp /var/lib/pve-cluster/config.db /var/lib/pve-cluster/backup/config-1.db &&
	chmod 644 /var/lib/pve-cluster/backup/config-1.db &&
	runuser -u nobody -- grep -qa private-key-material /var/lib/pve-cluster/config.db &&
	node_start_pmxcfsd n1 -l &&
	test "$(cat /etc/pve/priv/authkey.key)" = private-key-material &&
	private_to_root &&
	grep -q "config.db was readable by others (mode 644); now 600" "$(node_log n1)" &&
	node_stop_pmxcfsd n1 &&
	rm -r /var/lib/pve-cluster/backup
'

test_expect_success 'the database is consistent after a clean stop' '
	test "$(sqlite3 /var/lib/pve-cluster/config.db "PRAGMA integrity_check")" = ok
'

test_expect_success 'a busy mount point is refused with a message' '
	mount -t tmpfs busy /etc/pve &&
	test_when_finished "umount /etc/pve" &&
	test_must_fail pmxcfsd -l 2>err &&
	test -s err && cat err &&
	test "$(findmnt -n -o FSTYPE /etc/pve)" = tmpfs
'

test_expect_success 'SIGTERM of a foreground pmxcfsd: exit status 0, mount gone' '
	node_start_pmxcfsd n1 -l &&
	node_stop_pmxcfsd n1
'

test_expect_success 'SIGTERM while a writer is busy: the daemon still stops' '
	node_start_pmxcfsd n1 -l &&
	mkdir /etc/pve/busy &&
	# once /etc/pve is unmounted, /etc/pve/busy is gone and the loop ends
	(i=0; while [ $i -lt 100000 ]; do echo $i >/etc/pve/busy/f || break; i=$((i + 1)); done) &
	sleep 0.3 &&
	node_stop_pmxcfsd n1 &&
	wait_for "the writer to stop" 10 "! kill -0 $! 2>/dev/null"
'

test_expect_success 'after kill -9, pmxcfsd starts again over its own dead mount' '
	pmxcfsd -l &&
	echo before-crash >/etc/pve/crash-probe &&
	pid=$(cat /run/pmxcfsd/pmxcfsd.pid) &&
	kill -KILL "$pid" &&
	wait_for "pmxcfsd (pid $pid) to die" 10 "! pid_alive $pid" &&
	test_when_finished "node_pmxcfsd_ensure_stopped n1" &&
	pmxcfsd -l 2>err;
	cat err;
	test "$(cat /etc/pve/crash-probe)" = before-crash &&
	node_pmxcfsd_ensure_stopped n1
'

# ------------------------------------------------ the mount point, daemon down

test_expect_success 'after a clean stop, a write to the bare /etc/pve fails at once' '
	node_start_pmxcfsd n1 -l &&
	node_stop_pmxcfsd n1 &&
	! mountpoint -q /etc/pve &&
	lsattr -d /etc/pve | grep -q "^[^ ]*i" &&
	test_errno EPERM create /etc/pve/lost-while-down &&
	test_errno EPERM mkdir /etc/pve/lost-dir &&
	test_must_fail sh -c "echo lost >/etc/pve/lost-while-down" &&
	test -z "$(ls -A /etc/pve)"
'

test_expect_success 'after kill -9 and a lazy unmount, a write to the bare /etc/pve fails at once' '
	node_start_pmxcfsd n1 -l &&
	echo served >/etc/pve/served &&
	node_kill9_pmxcfsd n1 &&
	! mountpoint -q /etc/pve &&
	test_errno EPERM create /etc/pve/lost-after-crash &&
	test -z "$(ls -A /etc/pve)"
'

test_expect_success 'pmxcfsd mounts over its immutable mount point and serves writes' '
	node_start_pmxcfsd n1 -l &&
	test "$(cat /etc/pve/served)" = served &&
	echo again >/etc/pve/served &&
	test ! -e /etc/pve/lost-while-down && test ! -e /etc/pve/lost-after-crash &&
	rm /etc/pve/served &&
	node_stop_pmxcfsd n1
'

test_expect_success 'files in a mount point written before the first start are logged as hidden' '
	mp=/tmp/hidden-mnt-$TEST_PREFIX &&
	mkdir -p $mp && echo stray >$mp/stray &&
	test_when_finished "chattr -i $mp; rm -f $mp/stray; rmdir $mp" &&
	{ pmxcfsd -l -f --mountpoint=$mp --database="$TRASH/hidden.db" \
		--socket=/run/hidden.sock --pidfile=/run/hidden.pid >log 2>&1 & } &&
	wait_for "pmxcfsd on $mp" 10 "mountpoint -q $mp" &&
	grep "will be hidden" log &&
	grep -q "1 entries in the mount point $mp itself" log &&
	kill -TERM $(cat /run/hidden.pid) &&
	wait_for "pmxcfsd to unmount $mp" 10 "! mountpoint -q $mp" &&
	test "$(cat $mp/stray)" = stray &&
	test_errno EPERM create $mp/another
'

# --------------------------------------------------------------- persistence

# list_tree: every entry of /etc/pve (not the virtual files) with type,
# mode, owner, size and a checksum of each file
list_tree () {
	(cd /etc/pve && find . -path "./.*" -prune -o -print | sort | while read -r f; do
		stat -c "%n %F %a %U:%G %s" "$f"
		if test -f "$f" && ! test -L "$f"; then cksum <"$f"; fi
	done)
}
export -f list_tree

test_expect_success 'a tree written before a restart is there after it' '
	node_start_pmxcfsd n1 -l &&
	mkdir -p /etc/pve/a/b/c &&
	echo deep >/etc/pve/a/b/c/file &&
	printf "\000\001\002binary" >/etc/pve/a/bin &&
	echo secret >/etc/pve/priv/secret &&
	echo "memory: 512" >/etc/pve/nodes/n1/qemu-server/100.conf &&
	echo "memory: 256" >/etc/pve/nodes/n1/lxc/101.conf &&
	echo renamed >/etc/pve/a/before && mv /etc/pve/a/before /etc/pve/a/after &&
	echo gone >/etc/pve/a/gone && rm /etc/pve/a/gone &&
	mkdir /etc/pve/priv/lock/held &&
	touch -d @1500000000 /etc/pve/a/b/c/file &&
	head -c 300000 /dev/urandom >/etc/pve/a/large &&
	list_tree >before &&
	stat -c %Y /etc/pve/a/b/c/file >before.mtime &&
	json_get ids </etc/pve/.vmlist >before.vmlist &&
	node_stop_pmxcfsd n1 &&
	node_start_pmxcfsd n1 -l &&
	list_tree >after &&
	test_cmp before after &&
	stat -c %Y /etc/pve/a/b/c/file >after.mtime &&
	test_cmp before.mtime after.mtime &&
	json_get ids </etc/pve/.vmlist >after.vmlist &&
	test_cmp before.vmlist after.vmlist &&
	test ! -e /etc/pve/a/gone && test ! -e /etc/pve/a/before
'

test_expect_success 'a lock held before a restart is still held after it' '
	test_errno EEXIST mkdir /etc/pve/priv/lock/held
'

test_expect_success 'guest ID uniqueness holds after a restart' '
	mkdir -p /etc/pve/nodes/n2/qemu-server &&
	test_errno EEXIST create /etc/pve/nodes/n2/qemu-server/100.conf
'

test_expect_success 'starttime in .version is the time of this start' '
	test "$(json_get starttime </etc/pve/.version)" -ge $(($(date +%s) - 30))
'

test_expect_success 'ten restarts in a row keep everything' '
	for i in 1 2 3 4 5 6 7 8 9 10; do
		echo "$i" >/etc/pve/restart-$i &&
		node_stop_pmxcfsd n1 &&
		node_start_pmxcfsd n1 -l || exit 1
	done &&
	for i in 1 2 3 4 5 6 7 8 9 10; do
		test "$(cat /etc/pve/restart-$i)" = "$i" || exit 1
	done &&
	test "$(cat /etc/pve/a/b/c/file)" = deep
'

test_expect_success 'another database and mount point can be given' '
	mkdir -p /tmp/alt-mnt-$TEST_PREFIX &&
	pmxcfsd -l --mountpoint=/tmp/alt-mnt-$TEST_PREFIX --database="$TRASH/alt.db" \
		--socket=/run/alt.sock --pidfile=/run/alt.pid 2>err &&
	test_when_finished "kill -TERM \$(cat /run/alt.pid); wait_for \"alt pmxcfsd exit\" 10 \"! mountpoint -q /tmp/alt-mnt-$TEST_PREFIX\"; chattr -i /tmp/alt-mnt-$TEST_PREFIX; rmdir /tmp/alt-mnt-$TEST_PREFIX" &&
	test -d /tmp/alt-mnt-$TEST_PREFIX/nodes/n1 &&
	echo alt >/tmp/alt-mnt-$TEST_PREFIX/alt &&
	test ! -e /etc/pve/alt &&
	test -s "$TRASH/alt.db" &&
	test -S /run/alt.sock
'

test_expect_success 'stop the daemon' '
	node_stop_pmxcfsd n1
'

# ------------------------------------------------------------ node name check

test_expect_success 'without -l, a node name that resolves to loopback is refused' '
	printf "127.0.0.1\tlocalhost\n127.0.1.1\tn1\n" | node_set_hosts n1 &&
	test_when_finished "node_write_hosts" &&
	test_must_fail pmxcfsd 2>err &&
	cat err &&
	grep -q /etc/hosts err &&
	! mountpoint -q /etc/pve
'

test_expect_success 'without -l, a node name that does not resolve is refused' '
	printf "127.0.0.1\tlocalhost\n" | node_set_hosts n1 &&
	test_when_finished "node_write_hosts" &&
	test_must_fail pmxcfsd 2>err &&
	cat err &&
	grep -q /etc/hosts err &&
	! mountpoint -q /etc/pve
'

test_expect_success 'with -l, a loopback node name does not matter' '
	printf "127.0.0.1\tlocalhost\n127.0.1.1\tn1\n" | node_set_hosts n1 &&
	test_when_finished "node_write_hosts" &&
	node_start_pmxcfsd n1 -l &&
	test "$(cat /etc/pve/a/b/c/file)" = deep &&
	node_stop_pmxcfsd n1
'

test_expect_success 'without -l, a node name with a real address starts (not in a cluster)' '
	getent hosts n1 | grep -q "^$(node_ip n1) " &&
	node_start_pmxcfsd n1 &&
	test "$(cat /etc/pve/a/b/c/file)" = deep &&
	node_stop_pmxcfsd n1
'

# ------------------------------------------------------------------- bad DBs

test_expect_success 'save the good database' '
	cp /var/lib/pve-cluster/config.db "$TRASH/good.db" &&
	rm -f /var/lib/pve-cluster/config.db-wal /var/lib/pve-cluster/config.db-shm
'

# check_refused NAME: pmxcfsd refuses the database now in place, with a
# message, both daemonizing and in the foreground, and leaves it as it was
check_refused () {
	local db=/var/lib/pve-cluster/config.db
	test_when_finished "node_pmxcfsd_ensure_stopped n1"
	cp "$db" "$TRASH/$1.orig" &&
	test_must_fail pmxcfsd -l 2>err &&
	cat err && test -s err &&
	! mountpoint -q /etc/pve &&
	cmp "$db" "$TRASH/$1.orig" &&
	test_must_fail timeout 10 pmxcfsd -f -l 2>err2 &&
	test -s err2 &&
	! mountpoint -q /etc/pve &&
	cmp "$db" "$TRASH/$1.orig" &&
	test ! -s "$db-wal"
}
export -f check_refused

test_expect_success 'a database of random bytes is refused and left untouched' '
	head -c 65536 /dev/urandom >/var/lib/pve-cluster/config.db &&
	check_refused random
'

test_expect_success 'a foreign SQLite database is refused and left untouched' '
	rm -f /var/lib/pve-cluster/config.db &&
	sqlite3 /var/lib/pve-cluster/config.db \
		"CREATE TABLE foo (a INTEGER, b TEXT); INSERT INTO foo VALUES (1, \"x\");" &&
	check_refused foreign
'

test_expect_success 'a database whose b-tree pages are damaged is refused and left untouched' '
	cp "$TRASH/good.db" /var/lib/pve-cluster/config.db &&
	pagesize=$(sqlite3 /var/lib/pve-cluster/config.db "PRAGMA page_size") &&
	roots=$(sqlite3 /var/lib/pve-cluster/config.db \
		"SELECT rootpage FROM sqlite_master WHERE rootpage > 1") &&
	test -n "$roots" &&
	for r in $roots; do
		head -c 64 /dev/zero | tr "\0" "\377" |
		dd of=/var/lib/pve-cluster/config.db bs=1 seek=$(((r - 1) * pagesize)) \
			conv=notrunc status=none || exit 1
	done &&
	check_refused damaged
'

test_expect_success 'a truncated database is refused and left untouched' '
	cp "$TRASH/good.db" /var/lib/pve-cluster/config.db &&
	truncate -s 4096 /var/lib/pve-cluster/config.db &&
	check_refused truncated
'

test_expect_success 'a database that is not readable is refused' '
	rm -f /var/lib/pve-cluster/config.db &&
	mkdir /var/lib/pve-cluster/config.db &&
	test_when_finished "rmdir /var/lib/pve-cluster/config.db" &&
	test_must_fail pmxcfsd -l 2>err &&
	test -s err && cat err &&
	! mountpoint -q /etc/pve
'

test_expect_success 'the good database, put back, starts again with all its content' '
	cp "$TRASH/good.db" /var/lib/pve-cluster/config.db &&
	node_start_pmxcfsd n1 -l &&
	test "$(cat /etc/pve/a/b/c/file)" = deep &&
	test "$(cat /etc/pve/restart-10)" = 10 &&
	node_stop_pmxcfsd n1
'

test_expect_success 'an empty database directory gives a fresh tree' '
	rm -rf /var/lib/pve-cluster/* &&
	node_start_pmxcfsd n1 -l &&
	test -d /etc/pve/nodes/n1/qemu-server &&
	test ! -e /etc/pve/a &&
	node_stop_pmxcfsd n1
'

test_done
