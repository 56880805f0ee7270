#!/bin/bash
test_description='pmxcfsd --import: taking over the database of Proxmox'"'"'s pmxcfs

The test writes a config.db in the reference'"'"'s schema (table tree, inode 0
the version row) with three nodes'"'"' directories, guest configurations,
priv/ with a key and a lock, corosync.conf, datacenter.cfg and a file of
binary bytes, plus an orphan row and a duplicate name. pmxcfsd refuses it
as it is; --import of it in place says to move it away; --dry-run reports
and writes nothing; an import while pmxcfsd runs, or while something
serves /etc/pve, is refused; the import writes a root-only database; a
second one is refused; pmxcfsd serves the result with every file byte for
byte, the same inode numbers, mtimes and versions, and our modes; the
source is left unchanged throughout.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
command -v python3 >/dev/null || skip_all "needs python3 (to write the reference's database)"

# mkref.py DB EXPECTDIR: writes DB in the reference's schema (the node
# directories as the reference makes them, so that pmxcfsd adds none) and,
# beside the test, what an import must make of it: EXPECTDIR/tree/<path>
# (each file's content), EXPECTDIR/manifest ("inode type mtime version
# path" per entry taken), EXPECTDIR/refused and EXPECTDIR/taken (the
# report's lines).
cat >"$TRASH/mkref.py" <<'EOF'
import os, sqlite3, sys

db_path, out = sys.argv[1], sys.argv[2]
DIR, REG = 4, 8
T0 = 1700000000
rows, paths, taken = [], {0: ""}, []


def add(inode, parent, name, typ, data=None, version=None, writer=1, keep=True):
    version = version or inode
    rows.append((inode, parent, version, writer, T0 + 60 * inode, typ, name, data))
    if keep:
        paths[inode] = (paths[parent] + "/" if paths[parent] else "") + name
        taken.append((inode, typ, T0 + 60 * inode, version, paths[inode], data))
    return inode


n = iter(range(2, 1000))
nodes = add(next(n), 0, "nodes", DIR)
for i, node in enumerate(["n1", "n2", "n3"], start=1):
    d = add(next(n), nodes, node, DIR, writer=i)
    qs = add(next(n), d, "qemu-server", DIR, writer=i)
    lxc = add(next(n), d, "lxc", DIR, writer=i)
    add(next(n), d, "openvz", DIR, writer=i)
    priv = add(next(n), d, "priv", DIR, writer=i)
    add(next(n), priv, "node.key", REG, b"-----BEGIN PRIVATE KEY-----\n%s\n" % node.encode(), writer=i)
    if node == "n1":
        add(next(n), qs, "100.conf", REG, b"boot: order=scsi0\ncores: 2\nmemory: 2048\n", version=110)
    if node == "n2":
        add(next(n), qs, "101.conf", REG, b"cores: 1\nmemory: 512\n", writer=2)
    if node == "n3":
        add(next(n), lxc, "200.conf", REG, b"arch: amd64\nhostname: ct200\n", writer=3)
priv = add(next(n), 0, "priv", DIR)
add(next(n), priv, "authkey.key", REG, bytes(range(256)))
lock = add(next(n), priv, "lock", DIR)
add(next(n), lock, "ha_agent_n2_lock", DIR, writer=2)
add(next(n), 0, "corosync.conf", REG,
    b"totem {\n  cluster_name: imported\n  config_version: 3\n}\n", version=115)
dc = add(next(n), 0, "datacenter.cfg", REG, b"keyboard: de\nmigration: secure\n", version=117)
add(next(n), 0, "binary.bin", REG, bytes(range(256)) * 4 + b"\x00\r\n\x1b[0m")
add(next(n), 0, "empty.cfg", REG, None)
# refused: an older duplicate of datacenter.cfg, a file whose directory is gone
add(8000, 0, "datacenter.cfg", REG, b"keyboard: en-us\n", version=50, keep=False)
add(9001, 9999, "stray.conf", REG, b"lost\n", keep=False)

db = sqlite3.connect(db_path)
db.execute("PRAGMA journal_mode=WAL")
db.execute("CREATE TABLE tree (inode INTEGER PRIMARY KEY NOT NULL,"
           " parent INTEGER NOT NULL CHECK(typeof(parent)=='integer'),"
           " version INTEGER NOT NULL CHECK(typeof(version)=='integer'),"
           " writer INTEGER NOT NULL CHECK(typeof(writer)=='integer'),"
           " mtime INTEGER NOT NULL CHECK(typeof(mtime)=='integer'),"
           " type INTEGER NOT NULL CHECK(typeof(type)=='integer'),"
           " name TEXT NOT NULL, data BLOB)")
db.execute("INSERT INTO tree VALUES (0, 0, 120, 1, ?, 8, '__version__', NULL)", (T0,))
db.executemany("INSERT INTO tree VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
db.commit()
db.close()

os.makedirs(out + "/tree")
with open(out + "/manifest", "w") as m:
    for inode, typ, mtime, version, path, data in taken:
        m.write("%d %d %d %d %s\n" % (inode, typ, mtime, version, path))
        if typ == DIR:
            os.makedirs(out + "/tree/" + path, exist_ok=True)
        else:
            with open(out + "/tree/" + path, "wb") as f:
                f.write(data or b"")
with open(out + "/refused", "w") as f:
    f.write("refused: inode 8000 (datacenter.cfg): the same name as inode %d in the "
            "same directory, which is newer\n" % dc)
    f.write("refused: inode 9001 ('stray.conf' in inode 9999): not reachable from the "
            "root: its parent inode 9999 does not exist\n")
dirs = sum(1 for t in taken if t[1] == DIR)
files = [t for t in taken if t[1] == REG]
with open(out + "/taken", "w") as f:
    f.write("taken: %d directories, %d files (%d bytes); refused: 2 rows; version 120\n"
            % (dirs, len(files), sum(len(t[5] or b"") for t in files)))
EOF

DB=/var/lib/pve-cluster/config.db
SRC=/var/lib/pve-cluster/config.db.pve
export DB SRC

node_create n1
test_node n1

# same_source: the source is as it was written: content, mtime, and no
# journal or shared-memory file beside it
same_source () {
	test "$(sha256sum <"$SRC") $(stat -c %y "$SRC")" = "$(cat "$TRASH/src.sum")" &&
	test ! -e "$SRC-wal" && test ! -e "$SRC-shm" && test ! -e "$SRC-journal"
}
export -f same_source

test_expect_success 'a database in the reference schema is written where the reference keeps it' '
	python3 "$TRASH/mkref.py" "$DB" "$TRASH/ref-expect" &&
	test "$(head -c 15 "$DB")" = "SQLite format 3" &&
	test ! -e "$DB-wal" &&
	test -s "$TRASH/ref-expect/manifest"
'

test_expect_success 'pmxcfsd refuses to start on it and leaves it as it is' '
	sha256sum <"$DB" >before &&
	test_must_fail pmxcfsd -l 2>err &&
	cat err &&
	grep -q "not a pmxcfsd database" err &&
	! mountpoint -q /etc/pve &&
	sha256sum <"$DB" >after &&
	test_cmp before after
'

test_expect_success '--import of the database in place says to move it away, in one line' '
	sha256sum <"$DB" >before &&
	test_must_fail pmxcfsd --import "$DB" >out 2>err &&
	cat err &&
	test "$(wc -l <err)" = 1 &&
	grep -q "^pmxcfsd: $DB is where pmxcfsd keeps its own database: move it away first" err &&
	sha256sum <"$DB" >after &&
	test_cmp before after
'

test_expect_success 'moved away, the source is recorded as it is' '
	mv "$DB" "$SRC" &&
	echo "$(sha256sum <"$SRC") $(stat -c %y "$SRC")" >"$TRASH/src.sum"
'

test_expect_success '--dry-run reports what it takes and refuses and writes nothing' '
	pmxcfsd --import "$SRC" --dry-run >out 2>err &&
	cat out err &&
	test "$(head -n 1 out)" = "$SRC: the tree of Proxmox'"'"'s pmxcfs, version 120" &&
	grep "^refused: " out >actual &&
	test_cmp "$TRASH/ref-expect/refused" actual &&
	grep "^taken: " out >actual &&
	test_cmp "$TRASH/ref-expect/taken" actual &&
	test "$(tail -n 1 out)" = "dry run: nothing written; importing into $DB would succeed" &&
	! grep -q "^note: " out &&
	test ! -s err &&
	test ! -e "$DB" && test ! -e "$DB-wal" &&
	same_source
'

test_expect_success 'an import while pmxcfsd runs is refused, nothing written' '
	pmxcfsd -l --database /var/lib/pve-cluster/running.db &&
	test_when_finished "node_stop_pmxcfsd n1 && rm -f /var/lib/pve-cluster/running.db*" &&
	test_must_fail pmxcfsd --import "$SRC" >out 2>err &&
	cat err &&
	test "$(wc -l <err)" = 1 &&
	grep -q "^pmxcfsd: not importing $SRC: pmxcfsd is already running (pid [0-9]*, /run/pmxcfsd/pmxcfsd.pid); stop it first" err &&
	test ! -e "$DB" &&
	same_source
'

test_expect_success 'an import while /etc/pve is mounted (the reference serving it) is refused' '
	mount -t tmpfs reference /etc/pve &&
	test_when_finished "umount /etc/pve" &&
	test_must_fail pmxcfsd --import "$SRC" --dry-run >out 2>err &&
	cat err &&
	test "$(wc -l <err)" = 1 &&
	grep -q "^pmxcfsd: not importing $SRC: /etc/pve is mounted, so pmxcfs or pmxcfsd is running; stop it first" err &&
	test ! -e "$DB" &&
	same_source
'

test_expect_success 'a file that is no database of the reference: one line, non-zero, nothing written' '
	echo "[global]" >"$TRASH/not-a-db" &&
	test_must_fail pmxcfsd --import "$TRASH/not-a-db" >out 2>err &&
	cat err &&
	test "$(wc -l <err)" = 1 &&
	grep -q "^pmxcfsd: $TRASH/not-a-db: not an SQLite database" err &&
	test_must_fail pmxcfsd --import "$TRASH/missing.db" --dry-run 2>err &&
	grep -q "^pmxcfsd: $TRASH/missing.db: No such file or directory; nothing imported$" err &&
	test ! -e "$DB" &&
	rm "$TRASH/not-a-db"
'

test_expect_success 'the import writes the database, root'"'"'s alone, and nothing else' '
	pmxcfsd --import "$SRC" >out 2>err &&
	cat out err &&
	grep "^refused: " out >actual &&
	test_cmp "$TRASH/ref-expect/refused" actual &&
	test "$(tail -n 1 out)" = "imported into $DB: start pmxcfsd as usual" &&
	test "$(stat -c "%a %U" /var/lib/pve-cluster)" = "700 root" &&
	test "$(stat -c "%a %U" "$DB")" = "600 root" &&
	test "$(sqlite3 "$DB" "PRAGMA integrity_check")" = ok &&
	ls -a /var/lib/pve-cluster >actual &&
	printf "%s\n" . .. config.db config.db.pve >expect &&
	test_cmp expect actual &&
	test ! -e /run/pmxcfsd/pmxcfsd.pid &&
	same_source
'

test_expect_success 'a second import is refused: the database exists and stays' '
	sha256sum <"$DB" >before &&
	test_must_fail pmxcfsd --import "$SRC" >out 2>err &&
	cat err &&
	test "$(wc -l <err)" = 1 &&
	grep -q "^pmxcfsd: $DB exists: refusing to overwrite it; move it away" err &&
	sha256sum <"$DB" >after &&
	test_cmp before after &&
	same_source
'

test_expect_success 'the import honours --database' '
	pmxcfsd --import "$SRC" --database "$TRASH/elsewhere/config.db" >out 2>err &&
	test_when_finished "rm -rf $TRASH/elsewhere" &&
	test "$(tail -n 1 out)" = "imported into $TRASH/elsewhere/config.db: start pmxcfsd as usual" &&
	test "$(stat -c "%a %U" "$TRASH/elsewhere")" = "700 root" &&
	test "$(stat -c "%a %U" "$TRASH/elsewhere/config.db")" = "600 root" &&
	test "$(sqlite3 "$TRASH/elsewhere/config.db" "SELECT data FROM tree WHERE name = \"datacenter.cfg\"")" = "$(cat "$TRASH/ref-expect/tree/datacenter.cfg")" &&
	same_source
'

test_expect_success 'pmxcfsd starts on the imported database' '
	node_start_pmxcfsd n1 -l &&
	! grep -q "error" "$(node_log n1)"
'

test_expect_success 'every file is there byte for byte, every directory too' '
	while read -r inode type mtime version path; do
		if [ "$type" = 4 ]; then
			test -d "/etc/pve/$path" || { echo "no directory $path"; exit 1; }
		else
			cmp "$TRASH/ref-expect/tree/$path" "/etc/pve/$path" || exit 1
		fi
	done <"$TRASH/ref-expect/manifest" &&
	test "$(wc -l <"$TRASH/ref-expect/manifest")" = 30
'

test_expect_success 'inode numbers and modification times are the reference'"'"'s' '
	while read -r inode type mtime version path; do
		test "$(stat -c "%i %Y" "/etc/pve/$path")" = "$inode $mtime" ||
			{ echo "$path: $(stat -c "%i %Y" "/etc/pve/$path"), not $inode $mtime"; exit 1; }
	done <"$TRASH/ref-expect/manifest"
'

test_expect_success PERL 'versions are the reference'"'"'s (.vmlist, .version)' '
	version_of () { grep " $1\$" "$TRASH/ref-expect/manifest" | cut -d" " -f4; } &&
	test "$(json_get ids 100 version </etc/pve/.vmlist)" = "$(version_of nodes/n1/qemu-server/100.conf)" &&
	test "$(json_get ids 100 version </etc/pve/.vmlist)" = 110 &&
	test "$(json_get ids 100 node </etc/pve/.vmlist)" = n1 &&
	test "$(json_get ids 200 type </etc/pve/.vmlist)" = lxc &&
	test "$(json_get datacenter.cfg </etc/pve/.version)" = 117 &&
	test "$(json_get corosync.conf </etc/pve/.version)" = 115
'

test_expect_success 'modes are ours: 0640 and 0755, 0600 and 0700 below priv, root:www-data' '
	while read -r inode type mtime version path; do
		case "/$path/" in
		*/priv/*) want_f=600 want_d=700 ;;
		*) want_f=640 want_d=755 ;;
		esac
		if [ "$type" = 4 ]; then want=$want_d; else want=$want_f; fi
		test "$(stat -c "%a %U:%G" "/etc/pve/$path")" = "$want root:www-data" ||
			{ echo "$path: $(stat -c "%a %U:%G" "/etc/pve/$path"), not $want"; exit 1; }
	done <"$TRASH/ref-expect/manifest" &&
	test "$(stat -c %a /etc/pve/priv/lock/ha_agent_n2_lock)" = 700
'

test_expect_success 'the refused rows are not in the tree' '
	test "$(cat /etc/pve/datacenter.cfg)" = "$(printf "keyboard: de\nmigration: secure")" &&
	test -z "$(find /etc/pve -name stray.conf)"
'

test_expect_success 'the imported tree takes changes, numbered above its versions' '
	echo new >/etc/pve/new.cfg &&
	test "$(stat -c %i /etc/pve/new.cfg)" -gt 120 &&
	echo "memory: 4096" >>/etc/pve/nodes/n1/qemu-server/100.conf &&
	test "$(json_get ids 100 version </etc/pve/.vmlist)" -gt 120 &&
	node_stop_pmxcfsd n1 &&
	node_start_pmxcfsd n1 -l &&
	test "$(cat /etc/pve/new.cfg)" = new &&
	cmp "$TRASH/ref-expect/tree/binary.bin" /etc/pve/binary.bin
'

test_expect_success 'the source is still as it was written' '
	node_stop_pmxcfsd n1 &&
	same_source
'

test_done
