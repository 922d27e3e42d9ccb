#!/bin/sh
# tests/cli_eval.sh - `transgeo eval`: R@k, R@1%, hit rate and metre error on a
# tiny labelled set whose answers are known by construction, checked against
# a hand computation; truth from GPS EXIF; errors and exit codes.
#
# The labelled set: 4 photos whose "true" positions are put, in a truth CSV,
# at tile centres chosen from what `transgeo locate` ranks for each photo:
#   01.jpg         at the centre of its best tile          -> rank 1, hit, 0 m
#   02.jpg         22 m north of its best tile's centre    -> rank 1, hit, ~22 m
#   03.jpg         at the centre of its 2nd best tile      -> rank 2, no hit, ~1 km
#   test_exif.jpg  at the centre of its 3rd best tile      -> rank 3, no hit, ~1 km
# plus empty_exif.jpg (no GPS, no truth row: skipped) and a text file (failed).
. "$TOP_SRCDIR/tests/cli_common.sh"
workdir cli_eval
DB=$W/fixture.sqlite
run make_db "$DB"
expect_rc 0 "fixture: index the NAIP raster with the tiny model"
N=$(sql "$DB" "SELECT count(*) FROM tg_tiles")

# ---- usage and fatal errors ------------------------------------------------
run "$TG" eval --help
expect_rc 0 "--help"
run "$TG" eval "$PHOTOS/01.jpg"
expect_rc 2 "no --db"
run "$TG" eval --db "$DB"
expect_rc 2 "no photo"
run "$TG" eval --db "$DB" "$PHOTOS/01.jpg" --frobnicate
expect_rc 2 "unknown option"
run "$TG" eval --db "$W/missing.sqlite" "$PHOTOS/01.jpg"
expect_rc 1 "missing database"
run "$TG" eval --db "$DB" "$PHOTOS/empty_exif.jpg"
expect_rc 1 "no photo with a known position"
check "  ... message says how to give positions" contains "$err" "give photos with GPS EXIF or --truth CSV"
printf 'name,x,y\na.jpg,1,2\n' >"$W/badtruth.csv"
run "$TG" eval --db "$DB" "$PHOTOS/01.jpg" --truth "$W/badtruth.csv"
expect_rc 1 "truth CSV without file,lat,lon columns"
check "  ... message names the columns" contains "$err" "file, lat and lon"
printf 'file,lat,lon\n01.jpg,north,3\n' >"$W/badtruth.csv"
run "$TG" eval --db "$DB" "$PHOTOS/01.jpg" --truth "$W/badtruth.csv"
expect_rc 1 "truth CSV with a bad number"
check "  ... message names the line" contains "$err" "line 2"

# ---- the labelled set ------------------------------------------------------
P=$W/photos
mkdir -p "$P"
for f in 01.jpg 02.jpg 03.jpg test_exif.jpg empty_exif.jpg; do cp "$PHOTOS/$f" "$P/"; done
echo "not a photo" >"$P/notes.txt"
run "$TG" locate "$P" --db "$DB" -k 3 -o "$W/loc.gpkg" -q
expect_rc 0 "locate the photos (to pick the tiles)"
# tile id of PHOTO's match of RANK, and the exact centre of a tile
tile_of() { sqlite3 "$W/loc.gpkg" "SELECT tile_id FROM matched_tiles WHERE file = '$P/$1' AND rank = $2"; }
centre() { sqlite3 -separator ' ' "$DB" "SELECT printf('%.17g', center_lon), printf('%.17g', center_lat) FROM tg_tiles WHERE id = $1"; }
T01=$(tile_of 01.jpg 1) T02=$(tile_of 02.jpg 1) T03=$(tile_of 03.jpg 1) TEX=$(tile_of test_exif.jpg 1)
T03b=$(tile_of 03.jpg 2) TEXc=$(tile_of test_exif.jpg 3)
set -- $(centre "$T01")
X01=$1 Y01=$2
set -- $(centre "$T02")
X02=$1 Y02=$2 Y02n=$(awk -v y="$2" 'BEGIN { printf "%.17g", y + 0.0002 }')
set -- $(centre "$T03")
X03=$1 Y03=$2
set -- $(centre "$T03b")
X03b=$1 Y03b=$2
set -- $(centre "$TEX")
XEX=$1 YEX=$2
set -- $(centre "$TEXc")
XEXc=$1 YEXc=$2
{
    echo "file,lat,lon"
    echo "01.jpg,$Y01,$X01"               # by base name
    echo "$P/02.jpg,$Y02n,$X02"           # by path
    echo "03.jpg,$Y03b,$X03b"
    echo "\"test_exif.jpg\",$YEXc,$XEXc"  # quoted, as spreadsheets write it
    echo "elsewhere.jpg,10,10"            # a photo not evaluated: ignored
} >"$W/truth.csv"
diag "best tiles: 01 $T01, 02 $T02, 03 $T03 (2nd $T03b), test_exif $TEX (3rd $TEXc); $N tiles"

# --refine off: the errors of tile centres, computed by hand below (refinement:
# the next block)
run "$TG" eval --db "$DB" "$P" --truth "$W/truth.csv" --json --refine off
expect_rc 0 "eval --json on the labelled set"
printf '%s\n' "$out" >"$W/eval.json"
# metres of the metre-level errors, from PROJ's geod (Karney's geodesics)
E02=$(geod_m "$X02" "$Y02" "$X02" "$Y02n")
E03=$(geod_m "$X03" "$Y03" "$X03b" "$Y03b")
EEX=$(geod_m "$XEX" "$YEX" "$XEXc" "$YEXc")
diag "errors: 0, $E02, $E03, $EEX m"
"$PYTHON3" - "$W/eval.json" "$N" "$E02" "$E03" "$EEX" "$P" "$T01" "$T02" "$T03" "$T03b" "$TEX" "$TEXc" \
    >"$W/checks.txt" 2>&1 <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
n_tiles, e02, e03, eex = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
P = sys.argv[6]
t01, t02, t03, t03b, tex, texc = (int(x) for x in sys.argv[7:13])
def check(ok, what):  # one line per check: PASS|FAIL what (numbered by the shell)
    print(("PASS" if ok else "FAIL"), what)
def near(got, want, tol, what):
    check(got is not None and abs(got - want) <= tol, "%s: %r (want %r)" % (what, got, want))

# Hand computation. ranks = [1, 1, 2, 3]; hits = [1, 1, 0, 0];
# errors = [0, e02, e03, eex] with e02 ~ 22 m and e03, eex ~ 1000 m or more.
n = 4
k1pct = max(1, n_tiles // 100)                      # train.py: M//100, at least 1
ranks = [1, 1, 2, 3]
r1, r5, r10 = 2 / 4, 4 / 4, 4 / 4                   # ranks <= 1: 2; <= 5: 4; <= 10: 4
r1pct = sum(r <= k1pct for r in ranks) / 4          # k1pct = 1 here: 2/4
hit = 2 / 4                                         # 01 and 02 lie in their best tile
errs = sorted([0.0, e02, e03, eex])
median = (errs[1] + errs[2]) / 2                    # even count: mean of the middle two
mean = (0.0 + e02 + e03 + eex) / 4
w5, w10, w25, w50 = 1 / 4, 1 / 4, 2 / 4, 2 / 4      # 0 m; 0 m; 0 and 22 m; still 2
check(k1pct == 1 and j["k_1pct"] == 1, "k_1pct = max(1, %d // 100) = 1" % n_tiles)
check(j["n_tiles"] == n_tiles, "n_tiles = %d" % n_tiles)
check(j["n_photos"] == 4 and j["n_unlabelled"] == 1 and j["n_failed"] == 1,
      "4 evaluated, 1 without position, 1 unreadable")
check(j["model"] == "tiny", "model tiny")
for key, want in (("r1", r1), ("r5", r5), ("r10", r10), ("r1pct", r1pct), ("hit_rate", hit)):
    near(j[key], want, 1e-12, key)
e = j["error_m"]
near(e["median"], median, 1e-3, "median error = (%g + %g) / 2" % (errs[1], errs[2]))
near(e["mean"], mean, 1e-3, "mean error = (0 + %g + %g + %g) / 4" % (e02, e03, eex))
for key, want in (("within_5m", w5), ("within_10m", w10), ("within_25m", w25), ("within_50m", w50)):
    near(e[key], want, 1e-12, key)
ph = {p["file"]: p for p in j["photos"]}
want = {"01.jpg": (1, True, 0.0, t01, t01), "02.jpg": (1, True, e02, t02, t02),
        "03.jpg": (2, False, e03, t03b, t03), "test_exif.jpg": (3, False, eex, texc, tex)}
for f, (rank, h, err, true_id, top1) in want.items():
    p = ph.get(P + "/" + f, {})
    check(p.get("rank") == rank and p.get("hit") == h and p.get("truth") == "csv"
          and p.get("true_tile_id") == true_id and p.get("top1_tile_id") == top1,
          "%s: rank %d, hit %s, true tile %d, best tile %d (got %r)" % (f, rank, h, true_id, top1, p))
    near(p.get("error_m"), err, 1e-3, "%s: error_m" % f)
check("no known position" in ph.get(P + "/empty_exif.jpg", {}).get("error", ""),
      "empty_exif.jpg: skipped, no known position")
check("not an image" in ph.get(P + "/notes.txt", {}).get("error", ""), "notes.txt: unreadable")
EOF
# Refinement (on by default for a cheap model, as the tiny one): the error is
# the geodesic from the refined point to the truth (pyproj's Geod), the tile
# error the same as above, and the refined point within a stride of the tile.
run "$TG" eval --db "$DB" "$P" --truth "$W/truth.csv" --json
expect_rc 0 "eval --json, refined by default"
printf '%s\n' "$out" >"$W/eval_ref.json"
"$PYTHON3" - "$W/eval.json" "$W/eval_ref.json" >>"$W/checks.txt" 2>&1 <<'EOF'
import json, sys
from pyproj import Geod
g = Geod(ellps="WGS84")
a = {p["file"]: p for p in json.load(open(sys.argv[1]))["photos"] if "rank" in p}
j = json.load(open(sys.argv[2]))
b = {p["file"]: p for p in j["photos"] if "rank" in p}
print("PASS" if j["n_refined"] == 4 and j["n_refine_tiles"] > 0 else "FAIL",
      "4 photos refined from %r raster tiles" % j.get("n_refine_tiles"))
for f, p in b.items():
    d = g.inv(p["lon_est"], p["lat_est"], p["lon"], p["lat"])[2]
    t = g.inv(p["lon_est"], p["lat_est"], p["top1_lon"], p["top1_lat"])[2]
    ok = (abs(p["error_m"] - d) <= 1e-3 and abs(p["tile_error_m"] - a[f]["error_m"]) <= 1e-3
          and t <= 320 and p["rank"] == a[f]["rank"])
    print("PASS" if ok else "FAIL", "%s refined: error %.3f m = geodesic %.3f m, tile error %.3f m "
          "as unrefined, %.1f m from its tile" % (f.split("/")[-1], p["error_m"], d,
                                                  p["tile_error_m"], t))
EOF
if grep -qE '^(PASS|FAIL) ' "$W/checks.txt"; then
    while read -r verdict what; do
        case $verdict in
        PASS) ok "$what" ;;
        FAIL) notok "$what" ;;
        *) diag "$verdict $what" ;;
        esac
    done <"$W/checks.txt"
else
    notok "hand computation ran"
    sed 's/^/# /' "$W/checks.txt"
fi

run "$TG" eval --db "$DB" "$P" --truth "$W/truth.csv" -q
expect_rc 0 "eval (table)"
check "table: R@1 50.00 %" contains "$out" "R@1               50.00 %"
check "table: R@1% with k=1" contains "$out" "R@1% (k=1)        50.00 %"
check "table: hit rate 50.00 %" contains "$out" "hit rate          50.00 %"
check "table: counts" contains "$out" "4 evaluated, 1 without a known position, 1 unreadable"
check "-q: no warnings" test -z "$err"
run "$TG" eval --db "$DB" "$P" --truth "$W/truth.csv"
check "without -q: the skipped photos are named" contains "$err" "empty_exif.jpg' has no known position"

# ---- truth from GPS EXIF: the error is locate's gps_error_m ------------------
run "$TG" eval --db "$DB" "$P/01.jpg" --json
expect_rc 0 "eval with the truth from GPS EXIF"
GPSERR=$(sqlite3 "$W/loc.gpkg" "SELECT printf('%.17g', gps_error_m) FROM photos WHERE file = '$P/01.jpg'")
printf '%s\n' "$out" | "$PYTHON3" -c '
import json, sys
j = json.load(sys.stdin); p = j["photos"][0]; want = float(sys.argv[1]); n = int(sys.argv[2])
ok = (p["truth"] == "gps" and abs(p["error_m"] - want) <= 1e-6 * want
      and abs(p["lat"] - 52.5189167) < 1e-6 and abs(p["lon"] - 13.4002944) < 1e-6
      and 1 <= p["rank"] <= n and j["r1pct"] == (1.0 if p["rank"] == 1 else 0.0))
sys.exit(0 if ok else 1)' "$GPSERR" "$N"
check_rc=$?
check "GPS truth: position from EXIF, error_m = locate's gps_error_m ($GPSERR m)" test "$check_rc" -eq 0

# ---- --progress=json: one JSON object per line (transgeo(1), PROGRESS) -------
run "$TG" eval --db "$DB" "$P/01.jpg" "$P/02.jpg" --json --progress=json
expect_rc 0 "eval 2 photos with --progress=json"
check "  ... stderr: JSON lines, stage photos, 2 of 2 at the end" \
    "$PYTHON3" "$TOP_SRCDIR/tests/progress_check.py" "$W/.stderr" photos 2
check "  ... stdout is still the report, valid JSON" \
    "$PYTHON3" -c 'import json, sys; json.loads(sys.argv[1])' "$out"

done_testing
