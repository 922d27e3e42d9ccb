# plugin/local.mk: the QGIS Processing provider (plugin/transgeo), its test,
# its ZIP for QGIS's "Install from ZIP" and its documentation screenshots.
#
#   make plugin-zip          -> transgeo-plugin.zip (top folder transgeo/)
#   make plugin-screenshots  -> docs/images/qgis-*.png (needs xvfb-run, QGIS, the
#                               built transgeo + mod_transgeo and a model)
PLUGIN_FILES = \
	plugin/transgeo/metadata.txt \
	plugin/transgeo/__init__.py \
	plugin/transgeo/plugin.py \
	plugin/transgeo/provider.py \
	plugin/transgeo/settings.py \
	plugin/transgeo/cli.py \
	plugin/transgeo/icons/transgeo.svg \
	plugin/transgeo/algorithms/__init__.py \
	plugin/transgeo/algorithms/base.py \
	plugin/transgeo/algorithms/index_raster.py \
	plugin/transgeo/algorithms/locate_photos.py \
	plugin/transgeo/algorithms/heat_map.py
PLUGIN_SCREENSHOTS = \
	docs/images/qgis-toolbox.png \
	docs/images/qgis-locate-dialog.png \
	docs/images/qgis-heat-map.png

EXTRA_DIST += $(PLUGIN_FILES) plugin/make_zip.py plugin/screenshots.py \
	tests/plugin_test.py tests/plugin_qgis_process.sh docs/qgis.md $(PLUGIN_SCREENSHOTS)
# Headless: QGIS's Python bindings with QT_QPA_PLATFORM=offscreen; one skipped
# test when python3-qgis is not installed. Then QGIS's command line,
# qgis_process.bin (Debian package qgis), with the plugin installed from its ZIP.
TG_TESTS += tests/plugin_test.py tests/plugin_qgis_process.sh

transgeo-plugin.zip: $(PLUGIN_FILES:%=$(srcdir)/%) $(srcdir)/plugin/make_zip.py $(srcdir)/LICENSE
	$(AM_V_GEN)$(PYTHON3) $(srcdir)/plugin/make_zip.py $(srcdir)/plugin/transgeo $@ $(srcdir)/LICENSE
plugin-zip: transgeo-plugin.zip
CLEANFILES += transgeo-plugin.zip

# Override to picture another model/raster, e.g. the demo world:
#   make plugin-screenshots PLUGIN_SHOT_MODEL=... PLUGIN_SHOT_ARGS='--raster X --photos DIR --title T'
PLUGIN_SHOT_MODEL = $(abs_top_srcdir)/tests/golden/tiny/model.safetensors
PLUGIN_SHOT_ARGS = --title 'Similarity heat map of {photo} over NAIP 2018 (tiny test model: random weights)'
plugin-screenshots: transgeo mod_transgeo.la
	xvfb-run -a -s '-screen 0 1280x1024x24' $(PYTHON3) $(srcdir)/plugin/screenshots.py \
		--cli $(abs_top_builddir)/transgeo --model '$(PLUGIN_SHOT_MODEL)' \
		--data '$(TG_SHARED_DATA)' --out $(abs_top_srcdir)/docs/images $(PLUGIN_SHOT_ARGS)
.PHONY: plugin-zip plugin-screenshots
