#!/bin/sh
# bench/locate_batch.sh - batched locating (issue 23, items 3 and 4): photos/s
# of one photo per pass over the tiles against many photos per pass, at
# 10^4 and 10^5 tiles x 1000 floats (TransGeo's embedding size), in one run,
# with where the time goes. A benchmark, never a test: `make bench-locate-batch`.
#
#   sh bench/locate_batch.sh [./bench/locate_batch_bench [./transgeo]]
#   env: TG_BENCH_SIZES    tiles per store   (default "10000 100000"; add 1000000:
#                          a 4.7 GB store, about 10 minutes more)
#        TG_BENCH_BATCHES  photos per pass   (default "8 16 32 64 128")
#        TG_BENCH_PHOTOS   panoramas located (default 128)
#        TG_BENCH_ROUNDS   rounds of the in-process measurements (default 3)
#        TG_BENCH_CLI      0: skip the CLI runs (each opens the store: about 50 s at
#                          10^6 tiles); default 1
#        TG_BENCH_DIR      scratch directory (default $TMPDIR/tg_locate_batch; kept
#                          between runs: the stores are made once)
#
# What is measured on what:
#   - the model: models/demo.safetensors with its heads widened to 1000
#     outputs (bench/locate_batch_store.py model): the demo's encoders, so a
#     photo's embedding costs what the demo model's does, and 1000-float
#     embeddings made by the C engine;
#   - the store: a generated town (transgeo world, seed 5, 600 m) indexed
#     with it (a few hundred real tiles), then synthetic tiles added through
#     SQL up to N (copies of real rows with random unit-vector embeddings:
#     bench/locate_batch_store.py pad), loaded by the store like the others;
#   - the photos: the town's panoramas (512 x 256 JPEG, one canvas each).
# Two views, both printed:
#   1. in one process, one thread (locate_batch_bench): the store opened
#      once; prepare (decode + embed) timed alone, then every photo located
#      with tg_locator_run (one pass each), then in batches of N
#      (prepare, one tg_locator_score, finish), with the per-photo time of
#      each stage and whether every answer equals the one-at-a-time one;
#   2. the CLI end to end (transgeo locate, 2 worker threads, -o CSV):
#      --batch 1 against --batch 64 and the default, minus the time of the
#      same command on one photo (opening the store), and cmp of the CSVs.
# The machine is shared: each in-process figure is the best of 3 interleaved rounds
# (TG_BENCH_ROUNDS).
set -eu
BENCH=${1:-./bench/locate_batch_bench}
TG=${2:-./transgeo}
srcdir=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON3:-/usr/bin/python3}
W=${TG_BENCH_DIR:-${TMPDIR:-/tmp}/tg_locate_batch}
sizes=${TG_BENCH_SIZES:-10000 100000}
batches=${TG_BENCH_BATCHES:-8 16 32 64 128}
n=${TG_BENCH_PHOTOS:-128}
rounds=${TG_BENCH_ROUNDS:-3}
cli=${TG_BENCH_CLI:-1}
mkdir -p "$W"

[ -f "$W/model.safetensors" ] ||
    "$PY" "$srcdir/bench/locate_batch_store.py" model "$srcdir/models/demo.safetensors" \
        "$W/model.safetensors"
[ -f "$W/town/truth.csv" ] && [ "$(ls "$W/town/panos" | wc -l)" -ge "$n" ] ||
    { rm -rf "$W/town"; "$TG" world -o "$W/town" -s 5 --size-m 600 --panos "$n" --photos 0 \
        --supersample 1 -q; }
[ -f "$W/base.sqlite" ] ||
    "$TG" index "$W/town/aerial.tif" --db "$W/base.sqlite" -m "$W/model.safetensors" -q
photos=$(ls "$W"/town/panos/*.jpg | head -n "$n")
one=$(echo "$photos" | head -n 1)

t() { date +%s.%N; }
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $n panoramas; model 1000-d"
for size in $sizes; do
    db=$W/tiles$size.sqlite
    if [ ! -f "$db" ]; then
        cp "$W/base.sqlite" "$db.tmp"
        "$PY" "$srcdir/bench/locate_batch_store.py" pad "$db.tmp" "$size"
        mv "$db.tmp" "$db"
    fi
    cat "$db" >/dev/null # in the page cache for every run alike
    echo "== $size tiles x 1000: one process, one thread (ms are per photo)"
    # shellcheck disable=SC2086
    "$BENCH" --db "$db" --batches "$batches" --rounds "$rounds" $photos
    [ "$cli" = 1 ] || continue
    echo "== $size tiles x 1000: transgeo locate, 2 workers, seconds for $n photos"
    rm -f "$W/open.csv"
    a=$(t); "$TG" locate "$one" --db "$db" -o "$W/open.csv" --refine off -q --batch 1; b=$(t)
    open=$(echo "$a $b" | awk '{ printf "%.3f", $2 - $1 }')
    for bo in 1 64 default; do
        rm -f "$W/out.$bo.csv"
        opt="--batch $bo"
        [ $bo = default ] && opt=
        a=$(t)
        # shellcheck disable=SC2086
        "$TG" locate $photos --db "$db" -o "$W/out.$bo.csv" --refine off -q $opt
        b=$(t)
        echo "$a $b $open $n $bo" | awk '{ w = $2 - $1; printf "cli batch=%s wall_s=%.3f open_s=%.3f photos_s=%.2f\n", $5, w, $3, $4 / (w - $3) }'
    done | tee "$W/cli.txt"
    awk '$2 == "batch=1" { split($5, a, "="); s = a[2] }
         $2 != "batch=1" { split($5, a, "="); printf "cli %s ratio=%.2f\n", $2, a[2] / s }' "$W/cli.txt"
    for bo in 64 default; do
        if cmp -s "$W/out.1.csv" "$W/out.$bo.csv"; then echo "cli --batch $bo: the CSV equals --batch 1's"
        else echo "cli --batch $bo: the CSV DIFFERS from --batch 1's"; fi
    done
done
