#!/bin/sh
# tests/pg_ext_shards.sh - a coordinator and two shards (postgres_fdw foreign
# partitions of tg_tiles), set up by the SHARDING example of
# man/transgeo-pg.7, run as printed: every "NAME=# " statement runs on the
# private server NAME (coord, shard1, shard2) with psql -At and must print
# what the page shows after it ("..." for any text). The page's ports, user
# and photo path are replaced by the test's. The page's indexing command
# (`transgeo index --db postgresql://...`, the libpq store) is replaced by
# copying mod_transgeo's database into the coordinator with INSERTs: the
# tiles reach the shards through the coordinator's foreign partitions, as
# the store's inserts do. Then:
#   - both shards hold tiles, and together all of them;
#   - on the coordinator, tg_search (each shard its own top-k) and
#     tg_matches (the locator, the tiles read through the foreign
#     partitions) of three photos' embeddings (all tiles, and within 1500 m
#     of a point) and tg_locate give mod_transgeo's tiles,
#     ranks, scores (1e-6) and error radii (1e-6 of themselves): the same
#     answers as one server (tests/pg_ext.sh compares one server the same way);
#   - the plan sends each shard ORDER BY tg_score(...) DESC ... LIMIT in its
#     Remote SQL and runs the two foreign scans as Async Foreign Scans;
#   - a shard stopped during the session: the query fails with an error
#     that names the shard; restarted, the same answer as before.
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$(pwd)}"
: "${PYTHON3:=/usr/bin/python3}"
. "$TOP_SRCDIR/tests/sql_lib.sh"
. "$TOP_SRCDIR/tests/pg_ext_lib.sh"
tg_sql_init || exit 77
wd="$TG_TMPDIR/pg_ext_shards"
rm -rf "$wd"
mkdir -p "$wd/steps"
model=${TG_TEST_MODEL:-$TOP_SRCDIR/tests/golden/tiny/model.safetensors}
tn=0
ok() { tn=$((tn + 1)); if [ "$1" = 1 ]; then echo "ok $tn - $2"; else echo "not ok $tn - $2"; fi; }
fail_all() { echo "not ok 1 - $1"; echo "1..1"; exit 1; }

pg_ext_reference "$wd" || fail_all "mod_transgeo indexes the NAIP raster: $(cat "$wd/index.out")"
nsteps=$("$PYTHON3" "$TOP_SRCDIR/tests/pg_ext_example.py" extract "$TOP_SRCDIR/man/transgeo-pg.7" SHARDING "$wd/steps")
[ "${nsteps:-0}" -ge 20 ] || fail_all "the SHARDING example of transgeo-pg(7) has at least 20 statements (got ${nsteps:-none})"

pg_ext_install || fail_all "private PostgreSQL with the extension"
for s in coord shard1 shard2; do pg_ext_cluster $s || fail_all "server $s"; done
files=$(pg_tmp_copy "$model" "$TG_SHARED_DATA/photos/01.jpg") || fail_all "files for the server"
user=$(pg_user)

# ---- the page's example ----------------------------------------------------------
for f in "$wd"/steps/*.sql; do
    st=${f%.sql}
    srv=$(cat "$st.server")
    sql=$(sed -e "s|port '5433'|port '$PG_shard1_PORT'|" -e "s|port '5434'|port '$PG_shard2_PORT'|" \
              -e "s|user 'postgres'|user '$user'|" -e "s|/srv/photos/street.jpg|$files/01.jpg|g" "$f")
    if [ "$srv" = '$' ]; then
        case "$sql" in
        "transgeo index "*"--db postgresql://"*)
            pg_ext_sql_from_sqlite "$wd/ref.sqlite" "$files/model.safetensors" > "$wd/load.sql"
            pg_psql coord < "$wd/load.sql" > "$wd/load.out" 2>&1
            nl=$(grep -c '^INSERT INTO tg_tiles' "$wd/load.sql")
            ok "$([ -s "$wd/load.out" ] || echo 1)" "page: $sql (here: mod_transgeo's $nl tiles inserted through the coordinator)"
            [ -s "$wd/load.out" ] && sed 's/^/#   /' "$wd/load.out" | head -n 5 ;;
        *) ok 0 "page: unknown shell command in the example: $sql" ;;
        esac
        continue
    fi
    # (IF NOT EXISTS postgis: pg_cluster.sh made it already; its NOTICE is not the page's)
    printf '%s\n' "$sql" | PGOPTIONS='-c client_min_messages=warning' pg_psql "$srv" -At > "$st.out" 2>&1
    rc=$?
    if [ $rc = 0 ] && why=$("$PYTHON3" "$TOP_SRCDIR/tests/pg_ext_example.py" match "$st.expect" "$st.out"); then r=1; else r=0; fi
    ok "$r" "page: $srv=# $(head -n 1 "$f" | cut -c1-90)"
    [ "$r" = 1 ] || { echo "${why:-}" | sed 's/^/#   /'; sed 's/^/#   out: /' "$st.out" | head -n 8; }
done

# ---- the tiles are on the shards -------------------------------------------------
n1=$(pg_val shard1 'SELECT count(*) FROM tg_tiles') n2=$(pg_val shard2 'SELECT count(*) FROM tg_tiles')
nt=$(echo "SELECT count(*) FROM tg_tiles;" | pg_ext_sq "$wd/ref.sqlite")
ok "$([ "${n1:-0}" -gt 0 ] && [ "${n2:-0}" -gt 0 ] && [ $((n1 + n2)) = "$nt" ] && echo 1)" \
    "the shards hold $n1 and $n2 tiles: all $nt of mod_transgeo's"

# ---- same answers as mod_transgeo (and one server) --------------------------------
for p in 01 02 03; do
    e=$(cat "$wd/emb$p.sqlite")
    for near in "" "-99.17 47.02 1500"; do
        what="all tiles"; [ -n "$near" ] && what="within 1500 m of a point"
        # shellcheck disable=SC2086
        pg_ext_matches_sq "$wd/ref.sqlite" "$e" 12 $near > "$wd/m$p.sqlite"
        for f in tg_search tg_matches; do
            # shellcheck disable=SC2086
            TG_PG_MATCHES=$f pg_ext_matches_pg coord "$e" 12 $near > "$wd/m$p.$f.pg"
            if out=$(pg_ext_compare "$wd/m$p.sqlite" "$wd/m$p.$f.pg"); then r=1; else r=0; fi
            ok "$r" "coordinator $f(embedding of $p.jpg, 12), $what: mod_transgeo's answer ($(wc -l < "$wd/m$p.$f.pg") rows)"
            [ "$r" = 1 ] || { echo "$out" | sed 's/^/#   /'; sed 's/^/#   pg: /' "$wd/m$p.$f.pg" | head -n 5; }
        done
    done
    sl=$(printf "SELECT json_extract(j, '\$.tile_id') || '|' || printf('%%.7f', json_extract(j, '\$.score')) FROM (SELECT tg_locate(x'%s') AS j);\n" "$e" | pg_ext_sq "$wd/ref.sqlite")
    pl=$(pg_val coord "SELECT (j->>'tile_id') || '|' || to_char((j->>'score')::float8, 'FM0.0000000') FROM (SELECT tg_locate('\\x$e'::bytea) AS j) s" 2>&1 | head -n 1)
    ok "$([ "$sl" = "$pl" ] && echo 1)" "coordinator tg_locate(embedding of $p.jpg): mod_transgeo's tile and score ($pl vs $sl)"
done

# ---- what each shard is sent -------------------------------------------------------
e=$(cat "$wd/emb01.sqlite")
pg_val coord "SELECT * FROM tg_search_explain('\\x$e'::bytea, 5)" > "$wd/plan.txt" 2>&1
for s in shard1 shard2; do
    ok "$(grep -q "Async Foreign Scan on public.tg_tiles_$s\$" "$wd/plan.txt" && echo 1)" "the plan scans $s asynchronously (Async Foreign Scan under Append)"
    ok "$(grep -A2 "Foreign Scan on public.tg_tiles_$s\$" "$wd/plan.txt" | grep 'Remote SQL:' | grep -q 'ORDER BY public.tg_score(embedding, .*) DESC NULLS FIRST, id ASC NULLS LAST LIMIT 10::bigint$' && echo 1)" \
        "$s is sent its own top-k: ORDER BY tg_score(...) DESC, id LIMIT 10 in its Remote SQL"
done
ok "$(grep -q '^ *->  Append$' "$wd/plan.txt" && ! grep -q 'Merge Append' "$wd/plan.txt" && echo 1)" "the shards' results meet in an Append (not a Merge Append, which would wait for each in turn)"

# ---- the locator ranks on the shards ------------------------------------------------
# tg_matches above ran the locator in the coordinator (ranking on the server:
# the default on shards); what shard1 was sent for it, from its own log
# (log_statement = all): its top-k statement, and tiles only by id, never
# a load of the whole table.
pg_psql shard1 -c "ALTER SYSTEM SET log_statement = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null 2>&1
log1="$PG_shard1_DIR/server.log"
mark=$(wc -l < "$log1")
pg_val coord "SELECT count(*) FROM tg_matches('\\x$e'::bytea, 5)" > "$wd/sent.count" 2>&1
# one line per statement (the log continues a long one on lines of its own)
tail -n +"$((mark + 1))" "$log1" |
    awk '/^[0-9][0-9][0-9][0-9]-/ { if (r != "") print r; r = $0; next } { r = r " " $0 } END { if (r != "") print r }' |
    grep -E '(statement|execute [^:]*): ' > "$wd/sent.sql"
ok "$(grep -q 'ORDER BY public.tg_score(embedding, .*) DESC.* LIMIT 32' "$wd/sent.sql" && echo 1)" \
    "coordinator tg_matches: shard1 is sent its own top-k (ORDER BY tg_score(...) DESC ... LIMIT 32)"
ok "$(grep 'embedding FROM public.tg_tiles' "$wd/sent.sql" | grep -v 'tg_score' | grep -q 'id = ANY' &&
      ! grep 'embedding FROM public.tg_tiles' "$wd/sent.sql" | grep -v 'tg_score' | grep -qv 'id = ANY' && echo 1)" \
    "  ... and read embeddings only by id (the ranked tiles and their neighbours), never all of them"
[ -n "${TG_TEST_VERBOSE:-}" ] && sed 's/^/#   /' "$wd/sent.sql"

# The command line on the coordinator (libpq): the answers of the SQLite file,
# ranked on the shards (auto) and with every tile read into the process.
TG="${TG_CLI:-$TOP_BUILDDIR/transgeo}" # TG_CLI: e.g. a sanitizer build's, against this build's servers
photos="$TG_SHARED_DATA/photos/01.jpg $TG_SHARED_DATA/photos/02.jpg $TG_SHARED_DATA/photos/03.jpg"
for how in "" "--near -99.17,47.02 --radius 1500" "--prior gps=2000"; do
    # shellcheck disable=SC2086
    "$TG" locate $photos --db "$wd/ref.sqlite" -k 3 $how -o "$wd/cli.sq.csv" -q 2> "$wd/cli.sq.err"
    for ranking in auto local; do
        # shellcheck disable=SC2086
        "$TG" locate $photos --db "$PG_coord_URI" -k 3 $how --ranking $ranking -o "$wd/cli.$ranking.csv" -q 2> "$wd/cli.$ranking.err"
        rc=$?
        if [ $rc = 0 ] && out=$(pg_ext_same_csv "$wd/cli.sq.csv" "$wd/cli.$ranking.csv" 2>&1); then r=1; else r=0; fi
        ok "$r" "transgeo locate ${how:-(every tile)} --ranking $ranking on the coordinator: the SQLite file's answers"
        [ "$r" = 1 ] || { echo "${out:-}" | sed 's/^/#   /'; sed 's/^/#   stderr: /' "$wd/cli.$ranking.err"; }
    done
done
"$TG" locate $photos --db "$wd/ref.sqlite" --ranking server -o - -q > /dev/null 2> "$wd/cli.bad.err"
ok "$([ $? != 0 ] && grep -q 'ranking on the server' "$wd/cli.bad.err" && echo 1)" \
    "--ranking server on a SQLite file: an error that says so ($(head -c 120 "$wd/cli.bad.err"))"

# ---- a shard down -----------------------------------------------------------------
before=$(pg_val coord "SELECT string_agg(tile_id::text, ',' ORDER BY rank) FROM tg_search('\\x$e'::bytea, 5)" 2>&1)
pg_stop shard2
msg=$(pg_val coord "SELECT count(*) FROM tg_search('\\x$e'::bytea, 5)" 2>&1 | head -n 1)
ok "$(echo "$msg" | grep -q 'could not connect to server "shard2"' && echo 1)" "shard2 down: the query fails naming it: $msg"
pg_restart shard2
after=$(pg_val coord "SELECT string_agg(tile_id::text, ',' ORDER BY rank) FROM tg_search('\\x$e'::bytea, 5)" 2>&1)
ok "$([ -n "$before" ] && [ "$before" = "$after" ] && echo 1)" "shard2 back: the same answer as before ($after)"

echo "1..$tn"
