#!/bin/sh
# bench/train_step.sh - cost of one training step of the demo-model trainer
# (tools/train_demo.py stage 1, batch 64, the shipped recipe's options), this
# tree against a reference revision, side by side in the same run.
#
#   bench/train_step.sh [REF_REV]          (default REF_REV: 2c3444e, before issue 22)
#   env: TRANSGEO          the transgeo binary (default: build/transgeo)
#        TG_BENCH_ROUNDS   alternating rounds (default 2; the best round counts)
#        TG_BENCH_STEPS    timed steps (default 20)
#        TG_BENCH_THREADS  torch threads (default 1)
#        TG_BENCH_WORLDS   a directory of training worlds to use (default: two
#                          384 m worlds made here with `transgeo world`)
#
# Each trainer runs twice per round, for 3 and for 3 + N steps; the step cost
# is the difference divided by N, so start-up and world loading cancel out.
# Reported per trainer: CPU seconds per step (user + system of the process:
# the steadier measure on a shared machine) and wall seconds per step, and
# the ratio of this tree to the reference.  Timings only, never a pass/fail.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
ref=${1:-2c3444e}
tg=${TRANSGEO:-$top/build/transgeo}
rounds=${TG_BENCH_ROUNDS:-2} n=${TG_BENCH_STEPS:-20} threads=${TG_BENCH_THREADS:-1}
py=${PYTHON3:-/usr/bin/python3}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tg_train_bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

mkdir -p "$tmp/ref"
worlds=${TG_BENCH_WORLDS:-}
if [ -z "$worlds" ]; then
    worlds=$tmp/worlds
    for s in 1 2; do
        "$tg" world --seed "$s" --size-m 384 --panos 0 --photos 0 --pairs 96 --supersample 1 --threads 1 --quiet \
            --out "$worlds/world_$s"
    done
fi
(cd "$top" && git archive "$ref" tools) | tar -x -C "$tmp/ref"

# cpu_wall TOOLS STEPS -> "cpu_seconds wall_seconds" of one run
cpu_wall() {
    rm -rf "$tmp/state"
    /usr/bin/time -f "%U %S %e" -o "$tmp/time" "$py" "$1/train_demo.py" stage1 --worlds "$worlds" --max-worlds 2 \
        --state "$tmp/state" --max-steps "$2" --budget-s 1e9 --threads "$threads" --near-m 128 --val-every 0 \
        --log-every 1000 --device cpu --cache "$tmp/cache" > "$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
    awk '{ printf "%.3f %.3f\n", $1 + $2, $3 }' "$tmp/time"
}

best_ref= best_new=
r=1
while [ "$r" -le "$rounds" ]; do
    for which in ref new; do
        tools=$top/tools
        [ "$which" = ref ] && tools=$tmp/ref/tools
        set -- $(cpu_wall "$tools" 3) $(cpu_wall "$tools" $((3 + n)))
        per=$(awk -v a="$1" -v b="$3" -v c="$2" -v d="$4" -v n="$n" 'BEGIN { printf "%.3f %.3f", (b - a) / n, (d - c) / n }')
        echo "round $r $which: $per (cpu s/step, wall s/step)"
        cpu=${per% *}
        if [ "$which" = ref ]; then
            if [ -z "$best_ref" ] || awk -v x="$cpu" -v y="$best_ref" 'BEGIN { exit !(x < y) }'; then best_ref=$cpu; fi
        else
            if [ -z "$best_new" ] || awk -v x="$cpu" -v y="$best_new" 'BEGIN { exit !(x < y) }'; then best_new=$cpu; fi
        fi
    done
    r=$((r + 1))
done
awk -v a="$best_ref" -v b="$best_new" -v ref="$ref" 'BEGIN {
    printf "stage-1 step, batch 64: reference %s %.3f cpu s/step (%.2f steps per cpu s), this tree %.3f (%.2f); ratio %.2fx\n",
        ref, a, 1 / a, b, 1 / b, a / b }'
