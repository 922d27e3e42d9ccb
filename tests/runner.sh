#!/bin/sh
# tests/runner.sh - runs every test given on the command line and sums them.
#
# A test is a C program (run as is), a *.sh (sh), a *.py (Debian's python3)
# or a *.sql script (tests/sql_runner.sh). Each prints TAP lines: "ok N - ...",
# "not ok N - ...", "ok N - ... # SKIP why". A test that exits non-zero with no
# "not ok" line (a crash, a sanitizer report) counts as one failure. Exit code 77
# with no TAP line counts as one skip. Logs: tests/logs/<name>.log.
# The last line printed is "N passed, N failed, N skipped".
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$(pwd)}"
: "${PYTHON3:=/usr/bin/python3}"
if [ -z "${TG_SHARED_DATA:-}" ]; then
    for d in "$TOP_SRCDIR/../shared/data" "$TOP_SRCDIR/../../shared/data" "$TOP_BUILDDIR/../shared/data"; do
        if [ -d "$d" ]; then TG_SHARED_DATA=$(cd "$d" && pwd); break; fi
    done
fi
: "${TG_SHARED_DATA:=$TOP_SRCDIR/../shared/data}"
export TOP_SRCDIR TOP_BUILDDIR PYTHON3 TG_SHARED_DATA
# Sanitizer builds: abort on the first report so the test counts as failed.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export TG_TMPDIR="$TOP_BUILDDIR/tests/tmp"
mkdir -p "$TOP_BUILDDIR/tests/logs" "$TG_TMPDIR"

total_pass=0 total_fail=0 total_skip=0 failed_tests=""
for t in "$@"; do
    name=$(echo "$t" | sed 's|/|_|g')
    log="$TOP_BUILDDIR/tests/logs/$name.log"
    case "$t" in
        *.sh)  src="$TOP_SRCDIR/$t"; set -- sh "$src" ;;
        *.py)  src="$TOP_SRCDIR/$t"; set -- "$PYTHON3" "$src" ;;
        *.sql) src="$TOP_SRCDIR/$t"; set -- sh "$TOP_SRCDIR/tests/sql_runner.sh" "$src" ;;
        *)     set -- "$TOP_BUILDDIR/$t" ;;
    esac
    start=$(date +%s)
    "$@" > "$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    pass=$(grep -E '^ok [0-9]+' "$log" | grep -vc '# SKIP')
    skip=$(grep -E '^ok [0-9]+' "$log" | grep -c '# SKIP')
    fail=$(grep -cE '^not ok [0-9]+' "$log")
    if [ "$rc" -eq 77 ] && [ $((pass + fail + skip)) -eq 0 ]; then
        skip=1
    elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
        echo "not ok - $t exited with status $rc (crash or unreported failure)" >> "$log"
    fi
    if [ "$fail" -gt 0 ]; then
        status=FAIL; failed_tests="$failed_tests $t"
        grep -E '^not ok|^#' "$log" | head -40 | sed 's/^/    /'
        tail -n 15 "$log" | sed 's/^/    | /'
    else
        status=PASS
    fi
    printf '%s: %s (%d ok, %d failed, %d skipped, %ds)\n' "$status" "$t" "$pass" "$fail" "$skip" "$secs"
    total_pass=$((total_pass + pass)); total_fail=$((total_fail + fail)); total_skip=$((total_skip + skip))
done
[ -n "$failed_tests" ] && echo "failed:$failed_tests (logs in $TOP_BUILDDIR/tests/logs)"
echo "$total_pass passed, $total_fail failed, $total_skip skipped"
[ "$total_fail" -eq 0 ]
