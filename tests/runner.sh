#!/bin/sh
# tests/runner.sh - runs every test given on the command line and sums them.
#
# A test is a C program (run as is), a *.sh (sh), a *.py (Debian's python3)
# or a *.sql script (tests/sql_runner.sh). Each prints TAP lines: "ok N - ...",
# "not ok N - ...", "ok N - ... # SKIP why", and one plan line "1..N" (before
# or after them). Logs: tests/logs/<name>.log. A test file fails when
#   - it prints a "not ok" line;
#   - it exits non-zero with no "not ok" line (a crash, a sanitizer report);
#   - it has no plan, more than one, or a plan other than the number of
#     ok/not ok lines it printed (it stopped early, or lost checks);
#   - it ran no test (no ok/not ok line), unless it skipped as a whole:
#     exit code 77, or the plan "1..0 # SKIP why" (each counts as one skip).
# Skips: with CI=true every skip must match an entry of tests/allowed_skips
# (or the file TG_ALLOWED_SKIPS names); any other skip is a failure. Without
# CI the skips are counted and those the list allows are reported.
# The last line printed is "N passed, N failed, N skipped (N allowed)".
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$(pwd)}"
: "${PYTHON3:=/usr/bin/python3}"
: "${TG_ALLOWED_SKIPS:=$TOP_SRCDIR/tests/allowed_skips}"
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
ci=no
[ "${CI:-}" = true ] && ci=yes

# The allowed skips as "TEST<tab>ERE" lines (comments and blank lines out);
# an entry without its reason (" -- why") is an error of the list itself.
allowed=$TG_TMPDIR/.allowed_skips
: >"$allowed"
list_errors=0
if [ -f "$TG_ALLOWED_SKIPS" ]; then
    awk -v f="$TG_ALLOWED_SKIPS" '
        /^[ \t]*(#|$)/ { next }
        {
            t = $1; rest = $0; sub(/^[ \t]*[^ \t]+[ \t]+/, "", rest)
            i = index(rest, " -- ")
            if (t == rest || i == 0 || rest ~ /^ -- / || substr(rest, i + 4) !~ /[^ \t]/) {
                printf "runner: %s:%d: want \"TEST REGEX -- WHY\": %s\n", f, NR, $0 > "/dev/stderr"
                bad++; next
            }
            printf "%s\t%s\n", t, substr(rest, 1, i - 1)
        }
        END { exit bad > 0 }' "$TG_ALLOWED_SKIPS" >"$allowed" || list_errors=1
elif [ "$ci" = yes ]; then
    echo "runner: $TG_ALLOWED_SKIPS not found: under CI every skip is a failure" >&2
fi

total_pass=0 total_fail=0 total_skip=0 total_allowed=0 failed_tests=""
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
    ran=$((pass + fail + skip))
    plans=$(grep -cE '^1\.\.[0-9]+' "$log")
    planned=$(grep -E '^1\.\.[0-9]+' "$log" | head -n 1 | sed 's/^1\.\.\([0-9]*\).*/\1/')
    # The text each skip is judged by: "<what> # SKIP <why>" (the line after
    # "ok N - "), or for a whole-file skip "<test> # SKIP <why>".
    grep -E '^ok [0-9]+.*# SKIP' "$log" | sed 's/^ok [0-9]* *-\{0,1\} *//' >"$log.skips"
    problem=
    if [ "$ran" -eq 0 ] && { [ "$rc" -eq 77 ] || { [ "$rc" -eq 0 ] && grep -qE '^1\.\.0 *# *SKIP' "$log"; }; }; then
        skip=1
        why=$(grep -E '^1\.\.0 *# *SKIP' "$log" | head -n 1 | sed 's/^1\.\.0 *# *SKIP *//')
        [ -n "$why" ] || why=$(grep -E '^#' "$log" | tail -n 1 | sed 's/^# *//')
        echo "$t # SKIP ${why:-exit 77}" >"$log.skips"
    elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        problem="exited with status $rc (crash or unreported failure)"
    elif [ "$ran" -eq 0 ]; then
        problem="ran no test (no ok / not ok line)"
    elif [ "$plans" -eq 0 ]; then
        problem="no plan (1..N): it stopped before the end ($ran tests seen)"
    elif [ "$plans" -gt 1 ]; then
        problem="$plans plan lines (1..N), want one"
    elif [ "$planned" -ne "$ran" ]; then
        problem="planned $planned tests, ran $ran"
    fi
    if [ -n "$problem" ]; then
        fail=$((fail + 1))
        echo "not ok - $t $problem" >> "$log"
    fi
    # Skips: which the list allows; under CI the others fail the test.
    nallowed=0
    if [ "$skip" -gt 0 ]; then
        nallowed=$(awk -F '\t' -v t="$t" 'NR == FNR { if ($1 == t) re[++n] = $2; next }
            { for (i = 1; i <= n; i++) if ($0 ~ re[i]) { a++; next } print "unexpected skip: " $0 > "/dev/stderr" }
            END { print a + 0 }' "$allowed" "$log.skips" 2>"$log.unexpected")
        if [ "$ci" = yes ] && [ -s "$log.unexpected" ]; then
            nbad=$(grep -c . "$log.unexpected")
            sed 's/^/not ok - (CI) /; s/$/ (not in tests\/allowed_skips)/' "$log.unexpected" >> "$log"
            skip=$((skip - nbad)); fail=$((fail + nbad))
        fi
    fi
    rm -f "$log.skips" "$log.unexpected"
    if [ "$fail" -gt 0 ]; then
        status=FAIL; failed_tests="$failed_tests $t"
        grep -E '^not ok|^#' "$log" | head -40 | sed 's/^/    /'
        tail -n 15 "$log" | sed 's/^/    | /'
    else
        status=PASS
    fi
    printf '%s: %s (%d ok, %d failed, %d skipped, %ds)\n' "$status" "$t" "$pass" "$fail" "$skip" "$secs"
    total_pass=$((total_pass + pass)); total_fail=$((total_fail + fail)); total_skip=$((total_skip + skip))
    total_allowed=$((total_allowed + nallowed))
done
if [ "$list_errors" -ne 0 ]; then
    total_fail=$((total_fail + 1)); failed_tests="$failed_tests $TG_ALLOWED_SKIPS"
fi
[ -n "$failed_tests" ] && echo "failed:$failed_tests (logs in $TOP_BUILDDIR/tests/logs)"
echo "$total_pass passed, $total_fail failed, $total_skip skipped ($total_allowed allowed)"
[ "$total_fail" -eq 0 ]
