#!/bin/sh
# tests/cli_manpage.sh - the EXAMPLES of transgeo(1) for index, locate and eval
# (the block between the comments `cli-examples-begin` and `cli-examples-end`
# in man/transgeo.1) run as printed, in a directory laid out as they assume.
. "$TOP_SRCDIR/tests/cli_common.sh"
workdir cli_manpage
PAGE=$TOP_SRCDIR/man/transgeo.1
ln -s "$NAIP" "$W/m_4709963_se_14_1_20090818.tif"
cp "$TINY" "$W/tiny.safetensors"
mkdir -p "$W/photos"
cp "$PHOTOS/01.jpg" "$PHOTOS/test_exif.jpg" "$PHOTOS/empty_exif.jpg" "$W/photos/"
printf '%s\n' photos/01.jpg photos/test_exif.jpg >"$W/list.txt"
printf 'file,lat,lon\nempty_exif.jpg,47.02,-99.15\n' >"$W/truth.csv"

# The block, with the roff escapes undone and continuation lines joined.
sed -n '/^\.\\" cli-examples-begin/,/^\.\\" cli-examples-end/p' "$PAGE" |
    grep -v '^\.' | sed -e 's/\\-/-/g' -e 's/\\e/\\/g' |
    awk '{ if (sub(/\\$/, "")) { buf = buf $0 } else { print buf $0; buf = "" } }' >"$W/examples.txt"
check "the page has the examples block" test -s "$W/examples.txt"
i=0
while IFS= read -r line; do
    i=$((i + 1))
    set -- $line
    case $1 in
    transgeo) shift; cmd="\"\$TG\" $*" ;;
    ogrinfo) have ogrinfo || { skip "example $i: $line" "ogrinfo not installed"; continue; }; cmd=$line ;;
    *) notok "example $i: unknown command '$1'"; continue ;;
    esac
    (cd "$W" && TG=$TG eval "$cmd") >"$W/example$i.out" 2>"$W/example$i.err"
    rc=$?
    if [ "$rc" -eq 0 ]; then ok "example $i runs: $line"; else
        notok "example $i: exit $rc: $line"
        sed 's/^/#   /' "$W/example$i.err" | head -5
    fi
done <"$W/examples.txt"
check "the examples index, locate and evaluate (5 commands)" test "$i" -eq 5
check "located.gpkg has the 3 photos" \
    test "$(sqlite3 "$W/located.gpkg" "SELECT count(*) FROM photos" 2>/dev/null)" = 3
check "the @list example prints a CSV with the 2 listed photos" \
    test "$(grep -c '^photos/' "$W/example4.out")" = 2
check "the eval example prints JSON with 3 evaluated photos" \
    "$PYTHON3" -c 'import json, sys; sys.exit(json.load(open(sys.argv[1]))["n_photos"] != 3)' "$W/example5.out"
done_testing
