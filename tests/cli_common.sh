# tests/cli_common.sh - sourced by tests/cli_*.sh (not a test itself): TAP
# helpers, paths, and the small indexed fixture every CLI test starts from.
#
# Fixture: the 2009 NAIP raster of shared/data (5 m, EPSG:26914, 4.7 x 3.6 km)
# indexed with the tiny golden model (tests/golden/tiny/model.safetensors,
# registered as "tiny") in 1000 m tiles, stride 1000 m, 12.5 m per pixel:
# a few dozen 80 x 80 px tiles, indexed in about a second.
set -u
: "${TOP_SRCDIR:?TOP_SRCDIR is not set (run through make check)}"
: "${TOP_BUILDDIR:?TOP_BUILDDIR is not set (run through make check)}"
: "${TG_SHARED_DATA:=$TOP_SRCDIR/../shared/data}"
: "${TG_TMPDIR:=${TMPDIR:-/tmp}}"
: "${PYTHON3:=/usr/bin/python3}"
TG=$TOP_BUILDDIR/transgeo
PHOTOS=$TG_SHARED_DATA/photos
NAIP=$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20090818.tif
NAIP2018=$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20180716.tif
TINY=$TOP_SRCDIR/tests/golden/tiny/model.safetensors
FIXTURE_OPTS="--tile-m 1000 --stride-m 1000 --gsd-m 12.5"

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag() { echo "# $*"; }
# check DESCRIPTION COMMAND...: ok when COMMAND succeeds
check() {
    desc=$1
    shift
    if "$@"; then ok "$desc"; else notok "$desc"; fi
}
# run COMMAND...: sets rc, out (stdout) and err (stderr); never fails
run() {
    "$@" >"$W/.stdout" 2>"$W/.stderr"
    rc=$?
    out=$(cat "$W/.stdout")
    err=$(cat "$W/.stderr")
}
# expect_rc WANT DESCRIPTION: checks $rc, showing stderr on failure
expect_rc() {
    if [ "$rc" -eq "$1" ]; then ok "$2 (exit $1)"; else
        notok "$2: exit $rc, want $1"
        printf '%s\n' "$err" | head -5 | sed 's/^/#   stderr: /'
    fi
}
# contains HAYSTACK NEEDLE
contains() { case "$1" in *"$2"*) return 0 ;; *) return 1 ;; esac; }
# near A B TOL: |A - B| <= TOL (numbers as text)
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= t) }'; }
have() { command -v "$1" >/dev/null 2>&1; }
# workdir NAME: a fresh scratch directory in $W
workdir() {
    W=$TG_TMPDIR/$1
    rm -rf "$W"
    mkdir -p "$W"
}
# make_db DB: the fixture database
make_db() {
    cp "$TINY" "$W/tiny.safetensors" &&
        "$TG" index "$NAIP" --db "$1" --model "$W/tiny.safetensors" $FIXTURE_OPTS -q
}
# sql DB SQL: one query with the sqlite3 shell, SpatiaLite loaded
sql() { sqlite3 -batch -noheader "$1" ".load mod_spatialite" "$2" 2>&1; }
# geod_m LON1 LAT1 LON2 LAT2: geodesic metres on WGS84 (PROJ's geod)
geod_m() { echo "$2 $1 $4 $3" | geod +ellps=WGS84 -I -f '%.9f' -F '%.6f' +units=m | awk '{print $3}'; }
done_testing() {
    echo "1..$n"
    [ "$failed" -eq 0 ]
}
