# src/geo/local.mk: the geo layer: geodesic distance, the one UTM/UPS zone
# rule, CRS transformations (PROJ). Included by the top Makefile.am.
libtgcore_la_SOURCES += src/geo/geo.c include/transgeo/geo.h
tginclude_HEADERS += include/transgeo/geo.h

check_PROGRAMS += tests/test_geo
tests_test_geo_SOURCES = tests/test_geo.c tests/tap.h
tests_test_geo_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_geo
