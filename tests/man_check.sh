#!/bin/sh
# Each manual page renders without a groff/man warning.
n=0; fail=0
for page in man/transgeo.1 man/transgeo-sql.7 man/libtransgeo.3 man/transgeo-pg.7; do
    n=$((n + 1))
    out=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$TOP_SRCDIR/$page" 2>&1 >/dev/null)
    if [ -z "$out" ]; then echo "ok $n - $page renders without warnings"
    else echo "not ok $n - $page: $out"; fi
done
echo "1..$n"
