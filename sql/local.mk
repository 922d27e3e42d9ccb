# sql/local.mk: the database layer (src/search.*, src/store.*), the
# mod_transgeo SQLite/SpatiaLite extension, their tests and the search
# benchmark. Included by the top Makefile.am.

# ---- library: exact top-k search and the SpatiaLite store -----------------
libtgcore_la_SOURCES += src/store/search.c include/transgeo/search.h src/store/db.c include/transgeo/store.h \
	src/store/rasters.c
tginclude_HEADERS += include/transgeo/search.h include/transgeo/store.h

# ---- library: the locator (one pipeline from a photo to an answer) --------
libtgcore_la_SOURCES += src/locate/locator.c include/transgeo/locate.h src/locate/metre.c \
	src/locate/metre.h
tginclude_HEADERS += include/transgeo/locate.h

# sql/schema.sql is the one source of truth of the schema; it is compiled in
# as the C string tg_schema_sql_text (run by tg_store_ensure_schema).
nodist_libtgcore_la_SOURCES = sql/schema_sql.c
CLEANFILES += sql/schema_sql.c
EXTRA_DIST += sql/schema.sql
sql/schema_sql.c: $(srcdir)/sql/schema.sql $(srcdir)/sql/local.mk
	$(AM_V_GEN)$(MKDIR_P) sql && { \
	  echo '/* Generated from sql/schema.sql by sql/local.mk: do not edit. */'; \
	  echo 'extern const char tg_schema_sql_text[];'; \
	  echo 'const char tg_schema_sql_text[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $(srcdir)/sql/schema.sql; \
	  echo '    ;'; } > $@-t && mv $@-t $@

# ---- the extension: mod_transgeo.so ---------------------------------------
# Loaded by `.load mod_transgeo` / load_extension('mod_transgeo') after
# mod_spatialite; entry point sqlite3_modtransgeo_init, also exported as
# sqlite3_extension_init (see sql/mod_transgeo.c: libgdal exports one too).
lib_LTLIBRARIES += mod_transgeo.la
mod_transgeo_la_SOURCES = sql/mod_transgeo.c sql/sql_common.c sql/sql_functions.c \
	sql/sql_matches.c sql/tgsql.h
mod_transgeo_la_LIBADD = libtgcore.la $(DEP_LIBS)
mod_transgeo_la_LDFLAGS = -module -avoid-version -shared \
	-export-symbols-regex '^sqlite3_(modtransgeo|extension)_init$$' $(AM_LDFLAGS)

# ---- tests -----------------------------------------------------------------
check_PROGRAMS += tests/test_search tests/test_store
tests_test_search_SOURCES = tests/test_search.c tests/tap.h
tests_test_search_LDADD = $(TG_TEST_LIBS)
tests_test_store_SOURCES = tests/test_store.c tests/tap.h tests/locate_path.h
tests_test_store_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_search tests/test_store tests/sql_functions.sql tests/sql_errors.sql \
	tests/sql_resume.sh tests/sql_concurrent.sh tests/sql_manpage.sh
EXTRA_DIST += tests/sql_runner.sh tests/sql_lib.sh tests/sql_functions.sql tests/sql_errors.sql \
	tests/sql_resume.sh tests/sql_concurrent.sh tests/sql_manpage.sh

# ---- benchmark (not built by `make`, not part of `make check`) -------------
#   make bench-search      (TG_BENCH_SIZES, TG_BENCH_DIMS, ...: see bench/search.sh)
EXTRA_PROGRAMS += bench/search_bench
bench_search_bench_SOURCES = bench/search.c
bench_search_bench_LDADD = $(TG_TEST_LIBS)
EXTRA_DIST += bench/search.sh bench/search.py
CLEANFILES += bench/search_bench
bench-search: bench/search_bench
	PYTHON3='$(PYTHON3)' $(SHELL) $(srcdir)/bench/search.sh ./bench/search_bench
.PHONY: bench-search
