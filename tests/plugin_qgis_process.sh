#!/bin/sh
# tests/plugin_qgis_process.sh - the QGIS provider the way scripts run it
# headless: QGIS's own command line, qgis_process.bin (Debian package qgis;
# not its wrapper /usr/bin/qgis_process, which on Debian 12 passes the GUI's
# QGIS_OPTS='--noversioncheck' from /etc/default/qgis and so refuses every
# command: "Command --noversioncheck not known!"),
# with QT_QPA_PLATFORM=offscreen and QGIS's profile in this test's scratch
# folder. The plugin is installed as a user installs it: the ZIP that
# `make plugin-zip` makes (plugin/make_zip.py) unpacked into the profile's
# python/plugins, then `qgis_process.bin plugins enable transgeo`; the
# transgeo command is found on PATH (the provider's default setting).
# Checks: the algorithms are listed; "Locate photos" runs into a GeoPackage
# whose layers, read back with python3-gdal, hold what `transgeo locate`
# writes for the same photos (same tiles, positions and scores), one
# unreadable photo listed as failed; an error of the command reaches
# qgis_process's exit status with the command's message.
# Fixture: the 2009 NAIP raster indexed with the tiny golden model (1000 m
# tiles, as tests/cli_common.sh).
set -u
: "${TOP_SRCDIR:?run through make check}"
: "${TOP_BUILDDIR:?run through make check}"
: "${TG_SHARED_DATA:=$TOP_SRCDIR/../shared/data}"
: "${TG_TMPDIR:=${TMPDIR:-/tmp}}"
: "${PYTHON3:=/usr/bin/python3}"
QP=${QGIS_PROCESS:-/usr/bin/qgis_process.bin}
W=$TG_TMPDIR/plugin_qgis_process
NAIP=$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20090818.tif
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
diag() { printf '%s\n' "$*" | sed 's/^/# /'; }
check() { # check DESCRIPTION COMMAND...
    d=$1
    shift
    if "$@"; then ok "$d"; else notok "$d"; fi
}
finish() {
    echo "1..$n"
    [ "$failed" -eq 0 ]
    exit $?
}

if [ ! -x "$QP" ]; then
    if dpkg-query -W -f='${Status}' qgis 2>/dev/null | grep -q 'install ok installed'; then
        notok "the Debian package qgis is installed but $QP is not"
        finish
    fi
    echo "1..0 # SKIP $QP not found (Debian package qgis)"
    exit 0
fi

rm -rf "$W"
mkdir -p "$W/home" "$W/photos"
mkdir -m 700 "$W/runtime"
# QGIS's settings, profile and runtime files stay here, never in $HOME.
export HOME="$W/home" XDG_RUNTIME_DIR="$W/runtime" QT_QPA_PLATFORM=offscreen
unset QGIS_PLUGINPATH
export PATH="$TOP_BUILDDIR:$PATH"
qp() { # qp ARGS...: qgis_process.bin; sets rc, out, err
    "$QP" "$@" >"$W/.out" 2>"$W/.err"
    rc=$?
    out=$(cat "$W/.out")
    err=$(cat "$W/.err")
}

cd "$W" || exit 1
cp "$TOP_SRCDIR/tests/golden/tiny/model.safetensors" tiny.safetensors
cp "$TG_SHARED_DATA/photos/01.jpg" "$TG_SHARED_DATA/photos/02.jpg" "$TG_SHARED_DATA/photos/03.jpg" photos/
printf 'not a photo\n' >photos/broken.jpg
transgeo index "$NAIP" --db fixture.sqlite --model tiny.safetensors --tile-m 1000 --stride-m 1000 \
    --gsd-m 12.5 -q >index.log 2>&1
check "fixture: the NAIP raster indexed with the tiny model" test "$?" -eq 0

# Install from the ZIP, as "Install from ZIP" does: the transgeo/ folder in
# the profile's plugins directory.
plugins=$HOME/.local/share/QGIS/QGIS3/profiles/default/python/plugins
mkdir -p "$plugins"
"$PYTHON3" "$TOP_SRCDIR/plugin/make_zip.py" "$TOP_SRCDIR/plugin/transgeo" transgeo-plugin.zip \
    "$TOP_SRCDIR/LICENSE" >zip.log 2>&1 &&
    (cd "$plugins" && "$PYTHON3" -m zipfile -e "$W/transgeo-plugin.zip" .)
check "the plugin ZIP unpacked into the profile's python/plugins" test -f "$plugins/transgeo/metadata.txt"
qp plugins enable transgeo
if [ "$rc" -eq 0 ] && printf '%s\n' "$out" | grep -q '^\* transgeo$'; then
    ok "qgis_process.bin plugins enable transgeo: listed as a loaded Processing provider"
else
    notok "qgis_process.bin plugins enable transgeo (exit $rc)"
    diag "$out" "$err"
fi

qp list
want="transgeo:indexraster	Index raster
transgeo:locatephotos	Locate photos
transgeo:similarityheatmap	Similarity heat map"
got=$(printf '%s\n' "$out" | sed -n 's/^[[:space:]]*\(transgeo:.*\)$/\1/p')
if [ "$rc" -eq 0 ] && [ "$got" = "$want" ]; then
    ok "qgis_process.bin list: the TransGeo provider's three algorithms"
else
    notok "qgis_process.bin list: the TransGeo provider's three algorithms (exit $rc)"
    diag "got: $got" "$err"
fi
qp help transgeo:locatephotos
missing=
for p in PHOTO_FOLDER PHOTOS DATABASE K NEAR RADIUS MODEL THREADS RESUME OUTPUT; do
    printf '%s\n' "$out" | grep -q "^$p: " || missing="$missing $p"
done
check "qgis_process.bin help transgeo:locatephotos: every parameter${missing:+ (missing:$missing)}" \
    test "$rc" -eq 0 -a -z "$missing"

# Locate photos through QGIS, and the same with the command line.
qp --json run transgeo:locatephotos -- PHOTO_FOLDER="$W/photos" DATABASE="$W/fixture.sqlite" \
    OUTPUT="$W/qgis.gpkg" THREADS=1
cp "$W/.out" run.json
cp "$W/.err" run.err
if [ "$rc" -eq 0 ]; then ok "qgis_process.bin run transgeo:locatephotos exits 0"; else
    notok "qgis_process.bin run transgeo:locatephotos exits 0 (exit $rc)"
    diag "$(tail -n 20 run.err)"
fi
transgeo locate "$W/photos" --db fixture.sqlite -o cli.gpkg --threads 1 -q >cli.log 2>&1
check "transgeo locate of the same photos exits 0" test "$?" -eq 0

# The results JSON and the GeoPackage, read with python3-gdal.
# It prints "ok - ..." / "not ok - ..." lines, numbered here.
"$PYTHON3" - "$W" "$NAIP" >py.out 2>&1 <<'EOF'
import json
import os
import sys
from osgeo import gdal, ogr, osr

gdal.UseExceptions()
W, RASTER = sys.argv[1], sys.argv[2]


def check(cond, what, detail=''):
    print('%sok - %s' % ('' if cond else 'not ', what))
    if not cond and detail:
        for line in str(detail).splitlines():
            print('#   ' + line)


def layer_rows(path, name):
    ds = ogr.Open(path)
    lyr = ds.GetLayerByName(name) if ds else None
    if lyr is None:
        return None, None, None
    rows = []
    for f in lyr:
        d = f.items()
        g = f.GetGeometryRef()
        d['_wkt'] = g.ExportToWkt() if g else None
        d['_xy'] = (g.GetX(), g.GetY()) if g and g.GetGeometryType() == ogr.wkbPoint else None
        rows.append(d)
    srs = lyr.GetSpatialRef()
    epsg = srs.GetAuthorityCode(None) if srs else None
    return rows, ogr.GeometryTypeToName(lyr.GetGeomType()), epsg


try:
    with open(os.path.join(W, 'run.json')) as f:
        res = json.load(f)['results']
except Exception as e:  # noqa: BLE001 (report any failure as a test)
    res = {}
    check(False, 'qgis_process --json prints the results', e)
else:
    check(res.get('LOCATED') == 3 and res.get('FAILED') == 1,
          'results: LOCATED 3, FAILED 1 (the text file)', res)
    gpkg = os.path.join(W, 'qgis.gpkg')
    check(res.get('OUTPUT') == gpkg and res.get('POINTS') == gpkg + '|layername=photos'
          and res.get('TILES') == gpkg + '|layername=matched_tiles'
          and res.get('FAILURES') == gpkg + '|layername=failures',
          'results: OUTPUT is the GeoPackage, POINTS / TILES / FAILURES its layers', res)

q = os.path.join(W, 'qgis.gpkg')
c = os.path.join(W, 'cli.gpkg')
ds = gdal.OpenEx(q, gdal.OF_VECTOR)
check(ds is not None and ds.GetDriver().ShortName == 'GPKG', 'the output is a GeoPackage GDAL opens')
photos, gtype, epsg = layer_rows(q, 'photos')
cli_photos, _, _ = layer_rows(c, 'photos')
check(photos is not None and gtype == 'Point' and epsg == '4326',
      'layer photos: points in EPSG:4326', (gtype, epsg))
photos = photos or []
names = sorted(os.path.basename(p['file']) for p in photos)
check(names == ['01.jpg', '02.jpg', '03.jpg'], 'photos: one point per readable photo', names)
check(all(p['_xy'] and abs(p['_xy'][0] - p['lon']) < 1e-12 and abs(p['_xy'][1] - p['lat']) < 1e-12
          for p in photos), 'photos: each point at its lon, lat fields')
# Inside the raster: its footprint from GDAL (corners to WGS84).
r = gdal.Open(RASTER)
gt = r.GetGeoTransform()
src = osr.SpatialReference(wkt=r.GetProjection())
dst = osr.SpatialReference()
dst.ImportFromEPSG(4326)
dst.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
src.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
ct = osr.CoordinateTransformation(src, dst)
ring = ogr.Geometry(ogr.wkbLinearRing)
for px, py in ((0, 0), (r.RasterXSize, 0), (r.RasterXSize, r.RasterYSize), (0, r.RasterYSize), (0, 0)):
    x, y = gt[0] + px * gt[1] + py * gt[2], gt[3] + px * gt[4] + py * gt[5]
    lon, lat, _ = ct.TransformPoint(x, y)
    ring.AddPoint_2D(lon, lat)
foot = ogr.Geometry(ogr.wkbPolygon)
foot.AddGeometry(ring)
check(photos and all(foot.Contains(ogr.CreateGeometryFromWkt(p['_wkt'])) for p in photos),
      "photos: every point inside the raster's footprint (GDAL)")
by = {os.path.basename(p['file']): p for p in cli_photos or []}
diffs = []
for p in photos:
    k = os.path.basename(p['file'])
    o = by.get(k)
    if not o or any(abs(p[f] - o[f]) > 1e-12 for f in ('lon', 'lat', 'score')) or p['tile_id'] != o['tile_id'] \
            or p['model'] != o['model']:
        diffs.append((k, p, o))
check(cli_photos is not None and not diffs and len(photos) == len(cli_photos),
      'photos: the same tile, position, score and model as `transgeo locate`', diffs)
tiles, ttype, tepsg = layer_rows(q, 'matched_tiles')
cli_tiles, _, _ = layer_rows(c, 'matched_tiles')
check(tiles is not None and ttype == 'Polygon' and tepsg == '4326' and len(tiles) > 0,
      'layer matched_tiles: polygons in EPSG:4326', (ttype, tepsg, len(tiles or [])))
key = lambda t: sorted((str(k), str(v)) for k, v in t.items() if k != '_xy')  # noqa: E731
check(tiles is not None and cli_tiles is not None and sorted(map(key, tiles)) == sorted(map(key, cli_tiles)),
      'matched_tiles: the same rows and footprints as `transgeo locate`', (len(tiles or []), len(cli_tiles or [])))
fails, _, _ = layer_rows(q, 'failures')
check(fails is not None and [os.path.basename(f['file']) for f in fails] == ['broken.jpg']
      and 'not an image' in fails[0]['error'],
      'layer failures: the text file, with the reason ("not an image ...")', fails)
EOF
py_rc=$?
while IFS= read -r line; do
    case $line in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) notok "${line#not ok - }" ;;
    *) echo "# $line" ;;
    esac
done <py.out
[ "$py_rc" -eq 0 ] || notok "the python3-gdal checks ran to the end (exit $py_rc)"

# An error of the command: a database that does not exist.
qp run transgeo:locatephotos -- PHOTO_FOLDER="$W/photos" DATABASE="$W/nope.sqlite" OUTPUT="$W/nope.gpkg"
if [ "$rc" -ne 0 ] && printf '%s\n' "$out" "$err" | grep -q "nope.sqlite"; then
    ok "a missing database: qgis_process.bin exits $rc with a message naming it"
else
    notok "a missing database: qgis_process.bin exits non-zero with a message naming it (exit $rc)"
    diag "$(printf '%s\n' "$out" "$err" | tail -n 10)"
fi
finish
