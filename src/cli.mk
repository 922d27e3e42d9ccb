# src/cli.mk: automake fragment for the index/locate/eval commands, batch
# locate (src/batch.*) and the evaluation metrics (src/evalmetrics.*).
libtgcore_la_SOURCES += src/evalmetrics.c src/evalmetrics.h
tginclude_HEADERS += src/evalmetrics.h

check_PROGRAMS += tests/test_evalmetrics
tests_test_evalmetrics_SOURCES = tests/test_evalmetrics.c tests/tap.h
tests_test_evalmetrics_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_evalmetrics
