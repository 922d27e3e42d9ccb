#!/bin/sh
# tests/faults_kill.sh - kill -9 at random points during `transgeo index` and
# during a batch `transgeo locate`, then rerun: nothing lost, nothing twice.
#
#   index   FAULT_ROUNDS (default 20) kills, in chains of FAULT_CHAIN (5): a
#           copy of a database with the tiny model registered, then
#           FAULT_CHAIN times `transgeo index` of the 2018 NAIP raster (750 m
#           tiles: 126 tiles, committed in batches) killed with SIGKILL (the
#           first once it committed tiles, the others after a random delay;
#           each run resumes what the killed ones committed),
#           then a rerun to completion; after it every tile of the grid is
#           present exactly once (count = distinct (raster, col, row) = an
#           uninterrupted run's count) with the same embeddings, the raster is
#           marked complete and PRAGMA integrity_check says ok.
#   locate  the same with `transgeo locate DIR -o out.gpkg` over 60 photos:
#           after the rerun the photos layer holds each photo exactly once,
#           none is listed as failed, and the GeoPackage passes
#           integrity_check.
# The first kill of each chain is not timed but watched: it lands as soon as
# the run has committed work (tiles in the database, photos in the
# GeoPackage), and each must leave that work unfinished (a run commits in
# two or three batches, so a random moment falls between two commits only
# by chance). The other delays are random, from FAULT_SEED (printed; set it
# to replay a run): a kill that lands after the command finished still
# counts as a round; how many landed during the work (the run had committed
# progress of its own and had not finished) is printed.
set -u
: "${TOP_SRCDIR:?run through make check}"
: "${TOP_BUILDDIR:?run through make check}"
: "${TG_SHARED_DATA:=$TOP_SRCDIR/../shared/data}"
: "${TG_TMPDIR:=${TMPDIR:-/tmp}}"
: "${FAULT_ROUNDS:=20}"
: "${FAULT_CHAIN:=5}"
: "${FAULT_SEED:=$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}"

T=$TOP_BUILDDIR/transgeo
TINY=$TOP_SRCDIR/tests/golden/tiny/model.safetensors
R=$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20180716.tif
PHOTO=$TG_SHARED_DATA/photos/fixed_exif.jpg
W=$TG_TMPDIR/faults_kill
IDX="--tile-m 750 --stride-m 375 --gsd-m 9.375"
NPH=60
rm -rf "$W"
mkdir -p "$W"
cd "$W" || exit 1

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
diag() { echo "# $*"; }
command -v sqlite3 >/dev/null 2>&1 || { echo "1..0 # SKIP sqlite3 shell not found"; exit 77; }
echo "# FAULT_SEED=$FAULT_SEED FAULT_ROUNDS=$FAULT_ROUNDS"

# delays: FAULT_ROUNDS pseudo-random delays in [lo, hi) seconds, one a line
delays() {
    awk -v seed="$FAULT_SEED" -v n="$FAULT_ROUNDS" -v lo="$1" -v hi="$2" -v salt="$3" \
        'BEGIN { srand(seed + salt); for (i = 0; i < n; i++) printf "%.3f\n", lo + rand() * (hi - lo) }'
}
# killrun DELAY CMD...: start CMD, SIGKILL it after DELAY s; sets hit=1 when
# it was still running
killrun() {
    d=$1
    shift
    "$@" >/dev/null 2>&1 &
    pid=$!
    sleep "$d"
    if kill -9 "$pid" 2>/dev/null; then hit=1; else hit=0; fi
    wait "$pid" 2>/dev/null
}
# killwatch DB COUNT_SQL CMD...: start CMD, SIGKILL it as soon as COUNT_SQL
# on DB (read-only, never creating it) gives more than 0; sets hit as
# killrun. CMD is stopped (SIGSTOP) while DB is read, so it cannot finish
# between the reading and the kill, however slow the reading on a busy
# machine.
killwatch() {
    kdb=$1 kq=$2
    shift 2
    "$@" >/dev/null 2>&1 &
    pid=$!
    i=0 c=0
    while [ "$i" -lt 6000 ] && kill -STOP "$pid" 2>/dev/null; do
        c=$([ -s "$kdb" ] && sqlite3 -readonly "$kdb" "$kq" 2>/dev/null)
        case $c in '' | *[!0-9]*) c=0 ;; esac
        [ "$c" -gt 0 ] && break
        kill -CONT "$pid" 2>/dev/null
        sleep 0.01
        i=$((i + 1))
    done
    if kill -9 "$pid" 2>/dev/null; then hit=1; else hit=0; fi
    wait "$pid" 2>/dev/null
}
# tiles_done DB: "TILES COMPLETE" (COMPLETE -1 before the raster is registered)
tiles_done() {
    sqlite3 "$1" "SELECT (SELECT count(*) FROM tg_tiles) || ' ' ||
        coalesce((SELECT min(complete) FROM tg_rasters), -1)" 2>/dev/null
}
# photos_done GPKG: photos in the output (0 before it exists)
photos_done() {
    c=$([ -s "$1" ] && sqlite3 "$1" "SELECT count(*) FROM photos" 2>/dev/null)
    echo "${c:-0}"
}

# ---- index -----------------------------------------------------------------------
# The base database: the model registered, nothing indexed (index of a raster
# outside the model's reach would do nothing; register through a tiny index
# run of a one-tile raster instead, then drop its tiles).
"$T" index -q "$TOP_SRCDIR/tests/fuzz/data/r.tif" --db base.sqlite -m "$TINY" --tile-m 160 --stride-m 160 \
    >"$W/base.log" 2>&1
sqlite3 base.sqlite "DELETE FROM tg_tiles; DELETE FROM tg_rasters;" 2>>"$W/base.log"
cp base.sqlite ref.sqlite
start=$(date +%s.%N)
"$T" index -q "$R" --db ref.sqlite $IDX >>"$W/base.log" 2>&1
rc=$?
secs=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.2f", $2 - $1 }')
want=$(sqlite3 ref.sqlite "SELECT count(*) FROM tg_tiles")
if [ "$rc" -ne 0 ] || [ "${want:-0}" -lt 50 ]; then
    notok "reference index run (exit $rc, ${want:-0} tiles)"
    diag "$(cat "$W/base.log")"
    echo "1..$n"
    exit 1
fi
ok "reference index run: $want tiles in $secs s"
emb() { sqlite3 "$1" "SELECT group_concat(x, ';') FROM (SELECT col || ',' || row || ':' || hex(embedding) x
    FROM tg_tiles ORDER BY col, row)" | sha256sum | cut -c1-16; }
ref_emb=$(emb ref.sqlite)
# kill anywhere from the start-up to the end of a whole run
hi=$(echo "$secs" | awk '{ printf "%.3f", $1 + 0.05 }')
hits=0 mid=0 bad=0 round=0 chain=0 watched= wbad=0
for d in $(delays 0.02 "$hi" 1); do
    round=$((round + 1))
    if [ $(((round - 1) % FAULT_CHAIN)) -eq 0 ]; then
        chain=$((chain + 1))
        rm -f run.sqlite run.sqlite-wal run.sqlite-shm
        cp base.sqlite run.sqlite
        ds=
    fi
    set -- $(tiles_done run.sqlite)
    before=${1:-0}
    if [ -z "$ds" ]; then
        ds=" watched"
        killwatch run.sqlite "SELECT count(*) FROM tg_tiles" "$T" index -q "$R" --db run.sqlite $IDX
        set -- $(tiles_done run.sqlite)
        watched="$watched ${1:-0}"
        # it must land during the work: tiles committed, the raster unfinished
        [ "$hit" -eq 1 ] && [ "${1:-0}" -gt 0 ] && [ "${1:-0}" -lt "$want" ] && [ "${2:--1}" -eq 0 ] ||
            wbad=$((wbad + 1))
    else
        ds="$ds $d"
        killrun "$d" "$T" index -q "$R" --db run.sqlite $IDX
        set -- $(tiles_done run.sqlite)
        # during the work: this run committed tiles and did not finish
        [ "$hit" -eq 1 ] && [ "${1:-0}" -gt "$before" ] && [ "${2:--1}" -eq 0 ] && mid=$((mid + 1))
    fi
    hits=$((hits + hit))
    [ $((round % FAULT_CHAIN)) -eq 0 ] || [ "$round" -eq "$FAULT_ROUNDS" ] || continue
    "$T" index -q "$R" --db run.sqlite $IDX >"$W/rerun.log" 2>&1
    rc=$?
    got=$(sqlite3 run.sqlite "SELECT count(*) || ' ' || count(DISTINCT raster_id || ',' || col || ',' || row)
        || ' ' || (SELECT count(*) FROM tg_rasters) || ' ' || (SELECT min(complete) FROM tg_rasters) FROM tg_tiles")
    ic=$(sqlite3 run.sqlite "PRAGMA integrity_check")
    e=$(emb run.sqlite)
    if [ "$rc" -ne 0 ] || [ "$got" != "$want $want 1 1" ] || [ "$ic" != "ok" ] || [ "$e" != "$ref_emb" ]; then
        bad=$((bad + 1))
        diag "index chain $chain (kills after$ds s): rerun exit $rc; tiles/distinct/rasters/complete '$got'" \
            "(want '$want $want 1 1'); integrity '$ic'; embeddings $([ "$e" = "$ref_emb" ] && echo same || echo differ)"
        head -5 "$W/rerun.log" | sed 's/^/#   /'
    fi
done
if [ "$bad" -eq 0 ]; then
    ok "index: $round kills ($hits during a run) in $chain chains; each rerun gives every tile once, same embeddings, integrity ok"
else
    notok "index: $bad of $chain kill chains left a bad database"
fi
if [ "$wbad" -eq 0 ]; then
    ok "index: the $chain watched kills landed during the work (tiles committed, raster unfinished: tiles after each:$watched of $want)"
else
    notok "index: $wbad of $chain watched kills did not land during the work (tiles after each:$watched of $want)"
fi
diag "index: $mid of $((round - chain)) random kills landed during the work (after tiles of their own, before the end)"

# ---- locate ------------------------------------------------------------------------
mkdir -p photos
i=0
while [ "$i" -lt "$NPH" ]; do
    cp "$PHOTO" "photos/p$i.jpg"
    i=$((i + 1))
done
start=$(date +%s.%N)
"$T" locate -q photos --db ref.sqlite -o ref.gpkg >"$W/locate.log" 2>&1
rc=$?
secs=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.2f", $2 - $1 }')
nref=$(sqlite3 ref.gpkg "SELECT count(*) FROM photos" 2>/dev/null)
if [ "$rc" -ne 0 ] || [ "${nref:-0}" -ne "$NPH" ]; then
    notok "reference locate run (exit $rc, ${nref:-0} photos)"
    diag "$(cat "$W/locate.log")"
else
    ok "reference locate run: $NPH photos in $secs s"
fi
hi=$(echo "$secs" | awk '{ printf "%.3f", $1 + 0.05 }')
hits=0 mid=0 bad=0 round=0 chain=0 watched= wbad=0
for d in $(delays 0.02 "$hi" 2); do
    round=$((round + 1))
    if [ $(((round - 1) % FAULT_CHAIN)) -eq 0 ]; then
        chain=$((chain + 1))
        rm -f out.gpkg out.gpkg-wal out.gpkg-shm out.gpkg-journal
        ds=
    fi
    before=$(photos_done out.gpkg)
    if [ -z "$ds" ]; then
        ds=" watched"
        killwatch out.gpkg "SELECT count(*) FROM photos" "$T" locate -q photos --db ref.sqlite -o out.gpkg
        after=$(photos_done out.gpkg)
        watched="$watched $after"
        [ "$hit" -eq 1 ] && [ "$after" -gt 0 ] && [ "$after" -lt "$NPH" ] || wbad=$((wbad + 1))
    else
        ds="$ds $d"
        killrun "$d" "$T" locate -q photos --db ref.sqlite -o out.gpkg
        after=$(photos_done out.gpkg)
        [ "$hit" -eq 1 ] && [ "$after" -gt "$before" ] && [ "$after" -lt "$NPH" ] && mid=$((mid + 1))
    fi
    hits=$((hits + hit))
    [ $((round % FAULT_CHAIN)) -eq 0 ] || [ "$round" -eq "$FAULT_ROUNDS" ] || continue
    "$T" locate -q photos --db ref.sqlite -o out.gpkg >"$W/rerun.log" 2>&1
    rc=$?
    got=$(sqlite3 out.gpkg "SELECT count(*) || ' ' || count(DISTINCT file) || ' ' ||
        (SELECT count(*) FROM failures) FROM photos" 2>&1)
    ic=$(sqlite3 out.gpkg "PRAGMA integrity_check" 2>&1)
    if [ "$rc" -ne 0 ] || [ "$got" != "$NPH $NPH 0" ] || [ "$ic" != "ok" ]; then
        bad=$((bad + 1))
        diag "locate chain $chain (kills after$ds s): rerun exit $rc; photos/distinct/failures '$got'" \
            "(want '$NPH $NPH 0'); integrity '$ic'"
        head -5 "$W/rerun.log" | sed 's/^/#   /'
    fi
done
if [ "$bad" -eq 0 ]; then
    ok "locate: $round kills ($hits during a run) in $chain chains; each rerun lists every photo once, integrity ok"
else
    notok "locate: $bad of $chain kill chains left a bad output"
fi
if [ "$wbad" -eq 0 ]; then
    ok "locate: the $chain watched kills landed during the work (photos committed, run unfinished: photos after each:$watched of $NPH)"
else
    notok "locate: $wbad of $chain watched kills did not land during the work (photos after each:$watched of $NPH)"
fi
diag "locate: $mid of $((round - chain)) random kills landed during the work (after photos of their own, before the end)"

echo "1..$n"
[ "$failed" -eq 0 ]
