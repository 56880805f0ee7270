#!/bin/bash
# The fault soak (not part of make check): runs tests/t0630-faults-5.sh
# once per seed, with many rounds each, and prints one line per seed with
# the judge's counts, then the total:
#
#   seed 4711: lost 0 phantom 0 stale 0 divergent 0 unexplained 0 vacuous 0 (24/24 rounds, 27000 acknowledged, 412s)
#   total, 50 seeds: lost 0 phantom 0 stale 0 divergent 0 unexplained 0 vacuous 0; 0 runs without a verdict, 0 with a round that did not recover
#
# usage: tests/soak.sh [SEEDS]	(default 10)
# environment: SOAK_ROUNDS (rounds per seed, default 24), SOAK_SEED (the
#   first seed, default drawn; the others follow it), SOAK_DIR (where each
#   seed's log goes, default a new directory under /tmp; a failed seed's
#   node logs go to seed-S.logs/ there),
#   FAULT_WRITER_PAUSE_MS (the writers' pause between writes, default 20
#   here, 50 in make check: more conflicts on the shared keys), BUILD.
# Exit status 0 only if every seed recovered from every round and ran to a
# verdict with every count 0.
# A seed is repeated with: FAULT_SEED=S FAULT_ROUNDS=R tests/run.sh t0630

set -u
cd "$(dirname "$0")/.." || exit 2
seeds=${1:-10}
case $seeds in
'' | *[!0-9]* | 0)
	echo "soak: SEEDS must be a positive number, not '$seeds'" >&2
	exit 2
	;;
esac
rounds=${SOAK_ROUNDS:-24}
seed=${SOAK_SEED:-$((($$ ^ $(date +%s)) % 1000000))}
dir=${SOAK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/pvecm-soak.XXXXXX")} || exit 2
mkdir -p "$dir" || exit 2
unset TEST_LIB_INNER
export TEST_NO_KEEP=${TEST_NO_KEEP:-1}
export FAULT_WRITER_PAUSE_MS=${FAULT_WRITER_PAUSE_MS:-20}

cats="lost phantom stale divergent unexplained vacuous"
declare -A total
for c in $cats; do
	total[$c]=0
done
noverdict=0
incomplete=0
echo "# soak: $seeds seeds from $seed, $rounds rounds each; logs in $dir"
for i in $(seq 0 $((seeds - 1))); do
	s=$((seed + i))
	log=$dir/seed-$s.log
	start=$(date +%s)
	FAULT_SEED=$s FAULT_ROUNDS=$rounds TEST_KEEP_LOGS=$dir/seed-$s.logs timeout --kill-after=30 $((rounds * 240 + 600)) \
		bash tests/t0630-faults-5.sh --verbose </dev/null >"$log" 2>&1
	secs=$(($(date +%s) - start))
	verdict=$(grep -m1 '^# judge: lost' "$log" | sed 's/^# judge: //')
	okrounds=$(grep -c '^ok [0-9]* - fault round' "$log")
	if [ -z "$verdict" ]; then
		noverdict=$((noverdict + 1))
		echo "seed $s: no verdict ($okrounds/$rounds rounds; $(grep -m1 '^not ok' "$log" || echo 'no test failed')), ${secs}s"
		continue
	fi
	for c in $cats; do
		n=$(sed -n "s/.*\\<$c \\([0-9]*\\).*/\\1/p" <<<"$verdict")
		total[$c]=$((${total[$c]} + ${n:-0}))
	done
	[ "$okrounds" = "$rounds" ] || incomplete=$((incomplete + 1))
	acked=$(sed -n 's/.*(ops: \([0-9]*\) acknowledged.*/\1/p' <<<"$verdict")
	echo "seed $s: ${verdict%% (*} ($okrounds/$rounds rounds, ${acked:-?} acknowledged, ${secs}s)"
done
line=
bad=$((noverdict + incomplete))
for c in $cats; do
	line="$line $c ${total[$c]}"
	bad=$((bad + ${total[$c]}))
done
echo "total, $seeds seeds:$line; $noverdict runs without a verdict, $incomplete with a round that did not recover"
[ "$bad" = 0 ]
