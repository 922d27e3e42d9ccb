#!/bin/sh
# bench/tilecache.sh - speed and memory of `transgeo tiles` (tilecache), side
# by side with GDAL doing the same tiling in the same run. Not a test: it
# prints numbers and ratios, it asserts nothing.
#
#   sh bench/tilecache.sh [BUILD_DIR] [SCRATCH_DIR]
#      BUILD_DIR   holds the transgeo binary (default: ./build)
#      SCRATCH_DIR for tiles and the synthetic BigTIFF (default: /tmp/tg-bench-tiles;
#                  needs ~1.5 GB; removed at the end unless KEEP=1)
#   Environment: BIG_W, BIG_H (default 24000 x 18600: 1.25 GiB of RGB pixels),
#                THREADS (warper threads for every side, default 1).
#
# Part 1, NAIP (shared/data, 934 x 724 px at 5 m, RGBN): the same grid of
# 128 px tiles (256 m at 2 m/px, stride 128 m) made
#   a. by transgeo tiles (GeoTIFF DEFLATE tiles + footprints.gpkg), and -f none;
#   b. by gdalwarp (whole grid, -te/-tr on the tile grid) + gdal_retile.py
#      -ps 128 128 -overlap 64 (the usual GDAL pipeline, uncompressed tiles);
#   c. by one GDALWarp() per tile window in process (python3-gdal gdal.Warp),
#      i.e. "gdalwarp -te ... -ts 128 128" without the process start-up.
# The GDAL side reads the same 3 bands through a VRT. Reported: tiles/s and
# MB/s of source read (file bytes and decoded RGB pixels) per CPU second
# (user + sys: wall time on a shared machine is noise, but it is printed
# too), and CPU-time ratios GDAL / transgeo (> 1: transgeo is faster).
#
# Part 2, a synthetic BigTIFF larger than the tiler's memory bound (NAIP RGB
# upsampled to BIG_W x BIG_H, uncompressed, tiled, BIGTIFF=YES): transgeo tiles
# -f none --max-mem 64 with GDAL_CACHEMAX=64, peak RSS from /usr/bin/time -v,
# next to gdalwarp of the same raster to the same grid (GDAL_CACHEMAX=64, -wm 64).
set -eu
B=${1:-./build}
W=${2:-/tmp/tg-bench-tiles}
T="$B/transgeo"
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=${TG_SHARED_DATA:-$HERE/../../shared/data}
[ -d "$DATA/rasters" ] || DATA=/work/shared/data
PY=/usr/bin/python3
THREADS=${THREADS:-1}
BIG_W=${BIG_W:-24000}
BIG_H=${BIG_H:-18600}
[ -x "$T" ] || { echo "bench/tilecache.sh: no $T (build first)"; exit 1; }
[ -n "$W" ] && [ "$W" != / ] || { echo "bench/tilecache.sh: bad scratch dir"; exit 1; }
rm -rf "$W" && mkdir -p "$W"

fmt() { printf '%.3f' "$1"; }
# timed NAME CMD...: run CMD, keep "wall cpu" seconds (cpu = user + sys) in $W/NAME.t
timed() {
    name=$1
    shift
    /usr/bin/time -f "%e %U %S" -o "$W/$name.time" "$@"
    awk '{ printf "%s %s\n", $1, $2 + $3 }' "$W/$name.time" >"$W/$name.t"
}
wall() { cut -d' ' -f1 "$W/$1.t"; }
cpu() { cut -d' ' -f2 "$W/$1.t"; }
per_s() { fmt "$(echo "$1 / $2" | bc -l)"; }
# grid X0 Y0 NC NR from a plan on stdin
grid_of() { sed -n 's/^grid: \([0-9]*\) x \([0-9]*\) tiles from (\([-0-9.]*\), \([-0-9.]*\)).*/\3 \4 \1 \2/p'; }

cat >"$W/pertile.py" <<'PYEOF'
import sys
from osgeo import gdal
gdal.UseExceptions()
src, x0, y0, nc, nr, th = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
ds = gdal.Open(src)
for r in range(nr):
    for c in range(nc):
        xa, yb = x0 + c * 128, y0 - r * 128
        gdal.Warp("/vsimem/t.tif", ds, options=["-te", str(xa), str(yb - 256), str(xa + 256), str(yb), "-ts", "128",
                  "128", "-r", "bilinear", "-dstalpha", "-wo", "NUM_THREADS=" + th])
        gdal.Unlink("/vsimem/t.tif")
PYEOF

echo "# tilecache bench on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1 /proc/loadavg)"
echo "# GDAL $(gdal-config --version), warper threads $THREADS; rates per CPU second (user + sys)"

for naip in m_4709963_se_14_1_20090818 m_4709963_se_14_1_20180716; do
    src="$DATA/rasters/$naip.tif"
    mb=$(echo "$(stat -c %s "$src") / 1048576" | bc -l)
    pix_mb=$(echo "934 * 724 * 3 / 1048576" | bc -l)
    opts="--tile-m 256 --gsd-m 2 --quiet --threads $THREADS"
    set -- $("$T" tiles "$src" -n --tile-m 256 --gsd-m 2 | grid_of)
    x0=$1 y0=$2 nc=$3 nr=$4
    wpx=$(( (nc - 1) * 64 + 128 ))
    hpx=$(( (nr - 1) * 64 + 128 ))
    x1=$(echo "$x0 + $wpx * 2" | bc -l)
    y1=$(echo "$y0 - $hpx * 2" | bc -l)
    echo "## $naip: $nc x $nr tiles of 128 px (256 m at 2 m/px, stride 128 m), grid $wpx x $hpx px"

    timed tg "$T" tiles "$src" -o "$W/tg_$naip" $opts
    n_tg=$(ls "$W/tg_$naip" | grep -c '\.tif$')
    timed tgn "$T" tiles "$src" -o "$W/tgn_$naip" $opts -f none
    gdal_translate -q -of VRT -b 1 -b 2 -b 3 "$src" "$W/rgb_$naip.vrt"
    mkdir -p "$W/retile_$naip"
    timed rt sh -c "gdalwarp -q -overwrite -te $x0 $y1 $x1 $y0 -tr 2 2 -r bilinear -dstalpha \
        -wo NUM_THREADS=$THREADS '$W/rgb_$naip.vrt' '$W/grid_$naip.tif' &&
        gdal_retile.py -q -ps 128 128 -overlap 64 -targetDir '$W/retile_$naip' '$W/grid_$naip.tif'"
    n_rt=$(ls "$W/retile_$naip" | grep -c '\.tif$')
    timed py $PY "$W/pertile.py" "$W/rgb_$naip.vrt" "$x0" "$y0" "$nc" "$nr" "$THREADS"
    n_py=$((nc * nr))
    echo "transgeo tiles (GeoTIFF DEFLATE + gpkg): $n_tg tiles, cpu $(cpu tg) s (wall $(wall tg) s): $(per_s $n_tg $(cpu tg)) tiles/s, source $(per_s $mb $(cpu tg)) MB/s of file, $(per_s $pix_mb $(cpu tg)) MB/s of RGB pixels"
    echo "transgeo tiles -f none (tiler + gpkg):   $n_tg tiles, cpu $(cpu tgn) s (wall $(wall tgn) s): $(per_s $n_tg $(cpu tgn)) tiles/s, source $(per_s $mb $(cpu tgn)) MB/s of file, $(per_s $pix_mb $(cpu tgn)) MB/s of RGB pixels"
    echo "gdalwarp + gdal_retile.py (GeoTIFF):     $n_rt tiles, cpu $(cpu rt) s (wall $(wall rt) s): $(per_s $n_rt $(cpu rt)) tiles/s, source $(per_s $mb $(cpu rt)) MB/s of file"
    echo "GDALWarp() per tile (python, /vsimem):   $n_py tiles, cpu $(cpu py) s (wall $(wall py) s): $(per_s $n_py $(cpu py)) tiles/s"
    echo "ratio, CPU per tile GDAL / transgeo: gdalwarp+gdal_retile.py / transgeo tiles $(fmt $(echo "($(cpu rt) / $n_rt) / ($(cpu tg) / $n_tg)" | bc -l))x; per-tile GDALWarp / transgeo -f none $(fmt $(echo "($(cpu py) / $n_py) / ($(cpu tgn) / $n_tg)" | bc -l))x"
done

echo "## synthetic BigTIFF ${BIG_W} x ${BIG_H} RGB, uncompressed"
big="$W/big.tif"
timed mk gdal_translate -q -b 1 -b 2 -b 3 -outsize "$BIG_W" "$BIG_H" -r bilinear -co BIGTIFF=YES -co TILED=YES \
    "$DATA/rasters/m_4709963_se_14_1_20090818.tif" "$big"
bytes=$(stat -c %s "$big")
echo "made $big: $((bytes / 1048576)) MiB in $(wall mk) s"
plan=$("$T" tiles "$big" -n --tile-m 64 --gsd-m 0.5 --max-mem 64)
echo "$plan" | grep -E "^(source|grid|memory):"
set -- $(echo "$plan" | grid_of)
x0=$1 y0=$2 nc=$3 nr=$4
x1=$(echo "$x0 + (($nc - 1) * 64 + 128) * 0.5" | bc -l)
y1=$(echo "$y0 - (($nr - 1) * 64 + 128) * 0.5" | bc -l)
GDAL_CACHEMAX=64 /usr/bin/time -v "$T" tiles "$big" -o "$W/big_tiles" -f none --tile-m 64 --gsd-m 0.5 \
    --max-mem 64 --threads "$THREADS" --quiet 2>"$W/time_tg.txt"
GDAL_CACHEMAX=64 /usr/bin/time -v gdalwarp -q -overwrite -te "$x0" "$y1" "$x1" "$y0" -tr 0.5 0.5 -r bilinear \
    -dstalpha -wm 64 -wo NUM_THREADS="$THREADS" "$big" "$W/big_grid.tif" 2>"$W/time_gw.txt"
field() { sed -n "s/.*$1: //p" "$2"; }
rss_tg=$(field "Maximum resident set size (kbytes)" "$W/time_tg.txt")
rss_gw=$(field "Maximum resident set size (kbytes)" "$W/time_gw.txt")
cpu_tg=$(echo "$(field "User time (seconds)" "$W/time_tg.txt") + $(field "System time (seconds)" "$W/time_tg.txt")" | bc -l)
cpu_gw=$(echo "$(field "User time (seconds)" "$W/time_gw.txt") + $(field "System time (seconds)" "$W/time_gw.txt")" | bc -l)
ntiles=$(ogrinfo -so "$W/big_tiles/footprints.gpkg" tiles | sed -n 's/Feature Count: //p')
echo "transgeo tiles -f none --max-mem 64, GDAL_CACHEMAX=64: $ntiles tiles, cpu $(fmt $cpu_tg) s: $(per_s $ntiles $cpu_tg) tiles/s, $(per_s $((bytes / 1048576)) $cpu_tg) MB/s of file; peak RSS $((rss_tg / 1024)) MiB for a $((bytes / 1048576)) MiB raster"
echo "gdalwarp to the same grid (one GeoTIFF), GDAL_CACHEMAX=64, -wm 64: cpu $(fmt $cpu_gw) s; peak RSS $((rss_gw / 1024)) MiB"
echo "peak RSS / raster size: transgeo $(fmt $(echo "$rss_tg * 1024 / $bytes" | bc -l)), gdalwarp $(fmt $(echo "$rss_gw * 1024 / $bytes" | bc -l)); CPU gdalwarp / transgeo $(fmt $(echo "$cpu_gw / $cpu_tg" | bc -l))x"
[ "${KEEP:-0}" = 1 ] || rm -rf "$W"
