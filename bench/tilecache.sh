#!/bin/sh
# bench/tilecache.sh - speed and memory of `transgeo tiles` (tilecache), side
# by side with GDAL doing the same tiling in the same run. Not a test: it
# prints numbers and ratios, it asserts nothing.
#
#   sh bench/tilecache.sh [BUILD_DIR] [SCRATCH_DIR]
#      BUILD_DIR   holds the transgeo binary (default: ./build)
#      SCRATCH_DIR for tiles and the synthetic BigTIFF (default: /tmp/tg-bench-tiles;
#                  needs ~1.5 GB; removed at the end unless KEEP=1)
#   Environment: BIG_W x BIG_H (default 24000 x 18600: 1.34 GB of RGB pixels),
#                THREADS (GDAL warper threads for every side, default 1).
#
# Part 1, NAIP (shared/data, 934 x 724 px at 5 m, 4 bands): the same grid of
# 128 px tiles (256 m at 2 m/px, stride 128 m) made
#   a. by transgeo tiles (GeoTIFF tiles + footprints.gpkg), and with -f none;
#   b. by gdalwarp (whole grid, -te/-tr on the tile grid) + gdal_retile.py
#      -ps 128 128 -overlap 64 (the usual GDAL pipeline);
#   c. by one GDALWarp() per tile window in process (python3-gdal gdal.Warp),
#      i.e. "gdalwarp -te ... -ts 128 128" without the process start-up.
# Reported: tiles/s, MB/s of source file read (compressed bytes) and of
# decoded source pixels, and time ratios GDAL / transgeo (> 1: transgeo faster).
#
# Part 2, a synthetic BigTIFF larger than the tiler's memory bound (NAIP RGB
# upsampled to BIG_W x BIG_H, uncompressed, tiled, BIGTIFF=YES): transgeo tiles
# -f none with --max-mem 64 and GDAL_CACHEMAX=64, peak RSS from /usr/bin/time -v,
# next to gdalwarp of the same raster to the same grid (also GDAL_CACHEMAX=64).
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
rm -rf "$W" && mkdir -p "$W"

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
fmt() { printf '%.3f' "$1"; }

echo "# tilecache bench on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# GDAL $(gdal-config --version), warper threads $THREADS"
export GDAL_NUM_THREADS=$THREADS

for naip in m_4709963_se_14_1_20090818 m_4709963_se_14_1_20180716; do
    src="$DATA/rasters/$naip.tif"
    mb=$(echo "$(stat -c %s "$src") / 1048576" | bc -l)
    pix_mb=$(echo "934 * 724 * 4 / 1048576" | bc -l)
    opts="--tile-m 256 --gsd-m 2 --quiet --threads $THREADS"
    # the plan: grid origin and size, for GDAL to cut the same grid
    plan=$("$T" tiles "$src" -n --tile-m 256 --gsd-m 2)
    x0=$(echo "$plan" | sed -n 's/^grid: .* from (\([-0-9.]*\), .*/\1/p')
    y0=$(echo "$plan" | sed -n 's/^grid: .* from ([-0-9.]*, \([-0-9.]*\)).*/\1/p')
    nc=$(echo "$plan" | sed -n 's/^grid: \([0-9]*\) x .*/\1/p')
    nr=$(echo "$plan" | sed -n 's/^grid: [0-9]* x \([0-9]*\) .*/\1/p')
    wpx=$(( (nc - 1) * 64 + 128 ))
    hpx=$(( (nr - 1) * 64 + 128 ))
    x1=$(echo "$x0 + $wpx * 2" | bc -l)
    y1=$(echo "$y0 - $hpx * 2" | bc -l)
    echo "## $naip: $nc x $nr tiles of 128 px (256 m at 2 m/px, stride 128 m), grid $wpx x $hpx px"

    t0=$(now); "$T" tiles "$src" -o "$W/tg_$naip" $opts; t1=$(now)
    n_tg=$(ls "$W/tg_$naip"/*.tif | wc -l)
    t_tg=$(secs "$t0" "$t1")
    t0=$(now); "$T" tiles "$src" -o "$W/tgn_$naip" $opts -f none; t1=$(now)
    t_tgn=$(secs "$t0" "$t1")

    # GDAL side reads the same three bands (RGB of RGBN) through a VRT
    gdal_translate -q -of VRT -b 1 -b 2 -b 3 "$src" "$W/rgb_$naip.vrt"
    t0=$(now)
    gdalwarp -q -overwrite -te "$x0" "$y1" "$x1" "$y0" -tr 2 2 -r bilinear -dstalpha \
        -wo NUM_THREADS=$THREADS "$W/rgb_$naip.vrt" "$W/grid_$naip.tif"
    mkdir -p "$W/retile_$naip"
    gdal_retile.py -q -ps 128 128 -overlap 64 -targetDir "$W/retile_$naip" "$W/grid_$naip.tif"
    t1=$(now)
    n_rt=$(ls "$W/retile_$naip"/*.tif | wc -l)
    t_rt=$(secs "$t0" "$t1")

    t_py=$($PY - "$W/rgb_$naip.vrt" "$x0" "$y0" "$nc" "$nr" "$THREADS" <<'EOF'
import sys, time
from osgeo import gdal
gdal.UseExceptions()
src, x0, y0, nc, nr, th = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
t = time.time()
ds = gdal.Open(src)
for r in range(nr):
    for c in range(nc):
        xa, yb = x0 + c * 128, y0 - r * 128
        gdal.Warp("/vsimem/t.tif", ds, options=["-te", str(xa), str(yb - 256), str(xa + 256), str(yb), "-ts", "128", "128",
                  "-r", "bilinear", "-dstalpha", "-wo", "NUM_THREADS=" + th])
        gdal.Unlink("/vsimem/t.tif")
print(time.time() - t)
EOF
)
    n_py=$((nc * nr))
    echo "transgeo tiles (GeoTIFF + gpkg): $n_tg tiles in $(fmt $t_tg) s: $(fmt $(echo "$n_tg / $t_tg" | bc -l)) tiles/s, $(fmt $(echo "$mb / $t_tg" | bc -l)) MB/s file, $(fmt $(echo "$pix_mb / $t_tg" | bc -l)) MB/s pixels"
    echo "transgeo tiles -f none (tiler + gpkg): $(fmt $t_tgn) s: $(fmt $(echo "$n_tg / $t_tgn" | bc -l)) tiles/s"
    echo "gdalwarp + gdal_retile.py:         $n_rt tiles in $(fmt $t_rt) s: $(fmt $(echo "$n_rt / $t_rt" | bc -l)) tiles/s, $(fmt $(echo "$mb / $t_rt" | bc -l)) MB/s file"
    echo "GDALWarp() per tile (python, /vsimem): $n_py tiles in $(fmt $t_py) s: $(fmt $(echo "$n_py / $t_py" | bc -l)) tiles/s"
    echo "ratio (time per tile, GDAL / transgeo): gdalwarp+gdal_retile.py $(fmt $(echo "($t_rt / $n_rt) / ($t_tg / $n_tg)" | bc -l))x, per-tile GDALWarp $(fmt $(echo "($t_py / $n_py) / ($t_tgn / $n_tg)" | bc -l))x (vs -f none)"
done

echo "## synthetic BigTIFF ${BIG_W} x ${BIG_H} RGB, uncompressed"
big="$W/big.tif"
t0=$(now)
gdal_translate -q -b 1 -b 2 -b 3 -outsize "$BIG_W" "$BIG_H" -r bilinear -co BIGTIFF=YES -co TILED=YES \
    "$DATA/rasters/m_4709963_se_14_1_20090818.tif" "$big"
t1=$(now)
bytes=$(stat -c %s "$big")
echo "made $big: $(echo "$bytes / 1048576" | bc) MiB in $(fmt $(secs "$t0" "$t1")) s"
sync
plan=$("$T" tiles "$big" -n --tile-m 64 --gsd-m 0.5 --max-mem 64)
echo "$plan" | grep -E "^(source|grid|memory):"
GDAL_CACHEMAX=64 /usr/bin/time -v "$T" tiles "$big" -o "$W/big_tiles" -f none --tile-m 64 --gsd-m 0.5 \
    --max-mem 64 --threads "$THREADS" --quiet 2>"$W/time_tg.txt"
rss_tg=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$W/time_tg.txt")
wall_tg=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$W/time_tg.txt")
ntiles=$(ogrinfo -so "$W/big_tiles/footprints.gpkg" tiles | sed -n 's/Feature Count: //p')
x0=$(echo "$plan" | sed -n 's/^grid: .* from (\([-0-9.]*\), .*/\1/p')
y0=$(echo "$plan" | sed -n 's/^grid: .* from ([-0-9.]*, \([-0-9.]*\)).*/\1/p')
nc=$(echo "$plan" | sed -n 's/^grid: \([0-9]*\) x .*/\1/p')
nr=$(echo "$plan" | sed -n 's/^grid: [0-9]* x \([0-9]*\) .*/\1/p')
x1=$(echo "$x0 + (($nc - 1) * 64 + 128) * 0.5" | bc -l)
y1=$(echo "$y0 - (($nr - 1) * 64 + 128) * 0.5" | bc -l)
GDAL_CACHEMAX=64 /usr/bin/time -v gdalwarp -q -overwrite -te "$x0" "$y1" "$x1" "$y0" -tr 0.5 0.5 -r bilinear \
    -dstalpha -wm 64 -wo NUM_THREADS=$THREADS "$big" "$W/big_grid.tif" 2>"$W/time_gw.txt"
rss_gw=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$W/time_gw.txt")
wall_gw=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$W/time_gw.txt")
echo "transgeo tiles -f none --max-mem 64, GDAL_CACHEMAX=64: $ntiles tiles, wall $wall_tg, peak RSS $((rss_tg / 1024)) MiB (raster file $((bytes / 1048576)) MiB)"
echo "gdalwarp to the same grid (one GeoTIFF), GDAL_CACHEMAX=64: wall $wall_gw, peak RSS $((rss_gw / 1024)) MiB"
echo "peak RSS / raster size: transgeo $(fmt $(echo "$rss_tg * 1024 / $bytes" | bc -l)), gdalwarp $(fmt $(echo "$rss_gw * 1024 / $bytes" | bc -l))"
[ "${KEEP:-0}" = 1 ] || rm -rf "$W"
