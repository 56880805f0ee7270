#!/bin/bash
# Runs each libFuzzer harness for a while from its checked-in seeds and
# says how many inputs it tried. New inputs go to a scratch corpus under
# the build directory, never into the tree; a crash leaves its input there
# and fails the run.
#
# usage: tests/fuzz/run.sh BUILDDIR SECONDS NAME...   (fuzz_NAME in BUILDDIR)

set -u
cd "$(dirname "$0")/../.." || exit 2
build=$1 secs=$2
shift 2
failed=0
for name in "$@"; do
	bin=$build/fuzz_$name
	work=$build/corpus/$name
	log=$build/fuzz_$name.log
	mkdir -p "$work" "$build/crashes"
	# Leaks are checked once at exit: checking after every input (glib and
	# SQLite keep caches that grow) makes the harnesses 10 to 20 times slower.
	"$bin" -max_total_time="$secs" -timeout=10 -detect_leaks=0 -print_final_stats=1 \
		-artifact_prefix="$build/crashes/$name-" "$work" "tests/fuzz/corpus/$name" \
		>"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ "$rc" -ne 0 ]; then
		failed=$((failed + 1))
		tail -n 40 "$log"
		echo "fuzz_$name: FAILED (exit $rc) after ${execs:-?} execs; input in $build/crashes/, log $log"
	else
		echo "fuzz_$name: ${execs:-?} execs in ${secs}s, no failure"
	fi
done
[ "$failed" -eq 0 ]
