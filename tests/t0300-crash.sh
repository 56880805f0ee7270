#!/bin/bash
test_description='durability: every acknowledged write survives kill -9

A writer creates, overwrites, renames and removes files in a loop and
records each operation in a ledger only after it returned success. The
daemon is killed with SIGKILL at a random moment, 20 times (seeded: set
CRASH_SEED to repeat a run, CRASH_ROUNDS to change the count). After each
crash the database passes an integrity check, the daemon starts again, and
the tree holds exactly what the ledger says; only the one operation that
was in flight at the kill may have gone either way.'

. "$(dirname "$0")/lib/test-lib.sh"
test_require_root

CRASH_SEED=${CRASH_SEED:-$(($$ ^ $(date +%s)))}
CRASH_ROUNDS=${CRASH_ROUNDS:-20}
say "# seed $CRASH_SEED (CRASH_SEED=$CRASH_SEED repeats this run)"
RANDOM=$CRASH_SEED
LEDGER=$TRASH/ledger
export LEDGER

node_create n1
test_expect_success 'start pmxcfsd' '
	node_start_pmxcfsd n1 -l &&
	node_exec n1 mkdir /etc/pve/crash
'

# The writer, run inside the node. It appends "op path [content]" to the
# ledger after each operation succeeded, and "? op path [path2]" before it,
# so the verifier knows which operation was in flight when the daemon died.
# Operations, by step: write a new file; every 3rd step overwrite the
# previous file; every 5th rename it (cp+mv over an existing file, as admins
# edit); every 7th remove a file; every 11th make a directory with a file.
cat >"$TRASH/writer.sh" <<'EOF'
#!/bin/bash
round=$1
d=/etc/pve/crash
i=0
while :; do
	i=$((i + 1))
	f=r$round-$i
	c="$round-$i-$RANDOM$RANDOM"
	echo "? W $f" >>"$LEDGER"
	echo "$c" >"$d/$f" || exit 0
	echo "W $f $c" >>"$LEDGER"
	p=r$round-$((i - 1))
	if [ $((i % 3)) = 0 ] && [ -e "$d/$p" ]; then
		c="$c-over"
		echo "? W $p" >>"$LEDGER"
		printf '%s\n' "$c" >"$d/$p" || exit 0
		echo "W $p $c" >>"$LEDGER"
	fi
	if [ $((i % 5)) = 0 ]; then
		c="$c-edited"
		echo "? W $f.new" >>"$LEDGER"
		printf '%s\n' "$c" >"$d/$f.new" || exit 0
		echo "W $f.new $c" >>"$LEDGER"
		echo "? R $f.new $f" >>"$LEDGER"
		mv "$d/$f.new" "$d/$f" || exit 0
		echo "R $f.new $f" >>"$LEDGER"
	fi
	if [ $((i % 7)) = 0 ] && [ -e "$d/$p" ]; then
		echo "? U $p" >>"$LEDGER"
		rm "$d/$p" || exit 0
		echo "U $p" >>"$LEDGER"
	fi
	if [ $((i % 11)) = 0 ]; then
		echo "? D $f.d" >>"$LEDGER"
		mkdir "$d/$f.d" || exit 0
		echo "D $f.d" >>"$LEDGER"
		echo "? W $f.d/inner" >>"$LEDGER"
		echo "$c" >"$d/$f.d/inner" || exit 0
		echo "W $f.d/inner $c" >>"$LEDGER"
	fi
done
EOF
chmod +x "$TRASH/writer.sh"

# verify: replays the ledger and compares with the tree. The last "?"
# line without its completion names the operation that was in flight:
# its paths may hold either state.
cat >"$TRASH/verify.pl" <<'EOF'
use strict;
my ($ledger, $dir) = @ARGV;
my (%want, @inflight);
open my $fh, '<', $ledger or die "$ledger: $!";
my $pending;
while (<$fh>) {
	chomp;
	if (/^\? (.*)$/) { $pending = $1; next; }
	my ($op, @a) = split / /, $_, 3;
	if ($op eq 'W') { $want{$a[0]} = "$a[1]\n"; }
	elsif ($op eq 'R') { $want{$a[1]} = delete $want{$a[0]}; }
	elsif ($op eq 'U') { delete $want{$a[0]}; }
	elsif ($op eq 'D') { $want{$a[0]} = undef; }
	$pending = undef;
}
close $fh;
# an operation still pending at the end of a round was in flight
my %skip;
@inflight = @ARGV[2 .. $#ARGV];
for my $p (@inflight) {
	my ($op, @a) = split / /, $p;
	$skip{$_} = 1 for @a;
}
my $bad = 0;
for my $path (sort keys %want) {
	next if $skip{$path};
	my $full = "$dir/$path";
	if (!defined $want{$path}) {
		if (!-d $full) { print "missing directory $path\n"; $bad++; }
		next;
	}
	if (!-f $full) { print "missing file $path (acknowledged)\n"; $bad++; next; }
	open my $f, '<', $full or do { print "cannot read $path: $!\n"; $bad++; next; };
	local $/;
	my $got = <$f>;
	if ($got ne $want{$path}) {
		print "wrong content in $path: expected '$want{$path}', got '$got'\n";
		$bad++;
	}
}
# nothing acknowledged as removed may come back
opendir my $dh, $dir or die "$dir: $!";
for my $e (readdir $dh) {
	next if $e eq '.' || $e eq '..' || $skip{$e};
	next if exists $want{$e};
	print "unexpected entry $e (removed or never acknowledged)\n";
	$bad++;
}
print "checked ", scalar(keys %want), " paths, $bad bad\n";
exit($bad ? 1 : 0);
EOF

# the in-flight operations of all rounds so far (one per crash at most)
: >"$TRASH/inflight"

# one crash round: start the writer, kill -9 the daemon after a random
# delay (10 ms .. 1 s), stop the writer, check the database, restart,
# verify the whole ledger
crash_round () {
	local r=$1 delay pid
	delay=$(awk -v r=$((RANDOM % 100 + 1)) 'BEGIN { printf "%.2f", r / 100 }')
	node_exec n1 "$TRASH/writer.sh" "$r" >"$TRASH/writer-$r.log" 2>&1 &
	pid=$!
	sleep "$delay"
	node_kill9_pmxcfsd n1 || return 1
	wait "$pid"
	# the in-flight operation, if the last ledger line is a "?"
	tail -n 1 "$LEDGER" | sed -n 's/^? //p' >>"$TRASH/inflight"
	say "round $r: killed after ${delay}s, $(grep -c '^[WRUD] ' "$LEDGER") operations acknowledged so far"
	test "$(sqlite3 "$(node_dir n1)/root$PVE_DB" "PRAGMA integrity_check")" = ok || {
		say "round $r: integrity_check failed"
		return 1
	}
	node_start_pmxcfsd n1 -l || return 1
	local -a inflight
	mapfile -t inflight <"$TRASH/inflight"
	perl "$TRASH/verify.pl" "$LEDGER" "$(node_path n1 /etc/pve/crash)" "${inflight[@]}"
}

for r in $(seq 1 "$CRASH_ROUNDS"); do
	test_expect_success "crash round $r: kill -9 during writes loses no acknowledged write" "
		crash_round $r
	"
done

test_expect_success 'the writer made progress (the test is not vacuous)' '
	test "$(grep -c "^W " "$LEDGER")" -ge $((CRASH_ROUNDS * 5))
'

test_expect_success 'after a clean stop, the database passes the integrity check' '
	node_stop_pmxcfsd n1 &&
	test "$(sqlite3 "$(node_dir n1)/root$PVE_DB" "PRAGMA integrity_check")" = ok
'

test_expect_success 'and a last start shows the same tree' '
	node_start_pmxcfsd n1 -l &&
	mapfile -t inflight <"$TRASH/inflight" &&
	perl "$TRASH/verify.pl" "$LEDGER" "$(node_path n1 /etc/pve/crash)" "${inflight[@]}" &&
	node_stop_pmxcfsd n1
'

test_done
