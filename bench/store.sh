#!/bin/sh
# bench/store.sh - the store at 10^4..10^6 tiles x 1000-d, in one run per size:
# cold open of the matrix file vs `cat` of the same file, vs loading the
# SQLite BLOBs into memory (the path before matrix files); warm query
# latency with the f32, f16 and int8 codecs vs numpy's exact float32 search
# (M @ q + argpartition) on the same matrix, vs the read-bandwidth floor
# measured in the same run; top-1 / top-10 agreement of f16 and int8 with
# f32; peak RSS of one reader and total PSS of 4 concurrent readers. With
# TG_BENCH_DEMO=DIR (the output of `transgeo demo -o DIR`) also the top-1 of
# every demo panorama, rotated panorama and photo with each codec vs f32.
# `make bench-store` runs it. Timings only, never a pass/fail.
#
#   bench/store.sh [BENCH_BINARY]
#   env: TG_BENCH_SIZES   tiles (default "10000 100000 1000000")
#        TG_BENCH_DIM     embedding size (default 1000: TransGeo's)
#        TG_BENCH_QUERIES queries (default 200: 3/4 a stored tile + noise, 1/4 noise)
#        TG_BENCH_TMP     scratch directory (default ${TMPDIR:-/tmp}); needs about
#                         2.3 x rows x dim x 4 bytes (database + matrix file)
#        TG_BENCH_MEMLOAD 1 (default) also time the in-memory load from SQLite
#        TG_BENCH_DEMO    a demo directory (see above), or unset
# Data: synthetic unit vectors (Gaussian, normalised), the queries as above.
#
# Cold: the files' pages are dropped from the page cache with
# posix_fadvise(POSIX_FADV_DONTNEED) (no root needed; fincore shows what is
# left resident), then `cat FILE >/dev/null` is timed, the pages dropped
# again and the open + first exact query timed. Latencies: this thread's
# CPU time, 1 thread, best and median of 3 rounds (as bench/search.sh).
# Memory: VmHWM (peak RSS) of a reader alone; PSS (/proc/PID/smaps_rollup:
# shared pages divided among the processes mapping them) of 4 readers alive
# at once, against one reader's PSS alone.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-./bench/store_bench}
py=${PYTHON3:-/usr/bin/python3}
sizes=${TG_BENCH_SIZES:-10000 100000 1000000}
dim=${TG_BENCH_DIM:-1000}
nq=${TG_BENCH_QUERIES:-200}
memload=${TG_BENCH_MEMLOAD:-1}
tmp=${TG_BENCH_TMP:-${TMPDIR:-/tmp}}/tg_store_bench.$$
mkdir -p "$tmp"
trap 'exec 3>&- 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
drop() { "$py" -c 'import os, sys
for p in sys.argv[1:]:
    if os.path.exists(p):
        fd = os.open(p, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)' "$@"; }
resident() { fincore --bytes --noheadings --output RES "$1" 2>/dev/null || echo "?"; }
ms() { "$py" -c 'import sys, time; print(f"{time.monotonic() * 1e3:.3f}")'; }

for n in $sizes; do
    db=$tmp/s$n.sqlite
    mat=$db-tg1.mat
    echo "== $n tiles x $dim"
    "$bin" make "$db" "$n" "$dim" "$nq" >/dev/null
    b=$("$bin" build "$db")
    echo "matrix file built in $(get "$b" open_ms) ms ($(du -m "$mat" | cut -f1) MB; database $(du -m "$db" | cut -f1) MB)"

    # cold: cat vs open + first query (f32: reads every row once)
    drop "$mat" "$db" "$db-wal"
    left=$(resident "$mat")
    t0=$(ms); cat "$mat" >/dev/null; t1=$(ms)
    cat_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    drop "$mat" "$db" "$db-wal"
    o=$("$bin" open "$db")
    open_ms=$(get "$o" open_ms); fq=$(get "$o" first_query_ms)
    awk -v c="$cat_ms" -v o="$open_ms" -v f="$fq" -v left="$left" 'BEGIN {
        printf "cold: cat %.1f ms; open %.1f ms + first f32 query %.1f ms = %.2f x cat (resident after drop: %s bytes)\n",
               c, o, f, (o + f) / c, left }'
    if [ "$memload" = 1 ]; then
        drop "$mat" "$db" "$db-wal"
        t0=$(ms); cat "$db" >/dev/null; t1=$(ms)
        dcat=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
        drop "$db" "$db-wal"
        m=$("$bin" memload "$db")
        awk -v c="$dcat" -v o="$(get "$m" open_ms)" -v f="$(get "$m" first_query_ms)" -v r="$(get "$m" maxrss_mb)" 'BEGIN {
            printf "before (SQLite BLOBs into memory, cold): open %.1f ms = %.1f x cat of the database (%.1f ms); peak RSS %d MB\n",
                   o, o / c, c, r }'
    fi

    # warm queries, the floor, numpy
    q=$("$bin" query "$db" 10)
    np_out=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$here/store.py" "$mat" "$db.queries" "$db.top1" 10 cpu)
    np_ms=$(get "$np_out" numpy_ms)
    floor=$(get "$(echo "$q" | grep floor_f32)" floor_f32_ms)
    floor8=$(get "$(echo "$q" | grep floor_int8)" floor_int8_ms)
    floor16=$(get "$(echo "$q" | grep floor_int8)" floor_f16_ms)
    gbs=$(get "$(echo "$q" | grep floor_f32)" read_gbs)
    echo "numpy f32: $np_ms ms (median $(get "$np_out" numpy_median_ms)), top-1 = C f32 on $(get "$np_out" agree); read floor $gbs GB/s: f32 rows $floor ms, f16 $floor16 ms, int8 $floor8 ms"
    echo "$q" | grep '^codec=' | while read -r line; do
        awk -v c="$(get "$line" codec)" -v s="$(get "$line" search_ms)" -v md="$(get "$line" median_ms)" \
            -v np="$np_ms" -v f="$floor" -v f8="$floor8" -v f16="$floor16" -v t1="$(get "$line" top1)" -v tk="$(get "$line" top10)" 'BEGIN {
            own = c == "int8" ? f8 : c == "f16" ? f16 : f
            printf "  %-5s %8.3f ms (median %8.3f)  numpy/this %5.2f  this/f32-floor %5.2f  this/own-bytes-floor %5.2f  top-1 %s  top-10 %s\n",
                   c, s, md, np / s, s / f, s / own, t1, tk }'
    done

    # memory: one reader alone, then 4 at once
    fifo=$tmp/hold
    # fresh output files: a reader's line from the previous size must not
    # count as this one's (the writer end would close before it opened)
    rm -f "$fifo" "$tmp"/r[0-4]; mkfifo "$fifo"
    "$bin" reader "$db" <"$fifo" >"$tmp/r0" &
    exec 3>"$fifo"
    while [ ! -s "$tmp/r0" ]; do sleep 0.2; done
    exec 3>&-; wait
    one=$(cat "$tmp/r0")
    rm -f "$fifo"; mkfifo "$fifo"
    for i in 1 2 3 4; do "$bin" reader "$db" <"$fifo" >"$tmp/r$i" & done
    exec 3>"$fifo"
    for i in 1 2 3 4; do while [ ! -s "$tmp/r$i" ]; do sleep 0.2; done; done
    exec 3>&-; wait
    tot=0
    for i in 1 2 3 4; do tot=$(awk -v a="$tot" -v b="$(get "$(cat "$tmp/r$i")" pss_mb)" 'BEGIN { print a + b }'); done
    awk -v p1="$(get "$one" pss_mb)" -v h1="$(get "$one" hwm_mb)" -v t="$tot" -v mp="$(get "$one" mapped)" 'BEGIN {
        printf "memory: 1 reader peak RSS %.0f MB, PSS %.0f MB; 4 concurrent readers total PSS %.0f MB = %.2f x one (mapped=%d)\n",
               h1, p1, t, t / p1, mp }'
    rm -f "$db" "$db"-* "$db.queries" "$db.top1" "$mat"
done

if [ -n "${TG_BENCH_DEMO:-}" ]; then
    d=$TG_BENCH_DEMO
    T=$(dirname "$bin")/../transgeo
    echo "== demo town $d: top-1 tile of every view with each codec vs f32 (transgeo locate --codec)"
    for set in world/panos world_rot/panos world/photos; do
        [ -d "$d/$set" ] || continue
        for c in f32 f16 int8; do
            "$T" locate -q --codec "$c" --refine off --db "$d/demo.sqlite" -o "$tmp/$c.csv" "$d/$set"
        done
        for c in f16 int8; do
            paste -d, "$tmp/f32.csv" "$tmp/$c.csv" | awk -F, -v c="$c" -v s="$set" '
                NR == 1 { for (i = 1; i <= NF; i++) if ($i == "tile_id") { a = i; break }; h = NF / 2; next }
                { n++; same += $a == $(a + h) }
                END { printf "  %-16s %-5s top-1 = f32 on %d/%d\n", s, c, same, n }'
        done
    done
fi
