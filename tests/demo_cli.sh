#!/bin/sh
# `transgeo demo` end to end with the shipped model on a small town whose seed
# was not used in training: it completes, writes the database, the GeoPackage
# and the map, and locates clearly better than chance.
set -u
tg="$TOP_BUILDDIR/transgeo"
out="$TG_TMPDIR/demo"
rm -rf "$out"
n=0
ok() { n=$((n + 1)); if [ "$1" = 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }
model="$TOP_SRCDIR/models/demo.safetensors"
if [ ! -f "$model" ]; then
    echo "not ok 1 - the shipped model $model is missing"; echo "1..1"; exit 1
fi
PANOS=40
"$tg" demo --seed 777001 --size-m 640 --panos $PANOS --photos 4 --out "$out" --quiet > "$out.txt" 2> "$out.err"
ok $? "transgeo demo exits 0"
sed 's/^/# /' "$out.txt"
for f in demo.sqlite located.gpkg map.png world/aerial.tif world/truth.csv; do
    test -s "$out/$f"; ok $? "wrote $f"
done
gdalinfo "$out/map.png" 2>/dev/null | grep -q "Driver: PNG"; ok $? "map.png is a PNG GDAL reads"
npts=$(ogrinfo -q -sql "SELECT COUNT(*) AS n FROM photos" "$out/located.gpkg" 2>/dev/null | sed -n 's/.*n (Integer[^)]*) = //p')
[ "${npts:-0}" -eq $PANOS ]; ok $? "located.gpkg has one point per panorama ($npts of $PANOS)"
grep -q "panoramas (360 degrees, north-aligned): $PANOS located" "$out.txt"; ok $? "every panorama evaluated"
# the four reports of issue 17, each with recall, metre and heading error
grep -q "panoramas (360 degrees, unknown rotation, 24 headings searched): $PANOS located" "$out.txt" &&
    grep -q "photos (90 degrees, heading from EXIF): 4 located" "$out.txt" &&
    grep -q "photos (90 degrees, heading searched: 12 headings): 4 located" "$out.txt"
ok $? "four reports: north-aligned and rotated panoramas, photos with EXIF and with searched heading"
[ "$(grep -c '^  heading (' "$out.txt")" -eq 4 ]; ok $? "each report has a heading line"
# a heading read from EXIF is the truth.csv heading (to its 4 decimals)
grep -A3 "north-aligned" "$out.txt" | grep -q "heading (exif): median error 0.0 deg"
ok $? "north-aligned panoramas: heading from EXIF, median error 0.0 deg"
grep -A3 "unknown rotation" "$out.txt" | grep -q "heading (searched)"
ok $? "rotated panoramas: the heading is searched (no heading in their metadata)"
test -f "$out/world_rot/truth.csv" && ! test -e "$out/world_rot/aerial.tif"
ok $? "world_rot/: the rotated panoramas and their truth, no second orthophoto"
# transgeo info on the demo's database: models, rasters, tile count, extent.
"$tg" info "$out/demo.sqlite" > "$out.info" 2>&1; ok $? "transgeo info DB exits 0"
ntiles=$(sed -n 's/^tiles: *\([0-9]*\)$/\1/p' "$out.info")
itiles=$(sed -n 's/^index: \([0-9]*\) tiles.*/\1/p' "$out.txt")
[ -n "$ntiles" ] && [ "$ntiles" = "$itiles" ]; ok $? "info DB: tile count $ntiles = indexed $itiles"
grep -q "model demo, complete" "$out.info"; ok $? "info DB: the raster is complete, with model demo"
"$tg" info --json "$out/demo.sqlite" | "${PYTHON3:-/usr/bin/python3}" -c 'import json,sys; d=json.load(sys.stdin); assert d["models"][0]["name"]=="demo" and len(d["extent_centres"])==4' 2>/dev/null
ok $? "info --json DB: models and extent"
# R@10 of the shipped model on this unseen town, against chance (10 / number of
# tiles). Measured 2026-12-04 (run D model): R@10 67.5% over 361 tiles
# (chance 2.8%; run C had 62.5%); the threshold is under half of it. The model is small and still
# under-trained: see models/MODEL_CARD.md for its honest numbers.
r10=$(sed -n 's/.*R@10 *\([0-9.]*\)%.*/\1/p' "$out.txt" | head -1)
tiles=$(sed -n 's/^index: \([0-9]*\) tiles.*/\1/p' "$out.txt")
echo "# R@10 ${r10:-?}% over ${tiles:-?} tiles (chance $(awk "BEGIN{print 1000/${tiles:-1}}")%)"
awk "BEGIN{exit !(${r10:-0} >= ${TG_DEMO_MIN_R10:-30})}"; ok $? "R@10 ${r10:-?}% >= ${TG_DEMO_MIN_R10:-30}% (chance is about 3%)"
# A city's GPS (50 m noise by default): the three rows, and the GPS prior's
# median error against the raw GPS's. Measured 2026-12-05 (run D model, this
# town): 0.43 with the GPS prior, 0.39 refined; the threshold is 0.8.
for row in "no prior" "GPS prior" "GPS prior + refinement"; do
    grep -q "^  $row  " "$out.txt"; ok $? "demo prints the row '$row'"
done
ratio=$(sed -n 's/.*median error \/ raw GPS median: \([0-9.]*\) (GPS prior), \([0-9.]*\) (refined).*/\1 \2/p' "$out.txt")
echo "# median error / raw GPS median: ${ratio:-?}"
set -- $ratio
awk "BEGIN{exit !(${1:-9} <= 0.8 && ${2:-9} <= 0.8)}"; ok $? "GPS prior halves the GPS error or so: ${1:-?}, ${2:-?} <= 0.8"
echo "1..$n"
