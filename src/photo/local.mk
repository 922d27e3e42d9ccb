# src/photo/local.mk: the photo layer: decode (GDAL, Pillow-exact resize),
# EXIF/XMP/Mapillary metadata. Included by the top Makefile.am.
libtgcore_la_SOURCES += src/photo/image.c include/transgeo/image.h src/photo/exif.c src/photo/exif_int.h \
	include/transgeo/exif.h
tginclude_HEADERS += include/transgeo/image.h include/transgeo/exif.h

check_PROGRAMS += tests/test_image tests/test_exif
tests_test_image_SOURCES = tests/test_image.c tests/tap.h
tests_test_image_LDADD = $(TG_TEST_LIBS)
tests_test_exif_SOURCES = tests/test_exif.c tests/tap.h
tests_test_exif_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_image tests/test_exif tests/exif_vs_exiftool.sh
EXTRA_DIST += tests/exif_vs_exiftool.sh
