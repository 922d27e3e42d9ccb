#!/bin/sh
# tests/world_cli.sh - `transgeo world` and tools/gen_worlds.sh: help and
# usage errors, a tiny world generated twice (byte-identical), its CRS by
# gdalsrsinfo, every panorama's GPS and GPano read back by exiftool -n
# against truth.csv, and a two-world training set with its merged index.
set -u
: "${TOP_BUILDDIR:=.}" "${TOP_SRCDIR:=.}" "${TG_TMPDIR:=/tmp}"
TG="$TOP_BUILDDIR/transgeo"
T="$TG_TMPDIR/world_cli"
rm -rf "$T"
mkdir -p "$T"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
bad() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" -eq 0 ]; then ok "$2"; else bad "$2"; fi; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }

"$TG" world --help > "$T/help.txt" 2>&1
check $? "transgeo world --help exits 0"
grep -q -- "--seed" "$T/help.txt" && grep -q -- "--pairs" "$T/help.txt"
check $? "--help lists --seed and --pairs"

"$TG" world > /dev/null 2> "$T/err.txt"
[ $? -eq 2 ] && grep -q "out DIR is required" "$T/err.txt"
check $? "no --out: exit 2, 'out DIR is required'"
"$TG" world --out "$T/x" --size-m abc > /dev/null 2> "$T/err.txt"
[ $? -eq 2 ] && grep -q "size-m: 'abc' is not a number" "$T/err.txt"
check $? "--size-m abc: exit 2"
"$TG" world --out "$T/x" --size-m 50 > /dev/null 2> "$T/err.txt"
[ $? -eq 2 ] && grep -q "size_m 50 is out of range" "$T/err.txt"
check $? "--size-m 50: exit 2, range in the message"
"$TG" world --out /nonexistent-dir/w --size-m 150 --panos 0 --photos 0 > /dev/null 2> "$T/err.txt"
[ $? -eq 1 ] && grep -q "cannot create directory '/nonexistent-dir/w'" "$T/err.txt"
check $? "unwritable output: exit 1, names the directory"

ARGS="--seed 3 --size-m 150 --panos 2 --photos 1 --pairs 2 --pano-w 128 --photo-w 128 --photo-h 96 --tile-m 30 --tile-px 60 --supersample 1 --threads 1 --quiet"
# shellcheck disable=SC2086
"$TG" world $ARGS --out "$T/a" > "$T/a.log" 2>&1
check $? "a 150 m world"
# shellcheck disable=SC2086
"$TG" world $ARGS --out "$T/b" > /dev/null 2>&1
check $? "the same world again"
same=0
for f in aerial.tif panos/0000.jpg panos/0001.jpg photos/0000.jpg pairs/ground/000001.jpg pairs/aerial/000001.png truth.csv pairs.csv world.json; do
    cmp -s "$T/a/$f" "$T/b/$f" || { same=1; echo "# differs: $f"; }
done
check $same "both runs byte-identical"

if command -v gdalsrsinfo > /dev/null 2>&1; then
    epsg=$(gdalsrsinfo -e "$T/a/aerial.tif" 2>/dev/null | grep -o 'EPSG:[0-9]*' | head -1)
    [ "$epsg" = "EPSG:32633" ]
    check $? "gdalsrsinfo: aerial.tif is $epsg"
else
    skip "gdalsrsinfo: aerial.tif CRS" "gdalsrsinfo (gdal-bin) not installed"
fi

if command -v exiftool > /dev/null 2>&1; then
    tail -n +2 "$T/a/truth.csv" | while IFS=, read -r file lon lat e nn heading; do
        out=$(exiftool -n -s3 -GPSLatitude -GPSLongitude -GPSImgDirection "$T/a/$file" | tr '\n' ' ')
        echo "$out" | awk -v lat="$lat" -v lon="$lon" -v h="$heading" '
            { d1 = $1 - lat; d2 = $2 - lon; d3 = $3 - h; if (d1 < 0) d1 = -d1; if (d2 < 0) d2 = -d2; if (d3 < 0) d3 = -d3;
              exit !(d1 < 1e-6 && d2 < 1e-6 && (d3 < 1e-3 || d3 > 359.999)) }'
        if [ $? -eq 0 ]; then echo "ok - $file: exiftool GPS $out = truth.csv"; else echo "not ok - $file: exiftool $out vs $lat $lon $heading"; fi
        case "$file" in
            panos/*)
                pt=$(exiftool -s3 -XMP-GPano:ProjectionType "$T/a/$file")
                if [ "$pt" = "equirectangular" ]; then echo "ok - $file: GPano ProjectionType"; else echo "not ok - $file: GPano ProjectionType '$pt'"; fi ;;
        esac
    done > "$T/exif.txt"
    grep -q "^not ok" "$T/exif.txt"
    [ $? -ne 0 ] && [ "$(grep -c '^ok' "$T/exif.txt")" -eq 5 ]
    check $? "exiftool -n: GPS of 2 panoramas + 1 photo = truth.csv, GPano on the panoramas"
    sed 's/^/# /' "$T/exif.txt"
else
    skip "exiftool: GPS = truth.csv" "exiftool (libimage-exiftool-perl) not installed"
fi

# --pano-rotate: the same panoramas, each rolled by a whole number of
# columns, with no heading in EXIF/XMP; truth.csv's heading is the roll's.
# Checked independently: Pillow decodes both, numpy finds the roll that
# matches best (JPEG blocks differ, so the best, not an exact, match).
# shellcheck disable=SC2086
"$TG" world $ARGS --pano-rotate --out "$T/r" > "$T/r.log" 2>&1
check $? "--pano-rotate world"
if command -v exiftool > /dev/null 2>&1; then
    [ -z "$(exiftool -q -s3 -GPSImgDirection -XMP-GPano:PoseHeadingDegrees "$T/r/panos/"*.jpg | grep -v "^====")" ] &&
        [ -n "$(exiftool -s3 -GPSImgDirection "$T/r/photos/"*.jpg)" ]
    check $? "--pano-rotate: panoramas carry no GPSImgDirection nor PoseHeadingDegrees; photos keep theirs"
else
    skip "--pano-rotate: no heading in EXIF/XMP" "exiftool not installed"
fi
"${PYTHON3:-/usr/bin/python3}" - "$T" > "$T/roll.txt" 2>&1 <<'PY'
import csv, sys
import numpy as np
from PIL import Image
t = sys.argv[1]
ok = True
rows = {r["file"]: r for r in csv.DictReader(open(t + "/r/truth.csv"))}
for f in ("panos/0000.jpg", "panos/0001.jpg"):
    a = np.asarray(Image.open(t + "/a/" + f), np.float64)
    b = np.asarray(Image.open(t + "/r/" + f), np.float64)
    W = a.shape[1]
    err = [np.abs(b - np.roll(a, -s, axis=1)).mean() for s in range(W)]
    s = int(np.argmin(err))
    h = float(rows[f]["heading"])
    d = abs((360.0 * s / W - h + 180) % 360 - 180)
    print("%s: best roll %d of %d (mean |diff| %.2f), truth heading %.4f, off by %.3f deg" % (f, s, W, err[s], h, d))
    ok &= d < 360.0 / W + 0.05 and err[s] < 3
print("OK" if ok else "FAIL")
PY
grep -q "^OK" "$T/roll.txt"
check $? "--pano-rotate: each panorama is the north-aligned one rolled to truth.csv's heading (numpy)"
sed 's/^/# /' "$T/roll.txt"

# a training set of two worlds
TRANSGEO="$TG" sh "$TOP_SRCDIR/tools/gen_worlds.sh" -n 2 -s 5 -j 2 -o "$T/set" -- --size-m 120 --panos 0 \
    --photos 0 --pairs 2 --pano-w 64 --tile-m 20 --tile-px 32 --no-aerial > "$T/set.log" 2>&1
check $? "gen_worlds.sh: 2 worlds"
[ -f "$T/set/world_5/world.json" ] && [ -f "$T/set/world_6/pairs/aerial/000001.png" ]
check $? "gen_worlds.sh: world_5 and world_6 written"
[ "$(wc -l < "$T/set/pairs.csv")" -eq 5 ] && head -1 "$T/set/pairs.csv" | grep -q "^seed,id,ground,aerial" &&
    grep -q "^6,1,world_6/pairs/ground/000001.jpg,world_6/pairs/aerial/000001.png," "$T/set/pairs.csv"
check $? "gen_worlds.sh: merged pairs.csv with 4 pairs, paths relative to the set"
TRANSGEO="$TG" sh "$TOP_SRCDIR/tools/gen_worlds.sh" -n 2 -s 5 -j 2 -o "$T/set" -- --size-m 120 --panos 0 \
    --photos 0 --pairs 2 --pano-w 64 --tile-m 20 --tile-px 32 --no-aerial > "$T/set2.log" 2>&1
[ $? -eq 0 ] && [ "$(grep -c 'exists, skipped' "$T/set2.log")" -eq 2 ]
check $? "gen_worlds.sh again: both worlds skipped (resumable)"
echo "1..$n"
