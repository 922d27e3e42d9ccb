# tests/sql_lib.sh - sourced by the SQL tests (sql_runner.sh and sql_*.sh):
# where mod_transgeo and mod_spatialite are, and how to run the sqlite3 shell
# with them.
#
#   . "$TOP_SRCDIR/tests/sql_lib.sh"
#   tg_sql_init || exit 77           # 77 = skip: no sqlite3 shell
#   tg_sqlite "$db" < script.sql     # the shell, with LD_PRELOAD for sanitizers
#
# Sets MOD_TG (the built extension, no suffix: `.load $MOD_TG` exercises the
# default entry point lookup) and MOD_SPATIALITE. Sanitizer builds
# (SANITIZERS holds -fsanitize=...): the extension needs the ASan/UBSan
# runtimes loaded before anything else, so the shell runs with them in
# LD_PRELOAD; leak checking is off there (the shell and SpatiaLite keep
# their own memory until exit; our leaks are caught by the C tests, which
# call the same code without the shell).
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${TOP_BUILDDIR:=$(pwd)}"
: "${TG_SHARED_DATA:=$TOP_SRCDIR/../shared/data}"
: "${TG_TMPDIR:=$TOP_BUILDDIR/tests/tmp}"
: "${SANITIZERS:=}"

tg_sql_init() {
    SQLITE3=${SQLITE3:-$(command -v sqlite3)}
    if [ -z "$SQLITE3" ]; then
        echo "# sqlite3 shell not found (Debian package sqlite3)"
        return 1
    fi
    MOD_TG="$TOP_BUILDDIR/.libs/mod_transgeo"
    if [ ! -f "$MOD_TG.so" ]; then
        echo "not ok 1 - $MOD_TG.so not built"
        exit 1
    fi
    MOD_SPATIALITE=${TG_MOD_SPATIALITE:-mod_spatialite}
    TG_PRELOAD=
    case "$SANITIZERS" in
    *address*)
        cc=${CC:-cc}
        asan=$($cc -print-file-name=libasan.so)
        ubsan=$($cc -print-file-name=libubsan.so)
        TG_PRELOAD="$asan"
        case "$SANITIZERS" in *undefined*) TG_PRELOAD="$TG_PRELOAD $ubsan" ;; esac
        ;;
    esac
    mkdir -p "$TG_TMPDIR"
    export TG_PRELOAD MOD_TG MOD_SPATIALITE SQLITE3
    return 0
}

# tg_sqlite ARGS...: the sqlite3 shell (with the sanitizer runtimes if needed).
tg_sqlite() {
    if [ -n "$TG_PRELOAD" ]; then
        LD_PRELOAD="$TG_PRELOAD" ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:verify_asan_link_order=0" \
            "$SQLITE3" "$@"
    else
        "$SQLITE3" "$@"
    fi
}

# tg_sqlite_exec ARGS...: the same, replacing the current (sub)shell, so that
# `(tg_sqlite_exec db < x) &` gives the shell's own pid in $! (for kill -9).
tg_sqlite_exec() {
    if [ -n "$TG_PRELOAD" ]; then
        LD_PRELOAD="$TG_PRELOAD"
        ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:verify_asan_link_order=0"
        export LD_PRELOAD ASAN_OPTIONS
    fi
    exec "$SQLITE3" "$@"
}

# The lines every script starts with: SpatiaLite, then mod_transgeo.
tg_sql_preamble() {
    printf '.bail off\n.load %s\n.load %s\n' "$MOD_SPATIALITE" "$MOD_TG"
}

# Replace the @NAME@ tokens the test scripts use.
tg_sql_subst() {
    sed -e "s|@SHARED@|$TG_SHARED_DATA|g" -e "s|@SRCDIR@|$TOP_SRCDIR|g" \
        -e "s|@TMP@|$TG_TMPDIR|g" -e "s|@MODTG@|$MOD_TG|g" -e "s|@SPATIALITE@|$MOD_SPATIALITE|g" \
        -e "s|@MODEL@|${TG_TEST_MODEL:-$TOP_SRCDIR/tests/golden/tiny/model.safetensors}|g" \
        -e "s|@NAIP@|$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20090818.tif|g" \
        -e "s|@NAIP2018@|$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20180716.tif|g"
}

# The shell's error lines, normalised: "Parse error near line 12: msg" and
# "Runtime error near line 12: msg" become "Error: msg"; the echo of the
# statement and its "^--- error here" pointer are dropped.
tg_sql_normalise() {
    sed -e 's/^\(Parse\|Runtime\) error near line [0-9]*: /Error: /' | grep -v '^  ' || true
}
