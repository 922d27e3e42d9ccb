# src/batch/local.mk: the batch layer (photo lists, GeoPackage/CSV outputs,
# worker threads, evaluation metrics) and the index/locate/eval commands.
libtgcore_la_SOURCES += src/batch/evalmetrics.c include/transgeo/evalmetrics.h src/batch/batch.c \
	src/batch/photolist.c src/batch/output.c src/batch/truth.c src/batch/batch_int.h \
	include/transgeo/batch.h
tginclude_HEADERS += include/transgeo/evalmetrics.h include/transgeo/batch.h

transgeo_SOURCES += src/cli/cmd_index.c src/cli/cmd_locate.c src/cli/cmd_eval.c \
	src/cli/cli_sig.h

check_PROGRAMS += tests/test_evalmetrics
tests_test_evalmetrics_SOURCES = tests/test_evalmetrics.c tests/tap.h
tests_test_evalmetrics_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_evalmetrics

# End-to-end CLI tests (TAP, sh): they share tests/cli_common.sh (sourced).
TG_TESTS += tests/cli_index.sh tests/cli_locate.sh tests/cli_eval.sh tests/cli_manpage.sh tests/metre_cli.sh \
	tests/locate_batch.sh
EXTRA_DIST += tests/cli_common.sh tests/progress_check.py tests/cli_index.sh tests/cli_locate.sh tests/cli_eval.sh \
	tests/metre_cli.sh tests/locate_batch.sh \
	tests/cli_manpage.sh
