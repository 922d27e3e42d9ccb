#!/bin/sh
# tests/exif_vs_exiftool.sh - tg_photo_meta_read (via `tests/test_exif --dump`)
# against the installed `exiftool -n` on every photo in shared/data/photos:
# position to 1e-6 deg, altitude to 1e-6 m, heading to 1e-6 deg when exiftool
# has a GPSImgDirection (EXIF or XMP; the Mapillary JSON heading is ours
# alone), and Orientation (absent = 1). ExifTool's composite GPSLatitude/
# GPSLongitude fall back to XMP as ours do. The camera's tags (camera.h):
# FocalLengthIn35mmFormat, FocalLength, GPano Full/CroppedArea sizes, on
# the shared photos and on a small generated world (its photos carry
# FocalLengthIn35mmFilm written by GDAL, its panoramas GPano).
# GPSHPositioningError and GPSDOP (the per-photo prior's window) on copies
# exiftool writes them into, and on the shared photos (absent there = absent
# here). Skipped without exiftool (Debian: libimage-exiftool-perl).
set -u
: "${TOP_BUILDDIR:=.}"
: "${TG_SHARED_DATA:=$(dirname "$0")/../../shared/data}"
: "${TG_TMPDIR:=/tmp}"
dump="$TOP_BUILDDIR/tests/test_exif"

if ! command -v exiftool >/dev/null 2>&1; then
    echo "ok 1 - exiftool cross-check # SKIP exiftool not installed (apt-get install libimage-exiftool-perl)"
    echo "1..1"
    exit 0
fi
echo "# exiftool $(exiftool -ver)"
ref="$TG_TMPDIR/exif_vs_exiftool.ref"
ours="$TG_TMPDIR/exif_vs_exiftool.ours"
# One exiftool run and one dump for all files (perl start-up is slow).
w="$TG_TMPDIR/exif_vs_exiftool.world"
rm -rf "$w"
"$TOP_BUILDDIR/transgeo" world --seed 9 --size-m 150 --panos 2 --photos 2 --pano-w 128 --photo-w 160 \
    --photo-h 120 --photo-fov 70 --supersample 1 --threads 1 --quiet --out "$w" > /dev/null 2>&1
# Copies with a stated accuracy, written by exiftool itself.
acc="$TG_TMPDIR/exif_vs_exiftool.acc"
rm -rf "$acc" && mkdir -p "$acc"
exiftool -q -o "$acc/hpe_dop.jpg" -GPSLatitude=48.2 -GPSLatitudeRef=N -GPSLongitude=16.37 \
    -GPSLongitudeRef=E -GPSHPositioningError=12.5 -GPSDOP=2.25 "$TG_SHARED_DATA/photos/01.jpg"
exiftool -q -o "$acc/dop_only.jpg" -GPSLatitude=33.9 -GPSLatitudeRef=S -GPSLongitude=151.2 \
    -GPSLongitudeRef=E -GPSDOP=7.5 "$TG_SHARED_DATA/photos/01.jpg"
exiftool -q -o "$acc/hpe_only.jpg" -GPSLatitude=64.1 -GPSLatitudeRef=N -GPSLongitude=21.9 \
    -GPSLongitudeRef=W -GPSHPositioningError=3.0 "$TG_SHARED_DATA/photos/01.jpg"
set -- "$TG_SHARED_DATA"/photos/*.jpg "$w"/panos/*.jpg "$w"/photos/*.jpg "$acc"/*.jpg
exiftool -n -f -q -p '$Directory/$FileName $GPSLatitude $GPSLongitude $GPSAltitude $GPSImgDirection $Orientation $FocalLengthIn35mmFormat $FocalLength $FullPanoWidthPixels $CroppedAreaImageWidthPixels $CroppedAreaImageHeightPixels $GPSHPositioningError $GPSDOP' \
    "$@" > "$ref" 2>/dev/null
"$dump" --dump "$@" > "$ours"

awk '
    FNR == NR { rlat[$1] = $2; rlon[$1] = $3; ralt[$1] = $4; rdir[$1] = $5; ror[$1] = $6
                rf35[$1] = $7; rfoc[$1] = $8; rfw[$1] = $9; rcw[$1] = $10; rch[$1] = $11
                rhpe[$1] = $12; rdop[$1] = $13; next }
    function tap(ok, msg) { printf "%sok %d - %s\n", ok ? "" : "not ", ++n, msg; if (!ok) bad = 1 }
    function absd(x) { return x < 0 ? -x : x }
    {
        f = $1; name = f; sub(".*/", "", name)
        if (!(f in rlat)) { tap(0, name ": exiftool printed nothing for it"); next }
        delete v
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        if ($2 == "ERROR") { tap(0, name ": " $0); next }
        split(v["alt"], a, ":"); split(v["heading"], h, ":"); split(v["f35"], g, ":")
        split(v["hpe"], e, ":"); split(v["dop"], d, ":")
        if (rhpe[f] == "-" || rlat[f] == "-") tap(e[1] == 0, name ": no GPSHPositioningError (exiftool has none)")
        else tap(e[1] == 1 && absd(e[2] - rhpe[f]) <= 1e-6, name ": GPSHPositioningError " e[2] " vs exiftool " rhpe[f])
        if (rdop[f] == "-" || rlat[f] == "-") tap(d[1] == 0, name ": no GPSDOP (exiftool has none)")
        else tap(d[1] == 1 && absd(d[2] - rdop[f]) <= 1e-6, name ": GPSDOP " d[2] " vs exiftool " rdop[f])
        if (rlat[f] == "-") tap(v["gps"] == 0, name ": no GPS (exiftool has none)")
        else tap(v["gps"] == 1 && absd(v["lat"] - rlat[f]) <= 1e-6 && absd(v["lon"] - rlon[f]) <= 1e-6,
                 name ": lat/lon " v["lat"] " " v["lon"] " vs exiftool " rlat[f] " " rlon[f])
        if (ralt[f] == "-") tap(a[1] == 0, name ": no altitude (exiftool has none)")
        else tap(a[1] == 1 && absd(a[2] - ralt[f]) <= 1e-6, name ": altitude " a[2] " vs exiftool " ralt[f])
        if (rdir[f] != "-")
            tap(h[1] == 1 && absd(h[2] - rdir[f]) <= 1e-6, name ": heading " h[2] " vs exiftool " rdir[f])
        o = ror[f] == "-" ? 1 : ror[f]
        tap(v["orientation"] == o, name ": orientation " v["orientation"] " vs exiftool " o)
        if (rf35[f] == "-") tap(g[1] == 0, name ": no FocalLengthIn35mmFilm (exiftool has none)")
        else tap(g[1] == 1 && g[2] == rf35[f], name ": FocalLengthIn35mmFilm " g[2] " vs exiftool " rf35[f])
        fo = rfoc[f] == "-" ? 0 : rfoc[f]
        tap(absd(v["focal"] - fo) <= 1e-6, name ": FocalLength " v["focal"] " vs exiftool " fo)
        if (rfw[f] != "-")
            tap(v["fullw"] == rfw[f] && v["cropw"] == rcw[f] && v["croph"] == rch[f],
                name ": GPano full width " v["fullw"] ", cropped " v["cropw"] "x" v["croph"] " vs exiftool " rfw[f] ", " rcw[f] "x" rch[f])
        seen++
    }
    END {
        if (seen == 0) tap(0, "no photo compared")
        printf "1..%d\n", n
        exit bad
    }
' "$ref" "$ours"
