#!/bin/bash
# Runs the test suite: every unit test binary $BUILD/tests/test_* (with
# --tap), then every system test tests/t[0-9]*.sh. Prints each test's TAP
# and ends with one line: "N passed, N failed" (", N skipped" when any).
# Exits non-zero if a test failed, or a test program crashed, timed out,
# or printed no plan.
#
# usage: tests/run.sh [-v] [unit|system|TEST...]
#   TEST is a path (tests/t0100-fileops.sh, build/tests/test_memdb) or a
#   name prefix (t0100, test_memdb). -v passes --verbose to system tests.
# environment: BUILD (default build), TEST_TIMEOUT (seconds per system
#   test script, default 900), UNIT_TIMEOUT (per unit binary, default 300)

set -u
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
BUILD=${BUILD:-build}
case $BUILD in
/*) ;;
*) BUILD=$ROOT/$BUILD ;;
esac
export BUILD
unset TEST_LIB_INNER

verbose=
selection=()
for arg in "$@"; do
	case $arg in
	-v | --verbose) verbose=--verbose ;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*) selection+=("$arg") ;;
	esac
done

units=()
systems=()
for f in "$BUILD"/tests/test_*; do
	[ -f "$f" ] && [ -x "$f" ] && units+=("$f")
done
for f in tests/t[0-9]*.sh; do
	[ -f "$f" ] && systems+=("$f")
done

if [ ${#selection[@]} -gt 0 ]; then
	all_units=("${units[@]}")
	all_systems=("${systems[@]}")
	units=()
	systems=()
	for s in "${selection[@]}"; do
		found=
		case $s in
		unit) units+=("${all_units[@]}"); found=t ;;
		system) systems+=("${all_systems[@]}"); found=t ;;
		esac
		for f in "${all_units[@]}"; do
			case $f in
			"$s" | */"$s" | */"$s"* | "$ROOT/$s") units+=("$f"); found=t ;;
			esac
		done
		for f in "${all_systems[@]}"; do
			case $f in
			"$s" | "./$s" | tests/"$s"* | "$ROOT/$f") systems+=("$f"); found=t ;;
			esac
		done
		if [ -z "$found" ]; then
			echo "run.sh: no test matches '$s'" >&2
			exit 2
		fi
	done
fi

RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/pvecm-run.XXXXXX") || exit 2
trap 'rm -rf "$RUNDIR"' EXIT
# What the test scripts make once and share for the whole run (the test
# CA of tests/lib/ca-lib.sh).
export TEST_RUN_DIR=$RUNDIR
trap 'echo "run.sh: interrupted" >&2; exit 130' INT TERM
# Sanitizer reports (sanitized builds) are written here and shown per test.
SANLOG=$RUNDIR/sanitizer
mkdir -p "$SANLOG" && chmod 1777 "$SANLOG"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:fast_unwind_on_malloc=0:log_exe_name=1:log_path=$SANLOG/asan}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:log_path=$SANLOG/ubsan}
export TMPDIR=${TMPDIR:-/tmp}

total_pass=0
total_fail=0
total_skip=0
failed_tests=()

# run_one NAME TIMEOUT CMD...: runs one test program, shows its TAP, adds
# its counts to the totals
run_one () {
	local name=$1 limit=$2 out="$RUNDIR/out" rc start end secs
	shift 2
	echo "# --- $name"
	start=$(date +%s.%N)
	# timeout runs the test in a process group of its own, so an interrupt
	# of this script is passed on to it by hand (as SIGTERM: its cleanup
	# trap runs).
	(
		timeout --kill-after=30 "$limit" "$@" </dev/null 2>&1 &
		tpid=$!
		trap 'kill -TERM $tpid 2>/dev/null; interrupted=1' INT TERM HUP
		interrupted=
		wait $tpid
		rc=$?
		while [ -n "$interrupted" ] && kill -0 $tpid 2>/dev/null; do
			wait $tpid
			rc=$?
		done
		echo $rc >"$RUNDIR/rc"
	) | tee "$out"
	rc=$(cat "$RUNDIR/rc")
	end=$(date +%s.%N)
	secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

	# counts: pass fail skip planned ran skipall
	local pass fail skip plan ran skipall reason
	read -r pass fail skip plan ran skipall <<<"$(awk '
		BEGIN { pass = 0; fail = 0; skip = 0; plan = -1; ran = 0; skipall = 0 }
		/^ok( |$)/ {
			ran++
			if ($0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) skip++; else pass++
			next
		}
		/^not ok( |$)/ {
			ran++
			if ($0 ~ /#[ \t]*[Tt][Oo][Dd][Oo]/) skip++; else fail++
			next
		}
		/^1\.\.[0-9]+/ {
			split($0, a, /[ \t#]/); sub(/^1\.\./, "", a[1]); plan = a[1] + 0
			if (plan == 0 && $0 ~ /#[ \t]*[Ss][Kk][Ii][Pp]/) skipall = 1
		}
		END { print pass, fail, skip, plan, ran, skipall }
	' "$out")"

	reason=
	if [ "$skipall" = 1 ] && [ "$rc" = 0 ]; then
		total_skip=$((total_skip + 1))
		echo "# $name: skipped ($(grep -m1 '^1\.\.0' "$out" | sed 's/^1\.\.0 *//')) (${secs}s)"
		return
	fi
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		reason="timed out after ${limit}s"
	elif [ "$plan" -lt 0 ]; then
		reason="printed no plan (exit code $rc)"
	elif [ "$plan" != "$ran" ]; then
		reason="planned $plan tests but ran $ran (exit code $rc)"
	elif [ "$rc" != 0 ] && [ "$fail" = 0 ]; then
		reason="exited with code $rc although no test failed"
	fi
	if ls "$SANLOG"/* >/dev/null 2>&1; then
		for f in "$SANLOG"/*; do
			echo "# sanitizer report $f:"
			head -n 80 "$f" | sed 's/^/#   /'
		done
		rm -f "$SANLOG"/*
		reason="${reason:+$reason; }sanitizer reported errors"
	fi
	if [ -n "$reason" ]; then
		echo "not ok - $name: $reason"
		fail=$((fail + 1))
	fi
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
	[ "$fail" != 0 ] && failed_tests+=("$name")
	if [ "$skip" != 0 ]; then
		echo "# $name: $pass passed, $fail failed, $skip skipped (${secs}s)"
	else
		echo "# $name: $pass passed, $fail failed (${secs}s)"
	fi
}

if [ ${#units[@]} = 0 ] && [ ${#selection[@]} = 0 ]; then
	echo "# no unit test binaries in $BUILD/tests (run make first?)"
fi
for u in "${units[@]}"; do
	run_one "${u#$ROOT/}" "${UNIT_TIMEOUT:-300}" "$u" --tap
done
for t in "${systems[@]}"; do
	run_one "$t" "${TEST_TIMEOUT:-900}" bash "$t" $verbose
done

if [ ${#failed_tests[@]} -gt 0 ]; then
	echo "# failed: ${failed_tests[*]}"
fi
if [ $((total_pass + total_fail)) = 0 ]; then
	echo "# no test ran"
	total_fail=$((total_fail + 1))
fi
if [ "$total_skip" != 0 ]; then
	echo "$total_pass passed, $total_fail failed, $total_skip skipped"
else
	echo "$total_pass passed, $total_fail failed"
fi
[ "$total_fail" = 0 ]
