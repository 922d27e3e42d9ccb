#!/bin/sh
# make install into a scratch DESTDIR gives a usable library: headers, transgeo.pc,
# the shared library, the command, the extension and the man pages; a program
# built with `pkg-config --cflags --libs transgeo` runs; make uninstall removes it all.
set -u
dest="$TG_TMPDIR/install-check"
rm -rf "$dest"; mkdir -p "$dest"
n=0
t() { n=$((n + 1)); if eval "$2" >>"$dest/log" 2>&1; then echo "ok $n - $1"; else echo "not ok $n - $1"; tail -5 "$dest/log" | sed 's/^/# /'; fi; }
prefix=/usr/local
t "make install into DESTDIR" "make -s -C '$TOP_BUILDDIR' install DESTDIR='$dest' prefix=$prefix"
root="$dest$prefix"
t "header installed" "test -f '$root/include/transgeo/transgeo.h'"
t "pkg-config file installed" "test -f '$root/lib/pkgconfig/transgeo.pc'"
t "man pages installed" "test -f '$root/share/man/man1/transgeo.1' && test -f '$root/share/man/man7/transgeo-sql.7' && test -f '$root/share/man/man3/libtransgeo.3'"
t "transgeo command installed" "test -x '$root/bin/transgeo'"
cat > "$dest/hello.c" <<'C'
#include <transgeo/transgeo.h>
#include <stdio.h>
int main(void)
{
    tg_ctx *ctx = NULL;
    if (tg_ctx_create(&ctx) != 0) return 1;
    int rc = tg_ctx_set_threads(ctx, -1);
    printf("%s %d %s\n", tg_version(), rc, tg_errmsg(ctx));
    tg_ctx_free(ctx);
    return rc == TG_EINVAL ? 0 : 1;
}
C
cflags=$(PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$root/lib/pkgconfig" pkg-config --cflags transgeo)
libs=$(PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_PATH="$root/lib/pkgconfig" pkg-config --libs transgeo)
t "a program compiles and links with pkg-config transgeo" "cc ${SANITIZERS:-} $cflags '$dest/hello.c' -o '$dest/hello' $libs"
t "it runs against the installed shared library" "LD_LIBRARY_PATH='$root/lib' '$dest/hello' | grep -q 'thread count -1'"
t "make uninstall removes every installed file" "make -s -C '$TOP_BUILDDIR' uninstall DESTDIR='$dest' prefix=$prefix && test -z \"\$(find '$dest$prefix' -type f)\""
echo "1..$n"
