#!/bin/sh
# tests/lib_manpage.sh - the EXAMPLE of libtransgeo(3) (the block between the
# comments `example-begin` and `example-end`) compiles warning-free against the
# public headers and the built library, and runs on a real photo with the demo
# model; its error path prints tg_errmsg's message.
set -u
W="$TG_TMPDIR/lib_manpage"
rm -rf "$W"; mkdir -p "$W/inc"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
check() { d=$1; shift; if "$@" >"$W/log" 2>&1; then ok "$d"; else notok "$d"; tail -5 "$W/log" | sed 's/^/# /'; fi; }
PAGE=$TOP_SRCDIR/man/libtransgeo.3
# The program, roff escapes undone (\e -> \, \- -> -).
sed -n '/^\.\\" example-begin/,/^\.\\" example-end/p' "$PAGE" | grep -v '^\.' |
    sed -e 's/\\-/-/g' -e 's/\\e/\\/g' >"$W/embed.c"
check "the page has the example" grep -q 'tg_model_embed_ground' "$W/embed.c"
# <transgeo/...> as installed: the public headers are include/transgeo/.
check "it compiles with -Wall -Wextra -Werror against the public headers" \
    ${CC:-cc} ${SANITIZERS:-} -std=c11 -Wall -Wextra -Werror -I"$TOP_SRCDIR/include" \
    "$W/embed.c" -o "$W/embed" "$TOP_BUILDDIR/.libs/libtransgeo.so" -Wl,-rpath,"$TOP_BUILDDIR/.libs"
"$W/embed" "$TOP_SRCDIR/models/demo.safetensors" "$TG_SHARED_DATA/photos/01.jpg" >"$W/out" 2>"$W/err"
rc=$?
check "it embeds 01.jpg with the demo model (exit $rc)" test "$rc" -eq 0
check "it prints the size, the preset and out_dim" grep -q '01.jpg 3264x2448, demo, 128 floats: ' "$W/out"
"$W/embed" "$W/missing.safetensors" "$TG_SHARED_DATA/photos/01.jpg" >"$W/out2" 2>"$W/err2"
rc=$?
check "a missing model exits 1" test "$rc" -eq 1
check "with tg_errmsg's message naming the file" grep -q "^embed: model '.*missing.safetensors': cannot open" "$W/err2"
echo "1..$n"
