#!/bin/bash
test_description='pvecm status, nodes and expected on a 3-node cluster

pvecm status prints the cluster information of /etc/pve/corosync.conf and
then exactly what corosync-quorumtool -siH prints on the same node; pvecm
nodes exactly what corosync-quorumtool -l prints; --output-format json the
same data as JSON. On a node cut off, status shows it inquorate (exit 2,
as the reference); pvecm expected 1 there makes it quorate and /etc/pve
writable again, as the manual recovers a node. With a quorum device (a
stand-in registered through libvotequorum) both show its column and row as
the tool does. The errors: not in a cluster, corosync not running, a bad
value, a value corosync refuses.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root
test_require_corosync
test_require_program pvecm

NODES="n1 n2 n3"

cluster_create 3
cluster_start_corosync

# status_out NODE: `pvecm status` on NODE into status.NODE, and
# `corosync-quorumtool -siH` into qt.NODE, with their exit codes in
# status.NODE.rc and qt.NODE.rc. The tool first: a reading of pvecm taken
# second is never older than the tool's.
status_out () {
	node_exec "$1" corosync-quorumtool -siH >"qt.$1" 2>"qt.$1.err"
	say $? >"qt.$1.rc"
	node_exec "$1" pvecm status >"status.$1" 2>"status.$1.err"
	say $? >"status.$1.rc"
}

# status_matches_quorumtool NODE: pvecm status without its "Cluster
# information" block is the tool's output line by line but for the Date
# line, and exits as the tool does. Retried a few times: a ring that
# changes between the two readings is not a difference.
status_matches_quorumtool () {
	local i
	for i in 1 2 3 4 5; do
		status_out "$1"
		sed '1,/^$/d' "status.$1" | grep -v '^Date: ' >"status.$1.cmp"
		grep -v '^Date: ' "qt.$1" >"qt.$1.cmp"
		if diff -u "qt.$1.cmp" "status.$1.cmp" >"diff.$1" &&
			[ "$(cat "status.$1.rc")" = "$(cat "qt.$1.rc")" ]; then
			return 0
		fi
	done
	cat "diff.$1" "status.$1.err"
	say "exit codes: pvecm $(cat "status.$1.rc"), corosync-quorumtool $(cat "qt.$1.rc")"
	return 1
}

# nodes_matches_quorumtool NODE: pvecm nodes is corosync-quorumtool -l
nodes_matches_quorumtool () {
	local i
	for i in 1 2 3 4 5; do
		node_exec "$1" corosync-quorumtool -l >"qtl.$1" 2>&1
		node_exec "$1" pvecm nodes >"nodes.$1" 2>"nodes.$1.err" || {
			cat "nodes.$1.err"
			return 1
		}
		diff -u "qtl.$1" "nodes.$1" >"diff.$1" && return 0
	done
	cat "diff.$1"
	return 1
}

# match_lines PATTERNS FILE: FILE has as many lines as PATTERNS, and each
# line matches the extended regular expression on the same line of PATTERNS
match_lines () {
	local pat line n=0 bad=0
	exec 3<"$2"
	while IFS= read -r pat; do
		n=$((n + 1))
		if ! IFS= read -r line <&3; then
			say "line $n is missing, expected /$pat/"
			bad=1
			break
		fi
		[[ $line =~ $pat ]] || {
			say "line $n: \"$line\" does not match /$pat/"
			bad=1
		}
	done <"$1"
	if IFS= read -r line <&3; then
		say "line $((n + 1)) is one too many: \"$line\""
		bad=1
	fi
	exec 3<&-
	return $bad
}

# member_line ID NAME LOCAL_ID hex|dec: the pattern of one membership line:
# the id, one vote, the name or address, "(local)" only on the local
# node's line
member_line () {
	local id=$1 name=$2 local=$3 pat
	case $4 in
	hex) pat=$(printf '^0x%08x          1 %s' "$id" "${name//./\\.}") ;;
	*) pat=$(printf '^%10d          1 %s' "$id" "${name//./\\.}") ;;
	esac
	[ "$id" = "$local" ] && pat="$pat \\(local\\)"
	say "$pat\$"
}

# status_layout NODE NODES QUORATE EXPECTED TOTAL QUORUM [MEMBERS...]:
# the patterns of the whole of `pvecm status` on NODE (MEMBERS: node names,
# in address order)
status_layout () {
	local node=$1 nodes=$2 quorate=$3 expected=$4 total=$5 quorum=$6 idx m
	shift 6
	idx=$(cat "$TRASH/nodes/$node/index")
	cat <<-EOF
	^Cluster information\$
	^-------------------\$
	^Name:             $(cluster_name)\$
	^Config Version:   1\$
	^Transport:        knet\$
	^Secure auth:      on\$
	^\$
	^Quorum information\$
	^------------------\$
	^Date:             [A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} [0-9]{4}\$
	^Quorum provider:  corosync_votequorum\$
	^Nodes:            $nodes\$
	^Node ID:          $(printf '0x%08x' "$idx")\$
	^Ring ID:          [0-9a-f]+\\.[0-9a-f]+\$
	^Quorate:          $quorate\$
	^\$
	^Votequorum information\$
	^----------------------\$
	^Expected votes:   $expected\$
	^Highest expected: $expected\$
	^Total votes:      $total\$
	EOF
	if [ "$quorate" = Yes ]; then
		say "^Quorum:           $quorum  \$"
		say '^Flags:            Quorate $'
	else
		say "^Quorum:           $quorum Activity blocked\$"
		say '^Flags:            $'
	fi
	cat <<-EOF
	^\$
	^Membership information\$
	^----------------------\$
	^    Nodeid      Votes Name\$
	EOF
	for m in "$@"; do
		member_line "$(cat "$TRASH/nodes/$m/index")" "$(node_ip "$m")" "$idx" hex
	done
}

# nodes_layout NODE MEMBERS...: the patterns of `pvecm nodes` on NODE
nodes_layout () {
	local idx m
	idx=$(cat "$TRASH/nodes/$1/index")
	shift
	cat <<-EOF
	^\$
	^Membership information\$
	^----------------------\$
	^    Nodeid      Votes Name\$
	EOF
	for m in "$@"; do
		member_line "$(cat "$TRASH/nodes/$m/index")" "$m" "$idx" dec
	done
}

# one_line_error FILE: exactly one line, not empty
one_line_error () {
	cat "$1"
	test "$(wc -l <"$1")" = 1 && test -s "$1"
}

export -f status_out status_matches_quorumtool nodes_matches_quorumtool match_lines \
	member_line status_layout nodes_layout one_line_error

test_expect_success 'pmxcfsd on three nodes, writable' '
	cluster_start_pmxcfsd $NODES &&
	cluster_wait_pve_writable $NODES
'

test_expect_success 'before /etc/pve/corosync.conf exists, the node is not part of a cluster (exit 2)' '
	test_exit_code 2 node_exec n1 pvecm status >out 2>err &&
	one_line_error err &&
	grep -q "does not exist - is this node part of a cluster?" err &&
	test ! -s out &&
	test_exit_code 2 node_exec n2 pvecm nodes >out 2>err &&
	one_line_error err &&
	test_exit_code 2 node_exec n3 pvecm expected 1 >out 2>err &&
	one_line_error err
'

test_expect_success 'the cluster gets its /etc/pve/corosync.conf' '
	node_exec n1 cp /etc/corosync/corosync.conf /etc/pve/corosync.conf &&
	for n in $NODES; do
		node_exec $n cmp /etc/corosync/corosync.conf /etc/pve/corosync.conf || return 1
	done
'

# ------------------------------------------------------------ text

test_expect_success 'pvecm status on n1 is corosync-quorumtool -siH after the cluster information' '
	status_matches_quorumtool n1 &&
	test "$(cat status.n1.rc)" = 0 &&
	test ! -s status.n1.err
'

test_expect_success 'pvecm status on n2 as well' '
	status_matches_quorumtool n2 &&
	test "$(cat status.n2.rc)" = 0
'

test_expect_success 'pvecm status has the layout of the manual, "(local)" on its own line' '
	for n in n1 n2; do
		status_layout $n 3 Yes 3 3 2 n1 n2 n3 >layout.$n &&
		match_lines layout.$n status.$n || return 1
	done
'

test_expect_success 'pvecm nodes on n1 and n2 is corosync-quorumtool -l' '
	nodes_matches_quorumtool n1 &&
	nodes_matches_quorumtool n2
'

test_expect_success 'pvecm nodes has the layout of the manual: decimal ids, names, "(local)"' '
	for n in n1 n2; do
		nodes_layout $n n1 n2 n3 >layout.$n &&
		match_lines layout.$n nodes.$n || return 1
	done
'

# ------------------------------------------------------------ JSON

test_expect_success 'pvecm status --output-format json has the data of the text' '
	node_exec n2 pvecm status --output-format json >status.json &&
	node_exec n2 pvecm status >status.txt &&
	test "$(json_get cluster name <status.json)" = "$(cluster_name)" &&
	test "$(json_get cluster config_version <status.json)" = 1 &&
	test "$(json_get cluster transport <status.json)" = knet &&
	test "$(json_get cluster secauth <status.json)" = true &&
	test "$(json_get quorum provider <status.json)" = corosync_votequorum &&
	test "$(json_get quorum nodes <status.json)" = 3 &&
	test "$(json_get quorum nodeid <status.json)" = 2 &&
	test "$(json_get quorum quorate <status.json)" = true &&
	ring=$(sed -n "s/^Ring ID: *//p" status.txt) &&
	test "$(printf "%x.%x" "$(json_get quorum ring_id nodeid <status.json)" \
		"$(json_get quorum ring_id seq <status.json)")" = "$ring" &&
	test "$(json_get votequorum expected_votes <status.json)" = 3 &&
	test "$(json_get votequorum highest_expected <status.json)" = 3 &&
	test "$(json_get votequorum total_votes <status.json)" = 3 &&
	test "$(json_get votequorum quorum <status.json)" = 2 &&
	test "$(json_get votequorum flags <status.json)" = "[\"Quorate\"]" &&
	test "$(json_get qdevice <status.json)" = null &&
	for k in "quorum nodes" "quorum nodeid" "quorum ring_id seq" "votequorum quorum" \
		"members 0 nodeid" "members 0 votes"; do
		test "$(json_type $k <status.json)" = number || { echo "$k not a number"; return 1; }
	done &&
	for k in "quorum quorate" "cluster secauth" "members 0 local"; do
		test "$(json_type $k <status.json)" = bool || { echo "$k not a boolean"; return 1; }
	done
'

test_expect_success 'the JSON members are the text members, in the same order' '
	sed "1,/^    Nodeid/d" status.txt >members.txt &&
	test_must_fail json_get members 3 <status.json 2>/dev/null &&
	i=0 &&
	while read -r id votes ip local; do
		test "$(printf "0x%08x" "$(json_get members $i nodeid <status.json)")" = "$id" &&
		test "$(json_get members $i votes <status.json)" = "$votes" &&
		test "$(json_get members $i ip <status.json)" = "$ip" &&
		test "$(json_get members $i name <status.json)" = \
			"n$(json_get members $i nodeid <status.json)" &&
		if [ "$local" = "(local)" ]; then want=true; else want=false; fi &&
		test "$(json_get members $i local <status.json)" = $want || return 1
		i=$((i + 1))
	done <members.txt &&
	test $i = 3
'

test_expect_success 'pvecm nodes --output-format json lists the members of the text' '
	node_exec n1 pvecm nodes --output-format json >nodes.json &&
	node_exec n1 pvecm nodes >nodes.txt &&
	sed "1,/^    Nodeid/d" nodes.txt >members.txt &&
	test_must_fail json_get members 3 <nodes.json 2>/dev/null &&
	i=0 &&
	while read -r id votes name local; do
		test "$(json_get members $i nodeid <nodes.json)" = "$id" &&
		test "$(json_get members $i votes <nodes.json)" = "$votes" &&
		test "$(json_get members $i name <nodes.json)" = "$name" &&
		if [ "$local" = "(local)" ]; then want=true; else want=false; fi &&
		test "$(json_get members $i local <nodes.json)" = $want || return 1
		i=$((i + 1))
	done <members.txt &&
	test $i = 3 &&
	test "$(json_get members 0 local <nodes.json)" = true
'

test_expect_success 'an unknown --output-format is refused in one line' '
	test_exit_code 255 node_exec n1 pvecm status --output-format xml >out 2>err &&
	one_line_error err &&
	grep -q "xml" err &&
	test ! -s out &&
	test_exit_code 255 node_exec n1 pvecm nodes --output-format=yaml >out 2>err &&
	one_line_error err &&
	test ! -s out
'

# ------------------------------------------------------------ expected

test_expect_success 'pvecm expected needs a whole number of at least 1' '
	for v in 0 abc 1.5 "" 4294967296; do
		test_exit_code 255 node_exec n1 pvecm expected -- "$v" >out 2>err &&
		one_line_error err &&
		test ! -s out || return 1
	done &&
	test_exit_code 255 node_exec n1 pvecm expected -- -1 >out 2>err &&
	one_line_error err &&
	test_exit_code 255 node_exec n1 pvecm expected >out 2>err &&
	test ! -s out
'

test_expect_success 'a value corosync refuses fails in one line with its error, nothing changed' '
	test_exit_code 1 node_exec n1 pvecm expected 100 >out 2>err &&
	one_line_error err &&
	grep -q "CS_ERR_INVALID_PARAM" err &&
	node_exec n1 corosync-quorumtool -s >qt &&
	grep -q "^Expected votes:   3$" qt
'

# ------------------------------------------------------------ partition

test_expect_success 'cut off, n3 is inquorate: Quorate: No, activity blocked, exit 2 as the tool' '
	node_partition n3 &&
	cluster_wait_inquorate n3 &&
	cluster_wait_members n1 2 &&
	cluster_wait_pve_readonly n3 &&
	status_matches_quorumtool n3 &&
	test "$(cat status.n3.rc)" = 2 &&
	status_layout n3 1 No 3 1 2 n3 >layout.n3 &&
	match_lines layout.n3 status.n3 &&
	test_exit_code 2 node_exec n3 pvecm status --output-format json >status.json &&
	test "$(json_get quorum quorate <status.json)" = false &&
	test "$(json_get votequorum flags <status.json)" = "[]"
'

test_expect_success 'meanwhile n1 and n2 stay quorate with two nodes' '
	status_matches_quorumtool n1 &&
	status_layout n1 2 Yes 3 2 2 n1 n2 >layout.n1 &&
	match_lines layout.n1 status.n1 &&
	nodes_matches_quorumtool n2
'

test_expect_success 'pvecm expected 1 on n3 makes it quorate and /etc/pve writable' '
	pid=$(node_pmxcfsd_pid n3) &&
	node_exec n3 pvecm expected 1 >out 2>err &&
	test ! -s out && test ! -s err &&
	cluster_wait_quorate n3 &&
	cluster_wait_pve_writable n3 &&
	node_exec n3 sh -c "echo recovered >/etc/pve/x" &&
	test "$(node_exec n3 cat /etc/pve/x)" = recovered &&
	test "$(node_pmxcfsd_pid n3)" = "$pid" && pid_alive $pid &&
	status_matches_quorumtool n3 &&
	test "$(cat status.n3.rc)" = 0 &&
	status_layout n3 1 Yes 1 1 1 n3 >layout.n3 &&
	match_lines layout.n3 status.n3
'

test_expect_success 'after the heal the cluster converges and all agree with the tool' '
	node_heal n3 &&
	cluster_wait_members n1 3 &&
	cluster_wait_members n3 3 &&
	cluster_wait_quorate n3 &&
	cluster_wait_pve_writable $NODES &&
	cluster_wait_trees_equal $NODES &&
	for n in $NODES; do
		status_matches_quorumtool $n &&
		test "$(cat status.$n.rc)" = 0 &&
		nodes_matches_quorumtool $n || return 1
	done &&
	grep -q "^Nodes:            3$" status.n3
'

# ------------------------------------------------------------ corosync down

test_expect_success 'without corosync, status, nodes and expected exit 2 in one line' '
	node_stop_corosync n2 &&
	test_exit_code 2 node_exec n2 pvecm status >out 2>err &&
	one_line_error err &&
	grep -q "corosync is not running" err &&
	test ! -s out &&
	test_exit_code 2 node_exec n2 pvecm nodes --output-format json >out 2>err &&
	one_line_error err &&
	test ! -s out &&
	test_exit_code 2 node_exec n2 pvecm expected 2 >out 2>err &&
	one_line_error err
'

test_expect_success 'with corosync back, n2 shows the whole cluster again' '
	node_start_corosync n2 &&
	cluster_wait_members n2 3 &&
	cluster_wait_pve_writable $NODES &&
	status_matches_quorumtool n2 &&
	nodes_matches_quorumtool n2
'

# ------------------------------------------------------------ quorum device

# A stand-in for corosync-qdevice: registers a device named Qdevice with
# votequorum through libvotequorum and polls it, casting its vote, every
# second, with the current ring id. Enough for votequorum to count it and
# for the tool to show its column and row; no qnetd needed.
cat >"$TRASH/fake-qdevice.py" <<'EOF'
import ctypes, re, subprocess, sys, time

class RingId(ctypes.Structure):
    _fields_ = [("nodeid", ctypes.c_uint32), ("seq", ctypes.c_uint64)]

class Callbacks(ctypes.Structure):
    _fields_ = [("quorum", ctypes.c_void_p), ("expected", ctypes.c_void_p),
                ("nodelist", ctypes.c_void_p)]

vq = ctypes.CDLL("libvotequorum.so.8")
vq.votequorum_initialize.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(Callbacks)]
vq.votequorum_qdevice_register.argtypes = [ctypes.c_uint64, ctypes.c_char_p]
vq.votequorum_qdevice_poll.argtypes = [ctypes.c_uint64, ctypes.c_char_p, ctypes.c_uint, RingId]

def ring():
    out = subprocess.run(["corosync-quorumtool", "-s"], capture_output=True, text=True).stdout
    m = re.search(r"^Ring ID:\s+([0-9a-f]+)\.([0-9a-f]+)$", out, re.M)
    return RingId(int(m.group(1), 16), int(m.group(2), 16)) if m else RingId(0, 0)

handle = ctypes.c_uint64()
callbacks = Callbacks()
rc = vq.votequorum_initialize(ctypes.byref(handle), ctypes.byref(callbacks))
if rc != 1:
    sys.exit("votequorum_initialize: %d" % rc)
rc = vq.votequorum_qdevice_register(handle, b"Qdevice")
if rc != 1:
    sys.exit("votequorum_qdevice_register: %d" % rc)
while True:
    rc = vq.votequorum_qdevice_poll(handle, b"Qdevice", 1, ring())
    print("poll: %d" % rc, flush=True)
    time.sleep(1)
EOF

python3 -c 'import ctypes; ctypes.CDLL("libvotequorum.so.8")' 2>/dev/null &&
	test_set_prereq PYTHON3

test_expect_success PYTHON3 'a quorum device is configured on every node (corosync reloads)' '
	for n in $NODES; do
		f=$TRASH/nodes/$n/root/etc/corosync/corosync.conf &&
		sed "/provider: corosync_votequorum/a\\
  device {\\
    model: net\\
    votes: 1\\
  }" "$f" >"$f.tmp" && mv "$f.tmp" "$f" || return 1
	done &&
	grep -q "^    votes: 1$" "$TRASH/nodes/n3/root/etc/corosync/corosync.conf" &&
	node_exec n1 corosync-cfgtool -R &&
	wait_for "expected votes 4 on n1" 10 \
		"node_corosync_quorumtool n1 | grep -q \"^Expected votes:   4$\""
'

test_expect_success PYTHON3 'with the device voting, status and nodes show its column and row as the tool' '
	node_exec n1 python3 "$TRASH/fake-qdevice.py" >qdevice.log 2>&1 &
	say $! >qdevice.pid &&
	wait_for "the device to vote on n1" 20 \
		"node_corosync_quorumtool n1 | grep -q \"A,V,NMW\"" &&
	wait_for "n2 to see the device" 20 \
		"node_exec n2 corosync-quorumtool -s | grep -q \"Qdevice (votes 1)\"" &&
	for n in n1 n2; do
		status_matches_quorumtool $n &&
		nodes_matches_quorumtool $n || return 1
	done &&
	grep -q "^Flags:            Quorate Qdevice $" status.n1 &&
	grep -q "^    Nodeid      Votes    Qdevice Name$" status.n1 &&
	grep -q "^0x00000001          1    A,V,NMW .* (local)$" status.n1 &&
	grep -q "^0x00000002          1         NR " status.n1 &&
	grep -q "^0x00000000          1            Qdevice$" status.n1 &&
	grep -q "^0x00000000          0            Qdevice (votes 1)$" status.n2 &&
	grep -q "^         1          1    A,V,NMW n1$" nodes.n2
'

test_expect_success PYTHON3 'the JSON output has the device and each member'"'"'s view of it' '
	test_when_finished "kill \$(cat qdevice.pid)" &&
	node_exec n1 pvecm status --output-format json >status.json &&
	test "$(json_get qdevice name <status.json)" = Qdevice &&
	test "$(json_get qdevice nodeid <status.json)" = 0 &&
	test "$(json_get qdevice votes <status.json)" = 1 &&
	test "$(json_get qdevice cast_vote <status.json)" = true &&
	test "$(json_get votequorum flags <status.json)" = "[\"Quorate\",\"Qdevice\"]" &&
	test "$(json_get members 0 qdevice <status.json)" = \
		"{\"alive\":true,\"cast_vote\":true,\"master_wins\":false,\"registered\":true}" &&
	test "$(json_get members 1 qdevice registered <status.json)" = false &&
	node_exec n2 pvecm status --output-format json >status2.json &&
	test "$(json_get qdevice cast_vote <status2.json)" = false &&
	node_exec n2 pvecm nodes --output-format json >nodes2.json &&
	test "$(json_get members 0 qdevice alive <nodes2.json)" = true
'

# ------------------------------------------------------------ help

test_expect_success 'pvecm help lists nodes and expected with the descriptions of the man page' '
	pvecm help >help &&
	grep -q "^       pvecm expected <expected>$" help &&
	grep -q "^       pvecm nodes \[OPTIONS\]$" help &&
	grep -q "^       pvecm status \[OPTIONS\]$" help &&
	for c in status nodes expected; do
		d=$(pvecm help $c --verbose | sed -n 3p | sed "s/^ *//") &&
		test -n "$d" &&
		grep -qxF "$d" "$SRC_ROOT/man/pvecm.1" || { echo "not in the man page: $d"; return 1; }
	done
'

test_done
