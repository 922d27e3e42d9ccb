#!/bin/sh
# tests/sql_resume.sh - indexing survives kill -9 at any moment: a sqlite3
# shell indexes a raster (4 tiles per transaction) and is killed with SIGKILL
# after a random delay, several times; after each kill the database passes
# PRAGMA integrity_check and holds every tile at most once; a last run
# finishes the job, and the result equals an uninterrupted run exactly (same
# tiles, same embeddings, same footprints). The kills must land during the
# work they interrupt: at least one leaves a partial raster, and at least
# one interrupts a run that had committed tiles of its own. The delays are
# printed, so a failure can be replayed (TG_RESUME_DELAYS="0.4 1.1 ...").
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$TOP_SRCDIR/tests/sql_lib.sh"
tg_sql_init || exit 77
dir="$TG_TMPDIR/sql_resume"
rm -rf "$dir"
mkdir -p "$dir"
ref="$dir/ref.sqlite" db="$dir/killed.sqlite"
n=0
ok() { n=$((n + 1)); if [ "$1" = 1 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

index_script() { # the statements of one indexing session
    tg_sql_preamble
    printf "SELECT tg_set('batch_tiles', 4);\n"
    printf "SELECT tg_index_raster('%s', 'tiny', 320);\n" "$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20090818.tif"
}
register() {
    { tg_sql_preamble; printf "SELECT tg_model_register('tiny', '%s');\n" \
        "${TG_TEST_MODEL:-$TOP_SRCDIR/tests/golden/tiny/model.safetensors}"; } | tg_sqlite "$1" > /dev/null 2>&1
}
q() { # q DB SQL: one value
    { tg_sql_preamble; echo "$2"; } | tg_sqlite "$1" 2>&1 | tail -n 1
}

# Reference: one uninterrupted run.
register "$ref"
t0=$(date +%s.%N)
index_script | tg_sqlite "$ref" > "$dir/ref.out" 2>&1
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
total=$(q "$ref" "SELECT count(*) FROM tg_tiles;")
ok "$([ "$total" -gt 300 ] && echo 1)" "reference run: $total tiles in $secs s"

# Killed runs.
register "$db"
# Random moments over the whole run (its length measured above): from before
# the first commit to the end.
delays=${TG_RESUME_DELAYS:-$(awk -v s="$$" -v t="$secs" 'BEGIN { srand(s); for (i = 0; i < 5; i++) printf "%.2f ", t * (0.1 + rand() * 0.5) }')}
echo "# kill -9 after: $delays s"
partial=0 mid=0 kills=0 before=0
for d in $delays; do
    kills=$((kills + 1))
    index_script > "$dir/script.sql"
    (tg_sqlite_exec "$db" < "$dir/script.sql" > "$dir/killed.out" 2>&1) &
    pid=$!
    sleep "$d"
    kill -9 "$pid" 2> /dev/null
    wait "$pid" 2> /dev/null
    check=$(q "$db" "SELECT (SELECT integrity_check FROM pragma_integrity_check) || '|' || count(*) || '|' || count(DISTINCT col || ',' || row) || '|' || coalesce(sum(length(embedding) = 96 AND ST_IsValid(geom)), 0) || '|' || (SELECT count(*) FROM tg_rasters) FROM tg_tiles;")
    cnt=$(echo "$check" | cut -d'|' -f2)
    ok "$(echo "$check" | awk -F'|' '$1 == "ok" && $2 == $3 && ($2 == 0 || $2 == $4) && $5 <= 1 { print 1 }')" \
        "killed after ${d} s: integrity ok, $cnt tiles, each once, complete rows ($check)"
    [ "${cnt:-0}" -gt 0 ] && [ "${cnt:-0}" -lt "$total" ] && partial=$((partial + 1))
    # during the work: this session committed tiles and had not finished
    [ "${cnt:-0}" -gt "$before" ] && [ "${cnt:-0}" -lt "$total" ] && mid=$((mid + 1))
    before=${cnt:-0}
done
ok "$([ "$partial" -gt 0 ] && echo 1)" "$partial of $kills kills left a partial raster"
ok "$([ "$mid" -gt 0 ] && echo 1)" "$mid of $kills kills landed during the work (after tiles of their own, before the end)"

# Finish.
index_script | tg_sqlite "$db" > "$dir/final.out" 2>&1
added=$(tail -n 1 "$dir/final.out")
final=$(q "$db" "SELECT count(*) || '|' || count(DISTINCT col || ',' || row) FROM tg_tiles;")
ok "$([ "$final" = "$total|$total" ] && echo 1)" "the last run completes: $final tiles ($added added by it)"
ok "$([ "$(q "$db" "SELECT complete FROM tg_rasters;")" = 1 ] && echo 1)" "raster marked complete"
same=$(q "$db" "ATTACH '$ref' AS r; SELECT count(*) FROM tg_tiles a JOIN r.tg_tiles b ON a.col = b.col AND a.row = b.row AND a.embedding = b.embedding AND a.geom = b.geom AND a.center_lon = b.center_lon AND a.center_lat = b.center_lat;")
ok "$([ "$same" = "$total" ] && echo 1)" "same tiles, embeddings and footprints as the uninterrupted run ($same of $total)"
again=$(index_script | tg_sqlite "$db" 2>&1 | tail -n 1)
ok "$([ "$again" = 0 ] && echo 1)" "re-indexing the complete raster adds 0 ($again)"
ok "$([ "$(q "$db" "PRAGMA integrity_check;")" = ok ] && echo 1)" "final PRAGMA integrity_check"
echo "1..$n"
