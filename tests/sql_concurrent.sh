#!/bin/sh
# tests/sql_concurrent.sh - another connection reads while a raster is being
# indexed (WAL, one short write transaction per batch of tiles):
#   - a reader connection runs the same query many times during the indexing;
#     it never fails (no "database is locked"), and within each statement the
#     tiles tg_matches searches (the connection's in-memory copy, refreshed
#     incrementally as tiles arrive) are exactly the tiles the statement sees
#     in tg_tiles;
#   - the reader observes the raster growing (counts strictly between 0 and
#     the final count), i.e. it did not wait for the writer to finish.
# The tiny model indexes a thousand tiles a second, faster than one reader
# statement over them, so the writer is paced with SIGSTOP/SIGCONT: it is held
# twice mid-raster while the reader runs, which makes "the reader saw two
# partial counts" a property of the locking, not of the machine's speed.
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$TOP_SRCDIR/tests/sql_lib.sh"
tg_sql_init || exit 77
dir="$TG_TMPDIR/sql_concurrent"
rm -rf "$dir"
mkdir -p "$dir"
db="$dir/db.sqlite"
model=${TG_TEST_MODEL:-$TOP_SRCDIR/tests/golden/tiny/model.safetensors}
raster="$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20090818.tif"
n=0
ok() { n=$((n + 1)); if [ "$1" = 1 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fi; }

# Set up: model, and a query embedding stored in the database.
{ tg_sql_preamble
  printf "SELECT tg_model_register('tiny', '%s');\n" "$model"
  printf "CREATE TABLE q AS SELECT tg_embed_ground('%s') AS e;\n" "$TG_SHARED_DATA/photos/01.jpg"
} | tg_sqlite "$db" > "$dir/setup.out" 2>&1
ok "$([ "$(cat "$dir/setup.out")" = 1 ] && echo 1)" "setup"

# The writer: 1 tile per transaction, so the raster grows in many steps
# (160 m tiles: about 2600 of them).
{ tg_sql_preamble
  printf "SELECT tg_set('batch_tiles', 1);\n"
  printf "SELECT tg_index_raster('%s', 'tiny', 160);\n" "$raster"
} > "$dir/writer.sql"
(tg_sqlite_exec "$db" < "$dir/writer.sql" > "$dir/writer.out" 2>&1) &
writer=$!

# Wait for the first tiles (at most 60 s), then hold the writer there.
i=0
while [ "$i" -lt 600 ]; do
    c=$({ tg_sql_preamble; echo "SELECT count(*) FROM tg_tiles;"; } | tg_sqlite "$db" 2>/dev/null | tail -n 1)
    [ "${c:-0}" -gt 0 ] 2>/dev/null && break
    sleep 0.05
    i=$((i + 1))
done
kill -STOP "$writer" 2>/dev/null
reads=150
# One reader connection, many statements: tiles seen by tg_matches = tiles in
# tg_tiles, in the same statement (one snapshot).
{ tg_sql_preamble
  echo ".timeout 0"
  j=0
  while [ "$j" -lt "$reads" ]; do
      echo "SELECT (SELECT count(*) FROM tg_tiles) || '|' || (SELECT count(*) FROM q, tg_matches(q.e, 100000));"
      j=$((j + 1))
  done
} > "$dir/reader.sql"
tg_sqlite "$db" < "$dir/reader.sql" > "$dir/reader.out" 2>&1 &
reader=$!
# The reader runs against the held writer, then the writer goes on for a
# moment and is held again (a second partial count), then runs to the end.
sleep 1
kill -CONT "$writer" 2>/dev/null
sleep 0.3
kill -STOP "$writer" 2>/dev/null
sleep 1
kill -CONT "$writer" 2>/dev/null
wait "$reader"
reader_rc=$?
wait "$writer"
writer_rc=$?

final=$({ tg_sql_preamble; echo "SELECT count(*) FROM tg_tiles;"; } | tg_sqlite "$db" 2>&1 | tail -n 1)
ok "$([ "$writer_rc" = 0 ] && [ "$(tail -n 1 "$dir/writer.out")" = "$final" ] && echo 1)" \
    "the writer indexed $final tiles"
errors=$(grep -c -v '^[0-9]*|[0-9]*$' "$dir/reader.out")
ok "$([ "$reader_rc" = 0 ] && [ "$errors" = 0 ] && echo 1)" "$reads reads during the indexing, no error ($errors)"
grep -v '^[0-9]*|[0-9]*$' "$dir/reader.out" | head -5 | sed 's/^/#   /'
mismatch=$(awk -F'|' '$1 != $2' "$dir/reader.out" | wc -l)
ok "$([ "$mismatch" = 0 ] && echo 1)" "in every statement, tg_matches searched exactly the tiles of tg_tiles ($mismatch mismatches)"
growing=$(awk -F'|' -v f="$final" '$1 > 0 && $1 < f { print $1 }' "$dir/reader.out" | sort -un | wc -l)
first=$(head -n 1 "$dir/reader.out" | cut -d'|' -f1)
last=$(tail -n 1 "$dir/reader.out" | cut -d'|' -f1)
echo "# reader saw $growing distinct partial counts, from $first to $last of $final"
ok "$([ "$growing" -ge 2 ] && echo 1)" "the reader saw the raster grow while it was indexed"
ok "$([ "$({ tg_sql_preamble; echo "PRAGMA integrity_check;"; } | tg_sqlite "$db" 2>&1 | tail -n 1)" = ok ] && echo 1)" \
    "PRAGMA integrity_check"
echo "1..$n"
