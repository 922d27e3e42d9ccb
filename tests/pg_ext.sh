#!/bin/sh
# tests/pg_ext.sh - the PostgreSQL extension transgeo on one private server,
# against mod_transgeo (the SQLite extension) on the same data.
#
# The reference: the sqlite3 shell with mod_transgeo registers the tiny test
# model and indexes the NAIP test raster (640 m tiles); its models, rasters
# and tiles are copied into PostgreSQL as they are (same ids, embedding
# bytes, centres, footprints). Then, for the embeddings of three photos
# (tg_embed_ground, made by each side from the same JPEG bytes):
#   - the embeddings are the same bytes;
#   - tg_matches(embedding, k) (the locator over the store's SPI executor)
#     and tg_search(embedding, k) (the per-partition top-k) give the same
#     tiles in the same order, score within 1e-6, error_m within 1e-6 of
#     itself, with and without a near point;
#   - tg_locate(embedding) gives mod_transgeo's tile and score;
#   - on the photos themselves (JPEG bytes; mod_transgeo reads the files):
#     tg_matches and tg_locate give mod_transgeo's answers (the locator on
#     both sides: camera, heading, refinement from the raster);
#   - tg_distance_m equals mod_transgeo's;
#   - the parallel aggregate: EXPLAIN shows Parallel Seq Scan + Partial
#     Aggregate (parallel costs set to 0 on this small table), and its
#     answer equals the serial plan's;
# and the bad inputs: a schema of a newer version (refused, named), k out of
# range, embeddings of two sizes, an ordinary role (reads tiles and
# matches; may not read server files or change tg_models).
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$(pwd)}"
: "${PYTHON3:=/usr/bin/python3}"
. "$TOP_SRCDIR/tests/sql_lib.sh"
. "$TOP_SRCDIR/tests/pg_ext_lib.sh"
tg_sql_init || exit 77
wd="$TG_TMPDIR/pg_ext"
rm -rf "$wd"
mkdir -p "$wd"
model=${TG_TEST_MODEL:-$TOP_SRCDIR/tests/golden/tiny/model.safetensors}
tn=0
ok() { tn=$((tn + 1)); if [ "$1" = 1 ]; then echo "ok $tn - $2"; else echo "not ok $tn - $2"; fi; }
fail_all() { echo "not ok 1 - $1"; echo "1..1"; exit 1; }
sq() { pg_ext_sq "$wd/ref.sqlite"; }

# ---- the SQLite reference --------------------------------------------------
pg_ext_reference "$wd" || fail_all "mod_transgeo indexes the NAIP raster: $(cat "$wd/index.out")"
photos="01 02 03"

# ---- the server --------------------------------------------------------------
pg_ext_install || fail_all "private PostgreSQL with the extension"
pg_ext_start main || fail_all "server with CREATE EXTENSION transgeo"
srvdir=$(pg_tmp_copy "$model" "$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20090818.tif") ||
    fail_all "model and raster copies for the server"
pg_ext_sql_from_sqlite "$wd/ref.sqlite" "$srvdir/model.safetensors" "$srvdir" > "$wd/load.sql"
pg_psql main < "$wd/load.sql" > "$wd/load.out" 2>&1
nt_sq=$(echo "SELECT count(*) FROM tg_tiles;" | sq)
nt_pg=$(pg_val main 'SELECT count(*) FROM tg_tiles')
ok "$([ "$nt_pg" = "$nt_sq" ] && echo 1)" "the $nt_sq tiles of mod_transgeo's database copied into PostgreSQL (got $nt_pg)"

# ---- embeddings: same bytes ---------------------------------------------------
for p in $photos; do
    { printf '\\set img `cat %s`\n' "$wd/photo$p.hex"
      printf "SELECT upper(encode(tg_embed_ground(decode(:'img', 'hex')), 'hex'));\n"; } |
        pg_psql main -At > "$wd/emb$p.pg" 2>&1
    ok "$(cmp -s "$wd/emb$p.pg" "$wd/emb$p.sqlite" && echo 1)" \
        "tg_embed_ground(photo $p.jpg) is mod_transgeo's embedding, byte for byte"
done

# ---- matches: same tiles, scores, error radii -------------------------------
for p in $photos; do
    e=$(cat "$wd/emb$p.sqlite")
    for near in "" "-99.17 47.02 1500"; do
        what="all tiles"; [ -n "$near" ] && what="within 1500 m of a point"
        # shellcheck disable=SC2086
        pg_ext_matches_sq "$wd/ref.sqlite" "$e" 12 $near > "$wd/m$p.sqlite"
        for f in tg_matches tg_search; do
            # shellcheck disable=SC2086
            TG_PG_MATCHES=$f pg_ext_matches_pg main "$e" 12 $near > "$wd/m$p.$f.pg"
            if out=$(pg_ext_compare "$wd/m$p.sqlite" "$wd/m$p.$f.pg"); then r=1; else r=0; fi
            ok "$r" "$f(embedding of $p.jpg, 12), $what: mod_transgeo's tiles and ranks, score within 1e-6, error_m within 1e-6 of itself ($(wc -l < "$wd/m$p.$f.pg") rows)"
            [ "$r" = 1 ] || { echo "$out" | sed 's/^/#   /'; sed 's/^/#   pg: /' "$wd/m$p.$f.pg" | head -n 5; }
        done
    done
    # near a polygon (centres inside it, or within 300 m of it)
    poly='POLYGON((-99.18 47.01,-99.16 47.01,-99.16 47.025,-99.18 47.025,-99.18 47.01))'
    pg_ext_matches_sq "$wd/ref.sqlite" "$e" 12 "$poly" 300 > "$wd/m$p.poly.sqlite"
    for f in tg_matches tg_search; do
        TG_PG_MATCHES=$f pg_ext_matches_pg main "$e" 12 "$poly" 300 > "$wd/m$p.poly.$f.pg"
        if out=$(pg_ext_compare "$wd/m$p.poly.sqlite" "$wd/m$p.poly.$f.pg"); then r=1; else r=0; fi
        ok "$r" "$f(embedding of $p.jpg, 12), within 300 m of a polygon: mod_transgeo's answer ($(wc -l < "$wd/m$p.poly.$f.pg") rows)"
        [ "$r" = 1 ] || { echo "$out" | sed 's/^/#   /'; sed 's/^/#   pg: /' "$wd/m$p.poly.$f.pg" | head -n 5; }
    done
    # tg_locate: the best tile and its score (mod_transgeo also refines the point)
    sl=$(printf "SELECT json_extract(j, '\$.tile_id') || '|' || printf('%%.7f', json_extract(j, '\$.score')) || '|' || printf('%%.9f', json_extract(j, '\$.tile_lon')) FROM (SELECT tg_locate(x'%s') AS j);\n" "$e" | sq)
    pl=$(pg_val main "SELECT (j->>'tile_id') || '|' || to_char((j->>'score')::float8, 'FM0.0000000') || '|' || round((j->>'tile_lon')::numeric, 9) FROM (SELECT tg_locate('\\x$e'::bytea) AS j) s" 2>&1 | head -n 1)
    ok "$([ "$sl" = "$pl" ] && echo 1)" "tg_locate(embedding of $p.jpg): mod_transgeo's tile, score and tile centre ($pl vs $sl)"
done

# tg_matches on the photo itself (the locator: its heading from EXIF, the
# canvas): mod_transgeo's tg_matches on the same file
for p in $photos; do
    printf "SELECT rank, tile_id, printf('%%.9f', score), printf('%%.12f', lon), printf('%%.12f', lat), printf('%%.9f', error_m) FROM tg_matches('%s', 5);\n" \
        "$TG_SHARED_DATA/photos/$p.jpg" | sq > "$wd/pm$p.sqlite"
    { printf '\\set img `cat %s`\n' "$wd/photo$p.hex"
      printf "SELECT rank, tile_id, to_char(score, 'FM0.999999999'), round(lon::numeric, 12), round(lat::numeric, 12), round(error_m::numeric, 9) FROM tg_matches(decode(:'img', 'hex'), 5);\n"; } |
        pg_psql main -At -F'|' > "$wd/pm$p.pg" 2>&1
    if out=$(pg_ext_compare "$wd/pm$p.sqlite" "$wd/pm$p.pg"); then r=1; else r=0; fi
    ok "$r" "tg_matches(photo $p.jpg, 5): mod_transgeo's tg_matches on the file (tiles, ranks, scores, error_m)"
    [ "$r" = 1 ] || { echo "$out" | sed 's/^/#   /'; sed 's/^/#   pg: /' "$wd/pm$p.pg" | head -n 5; }
done
# tg_search embeds an image once, north-up: its ranking is its embedding's
e=$(cat "$wd/emb01.sqlite")
a=$( { printf '\\set img `cat %s`\n' "$wd/photo01.hex"
       printf "SELECT string_agg(tile_id::text, ',' ORDER BY rank) FROM tg_search(decode(:'img', 'hex'), 5);\n"; } | pg_psql main -At 2>&1 | head -n 1)
b=$(pg_val main "SELECT string_agg(tile_id::text, ',' ORDER BY rank) FROM tg_search('\\x$e'::bytea, 5)" 2>&1 | head -n 1)
ok "$(echo "$a" | grep -qx "[0-9,]*[0-9]" && [ "$a" = "$b" ] && echo 1)" "tg_search(photo bytes, 5) ranks as tg_search(its embedding, 5) ($a)"

# tg_locate on the photos themselves: the one locator on both sides (camera,
# heading search, refinement from the raster): the same answer
for p in $photos; do
    jq='tile_id score lon lat error_m heading_deg heading_source n_headings fov_deg camera_source refined refine_tiles prior model'
    printf "SELECT tg_locate('%s');\n" "$TG_SHARED_DATA/photos/$p.jpg" | sq > "$wd/loc$p.sqlite.json"
    { printf '\\set img `cat %s`\n' "$wd/photo$p.hex"
      printf "SELECT tg_locate(decode(:'img', 'hex'));\n"; } | pg_psql main -At > "$wd/loc$p.pg.json" 2>&1
    if why=$("$PYTHON3" - "$wd/loc$p.sqlite.json" "$wd/loc$p.pg.json" $jq <<'PY'
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
bad = []
for k in sys.argv[3:]:
    x, y = a.get(k), b.get(k)
    if isinstance(x, float) or isinstance(y, float):
        tol = 1e-6 if k == "score" else 1e-6 * max(1.0, abs(x or 0))
        ok = x is not None and y is not None and abs(x - y) <= tol
    else:
        ok = x == y
    if not ok:
        bad.append("%s: %r vs %r" % (k, x, y))
print("; ".join(bad) if bad else "%s at %.6f %.6f, heading %s (%s), refined %s" % (
    b["tile_id"], b["lon"], b["lat"], b.get("heading_deg"), b.get("heading_source"), b.get("refined")))
sys.exit(1 if bad else 0)
PY
    ); then r=1; else r=0; fi
    ok "$r" "tg_locate(photo $p.jpg): mod_transgeo's answer (tile, score, refined point, error_m, heading): $why"
    [ "$r" = 1 ] || sed 's/^/#   pg: /' "$wd/loc$p.pg.json" | head -n 3
done

# ---- tg_distance_m --------------------------------------------------------------
ds=$(echo "SELECT printf('%.6f', tg_distance_m(MakePoint(13.4002944, 52.5189167, 4326), MakePoint(13.4003889, 52.518925, 4326))) || '|' || printf('%.6f', tg_distance_m(MakePoint(-99.7, 47.1, 4326), MakePoint(100.3, -47.0, 4326)));" | sq)
dp=$(pg_val main "SELECT round(tg_distance_m(13.4002944, 52.5189167, 13.4003889, 52.518925)::numeric, 6) || '|' || round(tg_distance_m(ST_SetSRID(ST_MakePoint(-99.7, 47.1), 4326), ST_SetSRID(ST_MakePoint(100.3, -47.0), 4326))::numeric, 6)")
ok "$([ "$ds" = "$dp" ] && echo 1)" "tg_distance_m equals mod_transgeo's ($dp vs $ds)"

# ---- the parallel aggregate ------------------------------------------------------
par="SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET max_parallel_workers_per_gather = 2;"
plan=$(pg_psql main -At -c "$par" -c "EXPLAIN (COSTS OFF) SELECT tg_topk(id, embedding, '\\x$e'::bytea, 10) FROM tg_tiles")
echo "$plan" | sed 's/^/#   /'
ok "$(echo "$plan" | grep -q 'Partial Aggregate' && echo "$plan" | grep -q 'Parallel Seq Scan' && echo "$plan" | grep -q 'Finalize Aggregate' && echo 1)" \
    "EXPLAIN tg_topk: Finalize Aggregate over Gather of Partial Aggregate over Parallel Seq Scan"
a=$(pg_psql main -At -c "$par" -c "SELECT tg_topk(id, embedding, '\\x$e'::bytea, 10)::text FROM tg_tiles")
w=$(pg_psql main -At -c "$par" -c "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT tg_topk(id, embedding, '\\x$e'::bytea, 10) FROM tg_tiles" | sed -n 's/.*Workers Launched: \([0-9]*\).*/\1/p')
b=$(pg_psql main -At -c "SET max_parallel_workers_per_gather = 0" -c "SELECT tg_topk(id, embedding, '\\x$e'::bytea, 10)::text FROM tg_tiles")
ok "$([ -n "$a" ] && [ "$a" = "$b" ] && [ "${w:-0}" -ge 1 ] && echo 1)" "the parallel top-k ($w workers launched) equals the serial one"
ob=$(pg_val main "SELECT string_agg(id::text, ',' ORDER BY s DESC, id) FROM (SELECT id, tg_score(embedding, '\\x$e'::bytea) s FROM tg_tiles ORDER BY s DESC, id LIMIT 10) t")
ag=$(pg_val main "SELECT string_agg((h).tile_id::text, ',') FROM (SELECT unnest(tg_topk(id, embedding, '\\x$e'::bytea, 10)) h FROM tg_tiles) s")
ok "$([ "$ob" = "$ag" ] && echo 1)" "tg_topk equals ORDER BY tg_score DESC LIMIT 10 ($ag)"

# ---- bad input -------------------------------------------------------------------
msg=$(pg_val main "SELECT tg_score('\\x0000803f'::bytea, '\\x0000803f0000803f'::bytea)" 2>&1 | head -n 1)
ok "$(echo "$msg" | grep -q 'differ in size (1 and 2 floats)' && echo 1)" "tg_score of two sizes: $msg"
msg=$(pg_val main "SELECT count(*) FROM tg_matches('\\x$e'::bytea, 0)" 2>&1 | head -n 1)
ok "$(echo "$msg" | grep -q 'k = 0: expected 1 to 100000' && echo 1)" "tg_matches(k = 0): $msg"
msg=$(pg_val main "SELECT count(*) FROM tg_matches('\\x0102'::bytea, 3)" 2>&1 | head -n 1)
ok "$(echo "$msg" | grep -q 'tg_matches(): .*not an image' && echo 1)" "tg_matches(not an image): $msg"
msg=$(pg_val main "UPDATE tg_meta SET value = '2' WHERE key = 'schema_version'; SELECT count(*) FROM tg_matches('\\x$e'::bytea, 3)" 2>&1 | head -n 1)
ok "$(echo "$msg" | grep -q "database 'transgeo' has transgeo schema_version 2, newer than this extension reads (1)" && echo 1)" \
    "a newer schema is refused, named: $msg"
pg_val main "UPDATE tg_meta SET value = '1' WHERE key = 'schema_version'" > /dev/null

# the command line on this one server (libpq), ranking on it (--ranking
# server: the extension's per-partition top-k over the local partitions),
# gives the SQLite file's answers (refinement from the raster included)
TG="$TOP_BUILDDIR/transgeo"
set -- "$TG_SHARED_DATA/photos/01.jpg" "$TG_SHARED_DATA/photos/02.jpg" "$TG_SHARED_DATA/photos/03.jpg"
for how in "" "--prior gps=2000"; do
    # shellcheck disable=SC2086
    "$TG" locate "$@" --db "$wd/ref.sqlite" -k 3 $how -o "$wd/cli.sq.csv" -q 2> "$wd/cli.sq.err"
    # shellcheck disable=SC2086
    "$TG" locate "$@" --db "$PG_main_URI" -k 3 $how --ranking server -o "$wd/cli.pg.csv" -q 2> "$wd/cli.pg.err"
    rc=$?
    if [ $rc = 0 ] && out=$(pg_ext_same_csv "$wd/cli.sq.csv" "$wd/cli.pg.csv" 2>&1); then r=1; else r=0; fi
    ok "$r" "transgeo locate ${how:-(every tile)} --ranking server on one server: the SQLite file's answers"
    [ "$r" = 1 ] || { echo "${out:-}" | sed 's/^/#   /'; sed 's/^/#   stderr: /' "$wd/cli.pg.err"; }
done
"$TG" locate "$@" --db "$PG_main_URI" --ranking nowhere -o - -q > /dev/null 2> "$wd/cli.bad.err"
ok "$([ $? = 2 ] && grep -q 'ranking nowhere: expected auto, local or server' "$wd/cli.bad.err" && echo 1)" \
    "--ranking nowhere: a usage error ($(head -c 100 "$wd/cli.bad.err"))"

# an ordinary role: queries, but reads no server file and changes no model
pg_val main "CREATE ROLE alice LOGIN" > /dev/null
msg=$(pg_val main "SET ROLE alice; SELECT count(*) FROM tg_matches('\\x$e'::bytea, 3)" 2>&1 | head -n 1)
ok "$([ "$msg" = 3 ] && echo 1)" "an ordinary role runs tg_matches ($msg)"
msg=$(pg_val main "SET ROLE alice; SELECT count(*) FROM tg_search('\\x$e'::bytea, 3)" 2>&1 | head -n 1)
ok "$([ "$msg" = 3 ] && echo 1)" "an ordinary role runs tg_search ($msg)"
msg=$(pg_val main "SET ROLE alice; SELECT tg_locate('$srvdir/model.safetensors'::text)" 2>&1 | head -n 1)
ok "$(echo "$msg" | grep -q 'permission denied for function tg_locate' && echo 1)" "an ordinary role may not read server files: $msg"
msg=$(pg_val main "SET ROLE alice; UPDATE tg_models SET path = '/etc/passwd'" 2>&1 | head -n 1)
ok "$(echo "$msg" | grep -q 'permission denied for table tg_models' && echo 1)" "an ordinary role may not choose model files: $msg"

echo "1..$tn"
