# tests/pg_ext_lib.sh - a private PostgreSQL 15 that finds the transgeo
# extension built in this tree, for tests and benches (sourced, POSIX sh).
#
#     . "$TOP_SRCDIR/tests/pg_ext_lib.sh"
#     pg_ext_install || exit 1      # PGX: the relocated server; PG_BINDIR points into it
#     pg_ext_start main || exit 1   # tests/pg_cluster.sh's pg_start + CREATE EXTENSION transgeo
#     pg_psql main -c 'SELECT tg_version()'
#     # every server is stopped and PGX deleted at exit (trap)
#
# Why a relocated copy: without root, PostgreSQL 15 loads extensions only
# from its own share/ and lib/ directories, and a test must not install into
# /usr. PostgreSQL finds share/ and lib/ relative to the directory of its
# own executable (the path of the real file: a symbolic link would point
# back to /usr), so PGX holds
#   lib/postgresql/15/bin/   copies of postgres, initdb, pg_ctl, psql
#   lib/postgresql/15/lib/   links to the system's modules + transgeo.so (copy)
#   share/postgresql/15/     links to the system's files, extension/ a
#                            directory of links + transgeo.control and
#                            transgeo--VERSION.sql (copies)
#   lib/libtransgeo.so.0     a copy of this build's shared library, found by
#                            the server through LD_LIBRARY_PATH
# (layout of Debian's postgresql-15: bin lib/postgresql/15/bin, sharedir
# share/postgresql/15, pkglibdir lib/postgresql/15/lib). Everything is
# copied, nothing links into the checkout: the server (the postgres user
# when we are root) must not need to read it (a 0700 home).
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$(pwd)}"
: "${PG_SYS_BINDIR:=/usr/lib/postgresql/15/bin}"
# Where the servers' directories go: reachable by the postgres user.
: "${TG_PG_TMPDIR:=/tmp}"
PGX=""

pg_ext_install() {
    sys_bindir=$PG_SYS_BINDIR
    pgc="$sys_bindir/pg_config"
    [ -x "$pgc" ] || { echo "# pg_ext: $pgc not found (Debian package postgresql-server-dev-15)" >&2; return 1; }
    sharedir=$("$pgc" --sharedir) pkglibdir=$("$pgc" --pkglibdir)
    ext=$TOP_BUILDDIR/pg
    [ -f "$ext/transgeo.so" ] || { echo "# pg_ext: $ext/transgeo.so not built (make)" >&2; return 1; }
    lib=$(ls "$TOP_BUILDDIR"/.libs/libtransgeo.so.[0-9]* 2>/dev/null | head -n 1)
    [ -n "$lib" ] || { echo "# pg_ext: libtransgeo.so not built" >&2; return 1; }
    PGX=$(mktemp -d "$TG_PG_TMPDIR/pgx.XXXXXX") || return 1
    chmod 755 "$PGX"
    b=$PGX/lib/postgresql/15/bin l=$PGX/lib/postgresql/15/lib s=$PGX/share/postgresql/15
    mkdir -p "$b" "$l" "$s/extension" || return 1
    for f in postgres initdb pg_ctl psql; do cp "$sys_bindir/$f" "$b/" || return 1; done
    for f in "$pkglibdir"/*; do ln -s "$f" "$l/"; done
    for f in "$sharedir"/*; do [ "${f##*/}" = extension ] || ln -s "$f" "$s/"; done
    for f in "$sharedir"/extension/*; do ln -s "$f" "$s/extension/"; done
    rm -f "$l/transgeo.so" "$s/extension"/transgeo[.-]*
    cp "$ext/transgeo.so" "$l/" && cp "$TOP_SRCDIR/pg/transgeo.control" "$ext"/transgeo--*.sql "$s/extension/" &&
        cp "$lib" "$PGX/lib/${lib##*/}" || return 1
    ln -s "${lib##*/}" "$PGX/lib/libtransgeo.so.0" 2>/dev/null
    chmod -R a+rX "$PGX"
    PG_BINDIR=$b
    LD_LIBRARY_PATH=$PGX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export PG_BINDIR LD_LIBRARY_PATH
    # the servers' directories (tests/pg_cluster.sh) next to PGX, not in the checkout
    TG_TMPDIR=$TG_PG_TMPDIR
    . "$TOP_SRCDIR/tests/pg_cluster.sh"
    trap 'pg_ext_cleanup' EXIT
    return 0
}

pg_ext_cleanup() {
    pg_stop_all
    [ -n "$PGX" ] && rm -rf "$PGX"
    PGX=""
}

# pg_ext_start NAME: a cluster (pg_start) whose database transgeo has the
# extension; the traps of pg_cluster.sh are widened to delete PGX too.
pg_ext_start() {
    pg_start "$1" || return 1
    trap 'pg_ext_cleanup' EXIT
    trap 'pg_ext_cleanup; trap - EXIT; exit 130' INT
    trap 'pg_ext_cleanup; trap - EXIT; exit 143' TERM
    trap 'pg_ext_cleanup; trap - EXIT; exit 129' HUP
    pg_psql "$1" -c 'CREATE EXTENSION transgeo' >/dev/null
}

# pg_val NAME SQL: one value, unaligned (psql -At).
pg_val() {
    pgv_name=$1; shift
    pg_psql "$pgv_name" -At -c "$@"
}

# pg_ext_sql_from_sqlite SQLITE_DB MODEL_PATH: SQL that copies the models,
# rasters and tiles of a mod_transgeo database (same ids, bytes and
# footprints) into a transgeo PostgreSQL database, each model's path set to
# MODEL_PATH (a copy the server can read). Tiles inserted through a
# coordinator go to the shard their hash partition names. Needs tg_sql_init
# (tests/sql_lib.sh).
pg_ext_sql_from_sqlite() {
    { tg_sql_preamble; cat <<SQL
.headers off
.mode list
SELECT printf('INSERT INTO tg_models (id, name, path, sha256, config_json) VALUES (%d, %Q, %Q, %Q, %Q);',
              id, name, '$2', sha256, config_json) FROM tg_models;
SELECT printf('INSERT INTO tg_rasters (id, path, sha256, crs, tile_m, stride_m, gsd_m, model_id, complete, n_tiles) VALUES (%d, %Q, %Q, %Q, %.17g, %.17g, %.17g, %d, %d, %d);',
              id, path, sha256, crs, tile_m, stride_m, gsd_m, model_id, complete, n_tiles) FROM tg_rasters;
SELECT printf('INSERT INTO tg_tiles (id, raster_id, model_id, col, "row", center_lon, center_lat, win_x, win_y, win_w, win_h, crs, embedding, geom) VALUES (%d, %d, %d, %d, %d, %.17g, %.17g, %d, %d, %d, %d, %Q, ''\\x%s''::bytea, ST_GeomFromWKB(''\\x%s''::bytea, 4326));',
              id, raster_id, model_id, col, row, center_lon, center_lat, win_x, win_y, win_w, win_h, crs, hex(embedding), hex(AsBinary(geom))) FROM tg_tiles ORDER BY id;
SELECT 'SELECT setval(''tg_tiles_id_seq'', ' || max(id) || ');' FROM tg_tiles;
SQL
    } | tg_sqlite "$1" 2>&1
}
