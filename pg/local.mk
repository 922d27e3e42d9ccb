# pg/local.mk: the PostgreSQL extension `transgeo` (pg/, built with PGXS by
# pg/Makefile in build/pg) and its tests. Included by the top Makefile.am.
#
# `make` builds it when configure found PostgreSQL's server headers (PGXS);
# it links the shared libtransgeo of this build and uses only its public API.
# `make install` does not install it: PGXS installs into PostgreSQL's own
# directories (pg_config --sharedir, --pkglibdir), outside the prefix, so
# that is a separate, explicit step as root: `make install-pg`.
TG_PG_FILES = pg/Makefile pg/transgeo.control pg/transgeo_functions.sql pg/tgpg.h \
	pg/transgeo.c pg/transgeo_scan.c pg/tg_embed.c pg/tg_lib.c pg/tg_locate.c
EXTRA_DIST += $(TG_PG_FILES) tests/pg_cluster.sh tests/pg_ext_lib.sh tests/pg_ext.sh tests/pg_ext_example.py \
	tests/pg_ext_shards.sh bench/pg.sh bench/pg_bench.py

if HAVE_PGXS
PG_MAKE = $(MAKE) -C pg -f '$(abs_top_srcdir)/pg/Makefile' PG_CONFIG='$(PG_CONFIG)' \
	TG_SRCDIR='$(abs_top_srcdir)' TG_BUILDDIR='$(abs_top_builddir)' TG_RPATH='$(libdir)'

all-local: pg-extension
pg-extension: libtransgeo.la $(TG_PG_FILES:%=$(srcdir)/%) $(srcdir)/src/store/schema_pg.sql
	@$(MKDIR_P) pg
	+@$(PG_MAKE) -s all
install-pg: pg-extension
	+$(PG_MAKE) install

# The tests start private clusters (tests/pg_cluster.sh) on a relocated copy
# of the server that finds the extension (tests/pg_ext_lib.sh).
TG_TESTS += tests/pg_ext.sh tests/pg_ext_shards.sh

# Query latency: 1 server vs a coordinator with 2 shards vs mod_transgeo,
# over 10^5 synthetic tiles (bench/pg.sh; not part of `make bench`: it
# starts four servers).
bench-pg: mod_transgeo.la pg-extension
	PYTHON3='$(PYTHON3)' $(SHELL) $(srcdir)/bench/pg.sh '$(abs_top_builddir)'
else
PG_MAKE = :
endif
clean-local: pg-clean
pg-clean:
	+-test ! -d pg || $(PG_MAKE) -s clean
.PHONY: pg-extension install-pg pg-clean bench-pg
