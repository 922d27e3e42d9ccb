#!/bin/sh
# tests/pg_store_api.sh - the store's public read API on PostgreSQL against
# SQLite (tests/test_store_pg.c) on a generated town indexed into both, on a
# private cluster (tests/pg_cluster.sh; stopped whatever happens). The TAP
# lines are the C program's; a failure to set up is one "not ok".
set -u
: "${TOP_SRCDIR:?}" "${TOP_BUILDDIR:?}"
: "${TG_TMPDIR:=/tmp}"
. "$TOP_SRCDIR/tests/pg_cluster.sh"
TG=$TOP_BUILDDIR/transgeo
W=$TG_TMPDIR/pg_store_api
rm -rf "$W" && mkdir -p "$W" && chmod 755 "$W"
setup_failed() { echo "not ok 1 - set-up: $1"; echo "1..1"; exit 1; }
PG_TMP=$TG_TMPDIR
[ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$TG_TMPDIR" && PG_TMP=/tmp
TG_TMPDIR=$PG_TMP pg_start api 2>"$W/pg.err" || setup_failed "no PostgreSQL cluster: $(cat "$W/pg.err")"
"$TG" world -o "$W/town" -s 515 --size-m 300 --panos 0 --photos 0 --supersample 1 -q &&
    "$TG" world -o "$W/town2" -s 516 --size-m 200 --center-e 503000 --panos 0 --photos 0 -q ||
    setup_failed "transgeo world"
cp "$TOP_SRCDIR/models/demo.safetensors" "$W/demo.safetensors"
for db in "$W/town.sqlite" "$PG_api_URI"; do
    "$TG" index "$W/town/aerial.tif" --db "$db" -m "$W/demo.safetensors" -q 2>"$W/index.err" ||
        setup_failed "index into $db: $(cat "$W/index.err")"
done
"$TOP_BUILDDIR/tests/test_store_pg" "$W/town.sqlite" "$PG_api_URI" "$W/town2/aerial.tif"
