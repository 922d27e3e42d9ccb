# src/photo.mk: automake fragment included by the top Makefile.am
# Photo input (GDAL decode, Pillow-exact resize), EXIF/XMP/Mapillary metadata,
# geodesy and CRS transformations (PROJ).
libtgcore_la_SOURCES += src/photo/image.c include/transgeo/image.h src/photo/exif.c include/transgeo/exif.h src/geo/geo.c include/transgeo/geo.h
tginclude_HEADERS += include/transgeo/image.h include/transgeo/exif.h include/transgeo/geo.h

check_PROGRAMS += tests/test_image tests/test_exif tests/test_geo
tests_test_image_SOURCES = tests/test_image.c tests/tap.h
tests_test_image_LDADD = $(TG_TEST_LIBS)
tests_test_exif_SOURCES = tests/test_exif.c tests/tap.h
tests_test_exif_LDADD = $(TG_TEST_LIBS)
tests_test_geo_SOURCES = tests/test_geo.c tests/tap.h
tests_test_geo_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_image tests/test_exif tests/test_geo tests/exif_vs_exiftool.sh
EXTRA_DIST += tests/exif_vs_exiftool.sh
libtgcore_la_SOURCES += src/photo/camera.c include/transgeo/camera.h src/photo/canvas.c include/transgeo/canvas.h
tginclude_HEADERS += include/transgeo/camera.h include/transgeo/canvas.h
check_PROGRAMS += tests/test_camera
tests_test_camera_SOURCES = tests/test_camera.c tests/tap.h
tests_test_camera_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_camera
EXTRA_DIST += tests/canvas_ref.py
