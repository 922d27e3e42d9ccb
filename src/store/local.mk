# src/store/local.mk: the store layer: the SpatiaLite database (schema,
# model registry, geometry BLOBs, tilesets, the spatial prior) and the exact
# top-k search. Included by the top Makefile.am.
libtgcore_la_SOURCES += src/store/db.c src/store/registry.c src/store/files.c src/store/geomblob.c \
	src/store/tileset.c src/store/prior.c src/store/rasters.c src/store/search.c src/store/qscan.c src/store/qscan.h src/store/matrix.c src/store/matrix.h src/store/store_int.h \
	include/transgeo/store.h include/transgeo/search.h
tginclude_HEADERS += include/transgeo/search.h include/transgeo/store.h
# The PostgreSQL/PostGIS backend (libpq), behind the same public functions.
libtgcore_la_SOURCES += src/store/pg.c src/store/pg_registry.c src/store/pg_query.c \
	src/store/pg_index.c include/transgeo/store_pg.h
tginclude_HEADERS += include/transgeo/store_pg.h

# src/store/schema.sql is the one source of truth of the schema; it is
# compiled in as the C string tg_schema_sql_text (run by tg_store_ensure_schema).
nodist_libtgcore_la_SOURCES = src/store/schema_sql.c src/store/schema_pg_sql.c
CLEANFILES += src/store/schema_sql.c src/store/schema_pg_sql.c
EXTRA_DIST += src/store/schema.sql src/store/schema_pg.sql
src/store/schema_pg_sql.c: $(srcdir)/src/store/schema_pg.sql $(srcdir)/src/store/local.mk
	$(AM_V_GEN)$(MKDIR_P) src/store && { \
	  echo '/* Generated from src/store/schema_pg.sql by src/store/local.mk: do not edit. */'; \
	  echo 'extern const char tg_schema_pg_sql_text[];'; \
	  echo 'const char tg_schema_pg_sql_text[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $(srcdir)/src/store/schema_pg.sql; \
	  echo '    ;'; } > $@-t && mv $@-t $@
src/store/schema_sql.c: $(srcdir)/src/store/schema.sql $(srcdir)/src/store/local.mk
	$(AM_V_GEN)$(MKDIR_P) src/store && { \
	  echo '/* Generated from src/store/schema.sql by src/store/local.mk: do not edit. */'; \
	  echo 'extern const char tg_schema_sql_text[];'; \
	  echo 'const char tg_schema_sql_text[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/    "/' -e 's/$$/\\n"/' $(srcdir)/src/store/schema.sql; \
	  echo '    ;'; } > $@-t && mv $@-t $@

check_PROGRAMS += tests/test_search tests/test_store tests/test_matrix
tests_test_search_SOURCES = tests/test_search.c tests/tap.h
tests_test_search_LDADD = $(TG_TEST_LIBS)
tests_test_store_SOURCES = tests/test_store.c tests/tap.h tests/locate_path.h
tests_test_store_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_search tests/test_store
# The PostgreSQL backend against the SQLite one, on private clusters
# (tests/pg_cluster.sh, shared with the extension's tests).
TG_TESTS += tests/pg_store.sh tests/pg_store_api.sh
EXTRA_DIST += tests/pg_cluster.sh tests/pg_store.sh tests/pg_store_api.sh
# run by tests/pg_store_api.sh (it needs the cluster that script starts)
check_PROGRAMS += tests/test_store_pg
tests_test_store_pg_SOURCES = tests/test_store_pg.c tests/tap.h
tests_test_store_pg_LDADD = $(TG_TEST_LIBS)
# the matrix file: reuse, extension, rebuilds after damage, kill -9 during rebuilds
tests_test_matrix_SOURCES = tests/test_matrix.c tests/tap.h
tests_test_matrix_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_matrix
# the compact codecs against numpy (ctypes on libtransgeo.so)
TG_TESTS += tests/search_codec.py
EXTRA_DIST += tests/search_codec.py

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

# Every tile's score for many queries in one pass (the locator's batched
# evaluation): a file of its own, on the public tg_index calls only.
libtgcore_la_SOURCES += src/store/tileset_batch.c
#   make bench-store       (TG_BENCH_SIZES, ...: see bench/store.sh)
EXTRA_PROGRAMS += bench/store_bench
bench_store_bench_SOURCES = bench/store_bench.c
bench_store_bench_LDADD = $(TG_TEST_LIBS)
EXTRA_DIST += bench/store.sh bench/store.py
CLEANFILES += bench/store_bench
bench-store: bench/store_bench
	PYTHON3='$(PYTHON3)' $(SHELL) $(srcdir)/bench/store.sh ./bench/store_bench
.PHONY: bench-store
