#!/bin/sh
# tests/sql_manpage.sh - the EXAMPLES of man/transgeo-sql.7 are true: every
# "sqlite> " line of its .EX/.EE blocks runs in the sqlite3 shell, and what
# follows it in the page is what the shell prints ("..." in the page stands
# for any text). The files the examples name are links to the test data:
#   tiny.safetensors -> the tiny golden model (or $TG_TEST_MODEL)
#   naip.tif         -> rasters/m_4709963_se_14_1_20090818.tif
#   street.jpg, street2.jpg -> photos/01.jpg, photos/02.jpg
# The examples become a script in the format of tests/sql_runner.sh, which
# runs it (one TAP line per example statement) and checks there are at least
# TG_SQL_MIN_CASES of them (the page has 20 statements outside .load: fewer
# means the extraction below lost some). The example of the section
# UNTRUSTED SQL AND DATABASES runs the same way in a second session, with the
# environment its "$ " command line sets; the two sessions' TAP lines are
# numbered as one plan.
set -u
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$TOP_SRCDIR/tests/sql_lib.sh"
tg_sql_init || exit 77
dir="$TG_TMPDIR/sql_manpage"
rm -rf "$dir"
mkdir -p "$dir"
ln -s "${TG_TEST_MODEL:-$TOP_SRCDIR/tests/golden/tiny/model.safetensors}" "$dir/tiny.safetensors"
ln -s "$TG_SHARED_DATA/rasters/m_4709963_se_14_1_20090818.tif" "$dir/naip.tif"
ln -s "$TG_SHARED_DATA/photos/01.jpg" "$dir/street.jpg"
ln -s "$TG_SHARED_DATA/photos/02.jpg" "$dir/street2.jpg"

# The .EX blocks of one section (its .SH line matched by $1, up to the next
# .SH) as plain text. Only blocks that are shell sessions ("sqlite> " lines)
# are examples; the others (C code) are shown, not run.
section_examples() {
    sed -n "/^\\.SH $1\$/,/^\\.SH /p" "$TOP_SRCDIR/man/transgeo-sql.7" |
        awk '/^\.EX/ { ex = 1; n = 0; blk = ""; next }
             /^\.EE/ { ex = 0; if (blk ~ /(^|\n)sqlite> /) printf "%s", blk; next }
             ex { blk = blk $0 "\n" }' |
        sed -e "s/\\\\(aq/'/g" -e 's/\\(ha/^/g' -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\e/\\/g'
}

# plain text of examples -> test script in the format of sql_runner.sh.
to_script() {
    awk '
    function regex(s,   r) {  # literal text with "..." as a wildcard -> ERE
        r = s
        gsub(/[][\\^$.|?*+(){}]/, "\\\\&", r)
        gsub(/\\\.\\\.\\\./, ".*", r)
        return "^" r "$"
    }
    /^sqlite> \.load / { next }           # the runner loads both modules
    /^\$ / { next }                       # the shell command line: see below
    /^sqlite> / { n++; sub(/^sqlite> /, ""); print "-- test: " pfx " example " n ": " $0; print; next }
    { if (index($0, "...")) print "-- =~ " regex($0); else print "-- => " $0 }
    ' pfx="$1"
}

section_examples EXAMPLES | to_script "man page" > "$dir/sql_manpage_examples.sql"
(cd "$dir" && TG_SQL_MIN_CASES=20 sh "$TOP_SRCDIR/tests/sql_runner.sh" "$dir/sql_manpage_examples.sql") \
    > "$dir/tap1" 2>&1
rc=$?

# UNTRUSTED SQL AND DATABASES: a locked-down connection, started as the
# page's "$ VAR=... sqlite3 town.sqlite" line says, /srv/transgeo being a
# directory of the test that holds a copy of the model. town.sqlite is made
# beforehand with files on (the model registered from there, the NAIP raster
# indexed in 2560 m tiles).
untrusted=$(section_examples 'UNTRUSTED SQL AND DATABASES')
srv="$dir/srv/transgeo"
mkdir -p "$srv"
cp "${TG_TEST_MODEL:-$TOP_SRCDIR/tests/golden/tiny/model.safetensors}" "$srv/tiny.safetensors"
{ tg_sql_preamble; printf "SELECT tg_model_register('tiny', '%s');\nSELECT tg_index_raster('naip.tif', 'tiny', 2560);\n" "$srv/tiny.safetensors"; } |
    (cd "$dir" && tg_sqlite "$dir/town.sqlite") > "$dir/town.out" 2>&1
if ! grep -qx 10 "$dir/town.out"; then
    echo "not ok 1 - town.sqlite for the UNTRUSTED SQL AND DATABASES example"; sed 's/^/#   /' "$dir/town.out"
    exit 1
fi
cmdline=$(printf '%s\n' "$untrusted" | sed -n 's/^\$ //p' | head -n 1)
case "$cmdline" in
*" sqlite3 town.sqlite") ;;
*) echo "not ok 1 - the UNTRUSTED SQL AND DATABASES example starts with '\$ VAR=... sqlite3 town.sqlite' (got '$cmdline')"; exit 1 ;;
esac
{
    printf '.open %s/town.sqlite\n.load %s\n.load %s\n' "$dir" "$MOD_SPATIALITE" "$MOD_TG"
    printf '%s\n' "$untrusted" | to_script "untrusted SQL"
} | sed "s|/srv/transgeo|$srv|g" > "$dir/sql_manpage_untrusted.sql"
# The environment of the command line, with the test's directory.
envs=$(printf '%s\n' "${cmdline% sqlite3 town.sqlite}" | sed "s|/srv/transgeo|$srv|g")
(cd "$dir" && env $envs sh "$TOP_SRCDIR/tests/sql_runner.sh" "$dir/sql_manpage_untrusted.sql") \
    > "$dir/tap2" 2>&1 || rc=1
# one plan for both sessions
cat "$dir/tap1" "$dir/tap2" | awk '
    /^(not )?ok [0-9]+/ { n++; sub(/ok [0-9]+/, "ok " n); print; next }
    /^1\.\.[0-9]+$/ { next }
    { print }
    END { print "1.." n }'
exit $rc
