# src/base/local.mk: the base layer: the context (errors, threads, scratch
# memory), GDAL start-up and message capture, the photo source, and the
# umbrella header. Included by the top Makefile.am.
libtgcore_la_SOURCES += src/base/core.c src/base/gdal.c src/base/gdal.h src/base/ctx_int.h include/transgeo/core.h \
	include/transgeo/transgeo.h
tginclude_HEADERS += include/transgeo/transgeo.h include/transgeo/core.h
