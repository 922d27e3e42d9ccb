#!/bin/sh
# tests/load_concurrent.sh - load (issue 10): 4 concurrent `transgeo locate`
# processes, each locating 1,000 photos against one database, while a fifth
# process runs `transgeo index` of another raster into the same database.
#
# Fixture: the 2018 NAIP raster of shared/data indexed with the tiny golden
# model in 500 m tiles (72 tiles); 1,000 photos = symbolic links cycling over
# the small photos of shared/data/photos and 5 % copies of its three camera
# photos (gdal_translate; left out if it is missing).
# Reference: one serial `transgeo locate -j 1 -k 5` of the 1,000 photos,
# before anything else runs.
# Load: the indexer indexes shared/data's Landsat raster (L7_ETMs.tif, in
# Brazil) over and over, each run with another tile size (a new raster row
# of ~4,000 tiles in batches of 64), from before the locates start until
# they have all finished; the 4 locates (-j 1 each, same options as the
# reference) start once its first batch is committed, a second apart, so
# each of them opens the database, loads the model's tiles and selects its
# candidates while tiles are being written.
# The locates use a spatial prior (--near the NAIP raster's centre, --radius
# 20 km) so that their results do not depend on how many Landsat tiles exist
# when they start: the tiles of the same model thousands of kilometres away
# are loaded but never candidates.
# Checked:
#   - every process exits 0 with nothing on standard error; the only failure
#     tolerated is the documented busy error ("database is locked ... retry
#     later"), answered by rerunning the command (both commands resume), and
#     such retries are counted and printed;
#   - each locate's photos (file, model, lon, lat, score, error_m, tile_id)
#     and matched tiles (file, rank, tile_id, score), scores to 17
#     significant digits, are identical to the serial run's; no failure;
#   - every raster the indexer started is complete, with each grid tile
#     once; the NAIP tiles are unchanged; PRAGMA integrity_check says ok.
# LOAD_PHOTOS (default 1000) and LOAD_LOCATES (default 4) scale it down.
set -u
: "${TOP_SRCDIR:?run through make check}"
: "${TOP_BUILDDIR:?run through make check}"
: "${TG_SHARED_DATA:=$TOP_SRCDIR/../shared/data}"
: "${TG_TMPDIR:=${TMPDIR:-/tmp}}"
: "${LOAD_PHOTOS:=1000}"
: "${LOAD_LOCATES:=4}"

T=$TOP_BUILDDIR/transgeo
TINY=$TOP_SRCDIR/tests/golden/tiny/model.safetensors
R=$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20180716.tif
R2=$TG_SHARED_DATA/rasters/L7_ETMs.tif
W=$TG_TMPDIR/load_concurrent
DB=$W/db.sqlite
rm -rf "$W"
mkdir -p "$W/photos" "$W/k"
cd "$W" || exit 1

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
diag() { printf '%s\n' "$*" | head -c 3000 | sed 's/^/# /'; }
command -v sqlite3 >/dev/null 2>&1 || { echo "1..0 # SKIP sqlite3 shell not found"; exit 77; }
now() { date +%s.%N; }
since() { echo "$1 $(now)" | awk '{ printf "%.1f", $2 - $1 }'; }
t0=$(now)

# ---- fixture ---------------------------------------------------------------------
if ! "$T" index -q "$R" --db "$DB" -m "$TINY" --tile-m 500 --stride-m 500 --gsd-m 6.25 -j 1 >fixture.log 2>&1; then
    notok "fixture: index the NAIP raster with the tiny model"
    diag "$(cat fixture.log)"
    echo "1..$n"
    exit 1
fi
NT=$(sqlite3 "$DB" "SELECT count(*) FROM tg_tiles")
# naip: a digest of the NAIP raster's tiles (ids, positions, embeddings)
naip() {
    sqlite3 "$DB" "SELECT id, col, row, hex(embedding) FROM tg_tiles WHERE raster_id = 1 ORDER BY id" | sha256sum
}
NAIP=$(naip)
# the prior: the NAIP raster's tile centres' mean, 20 km
NEAR=$(sqlite3 "$DB" "SELECT printf('%.6f,%.6f', avg(center_lon), avg(center_lat)) FROM tg_tiles")
for f in "$TG_SHARED_DATA"/photos/*.jpg; do
    case ${f##*/} in
        0[0-9].jpg) command -v gdal_translate >/dev/null 2>&1 &&
            gdal_translate -q -of JPEG -outsize 5% 5% "$f" "photos/cam_${f##*/}" >/dev/null 2>&1 ;;
        *) ln -s "$f" "photos/${f##*/}" ;;
    esac
done
ls photos >photos.txt
NU=$(wc -l <photos.txt)
i=0
while [ "$i" -lt "$LOAD_PHOTOS" ]; do
    while read -r f && [ "$i" -lt "$LOAD_PHOTOS" ]; do
        ln -s "../photos/$f" "k/$(printf %04d "$i")_$f"
        i=$((i + 1))
    done <photos.txt
done
ok "fixture: $NT NAIP tiles, $LOAD_PHOTOS photos ($NU distinct), prior --near $NEAR --radius 20000"

# --refine off: the load is the database's; refining (on by default for the
# cheap tiny model: 16 tiles cut per photo) made the serial run 5x longer
# (93 s) without exercising the database more. Refinement's own threads are
# checked by tests/metre_cli.sh and the demo.
LOC="-q -j 1 -k 5 --near $NEAR --radius 20000 --refine off"
# dump GPKG: the results, scores to 17 significant digits (exact doubles)
dump() {
    sqlite3 "$1" "SELECT file, model, printf('%.17g|%.17g|%.17g|%.17g', lon, lat, score, error_m), tile_id
        FROM photos ORDER BY file;
        SELECT file, rank, tile_id, printf('%.17g', score) FROM matched_tiles ORDER BY file, rank;
        SELECT 'failure', file, error FROM failures ORDER BY file;" 2>&1
}
busy() { grep -Eq "database is locked|retry later" "$1"; }

# ---- serial reference ----------------------------------------------------------------
ts=$(now)
# shellcheck disable=SC2086
"$T" locate k --db "$DB" -o serial.gpkg $LOC >serial.log 2>&1
rc=$?
dump serial.gpkg >serial.txt
np=$(sqlite3 serial.gpkg "SELECT count(*) FROM photos" 2>/dev/null)
nf=$(sqlite3 serial.gpkg "SELECT count(*) FROM failures" 2>/dev/null)
if [ "$rc" -eq 0 ] && [ "${np:-0}" -eq "$LOAD_PHOTOS" ] && [ "${nf:-1}" -eq 0 ] && [ ! -s serial.log ]; then
    ok "serial locate: $np photos located, none failed ($(since "$ts") s)"
else
    notok "serial locate: exit $rc, ${np:-0} photos, ${nf:-?} failed"
    diag "$(cat serial.log)"
fi

# ---- load ------------------------------------------------------------------------------
# the indexer: runs until the locates are done (file 'stop'), at most 60 runs
indexer() {
    j=0
    while [ "$j" -lt 60 ] && [ ! -f stop ]; do
        tm=$((600 + 8 * j))
        tries=0
        while :; do
            "$T" index -q "$R2" --db "$DB" --tile-m "$tm" --stride-m "$((tm / 4))" -j 1 >"idx_$j.out" 2>"idx_$j.err"
            rc=$?
            if [ "$rc" -ne 0 ] && busy "idx_$j.err" && [ "$tries" -lt 5 ]; then
                tries=$((tries + 1))
                cat "idx_$j.err" >>busy.log
                continue
            fi
            break
        done
        echo "$j $tm $rc" >>idx_runs.txt
        j=$((j + 1))
    done
}
# locate I: the same command as the reference, rerun on a busy error (it resumes)
locator() {
    sleep "$(($1 - 1))" # staggered: the locates open the database at different points of the writes
    tries=0
    while :; do
        # shellcheck disable=SC2086
        "$T" locate k --db "$DB" -o "load_$1.gpkg" $LOC >"load_$1.out" 2>"load_$1.err"
        rc=$?
        if [ "$rc" -ne 0 ] && busy "load_$1.err" && [ "$tries" -lt 5 ]; then
            tries=$((tries + 1))
            cat "load_$1.err" >>busy.log
            continue
        fi
        break
    done
    echo "$rc" >"load_$1.rc"
}

: >busy.log
tl=$(now)
indexer &
ipid=$!
# the locates start once the indexer has committed its first batch
k=0
while [ "$k" -lt 300 ]; do
    c=$(sqlite3 "$DB" ".timeout 2000" "SELECT count(*) FROM tg_tiles WHERE raster_id <> 1" 2>/dev/null)
    [ "${c:-0}" -gt 0 ] && break
    kill -0 "$ipid" 2>/dev/null || break
    sleep 0.1
    k=$((k + 1))
done
pids=
i=1
while [ "$i" -le "$LOAD_LOCATES" ]; do
    locator "$i" &
    pids="$pids $!"
    i=$((i + 1))
done
for p in $pids; do wait "$p"; done
tlocs=$(since "$tl")
during=$(sqlite3 "$DB" ".timeout 5000" "SELECT count(*) FROM tg_tiles WHERE raster_id <> 1" 2>/dev/null)
: >stop
wait "$ipid"
secs=$(since "$tl")
nidx=$(wc -l <idx_runs.txt 2>/dev/null || echo 0)
nbusy=$(grep -c . busy.log)
diag "load: $LOAD_LOCATES locates done in $tlocs s, $nidx index runs in $secs s," \
    "${during:-?} Landsat tiles when the locates ended; busy retries: $nbusy"

# ---- checks ----------------------------------------------------------------------------
i=1
while [ "$i" -le "$LOAD_LOCATES" ]; do
    rc=$(cat "load_$i.rc" 2>/dev/null || echo '?')
    if [ "$rc" = 0 ] && [ ! -s "load_$i.err" ] && [ ! -s "load_$i.out" ]; then
        ok "locate $i under load: exit 0, no message"
    else
        notok "locate $i under load: exit $rc"
        diag "$(cat "load_$i.err" "load_$i.out" 2>/dev/null)"
    fi
    dump "load_$i.gpkg" >"load_$i.txt"
    if cmp -s serial.txt "load_$i.txt"; then
        ok "locate $i under load: $LOAD_PHOTOS photos, best tile, 5 matches and scores identical to the serial run"
    else
        notok "locate $i under load: results differ from the serial run"
        diag "$(diff serial.txt "load_$i.txt" | head -20)"
    fi
    i=$((i + 1))
done
bad=$(awk '$3 != 0' idx_runs.txt 2>/dev/null)
if [ "$nidx" -gt 0 ] && [ -z "$bad" ] && ! grep -qv '^$' idx_*.err 2>/dev/null; then
    ok "indexer: $nidx runs of the Landsat raster, all exit 0, no message"
else
    notok "indexer: $nidx runs, failed: ${bad:-none}"
    diag "$(cat idx_*.err 2>/dev/null)"
fi
if [ "${during:-0}" -gt 0 ] && [ "$nidx" -ge 1 ]; then
    ok "the indexer was writing while the locates ran (${during} Landsat tiles by the end of the locates)"
else
    notok "the indexer was writing while the locates ran (${during:-0} tiles)"
fi
# every raster complete, each grid tile once, counts consistent
inc=$(sqlite3 "$DB" "SELECT count(*) FROM tg_rasters r WHERE NOT complete OR
    n_tiles <> (SELECT count(*) FROM tg_tiles t WHERE t.raster_id = r.id)")
dup=$(sqlite3 "$DB" "SELECT count(*) - count(DISTINCT raster_id || ',' || col || ',' || row) FROM tg_tiles")
nr=$(sqlite3 "$DB" "SELECT count(*) FROM tg_rasters")
if [ "$inc" = 0 ] && [ "$dup" = 0 ] && [ "$nr" -eq $((nidx + 1)) ]; then
    ok "database: $nr rasters, all complete with their tile counts, no tile twice"
else
    notok "database: $nr rasters (want $((nidx + 1))), $inc incomplete or miscounted, $dup duplicate tiles"
fi
if [ "$(naip)" = "$NAIP" ]; then ok "database: the NAIP tiles unchanged"; else notok "database: the NAIP tiles changed"; fi
ic=$(sqlite3 "$DB" "PRAGMA integrity_check")
if [ "$ic" = ok ]; then ok "database: PRAGMA integrity_check ok"; else notok "database: integrity_check: $ic"; fi
diag "total $(since "$t0") s"
echo "1..$n"
[ "$failed" -eq 0 ]
