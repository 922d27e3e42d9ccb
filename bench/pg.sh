#!/bin/sh
# bench/pg.sh - query latency of the PostgreSQL extension against the number
# of shards, and against mod_transgeo on the same tiles, in one run.
#
#   sh bench/pg.sh BUILDDIR [N_TILES [DIM [RUNS]]]     (make bench-pg)
#
# Tiles: N_TILES (default 100000) synthetic unit vectors of DIM float32
# (default 128, the demo model's out_dim; TransGeo's is 1000) on a grid,
# made by bench/pg_bench.py with numpy and inserted as they are into
#   - a SpatiaLite file (mod_transgeo), under the demo model,
#   - one PostgreSQL server (private, tests/pg_ext_lib.sh) and
#   - a coordinator with two shards on this machine (the set-up of
#     transgeo-pg(7), SHARDING), loaded through the coordinator.
# Query: SELECT * FROM tg_search(q, 10) (PostgreSQL: a top-k per partition,
# the shards' sent to them) and tg_matches(q, 10) (mod_transgeo; and the
# PostgreSQL locator: on one server it holds the tiles in the backend's
# memory after its first query, on the coordinator it ranks on the shards
# and reads only the tiles it needs) for one query embedding q, timed by
# the client (Python: sqlite3 / psycopg2): RUNS (default 15) queries after 2
# warm-ups, the median. Printed: each median in ms and the ratios
#   2 shards / 1 server   (target: at most 1.5; the single server's faster
#                          run, with or without parallel workers)
#   1 server / mod_transgeo
# mod_transgeo keeps the embeddings in memory after its first query and
# scores them with one BLAS product; PostgreSQL reads the table each query
# (shared buffers / page cache) in parallel workers. Not a test: timings
# depend on the machine and its load.
set -u
build=$(cd "${1:?usage: bench/pg.sh BUILDDIR [N_TILES [DIM [RUNS]]]}" && pwd)
n=${2:-100000} dim=${3:-128} runs=${4:-15}
TOP_SRCDIR=$(cd "$(dirname "$0")/.." && pwd) TOP_BUILDDIR=$build
export TOP_SRCDIR TOP_BUILDDIR
: "${PYTHON3:=/usr/bin/python3}"
. "$TOP_SRCDIR/tests/sql_lib.sh"
. "$TOP_SRCDIR/tests/pg_ext_lib.sh"
tg_sql_init >/dev/null || { echo "bench/pg.sh: sqlite3 shell not found" >&2; exit 1; }
py="$PYTHON3 $TOP_SRCDIR/bench/pg_bench.py"
model=$TOP_SRCDIR/models/demo.safetensors
wd=$(mktemp -d "${TMPDIR:-/tmp}/tgbench.XXXXXX")
pg_ext_install || exit 1
trap 'pg_ext_cleanup; rm -rf "$wd"' EXIT
trap 'pg_ext_cleanup; rm -rf "$wd"; trap - EXIT; exit 130' INT TERM HUP
for s in single coord shard1 shard2; do pg_ext_cluster $s || exit 1; done
# pg_ext_cluster set its own traps: widen them to this run's directory again
trap 'pg_ext_cleanup; rm -rf "$wd"' EXIT
trap 'pg_ext_cleanup; rm -rf "$wd"; trap - EXIT; exit 130' INT TERM HUP
PGUSER=$(pg_user); export PGUSER
files=$(pg_tmp_copy "$model")
echo "bench/pg.sh: $n tiles of $dim floats (synthetic unit vectors), k = 10, $runs runs; $(nproc) cores"

t0=$(date +%s)
sha=$($py load-sqlite "$wd/bench.sqlite" "$MOD_SPATIALITE" "$MOD_TG.so" "$model" "$n" "$dim") || exit 1
echo "  loaded mod_transgeo's file in $(( $(date +%s) - t0 )) s"

pg_psql single -c 'CREATE EXTENSION transgeo' >/dev/null || exit 1
t0=$(date +%s)
$py load-pg "$PG_single_PORT" "$files/demo.safetensors" "$sha" "$n" "$dim" >/dev/null || exit 1
pg_psql single -c 'VACUUM ANALYZE tg_tiles' >/dev/null # as the shards below (autovacuum's work)
echo "  loaded the single server in $(( $(date +%s) - t0 )) s"

# the coordinator and two shards, as transgeo-pg(7) SHARDING sets them up
for s in shard1 shard2; do pg_psql $s -c 'CREATE EXTENSION transgeo' >/dev/null || exit 1; done
pg_psql coord >/dev/null <<SQL || exit 1
CREATE EXTENSION postgres_fdw;
CREATE EXTENSION transgeo;
CREATE SERVER shard1 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '$PG_shard1_PORT',
    dbname 'transgeo', extensions 'transgeo,postgis', async_capable 'true', batch_size '1000');
CREATE SERVER shard2 FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '$PG_shard2_PORT',
    dbname 'transgeo', extensions 'transgeo,postgis', async_capable 'true', batch_size '1000');
CREATE USER MAPPING FOR CURRENT_USER SERVER shard1 OPTIONS (user '$PGUSER');
CREATE USER MAPPING FOR CURRENT_USER SERVER shard2 OPTIONS (user '$PGUSER');
ALTER EXTENSION transgeo DROP TABLE tg_tiles_local;
DROP TABLE tg_tiles_local;
CREATE FOREIGN TABLE tg_tiles_shard1 PARTITION OF tg_tiles FOR VALUES WITH (MODULUS 2, REMAINDER 0)
    SERVER shard1 OPTIONS (table_name 'tg_tiles');
CREATE FOREIGN TABLE tg_tiles_shard2 PARTITION OF tg_tiles FOR VALUES WITH (MODULUS 2, REMAINDER 1)
    SERVER shard2 OPTIONS (table_name 'tg_tiles');
SQL
t0=$(date +%s)
$py load-pg "$PG_coord_PORT" "$files/demo.safetensors" "$sha" "$n" "$dim" via-staging >/dev/null || exit 1
for s in shard1 shard2; do pg_psql $s -c 'VACUUM ANALYZE tg_tiles' >/dev/null; done
echo "  loaded the coordinator and shards in $(( $(date +%s) - t0 )) s ($(pg_val shard1 'SELECT count(*) FROM tg_tiles') + $(pg_val shard2 'SELECT count(*) FROM tg_tiles') tiles)"

# the answers agree before anything is timed
q1=$(pg_val single "SELECT string_agg(tile_id::text, ',' ORDER BY rank) FROM tg_search((SELECT embedding FROM tg_tiles WHERE id = 4242), 10)")
q2=$(pg_val coord "SELECT string_agg(tile_id::text, ',' ORDER BY rank) FROM tg_search((SELECT embedding FROM tg_tiles WHERE id = 4242), 10)")
[ -n "$q1" ] && [ "$q1" = "$q2" ] || { echo "bench/pg.sh: the single server and the shards disagree: $q1 vs $q2" >&2; exit 1; }

sq=$($py time-sqlite "$wd/bench.sqlite" "$MOD_SPATIALITE" "$MOD_TG.so" "$dim" 10 "$runs") || exit 1
one=$($py time-pg "$PG_single_PORT" "$dim" 10 "$runs") || exit 1
ones=$($py time-pg "$PG_single_PORT" "$dim" 10 "$runs" serial) || exit 1
two=$($py time-pg "$PG_coord_PORT" "$dim" 10 "$runs") || exit 1
loc=$($py time-pg "$PG_single_PORT" "$dim" 10 "$runs" locator) || exit 1
cloc=$($py time-pg "$PG_coord_PORT" "$dim" 10 "$runs" locator) || exit 1
plan=$(pg_val single "SELECT * FROM tg_search_explain((SELECT embedding FROM tg_tiles WHERE id = 1), 10)" | grep -c 'Partial Aggregate')
cplan=$(pg_val coord "SELECT * FROM tg_search_explain((SELECT embedding FROM tg_tiles WHERE id = 1), 10)")
nasync=$(echo "$cplan" | grep -c 'Async Foreign Scan')
nlimit=$(echo "$cplan" | grep -c 'Remote SQL: .* ORDER BY public.tg_score(.*LIMIT 10::bigint$')
echo "  coordinator plan: $nasync Async Foreign Scans, $nlimit Remote SQL with ORDER BY tg_score ... LIMIT 10"
echo "  tg_search (a top-k per partition):"
echo "  mod_transgeo (tg_matches)    median ${sq% *} ms (min ${sq#* })"
echo "  1 server, parallel workers   median ${one% *} ms (min ${one#* })  [Partial Aggregate in its plan: $plan]"
echo "  1 server, no parallel worker median ${ones% *} ms (min ${ones#* })"
echo "  coordinator + 2 shards       median ${two% *} ms (min ${two#* })"
echo "  1 server, tg_matches (the locator, tiles in the backend's memory) median ${loc% *} ms (min ${loc#* })"
echo "  coordinator + 2 shards, tg_matches (the locator ranking on the shards: each its top-k," \
    "then the ranked tiles and their neighbours by id) median ${cloc% *} ms (min ${cloc#* })"
# the distribution's overhead against the faster of the two single-server runs
awk -v a="${one% *}" -v a0="${ones% *}" -v b="${two% *}" -v s="${sq% *}" -v c="${cloc% *}" -v l="${loc% *}" 'BEGIN {
    best = a < a0 ? a : a0
    printf "  ratio 2 shards / 1 server (the faster of the two): %.2f (target <= 1.5)\n", b / best
    printf "  ratio 1 server (parallel) / 1 server (no worker): %.2f\n", a / a0
    printf "  ratio 1 server (the faster) / mod_transgeo: %.2f\n", best / s
    printf "  ratio coordinator locator (ranking on the shards) / 1 server top-k (the faster): %.2f\n", c / best
    printf "  ratio coordinator locator / 1 server locator (tiles in its memory): %.2f\n", c / l }'
