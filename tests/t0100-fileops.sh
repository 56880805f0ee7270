#!/bin/bash
test_description='file operations on /etc/pve through the real FUSE mount

One node, pmxcfsd in local mode. Every operation an admin or a tool does to
the tree, with the errno each refusal must carry; the layout, owners and
modes; the virtual files; guest IDs; cluster-wide locks; the limits.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root

node_create n1
test_expect_success 'pmxcfsd starts in local mode and mounts /etc/pve' '
	node_start_pmxcfsd n1 -l
'
test_node n1

# ------------------------------------------------------------------ layout

test_expect_success 'first start creates the layout' '
	test -d /etc/pve/nodes &&
	test -d /etc/pve/nodes/n1/qemu-server &&
	test -d /etc/pve/nodes/n1/lxc &&
	test -d /etc/pve/nodes/n1/priv &&
	test -d /etc/pve/priv &&
	test -d /etc/pve/priv/lock
'

test_expect_success 'local, qemu-server and lxc link to the node directory' '
	test "$(readlink /etc/pve/local)" = nodes/n1 &&
	test "$(readlink /etc/pve/qemu-server)" = nodes/n1/qemu-server &&
	test "$(readlink /etc/pve/lxc)" = nodes/n1/lxc &&
	test "$(readlink /etc/pve/openvz)" = nodes/n1/openvz &&
	test -d /etc/pve/nodes/n1/openvz &&
	test "$(cd -P /etc/pve/local && pwd)" = /etc/pve/nodes/n1 &&
	echo via-link >/etc/pve/qemu-server/linktest &&
	test "$(cat /etc/pve/nodes/n1/qemu-server/linktest)" = via-link &&
	rm /etc/pve/qemu-server/linktest
'

test_expect_success 'the root lists the layout and the virtual files' '
	ls -a /etc/pve >actual &&
	for n in . .. .clusterlog .debug .members .version .vmlist local lxc nodes openvz priv qemu-server
	do
		grep -qx -- "$n" actual || { echo "missing: $n"; cat actual; exit 1; }
	done
'

test_expect_success 'everything belongs to root:www-data' '
	for p in /etc/pve /etc/pve/nodes /etc/pve/nodes/n1 /etc/pve/nodes/n1/qemu-server \
		/etc/pve/priv /etc/pve/priv/lock /etc/pve/nodes/n1/priv
	do
		test "$(stat -c %U:%G "$p")" = root:www-data || { stat "$p"; exit 1; }
	done
'

test_expect_success 'directories are 0755, priv directories 0700' '
	test "$(stat -c %a /etc/pve/nodes)" = 755 &&
	test "$(stat -c %a /etc/pve/nodes/n1)" = 755 &&
	test "$(stat -c %a /etc/pve/nodes/n1/lxc)" = 755 &&
	test "$(stat -c %a /etc/pve/priv)" = 700 &&
	test "$(stat -c %a /etc/pve/priv/lock)" = 700 &&
	test "$(stat -c %a /etc/pve/nodes/n1/priv)" = 700
'

test_expect_success 'new files are 0640 root:www-data, under priv 0600' '
	echo a >/etc/pve/mode-file &&
	mkdir /etc/pve/mode-dir &&
	echo b >/etc/pve/priv/mode-file &&
	mkdir /etc/pve/priv/mode-dir &&
	echo c >/etc/pve/nodes/n1/priv/mode-file &&
	test "$(stat -c "%a %U:%G" /etc/pve/mode-file)" = "640 root:www-data" &&
	test "$(stat -c "%a %U:%G" /etc/pve/mode-dir)" = "755 root:www-data" &&
	test "$(stat -c "%a %U:%G" /etc/pve/priv/mode-file)" = "600 root:www-data" &&
	test "$(stat -c "%a %U:%G" /etc/pve/priv/mode-dir)" = "700 root:www-data" &&
	test "$(stat -c "%a %U:%G" /etc/pve/nodes/n1/priv/mode-file)" = "600 root:www-data"
'

test_expect_success 'the mode asked for at create does not matter' '
	(umask 077 && echo x >/etc/pve/umask-file) &&
	test "$(stat -c %a /etc/pve/umask-file)" = 640 &&
	perl -e "mkdir q(/etc/pve/mkdir-0777), 0777 or die \$!" &&
	test "$(stat -c %a /etc/pve/mkdir-0777)" = 755
'

test_expect_success 'a non-root user cannot read priv' '
	echo secret >/etc/pve/priv/secret &&
	test_must_fail setpriv --reuid=65534 --regid=65534 --clear-groups cat /etc/pve/priv/secret
'

test_expect_success 'group www-data reads files but not priv, and writes nothing' '
	echo public >/etc/pve/public &&
	test "$(setpriv --reuid=33 --regid=33 --clear-groups cat /etc/pve/public)" = public &&
	setpriv --reuid=33 --regid=33 --clear-groups ls /etc/pve/nodes >/dev/null &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups ls /etc/pve/priv &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups sh -c "echo x >/etc/pve/public" &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups mkdir /etc/pve/www-dir &&
	test "$(cat /etc/pve/public)" = public
'

test_expect_success 'other users read nothing' '
	test_must_fail setpriv --reuid=65534 --regid=65534 --clear-groups cat /etc/pve/public &&
	test_must_fail setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "echo x >/etc/pve/nobody"
'

test_expect_success 'access(2), cd and touch answer for the caller' '
	setpriv --reuid=33 --regid=33 --clear-groups test -r /etc/pve/public &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups test -w /etc/pve/public &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups test -r /etc/pve/priv/secret &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups sh -c "cd /etc/pve/priv" &&
	setpriv --reuid=33 --regid=33 --clear-groups sh -c "cd /etc/pve/nodes" &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups touch /etc/pve/public &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups touch -d @5 /etc/pve/public &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups truncate -s0 /etc/pve/public &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups rm /etc/pve/public &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups mv /etc/pve/public /etc/pve/p2 &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups chmod 640 /etc/pve/public &&
	test "$(cat /etc/pve/public)" = public &&
	test -w /etc/pve/public && test -r /etc/pve/priv/secret
'

test_expect_success 'what root has looked up under priv stays closed to others' '
	cat /etc/pve/priv/secret >/dev/null && stat /etc/pve/priv/secret >/dev/null &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups stat /etc/pve/priv/secret &&
	test_must_fail setpriv --reuid=65534 --regid=65534 --clear-groups stat /etc/pve/priv/lock &&
	stat /etc/pve/priv/secret >/dev/null
'

test_expect_success 'www-data as a supplementary group reads too' '
	test "$(setpriv --reuid=65534 --regid=65534 --groups=33 cat /etc/pve/public)" = public &&
	test_must_fail setpriv --reuid=65534 --regid=65534 --groups=33 cat /etc/pve/priv/secret
'

test_expect_success 'the virtual files answer for the caller' '
	setpriv --reuid=33 --regid=33 --clear-groups cat /etc/pve/.members >/dev/null &&
	test_must_fail setpriv --reuid=65534 --regid=65534 --clear-groups cat /etc/pve/.members &&
	test_must_fail setpriv --reuid=33 --regid=33 --clear-groups sh -c "echo 1 >/etc/pve/.debug"
'

# Outside a cluster a file read after its writers closed it is served from
# pages filled by the daemon: every change must show at once all the same.
test_expect_success 'a read after every rewrite, longer and shorter, sees it whole' '
	for i in 1 2 3 4 5 6 7 8 9 10; do
		len=$(( (i * 997) % 5000 + 1 )) &&
		head -c $len /dev/urandom | base64 -w0 >expect &&
		cp expect /etc/pve/pagefill &&
		cmp expect /etc/pve/pagefill &&
		cmp expect /etc/pve/pagefill || return 1
	done &&
	printf abc >/etc/pve/pagefill && test "$(cat /etc/pve/pagefill)" = abc &&
	printf XY | dd of=/etc/pve/pagefill bs=1 seek=1 conv=notrunc 2>/dev/null &&
	test "$(cat /etc/pve/pagefill)" = aXY &&
	truncate -s 1 /etc/pve/pagefill && test "$(cat /etc/pve/pagefill)" = a &&
	truncate -s 3 /etc/pve/pagefill && test "$(od -An -c /etc/pve/pagefill | tr -d " ")" = "a\\0\\0" &&
	rm /etc/pve/pagefill
'

test_expect_success 'a reader racing a writer sees whole versions (or the empty file between), never an old one' '
	perl -e "
		use strict; use Fcntl;
		my \$f = q(/etc/pve/race);
		sub put { sysopen(my \$h, \$f, O_WRONLY|O_CREAT|O_TRUNC) or die \$!;
			  syswrite(\$h, \$_[0]) == length(\$_[0]) or die \$!; close(\$h) or die \$! }
		sub body { my \$n = shift; sprintf(q(%06d), \$n) x (1 + \$n % 300) }
		put(body(0));
		my \$pid = fork() // die;
		if (!\$pid) { put(body(\$_)) for 1..400; exit 0 }
		my \$last = 0;
		while (1) {
			my \$done = waitpid(\$pid, 1) > 0;
			open(my \$h, q(<), \$f) or die \$!; local \$/; my \$c = <\$h>; close \$h;
			# Between the O_TRUNC open of the writer and its write: empty.
			next if \$c eq q() && !\$done;
			my (\$n) = \$c =~ /^(\d{6})/ or die qq(torn read\n);
			\$c eq body(\$n+0) or die qq(torn read of version \$n\n);
			\$n >= \$last or die qq(version \$n after \$last\n);
			\$last = \$n;
			if (\$done) { \$? == 0 or die qq(writer failed\n); last }
		}
		\$last == 400 or die qq(last read \$last, not 400\n);
	"
'

# ---------------------------------------------------------- files: content

# Every content operation is done twice, to /etc/pve and to a plain
# directory, and the results must be byte-identical.
REF=$TRASH/ref
mkdir -p "$REF"
export REF

test_expect_success 'create, write and read a file' '
	echo hello >/etc/pve/f1 &&
	test "$(cat /etc/pve/f1)" = hello &&
	test "$(stat -c %s /etc/pve/f1)" = 6 &&
	test -f /etc/pve/f1
'

test_expect_success 'create with O_EXCL fails with EEXIST on an existing file' '
	test_errno EEXIST create /etc/pve/f1 &&
	test_errno OK create /etc/pve/f-excl &&
	test -f /etc/pve/f-excl && test ! -s /etc/pve/f-excl
'

test_expect_success 'write at offsets, with holes, and overwrite in the middle' '
	for d in /etc/pve "$REF"; do
		printf "0123456789" >"$d/off" &&
		printf ABC | dd of="$d/off" bs=1 seek=3 conv=notrunc status=none &&
		printf XYZ | dd of="$d/off" bs=1 seek=20 conv=notrunc status=none &&
		printf "end" | dd of="$d/off" bs=1024 seek=7 conv=notrunc status=none &&
		printf "q" | dd of="$d/off" bs=1 seek=0 conv=notrunc status=none || exit 1
	done &&
	cmp /etc/pve/off "$REF/off" &&
	test "$(stat -c %s /etc/pve/off)" = $((7 * 1024 + 3))
'

test_expect_success 'append' '
	for d in /etc/pve "$REF"; do
		echo one >"$d/app" && echo two >>"$d/app" && printf three >>"$d/app" || exit 1
	done &&
	cmp /etc/pve/app "$REF/app"
'

test_expect_success 'read at offsets' '
	test "$(dd if=/etc/pve/off bs=1 skip=3 count=3 status=none)" = ABC &&
	test "$(dd if=/etc/pve/off bs=1 skip=20 count=3 status=none)" = XYZ &&
	test "$(dd if=/etc/pve/off bs=1 skip=100000 count=3 status=none | wc -c)" = 0
'

test_expect_success 'truncate shrinks, extends with zeros, and O_TRUNC empties' '
	for d in /etc/pve "$REF"; do
		printf "abcdefghij" >"$d/tr" &&
		truncate -s 4 "$d/tr" && cp "$d/tr" "$d/tr.4" &&
		truncate -s 100 "$d/tr" && cp "$d/tr" "$d/tr.100" &&
		truncate -s 0 "$d/tr" && cp "$d/tr" "$d/tr.0" &&
		echo again >"$d/tr" && : >"$d/tr" || exit 1
	done &&
	cmp /etc/pve/tr.4 "$REF/tr.4" &&
	cmp /etc/pve/tr.100 "$REF/tr.100" &&
	cmp /etc/pve/tr.0 "$REF/tr.0" &&
	test "$(stat -c %s /etc/pve/tr)" = 0
'

test_expect_success 'binary content with every byte value round-trips' '
	perl -e "print map { chr } 0..255 for 1..64" >"$REF/bin" &&
	cp "$REF/bin" /etc/pve/bin &&
	cmp /etc/pve/bin "$REF/bin"
'

test_expect_success 'a file of exactly 1 MiB can be written and read' '
	head -c 1048576 /dev/urandom >"$REF/big" &&
	cp "$REF/big" /etc/pve/big &&
	cmp /etc/pve/big "$REF/big" &&
	rm /etc/pve/big
'

test_expect_success 'writing past 1 MiB fails with EFBIG' '
	test_errno EFBIG write /etc/pve/toobig 1048577 &&
	test_errno EFBIG write /etc/pve/toobig2 1 1048576 &&
	echo small >/etc/pve/tb &&
	test_errno EFBIG truncate /etc/pve/tb 1048577 &&
	test "$(cat /etc/pve/tb)" = small
'

test_expect_success 'a failed oversize write leaves no partial data behind' '
	! test -s /etc/pve/toobig || test "$(stat -c %s /etc/pve/toobig)" -le 1048576
'

test_expect_success 'stat: size, type, mtime follows writes' '
	echo x >/etc/pve/st &&
	test "$(stat -c %F /etc/pve/st)" = "regular file" &&
	test "$(stat -c %F /etc/pve/nodes)" = directory &&
	touch -d @1000000000 /etc/pve/st &&
	test "$(stat -c %Y /etc/pve/st)" = 1000000000 &&
	echo more >>/etc/pve/st &&
	test "$(stat -c %Y /etc/pve/st)" -ge $(($(date +%s) - 5)) &&
	test "$(stat -c %s /etc/pve/st)" = 7
'

test_expect_success 'stat of a missing file fails with ENOENT' '
	test_errno ENOENT open /etc/pve/no-such-file &&
	test_errno ENOENT open /etc/pve/no-such-dir/file &&
	test_errno ENOENT create /etc/pve/no-such-dir/file
'

test_expect_success 'statfs reports the limits: 4 KiB blocks, 128 MiB, 262144 inodes, names of 255' '
	stat -f -c "%S %b %c %l" /etc/pve >out &&
	test "$(cat out)" = "4096 32768 262144 255" &&
	df /etc/pve >/dev/null
'

test_expect_success 'statfs free blocks and inodes follow what the tree holds' '
	stat -f -c "%f %d" /etc/pve >before &&
	perl -e "print q(x) x (400 * 1024)" >/etc/pve/statfs-big &&
	mkdir /etc/pve/statfs-dir &&
	stat -f -c "%f %d" /etc/pve >after &&
	rm -r /etc/pve/statfs-big /etc/pve/statfs-dir &&
	stat -f -c "%f %d" /etc/pve >again &&
	read -r fb ib <before && read -r fa ia <after && read -r fg ig <again &&
	echo "blocks $fb $fa $fg inodes $ib $ia $ig" &&
	test $((fb - fa)) -eq 100 && test $((ib - ia)) -eq 2 &&
	test "$fg $ig" = "$fb $ib"
'

# --------------------------------------------------------------- directories

test_expect_success 'mkdir and rmdir' '
	mkdir /etc/pve/d1 &&
	test -d /etc/pve/d1 &&
	mkdir -p /etc/pve/d1/a/b/c &&
	test -d /etc/pve/d1/a/b/c &&
	rmdir /etc/pve/d1/a/b/c /etc/pve/d1/a/b /etc/pve/d1/a &&
	test ! -e /etc/pve/d1/a
'

test_expect_success 'mkdir on an existing name fails with EEXIST' '
	test_errno EEXIST mkdir /etc/pve/d1 &&
	test_errno EEXIST mkdir /etc/pve/f1
'

test_expect_success 'rmdir errors: ENOTEMPTY, ENOTDIR, ENOENT' '
	mkdir -p /etc/pve/d2 && echo x >/etc/pve/d2/x &&
	test_errno ENOTEMPTY rmdir /etc/pve/d2 &&
	test_errno ENOTDIR rmdir /etc/pve/f1 &&
	test_errno ENOENT rmdir /etc/pve/no-such-dir &&
	test -f /etc/pve/d2/x
'

test_expect_success 'unlink a file; unlinking a directory fails with EISDIR' '
	echo x >/etc/pve/d2/y &&
	rm /etc/pve/d2/y &&
	test ! -e /etc/pve/d2/y &&
	test_errno EISDIR unlink /etc/pve/d2 &&
	test_errno ENOENT unlink /etc/pve/d2/no-such-file
'

test_expect_success 'readdir lists all of 300 entries' '
	mkdir /etc/pve/many &&
	for i in $(seq 1 300); do echo $i >/etc/pve/many/file-$i || exit 1; done &&
	test "$(ls /etc/pve/many | wc -l)" = 300 &&
	ls /etc/pve/many | sort >actual &&
	seq 1 300 | sed "s/^/file-/" | sort >expect &&
	test_cmp expect actual &&
	test "$(cat /etc/pve/many/file-217)" = 217
'

test_expect_success 'readdir of an empty directory has only . and ..' '
	mkdir /etc/pve/empty &&
	test "$(ls -a /etc/pve/empty | tr "\n" " ")" = ". .. "
'

test_expect_success 'rm -r removes a tree' '
	rm -r /etc/pve/many &&
	test ! -e /etc/pve/many
'

# -------------------------------------------------------------------- rename

test_expect_success 'rename a file within a directory and across directories' '
	echo r >/etc/pve/r1 &&
	mv /etc/pve/r1 /etc/pve/r2 &&
	test ! -e /etc/pve/r1 && test "$(cat /etc/pve/r2)" = r &&
	mv /etc/pve/r2 /etc/pve/d1/r3 &&
	test ! -e /etc/pve/r2 && test "$(cat /etc/pve/d1/r3)" = r
'

test_expect_success 'rename over an existing file replaces it (cp x x.new; edit; mv x.new x)' '
	printf "line 1\nline 2\n" >/etc/pve/datacenter.cfg &&
	cp /etc/pve/datacenter.cfg /etc/pve/datacenter.cfg.new &&
	sed -i.bak "s/line 2/line two/" /etc/pve/datacenter.cfg.new &&
	mv /etc/pve/datacenter.cfg.new /etc/pve/datacenter.cfg &&
	printf "line 1\nline two\n" >expect &&
	test_cmp expect /etc/pve/datacenter.cfg &&
	test ! -e /etc/pve/datacenter.cfg.new &&
	test "$(ls /etc/pve | grep -c datacenter)" = 2 &&
	rm /etc/pve/datacenter.cfg.new.bak
'

test_expect_success 'sed -i (write to a temporary file, then rename) works' '
	sed -i "s/line 1/line one/" /etc/pve/datacenter.cfg &&
	printf "line one\nline two\n" >expect &&
	test_cmp expect /etc/pve/datacenter.cfg
'

test_expect_success 'rename a directory with its content' '
	mkdir -p /etc/pve/rd/sub && echo deep >/etc/pve/rd/sub/f &&
	mv /etc/pve/rd /etc/pve/rd2 &&
	test ! -e /etc/pve/rd &&
	test "$(cat /etc/pve/rd2/sub/f)" = deep
'

test_expect_success 'rename errors: ENOENT, EISDIR, ENOTDIR, ENOTEMPTY, EINVAL' '
	test_errno ENOENT rename /etc/pve/no-such-file /etc/pve/x &&
	test_errno ENOENT rename /etc/pve/f1 /etc/pve/no-such-dir/x &&
	test_errno EISDIR rename /etc/pve/f1 /etc/pve/rd2 &&
	test_errno ENOTDIR rename /etc/pve/rd2 /etc/pve/f1 &&
	test_errno ENOTEMPTY rename /etc/pve/d1 /etc/pve/rd2 &&
	test_errno EINVAL rename /etc/pve/rd2 /etc/pve/rd2/sub/into-itself &&
	test "$(cat /etc/pve/f1)" = hello &&
	test -d /etc/pve/rd2/sub
'

test_expect_success 'rename a directory over an empty directory replaces it' '
	mkdir /etc/pve/empty2 &&
	mv -T /etc/pve/rd2 /etc/pve/empty2 &&
	test ! -e /etc/pve/rd2 &&
	test "$(cat /etc/pve/empty2/sub/f)" = deep
'

test_expect_success 'rename onto itself is a no-op' '
	test_errno OK rename /etc/pve/f1 /etc/pve/f1 &&
	test "$(cat /etc/pve/f1)" = hello
'

# ------------------------------------------------------------------- utimens

test_expect_success 'utimens sets the mtime (touch -d, touch -m)' '
	touch -d @1234567890 /etc/pve/f1 &&
	test "$(stat -c %Y /etc/pve/f1)" = 1234567890 &&
	touch -m /etc/pve/f1 &&
	test "$(stat -c %Y /etc/pve/f1)" -ge $(($(date +%s) - 5)) &&
	touch -d @1234567890 /etc/pve/d1 &&
	test "$(stat -c %Y /etc/pve/d1)" = 1234567890
'

test_expect_success 'touch creates an empty file' '
	touch /etc/pve/touched &&
	test -f /etc/pve/touched && test ! -s /etc/pve/touched
'

# ---------------------------------------------------------- refused operations

test_expect_success 'symlink and hard link fail with EPERM' '
	test_errno EPERM symlink f1 /etc/pve/sl &&
	test_errno EPERM link /etc/pve/f1 /etc/pve/hl &&
	test ! -e /etc/pve/sl && test ! -e /etc/pve/hl
'

test_expect_success 'device nodes and fifos are refused' '
	test_must_fail mkfifo /etc/pve/fifo &&
	test_errno EPERM mknod /etc/pve/fifo &&
	test ! -e /etc/pve/fifo
'

test_expect_success 'a fifo or symlink where the caller may not write fails with EACCES, not EPERM' '
	export -f test_errno &&
	setpriv --reuid=33 --regid=33 --clear-groups bash -c "
		test_errno EACCES mknod /etc/pve/fifo &&
		test_errno EACCES symlink f1 /etc/pve/sl &&
		test_errno EACCES mknod /etc/pve/nodes/fifo" &&
	setpriv --reuid=65534 --regid=65534 --clear-groups bash -c "
		test_errno EACCES symlink f1 /etc/pve/nodes/sl" &&
	test ! -e /etc/pve/fifo && test ! -e /etc/pve/sl && test ! -e /etc/pve/nodes/sl
'

test_expect_success 'chown(f, -1, -1) by a user who does not own f succeeds and changes nothing' '
	echo owned >/etc/pve/chown-noop &&
	stat -c "%a %U %G %s %Y" /etc/pve/chown-noop >before &&
	for u in 33 65534; do
		setpriv --reuid=$u --regid=$u --clear-groups \
			perl -e "chown(-1, -1, q(/etc/pve/chown-noop)) or die qq(chown: \$!\n)" || return 1
	done &&
	setpriv --reuid=33 --regid=33 --clear-groups \
		perl -e "chown(-1, -1, q(/etc/pve/nodes)) or die qq(chown: \$!\n)" &&
	stat -c "%a %U %G %s %Y" /etc/pve/chown-noop >after &&
	test_cmp before after &&
	test "$(cat /etc/pve/chown-noop)" = owned
'

test_expect_success 'chown to another owner by a user who does not own the file still fails with EPERM' '
	export -f test_errno &&
	setpriv --reuid=33 --regid=33 --clear-groups bash -c "
		test_errno EPERM chown 33 -1 /etc/pve/chown-noop"
'

test_expect_success 'a name of 255 bytes works, 256 bytes fails with ENAMETOOLONG' '
	n255=$(printf "%0255d" 0) &&
	n256=$(printf "%0256d" 0) &&
	echo ok >/etc/pve/$n255 &&
	test "$(cat /etc/pve/$n255)" = ok &&
	test_errno ENAMETOOLONG create /etc/pve/$n256 &&
	test_errno ENAMETOOLONG mkdir /etc/pve/$n256 &&
	test_errno ENAMETOOLONG rename /etc/pve/$n255 /etc/pve/$n256 &&
	rm /etc/pve/$n255
'

test_expect_success 'names with spaces, UTF-8 and leading dots work' '
	echo a >"/etc/pve/with space" &&
	echo b >"/etc/pve/grüße-ü" &&
	echo c >/etc/pve/.hidden &&
	test "$(cat "/etc/pve/with space")" = a &&
	test "$(cat /etc/pve/grüße-ü)" = b &&
	ls -a /etc/pve | grep -qx .hidden &&
	rm "/etc/pve/with space" /etc/pve/grüße-ü /etc/pve/.hidden
'

# ------------------------------------------------------------ chmod and chown

test_expect_success 'chmod to the supported mode succeeds, any other fails with EPERM' '
	test_errno OK chmod 0640 /etc/pve/f1 &&
	test_errno EPERM chmod 0644 /etc/pve/f1 &&
	test_errno EPERM chmod 0600 /etc/pve/f1 &&
	test_errno EPERM chmod 4640 /etc/pve/f1 &&
	test_errno OK chmod 0755 /etc/pve/d1 &&
	test_errno EPERM chmod 0777 /etc/pve/d1 &&
	test_errno OK chmod 0600 /etc/pve/priv/mode-file &&
	test_errno EPERM chmod 0640 /etc/pve/priv/mode-file &&
	test_errno OK chmod 0700 /etc/pve/priv/mode-dir &&
	test_errno EPERM chmod 0755 /etc/pve/priv/mode-dir &&
	test "$(stat -c %a /etc/pve/f1)" = 640
'

test_expect_success 'chown to root:www-data succeeds, anything else fails with EPERM' '
	test_errno OK chown 0 33 /etc/pve/f1 &&
	test_errno EPERM chown 1000 33 /etc/pve/f1 &&
	test_errno EPERM chown 0 0 /etc/pve/f1 &&
	test_errno EPERM chown 65534 65534 /etc/pve/d1 &&
	chown root:www-data /etc/pve/d1 &&
	test "$(stat -c %U:%G /etc/pve/f1)" = root:www-data
'

test_expect_success 'cp -p and cp -a within /etc/pve work' '
	cp -p /etc/pve/f1 /etc/pve/f1.copy &&
	test "$(stat -c %Y /etc/pve/f1.copy)" = "$(stat -c %Y /etc/pve/f1)" &&
	cp -a /etc/pve/empty2 /etc/pve/empty3 &&
	cmp /etc/pve/empty2/sub/f /etc/pve/empty3/sub/f
'

# ------------------------------------------------------------- virtual files

test_expect_success '.version is JSON with starttime, clinfo and vmlist numbers' '
	cat /etc/pve/.version >v &&
	for k in starttime clinfo vmlist; do
		test "$(json_type $k <v)" = number || { echo "bad $k"; cat v; exit 1; }
	done &&
	test "$(json_get starttime <v)" -gt 1000000000
'

test_expect_success '.members names this node' '
	cat /etc/pve/.members >m &&
	test "$(json_get nodename <m)" = n1 &&
	test "$(json_type version <m)" = number
'

test_expect_success '.members in local mode: if it has a nodelist, this node is online' '
	cat /etc/pve/.members >m &&
	if json_get nodelist <m >/dev/null 2>&1; then
		test "$(json_get nodelist n1 online <m)" = 1 &&
		test "$(json_type nodelist n1 id <m)" = number &&
		test "$(json_type nodelist n1 ip <m)" = string
	fi
'

test_expect_success '.vmlist is JSON with version and ids' '
	cat /etc/pve/.vmlist >vl &&
	test "$(json_type version <vl)" = number &&
	test "$(json_type ids <vl)" = object
'

test_expect_success '.clusterlog is JSON with a data array' '
	cat /etc/pve/.clusterlog >cl &&
	test "$(json_type data <cl)" = array &&
	if test "$(json_get data <cl)" != "[]"; then
		for k in uid time pri pid; do
			test "$(json_type data 0 $k <cl)" = number || exit 1
		done &&
		for k in tag node user msg; do
			test "$(json_type data 0 $k <cl)" = string || exit 1
		done
	fi
'

test_expect_success 'virtual files cannot be written, removed or renamed' '
	for f in .version .members .vmlist .clusterlog; do
		test_must_fail sh -c "echo x >/etc/pve/$f" &&
		test_must_fail rm -f /etc/pve/$f &&
		test_must_fail mv /etc/pve/$f /etc/pve/$f.moved &&
		cat /etc/pve/$f | json_get >/dev/null || exit 1
	done &&
	test_must_fail mkdir /etc/pve/.members
'

test_expect_success 'local mode is always writable: the links are 0777' '
	for l in local qemu-server lxc openvz; do
		test "$(stat -c %a /etc/pve/$l)" = 777 || { stat /etc/pve/$l; exit 1; }
	done
'

test_expect_success '.version lists all 43 watched files, 0 for an absent one' '
	json_keys </etc/pve/.version >keys &&
	test $(grep -cvx "starttime\|clinfo\|vmlist" keys) = 43 &&
	for k in corosync.conf priv/wg-keys.cfg sdn/.running-config mapping/usb.cfg ha/rules.cfg; do
		grep -qx "$k" keys || { echo "missing: $k"; exit 1; }
	done &&
	test ! -e /etc/pve/jobs.cfg &&
	test "$(json_get jobs.cfg </etc/pve/.version)" = 0 &&
	test "$(json_type clinfo </etc/pve/.version)" = number
'

test_expect_success '.version has a growing version for each watched file' '
	echo "keyboard: en-us" >/etc/pve/datacenter.cfg &&
	v1=$(json_get datacenter.cfg </etc/pve/.version) &&
	echo "keyboard: de" >/etc/pve/datacenter.cfg &&
	v2=$(json_get datacenter.cfg </etc/pve/.version) &&
	test "$v2" -gt "$v1"
'

test_expect_success '.debug: writing 1 turns debug logging on, 0 turns it off' '
	log=$(node_log n1) &&
	echo 1 >/etc/pve/.debug &&
	test "$(cat /etc/pve/.debug)" = 1 &&
	n1=$(wc -l <"$log") &&
	mkdir /etc/pve/priv/lock/debug-probe && touch -d @0 /etc/pve/priv/lock/debug-probe &&
	n2=$(wc -l <"$log") &&
	test "$n2" -gt "$n1" &&
	echo 0 >/etc/pve/.debug &&
	test "$(cat /etc/pve/.debug)" = 0 &&
	n3=$(wc -l <"$log") &&
	mkdir /etc/pve/priv/lock/debug-probe && touch -d @0 /etc/pve/priv/lock/debug-probe &&
	n4=$(wc -l <"$log") &&
	test "$n4" = "$n3"
'

# ------------------------------------------------------------------ guest IDs

test_expect_success 'guest configs appear in .vmlist with node and type' '
	echo "memory: 512" >/etc/pve/nodes/n1/qemu-server/100.conf &&
	echo "memory: 256" >/etc/pve/nodes/n1/lxc/101.conf &&
	cat /etc/pve/.vmlist >vl &&
	test "$(json_get ids 100 node <vl)" = n1 &&
	test "$(json_get ids 100 type <vl)" = qemu &&
	test "$(json_type ids 100 version <vl)" = number &&
	test "$(json_get ids 101 node <vl)" = n1 &&
	test "$(json_get ids 101 type <vl)" = lxc
'

test_expect_success 'files that are not guest configs are not in .vmlist' '
	echo x >/etc/pve/nodes/n1/qemu-server/notes.txt &&
	echo x >/etc/pve/nodes/n1/qemu-server/abc.conf &&
	echo x >/etc/pve/nodes/n1/102.conf &&
	cat /etc/pve/.vmlist >vl &&
	test "$(json_keys ids <vl | tr "\n" " ")" = "100 101 "
'

test_expect_success 'a guest ID is unique across nodes and types (EEXIST)' '
	mkdir -p /etc/pve/nodes/n2/qemu-server /etc/pve/nodes/n2/lxc &&
	test_errno EEXIST create /etc/pve/nodes/n2/qemu-server/100.conf &&
	test_errno EEXIST create /etc/pve/nodes/n2/lxc/100.conf &&
	test_errno EEXIST create /etc/pve/nodes/n2/qemu-server/101.conf &&
	test_errno EEXIST create /etc/pve/nodes/n1/lxc/100.conf &&
	test ! -e /etc/pve/nodes/n2/qemu-server/100.conf &&
	test ! -e /etc/pve/nodes/n1/lxc/100.conf
'

test_expect_success 'renaming another file to a taken guest ID fails with EEXIST' '
	echo x >/etc/pve/nodes/n2/qemu-server/tmp &&
	test_errno EEXIST rename /etc/pve/nodes/n2/qemu-server/tmp /etc/pve/nodes/n2/qemu-server/100.conf &&
	test_errno EEXIST rename /etc/pve/nodes/n2/qemu-server/tmp /etc/pve/nodes/n2/lxc/101.conf &&
	test -e /etc/pve/nodes/n2/qemu-server/tmp &&
	test "$(json_get ids 100 node </etc/pve/.vmlist)" = n1
'

test_expect_success 'the guest config itself can be rewritten and replaced by rename' '
	echo "memory: 1024" >/etc/pve/nodes/n1/qemu-server/100.conf &&
	cp /etc/pve/nodes/n1/qemu-server/100.conf /etc/pve/nodes/n1/qemu-server/100.conf.tmp &&
	mv /etc/pve/nodes/n1/qemu-server/100.conf.tmp /etc/pve/nodes/n1/qemu-server/100.conf &&
	test "$(cat /etc/pve/qemu-server/100.conf)" = "memory: 1024" &&
	test "$(json_get ids 100 node </etc/pve/.vmlist)" = n1
'

test_expect_success 'migration: moving a guest config to another node works' '
	v1=$(json_get version </etc/pve/.vmlist) &&
	mv /etc/pve/nodes/n1/qemu-server/100.conf /etc/pve/nodes/n2/qemu-server/100.conf &&
	cat /etc/pve/.vmlist >vl &&
	test "$(json_get ids 100 node <vl)" = n2 &&
	test "$(json_get ids 100 type <vl)" = qemu &&
	test "$(json_get version <vl)" -gt "$v1" &&
	test "$(cat /etc/pve/nodes/n2/qemu-server/100.conf)" = "memory: 1024" &&
	test_errno EEXIST create /etc/pve/nodes/n1/qemu-server/100.conf &&
	mv /etc/pve/nodes/n2/qemu-server/100.conf /etc/pve/nodes/n1/qemu-server/100.conf &&
	test "$(json_get ids 100 node </etc/pve/.vmlist)" = n1
'

test_expect_success 'removing a guest config frees its ID' '
	rm /etc/pve/nodes/n1/lxc/101.conf &&
	! json_get ids 101 </etc/pve/.vmlist >/dev/null 2>&1 &&
	echo "memory: 64" >/etc/pve/nodes/n2/qemu-server/101.conf &&
	test "$(json_get ids 101 node </etc/pve/.vmlist)" = n2 &&
	test "$(json_get ids 101 type </etc/pve/.vmlist)" = qemu
'

# ---------------------------------------------------------------------- locks

test_expect_success 'mkdir in priv/lock takes a lock' '
	mkdir /etc/pve/priv/lock/L1 &&
	test -d /etc/pve/priv/lock/L1
'

test_expect_success 'a held lock cannot be taken again (EEXIST)' '
	test_errno EEXIST mkdir /etc/pve/priv/lock/L1
'

test_expect_success 'the holder renews the lock by touching it' '
	touch -d @$(($(date +%s) - 60)) /etc/pve/priv/lock/L1 &&
	touch /etc/pve/priv/lock/L1 &&
	test "$(stat -c %Y /etc/pve/priv/lock/L1)" -ge $(($(date +%s) - 5)) &&
	test_errno EEXIST mkdir /etc/pve/priv/lock/L1
'

test_expect_success 'utime 0 releases the lock, and it can be taken again' '
	touch -d @0 /etc/pve/priv/lock/L1 &&
	mkdir /etc/pve/priv/lock/L1 &&
	test -d /etc/pve/priv/lock/L1
'

test_expect_success 'the holder touching its lock into the past renews it: still held, utime 0 releases' '
	mkdir /etc/pve/priv/lock/L2 &&
	past=$(($(date +%s) - 200)) &&
	touch -d @$past /etc/pve/priv/lock/L2 &&
	test "$(stat -c %Y /etc/pve/priv/lock/L2)" = $past &&
	test_errno EEXIST mkdir /etc/pve/priv/lock/L2 &&
	touch -d @0 /etc/pve/priv/lock/L2 &&
	mkdir /etc/pve/priv/lock/L2 &&
	test "$(stat -c %Y /etc/pve/priv/lock/L2)" -ge $(($(date +%s) - 5))
'

# Expiry is measured on the clock of the node that asks, from when it saw
# the lock in its current state: a node that just started has seen every
# lock just now, however old its mtime. A lock of another node (writer 7)
# with an mtime of 1970 is made in the store while the daemon is stopped.
test_expect_success 'another node'"'"'s lock with an mtime long past is not released after a restart' '
	mkdir /etc/pve/priv/lock/L4 &&
	node_stop_pmxcfsd n1 &&
	sqlite3 /var/lib/pve-cluster/config.db \
		"UPDATE tree SET writer = 7, mtime = 1 WHERE name = '"'"'L4'"'"'" &&
	node_start_pmxcfsd n1 -l &&
	test "$(stat -c %Y /etc/pve/priv/lock/L4)" = 1 &&
	test_errno EACCES utime 0 0 /etc/pve/priv/lock/L4 &&
	test_errno EACCES utime 0 $(date +%s) /etc/pve/priv/lock/L4 &&
	test_errno EEXIST mkdir /etc/pve/priv/lock/L4 &&
	test "$(stat -c %Y /etc/pve/priv/lock/L4)" = 1 &&
	rmdir /etc/pve/priv/lock/L4
'

test_expect_success 'a lock renewed 100 s ago is still held' '
	mkdir /etc/pve/priv/lock/L3 &&
	touch -d @$(($(date +%s) - 100)) /etc/pve/priv/lock/L3 &&
	test_errno EEXIST mkdir /etc/pve/priv/lock/L3
'

test_expect_success 'rmdir releases a lock' '
	rmdir /etc/pve/priv/lock/L3 &&
	mkdir /etc/pve/priv/lock/L3 &&
	rmdir /etc/pve/priv/lock/L3
'

# ------------------------------------------------------------------ concurrency

# ------------------------------------------------- files held open

test_expect_success 'a file removed while open is still read, stat-ed and written through its fd' '
	echo hello >/etc/pve/held &&
	exec 3</etc/pve/held 4<>/etc/pve/held &&
	rm /etc/pve/held &&
	test ! -e /etc/pve/held &&
	test "$(cat <&3)" = hello &&
	test "$(stat -L -c %h /proc/self/fd/4)" = 0 &&
	echo world >&4 &&
	test "$(cat /proc/self/fd/4)" = world &&
	exec 3<&- 4<&- &&
	test ! -e /etc/pve/held
'

test_expect_success 'a reader keeps the old file whole when the manual'"'"'s cp, edit, mv replaces it' '
	printf "old content\n" >/etc/pve/cfg &&
	exec 3</etc/pve/cfg &&
	printf "new content\n" >/etc/pve/cfg.tmp &&
	mv /etc/pve/cfg.tmp /etc/pve/cfg &&
	test "$(cat <&3)" = "old content" &&
	test "$(stat -L -c "%h %s" /proc/self/fd/3)" = "0 12" &&
	exec 3<&- &&
	test "$(cat /etc/pve/cfg)" = "new content"
'

test_expect_success 'a file removed while open under priv/ keeps its strict mode' '
	echo secret >/etc/pve/priv/heldkey &&
	exec 3</etc/pve/priv/heldkey &&
	rm /etc/pve/priv/heldkey &&
	test "$(stat -L -c %a /proc/self/fd/3)" = 600 &&
	exec 3<&-
'

test_expect_success 'four concurrent writers: every file is there with its content' '
	mkdir /etc/pve/conc &&
	for w in 1 2 3 4; do
		(for i in $(seq 1 50); do echo "$w-$i" >/etc/pve/conc/f-$w-$i || exit 1; done) &
	done &&
	wait &&
	test "$(ls /etc/pve/conc | wc -l)" = 200 &&
	for w in 1 2 3 4; do
		for i in 1 25 50; do
			test "$(cat /etc/pve/conc/f-$w-$i)" = "$w-$i" || exit 1
		done
	done &&
	rm -r /etc/pve/conc
'

# ---------------------------------------------------------------------- limits

test_expect_success 'the tree is limited to 128 MiB: writes beyond fail with ENOSPC' '
	mkdir /etc/pve/fill &&
	head -c 1048576 /dev/zero | tr "\0" a >"$TRASH/mib" &&
	i=0 &&
	while [ $i -lt 140 ]; do
		i=$((i + 1))
		cp "$TRASH/mib" /etc/pve/fill/f$i 2>err || break
	done &&
	test $i -ge 120 && test $i -le 129 &&
	grep -q "No space left on device" err &&
	cmp "$TRASH/mib" /etc/pve/fill/f$((i - 1)) &&
	test_errno ENOSPC write /etc/pve/fill/more 1048576
'

test_expect_success 'after freeing space, writes work again' '
	rm -r /etc/pve/fill &&
	echo works >/etc/pve/after-fill &&
	test "$(cat /etc/pve/after-fill)" = works
'

test_node
test_expect_success 'pmxcfsd stops cleanly on SIGTERM' '
	node_stop_pmxcfsd n1
'

test_done
