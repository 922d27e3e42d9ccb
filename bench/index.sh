#!/bin/sh
# bench/index.sh - `transgeo index` throughput, tiles per second, with the
# aerial encoder fed one tile per pass (--embed-group 1, the indexer before
# batching) and a group of tiles per pass (--embed-group N, default 8), on the
# same raster and model, alternating in one run. Prints each round and the
# ratio of medians. Not part of make check (timings are not assertions).
#
#   bench/index.sh BUILDDIR            (make bench-index)
#   TG_BENCH_SIZE_M=640 TG_BENCH_ROUNDS=3 TG_BENCH_GROUPS="1 8 16" TG_BENCH_THREADS=2
set -eu
B=${1:?usage: bench/index.sh BUILDDIR}
TG="$B/transgeo"
SIZE=${TG_BENCH_SIZE_M:-640}
ROUNDS=${TG_BENCH_ROUNDS:-3}
GROUPS=${TG_BENCH_GROUPS:-"1 8"}
THREADS=${TG_BENCH_THREADS:-$(nproc)}
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
"$TG" world --seed 424242 --size-m "$SIZE" --panos 0 --photos 0 --out "$W/world" --quiet
echo "bench/index: world ${SIZE} m (seed 424242), demo model, $THREADS thread(s), $ROUNDS rounds"
r=1
while [ "$r" -le "$ROUNDS" ]; do
    for g in $GROUPS; do
        rm -f "$W/db.sqlite"*
        t0=$(date +%s.%N)
        "$TG" index "$W/world/aerial.tif" --db "$W/db.sqlite" --embed-group "$g" -j "$THREADS" -q
        t1=$(date +%s.%N)
        n=$(sqlite3 "$W/db.sqlite" "SELECT count(*) FROM tg_tiles")
        echo "$g $(echo "$n / ($t1 - $t0)" | bc -l)" >> "$W/rates"
        printf 'round %d  embed-group %-3s %6d tiles  %8.1f tiles/s\n' "$r" "$g" "$n" \
            "$(echo "$n / ($t1 - $t0)" | bc -l)"
    done
    r=$((r + 1))
done
median() { grep "^$1 " "$W/rates" | awk '{print $2}' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
base=$(median "$(echo "$GROUPS" | awk '{print $1}')")
for g in $GROUPS; do
    m=$(median "$g")
    printf 'embed-group %-3s median %8.1f tiles/s  = %.2fx embed-group %s\n' "$g" "$m" \
        "$(echo "$m / $base" | bc -l)" "$(echo "$GROUPS" | awk '{print $1}')"
done
