# src/cli.mk: automake fragment for the index/locate/eval commands, batch
# locate (src/batch.*) and the evaluation metrics (src/evalmetrics.*).
libtgcore_la_SOURCES += src/batch/evalmetrics.c include/transgeo/evalmetrics.h src/batch/batch.c include/transgeo/batch.h
tginclude_HEADERS += include/transgeo/evalmetrics.h include/transgeo/batch.h

transgeo_SOURCES += src/cli/cmd_index.c src/cli/cmd_locate.c src/cli/cmd_eval.c \
	src/cli/cli_sig.h
transgeo_CPPFLAGS += -DTG_CMD_INDEX -DTG_CMD_LOCATE -DTG_CMD_EVAL

check_PROGRAMS += tests/test_evalmetrics
tests_test_evalmetrics_SOURCES = tests/test_evalmetrics.c tests/tap.h
tests_test_evalmetrics_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_evalmetrics

# End-to-end CLI tests (TAP, sh): they share tests/cli_common.sh (sourced).
TG_TESTS += tests/cli_index.sh tests/cli_locate.sh tests/cli_eval.sh tests/cli_manpage.sh tests/metre_cli.sh
EXTRA_DIST += tests/cli_common.sh tests/cli_index.sh tests/cli_locate.sh tests/cli_eval.sh tests/metre_cli.sh \
	tests/cli_manpage.sh
