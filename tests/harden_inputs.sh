#!/bin/sh
# tests/harden_inputs.sh - the bad-input matrix (issue 10): each bad input
# must give a clear error (exit status and message checked) and leave the
# database as it was (content digest and file sha256 compared before and
# after), through the command line and through SQL (mod_transgeo in the
# sqlite3 shell).
#
#   models   truncated (header, data), bit-flipped (header, data: refused at
#            registration by the CLI and by SQL tg_model_register), wrong
#            tensor shape, another architecture (arch "vit", arch missing),
#            empty, not a model at all
#   photos   empty, decompression bomb (50000 x 50000 PNG header), truncated
#            JPEG, text named .jpg: listed as failures, the batch goes on
#   rasters  not georeferenced (refused), rotated geotransform (indexed,
#            north-up tiles inside the raster), truncated GeoTIFF, a tile size
#            that makes an absurd grid (> 1e8 tiles), an absurd tile size (gsd
#            more than 1000 times the pixels read: the warper's kernel)
#   SQL      NULL in -> NULL out; wrong types and oversized values (20 MB
#            BLOB, 100 KB path, k = 1e9, 300-byte name): the documented
#            "fn(): argument N: ..." errors
#   read-only database: sqlite3 -readonly, PRAGMA query_only, and the CLI on
#            a chmod 444 file: as this user, or as root as user nobody (root
#            ignores file modes), with copies in a 0755 directory under /tmp
#            (nobody may not reach the build tree)
#   locked database: another connection in BEGIN EXCLUSIVE (held until the
#            test releases it): SQL with a short busy timeout gets "database
#            is locked"; the CLI (10 s busy timeout) waits for a lock
#            released 2 s after it started and succeeds
#   disk full: PRAGMA max_page_count during tg_index_raster: "database or disk
#            is full", only whole batches stored, a rerun after lifting the
#            limit completes to the same tiles as an unconstrained run
# Fixture: the 2018 NAIP raster of shared/data indexed with the tiny golden
# model in 1000 m tiles (15 tiles, about a second).
set -u
: "${TOP_SRCDIR:?run through make check}"
: "${TOP_BUILDDIR:?run through make check}"
: "${TG_SHARED_DATA:=$TOP_SRCDIR/../shared/data}"
: "${TG_TMPDIR:=${TMPDIR:-/tmp}}"
. "$TOP_SRCDIR/tests/sql_lib.sh"

T=$TOP_BUILDDIR/transgeo
TINY=$TOP_SRCDIR/tests/golden/tiny/model.safetensors
R=$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20180716.tif
PHOTO=$TG_SHARED_DATA/photos/fixed_exif.jpg
FZ=$TOP_SRCDIR/tests/fuzz/corpus/raster
W=$TG_TMPDIR/harden_inputs
PY=${PYTHON3:-/usr/bin/python3}
rm -rf "$W"
mkdir -p "$W"
cd "$W" || exit 1

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag() { echo "# $*" | head -c 2000; echo; }
# run CMD...: rc, out, err
run() {
    "$@" >"$W/.out" 2>"$W/.err"
    rc=$?
    out=$(cat "$W/.out")
    err=$(cat "$W/.err")
}
# expect WANT_RC REGEX WHAT: checks $rc and that stderr matches REGEX (grep -E)
expect() {
    if [ "$rc" -eq "$1" ] && printf '%s\n' "$err" | grep -Eq -- "$2"; then
        ok "$3: exit $1, message /$2/"
    else
        notok "$3: exit $rc (want $1), message /$2/"
        diag "stderr: $err"
    fi
}
# state DB: digest of the database content (models, rasters, tiles with
# their embeddings and footprints) and of the file itself
state() {
    c=$(sqlite3 "$1" "SELECT id, name, sha256, path FROM tg_models ORDER BY id;
        SELECT id, sha256, tile_m, stride_m, complete, n_tiles FROM tg_rasters ORDER BY id;
        SELECT id, raster_id, model_id, col, row, hex(embedding), hex(geom) FROM tg_tiles ORDER BY id;" \
        2>&1 | sha256sum | cut -c1-16)
    f=$(sha256sum "$1" | cut -c1-16)
    echo "$c/$f"
}
# same DB BEFORE WHAT
same() {
    now=$(state "$1")
    if [ "$now" = "$2" ]; then ok "$3: database unchanged"; else notok "$3: database changed ($2 -> $now)"; fi
}
tg_sql() { # DB SCRIPT: the shell with both extensions, errors on stderr, no bail
    printf '.load %s\n.load %s\n.bail off\n%s\n' "$MOD_SPATIALITE" "$MOD_TG" "$2" >"$W/.sql"
    tg_sqlite "$1" <"$W/.sql"
}

if ! tg_sql_init >/dev/null; then
    echo "1..0 # SKIP sqlite3 shell not found"
    exit 77
fi

# ---- fixture -----------------------------------------------------------------------
DB=$W/db.sqlite
run "$T" index -q "$R" --db "$DB" -m "$TINY" --tile-m 1000 --stride-m 1000 --gsd-m 12.5
if [ "$rc" -ne 0 ]; then
    notok "fixture: index the NAIP raster with the tiny model"
    diag "$err"
    echo "1..$n"
    exit 1
fi
cp "$DB" "$W/fixture.sqlite"
S0=$(state "$DB")
NT=$(sqlite3 "$DB" "SELECT count(*) FROM tg_tiles")
# fresh: the database back to the fixture (each case starts from it)
fresh() {
    rm -f "$DB" "$DB-wal" "$DB-shm"
    cp "$W/fixture.sqlite" "$DB"
}
ok "fixture: $NT tiles"

# ---- models ------------------------------------------------------------------------
"$PY" - "$TINY" "$W" "$PHOTO" <<'EOF'
import copy, json, struct, sys
src, w, photo = sys.argv[1], sys.argv[2], sys.argv[3]
b = open(src, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h, d = json.loads(b[8:8 + n]), b[8 + n:]
def put(name, data):
    open("%s/%s.safetensors" % (w, name), "wb").write(data)
def hdr(name, edit):
    x = copy.deepcopy(h)
    edit(x)
    s = json.dumps(x).encode()
    s += b" " * ((-(8 + len(s))) % 64)
    put(name, struct.pack("<Q", len(s)) + s + d)
put("trunc_header", b[:5000])
put("trunc_data", b[:8 + n + len(d) // 2])
f = bytearray(b); f[20] ^= 0x01; put("flip_header", bytes(f))       # inside "__metadata__"
f = bytearray(b); f[8 + n + len(d) // 3] ^= 0x40; put("flip_data", bytes(f))
def shape(x):
    t = x["ground.blocks.0.attn.qkv.weight"]; t["shape"] = t["shape"][::-1]
hdr("wrong_shape", shape)
hdr("arch_vit", lambda x: x["__metadata__"].update(arch="vit"))
hdr("arch_missing", lambda x: x["__metadata__"].pop("arch"))
put("empty", b"")
put("not_a_model", open(photo, "rb").read())
EOF
for c in "trunc_header|truncated" \
    "trunc_data|truncated|beyond the data section" \
    "flip_header|model '[^']*flip_header.safetensors'" \
    "wrong_shape|tensor 'ground.blocks.0.attn.qkv.weight' does not have shape \[96,32\]" \
    "arch_vit|metadata arch is not 'transgeo'" \
    "arch_missing|metadata key 'arch' is missing" \
    "empty|too short|empty" \
    "not_a_model|not a safetensors file|not a model"; do
    name=${c%%|*}
    re=${c#*|}
    fresh
    run "$T" index -q "$R" --db "$DB" -m "$W/$name.safetensors" --tile-m 500
    expect 1 "$re" "model $name"
    same "$DB" "$S0" "model $name"
done
# A flipped bit in the weights: the header is intact, only the sha256 of the
# data section (the file's own "sha256" metadata) tells. A model must not be
# registered and used with corrupt weights.
run "$T" index -q "$R" --db "$W/fresh.sqlite" -m "$W/flip_data.safetensors" --tile-m 1000
expect 1 "sha256" "model flip_data (fresh database)"
nm=$(sqlite3 "$W/fresh.sqlite" "SELECT count(*) FROM tg_models" 2>/dev/null || echo 0)
nt=$(sqlite3 "$W/fresh.sqlite" "SELECT count(*) FROM tg_tiles" 2>/dev/null || echo 0)
if [ "${nm:-0}" -eq 0 ] && [ "${nt:-0}" -eq 0 ]; then ok "model flip_data: nothing registered or indexed"
else notok "model flip_data: $nm model(s) registered, $nt tile(s) indexed with corrupt weights"; fi
fresh
run "$T" index -q "$R" --db "$DB" -m "$W/flip_data.safetensors" --tile-m 500
expect 1 "sha256" "model flip_data (fixture database, whose model has the same sha256 metadata)"
same "$DB" "$S0" "model flip_data"
fresh
tg_sql "$DB" "SELECT tg_model_register('flip', '$W/flip_data.safetensors');" >"$W/.out" 2>"$W/.err"
if grep -Eq "tg_model_register\(\): model .*flip_data.safetensors.*sha256 of the tensor data differs.*corrupt" "$W/.err"; then
    ok "SQL: tg_model_register of flip_data refused (sha256 of the data)"
else notok "SQL: tg_model_register of flip_data refused (sha256 of the data)"; diag "got: $(cat "$W/.err")"; fi
same "$DB" "$S0" "SQL tg_model_register flip_data"

# ---- photos ------------------------------------------------------------------------
mkdir -p photos
: >photos/empty.jpg
cp "$PHOTO" photos/good.jpg
head -c 6000 "$PHOTO" >photos/truncated.jpg
echo "not an image" >photos/text.jpg
"$PY" - <<'EOF'
import struct, zlib
def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
ihdr = struct.pack(">IIBBBBB", 50000, 50000, 8, 2, 0, 0, 0)
idat = zlib.compress(b"\0" * (1 + 3 * 50000))
open("photos/bomb.png", "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
EOF
fresh
run "$T" locate -q photos --db "$DB" -o "$W/located.csv"
if [ "$rc" -eq 0 ]; then ok "locate a directory with bad photos: exit 0 (the batch goes on)"
else notok "locate a directory with bad photos: exit $rc"; diag "$err"; fi
for c in "empty.jpg|file is empty" "bomb.png|more pixels than the limit" \
    "truncated.jpg|truncated" "text.jpg|not an image"; do
    f=${c%%|*}
    re=${c#*|}
    line=$(grep "^photos/$f," "$W/located.csv" 2>/dev/null)
    if printf '%s\n' "$line" | grep -Eq -- "$re"; then ok "photo $f: listed as failed, /$re/"
    else notok "photo $f: listed as failed, /$re/"; diag "row: $line"; fi
done
if grep -Eq '^photos/good.jpg,[^,]+,-?[0-9]' "$W/located.csv" 2>/dev/null; then ok "photo good.jpg: located"
else notok "photo good.jpg: located"; diag "$(cat "$W/located.csv" 2>/dev/null)"; fi
same "$DB" "$S0" "locate"

# ---- rasters -----------------------------------------------------------------------
fresh
run "$T" index -q "$FZ/seed_nogeo.tif" --db "$DB" --tile-m 40 --stride-m 20 --gsd-m 0.5
expect 1 "is not georeferenced.*gdal_edit.py" "raster without georeferencing"
same "$DB" "$S0" "raster without georeferencing"
head -c 2000 "$TOP_SRCDIR/tests/fuzz/data/r.tif" >"$W/truncated.tif"
fresh
run "$T" index -q "$W/truncated.tif" --db "$DB" --tile-m 40 --stride-m 20 --gsd-m 0.5
expect 1 "truncated|corrupt|TIFFFillStrip|Read error|cannot" "truncated GeoTIFF"
same "$DB" "$S0" "truncated GeoTIFF"
fresh
run "$T" index -q "$R" --db "$DB" --tile-m 0.01
expect 1 "grid" "tile size 0.01 m (a 934000 x 724000 grid)"
same "$DB" "$S0" "tile size 0.01 m"
fresh
run "$T" index -q "$R" --db "$DB" --tile-m 9e10
expect 1 "times coarser than the .* pixels read.*at most 1000 times" "tile size 9e10 m (a gsd 1.4e9 m per pixel)"
same "$DB" "$S0" "tile size 9e10 m"
cp "$W/fixture.sqlite" "$W/rot.sqlite"
run "$T" index -q "$FZ/seed_rotated_palette.tif" --db "$W/rot.sqlite" --tile-m 40 --stride-m 20 --gsd-m 0.5
nrot=$(sqlite3 "$W/rot.sqlite" "SELECT count(*) FROM tg_tiles t JOIN tg_rasters r ON r.id = t.raster_id
    WHERE r.path LIKE '%rotated%'")
if [ "$rc" -eq 0 ] && [ "${nrot:-0}" -gt 0 ]; then ok "rotated raster: indexed ($nrot tiles)"
else notok "rotated raster: exit $rc, ${nrot:-0} tiles"; diag "$err"; fi
# its tile centres lie inside the raster's outline (gdalinfo's WGS84 extent + half a tile)
ext=$(gdalinfo -json "$FZ/seed_rotated_palette.tif" 2>/dev/null | "$PY" -c '
import json, sys
c = json.load(sys.stdin)["wgs84Extent"]["coordinates"][0]
print(min(p[0] for p in c), max(p[0] for p in c), min(p[1] for p in c), max(p[1] for p in c))')
if [ -n "$ext" ]; then
    set -- $ext
    bad=$(sqlite3 "$W/rot.sqlite" "SELECT count(*) FROM tg_tiles t JOIN tg_rasters r ON r.id = t.raster_id
        WHERE r.path LIKE '%rotated%' AND NOT (center_lon BETWEEN $1 - 0.0003 AND $2 + 0.0003
        AND center_lat BETWEEN $3 - 0.0002 AND $4 + 0.0002)")
    if [ "${bad:-1}" -eq 0 ]; then ok "rotated raster: every tile centre inside the raster"
    else notok "rotated raster: $bad tile centre(s) outside [$ext]"; fi
else
    skip "rotated raster: tile centres inside the raster" "gdalinfo -json not available"
fi

# ---- SQL arguments -----------------------------------------------------------------
cp "$PHOTO" "$W/p.jpg"
fresh
res=$(tg_sql "$DB" "SELECT tg_locate(NULL) IS NULL, tg_embed_ground(NULL) IS NULL, tg_embed_aerial(NULL) IS NULL,
  tg_photo_gps(NULL) IS NULL, tg_distance_m(NULL, MakePoint(0, 0, 4326)) IS NULL, tg_index_raster(NULL) IS NULL,
  tg_model_register(NULL, NULL) IS NULL;" 2>&1)
if [ "$res" = "1|1|1|1|1|1|1" ]; then ok "SQL: NULL in, NULL out (7 functions)"; else notok "SQL: NULL in, NULL out"; diag "$res"; fi
tg_sql "$DB" "
SELECT tg_locate(42);
SELECT tg_locate(4.5);
SELECT tg_embed_ground(zeroblob(0));
SELECT tg_embed_aerial(zeroblob(20000000));
SELECT tg_locate(printf('%.*c', 100000, 'x'));
SELECT tg_locate(readfile('p.jpg'), 42);
SELECT count(*) FROM tg_matches(readfile('p.jpg'), 1000000000);
SELECT count(*) FROM tg_matches(readfile('p.jpg'), 'abc');
SELECT count(*) FROM tg_matches(readfile('p.jpg'), 3, MakePoint(0, 0, 4326), -1);
SELECT count(*) FROM tg_matches(readfile('p.jpg'), 3, x'00', 10);
SELECT tg_index_raster(x'00');
SELECT tg_index_raster('$R', NULL, 'big');
SELECT tg_index_raster('$R', NULL, -5);
SELECT tg_model_register(printf('%.*c', 300, 'n'), '$TINY');
SELECT tg_set('threads', 99999);
SELECT tg_set('nosuch', 1);
SELECT tg_distance_m(MakePoint(0, 0, 4326), MakePoint(1, 1, 3857));
SELECT tg_distance_m(MakePoint(0, 0, 4326), x'0102');
SELECT tg_photo_gps(randomblob(5000));
SELECT tg_embed_ground(readfile('p.jpg'), 'nosuch');
" >"$W/.out" 2>"$W/.err"
i=0
while IFS='|' read -r re; do
    i=$((i + 1))
    line=$(grep -E "near line $((i + 4)):" "$W/.err")
    if printf '%s\n' "$line" | grep -Eq -- "$re"; then ok "SQL error $i: /$re/"
    else notok "SQL error $i: /$re/"; diag "got: $line"; fi
done <<'EOF'
tg_locate\(\): argument 1: BLOB \(image or embedding\) or TEXT \(path\) expected, got INTEGER
tg_locate\(\): argument 1: BLOB \(image or embedding\) or TEXT \(path\) expected, got REAL
tg_embed_ground\(\): argument 1: empty BLOB
tg_embed_aerial\(\): argument 1: image in memory \(20000000 bytes\): not an image
tg_locate\(\): argument 1: image 'x{100}.*(no such file|too long|cannot open)
tg_locate\(\): argument 2: TEXT \(model name\) or NULL expected, got INTEGER
tg_matches\(\): argument 2 \(k\): 1000000000, expected 1 to 100000
tg_matches\(\): argument 2 \(k\): INTEGER expected, got TEXT
tg_matches\(\): argument 4 \(radius_m\)
tg_matches\(\): .*not a SpatiaLite geometry
tg_index_raster\(\): argument 1: TEXT \(raster path\) expected, got BLOB
tg_index_raster\(\): argument 3 \(tile_m\): a number of metres or NULL expected, got TEXT
tg_index_raster\(\): argument 3 \(tile_m\): -5 m, expected a positive number
tg_model_register\(\): model name 'n+'.*255
tg_set\(\): 'threads' is 0 \(all cores\) or a thread count up to 4096, not 99999
tg_set\(\): unknown setting 'nosuch'
tg_distance_m\(\): argument 2: geometry has SRID 3857, expected 4326
tg_distance_m\(\): argument 2: not a SpatiaLite geometry BLOB
tg_photo_gps\(\): argument 1: image in memory \(5000 bytes\): not an image
tg_embed_ground\(\): model 'nosuch' is not registered
EOF
if grep -q "near line $((i + 5)):" "$W/.err"; then notok "SQL: no unexpected extra error"; else ok "SQL: $i errors, as expected"; fi
same "$DB" "$S0" "SQL bad arguments"
fresh
tg_sql "$DB" "SELECT tg_index_raster('$R', NULL, 0.01);" >"$W/.out" 2>"$W/.err"
if grep -Eq "tg_index_raster\(\): .*grid" "$W/.err"; then ok "SQL: tile_m 0.01 m: a message about the grid"
else notok "SQL: tile_m 0.01 m: a message about the grid"; diag "got: $(cat "$W/.err")"; fi
same "$DB" "$S0" "SQL tile_m 0.01 m"

# ---- read-only database ----------------------------------------------------------
printf '.load %s\n.load %s\n.bail off\nSELECT tg_index_raster(%s, NULL, 500);\nSELECT tg_model_register(%s, %s);\nSELECT json_extract(tg_locate(%s), %s) > 0;\n' \
    "$MOD_SPATIALITE" "$MOD_TG" "'$R'" "'x'" "'$TINY'" "'p.jpg'" "'\$.tile_id'" >"$W/.sql"
fresh
tg_sqlite -readonly "$DB" <"$W/.sql" >"$W/.out" 2>"$W/.err"
err=$(cat "$W/.err")
if [ "$(grep -c "is read-only: cannot" "$W/.err")" -eq 2 ] && [ "$(cat "$W/.out")" = "1" ]; then
    ok "sqlite3 -readonly: index and register refused (read-only), locate works"
else notok "sqlite3 -readonly: index and register refused, locate works"; diag "$err / $(cat "$W/.out")"; fi
same "$DB" "$S0" "sqlite3 -readonly"
fresh
tg_sql "$DB" "PRAGMA query_only = 1; SELECT tg_index_raster('$R', NULL, 500);" >"$W/.out" 2>"$W/.err"
if grep -Eq "tg_index_raster\(\): .*(read-only|readonly)" "$W/.err"; then ok "PRAGMA query_only: tg_index_raster refused"
else notok "PRAGMA query_only: tg_index_raster refused"; diag "$(cat "$W/.err")"; fi
same "$DB" "$S0" "PRAGMA query_only"
if [ "$(id -u)" -ne 0 ]; then
    # file modes bind a normal user: the check runs as this user
    mkdir -p "$W/ro"
    cp "$W/fixture.sqlite" "$W/ro/db.sqlite"
    chmod 444 "$W/ro/db.sqlite"
    SR=$(state "$W/ro/db.sqlite")
    run "$T" index -q "$R" --db "$W/ro/db.sqlite" --tile-m 500
    expect 1 "read-?only" "CLI index as $(id -un) on a chmod 444 database"
    same "$W/ro/db.sqlite" "$SR" "CLI index on a chmod 444 database"
elif ! command -v setpriv >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
    notok "CLI index as nobody on a chmod 444 database: needs setpriv (util-linux) and user nobody"
else
    # nobody must reach the binary, the raster and the database, which the
    # build tree and the data may not allow (a clone inside a 0700
    # directory): copies of them go into a fresh 0755 directory under /tmp.
    # In the build tree transgeo is libtool's wrapper around .libs/transgeo,
    # which links the shared libtransgeo: copy the program and its library.
    P=$(mktemp -d /tmp/tg_harden_inputs.XXXXXX) && chmod 755 "$P" && mkdir "$P/lib" &&
        if [ -f "$(dirname "$T")/.libs/transgeo" ]; then
            cp "$(dirname "$T")/.libs/transgeo" "$P/transgeo" &&
                cp -P "$(dirname "$T")"/.libs/libtransgeo.so* "$P/lib/"
        else
            cp "$T" "$P/transgeo"
        fi && chmod -R a+rX "$P" &&
        cp "$R" "$P/r.tif" && cp "$W/fixture.sqlite" "$P/db.sqlite" &&
        chmod 444 "$P/db.sqlite" "$P/r.tif"
    SR=$(state "$P/db.sqlite")
    run env LD_LIBRARY_PATH="$P/lib" setpriv --reuid=nobody --regid=nogroup --clear-groups "$P/transgeo" index -q "$P/r.tif" \
        --db "$P/db.sqlite" --tile-m 500
    expect 1 "read-?only" "CLI index as nobody on a chmod 444 database"
    same "$P/db.sqlite" "$SR" "CLI index on a chmod 444 database"
    rm -rf "$P"
fi

# ---- locked database ---------------------------------------------------------------
# hold DB: a writer that takes the write lock (BEGIN EXCLUSIVE) and holds it
# until `release` (not for a fixed time: on a loaded machine the shells
# below may take seconds to start). Returns once the lock is taken (checked
# from another connection), 1 if it was not taken within 30 s. The holder
# waits for the lock (.timeout): the probe below takes it for an instant, and
# a holder that met it there would give up at once and never hold the lock.
hold() {
    rm -f "$W/release"
    (echo ".timeout 30000"
        echo "BEGIN EXCLUSIVE; INSERT INTO tg_meta(key, value) VALUES ('harden_lock', 'x');"
        while [ ! -f "$W/release" ]; do sleep 0.1; done
        echo "ROLLBACK;") | sqlite3 "$1" >/dev/null 2>&1 &
    holder=$!
    for _ in $(seq 300); do
        sqlite3 "$1" ".timeout 0" "BEGIN IMMEDIATE; ROLLBACK;" >/dev/null 2>&1 || return 0
        sleep 0.1
    done
    return 1
}
release() {
    : >"$W/release"
    wait "$holder"
}
fresh
if hold "$DB"; then
    tg_sql "$DB" ".timeout 200
SELECT tg_index_raster('$R', NULL, 500);
SELECT tg_model_register('y', '$TINY');" >"$W/.out" 2>"$W/.err"
    release
    if [ "$(grep -c "database is locked" "$W/.err")" -eq 2 ]; then ok "locked database: SQL writes fail with 'database is locked'"
    else notok "locked database: SQL writes fail with 'database is locked'"; diag "$(cat "$W/.err")"; fi
else
    release
    notok "locked database: another connection takes the write lock"
fi
same "$DB" "$S0" "locked database (SQL)"
cp "$W/fixture.sqlite" "$W/lock.sqlite"
if hold "$W/lock.sqlite"; then
    (sleep 2; : >"$W/release") & # released 2 s into the CLI's 10 s busy timeout
    run "$T" index -q "$R" --db "$W/lock.sqlite" --tile-m 500
    release
    nl=$(sqlite3 "$W/lock.sqlite" "SELECT count(*) FROM tg_tiles")
    if [ "$rc" -eq 0 ] && [ "$nl" -gt "$NT" ]; then ok "locked database: the CLI waits for the lock (busy timeout) and indexes"
    else notok "locked database: the CLI waits for the lock and indexes (exit $rc, $nl tiles)"; diag "$err"; fi
else
    release
    notok "locked database: another connection takes the write lock (CLI)"
fi

# ---- disk full -----------------------------------------------------------------------
cp "$W/fixture.sqlite" "$W/ref.sqlite"
cp "$W/fixture.sqlite" "$W/full.sqlite"
tg_sql "$W/ref.sqlite" "SELECT tg_index_raster('$R', NULL, 500);" >"$W/.out" 2>&1
want=$(sqlite3 "$W/ref.sqlite" "SELECT count(*) FROM tg_tiles")
pages=$(sqlite3 "$W/full.sqlite" "PRAGMA page_count")
tg_sql "$W/full.sqlite" "SELECT tg_set('batch_tiles', 4);
PRAGMA max_page_count = $((pages + 12));
SELECT tg_index_raster('$R', NULL, 500);" >"$W/.out" 2>"$W/.err"
got=$(sqlite3 "$W/full.sqlite" "SELECT count(*) FROM tg_tiles")
added=$((got - NT))
if grep -q "tg_index_raster(): .*database or disk is full" "$W/.err"; then ok "disk full: tg_index_raster fails with 'database or disk is full'"
else notok "disk full: tg_index_raster fails with 'database or disk is full'"; diag "$(cat "$W/.err")"; fi
if [ "$added" -ge 0 ] && [ "$got" -lt "$want" ] && [ $((added % 4)) -eq 0 ]; then
    ok "disk full: whole batches only ($added of $((want - NT)) tiles, batches of 4)"
else notok "disk full: whole batches only ($added tiles, want a multiple of 4 below $((want - NT)))"; fi
tg_sql "$W/full.sqlite" "PRAGMA max_page_count = 1073741823; SELECT tg_index_raster('$R', NULL, 500);" >"$W/.out" 2>"$W/.err"
got=$(sqlite3 "$W/full.sqlite" "SELECT count(*) || ' ' || count(DISTINCT raster_id || ',' || col || ',' || row) FROM tg_tiles")
ic=$(sqlite3 "$W/full.sqlite" "PRAGMA integrity_check")
complete=$(sqlite3 "$W/full.sqlite" "SELECT min(complete) FROM tg_rasters")
if [ "$got" = "$want $want" ] && [ "$ic" = "ok" ] && [ "$complete" = "1" ]; then
    ok "disk full: a rerun without the limit completes ($want tiles, no duplicate, integrity ok)"
else notok "disk full: rerun completes (tiles/distinct '$got', want $want; integrity $ic; complete $complete)"; diag "$(cat "$W/.err")"; fi
# the same embeddings as the unconstrained run
d1=$(sqlite3 "$W/ref.sqlite" "SELECT group_concat(x, ';') FROM (SELECT col || ',' || row || ':' || hex(embedding) x FROM tg_tiles ORDER BY raster_id, col, row)" | sha256sum)
d2=$(sqlite3 "$W/full.sqlite" "SELECT group_concat(x, ';') FROM (SELECT col || ',' || row || ':' || hex(embedding) x FROM tg_tiles ORDER BY raster_id, col, row)" | sha256sum)
if [ "$d1" = "$d2" ]; then ok "disk full: same tiles and embeddings as an unconstrained run"
else notok "disk full: same tiles and embeddings as an unconstrained run"; fi

echo "1..$n"
[ "$failed" -eq 0 ]
