# src/locate/local.mk: the locate layer: tg_locator, the one pipeline from a
# photo to an answer. Included by the top Makefile.am.
libtgcore_la_SOURCES += src/locate/locator.c include/transgeo/locate.h src/locate/metre.c \
	src/locate/metre.h
tginclude_HEADERS += include/transgeo/locate.h

# ---- benchmark (not built by `make`, not part of `make check`) -------------
#   make bench-locate-batch   (TG_BENCH_SIZES, TG_BENCH_BATCHES, ...: see bench/locate_batch.sh)
EXTRA_PROGRAMS += bench/locate_batch_bench
bench_locate_batch_bench_SOURCES = bench/locate_batch.c
bench_locate_batch_bench_LDADD = $(TG_TEST_LIBS)
EXTRA_DIST += bench/locate_batch.sh bench/locate_batch_store.py
CLEANFILES += bench/locate_batch_bench
bench-locate-batch: bench/locate_batch_bench transgeo
	PYTHON3='$(PYTHON3)' $(SHELL) $(srcdir)/bench/locate_batch.sh ./bench/locate_batch_bench ./transgeo
.PHONY: bench-locate-batch

check_PROGRAMS += tests/test_locate_batch
tests_test_locate_batch_SOURCES = tests/test_locate_batch.c tests/tap.h
tests_test_locate_batch_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_locate_batch
