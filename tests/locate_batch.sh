#!/bin/sh
# tests/locate_batch.sh - many photos per scoring pass (issue 23, item 3):
# `transgeo locate` and `eval` give the same answers, bit for bit, whether
# each photo is scored alone (--batch 1: tg_locator_run in each worker, the
# reference path every other test checks against independent sources) or
# with others in one matrix product (--batch 3: several passes per commit;
# the default, 32: one pass), on a generated town and the demo model: panoramas and
# photos of unknown heading (searched: extra rows of the product), the
# per-photo GPS prior (own candidates), a global prior, refinement on and
# off, and eval's ranks and metrics with and without the GPS prior.
. "$TOP_SRCDIR/tests/cli_common.sh"
workdir locate_batch
MODEL=$TOP_SRCDIR/models/demo.safetensors

run "$TG" world -o "$W/town" -s 11 --size-m 500 --panos 10 --photos 6 --gps-noise-m 15 \
    --supersample 1 -q
expect_rc 0 "a town with 10 panoramas and 6 photos (city GPS noise)"
run "$TG" index "$W/town/aerial.tif" --db "$W/town.sqlite" -m "$MODEL" -q
expect_rc 0 "index it with the demo model"
IN="$W/town/panos $W/town/photos"

# dump OUT: every field of every answer and matched tile, full precision
dump() { sqlite3 -batch "$1" ".dump photos matched_tiles failures" | grep '^INSERT'; }

# same_answers NAME OPTIONS...: locate at --batch 1, 3 and the default
same_answers() {
    name=$1
    shift
    for b in 1 3 default; do
        bo="--batch $b"
        [ "$b" = default ] && bo=
        # shellcheck disable=SC2086
        run "$TG" locate $IN --db "$W/town.sqlite" -o "$W/$name.$b.gpkg" -q $bo "$@"
        [ "$rc" -eq 0 ] || { expect_rc 0 "$name: locate --batch $b"; return; }
        dump "$W/$name.$b.gpkg" >"$W/$name.$b.txt"
    done
    n1=$(grep -c 'INTO "\{0,1\}photos' "$W/$name.1.txt")
    nt=$(grep -c 'INTO "\{0,1\}matched_tiles' "$W/$name.1.txt")
    check "$name: --batch 3 = --batch 1 ($n1 photos, $nt matched tiles, every field)" \
        cmp -s "$W/$name.1.txt" "$W/$name.3.txt"
    check "$name: the default batch = --batch 1" cmp -s "$W/$name.1.txt" "$W/$name.default.txt"
    check "$name: all 16 photos answered" test "$n1" -eq 16
}

same_answers plain -k 5 --ignore-heading
# the photos' headings were searched (extra query rows), the panoramas not
NS=$(sqlite3 -batch -noheader "$W/plain.default.gpkg" \
    "SELECT count(*) FROM photos WHERE heading_source = 'searched' AND refined = 'raster'")
check "plain: 6 photos searched over headings, refined from the raster" test "$NS" -eq 6
same_answers gps -k 5 --prior gps --ignore-heading
NG=$(sqlite3 -batch -noheader "$W/gps.default.gpkg" "SELECT count(*) FROM photos WHERE prior = 'gps'")
check "gps: every photo searched in its own GPS window" test "$NG" -eq 16
same_answers near -k 3 --near 15.0,48.2128 --radius 150 --refine off
same_answers norefine -k 10 --refine off

# eval: ranks (counted in the pass over every tile), metrics and per-photo rows
for mode in plain gps; do
    extra=
    [ $mode = gps ] && extra="--prior gps"
    for b in 1 3 default; do
        bo="--batch $b"
        [ "$b" = default ] && bo=
        # shellcheck disable=SC2086
        run "$TG" eval $IN --db "$W/town.sqlite" --truth "$W/town/truth.csv" --json -q \
            --ignore-heading $extra $bo
        [ "$rc" -eq 0 ] || expect_rc 0 "eval $mode --batch $b"
        printf '%s\n' "$out" >"$W/eval.$mode.$b.json"
    done
    check "eval $mode: --batch 3 = --batch 1 (every metric and photo row)" \
        cmp -s "$W/eval.$mode.1.json" "$W/eval.$mode.3.json"
    check "eval $mode: the default batch = --batch 1" \
        cmp -s "$W/eval.$mode.1.json" "$W/eval.$mode.default.json"
done
# the ranks are the locator's order: a photo whose top tile is its true tile has rank 1
"$PYTHON3" - "$W/eval.plain.default.json" <<'PY' >"$W/ranks" 2>&1
import json, sys
r = json.load(open(sys.argv[1]))
bad = [p["file"] for p in r["photos"]
       if (p["top1_tile_id"] == p["true_tile_id"]) != (p["rank"] == 1)]
print(len(r["photos"]), len(bad))
PY
check "eval: rank 1 exactly when the top tile is the true one ($(cat "$W/ranks"))" \
    test "$(cut -d' ' -f2 "$W/ranks")" = 0

run "$TG" locate $IN --db "$W/town.sqlite" -o "$W/x.csv" --batch 0
expect_rc 2 "--batch 0 is a usage error"
done_testing
