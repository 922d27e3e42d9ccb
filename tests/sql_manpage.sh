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
# means the extraction below lost some).
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

# man source -> plain text of the EXAMPLES section's .EX blocks -> test script.
sed -n '/^\.SH EXAMPLES/,/^\.SH [^E]/p' "$TOP_SRCDIR/man/transgeo-sql.7" |
    awk '/^\.EX/ { ex = 1; next } /^\.EE/ { ex = 0; next } ex { print }' |
    sed -e "s/\\\\(aq/'/g" -e 's/\\(ha/^/g' -e 's/\\-/-/g' -e 's/\\&//g' -e 's/\\e/\\/g' |
    awk '
    function regex(s,   r) {  # literal text with "..." as a wildcard -> ERE
        r = s
        gsub(/[][\\^$.|?*+(){}]/, "\\\\&", r)
        gsub(/\\\.\\\.\\\./, ".*", r)
        return "^" r "$"
    }
    /^sqlite> \.load / { next }           # the runner loads both modules
    /^sqlite> / { n++; sub(/^sqlite> /, ""); print "-- test: man page example " n ": " $0; print; next }
    { if (index($0, "...")) print "-- =~ " regex($0); else print "-- => " $0 }
    ' > "$dir/sql_manpage_examples.sql"
export TG_SQL_MIN_CASES=20
cd "$dir" && exec sh "$TOP_SRCDIR/tests/sql_runner.sh" "$dir/sql_manpage_examples.sql"
