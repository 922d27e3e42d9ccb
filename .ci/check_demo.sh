#!/bin/sh
# .ci/check_demo.sh - checks what the README's demo command did in a fresh
# clone (.ci/run runs it): its exit status, what `transgeo demo` printed
# (src/cli/cmd_demo.c: the header, the index line, per set "N located
# against M tiles", the recall and error lines, the files written), and the
# files themselves, read back with the tools of the field (transgeo info,
# ogrinfo, gdalinfo) rather than trusted from the printout.
#
#   .ci/check_demo.sh CLONE_DIR LOG EXIT_STATUS
#
# The recall floor is half the README's figure for the default town
# (R@10 46 %: >= 23 %). Prints TAP and ends with "N passed, N failed, 0 skipped (0 allowed)".
set -u
dir=$1 log=$2 status=$3
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { # check DESCRIPTION COMMAND...
    d=$1
    shift
    if "$@"; then ok "$d"; else notok "$d"; fi
}
has() { grep -Eq -- "$1" "$log"; }

check "the README's demo command exits 0 (exit $status)" test "$status" -eq 0
check "it prints the demo header with the shipped model" \
    has '^transgeo demo: seed [0-9]+, [0-9]+ x [0-9]+ m town, model .*models/demo\.safetensors \(sha256 [0-9a-f]{12}\.\.\.\)$'
tiles=$(sed -n 's/^index: \([0-9]*\) tiles of .*/\1/p' "$log")
check "it prints the index line (${tiles:-no} tiles)" test "${tiles:-0}" -gt 0
npano=$(sed -n 's/^panoramas (360 degrees): \([0-9]*\) located against \([0-9]*\) tiles.*/\1 \2/p' "$log")
set -- $npano
check "panoramas: ${1:-?} located against ${2:-?} tiles (the index's)" \
    test "${1:-0}" -gt 0 -a "${2:-x}" = "${tiles:-y}"
panos=${1:-0}
check "perspective photos: located against the same tiles" \
    has "^perspective photos \(90 degrees\): [0-9]+ located against ${tiles:-x} tiles"
# The recall lines: two (panoramas, photos), each R@1 <= R@5 <= R@10 <= 100.
recall=$(sed -n 's/^  R@1 *\([0-9.]*\)%   R@5 *\([0-9.]*\)%   R@10 *\([0-9.]*\)%.*/\1 \2 \3/p' "$log")
check "two recall lines, each R@1 <= R@5 <= R@10 <= 100 %" sh -c '
    [ "$(printf "%s\n" "$1" | grep -c .)" -eq 2 ] &&
    printf "%s\n" "$1" | awk "{ if (!(\$1 <= \$2 && \$2 <= \$3 && \$3 <= 100)) bad = 1 } END { exit bad }"' _ "$recall"
r10=$(printf '%s\n' "$recall" | head -n 1 | awk '{ print $3 }')
check "panoramas: R@10 ${r10:-?} % >= 23 % (half the README's 46 %; chance 10 / ${tiles:-?} tiles)" \
    awk -v r="${r10:-0}" 'BEGIN { exit !(r >= 23) }'
check "two error lines (median, mean, within 5 / 10 / 25 / 50 m)" \
    test "$(grep -Ec '^  error: median [0-9.]+ m, mean [0-9.]+ m; within 5 m [0-9]+%, 10 m [0-9]+%, 25 m [0-9]+%, 50 m [0-9]+%$' "$log")" -eq 2
check "it prints what it wrote" \
    has '^wrote transgeo-demo/demo\.sqlite, transgeo-demo/located\.gpkg, transgeo-demo/map\.png$'

out=$dir/transgeo-demo
ntiles=$("$dir/build/transgeo" info "$out/demo.sqlite" 2>/dev/null | sed -n 's/^tiles: *\([0-9]*\)$/\1/p')
check "demo.sqlite: transgeo info counts ${ntiles:-no} tiles, as printed" test "${ntiles:-x}" = "${tiles:-y}"
npts=$(ogrinfo -q -sql "SELECT COUNT(*) AS n FROM photos" "$out/located.gpkg" 2>/dev/null |
    sed -n 's/.*n (Integer[^)]*) = //p')
check "located.gpkg: ogrinfo reads ${npts:-no} points, one per panorama located" \
    test "${npts:-x}" = "$panos"
check "map.png: a PNG GDAL reads" sh -c 'gdalinfo "$1" 2>/dev/null | grep -q "^Driver: PNG/"' _ "$out/map.png"
check "world/aerial.tif: a GeoTIFF GDAL reads" \
    sh -c 'gdalinfo "$1" 2>/dev/null | grep -q "^Driver: GTiff/"' _ "$out/world/aerial.tif"
echo "1..$n"
echo "$((n - failed)) passed, $failed failed, 0 skipped (0 allowed)"
[ "$failed" -eq 0 ]
