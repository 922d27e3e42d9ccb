# tilecache/local.mk: raster -> north-up metric aerial tiles (libtgcore), the
# `transgeo tiles` command and their tests. Included by the top Makefile.am.
libtgcore_la_SOURCES += tilecache/tilecache.c include/transgeo/tilecache.h
tginclude_HEADERS += include/transgeo/tilecache.h

transgeo_SOURCES += src/cli/cmd_tiles.c

check_PROGRAMS += tests/test_tilecache
tests_test_tilecache_SOURCES = tests/test_tilecache.c tests/tap.h
tests_test_tilecache_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_tilecache tests/tiles_gdal.py tests/tiles_zones.py tests/tiles_cli.sh
EXTRA_DIST += tests/tiles_gdal.py tests/tiles_zones.py tests/tiles_cli.sh bench/tilecache.sh
