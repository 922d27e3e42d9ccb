# sql/local.mk: the database layer (src/search, src/store), the mod_transgeo
# SQLite/SpatiaLite extension, its tests and the search benchmark.
libtgcore_la_SOURCES += src/search.c src/search.h
tginclude_HEADERS += src/search.h

check_PROGRAMS += tests/test_search
tests_test_search_SOURCES = tests/test_search.c tests/tap.h
tests_test_search_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_search

# Benchmark (not built by `make`, not part of `make check`): make bench-search
# (integrator: move "EXTRA_PROGRAMS =" to Makefile.am if another fragment needs it)
EXTRA_PROGRAMS = bench/search_bench
bench_search_bench_SOURCES = bench/search.c
bench_search_bench_LDADD = $(TG_TEST_LIBS)
EXTRA_DIST += bench/search.sh bench/search.py
CLEANFILES += bench/search_bench
bench-search: bench/search_bench
	PYTHON3='$(PYTHON3)' $(SHELL) $(srcdir)/bench/search.sh ./bench/search_bench
.PHONY: bench-search
