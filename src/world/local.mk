# src/world/local.mk: the demo-world generator (src/world/), its tests and the
# training-data script. See include/transgeo/world.h.
#
# The generator is a convenience library of its own so that it can be built
# with -ffp-contract=off: no fused multiply-add, so that the same seed gives
# the same scene and aerial pixels on every CPU (x86-64, aarch64, ...).
noinst_LTLIBRARIES += libtgworld.la
libtgworld_la_SOURCES = include/transgeo/world.h src/world/world_int.h src/world/world_out.h \
	src/world/layout.c src/world/trace.c src/world/render.c src/world/output.c src/world/world.c
libtgworld_la_CFLAGS = $(AM_CFLAGS) -ffp-contract=off
libtgcore_la_LIBADD += libtgworld.la

# installed as <transgeo/world.h> beside the other public headers
tginclude_HEADERS += include/transgeo/world.h

check_PROGRAMS += tests/test_world
tests_test_world_SOURCES = tests/test_world.c tests/tap.h
tests_test_world_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_world
EXTRA_DIST += tools/gen_worlds.sh tests/world_cli.sh

# `transgeo world` (src/cli/cmd_world.c) and its shell test.
transgeo_SOURCES += src/cli/cmd_world.c
TG_TESTS += tests/world_cli.sh
