# sql/local.mk: mod_transgeo, the SQLite/SpatiaLite extension over the
# public API, and its SQL tests. Included by the top Makefile.am.

# ---- the extension: mod_transgeo.so ---------------------------------------
# Loaded by `.load mod_transgeo` / load_extension('mod_transgeo') after
# mod_spatialite; entry point sqlite3_modtransgeo_init, also exported as
# sqlite3_extension_init (see sql/mod_transgeo.c: libgdal exports one too).
lib_LTLIBRARIES += mod_transgeo.la
mod_transgeo_la_SOURCES = sql/mod_transgeo.c sql/sql_common.c sql/sql_functions.c \
	sql/sql_matches.c sql/tgsql.h include/transgeo/sql.h
# For C hosts: tg_sql_set_files (file access and trusted locations), header only.
tginclude_HEADERS += include/transgeo/sql.h
mod_transgeo_la_LIBADD = libtransgeo.la $(DEP_LIBS)
mod_transgeo_la_LDFLAGS = -module -avoid-version -shared \
	-export-symbols-regex '^sqlite3_(modtransgeo|extension)_init$$' $(AM_LDFLAGS)

# ---- tests -----------------------------------------------------------------
# Untrusted SQL and databases (issue 20): the store's file policy, the host's
# settings of mod_transgeo, no file contents in any loader's message.
check_PROGRAMS += tests/test_untrusted
tests_test_untrusted_SOURCES = tests/test_untrusted.c tests/tap.h
tests_test_untrusted_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_untrusted
TG_TESTS += tests/sql_functions.sql tests/sql_errors.sql \
	tests/sql_resume.sh tests/sql_concurrent.sh tests/sql_manpage.sh
EXTRA_DIST += tests/sql_runner.sh tests/sql_lib.sh tests/sql_functions.sql tests/sql_errors.sql \
	tests/sql_resume.sh tests/sql_concurrent.sh tests/sql_manpage.sh
