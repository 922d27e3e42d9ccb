#!/bin/sh
# tests/cli_index.sh - `transgeo index`: tiles + embeddings stored through the
# store API, model choice, resume, per-raster errors, quiet output in pipes,
# and the exit codes.
. "$TOP_SRCDIR/tests/cli_common.sh"
workdir cli_index
DB=$W/idx.sqlite
cp "$TINY" "$W/tiny.safetensors"

# ---- usage errors ------------------------------------------------------------
run "$TG" index --help
expect_rc 0 "--help"
check "--help shows an example" contains "$out" "transgeo index ortho_2018.tif"
run "$TG" index "$NAIP"
expect_rc 2 "no --db"
run "$TG" index --db "$DB"
expect_rc 2 "no raster"
run "$TG" index "$NAIP" --db "$DB" --tile-m -5
expect_rc 2 "--tile-m -5"
run "$TG" index "$NAIP" --db "$DB" --stride-m abc
expect_rc 2 "--stride-m abc"
run "$TG" index "$NAIP" --db "$DB" --threads 0
expect_rc 2 "--threads 0"
run "$TG" index "$NAIP" --db "$DB" --frobnicate
expect_rc 2 "unknown option"
check "  ... says what to try" contains "$err" "Try 'transgeo index --help'."
check "usage errors create no database" test ! -e "$DB"

# ---- model choice ----------------------------------------------------------
run env TG_MODEL="$W/none.safetensors" "$TG" index "$NAIP" --db "$W/nomodel.sqlite" $FIXTURE_OPTS
expect_rc 1 "no model anywhere"
check "  ... message says to give --model" contains "$err" "give one with --model FILE.safetensors"
check "  ... and that TG_MODEL, set, is not used as a fallback" contains "$err" \
    "TG_MODEL ('$W/none.safetensors') is not a readable file"
run env TG_MODEL="$W/none.safetensors" "$TG" demo -o "$W/demo"
expect_rc 1 "demo: the same default-model resolver"
check "  ... the same message" contains "$err" "no model: TG_MODEL ('$W/none.safetensors') is not a readable file"
run env TG_MODEL="$W/tiny.safetensors" "$TG" index "$NAIP" --db "$W/env.sqlite" $FIXTURE_OPTS
expect_rc 0 "empty database, no --model: TG_MODEL is used"
check "  ... registered from TG_MODEL" test "$(sql "$W/env.sqlite" "SELECT path FROM tg_models")" = "$W/tiny.safetensors"
run env TG_MODEL="$W/none.safetensors" "$TG" index "$NAIP" --db "$W/opt.sqlite" --model "$W/tiny.safetensors" $FIXTURE_OPTS
expect_rc 0 "--model wins over TG_MODEL"
run "$TG" index "$NAIP" --db "$W/x.sqlite" --model nosuchname $FIXTURE_OPTS
expect_rc 1 "--model that is neither a file nor a registered name"
check "  ... message says so" contains "$err" "is neither a model file nor a model registered"
echo "garbage" >"$W/bad.safetensors"
run "$TG" index "$NAIP" --db "$W/x.sqlite" --model "$W/bad.safetensors" $FIXTURE_OPTS
expect_rc 1 "a model file that is not a model"

# ---- index the fixture -------------------------------------------------------
run "$TG" index "$NAIP" --db "$DB" --model "$W/tiny.safetensors" $FIXTURE_OPTS
expect_rc 0 "index the 2009 NAIP raster with the tiny model"
N=$(sql "$DB" "SELECT count(*) FROM tg_tiles")
check "tiles stored ($N)" test "$N" -gt 4
check "summary line: $N tiles added" test "$out" = "$NAIP: $N tiles added, 0 already present, $N in the database (model tiny, tile 1000.00 m, stride 1000.00 m)"
check "no progress bar when stderr is not a terminal" test -z "$err"
check "model registered as 'tiny' with an absolute path" \
    test "$(sql "$DB" "SELECT name || '|' || path FROM tg_models")" = "tiny|$W/tiny.safetensors"
check "raster complete, $N tiles, 1000 m tiles and stride" \
    test "$(sql "$DB" "SELECT complete || '|' || n_tiles || '|' || tile_m || '|' || stride_m FROM tg_rasters")" = "1|$N|1000.0|1000.0"
check "embeddings: out_dim 24 float32 = 96 bytes each" \
    test "$(sql "$DB" "SELECT DISTINCT length(embedding) FROM tg_tiles")" = 96
check "footprints: valid polygons in EPSG:4326 around their centres" \
    test "$(sql "$DB" "SELECT count(*) FROM tg_tiles WHERE ST_IsValid(geom) AND ST_SRID(geom) = 4326 AND ST_Contains(geom, MakePoint(center_lon, center_lat, 4326))")" = "$N"
check "tiles lie in the raster's WGS84 box (PROVENANCE.md)" \
    test "$(sql "$DB" "SELECT count(*) FROM tg_tiles WHERE center_lon BETWEEN -99.1856 AND -99.1240 AND center_lat BETWEEN 47.0040 AND 47.0367")" = "$N"

# ---- resume and re-runs ----------------------------------------------------
run "$TG" index "$NAIP" --db "$DB" $FIXTURE_OPTS
expect_rc 0 "rerun without --model (the only registered model)"
check "rerun adds nothing" test "$out" = "$NAIP: 0 tiles added, $N already present, $N in the database (model tiny, tile 1000.00 m, stride 1000.00 m)"
# an interrupted run: the last tiles missing and the raster not complete
sqlite3 "$DB" "DELETE FROM tg_tiles WHERE id IN (SELECT id FROM tg_tiles ORDER BY id DESC LIMIT 3); UPDATE tg_rasters SET complete = 0"
run "$TG" index "$NAIP" --db "$DB" $FIXTURE_OPTS -q
expect_rc 0 "resume an interrupted raster"
check "  ... adds back exactly the 3 missing tiles" test "$(sql "$DB" "SELECT count(*) FROM tg_tiles")" = "$N"
check "  ... no duplicate (raster, col, row)" \
    test "$(sql "$DB" "SELECT count(*) FROM (SELECT DISTINCT raster_id, col, row FROM tg_tiles)")" = "$N"
check "  ... raster complete again" test "$(sql "$DB" "SELECT complete FROM tg_rasters")" = 1
check "-q prints nothing" test -z "$out$err"
run "$TG" index "$NAIP" --db "$DB" --model "$TINY" $FIXTURE_OPTS -q
expect_rc 0 "the same model from another path"
check "  ... is recognised by its sha256 (no second model)" test "$(sql "$DB" "SELECT count(*) FROM tg_models")" = 1

# ---- --progress=json: one JSON object per line (transgeo(1), PROGRESS) -------
# total = the raster's grid cells: 1000 m tiles at a 1000 m stride anchored at
# multiples of the stride (tilecache.h), counted from gdalinfo's corners.
if have gdalinfo; then
    cells() {
        gdalinfo -json "$1" | "$PYTHON3" -c 'import json, math, sys
c = json.load(sys.stdin)["cornerCoordinates"].values(); s = 1000.0
xs, ys = [p[0] for p in c], [p[1] for p in c]
print((math.ceil(max(xs) / s) - math.floor(min(xs) / s)) * (math.ceil(max(ys) / s) - math.floor(min(ys) / s)))'
    }
    G1=$(cells "$NAIP") G2=$(cells "$NAIP2018")
    run "$TG" index "$NAIP" "$NAIP2018" --db "$W/prog.sqlite" --model "$W/tiny.safetensors" $FIXTURE_OPTS \
        --progress=json
    expect_rc 0 "index two rasters with --progress=json"
    check "  ... stdout: the two summaries, as without it" test "$(printf '%s\n' "$out" | grep -c ' tiles added, ')" = 2
    check "  ... stderr: JSON lines, stage tiles, raster 1 and 2 of 2, totals $G1 and $G2 grid cells" \
        "$PYTHON3" "$TOP_SRCDIR/tests/progress_check.py" "$W/.stderr" tiles "$G1,$G2"
    run "$TG" index "$NAIP" --db "$W/progq.sqlite" --model "$W/tiny.safetensors" $FIXTURE_OPTS -q --progress json
    check "--progress json with -q: no summary" test "$rc" -eq 0 -a -z "$out"
    check "  ... but the JSON progress" "$PYTHON3" "$TOP_SRCDIR/tests/progress_check.py" "$W/.stderr" tiles "$G1"
else
    skip "--progress=json checks" "gdalinfo not installed (gdal-bin)"
fi
run "$TG" index "$NAIP" --db "$W/progn.sqlite" --model "$W/tiny.safetensors" $FIXTURE_OPTS --progress=none
check "--progress=none: the summary, nothing on stderr" test "$rc" -eq 0 -a -n "$out" -a -z "$err"
run "$TG" index "$NAIP" --db "$W/progx.sqlite" --progress=xml
expect_rc 2 "--progress=xml"
check "  ... names the choices" contains "$err" "--progress: 'xml' is not auto, json or none"

# ---- errors per raster: the others are still indexed -------------------------
run "$TG" index "$W/missing.tif" "$NAIP2018" --db "$DB" $FIXTURE_OPTS
expect_rc 1 "a missing raster among two"
check "  ... message names the missing file" contains "$err" "missing.tif"
check "  ... says 1 of 2 failed" contains "$err" "1 of 2 rasters failed"
check "  ... the other raster is indexed" \
    test "$(sql "$DB" "SELECT count(*) FROM tg_rasters WHERE complete = 1")" = 2
printf 'not a tiff' >"$W/notraster.tif"
run "$TG" index "$W/notraster.tif" --db "$DB" $FIXTURE_OPTS
expect_rc 1 "a file that is not a raster"
run "$TG" index "$NAIP" --db "$W/no/such/dir/db.sqlite" $FIXTURE_OPTS
expect_rc 1 "database in a missing directory"
echo "not sqlite" >"$W/text.sqlite"
run "$TG" index "$NAIP" --db "$W/text.sqlite" $FIXTURE_OPTS
expect_rc 1 "a database file that is not SQLite"

done_testing
