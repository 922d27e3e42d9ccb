#!/bin/sh
# tests/metre_cli.sh - metre-level answers (issue 18) end to end on generated
# towns and the demo model: the per-photo GPS prior (its window against
# PROJ's geod on every tile centre, across the antimeridian; the fallback of a
# GPS outside every raster; bad radii), the global prior's box across the
# antimeridian, the refinement below the stride (from the raster, and the
# stored-tiles fallback when the raster changed or is gone, said in the
# answer), the GPS prior in SQL, and eval's refusal of GPS-as-truth.
. "$TOP_SRCDIR/tests/cli_common.sh"
. "$TOP_SRCDIR/tests/sql_lib.sh"
workdir metre_cli
MODEL=$TOP_SRCDIR/models/demo.safetensors
if ! have exiftool || ! have geod; then
    skip "metre-level answers" "needs exiftool and PROJ's geod"
    done_testing
fi

# ---- a town across the antimeridian (UTM 60, easting of 180 E at 48.2 N) --
run "$TG" world -o "$W/am" -s 7 --epsg 32660 --center-e 722909 --center-n 5342882 --size-m 300 \
    --panos 4 --photos 0 --supersample 1 -q
expect_rc 0 "world across the antimeridian"
run "$TG" index "$W/am/aerial.tif" --db "$W/am.sqlite" -m "$MODEL" -q
expect_rc 0 "index it"
EAST=$(sql "$W/am.sqlite" "SELECT count(*) FROM tg_tiles WHERE center_lon > 179")
WEST=$(sql "$W/am.sqlite" "SELECT count(*) FROM tg_tiles WHERE center_lon < -179")
diag "tiles east of 180: $EAST, west: $WEST"
check "tiles on both sides of the antimeridian" test "$EAST" -gt 4 -a "$WEST" -gt 4

# the reference window: every tile centre within 120 m of (179.9995, 48.2), by geod
PLON=179.9995
PLAT=48.2
sql "$W/am.sqlite" "SELECT id, center_lon, center_lat FROM tg_tiles ORDER BY id" | tr '|' ' ' > "$W/centres"
awk -v lo=$PLON -v la=$PLAT '{ print la, lo, $3, $2 }' "$W/centres" |
    geod +ellps=WGS84 -I -f '%.9f' -F '%.6f' +units=m | awk '{ print $3 }' > "$W/dist"
paste -d ' ' "$W/centres" "$W/dist" | awk '$4 <= 120 { print $1 }' | sort -n > "$W/ref_ids"
REF_N=$(wc -l < "$W/ref_ids")
REF_W=$(paste -d ' ' "$W/centres" "$W/dist" | awk '$4 <= 120 && $2 < 0' | wc -l)
diag "reference window: $REF_N tiles, $REF_W west of 180"
check "the reference window spans the antimeridian" test "$REF_W" -gt 0 -a "$REF_W" -lt "$REF_N"

# a photo whose own GPS is that point (exiftool writes it)
exiftool -q -o "$W/at.jpg" -GPSLatitude=$PLAT -GPSLatitudeRef=N -GPSLongitude=$PLON \
    -GPSLongitudeRef=E "$W/am/panos/0000.jpg"
tiles_of() { sqlite3 -batch -noheader "$1" "SELECT tile_id FROM matched_tiles ORDER BY tile_id"; }
run "$TG" locate "$W/at.jpg" --db "$W/am.sqlite" --prior gps=120 -k 1000 --refine off -o "$W/gps.gpkg" -q
expect_rc 0 "locate with --prior gps=120"
tiles_of "$W/gps.gpkg" > "$W/gps_ids"
check "GPS window = geod's tiles within 120 m, across the antimeridian" cmp -s "$W/ref_ids" "$W/gps_ids"
PRIOR=$(sqlite3 -batch -noheader "$W/gps.gpkg" "SELECT prior FROM photos")
check "the answer says prior gps" test "$PRIOR" = "gps"
run "$TG" locate "$W/at.jpg" --db "$W/am.sqlite" --near $PLON,$PLAT --radius 120 -k 1000 --refine off -o "$W/near.gpkg" -q
expect_rc 0 "locate with --near across the antimeridian"
tiles_of "$W/near.gpkg" > "$W/near_ids"
check "global prior's box wraps: the same tiles as geod's" cmp -s "$W/ref_ids" "$W/near_ids"
PRIOR=$(sqlite3 -batch -noheader "$W/near.gpkg" "SELECT prior FROM photos")
check "the answer says prior near" test "$PRIOR" = "near"
# the same from the west side of the line: (-179.9998, 48.2), 100 m
awk -v lo=-179.9998 -v la=48.2 '{ print la, lo, $3, $2 }' "$W/centres" |
    geod +ellps=WGS84 -I -f '%.9f' -F '%.6f' +units=m | awk '{ print $3 }' > "$W/dist2"
paste -d ' ' "$W/centres" "$W/dist2" | awk '$4 <= 100 { print $1 }' | sort -n > "$W/ref2_ids"
diag "west reference window: $(wc -l < "$W/ref2_ids") tiles, $(paste -d ' ' "$W/centres" "$W/dist2" | awk '$4 <= 100 && $2 > 0' | wc -l) east of 180"
run "$TG" locate "$W/at.jpg" --db "$W/am.sqlite" --near -179.9998,$PLAT --radius 100 -k 1000 --refine off -o "$W/near2.gpkg" -q
expect_rc 0 "--near -179.9998 (west of the line)"
tiles_of "$W/near2.gpkg" > "$W/near2_ids"
check "... gives geod's tiles on both sides" cmp -s "$W/ref2_ids" "$W/near2_ids"

# SQL: tg_matches(photo, k, NULL, NULL, NULL, NULL, NULL, 'gps=120') and tg_locate(photo, NULL, NULL, NULL, 'gps=120')
tg_sql_init >/dev/null || { skip "SQL prior" "no sqlite3 shell"; done_testing; }
SQLN=$(tg_sqlite -batch -noheader "$W/am.sqlite" ".load $MOD_SPATIALITE" ".load $MOD_TG" \
    "SELECT count(*) FROM tg_matches('$W/at.jpg', 1000, NULL, NULL, NULL, NULL, NULL, 'gps=120')" 2>&1)
check "SQL tg_matches with prior 'gps=120': $SQLN rows = $REF_N" test "$SQLN" = "$REF_N"
SQLJ=$(tg_sqlite -batch -noheader "$W/am.sqlite" ".load $MOD_SPATIALITE" ".load $MOD_TG" \
    "SELECT tg_locate('$W/at.jpg', NULL, NULL, NULL, 'gps=120')" 2>&1)
check "SQL tg_locate says prior gps" contains "$SQLJ" '"prior":"gps"'
SQLE=$(tg_sqlite -batch -noheader "$W/am.sqlite" ".load $MOD_SPATIALITE" ".load $MOD_TG" \
    "SELECT tg_locate('$W/at.jpg', NULL, NULL, NULL, 'gps=0')" 2>&1)
check "SQL tg_locate refuses radius 0: $SQLE" contains "$SQLE" "radius must be metres > 0"

# ---- a town at 83.9 N (UTM's northern edge): a degree of longitude is 12 km
run "$TG" world -o "$W/north" -s 8 --center-n 9316930 --size-m 300 --panos 1 --photos 0 --supersample 1 -q
expect_rc 0 "world at 83.9 N"
run "$TG" index "$W/north/aerial.tif" --db "$W/north.sqlite" -m "$MODEL" -q
expect_rc 0 "index it"
NLON=15.0003
NLAT=83.9002
sql "$W/north.sqlite" "SELECT id, center_lon, center_lat FROM tg_tiles ORDER BY id" | tr '|' ' ' > "$W/ncentres"
awk -v lo=$NLON -v la=$NLAT '{ print la, lo, $3, $2 }' "$W/ncentres" |
    geod +ellps=WGS84 -I -f '%.9f' -F '%.6f' +units=m | awk '{ print $3 }' > "$W/ndist"
paste -d ' ' "$W/ncentres" "$W/ndist" | awk '$4 <= 90 { print $1 }' | sort -n > "$W/nref_ids"
diag "83.9 N window: $(wc -l < "$W/nref_ids") of $(wc -l < "$W/ncentres") tiles"
exiftool -q -o "$W/north.jpg" -GPSLatitude=$NLAT -GPSLatitudeRef=N -GPSLongitude=$NLON \
    -GPSLongitudeRef=E "$W/north/panos/0000.jpg"
run "$TG" locate "$W/north.jpg" --db "$W/north.sqlite" --prior gps=90 -k 1000 --refine off -o "$W/ngps.gpkg" -q
expect_rc 0 "locate with --prior gps=90 at 83.9 N"
tiles_of "$W/ngps.gpkg" > "$W/ngps_ids"
check "GPS window at 83.9 N = geod's tiles within 90 m" cmp -s "$W/nref_ids" "$W/ngps_ids"
run "$TG" locate "$W/north.jpg" --db "$W/north.sqlite" --near $NLON,$NLAT --radius 90 -k 1000 --refine off -o "$W/nnear.gpkg" -q
expect_rc 0 "locate with --near at 83.9 N"
tiles_of "$W/nnear.gpkg" > "$W/nnear_ids"
check "global prior at 83.9 N = geod's tiles" cmp -s "$W/nref_ids" "$W/nnear_ids"

# ---- bad input -------------------------------------------------------------
run "$TG" locate "$W/at.jpg" --db "$W/am.sqlite" --prior gps=0 -o "$W/b.csv"
expect_rc 2 "--prior gps=0"
check "message: radius > 0" contains "$err" "radius must be metres > 0"
run "$TG" locate "$W/at.jpg" --db "$W/am.sqlite" --prior gps=nan -o "$W/b.csv"
expect_rc 2 "--prior gps=nan"
run "$TG" locate "$W/at.jpg" --db "$W/am.sqlite" --prior gsp -o "$W/b.csv"
expect_rc 2 "--prior gsp"
# a GPS near the north pole: outside every raster -> the documented fallback
exiftool -q -o "$W/pole.jpg" -GPSLatitude=89.9999 -GPSLatitudeRef=N -GPSLongitude=10 \
    -GPSLongitudeRef=E "$W/am/panos/0000.jpg"
run "$TG" locate "$W/pole.jpg" --db "$W/am.sqlite" --prior gps -o "$W/pole.csv" -q
expect_rc 0 "a GPS at the pole is located"
check "the answer says it fell back" contains "$(cat "$W/pole.csv")" "none; gps outside tiles"
run "$TG" eval --db "$W/am.sqlite" "$W/am/panos" --prior gps -q
expect_rc 2 "eval --prior gps without --truth"
check "message asks for --truth" contains "$err" "--truth"

# ---- refinement: from the raster; the raster changed; the raster gone ------
cp "$W/am/aerial.tif" "$W/copy.tif"
run "$TG" index "$W/copy.tif" --db "$W/copy.sqlite" -m "$MODEL" -q
expect_rc 0 "index a copy of the raster"
run "$TG" locate "$W/am/panos" --db "$W/copy.sqlite" --refine on -o "$W/r1.csv" -q
expect_rc 0 "locate with --refine on"
# columns by name (the photos fields: batch.h)
col() { head -n 1 "$1" | tr ',' '\n' | grep -nx "$2" | cut -d: -f1; }
C_REF=$(col "$W/r1.csv" refined) C_RT=$(col "$W/r1.csv" refine_tiles)
C_TLON=$(col "$W/r1.csv" tile_lon) C_TLAT=$(col "$W/r1.csv" tile_lat)
R1=$(awk -F, -v r="$C_REF" -v t="$C_RT" 'NR > 1 && $r == "raster" && $t == 16' "$W/r1.csv" | wc -l)
check "every photo refined from 16 raster tiles ($R1 of 4)" test "$R1" -eq 4
MOVED=$(awk -F, -v a="$C_TLON" -v b="$C_TLAT" 'NR > 1 && ($3 != $a || $4 != $b)' "$W/r1.csv" | wc -l)
check "the refined point differs from the tile centre ($MOVED of 4)" test "$MOVED" -ge 3
printf 'x' >> "$W/copy.tif"
run "$TG" locate "$W/am/panos" --db "$W/copy.sqlite" --refine on -o "$W/r2.csv" -q
expect_rc 0 "locate after the raster changed"
check "the answer says the raster changed" contains "$(cat "$W/r2.csv")" "changed since it was indexed (sha256 differs)"
rm -f "$W/copy.tif"
run "$TG" locate "$W/am/panos" --db "$W/copy.sqlite" --refine on -o "$W/r3.csv" -q
expect_rc 0 "locate after the raster was removed"
check "the answer says it cannot be read" contains "$(cat "$W/r3.csv")" "cannot be read"
done_testing
