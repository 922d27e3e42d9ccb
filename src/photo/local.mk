# src/photo/local.mk: the photo layer: decode (GDAL, Pillow-exact resize),
# EXIF/XMP/GPano/Mapillary metadata, the camera model and the ground canvas.
# Included by the top Makefile.am.
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

# The camera model of a photo and its placement in the model's ground canvas
# (docs/ground-canvas.md).
libtgcore_la_SOURCES += src/photo/camera.c include/transgeo/camera.h src/photo/canvas.c \
	include/transgeo/canvas.h
tginclude_HEADERS += include/transgeo/camera.h include/transgeo/canvas.h
check_PROGRAMS += tests/test_camera
tests_test_camera_SOURCES = tests/test_camera.c tests/tap.h
tests_test_camera_LDADD = $(TG_TEST_LIBS)
TG_TESTS += tests/test_camera
EXTRA_DIST += tests/canvas_ref.py
