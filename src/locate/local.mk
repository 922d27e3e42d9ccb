# src/locate/local.mk: the locate layer: tg_locator, the one pipeline from a
# photo to an answer. Included by the top Makefile.am.
libtgcore_la_SOURCES += src/locate/locator.c include/transgeo/locate.h src/locate/metre.c \
	src/locate/metre.h
tginclude_HEADERS += include/transgeo/locate.h
