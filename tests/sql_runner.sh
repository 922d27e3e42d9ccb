#!/bin/sh
# tests/sql_runner.sh - runs one SQL test script through the sqlite3 shell
# (with mod_spatialite and mod_transgeo loaded) and compares its output with
# the expectations written in the script, printing TAP. tests/runner.sh uses
# it for every tests/*.sql in TG_TESTS.
#
#   sh tests/sql_runner.sh tests/sql_functions.sql
#
# Script format: cases, each opened by a line `-- test: what it checks`,
# followed by SQL (and shell dot-commands) and the expected output:
#   -- => text       an output line, exactly
#   -- =~ regex      an output line matching this extended regex (grep -E)
# A case with no expectation must print nothing. Error lines are normalised
# to "Error: <message>" (see tg_sql_normalise in tests/sql_lib.sh). Lines
# before the first case are a setup whose output is ignored. Tokens: @SHARED@
# (test data), @SRCDIR@, @TMP@ (scratch), @MODEL@ (tiny golden model),
# @NAIP@ / @NAIP2018@ (the NAIP rasters), @MODTG@, @SPATIALITE@.
# Every script runs in one shell session on a fresh database
# $TG_TMPDIR/<script name>.sqlite, cases in order; other databases it opens
# should be named @TMP@/<script name>_*.sqlite (removed before the run).
# TG_SQL_MIN_CASES=N adds a last check: the script has at least N cases (for
# generated scripts, whose extraction could silently lose cases).
set -u
script=$1
: "${TOP_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$TOP_SRCDIR/tests/sql_lib.sh"
tg_sql_init || exit 77
name=$(basename "$script" .sql)
db="$TG_TMPDIR/$name.sqlite"
work="$TG_TMPDIR/$name.run"
rm -rf "$db" "$db-wal" "$db-shm" "$work" "$TG_TMPDIR/${name}"_*.sqlite*
mkdir -p "$work"

# Split the script: the SQL to run (with markers between cases) and the
# expectations of each case.
tg_sql_subst < "$script" | awk -v work="$work" '
    BEGIN { n = 0; sql = work "/run.sql"; printf "" > sql }
    /^-- test: / { n++; sub(/^-- test: /, ""); print > (work "/name." n);
                   printf "" > (work "/want." n); print ".print @@CASE " n > sql; next }
    /^-- (=>|=~) ?/ { if (n == 0) next; print > (work "/want." n); next }
    /^--/ { next }
    { print > sql }
    END { print ".print @@CASE END" > sql; print n > (work "/count") }'
n_cases=$(cat "$work/count")
{ tg_sql_preamble; cat "$work/run.sql"; } | tg_sqlite "$db" > "$work/raw.out" 2>&1
rc=$?
tg_sql_normalise < "$work/raw.out" | awk -v work="$work" '
    /^@@CASE / { c = $2; next }
    c != "" && c != "END" { print > (work "/got." c) }'

fails=0
i=1
while [ "$i" -le "$n_cases" ]; do
    what=$(cat "$work/name.$i")
    got="$work/got.$i"
    [ -f "$got" ] || : > "$got"
    ok=1
    n_want=$(wc -l < "$work/want.$i")
    n_got=$(wc -l < "$got")
    if [ "$n_want" -ne "$n_got" ]; then
        ok=0
    else
        j=1
        while [ "$j" -le "$n_want" ]; do
            w=$(sed -n "${j}p" "$work/want.$i")
            g=$(sed -n "${j}p" "$got")
            case "$w" in
            "-- => "*|"-- =>") [ "$g" = "$(printf '%s' "$w" | sed 's/^-- => \{0,1\}//')" ] || ok=0 ;;
            "-- =~ "*) printf '%s\n' "$g" | grep -Eq -- "$(printf '%s' "$w" | sed 's/^-- =~ //')" || ok=0 ;;
            esac
            j=$((j + 1))
        done
    fi
    if [ "$ok" -eq 1 ]; then
        echo "ok $i - $what"
    else
        fails=$((fails + 1))
        echo "not ok $i - $what"
        echo "#   expected:"; sed 's/^-- \(=>\|=~\) \{0,1\}/#     /' "$work/want.$i"
        echo "#   got:"; sed 's/^/#     /' "$got"
    fi
    i=$((i + 1))
done
# A shell that crashed (sanitizer report, signal) fails the script.
if [ "$rc" -gt 1 ] || grep -q -e 'ERROR: AddressSanitizer' -e 'runtime error:' "$work/raw.out"; then
    i=$((n_cases + 1))
    echo "not ok $i - sqlite3 exited with status $rc"
    grep -e 'Sanitizer' -e 'runtime error' "$work/raw.out" | head -20 | sed 's/^/#   /'
    fails=$((fails + 1))
    n_cases=$i
fi
if [ -n "${TG_SQL_MIN_CASES:-}" ]; then
    have=$(cat "$work/count")
    n_cases=$((n_cases + 1))
    if [ "$have" -ge "$TG_SQL_MIN_CASES" ]; then
        echo "ok $n_cases - the script has at least $TG_SQL_MIN_CASES cases ($have)"
    else
        echo "not ok $n_cases - the script has at least $TG_SQL_MIN_CASES cases: it has $have"
        fails=$((fails + 1))
    fi
fi
echo "1..$n_cases"
[ "$fails" -eq 0 ]
