#!/bin/sh
# tools/gen_worlds.sh - generate many demo worlds in parallel: the training
# set of the demo model (see include/transgeo/world.h for what a world holds).
#
# Usage: tools/gen_worlds.sh -n COUNT -o OUTDIR [-s FIRST_SEED] [-j JOBS] [-- WORLD_OPTIONS...]
#
#   -n COUNT       number of worlds (seeds FIRST_SEED .. FIRST_SEED + COUNT - 1)
#   -o OUTDIR      output directory; world N goes to OUTDIR/world_N
#   -s FIRST_SEED  first seed (default 1000). Keep the range clear of the
#                  demo's held-out world (DEMO_SEED in src/cli/cmd_demo.c)
#   -j JOBS        worlds generated at once, one thread each (default: all cores)
#   WORLD_OPTIONS  passed to `transgeo world` for every world, e.g.
#                  --size-m 600 --panos 0 --photos 0 --pairs 500 --tile-m 64 --tile-px 128
#
# Resumable: a world whose world.json exists (written last) is skipped, so a
# killed run can simply be started again. At the end OUTDIR/pairs.csv lists
# every pair of every world (paths relative to OUTDIR) with its world's seed:
#   seed,id,ground,aerial,lon,lat,easting,northing
# and OUTDIR/worlds.csv lists seed,dir of the worlds.
#
# The transgeo binary: $TRANSGEO, else `transgeo` on PATH.
# Exit status: 0 ok, 1 a world failed (its log is OUTDIR/world_N.log), 2 usage.
set -u

usage() {
    sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# Internal: generate one world (run through xargs).
if [ "${1:-}" = "--one" ]; then
    seed=$2 out=$3
    shift 3
    dir="$out/world_$seed"
    if [ -f "$dir/world.json" ]; then
        echo "world $seed: exists, skipped"
        exit 0
    fi
    t0=$(date +%s)
    if "${TRANSGEO:-transgeo}" world --seed "$seed" --out "$dir" --threads 1 --quiet "$@" \
        > "$out/world_$seed.log" 2>&1; then
        rm -f "$out/world_$seed.log"
        echo "world $seed: ok ($(( $(date +%s) - t0 )) s)"
        exit 0
    fi
    echo "world $seed: FAILED, see $out/world_$seed.log" >&2
    exit 1
fi

count= out= first=1000 jobs=
while getopts n:o:s:j:h opt; do
    case $opt in
        n) count=$OPTARG ;;
        o) out=$OPTARG ;;
        s) first=$OPTARG ;;
        j) jobs=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ "${1:-}" = "--" ] && shift
[ -n "$count" ] && [ -n "$out" ] || usage
case "$count$first${jobs:-1}" in *[!0-9]*) echo "gen_worlds.sh: -n, -s and -j take integers" >&2; exit 2 ;; esac
[ -n "$jobs" ] || jobs=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
[ "$jobs" -ge 1 ] || jobs=1
if ! command -v "${TRANSGEO:-transgeo}" > /dev/null 2>&1; then
    echo "gen_worlds.sh: '${TRANSGEO:-transgeo}' not found: set TRANSGEO=/path/to/transgeo" >&2
    exit 2
fi
mkdir -p "$out" || exit 1
last=$((first + count - 1))

status=0
seq "$first" "$last" | xargs -P "$jobs" -I{} sh "$0" --one {} "$out" "$@" || status=1

# the indexes, over the worlds that are complete
echo "seed,dir" > "$out/worlds.csv"
echo "seed,id,ground,aerial,lon,lat,easting,northing" > "$out/pairs.csv"
seed=$first
while [ "$seed" -le "$last" ]; do
    dir="world_$seed"
    if [ -f "$out/$dir/world.json" ]; then
        echo "$seed,$dir" >> "$out/worlds.csv"
        if [ -f "$out/$dir/pairs.csv" ]; then
            awk -F, -v s="$seed" -v d="$dir" 'NR > 1 { printf "%s,%s,%s/%s,%s/%s,%s,%s,%s,%s\n", s, $1, d, $2, d, $3, $4, $5, $6, $7 }' \
                "$out/$dir/pairs.csv" >> "$out/pairs.csv"
        fi
    else
        status=1
    fi
    seed=$((seed + 1))
done
n_pairs=$(($(wc -l < "$out/pairs.csv") - 1))
n_worlds=$(($(wc -l < "$out/worlds.csv") - 1))
echo "gen_worlds.sh: $n_worlds of $count worlds, $n_pairs pairs in $out (index: $out/pairs.csv)"
exit $status
