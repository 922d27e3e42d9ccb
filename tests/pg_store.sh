#!/bin/sh
# tests/pg_store.sh - the store on PostgreSQL/PostGIS (--db postgresql://...)
# against the SQLite store on the same rasters and photos, on a private
# cluster (tests/pg_cluster.sh; stopped whatever happens):
#   - a generated town indexed with the demo model: embeddings byte-equal to
#     SQLite's, `locate` (no prior, --near, --prior gps, refinement) and
#     `eval` answers equal (same tile, score within 1e-6), the --near window
#     equal to SQLite's and to PROJ's geod;
#   - parallel indexing: three workers at once on one raster, one killed
#     with -9 mid-piece: every tile exactly once, the bytes of one SQLite run;
#     a lone worker killed mid-piece loses nothing committed, and a rerun
#     finishes the raster;
#   - bad input: a wrong connection string (names the server and the fix,
#     never the password), a newer schema (refused, named), the server going
#     away mid-index (clear error, nothing lost, a rerun completes).
. "$TOP_SRCDIR/tests/cli_common.sh"
. "$TOP_SRCDIR/tests/pg_cluster.sh"
workdir pg_store
chmod 755 "$W"
MODEL=$TOP_SRCDIR/models/demo.safetensors
cp "$TINY" "$W/tiny.safetensors"

# The cluster directory: under /tmp unless TG_TMPDIR's parents are all
# searchable by the server's user (a checkout in a 0700 home is not).
PG_TMP=$TG_TMPDIR
[ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$TG_TMPDIR" && PG_TMP=/tmp
if ! TG_TMPDIR=$PG_TMP pg_start main 2>"$W/pg_start.err"; then
    notok "start a private PostgreSQL/PostGIS cluster: $(cat "$W/pg_start.err")"
    done_testing
    exit 1
fi
ok "a private PostgreSQL 15 + PostGIS cluster on port $PG_main_PORT"
URI=$PG_main_URI
# newdb NAME: a fresh database with PostGIS on the cluster; prints its URI
newdb() {
    pg_client "$PG_main_DIR" "$PG_main_PORT" postgres \
        -c "CREATE DATABASE $1" >/dev/null &&
        pg_client "$PG_main_DIR" "$PG_main_PORT" "$1" \
            -c 'CREATE EXTENSION postgis' >/dev/null &&
        echo "postgresql://$(pg_user)@127.0.0.1:$PG_main_PORT/$1"
}
# pq DB SQL: one query, unaligned
pq() {
    pg_client "$PG_main_DIR" "$PG_main_PORT" "$1" -At -c "$2" 2>&1
}
# embeddings of a database as "col|row|HEX" lines, by row and column
emb_sqlite() { sql "$1" "SELECT col || '|' || row || '|' || hex(embedding) FROM tg_tiles ORDER BY row, col"; }
emb_pg() { pq "$1" "SELECT col || '|' || \"row\" || '|' || upper(encode(embedding, 'hex')) FROM tg_tiles ORDER BY \"row\", col"; }
# same_csv A B: two locate/eval CSVs with equal text fields and numbers
# within 1e-6 (scores are cosines, coordinates degrees; error radii in
# metres: 1e-6 relative), except tile_id. Why not exact: when the tiles'
# ids come in another order (parallel workers), their rows in the matrix
# do too, and the BLAS product may round a score's last float bit
# differently.
same_csv() {
    awk -F, -v tol=1e-6 'NR == FNR { a[FNR] = $0; n = FNR; next }
        { if (!(FNR in a)) { bad = 1; exit }
          split(a[FNR], x, ","); m = split($0, y, ",")
          for (i = 1; i <= m; i++) {
              if (x[i] == y[i]) continue
              if (x[i] ~ /^-?[0-9.e+-]+$/ && y[i] ~ /^-?[0-9.e+-]+$/) {
                  d = x[i] - y[i]; if (d < 0) d = -d
                  t = tol
                  if (FNR > 1 && hdr[i] ~ /error_m$/) t = tol * (x[i] < 0 ? -x[i] : x[i])
                  if (d <= t) continue
              }
              if (FNR > 1 && hdr[i] == "tile_id") continue
              print "line " FNR ", field " i ": " x[i] " vs " y[i] > "/dev/stderr"; bad = 1
          }
          if (FNR == 1) for (i = 1; i <= m; i++) hdr[i] = y[i]
          last = FNR }
        END { exit bad || last != n }' "$1" "$2"
}

# ---- a town, both backends ------------------------------------------------------
run "$TG" world -o "$W/town" -s 4242 --size-m 400 --panos 6 --photos 4 --gps-noise-m 20 \
    --supersample 1 -q
expect_rc 0 "a generated town"
run "$TG" index "$W/town/aerial.tif" --db "$W/town.sqlite" -m "$MODEL" -q
expect_rc 0 "index it into SQLite"
run "$TG" index "$W/town/aerial.tif" --db "$URI" -m "$MODEL"
expect_rc 0 "index it into PostgreSQL ($URI)"
N=$(sql "$W/town.sqlite" "SELECT count(*) FROM tg_tiles")
check "summary line: $N tiles added" contains "$out" ": $N tiles added, 0 already present, $N in the database"
check "PostgreSQL has the same $N tiles, raster complete" \
    test "$(pq transgeo "SELECT count(*) || '|' || (SELECT complete FROM tg_rasters) FROM tg_tiles")" = "$N|1"
emb_sqlite "$W/town.sqlite" >"$W/town.emb.s"
emb_pg transgeo >"$W/town.emb.p"
check "embeddings byte-equal to SQLite's ($N tiles)" cmp -s "$W/town.emb.s" "$W/town.emb.p"
check "footprints: valid PostGIS polygons, centres inside, SRID 4326" test \
    "$(pq transgeo "SELECT count(*) FROM tg_tiles WHERE ST_IsValid(geom) AND ST_SRID(geom) = 4326 AND ST_Covers(geom, ST_SetSRID(ST_MakePoint(center_lon, center_lat), 4326))")" = "$N"
check "footprints equal to SpatiaLite's (same corners, 1e-12 deg)" test "$(
    sql "$W/town.sqlite" "SELECT id, X(PointN(ExteriorRing(geom), 1)), Y(PointN(ExteriorRing(geom), 3)) FROM tg_tiles ORDER BY id" | tr '|' ' ' >"$W/fp.s"
    pq transgeo "SELECT id, ST_X(ST_PointN(ST_ExteriorRing(geom), 1)), ST_Y(ST_PointN(ST_ExteriorRing(geom), 3)) FROM tg_tiles ORDER BY id" | tr '|' ' ' >"$W/fp.p"
    paste -d ' ' "$W/fp.s" "$W/fp.p" | awk '{ d1 = $2 - $5; d2 = $3 - $6; if ($1 != $4 || d1 > 1e-12 || d1 < -1e-12 || d2 > 1e-12 || d2 < -1e-12) bad++ } END { print bad + 0, NR }')" = "0 $N"
run "$TG" index "$W/town/aerial.tif" --db "$URI" -m "$MODEL"
expect_rc 0 "index again: nothing to do"
check "  ... 0 added, $N present" contains "$out" ": 0 tiles added, $N already present, $N in the database"
run "$TG" info "$URI"
expect_rc 0 "transgeo info on the PostgreSQL database"
check "  ... names the model and the tiles" contains "$out" "tiles:       $N"

for mode in plain near gps; do
    case $mode in
        plain) opts="" ;;
        near) opts="--near $(sql "$W/town.sqlite" "SELECT center_lon || ',' || center_lat FROM tg_tiles ORDER BY id LIMIT 1 OFFSET 7") --radius 150" ;;
        gps) opts="--prior gps=120" ;;
    esac
    # shellcheck disable=SC2086
    run "$TG" locate "$W/town/panos" "$W/town/photos" --db "$W/town.sqlite" -k 3 $opts -o "$W/s_$mode.csv" -q
    expect_rc 0 "locate ($mode) with SQLite"
    # shellcheck disable=SC2086
    run "$TG" locate "$W/town/panos" "$W/town/photos" --db "$URI" -k 3 $opts -o "$W/p_$mode.csv" -q
    expect_rc 0 "locate ($mode) with PostgreSQL"
    check "  ... same answers (tile, score within 1e-6, point, heading, error, prior)" \
        same_csv "$W/s_$mode.csv" "$W/p_$mode.csv"
done
check "the answers used the GPS prior and refinement" test \
    "$(awk -F, 'NR > 1 && $17 == "gps" && $18 == "raster"' "$W/p_gps.csv" | wc -l)" -gt 0

# The compact codec on PostgreSQL: kept in tg_meta by index --codec (no matrix
# file there), applied in memory; the int8 scan's exact re-rank gives the
# float32 answers of SQLite.
run "$TG" index "$W/town/aerial.tif" --db "$URI" -m "$MODEL" --codec int8 -q
expect_rc 0 "index --codec int8 on PostgreSQL (every tile present)"
check "  ... the codec is stored in tg_meta" test \
    "$(pq transgeo "SELECT value FROM tg_meta WHERE key LIKE 'codec:%'")" = int8
run "$TG" locate "$W/town/panos" "$W/town/photos" --db "$URI" -k 3 -o "$W/p_int8.csv" -q
expect_rc 0 "locate with the int8 codec on PostgreSQL"
check "  ... same answers as SQLite's float32 search" same_csv "$W/s_plain.csv" "$W/p_int8.csv"
run "$TG" index "$W/town/aerial.tif" --db "$URI" -m "$MODEL" --codec f32 -q
expect_rc 0 "index --codec f32: back to the exact scan"

# The --near window (tg_store_candidates): the same tiles as SQLite's and
# as PROJ's geod on every centre.
NEAR=$(sql "$W/town.sqlite" "SELECT center_lon || ' ' || center_lat FROM tg_tiles ORDER BY id LIMIT 1 OFFSET 7")
NLON=${NEAR% *}
NLAT=${NEAR#* }
sql "$W/town.sqlite" "SELECT id, center_lon, center_lat FROM tg_tiles ORDER BY id" | tr '|' ' ' >"$W/centres"
awk -v lo="$NLON" -v la="$NLAT" '{ print la, lo, $3, $2 }' "$W/centres" |
    geod +ellps=WGS84 -I -f '%.9f' -F '%.6f' +units=m | awk '{ print $3 }' >"$W/dist"
paste -d ' ' "$W/centres" "$W/dist" | awk '$4 <= 150 { print $1 }' | sort -n >"$W/ref_ids"
for db in "$W/town.sqlite" "$URI"; do
    run "$TG" locate "$W/town/panos/0000.jpg" --db "$db" --near "$NLON,$NLAT" --radius 150 -k 1000 \
        --refine off -o "$W/near.gpkg" -q
    sqlite3 -batch -noheader "$W/near.gpkg" "SELECT tile_id FROM matched_tiles ORDER BY tile_id" >"$W/near_ids.$(basename "$db")"
    sql "$W/near.gpkg" "SELECT tile_id, printf('%.9f %.9f %.9f %.9f', MbrMinX(g), MbrMinY(g), MbrMaxX(g), MbrMaxY(g)), NumPoints(ExteriorRing(g)) FROM (SELECT tile_id, GeomFromGPB(geom) AS g FROM matched_tiles) ORDER BY tile_id" >"$W/near_geom.$(basename "$db")"
    rm -f "$W/near.gpkg"
done
check "  ... and the matched tiles' footprints in the GeoPackage are the same polygons" \
    sh -c "test -s '$W/near_geom.town.sqlite' && cmp -s '$W/near_geom.town.sqlite' '$W/near_geom.transgeo'"
check "--near 150 m: $(wc -l <"$W/ref_ids") tiles, PostgreSQL = SQLite = geod" \
    sh -c "cmp -s '$W/ref_ids' '$W/near_ids.town.sqlite' && cmp -s '$W/ref_ids' '$W/near_ids.transgeo'"

run "$TG" eval --db "$W/town.sqlite" "$W/town/panos" --truth "$W/town/truth.csv"
expect_rc 0 "eval with SQLite"
EVAL_S=$out
run "$TG" eval --db "$URI" "$W/town/panos" --truth "$W/town/truth.csv"
expect_rc 0 "eval with PostgreSQL"
check "  ... the same report" test "$out" = "$EVAL_S"

# ---- parallel workers, one killed with -9 -----------------------------------------
# The NAIP raster with the demo model in 320 m tiles: a few hundred tiles,
# pieces of a few tile rows, each worker on one thread (a piece takes about
# a second: the test sees workers holding pieces).
NOPTS="--tile-m 320 -j 1"
cp "$MODEL" "$W/demo.safetensors"
run "$TG" index "$NAIP" --db "$W/naip.sqlite" --model "$W/demo.safetensors" $NOPTS -q
expect_rc 0 "NAIP reference run, SQLite"
NN=$(sql "$W/naip.sqlite" "SELECT count(*) FROM tg_tiles")
emb_sqlite "$W/naip.sqlite" >"$W/naip.emb.s"
PAR=$(newdb par)
check "a second database" test -n "$PAR"
# The workers start together on an empty database: they create the schema
# and register the model at once too.
# wait_piece DB APP: until a piece is done and a worker whose
# application_name is like APP holds one (its transaction open: claimed,
# being embedded); prints that worker's name. 0 when it happened.
wait_piece() {
    i=0
    while [ $i -lt 1000 ]; do
        # (an error, e.g. no tg_jobs yet, is no holder)
        holder=$(pg_client "$PG_main_DIR" "$PG_main_PORT" "$1" -At \
            -c "SELECT application_name FROM pg_stat_activity WHERE application_name LIKE '$2' AND state = 'idle in transaction' AND EXISTS (SELECT 1 FROM tg_jobs WHERE done) LIMIT 1" 2>/dev/null)
        if [ -n "$holder" ]; then
            echo "$holder"
            return 0
        fi
        sleep 0.02
        i=$((i + 1))
    done
    return 1
}
for w in 1 2 3; do
    "$TG" index "$NAIP" --db "$PAR?application_name=w$w" --model "$W/demo.safetensors" $NOPTS -q \
        >"$W/w$w.out" 2>"$W/w$w.err" &
    eval "PID$w=\$!"
done
VICTIM=$(wait_piece par 'w_')
case $VICTIM in
    w[123])
        eval "kill -9 \$PID${VICTIM#w}"
        ok "worker ${VICTIM#w} killed with -9 while it held a piece" ;;
    *) notok "no worker was seen holding a piece" ;;
esac
rcs=""
for w in 1 2 3; do
    eval "wait \$PID$w"
    rc=$?
    [ "w$w" = "$VICTIM" ] || rcs="$rcs $rc"
done
check "the other workers finished (exit$rcs)" test "$(echo $rcs)" = "0 0"
check "raster complete, every piece done" \
    test "$(pq par "SELECT complete || '|' || n_tiles || '|' || (SELECT bool_and(done) FROM tg_jobs) FROM tg_rasters")" = "1|$NN|true"
check "pieces were done by several workers" \
    test "$(pq par "SELECT count(DISTINCT worker) FROM tg_jobs")" -ge 2
check "every tile exactly once ($NN)" \
    test "$(pq par "SELECT count(*) || '|' || count(DISTINCT (col, \"row\")) FROM tg_tiles")" = "$NN|$NN"
emb_pg par >"$W/par.emb.p"
check "embeddings byte-equal to one SQLite run" cmp -s "$W/naip.emb.s" "$W/par.emb.p"

# A lone worker killed mid-piece: what it committed stays, nothing partial;
# a rerun finishes.
pq par "DELETE FROM tg_tiles; DELETE FROM tg_jobs; DELETE FROM tg_rasters" >/dev/null
"$TG" index "$NAIP" --db "$PAR?application_name=lone" --model demo $NOPTS -q >/dev/null 2>&1 &
PID=$!
if wait_piece par lone >/dev/null; then kill -9 "$PID"; fi
wait "$PID" 2>/dev/null
sleep 0.2
check "killed: the raster is not complete" test "$(pq par "SELECT complete FROM tg_rasters")" = 0
check "killed: the tiles stored are exactly those of the pieces marked done" \
    test "$(pq par "SELECT count(*) FROM tg_tiles")" = "$(pq par "SELECT coalesce(sum(n_added), 0) FROM tg_jobs WHERE done")"
run "$TG" index "$NAIP" --db "$PAR" --model demo $NOPTS
expect_rc 0 "rerun"
check "  ... finishes the raster" test "$(pq par "SELECT complete || '|' || n_tiles FROM tg_rasters")" = "1|$NN"
emb_pg par >"$W/par2.emb.p"
check "  ... every tile once, bytes of one SQLite run" cmp -s "$W/naip.emb.s" "$W/par2.emb.p"

# ---- bad input ----------------------------------------------------------------------
run "$TG" index "$NAIP" --db "postgresql://someone:s3cretpw@127.0.0.1:1/nowhere" --model "$W/tiny.safetensors" -q
expect_rc 1 "a server that is not there"
check "  ... names the server" contains "$err" "cannot connect to PostgreSQL server 'someone@127.0.0.1:1/nowhere'"
check "  ... says what to check" contains "$err" "check that the server runs and listens there"
check "  ... never shows the password" sh -c "! printf '%s' \"\$1\" | grep -q s3cretpw" - "$err"
run "$TG" locate "$W/town/panos/0000.jpg" --db "postgresql://$(pg_user)@127.0.0.1:$PG_main_PORT/nosuchdb" -o - -q
expect_rc 1 "a database that does not exist"
check "  ... says so, naming it" contains "$err" "database \"nosuchdb\" does not exist"

pq transgeo "UPDATE tg_meta SET value = '99' WHERE key = 'schema_version'" >/dev/null
run "$TG" locate "$W/town/panos/0000.jpg" --db "$URI" -o - -q
expect_rc 1 "a schema of a newer version: locate refuses"
check "  ... names the version, the server and the fix" contains "$err" \
    "PostgreSQL server '$(pg_user)@127.0.0.1:$PG_main_PORT/transgeo' has transgeo schema version 99"
check "  ... says upgrade" contains "$err" "upgrade transgeo"
run "$TG" index "$W/town/aerial.tif" --db "$URI" -q
expect_rc 1 "  ... and so does index"
pq transgeo "UPDATE tg_meta SET value = '1' WHERE key = 'schema_version'" >/dev/null

# The server goes away mid-index: a clear error; what was committed stays;
# a rerun after the restart completes with the bytes of one SQLite run.
GONE=$(newdb gone)
"$TG" index "$NAIP" --db "$GONE?application_name=victim" --model "$W/demo.safetensors" $NOPTS -q >"$W/gone.out" 2>"$W/gone.err" &
PID=$!
wait_piece gone victim >/dev/null
pg_stop main
wait "$PID"
rc=$?
err=$(cat "$W/gone.err")
expect_rc 1 "the server stopped mid-index: the worker fails"
check "  ... saying the connection to the server was lost" contains "$err" \
    "PostgreSQL server '$(pg_user)@127.0.0.1:$PG_main_PORT/gone': connection lost"
check "  ... and that a rerun finishes" contains "$err" "rerun the same command to finish"
pg_restart main
check "after the restart: only whole pieces are stored" \
    test "$(pq gone "SELECT count(*) FROM tg_tiles")" = "$(pq gone "SELECT coalesce(sum(n_added), 0) FROM tg_jobs WHERE done")"
run "$TG" index "$NAIP" --db "$GONE" --model demo $NOPTS -q
expect_rc 0 "rerun after the restart"
emb_pg gone >"$W/gone.emb.p"
check "  ... complete, every tile once, bytes of one SQLite run" cmp -s "$W/naip.emb.s" "$W/gone.emb.p"

# ---- through a coordinator with two postgres_fdw shards ------------------------
# The store's writes and reads on the sharded layout of schema_pg.sql: the
# coordinator's tg_tiles has one foreign partition per shard (hash of
# raster_id, col, row), each shard its own tables. Two workers index through
# the coordinator; each tile lands once, on one shard.
if TG_TMPDIR=$PG_TMP pg_start s1 2>>"$W/pg_start.err" && TG_TMPDIR=$PG_TMP pg_start s2 2>>"$W/pg_start.err"; then
    ok "two more clusters (shards) on ports $PG_s1_PORT and $PG_s2_PORT"
    COORD=$(newdb coord)
    schema_ok=yes
    for c in s1 s2; do
        pg_psql "$c" -f "$TOP_SRCDIR/src/store/schema_pg.sql" >/dev/null 2>"$W/schema.err" || schema_ok=no
    done
    pq coord "$(cat "$TOP_SRCDIR/src/store/schema_pg.sql")" >"$W/schema.err" 2>&1 || schema_ok=no
    for i in 1 2; do
        eval "port=\$PG_s${i}_PORT"
        pq coord "CREATE EXTENSION IF NOT EXISTS postgres_fdw;
            CREATE SERVER s$i FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '$port', dbname 'transgeo');
            CREATE USER MAPPING FOR CURRENT_USER SERVER s$i OPTIONS (user '$(pg_user)')" >>"$W/schema.err" 2>&1 || schema_ok=no
    done
    pq coord "DROP TABLE tg_tiles_local;
        CREATE FOREIGN TABLE tg_tiles_s1 PARTITION OF tg_tiles FOR VALUES WITH (MODULUS 2, REMAINDER 0) SERVER s1 OPTIONS (table_name 'tg_tiles');
        CREATE FOREIGN TABLE tg_tiles_s2 PARTITION OF tg_tiles FOR VALUES WITH (MODULUS 2, REMAINDER 1) SERVER s2 OPTIONS (table_name 'tg_tiles')" >>"$W/schema.err" 2>&1 || schema_ok=no
    check "the schema on the shards, foreign partitions on the coordinator" test "$schema_ok" = yes
    for w in 1 2; do
        "$TG" index "$NAIP" --db "$COORD" --model "$W/demo.safetensors" $NOPTS -q >"$W/c$w.out" 2>"$W/c$w.err" &
        eval "CPID$w=\$!"
    done
    wait "$CPID1"
    c1=$?
    wait "$CPID2"
    c2=$?
    check "two workers through the coordinator (exit $c1, $c2)" test "$c1" -eq 0 -a "$c2" -eq 0
    N1=$(pg_psql s1 -At -c "SELECT count(*) FROM tg_tiles")
    N2=$(pg_psql s2 -At -c "SELECT count(*) FROM tg_tiles")
    check "the tiles are on the shards ($N1 + $N2 = $NN), none on the coordinator" \
        test "$((N1 + N2))" = "$NN" -a "$N1" -gt 0 -a "$N2" -gt 0
    check "the raster complete, every tile once" \
        test "$(pq coord "SELECT (SELECT complete FROM tg_rasters) || '|' || count(DISTINCT (col, \"row\")) || '|' || count(*) FROM tg_tiles")" = "1|$NN|$NN"
    emb_pg coord >"$W/coord.emb.p"
    check "  ... with the bytes of one SQLite run" cmp -s "$W/naip.emb.s" "$W/coord.emb.p"
    run "$TG" locate "$W/town/panos" "$TG_SHARED_DATA/photos/01.jpg" --db "$W/naip.sqlite" -k 3 -o "$W/s_naip.csv" -q
    run "$TG" locate "$W/town/panos" "$TG_SHARED_DATA/photos/01.jpg" --db "$COORD" -k 3 -o "$W/c_naip.csv" -q
    expect_rc 0 "locate through the coordinator"
    check "  ... the same answers as SQLite (tile ids aside)" same_csv "$W/s_naip.csv" "$W/c_naip.csv"
else
    notok "start two shard clusters: $(cat "$W/pg_start.err")"
fi

done_testing
