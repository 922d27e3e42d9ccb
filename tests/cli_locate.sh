#!/bin/sh
# tests/cli_locate.sh - `transgeo locate` end to end on the indexed fixture:
# GeoPackage layers/SRS/fields/counts, failures, resume, CSV and stdout, the
# photos' GPS and heading as PROVENANCE.md/exiftool give them, the spatial
# prior, parity with the SQL function tg_locate, and the exit codes.
. "$TOP_SRCDIR/tests/cli_common.sh"
workdir cli_locate
DB=$W/fixture.sqlite
run make_db "$DB"
expect_rc 0 "fixture: index the NAIP raster with the tiny model"
N_TILES=$(sql "$DB" "SELECT count(*) FROM tg_tiles")
diag "fixture: $N_TILES tiles"

# ---- usage errors: exit 2, nothing written --------------------------------
run "$TG" locate --help
expect_rc 0 "--help"
check "--help names the layers" contains "$out" "matched_tiles"
run "$TG" locate "$PHOTOS/01.jpg" -o "$W/u.gpkg"
expect_rc 2 "no --db"
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB"
expect_rc 2 "no -o"
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o "$W/u.shp"
expect_rc 2 "unknown output extension"
check "message names the formats" contains "$err" "*.gpkg (GeoPackage), *.csv, or -"
run "$TG" locate --db "$DB" -o "$W/u.gpkg"
expect_rc 2 "no photo"
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o "$W/u.gpkg" -k 0
expect_rc 2 "-k 0"
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o "$W/u.gpkg" --near 13.4,52.5
expect_rc 2 "--near without --radius"
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o "$W/u.gpkg" --near 13.4 --radius 5
expect_rc 2 "--near without a latitude"
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o "$W/u.gpkg" --bogus
expect_rc 2 "unknown option"
check "usage errors write no output" test ! -e "$W/u.gpkg"

# ---- fatal errors: exit 1 --------------------------------------------------
run "$TG" locate "$PHOTOS/01.jpg" --db "$W/missing.sqlite" -o "$W/m.gpkg"
expect_rc 1 "missing database"
check "message names the database" contains "$err" "database '$W/missing.sqlite'"
check "the missing database is not created" test ! -e "$W/missing.sqlite"
cp "$DB" "$W/changed.sqlite"
sqlite3 "$W/changed.sqlite" "UPDATE tg_models SET sha256 = '$(printf '%064d' 0)'"
run "$TG" locate "$PHOTOS/01.jpg" --db "$W/changed.sqlite" -o "$W/m.gpkg"
expect_rc 1 "model file does not match the database"
check "model mismatch message names the model" contains "$err" "tiny"
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -m nosuchmodel -o "$W/m.gpkg"
expect_rc 1 "unknown --model"
echo "not a geopackage" >"$W/text.gpkg"
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o "$W/text.gpkg"
expect_rc 1 "existing output that is not a GeoPackage"
check "  ... and it is left alone" test "$(cat "$W/text.gpkg")" = "not a geopackage"
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o "$W/no/such/dir/o.gpkg"
expect_rc 1 "output directory missing"

# ---- a directory with good, bad and odd files ------------------------------
P=$W/photos
mkdir -p "$P/sub" "$P/.hidden"
for f in 01.jpg 02.jpg 03.jpg test_exif.jpg corrupt_exif.jpg fixed_exif.jpg adobe_coords.jpg; do
    cp "$PHOTOS/$f" "$P/$f"
done
cp "$PHOTOS/empty_exif.jpg" "$P/sub/empty_exif.jpg"
head -c 20000 "$PHOTOS/02.jpg" >"$P/truncated.jpg"
: >"$P/empty.jpg"
echo "field notes, not a photo" >"$P/sub/notes.txt"
cp "$PHOTOS/01.jpg" "$P/.hidden/skipped.jpg"
OUT=$W/out.gpkg
run "$TG" locate "$P" --db "$DB" -k 3 -o "$OUT"
expect_rc 0 "locate a directory with 3 unreadable files"
check "summary: 8 located, 3 failed" test "$out" = "8 located, 3 failed (see layer failures)"

if have ogrinfo; then
    info=$(ogrinfo -ro -so -al "$OUT" 2>&1)
    check "ogrinfo: no GDAL warning or error" sh -c "! printf '%s\n' \"\$1\" | grep -qE '^(ERROR|Warning)'" - "$info"
    layers=$(printf '%s\n' "$info" | sed -n 's/^Layer name: //p' | tr '\n' ' ')
    check "layers photos, matched_tiles, failures ($layers)" test "$layers" = "photos matched_tiles failures "
    counts=$(printf '%s\n' "$info" | sed -n 's/^Feature Count: //p' | tr '\n' ' ')
    check "feature counts 8, 24, 3 ($counts)" test "$counts" = "8 24 3 "
    check "photos are points" contains "$info" "Geometry: Point"
    check "matched tiles are polygons" contains "$info" "Geometry: Polygon"
    check "SRS is WGS 84 (EPSG 4326)" contains "$info" 'ID["EPSG",4326]'
    for f in "file: String" "lon: Real" "lat: Real" "score: Real" "error_m: Real" \
        "tile_id: Integer64" "gps_lon: Real" "gps_lat: Real" "gps_error_m: Real" "heading: Real" \
        "rank: Integer" "error: String"; do
        check "field $f" contains "$info" "$f"
    done
else
    skip "ogrinfo checks" "ogrinfo (gdal-bin) not installed"
fi

# the GeoPackage tables themselves (sqlite3 API)
q() { sqlite3 -batch -noheader "$OUT" "$1" 2>&1; }
check "gpkg_contents: photos and matched_tiles in SRS 4326" \
    test "$(q "SELECT group_concat(table_name || ':' || data_type || ':' || srs_id, ' ') FROM (SELECT * FROM gpkg_contents ORDER BY table_name)")" = \
    "failures:attributes:0 matched_tiles:features:4326 photos:features:4326"
check "gpkg_geometry_columns: POINT and POLYGON" \
    test "$(q "SELECT group_concat(table_name || ':' || geometry_type_name, ' ') FROM (SELECT * FROM gpkg_geometry_columns ORDER BY table_name)")" = \
    "matched_tiles:POLYGON photos:POINT"
check "spatial indexes (R-tree extension) on both layers" \
    test "$(q "SELECT count(*) FROM gpkg_extensions WHERE extension_name = 'gpkg_rtree_index'")" = 2
check "R-tree of photos holds every point" \
    test "$(q "SELECT count(*) FROM rtree_photos_geom")" = 8
check "SRS 4326 defined" test "$(q "SELECT organization || ':' || organization_coordsys_id FROM gpkg_spatial_ref_sys WHERE srs_id = 4326")" = "EPSG:4326"
# ogrinfo's SQL: GeoPackage geometry functions
ogr_n() { ogrinfo -ro -q -sql "$1" "$OUT" 2>/dev/null | sed -n 's/.*n (Integer[^)]*) = //p'; }
check "photo point = (lon, lat) of its best tile" \
    test "$(ogr_n "SELECT count(*) AS n FROM photos WHERE ST_MinX(geom) = lon AND ST_MaxX(geom) = lon AND ST_MinY(geom) = lat AND ST_MaxY(geom) = lat")" = 8
check "3 matched tiles per photo, ranks 1..3" \
    test "$(q "SELECT count(*) FROM matched_tiles GROUP BY file HAVING min(rank) = 1 AND max(rank) = 3 AND count(*) = 3" | wc -l)" = 8
check "rank-1 matched tile = the photo's tile" \
    test "$(q "SELECT count(*) FROM photos p JOIN matched_tiles t ON t.file = p.file AND t.rank = 1 AND t.tile_id = p.tile_id")" = 8
check "matched tile ids exist in the database" \
    test "$(q "SELECT group_concat(DISTINCT tile_id) FROM matched_tiles" | tr ',' '\n' | while read -r id; do sqlite3 "$DB" "SELECT count(*) FROM tg_tiles WHERE id = $id"; done | sort -u)" = 1
failures=$(q "SELECT file || '|' || error FROM failures ORDER BY file")
check "failures lists the empty file" contains "$failures" "$P/empty.jpg|image '$P/empty.jpg': file is empty"
check "failures lists the text file" contains "$failures" "$P/sub/notes.txt|image '$P/sub/notes.txt': not an image"
check "failures lists the truncated JPEG" contains "$failures" "$P/truncated.jpg|"
check "hidden directories are not walked" test "$(q "SELECT count(*) FROM photos WHERE file LIKE '%hidden%'")" = 0
check "the photo without GPS has NULL gps fields; its heading was searched (no metadata: a 65-degree default camera)" \
    test "$(q "SELECT count(*) FROM photos WHERE file = '$P/sub/empty_exif.jpg' AND gps_lon IS NULL AND gps_lat IS NULL AND gps_error_m IS NULL AND heading_source = 'searched' AND camera_source = 'default' AND fov_deg = 65")" = 1
check "every footprint is a closed 5-point ring around its centre" \
    test "$(ogr_n "SELECT count(*) AS n FROM matched_tiles WHERE ST_NPoints(geom) = 5 AND ST_Contains(geom, MakePoint(lon, lat))")" = 24
if "$PYTHON3" -c 'import osgeo_utils.samples.validate_gpkg' 2>/dev/null; then
    run "$PYTHON3" -m osgeo_utils.samples.validate_gpkg "$OUT"
    expect_rc 0 "GDAL's validate_gpkg accepts the GeoPackage"
else
    skip "validate_gpkg" "python3-gdal's osgeo_utils not installed"
fi

# ---- GPS and heading as PROVENANCE.md gives them (exiftool -n), 1e-6 deg --
# file  lat  lon  heading (empty: none)
cat >"$W/truth.txt" <<'EOF'
01.jpg 52.5189167 13.4002944 54.74463
02.jpg 52.518925 13.4003889 60.50159
03.jpg 52.5190472 13.4004472 61.76562
test_exif.jpg 35.9125167 14.4988056 1
corrupt_exif.jpg 48.0810453 -1.6678411 147.9598389
fixed_exif.jpg 48.0810453 -1.6678411 147.9598389
adobe_coords.jpg -0.0702668 34.3819352 176.3
EOF
if have exiftool; then # one run for all files (perl starts once)
    (cd "$P" && exiftool -q -n -p '$FileName $GPSLatitude $GPSLongitude' \
        $(awk '{ print $1 }' "$W/truth.txt")) >"$W/exiftool.txt" 2>/dev/null
fi
while read -r f lat lon hd; do
    row=$(q "SELECT gps_lat || ' ' || gps_lon || ' ' || ifnull(heading, '') || ' ' || lon || ' ' || lat || ' ' || gps_error_m FROM photos WHERE file = '$P/$f'")
    set -- $row
    check "$f: GPS lat $lat (got ${1:-none})" near "${1:-}" "$lat" 1e-6
    check "$f: GPS lon $lon (got ${2:-none})" near "${2:-}" "$lon" 1e-6
    check "$f: heading $hd (got ${3:-none})" near "${3:-}" "$hd" 1e-6
    if have geod; then
        want=$(geod_m "$2" "$1" "$4" "$5")
        check "$f: gps_error_m = geodesic GPS -> estimate ($want m)" near "$6" "$want" 1e-3
    fi
    if [ -s "$W/exiftool.txt" ]; then
        ex=$(awk -v f="$f" '$1 == f { print $2, $3 }' "$W/exiftool.txt")
        check "$f: GPS equals exiftool's ($ex)" \
            sh -c 'awk -v a="$1" -v b="$2" -v c="$3" -v d="$4" "BEGIN { x = a - c; y = b - d; exit !(x * x < 1e-12 && y * y < 1e-12) }"' - $ex "$1" "$2"
    fi
done <"$W/truth.txt"
[ -s "$W/exiftool.txt" ] || skip "GPS against exiftool" "exiftool not installed"

# ---- resume ----------------------------------------------------------------
before=$(q "SELECT (SELECT count(*) FROM photos) || ' ' || (SELECT count(*) FROM matched_tiles) || ' ' || (SELECT count(*) FROM failures)")
run "$TG" locate "$P" --db "$DB" -k 3 -o "$OUT"
expect_rc 0 "rerun on the same output"
check "rerun summary: nothing new, 11 already there" test "$out" = "0 located, 0 failed, 11 already in $OUT"
check "rerun adds no feature ($before)" \
    test "$(q "SELECT (SELECT count(*) FROM photos) || ' ' || (SELECT count(*) FROM matched_tiles) || ' ' || (SELECT count(*) FROM failures)")" = "$before"
cp "$PHOTOS/fixed_exif_2.jpg" "$P/sub/new.jpg"
run "$TG" locate "$P" --db "$DB" -k 3 -o "$OUT"
check "a new photo in the directory: only it is added" test "$out" = "1 located, 0 failed, 11 already in $OUT"
check "  ... 9 photos now" test "$(q "SELECT count(*) FROM photos")" = 9
run "$TG" locate "$P" "$P/01.jpg" "$P/sub" --db "$DB" -o "$OUT"
check "a photo named twice is located once" test "$(q "SELECT count(*) FROM photos WHERE file = '$P/01.jpg'")" = 1

# ---- CSV and standard output -----------------------------------------------
CSV=$W/out.csv
run "$TG" locate "$P" --db "$DB" -k 3 -o "$CSV"
expect_rc 0 "CSV output"
check "CSV header" test "$(head -n 1 "$CSV")" = "file,model,lon,lat,score,error_m,tile_id,gps_lon,gps_lat,gps_error_m,heading,heading_source,fov_deg,camera_source,tile_lon,tile_lat,prior,refined,refine_tiles,error"
check "CSV: one row per photo (9 + 3 failures)" test "$(($(wc -l <"$CSV") - 1))" = 12
check "CSV: failures carry an error" test "$(grep -c "image '" "$CSV")" = 3
same=1
for f in 01.jpg 03.jpg test_exif.jpg; do
    g=$(q "SELECT tile_id || ',' || lon || ',' || lat FROM photos WHERE file = '$P/$f'")
    c=$(awk -F, -v f="$P/$f" '$1 == f { print $7 "," $3 "," $4 }' "$CSV")
    set -- $(echo "$g,$c" | tr ',' ' ')
    [ "$1" = "$4" ] && near "$2" "$5" 1e-9 && near "$3" "$6" 1e-9 || same=0
done
check "CSV and GeoPackage give the same tile and position" test "$same" = 1
lines=$(wc -l <"$CSV")
run "$TG" locate "$P" --db "$DB" -k 3 -o "$CSV"
check "CSV resume adds no row" test "$(wc -l <"$CSV")" = "$lines"
# a kill in the middle of the last row: cut it short
last=$(tail -n 1 "$CSV")
lastfile=${last%%,*}
head -n $((lines - 1)) "$CSV" >"$W/cut.csv"
printf '%s' "$lastfile,tiny,-99.1" >>"$W/cut.csv"
mv "$W/cut.csv" "$CSV"
run "$TG" locate "$P" --db "$DB" -k 3 -o "$CSV"
check "CSV resume after a cut row: only that photo is redone" contains "$out" ", 11 already in $CSV"
check "  ... and the file is whole again" test "$(wc -l <"$CSV")" = "$lines"
check "  ... with that photo once" test "$(grep -c "^$lastfile," "$CSV")" = 1
run "$TG" locate "$P/01.jpg" --db "$DB" -k 1 -o -
expect_rc 0 "-o - (CSV on standard output)"
check "stdout: header then one row" test "$(printf '%s\n' "$out" | wc -l)" = 2
check "stdout: the summary goes to stderr" test "$err" = "1 located, 0 failed"
printf '# my list\n%s\n\n%s\n' "$P/02.jpg" "$W/gone.jpg" >"$W/list.txt"
run "$TG" locate "@$W/list.txt" --db "$DB" -o "$W/list.csv"
expect_rc 0 "@LIST input"
check "@LIST: 1 located, the missing file listed as failed" test "$out" = "1 located, 1 failed (see the rows with an error)"
check "  ... with its reason" grep -q "^$W/gone.jpg,.*cannot read: No such file or directory" "$W/list.csv"
run sh -c "printf '%s\n' '$P/03.jpg' | '$TG' locate @- --db '$DB' -o -"
check "@- reads the list from standard input" test "$(printf '%s\n' "$out" | grep -c "^$P/03.jpg,tiny,")" = 1
run "$TG" locate "@$W/nolist.txt" --db "$DB" -o "$W/nolist.csv"
expect_rc 1 "a missing @LIST"

# ---- threads: the same answers with 1 and 2 workers ------------------------
run "$TG" locate "$P" --db "$DB" -o "$W/j1.csv" -j 1 -q
run "$TG" locate "$P" --db "$DB" -o "$W/j2.csv" -j 2 -q
check "-j 1 and -j 2: the same photos, tiles and positions" \
    test "$(cut -d, -f1-4,7 "$W/j1.csv" | sort)" = "$(cut -d, -f1-4,7 "$W/j2.csv" | sort)"

# ---- the spatial prior -----------------------------------------------------
# a tile that is not the best one of 01.jpg, and a radius that holds only it
best=$(q "SELECT tile_id FROM photos WHERE file = '$P/01.jpg'")
set -- $(sql "$DB" "SELECT id, center_lon, center_lat FROM tg_tiles WHERE id <> $best ORDER BY id LIMIT 1" | tr '|' ' ')
run "$TG" locate "$P/01.jpg" --db "$DB" -k 3 --near "$2,$3" --radius 50 -o "$W/near.gpkg"
expect_rc 0 "--near/--radius"
check "only the tile within the radius is matched (tile $1)" \
    test "$(sqlite3 "$W/near.gpkg" "SELECT group_concat(tile_id) FROM matched_tiles")" = "$1"
run "$TG" locate "$P/01.jpg" --db "$DB" --near 13.4,52.5 --radius 100 -o "$W/far.gpkg"
expect_rc 1 "--near a place with no tile"
check "message says to widen the radius" contains "$err" "widen --radius"

# ---- parity with the SQL function tg_locate (same library calls) -----------
MOD=$TOP_BUILDDIR/.libs/mod_transgeo.so
PRELOAD=
if [ -n "${SANITIZERS:-}" ]; then # an ASan-built extension needs the ASan runtime first
    PRELOAD=$(${CC:-cc} -print-file-name=libasan.so 2>/dev/null)
    [ -f "$PRELOAD" ] || PRELOAD=none
    # with UBSan too, as tests/sql_lib.sh: its runtime brings libstdc++ in
    # before ASan resolves __cxa_throw (PROJ throws and catches inside a
    # refinement's warp; without it ASan's interceptor aborts)
    UB=$(${CC:-cc} -print-file-name=libubsan.so 2>/dev/null)
    case "$SANITIZERS" in *undefined*) [ "$PRELOAD" != none ] && [ -f "$UB" ] && PRELOAD="$PRELOAD $UB" ;; esac
fi
if ! have sqlite3 || [ ! -f "$MOD" ]; then
    skip "SQL parity" "sqlite3 shell or mod_transgeo.so missing"
elif [ "$PRELOAD" = none ]; then
    skip "SQL parity" "sanitizer build and no libasan.so to preload into the sqlite3 shell"
else
    # keep: the CLI runs on the kernel set the sqlite3 shell has (the same
    # numbers to 1e-9); auto: it may switch to AVX-512 kernels
    # (TRANSGEO_BLAS_CORETYPE, transgeo(1)), which changes float rounding
    # only: scores within 1e-6, error_m within 1 mm, the same tile
    for mode in keep auto; do
    tol=1e-9 etol=1e-6; [ "$mode" = auto ] && tol=1e-6 etol=1e-3
    for f in 01.jpg test_exif.jpg; do
        j=$(env ${PRELOAD:+LD_PRELOAD="$PRELOAD"} ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" \
            sqlite3 -batch -noheader "$DB" ".load mod_spatialite" ".load $MOD" \
            "SELECT json_extract(r, '\$.tile_id') || ' ' || json_extract(r, '\$.lon') || ' ' || json_extract(r, '\$.lat') || ' ' || json_extract(r, '\$.score') || ' ' || json_extract(r, '\$.error_m') || ' ' || json_extract(r, '\$.gps_error_m') FROM (SELECT tg_locate('$P/$f') AS r)" 2>&1)
        c=$(TRANSGEO_BLAS_CORETYPE=$mode "$TG" locate "$P/$f" --db "$DB" -k 1 -o - -q | awk -F, 'NR == 2 { print $7, $3, $4, $5, $6, $10 }')
        set -- $j $c
        if [ "$#" -eq 12 ] && [ "$1" = "$7" ] && near "$2" "$8" 1e-9 && near "$3" "$9" 1e-9 &&
            near "$4" "${10}" $tol && near "$5" "${11}" $etol && near "$6" "${12}" 1e-3; then
            ok "$f: CLI locate = SQL tg_locate (tile, lon, lat, score, error_m, gps_error_m; kernels $mode)"
        else
            notok "$f: CLI locate = SQL tg_locate (kernels $mode)"
            diag "SQL: $j"
            diag "CLI: $c"
        fi
    done
    done
fi

# ---- --progress=json: one JSON object per line (transgeo(1), PROGRESS) -------
run "$TG" locate "$PHOTOS/01.jpg" "$PHOTOS/02.jpg" "$PHOTOS/03.jpg" --db "$DB" -o "$W/prog.csv" --progress=json
expect_rc 0 "locate 3 photos with --progress=json"
check "  ... stderr: JSON lines, stage photos, 3 of 3 at the end" \
    "$PYTHON3" "$TOP_SRCDIR/tests/progress_check.py" "$W/.stderr" photos 3
check "  ... the summary still on stdout" contains "$out" "3 located, 0 failed"
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o "$W/prog.csv" --progress=bar
expect_rc 2 "--progress=bar"

# ---- camera and heading (issue 17) ----
DB=$W/fixture.sqlite
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o - --fov 0
expect_rc 2 "--fov 0 is a usage error"
check "  ... naming the range" contains "$err" "--fov 0: expected degrees, more than 0 and under 180"
for bad in 400 200 nan -5; do
    run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o - --fov "$bad"
    expect_rc 2 "--fov $bad is a usage error"
done
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o - --heading-search 361
expect_rc 2 "--heading-search 361 is a usage error"
# the CSV's heading columns: 01.jpg has a Mapillary TrueHeading (one pass), its
# camera is EXIF FocalLengthIn35mmFilm 35 mm on 3264x2448 = 52.62 degrees
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o - -k 1 -q
line=$(printf '%s\n' "$out" | awk -F, 'NR == 2 { print $11, $12, $13, $14 }')
set -- $line
check "CSV header has heading,heading_source,fov_deg,camera_source after gps_error_m" \
    contains "$(printf '%s\n' "$out" | head -1)" "gps_error_m,heading,heading_source,fov_deg,camera_source,"
check "01.jpg: heading 54.74463 from mapillary, 52.62-degree camera from exif-35mm ($line)" \
    sh -c 'test "$2" = mapillary && test "$4" = exif-35mm' - "$@"
check "  ... values" near "${1:-}" 54.74463 1e-6
check "  ... fov" near "${3:-}" 52.6225 1e-3
# --ignore-heading with 8 headings: the reported heading is one of 360 k / 8
run "$TG" locate "$PHOTOS/01.jpg" --db "$DB" -o - -k 1 -q --ignore-heading --heading-search 8
h=$(printf '%s\n' "$out" | awk -F, 'NR == 2 { print $11, $12 }')
set -- $h
check "--ignore-heading --heading-search 8: searched, a multiple of 45 degrees ($h)" \
    sh -c 'test "$2" = searched && awk -v h="$1" "BEGIN { exit !(h % 45 == 0) }"' - "$@"
# a magnetic GPSImgDirectionRef: searched 30 degrees either side; for a
# 52.6-degree camera steps of at most 52.6/3 = 17.5 -> ceil(30/17.5) = 2 per
# side, 15 degrees apart
if have exiftool; then
    cp "$PHOTOS/02.jpg" "$W/magnetic.jpg"
    exiftool -q -overwrite_original -GPSImgDirection=100 -GPSImgDirectionRef=M "$W/magnetic.jpg"
    run "$TG" locate "$W/magnetic.jpg" --db "$DB" -o - -k 1 -q
    h=$(printf '%s\n' "$out" | awk -F, 'NR == 2 { print $11, $12 }')
    set -- $h
    check "magnetic heading 100: heading_source magnetic-searched, one of 70, 85, 100, 115, 130 ($h)" \
        sh -c 'test "$2" = magnetic-searched && case "$1" in 70|85|100|115|130) true;; *) false;; esac' - "$@"
else
    skip "magnetic heading" "exiftool not installed"
fi

done_testing
