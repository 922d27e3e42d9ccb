#!/bin/sh
# tiles_cli.sh - the `transgeo tiles` command: options, outputs (GeoTIFF, PNG +
# world file + .aux.xml, footprints as GeoPackage/GeoJSON), the plan, and every
# error with its exit code (1 data, 2 usage) and message. Bad inputs are made
# here from the shared rasters (gdal_translate, head -c).
set -u
T="${TOP_BUILDDIR:-.}/transgeo"
D="${TG_SHARED_DATA:-../shared/data}/rasters"
W="${TG_TMPDIR:-/tmp}/tiles_cli"
HRO="$D/201404_13SED190110_201404_0x1500m_CL_1.tif"
n=0
fails=0
ok() { # ok COND-EXIT-STATUS "what"
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
# expect CODE "message part" "what" -- command...: exit code and stderr text
expect() {
    code=$1 msg=$2 what=$3
    shift 4
    "$@" >"$W/out" 2>"$W/err"
    rc=$?
    if [ "$rc" -eq "$code" ] && grep -qF -- "$msg" "$W/err"; then
        ok 0 "$what (exit $code)"
    else
        ok 1 "$what (exit $rc, want $code)"
        sed 's/^/#   /' "$W/err" | head -5
    fi
}

if [ ! -f "$HRO" ]; then echo "ok 1 - tiles CLI # SKIP shared/data/rasters not found"; echo "1..1"; exit 0; fi
for tool in gdal_translate gdalinfo ogrinfo; do
    command -v $tool >/dev/null || { echo "ok 1 - tiles CLI # SKIP $tool not installed (gdal-bin)"; echo "1..1"; exit 0; }
done
rm -rf "$W" && mkdir -p "$W"
S="--tile-m 16 --gsd-m 0.25"

# help and usage errors (exit 2)
"$T" tiles --help >"$W/out" 2>&1
ok $? "--help exits 0"
grep -q "Usage: transgeo tiles" "$W/out"; ok $? "--help prints the usage"
expect 2 "a RASTER is required" "no raster" -- "$T" tiles -o "$W/x"
expect 2 "-o DIR is required" "no -o" -- "$T" tiles "$HRO"
expect 2 "--format: 'jpg' is not tif, png or none" "bad --format" -- "$T" tiles "$HRO" -o "$W/x" -f jpg
expect 2 "--bands: '1,2' is not R,G,B" "bad --bands" -- "$T" tiles "$HRO" -o "$W/x" -b 1,2
expect 2 "--stretch: 'gamma' is not" "bad --stretch" -- "$T" tiles "$HRO" -o "$W/x" --stretch gamma
expect 2 "--tile-m: 'abc' is not a number" "bad --tile-m" -- "$T" tiles "$HRO" -o "$W/x" --tile-m abc
expect 2 "--max-nodata: 2 is not within 0..1" "bad --max-nodata" -- "$T" tiles "$HRO" -o "$W/x" --max-nodata 2
expect 2 "unknown option '--bogus'" "unknown option" -- "$T" tiles "$HRO" -o "$W/x" --bogus
expect 2 "is 4 px wide; at least 8 px are needed" "tile of 4 px" -- "$T" tiles "$HRO" -o "$W/x" --tile-m 1 --gsd-m 0.25
expect 2 "band 7 does not exist" "band out of range" -- "$T" tiles "$HRO" -o "$W/x" -b 7,2,1
expect 2 "must be projected in metres" "geographic --t-srs" -- "$T" tiles "$HRO" -o "$W/x" --t-srs EPSG:4326

# data errors (exit 1), inputs made here
gdal_translate -q -co PROFILE=BASELINE "$HRO" "$W/nogeo.tif" && rm -f "$W/nogeo.tif.aux.xml"
gdal_translate -q -co PROFILE=BASELINE -co TFW=YES "$HRO" "$W/nocrs.tif" && rm -f "$W/nocrs.tif.aux.xml"
head -c 100000 "$HRO" >"$W/trunc.tif"
head -c 14000 "$D/cog_rgb.tif" >"$W/trunc_cog.tif"
expect 1 "no such file" "missing raster" -- "$T" tiles "$W/missing.tif" -o "$W/x"
expect 1 "is not georeferenced (no geotransform): set its corners and CRS with gdal_edit.py -a_ullr" \
    "raster without georeferencing" -- "$T" tiles "$W/nogeo.tif" -o "$W/x"
expect 1 "has a geotransform but no CRS: set it with gdal_edit.py -a_srs" "raster without CRS" -- \
    "$T" tiles "$W/nocrs.tif" -o "$W/x"
expect 1 "truncated/corrupt header" "truncated striped TIFF" -- "$T" tiles "$W/trunc.tif" -o "$W/x"
expect 1 "the file is truncated or corrupt" "truncated COG" -- "$T" tiles "$W/trunc_cog.tif" -o "$W/x"
expect 1 "cannot be opened as a raster" "not a raster" -- "$T" tiles "$D/../PROVENANCE.md" -o "$W/x"
touch "$W/afile"
expect 1 "output 'afile-dir' is not a directory" "output is a file" -- sh -c "cd '$W' && ln -sf afile afile-dir && '$T' tiles '$HRO' -o afile-dir $S"

# the plan
"$T" tiles "$HRO" --dry-run $S >"$W/plan" 2>&1
ok $? "--dry-run exits 0"
grep -q "^working crs: EPSG:26913 NAD83 / UTM zone 13N" "$W/plan"; ok $? "plan: working CRS"
grep -q "^grid: 7 x 4 tiles from (519464.000, 4311672.000)" "$W/plan"; ok $? "plan: grid and its anchor"
grep -q "^tile: 16 m = 64 px at 0.25 m/px, stride 8 m = 32 px" "$W/plan"; ok $? "plan: tile and stride"
"$T" tiles "$D/hro_colorado_stateplane_ftUS.tif" -n $S | grep -q "because the raster CRS is in US survey foot"
ok $? "plan: why a feet raster goes to UTM"
"$T" tiles "$D/m_4709963_se_14_1_20090818.tif" -n -b 3,2,1 --stretch percent:1,99 --tile-m 320 --gsd-m 5 >"$W/plan2"
grep -q "^bands: bands 3,2,1 (caller's choice)" "$W/plan2" && grep -q "^stretch: percent: R" "$W/plan2"
ok $? "plan: --bands and --stretch overrides are reported"
"$T" tiles "$HRO" -n $S --t-srs EPSG:32613 | grep -q "^working crs: EPSG:32613"
ok $? "plan: --t-srs"

# GeoTIFF tiles (default) + GeoPackage footprints
"$T" tiles "$HRO" -o "$W/tif" $S --quiet >"$W/out" 2>&1
ok $? "GeoTIFF run exits 0"
[ ! -s "$W/out" ]; ok $? "--quiet prints nothing"
[ "$(ls "$W/tif"/r*_c*.tif | wc -l)" -eq 28 ]; ok $? "28 GeoTIFF tiles"
gdalinfo "$W/tif/r00001_c00002.tif" >"$W/info" 2>&1
grep -q 'ID\["EPSG",26913\]\]$' "$W/info" && grep -q "Origin = (519480.000000000000000,4311664.000000000000000)" "$W/info" \
    && grep -q "Size is 64, 64" "$W/info"
ok $? "tile r00001_c00002.tif: EPSG:26913, origin (519480, 4311664), 64 x 64"
ogrinfo -so "$W/tif/footprints.gpkg" tiles >"$W/fp" 2>&1
grep -q "Feature Count: 28" "$W/fp" && grep -q "Geometry: Polygon" "$W/fp" && grep -q 'ID\["EPSG",4326\]' "$W/fp"
ok $? "footprints.gpkg: 28 polygons in EPSG:4326"
for f in col row center_lon center_lat file win_xoff win_yoff win_xsize win_ysize valid_share work_epsg; do
    grep -q "^$f: " "$W/fp" || { echo "# missing field $f"; false; } || break
done
ok $? "footprints.gpkg has col, row, center_lon/lat, file, window, valid_share, work_epsg"

# PNG tiles: world file + .aux.xml with the CRS, same pixels as the GeoTIFF
"$T" tiles "$HRO" -o "$W/png" $S -f png --quiet
ok $? "PNG run exits 0"
[ -f "$W/png/r00001_c00002.png" ] && [ -f "$W/png/r00001_c00002.pgw" ] && [ -f "$W/png/r00001_c00002.png.aux.xml" ]
ok $? "PNG tile with .pgw world file and .aux.xml"
gdalinfo -checksum "$W/png/r00001_c00002.png" >"$W/pinfo" 2>&1
grep -q 'ID\["EPSG",26913\]\]$' "$W/pinfo" && grep -q "Origin = (519480.000000000000000,4311664.000000000000000)" "$W/pinfo"
ok $? "PNG tile: CRS and origin as the GeoTIFF"
a=$(gdalinfo -checksum "$W/tif/r00001_c00002.tif" | grep Checksum | tr -d ' \n')
b=$(grep Checksum "$W/pinfo" | tr -d ' \n')
[ -n "$a" ] && [ "$a" = "$b" ]; ok $? "PNG tile pixels = GeoTIFF tile pixels (checksums $b)"
head -1 "$W/png/r00001_c00002.pgw" | grep -q "^0.25"; ok $? ".pgw pixel size 0.25"

# footprints only, as GeoJSON
"$T" tiles "$HRO" -o "$W/none" $S -f none --footprints "$W/fp.geojson" --quiet
ok $? "--format none --footprints x.geojson exits 0"
[ -z "$(ls "$W/none")" ] && ogrinfo -so "$W/fp.geojson" tiles 2>/dev/null | grep -q "Feature Count: 28"
ok $? "no image files, 28 GeoJSON footprints"

# skipping: the alpha file's transparent north-west block
"$T" tiles "$D/201404_13SED190110_201404_0x1500m_CL_1_alpha.tif" -o "$W/alpha" $S >"$W/out" 2>&1
grep -q "^tiles: 25 written, 3 skipped (validity from alpha band 4)" "$W/out"
ok $? "alpha variant: 25 written, 3 skipped, reported"
[ ! -f "$W/alpha/r00000_c00000.tif" ] && [ -f "$W/alpha/r00003_c00006.tif" ]
ok $? "alpha variant: the transparent corner tile is not written"

# a re-run replaces the footprints (same raster, same tiles)
"$T" tiles "$HRO" -o "$W/tif" $S --quiet && ogrinfo -so "$W/tif/footprints.gpkg" tiles | grep -q "Feature Count: 28"
ok $? "re-running into the same directory replaces footprints.gpkg"

echo "1..$n"
[ "$fails" -eq 0 ]
