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
#   lib/postgresql/15/lib/   links to the system's modules + transgeo.so and
#                            transgeo_scan.so (copies)
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

# A sanitizer build (configure --enable-sanitizers): its libtransgeo needs the
# ASan runtime first in the process that loads it, and that process is the
# PostgreSQL server, which is not built with it. The extension's tests run in
# the main build; here the whole file is one skip (tests/allowed_skips).
for _lib in "$TOP_BUILDDIR"/.libs/libtransgeo.so.[0-9]*; do
    if [ -f "$_lib" ] && ldd "$_lib" 2>/dev/null | grep -q 'libasan\.so'; then
        echo "1..0 # SKIP libtransgeo is built with the sanitizers, the PostgreSQL server is not"
        exit 0
    fi
    break
done

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
    rm -f "$l/transgeo.so" "$l/transgeo_scan.so" "$s/extension"/transgeo[.-]*
    cp "$ext/transgeo.so" "$ext/transgeo_scan.so" "$l/" && cp "$TOP_SRCDIR/pg/transgeo.control" "$ext"/transgeo--*.sql "$s/extension/" &&
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
    pg_ext_cluster "$1" || return 1
    pg_psql "$1" -c 'CREATE EXTENSION transgeo' >/dev/null
}

# pg_ext_cluster NAME: the same without CREATE EXTENSION transgeo.
pg_ext_cluster() {
    pg_start "$1" || return 1
    trap 'pg_ext_cleanup' EXIT
    trap 'pg_ext_cleanup; trap - EXIT; exit 130' INT
    trap 'pg_ext_cleanup; trap - EXIT; exit 143' TERM
    trap 'pg_ext_cleanup; trap - EXIT; exit 129' HUP
}

# pg_val NAME SQL: one value, unaligned (psql -At).
pg_val() {
    pgv_name=$1; shift
    pg_psql "$pgv_name" -At -c "$@"
}

# pg_ext_sql_from_sqlite SQLITE_DB MODEL_PATH [RASTER_DIR]: SQL that copies
# the models, rasters and tiles of a mod_transgeo database (same ids, bytes
# and footprints) into a transgeo PostgreSQL database, each model's path set
# to MODEL_PATH (a copy the server can read), each raster's to RASTER_DIR/its
# file name when given (a copy: the locator refines from it). Tiles inserted
# through a coordinator go to the shard their hash partition names. Needs
# tg_sql_init (tests/sql_lib.sh).
pg_ext_sql_from_sqlite() {
    set -- "$1" "$2" "${3:-}"
    { tg_sql_preamble; cat <<SQL
.headers off
.mode list
SELECT printf('INSERT INTO tg_models (id, name, path, sha256, config_json) VALUES (%d, %Q, %Q, %Q, %Q);',
              id, name, '$2', sha256, config_json) FROM tg_models;
SELECT printf('INSERT INTO tg_rasters (id, path, sha256, crs, tile_m, stride_m, gsd_m, model_id, complete, n_tiles) VALUES (%d, %Q, %Q, %Q, %.17g, %.17g, %.17g, %d, %d, %d);',
              id, CASE WHEN '$3' = '' THEN path ELSE '$3/' || replace(path, rtrim(path, replace(path, '/', '')), '') END,
              sha256, crs, tile_m, stride_m, gsd_m, model_id, complete, n_tiles) FROM tg_rasters;
SELECT printf('INSERT INTO tg_tiles (id, raster_id, model_id, col, "row", center_lon, center_lat, win_x, win_y, win_w, win_h, crs, embedding, geom) VALUES (%d, %d, %d, %d, %d, %.17g, %.17g, %d, %d, %d, %d, %Q, ''\\x%s''::bytea, ST_GeomFromWKB(''\\x%s''::bytea, 4326));',
              id, raster_id, model_id, col, row, center_lon, center_lat, win_x, win_y, win_w, win_h, crs, hex(embedding), hex(AsBinary(geom))) FROM tg_tiles ORDER BY id;
SELECT 'DO \$\$ BEGIN PERFORM setval(''tg_tiles_id_seq'', ' || max(id) || '); END \$\$;' FROM tg_tiles;
SQL
    } | tg_sqlite "$1" 2>&1
}

# pg_ext_sq DB: the sqlite3 shell with mod_transgeo on DB, SQL on stdin, list mode.
pg_ext_sq() {
    { tg_sql_preamble; printf '.headers off\n.mode list\n'; cat; } | tg_sqlite "$1" 2>&1
}

# pg_ext_reference DIR: the SQLite reference of the PostgreSQL tests: DIR/ref.sqlite
# with the tiny test model registered and the NAIP test raster indexed in
# 640 m tiles by mod_transgeo; DIR/embNN.sqlite the hex of
# tg_embed_ground(photos/NN.jpg) and DIR/photoNN.hex the photo's bytes in
# hex, for NN = 01 02 03. Returns non-zero when indexing failed (DIR/index.out).
pg_ext_reference() {
    printf "SELECT tg_model_register('tiny', '%s');\nSELECT tg_index_raster('%s', 'tiny', 640);\n" \
        "${TG_TEST_MODEL:-$TOP_SRCDIR/tests/golden/tiny/model.safetensors}" \
        "$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20090818.tif" | pg_ext_sq "$1/ref.sqlite" > "$1/index.out"
    [ "$(tail -n 1 "$1/index.out")" -gt 10 ] 2>/dev/null || return 1
    for pgr_p in 01 02 03; do
        printf "SELECT hex(tg_embed_ground('%s'));\n" "$TG_SHARED_DATA/photos/$pgr_p.jpg" |
            pg_ext_sq "$1/ref.sqlite" > "$1/emb$pgr_p.sqlite"
        od -An -v -tx1 "$TG_SHARED_DATA/photos/$pgr_p.jpg" | tr -d ' \n' > "$1/photo$pgr_p.hex"
    done
}

# pg_ext_compare FILE_A FILE_B: rows "rank|tile_id|score|lon|lat|error_m" of
# mod_transgeo and of PostgreSQL: the same ranks and tiles, |score| within
# 1e-6, centres within 1e-9 deg, error_m within 1e-6 of itself. The scores
# differ at float rounding (mod_transgeo sums in float with BLAS, tg_score in
# double, both round to float: measured up to 3e-8), and error_m follows
# them through exp(20 s): measured up to 6e-8 of itself (8e-5 m of 1410 m).
# Prints the differences; returns non-zero when there are any.
pg_ext_compare() {
    awk -F'|' 'NR == FNR { a[FNR] = $0; na = FNR; next }
        { nb = FNR; split(a[FNR], x, "|")
          if (x[1] != $1 || x[2] != $2) { print "row " FNR ": " a[FNR] " vs " $0; bad = 1; next }
          d = x[3] - $3; if (d < 0) d = -d; if (d > 1e-6) { print "score " FNR ": " x[3] " vs " $3; bad = 1 }
          d = x[4] - $4; if (d < 0) d = -d; e = x[5] - $5; if (e < 0) e = -e
          if (d > 1e-9 || e > 1e-9) { print "centre " FNR; bad = 1 }
          d = x[6] - $6; if (d < 0) d = -d; if (d > 1e-6 * x[6]) { print "error_m " FNR ": " x[6] " vs " $6; bad = 1 } }
        END { if (na != nb || na == 0) { print "rows: " na " vs " nb; bad = 1 }; exit bad }' "$1" "$2"
}

# pg_ext_matches_sq DB EMB_HEX K [NEAR_LON NEAR_LAT RADIUS_M | WKT RADIUS_M] and
# pg_ext_matches_pg NAME EMB_HEX K [...]: the rows pg_ext_compare reads;
# PostgreSQL's function is $TG_PG_MATCHES (tg_matches: the locator, or
# tg_search: the per-partition top-k).
pg_ext_matches_sq() {
    pgm_near=""
    [ $# -ge 6 ] && pgm_near=", MakePoint($4, $5, 4326), $6"
    [ $# = 5 ] && pgm_near=", GeomFromText('$4', 4326), $5" # [WKT RADIUS_M]
    printf "SELECT rank, tile_id, printf('%%.9f', score), printf('%%.12f', lon), printf('%%.12f', lat), printf('%%.9f', error_m) FROM tg_matches(x'%s', %s%s);\n" \
        "$2" "$3" "$pgm_near" | pg_ext_sq "$1"
}
pg_ext_matches_pg() {
    pgm_near=""
    [ $# -ge 6 ] && pgm_near=", ST_SetSRID(ST_MakePoint($4, $5), 4326), $6"
    [ $# = 5 ] && pgm_near=", ST_GeomFromText('$4', 4326), $5"
    pg_psql "$1" -At -F'|' -c "SELECT rank, tile_id, to_char(score, 'FM0.999999999'), round(lon::numeric, 12), round(lat::numeric, 12), round(error_m::numeric, 9) FROM ${TG_PG_MATCHES:-tg_matches}('\\x$2'::bytea, $3$pgm_near)" 2>&1
}

# pg_ext_same_csv A B: two CSVs of transgeo locate: the same fields, numbers
# within 1e-6 (error radii: 1e-6 of themselves); prints the differences.
pg_ext_same_csv() {
    awk -F, 'NR == FNR { a[FNR] = $0; n = FNR; next }
        { if (!(FNR in a)) { print "line " FNR " only in " FILENAME; bad = 1; exit }
          split(a[FNR], x, ","); m = split($0, y, ",")
          if (FNR == 1) for (i = 1; i <= m; i++) hdr[i] = y[i]
          for (i = 1; i <= m; i++) {
              if (x[i] == y[i]) continue
              if (x[i] ~ /^-?[0-9.e+-]+$/ && y[i] ~ /^-?[0-9.e+-]+$/) {
                  d = x[i] - y[i]; if (d < 0) d = -d
                  t = 1e-6
                  if (hdr[i] ~ /error_m$/) t = 1e-6 * (x[i] < 0 ? -x[i] : x[i])
                  if (d <= t) continue
              }
              print "line " FNR ", " hdr[i] ": " x[i] " vs " y[i]; bad = 1
          } }
        END { if (FNR != n) { print "lines: " n " vs " FNR; bad = 1 }; exit bad }' "$1" "$2"
}
