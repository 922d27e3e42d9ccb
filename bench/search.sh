#!/bin/sh
# bench/search.sh - locate latency excluding the encoder: tg_index (C, blocked
# sgemv + k-heap) vs numpy (M @ q + argpartition) vs the memory-bandwidth
# floor (matrix bytes / read bandwidth of a plain read loop over the same
# matrix), on the same data in the same run. `make bench-search` runs it.
#
#   bench/search.sh [BENCH_BINARY]
#   env: TG_BENCH_SIZES   rows to test      (default "10000 100000 1000000")
#        TG_BENCH_DIMS    embedding sizes   (default "1000 128": TransGeo, the demo model)
#        TG_BENCH_THREADS BLAS/read threads (default 1)
#        TG_BENCH_CLOCK   cpu (default with 1 thread: the thread's CPU time, so
#                         time descheduled on a busy machine is not counted,
#                         on all three sides) or wall
#        TG_BENCH_QUERIES queries per size  (default 30)
#        TG_BENCH_TMP     scratch directory (default ${TMPDIR:-/tmp})
# Needs rows*dim*4 bytes twice in memory (C then numpy, one after the other)
# and once on disk: 1M x 1000 is 4 GB.
#
# Output: one line per case, and the ratios search/floor (target <= 2) and
# numpy/search (target > 1, i.e. faster than numpy). Timings only, never a
# pass/fail: benchmarks are not tests.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-./bench/search_bench}
py=${PYTHON3:-/usr/bin/python3}
sizes=${TG_BENCH_SIZES:-10000 100000 1000000}
dims=${TG_BENCH_DIMS:-1000 128}
threads=${TG_BENCH_THREADS:-1}
nq=${TG_BENCH_QUERIES:-30}
clock=${TG_BENCH_CLOCK:-cpu}
[ "$threads" = 1 ] || clock=wall
tmp=${TG_BENCH_TMP:-${TMPDIR:-/tmp}}/tg_search_bench.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT INT TERM
export OPENBLAS_NUM_THREADS=$threads OMP_NUM_THREADS=$threads

printf '%-8s %-5s %-7s %9s %9s %9s %9s %9s %9s %7s %12s %8s\n' rows dim MB search_ms '(median)' batch_ms numpy_ms '(median)' floor_ms GB/s search/floor numpy/C
for dim in $dims; do
    for n in $sizes; do
        c=$("$bin" --rows "$n" --dim "$dim" --queries "$nq" --threads "$threads" --clock "$clock" \
            --write-data "$tmp/data.f32")
        p=$("$py" "$here/search.py" "$tmp/data.f32" "$n" "$dim" "$nq" 10 "$clock")
        rm -f "$tmp/data.f32" "$tmp/data.f32.top1"
        get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
        s=$(get "$c" search_ms); sm=$(get "$c" search_median_ms); b=$(get "$c" batch_ms_per_query)
        f=$(get "$c" floor_ms); g=$(get "$c" read_gbs); by=$(get "$c" bytes)
        np_ms=$(get "$p" numpy_ms); npm=$(get "$p" numpy_median_ms); ag=$(get "$p" agree)
        awk -v n="$n" -v d="$dim" -v by="$by" -v s="$s" -v sm="$sm" -v b="$b" -v np="$np_ms" -v npm="$npm" \
            -v f="$f" -v g="$g" -v ag="$ag" 'BEGIN {
            printf "%-8d %-5d %-7.1f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %7.2f %12.2f %8.2f  top1 agree %s\n",
                   n, d, by / 1048576, s, sm, b, np, npm, f, g, s / f, np / s, ag }'
    done
done
echo "threads=$threads queries=$nq k=10 clock=$clock; search_ms/numpy_ms: best single query over 3 rounds (median beside it);"
echo "batch_ms: all queries in one sgemm pass / queries; ratios from the best times (same machine load)"
