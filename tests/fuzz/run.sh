#!/bin/sh
# tests/fuzz/run.sh - build the libFuzzer harnesses with clang (ASan + UBSan)
# and run each for FUZZ_SECONDS; prints TAP, one line per harness, and ends
# with "N passed, N failed, N skipped" like tests/runner.sh. Used by CI.
#
#   tests/fuzz/run.sh [--no-build] [BUILDDIR]
#
# BUILDDIR: a configured build tree (default: build, next to this source
# tree); `make -C BUILDDIR fuzz-build` makes tests/fuzz/clang/fuzz_<name>
# there unless --no-build. Environment:
#   FUZZ_SECONDS    seconds per harness (default 60)
#   FUZZ_HARNESSES  which ones (default: safetensors model photo raster sql)
#   FUZZ_NICE       nice level for the fuzzers (default 10)
#   FUZZ_TIMEOUT    seconds one input may take before it counts as a hang (default 120:
#                   generous, shared CI machines are slow)
#   FUZZ_ARGS       extra libFuzzer options (e.g. -jobs=2 -workers=2)
# Each harness starts from its seed corpus tests/fuzz/corpus/<name> (the
# regression inputs tests/fuzz/regress/<name> are make check's job: an
# unfixed one would stop the run at once) and keeps what it finds in
# BUILDDIR/tests/fuzz/work/<name>/corpus (reused by the next run; the source
# corpora are never written). A crash leaves BUILDDIR/tests/fuzz/work/<name>/
# crash-* (or leak-, timeout-, oom-): minimise it with
#   tests/fuzz/clang/fuzz_<name> -minimize_crash=1 -runs=10000 CRASHFILE
# and add it to tests/fuzz/regress/<name>/ (see README.md).
# Exit status: 0 when no harness crashed (skips included), 1 otherwise.
# With CI=true a skip (clang or its libFuzzer runtime missing) is a failure:
# CI must fuzz (tests/allowed_skips lists no fuzzing skip).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${TOP_SRCDIR:=$(cd "$here/../.." && pwd)}"
build=1
if [ "${1:-}" = "--no-build" ]; then build=0; shift; fi
B=${1:-$TOP_SRCDIR/build}
: "${FUZZ_SECONDS:=60}"
: "${FUZZ_HARNESSES:=safetensors model photo raster sql}"
: "${FUZZ_NICE:=10}"
: "${FUZZ_ARGS:=}"
: "${FUZZ_TIMEOUT:=120}"
export TOP_SRCDIR

n=0 pass=0 fail=0 skip=0
tap() { # status text
    n=$((n + 1))
    case "$1" in
        ok) pass=$((pass + 1)); echo "ok $n - $2" ;;
        skip)
            if [ "${CI:-}" = true ]; then
                fail=$((fail + 1)); echo "not ok $n - (CI) unexpected skip: $2"
            else
                skip=$((skip + 1)); echo "ok $n - $2"
            fi ;;
        *) fail=$((fail + 1)); echo "not ok $n - $2" ;;
    esac
}
finish() {
    echo "1..$n"
    echo "$pass passed, $fail failed, $skip skipped (0 allowed)"
    [ "$fail" -eq 0 ]
    exit $?
}

if [ ! -f "$B/Makefile" ]; then
    tap fail "fuzz: $B is not a configured build tree (run ./bootstrap.sh, or pass BUILDDIR)"
    finish
fi
B=$(cd "$B" && pwd)
cc=$(sed -n 's/^FUZZ_CC = //p' "$B/Makefile")
cc=${cc:-clang}
if ! command -v "$cc" >/dev/null 2>&1; then
    for h in $FUZZ_HARNESSES; do tap skip "fuzz_$h # SKIP $cc (clang with libFuzzer) is not installed"; done
    finish
fi
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
    "$cc" -x c -fsanitize=fuzzer,address,undefined -o /dev/null - >/dev/null 2>&1; then
    for h in $FUZZ_HARNESSES; do tap skip "fuzz_$h # SKIP $cc cannot link -fsanitize=fuzzer (install libclang-rt-dev)"; done
    finish
fi
if [ "$build" -eq 1 ]; then
    log="$B/tests/fuzz/build.log"
    mkdir -p "$B/tests/fuzz"
    if ! make -C "$B" -j"$(nproc 2>/dev/null || echo 2)" fuzz-build >"$log" 2>&1; then
        tail -n 30 "$log" | sed 's/^/# /'
        tap fail "fuzz: make fuzz-build failed (log: $log)"
        finish
    fi
fi

# libFuzzer runs under ASan/UBSan: stop on the first report; the harnesses'
# big allocations must fail cleanly, not abort.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for h in $FUZZ_HARNESSES; do
    bin="$B/tests/fuzz/clang/fuzz_$h"
    work="$B/tests/fuzz/work/$h"
    if [ ! -x "$bin" ]; then
        tap fail "fuzz_$h: $bin was not built"
        continue
    fi
    mkdir -p "$work/corpus" "$work/tmp"
    rm -f "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* "$work"/slow-unit-*
    dict=
    [ -f "$here/$h.dict" ] && dict="-dict=$here/$h.dict"
    log="$work/fuzz.log"
    # shellcheck disable=SC2086
    TMPDIR="$work/tmp" nice -n "$FUZZ_NICE" "$bin" -max_total_time="$FUZZ_SECONDS" -timeout="$FUZZ_TIMEOUT" \
        -rss_limit_mb=3072 -print_final_stats=1 -artifact_prefix="$work/" $dict $FUZZ_ARGS \
        "$work/corpus" "$here/corpus/$h" >"$log" 2>&1
    rc=$?
    rm -rf "$work/tmp"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | sed 's/cov: //')
    art=$(ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | head -n 1)
    if [ "$rc" -eq 0 ] && [ -z "$art" ]; then
        tap ok "fuzz_$h: ${FUZZ_SECONDS} s, ${execs:-?} executions, coverage ${cov:-?}, no crash"
    else
        grep -E 'ERROR|SUMMARY|fuzz invariant|runtime error|#[0-9]+ 0x' "$log" | head -n 25 | sed 's/^/# /'
        tap fail "fuzz_$h: exit $rc after ${execs:-?} executions; input: ${art:-none} (log: $log)"
    fi
done
finish
