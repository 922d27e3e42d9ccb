# src/index/local.mk: the index layer: raster -> tiles -> embeddings -> store.
# Included by the top Makefile.am.
libtgcore_la_SOURCES += src/index/index.c
