# bench/local.mk: benchmarks. Never part of make or make check; each compares
# transgeo with the reference tool in the same run and prints ratios.
#   make bench            all of them
#   make bench-image      photo decode + resize vs Pillow
#   make bench-search     top-k search vs numpy and the memory-bandwidth floor (src/store/local.mk)
#   make bench-engine     encoders vs PyTorch (src/engine/local.mk)
#   make bench-tiles      tilecache vs gdalwarp (tilecache/local.mk)
#   make bench-index      transgeo index tiles/s: one tile vs a group per encoder pass
#   make bench-heading    a photo with N headings searched vs one pass
EXTRA_PROGRAMS += bench/image_bench
bench_image_bench_SOURCES = bench/image_bench.c
bench_image_bench_LDADD = $(TG_TEST_LIBS)
CLEANFILES += bench/image_bench
EXTRA_DIST += bench/image_bench.sh
bench-image: bench/image_bench$(EXEEXT)
	PYTHON3='$(PYTHON3)' TG_SHARED_DATA='$(TG_SHARED_DATA)' $(SHELL) $(srcdir)/bench/image_bench.sh ./bench/image_bench
.PHONY: bench-image

# tilecache vs gdalwarp/gdal_retile.py on the NAIP rasters, and peak RSS on a
# synthetic BigTIFF (needs bc and /usr/bin/time: bootstrap.sh installs them).
bench-tiles: transgeo$(EXEEXT)
	TG_SHARED_DATA='$(TG_SHARED_DATA)' $(SHELL) $(srcdir)/bench/tilecache.sh '$(abs_top_builddir)'
.PHONY: bench-tiles

bench: bench-image bench-search bench-engine bench-tiles bench-index bench-heading bench-pg-index
.PHONY: bench

# `transgeo index` tiles/s, one tile per encoder pass vs a group (bench/index.sh).
EXTRA_DIST += bench/index.sh
bench-index: transgeo$(EXEEXT)
	$(SHELL) $(srcdir)/bench/index.sh '$(abs_top_builddir)'
.PHONY: bench-index

# Heading search: time per photo with N headings against one pass (the ratio).
EXTRA_DIST += bench/heading.sh
bench-heading: transgeo$(EXEEXT)
	$(SHELL) $(srcdir)/bench/heading.sh '$(abs_top_builddir)'
.PHONY: bench-heading

# `transgeo index` tiles/s into SQLite and into PostgreSQL with 1 and 2
# parallel workers, on a private cluster (bench/pg_index.sh).
EXTRA_DIST += bench/pg_index.sh
bench-pg-index: transgeo$(EXEEXT)
	$(SHELL) $(srcdir)/bench/pg_index.sh '$(abs_top_builddir)'
.PHONY: bench-pg-index
